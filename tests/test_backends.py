"""Backend discovery, the plug-in entry point, CUDA fallback, and the registry's introspection."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import backends, registry
from backprop.registry import clear_kernel_cache

PLUGIN = textwrap.dedent(
    '''
    """A third-party backend: NumPy arrays on a pretend device type "fake"."""
    import numpy as np
    from backprop.backends import Backend

    class FakeBackend(Backend):
        name = "fakenp"
        device_type = "fake"
        calls = 0

        def __init__(self):
            self._rng = np.random.default_rng(0)

        def is_available(self):
            return True

        @property
        def xp(self):
            return np

        @property
        def array_type(self):
            return np.ndarray

        def from_host(self, array, index=0):
            return np.array(array, copy=True)

        def to_host(self, array):
            return np.asarray(array)

        def rng(self, index=0):
            return self._rng

        def manual_seed(self, seed):
            self._rng = np.random.default_rng(seed)

        def overrides(self):
            def counting_exp(xp, x):
                FakeBackend.calls += 1
                return xp.exp(x)
            return {"exp": counting_exp}
    '''
)


@pytest.fixture
def fake_plugin(tmp_path: Path):
    """Install a plug-in package with a ``backprop.backends`` entry point on sys.path."""
    (tmp_path / "fakeplugin.py").write_text(PLUGIN)
    dist = tmp_path / "fakeplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[backprop.backends]\nfake = fakeplugin:FakeBackend\n")
    sys.path.insert(0, str(tmp_path))
    backends._entry_points_loaded = False
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        backends.unregister_backend("fake")
        backends._entry_points_loaded = False
        sys.modules.pop("fakeplugin", None)
        clear_kernel_cache()


def test_entry_point_backend_runs_a_graph_with_its_override(fake_plugin: None) -> None:
    x = bp.tensor([0.0, 1.0], device="fake", requires_grad=True)
    assert str(x.device) == "fake:0"
    y = (x.exp() * 2).sum()
    y.backward()
    import fakeplugin

    assert fakeplugin.FakeBackend.calls == 1  # dispatch picked the backend's exp kernel
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([0.0, 1.0]), rtol=1e-6)
    assert "exp" in registry.overrides()["fakenp"]
    back = x.detach().cpu()
    assert back.device == "cpu"


def test_mixing_devices_names_both(fake_plugin: None) -> None:
    with pytest.raises(RuntimeError, match=r"same device.*cpu and fake:0"):
        bp.ones(2) + bp.ones(2, device="fake")


def test_registry_is_introspectable() -> None:
    ops = registry.list_ops()
    for name in ("add", "matmul", "cross_entropy", "getitem", "logsumexp"):
        assert name in ops
    assert registry.get("exp").save_output and registry.get("mul").save_inputs == (0, 1)
    assert set(registry.overrides()) >= {"numpy", "cupy"}
    with pytest.raises(KeyError, match="no op named"):
        registry.get("nope")


def test_cuda_probe_reports_a_reason_when_unusable() -> None:
    if bp.cuda.is_available():
        assert bp.cuda.device_count() >= 1 and bp.cuda.unavailable_reason() == ""
    else:
        assert bp.cuda.device_count() == 0
        assert bp.cuda.unavailable_reason()  # CuPy missing, or the runtime's error, kept verbatim


def test_auto_device_falls_back_to_cpu_without_cuda() -> None:
    dev = bp.device("auto")
    assert dev.type == ("cuda" if bp.cuda.is_available() else "cpu")


def test_import_does_not_import_cupy() -> None:
    import subprocess

    code = "import sys, backprop; import backprop.nn.functional; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("index", "shape", "gy_shape"),
    [
        ((np.array([3, 1, 3, 3, 0]),), (6, 4), (5, 4)),  # repeated rows accumulate
        ((np.array([[1, -1], [2, 1]]),), (5, 3), (2, 2, 3)),  # 2-D ids (an LM batch), negative id
        ((np.array([2, 2, 0]),), (4,), (3,)),  # 1-D tensor
        ((np.random.default_rng(1).integers(-50, 50, (300, 4)),), (50, 8), (300, 4, 8)),  # sparse path
        ((np.array([True, False, True, False]),), (4, 2), (2, 2)),  # mask: the override defers
        ((slice(1, 3),), (4, 2), (2, 2)),  # basic index: the override defers
    ],
)
def test_numpy_getitem_grad_override_equals_generic(index, shape, gy_shape) -> None:
    from backprop.backends import get_backend

    from backprop.ops.indexing import getitem_grad

    gy = np.random.default_rng(0).standard_normal(gy_shape)
    fast = getitem_grad.kernel(get_backend("cpu"))(gy, index=index, shape=shape)
    slow = getitem_grad.forward(np, gy, index=index, shape=shape)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_dlpack_round_trip_with_numpy_and_torch() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = bp.from_dlpack(a)
    assert t.device == "cpu" and t.tolist() == a.tolist()
    a[0, 0] = 42  # shares memory, as DLPack promises
    assert t.detach().numpy()[0, 0] == 42
    back = np.from_dlpack(bp.tensor([[1.0, 2.0]]))
    assert back.tolist() == [[1.0, 2.0]]
    torch = pytest.importorskip("torch", reason="torch is not installed (optional interop check)")
    tt = torch.arange(4, dtype=torch.float64)
    assert bp.from_dlpack(tt).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert torch.from_dlpack(bp.tensor([1.5, 2.5])).tolist() == [1.5, 2.5]


def _cupy_kernels_with_stub(monkeypatch: pytest.MonkeyPatch) -> tuple[object, list]:
    """``backends/cupy_kernels.py`` loaded against a stand-in ``cupy`` whose kernels record their calls.

    The overrides' guards are plain Python, so they can be checked on any machine; the kernels
    themselves only run on a GPU (the op table's CUDA rows)."""
    import importlib.util
    import types

    calls: list = []

    class Kernel:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.name = args[-1] if args else kwargs.get("name")

        def __call__(self, *args: object) -> None:
            calls.append(self.name)

    cupy = types.ModuleType("cupy")
    cupy.dtype = np.dtype  # type: ignore[attr-defined]
    cupy.ElementwiseKernel = Kernel  # type: ignore[attr-defined]
    cupy.RawKernel = Kernel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", types.ModuleType("cupyx"))
    path = Path(__file__).resolve().parents[1] / "backends" / "cupy_kernels.py"
    spec = importlib.util.spec_from_file_location("_cupy_kernels_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, calls


def test_fused_optimizer_updates_fall_back_on_mixed_dtypes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parameter, gradient and state of different float dtypes take the generic update (NotImplemented),
    where the one-type fused kernel would raise CuPy's "Type is mismatched"."""
    kernels, calls = _cupy_kernels_with_stub(monkeypatch)
    f32, f64 = np.zeros(3, np.float32), np.zeros(3, np.float64)
    sgd, adam = kernels.OVERRIDES["optim.sgd_momentum"], kernels.OVERRIDES["optim.adam"]
    assert sgd(f32, f64, f32, 0.1, 0.9, 0.0) is NotImplemented
    assert sgd(f32, f32, f64, 0.1, 0.9, 0.0) is NotImplemented
    assert adam(f64, f64, f64, f32, 0.9, 0.999, 1e-3, 1.0, 1e-8) is NotImplemented
    assert sgd(np.zeros(3, np.float16), np.zeros(3, np.float16), np.zeros(3, np.float16), 0.1, 0.9, 0.0) is (
        NotImplemented
    )
    assert calls == []
    assert sgd(f32, f32, f32.copy(), 0.1, 0.9, 0.0) is None
    assert adam(f64, f64, f64.copy(), f64.copy(), 0.9, 0.999, 1e-3, 1.0, 1e-8) is None
    assert calls == ["bp_sgd_momentum", "bp_adam"]


_FAULTS = textwrap.dedent(
    """
    import resource, numpy as np, backprop
    def step():
        a = np.empty(10_000_000, np.float32)  # 40 MB, above glibc's largest dynamic mmap threshold
        a.fill(1.0)                           # touch every page
    step(); step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc thresholds: Linux only")
def test_malloc_cache_keeps_large_freed_buffers_mapped() -> None:
    """With the cache (the default) a freed 40 MB buffer is reused without new page faults; with
    BACKPROP_MALLOC_CACHE=0 every step faults its pages in again (glibc returns them on free)."""
    import os
    import subprocess

    from backprop.backends.numpy_backend import MALLOC_CACHE_DEFAULT, set_malloc_cache

    if not set_malloc_cache(MALLOC_CACHE_DEFAULT):
        pytest.skip("not glibc: the cache is not available here")

    def faults(env_value: str | None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "BACKPROP_MALLOC_CACHE"}
        if env_value is not None:
            env["BACKPROP_MALLOC_CACHE"] = env_value
        out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    cached, uncached = faults(None), faults("0")
    assert uncached >= 5, f"expected page faults without the cache, got {uncached}"
    assert cached < uncached / 4, f"{cached} page faults with the cache vs {uncached} without"


def test_malloc_cache_env_must_be_a_number() -> None:
    import subprocess

    env = {"BACKPROP_MALLOC_CACHE": "lots", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", "import backprop"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "BACKPROP_MALLOC_CACHE must be a number of bytes" in out.stderr
