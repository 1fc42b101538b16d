"""Data-parallel training: ``backprop.distributed`` and ``nn.parallel.DistributedDataParallel``.

The multi-process tests start real jobs of two or three processes running ``tests/distributed_worker.py`` or
``backprop train-lm``, once per engine: MPI (``mpiexec -n 2``, from the mpich wheel the ``mpi`` extra installs;
skipped, with the reason, where mpi4py or mpiexec is missing) and TCP (the ``gloo`` backend under ``python -m
backprop.run``, torchrun's conventions; always run). Both must give the same values. The NCCL path's Python
logic (pointers, counts, types, rank-order sums, the unique id sent over MPI) runs here on the CPU against a stand-in
communicator; the real NCCL run needs two GPUs.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop import distributed as dist
from backprop import nn
from backprop.nn.parallel import DistributedDataParallel

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"


def _mpiexec() -> list[str] | None:
    """The launcher next to this Python (the mpich wheel's) or on PATH, with Open MPI's container flags."""
    found = Path(sys.executable).with_name("mpiexec")
    exe = str(found) if found.exists() else shutil.which("mpiexec")
    if exe is None or importlib.util.find_spec("mpi4py") is None:
        return None
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    extra = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    return [exe, *extra]


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install -e '.[mpi]' (mpi4py + the mpich wheel)"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL"))}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"  # one BLAS thread per rank: bitwise results
    env.setdefault("BACKPROP_DEVICE", "cpu")
    return env


def _run(args: list[str], timeout: float = 60, engine: str = "mpi", n: int = 2) -> subprocess.CompletedProcess:
    """``python args...`` as a job of ``n`` processes: under ``mpiexec`` (engine ``mpi``), or under ``python -m
    backprop.run`` with the ``gloo`` backend (``BP_TEST_BACKEND`` tells the worker)."""
    if engine == "mpi":
        assert MPIEXEC is not None
        cmd, env = [*MPIEXEC, "-n", str(n), sys.executable, *args], _env()
    else:
        cmd = [sys.executable, "-m", "backprop.run", "--nproc-per-node", str(n), *args]
        env = {**_env(), "BP_TEST_BACKEND": "gloo"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent)


ENGINES = [pytest.param("mpi", marks=needs_mpi), "gloo"]


@pytest.fixture(scope="module", params=ENGINES)
def job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One two-process job per engine running every value scenario of the worker; rank 0's results by scenario
    (and the engine under ``"engine"``)."""
    engine = request.param
    out = tmp_path_factory.mktemp(engine)
    names = ["collectives", "more_collectives", "ddp", "no_sync", "errors"]
    proc = _run([str(WORKER), str(out), *names], engine=engine)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[str, Any] = {n: json.loads((out / f"{n}.json").read_text()) for n in names}
    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
    results["engine"] = engine
    return results


# ------------------------------------------------------------------------------------------ two processes
def test_collectives_give_torchs_values(job: dict[str, Any]) -> None:
    c = job["collectives"]
    assert (c["world_size"], c["backend"], c["local_rank"]) == (2, job["engine"], 0)
    assert c["SUM"] == [3.0, 30.0, -5.0] and c["AVG"] == [1.5, 15.0, -2.5] and c["PRODUCT"] == [2.0, 200.0, 6.0]
    assert c["MAX"] == [2.0, 20.0, -2.0] and c["MIN"] == [1.0, 10.0, -3.0]
    assert c["BAND"] == [[0, 6, 12], [False, True, False]] and c["BOR"] == [[3, 6, 12], [True, True, False]]
    assert c["BXOR"] == [[3, 0, 0], [True, False, False]]
    assert c["broadcast_from_1"] == [1.0] * 4
    assert c["non_contiguous"] == [[0.0, 9.0], [3.0, 12.0], [6.0, 15.0]]  # (2, 3).T summed over ranks 1x and 2x
    assert c["float16"] == [[3.0, 6.0, 9.0], "float16"] and c["int64"] == [[3, 6, 9], "int64"]
    assert c["bool_max"] == [True, False, True]
    assert c["gathered_rank_seeds_ok"]
    assert c["objects"] == [{"rank": 0}, {"rank": 1}] and c["broadcast_objects"] == ["from 1", 1]
    for det in (True, False):  # two ranks: a + b either way, the same bits on both
        assert c[f"sum_equals_rank_order_{det}"] and c[f"sum_same_on_all_ranks_{det}"]


def test_more_collectives_give_torchs_values(job: dict[str, Any]) -> None:
    """reduce/gather/scatter/reduce_scatter(_tensor)/all_gather_into_tensor/all_to_all(_single), point-to-point and
    object calls on two ranks: the values torch's semantics give (rank r's inputs are built from r)."""
    c = job["more_collectives"]
    assert c["reduce_rank1"] == [3.0, 30.0] and c["reduce_rank0"] == [1.0, 10.0]  # only dst gets the sum
    assert c["reduce_max_rank0"] == [2.0, -1.0] and c["reduce_max_rank1"] == [2.0, -2.0]
    assert c["gather_rank1"] == [[0.0] * 3, [1.0] * 3] and c["gather_rank0"] is None
    assert c["scatter_rank0"] == [10.0, 11.0] and c["scatter_rank1"] == [20.0, 21.0]
    assert c["reduce_scatter_rank0"] == [3.0, 4.0] and c["reduce_scatter_rank1"] == [6.0, 12.0]
    assert c["reduce_scatter_tensor_avg_rank0"] == [1.5, 3.0] and c["reduce_scatter_tensor_avg_rank1"] == [4.5, 6.0]
    want_cat = [[0.0, 0.5], [10.0, 20.0], [1.0, 1.5], [11.0, 21.0]]
    assert c["all_gather_into_tensor_rank0"] == want_cat and c["all_gather_into_tensor_rank1"] == want_cat
    assert c["all_to_all_rank0"] == [[0.0], [100.0]] and c["all_to_all_rank1"] == [[1.0, 1.0], [101.0, 101.0]]
    assert c["all_to_all_single_rank0"] == [0.0, 1.0, 10.0, 11.0] and c["all_to_all_single_rank1"] == [
        2.0,
        3.0,
        12.0,
        13.0,
    ]
    assert c["all_to_all_single_uneven_rank0"] == [0.0, 1.0, 10.0] and c["all_to_all_single_uneven_rank1"] == [
        2.0,
        11.0,
    ]
    assert c["recv1_from"] == 0 and c["recv1_value"] == [1.5, 2.5, 3.5]
    assert c["recv_from"] == 1 and c["recv_value"] == [7, 8]
    assert c["batch_p2p_rank0"] == [1.0] * 5 and c["batch_p2p_rank1"] == [0.0] * 5
    assert c["irecv_non_contiguous_rank0"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert c["gather_object_rank0"] == [{"rank": 0}, {"rank": 1}] and c["gather_object_rank1"] is None
    assert c["scatter_object_rank0"] == "to 0" and c["scatter_object_rank1"] == "to 1"
    assert c["recv_object_list_from"] == 0 and c["recv_object_list"] == [{"x": 1}, "two"]
    assert c["world_ranks"] == [0, 1] and c["new_group_is_world"]
    assert c["solo_rank0"] is True and c["solo_rank1"] == [1]


@pytest.mark.parametrize("engine", ENGINES)
def test_subgroups_on_three_ranks(tmp_path: Path, engine: str) -> None:
    """new_group([0, 2]) on three ranks: collectives and point-to-point inside it, rank 1 outside (its calls do
    nothing, its rank in the group is -1), group order from sort_ranks=False, the world unaffected."""
    proc = _run([str(WORKER), str(tmp_path), "subgroups"], timeout=120, engine=engine, n=3)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    c = json.loads((tmp_path / "subgroups.json").read_text())
    assert "error" not in c, c.get("error")
    assert [c[f"is_member_{r}"] for r in range(3)] == [True, False, True]
    assert c["rank_size_0"] == [0, 2] and c["rank_size_2"] == [1, 2] and c["rank_size_1"] == [-1, -1]
    assert c["all_reduce_0"] == c["all_reduce_2"] == [4.0] and c["all_reduce_1"] == [2.0]
    assert c["broadcast_src2_0"] == c["broadcast_src2_2"] == [20.0] and c["broadcast_src2_1"] == [10.0]
    assert c["reduce_dst2_2"] == [4.0, 4.0] and c["reduce_dst2_0"] == [1.0, 0.0] and c["reduce_dst2_1"] == [2.0, 2.0]
    assert c["all_gather_0"] == c["all_gather_2"] == [[0.0], [2.0]] and c["all_gather_1"] == []
    assert c["ranks_0"] == c["ranks_2"] == [0, 2] and c["global_of_1_0"] == 2 and c["group_of_2_2"] == 1
    assert c["recv_in_group_from"] == 0 and c["recv_in_group"] == [4.0, 5.0]
    assert c["objects_0"] == c["objects_2"] == ["r0", "r2"]
    assert [c[f"unsorted_rank_{r}"] for r in range(3)] == [1, -1, 0]
    assert c["world_after_0"] == c["world_after_1"] == c["world_after_2"] == [6.0]
    assert c["ddp_group_same_0"] and c["ddp_group_same_2"] and c["ddp_group_world_0"] == 2
    # SyncBatchNorm over ranks 0 and 2: the batch mean is (0 + 2) / 2 = 1; running mean 0.9 * 0 + 0.1 * 1
    assert c["sync_bn_mean_0"] == c["sync_bn_mean_2"] == [0.1, 0.1]


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
@pytest.mark.parametrize("deterministic", [True, False])
def test_ddp_is_bitwise_the_sharded_single_process_run(
    job: dict[str, Any], optimizer: str, deterministic: bool
) -> None:
    """20 steps on two ranks == one process adding the two half-batch gradients in rank order, / 2."""
    r = job["ddp"][f"{optimizer}_deterministic_{deterministic}"]
    assert r["bitwise_equal_to_reference"], r
    assert r["same_on_all_ranks"] and r["moved"] > 0.05
    assert r["stats"]["reductions"] == 20 and r["buckets"] == 1


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_ddp_is_close_to_the_full_batch_run(job: dict[str, Any], optimizer: str) -> None:
    """Not bitwise: the full batch sums its 16 per-example terms in one order, two ranks in two halves."""
    r = job["ddp"][f"{optimizer}_deterministic_True"]
    assert r["allclose_to_full_batch"] and r["max_diff_to_full_batch"] < 1e-5, r


def test_no_sync_accumulates_then_one_reduction(job: dict[str, Any]) -> None:
    r = job["no_sync"]
    assert r["bitwise_equal_to_reference"]
    assert r["reductions"] == 5 and r["buckets"] == 2 and r["collectives_per_reduction"] == 2.0  # bucketed


def test_different_models_name_the_rank_and_parameter(job: dict[str, Any]) -> None:
    msg = job["errors"]["shape_mismatch"]
    assert msg is not None and "rank 1's '0.weight' has shape (17, 6)" in msg and "rank 0's has shape (16, 6)" in msg


def test_unused_parameters(job: dict[str, Any]) -> None:
    e = job["errors"]
    assert e["unused_error"] is not None and "['3.weight', '3.bias']" in e["unused_error"]
    assert "find_unused_parameters=True" in e["unused_error"]
    assert e["find_unused_a_is_half_rank0"] and e["find_unused_b_is_half_rank1"]  # (g + 0) / 2 on both ranks
    assert e["find_unused_never_grad_is_none"] and e["find_unused_second_iteration_ok"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rank_that_raises_ends_the_job_quickly(tmp_path: Path, engine: str) -> None:
    t0 = time.monotonic()
    proc = _run([str(WORKER), str(tmp_path), "raise_on_rank_1"], timeout=60, engine=engine)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "rank 1 of 2 raised ValueError" in proc.stderr and "deliberate failure on rank 1" in proc.stderr
    assert elapsed < 20, f"took {elapsed:.1f} s: the other rank waited instead of being aborted"


@pytest.mark.parametrize("engine", ENGINES)
def test_train_lm_on_two_ranks_then_resume_alone(tmp_path: Path, engine: str) -> None:
    from backprop.data import corpus
    from backprop.lm.train import TrainConfig, train

    splits = corpus.generate(n_train=400, n_valid=60, n_test=60, seed=3)
    files = {}
    for name, lines in splits.items():
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    args = ["--train", str(files["train"]), "--valid", str(files["valid"]), "--test", str(files["test"])]
    args += ["--context", "2", "--embed-dim", "8", "--hidden-dim", "16", "--batch-size", "64", "--epochs", "2"]
    args += ["--max-steps", "60", "--no-progress", "--no-ngram", "--device", "cpu", "--log-every", "5"]
    proc = _run(["-m", "backprop", "train-lm", *args, "--out", str(out)], timeout=120, engine=engine)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('"steps"') == 1  # one summary: rank 0's
    assert proc.stderr.count("epoch 1: valid perplexity") == 1  # only rank 0 logs
    m = json.loads((out / "metrics.json").read_text())
    assert m["distributed"] == {"world_size": 2, "backend": engine, "deterministic": False}
    assert len(m["valid_ppl"]) == 1 and np.isfinite(m["valid_ppl"][0]) and m["steps"] == 60
    assert all(np.isfinite(loss) for _, loss in m["train_loss"])
    # the checkpoint of two ranks resumes in one process (the global batch is the same)
    resumed = train(TrainConfig(resume=str(out), max_steps=70, progress=False), given={"max_steps", "progress"})
    assert resumed["steps"] == 70 and resumed["distributed"] == {"world_size": 1, "backend": None}


# ------------------------------------------------------------------------------------------ one process
def test_a_single_process_is_a_world_of_one_without_mpi4py() -> None:
    code = (
        "import sys, backprop as bp\n"
        "from backprop import distributed as dist\n"
        "from backprop.nn.parallel import DistributedDataParallel as DDP\n"
        "dist.init_process_group()\n"
        "t = bp.tensor([1.0, 2.0]); dist.all_reduce(t); dist.broadcast(t); dist.barrier()\n"
        "m = DDP(bp.nn.Linear(2, 1))\n"
        "m(t[None]).sum().backward()\n"
        "print(dist.get_rank(), dist.get_world_size(), dist.get_backend(), t.tolist(), 'mpi4py' in sys.modules,"
        " m.module.weight.grad.tolist())\n"
    )
    env = {k: v for k, v in _env().items() if k != "BACKPROP_DEVICE"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1", "mpi", "[1.0,", "2.0]", "False", "[[1.0,", "2.0]]"]


@needs_mpi
def test_a_launcher_of_another_mpi_is_an_error_not_a_silent_world_of_one() -> None:
    code = "from backprop import distributed as dist\ndist.init_process_group()\n"
    env = {**_env(), "PMI_RANK": "0", "PMI_SIZE": "2"}  # as if mpiexec started 2, but MPI itself sees 1
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0 and "the launcher started 2 processes but MPI sees 1" in proc.stderr


@pytest.fixture
def world_of_one() -> Any:
    dist.init_process_group(mpi=False)
    yield
    dist.destroy_process_group()


def test_process_group_state_and_errors(world_of_one: None) -> None:
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group()
    assert dist.is_initialized() and dist.get_local_rank() == 0 and dist.get_local_world_size() == 1
    leaf = bp.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        dist.all_reduce(leaf)
    with bp.no_grad():
        dist.all_reduce(leaf)  # as torch: fine under no_grad
    with pytest.raises(ValueError, match="src 1"):
        dist.broadcast(bp.zeros(1), src=1)
    parts = [bp.zeros(2)]
    dist.all_gather(parts, bp.tensor([4.0, 5.0]))
    assert parts[0].tolist() == [4.0, 5.0]
    with pytest.raises(ValueError, match="tensor_list has 2"):
        dist.all_gather([bp.zeros(2), bp.zeros(2)], bp.zeros(2))
    with pytest.raises(TypeError, match="AVG needs a floating-point"):
        dist.all_reduce(bp.tensor([1, 2]), dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="all_reduce: ReduceOp.BXOR needs an integer or bool tensor, got float32"):
        dist.all_reduce(bp.tensor([1.0, 2.0]), dist.ReduceOp.BXOR)
    with pytest.raises(TypeError, match="reduce_scatter_tensor: ReduceOp.BAND needs an integer or bool"):
        dist.reduce_scatter_tensor(bp.zeros(1), bp.ones(1), dist.ReduceOp.BAND)
    t = bp.tensor([5, 3])
    dist.all_reduce(t, dist.ReduceOp.BOR)  # (a world of one: the identity)
    assert t.tolist() == [5, 3]
    assert dist.all_reduce(bp.zeros(1), async_op=True).wait()
    assert dist.job_info() == {"world_size": 1, "backend": None} and dist.is_main_process()


def test_more_collectives_in_a_world_of_one(world_of_one: None) -> None:
    t = bp.tensor([1.0, 2.0])
    dist.reduce(t, dst=0)
    gl = [bp.zeros(2)]
    dist.gather(t, gl)
    sc = bp.zeros(2)
    dist.scatter(sc, [bp.tensor([5.0, 6.0])])
    cat = bp.zeros(1, 2)
    dist.all_gather_into_tensor(cat, t)
    single = bp.zeros(4)
    dist.all_to_all_single(single, bp.arange(4.0))
    assert t.tolist() == [1.0, 2.0] and gl[0].tolist() == [1.0, 2.0] and sc.tolist() == [5.0, 6.0]
    assert cat.tolist() == [[1.0, 2.0]] and single.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="destination rank needs a gather_list"):
        dist.gather(t, None, dst=0)
    with pytest.raises(ValueError, match="should not be the same as rank"):
        dist.send(t, dst=0)
    with pytest.raises(ValueError, match="dst 3 is not a rank"):
        dist.reduce(t, dst=3)
    with pytest.raises(ValueError, match="must hold world size"):
        dist.reduce_scatter_tensor(bp.zeros(2), bp.zeros(3))
    with pytest.raises(ValueError, match="split_sizes"):
        dist.all_to_all_single(bp.zeros(4), bp.zeros(4), [3], [4])
    with pytest.raises(ValueError, match="distinct ranks of this world of 1"):
        dist.new_group([0, 1])
    assert dist.new_group() is dist.group.WORLD is dist.GroupMember.WORLD and dist.GroupMember.NON_GROUP_MEMBER == -100
    assert dist.get_global_rank(None, 0) == 0 and dist.get_group_rank(None, 0) == 0
    assert dist.get_process_group_ranks(None) == [0]
    assert dist.Backend("MPI") == dist.Backend.MPI == "mpi" and dist.get_default_backend_for_device("cpu") == "gloo"
    with pytest.raises(ValueError):
        dist.Backend("carrier-pigeon")
    assert dist.is_gloo_available() and dist.is_backend_available("gloo") and not dist.is_backend_available("ucc")
    assert dist.default_pg_timeout.total_seconds() == 1800 and issubclass(dist.DistBackendError, RuntimeError)


def test_names_without_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dist.group.WORLD is None
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert dist.get_node_local_rank(fallback_rank=3) == 3 and not dist.is_torchelastic_launched()
    with pytest.raises(RuntimeError, match="LOCAL_RANK is not in the environment"):
        dist.get_node_local_rank()
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert dist.get_node_local_rank() == 1 and dist.is_torchelastic_launched()


def test_uninitialised_and_bad_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert not dist.is_initialized() and dist.is_main_process()
    with pytest.raises(ValueError, match="has not been initialized"):  # torch's class
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown backend 'ucc'"):
        dist.init_process_group("ucc")
    with pytest.raises(ValueError, match="environment variable RANK expected, but not set"):  # (torch's words)
        dist.init_process_group("gloo")  # gloo needs a rendezvous: torchrun / python -m backprop.run
    with pytest.raises(ValueError, match="environment variable MASTER_ADDR expected"):
        dist.init_process_group("gloo", rank=0, world_size=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        dist.init_process_group(bad=1)
    assert not dist.is_initialized()


def test_ddp_in_a_world_of_one_is_the_module(world_of_one: None) -> None:
    bp.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    wrapped = DistributedDataParallel(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)))
    wrapped.module.load_state_dict(plain.state_dict())
    x = bp.randn(5, 4)
    F.mse_loss(plain(x), bp.zeros(5, 2)).backward()
    F.mse_loss(wrapped(x), bp.zeros(5, 2)).backward()
    for p, q in zip(plain.parameters(), wrapped.module.parameters()):
        assert np.array_equal(p.grad.numpy(), q.grad.numpy())
    assert list(wrapped.state_dict())[0] == "module.0.weight"  # torch's keys
    assert bp.nn.parallel.DistributedDataParallel is DistributedDataParallel


def test_launch_info_reads_the_launchers() -> None:
    assert dist.launch_info({}) is None
    hydra = {"PMI_RANK": "1", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"}
    assert dist.launch_info(hydra) == (1, 4, 1, 2)
    ompi = {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "0"}
    assert dist.launch_info(ompi) == dist.LaunchInfo(3, 8, 0, -1)


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_local_slices_split_the_batch_in_rank_order(world: int) -> None:
    for n in range(12):
        slices = [dist.local_slice(n, r, world) for r in range(world)]
        assert [i for s in slices for i in range(n)[s]] == list(range(n))
        sizes = [s.stop - s.start for s in slices]
        assert max(sizes) - min(sizes) <= 1


def test_local_batch_weights_make_the_global_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    losses = np.arange(7.0) ** 2  # per-example losses of a global batch of 7 on 3 ranks: parts of 3, 2, 2
    weighted = []
    for rank in range(3):
        host = SimpleNamespace(rank=rank, size=3)
        monkeypatch.setattr(dist, "_group", dist._Group("mpi", host, None, rank, 3, False))
        (part,), w = dist.local_batch(losses)
        weighted.append(w * part.mean())
    assert np.isclose(np.mean(weighted), losses.mean())
    host = SimpleNamespace(rank=2, size=3)
    monkeypatch.setattr(dist, "_group", dist._Group("mpi", host, None, 2, 3, False))
    (part,), w = dist.local_batch(np.arange(2.0))  # a last batch smaller than the world: rank 2 gets nothing
    assert w == 0.0 and len(part) == 1


def test_blas_threads_respect_the_users_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert dist.limit_blas_threads(2) is None


# ------------------------------------------------------------------------------------------ NCCL, stand-in
_CTYPES = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int64": ctypes.c_int64, "uint8": ctypes.c_uint8}


class _FakeNcclModule:
    """The constants and ``NcclCommunicator`` of ``cupy.cuda.nccl``, for threads standing in for ranks."""

    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
    _DTYPES = {1: "uint8", 4: "int64", 7: "float32", 8: "float64"}

    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size)
        self.slots: list[Any] = [None] * size
        self.calls: list[tuple] = []
        self.mailbox = {(a, b): queue.Queue() for a in range(size) for b in range(size)}
        self._depth = threading.local()
        module = self

        class NcclCommunicator:
            def __init__(self, ndev: int, uid: tuple, rank: int) -> None:
                assert ndev == module.size and uid == tuple(range(128))
                self.rank = rank

            def _view(self, ptr: int, count: int, dtype: int) -> np.ndarray:
                name = module._DTYPES[dtype]
                return np.ctypeslib.as_array((_CTYPES[name] * count).from_address(ptr)).view(name)

            def _exchange(self, arr: np.ndarray) -> list[np.ndarray]:
                module.slots[self.rank] = arr.copy()
                module.barrier.wait()
                parts = list(module.slots)
                module.barrier.wait()
                return parts

            def allReduce(self, send: int, recv: int, count: int, dtype: int, op: int, stream: int) -> None:  # noqa: N802
                module.calls.append(("allReduce", count, dtype, op, stream))
                parts = self._exchange(self._view(send, count, dtype))
                fn = {0: np.add, 1: np.multiply, 2: np.maximum, 3: np.minimum}[op]
                acc = parts[0]
                for p in parts[1:]:
                    acc = fn(acc, p)
                self._view(recv, count, dtype)[...] = acc

            def broadcast(self, send: int, recv: int, count: int, dtype: int, root: int, stream: int) -> None:
                parts = self._exchange(self._view(send, count, dtype))
                self._view(recv, count, dtype)[...] = parts[root]

            def allGather(self, send: int, recv: int, count: int, dtype: int, stream: int) -> None:  # noqa: N802
                module.calls.append(("allGather", count, dtype, stream))
                parts = self._exchange(self._view(send, count, dtype))
                self._view(recv, count * module.size, dtype)[...] = np.concatenate(parts)

            def send(self, buf: int, count: int, dtype: int, peer: int, stream: int) -> None:
                module.calls.append(("send", self.rank, peer, count, dtype, stream, module.group_depth))
                module.mailbox[(self.rank, peer)].put(self._view(buf, count, dtype).copy())

            def recv(self, buf: int, count: int, dtype: int, peer: int, stream: int) -> None:
                module.calls.append(("recv", self.rank, peer, count, dtype, stream))
                got = module.mailbox[(peer, self.rank)].get(timeout=5)
                assert got.size == count, f"rank {self.rank} expected {count} values from {peer}, got {got.size}"
                self._view(buf, count, dtype)[...] = got

        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self) -> tuple:
        return tuple(range(128))

    @property
    def group_depth(self) -> int:
        return getattr(self._depth, "n", 0)

    def groupStart(self) -> None:  # noqa: N802 - cupy.cuda.nccl's name
        self._depth.n = self.group_depth + 1

    def groupEnd(self) -> None:  # noqa: N802
        self._depth.n = self.group_depth - 1


class _FakeHost:
    """The MPI side: only the unique id's broadcast from rank 0."""

    def __init__(self, rank: int, size: int, shared: dict) -> None:
        self.rank, self.size, self.shared = rank, size, shared

    def bcast_object(self, obj: Any, src: int) -> Any:
        if self.rank == src:
            self.shared["uid"] = obj
        self.shared["barrier"].wait()
        return self.shared["uid"]


def _nccl_ranks(size: int, body: Any) -> list[Any]:
    """Run ``body(rank, comm)`` in ``size`` threads, each with an NCCL communicator over the stand-in."""
    nccl = _FakeNcclModule(size)
    shared: dict = {"barrier": threading.Barrier(size)}
    results: list[Any] = [None] * size
    errors: list[BaseException] = []

    def run(rank: int) -> None:
        try:
            comm = dist._connect_nccl(_FakeHost(rank, size, shared), nccl, lambda: 1234)
            results[rank] = body(rank, comm)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            nccl.barrier.abort()

    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    if errors:
        raise errors[0]
    results.append(nccl.calls)
    return results


def test_nccl_all_reduce_passes_pointers_counts_types_and_the_stream() -> None:
    def body(rank: int, comm: Any) -> Any:
        a = np.arange(6, dtype=np.float32) * (rank + 1)
        comm.allreduce(a, dist.ReduceOp.SUM, False)
        m = np.array([rank, -rank, 5], dtype=np.int64)
        comm.allreduce(m, dist.ReduceOp.MAX, False)
        b = np.full(3, float(rank), dtype=np.float64)
        comm.broadcast(b, 2)
        return a, m, b

    *res, calls = _nccl_ranks(3, body)
    for a, m, b in res:
        assert a.tolist() == (np.arange(6) * 6.0).tolist() and m.tolist() == [2, 0, 5] and b.tolist() == [2.0] * 3
    assert ("allReduce", 6, _FakeNcclModule.NCCL_FLOAT32, _FakeNcclModule.NCCL_SUM, 1234) in calls
    assert ("allReduce", 3, _FakeNcclModule.NCCL_INT64, _FakeNcclModule.NCCL_MAX, 1234) in calls


def test_nccl_deterministic_sum_gathers_and_adds_in_rank_order() -> None:
    vals = [np.float32(1e8), np.float32(1.0), np.float32(-1e8)]  # (1e8 + 1) - 1e8 = 0 in float32; other orders: 1

    def body(rank: int, comm: Any) -> Any:
        a = np.full(4, vals[rank], dtype=np.float32)
        comm.allreduce(a, dist.ReduceOp.SUM, True)
        g = comm.allgather(np.array([rank], dtype=np.float64))
        return a, g

    *res, calls = _nccl_ranks(3, body)
    for a, g in res:
        assert a.tolist() == [0.0] * 4 and g.tolist() == [[0.0], [1.0], [2.0]]
    assert not any(c[0] == "allReduce" for c in calls)  # gathered, never reduced by NCCL's own order


def test_nccl_point_to_point_and_all_to_all_are_grouped_sends_and_receives() -> None:
    """Three stand-in ranks: all_to_all posts every pair's send and receive in one NCCL group (a self-pair is a
    copy), with the peers, counts and types of the buffers; a receive needs its source."""
    F32 = _FakeNcclModule.NCCL_FLOAT32  # noqa: N806

    def body(rank: int, comm: Any) -> Any:
        sends = [np.full(j + 1, 10.0 * rank + j, dtype=np.float32) for j in range(3)]  # j + 1 values to rank j
        recvs = [np.zeros(rank + 1, dtype=np.float32) for _ in range(3)]
        comm.alltoall_into(sends, recvs)
        with comm.grouped():  # a ring exchange: send to the next rank, receive from the previous one
            comm.isend(np.array([rank, rank], dtype=np.int64), (rank + 1) % 3, 0)
            got = np.zeros(2, dtype=np.int64)
            req = comm.irecv(got, (rank - 1) % 3, 0)
        with pytest.raises(RuntimeError, match="needs the source rank"):
            comm.irecv(np.zeros(1, np.float32), None, 0)
        return [r.tolist() for r in recvs], got.tolist(), req.wait_source()

    *res, calls = _nccl_ranks(3, body)
    for rank, (recvs, ring, source) in enumerate(res):
        assert recvs == [[10.0 * i + rank] * (rank + 1) for i in range(3)]
        assert ring == [(rank - 1) % 3] * 2 and source == (rank - 1) % 3
    assert ("send", 0, 2, 3, F32, 1234, 1) in calls and ("recv", 2, 0, 3, F32, 1234) in calls  # (1: inside a group)
    assert all(c[-1] == 1 for c in calls if c[0] == "send")
    assert not any(c[0] in ("send", "recv") and c[1] == c[2] for c in calls)  # the self-pair never goes to NCCL


def test_nccl_rejects_types_it_cannot_carry() -> None:
    comm = dist._NcclComm(None, _FakeNcclModule(1), 1, 0, lambda: 0)
    with pytest.raises(TypeError, match="NCCL cannot carry complex64"):
        comm.allreduce(np.zeros(2, np.complex64), dist.ReduceOp.SUM, False)


def test_mpi_backend_refuses_device_arrays() -> None:
    with pytest.raises(RuntimeError, match="device arrays never go through MPI"):
        dist._MPIComm._host(SimpleNamespace())


def test_process_group_names(world_of_one: None) -> None:
    """ignite checks ``isinstance(group, dist.ProcessGroup)`` and ``dist._rank_not_in_group(group)``."""
    assert isinstance(dist.group.WORLD, dist.ProcessGroup) and isinstance(dist.new_group([0]), dist.ProcessGroup)
    assert not dist._rank_not_in_group(None) and not dist._rank_not_in_group(dist.group.WORLD)
    assert dist._rank_not_in_group(dist.GroupMember.NON_GROUP_MEMBER)
    assert [op.name for op in dist.ReduceOp] == ["SUM", "PRODUCT", "MIN", "MAX", "AVG", "BAND", "BOR", "BXOR"]
