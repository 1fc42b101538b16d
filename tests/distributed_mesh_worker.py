"""Scenarios that ``tests/test_distributed_mesh.py`` runs on 2 or 4 ranks: rank 0 writes OUT/<name>.json, the list of
every rank's record.

Usage: ``mpiexec -n 4 python tests/distributed_mesh_worker.py OUT scenario [scenario ...]``, or for the TCP backend
``BP_TEST_BACKEND=gloo python -m backprop.run --nproc-per-node 4 tests/distributed_mesh_worker.py OUT ...``.
``describe`` also runs on torch's own DeviceMesh (a fake world in the test process), so the records compare as is.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import backprop as bp  # noqa: E402
import backprop.nn.functional as F  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817 - the name torch users write

OUT = Path(".")


def configs(world: int) -> list[tuple[str, Any, Any]]:
    """(label, shape or explicit mesh, dim names) of the meshes built on ``world`` ranks."""
    if world == 4:
        return [
            ("2x2", (2, 2), ("dp", "tp")),
            ("4", (4,), None),
            ("1x4", (1, 4), ("a", "b")),
            ("custom", [[3, 1], [2, 0]], ("a", "b")),
            ("smaller", (2,), ("x",)),
        ]
    return [("2x1", (2, 1), ("dp", "tp")), ("1x2", (1, 2), ("dp", "tp")), ("2", (2,), None), ("custom", [1, 0], None)]


def _error(fn: Any) -> list[str] | None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the class and message are the record
        return [type(exc).__name__, str(exc)]
    return None


def describe(d: Any, mesh: Any) -> dict[str, Any]:
    """What a mesh tells this rank (``d`` is backprop.distributed or torch.distributed): JSON-ready."""
    coord = mesh.get_coordinate()
    rec: dict[str, Any] = {
        "repr": repr(mesh),
        "mesh": mesh.mesh.tolist(),
        "coordinate": None if coord is None else list(coord),
        "ndim": mesh.ndim,
        "shape": list(mesh.shape),
        "size": [mesh.size(), *(mesh.size(i) for i in range(mesh.ndim))],
        "names": None if mesh.mesh_dim_names is None else list(mesh.mesh_dim_names),
        "device_type": mesh.device_type,
        "rank": mesh.get_rank(),
    }
    if coord is None:
        return rec
    groups = mesh.get_all_groups()
    rec["group_ranks"] = [d.get_process_group_ranks(g) for g in groups]
    rec["local_ranks"] = [mesh.get_local_rank(i) for i in range(mesh.ndim)]
    if mesh.mesh_dim_names:
        rec["local_ranks_by_name"] = [mesh.get_local_rank(n) for n in mesh.mesh_dim_names]
        rec["same_group_by_name"] = [mesh.get_group(n) is g for n, g in zip(mesh.mesh_dim_names, groups)]
        subs = {}
        for n in mesh.mesh_dim_names:
            sub = mesh[n]
            subs[n] = {
                "repr": repr(sub),
                "mesh": sub.mesh.tolist(),
                "coordinate": list(sub.get_coordinate()),
                "group_ranks": d.get_process_group_ranks(sub.get_group()),
                "local_rank": sub.get_local_rank(),
                "group_is_parents": sub.get_group() is mesh.get_group(n),
                "eq_again": sub == mesh[n] and hash(sub) == hash(mesh[n]),
                "eq_parent": sub == mesh,
            }
        rec["slices"] = subs
        rec["whole_slice_is_self"] = mesh[tuple(mesh.mesh_dim_names)] is mesh
    if mesh.ndim == 1:
        rec["group_ranks_default"] = d.get_process_group_ranks(mesh.get_group())
        rec["local_rank_default"] = mesh.get_local_rank()
    else:
        rec["get_group_none"] = _error(lambda: mesh.get_group())
    return rec


def _build(label: str, spec: Any, names: Any) -> Any:
    if label == "custom":
        return dist.DeviceMesh("cpu", spec, mesh_dim_names=names)
    return dist.init_device_mesh("cpu", spec, mesh_dim_names=names)


def meshes() -> dict[str, Any]:
    """Every mesh of ``configs``: ``describe`` plus an all_reduce of ``rank + 1`` over each dimension's group."""
    out: dict[str, Any] = {}
    for label, spec, names in configs(dist.get_world_size()):
        mesh = _build(label, spec, names)
        rec = describe(dist, mesh)
        if mesh.get_coordinate() is not None:
            sums = []
            for g in mesh.get_all_groups():
                t = bp.tensor([float(dist.get_rank() + 1)])
                dist.all_reduce(t, group=g)
                sums.append(t.item())
            rec["sums"] = sums
        out[label] = rec
    return out


def _model() -> nn.Module:
    bp.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def _batch(step: int, rank: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(100 * step + rank)
    return bp.tensor(rng.standard_normal((6, 5)).astype(np.float32)), bp.tensor(rng.integers(0, 3, 6))


def ddp() -> dict[str, Any]:
    """DDP over ``mesh["dp"]`` against DDP over an explicit group of the same ranks, each rank on its own data; and
    the group's average computed in one process (every member's batch, losses averaged)."""
    w, r = dist.get_world_size(), dist.get_rank()
    mesh = dist.init_device_mesh("cpu", (2, w // 2), mesh_dim_names=("dp", "tp"))
    dp_mesh = mesh["dp"]
    lines = [[i + j * (w // 2) for j in range(2)] for i in range(w // 2)]  # the dp columns: [[0, 2], [1, 3]]
    explicit, _ = dist.new_subgroups_by_enumeration(lines)
    members = dist.get_process_group_ranks(explicit)
    models = [_model(), _model(), _model()]
    with bp.no_grad():  # the tp lines start apart, so a reduction over the wrong ranks would show
        for m in models:
            m[0].bias.add_(float(r % (w // 2)))
    wrapped = [DDP(models[0], device_mesh=dp_mesh), DDP(models[1], process_group=explicit), models[2]]
    opts = [optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in wrapped]
    for step in range(5):
        for i, (m, o) in enumerate(zip(wrapped, opts)):
            o.zero_grad()
            if i < 2:
                x, y = _batch(step, r)
                F.cross_entropy(m(x), y).backward()
            else:
                losses = [F.cross_entropy(m(x), y) for x, y in (_batch(step, q) for q in members)]
                (sum(losses[1:], losses[0]) / len(losses)).backward()
            o.step()
    params = [[p.detach().numpy().copy() for p in m.parameters()] for m in models]
    return {
        "mesh_group_ranks": dist.get_process_group_ranks(wrapped[0].process_group),
        "explicit_ranks": members,
        "bitwise_equal": all(np.array_equal(a, b) for a, b in zip(params[0], params[1])),
        "ref_max_diff": max(float(np.abs(a - b).max()) for a, b in zip(params[0], params[2])),
        "checksum": float(sum(a.astype(np.float64).sum() for a in params[0])),
        "device_mesh_kept": wrapped[0].device_mesh is dp_mesh,
    }


def _non_member(g: Any) -> Any:
    return "NON_MEMBER" if g == dist.GroupMember.NON_GROUP_MEMBER else dist.get_process_group_ranks(g)


def subgroups() -> dict[str, Any]:
    """new_subgroups / new_subgroups_by_enumeration: the groups, a sum in this rank's, and torch's errors."""
    w, r = dist.get_world_size(), dist.get_rank()
    out: dict[str, Any] = {}
    for size in sorted({1, 2, w}):
        cur, subs = dist.new_subgroups(size)
        t = bp.tensor([float(r + 1)])
        dist.all_reduce(t, group=cur)
        out[f"size_{size}"] = {
            "cur": dist.get_process_group_ranks(cur),
            "all": [_non_member(g) for g in subs],
            "sum": t.item(),
            "rank_in_cur": dist.get_rank(cur),
        }
    cur, subs = dist.new_subgroups_by_enumeration([[w - 1, 0]])  # (rank order inside a group: sorted, as torch)
    out["enumeration_partial"] = {"cur": None if cur is None else dist.get_process_group_ranks(cur)}
    out["enumeration_partial"]["all"] = [_non_member(g) for g in subs]
    cur, _ = dist.new_subgroups(group_size=2 if w > 2 else 1, group=dist.group.WORLD)
    out["with_world_group"] = dist.get_process_group_ranks(cur)
    overlap = [[0, 1], [1, 2]] if w == 4 else [[0], [0, 1]]
    out["errors"] = {
        "not_dividing": _error(lambda: dist.new_subgroups(3)),
        "too_big": _error(lambda: dist.new_subgroups(w + 1)),
        "zero": _error(lambda: dist.new_subgroups(0)),
        "default_without_cuda": _error(lambda: dist.new_subgroups()),
        "empty": _error(lambda: dist.new_subgroups_by_enumeration([])),
        "overlap": _error(lambda: dist.new_subgroups_by_enumeration(overlap)),
    }
    return out


def from_group() -> dict[str, Any]:
    """DeviceMesh.from_group over new_subgroups' groups: 1-D, and 2-D with the mesh and names."""
    w, r = dist.get_world_size(), dist.get_rank()
    rows, _ = dist.new_subgroups(w // 2)  # [[0, 1], [2, 3]]: the tp rows of a (2, w // 2) mesh
    cols, _ = dist.new_subgroups_by_enumeration([[i, i + w // 2] for i in range(w // 2)])
    one = dist.DeviceMesh.from_group(rows, "cpu", mesh_dim_names=("tp",))
    two = dist.DeviceMesh.from_group([cols, rows], "cpu", mesh=np.arange(w).reshape(2, -1), mesh_dim_names=("dp", "tp"))
    ref = dist.init_device_mesh("cpu", (2, w // 2), mesh_dim_names=("dp", "tp"))
    mine = dist.get_process_group_ranks(rows)
    return {
        "one": describe(dist, one),
        "one_group_is_given": one.get_group() is rows,
        "two": describe(dist, two),
        "two_equals_init_device_mesh": two == ref and hash(two) == hash(ref),
        "bad_mesh": _error(lambda: dist.DeviceMesh.from_group(rows, "cpu", mesh=[m + 1 for m in mine])),
        "rank": r,
    }


def mesh_errors(d: Any) -> dict[str, Any]:
    """torch's errors of meshes on ``d`` (backprop.distributed or torch.distributed); every rank raises alike."""
    w = d.get_world_size()
    mesh = d.init_device_mesh("cpu", (2, w // 2), mesh_dim_names=("dp", "tp"))
    plain = d.init_device_mesh("cpu", (w,))
    return {
        "bigger_than_world": _error(lambda: d.init_device_mesh("cpu", (w + 1,))),
        "bigger_2d": _error(lambda: d.init_device_mesh("cpu", (2, w))),
        "repeated_names": _error(lambda: d.init_device_mesh("cpu", (2, w // 2), mesh_dim_names=("dp", "dp"))),
        "names_length": _error(lambda: d.init_device_mesh("cpu", (w,), mesh_dim_names=("dp", "tp"))),
        "device_index": _error(lambda: d.init_device_mesh("cpu:0", (w,))),
        "unknown_slice": _error(lambda: mesh["xx"]),
        "descending_slice": _error(lambda: mesh["tp", "dp"]),
        "repeated_slice": _error(lambda: mesh["dp", "dp"]),
        "slice_without_names": _error(lambda: plain["dp"]),
        "unknown_group": _error(lambda: mesh.get_group("xx")),
        "group_without_dim": _error(lambda: mesh.get_group()),
        "local_rank_without_dim": _error(lambda: mesh.get_local_rank()),
        "override_length": _error(lambda: d.DeviceMesh("cpu", list(range(w)), backend_override=((None, None),) * 2)),
        "override_key": _error(
            lambda: d.init_device_mesh("cpu", (2, w // 2), mesh_dim_names=("dp", "tp"), backend_override={"xx": "gloo"})
        ),
        "override_redundant": _error(
            lambda: d.init_device_mesh(
                "cpu", (2, w // 2), mesh_dim_names=("dp", "tp"), backend_override={0: "gloo", "dp": "gloo"}
            )
        ),
        "from_group_empty": _error(lambda: d.DeviceMesh.from_group([], "cpu")),
        "from_group_no_mesh": _error(lambda: d.DeviceMesh.from_group([d.group.WORLD], "cpu")),
        "from_group_no_names": _error(lambda: d.DeviceMesh.from_group([d.group.WORLD], "cpu", mesh=list(range(w)))),
        "from_group_ndim": _error(
            lambda: d.DeviceMesh.from_group([d.group.WORLD], "cpu", mesh=[list(range(w))], mesh_dim_names=("a",))
        ),
    }


def errors() -> dict[str, Any]:
    """``mesh_errors`` here, and DDP's device_mesh errors."""
    w = dist.get_world_size()
    out = mesh_errors(dist)
    mesh = dist.init_device_mesh("cpu", (2, w // 2), mesh_dim_names=("dp", "tp"))
    out["ddp_2d_mesh"] = _error(lambda: DDP(_model(), device_mesh=mesh))
    out["ddp_both"] = _error(lambda: DDP(_model(), process_group=dist.group.WORLD, device_mesh=mesh["dp"]))
    return out


def main() -> None:
    global OUT
    OUT, names = Path(sys.argv[1]), sys.argv[2:]
    dist.init_process_group(os.environ.get("BP_TEST_BACKEND", "mpi"))  # (gloo: under python -m backprop.run)
    for name in names:
        try:
            result: Any = globals()[name]()
        except Exception:
            result = {"error": traceback.format_exc()}
            sys.stderr.write(f"rank {dist.get_rank()}: {name}: {result['error']}\n")  # (every rank's failure)
        everyone: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, result)
        if dist.get_rank() == 0:
            (OUT / f"{name}.json").write_text(json.dumps(everyone, indent=1))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
