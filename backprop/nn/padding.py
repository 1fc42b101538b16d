"""Padding modules (torch.nn names): Zero/Constant/Reflection/Replication/CircularPad1d/2d/3d.

Each calls ``F.pad`` with its mode; ``padding`` is an int (the same on every side) or a tuple in
torch's order (left, right, top, bottom, front, back), kept as given like torch's ``_ntuple``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backprop.nn import functional as F
from backprop.nn.module import Module
from backprop.tensor import Tensor

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]  # fmt: skip


def _ntuple(padding: Any, n: int) -> tuple[int, ...]:
    """An int repeated ``n`` times, or the given sequence as a tuple (torch's ``_ntuple``)."""
    if isinstance(padding, Iterable):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    """Pads the last ``_k`` dims with ``F.pad(input, padding, _mode)``."""

    _k = 1
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._k)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``."""


class ConstantPad2d(_ConstantPadNd):
    """Pads the last 2 dims with ``value``."""

    _k = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last 3 dims with ``value``."""

    _k = 3


class ZeroPad1d(ConstantPad1d):
    """Pads the last dim with zeros."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last 2 dims with zeros."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pads the last 3 dims with zeros."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    """Pads the last dim with its reflection (edge not repeated)."""


class ReflectionPad2d(_ReflectionPadNd):
    """Pads the last 2 dims with their reflection (edge not repeated)."""

    _k = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Pads the last 3 dims with their reflection (edge not repeated)."""

    _k = 3


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """Pads the last dim with copies of its edge values."""


class ReplicationPad2d(_ReplicationPadNd):
    """Pads the last 2 dims with copies of their edge values."""

    _k = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Pads the last 3 dims with copies of their edge values."""

    _k = 3


class _CircularPadNd(_PadNd):
    """Pads by wrapping around (a (k+1)-d or (k+2)-d input, as torch checks)."""

    _mode = "circular"

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (self._k + 1, self._k + 2):
            raise ValueError(f"expected {self._k + 1}D or {self._k + 2}D input (got {input.ndim}D input)")
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    """Pads the last dim by wrapping around."""


class CircularPad2d(_CircularPadNd):
    """Pads the last 2 dims by wrapping around."""

    _k = 2


class CircularPad3d(_CircularPadNd):
    """Pads the last 3 dims by wrapping around."""

    _k = 3
