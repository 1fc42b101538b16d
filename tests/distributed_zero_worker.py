"""Scenarios that ``tests/test_distributed_zero.py`` runs on 2 or 3 ranks: rank 0 writes OUT/<name>.json.

Usage: ``mpiexec -n 2 python tests/distributed_zero_worker.py OUT scenario [scenario ...]``, or for the TCP
backend ``BP_TEST_BACKEND=gloo python -m backprop.run --nproc-per-node 2 tests/distributed_zero_worker.py OUT ...``.
Every scenario records values (DDP + ZeroRedundancyOptimizer against DDP + the plain optimizer); the test module
makes the assertions.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.nn.functional as F  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.distributed.optim import ZeroRedundancyOptimizer  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817 - the name torch users write

B = 24  # global batch (divisible by 2 and 3)
STEPS = 20
OUT = Path(".")


def _model() -> nn.Module:
    bp.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))


def _batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(step)
    return rng.standard_normal((B, 6)).astype(np.float32), rng.integers(0, 3, B)


def _loss(model: Any, step: int) -> Any:
    x, y = _batch(step)
    sl = dist.local_slice(B)
    return F.cross_entropy(model(bp.tensor(x[sl])), bp.tensor(y[sl]))


def _params(model: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


def _gather(obj: Any) -> list[Any]:
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _same_on_all_ranks(arrays: list[np.ndarray]) -> bool:
    gathered = _gather(arrays)
    return all(all(np.array_equal(a, b) for a, b in zip(gathered[0], g)) for g in gathered)


def _bitwise(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _state_bytes(opt: optim.Optimizer) -> tuple[int, int]:
    """(state tensors, their bytes) that ``opt`` holds."""
    tensors = [v for st in opt.state.values() for v in st.values() if isinstance(v, bp.Tensor)]
    return len(tensors), sum(int(t._data.nbytes) for t in tensors)


def _groups(model: nn.Module, two: bool) -> Any:
    if not two:
        return model.parameters()
    named = list(model.named_parameters())
    return [
        {"params": [p for n, p in named if n.endswith("weight")]},
        {"params": [p for n, p in named if n.endswith("bias")], "lr": 0.02, "weight_decay": 0.0},
    ]


def _zero_vs_plain(make: Any, two_groups: bool = False, scheduler: bool = False, **zero_kwargs: Any) -> dict[str, Any]:
    """20 steps of DDP + ZeRO(optimizer) against DDP + the optimizer, on the same batches."""
    base = _model()
    ref = copy.deepcopy(base)
    model, ref_model = DDP(base, deterministic=True), DDP(ref, deterministic=True)
    cls, kwargs = make
    zero = ZeroRedundancyOptimizer(_groups(model, two_groups), cls, **zero_kwargs, **kwargs)
    plain = cls(_groups(ref_model, two_groups), **kwargs)
    scheds = [optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5) for o in (zero, plain)] if scheduler else []
    for step in range(STEPS):
        for m, o in ((model, zero), (ref_model, plain)):
            o.zero_grad()
            _loss(m, step).backward()
            o.step()
        for s in scheds:
            s.step()
    mine, theirs = _params(base), _params(ref)
    index = zero._param_to_index
    owned = sorted(index[p] for group in zero.optim.param_groups for p in group["params"] if p in zero.optim.state)
    n_state, n_bytes = _state_bytes(zero.optim)
    return {
        "bitwise_equal_to_plain": all(_gather(_bitwise(mine, theirs))),
        "max_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(mine, theirs)),
        "same_on_all_ranks": _same_on_all_ranks(mine),
        "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(mine, _params(_model()))),
        "lrs": [[g["lr"] for g in o.param_groups] for o in (zero, zero.optim, plain)],
        "partition": [[[index[p] for p in g["params"]] for g in groups] for groups in zero._partition_parameters()],
        "numels": [p.numel() for p in zero._index_to_param],  # (by index in the groups' order)
        "owned_with_state": _gather(owned),
        "state_tensors": _gather(n_state),
        "state_bytes": _gather(n_bytes),
        "plain_state": list(_state_bytes(plain)),
        "local_params": _gather(sum(len(g["params"]) for g in zero.optim.param_groups)),
    }


ADAM = (optim.Adam, {"lr": 0.01})
SGD = (optim.SGD, {"lr": 0.1, "momentum": 0.9})
ADAMW = (optim.AdamW, {"lr": 0.01, "weight_decay": 0.1})


def adam() -> dict[str, Any]:
    return _zero_vs_plain(ADAM)


def sgd_momentum() -> dict[str, Any]:
    return _zero_vs_plain(SGD)


def adamw_groups_scheduler() -> dict[str, Any]:
    return _zero_vs_plain(ADAMW, two_groups=True, scheduler=True)


def sgd_groups_scheduler() -> dict[str, Any]:
    return _zero_vs_plain(SGD, two_groups=True, scheduler=True)


def bucket_view() -> dict[str, Any]:
    return _zero_vs_plain(ADAM, parameters_as_bucket_view=True)


def state_dict_round_trip() -> dict[str, Any]:
    """ZeRO for 10 steps, consolidate, save; a fresh model and ZeRO load it and go on: bitwise the 20-step run."""
    r = dist.get_rank()
    out: dict[str, Any] = {}
    whole = _model()
    whole_ddp = DDP(whole, deterministic=True)
    whole_opt = ZeroRedundancyOptimizer(whole_ddp.parameters(), optim.Adam, lr=0.01)
    plain = copy.deepcopy(_model())
    plain_ddp = DDP(plain, deterministic=True)
    plain_opt = optim.Adam(plain_ddp.parameters(), lr=0.01)
    for step in range(STEPS):
        for m, o in ((whole_ddp, whole_opt), *(((plain_ddp, plain_opt),) if step < STEPS // 2 else ())):
            o.zero_grad()
            _loss(m, step).backward()
            o.step()
    first = _model()
    first_ddp = DDP(first, deterministic=True)
    first_opt = ZeroRedundancyOptimizer(first_ddp.parameters(), optim.Adam, lr=0.01)
    for step in range(STEPS // 2):
        first_opt.zero_grad()
        _loss(first_ddp, step).backward()
        first_opt.step()
    try:
        first_opt.state_dict()
        out[f"unconsolidated_error_{r}"] = None
    except RuntimeError as exc:
        out[f"unconsolidated_error_{r}"] = str(exc)
    first_opt.consolidate_state_dict(to=0)
    if r == 0:
        sd, ref_sd = first_opt.state_dict(), plain_opt.state_dict()
        out["format_keys"] = [sorted(sd), sorted(sd["state"]), sorted(ref_sd["state"])]
        out["groups_equal_plain"] = sd["param_groups"] == ref_sd["param_groups"]
        out["state_equal_plain"] = sd["state"].keys() == ref_sd["state"].keys() and all(
            sorted(sd["state"][i]) == sorted(ref_sd["state"][i])
            and all(np.array_equal(sd["state"][i][k].numpy(), ref_sd["state"][i][k].numpy()) for k in sd["state"][i])
            for i in sd["state"]
        )
        out["state_names"] = sorted(sd["state"][0])
        bp.save({"model": first.state_dict(), "optim": sd}, OUT / "zero_checkpoint.pt")
    else:
        try:
            first_opt.state_dict()
            out["rank1_error"] = None
        except RuntimeError as exc:
            out["rank1_error"] = str(exc)
    out["rank1_error"] = _gather(out.get("rank1_error"))[1]
    out["unconsolidated_error_1"] = _gather(out.get(f"unconsolidated_error_{r}"))[1]
    first_opt.consolidate_state_dict(to=1)  # another target: that rank's copy is the same
    summary = None
    if r == 1:
        sd1 = first_opt.state_dict()
        summary = {i: {k: v.numpy().tolist() for k, v in st.items()} for i, st in sd1["state"].items()}
    summary0 = None
    if r == 0:
        summary0 = {i: {k: v.numpy().tolist() for k, v in st.items()} for i, st in sd["state"].items()}
    got = _gather([summary0, summary])
    out["consolidated_on_1_equals_on_0"] = got[0][0] == got[1][1]
    dist.barrier()
    # a fresh process state: new model, new ZeRO (another lr: the loaded groups win), load the checkpoint
    ckpt = bp.load(OUT / "zero_checkpoint.pt")
    bp.manual_seed(123)
    resumed = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
    resumed.load_state_dict(ckpt["model"])
    resumed_ddp = DDP(resumed, deterministic=True)
    resumed_opt = ZeroRedundancyOptimizer(resumed_ddp.parameters(), optim.Adam, lr=0.5)
    resumed_opt.load_state_dict(ckpt["optim"])
    index = resumed_opt._param_to_index
    out["loaded_owned"] = _gather(sorted(index[p] for p in resumed.parameters() if p in resumed_opt.optim.state))
    out["loaded_lr"] = [resumed_opt.param_groups[0]["lr"], resumed_opt.optim.param_groups[0]["lr"]]
    for step in range(STEPS // 2, STEPS):
        resumed_opt.zero_grad()
        _loss(resumed_ddp, step).backward()
        resumed_opt.step()
    out["resumed_bitwise_equal_uninterrupted"] = all(_gather(_bitwise(_params(resumed), _params(whole))))
    return out


def closure_and_add_param_group() -> dict[str, Any]:
    """step(closure) returns the closure's loss; a param group added after 5 steps (on every rank) is sharded too."""
    base = _model()
    ref = copy.deepcopy(base)
    model, ref_model = DDP(base, deterministic=True), DDP(ref, deterministic=True)
    first = [p for i, p in enumerate(model.parameters()) if i < 4]
    rest = [p for i, p in enumerate(model.parameters()) if i >= 4]
    ref_first = [p for i, p in enumerate(ref_model.parameters()) if i < 4]
    ref_rest = [p for i, p in enumerate(ref_model.parameters()) if i >= 4]
    zero = ZeroRedundancyOptimizer(first, optim.Adam, lr=0.01)
    plain = optim.Adam(ref_first, lr=0.01)
    losses = []
    for step in range(10):
        if step == 5:
            zero.add_param_group({"params": rest, "lr": 0.03})
            plain.add_param_group({"params": ref_rest, "lr": 0.03})
        for m, o in ((model, zero), (ref_model, plain)):

            def closure(m: Any = m, o: Any = o, step: int = step) -> Any:
                o.zero_grad()
                loss = _loss(m, step)
                loss.backward()
                return loss

            losses.append(float(o.step(closure)))
    index = zero._param_to_index
    return {
        "bitwise_equal_to_plain": all(_gather(_bitwise(_params(base), _params(ref)))),
        "losses_equal": losses[0::2] == losses[1::2],
        "groups": [len(zero.param_groups), len(zero.optim.param_groups)],
        "partition": [[[index[p] for p in g["params"]] for g in groups] for groups in zero._partition_parameters()],
        "owned": _gather(sorted(index[p] for p in zero._all_params if p in zero.optim.state)),
    }


def main() -> None:
    run_scenarios(globals())


if __name__ == "__main__":
    main()
