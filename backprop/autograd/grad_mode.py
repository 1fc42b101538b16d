"""Thread-local switches: whether ops record a graph, and anomaly detection."""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import numpy as np

from backprop import devices

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled = True
        self.anomaly = False
        self.check_nan = True  # anomaly mode's NaN/Inf checks (torch's check_nan; every switch sets it)
        self.tracer: Any = None  # bp.compile's Tracer while a step is being recorded on this thread
        self.inference = False  # inside inference_mode() (is_inference_mode_enabled)


state = _State()
# how many threads are inside detect_anomaly(): the per-op hot path reads this plain list first and
# touches the (slower) thread-local only while some thread has anomaly mode on
anomaly_users = [0]
# how many threads are recording a step for bp.compile (the hot path reads this before the thread-local)
trace_users = [0]
# how many (thread, device type) pairs have autocast on: ``apply`` looks at the cast policy only while
# this is non-zero (backprop.autograd.autocast_state)
autocast_users = [0]


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward (the default)."""
    return state.enabled


devices.GRAD_ENABLED[0] = is_grad_enabled  # (for torch.tensor([t, ...])'s warning, read below this layer)


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    _value = True

    def __enter__(self) -> None:
        self._prev = state.enabled
        state.enabled = self._value

    def __exit__(self, *exc: object) -> None:
        state.enabled = self._prev

    def _fresh(self) -> _GradMode:
        """A new manager with the same mode: each call of a decorated function enters its own."""
        return type(self)()

    def clone(self) -> _GradMode:
        """torch's ``clone()``: a new manager with the same mode (``set_grad_enabled``'s sets it, as torch's)."""
        return self._fresh()

    def __call__(self, orig_func: F) -> F:  # (torch's parameter name)
        fn = orig_func
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fn, self._fresh)  # type: ignore[return-value]

        if type(self).__enter__ is _GradMode.__enter__ and type(self).__exit__ is _GradMode.__exit__:
            value = self._value  # the plain modes (no_grad, enable_grad): no manager object per call

            @functools.wraps(fn)
            def plain(*args: Any, **kwargs: Any) -> Any:
                st = state
                prev = st.enabled
                st.enabled = value
                try:
                    return fn(*args, **kwargs)
                finally:
                    st.enabled = prev

            return plain  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _wrap_generator(fn: Callable[..., Generator], make_ctx: Callable[[], Any]) -> Callable[..., Generator]:
    """``fn``'s generator with every step (start, send, throw, close) run under a fresh ``make_ctx()``,
    so that the mode holds inside the generator's body and not in its caller's code between steps."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator:
        gen = fn(*args, **kwargs)
        try:
            with make_ctx():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_ctx():
                        gen.close()
                    raise
                except BaseException as exc:  # thrown into us: pass it on, inside the mode
                    with make_ctx():
                        response = gen.throw(exc)
                else:
                    with make_ctx():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper


class _NoParamGradMode(_GradMode):
    """A mode that also decorates without parentheses (``@no_grad`` as well as ``@no_grad()``), as torch."""

    def __new__(cls, orig_func: Callable | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamGradMode):  # noqa: N801 - torch's name
    """Context manager / decorator: run ops without recording a graph (this thread only)."""

    _value = False


class enable_grad(_NoParamGradMode):  # noqa: N801 - torch's name
    """Context manager / decorator: record the graph again inside a ``no_grad`` block."""

    _value = True


class set_grad_enabled(_GradMode):  # noqa: N801 - torch's name
    """Set grad mode to ``mode`` (this thread only): at once as a plain call (``set_grad_enabled(False)``),
    until the block ends as a context manager, inside the function as a decorator, as torch."""

    def __init__(self, mode: bool) -> None:
        self._value = bool(mode)
        self._prev = state.enabled
        state.enabled = self._value  # a plain call is a setter, as in torch

    def __enter__(self) -> None:
        pass  # the mode was set by __init__; __exit__ restores the one before it

    def _fresh(self) -> _GradMode:
        return set_grad_enabled(self._value)

    def __call__(self, orig_func: F) -> F:
        state.enabled = self._prev  # as a decorator, the mode applies only inside ``orig_func``
        return super().__call__(orig_func)


class inference_mode(_GradMode):  # noqa: N801 - torch's name
    """``inference_mode()`` (context manager / decorator, with or without parentheses): no graph is
    recorded, as under ``no_grad``; ``inference_mode(False)`` records again (grad mode on, inference mode off,
    as torch's ``InferenceMode(false)``, inside an ``inference_mode()`` or ``no_grad`` block too).

    A documented difference: torch marks tensors made inside as "inference tensors" that autograd
    refuses afterwards; here they are ordinary tensors without a graph (those of ``no_grad``)."""

    def __new__(cls, mode: Any = True) -> Any:
        if mode is None or isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)  # (@inference_mode without parentheses)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = state.enabled
        self._prev_inference = state.inference
        state.enabled = not self.mode
        state.inference = self.mode

    def __exit__(self, *exc: object) -> None:
        state.enabled = self._prev
        state.inference = self._prev_inference

    def _fresh(self) -> _GradMode:
        return inference_mode(self.mode)


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` (this thread)."""
    return state.inference


class detect_anomaly:  # noqa: N801 - torch's name
    """Context manager (or decorator): raise at the first op whose forward or backward yields NaN or
    Inf. With ``check_nan=False`` anomaly mode is on but nothing is checked, as torch's."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should only be enabled "
            "for debugging.",
            UserWarning,
            stacklevel=2,
        )

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            inner = detect_anomaly.__new__(detect_anomaly)  # (warned once, when the decorator was made)
            inner.check_nan = self.check_nan
            with inner:
                return fn(*args, **kwargs)

        return wrapper

    def __enter__(self) -> None:
        self._prev, self._prev_check = state.anomaly, state.check_nan
        state.anomaly, state.check_nan = True, bool(self.check_nan)
        anomaly_users[0] += 1

    def __exit__(self, *exc: object) -> None:
        state.anomaly, state.check_nan = self._prev, self._prev_check
        anomaly_users[0] -= 1


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly`` (on this thread) or after ``set_detect_anomaly(True)``."""
    return bool(state.anomaly)


class set_detect_anomaly:  # noqa: N801 - torch's name
    """Turn anomaly detection on or off now; used as a context manager, it restores the previous mode."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev, self._prev_check = bool(state.anomaly), state.check_nan
        _set_anomaly(bool(mode), check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _set_anomaly(self._prev, self._prev_check)


_multithreading = [True]  # torch's flag (process-wide): backward here always runs on the calling thread


def is_multithreading_enabled() -> bool:
    """torch's multithreaded-backward flag (True by default). Backward always runs on the calling thread here
    (torch's CPU backward does too), so the flag changes nothing but its own value."""
    return _multithreading[0]


class set_multithreading_enabled:  # noqa: N801 - torch's name
    """Set the multithreaded-backward flag: at once as a plain call, until the block ends as a context manager,
    inside the function as a decorator (torch's ``set_multithreading_enabled``; see ``is_multithreading_enabled``)."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev = _multithreading[0]
        _multithreading[0] = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _multithreading[0] = self._prev

    def clone(self) -> set_multithreading_enabled:
        return set_multithreading_enabled(self.mode)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        _multithreading[0] = self._prev  # as a decorator, the mode applies only inside ``fn``
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_multithreading_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


def is_view_replay_enabled() -> bool:
    """False: views are never replayed in backward (torch's default; its setter is private)."""
    return False


def _set_anomaly(on: bool, check_nan: bool = True) -> None:
    if on and not state.anomaly:
        anomaly_users[0] += 1
    elif not on and state.anomaly:
        anomaly_users[0] = max(0, anomaly_users[0] - 1)
    state.anomaly, state.check_nan = on, bool(check_nan)


def quiet_floats() -> Any:
    """NumPy's floating-point warnings off for a block (a backward pass, a replay): ops that make inf
    or NaN (``log(0)``, ``0 / 0``, overflow) do so silently, as torch's; anomaly mode finds them.
    CuPy never warns. One context per pass, not per op: entering it costs about a microsecond."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")
