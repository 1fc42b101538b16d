"""torch.nn.utils.memory_format: convert convolution weights to a memory format. Tensors here stay in C order
(README, "memory_format="), so both conversions change no layout: they check the module and return it."""

from __future__ import annotations

from typing import Any, TypeVar

from backprop.nn.module import Module

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]

_M = TypeVar("_M", bound=Module)


def _convert(module: Any, memory_format: Any, name: str) -> Any:
    if not isinstance(module, Module):
        raise TypeError(f"{name}: expected an nn.Module, got {type(module).__name__}")
    return module


def convert_conv2d_weight_memory_format(module: _M, memory_format: Any) -> _M:
    """``module`` itself (its Conv2d/ConvTranspose2d weights would take ``memory_format``: a layout no-op here)."""
    return _convert(module, memory_format, "convert_conv2d_weight_memory_format")


def convert_conv3d_weight_memory_format(module: _M, memory_format: Any) -> _M:
    """``module`` itself (its Conv3d/ConvTranspose3d weights would take ``memory_format``: a layout no-op here)."""
    return _convert(module, memory_format, "convert_conv3d_weight_memory_format")
