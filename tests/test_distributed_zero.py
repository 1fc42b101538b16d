"""``backprop.distributed.optim.ZeroRedundancyOptimizer`` (torch's ZeRO stage 1).

Real jobs of two and three processes run ``tests/distributed_zero_worker.py`` under both engines (MPI, skipped
where mpi4py or mpiexec is missing, and TCP "gloo", always run): DDP + ZeRO(optimizer) must give parameters bitwise
equal to DDP + the plain optimizer on every rank, each rank's optimizer must hold the state of its partition only
(torch's sorted-greedy partition, checked against torch's own code), and a consolidated state dict must round-trip.
A world of one process behaves as the plain optimizer.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_distributed import ENGINES, _run

import backprop as bp
from backprop import distributed as dist
from backprop import nn, optim
from backprop.distributed.optim import ZeroRedundancyOptimizer

try:
    import torch

    with warnings.catch_warnings():  # (torch.distributed.optim's functional optimizers use torch.jit.script)
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.distributed.optim import ZeroRedundancyOptimizer as TorchZeRO
except ImportError:  # the torch cross-checks skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
WORKER = Path(__file__).resolve().parent / "distributed_zero_worker.py"
TWO_RANKS = [
    "adam",
    "sgd_momentum",
    "adamw_groups_scheduler",
    "sgd_groups_scheduler",
    "bucket_view",
    "state_dict_round_trip",
    "closure_and_add_param_group",
]
THREE_RANKS = ["adam", "adamw_groups_scheduler", "state_dict_round_trip"]
TRAINING = ["adam", "sgd_momentum", "adamw_groups_scheduler", "sgd_groups_scheduler", "bucket_view"]


def _job(out: Path, engine: str, n: int, names: list[str]) -> dict[str, Any]:
    proc = _run([str(WORKER), str(out), *names], timeout=180, engine=engine, n=n)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[str, Any] = {name: json.loads((out / f"{name}.json").read_text()) for name in names}
    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
    return {"results": results, "engine": engine, "n": n, "out": out}


@pytest.fixture(scope="module", params=ENGINES)
def job2(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One two-process job per engine running every scenario."""
    return _job(tmp_path_factory.mktemp(f"zero2-{request.param}"), request.param, 2, TWO_RANKS)


@pytest.fixture(scope="module", params=ENGINES)
def job3(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One three-process job per engine (a rank's share of the second group is empty)."""
    return _job(tmp_path_factory.mktemp(f"zero3-{request.param}"), request.param, 3, THREE_RANKS)


def _torch_partition(numels: list[int], groups: list[list[int]], world_size: int) -> list[list[list[int]]]:
    """torch's own ``_partition_parameters`` on tensors of these sizes (indices ``groups``), as global indices."""
    tensors = [torch.empty(n) for n in numels]
    z = object.__new__(TorchZeRO)  # (no process group needed: only the partition code runs)
    z.world_size = world_size
    z.param_groups = [{"params": [tensors[i] for i in g]} for g in groups]
    z._partition_parameters_cache = []
    index = {id(t): i for i, t in enumerate(tensors)}
    return [[[index[id(p)] for p in g["params"]] for g in rank] for rank in z._partition_parameters()]


def _check_training(r: dict[str, Any], n: int, two_groups: bool, adam: bool) -> None:
    assert r["bitwise_equal_to_plain"] and r["max_diff"] == 0.0, r
    assert r["same_on_all_ranks"] and r["moved"] > 0.05
    assert r["lrs"][0] == r["lrs"][2]  # the exposed groups follow the scheduler as the plain optimizer's
    numels, partition = r["numels"], r["partition"]
    groups = [[0, 1, 2], [3, 4, 5]] if two_groups else [list(range(6))]
    if torch is not None:
        assert partition == _torch_partition(numels, groups, n)
    owned = [sorted(i for g in rank for i in g) for rank in partition]
    # the memory saving: each rank's optimizer holds the state of its own partition, and nothing else
    assert r["owned_with_state"] == owned and sorted(sum(owned, [])) == list(range(6))
    assert r["local_params"] == [len(o) for o in owned]
    per_param = (lambda i: 2 * 4 * numels[i] + 4) if adam else (lambda i: 4 * numels[i])  # moments + step | momentum
    assert r["state_bytes"] == [sum(per_param(i) for i in o) for o in owned]
    assert sum(r["state_bytes"]) == r["plain_state"][1] and sum(r["state_tensors"]) == r["plain_state"][0]
    assert max(r["state_bytes"]) < r["plain_state"][1] * (0.55 if n == 2 else 0.5)


# ------------------------------------------------------------------------------------------ two processes
@pytest.mark.parametrize("name", TRAINING)
def test_zero_is_bitwise_the_plain_optimizer_under_ddp(job2: dict[str, Any], name: str) -> None:
    """20 steps of DDP + ZeRO == DDP + the optimizer, bit for bit, on both ranks; state only on its owner."""
    r = job2["results"][name]
    _check_training(r, 2, two_groups="groups" in name, adam=name in ("adam", "adamw_groups_scheduler", "bucket_view"))


def test_the_scheduler_changes_the_local_optimizers_rates(job2: dict[str, Any]) -> None:
    r = job2["results"]["adamw_groups_scheduler"]
    # 4 halvings after 20 steps; the local optimizer gets the last one at its next step (as torch's)
    assert r["lrs"][0] == [0.01 / 16, 0.02 / 16] and r["lrs"][1] == [0.01 / 8, 0.02 / 8]


def test_state_dict_round_trip(job2: dict[str, Any]) -> None:
    """consolidate → save → a fresh model and ZeRO load it → 10 more steps == 20 uninterrupted steps."""
    r = job2["results"]["state_dict_round_trip"]
    assert r["resumed_bitwise_equal_uninterrupted"]
    assert r["groups_equal_plain"] and r["state_equal_plain"]  # the unsharded optimizer's format and values
    assert r["format_keys"] == [["param_groups", "state"], list(range(6)), list(range(6))]
    assert r["state_names"] == ["exp_avg", "exp_avg_sq", "step"]
    assert r["consolidated_on_1_equals_on_0"]
    assert r["loaded_owned"] == [[2, 3, 5], [0, 1, 4]] and r["loaded_lr"] == [0.01, 0.01]
    want = "Optimizer state has not been consolidated on this rank. Please call `consolidate_state_dict(to={})`"
    assert r["unconsolidated_error_0"].startswith(want.format(0))
    assert r["unconsolidated_error_1"].startswith(want.format(1)) and r["rank1_error"].startswith(want.format(1))


def test_closure_and_add_param_group(job2: dict[str, Any]) -> None:
    r = job2["results"]["closure_and_add_param_group"]
    assert r["bitwise_equal_to_plain"] and r["losses_equal"] and r["groups"] == [2, 2]
    assert r["owned"] == [sorted(i for g in rank for i in g) for rank in r["partition"]]
    assert sorted(i for rank in r["partition"] for g in rank for i in g) == list(range(6))


def test_a_checkpoint_of_two_ranks_loads_in_one_process(job2: dict[str, Any], world_of_one: None) -> None:
    """The consolidated state dict (torch's unsharded format) loads into a world-of-one ZeRO and into plain Adam:
    the next step is the same."""
    ckpt = bp.load(job2["out"] / "zero_checkpoint.pt")
    models = []
    for _ in range(2):
        bp.manual_seed(5)
        m = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
        m.load_state_dict(ckpt["model"])
        models.append(m)
    zero = ZeroRedundancyOptimizer(models[0].parameters(), optim.Adam, lr=0.3)
    plain = optim.Adam(models[1].parameters(), lr=0.3)
    zero.load_state_dict(copy.deepcopy(ckpt["optim"]))
    plain.load_state_dict(copy.deepcopy(ckpt["optim"]))
    assert zero.param_groups[0]["lr"] == 0.01 and len(zero.optim.state) == 6
    x = bp.randn(5, 6)
    for m, o in zip(models, (zero, plain)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    assert all(
        np.array_equal(a.detach().numpy(), b.detach().numpy()) for a, b in zip(*(m.parameters() for m in models))
    )


# ------------------------------------------------------------------------------------------ three processes
@pytest.mark.parametrize("name", ["adam", "adamw_groups_scheduler"])
def test_three_ranks(job3: dict[str, Any], name: str) -> None:
    _check_training(job3["results"][name], 3, two_groups="groups" in name, adam=True)


def test_three_ranks_state_dict_round_trip(job3: dict[str, Any]) -> None:
    r = job3["results"]["state_dict_round_trip"]
    assert r["resumed_bitwise_equal_uninterrupted"] and r["state_equal_plain"] and r["groups_equal_plain"]
    assert r["loaded_owned"] == [[2], [0], [1, 3, 4, 5]]


# ------------------------------------------------------------------------------------------ one process
@pytest.fixture
def world_of_one() -> Any:
    dist.init_process_group(mpi=False)
    yield
    dist.destroy_process_group()


def _net() -> nn.Module:
    bp.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


@pytest.mark.parametrize("bucket", [False, True])
def test_a_world_of_one_is_the_plain_optimizer(world_of_one: None, bucket: bool) -> None:
    a, b = _net(), _net()
    zero = ZeroRedundancyOptimizer(a.parameters(), optim.AdamW, parameters_as_bucket_view=bucket, lr=0.02)
    plain = optim.AdamW(b.parameters(), lr=0.02)
    assert zero.world_size == 1 and zero.rank == 0 and len(zero.optim.param_groups[0]["params"]) == 4
    assert {k: v for k, v in zero.param_groups[0].items() if k != "params"} == {
        k: v for k, v in plain.param_groups[0].items() if k != "params"
    }
    for _ in range(6):
        x = bp.randn(3, 4)
        for m, o in ((a, zero), (b, plain)):
            o.zero_grad()
            m(x).square().sum().backward()
            o.step()
    assert all(np.array_equal(p.detach().numpy(), q.detach().numpy()) for p, q in zip(a.parameters(), b.parameters()))
    zero.consolidate_state_dict()
    sd, ref = zero.state_dict(), plain.state_dict()
    assert sd["param_groups"] == ref["param_groups"] and sd["state"].keys() == ref["state"].keys()
    assert all(
        np.array_equal(sd["state"][i]["exp_avg"].numpy(), ref["state"][i]["exp_avg"].numpy()) for i in sd["state"]
    )
    zero.zero_grad()
    assert all(p.grad is None for p in a.parameters())


def test_a_plain_optimizers_state_dict_loads_into_zero(world_of_one: None) -> None:
    a, b = _net(), _net()
    plain = optim.Adam(b.parameters(), lr=0.05)
    b(bp.randn(2, 4)).sum().backward()
    plain.step()
    a.load_state_dict(b.state_dict())
    zero = ZeroRedundancyOptimizer(a.parameters(), optim.Adam, lr=1.0)
    zero.load_state_dict(plain.state_dict())
    assert zero.param_groups[0]["lr"] == zero.optim.param_groups[0]["lr"] == 0.05
    x = bp.randn(2, 4)
    for m, o in ((a, zero), (b, plain)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    assert all(np.array_equal(p.detach().numpy(), q.detach().numpy()) for p, q in zip(a.parameters(), b.parameters()))


def test_step_with_a_closure_and_the_join_hook(world_of_one: None) -> None:
    m = _net()
    zero = ZeroRedundancyOptimizer(m.parameters(), optim.SGD, lr=0.1)
    x = bp.randn(2, 4)

    def closure() -> Any:
        zero.zero_grad()
        loss = m(x).sum()
        loss.backward()
        return loss

    before = m[0].weight.detach().numpy().copy()
    loss = zero.step(closure)
    assert isinstance(loss, bp.Tensor) and not np.array_equal(before, m[0].weight.detach().numpy())
    hook = zero.join_hook()
    after = m[0].weight.detach().numpy().copy()
    hook.main_hook()  # one more step with the gradients in place
    assert not np.array_equal(after, m[0].weight.detach().numpy())
    assert zero.join_device == m[0].weight.device and zero.join_process_group is dist.group.WORLD


def test_add_param_group_and_manual_partition_errors(world_of_one: None) -> None:
    a, b = nn.Linear(3, 3), nn.Linear(3, 1)
    zero = ZeroRedundancyOptimizer(a.parameters(), optim.Adam, lr=0.01)
    zero.add_param_group({"params": b.parameters(), "lr": 0.5})
    assert len(zero.param_groups) == len(zero.optim.param_groups) == 2
    assert zero.optim.param_groups[1]["lr"] == 0.5 and len(zero._all_params) == 4
    with pytest.raises(AssertionError, match="not been partitioned yet"):
        zero._partition_parameters([[a.weight]])
    with pytest.raises(NotImplementedError, match="overlap_with_ddp=True"):
        ZeroRedundancyOptimizer(a.parameters(), optim.Adam, overlap_with_ddp=True)


def test_param_names_are_split_with_the_parameters(world_of_one: None) -> None:
    m = _net()
    zero = ZeroRedundancyOptimizer([{"params": list(m.named_parameters())}], optim.Adam, lr=0.01)
    local = zero.optim.param_groups[0]
    assert local["param_names"] == ["0.weight", "2.weight", "0.bias", "2.bias"]  # largest first
    assert [id(p) for p in local["params"]] == [id(m[0].weight), id(m[2].weight), id(m[0].bias), id(m[2].bias)]


def test_without_a_process_group_it_is_torchs_error() -> None:
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        ZeroRedundancyOptimizer(nn.Linear(2, 2).parameters(), optim.SGD, lr=0.1)


BAD_INPUTS = {
    "empty": lambda t: [],
    "a_tensor": lambda t: t.zeros(3, requires_grad=True),
    "a_number": lambda t: 3,
    "tensors_and_dicts": lambda t: [t.zeros(2, requires_grad=True), {"params": [t.zeros(2, requires_grad=True)]}],
    "group_without_params": lambda t: [{"lr": 0.1}],
    "mixed_dtypes": lambda t: [t.zeros(2, requires_grad=True), t.zeros(2, dtype=t.float64, requires_grad=True)],
}


@needs_torch
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_raise_torchs_errors(case: str) -> None:
    """Checked before any process group is needed, in torch's order: the same class and message."""
    make = BAD_INPUTS[case]
    with pytest.raises(Exception) as theirs:
        TorchZeRO(make(torch), torch.optim.SGD, lr=0.1)
    with pytest.raises(Exception) as ours:
        ZeroRedundancyOptimizer(make(bp), optim.SGD, lr=0.1)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


@needs_torch
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_partition_is_torchs(world_size: int) -> None:
    """Sorted greedy over sizes, ties to the lowest rank, the running sizes carried across groups, as torch's."""
    rng = np.random.default_rng(world_size)
    numels = [int(n) for n in rng.integers(1, 50, 12)] + [7, 7, 7]
    groups = [list(range(0, 8)), list(range(8, 15))]
    z = object.__new__(ZeroRedundancyOptimizer)
    z.world_size = world_size
    tensors = [bp.zeros(n) for n in numels]
    z.param_groups = [{"params": [tensors[i] for i in g]} for g in groups]
    z._partition_parameters_cache = []
    index = {id(t): i for i, t in enumerate(tensors)}
    ours = [[[index[id(p)] for p in g["params"]] for g in rank] for rank in z._partition_parameters()]
    assert ours == _torch_partition(numels, groups, world_size)
