"""torch.linalg's remaining names against torch: triangular and LU solves, LU factorizations, solve_ex, cond,
householder_product, eig/eigvals, and the deprecated top-level lu / lu_solve / lu_unpack / triangular_solve."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp
from backprop.ops import linalg as linalg_ops

torch = pytest.importorskip("torch", reason="torch not installed: the parity checks compare against it")


def _pair(a: np.ndarray, grad: bool = True) -> tuple[bp.Tensor, torch.Tensor]:
    return bp.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _close(ours: bp.Tensor, theirs: torch.Tensor, atol: float = 1e-9) -> None:
    got, want = ours.detach().numpy(), theirs.detach().numpy()
    assert got.shape == want.shape
    assert str(got.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=atol)


def _grads_match(ours: list[bp.Tensor], theirs: list[torch.Tensor], atol: float = 1e-8) -> None:
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=atol)


def _backward(out_bp: bp.Tensor, out_t: torch.Tensor, rng: np.random.Generator) -> None:
    w = rng.standard_normal(tuple(out_t.shape))
    (out_bp * bp.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---------------------------------------------------------------- solve_triangular, triangular_solve


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [True, False])
def test_solve_triangular(rng: np.random.Generator, upper: bool, left: bool, unitriangular: bool) -> None:
    a = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal((3, 2) if left else (2, 3))  # broadcast over A's batch
    (A, tA), (B, tB) = _pair(a), _pair(b)
    out = bp.linalg.solve_triangular(A, B, upper=upper, left=left, unitriangular=unitriangular)
    want = torch.linalg.solve_triangular(tA, tB, upper=upper, left=left, unitriangular=unitriangular)
    _close(out, want)
    _backward(out, want, rng)
    _grads_match([A, B], [tA, tB])  # the untouched triangle gets zeros, as torch


def test_solve_triangular_errors_and_promotion(rng: np.random.Generator) -> None:
    a = bp.tensor(rng.standard_normal((3, 3)) + 3 * np.eye(3), dtype=bp.float32)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        bp.linalg.solve_triangular(a, bp.ones(3), upper=True)
    with pytest.raises(RuntimeError, match=r"AX = B \(3x3 and 2x1\)"):
        bp.linalg.solve_triangular(a, bp.ones(2, 1), upper=True)
    out = bp.linalg.solve_triangular(a, bp.ones(3, 1, dtype=bp.float64), upper=True)
    want = torch.linalg.solve_triangular(torch.tensor(a.numpy()), torch.ones(3, 1, dtype=torch.float64), upper=True)
    assert out.dtype == bp.float32 and want.dtype == torch.float32  # torch's result takes A's dtype
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-5)
    lu, piv = bp.linalg.lu_factor(a)
    with pytest.raises(TypeError, match="same dtype"):
        bp.linalg.lu_solve(lu, piv, bp.ones(3, 1, dtype=bp.float64))


@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("upper", [True, False])
def test_triangular_solve(rng: np.random.Generator, transpose: bool, upper: bool) -> None:
    (A, tA), (B, tB) = _pair(rng.standard_normal((3, 3)) + 3 * np.eye(3)), _pair(rng.standard_normal((3, 2)))
    x, coef = bp.triangular_solve(B, A, upper=upper, transpose=transpose)
    with warnings.catch_warnings():  # (torch's deprecation warning, once per process)
        warnings.simplefilter("ignore")
        tx, tcoef = torch.triangular_solve(tB, tA, upper=upper, transpose=transpose)
    _close(x, tx)
    _close(coef, tcoef)
    _backward(x, tx, rng)
    _grads_match([A, B], [tA, tB])
    assert B.triangular_solve(A, upper, transpose).solution.allclose(x)


# ---------------------------------------------------------------- LU


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (3, 5), (5, 3), (2, 3, 2)])
def test_lu_factor_values_and_gradients(rng: np.random.Generator, shape: tuple) -> None:
    A, tA = _pair(rng.standard_normal(shape))
    lu, piv = bp.linalg.lu_factor(A)
    tlu, tpiv = torch.linalg.lu_factor(tA)
    _close(lu, tlu)
    assert piv.dtype == bp.int32 and piv.numpy().tolist() == tpiv.numpy().tolist()
    _backward(lu, tlu, rng)
    _grads_match([A], [tA])


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (3, 5), (5, 3)])
def test_linalg_lu_and_unpack(rng: np.random.Generator, shape: tuple) -> None:
    A, tA = _pair(rng.standard_normal(shape))
    p, low, up = bp.linalg.lu(A)
    tp, tlow, tup = torch.linalg.lu(tA)
    for ours, theirs in zip((p, low, up), (tp, tlow, tup)):
        _close(ours, theirs)
    w1, w2 = rng.standard_normal(tuple(tlow.shape)), rng.standard_normal(tuple(tup.shape))
    ((low * bp.tensor(w1)).sum() + (up * bp.tensor(w2)).sum()).backward()
    ((tlow * torch.tensor(w1)).sum() + (tup * torch.tensor(w2)).sum()).backward()
    _grads_match([A], [tA])
    lu, piv = bp.linalg.lu_factor(A.detach())
    tlu, tpiv = torch.linalg.lu_factor(tA.detach())
    for ours, theirs in zip(bp.lu_unpack(lu, piv), torch.lu_unpack(tlu, tpiv)):
        _close(ours, theirs)
    p2, low2, up2 = bp.lu_unpack(lu, piv, unpack_data=False)
    assert low2.shape == (0,) and up2.shape == (0,) and p2.allclose(p)
    assert bp.lu_unpack(lu, piv, unpack_pivots=False).P.shape == (0,)


def test_lu_factor_singular(rng: np.random.Generator) -> None:
    a = np.stack([rng.standard_normal((3, 3)), np.zeros((3, 3)), [[1.0, 2, 3], [2, 4, 6], [1, 0, 1]]])
    lu, piv, info = bp.linalg.lu_factor_ex(bp.tensor(a))
    tlu, tpiv, tinfo = torch.linalg.lu_factor_ex(torch.tensor(a))
    _close(lu, tlu)
    assert info.dtype == bp.int32 and info.numpy().tolist() == tinfo.numpy().tolist() == [0, 1, 3]
    with pytest.raises(bp.linalg.LinAlgError, match=r"U\[1,1\] is zero") as err:
        bp.linalg.lu_factor(bp.zeros(3, 3))
    assert isinstance(err.value, RuntimeError)
    with pytest.raises(bp.linalg.LinAlgError):
        bp.linalg.lu_factor_ex(bp.tensor(a), check_errors=True)


def test_lu_without_pivoting_and_the_generic_kernel(rng: np.random.Generator) -> None:
    a = rng.standard_normal((2, 4, 4)) + 4 * np.eye(4)
    p, low, up = bp.linalg.lu(bp.tensor(a), pivot=False)  # (torch: CUDA only)
    assert p.shape == (0,)
    np.testing.assert_allclose((low @ up).numpy(), a, atol=1e-12)
    assert np.allclose(np.triu(low.numpy(), 1), 0) and np.allclose(np.diagonal(low.numpy(), 0, -2, -1), 1)
    x = bp.tensor(a, requires_grad=True)
    assert bp.gradcheck(lambda t: bp.linalg.lu_factor(t, pivot=False).LU, [x])
    for shape in [(3, 3), (2, 3, 5), (5, 3)]:  # the batched elimination CuPy runs equals LAPACK's getrf
        b = rng.standard_normal(shape)
        lu, piv = linalg_ops._getrf_generic(np, b, True)
        want_lu, want_piv = linalg_ops._getrf_host(b)
        np.testing.assert_allclose(lu, want_lu, atol=1e-12)
        assert (piv == want_piv).all()


def test_lu_top_level_and_methods(rng: np.random.Generator) -> None:
    a, b = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 2))
    lu, piv = bp.lu(bp.tensor(a))
    with warnings.catch_warnings():  # (torch.lu is deprecated)
        warnings.simplefilter("ignore")
        tlu, tpiv = torch.lu(torch.tensor(a))
        tx = torch.lu_solve(torch.tensor(b), tlu, tpiv)
    _close(lu, tlu)
    assert piv.numpy().tolist() == tpiv.numpy().tolist()
    lu3, piv3, infos = bp.tensor(a).lu(get_infos=True)
    assert infos.numpy().tolist() == [0, 0] and lu3.allclose(lu)
    _close(bp.lu_solve(bp.tensor(b), lu, piv), tx)
    _close(bp.tensor(b).lu_solve(lu, piv), tx)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [True, False])
def test_lu_solve(rng: np.random.Generator, left: bool, adjoint: bool) -> None:
    a = rng.standard_normal((2, 3, 3))
    lu_np, piv = torch.linalg.lu_factor(torch.tensor(a))
    (LU, tLU), (B, tB) = _pair(lu_np.numpy()), _pair(rng.standard_normal((2, 3, 4) if left else (2, 4, 3)))
    pivots = bp.tensor(piv.numpy())
    out = bp.linalg.lu_solve(LU, pivots, B, left=left, adjoint=adjoint)
    want = torch.linalg.lu_solve(tLU, piv, tB, left=left, adjoint=adjoint)
    _close(out, want)
    _backward(out, want, rng)
    _grads_match([LU, B], [tLU, tB])


def test_lu_solve_gradcheck(rng: np.random.Generator) -> None:
    a = rng.standard_normal((3, 3))
    lu, piv = bp.linalg.lu_factor(bp.tensor(a))
    x = [bp.tensor(lu.numpy(), requires_grad=True), bp.tensor(rng.standard_normal((3, 2)), requires_grad=True)]
    assert bp.gradcheck(lambda m, b: bp.linalg.lu_solve(m, piv, b, adjoint=True), x)
    assert bp.gradgradcheck(lambda m, b: bp.linalg.lu_solve(m, piv, b), x)


# ---------------------------------------------------------------- solve_ex, cond, householder_product


def test_solve_ex(rng: np.random.Generator) -> None:
    a = np.stack([rng.standard_normal((3, 3)), np.zeros((3, 3))])
    b = rng.standard_normal((2, 3, 2))
    res, info = bp.linalg.solve_ex(bp.tensor(a), bp.tensor(b))
    tres, tinfo = torch.linalg.solve_ex(torch.tensor(a), torch.tensor(b))
    assert info.dtype == bp.int32 and info.numpy().tolist() == tinfo.numpy().tolist() == [0, 1]
    np.testing.assert_allclose(res.numpy()[0], tres.numpy()[0], rtol=1e-7)
    assert np.isnan(res.numpy()[1]).all()  # (torch: whatever LAPACK left, nan and inf)
    with pytest.raises(bp.linalg.LinAlgError):
        bp.linalg.solve_ex(bp.tensor(a), bp.tensor(b), check_errors=True)
    (A, tA), (B, tB) = _pair(a[0]), _pair(b[0, :, 0])
    out, want = bp.linalg.solve_ex(A, B, left=True).result, torch.linalg.solve_ex(tA, tB).result
    _close(out, want)
    _backward(out, want, rng)
    _grads_match([A, B], [tA, tB])


@pytest.mark.parametrize("p", [None, "fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2])
def test_cond(rng: np.random.Generator, p: object) -> None:
    A, tA = _pair(rng.standard_normal((2, 3, 3)))
    out, want = bp.linalg.cond(A, p), torch.linalg.cond(tA, p)
    _close(out, want, atol=1e-8)
    if p in (None, "nuc", 2, -2):  # through svdvals
        _backward(out, want, rng)
        _grads_match([A], [tA], atol=1e-6)
    else:  # through the inverse: torch 2.13's backward fails there (an in-place fill of inv_ex's output)
        assert bp.gradcheck(lambda t: bp.linalg.cond(t, p), [bp.tensor(A.detach().numpy(), requires_grad=True)])
    s = np.array([[1.0, 2], [2, 4]])  # singular: inf for the orders through the inverse, as torch
    np.testing.assert_allclose(
        bp.linalg.cond(bp.tensor(s), p).numpy(), torch.linalg.cond(torch.tensor(s), p).numpy(), rtol=1e-6
    )


def test_cond_shapes_and_errors() -> None:
    assert bp.linalg.cond(bp.zeros(2, 0, 0)).numpy().tolist() == [0.0, 0.0]
    a = np.arange(12.0).reshape(3, 4) ** 0.5
    np.testing.assert_allclose(bp.linalg.cond(bp.tensor(a)).numpy(), torch.linalg.cond(torch.tensor(a)).numpy())
    with pytest.raises(RuntimeError, match="square"):
        bp.linalg.cond(bp.tensor(a), "fro")
    with pytest.raises(ValueError, match="invalid norm type"):
        bp.linalg.cond(bp.eye(3), 3)


@pytest.mark.parametrize(("shape", "k"), [((4, 3), 2), ((2, 5, 3), 3), ((3, 3), 3)])
def test_householder_product(rng: np.random.Generator, shape: tuple, k: int) -> None:
    (A, tA), (tau, ttau) = _pair(rng.standard_normal(shape)), _pair(rng.standard_normal(shape[:-2] + (k,)))
    out, want = bp.linalg.householder_product(A, tau), torch.linalg.householder_product(tA, ttau)
    _close(out, want)
    _backward(out, want, rng)
    _grads_match([A, tau], [tA, ttau])
    assert bp.orgqr(A.detach(), tau.detach()).allclose(out.detach())


def test_householder_product_is_qr_q(rng: np.random.Generator) -> None:
    """geqrf's reflectors multiply back to Q (a closed form, without torch's householder_product)."""
    a = rng.standard_normal((5, 3))
    qr_packed, tau = torch.geqrf(torch.tensor(a))
    q = bp.linalg.householder_product(bp.tensor(qr_packed.numpy()), bp.tensor(tau.numpy())).numpy()
    np.testing.assert_allclose(q @ np.triu(qr_packed.numpy())[:3], a, atol=1e-12)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)


# ---------------------------------------------------------------- eig, eigvals


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eig(rng: np.random.Generator, dtype: str) -> None:
    a = rng.standard_normal((2, 4, 4)).astype(dtype)
    w, v = bp.linalg.eig(bp.tensor(a))
    tw, tv = torch.linalg.eig(torch.tensor(a))
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert str(w.dtype) == str(tw.dtype).replace("torch.", "") and v.dtype == w.dtype
    np.testing.assert_allclose(w.numpy(), tw.numpy(), atol=tol)
    phase = (tv.numpy().conj() * v.numpy()).sum(-2, keepdims=True)  # eigenvectors are unique up to a unit factor
    np.testing.assert_allclose(np.abs(phase), 1, atol=tol)
    np.testing.assert_allclose(v.numpy(), tv.numpy() * phase, atol=tol)
    np.testing.assert_allclose(bp.linalg.eigvals(bp.tensor(a)).numpy(), w.numpy())
    np.testing.assert_allclose(a.astype(complex) @ v.numpy(), v.numpy() * w.numpy()[..., None, :], atol=tol * 10)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_eig_gradient(rng: np.random.Generator, dtype: str) -> None:
    """Gradients of eigenvalues and of |v|^2-weighted sums (phase-invariant) as torch's, real and complex A;
    a loss that depends on the eigenvectors' phases raises torch's error."""
    a = rng.standard_normal((2, 4, 4)) + (1j * rng.standard_normal((2, 4, 4)) if dtype == "complex128" else 0)
    g = rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4))
    c = np.arange(1.0, 5.0)[:, None]

    def grads(lib):
        x = lib.tensor(a, requires_grad=True)
        w, v = lib.linalg.eig(x)
        ((w * lib.tensor(g)).real.sum() + ((v * v.conj()).real * lib.tensor(c)).sum()).backward()
        x2 = lib.tensor(a, requires_grad=True)
        lib.linalg.eigvals(x2).abs().sum().backward()
        return x.grad.numpy(), x2.grad.numpy()

    for ours, theirs in zip(grads(bp), grads(torch)):
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    x = bp.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="eigenvectors in the complex case are specified up to multiplication"):
        bp.linalg.eig(x)[1].real.sum().backward()
    with pytest.raises(RuntimeError, match="square"):
        bp.linalg.eig(bp.ones(3, 4))


@pytest.mark.parametrize(
    "args, kwargs", [((0.5,), {}), ((0.5, False), {}), ((), {"rcond": 1e-5}), ((), {"rtol": 1e-5}), ((), {"atol": 0.5})]
)
def test_pinv_rcond_overload_as_torch(args, kwargs):
    """torch.linalg.pinv(A, rcond, hermitian=False): the older overload code still calls (rtol = rcond)."""
    a = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    a[:, 2] = a[:, 1] * 1e-4  # a tiny singular value that the tolerance drops
    want = torch.linalg.pinv(torch.tensor(a), *args, **kwargs).numpy()
    got = bp.linalg.pinv(bp.tensor(a), *args, **kwargs).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(TypeError):
        bp.linalg.pinv(bp.tensor(a), 0.5, rtol=0.1)
