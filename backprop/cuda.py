"""``bp.cuda``: is a GPU usable, how many, synchronise, seed, and memory statistics (torch.cuda's names).

Also device properties, generator states, streams, sync debugging, NVTX ranges, NVML readings (with
pynvml) and the legacy ``bp.cuda.FloatTensor`` & co. Without CUDA, each name answers as a CPU-only torch
does where that answer is harmless (0 bytes, ``[]``, no-ops) and otherwise raises, naming itself and why.
CUDA graphs (``CUDAGraph``, ``graph``, ``make_graphed_callables``) are named but not implemented.

``bp.cuda.amp`` (torch.cuda.amp's deprecated ``autocast``/``GradScaler``) is ``backprop/amp/cuda_amp.py``,
bound onto this module by ``backprop/__init__.py``: this module sits below autocast in the layering.
"""

# ruff: noqa: F822 - the legacy tensor types (FloatTensor & co.) in __all__ are served by the module __getattr__
from __future__ import annotations

import contextlib
import secrets
import types
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from backprop.backends import get_backend
from backprop.backends.cupy_backend import CupyBackend, OutOfMemoryError

__all__ = [
    "BFloat16Tensor",
    "BoolTensor",
    "ByteTensor",
    "CUDAGraph",
    "CharTensor",
    "CudaError",
    "DoubleTensor",
    "Event",
    "ExternalStream",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "OutOfMemoryError",
    "ShortTensor",
    "Stream",
    "StreamContext",
    "can_device_access_peer",
    "clock_rate",
    "current_device",
    "current_stream",
    "default_stream",
    "device",
    "device_count",
    "device_of",
    "empty_cache",
    "get_arch_list",
    "get_device_capability",
    "get_device_name",
    "get_device_properties",
    "get_gencode_flags",
    "get_per_process_memory_fraction",
    "get_rng_state",
    "get_rng_state_all",
    "get_sync_debug_mode",
    "graph",
    "graph_pool_handle",
    "graphs",
    "init",
    "initial_seed",
    "ipc_collect",
    "is_available",
    "is_bf16_supported",
    "is_current_stream_capturing",
    "is_initialized",
    "is_tf32_supported",
    "list_gpu_processes",
    "make_graphed_callables",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "max_memory_cached",
    "max_memory_reserved",
    "mem_get_info",
    "memory_allocated",
    "memory_cached",
    "memory_reserved",
    "memory_stats",
    "memory_stats_as_nested_dict",
    "memory_summary",
    "nvtx",
    "power_draw",
    "reset_accumulated_memory_stats",
    "reset_max_memory_allocated",
    "reset_max_memory_cached",
    "reset_peak_memory_stats",
    "seed",
    "seed_all",
    "set_device",
    "set_per_process_memory_fraction",
    "set_rng_state",
    "set_rng_state_all",
    "set_stream",
    "set_sync_debug_mode",
    "stream",
    "synchronize",
    "temperature",
    "unavailable_reason",
    "utilization",
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
    import backprop  # (at call time: creation and autograd sit above this module)

    backprop.autograd.trace.refuse(backprop.creation._RESEED)
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


def _pool_if_available() -> CupyBackend | None:
    """The CuPy backend when CUDA is usable, else None: without CUDA the byte counts are 0, as torch's."""
    return _memory_pool_backend() if is_available() else None


def _pool_for(what: str) -> CupyBackend:
    """The CuPy backend, or torch's RuntimeError for ``what`` on a machine without CUDA."""
    _cupy_for(what)
    return _memory_pool_backend()


def memory_allocated(device: Any = None) -> int:
    """Bytes held by tensors on the device (CuPy's memory pool, in use); 0 without CUDA, as torch."""
    pool = _pool_if_available()
    return 0 if pool is None else pool.memory_allocated(_index(device))


def max_memory_allocated(device: Any = None) -> int:
    """The peak of ``memory_allocated`` since the start or ``reset_peak_memory_stats`` (0 without CUDA)."""
    pool = _pool_if_available()
    return 0 if pool is None else pool.max_memory_allocated(_index(device))


def reset_peak_memory_stats(device: Any = None) -> None:
    """Restart ``max_memory_allocated`` and ``max_memory_reserved`` from the current usage."""
    _pool_for("reset_peak_memory_stats").reset_peak_memory_stats(_index(device))


def memory_reserved(device: Any = None) -> int:
    """Bytes held by the memory pool on the device: in use plus cached free blocks (0 without CUDA)."""
    pool = _pool_if_available()
    return 0 if pool is None else pool.memory_reserved(_index(device))


def empty_cache() -> None:
    """Release the memory pool's cached free blocks to the driver (tensors are untouched; no-op without CUDA)."""
    pool = _pool_if_available()
    if pool is not None:
        pool.empty_cache()


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


# ---------------------------------------------------------------- device capabilities and properties
def init() -> None:
    """Initialise CUDA (CuPy and the runtime are probed on first use anyway); raises without CUDA, as torch."""
    _cupy_for("init")


def ipc_collect() -> None:
    """Free CUDA IPC memory no other process uses any more: a no-op here (tensors are never shared by IPC)."""
    _cupy_for("ipc_collect")


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: CuPy has no bfloat16 arrays, so bfloat16 CUDA tensors cannot be made (without CUDA too, as torch)."""
    return False


def is_tf32_supported() -> bool:
    """True when the current device has TF32 tensor cores (compute capability 8.0 or newer); False without CUDA."""
    return is_available() and get_device_capability()[0] >= 8


class _CudaDeviceProperties:
    """torch's ``_CudaDeviceProperties``: a device's name, compute capability, memory and processor counts."""

    def __init__(self, props: dict) -> None:
        name = props.get("name", b"")
        self.name: str = name.decode() if isinstance(name, bytes) else str(name)
        self.major: int = int(props["major"])
        self.minor: int = int(props["minor"])
        self.total_memory: int = int(props["totalGlobalMem"])
        self.multi_processor_count: int = int(props.get("multiProcessorCount", 0))
        self.is_integrated: int = int(props.get("integrated", 0))
        self.is_multi_gpu_board: int = int(props.get("isMultiGpuBoard", 0))
        self.max_threads_per_multi_processor: int = int(props.get("maxThreadsPerMultiProcessor", 0))
        self.max_threads_per_block: int = int(props.get("maxThreadsPerBlock", 0))
        self.warp_size: int = int(props.get("warpSize", 0))
        self.regs_per_multiprocessor: int = int(props.get("regsPerMultiprocessor", 0))
        self.shared_memory_per_block: int = int(props.get("sharedMemPerBlock", 0))
        self.shared_memory_per_block_optin: int = int(props.get("sharedMemPerBlockOptin", 0))
        self.shared_memory_per_multiprocessor: int = int(props.get("sharedMemPerMultiprocessor", 0))
        self.L2_cache_size: int = int(props.get("l2CacheSize", 0))  # noqa: N815 - torch's name
        self.clock_rate: int = int(props.get("clockRate", 0))  # kHz (absent from CUDA 13's properties: 0)
        self.memory_clock_rate: int = int(props.get("memoryClockRate", 0))
        self.memory_bus_width: int = int(props.get("memoryBusWidth", 0))
        self.pci_bus_id: int = int(props.get("pciBusID", 0))
        self.pci_device_id: int = int(props.get("pciDeviceID", 0))
        self.pci_domain_id: int = int(props.get("pciDomainID", 0))
        raw = props.get("uuid", b"")
        h = bytes(raw).hex() if isinstance(raw, (bytes, bytearray)) else ""
        self.uuid: str = f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if len(h) == 32 else ""

    def __repr__(self) -> str:
        return (
            f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
            f"total_memory={self.total_memory // 2**20}MB, multi_processor_count={self.multi_processor_count}, "
            f"uuid={self.uuid[4:]}, pci_bus_id={self.pci_bus_id}, pci_device_id={self.pci_device_id}, "
            f"pci_domain_id={self.pci_domain_id}, L2_cache_size={self.L2_cache_size // 2**20}MB)"
        )


def get_device_properties(device: Any = None) -> _CudaDeviceProperties:
    """The device's properties (CuPy's ``runtime.getDeviceProperties``) under torch's attribute names."""
    _cupy_for("get_device_properties")
    return _CudaDeviceProperties(_properties(device))


def get_arch_list() -> list[str]:
    """The architectures kernels are built for: CuPy compiles at run time for each visible device's own
    (``sm_XY``), so these are the devices' architectures; [] without CUDA, as torch."""
    if not is_available():
        return []
    archs = {get_device_capability(i) for i in range(device_count())}
    return [f"sm_{major}{minor}" for major, minor in sorted(archs)]


def get_gencode_flags() -> str:
    """``get_arch_list`` as nvcc ``-gencode`` flags ('' without CUDA), as torch."""
    return " ".join(
        f"-gencode compute=compute_{arch},code={kind}_{arch}" for kind, arch in (a.split("_") for a in get_arch_list())
    )


def can_device_access_peer(device: Any, peer_device: Any) -> bool:
    """True when ``device`` can read and write ``peer_device``'s memory directly (CUDA peer access)."""
    cp = _cupy_for("can_device_access_peer")
    index, peer = _index(device), _index(peer_device)
    index = current_device() if index is None else index
    peer = current_device() if peer is None else peer
    count = device_count()
    if not 0 <= index < count:
        raise AssertionError(f"bp.cuda.can_device_access_peer: invalid device id {index} ({count} devices)")
    if not 0 <= peer < count:
        raise AssertionError(f"bp.cuda.can_device_access_peer: invalid peer device id {peer} ({count} devices)")
    return bool(cp.cuda.runtime.deviceCanAccessPeer(index, peer))


class device_of(device):  # noqa: N801 - torch's name
    """Context manager that makes the device of ``obj`` (a tensor) current; a no-op for CPU tensors."""

    def __init__(self, obj: Any) -> None:
        dev: Any = getattr(obj, "device", None)
        super().__init__(dev.index if getattr(dev, "type", None) == "cuda" else None)


# ---------------------------------------------------------------- memory
def mem_get_info(device: Any = None) -> tuple[int, int]:
    """(free, total) bytes of the device's memory, as the CUDA driver reports them."""
    cp = _cupy_for("mem_get_info")
    with _device_ctx(device):
        free, total = cp.cuda.runtime.memGetInfo()
    return int(free), int(total)


def max_memory_reserved(device: Any = None) -> int:
    """The peak of ``memory_reserved`` since the start or ``reset_peak_memory_stats`` (0 without CUDA)."""
    pool = _pool_if_available()
    return 0 if pool is None else pool.max_memory_reserved(_index(device))


def memory_cached(device: Any = None) -> int:
    """Deprecated name of ``memory_reserved`` (FutureWarning, as torch)."""
    warnings.warn(
        "`torch.cuda.memory_cached` has been renamed to `torch.cuda.memory_reserved`", FutureWarning, stacklevel=2
    )
    return memory_reserved(device)


def max_memory_cached(device: Any = None) -> int:
    """Deprecated name of ``max_memory_reserved`` (FutureWarning, as torch)."""
    warnings.warn(
        "`torch.cuda.max_memory_cached` has been renamed to `torch.cuda.max_memory_reserved`",
        FutureWarning,
        stacklevel=2,
    )
    return max_memory_reserved(device)


def reset_max_memory_allocated(device: Any = None) -> None:
    """Deprecated: ``reset_peak_memory_stats``, which resets every peak (FutureWarning, as torch)."""
    warnings.warn(
        "torch.cuda.reset_max_memory_allocated now calls torch.cuda.reset_peak_memory_stats, "
        "which resets /all/ peak memory stats.",
        FutureWarning,
        stacklevel=2,
    )
    reset_peak_memory_stats(device)


def reset_max_memory_cached(device: Any = None) -> None:
    """Deprecated: ``reset_peak_memory_stats``, which resets every peak (FutureWarning, as torch)."""
    warnings.warn(
        "torch.cuda.reset_max_memory_cached now calls torch.cuda.reset_peak_memory_stats, "
        "which resets /all/ peak memory stats.",
        FutureWarning,
        stacklevel=2,
    )
    reset_peak_memory_stats(device)


def reset_accumulated_memory_stats(device: Any = None) -> None:
    """Zero the accumulated counters of ``memory_stats`` (allocations, their bytes, OOM retries)."""
    _pool_for("reset_accumulated_memory_stats").reset_accumulated_memory_stats(_index(device))


def memory_stats(device: Any = None) -> OrderedDict[str, int]:
    """The allocator statistics backprop keeps, under torch's flat key names (sorted); empty without CUDA.

    ``allocated_bytes``/``reserved_bytes`` ``.all.current``/``.all.peak`` come from CuPy's pool;
    ``allocated_bytes.all.allocated``, ``allocation.all.allocated``, ``num_alloc_retries`` and ``num_ooms``
    count since the start or ``reset_accumulated_memory_stats``. torch's per-pool, split and
    segment counters have no CuPy equivalent and are left out.
    """
    pool = _pool_if_available()
    if pool is None:
        return OrderedDict()
    index = _index(device)
    acc = pool.accumulated_memory_stats(index)
    stats = {
        "allocated_bytes.all.current": pool.memory_allocated(index),
        "allocated_bytes.all.peak": pool.max_memory_allocated(index),
        "allocated_bytes.all.allocated": acc["allocated_bytes"],
        "allocation.all.allocated": acc["allocation"],
        "reserved_bytes.all.current": pool.memory_reserved(index),
        "reserved_bytes.all.peak": pool.max_memory_reserved(index),
        "num_alloc_retries": acc["num_alloc_retries"],
        "num_ooms": acc["num_ooms"],
    }
    return OrderedDict(sorted(stats.items()))


def memory_stats_as_nested_dict(device: Any = None) -> dict[str, Any]:
    """``memory_stats`` nested at its dots ({} without CUDA), as torch."""
    nested: dict[str, Any] = {}
    for key, value in memory_stats(device).items():
        *path, last = key.split(".")
        node = nested
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def memory_summary(device: Any = None, abbreviated: bool = False) -> str:
    """A printable table of ``memory_stats`` for the device (raises without CUDA)."""
    pool = _pool_for("memory_summary")
    index = _index(device)
    dev = current_device() if index is None else index
    stats = memory_stats(dev)

    def mib(n: int) -> str:
        return f"{n / 2**20:,.1f} MiB"

    rows = [
        ("Allocated memory", mib(stats["allocated_bytes.all.current"]), mib(stats["allocated_bytes.all.peak"])),
        ("Reserved memory", mib(stats["reserved_bytes.all.current"]), mib(stats["reserved_bytes.all.peak"])),
        ("Allocations (total)", str(stats["allocation.all.allocated"]), ""),
        ("Bytes allocated (total)", mib(stats["allocated_bytes.all.allocated"]), ""),
        ("Allocation retries", str(stats["num_alloc_retries"]), ""),
        ("Out-of-memory errors", str(stats["num_ooms"]), ""),
    ]
    limit = pool.xp.get_default_memory_pool()
    with _device_ctx(dev):
        cap = int(limit.get_limit())
    rows.append(("Pool limit", mib(cap) if cap else "none", ""))
    rule = "=" * 72
    lines = [rule, f" backprop CUDA memory summary, device ID {dev} (CuPy memory pool)".ljust(72), rule]
    lines.append(f" {'Metric':<30}{'Current':>20}{'Peak':>20}")
    lines.append("-" * 72)
    lines += [f" {name:<30}{cur:>20}{peak:>20}" for name, cur, peak in rows]
    lines.append(rule)
    return "\n".join(lines) + "\n"


def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
    """Cap this process's memory pool on the device at ``fraction`` of its total memory (CuPy's
    ``MemoryPool.set_limit``); allocations beyond it raise ``OutOfMemoryError``."""
    cp = _cupy_for("set_per_process_memory_fraction")
    if not isinstance(fraction, float):
        raise TypeError("Invalid type for fraction argument, must be `float`")
    if not 0 <= fraction <= 1:
        raise ValueError(f"Invalid fraction value: {fraction}. Allowed range: 0~1")
    with _device_ctx(device):
        cp.get_default_memory_pool().set_limit(fraction=fraction)


def get_per_process_memory_fraction(device: Any = None) -> float:
    """The fraction of the device's memory the pool may use (1.0 when uncapped)."""
    cp = _cupy_for("get_per_process_memory_fraction")
    with _device_ctx(device):
        limit = int(cp.get_default_memory_pool().get_limit())
        total = int(cp.cuda.runtime.memGetInfo()[1])
    return 1.0 if limit == 0 else limit / total


# ---------------------------------------------------------------- random-number generators
def _generators(what: str) -> CupyBackend:
    """The CuPy backend, whose per-device generators these functions read and write."""
    _cupy_for(what)
    backend = get_backend("cuda")
    if not isinstance(backend, CupyBackend):
        raise RuntimeError(f"bp.cuda.{what} needs the CuPy backend; 'cuda' is served by {backend!r}")
    return backend


def _device_index(device: Any) -> int:
    index = _index(device)
    return current_device() if index is None else index


def get_rng_state(device: Any = "cuda") -> Any:
    """Device ``device``'s generator state as a uint8 CPU tensor, for ``set_rng_state`` (backprop's JSON
    of CuPy's generator state, not torch's 16 bytes: states do not move between the two libraries)."""
    import backprop

    backend = _generators("get_rng_state")
    state = backend.get_device_rng_state(_device_index(device))
    return backprop.creation._state_tensor({"cuda": state})


def set_rng_state(new_state: Any, device: Any = "cuda") -> None:
    """Restore a generator from ``get_rng_state``: the same random numbers come again (no-op without CUDA,
    as torch)."""
    if not is_available():
        return
    import backprop

    backprop.autograd.trace.refuse(backprop.creation._RESEED)
    state = backprop.creation._state_dict(new_state, "bp.cuda.set_rng_state")
    if "cuda" not in state:
        raise RuntimeError("bp.cuda.set_rng_state: the tensor is not a CUDA state from bp.cuda.get_rng_state")
    _generators("set_rng_state").set_device_rng_state(_device_index(device), state["cuda"])


def get_rng_state_all() -> list[Any]:
    """``get_rng_state`` of every device ([] without CUDA, as torch)."""
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states: Any) -> None:
    """Restore every device's generator from ``get_rng_state_all`` (no-op without CUDA, as torch)."""
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


def seed() -> None:
    """Seed the CUDA generators from the OS's entropy (silently ignored without CUDA, as torch). backprop's
    CUDA generators share one seed (device N draws from seed + N), so every device is reseeded."""
    if is_available():
        manual_seed(secrets.randbits(63))


def seed_all() -> None:
    """Seed every device's generator from the OS's entropy (silently ignored without CUDA, as torch)."""
    seed()


def initial_seed() -> int:
    """The seed of the last ``manual_seed``/``seed`` (0 at start); raises without CUDA, as torch."""
    return _generators("initial_seed").initial_seed()


# ---------------------------------------------------------------- streams, sync debugging, graphs
_SYNC_MODES = {"default": 0, "warn": 1, "error": 2}


def set_sync_debug_mode(debug_mode: int | str) -> None:
    """Warn ("warn", 1) or raise ("error", 2) whenever a CUDA tensor's data is copied to the host (``.item()``,
    ``.numpy()``, ``.tolist()``, printing): the copies that make the host wait; "default" (0) turns it off."""
    backend = _generators("set_sync_debug_mode")
    if isinstance(debug_mode, str):
        if debug_mode not in _SYNC_MODES:
            raise RuntimeError("invalid value of debug_mode, expected one of `default`, `warn`, `error`")
        debug_mode = _SYNC_MODES[debug_mode]
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode {debug_mode!r}, expected 0, 1 or 2")
    backend.sync_debug_mode = int(debug_mode)


def get_sync_debug_mode() -> int:
    """The mode ``set_sync_debug_mode`` set: 0 (default), 1 (warn) or 2 (error)."""
    return _generators("get_sync_debug_mode").sync_debug_mode


def is_current_stream_capturing() -> bool:
    """True while the current stream is capturing a CUDA graph (CuPy's ``Stream.is_capturing``)."""
    cp = _cupy_for("is_current_stream_capturing")
    stream_ = cp.cuda.get_current_stream()
    return bool(stream_.is_capturing()) if hasattr(stream_, "is_capturing") else False


def set_stream(stream: Stream | None) -> None:
    """Make ``stream`` the current stream (its device becomes current too); None changes nothing, as torch."""
    if stream is None:
        return
    _cupy_for("set_stream")
    set_device(stream.device_index)
    stream._cp.use()


class ExternalStream(Stream):
    """A stream created outside backprop (another library's ``cudaStream_t``, as an int), wrapped for
    ``bp.cuda.stream``; backprop never destroys it."""

    def __init__(self, stream_ptr: int, device: Any = None) -> None:
        cp = _cupy_for("ExternalStream")
        index = _device_index(device)
        super().__init__(index, _cupy_stream=cp.cuda.ExternalStream(int(stream_ptr), index))


class CudaError(RuntimeError):
    """A CUDA runtime error, with its ``cudaError_t`` code (torch's ``torch.cuda.CudaError``)."""

    def __init__(self, code: int) -> None:
        self.code = int(code)
        super().__init__(f"CUDA error {self.code} (cudaError_t)")


_NO_GRAPHS = (
    "backprop cannot capture CUDA graphs: CuPy's stream capture does not cover cuBLAS/cuSOLVER calls "
    "(CuPy issue #6290), which most steps use; run the step eagerly (bp.compile replays it without a graph)"
)


class CUDAGraph:
    """Not implemented: constructing one raises NotImplementedError (CUDA graph capture is out of reach)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"bp.cuda.CUDAGraph: {_NO_GRAPHS}")


class graph:  # noqa: N801 - torch's name
    """Not implemented: ``with bp.cuda.graph(g):`` raises NotImplementedError (no CUDA graph capture)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"bp.cuda.graph: {_NO_GRAPHS}")


def make_graphed_callables(*args: Any, **kwargs: Any) -> Any:
    """Not implemented: raises NotImplementedError (no CUDA graph capture)."""
    raise NotImplementedError(f"bp.cuda.make_graphed_callables: {_NO_GRAPHS}")


def graph_pool_handle() -> Any:
    """Not implemented: raises NotImplementedError (no CUDA graph capture)."""
    raise NotImplementedError(f"bp.cuda.graph_pool_handle: {_NO_GRAPHS}")


graphs = types.ModuleType("backprop.cuda.graphs", "torch.cuda.graphs' names; CUDA graph capture is not implemented.")
for _name in ("CUDAGraph", "graph", "make_graphed_callables", "graph_pool_handle", "is_current_stream_capturing"):
    setattr(graphs, _name, globals()[_name])


# ---------------------------------------------------------------- NVTX ranges
class _Nvtx:
    """``bp.cuda.nvtx``: NVTX ranges and marks for profilers (Nsight), through ``cupy.cuda.nvtx`` when CuPy
    has it; without it they only keep the nesting depth that torch's functions return."""

    def __init__(self) -> None:
        self._depth = 0

    @staticmethod
    def _cupy_nvtx() -> Any:
        if not is_available():
            return None
        mod = getattr(get_backend("cuda").xp.cuda, "nvtx", None)
        return mod if getattr(mod, "available", False) else None

    def range_push(self, msg: str) -> int:
        """Open a nested range named ``msg``; returns its zero-based depth."""
        mod = self._cupy_nvtx()
        if mod is not None:
            mod.RangePush(msg)
        self._depth += 1
        return self._depth - 1

    def range_pop(self) -> int:
        """Close the innermost range; returns its zero-based depth (-1 when none was open)."""
        if self._depth == 0:
            return -1
        mod = self._cupy_nvtx()
        if mod is not None:
            mod.RangePop()
        self._depth -= 1
        return self._depth

    def mark(self, msg: str) -> None:
        """An instantaneous event named ``msg``."""
        mod = self._cupy_nvtx()
        if mod is not None:
            mod.Mark(msg)

    @contextlib.contextmanager
    def range(self, msg: str, *args: Any, **kwargs: Any) -> Iterator[None]:
        """``with bp.cuda.nvtx.range("step {}", i):`` a range around the block (``msg.format(*args, **kwargs)``)."""
        self.range_push(msg.format(*args, **kwargs))
        try:
            yield
        finally:
            self.range_pop()


nvtx = _Nvtx()


# ---------------------------------------------------------------- NVML readings (pynvml)
_NO_PYNVML = "pynvml module not found, please install nvidia-ml-py"


def _nvml(what: str, device: Any) -> tuple[Any, Any]:
    """(pynvml, the device's NVML handle), found by PCI bus id (so CUDA_VISIBLE_DEVICES is honoured)."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"bp.cuda.{what}: nvidia-ml-py does not seem to be installed") from exc
    cp = _cupy_for(what)
    pynvml.nvmlInit()
    bus_id = cp.cuda.runtime.deviceGetPCIBusId(_device_index(device))
    return pynvml, pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)


def list_gpu_processes(device: Any = None) -> str:
    """The processes using the device and their memory (NVML); torch's one-line answer without pynvml."""
    try:
        import pynvml  # noqa: F401
    except ModuleNotFoundError:
        return _NO_PYNVML
    nv, handle = _nvml("list_gpu_processes", device)
    procs = nv.nvmlDeviceGetComputeRunningProcesses(handle)
    lines = [f"GPU:{_device_index(device)}"]
    if not procs:
        lines.append("no processes are running")
    for p in procs:
        mem = f"{p.usedGpuMemory / 2**20:.2f} MB GPU memory" if p.usedGpuMemory is not None else "? MB GPU memory"
        lines.append(f"process {p.pid:>10d} uses {mem}")
    return "\n".join(lines)


def utilization(device: Any = None) -> int:
    """Percent of the last sample period in which a kernel ran on the device (NVML)."""
    nv, handle = _nvml("utilization", device)
    return int(nv.nvmlDeviceGetUtilizationRates(handle).gpu)


def temperature(device: Any = None) -> int:
    """The device's GPU temperature in degrees Celsius (NVML)."""
    nv, handle = _nvml("temperature", device)
    return int(nv.nvmlDeviceGetTemperature(handle, 0))  # NVML_TEMPERATURE_GPU


def power_draw(device: Any = None) -> int:
    """The device's power draw in milliwatts (NVML)."""
    nv, handle = _nvml("power_draw", device)
    return int(nv.nvmlDeviceGetPowerUsage(handle))


def clock_rate(device: Any = None) -> int:
    """The device's SM clock in MHz (NVML)."""
    nv, handle = _nvml("clock_rate", device)
    return int(nv.nvmlDeviceGetClockInfo(handle, 1))  # NVML_CLOCK_SM


# ---------------------------------------------------------------- legacy tensor types
_LEGACY_TYPES = (
    "BFloat16Tensor",
    "BoolTensor",
    "ByteTensor",
    "CharTensor",
    "DoubleTensor",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "ShortTensor",
)
_legacy_made: dict[str, type] = {}


def _legacy_call(cls: Any, *args: Any, device: Any = None) -> Any:
    """A CUDA legacy type's constructor: torch's TypeError without CUDA, else bp.FloatTensor & co.'s on "cuda"."""
    if not is_available():
        raise TypeError(f"type torch.cuda.{cls.__name__} not available: {unavailable_reason() or 'no CUDA device'}")
    return super(type(cls), cls).__call__(*args, device=device)


def _legacy_type(name: str) -> type:
    """``bp.cuda.FloatTensor`` & co.: bp.FloatTensor's metaclass (backprop.legacy, a layer above this module,
    looked up at first use) with ``is_cuda`` set, so ``isinstance`` checks the device and calls make CUDA tensors."""
    made = _legacy_made.get(name)
    if made is None:
        import backprop

        legacy = backprop.legacy
        meta = type("_CudaTensorTypeMeta", (legacy._TensorTypeMeta,), {"__call__": _legacy_call})
        attrs = {"dtype_name": legacy._BY_NAME[name], "is_cuda": True, "__doc__": f"torch.cuda.{name}"}
        made = _legacy_made[name] = meta(name, (), attrs)
    return made


def __getattr__(name: str) -> Any:
    """The legacy CUDA tensor types (``bp.cuda.FloatTensor`` & co.), made on first use."""
    if name in _LEGACY_TYPES:
        return _legacy_type(name)
    raise AttributeError(f"module 'backprop.cuda' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the legacy tensor types included."""
    return sorted({*globals(), *_LEGACY_TYPES})
