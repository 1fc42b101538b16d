"""``bp.cuda``'s torch.cuda names beyond the basics: device properties, memory statistics, generator states,
sync debugging, streams, NVTX, NVML readings, legacy CUDA tensor types, and the refused CUDA graphs.

Without CUDA, each answer is compared with a CPU-only torch's where torch's is benign, and the rest must
raise an error naming the function and why; the CUDA paths run on the NumPy-backed CuPy stand-in.
"""

from __future__ import annotations

import inspect
import sys
import types
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from cupy_standin import use_standin

import backprop as bp

NO_CUDA = pytest.mark.skipif(bp.cuda.is_available(), reason="checks the CPU-only behaviour; a CUDA device is usable")
MiB = 1 << 20


@pytest.fixture
def cp():
    """The stand-in ``cupy`` serving ``device="cuda"`` (one device) for this test only."""
    with use_standin() as module:
        yield module


@pytest.fixture
def cp2():
    """The stand-in with two devices."""
    with use_standin(device_count=2) as module:
        yield module


def _cpu_only_torch():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA device here: its answers are not the CPU-only ones")
    return torch


# ---------------------------------------------------------------- names


def test_every_name_in_all_exists_is_documented_and_is_torch_cudas() -> None:
    bp_only = {"unavailable_reason"}  # backprop's: why CUDA is not usable here
    torch = pytest.importorskip("torch")
    missing = [n for n in bp.cuda.__all__ if not hasattr(bp.cuda, n)]
    assert not missing
    undocumented = [n for n in bp.cuda.__all__ if callable(getattr(bp.cuda, n)) and not getattr(bp.cuda, n).__doc__]
    assert not undocumented
    assert [n for n in bp.cuda.__all__ if not hasattr(torch.cuda, n)] == sorted(bp_only)
    for name in ("FloatTensor", "LongTensor", "BoolTensor"):
        assert name in dir(bp.cuda)


def test_public_functions_have_type_hints() -> None:
    for name in bp.cuda.__all__:
        obj = getattr(bp.cuda, name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, name
            params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            assert all(p.annotation is not inspect.Parameter.empty for p in params), name


# ---------------------------------------------------------------- without CUDA: torch's benign answers


@NO_CUDA
def test_benign_answers_match_cpu_only_torch(monkeypatch) -> None:
    torch = _cpu_only_torch()
    for name, args in [
        ("is_bf16_supported", ()),
        ("is_bf16_supported", (False,)),
        ("is_tf32_supported", ()),
        ("get_rng_state_all", ()),
        ("set_rng_state_all", ([],)),
        ("seed", ()),
        ("seed_all", ()),
        ("memory_allocated", ()),
        ("max_memory_allocated", ()),
        ("memory_reserved", ()),
        ("max_memory_reserved", ()),
        ("memory_stats", ()),
        ("memory_stats_as_nested_dict", ()),
        ("get_arch_list", ()),
        ("get_gencode_flags", ()),
        ("empty_cache", ()),
        ("set_stream", (None,)),
        ("is_initialized", ()),
        ("device_count", ()),
    ]:
        ours, theirs = getattr(bp.cuda, name)(*args), getattr(torch.cuda, name)(*args)
        assert ours == theirs and type(ours) is type(theirs), (name, ours, theirs)
    assert bp.cuda.set_rng_state(bp.zeros(16, dtype=bp.uint8)) is None  # torch queues it, never runs it
    with pytest.warns(FutureWarning, match="renamed to `torch.cuda.memory_reserved`"):
        assert bp.cuda.memory_cached() == 0
    with pytest.warns(FutureWarning, match="renamed to `torch.cuda.max_memory_reserved`"):
        assert bp.cuda.max_memory_cached() == 0
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ModuleNotFoundError
    assert bp.cuda.list_gpu_processes() == torch.cuda.list_gpu_processes()
    assert repr(bp.cuda.FloatTensor) == repr(torch.cuda.FloatTensor) == "<class 'torch.cuda.FloatTensor'>"
    with bp.cuda.device_of(bp.zeros(2)):  # a CPU tensor: nothing changes, as torch's
        pass


_NEEDS_CUDA = [
    ("init", ()),
    ("ipc_collect", ()),
    ("initial_seed", ()),
    ("get_rng_state", ()),
    ("mem_get_info", ()),
    ("get_device_properties", (0,)),
    ("can_device_access_peer", (0, 1)),
    ("memory_summary", ()),
    ("reset_peak_memory_stats", ()),
    ("reset_accumulated_memory_stats", ()),
    ("set_per_process_memory_fraction", (0.5,)),
    ("get_per_process_memory_fraction", ()),
    ("set_sync_debug_mode", ("warn",)),
    ("get_sync_debug_mode", ()),
    ("is_current_stream_capturing", ()),
    ("ExternalStream", (0,)),
]


@NO_CUDA
@pytest.mark.parametrize(("name", "args"), _NEEDS_CUDA, ids=[n for n, _ in _NEEDS_CUDA])
def test_without_cuda_the_others_raise_naming_the_function_and_why(name: str, args: tuple) -> None:
    with pytest.raises(RuntimeError, match=rf"bp\.cuda\.{name} requires CUDA support: ") as info:
        getattr(bp.cuda, name)(*args)
    assert bp.cuda.unavailable_reason() in str(info.value)


@NO_CUDA
def test_without_cuda_legacy_types_refuse_as_torch_and_deprecated_resets_warn(monkeypatch) -> None:
    with pytest.raises(TypeError, match=r"type torch\.cuda\.FloatTensor not available: "):
        bp.cuda.FloatTensor(2)
    with pytest.raises(TypeError, match=r"type torch\.cuda\.LongTensor not available"):
        bp.cuda.LongTensor([1, 2])
    assert not isinstance(bp.zeros(2), bp.cuda.FloatTensor) and isinstance(bp.zeros(2), bp.FloatTensor)
    with pytest.warns(FutureWarning, match="reset_peak_memory_stats"), pytest.raises(RuntimeError, match="requires"):
        bp.cuda.reset_max_memory_allocated()
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ModuleNotFoundError
    with pytest.raises(ModuleNotFoundError, match=r"bp\.cuda\.utilization: nvidia-ml-py"):
        bp.cuda.utilization()


def test_nvtx_ranges_nest_and_return_depths() -> None:
    nvtx = bp.cuda.nvtx
    assert nvtx.range_push("outer") == 0
    with nvtx.range("step {}", 3):
        assert nvtx.range_push("inner") == 2
        assert nvtx.range_pop() == 2
        nvtx.mark("here")
    assert nvtx.range_pop() == 0
    assert nvtx.range_pop() == -1  # nothing open


def test_cuda_graphs_are_named_and_refused_clearly() -> None:
    assert bp.cuda.graphs.CUDAGraph is bp.cuda.CUDAGraph and bp.cuda.graphs.graph is bp.cuda.graph
    for make in (bp.cuda.CUDAGraph, lambda: bp.cuda.graph(None), lambda: bp.cuda.make_graphed_callables(abs, ())):
        with pytest.raises(NotImplementedError, match="cannot capture CUDA graphs"):
            make()
    assert "not implemented" in bp.cuda.CUDAGraph.__doc__.lower()


def test_cuda_error_carries_its_code() -> None:
    err = bp.cuda.CudaError(2)
    assert isinstance(err, RuntimeError) and err.code == 2 and "CUDA error 2" in str(err)


# ---------------------------------------------------------------- with CUDA (the stand-in)


def test_memory_stats_agree_with_the_pool_counters(cp) -> None:
    bp.cuda.empty_cache()
    base = bp.cuda.memory_allocated()
    before = bp.cuda.memory_stats()
    x = bp.zeros(MiB // 4, device="cuda")  # float32: 1 MiB
    stats = bp.cuda.memory_stats()
    assert list(stats) == sorted(stats) and isinstance(stats, OrderedDict)
    assert stats["allocated_bytes.all.current"] == bp.cuda.memory_allocated() == base + MiB
    assert stats["reserved_bytes.all.current"] == bp.cuda.memory_reserved()
    assert stats["allocation.all.allocated"] == before["allocation.all.allocated"] + 1
    assert stats["allocated_bytes.all.allocated"] == before["allocated_bytes.all.allocated"] + MiB
    nested = bp.cuda.memory_stats_as_nested_dict()
    assert nested["allocated_bytes"]["all"]["current"] == base + MiB and nested["num_ooms"] == 0
    del x
    assert bp.cuda.memory_allocated() == base
    assert bp.cuda.memory_reserved() == base + MiB  # cached by the pool
    assert bp.cuda.max_memory_reserved() == base + MiB == bp.cuda.memory_stats()["reserved_bytes.all.peak"]
    bp.cuda.empty_cache()
    assert bp.cuda.max_memory_reserved() == base + MiB  # a peak stays until reset
    with pytest.warns(FutureWarning):
        bp.cuda.reset_max_memory_cached()
    assert bp.cuda.max_memory_reserved() == bp.cuda.memory_reserved() == base
    assert bp.cuda.max_memory_allocated() == base
    with pytest.warns(FutureWarning):
        assert bp.cuda.memory_cached() == bp.cuda.memory_reserved()
    bp.cuda.reset_accumulated_memory_stats()
    stats = bp.cuda.memory_stats()
    assert stats["allocation.all.allocated"] == stats["allocated_bytes.all.allocated"] == 0
    summary = bp.cuda.memory_summary()
    assert "device ID 0" in summary and "Allocated memory" in summary and "Pool limit" in summary


def test_memory_fraction_caps_the_pool_and_counts_the_oom(cp) -> None:
    total = bp.cuda.mem_get_info()[1]
    assert total == cp.cuda.runtime.getDeviceProperties(0)["totalGlobalMem"]
    assert bp.cuda.mem_get_info()[0] == total - bp.cuda.memory_reserved()
    assert bp.cuda.get_per_process_memory_fraction() == 1.0
    with pytest.raises(TypeError, match="must be `float`"):
        bp.cuda.set_per_process_memory_fraction(1)
    with pytest.raises(ValueError, match="Allowed range: 0~1"):
        bp.cuda.set_per_process_memory_fraction(1.5)
    bp.cuda.empty_cache()
    fraction = 3 * MiB / total  # room for 3 MiB
    bp.cuda.set_per_process_memory_fraction(fraction)
    assert cp.get_default_memory_pool().get_limit() == int(fraction * total)
    assert bp.cuda.get_per_process_memory_fraction() == pytest.approx(fraction)
    keep = bp.zeros(MiB // 2, device="cuda")  # 2 MiB
    with pytest.raises(bp.cuda.OutOfMemoryError):
        bp.zeros(MiB // 2, device="cuda")
    stats = bp.cuda.memory_stats()
    assert stats["num_alloc_retries"] == 1 and stats["num_ooms"] == 1
    del keep
    bp.cuda.set_per_process_memory_fraction(1.0)
    assert bp.cuda.get_per_process_memory_fraction() == 1.0


def test_device_properties_and_capabilities(cp2) -> None:
    props = bp.cuda.get_device_properties()
    raw = cp2.cuda.runtime.getDeviceProperties(0)
    assert props.name == raw["name"].decode() == bp.cuda.get_device_name()
    assert (props.major, props.minor) == (raw["major"], raw["minor"]) == bp.cuda.get_device_capability()
    assert props.total_memory == raw["totalGlobalMem"]
    assert props.multi_processor_count == raw["multiProcessorCount"] == 132
    assert props.warp_size == 32 and props.L2_cache_size == raw["l2CacheSize"]
    assert props.uuid == "GPU-00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert "multi_processor_count=132" in repr(props) and "total_memory=81920MB" in repr(props)
    assert bp.cuda.get_device_properties("cuda:1").pci_bus_id == 2 == raw["pciBusID"] + 1
    assert bp.cuda.is_tf32_supported() is True  # compute capability 9.0
    assert bp.cuda.is_bf16_supported() is False  # CuPy has no bfloat16 arrays
    assert bp.cuda.get_arch_list() == ["sm_90"]
    assert bp.cuda.get_gencode_flags() == "-gencode compute=compute_90,code=sm_90"
    assert bp.cuda.can_device_access_peer(0, 1) is True and bp.cuda.can_device_access_peer(1, 1) is False
    with pytest.raises(AssertionError, match="invalid peer device id 2"):
        bp.cuda.can_device_access_peer(0, 2)
    assert bp.cuda.init() is None and bp.cuda.ipc_collect() is None


def test_rng_state_round_trips_the_same_numbers(cp) -> None:
    bp.cuda.manual_seed(5)
    assert bp.cuda.initial_seed() == 5
    state = bp.cuda.get_rng_state()
    assert state.dtype == bp.uint8 and state.device.type == "cpu"
    a = bp.randn(6, device="cuda").numpy()
    b = bp.randn(6, device="cuda").numpy()
    assert not np.array_equal(a, b)
    bp.cuda.set_rng_state(state)
    np.testing.assert_array_equal(bp.randn(6, device="cuda").numpy(), a)
    mid = bp.cuda.get_rng_state()  # taken mid-stream, and taking it does not move the stream
    np.testing.assert_array_equal(bp.randn(6, device="cuda").numpy(), b)
    bp.cuda.set_rng_state(mid)
    np.testing.assert_array_equal(bp.randn(6, device="cuda").numpy(), b)
    with pytest.raises(RuntimeError, match="not a CUDA state"):
        bp.cuda.set_rng_state(bp.get_rng_state())  # the CPU generator's
    with pytest.raises(TypeError, match="uint8"):
        bp.cuda.set_rng_state(bp.zeros(3))
    bp.cuda.seed()
    assert bp.cuda.initial_seed() != 5  # (a 63-bit draw from the OS)


def test_rng_state_all_covers_each_device(cp2) -> None:
    bp.cuda.manual_seed(1)
    for i in range(2):
        bp.rand(3, device=f"cuda:{i}")  # mid-stream: a restore must not just restart from the seed
    states = bp.cuda.get_rng_state_all()
    assert len(states) == 2
    first = [bp.rand(4, device=f"cuda:{i}").numpy() for i in range(2)]
    assert not np.array_equal(first[0], first[1])  # device N starts from seed + N
    bp.cuda.set_rng_state_all(states)
    for i in range(2):
        np.testing.assert_array_equal(bp.rand(4, device=f"cuda:{i}").numpy(), first[i])


def test_fork_rng_now_restores_the_cuda_stream(cp) -> None:
    bp.manual_seed(3)
    bp.randn(2, device="cuda")  # mid-stream: a restore must not just restart from the seed
    with bp.random.fork_rng(devices=[0]):
        inside = bp.randn(5, device="cuda").numpy()
    np.testing.assert_array_equal(bp.randn(5, device="cuda").numpy(), inside)


def test_sync_debug_mode_warns_or_raises_on_host_copies(cp) -> None:
    x = bp.ones(3, device="cuda")
    assert bp.cuda.get_sync_debug_mode() == 0
    bp.cuda.set_sync_debug_mode("warn")
    assert bp.cuda.get_sync_debug_mode() == 1
    with pytest.warns(UserWarning, match="synchronizing CUDA operation"):
        assert x.sum().item() == 3.0
    bp.cuda.set_sync_debug_mode(2)
    with pytest.raises(RuntimeError, match="synchronizing CUDA operation"):
        x.numpy()
    y = x * 2  # device work is still fine
    bp.cuda.set_sync_debug_mode("default")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert y.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="expected one of `default`, `warn`, `error`"):
        bp.cuda.set_sync_debug_mode("loud")


def test_streams_external_set_and_capturing(cp) -> None:
    assert bp.cuda.is_current_stream_capturing() is False
    ext = bp.cuda.ExternalStream(0x1234)
    assert ext.cuda_stream == 0x1234 and isinstance(ext, bp.cuda.Stream) and ext.device_index == 0
    with bp.cuda.stream(ext):
        assert bp.cuda.current_stream() == ext
    assert bp.cuda.current_stream() != ext
    s = bp.cuda.Stream()
    bp.cuda.set_stream(s)
    assert bp.cuda.current_stream() == s
    bp.cuda.set_stream(bp.cuda.default_stream())
    assert bp.cuda.current_stream().cuda_stream == 0


def test_nvtx_goes_to_cupy_when_it_has_nvtx(cp) -> None:
    with bp.cuda.nvtx.range("step {}", 3):
        bp.cuda.nvtx.mark("m")
    assert cp.cuda.nvtx.CALLS == [("push", "step 3"), ("mark", "m"), ("pop",)]


def test_legacy_cuda_tensor_types_make_cuda_tensors(cp) -> None:
    t = bp.cuda.FloatTensor(2, 3)
    assert t.device == "cuda:0" and t.dtype == bp.float32 and t.shape == (2, 3) and not t.numpy().any()
    assert isinstance(t, bp.cuda.FloatTensor) and not isinstance(t, bp.FloatTensor)
    assert not isinstance(t, bp.cuda.DoubleTensor) and not isinstance(bp.zeros(2), bp.cuda.FloatTensor)
    ids = bp.cuda.LongTensor([1, 2])
    assert ids.device == "cuda:0" and ids.dtype == bp.int64 and ids.tolist() == [1, 2]
    assert bp.cuda.BoolTensor([True]).dtype == bp.bool
    d = t.type(bp.cuda.DoubleTensor)
    assert d.dtype == bp.float64 and d.device == "cuda:0" and d.type() == "torch.cuda.DoubleTensor"
    assert bp.zeros(2).type(bp.cuda.HalfTensor).device == "cuda:0"
    assert bp.cuda.FloatTensor is bp.cuda.FloatTensor  # made once


def test_device_of_makes_the_tensors_device_current(cp2) -> None:
    x = bp.zeros(2, device="cuda:1")
    assert bp.cuda.current_device() == 0
    with bp.cuda.device_of(x):
        assert bp.cuda.current_device() == 1
    assert bp.cuda.current_device() == 0
    with bp.cuda.device_of(bp.zeros(2)):
        assert bp.cuda.current_device() == 0


def test_nvml_readings_find_the_device_by_pci_bus_id(cp2, monkeypatch) -> None:
    seen: list[str] = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None
    fake.nvmlDeviceGetHandleByPciBusId = lambda bus: seen.append(bus) or bus
    fake.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=37, memory=5)
    fake.nvmlDeviceGetTemperature = lambda h, sensor: 61 if sensor == 0 else -1
    fake.nvmlDeviceGetPowerUsage = lambda h: 123456
    fake.nvmlDeviceGetClockInfo = lambda h, kind: 1980 if kind == 1 else -1
    fake.nvmlDeviceGetComputeRunningProcesses = lambda h: [types.SimpleNamespace(pid=42, usedGpuMemory=3 * MiB)]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert bp.cuda.utilization("cuda:1") == 37 and seen == ["0000:02:00.0"]
    assert bp.cuda.temperature() == 61 and seen[-1] == "0000:01:00.0"
    assert bp.cuda.power_draw() == 123456 and bp.cuda.clock_rate() == 1980
    assert bp.cuda.list_gpu_processes(1) == "GPU:1\nprocess         42 uses 3.00 MB GPU memory"
