"""torch.ao.nn.quantized: the modules of quantized models (``dynamic`` holds the dynamic ones)."""

from __future__ import annotations

from typing import Any

import backprop as bp
from backprop._quantized import QTensor, quint8
from backprop.ao.nn.quantized import dynamic
from backprop.ao.nn.quantized._activations import ELU, BatchNorm2d, Hardswish, LayerNorm, LeakyReLU, Sigmoid
from backprop.ao.nn.quantized._static import Conv2d, FloatFunctional, Linear, QFunctional, ReLU6
from backprop.nn import Module
from backprop.tensor import Tensor

__all__ = [
    "BatchNorm2d", "Conv2d", "DeQuantize", "ELU", "FloatFunctional", "Hardswish", "LayerNorm", "LeakyReLU", "Linear",
    "QFunctional", "Quantize", "ReLU6", "Sigmoid", "dynamic", "functional",
]  # fmt: skip


class Quantize(Module):
    """Quantize a float tensor per tensor with a fixed scale and zero point."""

    def __init__(self, scale: float, zero_point: int, dtype: Any = quint8) -> None:
        super().__init__()
        self.register_buffer("scale", bp.tensor([scale]))
        self.register_buffer("zero_point", bp.tensor([zero_point]))
        self.dtype = dtype

    def forward(self, X: Tensor) -> QTensor:  # noqa: N803 - torch's name
        return bp.quantize_per_tensor(X, float(self.scale[0]), int(self.zero_point[0]), self.dtype)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}, dtype={self.dtype}"

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Quantize:
        """The ``Quantize`` of an observed ``QuantStub`` (its observer's scale and zero point)."""
        s, z = mod.activation_post_process.calculate_qparams()
        return cls(float(s.reshape(-1)[0]), int(z.reshape(-1)[0]), mod.activation_post_process.dtype)


class DeQuantize(Module):
    """Dequantize a quantized tensor."""

    def forward(self, Xq: Any) -> Tensor:  # noqa: N803 - torch's name
        return Xq.dequantize()

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> DeQuantize:
        return cls()


from backprop.ao.nn.quantized import functional  # noqa: E402 - needs the modules above
