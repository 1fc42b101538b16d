"""DDP communication hooks (``register_comm_hook``, ``ddp_comm_hooks.default_hooks``), ``Work.get_future`` and
``backprop.futures``.

Two-process jobs run ``tests/distributed_hooks_worker.py`` under both engines (MPI: skipped where mpi4py or
mpiexec is missing; TCP ``gloo``: always). In one process, ``Future`` and DDP in a world of one are compared
with torch (a gloo world of one over a ``FileStore``) where torch is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_distributed import ENGINES, _run

import backprop as bp
from backprop import distributed as dist
from backprop import nn
from backprop.distributed.algorithms import ddp_comm_hooks
from backprop.distributed.algorithms.ddp_comm_hooks import debugging_hooks, default_hooks
from backprop.futures import Future, collect_all, wait_all
from backprop.nn.parallel import DistributedDataParallel

try:
    import torch
    import torch.distributed as tdist
except ImportError:  # the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_hooks_worker.py"


SCENARIOS = [
    "futures",
    "allreduce_hook",
    "fp16",
    "bf16",
    "buckets",
    "bytes_per_step",
    "no_sync",
    "unused",
    "hook_errors",
]


@pytest.fixture(scope="module", params=ENGINES)
def job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One two-process job per engine running every scenario; rank 0's results by scenario."""
    out = tmp_path_factory.mktemp(f"hooks_{request.param}")
    proc = _run([str(WORKER), str(out), *SCENARIOS], timeout=240, engine=request.param)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {n: json.loads((out / f"{n}.json").read_text()) for n in SCENARIOS}
    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
    return results


# ------------------------------------------------------------------------------------------ two processes
def test_work_get_future_holds_torchs_output_lists(job: dict[str, Any]) -> None:
    f = job["futures"]
    assert f["all_reduce"] == [1, True, [3.0, 20.0], True]  # [the tensor itself], reduced, done
    assert f["all_reduce_then"] == [6.0]
    assert f["all_gather"] == [[[0.0, 5.0], [1.0, 5.0]], True]  # the output list's own tensors
    assert f["broadcast"] == [1.0] and f["barrier"] == []
    assert f["all_gather_into_tensor"] == [0.0, 1.0, 1.0, 1.0]
    assert f["wait_all"] == [[1.0], [3.0], [5.0]]


def test_allreduce_hook_gives_ddps_bits(job: dict[str, Any]) -> None:
    r = job["allreduce_hook"]
    assert r["buckets"] == 2
    assert r["bitwise_equal"] and r["max_diff"] == 0.0
    assert r["reference"]["bitwise_equal"] and r["same_on_all_ranks"]


@pytest.mark.parametrize("name", ["fp16", "bf16"])
def test_compress_hooks_equal_the_numpy_computation(job: dict[str, Any], name: str) -> None:
    """cast down, / world size in low precision, summed in rank order there, cast back: exactly; and not the
    uncompressed result (so the comparison is not vacuous); the wrapper around allreduce_hook: the same bits."""
    r = job[name]
    assert r["reference"]["bitwise_equal"], r
    assert not r["vs_uncompressed"]["bitwise_equal"] and r["vs_uncompressed"]["max_diff"] > 0
    assert r["vs_uncompressed"]["max_diff"] < (1e-3 if name == "bf16" else 1e-4)
    assert r["same_on_all_ranks"] and r["wrapper_equals_hook"]["bitwise_equal"]


def test_grad_buckets_seen_by_a_hook(job: dict[str, Any]) -> None:
    calls = job["buckets"]["calls"]
    assert [(c["index"], c["is_last"]) for c in calls] == [(0, False), (1, True)]
    assert [c["shapes"] for c in calls] == [[[16], [3, 16], [3]], [[16, 6]]]  # bucket 0: the last layers
    assert [c["numel"] for c in calls] == [67, 96]
    assert all(c["params_match"] and c["views"] for c in calls)


def test_compression_halves_the_bytes(job: dict[str, Any]) -> None:
    b = job["bytes_per_step"]
    assert b == {"none": 163 * 4, "fp16": 163 * 2, "bf16": 163 * 2}  # 163 parameters, per rank per step


def test_hooks_with_no_sync_and_unused_parameters(job: dict[str, Any]) -> None:
    ns = job["no_sync"]
    assert ns["bitwise_equal"] and ns["calls"] == 3 * ns["buckets"]
    assert ns["calls_before_last_sync"] == 2 * ns["buckets"]  # no hook call under no_sync
    for name in ("allreduce", "fp16"):
        assert job["unused"][name] == {"a": True, "b": True, "never_grad_is_none": True, "second_iteration_ok": True}


def test_hook_errors_reach_every_rank(job: dict[str, Any]) -> None:
    e = job["hook_errors"]
    assert e["raised"] == "'in hook'" and e["recovered"]
    assert "must return a torch.futures.Future object, but got builtins.int" in e["not_a_future"]


# ------------------------------------------------------------------------------------------ one process
def _outcome(lib: Any, scenario: Any) -> Any:
    try:
        return ("ok", scenario(lib))
    except Exception as e:  # noqa: BLE001 - the outcome is compared
        return ("raise", type(e).__name__, str(e).split("\n")[0])


def _then_chain(f: Any) -> Any:
    a = f.Future()
    b = a.then(lambda x: x.value() * 2).then(lambda x: x.value() + 1)
    done_before = b.done()
    a.set_result(3)
    return done_before, b.done(), b.wait()


def _then_after_done(f: Any) -> Any:
    a = f.Future()
    a.set_result(1)
    return a.then(lambda x: x.wait() + 1).wait()


def _exception_wait(f: Any) -> Any:
    a = f.Future()
    a.set_exception(ValueError("foo"))
    return a.done(), a.wait()


def _exception_through_then(f: Any) -> Any:
    a = f.Future()
    a.set_exception(ValueError("foo"))
    return a.then(lambda x: x.wait() + 1).wait()


def _exception_ignored_by_then(f: Any) -> Any:
    a = f.Future()
    a.set_exception(ValueError("foo"))
    return a.then(lambda x: 7).wait()


def _callback_raises(f: Any) -> Any:
    a = f.Future()
    c = a.then(lambda x: 1 / 0)
    a.set_result(1)
    return c.wait()


def _set_twice(f: Any) -> Any:
    a = f.Future()
    a.set_result(1)
    a.set_result(2)


def _exception_after_result(f: Any) -> Any:
    a = f.Future()
    a.set_result(1)
    a.set_exception(ValueError("x"))


def _set_exception_not_exception(f: Any) -> Any:
    f.Future().set_exception("str")


def _collect_all(f: Any) -> Any:
    x, y = f.Future(), f.Future()
    c = f.collect_all([x, y])
    states = [c.done()]
    x.set_result(1)
    states.append(c.done())
    y.set_result(2)
    got = c.wait()
    return states, [g.wait() for g in got], len(got)  # (torch gives new wrappers of the same futures)


def _collect_all_error(f: Any) -> Any:
    x, y = f.Future(), f.Future()
    c = f.collect_all([x, y])
    x.set_exception(ValueError("bad"))
    states = [c.done()]
    y.set_result(2)
    states.append(c.done())
    return states, _outcome(f, lambda _: c.wait())


def _collect_all_empty(f: Any) -> Any:
    c = f.collect_all([])
    return c.done(), c.wait()


def _wait_all(f: Any) -> Any:
    x, y = f.Future(), f.Future()
    x.set_result(1)
    y.set_result(2)
    return f.wait_all([x, y])


def _wait_all_error(f: Any) -> Any:
    x, y = f.Future(), f.Future()
    x.set_result(1)
    y.set_exception(ValueError("e2"))
    return f.wait_all([x, y])


def _done_callbacks(f: Any) -> Any:
    order: list[int] = []
    z = f.Future()
    z.add_done_callback(lambda _: order.append(1))
    z.add_done_callback(lambda _: order.append(2))
    z.set_result(0)
    z.add_done_callback(lambda _: order.append(3))  # inline: already done
    return sorted(order)


FUTURE_SCENARIOS = [
    _then_chain, _then_after_done, _exception_wait, _exception_through_then, _exception_ignored_by_then,
    _callback_raises, _set_twice, _exception_after_result, _set_exception_not_exception, _collect_all,
    _collect_all_error, _collect_all_empty, _wait_all, _wait_all_error, _done_callbacks,
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("scenario", FUTURE_SCENARIOS, ids=[s.__name__.strip("_") for s in FUTURE_SCENARIOS])
def test_futures_match_torch(scenario: Any) -> None:
    assert _outcome(bp.futures, scenario) == _outcome(torch.futures, scenario)


def test_future_details() -> None:
    fut: Future[int] = Future()
    with pytest.raises(RuntimeError, match="not completed yet"):
        fut.value()
    with pytest.raises(TypeError, match="callable"):
        fut.then(3)  # type: ignore[arg-type]
    import threading

    threading.Timer(0.05, fut.set_result, (5,)).start()
    assert fut.wait() == 5 and fut.value() == 5  # wait() blocks until another thread sets it
    bad = Future()
    c = bad.then(lambda x: x.wait())
    bad.set_exception(KeyError("k"))
    with pytest.raises(RuntimeError, match="KeyError") as info:
        c.wait()
    assert isinstance(info.value.__cause__, KeyError)
    assert collect_all([]).wait() == [] and wait_all([]) == []


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """backprop's world of one, and torch's (gloo over a FileStore) where torch is installed."""
    dist.init_process_group(mpi=False)
    started = False
    if torch is not None and not tdist.is_initialized():
        store = tdist.FileStore(str(tmp_path_factory.mktemp("store") / "f"), 1)
        tdist.init_process_group("gloo", store=store, rank=0, world_size=1)
        started = True
    yield
    dist.destroy_process_group()
    if started:
        tdist.destroy_process_group()


def test_get_future_in_a_world_of_one(worlds: None) -> None:
    t = bp.ones(3)
    value = dist.all_reduce(t, async_op=True).get_future().wait()
    assert len(value) == 1 and value[0] is t
    out = [bp.zeros(3)]
    assert dist.all_gather(out, t, async_op=True).get_future().wait()[0] is out[0]
    assert dist.barrier(async_op=True).get_future().wait() == []
    work = dist.broadcast(t, 0, async_op=True)
    assert work.result()[0] is t and work.is_success() and work.exception() is None
    if torch is not None:
        tt = torch.ones(3)
        assert len(tdist.all_reduce(tt, async_op=True).get_future().wait()) == 1
        assert tdist.barrier(async_op=True).get_future().wait() == []


def _pair() -> tuple[nn.Module, Any]:
    bp.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))
    return ours, theirs


def _backward(model: Any, lib: Any, x: np.ndarray) -> list[np.ndarray]:
    model(lib.tensor(x)).pow(2).sum().backward()
    return [p.grad.detach().numpy().copy() for p in model.module.parameters()]


X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)


@needs_torch
@pytest.mark.parametrize(
    "name", ["allreduce_hook", "fp16_compress_hook", "bf16_compress_hook", "noop_hook", "fp16_wrap"]
)
def test_hooks_in_a_world_of_one_match_torch(worlds: None, name: str) -> None:
    """torch calls the hook in a world of one too: the same buckets, and the gradients of its hooks."""
    seen: dict[str, list[Any]] = {"ours": [], "torch": []}

    def spy(key: str, inner: Any) -> Any:
        def hook(state, bucket):  # noqa: ANN001, ANN202 - (torch refuses a bucket annotation other than GradBucket)
            seen[key].append(
                (bucket.index(), bucket.is_last(), tuple(bucket.buffer().shape), str(bucket.buffer().dtype)[-7:],
                 [tuple(g.shape) for g in bucket.gradients()], bucket.buffer().detach().numpy().copy())
            )  # fmt: skip
            return inner(state, bucket)

        return hook

    def pick(mod: Any) -> Any:
        if name == "fp16_wrap":
            return mod.default_hooks.fp16_compress_wrapper(mod.default_hooks.allreduce_hook)
        return getattr(mod.debugging_hooks if name == "noop_hook" else mod.default_hooks, name)

    import torch.distributed.algorithms.ddp_comm_hooks as tch

    ours, theirs = _pair()
    plain = DistributedDataParallel(nn.Sequential(*[m for m in _pair()[0]]))
    want = _backward(plain, bp, X)
    a = DistributedDataParallel(ours)
    a.register_comm_hook(None, spy("ours", pick(ddp_comm_hooks)))
    b = torch.nn.parallel.DistributedDataParallel(theirs)
    bf16_on_cpu_torch = name == "bf16_compress_hook"  # (torch's CPU build refuses it at registration)
    b.register_comm_hook(None, spy("torch", pick(tch) if not bf16_on_cpu_torch else tch.default_hooks.allreduce_hook))
    mine, its = _backward(a, bp, X), _backward(b, torch, X)
    (o,), (t,) = seen["ours"], seen["torch"]
    assert o[:3] == t[:3] and o[4] == t[4] and o[3] == "float32"
    np.testing.assert_allclose(o[5], t[5], rtol=1e-5, atol=1e-6)  # the bucket before the hook
    low = {"fp16_compress_hook": np.float16, "fp16_wrap": np.float16, "bf16_compress_hook": bp.bfloat16}.get(name)
    expect = [g if low is None else g.astype(low).astype(np.float32) for g in want]
    assert all(np.array_equal(m, e) for m, e in zip(mine, expect))  # exactly: cast down and back
    tol = {np.float16: 1e-3, bp.bfloat16: 1e-2}.get(low, 1e-5)  # (torch's float32 gradients differ in the last bits)
    for m, i in zip(mine, its):
        np.testing.assert_allclose(m, i, rtol=tol, atol=tol)
    if low is not None and name != "bf16_compress_hook":
        assert any(not np.array_equal(m, g) for m, g in zip(mine, want))  # compression changed something


@needs_torch
def test_register_comm_hook_errors_match_torch(worlds: None) -> None:
    def no_bucket(state: Any, b: Any) -> Any:
        return None

    def bad_bucket(state, bucket: int):  # noqa: ANN001, ANN202
        return None

    def bad_return(state, bucket) -> int:  # noqa: ANN001
        return 0

    cases = [("twice", lambda state, bucket: None), ("not callable", 3), ("no bucket", no_bucket)]
    cases += [("bad bucket", bad_bucket), ("bad return", bad_return)]
    for what, hook in cases:
        outcomes = []
        for lib, ddp in ((bp, DistributedDataParallel), (torch, torch.nn.parallel.DistributedDataParallel)):
            ours, theirs = _pair()
            model = ddp(ours if lib is bp else theirs)
            if what == "twice":
                model.register_comm_hook(None, hook)
            outcomes.append(_outcome(lib, lambda _, m=model, h=hook: m.register_comm_hook(None, h)))
        assert outcomes[0] == outcomes[1], what


def test_comm_hook_registry_and_names(worlds: None) -> None:
    """DDPCommHookType / register_ddp_comm_hook; a hook returning a non-Future or a wrong-sized tensor fails."""
    m = nn.Linear(2, 2)
    model = DistributedDataParallel(m)
    ddp_comm_hooks.register_ddp_comm_hook(ddp_comm_hooks.DDPCommHookType.FP16_COMPRESS, model)
    assert model._comm_hook == (None, default_hooks.fp16_compress_hook)
    assert [t.name for t in ddp_comm_hooks.DDPCommHookType] == ["ALLREDUCE", "FP16_COMPRESS", "BF16_COMPRESS", "NOOP"]
    assert debugging_hooks.noop_hook.__name__ == "noop_hook"
    assert default_hooks.bf16_compress_wrapper(default_hooks.allreduce_hook).__name__ == "bf16_compress_wrapper_hook"

    def short(state: Any, bucket: dist.GradBucket) -> Future[bp.Tensor]:
        fut: Future[bp.Tensor] = Future()
        fut.set_result(bucket.buffer()[:1])
        return fut

    bad = DistributedDataParallel(nn.Linear(2, 2))
    bad.register_comm_hook(None, short)
    with pytest.raises(RuntimeError, match="has 1 elements; the bucket has 6"):
        bad(bp.ones(1, 2)).sum().backward()


def test_grad_bucket_set_buffer(worlds: None) -> None:
    params = [bp.zeros(2, 3), bp.zeros(4)]
    bucket = dist.GradBucket(0, bp.arange(10.0), params, [0, 6], True)
    assert [g.tolist() for g in bucket.gradients()] == [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [6.0, 7.0, 8.0, 9.0]]
    bucket.set_buffer(bp.arange(10.0).half())
    assert bucket.gradients()[1].dtype == bp.float16 and bucket.is_last() and bucket.index() == 0
    assert bucket.parameters()[0] is params[0]
    with pytest.raises(TypeError, match="expected a Tensor"):
        bucket.set_buffer([1.0])  # type: ignore[arg-type]
