"""``bp.utils.deterministic`` (torch.utils.deterministic): the ``fill_uninitialized_memory`` switch, a
property of the module as torch's. With it on (the default) and ``bp.use_deterministic_algorithms(True)``,
``bp.empty`` and friends fill floats with NaN and integers with their maximum, as torch does."""

from __future__ import annotations

import sys
import types

from backprop import runtime


class _Deterministic(types.ModuleType):
    """The module's class: ``fill_uninitialized_memory`` reads and writes the runtime flag."""

    @property
    def fill_uninitialized_memory(self) -> bool:
        """Whether uninitialized memory is filled with a known value under deterministic algorithms."""
        return bool(runtime._flags.get("fill_uninitialized_memory", True))

    @fill_uninitialized_memory.setter
    def fill_uninitialized_memory(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise RuntimeError(f"expected a bool, but got {type(mode).__name__}")
        runtime._flags["fill_uninitialized_memory"] = mode


sys.modules[__name__].__class__ = _Deterministic
