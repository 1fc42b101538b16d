"""Matrix multiplication with numpy/torch semantics (1-D, 2-D, batched, broadcast batch dims)."""

from __future__ import annotations

from backprop.ops._util import DTypeError, ShapeError
from backprop.registry import op, ufunc_op


def _check_matmul(a, b):
    """The shape/dtype rule: inner dimensions agree, operands are not scalars, dtypes match."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ShapeError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"({ka} != {kb}: the last dim of the first must equal the "
            f"{'second-to-last' if b.ndim > 1 else 'only'} dim of the second)"
        )
    if a.dtype != b.dtype:
        raise DTypeError(
            f"matmul: expected both operands to have the same dtype, got {a.dtype} and {b.dtype} "
            f"(shapes {tuple(a.shape)} and {tuple(b.shape)}); cast one with .to(dtype)"
        )


matmul = ufunc_op("matmul", "matmul", "a @ b.", save_inputs=(0, 1), check=_check_matmul)


@matmul.defvjp
def matmul_backward(ctx, gy):
    # y = a b  =>  da = gy b^T, db = a^T gy; 1-D operands are promoted to matrices and back, and
    # broadcast batch dims are summed away by the engine.
    a, b = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1 and b1:
        return (gy * b if e[0] else None), (gy * a if e[1] else None)
    a2 = xp.expand_dims(a, 0) if a1 else a
    b2 = xp.expand_dims(b, -1) if b1 else b
    g2 = gy
    if a1:
        g2 = xp.expand_dims(g2, -2)
    if b1:
        g2 = xp.expand_dims(g2, -1)
    ga = gb = None
    if e[0]:
        ga = xp.matmul(g2, xp.swapaxes(b2, -1, -2))
        if a1:
            ga = xp.squeeze(ga, axis=-2)
    if e[1]:
        gb = xp.matmul(xp.swapaxes(a2, -1, -2), g2)
        if b1:
            gb = xp.squeeze(gb, axis=-1)
    return ga, gb


def _check_linear(x, w, b=None):
    """The shape/dtype rule of linear: x (..., in), w (out, in), b (out,) (or broadcastable) or None."""
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ShapeError(
            f"linear: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} features but weight "
            f"of shape {tuple(w.shape)} expects (out_features, {w.shape[-1] if w.ndim else '?'})"
        )
    if b is not None and tuple(b.shape) not in ((w.shape[0],), (1,), ()):
        raise ShapeError(f"linear: bias of shape {tuple(b.shape)} does not match out_features {w.shape[0]}")
    if x.dtype != w.dtype:
        raise DTypeError(f"linear: input dtype {x.dtype} differs from weight dtype {w.dtype}; cast one with .to(dtype)")


@op("linear", save_inputs=(0, 1), check=_check_linear)
def linear(xp, x, w, b=None):
    """x @ w.T + b with w of shape (out, in): one fused op, as torch's addmm."""
    y = xp.matmul(x, w.T)
    if b is not None:
        y += b  # y is fresh: add the bias in place, no second (B, out) buffer
    return y


@linear.defvjp
def linear_backward(ctx, gy):  # dx = gy w, dw = gy^T x (batch dims flattened), db = sum gy
    x, w = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
    out_f, in_f = w.shape
    g2 = xp.reshape(gy, (-1, out_f)) if gy.ndim != 2 else gy
    gx = xp.matmul(gy, w) if e[0] else None
    gw = None
    if e[1]:
        x2 = xp.reshape(x, (-1, in_f)) if x.ndim != 2 else x
        gw = xp.matmul(xp.swapaxes(g2, 0, 1), x2)
    gb = xp.sum(g2, axis=0) if len(e) > 2 and e[2] else None
    return gx, gw, gb
