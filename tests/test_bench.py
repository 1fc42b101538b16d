"""The benchmark suite: --quick mode runs end to end, the floors compute exactly our library's
training step, and the torch worker runs in its own process (numbers are not asserted: speed goals
are judged by ``python -m bench``, never in timed unit tests)."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from bench import floor, specs, workloads
from bench.runner import goals

ROOT = Path(__file__).resolve().parent.parent
HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_bench_quick_runs_and_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    cmd = [sys.executable, "-m", "bench", "--quick", "--no-torch", "--reps", "2", "--threads", "1"]
    cmd += ["--device", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    workloads_run = {(r["workload"], r["size"]) for r in data["results"]}
    assert {("mlp", "small"), ("lm", "small"), ("chain", "8x8"), ("matmul", "512^3")} <= workloads_run
    for r in data["results"]:
        for impl in ("ours", "floor", "floor_naive"):
            assert r[impl]["median_s"] > 0 and r[impl]["peak_bytes"] > 0
        assert r["ours_over_floor"] > 0 and r["ours_over_floor_naive"] > 0 and "torch" not in r
        if r["workload"] != "matmul":  # bp.compile's row: every training step and the chain
            assert r["compiled"]["median_s"] > 0 and r["compiled_over_floor"] > 0 and r["compiled_over_ours"] > 0
    lm = next(r for r in data["results"] if r["workload"] == "lm")
    assert lm["memory_ours_over_floor"] > 0
    assert data["machine"]["threads"] == 1 and data["machine"]["blas"]["name"]
    assert "ours" in proc.stdout and "floor (naive)" in proc.stdout and "## goals" in proc.stdout
    assert {g["goal"].split(":")[0] for g in data["goals"]} >= {"lm small", "mlp small", "chain"}
    assert any("bp.compile" in g["goal"] for g in data["goals"])
    assert all(isinstance(g["met"], bool) and g["value"] > 0 for g in data["goals"])
    # the chart is optional (matplotlib is the `plot` extra): drawn exactly when matplotlib imports
    assert out.with_suffix(".png").exists() == (importlib.util.find_spec("matplotlib") is not None)


def test_goals_summary_judges_each_goal() -> None:
    rows = [
        {"device": "cpu", "workload": "lm", "size": "small", "ours_over_floor": 1.10, "memory_ours_over_floor": 1.4},
        {"device": "cpu", "workload": "lm", "size": "medium", "ours_over_floor": 1.10},
        {"device": "cpu", "workload": "chain", "size": "8x8", "ours_over_torch": 0.69},
        {"device": "cuda", "workload": "lm", "size": "large", "ours_over_floor": 9.0},
    ]
    got = {g["goal"]: g["met"] for g in goals(rows)}
    assert got == {
        "lm small: step ours/floor <= 1.15x": True,
        "lm medium: step ours/floor <= 1.05x": False,
        "chain: time per op ours/torch <= 0.70x": True,
        "lm small: peak memory ours/floor <= 1.30x": False,
    }


def _ours_step(model: bp.nn.Module, x: bp.Tensor, y: bp.Tensor) -> float:
    opt = bp.optim.SGD(model.parameters(), lr=specs.LR)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.item())


def test_lm_floors_compute_our_training_step() -> None:
    """Same start, three SGD steps: the floor, the naive floor and our FeedForwardLM agree (float64).

    The tiny vocabulary makes ids repeat within a batch (the embedding scatter must accumulate)."""
    v, d, h, b = 30, 5, 7, 16
    bp.manual_seed(0)
    model = workloads.FeedForwardLM(v, specs.CONTEXT, d, h).double()
    names = {
        "E": "embedding.weight",
        "W": "hidden.weight",
        "b": "hidden.bias",
        "U": "output.weight",
        "c": "output.bias",
    }
    params = dict(model.named_parameters())
    fast = {k: params[n].detach().numpy().copy() for k, n in names.items()}
    naive = copy.deepcopy(fast)
    f = floor.LMFloor(np, fast, b, specs.CONTEXT, specs.LR)
    for seed in range(3):  # a different batch each step
        cs, ts = specs.lm_data(v, b, seed=seed)
        ours = _ours_step(model, bp.tensor(cs), bp.tensor(ts))
        assert float(f.step(cs, ts)) == pytest.approx(ours, rel=1e-12)
        assert float(floor.lm_step(np, naive, cs, ts, specs.LR, np.add.at)) == pytest.approx(ours, rel=1e-12)
    for k, n in names.items():
        np.testing.assert_allclose(fast[k], params[n].detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(naive[k], params[n].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_mlp_floors_compute_our_training_step() -> None:
    width, batch = 12, 9
    bp.manual_seed(0)
    model = workloads.mlp_model(width).double()
    linears = [m for m in model if isinstance(m, bp.nn.Linear)]
    fast = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linears]
    naive = copy.deepcopy(fast)
    f = floor.MLPFloor(np, fast, batch, specs.LR)
    for seed in range(3):
        xs, ys = specs.mlp_data(width, batch, seed=seed)
        xs = xs.astype(np.float64)
        ours = _ours_step(model, bp.tensor(xs), bp.tensor(ys))
        assert float(f.step(xs, ys)) == pytest.approx(ours, rel=1e-12)
        assert float(floor.mlp_step(np, naive, xs, ys, specs.LR)) == pytest.approx(ours, rel=1e-12)
    for m, (w, b), (wn, bn) in zip(linears, fast, naive):
        np.testing.assert_allclose(w, m.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b, m.bias.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(wn, m.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bn, m.bias.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_chain_floors_compute_our_gradient() -> None:
    xs = np.random.default_rng(0).standard_normal((8, 8))
    x = bp.tensor(xs, requires_grad=True)
    y = x
    for i in range(specs.CHAIN_OPS):
        y = y * 1.01 if i % 2 else y + 0.5
    y.sum().backward()
    np.testing.assert_allclose(floor.ChainFloor(np, xs, specs.CHAIN_OPS).step(), x.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(floor.chain(np, xs, specs.CHAIN_OPS), x.grad.numpy(), rtol=1e-12)


def test_deep_chain_runs_and_is_judged_against_torch(tmp_path: Path) -> None:
    """``--only deepchain`` in quick mode runs the 20k-op chain (1M in the full bench) with a
    finite gradient (its factor < 1 keeps a million steps finite); the goal row compares with torch."""
    n = specs.DEEP_CHAIN_OPS["20k"]
    g = floor.ChainFloor(np, np.ones((2, 2)), n, specs.chain_mul(n)).step()
    assert np.isfinite(g).all() and specs.chain_mul(specs.CHAIN_OPS) == 1.01
    out = tmp_path / "deep.json"
    cmd = [sys.executable, "-m", "bench", "--quick", "--no-torch", "--only", "deepchain", "--threads", "1"]
    cmd += ["--device", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "RuntimeWarning" not in proc.stderr
    (r,) = json.loads(out.read_text())["results"]
    assert (r["workload"], r["size"], r["ours"]["reps"]) == ("deepchain", "20k", 3)
    assert r["ours"]["us_per_op"] > 0 and r["floor"]["us_per_op"] > 0
    res = {**r, "device": "cpu", "ours_over_torch": 1.5}
    assert [g["met"] for g in goals([res]) if g["goal"].startswith("deepchain")] == [True]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("workload,size", [("lm", "small"), ("chain", "8x8"), ("deepchain", "20k")])
def test_torch_worker_runs_in_its_own_process(workload: str, size: str) -> None:
    cmd = [sys.executable, "-m", "bench.torch_worker", workload, size, "--threads", "1", "--reps", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out["times"]) == 2 and all(t > 0 for t in out["times"]) and out["threads"] == 1


def test_torch_worker_is_free_of_our_library() -> None:
    """The worker's module imports neither backprop nor torch at import time (torch loads in main)."""
    code = "import sys, bench.torch_worker; print('backprop' in sys.modules, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["False", "False"], proc.stderr[-2000:]


@pytest.mark.parametrize("impl", ["compiled", "floor_naive"])
def test_our_worker_times_one_implementation_in_its_own_process(impl: str) -> None:
    cmd = [sys.executable, "-m", "bench.worker", impl, "mlp", "small", "--threads", "1", "--reps", "3", "--quick"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    times = json.loads(proc.stdout)["times"]
    assert len(times) == 3 and all(t > 0 for t in times)


def test_our_worker_refuses_an_implementation_the_case_lacks() -> None:
    cmd = [sys.executable, "-m", "bench.worker", "compiled", "matmul", "512^3", "--reps", "1", "--quick"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no bench case matmul 512^3 with an implementation 'compiled'" in proc.stderr


def test_full_runs_time_each_implementation_in_its_own_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside --quick, measure() asks a worker process per implementation and round (rotating)."""
    from bench import runner

    calls: list[tuple[str, int]] = []

    def fake_worker(case: dict, impl: str, device: str, threads: int, reps: int, quick: bool) -> list[float]:
        calls.append((impl, reps))
        return [0.002] * reps if impl == "ours" else [0.001] * reps

    monkeypatch.setattr(runner, "worker_times", fake_worker)
    case = next(c for c in runner.cases("cpu", True, {"chain"}))
    res = runner.measure(case, ["ours", "floor"], 6, "cpu", quick=False, threads=1)
    assert [c[0] for c in calls] == ["ours", "floor", "floor", "ours", "ours", "floor"]
    assert res["ours"]["reps"] == res["floor"]["reps"] >= 6 and res["ours_over_floor"] == pytest.approx(2.0)
