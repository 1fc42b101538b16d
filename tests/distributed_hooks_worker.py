"""Scenarios of ``tests/test_distributed_hooks.py`` (DDP communication hooks, ``Work.get_future``) on two ranks.

Usage: ``mpiexec -n 2 python tests/distributed_hooks_worker.py OUT scenario ...``, or under ``python -m
backprop.run --nproc-per-node 2`` with ``BP_TEST_BACKEND=gloo``. Rank 0 writes OUT/<scenario>.json; the test
module makes the assertions.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.nn.functional as F  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.distributed.algorithms.ddp_comm_hooks import default_hooks as hooks  # noqa: E402
from backprop.futures import Future  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817

B = 16
STEPS = 4
CAP = 0.0005  # MB: tiny buckets, several per step


def _model() -> nn.Module:
    bp.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def _batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(step)
    return rng.standard_normal((B, 6)).astype(np.float32), rng.integers(0, 3, B)


def _loss(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    return F.cross_entropy(model(bp.tensor(x)), bp.tensor(y))


def _params(model: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


def _same_on_all_ranks(arrays: list[np.ndarray]) -> bool:
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, arrays)
    return all(all(np.array_equal(a, b) for a, b in zip(gathered[0], g)) for g in gathered)


def _train(hook: Any = None, steps: int = STEPS, state: Any = None) -> tuple[list[np.ndarray], DDP]:
    """SGD with momentum on rank-local halves of the batch, through DDP with ``hook`` (None: the built-in)."""
    model = DDP(_model(), bucket_cap_mb=CAP)
    if hook is not None:
        model.register_comm_hook(state, hook)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(steps):
        x, y = _batch(step)
        sl = dist.local_slice(B)
        opt.zero_grad()
        _loss(model, x[sl], y[sl]).backward()
        opt.step()
    return _params(model.module), model


def _reference(reduce: Any, steps: int = STEPS) -> list[np.ndarray]:
    """The same training in one process: each rank's local gradients, combined by ``reduce(list of arrays)``."""
    ref = _model()
    opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    w = dist.get_world_size()
    for step in range(steps):
        x, y = _batch(step)
        grads = []
        for r in range(w):
            s = dist.local_slice(B, r, w)
            opt.zero_grad()
            _loss(ref, x[s], y[s]).backward()
            grads.append([p.grad.numpy().copy() for p in ref.parameters()])
        for i, p in enumerate(ref.parameters()):
            p.grad = bp.tensor(reduce([g[i] for g in grads]))
        opt.step()
    return _params(ref)


def _compressed_sum(dtype: Any) -> Any:
    """fp16/bf16 compression in NumPy: each rank's gradient cast down, divided by the world size there,
    summed in rank order in the low precision, cast back to float32."""

    def reduce(parts: list[np.ndarray]) -> np.ndarray:
        w = len(parts)
        low = [p.astype(dtype) / np.array(w, dtype=dtype) for p in parts]
        total = low[0].copy()
        for q in low[1:]:
            total = (total + q).astype(dtype)
        return total.astype(np.float32)

    return reduce


def _plain_average(parts: list[np.ndarray]) -> np.ndarray:
    total = parts[0].copy()
    for q in parts[1:]:
        total += q
    return total / len(parts)


def _compare(mine: list[np.ndarray], theirs: list[np.ndarray]) -> dict[str, Any]:
    return {
        "bitwise_equal": all(np.array_equal(a, b) for a, b in zip(mine, theirs)),
        "max_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(mine, theirs)),
    }


def futures() -> dict[str, Any]:
    """``Work.get_future()`` of the collectives on two ranks: torch's value lists."""
    r, w = dist.get_rank(), dist.get_world_size()
    out: dict[str, Any] = {}
    t = bp.tensor([r + 1.0, 10.0])
    fut = dist.all_reduce(t, async_op=True).get_future()
    value = fut.wait()
    out["all_reduce"] = [len(value), value[0] is t, value[0].tolist(), fut.done()]
    chained = dist.all_reduce(bp.tensor([1.0 + r]), async_op=True).get_future().then(lambda f: f.value()[0] * 2)
    out["all_reduce_then"] = chained.wait().tolist()
    parts = [bp.zeros(2) for _ in range(w)]
    value = dist.all_gather(parts, bp.tensor([float(r), 5.0]), async_op=True).get_future().wait()
    out["all_gather"] = [[v.tolist() for v in value], all(a is b for a, b in zip(value, parts))]
    out["broadcast"] = dist.broadcast(bp.tensor([float(r)]), 1, async_op=True).get_future().wait()[0].tolist()
    out["barrier"] = dist.barrier(async_op=True).get_future().wait()
    o = bp.zeros(2 * w)
    out["all_gather_into_tensor"] = (
        dist.all_gather_into_tensor(o, bp.tensor([float(r), 1.0]), async_op=True).get_future().wait()[0].tolist()
    )
    both = [dist.all_reduce(bp.tensor([float(k + r)]), async_op=True).get_future() for k in range(3)]
    out["wait_all"] = [v[0].tolist() for v in bp.futures.wait_all(both)]
    return out


def allreduce_hook() -> dict[str, Any]:
    """``allreduce_hook`` gives DDP's own bits; with ``deterministic`` both ways."""
    plain, model = _train()
    with_hook, hooked = _train(hooks.allreduce_hook)
    out = _compare(with_hook, plain)
    out["buckets"] = len(hooked._buckets)
    out["reference"] = _compare(with_hook, _reference(_plain_average))
    out["same_on_all_ranks"] = _same_on_all_ranks(with_hook)
    return out


def _compression(hook: Any, dtype: Any) -> dict[str, Any]:
    mine, _ = _train(hook)
    plain, _ = _train()
    return {
        "reference": _compare(mine, _reference(_compressed_sum(dtype))),
        "vs_uncompressed": _compare(mine, plain),
        "same_on_all_ranks": _same_on_all_ranks(mine),
    }


def fp16() -> dict[str, Any]:
    """fp16_compress_hook against the NumPy computation; fp16_compress_wrapper(allreduce_hook) gives its bits."""
    out = _compression(hooks.fp16_compress_hook, np.float16)
    wrapped, _ = _train(hooks.fp16_compress_wrapper(hooks.allreduce_hook))
    out["wrapper_equals_hook"] = _compare(wrapped, _train(hooks.fp16_compress_hook)[0])
    return out


def bf16() -> dict[str, Any]:
    """bf16_compress_hook against the NumPy computation (ml_dtypes' bfloat16)."""
    out = _compression(hooks.bf16_compress_hook, bp.bfloat16)
    wrapped, _ = _train(hooks.bf16_compress_wrapper(hooks.allreduce_hook))
    out["wrapper_equals_hook"] = _compare(wrapped, _train(hooks.bf16_compress_hook)[0])
    return out


def buckets() -> dict[str, Any]:
    """What the hook sees: GradBucket indices, is_last, sizes, parameters; the state object passed along."""
    state: dict[str, Any] = {"calls": []}

    def spy(st: Any, bucket: dist.GradBucket) -> Future[bp.Tensor]:
        grads = bucket.gradients()
        st["calls"].append(
            {
                "index": bucket.index(),
                "is_last": bucket.is_last(),
                "numel": bucket.buffer().numel(),
                "shapes": [list(g.shape) for g in grads],
                "params_match": [tuple(p.shape) for p in bucket.parameters()] == [tuple(g.shape) for g in grads],
                "views": all(np.shares_memory(g.numpy(), bucket.buffer().numpy()) for g in grads),
            }
        )
        return hooks.allreduce_hook(None, bucket)

    _train(spy, steps=1, state=state)
    return {"calls": state["calls"]}


def bytes_per_step() -> dict[str, Any]:
    """All-reduce payload bytes per rank per step, with the built-in reduction and with each compressing hook."""
    counted = [0]
    real = dist.all_reduce

    def counting(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        counted[0] += tensor.numel() * tensor.element_size()
        return real(tensor, *args, **kwargs)

    dist.all_reduce = counting  # type: ignore[assignment]
    out = {}
    try:
        for name, hook in (("none", None), ("fp16", hooks.fp16_compress_hook), ("bf16", hooks.bf16_compress_hook)):
            counted[0] = 0
            _train(hook, steps=2)
            out[name] = counted[0] // 2
    finally:
        dist.all_reduce = real  # type: ignore[assignment]
    return out


def no_sync() -> dict[str, Any]:
    """Gradient accumulation under no_sync with fp16 compression: the hook runs once per step, on the sum."""
    calls = [0]

    def counted(state: Any, bucket: dist.GradBucket) -> Future[bp.Tensor]:
        calls[0] += 1
        return hooks.fp16_compress_hook(state, bucket)

    w = dist.get_world_size()
    base = _model()
    ref = copy.deepcopy(base)
    model = DDP(base, bucket_cap_mb=CAP)
    model.register_comm_hook(None, counted)
    opt, ref_opt = optim.SGD(model.parameters(), lr=0.1), optim.SGD(ref.parameters(), lr=0.1)
    reduce = _compressed_sum(np.float16)
    for step in range(3):
        (xa, ya), (xb, yb) = _batch(2 * step), _batch(2 * step + 1)
        sl = dist.local_slice(B)
        opt.zero_grad()
        with model.no_sync():
            _loss(model, xa[sl], ya[sl]).backward()
        after_no_sync = calls[0]
        _loss(model, xb[sl], yb[sl]).backward()
        opt.step()
        grads = []
        for r in range(w):
            s = dist.local_slice(B, r, w)
            ref_opt.zero_grad()
            _loss(ref, xa[s], ya[s]).backward()
            _loss(ref, xb[s], yb[s]).backward()
            grads.append([p.grad.numpy().copy() for p in ref.parameters()])
        for i, p in enumerate(ref.parameters()):
            p.grad = bp.tensor(reduce([g[i] for g in grads]))
        ref_opt.step()
    out = _compare(_params(base), _params(ref))
    out.update(buckets=len(model._buckets), calls=calls[0], calls_before_last_sync=after_no_sync)
    return out


def unused() -> dict[str, Any]:
    """find_unused_parameters with allreduce_hook: rank 0 trains branch a, rank 1 branch b, none trains "never"."""
    r = dist.get_rank()
    x, y = _batch(0)
    sl = dist.local_slice(B)
    out: dict[str, Any] = {}
    for name, hook in (("allreduce", hooks.allreduce_hook), ("fp16", hooks.fp16_compress_hook)):
        bp.manual_seed(1)
        two = nn.ModuleDict({"a": nn.Linear(6, 3), "b": nn.Linear(6, 3), "never": nn.Linear(6, 3)})
        ref = copy.deepcopy(two)
        fu = DDP(two, find_unused_parameters=True)
        fu.register_comm_hook(None, hook)
        branch = "a" if r == 0 else "b"
        fu.module.forward = lambda inp, fu=fu, branch=branch: fu.module[branch](inp)  # type: ignore[method-assign]
        _loss(fu, x[sl], y[sl]).backward()
        zero = np.zeros((3, 6), np.float32)
        g_a = _ref_grad(ref, "a", x[dist.local_slice(B, 0, 2)], y[dist.local_slice(B, 0, 2)])
        g_b = _ref_grad(ref, "b", x[dist.local_slice(B, 1, 2)], y[dist.local_slice(B, 1, 2)])
        combine = _plain_average if name == "allreduce" else _compressed_sum(np.float16)
        out[name] = {
            "a": bool(np.array_equal(two["a"].weight.grad.numpy(), combine([g_a, zero]))),
            "b": bool(np.array_equal(two["b"].weight.grad.numpy(), combine([zero, g_b]))),
            "never_grad_is_none": two["never"].weight.grad is None,
        }
        _loss(fu, x[sl], y[sl]).backward()  # a second iteration works
        out[name]["second_iteration_ok"] = True
    return out


def _ref_grad(mods: Any, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    mods.zero_grad()
    _loss(mods[name], x, y).backward()
    return mods[name].weight.grad.numpy().copy()


def hook_errors() -> dict[str, Any]:
    """A hook that raises, or returns no Future, fails backward on every rank; the wrapper works again after."""
    out: dict[str, Any] = {}
    x, y = _batch(0)
    sl = dist.local_slice(B)

    def raising(state: Any, bucket: dist.GradBucket) -> Future[bp.Tensor]:
        if state["fail"]:
            raise KeyError("in hook")
        return hooks.allreduce_hook(None, bucket)

    state = {"fail": True}
    model = DDP(_model(), bucket_cap_mb=CAP)
    model.register_comm_hook(state, raising)
    try:
        _loss(model, x[sl], y[sl]).backward()
        out["raised"] = None
    except KeyError as exc:
        out["raised"] = str(exc)
    state["fail"] = False
    model.module.zero_grad()
    _loss(model, x[sl], y[sl]).backward()
    out["recovered"] = True
    model2 = DDP(_model())
    model2.register_comm_hook(None, lambda s, bucket: 3)
    try:
        _loss(model2, x[sl], y[sl]).backward()
        out["not_a_future"] = None
    except RuntimeError as exc:
        out["not_a_future"] = str(exc)
    return out


def main() -> None:
    run_scenarios(globals())


if __name__ == "__main__":
    main()
