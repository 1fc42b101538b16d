"""``bp.backends.quantized``: backprop has no quantized kernels, so the only engine is "none"
(``supported_engines == ["none"]``); setting ``engine`` to another of torch's engines raises
RuntimeError, an unknown name raises torch's RuntimeError for it."""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["engine", "supported_engines"]

_TORCH_ENGINES = ("none", "fbgemm", "qnnpack", "onednn", "x86")

engine: str = "none"
supported_engines: list[str] = ["none"]


def _check_engine(value: Any) -> str:
    if value in ("", None):
        value = "none"
    if value not in _TORCH_ENGINES:
        raise RuntimeError(f"{value} is not a valid value for quantized engine")
    if value != "none":
        raise RuntimeError(f"quantized engine {value} is not supported: backprop has no quantized kernels")
    return "none"


class _QuantizedModule(types.ModuleType):
    """``engine`` is checked on assignment; ``supported_engines`` is read-only, as torch's."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "engine":
            value = _check_engine(value)
        elif name == "supported_engines":
            raise RuntimeError("Assignment not supported")
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _QuantizedModule
