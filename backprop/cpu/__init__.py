"""``bp.cpu`` (torch.cpu): torch.cuda's names for the CPU, so device-agnostic code runs unchanged.

As in torch these exist "only to facilitate device-agnostic code": one CPU device, always available and
initialised; streams and events are placeholders that order nothing (NumPy runs synchronously).
``bp.cpu.amp`` holds the deprecated ``autocast``/``GradScaler`` spellings of ``bp.amp``'s.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import MappingProxyType
from typing import Any

from backprop.cpu import amp as amp

__all__ = [
    "Event",
    "Stream",
    "StreamContext",
    "current_device",
    "current_stream",
    "device_count",
    "get_capabilities",
    "is_available",
    "is_initialized",
    "set_device",
    "stream",
    "synchronize",
]


def is_available() -> bool:
    """True: the CPU is always available."""
    return True


def is_initialized() -> bool:
    """True: the CPU needs no initialisation."""
    return True


def synchronize(device: Any = None) -> None:
    """Wait for all CPU work: a no-op (NumPy kernels finish before they return)."""


def device_count() -> int:
    """1: the CPU counts as one device (not cores)."""
    return 1


def set_device(device: Any) -> None:
    """Set the current device: a no-op on the CPU."""


def current_device() -> str:
    """'cpu', as torch."""
    return "cpu"


def get_capabilities() -> Mapping[str, Any]:
    """An immutable mapping of what is known about this CPU (architecture, core count)."""
    cores = os.cpu_count() or 1
    return MappingProxyType({"architecture": platform.machine(), "num_logical_cores": cores})


class Stream:
    """A placeholder stream: CPU work is never queued."""

    def __init__(self, priority: int = -1) -> None:
        self.priority = priority

    def wait_stream(self, stream: Stream) -> None:
        """Nothing to wait for."""

    def record_event(self) -> None:
        """Nothing to record (torch's CPU stream returns None too)."""

    def wait_event(self, event: Event) -> None:
        """Nothing to wait for."""


class Event:
    """A placeholder event: always complete."""

    def query(self) -> bool:
        """True: all work before it has finished."""
        return True

    def record(self, stream: Stream | None = None) -> None:
        """Nothing to record."""

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def wait(self, stream: Stream | None = None) -> None:
        """Nothing to wait for."""


_default_cpu_stream = Stream()
_current_stream = _default_cpu_stream


def current_stream(device: Any = None) -> Stream:
    """The stream selected by ``bp.cpu.stream`` (the default CPU stream otherwise)."""
    return _current_stream


class StreamContext(AbstractContextManager):
    """Context manager selecting a CPU stream inside the block (None: nothing changes)."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream
        self.prev_stream = _default_cpu_stream

    def __enter__(self) -> None:
        global _current_stream
        if self.stream is not None:
            self.prev_stream = _current_stream
            _current_stream = self.stream

    def __exit__(self, *exc: object) -> None:
        global _current_stream
        if self.stream is not None:
            _current_stream = self.prev_stream


def stream(stream: Stream | None) -> AbstractContextManager:
    """A ``StreamContext`` selecting ``stream``."""
    return StreamContext(stream)
