"""Indexing, gathers and scatters.

``getitem``: ``x[index]`` with ints, slices (with steps), None, Ellipsis, integer arrays and masks.
The index is an attribute (a tuple whose array entries were taken from index Tensors), applied as
NumPy does; ``then`` (advanced indices applied to that result) carries torch's placement of the
advanced dims when ints and index arrays are mixed (``x[3, 2:, [1, 3]]`` is (4, 2) in torch, (2, 4)
in NumPy: torch selects the int first). Its gradient scatters ``gy`` back into zeros; repeated
integer indices accumulate (``add.at``).

``gather``/``scatter``/``scatter_add``/``scatter_reduce``/``index_select``/``index_add``/
``index_fill`` take their index as an int64 (or int32) input (torch's ``index``) and ``axis``
(torch's ``dim``); values out of range raise ``IndexError`` (negative ones too, as torch; ``index_fill`` takes them
from -size, as torch).
"""

from __future__ import annotations

import numpy as np

from backprop import dtypes as _dtypes
from backprop.backends.cupy_backend import defer_range_check
from backprop.ops._util import DTypeError, KernelIndexError, ShapeError, c_order
from backprop.registry import SparseRows, op


def _has_int_array(index: tuple) -> bool:
    return any(hasattr(i, "dtype") and i.dtype.kind in "iu" for i in index)


def split_index(xp, index: tuple, ndim: int) -> tuple[tuple, tuple | None]:
    """``(basic, then)`` such that ``x[basic][then]`` is torch's ``x[index]`` (then is None when
    NumPy's ``x[index]`` already is).

    Torch applies ints (and 0-d integer tensors) as basic indexing before the advanced indices, so
    they never join or separate the advanced dims; NumPy counts them as advanced indices. When both
    are present, ``basic`` keeps the ints, slices and Nones (index arrays become full slices), and
    ``then`` holds the arrays at their dims of ``x[basic]``; bools (``x[True]``) become a new dim
    indexed by ``[0]`` or ``[]``, as torch does.
    """
    has_array = has_int = False
    for i in index:
        if i.__class__ is bool or hasattr(i, "dtype"):
            has_array = True
        elif isinstance(i, int):
            has_int = True
    if not (has_array and has_int):
        return index, None
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = 0
    for i in index:
        if hasattr(i, "dtype"):
            consumed += i.ndim if i.dtype.kind == "b" else 1
        elif isinstance(i, (int, slice)) and i.__class__ is not bool:
            consumed += 1
    basic: list = []
    then: list = []
    for i in index:
        if i is Ellipsis:
            k = max(ndim - consumed, 0)
            basic += [slice(None)] * k
            then += [slice(None)] * k
        elif i is None:
            basic.append(None)
            then.append(slice(None))
        elif i.__class__ is bool:
            basic.append(None)
            then.append(xp.arange(int(i), dtype="int64"))
        elif hasattr(i, "dtype"):
            basic += [slice(None)] * (i.ndim if i.dtype.kind == "b" else 1)
            then.append(i)
        elif isinstance(i, slice):
            basic.append(i)
            then.append(slice(None))
        else:  # an int: selected first, as torch
            basic.append(i)
    return tuple(basic), tuple(then)


@op("getitem", view=True)
def getitem(xp, x, *, index, then=None):
    """x[index] (basic indexing returns a view; advanced indexing a C-ordered copy, as torch's), then ``[then]``."""
    y = x[index]
    if then is not None:
        return c_order(xp, y[then])
    if isinstance(y, np.generic):  # NumPy reads one element as a scalar: take it as a 0-d view, as torch's
        return x[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]
    if y.flags.c_contiguous or xp.may_share_memory(y, x):
        return y
    return xp.ascontiguousarray(y)  # (NumPy lays out x[:, [0, 2]] as its transpose)


@getitem.defvjp
def getitem_backward(ctx, gy):  # scatter gy back to where it was read from
    shape = ctx.input_shapes[0]
    index, then = ctx.attrs["index"], ctx.attrs["then"]
    if then is not None:  # x[index][then]: back through [then] into x[index]'s shape, then through [index]
        gy = ctx.call(getitem_grad, gy, index=then, shape=_basic_shape(shape, index))
    return (ctx.call(getitem_grad, gy, index=index, shape=shape),)


def _basic_shape(shape: tuple, index: tuple) -> tuple:
    """The shape of ``x[index]`` for ints, slices, None and Ellipsis (read off a stride-0 array)."""
    return np.broadcast_to(np.empty((), dtype=np.int8), shape)[index].shape


@op("getitem_grad")
def getitem_grad(xp, gy, *, index, shape):
    """zeros(shape) with gy added at ``index`` (the adjoint of getitem; repeats accumulate)."""
    gx = xp.zeros(shape, dtype=gy.dtype)
    if _has_int_array(index):
        xp.add.at(gx, index, gy)
    else:
        gx[index] = gy
    return gx


@getitem_grad.defvjp
def getitem_grad_backward(ctx, gy):  # the adjoint of a scatter is a gather
    return (ctx.call(getitem, gy, index=ctx.attrs["index"]),)


@op("embedding_sparse")
def embedding_sparse(xp, weight, *, ids, padding_idx=None, scale_grad_by_freq=False):
    """``weight``'s rows at ``ids`` (``F.embedding(..., sparse=True)``): ``weight[ids]``, a sparse gradient."""
    return weight[ids]


@embedding_sparse.defvjp
def embedding_sparse_backward(ctx, gy):  # d weight: gy's row of each lookup at its id (padding ids left out)
    ids, shape = ctx.attrs["ids"], ctx.input_shapes[0]
    if ctx.attrs["scale_grad_by_freq"]:
        raise RuntimeError("embedding_backward: scale_grad_by_freq not supported with sparse gradients")
    if ctx.create_graph:  # (a recorded, dense gradient: double backward through getitem_grad)
        return (ctx.call(getitem_grad, gy, index=(ids,), shape=shape),)
    xp = ctx.xp
    flat, rows = ids.reshape(-1).astype(xp.int64), gy.reshape(-1, shape[1])
    if ctx.attrs["padding_idx"] is not None:
        keep = flat != ctx.attrs["padding_idx"]
        flat, rows = flat[keep], rows[keep]
    # (torch's values are a view of gy where the reshape allows it: an expanded gy's are not contiguous, which
    # decides how its sparse add sums them with another gradient: SparseRows)
    contiguous = bool(rows.flags.c_contiguous)
    return (SparseRows(flat, xp.ascontiguousarray(rows), shape, xp, contiguous),)


@op("setitem")
def setitem(xp, x, v, *, index, then=None):
    """A copy of x with v written at [index] (then [then]): ``x[index] = v`` out of place, which is
    how an assignment into a tensor of a recorded graph is recorded (torch's CopySlices)."""
    out = x.copy()
    if then is None:
        out[index] = v
    else:
        out[index][then] = v
    return out


@setitem.defvjp
def setitem_backward(ctx, gy):  # x: gy with the overwritten region zeroed; v: gy read from that region
    index, then = ctx.attrs["index"], ctx.attrs["then"]
    e = ctx.needs_input_grad
    gx = ctx.call(setitem, gy, 0, index=index, then=then) if e[0] else None
    gv = None
    if len(e) > 1 and e[1]:
        gv = ctx.call(getitem, gy, index=index) if then is None else ctx.call(getitem, gy, index=index, then=then)
    return gx, gv


# ---------------------------------------------------------------- helpers of the gathers and scatters


def _grid(xp, index, axis: int) -> tuple:
    """The open mesh that reads ``x[grid]`` as torch's gather: ``index`` at ``axis``, the position
    itself at every other dim (index may be smaller than x there)."""
    nd = index.ndim
    return tuple(
        index if d == axis else xp.arange(n).reshape(tuple(n if i == d else 1 for i in range(nd)))
        for d, n in enumerate(index.shape)
    )


_OUT_OF_BOUNDS = "index {value} is out of bounds for dimension {axis} with size {size}"
_OUT_OF_SELF = "index out of range in self"  # (torch's index_select, and index_add of a vector)


def _check_range(
    xp, index, size: int, name: str, axis: int, negative: bool = False, text: str = _OUT_OF_BOUNDS
) -> None:
    """torch raises for any index outside [0, size) (negative ones included; ``index_fill`` takes
    [-size, size), as Python), naming the first bad one in C order, in ``text`` (torch's words for the op).
    On CuPy the check is deferred (no host read in the op: raised at the next read-back, as cross_entropy's);
    CuPy's gathers and scatters wrap an out-of-range index meanwhile rather than read outside the array."""
    if index.size == 0:
        return
    least = -size if negative else 0
    msg = text.format(value="{value}", axis=axis, size=size)
    if defer_range_check(xp, f"{name}()", index, least, size - 1, msg):
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < least or hi >= size:
        bad = int(index[(index < least) | (index >= size)][0])
        raise KernelIndexError(msg.format(value=bad))


def check_in_self(xp, index, size: int, name: str) -> None:
    """torch's IndexError "index out of range in self" for an index outside [0, size) (index_reduce's; the
    check deferred on CuPy as ``_check_range``'s)."""
    _check_range(xp, index, size, name, 0, text=_OUT_OF_SELF)


def _int_index(name: str, index) -> None:
    """torch takes int64 or int32 index tensors (nothing else: not bool, uint8 or floats)."""
    if getattr(index, "dtype", None) is None or index.dtype not in ("int64", "int32"):
        raise DTypeError(index_dtype_message(name, getattr(index, "dtype", type(index))))


def index_dtype_message(name: str, dtype) -> str:
    """torch's words for an index tensor of a dtype other than int64/int32, by op family (``name`` may be
    the in-place or out-of-place spelling)."""
    base = name.rstrip("_")
    if base in ("gather", "scatter", "scatter_add", "scatter_reduce"):  # (torch: scatter() for all three)
        return f"{base.split('_')[0]}(): Expected dtype int32/int64 for index"
    if base in ("index_add", "index_reduce"):  # (torch names the in-place kernel either way)
        return f"{base}_(): Expected dtype int32/int64 for index but got: {_dtypes.scalar_type_name(dtype)}"
    if base == "index_select":
        return "index_select(): Expected dtype int32 or int64 for index"
    return f"{name}(): Expected dtype int32/int64 for index, got {dtype}"


def check_index_source(func: str, x, n_index: int, src, axis: int) -> None:
    """torch's checks of ``source`` in ``index_add``/``index_reduce`` (``func``), in its order and words:
    ``x``'s dtype, then dimension ``axis`` of ``source`` of size ``n_index``, the other dims as ``x``'s."""
    if src.dtype != x.dtype:
        sx, ss = _dtypes.scalar_type_name(x.dtype), _dtypes.scalar_type_name(src.dtype)
        raise DTypeError(f"{func}_(): self ({sx}) and source ({ss}) must have the same scalar type")
    if axis != 0 and axis >= src.ndim:
        raise ShapeError(f"{func}_(): Indexing dim {axis} is out of bounds of the source tensor with dim {src.ndim}")
    n = src.shape[axis] if src.ndim else 1
    if n_index != n:
        raise ShapeError(
            f"{func}_(): Number of indices ({n_index}) should be equal to source.size(dim): ({n}), for dim: {axis}"
        )
    rest_x, rest_src = list(x.shape), list(src.shape)
    if x.ndim and src.ndim:
        del rest_x[axis], rest_src[axis]
    if rest_x != rest_src:
        raise ShapeError(
            "source tensor shape must match self tensor shape, excluding the specified dimension. "
            f"Got self.shape = {list(x.shape)} source.shape = {list(src.shape)}"
        )


def _nd(a):
    """``a`` with a 0-d array read as a 1-element one (a view), as torch's ``ensure_nonempty_dim``."""
    return a.reshape(1) if a.ndim == 0 else a


def _same_ndim(name: str, what: str, a, index) -> None:
    if max(index.ndim, 1) != max(a.ndim, 1):  # (a 0-d tensor counts as a 1-element one, as torch's)
        raise ShapeError(
            f"{name}(): Index tensor must have the same number of dimensions as {what} tensor "
            f"(index {tuple(index.shape)}, {what} {tuple(a.shape)})"
        )


def _check_gather(x, index, *, axis):
    if index.size == 0:  # (torch checks nothing of an empty index: any dtype, any number of dims)
        return
    _int_index("gather", index)
    _same_ndim("gather", "input", x, index)
    for d in range(index.ndim):
        if d != axis % index.ndim and index.shape[d] > x.shape[d]:
            raise ShapeError(
                f"gather(): Size does not match at dimension {d} expected index {list(index.shape)} to be "
                f"no larger than self {list(x.shape)} apart from dimension {axis}"
            )


def _check_scatter(name: str):
    def check(x, index, src=None, *, axis, **attrs):
        _int_index(name, index)
        _same_ndim(name, "self", x, index)
        a = axis % max(index.ndim, 1)
        wrong = any(d != a and index.shape[d] > x.shape[d] for d in range(index.ndim))
        has_src = hasattr(src, "dtype")
        if has_src:
            _same_ndim(name, "src", src, index)
            wrong = wrong or any(i > s for i, s in zip(_nd(index).shape, _nd(src).shape))
        if wrong:  # (torch's words, one text for both: which operand is too small is left to the reader)
            of_src = f" and to be no larger size than src {list(src.shape)}" if has_src else ""
            raise ShapeError(
                f"Expected index {list(index.shape)} to be no larger than self {list(x.shape)} "
                f"apart from dimension {axis}{of_src}"
            )
        if has_src:
            if src.dtype != x.dtype:
                raise DTypeError(f"{name.split('_')[0]}(): Expected self.dtype to be equal to src.dtype")

    return check


def _head(a, shape: tuple):
    """``a``'s leading block of ``shape`` (src may be larger than index in every dim, as torch)."""
    if tuple(a.shape) == tuple(shape):
        return a
    return a[tuple(slice(0, n) for n in shape)]


def _src_grad(ctx, g, index_shape: tuple, src_shape: tuple):
    """``g`` (index-shaped) as the gradient of a src of ``src_shape``: zeros beyond the index's block
    (a 0-d index or src counts as a 1-element one)."""
    if tuple(index_shape) == tuple(src_shape):
        return g
    if not src_shape:  # (a 1-element index)
        return ctx.xp.reshape(g, ())
    if not index_shape:
        g, index_shape = ctx.xp.reshape(g, (1,)), (1,)
    return ctx.call(getitem_grad, g, index=tuple(slice(0, n) for n in index_shape), shape=tuple(src_shape))


def _src_block(ctx, src, index):
    """src's leading block of index's shape (scatter_reduce's backward; 0-d ones as 1-element ones)."""
    if tuple(src.shape) == tuple(index.shape):
        return src
    if src.ndim == 0:
        return ctx.xp.reshape(src, index.shape)
    block = ctx.call(getitem, src, index=tuple(slice(0, n) for n in (index.shape or (1,))))
    return ctx.xp.reshape(block, ()) if index.ndim == 0 else block


def _reduce_at(xp, out, where: tuple, values, how: str) -> None:
    """``out[where] = how(out[where], values)`` with repeated positions combined (``ufunc.at``).

    ``add``, ``maximum`` and ``minimum`` use ``ufunc.at`` (NumPy, and CuPy from v12); ``multiply``,
    which CuPy lacks, goes round by round over the repeats (each round writes distinct positions),
    with sorting and fancy indexing only.
    """
    if how != "multiply":
        getattr(xp, how).at(out, where, values)
        return
    where = xp.broadcast_arrays(*where)
    lin = xp.ravel_multi_index(tuple(where), out.shape).reshape(-1)
    if lin.size == 0:
        return
    vals = xp.broadcast_to(values, where[0].shape).reshape(-1)
    flat = out.reshape(-1)  # out is a fresh contiguous copy: a view
    order = xp.argsort(lin, kind="stable")
    lin, vals = lin[order], vals[order]
    rank = xp.arange(lin.size) - xp.searchsorted(lin, lin, side="left")
    fn = getattr(xp, how)
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        pos = lin[sel]
        flat[pos] = fn(flat[pos], vals[sel])


# ---------------------------------------------------------------- gather and its adjoint


@op("gather", save_inputs=(1,), check=_check_gather)
def gather(xp, x, index, *, axis):
    """out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (torch.gather; index int64, x's ndim, no
    larger than x apart from ``axis``)."""
    if index.size == 0:  # (an empty index of any dtype and ndim, as torch's)
        return xp.empty(index.shape, dtype=x.dtype)
    x1 = _nd(x)
    axis %= x1.ndim
    _check_range(xp, index, x1.shape[axis], "gather", axis)
    y = x1[_grid(xp, _nd(index), axis)]
    return y.reshape(()) if index.ndim == 0 else y


@gather.defvjp
def gather_backward(ctx, gy):  # the adjoint of a gather is a scatter_add into zeros
    (index,) = ctx.saved
    return ctx.call(gather_grad, gy, index, axis=ctx.attrs["axis"], shape=ctx.input_shapes[0]), None


@op("gather_grad", save_inputs=(1,))
def gather_grad(xp, gy, index, *, axis, shape):
    """zeros(shape).scatter_add(axis, index, gy): gather's adjoint (repeated indices accumulate)."""
    gx = xp.zeros(shape, dtype=gy.dtype)
    if index.size:
        xp.add.at(_nd(gx), _grid(xp, _nd(index), axis % max(len(shape), 1)), _nd(gy))
    return gx


@gather_grad.defvjp
def gather_grad_backward(ctx, gy):  # the adjoint of the scatter is the gather
    (index,) = ctx.saved
    return ctx.call(gather, gy, index, axis=ctx.attrs["axis"]), None


# ---------------------------------------------------------------- scatters


def _scatter_prep(xp, x, index, src, axis, name):
    """(a copy of x, the grid, src's block or the scalar) after torch's range check; a 0-d x, index
    or src is read as a 1-element one."""
    out = x.copy()
    axis %= max(x.ndim, 1)
    _check_range(xp, index, _nd(x).shape[axis], name, axis)
    index = _nd(index)
    grid = _grid(xp, index, axis)
    return out, grid, (_head(_nd(src), index.shape) if hasattr(src, "dtype") else src)


@op("scatter", save_inputs=(1,), check=_check_scatter("scatter"))
def scatter(xp, x, index, src, *, axis):
    """x with ``src`` (a tensor, or a number) written at ``index`` along ``axis`` (torch.scatter; with
    repeated positions one of the writes wins)."""
    out, grid, s = _scatter_prep(xp, x, index, src, axis, "scatter")
    _nd(out)[grid] = s
    return out


@scatter.defvjp
def scatter_backward(ctx, gy):  # overwritten entries get no gradient; src gets gy read back at index
    (index,) = ctx.saved
    axis = ctx.attrs["axis"]
    need = ctx.needs_input_grad
    gx = ctx.call(scatter, gy, index, 0.0, axis=axis) if need[0] else None
    gs = None
    if need[2]:
        gs = _src_grad(ctx, ctx.call(gather, gy, index, axis=axis), index.shape, ctx.input_shapes[2])
    return gx, None, gs


@op("scatter_add", save_inputs=(1,), check=_check_scatter("scatter_add"))
def scatter_add(xp, x, index, src, *, axis):
    """x with ``src`` added at ``index`` along ``axis`` (repeats accumulate; torch.scatter_add)."""
    out, grid, s = _scatter_prep(xp, x, index, src, axis, "scatter_add")
    xp.add.at(_nd(out), grid, s)
    return out


@scatter_add.defvjp
def scatter_add_backward(ctx, gy):  # d/dx = identity; d/dsrc = gy gathered at index (its adjoint)
    (index,) = ctx.saved
    need = ctx.needs_input_grad
    gs = None
    if need[2]:
        g = ctx.call(gather, gy, index, axis=ctx.attrs["axis"])
        gs = _src_grad(ctx, g, index.shape, ctx.input_shapes[2])
    return (gy if need[0] else None), None, gs


_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _check_scatter_reduce(x, index, src, *, axis, reduce, include_self=True, one_at_a_time=False):
    if reduce not in _REDUCES:
        raise ValueError(f"scatter_reduce(): reduce argument must be one of {', '.join(_REDUCES)}, got {reduce!r}")
    _check_scatter("scatter_reduce")(x, index, src, axis=axis)


def _extreme(xp, dtype, high: bool):
    if _dtypes.kind(dtype) == "f":
        return xp.inf if high else -xp.inf
    if dtype.kind == "b":
        return high
    info = xp.iinfo(dtype)
    return info.max if high else info.min


@op("scatter_reduce", save_inputs=(0, 1, 2), save_output=True, check=_check_scatter_reduce)
def scatter_reduce(xp, x, index, src, *, axis, reduce, include_self=True, one_at_a_time=False):
    """x with ``src`` reduced into it at ``index`` along ``axis``: ``reduce`` is "sum", "prod", "mean",
    "amax" or "amin"; ``include_self=False`` leaves x's own values out at the scattered positions.

    float16/bfloat16 (NumPy) compute in float32 and round once, as torch's scatter_reduce; with
    ``one_at_a_time`` (index_reduce) "prod" and "mean" reduce in that dtype, one src entry at a time in
    index order, and divide by a count of that dtype, as torch's CPU index_reduce (the registry passes
    half arrays here: ``registry._OWN_HALF_PATH``)."""
    h = x.dtype if x.__class__ is np.ndarray and x.dtype.itemsize == 2 and _dtypes.kind(x.dtype) == "f" else None
    if h is not None and not (one_at_a_time and reduce in ("prod", "mean")):
        up = src.astype(np.float32) if getattr(src, "dtype", None) == h else src
        return _scatter_reduce(xp, x.astype(np.float32), index, up, axis, reduce, include_self, None).astype(h)
    return _scatter_reduce(xp, x, index, src, axis, reduce, include_self, h)


def _scatter_reduce(xp, x, index, src, axis, reduce, include_self, h):
    out, grid, s = _scatter_prep(xp, x, index, src, axis, "scatter_reduce")
    if not include_self:
        init = {"sum": 0, "mean": 0, "prod": 1, "amax": None, "amin": None}[reduce]
        _nd(out)[grid] = _extreme(xp, x.dtype, reduce == "amin") if init is None else init
    how = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}[reduce]
    _reduce_at(xp, _nd(out), grid, s, how)
    if reduce == "mean":
        count = xp.full(x.shape, 1 if include_self else 0, dtype="int64" if h is None else h)
        xp.add.at(_nd(count), grid, count.dtype.type(1))  # (a half count saturates as torch's)
        count = xp.maximum(count, count.dtype.type(1))
        out = (out // count if x.dtype.kind in "iub" else out / count).astype(x.dtype, copy=False)
    return out


@scatter_reduce.defvjp
def scatter_reduce_backward(ctx, gy):  # torch's scatter_reduce_backward (FunctionsManual.cpp)
    x, index, src, result = ctx.saved
    a = ctx.attrs
    axis, reduce, include_self = a["axis"], a["reduce"], a["include_self"]
    xp = ctx.xp
    shape = ctx.input_shapes[0]
    src_shape = ctx.input_shapes[2]
    src = _src_block(ctx, src, index)

    def gat(v):
        return ctx.call(gather, v, index, axis=axis)

    def count(mask):  # how many (masked) src entries land on each position of x
        return ctx.call(scatter_count, index, mask, axis=axis, shape=shape, dtype=gy.dtype)

    if reduce == "sum":
        gx, gs = gy, gat(gy)
    elif reduce == "mean":
        n = count(True) + (1 if include_self else 0)
        n = xp.where(n == 0, 1, n)
        gx, gs = gy / n, gat(gy) / gat(n)
    elif reduce == "prod":
        # d/dx: the product of the others (x = 0 replaced by 1, so zeros in x are exact)
        masked_x = xp.where(x == 0, 1, x)
        masked_x_result = ctx.call(
            scatter_reduce, masked_x, index, src, axis=axis, reduce="prod", include_self=include_self
        )
        gx = gy * masked_x_result / masked_x
        # d/dsrc: result / src, except for a src that is the only zero of its position: the product
        # of the others there (with that src replaced by 1)
        src_zero = src == 0
        single_zero = src_zero & (gat(count(src_zero)) == 1)
        masked_src = xp.where(single_zero, 1, src)
        masked_src_result = ctx.call(
            scatter_reduce, x, index, masked_src, axis=axis, reduce="prod", include_self=include_self
        )
        gs = xp.where(single_zero, gat(gy * masked_src_result), gat(gy * result) / xp.where(src_zero, 1, src))
    else:  # amax / amin: shared evenly by the entries equal to the result (x's own included)
        value = gat(result)
        x_is = x == result
        src_is = src == value
        n = xp.where(x_is, 1, 0) + count(src_is)
        share = gy / xp.where(n == 0, 1, n)
        gx = xp.where(x_is, share, 0)
        gs = xp.where(src_is, gat(share), 0)
    need = ctx.needs_input_grad
    if need[0] and not include_self:  # x's values at the scattered positions were left out
        gx = ctx.call(scatter, gx, index, 0.0, axis=axis)
    gs = _src_grad(ctx, gs, index.shape, src_shape) if need[2] else None
    return (gx if need[0] else None), None, gs


@op("scatter_count")
def scatter_count(xp, index, mask, *, axis, shape, dtype="float64"):
    """How many entries of ``index`` (those where ``mask``; ``True``: all) point at each position of a
    tensor of ``shape`` along ``axis`` (scatter_reduce's mean and amax/amin gradients; no gradient)."""
    out = xp.zeros(shape, dtype=dtype)
    ones = mask.astype(dtype) if hasattr(mask, "dtype") else xp.full(index.shape, bool(mask), dtype=dtype)
    xp.add.at(_nd(out), _grid(xp, _nd(index), axis % max(len(shape), 1)), _nd(ones))
    return out


# ---------------------------------------------------------------- index_select / index_add / index_fill


def _check_index_vector(name: str):
    def check(x, index, *rest, axis, **attrs):
        _int_index(name, index)
        if index.ndim != 1:  # (the methods pass a 0-d index as a 1-element one)
            raise ShapeError(f"{name}(): Index is supposed to be a vector, got shape {tuple(index.shape)}")
        if x.ndim == 0 and index.size != 1 and name != "index_fill":
            raise ShapeError(f"{name}(): Index to a 0-d tensor can have only 1 value, got {index.size} value(s)")
        if rest and name == "index_add":
            check_index_source("index_add", x, index.size, rest[0], axis % max(x.ndim, 1))

    return check


def _along(axis: int, index) -> tuple:
    return (slice(None),) * axis + (index,)


@op("index_select", save_inputs=(1,), check=_check_index_vector("index_select"))
def index_select(xp, x, index, *, axis):
    """x's slices at ``index`` (a vector) along ``axis`` (torch.index_select)."""
    if x.ndim == 0:  # (a 1-element index into a 0-d tensor: a 0-d result, as torch's)
        _check_range(xp, index, 1, "index_select", 0, text=_OUT_OF_SELF)
        return xp.take(x.reshape(1), index, axis=0).reshape(())
    axis %= x.ndim
    _check_range(xp, index, x.shape[axis], "index_select", axis, text=_OUT_OF_SELF)
    return xp.take(x, index, axis=axis)


@index_select.defvjp
def index_select_backward(ctx, gy):  # the adjoint: gy added back at index (repeats accumulate)
    (index,) = ctx.saved
    return ctx.call(index_select_grad, gy, index, axis=ctx.attrs["axis"], shape=ctx.input_shapes[0]), None


@op("index_select_grad", save_inputs=(1,))
def index_select_grad(xp, gy, index, *, axis, shape):
    """zeros(shape).index_add(axis, index, gy): index_select's adjoint."""
    gx = xp.zeros(shape, dtype=gy.dtype)
    xp.add.at(_nd(gx), _along(axis % max(len(shape), 1), index), _nd(gy))
    return gx


@index_select_grad.defvjp
def index_select_grad_backward(ctx, gy):
    (index,) = ctx.saved
    return ctx.call(index_select, gy, index, axis=ctx.attrs["axis"]), None


@op("index_add", save_inputs=(1,), check=_check_index_vector("index_add"))
def index_add(xp, x, index, src, *, axis, alpha=1):
    """x with ``alpha * src`` added at ``index`` (a vector) along ``axis``; repeats accumulate."""
    out = x.copy()
    s = src if alpha == 1 else (src * alpha).astype(x.dtype, copy=False)
    axis %= max(x.ndim, 1)
    _check_range(xp, index, _nd(x).shape[axis], "index_add", axis, text=_OUT_OF_SELF if x.ndim < 2 else _OUT_OF_BOUNDS)
    xp.add.at(_nd(out), _along(axis, index), _nd(s))
    return out


@index_add.defvjp
def index_add_backward(ctx, gy):  # d/dx = identity; d/dsrc = alpha * gy at index
    (index,) = ctx.saved
    need = ctx.needs_input_grad
    alpha = ctx.attrs["alpha"]
    gs = None
    if need[2]:
        gs = ctx.call(index_select, gy, index, axis=ctx.attrs["axis"])
        if alpha != 1:
            gs = gs * alpha
    return (gy if need[0] else None), None, gs


@op("index_fill", save_inputs=(1,), check=_check_index_vector("index_fill"))
def index_fill(xp, x, index, value, *, axis):
    """x with its slices at ``index`` along ``axis`` set to ``value`` (a number or a 0-d tensor)."""
    if hasattr(value, "ndim") and value.ndim != 0:
        raise ValueError(f"index_fill(): value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
    out = x.copy()
    axis %= max(x.ndim, 1)
    _check_range(xp, index, _nd(x).shape[axis], "index_fill", axis, negative=True)
    _nd(out)[_along(axis, index)] = value
    return out


@index_fill.defvjp
def index_fill_backward(ctx, gy):  # filled slices: no gradient to x, their sum to value
    (index,) = ctx.saved
    need = ctx.needs_input_grad
    gx = ctx.call(index_fill, gy, index, 0.0, axis=ctx.attrs["axis"])
    gv = ctx.xp.sum(gy - gx) if need[2] else None
    return (gx if need[0] else None), None, gv


def _check_index_copy(x, index, src, *, axis):
    _check_index_vector("index_copy")(x, index, axis=axis)
    a = axis % max(x.ndim, 1)
    want = tuple(index.size if d == a else n for d, n in enumerate(x.shape))
    if tuple(src.shape) != want and not (x.ndim == 0 and src.size == 1 and src.ndim <= 1):
        raise ShapeError(
            f"index_copy(): source {tuple(src.shape)} must have the shape of self {tuple(x.shape)} with "
            f"dimension {axis} of size {index.size} (the number of indices), i.e. {want}"
        )
    if src.dtype != x.dtype:
        raise DTypeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{_dtypes.scalar_type_name(x.dtype)} and (source) {_dtypes.scalar_type_name(src.dtype)}"
        )


@op("index_copy", save_inputs=(1,), check=_check_index_copy)
def index_copy(xp, x, index, src, *, axis):
    """x with its slices at ``index`` (a vector) along ``axis`` replaced by ``src``'s (torch.index_copy;
    with repeated indices one of the writes wins)."""
    out = x.copy()
    axis %= max(x.ndim, 1)
    _check_range(xp, index, _nd(x).shape[axis], "index_copy", axis, text="index_copy_(): " + _OUT_OF_BOUNDS)
    _nd(out)[_along(axis, index)] = _nd(src)
    return out


@index_copy.defvjp
def index_copy_backward(ctx, gy):  # replaced slices: no gradient to x; src gets gy read back at index
    (index,) = ctx.saved
    need = ctx.needs_input_grad
    axis = ctx.attrs["axis"]
    gx = ctx.call(index_fill, gy, index, 0.0, axis=axis) if need[0] else None
    gs = None
    if need[2]:
        gs = ctx.call(index_select, gy, index, axis=axis)
        if tuple(gs.shape) != tuple(ctx.input_shapes[2]):  # (a 0-d self written from a 1-element source)
            gs = ctx.xp.reshape(gs, ctx.input_shapes[2])
    return gx, None, gs


def _check_index_put(x, values, index, *, dims, accumulate=False):
    _int_index("index_put", index)
    if index.ndim != 1 or not 0 <= dims <= x.ndim:
        raise ShapeError(f"index_put(): expected a flat index into the first {dims} dims, got {tuple(index.shape)}")
    if hasattr(values, "dtype"):
        want = (index.size, *x.shape[dims:])
        if tuple(values.shape) != want:
            raise ShapeError(f"index_put(): values {tuple(values.shape)} must have shape {want}")
        if values.dtype != x.dtype:
            sx, sv = _dtypes.scalar_type_name(x.dtype), _dtypes.scalar_type_name(values.dtype)
            raise DTypeError(  # (torch's words)
                f"Index put requires the source and destination dtypes match, got {sx} for the destination "
                f"and {sv} for the source."
            )


@op("index_put", save_inputs=(2,), check=_check_index_put)
def index_put(xp, x, values, index, *, dims, accumulate=False):
    """x with ``values`` written (``accumulate``: added, repeats accumulating) at ``index``, a flat
    (row-major) index into x's first ``dims`` dims: ``index_put``, ``put``, ``masked_scatter``,
    ``diagonal_scatter`` and ``fill_diagonal_`` all reduce to it. ``values`` has shape
    (len(index), *x.shape[dims:]) or is a number."""
    out = xp.array(x, copy=True, order="C")
    lead = 1
    for n in x.shape[:dims]:
        lead *= n
    _check_range(xp, index, lead, "index_put", 0)  # (the methods wrap negative indices first)
    flat = out.reshape((lead, *x.shape[dims:]))  # a view of the fresh C-ordered copy
    if accumulate:
        xp.add.at(flat, index, values)
    else:
        flat[index] = values
    return out


@index_put.defvjp
def index_put_backward(ctx, gy):  # written entries: no gradient to x (unless accumulated); values read gy
    (index,) = ctx.saved
    need = ctx.needs_input_grad
    a = ctx.attrs
    gx = None
    if need[0]:
        gx = gy if a["accumulate"] else ctx.call(index_put, gy, 0.0, index, dims=a["dims"])
    gv = None
    if need[1]:
        rows = ctx.xp.reshape(gy, (-1, *ctx.input_shapes[0][a["dims"] :]))
        gv = ctx.call(index_select, rows, index, axis=0)
    return gx, gv, None


# ---------------------------------------------------------------- masks


def _check_mask(name: str):
    def check(x, mask, *rest, **attrs):
        if getattr(mask, "dtype", None) is None or mask.dtype.kind != "b":
            raise DTypeError(f"{name}(): expected a bool tensor as mask, got {getattr(mask, 'dtype', type(mask))}")
        if rest and hasattr(rest[0], "ndim") and rest[0].ndim != 0:
            raise ShapeError(
                f"{name}_ only supports a 0-dimensional value tensor, but got tensor with {rest[0].ndim} dimension(s)."
            )

    return check


@op("masked_fill", save_inputs=(1,), check=_check_mask("masked_fill"))
def masked_fill(xp, x, mask, value):
    """``value`` (a number or a 0-d tensor, cast to x's dtype) where ``mask``, else x (broadcast)."""
    out = xp.where(mask, value, x)
    return c_order(xp, out.astype(x.dtype, copy=False))


@masked_fill.defvjp
def masked_fill_backward(ctx, gy):  # x keeps gy off the mask; value gets the sum on the mask
    (mask,) = ctx.saved
    need = ctx.needs_input_grad
    xp = ctx.xp
    gx = xp.where(mask, 0, gy) if need[0] else None
    gv = xp.sum(xp.where(mask, gy, 0)) if need[2] else None
    return gx, None, gv


@op("nonzero")
def nonzero(xp, x):
    """The indices of the non-zero elements, one row each: shape (n, ndim), int64 (no gradient)."""
    return xp.argwhere(x).astype("int64", copy=False)
