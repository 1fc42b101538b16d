"""Scenarios that ``tests/test_distributed_nn.py`` runs on two ranks: ``backprop.distributed.nn.functional``'s
collectives forward and backward (rank 0 writes every rank's values and gradients to OUT/<name>.json).

Usage as the other workers (``distributed_worker.run_scenarios``): ``mpiexec -n 2 python
tests/distributed_nn_worker.py OUT functional``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.distributed.nn.functional as dfn  # noqa: E402
from backprop import distributed as dist  # noqa: E402

OUT = Path(".")


def inputs(r: int) -> np.ndarray:
    """Rank r's input x_r (the test's closed forms use the same)."""
    return (np.arange(1.0, 4.0) * (r + 1) + 0.5 * r).astype(np.float64)


def weights(r: int) -> np.ndarray:
    """Rank r's loss is sum(weights(r) * output): its gradient with respect to the output."""
    return np.array([1.0, 10.0, 100.0]) * (r + 1) + r


def _calls(r: int, w: int) -> dict[str, Any]:
    """name -> f(x) giving the outputs (a tensor or tuple) and the weight of output j (loss: sum of weight * out)."""
    z = bp.zeros
    return {
        "all_reduce": lambda x: (dfn.all_reduce(x), [1.0]),
        "all_reduce_max": lambda x: (dfn.all_reduce(x, op=dist.ReduceOp.MAX), [1.0]),
        "broadcast": lambda x: (dfn.broadcast(x, src=1), [1.0]),
        "reduce": lambda x: (dfn.reduce(x, dst=1), [1.0]),
        "all_gather": lambda x: (dfn.all_gather(x), [j + 1.0 for j in range(w)]),
        "gather": lambda x: (dfn.gather(x, dst=0), [j + 1.0 for j in range(w)]),
        "scatter": lambda x: (dfn.scatter([x * (j + 1) if r == 0 else x * 1 for j in range(w)], src=0), [1.0]),
        "reduce_scatter": lambda x: (
            dfn.reduce_scatter(z(3, dtype=bp.float64), [x * (j + 1) for j in range(w)]),
            [1.0],
        ),
        "all_to_all": lambda x: (
            dfn.all_to_all([z(3, dtype=bp.float64) for _ in range(w)], [x * (j + 1) for j in range(w)]),
            [j + 1.0 for j in range(w)],
        ),
        "all_to_all_single": lambda x: (
            dfn.all_to_all_single(z(3, dtype=bp.float64), x, [[1, 2], [2, 1]][r], [[1, 2], [2, 1]][r]),
            [1.0],
        ),
    }


def functional() -> dict[str, Any]:
    """Every collective: this rank's output values and the gradient of its input x_r, all ranks gathered."""
    r, w = dist.get_rank(), dist.get_world_size()
    mine: dict[str, Any] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, f in _calls(r, w).items():
            x = bp.tensor(inputs(r), requires_grad=True)
            out, scale = f(x)
            outs = out if isinstance(out, tuple) else (out,)
            loss = sum((o * bp.tensor(weights(r) * s)).sum() for o, s in zip(outs, scale))
            loss.backward()
            mine[name] = {
                "out": [o.tolist() for o in outs],
                "grad": x.grad.tolist(),
                "tuple": isinstance(out, tuple),
                "grad_fn": type(outs[0].grad_fn).__name__ if outs[0].grad_fn is not None else None,
            }
    mine["warned"] = sorted({str(c.message).split(" is ")[0] for c in caught if c.category is FutureWarning})
    # double backward of all_reduce: d/dx of (d loss / dx) . v where loss = sum(all_reduce(x)^2) / 2
    x = bp.tensor(inputs(r), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = dfn.all_reduce(x)
        (g,) = bp.autograd.grad((y * y).sum() / 2, x, create_graph=True)
        (gg,) = bp.autograd.grad((g * bp.tensor(weights(r))).sum(), x)
    mine["double_all_reduce"] = {"g": g.tolist(), "gg": gg.tolist()}
    every: list[Any] = [None] * w
    dist.all_gather_object(every, mine)
    return {"ranks": every}


def c10d_names() -> dict[str, Any]:
    """torch.distributed's other names on two ranks: split_group, get_pg_count, the coalesced collectives."""
    r = dist.get_rank()
    mine: dict[str, Any] = {"pg_count_after_init": dist.get_pg_count()}
    dist.new_group([0])  # (every rank calls it; rank 1 is outside)
    mine["pg_count_after_new_group"] = dist.get_pg_count()
    alone = dist.split_group(split_ranks=[[0], [1]])
    t = bp.tensor([r + 1.0])
    dist.all_reduce(t, group=alone)
    mine["split_alone"] = [dist.get_process_group_ranks(alone), t.tolist()]
    both = dist.split_group(split_ranks=[[1, 0]])
    t = bp.tensor([r + 1.0])
    dist.all_reduce(t, group=both)
    mine["split_both"] = [dist.get_process_group_ranks(both), dist.get_rank(both), t.tolist()]
    only1 = dist.split_group(split_ranks=[[1]])
    mine["split_only_1"] = None if only1 is None else dist.get_process_group_ranks(only1)
    mine["pg_count_after_splits"] = dist.get_pg_count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ts = [bp.tensor([r + 1.0, 2.0]), bp.tensor([[10.0 * (r + 1)]])]
        dist.all_reduce_coalesced(ts, op=dist.ReduceOp.MAX)
        mine["all_reduce_coalesced_max"] = [x.tolist() for x in ts]
        outs = [[bp.zeros(2), bp.zeros(1, 1)] for _ in range(2)]
        fut = dist.all_gather_coalesced(outs, [bp.tensor([r, r + 0.5]), bp.tensor([[-r - 1.0]])], async_op=True)
        mine["all_gather_coalesced"] = [[x.tolist() for x in lst] for lst in fut.wait()]
    mine["warnings"] = [(c.category.__name__, str(c.message)) for c in caught]
    every: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    return {"ranks": every}


if __name__ == "__main__":
    run_scenarios(globals())
