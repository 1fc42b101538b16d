"""Static quantized activations and normalizations (torch's ``nn.quantized.Hardswish``/``ELU``/``LeakyReLU``/
``Sigmoid``/``BatchNorm2d``/``LayerNorm``): quint8 in and out at the observed output scale and zero point,
values from torch's x86 kernels bit for bit (see ``backprop._quantized.qunary``/``qbatch_norm``/``qlayer_norm``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import backprop as bp
from backprop import _quantized as Q
from backprop import nn
from backprop._quantized import QTensor

__all__ = ["ELU", "BatchNorm2d", "Hardswish", "LayerNorm", "LeakyReLU", "Sigmoid"]
_F = np.float32


def _qparams(mod: Any) -> tuple[float, int]:
    """The output scale and zero point of an observed module."""
    s, z = mod.activation_post_process.calculate_qparams()
    return float(s.reshape(-1)[0]), int(z.reshape(-1)[0])


def _arr(t: Any) -> Any:
    return None if t is None else np.asarray(t.detach().float().numpy(), dtype=_F)


def hardswish(input: QTensor, scale: float, zero_point: int) -> QTensor:
    """``x * relu6(x + 3) / 6`` requantized at ``scale``/``zero_point`` (torch's ``quantized::hardswish``)."""
    return Q.qunary(input, lambda d: d * np.clip(d + _F(3), _F(0), _F(6)) / _F(6), scale, zero_point, True)


def elu(input: QTensor, scale: float, zero_point: int, alpha: float = 1.0) -> QTensor:
    """``x if x > 0 else alpha * (exp(x) - 1)`` requantized (torch's ``quantized::elu``)."""
    a = _F(alpha)
    return Q.qunary(input, lambda d: np.where(d > 0, d, a * np.expm1(d.astype(np.float64)).astype(_F)), scale,
                    zero_point)  # fmt: skip


def leaky_relu(input: QTensor, negative_slope: float = 0.01, inplace: bool = False, scale: float | None = None,
               zero_point: int | None = None) -> QTensor:  # fmt: skip
    """``x if x > 0 else negative_slope * x`` requantized (the input's scale and zero point when not given)."""
    s = input.q_scale() if scale is None else float(scale)
    z = input.q_zero_point() if zero_point is None else int(zero_point)
    slope = _F(negative_slope)
    return Q.qunary(input, lambda d: np.where(d > 0, d, d * slope), s, z)


def sigmoid(input: QTensor, scale: float | None = None, zero_point: int | None = None) -> QTensor:
    """``1 / (1 + exp(-x))`` quantized; torch's fixed output qparams (1/256 and 0, qint8: -128) when not given."""
    s = 1.0 / 256 if scale is None else float(scale)
    z = (0 if input.dtype is Q.quint8 else -128) if zero_point is None else int(zero_point)
    with np.errstate(over="ignore"):
        return Q.qunary(input, lambda d: _F(1) / (_F(1) + np.exp(-d)), s, z)


class Hardswish(nn.Hardswish):
    """Quantized hardswish at a fixed output scale and zero point (buffers ``scale``/``zero_point``, as torch)."""

    def __init__(self, scale: float, zero_point: int, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.register_buffer("scale", bp.tensor(scale))
        self.register_buffer("zero_point", bp.tensor(zero_point))

    def forward(self, input: QTensor) -> QTensor:  # type: ignore[override]
        return hardswish(input, float(self.scale), int(self.zero_point))

    def _get_name(self) -> str:
        return "QuantizedHardswish"

    @staticmethod
    def from_float(mod: Any, use_precomputed_fake_quant: bool = False) -> Hardswish:
        """From an observed ``nn.Hardswish``."""
        return Hardswish(*_qparams(mod))


class ELU(nn.ELU):
    """Quantized ELU at a fixed output scale and zero point."""

    def __init__(self, scale: float, zero_point: int, alpha: float = 1.0) -> None:
        super().__init__(alpha)
        self.scale, self.zero_point = scale, zero_point

    def forward(self, input: QTensor) -> QTensor:  # type: ignore[override]
        return elu(input, self.scale, self.zero_point, self.alpha)

    def _get_name(self) -> str:
        return "QuantizedELU"

    @staticmethod
    def from_float(mod: Any, use_precomputed_fake_quant: bool = False) -> ELU:
        """From an observed ``nn.ELU``."""
        return ELU(*_qparams(mod), mod.alpha)


class LeakyReLU(nn.LeakyReLU):
    """Quantized leaky ReLU at a fixed output scale and zero point (buffers ``scale``/``zero_point``)."""

    def __init__(self, scale: float, zero_point: int, negative_slope: float = 1e-2, inplace: bool = False,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__(negative_slope, inplace)
        self.register_buffer("scale", bp.tensor(scale))
        self.register_buffer("zero_point", bp.tensor(zero_point))

    def forward(self, input: QTensor) -> QTensor:  # type: ignore[override]
        return leaky_relu(input, self.negative_slope, self.inplace, float(self.scale), int(self.zero_point))

    def _get_name(self) -> str:
        return "QuantizedLeakyReLU"

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> LeakyReLU:
        """From an observed ``nn.LeakyReLU``."""
        return cls(*_qparams(mod), mod.negative_slope, mod.inplace)


class Sigmoid(nn.Sigmoid):
    """Quantized sigmoid at a given output scale and zero point (not in the default mappings, as torch's: a
    float ``nn.Sigmoid`` given a quantized tensor uses the fixed 1/256 scale)."""

    def __init__(self, output_scale: float, output_zero_point: int) -> None:
        super().__init__()
        self.output_scale, self.output_zero_point = output_scale, output_zero_point

    def forward(self, input: QTensor) -> QTensor:  # type: ignore[override]
        return sigmoid(input, self.output_scale, self.output_zero_point)

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Sigmoid:
        """From an observed ``nn.Sigmoid``."""
        return cls(*_qparams(mod))


class BatchNorm2d(nn.BatchNorm2d):
    """Quantized BatchNorm2d (eval statistics folded into a per-channel scale and shift of the integers)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__(num_features, eps, momentum, True, True)
        self.register_buffer("scale", bp.tensor(1.0))
        self.register_buffer("zero_point", bp.tensor(0))

    def _get_name(self) -> str:
        return "QuantizedBatchNorm2d"

    def forward(self, input: QTensor) -> QTensor:  # type: ignore[override]
        if len(input.shape) != 4:
            raise ValueError("Input shape must be `(N, C, H, W)`!")
        return Q.qbatch_norm(input, _arr(self.weight), _arr(self.bias), _arr(self.running_mean),
                             _arr(self.running_var), self.eps, float(self.scale), int(self.zero_point))  # fmt: skip

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> BatchNorm2d:
        """From an observed ``nn.BatchNorm2d`` (its parameters and running statistics shared)."""
        scale, zero_point = mod.activation_post_process.calculate_qparams()
        new = cls(mod.num_features, mod.eps)
        new.weight, new.bias = mod.weight, mod.bias
        new.running_mean, new.running_var = mod.running_mean, mod.running_var
        new.scale, new.zero_point = scale, zero_point
        return new


class LayerNorm(nn.LayerNorm):
    """Quantized LayerNorm over the trailing ``normalized_shape`` (float weight and bias)."""

    def __init__(self, normalized_shape: Any, weight: Any, bias: Any, scale: float, zero_point: int,
                 eps: float = 1e-5, elementwise_affine: bool = True, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__(normalized_shape, eps=eps, elementwise_affine=elementwise_affine)
        self.weight, self.bias = weight, bias
        self.register_buffer("scale", bp.tensor(scale))
        self.register_buffer("zero_point", bp.tensor(zero_point))

    def _get_name(self) -> str:
        return "QuantizedLayerNorm"

    def forward(self, input: QTensor) -> QTensor:  # type: ignore[override]
        n = int(np.prod(self.normalized_shape))
        return Q.qlayer_norm(input, n, _arr(self.weight), _arr(self.bias), self.eps, float(self.scale),
                             int(self.zero_point))  # fmt: skip

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> LayerNorm:
        """From an observed ``nn.LayerNorm`` (its weight and bias shared)."""
        scale, zero_point = _qparams(mod)
        return cls(mod.normalized_shape, mod.weight, mod.bias, scale, zero_point, mod.eps, mod.elementwise_affine)
