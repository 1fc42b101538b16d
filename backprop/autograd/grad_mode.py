"""Thread-local switches: whether ops record a graph, and anomaly detection."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled = True
        self.anomaly = False


state = _State()
# how many threads are inside detect_anomaly(): the per-op hot path reads this plain list first and
# touches the (slower) thread-local only while some thread has anomaly mode on
anomaly_users = [0]


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward (the default)."""
    return state.enabled


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    _value = True

    def __enter__(self) -> None:
        self._prev = state.enabled
        state.enabled = self._value

    def __exit__(self, *exc: object) -> None:
        state.enabled = self._prev

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):  # noqa: N801 - torch's name
    """Context manager / decorator: run ops without recording a graph (this thread only)."""

    _value = False


class enable_grad(_GradMode):  # noqa: N801 - torch's name
    """Context manager / decorator: record the graph again inside a ``no_grad`` block."""

    _value = True


class set_grad_enabled(_GradMode):  # noqa: N801 - torch's name
    """Context manager: set grad mode to ``mode`` (this thread only)."""

    def __init__(self, mode: bool) -> None:
        self._value = bool(mode)

    def __call__(self, fn: F) -> F:
        mode = self._value

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class detect_anomaly:  # noqa: N801 - torch's name
    """Context manager: raise at the first op whose forward or backward yields NaN or Inf."""

    def __enter__(self) -> None:
        self._prev = state.anomaly
        state.anomaly = True
        anomaly_users[0] += 1

    def __exit__(self, *exc: object) -> None:
        state.anomaly = self._prev
        anomaly_users[0] -= 1
