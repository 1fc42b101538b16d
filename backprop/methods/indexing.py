"""Indexing: ``x[index]`` through the ``getitem`` op, in-place ``x[index] = value``, and torch's
gathers, scatters, masks and sorts (``gather``, ``scatter``, ``index_add``, ``masked_fill``, ``sort``,
``topk``, ...), with their in-place variants."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from backprop.autograd import trace
from backprop.autograd.function import apply, apply_, bump_version, check_inplace
from backprop.autograd.grad_mode import trace_users
from backprop.methods.reduction import ValuesIndices
from backprop.ops import elementwise as ew
from backprop.ops import indexing as ix
from backprop.ops import reduction as red
from backprop.ops import sorting as so
from backprop.ops._util import DTypeError, ShapeError, wrap_dim

if TYPE_CHECKING:
    from backprop.devices import Device
    from backprop.tensor import Tensor


class IndexingMethods:
    """``x[i]``, ``x[mask]``, ``x[idx] = v``, ``x.gather(dim, index)``, ``x.sort()``, ..."""

    __slots__ = ()

    def __getitem__(self: Any, index: Any) -> Tensor:
        idx, then = torch_index(index, self.device, self.ndim)
        if then is None:
            return apply(ix.getitem, self, index=idx)
        return apply(ix.getitem, self, index=idx, then=then)

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        """In-place assignment; only outside graph recording (as in optimizer code)."""
        check_inplace("__setitem__", self, value)
        v = value.data if hasattr(value, "grad_fn") else value
        idx, then = torch_index(index, self.device, self.ndim)
        if then is None:
            self.data[idx] = v
        else:  # x[ints and slices] is a view: the advanced indices then write through it
            self.data[idx][then] = v
        if trace_users[0] and (tr := trace.tracer()) is not None:
            val = tr.ref(v, value if hasattr(value, "grad_fn") else None)
            tr.call(trace.setitem, [tr.ref(self.data, self), tr.attr(idx), tr.attr(then), val], None)
        bump_version(self)

    # ------------------------------------------------------------ gather and scatters
    def gather(self: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Tensor:
        """``out[i][j] = self[i][index[i][j]]`` for dim 1 (index: int64, self's ndim); the gradient
        is scatter-added back (repeated indices accumulate)."""
        _index_tensor("gather", index)
        if self.ndim == 0:
            shape = index.shape
            return apply(ix.gather, self.reshape(1), index.reshape(-1), axis=0).reshape(shape)
        return apply(ix.gather, self, index, axis=wrap_dim(dim, self.ndim, "gather"))

    def scatter(self: Any, dim: int, index: Any, src: Any = None, value: Any = None, *, reduce: Any = None) -> Tensor:
        """``self`` with ``src`` (a tensor, or a number: ``value=``) written at ``index`` along ``dim``;
        ``reduce="add"``/``"multiply"`` combine instead (torch's older form of ``scatter_reduce``)."""
        src = _src("scatter", src, value)
        if reduce is not None:
            return self._scatter_reduce_legacy(dim, index, src, reduce)
        return self._scatter(ix.scatter, "scatter", dim, index, src)

    def scatter_(self: Any, dim: int, index: Any, src: Any = None, value: Any = None, *, reduce: Any = None) -> Tensor:
        src = _src("scatter_", src, value)
        if reduce is not None:
            mode = _legacy_reduce(reduce)
            src = self._src_tensor(src, index)
            return self._scatter_inplace(ix.scatter_reduce, "scatter_", dim, index, src, reduce=mode)
        return self._scatter_inplace(ix.scatter, "scatter_", dim, index, src)

    def scatter_add(self: Any, dim: int, index: Any, src: Any) -> Tensor:
        """``self`` with ``src`` added at ``index`` along ``dim`` (repeats accumulate)."""
        return self._scatter(ix.scatter_add, "scatter_add", dim, index, src)

    def scatter_add_(self: Any, dim: int, index: Any, src: Any) -> Tensor:
        return self._scatter_inplace(ix.scatter_add, "scatter_add_", dim, index, src)

    def scatter_reduce(self: Any, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        """``self`` with ``src`` reduced in at ``index`` along ``dim``: ``reduce`` is "sum", "prod",
        "mean", "amax" or "amin"; ``include_self=False`` leaves self's values out where scattered."""
        _reduce_mode(reduce)
        return self._scatter(
            ix.scatter_reduce, "scatter_reduce", dim, index, src, reduce=reduce, include_self=bool(include_self)
        )

    def scatter_reduce_(self: Any, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        _reduce_mode(reduce)
        return self._scatter_inplace(
            ix.scatter_reduce, "scatter_reduce_", dim, index, src, reduce=reduce, include_self=bool(include_self)
        )

    def _scatter(self: Any, opdef: Any, name: str, dim: int, index: Any, src: Any, **attrs: Any) -> Tensor:
        _index_tensor(name, index)
        if not hasattr(src, "grad_fn") and opdef is not ix.scatter:
            raise TypeError(f"{name}(): src must be a Tensor, got {type(src).__name__}")
        if self.ndim == 0:  # a 0-d tensor is scattered into as a 1-element one
            s = src.reshape(-1) if hasattr(src, "grad_fn") else src
            out = apply(opdef, self.reshape(1), index.reshape(-1), s, axis=0, **attrs)
            return out.reshape(())
        return apply(opdef, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)

    def _scatter_inplace(self: Any, opdef: Any, name: str, dim: int, index: Any, src: Any, **attrs: Any) -> Tensor:
        _index_tensor(name, index)
        return apply_(opdef, name, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)

    def _scatter_reduce_legacy(self: Any, dim: int, index: Any, src: Any, reduce: str) -> Tensor:
        mode = _legacy_reduce(reduce)
        return self.scatter_reduce(dim, index, self._src_tensor(src, index), mode)

    def _src_tensor(self: Any, src: Any, index: Any) -> Any:
        """A number as a src shaped like ``index`` (scatter's ``reduce=`` with ``value=``)."""
        if hasattr(src, "grad_fn"):
            return src
        return self._wrap(self.device.xp.full(index.shape, src, dtype=self.dtype), self.device, None)

    # ------------------------------------------------------------ along one dim with a vector index
    def index_select(self: Any, dim: int, index: Any) -> Tensor:
        """The slices of ``self`` at ``index`` (a vector, int64 or int32) along ``dim``."""
        _index_tensor("index_select", index)
        if index.ndim > 1:
            raise RuntimeError(f"index_select(): Index is supposed to be a vector, got shape {tuple(index.shape)}")
        if self.ndim == 0:
            return apply(ix.index_select, self.reshape(1), index.reshape(-1), axis=0).reshape(())
        return apply(ix.index_select, self, index.reshape(-1), axis=wrap_dim(dim, self.ndim, "index_select"))

    def index_add(self: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """``self`` with ``alpha * source`` added at ``index`` (a vector) along ``dim``."""
        return self._index_op(ix.index_add, "index_add", dim, index, source, alpha=alpha)

    def index_add_(self: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        return self._index_op(ix.index_add, "index_add_", dim, index, source, inplace=True, alpha=alpha)

    def index_fill(self: Any, dim: int, index: Any, value: Any) -> Tensor:
        """``self`` with its slices at ``index`` along ``dim`` set to ``value`` (a number or 0-d tensor,
        which then gets the gradient of the filled entries)."""
        return self._index_op(ix.index_fill, "index_fill", dim, index, self._other(value))

    def index_fill_(self: Any, dim: int, index: Any, value: Any) -> Tensor:
        return self._index_op(ix.index_fill, "index_fill_", dim, index, self._other(value), inplace=True)

    def _index_op(
        self: Any, opdef: Any, name: str, dim: int, index: Any, src: Any, inplace: bool = False, **attrs: Any
    ) -> Tensor:
        _index_tensor(name, index)
        if index.ndim > 1:
            raise RuntimeError(f"{name}(): Index is supposed to be a vector, got shape {tuple(index.shape)}")
        index = index.reshape(-1)
        if inplace:
            return apply_(opdef, name, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)
        if self.ndim == 0:
            s = src.reshape(-1) if hasattr(src, "grad_fn") and src.ndim == 0 and opdef is ix.index_add else src
            return apply(opdef, self.reshape(1), index, s, axis=0, **attrs).reshape(())
        return apply(opdef, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)

    def take_along_dim(self: Any, indices: Any, dim: Any = None) -> Tensor:
        """The values at ``indices`` (int64) along ``dim``, ``indices`` and ``self`` broadcast against
        each other apart from ``dim``; along the flattened tensor when ``dim`` is None."""
        _index_tensor("take_along_dim", indices)
        if indices.dtype != np.int64:
            raise DTypeError(f"take_along_dim(): dtype of indices should be int64 (long), got {indices.dtype}")
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        if self.ndim != indices.ndim:
            raise RuntimeError(
                f"take_along_dim(): input and indices should have the same number of dimensions, but got "
                f"{self.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
            )
        d = wrap_dim(dim, self.ndim, "take_along_dim")
        if self.ndim == 0:
            return self.gather(0, indices)
        a = tuple(1 if i == d else n for i, n in enumerate(self.shape))
        b = tuple(1 if i == d else n for i, n in enumerate(indices.shape))
        try:
            rest = np.broadcast_shapes(a, b)
        except ValueError:
            raise ShapeError(
                f"take_along_dim(): input {tuple(self.shape)} and indices {tuple(indices.shape)} do not broadcast "
                f"apart from dimension {dim}"
            ) from None
        x = self.expand(tuple(self.shape[d] if i == d else n for i, n in enumerate(rest)))
        idx = indices.expand(tuple(indices.shape[d] if i == d else n for i, n in enumerate(rest)))
        return x.gather(d, idx)

    # ------------------------------------------------------------ masks
    def masked_fill(self: Any, mask: Any, value: Any) -> Tensor:
        """``value`` (a number or a 0-d tensor, which gets the gradient of the filled entries) where the
        bool ``mask`` is True, else ``self`` (the two broadcast)."""
        return apply(ix.masked_fill, self, _mask("masked_fill", mask), self._other(value))

    def masked_fill_(self: Any, mask: Any, value: Any) -> Tensor:
        mask = _mask("masked_fill_", mask)
        if tuple(np.broadcast_shapes(self.shape, mask.shape)) != tuple(self.shape):
            raise RuntimeError(
                f"masked_fill_: the mask of shape {tuple(mask.shape)} does not broadcast to self {tuple(self.shape)}"
            )
        return apply_(ix.masked_fill, "masked_fill_", self, mask, self._other(value))

    def masked_select(self: Any, mask: Any) -> Tensor:
        """The elements where the bool ``mask`` is True (both broadcast), as a 1-D tensor; the
        gradient goes back to those elements (masked_scatter)."""
        mask = _mask("masked_select", mask)
        shape = tuple(np.broadcast_shapes(self.shape, mask.shape))
        x = self if tuple(self.shape) == shape else self.expand(shape)
        m = mask if tuple(mask.shape) == shape else mask.expand(shape)
        if not shape:
            return x.reshape(1)[m.reshape(1)]
        return x[m]

    def nonzero(self: Any, *, as_tuple: bool = False) -> Any:
        """The indices of the non-zero elements: an (n, ndim) int64 tensor, or with ``as_tuple`` one
        1-D tensor per dim (a 0-d tensor counts as a 1-element one there, as torch)."""
        if as_tuple:
            x = self if self.ndim else self.reshape(1)
            rows = apply(ix.nonzero, x)
            return tuple(rows[:, i] for i in range(x.ndim))
        return apply(ix.nonzero, self)

    def argwhere(self: Any) -> Tensor:
        """``nonzero()``: the (n, ndim) indices of the non-zero elements."""
        return apply(ix.nonzero, self)

    def where(self: Any, condition: Any, other: Any) -> Tensor:
        """``self`` where ``condition`` else ``other`` (torch: ``x.where(c, y)`` is ``where(c, x, y)``)."""
        if not hasattr(condition, "grad_fn") or condition.dtype.kind != "b":
            got = getattr(condition, "dtype", type(condition))
            raise TypeError(f"where: condition must be a bool tensor, got {got}")
        return apply(ew.where, condition, self, self._other(other))

    # ------------------------------------------------------------ sorting
    def sort(self: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> ValuesIndices:
        """``(values, indices)`` sorted along ``dim`` (stable: ties keep their order, NaN sorts as the
        largest); the gradient goes to the elements at the returned indices."""
        if isinstance(dim, bool):  # torch's sort(stable, dim, descending) form
            raise TypeError("sort(): pass stable= as a keyword")
        d = wrap_dim(dim, self.ndim, "sort")
        x = self if self.ndim else self.reshape(1)
        idx = apply(so.argsort, x, axis=d, descending=bool(descending))
        return _values_at(self, x, idx, d)

    def argsort(self: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
        """The indices that sort ``self`` along ``dim`` (int64; always stable here)."""
        d = wrap_dim(dim, self.ndim, "argsort")
        if self.ndim == 0:
            return apply(so.argsort, self)
        return apply(so.argsort, self, axis=d, descending=bool(descending))

    def msort(self: Any) -> Tensor:
        """``sort(dim=0).values``."""
        return self.sort(0).values

    def topk(self: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
        """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
        ``dim``, in sorted order; ties are taken first-index-first (torch leaves their order open)."""
        d = wrap_dim(dim, self.ndim, "topk")
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise RuntimeError(f"topk(): selected index k={k} out of range (dimension {dim} has size {n})")
        idx = apply(so.argsort, x, axis=d, descending=bool(largest))
        if k != n:
            idx = idx[(slice(None),) * d + (slice(0, int(k)),)]
        return _values_at(self, x, idx, d)

    def kthvalue(self: Any, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
        """``(values, indices)`` of the k-th smallest element (1-based) along ``dim``."""
        d = wrap_dim(dim, self.ndim, "kthvalue")
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
            raise RuntimeError(f"kthvalue(): selected number k={k} out of range for dimension {dim} of size {n}")
        idx = apply(so.argsort, x, axis=d)[(slice(None),) * d + (slice(int(k) - 1, int(k)),)]
        out = _values_at(self, x, idx, d)
        if keepdim or self.ndim == 0:
            return out
        shape = self.shape[:d] + self.shape[d + 1 :]
        return ValuesIndices(out.values.reshape(shape), out.indices.reshape(shape))


def _values_at(self: Any, x: Any, idx: Any, d: int) -> ValuesIndices:
    """``(x's values at idx along d, idx)``, back to 0-d for a 0-d ``self``."""
    values = apply(red.take_indexed, x, idx, axis=d)
    if self.ndim == 0:
        return ValuesIndices(values.reshape(()), idx.reshape(()))
    return ValuesIndices(values, idx)


def _index_tensor(name: str, index: Any) -> None:
    if not hasattr(index, "grad_fn"):
        raise TypeError(f"{name}(): index must be a Tensor (int64), got {type(index).__name__}")
    if index.dtype not in (np.int64, np.int32):
        raise DTypeError(f"{name}(): Expected dtype int32/int64 for index, got {index.dtype}")


def _mask(name: str, mask: Any) -> Any:
    if not hasattr(mask, "grad_fn") or mask.dtype.kind != "b":
        raise DTypeError(f"{name}: expected a bool tensor as mask, got {getattr(mask, 'dtype', type(mask))}")
    return mask


def _src(name: str, src: Any, value: Any) -> Any:
    if (src is None) == (value is None):
        raise TypeError(f"{name}(): pass exactly one of src (a tensor or number) and value (a number)")
    s = src if value is None else value
    return s.item() if isinstance(s, np.generic) else s


def _reduce_mode(reduce: Any) -> None:
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        modes = "sum, prod, mean, amax, amin"
        raise RuntimeError(f"scatter_reduce(): reduce argument must be one of {modes}, got {reduce!r}")


def _legacy_reduce(reduce: str) -> str:
    modes = {"add": "sum", "multiply": "prod"}
    if reduce not in modes:
        raise RuntimeError(f"scatter(): reduce argument must be either 'add' or 'multiply', got {reduce!r}")
    return modes[reduce]


def index_arg(index: Any, device: Device) -> tuple:
    """A user index as a tuple the kernels understand (index Tensors and lists become arrays; 0-d
    integer tensors become ints, uint8 tensors masks, as torch)."""
    if not isinstance(index, tuple):
        index = (index,)
    out: list[Any] = []
    for i in index:
        if hasattr(i, "grad_fn"):  # a Tensor
            if i.dtype.kind not in "iub":
                raise IndexError(
                    f"tensors used as indices must be integer or bool tensors (long, int, bool), got {i.dtype}"
                )
            if i.device is not device:
                i = i.detach().to(device)
            a = i.data
            if trace_users[0] and (tr := trace.tracer()) is not None:
                if a.dtype.kind == "b" or a.dtype == np.uint8 or a.ndim == 0:
                    tr.fail("indexing with a boolean mask or a 0-d index tensor (data-dependent shapes or host reads)")
                tr.note_index(i)
            if a.dtype == np.uint8:  # torch: uint8 index tensors are masks
                a = a.astype(bool)
            if a.ndim == 0 and a.dtype.kind != "b":  # torch selects with a 0-d integer tensor as with an int
                out.append(int(a))
            else:
                out.append(a)
        elif isinstance(i, (list, np.ndarray)):
            arr = np.asarray(i)
            if arr.size == 0 and arr.dtype.kind == "f":  # x[[]]: an empty integer index
                arr = arr.astype(np.int64)
            if arr.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be integer or bool, got {arr.dtype}")
            if arr.dtype == np.uint8:
                arr = arr.astype(bool)
            if arr.ndim == 0 and arr.dtype.kind != "b":
                out.append(int(arr))
                continue
            out.append(device.backend.from_host(arr, device.index) if device.type != "cpu" else arr)
        elif isinstance(i, slice):
            out.append(slice(*(None if v is None else int(v) for v in (i.start, i.stop, i.step))))
        elif isinstance(i, np.bool_):
            out.append(bool(i))
        elif isinstance(i, np.integer):
            out.append(int(i))
        else:
            out.append(i)
    return tuple(out)


def torch_index(index: Any, device: Device, ndim: int) -> tuple[tuple, tuple | None]:
    """``(index, then)`` for the getitem op: ``x[index][then]`` is torch's ``x[index]`` (ints are
    applied before the advanced indices; ``then`` is None where NumPy's reading already agrees)."""
    return ix.split_index(device.xp, index_arg(index, device), ndim)
