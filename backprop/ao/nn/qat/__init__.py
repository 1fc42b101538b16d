"""torch.ao.nn.qat: modules whose weight is fake-quantized in the forward (quantization-aware training)."""

from __future__ import annotations

from typing import Any

from backprop import nn
from backprop.nn import functional as F  # noqa: N812 - torch's spelling
from backprop.tensor import Tensor

__all__ = ["Linear"]


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
        q = cls(mod.in_features, mod.out_features, mod.bias is not None, qconfig=mod.qconfig)
        q.weight = mod.weight
        q.bias = mod.bias
        return q

    def to_float(self) -> nn.Linear:
        lin = nn.Linear(self.in_features, self.out_features, self.bias is not None)
        lin.weight = nn.Parameter(self.weight.detach())
        if self.bias is not None:
            lin.bias = nn.Parameter(self.bias.detach())
        return lin
