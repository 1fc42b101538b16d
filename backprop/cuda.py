"""``bp.cuda``: is a GPU usable, how many, synchronise, seed, and memory statistics (torch.cuda's names).

``bp.cuda.amp`` (torch.cuda.amp's deprecated ``autocast``/``GradScaler``) is ``backprop/amp/cuda_amp.py``,
bound onto this module by ``backprop/__init__.py``: this module sits below autocast in the layering.
"""

from __future__ import annotations

from typing import Any

from backprop.backends import get_backend
from backprop.backends.cupy_backend import CupyBackend, OutOfMemoryError

__all__ = [
    "OutOfMemoryError",
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
