"""``bp.jit``: torch.jit's decorators and entry points as pass-throughs, so code written for TorchScript
runs unchanged. There is no TorchScript here: ``script`` and ``trace`` return the function or module
itself (it runs as Python, with the same results); ``bp.compile`` is the way to replay a step."""

from __future__ import annotations

import builtins
import contextlib
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar  # (torch.jit.Final is typing.Final: ``fused_attn: Final[bool]``)

F = TypeVar("F")

__all__ = [
    "Error",
    "Final",
    "Future",
    "RecursiveScriptModule",
    "ScriptFunction",
    "ScriptModule",
    "TopLevelTracedModule",
    "TracedModule",
    "annotate",
    "enable_onednn_fusion",
    "export",
    "fork",
    "freeze",
    "ignore",
    "interface",
    "is_scripting",
    "is_tracing",
    "isinstance",
    "onednn_fusion_enabled",
    "optimize_for_inference",
    "optimized_execution",
    "script",
    "script_if_tracing",
    "script_method",
    "set_fusion_strategy",
    "strict_fusion",
    "trace",
    "unused",
    "wait",
]


def script(obj: F, *args: Any, **kwargs: Any) -> F:
    """Returns ``obj`` unchanged (no TorchScript compilation)."""
    return obj


def trace(func: F, example_inputs: Any = None, *args: Any, **kwargs: Any) -> F:
    """Returns ``func`` unchanged; ``example_inputs`` are accepted and not run."""
    return func


def ignore(drop: Any = False, **kwargs: Any) -> Any:
    """``@torch.jit.ignore`` (with or without arguments): the function unchanged."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def export(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def annotate(the_type: Any, the_value: Any) -> Any:
    """``torch.jit.annotate(T, v)`` is ``v`` outside TorchScript."""
    return the_value


def is_scripting() -> bool:
    """False: nothing is ever compiled by TorchScript here."""
    return False


def is_tracing() -> bool:
    return False


class Error(Exception):
    """torch.jit.Error (TorchScript's runtime error); nothing here raises it, code may catch it."""


class ScriptModule:
    """torch.jit.ScriptModule & co.: ``script``/``trace`` return the module itself, so nothing is an instance
    of these (``isinstance(m, bp.jit.ScriptModule)`` is False, as for a torch module that was not scripted)."""


class RecursiveScriptModule(ScriptModule):
    """See ``ScriptModule``."""


class TracedModule(ScriptModule):
    """See ``ScriptModule``."""


class TopLevelTracedModule(TracedModule):
    """See ``ScriptModule``."""


class ScriptFunction:
    """See ``ScriptModule``: scripted functions are the functions themselves."""


class Future:
    """What ``fork`` returns: the call has already run (torch runs forked calls in order outside TorchScript)."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def wait(self) -> Any:
        """The call's result (its exception, raised again)."""
        if self._error is not None:
            raise self._error
        return self._value

    def value(self) -> Any:
        return self.wait()

    def done(self) -> bool:
        return True


def fork(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Run ``func(*args, **kwargs)`` now and return its completed ``Future`` (torch's eager behaviour)."""
    try:
        return Future(func(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - handed to wait(), as torch's future does
        return Future(error=e)


def wait(future: Future) -> Any:
    """``future.wait()``."""
    return future.wait()


def isinstance(obj: Any, target_type: Any) -> bool:
    """TorchScript's ``isinstance``: also checks the element types of ``List[int]``, ``Dict[str, T]``,
    ``Tuple[...]`` and ``Optional[T]`` (every element, as torch does outside TorchScript)."""
    origin = typing.get_origin(target_type)
    if origin is None:
        return builtins.isinstance(obj, target_type)
    args = typing.get_args(target_type)
    if origin is typing.Union or origin is types.UnionType:
        return any(isinstance(obj, a) for a in args)
    if origin is list:
        return builtins.isinstance(obj, list) and all(isinstance(x, args[0]) for x in obj)
    if origin is dict:
        return builtins.isinstance(obj, dict) and all(
            isinstance(k, args[0]) and isinstance(v, args[1]) for k, v in obj.items()
        )
    if origin is tuple:
        return builtins.isinstance(obj, tuple) and len(obj) == len(args) and all(map(isinstance, obj, args))
    return builtins.isinstance(obj, origin)


def freeze(mod: F, preserved_attrs: Any = None, optimize_numerics: bool = True) -> F:
    """The module itself (nothing to inline without TorchScript); torch's error for one in training mode."""
    if getattr(mod, "training", False):
        raise RuntimeError(
            "Freezing is currently only implemented for modules in eval mode. Please call .eval() on your module "
            "before freezing."
        )
    return mod


def optimize_for_inference(mod: F, other_methods: Any = None) -> F:
    """The module itself (see ``freeze``)."""
    return mod


_ONEDNN_FUSION = [False]
_FUSION_STRATEGY: list[Any] = [[("STATIC", 2), ("DYNAMIC", 10)]]


def enable_onednn_fusion(enabled: bool) -> None:
    """Recorded only (no oneDNN graph fusion here)."""
    _ONEDNN_FUSION[0] = bool(enabled)


def onednn_fusion_enabled() -> bool:
    return _ONEDNN_FUSION[0]


def set_fusion_strategy(strategy: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Recorded only; returns the previous strategy, as torch."""
    previous, _FUSION_STRATEGY[0] = _FUSION_STRATEGY[0], list(strategy)
    return previous


@contextlib.contextmanager
def strict_fusion() -> Iterator[None]:
    """No fusion groups here, so nothing to check."""
    yield


@contextlib.contextmanager
def optimized_execution(should_optimize: bool) -> Iterator[None]:
    """No graph executor here: the code inside runs as it is."""
    yield


def interface(obj: F) -> F:
    """``@torch.jit.interface``: the class unchanged."""
    return obj


def script_if_tracing(fn: F) -> F:
    return fn


def script_method(fn: F) -> F:
    return fn
