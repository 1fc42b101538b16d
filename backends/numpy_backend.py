"""NumPy backend: the CPU device. Always available."""

from __future__ import annotations

import base64
import ctypes
import os
import sys
import warnings
from typing import Any

import numpy as np

from .base import Backend
from .torch_rng import CPUGenerator, nondeterministic_seed

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_MMAP_DEFAULT = 128 * 1024
MALLOC_CACHE_DEFAULT = 256 * 1024 * 1024


def set_malloc_cache(limit: int) -> bool:
    """Serve CPU buffers of up to ``limit`` bytes from glibc's heap and keep freed ones for reuse.

    Why: glibc gives every allocation above its mmap threshold (at most 32 MiB with its dynamic
    rule) fresh pages from the kernel, which zeroes them on first touch, and returns them on free. A
    training step that allocates and frees the same 40 MB activations every step pays that zeroing
    each time (7% of the large LM's eager step here; PyTorch's tuning guide answers the same cost
    with jemalloc/tcmalloc). Raising the mmap and trim thresholds keeps those pages in the heap, as
    a caching allocator would, at the price of the process keeping up to about ``2 * limit`` bytes of
    freed memory resident. ``limit=0`` restores glibc's default thresholds (not its dynamic rule).
    Returns False where there is no glibc (macOS, Windows, musl): nothing is changed there.
    Called once at import with ``BACKPROP_MALLOC_CACHE`` bytes (default 256 MiB; 0 turns it off).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl's mallopt ignores these parameters
    except (OSError, AttributeError):
        return False
    mmap = int(limit) if limit > 0 else _GLIBC_MMAP_DEFAULT
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2 * mmap))


def _malloc_cache_from_env() -> None:
    raw = os.environ.get("BACKPROP_MALLOC_CACHE", "")
    try:
        limit = int(raw) if raw.strip() else MALLOC_CACHE_DEFAULT
    except ValueError:
        msg = f"BACKPROP_MALLOC_CACHE must be a number of bytes (0 turns the cache off), got {raw!r}"
        raise ValueError(msg) from None
    if limit > 0:
        set_malloc_cache(limit)


class NumpyBackend(Backend):
    """Arrays are ``numpy.ndarray``; random numbers come from torch's CPU generator (mt19937, its
    transforms: ``torch_rng``), seeded from the OS's entropy at start as torch's default generator."""

    name = "numpy"
    device_type = "cpu"

    def __init__(self) -> None:
        self._rng = CPUGenerator(nondeterministic_seed())
        _malloc_cache_from_env()

    def is_available(self) -> bool:
        return True

    @property
    def xp(self) -> Any:
        return np

    @property
    def array_type(self) -> type:
        return np.ndarray

    def from_host(self, array: Any, index: int = 0) -> np.ndarray:
        return np.asarray(array)

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def rng(self, index: int = 0) -> CPUGenerator:
        return self._rng

    def manual_seed(self, seed: int) -> None:
        self._rng.manual_seed(seed)

    def initial_seed(self) -> int:
        """The seed the CPU stream started from (random at start, as torch's)."""
        return self._rng.seed

    def overrides(self) -> dict[str, Any]:
        from .numpy_kernels import OVERRIDES

        return OVERRIDES

    def get_rng_state(self) -> dict:
        """The generator's state as JSON-able data: torch's 5056 state bytes, base64-encoded."""
        return {"torch_cpu": base64.b64encode(self._rng.get_state()).decode("ascii")}

    def set_rng_state(self, state: dict) -> None:
        """Restore ``get_rng_state``'s snapshot (a PCG64 one saved by an older backprop cannot be: the
        stream goes on, with a warning)."""
        if "torch_cpu" not in state:
            warnings.warn(
                "set_rng_state: the state is a PCG64 one from an older backprop; the CPU stream "
                "is torch's mt19937 now, so it goes on unrestored",
                stacklevel=2,
            )
            return
        self._rng.set_state(base64.b64decode(state["torch_cpu"]))
