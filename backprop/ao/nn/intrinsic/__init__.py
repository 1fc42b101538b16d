"""torch.ao.nn.intrinsic: fused float modules (``fuse_modules``' results) and their quantized forms."""

from __future__ import annotations

from typing import Any

from backprop import nn

__all__ = ["ConvBn2d", "ConvBnReLU2d", "ConvReLU2d", "LinearReLU", "_FusedModule"]


class _FusedModule(nn.Sequential):
    """A sequence of modules ``convert`` swaps as one unit."""


def _check(mods: tuple[Any, ...], types: tuple[type, ...], name: str) -> None:
    if len(mods) != len(types) or not all(isinstance(m, t) for m, t in zip(mods, types)):
        got = ", ".join(type(m).__name__ for m in mods)
        raise AssertionError(f"Incorrect types for input modules{name}{got}")


class ConvReLU2d(_FusedModule):
    """Conv2d followed by ReLU (float; quantized by ``convert`` to ``intrinsic.quantized.ConvReLU2d``)."""

    def __init__(self, conv: Any, relu: Any) -> None:
        _check((conv, relu), (nn.Conv2d, nn.ReLU), ": ")
        super().__init__(conv, relu)


class LinearReLU(_FusedModule):
    """Linear followed by ReLU (float; quantized by ``convert`` to ``intrinsic.quantized.LinearReLU``)."""

    def __init__(self, linear: Any, relu: Any) -> None:
        _check((linear, relu), (nn.Linear, nn.ReLU), ": ")
        super().__init__(linear, relu)


class ConvBn2d(_FusedModule):
    """Conv2d followed by BatchNorm2d (training-mode fusion, for QAT)."""

    def __init__(self, conv: Any, bn: Any) -> None:
        _check((conv, bn), (nn.Conv2d, nn.BatchNorm2d), ": ")
        super().__init__(conv, bn)


class ConvBnReLU2d(_FusedModule):
    """Conv2d, BatchNorm2d and ReLU (training-mode fusion, for QAT)."""

    def __init__(self, conv: Any, bn: Any, relu: Any) -> None:
        _check((conv, bn, relu), (nn.Conv2d, nn.BatchNorm2d, nn.ReLU), ": ")
        super().__init__(conv, bn, relu)
