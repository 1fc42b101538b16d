"""torch.ao.nn.quantized.functional: the quantized ops as functions (``linear``, ``conv2d``, ``relu``...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop import _quantized as Q
from backprop._quantized import QTensor
from backprop.ao.nn.quantized._activations import elu, hardswish, leaky_relu
from backprop.ao.nn.quantized._static import _pair

__all__ = ["conv2d", "elu", "hardswish", "leaky_relu", "linear", "relu", "relu6"]


def linear(
    input: QTensor, weight: QTensor, bias: Any = None, scale: float | None = None, zero_point: int | None = None
) -> QTensor:
    """Quantized linear at the given output scale and zero point (the input's when not given, as torch)."""
    s = input.q_scale() if scale is None else scale
    z = input.q_zero_point() if zero_point is None else zero_point
    b = None if bias is None else np.asarray(bias.detach().numpy())
    return Q.qlinear(input, weight, b, s, z)


def conv2d(
    input: QTensor,
    weight: QTensor,
    bias: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    scale: float = 1.0,
    zero_point: int = 0,
    dtype: Any = Q.quint8,
) -> QTensor:
    """Quantized 2-d convolution at the given output scale and zero point."""
    if padding_mode != "zeros":
        raise NotImplementedError("Only zero-padding is supported!")
    b = None if bias is None else np.asarray(bias.detach().numpy())
    return Q.qconv2d(input, weight, b, _pair(stride), _pair(padding), _pair(dilation), groups, scale, zero_point)


def relu(input: QTensor, inplace: bool = False) -> QTensor:
    """Quantized relu (same quantization)."""
    return input.relu()


def relu6(input: QTensor, inplace: bool = False) -> QTensor:
    """Quantized relu6 (same quantization)."""
    from backprop.ao.nn.quantized._static import ReLU6

    return ReLU6()(input)
