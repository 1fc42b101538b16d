"""``bp.accelerator`` (torch.accelerator): the device-agnostic view of "the" accelerator.

backprop's only accelerator is CUDA (CuPy). Where CUDA is usable, ``current_accelerator()`` is the
``cuda`` device and the functions here forward to ``bp.cuda``; on a CPU-only machine they answer as a
CPU-only torch build does: ``is_available()`` False, ``current_accelerator()`` None, ``device_count()``
0, and the calls that need a device raise torch's RuntimeError ("Cannot access accelerator device
when none is available."). PyTorch's tutorials open with::

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any

from backprop import cuda as _cuda
from backprop.devices import Device

__all__ = [
    "current_accelerator",
    "current_device_idx",
    "current_device_index",
    "current_stream",
    "device_count",
    "device_index",
    "empty_cache",
    "empty_host_cache",
    "get_device_capability",
    "get_memory_info",
    "is_available",
    "max_memory_allocated",
    "max_memory_reserved",
    "memory_allocated",
    "memory_reserved",
    "memory_stats",
    "reset_accumulated_memory_stats",
    "reset_peak_memory_stats",
    "set_device_idx",
    "set_device_index",
    "set_stream",
    "synchronize",
]

_NONE_AVAILABLE = "Cannot access accelerator device when none is available."


def current_accelerator(check_available: bool = False) -> Device | None:
    """The accelerator's device (``cuda``) when CUDA is usable here, else None (torch's CPU-only answer)."""
    if _cuda.is_available():
        return Device("cuda", 0)
    return None


def is_available() -> bool:
    """True when an accelerator (CUDA) is usable: built, driver present, at least one device visible."""
    return current_accelerator() is not None


def device_count() -> int:
    """The number of accelerator devices (0 without one)."""
    return _cuda.device_count() if is_available() else 0


def _require() -> None:
    """Raise torch's RuntimeError when there is no accelerator."""
    if not is_available():
        raise RuntimeError(_NONE_AVAILABLE)


def _device_index(device: Any, optional: bool = False) -> int:
    """torch's ``_get_device_index``: an int, "cuda:N", a device, or None (the current index when optional)."""
    if isinstance(device, int):
        return device
    index: int | None = None
    if device is not None:
        kind, _, idx = str(device).partition(":")
        if isinstance(device, Device) and device.type != "cpu":
            kind, idx = device.type, str(device.index)
        if current_accelerator() is None:
            raise RuntimeError("Accelerator expected")
        if kind != "cuda":
            raise ValueError(f"{kind} doesn't match the current accelerator cuda.")
        index = int(idx) if idx else None
    if index is None:
        if not optional:
            raise ValueError(f"Expected a torch.device with a specified index or an integer, but got:{device}")
        return current_device_index()
    return index


def current_device_index() -> int:
    """The index of the current accelerator device (raises without one)."""
    _require()
    return _cuda.current_device()


def current_device_idx() -> int:
    """Deprecated spelling of ``current_device_index`` (FutureWarning, as torch)."""
    warnings.warn("Use `current_device_index` instead.", FutureWarning, stacklevel=2)
    return current_device_index()


def set_device_index(device: Any, /) -> None:
    """Make ``device`` (an int, "cuda:N" or a device) current; a negative index is a no-op."""
    index = _device_index(device, optional=False)
    if index < 0:
        return
    _require()
    _cuda.set_device(index)


def set_device_idx(device: Any, /) -> None:
    """Deprecated spelling of ``set_device_index`` (FutureWarning, as torch)."""
    warnings.warn("Use `set_device_index` instead.", FutureWarning, stacklevel=2)
    set_device_index(device)


class device_index:  # noqa: N801 - torch's name
    """Context manager: make device ``device`` current inside the block (None: nothing changes)."""

    def __init__(self, device: int | None, /) -> None:
        self.idx = device
        self.prev_idx = -1

    def __enter__(self) -> None:
        if self.idx is not None:
            self.prev_idx = current_device_index()
            set_device_index(self.idx)

    def __exit__(self, *exc_info: object) -> None:
        if self.idx is not None and self.prev_idx >= 0:
            set_device_index(self.prev_idx)


def synchronize(device: Any = None, /) -> None:
    """Wait for all queued work on the accelerator device (the current one when None)."""
    index = _device_index(device, optional=True)
    _require()
    _cuda.synchronize(index)


def current_stream(device: Any = None, /) -> Any:
    """The stream work is queued on now for the device (a ``bp.cuda.Stream``)."""
    index = _device_index(device, optional=True)
    return _cuda.current_stream(index)


def set_stream(stream: Any) -> None:
    """Make ``stream`` (a ``bp.cuda.Stream``) the current stream; its device becomes current too."""
    _require()
    set_device_index(stream.device_index)
    stream._cp.use()


def empty_cache() -> None:
    """Release the memory pool's cached free blocks to the driver."""
    _require()
    _cuda.empty_cache()


def empty_host_cache() -> None:
    """Release the cached pinned host memory blocks (CuPy's pinned memory pool)."""
    _require()
    from backprop.backends import get_backend

    get_backend("cuda").xp.get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated(device_index: Any = None, /) -> int:
    """Bytes held by tensors on the device."""
    _require()
    return _cuda.memory_allocated(_device_index(device_index, optional=True))


def max_memory_allocated(device_index: Any = None, /) -> int:
    """The peak of ``memory_allocated`` since the start or ``reset_peak_memory_stats``."""
    _require()
    return _cuda.max_memory_allocated(_device_index(device_index, optional=True))


def memory_reserved(device_index: Any = None, /) -> int:
    """Bytes held by the memory pool on the device (in use plus cached)."""
    _require()
    return _cuda.memory_reserved(_device_index(device_index, optional=True))


def reset_peak_memory_stats(device_index: Any = None, /) -> None:
    """Restart ``max_memory_allocated`` from the current usage."""
    _require()
    _cuda.reset_peak_memory_stats(_device_index(device_index, optional=True))


def max_memory_reserved(device_index: Any = None, /) -> int:
    """The peak of ``memory_reserved`` since the start or ``reset_peak_memory_stats``."""
    _require()
    return _cuda.max_memory_reserved(_device_index(device_index, optional=True))


def reset_accumulated_memory_stats(device_index: Any = None, /) -> None:
    """Zero the allocator's accumulated counters (allocations, retries, out-of-memory errors)."""
    _require()
    _cuda.reset_accumulated_memory_stats(_device_index(device_index, optional=True))


def get_device_capability(device: Any = None, /) -> dict[str, Any]:
    """The device's capabilities as torch reports them: the dtypes its tensors can hold (CuPy has no bfloat16)."""
    _require()
    from backprop import dtypes

    names = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64",
             "complex128")  # fmt: skip
    return {"supported_dtypes": {getattr(dtypes, n) for n in names}}


def memory_stats(device_index: Any = None, /) -> OrderedDict[str, Any]:
    """The allocator statistics backprop tracks, under torch's flat key names (sorted)."""
    _require()
    index = _device_index(device_index, optional=True)
    stats = {
        "allocated_bytes.all.current": _cuda.memory_allocated(index),
        "allocated_bytes.all.peak": _cuda.max_memory_allocated(index),
        "reserved_bytes.all.current": _cuda.memory_reserved(index),
    }
    return OrderedDict(sorted(stats.items()))


def get_memory_info(device_index: Any = None, /) -> tuple[int, int]:
    """(free, total) bytes of the device's memory, as the driver reports them."""
    _require()
    index = _device_index(device_index, optional=True)
    from backprop.backends import get_backend

    cp = get_backend("cuda").xp
    with cp.cuda.Device(index):
        free, total = cp.cuda.runtime.memGetInfo()
    return int(free), int(total)
