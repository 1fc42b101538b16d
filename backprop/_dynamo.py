"""``torch._dynamo``, the few names torch's tutorials and libraries use: ``torch._dynamo.reset()`` between
examples (those of ``torch.compiler``, backprop/compiler.py) and ``torch._dynamo.config``'s common switches
(recorded with torch's defaults; there is no graph capture here for them to steer: ``bp.compile``'s record
cache is its own ``cache_size`` argument)."""

from __future__ import annotations

import contextlib
import sys
import types
from typing import Any

from backprop.compiler import allow_in_graph, assume_constant_result, disable, is_compiling, reset

__all__ = [
    "allow_in_graph", "assume_constant_result", "config", "disable", "graph_break", "is_compiling", "mark_dynamic",
    "mark_static", "mark_static_address", "maybe_mark_dynamic", "reset",
]  # fmt: skip

# torch._dynamo.config's options that user code sets, with torch 2.13's defaults
_DEFAULTS: dict[str, Any] = {
    "suppress_errors": False, "verbose": False, "cache_size_limit": 8, "recompile_limit": 8,
    "accumulated_cache_size_limit": 256, "accumulated_recompile_limit": 256, "automatic_dynamic_shapes": True,
    "assume_static_by_default": True, "capture_scalar_outputs": False, "capture_dynamic_output_shape_ops": False,
    "optimize_ddp": True, "specialize_int": False, "specialize_float": False, "guard_nn_modules": True,
    "force_parameter_static_shapes": True, "dynamic_shapes": True, "error_on_recompile": False,
    "replay_record_enabled": False,
}  # fmt: skip


class _Config(types.ModuleType):
    """``torch._dynamo.config``: the known options read and set; an unknown one is torch's AttributeError."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"torch._dynamo.config.{name} does not exist")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _DEFAULTS and not name.startswith("__"):
            raise AttributeError(f"torch._dynamo.config.{name} does not exist")
        super().__setattr__(name, value)

    def patch(self, arg1: str | dict[str, Any] | None = None, arg2: Any = None, **changes: Any) -> _Patch:
        """``config.patch(name, value)`` / ``config.patch(name=value)`` / ``config.patch({...})``: a context
        manager and decorator that sets the options and restores them after."""
        if isinstance(arg1, str):
            changes[arg1] = arg2
        elif arg1 is not None:
            changes.update(arg1)
        return _Patch(self, changes)  # (an unknown name is refused on entry, as torch's)


class _Patch(contextlib.ContextDecorator):
    def __init__(self, config: types.ModuleType, changes: dict[str, Any]) -> None:
        self.config, self.changes = config, changes
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for name, value in self.changes.items():
            self.saved[name] = getattr(self.config, name)
            setattr(self.config, name, value)

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            setattr(self.config, name, value)
        self.saved = {}


config = _Config(__name__ + ".config", "torch._dynamo.config's common switches, recorded")
for _name, _value in _DEFAULTS.items():
    setattr(config, _name, _value)
sys.modules[config.__name__] = config  # (``import backprop._dynamo.config`` works too)


# The shape marks of torch.compile's dynamic-shape tracing: nothing traces here, so they change nothing


def mark_dynamic(
    t: Any,
    index: int | list[Any] | tuple[Any],
    *,
    hint_override: int | None = None,
    min: int | None = None,
    max: int | None = None,
    specialize_on: list[Any] | None = None,
) -> None:
    """Mark dim ``index`` of ``t`` as dynamic for torch.compile: a no-op here (no shape specialisation)."""


def maybe_mark_dynamic(t: Any, index: int | list[int]) -> None:
    """A no-op here, as :func:`mark_dynamic`."""


def mark_static(t: Any, index: int | list[int] | None = None) -> None:
    """Mark dims of ``t`` (or a module) as static for torch.compile: a no-op here."""


def mark_static_address(t: Any, guard: bool = True) -> None:
    """Mark ``t``'s memory as fixed for CUDA graphs: a no-op here."""


def graph_break(msg: str = "") -> None:
    """End torch.compile's graph here: a no-op (eager code runs as written)."""
