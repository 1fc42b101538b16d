"""The benchmark suite's --quick mode runs end to end (its numbers are not asserted: speed goals
are met in bench/, never in timed unit tests)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_runs_and_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--no-torch",
        "--reps",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    workloads = {(r["workload"], r["size"]) for r in data["results"]}
    assert {("mlp", "small"), ("lm", "small"), ("chain", "8x8"), ("matmul", "512^3")} <= workloads
    for r in data["results"]:
        assert r["ours"]["median_s"] > 0 and r["floor"]["median_s"] > 0 and r["ours_over_floor"] > 0
    assert data["machine"]["threads"] == 1 and data["machine"]["blas"]["name"]
    assert "ours" in proc.stdout
    # the chart is optional (matplotlib is the `plot` extra): drawn exactly when matplotlib imports
    assert out.with_suffix(".png").exists() == (importlib.util.find_spec("matplotlib") is not None)
