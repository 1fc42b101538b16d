"""torch's top-level sparse names: ``sparse_coo_tensor``, ``spmm`` and the ``sparse_coo`` layout
(re-exported by ``backprop/__init__.py``; the code lives in ``backprop.sparse``)."""

from __future__ import annotations

from typing import Any

from backprop.sparse import mm, sparse_coo, sparse_coo_tensor
from backprop.tensor import Tensor


def spmm(input: Any, mat2: Tensor) -> Tensor:
    """torch's ``spmm``: a sparse COO matrix times a dense one (``bp.sparse.mm``)."""
    return mm(input, mat2)


__all__ = ["sparse_coo", "sparse_coo_tensor", "spmm"]
