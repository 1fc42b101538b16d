"""Shape ops: reshape, permute, broadcast (expand), concatenate and stack.

``view``, ``flatten``, ``squeeze`` and ``unsqueeze`` are all ``reshape`` with a computed shape,
and ``transpose`` / ``.T`` are ``permute``: fewer primitives, one gradient rule each.
"""

from __future__ import annotations

from backprop.ops._util import ShapeError
from backprop.registry import op


@op("reshape")
def reshape(xp, x, *, shape):
    """x with a new shape of the same size (a view where the layout allows)."""
    return xp.reshape(x, shape)


@reshape.defvjp
def reshape_backward(ctx, gy):
    return (ctx.xp.reshape(gy, ctx.input_shapes[0]),)


@op("permute")
def permute(xp, x, *, axes):
    """x with its dimensions reordered to ``axes``."""
    return xp.transpose(x, axes)


@permute.defvjp
def permute_backward(ctx, gy):  # undo the permutation with its inverse
    axes = ctx.attrs["axes"]
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (ctx.xp.transpose(gy, tuple(inverse)),)


@op("expand")
def expand(xp, x, *, shape):
    """x broadcast to ``shape`` (a read-only view, no copy)."""
    return xp.broadcast_to(x, shape)


@expand.defvjp
def expand_backward(ctx, gy):  # the engine sums the broadcast dims back to x's shape
    return (gy,)


def _check_cat(*xs, axis=0):
    if not xs:
        raise ShapeError("cat: expected a non-empty sequence of tensors")
    ref = xs[0]
    for i, x in enumerate(xs[1:], 1):
        if x.ndim != ref.ndim or any(
            a != b for d, (a, b) in enumerate(zip(x.shape, ref.shape)) if d != axis % ref.ndim
        ):
            raise ShapeError(
                f"cat: tensor {i} has shape {tuple(x.shape)}, incompatible with tensor 0's "
                f"{tuple(ref.shape)}; all dims except dim {axis} must match"
            )


@op("cat", check=_check_cat)
def cat(xp, *xs, axis=0):
    """Concatenation along an existing ``axis``."""
    return xp.concatenate(xs, axis=axis)


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
    return xp.stack(xs, axis=axis)


@stack.defvjp
def stack_backward(ctx, gy):  # input i gets gy[..., i, ...] along the new axis
    axis = ctx.attrs["axis"] % gy.ndim
    return tuple(gy[(slice(None),) * axis + (i,)] if needed else None for i, needed in enumerate(ctx.needs_input_grad))
