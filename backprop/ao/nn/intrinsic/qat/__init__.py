"""torch.ao.nn.intrinsic.qat: fused modules for quantization-aware training. ``ConvBn2d``/``ConvBnReLU2d`` fold the
BatchNorm into the fake-quantized weight while training (torch's approximate one-pass folding: the conv runs with
``weight * gamma / running_std`` fake-quantized, its output is divided back and given to the real BatchNorm,
which keeps updating its statistics until ``freeze_bn_stats``); ``ConvReLU2d``/``LinearReLU`` add the ReLU."""

from __future__ import annotations

from typing import Any

import backprop as bp
from backprop import nn
from backprop.ao.nn import intrinsic as nni
from backprop.ao.nn import qat as nnqat
from backprop.nn import functional as F  # noqa: N812 - torch's spelling
from backprop.nn.utils.fusion import fuse_conv_bn_weights
from backprop.tensor import Tensor

__all__ = ["ConvBn2d", "ConvBnReLU2d", "ConvReLU2d", "LinearReLU", "freeze_bn_stats", "update_bn_stats"]


class ConvBn2d(nn.Conv2d):
    """Conv2d + BatchNorm2d for QAT (torch's ``QATConvBn2d``): conv parameters on the module, the BatchNorm as
    ``bn``, the qconfig's weight fake quantizer as ``weight_fake_quant``."""

    _FLOAT_MODULE: Any = nni.ConvBn2d
    _fused = True  # (prepare observes its output, convert swaps it as one unit: torch's _FusedModule)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = False, padding_mode: str = "zeros",
                 eps: float = 1e-05, momentum: float = 0.1, freeze_bn: bool = False,
                 qconfig: Any = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, False, padding_mode)
        if not qconfig:
            raise AssertionError("qconfig must be provided for QAT module")
        self.qconfig = qconfig
        self.freeze_bn = freeze_bn if self.training else True
        self.bn = nn.BatchNorm2d(out_channels, eps, momentum, True, True)
        self.weight_fake_quant = qconfig.weight()
        if bias:
            self.bias = nn.Parameter(bp.empty(out_channels))
            bound = 1 / float(self.weight[0].numel()) ** 0.5
            nn.init.uniform_(self.bias, -bound, bound)
        self.bn.reset_running_stats()
        nn.init.uniform_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def reset_running_stats(self) -> None:
        self.bn.reset_running_stats()

    def update_bn_stats(self) -> ConvBn2d:
        """Let the BatchNorm update its running statistics in training mode."""
        self.freeze_bn = False
        self.bn.training = True
        return self

    def freeze_bn_stats(self) -> ConvBn2d:
        """Freeze the BatchNorm's running statistics (it then normalizes with them)."""
        self.freeze_bn = True
        self.bn.training = False
        return self

    def train(self, mode: bool = True) -> ConvBn2d:
        """Training mode for the module; the BatchNorm follows only while its statistics are not frozen."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        if not self.freeze_bn:
            for module in self.children():
                module.train(mode)
        return self

    def _forward(self, input: Tensor) -> Tensor:
        """torch's ``_forward_approximate``: conv with the BN-scaled fake-quantized weight, scaled back, then BN."""
        running_std = (self.bn.running_var + self.bn.eps).sqrt()
        scale_factor = self.bn.weight / running_std
        scaled_weight = self.weight_fake_quant(self.weight * scale_factor.reshape(-1, 1, 1, 1))
        zero_bias = bp.zeros(self.out_channels, dtype=input.dtype)
        conv = self._conv_forward(input, scaled_weight, zero_bias)
        conv_orig = conv / scale_factor.reshape(1, -1, 1, 1)
        if self.bias is not None:
            conv_orig = conv_orig + self.bias.reshape(1, -1, 1, 1)
        return self.bn(conv_orig)

    def forward(self, input: Tensor) -> Tensor:
        return self._forward(input)

    def extra_repr(self) -> str:
        return super().extra_repr()

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> ConvBn2d:
        """The QAT module of a fused ``nni.ConvBn2d``/``ConvBnReLU2d`` (parameters and buffers shared)."""
        if type(mod) is not cls._FLOAT_MODULE:
            raise AssertionError(f"qat.{cls.__name__}.from_float only works for {cls._FLOAT_MODULE.__name__}")
        if not hasattr(mod, "qconfig") or not mod.qconfig:
            raise AssertionError("Input float module must have a valid qconfig")
        conv, bn = mod[0], mod[1]
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, conv.padding_mode, bn.eps, bn.momentum, False,
                mod.qconfig)  # fmt: skip
        q.weight, q.bias = conv.weight, conv.bias
        q.bn.weight, q.bn.bias = bn.weight, bn.bias
        q.bn.running_mean, q.bn.running_var = bn.running_mean, bn.running_var
        q.bn.num_batches_tracked = bn.num_batches_tracked
        return q

    def to_float(self) -> nn.Module:
        """The float module with the BatchNorm folded into the conv (and the ReLU kept)."""
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                         self.dilation, self.groups, True, self.padding_mode)  # fmt: skip
        w, b = fuse_conv_bn_weights(self.weight.detach(), None if self.bias is None else self.bias.detach(),
                                    self.bn.running_mean, self.bn.running_var, self.bn.eps, self.bn.weight.detach(),
                                    self.bn.bias.detach())  # fmt: skip
        conv.weight, conv.bias = w, b
        return nni.ConvReLU2d(conv, nn.ReLU()) if isinstance(self, ConvBnReLU2d) else conv


class ConvBnReLU2d(ConvBn2d):
    """Conv2d + BatchNorm2d + ReLU for QAT (torch's ``QATConvBnReLU2d``)."""

    _FLOAT_MODULE = nni.ConvBnReLU2d

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(self._forward(input))


class ConvReLU2d(nnqat.Conv2d):
    """Conv2d + ReLU for QAT (the weight fake-quantized)."""

    _FLOAT_MODULE: Any = nni.ConvReLU2d
    _fused = True

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(self._conv_forward(input, self.weight_fake_quant(self.weight), self.bias))


class LinearReLU(nnqat.Linear):
    """Linear + ReLU for QAT (torch's ``QATLinearReLU``)."""

    _FLOAT_MODULE: Any = nni.LinearReLU
    _fused = True

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(F.linear(input, self.weight_fake_quant(self.weight), self.bias))


def update_bn_stats(mod: nn.Module) -> None:
    """``model.apply(update_bn_stats)``: let the QAT conv-BN modules update their BatchNorm statistics."""
    if isinstance(mod, ConvBn2d):
        mod.update_bn_stats()


def freeze_bn_stats(mod: nn.Module) -> None:
    """``model.apply(freeze_bn_stats)``: freeze the QAT conv-BN modules' BatchNorm statistics."""
    if isinstance(mod, ConvBn2d):
        mod.freeze_bn_stats()
