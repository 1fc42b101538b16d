"""Neural-network ops with fused, numerically stable kernels: softmax family and losses."""

from __future__ import annotations

from backprop.ops.elementwise import sigmoid
from backprop.registry import op


@op("softmax", save_output=True)
def softmax(xp, x, *, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max (no overflow for large x)."""
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


@softmax.defvjp
def softmax_backward(ctx, gy):  # dx = y * (gy - sum(gy * y))
    (y,) = ctx.saved
    axis = ctx.attrs["axis"]
    return (y * (gy - ctx.xp.sum(gy * y, axis=axis, keepdims=True)),)


@op("log_softmax", save_output=True)
def log_softmax(xp, x, *, axis=-1):
    """x - logsumexp(x) along ``axis``, computed stably."""
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


@log_softmax.defvjp
def log_softmax_backward(ctx, gy):  # dx = gy - softmax(x) * sum(gy)
    (y,) = ctx.saved
    xp = ctx.xp
    axis = ctx.attrs["axis"]
    return (gy - xp.exp(y) * xp.sum(gy, axis=axis, keepdims=True),)


def _check_cross_entropy(x, target, **attrs):
    if x.ndim != 2:
        raise ValueError(f"cross_entropy: expected logits of shape (N, C), got {tuple(x.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: expected integer class indices as target, got dtype {target.dtype}")
    if target.shape != x.shape[:1]:
        raise ValueError(
            f"cross_entropy: target shape {tuple(target.shape)} does not match logits "
            f"{tuple(x.shape)}; expected ({x.shape[0]},)"
        )


@op("cross_entropy", aux=True, check=_check_cross_entropy, double_backward=False)
def cross_entropy(xp, x, target, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C) against class ids (N,), fused.

    loss_n = (1 - eps) (lse_n - x[n, t_n]) + eps (lse_n - mean_c x[n, c]); rows whose target is
    ``ignore_index`` contribute 0 and are not counted by the mean. No one-hot matrix is built, and
    the (N, C) work is four passes into one buffer: max, subtract, exp (in place), sum.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n, c = x.shape
    valid = target != ignore_index
    t = xp.where(valid, target, 0)
    if n and (int(t.min()) < 0 or int(t.max()) >= c):
        bad = t[(t < 0) | (t >= c)][0]
        raise IndexError(
            f"cross_entropy: target {int(bad)} is out of range for {c} classes (expected 0..{c - 1}"
            f" or ignore_index={ignore_index})"
        )
    e = x - xp.max(x, axis=1, keepdims=True)  # shifted logits: exp cannot overflow
    loss = -e[xp.arange(n), t]
    if label_smoothing:
        loss = (1 - label_smoothing) * loss - label_smoothing * xp.mean(e, axis=1)
    xp.exp(e, out=e)
    s = xp.sum(e, axis=1)
    loss += xp.log(s)  # + lse (shifted)
    loss = xp.where(valid, loss, 0)
    cnt = xp.sum(valid).astype(x.dtype)
    if reduction == "mean":
        out = xp.sum(loss) / cnt
    elif reduction == "sum":
        out = xp.sum(loss)
    else:
        out = loss
    return out.astype(x.dtype, copy=False), (e, s, t, valid, cnt)


@cross_entropy.defvjp
def cross_entropy_backward(ctx, gy):  # dx = (softmax - (1-eps) onehot - eps/C) * w_n
    e, s, t, valid, cnt = ctx.aux  # softmax = e / s: the division folds into the row weights
    xp = ctx.xp
    reduction = ctx.attrs["reduction"]
    eps = ctx.attrs["label_smoothing"]
    w = gy / cnt if reduction == "mean" else gy
    w = xp.where(valid, w, 0).astype(e.dtype, copy=False)  # (N,) per-row weight
    gx = e * (w / s)[:, None]
    gx[xp.arange(e.shape[0]), t] -= (1 - eps) * w
    if eps:
        gx -= (eps / e.shape[1]) * w[:, None]
    return gx, None


@op("binary_cross_entropy_with_logits", save_inputs=(0, 1))
def binary_cross_entropy_with_logits(xp, z, y):
    """Elementwise -(y log s(z) + (1-y) log(1-s(z))) = max(z,0) - z y + log(1 + e^-|z|)."""
    return xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))


@binary_cross_entropy_with_logits.defvjp
def binary_cross_entropy_with_logits_backward(ctx, gy):  # dz = s(z) - y, dy = -z
    z, y = ctx.saved
    e = ctx.needs_input_grad
    gz = gy * (ctx.call(sigmoid, z) - y) if e[0] else None
    gyy = -gy * z if e[1] else None
    return gz, gyy
