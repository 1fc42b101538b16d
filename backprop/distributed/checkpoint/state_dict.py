"""``torch.distributed.checkpoint.state_dict``: one way to get and set model and optimizer state for plain
modules, DDP and FSDP, keyed by the original parameters' names (no ``module.``/``_fsdp_wrapped_module.`` parts).

Under FSDP the default (``full_state_dict=False``) gives each rank its parts: a parameter's (and its optimizer
state's) value is the 1-D part of the raveled parameter that the rank's flat shard holds, recorded (``_shards``)
with the parameter's shape and the part's offset so that ``save``/``load`` reshard it; torch's values are
DTensors of the whole shape. ``full_state_dict=True`` gives whole tensors on every rank (with ``cpu_offload``:
on rank 0 only, others ``{}``, as torch's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.autograd.grad_mode import no_grad
from backprop.distributed.checkpoint import _shards
from backprop.distributed.fsdp import (
    FullOptimStateDictConfig,
    FullStateDictConfig,
    FullyShardedDataParallel,
    StateDictType,
    _is_scalar_state,
    _optim_params,
    _owners,
)
from backprop.distributed.fsdp import _clean as _clean_fsdp
from backprop.nn.module import IncompatibleKeys, Module
from backprop.tensor import Tensor

__all__ = [
    "StateDictOptions",
    "get_model_state_dict",
    "get_optimizer_state_dict",
    "get_state_dict",
    "set_model_state_dict",
    "set_optimizer_state_dict",
    "set_state_dict",
]

FSDP = FullyShardedDataParallel
_WRAPPER_PARTS = ("module", "_orig_mod", "_checkpoint_wrapped_module")


@dataclasses.dataclass
class StateDictOptions:
    """torch's options: ``full_state_dict`` (whole tensors rather than each rank's parts), ``cpu_offload``
    (values on the CPU; with ``full_state_dict``, rank 0 only), ``ignore_frozen_params``, ``strict`` (model
    loading), ``broadcast_from_rank0`` (with ``full_state_dict``: only rank 0's dict is read, the others get it
    broadcast). ``keep_submodule_prefixes``, ``flatten_optimizer_state_dict`` and ``dsd_fqn_modifiers`` are
    accepted; the last two have no effect here."""

    full_state_dict: bool = False
    cpu_offload: bool = False
    ignore_frozen_params: bool = False
    keep_submodule_prefixes: bool = True
    strict: bool = True
    broadcast_from_rank0: bool = False
    flatten_optimizer_state_dict: bool = False
    dsd_fqn_modifiers: str = "_fqn_modifiers"


def _options(options: StateDictOptions | None) -> StateDictOptions:
    options = options or StateDictOptions()
    if options.broadcast_from_rank0 and not options.full_state_dict:
        raise ValueError("full_state_dict must be True when broadcast_from_rank0 is True.")
    return options


def _unwrap(model: Module) -> Module:
    """The module under DDP (and compiled) wrappers: its names are the original ones."""
    while True:
        inner = getattr(model, "module", None) if type(model).__name__ == "DistributedDataParallel" else None
        inner = inner if inner is not None else model.__dict__.get("_orig_mod")
        if not isinstance(inner, Module):
            return model
        model = inner


def _clean(name: str) -> str:
    """A parameter's FQN as torch's ``_get_fqns`` gives it: without FSDP's, DDP's and compile's wrapper parts."""
    parts = [p for p in _clean_fsdp(name).split(".") if p not in _WRAPPER_PARTS]
    return ".".join(parts)


def _fsdp_root(model: Module) -> FullyShardedDataParallel | None:
    units = FSDP.fsdp_modules(model)
    return units[0] if units else None


def _fsdp_parts(model: Module) -> dict[str, tuple[tuple[int, ...], int, int]]:
    """Every sharded FSDP parameter's FQN -> (its shape, the start and stop of this rank's part in it raveled)."""
    names = {id(m): _clean(n) for n, m in model.named_modules(remove_duplicate=False)}
    out: dict[str, tuple[tuple[int, ...], int, int]] = {}
    for unit in FSDP.fsdp_modules(model):
        if unit._flat_param_ref is None or not unit._sharded():
            continue
        start = unit._shard_start()
        for slot, (lo, hi) in zip(unit._slots, unit._shard_ranges()):
            a = min(max(lo + start - slot.offset, 0), slot.numel)
            for m, name in slot.places:
                prefix = names.get(id(m), "")
                out[f"{prefix}.{name}" if prefix else name] = (slot.shape, a, a + hi - lo)
    return out


def _offload(sd: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in sd.items():
        if isinstance(v, Tensor):
            part = _shards.info(v)
            v = v.cpu()
            if part is not None:
                _shards.mark(v, part.global_shape, part.start)
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------ model
def get_model_state_dict(
    model: Module, *, submodules: Any = None, options: StateDictOptions | None = None
) -> dict[str, Any]:
    """``model``'s state dict by original FQNs (a collective under FSDP: call it on every rank)."""
    if submodules is not None:
        raise NotImplementedError("get_model_state_dict: submodules= is deprecated in torch and not supported")
    options = _options(options)
    root = _fsdp_root(model)
    inner = _unwrap(model)
    if root is None:
        sd = {_clean(k): v.detach() if isinstance(v, Tensor) else v for k, v in inner.state_dict().items()}
    elif options.full_state_dict:
        config = FullStateDictConfig(offload_to_cpu=options.cpu_offload, rank0_only=options.cpu_offload)
        with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT, config):
            sd = {_clean(k): v for k, v in inner.state_dict().items()}
    else:
        with FSDP.state_dict_type(root, StateDictType.SHARDED_STATE_DICT):
            sd = {_clean(k): v for k, v in inner.state_dict().items()}
        for fqn, (shape, lo, _hi) in _fsdp_parts(model).items():
            if fqn in sd:
                _shards.mark(sd[fqn], shape, lo)
    if options.ignore_frozen_params:
        frozen = {_clean(n) for n, p in inner.named_parameters() if not p.requires_grad}
        sd = {k: v for k, v in sd.items() if k not in frozen}
    return _offload(sd) if options.cpu_offload else sd


def _broadcast_rank0(obj: Any) -> Any:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return obj
    holder = [obj if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def set_model_state_dict(
    model: Module, model_state_dict: Mapping[str, Any], *, options: StateDictOptions | None = None
) -> IncompatibleKeys:
    """Load ``model_state_dict`` (``get_model_state_dict``'s layout, of the same kind) into ``model``; returns the
    missing and unexpected keys (``strict=False``), as ``load_state_dict``."""
    options = _options(options)
    root = _fsdp_root(model)
    inner = _unwrap(model)
    if options.broadcast_from_rank0:
        model_state_dict = _broadcast_rank0(dict(model_state_dict))
    real = {_clean(k): k for k in inner.state_dict(keep_vars=True)}
    if root is None:
        remapped = {real.get(k, k): v for k, v in model_state_dict.items()}
        return inner.load_state_dict(remapped, strict=options.strict)
    if options.full_state_dict:
        with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT):
            return inner.load_state_dict(dict(model_state_dict), strict=options.strict)
    parts = _fsdp_parts(model)
    for fqn, v in model_state_dict.items():
        part = _shards.info(v)
        if fqn in parts and isinstance(v, Tensor):
            shape, lo, hi = parts[fqn]
            if part is None or tuple(part.global_shape) != tuple(shape) or part.start != lo or v.numel() != hi - lo:
                raise ValueError(
                    f"set_model_state_dict: {fqn} is not this rank's part of the parameter (shape {shape}, elements "
                    f"{lo}:{hi}); load it with dcp.load into get_model_state_dict's dict, or pass full_state_dict=True"
                )
    with FSDP.state_dict_type(root, StateDictType.SHARDED_STATE_DICT):
        return inner.load_state_dict(dict(model_state_dict), strict=options.strict)


# ------------------------------------------------------------------------------------------ optimizer
def _init_optim_state(optim: Any) -> None:
    """A fresh optimizer's state made by one step with zero gradients and lr 0 (torch's), so that there are
    tensors to load into."""
    if optim.state:
        return
    params = [p for g in optim.param_groups for p in g["params"]]
    if any(p.grad is not None for p in params):
        return
    with no_grad():
        for p in params:
            if p.requires_grad and p.numel() > 0:
                p.grad = p.detach() * 0
    lrs = []
    for g in optim.param_groups:
        if "lr" in g:
            lrs.append(g["lr"])
            g["lr"] = Tensor._of(np.float32(0.0)) if isinstance(g["lr"], Tensor) else 0.0
    optim.step()
    for g in optim.param_groups:
        if "lr" in g:
            g["lr"] = lrs.pop(0)
    optim.zero_grad(set_to_none=True)


def _as_tuple(optimizers: Any) -> tuple[Any, ...]:
    return tuple(optimizers) if isinstance(optimizers, Iterable) else (optimizers,)


def _param_fqns(model: Module) -> dict[int, str]:
    """id(parameter) -> FQN, for a model without FSDP units."""
    return {id(p): _clean(n) for n, p in _unwrap(model).named_parameters()}


def _sharded_optim_state(model: Module, optim: Any) -> dict[str, Any]:
    """FSDP: the optimizer's state by FQN, each tensor this rank's part of the parameter's (marked)."""
    owners = _owners(model)
    parts = _fsdp_parts(model)
    state: dict[str, Any] = {}
    for p in _optim_params(optim, owners):
        owner = owners[id(p)]
        st = dict.get(optim.state, id(p)) or {}
        st = {k: v for k, v in st.items() if not k.startswith("_")}
        if not st:
            continue
        unit = owner.unit
        if unit is None:
            state[owner.fqns[0]] = {k: v.detach().clone() if isinstance(v, Tensor) else v for k, v in st.items()}
            continue
        if owner.slot is not None:  # use_orig_params: the state is the parameter's part already
            shape, lo, _hi = parts[owner.fqns[0]]
            out: dict[str, Any] = {}
            for k, v in st.items():
                if _is_scalar_state(v, tuple(p.shape)):
                    out[k] = v.detach().clone() if isinstance(v, Tensor) else v
                else:
                    out[k] = _shards.mark(v.detach().clone().reshape(-1), shape, lo)
            state[owner.fqns[0]] = out
            continue
        for fqn, slot, (lo_s, hi_s) in zip(owner.fqns, unit._slots, unit._shard_ranges()):
            out = {}
            for k, v in st.items():
                if _is_scalar_state(v, (unit._shard_numel,)):
                    out[k] = v.detach().clone() if isinstance(v, Tensor) else v
                elif not unit._sharded():  # (NO_SHARD: whole, replicated)
                    out[k] = v.detach()[slot.offset : slot.offset + slot.numel].reshape(slot.shape).clone()
                else:
                    out[k] = _shards.mark(v.detach()[lo_s:hi_s].clone(), parts[fqn][0], parts[fqn][1])
            state[fqn] = out
    return state


def _groups(optim: Any, fqn_of: Any) -> list[dict[str, Any]]:
    groups = []
    for g in optim.state_dict()["param_groups"]:
        entry = {k: v for k, v in g.items() if k != "params"}
        entry["params"] = []
        groups.append(entry)
    for entry, g in zip(groups, optim.param_groups):
        entry["params"] = [f for p in g["params"] for f in fqn_of(p)]
    return groups


def get_optimizer_state_dict(
    model: Module, optimizers: Any, *, submodules: Any = None, options: StateDictOptions | None = None
) -> dict[str, Any]:
    """The optimizers' state as torch's ``{"state": {fqn: {...}}, "param_groups": [{..., "params": [fqn]}]}``
    (a fresh optimizer's state is made first by a zero step, torch's ``_init_optim_state``)."""
    if submodules is not None:
        raise NotImplementedError("get_optimizer_state_dict: submodules= is deprecated in torch and not supported")
    options = _options(options)
    root = _fsdp_root(model)
    state: dict[str, Any] = {}
    groups: list[dict[str, Any]] = []
    for optim in _as_tuple(optimizers):
        _init_optim_state(optim)
        if root is not None and options.full_state_dict:
            config = FullOptimStateDictConfig(offload_to_cpu=options.cpu_offload, rank0_only=options.cpu_offload)
            with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT, None, config):
                osd = FSDP.optim_state_dict(model, optim)
            if not osd:
                continue
            state.update(osd["state"])
            groups.extend(osd["param_groups"])
            continue
        if root is not None:
            owners = _owners(model)
            state.update(_sharded_optim_state(model, optim))
            groups.extend(_groups(optim, lambda p, owners=owners: owners[id(p)].fqns))
            continue
        fqns = _param_fqns(model)
        osd = optim.state_dict()
        params = [p for g in optim.param_groups for p in g["params"]]
        for index, st in osd["state"].items():
            state[fqns[id(params[index])]] = dict(st)
        groups.extend(_groups(optim, lambda p, fqns=fqns: [fqns[id(p)]]))
    if root is not None and options.full_state_dict and options.cpu_offload and dist.get_rank() != 0:
        return {}
    out = {"state": state, "param_groups": groups}
    if options.cpu_offload:
        out["state"] = {f: _offload(st) for f, st in state.items()}
    return out


def _split_groups(optim: Any, osd: Mapping[str, Any], offset: int) -> list[dict[str, Any]]:
    return [dict(g) for g in osd["param_groups"][offset : offset + len(optim.param_groups)]]


def _load_sharded_optim(model: Module, optim: Any, osd: Mapping[str, Any], groups: list[dict[str, Any]]) -> None:
    """FSDP: this rank's parts (``_sharded_optim_state``'s layout) back into ``optim``'s own layout."""
    owners = _owners(model)
    full_state: Mapping[str, Any] = osd["state"]
    state: dict[int, Any] = {}
    for index, p in enumerate(_optim_params(optim, owners)):
        owner, unit = owners[id(p)], owners[id(p)].unit
        if unit is None or owner.slot is not None:
            st = full_state.get(owner.fqns[0])
            if st is not None:
                state[index] = {
                    k: v.reshape(p.shape) if isinstance(v, Tensor) and _shards.info(v) is not None else v
                    for k, v in st.items()
                }
            continue
        flat = unit._flat_param_ref
        assert flat is not None
        xp = flat.device.xp
        out: dict[str, Any] = {}
        sharded = unit._sharded()
        for fqn, slot, (lo, hi) in zip(owner.fqns, unit._slots, unit._shard_ranges()):
            if not sharded:
                lo, hi = slot.offset, slot.offset + slot.numel
            for k, v in full_state.get(fqn, {}).items():
                whole = not sharded and isinstance(v, Tensor) and tuple(v.shape) == slot.shape and k != "step"
                if isinstance(v, Tensor) and (_shards.info(v) is not None or whole):
                    if k not in out:
                        out[k] = Tensor._wrap(xp.zeros(unit._shard_numel, dtype=v._data.dtype), flat.device, None)
                    out[k]._data[lo:hi] = xp.asarray(v._data).reshape(-1)
                else:
                    out.setdefault(k, v)
        if out:
            state[index] = out
    start = 0
    for g, entry in zip(optim.param_groups, groups):
        entry["params"] = list(range(start, start + len(g["params"])))
        start += len(g["params"])
    optim.load_state_dict({"state": state, "param_groups": groups})


def set_optimizer_state_dict(
    model: Module, optimizers: Any, optim_state_dict: Mapping[str, Any], *, options: StateDictOptions | None = None
) -> None:
    """Load ``optim_state_dict`` (``get_optimizer_state_dict``'s layout, of the same kind) into the optimizers."""
    options = _options(options)
    root = _fsdp_root(model)
    offset = 0
    for optim in _as_tuple(optimizers):
        _init_optim_state(optim)
        if root is not None and options.full_state_dict:
            config = FullOptimStateDictConfig(rank0_only=options.broadcast_from_rank0)
            with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT, None, config):
                groups = _split_groups(optim, optim_state_dict, offset) if optim_state_dict else []
                mine = {"state": optim_state_dict.get("state", {}), "param_groups": groups}
                FSDP.optim_state_dict_to_load(model, optim, mine, load_directly=True)
        elif root is not None:
            _load_sharded_optim(model, optim, optim_state_dict, _split_groups(optim, optim_state_dict, offset))
        else:
            if options.broadcast_from_rank0:
                optim_state_dict = _broadcast_rank0(dict(optim_state_dict))
            fqns = _param_fqns(model)
            params = [p for g in optim.param_groups for p in g["params"]]
            index = {fqns[id(p)]: i for i, p in enumerate(params)}
            groups = _split_groups(optim, optim_state_dict, offset)
            for entry in groups:
                missing = [f for f in entry["params"] if f not in index]
                if missing:
                    raise ValueError(f"set_optimizer_state_dict: the optimizer has no parameter {missing[0]}")
                entry["params"] = [index[f] for f in entry["params"]]
            state = {index[f]: dict(st) for f, st in optim_state_dict["state"].items() if f in index}
            optim.load_state_dict({"state": state, "param_groups": groups})
        offset += len(optim.param_groups)


# ------------------------------------------------------------------------------------------ both
def get_state_dict(
    model: Module, optimizers: Any, *, submodules: Any = None, options: StateDictOptions | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(get_model_state_dict(model), get_optimizer_state_dict(model, optimizers))``."""
    return (
        get_model_state_dict(model, submodules=submodules, options=options),
        get_optimizer_state_dict(model, optimizers, submodules=submodules, options=options),
    )


def set_state_dict(
    model: Module,
    optimizers: Any,
    *,
    model_state_dict: Mapping[str, Any],
    optim_state_dict: Mapping[str, Any],
    options: StateDictOptions | None = None,
) -> IncompatibleKeys:
    """``set_model_state_dict`` and ``set_optimizer_state_dict``; returns the model's missing/unexpected keys."""
    result = set_model_state_dict(model, model_state_dict, options=options)
    set_optimizer_state_dict(model, optimizers, optim_state_dict, options=options)
    return result
