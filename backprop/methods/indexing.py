"""Indexing: ``x[index]`` through the ``getitem`` op, in-place ``x[index] = value``, and torch's
gathers, scatters, masks and sorts (``gather``, ``scatter``, ``index_add``, ``masked_fill``, ``sort``,
``topk``, ...), with their in-place variants."""

from __future__ import annotations

import operator
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd import trace
from backprop.autograd.function import (
    OpIndexError,
    apply,
    apply_,
    bump_version,
    check_inplace,
    not_a_tensor_here,
    overlap_error,
    write_recorded,
)
from backprop.autograd.grad_mode import trace_users
from backprop.autograd.node_names import name_node, name_values
from backprop.methods import structseqs as rt
from backprop.methods.math import _promoted
from backprop.methods.reduction import refuse_empty
from backprop.methods.structseqs import ValuesIndices
from backprop.ops import elementwise as ew
from backprop.ops import indexing as ix
from backprop.ops import reduction as red
from backprop.ops import sorting as so
from backprop.ops._util import DTypeError, ShapeError, user_stacklevel, wrap_dim
from backprop.registry import refuse_complex

if TYPE_CHECKING:
    from backprop.devices import Device
    from backprop.tensor import Tensor


def _sort_overload(name: str, args: tuple, dim: Any, descending: Any, stable: Any) -> tuple[Any, Any]:
    """torch's two overloads of sort and argsort: ``(dim=-1, descending=False)``, positional or not, or
    ``(*, stable, dim=-1, descending=False)``: ``stable=`` with a positional dim is torch's TypeError."""
    if not args:
        return dim, descending
    if stable is not None:
        got = ", ".join([type(a).__name__ for a in args] + ["stable=bool"])
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got ({got}), but expected one of:\n"
            " * (*, bool stable, int dim = -1, bool descending = False)\n"
            " * (int dim = -1, bool descending = False)\n"
            "      didn't match because some of the keywords were incorrect: stable\n"
        )
    if len(args) > 2:
        raise TypeError(f"{name}() takes from 0 to 2 positional arguments but {len(args)} were given")
    return args[0], args[1] if len(args) == 2 else descending


class IndexingMethods:
    """``x[i]``, ``x[mask]``, ``x[idx] = v``, ``x.gather(dim, index)``, ``x.sort()``, ..."""

    __slots__ = ()

    def __getitem__(self: Any, index: Any) -> Tensor:
        idx, then = torch_index(index, self.device, self.ndim)
        try:
            if then is None:
                return apply(ix.getitem, self, index=idx)
            return apply(ix.getitem, self, index=idx, then=then)
        except (IndexError, ValueError) as exc:
            raise torch_index_error(exc, self.shape, index, self.device) from None

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        """In-place assignment; inside a recorded graph (the tensor or the value requires grad) it is
        recorded as torch's: the written region's gradient goes to ``value``, the rest to the old tensor."""
        if value.__class__ in (int, float) and self._data.dtype.itemsize == 2 and _dtypes.kind(self._data.dtype) == "f":
            value = _half_value(value, self._data.dtype)  # (torch casts it unchecked: 1e6 into float16 is inf)
        value = _dtypes.fill_value(value, self._data.dtype)  # a Python number: torch's checked conversion
        recorded = check_inplace("__setitem__", self, value)
        idx, then = torch_index(index, self.device, self.ndim)
        if hasattr(value, "grad_fn") and value.dtype != self.dtype and _index_put(index, idx, then, value):
            raise DTypeError(  # (torch's index_put_ takes no other dtype; basic indexing's copy_ casts)
                "Index put requires the source and destination dtypes match, got "
                f"{_dtypes.scalar_type_name(self._data.dtype)} for the destination and "
                f"{_dtypes.scalar_type_name(value._data.dtype)} for the source."
            )
        if recorded:
            try:
                write_recorded("__setitem__", self, _write_value(self, value, idx, then), idx, then)
            except IndexError as exc:
                raise torch_index_error(exc, self.shape, index, self.device) from None
            except ValueError as exc:
                raise _value_shape_error(exc, self, value, index, idx, then) from None
            return
        v = value._data if hasattr(value, "grad_fn") else value
        try:
            if then is None:
                self._data[idx] = v
            else:  # x[ints and slices] is a view: the advanced indices then write through it
                self._data[idx][then] = v
        except IndexError as exc:
            raise torch_index_error(exc, self.shape, index, self.device) from None
        except ValueError as exc:  # (NumPy's broadcast error: torch's is a RuntimeError)
            if overlap_error(self, exc) is not exc:  # an expanded tensor (torch writes into it; we refuse)
                raise overlap_error(self, exc) from None
            raise _value_shape_error(ShapeError(f"__setitem__: {exc}"), self, value, index, idx, then) from None
        if trace_users[0] and (tr := trace.tracer()) is not None:
            val = tr.ref(v, value if hasattr(value, "grad_fn") else None)
            tr.call(trace.setitem, [tr.ref(self._data, self), tr.attr(idx), tr.attr(then), val], None)
        bump_version(self)

    # ------------------------------------------------------------ gather and scatters
    def gather(self: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Tensor:
        """``out[i][j] = self[i][index[i][j]]`` for dim 1 (index: int64, self's ndim); the gradient
        is scatter-added back (repeated indices accumulate)."""
        if not hasattr(index, "grad_fn") or index.numel():  # (torch takes an empty index of any dtype)
            _index_tensor("gather", index)
        else:
            return apply(ix.gather, self, index, axis=wrap_dim(dim, self.ndim, "gather"))
        if index.ndim == 0 and self.ndim == 1:  # (torch takes a 0-d index as a 1-element one here)
            return apply(ix.gather, self, index.reshape(1), axis=wrap_dim(dim, 1, "gather")).reshape(())
        if self.ndim == 0:
            shape = index.shape
            return apply(ix.gather, self.reshape(1), index.reshape(-1), axis=0).reshape(shape)
        return apply(ix.gather, self, index, axis=wrap_dim(dim, self.ndim, "gather"))

    def scatter(self: Any, dim: int, index: Any, src: Any = None, value: Any = None, *, reduce: Any = None) -> Tensor:
        """``self`` with ``src`` (a tensor, or a number: ``value=``) written at ``index`` along ``dim``;
        ``reduce="add"``/``"multiply"`` combine instead (torch's older form of ``scatter_reduce``)."""
        src = _dtypes.fill_value(_src("scatter", src, value), self._data.dtype)
        if reduce is not None:
            _warn_once(_LEGACY_REDUCE, src)
            return self._scatter_reduce_legacy(dim, index, src, reduce)
        return self._scatter(ix.scatter, "scatter", dim, index, src)

    def scatter_(self: Any, dim: int, index: Any, src: Any = None, value: Any = None, *, reduce: Any = None) -> Tensor:
        src = _dtypes.fill_value(_src("scatter_", src, value), self._data.dtype)
        if reduce is not None:
            _warn_once(_LEGACY_REDUCE, src)
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
        return self._scatter(
            ix.scatter_reduce,
            "scatter_reduce",
            dim,
            index,
            src,
            reduce=_reduce_mode(reduce),
            include_self=bool(include_self),
        )

    def scatter_reduce_(self: Any, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        return self._scatter_inplace(
            ix.scatter_reduce,
            "scatter_reduce_",
            dim,
            index,
            src,
            reduce=_reduce_mode(reduce),
            include_self=bool(include_self),
        )

    def _scatter(self: Any, opdef: Any, name: str, dim: int, index: Any, src: Any, **attrs: Any) -> Tensor:
        _index_tensor(name, index)
        if not hasattr(src, "grad_fn") and opdef is not ix.scatter:
            raise TypeError(f"{name}(): src must be a Tensor, got {type(src).__name__}")
        if index.ndim == 0 and self.ndim == 1:  # a 0-d index (and src) counts as a 1-element one, as torch's
            index, src = _one_element(index, src)
        if self.ndim == 0:  # a 0-d tensor is scattered into as a 1-element one
            s = src.reshape(-1) if hasattr(src, "grad_fn") else src
            out = apply(opdef, self.reshape(1), index.reshape(-1), s, axis=0, **attrs)
            return out.reshape(())
        return apply(opdef, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)

    def _scatter_inplace(self: Any, opdef: Any, name: str, dim: int, index: Any, src: Any, **attrs: Any) -> Tensor:
        _index_tensor(name, index)
        if index.ndim == 0 and self.ndim == 1:  # (the Transforms tutorial: zeros(10).scatter_(0, tensor(y), value=1))
            index, src = _one_element(index, src)
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
        if self.is_sparse:  # (``bp.index_select(sparse, ...)`` reaches this function: the COO tensor's own method)
            return type(self).index_select(self, dim, index)
        _index_tensor("index_select", index)
        _vector_index("index_select", index)
        if self.ndim == 0:
            return apply(ix.index_select, self.reshape(1), index.reshape(-1), axis=0).reshape(())
        return apply(ix.index_select, self, index.reshape(-1), axis=wrap_dim(dim, self.ndim, "index_select"))

    def index_add(self: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """``self`` with ``alpha * source`` added at ``index`` (a vector) along ``dim``."""
        alpha = _dtypes.fill_int(alpha, self._data.dtype)  # (torch: -1 into uint8 is 255, 256 refused)
        return self._index_op(ix.index_add, "index_add", dim, index, source, alpha=alpha)

    def index_add_(self: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        alpha = _dtypes.fill_int(alpha, self._data.dtype)
        return self._index_op(ix.index_add, "index_add_", dim, index, source, inplace=True, alpha=alpha)

    def index_fill(self: Any, dim: int, index: Any, value: Any) -> Tensor:
        """``self`` with its slices at ``index`` along ``dim`` set to ``value`` (a number or 0-d tensor,
        which then gets the gradient of the filled entries)."""
        value = self._other(_dtypes.fill_value(value, self._data.dtype))
        return self._index_op(ix.index_fill, "index_fill", dim, index, value)

    def index_fill_(self: Any, dim: int, index: Any, value: Any) -> Tensor:
        value = self._other(_dtypes.fill_value(value, self._data.dtype))
        return self._index_op(ix.index_fill, "index_fill_", dim, index, value, inplace=True)

    def _index_op(
        self: Any, opdef: Any, name: str, dim: int, index: Any, src: Any, inplace: bool = False, **attrs: Any
    ) -> Tensor:
        _index_tensor(name, index)
        _vector_index(name, index)
        index = index.reshape(-1)
        if inplace:
            return apply_(opdef, name, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)
        if self.ndim == 0:
            s = src.reshape(-1) if hasattr(src, "grad_fn") and src.ndim == 0 and opdef is ix.index_add else src
            return apply(opdef, self.reshape(1), index, s, axis=0, **attrs).reshape(())
        return apply(opdef, self, index, src, axis=wrap_dim(dim, self.ndim, name), **attrs)

    def take_along_dim(self: Any, indices: Any, dim: Any = None) -> Tensor:
        """The values at ``indices`` (int64) along ``dim``, ``indices`` and ``self`` broadcast against
        each other apart from ``dim``; along the flattened tensor when ``dim`` is None. With ``dim``,
        indices wrap modulo the dim's size (``-1`` is the last; torch 2.8+), without it they do not."""
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
        n = self.shape[d] if self.ndim else 1
        if n and indices.numel():
            indices = indices % n
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

    # ------------------------------------------------------------ writes at indices (index_copy, index_put, put, ...)
    def index_copy(self: Any, dim: int, index: Any, source: Any) -> Tensor:
        """``self`` with its slices at ``index`` (a vector) along ``dim`` replaced by ``source``'s."""
        return self._copy_at("index_copy", dim, index, source, inplace=False)

    def index_copy_(self: Any, dim: int, index: Any, source: Any) -> Tensor:
        return self._copy_at("index_copy_", dim, index, source, inplace=True)

    def _copy_at(self: Any, name: str, dim: int, index: Any, source: Any, inplace: bool) -> Tensor:
        _index_tensor(name, index)
        _vector_index(name, index)
        index = index.reshape(-1)
        if self.ndim == 0 and not inplace:  # a 0-d tensor is written as a 1-element one
            return apply(ix.index_copy, self.reshape(1), index, source.reshape(-1), axis=0).reshape(())
        d = wrap_dim(dim, self.ndim, name)
        if inplace:
            return apply_(ix.index_copy, name, self, index, source, axis=d)
        return apply(ix.index_copy, self, index, source, axis=d)

    def index_put(self: Any, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        """``self`` with ``values`` (broadcast) written at ``self[indices]`` (a tuple of integer or
        bool tensors indexing the leading dims), or added there with ``accumulate`` (repeats add up)."""
        return self._put("index_put", indices, values, accumulate, inplace=False)

    def index_put_(self: Any, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        return self._put("index_put_", indices, values, accumulate, inplace=True)

    def _put(self: Any, name: str, indices: Any, values: Any, accumulate: bool, inplace: bool) -> Tensor:
        if not isinstance(indices, (tuple, list)):
            raise TypeError(f"{name}(): indices must be a tuple of Tensors, got {type(indices).__name__}")
        lin, dims, shape = _flat_index(self, name, tuple(indices))
        v = (
            values
            if hasattr(values, "grad_fn")
            else self._wrap(self.device.xp.asarray(values, dtype=self.dtype), self.device, None)
        )
        target = shape + tuple(self.shape[dims:])
        if tuple(v.shape) != target:
            try:  # (expand, not broadcast_shapes: a value may not grow the indexing result, (2,) into (1,))
                v = v.expand(target)
            except RuntimeError:
                raise ShapeError(
                    f"shape mismatch: value tensor of shape {list(v.shape)} cannot be broadcast to indexing result "
                    f"of shape {list(target)}"
                ) from None
        v = v.reshape((-1, *self.shape[dims:]))
        if inplace:
            return apply_(ix.index_put, name, self, v, lin, dims=dims, accumulate=bool(accumulate))
        return apply(ix.index_put, self, v, lin, dims=dims, accumulate=bool(accumulate))

    def put(self: Any, index: Any, source: Any, accumulate: bool = False) -> Tensor:
        """``self`` with ``source``'s elements written (``accumulate``: added) at the flat positions
        ``index`` of the tensor read as 1-D (negative positions count from the end)."""
        return self._put_flat("put", index, source, accumulate, inplace=False)

    def put_(self: Any, index: Any, source: Any, accumulate: bool = False) -> Tensor:
        return self._put_flat("put_", index, source, accumulate, inplace=True)

    def _put_flat(self: Any, name: str, index: Any, source: Any, accumulate: bool, inplace: bool) -> Tensor:
        _index_tensor(name, index)
        if index.numel() != source.numel():  # (torch's IndexError, naming put_ for put too)
            raise IndexError(
                "put_(): Expected source and index to have the same number of elements, but got source.numel() "
                f"= {source.numel()}, index.numel() = {index.numel()}"
            )
        if hasattr(source, "dtype") and source.dtype != self.dtype:
            raise DTypeError(
                "put_(): self and source expected to have the same dtype, but got self.dtype = "
                f"{_dtypes.scalar_type_name(self.dtype)} and source.dtype = {_dtypes.scalar_type_name(source.dtype)}"
            )
        lin = _wrapped(name, index.reshape(-1).long(), self.numel(), "put", flat=True)
        if inplace:
            out = apply_(ix.index_put, name, self, source.reshape(-1), lin, dims=self.ndim, accumulate=bool(accumulate))
        else:
            out = apply(ix.index_put, self, source.reshape(-1), lin, dims=self.ndim, accumulate=bool(accumulate))
        return name_node(out, "PutBackward0")

    def masked_scatter(self: Any, mask: Any, source: Any) -> Tensor:
        """``self`` with ``source``'s leading elements written, in order, where the bool ``mask`` is
        True (self and mask broadcast)."""
        mask = _mask("masked_scatter", mask)
        shape = tuple(np.broadcast_shapes(self.shape, mask.shape))
        x = self if tuple(self.shape) == shape else self.expand(shape)
        return x._scatter_masked("masked_scatter", mask, source, inplace=False)

    def masked_scatter_(self: Any, mask: Any, source: Any) -> Tensor:
        mask = _mask("masked_scatter_", mask)
        if tuple(np.broadcast_shapes(self.shape, mask.shape)) != tuple(self.shape):
            raise RuntimeError(
                f"masked_scatter_: the mask of shape {tuple(mask.shape)} does not broadcast to self {tuple(self.shape)}"
            )
        return self._scatter_masked("masked_scatter_", mask, source, inplace=True)

    def _scatter_masked(self: Any, name: str, mask: Any, source: Any, inplace: bool) -> Tensor:
        if source.dtype != self.dtype:
            raise DTypeError(  # (torch's text, its missing space included)
                "masked_scatter: expected self and source to have same dtypes but got"
                f"{_dtypes.scalar_type_name(self.dtype)} and {_dtypes.scalar_type_name(source.dtype)}"
            )
        m = mask if tuple(mask.shape) == tuple(self.shape) else mask.expand(self.shape)
        lin = apply(ix.nonzero, m.reshape(-1)).reshape(-1)
        n = lin.shape[0]
        if n > source.numel():
            raise RuntimeError(
                f"{name}: Number of elements of source < number of ones in mask ({source.numel()} < {n})"
            )
        vals = source.reshape(-1)[:n]
        if inplace:
            return name_node(apply_(ix.index_put, name, self, vals, lin, dims=self.ndim), "MaskedScatterBackward0")
        return name_node(apply(ix.index_put, self, vals, lin, dims=self.ndim), "MaskedScatterBackward0")

    def select_scatter(self: Any, src: Any, dim: int, index: int) -> Tensor:
        """``self`` with the slice ``select(dim, index)`` replaced by ``src``."""
        if self.ndim == 0:
            raise IndexError("select_scatter() cannot be applied to a 0-dim tensor.")
        d = wrap_dim(dim, self.ndim, "select_scatter")
        n, i = self.shape[d], int(index)
        if not -n <= i < n:
            raise IndexError(f"select(): index {i} out of range for tensor of size {list(self.shape)} at dimension {d}")
        want = self.shape[:d] + self.shape[d + 1 :]
        if tuple(src.shape) != want:
            raise RuntimeError(
                f"select_scatter: expected src to have a size equal to the slice of self {want}, got {tuple(src.shape)}"
            )
        out = apply(ix.index_copy, self, self._int64([i % n]), src.unsqueeze(d), axis=d)
        return name_node(out, "SelectScatterBackward0")

    def slice_scatter(self: Any, src: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Tensor:
        """``self`` with the slice ``start:end:step`` of ``dim`` replaced by ``src``."""
        try:
            if self.ndim == 0:
                raise IndexError("slice_scatter() cannot be applied to a 0-dim tensor.")
            d = wrap_dim(dim, self.ndim, "slice_scatter")
            if step <= 0:
                raise ValueError(f"slice_scatter: slice step must be positive, got {step}")
            positions = list(range(*slice(start, end, step).indices(self.shape[d])))
            want = self.shape[:d] + (len(positions),) + self.shape[d + 1 :]
            if tuple(src.shape) != want:
                raise RuntimeError(
                    "slice_scatter: expected src to have a size equal to the slice of self "
                    f"{want}, got {tuple(src.shape)}"
                )
            return name_node(apply(ix.index_copy, self, self._int64(positions), src, axis=d), "SliceScatterBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def diagonal_scatter(self: Any, src: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """``self`` with ``diagonal(offset, dim1, dim2)`` replaced by ``src``."""
        if self.ndim < 2:
            raise ShapeError(f"diagonal_scatter: expected a tensor with at least 2 dims, got {tuple(self.shape)}")
        d1, d2 = wrap_dim(dim1, self.ndim, "diagonal_scatter"), wrap_dim(dim2, self.ndim, "diagonal_scatter")
        if d1 == d2:
            raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        where = np.diagonal(np.arange(self.numel(), dtype=np.int64).reshape(self.shape), int(offset), d1, d2)
        if tuple(src.shape) != where.shape:
            raise RuntimeError(
                f"diagonal_scatter: expected src to have a size equal to the diagonal of self "
                f"{where.shape}, got {tuple(src.shape)}"
            )
        out = apply(ix.index_put, self, src.reshape(-1), self._int64(where.reshape(-1)), dims=self.ndim)
        return name_node(out, "DiagonalScatterBackward0")

    def fill_diagonal_(self: Any, fill_value: Any, wrap: bool = False) -> Tensor:
        """Write ``fill_value`` on the main diagonal (all dims equal beyond 2-D); ``wrap``: a tall
        matrix's diagonal starts again every ``cols + 1`` rows, as NumPy's."""
        if self.ndim < 2:
            raise ShapeError(f"fill_diagonal_: dimensions must larger than 1, got {self.ndim}")
        if self.ndim > 2 and len(set(self.shape)) != 1:
            raise ShapeError(
                f"fill_diagonal_: all dimensions of input must be of equal length, got {tuple(self.shape)}"
            )
        rows, cols = self.shape[0], self.shape[1]
        if self.ndim == 2:
            stop = self.numel() if wrap and rows > cols else min(rows, cols) * (cols + 1)
            where = np.arange(0, stop, cols + 1, dtype=np.int64)
        else:
            where = np.arange(rows, dtype=np.int64) * sum(rows**k for k in range(self.ndim))
        value = fill_value.item() if hasattr(fill_value, "item") else _dtypes.fill_value(fill_value, self._data.dtype)
        return apply_(ix.index_put, "fill_diagonal_", self, value, self._int64(where), dims=self.ndim)

    def index_reduce(self: Any, dim: int, index: Any, source: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        """``self`` with ``source``'s slices reduced into the slices at ``index`` along ``dim``:
        ``reduce`` is "prod", "mean", "amax" or "amin" (scatter_reduce with a broadcast index)."""
        _index_reduce_mode(reduce)
        _warn_once(_INDEX_REDUCE_BETA)
        d, grid, src = self._index_grid("index_reduce", dim, index, source)
        out = self._scatter(  # (one_at_a_time: float16/bfloat16 prod and mean reduce in that dtype, as torch's)
            ix.scatter_reduce,
            "index_reduce",
            d,
            grid,
            src,
            reduce=reduce,
            include_self=bool(include_self),
            one_at_a_time=True,
        )
        return name_node(out, "IndexReduceBackward0")

    def index_reduce_(
        self: Any, dim: int, index: Any, source: Any, reduce: str, *, include_self: bool = True
    ) -> Tensor:
        _index_reduce_mode(reduce)
        _warn_once(_INDEX_REDUCE_BETA)
        if hasattr(source, "dtype") and source.dtype != self.dtype:
            raise DTypeError(
                f"index_reduce_(): self ({_dtypes.scalar_type_name(self.dtype)}) and source "
                f"({_dtypes.scalar_type_name(source.dtype)}) must have the same scalar type"
            )
        d, grid, src = self._index_grid("index_reduce_", dim, index, source)
        out = self._scatter_inplace(
            ix.scatter_reduce,
            "index_reduce_",
            d,
            grid,
            src,
            reduce=reduce,
            include_self=bool(include_self),
            one_at_a_time=True,
        )
        return name_node(out, "IndexReduceBackward0")

    def _index_grid(self: Any, name: str, dim: int, index: Any, source: Any) -> tuple:
        """``(dim, index broadcast to source's shape, source)``: an index_* op as a scatter."""
        _index_tensor(name, index)
        _vector_index(name, index)
        d = wrap_dim(dim, self.ndim, name)
        if self.ndim == 0 and source.ndim <= 1 and source.numel() == index.numel() == 1:  # (a 0-d self)
            return d, index.long().reshape(source.shape), source
        ix.check_index_source("index_reduce", self, index.numel(), source, d)
        ix.check_in_self(self.device.xp, index._data, self.shape[d], name)  # (index_reduce wraps nothing)
        view = tuple(index.numel() if i == d else 1 for i in range(self.ndim))
        return d, index.long().reshape(view).expand(tuple(source.shape)), source

    def take(self: Any, index: Any) -> Tensor:
        """The elements at ``index`` of the tensor read as 1-D (negative positions count from the
        end); the result has ``index``'s shape."""
        _index_tensor("take", index)
        out = self.reshape(-1)[_wrapped("take", index.long(), self.numel(), "take", flat=True)]
        return name_node(out, "TakeBackward0")

    def _int64(self: Any, values: Any) -> Any:
        """A constant int64 tensor on this tensor's device (positions computed from Python values)."""
        return self._wrap(self.device.xp.asarray(np.asarray(values, dtype=np.int64)), self.device, None)

    # ------------------------------------------------------------ masks
    def masked_fill(self: Any, mask: Any, value: Any) -> Tensor:
        """``value`` (a number or a 0-d tensor, which gets the gradient of the filled entries) where the
        bool ``mask`` is True, else ``self`` (the two broadcast)."""
        value = _dtypes.fill_value(value, self._data.dtype)  # (torch: 256 into uint8 refused, -3 is 253)
        return apply(ix.masked_fill, self, _mask("masked_fill", mask), self._other(value))

    def masked_fill_(self: Any, mask: Any, value: Any) -> Tensor:
        mask = _mask("masked_fill_", mask)
        if tuple(np.broadcast_shapes(self.shape, mask.shape)) != tuple(self.shape):
            raise RuntimeError(
                f"masked_fill_: the mask of shape {tuple(mask.shape)} does not broadcast to self {tuple(self.shape)}"
            )
        value = self._other(_dtypes.fill_value(value, self._data.dtype))
        return apply_(ix.masked_fill, "masked_fill_", self, mask, value)

    def masked_select(self: Any, mask: Any) -> Tensor:
        """The elements where the bool ``mask`` is True (both broadcast), as a 1-D tensor; the
        gradient goes back to those elements (masked_scatter)."""
        mask = _mask("masked_select", mask)
        shape = tuple(np.broadcast_shapes(self.shape, mask.shape))
        x = self if tuple(self.shape) == shape else self.expand(shape)
        m = mask if tuple(mask.shape) == shape else mask.expand(shape)
        out = x.reshape(1)[m.reshape(1)] if not shape else x[m]
        return name_node(out, "MaskedSelectBackward0")

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
            condition = where_condition(condition)
        other = self._other(other)
        if other.__class__ is int:  # checked into the result dtype, as torch's (u8.where(c, 256) raises)
            other = _dtypes.checked_int(other, self._data.dtype, _dtypes.promote_types(self, other))
        return apply(ew.where, condition, *_promoted(self, other))  # torch's promotion

    # ------------------------------------------------------------ sorting
    def sort(
        self: Any, *args: Any, dim: int = -1, descending: bool = False, stable: bool | None = None
    ) -> ValuesIndices:
        """``(values, indices)`` sorted along ``dim`` (stable: ties keep their order, NaN sorts as the
        largest); the gradient goes to the elements at the returned indices."""
        dim, descending = _sort_overload("sort", args, dim, descending, stable)
        if isinstance(dim, bool):  # torch's sort(stable, dim, descending) form
            raise TypeError("sort(): pass stable= as a keyword")
        d = wrap_dim(dim, self.ndim, "sort")
        x = self if self.ndim else self.reshape(1)
        idx = apply(so.argsort, x, axis=d, descending=bool(descending))
        return _values_at(self, x, idx, d, rt.sort)

    def argsort(
        self: Any,
        *args: Any,
        dim: int = -1,
        descending: bool = False,
        stable: bool | None = None,
        axis: int | None = None,
    ) -> Tensor:
        """The indices that sort ``self`` along ``dim`` (or torch's numpy-style alias ``axis``; int64; always
        stable here)."""
        dim, descending = _sort_overload("argsort", args, dim, descending, stable)
        try:
            d = wrap_dim(dim if axis is None else axis, self.ndim, "argsort")
            if self.ndim == 0:
                return apply(so.argsort, self)
            return apply(so.argsort, self, axis=d, descending=bool(descending))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def msort(self: Any) -> Tensor:
        """``sort(dim=0).values``."""
        return self.sort(0).values

    def topk(self: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
        """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
        ``dim``, in sorted order; ties are taken first-index-first (torch leaves their order open)."""
        refuse_complex(RuntimeError, " topk does not support complex dtypes on CPU", self)
        if self.dtype == np.bool_:
            raise RuntimeError("topk does not support bool dtypes on CPU")
        d = wrap_dim(dim, self.ndim, "topk")
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise RuntimeError("selected index k out of range")
        idx = apply(so.argsort, x, axis=d, descending=bool(largest))
        if k != n:  # (a copy of the first k, not a view into all n: contiguous, as torch's)
            idx = idx[(slice(None),) * d + (slice(0, int(k)),)].contiguous()
        return _values_at(self, x, idx, d, rt.topk)

    def kthvalue(self: Any, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
        """``(values, indices)`` of the k-th smallest element (1-based) along ``dim``."""
        refuse_complex(NotImplementedError, "\"kthvalue_cpu\" not implemented for '{dtype}'", self)
        if self.dtype == np.bool_ and self.ndim:  # (torch's 0-d kthvalue returns the input without its kernel)
            raise NotImplementedError("\"kthvalue_cpu\" not implemented for 'Bool'")
        d = wrap_dim(dim, self.ndim, "kthvalue")
        if not self._data.size:
            refuse_empty("kthvalue", self, d)
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
            raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
        idx = apply(so.argsort, x, axis=d)[(slice(None),) * d + (slice(int(k) - 1, int(k)),)]
        out = _values_at(self, x, idx, d, rt.kthvalue)
        if keepdim or self.ndim == 0:
            return out
        shape = self.shape[:d] + self.shape[d + 1 :]
        return rt.kthvalue(name_values(out.values.reshape(shape), rt.kthvalue), out.indices.reshape(shape))

    # ------------------------------------------------------------ unique values and counting (no gradient)
    def unique(
        self: Any, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim: Any = None
    ) -> Any:
        """The distinct values (sorted ascending; with ``dim``, the distinct slices along it), plus
        the inverse (each element's position among them) and the counts when asked (int64)."""
        try:
            return _unique(self, "unique", False, return_inverse, return_counts, dim)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def unique_consecutive(
        self: Any, return_inverse: bool = False, return_counts: bool = False, dim: Any = None
    ) -> Any:
        """The tensor with each run of equal consecutive values (slices along ``dim``) collapsed to one."""
        try:
            return _unique(self, "unique_consecutive", True, return_inverse, return_counts, dim)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def bincount(self: Any, weights: Any = None, minlength: int = 0) -> Tensor:
        """How often each value 0..max occurs in this 1-D non-negative integer tensor (int64), or the
        sum of ``weights`` per value; at least ``minlength`` bins."""
        return apply(red.bincount, self, weights, minlength=int(minlength))

    def histc(self: Any, bins: int = 100, min: Any = 0, max: Any = 0) -> Tensor:
        """A histogram of ``bins`` equal bins over [min, max] (the data's range when equal); elements
        outside are ignored; the counts have this tensor's (floating) dtype."""
        return apply(red.histc, self, bins=int(bins), min=float(min), max=float(max))


def _unique(self: Any, name: str, consecutive: bool, inverse: bool, counts: bool, dim: Any) -> Any:
    d = None if dim is None else wrap_dim(dim, self.ndim, name)
    x = self.detach() if self._requires_grad else self
    if d is not None and self.ndim == 0:
        x, d = x.reshape(1), 0
    out = [apply(so.unique, x, dim=d, consecutive=consecutive)]
    if inverse:
        out.append(apply(so.unique, x, dim=d, consecutive=consecutive, part="inverse"))
    if counts:
        out.append(apply(so.unique, x, dim=d, consecutive=consecutive, part="counts"))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(
    sorted_sequence: Any,
    input: Any,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Any = None,
) -> Tensor:
    """For each value of ``input``, the index at which inserting it into the last dim of
    ``sorted_sequence`` keeps that sorted (``right``/``side="right"``: after equal values); int64
    (int32 with ``out_int32``). ``sorter`` gives the order that sorts an unsorted sequence."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side!r}")
        if right and side == "left":
            raise RuntimeError(
                "torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True"
            )
        right = side == "right"
    seq = sorted_sequence
    if sorter is not None:
        _index_tensor("searchsorted", sorter)
        seq = seq.gather(-1, sorter.long())
    values = input if hasattr(input, "grad_fn") else seq._wrap(seq.device.xp.asarray(input), seq.device, None)
    if seq.ndim > 1 and tuple(seq.shape[:-1]) != tuple(values.shape[:-1]):
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries "
            f"tensor and input value tensor must match, but we got boundaries tensor {list(seq.shape)} and input "
            f"value tensor {list(values.shape)}"
        )
    if seq.ndim == 0:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 dimension"
        )
    return apply(so.searchsorted, seq.detach(), values.detach(), right=bool(right), out_int32=bool(out_int32))


def bucketize(input: Any, boundaries: Any, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` among the 1-D sorted ``boundaries``: i with
    boundaries[i-1] < x <= boundaries[i] (``right``: boundaries[i-1] <= x < boundaries[i])."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")  # torch's
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def isin(elements: Any, test_elements: Any, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each of ``elements`` is in ``test_elements`` (either may be a number): a bool tensor
    of ``elements``' shape (``invert``: whether it is not)."""
    ref = elements if hasattr(elements, "grad_fn") else test_elements
    if not hasattr(ref, "grad_fn"):
        raise TypeError("isin(): expected at least one of elements and test_elements to be a Tensor")

    def arr(v: Any) -> Any:
        return v.detach() if hasattr(v, "grad_fn") else ref._wrap(ref.device.xp.asarray(v), ref.device, None)

    return apply(so.isin, arr(elements), arr(test_elements), invert=bool(invert))


def unravel_index(indices: Any, shape: Any) -> tuple[Tensor, ...]:
    """The coordinates in a tensor of ``shape`` of the flat (row-major) ``indices``: one int64 tensor
    per dim, each of ``indices``' shape (negative indices count from the end)."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    if not hasattr(indices, "grad_fn"):
        raise TypeError(f"unravel_index(): expected 'indices' to be a Tensor, got {type(indices).__name__}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"unravel_index(): expected 'indices' to be integer dtype, but got {indices.dtype}")
    if any(n < 0 for n in shape):
        raise ValueError(f"unravel_index(): 'shape' cannot have negative values, but got {shape}")
    numel = int(np.prod(shape))
    flat = _wrapped("unravel_index", indices.long(), numel, "unravel_index")
    if numel == 0 and indices.numel():
        raise IndexError("unravel_index(): index out of bounds for a shape with no elements")
    out = []
    for n in reversed(shape):
        out.append(flat % n if n else flat)
        flat = flat // n if n else flat
    return tuple(reversed(out))


def _values_at(self: Any, x: Any, idx: Any, d: int, rtype: type[ValuesIndices]) -> ValuesIndices:
    """``(x's values at idx along d, idx)`` as the op's ``rtype``, back to 0-d for a 0-d ``self``."""
    values = apply(red.take_indexed, x, idx, axis=d)
    if self.ndim == 0:
        return rtype(name_values(values.reshape(()), rtype), idx.reshape(()))
    return rtype(name_values(values, rtype), idx)


def _wrapped(name: str, index: Any, n: int, what: str, dim: int = 0, flat: bool = False) -> Any:
    """``index`` (int64) with negative entries counted from the end of a dim of size ``n``; an
    IndexError (torch's) for entries outside [-n, n)."""
    if index.numel():
        lo, hi = int(index.min()), int(index.max())
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            if flat:
                raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
            prefix = f"{what}: " if what else ""  # (index_put's is torch's bare text)
            raise IndexError(f"{prefix}index {bad} is out of bounds for dimension {dim} with size {n}")
        if lo < 0:
            index = index + (index < 0).long() * n
    return index


def _flat_index(self: Any, name: str, indices: tuple) -> tuple[Any, int, tuple[int, ...]]:
    """``(flat index, k, shape)`` for ``self[indices]`` with integer or bool index tensors on the
    first k dims: the row-major position of each indexed entry of those k dims, of ``shape``."""
    parts: list[Any] = []
    for i in indices:
        if not hasattr(i, "grad_fn"):
            i = self._wrap(self.device.xp.asarray(np.asarray(i)), self.device, None)
        if i.dtype.kind == "b" or i.dtype == np.uint8:  # a mask stands for its nonzero positions
            parts.extend(i.bool().nonzero(as_tuple=True))
        elif i.dtype.kind in "iu":
            parts.append(i.long())
        else:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")  # (torch's words)
    k = len(parts)
    if k > self.ndim:
        raise IndexError(f"{name}(): too many indices for tensor of dimension {self.ndim} (got {k})")
    try:
        shape = tuple(np.broadcast_shapes(*(tuple(p.shape) for p in parts)))
    except ValueError:
        got = ", ".join(str(list(p.shape)) for p in parts)  # (torch's words)
        text = f"shape mismatch: indexing tensors could not be broadcast together with shapes {got}"
        raise IndexError(text) from None
    lin = None
    for d, p in enumerate(parts):
        p = _wrapped(name, p, self.shape[d], "", d)
        lin = p if lin is None else lin * self.shape[d] + p
    if lin is None:
        lin = self._int64([0])
    elif tuple(lin.shape) != shape:
        lin = lin.expand(shape)
    return lin.reshape(-1), k, shape


def _index_tensor(name: str, index: Any) -> None:
    if not hasattr(index, "grad_fn"):
        raise TypeError(f"{name}(): index must be a Tensor (int64), got {type(index).__name__}")
    if index.dtype not in (np.int64, np.int32):
        raise DTypeError(ix.index_dtype_message(name, index.dtype))


def _index_reduce_mode(reduce: str) -> None:
    if reduce not in ("prod", "mean", "amax", "amin"):  # (torch's words, index_reduce() for the in-place one too)
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")


def _vector_index(name: str, index: Any) -> None:
    """torch's error for an index of more than one dim in the index_* ops: an IndexError (a RuntimeError for
    index_fill), its text by op (torch names the in-place kernel)."""
    if index.ndim <= 1:
        return
    op = name.rstrip("_")
    if op == "index_fill":
        raise RuntimeError("Index has to be a vector/scalar")
    if op == "index_select":
        raise OpIndexError("index_select(): Index is supposed to be a vector")
    if op == "index_copy":
        raise OpIndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
    raise OpIndexError(
        f"{op}_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
        f"{_dtypes.scalar_type_name(index._data.dtype)} and size: {list(index.shape)}"
    )


def _mask(name: str, mask: Any) -> Any:
    """``mask`` when it is a bool tensor; torch's error for the op ``name`` otherwise."""
    if not hasattr(mask, "grad_fn") or mask.dtype.kind != "b":
        got = getattr(mask, "dtype", type(mask))
        if hasattr(mask, "grad_fn") and name.startswith("masked_fill"):
            raise DTypeError(
                f"masked_fill_ only supports boolean masks, but got mask with dtype {_dtypes.cpp_type_name(got)}"
            )
        if hasattr(mask, "grad_fn") and name.startswith("masked_scatter"):
            raise DTypeError(
                f"masked_scatter_ only supports boolean masks, but got mask with dtype {_dtypes.scalar_type_name(got)}"
            )
        if hasattr(mask, "grad_fn") and name == "masked_select":
            raise DTypeError("masked_select: expected BoolTensor for mask")
        raise DTypeError(f"{name}: expected a bool tensor as mask, got {got}")
    return mask


def _src(name: str, src: Any, value: Any) -> Any:
    if (src is None) == (value is None):
        raise TypeError(f"{name}(): pass exactly one of src (a tensor or number) and value (a number)")
    s = src if value is None else value
    return s.item() if isinstance(s, np.generic) else s


def _one_element(index: Any, src: Any) -> tuple[Any, Any]:
    """A 0-d index scattering into a 1-d tensor as the 1-element index torch takes it for (a 0-d src too)."""
    if hasattr(src, "grad_fn") and src.ndim == 0:
        src = src.reshape(1)
    return index.reshape(1), src


def _reduce_mode(reduce: Any) -> str:
    """scatter_reduce's ``reduce``; torch also takes "max" and "min" for "amax" and "amin"."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin", "max", "min"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    return {"max": "amax", "min": "amin"}.get(reduce, reduce)


_LEGACY_REDUCE = (
    "The reduce argument of torch.scatter with Tensor src is deprecated and will be removed in a future PyTorch "
    "release. Use torch.scatter_reduce instead for more reduction options."
)
_INDEX_REDUCE_BETA = "index_reduce() is in beta and the API may change at any time."
_warned: set[str] = set()  # the warnings above already given: torch gives each once per process (TORCH_WARN_ONCE)


def _warn_once(message: str, src: Any = True) -> None:
    """torch's UserWarning ``message``, the first time only (the legacy reduce's: only for a Tensor ``src``)."""
    if message not in _warned and (src is True or hasattr(src, "grad_fn")):
        _warned.add(message)
        warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


def _legacy_reduce(reduce: str) -> str:
    modes = {"add": "sum", "multiply": "prod"}
    if reduce not in modes:
        raise RuntimeError("reduce argument must be either add or multiply.")  # (torch's words)
    return modes[reduce]


def _sequence_as_tuple(index: list) -> bool:
    """torch's (and old NumPy's) rule: a list holding a sequence, a tensor, a slice, ``None`` or ``...`` is
    a tuple of indices (``x[[[0, 1], [1, 2]]]`` is ``x[[0, 1], [1, 2]]``), not one index array."""
    for j in index:
        if j is None or j is Ellipsis or isinstance(j, (list, tuple, slice)) or hasattr(j, "grad_fn"):
            return True
    return False


def _adds_no_dim(i: Any) -> bool:
    return i is None or i is Ellipsis or i.__class__ is bool


def _is_mask(i: Any) -> bool:
    return hasattr(i, "dtype") and i.dtype.kind == "b"


def index_arg(index: Any, device: Device) -> tuple:
    """A user index as a tuple the kernels understand (index Tensors and lists become arrays; 0-d
    integer tensors become ints, uint8 tensors masks, as torch)."""
    if index.__class__ is list and len(index) < 32 and _sequence_as_tuple(index):
        warnings.warn(
            "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in pytorch "
            "2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as tensor index, "
            "x[torch.tensor(seq)], which will result either in an error or a different result",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        index = tuple(index)
    if not isinstance(index, tuple):
        index = (index,)
    out: list[Any] = []
    for i in index:
        if hasattr(i, "grad_fn"):  # a Tensor
            if i.dtype not in _INDEX_DTYPES:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if i.device is not device:
                i = i.detach().to(device)
            a = i._data
            if trace_users[0] and (tr := trace.tracer()) is not None:
                if a.dtype.kind == "b" or a.dtype == np.uint8 or a.ndim == 0:
                    tr.fail("indexing with a boolean mask or a 0-d index tensor (data-dependent shapes or host reads)")
                tr.note_index(i)
            if a.dtype == np.uint8:  # torch: uint8 index tensors are masks
                warnings.warn(
                    "indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool instead.",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
                a = a.astype(bool)
            if a.ndim == 0 and a.dtype.kind != "b":  # torch selects with a 0-d integer tensor as with an int
                out.append(int(a))
            else:
                out.append(a)
        elif isinstance(i, (list, tuple, range, np.ndarray)):  # (y_hat[range(n), y]: d2l's idiom)
            arr = np.asarray(i)
            if arr.size == 0 and _dtypes.kind(arr.dtype) == "f":  # x[[]]: an empty integer index
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
            out.append(_slice(i))
        elif isinstance(i, np.bool_):
            out.append(bool(i))
        elif isinstance(i, np.integer):
            out.append(int(i))
        elif i is Ellipsis:
            if any(j is Ellipsis for j in out):  # torch's x[..., 0, ...]: a second one skips past the last dim
                return _later_ellipses_dropped(out, index)
            out.append(i)
        elif i is None or isinstance(i, int):
            out.append(i)
        elif isinstance(i, str):
            raise TypeError(f"new(): invalid data type '{type(i).__name__}'")
        else:
            got = type(i).__name__
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices "
                f"(got {got})"
            )
    return tuple(out)


def _later_ellipses_dropped(out: list, index: tuple) -> tuple:
    """torch moves past every dim left at each ``...``, so a second one ends the index: only more ellipses may follow
    it (``x[..., 0, ...]`` is ``x[..., 0]``); an index after it is out of range there (torch: a dim out of range)."""
    at = [k for k, i in enumerate(index) if i is Ellipsis][1]
    if any(i is not Ellipsis for i in index[at:]):
        raise IndexError("an index can only have a single ellipsis ('...') before its last entry")
    return tuple(out)


_INDEX_DTYPES = frozenset(np.dtype(t) for t in ("int64", "int32", "uint8", "bool"))


def _basic_shape(shape: tuple, index: tuple, consumed: int) -> list:
    """The shape torch indexes with the advanced indices: ``shape`` once every int is selected and every slice
    applied (a None or a bool adds a size-1 dim), the dims of masks and index arrays kept."""
    out: list = []
    dim = 0
    for i in index:
        if i is None or i.__class__ is bool:
            out.append(1)
        elif isinstance(i, int):
            dim += 1
        elif isinstance(i, slice):
            out.append(len(range(*i.indices(shape[dim]))) if dim < len(shape) else 0)
            dim += 1
        else:
            k = len(shape) - consumed if i is Ellipsis else i.ndim if getattr(i, "dtype", None) == np.bool_ else 1
            out += shape[dim : dim + k]
            dim += k
    return out + list(shape[dim:])


def torch_index_error(exc: Exception, shape: tuple, index: Any, device: Device) -> Exception:
    """torch's IndexError for the slip in ``x[index]`` that made NumPy raise ``exc`` (``exc`` where there is none
    to name), checked in torch's order: too many indices, an int out of range, a mask's shape, index tensors that
    do not broadcast, an index tensor's value out of range (its dimension counted among the advanced dims, torch's
    numbering once they are moved to the front). Error path only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (index_arg's warnings were given once already)
        index = index_arg(index, device)
    consumed = sum(
        i.ndim if getattr(i, "dtype", None) == np.bool_ else 1
        for i in index
        if i is not None and i is not Ellipsis and i.__class__ is not bool
    )
    if consumed > len(shape):
        return IndexError(f"too many indices for tensor of dimension {len(shape)}")
    basic = _basic_shape(shape, index, consumed)
    rest: list = []  # x's dims once the ints are selected (a bool adds a size-1 dim, as torch's unsqueeze)
    arrays: list = []  # (index array, its dim in rest; a bool indexes its new dim with [0] or [])
    dim = 0
    for position, i in enumerate(index):
        if i is None:
            rest.append(1)
        elif i.__class__ is bool:
            arrays.append((np.zeros(int(i), dtype=np.int64), len(rest)))
            rest.append(1)
        elif isinstance(i, int):  # selected first, as torch's, which names its position in the index
            if not -shape[dim] <= i < shape[dim]:
                return IndexError(f"index {i} is out of bounds for dimension {position} with size {shape[dim]}")
            dim += 1
        elif hasattr(i, "dtype") and i.dtype == bool:
            for j in range(i.ndim):
                if i.shape[j] != shape[dim + j]:
                    return IndexError(
                        f"The shape of the mask {list(i.shape)} at index {j} does not match the shape of the indexed "
                        f"tensor {basic} at index {len(rest) + j}"
                    )
            mask = np.asarray(i.get() if hasattr(i, "get") else i)
            arrays += [(a, len(rest) + j) for j, a in enumerate(np.nonzero(mask))]
            rest += shape[dim : dim + i.ndim]
            dim += i.ndim
        else:  # a slice, an Ellipsis or an index array
            k = len(shape) - consumed if i is Ellipsis else 1
            if hasattr(i, "dtype"):
                arrays.append((i, len(rest)))
            if isinstance(i, slice) and dim < len(shape):  # (torch slices before it indexes)
                rest.append(len(range(*i.indices(shape[dim]))))
            else:
                rest += shape[dim : dim + k]
            dim += k
    rest += shape[dim:]
    try:
        np.broadcast_shapes(*(a.shape for a, _ in arrays))
    except ValueError:
        got = ", ".join(str(list(a.shape)) for a, _ in arrays)
        return IndexError(f"shape mismatch: indexing tensors could not be broadcast together with shapes {got}")
    for n, (a, at) in enumerate(arrays):
        a = np.asarray(a.get() if hasattr(a, "get") else a)
        bad = a[(a < -rest[at]) | (a >= rest[at])]
        if bad.size:
            return IndexError(f"index {int(bad[0])} is out of bounds for dimension {n} with size {rest[at]}")
    return exc


def _value_shape_error(exc: Exception, x: Any, value: Any, index: Any, idx: tuple, then: Any) -> Exception:
    """torch's RuntimeError for ``x[index] = value`` with a value that does not broadcast to the written region:
    index_put's "shape mismatch" where the index has tensors, lists or masks, expand's messages otherwise (leading
    size-1 dims of the value dropped first, as torch's copy_). ``exc`` where the value's shape is not the slip."""
    if not hasattr(value, "shape"):
        return exc
    region = np.broadcast_to(np.empty((), dtype=np.int8), x.shape)[idx]
    target = list((region if then is None else region[then]).shape)
    got = list(value.shape)
    try:
        np.broadcast_shapes(tuple(got), tuple(target))
    except ValueError:
        pass
    else:
        if len(got) <= len(target):
            return exc
    advanced = then is not None or any(hasattr(i, "dtype") for i in idx if i is not None)
    if advanced:
        return ShapeError(
            f"shape mismatch: value tensor of shape {got} cannot be broadcast to indexing result of shape {target}"
        )
    while len(got) > len(target) and got[0] == 1:
        got.pop(0)
    if len(got) > len(target):
        return ShapeError(
            f"expand({value.type()}{{{list(value.shape)}}}, size={target}): the number of sizes provided "
            f"({len(target)}) must be greater or equal to the number of dimensions in the tensor ({len(got)})"
        )
    for d in reversed(range(len(got))):
        t = target[d + len(target) - len(got)]
        if got[d] != 1 and got[d] != t:
            return ShapeError(
                f"The expanded size of the tensor ({t}) must match the existing size ({got[d]}) at non-singleton "
                f"dimension {d + len(target) - len(got)}.  Target sizes: {target}.  Tensor sizes: {list(value.shape)}"
            )
    return exc


def _slice(s: slice) -> slice:
    """A slice with int bounds (``operator.index``: floats raise, as torch's); torch refuses steps below 1."""
    start, stop, step = (None if v is None else _slice_int(v) for v in (s.start, s.stop, s.step))
    if step is not None and step < 1:
        raise ValueError("slice step cannot be zero" if step == 0 else "step must be greater than zero")
    return slice(start, stop, step)


def _slice_int(v: Any) -> int:
    try:
        return operator.index(v)
    except TypeError:
        if hasattr(v, "grad_fn"):
            raise
        raise TypeError("slice indices must be integers or None or have an __index__ method") from None


def where_condition(condition: Any, stacklevel: int = 3) -> Any:
    """``where``'s condition that is not a bool tensor: a uint8 one reads as a mask with torch's deprecation
    warning (``stacklevel``: the caller's frame); anything else raises torch's error."""
    if hasattr(condition, "grad_fn") and condition._data.dtype == np.uint8:
        warnings.warn(
            "where received a uint8 condition tensor. This behavior is deprecated and will be removed in a future "
            "version of PyTorch. Use a boolean condition instead.",
            UserWarning,
            stacklevel=stacklevel,
        )
        return condition != 0
    got = getattr(condition, "dtype", None)
    what = f"a tensor with dtype {_dtypes.scalar_type_name(got)}" if got is not None else type(condition).__name__
    raise DTypeError(f"where expected condition to be a boolean tensor, but got {what}")


def torch_index(index: Any, device: Device, ndim: int) -> tuple[tuple, tuple | None]:
    """``(index, then)`` for the getitem op: ``x[index][then]`` is torch's ``x[index]`` (ints are
    applied before the advanced indices; ``then`` is None where NumPy's reading already agrees)."""
    return ix.split_index(device.xp, index_arg(index, device), ndim)


def _index_put(index: Any, idx: tuple, then: Any, value: Any) -> bool:
    """Whether torch writes ``x[index] = value`` with ``index_put_``: an index with a tensor or list in it,
    except a lone bool mask given a 0-d value (torch's ``masked_fill_``)."""
    if then is None and not any(isinstance(i, np.ndarray) or hasattr(i, "__cuda_array_interface__") for i in idx):
        return False
    return not (value.ndim == 0 and hasattr(index, "dtype") and index.dtype == _dtypes.bool_)


def _half_value(value: Any, dtype: Any) -> float:
    """A Python number assigned into a float16/bfloat16 tensor, rounded to ``dtype`` as torch's copy from a
    double tensor does (beyond the range: inf, where ``fill_`` refuses)."""
    with np.errstate(over="ignore"):
        return float(np.asarray(float(value)).astype(dtype))


def _write_value(target: Any, value: Any, idx: Any, then: Any) -> Any:
    """The value of a recorded write: a Python number as it is, a tensor on the target's device and in
    its dtype, with leading size-1 dims beyond the written region dropped (NumPy's assignment rule)."""
    if not hasattr(value, "grad_fn"):
        if isinstance(value, (int, float, bool)):
            return value
        value = target.new_tensor(value)
    if value.device is not target.device:
        raise RuntimeError(
            f"__setitem__: the value is on {value.device} but the tensor is on {target.device}; move it first"
        )
    if value.dtype != target.dtype:
        value = value.to(target.dtype)
    region = np.broadcast_to(np.empty((), dtype=np.int8), target.shape)[idx]
    region_ndim = (region if then is None else region[then]).ndim
    while value.ndim > region_ndim and value.shape[0] == 1:
        value = value.reshape(value.shape[1:])
    return value
