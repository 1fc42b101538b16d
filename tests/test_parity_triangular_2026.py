"""Triangular solves as torch 2.13 computes them: BLAS trsm (the ``solve_triangular`` op), so a zero on the
diagonal gives inf/nan, small float32/float64 systems give torch's bits, and torch's errors and warning."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp
from backprop.methods import linalg as _methods

torch = pytest.importorskip("torch", reason="the parity checks compare against torch (pip install torch)")


def _pair(x: np.ndarray, grad: bool = False):
    return bp.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("upper,left,unit", [(False, True, False), (True, True, True), (False, False, False)])
def test_values_are_torch_bits(dtype, upper: bool, left: bool, unit: bool) -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((2, 8, 8)) + 8 * np.eye(8)).astype(dtype)
    b = rng.standard_normal((2, 8, 3) if left else (2, 3, 8)).astype(dtype)
    out = bp.linalg.solve_triangular(bp.tensor(a), bp.tensor(b), upper=upper, left=left, unitriangular=unit)
    want = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=upper, left=left, unitriangular=unit)
    np.testing.assert_array_equal(out.numpy(), want.numpy())


def test_singular_triangle_gives_inf_nan() -> None:
    a, b = np.array([[1.0, 0.0], [2.0, 0.0]], np.float32), np.array([[1.0], [1.0]], np.float32)
    (ba, ta), (bb, tb) = _pair(a), _pair(b)
    np.testing.assert_array_equal(
        bp.linalg.solve_triangular(ba, bb, upper=False).numpy(),
        torch.linalg.solve_triangular(ta, tb, upper=False).numpy(),
    )
    np.testing.assert_array_equal(
        bp.linalg.solve_triangular(ba, bb.mT, upper=False, left=False).numpy(),
        torch.linalg.solve_triangular(ta, tb.mT, upper=False, left=False).numpy(),
    )
    zero = np.zeros((2, 2), np.float32)
    np.testing.assert_array_equal(
        bp.linalg.solve_triangular(bp.tensor(zero), bb, upper=True).numpy(),
        torch.linalg.solve_triangular(torch.tensor(zero), tb, upper=True).numpy(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = bp.triangular_solve(bb, ba, upper=False).solution
        want = torch.triangular_solve(tb, ta, upper=False).solution
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    piv = bp.tensor(np.array([1, 2], np.int32))
    np.testing.assert_array_equal(
        bp.linalg.lu_solve(bp.tensor(a.T.copy()), piv, bb).numpy(),
        torch.linalg.lu_solve(torch.tensor(a.T.copy()), torch.tensor([1, 2], dtype=torch.int32), tb).numpy(),
    )


def test_gradients_match_torch() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal((4, 2))
    for upper, left, unit in [(False, True, False), (True, False, True), (True, True, False)]:
        (ba, ta), (bb, tb) = _pair(a, True), _pair(b if left else b.T.copy(), True)
        bp.linalg.solve_triangular(ba, bb, upper=upper, left=left, unitriangular=unit).sin().sum().backward()
        torch.linalg.solve_triangular(ta, tb, upper=upper, left=left, unitriangular=unit).sin().sum().backward()
        np.testing.assert_allclose(ba.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)
    ba = bp.tensor(a[0], requires_grad=True)
    assert bp.linalg.solve_triangular(ba, bp.tensor(b), upper=True).grad_fn.name() == "LinalgSolveTriangularBackward0"


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class and message are what is compared
        return type(e).__name__.replace("ShapeError", "RuntimeError").replace("DTypeError", "RuntimeError"), str(e)
    return None


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.linalg.solve_triangular(m.ones(2, 2, dtype=m.int32), m.ones(2, 1, dtype=m.int32), upper=False),
        lambda m: m.linalg.solve_triangular(m.ones(2, 2, dtype=m.float16), m.ones(2, 1, dtype=m.float16), upper=True),
        lambda m: m.linalg.solve_triangular(m.ones(3, 2, 2), m.ones(2, 2, 1), upper=False),
        lambda m: m.triangular_solve(m.ones(2, 1, dtype=m.float64), m.ones(2, 2)),
        lambda m: m.triangular_solve(m.ones(1, 2), m.ones(2, 2)),
        lambda m: m.triangular_solve(m.ones(2), m.ones(2, 2)),
        lambda m: m.triangular_solve(m.ones(2, 1), m.ones(2, 3)),
        lambda m: m.triangular_solve(m.ones(2, 1, dtype=m.int32), m.ones(2, 2, dtype=m.int32)),
        lambda m: m.cholesky_solve(m.ones(2, 1, dtype=m.float64), m.ones(2, 2)),
        lambda m: m.cholesky_solve(m.ones(2), m.ones(2, 2)),
        lambda m: m.cholesky_solve(m.ones(1, 2), m.eye(2)),
        lambda m: m.cholesky_solve(m.ones(2, 1, dtype=m.int32), m.ones(2, 2, dtype=m.int32)),
        lambda m: m.cholesky_inverse(m.ones(2)),
        lambda m: m.cholesky_inverse(m.ones(2, 2, dtype=m.int32)),
        lambda m: m.cholesky_inverse(m.tensor([[1.0, 0.0], [2.0, 0.0]])),
        lambda m: m.cholesky_inverse(m.stack([m.eye(2), m.tensor([[1.0, 0.0], [2.0, 0.0]])])),
    ],
)
def test_errors_match_torch(call) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, got = _error(lambda: call(torch)), _error(lambda: call(bp))
    assert want is not None and got == want


def test_triangular_solve_warns_once_as_torch() -> None:
    _methods._triangular_solve_warned.clear()
    with pytest.warns(UserWarning, match="torch.triangular_solve is deprecated") as record:
        bp.triangular_solve(bp.ones(2, 1), bp.eye(2))
    assert str(record[0].message).endswith("X = torch.linalg.solve_triangular(A, B).")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bp.triangular_solve(bp.ones(2, 1), bp.eye(2))  # (once per process)


def test_batch_broadcast_and_dtype() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 2)) + 2 * np.eye(2), rng.standard_normal((4, 2, 3))
    out = bp.linalg.solve_triangular(bp.tensor(a), bp.tensor(b, dtype=bp.float32), upper=False)
    want = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b, dtype=torch.float32), upper=False)
    assert out.dtype == bp.float64 and want.dtype == torch.float64 and tuple(out.shape) == tuple(want.shape)
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_is_potrs(dtype, upper):
    """torch's CPU cholesky_solve is LAPACK potrs (two trsm): the same bits here, values and gradients."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    factor = np.linalg.cholesky(a @ a.T + 5 * np.eye(5))
    factor = (factor.T.copy() if upper else factor).astype(dtype)
    b, w = rng.standard_normal((2, 5, 3)).astype(dtype)
    out = {}
    for lib in (torch, bp):
        f, rhs = lib.tensor(factor, requires_grad=True), lib.tensor(b, requires_grad=True)
        x = lib.cholesky_solve(rhs, f, upper)
        (x * lib.tensor(w)).sum().backward()
        out[lib.__name__] = (x.detach().numpy(), f.grad.numpy(), rhs.grad.numpy(), x.grad_fn.name())
    for got, want in zip(out["backprop"], out["torch"]):
        np.testing.assert_array_equal(got, want)


def test_cholesky_solve_singular_factor_gives_infinities():
    factor = [[1.0, 0.0], [2.0, 0.0]]
    got = bp.cholesky_solve(bp.tensor([[1.0], [1.0]]), bp.tensor(factor)).tolist()
    assert got == torch.cholesky_solve(torch.tensor([[1.0], [1.0]]), torch.tensor(factor)).tolist()
    assert got == [[math.inf], [-math.inf]]
