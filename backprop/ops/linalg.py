"""Matrix multiplication with numpy/torch semantics (1-D, 2-D, batched, broadcast batch dims)."""

from __future__ import annotations

from backprop.registry import op


def _check_matmul(a, b):
    """The shape/dtype rule: inner dimensions agree, operands are not scalars, dtypes match."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"({ka} != {kb}: the last dim of the first must equal the "
            f"{'second-to-last' if b.ndim > 1 else 'only'} dim of the second)"
        )
    if a.dtype != b.dtype:
        raise TypeError(
            f"matmul: expected both operands to have the same dtype, got {a.dtype} and {b.dtype} "
            f"(shapes {tuple(a.shape)} and {tuple(b.shape)}); cast one with .to(dtype)"
        )


@op("matmul", save_inputs=(0, 1), check=_check_matmul)
def matmul(xp, a, b):
    """a @ b."""
    return xp.matmul(a, b)


@matmul.defvjp
def matmul_backward(ctx, gy):
    # y = a b  =>  da = gy b^T, db = a^T gy; 1-D operands are promoted to matrices and back, and
    # broadcast batch dims are summed away by the engine.
    a, b = ctx.saved
    xp = ctx.xp
    e = ctx.edges
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1 and b1:
        return (gy * b if e[0] is not None else None), (gy * a if e[1] is not None else None)
    a2 = xp.expand_dims(a, 0) if a1 else a
    b2 = xp.expand_dims(b, -1) if b1 else b
    g2 = gy
    if a1:
        g2 = xp.expand_dims(g2, -2)
    if b1:
        g2 = xp.expand_dims(g2, -1)
    ga = gb = None
    if e[0] is not None:
        ga = xp.matmul(g2, xp.swapaxes(b2, -1, -2))
        if a1:
            ga = xp.squeeze(ga, axis=-2)
    if e[1] is not None:
        gb = xp.matmul(xp.swapaxes(a2, -1, -2), g2)
        if b1:
            gb = xp.squeeze(gb, axis=-1)
    return ga, gb
