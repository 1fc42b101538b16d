"""Regressions from torch's OpInfo samples run with ``--all-samples`` and with small integer dtypes
(``python -m tests.opinfo_harness``), and from the second-order probe: empty matrices in the LU and rank
functions, empty-batch pooling, integer dtypes kept by products, Python ints read into small integer
tensors with torch's checked conversion, and gradients of quantile's q and of the 2-norm at zero. Each test
states the expected values (so it means something without torch) and, where torch is installed, compares
values, dtypes, shapes and gradients."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.autograd.gradcheck import gradcheck, gradgradcheck


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _np(t: Any) -> np.ndarray:
    if hasattr(t, "resolve_conj"):  # torch
        return t.detach().resolve_conj().resolve_neg().numpy()
    return np.asarray(t.detach().numpy())


def _same(b: Any, t: Any, **tol: Any) -> None:
    assert tuple(b.shape) == tuple(t.shape)
    assert str(b.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(_np(b), _np(t), equal_nan=True, **tol)


# ---------------------------------------------------------------- empty matrices (LU, rank, norms)
@pytest.mark.parametrize("batch", [(), (2,), (0,)])
def test_lu_factor_of_empty_matrices(batch: tuple) -> None:
    lu, piv = bp.linalg.lu_factor(bp.zeros(*batch, 0, 0, dtype=bp.float64))
    assert tuple(lu.shape) == (*batch, 0, 0) and tuple(piv.shape) == (*batch, 0) and piv.dtype == bp.int32
    x, info = bp.linalg.solve_ex(bp.zeros(*batch, 0, 0, dtype=bp.float64), bp.zeros(*batch, 0, dtype=bp.float64))
    assert tuple(x.shape) == (*batch, 0) and tuple(info.shape) == batch and info.dtype == bp.int32


def test_lu_solve_of_empty_matrices() -> None:
    lu, piv = bp.zeros(0, 0, dtype=bp.float64), bp.zeros(0, dtype=bp.int32)
    assert tuple(bp.linalg.lu_solve(lu, piv, bp.zeros(0, 4, dtype=bp.float64), adjoint=True).shape) == (0, 4)
    assert tuple(bp.linalg.lu_solve(lu, piv, bp.zeros(4, 0, dtype=bp.float64), left=False).shape) == (4, 0)
    assert tuple(bp.lu_solve(bp.zeros(0, 4, dtype=bp.float64), lu, piv).shape) == (0, 4)
    b = bp.zeros(2, 0, 3, dtype=bp.complex128)
    out = bp.linalg.lu_solve(bp.zeros(2, 0, 0, dtype=bp.complex128), bp.zeros(2, 0, dtype=bp.int32), b)
    assert tuple(out.shape) == (2, 0, 3) and out.dtype == bp.complex128


def test_matrix_rank_tensor_tolerances() -> None:
    assert bp.linalg.matrix_rank(bp.zeros(0, 5, 5), rtol=bp.zeros(0, dtype=bp.float64)).tolist() == []
    assert bp.linalg.matrix_rank(bp.zeros(3, 0, 5)).tolist() == [0, 0, 0]
    a = bp.tensor(np.stack([np.eye(3), np.diag([1.0, 1e-3, 0.0]), np.diag([1.0, 0.5, 0.2])]))
    assert bp.linalg.matrix_rank(a).tolist() == [3, 2, 3]
    assert bp.linalg.matrix_rank(a, atol=bp.tensor([0.0, 1e-2, 0.3])).tolist() == [3, 1, 2]  # per matrix
    assert bp.linalg.matrix_rank(a, rtol=bp.tensor([0.0, 1e-4, 0.6])).tolist() == [3, 2, 1]
    assert bp.linalg.matrix_rank(a, atol=-1.0).tolist() == [3, 2, 3]  # atol <= 0: the default rtol stays
    with pytest.raises(RuntimeError, match="complex"):
        bp.linalg.matrix_rank(a, rtol=bp.tensor([0.0, 1.0, 1.0], dtype=bp.complex128))


def test_matrix_rank_matches_torch() -> None:
    torch = _torch()
    a = np.random.default_rng(0).standard_normal((3, 4, 4))
    a[1, :, 0] = a[1, :, 1]
    a[2] *= 1e-3
    for kw in ({}, {"atol": [0.0, 1e-2, 1.0]}, {"rtol": [0.0, 1e-2, 1.0]}, {"atol": [0.0, -1.0, 1e-2], "rtol": 0.5}):
        tk = {k: torch.tensor(v, dtype=torch.float64) for k, v in kw.items()}
        bk = {k: bp.tensor(v, dtype=bp.float64) for k, v in kw.items()}
        for herm in (False, True):
            t = torch.linalg.matrix_rank(torch.tensor(a), hermitian=herm, **tk)
            _same(bp.linalg.matrix_rank(bp.tensor(a), hermitian=herm, **bk), t)
    t = torch.linalg.matrix_rank(torch.zeros(0, 5, 5), rtol=torch.zeros(0, dtype=torch.float64))
    _same(bp.linalg.matrix_rank(bp.zeros(0, 5, 5), rtol=bp.zeros(0, dtype=bp.float64)), t)


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3), (3, 0), (2, 3, 0), (2, 0, 3)])
@pytest.mark.parametrize("ord", [1, -1, math.inf, -math.inf, 2, -2, "nuc", "fro"])
def test_matrix_norm_of_empty_matrices(shape: tuple, ord: Any) -> None:
    """torch: a positive order of a matrix without entries is 0 (a constant); a negative one reduces
    over what is left and refuses an empty min."""
    torch = _torch()
    for keepdim in (False, True):
        try:
            t = torch.linalg.matrix_norm(torch.zeros(shape, requires_grad=True), ord, keepdim=keepdim)
        except IndexError:
            with pytest.raises(IndexError):
                bp.linalg.matrix_norm(bp.zeros(*shape, requires_grad=True), ord, keepdim=keepdim)
            continue
        b = bp.linalg.matrix_norm(bp.zeros(*shape, requires_grad=True), ord, keepdim=keepdim)
        _same(b, t)
        assert b.requires_grad == t.requires_grad


def test_norm_inf_of_empty_matrix() -> None:
    assert bp.linalg.norm(bp.zeros(0, 0), math.inf).item() == 0.0
    assert bp.linalg.matrix_norm(bp.zeros(2, 0, 0), 1).tolist() == [0.0, 0.0]
    with pytest.raises(IndexError):
        bp.linalg.norm(bp.zeros(0, 0), -math.inf)


# ---------------------------------------------------------------- ormqr, svd
def test_ormqr_wide_input() -> None:
    """a (2, 5): only the first k = len(tau) columns hold reflectors (torch's sample is non-contiguous)."""
    rng = np.random.default_rng(1)
    a, tau, c = rng.standard_normal((5, 2)).T, rng.standard_normal(2), rng.standard_normal((2, 5))
    v = np.tril(a[:, :2], -1) + np.eye(2)
    q = np.eye(2)
    for i in range(2):
        q = q @ (np.eye(2) - tau[i] * np.outer(v[:, i], v[:, i]))
    for left, transpose in ((True, True), (True, False)):
        out = bp.ormqr(bp.tensor(a), bp.tensor(tau), bp.tensor(c), left=left, transpose=transpose)
        np.testing.assert_allclose(out.numpy(), (q.T if transpose else q) @ c, rtol=1e-12, atol=1e-12)
    torch = _torch()
    ta = torch.tensor(rng.standard_normal((5, 2))).T  # non-contiguous, as the sample
    tt, tc = torch.tensor(tau), torch.tensor(c)
    for left, transpose in ((True, True), (True, False)):
        t = torch.ormqr(ta, tt, tc, left=left, transpose=transpose)
        _same(bp.ormqr(bp.tensor(ta.numpy()), bp.tensor(tau), bp.tensor(c), left=left, transpose=transpose), t)


def test_svd_v_of_complex_matrix_is_vh_conjugate_transposed() -> None:
    a = np.random.default_rng(2).standard_normal((3, 3)) + 1j * np.random.default_rng(3).standard_normal((3, 3))
    u, s, v = bp.tensor(a).svd()
    np.testing.assert_allclose((u * s.to(bp.complex128).unsqueeze(-2)) @ v.mH, a, atol=1e-12)
    torch = _torch()
    tu, ts, tv = torch.tensor(a).svd()
    _same(v, tv, atol=1e-12)


# ---------------------------------------------------------------- statistics
def test_cov_aweights_gradient() -> None:
    """Two observations with correction=1: cov = d d^T / 2 whatever the weights, so their gradient is 0
    (torch computes the normalization in float32 aweights' dtype: its gradient is float32 round-off)."""
    x = bp.tensor([[-4.8270, -7.5824], [-0.6047, -1.5412], [-1.9719, -4.1460]], dtype=bp.float64, requires_grad=True)
    aw = bp.tensor([0.2598, 0.3666], requires_grad=True)
    c = bp.cov(x, correction=1, aweights=aw)
    d = x.detach()[:, 0] - x.detach()[:, 1]
    np.testing.assert_allclose(c.detach().numpy(), np.outer(d.numpy(), d.numpy()) / 2, rtol=1e-12)
    gx, gw = bp.autograd.grad(c.sum(), (x, aw))
    assert gw.tolist() == [0.0, 0.0]
    w64 = bp.tensor([0.2598, 0.3666, 0.5], dtype=bp.float64, requires_grad=True)
    x3 = bp.tensor(np.random.default_rng(4).standard_normal((3, 3)), requires_grad=True)
    assert gradcheck(lambda a, w: bp.cov(a, correction=1, aweights=w), (x3, w64))


def test_cov_aweights_gradient_matches_torch_in_float64() -> None:
    torch = _torch()
    a = np.random.default_rng(5).standard_normal((3, 4))
    w = np.array([0.3, 0.9, 0.2, 0.6])
    f = np.array([1, 2, 1, 3])
    for kw in ({"aweights": True}, {"aweights": True, "fweights": True}):
        res = []
        for m in (torch, bp):
            x, aw = m.tensor(a, requires_grad=True), m.tensor(w, requires_grad=True)
            extra = {"fweights": m.tensor(f)} if "fweights" in kw else {}
            c = m.cov(x, correction=1, aweights=aw, **extra)
            res.append((c, *m.autograd.grad((c * c).sum(), (x, aw))))
        for b, t in zip(res[1], res[0]):
            _same(b, t, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
def test_quantile_gradient_reaches_q(fn: str) -> None:
    """linear interpolation: d out / d q = (above - below) * (n - 1); the other modes read ranks
    rounded to integers (no gradient for q, as torch)."""
    x = bp.tensor([-4.8270, -7.5824], dtype=bp.float64, requires_grad=True)
    q = bp.tensor([0.2318, 0.0788], dtype=bp.float64, requires_grad=True)
    gx, gq = bp.autograd.grad(getattr(bp, fn)(x, q).sum(), (x, q))
    np.testing.assert_allclose(gq.numpy(), [2.7554, 2.7554], rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), [0.3106, 1.6894], rtol=1e-12)
    x3 = bp.tensor(np.random.default_rng(6).standard_normal((3, 5)), requires_grad=True)
    q3 = bp.tensor([0.3, 0.55, 0.9], dtype=bp.float64, requires_grad=True)
    assert gradcheck(lambda a, b: getattr(bp, fn)(a, b, dim=1), (x3, q3))
    assert gradgradcheck(lambda a, b: getattr(bp, fn)(a, b, dim=1), (x3, q3))
    for mode in ("lower", "higher", "nearest", "midpoint"):
        y = getattr(bp, fn)(x3, q3, dim=1, interpolation=mode)
        assert bp.autograd.grad(y.sum(), (q3,), allow_unused=True) == (None,)


@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
@pytest.mark.parametrize("mode", ["linear", "midpoint", "lower"])
def test_quantile_gradients_match_torch(fn: str, mode: str) -> None:
    torch = _torch()
    nan = math.nan
    data = [[-4.8, -7.5, 1.0, 2.0], [1.0, nan, 3.0, 4.0], [nan, nan, nan, nan]]
    qs = [0.2318, 0.0788, 1.0, 0.0, 0.5]
    res = []
    for m in (torch, bp):
        x, q = m.tensor(data, dtype=m.float64, requires_grad=True), m.tensor(qs, dtype=m.float64, requires_grad=True)
        y = getattr(m, fn)(x, q, dim=1, interpolation=mode)
        res.append((y, *m.autograd.grad(y.sum(), (x, q), allow_unused=True)))
    for b, t in zip(res[1], res[0]):
        assert (b is None) == (t is None)
        if t is not None:
            _same(b, t, rtol=1e-12)


def test_var_std_of_complex_are_real_for_any_dof() -> None:
    """n - correction <= 0 (an empty tensor, one element unbiased): a nan of the real dtype, as torch."""
    cases = (
        (lambda m: m.zeros(0, dtype=m.complex64).var(False), "float32"),
        (lambda m: m.zeros(0, dtype=m.complex64).std(False), "float32"),
        (lambda m: m.var_mean(m.zeros(0, dtype=m.complex64), 0)[0], "float32"),
        (lambda m: m.ones(1, dtype=m.complex64).var(), "float32"),
        (lambda m: m.ones(1, 2, dtype=m.complex128).std(0), "float64"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f, dt in cases:
            y = f(bp)
            assert str(y.dtype) == dt and np.isnan(y.numpy()).all()
        torch = _torch()
        for f, _ in cases:
            _same(f(bp), f(torch))


# ---------------------------------------------------------------- small integer dtypes
@pytest.mark.parametrize("dt", ["int8", "int16", "int32", "uint8"])
def test_products_keep_small_integer_dtypes(dt: str) -> None:
    d = getattr(bp, dt)
    a, b1, b2 = bp.ones(2, 3, dtype=d), bp.ones(4, 2, 5, dtype=d), bp.ones(4, 5, 3, dtype=d)
    y = bp.addbmm(a, b1, b2)
    assert y.dtype == d and y.tolist() == [[21] * 3] * 2
    z = bp.tensordot(bp.ones(1, 1, 1, dtype=d), bp.ones(2, 1, 2, dtype=d), dims=([0, 1], [2, 0]))
    assert z.dtype == d and z.tolist() == [[4]]  # (a size 1 against 2: the other operand summed there)
    torch = _torch()
    t = torch.tensordot(
        torch.ones(1, 1, 1, dtype=getattr(torch, dt)), torch.ones(2, 1, 2, dtype=getattr(torch, dt)), ([0, 1], [2, 0])
    )
    _same(z, t)
    tb = [torch.ones(s, dtype=getattr(torch, dt)) for s in ((2, 3), (4, 2, 5), (4, 5, 3))]
    _same(y, torch.addbmm(*tb))


def test_polygamma_of_integers_and_poles() -> None:
    """Integers compute in float32; trigamma (n = 1) at a negative integer is torch's reflection value
    pi^2 / sin(pi x)^2 in the computation dtype (large but finite), inf at 0."""
    x = bp.tensor([-8, -3, 0, 1, 5], dtype=bp.int8)
    y = bp.polygamma(1, x)
    assert y.dtype == bp.float32
    np.testing.assert_allclose(y.numpy(), [2.0177651e13, 1.7351288e16, math.inf, 1.644934, 0.2213230], rtol=1e-6)
    y64 = bp.polygamma(1, bp.tensor([-3.0, -1.0], dtype=bp.float64))
    np.testing.assert_allclose(y64.numpy(), [7.311989052578831e31, 6.580790147320947e32], rtol=1e-12)
    torch = _torch()
    for dt in ("int8", "int16", "int64", "uint8", "float32", "float64"):
        v = [-8, -5, -3, -1, 0, 1, 5, 9] if dt != "uint8" else [0, 1, 5, 9]
        for n in range(4):
            _same(
                bp.polygamma(n, bp.tensor(v, dtype=getattr(bp, dt))),
                torch.polygamma(n, torch.tensor(v, dtype=getattr(torch, dt))),
                rtol=1e-6,
            )


_OVERFLOW = "value cannot be converted to type"


def _int_cases() -> dict[str, Any]:
    def t(m: Any, dt: str) -> Any:
        return m.tensor([1, 2, 3], dtype=getattr(m, dt))

    return {
        "masked_fill": lambda m, dt, v: t(m, dt).masked_fill(m.tensor([True, False, True]), v),
        "masked_fill_": lambda m, dt, v: t(m, dt).masked_fill_(m.tensor([True, False, True]), v),
        "index_fill": lambda m, dt, v: t(m, dt).index_fill(0, m.tensor([0, 2]), v),
        "index_fill_": lambda m, dt, v: t(m, dt).index_fill_(0, m.tensor([0, 2]), v),
        "scatter": lambda m, dt, v: t(m, dt).scatter(0, m.tensor([0, 2]), v),
        "scatter_": lambda m, dt, v: t(m, dt).scatter_(0, m.tensor([0, 2]), v),
        "scatter_add_mode": lambda m, dt, v: t(m, dt).scatter(0, m.tensor([0, 2]), v, reduce="add"),
        "clamp": lambda m, dt, v: t(m, dt).clamp(0, v),
        "clamp_min": lambda m, dt, v: t(m, dt).clamp_min(v),
        "clamp_max": lambda m, dt, v: t(m, dt).clamp_max(v),
        "clamp_": lambda m, dt, v: t(m, dt).clamp_(None, v),
        "index_add": lambda m, dt, v: t(m, dt).index_add(0, m.tensor([0, 2]), m.ones(2, dtype=getattr(m, dt)), alpha=v),
        "fill_diagonal_": lambda m, dt, v: m.ones(2, 2, dtype=getattr(m, dt)).fill_diagonal_(v),
        "setitem": lambda m, dt, v: (lambda x: (x.__setitem__(0, v), x)[1])(t(m, dt)),
    }


def test_python_ints_into_small_integer_tensors() -> None:
    """torch's checked conversion: within [min, max] as is, a negative value down to -max wraps into an
    unsigned dtype, anything else is refused."""
    x = bp.tensor([1, 2, 3], dtype=bp.uint8)
    assert x.scatter(0, bp.tensor([0, 2]), -3).tolist() == [253, 2, 253]
    assert x.masked_fill(bp.tensor([True, False, False]), -1).tolist() == [255, 2, 3]
    assert x.clamp_min(-3).tolist() == [253, 253, 253]
    assert x.index_add(0, bp.tensor([0, 1]), bp.tensor([3, 2], dtype=bp.uint8), alpha=-1).tolist() == [254, 0, 3]
    with pytest.raises(RuntimeError, match=_OVERFLOW + " uint8_t without overflow"):
        x.masked_fill(bp.tensor([True, False, True]), 256)
    with pytest.raises(RuntimeError, match=_OVERFLOW + " uint8_t without overflow"):
        x.clamp(-5, 300)
    with pytest.raises(RuntimeError, match=_OVERFLOW + " int8_t without overflow"):
        bp.tensor([1, 2], dtype=bp.int8).index_fill(0, bp.tensor([0]), 200)
    with pytest.raises(RuntimeError, match=_OVERFLOW):
        x.index_add(0, bp.tensor([0]), bp.tensor([1], dtype=bp.uint8), alpha=256)


@pytest.mark.parametrize("dt", ["uint8", "int8", "int16", "int32"])
def test_python_ints_into_integer_tensors_match_torch(dt: str) -> None:
    torch = _torch()
    for name, f in _int_cases().items():
        for v in (-3, 200, 256, -129, -255, 70000, 2**31, -(2**31) - 1):
            try:
                t = f(torch, dt, v)
            except RuntimeError as e:
                with pytest.raises(RuntimeError, match=_OVERFLOW):
                    f(bp, dt, v)
                assert _OVERFLOW in str(e)
                continue
            b = f(bp, dt, v)
            assert (b.tolist(), str(b.dtype)) == (t.tolist(), str(t.dtype).replace("torch.", "")), (name, v)


# ---------------------------------------------------------------- pooling with an empty batch
@pytest.mark.parametrize("n", [2, 3])
def test_fractional_max_pool_empty_batch(n: int) -> None:
    f = bp.nn.functional.fractional_max_pool2d if n == 2 else bp.nn.functional.fractional_max_pool3d
    x = bp.zeros(0, 1, *(4, 5, 4)[:n], dtype=bp.float64, requires_grad=True)
    y, idx = f(x, (2,) * n, output_size=2, return_indices=True)
    assert tuple(y.shape) == (0, 1, *(2,) * n) and idx.dtype == bp.int64
    y.sum().backward()
    assert tuple(x.grad.shape) == tuple(x.shape)
    y = f(bp.zeros(0, *(4, 5, 4)[:n]), 2, output_size=2)  # unbatched, no channels: fine as torch
    assert tuple(y.shape) == (0, *(2,) * n)
    with pytest.raises(RuntimeError, match="non-zero size for non-batch dimensions"):
        f(bp.zeros(2, 0, *(4, 5, 4)[:n]), 2, output_size=2)
    assert tuple(bp.zeros(0, 1, 4, 5, 4).flatten(2).shape) == (0, 1, 80)


# ---------------------------------------------------------------- second order
def test_norm_second_order_at_zero_is_nan_as_torch() -> None:
    """The 2-norm's gradient is 0 at 0 (torch's subgradient); its own derivative there is nan in torch
    (x / |x| masked to 0, whose gradient is 0 * inf): the same here. Away from 0 gradgradcheck holds."""
    x = bp.zeros(5, dtype=bp.float64, requires_grad=True)
    (g,) = bp.autograd.grad(bp.linalg.norm(x), (x,), create_graph=True)
    assert g.tolist() == [0.0] * 5
    (gg,) = bp.autograd.grad(g, (x,), bp.ones_like(g))
    assert np.isnan(gg.numpy()).all()
    y = bp.tensor(np.random.default_rng(7).standard_normal((3, 4)), requires_grad=True)
    assert gradgradcheck(lambda a: bp.linalg.vector_norm(a, 2, dim=1), (y,))
    torch = _torch()
    tx = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.linalg.norm(tx), (tx,), create_graph=True)
    (tgg,) = torch.autograd.grad(tg, (tx,), torch.ones_like(tg))
    _same(gg, tgg)
