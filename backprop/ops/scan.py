"""Scans along one ``axis``: cumulative sums, products, log-sum-exps, and the running extremes'
indices (``cummax``/``cummin`` values are ``take_indexed`` at them, so their gradient goes to the
index, as torch). A 0-d input is a scan of one element (axis 0 or -1)."""

from __future__ import annotations

import numpy as np

from backprop import dtypes as _dtypes
from backprop.ops._util import c_order, wrap_dim
from backprop.ops.fft import conj_if_complex
from backprop.registry import op


def _axis(x, axis, name):
    return wrap_dim(axis, x.ndim, name)


def _flip(a, axis):
    """``a`` reversed along ``axis`` (a view of an array; while building a graph, a Tensor's flip: a Tensor
    takes no negative step, as torch's)."""
    if not a.ndim:
        return a
    if hasattr(a, "grad_fn"):
        return a.flip((axis,))
    return a[(slice(None),) * axis + (slice(None, None, -1),)]


def _scan(xp, fn, x, axis):
    """``fn(x, axis)`` for a scan that needs at least one dimension (0-d: the element itself)."""
    if x.ndim == 0:
        return xp.reshape(fn(xp.reshape(x, (1,)), 0), ())
    return c_order(xp, fn(x, axis))


def _accumulate(xp, ufunc, x, axis):
    """``ufunc.accumulate`` along ``axis`` (NumPy's C loop); where the namespace lacks it, a
    log-step (Hillis-Steele) scan: ceil(log2 n) elementwise passes over shifted slices."""
    try:
        return getattr(xp, ufunc).accumulate(x, axis=axis)
    except (AttributeError, NotImplementedError, TypeError):
        pass
    fn = getattr(xp, ufunc)
    out = x.copy()
    n = x.shape[axis]
    pre = (slice(None),) * axis
    step = 1
    while step < n:
        out[pre + (slice(step, None),)] = fn(out[pre + (slice(step, None),)], out[pre + (slice(0, n - step),)])
        step *= 2
    return out


def _acc(xp, x):
    """The dtype torch's CPU scans accumulate ``x`` in where it is wider than x's (``acc_type``): double for
    float32 (complex double for complex64), float32 for float16/bfloat16; each sum is then rounded once to
    x's dtype. None otherwise (and on CuPy: torch's CUDA scans accumulate float32 in float32)."""
    if xp is not np:
        return None
    if x.dtype.itemsize == 2 and _dtypes.is_floating(x.dtype):
        return np.float32
    return _WIDER.get(x.dtype.char)


_WIDER = {"f": np.float64, "F": np.complex128}


def _reverse_cumsum(ctx, g, axis):
    return _flip(ctx.call(cumsum, _flip(g, axis), axis=axis), axis)


@op("cumsum")
def cumsum(xp, x, *, axis):
    """Cumulative sum along ``axis``."""
    # (the array's own method, called from here: inf + -inf gives NaN silently under our warning filter, where
    # np.cumsum's Python would warn in its own module's name)
    acc = _acc(xp, x)
    if acc is not None:
        return _scan(xp, lambda v, d: v.cumsum(axis=d, dtype=acc).astype(x.dtype), x, _axis(x, axis, "cumsum"))
    return _scan(xp, lambda v, d: v.cumsum(axis=d), x, _axis(x, axis, "cumsum"))


@cumsum.defvjp
def cumsum_backward(ctx, gy):  # dx_i = sum_{k >= i} gy_k: the reversed cumsum
    return (_reverse_cumsum(ctx, gy, _axis(gy, ctx.attrs["axis"], "cumsum")),)


@op("cumprod", save_inputs=(0,), save_output=True)
def cumprod(xp, x, *, axis):
    """Cumulative product along ``axis``."""
    acc = _acc(xp, x)  # (as cumsum's)
    if acc is not None:
        return _scan(xp, lambda v, d: v.cumprod(axis=d, dtype=acc).astype(x.dtype), x, _axis(x, axis, "cumprod"))
    return _scan(xp, lambda v, d: v.cumprod(axis=d), x, _axis(x, axis, "cumprod"))


@cumprod.defvjp
def cumprod_backward(ctx, gy):
    # dx_i = sum_{k >= i} gy_k prod_{j <= k, j != i} x_j = rcumsum(gy y)_i / x_i without zeros.
    # With zeros: that holds before a slice's first zero z; at z it is rcumsum(gy cumprod(x with
    # x_z = 1))_z; after z it is 0 (exact values; the second derivative there misses the terms
    # through x_z, where torch runs an O(n^2) loop)
    x, y = ctx.saved
    xp = ctx.xp
    if gy.dtype.kind == "c":  # complex: the conjugate Wirtinger gradient, rcumsum(gy conj(y)) / conj(x)
        x, y = conj_if_complex(ctx, x), conj_if_complex(ctx, y)
    d = _axis(x, ctx.attrs["axis"], "cumprod")
    if x.ndim == 0 or x.shape[d] <= 1:
        return (gy,)
    if not bool((x == 0).any()):
        return (_reverse_cumsum(ctx, gy * y, d) / x,)
    zero = x == 0
    zeros_so_far = ctx.call(cumsum, zero, axis=d)
    before = zeros_so_far == 0
    first = zero & (zeros_so_far == 1)
    # (the sum stops before the zero, as torch's: an infinite gy there would give inf * 0 = NaN)
    g_before = _reverse_cumsum(ctx, xp.where(before, gy * y, 0), d) / xp.where(before, x, 1)
    if ctx.create_graph:  # at z: rcumsum(gy cumprod(x with x_z = 1)), which keeps the terms through later zeros
        g_first = _reverse_cumsum(ctx, gy * ctx.call(cumprod, xp.where(first, 1, x), axis=d), d)
    else:  # torch's O(n) values: y_{z-1} sum_{z <= k < z2} gy_k prod_{z < j <= k} x_j, y_{z-1} outside the sum
        # (an infinite product before z times a finite sum, not inf - inf inside it), the sum stopping at z2
        inner = ctx.call(cumprod, xp.where((zeros_so_far == 1) & ~first, x, 1), axis=d)
        total = xp.sum(xp.where(zeros_so_far == 1, gy, 0) * inner, axis=d, keepdims=True)
        g_first = total * ctx.call(cumprod, xp.where(before, x, 1), axis=d)
    return (xp.where(before, g_before, xp.where(first, g_first, 0)),)


@op("logcumsumexp", save_inputs=(0,), save_output=True)
def logcumsumexp(xp, x, *, axis):
    """log(cumsum(exp(x))) along ``axis``, without overflow or underflow (a running logaddexp)."""

    def scan(v, d):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # -inf and lowest inputs
            if v.dtype.kind == "c":
                return _complex_logcumsumexp(xp, v, d)
            return _accumulate(xp, "logaddexp", v, d)

    return _scan(xp, scan, x, _axis(x, axis, "logcumsumexp"))


def _complex_log_add_exp(xp, x, acc):
    """torch's complex log(exp(x) + exp(acc)): ``max + log1p(exp(min - max))`` with min/max by real part
    (a tie takes ``acc`` as min), so the imaginary part is max's plus a principal angle: it is not
    wrapped to (-pi, pi] as a whole. NaN in either part anywhere: NaN + NaN j; equal infinite real parts:
    min (-inf) or log(exp(min) + exp(max)) (+inf)."""
    x_first = x.real < acc.real
    lo, hi = xp.where(x_first, x, acc), xp.where(x_first, acc, x)
    out = xp.log1p(xp.exp(lo - hi)) + hi
    inf = ~xp.isfinite(lo.real) & (lo.real == hi.real)
    out = xp.where(inf, xp.where(lo.real < 0, lo, xp.log(xp.exp(lo) + xp.exp(hi))), out)
    nan = xp.isnan(x) | xp.isnan(acc)
    return xp.where(nan, xp.asarray(complex(np.nan, np.nan), dtype=out.dtype), out)


def _complex_logcumsumexp(xp, x, axis):
    """The running complex log-add-exp along ``axis`` (one vectorised step per position), from -inf."""
    moved = xp.moveaxis(x, axis, 0)
    out = xp.empty_like(moved)
    acc = xp.full(moved.shape[1:], -np.inf, dtype=x.dtype)
    for i in range(moved.shape[0]):
        acc = _complex_log_add_exp(xp, moved[i], acc)
        out[i] = acc
    return xp.moveaxis(out, 0, axis)


@logcumsumexp.defvjp
def logcumsumexp_backward(ctx, gy):
    # dx_i = sum_{k >= i} gy_k exp(x_i - y_k), computed as torch does in log space, positive and
    # negative gy apart: exp(x_i + reversed logcumsumexp(log|gy| - y)_i)
    x, y = ctx.saved
    xp = ctx.xp
    if x.ndim == 0:
        return (gy,)
    d = _axis(x, ctx.attrs["axis"], "logcumsumexp")
    if gy.dtype.kind == "c":  # complex (torch): conj(exp(x + reversed logcumsumexp(log(conj gy) - y)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_g = xp.log(conj_if_complex(ctx, gy))
            return (conj_if_complex(ctx, xp.exp(_flip(ctx.call(logcumsumexp, _flip(log_g - y, d), axis=d), d) + x)),)
    lowest = float(np.finfo(gy.dtype).min)

    def part(mask, g):
        log_g = xp.where(mask, xp.log(xp.where(mask, g, 1)), lowest)
        return xp.exp(_flip(ctx.call(logcumsumexp, _flip(log_g - y, d), axis=d), d) + x)

    with np.errstate(over="ignore", invalid="ignore"):  # the log-space terms of lowest entries
        return (part(gy > 0, gy) - part(gy < 0, -gy),)


def _running_extreme_index(xp, x, axis, ufunc):
    """The index of the running max (``ufunc`` "maximum") or min along ``axis``; ties take the latest
    index and a nan stays selected once seen (torch's cummax/cummin indices)."""
    if x.ndim == 0:
        return xp.zeros((), dtype="int64")
    n = x.shape[axis]
    running = _accumulate(xp, ufunc, x, axis)
    hit = x == running
    if _dtypes.kind(x.dtype) in "fc":
        hit |= xp.isnan(x)
    pos = xp.arange(n, dtype="int64").reshape(tuple(n if i == axis else 1 for i in range(x.ndim)))
    return c_order(xp, _accumulate(xp, "maximum", xp.where(hit, pos, 0), axis))


@op("cummax_index")
def cummax_index(xp, x, *, axis):
    """Index of the running maximum along ``axis`` (cummax's indices; int64, not differentiable)."""
    return _running_extreme_index(xp, x, _axis(x, axis, "cummax"), "maximum")


@op("cummin_index")
def cummin_index(xp, x, *, axis):
    """Index of the running minimum along ``axis`` (cummin's indices; int64, not differentiable)."""
    return _running_extreme_index(xp, x, _axis(x, axis, "cummin"), "minimum")
