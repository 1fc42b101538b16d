"""Scenarios that ``tests/test_distributed_fsdp.py`` runs on 2 or 3 ranks: rank 0 writes OUT/<name>.json.

Usage: ``mpiexec -n 2 python tests/distributed_fsdp_worker.py OUT scenario [scenario ...]``, or for the TCP
backend ``BP_TEST_BACKEND=gloo python -m backprop.run --nproc-per-node 2 tests/distributed_fsdp_worker.py OUT ...``.
Every scenario records values (FullyShardedDataParallel against DistributedDataParallel on the same batches); the
test module makes the assertions.
"""

from __future__ import annotations

import copy
import functools
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
from backprop.distributed.fsdp import (  # noqa: E402
    FullOptimStateDictConfig,
    FullStateDictConfig,
    MixedPrecision,
    ShardingStrategy,
    StateDictType,
)
from backprop.distributed.fsdp import FullyShardedDataParallel as FSDP  # noqa: E402, N817
from backprop.distributed.fsdp.wrap import ModuleWrapPolicy, transformer_auto_wrap_policy  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817 - the name torch users write

B = 12  # global batch (divisible by 2 and 3)
T = 5  # tokens per sequence
V = 11  # vocabulary
D = 8  # model width
STEPS = 10
OUT = Path(".")


class Block(nn.Module):
    """A pre-norm transformer block: self-attention and an MLP, each with a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, 2, batch_first=True)
        self.ln2 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, 2 * D)
        self.fc2 = nn.Linear(2 * D, D)

    def forward(self, x: Any) -> Any:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Tiny(nn.Module):
    """Embedding, two blocks, a final norm and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def forward(self, tokens: Any) -> Any:
        x = self.emb(tokens)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def _model(kind: str, seed: int = 0) -> nn.Module:
    bp.manual_seed(seed)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
    return Tiny()


POLICY = {"mlp": None, "tfm": functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={Block})}


def _loss(model: Any, kind: str, step: int) -> Any:
    """This rank's share of step ``step``'s global batch."""
    rng = np.random.default_rng(step)
    sl = dist.local_slice(B)
    if kind == "mlp":
        x, y = rng.standard_normal((B, 6)).astype(np.float32), rng.integers(0, 3, B)
        return F.cross_entropy(model(bp.tensor(x[sl])), bp.tensor(y[sl]))
    tokens = rng.integers(0, V, (B, T + 1))[sl]
    logits = model(bp.tensor(tokens[:, :-1]))
    return F.cross_entropy(logits.reshape(-1, V), bp.tensor(tokens[:, 1:].reshape(-1)))


def _make_opt(name: str, params: Any) -> optim.Optimizer:
    if name == "adam":
        return optim.Adam(params, lr=0.01)
    return optim.SGD(params, lr=0.05, momentum=0.9)


def _gather(obj: Any) -> list[Any]:
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _full(model: Any) -> dict[str, np.ndarray]:
    """The full parameters (and buffers) by the original names: FSDP's full state dict, or a plain module's."""
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, Any]:
    keys_equal = list(a) == list(b)
    bitwise = keys_equal and all(a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a) if keys_equal else None
    return {"keys_equal": keys_equal, "bitwise": bitwise, "max_diff": diff}


def _state_elements(opt: optim.Optimizer) -> int:
    return sum(int(v.numel()) for st in opt.state.values() for v in st.values() if isinstance(v, bp.Tensor))


def _elements(model: Any, opt: optim.Optimizer) -> dict[str, int]:
    return {
        "params": sum(int(p.numel()) for p in model.parameters()),
        "grads": sum(int(p.grad.numel()) for p in model.parameters() if p.grad is not None),
        "state": _state_elements(opt),
        "state_tensors": sum(1 for st in opt.state.values() for v in st.values() if isinstance(v, bp.Tensor)),
    }


def _train(model: Any, opt: optim.Optimizer, kind: str, steps: range, clip: float | None = None) -> list[float]:
    norms = []
    for step in steps:
        opt.zero_grad()
        _loss(model, kind, step).backward()
        if clip is not None:
            if isinstance(model, FSDP):
                norms.append(float(model.clip_grad_norm_(clip)))
            else:
                norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), clip)))
        opt.step()
    return norms


def _fsdp_vs_ddp(kind: str, opt_name: str, strategy: ShardingStrategy = ShardingStrategy.FULL_SHARD,
                 clip: float | None = None) -> dict[str, Any]:  # fmt: skip
    """STEPS steps of FSDP and of DDP on the same batches; the full parameters compared, elements counted."""
    base = _model(kind)
    ref = DDP(copy.deepcopy(base), deterministic=True)
    model = FSDP(base, auto_wrap_policy=POLICY[kind], sharding_strategy=strategy, deterministic=True)
    opt, ref_opt = _make_opt(opt_name, model.parameters()), _make_opt(opt_name, ref.parameters())
    norms = _train(model, opt, kind, range(STEPS), clip)
    ref_norms = _train(ref, ref_opt, kind, range(STEPS), clip)
    mine, theirs = _full(model), _full(ref.module)
    units = FSDP.fsdp_modules(model)
    out = {
        **_compare(mine, theirs),
        "bitwise_all_ranks": all(_gather(_compare(mine, theirs)["bitwise"])),
        "moved": max(float(np.max(np.abs(mine[k] - v))) for k, v in _full(_model(kind)).items()),
        "elements": _gather(_elements(model, opt)),
        "ddp_elements": _elements(ref, ref_opt),
        "unit_numels": [u._numel for u in units if u._flat_param is not None],
        "units": len(units),
        "keys": list(mine),
    }
    if clip is not None:
        out["norms"], out["ref_norms"], out["clip"] = norms, ref_norms, clip
    return out


def mlp_adam() -> dict[str, Any]:
    return _fsdp_vs_ddp("mlp", "adam")


def mlp_sgd() -> dict[str, Any]:
    return _fsdp_vs_ddp("mlp", "sgd")


def tfm_adam() -> dict[str, Any]:
    return _fsdp_vs_ddp("tfm", "adam")


def tfm_sgd() -> dict[str, Any]:
    return _fsdp_vs_ddp("tfm", "sgd")


def tfm_shard_grad_op() -> dict[str, Any]:
    return _fsdp_vs_ddp("tfm", "adam", ShardingStrategy.SHARD_GRAD_OP)


def mlp_no_shard() -> dict[str, Any]:
    return _fsdp_vs_ddp("mlp", "adam", ShardingStrategy.NO_SHARD)


def tfm_no_shard() -> dict[str, Any]:
    return _fsdp_vs_ddp("tfm", "sgd", ShardingStrategy.NO_SHARD)


def mlp_clip() -> dict[str, Any]:
    return _fsdp_vs_ddp("mlp", "adam", clip=0.35)  # (its norms are 0.27-0.43 from torch's stream's init)


def tfm_clip() -> dict[str, Any]:
    return _fsdp_vs_ddp("tfm", "sgd", clip=0.5)


def no_sync() -> dict[str, Any]:
    """Two micro-batches per step (the first under no_sync) on FSDP and on DDP: the same parameters."""
    base = _model("tfm")
    ref = DDP(copy.deepcopy(base), deterministic=True)
    model = FSDP(base, auto_wrap_policy=POLICY["tfm"], deterministic=True)
    opts = [_make_opt("adam", model.parameters()), _make_opt("adam", ref.parameters())]
    for step in range(4):
        for m, o in ((model, opts[0]), (ref, opts[1])):
            o.zero_grad()
            with m.no_sync():
                _loss(m, "tfm", 2 * step).backward()
            _loss(m, "tfm", 2 * step + 1).backward()
            o.step()
    out = _compare(_full(model), _full(ref.module))
    out["bitwise_all_ranks"] = all(_gather(out["bitwise"]))
    inner = FSDP.fsdp_modules(model)[1]
    try:
        with inner.no_sync():
            pass
        out["inner_no_sync"] = "no error"
    except RuntimeError as e:
        out["inner_no_sync"] = str(e)
    try:
        inner.clip_grad_norm_(1.0)
        out["inner_clip"] = "no error"
    except RuntimeError as e:
        out["inner_clip"] = str(e)
    return out


def state_dict_round_trip() -> dict[str, Any]:
    """5 steps; the full state on rank 0 (rank0_only, offload_to_cpu) and each rank's optimizer shard saved; a fresh
    FSDP model (another seed) loads them and takes 5 more steps: equal to 10 uninterrupted steps."""
    out: dict[str, Any] = {}
    whole = FSDP(_model("tfm"), auto_wrap_policy=POLICY["tfm"], deterministic=True)
    whole_opt = _make_opt("adam", whole.parameters())
    _train(whole, whole_opt, "tfm", range(STEPS))
    first = FSDP(_model("tfm"), auto_wrap_policy=POLICY["tfm"], deterministic=True)
    first_opt = _make_opt("adam", first.parameters())
    _train(first, first_opt, "tfm", range(STEPS // 2))
    config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    with FSDP.state_dict_type(first, StateDictType.FULL_STATE_DICT, config):
        sd = first.state_dict()
    out["sizes"] = _gather(len(sd))
    out["default_after_context"] = FSDP.get_state_dict_type(first).state_dict_config == FullStateDictConfig()
    rank = dist.get_rank()
    if rank == 0:
        bp.save(sd, OUT / "fsdp_model.pt")
    bp.save(first_opt.state_dict(), OUT / f"fsdp_optim_{rank}.pt")
    dist.barrier()
    resumed = FSDP(_model("tfm", seed=123), auto_wrap_policy=POLICY["tfm"], deterministic=True)
    result = resumed.load_state_dict(bp.load(OUT / "fsdp_model.pt"))
    out["load_result"] = [result.missing_keys, result.unexpected_keys]
    out["loaded_equal_saved"] = all(_gather(_compare(_full(resumed), _full(first))["bitwise"]))
    resumed_opt = _make_opt("adam", resumed.parameters())
    resumed_opt.load_state_dict(bp.load(OUT / f"fsdp_optim_{rank}.pt"))
    _train(resumed, resumed_opt, "tfm", range(STEPS // 2, STEPS))
    out["resumed_bitwise_equal_uninterrupted"] = all(_gather(_compare(_full(resumed), _full(whole))["bitwise"]))
    # summon_full_params(writeback=True): a change on the full parameters lands in the shards (every rank)
    with FSDP.summon_full_params(resumed):
        names = [n for n, _ in resumed.named_parameters()]
        with bp.no_grad():
            resumed.module.head.bias.fill_(0.25)
    out["summoned_names"] = names
    out["bias_after_writeback"] = _full(resumed)["head.bias"].tolist()
    try:
        resumed.load_state_dict({})
        out["missing_error"] = "no error"
    except RuntimeError as e:
        out["missing_error"] = str(e)
    return out


# ------------------------------------------------------------------------------------------ use_orig_params
def _clean(name: str) -> str:
    return name.replace("_fsdp_wrapped_module.", "")


def _decay_groups(named: Any, decay: set[str]) -> list[dict[str, Any]]:
    """nanoGPT's configure_optimizers: weight decay for the names picked before wrapping (2-D weights) only."""
    named = [(_clean(n), p) for n, p in named]
    return [
        {"params": [p for n, p in named if n in decay], "weight_decay": 0.1},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]


def _orig_model(kind: str, strategy: ShardingStrategy = ShardingStrategy.FULL_SHARD, seed: int = 0) -> Any:
    base = _model(kind, seed)
    decay = {n for n, p in base.named_parameters() if p.dim() >= 2}  # (selected before wrapping, as torch asks)
    model = FSDP(base, auto_wrap_policy=POLICY[kind], sharding_strategy=strategy, use_orig_params=True,
                 deterministic=True)  # fmt: skip
    return model, optim.AdamW(_decay_groups(model.named_parameters(), decay), lr=0.01), decay


def _orig_vs_ddp(kind: str, strategy: ShardingStrategy = ShardingStrategy.FULL_SHARD) -> dict[str, Any]:
    """use_orig_params=True with nanoGPT's decay/no-decay AdamW groups against DDP with the same groups."""
    base = _model(kind)
    originals = [id(p) for p in base.parameters()]
    ref = DDP(copy.deepcopy(base), deterministic=True)
    decay = {n for n, p in base.named_parameters() if p.dim() >= 2}
    model = FSDP(base, auto_wrap_policy=POLICY[kind], sharding_strategy=strategy, use_orig_params=True,
                 deterministic=True)  # fmt: skip
    opt = optim.AdamW(_decay_groups(model.named_parameters(), decay), lr=0.01)
    ref_opt = optim.AdamW(_decay_groups(ref.module.named_parameters(), decay), lr=0.01)
    shapes_before = {n: list(p.shape) for n, p in model.named_parameters()}
    _train(model, opt, kind, range(STEPS))
    _train(ref, ref_opt, kind, range(STEPS))
    mine, theirs = _full(model), _full(ref.module)
    return {
        **_compare(mine, theirs),
        "bitwise_all_ranks": all(_gather(_compare(mine, theirs)["bitwise"])),
        "moved": max(float(np.max(np.abs(mine[k] - v))) for k, v in _full(_model(kind)).items()),
        "names": [_clean(n) for n, _ in model.named_parameters()],
        "ddp_names": [n for n, _ in ref.module.named_parameters()],
        "same_objects": [id(p) for p in model.parameters()] == originals,
        "group_sizes": [len(g["params"]) for g in opt.param_groups],
        "ddp_group_sizes": [len(g["params"]) for g in ref_opt.param_groups],
        "shapes": _gather(shapes_before),
        "grad_shapes": _gather(
            {n: None if p.grad is None else list(p.grad.shape) for n, p in model.named_parameters()}
        ),
        "elements": _gather(_elements(model, opt)),
        "nonempty": _gather(sum(1 for p in model.parameters() if p.numel())),
        "unit_numels": [u._numel for u in FSDP.fsdp_modules(model) if u._flat_param is not None],
        "flat_params_named": sum("_flat_param" in n for n, _ in model.named_parameters()),
    }


def orig_mlp_adamw() -> dict[str, Any]:
    return _orig_vs_ddp("mlp")


def orig_tfm_adamw() -> dict[str, Any]:
    return _orig_vs_ddp("tfm")


def orig_tfm_shard_grad_op() -> dict[str, Any]:
    return _orig_vs_ddp("tfm", ShardingStrategy.SHARD_GRAD_OP)


def orig_tfm_no_shard() -> dict[str, Any]:
    return _orig_vs_ddp("tfm", ShardingStrategy.NO_SHARD)


# ------------------------------------------------------------------------------------------ optimizer state dicts
def _fsdp_run(orig: bool, seed: int = 0) -> tuple[Any, optim.Optimizer]:
    if orig:
        model, opt, _ = _orig_model("tfm", seed=seed)
        return model, opt
    model = FSDP(_model("tfm", seed), auto_wrap_policy=POLICY["tfm"], deterministic=True)
    return model, _make_opt("adam", model.parameters())


def optim_state_dict_round_trip() -> dict[str, Any]:
    """For use_orig_params False (Adam on flat shards) and True (AdamW groups): 5 steps, then the model's and the
    optimizer's full state (FSDP.optim_state_dict, rank0_only) saved on rank 0; a fresh model (another seed) loads
    them (optim_state_dict_to_load) and takes 5 more steps: bitwise 10 uninterrupted steps. The older API too
    (full_optim_state_dict on rank 0, shard_full_optim_state_dict on every rank)."""
    out: dict[str, Any] = {}
    rank = dist.get_rank()
    for orig in (False, True):
        r: dict[str, Any] = {}
        whole, whole_opt = _fsdp_run(orig)
        _train(whole, whole_opt, "tfm", range(STEPS))
        first, first_opt = _fsdp_run(orig)
        _train(first, first_opt, "tfm", range(STEPS // 2))
        cfg, ocfg = FullStateDictConfig(rank0_only=True), FullOptimStateDictConfig(rank0_only=True)
        with FSDP.state_dict_type(first, StateDictType.FULL_STATE_DICT, cfg, ocfg):
            sd = first.state_dict()
            osd = FSDP.optim_state_dict(first, first_opt)
        old = FSDP.full_optim_state_dict(first, first_opt)  # (rank0_only=True by default)
        r["sizes"] = _gather([len(sd), len(osd), len(old)])
        if rank == 0:
            bp.save({"model": sd, "optim": osd, "old": old}, OUT / f"ckpt_{orig}.pt")
            r["state_keys"] = list(osd["state"])
            r["state_entries"] = {k: list(v) for k, v in osd["state"].items()}
            r["shapes_are_full"] = all(list(v["exp_avg"].shape) == list(sd[k].shape) for k, v in osd["state"].items())
            r["steps"] = sorted({float(v["step"]) for v in osd["state"].values()})
            r["groups"] = [g["params"] for g in osd["param_groups"]]
            r["weight_decays"] = [g["weight_decay"] for g in osd["param_groups"]]
            r["old_equal_new"] = list(old["state"]) == list(osd["state"]) and all(
                np.array_equal(old["state"][k][n].numpy(), osd["state"][k][n].numpy())
                for k in osd["state"]
                for n in osd["state"][k]
            )
        dist.barrier()
        ckpt = bp.load(OUT / f"ckpt_{orig}.pt")
        for api in ("new", "old"):
            resumed, resumed_opt = _fsdp_run(orig, seed=123)
            resumed.load_state_dict(ckpt["model"])
            if api == "new":
                with FSDP.state_dict_type(resumed, StateDictType.FULL_STATE_DICT, cfg, ocfg):
                    mine = ckpt["optim"] if rank == 0 else {}  # (rank0_only: rank 0's is broadcast)
                    resumed_opt.load_state_dict(FSDP.optim_state_dict_to_load(resumed, resumed_opt, mine))
            else:
                resumed_opt.load_state_dict(FSDP.shard_full_optim_state_dict(ckpt["old"], resumed, optim=resumed_opt))
            _train(resumed, resumed_opt, "tfm", range(STEPS // 2, STEPS))
            r[f"{api}_resumed_bitwise"] = all(_gather(_compare(_full(resumed), _full(whole))["bitwise"]))
        out["orig" if orig else "flat"] = r
    return out


def sharded_state_dict_round_trip() -> dict[str, Any]:
    """SHARDED_STATE_DICT (flat shards and use_orig_params) and LOCAL_STATE_DICT: 5 steps, each rank saves its own
    model state dict and optimizer state (opt.state_dict()); a fresh model (another seed) on the same world loads
    them and takes 5 more steps: bitwise 10 uninterrupted steps."""
    out: dict[str, Any] = {}
    rank = dist.get_rank()
    for orig, kind in ((False, "SHARDED_STATE_DICT"), (True, "SHARDED_STATE_DICT"), (False, "LOCAL_STATE_DICT")):
        r: dict[str, Any] = {}
        sd_type = StateDictType[kind]
        whole, whole_opt = _fsdp_run(orig)
        _train(whole, whole_opt, "tfm", range(STEPS))
        first, first_opt = _fsdp_run(orig)
        _train(first, first_opt, "tfm", range(STEPS // 2))
        with FSDP.state_dict_type(first, sd_type):
            sd = first.state_dict()
            try:
                FSDP.optim_state_dict(first, first_opt)
                r["optim_error"] = "no error"
            except NotImplementedError as e:
                r["optim_error"] = str(e)
        r["keys"] = list(sd)
        r["numels"] = _gather({k: int(v.numel()) for k, v in sd.items()})
        path = OUT / f"sharded_{orig}_{kind}_{rank}.pt"
        bp.save({"model": sd, "optim": first_opt.state_dict()}, path)
        ckpt = bp.load(path)
        resumed, resumed_opt = _fsdp_run(orig, seed=123)
        with FSDP.state_dict_type(resumed, sd_type):
            result = resumed.load_state_dict(ckpt["model"])
        r["load_result"] = [result.missing_keys, result.unexpected_keys]
        r["loaded_equal_saved"] = all(_gather(_compare(_full(resumed), _full(first))["bitwise"]))
        resumed_opt.load_state_dict(ckpt["optim"])
        _train(resumed, resumed_opt, "tfm", range(STEPS // 2, STEPS))
        r["resumed_bitwise"] = all(_gather(_compare(_full(resumed), _full(whole))["bitwise"]))
        out[f"{kind}_{'orig' if orig else 'flat'}"] = r
    return out


# ------------------------------------------------------------------------------------------ FULL_SHARD's reshard
WIDE = 256  # the memory model's width: its parameters (4 units of 2 x 257 x 256) dwarf its activations (2 rows)


class Wide(nn.Module):
    """Two square layers: a unit of 131584 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(WIDE, WIDE)
        self.fc2 = nn.Linear(WIDE, WIDE)

    def forward(self, x: Any) -> Any:
        return x + self.fc2(F.gelu(self.fc1(x)))


def _wide() -> nn.Module:
    bp.manual_seed(0)
    return nn.Sequential(*[Wide() for _ in range(4)], nn.Linear(WIDE, 3))


def _wide_loss(model: Any, step: int) -> Any:
    n = 2 * dist.get_world_size()  # (2 rows per rank)
    x = np.random.default_rng(step).standard_normal((n, WIDE)).astype(np.float32)[dist.local_slice(n)]
    return model(bp.tensor(x)).pow(2).mean()


class _Counter:
    """Counts the all-gathers and reduce-scatters FSDP makes (``dist``'s functions wrapped), and how many units
    hold parameters gathered again for backward at each all-gather."""

    def __init__(self, units: list[Any]) -> None:
        self.units, self.counts = units, {"all_gather": 0, "reduce_scatter": 0}
        self.held: list[int] = []

    def __enter__(self) -> _Counter:
        self.saved = dist.all_gather_into_tensor, dist.reduce_scatter_tensor

        def all_gather(*a: Any, **k: Any) -> Any:
            self.counts["all_gather"] += 1
            self.held.append(sum(u._regathered is not None for u in self.units))
            return self.saved[0](*a, **k)

        def reduce_scatter(*a: Any, **k: Any) -> Any:
            self.counts["reduce_scatter"] += 1
            return self.saved[1](*a, **k)

        dist.all_gather_into_tensor, dist.reduce_scatter_tensor = all_gather, reduce_scatter
        return self

    def __exit__(self, *exc: object) -> None:
        dist.all_gather_into_tensor, dist.reduce_scatter_tensor = self.saved

    def take(self) -> dict[str, int]:
        out = dict(self.counts)
        self.counts = dict.fromkeys(self.counts, 0)
        return out


def reshard_memory() -> dict[str, Any]:
    """On each rank: the bytes allocated by a forward and still alive before backward (tracemalloc: NumPy reports
    its arrays to it), for FULL_SHARD and SHARD_GRAD_OP on the same model and batch (a step before, as warm-up)."""
    import gc
    import tracemalloc

    out: dict[str, Any] = {}
    for strategy in (ShardingStrategy.FULL_SHARD, ShardingStrategy.SHARD_GRAD_OP):
        model = FSDP(_wide(), auto_wrap_policy=ModuleWrapPolicy({Wide}), sharding_strategy=strategy)
        opt = _make_opt("sgd", model.parameters())
        for step in range(2):
            opt.zero_grad()
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            loss = _wide_loss(model, step)
            gc.collect()
            alive = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            loss.backward()
            opt.step()
        units = [u for u in FSDP.fsdp_modules(model) if not u._is_root]
        out[strategy.name] = _gather(
            {
                "alive_after_forward": alive,
                "unit_full_bytes": [4 * u._numel for u in units],
                "unit_shard_bytes": [4 * u._shard_numel for u in units],
                "root_full_bytes": 4 * model._numel,
                "regathered_after_backward": sum(u._regathered is not None for u in FSDP.fsdp_modules(model)),
            }
        )
    return out


def reshard_collectives() -> dict[str, Any]:
    """All-gathers and reduce-scatters per forward and per backward (the transformer: the root and 2 blocks), for
    each strategy, also under no_sync; the gradients of FULL_SHARD and SHARD_GRAD_OP are bitwise the same."""
    out: dict[str, Any] = {}
    grads = {}
    for strategy in (ShardingStrategy.FULL_SHARD, ShardingStrategy.SHARD_GRAD_OP, ShardingStrategy.NO_SHARD):
        model = FSDP(_model("tfm"), auto_wrap_policy=POLICY["tfm"], sharding_strategy=strategy, deterministic=True)
        units = FSDP.fsdp_modules(model)
        with _Counter(units) as c:
            steps = []
            for step in range(2):
                loss = _loss(model, "tfm", step)
                fwd = c.take()
                loss.backward()
                steps.append({"forward": fwd, "backward": c.take()})
            with model.no_sync():
                loss = _loss(model, "tfm", 2)
                fwd = c.take()
                loss.backward()
                steps.append({"forward": fwd, "backward": c.take(), "no_sync": True})
        out[strategy.name] = {
            "steps": steps,
            "units": len(units),
            "max_held_at_gather": max(c.held, default=0),
            "regathered_after_backward": sum(u._regathered is not None for u in units),
        }
        grads[strategy.name] = [u._flat_param.grad.numpy().tobytes() for u in units]
    out["full_shard_grads_equal_shard_grad_op"] = grads["FULL_SHARD"] == grads["SHARD_GRAD_OP"]
    return out


def _mlp_nested() -> nn.Module:
    """Every Linear its own unit (the middle one has one parameter: a unit of one slot); the root has none."""
    bp.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8, bias=False), nn.Tanh(), nn.Linear(8, 3))


def mlp_nested() -> dict[str, Any]:
    """FULL_SHARD with every Linear a unit (all reshard after forward) against DDP: Adam, STEPS steps."""
    base = _mlp_nested()
    ref = DDP(copy.deepcopy(base), deterministic=True)
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={nn.Linear})
    model = FSDP(base, auto_wrap_policy=policy, deterministic=True)
    opt, ref_opt = _make_opt("adam", model.parameters()), _make_opt("adam", ref.parameters())
    with _Counter(FSDP.fsdp_modules(model)) as c:
        _train(model, opt, "mlp", range(STEPS))
        counts = c.take()
    _train(ref, ref_opt, "mlp", range(STEPS))
    mine, theirs = _full(model), _full(ref.module)
    return {
        **_compare(mine, theirs),
        "bitwise_all_ranks": all(_gather(_compare(mine, theirs)["bitwise"])),
        "units": [u._numel for u in FSDP.fsdp_modules(model)],
        "counts": counts,
    }


MP_STEPS = 4


def _mp_reference(param_dtype: Any, reduce_dtype: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One process, torch's casts by hand: each rank's share of the batch computed in ``param_dtype`` by a plain
    copy of the float32 masters cast down (inputs cast too), its gradients cast to ``reduce_dtype``, summed in rank
    order, divided by the world size there, cast up to float32; SGD on the masters. The first step's flat
    gradient and the flat parameters after each step."""
    n, low = dist.get_world_size(), np.dtype(bp.tensor([0.0]).to(param_dtype).numpy().dtype)
    red = np.dtype(bp.tensor([0.0]).to(reduce_dtype).numpy().dtype)
    master_model = _model("mlp")
    opt = optim.SGD(master_model.parameters(), lr=0.05)  # (the update as FSDP's optimizer does it)
    masters = [p.detach().numpy() for p in master_model.parameters()]
    grads, params = [], []
    for step in range(MP_STEPS):
        rng = np.random.default_rng(step)
        x, y = rng.standard_normal((B, 6)).astype(np.float32), rng.integers(0, 3, B)
        total: list[Any] = []
        for r in range(n):
            m = _model("mlp")
            for p, w in zip(m.parameters(), masters):
                p.data = bp.tensor(w.astype(low))
            sl = dist.local_slice(B, r, n)
            F.cross_entropy(m(bp.tensor(x[sl]).to(param_dtype)), bp.tensor(y[sl])).backward()
            g = [p.grad.numpy().astype(red) for p in m.parameters()]
            total = g if not total else [a + b for a, b in zip(total, g)]
        up = [(t / red.type(n)).astype(red).astype(np.float32) for t in total]
        if step == 0:
            grads = [np.concatenate([u.reshape(-1) for u in up])]
        for p, u in zip(master_model.parameters(), up):
            p.grad = bp.tensor(u)
        opt.step()
        masters = [p.detach().numpy().copy() for p in master_model.parameters()]
        params.append(np.concatenate([w.reshape(-1) for w in masters]))
    return grads, params


def _mp_run(mp: MixedPrecision | None) -> tuple[np.ndarray, list[np.ndarray]]:
    model = FSDP(_model("mlp"), mixed_precision=mp, deterministic=True)
    opt = optim.SGD(model.parameters(), lr=0.05)
    flat = model._flat_param
    grad, params = None, []
    for step in range(MP_STEPS):
        opt.zero_grad()
        _loss(model, "mlp", step).backward()
        assert flat.grad.dtype == bp.float32 and flat.dtype == bp.float32
        if step == 0:
            grad = np.concatenate(_gather(flat.grad.numpy()))[: model._numel]
        opt.step()
        params.append(np.concatenate(_gather(flat.detach().numpy()))[: model._numel])
    return grad, params


def _mixed(param_dtype: Any, reduce_dtype: Any = None) -> dict[str, Any]:
    grad, params = _mp_run(MixedPrecision(param_dtype=param_dtype, reduce_dtype=reduce_dtype))
    ref_grads, ref_params = _mp_reference(param_dtype, reduce_dtype if reduce_dtype is not None else param_dtype)
    _, full = _mp_run(None)
    return {
        "grad_bitwise": grad.tobytes() == ref_grads[0].tobytes(),
        "grad_max_diff": float(np.max(np.abs(grad - ref_grads[0]))),
        "params_bitwise": [a.tobytes() == b.tobytes() for a, b in zip(params, ref_params)],
        "params_max_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(params, ref_params)),
        "vs_float32": float(np.max(np.abs(params[-1] - full[-1]))),
        "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(params[1:], params)),
    }


def mixed_fp16() -> dict[str, Any]:
    return _mixed(bp.float16)


def mixed_bf16() -> dict[str, Any]:
    return _mixed(bp.bfloat16)


def mixed_fp16_reduce_fp32() -> dict[str, Any]:
    return _mixed(bp.float16, bp.float32)


def main() -> None:
    run_scenarios(globals())


if __name__ == "__main__":
    main()
