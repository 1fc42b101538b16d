"""``backprop train-lm`` / ``eval`` in a subprocess: bad values, bad files and broken runs are one line on
stderr and a non-zero exit code, never a traceback; checkpoints survive corruption, SIGKILL and full disks."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from backprop import cli
from backprop.data import corpus
from backprop.lm import checkpoint
from backprop.lm.config import Range, TrainConfig, validate
from backprop.lm.train import train

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--context", "2", "--embed-dim", "4", "--hidden-dim", "4", "--no-progress", "--no-ngram", "--device", "cpu"]


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m backprop ARGS`` with the repository importable."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "backprop", *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=120
    )


def _one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single stderr line of a failed command (no traceback), after checking its exit code."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("corpus")
    paths = {}
    for name, lines in corpus.generate(n_train=400, n_valid=60, n_test=60, seed=5).items():
        paths[name] = str(d / f"{name}.txt")
        Path(paths[name]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def trained(data: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished checkpoint (one epoch, with best weights)."""
    out = tmp_path_factory.mktemp("trained")
    cfg = TrainConfig(train=data["train"], valid=data["valid"], out=str(out), context=2, embed_dim=4, hidden_dim=4)
    train(dataclasses.replace(cfg, epochs=1, ngram=False, progress=False, device="cpu"))
    return out


# --- the command line: every numeric flag is checked as it is parsed ---


@pytest.mark.parametrize(
    ("flag", "value", "allowed"),
    [
        ("--context", "0", ">= 1"),
        ("--batch-size", "-5", ">= 1"),
        ("--embed-dim", "0", ">= 1"),
        ("--lr", "-1", "> 0"),
        ("--lr", "nan", "finite"),
        ("--dropout", "2", "[0, 1)"),
        ("--max-steps", "0", ">= 1"),
        ("--device", "garbage", "cuda:N"),
    ],
)
def test_bad_flag_values_are_one_line_exit_2(flag: str, value: str, allowed: str) -> None:
    line = _one_line_error(_run("train-lm", flag, value))
    assert flag in line and value in line and allowed in line


def test_every_numeric_field_has_a_range_and_the_library_checks_it(data: dict[str, str]) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if {int, float} & {hints[f.name], *typing.get_args(hints[f.name])}:
            assert isinstance(f.metadata.get("range"), Range), f"TrainConfig.{f.name} has no range"
    validate(TrainConfig())
    for bad in (dict(context=0), dict(batch_size=-5), dict(lr=float("nan")), dict(dropout=2.0), dict(device="gpu")):
        with pytest.raises(ValueError, match=f"TrainConfig.{next(iter(bad))}"):
            train(TrainConfig(train=data["train"], progress=False, **bad))


def test_device_accepts_cuda_n_and_backprop_device_is_checked() -> None:
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    for spec in ("cpu", "auto", "cuda", "cuda:3"):
        assert sub.choices["train-lm"].parse_args(["--device", spec]).device == spec
    line = _one_line_error(_run("train-lm", "--no-progress", env={"BACKPROP_DEVICE": "garbage"}))
    assert "BACKPROP_DEVICE" in line and "garbage" in line


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_out_that_cannot_be_a_directory_fails_before_training(where: str, data: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a regular file\n")
    out = blocker if where == "file" else blocker / "run"
    proc = _run("train-lm", "--train", data["train"], *SMALL, "--out", str(out))
    line = _one_line_error(proc)
    assert str(out) in line and "--out" in line and "epoch" not in proc.stderr


def test_resume_with_a_different_model_flag_is_one_line_exit_2(trained: Path, tmp_path: Path) -> None:
    shutil.copytree(trained, tmp_path / "run")
    line = _one_line_error(_run("train-lm", "--resume", str(tmp_path / "run"), "--hidden-dim", "99"))
    assert "--hidden-dim" in line and "cannot change" in line


def test_non_finite_loss_stops_keeps_the_last_good_checkpoint_and_writes_strict_json(
    data: dict[str, str], tmp_path: Path
) -> None:
    """Epoch 1 trains at lr 0.1; --lr-decay 1e30 makes epoch 2's rate 1e29 and the relu layer overflows."""
    args = ["--train", data["train"], "--valid", data["valid"], "--optimizer", "sgd", "--lr", "0.1"]
    args += [
        "--lr-decay",
        "1e30",
        "--activation",
        "relu",
        "--epochs",
        "3",
        "--log-every",
        "1",
        "--batch-size",
        "256",
        *SMALL,
    ]
    proc = _run("train-lm", *args, "--out", str(tmp_path))
    assert proc.returncode == cli.EXIT_NON_FINITE and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("backprop: error:") and "not finite" in last and "at step" in last
    assert "last good checkpoint" in last and str(tmp_path) in last

    def strict(constant: str) -> None:
        raise AssertionError(f"metrics.json holds {constant}, which strict JSON parsers reject")

    metrics = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=strict)
    assert metrics["stopped"] == "non_finite_loss" and metrics["finished"] is False
    assert any("written as null" in note for note in metrics["notes"])
    ck = checkpoint.load(tmp_path)  # epoch 1's checkpoint, with finite weights
    assert ck["progress"]["epoch"] == 1 and all(np.isfinite(v).all() for v in ck["model_state"].values())
    bad_step = int(last.split("at step ")[1].split(";")[0])
    assert bad_step > ck["step"]


def test_main_job_writes_the_loss_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``backprop train-lm`` with no data flags (the embedded corpus, made smaller here) writes loss.png:
    matplotlib is a dependency of the default install."""
    small = corpus.generate(n_train=300, n_valid=40, n_test=40, seed=1)
    monkeypatch.setattr(corpus, "generate", lambda seed=0: small)
    out = tmp_path / "lm"
    assert cli.main(["train-lm", "--epochs", "1", "--log-every", "1", *SMALL, "--out", str(out)]) == 0
    assert (out / "loss.png").stat().st_size > 1000 and (out / "metrics.json").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    deps = pyproject[pyproject.index("dependencies = [") : pyproject.index("]", pyproject.index("dependencies = ["))]
    assert "matplotlib" in deps


# --- eval: out-of-vocabulary words, and checkpoints that are not what they claim ---


def test_eval_reports_the_oov_rate_and_warns(trained: Path, tmp_path: Path) -> None:
    text = tmp_path / "other.txt"
    text.write_text("colourless green ideas sleep furiously\nthe cat sleeps\n", encoding="utf-8")
    proc = _run("eval", str(trained), str(text), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["oov_rate"] > 0.05
    warning = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and str(text) in warning[0] and "vocabulary" in warning[0]


@pytest.mark.parametrize("damage", ["a_list", "no_vocab", "no_files", "files_not_an_object", "no_sha256_entry"])
def test_checkpoint_json_that_is_not_a_checkpoint(damage: str, trained: Path, tmp_path: Path) -> None:
    d = tmp_path / "ck"
    shutil.copytree(trained, d)
    body = json.loads((d / "checkpoint.json").read_text())
    expected = {"a_list": "JSON list", "no_vocab": "'vocab'", "no_files": "'files'", "files_not_an_object": "'files'"}
    if damage == "a_list":
        body = [body]
    elif damage == "no_sha256_entry":
        expected[damage] = body["files"]["best_weights"]
        del body["sha256"][body["files"]["best_weights"]]
    elif damage == "files_not_an_object":
        body["files"] = ["model.safetensors"]
    else:
        del body[damage.removeprefix("no_")]
    (d / "checkpoint.json").write_text(json.dumps(body))
    line = _one_line_error(_run("eval", str(d), str(ROOT / "README.md"), "--device", "cpu"))
    assert "checkpoint.json" in line and expected[damage] in line


def test_flipped_bytes_in_the_weights_are_detected(trained: Path, tmp_path: Path) -> None:
    d = tmp_path / "ck"
    shutil.copytree(trained, d)
    weights = d / json.loads((d / "checkpoint.json").read_text())["files"]["best_weights"]
    raw = bytearray(weights.read_bytes())
    raw[-10] ^= 0xFF  # inside the tensor data: safetensors alone would load it
    raw[-200] ^= 0x01
    weights.write_bytes(bytes(raw))
    line = _one_line_error(_run("eval", str(d), str(ROOT / "README.md"), "--device", "cpu"))
    assert weights.name in line and "SHA-256" in line
    resumed = _run("train-lm", "--resume", str(d), "--epochs", "2")  # resume verifies the files too
    assert weights.name in _one_line_error(resumed)


# --- kill -9 at any point of a save ---

_SAVER = """
import os, sys
import numpy as np
from backprop.lm import checkpoint

def event(name):  # the parent kills us here, or answers "go"
    print(name, flush=True)
    sys.stdin.readline()

original_write, original_replace = checkpoint._write_file, os.replace

def slow_write(path, data):
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        event("half of " + os.path.basename(path))
        f.write(data[len(data) // 2 :])
    original_write(path, data)

def slow_replace(src, dst):
    event("replace " + os.path.basename(dst))
    original_replace(src, dst)
    event("replaced " + os.path.basename(dst))

checkpoint._write_file, os.replace = slow_write, slow_replace
new = {"w": np.full((64, 64), 2.0, np.float32)}
meta = {"vocab": ["<unk>", "<eos>"], "model_config": {}, "train_config": {}, "progress": {}, "rng": {}}
checkpoint.save(sys.argv[1], step=2, model_state=new, optimizer_state=None, meta=meta, best_state=new)
print("done", flush=True)
"""


def test_sigkill_at_any_point_of_a_save_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    """A subprocess saves step 2 over step 1, stopping at every write, rename and half-written file; one copy
    is killed with SIGKILL at each of those points (all copies run side by side), and each directory must
    then load: step 1 whole, or step 2 whole."""
    meta = {"vocab": ["<unk>", "<eos>"], "model_config": {}, "train_config": {}, "progress": {}, "rng": {}}
    old = {"w": np.full((64, 64), 1.0, np.float32)}
    checkpoint.save(tmp_path / "base", step=1, model_state=old, optimizer_state=None, meta=meta, best_state=old)
    n_events = 9  # 3 files (weights, best weights, JSON) x (half written, before rename, after rename)
    procs = {}
    # kill at event k: in the weights, after their rename, in the best weights, in the JSON, before and after
    # its rename (the other events repeat these states); k == n_events: let the save finish
    for k in (0, 2, 3, 6, 7, 8, n_events):
        d = tmp_path / f"kill{k}"
        shutil.copytree(tmp_path / "base", d)
        procs[k] = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(d)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    seen_steps = set()
    for k, proc in procs.items():
        events = []
        for _ in range(n_events + 1):
            line = proc.stdout.readline().strip()
            events.append(line)
            if line == "done" or len(events) - 1 == k:
                break
            proc.stdin.write("go\n")
            proc.stdin.flush()
        if k < n_events:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()
        assert (events[-1] == "done") == (k == n_events), events
        ck = checkpoint.load(tmp_path / f"kill{k}", best=True)  # verifies every SHA-256
        seen_steps.add(ck["step"])
        np.testing.assert_array_equal(ck["model_state"]["w"], ck["step"])  # all of step 1 or all of step 2
    assert seen_steps == {1, 2}
