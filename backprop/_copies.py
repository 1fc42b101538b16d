"""torch's ``*_copy`` functions (``view_copy``, ``permute_copy``, ``diagonal_copy``, ...) and its top-level
in-place functions (``bp.exp_(x)``, ``bp.zero_(x)``, ...).

A ``*_copy`` is its view op followed by a clone: new contiguous memory, the same values and the same
gradient (the view's backward, then the clone's identity). The in-place functions are the Tensor methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from backprop import fft as _fft
from backprop.autograd.function import not_a_tensor_here
from backprop.autograd.node_names import name_node
from backprop.tensor import Tensor


def _copied(view: str) -> Callable[..., Any]:
    """``<view>_copy(input, ...)``: ``input.<view>(...)`` in new memory (a tuple of copies for splits)."""

    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            raise TypeError(f"{view}_copy(): argument 'input' must be Tensor, not {type(input).__name__}")
        out = getattr(input, view)(*args, **kwargs)
        name = _node_name(view, args, kwargs)
        if isinstance(out, (tuple, list)):
            return tuple(name_node(t.clone(), name) for t in out)
        return name_node(out.clone(), name)

    fn.__name__ = fn.__qualname__ = f"{view}_copy"
    fn.__doc__ = f"``input.{view}(...)`` as a new tensor with its own memory (torch.{view}_copy); differentiable."
    return fn


def _node_name(view: str, args: tuple, kwargs: dict) -> str:
    """torch's ``grad_fn`` name of ``<view>_copy``: its view's node with ``_copy`` (``DiagonalBackward0_copy``;
    squeeze's overloads: 0 all dims, 1 one dim, 2 a tuple of dims)."""
    base = "".join(map(str.capitalize, view.split("_"))) + "Backward0"
    if view == "squeeze" and (args or kwargs):
        dim = args[0] if args else kwargs.get("dim")
        base = "SqueezeBackward2" if isinstance(dim, (tuple, list)) else "SqueezeBackward1"
    return base + "_copy"


def alias_copy(input: Tensor) -> Tensor:
    """A differentiable copy of ``input`` in new memory (torch.alias_copy)."""
    try:
        return name_node(input.clone(), "AliasBackward0_copy")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def detach_copy(input: Tensor) -> Tensor:
    """A copy of ``input`` in new memory, outside the graph (torch.detach_copy)."""
    try:
        return input.detach().clone()
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


as_strided_copy = _copied("as_strided")
diagonal_copy = _copied("diagonal")
expand_copy = _copied("expand")
permute_copy = _copied("permute")
select_copy = _copied("select")
split_copy = _copied("split")
split_with_sizes_copy = _copied("split_with_sizes")
squeeze_copy = _copied("squeeze")
t_copy = _copied("t")
transpose_copy = _copied("transpose")
unbind_copy = _copied("unbind")
unfold_copy = _copied("unfold")
unsqueeze_copy = _copied("unsqueeze")
view_copy = _copied("view")


def slice_copy(input: Tensor, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1) -> Tensor:
    """``input[..., start:end:step, ...]`` along ``dim``, in new memory (torch.slice_copy); differentiable."""
    if step <= 0:
        raise RuntimeError(f"slice_copy: slice step must be positive, got {step}")
    dim = dim + input.dim() if dim < 0 else dim
    index: Sequence[Any] = (slice(None),) * dim + (slice(start, end, step),)
    return name_node(input[tuple(index)].clone(), "SliceBackward0_copy")


# ---------------------------------------------------------------- top-level in-place functions (the methods)
abs_, acos_, acosh_, arccos_, arccosh_, arcsin_ = (
    Tensor.abs_,
    Tensor.acos_,
    Tensor.acosh_,
    Tensor.arccos_,
    Tensor.arccosh_,
    Tensor.arcsin_,
)
arcsinh_, arctan_, arctanh_, asin_, asinh_, atan_ = (
    Tensor.arcsinh_,
    Tensor.arctan_,
    Tensor.arctanh_,
    Tensor.asin_,
    Tensor.asinh_,
    Tensor.atan_,
)
atanh_, ceil_, clamp_max_, clamp_min_, cos_, cosh_ = (
    Tensor.atanh_,
    Tensor.ceil_,
    Tensor.clamp_max_,
    Tensor.clamp_min_,
    Tensor.cos_,
    Tensor.cosh_,
)
detach_, exp2_, exp_, expm1_, fill_, floor_ = (
    Tensor.detach_,
    Tensor.exp2_,
    Tensor.exp_,
    Tensor.expm1_,
    Tensor.fill_,
    Tensor.floor_,
)
frac_, log10_, log1p_, log2_, log_, neg_ = (
    Tensor.frac_,
    Tensor.log10_,
    Tensor.log1p_,
    Tensor.log2_,
    Tensor.log_,
    Tensor.neg_,
)
negative_, reciprocal_, round_, rsqrt_, sin_, sinh_ = (
    Tensor.negative_,
    Tensor.reciprocal_,
    Tensor.round_,
    Tensor.rsqrt_,
    Tensor.sin_,
    Tensor.sinh_,
)
sqrt_, tan_, tanh_, trunc_, zero_, conj_physical_ = (
    Tensor.sqrt_,
    Tensor.tan_,
    Tensor.tanh_,
    Tensor.trunc_,
    Tensor.zero_,
    Tensor.conj_physical_,
)


def view_as_real_copy(input: Tensor) -> Tensor:
    """``view_as_real(input)`` in new memory (torch.view_as_real_copy); differentiable."""
    return _fft.view_as_real(input).clone()


def view_as_complex_copy(input: Tensor) -> Tensor:
    """``view_as_complex(input)`` in new memory (torch.view_as_complex_copy); differentiable."""
    return _fft.view_as_complex(input).clone()


def fill(input: Tensor, value: Any) -> Tensor:
    """A new tensor of ``input``'s shape and dtype holding ``value`` (a number or 0-d tensor, which gets the
    gradient: the sum of the output's; ``input`` gets zeros), as torch.fill. The result is recorded when
    either requires grad (torch's FillBackward), through ``fill_`` on a copy of ``input``."""
    try:
        if isinstance(value, Tensor) and value.ndim != 0:
            raise RuntimeError(
                f"fill only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions."
            )
        out = (input.clone() if input.requires_grad else input.detach().clone()).fill_(value)
        return name_node(out, "FillBackward1" if isinstance(value, Tensor) else "FillBackward0")  # (torch's overloads)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


__all__ = [
    "alias_copy",
    "as_strided_copy",
    "detach_copy",
    "diagonal_copy",
    "expand_copy",
    "fill",
    "permute_copy",
    "select_copy",
    "slice_copy",
    "split_copy",
    "split_with_sizes_copy",
    "squeeze_copy",
    "t_copy",
    "transpose_copy",
    "unbind_copy",
    "unfold_copy",
    "unsqueeze_copy",
    "view_copy",
    "view_as_complex_copy",
    "view_as_real_copy",
    "abs_",
    "acos_",
    "acosh_",
    "arccos_",
    "arccosh_",
    "arcsin_",
    "arcsinh_",
    "arctan_",
    "arctanh_",
    "asin_",
    "asinh_",
    "atan_",
    "atanh_",
    "ceil_",
    "clamp_max_",
    "clamp_min_",
    "cos_",
    "cosh_",
    "detach_",
    "exp2_",
    "exp_",
    "expm1_",
    "fill_",
    "floor_",
    "frac_",
    "log10_",
    "log1p_",
    "log2_",
    "log_",
    "neg_",
    "negative_",
    "reciprocal_",
    "round_",
    "rsqrt_",
    "sin_",
    "sinh_",
    "sqrt_",
    "tan_",
    "tanh_",
    "trunc_",
    "zero_",
    "conj_physical_",
]

from backprop.functions import name_first_input  # noqa: E402

name_first_input(globals(), __all__)  # torch.conj(input=x): the method aliases above, by torch's names
