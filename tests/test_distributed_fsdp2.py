"""``backprop.distributed.fsdp.fully_shard`` (FSDP2) and ``backprop.distributed.tensor`` (DTensor).

Jobs of two and three processes under both engines (MPI, skipped where mpi4py or mpiexec is missing, and TCP
"gloo") run ``tests/distributed_fsdp2_worker.py``: 10 steps of fully_shard (an MLP with one unit per Linear, a
small transformer with one per block; uneven Shard(0) rows) must leave full parameters bitwise equal to DDP's on
the same batches (Adam, SGD with momentum, reshard_after_forward False, gradient accumulation without sync against
no_sync), mixed precision must equal the one-process reference following torch's casts, and the collectives per
forward/backward must be torch's counts. DTensor layouts are checked against real torch DTensor on a fake mesh.
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
from backprop.distributed.device_mesh import init_device_mesh
from backprop.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from backprop.distributed.tensor import DTensor, Partial, Replicate, Shard, _chunk_bounds, distribute_tensor

WORKER = Path(__file__).resolve().parent / "distributed_fsdp2_worker.py"
TRAINING = ["mlp_adam", "mlp_sgd", "tfm_adam", "tfm_sgd", "tfm_no_reshard", "tfm_accumulate"]
SCENARIOS = [*TRAINING, "collectives", "mixed", "state_dict_and_dtensor"]


JOBS = [
    pytest.param((e.values[0], n), marks=e.marks, id=f"{e.values[0]}-{n}") if hasattr(e, "values") else
    pytest.param((e, n), id=f"{e}-{n}")
    for e in ENGINES
    for n in (2, 3)
]  # fmt: skip


@pytest.fixture(scope="module", params=JOBS)
def job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One job per engine and world size running every scenario; rank 0's results by scenario."""
    engine, n = request.param
    out = tmp_path_factory.mktemp(f"{engine}{n}")
    proc = _run([str(WORKER), str(out), *SCENARIOS], timeout=240, engine=engine, n=n)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[str, Any] = {s: json.loads((out / f"{s}.json").read_text()) for s in SCENARIOS}
    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
    results["n"] = n
    return results


@pytest.mark.parametrize("name", TRAINING)
def test_fully_shard_is_bitwise_ddp(job: dict[str, Any], name: str) -> None:
    r, n = job[name], job["n"]
    assert r["bitwise_all_ranks"] and r["max_diff"] == 0.0, r
    assert r["moved"] > 1e-3  # (the parameters trained)
    assert r["local_shapes_ok"] and r["is_fsdp_module"]
    assert r["class"] in ("FSDPSequential", "FSDPTiny")
    assert sum(r["local_elements"]) == r["global_elements"] and max(r["local_elements"]) < r["global_elements"] / (
        n - 0.5
    )


def test_collective_counts_are_torchs(job: dict[str, Any]) -> None:
    """3 units: forward gathers each once; backward gathers again all but the root with reshard_after_forward,
    none without; one reduce-scatter per unit with gradient sync, none without."""
    c = job["collectives"]
    for reshard, again in (("True", 2), ("False", 0)):
        sync, nosync = c[reshard]
        assert sync["forward"] == {"all_gather": 3, "reduce_scatter": 0}
        assert sync["backward"] == {"all_gather": again, "reduce_scatter": 3}
        assert nosync["backward"] == {"all_gather": again, "reduce_scatter": 0}
    assert c["grads_equal"]


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp16_fp32"])
def test_mixed_precision_is_the_reference(job: dict[str, Any], name: str) -> None:
    r = job["mixed"][name]
    assert all(r["bitwise"]), r
    assert job["mixed"]["output_dtype"] == "torch.float32" or job["mixed"]["output_dtype"].endswith("float32")


def test_state_dict_unshard_and_dtensor_ops(job: dict[str, Any]) -> None:
    r, n = job["state_dict_and_dtensor"], job["n"]
    assert r["all_dtensor"] and r["full_equal"] and r["loaded_equal"]
    assert r["unshard_counts"] == [{"all_gather": 1, "reduce_scatter": 0}, {"all_gather": 2, "reduce_scatter": 0}]
    assert r["local_rows"] == [hi - lo for lo, hi in (_chunk_bounds(7, n, k) for k in range(n))]
    assert r["full_tensor_ok"] and r["replicate_ok"] and r["shard_grad_is_local_rows"]
    assert r["from_local_shape"] == [7, 3]
    assert r["shard1_cols"] == [hi - lo for lo, hi in (_chunk_bounds(3, n, k) for k in range(n))]
    total, expect, kind, placements = r["clip_total"]
    assert kind == "DTensor" and placements == "(Replicate(),)"
    assert total == pytest.approx(expect, rel=1e-6) and r["clipped_norm"] == pytest.approx(0.1, rel=1e-4)
    placement, total, expect = r["sum_placement"]
    assert placement == "(Partial(sum),)" and total == pytest.approx(expect, rel=1e-6)


# ------------------------------------------------------------------------------------------ against torch
def _torch_fake(rank: int, world: int) -> Any:
    t = pytest.importorskip("torch")
    import torch.distributed as tdist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if tdist.is_initialized():
        tdist.destroy_process_group()
    tdist.init_process_group("fake", rank=rank, world_size=world, store=FakeStore())
    return t


@pytest.mark.parametrize("world", [2, 3, 4])
def test_shard_local_shapes_are_torchs(world: int) -> None:
    """torch's DTensor on a fake mesh: the local shapes of Shard(0)/Shard(1) for uneven sizes on every rank."""
    for rank in range(world):
        torch_ = _torch_fake(rank, world)
        from torch.distributed.device_mesh import init_device_mesh as t_mesh
        from torch.distributed.tensor import Shard as TShard
        from torch.distributed.tensor import distribute_tensor as t_distribute

        mesh = t_mesh("cpu", (world,))
        for shape, dim in (((7, 3), 0), ((5,), 0), ((2, 4), 0), ((3, 5), 1), ((1, 2), 0)):
            local = t_distribute(torch_.zeros(shape), mesh, [TShard(dim)]).to_local()
            lo, hi = _chunk_bounds(shape[dim], world, rank)
            mine = list(shape)
            mine[dim] = hi - lo
            assert list(local.shape) == mine, (shape, dim, rank)
    import torch.distributed as tdist

    tdist.destroy_process_group()


def test_placement_and_policy_reprs_are_torchs() -> None:
    pytest.importorskip("torch")
    from torch.distributed.fsdp import MixedPrecisionPolicy as TorchPolicy
    from torch.distributed.tensor import Partial as TPartial
    from torch.distributed.tensor import Replicate as TReplicate
    from torch.distributed.tensor import Shard as TShard

    for mine, theirs in ((Shard(1), TShard(1)), (Replicate(), TReplicate()), (Partial(), TPartial())):
        assert repr(mine) == repr(theirs) and str(mine) == str(theirs)
        assert mine.is_shard() == theirs.is_shard() and mine.is_partial() == theirs.is_partial()
    assert repr(MixedPrecisionPolicy()) == repr(TorchPolicy())


@pytest.fixture
def world_of_one() -> Any:
    dist.init_process_group(mpi=False)
    yield
    dist.destroy_process_group()


def test_world_of_one(world_of_one: None) -> None:
    """The plain model's values; class, isinstance, DTensor parameters, global shapes, the errors."""
    bp.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    ref = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    ref.load_state_dict(model.state_dict())
    fully_shard(model[0])
    fully_shard(model)
    assert type(model).__name__ == "FSDPSequential" and isinstance(model, (FSDPModule, nn.Sequential))
    assert type(model).__mro__[1] is FSDPModule
    p = model[0].weight
    assert isinstance(p, DTensor) and isinstance(p, nn.Parameter) and p.shape == (5, 4) and p.stride() == (4, 1)
    assert p.placements == (Shard(0),) and p.device_mesh == init_device_mesh("cpu", (1,))
    with pytest.raises(AssertionError, match="only be applied to a module once"):
        fully_shard(model)
    opt, ref_opt = (
        bp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        bp.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9),
    )
    x = bp.randn(3, 4)
    for _ in range(3):
        for m, o in ((model, opt), (ref, ref_opt)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        assert np.array_equal(a.full_tensor().detach().numpy(), b.detach().numpy())
    assert isinstance(p.grad, DTensor) and p.grad.shape == (5, 4)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # (torch's sharding propagation: shapes)
        bp.matmul(p, p)
    with bp.no_grad():
        bp._foreach_mul_([p], 2.0)
    d = distribute_tensor(bp.ones(2, 2), init_device_mesh("cpu", (1,)), [Shard(0)])
    assert repr(d).startswith("DTensor(local_tensor=tensor([[1., 1.],") and "placements=(Shard(dim=0),))" in repr(d)
