"""Parity with torch 2.13 for the math and statistics long tail: histc's binning in the input's dtype,
cdist/pdist's inf-norm gradient at ties, cdist's compute_mode check, var/std's degrees-of-freedom warning,
torch.cross's missing-dim deprecation warning and torch.gradient's 0-d tensor spacing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare against torch")


def _np(t):
    return t.detach().float().numpy() if "bfloat16" in str(t.dtype) else t.detach().numpy()


# ---------------------------------------------------------------- histc


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_histc_bins_in_input_dtype(dtype) -> None:
    # torch bins (x - min) * bins / (max - min) in x's dtype with min/max rounded to it
    rng = np.random.default_rng(0)
    for _ in range(60):
        x = np.round(rng.random(40) * rng.choice([0.3, 1.0, 7.0]), int(rng.integers(1, 3)))
        bins = int(rng.integers(1, 12))
        lo, hi = float(rng.choice([0.0, 0.1])), float(rng.choice([0.3, 1.0, x.max()]))
        if lo >= hi:
            continue
        ours = bp.histc(bp.tensor(x).to(getattr(bp, dtype)), bins, lo, hi)
        theirs = torch.histc(torch.tensor(x).to(getattr(torch, dtype)), bins, lo, hi)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(_np(ours), _np(theirs), err_msg=f"{x} {bins} {lo} {hi}")


def test_histc_closed_form() -> None:
    # 0.1 * 3 / 0.3 is exactly 1 in float32: bin 1, not bin 0; in float32 0.1 is inside min=0.1, and
    # (0.2 - 0.1) * 2 / (0.3 - 0.1) is just below 1
    np.testing.assert_array_equal(bp.histc(bp.tensor([0.1, 0.2, 0.3]), 3, 0.0, 0.3).numpy(), [0, 1, 2])
    np.testing.assert_array_equal(bp.histc(bp.tensor([0.1, 0.2, 0.3]), 2, 0.1, 0.3).numpy(), [2, 1])


# ---------------------------------------------------------------- cdist / pdist


def _grads(lib, fn, *arrays):
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    return [_np(g) for g in lib.autograd.grad(fn(lib, *xs).sum(), xs)]


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, math.inf])
def test_cdist_gradient_at_ties(p) -> None:
    # rows with several coordinates at the max |difference|, and one coincident pair
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, 1.0], [4.0, 5.0, 6.0]])

    def f(lib, x1, x2):
        return lib.cdist(x1, x2, p=p)

    for ours, theirs in zip(_grads(bp, f, a, b), _grads(torch, f, a, b)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


def test_cdist_inf_gradient_closed_form() -> None:
    # d = max(|x - y|) over [-2, 2, 2]: torch's backward gives each tied coordinate sign(d) whole
    x = bp.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    (g,) = bp.autograd.grad(bp.cdist(x, bp.tensor([[3.0, 0.0, 1.0]]), p=math.inf).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [[-1.0, 1.0, 1.0]])


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, math.inf])
def test_pdist_gradient_at_ties(p) -> None:
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [0.5, -1.0, 2.0], [3.0, 0.0, 1.0], [1.0, 2.0, 3.0]])

    def f(lib, t):
        return lib.pdist(t, p=p)

    np.testing.assert_allclose(_grads(bp, f, x)[0], _grads(torch, f, x)[0], rtol=1e-6, atol=1e-12)


def test_cdist_compute_mode() -> None:
    a, b = np.ones((2, 3)), np.zeros((4, 3))
    for mode in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        ours = bp.cdist(bp.tensor(a), bp.tensor(b), compute_mode=mode)
        np.testing.assert_allclose(ours.numpy(), torch.cdist(torch.tensor(a), torch.tensor(b), compute_mode=mode))
    with pytest.raises(ValueError, match="^bad is not a valid value for compute_mode$"):
        torch.cdist(torch.tensor(a), torch.tensor(b), compute_mode="bad")
    with pytest.raises(ValueError, match="^bad is not a valid value for compute_mode$"):
        bp.cdist(bp.tensor(a), bp.tensor(b), compute_mode="bad")


# ---------------------------------------------------------------- var / std degrees of freedom


def _dof_warnings(lib, call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(lib)
    msgs = [str(w.message).split(" (Triggered internally")[0] for w in caught if w.category is UserWarning]
    return out, sorted(set(msgs))


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.var(t.tensor([1.0])),
        lambda t: t.std(t.zeros(3, 4), 1, correction=4),
        lambda t: t.zeros(2).var(correction=2),
        lambda t: t.zeros(2).var(correction=1.5),
        lambda t: t.zeros(1).var(unbiased=False),
        lambda t: t.zeros(2, 3).std((0, 1), correction=6),
        lambda t: t.var(t.zeros(0, 3), 0),
        lambda t: t.tensor(1.0).std(),
        lambda t: t.var_mean(t.zeros(3, 1), 1),
        lambda t: t.std_mean(t.zeros(1), correction=1),
        lambda t: t.var_mean(t.zeros(4), unbiased=False),
        lambda t: t.zeros(1, dtype=t.complex64).var(),
    ],
)
def test_var_std_degrees_of_freedom_warning(call) -> None:
    ours, ours_w = _dof_warnings(bp, call)
    theirs, theirs_w = _dof_warnings(torch, call)
    assert ours_w == theirs_w
    for o, t in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        np.testing.assert_allclose(_np(o), _np(t))


def test_var_warning_points_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bp.var_mean(bp.zeros(1))
    assert [w.filename for w in caught] == [__file__]
    assert str(caught[0].message).startswith("var_mean(): degrees of freedom is <= 0.")


# ---------------------------------------------------------------- cross


def test_cross_default_dim_warns_once(monkeypatch) -> None:
    from backprop.methods import linalg as methods_linalg

    monkeypatch.setattr(methods_linalg, "_CROSS_WARNED", [False])  # (torch: once per process)
    a, b = bp.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), bp.tensor([[0.5, -1.0, 2.0], [3.0, 0.0, 1.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = bp.cross(a, b)
        a.cross(b, dim=None)
        bp.cross(a, b, dim=1)
        bp.linalg.cross(a, b)
    assert len(caught) == 1 and caught[0].category is UserWarning and caught[0].filename == __file__
    assert str(caught[0].message) == (
        "Using torch.cross without specifying the dim arg is deprecated.\n"
        "Please either pass the dim explicitly or simply use torch.linalg.cross.\n"
        "The default value of dim will change to agree with that of linalg.cross in a future release."
    )
    ta, tb = torch.tensor(a.numpy()), torch.tensor(b.numpy())
    np.testing.assert_allclose(out.numpy(), torch.cross(ta, tb, dim=1).numpy())


# ---------------------------------------------------------------- torch.gradient


def test_gradient_zero_dim_tensor_spacing() -> None:
    a = np.array([[1.0, 2.0, 4.0], [4.0, 5.0, 9.0]])
    ours = bp.gradient(bp.tensor(a), spacing=bp.tensor(2.0))
    theirs = torch.gradient(torch.tensor(a), spacing=torch.tensor(2.0))
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.numpy(), t.numpy())
    msg = "^torch.gradient expected each element of spacing to have one dimension, but got an element with 0 dim"
    with pytest.raises(RuntimeError, match=msg):
        torch.gradient(torch.tensor(a), spacing=[torch.tensor(2.0), torch.tensor(1.0)])
    with pytest.raises(RuntimeError, match=msg):
        bp.gradient(bp.tensor(a), spacing=[bp.tensor(2.0), bp.tensor(1.0)])
