"""What torchrun-launched scripts use beyond the launcher: ``@record`` and torchrun's failure summary, elastic
restarts (``--max-restarts``), ``python -m backprop.distributed.run`` and the deprecated
``backprop.distributed.launch``. Each job runs under ``python -m backprop.run`` and, where torch is installed,
under torchrun too, and the two are compared (exit codes, what the scripts wrote, the summary's fields).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backprop.distributed.elastic.multiprocessing import errors

ROOT = Path(__file__).resolve().parent.parent
HAVE_TORCH = importlib.util.find_spec("torch") is not None
# (backprop's launcher always; torch's where it is installed)
LAUNCHERS = {"backprop": "backprop.run", **({"torch": "torch.distributed.run"} if HAVE_TORCH else {})}

# A script that picks its ``record`` from backprop or torch (``ERRORS_FROM``).
HEADER = (
    "import importlib, os, sys, time\n"
    "record = importlib.import_module(os.environ['ERRORS_FROM'] + '.distributed.elastic.multiprocessing.errors')"
    ".record\n"
    "rank, restart = os.environ['RANK'], os.environ['TORCHELASTIC_RESTART_COUNT']\n"
)


def _job(lib: str, module: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    drop = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_ERROR_FILE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(ERRORS_FROM=lib, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))  # (the scripts: this checkout's)
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


# ------------------------------------------------------------------------------------------ @record, in-process
def test_record_writes_torchs_error_file_and_reraises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(file))

    @errors.record
    def main(code: object = None) -> int:
        if code is not None:
            raise SystemExit(code)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        main()
    data = json.loads(file.read_text())
    assert data["message"]["message"] == "ValueError: boom"
    info = data["message"]["extraInfo"]
    assert info["py_callstack"].startswith("Traceback") and info["py_callstack"].endswith("ValueError: boom\n")
    assert abs(int(info["timestamp"]) - time.time()) < 60
    file.unlink()
    assert main(0) is None and not file.exists()  # (torch's: SystemExit(0) is no failure)
    with pytest.raises(SystemExit):
        main(3)
    assert not file.exists()  # (another SystemExit passes through, unrecorded)

    # a ChildFailedError copies its root cause's file, the exit code as errorCode (torch's nested launchers)
    child = tmp_path / "child.json"
    child.write_text(
        json.dumps({"message": {"message": "E: x", "extraInfo": {"py_callstack": "tb", "timestamp": "5"}}})
    )
    failure = errors.ProcessFailure(local_rank=0, pid=1, exitcode=7, error_file=str(child))

    @errors.record
    def agent() -> None:
        raise errors.ChildFailedError("train.py", {3: failure})

    with pytest.raises(errors.ChildFailedError):
        agent()
    assert json.loads(file.read_text())["message"]["errorCode"] == 7


def test_child_failed_error_is_torchrun_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same failures give torch's message, character for character (the first failure is the root cause)."""
    file = tmp_path / "error.json"
    tb = "Traceback (most recent call last):\n  x\nValueError: boom\n"
    info = {"py_callstack": tb, "timestamp": "1700000000"}
    file.write_text(json.dumps({"message": {"message": "ValueError: boom", "extraInfo": info}}))
    monkeypatch.setattr(time, "time", lambda: 1700000009.0)  # (a failure without a file: "now")
    libs = [errors]
    if HAVE_TORCH:
        from torch.distributed.elastic.multiprocessing import errors as torch_errors

        libs.append(torch_errors)
    msgs = []
    for lib in libs:
        failures = {
            0: lib.ProcessFailure(local_rank=0, pid=11, exitcode=-15, error_file=str(tmp_path / "none.json")),
            1: lib.ProcessFailure(local_rank=1, pid=12, exitcode=1, error_file=str(file)),
            2: lib.ProcessFailure(local_rank=2, pid=13, exitcode=3, error_file=str(tmp_path / "none.json")),
        }
        e = lib.ChildFailedError("train.py", failures)
        assert e.get_first_failure()[0] == 1 and failures[0].message == "Signal 15 (SIGTERM) received by PID 11"
        msgs.append(str(e))
    assert "Root Cause (first observed failure):\n[1]:" in msgs[0] and "  traceback : Traceback" in msgs[0]
    assert "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html" in msgs[0]
    assert msgs[0] == msgs[-1]


# ------------------------------------------------------------------------------------------ the launchers
def _summary(stderr: str) -> list[str]:
    """torchrun's summary from ``...ChildFailedError:`` on, times, pids and folders dropped, each traceback
    reduced to its last line (the frames of ``record``'s wrapper are the library's own)."""
    lines = stderr[stderr.index("ChildFailedError: \n") :].splitlines()[1:]
    out: list[str] = []
    for line in lines:
        if line.startswith(("    ", "  Traceback")) or not line.strip() or "traceback : Trace" in line:
            continue  # (a traceback's frames)
        line = re.sub(r"time      : .*", "time      : T", line)
        line = re.sub(r"(pid: |PID )\d+", r"\1P", line)
        line = re.sub(r"error_file: /.*/(attempt_\d+/\d+/error.json)", r"error_file: \1", line)
        out.append(line.rstrip())
    return out


def test_launcher_reports_the_root_cause_as_torchrun(tmp_path: Path) -> None:
    """Rank 1 raises in a ``@record`` main on each attempt (``--max-restarts 1``: twice); the launchers exit 1 with
    torchrun's summary: rank 0, stopped, among the failures; rank 1's error file (the last attempt's) the root
    cause, its traceback ending with the exception."""
    script = tmp_path / "fail.py"
    script.write_text(
        HEADER + "@record\ndef main():\n    if rank == '1':\n        raise ValueError('boom ' + restart)\n"
        "    time.sleep(60)\nmain()\n"
    )
    got = {}
    for lib, module in LAUNCHERS.items():
        proc = _job(lib, module, "--nproc-per-node", "2", "--max-restarts", "1", "--monitor-interval", "0.1",
                    str(script), timeout=45)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        got[lib] = _summary(proc.stderr)
        error_file = re.search(r"error_file: (/\S+attempt_1/1/error.json)", proc.stderr)
        assert error_file and json.loads(Path(error_file[1]).read_text())["message"]["message"] == "ValueError: boom 1"
    assert got["backprop"] == [
        "============================================================",
        f"{script} FAILED",
        "------------------------------------------------------------",
        "Failures:",
        "[1]:",
        "  time      : T",
        "  host      : " + got["backprop"][6].split(": ", 1)[1],
        "  rank      : 0 (local_rank: 0)",
        "  exitcode  : -15 (pid: P)  (SIGTERM)",
        "  error_file: <N/A>",
        "  traceback : Signal 15 (SIGTERM) received by PID P",
        "------------------------------------------------------------",
        "Root Cause (first observed failure):",
        "[0]:",
        "  time      : T",
        "  host      : " + got["backprop"][6].split(": ", 1)[1],
        "  rank      : 1 (local_rank: 1)",
        "  exitcode  : 1 (pid: P)",
        "  error_file: attempt_1/1/error.json",
        "  ValueError: boom 1",
        "============================================================",
    ]
    assert got["backprop"] == got.get("torch", got["backprop"])


def test_max_restarts_restarts_all_workers_and_a_script_resumes_from_its_snapshot(tmp_path: Path) -> None:
    """pytorch/examples' ddp-tutorial-series: a snapshot saved, rank 1 fails on the first attempt; all workers
    start again with TORCHELASTIC_RESTART_COUNT=1 and resume from the snapshot; the job succeeds."""
    script = tmp_path / "resume.py"
    script.write_text(
        HEADER + "out = sys.argv[1]\n"
        "@record\ndef main():\n"
        "    snap = os.path.join(out, 'snapshot')\n"
        "    epoch = int(open(snap).read()) if os.path.exists(snap) else 0\n"
        "    if rank == '0' and restart == '0':\n"
        "        open(snap, 'w').write('3')\n"
        "    most = os.environ['TORCHELASTIC_MAX_RESTARTS']\n"
        "    open(os.path.join(out, f'{rank}_{restart}'), 'w').write(f'{epoch} {most}')\n"
        "    if restart == '0':\n"
        "        if rank == '1':\n"
        "            while not os.path.exists(snap): time.sleep(0.05)\n"
        "            raise RuntimeError('lost a worker')\n"
        "        time.sleep(60)\n"
        "main()\n"
    )  # fmt: skip
    wrote = {}
    for lib, module in LAUNCHERS.items():
        out = tmp_path / lib
        out.mkdir()
        proc = _job(lib, module, "--nproc-per-node", "2", "--max-restarts", "2", str(script), str(out), timeout=45)
        assert proc.returncode == 0, proc.stderr
        assert "RuntimeError: lost a worker" in proc.stderr and "ChildFailedError" not in proc.stderr
        wrote[lib] = {p.name: p.read_text() for p in sorted(out.iterdir())}
    assert wrote["backprop"] == {"0_0": "0 2", "1_0": "0 2", "0_1": "3 2", "1_1": "3 2", "snapshot": "3"} or wrote[
        "backprop"
    ] == {"0_0": "0 2", "1_0": "3 2", "0_1": "3 2", "1_1": "3 2", "snapshot": "3"}
    assert wrote["backprop"].keys() == wrote.get("torch", wrote["backprop"]).keys()
    assert {k: v for k, v in wrote["backprop"].items() if k.endswith("_1")} == {"0_1": "3 2", "1_1": "3 2"}
    if HAVE_TORCH:
        assert {k: v for k, v in wrote["torch"].items() if k.endswith("_1")} == {"0_1": "3 2", "1_1": "3 2"}
    bad = _job("backprop", "backprop.run", "--max-restarts", "-1", str(script), str(tmp_path))
    assert bad.returncode != 0 and "--max-restarts >= 0" in bad.stderr


def test_distributed_run_is_the_launcher_and_launch_passes_local_rank(tmp_path: Path) -> None:
    """``python -m backprop.distributed.run`` is ``backprop.run`` (torch.distributed.run is torchrun);
    ``backprop.distributed.launch`` passes ``--local-rank=N`` unless ``--use-env``, with torch's FutureWarning."""
    script = tmp_path / "argv.py"
    script.write_text(  # (a single write per rank: two ranks printing at once can splice their lines)
        "import os, sys\nsys.stdout.write(' '.join([os.environ['LOCAL_RANK'], *sys.argv[1:]]) + '\\n')\n"
    )
    alias = _job("backprop", "backprop.distributed.run", "--nproc-per-node", "2", str(script), "a")
    assert alias.returncode == 0 and sorted(alias.stdout.splitlines()) == ["0 a", "1 a"], alias.stderr
    for lib in ["backprop", *(["torch"] if HAVE_TORCH else [])]:
        launch = f"{lib}.distributed.launch"
        old = _job(lib, launch, "--nproc-per-node", "2", str(script), "a")
        assert old.returncode == 0 and sorted(old.stdout.splitlines()) == ["0 --local-rank=0 a", "1 --local-rank=1 a"]
        assert "FutureWarning: The module torch.distributed.launch is deprecated" in old.stderr
        env = _job(lib, launch, "--use_env", "--nproc-per-node", "1", str(script), "a")
        assert env.returncode == 0 and env.stdout == "0 a\n", env.stderr
        bad = _job(lib, launch, "--no-python", "--nproc-per-node", "1", "echo")
        assert bad.returncode != 0
        assert "When using the '--no-python' flag, you must also set the '--use-env' flag." in bad.stderr
