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


def _dcp_case(variant: str) -> dict[str, Any]:
    """One FSDP variant after two steps: cpu_offload (full: rank 0 only; sharded: every rank) and
    broadcast_from_rank0 loading into a fresh model from rank 0's dicts alone."""
    from distributed_dcp_worker import _fsdp, _same, full_arrays
    from distributed_fsdp_worker import _train

    import backprop.distributed.checkpoint.state_dict as sd

    model, opt = _fsdp(variant)
    _train(model, opt, "tfm", range(2))
    ref = full_arrays(model, opt)
    rec: dict[str, Any] = {}
    msd, osd = sd.get_state_dict(model, opt, options=sd.StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() == 0:
        got = {f"m/{k}": v.numpy() for k, v in msd.items()}
        got.update({f"o/{f}/{k}": np.asarray(v.numpy() if isinstance(v, bp.Tensor) else v)
                    for f, st in osd["state"].items() for k, v in st.items()})  # fmt: skip
        rec["full_offload_rank0_same"] = _same(got, ref)
        rec["full_offload_on_cpu"] = all(v.device.type == "cpu" for v in msd.values())
        rec["full_offload_groups"] = [g["params"] for g in osd["param_groups"]]
    else:
        rec["full_offload_other_rank"] = [msd, osd]
    sharded, sharded_osd = sd.get_state_dict(model, opt)
    off, off_osd = sd.get_state_dict(model, opt, options=sd.StateDictOptions(cpu_offload=True))
    rec["sharded_offload_keys_same"] = sorted(off) == sorted(sharded) and sorted(off_osd["state"]) == sorted(
        sharded_osd["state"]
    )
    rec["sharded_offload_values_same"] = all(
        np.array_equal(off[k].numpy(), sharded[k].numpy()) and off[k].device.type == "cpu" for k in sharded
    )
    rec["sharded_offload_is_part"] = [tuple(v.shape) != tuple(full.shape) for v, full in
                                      zip(off.values(), msd.values())] if dist.get_rank() == 0 else None  # fmt: skip
    # broadcast_from_rank0: a fresh model (another seed) loads rank 0's full dicts; rank 1 passes empty ones
    fresh, fresh_opt = _fsdp(variant, seed=7)
    _train(fresh, fresh_opt, "tfm", range(1))  # (optimizer state exists, different values)
    rec["fresh_differs"] = not _same(full_arrays(fresh, fresh_opt), ref)
    mine = (msd, osd) if dist.get_rank() == 0 else ({}, {})
    sd.set_state_dict(
        fresh, fresh_opt, model_state_dict=mine[0], optim_state_dict=mine[1],
        options=sd.StateDictOptions(full_state_dict=True, broadcast_from_rank0=True),
    )  # fmt: skip
    rec["broadcast_loaded_same"] = _same(full_arrays(fresh, fresh_opt), ref)
    try:
        sd.get_state_dict(model, opt, options=sd.StateDictOptions(broadcast_from_rank0=True))
    except ValueError as e:
        rec["broadcast_without_full"] = str(e)
    return rec


def dcp_options() -> dict[str, Any]:
    """get/set_state_dict options under FSDP (flat and use_orig_params), every rank's records."""
    mine = {variant: _dcp_case(variant) for variant in ("flat", "orig")}
    every: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    return {"ranks": every}


def async_fail() -> dict[str, Any]:
    """async_save whose writing fails on rank 1 (an OSError): rank 0's future fails at once naming rank 1 (not
    after the 120 s timeout); a later save in the same directory succeeds."""
    import backprop.distributed.checkpoint as dcp

    state = {"w": bp.arange(6.0) * (dist.get_rank() + 1), "step": 3}
    path = OUT / "async_fail_ckpt"
    real = dcp._write

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full (test)")

    if dist.get_rank() == 1:
        dcp._write = broken  # type: ignore[assignment]
    try:
        fut = dcp.async_save(state, checkpoint_id=path, timeout=120.0)
        err = fut.exception(timeout=300)
    finally:
        dcp._write = real  # type: ignore[assignment]
    mine: dict[str, Any] = {"error": None if err is None else [type(err).__name__, str(err)]}
    dist.barrier()
    fut = dcp.async_save(state, checkpoint_id=path, timeout=120.0)
    mine["second_save_ok"] = fut.result(timeout=300) is not None
    loaded = {"w": bp.zeros(6), "step": 0}
    dcp.load(loaded, checkpoint_id=path)
    mine["second_loaded"] = [loaded["w"].tolist(), loaded["step"]]
    every: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    return {"ranks": every}


if __name__ == "__main__":
    run_scenarios(globals())
