"""Activation ops beyond the elementwise basics: the ELU family, hard (piecewise-linear) activations,
log-sigmoid, mish and threshold.

These are fused where one kernel is cheaper or more stable than a composition (``logsigmoid`` never
overflows, ``elu`` never evaluates ``exp`` of a large positive input) and where torch offers an
in-place variant (``F.elu(x, inplace=True)`` runs the op through ``apply_``). Gradients at the kinks
follow torch: the hard activations pass the gradient only strictly inside their linear piece, ELU's
gradient at 0 is the left one (``scale * alpha * input_scale``). Compositions (softsign, softmin,
tanhshrink, softshrink, hardshrink, prelu) live in ``backprop.nn.functional``.
"""

from __future__ import annotations

from backprop.ops._util import select_gy, times_gy
from backprop.ops.elementwise import sigmoid, softplus
from backprop.registry import op

# torch's SELU constants (Klambauer et al. 2017)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------- ELU family


@op("elu", save_inputs=(0,))
def elu(xp, x, *, alpha=1.0, scale=1.0, input_scale=1.0):
    """scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1)): ELU, SELU and CELU in one op."""
    neg = alpha * xp.expm1(xp.minimum(x, 0) * input_scale)  # min(x, 0): exp never overflows
    return scale * xp.where(x > 0, x, neg)


@elu.defvjp
def elu_backward(ctx, gy):  # d elu = scale dx (x > 0), scale alpha input_scale exp(x input_scale) dx (x <= 0)
    (x,) = ctx.saved
    alpha, scale, input_scale = ctx.attrs["alpha"], ctx.attrs["scale"], ctx.attrs["input_scale"]
    xp = ctx.xp
    # x where x < 0, else 0: the unused branch stays finite (no inf * 0 in double backward), and the
    # second derivative at 0 is 0 as in torch (whose elu_double_backward masks with x < 0)
    # (a NaN x takes the linear piece, as torch's ``x <= 0 ? ... : ...``)
    x_neg = xp.where(x < 0, x, 0.0)
    return (xp.where(x <= 0, gy * (scale * alpha * input_scale) * xp.exp(x_neg * input_scale), gy * scale),)


# ---------------------------------------------------------------- hard (piecewise-linear) activations


def _check_hardtanh(x, *, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val (got min_val={min_val}, max_val={max_val})")


@op("hardtanh", save_inputs=(0,), check=_check_hardtanh)
def hardtanh(xp, x, *, min_val=-1.0, max_val=1.0):
    """x limited to [min_val, max_val]; unlike clamp, the gradient is 0 at the bounds (as in torch)."""
    return xp.clip(x, min_val, max_val).astype(x.dtype, copy=False)  # integer inputs stay integer


@hardtanh.defvjp
def hardtanh_backward(ctx, gy):  # d hardtanh = dx strictly inside (min_val, max_val), else 0 (NaN x: dx, torch)
    (x,) = ctx.saved
    return (select_gy(ctx, gy, ~((x <= ctx.attrs["min_val"]) | (x >= ctx.attrs["max_val"]))),)


@op("hardsigmoid", save_inputs=(0,))
def hardsigmoid(xp, x):
    """min(max(x + 3, 0), 6) / 6."""
    return xp.clip(x + 3, 0, 6) / 6


@hardsigmoid.defvjp
def hardsigmoid_backward(ctx, gy):  # d hardsigmoid = dx / 6 strictly inside (-3, 3), else 0
    (x,) = ctx.saved
    return (ctx.xp.where((x > -3) & (x < 3), gy / 6, 0.0),)


@op("hardswish", save_inputs=(0,))
def hardswish(xp, x):
    """x * min(max(x + 3, 0), 6) / 6."""
    return x * xp.clip(x + 3, 0, 6) / 6


@hardswish.defvjp
def hardswish_backward(ctx, gy):  # d hardswish = 0 (x <= -3), (x / 3 + 1/2) dx (-3 < x < 3), dx (x >= 3)
    (x,) = ctx.saved
    xp = ctx.xp
    return (xp.where(x <= -3, 0.0, xp.where(x < 3, gy * (x / 3 + 0.5), gy)),)


@op("threshold", save_inputs=(0,))
def threshold(xp, x, *, threshold, value):
    """value where x <= threshold, else x (cast to x's dtype; NaN stays NaN, as in torch)."""
    return xp.where(x <= threshold, xp.asarray(value).astype(x.dtype), x)


@threshold.defvjp
def threshold_backward(ctx, gy):  # d threshold = 0 where x <= threshold, else dx (NaN x too)
    (x,) = ctx.saved
    return (select_gy(ctx, gy, ~(x <= ctx.attrs["threshold"])),)


# ---------------------------------------------------------------- smooth activations


@op("logsigmoid", save_inputs=(0,))
def logsigmoid(xp, x):
    """log(sigmoid(x)) = min(x, 0) - log(1 + e^-|x|), finite for any x."""
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


@logsigmoid.defvjp
def logsigmoid_backward(ctx, gy):  # d log(sigmoid(x)) = (1 - sigmoid(x)) dx = sigmoid(-x) dx
    (x,) = ctx.saved
    return (times_gy(ctx, gy, ctx.call(sigmoid, -x)),)


@op("mish", save_inputs=(0,))
def mish(xp, x):
    """x * tanh(softplus(x))."""
    return x * xp.tanh(softplus.forward(xp, x))


@mish.defvjp
def mish_backward(ctx, gy):  # d mish = (tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)) dx, sp = softplus(x)
    (x,) = ctx.saved
    t = ctx.xp.tanh(ctx.call(softplus, x))
    return (times_gy(ctx, gy, t + x * (1 - t * t) * ctx.call(sigmoid, x)),)
