"""The remaining pooling/vision/module names against torch and closed forms: max_pool*_with_indices,
max_unpool (functional and modules), lp_pool3d, affine_grid, grid_sample, the deprecated upsample
aliases, the lazy conv/norm modules, DataParallel and SyncBatchNorm (one process, and two MPI ranks
against BatchNorm over the whole batch). Tests that need torch take the ``torch`` fixture (skipped
without it); the closed forms and gradchecks run everywhere."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the vision parity checks compare with it")


def _pair(torch: Any, a: np.ndarray) -> tuple[Any, Any]:
    return bp.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _close(x: Any, t: Any, tol: float = 1e-10) -> None:
    got = x.detach().numpy() if isinstance(x, bp.Tensor) else x
    want = t.detach().numpy()
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ---------------------------------------------------------------- max_pool*_with_indices


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_pool_with_indices_matches_torch(torch: Any, n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.standard_normal((2, 3) + (6,) * n)
    x, t = _pair(torch, a)
    name = f"max_pool{n}d_with_indices"
    y, i = getattr(F, name)(x, 3, 2, 1)  # return_indices=False still returns both, as torch
    ty, ti = getattr(torch.nn.functional, name)(t, 3, 2, 1)
    _close(y, ty)
    assert i.dtype == np.int64 and np.array_equal(i.numpy(), ti.numpy())
    g = rng.standard_normal(ty.shape)
    (y * bp.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    _close(x.grad, t.grad)
    name = f"adaptive_max_pool{n}d_with_indices"
    y, i = getattr(F, name)(x.detach(), 4)
    ty, ti = getattr(torch.nn.functional, name)(t.detach(), 4)
    _close(y, ty)
    assert np.array_equal(i.numpy(), ti.numpy())


# ---------------------------------------------------------------- max_unpool


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool_matches_torch(torch: Any, n: int) -> None:
    rng = np.random.default_rng(10 + n)
    a = rng.standard_normal((2, 3) + (7,) * n)
    x, t = _pair(torch, a)
    y, i = getattr(F, f"max_pool{n}d")(x, 3, 2, 1, return_indices=True)
    ty, ti = getattr(torch.nn.functional, f"max_pool{n}d")(t, 3, 2, 1, return_indices=True)
    unpool, tunpool = getattr(F, f"max_unpool{n}d"), getattr(torch.nn.functional, f"max_unpool{n}d")
    u, tu = unpool(y, i, 3, 2, 1), tunpool(ty, ti, 3, 2, 1)
    _close(u, tu)
    g = rng.standard_normal(tu.shape)
    (u * bp.tensor(g)).sum().backward()
    (tu * torch.tensor(g)).sum().backward()
    _close(x.grad, t.grad)
    size = [s + 1 for s in tu.shape[2:]]  # a larger size within a stride: n or n + 2 entries
    _close(unpool(y, i, 3, 2, 1, output_size=size), tunpool(ty, ti, 3, 2, 1, output_size=size))
    full = [2, 3, *size]
    _close(unpool(y, i, 3, 2, 1, output_size=full), tunpool(ty, ti, 3, 2, 1, output_size=full))
    _close(unpool(y[0], i[0], 3, 2, 1), tunpool(ty[0], ti[0], 3, 2, 1))  # unbatched


def test_max_unpool_closed_form_and_gradcheck() -> None:
    x = bp.tensor([[[1.0, 5.0, 2.0, 3.0]]], dtype=bp.float64, requires_grad=True)
    idx = bp.tensor([[[1, 2, 4, 7]]])
    y = F.max_unpool1d(x, idx, 2)
    assert y.tolist() == [[[0.0, 1.0, 5.0, 0.0, 2.0, 0.0, 0.0, 3.0]]]
    assert bp.autograd.gradcheck(lambda v: F.max_unpool1d(v, idx, 2), [x])


def test_max_unpool_errors() -> None:
    x = bp.randn(1, 1, 4, 4)
    y, i = F.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match=r"invalid output_size .* must be between 2 and 6"):
        F.max_unpool2d(y, i, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match="should be a sequence containing 2 or 4 elements"):
        F.max_unpool2d(y, i, 2, output_size=(4, 4, 4))
    with pytest.raises(RuntimeError, match=r"Found an invalid max index: 1\d\d \(output volumes are of size 4x4\)"):
        F.max_unpool2d(y, i + 100, 2)
    with pytest.raises(RuntimeError, match="should be type int64"):
        F.max_unpool2d(y, i.float(), 2)
    with pytest.raises(RuntimeError, match="Expected shape of indices"):
        F.max_unpool2d(y, i[:, :, :1], 2)


def test_max_unpool_modules(torch: Any) -> None:
    assert repr(nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))
    assert repr(nn.MaxUnpool3d((1, 2, 3), 1, 0)) == repr(torch.nn.MaxUnpool3d((1, 2, 3), 1, 0))
    a = np.random.default_rng(3).standard_normal((1, 2, 5, 5))
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    tpool, tunpool = torch.nn.MaxPool2d(2, return_indices=True), torch.nn.MaxUnpool2d(2)
    y, i = pool(bp.tensor(a))
    ty, ti = tpool(torch.tensor(a))
    _close(unpool(y, i, output_size=(1, 2, 5, 5)), tunpool(ty, ti, output_size=(1, 2, 5, 5)))
    y, i = nn.MaxPool1d(2, return_indices=True)(bp.tensor(a[0]))  # unbatched (C, L)
    ty, ti = torch.nn.MaxPool1d(2, return_indices=True)(torch.tensor(a[0]))
    _close(nn.MaxUnpool1d(2)(y, i), torch.nn.MaxUnpool1d(2)(ty, ti))


# ---------------------------------------------------------------- lp_pool3d


@pytest.mark.parametrize("norm", [2.0, 3.0, float("inf")])
def test_lp_pool3d_matches_torch(torch: Any, norm: float) -> None:
    a = np.random.default_rng(4).uniform(0.2, 2.0, (2, 2, 5, 4, 6))
    x, t = _pair(torch, a)
    y, ty = (
        F.lp_pool3d(x, norm, (2, 2, 3), stride=(1, 2, 2)),
        torch.nn.functional.lp_pool3d(t, norm, (2, 2, 3), stride=(1, 2, 2)),
    )
    _close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, t.grad)
    m, tm = nn.LPPool3d(norm, 2, ceil_mode=True), torch.nn.LPPool3d(norm, 2, ceil_mode=True)
    assert repr(m) == repr(tm)
    _close(m(x.detach()), tm(t.detach()))


def test_lp_pool2d_inf_norm_is_max_of_abs() -> None:
    x = bp.tensor([[[[1.0, -7.0], [3.0, 2.0]]]])
    assert F.lp_pool2d(x, float("inf"), 2).item() == 7.0
    assert F.lp_pool1d(x[0], float("-inf"), 2).tolist() == [[[1.0], [2.0]]]  # min |x|, as torch's -max(-|x|)


# ---------------------------------------------------------------- affine_grid / grid_sample


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 1, 3, 4, 2)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(torch: Any, size: tuple, align_corners: bool) -> None:
    n = len(size) - 2
    a = np.random.default_rng(5).standard_normal((2, n, n + 1))
    x, t = _pair(torch, a)
    unit = align_corners and min(size[2:]) == 1
    with pytest.warns(UserWarning, match="unit-size grids") if unit else contextlib.nullcontext():
        g = F.affine_grid(x, size, align_corners=align_corners)
    with pytest.warns(UserWarning, match="unit-size grids") if unit else contextlib.nullcontext():
        tg = torch.nn.functional.affine_grid(t, size, align_corners=align_corners)
    assert tuple(g.shape) == (2, *size[2:], n)
    _close(g, tg)
    w = np.random.default_rng(6).standard_normal(tg.shape)
    (g * bp.tensor(w)).sum().backward()
    (tg * torch.tensor(w)).sum().backward()
    _close(x.grad, t.grad)


def test_affine_grid_float32_identity_is_torchs_linspace(torch: Any) -> None:
    theta = np.eye(2, 3, dtype=np.float32)[None]
    for align in (False, True):
        g = F.affine_grid(bp.tensor(theta), (1, 1, 7, 9), align_corners=align)
        tg = torch.nn.functional.affine_grid(torch.tensor(theta), (1, 1, 7, 9), align_corners=align)
        assert g.dtype == np.float32
        assert np.array_equal(g.numpy(), tg.numpy())


def test_affine_grid_errors() -> None:
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(bp.zeros(1, 2, 3), (1, 1, 2, 2))
    with pytest.raises(ValueError, match="floating point type"):
        F.affine_grid(bp.zeros(1, 2, 3, dtype=bp.int64), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="shape Nx2x3"):
        F.affine_grid(bp.zeros(1, 3, 4), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(NotImplementedError, match="only supports 4D and 5D"):
        F.affine_grid(bp.zeros(1, 2, 3), (1, 2, 2), align_corners=False)


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_matches_torch(torch: Any, nd: int, mode: str, padding_mode: str, align_corners: bool) -> None:
    rng = np.random.default_rng(7)
    shape = (2, 3, 5, 6) if nd == 2 else (2, 2, 4, 5, 3)
    a = rng.standard_normal(shape)
    grid = rng.uniform(-1.3, 1.3, (2, 4, 3, nd) if nd == 2 else (2, 3, 2, 4, 3))  # some points outside
    x, t = _pair(torch, a)
    g, tg = _pair(torch, grid)
    kw = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    y, ty = F.grid_sample(x, g, **kw), torch.nn.functional.grid_sample(t, tg, **kw)
    _close(y, ty, 1e-12)
    w = rng.standard_normal(ty.shape)
    (y * bp.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    _close(x.grad, t.grad, 1e-12)
    _close(g.grad, tg.grad, 1e-12)  # nearest: zeros, as torch


def test_grid_sample_float32_and_border_gradient_at_the_edges(torch: Any) -> None:
    # an identity grid with align_corners=True lands exactly on the borders, where torch's clip has gradient 0
    theta = np.eye(2, 3, dtype=np.float32)[None]
    a = np.random.default_rng(8).standard_normal((1, 2, 4, 5)).astype(np.float32)
    grid = F.affine_grid(bp.tensor(theta), (1, 2, 4, 5), align_corners=True)
    tgrid = torch.tensor(grid.numpy(), requires_grad=True)
    grid.requires_grad_()
    y = F.grid_sample(bp.tensor(a), grid, padding_mode="border", align_corners=True)
    ty = torch.nn.functional.grid_sample(torch.tensor(a), tgrid, padding_mode="border", align_corners=True)
    _close(y, ty, 1e-6)
    np.testing.assert_allclose(y.detach().numpy(), a, atol=1e-6)  # the identity warp
    y.square().sum().backward()
    ty.square().sum().backward()
    _close(grid.grad, tgrid.grad, 1e-5)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_gradcheck(padding_mode: str) -> None:
    rng = np.random.default_rng(9)
    x = bp.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    g = bp.tensor(rng.uniform(-1.2, 1.2, (1, 3, 2, 2)), requires_grad=True)
    assert bp.autograd.gradcheck(
        lambda x, g: F.grid_sample(x, g, padding_mode=padding_mode, align_corners=False), [x, g]
    )


def test_grid_sample_closed_form() -> None:
    x = bp.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    # align_corners=True: (-1, -1) is pixel (0, 0), (1, 1) pixel (1, 1), (0, 0) the mean of the four
    grid = bp.tensor([[[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [1.0, -1.0], [3.0, 0.0]]]])
    y = F.grid_sample(x, grid, align_corners=True)
    assert y.tolist() == [[[[0.0, 3.0, 1.5, 1.0, 0.0]]]]
    y = F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=True)
    assert y.tolist() == [[[[0.0, 3.0, 0.0, 1.0, 1.0]]]]  # 0.5 rounds half to even, as torch's nearbyint


def test_grid_sample_errors() -> None:
    x = bp.randn(1, 2, 4, 4)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, bp.zeros(1, 1, 1, 2))
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or 'bicubic'"):
        F.grid_sample(x, bp.zeros(1, 1, 1, 2), mode="linear", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode"):
        F.grid_sample(x, bp.zeros(1, 1, 1, 2), padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="size 2 in last dimension"):
        F.grid_sample(x, bp.zeros(1, 1, 1, 3), align_corners=False)
    with pytest.raises(RuntimeError, match="same batch size"):
        F.grid_sample(x, bp.zeros(2, 1, 1, 2), align_corners=False)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        F.grid_sample(x, bp.zeros(1, 1, 1, 2, dtype=bp.float64), align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):
        F.grid_sample(bp.randn(1, 1, 2, 2, 2), bp.zeros(1, 1, 1, 1, 3), mode="bicubic", align_corners=False)


def test_upsample_aliases_warn_and_interpolate(torch: Any) -> None:
    a = np.random.default_rng(11).standard_normal((1, 2, 3, 4))
    with pytest.warns(UserWarning, match="upsample_nearest` is deprecated"):
        y = F.upsample_nearest(bp.tensor(a), scale_factor=2)
    with pytest.warns(UserWarning, match="upsample_nearest` is deprecated"):
        ty = torch.nn.functional.upsample_nearest(torch.tensor(a), scale_factor=2)
    _close(y, ty)
    with pytest.warns(UserWarning, match="upsample_bilinear` is deprecated"):
        y = F.upsample_bilinear(bp.tensor(a), size=(5, 7))
    with pytest.warns(UserWarning, match="upsample_bilinear` is deprecated"):
        ty = torch.nn.functional.upsample_bilinear(torch.tensor(a), size=(5, 7))
    _close(y, ty, 1e-12)


# ---------------------------------------------------------------- lazy modules


@pytest.mark.parametrize(
    ("name", "shape", "weight"),
    [
        ("LazyConv1d", (2, 3, 8), (4, 3, 3)),
        ("LazyConv2d", (2, 3, 6, 6), (4, 3, 3, 3)),
        ("LazyConv2d", (3, 6, 6), (4, 3, 3, 3)),  # unbatched: channels are dim 0
        ("LazyConv3d", (2, 3, 4, 4, 4), (4, 3, 3, 3, 3)),
        ("LazyConvTranspose1d", (2, 3, 5), (3, 4, 3)),
        ("LazyConvTranspose2d", (2, 3, 4, 4), (3, 4, 3, 3)),
        ("LazyConvTranspose3d", (2, 3, 3, 3, 3), (3, 4, 3, 3, 3)),
    ],
)
def test_lazy_conv_materialises_at_first_call(torch: Any, name: str, shape: tuple, weight: tuple) -> None:
    m, tm = getattr(nn, name)(4, 3), getattr(torch.nn, name)(4, 3)
    assert repr(m) == repr(tm)
    assert isinstance(m.weight, nn.UninitializedParameter) and m.has_uninitialized_params()
    held = list(m.parameters())  # what an optimizer built now holds
    x = bp.randn(*shape)
    y = m(x)
    target = getattr(nn, name.removeprefix("Lazy"))
    assert type(m) is target and not isinstance(m.weight, nn.UninitializedParameter)
    assert tuple(m.weight.shape) == weight and tuple(m.bias.shape) == (4,)
    assert held[0] is m.weight and held[1] is m.bias
    assert m.in_channels == 3
    bound = 1 / np.sqrt(np.prod(weight[1:]) if "Transpose" not in name else 4 * np.prod(weight[2:]))
    assert np.abs(m.weight.detach().numpy()).max() <= bound  # the ordinary (kaiming-uniform) init ran
    tm(torch.zeros(*shape))
    assert repr(m) == repr(tm)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.detach().numpy()))
        tm.bias.copy_(torch.tensor(m.bias.detach().numpy()))
    _close(y.detach(), tm(torch.tensor(x.numpy())).detach(), 1e-5)


def test_lazy_conv_errors_and_no_bias() -> None:
    with pytest.raises(RuntimeError, match="Expected 2D \\(unbatched\\) or 3D \\(batched\\) input to LazyConv1d"):
        nn.LazyConv1d(4, 3)(bp.randn(1, 2, 3, 8))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(bp.randn(1, 3, 5, 5))
    m = nn.LazyConv2d(4, 1, bias=False)
    m(bp.randn(1, 2, 3, 3))
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("LazyBatchNorm1d", (4, 3)),
        ("LazyBatchNorm2d", (4, 3, 5, 5)),
        ("LazyBatchNorm3d", (2, 3, 2, 2, 2)),
        ("LazyInstanceNorm1d", (4, 3, 5)),
        ("LazyInstanceNorm2d", (4, 3, 5, 5)),
        ("LazyInstanceNorm3d", (2, 3, 2, 2, 2)),
    ],
)
def test_lazy_norm_matches_torch(torch: Any, name: str, shape: tuple) -> None:
    m, tm = getattr(nn, name)(), getattr(torch.nn, name)()
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    a = np.random.default_rng(12).standard_normal(shape).astype(np.float32)
    x, t = _pair(torch, a)
    y, ty = m(x), tm(t)
    assert type(m).__name__ == type(tm).__name__ and repr(m) == repr(tm)
    _close(y, ty, 1e-5)
    y.square().sum().backward()
    ty.square().sum().backward()
    _close(x.grad, t.grad, 1e-4)
    for (k, v), (tk, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert k == tk
        _close(v, tv, 1e-6)


def test_lazy_norm_without_parameters_or_statistics(torch: Any) -> None:
    m = nn.LazyBatchNorm1d(affine=False, track_running_stats=False)
    tm = torch.nn.LazyBatchNorm1d(affine=False, track_running_stats=False)
    a = np.random.default_rng(13).standard_normal((4, 3)).astype(np.float32)
    _close(m(bp.tensor(a)), tm(torch.tensor(a)), 1e-5)
    assert repr(m) == repr(tm) and list(m.state_dict()) == []


# ---------------------------------------------------------------- DataParallel / SyncBatchNorm


def test_data_parallel_wraps_the_module() -> None:
    inner = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    m = nn.DataParallel(inner)
    assert m.module is inner and m.dim == 0
    assert list(m.state_dict()) == [f"module.{k}" for k in inner.state_dict()]
    x = bp.randn(5, 3)
    np.testing.assert_array_equal(m(x).detach().numpy(), inner(x).detach().numpy())
    m(x).sum().backward()
    assert inner[0].weight.grad is not None
    other = nn.DataParallel(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    other.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(other(x).detach().numpy(), inner(x).detach().numpy())
    if not bp.cuda.is_available():
        assert m.device_ids == []  # as torch without GPUs: forward only calls the module


def test_sync_batch_norm_single_process_is_batch_norm(torch: Any) -> None:
    m, tm = nn.SyncBatchNorm(3), torch.nn.SyncBatchNorm(3)
    assert repr(m) == repr(tm) and list(m.state_dict()) == list(tm.state_dict())
    m, ref = m.double(), nn.BatchNorm1d(3).double()  # (float64 input needs float64 statistics, as torch's)
    a = np.random.default_rng(14).standard_normal((4, 3, 5))
    x, xr = bp.tensor(a, requires_grad=True), bp.tensor(a, requires_grad=True)
    y, yr = m(x), ref(xr)
    np.testing.assert_allclose(y.detach().numpy(), yr.detach().numpy(), rtol=1e-12, atol=1e-12)
    y.square().sum().backward()
    yr.square().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), ref.running_var.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        m(bp.randn(3))


def test_convert_sync_batchnorm_shares_state() -> None:
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(4), nn.InstanceNorm1d(3)))
    net[1].eval()
    out = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert type(out[1]) is nn.SyncBatchNorm and type(out[2][0]) is nn.SyncBatchNorm
    assert type(out[2][1]) is nn.InstanceNorm1d  # instance norms stay, as torch
    assert out[1].weight is net[1].weight and out[1].running_mean is net[1].running_mean
    assert out[1].training is False and out[2][0].training is True
    assert list(out.state_dict()) == list(net.state_dict())
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(2, affine=False))
    assert type(single) is nn.SyncBatchNorm and single.weight is None


def _mpiexec() -> list[str] | None:
    found = Path(sys.executable).with_name("mpiexec")
    exe = str(found) if found.exists() else shutil.which("mpiexec")
    if exe is None or importlib.util.find_spec("mpi4py") is None:
        return None
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    extra = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    return [exe, *extra]


_WORKER = """
import numpy as np
import backprop as bp
from backprop import distributed as dist, nn

dist.init_process_group()
rank = dist.get_rank()
rng = np.random.default_rng(0)
full, w = rng.standard_normal((8, 3, 5)), rng.standard_normal((8, 3, 5))
part = slice(4 * rank, 4 * rank + 4)
m, ref = nn.SyncBatchNorm(3, dtype=bp.float64), nn.BatchNorm1d(3, dtype=bp.float64)
for mod in (m, ref):
    mod.weight.data.copy_(bp.tensor([0.5, 1.5, -2.0], dtype=bp.float64))
    mod.bias.data.copy_(bp.tensor([0.1, 0.0, 0.3], dtype=bp.float64))
x = bp.tensor(full[part], requires_grad=True)
(m(x) * bp.tensor(w[part])).sum().backward()
xf = bp.tensor(full, requires_grad=True)
yf = ref(xf)
(yf * bp.tensor(w)).sum().backward()
y = m(bp.tensor(full[part]))  # a second step: the running statistics move again
yf = ref(bp.tensor(full))
assert np.allclose(y.detach().numpy(), yf.detach().numpy()[part], atol=1e-12), "output"
gw = m.weight.grad.detach().clone()
dist.all_reduce(gw)  # the ranks' parameter gradients add up to the whole batch's
assert np.allclose(x.grad.numpy(), xf.grad.numpy()[part], atol=1e-12), "input gradient"
assert np.allclose(gw.numpy(), ref.weight.grad.numpy(), atol=1e-12), "weight gradient"
assert np.allclose(m.running_mean.numpy(), ref.running_mean.numpy(), atol=1e-12), "running mean"
assert np.allclose(m.running_var.numpy(), ref.running_var.numpy(), atol=1e-12), "running var"
assert int(m.num_batches_tracked.item()) == 2
print("OK", flush=True)
"""


def test_sync_batch_norm_two_ranks_equal_batch_norm_of_the_whole_batch(tmp_path: Path) -> None:
    exe = _mpiexec()
    if exe is None:
        pytest.skip("needs mpi4py and mpiexec: pip install -e '.[mpi]' (mpi4py + the mpich wheel)")
    script = tmp_path / "sync_bn_worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", BACKPROP_DEVICE="cpu")
    proc = subprocess.run(
        [*exe, "-n", "2", sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK") == 2, proc.stdout  # both ranks got through every check


# ---------------------------------------------------------------- devices and bp.compile


def test_cuda_standin_matches_numpy() -> None:
    """grid_sample, affine_grid and max_unpool on the CuPy stand-in (device arrays, no NumPy-only calls)."""
    cupy_standin = pytest.importorskip("cupy_standin", reason="tests/cupy_standin is not on sys.path")
    rng = np.random.default_rng(15)
    x0, th0 = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 2, 3)) * 0.7
    outs = {}
    with cupy_standin.use_standin():
        for dev in ("cpu", "cuda"):
            x = bp.tensor(x0, device=dev, requires_grad=True)
            theta = bp.tensor(th0, device=dev, requires_grad=True)
            grid = F.affine_grid(theta, (2, 3, 4, 4), align_corners=False)
            y, i = F.max_pool2d_with_indices(x, 2)
            ys = [
                F.grid_sample(x, grid, align_corners=False),
                F.grid_sample(x, grid, mode="nearest", padding_mode="reflection", align_corners=True),
                F.max_unpool2d(y, i, 2, output_size=(6, 5)),
            ]
            sum((v * v).sum() for v in ys).backward()
            outs[dev] = [v.detach().cpu().numpy() for v in ys] + [x.grad.cpu().numpy(), theta.grad.cpu().numpy()]
    for a, b in zip(outs["cpu"], outs["cuda"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_compiled_spatial_transformer_step_matches_eager() -> None:
    """A step through affine_grid, grid_sample, max_pool_with_indices and max_unpool under bp.compile
    gives the eager run's losses (the sample and argmax indices are recomputed each step)."""
    rng = np.random.default_rng(16)
    data = [bp.tensor(rng.standard_normal((2, 1, 6, 6)).astype(np.float32)) for _ in range(4)]

    def train(compiled: bool) -> list[float]:
        bp.manual_seed(0)
        loc = nn.Linear(36, 6)
        opt = bp.optim.SGD(loc.parameters(), lr=0.1)

        def step(x: Any) -> Any:
            opt.zero_grad()
            theta = loc(x.flatten(1)).reshape(2, 2, 3)
            warped = F.grid_sample(x, F.affine_grid(theta, (2, 1, 6, 6), align_corners=False), align_corners=False)
            y, i = F.max_pool2d_with_indices(warped, 2)
            loss = (F.max_unpool2d(y, i, 2) - x).square().mean()
            loss.backward()
            opt.step()
            return loss

        run = bp.compile(step) if compiled else step
        return [float(run(x)) for x in data]

    np.testing.assert_allclose(train(True), train(False), rtol=1e-6)
