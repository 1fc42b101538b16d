"""``bp.compile`` on modules, as torch's ``torch.compile(model)``: an ``OptimizedModule`` that holds the
model as ``_orig_mod`` (so its state_dict keys carry that prefix, as torch's) and runs its forward
through ``bp.compile``; attributes it does not have come from the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backprop.compile import CACHE_SIZE, CompiledFunction
from backprop.compile import compile as compile_function
from backprop.nn.module import Module

__all__ = ["OptimizedModule", "compile"]


class OptimizedModule(Module):
    """A compiled model: ``forward`` replays the model's forward from a record where it can (under
    ``bp.no_grad()``; with gradients a forward alone runs eagerly, see ``bp.compile``)."""

    def __init__(self, mod: Module, cache_size: int = CACHE_SIZE) -> None:
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled", CompiledFunction(mod, cache_size))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["_compiled"](*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._orig_mod, name)

    def __repr__(self) -> str:
        return f"OptimizedModule(\n  (_orig_mod): {repr(self._orig_mod).replace(chr(10), chr(10) + '  ')}\n)"


def compile(
    model: Callable[..., Any] | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: Any = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    disable: bool = False,
    cache_size: int = CACHE_SIZE,
) -> Any:
    """torch.compile's signature: a training step (or any function of tensors) becomes a
    ``CompiledFunction``, a ``Module`` an ``OptimizedModule``. ``fullgraph``, ``dynamic``, ``backend``,
    ``mode`` and ``options`` are accepted for torch's code and change nothing (one replay mechanism);
    ``disable=True`` returns the model itself."""
    if model is None:
        return lambda m: compile(m, disable=disable, cache_size=cache_size)
    if disable:
        return model
    if isinstance(model, Module):
        return OptimizedModule(model, cache_size)
    return compile_function(model, cache_size=cache_size)
