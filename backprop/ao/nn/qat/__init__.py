"""torch.ao.nn.qat: modules whose weight is fake-quantized in the forward (quantization-aware training)."""

from __future__ import annotations

from typing import Any

from backprop import nn
from backprop.nn import functional as F  # noqa: N812 - torch's spelling
from backprop.tensor import Tensor

__all__ = ["Conv2d", "Linear"]


class Linear(nn.Linear):
    """``nn.Linear`` with ``weight_fake_quant`` (the qconfig's weight fake quantizer) applied to the weight."""

    _FLOAT_MODULE = nn.Linear

    def __init__(self, in_features: int, out_features: int, bias: bool = True, qconfig: Any = None) -> None:
        super().__init__(in_features, out_features, bias)
        if qconfig is None:
            raise AssertionError("qconfig must be provided for QAT module")
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return F.linear(input, self.weight_fake_quant(self.weight), self.bias)

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Linear:
        """The QAT copy of a float Linear sharing its parameters (its ``qconfig`` is required)."""
        if getattr(mod, "qconfig", None) is None:
            raise AssertionError("Input float module must have a valid qconfig")
        qconfig, lin = mod.qconfig, (mod[0] if isinstance(mod, nn.Sequential) else mod)  # (fused LinearReLU)
        q = cls(lin.in_features, lin.out_features, lin.bias is not None, qconfig=qconfig)
        q.weight = lin.weight
        q.bias = lin.bias
        return q

    def to_float(self) -> nn.Linear:
        lin = nn.Linear(self.in_features, self.out_features, self.bias is not None)
        lin.weight = nn.Parameter(self.weight.detach())
        if self.bias is not None:
            lin.bias = nn.Parameter(self.bias.detach())
        return lin


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` with ``weight_fake_quant`` (the qconfig's weight fake quantizer) applied to the weight."""

    _FLOAT_MODULE = nn.Conv2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 qconfig: Any = None, device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode)
        if not qconfig:
            raise AssertionError("qconfig must be provided for QAT module")
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return self._conv_forward(input, self.weight_fake_quant(self.weight), self.bias)

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Conv2d:
        """The QAT copy of a float (or fused ``ConvReLU2d``) Conv2d sharing its parameters."""
        if getattr(mod, "qconfig", None) is None:
            raise AssertionError("Input float module must have qconfig defined")
        qconfig, conv = mod.qconfig, (mod[0] if isinstance(mod, nn.Sequential) else mod)
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, conv.padding_mode, qconfig=qconfig)  # fmt: skip
        q.weight, q.bias = conv.weight, conv.bias
        return q

    def to_float(self) -> nn.Conv2d:
        """The float Conv2d with these parameters."""
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                         self.dilation, self.groups, self.bias is not None, self.padding_mode)  # fmt: skip
        conv.weight = nn.Parameter(self.weight.detach())
        if self.bias is not None:
            conv.bias = nn.Parameter(self.bias.detach())
        return conv
