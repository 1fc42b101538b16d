"""``backprop.distributed``'s subgroup helpers (``new_subgroups``, ``new_subgroups_by_enumeration``), ``DeviceMesh`` /
``init_device_mesh`` (torch.distributed.device_mesh) and ``DistributedDataParallel(device_mesh=)``.

Real jobs of four ranks (a 2x2 dp x tp mesh) and two ranks run ``tests/distributed_mesh_worker.py`` once per engine
(MPI, skipped without mpi4py or mpiexec, and TCP "gloo", always run). Every rank's records are checked against a
closed form and against torch's own ``DeviceMesh`` built for the same rank on a fake single-process world (torch's
``fake`` backend: no communication, the layout and group bookkeeping only): mesh tensors, coordinates, group ranks,
local ranks, slices, ``repr``/``==``, and the errors. Sums over each dimension's group and DDP over ``mesh["dp"]``
(bitwise DDP over an explicit group of the same ranks) run for real. A world of one process is tested in-process.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed_mesh_worker import configs, describe, mesh_errors
from test_distributed import _run, needs_mpi

import backprop as bp
from backprop import distributed as dist
from backprop import nn
from backprop.distributed.device_mesh import _remap, _row_major
from backprop.nn.parallel import DistributedDataParallel

try:
    import torch
    import torch.distributed as tdist
    from torch.distributed._mesh_layout import _MeshLayout
    from torch.testing._internal.distributed.fake_pg import FakeStore
except ImportError:  # the torch cross-checks skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
WORKER = Path(__file__).resolve().parent / "distributed_mesh_worker.py"
SCENARIOS = ["meshes", "ddp", "subgroups", "from_group", "errors"]


def _job(out: Path, engine: str, n: int) -> dict[str, Any]:
    proc = _run([str(WORKER), str(out), *SCENARIOS], timeout=180, engine=engine, n=n)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[str, Any] = {name: json.loads((out / f"{name}.json").read_text()) for name in SCENARIOS}
    for name, ranks in results.items():
        for r, rec in enumerate(ranks):
            assert "error" not in rec, f"{name} on rank {r}: {rec['error']}"
    return results


JOBS = [
    pytest.param((engine, n), id=f"{engine}-{n}", marks=[needs_mpi] if engine == "mpi" else [])
    for engine in ("mpi", "gloo")
    for n in (4, 2)
]


@pytest.fixture(scope="module", params=JOBS)
def job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One job per engine and world size (4 and 2) running every scenario; each scenario: the list of rank records."""
    engine, n = request.param
    results = _job(tmp_path_factory.mktemp(f"mesh-{engine}-{n}"), engine, n)
    results["n"] = n
    return results


# ------------------------------------------------------------------------------------------ torch's answers
@contextlib.contextmanager
def _torch_world(rank: int, world: int) -> Iterator[None]:
    """torch.distributed as rank ``rank`` of a fake world of ``world`` processes (bookkeeping only, no messages)."""
    tdist.init_process_group("fake", rank=rank, world_size=world, store=FakeStore())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        tdist.destroy_process_group()


def _torch_mesh(label: str, spec: Any, names: Any) -> Any:
    if label == "custom":
        return tdist.DeviceMesh("cpu", spec, mesh_dim_names=names)
    return tdist.init_device_mesh("cpu", spec, mesh_dim_names=names)


_TORCH: dict[int, list[dict[str, Any]]] = {}


def _torch_meshes(world: int) -> list[dict[str, Any]]:
    """``describe`` of every mesh of ``configs(world)`` by torch, per rank (cached)."""
    if world not in _TORCH:
        ranks = []
        for rank in range(world):
            with _torch_world(rank, world):
                ranks.append({label: describe(tdist, _torch_mesh(label, s, n)) for label, s, n in configs(world)})
        _TORCH[world] = ranks
    return _TORCH[world]


# ------------------------------------------------------------------------------------------ multi-process jobs
@needs_torch
def test_meshes_are_torchs(job: dict[str, Any]) -> None:
    """Every rank's view of every mesh (mesh tensor, coordinate, groups, local ranks, slices, repr, ==) is torch's."""
    theirs = _torch_meshes(job["n"])
    for rank, (ours, want) in enumerate(zip(job["meshes"], theirs)):
        for label in want:
            got = {k: v for k, v in ours[label].items() if k != "sums"}
            assert got == want[label], (rank, label)


def test_meshes_closed_form(job: dict[str, Any]) -> None:
    """The row-major layout: rank = sum(coord * stride); group of dim i = the line through this rank along i."""
    n = job["n"]
    for rank, recs in enumerate(job["meshes"]):
        for label, spec, _ in configs(n):
            rec = recs[label]
            grid = np.asarray(spec) if label == "custom" else np.arange(int(np.prod(spec))).reshape(spec)
            assert rec["mesh"] == grid.tolist() and rec["size"][0] == grid.size and rec["shape"] == list(grid.shape)
            where = np.argwhere(grid == rank)
            if len(where) == 0:  # (a mesh smaller than the world: the ranks outside it have no coordinate)
                assert rec["coordinate"] is None and label == "smaller"
                continue
            coord = [int(c) for c in where[0]]
            assert rec["coordinate"] == coord
            lines = []
            for dim in range(grid.ndim):
                index: list[Any] = list(coord)
                index[dim] = slice(None)
                lines.append(sorted(int(r) for r in grid[tuple(index)].ravel()))
            assert rec["group_ranks"] == lines
            assert rec["local_ranks"] == [line.index(rank) for line in lines]
            assert rec["sums"] == [float(sum(r + 1 for r in line)) for line in lines]  # the real all_reduce


def test_two_by_two_mesh(job: dict[str, Any]) -> None:
    if job["n"] != 4:
        pytest.skip("the 2x2 mesh needs four ranks")
    for rank, recs in enumerate(job["meshes"]):
        rec = recs["2x2"]
        dp, tp = divmod(rank, 2)
        assert rec["coordinate"] == [dp, tp] and rec["group_ranks"] == [[tp, tp + 2], [2 * dp, 2 * dp + 1]]
        assert rec["slices"]["dp"]["mesh"] == [tp, tp + 2] and rec["slices"]["tp"]["mesh"] == [2 * dp, 2 * dp + 1]
        assert rec["repr"] == "DeviceMesh((dp=2, tp=2), 'cpu', stride=(2, 1))"
        assert rec["slices"]["dp"]["repr"] == "DeviceMesh((dp=2), 'cpu', stride=(2,))"
        assert all(s["group_is_parents"] and s["eq_again"] and not s["eq_parent"] for s in rec["slices"].values())
        assert rec["sums"] == [float(tp + 1 + tp + 3), float(4 * dp + 3)]
        # a group the size of the world is the world itself, as torch's (the 4-rank 1-D mesh)
        assert recs["4"]["group_ranks"] == [[0, 1, 2, 3]] and recs["4"]["sums"] == [10.0]
    # the custom mesh [[3, 1], [2, 0]]: groups are sorted (torch's new_group), so rank 3 at (0, 0) is 1 in [2, 3]
    assert job["meshes"][3]["custom"]["coordinate"] == [0, 0] and job["meshes"][3]["custom"]["local_ranks"] == [1, 1]


def test_ddp_over_a_mesh_slice_is_ddp_over_the_same_group(job: dict[str, Any]) -> None:
    """DDP(device_mesh=mesh["dp"]) == DDP(process_group=the dp column) bit for bit, and == the column's average."""
    n = job["n"]
    for rank, r in enumerate(job["ddp"]):
        col = [rank % (n // 2), rank % (n // 2) + n // 2]
        assert r["mesh_group_ranks"] == r["explicit_ranks"] == col
        assert r["bitwise_equal"] and r["ref_max_diff"] < 1e-6 and r["device_mesh_kept"]
    sums = [r["checksum"] for r in job["ddp"]]
    for rank in range(n):  # the replicas of a dp group agree; different groups (other data) do not
        assert sums[rank] == sums[rank % (n // 2)]
    if n == 4:
        assert sums[0] != sums[1]


def test_new_subgroups(job: dict[str, Any]) -> None:
    n = job["n"]
    for rank, r in enumerate(job["subgroups"]):
        for size in {1, 2, n}:
            s = r[f"size_{size}"]
            start = rank - rank % size
            mine = list(range(start, start + size))
            assert s["cur"] == mine and s["rank_in_cur"] == rank % size and s["sum"] == float(sum(q + 1 for q in mine))
            lines = [list(range(i, i + size)) for i in range(0, n, size)]
            assert s["all"] == [line if rank in line else "NON_MEMBER" for line in lines]
        partial = r["enumeration_partial"]  # [[n - 1, 0]]: the group's ranks sorted, as torch's new_group
        assert partial["cur"] == ([0, n - 1] if rank in (0, n - 1) else None)
        assert partial["all"] == [[0, n - 1] if rank in (0, n - 1) else "NON_MEMBER"]
        size = 2 if n > 2 else 1
        assert r["with_world_group"] == list(range(rank - rank % size, rank - rank % size + size))
        e = r["errors"]
        not_dividing = "The world size (4) must be divisible by 'group_size=3'"
        if n == 2:  # (3 > 2: the first check fails first)
            not_dividing = "The arg 'group_size' (3) must not exceed the world size (2)"
        assert e["not_dividing"] == ["ValueError", not_dividing]
        assert e["too_big"] == ["ValueError", f"The arg 'group_size' ({n + 1}) must not exceed the world size ({n})"]
        assert e["zero"] == ["ValueError", "The arg 'group_size' (0) must be positive"]
        assert e["default_without_cuda"][0] == "ValueError" and "CUDA is available" in e["default_without_cuda"][1]
        assert e["empty"] == ["ValueError", "The arg 'ranks_per_subgroup_list' cannot be empty"]
        want = "Rank 1 has appeared in both subgroup [0, 1] and [1, 2]" if n == 4 else (
            "Rank 0 has appeared in both subgroup [0] and [0, 1]")  # fmt: skip
        assert e["overlap"] == ["ValueError", want]


def test_from_group(job: dict[str, Any]) -> None:
    n = job["n"]
    half = n // 2
    for rank, r in enumerate(job["from_group"]):
        one, two = r["one"], r["two"]
        row = list(range(rank - rank % half, rank - rank % half + half))
        assert one["mesh"] == row and one["group_ranks"] == [row] and one["coordinate"] == [rank % half]
        assert one["repr"] == f"DeviceMesh((tp={half}), 'cpu', stride=({1 if half > 1 else ()},))"
        assert r["one_group_is_given"] and two["coordinate"] == list(divmod(rank, half))
        assert two["group_ranks"] == [[rank % half, rank % half + half], row] and r["two_equals_init_device_mesh"]
        assert r["bad_mesh"] == ["ValueError", f"Invalid mesh {[m + 1 for m in row]} for ProcessGroup with ranks {row}"]


@needs_torch
def test_errors_are_torchs(job: dict[str, Any]) -> None:
    n = job["n"]
    for rank in (0, n - 1):
        with _torch_world(rank, n):
            want = mesh_errors(tdist)
        got = job["errors"][rank]
        assert {k: v for k, v in got.items() if not k.startswith("ddp")} == want
    mesh = f"DeviceMesh((dp=2, tp={n // 2}), 'cpu', stride=({n // 2}, {1 if n > 2 else ()}))"
    assert got["ddp_2d_mesh"] == ["RuntimeError", f"Only 1D device mesh is supported, but got {mesh}."]
    assert got["ddp_both"] == ["RuntimeError", "Cannot specify both process_group and device_mesh arguments."]


# ------------------------------------------------------------------------------------------ one process
@pytest.fixture
def world_of_one() -> Iterator[None]:
    dist.init_process_group(mpi=False)
    yield
    dist.destroy_process_group()


def test_a_world_of_one(world_of_one: None) -> None:
    mesh = dist.init_device_mesh("cpu", (1,), mesh_dim_names=("dp",))
    assert mesh.get_group() is dist.group.WORLD and mesh.get_local_rank() == 0 and mesh.get_coordinate() == (0,)
    assert mesh.mesh.tolist() == [0] and mesh.mesh.dtype == bp.int32 and mesh["dp"] is mesh
    cur, subs = dist.new_subgroups(1)
    assert cur is dist.group.WORLD and subs == [cur]
    assert dist.new_subgroups_by_enumeration([[0]]) == (cur, [cur])
    two = dist.init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    model = nn.Linear(3, 2)
    ddp = DistributedDataParallel(model, device_mesh=two["dp"])
    assert ddp.process_group is dist.group.WORLD and ddp.world_size == 1
    ddp(bp.randn(4, 3)).sum().backward()
    assert model.weight.grad is not None
    assert dist.DeviceMesh.from_group(dist.group.WORLD, "cpu") == dist.init_device_mesh("cpu", (1,))


@needs_torch
@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_a_world_of_one_is_torchs(world_of_one: None, shape: tuple[int, ...]) -> None:
    names = ("dp", "tp")[: len(shape)]
    ours = describe(dist, dist.init_device_mesh("cpu", shape, mesh_dim_names=names))
    with _torch_world(0, 1):
        theirs = describe(tdist, tdist.init_device_mesh("cpu", shape, mesh_dim_names=names))
    assert ours == theirs


def test_init_device_mesh_joins_a_world_of_one() -> None:
    """Without a process group, init_device_mesh initialises one (here: a world of one), as torch's."""
    assert not dist.is_initialized()
    try:
        mesh = dist.init_device_mesh("cpu", (1,))
        assert (
            dist.is_initialized()
            and dist.get_world_size() == 1
            and repr(mesh) == "DeviceMesh((1,), 'cpu', stride=((),))"
        )
    finally:
        dist.destroy_process_group()


@needs_torch
def test_layouts_are_torchs() -> None:
    """The slice bookkeeping (torch's ``_MeshLayout.remap_to_tensor``) on every subset of dims of several shapes."""
    import itertools

    for shape in [(4,), (2, 2), (2, 3), (2, 2, 2), (1, 4), (4, 1), (2, 1, 3), (3, 2, 2)]:
        root, n = _row_major(shape), int(np.prod(shape))
        rank_map = np.arange(n)[::-1].copy() * 10
        theirs_root = _MeshLayout.from_sizes_strides(shape)
        for k in range(1, len(shape) + 1):
            for dims in itertools.combinations(range(len(shape)), k):
                ours = _remap(tuple(root[d] for d in dims), rank_map)
                theirs = _MeshLayout([theirs_root[d] for d in dims]).remap_to_tensor(torch.tensor(rank_map)).numpy()
                assert ours.shape == theirs.shape and (ours == theirs).all(), (shape, dims)


def test_ddp_device_mesh_errors(world_of_one: None) -> None:
    mesh = dist.init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    with pytest.raises(RuntimeError, match="Only 1D device mesh is supported"):
        DistributedDataParallel(nn.Linear(2, 2), device_mesh=mesh)
    with pytest.raises(RuntimeError, match="Cannot specify both process_group and device_mesh arguments."):
        DistributedDataParallel(nn.Linear(2, 2), process_group=dist.group.WORLD, device_mesh=mesh["dp"])
