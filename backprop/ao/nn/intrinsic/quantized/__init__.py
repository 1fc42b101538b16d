"""torch.ao.nn.intrinsic.quantized: quantized fused modules (``LinearReLU``, ``ConvReLU2d``)."""

from __future__ import annotations

from backprop.ao.nn.quantized._static import Conv2d, Linear

__all__ = ["ConvReLU2d", "LinearReLU"]


class LinearReLU(Linear):
    """A quantized Linear with ReLU fused in its requantization (torch's ``QuantizedLinearReLU``)."""

    _relu = True

    def _get_name(self) -> str:
        return "QuantizedLinearReLU"


class ConvReLU2d(Conv2d):
    """A quantized Conv2d with ReLU fused in its requantization (torch's ``QuantizedConvReLU2d``)."""

    _relu = True
