"""``bp.jit``: torch.jit's decorators and entry points as pass-throughs, so code written for TorchScript
runs unchanged. There is no TorchScript here: ``script`` and ``trace`` return the function or module
itself (it runs as Python, with the same results); ``bp.compile`` is the way to replay a step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F")

__all__ = ["annotate", "export", "ignore", "is_scripting", "is_tracing", "script", "trace", "unused"]


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
