"""``python -m bench [--quick] [--threads N] [--device cpu|cuda|all] [--only mlp,lm,chain,deepchain,matmul]``.

Thread counts must be pinned before NumPy loads its BLAS, so this module parses its arguments and
sets the environment before importing anything numeric.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, pin every library's thread count, run the bench."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, few repetitions (CI smoke, < 1 min)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every library")
    p.add_argument("--device", default="all", choices=["all", "cpu", "cuda"])
    p.add_argument("--reps", type=int, default=None, help="timed repetitions per implementation")
    p.add_argument("--only", default=None, help="comma-separated workloads: mlp,lm,chain,deepchain,matmul")
    p.add_argument("--out", default=None, help="results JSON path (default bench/results/<machine>-<date>.json)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    # torch is timed in its own processes (bench.torch_worker, inheriting these thread counts), so
    # no OpenMP wait policy is set: each library runs with its defaults, as its users run it.
    from bench.runner import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
