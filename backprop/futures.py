"""``backprop.futures``: torch.futures' ``Future``, ``collect_all`` and ``wait_all``.

A ``Future`` holds a value (or an exception) that arrives later: set once with ``set_result`` or
``set_exception``, read with ``wait()`` (blocks until set, from another thread) or ``value()``.
Callbacks added with ``then`` or ``add_done_callback`` run when it completes, inline if it already
has. Our collectives finish before they return, so ``Work.get_future()`` gives a completed one.
As torch's: an error in a ``then`` callback completes the child future with a ``RuntimeError`` that
names it; an error in an ``add_done_callback`` callback is printed and swallowed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Future", "collect_all", "wait_all"]

T = TypeVar("T")
S = TypeVar("S")


class Future(Generic[T]):
    """A value that arrives later (torch.futures.Future): ``wait``, ``value``, ``then``, ``set_result``."""

    def __init__(self, *, devices: list[Any] | None = None) -> None:
        self._cond = threading.Condition()
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Future[T]], None]] = []
        self.devices = list(devices or [])

    def __repr__(self) -> str:
        state = "error" if self._error is not None else "done" if self._done else "pending"
        return f"<backprop.futures.Future ({state}) at {id(self):#x}>"

    def done(self) -> bool:
        """True once the future holds a result or an exception."""
        return self._done

    def wait(self) -> T:
        """Block until the value is set and return it (raise the exception it was completed with)."""
        with self._cond:
            while not self._done:
                self._cond.wait()
        return self.value()

    def value(self) -> T:
        """The value of a completed future (raise its exception); an error if it is not completed yet."""
        if not self._done:
            raise RuntimeError("Future.value(): the future is not completed yet (call wait() first)")
        if self._error is not None:
            raise self._error
        return self._value

    def then(self, callback: Callable[[Future[T]], S]) -> Future[S]:
        """A new future holding ``callback(self)``, run when this one completes (inline if it has)."""
        if not callable(callback):
            raise TypeError(f"then(): the callback must be callable, got {type(callback).__name__}")
        child: Future[S] = Future(devices=self.devices)

        def run(fut: Future[T]) -> None:
            try:
                result = callback(fut)
            except Exception as exc:  # noqa: BLE001 - handed to the child, as torch does
                err = RuntimeError(f"Got the following error when running the callback: {type(exc).__name__}: {exc}")
                err.__cause__ = exc
                child.set_exception(err)
            else:
                child.set_result(result)

        self._add(run)
        return child

    def add_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        """Run ``callback(self)`` when this future completes (inline if it has); its errors are only printed."""
        if not callable(callback):
            raise TypeError(f"add_done_callback(): the callback must be callable, got {type(callback).__name__}")

        def run(fut: Future[T]) -> None:
            try:
                callback(fut)
            except Exception as exc:  # noqa: BLE001 - torch logs and swallows these
                print(
                    f"Got the following error when running the callback: {type(exc).__name__}: {exc}", file=sys.stderr
                )

        self._add(run)

    def _add(self, run: Callable[[Future[T]], None]) -> None:
        with self._cond:
            if not self._done:
                self._callbacks.append(run)
                return
        run(self)

    def set_result(self, result: T) -> None:
        """Complete the future with ``result`` and run its callbacks (a future completes only once)."""
        self._complete(result, None)

    def set_exception(self, result: BaseException) -> None:
        """Complete the future with an exception, which ``wait()`` and ``value()`` then raise."""
        if not isinstance(result, Exception):
            raise AssertionError(f"{result} is of type {type(result)}, not an Exception.")
        self._complete(None, result)

    def _complete(self, value: Any, error: BaseException | None) -> None:
        with self._cond:
            if self._done:
                raise RuntimeError(
                    "Attempting to mark a completed Future as complete again. "
                    "Note that a Future can only be marked completed once."
                )
            self._value, self._error, self._done = value, error, True
            callbacks, self._callbacks = self._callbacks, []
            self._cond.notify_all()
        for run in callbacks:
            run(self)


def collect_all(futures: list[Future[Any]]) -> Future[list[Future[Any]]]:
    """A future completed when all of ``futures`` are, holding the list of them (the first error, if any)."""
    futures = list(futures)
    combined: Future[list[Future[Any]]] = Future()
    if not futures:
        combined.set_result([])
        return combined
    lock = threading.Lock()
    left = [len(futures)]

    def one_done(_: Future[Any]) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            first_error = next((f._error for f in futures if f._error is not None), None)
            if first_error is not None:
                combined.set_exception(first_error)
            else:
                combined.set_result(futures)

    for f in futures:
        f._add(one_done)
    return combined


def wait_all(futures: list[Future[Any]]) -> list[Any]:
    """Wait for every future and return their values (raise the first error)."""
    return [f.wait() for f in collect_all(futures).wait()]
