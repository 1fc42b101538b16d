"""Bicubic and antialiased ``interpolate``, ``Upsample(mode='bicubic')``, bicubic ``grid_sample`` and uint8
bilinear ``interpolate``: closed forms that always run, then cross-checks with torch (values and
gradients; skipped without torch)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed: the cross-checks compare with it")
RNG = np.random.default_rng(7)
TOL = {"float64": 1e-11, "float32": 2e-5}


# ---------------------------------------------------------------- closed forms


def test_bicubic_midpoints_are_keys_cubic_with_a_minus_three_quarters() -> None:
    """align_corners doubling m -> 2m - 1: a midpoint weighs its 4 neighbours [-3, 19, 19, -3] / 32 (A = -0.75),
    the end taps clamped to the border; the original points are kept."""
    x = RNG.standard_normal(8)
    y = F.interpolate(bp.tensor(x[None, None, None]), size=(1, 15), mode="bicubic", align_corners=True)
    y = y.numpy()[0, 0, 0]
    np.testing.assert_allclose(y[::2], x, atol=1e-14)
    p = np.concatenate([x[:1], x, x[-1:]])
    mid = (-3 * p[:-3] + 19 * p[1:-2] + 19 * p[2:-1] - 3 * p[3:]) / 32
    np.testing.assert_allclose(y[1::2], mid, atol=1e-14)
    ramp = 0.7 * np.arange(8) - 2.0  # so a linear ramp's interior midpoints (and knots) stay on the ramp
    r = F.interpolate(bp.tensor(ramp[None, None, None]), size=(1, 15), mode="bicubic", align_corners=True)
    np.testing.assert_allclose(r.numpy()[0, 0, 0, 2:-2], 0.7 * np.arange(2, 13) / 2 - 2.0, atol=1e-14)


def test_antialiased_bicubic_upsampling_reproduces_a_ramp_in_the_interior() -> None:
    """Upsampling, the antialiased bicubic filter is Keys' A = -0.5 cubic: exact on linear functions."""
    h, w = 9, 11
    ramp = 2.0 * np.arange(h)[:, None] - 0.5 * np.arange(w)[None, :] + 3.0
    y = F.interpolate(bp.tensor(ramp[None, None]), size=(17, 23), mode="bicubic", antialias=True).numpy()[0, 0]
    src_h, src_w = (np.arange(17) + 0.5) * h / 17 - 0.5, (np.arange(23) + 0.5) * w / 23 - 0.5
    expect = 2.0 * src_h[:, None] - 0.5 * src_w[None, :] + 3.0
    ih, iw = (src_h >= 1) & (src_h <= h - 2), (src_w >= 1) & (src_w <= w - 2)  # all taps inside
    np.testing.assert_allclose(y[np.ix_(ih, iw)], expect[np.ix_(ih, iw)], atol=1e-12)


def test_bicubic_weights_sum_to_one_and_same_size_is_identity() -> None:
    x = bp.tensor(RNG.standard_normal((2, 3, 5, 6)))
    np.testing.assert_allclose(F.interpolate(x, size=(5, 6), mode="bicubic").numpy(), x.numpy(), atol=1e-15)
    ones = F.interpolate(bp.ones(1, 1, 4, 7, dtype=bp.float64), size=(9, 3), mode="bicubic", align_corners=False)
    np.testing.assert_allclose(ones.numpy(), 1.0, atol=1e-14)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_antialias_of_a_constant_is_constant(mode: str, align_corners: bool) -> None:
    x = bp.full((2, 1, 17, 13), 3.25, dtype=bp.float64)
    for kw in ({"scale_factor": 0.3}, {"size": (4, 5)}, {"size": (30, 2)}):
        y = F.interpolate(x, mode=mode, antialias=True, align_corners=align_corners, **kw)
        np.testing.assert_allclose(y.numpy(), 3.25, atol=1e-13)


def test_antialias_bilinear_halving_is_a_tent_average() -> None:
    """Halving with antialias: each output is the normalised [1, 3, 3, 1] tent over its 4 neighbours."""
    x = RNG.standard_normal((1, 1, 1, 12))
    y = F.interpolate(bp.tensor(x), size=(1, 6), mode="bilinear", antialias=True).numpy()[0, 0, 0]
    row = np.pad(x[0, 0, 0], 1)
    inner = [(row[2 * k] + 3 * row[2 * k + 1] + 3 * row[2 * k + 2] + row[2 * k + 3]) / 8 for k in range(1, 5)]
    np.testing.assert_allclose(y[1:5], inner, atol=1e-14)
    np.testing.assert_allclose(y[0], (3 * x[0, 0, 0, 0] + 3 * x[0, 0, 0, 1] + x[0, 0, 0, 2]) / 7, atol=1e-14)


def test_bicubic_gradcheck() -> None:
    x = bp.tensor(RNG.standard_normal((1, 2, 4, 5)), requires_grad=True)
    for kw in (
        {"scale_factor": 1.7, "mode": "bicubic", "align_corners": False},
        {"size": (3, 7), "mode": "bicubic", "align_corners": True},
        {"size": (2, 3), "mode": "bicubic", "antialias": True, "align_corners": False},
        {"size": (3, 2), "mode": "bilinear", "antialias": True, "align_corners": True},
    ):
        assert bp.autograd.gradcheck(lambda t, kw=kw: F.interpolate(t, **kw), (x,))
    grid = bp.tensor(RNG.uniform(-1.3, 1.3, (1, 3, 2, 2)), requires_grad=True)
    for pm in ("zeros", "border", "reflection"):
        fn = lambda t, g, pm=pm: F.grid_sample(t, g, mode="bicubic", padding_mode=pm, align_corners=False)  # noqa: E731
        assert bp.autograd.gradcheck(fn, (x, grid))


def test_grid_sample_bicubic_at_pixel_centres_reads_the_pixels() -> None:
    x = RNG.standard_normal((1, 2, 4, 5))
    ys, xs = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 5), indexing="ij")
    grid = np.stack([xs, ys], -1)[None]
    for pm in ("zeros", "border", "reflection"):
        y = F.grid_sample(bp.tensor(x), bp.tensor(grid), mode="bicubic", padding_mode=pm, align_corners=True)
        np.testing.assert_allclose(y.numpy(), x, atol=1e-13)


def test_refusals_and_module() -> None:
    x = bp.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        F.interpolate(bp.randn(1, 1, 4), size=2, mode="linear", antialias=True)
    with pytest.raises(NotImplementedError, match="got 3D"):
        F.interpolate(bp.randn(1, 1, 4), size=2, mode="bicubic")
    with pytest.raises(NotImplementedError):
        F.interpolate(bp.tensor(np.ones((1, 1, 4, 4), np.int64)), size=2, mode="bilinear")
    up = nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False)
    assert tuple(up(x).shape) == (1, 1, 8, 8)


def test_uint8_bilinear_halving_rounds() -> None:
    x = np.array([[[[0, 255, 10, 11]]]], np.uint8)
    y = F.interpolate(bp.tensor(x), size=(1, 2), mode="bilinear", align_corners=False)
    assert y.dtype == bp.uint8
    assert y.numpy().tolist() == [[[[128, 11]]]]  # (0 + 255) / 2 = 127.5 rounds up; (10 + 11) / 2 -> 11


# ---------------------------------------------------------------- torch cross-checks


def _torch() -> Any:
    import torch

    return torch


def _sizes() -> list[tuple[tuple[int, int], dict]]:
    cases = []
    for hw in [(5, 7), (8, 8), (3, 4), (1, 5), (13, 6), (2, 9)]:
        for kw in (
            {"scale_factor": 2.0},
            {"scale_factor": 0.5},
            {"scale_factor": (1.7, 0.6)},
            {"scale_factor": 0.3},
            {"scale_factor": 2.3, "recompute_scale_factor": True},
            {"scale_factor": 0.7, "recompute_scale_factor": False},
            {"size": (4, 11)},
            {"size": (1, 1)},
            {"size": (2, 3)},
            {"size": (19, 2)},
            {"size": hw},
        ):
            cases.append((hw, kw))
    return cases


def _out_ok(hw: tuple[int, int], kw: dict) -> bool:
    if "size" in kw:
        return True
    sf = kw["scale_factor"]
    sf = sf if isinstance(sf, tuple) else (sf, sf)
    return all(int(m * s) >= 1 for m, s in zip(hw, sf))


@needs_torch
@pytest.mark.parametrize("mode,antialias", [("bicubic", False), ("bicubic", True), ("bilinear", True)])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_interpolate_matches_torch(mode: str, antialias: bool, align_corners: bool, dtype: str) -> None:
    torch = _torch()
    worst = [0.0, 0.0]
    for hw, kw in _sizes():
        if not _out_ok(hw, kw):
            continue
        x = RNG.standard_normal((2, 3, *hw)).astype(dtype)
        tx = torch.tensor(x, requires_grad=True)
        # torch 2.13's contiguous CPU antialias kernels repeat one value down an output of width 1 (a bug);
        # its channels-last kernels compute the same weights correctly
        tin = tx.contiguous(memory_format=torch.channels_last) if antialias else tx
        ty = torch.nn.functional.interpolate(tin, mode=mode, antialias=antialias, align_corners=align_corners, **kw)
        g = RNG.standard_normal(tuple(ty.shape)).astype(dtype)
        ty.backward(torch.tensor(g))
        bx = bp.tensor(x, requires_grad=True)
        by = F.interpolate(bx, mode=mode, antialias=antialias, align_corners=align_corners, **kw)
        assert by.dtype == bp.tensor(x).dtype and tuple(by.shape) == tuple(ty.shape), (hw, kw)
        by.backward(bp.tensor(g))
        np.testing.assert_allclose(by.detach().numpy(), ty.detach().numpy(), atol=TOL[dtype], err_msg=f"{hw} {kw}")
        worst[0] = max(worst[0], float(np.abs(by.detach().numpy() - ty.detach().numpy()).max()))
        if tuple(ty.shape[2:]) == hw and "scale_factor" in kw:
            # torch's backward treats an unchanged size as a copy while its forward (bicubic) used the
            # scale's weights, or the reverse (antialias): its gradient is not its forward's; ours is
            continue
        np.testing.assert_allclose(bx.grad.numpy(), tx.grad.numpy(), atol=TOL[dtype], err_msg=f"{hw} {kw}")
        worst[1] = max(worst[1], float(np.abs(bx.grad.numpy() - tx.grad.numpy()).max()))
    assert worst[0] < TOL[dtype] and worst[1] < TOL[dtype]


@needs_torch
def test_upsample_bicubic_module_matches_torch() -> None:
    torch = _torch()
    x = RNG.standard_normal((2, 3, 5, 4))
    for kw in ({"scale_factor": 2.0}, {"size": (7, 3), "align_corners": True}):
        ours = nn.Upsample(mode="bicubic", **kw)
        theirs = torch.nn.Upsample(mode="bicubic", **kw)
        np.testing.assert_allclose(ours(bp.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), atol=1e-12)
        assert repr(ours) == repr(theirs)


@needs_torch
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_sample_bicubic_matches_torch(padding_mode: str, align_corners: bool, dtype: str) -> None:
    torch = _torch()
    for hw in [(1, 1), (1, 4), (3, 5), (6, 6), (7, 2)]:
        x = RNG.standard_normal((2, 3, *hw)).astype(dtype)
        grid = RNG.uniform(-1.7, 1.7, (2, 4, 5, 2)).astype(dtype)
        tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
        ty = torch.nn.functional.grid_sample(
            tx, tg, mode="bicubic", padding_mode=padding_mode, align_corners=align_corners
        )
        g = RNG.standard_normal(tuple(ty.shape)).astype(dtype)
        ty.backward(torch.tensor(g))
        bx, bg = bp.tensor(x, requires_grad=True), bp.tensor(grid, requires_grad=True)
        by = F.grid_sample(bx, bg, mode="bicubic", padding_mode=padding_mode, align_corners=align_corners)
        by.backward(bp.tensor(g))
        tol = TOL[dtype]
        np.testing.assert_allclose(by.detach().numpy(), ty.detach().numpy(), atol=tol)
        np.testing.assert_allclose(bx.grad.numpy(), tx.grad.numpy(), atol=tol)
        np.testing.assert_allclose(bg.grad.numpy(), tg.grad.numpy(), atol=tol * 10, rtol=1e-5)


@needs_torch
@pytest.mark.parametrize("align_corners", [False, True])
def test_uint8_bilinear_matches_torch_exactly(align_corners: bool) -> None:
    torch = _torch()
    for i in range(60):
        hw = tuple(int(v) for v in RNG.integers(1, 20, 2))
        x = RNG.integers(0, 256, (2, int(RNG.choice([1, 3, 5])), *hw)).astype(np.uint8)
        if i % 2:
            kw: dict = {"size": tuple(int(v) for v in RNG.integers(1, 25, 2))}
        else:
            kw = {"scale_factor": tuple(float(RNG.choice([0.3, 0.5, 0.7, 1.5, 2.0, 2.3])) for _ in range(2))}
            if not _out_ok(hw, kw):
                continue
        # channels-last input: torch's contiguous uint8 kernel has the width-1 bug above
        tx = torch.tensor(x).contiguous(memory_format=torch.channels_last)
        t = torch.nn.functional.interpolate(tx, mode="bilinear", align_corners=align_corners, **kw).numpy()
        y = F.interpolate(bp.tensor(x), mode="bilinear", align_corners=align_corners, **kw)
        assert y.dtype == bp.uint8
        np.testing.assert_array_equal(y.numpy(), t, err_msg=f"{hw} {kw}")
