"""pytorch/examples' distributed programs, run by torch under ``torchrun`` and by backprop under ``python -m
backprop.run``, compared.

The programs (``tests/distributed_examples/``, each the original with the smallest CPU edits its docstring
lists): ddp-tutorial-series' ``multigpu_torchrun.py`` (DDP, ``DistributedSampler``, a snapshot saved and
resumed by a second launch), ddp/example.py's ``demo_basic`` with the former main.py's ``demo_checkpoint``
(``torch.save`` on rank 0, ``barrier``, ``torch.load(map_location={"cuda:0": ...})``), minGPT-ddp's trainer (a
GPT with ``nn.MultiheadAttention``, AdamW with parameter groups, ``clip_grad_norm_``, loader workers, a snapshot
with the optimizer's state resumed by a second launch), and distributed/FSDP's T5 loop on a small transformer
(``transformer_auto_wrap_policy``, AdamW, ``StepLR``, losses all-reduced, a ``FullStateDictConfig(offload_to_cpu=
True, rank0_only=True)`` checkpoint). Each runs as 2 processes over gloo: once with torch (``python -m
torch.distributed.run``, torchrun's module), then with ``torch`` = backprop (``as_backprop.py`` under backprop's
launcher), starting from torch's initial weights (rank 0's, written to a file; DDP broadcasts them) and drawing
the shuffles and inputs from the same NumPy streams. Compared: every rank's per-step losses (1e-6 relative: float32
sums in another order), its final weights, and what it prints (numbers to 1e-5). Without torch, backprop's runs
still go, from their own initial weights, with checks that need no torch (ranks agree bitwise, the snapshot
resumes, a DDP step is the average of the ranks' gradients, the FSDP checkpoint is whole on rank 0 only).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAMS = HERE / "distributed_examples"
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed: the comparisons need it")

# each program's launches, made one after the other in the same folder (a later one resumes the snapshot)
LAUNCHES: dict[str, list[list[str]]] = {
    # the original's cross entropy on a one-output model (a loss of 0: no update), then resumed with a loss that learns
    "multigpu_torchrun": [["2", "1", "--batch_size", "16"], ["3", "1", "--batch_size", "16", "--mse"]],
    "ddp_example": [[]],
    "mingpt_ddp": [["2"], ["3"]],
    "fsdp_train": [[]],
}
# what each program records (``_common.record``/``save_final`` names) and its optimizer's learning rate
NAMES = {"multigpu_torchrun": ["multigpu"], "ddp_example": ["basic", "checkpoint"], "mingpt_ddp": ["mingpt"]}
NAMES["fsdp_train"] = ["fsdp"]
ADAM_LR = {"mingpt_ddp": 0.003, "fsdp_train": 0.002}


def _env(out: Path, init: Path | None) -> dict[str, str]:
    drop = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "EX_INIT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    # (every BLAS's own variable too: an earlier test's ``init_process_group`` leaves MKL_NUM_THREADS=2 in this
    # process's environment (``limit_blas_threads``), and torch's MKL then sums in another order than alone)
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
    env["BACKPROP_DEVICE"] = "cpu"
    env["EX_OUT"] = str(out)
    if init is not None:
        env["EX_INIT"] = str(init)
    return env


def _launch(lib: str, program: str, out: Path, init: Path | None = None) -> list[list[str]]:
    """Every launch of ``program`` with ``lib`` as torch, 2 processes, writing to ``out``: what each rank printed
    (each launch's, one after the other), from the launcher's per-rank log files (``--log-dir``, ``-r 1``)."""
    script = str(PROGRAMS / f"{program}.py")
    launcher = ["torch.distributed.run"] if lib == "torch" else ["backprop.run"]
    program_args = [script] if lib == "torch" else [str(PROGRAMS / "as_backprop.py"), script]
    printed: list[list[str]] = [[], []]
    for i, args in enumerate(LAUNCHES[program]):
        logs = out / f"logs-{i}"
        cmd = [sys.executable, "-m", *launcher, "--nproc-per-node", "2", "--log-dir", str(logs), "-r", "1"]
        proc = subprocess.run(
            [*cmd, *program_args, *args], capture_output=True, text=True, timeout=240, env=_env(out, init), cwd=ROOT
        )
        assert proc.returncode == 0, f"{lib} {program} {args}:\n{proc.stderr[-6000:]}"
        (run,) = logs.iterdir()
        for rank in (0, 1):
            printed[rank] += (run / "attempt_0" / str(rank) / "stdout.log").read_text().splitlines()
    return printed


@pytest.fixture(scope="module", params=list(LAUNCHES))
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One program run by torch (where installed) and by backprop from torch's initial weights (else its own)."""
    program = request.param
    got: dict[str, Any] = {"program": program, "torch": None}
    if HAS_TORCH:
        out = tmp_path_factory.mktemp(f"{program}-torch")
        got["torch"] = {"out": out, "stdout": _launch("torch", program, out)}
    out = tmp_path_factory.mktemp(f"{program}-backprop")
    init = got["torch"]["out"] if got["torch"] else None
    got["backprop"] = {"out": out, "stdout": _launch("backprop", program, out, init), "init": init or out}
    return got


def _log(out: Path, name: str, rank: int) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / f"{name}-rank{rank}.jsonl").read_text().splitlines()]


def _final(out: Path, name: str, rank: int) -> dict[str, np.ndarray]:
    with np.load(out / f"{name}-final-rank{rank}.npz") as f:
        return {k: f[k] for k in f.files}


# ------------------------------------------------------------------ backprop's runs alone


def test_ranks_agree_and_losses_are_finite(runs: dict[str, Any]) -> None:
    """DDP keeps the ranks' weights bitwise equal; every recorded loss is a finite number."""
    out, program = runs["backprop"]["out"], runs["program"]
    for name in NAMES[program]:
        for rank in (0, 1):
            assert all(math.isfinite(r["loss"]) for r in _log(out, name, rank))
        if program != "fsdp_train":  # (FSDP's checkpoint is on rank 0 only: test_fsdp_checkpoint...)
            a, b = _final(out, name, 0), _final(out, name, 1)
            assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a), name


def test_snapshots_resume(runs: dict[str, Any]) -> None:
    """The second launch starts from the first one's snapshot, at the epoch it recorded."""
    program, printed, out = runs["program"], runs["backprop"]["stdout"], runs["backprop"]["out"]
    if program == "multigpu_torchrun":
        saved = [i for i, line in enumerate(printed[0]) if "Training snapshot saved" in line]
        resumed = [i for i, line in enumerate(printed[0]) if line == "Resuming training from snapshot at Epoch 1"]
        assert len(saved) == 4 and len(resumed) == 1 and saved[1] < resumed[0] < saved[2]  # (it saves the epoch run)
        assert "Resuming training from snapshot at Epoch 1" in printed[1] and not any("saved" in x for x in printed[1])
        losses = [r["loss"] for r in _log(out, "multigpu", 0)]
        assert len(losses) == 8 * 2 + 8 * 2 and all(x == 0 for x in losses[:16])  # (cross entropy of one class)
        with np.load(runs["backprop"]["init"] / "multigpu-init.npz") as f:  # (then MSE trains: the weights move)
            assert not np.array_equal(f["weight"], _final(out, "multigpu", 0)["weight"]) and min(losses[16:]) > 0
    elif program == "mingpt_ddp":
        assert all(printed[rank].count("Resuming training from snapshot at Epoch 2") == 1 for rank in (0, 1))
        snapshot = bp.load(out / "gpt_snapshot.pt")
        assert (
            snapshot["finished_epoch"] == 3
            and len(snapshot["optimizer_state"]["state"]) == len(snapshot["model_state"]) - 2
        )  # (every parameter has AdamW's state: the two masks are buffers)
        epochs = [r["epoch"] for r in _log(out, "mingpt", 0) if r["step"] == "Train"]
        assert epochs == sorted(epochs) and epochs.count(1) == epochs.count(2) == epochs.count(3) == len(epochs) / 3
        evals = [r["loss"] for r in _log(out, "mingpt", 0) if r["step"] == "Eval"]
        assert evals[0] > evals[-1]
    else:
        pytest.skip("no snapshot in this program")


def test_ddp_step_is_the_average_of_the_ranks_gradients(runs: dict[str, Any]) -> None:
    """ddp/example.py's basic demo against one process: its model, each rank's batch (the same NumPy draws),
    the mean of the two gradients, one SGD step."""
    if runs["program"] != "ddp_example":
        pytest.skip("the basic demo only")
    nn = bp.nn
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 5))
    with np.load(runs["backprop"]["init"] / "basic-init.npz") as f:
        init = {k: f[k] for k in f.files}
    model.load_state_dict({k.replace("net1", "0").replace("net2", "2"): bp.from_numpy(v) for k, v in init.items()})
    grads = []
    for rank in (0, 1):
        rng = np.random.default_rng(100 + rank)
        x, y = (bp.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in ((20, 10), (20, 5)))
        model.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
    got = _final(runs["backprop"]["out"], "basic", 0)
    for (k, w), g0, g1 in zip(init.items(), *grads, strict=True):
        np.testing.assert_allclose(got[k], w - 0.001 * (g0 + g1) / 2, rtol=0, atol=1e-7, err_msg=k)


def test_fsdp_checkpoint_is_whole_on_rank_0_only(runs: dict[str, Any]) -> None:
    """``FullStateDictConfig(offload_to_cpu=True, rank0_only=True)``: rank 0's dict has every original name at its
    full shape; rank 1's is empty; the saved file loads into an unwrapped model."""
    if runs["program"] != "fsdp_train":
        pytest.skip("the FSDP program only")
    out = runs["backprop"]["out"]
    assert {r["keys"] for r in _log(out, "fsdp-state", 0)} == {28} and {
        r["keys"] for r in _log(out, "fsdp-state", 1)
    } == {0}
    saved = bp.load(out / "fsdp_checkpoints" / "tiny-t5-1.pt")
    with np.load(runs["backprop"]["init"] / "fsdp-init.npz") as f:
        init = {k: f[k] for k in f.files}
    assert list(saved) == list(init) and all(tuple(saved[k].shape) == init[k].shape for k in init)
    assert all(saved[k].device == bp.device("cpu") for k in saved)
    epochs = _log(out, "fsdp-epoch", 0)
    assert epochs[0]["loss"] > epochs[1]["loss"] and epochs[0]["val"] > epochs[1]["val"]


# ------------------------------------------------------------------ against torch


@needs_torch
def test_losses_match_torch(runs: dict[str, Any]) -> None:
    """Every rank's loss at every step: 1e-6 relative (the same float32 math, summed in other orders)."""
    t, b = runs["torch"]["out"], runs["backprop"]["out"]
    for name in NAMES[runs["program"]]:
        for rank in (0, 1):
            want, got = _log(t, name, rank), _log(b, name, rank)
            assert [{k: v for k, v in r.items() if k != "loss"} for r in got] == [
                {k: v for k, v in r.items() if k != "loss"} for r in want
            ]
            np.testing.assert_allclose(
                [r["loss"] for r in got], [r["loss"] for r in want], rtol=1e-6, atol=1e-7, err_msg=f"{name} rank {rank}"
            )


@needs_torch
def test_final_weights_match_torch(runs: dict[str, Any]) -> None:
    """SGD's weights to 1e-7. Under AdamW (update m / sqrt(v): scale-free) a weight whose gradient is at rounding
    level moves by up to the learning rate either way: the attention's key bias, whose gradient is exactly zero
    (softmax ignores a shift shared by all keys), random-walks by rounding in both libraries, bounded by lr per
    step; the other weights agree to 1e-5."""
    program = runs["program"]
    ranks = (0,) if program == "fsdp_train" else (0, 1)
    steps = len(_log(runs["backprop"]["out"], NAMES[program][0], 0))
    for name in NAMES[program]:
        for rank in ranks:
            want, got = _final(runs["torch"]["out"], name, rank), _final(runs["backprop"]["out"], name, rank)
            assert list(got) == list(want)
            for k in want:
                w, g = want[k], got[k]
                if program not in ADAM_LR:
                    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7, err_msg=k)
                    continue
                if k.endswith("in_proj_bias"):
                    d = w.shape[0] // 3
                    key_w, key_g = w[d : 2 * d], g[d : 2 * d]
                    assert np.max(np.abs(key_g - key_w)) <= ADAM_LR[program] * steps, k
                    w, g = np.concatenate([w[:d], w[2 * d :]]), np.concatenate([g[:d], g[2 * d :]])
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=k)


_NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")
_MASK = [
    (re.compile(r"\[\d+\]"), "[pid]"),  # (ddp/example.py prints os.getpid())
    (re.compile(r"'MASTER_PORT': '\d+'"), "'MASTER_PORT': port"),
]


def _masked(lines: list[str], out: Path) -> list[tuple[str, list[float]]]:
    """Printed lines with the run's folder, process ids and port masked, and their decimal numbers taken out to
    compare with a tolerance."""
    got = []
    for line in lines:
        line = line.replace(str(out), "OUT")
        for pattern, mask in _MASK:
            line = pattern.sub(mask, line)
        got.append((_NUMBER.sub("#", line), [float(x) for x in _NUMBER.findall(line)]))
    return got


@needs_torch
def test_printed_logs_match_torch(runs: dict[str, Any]) -> None:
    """What each rank prints, line by line (the originals' own messages: epochs, batch sizes, steps, snapshots,
    the process group's variables and backend, losses to 1e-5)."""
    for rank in (0, 1):
        want = _masked(runs["torch"]["stdout"][rank], runs["torch"]["out"])
        got = _masked(runs["backprop"]["stdout"][rank], runs["backprop"]["out"])
        assert [text for text, _ in got] == [text for text, _ in want]
        for (text, g), (_, w) in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=text)
