"""torch's top-level sparse names: ``sparse_coo_tensor``, ``sparse_csr_tensor``, ``sparse_csc_tensor``,
``sparse_compressed_tensor``, ``spmm`` and the ``sparse_coo``/``sparse_csr``/``sparse_csc``/``sparse_bsr``/
``sparse_bsc`` layouts (re-exported by ``backprop/__init__.py``; the code lives in ``backprop.sparse``)."""

from __future__ import annotations

from typing import Any

from backprop.sparse import (
    sparse_bsc,
    sparse_bsr,
    sparse_compressed_tensor,
    sparse_coo,
    sparse_coo_tensor,
    sparse_csc,
    sparse_csc_tensor,
    sparse_csr,
    sparse_csr_tensor,
)
from backprop.sparse._mm import matrix_product
from backprop.tensor import Tensor


def spmm(input: Any, mat2: Tensor) -> Tensor:
    """torch's ``spmm``: a sparse COO matrix times a dense one (``bp.sparse.mm``'s product, ``MmBackward0``)."""
    return matrix_product(input, mat2)


__all__ = [
    "sparse_bsc",
    "sparse_bsr",
    "sparse_compressed_tensor",
    "sparse_coo",
    "sparse_coo_tensor",
    "sparse_csc",
    "sparse_csc_tensor",
    "sparse_csr",
    "sparse_csr_tensor",
    "spmm",
]
