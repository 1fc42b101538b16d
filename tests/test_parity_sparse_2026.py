"""Sparse COO tensors as GNN and recommender code uses them, against torch 2.13: value ops on the coalesced
values (``pow(-0.5)`` of degrees, ``sqrt``, ``relu``, ...) by method and by function, sparse * dense with
broadcasting, sparse * sparse, sparse @ sparse, in-place ``mul_``/``div_``/``add_``, ``dense - sparse``, a
normalised adjacency built with ``sparse.sum`` and ``pow(-0.5)``, a GCN trained through it, and torch's errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these tests compare backprop's sparse tensors against torch's")

IDX = [[0, 1, 1, 2, 0], [2, 0, 2, 1, 2]]  # (0, 2) twice: uncoalesced
VAL = [3.0, -4.0, 5.0, 6.0, 1.0]


def _coo(lib: Any, dtype: Any = None, idx: Any = IDX, val: Any = VAL, size: Any = (3, 3)) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "sparse invariant checks are implicitly disabled"
        return lib.sparse_coo_tensor(lib.tensor(idx), lib.tensor(val, dtype=dtype), size)


def _same(ours: Any, theirs: Any, flag: bool = True) -> None:
    """Layout, dtype, shape, coalesced flag (unless not ``flag``), stored entries (as torch stores them) and
    dense values."""
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.is_sparse == theirs.is_sparse
    if theirs.is_sparse:
        assert ours.is_coalesced() == theirs.is_coalesced() or not flag
        np.testing.assert_array_equal(ours._indices().numpy(), theirs._indices().numpy())
        np.testing.assert_allclose(ours._values().detach().numpy(), theirs._values().detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        ours.to_dense().detach().numpy(), theirs.to_dense().detach().numpy(), rtol=1e-6, equal_nan=True
    )


def _both(fn: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "sparse CSR tensor support is in beta state"
        theirs = fn(torch)
    _same(fn(bp), theirs)


def _raises_as_torch(fn: Any) -> None:
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value)) as ours:
        fn(bp)
    assert str(ours.value) == str(theirs.value)


def _raises_prefix_as_torch(fn: Any, words: int) -> None:
    """The same class, and torch's message's first ``words`` words (torch's tail names its build process)."""
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value)) as ours:
        fn(bp)
    assert str(ours.value).split()[:words] == str(theirs.value).split()[:words]


# ------------------------------------------------------------------ value ops on the coalesced values
@pytest.mark.parametrize(
    "name", ["sqrt", "relu", "abs", "sin", "tanh", "sign", "floor", "expm1", "log1p", "square", "neg", "trunc"]
)
def test_unary_value_ops_as_methods_and_functions(name: str) -> None:
    _both(lambda lib: getattr(_coo(lib), name)())
    _both(lambda lib: getattr(lib, name)(_coo(lib)))  # bp.sqrt(s): the sparse tensor's own sqrt


def test_sum_and_transpose_as_functions() -> None:
    _both(lambda lib: lib.sum(_coo(lib)))
    _both(lambda lib: lib.sum(_coo(lib), 1))
    _both(lambda lib: lib.sum(_coo(lib), (0, 1)))
    _both(lambda lib: lib.t(_coo(lib)))
    _both(lambda lib: lib.transpose(_coo(lib), 0, 1))


def test_relu_through_nn_functional_and_on_csr() -> None:
    _both(lambda lib: lib.nn.functional.relu(_coo(lib)))
    _both(lambda lib: lib.relu(_coo(lib).coalesce().to_sparse_csr() * -1).to_sparse())
    _both(lambda lib: lib.sqrt(_coo(lib).coalesce().to_sparse_csr()).to_sparse())


def test_pow_of_sparse_values_and_its_errors() -> None:
    _both(lambda lib: _coo(lib).pow(2))
    _both(lambda lib: _coo(lib) ** 2)
    _both(lambda lib: lib.pow(_coo(lib), 2.0))
    _both(lambda lib: _coo(lib).pow(-0.5))  # (NaN for the negative entry, as torch's)
    _both(lambda lib: _coo(lib, lib.int64).pow(2))
    _both(lambda lib: lib.sqrt(_coo(lib, lib.int64)))  # an integer tensor's sqrt is float32
    _raises_as_torch(lambda lib: _coo(lib).pow(0))
    _raises_as_torch(lambda lib: _coo(lib, lib.int64).pow(2.5))
    _raises_prefix_as_torch(lambda lib: _coo(lib).pow(lib.tensor(2.0)), 10)
    _raises_prefix_as_torch(lambda lib: lib.exp(_coo(lib)), 10)


def test_inplace_value_ops() -> None:
    def mul_(lib: Any, coalesce: bool) -> Any:
        s = _coo(lib).coalesce() if coalesce else _coo(lib)
        assert s.mul_(3) is s
        return s  # (torch marks a coalesced tensor uncoalesced after mul_)

    for coalesce in (False, True):
        _both(lambda lib, c=coalesce: mul_(lib, c))
    _both(lambda lib: _coo(lib).coalesce().div_(2.0))
    _both(lambda lib: _coo(lib).coalesce().sqrt_())
    _both(lambda lib: _coo(lib).coalesce().relu_())
    _both(lambda lib: _coo(lib).neg_())
    _both(lambda lib: _coo(lib).zero_())
    _both(lambda lib: _coo(lib).mul_(lib.arange(3.0)))
    _raises_as_torch(lambda lib: _coo(lib).sqrt_())  # "sqrt_ requires coalesced input"
    _raises_as_torch(lambda lib: _coo(lib).abs_())


def test_add_sub_inplace_and_dense_minus_sparse() -> None:
    _both(lambda lib: _coo(lib).coalesce().add_(_coo(lib, idx=[[0], [0]], val=[1.0]).coalesce()))
    _both(lambda lib: _coo(lib).coalesce().sub_(_coo(lib).coalesce(), alpha=2))
    _both(lambda lib: lib.arange(9.0).reshape(3, 3) - _coo(lib))
    _raises_as_torch(lambda lib: 1 - _coo(lib))
    _raises_as_torch(lambda lib: _coo(lib) + lib.ones(3, 3))
    _raises_as_torch(lambda lib: _coo(lib) + 1)
    _raises_as_torch(lambda lib: _coo(lib) + _coo(lib, size=(3, 4)))


# ------------------------------------------------------------------ sparse * dense, sparse * sparse, division
@pytest.mark.parametrize("shape", [(3, 3), (3,), (3, 1), (1, 3), (1, 1)])
def test_sparse_times_dense_broadcast(shape: tuple[int, ...]) -> None:
    def dense(lib: Any) -> Any:
        return lib.arange(float(max(1, int(np.prod(shape))))).reshape(shape) + 1

    _both(lambda lib: _coo(lib) * dense(lib))
    _both(lambda lib: dense(lib) * _coo(lib))
    _both(lambda lib: _coo(lib).coalesce() * dense(lib))
    _both(lambda lib: lib.mul(_coo(lib), dense(lib)))


def test_sparse_times_dense_dtypes_and_errors() -> None:
    _both(lambda lib: _coo(lib) * lib.ones(3, 3, dtype=lib.float64))
    _both(lambda lib: _coo(lib, lib.int64) * lib.ones(3, 3))
    _both(lambda lib: _coo(lib) * lib.tensor(2.0, dtype=lib.float64))  # a 0-d tensor does not promote
    _raises_as_torch(lambda lib: _coo(lib) * lib.ones(4, 4))
    _raises_as_torch(lambda lib: _coo(lib) * lib.ones(3, 2))
    _raises_as_torch(lambda lib: _coo(lib) / lib.ones(3, 3))


def test_sparse_times_sparse_and_division() -> None:
    _both(lambda lib: _coo(lib) * _coo(lib))
    _both(lambda lib: _coo(lib).coalesce() * _coo(lib).coalesce())
    _both(lambda lib: _coo(lib).coalesce() * _coo(lib, idx=[[0, 2], [2, 2]], val=[2.0, 5.0]).coalesce())
    _both(lambda lib: _coo(lib) / 2)
    _both(lambda lib: _coo(lib, lib.int64) / 2)
    _both(lambda lib: _coo(lib).div(2, rounding_mode="floor"))
    _both(lambda lib: _coo(lib) // 2)


def test_gradients_of_sparse_times_dense() -> None:
    grads = []
    for lib in (bp, torch):
        s = _coo(lib).coalesce().requires_grad_()
        d = lib.arange(9.0).reshape(3, 3).requires_grad_()
        lib.sparse.sum((s * d).pow(2)).backward()
        grads.append((s.grad, d.grad.to_dense()))  # (torch's d.grad is sparse: ours dense, README)
    _same(grads[0][0], grads[1][0], flag=False)  # (torch's sparse gradient is marked uncoalesced)
    np.testing.assert_allclose(grads[0][1].numpy(), grads[1][1].numpy())


# ------------------------------------------------------------------ products
def test_sparse_sparse_mm_values_and_gradients() -> None:
    _both(lambda lib: lib.sparse.mm(_coo(lib), _coo(lib)))
    _both(lambda lib: _coo(lib) @ _coo(lib).t())
    _raises_as_torch(lambda lib: lib.sparse.mm(_coo(lib), _coo(lib, size=(4, 4))))
    grads = []
    for lib in (bp, torch):
        a = _coo(lib).coalesce().requires_grad_()
        b = (_coo(lib) * 2).coalesce().requires_grad_()
        lib.sparse.sum(lib.sparse.mm(a, b)).backward()
        grads.append((a.grad, b.grad))
    _same(grads[0][0], grads[1][0], flag=False)
    _same(grads[0][1], grads[1][1], flag=False)


def test_mm_errors_are_torchs() -> None:
    _raises_as_torch(lambda lib: lib.sparse.mm(_coo(lib), lib.ones(4, 2)))
    _raises_as_torch(lambda lib: _coo(lib) @ lib.ones(4, 2))
    _raises_as_torch(lambda lib: lib.sparse.mm(_coo(lib), lib.ones(3, 2, dtype=lib.float64)))
    _raises_as_torch(lambda lib: _coo(lib).double() @ lib.ones(3, 2))
    _raises_as_torch(lambda lib: _coo(lib).coalesce().to_sparse_csr() @ lib.ones(3, 2, dtype=lib.float64))


# ------------------------------------------------------------------ a normalised adjacency and a GCN
EDGES = [[0, 1, 1, 2, 2, 3, 3, 4, 0, 4], [1, 0, 2, 1, 3, 2, 4, 3, 4, 0]]


def _normalised(lib: Any, sparse_deg: bool) -> Any:
    """D^-1/2 (A + I) D^-1/2 with the degrees from ``sparse.sum`` (kept sparse, or dense) and ``pow(-0.5)``."""
    n = 5
    loops = [list(range(n)), list(range(n))]
    idx = [EDGES[0] + loops[0], EDGES[1] + loops[1]]
    a = _coo(lib, idx=idx, val=[1.0] * len(idx[0]), size=(n, n)).coalesce()
    deg = lib.sparse.sum(a, 1)
    dinv = deg.pow(-0.5).to_dense() if sparse_deg else deg.to_dense().pow(-0.5)
    return (a * dinv.reshape(n, 1)) * dinv  # row then column scaling: sparse * dense, twice


@pytest.mark.parametrize("sparse_deg", [True, False])
def test_normalised_adjacency(sparse_deg: bool) -> None:
    _both(lambda lib: _normalised(lib, sparse_deg))


def test_gcn_trained_through_sparse_ops_matches_torch() -> None:
    rng = np.random.default_rng(0)
    x0, w1, w2 = rng.standard_normal((5, 4)), rng.standard_normal((4, 8)) * 0.5, rng.standard_normal((8, 3)) * 0.5
    target = [0, 1, 2, 1, 0]
    runs = []
    for lib in (bp, torch):
        adj = _normalised(lib, True)
        x = lib.tensor(x0, dtype=lib.float32)
        p1 = lib.tensor(w1, dtype=lib.float32, requires_grad=True)
        p2 = lib.tensor(w2, dtype=lib.float32, requires_grad=True)
        opt = lib.optim.SGD([p1, p2], lr=0.5)
        losses = []
        for _ in range(4):
            opt.zero_grad()
            h = lib.relu(lib.sparse.mm(adj, x @ p1))
            out = adj @ (h @ p2)
            loss = lib.nn.functional.cross_entropy(out, lib.tensor(target))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        runs.append((losses, p1.grad.numpy(), p2.detach().numpy()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-4, atol=1e-6)
