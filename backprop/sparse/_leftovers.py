"""torch's smaller sparse names: ``bp.sparse.spdiags``, ``Tensor.sparse_mask`` and the top-level
``crow_indices_copy``/``col_indices_copy``/``ccol_indices_copy``/``row_indices_copy``/``values_copy``/
``indices_copy`` (copies of a sparse tensor's parts; torch's CPU build refuses ``values_copy``/``indices_copy``
of a COO tensor, and so does this one)."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.sparse._build import sparse_coo_tensor
from backprop.sparse._compressed import SparseCompressedTensor, sparse_csc_tensor, sparse_csr_tensor
from backprop.sparse._tensor import SparseTensor
from backprop.tensor import Tensor

__all__ = [
    "as_sparse_gradcheck",
    "ccol_indices_copy",
    "col_indices_copy",
    "crow_indices_copy",
    "indices_copy",
    "row_indices_copy",
    "sparse_mask",
    "spdiags",
    "values_copy",
]


def _no_coo_kernel(name: str) -> NotImplementedError:
    return NotImplementedError(
        f"Could not run 'aten::{name}' with arguments from the 'SparseCPU' backend. This could be because the "
        "operator doesn't exist for this backend"
    )


def _copy_of(name: str, t: Any) -> Tensor:
    if isinstance(t, SparseTensor):
        raise _no_coo_kernel(f"{name}_copy")
    part: Tensor = getattr(t, name)()
    return part.clone()


def crow_indices_copy(input: Tensor) -> Tensor:
    """A copy of a CSR tensor's row offsets (torch.crow_indices_copy)."""
    return _copy_of("crow_indices", input)


def col_indices_copy(input: Tensor) -> Tensor:
    """A copy of a CSR tensor's column indices (torch.col_indices_copy)."""
    return _copy_of("col_indices", input)


def ccol_indices_copy(input: Tensor) -> Tensor:
    """A copy of a CSC tensor's column offsets (torch.ccol_indices_copy)."""
    return _copy_of("ccol_indices", input)


def row_indices_copy(input: Tensor) -> Tensor:
    """A copy of a CSC tensor's row indices (torch.row_indices_copy)."""
    return _copy_of("row_indices", input)


def values_copy(input: Tensor) -> Tensor:
    """A copy of a compressed sparse tensor's values (torch.values_copy; a COO tensor is refused, as torch's)."""
    return _copy_of("values", input)


def indices_copy(input: Tensor) -> Tensor:
    """torch.indices_copy: refused for COO tensors, as torch's CPU build does."""
    return _copy_of("indices", input)


def sparse_mask(self: Tensor, mask: Any) -> Tensor:
    """``self.sparse_mask(mask)``: ``self``'s values at the stored entries of the sparse ``mask`` (COO: its
    indices as they are, coalesced or not; CSR/CSC: its pattern), as a sparse tensor of ``mask``'s layout and
    ``self``'s dtype; differentiable w.r.t. ``self`` (through indexing)."""
    if not isinstance(mask, (SparseTensor, SparseCompressedTensor)):
        raise NotImplementedError(
            "Could not run 'aten::sparse_mask' with arguments from the 'CPU' backend. This could be because the "
            "operator doesn't exist for this backend"
        )
    if tuple(self.shape) != tuple(mask.shape):
        raise RuntimeError(
            f"sparse_mask(): operands have incompatible sizes; self has size {list(self.shape)} but mask has size "
            f"{list(mask.shape)}"
        )
    if isinstance(mask, SparseTensor):
        idx = mask._indices()
        vals = self[tuple(idx[i] for i in range(idx.shape[0]))]
        return sparse_coo_tensor(idx, vals, tuple(self.shape), is_coalesced=mask.is_coalesced())
    csr = mask.layout is not None and getattr(mask.layout, "name", str(mask.layout)).endswith("csr")
    offsets = mask.crow_indices() if csr else mask.ccol_indices()
    inner = mask.col_indices() if csr else mask.row_indices()
    outer = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets.numpy()))
    outer_t = Tensor._of(outer.astype(np.int64))
    vals = self[outer_t, inner] if csr else self[inner, outer_t]
    make = sparse_csr_tensor if csr else sparse_csc_tensor
    return make(offsets.clone(), inner.clone(), vals, tuple(self.shape))


def spdiags(diagonals: Tensor, offsets: Tensor, shape: Any, layout: Any = None) -> Tensor:
    """torch.sparse.spdiags: a sparse (m, n) matrix whose diagonal ``offsets[k]`` holds ``diagonals[k, j]`` in
    column j (scipy's convention); COO by default, CSR or CSC with ``layout``."""
    name = "sparse_coo" if layout is None else getattr(layout, "name", str(layout))
    words = {"sparse_coo": "Sparse", "sparse_csr": "SparseCsr", "sparse_csc": "SparseCsc"}
    if name not in words:
        word = {"strided": "Strided", "sparse_bsr": "SparseBsr", "sparse_bsc": "SparseBsc"}.get(name, name)
        raise RuntimeError(f"Only output layouts (Sparse, SparseCsc, SparseCsr) are supported, got {word}")
    if not isinstance(offsets, Tensor):
        raise TypeError(f"spdiags(): argument 'offsets' (position 2) must be Tensor, not {type(offsets).__name__}")
    diag = diagonals if diagonals.dim() == 2 else diagonals.reshape(1, -1)
    offs = offsets.reshape(-1).numpy().astype(np.int64)
    if diag.shape[0] != offs.shape[0]:
        raise RuntimeError(
            f"Number of diagonals ({diag.shape[0]}) does not match the number of offsets ({offs.shape[0]})"
        )
    if len(np.unique(offs)) != len(offs):
        raise RuntimeError("Offset tensor contains duplicate values")
    m, n = (int(s) for s in shape)
    rows, cols, which = [], [], []
    for k, o in enumerate(offs.tolist()):
        j = np.arange(max(0, o), min(n, m + o, diag.shape[1]))
        rows.append(j - o)
        cols.append(j)
        which.append(np.full(j.shape, k))
    r, c, w = (np.concatenate(a).astype(np.int64) for a in (rows, cols, which))
    vals = diag[Tensor._of(w), Tensor._of(c)]
    coo = sparse_coo_tensor(Tensor._of(np.stack([r, c])), vals, (m, n))
    if name == "sparse_coo":
        return coo
    return coo.coalesce().to_sparse_csr() if name == "sparse_csr" else coo.coalesce().to_sparse_csc()


def as_sparse_gradcheck(gradcheck: Any) -> Any:
    """torch's ``sparse.as_sparse_gradcheck``: ``gradcheck`` (or ``gradgradcheck``) for functions of sparse
    tensors: a sparse input that requires grad is checked through its values, a sparse output through its
    dense form."""

    def gradcheck_with_sparse_support(func: Any, inputs: Any, **kwargs: Any) -> Any:
        inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        sparse = (SparseTensor, SparseCompressedTensor)
        flat = [
            _vals_of(x).detach().requires_grad_() if isinstance(x, sparse) and x.requires_grad else x for x in inputs
        ]

        def on_values(*args: Any) -> Any:
            rebuilt = [x._like(v) if isinstance(x, sparse) and x.requires_grad else v for x, v in zip(inputs, args)]
            out = func(*rebuilt)
            outs = out if isinstance(out, tuple) else (out,)
            dense = tuple(o.to_dense() if isinstance(o, sparse) else o for o in outs)
            return dense if isinstance(out, tuple) else dense[0]

        return gradcheck(on_values, tuple(flat), **kwargs)

    return gradcheck_with_sparse_support


def _vals_of(x: Any) -> Tensor:
    return x._values() if isinstance(x, SparseTensor) else x.values()
