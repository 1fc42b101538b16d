"""Indexing: ``x[index]`` with ints, slices (with steps), None, Ellipsis, integer arrays and masks.

The index is an attribute (a tuple whose array entries were taken from index Tensors). Its
gradient scatters ``gy`` back into zeros; repeated integer indices accumulate (``add.at``).
"""

from __future__ import annotations

from backprop.registry import op


def _is_advanced(index: tuple) -> bool:
    return any(hasattr(i, "dtype") or isinstance(i, list) for i in index)


def _has_int_array(index: tuple) -> bool:
    return any(hasattr(i, "dtype") and i.dtype.kind in "iu" for i in index)


@op("getitem")
def getitem(xp, x, *, index):
    """x[index] (basic indexing returns a view; advanced indexing a copy)."""
    return x[index]


@getitem.defvjp
def getitem_backward(ctx, gy):  # scatter gy back to where it was read from
    shape = ctx.input_shapes[0]
    return (ctx.call(getitem_grad, gy, index=ctx.attrs["index"], shape=shape),)


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
