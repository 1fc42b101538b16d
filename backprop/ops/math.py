"""Elementwise math beyond arithmetic: trigonometric, hyperbolic, logarithms and exponentials,
rounding, remainders, ``lerp``/``logaddexp``/``copysign``/``atan2``, and float predicates.

Gradients follow torch's derivative formulas, including its conventions at kinks (rounding and
``sign`` have gradient 0; ``copysign`` passes 0 at x == 0). Each rule is written with operators,
``ctx.xp`` functions the Tensor namespace has, or ``ctx.call`` into registered ops, so every
differentiable op here also has a second derivative.
"""

from __future__ import annotations

import math

from backprop.ops._special import erf as _erf
from backprop.ops.elementwise import sigmoid
from backprop.registry import op, ufunc_op

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SCALARS = (int, float, bool)

# ---------------------------------------------------------------- trigonometric and hyperbolic


sin = ufunc_op("sin", "sin", "Sine.", save_inputs=(0,))
cos = ufunc_op("cos", "cos", "Cosine.", save_inputs=(0,))


@sin.defvjp
def sin_backward(ctx, gy):  # d sin(x) = cos(x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(cos, x),)


@cos.defvjp
def cos_backward(ctx, gy):  # d cos(x) = -sin(x) dx
    (x,) = ctx.saved
    return (-gy * ctx.call(sin, x),)


tan = ufunc_op("tan", "tan", "Tangent.", save_output=True)


@tan.defvjp
def tan_backward(ctx, gy):  # d tan(x) = (1 + tan(x)^2) dx
    (y,) = ctx.saved
    return (gy * (1 + y * y),)


asin = ufunc_op("asin", "arcsin", "Inverse sine.", save_inputs=(0,))


@asin.defvjp
def asin_backward(ctx, gy):  # d asin(x) = dx / sqrt(1 - x^2)
    (x,) = ctx.saved
    return (gy / ctx.xp.sqrt(1 - x * x),)


acos = ufunc_op("acos", "arccos", "Inverse cosine.", save_inputs=(0,))


@acos.defvjp
def acos_backward(ctx, gy):  # d acos(x) = -dx / sqrt(1 - x^2)
    (x,) = ctx.saved
    return (-gy / ctx.xp.sqrt(1 - x * x),)


atan = ufunc_op("atan", "arctan", "Inverse tangent.", save_inputs=(0,))


@atan.defvjp
def atan_backward(ctx, gy):  # d atan(x) = dx / (1 + x^2)
    (x,) = ctx.saved
    return (gy / (1 + x * x),)


sinh = ufunc_op("sinh", "sinh", "Hyperbolic sine.", save_inputs=(0,))
cosh = ufunc_op("cosh", "cosh", "Hyperbolic cosine.", save_inputs=(0,))


@sinh.defvjp
def sinh_backward(ctx, gy):  # d sinh(x) = cosh(x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(cosh, x),)


@cosh.defvjp
def cosh_backward(ctx, gy):  # d cosh(x) = sinh(x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(sinh, x),)


asinh = ufunc_op("asinh", "arcsinh", "Inverse hyperbolic sine.", save_inputs=(0,))


@asinh.defvjp
def asinh_backward(ctx, gy):  # d asinh(x) = dx / sqrt(x^2 + 1)
    (x,) = ctx.saved
    return (gy / ctx.xp.sqrt(x * x + 1),)


acosh = ufunc_op("acosh", "arccosh", "Inverse hyperbolic cosine.", save_inputs=(0,))


@acosh.defvjp
def acosh_backward(ctx, gy):  # d acosh(x) = dx / sqrt(x^2 - 1)
    (x,) = ctx.saved
    return (gy / ctx.xp.sqrt(x * x - 1),)


atanh = ufunc_op("atanh", "arctanh", "Inverse hyperbolic tangent.", save_inputs=(0,))


@atanh.defvjp
def atanh_backward(ctx, gy):  # d atanh(x) = dx / (1 - x^2)
    (x,) = ctx.saved
    return (gy / (1 - x * x),)


atan2 = ufunc_op(
    "atan2", "arctan2", "atan(x / y) in the right quadrant (torch.atan2(input, other)).", save_inputs=(0, 1)
)


@atan2.defvjp
def atan2_backward(ctx, gy):  # d atan2(x, y) = (y dx - x dy) / (x^2 + y^2)
    x, y = ctx.saved
    e = ctx.needs_input_grad
    g = gy / (x * x + y * y)
    return (g * y if e[0] else None), (-g * x if e[1] else None)


# ---------------------------------------------------------------- logarithms and exponentials


log2 = ufunc_op("log2", "log2", "Base-2 logarithm.", save_inputs=(0,))


@log2.defvjp
def log2_backward(ctx, gy):  # d log2(x) = dx / (x ln 2)
    (x,) = ctx.saved
    return (gy / (x * _LN2),)


log10 = ufunc_op("log10", "log10", "Base-10 logarithm.", save_inputs=(0,))


@log10.defvjp
def log10_backward(ctx, gy):  # d log10(x) = dx / (x ln 10)
    (x,) = ctx.saved
    return (gy / (x * _LN10),)


log1p = ufunc_op("log1p", "log1p", "log(1 + x), accurate for small x.", save_inputs=(0,))


@log1p.defvjp
def log1p_backward(ctx, gy):  # d log(1 + x) = dx / (1 + x)
    (x,) = ctx.saved
    return (gy / (1 + x),)


exp2 = ufunc_op("exp2", "exp2", "2 ** x.", save_output=True)


@exp2.defvjp
def exp2_backward(ctx, gy):  # d 2^x = 2^x ln 2 dx
    (y,) = ctx.saved
    return (gy * y * _LN2,)


expm1 = ufunc_op("expm1", "expm1", "e ** x - 1, accurate for small x.", save_output=True)


@expm1.defvjp
def expm1_backward(ctx, gy):  # d (e^x - 1) = (y + 1) dx
    (y,) = ctx.saved
    return (gy * (y + 1),)


@op("erf", save_inputs=(0,))
def erf(xp, x):
    """The error function, 2/sqrt(pi) * integral of exp(-t^2) from 0 to x."""
    return _erf(xp, x)


@erf.defvjp
def erf_backward(ctx, gy):  # d erf(x) = 2/sqrt(pi) exp(-x^2) dx
    (x,) = ctx.saved
    return (gy * _TWO_OVER_SQRT_PI * ctx.xp.exp(-(x * x)),)


@op("logaddexp", save_inputs=(0, 1))
def logaddexp(xp, x, y):
    """log(e^x + e^y), without overflow."""
    return xp.logaddexp(x, y)


@logaddexp.defvjp
def logaddexp_backward(ctx, gy):  # d logaddexp = sigmoid(x - y) dx + sigmoid(y - x) dy
    x, y = ctx.saved
    e = ctx.needs_input_grad
    gx = gy * ctx.call(sigmoid, x - y) if e[0] else None
    gyy = gy * ctx.call(sigmoid, y - x) if e[1] else None
    return gx, gyy


# ---------------------------------------------------------------- powers


reciprocal = ufunc_op("reciprocal", "reciprocal", "1 / x.", save_output=True)


@reciprocal.defvjp
def reciprocal_backward(ctx, gy):  # d (1/x) = -(1/x)^2 dx
    (y,) = ctx.saved
    return (-gy * y * y,)


@op("rsqrt", save_output=True)
def rsqrt(xp, x):
    """1 / sqrt(x)."""
    return 1 / xp.sqrt(x)


@rsqrt.defvjp
def rsqrt_backward(ctx, gy):  # d x^(-1/2) = -1/2 x^(-3/2) dx = -1/2 y^3 dx
    (y,) = ctx.saved
    return (-0.5 * gy * y * y * y,)


square = ufunc_op("square", "square", "x * x.", save_inputs=(0,))


@square.defvjp
def square_backward(ctx, gy):  # d x^2 = 2 x dx
    (x,) = ctx.saved
    return (2 * gy * x,)


# ---------------------------------------------------------------- rounding and sign (gradient 0, as torch)


def _zero_grad(ctx, gy):  # piecewise constant: derivative 0 wherever it exists (torch: zeros_like(grad))
    return (gy * 0,)


floor = ufunc_op("floor", "floor", "Largest integer <= x (gradient 0).")
ceil = ufunc_op("ceil", "ceil", "Smallest integer >= x (gradient 0).")
trunc = ufunc_op("trunc", "trunc", "x rounded towards 0 (gradient 0).")


@op("round")
def round(xp, x, *, decimals=0):
    """x rounded to ``decimals`` places, halves to even (as torch and NumPy; gradient 0)."""
    return xp.round(x, decimals)


@op("sign")
def sign(xp, x):
    """-1, 0 or 1 by the sign of x; 0 for NaN, as torch (gradient 0)."""
    s = xp.sign(x)
    if s.dtype.kind in "fc":
        s = xp.where(s != s, 0, s)  # NumPy's sign(NaN) is NaN, torch's 0
    return s


for _op in (floor, ceil, trunc, round, sign):
    _op.defvjp(_zero_grad)


@op("frac")
def frac(xp, x):
    """x - trunc(x): the fractional part, with the sign of x."""
    return x - xp.trunc(x)


@frac.defvjp
def frac_backward(ctx, gy):  # d (x - trunc(x)) = dx
    return (gy,)


# ---------------------------------------------------------------- remainders and division


remainder = ufunc_op(
    "remainder", "remainder", "x mod y with the sign of y (Python's %, torch.remainder).", save_inputs=(0, 1)
)


@remainder.defvjp
def remainder_backward(ctx, gy):  # x - floor(x/y) y: d = dx - floor(x/y) dy
    x, y = ctx.saved
    e = ctx.needs_input_grad
    return (gy if e[0] else None), (-gy * ctx.call(floor_divide, x, y) if e[1] else None)


fmod = ufunc_op("fmod", "fmod", "x mod y with the sign of x (C's fmod, torch.fmod).", save_inputs=(0, 1))


@fmod.defvjp
def fmod_backward(ctx, gy):  # x - trunc(x/y) y: d = dx - trunc(x/y) dy
    x, y = ctx.saved
    e = ctx.needs_input_grad
    return (gy if e[0] else None), (-gy * ctx.call(trunc, x / y) if e[1] else None)


floor_divide = ufunc_op("floor_divide", "floor_divide", "floor(x / y) (Python's //; gradient 0).")


@floor_divide.defvjp
def floor_divide_backward(ctx, gy):
    # Piecewise constant: gradient 0, which is what torch's div(x, y, rounding_mode="floor") gives.
    # (torch's floor_divide / ``//`` raises "derivative not implemented" instead; one op serves both
    # here, and a zero gradient is the mathematically right one almost everywhere.)
    e = ctx.needs_input_grad
    return (gy * 0 if e[0] else None), (gy * 0 if e[1] else None)


# ---------------------------------------------------------------- lerp, copysign


@op("lerp", save_inputs=(0, 1, 2))
def lerp(xp, start, end, weight):
    """start + weight (end - start), computed as torch does (from the nearer end for |weight| >= 0.5)."""
    diff = end - start
    if isinstance(weight, _SCALARS):
        return start + weight * diff if -0.5 < weight < 0.5 else end - diff * (1 - weight)
    return xp.where(xp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


@lerp.defvjp
def lerp_backward(ctx, gy):  # d lerp = (1 - w) ds + w de + (e - s) dw
    s, end, w = ctx.saved
    e = ctx.needs_input_grad
    return (
        gy * (1 - w) if e[0] else None,
        gy * w if e[1] else None,
        gy * (end - s) if e[2] else None,
    )


copysign = ufunc_op(
    "copysign", "copysign", "|x| with the sign of y (gradient 0 for y, as torch).", save_inputs=(0,), save_output=True
)


@copysign.defvjp
def copysign_backward(ctx, gy):  # d copysign(x, y) = (out / x) dx, 0 at x == 0 (torch); 0 dy
    x, out = ctx.saved
    e = ctx.needs_input_grad
    gx = None
    if e[0]:
        gx = gy * (out / ctx.xp.where(x == 0, 1, x))  # out is +-0 where x == 0: the ratio is 0 there
    return gx, (gy * 0 if e[1] else None)


# ---------------------------------------------------------------- predicates (bool results, no gradient)


isnan = ufunc_op("isnan", "isnan", "x is NaN (a bool tensor).")
isinf = ufunc_op("isinf", "isinf", "x is +-inf (a bool tensor).")
isfinite = ufunc_op("isfinite", "isfinite", "x is neither NaN nor +-inf (a bool tensor).")


@op("isclose")
def isclose(xp, x, y, *, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|x - y| <= atol + rtol |y| elementwise (equal infinities are close; NaN only with equal_nan)."""
    return xp.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan)
