"""Data-parallel step time: ``mpiexec -n N python -m bench.ddp`` (MPI), or ``python -m backprop.run
--nproc-per-node N -m bench.ddp`` (the gloo backend over TCP); N=1 or no launcher: one process.

The LM workload of ``bench.specs`` (FeedForwardLM, SGD, global batch B split among the ranks) wrapped
in DistributedDataParallel. Rank 0 prints one JSON line: the median step time, the part of it spent
in the gradient reduction (which includes waiting for the slowest rank), and a bare all-reduce of
the model's gradient size after a barrier (the communication alone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import backprop as bp
import backprop.nn.functional as F
from backprop import distributed as dist
from backprop.lm.model import FeedForwardLM
from backprop.nn.parallel import DistributedDataParallel
from bench.specs import CONTEXT, LM_SIZES, LR, lm_data


def main() -> None:
    """Time ``--steps`` training steps of the ``--size`` LM on every rank; rank 0 prints the numbers."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="medium", choices=sorted(LM_SIZES))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--bucket-mb", type=float, default=None)
    ap.add_argument("--deterministic", action="store_true")
    args = ap.parse_args()
    dist.init_process_group()  # (mpi under mpiexec, gloo under python -m backprop.run / torchrun)
    rank, world = dist.get_rank(), dist.get_world_size()
    v, d, h, b = LM_SIZES[args.size]
    bp.manual_seed(0)
    model = DistributedDataParallel(
        FeedForwardLM(v, CONTEXT, d, h), bucket_cap_mb=args.bucket_mb, deterministic=args.deterministic
    )
    opt = bp.optim.SGD(model.parameters(), lr=LR)
    cs, ts = lm_data(v, b)
    part = dist.local_slice(b)
    ctx, tgt = bp.tensor(cs[part]), bp.tensor(ts[part])
    times, reduce_times = [], []
    for i in range(args.warmup + args.steps):
        dist.barrier()
        before = model.stats["seconds"]
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(ctx), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            reduce_times.append(model.stats["seconds"] - before)
    n_params = sum(p.numel() for p in model.parameters())
    flat = bp.zeros(n_params)
    bare = []
    for _ in range(10):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(flat)
        bare.append(time.perf_counter() - t0)
    if rank == 0:
        step = statistics.median(times)
        print(
            json.dumps(
                {
                    "world_size": world,
                    "size": args.size,
                    "VdHB": [v, d, h, b],
                    "params": n_params,
                    "buckets": len(model._buckets),
                    "step_ms": round(1e3 * step, 2),
                    "step_ms_p10_p90": [round(1e3 * float(q), 2) for q in np.percentile(times, [10, 90])],
                    "reduce_in_backward_ms": round(1e3 * statistics.median(reduce_times), 2),
                    "bare_allreduce_ms": round(1e3 * statistics.median(bare), 2),
                    "windows_per_s": round(b / step),
                }
            )
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
