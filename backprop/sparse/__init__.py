"""torch.sparse, the subset graph networks and sparse linear algebra use: COO tensors
(``bp.sparse_coo_tensor``, ``bp.sparse.mm``/``bp.spmm``, ``sum``, ``addmm``, ``softmax``/``log_softmax``, the
legacy ``bp.sparse.FloatTensor(indices, values, size)``) and CSR/CSC matrices (``bp.sparse_csr_tensor``,
``bp.sparse_csc_tensor``, ``bp.sparse_compressed_tensor``, ``x.to_sparse_csr()``, ``sampled_addmm``).

Sparse tensors are ``bp.Tensor`` subclasses (``SparseTensor``: ``layout == bp.sparse_coo``;
``SparseCompressedTensor``: ``bp.sparse_csr``/``bp.sparse_csc``); their products run through scipy.sparse
(cupyx.scipy.sparse on CUDA) and their gradients through their values.
"""

from __future__ import annotations

import warnings
from typing import Any

from backprop import dtypes
from backprop.sparse import _leftovers, _shape
from backprop.sparse._block import SparseBlockTensor, sparse_bsc_tensor, sparse_bsr_tensor, to_block
from backprop.sparse._build import coalesce, from_dense, log_softmax, softmax, sparse_coo_tensor, to_dense
from backprop.sparse._build import sparse_sum as sum  # noqa: A001 - torch's name
from backprop.sparse._compressed import (
    SparseCompressedTensor,
    check_sparse_tensor_invariants,
    sampled_addmm,
    sparse_compressed_tensor,
    sparse_csc_tensor,
    sparse_csr_tensor,
    to_compressed,
)
from backprop.sparse._leftovers import as_sparse_gradcheck, spdiags
from backprop.sparse._mm import addmm, mm
from backprop.sparse._tensor import SparseTensor, sparse_bsc, sparse_bsr, sparse_coo, sparse_csc, sparse_csr


def _legacy(name: str, dtype: Any) -> Any:
    def make(*args: Any, device: Any = None) -> SparseTensor:
        warnings.warn(
            f"torch.sparse.{name}(indices, values, shape) is deprecated; use bp.sparse_coo_tensor(indices, values, "
            "shape, dtype=...)",
            UserWarning,
            stacklevel=2,
        )
        if len(args) == 3:
            return sparse_coo_tensor(args[0], args[1], args[2], dtype=dtype, device=device)
        if len(args) == 2:
            return sparse_coo_tensor(args[0], args[1], dtype=dtype, device=device)
        raise TypeError(
            f"sparse.{name}: expected (indices, values) or (indices, values, size), got {len(args)} arguments"
        )

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"The legacy ``torch.sparse.{name}(indices, values, size)``: a {dtype} sparse COO tensor."
    return make


FloatTensor = _legacy("FloatTensor", dtypes.float32)
DoubleTensor = _legacy("DoubleTensor", dtypes.float64)
LongTensor = _legacy("LongTensor", dtypes.int64)

__all__ = [
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "SparseCompressedTensor",
    "SparseTensor",
    "addmm",
    "as_sparse_gradcheck",
    "check_sparse_tensor_invariants",
    "coalesce",
    "from_dense",
    "log_softmax",
    "mm",
    "SparseBlockTensor",
    "sampled_addmm",
    "sparse_bsc_tensor",
    "sparse_bsr_tensor",
    "spdiags",
    "softmax",
    "sparse_bsc",
    "sparse_bsr",
    "sparse_compressed_tensor",
    "sparse_coo",
    "sparse_coo_tensor",
    "sparse_csc",
    "sparse_csc_tensor",
    "sparse_csr",
    "sparse_csr_tensor",
    "sum",
    "to_dense",
]

from backprop import creation as _creation  # noqa: E402
from backprop.autograd import engine as _engine  # noqa: E402
from backprop.methods import attributes as _attributes  # noqa: E402
from backprop.sparse import _build  # noqa: E402

_attributes.TO_SPARSE[0] = from_dense  # dense.to_sparse() (the methods layer cannot import this package)
_attributes.TO_COMPRESSED[0] = to_compressed  # dense.to_sparse_csr()/to_sparse_csc()
_attributes.SPARSE_MASK[0] = _leftovers.sparse_mask  # dense.sparse_mask(sparse)
_attributes.TO_BLOCK[0] = to_block  # dense.to_sparse_bsr()/to_sparse_bsc()
_engine.SPARSE_GRAD[0] = _build.from_rows  # F.embedding(..., sparse=True)'s gradient as a sparse .grad
_engine.SPARSE_TENSOR[0] = SparseTensor  # (the class of such a .grad)
_creation.SPARSE_ZEROS[0] = _shape.zeros  # bp.zeros(..., layout=bp.sparse_coo), bp.zeros_like(s)
