"""Our side of the benchmark, one implementation per process, as ``bench.torch_worker`` is torch's.

``python -m bench.worker IMPL WORKLOAD SIZE [--device cpu|cuda] [--threads N] [--reps R] [--quick]``
builds one implementation (``ours``, ``compiled``, ``floor``, ``floor_naive``) of one bench case,
warms it up (three steps: caches, allocator, BLAS threads, ``bp.compile``'s two records), times
``R`` steps and prints one JSON object: ``{"times": [...]}``.

Why a process each: implementations that share a process share glibc's heap. One that allocates
and frees large temporaries (the naive floor) moves the heap's top and glibc's dynamic mmap and
trim thresholds, and the next one to run may then fault its own arrays in again at every step: seen
here, the compiled MLP at width 1024 took 0 page faults per step alone and 627-1251 (+2 ms) when its
steps alternated with the naive floor's. A training job runs one model in its process, so each
implementation is timed alone in its own, as torch is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench.timing import time_steps


def main(argv: list[str] | None = None) -> int:
    """Time ``--reps`` steps of one implementation after a warm-up and print them as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("impl", choices=["ours", "compiled", "floor", "floor_naive"])
    p.add_argument("workload", choices=["mlp", "lm", "chain", "deepchain", "matmul"])
    p.add_argument("size")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="the --quick bench's cases (their sizes)")
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # (before NumPy loads its BLAS)
    from bench.runner import cases

    matching = [
        c for c in cases(args.device, args.quick, {args.workload}) if c["size"] == args.size and args.impl in c["make"]
    ]
    if not matching:
        p.error(f"no bench case {args.workload} {args.size} with an implementation {args.impl!r}")
    print(json.dumps({"times": time_steps(matching[0]["make"][args.impl](), args.reps)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
