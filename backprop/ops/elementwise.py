"""Elementwise ops: arithmetic, unary math and activations.

Broadcasting is handled by the kernels (numpy rules) on the way in and by the engine on the way
back, so no rule here reduces gradients to input shapes.
"""

from __future__ import annotations

import builtins
import cmath
import math

from backprop import dtypes
from backprop.ops._special import erf
from backprop.ops._util import select_gy, times_gy
from backprop.ops.fft import conj_if_complex, imag, real
from backprop.registry import op, ufunc_op

# ---------------------------------------------------------------- arithmetic


add = ufunc_op("add", "add", "x + y.")


@add.defvjp
def add_backward(ctx, gy):  # d(x+y) = dx + dy
    return gy, gy


sub = ufunc_op("sub", "subtract", "x - y.")


@sub.defvjp
def sub_backward(ctx, gy):  # d(x-y) = dx - dy
    return gy, (-gy if ctx.needs_input_grad[1] else None)


# ``saved_for``: x is kept only when y's gradient is wanted and y only when x's is, as torch does, so
# ``d * 2`` (and ``d * const``) keeps nothing of ``d`` and ``d += d * 2`` is legal. One op per concept:
# no separate mul-by-scalar op, and the unrecorded path (``x * 2.0`` under no_grad) pays nothing.
mul = ufunc_op("mul", "multiply", "x * y.", save_inputs=(0, 1), saved_for={0: (1,), 1: (0,)})


@mul.defvjp
def mul_backward(ctx, gy):  # d(xy) = y dx + x dy; complex: gx = gy conj(y), gy_ = gy conj(x)
    x, y = ctx.saved  # saved_for: y is kept exactly when x's gradient is wanted, and x when y's is
    if gy.dtype.kind == "c":  # (gy, the product's dtype, is complex exactly when a factor is: one read for
        x, y = conj_if_complex(ctx, x), conj_if_complex(ctx, y)  # real steps, which run this per op)
    return (None if y is None else gy * y), (None if x is None else gy * x)


div = ufunc_op("div", "true_divide", "x / y (true division).", save_inputs=(0, 1), saved_for={0: (1,)})


@div.defvjp
def div_backward(ctx, gy):  # d(x/y) = dx / y - x dy / y^2 (complex: the conjugates of those factors)
    x, y = ctx.saved
    e = ctx.needs_input_grad
    if gy.dtype.kind == "c":
        x, y = conj_if_complex(ctx, x), conj_if_complex(ctx, y)
    gx = gy / y if e[0] else None
    gyy = -gy * (x / y / y) if e[1] else None  # torch's order: y * y would underflow to 0 (0 / 0 at x == 0)
    return gx, gyy


# pow keeps its inputs only, not its output (x^y is recomputed for the exponent's gradient, rarely
# wanted): as in torch, ``z = x ** 2; z += 1`` is then legal.
_POW_PLAIN = frozenset((builtins.int, builtins.float, builtins.complex))
_bool = builtins.bool


@op("pow", save_inputs=(0, 1))
def pow(xp, x, y):  # noqa: A001 - torch's name
    """x ** y."""
    if y.__class__ is builtins.int and y < 0 and getattr(x, "dtype", None) is not None and x.dtype.kind in "iu":
        raise RuntimeError("Integers to negative integer powers are not allowed.")  # torch's (NumPy's ValueError)
    if y.__class__ in _POW_PLAIN or (y.__class__ is not _bool and y.dtype.kind in "fc"):
        return xp.power(x, y)
    return _pow_int(xp, x, y)


def _pow_int(xp, x, y):
    """pow with a Python bool or an integer/bool array exponent, as torch's: ``bool ** True`` stays bool
    (NumPy's power gives int8) and an integer base to a negative integer power is 0, or +-1 for a base of
    +-1 (NumPy raises)."""
    xk = x.dtype.kind if hasattr(x, "dtype") else "b" if x.__class__ is builtins.bool else "i"
    if y.__class__ is builtins.bool:
        if xk == "b":
            return x.copy() if y else xp.ones_like(x)
        return xp.power(x, y)
    if y.dtype.kind == "b" and xk == "b":
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")  # (torch's CPU kernel has no bool path)
    if y.dtype.kind != "i" or xk not in "biu":
        return xp.power(x, y)
    neg = y < 0
    out = xp.power(x, xp.where(neg, 0, y))
    small = xp.where(x == 1, 1, xp.where(x == -1, 1 - 2 * (y & 1), 0))  # 1 ** y, (-1) ** y, else 0
    return xp.where(neg, small, out).astype(out.dtype, copy=False)


@pow.defvjp
def pow_backward(ctx, gy):  # d(x^y) = y x^(y-1) dx + x^y log(x) dy
    if gy.dtype.kind == "c":  # (the output, so gy, is complex exactly when x or y is)
        return _pow_backward_complex(ctx, gy)
    # torch's conventions at base 0: dx is 0 where y == 0 (not 0 * 0^-1 = NaN), and dy is 0 where
    # x == 0 and y >= 0 (not 0 * log 0 = NaN). Both are written with a "safe" operand (y -> 1, resp.
    # x -> 1, at those points) instead of masking the result: the value is exactly 0 there with no
    # 0 * inf formed, so gradients of these gradients stay finite there too (torch's have NaN).
    x, y = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
    gx = gyy = None
    if e[0]:
        if y.__class__ in (int, float):  # (x^0: zeros, also for an infinite gy, as torch)
            if y == 0:
                gx = gy * 0 if ctx.create_graph else xp.zeros_like(gy)
            else:  # torch's grad * (y x^(y-1)), its x^-0.5 an rsqrt: -inf at -0, NaN at -inf (NumPy: inf, 0)
                gx = gy * (y * (1 / xp.sqrt(x) if y == 0.5 else x ** (y - 1)))
        else:  # y * x^(y-1) with y == 0 gives 0 * x^0 = 0 exactly; the where keeps an infinite gy out
            gx = xp.where(y == 0, 0, gy * y * x ** (xp.where(y == 0, 1, y) - 1))
    if e[1]:
        if x.__class__ in (int, float):
            safe_x = x if x != 0 else xp.where(y >= 0, 1, x)
        else:
            safe_x = xp.where((x == 0) & (y >= 0), 1, x)  # out * log(1) = 0 there
        gyy = gy * x**y * xp.log(safe_x)
    return gx, gyy


def _pow_backward_complex(ctx, gy):
    # conjugate Wirtinger: gx = gy conj(y x^(y-1)), gy_ = gy conj(x^y log x), with torch's zeros: gx at
    # y == 0, gy_ at x == 0 with y real and >= 0 (the same "safe operand" trick as the real rule)
    x, y = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
    gx = gyy = None
    if e[0]:
        if y.__class__ in (int, float, builtins.complex):
            gx = gy * 0 if y == 0 else gy * conj_if_complex(ctx, y * x ** (y - 1))
        else:
            gx = gy * conj_if_complex(ctx, y * x ** (xp.where(y == 0, 1, y) - 1))
    if e[1]:
        if x.__class__ in (int, float, builtins.complex):
            safe_x = builtins.complex(x) if x != 0 else xp.where(_real_nonneg(ctx, y), 1 + 0j, x)
        else:
            y_real_nonneg = y >= 0 if y.__class__ in (int, float) else _real_nonneg(ctx, y)
            safe_x = xp.where((x == 0) & y_real_nonneg, 1, x)
            if safe_x.dtype.kind != "c":
                safe_x = safe_x + 0j  # log of a negative real base is complex here (torch promotes first)
        log_x = cmath.log(safe_x) if safe_x.__class__ is builtins.complex else xp.log(safe_x)
        gyy = gy * conj_if_complex(ctx, x**y * log_x)
    return gx, gyy


def _real_nonneg(ctx, y):
    """y is real and >= 0, elementwise, for a real or complex y (pow's zero-base convention)."""
    if y.dtype.kind != "c":
        return y >= 0
    return (ctx.call(imag, y) == 0) & (ctx.call(real, y) >= 0)


neg = ufunc_op("neg", "negative", "-x.")


@neg.defvjp
def neg_backward(ctx, gy):
    return (-gy,)


maximum = ufunc_op(
    "maximum",
    "maximum",
    "Elementwise max of x and y (ties share the gradient equally, as in torch).",
    save_inputs=(0, 1),
)


@maximum.defvjp
def maximum_backward(ctx, gy):  # torch: gy (halved on ties) to x unless x < y, to y unless x > y (a NaN: both)
    x, y = ctx.saved
    return _extreme_pair_grads(ctx, gy, x < y, x > y)


minimum = ufunc_op(
    "minimum",
    "minimum",
    "Elementwise min of x and y (ties share the gradient equally, as in torch).",
    save_inputs=(0, 1),
)


@minimum.defvjp
def minimum_backward(ctx, gy):  # torch: gy (halved on ties) to x unless x > y, to y unless x < y (a NaN: both)
    x, y = ctx.saved
    return _extreme_pair_grads(ctx, gy, x > y, x < y)


def _extreme_pair_grads(ctx, gy, x_loses, y_loses):
    """torch's maximum/minimum rule: ``where(x == y, gy / 2, gy)`` masked to 0 where that operand loses
    (a select: an infinite gy gives 0 there, not NaN)."""
    x, y = ctx.saved
    xp = ctx.xp
    g = xp.where(x == y, gy / 2, gy)
    e = ctx.needs_input_grad
    return (xp.where(x_loses, 0, g) if e[0] else None), (xp.where(y_loses, 0, g) if e[1] else None)


where = ufunc_op("where", "where", "x where cond else y.", save_inputs=(0,))


@where.defvjp
def where_backward(ctx, gy):
    (cond,) = ctx.saved
    e = ctx.needs_input_grad
    xp = ctx.xp
    gx = xp.where(cond, gy, 0) if e[1] else None
    gyy = xp.where(cond, 0, gy) if e[2] else None
    return None, gx, gyy


@op("clamp", save_inputs=(0,))
def clamp(xp, x, *, min=None, max=None):
    """x limited to [min, max] (either bound may be None)."""
    if min is not None and max is not None:
        y = xp.clip(x, min, max)
        return y if y.dtype == x.dtype else y.astype(x.dtype)  # (NumPy's clip of bfloat16 gives float32)
    if min is not None:
        return xp.maximum(x, min)
    return xp.minimum(x, max)


@clamp.defvjp
def clamp_backward(ctx, gy):  # gradient passes where min <= x <= max (bounds inclusive)
    (x,) = ctx.saved
    lo, hi = ctx.attrs["min"], ctx.attrs["max"]
    if lo is not None and hi is not None:
        mask = (x >= lo) & (x <= hi)
    elif lo is not None:
        mask = x >= lo
    else:
        mask = x <= hi
    return (select_gy(ctx, gy, mask),)  # (NaN x: 0, as torch)


# ---------------------------------------------------------------- unary math


exp = ufunc_op("exp", "exp", "e ** x.", save_output=True)


@exp.defvjp
def exp_backward(ctx, gy):  # d exp(x) = exp(x) dx
    (y,) = ctx.saved
    return (times_gy(ctx, gy, conj_if_complex(ctx, y) if gy.dtype.kind == "c" else y),)


log = ufunc_op("log", "log", "Natural logarithm.", save_inputs=(0,))


@log.defvjp
def log_backward(ctx, gy):  # d log(x) = dx / x (complex: gy / conj(x), as every holomorphic rule here)
    (x,) = ctx.saved
    return (gy / (conj_if_complex(ctx, x) if gy.dtype.kind == "c" else x),)


sqrt = ufunc_op("sqrt", "sqrt", "Square root.", save_output=True)


@sqrt.defvjp
def sqrt_backward(ctx, gy):  # d sqrt(x) = dx / (2 sqrt(x))
    (y,) = ctx.saved
    return (gy / (2 * conj_if_complex(ctx, y)),)


abs = ufunc_op("abs", "abs", "|x| (gradient 0 at 0, as in torch).", save_inputs=(0,))


@abs.defvjp
def abs_backward(ctx, gy):  # d|x| = sign(x) dx; complex: gz = gy z / |z| (torch's sgn, 0 at 0)
    (x,) = ctx.saved
    if x.dtype.kind == "c":
        return (_abs_backward_complex(ctx, gy, x),)
    s = ctx.xp.sign(x)
    return (gy * ctx.xp.where(s != s, 0, s),)  # torch's sgn: 0 at NaN (NumPy's sign gives NaN)


def _abs_backward_complex(ctx, gy, z):
    """gy z / |z| for a complex z, 0 at z = 0 (torch's gy sgn(z)), differentiable in graph mode."""
    xp = ctx.xp
    r = ctx.call(abs, z)
    zero = r == 0
    return xp.where(zero, 0, gy * z / xp.where(zero, 1, r))


tanh = ufunc_op("tanh", "tanh", "Hyperbolic tangent.", save_output=True)


@tanh.defdonating
def tanh_in_input(xp, x):
    """``tanh`` in the input's buffer (a replay whose input dies here); a new array otherwise."""
    return xp.tanh(x, out=x) if _writable_float(x) else xp.tanh(x)


def _writable_float(x):
    """Whether a result of x's dtype may be written into x (a float array, not a broadcast view)."""
    return x.dtype.kind == "f" and getattr(x, "ndim", 0) and 0 not in x.strides


@tanh.defvjp
def tanh_backward(ctx, gy):  # d tanh(x) = (1 - tanh(x)^2) dx
    (y,) = ctx.saved
    factor = 1 - y * y
    return (times_gy(ctx, gy, conj_if_complex(ctx, factor) if gy.dtype.kind == "c" else factor),)


@op("sigmoid", save_output=True)
def sigmoid(xp, x):
    """1 / (1 + e^-x), computed without overflow for large |x| (real x)."""
    if x.dtype.kind != "f":
        if x.dtype.kind == "c":  # (no ordering to split on: the plain formula, as torch)
            return 1 / (1 + xp.exp(-x))
        if not dtypes.is_bfloat16(x.dtype):  # bool and integers: the default float dtype (torch)
            x = x.astype(dtypes.get_default_dtype())
    e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@sigmoid.defvjp
def sigmoid_backward(ctx, gy):  # d s(x) = s(x) (1 - s(x)) dx
    (y,) = ctx.saved
    yc = conj_if_complex(ctx, y) if gy.dtype.kind == "c" else y
    return (times_gy(ctx, times_gy(ctx, gy, yc), 1 - yc),)  # (gy y)(1 - y), in gy's buffer when it may


@op("relu", save_output=True)
def relu(xp, x):
    """max(x, 0) (gradient 0 at 0, as in torch)."""
    return xp.maximum(x, 0)


@relu.defdonating
def relu_in_input(xp, x):
    """``relu`` in the input's buffer (a replay whose input dies here); a new array otherwise."""
    return xp.maximum(x, 0, out=x) if _writable_float(x) else xp.maximum(x, 0)


@relu.defvjp
def relu_backward(ctx, gy):  # torch's threshold_backward: 0 where y <= 0, else gy (also where y is NaN)
    (y,) = ctx.saved  # y = max(x, 0) is > 0, 0 or NaN: "not y <= 0" is y != 0, one pass instead of two
    return (select_gy(ctx, gy, y != 0),)


@op("leaky_relu", save_inputs=(0,))
def leaky_relu(xp, x, *, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise."""
    return xp.where(x > 0, x, x * negative_slope)


@leaky_relu.defvjp
def leaky_relu_backward(ctx, gy):
    (x,) = ctx.saved
    slope = ctx.attrs["negative_slope"]
    return (ctx.xp.where(x > 0, gy, gy * slope),)


@op("silu", save_inputs=(0,))
def silu(xp, x):
    """x * sigmoid(x)."""
    return x * sigmoid.forward(xp, x)


@silu.defvjp
def silu_backward(ctx, gy):  # d x s(x) = s(x) (1 + x (1 - s(x))) dx
    (x,) = ctx.saved
    s = ctx.call(sigmoid, x)
    if gy.dtype.kind == "c":  # complex: the conjugate derivative (torch's convention)
        return (gy * conj_if_complex(ctx, s * (1 + x * (1 - s))),)
    return (times_gy(ctx, times_gy(ctx, gy, s), 1 + x * (1 - s)),)


@op("softplus", save_inputs=(0,))
def softplus(xp, x, *, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, linear where beta x > threshold (as in torch)."""
    bx = x * beta
    soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta  # stable log1p(e^bx)
    return xp.where(bx > threshold, x, soft)


@softplus.defvjp
def softplus_backward(ctx, gy):  # d softplus(x) = sigmoid(beta x) dx
    (x,) = ctx.saved
    beta = ctx.attrs["beta"]
    threshold = ctx.attrs["threshold"]
    s = ctx.call(sigmoid, x * beta)
    return (ctx.xp.where(x * beta > threshold, gy, gy * s),)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@op("gelu", save_inputs=(0,))
def gelu(xp, x, *, approximate="none"):
    """x * Phi(x) (Phi the standard normal CDF), or its tanh approximation."""
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(xp, x / math.sqrt(2.0)))


@gelu.defvjp
def gelu_backward(ctx, gy):  # d gelu(x) = gelu'(x) dx, with gelu' its own op (double backward)
    (x,) = ctx.saved
    return (times_gy(ctx, gy, ctx.call(gelu_grad, x, approximate=ctx.attrs["approximate"])),)


@op("gelu_grad", save_inputs=(0,))
def gelu_grad(xp, x, *, approximate="none"):
    """The derivative gelu'(x), an op so that gelu has a second derivative."""
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = xp.tanh(u)
        du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    cdf = 0.5 * (1 + erf(xp, x / math.sqrt(2.0)))
    return cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI


@gelu_grad.defvjp
def gelu_grad_backward(ctx, gy):  # gelu''(x)
    (x,) = ctx.saved
    xp = ctx.xp
    if ctx.attrs["approximate"] == "tanh":
        c, k = _SQRT_2_OVER_PI, 0.044715
        u = c * (x + k * x**3)
        t = xp.tanh(u)
        du = c * (1 + 3 * k * x * x)
        d2u = c * 6 * k * x
        sech2 = 1 - t * t
        return (gy * (sech2 * du + 0.5 * x * (sech2 * d2u - 2 * t * sech2 * du * du)),)
    pdf = xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return (gy * pdf * (2 - x * x),)


# ---------------------------------------------------------------- comparisons (no gradient)


def _compare(name, ufunc):
    return ufunc_op(name, ufunc, f"Elementwise {ufunc} (a bool tensor; not differentiable).")


lt = _compare("lt", "less")
le = _compare("le", "less_equal")
gt = _compare("gt", "greater")
ge = _compare("ge", "greater_equal")
eq = _compare("eq", "equal")
ne = _compare("ne", "not_equal")


# ---------------------------------------------------------------- logical and bitwise (no gradient)


def operand_kind(v):
    """An operand's dtype kind ("f" for bfloat16 too); a Python number's by its type (a bool's is "b")."""
    if hasattr(v, "dtype"):
        return dtypes.kind(v.dtype)
    return "b" if v.__class__ is bool else "f" if isinstance(v, float) else "c" if isinstance(v, complex) else "i"


def integer_kernel(kernel, bools=True):
    """``check=`` of an op whose torch CPU kernel ``kernel`` takes integers (and bools, when ``bools``) only:
    torch's NotImplementedError naming the operands' result dtype otherwise (``1.5 << x``: 'Float'), where
    NumPy raises its own TypeError (floats) or computes in int8 (``bool // bool``)."""

    def check(*xs):
        kinds = [operand_kind(v) for v in xs]
        if "f" in kinds or "c" in kinds or (not bools and all(k == "b" for k in kinds)):
            dt = xs[0].dtype if len(xs) == 1 else dtypes.promote_types(*xs)
            raise NotImplementedError(f"\"{kernel}\" not implemented for '{dtypes.scalar_type_name(dt)}'")

    return check


logical_not = ufunc_op("logical_not", "logical_not", "not x, elementwise (a bool tensor).")
logical_and = ufunc_op("logical_and", "logical_and", "x and y, elementwise (a bool tensor).")
logical_or = ufunc_op("logical_or", "logical_or", "x or y, elementwise (a bool tensor).")
logical_xor = ufunc_op("logical_xor", "logical_xor", "x xor y, elementwise (a bool tensor).")
_BITWISE = "(bitwise on integers, logical on bools)."
bitwise_not = ufunc_op("bitwise_not", "invert", f"~x {_BITWISE}", check=integer_kernel("bitwise_not_cpu"))
bitwise_and = ufunc_op("bitwise_and", "bitwise_and", f"x & y {_BITWISE}", check=integer_kernel("bitwise_and_cpu"))
bitwise_or = ufunc_op("bitwise_or", "bitwise_or", f"x | y {_BITWISE}", check=integer_kernel("bitwise_or_cpu"))
bitwise_xor = ufunc_op("bitwise_xor", "bitwise_xor", f"x ^ y {_BITWISE}", check=integer_kernel("bitwise_xor_cpu"))
