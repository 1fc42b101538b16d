"""bp.profiler / bp.autograd.profiler: op names and counts of an MLP step, record_function regions and
their nesting, time invariants, the summary table (torch's columns), Chrome traces, schedules (against
torch's), and that the kernel caches hold the original kernels again once a profiler stops."""

from __future__ import annotations

import gzip
import json
import os
import re
import warnings

import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F
from backprop import profiler, registry
from backprop.autograd import node_names
from backprop.autograd import profiler as aprof
from backprop.autograd.function import Node

try:
    import torch
except ImportError:  # the closed-form tests below still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")

CPU = profiler.ProfilerActivity.CPU


def _mlp_step(device: str = "cpu") -> tuple[bp.Tensor, bp.Tensor, nn.Module]:
    """Inputs, class ids and a Linear-ReLU-Linear model for a cross-entropy step on a (16, 4) batch."""
    bp.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(device)
    x = bp.randn(16, 4).to(device)
    y = bp.randint(0, 2, (16,)).to(device)
    return x, y, m


def _counts(events: aprof.EventList) -> dict[str, int]:
    """Name -> number of calls, from key_averages()."""
    return {e.key: e.count for e in events}


def test_mlp_step_op_names_and_counts() -> None:
    x, y, m = _mlp_step()
    with profiler.profile(activities=[CPU], record_shapes=True) as prof:
        out = m(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
    counts = _counts(prof.key_averages())
    assert counts == {
        "aten::addmm": 2,
        "aten::relu": 1,
        "aten::cross_entropy_loss": 1,
        loss.grad_fn.name(): 1,  # NllLossBackward0
        out.grad_fn.name(): 2,  # AddmmBackward0
        "ReluBackward0": 1,
    }
    assert loss.grad_fn.name() == "NllLossBackward0" and out.grad_fn.name() == "AddmmBackward0"  # (torch's)
    first = next(e for e in prof.events() if e.name == "aten::addmm")
    assert first.input_shapes == [[16, 4], [8, 4], [8]]  # our inputs: x, weight (out, in), bias
    relu_back = next(e for e in prof.events() if e.name == "ReluBackward0")
    assert relu_back.input_shapes == [[16, 8]]  # the incoming gradient, as torch's
    assert m[0].weight.grad is not None  # profiling changed nothing about the step


@needs_torch
def test_mlp_step_counts_match_torch_for_shared_names() -> None:
    x, y, m = _mlp_step()
    with profiler.profile(activities=[CPU]) as prof:
        F.cross_entropy(m(x), y).backward()
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    tx, ty = torch.randn(16, 4), torch.randint(0, 2, (16,))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as tprof:
        torch.nn.functional.cross_entropy(tm(tx), ty).backward()
    ours, theirs = _counts(prof.key_averages()), _counts(tprof.key_averages())
    for name in ("aten::addmm", "aten::relu", "aten::cross_entropy_loss", "ReluBackward0"):
        assert ours[name] == theirs[name], name


def test_record_function_regions_nest() -> None:
    a = bp.randn(8, 8, requires_grad=True)

    @aprof.record_function("decorated")
    def inner_work() -> bp.Tensor:
        return (a * a).sum()

    with profiler.profile() as prof:
        with profiler.record_function("outer"):
            b = a @ a
            with profiler.record_function("inner"):
                c = inner_work()
        c.backward()
    ev = {e.name: e for e in prof.events()}
    assert ev["outer"].cpu_parent is None
    assert ev["inner"].cpu_parent is ev["outer"]
    assert ev["decorated"].cpu_parent is ev["inner"]
    assert ev["aten::mul"].cpu_parent is ev["decorated"] and ev["aten::sum"].cpu_parent is ev["decorated"]
    assert ev["aten::mm"].cpu_parent is ev["outer"]
    assert ev["MulBackward0"].cpu_parent is None  # backward ran outside the regions
    assert [c.name for c in ev["outer"].cpu_children] == ["aten::mm", "inner"]
    assert ev["outer"].cpu_time_total >= ev["inner"].cpu_time_total >= ev["decorated"].cpu_time_total
    assert ev["outer"].is_user_annotation and not ev["aten::mm"].is_user_annotation
    assert b.shape == (8, 8)
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["outer"].count == 1 and avg["outer"].cpu_time_total == pytest.approx(ev["outer"].cpu_time_total)


def test_record_function_outside_a_profiler_records_nothing() -> None:
    with profiler.record_function("nothing"):
        y = bp.ones(3) + 1
    assert y.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(TypeError, match="record_function: name must be a str"):
        profiler.record_function(3)  # type: ignore[arg-type]


def test_times_are_positive_and_self_at_most_total() -> None:
    x, y, m = _mlp_step()
    with profiler.profile() as prof, profiler.record_function("step"):
        F.cross_entropy(m(x), y).backward()
    events = prof.events()
    assert len(events) == 9
    for e in events:
        assert e.cpu_time_total > 0, e.name
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total, e.name
        assert e.time_range.start >= 0 and e.time_range.end > e.time_range.start
        for c in e.cpu_children:  # children lie inside their parent
            assert e.time_range.start <= c.time_range.start and c.time_range.end <= e.time_range.end
    step = events[0]
    assert step.name == "step" and len(step.cpu_children) == 8
    assert step.self_cpu_time_total == pytest.approx(
        step.cpu_time_total - sum(c.cpu_time_total for c in step.cpu_children)
    )
    assert events.self_cpu_time_total == pytest.approx(step.cpu_time_total)  # self times partition the root
    for a in prof.key_averages():
        assert 0 < a.self_cpu_time_total <= a.cpu_time_total + 1e-9
        assert a.cpu_time == pytest.approx(a.cpu_time_total / a.count)
    assert prof.key_averages().total_average().count == 9


def _table_rows(table: str) -> list[list[str]]:
    lines = table.splitlines()
    seps = [i for i, line in enumerate(lines) if line.startswith("---")]
    return [re.split(r"\s{2,}", line.strip()) for line in lines[seps[1] + 1 : seps[2]]]


def test_table_has_torch_layout_and_rows() -> None:
    x, y, m = _mlp_step()
    with profiler.profile(activities=[CPU], record_shapes=True) as prof:
        with profiler.record_function("step"):
            F.cross_entropy(m(x), y).backward()
    table = prof.key_averages(group_by_input_shape=False).table(sort_by="cpu_time_total", row_limit=10)
    header = re.split(r"\s{2,}", table.splitlines()[1].strip())
    assert header == ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
    rows = _table_rows(table)
    assert [r[0] for r in rows][0] == "step" and rows[0][3] == "100.00%"
    names = {r[0] for r in rows}
    assert {"aten::addmm", "aten::relu", "aten::cross_entropy_loss", "AddmmBackward0", "ReluBackward0"} <= names
    assert {r[0]: r[-1] for r in rows}["aten::addmm"] == "2"
    assert table.rstrip().splitlines()[-1].startswith("Self CPU time total: ")
    assert len(_table_rows(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=3))) == 3
    shaped = prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total")
    assert "Input Shapes" in shaped and "[[16, 4], [8, 4], [8]]" in shaped
    with pytest.raises(ValueError, match="table: unknown sort_by 'bogus'"):
        prof.key_averages().table(sort_by="bogus")


def test_table_sorts_descending() -> None:
    a = bp.randn(64, 64)
    with profiler.profile() as prof:
        for _ in range(3):
            a = a @ a * 0.01
        a.sum()
    avgs = prof.key_averages()
    table = avgs.table(sort_by="self_cpu_time_total")
    order = [r[0] for r in _table_rows(table)]
    expected = [e.key for e in sorted(avgs, key=lambda e: e.self_cpu_time_total, reverse=True)]
    assert order == expected


@needs_torch
def test_table_header_matches_torch() -> None:
    with profiler.profile(profile_memory=True) as prof:
        bp.ones(4, 4).exp()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as tprof:
        torch.ones(4, 4).exp()
    ours = re.split(r"\s{2,}", prof.key_averages().table().splitlines()[1].strip())
    theirs = re.split(r"\s{2,}", tprof.key_averages().table().splitlines()[1].strip())
    assert ours == theirs


def test_profile_memory_counts_returned_arrays() -> None:
    x = bp.randn(16, 8, dtype=bp.float64)
    with aprof.profile(profile_memory=True) as prof:
        with aprof.record_function("region"):
            x.relu().sum()
    ev = {e.name: e for e in prof.function_events}
    assert ev["aten::relu"].self_cpu_memory_usage == 16 * 8 * 8
    assert ev["aten::sum"].self_cpu_memory_usage == 8
    assert ev["region"].self_cpu_memory_usage == 0 and ev["region"].cpu_memory_usage == 16 * 8 * 8 + 8
    assert "CPU Mem" in prof.key_averages().table() and "1.00 KB" in prof.key_averages().table()


def test_chrome_trace_is_valid_json_written_atomically(tmp_path: os.PathLike) -> None:
    x, y, m = _mlp_step()
    with profiler.profile(record_shapes=True) as prof:
        with profiler.record_function("step"):
            F.cross_entropy(m(x), y).backward()
    path = os.path.join(tmp_path, "trace.json")
    prof.export_chrome_trace(path)
    assert os.listdir(tmp_path) == ["trace.json"]  # no temporary file left behind
    with open(path) as f:
        doc = json.load(f)
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in spans] == [e.name for e in prof.events()]
    by_name = {e["name"]: e for e in spans}
    assert by_name["step"]["cat"] == "user_annotation" and by_name["aten::relu"]["cat"] == "cpu_op"
    assert by_name["aten::relu"]["args"]["Input Dims"] == [[16, 8]]
    for e in spans:
        assert e["dur"] > 0 and e["ts"] >= 0 and isinstance(e["tid"], int)
    step = by_name["step"]
    assert all(step["ts"] <= e["ts"] and e["ts"] + e["dur"] <= step["ts"] + step["dur"] + 1e-6 for e in spans)
    gz = os.path.join(tmp_path, "trace.json.gz")
    prof.export_chrome_trace(gz)
    with gzip.open(gz, "rt") as f:
        assert json.load(f)["traceEvents"] == doc["traceEvents"]


def test_chrome_trace_keeps_the_old_file_when_writing_fails(tmp_path: os.PathLike, monkeypatch) -> None:
    path = os.path.join(tmp_path, "trace.json")
    with open(path, "w") as f:
        f.write("old")
    with profiler.profile() as prof:
        bp.ones(2) + 1

    def failing_replace(src: str, dst: str) -> None:
        with open(src) as f:  # the whole trace was written to the temporary file first
            assert json.load(f)["traceEvents"]
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        prof.export_chrome_trace(path)
    monkeypatch.undo()
    with open(path) as f:
        assert f.read() == "old"
    assert os.listdir(tmp_path) == ["trace.json"]  # the temporary file is gone


def test_kernels_are_the_originals_after_the_profiler() -> None:
    ops = [registry.get(n) for n in registry.list_ops()]
    bp.ones(1).exp()  # (the CPU kernels are cached)
    cpu = bp.device("cpu").backend
    rule = registry.get("exp").backward_kernel(cpu)  # (the rule itself, or its bfloat16 wrapper once bf16 ran)
    before = {op.name: (dict(op._kernels), dict(op._bkernels)) for op in ops}
    with profiler.profile():
        assert registry.get("exp")._kernels["numpy"] is not before["exp"][0]["numpy"]  # wrapped while profiling
        assert registry.get("exp")._bkernels["numpy"].__wrapped__ is rule
    for op in ops:
        for key, k in before[op.name][0].items():
            assert op._kernels[key] is k, op.name
        for key, k in before[op.name][1].items():
            assert op._bkernels[key] is k, op.name
        assert not any(isinstance(k, aprof._Timed) for k in (*op._kernels.values(), *op._bkernels.values()))
    with pytest.raises(ZeroDivisionError), profiler.profile():
        raise ZeroDivisionError
    assert registry.get("exp")._kernels["numpy"] is before["exp"][0]["numpy"]  # restored after an error too


def test_profilers_do_not_nest() -> None:
    with profiler.profile(), pytest.raises(RuntimeError, match="another profiler is already running"):
        with aprof.profile():
            pass
    with profiler.profile() as prof:  # the failed one left nothing behind
        bp.ones(2).exp()
    assert _counts(prof.key_averages()) == {"aten::exp": 1}


_TORCH_NAMED = set(node_names._RULES)


def test_forward_names_exist_in_torch_and_backward_names_are_grad_fn_names() -> None:
    for name in registry.list_ops():
        node = object.__new__(Node)
        node.op = registry.get(name)
        if name not in _TORCH_NAMED:  # (those are named per node, from its shapes and attributes)
            assert aprof.backward_name(name) == node.name()
        fwd = aprof.forward_name(name)
        assert fwd.startswith(("aten::", "bp::"))
        if torch is not None and fwd.startswith("aten::"):
            assert hasattr(torch.ops.aten, fwd[len("aten::") :]), fwd


def test_matmul_and_linear_are_named_by_shape() -> None:
    a, b3 = bp.randn(3, 4), bp.randn(2, 3, 4)
    w = bp.randn(5, 4)
    with profiler.profile() as prof:
        a @ a.T
        b3 @ b3.transpose(1, 2)
        a @ a[0]
        a[0] @ a[0]
        b3 @ a.T
        F.linear(a, w)
        F.linear(b3, w, bp.zeros(5))
    products = {"aten::mm", "aten::bmm", "aten::mv", "aten::dot", "aten::matmul", "aten::linear", "aten::addmm"}
    assert [e.name for e in prof.events() if e.name in products] == [
        "aten::mm",
        "aten::bmm",
        "aten::mv",
        "aten::dot",
        "aten::matmul",
        "aten::mm",
        "aten::linear",
    ]


def test_custom_function_backward_is_recorded() -> None:
    class Double(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = bp.randn(3, requires_grad=True)
    Double.apply(x).sum().backward()  # (its op exists from now on)
    with profiler.profile() as prof:
        y = Double.apply(x)
        y.sum().backward()
    assert y.grad_fn.name() == "DoubleBackward"
    counts = _counts(prof.key_averages())
    assert counts["DoubleBackward"] == 1 and counts["aten::mul"] == 2  # forward's and backward's x * 2


def test_schedule_phases() -> None:
    A = profiler.ProfilerAction
    s = profiler.schedule(wait=1, warmup=1, active=2, repeat=1, skip_first=1)
    assert [s(i) for i in range(7)] == [A.NONE, A.NONE, A.WARMUP, A.RECORD, A.RECORD_AND_SAVE, A.NONE, A.NONE]
    s = profiler.schedule(wait=2, warmup=1, active=1, skip_first_wait=1)
    assert [s(i) for i in range(6)] == [A.WARMUP, A.RECORD_AND_SAVE, A.NONE, A.NONE, A.WARMUP, A.RECORD_AND_SAVE]
    with pytest.raises(ValueError, match="schedule: invalid arguments.*active=0"):
        profiler.schedule(wait=0, warmup=1, active=0)
    with pytest.raises(AssertionError):  # torch's exception type, too
        profiler.schedule(wait=-1, warmup=1, active=1)
    with pytest.warns(UserWarning, match="won't be using warmup"):
        profiler.schedule(wait=0, warmup=0, active=1)


@needs_torch
@pytest.mark.parametrize(
    "args",
    [
        dict(wait=1, warmup=1, active=2),
        dict(wait=1, warmup=1, active=2, repeat=2, skip_first=3),
        dict(wait=3, warmup=2, active=1, repeat=1, skip_first=2, skip_first_wait=1),
        dict(wait=0, warmup=1, active=3, repeat=3),
    ],
)
def test_schedule_matches_torch(args: dict) -> None:
    ours, theirs = profiler.schedule(**args), torch.profiler.schedule(**args)
    assert [ours(i).name for i in range(30)] == [theirs(i).name for i in range(30)]


def _run_scheduled(module, prof_kwargs: dict, steps: int) -> list[tuple[int, list[str]]]:
    """Steps of ``a * 2``; per on_trace_ready: the step number and the events' names (torch's extra
    aten::to & co. of its scalar left out)."""
    seen: list[tuple[int, list[str]]] = []

    def ready(p) -> None:
        seen.append((p.step_num, [e.name for e in p.events() if e.name in ("ProfilerStep*", "aten::mul")]))

    a = module.ones(2)
    with module.profiler.profile(on_trace_ready=ready, **prof_kwargs) as p:
        for _ in range(steps):
            a * 2
            p.step()
    return seen


def test_profile_with_schedule_saves_each_cycle() -> None:
    kw = dict(schedule=profiler.schedule(wait=1, warmup=1, active=2, repeat=2))
    seen = _run_scheduled(bp, kw, 10)
    steps = ["ProfilerStep*", "aten::mul"] * 2
    assert seen == [(4, steps), (8, steps)]
    counts: list[dict[str, int]] = []
    traced: list[list[str]] = []

    def ready(p) -> None:
        counts.append(_counts(p.key_averages()))
        traced.append([e.trace_name for e in p.events()])

    with profiler.profile(schedule=profiler.schedule(wait=0, warmup=1, active=1), on_trace_ready=ready) as p:
        for _ in range(4):
            bp.ones(2).exp()
            p.step()
    assert counts == [{"ProfilerStep*": 1, "aten::exp": 1}, {"ProfilerStep*": 1, "aten::exp": 1}]
    assert traced == [["ProfilerStep#1", "aten::exp"], ["ProfilerStep#3", "aten::exp"]]  # the step numbers
    assert len(p.events()) == 0  # it left in a warmup step: an empty last trace, as torch's


@needs_torch
def test_profile_with_schedule_matches_torch() -> None:
    for sched in (dict(wait=1, warmup=1, active=2, repeat=2), dict(wait=0, warmup=2, active=3, skip_first=1)):
        ours = _run_scheduled(bp, dict(schedule=profiler.schedule(**sched)), 11)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's own deprecation chatter)
            theirs = _run_scheduled(torch, dict(schedule=torch.profiler.schedule(**sched)), 11)
        assert ours == theirs


def test_tensorboard_trace_handler_writes_trace_files(tmp_path: os.PathLike) -> None:
    folder = os.path.join(tmp_path, "logs")
    handler = profiler.tensorboard_trace_handler(folder, worker_name="w0")
    with profiler.profile(
        schedule=profiler.schedule(wait=0, warmup=1, active=1, repeat=2), on_trace_ready=handler
    ) as p:
        for _ in range(5):
            bp.ones(3).exp()
            p.step()
    files = sorted(os.listdir(folder))
    assert len(files) == 2 and all(re.fullmatch(r"w0\.\d+\.pt\.trace\.json", f) for f in files)
    for f in files:
        with open(os.path.join(folder, f)) as fh:
            names = [e["name"] for e in json.load(fh)["traceEvents"] if e["ph"] == "X"]
        assert "aten::exp" in names
    gz = profiler.tensorboard_trace_handler(folder, worker_name="w1", use_gzip=True)
    with profiler.profile(on_trace_ready=gz):
        bp.ones(1).exp()
    (name,) = [f for f in os.listdir(folder) if f.startswith("w1.")]
    assert name.endswith(".pt.trace.json.gz")


def test_activities_and_deprecations() -> None:
    assert CPU in profiler.supported_activities()
    with pytest.warns(FutureWarning, match="use_cuda"):
        p = profiler.profile(activities=[CPU], use_cuda=False)
    assert p.activities == {CPU}
    with pytest.raises(TypeError, match="ProfilerActivity"):
        profiler.profile(activities=["cpu"])
    if profiler.ProfilerActivity.CUDA not in profiler.supported_activities():
        with pytest.warns(UserWarning, match="CUDA profiling is not available"):
            profiler.profile(activities=[CPU, profiler.ProfilerActivity.CUDA])
    with pytest.warns(FutureWarning, match="use_device"):
        aprof.profile(use_cuda=True)
    with pytest.raises(ValueError, match="use_device='xpu'"):
        aprof.profile(use_device="xpu")
    with pytest.raises(RuntimeError, match="no trace has been recorded"):
        profiler.profile().events()


@needs_torch
def test_enum_names_match_torch() -> None:
    assert [a.name for a in profiler.ProfilerAction] == [
        a.name for a in torch.profiler.ProfilerAction if a.name != "DEVICE_STOPPED"
    ]
    assert {a.name for a in profiler.ProfilerActivity} <= set(torch.profiler.ProfilerActivity.__members__)


def test_autograd_profiler_api_and_nvtx_itt_no_ops() -> None:
    x = bp.randn(4, 4, requires_grad=True)
    with aprof.profile(record_shapes=True) as prof:
        (x.exp() * x).sum().backward()
    names = [e.name for e in prof.function_events]
    assert names == ["aten::exp", "aten::mul", "aten::sum", "SumBackward0", "MulBackward0", "ExpBackward0"]
    assert "aten::exp" in prof.table() and "Input Shapes" in prof.table()
    assert prof.self_cpu_time_total == pytest.approx(sum(e.cpu_time_total for e in prof.function_events))
    assert prof.total_average().count == 6
    with aprof.profile(enabled=False) as off:
        x.exp()
    assert str(off) == "<unfinished profile>"
    with aprof.emit_nvtx(), aprof.emit_itt(record_shapes=True):
        assert (x + 1).shape == (4, 4)


def test_compiled_replay_shows_as_its_region() -> None:
    x, y, m = _mlp_step()
    opt = bp.optim.SGD(m.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = bp.compile(step)
    for _ in range(3):
        compiled(x, y)
    assert compiled.replays == 1
    with profiler.profile() as prof, profiler.record_function("compiled step"):
        compiled(x, y)
    assert compiled.replays == 2
    assert [e.name for e in prof.events()] == ["compiled step"]


def test_profiling_on_device(device: str) -> None:
    x, y, m = _mlp_step(device)
    with profiler.profile(activities=list(profiler.supported_activities())) as prof:
        F.cross_entropy(m(x), y).backward()
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["aten::addmm"].count == 2 and avg["AddmmBackward0"].count == 2
    if device == "cuda":  # synchronised kernels: their time is device time too
        assert avg["aten::addmm"].device_time_total == pytest.approx(avg["aten::addmm"].cpu_time_total)
        assert "Self CUDA" in prof.key_averages().table(sort_by="cuda_time_total")
    else:
        assert all(e.device_time_total == 0 for e in prof.events())
        assert "CUDA" not in prof.key_averages().table()


def test_cuda_kernels_are_synchronised_only_while_profiling() -> None:
    from cupy_standin import use_standin  # a NumPy-backed CuPy that counts synchronisations

    with use_standin() as cp:
        x, y, m = _mlp_step("cuda")

        def syncs() -> int:
            return sum(cp.cuda.SYNCS.values())

        before = syncs()
        F.cross_entropy(m(x), y).backward()
        assert syncs() == before  # not profiling: no synchronisation at all
        cuda = profiler.ProfilerActivity.CUDA
        assert cuda in profiler.supported_activities()
        with profiler.profile(activities=[CPU, cuda]) as prof:
            F.cross_entropy(m(x), y).backward()
        on_device = [e for e in prof.events() if e.device_type == "cuda"]
        assert len(on_device) == len(prof.events()) == 8
        assert syncs() - before == 2 * len(on_device)  # one before and one after each kernel and rule
        for e in on_device:
            assert e.device_time_total == e.cpu_time_total
        table = prof.key_averages().table(sort_by="cuda_time_total")
        assert "Self CUDA" in table and "Self CUDA time total:" in table
        before = syncs()
        F.cross_entropy(m(x), y).backward()
        assert syncs() == before  # and none again afterwards
