"""Runs the workloads interleaved, takes medians, prints a table, saves JSON and a chart."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import backprop as bp
from bench import workloads as W

IMPLS = ("ours", "floor", "torch")
MAX_REPS = 300


def _torch_available(args: Any) -> bool:
    if args.no_torch:
        return False
    try:
        import torch
    except ImportError:
        return False
    torch.set_num_threads(args.threads)
    return True


def cases(device: str, quick: bool, only: set[str] | None) -> list[dict[str, Any]]:
    """(workload, size) rows with a factory per implementation and the FLOPs of one step."""
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
    if want("matmul"):
        n = 512 if quick else 2048
        out.append(
            dict(
                workload="matmul",
                size=f"{n}^3",
                shape=f"{n}x{n} @ {n}x{n} float32",
                flops=2.0 * n**3,
                make={i: (lambda i=i, n=n: getattr(W, f"matmul_{i}")(device, n)) for i in IMPLS},
            )
        )
    return out


def _peak_bytes(step: Callable[[], None]) -> int | None:
    """Peak traced host allocation during one step (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def measure(case: dict[str, Any], impls: list[str], reps: int, device: str, quick: bool = False) -> dict[str, Any]:
    steps = {i: case["make"][i]() for i in impls}
    slowest = 0.0
    for s in steps.values():  # warm-up: caches, allocator pools, BLAS threads
        for _ in range(2):
            s()
        t0 = time.perf_counter()
        s()
        slowest = max(slowest, time.perf_counter() - t0)
    # fast steps are noisy on a shared VM: give each implementation about a second of samples
    if not quick:
        reps = min(MAX_REPS, max(reps, int(1.0 / max(slowest, 1e-6))))
    times: dict[str, list[float]] = {i: [] for i in impls}
    for r in range(reps):  # interleaved, rotating which implementation goes first
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        for i in order:
            t0 = time.perf_counter()
            steps[i]()
            times[i].append(time.perf_counter() - t0)
    res: dict[str, Any] = {k: case[k] for k in ("workload", "size", "shape", "flops")}
    for i in impls:
        med = statistics.median(times[i])
        res[i] = {"median_s": med, "min_s": min(times[i]), "reps": reps}
        if case["flops"]:
            res[i]["gflops"] = case["flops"] / med / 1e9
        if case["workload"] == "chain":
            res[i]["us_per_op"] = med / (W.CHAIN_OPS + 1) * 1e6
        if device == "cpu" and i != "torch":
            res[i]["peak_bytes"] = _peak_bytes(steps[i])
    for other in ("floor", "torch"):
        if other in res:
            res[f"ours_over_{other}"] = res["ours"]["median_s"] / res[other]["median_s"]
    if "ours" in res and "peak_bytes" in res["ours"] and res.get("floor", {}).get("peak_bytes"):
        res["memory_ours_over_floor"] = res["ours"]["peak_bytes"] / res["floor"]["peak_bytes"]
    return res


def _blas() -> dict[str, Any]:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return {"name": blas.get("name"), "version": blas.get("version")}
    except Exception as exc:  # older numpy without mode="dicts"
        return {"name": "unknown", "error": repr(exc)}


def machine_info(args: Any, torch_ok: bool) -> dict[str, Any]:
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
    if torch_ok:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
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
        r = res[i]
        val = f"{r['us_per_op']:.2f}us/op" if "us_per_op" in r else f"{r['median_s'] * 1e3:.2f}ms"
        cells.append(f"{val:>12}")
    for other in ("floor", "torch"):
        key = f"ours_over_{other}"
        cells.append(f"{res[key]:>8.2f}x" if key in res else f"{'-':>9}")
    g = res["ours"].get("gflops")
    cells.append(f"{g:>8.1f}" if g else f"{'-':>8}")
    m = res.get("memory_ours_over_floor")
    cells.append(f"{m:>8.2f}x" if m else f"{'-':>9}")
    return " ".join(cells)


def run(args: Any) -> int:
    torch_ok = _torch_available(args)
    impls = ["ours", "floor"] + (["torch"] if torch_ok else [])
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
    )
    results = []
    for device in devices:
        header = " ".join(
            [
                f"{'work':<7}{'size':<8}",
                *[f"{i:>12}" for i in impls],
                f"{'/floor':>9}",
                f"{'/torch':>9}",
                f"{'GFLOP/s':>8}",
                f"{'mem/fl':>9}",
            ]
        )
        print(
            f"\n## device {device} (medians of at least {reps} interleaved repetitions, more for fast steps)\n{header}"
        )
        for case in cases(device, args.quick, only):
            res = measure(case, impls, reps, device, args.quick)
            res["device"] = device
            results.append(res)
            print(_fmt(res, impls), flush=True)
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent
        / "results"
        / (f"{info['machine'] or 'machine'}-{dt.date.today().isoformat()}{'-quick' if args.quick else ''}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "results": results}, indent=1))
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
    for k, (key, name) in enumerate((("ours_over_floor", "ours / floor"), ("ours_over_torch", "ours / torch"))):
        vals = [r.get(key, np.nan) for r in results]
        ax.bar(x + (k - 0.5) * 0.4, vals, 0.4, label=name)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("time ratio (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
