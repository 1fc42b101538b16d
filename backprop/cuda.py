"""``bp.cuda``: is a GPU usable, how many, synchronise, seed, and memory statistics (torch.cuda's names).

``bp.cuda.amp`` (torch.cuda.amp's deprecated ``autocast``/``GradScaler``) is ``backprop/amp/cuda_amp.py``,
bound onto this module by ``backprop/__init__.py``: this module sits below autocast in the layering.
"""

from __future__ import annotations

from typing import Any

from backprop.backends import get_backend
from backprop.backends.cupy_backend import CupyBackend, OutOfMemoryError

__all__ = [
    "Event",
    "OutOfMemoryError",
    "Stream",
    "StreamContext",
    "current_stream",
    "default_stream",
    "stream",
    "current_device",
    "device",
    "device_count",
    "empty_cache",
    "get_device_capability",
    "get_device_name",
    "is_available",
    "is_initialized",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "set_device",
    "synchronize",
    "unavailable_reason",
]


def is_available() -> bool:
    """True when CuPy imports and the CUDA runtime reports at least one device."""
    return get_backend("cuda").is_available()


def unavailable_reason() -> str:
    """Why CUDA is not usable here (empty when it is)."""
    return get_backend("cuda").unavailable_reason()


def device_count() -> int:
    """Number of usable CUDA devices (0 without CuPy or a driver)."""
    return get_backend("cuda").device_count()


def _index(device: Any) -> int | None:
    """None, an int, "cuda:N" or a Device -> the device index (None: the current device)."""
    if device is None or isinstance(device, int):
        return device
    text = str(device)
    kind, _, idx = text.partition(":")
    if kind != "cuda":
        raise ValueError(f"expected a CUDA device, got {device!r}")
    return int(idx) if idx else None


def synchronize(device: Any = None) -> None:
    """Wait for all queued work on the device (current device when None); raises deferred range errors."""
    get_backend("cuda").synchronize(_index(device))


def manual_seed(seed: int) -> None:
    """Seed the CUDA generators only."""
    get_backend("cuda").manual_seed(seed)


def current_device() -> int:
    """The index of the current CUDA device."""
    return int(get_backend("cuda").xp.cuda.runtime.getDevice())


def set_device(device: Any) -> None:
    """Make ``device`` (an int or "cuda:N") current for work outside tensors' own devices."""
    index = _index(device)
    get_backend("cuda").xp.cuda.runtime.setDevice(0 if index is None else index)


def _memory_pool_backend() -> CupyBackend:
    """The backend serving "cuda", which must be CuPy's: the memory statistics are its pool's."""
    backend = get_backend("cuda")
    if not isinstance(backend, CupyBackend):
        raise RuntimeError(f"memory statistics need the CuPy backend; 'cuda' is served by {backend!r}")
    return backend


def memory_allocated(device: Any = None) -> int:
    """Bytes held by tensors on the device (CuPy's memory pool, in use)."""
    return _memory_pool_backend().memory_allocated(_index(device))


def max_memory_allocated(device: Any = None) -> int:
    """The peak of ``memory_allocated`` since the start or ``reset_peak_memory_stats``."""
    return _memory_pool_backend().max_memory_allocated(_index(device))


def reset_peak_memory_stats(device: Any = None) -> None:
    """Restart ``max_memory_allocated`` from the current usage."""
    _memory_pool_backend().reset_peak_memory_stats(_index(device))


def memory_reserved(device: Any = None) -> int:
    """Bytes held by the memory pool on the device: in use plus cached free blocks."""
    return _memory_pool_backend().memory_reserved(_index(device))


def empty_cache() -> None:
    """Release the memory pool's cached free blocks to the driver (tensors are untouched)."""
    _memory_pool_backend().empty_cache()


def manual_seed_all(seed: int) -> None:
    """Seed every CUDA device's generator (``manual_seed`` already seeds them all)."""
    manual_seed(seed)


def is_initialized() -> bool:
    """True once CUDA is usable in this process (CuPy imported and a device found)."""
    return is_available()


def _properties(device: Any) -> dict:
    index = _index(device)
    runtime = get_backend("cuda").xp.cuda.runtime
    return dict(runtime.getDeviceProperties(runtime.getDevice() if index is None else index))


def get_device_name(device: Any = None) -> str:
    """The device's name, e.g. 'NVIDIA H100 80GB HBM3' (the current device when None)."""
    name = _properties(device)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device: Any = None) -> tuple[int, int]:
    """The device's compute capability (major, minor)."""
    props = _properties(device)
    return int(props["major"]), int(props["minor"])


class device:  # noqa: N801 - torch's name
    """Context manager that makes a CUDA device current and restores the previous one on exit."""

    def __init__(self, device: Any) -> None:
        self.index = _index(device)
        self._previous: int | None = None

    def __enter__(self) -> None:
        if self.index is not None:
            self._previous = current_device()
            set_device(self.index)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            set_device(self._previous)


# ---------------------------------------------------------------- streams and events (CuPy's)
def _cupy_for(what: str) -> Any:
    """CuPy, when a CUDA device is usable; else torch's RuntimeError for ``what`` on a machine without CUDA."""
    if not is_available():
        raise RuntimeError(f"bp.cuda.{what} requires CUDA support: {unavailable_reason() or 'no CUDA device'}")
    return get_backend("cuda").xp


class Stream:
    """A CUDA stream (a CuPy stream underneath); on a machine without CUDA, constructing one raises."""

    def __init__(self, device: Any = None, priority: int = 0, **kwargs: Any) -> None:
        cp = _cupy_for("Stream")
        raw = kwargs.get("_cupy_stream")
        if raw is None:
            with _device_ctx(device):
                raw = cp.cuda.Stream(non_blocking=False) if priority == 0 else cp.cuda.Stream(priority=priority)
        self._cp = raw
        self.device_index = current_device() if device is None else _index(device)

    @property
    def cuda_stream(self) -> int:
        """The raw ``cudaStream_t`` as an int (0 for the legacy default stream)."""
        return int(self._cp.ptr)

    def synchronize(self) -> None:
        """Wait until all work queued on this stream has finished."""
        self._cp.synchronize()

    def query(self) -> bool:
        """True when all work queued on this stream has finished."""
        return bool(self._cp.done)

    def record_event(self, event: Event | None = None) -> Event:
        """Record ``event`` (a new one when None) on this stream and return it."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        """Make later work on this stream wait for ``event``."""
        self._cp.wait_event(event._cp)

    def wait_stream(self, stream: Stream) -> None:
        """Make later work on this stream wait for the work queued so far on ``stream``."""
        self.wait_event(stream.record_event())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and self.cuda_stream == other.cuda_stream

    def __hash__(self) -> int:
        return hash(self.cuda_stream)

    def __repr__(self) -> str:
        return f"<bp.cuda.Stream device=cuda:{self.device_index} cuda_stream={self.cuda_stream:#x}>"


class Event:
    """A CUDA event (CuPy's) for timing and ordering streams; on a machine without CUDA, constructing one raises."""

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False) -> None:
        cp = _cupy_for("Event")
        self._cp = cp.cuda.Event(block=blocking, disable_timing=not enable_timing, interprocess=interprocess)
        self.enable_timing = enable_timing

    def record(self, stream: Stream | None = None) -> None:
        """Record the event on ``stream`` (the current stream when None)."""
        self._cp.record(None if stream is None else stream._cp)

    def wait(self, stream: Stream | None = None) -> None:
        """Make later work on ``stream`` (the current stream when None) wait for this event."""
        (current_stream() if stream is None else stream).wait_event(self)

    def query(self) -> bool:
        """True when the work before the recorded event has finished."""
        return bool(self._cp.done)

    def synchronize(self) -> None:
        """Wait until the work before the recorded event has finished."""
        self._cp.synchronize()

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds between this event and ``end_event`` (both recorded with ``enable_timing=True``)."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Event.elapsed_time: both events must be created with enable_timing=True")
        return float(_cupy_for("Event").cuda.get_elapsed_time(self._cp, end_event._cp))


def current_stream(device: Any = None) -> Stream:
    """The stream work is queued on now (CuPy's current stream) for ``device``."""
    cp = _cupy_for("current_stream")
    with _device_ctx(device):
        return Stream(device, _cupy_stream=cp.cuda.get_current_stream())


def default_stream(device: Any = None) -> Stream:
    """The device's default (null) stream."""
    cp = _cupy_for("default_stream")
    return Stream(device, _cupy_stream=cp.cuda.Stream.null)


class StreamContext:
    """``with bp.cuda.stream(s):`` queue work on ``s`` inside the block (no-op for None), as torch."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream

    def __enter__(self) -> Stream | None:
        if self.stream is not None:
            self.stream._cp.__enter__()
        return self.stream

    def __exit__(self, *exc: object) -> None:
        if self.stream is not None:
            self.stream._cp.__exit__(*exc)


def stream(stream: Stream | None) -> StreamContext:
    """A context manager that makes ``stream`` current inside the block (None: nothing changes)."""
    return StreamContext(stream)


_device_ctx = device  # the ``device`` class, under a name the stream code can use beside its ``device`` arguments
