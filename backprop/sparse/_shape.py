"""Indexing and reshaping sparse COO tensors as torch does: ``s[i]``/``s[:, j]``/``select`` (a sparse tensor
one dim smaller; a 0-d dense one at a full index), ``narrow_copy``, ``unsqueeze``, ``cat``/``stack`` and the
empty sparse tensors of ``bp.zeros(..., layout=bp.sparse_coo)``/``zeros_like(s)``. Entries keep their order;
values are gathered with dense Tensor ops, so gradients reach the input's values through the engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import dtypes, functions
from backprop.creation import no_sparse_kernel as _no_kernel
from backprop.devices import device as to_device
from backprop.sparse import _tensor
from backprop.sparse._compressed import sparse_csc_tensor, sparse_csr_tensor
from backprop.sparse._tensor import SparseTensor
from backprop.tensor import Tensor


def _wrap(dim: int, n: int) -> int:
    if not -n <= dim < n:
        lo, hi = (-n, n - 1) if n else (-1, 0)
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % n


def _host(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach()._host())


def _entries(s: SparseTensor, keep: np.ndarray, ix: np.ndarray, size: Sequence[int], coalesced: bool) -> SparseTensor:
    """The entries ``keep`` (positions) of ``s`` with indices ``ix``; values gathered (differentiable)."""
    dev = s._vals.device
    values = s._vals[Tensor._of(keep.astype(np.int64), device=dev)]
    return SparseTensor._make(Tensor._of(ix.astype(np.int64), device=dev), values, tuple(size), coalesced)


def select(s: SparseTensor, dim: int, index: int) -> Tensor:
    """``s.select(dim, index)``: the entries at ``index`` of ``dim`` without that dim (torch marks the result
    uncoalesced); a 1-D ``s`` gives the 0-d dense sum of its entries there."""
    if s.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap(dim, s.ndim)
    n = s.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(s.shape)} at dimension {d}")
    ix = _host(s._ix)
    keep = np.flatnonzero(ix[d] == index % n)
    if s.ndim == 1:
        return s._vals[Tensor._of(keep.astype(np.int64), device=s._vals.device)].sum()
    size = [m for k, m in enumerate(s.shape) if k != d]
    return _entries(s, keep, np.delete(ix[:, keep], d, axis=0), size, False)


def getitem(s: SparseTensor, index: Any) -> Tensor:
    """``s[i]``, ``s[:, j]``, ``s[..., j]``, ``s[i, j]``, ``s[None]``: integers and full slices, as torch's
    sparse ``select``/``unsqueeze``; a bounded slice is a strided view, which torch's sparse backend refuses."""
    if isinstance(index, slice):  # (torch's s[:] and s[1:3] are strided views its sparse backend lacks)
        raise _no_kernel("as_strided")
    items = list(index) if isinstance(index, tuple) else [index]
    if sum(it is Ellipsis for it in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in items:
        k = items.index(Ellipsis)
        used = sum(it is not None for it in items) - 1
        items[k : k + 1] = [slice(None)] * (s.ndim - used)
    for it in items:
        if isinstance(it, bool) or not (it is None or isinstance(it, (int, np.integer, slice))):
            if isinstance(it, Tensor) and it.ndim == 0 and it.dtype.kind in "iu":
                continue
            raise _no_kernel("index.Tensor" if isinstance(it, Tensor) else "fill_.Scalar")
        if isinstance(it, slice) and it != slice(None):
            raise _no_kernel("as_strided")
    if sum(it is not None for it in items) > s.ndim:
        raise IndexError(f"too many indices for tensor of dimension {s.ndim}")
    out: Tensor = s
    d = 0
    for it in items:
        if it is None:
            out = out.unsqueeze(d)
            d += 1
        elif isinstance(it, slice):
            d += 1
        else:
            i, n = int(it), out.shape[d]
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {n}")
            out = out.select(d, i)
    return out


def narrow_copy(s: SparseTensor, dim: int, start: int, length: int) -> SparseTensor:
    """``s.narrow_copy(dim, start, length)``: the entries in ``[start, start + length)`` of ``dim``, shifted."""
    d = _wrap(dim, s.ndim)
    n = s.shape[d]
    if start < 0 or length < 0 or start + length > n:
        raise RuntimeError(f"Invalid range to narrow. range(start, start+length) must be a subset of range(0, {n}).")
    ix = _host(s._ix)
    keep = np.flatnonzero((ix[d] >= start) & (ix[d] < start + length))
    new_ix = ix[:, keep]
    new_ix[d] -= start
    size = list(s.shape)
    size[d] = length
    out = _entries(s, keep, new_ix, size, s.is_coalesced())
    out._coalesced = s.is_coalesced()  # (torch keeps the input's flag, even with fewer than two entries)
    return out


def unsqueeze(s: SparseTensor, dim: int) -> SparseTensor:
    """``s.unsqueeze(dim)``: a row of zeros joins the indices (torch marks the result uncoalesced)."""
    d = _wrap(dim, s.ndim + 1)
    ix = np.insert(_host(s._ix), d, 0, axis=0)
    size = list(s.shape)
    size.insert(d, 1)
    return SparseTensor._make(Tensor._of(ix, device=s._vals.device), s._vals, tuple(size), False)


def cat(tensors: Sequence[Any], dim: int) -> SparseTensor:
    """``bp.cat`` of sparse COO tensors: the entry lists one after another, each shifted along ``dim``."""
    for i, t in enumerate(tensors):
        if not isinstance(t, SparseTensor):
            raise RuntimeError(f"Concatenating sparse tensors, but a dense tensor was found at position {i}.")
    first = tensors[0]
    d = _wrap(dim, first.ndim)
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != d):
            raise RuntimeError(
                f"All tensors must have the same shape: {list(first.shape)} (except in the concatenating "
                f"dimension), but found shape: {list(t.shape)} at position {i}."
            )
    parts, offset = [], 0
    for t in tensors:
        ix = _host(t._ix).copy()
        ix[d] += offset
        parts.append(ix)
        offset += t.shape[d]
    size = list(first.shape)
    size[d] = offset
    values = functions.cat([t._vals for t in tensors]) if len(tensors) > 1 else first._vals
    ix = np.concatenate(parts, axis=1)
    return SparseTensor._make(Tensor._of(ix, device=first._vals.device), values, tuple(size), False)


def stack(tensors: Sequence[Any], dim: int) -> SparseTensor:
    """``bp.stack`` of sparse COO tensors: ``cat`` of each one unsqueezed at ``dim``."""
    d = _wrap(dim, tensors[0].ndim + 1)
    for i, t in enumerate(tensors[1:], 1):
        if tuple(t.shape) != tuple(tensors[0].shape):
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    return cat([unsqueeze(t, d) for t in tensors], d)


def zeros(size: Sequence[int], layout: Any, dtype: Any, device: Any, requires_grad: bool, name: str = "zeros") -> Any:
    """An all-zero sparse tensor of ``layout`` (no entries): torch's ``zeros``/``empty`` with ``layout=``."""
    shape = tuple(int(n) for n in size)
    dev = to_device(device) if device is not None else None
    values = Tensor._of(np.zeros(0, dtypes.to_dtype(dtype) or dtypes.get_default_dtype()), device=dev)
    if getattr(layout, "name", layout) == "sparse_coo":
        ix = Tensor._of(np.zeros((len(shape), 0), np.int64), device=values.device)
        out: Any = SparseTensor._make(ix, values, shape, True)
    elif getattr(layout, "name", layout) in ("sparse_csr", "sparse_csc"):
        if len(shape) != 2:
            if len(shape) < 2:
                raise RuntimeError(
                    f"torch.{name}: Only batched sparse compressed (non-block) tensors are supported, but got "
                    f"size {list(shape)}"
                )
            raise NotImplementedError(f"{name}: batched sparse compressed tensors are not supported")
        csr = getattr(layout, "name", layout) == "sparse_csr"
        compressed = shape[0] if csr else shape[1]
        make = sparse_csr_tensor if csr else sparse_csc_tensor
        offsets = Tensor._of(np.zeros(compressed + 1, np.int64), device=values.device)
        plain = Tensor._of(np.zeros(0, np.int64), device=values.device)
        out = make(offsets, plain, values, shape)
    else:
        kind = {"sparse_bsr": "SparseBsr", "sparse_bsc": "SparseBsc"}.get(getattr(layout, "name", ""), str(layout))
        raise RuntimeError(
            f"zeros_sparse_compressed expected sparse compressed (non-block) tensor layout but got {kind}"
        )
    return out.requires_grad_() if requires_grad else out


def is_sparse_layout(layout: Any) -> bool:
    """True for ``bp.sparse_coo``/``sparse_csr``/``sparse_csc``/``sparse_bsr``/``sparse_bsc``."""
    return str(getattr(layout, "name", layout)).startswith("sparse_")


_tensor.IMPL.update(no_kernel=_no_kernel, zeros=zeros)
_tensor.IMPL.update(select=select, getitem=getitem, narrow_copy=narrow_copy, unsqueeze=unsqueeze, cat=cat, stack=stack)
