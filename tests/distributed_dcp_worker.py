"""Scenarios that ``tests/test_distributed_checkpoint.py`` runs: DCP saved by FSDP on 2 ranks, loaded on 2 and 3.

Usage as the other workers (``distributed_worker.run_scenarios``): ``mpiexec -n 2 python
tests/distributed_dcp_worker.py OUT dcp_save`` then ``-n 3 ... OUT dcp_load``; rank 0 writes OUT/<name>.json.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_fsdp_worker import POLICY, STEPS, _gather, _make_opt, _model, _orig_model, _train  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.distributed.checkpoint as dcp  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop.distributed.checkpoint.state_dict import (  # noqa: E402
    StateDictOptions,
    get_state_dict,
    set_state_dict,
)
from backprop.distributed.fsdp import FullyShardedDataParallel as FSDP  # noqa: E402, N817
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817

OUT = Path(".")
FULL = StateDictOptions(full_state_dict=True)
VARIANTS = ("flat", "orig")


def _fsdp(variant: str, seed: int = 0) -> tuple[Any, Any]:
    if variant == "orig":
        model, opt, _ = _orig_model("tfm", seed=seed)
        return model, opt
    model = FSDP(_model("tfm", seed), auto_wrap_policy=POLICY["tfm"], deterministic=True)
    return model, _make_opt("adam", model.parameters())


def _plain(variant: str, ddp: bool, seed: int = 123) -> tuple[Any, Any]:
    """The same model and optimizer (AdamW groups for orig) without FSDP: DDP, or one process."""
    model: Any = _model("tfm", seed)
    if variant == "orig":
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        opt: Any = bp.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                  lr=0.01)  # fmt: skip
    else:
        opt = _make_opt("adam", model.parameters())
    return (DDP(model, deterministic=True) if ddp else model), opt


def full_arrays(model: Any, opt: Any) -> dict[str, np.ndarray]:
    """Every value of the full model and optimizer state, flattened: ``m/<fqn>``, ``o/<fqn>/<key>``."""
    msd, osd = get_state_dict(model, opt, options=FULL)
    out = {f"m/{k}": v.numpy().copy() for k, v in msd.items()}
    for fqn, st in osd["state"].items():
        for k, v in st.items():
            out[f"o/{fqn}/{k}"] = v.numpy().copy() if isinstance(v, bp.Tensor) else np.asarray(v)
    return out


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return sorted(a) == sorted(b) and all(a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)


def _load_into(model: Any, opt: Any, path: Path) -> None:
    """The tutorial's load: get_state_dict of the fresh model, dcp.load in place, set_state_dict."""
    msd, osd = get_state_dict(model, opt)
    state = {"model": msd, "optim": osd}
    dcp.load(state, checkpoint_id=path)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])


def dcp_save() -> dict[str, Any]:
    """2 ranks: 5 steps, save (flat: dcp.save; orig: dcp.async_save), the full state as reference; a fresh model
    (another seed) loads and takes 5 more steps: bitwise 10 uninterrupted. DDP on the same ranks loads it too."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        r: dict[str, Any] = {}
        whole, whole_opt = _fsdp(variant)
        _train(whole, whole_opt, "tfm", range(STEPS))
        first, first_opt = _fsdp(variant)
        _train(first, first_opt, "tfm", range(STEPS // 2))
        msd, osd = get_state_dict(first, first_opt)
        path = OUT / f"ckpt_{variant}"
        if variant == "flat":
            dcp.save({"model": msd, "optim": osd}, checkpoint_id=path)
        else:
            dcp.async_save({"model": msd, "optim": osd}, storage_writer=dcp.FileSystemWriter(path)).result()
        ref = full_arrays(first, first_opt)
        if dist.get_rank() == 0:
            np.savez(OUT / f"ref_{variant}.npz", **{k.replace("/", "|"): v for k, v in ref.items()})
            r["files"] = sorted(p.name for p in path.iterdir())
        r["local_numel"] = _gather(sum(int(v.numel()) for v in msd.values()))
        resumed, resumed_opt = _fsdp(variant, seed=123)
        _load_into(resumed, resumed_opt, path)
        r["loaded_bitwise"] = all(_gather(_same(full_arrays(resumed, resumed_opt), ref)))
        _train(resumed, resumed_opt, "tfm", range(STEPS // 2, STEPS))
        r["resumed_bitwise"] = all(_gather(_same(full_arrays(resumed, resumed_opt), full_arrays(whole, whole_opt))))
        ddp, ddp_opt = _plain(variant, ddp=True)
        _load_into(ddp, ddp_opt, path)
        r["ddp_loaded_bitwise"] = all(_gather(_same(full_arrays(ddp, ddp_opt), ref)))
        out[variant] = r
    return out


def dcp_load() -> dict[str, Any]:
    """Any world size (3): FSDP and DDP load the 2-rank checkpoint: bitwise its full state; FSDP then takes 5 steps,
    bitwise an FSDP run of this world that loaded the full reference state through set_state_dict(full)."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        r: dict[str, Any] = {}
        ref = {k.replace("|", "/"): v for k, v in np.load(OUT / f"ref_{variant}.npz").items()}
        model, opt = _fsdp(variant, seed=123)
        _load_into(model, opt, OUT / f"ckpt_{variant}")
        r["loaded_bitwise"] = all(_gather(_same(full_arrays(model, opt), ref)))
        other, other_opt = _fsdp(variant, seed=7)
        msd, osd = get_state_dict(other, other_opt, options=FULL)
        for k in msd:
            msd[k] = bp.tensor(ref[f"m/{k}"])
        for fqn, st in osd["state"].items():
            for k in st:
                st[k] = bp.tensor(ref[f"o/{fqn}/{k}"])
        set_state_dict(other, other_opt, model_state_dict=msd, optim_state_dict=osd, options=FULL)
        _train(model, opt, "tfm", range(STEPS // 2, STEPS))
        _train(other, other_opt, "tfm", range(STEPS // 2, STEPS))
        r["resumed_bitwise"] = all(_gather(_same(full_arrays(model, opt), full_arrays(other, other_opt))))
        ddp, ddp_opt = _plain(variant, ddp=True)
        _load_into(ddp, ddp_opt, OUT / f"ckpt_{variant}")
        r["ddp_loaded_bitwise"] = all(_gather(_same(full_arrays(ddp, ddp_opt), ref)))
        out[variant] = r
    return out


def main() -> None:
    run_scenarios(globals())


if __name__ == "__main__":
    main()
