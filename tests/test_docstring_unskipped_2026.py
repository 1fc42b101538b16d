"""Regressions found by running torch's docstring examples that the probes used to skip (sparse layouts,
``torch.empty``, devices, generators): ``Tensor.dim_order``, ``sparse_coo_tensor``'s index dtypes, ``to_sparse``'s
``blocksize`` refusals and sparse ``type()`` strings, each against torch 2.13 and in closed form."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: these checks compare against it")


def _outcome(lib: Any, f: Callable[[Any], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return f(lib)
        except Exception as e:  # noqa: BLE001 - the class and message are what is compared
            return (type(e).__name__, str(e))


# ---------------------------------------------------------------------------------------------- dim_order

_DIM_ORDER = {
    "contiguous": lambda L: L.zeros(2, 3, 5, 7).dim_order(),
    "transposed": lambda L: L.zeros(2, 3, 5, 7).transpose(0, -1).dim_order(),
    "permuted": lambda L: L.zeros(4, 3, 2).permute(1, 2, 0).dim_order(),
    "singleton": lambda L: L.zeros(1, 2, 3, 4).dim_order(),
    "singleton transposed": lambda L: L.zeros(2, 1, 3).transpose(0, -1).dim_order(),
    "expanded": lambda L: L.zeros(4, 1, 3).expand(4, 5, 3).dim_order(),
    "expanded column": lambda L: L.zeros(3, 1).expand(3, 4).dim_order(),
    "sliced": lambda L: L.zeros(3, 3)[::2, ::2].dim_order(),
    "check singleton": lambda L: L.zeros(1, 2, 3, 4).dim_order(ambiguity_check=True),
    "check unique": lambda L: L.zeros(2, 3, 4).permute(2, 0, 1).dim_order(ambiguity_check=True),
    "check formats": lambda L: L.zeros(1, 2, 3, 4).dim_order(ambiguity_check=[L.contiguous_format, L.channels_last]),
    "check one format": lambda L: L.zeros(2, 2).dim_order(ambiguity_check=[L.contiguous_format]),
    "check no format": lambda L: L.zeros(2, 2).dim_order(ambiguity_check=[]),
    "check a string": lambda L: L.zeros(2, 3).dim_order(ambiguity_check="ILLEGAL"),
    "check a list of ints": lambda L: L.zeros(2, 3).dim_order(ambiguity_check=[1]),
    "sparse": lambda L: L.zeros(2, 2).to_sparse().dim_order(),
}


def test_dim_order_as_torch() -> None:
    # torch's stride sort (equal strides: the longer dim outside; a size-1 dim anywhere) and its argument checks
    differ = {k: (_outcome(bp, f), _outcome(torch, f)) for k, f in _DIM_ORDER.items()}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}


def test_dim_order_closed_form() -> None:
    # outermost to innermost in memory: a permute's inverse order
    assert bp.zeros(4, 3, 2).permute(1, 2, 0).dim_order() == (2, 0, 1)
    # a size-1 dim (any position is legal) is ambiguous, unless one memory format names the order
    with pytest.raises(RuntimeError, match="unique dim order, or cannot map to exact one"):
        bp.zeros(1, 2, 3, 4).dim_order(ambiguity_check=True)
    assert bp.zeros(1, 2, 3, 4).dim_order(ambiguity_check=[bp.contiguous_format, bp.channels_last]) == (0, 1, 2, 3)
    with pytest.raises(TypeError, match="must be a bool or a list of memory formats"):
        bp.zeros(2).dim_order(ambiguity_check="ILLEGAL")


# ---------------------------------------------------------------------------------------------- sparse


@pytest.mark.parametrize("dtype", ["float32", "float64", "bool", "complex64"])
def test_sparse_coo_tensor_casts_indices_as_torch(dtype: str) -> None:
    def f(L: Any) -> Any:
        i = L.tensor([[0, 1, 1], [1, 0, 1]], dtype=getattr(L, dtype))
        s = L.sparse_coo_tensor(i, L.tensor([1.0, 2.0, 3.0]), (2, 2)).coalesce()
        return str(s.indices().dtype).removeprefix("torch."), s.indices().tolist(), s.to_dense().tolist()

    assert _outcome(bp, f) == _outcome(torch, f)


def test_sparse_coo_tensor_of_empty_float_indices() -> None:
    # torch.sparse_coo_tensor's docstring: an empty tensor's (float32) indices make an empty sparse tensor
    for L in (torch, bp):
        s = L.sparse_coo_tensor(L.empty([1, 0]), [], [1])
        dtype = str(s.coalesce().indices().dtype).removeprefix("torch.")
        assert (tuple(s.shape), s._nnz(), dtype) == ((1,), 0, "int64")
    s = bp.sparse_coo_tensor(bp.tensor([[0.9, 2.0]]), bp.tensor([5.0, 7.0]), [3])
    assert s.to_dense().tolist() == [5.0, 0.0, 7.0]  # (indices truncate, as torch's cast to int64)


_TO_SPARSE = {
    f"{layout} {kw}": (layout, kw)
    for layout in ("sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc")
    for kw in ("blocksize", "none")
}


def test_to_sparse_blocksize_as_torch() -> None:
    # a block layout needs a blocksize, the others refuse one (torch's RuntimeError and text)
    def f(layout: str, kw: str) -> Callable[[Any], Any]:
        def run(L: Any) -> Any:
            x = L.tensor([[1, 0], [0, 0], [2, 3]])
            s = x.to_sparse(layout=getattr(L, layout), **({"blocksize": (1, 2)} if kw == "blocksize" else {}))
            return str(s.layout).removeprefix("torch."), s.to_dense().tolist()

        return run

    differ = {k: (_outcome(bp, f(*v)), _outcome(torch, f(*v))) for k, v in _TO_SPARSE.items()}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}


@pytest.mark.parametrize("layout", ["sparse_coo", "sparse_csr", "sparse_csc"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "float64"])
def test_type_string_of_sparse_tensors_as_torch(layout: str, dtype: str) -> None:
    def f(L: Any) -> Any:
        x = L.eye(2, dtype=getattr(L, dtype))
        return x.to_sparse(layout=getattr(L, layout)).type()

    assert _outcome(bp, f) == _outcome(torch, f)


def test_type_string_closed_form() -> None:
    assert bp.eye(2).to_sparse().type() == "torch.sparse.FloatTensor"
    with pytest.raises(RuntimeError, match="Unimplemented backend SparseCsrCPU"):
        bp.eye(2).to_sparse_csr().type()
