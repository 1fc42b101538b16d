"""More torch.nn.functional functions (normalisations, bilinear, pdist, pixel and channel shuffles,
gumbel_softmax), imported into ``backprop.nn.functional``.

All are compositions of registered ops (gradients and double backward come from those), following
torch's formulas, shapes and errors.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np

from backprop import dtypes, functions
from backprop.autograd import trace
from backprop.autograd.function import OpIndexError, apply, not_a_tensor_here
from backprop.autograd.node_names import name_node
from backprop.nn._common import _channel_shape, _running_update
from backprop.ops import elementwise as ew
from backprop.ops import nn as nn_ops
from backprop.ops import reduction
from backprop.registry import refuse_complex
from backprop.tensor import Tensor

__all__ = [
    "bilinear",
    "channel_shuffle",
    "gumbel_softmax",
    "instance_norm",
    "local_response_norm",
    "pdist",
    "pixel_shuffle",
    "pixel_unshuffle",
    "rms_norm",
]


def _const(arr: Any, like: Tensor) -> Tensor:
    return Tensor._wrap(arr, like.device, None)


def rms_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` dims, times ``weight``; eps=None is
    the machine epsilon of the computing dtype (float32 for float16 inputs, which are upcast, as torch)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) > input.ndim or tuple(input.shape[input.ndim - len(shape) :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*{', '.join(map(str, shape))}], "
            f"but got input of size{list(input.shape)}"  # (torch's words, spacing included)
        )
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(
            f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
            f"{list(weight.shape)} and normalized_shape = {list(shape)}"
        )
    x = input.to(dtypes.float32) if dtypes.kind(input.dtype) == "f" and input.dtype.itemsize < 4 else input
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    dims = tuple(range(-len(shape), 0))
    out = (x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()).to(input.dtype)
    if weight is not None:
        out = (out * weight).to(input.dtype)
    return out


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample of (N, C, ...) over its spatial dims (``use_input_stats``; the
    running statistics, when given, move towards the batch mean of the per-sample ones, with the unbiased
    variance, as torch), or by the running statistics; then scale and shift per channel."""
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, ...), got {tuple(input.shape)}")
    spatial = math.prod(input.shape[2:])
    if use_input_stats and spatial == 1:
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size torch.Size({list(input.shape)})"
        )
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"instance_norm: {name} should contain {c} elements, got shape {tuple(t.shape)}")
    if input.dtype is dtypes.float16 or dtypes.is_bfloat16(input.dtype):
        # torch's (batch norm's) float32 computation, rounded once; the statistics round to the input's dtype
        # first unless a parameter is float32 (its mixed-type kernel)
        params = (running_mean, running_var, weight, bias)
        stats = None if any(p is not None and p.dtype == np.float32 for p in params) else input.dtype
        w, b = (None if p is None else p.float() for p in (weight, bias))
        out = _instance_norm(input.float(), running_mean, running_var, w, b, use_input_stats, momentum, eps, stats)
        return name_node(out.to(input.dtype), "ViewBackward0")
    out = _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps, None)
    return name_node(out, "ViewBackward0")  # (torch's batch norm of (1, N C, ...), viewed back)


def _instance_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    use_input_stats: bool,
    momentum: float,
    eps: float,
    stats: Any,
) -> Tensor:
    """instance_norm's computation (arguments checked); ``stats``: a half dtype the statistics round to."""
    c, spatial = input.shape[1], math.prod(input.shape[2:])
    shape = _channel_shape(input)
    if use_input_stats:
        dims = tuple(range(2, input.ndim))
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        updates = ((running_mean, mean), (running_var, var * (spatial / max(spatial - 1, 1))))
        for buf, stat in updates:
            if buf is not None:  # (a recorded call: a compiled step updates the statistics too)
                batch_stat = stat.detach().mean(0)
                trace.record(functools.partial(_running_update, momentum=momentum, c=c), buf, batch_stat)
                buf._version += 1
        if stats is not None:
            centered = input - mean.to(stats).float()
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        var = running_var.reshape(shape)
        if var.dtype.itemsize == 2:  # (half running statistics of a half input: var + eps in float32 too)
            var = var.float()
        centered = input - running_mean.reshape(shape)
    invstd = (var + eps).rsqrt()
    out = centered * (invstd if stats is None or not use_input_stats else invstd.to(stats).float())
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over a window of ``size`` channels)^beta, zero-padded at the channel edges
    (size // 2 before, (size - 1) // 2 after, as torch)."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = (input * input).movedim(1, -1)  # channels last: zeros before and after them along the last dim
    lo, hi = size // 2, (size - 1) // 2
    sq = functions.cat([sq.new_zeros(*sq.shape[:-1], lo), sq, sq.new_zeros(*sq.shape[:-1], hi)], -1)
    window = sq.narrow(-1, 0, c)
    for i in range(1, size):
        window = window + sq.narrow(-1, i, c)
    if input.dtype.kind in "iu":  # torch's avg_pool of an integer tensor divides in integers (truncating)
        div = ((window // size) * alpha + k) ** beta
    else:
        div = ((window * (alpha / size)) + k) ** beta
    return input / div.movedim(-1, 1)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_o = x1^T W_o x2 + b_o over the last dims: (..., in1), (..., in2), W (out, in1, in2) -> (..., out)."""
    if weight.ndim != 3:  # (torch: IndexError below 3 dims)
        raise (OpIndexError if weight.ndim < 3 else RuntimeError)(
            f"bilinear(): weight must be 3-dimensional (out, in1, in2), got {tuple(weight.shape)}"
        )
    if input1.ndim != input2.ndim:
        raise RuntimeError(
            f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim} "
            f"(shapes {tuple(input1.shape)} and {tuple(input2.shape)})"
        )
    for i in range(input1.ndim - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match at dim {i}: got {input1.shape[i]} and "
                f"{input2.shape[i]}"
            )
    o, i1, i2 = weight.shape
    if input1.shape[-1] != i1:
        raise RuntimeError(
            f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} but expected {i1}"
        )
    if input2.shape[-1] != i2:
        raise RuntimeError(
            f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but expected {i2}"
        )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != o):
        raise RuntimeError(
            f"bilinear(): bias size does not match weight size: got {bias.shape[-1] if bias.ndim else 1} but "
            f"expected {o}"
        )
    left = input1.matmul(weight.permute(1, 0, 2).reshape(i1, o * i2))  # (..., out * in2): x1^T W_o for each o
    prod = left.reshape(*input1.shape[:-1], o, i2) * input2.unsqueeze(-2)
    out = prod.sum(-1, dtype=prod.dtype)  # (torch's kernel keeps an integer dtype; sum alone makes int64)
    return name_node(out, "ViewBackward0") if bias is None else out + bias  # (torch: a view of _trilinear's)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """p-norm distances between the rows of (N, M), pairs i < j in row-major order: (N (N - 1) / 2,)."""
    try:
        if input.ndim != 2:
            raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
        if p < 0:
            raise RuntimeError(f"pdist only supports non-negative p values, got {p}")
        refuse_complex(RuntimeError, "pdist only supports floating-point dtypes", input)
        n = input.shape[0]
        xp = input.device.xp
        i, j = xp.triu_indices(n, 1)
        diff = input[_const(i, input)] - input[_const(j, input)]
        if p == 2 and diff.numel():  # torch's gradient is 0 where two rows coincide (no 0/0)
            sq = (diff * diff).sum(-1)
            pos = sq != 0  # (a NaN distance, inf - inf in some coordinate, stays NaN as torch's)
            out = apply(ew.where, pos, apply(ew.where, pos, sq, 1.0).sqrt(), 0.0)
        elif math.isinf(p) or p == 0:  # torch's PdistBackward0: each coordinate at the distance gets the whole
            out = apply(reduction.norm, diff, ord=float(p), axis=(-1,), each_extreme=True)  # gradient; p = 0: 0
        else:
            out = diff.norm(p, -1)
        return name_node(out, "PdistBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    try:
        r = upscale_factor
        if input.ndim < 3:
            raise RuntimeError(
                f"pixel_shuffle expects input to have at least 3 dimensions, "
                f"but got input with {input.ndim} dimension(s)"
            )
        if r <= 0:
            raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
        *lead, c, h, w = input.shape
        if c % (r * r):
            raise RuntimeError(
                f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
            )
        k = len(lead)
        x = input.reshape(*lead, c // (r * r), r, r, h, w)
        x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
        return name_node(x.reshape(*lead, c // (r * r), h * r, w * r), "PixelShuffleBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of ``pixel_shuffle``."""
    try:
        r = downscale_factor
        if input.ndim < 3:
            raise RuntimeError(
                f"pixel_unshuffle expects input to have at least 3 dimensions, "
                f"but got input with {input.ndim} dimension(s)"
            )
        if r <= 0:
            raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
        *lead, c, h, w = input.shape
        for name, size, d in (("height", h, -2), ("width", w, -1)):
            if size % r:
                raise RuntimeError(
                    f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but input.size({d})={size} "
                    f"is not divisible by {r}"
                )
        k = len(lead)
        x = input.reshape(*lead, c, h // r, r, w // r, r)
        x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
        return name_node(x.reshape(*lead, c * r * r, h // r, w // r), "PixelUnshuffleBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with channels regrouped: (N, g, C / g, *) transposed to (N, C / g, g, *), flattened back."""
    try:
        if input.ndim <= 2:
            raise RuntimeError(
                f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(input.shape)}"
            )
        if groups <= 0:
            raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
        n, c, *rest = input.shape
        if c % groups:
            raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
        out = input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(input.shape)
        return name_node(out, "ChannelShuffleBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _gumbel_noise(dev: Any, shape: tuple, dtype: Any) -> Any:
    """-log(E), E ~ Exp(1), from the device's generator."""
    xp = dev.xp
    u = dev.backend.rng(dev.index).random(shape)
    e = xp.maximum(-xp.log1p(-u), np.finfo(np.float64).tiny)  # Exp(1); never 0, so the log stays finite
    return (-xp.log(e)).astype(dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """softmax((logits + g) / tau) with Gumbel(0, 1) noise g (backprop's generator: not torch's numbers);
    ``hard`` returns the one-hot of its argmax, with the soft sample's gradient (straight-through)."""
    try:
        if eps != 1e-10:
            warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
        dev = logits.device
        gumbels = _const(trace.record(_gumbel_noise, dev, tuple(logits.shape), logits.dtype), logits)
        y_soft = apply(nn_ops.softmax, (logits + gumbels) / tau, axis=dim)
        if not hard:
            return y_soft
        index = y_soft.detach().argmax(dim, keepdim=True)
        y_hard = (y_soft.detach() * 0).scatter(dim, index, 1.0)
        return y_hard - y_soft.detach() + y_soft
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise
