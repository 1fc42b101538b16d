"""torch's utility modules: bp.utils._pytree / hooks / benchmark / collect_env, bp.__config__,
bp.multiprocessing, bp.hub, bp.cuda streams and events, bp.mps, bp.backends.cuda and bp.overrides,
against torch where it gives a comparable result, against closed forms otherwise."""

from __future__ import annotations

import collections
import multiprocessing as std_mp
import os
import sys
import warnings

import backprop.backends.cuda as bp_backends_cuda
import numpy as np
import pytest

import backprop as bp
import backprop.__config__ as bp_config
import backprop.hub as hub
import backprop.mps as mps
import backprop.multiprocessing as bmp
import backprop.overrides as overrides
import backprop.utils._pytree as pytree
from backprop.utils import benchmark, collect_env, hooks

try:
    import torch
    import torch.utils._pytree as tpytree
except ImportError:
    torch = None  # type: ignore[assignment]
    tpytree = None  # type: ignore[assignment]
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")
needs_cuda = pytest.mark.skipif(not bp.cuda.is_available(), reason="no usable CUDA device (CuPy + driver)")

Point = collections.namedtuple("Point", "x y")


def _trees() -> list:
    return [
        1,
        None,
        [],
        (),
        {},
        [1, (2, 3)],
        {"b": 1, "a": [2, None]},
        {"a": [1, (2, 3)], "b": None, "c": collections.OrderedDict(x=4)},
        Point(1, [2, 3]),
        collections.defaultdict(int, {"k": (1, 2)}),
        collections.deque([1, 2], maxlen=3),
        [[1], {"a": 2}, (Point(3, 4),)],
    ]


# ---------------------------------------------------------------- _pytree
@needs_torch
@pytest.mark.parametrize("index", range(len(_trees())))
def test_pytree_flatten_matches_torch(index: int) -> None:
    tree = _trees()[index]
    leaves, spec = pytree.tree_flatten(tree)
    t_leaves, t_spec = tpytree.tree_flatten(tree)
    assert leaves == t_leaves
    assert repr(spec) == repr(t_spec)
    assert spec.num_leaves == t_spec.num_leaves and spec.num_nodes == t_spec.num_nodes
    rebuilt = pytree.tree_unflatten([x * 10 if isinstance(x, int) else x for x in leaves], spec)
    expected = tpytree.tree_unflatten([x * 10 if isinstance(x, int) else x for x in t_leaves], t_spec)
    assert rebuilt == expected and type(rebuilt) is type(expected)


def test_pytree_roundtrip_and_structure() -> None:
    tree = {"a": [1, (2, 3)], "b": Point(4, 5)}
    leaves, spec = pytree.tree_flatten(tree)
    assert leaves == [1, 2, 3, 4, 5]
    assert pytree.tree_unflatten(leaves, spec) == tree
    assert isinstance(pytree.tree_unflatten(leaves, spec)["b"], Point)
    assert pytree.tree_structure([1, 2]) == pytree.tree_structure([3, 4])
    assert pytree.tree_structure([1, 2]) != pytree.tree_structure((3, 4))
    assert pytree.tree_structure({"a": 1}) != pytree.tree_structure({"b": 1})
    assert hash(pytree.tree_structure([1, {"a": 2}])) == hash(pytree.tree_structure([5, {"a": 6}]))
    assert pytree.tree_structure(7) == pytree.LeafSpec() and repr(pytree.LeafSpec()) == "*"
    assert pytree.LeafSpec().is_leaf() and not spec.is_leaf()
    assert spec.type is dict and spec.context == ["a", "b"] and spec.child(1).context is Point
    assert pytree.tree_leaves([1, [2, 3]], is_leaf=lambda x: x == [2, 3]) == [1, [2, 3]]


def test_pytree_maps_and_predicates() -> None:
    tree = {"a": [1, "s", 2.5], "b": (3,)}
    assert pytree.tree_map(lambda x: x * 2, tree) == {"a": [2, "ss", 5.0], "b": (6,)}
    assert pytree.tree_map(lambda a, b: a + b, [1, (2,)], [10, (20,)]) == [11, (22,)]
    assert pytree.tree_map(lambda a, b: a - b, {"x": 1, "y": 2}, {"y": 20, "x": 10}) == {"x": -9, "y": -18}
    assert pytree.tree_map_only(int, lambda x: -x, tree) == {"a": [-1, "s", 2.5], "b": (-3,)}
    assert pytree.tree_map_only((int, float), lambda x: -x, [1, "s", 2.5]) == [-1, "s", -2.5]
    assert pytree.tree_map_only(int | float, lambda x: 0, [1, "s", 2.5]) == [0, "s", 0]
    assert pytree.tree_map_only(lambda x: x == "s", str.upper, [1, "s"]) == [1, "S"]
    assert pytree.tree_all(lambda x: x > 0, [1, (2,)]) and not pytree.tree_all(lambda x: x > 1, [1, (2,)])
    assert pytree.tree_any(lambda x: x > 1, [1, (2,)]) and not pytree.tree_any(lambda x: x > 2, [1, (2,)])
    assert pytree.tree_all_only(int, lambda x: x > 0, [1, "s"]) and pytree.tree_any_only(str, bool, [0, "s"])


def test_pytree_errors() -> None:
    spec = pytree.tree_structure([1, 2])
    with pytest.raises(ValueError, match="has length 1 but the spec refers to a pytree that holds 2"):
        pytree.tree_unflatten([1], spec)
    with pytest.raises(ValueError, match="arity mismatch; expected 2, but got 3"):
        pytree.tree_map(lambda a, b: a, [1, 2], [1, 2, 3])
    with pytest.raises(TypeError, match="Expected `treespec` to be instance of TreeSpec"):
        pytree.tree_unflatten([1], [1])  # type: ignore[arg-type]


@needs_torch
def test_pytree_errors_match_torch() -> None:
    with pytest.raises(ValueError, match="arity mismatch"):
        tpytree.tree_map(lambda a, b: a, [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="has length 1"):
        tpytree.tree_unflatten([1], tpytree.tree_structure([1, 2]))


def test_register_pytree_node() -> None:
    class Pair:
        def __init__(self, a: object, b: object) -> None:
            self.a, self.b = a, b

    pytree.register_pytree_node(Pair, lambda p: ([p.a, p.b], None), lambda v, c: Pair(*v))
    try:
        leaves, spec = pytree.tree_flatten(Pair(1, [2, 3]))
        assert leaves == [1, 2, 3]
        assert repr(spec) == "TreeSpec(Pair, None, [*,\n  TreeSpec(list, None, [*,\n    *])])"
        back = pytree.tree_map(lambda x: x + 1, Pair(1, [2, 3]))
        assert isinstance(back, Pair) and back.a == 2 and back.b == [3, 4]
        with pytest.raises(ValueError, match="already registered"):
            pytree.register_pytree_node(Pair, lambda p: ([], None), lambda v, c: None)
    finally:
        pytree.SUPPORTED_NODES.pop(Pair)


def test_pytree_maps_tensors() -> None:
    tree = {"w": bp.ones(2), "n": 3}
    out = pytree.tree_map_only(bp.Tensor, lambda t: t * 2, tree)
    assert out["n"] == 3 and np.array_equal(out["w"].numpy(), [2.0, 2.0])


# ---------------------------------------------------------------- hooks
def test_hooks_handle_and_unserializable() -> None:
    from backprop.nn.module_hooks import RemovableHandle

    assert hooks.RemovableHandle is RemovableHandle
    lin = bp.nn.Linear(2, 2)
    calls: list[int] = []
    handle = lin.register_forward_hook(lambda m, i, o: calls.append(1))
    assert isinstance(handle, hooks.RemovableHandle)
    lin(bp.ones(1, 2))
    handle.remove()
    lin(bp.ones(1, 2))
    assert calls == [1]

    def plain(g: object) -> None:
        return None

    quiet = hooks.unserializable_hook(lambda g: None)
    assert getattr(quiet, "__torch_unserializable__", None) is True
    leaf = bp.ones(2, requires_grad=True)
    leaf.register_hook(quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hooks.warn_if_has_hooks(leaf)  # marked: silent
    leaf.register_hook(plain)
    with pytest.warns(UserWarning, match="will not be serialized"):
        hooks.warn_if_has_hooks(leaf)
    nonleaf = leaf * 2
    nonleaf.register_hook(plain)
    with pytest.warns(UserWarning, match="backward hook"):
        hooks.warn_if_has_hooks(nonleaf)


# ---------------------------------------------------------------- benchmark
def test_measurement_statistics_and_repr() -> None:
    spec = benchmark.TaskSpec("x + 1", "x = 1", label="add", sub_label="int", description="py")
    m = benchmark.Measurement(10, [1e-5, 2e-5, 3e-5, 4e-5, 5e-5], spec)
    assert m.times == pytest.approx([1e-6, 2e-6, 3e-6, 4e-6, 5e-6])
    assert m.mean == pytest.approx(3e-6) and m.median == pytest.approx(3e-6)
    assert m.iqr == pytest.approx(2e-6)  # linear quantiles: 4e-6 - 2e-6
    lines = repr(m).splitlines()
    assert lines[0].startswith("<backprop.utils.benchmark.Measurement object at 0x")
    assert lines[1:4] == ["add: int", "py", "setup: x = 1"]
    assert lines[4:7] == [
        "  Median: 3.00 us",
        "  IQR:    2.00 us (2.00 to 4.00)",
        "  5 measurements, 10 runs per measurement, 1 thread",
    ]
    assert "WARNING: Interquartile range is 66.7% of the median" in repr(m)
    single = benchmark.Measurement(100, [5e-7], benchmark.TaskSpec("f()", "pass", num_threads=2))
    assert repr(single).splitlines()[1:] == ["f()", "  5.00 ns", "  1 measurement, 100 runs , 2 threads"]
    assert m.label == "add" and m.num_threads == 1 and m.title == "add: int"
    with pytest.raises(ValueError, match="at least one time"):
        benchmark.Measurement(1, [], spec)


@needs_torch
def test_measurement_matches_torch() -> None:
    from torch.utils.benchmark.utils.common import Measurement as TMeasurement
    from torch.utils.benchmark.utils.common import TaskSpec as TTaskSpec

    raw = [float(v) for v in np.random.default_rng(0).uniform(1e-4, 2e-4, 12)]
    ours = benchmark.Measurement(7, raw, benchmark.TaskSpec("f(x)", "x = 1", label="L", description="d"))
    theirs = TMeasurement(7, raw, TTaskSpec("f(x)", "x = 1", label="L", description="d"))
    assert ours.median == pytest.approx(theirs.median) and ours.mean == pytest.approx(theirs.mean)
    assert ours.iqr == pytest.approx(theirs.iqr) and ours.significant_figures == theirs.significant_figures
    assert repr(ours).splitlines()[1:] == repr(theirs).splitlines()[1:]
    assert benchmark.select_unit(3e-5) == ("us", 1e-6) and benchmark.trim_sigfig(3.14159, 2) == pytest.approx(3.1)


def test_timer_runs_and_counts() -> None:
    counter = {"n": 0}

    def bump() -> None:
        counter["n"] += 1

    t = benchmark.Timer("bump()", globals={"bump": bump}, label="L", sub_label="s", description="d")
    m = t.timeit(50)
    assert m.number_per_run == 50 and len(m.times) == 1 and m.median > 0
    assert counter["n"] >= 50  # warm-up plus the timed block
    b = benchmark.Timer("x @ x", setup="x = bp.ones(4, 4)", description="bp").blocked_autorange(min_run_time=0.02)
    assert sum(b.raw_times) >= 0.02 and b.number_per_run >= 1 and len(b.times) >= 1
    assert benchmark.Timer("torch.ones(2)").timeit(3).task_spec.stmt == "torch.ones(2)"  # torch bound to backprop
    a = benchmark.Timer("y = 1").adaptive_autorange(threshold=0.5, min_run_time=0.01, max_run_time=0.5)
    assert len(a.times) >= 4 or sum(a.raw_times) > 0.5
    with pytest.raises(ValueError, match="num_threads"):
        benchmark.Timer("pass", num_threads=0)


def test_compare_table_layout() -> None:
    def m(desc: str, sub: str, threads: int, t: float) -> benchmark.Measurement:
        return benchmark.Measurement(
            1,
            [t] * 4,
            benchmark.TaskSpec("f()", "pass", label="L", sub_label=sub, description=desc, num_threads=threads),
        )

    table = str(benchmark.Compare([m("d", "s", 1, 8.9e-9), m("e", "s", 1, 8.7e-9), m("e", "s2", 2, 8.7e-9)]))
    assert table.splitlines() == [
        "[--------- L ----------]",
        "          |   d   |   e ",
        "1 threads: -------------",
        "      s   |  8.9  |  8.7",
        "2 threads: -------------",
        "      s2  |       |  8.7",
        "",
        "Times are in nanoseconds (ns).",
    ]
    with pytest.raises(ValueError, match="Measurement"):
        benchmark.Compare([1])  # type: ignore[list-item]


# ---------------------------------------------------------------- collect_env and __config__
def test_collect_env_and_config(capsys: pytest.CaptureFixture[str]) -> None:
    text = collect_env.get_pretty_env_info()
    assert f"backprop version: {bp.__version__}" in text
    assert f"NumPy version: {np.__version__}" in text and f"Python version: {sys.version.split()[0]}" in text
    assert "CuPy version:" in text and "Is CUDA available:" in text
    collect_env.main()
    assert "Collecting environment information" in capsys.readouterr().out
    assert f"NumPy {np.__version__}" in bp_config.show()
    info = bp_config.parallel_info()
    assert f"os.cpu_count() : {os.cpu_count()}" in info and "OMP_NUM_THREADS" in info
    assert f"num_threads : {bp.get_num_threads()}" in info


# ---------------------------------------------------------------- multiprocessing
def _square_into(rank: int, queue: object) -> None:
    queue.put((rank, rank * rank))  # type: ignore[attr-defined]


def _fail_on_one(rank: int) -> None:
    if rank == 1:
        raise ValueError("rank one is broken")


def _fork_or_skip() -> str:
    if "fork" not in std_mp.get_all_start_methods():
        pytest.skip("the fork start method is not available here (spawn would re-import the test module)")
    return "fork"


def test_multiprocessing_names_and_strategy() -> None:
    assert bmp.Process is std_mp.Process and bmp.cpu_count() == std_mp.cpu_count()
    assert bmp.get_sharing_strategy() in bmp.get_all_sharing_strategies()
    previous = bmp.get_sharing_strategy()
    try:
        bmp.set_sharing_strategy("file_system")
        assert bmp.get_sharing_strategy() == "file_system"
    finally:
        bmp.set_sharing_strategy(previous)
    with pytest.raises(ValueError, match="set_sharing_strategy"):
        bmp.set_sharing_strategy("shared_everything")


@needs_torch
def test_sharing_strategies_match_torch() -> None:
    import torch.multiprocessing as tmp

    assert bmp.get_all_sharing_strategies() == tmp.get_all_sharing_strategies()
    assert bmp.get_sharing_strategy() == tmp.get_sharing_strategy()


def test_spawn_runs_ranks_and_reports_errors() -> None:
    method = _fork_or_skip()
    ctx = std_mp.get_context(method)
    queue = ctx.SimpleQueue()
    try:
        bmp.spawn(_square_into, args=(queue,), nprocs=2, start_method=method)
    except OSError as exc:
        pytest.skip(f"processes cannot start here: {exc}")
    assert sorted(queue.get() for _ in range(2)) == [(0, 0), (1, 1)]
    with pytest.raises(
        bmp.ProcessRaisedException, match="(?s)Process 1 terminated with the following error.*rank one is broken"
    ) as info:
        bmp.start_processes(_fail_on_one, nprocs=2, start_method=method)
    assert info.value.error_index == 1
    context = bmp.start_processes(_fail_on_one, nprocs=1, join=False, start_method=method)
    assert isinstance(context, bmp.ProcessContext) and len(context.pids()) == 1
    while not context.join(timeout=5):
        pass


# ---------------------------------------------------------------- hub
HUBCONF = '''
dependencies = ["numpy"]

import backprop as bp


def tiny(out_features=2, scale=1.0):
    """A Linear(3, out_features) model."""
    m = bp.nn.Linear(3, out_features)
    m.scale = scale
    return m


def _private():
    return None
'''


def test_hub_local_load_list_help(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = os.path.join(str(tmp_path), "repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "hubconf.py"), "w") as f:
        f.write(HUBCONF)
    model = hub.load(repo, "tiny", 4, source="local", scale=2.0)
    assert isinstance(model, bp.nn.Linear) and model.weight.shape == (4, 3) and model.scale == 2.0
    assert hub.list(repo, source="local") == ["tiny"]
    assert hub.help(repo, "tiny", source="local") == "A Linear(3, out_features) model."
    with pytest.raises(RuntimeError, match="Cannot find callable nope in hubconf"):
        hub.load(repo, "nope", source="local")
    with pytest.raises(ValueError, match="unknown source"):
        hub.load(repo, "tiny", source="s3")
    with open(os.path.join(repo, "hubconf.py"), "a") as f:
        f.write("\ndependencies = ['no_such_package_xyz']\n")
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_package_xyz"):
        hub.load(repo, "tiny", source="local")


def test_hub_cache_and_no_download(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "_hub_dir", None)
    monkeypatch.setenv("BACKPROP_HOME", str(tmp_path))
    assert hub.get_dir() == os.path.join(str(tmp_path), "hub")
    hub.set_dir(os.path.join(str(tmp_path), "h"))
    assert hub.get_dir() == os.path.join(str(tmp_path), "h")
    url = "https://example.com/weights/tiny-123abc.pt"
    with pytest.raises(RuntimeError, match="never downloads"):
        hub.load_state_dict_from_url(url)
    with pytest.raises(RuntimeError, match="never downloads"):
        hub.download_url_to_file(url, os.path.join(str(tmp_path), "x.pt"))
    with pytest.raises(RuntimeError, match="never downloads.*owner/repo"):
        hub.load("owner/repo", "tiny")
    os.makedirs(os.path.join(hub.get_dir(), "checkpoints"))
    bp.save({"w": bp.arange(3)}, os.path.join(hub.get_dir(), "checkpoints", "tiny-123abc.pt"))
    state = hub.load_state_dict_from_url(url)
    assert np.array_equal(state["w"].numpy(), [0, 1, 2])
    checkout = os.path.join(hub.get_dir(), "owner_repo_main")
    os.makedirs(checkout)
    with open(os.path.join(checkout, "hubconf.py"), "w") as f:
        f.write(HUBCONF)
    assert hub.load("owner/repo", "tiny").weight.shape == (2, 3)  # cached GitHub checkout, torch's layout
    with pytest.raises(RuntimeError, match="never downloads"):
        hub.load("owner/repo", "tiny", force_reload=True)


# ---------------------------------------------------------------- cuda streams/events, mps, backends.cuda
@pytest.mark.skipif(bp.cuda.is_available(), reason="checks the CPU-only behaviour; a CUDA device is usable")
def test_cuda_streams_and_events_raise_without_cuda() -> None:
    for make in (bp.cuda.Event, bp.cuda.Stream, bp.cuda.current_stream, bp.cuda.default_stream):
        with pytest.raises(RuntimeError, match="requires CUDA support"):
            make()
    with bp.cuda.stream(None) as s:  # None is a no-op, as torch
        assert s is None


@needs_cuda
def test_cuda_streams_and_events_on_gpu() -> None:
    start, end = bp.cuda.Event(enable_timing=True), bp.cuda.Event(enable_timing=True)
    side = bp.cuda.Stream()
    x = bp.ones(256, 256, device="cuda")
    with bp.cuda.stream(side):
        assert bp.cuda.current_stream() == side
        start.record()
        y = x @ x
        end.record()
    assert bp.cuda.current_stream() != side
    end.synchronize()
    side.synchronize()
    assert end.query() and side.query() and start.elapsed_time(end) >= 0.0
    assert float(y.sum().item()) == 256.0**3
    with pytest.raises(RuntimeError, match="enable_timing"):
        bp.cuda.Event().elapsed_time(end)


def test_mps_module() -> None:
    assert mps.is_available() is False and mps.device_count() == 0
    mps.manual_seed(0)
    for call in (mps.synchronize, mps.empty_cache):
        with pytest.raises(RuntimeError, match="without MPS backend"):
            call()


@needs_torch
def test_mps_matches_torch() -> None:
    assert mps.is_available() == torch.mps.is_available() and mps.device_count() == torch.mps.device_count()
    with pytest.raises(RuntimeError, match="without MPS backend"):
        torch.mps.synchronize()


def test_backends_cuda_flags() -> None:
    b = bp_backends_cuda
    previous = bp.get_float32_matmul_precision()
    try:
        b.matmul.allow_tf32 = True
        assert b.matmul.allow_tf32 is True and bp.get_float32_matmul_precision() == "high"
        b.matmul.allow_tf32 = False
        assert b.matmul.allow_tf32 is False and bp.get_float32_matmul_precision() == "highest"
    finally:
        bp.set_float32_matmul_precision(previous)
    assert b.matmul.allow_fp16_reduced_precision_reduction is True
    b.matmul.allow_fp16_reduced_precision_reduction = False
    assert b.matmul.allow_fp16_reduced_precision_reduction is False
    b.matmul.allow_fp16_reduced_precision_reduction = True
    with pytest.raises(AttributeError, match="Unknown attribute foo"):
        b.matmul.foo = 1
    assert b.flash_sdp_enabled() and b.math_sdp_enabled() and b.mem_efficient_sdp_enabled() and b.cudnn_sdp_enabled()
    b.enable_flash_sdp(False)
    assert not b.flash_sdp_enabled()
    b.enable_flash_sdp(True)
    with pytest.warns(FutureWarning, match="sdp_kernel"), b.sdp_kernel(enable_math=False, enable_flash=False):
        assert not b.math_sdp_enabled() and not b.flash_sdp_enabled() and b.mem_efficient_sdp_enabled()
    assert b.math_sdp_enabled() and b.flash_sdp_enabled()


@needs_torch
def test_backends_cuda_defaults_match_torch() -> None:
    tb = torch.backends.cuda
    b = bp_backends_cuda
    assert b.matmul.allow_tf32 == tb.matmul.allow_tf32
    assert b.matmul.allow_fp16_reduced_precision_reduction == tb.matmul.allow_fp16_reduced_precision_reduction
    assert b.matmul.allow_bf16_reduced_precision_reduction == tb.matmul.allow_bf16_reduced_precision_reduction
    for name in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
        assert getattr(b, name)() == getattr(tb, name)()


# ---------------------------------------------------------------- overrides
class _Wrapped:
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        return ("handled", func.__name__, types)


class _Refuses:
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        return NotImplemented


def _api(x: object) -> object:
    if overrides.has_torch_function((x,)):
        return overrides.handle_torch_function(_api, (x,), x)
    return "plain"


def test_overrides_protocol() -> None:
    t = bp.ones(2)
    assert not overrides.has_torch_function((t, 1)) and overrides.is_tensor_like(t) and not overrides.is_tensor_like(1)
    assert overrides.has_torch_function((t, _Wrapped())) and overrides.is_tensor_like(_Wrapped)
    assert overrides.has_torch_function_unary(_Wrapped()) and overrides.has_torch_function_variadic(1, _Wrapped())
    assert _api(t) == "plain"
    assert _api(_Wrapped()) == ("handled", "_api", (_Wrapped,))
    with pytest.raises(TypeError, match="no implementation found for .*_api"):
        _api(_Refuses())
    ignored, overridable = overrides.get_ignored_functions(), overrides.get_overridable_functions()
    assert bp.is_tensor in ignored and bp.add not in ignored and bp.add in overridable[bp]
    assert bp.Tensor.add in overridable[bp.Tensor] and bp.nn.functional.relu in overridable[bp.nn.functional]


@needs_torch
def test_overrides_match_torch() -> None:
    import torch.overrides as tov

    def api(x: object) -> object:
        return tov.handle_torch_function(api, (x,), x)

    assert tov.has_torch_function((torch.ones(1),)) == overrides.has_torch_function((bp.ones(1),))
    assert api(_Wrapped()) == ("handled", "api", (_Wrapped,))
    assert tov.is_tensor_like(_Wrapped()) == overrides.is_tensor_like(_Wrapped())
