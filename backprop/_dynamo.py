"""``torch._dynamo``, the few names torch's tutorials and libraries use: ``torch._dynamo.reset()`` between
examples (those of ``torch.compiler``, backprop/compiler.py) and ``torch._dynamo.config``'s common switches
(recorded with torch's defaults; there is no graph capture here for them to steer: ``bp.compile``'s record
cache is its own ``cache_size`` argument)."""

from __future__ import annotations

import sys
import types
from typing import Any

from backprop.compiler import allow_in_graph, assume_constant_result, disable, is_compiling, reset

__all__ = ["allow_in_graph", "assume_constant_result", "config", "disable", "is_compiling", "reset"]

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


config = _Config(__name__ + ".config", "torch._dynamo.config's common switches, recorded")
for _name, _value in _DEFAULTS.items():
    setattr(config, _name, _value)
sys.modules[config.__name__] = config  # (``import backprop._dynamo.config`` works too)
