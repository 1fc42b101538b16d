"""``bp.compiler`` (torch.compiler): the names torch code calls around ``torch.compile``.

backprop has no Dynamo: code is never traced into a graph by Python bytecode analysis, so
``is_compiling()``/``is_dynamo_compiling()``/``is_exporting()`` are False, and the graph-break and guard
controls (``disable``, ``allow_in_graph``, ``assume_constant_result``, ``set_stance``, ...) return the
function they are given working, or do nothing. ``compile`` is ``bp.compile`` (backprop/nn/compiled.py:
step capture and replay), unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "allow_in_graph",
    "assume_constant_result",
    "compile",
    "cudagraph_mark_step_begin",
    "disable",
    "get_default_backend",
    "get_stance",
    "is_compiling",
    "is_dynamo_compiling",
    "is_exporting",
    "list_backends",
    "nested_compile_region",
    "reset",
    "set_default_backend",
    "set_enable_guard_collectives",
    "set_stance",
    "substitute_in_graph",
    "wrap_numpy",
]

F = TypeVar("F", bound=Callable[..., Any])

_stance = "default"
_default_backend: Any = "inductor"


def compile(*args: Any, **kwargs: Any) -> Any:  # noqa: A001 - torch's name
    """``bp.compile`` (torch.compiler.compile is torch.compile)."""
    from backprop.nn.compiled import compile as _compile

    return _compile(*args, **kwargs)


def is_compiling() -> bool:
    """False: no Dynamo/export tracing ever runs the code (torch's eager answer)."""
    return False


def is_dynamo_compiling() -> bool:
    """False: there is no Dynamo."""
    return False


def is_exporting() -> bool:
    """False: there is no ``torch.export``."""
    return False


def disable(fn: Any = None, recursive: bool = True, *, reason: str | None = None) -> Any:
    """Exclude ``fn`` from compilation: returns it working (as a decorator with or without arguments)."""
    if fn is None:
        return functools.partial(disable, recursive=recursive, reason=reason)
    if inspect.isfunction(fn) or inspect.ismethod(fn):

        @functools.wraps(fn)
        def _disabled(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return _disabled
    return fn


def reset() -> None:
    """Clear compilation caches: nothing is cached by a compiler here (``bp.compile`` caches per object)."""


def allow_in_graph(fn: F) -> F:
    """Returns ``fn``: there is no graph capture to let it into."""
    return fn


def assume_constant_result(fn: F) -> F:
    """Returns ``fn``: its result is computed each call, as eager torch does."""
    return fn


def substitute_in_graph(
    original_fn: Callable[..., Any], *, can_constant_fold_through: bool = False, skip_signature_check: bool = False
) -> Callable[[F], F]:
    """A decorator returning the substitute unchanged (no Dynamo graph to substitute in)."""

    def register(fn: F) -> F:
        return fn

    return register


def wrap_numpy(fn: F) -> F:
    """Returns ``fn``: backprop tensors are NumPy arrays underneath already."""
    return fn


def nested_compile_region(fn: Any = None, **kwargs: Any) -> Any:
    """Marks a region for reuse by the compiler: returns ``fn`` (also as a decorator factory)."""
    if fn is None:
        return lambda f: f
    return fn


def cudagraph_mark_step_begin() -> None:
    """Marks a new step for CUDA graphs: a no-op here."""


def list_backends(exclude_tags: tuple[str, ...] | None = ("debug", "experimental")) -> list[str]:
    """The backend names ``compile(backend=...)`` accepts (all run backprop's one replay mechanism)."""
    return ["inductor"]


def set_default_backend(backend: Any) -> None:
    """Record the default backend name (``bp.compile`` has one mechanism whatever the name)."""
    global _default_backend
    _default_backend = "inductor" if backend is None else backend


def get_default_backend() -> Any:
    """The default backend name ("inductor" unless set)."""
    return _default_backend


def set_enable_guard_collectives(enabled: bool) -> bool:
    """Accepted and ignored (no guards); returns the previous value, False."""
    return False


class set_stance:  # noqa: N801 - torch's name
    """Set the compiler's stance: a function call, a context manager, or a decorator (recorded only)."""

    def __init__(
        self, stance: str = "default", *, skip_guard_eval_unsafe: bool = False, force_backend: Any = None
    ) -> None:
        global _stance
        self.stance = stance
        self.prev = _stance
        _stance = stance

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        global _stance
        _stance = self.prev

    def __call__(self, fn: F) -> F:
        """Run ``fn`` under this stance (the decorator form)."""
        global _stance
        _stance = self.prev  # as a decorator, the stance applies only inside calls
        stance = self.stance

        @functools.wraps(fn)
        def _with_stance(*args: Any, **kwargs: Any) -> Any:
            with set_stance(stance):
                return fn(*args, **kwargs)

        return _with_stance  # type: ignore[return-value]


def get_stance() -> str:
    """The stance set by ``set_stance`` ("default" unless set)."""
    return _stance
