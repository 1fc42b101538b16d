"""``bp.linalg`` and the matrix functions against torch: values, dtypes, shapes and gradients (random upstream
gradients; for decompositions, gauge-invariant functions of the outputs), errors and edge cases."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _well(*shape: int) -> np.ndarray:
    """Well-conditioned square matrices: standard normal + 3 I."""
    return _rand(*shape) + 3 * np.eye(shape[-1])


def _spd(*shape: int) -> np.ndarray:
    x = _rand(*shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def _same(got: Any, want: Any, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    w = want.detach().numpy()
    g = got.detach().numpy()
    assert g.shape == w.shape, (g.shape, w.shape)
    assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


def _flat(out: Any) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def _check(fn_bp: Any, fn_t: Any, *arrays: np.ndarray, dtype: str = "float64", rtol: float = 1e-6) -> None:
    """Forward (every output) and backward (random upstream gradients on the float outputs) agree with torch."""
    xs = [bp.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ys, us = _flat(fn_bp(*xs)), _flat(fn_t(*ts))
    assert len(ys) == len(us)
    loss_b: Any = 0
    loss_t: Any = 0
    for k, (y, u) in enumerate(zip(ys, us)):
        _same(y, u, rtol=rtol, atol=1e-5 if dtype == "float32" else 1e-8)
        if u.requires_grad:
            g = np.random.default_rng(k).standard_normal(tuple(u.shape)).astype(dtype)
            loss_b = loss_b + (y * bp.tensor(g)).sum()
            loss_t = loss_t + (u * torch.tensor(g)).sum()
    loss_b.backward()
    loss_t.backward()
    for x, t in zip(xs, ts):
        if t.grad is None:
            assert x.grad is None or not np.any(x.grad.numpy())
        else:
            _same(x.grad, t.grad, rtol=max(rtol, 1e-5), atol=1e-4 if dtype == "float32" else 1e-7)


# ---------------------------------------------------------------- inverses, determinants, solves
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_inv_det_slogdet(shape: tuple, dtype: str) -> None:
    rtol = 1e-6 if dtype == "float64" else 1e-4
    a = _well(*shape)
    _check(bp.linalg.inv, torch.linalg.inv, a, dtype=dtype, rtol=rtol)
    _check(bp.linalg.det, torch.linalg.det, a, dtype=dtype, rtol=rtol)
    _check(lambda x: tuple(bp.linalg.slogdet(x)), lambda t: tuple(torch.linalg.slogdet(t)), a, dtype=dtype, rtol=rtol)
    _check(bp.inverse, torch.inverse, a, dtype=dtype, rtol=rtol)
    _check(lambda x: x.det(), lambda t: t.det(), -a, dtype=dtype, rtol=rtol)
    _check(lambda x: x.logdet(), lambda t: t.logdet(), a, dtype=dtype, rtol=rtol)


def test_slogdet_fields_and_negative_determinant() -> None:
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    r = bp.linalg.slogdet(bp.tensor(a))
    assert r.sign.item() == -1.0 and r.logabsdet.item() == 0.0
    assert math.isnan(bp.logdet(bp.tensor(a)).item()) and math.isnan(torch.logdet(torch.tensor(a)).item())
    sign, logabs = bp.slogdet(bp.tensor(_well(2, 3, 3)))
    assert sign.shape == logabs.shape == (2,)


def test_det_gradient_at_a_singular_matrix_is_the_adjugate() -> None:
    """At an exactly singular matrix (det 0) the gradient is the adjugate, from an SVD: finite, not NaN.
    (A deliberate difference: torch 2.13 returns zeros there, which finite differences contradict.)"""
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    x = bp.tensor(a, requires_grad=True)
    bp.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)  # adj(A)^T
    x = bp.tensor(np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]], [[0.0, 0, 0], [1, 2, 0], [0, 0, 1]]]))
    x.requires_grad_()
    assert bp.gradcheck(bp.linalg.det, (x,))
    # nearly singular (det ~ 1e-16 after rounding): torch's LU path, same values
    _check(bp.linalg.det, torch.linalg.det, np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]]))


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (3, 4)), ((2, 3, 3), (2, 3)), ((1, 3, 3), (4, 3, 1))],
)
def test_solve_broadcasting_and_vectors(a_shape: tuple, b_shape: tuple) -> None:
    a, b = _well(*a_shape), _rand(*b_shape)
    _check(bp.linalg.solve, torch.linalg.solve, a, b)


def test_solve_left_false() -> None:
    a, b = _well(3, 3), _rand(2, 3)
    _check(lambda x, y: bp.linalg.solve(x, y, left=False), lambda x, y: torch.linalg.solve(x, y, left=False), a, b)


def test_pinv_lstsq_matrix_rank() -> None:
    for shape in [(4, 3), (3, 5), (2, 3, 3)]:
        a = _rand(*shape)
        _check(bp.linalg.pinv, torch.linalg.pinv, a)
        _check(bp.pinverse, torch.pinverse, a)
    s = _rand(3, 3)
    s = s + s.T
    _check(lambda x: bp.linalg.pinv(x, hermitian=True), lambda t: torch.linalg.pinv(t, hermitian=True), s)
    low = _rand(4, 2) @ _rand(2, 5)  # rank 2
    assert bp.linalg.matrix_rank(bp.tensor(low)).item() == 2 == torch.linalg.matrix_rank(torch.tensor(low)).item()
    r = bp.linalg.matrix_rank(bp.tensor(_rand(2, 3, 4)))
    assert r.dtype == bp.int64 and r.tolist() == [3, 3]
    a, b = _rand(5, 3), _rand(5, 2)
    _check(lambda x, y: bp.linalg.lstsq(x, y).solution, lambda x, y: torch.linalg.lstsq(x, y).solution, a, b)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
def test_matrix_power(n: int) -> None:
    _check(lambda x: bp.linalg.matrix_power(x, n), lambda t: torch.linalg.matrix_power(t, n), _well(2, 3, 3))
    _check(lambda x: x.matrix_power(n), lambda t: t.matrix_power(n), _well(3, 3))


@pytest.mark.parametrize("scale", [0.1, 1.0, 6.0])
def test_matrix_exp(scale: float) -> None:
    a = _rand(2, 3, 3) * scale
    _check(bp.linalg.matrix_exp, torch.linalg.matrix_exp, a, rtol=1e-9)
    _check(bp.matrix_exp, torch.matrix_exp, a[0], rtol=1e-9)


# ---------------------------------------------------------------- decompositions
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(upper: bool) -> None:
    a = _spd(2, 4, 4)
    _check(lambda x: bp.linalg.cholesky(x, upper=upper), lambda t: torch.linalg.cholesky(t, upper=upper), a)
    _check(lambda x: x.cholesky(upper), lambda t: torch.linalg.cholesky(t, upper=upper), a)  # (torch.cholesky warns)
    l_factor = np.linalg.cholesky(a)
    b = _rand(2, 4, 3)
    factor = np.swapaxes(l_factor, -1, -2) if upper else l_factor
    _check(lambda y, f: bp.cholesky_solve(y, f, upper), lambda y, f: torch.cholesky_solve(y, f, upper), b, factor)
    _check(lambda f: bp.cholesky_inverse(f, upper), lambda f: torch.cholesky_inverse(f, upper), factor[0])


def _gauge_free(q: Any) -> Any:
    """Columns defined up to sign: their elementwise squares are not."""
    return q * q


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 3)])
def test_qr(shape: tuple) -> None:
    a = _rand(*shape)
    for mode in ("reduced", "complete"):
        if mode == "complete" and shape[-2] > shape[-1]:
            continue
        _check(
            lambda x, mode=mode: tuple(_gauge_free(o) for o in bp.linalg.qr(x, mode=mode)),
            lambda t, mode=mode: tuple(_gauge_free(o) for o in torch.linalg.qr(t, mode=mode)),
            a,
        )
    q, r = bp.linalg.qr(bp.tensor(a))
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-12)
    q, r = bp.qr(bp.tensor(a), some=False)
    assert q.shape == shape[:-2] + (shape[-2], shape[-2])
    q, r = bp.linalg.qr(bp.tensor(a), mode="r")
    assert q.shape == (0,) if len(shape) == 2 else True
    np.testing.assert_allclose(np.abs(r.numpy()), np.abs(torch.linalg.qr(torch.tensor(a), mode="r").R.numpy()))


def test_qr_errors_as_torch() -> None:
    x = bp.tensor(_rand(4, 3), requires_grad=True)
    q, r = bp.linalg.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        q.sum().backward()
    q, r = bp.linalg.qr(x, mode="r")
    with pytest.raises(RuntimeError, match="mode='r'"):
        r.sum().backward()


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_and_eigvalsh(uplo: str) -> None:
    a = _rand(2, 4, 4)  # not symmetric: only the UPLO triangle is read, as torch
    _check(
        lambda x: (bp.linalg.eigh(x, uplo)[0], _gauge_free(bp.linalg.eigh(x, uplo)[1])),
        lambda t: (torch.linalg.eigh(t, uplo)[0], _gauge_free(torch.linalg.eigh(t, uplo)[1])),
        a,
    )
    _check(lambda x: bp.linalg.eigvalsh(x, uplo), lambda t: torch.linalg.eigvalsh(t, uplo), a)
    res = bp.linalg.eigh(bp.tensor(a))
    assert res.eigenvalues.shape == (2, 4) and res.eigenvectors.shape == (2, 4, 4)


def test_eigvalsh_gradient_with_repeated_eigenvalues_is_finite() -> None:
    """Unused eigenvectors skip the 1 / (w_j - w_i) term (torch): the identity has a finite gradient."""
    _check(bp.linalg.eigvalsh, torch.linalg.eigvalsh, np.eye(3))
    _check(bp.linalg.svdvals, torch.linalg.svdvals, np.eye(3))


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_svd(shape: tuple, full: bool) -> None:
    a = _rand(*shape)
    k = min(shape[-2:])

    def parts(u: Any, s: Any, vh: Any) -> tuple:  # full_matrices' extra columns span a null space: no unique basis
        return _gauge_free(u[..., :k]), s, _gauge_free(vh[..., :k, :])

    _check(lambda x: parts(*bp.linalg.svd(x, full_matrices=full)), lambda t: parts(*torch.linalg.svd(t, full)), a)
    _check(bp.linalg.svdvals, torch.linalg.svdvals, a)

    def parts_v(u: Any, s: Any, v: Any) -> tuple:  # torch.svd: V, not Vh
        return _gauge_free(u[..., :k]), s, _gauge_free(v[..., :, :k])

    _check(lambda x: parts_v(*bp.svd(x, some=not full)), lambda t: parts_v(*torch.svd(t, some=not full)), a)
    u, s, v = bp.svd(bp.tensor(a))
    np.testing.assert_allclose(((u * s.unsqueeze(-2)) @ v.mT).numpy(), a, atol=1e-12)


def test_svd_non_gauge_invariant_loss_matches_torch() -> None:
    """torch's formula for a loss that reads U's signs too: same rule, same values (the column signs LAPACK picks
    may differ between torch and NumPy, so both are aligned by the constant sign of U's first row)."""

    def aligned(u: Any) -> Any:
        return u * u[..., :1, :].detach().sign()

    a = _rand(4, 3)
    _check(lambda x: aligned(bp.linalg.svd(x, False).U), lambda t: aligned(torch.linalg.svd(t, False).U), a)


def test_svd_compute_uv_false() -> None:
    u, s, v = bp.svd(bp.tensor(_rand(3, 2)), compute_uv=False)
    assert u.shape == (3, 3) and v.shape == (2, 2) and not u.numpy().any()


# ---------------------------------------------------------------- norms
@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 0, 3.5, 0.5])
def test_vector_norm(ord: float) -> None:
    x = _rand(3, 4)
    _check(lambda t: bp.linalg.vector_norm(t, ord), lambda t: torch.linalg.vector_norm(t, ord), x)
    _check(
        lambda t: bp.linalg.vector_norm(t, ord, dim=-1, keepdim=True),
        lambda t: torch.linalg.vector_norm(t, ord, dim=-1, keepdim=True),
        x,
    )
    y = bp.linalg.vector_norm(bp.tensor(x, dtype=bp.float32), dtype=bp.float64)
    assert y.dtype == bp.float64


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
def test_matrix_norm(ord: Any) -> None:
    a = _rand(2, 3, 4)
    _check(lambda x: bp.linalg.matrix_norm(x, ord), lambda t: torch.linalg.matrix_norm(t, ord), a)
    _check(
        lambda x: bp.linalg.matrix_norm(x, ord, dim=(0, 2), keepdim=True),
        lambda t: torch.linalg.matrix_norm(t, ord, dim=(0, 2), keepdim=True),
        a,
    )
    _check(lambda x: bp.linalg.norm(x[0], ord), lambda t: torch.linalg.norm(t[0], ord), a)


def test_norm_dispatch() -> None:
    a = _rand(2, 3, 4)
    _check(bp.linalg.norm, torch.linalg.norm, a)
    _check(lambda x: bp.linalg.norm(x, dim=1), lambda t: torch.linalg.norm(t, dim=1), a)
    _check(lambda x: bp.linalg.norm(x, 3, dim=(1,)), lambda t: torch.linalg.norm(t, 3, dim=(1,)), a)
    _check(lambda x: bp.linalg.norm(x, dim=(1, 2)), lambda t: torch.linalg.norm(t, dim=(1, 2)), a)
    with pytest.raises(RuntimeError):
        bp.linalg.norm(bp.tensor(a), 2)


# ---------------------------------------------------------------- products, distances, statistics
@pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")
def test_cross_vecdot_multi_dot() -> None:
    a, b = _rand(4, 3), _rand(1, 3)
    _check(bp.linalg.cross, torch.linalg.cross, a, b)
    c, d = _rand(3, 2, 3), _rand(3, 2, 3)
    with warnings.catch_warnings():  # (torch.cross's once-per-process deprecation of the default dim)
        warnings.filterwarnings("ignore", "Using torch.cross without specifying the dim", UserWarning)
        _check(lambda x, y: bp.cross(x, y), lambda x, y: torch.cross(x, y, dim=0), c, d)  # first dim of size 3
    _check(lambda x, y: x.cross(y, dim=-1), lambda x, y: x.cross(y, dim=-1), c, d)
    _check(bp.linalg.vecdot, torch.linalg.vecdot, _rand(2, 5), _rand(5))
    ms = [_rand(2, 3), _rand(3, 4), _rand(4, 5), _rand(5)]
    _check(lambda *xs: bp.linalg.multi_dot(xs), lambda *ts: torch.linalg.multi_dot(ts), *ms)
    _check(lambda *xs: bp.chain_matmul(*xs), lambda *ts: torch.chain_matmul(*ts), *ms[:3])


@pytest.mark.parametrize("beta", [1, 0.5, 0])
def test_addmv_addr_addbmm(beta: float) -> None:
    kw = {"beta": beta, "alpha": 2.0}
    _check(
        lambda s, m, v: bp.addmv(s, m, v, **kw),
        lambda s, m, v: torch.addmv(s, m, v, **kw),
        _rand(3),
        _rand(3, 4),
        _rand(4),
    )
    _check(
        lambda s, a, b: bp.addr(s, a, b, **kw),
        lambda s, a, b: torch.addr(s, a, b, **kw),
        _rand(3, 1),
        _rand(3),
        _rand(4),
    )
    _check(
        lambda s, a, b: s.addbmm(a, b, **kw),
        lambda s, a, b: s.addbmm(a, b, **kw),
        _rand(3, 5),
        _rand(2, 3, 4),
        _rand(2, 4, 5),
    )


def test_in_place_products() -> None:
    for name, args in [
        ("addmm_", (_rand(3, 4), _rand(4, 5))),
        ("baddbmm_", (_rand(2, 3, 4), _rand(2, 4, 5))),
        ("addbmm_", (_rand(2, 3, 4), _rand(2, 4, 5))),
    ]:
        base = _rand(2, 3, 5) if name == "baddbmm_" else _rand(3, 5)
        x, t = bp.tensor(base), torch.tensor(base)
        getattr(x, name)(*[bp.tensor(a) for a in args], beta=0.5, alpha=2.0)
        getattr(t, name)(*[torch.tensor(a) for a in args], beta=0.5, alpha=2.0)
        _same(x, t)
    x = bp.tensor(_rand(3), requires_grad=True)
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    y, u = x * 1, t * 1
    y.addmv_(bp.tensor(np.ones((3, 2))), bp.tensor(np.ones(2)), beta=3)
    u.addmv_(torch.ones(3, 2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), beta=3)
    y.sum().backward()
    u.sum().backward()
    _same(y, u)
    _same(x.grad, t.grad)


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5, 3.0, math.inf])
def test_cdist_and_dist(p: float) -> None:
    _check(lambda a, b: bp.cdist(a, b, p), lambda a, b: torch.cdist(a, b, p), _rand(2, 4, 3), _rand(2, 5, 3))
    _check(lambda a, b: bp.dist(a, b, p), lambda a, b: torch.dist(a, b, p), _rand(4, 3), _rand(3))


def test_cdist_zero_distance_gradient_is_zero() -> None:
    a = _rand(3, 2)
    _check(bp.cdist, torch.cdist, a, a.copy())


def test_cov_corrcoef() -> None:
    x = _rand(3, 6)
    _check(bp.cov, torch.cov, x)
    _check(lambda t: bp.cov(t, correction=0), lambda t: torch.cov(t, correction=0), x)
    _check(bp.cov, torch.cov, x[0])
    _check(bp.corrcoef, torch.corrcoef, x)
    fw = np.array([1, 2, 1, 3, 1, 1])
    aw = RNG.uniform(0.5, 2.0, 6)
    got = bp.cov(bp.tensor(x), fweights=bp.tensor(fw), aweights=bp.tensor(aw))
    want = torch.cov(torch.tensor(x), fweights=torch.tensor(fw), aweights=torch.tensor(aw))
    _same(got, want)
    got = bp.cov(bp.tensor(np.array([[1, 2, 4], [2, 5, 9]])))
    assert got.dtype == bp.float32


def test_vander_and_trapezoid() -> None:
    x = _rand(4)
    # torch.vander's own backward fails (an in-place cumprod), so its gradient reference is linalg.vander flipped
    _check(bp.vander, lambda t: torch.linalg.vander(t).flip(-1), x)
    _same(bp.vander(bp.tensor(x)), torch.vander(torch.tensor(x)))
    _check(lambda t: bp.vander(t, 3, increasing=True), lambda t: torch.linalg.vander(t, N=3), x)
    _check(bp.linalg.vander, torch.linalg.vander, _rand(2, 4))
    assert bp.vander(bp.tensor([1, 2, 3])).dtype == bp.int64
    y = _rand(3, 5)
    _check(bp.trapezoid, torch.trapezoid, y)
    _check(lambda t: bp.trapezoid(t, dx=0.5, dim=0), lambda t: torch.trapezoid(t, dx=0.5, dim=0), y)
    _check(lambda t, s: bp.trapezoid(t, s), lambda t, s: torch.trapezoid(t, s), y, np.sort(_rand(5)))
    _check(bp.cumulative_trapezoid, torch.cumulative_trapezoid, y)
    _check(bp.trapz, torch.trapz, y)


def test_tensorinv_tensorsolve_diagonal() -> None:
    a = _well(6, 6).reshape(6, 2, 3)
    _check(lambda x: bp.linalg.tensorinv(x, ind=1), lambda t: torch.linalg.tensorinv(t, ind=1), a)
    b = _rand(6)
    _check(bp.linalg.tensorsolve, torch.linalg.tensorsolve, a, b)
    _check(lambda x: bp.linalg.diagonal(x, offset=1), lambda t: torch.linalg.diagonal(t, offset=1), _rand(2, 3, 4))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "fn",
    [bp.linalg.inv, bp.linalg.det, bp.linalg.slogdet, bp.linalg.cholesky, bp.linalg.eigh, bp.linalg.matrix_exp],
)
def test_errors_for_non_square_vectors_and_integers(fn: Any) -> None:
    with pytest.raises(RuntimeError, match="square"):
        fn(bp.tensor(_rand(2, 3)))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        fn(bp.tensor(_rand(3)))
    with pytest.raises(RuntimeError, match="floating point"):
        fn(bp.tensor(np.eye(3, dtype=np.int64)))


def test_linalg_errors() -> None:
    with pytest.raises(bp.linalg.LinAlgError, match="singular"):
        bp.linalg.inv(bp.zeros(2, 2))
    with pytest.raises(RuntimeError, match="positive-definite"):
        bp.linalg.cholesky(-bp.eye(2))
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        bp.linalg.solve(bp.tensor(_well(3, 3)), bp.tensor(_rand(2, 3)))
    ex = bp.linalg.inv_ex(bp.zeros(2, 2))
    assert ex.info.item() == torch.linalg.inv_ex(torch.zeros(2, 2)).info.item() != 0
    ok = bp.linalg.cholesky_ex(bp.tensor(_spd(3, 3)))
    assert ok.info.item() == 0
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])
    assert bp.linalg.cholesky_ex(bp.tensor(bad)).info.item() == torch.linalg.cholesky_ex(torch.tensor(bad)).info.item()
