"""Linear algebra, matmul-family and special-function disagreements with torch that torch's OpInfo samples
found (``python -m tests.opinfo_harness``), each pinned against torch and, where one exists, a closed form
that holds without torch: complex upper Cholesky gradients, ``lu_solve(adjoint=True)``, ``lstsq``'s
residuals, empty inputs of QR/geqrf/LDL/householder_product, a 0-d ``linalg.vander``, ``matrix_exp``'s
single-precision algorithm, ``slogdet``'s sign in the graph, ``tensordot`` broadcasting size-1 contracted
dims, integer/bool alpha and beta of ``addmv``/``addr``/``addbmm``/``baddbmm``, ``hermite_polynomial_he``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(7)


def _c(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def _hpd(n: int) -> np.ndarray:
    x = _c(n, n)
    return x @ x.conj().T + n * np.eye(n)


def _same(got: Any, want: Any, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    g, w = got.detach().numpy(), want.detach().resolve_conj().numpy()
    assert g.shape == w.shape, (g.shape, w.shape)
    assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


def _numeric_grad(fn: Callable[..., Any], arrays: list[np.ndarray], cot: np.ndarray, eps: float = 1e-6) -> list:
    """torch's convention for the gradient of the real loss Re<cot, fn(z)>: dL/dRe z + i dL/dIm z."""

    def loss(xs: list[np.ndarray]) -> float:
        y = fn(*[bp.tensor(x) for x in xs]).detach().numpy()
        return float(np.real(np.sum(np.conj(cot) * y)))

    out = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            for unit in (1.0, 1j) if a.dtype.kind == "c" else (1.0,):
                plus = [x.copy() for x in arrays]
                minus = [x.copy() for x in arrays]
                plus[k][idx] += eps * unit
                minus[k][idx] -= eps * unit
                g[idx] += unit * (loss(plus) - loss(minus)) / (2 * eps)
        out.append(g)
    return out


def _grads(lib: Any, fn: Callable[..., Any], arrays: list[np.ndarray], cot: np.ndarray) -> list[np.ndarray]:
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*xs)
    gs = lib.autograd.grad(y, xs, lib.tensor(cot))
    return [g.detach().resolve_conj().numpy() if lib is torch else g.detach().numpy() for g in gs]


# ---------------------------------------------------------------- Cholesky (complex, upper=True)


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_complex_gradient_matches_torch(upper: bool) -> None:
    a = _hpd(4)
    cot = _c(4, 4)
    for fn in ("cholesky", "linalg.cholesky"):

        def call(lib: Any, x: Any, fn: str = fn) -> Any:
            return lib.cholesky(x, upper=upper) if fn == "cholesky" else lib.linalg.cholesky(x, upper=upper)

        ours = _grads(bp, lambda x: call(bp, x), [a], cot)[0]
        theirs = _grads(torch, lambda x: call(torch, x), [a], cot)[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    ex_b = bp.linalg.cholesky_ex(bp.tensor(a, requires_grad=True), upper=upper)
    ex_t = torch.linalg.cholesky_ex(torch.tensor(a, requires_grad=True), upper=upper)
    _same(ex_b.L, ex_t.L)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_complex_gradient_numeric(upper: bool) -> None:
    """Through a Hermitian parametrisation A = X X^H + nI the gradient is the true one (closed form
    U^H U = A for the values): finite differences in Re X and Im X agree with backprop's rule."""
    x = _c(3, 3)
    cot = _c(3, 3)

    def f(t: Any) -> Any:
        return bp.linalg.cholesky(t @ t.mH + 3 * bp.eye(3, dtype=bp.complex128), upper=upper)

    y = f(bp.tensor(x)).numpy()
    a = x @ x.conj().T + 3 * np.eye(3)
    np.testing.assert_allclose(y.conj().T @ y if upper else y @ y.conj().T, a, atol=1e-12)
    np.testing.assert_allclose(_grads(bp, f, [x], cot)[0], _numeric_grad(f, [x], cot)[0], rtol=1e-5, atol=1e-6)


def test_cholesky_real_gradcheck() -> None:
    x = bp.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    for upper in (False, True):
        assert bp.gradcheck(
            lambda t, u=upper: bp.linalg.cholesky(t @ t.mT + 3 * bp.eye(3, dtype=bp.float64), upper=u), [x]
        )


# ---------------------------------------------------------------- lu_solve (adjoint: A^H X = B)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve_complex_adjoint(left: bool, adjoint: bool) -> None:
    a = _c(3, 3) + 3 * np.eye(3)
    b = _c(3, 2) if left else _c(2, 3)
    cot = _c(*b.shape)

    def run(lib: Any) -> Any:
        def f(x: Any, y: Any) -> Any:
            lu, piv = lib.linalg.lu_factor(x)
            return lib.linalg.lu_solve(lu, piv, y, left=left, adjoint=adjoint)

        return f

    xb = run(bp)(bp.tensor(a), bp.tensor(b))
    _same(xb, run(torch)(torch.tensor(a), torch.tensor(b)))
    op = a.conj().T if adjoint else a  # closed form: op(A) X = B (left) or X op(A) = B
    np.testing.assert_allclose(op @ xb.numpy() if left else xb.numpy() @ op, b, atol=1e-12)
    ours = _grads(bp, run(bp), [a, b], cot)
    theirs = _grads(torch, run(torch), [a, b], cot)
    for g, t in zip(ours, theirs):
        np.testing.assert_allclose(g, t, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours[1], _numeric_grad(run(bp), [a, b], cot)[1], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- lstsq's residuals


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shape", [(2, 3), (4, 3), (3, 3)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
def test_lstsq_outputs(driver: Any, shape: tuple, dtype: str) -> None:
    a = (RNG.standard_normal(shape) if dtype != "complex128" else _c(*shape)).astype(dtype)
    b = (RNG.standard_normal((shape[0], 2)) if dtype != "complex128" else _c(shape[0], 2)).astype(dtype)
    ob = bp.linalg.lstsq(bp.tensor(a, requires_grad=True), bp.tensor(b, requires_grad=True), driver=driver)
    ot = torch.linalg.lstsq(torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True), driver=driver)
    rtol = 1e-4 if dtype == "float32" else 1e-7
    for x, y in zip(ob, ot):
        assert x.requires_grad == y.requires_grad
        _same(x, y, rtol=rtol, atol=rtol)
    if ob.residuals.numel():  # closed form: the squared residual of each column
        r = a @ ob.solution.detach().numpy() - b
        np.testing.assert_allclose(ob.residuals.detach().numpy(), (np.abs(r) ** 2).sum(0), rtol=rtol)


def test_lstsq_residuals_gradient() -> None:
    a, b = _c(5, 3), _c(5, 2)
    cot = RNG.standard_normal(2)

    def run(lib: Any) -> Any:
        return lambda x, y: lib.linalg.lstsq(x, y, driver="gels").residuals

    for g, t in zip(_grads(bp, run(bp), [a, b], cot), _grads(torch, run(torch), [a, b], cot)):
        np.testing.assert_allclose(g, t, rtol=1e-8, atol=1e-10)
    ar = RNG.standard_normal((5, 3))
    br = RNG.standard_normal((5, 2))
    assert bp.gradcheck(run(bp), [bp.tensor(ar, requires_grad=True), bp.tensor(br, requires_grad=True)])


def test_lstsq_rank_deficient_gelsd_has_no_residuals() -> None:
    a = RNG.standard_normal((4, 3))
    a[:, 2] = a[:, 1]
    b = RNG.standard_normal((4, 2))
    for driver in ("gelsd", "gelss", "gels"):
        rb = bp.linalg.lstsq(bp.tensor(a), bp.tensor(b), driver=driver).residuals
        rt = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver).residuals
        assert tuple(rb.shape) == tuple(rt.shape)


# ---------------------------------------------------------------- empty inputs


def test_qr_empty_complex_backward() -> None:
    for shape in ((5, 0), (0, 5), (0, 0)):
        x = bp.tensor(np.zeros(shape, np.complex128), requires_grad=True)
        q, r = bp.linalg.qr(x)
        xt = torch.zeros(shape, dtype=torch.complex128, requires_grad=True)
        qt, rt = torch.linalg.qr(xt)
        _same(q, qt)
        _same(r, rt)
        (q.abs().sum() + r.abs().sum()).backward()
        assert x.grad is not None and tuple(x.grad.shape) == shape


def test_householder_product_empty_requires_grad() -> None:
    for dtype in ("float64", "complex128"):
        a = bp.tensor(np.zeros((0, 0), dtype), requires_grad=True)
        tau = bp.tensor(np.zeros(0, dtype), requires_grad=True)
        q = bp.linalg.householder_product(a, tau)
        qt = torch.linalg.householder_product(
            torch.zeros(0, 0, dtype=getattr(torch, dtype), requires_grad=True),
            torch.zeros(0, dtype=getattr(torch, dtype), requires_grad=True),
        )
        assert q.requires_grad and qt.requires_grad
        _same(q, qt)
    a = bp.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    q = bp.linalg.householder_product(a, bp.tensor(np.zeros(0), requires_grad=True))
    np.testing.assert_array_equal(q.detach().numpy(), np.eye(4)[:, :2])  # no reflector: Q is I's columns
    q.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 0)


@pytest.mark.parametrize("shape", [(5, 0), (0, 5), (0, 0), (2, 0, 3)])
def test_geqrf_empty(shape: tuple) -> None:
    a, tau = bp.geqrf(bp.tensor(np.zeros(shape)))
    at, taut = torch.geqrf(torch.zeros(shape, dtype=torch.float64))
    _same(a, at)
    _same(tau, taut)


def test_ldl_empty() -> None:
    for dtype in ("float64", "float32", "complex128"):
        a = np.zeros((0, 0), dtype)
        ld, piv = bp.linalg.ldl_factor(bp.tensor(a))
        ldt, pivt = torch.linalg.ldl_factor(torch.tensor(a))
        _same(ld, ldt)
        _same(piv, pivt)
        ex = bp.linalg.ldl_factor_ex(bp.tensor(np.zeros((2, 0, 0), dtype)))
        ext = torch.linalg.ldl_factor_ex(torch.tensor(np.zeros((2, 0, 0), dtype)))
        for x, y in zip(ex, ext):
            _same(x, y)
        x = bp.linalg.ldl_solve(ld, piv, bp.tensor(np.zeros((0, 5), dtype)))
        _same(x, torch.linalg.ldl_solve(ldt, pivt, torch.tensor(np.zeros((0, 5), dtype))))


# ---------------------------------------------------------------- linalg.vander


def test_vander_zero_dim_and_checks() -> None:
    for value, dtype in ((3.0, "float64"), (2, "int64"), (1 + 2j, "complex128"), (2, "int8")):
        x = np.array(value, dtype)
        _same(bp.linalg.vander(bp.tensor(x), N=3), torch.linalg.vander(torch.tensor(x), N=3))
    np.testing.assert_array_equal(bp.linalg.vander(bp.tensor(3.0), N=3).numpy(), [[1.0, 3.0, 9.0]])
    with pytest.raises(ValueError, match="N must be greater than 1"):
        bp.linalg.vander(bp.tensor([1.0, 2.0]), N=1)
    with pytest.raises(ValueError, match="N must be greater than 1"):
        bp.linalg.vander(bp.tensor(3.0))
    with pytest.raises(TypeError, match="Bool"):
        bp.linalg.vander(bp.tensor([True, False]), N=3)


# ---------------------------------------------------------------- matrix_exp


def test_matrix_exp_float32_accuracy_and_torch() -> None:
    """torch's degree-by-norm Taylor scheme: in float32 as close to the float64 exponential as torch's."""
    scipy_linalg = pytest.importorskip("scipy.linalg")
    x = (RNG.standard_normal((6, 5, 5)) * np.array([1e-9, 1e-3, 0.04, 0.5, 1.3, 4.0])[:, None, None]).astype("float32")
    ours = bp.linalg.matrix_exp(bp.tensor(x)).numpy()
    theirs = torch.linalg.matrix_exp(torch.tensor(x)).numpy()
    ref = np.stack([scipy_linalg.expm(m) for m in x.astype(np.float64)])
    scale = np.abs(ref).max(axis=(1, 2))
    err_ours = np.abs(ours - ref).max(axis=(1, 2)) / scale
    err_torch = np.abs(theirs - ref).max(axis=(1, 2)) / scale
    assert ours.dtype == np.float32
    assert (err_ours <= np.maximum(4 * err_torch, 1e-6)).all(), (err_ours, err_torch)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-5 * scale.max())


def test_matrix_exp_float64_and_closed_forms() -> None:
    x = RNG.standard_normal((4, 4, 4)) * np.array([1e-10, 0.1, 1.0, 6.0])[:, None, None]
    _same(bp.linalg.matrix_exp(bp.tensor(x)), torch.linalg.matrix_exp(torch.tensor(x)), rtol=1e-10)
    d = np.diag([0.5, -1.0, 2.0])  # exp of a diagonal matrix; of a nilpotent one, I + N
    np.testing.assert_allclose(bp.linalg.matrix_exp(bp.tensor(d)).numpy(), np.diag(np.exp([0.5, -1.0, 2.0])))
    n = np.array([[0.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(bp.linalg.matrix_exp(bp.tensor(n)).numpy(), np.eye(2) + n)
    _same(bp.matrix_exp(bp.tensor(np.array([[[0.7]]]))), torch.matrix_exp(torch.tensor([[[0.7]]], dtype=torch.float64)))
    m = bp.tensor(RNG.standard_normal((3, 4, 4)) * np.array([0.01, 0.4, 2.0])[:, None, None], requires_grad=True)
    assert bp.gradcheck(bp.linalg.matrix_exp, [m])
    cot = RNG.standard_normal((3, 4, 4))
    a = m.detach().numpy()
    for g, t in zip(_grads(bp, bp.linalg.matrix_exp, [a], cot), _grads(torch, torch.linalg.matrix_exp, [a], cot)):
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- slogdet


def test_slogdet_sign_requires_grad() -> None:
    for shape in ((0, 0), (3, 3)):
        a = RNG.standard_normal(shape)
        sb, lb = bp.linalg.slogdet(bp.tensor(a, requires_grad=True))
        st, lt = torch.linalg.slogdet(torch.tensor(a, requires_grad=True))
        assert sb.requires_grad and st.requires_grad
        _same(sb, st)
        _same(lb, lt)
    x = bp.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    (g,) = bp.autograd.grad(bp.linalg.slogdet(x).sign, [x], allow_unused=True)
    assert g is None or not g.numpy().any()  # a real sign is piecewise constant


# ---------------------------------------------------------------- tensordot, addmv / addr / addbmm / baddbmm


def test_tensordot_size_one_contracted_dims_broadcast() -> None:
    a, b = RNG.standard_normal((1, 1, 1)), RNG.standard_normal((2, 1, 2))
    dims = ([0, 1], [2, 0])
    yb = bp.tensordot(bp.tensor(a, requires_grad=True), bp.tensor(b, requires_grad=True), dims=dims)
    yt = torch.tensordot(torch.tensor(a), torch.tensor(b), dims=dims)
    _same(yb, yt)
    # closed form: a's size-1 dim against b's size-2 dim sums b over it
    np.testing.assert_allclose(yb.detach().numpy(), np.einsum("i,jk->ik", a[0, 0], b.sum(axis=(0, 2))[None]))
    cot = RNG.standard_normal(yt.shape)
    run = lambda lib: lambda x, y: lib.tensordot(x, y, dims=dims)  # noqa: E731
    for g, t in zip(_grads(bp, run(bp), [a, b], cot), _grads(torch, run(torch), [a, b], cot)):
        np.testing.assert_allclose(g, t, rtol=1e-10)
    with pytest.raises(ValueError, match="contracted dimensions need to match"):
        bp.tensordot(bp.ones(2, 3), bp.ones(4, 3), dims=([0], [0]))


def test_integer_alpha_beta_truncate() -> None:
    i = lambda *s: RNG.integers(-4, 5, s)  # noqa: E731
    cases = [
        ("addmv", i(5), i(5, 4), i(4)),
        ("addbmm", i(5, 6), i(3, 5, 4), i(3, 4, 6)),
        ("baddbmm", i(3, 5, 6), i(3, 5, 4), i(3, 4, 6)),
        ("addmm", i(5, 6), i(5, 4), i(4, 6)),
        ("addr", i(5, 6), i(5), i(6)),
    ]
    for name, *arrs in cases:
        for beta, alpha in ((0.2, 0.6), (1.7, 2.9), (0, 3)):
            if name == "addr" and isinstance(beta, float):
                with pytest.raises(TypeError, match="floating point"):
                    bp.addr(*[bp.tensor(x) for x in arrs], beta=beta, alpha=alpha)
                continue
            got = getattr(bp, name)(*[bp.tensor(x) for x in arrs], beta=beta, alpha=alpha)
            want = getattr(torch, name)(*[torch.tensor(x) for x in arrs], beta=beta, alpha=alpha)
            _same(got, want)
            assert got.dtype == bp.int64


def test_addr_bool_in_place() -> None:
    m = RNG.integers(0, 2, (5, 6)).astype(bool)
    v1, v2 = RNG.integers(0, 2, 5).astype(bool), RNG.integers(0, 2, 6).astype(bool)
    for beta, alpha in ((1, 1), (False, True), (True, False)):
        xb, xt = bp.tensor(m.copy()), torch.tensor(m.copy())
        out = xb.addr_(bp.tensor(v1), bp.tensor(v2), beta=beta, alpha=alpha)
        xt.addr_(torch.tensor(v1), torch.tensor(v2), beta=beta, alpha=alpha)
        assert out is xb
        _same(xb, xt)
        np.testing.assert_array_equal(xb.numpy(), (bool(beta) & m) | (bool(alpha) & np.outer(v1, v2)))


# ---------------------------------------------------------------- special functions


def test_hermite_polynomial_he_float32_bit_for_bit() -> None:
    """torch's recurrence He_{k+1} = x He_k - k He_{k-1} compiles to a fused multiply-add: float32 results
    agree with it exactly; float64 with the three-term closed forms."""
    x = RNG.uniform(-5, 5, 2000).astype("float32")
    n = RNG.integers(-1, 12, 2000).astype("float32")
    got = bp.special.hermite_polynomial_he(bp.tensor(x), bp.tensor(n))
    want = torch.special.hermite_polynomial_he(torch.tensor(x), torch.tensor(n))
    assert got.dtype == bp.float32
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    z = np.linspace(-3, 3, 13)
    he = bp.special.hermite_polynomial_he
    np.testing.assert_allclose(he(bp.tensor(z), 3).numpy(), z**3 - 3 * z, atol=1e-12)
    np.testing.assert_allclose(he(bp.tensor(z), 4).numpy(), z**4 - 6 * z**2 + 3, atol=1e-12)
