"""Making and reshaping sparse COO tensors: construction with torch's checks, coalescing, dense
conversions, sums and softmax over the stored entries. Everything differentiable is composed of
dense Tensor ops on the values (``index_add``, indexing), so gradients come from the engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.node_names import name_node
from backprop.devices import device as to_device
from backprop.registry import merge_positions
from backprop.sparse import _tensor
from backprop.sparse._tensor import SparseTensor, shape_of
from backprop.tensor import Tensor


def _host(t: Tensor) -> np.ndarray:
    """A (no-grad) int64 index tensor's data on the host."""
    return np.asarray(t.detach()._host())


def _linear(indices: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Each column of ``indices`` as its position in a C-ordered array of ``size``."""
    if indices.shape[1] == 0:
        return np.zeros(0, np.int64)
    return np.ravel_multi_index(tuple(indices), size).astype(np.int64)


def sparse_coo_tensor(
    indices: Any,
    values: Any,
    size: Any = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
    is_coalesced: bool | None = None,
) -> SparseTensor:
    """torch's ``sparse_coo_tensor``: entries ``values[k]`` at ``indices[:, k]`` of a ``size`` tensor (the
    size defaults to the largest index plus one); duplicates are kept until ``coalesce()``, which sums them."""
    if isinstance(indices, (str, bytes)):  # (torch's parser; np.asarray would read the text as a number)
        raise TypeError(f"new(): invalid data type '{type(indices).__name__}'")
    ind = indices if isinstance(indices, Tensor) else Tensor._of(np.asarray(indices, dtype=np.int64))
    val = values if isinstance(values, Tensor) else Tensor._of(values, dtype=dtype)
    if dtype is not None and val.dtype != dtypes.to_dtype(dtype):
        val = val.to(dtypes.to_dtype(dtype))
    if device is not None:
        val = val.to(to_device(device))
    if ind.ndim != 2:
        raise RuntimeError(
            f"sparse_coo_tensor: indices must be sparse_dim x nnz, but got: {list(ind.shape)} "
            "(a 2-D tensor is expected)"
        )
    if val.ndim < 1:
        raise RuntimeError("sparse_coo_tensor: values must have at least one dimension (nnz, *dense_dims)")
    if ind.shape[1] != val.shape[0]:
        raise RuntimeError(
            f"indices and values must have same nnz, but got nnz from indices: {ind.shape[1]}, "
            f"nnz from values: {val.shape[0]}"
        )
    host = _host(ind).real.astype(np.int64)  # (torch casts indices of any dtype to int64, as this)
    if host.size and host.min() < 0:
        d = int(np.argwhere(host < 0)[0][0])
        raise RuntimeError(f"found negative index {int(host[d].min())} for dim {d}")
    dense = tuple(val.shape[1:])  # (a hybrid tensor's dense dims: a row of values per index, as embedding grads)
    if size is None:
        shape = tuple(int(m) + 1 for m in host.max(axis=1)) if host.shape[1] else (0,) * host.shape[0]
        shape += dense
    else:
        shape = shape_of(size)
        if len(shape) != host.shape[0] + len(dense):
            raise RuntimeError(
                f"number of dimensions must be sparse_dim ({host.shape[0]}) + dense_dim ({len(dense)}), but got "
                f"{len(shape)}"
            )
        if shape[host.shape[0] :] != dense:
            raise RuntimeError(
                f"values has incorrect size, expected {[host.shape[1], *shape[host.shape[0] :]]}, got {list(val.shape)}"
            )
        for d, n in enumerate(shape):
            if host.shape[1] and host[d].max() >= n:
                raise RuntimeError(
                    f"size is inconsistent with indices: for dim {d}, size is {n} but found index {host[d].max()}"
                )
    ind = Tensor._of(host, device=val.device) if ind.device is not val.device or ind.dtype != np.int64 else ind.detach()
    if requires_grad:
        val = val.detach()
        val.requires_grad_(True)
    elif val.requires_grad:  # (values of a graph: the tensor is no leaf, its node torch's)
        val = name_node(val.view_as(val), "SparseCooTensorWithDimsAndTensorsBackward0")
    return SparseTensor._make(ind, val, shape, bool(is_coalesced))


def to_dense(s: SparseTensor) -> Tensor:
    """The dense tensor of ``s`` (duplicates summed), differentiable w.r.t. its values."""
    size = tuple(s.shape)
    sizes, dense = size[: s._ix.shape[0]], size[s._ix.shape[0] :]
    lin = Tensor._of(_linear(_host(s._ix), sizes), device=s.device)
    n = int(np.prod(sizes, dtype=np.int64))
    return s._vals.new_zeros(n, *dense).index_add(0, lin, s._vals).reshape(size)


def from_rows(g: Any, device: Any, into: SparseTensor | None = None) -> SparseTensor:
    """A ``SparseRows`` gradient (``F.embedding(..., sparse=True)``) as torch shows it: a hybrid COO tensor,
    indices (1, lookups), values (lookups, dim), uncoalesced. ``into``: a sparse ``.grad`` it is added to in
    place, as torch's AccumulateGrad (``grad += new``: equal index runs merged, or the lookups appended when the
    new values are not contiguous, coalesced once there are more entries than elements)."""
    ix = Tensor._wrap(g.ids.reshape(1, -1), device, None)
    new = SparseTensor._make(ix, Tensor._wrap(g.values, device, None), g.shape, False)
    if into is None:
        return new
    if g.contiguous or into.sparse_dim() != 1:
        return into._become(add(into, new, 1))
    out = _appended(into, new, 1)
    return into._become(coalesce(out) if out._nnz() > into.numel() else out)


def coalesce(s: SparseTensor) -> SparseTensor:
    """Sorted unique indices with duplicates summed; differentiable w.r.t. the values."""
    if s._coalesced:
        return s
    size = tuple(s.shape)
    sizes, dense = size[: s._ix.shape[0]], size[s._ix.shape[0] :]
    uniq, inverse = np.unique(_linear(_host(s._ix), sizes), return_inverse=True)
    inv = Tensor._of(inverse.astype(np.int64).reshape(-1), device=s.device)
    values = name_node(s._vals.new_zeros(len(uniq), *dense).index_add(0, inv, s._vals), "CoalesceBackward0")
    nd = len(sizes)
    idx = np.stack(np.unravel_index(uniq, sizes)).astype(np.int64) if nd else np.zeros((0, len(uniq)), np.int64)
    return SparseTensor._make(Tensor._of(idx.reshape(nd, -1), device=s.device), values, size, True)


def coalesce_pattern(s: SparseTensor, g: Tensor) -> SparseTensor:
    """A per-entry gradient ``g`` of ``s``'s values shown as torch shows ``s.grad``: on the coalesced
    pattern (duplicates of an index share one gradient value, so the first one stands for them)."""
    size = tuple(s.shape)
    uniq, first = np.unique(_linear(_host(s._ix), size), return_index=True)
    idx = np.stack(np.unravel_index(uniq, size)).astype(np.int64) if len(size) else np.zeros((0, len(uniq)), np.int64)
    pick = Tensor._of(first.astype(np.int64), device=s.device)
    # (torch's engine marks a leaf's accumulated sparse gradient uncoalesced: its indices need coalesce())
    return SparseTensor._make(Tensor._of(idx.reshape(len(size), -1), device=s.device), g[pick], size, False)


def from_dense(x: Tensor, sparse_dim: int | None = None) -> SparseTensor:
    """``x.to_sparse(sparse_dim)``: the non-zero entries of a dense tensor, coalesced; differentiable. With
    ``sparse_dim`` < ndim a hybrid tensor: an index per non-zero slice of the leading ``sparse_dim`` dims."""
    if isinstance(x, SparseTensor):
        return x
    k = x.ndim if sparse_dim is None else int(sparse_dim)
    if not 0 <= k <= x.ndim:
        raise RuntimeError(f"dense_to_sparse: sparse_dim argument must be in [0,{x.ndim}] range, but {k} is given")
    if k == 0 and x.ndim:
        raise RuntimeError("dense_to_sparse: sparse_dim argument must be in >0 when self.dim()>0")
    host = np.asarray(x.detach()._host())
    nonzero = host != 0 if k == x.ndim else (host != 0).any(axis=tuple(range(k, x.ndim)))
    host = np.stack(np.nonzero(nonzero)).astype(np.int64) if x.ndim else np.zeros((0, int(nonzero)), np.int64)
    ind = Tensor._of(host, device=x.device)
    values = x[tuple(ind[d] for d in range(k))] if x.ndim else x.reshape(1)[: host.shape[1]]
    return SparseTensor._make(ind, values, tuple(x.shape), True)


def add(s: SparseTensor, other: Any, sign: int) -> SparseTensor:
    """``s + other`` (or ``-``) for two sparse tensors of one shape, as torch's CPU add: one merge pass over both
    entry lists, equal index runs summed into one entry (``merge_positions``); coalesced when both are."""
    if not isinstance(other, SparseTensor):
        raise RuntimeError(
            "add(sparse, dense) is not supported. Use add(dense, sparse) instead."
        )  # (torch's words: dense + s, or s + s.to_dense() written as dense + sparse)
    if tuple(other.shape) != tuple(s.shape):
        raise RuntimeError(
            f"add: expected sizes of 'self' and 'other' to match, but {list(s.shape)} != {list(other.shape)}"
        )
    if s._ix.shape[0] != other._ix.shape[0]:
        raise RuntimeError(
            f"add: expected 'self' and 'other' to have same density, but 'self' has {s._ix.shape[0]} sparse "
            f"dimensions while 'other' has {other._ix.shape[0]} sparse dimensions"
        )
    sizes = tuple(s.shape)[: s._ix.shape[0]]
    a, b = _host(s._ix), _host(other._ix)
    pa, pb, n = merge_positions(_linear(a, sizes), _linear(b, sizes))
    ix = np.empty((a.shape[0], n), np.int64)
    ix[:, pa], ix[:, pb] = a, b
    dense = tuple(s._vals.shape[1:])
    values = s._vals.new_zeros(n, *dense).index_add(0, Tensor._of(pa, device=s.device), s._vals)
    values = values.index_add(0, Tensor._of(pb, device=s.device), other._vals, alpha=sign)
    out = SparseTensor._make(Tensor._of(ix, device=s.device), values, tuple(s.shape), s._coalesced and other._coalesced)
    return name_node(out, "SubBackward0" if sign < 0 else "AddBackward0")


def _appended(s: SparseTensor, other: SparseTensor, sign: int) -> SparseTensor:
    """The entries of ``s`` then those of ``other`` (torch's sparse add of non-contiguous values), uncoalesced."""
    from backprop.functions import cat

    values = cat([s._vals, other._vals if sign > 0 else -other._vals])
    return SparseTensor._make(cat([s._ix, other._ix], 1), values, tuple(s.shape), False)


def _dims(name: str, dim: Any, ndim: int) -> list[int]:
    dims = [dim] if isinstance(dim, int) else list(dim)
    out = []
    for d in dims:
        if not -ndim <= d < ndim:
            raise IndexError(
                f"{name}: dim {d} is out of range for a {ndim}-D sparse tensor (expected [{-ndim}, {ndim - 1}])"
            )
        out.append(d % ndim)
    return sorted(set(out))


def sparse_sum(s: SparseTensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """torch's ``sparse.sum``: every entry (a dense 0-d tensor), or over ``dim`` (a coalesced sparse
    tensor of the remaining dimensions; a dense 0-d tensor when ``dim`` names them all), its node over
    ``dim`` torch's ``SparseSumBackward0`` (``s.sum(dim)``'s is ``SumBackward1``)."""
    out = entries_sum(s, dim, dtype)
    return out if dim is None else name_node(out, "SparseSumBackward0")


def entries_sum(s: SparseTensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """``sparse_sum``'s values (``SparseTensor.sum``: the node left to the caller to name)."""
    _tensor.IMPL["not_coo"]("sum", s)
    vals = s._vals if dtype is None else s._vals.to(dtypes.to_dtype(dtype))
    if dim is None:
        return vals.sum()
    drop = _dims("sparse.sum", dim, s.ndim)
    keep = [d for d in range(s.ndim) if d not in drop]
    if not keep:
        return vals.sum()
    size = tuple(s.shape[d] for d in keep)
    reduced = SparseTensor._make(s._ix[keep], vals, size, False)
    return coalesce(reduced)


def _groups(s: SparseTensor, dim: int) -> tuple[Tensor, int]:
    """For each stored entry, the number of its slice along ``dim`` (entries sharing the other indices)."""
    keep = [d for d in range(s.ndim) if d != dim]
    host = _host(s._ix)[keep]
    lin = _linear(host, tuple(s.shape[d] for d in keep)) if keep else np.zeros(host.shape[1], np.int64)
    uniq, inverse = np.unique(lin, return_inverse=True)
    return Tensor._of(inverse.astype(np.int64).reshape(-1), device=s.device), len(uniq)


def _softmax_parts(s: SparseTensor, dim: int, name: str) -> tuple[SparseTensor, Tensor, Tensor, Tensor]:
    _tensor.IMPL["not_coo"](name.removeprefix("sparse."), s)
    (d,) = _dims(name, dim, s.ndim)
    c = coalesce(s)
    group, n = _groups(c, d)
    v = c._vals
    # subtract each slice's largest entry first (no overflow in exp; the result does not change)
    peak = np.full(n, -np.inf, dtype=np.float64)
    np.maximum.at(peak, _host(group), np.asarray(v.detach()._host(), dtype=np.float64))
    shifted = v - Tensor._of(peak.astype(v.dtype), device=v.device)[group]
    total = v.new_zeros(n).index_add(0, group, shifted.exp())
    return c, group, shifted, total


def softmax(s: SparseTensor, dim: int, dtype: Any = None) -> SparseTensor:
    """torch's ``sparse.softmax``: softmax over the stored entries of each slice along ``dim`` (missing
    entries count as -inf, so they stay missing); the result has the coalesced pattern of ``s``."""
    if dtype is not None:
        s = s.to(dtypes.to_dtype(dtype))
    c, group, shifted, total = _softmax_parts(s, dim, "sparse.softmax")
    return name_node(c._like(shifted.exp() / total[group]), "SparseSoftmaxBackward0")


def log_softmax(s: SparseTensor, dim: int, dtype: Any = None) -> SparseTensor:
    """torch's ``sparse.log_softmax`` over the stored entries of each slice along ``dim``."""
    if dtype is not None:
        s = s.to(dtypes.to_dtype(dtype))
    c, group, shifted, total = _softmax_parts(s, dim, "sparse.log_softmax")
    return name_node(c._like(shifted - total.log()[group]), "SparseLogSoftmaxBackward0")


_tensor.IMPL.update(  # (SparseTensor's methods call these: installed here, as _tensor cannot import us)
    coalesce_pattern=coalesce_pattern, to_dense=to_dense, coalesce=coalesce, add=add, sparse_sum=entries_sum
)
