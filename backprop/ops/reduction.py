"""Reductions over ``axis`` (None, int or tuple; negatives allowed) with ``keepdims``.

A 0-d input accepts ``axis`` 0 and -1 (as torch): they name no axis there. Value-selecting
reductions along one dim (``max(dim)``, ``min(dim)``, ``median(dim)``, ``cummax``) are an index op
(``argmax``, ``argmedian``, ...) plus ``take_indexed``, whose gradient goes to the selected index
only (torch); full ``amax``/``amin``/``median`` share it equally among ties (torch too).
"""

from __future__ import annotations

import math

import numpy as np

from backprop import dtypes as _dtypes
from backprop.ops import scan
from backprop.ops import shape as sh
from backprop.ops._util import ShapeError, c_order, count, expand_reduced, norm_axes
from backprop.ops.fft import conj_if_complex
from backprop.registry import op


def _axes(x, axis):
    return norm_axes(axis, x.ndim)


def _ax(x, axis):
    """``axis`` for an xp reduction: unchanged (numpy takes negatives and tuples), except on a 0-d
    input, where torch's dims 0 and -1 become ``()``."""
    return axis if axis is None or x.ndim else norm_axes(axis, 0)


def _quiet():
    """NumPy's floating-point warnings off (torch gives nan/inf silently; CuPy never warns)."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def _add_reduce(xp, x, axis, keepdims):
    """``xp.sum``; on NumPy its ufunc called from here (the same values and dtypes as ``np.sum``): an ``inf - inf``
    is NaN silently under our warning filter, where ``np.sum``'s Python would warn in its own module's name. (A
    ``np.errstate`` block per call would cost more than a small sum.)"""
    if xp is np:
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return xp.sum(x, axis=axis, keepdims=keepdims)


@op("sum")
def sum(xp, x, *, axis=None, keepdims=False):
    """Sum over ``axis``."""
    return c_order(xp, _add_reduce(xp, x, _ax(x, axis), keepdims))


@sum.defvjp
def sum_backward(ctx, gy):  # every input element gets gy
    shape = ctx.input_shapes[0]
    g = expand_reduced(ctx.xp, gy, shape, ctx.attrs["axis"], ctx.attrs["keepdims"])
    return (ctx.xp.broadcast_to(g, shape),)


@op("mean")
def mean(xp, x, *, axis=None, keepdims=False):
    """Arithmetic mean over ``axis`` (NaN over nothing, without NumPy's "Mean of empty slice", as torch)."""
    if xp is not np:
        return c_order(xp, xp.mean(x, axis=_ax(x, axis), keepdims=keepdims))
    # NumPy's own mean, bit for bit (float16 summed in float32), with the ufunc called from here: an inf - inf or an
    # empty slice gives NaN under our warning filter, where np.mean's Python would warn in its own module's name
    n = count(x.shape, _axes(x, axis))
    if x.dtype == np.float16:
        return c_order(xp, (np.add.reduce(x, _ax(x, axis), dtype=np.float32, keepdims=keepdims) / n).astype(x.dtype))
    return c_order(xp, np.add.reduce(x, _ax(x, axis), keepdims=keepdims) / n)


@mean.defvjp
def mean_backward(ctx, gy):  # every input element gets gy / n
    shape = ctx.input_shapes[0]
    axis = ctx.attrs["axis"]
    n = count(shape, norm_axes(axis, len(shape)))
    g = expand_reduced(ctx.xp, gy, shape, axis, ctx.attrs["keepdims"])
    return (ctx.xp.broadcast_to(g / n, shape),)


def _extreme_backward(ctx, gy, nan_shares=False):
    """Gradient of amax/amin: shared equally by the elements equal to the result. A nan result
    matches no element, so its gradient is nan, as torch's amax; median (``nan_shares``) shares it
    among the nan elements, as torch's evenly_distribute_backward (and torch's full max()/min(): the
    ``nan_shares`` attribute of amax/amin)."""
    x, y = ctx.saved
    xp = ctx.xp
    axis, keepdims = ctx.attrs["axis"], ctx.attrs["keepdims"]
    shape = x.shape
    y = expand_reduced(xp, y, shape, axis, keepdims)
    g = expand_reduced(xp, gy, shape, axis, keepdims)
    mask = x == y
    if nan_shares:
        mask = mask | ((x != x) & (y != y))
    n = xp.sum(mask, axis=norm_axes(axis, len(shape)), keepdims=True)
    with _quiet():
        if nan_shares:  # torch's evenly_distribute_backward writes g / n at the mask (an infinite g: 0 elsewhere)
            return (xp.where(mask, g / n, 0),)
        return (g * mask / n,)  # amax/amin: torch's (g / n) * mask


def _check_nonempty(name, x, *, axis=None, keepdims=False, nan_shares=False):
    """A maximum or minimum has no identity: reducing an empty dim is an error in torch's words."""
    if x.size == 0:
        if axis is None:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                "with the 'dim' argument."
            )
        norm_axes(axis, x.ndim)  # (an out-of-range dim's error first)
        for d in axis if isinstance(axis, (tuple, list)) else (axis,):
            if x.shape[d] == 0:  # torch names the dim as given: -1 stays -1
                raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


@op("amax", save_inputs=(0,), save_output=True, check=lambda x, **kw: _check_nonempty("amax", x, **kw))
def amax(xp, x, *, axis=None, keepdims=False, nan_shares=False):
    """Maximum over ``axis`` (ties share the gradient equally; ``nan_shares``: a nan
    result's gradient is shared by the nan elements, torch's full ``max()``)."""
    return c_order(xp, xp.max(x, axis=_ax(x, axis), keepdims=keepdims))


def _amax_backward(ctx, gy):  # (amax and amin: shared by the elements equal to the result)
    return _extreme_backward(ctx, gy, ctx.attrs["nan_shares"])


amax.defvjp(_amax_backward)


@op("amin", save_inputs=(0,), save_output=True, check=lambda x, **kw: _check_nonempty("amin", x, **kw))
def amin(xp, x, *, axis=None, keepdims=False, nan_shares=False):
    """Minimum over ``axis`` (ties share the gradient equally; ``nan_shares``: a nan
    result's gradient is shared by the nan elements, torch's full ``min()``)."""
    return c_order(xp, xp.min(x, axis=_ax(x, axis), keepdims=keepdims))


amin.defvjp(_amax_backward)


@op("var", save_inputs=(0,))
def var(xp, x, *, axis=None, correction=1, keepdims=False):
    """Variance over ``axis`` with ``correction`` (1: unbiased, as torch's default).

    With ``n - correction <= 0`` torch divides by ``max(0, n - correction)``: nan for a constant
    slice, inf otherwise (torch also warns; here no warning escapes)."""
    axes = _axes(x, axis)
    if count(x.shape, axes) - correction > 0:
        with _quiet():  # (infinities: NaN, silently; NumPy's var is Python, warning in its own module's name)
            if x.dtype == "float16":  # accumulate in float32, as torch (float16 sums of squares lose the answer)
                return c_order(
                    xp, xp.var(x, axis=axes, ddof=correction, keepdims=keepdims, dtype="float32").astype(x.dtype)
                )
            return c_order(xp, xp.var(x, axis=axes, ddof=correction, keepdims=keepdims))
    with _quiet():
        centered = x - xp.mean(x, axis=axes, keepdims=True) if x.size else x  # (no "Mean of empty slice")
        sq = centered * centered if x.dtype.kind != "c" else centered.real**2 + centered.imag**2  # (real |x - m|^2)
        return xp.sum(sq, axis=axes, keepdims=keepdims) / 0.0


@var.defvjp
def var_backward(ctx, gy):  # d var = 2 (x - mean) / (n - correction) dx
    (x,) = ctx.saved
    return (_var_grad(ctx, x, gy),)


def _var_grad(ctx, x, gy):
    xp = ctx.xp
    axis = ctx.attrs["axis"]
    axes = norm_axes(axis, x.ndim)
    dof = count(x.shape, axes) - ctx.attrs["correction"]
    g = expand_reduced(xp, gy, x.shape, axis, ctx.attrs["keepdims"])
    if 0 in x.shape:  # nothing to differentiate (and no NumPy "Mean of empty slice")
        return g * x
    centered = x - xp.mean(x, axis=axes, keepdims=True)
    if dof > 0:
        return g * centered * (2.0 / dof)
    with _quiet():  # torch's values: the full reduction gives nan at the mean (an infinite one too), inf elsewhere
        if axis is None or x.ndim == 0:
            return g * xp.where(x == xp.mean(x, axis=axes, keepdims=True), math.nan, math.inf)
        return g * centered * (2.0 / dof if dof else math.inf)


@op("std", save_inputs=(0,), save_output=True)
def std(xp, x, *, axis=None, correction=1, keepdims=False):
    """Standard deviation over ``axis``: sqrt(var) (gradient 0 where it is 0, as torch)."""
    return xp.sqrt(var.forward(xp, x, axis=axis, correction=correction, keepdims=keepdims))


@std.defvjp
def std_backward(ctx, gy):  # d std = d var / (2 std), taken as 0 where std = 0 (torch)
    x, y = ctx.saved
    xp = ctx.xp
    zero = y == 0
    with _quiet():
        return (_var_grad(ctx, x, xp.where(zero, 0, gy / (2 * xp.where(zero, 1, y)))),)


@op("logsumexp", save_inputs=(0,), save_output=True)
def logsumexp(xp, x, *, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, shifted by the max so large inputs do not overflow."""
    axes = _axes(x, axis)
    if x.size == 0:  # an empty slice sums to 0: log 0 = -inf, as torch (max has no identity)
        y = xp.full(tuple(1 if i in axes else n for i, n in enumerate(x.shape)), -math.inf, dtype=x.dtype)
        return y if keepdims else xp.squeeze(y, axis=axes)
    m = xp.max(x, axis=axes, keepdims=True)
    if m.dtype.kind == "c":  # a real shift: the result's phase is log's, in (-pi, pi] (torch)
        m = m.real
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows: keep -inf, not nan
    with _quiet():
        y = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
    return c_order(xp, y if keepdims else xp.squeeze(y, axis=axes))


@logsumexp.defvjp
def logsumexp_backward(ctx, gy):  # d lse(x) = softmax(x) dx
    x, y = ctx.saved
    xp = ctx.xp
    axis, keepdims = ctx.attrs["axis"], ctx.attrs["keepdims"]
    y = expand_reduced(xp, y, x.shape, axis, keepdims)
    g = expand_reduced(xp, gy, x.shape, axis, keepdims)
    return (g * conj_if_complex(ctx, xp.exp(x - y)),)


# ---------------------------------------------------------------- products


@op("prod", save_inputs=(0,), save_output=True)
def prod(xp, x, *, axis=None, keepdims=False):
    """Product over ``axis``."""
    reduce = np.multiply.reduce if xp is np else xp.prod  # (see _add_reduce: inf * 0 gives NaN silently)
    return c_order(xp, reduce(x, axis=_ax(x, axis), keepdims=keepdims))


@prod.defvjp
def prod_backward(ctx, gy):  # d prod = prod_{j != i} x_j dx_i; = prod / x_i when no x_i is 0
    x, y = ctx.saved  # (complex: the conjugates of those factors)
    xp = ctx.xp
    axis, keepdims = ctx.attrs["axis"], ctx.attrs["keepdims"]
    g = expand_reduced(xp, gy, x.shape, axis, keepdims)
    if x.ndim == 0:  # the product of one element: gy itself, also at inf or NaN (torch)
        return (g,)
    zeros = int((x == 0).sum())
    if not zeros:
        return (g * conj_if_complex(ctx, expand_reduced(xp, y, x.shape, axis, keepdims)) / conj_if_complex(ctx, x),)
    if zeros > 1 and axis is None and not ctx.create_graph:  # every product of the others has a 0: torch's
        return (xp.zeros(x.shape, dtype=g.dtype),)  # zeros (an infinite gy too), the whole-tensor prod only
    return (g * conj_if_complex(ctx, _products_of_others(ctx, x, norm_axes(axis, x.ndim))),)


def _products_of_others(ctx, x, axes):
    """For each element, the product of the others reduced with it (exact with zeros: torch's
    exclusive-cumprod formulation, itself differentiable)."""
    xp = ctx.xp
    if not axes:
        return xp.sign(x) ** 0  # nothing else in the product: ones (a constant in graph mode)
    if len(axes) == 1:
        return _exclusive_products(ctx, x, axes[0])
    kept = [d for d in range(x.ndim) if d not in axes]
    perm = (*kept, *axes)
    moved = xp.transpose(x, perm)
    flat = xp.reshape(moved, tuple(x.shape[d] for d in kept) + (count(x.shape, axes),))
    out = xp.reshape(_exclusive_products(ctx, flat, len(kept)), moved.shape)
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return xp.transpose(out, tuple(inverse))


def _exclusive_products(ctx, x, d):
    """prod_{j < i} x_j * prod_{j > i} x_j along axis ``d`` (cumprods of the shifted input)."""
    n = x.shape[d]
    pre = (slice(None),) * d
    ones = ctx.xp.sign(x[pre + (slice(0, 1),)]) ** 0

    def before(v):  # products of the elements strictly before each position
        return ctx.call(scan.cumprod, ctx.call(sh.cat, ones, v[pre + (slice(0, n - 1),)], axis=d), axis=d)

    return before(x) * scan._flip(before(scan._flip(x, d)), d)


# ---------------------------------------------------------------- value-selecting reductions


@op("take_indexed", save_inputs=(1,))
def take_indexed(xp, x, index, *, axis):
    """x's entries at ``index`` (int64, x's ndim) along ``axis``: the values of max(dim), min(dim),
    median(dim), cummax and cummin (take_along_axis); the gradient goes to those entries only."""
    return c_order(xp, xp.take_along_axis(x, index, axis=axis))


@take_indexed.defvjp
def take_indexed_backward(ctx, gy):  # scatter gy back to the entries read (repeats accumulate)
    (index,) = ctx.saved
    return ctx.call(take_indexed_grad, gy, index, axis=ctx.attrs["axis"], shape=ctx.input_shapes[0]), None


@op("take_indexed_grad", save_inputs=(1,))
def take_indexed_grad(xp, gy, index, *, axis, shape):
    """zeros(shape) with gy added at ``index`` along ``axis`` (take_indexed's adjoint)."""
    gx = xp.zeros(shape, dtype=gy.dtype)
    ndim = len(shape)
    axis %= ndim
    grid = tuple(
        index if d == axis else xp.arange(n).reshape(tuple(n if i == d else 1 for i in range(ndim)))
        for d, n in enumerate(index.shape)
    )
    xp.add.at(gx, grid, gy)
    return gx


@take_indexed_grad.defvjp
def take_indexed_grad_backward(ctx, gy):  # the adjoint of the scatter is the gather
    (index,) = ctx.saved
    return ctx.call(take_indexed, gy, index, axis=ctx.attrs["axis"]), None


@op("argmax", check=lambda x, **kw: _check_nonempty("argmax", x, **kw))
def argmax(xp, x, *, axis=None, keepdims=False):
    """Index of the first maximum over ``axis`` (int64; not differentiable)."""
    return c_order(xp, xp.argmax(x, axis=_ax1(x, axis), keepdims=keepdims).astype("int64", copy=False))


@op("argmin", check=lambda x, **kw: _check_nonempty("argmin", x, **kw))
def argmin(xp, x, *, axis=None, keepdims=False):
    """Index of the first minimum over ``axis`` (int64; not differentiable)."""
    return c_order(xp, xp.argmin(x, axis=_ax1(x, axis), keepdims=keepdims).astype("int64", copy=False))


def _ax1(x, axis):
    return None if axis is None or x.ndim == 0 else axis


@op("median", save_inputs=(0,), save_output=True)
def median(xp, x, *, axis=None, keepdims=False):
    """The lower median of all elements (torch: the smaller middle value for even counts, not their
    mean; nan when any element is nan). ``axis`` must be None: median(dim) is argmedian + take_indexed."""
    if axis is not None:
        raise ValueError("median: the op reduces all elements; use argmedian for one dim")
    flat = xp.reshape(x, (-1,))
    if flat.shape[0] == 0:
        if _dtypes.kind(flat.dtype) in "fc":  # torch: nan (its integer result is an arbitrary number)
            y = xp.full((), xp.nan, dtype=flat.dtype)
            return xp.reshape(y, (1,) * x.ndim) if keepdims else y
        raise ValueError("median() of an empty integer tensor is not defined")
    y = xp.sort(flat)[(flat.shape[0] - 1) // 2]
    if _dtypes.kind(flat.dtype) in "fc":
        y = xp.where(xp.isnan(flat).any(), xp.nan, y).astype(flat.dtype)
    return xp.reshape(y, (1,) * x.ndim) if keepdims else y


@median.defvjp
def median_backward(ctx, gy):  # shared equally by the elements equal to the median (or nan)
    return _extreme_backward(ctx, gy, nan_shares=True)


@op("argmedian")
def argmedian(xp, x, *, axis, keepdims=False):
    """Index of the lower median along ``axis`` (torch's median(dim).indices; rows with a nan give
    the first nan, whose value torch returns; int64, not differentiable)."""
    if x.ndim == 0:
        return xp.zeros((), dtype="int64")
    axis %= x.ndim
    n = x.shape[axis]
    if n == 0:
        raise ValueError(f"median(): cannot take the median of an empty dimension {axis} of shape {x.shape}")
    k = (n - 1) // 2
    idx = xp.take(xp.argsort(x, axis=axis), xp.asarray([k]), axis=axis)
    if _dtypes.kind(x.dtype) in "fc":
        nan = xp.isnan(x)
        idx = xp.where(nan.any(axis=axis, keepdims=True), xp.argmax(nan, axis=axis, keepdims=True), idx)
    idx = idx.astype("int64", copy=False)
    return idx if keepdims else xp.squeeze(idx, axis=axis)


@op("argmode")
def argmode(xp, x, *, axis, keepdims=False):
    """Index of the mode along ``axis``: torch's mode(dim).indices, the last
    occurrence of the smallest of the most frequent values (int64, not differentiable)."""
    if x.ndim == 0:
        return xp.zeros((), dtype="int64")
    a = xp.moveaxis(x, axis, -1)
    n = a.shape[-1]
    if n == 0:
        raise IndexError(f"mode(): expected a non-empty dimension {axis}, got shape {tuple(x.shape)}")
    same = a[..., :, None] == a[..., None, :]
    nan = a != a if a.dtype.kind in "fc" else None
    if nan is not None:  # torch counts the nans as one value, the largest (sorted last)
        same |= nan[..., :, None] & nan[..., None, :]
    counts = same.sum(axis=-1)  # how often each entry's value occurs
    frequent = counts == counts.max(axis=-1, keepdims=True)
    if nan is None:
        value = xp.where(frequent, a, a.max(axis=-1, keepdims=True)).min(axis=-1, keepdims=True)
        hit = a == value
    else:
        numbers = frequent & ~nan
        has = numbers.any(axis=-1, keepdims=True)
        value = xp.where(numbers, a, xp.inf).min(axis=-1, keepdims=True)
        hit = xp.where(has, a == value, nan)
    last = (n - 1 - xp.argmax(xp.flip(hit, axis=-1), axis=-1)).astype("int64", copy=False)
    return xp.moveaxis(last[..., None], -1, axis) if keepdims else last


# ---------------------------------------------------------------- counting (no gradient)


def _check_bincount(x, weights=None, *, minlength=0):
    if x.dtype.kind not in "iu":  # (torch: no bincount kernel for floats or bool)
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_dtypes.scalar_type_name(x.dtype)}'")
    if x.ndim != 1:  # (torch's texts, word for word)
        raise ShapeError(_BINCOUNT_DOMAIN)
    if weights is not None and tuple(weights.shape) != tuple(x.shape):
        raise ShapeError("weights should be 1-d and have the same length as input")
    if minlength < 0:
        raise ShapeError("minlength should be >= 0")


_BINCOUNT_DOMAIN = "bincount only supports 1-d non-negative integral inputs."


@op("bincount", check=_check_bincount)
def bincount(xp, x, weights=None, *, minlength=0):
    """How often each value 0..max(x) occurs in the 1-D non-negative integer ``x`` (int64), or the
    sum of ``weights`` per value (float32 weights stay float32, others give float64, as torch)."""
    if x.size and int(x.min()) < 0:  # (a RuntimeError: apply passes it on as torch's bare text)
        raise RuntimeError(_BINCOUNT_DOMAIN)
    if weights is None:
        return xp.bincount(x, minlength=minlength).astype("int64", copy=False)
    dt = "float32" if weights.dtype == "float32" else "float64"  # (float16 and bfloat16 weights too, as torch's)
    return xp.bincount(x, weights=weights.astype("float64"), minlength=minlength).astype(dt)


def _check_histc(x, *, bins=100, min=0, max=0):
    if _dtypes.kind(x.dtype) != "f":  # (torch's messages, which name its kernels)
        kernel = "linspace_cpu" if x.dtype == bool else "histogram_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.scalar_type_name(x.dtype)}'")
    if bins <= 0:
        raise ShapeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    if min > max:
        raise ShapeError("torch.histc: max must be larger than min")


@op("histc", check=_check_histc)
def histc(xp, x, *, bins=100, min=0, max=0):
    """Counts of x in ``bins`` equal bins over [min, max] (x's dtype; elements outside are ignored;
    min == max takes the data's range, as torch). No gradient."""
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo:g}, {hi:g}] is not finite")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    # torch's formula in x's dtype, edges rounded to it, multiply before divide: in float32
    # 0.1 falls in bin 1 of histc(bins=3, min=0, max=0.3), and 0.1 is inside min=0.1
    t = x.dtype.type
    lo, hi = t(lo), t(hi)
    v = x[(x >= lo) & (x <= hi)]
    pos = ((v - lo) * t(bins) / (hi - lo)).astype("int64")
    pos = xp.clip(pos, 0, bins - 1)  # x == max falls in the last bin
    return xp.bincount(pos, minlength=bins)[:bins].astype(x.dtype)


# ---------------------------------------------------------------- logic (no gradient)


@op("all")
def all(xp, x, *, axis=None, keepdims=False):
    """Whether every element over ``axis`` is non-zero (bool; not differentiable)."""
    return c_order(xp, xp.all(x, axis=_ax(x, axis), keepdims=keepdims))


@op("any")
def any(xp, x, *, axis=None, keepdims=False):
    """Whether some element over ``axis`` is non-zero (bool; not differentiable)."""
    return c_order(xp, xp.any(x, axis=_ax(x, axis), keepdims=keepdims))


# ---------------------------------------------------------------- norms


@op("norm", save_inputs=(0,), save_output=True)
def norm(xp, x, *, ord=2.0, axis=None, keepdims=False, each_extreme=False):
    """Vector ``ord``-norm over ``axis`` (torch.linalg.vector_norm: inf max |x|, -inf min |x|,
    0 the count of non-zeros). ``each_extreme`` (cdist/pdist) changes only the inf-norms' gradient (see below)
    and the 0-norm's (zeros, where a norm's is None)."""
    axis = _ax(x, axis)
    a = xp.abs(x)
    if ord == math.inf:
        return c_order(xp, xp.max(a, axis=axis, keepdims=keepdims))
    if ord == -math.inf:
        return c_order(xp, xp.min(a, axis=axis, keepdims=keepdims))
    if ord == 0:
        count = xp.sum(a != 0, axis=axis, keepdims=keepdims).astype(a.dtype)  # (real for complex x, as torch)
        if each_extreme:  # cdist/pdist's kernel sums min(|d|, 1)-like terms: a NaN difference (inf - inf) stays NaN
            count = xp.where(xp.any(a != a, axis=axis, keepdims=keepdims), xp.nan, count)
        return c_order(xp, count)
    if ord == 1:
        return c_order(xp, xp.sum(a, axis=axis, keepdims=keepdims))
    if ord == 2:
        return c_order(xp, xp.sqrt(xp.sum(a * a, axis=axis, keepdims=keepdims)))
    with _quiet():
        return c_order(xp, xp.sum(a**ord, axis=axis, keepdims=keepdims) ** (1.0 / ord))


@norm.defvjp
def norm_backward(ctx, gy):
    # d |x|_p = sign(x) |x|^(p-1) / |x|_p^(p-1) dx; 0 where the norm is 0 (torch's subgradient);
    # inf-norms: the extreme |x_i| share the gradient equally (vector_norm), or with ``each_extreme`` each
    # gets all of it (torch's cdist and pdist backward: sign(d) (|d| == dist))
    x, y = ctx.saved
    xp = ctx.xp
    p, axis, keepdims = ctx.attrs["ord"], ctx.attrs["axis"], ctx.attrs["keepdims"]
    g = expand_reduced(xp, gy, x.shape, axis, keepdims)
    y = expand_reduced(xp, y, x.shape, axis, keepdims)
    if x.dtype.kind == "c":  # complex: torch's sgn x / |x| (0 at 0) in place of sign
        a = xp.abs(x)
        sgn = xp.where(a == 0, 0, x / xp.where(a == 0, 1, a))
    else:
        sgn = xp.sign(x)
        sgn = xp.where(sgn != sgn, 0, sgn)  # torch's sgn: 0 at NaN (NumPy's sign gives NaN)
    if p == 0:  # piecewise constant: no gradient at all, as torch's norm (``x.grad`` stays None); zeros for
        return (xp.zeros_like(x),) if ctx.attrs["each_extreme"] else (None,)  # cdist/pdist's, as their backward
    if p == 1:
        return (sgn * g,)
    zero = y == 0
    if p == 2:  # as torch's: g * (x / y) with 0 where y = 0, so that x / y's own gradient there is nan (torch's
        with _quiet():  # second order at 0: 0 * inf), and a nan g stays nan
            return (g * xp.where(zero, 0, x / y),)
    if x.dtype.kind != "c":
        a = sgn * x
    if math.isinf(p):
        mask = (a == y) | (a != a)
        if ctx.attrs["each_extreme"]:
            return (sgn * g * mask,)
        n = xp.sum(mask, axis=norm_axes(axis, x.ndim), keepdims=True)
        return (sgn * g * mask / n,)
    with _quiet():
        if p < 1:  # |x|^(p-1) is infinite at 0, where torch takes 0
            scaled = sgn * xp.where(x == 0, 0, xp.where(x == 0, 1, a) ** (p - 1))
            return (scaled * g * y ** (1 - p),)
        scaled = sgn * a ** (p - 1) if p < 2 else x * a ** (p - 2)
        return (scaled * xp.where(zero, 0, g / xp.where(zero, 1, y) ** (p - 1)),)
