"""``bp.overrides`` (torch.overrides): the ``__torch_function__`` protocol's helpers for user code.

backprop's own functions do not dispatch through ``__torch_function__``: plain tensors never have one,
so ``has_torch_function`` is False for them, ``get_overridable_functions()`` is empty and
``get_ignored_functions()`` holds backprop's public functions. A user function can still honour the
protocol for its own tensor-like types with ``has_torch_function`` + ``handle_torch_function``, as torch's
documentation shows.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "get_ignored_functions",
    "get_overridable_functions",
    "handle_torch_function",
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
    "is_tensor_like",
]


def _overrides(obj: Any) -> bool:
    """True when ``obj``'s type defines ``__torch_function__`` (backprop's Tensor does not)."""
    return getattr(type(obj), "__torch_function__", None) is not None


def has_torch_function(relevant_args: Iterable[Any]) -> bool:
    """True when some argument's type implements ``__torch_function__`` (False for plain tensors)."""
    return any(_overrides(a) for a in relevant_args)


def has_torch_function_unary(obj: Any) -> bool:
    """``has_torch_function((obj,))``."""
    return _overrides(obj)


def has_torch_function_variadic(*args: Any) -> bool:
    """``has_torch_function(args)``."""
    return any(_overrides(a) for a in args)


def is_tensor_like(inp: Any) -> bool:
    """True for a backprop Tensor, or an object (or class) implementing ``__torch_function__``."""
    from backprop.tensor import Tensor

    return isinstance(inp, Tensor) or getattr(inp, "__torch_function__", None) is not None


def handle_torch_function(
    public_api: Callable[..., Any], relevant_args: Iterable[Any], *args: Any, **kwargs: Any
) -> Any:
    """Call the ``__torch_function__`` of the overriding types among ``relevant_args`` (subclasses before
    their bases, else left to right) until one returns something other than NotImplemented."""
    overloaded: list[Any] = []
    types: list[type] = []
    for arg in relevant_args:
        kind = type(arg)
        if not _overrides(arg) or kind in types:
            continue
        position = next((i for i, t in enumerate(types) if issubclass(kind, t)), len(types))
        types.insert(position, kind)
        overloaded.insert(position, arg)
    for arg in overloaded:
        result = type(arg).__torch_function__(public_api, tuple(types), args, kwargs)
        if result is not NotImplemented:
            return result
    name = f"{getattr(public_api, '__module__', '?')}.{getattr(public_api, '__name__', public_api)}"
    raise TypeError(f"no implementation found for '{name}' on types that implement __torch_function__: {types}")


def get_ignored_functions() -> set[Callable[..., Any]]:
    """backprop's public top-level functions: none of them dispatches through ``__torch_function__``."""
    import backprop

    return {f for n in backprop.__all__ if callable(f := getattr(backprop, n, None)) and not isinstance(f, type)}


def get_overridable_functions() -> dict[Any, list[Callable[..., Any]]]:
    """Namespace -> functions that honour ``__torch_function__``: empty, as backprop dispatches none."""
    return collections.defaultdict(list)
