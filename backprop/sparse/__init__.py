"""torch.sparse, the COO subset graph networks use: ``bp.sparse_coo_tensor``, ``bp.sparse.mm``/``bp.spmm``,
``sum``, ``addmm``, ``softmax``/``log_softmax``, and the legacy ``bp.sparse.FloatTensor(indices, values, size)``.

Sparse tensors are ``bp.Tensor`` subclasses (``SparseTensor``) with ``layout == bp.sparse_coo``; their
products run through scipy.sparse (cupyx.scipy.sparse on CUDA) and their gradients through their values.
"""

from __future__ import annotations

import warnings
from typing import Any

from backprop import dtypes
from backprop.sparse._build import coalesce, from_dense, log_softmax, softmax, sparse_coo_tensor, to_dense
from backprop.sparse._build import sparse_sum as sum  # noqa: A001 - torch's name
from backprop.sparse._mm import addmm, mm
from backprop.sparse._tensor import SparseTensor, sparse_coo


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
    "SparseTensor",
    "addmm",
    "coalesce",
    "from_dense",
    "log_softmax",
    "mm",
    "softmax",
    "sparse_coo",
    "sparse_coo_tensor",
    "sum",
    "to_dense",
]

from backprop.methods import attributes as _attributes  # noqa: E402

_attributes.TO_SPARSE[0] = from_dense  # dense.to_sparse() (the methods layer cannot import this package)
