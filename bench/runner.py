"""Runs the workloads interleaved, takes medians, prints a table, saves JSON and a chart."""

from __future__ import annotations

import datetime as dt
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import backprop as bp
from backprop.ops._util import release_reusable
from bench import workloads as W

IMPLS = ("ours", "compiled", "floor", "floor_naive")  # in this process; torch runs in bench.torch_worker
LABELS = {"ours": "ours", "compiled": "bp.compile", "floor": "floor", "floor_naive": "floor (naive)", "torch": "torch"}
UNCOMPILED = ("ours", "floor", "floor_naive")  # the bare matmul and the 1M-op chain have no compiled row
MAX_REPS = 300
ROUNDS = 3  # ours/floors in this process and torch in its own, alternately, this many times
TORCH_TIMEOUT_S = 600


def _torch_available(args: Any) -> bool:
    """Whether torch is installed (found without importing it: this process never loads torch)."""
    return not args.no_torch and importlib.util.find_spec("torch") is not None


def cases(device: str, quick: bool, only: set[str] | None) -> list[dict[str, Any]]:
    """(workload, size) rows with a factory per in-process implementation and the FLOPs of one step."""
    out = []

    def want(name: str) -> bool:
        return only is None or name in only

    mlp = {"small": W.MLP_SIZES["small"]} if quick else W.MLP_SIZES
    lm = {"small": W.LM_SIZES["small"]} if quick else W.LM_SIZES
    if want("mlp"):
        for label, (w, b) in mlp.items():
            out.append(
                dict(
                    workload="mlp",
                    size=label,
                    shape=f"width {w}, batch {b}",
                    flops=W.mlp_flops(w, b),
                    make={i: (lambda i=i, w=w, b=b: getattr(W, f"mlp_{i}")(device, w, b)) for i in IMPLS},
                )
            )
    if want("lm"):
        for label, (v, d, h, b) in lm.items():
            out.append(
                dict(
                    workload="lm",
                    size=label,
                    shape=f"V={v} d={d} H={h} B={b} ctx={W.CONTEXT}",
                    flops=W.lm_flops(v, d, h, b),
                    make={i: (lambda i=i, s=(v, d, h, b): getattr(W, f"lm_{i}")(device, *s)) for i in IMPLS},
                )
            )
    if want("chain"):
        out.append(
            dict(
                workload="chain",
                size="8x8",
                shape=f"{W.CHAIN_OPS} elementwise ops, fwd+bwd",
                flops=None,
                make={i: (lambda i=i: getattr(W, f"chain_{i}")(device)) for i in IMPLS},
            )
        )
    if (only is None and not quick) or (only is not None and "deepchain" in only):
        label = "20k" if quick else "1M"  # (--quick runs it only when asked: --only deepchain)
        n_ops = W.DEEP_CHAIN_OPS[label]
        out.append(
            dict(
                workload="deepchain",
                size=label,
                shape=f"{n_ops} elementwise ops, fwd+bwd",
                flops=None,
                n_ops=n_ops,
                reps=3,
                make={i: (lambda i=i, n=n_ops: getattr(W, f"deepchain_{i}")(device, n)) for i in UNCOMPILED},
            )
        )
    if want("matmul"):
        n = 512 if quick else 2048
        out.append(
            dict(
                workload="matmul",
                size=f"{n}^3",
                shape=f"{n}x{n} @ {n}x{n} float32",
                flops=2.0 * n**3,
                make={i: (lambda i=i, n=n: getattr(W, f"matmul_{i}")(device, n)) for i in UNCOMPILED},
            )
        )
    return out


def _peak_bytes(make: Callable[[], Callable[[], None]]) -> int:
    """Peak traced host memory of an implementation: what it keeps (parameters, gradients, buffers,
    data) plus two steps' temporaries. NumPy reports its buffers to tracemalloc; construction-time
    temporaries are left out (the peak is reset once the step is built and has run twice), and so are one-time costs
    (lazy imports, caches): a throwaway instance takes a step first."""
    make()()
    release_reusable()  # (ops' kept work buffers are working memory: the traced steps must allocate them)
    tracemalloc.start()
    try:
        step = make()
        step()  # (bp.compile records its first two calls: the steady state is what is compared)
        step()
        tracemalloc.reset_peak()
        step()
        step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del step
    return peak


def torch_times(case: dict[str, Any], device: str, threads: int, reps: int) -> list[float]:
    """``reps`` step times of torch, measured by ``python -m bench.torch_worker`` in its own process.

    The worker gets our environment (the same thread-count variables) and torch's default settings.
    """
    cmd = [sys.executable, "-m", "bench.torch_worker", case["workload"], case["size"]]
    cmd += ["--device", device, "--threads", str(threads), "--reps", str(reps)]
    return _worker(cmd)


def worker_times(case: dict[str, Any], impl: str, device: str, threads: int, reps: int, quick: bool) -> list[float]:
    """``reps`` step times of our implementation ``impl``, alone in its own process (``bench.worker``)."""
    cmd = [sys.executable, "-m", "bench.worker", impl, case["workload"], case["size"]]
    cmd += ["--device", device, "--threads", str(threads), "--reps", str(reps)] + (["--quick"] if quick else [])
    return _worker(cmd)


def _worker(cmd: list[str]) -> list[float]:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=TORCH_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker failed ({' '.join(cmd[2:])}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["times"]


def measure(
    case: dict[str, Any],
    impls: list[str],
    reps: int,
    device: str,
    quick: bool = False,
    torch_threads: int | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Medians of ``reps`` step times of each implementation, and of torch when ``torch_threads`` is
    given, over ``ROUNDS`` rounds in a rotating order.

    Full runs time every implementation alone in its own process (``bench.worker``, see there why),
    each round a new one, as torch in ``bench.torch_worker``. ``quick`` runs (a smoke test) and the
    deep chain (three steps of seconds each) interleave our implementations step by step in this
    process instead, one round.
    """
    reps = case.get("reps", reps)
    impls = [i for i in impls if i in case["make"]]
    in_process = quick or "reps" in case
    slowest = 0.0
    steps: dict[str, Callable[[], None]] = {}
    for i in impls:  # one build of each here: its warm-up time sizes the runs (and in-process: its steps)
        s = case["make"][i]()
        slowest = max(slowest, _warm_up(s))
        if in_process:
            steps[i] = s
        del s
    # fast steps are noisy on a shared VM: give each implementation about a second of samples
    if not quick and "reps" not in case:
        reps = min(MAX_REPS, max(reps, int(1.0 / max(slowest, 1e-6))))
    rounds = 1 if quick or reps < ROUNDS else ROUNDS
    per_round = [reps // rounds + (r < reps % rounds) for r in range(rounds)]
    times: dict[str, list[float]] = {i: [] for i in impls}
    if torch_threads is not None:
        times["torch"] = []
    everyone = impls + (["torch"] if torch_threads is not None else [])
    done = 0
    for r, n in enumerate(per_round):
        if in_process:
            for k in range(done, done + n):  # interleaved, rotating which implementation goes first
                for i in impls[k % len(impls) :] + impls[: k % len(impls)]:
                    t0 = time.perf_counter()
                    steps[i]()
                    times[i].append(time.perf_counter() - t0)
            if torch_threads is not None:
                times["torch"] += torch_times(case, device, torch_threads, n)
        else:
            for i in everyone[r % len(everyone) :] + everyone[: r % len(everyone)]:  # a rotating order
                if i == "torch":
                    times[i] += torch_times(case, device, torch_threads or threads, n)
                else:
                    times[i] += worker_times(case, i, device, threads, n, quick)
        done += n
    steps.clear()
    res: dict[str, Any] = {k: case[k] for k in ("workload", "size", "shape", "flops")}
    for i, ts in times.items():
        med = statistics.median(ts)
        res[i] = {"median_s": med, "min_s": min(ts), "reps": len(ts)}
        if case["flops"]:
            res[i]["gflops"] = case["flops"] / med / 1e9
        if case["workload"] in ("chain", "deepchain"):
            res[i]["us_per_op"] = med / (case.get("n_ops", W.CHAIN_OPS) + 1) * 1e6
    if device == "cpu" and case["workload"] != "deepchain":  # (tracemalloc over 1M nodes takes minutes)
        gc.collect()
        for i in impls:
            res[i]["peak_bytes"] = _peak_bytes(case["make"][i])
    for mine in ("ours", "compiled"):
        if mine not in res:
            continue
        for other in ("floor", "floor_naive", "torch") + (("ours",) if mine == "compiled" else ()):
            if other in res:
                res[f"{mine}_over_{other}"] = res[mine]["median_s"] / res[other]["median_s"]
        for other in ("floor", "floor_naive"):  # (the chain's floor keeps no graph: no memory ratio there)
            if "chain" not in case["workload"] and res.get(other, {}).get("peak_bytes") and "peak_bytes" in res[mine]:
                res[f"memory_{mine}_over_{other}"] = res[mine]["peak_bytes"] / res[other]["peak_bytes"]
    return res


def _warm_up(step: Callable[[], None]) -> float:
    """Two untimed steps (caches, allocator, BLAS threads; bp.compile's two records), then the time
    of a third."""
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ goals
def goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CPU goals, each with its measured value and whether it is met (absent rows are skipped).

    Step time against the floor: <= 1.05x for the LM at medium and large, <= 1.15x at small; the
    op chain's time per op <= 0.70x of torch's (torch in its own process), and the 1M-op chain's
    within 2x of torch's; under ``bp.compile``: the chain at <= 2.5 us/op, the small LM and MLP steps
    at <= 1.0x of the floor, the larger ones no slower than eager; peak memory <= 1.3x of
    the floor's for the training steps (and the bare matmul).
    """
    out = []

    def add(goal: str, value: float | None, limit: float) -> None:
        if value is not None:
            out.append({"goal": goal, "value": value, "limit": limit, "met": value <= limit})

    for r in results:
        if r.get("device") != "cpu":
            continue
        w, s = r["workload"], r["size"]
        if w == "lm":
            limit = 1.15 if s == "small" else 1.05
            add(f"lm {s}: step ours/floor <= {limit:.2f}x", r.get("ours_over_floor"), limit)
        if w in ("lm", "mlp") and s == "small":
            add(f"{w} {s}: bp.compile/floor <= 1.00x", r.get("compiled_over_floor"), 1.0)
        elif w in ("lm", "mlp"):
            add(f"{w} {s}: bp.compile/eager <= 1.00x", r.get("compiled_over_ours"), 1.0)
        if w == "chain":
            add("chain: time per op ours/torch <= 0.70x", r.get("ours_over_torch"), 0.70)
            us = r.get("compiled", {}).get("us_per_op")
            add("chain: bp.compile time per op <= 2.5 us", us, 2.5)
        if w == "deepchain":
            add(f"deepchain {s}: fwd+bwd ours/torch <= 2.00x", r.get("ours_over_torch"), 2.0)
    for r in results:
        if r.get("device") == "cpu":
            add(f"{r['workload']} {r['size']}: peak memory ours/floor <= 1.30x", r.get("memory_ours_over_floor"), 1.30)
            mc, mo = r.get("memory_compiled_over_floor"), r.get("memory_ours_over_floor")
            if mc and mo:
                add(f"{r['workload']} {r['size']}: peak memory bp.compile/eager <= 1.00x", mc / mo, 1.0)
    return out


def _print_goals(gs: list[dict[str, Any]]) -> None:
    if not gs:
        return
    print("\n## goals (cpu; against the floor, and torch in its own process)")
    for g in gs:
        unit = "us" if g["goal"].endswith(" us") else "x"
        print(f"{g['goal']:<52} {g['value']:>6.2f}{unit:<2} {'met' if g['met'] else 'NOT MET'}")
    print(f"{sum(g['met'] for g in gs)} of {len(gs)} met")


def _blas() -> dict[str, Any]:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return {"name": blas.get("name"), "version": blas.get("version")}
    except Exception as exc:  # older numpy without mode="dicts"
        return {"name": "unknown", "error": repr(exc)}


def machine_info(args: Any, torch_ok: bool) -> dict[str, Any]:
    """Machine, library versions and settings recorded with the results."""
    info = {
        "machine": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas(),
        "backprop": bp.__version__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if torch_ok:  # torch runs in bench.torch_worker processes, with torch.set_num_threads(threads)
        from importlib.metadata import version

        info["torch"] = version("torch")
        info["torch_threads"] = args.threads
        info["torch_process"] = "own (python -m bench.torch_worker), default settings"
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    if bp.cuda.is_available():
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["cupy"] = cupy.__version__
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    return info


def _fmt(res: dict[str, Any], impls: list[str]) -> str:
    cells = [f"{res['workload']:<7}{res['size']:<8}"]
    for i in impls:
        if i not in res:
            cells.append(f"{'-':>14}")
            continue
        r = res[i]
        val = f"{r['us_per_op']:.2f}us/op" if "us_per_op" in r else f"{r['median_s'] * 1e3:.2f}ms"
        cells.append(f"{val:>14}")
    for key in ("ours_over_floor", "ours_over_floor_naive", "ours_over_torch", "compiled_over_floor"):
        cells.append(f"{res[key]:>8.2f}x" if key in res else f"{'-':>9}")
    g = res["ours"].get("gflops")
    cells.append(f"{g:>8.1f}" if g else f"{'-':>8}")
    m = res.get("memory_ours_over_floor")
    cells.append(f"{m:>8.2f}x" if m else f"{'-':>9}")
    return " ".join(cells)


def run(args: Any) -> int:
    """Run every case on every device, print the table and the goals, save JSON and a chart."""
    torch_ok = _torch_available(args)
    impls = list(IMPLS)
    shown = impls + (["torch"] if torch_ok else [])
    devices = ["cpu"] if args.device == "cpu" else (["cuda"] if args.device == "cuda" else ["cpu", "cuda"])
    if "cuda" in devices and not bp.cuda.is_available():
        print(f"cuda: skipped ({bp.cuda.unavailable_reason()})")
        devices = [d for d in devices if d != "cuda"]
    only = set(args.only.split(",")) if args.only else None
    reps = args.reps or (5 if args.quick else 30)
    info = machine_info(args, torch_ok)
    print(
        f"# {info['platform']}, {info['cpu_count']} CPUs, threads={args.threads}, numpy {info['numpy']} "
        f"({info['blas'].get('name')} {info['blas'].get('version', '')}), torch {info.get('torch', 'absent')}"
        + (" (own process, default settings)" if torch_ok else "")
    )
    results = []
    for device in devices:
        header = " ".join(
            [
                f"{'work':<7}{'size':<8}",
                *[f"{LABELS[i]:>14}" for i in shown],
                f"{'/floor':>9}",
                f"{'/naive':>9}",
                f"{'/torch':>9}",
                f"{'c/floor':>9}",
                f"{'GFLOP/s':>8}",
                f"{'mem/fl':>9}",
            ]
        )
        print(
            f"\n## device {device} (medians of at least {reps} repetitions, more for fast steps; "
            + ("interleaved in this process" if args.quick else "each implementation in its own processes")
            + "; "
            f"/naive = ours / floor (naive); c/floor = bp.compile / floor)\n{header}"
        )
        for case in cases(device, args.quick, only):
            res = measure(case, impls, reps, device, args.quick, args.threads if torch_ok else None, args.threads)
            res["device"] = device
            results.append(res)
            print(_fmt(res, shown), flush=True)
    gs = goals(results)
    _print_goals(gs)
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent
        / "results"
        / (f"{info['machine'] or 'machine'}-{dt.date.today().isoformat()}{'-quick' if args.quick else ''}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "results": results, "goals": gs}, indent=1))
    _chart(results, out.with_suffix(".png"))
    print(f"\nsaved {out} and {out.with_suffix('.png')}")
    return 0


def _chart(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    labels = [f"{r['device']}:{r['workload']}:{r['size']}" for r in results]
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(labels)), 4))
    x = np.arange(len(labels))
    bars = (
        ("ours_over_floor", "ours / floor"),
        ("ours_over_floor_naive", "ours / floor (naive)"),
        ("ours_over_torch", "ours / torch"),
    )
    for k, (key, name) in enumerate(bars):
        vals = [r.get(key, np.nan) for r in results]
        ax.bar(x + (k - 1) * 0.27, vals, 0.27, label=name)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("time ratio (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
