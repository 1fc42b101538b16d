"""Top-level functions, as in torch (``bp.exp(x)``, ``bp.sum(x, dim=1)``, ``bp.cat``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop.autograd.function import apply
from backprop.ops import elementwise as ew
from backprop.ops import shape as sh
from backprop.tensor import Tensor

# ---------------------------------------------------------------- math (elementwise, activations, products)
exp = Tensor.exp
log = Tensor.log
sqrt = Tensor.sqrt
abs = Tensor.abs
tanh = Tensor.tanh
sigmoid = Tensor.sigmoid
relu = Tensor.relu
clamp = clip = Tensor.clamp
softmax = Tensor.softmax
log_softmax = Tensor.log_softmax
matmul = Tensor.matmul
add = Tensor.__add__
sub = subtract = Tensor.__sub__
mul = multiply = Tensor.__mul__
div = divide = true_divide = Tensor.__truediv__
pow = Tensor.__pow__  # noqa: A001 - torch's name
neg = negative = Tensor.__neg__
lt, le, gt, ge, eq, ne = Tensor.__lt__, Tensor.__le__, Tensor.__gt__, Tensor.__ge__, Tensor.__eq__, Tensor.__ne__


def maximum(input: Tensor, other: Any) -> Tensor:
    """Elementwise maximum (ties share the gradient)."""
    return apply(ew.maximum, input, input._other(other))


def minimum(input: Tensor, other: Any) -> Tensor:
    """Elementwise minimum (ties share the gradient)."""
    return apply(ew.minimum, input, input._other(other))


def where(condition: Tensor, input: Any, other: Any) -> Tensor:
    """``input`` where ``condition`` else ``other`` (either may be a Python scalar)."""
    if not isinstance(condition, Tensor) or condition.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got {getattr(condition, 'dtype', type(condition))}")
    return apply(ew.where, condition, condition._other(input), condition._other(other))


__all__ = [
    "abs", "add", "clamp", "clip", "div", "divide", "eq", "exp", "ge", "gt", "le", "log", "log_softmax", "lt",
    "matmul", "maximum", "minimum", "mul", "multiply", "ne", "neg", "negative", "pow", "relu", "sigmoid",
    "softmax", "sqrt", "sub", "subtract", "tanh", "true_divide", "where",
]  # fmt: skip

# ---------------------------------------------------------------- reductions and scans
sum = Tensor.sum
mean = Tensor.mean
amax = Tensor.amax
amin = Tensor.amin
max = Tensor.max
min = Tensor.min
argmax = Tensor.argmax
argmin = Tensor.argmin
var = Tensor.var
std = Tensor.std
logsumexp = Tensor.logsumexp

__all__ += ["amax", "amin", "argmax", "argmin", "logsumexp", "max", "mean", "min", "std", "sum", "var"]

# ---------------------------------------------------------------- shape
reshape = Tensor.reshape
flatten = Tensor.flatten
transpose = Tensor.transpose
permute = Tensor.permute
unsqueeze = Tensor.unsqueeze
squeeze = Tensor.squeeze
split = Tensor.split
chunk = Tensor.chunk
unbind = Tensor.unbind


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return apply(sh.cat, *tensors, axis=dim)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return apply(sh.stack, *tensors, axis=dim)


__all__ += ["cat", "chunk", "concat", "flatten", "permute", "reshape", "split", "squeeze", "stack", "transpose"]
__all__ += ["unbind", "unsqueeze"]

# ---------------------------------------------------------------- indexing and scatter

# ---------------------------------------------------------------- copies
clone = Tensor.clone
detach = Tensor.detach

__all__ += ["clone", "detach"]
