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
    ``bp.no_grad()``; with gradients a forward alone runs eagerly, see ``bp.compile``, and quietly: the usual
    ``model = torch.compile(model)`` training loop then runs as eager code does, where torch's gains speed)."""

    def __init__(self, mod: Module, cache_size: int = CACHE_SIZE) -> None:
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled", CompiledFunction(mod, cache_size, model_forward=True))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["_compiled"](*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._orig_mod, name)

    def __repr__(self) -> str:
        return f"OptimizedModule(\n  (_orig_mod): {repr(self._orig_mod).replace(chr(10), chr(10) + '  ')}\n)"


# torch 2.13's inductor modes and registered backend names (``torch._dynamo.list_backends(exclude_tags=())``
# without its testing-only entries): all run backprop's one replay mechanism
_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
_BACKENDS = frozenset(
    ("inductor", "eager", "aot_eager", "aot_eager_decomp_partition", "aot_eager_default_partitioner", "aot_ts")
    + ("cudagraphs", "eager_debug", "eager_noexcept", "invoke_subgraph", "openxla", "openxla_eval", "onnxrt")
    + ("pre_dispatch_eager", "ts", "tvm", "aot_eager_decomp_partition_crossref", "aot_eager_decomp_partition_with_mode")
)


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
    ``mode`` and ``options`` are accepted for torch's code and change nothing (one replay mechanism), but are checked
    as torch checks them (a mode or backend name torch does not know, mode and options together);
    ``disable=True`` returns the model itself."""
    if model is None:
        kw = {"backend": backend, "mode": mode, "options": options, "disable": disable, "cache_size": cache_size}
        return lambda m: compile(m, **kw)
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if backend == "inductor" and mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if isinstance(backend, str) and backend not in _BACKENDS:
        raise RuntimeError(f"Invalid backend: {backend!r}, see `torch._dynamo.list_backends()` for available backends.")
    if disable:
        return model
    if not callable(model):
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    if isinstance(model, Module):
        return OptimizedModule(model, cache_size)
    return compile_function(model, cache_size=cache_size)
