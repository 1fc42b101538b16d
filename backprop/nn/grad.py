"""torch.nn.grad: the gradients of a convolution w.r.t. its input and its weight, given the output's gradient.

Each runs the convolution on a zero input (or weight) of the given size and asks autograd for the
vector-Jacobian product with ``grad_output``: a convolution is linear in each argument, so that is the
exact gradient, computed by the same ``im2col``/``col2im`` rules as any backward. When ``weight``,
``input`` or ``grad_output`` requires grad (and grad mode is on) the result is itself differentiable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from backprop import creation
from backprop.autograd.functional import grad as _autograd_grad
from backprop.autograd.grad_mode import enable_grad, is_grad_enabled
from backprop.nn import functional as F
from backprop.ops._util import ShapeError
from backprop.tensor import Tensor

__all__ = ["conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight", "conv3d_input", "conv3d_weight"]


def _vjp(
    name: str,
    conv: Callable[..., Tensor],
    size: Sequence[int],
    fixed: Tensor,
    grad_output: Tensor,
    of_input: bool,
    args: tuple,
) -> Tensor:
    """d<grad_output, conv(x, w)>/d(the argument of ``size``), the other argument ``fixed``."""
    if not isinstance(grad_output, Tensor) or not isinstance(fixed, Tensor):
        raise TypeError(f"{name}: expected Tensors for the fixed argument and grad_output")
    differentiable = is_grad_enabled() and (fixed.requires_grad or grad_output.requires_grad)
    free = creation.zeros(*[int(s) for s in size], dtype=fixed.dtype, device=fixed.device, requires_grad=True)
    with enable_grad():
        out = conv(free, fixed, None, *args) if of_input else conv(fixed, free, None, *args)
        if tuple(out.shape) != tuple(grad_output.shape):
            what = "input_size" if of_input else "weight_size"
            raise ShapeError(
                f"{name}: grad_output has shape {list(grad_output.shape)}, but the convolution of {what}="
                f"{list(size)} gives outputs of shape {list(out.shape)}"
            )
        (g,) = _autograd_grad(out, free, grad_output, create_graph=differentiable)
    return g if differentiable else g.detach()


def conv1d_input(
    input_size: Sequence[int],
    weight: Tensor,
    grad_output: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Gradient of ``conv1d(input, weight)`` w.r.t. an input of ``input_size``, given ``grad_output``."""
    return _vjp("conv1d_input", F.conv1d, input_size, weight, grad_output, True, (stride, padding, dilation, groups))


def conv1d_weight(
    input: Tensor,
    weight_size: Sequence[int],
    grad_output: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Gradient of ``conv1d(input, weight)`` w.r.t. a weight of ``weight_size``, given ``grad_output``."""
    return _vjp("conv1d_weight", F.conv1d, weight_size, input, grad_output, False, (stride, padding, dilation, groups))


def conv2d_input(
    input_size: Sequence[int],
    weight: Tensor,
    grad_output: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Gradient of ``conv2d(input, weight)`` w.r.t. an input of ``input_size``, given ``grad_output``."""
    return _vjp("conv2d_input", F.conv2d, input_size, weight, grad_output, True, (stride, padding, dilation, groups))


def conv2d_weight(
    input: Tensor,
    weight_size: Sequence[int],
    grad_output: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Gradient of ``conv2d(input, weight)`` w.r.t. a weight of ``weight_size``, given ``grad_output``."""
    return _vjp("conv2d_weight", F.conv2d, weight_size, input, grad_output, False, (stride, padding, dilation, groups))


def conv3d_input(
    input_size: Sequence[int],
    weight: Tensor,
    grad_output: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Gradient of ``conv3d(input, weight)`` w.r.t. an input of ``input_size``, given ``grad_output``."""
    return _vjp("conv3d_input", F.conv3d, input_size, weight, grad_output, True, (stride, padding, dilation, groups))


def conv3d_weight(
    input: Tensor,
    weight_size: Sequence[int],
    grad_output: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Gradient of ``conv3d(input, weight)`` w.r.t. a weight of ``weight_size``, given ``grad_output``."""
    return _vjp("conv3d_weight", F.conv3d, weight_size, input, grad_output, False, (stride, padding, dilation, groups))
