"""Elementwise math, activations and matrix products as Tensor methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop.autograd.function import apply, apply_
from backprop.ops import elementwise as ew
from backprop.ops import linalg, nn

if TYPE_CHECKING:
    from backprop.tensor import Tensor


class MathMethods:
    """``x.exp()``, ``x.clamp(...)``, ``x.matmul(y)``, in-place ``x.add_(y)``, ..."""

    __slots__ = ()

    def exp(self) -> Tensor:
        return apply(ew.exp, self)

    def log(self) -> Tensor:
        return apply(ew.log, self)

    def sqrt(self) -> Tensor:
        return apply(ew.sqrt, self)

    def abs(self) -> Tensor:
        return apply(ew.abs, self)

    def tanh(self) -> Tensor:
        return apply(ew.tanh, self)

    def sigmoid(self) -> Tensor:
        return apply(ew.sigmoid, self)

    def relu(self) -> Tensor:
        return apply(ew.relu, self)

    def clamp(self: Any, min: Any = None, max: Any = None) -> Tensor:
        """Limit to [min, max]; either bound may be None."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return apply(ew.clamp, self, min=min, max=max)

    clip = clamp

    def maximum(self: Any, other: Any) -> Tensor:
        return apply(ew.maximum, self, self._other(other))

    def minimum(self: Any, other: Any) -> Tensor:
        return apply(ew.minimum, self, self._other(other))

    def softmax(self, dim: int) -> Tensor:
        return apply(nn.softmax, self, axis=dim)

    def log_softmax(self, dim: int) -> Tensor:
        return apply(nn.log_softmax, self, axis=dim)

    def matmul(self: Any, other: Any) -> Tensor:
        return apply(linalg.matmul, self, self._other(other))

    # ------------------------------------------------------------ in place
    def add_(self: Any, other: Any, alpha: float = 1) -> Tensor:
        return apply_(ew.add, "add_", self, self._other(other if alpha == 1 else other * alpha))

    def sub_(self: Any, other: Any, alpha: float = 1) -> Tensor:
        return apply_(ew.sub, "sub_", self, self._other(other if alpha == 1 else other * alpha))

    def mul_(self: Any, other: Any) -> Tensor:
        return apply_(ew.mul, "mul_", self, self._other(other))

    def div_(self: Any, other: Any) -> Tensor:
        return apply_(ew.div, "div_", self, self._other(other))

    def clamp_(self: Any, min: Any = None, max: Any = None) -> Tensor:
        return apply_(ew.clamp, "clamp_", self, min=min, max=max)

    def __iadd__(self: Any, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self: Any, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self: Any, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self: Any, other: Any) -> Tensor:
        return self.div_(other)
