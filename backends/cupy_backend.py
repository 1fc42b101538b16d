"""CuPy backend: the "cuda" device. CuPy is imported only when this backend is first probed."""

from __future__ import annotations

import base64
import contextlib
import warnings
from typing import Any

from .base import Backend, BackendUnavailable


class OutOfMemoryError(MemoryError):
    """A CUDA allocation failed even after freeing cached blocks; the message names requested and free sizes."""


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


# ---------------------------------------------------------------------------------------------------
# Range checks without a host synchronisation. On a GPU, reading ``int(ids.max())`` to validate
# indices every step stalls the stream; instead an op records, on the device, whether any value was
# out of range (and the first bad value), clamps the indices so the kernel stays in bounds, and the
# error is raised at the next point where the host reads device memory anyway (``to_host``: every
# ``.item()``, ``.numpy()``, ``.tolist()``, printing, logging) or at ``synchronize()``.

# (op, message template, exception class) -> [any bad (0-d), first bad (0-d)]
_PENDING: dict[tuple[str, str, type[Exception]], list[Any]] = {}


def defer_range_check(
    xp: Any, op: str, values: Any, lo: float, hi: float, message: str, error: type[Exception] = IndexError
) -> bool:
    """On CuPy, record on the device whether any of ``values`` lies outside [lo, hi] (no host read); True.
    NaN lies outside (as a device-side ``lo <= v && v <= hi`` assert has it).

    ``message`` is a template with ``{value}`` (the first bad value); the ``error`` (``IndexError``) naming
    ``op`` is raised by ``raise_deferred_errors()`` at the next read-back. Repeated calls fold into one flag.
    Returns False (nothing recorded) for other namespaces: the caller checks eagerly, host reads are free.
    """
    if getattr(xp, "__name__", "") != "cupy":
        return False
    if not values.size:
        return True
    flat = values.ravel()
    bad = xp.logical_not((flat >= lo) & (flat <= hi))
    any_bad, first = bad.any(), flat[xp.argmax(bad)]
    key = (op, message, error)
    prev = _PENDING.get(key)
    if prev is None:
        _PENDING[key] = [any_bad, first]
    else:  # keep the earliest bad value
        _PENDING[key] = [prev[0] | any_bad, xp.where(prev[0], prev[1], first)]
    return True


def raise_deferred_errors() -> None:
    """Raise the first recorded out-of-range error (``IndexError`` naming the op and value), if any."""
    if not _PENDING:
        return
    pending = list(_PENDING.items())
    _PENDING.clear()
    for (op, message, error), (any_bad, first) in pending:
        if bool(any_bad.get()):
            value = first.get().item()
            raise error(f"{op}: {message.format(value=value)} (checked on the device, raised at the next host read)")


class _OnDevice:
    """A CuPy object whose method calls run with its device current (``cuda:N`` for N > 0)."""

    def __init__(self, obj: Any, device: Any) -> None:
        self._obj, self._device = obj, device

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._device:
                return attr(*args, **kwargs)

        return call


class CupyBackend(Backend):
    """Arrays are ``cupy.ndarray`` on an NVIDIA GPU.

    ``is_available()`` asks the CUDA runtime for a device count: a CuPy that imports on a machine
    without a driver or GPU is *not* available, and the original error is kept for the message.
    """

    name = "cupy"
    device_type = "cuda"

    def __init__(self) -> None:
        self._cupy: Any = None
        self._available: bool | None = None
        self._reason = ""
        self._rngs: dict[int, Any] = {}
        self._seed = 0
        self._peak: dict[int, int] = {}  # device -> most bytes in use since the last reset (CuPy keeps no peak)
        self._peak_reserved: dict[int, int] = {}  # device -> most bytes the pool held since the last reset
        self._counts: dict[int, dict[str, int]] = {}  # device -> accumulated allocator counters (torch's names)
        self.sync_debug_mode = 0  # bp.cuda.set_sync_debug_mode: 0 silent, 1 warn, 2 raise on a device-to-host copy
        self._pool: Any = None
        self._oom: Any = None

    # -- probing -------------------------------------------------------------------------------
    def _probe(self) -> bool:
        if self._available is not None:
            return self._available
        try:
            import cupy
        except Exception as exc:  # ImportError, or a broken install raising anything else
            self._available, self._reason = False, f"CuPy is not installed or failed to import ({exc!r})"
            return False
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError: no driver, insufficient driver, ...
            self._available = False
            self._reason = f"CuPy imported but the CUDA runtime failed: {exc!r}"
            return False
        if count < 1:
            self._available, self._reason = False, "CuPy imported but no CUDA device was found"
            return False
        self._cupy, self._available = cupy, True
        self._pool, self._oom = cupy.get_default_memory_pool(), cupy.cuda.memory.OutOfMemoryError
        cupy.cuda.set_allocator(self._malloc)  # the pool's malloc, plus peak tracking and a clear OOM error
        return True

    # -- memory ----------------------------------------------------------------------------------
    def _malloc(self, size: int) -> Any:
        """``MemoryPool.malloc`` with one retry after freeing cached blocks, then an error naming the sizes.

        (CuPy's own pool already frees its cache before giving up; the retry here also covers objects
        only kept alive by reference cycles, and the error says what was asked for and what is free.)
        """
        pool = self._pool
        try:
            mem = pool.malloc(size)
        except self._oom:
            cp = self._cupy
            import gc

            gc.collect()  # arrays only kept alive by reference cycles return their blocks to the pool
            pool.free_all_blocks()
            dev = cp.cuda.runtime.getDevice()
            self._count(dev, "num_alloc_retries")
            try:
                mem = pool.malloc(size)
            except self._oom as exc:
                self._count(dev, "num_ooms")
                free, total = cp.cuda.runtime.memGetInfo()
                raise OutOfMemoryError(
                    f"CUDA out of memory on cuda:{dev}: tried to allocate {_mib(size)}; the device has "
                    f"{_mib(free)} free of {_mib(total)}; tensors of this process hold {_mib(pool.used_bytes())} "
                    f"(cached blocks were freed and the allocation retried once)"
                ) from exc
        dev = mem.device_id
        used, reserved = pool.used_bytes(), pool.total_bytes()  # of the current device: the one allocated on
        if used > self._peak.get(dev, 0):
            self._peak[dev] = used
        if reserved > self._peak_reserved.get(dev, 0):
            self._peak_reserved[dev] = reserved
        counts = self._counts.get(dev)
        if counts is None:
            counts = self._counts[dev] = {}
        counts["allocation"] = counts.get("allocation", 0) + 1
        counts["allocated_bytes"] = counts.get("allocated_bytes", 0) + size
        return mem

    def _count(self, dev: int, key: str) -> None:
        counts = self._counts.setdefault(dev, {})
        counts[key] = counts.get(key, 0) + 1

    def _pool_stat(self, index: int | None, stat: str) -> int:
        cp = self._require()
        with cp.cuda.Device(index):
            return int(getattr(cp.get_default_memory_pool(), stat)())

    def memory_allocated(self, index: int | None = None) -> int:
        """Bytes held by live arrays on the device (CuPy's pool ``used_bytes``)."""
        return self._pool_stat(index, "used_bytes")

    def memory_reserved(self, index: int | None = None) -> int:
        """Bytes the pool holds on the device: live arrays plus cached free blocks (``total_bytes``)."""
        return self._pool_stat(index, "total_bytes")

    def max_memory_allocated(self, index: int | None = None) -> int:
        """The most bytes held by live arrays since the start or the last ``reset_peak_memory_stats``."""
        cp = self._require()
        dev = cp.cuda.runtime.getDevice() if index is None else index
        return max(self._peak.get(dev, 0), self.memory_allocated(dev))

    def max_memory_reserved(self, index: int | None = None) -> int:
        """The most bytes the pool held on the device since the start or the last ``reset_peak_memory_stats``."""
        cp = self._require()
        dev = cp.cuda.runtime.getDevice() if index is None else index
        return max(self._peak_reserved.get(dev, 0), self.memory_reserved(dev))

    def reset_peak_memory_stats(self, index: int | None = None) -> None:
        """Start the peaks (in use and held by the pool) over from the bytes of now."""
        cp = self._require()
        dev = cp.cuda.runtime.getDevice() if index is None else index
        self._peak[dev] = self.memory_allocated(dev)
        self._peak_reserved[dev] = self.memory_reserved(dev)

    def accumulated_memory_stats(self, index: int | None = None) -> dict[str, int]:
        """Counters since the start or ``reset_accumulated_memory_stats``: allocations, their bytes, OOM retries."""
        cp = self._require()
        dev = cp.cuda.runtime.getDevice() if index is None else index
        counts = self._counts.get(dev, {})
        return {k: counts.get(k, 0) for k in ("allocation", "allocated_bytes", "num_alloc_retries", "num_ooms")}

    def reset_accumulated_memory_stats(self, index: int | None = None) -> None:
        """Zero the counters of ``accumulated_memory_stats``."""
        cp = self._require()
        self._counts.pop(cp.cuda.runtime.getDevice() if index is None else index, None)

    def empty_cache(self) -> None:
        """Return the pool's cached free blocks to the driver (live arrays are untouched)."""
        cp = self._require()
        for dev in range(self.device_count()):
            with cp.cuda.Device(dev):
                cp.get_default_memory_pool().free_all_blocks()

    def is_available(self) -> bool:
        return self._probe()

    def unavailable_reason(self) -> str:
        return "" if self._probe() else self._reason

    def _require(self) -> Any:
        if not self._probe():
            raise BackendUnavailable(f"device 'cuda' is not usable: {self._reason}")
        return self._cupy

    # -- arrays --------------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        return self._require()

    @property
    def array_type(self) -> type:
        return self._require().ndarray

    def device_count(self) -> int:
        return self._cupy.cuda.runtime.getDeviceCount() if self._probe() else 0

    def from_host(self, array: Any, index: int = 0) -> Any:
        cp = self._require()
        with cp.cuda.Device(index):
            return cp.asarray(array)

    def to_host(self, array: Any) -> Any:
        if self.sync_debug_mode:
            self._report_sync()
        host = self._require().asnumpy(array)
        if _PENDING:  # the host waits for the device here anyway: report deferred range errors
            raise_deferred_errors()
        return host

    def array_device_index(self, array: Any) -> int:
        return array.device.id

    def use_device(self, index: int) -> Any:
        if index == 0 and self._require().cuda.runtime.getDevice() == 0:
            return contextlib.nullcontext()
        return self._cupy.cuda.Device(index)

    # -- randomness and sync -------------------------------------------------------------------
    def rng(self, index: int = 0) -> Any:
        gen = self._rngs.get(index)
        if gen is None:
            cp = self._require()
            with cp.cuda.Device(index):
                gen = cp.random.default_rng(self._seed + index)
            if index:  # CuPy's generators allocate on the *current* device: make theirs current per call
                gen = _OnDevice(gen, cp.cuda.Device(index))
            self._rngs[index] = gen
        return gen

    def manual_seed(self, seed: int) -> None:
        self._seed = seed
        self._rngs.clear()

    def initial_seed(self) -> int:
        """The seed of the last ``manual_seed`` (0 at start); device N's stream starts from seed + N."""
        return self._seed

    def get_device_rng_state(self, index: int = 0) -> dict:
        """Device ``index``'s generator as JSON-able data: the seed and its bit generator's state bytes.

        CuPy keeps a ``Generator``'s state in a device byte array (``bit_generator._state``, cuRAND's
        per-thread states); it is copied back to the host here, so restoring it repeats the same numbers.
        """
        cp = self._require()
        raw = self.rng(index).bit_generator._state
        with cp.cuda.Device(index):
            data = cp.asnumpy(raw).tobytes()
        return {"seed": self._seed, "state": base64.b64encode(data).decode("ascii")}

    def set_device_rng_state(self, index: int, state: dict) -> None:
        """Restore device ``index``'s generator from ``get_device_rng_state``."""
        import numpy as np

        cp = self._require()
        data = np.frombuffer(base64.b64decode(state["state"]), dtype=np.int8)
        self._rngs.pop(index, None)
        seed, self._seed = self._seed, int(state["seed"])
        try:
            raw = self.rng(index).bit_generator._state
        finally:
            self._seed = seed
        if data.size != raw.size:
            self._rngs.pop(index, None)
            raise ValueError(
                f"set_rng_state: the state holds {data.size} bytes but cuda:{index}'s generator has {raw.size}: "
                "it was saved from another kind of generator or device"
            )
        with cp.cuda.Device(index):
            raw[...] = cp.asarray(data)

    def get_rng_state(self) -> dict:
        """The seed and the state of every device generator made so far (JSON-able, for checkpoints)."""
        return {"seed": self._seed, "devices": {str(i): self.get_device_rng_state(i) for i in sorted(self._rngs)}}

    def set_rng_state(self, state: dict) -> None:
        """Restore ``get_rng_state``'s snapshot (an empty one, as older checkpoints hold, changes nothing)."""
        if not state:
            return
        self.manual_seed(int(state["seed"]))
        for index, device_state in state.get("devices", {}).items():
            self.set_device_rng_state(int(index), device_state)

    def _report_sync(self) -> None:
        """``set_sync_debug_mode``: warn (1) or raise (2) on a copy that makes the host wait for the device."""
        message = "called a synchronizing CUDA operation (a copy of device memory to the host)"
        if self.sync_debug_mode >= 2:
            raise RuntimeError(f"{message}; bp.cuda.set_sync_debug_mode('error') forbids it")
        warnings.warn(message, UserWarning, stacklevel=4)

    def synchronize(self, index: int | None = None) -> None:
        cp = self._require()
        if index is None:
            cp.cuda.Device().synchronize()
        else:
            with cp.cuda.Device(index):
                cp.cuda.Device(index).synchronize()
        raise_deferred_errors()

    # -- kernels that differ from the generic array-API ones -----------------------------------
    def overrides(self) -> dict[str, Any]:
        from . import cupy_kernels

        return cupy_kernels.OVERRIDES
