"""Uneven inputs: ``backprop.distributed.algorithms.join`` (``Join``, ``Joinable``, ``JoinHook``), ``DDP.join``.

Real jobs of two ranks (rank 1 has fewer batches) and three ranks (three lengths) run
``tests/distributed_join_worker.py`` under both engines (MPI, skipped where mpi4py or mpiexec is missing, and TCP
"gloo", always run): training inside ``Join`` ends on every rank with bitwise identical parameters, bitwise equal to
a closed-form reference computed in one process (the ranks still training average their gradients, divided by the
world size or by the number still training), for SGD with momentum, ``Join([ddp, ZeroRedundancyOptimizer])``, a
comm hook, ``find_unused_parameters`` and buffers; ``throw_on_early_termination=True`` raises on every rank;
``enable=False`` issues no collective of its own. In one process: torch's errors, names and signatures.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from test_distributed import ENGINES, _run

import backprop as bp
from backprop import distributed as dist
from backprop import nn, optim
from backprop.distributed.algorithms import Join, Joinable, JoinHook
from backprop.distributed.algorithms import join as bp_join
from backprop.distributed.optim import ZeroRedundancyOptimizer
from backprop.nn.parallel import DistributedDataParallel

try:
    import torch
    import torch.distributed.algorithms.join as torch_join

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.distributed.optim import ZeroRedundancyOptimizer as TorchZeRO
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
WORKER = Path(__file__).resolve().parent / "distributed_join_worker.py"
LENGTHS = {2: [5, 3], 3: [5, 2, 4]}  # (the worker's)
TRAINING = ["sgd", "sgd_divide_active", "zero", "zero_divide_active", "comm_hook", "unused", "buffers"]
SCENARIOS = [*TRAINING, "throw", "disabled"]
N_PARAMS = 6  # body, head, extra: weight and bias each


def _jobs() -> list[Any]:
    """(engine, ranks) for 2 and 3 ranks, with the engine's skip mark."""
    jobs = []
    for e in ENGINES:
        engine, marks = (e.values[0], e.marks) if hasattr(e, "values") else (e, ())
        jobs.extend(pytest.param((engine, n), marks=marks, id=f"{engine}-{n}") for n in (2, 3))
    return jobs


@pytest.fixture(scope="module", params=_jobs())
def job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One job per engine and world size running every scenario; rank 0's results by scenario."""
    engine, n = request.param
    out = tmp_path_factory.mktemp(f"join-{engine}-{n}")
    proc = _run([str(WORKER), str(out), *SCENARIOS], timeout=120, engine=engine, n=n)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[str, Any] = {name: json.loads((out / f"{name}.json").read_text()) for name in SCENARIOS}
    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
    return {"results": results, "n": n}


@pytest.mark.parametrize("name", TRAINING)
def test_uneven_training_is_bitwise_the_closed_form_reference(job: dict[str, Any], name: str) -> None:
    """Every rank ends with the same parameters, bit for bit those of the one-process reference."""
    r = job["results"][name]
    assert r["same_on_all_ranks"] and r["buffers_same_on_all_ranks"], r
    assert r["bitwise_equal_reference"] and r["max_diff"] == 0.0, r
    assert r["moved"] > 0.02 and r["differs_from_even"], r  # it trained (0.04 with this seed), and the zeros mattered
    assert r["n_buffers"] == (3 if name == "buffers" else 0)


def test_throw_on_early_termination_raises_on_every_rank(job: dict[str, Any]) -> None:
    """Every rank raises torch's RuntimeError at the step where the shortest ran out; that one says so."""
    r, lengths = job["results"]["throw"], LENGTHS[job["n"]]
    shortest = min(lengths)
    assert r["steps"] == [shortest] * job["n"]
    for rank, (kind, msg) in enumerate(r["caught"]):
        assert kind == "RuntimeError"
        if lengths[rank] == shortest:
            assert msg == f"Rank {rank} exhausted all inputs."
        else:
            assert msg == "Detected at least one rank that exhausted inputs. Throwing across all ranks."


def test_disabled_join_is_a_plain_context(job: dict[str, Any]) -> None:
    """``enable=False`` issues exactly the collectives of no Join and gives the same bits; ``__enter__`` gives None
    (as torch's) and an exception passes through. Enabled: per step one notify and one sync-flag all-reduce, then
    the final count, the common rank and one broadcast per parameter (the final model)."""
    r = job["results"]["disabled"]
    assert r["disabled"] == r["none"] == {"all_reduce": 3, "broadcast": 0}
    assert r["enabled"] == {"all_reduce": 3 + 2 * 3 + 2, "broadcast": N_PARAMS}
    assert r["enter_disabled"] == r["enter_enabled"] == "None"
    assert r["exception_passes"] == "'inside'" and r["bitwise_same"]


# ------------------------------------------------------------------------------------------ one process
@pytest.fixture(scope="module")
def world() -> Any:
    dist.init_process_group(mpi=False)
    yield
    dist.destroy_process_group()


class _Thing(Joinable):
    def __init__(self, group: Any = None) -> None:
        super().__init__()
        self.group = group
        self.calls: list[Any] = []

    def join_hook(self, **kwargs: Any) -> JoinHook:
        self.calls.append(kwargs)
        return JoinHook()

    @property
    def join_device(self) -> Any:
        return bp.device("cpu")

    @property
    def join_process_group(self) -> Any:
        return self.group


def test_errors_match_torch(world: None) -> None:
    with pytest.raises(ValueError, match="^The join context manager requires at least one joinable$"):
        Join([])
    with pytest.raises(ValueError, match="^Using join context manager with multiple process groups$"):
        Join([_Thing(dist.group.WORLD), _Thing("another")])
    with pytest.raises(AssertionError, match="constructor calls the ``Joinable`` constructor"):
        Join.notify_join_context(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="abstract"):
        Joinable()  # type: ignore[abstract]
    with pytest.raises(AssertionError, match="DDP join hook requires passing in a DistributedDataParallel"):
        from backprop.nn.parallel import _DDPJoinHook

        _DDPJoinHook(object(), True)  # type: ignore[arg-type]
    if torch is not None:
        with pytest.raises(ValueError) as theirs:
            torch_join.Join([])
        with pytest.raises(ValueError) as mine:
            Join([])
        assert str(mine.value) == str(theirs.value)


def test_join_protocol_in_a_world_of_one(world: None) -> None:
    """Configs, kwargs forwarded to every hook, notify's work handle (first joinable only), hooks run once."""
    a, b = _Thing(), _Thing()
    assert a._join_config == bp_join._JoinConfig(False, False, False)
    assert Join.notify_join_context(a) is None  # outside a Join
    j = Join([a, b], throw_on_early_termination=True, flavour=1)
    assert a.calls == b.calls == [{"flavour": 1}]
    assert a._join_config == (True, True, True) and b._join_config == (True, True, False)
    with j as entered:
        assert entered is None
        assert Join.notify_join_context(a) is not None and Join.notify_join_context(b) is None
    hook = JoinHook()
    assert hook.main_hook() is None and hook.post_hook(True) is None


def test_ddp_and_zero_are_joinable(world: None) -> None:
    """A world of one: ``with model.join()`` and ``Join([model, zero])`` train exactly as without."""
    results = []
    for how in ("plain", "join", "zero"):
        bp.manual_seed(0)
        model = DistributedDataParallel(nn.Linear(4, 2))
        opt: Any = (
            ZeroRedundancyOptimizer(model.parameters(), optim.SGD, lr=0.1)
            if how == "zero"
            else optim.SGD(model.parameters(), lr=0.1)
        )
        ctx: Any = Join([model, opt]) if how == "zero" else model.join() if how == "join" else None
        assert isinstance(model, Joinable) and isinstance(opt, Joinable) == (how == "zero")
        if ctx is not None:
            ctx.__enter__()
        for step in range(3):
            bp.manual_seed(step)
            opt.zero_grad()
            model(bp.randn(3, 4)).pow(2).sum().backward()
            opt.step()
        if ctx is not None:
            ctx.__exit__(None, None, None)
        results.append([p.detach().numpy().tolist() for p in model.parameters()])
    assert results[0] == results[1] == results[2]
    assert model.join_process_group is dist.group.WORLD and opt.join_process_group is dist.group.WORLD


@needs_torch
def test_names_and_signatures_match_torch() -> None:
    assert sorted(bp_join.__all__) == sorted(torch_join.__all__)
    for name in ("Join.__init__", "Join.notify_join_context", "JoinHook.main_hook", "JoinHook.post_hook"):
        cls, meth = name.split(".")
        mine = inspect.signature(getattr(getattr(bp_join, cls), meth))
        theirs = inspect.signature(getattr(getattr(torch_join, cls), meth))
        assert list(mine.parameters) == list(theirs.parameters), name
        assert [p.default for p in mine.parameters.values()] == [p.default for p in theirs.parameters.values()]
    from torch.nn.parallel import DistributedDataParallel as TorchDDP

    for meth in ("join", "join_hook"):
        mine = inspect.signature(getattr(DistributedDataParallel, meth))
        theirs = inspect.signature(getattr(TorchDDP, meth))
        assert [(p.name, p.default) for p in mine.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()
        ]
    assert issubclass(TorchZeRO, torch_join.Joinable) and issubclass(ZeroRedundancyOptimizer, Joinable)
