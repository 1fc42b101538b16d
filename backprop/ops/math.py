"""Elementwise math beyond arithmetic: trigonometric, hyperbolic, logarithms and exponentials,
special functions (erf, lgamma, digamma, polygamma, ...), rounding, remainders,
``lerp``/``logaddexp``/``copysign``/``atan2``/``hypot``/``fmax``, integer bit ops, and predicates.

Gradients follow torch's derivative formulas, including its conventions at kinks (rounding and
``sign`` have gradient 0; ``copysign`` passes 0 at x == 0). For complex inputs the holomorphic rules
take the conjugate of the derivative (gx = gy conj(f'(z)), torch's convention; ``conj_if_complex``
leaves real factors alone, so real gradients are unchanged); ``sgn`` is z / |z| for complex z. Each
rule is written with operators, ``ctx.xp`` functions the Tensor namespace has, or ``ctx.call`` into
registered ops, so every differentiable op here also has a second derivative.
"""

from __future__ import annotations

import math

import numpy as np

from backprop import dtypes as _dtypes
from backprop.ops._special import erf as _erf
from backprop.ops._special import special
from backprop.ops.elementwise import abs as _abs
from backprop.ops.elementwise import integer_kernel, operand_kind, sigmoid
from backprop.ops.fft import conj, conj_if_complex, real
from backprop.registry import op, ufunc_op

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0
_SCALARS = (int, float, bool)

# ---------------------------------------------------------------- trigonometric and hyperbolic


sin = ufunc_op("sin", "sin", "Sine.", save_inputs=(0,))
cos = ufunc_op("cos", "cos", "Cosine.", save_inputs=(0,))


@sin.defvjp
def sin_backward(ctx, gy):  # d sin(x) = cos(x) dx
    (x,) = ctx.saved
    return (gy * conj_if_complex(ctx, ctx.call(cos, x)),)


@cos.defvjp
def cos_backward(ctx, gy):  # d cos(x) = -sin(x) dx
    (x,) = ctx.saved
    return (-gy * conj_if_complex(ctx, ctx.call(sin, x)),)


tan = ufunc_op("tan", "tan", "Tangent.", save_output=True)


@tan.defvjp
def tan_backward(ctx, gy):  # d tan(x) = (1 + tan(x)^2) dx
    (y,) = ctx.saved
    return (gy * conj_if_complex(ctx, 1 + y * y),)


asin = ufunc_op("asin", "arcsin", "Inverse sine.", save_inputs=(0,))


@asin.defvjp
def asin_backward(ctx, gy):  # d asin(x) = dx / sqrt(1 - x^2)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, ctx.xp.sqrt(1 - x * x)),)


acos = ufunc_op("acos", "arccos", "Inverse cosine.", save_inputs=(0,))


@acos.defvjp
def acos_backward(ctx, gy):  # d acos(x) = -dx / sqrt(1 - x^2)
    (x,) = ctx.saved
    return (-gy / conj_if_complex(ctx, ctx.xp.sqrt(1 - x * x)),)


atan = ufunc_op("atan", "arctan", "Inverse tangent.", save_inputs=(0,))


@atan.defvjp
def atan_backward(ctx, gy):  # d atan(x) = dx / (1 + x^2)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, 1 + x * x),)


sinh = ufunc_op("sinh", "sinh", "Hyperbolic sine.", save_inputs=(0,))
cosh = ufunc_op("cosh", "cosh", "Hyperbolic cosine.", save_inputs=(0,))


@sinh.defvjp
def sinh_backward(ctx, gy):  # d sinh(x) = cosh(x) dx
    (x,) = ctx.saved
    return (gy * conj_if_complex(ctx, ctx.call(cosh, x)),)


@cosh.defvjp
def cosh_backward(ctx, gy):  # d cosh(x) = sinh(x) dx
    (x,) = ctx.saved
    return (gy * conj_if_complex(ctx, ctx.call(sinh, x)),)


asinh = ufunc_op("asinh", "arcsinh", "Inverse hyperbolic sine.", save_inputs=(0,))


@asinh.defvjp
def asinh_backward(ctx, gy):  # d asinh(x) = dx / sqrt(x^2 + 1)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, ctx.xp.sqrt(x * x + 1)),)


acosh = ufunc_op("acosh", "arccosh", "Inverse hyperbolic cosine.", save_inputs=(0,))


@acosh.defvjp
def acosh_backward(ctx, gy):  # d acosh(x) = dx / sqrt(x^2 - 1)
    (x,) = ctx.saved
    xp = ctx.xp
    if x.dtype.kind == "c":  # sqrt(z - 1) sqrt(z + 1): the branch acosh itself uses (sqrt(z^2 - 1) flips sign)
        return (gy / ctx.call(conj, xp.sqrt(x - 1) * xp.sqrt(x + 1)),)
    return (gy / xp.sqrt(x * x - 1),)


atanh = ufunc_op("atanh", "arctanh", "Inverse hyperbolic tangent.", save_inputs=(0,))


@atanh.defvjp
def atanh_backward(ctx, gy):  # d atanh(x) = dx / (1 - x^2)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, 1 - x * x),)


atan2 = ufunc_op(
    "atan2", "arctan2", "atan(x / y) in the right quadrant (torch.atan2(input, other)).", save_inputs=(0, 1)
)


@atan2.defvjp
def atan2_backward(ctx, gy):  # d atan2(x, y) = (y dx - x dy) / (x^2 + y^2); 0 at the origin, as torch
    x, y = ctx.saved
    e = ctx.needs_input_grad
    d = x * x + y * y
    g = ctx.xp.where(d == 0, 0 * gy, gy / ctx.xp.where(d == 0, 1, d))
    return (g * y if e[0] else None), (-g * x if e[1] else None)


# ---------------------------------------------------------------- logarithms and exponentials


log2 = ufunc_op("log2", "log2", "Base-2 logarithm.", save_inputs=(0,))


@log2.defvjp
def log2_backward(ctx, gy):  # d log2(x) = dx / (x ln 2)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, x * _LN2),)


@op("log10", save_inputs=(0,))
def log10(xp, x):
    """Base-10 logarithm. NumPy's float32 loop is an ulp off on ~40% of inputs, powers of ten among them
    (log10(100) = 2.0000002); float64 rounded once gives torch's CPU values (10 ** k exactly k)."""
    if xp is np and x.dtype == np.float32:
        return np.log10(x, dtype=np.float64).astype(np.float32)
    return xp.log10(x)


@log10.defvjp
def log10_backward(ctx, gy):  # d log10(x) = dx / (x ln 10)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, x * _LN10),)


log1p = ufunc_op("log1p", "log1p", "log(1 + x), accurate for small x.", save_inputs=(0,))


@log1p.defvjp
def log1p_backward(ctx, gy):  # d log(1 + x) = dx / (1 + x)
    (x,) = ctx.saved
    return (gy / conj_if_complex(ctx, 1 + x),)


exp2 = ufunc_op("exp2", "exp2", "2 ** x.", save_output=True)


@exp2.defvjp
def exp2_backward(ctx, gy):  # d 2^x = 2^x ln 2 dx
    (y,) = ctx.saved
    return (gy * conj_if_complex(ctx, y) * _LN2,)


expm1 = ufunc_op("expm1", "expm1", "e ** x - 1, accurate for small x.", save_output=True)


@expm1.defvjp
def expm1_backward(ctx, gy):  # d (e^x - 1) = (y + 1) dx
    (y,) = ctx.saved
    return (gy * conj_if_complex(ctx, y + 1),)


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
    """log(e^x + e^y), without overflow (complex: hi + log1p(e^(lo - hi)), hi the larger real part, as torch)."""
    if xp.result_type(x, y).kind == "c":
        first = xp.real(x) >= xp.real(y)
        hi, lo = xp.where(first, x, y), xp.where(first, y, x)
        return hi + xp.log1p(xp.exp(lo - hi))
    return xp.logaddexp(x, y)


@logaddexp.defvjp
def logaddexp_backward(ctx, gy):  # d logaddexp = sigmoid(x - y) dx + sigmoid(y - x) dy
    x, y = ctx.saved
    e = ctx.needs_input_grad
    gx = gy * conj_if_complex(ctx, ctx.call(sigmoid, x - y)) if e[0] else None
    gyy = gy * conj_if_complex(ctx, ctx.call(sigmoid, y - x)) if e[1] else None
    return gx, gyy


# ---------------------------------------------------------------- powers


reciprocal = ufunc_op("reciprocal", "reciprocal", "1 / x.", save_output=True)


@reciprocal.defvjp
def reciprocal_backward(ctx, gy):  # d (1/x) = -(1/x)^2 dx
    y = conj_if_complex(ctx, ctx.saved[0])
    return (-gy * (y * y),)  # torch's grouping: an infinite gy times an underflowing y^2 is NaN


@op("rsqrt", save_output=True)
def rsqrt(xp, x):
    """1 / sqrt(x)."""
    return 1 / xp.sqrt(x)


@rsqrt.defvjp
def rsqrt_backward(ctx, gy):  # d x^(-1/2) = -1/2 x^(-3/2) dx = -1/2 y^3 dx
    y = conj_if_complex(ctx, ctx.saved[0])
    return (-0.5 * gy * (y * y * y),)  # torch's grouping (see reciprocal)


square = ufunc_op("square", "square", "x * x.", save_inputs=(0,))


@square.defvjp
def square_backward(ctx, gy):  # d x^2 = 2 x dx
    x = conj_if_complex(ctx, ctx.saved[0])
    return (2 * gy * x,)


# ---------------------------------------------------------------- rounding and sign (gradient 0, as torch)


def _zero_grad(ctx, gy):  # piecewise constant: derivative 0 wherever it exists (torch: zeros_like(grad))
    return (gy * 0 if ctx.create_graph else ctx.xp.zeros_like(gy),)  # (0 also for an infinite gy)


floor = ufunc_op("floor", "floor", "Largest integer <= x (gradient 0).")
ceil = ufunc_op("ceil", "ceil", "Smallest integer >= x (gradient 0).")
trunc = ufunc_op("trunc", "trunc", "x rounded towards 0 (gradient 0).")


@op("round")
def round(xp, x, *, decimals=0):
    """x rounded to ``decimals`` places, halves to even (as torch and NumPy; gradient 0)."""
    return xp.round(x, decimals)


@op("sign")
def sign(xp, x):
    """-1, 0 or 1 by the sign of x; 0 for NaN, as torch (gradient 0; complex x: use ``sgn``, as the error of
    ``registry._REAL_ONLY`` says)."""
    s = xp.sign(x)
    if _dtypes.kind(s.dtype) in "fc":
        s = xp.where(s != s, 0, s)  # NumPy's sign(NaN) is NaN, torch's 0
    return s


for _op in (floor, ceil, trunc, round, sign):
    _op.defvjp(_zero_grad)


@op("sgn", save_inputs=(0,), save_output=True)
def sgn(xp, x):
    """torch.sgn: z / |z| for a complex z (0 at 0), ``sign`` for a real x (gradient 0 there)."""
    if x.dtype.kind != "c":
        return sign.forward(xp, x)
    r = xp.abs(x)
    return xp.where(r == 0, 0, x / xp.where(r == 0, 1, r))


@sgn.defvjp
def sgn_backward(ctx, gy):  # real: 0; complex s = z / |z|: gz = (gy - Re(gy conj(s)) s) / |z|, 0 at 0
    x, s = ctx.saved
    if x.dtype.kind != "c":
        return _zero_grad(ctx, gy)
    xp = ctx.xp
    r = ctx.call(_abs, x)
    along = ctx.call(real, gy * ctx.call(conj, s))
    return (xp.where(r == 0, 0, (gy - along * s) / xp.where(r == 0, 1, r)),)


def _frac_check(x):
    """torch has no integer frac kernel (NumPy's would give zeros)."""
    if operand_kind(x) not in "fc":
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{_dtypes.scalar_type_name(x.dtype)}'")


@op("frac", check=_frac_check)
def frac(xp, x):
    """x - trunc(x): the fractional part, with the sign of x."""
    return x - xp.trunc(x)


@frac.defvjp
def frac_backward(ctx, gy):  # d (x - trunc(x)) = dx
    return (gy,)


# ---------------------------------------------------------------- remainders and division


def _check_integer_divisor(x, y):
    """torch raises for an integer division by zero (NumPy returns 0 with a warning): checked on the
    host for integer operands (CuPy arrays are not read back, as torch's CUDA kernels do not check). A Python
    int dividend is an integer operand too (``1 // int_tensor``, ``7 % int_tensor``)."""
    if operand_kind(x) not in "iub" or operand_kind(y) not in "iub":
        return
    if y.__class__ is np.ndarray:
        if y.size and not y.all():
            raise ZeroDivisionRuntimeError("ZeroDivisionError")
    elif isinstance(y, (int, np.integer)) and y == 0:
        raise ZeroDivisionRuntimeError("ZeroDivisionError")


def _division_check(kernel):
    """``check=`` of a division: torch has no bool kernel (``b // b``: "div_floor_cpu" not implemented for
    'Bool', where NumPy computes in int8), and an integer division by zero raises."""

    def check(x, y):
        if operand_kind(x) == "b" and operand_kind(y) == "b":
            raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
        _check_integer_divisor(x, y)

    return check


class ZeroDivisionRuntimeError(ZeroDivisionError, RuntimeError):
    """An integer division by zero: torch's ``RuntimeError: ZeroDivisionError`` (and Python's own class)."""


remainder = ufunc_op(
    "remainder",
    "remainder",
    "x mod y with the sign of y (Python's %, torch.remainder).",
    save_inputs=(0, 1),
    check=_division_check("remainder_cpu"),
)


@remainder.defvjp
def remainder_backward(ctx, gy):  # x - floor(x/y) y: d = dx - floor(x/y) dy
    x, y = ctx.saved
    e = ctx.needs_input_grad
    return (gy if e[0] else None), (-gy * ctx.call(floor_divide, x, y) if e[1] else None)


fmod = ufunc_op(
    "fmod",
    "fmod",
    "x mod y with the sign of x (C's fmod, torch.fmod).",
    save_inputs=(0, 1),
    check=_division_check("fmod_cpu"),
)


@fmod.defvjp
def fmod_backward(ctx, gy):  # x - trunc(x/y) y: d = dx - trunc(x/y) dy
    x, y = ctx.saved
    e = ctx.needs_input_grad
    return (gy if e[0] else None), (-gy * ctx.call(trunc, x / y) if e[1] else None)


floor_divide = ufunc_op(
    "floor_divide", "floor_divide", "floor(x / y) (Python's //; gradient 0).", check=_division_check("div_floor_cpu")
)


@floor_divide.defvjp
def floor_divide_backward(ctx, gy):
    # Piecewise constant: gradient 0, which is what torch's div(x, y, rounding_mode="floor") gives.
    # (torch's floor_divide / ``//`` raises "derivative not implemented" instead; one op serves both
    # here, and a zero gradient is the mathematically right one almost everywhere.)
    e = ctx.needs_input_grad
    zeros = _zero_grad(ctx, gy)[0]
    return (zeros if e[0] else None), (zeros if e[1] else None)


@op("trunc_divide", check=_check_integer_divisor)
def trunc_divide(xp, x, y):
    """trunc(x / y) for floating x and y (div(rounding_mode="trunc"); gradient 0, also where y is 0 or
    infinite, as torch: the zero gradient does not pass through the division's 1 / y)."""
    return xp.trunc(x / y)


trunc_divide.defvjp(floor_divide_backward)


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
    if gy.dtype.kind == "c":  # complex: the conjugate factors (torch's convention)
        s, end, w = conj_if_complex(ctx, s), conj_if_complex(ctx, end), conj_if_complex(ctx, w)
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
    return gx, (_zero_grad(ctx, gy)[0] if e[1] else None)


# ---------------------------------------------------------------- predicates (bool results, no gradient)


isnan = ufunc_op("isnan", "isnan", "x is NaN (a bool tensor).")
isinf = ufunc_op("isinf", "isinf", "x is +-inf (a bool tensor).")
isfinite = ufunc_op("isfinite", "isfinite", "x is neither NaN nor +-inf (a bool tensor).")


@op("isclose")
def isclose(xp, x, y, *, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|x - y| <= atol + rtol |y| elementwise (equal infinities are close; NaN only with equal_nan)."""
    return xp.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan)


# ---------------------------------------------------------------- special functions (scipy.special / cupyx)


def _quiet():  # poles and log(0) give +-inf or NaN silently, as torch (NumPy would warn)
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


@op("erfc", save_inputs=(0,))
def erfc(xp, x):
    """1 - erf(x), accurate where erf(x) is near 1."""
    return special(xp, "erfc", x)


@erfc.defvjp
def erfc_backward(ctx, gy):  # d erfc(x) = -2/sqrt(pi) exp(-x^2) dx
    (x,) = ctx.saved
    return (-gy * _TWO_OVER_SQRT_PI * ctx.xp.exp(-(x * x)),)


@op("erfinv", save_output=True)
def erfinv(xp, x):
    """The inverse of erf on [-1, 1] (+-inf at +-1, NaN outside)."""
    return special(xp, "erfinv", x)


@erfinv.defvjp
def erfinv_backward(ctx, gy):  # d erfinv(x) = sqrt(pi)/2 exp(erfinv(x)^2) dx
    (y,) = ctx.saved
    return (gy * _SQRT_PI_OVER_TWO * ctx.xp.exp(y * y),)


_FLOAT64_TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64


@op("lgamma", save_inputs=(0,))
def lgamma(xp, x):
    """log |Gamma(x)| (+inf at the poles 0, -1, -2, ... and at -inf, as torch)."""
    y = special(xp, "gammaln", x)
    y = xp.where(x == -math.inf, math.inf, y)  # SciPy's gammaln(-inf) is -inf
    if x.dtype == np.float64:  # SciPy's gammaln is inf at float64's subnormals, where lgamma(x) = -log|x|
        with _quiet():  # to the last bit (the next term, Euler's gamma times x, is below 1e-307)
            sub = (xp.abs(x) < _FLOAT64_TINY) & (x != 0)
            if xp is not np or sub.any():
                y = xp.where(sub, -xp.log(xp.abs(x)), y)
    return y


@lgamma.defvjp
def lgamma_backward(ctx, gy):  # d lgamma(x) = digamma(x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(digamma, x),)


@op("digamma", save_inputs=(0,))
def digamma(xp, x):
    """d/dx lgamma(x) (-inf at 0, +inf at -0, NaN at the negative integers, as torch)."""
    return special(xp, "digamma", x)


@digamma.defvjp
def digamma_backward(ctx, gy):  # d digamma(x) = polygamma(1, x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(polygamma, x, n=1),)


@op("polygamma", save_inputs=(0,))
def polygamma(xp, x, *, n=0):
    """The n-th derivative of digamma: (-1)^(n+1) n! zeta(n + 1, x) for n >= 1."""
    if n == 0:
        return special(xp, "digamma", x)
    with _quiet():
        y = ((-1) ** (n + 1) * math.factorial(n) * special(xp, "zeta", x, float(n + 1))).astype(x.dtype)
        if n == 1 and x.dtype.kind == "f":  # torch's trigamma reflects x < 1/2: pi^2 / sin(pi x)^2, in x's dtype,
            pi = xp.asarray(math.pi, dtype=x.dtype)  # which at a negative integer is a large finite number
            s = xp.sin(pi * x)  # (sin(pi x) rounds to ~1e-7 in float32, ~1e-16 in float64), inf at 0
            y = xp.where((x < 0) & (x == xp.floor(x)), pi * pi / (s * s), y)
        return y


@polygamma.defvjp
def polygamma_backward(ctx, gy):  # d polygamma(n, x) = polygamma(n + 1, x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(polygamma, x, n=ctx.attrs["n"] + 1),)


@op("i0", save_inputs=(0,))
def i0(xp, x):
    """The modified Bessel function of the first kind, order 0."""
    return special(xp, "i0", x)


@i0.defvjp
def i0_backward(ctx, gy):  # d i0(x) = i1(x) dx
    (x,) = ctx.saved
    return (gy * ctx.call(i1, x),)


@op("i1", save_inputs=(0,), save_output=True)
def i1(xp, x):
    """The modified Bessel function of the first kind, order 1 (i0's derivative; torch.special.i1)."""
    return special(xp, "i1", x)


@i1.defvjp
def i1_backward(ctx, gy):  # d i1(x) = (i0(x) - i1(x) / x) dx, 1/2 at x == 0
    x, y = ctx.saved
    xs = ctx.xp.where(x == 0, 1, x)
    return (gy * ctx.xp.where(x == 0, 0.5, ctx.call(i0, x) - y / xs),)


@op("xlogy", save_inputs=(0, 1))
def xlogy(xp, x, y):
    """x * log(y), 0 where x == 0 (unless y is NaN), as torch.xlogy."""
    with _quiet():
        return xp.where((x == 0) & (y == y), 0, x * xp.log(y))


@xlogy.defvjp
def xlogy_backward(ctx, gy):  # d xlogy = log(y) dx + x / y dy; dx's part 0 where x == 0 and y <= 0 (torch)
    x, y = ctx.saved
    e = ctx.needs_input_grad
    gx = ctx.xp.where((x == 0) & (y <= 0), 0, ctx.call(xlogy, gy, y)) if e[0] else None
    if not e[1]:
        return gx, None
    with _quiet():
        return gx, gy * x / y


@op("logit", save_inputs=(0,))
def logit(xp, x, *, eps=None):
    """log(x / (1 - x)), x first clamped to [eps, 1 - eps] when ``eps`` is given."""
    if eps is not None:
        if x.dtype.itemsize == 2 and x.dtype.kind != "i":  # float16/bfloat16: torch's eps and 1 - eps in that
            lo = x.dtype.type(eps)  # dtype (its kernel's steps round to it: the registry passes half
            x = xp.clip(x, lo, 1 - lo).astype(x.dtype)  # arrays here, see registry._OWN_HALF_PATH)
        else:
            x = xp.clip(x, eps, 1 - eps)
    with _quiet():
        return xp.log(x / (1 - x))


@logit.defvjp
def logit_backward(ctx, gy):  # d logit(x) = dx / (x (1 - x)); 0 outside [eps, 1 - eps], NaN outside [0, 1] (torch)
    (x,) = ctx.saved
    eps = ctx.attrs["eps"]
    with _quiet():
        g = gy / (x * (1 - x))
    if eps is None:  # torch's kernel: gy * inf at 0 and 1 (+inf at -0 too, where the formula gives -inf)
        g = ctx.xp.where((x == 0) | (x == 1), gy * math.inf, g)
        return (ctx.xp.where((x < 0) | (x > 1), math.nan, g),)
    return (ctx.xp.where((x < eps) | (x > 1 - eps), 0, g),)


@op("sinc", save_inputs=(0,))
def sinc(xp, x):
    """sin(pi x) / (pi x), 1 at x == 0 (the normalised sinc)."""
    with _quiet():
        return xp.sinc(x)


# |pi x| below which sinc's derivative is its Maclaurin series (the closed form cancels there: its relative
# error is about eps / (pi x)^2, and pi x^2 underflows for tiny x, giving 0 / 0); the series' first dropped
# term is (pi x)^6 / 15120 of the value, so each bound balances the two errors for its dtype
_SINC_SERIES_BELOW = {4: 0.3, 8: 0.04}


@sinc.defvjp
def sinc_backward(ctx, gy):  # d sinc(x) = (pi x cos(pi x) - sin(pi x)) / (pi x^2) dx, 0 at x == 0
    (x,) = ctx.saved
    # near 0: -pi^2 x / 3 + pi^4 x^3 / 30 - pi^6 x^5 / 840 (at 0 the value 0, as the series' x is 0 there,
    # and double backward gets sinc''(0) = -pi^2 / 3 from it)
    p2 = (math.pi * x) * (math.pi * x)
    series = (-(math.pi**2) / 3) * x * (1 - p2 / 10 + p2 * p2 / 280)
    if _dtypes.kind(x.dtype) == "c":
        small = x == 0
    else:
        bound = _SINC_SERIES_BELOW.get(x.dtype.itemsize, 0.3)
        small = p2 < bound * bound
    xs = ctx.xp.where(small, 1, x)  # the closed form away from 0 only (no 0 / 0 in it, nor in its derivative)
    px = math.pi * xs
    d = (px * ctx.call(cos, px) - ctx.call(sin, px)) / (px * xs)
    return (gy * conj_if_complex(ctx, ctx.xp.where(small, series, d)),)


# ---------------------------------------------------------------- more binary float ops


@op("logaddexp2", save_inputs=(0, 1))
def logaddexp2(xp, x, y):
    """log2(2^x + 2^y), without overflow."""
    return xp.logaddexp2(x, y)


@logaddexp2.defvjp
def logaddexp2_backward(ctx, gy):  # d logaddexp2 = dx / (1 + 2^(y - x)) + dy / (1 + 2^(x - y))
    x, y = ctx.saved
    e = ctx.needs_input_grad
    gx = gy * ctx.call(sigmoid, (x - y) * _LN2) if e[0] else None
    gyy = gy * ctx.call(sigmoid, (y - x) * _LN2) if e[1] else None
    return gx, gyy


hypot = ufunc_op("hypot", "hypot", "sqrt(x^2 + y^2), without overflow.", save_inputs=(0, 1), save_output=True)


@hypot.defvjp
def hypot_backward(ctx, gy):  # d hypot = (x dx + y dy) / hypot (NaN at (0, 0), as torch)
    x, y, out = ctx.saved
    e = ctx.needs_input_grad
    with _quiet():
        return (gy * x / out if e[0] else None), (gy * y / out if e[1] else None)


fmax = ufunc_op("fmax", "fmax", "Elementwise maximum where a NaN loses to a number.", save_inputs=(0, 1))
fmin = ufunc_op("fmin", "fmin", "Elementwise minimum where a NaN loses to a number.", save_inputs=(0, 1))


def _chosen_grads(ctx, gy, x_wins):  # the whole gradient to the operand chosen (x on ties and when y is NaN)
    e = ctx.needs_input_grad
    return (ctx.xp.where(x_wins, gy, 0) if e[0] else None), (ctx.xp.where(x_wins, 0, gy) if e[1] else None)


@fmax.defvjp
def fmax_backward(ctx, gy):  # torch: x's where x >= y or y is NaN, else y's
    x, y = ctx.saved
    return _chosen_grads(ctx, gy, (x >= y) | (y != y))


@fmin.defvjp
def fmin_backward(ctx, gy):  # torch: x's where x <= y or y is NaN, else y's
    x, y = ctx.saved
    return _chosen_grads(ctx, gy, (x <= y) | (y != y))


nextafter = ufunc_op("nextafter", "nextafter", "The next float after x towards y.", save_inputs=(0, 1))


@nextafter.defvjp
def nextafter_backward(ctx, gy):  # torch: the gradient to x where x != y (else 0), and 0 to y
    x, y = ctx.saved
    e = ctx.needs_input_grad
    return (ctx.xp.where(x == y, 0, gy) if e[0] else None), (_zero_grad(ctx, gy)[0] if e[1] else None)


@op("heaviside")
def heaviside(xp, x, values):
    """0 where x < 0 (and where x is NaN, as torch; NumPy gives NaN), ``values`` where x == 0, 1 where
    x > 0 (integers stay integers; no gradient)."""
    return xp.where(x == 0, values, x > 0).astype(x.dtype, copy=False)


@heaviside.defvjp
def heaviside_backward(ctx, gy):
    raise RuntimeError("the derivative for 'heaviside' is not implemented (as in torch)")


# ---------------------------------------------------------------- angle, frexp, nan_to_num


@op("angle", save_inputs=(0,))
def angle(xp, x):
    """The argument: of a complex x, atan2(Im x, Re x) (real dtype); of a real x, pi where x < 0, else
    0 (NaN stays NaN; gradient 0, as torch)."""
    if x.dtype.kind == "c":
        return xp.angle(x)
    y = xp.where(x < 0, math.pi, 0.0).astype(x.dtype)
    return xp.where(x != x, x, y)


@angle.defvjp
def angle_backward(ctx, gy):  # complex z: d atan2(b, a) gives gz = gy i z / |z|^2 (0 at z = 0, as torch)
    (x,) = ctx.saved
    if x.dtype.kind != "c":
        return _zero_grad(ctx, gy)
    xp = ctx.xp
    r2 = ctx.call(real, x * ctx.call(conj, x))
    safe = xp.where(r2 == 0, 1, r2)
    return (xp.where(r2 == 0, 0, gy / safe) * (x * 1j),)


@op("frexp")
def frexp(xp, x):
    """frexp's int32 exponent e (x = m 2^e, 0.5 <= |m| < 1; 0 for 0, inf and NaN): no gradient.
    ``Tensor.frexp`` composes the mantissa x / 2^e from it, so the mantissa is differentiable."""
    return xp.frexp(x)[1].astype(xp.int32, copy=False)


@op("nan_to_num", save_inputs=(0,))
def nan_to_num(xp, x, *, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (default: the dtype's extremes)."""
    if x.dtype.kind == "V":  # bfloat16 (NumPy's nan_to_num knows no ml_dtypes type): in float32, its extremes
        big = float(np.finfo(x.dtype).max)
        posinf, neginf = big if posinf is None else posinf, -big if neginf is None else neginf
        return xp.nan_to_num(x.astype(np.float32), nan=nan, posinf=posinf, neginf=neginf).astype(x.dtype)
    if 0 in x.strides:  # (NumPy's copy of a broadcast x is not C-ordered: see copy_order)
        x = xp.ascontiguousarray(x)
    return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


@nan_to_num.defvjp
def nan_to_num_backward(ctx, gy):  # the gradient flows to the finite elements only (torch)
    (x,) = ctx.saved
    return (ctx.xp.where(ctx.call(isfinite, x), gy, 0),)


# ---------------------------------------------------------------- integers and predicates (no gradient)


gcd = ufunc_op(
    "gcd",
    "gcd",
    "The greatest common divisor of integers (non-negative; gcd(0, 0) = 0).",
    check=integer_kernel("gcd_cpu", bools=False),
)
lcm = ufunc_op(
    "lcm",
    "lcm",
    "The least common multiple of integers (non-negative; 0 when one is 0).",
    check=integer_kernel("lcm_cpu", bools=False),
)
bitwise_left_shift = ufunc_op(
    "bitwise_left_shift", "left_shift", "x << y for integers.", check=integer_kernel("lshift_cpu", bools=False)
)
bitwise_right_shift = ufunc_op(
    "bitwise_right_shift",
    "right_shift",
    "x >> y for integers (arithmetic shift).",
    check=integer_kernel("rshift_cpu", bools=False),
)
signbit = ufunc_op("signbit", "signbit", "The sign bit of x is set (True for -0.0 and -NaN; a bool tensor).")
isreal = ufunc_op("isreal", "isreal", "x has no imaginary part (a bool tensor; all True for real dtypes).")
