"""The sparse @ dense product, through scipy.sparse on the CPU and cupyx.scipy.sparse on CUDA.

``_SpMM`` is one autograd node (a ``bp.autograd.Function``): y = S D with S given by its COO entries
(``values`` at ``rows``, ``cols``). Its backward, for gy = dL/dy:
    dD = S^T gy              (the same product with the pattern transposed: a node again, so it has a
                              double backward)
    dvalues[k] = gy[rows[k]] . D[cols[k]]   (a gather and a row sum of dense Tensor ops)
so the gradient w.r.t. S is per stored entry, torch's ``sparse_mask`` of gy D^T onto S's pattern.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.custom import Function
from backprop.autograd.node_names import name_node
from backprop.sparse import _compressed, _tensor
from backprop.sparse._compressed import SparseCompressedTensor, compressed_mm
from backprop.sparse._tensor import SparseTensor, check_device
from backprop.tensor import Tensor


def _csr(device: Any, values: Any, rows: Any, cols: Any, shape: tuple[int, int]) -> Any:
    """A CSR matrix of the entries (duplicates summed) in the device's sparse library (arrays in, no copies
    beyond CSR's own); cupyx is imported only when a CUDA tensor asks for it."""
    if device.type == "cuda":  # pragma: no cover - needs a GPU (written for cupyx.scipy.sparse, not run here)
        import cupyx.scipy.sparse as sps
    else:
        import scipy.sparse as sps
    return sps.coo_matrix((values, (rows, cols)), shape=shape).tocsr()


class _SpMM(Function):
    """y = S @ D for S (n, m) as COO entries and a dense D (m, k)."""

    @staticmethod
    def forward(ctx: Any, values: Tensor, dense: Tensor, rows: Tensor, cols: Tensor, n: int) -> Tensor:
        ctx.save_for_backward(values, dense)
        ctx.pattern = (rows, cols, n)
        dev = dense.device
        s = _csr(dev, values._data, rows._data, cols._data, (n, dense.shape[0]))
        out = s @ dense._data
        return Tensor._wrap(dev.xp.asarray(out, dtype=dense.dtype), dev, None)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Any, ...]:
        values, dense = ctx.saved_tensors
        rows, cols, _ = ctx.pattern
        gv = gd = None
        if ctx.needs_input_grad[0]:
            gv = (gy[rows] * dense[cols]).sum(1)
        if ctx.needs_input_grad[1]:
            gd = _SpMM.apply(values, gy, cols, rows, dense.shape[0])
        return gv, gd, None, None, None


def mm(sparse: Any, dense: Any) -> Tensor:
    """torch's ``sparse.mm``: a sparse COO, CSR or CSC (n, m) matrix times a dense (n, m) @ (m, k) -> dense
    (n, k), differentiable w.r.t. the dense matrix and the sparse one's values (a dense matrix times a CSR/CSC
    one is a dense matrix too). Its node is torch's ``SparseAddmmBackward0`` (torch runs it as an addmm)."""
    return _named(_product(sparse, dense), sparse, "SparseAddmmBackward0")


def matrix_product(sparse: Any, dense: Any) -> Tensor:
    """``sparse @ dense`` by ``bp.mm``, ``bp.spmm``, ``Tensor.mm``/``matmul``: ``sparse.mm``'s product, its node
    torch's ``MmBackward0``."""
    return _named(_product(sparse, dense), sparse, "MmBackward0")


def _named(out: Any, sparse: Any, name: str) -> Any:
    """``out`` with its node named ``name`` where it is a sparse operand's dense product (torch's names)."""
    if isinstance(sparse, (SparseTensor, SparseCompressedTensor)) and not isinstance(out, SparseTensor):
        return name_node(out, name)
    return out


def _product(sparse: Any, dense: Any) -> Tensor:
    for k, t in enumerate((sparse, dense)):  # torch's error for a vector: its dim -2 (first) or 1 (second)
        if (
            isinstance(t, Tensor)
            and t.ndim < 2
            and (isinstance(sparse, SparseTensor) or isinstance(dense, SparseTensor))
        ):
            n = max(t.ndim, 1)
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {1 if k else -2})"
            )
    if isinstance(sparse, SparseTensor) and isinstance(dense, Tensor) and max(sparse.ndim, dense.ndim) > 2:
        raise RuntimeError(f"addmm: matrices expected, got {max(sparse.ndim, dense.ndim)}D tensor")
    if not isinstance(sparse, (SparseTensor, SparseCompressedTensor)):
        if isinstance(sparse, Tensor) and isinstance(dense, SparseCompressedTensor):
            return dense.__rmatmul__(sparse)
        if isinstance(sparse, Tensor) and isinstance(dense, Tensor) and not isinstance(dense, SparseTensor):
            return sparse.mm(dense)  # torch.sparse.mm of two dense matrices is torch.mm
        raise TypeError(f"sparse.mm: expected a sparse COO tensor first, got {type(sparse).__name__}")
    if isinstance(sparse, SparseTensor) and isinstance(dense, SparseTensor) and sparse.ndim == dense.ndim == 2:
        return _sparse_sparse(sparse, dense)
    if not isinstance(dense, Tensor) or isinstance(dense, (SparseTensor, SparseCompressedTensor)):
        raise NotImplementedError(
            f"sparse.mm: a sparse (shape {tuple(sparse.shape)}) times {type(dense).__name__} is not supported; "
            "the second operand must be a dense tensor"
        )
    if sparse.ndim != 2 or dense.ndim != 2:
        raise RuntimeError(
            f"sparse.mm: expected a 2-D sparse and a 2-D dense matrix, got shapes {tuple(sparse.shape)} and "
            f"{tuple(dense.shape)}"
        )
    if sparse.shape[1] != dense.shape[0]:  # (torch's words: COO's kernel is addmm's, CSR's the matmul check)
        if isinstance(sparse, SparseTensor):
            raise RuntimeError(
                f"addmm: Argument #3 (dense): Expected dim 0 size {sparse.shape[1]}, got {dense.shape[0]}"
            )
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({sparse.shape[0]}x{sparse.shape[1]} and "
            f"{dense.shape[0]}x{dense.shape[1]})"
        )
    if sparse.dtype != dense.dtype:
        raise RuntimeError(
            f"expected scalar type {dtypes.scalar_type_name(sparse.dtype)} but found "
            f"{dtypes.scalar_type_name(dense.dtype)}"
        )
    check_device("sparse.mm", sparse, dense)
    if isinstance(sparse, SparseCompressedTensor):
        return compressed_mm(sparse, dense)
    ix = sparse._ix
    return _SpMM.apply(sparse._vals, dense, ix[0], ix[1], sparse.shape[0])


def _sparse_sparse(a: SparseTensor, b: SparseTensor) -> SparseTensor:
    """A (n, m) @ B (m, k), both sparse COO: a coalesced sparse (n, k) matrix, entry (i, j) the sum over l of
    a[i, l] b[l, j] for every (i, j) some pair of entries reaches (zero sums kept, as torch's). Differentiable
    w.r.t. both values: the pairs' products are gathers and an ``index_add`` of Tensor ops."""
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]})"
        )
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected scalar type {dtypes.scalar_type_name(a.dtype)} but found {dtypes.scalar_type_name(b.dtype)}"
        )
    dev = check_device("sparse.mm", a, b)
    a, b = a.coalesce(), b.coalesce()
    ai, bi = np.asarray(a._ix._host()), np.asarray(b._ix._host())
    n, k = int(a.shape[0]), int(b.shape[1])
    # each entry a[i, l] meets the run of b's entries in row l (b is coalesced: sorted by row)
    starts = np.searchsorted(bi[0], ai[1], "left")
    lens = np.searchsorted(bi[0], ai[1], "right") - starts
    p = np.repeat(np.arange(ai.shape[1]), lens)
    q = np.repeat(starts, lens) + np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    keys, inverse = np.unique(ai[0][p] * k + bi[1][q], return_inverse=True)
    prod = a._vals[Tensor._of(p, device=dev)] * b._vals[Tensor._of(q, device=dev)]
    vals = prod.new_zeros(len(keys)).index_add(0, Tensor._of(inverse.reshape(-1).astype(np.int64), device=dev), prod)
    ix = Tensor._of(np.stack([keys // max(k, 1), keys % max(k, 1)]).astype(np.int64), device=dev)
    return SparseTensor._make(ix, vals, (n, k), True)


def addmm(input: Tensor, mat1: Any, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """torch's ``sparse.addmm``: ``beta * input + alpha * (mat1 @ mat2)`` with mat1 sparse."""
    prod = _product(mat1, mat2)
    prod = prod if alpha == 1 else prod * alpha
    return _named(prod + (input if beta == 1 else input * beta), mat1, "SparseAddmmBackward0")


_tensor.IMPL["mm"] = matrix_product


_compressed._sparse_mm = matrix_product  # (CSR/CSC tensors' .mm, without _compressed importing this module)
