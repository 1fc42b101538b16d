"""Reductions over ``axis`` (None, int or tuple; negatives allowed) with ``keepdims``."""

from __future__ import annotations

from backprop.ops._util import count, expand_reduced, norm_axes
from backprop.registry import op


def _axes(x, axis):
    return norm_axes(axis, x.ndim)


@op("sum")
def sum(xp, x, *, axis=None, keepdims=False):
    """Sum over ``axis``."""
    return xp.sum(x, axis=axis, keepdims=keepdims)


@sum.defvjp
def sum_backward(ctx, gy):  # every input element gets gy
    shape = ctx.input_shapes[0]
    g = expand_reduced(ctx.xp, gy, shape, ctx.attrs["axis"], ctx.attrs["keepdims"])
    return (ctx.xp.broadcast_to(g, shape),)


@op("mean")
def mean(xp, x, *, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    return xp.mean(x, axis=axis, keepdims=keepdims)


@mean.defvjp
def mean_backward(ctx, gy):  # every input element gets gy / n
    shape = ctx.input_shapes[0]
    axis = ctx.attrs["axis"]
    n = count(shape, norm_axes(axis, len(shape)))
    g = expand_reduced(ctx.xp, gy, shape, axis, ctx.attrs["keepdims"])
    return (ctx.xp.broadcast_to(g / n, shape),)


def _extreme_backward(ctx, gy):
    """Gradient of amax/amin: shared equally by the elements that attain the extreme."""
    x, y = ctx.saved
    xp = ctx.xp
    axis, keepdims = ctx.attrs["axis"], ctx.attrs["keepdims"]
    shape = x.shape
    y = expand_reduced(xp, y, shape, axis, keepdims)
    g = expand_reduced(xp, gy, shape, axis, keepdims)
    mask = x == y
    n = xp.sum(mask, axis=norm_axes(axis, len(shape)), keepdims=True)
    return (g * mask / n,)


@op("amax", save_inputs=(0,), save_output=True)
def amax(xp, x, *, axis=None, keepdims=False):
    """Maximum over ``axis`` (ties share the gradient equally)."""
    return xp.max(x, axis=axis, keepdims=keepdims)


amax.defvjp(_extreme_backward)


@op("amin", save_inputs=(0,), save_output=True)
def amin(xp, x, *, axis=None, keepdims=False):
    """Minimum over ``axis`` (ties share the gradient equally)."""
    return xp.min(x, axis=axis, keepdims=keepdims)


amin.defvjp(_extreme_backward)


@op("var", save_inputs=(0,))
def var(xp, x, *, axis=None, correction=1, keepdims=False):
    """Variance over ``axis`` with ``correction`` (1: unbiased, as torch's default)."""
    return xp.var(x, axis=axis, ddof=correction, keepdims=keepdims)


@var.defvjp
def var_backward(ctx, gy):  # d var = 2 (x - mean) / (n - correction) dx
    (x,) = ctx.saved
    xp = ctx.xp
    axis = ctx.attrs["axis"]
    axes = norm_axes(axis, x.ndim)
    n = count(x.shape, axes)
    g = expand_reduced(xp, gy, x.shape, axis, ctx.attrs["keepdims"])
    centered = x - xp.mean(x, axis=axes, keepdims=True)
    return (g * centered * (2.0 / (n - ctx.attrs["correction"])),)


@op("logsumexp", save_inputs=(0,), save_output=True)
def logsumexp(xp, x, *, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, shifted by the max so large inputs do not overflow."""
    axes = _axes(x, axis)
    m = xp.max(x, axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows: keep -inf, not nan
    y = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
    return y if keepdims else xp.squeeze(y, axis=axes)


@logsumexp.defvjp
def logsumexp_backward(ctx, gy):  # d lse(x) = softmax(x) dx
    x, y = ctx.saved
    xp = ctx.xp
    axis, keepdims = ctx.attrs["axis"], ctx.attrs["keepdims"]
    y = expand_reduced(xp, y, x.shape, axis, keepdims)
    g = expand_reduced(xp, gy, x.shape, axis, keepdims)
    return (g * xp.exp(x - y),)


@op("argmax")
def argmax(xp, x, *, axis=None, keepdims=False):
    """Index of the first maximum over ``axis`` (int64; not differentiable)."""
    return xp.argmax(x, axis=axis, keepdims=keepdims).astype("int64", copy=False)


@op("argmin")
def argmin(xp, x, *, axis=None, keepdims=False):
    """Index of the first minimum over ``axis`` (int64; not differentiable)."""
    return xp.argmin(x, axis=axis, keepdims=keepdims).astype("int64", copy=False)
