"""``torch.distributed.fsdp.wrap``: which submodules ``FullyShardedDataParallel(auto_wrap_policy=...)`` wraps.

A policy is ``policy(module, recurse, nonwrapped_numel) -> bool`` (extra arguments bound with
``functools.partial``): asked with ``recurse=True`` whether to descend into ``module``, with ``recurse=False``
whether to wrap it (``nonwrapped_numel``: its parameters not yet in a wrapped child). torch's algorithm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable
from typing import Any

from backprop.nn._multihead_attention import MultiheadAttention
from backprop.nn.containers import ModuleDict, ModuleList
from backprop.nn.module import Module

__all__ = [
    "ModuleWrapPolicy",
    "always_wrap_policy",
    "enable_wrap",
    "lambda_auto_wrap_policy",
    "size_based_auto_wrap_policy",
    "transformer_auto_wrap_policy",
    "wrap",
]


def always_wrap_policy(*args: Any, **kwargs: Any) -> bool:
    """Wrap every submodule (recursing everywhere)."""
    return True


def _module_wrap_policy(
    module: Module, recurse: bool, nonwrapped_numel: int, module_classes: set[type[Module]]
) -> bool:
    """Recurse always; wrap instances of ``module_classes``."""
    if recurse:
        return True
    return isinstance(module, tuple(module_classes))


class ModuleWrapPolicy:
    """Wrap every submodule that is an instance of one of ``module_classes`` (torch's class policy)."""

    def __init__(self, module_classes: Iterable[type[Module]]) -> None:
        module_classes_set = set(module_classes)
        self._module_classes = module_classes_set
        self._module_classes_str = str(module_classes_set)

    def __call__(self, module: Module, recurse: bool, *args: Any, **kwargs: Any) -> bool:
        return _module_wrap_policy(module, recurse, nonwrapped_numel=-1, module_classes=self._module_classes)

    def __repr__(self) -> str:
        return super().__repr__() + f"({self._module_classes_str})"


def lambda_auto_wrap_policy(module: Module, recurse: bool, nonwrapped_numel: int, lambda_fn: Callable) -> bool:
    """Recurse always; wrap where ``lambda_fn(module)`` is true."""
    if recurse:
        return True
    return bool(lambda_fn(module))


def transformer_auto_wrap_policy(
    module: Module, recurse: bool, nonwrapped_numel: int, transformer_layer_cls: set[type[Module]]
) -> bool:
    """Wrap each instance of ``transformer_layer_cls`` (one unit per block; the rest goes to the parent)."""
    return _module_wrap_policy(module, recurse, nonwrapped_numel, transformer_layer_cls)


def size_based_auto_wrap_policy(
    module: Module,
    recurse: bool,
    nonwrapped_numel: int,
    min_num_params: int = int(1e8),
    force_leaf_modules: set[type[Module]] | None = None,
    exclude_wrap_modules: set[type[Module]] | None = None,
) -> bool:
    """Wrap a module once at least ``min_num_params`` of its parameters are not in a wrapped child; never
    descend into ``force_leaf_modules`` nor wrap ``exclude_wrap_modules`` (torch's defaults below)."""
    force = size_based_auto_wrap_policy.FORCE_LEAF_MODULES if force_leaf_modules is None else force_leaf_modules  # type: ignore[attr-defined]
    exclude = (
        size_based_auto_wrap_policy.EXCLUDE_WRAP_MODULES if exclude_wrap_modules is None else exclude_wrap_modules  # type: ignore[attr-defined]
    )
    is_large = nonwrapped_numel >= min_num_params
    if recurse:
        return is_large and not isinstance(module, tuple(force))
    return is_large and not isinstance(module, tuple(exclude))


size_based_auto_wrap_policy.EXCLUDE_WRAP_MODULES = {ModuleList, ModuleDict}  # type: ignore[attr-defined]
size_based_auto_wrap_policy.FORCE_LEAF_MODULES = {MultiheadAttention}  # type: ignore[attr-defined]


class _ConfigAutoWrap:
    """The ``enable_wrap`` context: the wrapper class and its arguments (not nestable, as torch's)."""

    in_autowrap_context: bool = False
    wrapper_cls: Callable | None = None
    kwargs: dict[str, Any] = {}


@contextlib.contextmanager
def enable_wrap(*, wrapper_cls: Any, **wrapper_kwargs: Any) -> Generator[None, None, None]:
    """Inside, ``wrap(module)`` returns ``wrapper_cls(module, **wrapper_kwargs)``."""
    if _ConfigAutoWrap.in_autowrap_context:
        raise NotImplementedError(
            "You are already within an autowrap context and we currently do not supported nested autowrap."
        )
    _ConfigAutoWrap.in_autowrap_context = True
    _ConfigAutoWrap.wrapper_cls = wrapper_cls
    _ConfigAutoWrap.kwargs = wrapper_kwargs
    try:
        yield
    finally:
        _ConfigAutoWrap.in_autowrap_context = False
        _ConfigAutoWrap.wrapper_cls = None
        _ConfigAutoWrap.kwargs = {}


def wrap(module: Module, **wrap_overrides: Any) -> Module:
    """``module`` wrapped by ``enable_wrap``'s class (its arguments, overridden by ``wrap_overrides``); outside
    the context ``module`` itself."""
    if _ConfigAutoWrap.in_autowrap_context:
        assert _ConfigAutoWrap.wrapper_cls is not None
        return _ConfigAutoWrap.wrapper_cls(module, **{**_ConfigAutoWrap.kwargs, **wrap_overrides})
    return module


def _recursive_wrap(
    module: Module,
    auto_wrap_policy: Callable,
    wrapper_cls: Callable,
    ignored_modules: set[Module],
    ignored_params: set[int],
    only_wrap_children: bool = False,
    **kwargs: Any,
) -> tuple[Module, int]:
    """torch's ``_recursive_wrap``: (``module`` after wrapping, the number of its parameters wrapped)."""
    nonwrapped_numel = sum(p.numel() for p in module.parameters() if id(p) not in ignored_params)
    if auto_wrap_policy(module=module, recurse=True, nonwrapped_numel=nonwrapped_numel):
        total_wrapped_numel = 0
        cls = getattr(wrapper_cls, "func", wrapper_cls)  # (a functools.partial of the class)
        for name, child in list(module.named_children()):
            if child in ignored_modules or (isinstance(cls, type) and isinstance(child, cls)):
                continue  # (already wrapped: its parameters are its own unit's)
            wrapped_child, num_wrapped = _recursive_wrap(
                child, auto_wrap_policy, wrapper_cls, ignored_modules, ignored_params, **kwargs
            )
            setattr(module, name, wrapped_child)
            total_wrapped_numel += num_wrapped
        remainder = nonwrapped_numel - total_wrapped_numel
        if not only_wrap_children and auto_wrap_policy(module=module, recurse=False, nonwrapped_numel=remainder):
            return wrapper_cls(module, **kwargs), nonwrapped_numel
        return module, total_wrapped_numel
    return module, 0
