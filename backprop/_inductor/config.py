"""``torch._inductor.config``: a recorder. Any option (and one of the sections ``triton``, ``cpp``, ...) may be
set, since backprop has no Inductor for it to steer; the common ones read torch 2.13's defaults until set, and
an option neither set nor known is torch's AttributeError. ``patch`` sets options for a block, as torch's."""

from __future__ import annotations

import contextlib
import sys
import types
from typing import Any

# torch 2.13's defaults of the options scripts read or set most
_DEFAULTS: dict[str, Any] = {
    "coordinate_descent_tuning": False, "max_autotune": False, "max_autotune_gemm": False, "fx_graph_cache": True,
    "freezing": False, "epilogue_fusion": True, "force_fuse_int_mm_with_mul": False, "use_mixed_mm": True,
    "conv_1x1_as_mm": False, "shape_padding": True, "compile_threads": 2, "debug": False, "benchmark_kernel": False,
    "layout_optimization": True, "split_reductions": True, "allow_buffer_reuse": True, "cpp_wrapper": False,
    "triton.cudagraphs": False, "triton.unique_kernel_names": True, "triton.cudagraph_trees": True,
    "cpp.simdlen": None, "cpp.threads": -1, "aot_inductor.output_path": "", "trace.enabled": False,
}  # fmt: skip
_SECTIONS = ("triton", "cpp", "cuda", "rocm", "halide", "aot_inductor", "trace", "test_configs")


class _Section:
    """A set of options under one dotted prefix (``config.triton``)."""

    def __init__(self, prefix: str) -> None:
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        key = self._prefix + name
        if key in _values:
            return _values[key]
        if name in _SECTIONS and not self._prefix:
            return _Section(name + ".")
        raise AttributeError(f"torch._inductor.config.{key} does not exist")

    def __setattr__(self, name: str, value: Any) -> None:
        _values[self._prefix + name] = value


_values: dict[str, Any] = dict(_DEFAULTS)
_root = _Section("")


def patch(arg1: str | dict[str, Any] | None = None, arg2: Any = None, **changes: Any) -> Any:
    """``config.patch(name, value)`` / ``patch(name=value)`` / ``patch({...})``: the options set for a block
    (a context manager and decorator), then restored."""
    if isinstance(arg1, str):
        changes[arg1] = arg2
    elif arg1 is not None:
        changes.update(arg1)

    @contextlib.contextmanager
    def patched() -> Any:
        saved = dict(_values)
        _values.update(changes)
        try:
            yield
        finally:
            _values.clear()
            _values.update(saved)

    return patched()


class _Config(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_root, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__") or name == "patch":
            super().__setattr__(name, value)
        else:
            _values[name] = value


sys.modules[__name__].__class__ = _Config
