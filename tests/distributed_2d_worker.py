"""Scenarios that ``tests/test_distributed_2d.py`` runs on 4 ranks (a 2x2 mesh): rank 0 writes OUT/<name>.json.

``dtensor``: DTensors on a 2-D mesh (every placement pair of ``PLACEMENTS`` on uneven shapes): every rank's local
shape and offset, ``full_tensor``, ``redistribute`` between every pair (values and gradients), ``from_local``'s
shape, Partial sums. ``fsdp_tp``: the TP tutorial's model (``distributed_tp_worker``'s) under TP on ``mesh["tp"]``
and ``fully_shard`` on ``mesh["dp"]``, trained with AdamW against one process, the 1-D TP run and the FSDP2 run.
``hsdp``: ``fully_shard`` on a ("replicate", "shard") mesh against DDP (the job is ``deterministic=True``).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_fsdp_worker import STEPS as FSDP_STEPS  # noqa: E402
from distributed_fsdp_worker import Block as FBlock  # noqa: E402
from distributed_fsdp_worker import _loss, _model  # noqa: E402
from distributed_tp_worker import CASES, Transformer, _inputs, _tp, run_op  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.nn.functional as F  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.distributed.device_mesh import init_device_mesh  # noqa: E402
from backprop.distributed.fsdp import fully_shard  # noqa: E402
from backprop.distributed.tensor import (  # noqa: E402
    DTensor,
    Partial,
    Replicate,
    Shard,
    compute_local_shape_and_global_offset,
    distribute_tensor,
)
from backprop.distributed.tensor import _StridedShard as SS  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817

# placements of a 2-D tensor on the 2x2 mesh, by name ("R", "S0", "S1"; "SS0": _StridedShard(0, 2))
PLACEMENTS = [("R", "R"), ("S0", "R"), ("R", "S0"), ("R", "S1"), ("S0", "S1"), ("S1", "S0"), ("S0", "S0"), ("S1", "S1")]
STRIDED = [("SS0", "S0")]
SHAPES = [(5, 7), (8, 4), (3, 2)]


def placement(name: str) -> Any:
    """``"R"``, ``"P"``, ``"S<d>"`` or ``"SS<d>"`` (split factor 2) as a placement (backprop's or, given
    ``lib``'s classes, torch's)."""
    return _placement(name, Replicate, Partial, Shard, SS)


def _placement(name: str, r: Any, p: Any, s: Any, ss: Any) -> Any:
    if name == "R":
        return r()
    if name == "P":
        return p()
    if name.startswith("SS"):
        return ss(int(name[2:]), split_factor=2)
    return s(int(name[1:]))


def _gather(obj: Any) -> list[Any]:
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def dtensor() -> dict[str, Any]:
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"layouts": {}, "redistribute_ok": True, "grads_ok": True, "failures": []}
    for shape in SHAPES:
        x = rng.standard_normal(shape)
        for names in PLACEMENTS + STRIDED:
            pl = [placement(n) for n in names]
            d = distribute_tensor(bp.tensor(x), mesh, pl)
            local = tuple(d.to_local().shape)
            layout = compute_local_shape_and_global_offset(shape, mesh, pl)
            back = DTensor.from_local(d.to_local(), mesh, pl)  # (the global shape from the ranks' sizes)
            key = f"{shape} {names}"
            out["layouts"][key] = {
                "local": _gather([list(local), list(layout[0]), list(layout[1])]),
                "full_ok": bool(np.array_equal(d.full_tensor().numpy(), x)),
                "from_local_shape": list(back.shape),
                "placements": repr(d.placements),
            }
        for src in PLACEMENTS + STRIDED:
            for dst in PLACEMENTS + STRIDED:
                ps, pd = [placement(n) for n in src], [placement(n) for n in dst]
                d = distribute_tensor(bp.tensor(x, requires_grad=True), mesh, ps)
                moved = d.redistribute(mesh, pd)
                want = distribute_tensor(bp.tensor(x), mesh, pd).to_local().numpy()
                ok = moved.placements == tuple(pd) and np.array_equal(moved.to_local().detach().numpy(), want)
                c = distribute_tensor(bp.tensor(np.cos(x)), mesh, pd)  # (d/dx sum(c * x) = c)
                (moved.to_local() * c.to_local()).sum().backward()
                g_ok = d.grad is not None and np.array_equal(d.grad.full_tensor().numpy(), np.cos(x))
                if not (ok and g_ok):
                    out["failures"].append(f"{shape} {src} -> {dst}: value {ok} grad {g_ok}")
                out["redistribute_ok"] &= bool(ok)
                out["grads_ok"] &= bool(g_ok)
    # Partial on one mesh dim: the sum over that dim's group; on both: over all four ranks
    r = dist.get_rank()
    v = bp.tensor(np.arange(12.0).reshape(3, 4) * (r + 1))
    p0 = DTensor.from_local(v, mesh, [Partial(), Shard(1)], shape=(3, 8))
    pp = DTensor.from_local(v, mesh, [Partial(), Partial()])
    out["partial_dim0"] = p0.full_tensor().numpy().tolist()
    out["partial_both"] = pp.redistribute(mesh, [Replicate(), Shard(0)]).full_tensor().numpy().tolist()
    same = distribute_tensor(bp.tensor(x), mesh, [Shard(0), Shard(1)])
    out["elementwise_ok"] = bool(np.allclose((same * 2 + same).full_tensor().numpy(), 3 * x, rtol=0, atol=1e-15))
    mm = (same @ same.t()).full_tensor().numpy()  # (an op across placements on the 2-D mesh)
    out["matmul_ok"] = bool(np.allclose(mm, x @ x.T, rtol=0, atol=1e-13))
    errors = {}
    for name, fn in {
        "one_placement": lambda: distribute_tensor(bp.tensor(x), mesh, [Shard(0)]),
        "to_partial": lambda: same.redistribute(mesh, [Partial(), Shard(1)]),
        "strided_op": lambda: distribute_tensor(bp.tensor(x), mesh, [SS(0, 2), Shard(0)]).sum(),
    }.items():
        try:
            fn()
            errors[name] = None
        except Exception as e:  # noqa: BLE001 - (recording the class and message)
            errors[name] = [type(e).__name__, str(e)]
    out["errors"] = errors
    return out


# ------------------------------------------------------------------------------------------ ops on the 2x2 mesh
def _variants() -> list[tuple[str, str, list[Any]]]:
    """``distributed_tp_worker``'s op cases with a placement per mesh dim: the case's on the "tp" dim (the "dp"
    dim Replicate), on the "dp" dim, on both (nested sharding, a Partial over all four ranks), and mixed."""
    out = []
    for name, op, case in CASES:
        for tag, pair in (("R,x", lambda s: ("R", s)), ("x,R", lambda s: (s, "R")), ("x,x", lambda s: (s, s))):
            specs = [(*c[:-1], pair(c[-1])) if c[0] == "I" else (c[0], pair(c[1])) for c in case]
            out.append((f"{name} [{tag}]", op, specs))
    out += [
        ("lin S0,R x R,S0", "linear", [((4, 4, 6), ("S0", "R")), ((8, 6), ("R", "S0"))]),
        ("lin S0,S2 x R,S1", "linear", [((4, 4, 6), ("S0", "S2")), ((8, 6), ("R", "S1"))]),
        ("mm S0,S1 x R,S0", "mm", [((4, 6), ("S0", "S1")), ((6, 8), ("R", "S0"))]),
        ("add S0,R + R,S1", "add", [((4, 6), ("S0", "R")), ((4, 6), ("R", "S1"))]),
        ("mul P,S0 * R,S0", "mul", [((4, 6), ("P", "S0")), ((4, 6), ("R", "S0"))]),
        ("sum S0,S1 all", "sum", [((4, 6), ("S0", "S1"))]),
        ("mean S0,S0 dim0", "mean_1k", [((4, 6, 6), ("S2", "S0"))]),
        ("view S0,S2 flatten", "view_86", [((2, 4, 6), ("S0", "S2"))]),
        ("emb S0,R w R,S0", "embedding", [("I", (2, 4), 10, ("S0", "R")), ((10, 6), ("R", "S0"))]),
        ("emb R,R w S0,S1", "embedding", [("I", (2, 4), 10, ("R", "R")), ((10, 6), ("S0", "S1"))]),
        ("ln S0,S1", "layer_norm", [((2, 4, 6), ("S0", "S1")), ((6,), ("R", "R")), ((6,), ("R", "R"))]),
        ("sdpa S0,S1", "sdpa", [((2, 4, 5, 6), ("S0", "S1"))] * 3),
    ]
    return out


OPS_2D = _variants()


def ops2d() -> dict[str, Any]:
    """Each case on the 2x2 mesh: placements, every rank's local shape, value and gradients against one process."""
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    results: dict[str, Any] = {}
    for k, (name, op, case) in enumerate(OPS_2D):
        arrays = _inputs(case, k)
        plain = [bp.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        dts = []
        for a, spec in zip(arrays, case):
            pl = [placement(n) for n in (spec[-1] if spec[0] == "I" else spec[1])]
            leaf = bp.tensor(a, requires_grad=a.dtype.kind == "f")
            parts = int(np.prod([mesh.size(i) for i, p in enumerate(pl) if isinstance(p, Partial)]))
            if parts > 1:  # (a term of the sum on each rank: this rank's part of the value over the count)
                rl = [Replicate() if isinstance(p, Partial) else p for p in pl]
                d = DTensor.from_local(distribute_tensor(leaf, mesh, rl).to_local() / parts, mesh, pl, shape=a.shape)
            else:
                d = distribute_tensor(leaf.detach(), mesh, pl).requires_grad_(a.dtype.kind == "f")
            dts.append(d)
        try:
            out = run_op(bp, F, op, dts)
        except Exception as e:  # noqa: BLE001 - (recorded: the test says which case)
            results[name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        ref = run_op(bp, F, op, plain)
        full = out.full_tensor()
        w = np.random.default_rng(100 + k).standard_normal(tuple(ref.shape))
        (ref * bp.tensor(w)).sum().backward()
        (full * bp.tensor(w)).sum().backward()
        grads_ok = []
        for p_, d in zip(plain, dts):
            if p_.grad is None or (d.grad is None and d.grad_fn is not None):  # (Partial inputs: non-leaf)
                continue
            g = d.grad
            grads_ok.append(g is not None and bool(np.allclose(g.full_tensor().numpy(), p_.grad.numpy(), atol=1e-12)))
        results[name] = {
            "placements": [repr(p) for p in out.placements],
            "local_shapes": _gather(list(out.to_local().shape)),
            "value_ok": bool(np.allclose(full.detach().numpy(), ref.detach().numpy(), atol=1e-12)),
            "grads_ok": grads_ok,
        }
    return results


# ------------------------------------------------------------------------------------------ FSDP2 + TP
STEPS = 4


def _batch(step: int, dp: int | None) -> tuple[Any, Any]:
    """Step ``step``'s global batch of 4 sequences, or data-parallel rank ``dp``'s half of it."""
    rng = np.random.default_rng(step)
    x, y = rng.integers(0, 16, (4, 6)), rng.integers(0, 16, (4, 6))
    if dp is not None:
        x, y = x[2 * dp : 2 * dp + 2], y[2 * dp : 2 * dp + 2]
    return bp.tensor(x), bp.tensor(y)


def _full(model: nn.Module) -> dict[str, np.ndarray]:
    return {
        k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().numpy().copy()
        for k, v in model.state_dict().items()
    }


def _run(model: nn.Module, dp: int | None) -> tuple[dict[str, np.ndarray], list[float]]:
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for step in range(STEPS):
        x, y = _batch(step, dp)
        opt.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, 16), y.reshape(-1))
        loss.backward()
        bp.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.full_tensor() if isinstance(loss, DTensor) else loss))
    return _full(model), losses


def _diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert list(a) == list(b), (list(a), list(b))
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def fsdp_tp() -> dict[str, Any]:
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    dp = mesh.get_local_rank("dp")
    bp.manual_seed(0)
    with bp.device("cpu"):
        base = Transformer().double()
    start = _full(base)
    ref, ref_losses = _run(copy.deepcopy(base), None)

    model = _tp(copy.deepcopy(base), mesh["tp"], False)  # (torch's 2-D recipe: TP, then FSDP per block and root)
    for block in model.layers:
        fully_shard(block, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])
    params = dict(model.named_parameters())
    placements = {k: [repr(p) for p in v.placements] for k, v in params.items()}
    local = {k: list(v.to_local().shape) for k, v in params.items()}
    meshes = {k: list(v.device_mesh.mesh_dim_names or ()) for k, v in params.items()}
    two_d, losses = _run(model, dp)

    tp_only, tp_losses = _run(_tp(copy.deepcopy(base), mesh["tp"], False), None)  # (each TP group: the whole batch)
    fsdp_only = copy.deepcopy(base)
    for block in fsdp_only.layers:
        fully_shard(block, mesh=mesh["dp"])
    fsdp_only = fully_shard(fsdp_only, mesh=mesh["dp"])
    fsdp_full, fsdp_losses = _run(fsdp_only, dp)
    return {
        "placements": placements,
        "local_shapes": _gather(local),
        "meshes": meshes,
        "vs_one_process": _diff(two_d, ref),
        "vs_tp": _diff(two_d, tp_only),
        "vs_fsdp": _diff(two_d, fsdp_full),
        "tp_vs_one_process": _diff(tp_only, ref),
        "moved": _diff(ref, start),
        "losses": _gather(losses),
        "ref_losses": ref_losses,
        "block_is_fsdp": type(model.layers[0]).__name__,
        "grad_placements": [repr(p) for p in model.layers[0].attention.wq.weight.grad.placements],
    }


# ------------------------------------------------------------------------------------------ HSDP
def _np(t: Any) -> np.ndarray:
    return (t.full_tensor() if isinstance(t, DTensor) else t).detach().numpy().copy()


def hsdp() -> dict[str, Any]:
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("replicate", "shard"))
    base = _model("tfm")
    ref = DDP(copy.deepcopy(base), deterministic=True)
    rs_ar = copy.deepcopy(base)
    for m in (base, rs_ar):
        for sub in m.modules():
            if isinstance(sub, FBlock):
                fully_shard(sub, mesh=mesh)
        fully_shard(m, mesh=mesh)
    for sub in rs_ar.modules():  # (torch's reduction order: reduce-scatter over "shard", all-reduce over "replicate")
        state = getattr(sub, "_fsdp_state", None)
        if state is not None:
            state.flat = None
    models = [(m, optim.Adam(m.parameters(), lr=0.01)) for m in (base, rs_ar, ref)]
    grads = []
    for step in range(FSDP_STEPS):
        for m, o in models:
            o.zero_grad()
            _loss(m, "tfm", step).backward()
            if step == 0:
                grads.append([_np(p.grad) for p in m.parameters()])
            o.step()
    mine, other, theirs = _full(base), _full(rs_ar), _full(ref.module)
    p = next(iter(base.parameters()))
    return {
        "bitwise": all(mine[k].tobytes() == theirs[k].tobytes() for k in theirs) and list(mine) == list(theirs),
        "max_diff": _diff(mine, theirs),
        "rs_ar_max_diff": _diff(other, theirs),
        "grads_bitwise": all(a.tobytes() == b.tobytes() for a, b in zip(grads[0], grads[2])),
        "rs_ar_grad_rel_diff": max(
            float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(grads[1], grads[2])
        ),
        "placements": {k: [repr(q) for q in v.placements] for k, v in base.named_parameters()},
        "shapes": {k: list(v.shape) for k, v in base.named_parameters()},
        "local_shapes": _gather({k: list(v.to_local().shape) for k, v in base.named_parameters()}),
        "grad_placements": [repr(q) for q in p.grad.placements],
    }


def main() -> None:
    run_scenarios(globals(), deterministic=True)


if __name__ == "__main__":
    main()
