"""Scenarios that ``tests/test_distributed_fsdp2.py`` runs on 2 or 3 ranks: rank 0 writes OUT/<name>.json.

``fully_shard`` (FSDP2) against DistributedDataParallel on the same batches (the models, batches and the mixed-
precision reference are ``distributed_fsdp_worker``'s); the test module makes the assertions.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_fsdp_worker import MP_STEPS, STEPS, Block, _gather, _loss, _make_opt, _model, _mp_reference  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard  # noqa: E402
from backprop.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817


def _shard(model: nn.Module, kind: str, **kw: Any) -> nn.Module:
    """torch's recipe: one fully_shard per block (the transformer) or per Linear (the MLP), then the root."""
    for m in model.modules():
        if (kind == "tfm" and isinstance(m, Block)) or (kind == "mlp" and isinstance(m, nn.Linear)):
            fully_shard(m, **kw)
    return fully_shard(model, **kw)


def _full(model: nn.Module) -> dict[str, np.ndarray]:
    out = {}
    for k, v in model.state_dict().items():
        out[k] = (v.full_tensor() if isinstance(v, DTensor) else v).detach().numpy().copy()
    return out


def _bitwise(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)


def _vs_ddp(kind: str, opt_name: str, reshard: bool = True, accumulate: int = 0) -> dict[str, Any]:
    """STEPS steps of fully_shard and of DDP on the same batches (``accumulate`` extra micro-batches without
    gradient sync / under no_sync before each synced one); full parameters compared bitwise."""
    base = _model(kind)
    ref = DDP(copy.deepcopy(base), deterministic=True)
    model = _shard(base, kind, reshard_after_forward=reshard)
    opt, ref_opt = _make_opt(opt_name, model.parameters()), _make_opt(opt_name, ref.parameters())
    for step in range(STEPS):
        for m, o in ((model, opt), (ref, ref_opt)):
            o.zero_grad()
            for micro in range(accumulate):
                if m is model:
                    model.set_requires_gradient_sync(False)
                    _loss(m, kind, 100 * step + micro + 1).backward()
                    model.set_requires_gradient_sync(True)
                else:
                    with ref.no_sync():
                        _loss(m, kind, 100 * step + micro + 1).backward()
            _loss(m, kind, step).backward()
            o.step()
    mine, theirs = _full(model), _full(ref.module)
    params = list(model.parameters())
    n, r = dist.get_world_size(), dist.get_rank()
    local_ok = all(
        isinstance(p, DTensor)
        and isinstance(p, nn.Parameter)
        and p.placements == (Shard(0),)
        and tuple(p.to_local().shape)
        == (len(range(r * -(-p.shape[0] // n), min((r + 1) * -(-p.shape[0] // n), p.shape[0]))), *p.shape[1:])
        and (p.grad is None or tuple(p.grad.to_local().shape) == tuple(p.to_local().shape))
        for p in params
    )
    return {
        "bitwise": _bitwise(mine, theirs),
        "bitwise_all_ranks": all(_gather(_bitwise(mine, theirs))),
        "max_diff": max(float(np.max(np.abs(mine[k] - theirs[k]))) for k in mine),
        "moved": max(float(np.max(np.abs(mine[k] - v))) for k, v in _full(_model(kind)).items()),
        "local_shapes_ok": all(_gather(local_ok)),
        "local_elements": _gather(sum(p.to_local().numel() for p in params)),
        "global_elements": sum(p.numel() for p in params),
        "class": type(model).__name__,
        "is_fsdp_module": isinstance(model, FSDPModule),
    }


def mlp_adam() -> dict[str, Any]:
    return _vs_ddp("mlp", "adam")


def mlp_sgd() -> dict[str, Any]:
    return _vs_ddp("mlp", "sgd")


def tfm_adam() -> dict[str, Any]:
    return _vs_ddp("tfm", "adam")


def tfm_sgd() -> dict[str, Any]:
    return _vs_ddp("tfm", "sgd")


def tfm_no_reshard() -> dict[str, Any]:
    return _vs_ddp("tfm", "adam", reshard=False)


def tfm_accumulate() -> dict[str, Any]:
    return _vs_ddp("tfm", "sgd", accumulate=2)


class _Counter:
    """Counts the all-gathers and reduce-scatters (dist's functions, as FSDP2 calls them)."""

    def __enter__(self) -> _Counter:
        self.n = {"all_gather": 0, "reduce_scatter": 0}
        self.orig = dist.all_gather_into_tensor, dist.reduce_scatter_tensor

        def ag(*a: Any, **k: Any) -> Any:
            self.n["all_gather"] += 1
            return self.orig[0](*a, **k)

        def rs(*a: Any, **k: Any) -> Any:
            self.n["reduce_scatter"] += 1
            return self.orig[1](*a, **k)

        dist.all_gather_into_tensor, dist.reduce_scatter_tensor = ag, rs
        return self

    def take(self) -> dict[str, int]:
        out, self.n = self.n, {"all_gather": 0, "reduce_scatter": 0}
        return out

    def __exit__(self, *exc: object) -> None:
        dist.all_gather_into_tensor, dist.reduce_scatter_tensor = self.orig


def collectives() -> dict[str, Any]:
    """Collectives per forward and backward of the transformer (3 units: 2 blocks and the root), for
    reshard_after_forward True and False, with and without gradient sync; the gradients are the same bits."""
    out: dict[str, Any] = {}
    grads = {}
    for reshard in (True, False):
        model = _shard(_model("tfm"), "tfm", reshard_after_forward=reshard)
        steps = []
        with _Counter() as c:
            for sync in (True, False):
                model.set_requires_gradient_sync(sync)
                loss = _loss(model, "tfm", 0)
                fwd = c.take()
                loss.backward()
                steps.append({"sync": sync, "forward": fwd, "backward": c.take()})
        model.set_requires_gradient_sync(True)
        out[str(reshard)] = steps
        grads[reshard] = [p.grad.to_local().numpy().tobytes() for p in model.parameters()]
    out["grads_equal"] = grads[True] == grads[False]
    return out


def _mp_run(mp: MixedPrecisionPolicy | None) -> list[np.ndarray]:
    model = fully_shard(_model("mlp"), mp_policy=mp)
    opt = optim.SGD(model.parameters(), lr=0.05)
    params = []
    for step in range(MP_STEPS):
        opt.zero_grad()
        _loss(model, "mlp", step).backward()
        assert all(p.grad.dtype == bp.float32 and p.dtype == bp.float32 for p in model.parameters())
        opt.step()
        params.append(np.concatenate([p.full_tensor().detach().numpy().reshape(-1) for p in model.parameters()]))
    return params


def mixed() -> dict[str, Any]:
    """param_dtype float16/bfloat16 (reduce in it, or in float32) against the one-process reference."""
    out = {}
    for name, pd, rd in (
        ("fp16", bp.float16, None),
        ("bf16", bp.bfloat16, None),
        ("fp16_fp32", bp.float16, bp.float32),
    ):
        params = _mp_run(MixedPrecisionPolicy(param_dtype=pd, reduce_dtype=rd))
        _, ref = _mp_reference(pd, rd if rd is not None else pd)
        out[name] = {
            "bitwise": [a.tobytes() == b.tobytes() for a, b in zip(params, ref)],
            "max_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(params, ref)),
        }
    model = fully_shard(_model("mlp"), mp_policy=MixedPrecisionPolicy(param_dtype=bp.float16, output_dtype=bp.float32))
    out["output_dtype"] = str(model(bp.randn(2, 6)).dtype)
    return out


def state_dict_and_dtensor() -> dict[str, Any]:
    """state_dict values are DTensors whose full_tensor is the unsharded model's; load_state_dict takes them;
    DTensor redistribute / full_tensor / clip_grad_norm_ against their closed forms."""
    out: dict[str, Any] = {}
    base = _model("tfm")
    plain = copy.deepcopy(base)
    model = _shard(base, "tfm")
    sd = model.state_dict()
    out["all_dtensor"] = all(isinstance(v, DTensor) for v in sd.values())
    out["full_equal"] = _bitwise(_full(model), {k: v.detach().numpy() for k, v in plain.state_dict().items()})
    other = _shard(_model("tfm", seed=5), "tfm")
    other.load_state_dict(sd)
    out["loaded_equal"] = _bitwise(_full(other), _full(model))
    # unshard / reshard: the forward after unshard gathers nothing more
    with _Counter() as c:
        model.unshard()
        after_unshard = c.take()
        _loss(model, "tfm", 0)
        out["unshard_counts"] = [after_unshard, c.take()]
        model.reshard()
    # DTensor: Shard(0) of an uneven tensor, redistribute, gradients
    mesh = model._fsdp_state.mesh
    r, n = dist.get_rank(), dist.get_world_size()
    full = bp.arange(7.0 * 3).reshape(7, 3)
    d = distribute_tensor(full, mesh, [Shard(0)])
    out["local_rows"] = _gather(int(d.to_local().shape[0]))
    out["full_tensor_ok"] = bool(np.array_equal(d.full_tensor().numpy(), full.numpy()))
    x = bp.tensor(np.arange(21.0).reshape(7, 3) * (r + 1), requires_grad=True)
    loc = DTensor.from_local(x[r::n], mesh, [Shard(0)])  # (rows r, r+n, ...: each rank's own count)
    out["from_local_shape"] = list(loc.shape)
    s1 = distribute_tensor(full, mesh, [Shard(1)])
    out["shard1_cols"] = _gather(int(s1.to_local().shape[1]))
    rep = d.redistribute(placements=[Replicate()])
    out["replicate_ok"] = bool(np.array_equal(rep.to_local().numpy(), full.numpy()))
    w = bp.tensor(np.ones((7, 3)), requires_grad=True)
    dw = distribute_tensor(w, mesh, [Shard(0)])
    (dw.full_tensor() * bp.arange(21.0).reshape(7, 3)).sum().backward()
    out["shard_grad_is_local_rows"] = dw.grad is not None and bool(
        np.array_equal(dw.grad.to_local().numpy(), np.arange(21.0).reshape(7, 3)[d_rows(7, n, r)])
    )
    # clip_grad_norm_ on the DTensor gradients: a replicated DTensor holding the global norm
    model.zero_grad()
    _loss(model, "tfm", 0).backward()
    grads = [p.grad.full_tensor().numpy() for p in model.parameters()]
    expect = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    total = nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    out["clip_total"] = [float(total.full_tensor()), expect, type(total).__name__, str(total.placements)]
    clipped = [p.grad.full_tensor().numpy() for p in model.parameters()]
    out["clipped_norm"] = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in clipped)))
    first = next(model.parameters())  # (a Shard(0) sum: Partial, as torch's sharding propagation)
    total_sum = first.sum()
    out["sum_placement"] = [
        repr(total_sum.placements),
        float(total_sum.full_tensor()),
        float(first.full_tensor().sum()),
    ]
    return out


def d_rows(rows: int, n: int, r: int) -> slice:
    c = -(-rows // n)
    return slice(min(r * c, rows), min((r + 1) * c, rows))


def main() -> None:
    run_scenarios(globals(), deterministic=True)  # (rank-order sums: the reduce-scatters are DDP's bits)


if __name__ == "__main__":
    main()
