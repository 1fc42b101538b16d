"""Scenarios that ``tests/test_distributed.py`` runs under ``mpiexec -n 2``: rank 0 writes OUT/<name>.json.

Usage: ``mpiexec -n 2 python tests/distributed_worker.py OUT scenario [scenario ...]``, or for the TCP
backend ``BP_TEST_BACKEND=gloo python -m backprop.run --nproc-per-node 2 tests/distributed_worker.py OUT ...``. Every
scenario records values; the test module makes the assertions (so a failure shows the numbers).
"""

from __future__ import annotations

import copy
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import backprop as bp  # noqa: E402
import backprop.nn.functional as F
from backprop import distributed as dist
from backprop import nn, optim
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: N817 - the name torch users write

B = 16  # global batch


def _model(extra: bool = False) -> nn.Module:
    bp.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)]
    return nn.Sequential(*layers, *([nn.Linear(3, 3)] if extra else []))


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


def collectives() -> dict[str, Any]:
    r, w = dist.get_rank(), dist.get_world_size()
    out: dict[str, Any] = {"world_size": w, "backend": dist.get_backend(), "local_rank": dist.get_local_rank()}
    for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
        t = bp.tensor([r + 1.0, 10.0 * (r + 1), -(r + 2.0)])
        dist.all_reduce(t, getattr(dist.ReduceOp, op))
        out[op] = t.tolist()
    for op in ("BAND", "BOR", "BXOR"):  # bitwise, on integers and booleans
        t, b = bp.tensor([r + 1, 6, 12]), bp.tensor([r == 0, True, False])
        dist.all_reduce(t, getattr(dist.ReduceOp, op))
        dist.all_reduce(b, getattr(dist.ReduceOp, op))
        out[op] = [t.tolist(), b.tolist()]
    rng = np.random.default_rng(100 + r)
    mine = rng.standard_normal(1000).astype(np.float32)
    parts: list[Any] = [bp.zeros(1000) for _ in range(w)]
    dist.all_gather(parts, bp.tensor(mine))
    in_order = parts[0].detach().numpy().copy()
    for p in parts[1:]:
        in_order += p.detach().numpy()
    for det in (True, False):
        t = bp.tensor(mine)
        dist.all_reduce(t, deterministic=det)
        out[f"sum_equals_rank_order_{det}"] = bool(np.array_equal(t.detach().numpy(), in_order))
        out[f"sum_same_on_all_ranks_{det}"] = _same_on_all_ranks([t.detach().numpy()])
    out["gathered_rank_seeds_ok"] = all(
        np.array_equal(
            parts[i].detach().numpy(), np.random.default_rng(100 + i).standard_normal(1000).astype(np.float32)
        )
        for i in range(w)
    )
    t = bp.tensor([float(r)] * 4)
    dist.broadcast(t, src=1)
    out["broadcast_from_1"] = t.tolist()
    nc = bp.tensor(np.arange(6, dtype=np.float64).reshape(2, 3) * (r + 1)).T  # not contiguous
    dist.all_reduce(nc)
    out["non_contiguous"] = nc.tolist()
    for dtype in ("float16", "int64"):
        t = bp.tensor(np.array([1, 2, 3], dtype=dtype) * (r + 1))
        dist.all_reduce(t)
        out[dtype] = [t.tolist(), str(t.dtype)]
    t = bp.tensor(np.array([r == 0, False, True]))
    dist.all_reduce(t, dist.ReduceOp.MAX)
    out["bool_max"] = t.tolist()
    objs: list[Any] = [None] * w
    dist.all_gather_object(objs, {"rank": r})
    out["objects"] = objs
    lst: list[Any] = [f"from {r}", r]
    dist.broadcast_object_list(lst, src=1)
    out["broadcast_objects"] = lst
    dist.barrier()
    return out


def more_collectives() -> dict[str, Any]:
    """torch's other collectives and point-to-point calls on two ranks (rank r holds values built from r)."""
    r, w = dist.get_rank(), dist.get_world_size()
    out: dict[str, Any] = {}
    t = bp.tensor([r + 1.0, 10.0 * (r + 1)])
    dist.reduce(t, dst=1)
    out[f"reduce_rank{r}"] = t.tolist()
    t = bp.tensor([r + 1.0, -(r + 1.0)])
    dist.reduce(t, dst=0, op=dist.ReduceOp.MAX)
    out[f"reduce_max_rank{r}"] = t.tolist()
    gl = [bp.zeros(3) for _ in range(w)] if r == 1 else None
    dist.gather(bp.tensor([float(r)] * 3), gl, dst=1)
    out[f"gather_rank{r}"] = None if gl is None else [g.tolist() for g in gl]
    sc = bp.zeros(2)
    dist.scatter(sc, [bp.tensor([10.0, 11.0]), bp.tensor([20.0, 21.0])] if r == 0 else None, src=0)
    out[f"scatter_rank{r}"] = sc.tolist()
    rs = bp.zeros(2)
    dist.reduce_scatter(rs, [bp.tensor([1.0 + r, 2.0]), bp.tensor([3.0, 4.0 * (r + 1)])])
    out[f"reduce_scatter_rank{r}"] = rs.tolist()
    rst = bp.zeros(2)
    dist.reduce_scatter_tensor(rst, bp.tensor([1.0, 2.0, 3.0, 4.0]) * (r + 1), op=dist.ReduceOp.AVG)
    out[f"reduce_scatter_tensor_avg_rank{r}"] = rst.tolist()
    cat = bp.zeros(4, 2)
    dist.all_gather_into_tensor(cat, bp.tensor([[r, r + 0.5], [r + 10.0, r + 20.0]]))
    out[f"all_gather_into_tensor_rank{r}"] = cat.tolist()
    ins = [bp.tensor([100.0 * r + j] * (j + 1)) for j in range(w)]  # rank r sends j + 1 values to rank j
    outs = [bp.zeros(r + 1) for _ in range(w)]
    dist.all_to_all(outs, ins)
    out[f"all_to_all_rank{r}"] = [o.tolist() for o in outs]
    single = bp.zeros(4)
    dist.all_to_all_single(single, bp.arange(4.0) + 10 * r)
    out[f"all_to_all_single_rank{r}"] = single.tolist()
    uneven = bp.zeros(3 if r == 0 else 2)
    sizes_in = [2, 1] if r == 0 else [1, 1]  # rank 0 sends 2 rows to itself, 1 to rank 1; rank 1 sends 1 and 1
    sizes_out = [2, 1] if r == 0 else [1, 1]
    dist.all_to_all_single(uneven, bp.arange(3.0 if r == 0 else 2.0) + 10 * r, sizes_out, sizes_in)
    out[f"all_to_all_single_uneven_rank{r}"] = uneven.tolist()
    if r == 0:
        dist.send(bp.tensor([1.5, 2.5, 3.5]), dst=1)
        got = bp.zeros(2, dtype=bp.int64)
        out["recv_from"] = dist.recv(got)  # any source
        out["recv_value"] = got.tolist()
    else:
        buf = bp.zeros(3)
        out["recv1_from"] = dist.recv(buf, src=0)
        out["recv1_value"] = buf.tolist()
        dist.send(bp.tensor([7, 8]), dst=0)
    peer = 1 - r
    a, b = bp.tensor([float(r)] * 5), bp.zeros(5)
    works = dist.batch_isend_irecv([dist.P2POp(dist.isend, a, peer), dist.P2POp(dist.irecv, b, peer)])
    for wk in works:
        wk.wait()
    out[f"batch_p2p_rank{r}"] = b.tolist()
    nc = bp.zeros(3, 2).T  # a non-contiguous receive buffer
    wk = dist.irecv(nc, peer) if r == 0 else dist.isend(bp.arange(6.0).reshape(2, 3), peer)
    wk.wait()
    out[f"irecv_non_contiguous_rank{r}"] = nc.tolist()
    objs = [None] * w if r == 0 else None
    dist.gather_object({"rank": r}, objs, dst=0)
    out[f"gather_object_rank{r}"] = objs
    got_obj: list[Any] = [None]
    dist.scatter_object_list(got_obj, [f"to {i}" for i in range(w)] if r == 1 else None, src=1)
    out[f"scatter_object_rank{r}"] = got_obj[0]
    if r == 0:
        dist.send_object_list([{"x": 1}, "two"], dst=1)
    else:
        lst: list[Any] = [None, None]
        out["recv_object_list_from"] = dist.recv_object_list(lst, src=0)
        out["recv_object_list"] = lst
    dist.monitored_barrier()
    out["world_ranks"] = dist.get_process_group_ranks(dist.group.WORLD)
    out["new_group_is_world"] = dist.new_group([1, 0]) is dist.group.WORLD
    solo = dist.new_group([1])  # every rank calls it; rank 0 is outside
    out[f"solo_rank{r}"] = solo == dist.GroupMember.NON_GROUP_MEMBER if r == 0 else dist.get_process_group_ranks(solo)
    gathered: list[Any] = [None] * w
    dist.all_gather_object(gathered, out)
    merged: dict[str, Any] = {}
    for part in gathered:
        merged.update(part)
    return merged


def subgroups() -> dict[str, Any]:
    """Three ranks: a group of global ranks 0 and 2 (rank 1 outside), collectives inside it, then the world."""
    r = dist.get_rank()
    out: dict[str, Any] = {}
    g = dist.new_group([0, 2])
    member = r != 1
    out[f"is_member_{r}"] = g != dist.GroupMember.NON_GROUP_MEMBER
    out[f"rank_size_{r}"] = [dist.get_rank(g), dist.get_world_size(g)]
    t = bp.tensor([r + 1.0])
    dist.all_reduce(t, group=g)
    out[f"all_reduce_{r}"] = t.tolist()
    b = bp.tensor([10.0 * r])
    dist.broadcast(b, src=2, group=g)
    out[f"broadcast_src2_{r}"] = b.tolist()
    red = bp.tensor([r + 1.0, 2.0 * r])
    dist.reduce(red, dst=2, group=g)
    out[f"reduce_dst2_{r}"] = red.tolist()
    parts = [bp.zeros(1), bp.zeros(1)] if member else []
    dist.all_gather(parts, bp.tensor([float(r)]), group=g)
    out[f"all_gather_{r}"] = [p.tolist() for p in parts]
    if member:
        out[f"ranks_{r}"] = dist.get_process_group_ranks(g)
        out[f"global_of_1_{r}"] = dist.get_global_rank(g, 1)
        out[f"group_of_2_{r}"] = dist.get_group_rank(g, 2)
        if r == 0:
            dist.send(bp.tensor([4.0, 5.0]), dst=2, group=g)
        else:
            got = bp.zeros(2)
            out["recv_in_group_from"] = dist.recv(got, group=g)
            out["recv_in_group"] = got.tolist()
        objs: list[Any] = [None, None]
        dist.all_gather_object(objs, f"r{r}", group=g)
        out[f"objects_{r}"] = objs
    if member:  # DDP over the group: ranks 0 and 2 average their gradients, so their parameters stay equal
        model = DDP(_model(), process_group=g)
        opt = optim.SGD(model.parameters(), lr=0.1)
        for step in range(3):
            x, y = _batch(10 * step + r)
            opt.zero_grad()
            _loss(model, x, y).backward()
            opt.step()
        objs2: list[Any] = [None, None]
        dist.all_gather_object(objs2, _params(model), group=g)
        out[f"ddp_group_same_{r}"] = all(np.array_equal(a, b) for a, b in zip(objs2[0], objs2[1]))
        out[f"ddp_group_world_{r}"] = model.world_size
        bn = nn.SyncBatchNorm(2, process_group=g)
        xb = bp.tensor(np.full((4, 2), float(r)))
        bn(xb)
        out[f"sync_bn_mean_{r}"] = [round(v, 6) for v in bn.running_mean.tolist()]
    rev = dist.new_group([2, 0], sort_ranks=False)
    out[f"unsorted_rank_{r}"] = dist.get_rank(rev)
    world = bp.tensor([r + 1.0])
    dist.all_reduce(world)
    out[f"world_after_{r}"] = world.tolist()
    if member:
        dist.destroy_process_group(g)
        dist.destroy_process_group(rev)
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, out)
    merged: dict[str, Any] = {}
    for part in gathered:
        merged.update(part)
    return merged


def _ddp_run(make_opt: Any, deterministic: bool | None, steps: int = 20) -> dict[str, Any]:
    """DDP on the rank's half of each batch vs one process adding the two half-batch gradients."""
    w = dist.get_world_size()
    base = _model()
    ref = copy.deepcopy(base)
    full = copy.deepcopy(base)
    ddp = DDP(base, deterministic=deterministic)
    opt, ref_opt, full_opt = make_opt(ddp.parameters()), make_opt(ref.parameters()), make_opt(full.parameters())
    for step in range(steps):
        x, y = _batch(step)
        sl = dist.local_slice(B)
        loss = _loss(ddp, x[sl], y[sl])
        opt.zero_grad()
        loss.backward()
        opt.step()
        grads = []  # the reference: the ranks' half-batch gradients, added in rank order, then / w
        for r in range(w):
            s = dist.local_slice(B, r, w)
            ref_opt.zero_grad()
            _loss(ref, x[s], y[s]).backward()
            grads.append([p.grad.numpy().copy() for p in ref.parameters()])
        for i, p in enumerate(ref.parameters()):
            total = grads[0][i].copy()
            for g in grads[1:]:
                total += g[i]
            p.grad = bp.tensor(total / w)
        ref_opt.step()
        full_opt.zero_grad()
        _loss(full, x, y).backward()
        full_opt.step()
    mine, theirs, whole = _params(base), _params(ref), _params(full)
    return {
        "bitwise_equal_to_reference": all(np.array_equal(a, b) for a, b in zip(mine, theirs)),
        "max_diff_to_reference": max(float(np.max(np.abs(a - b))) for a, b in zip(mine, theirs)),
        "max_diff_to_full_batch": max(float(np.max(np.abs(a - b))) for a, b in zip(mine, whole)),
        "allclose_to_full_batch": all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(mine, whole)),
        "same_on_all_ranks": _same_on_all_ranks(mine),
        "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(mine, _params(_model()))),
        "buckets": len(ddp._buckets),
        "stats": ddp.stats,
    }


def ddp() -> dict[str, Any]:
    out = {}
    sgd = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    adam = lambda ps: optim.Adam(ps, lr=0.01)  # noqa: E731
    for name, make in (("sgd_momentum", sgd), ("adam", adam)):
        for det in (True, False):
            out[f"{name}_deterministic_{det}"] = _ddp_run(make, det)
    return out


def no_sync() -> dict[str, Any]:
    """Two micro-batches per step, the first under no_sync: the average of each rank's accumulated gradient."""
    w = dist.get_world_size()
    base = _model()
    ref = copy.deepcopy(base)
    model = DDP(base, bucket_cap_mb=0.0005)  # tiny buckets: several collectives per step
    opt, ref_opt = optim.SGD(model.parameters(), lr=0.1), optim.SGD(ref.parameters(), lr=0.1)
    for step in range(5):
        (xa, ya), (xb, yb) = _batch(2 * step), _batch(2 * step + 1)
        sl = dist.local_slice(B)
        opt.zero_grad()
        with model.no_sync():
            _loss(model, xa[sl], ya[sl]).backward()
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
            total = grads[0][i].copy()
            for g in grads[1:]:
                total += g[i]
            p.grad = bp.tensor(total / w)
        ref_opt.step()
    mine, theirs = _params(base), _params(ref)
    return {
        "bitwise_equal_to_reference": all(np.array_equal(a, b) for a, b in zip(mine, theirs)),
        "buckets": len(model._buckets),
        "collectives_per_reduction": model.stats["collectives"] / max(1, model.stats["reductions"]),
        "reductions": model.stats["reductions"],
    }


def errors() -> dict[str, Any]:
    r = dist.get_rank()
    out: dict[str, Any] = {}
    bp.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16 + r), nn.Tanh())  # rank 1's layer is wider
    try:
        DDP(m)
        out["shape_mismatch"] = None
    except RuntimeError as exc:
        out["shape_mismatch"] = str(exc)
    model = DDP(_model(extra=True))  # the extra Linear(3, 3) is never used
    x, y = _batch(0)
    sl = dist.local_slice(B)
    net = model.module

    def partial(inp: Any) -> Any:
        return net[2](net[1](net[0](inp)))

    model.module.forward = partial  # type: ignore[method-assign]
    _loss(model, x[sl], y[sl]).backward()
    try:
        model(bp.tensor(x[sl]))
        out["unused_error"] = None
    except RuntimeError as exc:
        out["unused_error"] = str(exc)
    # find_unused_parameters: rank 0 trains branch a, rank 1 branch b; both get the averages
    bp.manual_seed(1)
    two = nn.ModuleDict({"a": nn.Linear(6, 3), "b": nn.Linear(6, 3), "never": nn.Linear(6, 3)})
    ref = copy.deepcopy(two)
    fu = DDP(two, find_unused_parameters=True)
    branch = "a" if r == 0 else "b"
    fu.module.forward = lambda inp: fu.module[branch](inp)  # type: ignore[method-assign]
    _loss(fu, x[sl], y[sl]).backward()
    g_a = _ref_grad(ref, "a", x[dist.local_slice(B, 0, 2)], y[dist.local_slice(B, 0, 2)])
    g_b = _ref_grad(ref, "b", x[dist.local_slice(B, 1, 2)], y[dist.local_slice(B, 1, 2)])
    out["find_unused_a_is_half_rank0"] = bool(np.array_equal(two["a"].weight.grad.numpy(), g_a / 2))
    out["find_unused_b_is_half_rank1"] = bool(np.array_equal(two["b"].weight.grad.numpy(), g_b / 2))
    out["find_unused_never_grad_is_none"] = two["never"].weight.grad is None
    _loss(fu, x[sl], y[sl]).backward()  # a second iteration works (state was reset)
    out["find_unused_second_iteration_ok"] = True
    return out


def _ref_grad(mods: Any, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    mods.zero_grad()
    _loss(mods[name], x, y).backward()
    return mods[name].weight.grad.numpy().copy()


def raise_on_rank_1() -> dict[str, Any]:
    if dist.get_rank() == 1:
        raise ValueError("deliberate failure on rank 1")
    dist.barrier()  # rank 0 waits here for a rank that will never come
    return {}


def run_scenarios(namespace: dict[str, Any], reraise: tuple[str, ...] = (), **init: Any) -> None:
    """``worker.py OUT scenario ...`` (every worker's entry point): each scenario, a function of ``namespace``, runs
    on every rank; rank 0 writes its result, or the traceback, to OUT/<name>.json. ``namespace["OUT"]`` is OUT (for
    scenarios that save files); ``init`` goes to ``init_process_group``; scenarios in ``reraise`` fail the job."""
    out, names = Path(sys.argv[1]), sys.argv[2:]
    namespace["OUT"] = out
    dist.init_process_group(os.environ.get("BP_TEST_BACKEND", "mpi"), **init)  # (gloo: under python -m backprop.run)
    for name in names:
        try:
            result = namespace[name]()
        except Exception:
            if name in reraise:
                raise
            result = {"error": traceback.format_exc()}
            sys.stderr.write(f"rank {dist.get_rank()}: {name}: {result['error']}\n")  # (every rank's failure)
        if dist.get_rank() == 0:
            (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    dist.destroy_process_group()


def main() -> None:
    run_scenarios(globals(), reraise=("raise_on_rank_1",))


if __name__ == "__main__":
    main()
