"""Shape ops: reshape, permute, broadcast (expand), concatenate and stack.

``view``, ``flatten``, ``squeeze`` and ``unsqueeze`` are all ``reshape`` with a computed shape,
and ``transpose`` / ``.T`` are ``permute``: fewer primitives, one gradient rule each.
"""

from __future__ import annotations

from backprop.ops._util import ShapeError, ShapeIndexError, c_order
from backprop.registry import op


@op("reshape", view=True)
def reshape(xp, x, *, shape, named=None):
    """x with a new shape of the same size (a view where the layout allows); ``named``: torch's name
    of the node where it is not ``ViewBackward0`` (``squeeze``, ``unsqueeze``: see ``node_names``)."""
    return xp.reshape(x, shape)


@reshape.defvjp
def reshape_backward(ctx, gy):
    return (ctx.xp.reshape(gy, ctx.input_shapes[0]),)


@op("permute", view=True)
def permute(xp, x, *, axes, named=None):
    """x with its dimensions reordered to ``axes``; ``named``: torch's name of the node where it is not
    ``PermuteBackward0`` (``t``, ``transpose``)."""
    return xp.transpose(x, axes)


@permute.defvjp
def permute_backward(ctx, gy):  # undo the permutation with its inverse
    axes = ctx.attrs["axes"]
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (ctx.xp.transpose(gy, tuple(inverse)),)


@op("expand", view=True)
def expand(xp, x, *, shape):
    """x broadcast to ``shape`` (a read-only view, no copy)."""
    return xp.broadcast_to(x, shape)


@expand.defvjp
def expand_backward(ctx, gy):  # the engine sums the broadcast dims back to x's shape
    return (gy,)


def _check_cat(*xs, axis=0):
    """Same rank and sizes but along ``axis``, with torch's messages (numbering the tensors from 0)."""
    if not xs:
        raise ShapeError("cat: expected a non-empty sequence of tensors")
    for i, x in enumerate(xs):
        if x.ndim == 0:
            raise ShapeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    ref = xs[0]
    n = ref.ndim
    if not -n <= axis < n:
        raise ShapeIndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {axis})")
    for i, x in enumerate(xs[1:], 1):
        if x.ndim != ref.ndim:
            raise ShapeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {x.ndim}")
        for d, (a, b) in enumerate(zip(ref.shape, x.shape)):
            if a != b and d != axis % ref.ndim:
                raise ShapeError(
                    f"Sizes of tensors must match except in dimension {axis % ref.ndim}. Expected size {a} but got "
                    f"size {b} for tensor number {i} in the list."
                )


@op("cat", check=_check_cat)
def cat(xp, *xs, axis=0):
    """Concatenation along an existing ``axis``."""
    return c_order(xp, xp.concatenate(xs, axis=axis))


@cat.defvjp
def cat_backward(ctx, gy):  # each input gets its slice of gy
    axis = ctx.attrs["axis"] % gy.ndim
    grads = []
    start = 0
    for needed, shape in zip(ctx.needs_input_grad, ctx.input_shapes):
        size = shape[axis]
        if not needed:
            grads.append(None)
        else:
            grads.append(gy[(slice(None),) * axis + (slice(start, start + size),)])
        start += size
    return tuple(grads)


@op("stack")
def stack(xp, *xs, axis=0):
    """Stacking along a new ``axis``."""
    return c_order(xp, xp.stack(xs, axis=axis))


@stack.defvjp
def stack_backward(ctx, gy):  # input i gets gy[..., i, ...] along the new axis
    axis = ctx.attrs["axis"] % gy.ndim
    return tuple(gy[(slice(None),) * axis + (i,)] if needed else None for i, needed in enumerate(ctx.needs_input_grad))


# ---------------------------------------------------------------- flips, rolls, triangles, diagonals


@op("flip")
def flip(xp, x, *, axis):
    """x reversed along the dims in ``axis`` (a tuple of non-negative dims)."""
    if not axis or x.ndim == 0:
        return xp.array(x, copy=True)  # torch's flip always copies
    return xp.flip(x, axis=axis).copy()


@flip.defvjp
def flip_backward(ctx, gy):  # a flip is its own inverse (and adjoint)
    return (ctx.call(flip, gy, axis=ctx.attrs["axis"]),)


@op("roll")
def roll(xp, x, *, shifts, axis=None):
    """x rolled by ``shifts`` along ``axis`` (a tuple), or over the flattened tensor when axis is None."""
    if x.ndim == 0:
        return xp.array(x, copy=True)
    return c_order(xp, xp.roll(x, shifts, axis=axis))


@roll.defvjp
def roll_backward(ctx, gy):  # undo the roll: the same roll with negated shifts
    shifts = ctx.attrs["shifts"]
    neg = -shifts if isinstance(shifts, int) else tuple(-s for s in shifts)
    return (ctx.call(roll, gy, shifts=neg, axis=ctx.attrs["axis"]),)


def _tri_mask(xp, shape, diagonal, lower):
    """The (rows, cols) mask of the lower (col - row <= k) or upper (col - row >= k) triangle."""
    n, m = shape[-2], shape[-1]
    d = xp.arange(m)[None, :] - xp.arange(n)[:, None]
    return d <= diagonal if lower else d >= diagonal


def _check_tri(x, *, diagonal=0, name="tril"):
    if x.ndim < 2:
        raise ShapeError(f"{name}: input tensor must have at least 2 dimensions, got shape {tuple(x.shape)}")


def _check_tril(x, *, diagonal=0):
    _check_tri(x, name="tril")


def _check_triu(x, *, diagonal=0):
    _check_tri(x, name="triu")


@op("tril", check=_check_tril)
def tril(xp, x, *, diagonal=0):
    """The lower triangle of the last two dims (col - row <= diagonal); the rest zero."""
    return c_order(xp, xp.where(_tri_mask(xp, x.shape, diagonal, True), x, xp.zeros((), dtype=x.dtype)))


@tril.defvjp
def tril_backward(ctx, gy):  # the gradient is masked by the same triangle
    return (ctx.call(tril, gy, diagonal=ctx.attrs["diagonal"]),)


@op("triu", check=_check_triu)
def triu(xp, x, *, diagonal=0):
    """The upper triangle of the last two dims (col - row >= diagonal); the rest zero."""
    return c_order(xp, xp.where(_tri_mask(xp, x.shape, diagonal, False), x, xp.zeros((), dtype=x.dtype)))


@triu.defvjp
def triu_backward(ctx, gy):
    return (ctx.call(triu, gy, diagonal=ctx.attrs["diagonal"]),)


def _diag_index(xp, n1, n2, offset):
    """Row and column indices of diagonal ``offset`` of an (n1, n2) matrix."""
    length = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    i = xp.arange(length)
    return (i - offset, i) if offset < 0 else (i, i + offset)


@op("diagonal", view=True)
def diagonal(xp, x, *, offset=0, dim1=0, dim2=1):
    """The diagonal ``offset`` of the (dim1, dim2) planes, as a new last dim (non-negative, distinct dims)."""
    d = xp.diagonal(x, offset, dim1, dim2)
    flags = getattr(d, "flags", None)
    if not getattr(flags, "writeable", True) and x.flags.writeable:  # NumPy's is read-only; torch's is writable
        flags.writeable = True
    return d


@diagonal.defvjp
def diagonal_backward(ctx, gy):  # the adjoint writes gy into the same diagonal of a zero tensor
    a = ctx.attrs
    shape = ctx.input_shapes[0]
    d1, d2 = a["dim1"], a["dim2"]
    return (ctx.call(diag_embed, gy, offset=a["offset"], dim1=d1, dim2=d2, sizes=(shape[d1], shape[d2])),)


@op("diag_embed")
def diag_embed(xp, x, *, offset=0, dim1=-2, dim2=-1, sizes=None):
    """Zeros with x's last dim written on diagonal ``offset`` of the new (dim1, dim2) planes.

    ``sizes`` (the two new dims' lengths) defaults to the square n + |offset|; ``diagonal``'s
    gradient passes its input's sizes. dim1, dim2 index the output and must be distinct."""
    n = x.shape[-1] if x.ndim else 1
    if sizes is None:
        sizes = (n + abs(offset), n + abs(offset))
    out_ndim = max(x.ndim, 1) + 1
    d1, d2 = dim1 % out_ndim, dim2 % out_ndim
    batch = list(x.shape[:-1])
    shape = []
    for d in range(out_ndim):
        shape.append(sizes[0] if d == d1 else sizes[1] if d == d2 else batch.pop(0))
    out = xp.zeros(tuple(shape), dtype=x.dtype)
    rows, cols = _diag_index(xp, sizes[0], sizes[1], offset)
    view = xp.moveaxis(out, (d1, d2), (-2, -1))
    view[..., rows, cols] = x[..., : rows.shape[0]] if x.ndim else x
    return out


@diag_embed.defvjp
def diag_embed_backward(ctx, gy):  # the adjoint reads the diagonal back
    a = ctx.attrs
    nd = gy.ndim
    return (ctx.call(diagonal, gy, offset=a["offset"], dim1=a["dim1"] % nd, dim2=a["dim2"] % nd),)
