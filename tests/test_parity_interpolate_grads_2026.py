"""F.interpolate gradients as torch 2.13's backward kernels compute them, against torch.

torch's backward kernels are not always the adjoint of its forward: 1-D/3-D ``nearest`` backward reads a dim whose
size is kept or doubled as a copy / ``i >> 1`` (its forward: floor(i / scale)), bicubic backward copies when no dim
changes (its forward weighs a kept dim by the scale), and the antialiased backward weighs a kept dim by the scale
(its forward leaves it alone).
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity tests compare against PyTorch")


def _grads(shape, seed=0, **kw):
    """(ours, torch's) forward values and input gradients of interpolate(x, **kw) under a random upstream grad."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, **kw)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    xb = bp.tensor(x, requires_grad=True)
    yb = bp.nn.functional.interpolate(xb, **kw)
    yb.backward(bp.tensor(gy))
    return yb.detach().numpy(), yt.detach().numpy(), xb.grad.numpy(), xt.grad.numpy()


def _check(shape, **kw):
    y, yt, g, gt = _grads(shape, **kw)
    np.testing.assert_allclose(y, yt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, gt, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 2, 3), {"scale_factor": 2.3}),  # 3 -> 6: backward i >> 1, forward floor(i / 2.3)
        ((1, 2, 7), {"scale_factor": 1.1}),  # 7 -> 7: backward a copy
        ((2, 1, 2), {"scale_factor": (2.3,), "recompute_scale_factor": False}),
        ((1, 2, 2, 3, 2), {"scale_factor": 1.1}),
        ((1, 1, 3, 2, 3), {"scale_factor": (0.34, 2.0, 2.3)}),
        ((1, 2, 4, 4, 2), {"scale_factor": (0.7, 0.34, 1.1), "recompute_scale_factor": False}),
    ],
)
def test_nearest_1d_3d_backward_reads_kept_and_doubled_dims_as_torch(shape, kw):
    _check(shape, mode="nearest", **kw)


def test_nearest_1d_closed_form():
    # torch: y = x[[0, 0, 0, 1, 1, 2]], the gradient goes to x[i >> 1]: (y * y).sum() gives 2 * y at [0, 0, 1, 1, 2, 2]
    x = bp.tensor([[[0.0, 1.0, 2.0]]], dtype=bp.float64, requires_grad=True)
    y = bp.nn.functional.interpolate(x, scale_factor=2.3)
    assert y.tolist() == [[[0.0, 0.0, 0.0, 1.0, 1.0, 2.0]]]
    (y * y).sum().backward()
    assert x.grad.tolist() == [[[0.0, 2.0, 6.0]]]
    assert y.grad_fn.name() == "UpsampleNearest1DBackward0"


@pytest.mark.parametrize("shape", [(1, 2, 3, 5), (2, 3, 5, 7), (1, 1, 1, 5), (2, 3, 9, 1)])
@pytest.mark.parametrize("rsf", [None, False])
def test_bicubic_backward_copies_when_no_dim_changes(shape, rsf):
    _check(shape, mode="bicubic", scale_factor=1.1, recompute_scale_factor=rsf, align_corners=False)


@pytest.mark.parametrize(
    ("mode", "shape", "sf"),
    [
        ("bilinear", (2, 3, 4, 5), 1.1),
        ("bilinear", (2, 3, 9, 4), (1.1, 3.0)),
        ("bilinear", (1, 2, 4, 5), (1.1, 2.0)),
        ("bicubic", (2, 3, 2, 3), 1.1),
        ("bicubic", (2, 3, 4, 9), (2.3, 1.1)),
        ("bicubic", (1, 2, 5, 4), 1.1),
    ],
)
def test_antialias_backward_weighs_a_kept_dim_by_the_scale(mode, shape, sf):
    y, yt, g, gt = _grads(shape, mode=mode, scale_factor=sf, antialias=True)
    np.testing.assert_allclose(y, yt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, gt, rtol=1e-12, atol=1e-12)


def test_create_graph_gradient_is_torchs():
    # the first-order gradient recorded under create_graph is torch's too (its own derivative is the adjoint of
    # torch's backward, where torch's double backward reuses its forward: README)
    x = np.arange(3.0).reshape(1, 1, 3)
    out = []
    for lib in (bp, torch):
        xt = lib.tensor(x, requires_grad=True)
        y = lib.nn.functional.interpolate(xt, scale_factor=2.3)
        (g,) = lib.autograd.grad((y * y).sum(), xt, create_graph=True)
        assert g.requires_grad
        out.append(g.detach().numpy())
    np.testing.assert_array_equal(out[0], out[1])


def test_fuzz_gradients_match_torch():
    rng = np.random.default_rng(7)
    modes = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "linear": (1,), "bilinear": (2,)}
    modes.update({"bicubic": (2,), "trilinear": (3,), "area": (1, 2, 3)})
    scales = [0.5, 1.0, 1.1, 1.5, 2.0, 2.3, 3.0, 0.7, 1.9]
    seen = 0
    for mode, ns in modes.items():
        for n in ns:
            for trial in range(25):
                shape = (1, 2, *(int(rng.choice([1, 2, 3, 4, 5, 7])) for _ in range(n)))
                kw: dict = {"mode": mode}
                sf = tuple(float(rng.choice(scales)) for _ in range(n))
                kw["scale_factor"] = sf if trial % 2 else sf[0]
                if any(int(m * s) == 0 for m, s in zip(shape[2:], sf if trial % 2 else (sf[0],) * n)):
                    continue  # (an empty output: torch's error, elsewhere)
                kw["recompute_scale_factor"] = [None, True, False][trial % 3]
                if mode in ("linear", "bilinear", "bicubic", "trilinear"):
                    kw["align_corners"] = bool(trial % 4 < 2)
                    if mode in ("bilinear", "bicubic") and trial % 5 == 0:
                        kw["antialias"] = True
                y, yt, g, gt = _grads(shape, seed=trial, **kw)
                if not (kw.get("antialias") and y.shape[-1] == 1):  # (torch's repeated row: README)
                    np.testing.assert_allclose(y, yt, rtol=1e-10, atol=1e-12, err_msg=f"{shape} {kw}")
                np.testing.assert_allclose(g, gt, rtol=1e-10, atol=1e-12, err_msg=f"{shape} {kw}")
                seen += 1
    assert seen > 200
