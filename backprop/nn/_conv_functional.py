"""Convolutions, pooling, fold/unfold and interpolation with torch.nn.functional's names, N-d.

Compositions of registered ops, so gradients and double backward come from the ops' own rules:
conv = weight GEMM im2col(x); conv_transpose = col2im(weight^T GEMM x); avg pools sum im2col's
columns; max pools find each window's first maximum (a running compare over kernel offsets, outside
the graph) and gather it, so the gradient is scattered back to it; adaptive average pools and linear
interpolation are GEMMs with constant (S, O) matrices per spatial dim; nearest interpolation
selects indices. Imported into ``backprop.nn.functional``.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import warnings
from typing import Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd import autocast_state, trace
from backprop.autograd.function import apply, autocast_function, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users, is_grad_enabled, no_grad
from backprop.autograd.higher_order import link_gradients
from backprop.autograd.node_names import name_node
from backprop.ops import conv as conv_ops
from backprop.ops._util import DTypeError, ShapeError, ShapeIndexError
from backprop.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "interpolate",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "unfold",
    "upsample",
]


def _const(arr: Any, like: Tensor) -> Tensor:
    return Tensor._wrap(arr, like.device, None)


def ntuple(value: Any, n: int, what: str, name: str = "convolution") -> tuple[int, ...]:
    """An int or a sequence of 1 or ``n`` ints as ``n`` ints (torch's ``_pair``/``_triple`` and its check)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    t = tuple(int(v) for v in value)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise ShapeError(
            f"expected {what} to be a single integer value or a list of {n} values to match the {name} "
            f"dimensions, but got {what}={list(t)}"
        )
    return t


def _batched(input: Tensor, n: int, name: str) -> tuple[Tensor, bool]:
    """``input`` with a batch dim, and whether it lacked one (torch accepts unbatched (C, *spatial))."""
    if input.ndim == n + 1:
        return input.unsqueeze(0), True
    if input.ndim == n + 2:
        return input, False
    raise ShapeError(
        f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, but got input of size: "
        f"{list(input.shape)}"
    )


def _unbatch(y: Tensor, unbatched: bool) -> Tensor:
    return y.squeeze(0) if unbatched else y


def _pool_named(y: Tensor, n: int, name: str) -> Tensor:
    """``y`` with torch's node name: the pool's own (``MaxPool2DWithIndicesBackward0``), or for a 1-d
    pool ``SqueezeBackward1`` (torch runs it as a 2-d pool of height 1 and squeezes that dim away)."""
    return name_node(y, "SqueezeBackward1" if n == 1 else name)


def _sizes(shape: tuple) -> str:
    return " x ".join(map(str, shape))


# ---------------------------------------------------------------- convolution


def _conv_padding(padding: Any, n: int, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """``padding`` (int, tuple, ``'valid'`` or ``'same'``) as (lo, hi) pairs; ``'same'`` puts the odd
    element of an even total on the high side, as torch."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ShapeError("padding='same' is not supported for strided convolutions")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ShapeError(f"Invalid padding string: {padding!r}")
    pads = ntuple(padding, n, "padding")
    if min(pads) < 0:
        raise ShapeError(f"negative padding is not supported (got padding={pads})")
    return tuple((p, p) for p in pads)


def _check_conv(name: str, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int, transposed: bool) -> None:
    n = x.ndim - 2
    if weight.ndim != n + 2:
        raise ShapeError(
            f"{name}: expected a {n + 2}-d weight (out_channels, in_channels / groups, *kernel_size), got weight "
            f"of size {list(weight.shape)}"
        )
    if groups <= 0:
        raise ShapeError(f"{name}: non-positive groups is not supported, got groups={groups}")
    if weight.shape[0] % groups:
        raise ShapeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight "
            f"of size [{list(weight.shape)}] instead"  # (torch's double brackets)
        )
    given = "Given transposed=1, " if transposed else f"Given groups={groups}, "  # (torch's texts)
    channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.shape[1] != channels:
        raise ShapeError(
            f"{given}weight of size {list(weight.shape)}, expected input{list(x.shape)} to have {channels} channels, "
            f"but got {x.shape[1]} channels instead"
        )
    out = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (out,):
        raise ShapeError(
            f"{'Given transposed=1, ' if transposed else 'Given '}weight of size {list(weight.shape)}, expected bias "
            f"to be 1-dimensional with {out} elements, but got bias of size {list(bias.shape)} instead"
        )
    # torch's messages: a plain convolution checks the bias first, a transposed one the weight first
    if bias is not None and bias.dtype != x.dtype and not (transposed and x.dtype != weight.dtype):
        cx, cb = _dtypes.cpp_type_name(x.dtype), _dtypes.cpp_type_name(bias.dtype)
        raise DTypeError(f"Input type ({cx}) and bias type ({cb}) should be the same")
    if x.dtype != weight.dtype:
        sx, sw = _dtypes.scalar_type_name(x.dtype), _dtypes.scalar_type_name(weight.dtype)
        raise DTypeError(f"expected scalar type {sx} but found {sw}")


def _half_conv(x: Tensor, weight: Tensor, bias: Any) -> bool:
    """A float16/bfloat16 convolution whose weight (and bias) have its dtype (computed in float32 inside
    ``autocast_state.suspended()``: an autocast would cast the float32 operands back)."""
    d = x.dtype
    return (
        (d is _dtypes.float16 or _dtypes.is_bfloat16(d))
        and getattr(weight, "dtype", None) == d
        and (bias is None or getattr(bias, "dtype", None) == d)
    )


def _f32(t: Any) -> Any:
    return None if t is None else t.float()


def _add_bias(y: Tensor, bias: Tensor | None, x: Tensor, weight: Tensor) -> Tensor:
    """``y`` plus the bias, named as torch's one convolution node (``ConvolutionBackward0``)."""
    if bias is None:
        return name_node(y, "ConvolutionBackward0")
    y = name_node(y + bias.reshape(bias.shape[0], *([1] * (y.ndim - 2))), "ConvolutionBackward0")
    # (create_graph: torch's one convolution_backward takes x and weight, so the bias gradient requires grad)
    return link_gradients(y, x, weight, name="ConvolutionBackwardBackward0")


def _autocast_conv(name: str, input: Tensor, weight: Tensor, bias: Any) -> tuple[Tensor, Tensor, Any]:
    """The inputs of a convolution cast by the active autocast's policy (the bias too, when there is one)."""
    if bias is None:
        input, weight = autocast_function(name, input, weight)
        return input, weight, None
    input, weight, bias = autocast_function(name, input, weight, bias)
    return input, weight, bias


def _conv(
    name: str, n: int, input: Tensor, weight: Tensor, bias: Any, stride: Any, padding: Any, dilation: Any, groups: int
) -> Tensor:
    """y[b, o] = sum_c,k w[o, c, k] x[b, g(o) c, s i + d k - lo] + bias[o]: a GEMM of the weight with im2col."""
    if autocast_users[0]:  # cast as one op (with its bias), as torch's autocast does
        input, weight, bias = _autocast_conv(name, input, weight, bias)
    if _half_conv(input, weight, bias):  # torch: in float32 (bias included), rounded once
        with autocast_state.suspended():
            f = _conv(name, n, input.float(), weight.float(), _f32(bias), stride, padding, dilation, groups)
            return name_node(f.to(input.dtype), "SqueezeBackward1" if f.ndim == n + 1 else "ConvolutionBackward0")
    x, unbatched = _batched(input, n, name)
    _check_conv(name, x, weight, bias, groups, transposed=False)
    stride, dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
    kernel = tuple(weight.shape[2:])
    pads = _conv_padding(padding, n, kernel, stride, dilation)
    padded = tuple(m + lo + hi for m, (lo, hi) in zip(x.shape[2:], pads))
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < e for p, e in zip(padded, eff)):
        raise ShapeError(
            f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: ({_sizes(eff)}). "
            "Kernel size can't be greater than actual input size"
        )
    cols = apply(conv_ops.im2col, x, kernel_size=kernel, dilation=dilation, padding=pads, stride=stride)
    blocks = conv_ops.conv_blocks(x.shape[2:], kernel, dilation, pads, stride)
    b, out = x.shape[0], weight.shape[0]
    if groups == 1:
        y = weight.reshape(out, -1) @ cols  # (out, C k) @ (B, C k, L) -> (B, out, L)
    else:
        y = weight.reshape(groups, out // groups, -1) @ cols.reshape(b, groups, -1, cols.shape[2])
    return _unbatch(_add_bias(y.reshape(b, out, *blocks), bias, x, weight), unbatched)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-d convolution (cross-correlation) of (N, C_in, L) with weight (C_out, C_in / groups, k)."""
    try:
        return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-d convolution of (N, C_in, H, W) with weight (C_out, C_in / groups, kH, kW); padding may be
    an int, a pair, ``'valid'`` or ``'same'``."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """3-d convolution of (N, C_in, D, H, W) with weight (C_out, C_in / groups, kD, kH, kW)."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(
    name: str,
    n: int,
    input: Tensor,
    weight: Tensor,
    bias: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: int,
    dilation: Any,
) -> Tensor:
    """conv's adjoint in x: col2im of (weight^T GEMM x); weight (C_in, C_out / groups, *k)."""
    if autocast_users[0]:
        input, weight, bias = _autocast_conv(name, input, weight, bias)
    if _half_conv(input, weight, bias):  # torch: in float32 (bias included), rounded once
        args = (stride, padding, output_padding, groups, dilation)
        with autocast_state.suspended():
            return _conv_transpose(name, n, input.float(), weight.float(), _f32(bias), *args).to(input.dtype)
    x, unbatched = _batched(input, n, name)
    _check_conv(name, x, weight, bias, groups, transposed=True)
    if isinstance(padding, str):
        raise ShapeError(f"{name}: padding must be an int or a tuple of ints, got {padding!r}")
    stride, dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
    padding, output_padding = ntuple(padding, n, "padding"), ntuple(output_padding, n, "output_padding")
    if min(padding) < 0:
        raise ShapeError(f"negative padding is not supported (got padding={padding})")
    if min(output_padding) < 0:
        raise ShapeError(f"negative output_padding is not supported (got output_padding={output_padding})")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        dims = ("height", "width") if n < 3 else ("depth", "height", "width")
        lead = len(dims) - n  # (torch runs a 1-d transpose as a 2-d one of height 1, and names it so)
        values = {"output_padding": (0,) * lead + output_padding, "stride": (1,) * lead + stride}
        values["dilation"] = (1,) * lead + dilation
        got = " ".join(f"{key}_{d}: {v}" for key, vs in values.items() for d, v in zip(dims, vs))
        raise ShapeError(f"output padding must be smaller than either stride or dilation, but got {got}")
    kernel = tuple(weight.shape[2:])
    size = tuple(
        (m - 1) * s - 2 * p + d * (k - 1) + op + 1
        for m, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, kernel, output_padding)
    )
    if any(m <= 0 for m in size):
        raise ShapeError(
            f"{name}: given input size per channel ({_sizes(x.shape[2:])}), the calculated output size per channel "
            f"({_sizes(size)}) is too small"
        )
    b, cin = x.shape[:2]
    cout = weight.shape[1] * groups
    length = math.prod(x.shape[2:])
    if groups == 1:
        cols = weight.reshape(cin, -1).mT @ x.reshape(b, cin, length)  # (C_out k, C_in) @ (B, C_in, L)
    else:
        w = weight.reshape(groups, cin // groups, -1).mT
        cols = w @ x.reshape(b, groups, cin // groups, length)
    cols = cols.reshape(b, cout * math.prod(kernel), length)
    pads = tuple((p, p - op) for p, op in zip(padding, output_padding))  # output_padding: a tail no block reaches
    y = apply(
        conv_ops.col2im, cols, output_size=size, kernel_size=kernel, dilation=dilation, padding=pads, stride=stride
    )
    return _unbatch(_add_bias(y, bias, x, weight), unbatched)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """1-d transposed convolution of (N, C_in, L) with weight (C_in, C_out / groups, k)."""
    return _conv_transpose(
        "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """2-d transposed convolution of (N, C_in, H, W) with weight (C_in, C_out / groups, kH, kW)."""
    return _conv_transpose(
        "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """3-d transposed convolution of (N, C_in, D, H, W) with weight (C_in, C_out / groups, kD, kH, kW)."""
    return _conv_transpose(
        "conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


# ---------------------------------------------------------------- unfold / fold


_FOLD_CHECKS = {  # torch's im2col/col2im argument checks: (argument, its message's noun, its dims' prefix, least value)
    "kernel_size": ("kernel size", "kernel", 1),
    "dilation": ("dilation", "dilation", 1),
    "padding": ("padding", "pad", 0),
    "stride": ("stride", "stride", 1),
}


def _fold_args(name: str, order: tuple[str, ...], **given: Any) -> dict[str, tuple[int, ...]]:
    """``unfold``/``fold``'s 2-d arguments as pairs, checked in torch's order with its messages."""
    for key, value in given.items():
        if not isinstance(value, (int, np.integer)) and len(value) != 2:
            raise ShapeError(f"It is expected {key} equals to 2, but got size {len(value)}")
    args = {key: ntuple(value, 2, key, name) for key, value in given.items()}
    for key in order:
        noun, prefix, least = _FOLD_CHECKS[key]
        if min(args[key]) < least:
            rule = "non-negative" if least == 0 else "greater than zero"
            got = " ".join(f"{prefix}_{d}: {v}" for d, v in zip(("height", "width"), args[key]))
            raise ShapeError(f"{noun} should be {rule}, but got {got}")
    return args


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """(N, C, H, W) -> (N, C * kH * kW, L): every sliding block as a column (im2col); (C, H, W) too."""
    try:
        a = _fold_args(
            "unfold",
            ("kernel_size", "dilation", "padding", "stride"),
            kernel_size=kernel_size,
            dilation=dilation,
            padding=padding,
            stride=stride,
        )
        if input.ndim < 3:  # (torch's dim wrap)
            raise ShapeIndexError(
                f"Dimension out of range (expected to be in range of [-{input.ndim}, {input.ndim - 1}], but got "
                f"{input.ndim})"
            )
        if input.ndim > 4 or 0 in input.shape[input.ndim - 3 :]:
            raise ShapeError(
                "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for "
                f"input, but got: {list(input.shape)}"
            )
        pads = tuple((p, p) for p in a["padding"])
        spatial = tuple(input.shape[-2:])
        blocks = conv_ops.conv_blocks(spatial, a["kernel_size"], a["dilation"], pads, a["stride"])
        if min(blocks) < 1:
            raise ShapeError(
                f"Given input with spatial size {spatial}, kernel_size={a['kernel_size']}, dilation={a['dilation']}, "
                f"padding={a['padding']}, calculated shape of the array of sliding blocks as {blocks}, but its "
                "components must be at least one."
            )
        x, unbatched = _batched(input, 2, "unfold")
        y = apply(
            conv_ops.im2col, x, kernel_size=a["kernel_size"], dilation=a["dilation"], padding=pads, stride=a["stride"]
        )
        return name_node(_unbatch(y, unbatched), "Im2ColBackward0")  # (torch's im2col takes (C, H, W) itself)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def fold(
    input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """(N, C * kH * kW, L) -> (N, C, *output_size): columns summed back into their blocks (col2im); unfold's adjoint."""
    a = _fold_args(
        "fold",
        ("kernel_size", "stride", "dilation", "padding"),
        output_size=output_size,
        kernel_size=kernel_size,
        dilation=dilation,
        padding=padding,
        stride=stride,
    )
    if input.ndim not in (2, 3) or 0 in input.shape[input.ndim - 2 :]:
        raise ShapeError(
            f"Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions "
            f"for input, but got: {list(input.shape)}"
        )
    unbatched = input.ndim == 2
    y = input.unsqueeze(0) if unbatched else input
    size, kernel = a["output_size"], a["kernel_size"]
    if y.shape[1] % math.prod(kernel):
        raise ShapeError(
            f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
            f"input.size(1)={y.shape[1]} and kernel_size={kernel}."
        )
    pads = tuple((p, p) for p in a["padding"])
    blocks = conv_ops.conv_blocks(size, kernel, a["dilation"], pads, a["stride"])
    given = f"Given output_size={size}, kernel_size={kernel}, dilation={a['dilation']}, padding={a['padding']}, "
    given += f"stride={a['stride']}, "
    if y.shape[2] != math.prod(blocks):
        raise ShapeError(
            f"{given}expected size of input's dimension 2 to match the calculated number of sliding blocks "
            f"{' * '.join(map(str, blocks))} = {math.prod(blocks)}, but got input.size(2)={y.shape[2]}."
        )
    if min(blocks) < 1:
        raise ShapeError(
            f"{given}calculated shape of the array of sliding blocks as {blocks}, which is too small (non-positive)"
        )
    out = apply(
        conv_ops.col2im,
        y,
        output_size=size,
        kernel_size=kernel,
        dilation=a["dilation"],
        padding=pads,
        stride=a["stride"],
    )
    return name_node(_unbatch(out, unbatched), "Col2ImBackward0")


# ---------------------------------------------------------------- pooling geometry


def _pool_input(input: Tensor, n: int, name: str) -> tuple[Tensor, bool]:
    if input.ndim not in (n + 1, n + 2) or any(s == 0 for s in input.shape[1:]):
        raise ShapeError(
            f"{name}: non-empty {n + 1}D or {n + 2}D (batch mode) tensor expected for input, got {list(input.shape)}"
        )
    return _batched(input, n, name)


def _pool_geometry(
    name: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> tuple[tuple, tuple, tuple, tuple, tuple]:
    """kernel, stride (None or empty: the kernel), dilation, (lo, hi) padding pairs and the output size
    (torch's pooling_output_shape: with ``ceil_mode`` the last window must start inside the input or
    its left padding); ``hi`` is what the last window needs, so the blocks are exactly the output."""
    n = x.ndim - 2
    kernel = ntuple(kernel_size, n, "kernel_size", name)
    stride = (
        kernel
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else ntuple(stride, n, "stride", name)
    )
    padding, dilation = ntuple(padding, n, "padding", name), ntuple(dilation, n, "dilation", name)
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride) or any(d <= 0 for d in dilation):
        raise ShapeError(
            f"{name}: kernel_size, stride and dilation must be greater than zero, got kernel_size={kernel}, "
            f"stride={stride}, dilation={dilation}"
        )
    for p, k, d in zip(padding, kernel, dilation):
        if p < 0 or p > (d * (k - 1) + 1) // 2:
            raise ShapeError(
                f"pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k} and "
                f"dilation={d}"
            )
    out = []
    for m, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        o = (m + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= m + p:
            o -= 1
        out.append(o)
    if any(o < 1 for o in out):
        c = x.shape[1]
        raise ShapeError(
            f"Given input size: ({'x'.join(map(str, (c, *x.shape[2:])))}). Calculated output size: "
            f"({'x'.join(map(str, (c, *out)))}). Output size is too small"
        )
    pads = tuple(
        (p, (o - 1) * s + d * (k - 1) + 1 - m - p)
        for m, k, s, p, d, o in zip(x.shape[2:], kernel, stride, padding, dilation, out)
    )
    return kernel, stride, dilation, pads, tuple(out)


def _running_argmax(xp: Any, windows: Any) -> Any:
    """The flat input index of each window's first maximum (a NaN wins, the last one, as torch's
    ``val > max || isnan(val)``), from ``(values, flat index)`` pairs, one per kernel offset."""
    best = arg = None
    for v, flat in windows:
        if best is None:
            best, arg = v.copy(), xp.broadcast_to(flat, v.shape).astype(xp.int64)
            continue
        better = v > best
        if _dtypes.kind(v.dtype) == "f":
            better |= xp.isnan(v)
        best = xp.where(better, v, best)
        arg = xp.where(better, flat, arg)
    return arg


def _flat(xp: Any, positions: list, spatial: tuple) -> Any:
    """Row-major flat index into ``spatial`` from per-dim position vectors (broadcast over (N, C, *out))."""
    n = len(spatial)
    flat = 0
    for i, (pos, m) in enumerate(zip(positions, spatial)):
        flat = flat * m + xp.clip(pos, 0, m - 1).reshape((1, 1) + tuple(-1 if j == i else 1 for j in range(n)))
    return flat


def _max_pool_indices(
    xp: Any, x: Any, *, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, out: tuple
) -> Any:
    """Flat argmax indices (N, C, *out) of a max pool (padding never wins: it is the dtype's lowest)."""
    low = -np.inf if _dtypes.kind(x.dtype) == "f" else np.iinfo(x.dtype).min
    spatial = x.shape[2:]
    shape = x.shape[:2] + tuple(m + lo + max(hi, 0) for m, (lo, hi) in zip(spatial, pads))
    xpad = xp.full(shape, low, dtype=x.dtype)
    xpad[(slice(None), slice(None)) + tuple(slice(lo, lo + m) for m, (lo, _) in zip(spatial, pads))] = x
    starts = [xp.arange(o) * s - lo for o, s, (lo, _) in zip(out, stride, pads)]

    def windows() -> Any:
        for offset in itertools.product(*map(range, kernel)):
            v = xpad[conv_ops._block_slices(offset, dilation, stride, out)]
            yield v, _flat(xp, [st + k * d for st, k, d in zip(starts, offset, dilation)], spatial)

    return _running_argmax(xp, windows())


def _both(find: Any, x: Any) -> tuple[Any, Any]:
    idx = find(x)
    return idx, idx.reshape(idx.shape[0], idx.shape[1], math.prod(idx.shape[2:]))  # (no -1: N may be 0)


def _indices(find: Any, x: Tensor) -> tuple[Any, Any]:
    """``find(x)``'s flat argmax indices (N, C, *out), recorded (recomputed at every replay), and the
    same as (N, C, L) for the gather."""
    return trace.record(functools.partial(_both, find), x)


def _take_flat(x: Tensor, index: Any, out: tuple) -> Tensor:
    """x (N, C, *spatial) at flat spatial indices (N, C, L): a gather, whose gradient scatters back."""
    b, c = x.shape[:2]
    return x.reshape(b, c, math.prod(x.shape[2:])).gather(2, _const(index, x)).reshape(b, c, *out)


# ---------------------------------------------------------------- max and average pools


def _max_pool(
    name: str,
    n: int,
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
) -> Any:
    if autocast_users[0] and not return_indices:  # (max_pool3d runs in float32 under torch's CPU autocast;
        (input,) = autocast_function(name, input)  # max_pool3d_with_indices in the input's dtype)
    x, unbatched = _pool_input(input, n, name)
    kernel, stride, dilation, pads, out = _pool_geometry(name, x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = x.device.xp
    find = functools.partial(_max_pool_indices, xp, kernel=kernel, stride=stride, dilation=dilation, pads=pads, out=out)
    idx, flat = _indices(find, x)
    y = _pool_named(_unbatch(_take_flat(x, flat, out), unbatched), n, f"MaxPool{n}DWithIndicesBackward0")
    link_gradients(y, input, name=f"MaxPool{max(n, 2)}DWithIndicesBackwardBackward0")  # (create_graph: as torch's)
    if return_indices:
        return y, _unbatch(_const(idx, x), unbatched)
    return y


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over sliding windows of (N, C, L); ``return_indices``: also the flat argmax (the first maximum)."""
    try:
        return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over sliding windows of (N, C, H, W); indices are flat over H * W, as torch's."""
    try:
        return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def max_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over sliding windows of (N, C, D, H, W); indices are flat over D * H * W."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``max_pool1d`` returning (values, flat argmax) whatever ``return_indices`` says, as torch."""
    try:
        return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def max_pool2d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``max_pool2d`` returning (values, indices flat over H * W) whatever ``return_indices`` says."""
    try:
        return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def max_pool3d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``max_pool3d`` returning (values, indices flat over D * H * W) whatever ``return_indices`` says."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_divisor(xp: Any, x: Tensor, kernel: tuple, stride: tuple, pads: tuple, out: tuple, include_pad: bool) -> Any:
    """torch's per-window divisor: the window's elements inside the padded input (``count_include_pad``)
    or inside the input itself; the ceil_mode extension never counts. A product over dims."""
    div = xp.ones((1,) * len(out), dtype=x.dtype)
    for i, (m, k, s, (lo, _), o) in enumerate(zip(x.shape[2:], kernel, stride, pads, out)):
        start = xp.arange(o) * s - lo
        end = xp.minimum(start + k, m + lo)
        cnt = end - start if include_pad else xp.minimum(end, m) - xp.maximum(start, 0)
        div = div * cnt.astype(x.dtype).reshape(tuple(-1 if j == i else 1 for j in range(len(out))))
    return div.reshape(-1)


def _avg_pool(
    name: str,
    n: int,
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> Tensor:
    if input.ndim not in (n + 1, n + 2):
        # (torch's avg_pool2d wraps dim -3 first: an IndexError below 3 dims)
        error = ShapeIndexError if n == 2 and input.ndim < 3 else ShapeError
        raise error(f"{name}: expected a {n + 1}D or {n + 2}D (batch mode) input, got {list(input.shape)}")
    if autocast_users[0]:  # (avg_pool3d runs in float32 under torch's CPU autocast)
        (input,) = autocast_function(name, input)
    x, unbatched = _batched(input, n, name)
    kernel, stride, dilation, pads, out = _pool_geometry(name, x, kernel_size, stride, padding, 1, ceil_mode)
    b, c = x.shape[:2]
    cols = apply(
        conv_ops.im2col,
        x.reshape(b * c, 1, *x.shape[2:]),
        kernel_size=kernel,
        dilation=dilation,
        padding=pads,
        stride=stride,
    )
    total = cols.sum(1)  # (B C, L)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ShapeError(f"{name}: divisor must be not zero")
        div: Any = divisor_override
    else:
        div = _const(_avg_divisor(x.device.xp, x, kernel, stride, pads, out, count_include_pad), x)
    if _dtypes.kind(x.dtype) != "f":  # integer input: torch's integer division (truncated), in its dtype
        y = total.div(div, rounding_mode="trunc").to(x.dtype)
    else:
        y = total / div
    y = _pool_named(_unbatch(y.reshape(b, c, *out), unbatched), n, f"AvgPool{n}DBackward0")
    return link_gradients(y, input, name=f"AvgPool{max(n, 2)}DBackwardBackward0")


def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean over sliding windows of (N, C, L) (zero padding counted unless ``count_include_pad=False``)."""
    try:
        return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over sliding windows of (N, C, H, W); ``divisor_override`` replaces the window size."""
    try:
        return _avg_pool(
            "avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        )
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def avg_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over sliding windows of (N, C, D, H, W)."""
    return _avg_pool(
        "avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )


def _lp_pool(
    name: str, n: int, input: Tensor, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool
) -> Tensor:
    """(sum over the window of x^p)^(1/p), torch's formula: avg_pool of x^p times the window size
    (p = +-inf: the max pool of |x|, or minus that of -|x|, as torch)."""
    kernel = ntuple(kernel_size, n, "kernel_size", name)
    if norm_type in (math.inf, -math.inf):
        maxpool = (max_pool1d, max_pool2d, max_pool3d)[n - 1]
        if norm_type > 0:
            return maxpool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        return -maxpool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    pool = (avg_pool1d, avg_pool2d, avg_pool3d)[n - 1]
    out = pool(input.pow(norm_type), kernel, stride, 0, ceil_mode)
    # torch's sign(out) * relu(|out|) gives a window of zeros gradient 0 (its relu and sign backwards select
    # rather than multiply the pow's infinite gradient): selected here too, not NaN
    zero = out == 0
    out = out.masked_fill(zero, 1.0).mul(math.prod(kernel)).pow(1.0 / norm_type).masked_fill(zero, 0.0)
    return name_node(out, "PowBackward0")


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """Power-average pool of (N, C, L): (sum x^p)^(1/p) over each window."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """Power-average pool of (N, C, H, W): (sum x^p)^(1/p) over each window."""
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """Power-average pool of (N, C, D, H, W): (sum x^p)^(1/p) over each window."""
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# ---------------------------------------------------------------- adaptive pools


def _adaptive_size(output_size: Any, n: int, spatial: tuple, name: str) -> tuple[int, ...]:
    """``output_size`` (an int, or a tuple whose None entries keep the input's size) as ints."""
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * n
    sizes = tuple(output_size)
    if len(sizes) != n:  # (torch's texts)
        if n == 1:
            raise ShapeError(f"{name}() argument 'output_size' should contain one int (got {len(sizes)})")
        if "max" in name:
            raise ShapeError(f"{name}(): internal error: output_size.size() must be {n}")
        raise ShapeError(f"{name}: output_size must be {n}")
    return tuple(m if o is None else int(o) for o, m in zip(sizes, spatial))


def _adaptive_ranges(m: int, o: int) -> tuple[np.ndarray, np.ndarray]:
    """Window i covers [floor(i m / o), ceil((i + 1) m / o)) (torch's start/end index)."""
    i = np.arange(o)
    return (i * m) // o, -((-(i + 1) * m) // o)


def _adaptive_input(input: Tensor, n: int, name: str, output_size: Any) -> tuple[Tensor, bool, tuple]:
    if n > 1 and isinstance(output_size, (list, tuple)) and input.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")  # (torch's Python check)
    if name in ("adaptive_max_pool2d", "adaptive_avg_pool2d"):  # torch's texts (an empty RoI crop, say)
        if input.ndim not in (3, 4):
            raise ShapeError(
                f"{name}(): Expected 3D or 4D tensor, but got{':' if 'max' in name else ''} {list(input.shape)}"
            )
        # (the max pool checks the channels too, the average pool only the spatial dims)
        for d in range(1, input.ndim) if "max" in name else range(input.ndim - 2, input.ndim):
            if input.shape[d] == 0:
                raise ShapeError(
                    f"{name}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
                    f"{list(input.shape)} with dimension {d} being empty"
                )
    if input.ndim not in (n + 1, n + 2) or any(s == 0 for s in input.shape[-n:]):
        raise ShapeError(
            f"{name}: Expected {n + 1}D or {n + 2}D tensor with non-zero sizes for the spatial dims, but input has "
            f"sizes {list(input.shape)}"
        )
    x, unbatched = _batched(input, n, name)
    out = _adaptive_size(output_size, n, tuple(x.shape[2:]), name)
    if any(o < 0 for o in out):
        raise ShapeError(f"{name}: elements of output_size must be greater than or equal to 0 but received {out}")
    return x, unbatched, out


def _along(x: Tensor, i: int, matrix: Tensor) -> Tensor:
    """x (N, C, *spatial) times ``matrix`` (S, O) along spatial dim ``i``: a GEMM, so gradients are GEMMs. The
    resampling ops it serves are in no autocast list (torch's upsample kernels keep the input's dtype)."""
    if autocast_users[0]:
        with autocast_state.suspended():
            return _gemm_along(x, i, matrix)
    return _gemm_along(x, i, matrix)


def _gemm_along(x: Tensor, i: int, matrix: Tensor) -> Tensor:
    dim = 2 + i
    if dim == x.ndim - 1:
        return x @ matrix
    shape = tuple(x.shape)
    rest = math.prod(shape[dim + 1 :])
    y = matrix.mT @ x.reshape(*shape[:dim], shape[dim], rest)  # (O, S) @ (..., S, rest)
    return y.reshape(*shape[:dim], matrix.shape[1], *shape[dim + 1 :])


def _floating_only(input: Tensor, kernel: str) -> None:
    """torch's averaging and interpolating kernels refuse integer and bool inputs (weights would truncate): its
    error, naming its CPU ``kernel`` (``"adaptive_avg_pool2d" not implemented for 'Long'``)."""
    if _dtypes.kind(input.dtype) != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.scalar_type_name(input.dtype)}'")


# the CPU kernel named in torch's error for an integer input to interpolate's modes (by mode and input rank; the
# antialiased ones are "compute_index_ranges_weights"): its 4-D kernels are the channels-last ones
_INTERPOLATE_KERNELS = {
    ("nearest", 2): "upsample_nearest2d_channels_last", ("bilinear", 2): "upsample_bilinear2d_channels_last",
    ("bicubic", 2): "compute_indices_weights_cubic",
}  # fmt: skip


def _interpolate_kernel(mode: str, n: int, antialias: bool) -> str:
    if antialias:
        return "compute_index_ranges_weights"
    mode = "nearest" if mode == "nearest-exact" else mode
    default = "compute_indices_weights_nearest" if mode == "nearest" else "compute_indices_weights_linear"
    return _INTERPOLATE_KERNELS.get((mode, n), default)


def _adaptive_avg(name: str, n: int, input: Tensor, output_size: Any) -> Tensor:
    if autocast_users[0]:  # (adaptive_avg_pool3d runs in float32 under torch's CPU autocast; the products that
        (input,) = autocast_function(name, input)  # average its windows are not cast: torch's is one kernel)
        with autocast_state.suspended():
            return _adaptive_avg_kernel(name, n, input, output_size)
    return _adaptive_avg_kernel(name, n, input, output_size)


def _adaptive_avg_kernel(name: str, n: int, input: Tensor, output_size: Any) -> Tensor:
    _floating_only(input, "adaptive_avg_pool3d_cpu" if n == 3 else "adaptive_avg_pool2d")
    x, unbatched, out = _adaptive_input(input, n, name, output_size)
    # float16/bfloat16: torch sums each window in float32 and divides by its sizes one dim at a time
    # (sum / kh / kw), rounding once: the window sums in float32 here, then those divisions. (Its 3-D
    # kernel accumulates in the half dtype and rounds each division: not followed.)
    half = x.dtype.itemsize == 2 and n <= 2
    y = x.float() if half else x
    sizes = []
    for i in reversed(range(n)):
        m, o = x.shape[2 + i], out[i]
        if m == o:
            continue
        start, end = _adaptive_ranges(m, o)
        rows = np.arange(m)[:, None]
        a = (rows >= start) & (rows < end)
        if half:
            sizes.append((i, (end - start).astype(np.float32)))
            a = a.astype(np.float32)
        else:
            a = (a / (end - start).astype(np.float64)).astype(x.dtype.name)
        y = _along(y, i, _const(x.device.xp.asarray(a), y))
    if half:
        if not sizes:
            y = x
        else:
            for i, k in reversed(sizes):
                shape = [-1 if d == i else 1 for d in range(n)]
                y = y / _const(x.device.xp.asarray(k.reshape(shape)), y)
            y = y.to(x.dtype)
    if y is x:  # (every window one element: a copy, as torch's, never the input itself)
        y = x.clone()
    elif all(o == 1 for o in out):  # (torch's mean, whose gradient is constant)
        return _pool_named(_unbatch(y, unbatched), n, "MeanBackward1")
    y = _pool_named(_unbatch(y, unbatched), n, f"AdaptiveAvgPool{n}DBackward0")
    return link_gradients(y, input, name=f"AdaptiveAvgPool{max(n, 2)}DBackwardBackward0")


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over ``output_size`` windows of (N, C, L) spanning it (torch's floor/ceil window bounds)."""
    try:
        return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over an ``output_size`` grid of windows of (N, C, H, W); None keeps that dim's size."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over an ``output_size`` grid of windows of (N, C, D, H, W)."""
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_max_indices(xp: Any, x: Any, *, out: tuple) -> Any:
    """Flat argmax indices (N, C, *out) of adaptive windows: each window read as kmax offsets clipped to
    its end (a repeat of its last element never beats the first maximum)."""
    spatial = x.shape[2:]
    ranges = [_adaptive_ranges(m, o) for m, o in zip(spatial, out)]
    widths = [int((end - start).max()) for start, end in ranges]

    def windows() -> Any:
        for offset in itertools.product(*map(range, widths)):
            pos = [xp.asarray(np.minimum(start + j, end - 1)) for (start, end), j in zip(ranges, offset)]
            yield x[(slice(None), slice(None)) + tuple(xp.ix_(*pos))], _flat(xp, pos, spatial)

    return _running_argmax(xp, windows())


def _adaptive_max(name: str, n: int, input: Tensor, output_size: Any, return_indices: bool) -> Any:
    if autocast_users[0]:  # (adaptive_max_pool3d runs in float32 under torch's CPU autocast)
        (input,) = autocast_function(name, input)
    x, unbatched, out = _adaptive_input(input, n, name, output_size)
    idx, flat = _indices(functools.partial(_adaptive_max_indices, x.device.xp, out=out), x)
    y = _pool_named(_unbatch(_take_flat(x, flat, out), unbatched), n, f"AdaptiveMaxPool{n}DBackward0")
    link_gradients(y, input, name=f"AdaptiveMaxPool{max(n, 2)}DBackwardBackward0")
    if return_indices:
        return y, _unbatch(_const(idx, x), unbatched)
    return y


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over ``output_size`` windows of (N, C, L); ``return_indices``: also the flat argmax."""
    try:
        return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over an ``output_size`` grid of windows of (N, C, H, W); indices flat over H * W."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over an ``output_size`` grid of windows of (N, C, D, H, W)."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(
    input: Tensor, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool1d`` returning (values, flat argmax) whatever ``return_indices`` says, as torch."""
    try:
        return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def adaptive_max_pool2d_with_indices(
    input: Tensor, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool2d`` returning (values, indices flat over H * W)."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, True)


def adaptive_max_pool3d_with_indices(
    input: Tensor, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool3d`` returning (values, indices flat over D * H * W)."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, True)


# ---------------------------------------------------------------- interpolation

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_INTERPOLATE_INPUTS = (
    "Input Error: Only 3D, 4D and 5D input Tensors supported (got {ndim}D) for the modes: nearest | linear | "
    "bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})"
)


def _is_integer(v: Any) -> bool:
    """torch's ``_is_integer``: a Python or NumPy int, or a tensor of integers (an interpolate size entry)."""
    if isinstance(v, Tensor):
        return _dtypes.kind(v.dtype) in "iub"
    return isinstance(v, (int, np.integer))


def _out_size(x: Tensor, n: int, size: Any, scale_factor: Any, area: bool) -> tuple[tuple[int, ...], tuple]:
    """The output size and, per dim, the scale torch's kernels use (1 / scale_factor, or None: in / out);
    the sizes checked as torch's upsample kernels do (mode 'area', an adaptive pool, may make empty dims)."""
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if size is not None:
        if not isinstance(size, (list, tuple)):
            return _positive_sizes(x, (operator.index(size),) * n, area), (None,) * n
        if len(size) != n:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {list(x.shape[2:])} and output size of {size}. Please provide input tensor in "
                "(N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
            )
        if not all(_is_integer(s) for s in size):
            raise TypeError(
                "expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], but got "
                f"size with types {[type(s) for s in size]}"
            )
        return _positive_sizes(x, tuple(int(s) for s in size), area), (None,) * n
    if isinstance(scale_factor, (int, float)):
        if n < 1:  # (a 0-d/1-D/2-D input: torch's rank error comes later)
            return (), ()
        scale_factor = (scale_factor,) * n
    scales = tuple(float(s) for s in scale_factor)
    if len(scales) != n:
        raise ValueError(
            f"Input and scale_factor must have the same number of spatial dimensions, but got input with spatial "
            f"dimensions of {list(x.shape[2:])} and scale_factor of shape {scale_factor}. Please provide input tensor "
            "in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
        )
    return _positive_sizes(x, tuple(math.floor(m * s) for m, s in zip(x.shape[2:], scales)), area), scales


def _positive_sizes(x: Tensor, out: tuple[int, ...], area: bool) -> tuple[int, ...]:
    """``out``, checked as torch's upsample kernels do: input and output sizes above 0 (``area``: input only)."""
    if not out:  # (a 0-d/1-D/2-D input: torch's rank error comes later)
        return out
    if min(x.shape[2:]) <= 0 or (min(out) <= 0 and not area):
        names = ("D", "H", "W")[3 - len(out) :]
        given = ", ".join(f"{k}: {m}" for k, m in zip(names, x.shape[2:]))
        wanted = ", ".join(f"{k}: {o}" for k, o in zip(names, out))
        joint = " and" if len(out) == 1 else ""
        raise ShapeError(
            f"Input and output sizes should be greater than 0, but got input ({given}){joint} output ({wanted})"
        )
    return out


def _nearest_index(m: int, o: int, scale: float | None, exact: bool) -> np.ndarray:
    """torch's nearest source index, computed in float32 as its kernels: floor((o [+ 0.5]) * scale)."""
    s = np.float32(m / o if scale is None else 1.0 / scale)
    dst = np.arange(o, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    return np.minimum(np.floor(dst * s).astype(np.int64), m - 1)


def _linear_taps(
    m: int, o: int, scale: float | None, align_corners: bool, dtype: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two source indices of each of o outputs and the second one's weight (torch's
    area_pixel_compute_source_index, in torch's opmath type)."""
    ct = np.float32 if np.dtype(dtype).itemsize <= 4 else np.float64
    if align_corners:
        s = ct((m - 1) / (o - 1)) if o > 1 else ct(0)
        src = np.arange(o, dtype=ct) * s
    else:
        s = ct(m / o if scale is None else 1.0 / scale)
        src = np.maximum(s * (np.arange(o, dtype=ct) + ct(0.5)) - ct(0.5), ct(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), m - 1)
    i1 = np.minimum(i0 + 1, m - 1)
    return i0, i1, (src - i0).astype(ct)


def _linear_matrix(m: int, o: int, scale: float | None, align_corners: bool, dtype: Any) -> np.ndarray:
    """(m, o) weights of linear interpolation (torch's area_pixel_compute_source_index)."""
    i0, i1, l1 = _linear_taps(m, o, scale, align_corners, dtype)
    a = np.zeros((m, o), dtype=np.float64)
    cols = np.arange(o)
    np.add.at(a, (i0, cols), 1 - l1)
    np.add.at(a, (i1, cols), l1)
    return a.astype(dtype)


def _two_taps(x: Tensor, i: int, i0: np.ndarray, i1: np.ndarray, l1: np.ndarray) -> Tensor:
    """(1 - l1) x[i0] + l1 x[i1] along spatial dim ``i`` (torch's linear upsampling kernels)."""
    dim = 2 + i
    xp = x.device.xp
    w = l1.astype(x._data.dtype).reshape((-1,) + (1,) * (x.ndim - dim - 1))
    x0 = x.index_select(dim, _const(xp.asarray(i0), x))
    x1 = x.index_select(dim, _const(xp.asarray(i1), x))
    return x0 * _const(xp.asarray(1 - w), x) + x1 * _const(xp.asarray(w), x)


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    """The cubic convolution kernel of parameter ``a`` at ``x`` (in x's dtype, as torch's kernels)."""
    a_ = x.dtype.type(a)
    x = np.abs(x)
    near = ((a_ + 2) * x - (a_ + 3)) * x * x + 1
    far = ((a_ * x - 5 * a_) * x + 8 * a_) * x - 4 * a_
    return np.where(x < 1, near, np.where(x < 2, far, x.dtype.type(0)))


def _cubic_matrix(m: int, o: int, scale: float | None, align_corners: bool, dtype: Any) -> np.ndarray:
    """(m, o) weights of bicubic interpolation along one dim: torch's cubic convolution (A = -0.75) at the
    four taps floor(src) - 1 .. floor(src) + 2 around the unclamped source index, taps clamped to the border."""
    ct = np.float32 if np.dtype(dtype).itemsize <= 4 else np.float64  # torch's opmath type
    if align_corners:
        s = ct((m - 1) / (o - 1)) if o > 1 else ct(0)
        src = np.arange(o, dtype=ct) * s
    else:
        s = ct(ct(m) / ct(o)) if scale is None else ct(1.0 / scale)
        src = s * (np.arange(o, dtype=ct) + ct(0.5)) - ct(0.5)
    i0 = np.minimum(np.floor(src).astype(np.int64), m - 1)
    t = np.clip(src - i0.astype(ct), 0, 1).astype(ct)
    one = ct(1)
    w = np.stack([_cubic(t + one, -0.75), _cubic(t, -0.75), _cubic(one - t, -0.75), _cubic(2 * one - t, -0.75)])
    a = np.zeros((m, o), dtype=np.float64)
    cols = np.arange(o)
    for j in range(4):
        np.add.at(a, (np.clip(i0 - 1 + j, 0, m - 1), cols), w[j])
    return a.astype(dtype)


def _lanczos(x: np.ndarray) -> np.ndarray:
    """Lanczos-3: sinc(x) sinc(x / 3) on |x| < 3, else 0 (PIL's ``Image.LANCZOS`` filter, as torch's)."""
    return np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


_AA_TAPS = {"bilinear": 2, "bicubic": 4, "lanczos": 6}  # the filter's support (in input pixels) at scale 1


def _aa_weights(m: int, o: int, scale: float | None, align_corners: bool, mode: str, ct: Any) -> tuple:
    """torch's antialiased separable weights along one dim: a triangle (bilinear), cubic (A = -0.5) or
    Lanczos-3 filter whose support is stretched by the scale when downsampling, over the input pixels
    [xmin, xmin + xsize) of each output pixel, normalised to sum 1. Returns (xmin (o,), weights (o, K)) in ``ct``."""
    if align_corners:
        s = ct(ct(m - 1) / ct(o - 1)) if o > 1 else ct(0)
    else:
        s = ct(ct(m) / ct(o)) if scale is None else ct(1.0 / scale)
    interp = _AA_TAPS[mode]
    support = ct(interp * 0.5 * float(s)) if s >= 1 else ct(interp * 0.5)
    k = int(math.ceil(support)) * 2 + 1
    invscale = ct(1.0 / float(s)) if s >= 1 else ct(1)
    i = np.arange(o, dtype=np.float64)
    center = (np.float64(s) * (i + 0.5)).astype(ct)
    xmin = np.maximum(np.trunc((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)
    xmax = np.minimum(np.trunc((center + support).astype(np.float64) + 0.5).astype(np.int64), m)
    xsize = np.clip(xmax - xmin, 0, k)
    j = np.arange(k)
    x = (((j[None, :] + xmin[:, None]).astype(ct) - center[:, None]).astype(np.float64) + 0.5) * np.float64(invscale)
    x = x.astype(ct)
    if mode == "bicubic":
        w = _cubic(x, -0.5)
    elif mode == "lanczos":
        w = _lanczos(x.astype(np.float64)).astype(ct)
    else:
        w = np.maximum(ct(1) - np.abs(x), ct(0)).astype(ct)
    w = np.where(j[None, :] < xsize[:, None], w, ct(0)).astype(ct)
    total = w.sum(axis=1, dtype=ct)
    w = np.where(total[:, None] != 0, w / np.where(total == 0, ct(1), total)[:, None], w).astype(ct)
    return xmin, w


def _aa_matrix(m: int, o: int, scale: float | None, align_corners: bool, mode: str, dtype: Any) -> np.ndarray:
    """(m, o) matrix of ``_aa_weights`` (torch's ``_upsample_{bilinear,bicubic,lanczos}2d_aa`` along one dim)."""
    ct = np.float32 if np.dtype(dtype).itemsize <= 4 else np.float64
    xmin, w = _aa_weights(m, o, scale, align_corners, mode, ct)
    rows = xmin[:, None] + np.arange(w.shape[1])[None, :]
    keep = (rows < m) & (w != 0)
    a = np.zeros((m, o), dtype=np.float64)
    np.add.at(a, (rows[keep], np.broadcast_to(np.arange(o)[:, None], rows.shape)[keep]), w[keep])
    return a.astype(dtype)


def _int16_matrix(m: int, o: int, scale: float | None, align_corners: bool) -> tuple[np.ndarray, int]:
    """torch's fixed-point weights of uint8 bilinear resizing along one dim: the float64 triangle weights
    (pixel centres shifted by half a pixel under ``align_corners``), scaled by 2**precision (the largest
    keeping the biggest weight under 2**15) and rounded half away from zero. Returns ((m, o) int64, precision)."""
    delta = 0.5 if align_corners else 0.0
    if align_corners:
        s = (m - 1) / (o - 1) if o > 1 else 0.0
    else:
        s = m / o if scale is None else 1.0 / scale
    center = s * (np.arange(o) + 0.5 - delta)
    xmin = np.maximum(np.trunc(center - 1 + 0.5 + delta).astype(np.int64), 0)
    xsize = np.clip(np.minimum(np.trunc(center + 1 + 0.5 + delta).astype(np.int64), m) - xmin, 0, 2)
    j = np.arange(2)
    w = np.maximum(1 - np.abs(j[None, :] + xmin[:, None] - center[:, None] + 0.5 - delta), 0.0)
    w = np.where(j[None, :] < xsize[:, None], w, 0.0)
    total = w.sum(axis=1)
    w = np.where(total[:, None] != 0, w / np.where(total == 0, 1.0, total)[:, None], w)
    return _fixed_point(m, xmin, w)


def _fixed_point(m: int, xmin: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int]:
    """float64 weights (o, K) over input pixels [xmin, xmin + K) as torch's int16 ones (``_int16_weights``)."""
    o, k = w.shape
    rows = xmin[:, None] + np.arange(k)[None, :]
    keep = (rows < m) & (w != 0)
    a = np.zeros((m, o), dtype=np.float64)
    np.add.at(a, (rows[keep], np.broadcast_to(np.arange(o)[:, None], rows.shape)[keep]), w[keep])
    return _int16_weights(a)


def _int16_weights(a: np.ndarray) -> tuple[np.ndarray, int]:
    """(m, o) float64 weights as torch's int16 ones: scaled by 2**precision (the largest keeping the biggest
    weight under 2**15), rounded half away from zero; ((m, o) int64, precision)."""
    wt_max = float(a.max(initial=0.0))
    precision = 0
    while precision < 22 and int(0.5 + wt_max * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    v = a * (1 << precision)
    return np.trunc(np.where(v < 0, v - 0.5, v + 0.5)).astype(np.int64), precision


def _resize_uint8(input: Tensor, out: tuple, scales: tuple, align_corners: bool, mode: str, antialias: bool) -> Tensor:
    """torch's uint8 bilinear and bicubic resize on CPU: separable fixed-point passes (width, then
    height), each rounding (adding half of 2**precision, shifting) and saturating to uint8 before the next."""
    xp = input.device.xp
    y = input
    for i in (1, 0):
        m, o = input.shape[2 + i], out[i]
        if m == o:  # torch leaves a dim of unchanged size alone, whatever the scale
            continue
        if antialias:  # (the float64 filter weights of the antialiased kernels)
            a, precision = _fixed_point(m, *_aa_weights(m, o, scales[i], align_corners, mode, np.float64))
        elif mode == "bicubic":  # the float kernel's float64 taps, clamped to the border (a tap there adds up)
            a, precision = _int16_weights(_cubic_matrix(m, o, scales[i], align_corners, "float64"))
        else:
            a, precision = _int16_matrix(m, o, scales[i], align_corners)
        acc = _along(y.long(), i, _const(xp.asarray(a), input)) + (1 << (precision - 1))
        y = (acc // (1 << precision)).clamp(0, 255).to(input.dtype)
    return y


def _resample(
    input: Tensor, out: tuple, scales: tuple, mode: str, align_corners: bool, antialias: bool, backward: bool
) -> Any:
    """``input`` resized as torch's forward kernel of ``mode`` does (``backward=False``), or as the adjoint of its
    backward kernel, where that differs (else None): its 1-D/3-D nearest backward reads a dim of kept or doubled
    size as its 2-D forward does (a copy, i >> 1), its bicubic backward copies when both dims are kept, and its
    antialiased backward weighs a kept dim by the scale too (the forward leaves it alone, whatever the scale).
    With ``backward`` the rules are compared first and nothing is computed when they agree (the usual case)."""
    if backward and not _backward_differs(input, out, scales, mode, align_corners, antialias):
        return None
    xp = input.device.xp
    n = len(out)
    y = input
    for i in reversed(range(n)) if antialias else range(n):
        m, o = input.shape[2 + i], out[i]
        if antialias:
            if m != o or backward:
                a = _aa_matrix(m, o, scales[i], align_corners, mode, input.dtype.name)
                y = _along(y, i, _const(xp.asarray(a), input))
        elif mode == "bicubic":
            if backward and out == tuple(input.shape[2:]):  # (torch's backward copies when no dim changes)
                continue
            a = _cubic_matrix(m, o, scales[i], align_corners, input.dtype.name)
            y = _along(y, i, _const(xp.asarray(a), input))
        elif mode in _LINEAR:
            if m == o:  # (torch's linear kernels copy a dim of unchanged size, whatever the scale)
                continue
            if input._data.dtype.itemsize >= 4:  # torch's two taps, (1 - l) x0 + l x1: an inf next to a 0 weight
                y = _two_taps(y, i, *_linear_taps(m, o, scales[i], align_corners, input.dtype.name))  # is NaN only
                continue  # where torch's is (a GEMM made a whole row NaN)
            y = _along(
                y, i, _const(xp.asarray(_linear_matrix(m, o, scales[i], align_corners, input.dtype.name)), input)
            )
        elif mode == "nearest" and (n == 2 or backward) and o in (m, 2 * m):  # torch's nearest_idx: a copy
            if o == 2 * m:  # or i >> 1 for these sizes, whatever the scale (scale_factor=1.1 of 3 rows keeps them)
                y = y.index_select(2 + i, _const(xp.asarray(np.arange(o) >> 1), input))
        elif m != o or scales[i] not in (None, 1.0):
            idx = _nearest_index(m, o, scales[i], mode == "nearest-exact")
            y = y.index_select(2 + i, _const(xp.asarray(idx), input))
    return input.clone() if y is input else y  # (nothing resampled: a copy, as torch's, never the input itself)


def _backward_differs(
    input: Tensor, out: tuple, scales: tuple, mode: str, align_corners: bool, antialias: bool
) -> bool:
    """Whether torch's backward kernel for these sizes is not its forward's adjoint (see ``_resample``)."""
    n = len(out)
    for i in range(n):
        m, o = input.shape[2 + i], out[i]
        if antialias:
            if m == o and not np.array_equal(
                _aa_matrix(m, o, scales[i], align_corners, mode, input.dtype.name), np.eye(m)
            ):
                return True
        elif mode == "bicubic":
            if out == tuple(input.shape[2:]) and not np.array_equal(
                _cubic_matrix(m, o, scales[i], align_corners, input.dtype.name), np.eye(m)
            ):
                return True
        elif mode == "nearest" and n != 2 and o in (m, 2 * m):
            if not np.array_equal(np.arange(o) >> (o != m), _nearest_index(m, o, scales[i], False)):
                return True
    return False


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize (N, C, *spatial) by ``size`` or ``scale_factor``: modes ``nearest``, ``nearest-exact``,
    ``linear``/``bilinear``/``trilinear``/``bicubic`` (``align_corners``; bicubic: torch's A = -0.75 with
    clamped taps), ``area`` (adaptive average pooling); ``antialias`` for 4-D bilinear/bicubic and ``lanczos``
    (which needs it: torch's separable filters stretched by the scale); uint8 bilinear and bicubic in torch's
    fixed point."""
    n = input.ndim - 2
    if align_corners is not None and mode in ("nearest", "nearest-exact", "area"):
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"
        )
    # (torch checks the sizes before the input's rank: a (H, W) mask with size=(h, w) is its ValueError)
    out, scales = _out_size(input, n, size, scale_factor, mode == "area")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and n == 2):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
        )
    if n not in (1, 2, 3) or mode not in ("nearest", "nearest-exact", "area", "bicubic", "lanczos", *_LINEAR):
        raise NotImplementedError(_INTERPOLATE_INPUTS.format(ndim=input.ndim, mode=mode))
    if mode in ("bicubic", "lanczos") and n != 2:
        raise NotImplementedError(_INTERPOLATE_INPUTS.format(ndim=input.ndim, mode=mode))
    if mode == "lanczos":
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    if mode in _LINEAR and _LINEAR[mode] != n:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input")
    if mode in ("nearest", "nearest-exact") and input.dtype.name != "uint8":
        # torch's nearest kernels take floating point and uint8 only: an int64 or bool mask is its error
        _floating_only(input, _interpolate_kernel(mode, n, antialias))
    if recompute_scale_factor:
        scales = (None,) * n
    if input.dtype.name == "uint8" and mode in ("bilinear", "bicubic"):
        return _resize_uint8(input, out, scales, bool(align_corners), mode, antialias)
    if mode in _LINEAR or mode == "bicubic":
        _floating_only(input, _interpolate_kernel(mode, n, antialias))
    if mode == "area":
        return _adaptive_avg("interpolate", n, input, out)
    y = _resample(input, out, scales, mode, bool(align_corners), antialias, backward=False)
    if input.requires_grad and is_grad_enabled():
        # torch's backward kernels are not always their forward's adjoint (a dim the scale keeps, or doubles):
        # the gradient flows through torch's backward read as a forward, holding the forward's values
        path = _resample(input, out, scales, mode, bool(align_corners), antialias, backward=True)
        if path is not None:
            with no_grad():
                y = path.copy_(y)
    kind = "".join(map(str.capitalize, mode.split("-")))  # torch's node: UpsampleBilinear2DBackward0, ...
    return name_node(y, f"Upsample{kind}{n}D{'Aa' if antialias else ''}Backward0")


def upsample(
    input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest", align_corners: bool | None = None
) -> Tensor:
    """Deprecated alias of ``interpolate`` (torch's ``F.upsample``, with its warning)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)
