"""``torch.distributed.fsdp``: ``FullyShardedDataParallel`` (torch's FSDP1 API), parameters sharded over the ranks.

Each FSDP unit (the root, and every submodule ``auto_wrap_policy`` picks, each its own instance) owns one flat
parameter: its modules' parameters (those not in a nested unit) raveled and concatenated in module order,
zero-padded to a multiple of the world size. Each rank keeps only its 1/world slice, the unit's ``_flat_param``
(a ``FlatParameter``, what ``parameters()`` yields), so an optimizer built on the wrapper updates shards: the
parameters, gradients and optimizer state between steps are 1/world of the model on each rank (ZeRO-3).

Forward all-gathers the flat parameter through ``_Unshard`` (a custom autograd Function) and puts views of it
(differentiable slices) where the module's parameters were; the Function's backward reduce-scatters the full
flat gradient and divides it by the world size (sums in rank order with ``deterministic``), so each shard's
``.grad`` is bitwise its slice of DDP's average. FULL_SHARD frees the gathered parameters after each unit's
forward (except the root's, as torch) and all-gathers them again in backward: while a unit's forward runs,
saved-tensor hooks turn every tensor an op saves that is a view of its gathered parameters into a token, which
backward unpacks from a fresh all-gather (one per unit per backward pass, dropped when the unit's ``_Unshard``
node has run). SHARD_GRAD_OP keeps the gathered parameters (held by the autograd graph) until backward.

``use_orig_params=True`` keeps the original parameters registered instead of the flat one: each is a 1-D view of
its part of the shard (the ``_Unshard`` node's inputs; its backward splits the reduced shard gradient among them).
``optim_state_dict`` consolidates the optimizer's state by original names (all-gathering each sharded state
tensor per unit) and ``optim_state_dict_to_load`` re-shards it; SHARDED_STATE_DICT and LOCAL_STATE_DICT give each
rank's parts as plain tensors (torch's are ShardedTensor/DTensor values).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import functools
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.autograd import engine
from backprop.autograd.custom import Function
from backprop.autograd.function import bump_version
from backprop.autograd.grad_mode import no_grad
from backprop.creation import empty
from backprop.distributed.fsdp._reshard import _release_task_user, _saving_tokens
from backprop.distributed.fsdp.wrap import ModuleWrapPolicy, _recursive_wrap
from backprop.dtypes import to_dtype
from backprop.nn.module import IncompatibleKeys, Module
from backprop.nn.parameter import Parameter
from backprop.ops.linalg import _address
from backprop.tensor import Tensor

__all__ = [
    "BackwardPrefetch",
    "CPUOffload",
    "FlatParameter",
    "FullOptimStateDictConfig",
    "FullStateDictConfig",
    "FullyShardedDataParallel",
    "LocalOptimStateDictConfig",
    "LocalStateDictConfig",
    "MixedPrecision",
    "OptimStateDictConfig",
    "ShardedOptimStateDictConfig",
    "ShardedStateDictConfig",
    "ShardingStrategy",
    "StateDictConfig",
    "StateDictSettings",
    "StateDictType",
]

FSDP_WRAPPED_MODULE = "_fsdp_wrapped_module"
FSDP_PREFIX = FSDP_WRAPPED_MODULE + "."
FLAT_PARAM = "_flat_param"


# ------------------------------------------------------------------------------------------ torch's option types
class ShardingStrategy(enum.Enum):
    """FULL_SHARD: parameters, gradients and optimizer state sharded, the gathered parameters freed after each
    unit's forward (but the root's) and gathered again in backward; SHARD_GRAD_OP: they stay gathered from forward
    to backward; NO_SHARD: DDP (full copies, gradients all-reduced). The hybrid ones are not supported."""

    FULL_SHARD = enum.auto()
    SHARD_GRAD_OP = enum.auto()
    NO_SHARD = enum.auto()
    HYBRID_SHARD = enum.auto()
    _HYBRID_SHARD_ZERO2 = enum.auto()


class BackwardPrefetch(enum.Enum):
    """Accepted for torch's signature; backward here does not overlap communication, so it has no effect."""

    BACKWARD_PRE = enum.auto()
    BACKWARD_POST = enum.auto()


class StateDictType(enum.Enum):
    """Which ``state_dict`` FSDP gives: FULL_STATE_DICT (the original module's keys, full tensors) only here."""

    FULL_STATE_DICT = enum.auto()
    LOCAL_STATE_DICT = enum.auto()
    SHARDED_STATE_DICT = enum.auto()


@dataclasses.dataclass
class CPUOffload:
    """``offload_params=True`` (keep shards on the host) is not supported; parameters stay on their device."""

    offload_params: bool = False


@dataclasses.dataclass
class MixedPrecision:
    """torch's fields and semantics: the sharded flat parameters stay in their dtype (the optimizer's master
    weights); forward all-gathers them cast to ``param_dtype`` (the shard is cast, then gathered), so the module
    computes in it; gradients are reduce-scattered in ``reduce_dtype`` (default: ``param_dtype``) and cast back
    to the shard's dtype (``keep_low_precision_grads=True`` is refused); floating buffers are cast to
    ``buffer_dtype`` at the root's forward; floating inputs of the root's forward are cast to ``param_dtype``
    (``cast_root_forward_inputs``), of the other units' with ``cast_forward_inputs``."""

    param_dtype: Any = None
    reduce_dtype: Any = None
    buffer_dtype: Any = None
    keep_low_precision_grads: bool = False
    cast_forward_inputs: bool = False
    cast_root_forward_inputs: bool = True
    _module_classes_to_ignore: Any = ()


@dataclasses.dataclass
class StateDictConfig:
    """Base of the state-dict configurations (``offload_to_cpu``: the full tensors on the host)."""

    offload_to_cpu: bool = False


@dataclasses.dataclass
class FullStateDictConfig(StateDictConfig):
    """FULL_STATE_DICT's options: ``rank0_only`` gives the dict on rank 0 and ``{}`` elsewhere."""

    rank0_only: bool = False


@dataclasses.dataclass
class LocalStateDictConfig(StateDictConfig):
    """LOCAL_STATE_DICT's options (none of its own)."""


@dataclasses.dataclass
class ShardedStateDictConfig(StateDictConfig):
    """SHARDED_STATE_DICT's options (``_use_dtensor``: torch's private field; no DTensor here)."""

    _use_dtensor: bool = False


@dataclasses.dataclass
class OptimStateDictConfig:
    """Base of the optimizer state-dict configurations (``offload_to_cpu``: the tensors on the host)."""

    offload_to_cpu: bool = True


@dataclasses.dataclass
class FullOptimStateDictConfig(OptimStateDictConfig):
    """``optim_state_dict``'s FULL_STATE_DICT options: ``rank0_only`` gives the dict on rank 0 and ``{}`` elsewhere
    (and ``optim_state_dict_to_load`` reads rank 0's)."""

    rank0_only: bool = False


@dataclasses.dataclass
class LocalOptimStateDictConfig(OptimStateDictConfig):
    """Accepted for torch's names; ``optim_state_dict`` is FULL_STATE_DICT only here."""

    offload_to_cpu: bool = False


@dataclasses.dataclass
class ShardedOptimStateDictConfig(OptimStateDictConfig):
    """Accepted for torch's names; ``optim_state_dict`` is FULL_STATE_DICT only here."""

    _use_dtensor: bool = False


@dataclasses.dataclass
class StateDictSettings:
    """What ``set_state_dict_type`` sets (and returns, the previous settings)."""

    state_dict_type: StateDictType
    state_dict_config: StateDictConfig
    optim_state_dict_config: Any


class FlatParameter(Parameter):
    """The shard of a unit's flat parameter on this rank (torch's type name)."""

    __slots__ = ()


# ------------------------------------------------------------------------------------------ the collectives
class _Unshard(Function):
    """The unit's parameters, as views of its full flat parameter all-gathered from the shards, from one node;
    backward joins their gradients into one flat buffer and reduce-scatters its average (``_reduce_grad``)."""

    @staticmethod
    def forward(ctx: Any, unit: FullyShardedDataParallel, *shards: Tensor) -> tuple[Tensor, ...]:
        flat = unit._flat_param_ref  # (use_orig_params: the inputs are the original parameters, views of it)
        assert flat is not None
        full = unit._gather(flat, unit._param_dtype())
        ctx.unit, ctx.n, ctx.inputs = unit, full.shape[0], len(shards)
        return tuple(full[s.offset : s.offset + s.numel].view(s.shape) for s in unit._slots)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> tuple[Tensor | None, ...]:
        unit = ctx.unit
        unit._free_regathered()  # (the unit's last node in backward: its ops have read their saved parameters)
        none: tuple[None, ...] = (None,) * (1 + ctx.inputs)
        ref = next((g for g in grads if g is not None), None)
        if ref is None:
            return none
        xp, dev = ref.device.xp, ref.device
        flat = xp.zeros(ctx.n, dtype=ref.dtype)
        for s, g in zip(unit._slots, grads):
            if g is not None:
                flat[s.offset : s.offset + s.numel] = g._data.reshape(-1)
        shard = unit._reduce_grad(Tensor._wrap(flat, dev, None))
        if shard is None:
            return none
        master = unit._flat_param_ref
        assert master is not None
        if shard._data.dtype != master._data.dtype:  # (the reduced gradient, cast to the shard's)
            shard = Tensor._wrap(shard._data.astype(master._data.dtype), dev, None)
        if not unit._use_orig_params:
            return None, shard
        # use_orig_params: each original parameter's gradient is its part of the shard's (torch: None where the
        # parameter has no elements on this rank)
        out: list[Tensor | None] = [None]
        for s, (lo, hi) in zip(unit._slots, unit._shard_ranges()):
            view = shard._data[lo:hi] if unit._sharded() else shard._data[lo:hi].reshape(s.shape)
            out.append(Tensor._wrap(view, dev, None) if hi > lo else None)
        return tuple(out)


@dataclasses.dataclass
class _Slot:
    """One original parameter in the flat one: its place, shape and every (module, attribute) it was at."""

    offset: int
    numel: int
    shape: tuple[int, ...]
    fqn: str
    places: list[tuple[Module, str]]


class FullyShardedDataParallel(Module):
    """Shard ``module``'s parameters over the ranks (torch's FSDP1): see the module's doc.

    ``auto_wrap_policy`` (``backprop.distributed.fsdp.wrap``'s policies, a ``ModuleWrapPolicy`` or a callable of
    their signature) wraps submodules in their own units first. ``deterministic`` (default: the process group's)
    sums gradients in rank order. ``use_orig_params=True``: ``parameters()`` yields the original parameters (the
    same objects), each a 1-D view of its part of this rank's shard (0 elements where it has none; NO_SHARD: its
    full shape), whose ``.grad`` is its part of the sharded gradient, as torch's. ``cpu_offload``,
    ``mixed_precision``: torch's (``MixedPrecision``'s doc). Hybrid sharding, ``param_init_fn`` and
    ``ignored_states`` are refused; the prefetch and all-gather limits are accepted and have no effect.
    """

    def __init__(
        self,
        module: Module,
        process_group: Any = None,
        sharding_strategy: ShardingStrategy | None = None,
        cpu_offload: CPUOffload | None = None,
        auto_wrap_policy: Callable | ModuleWrapPolicy | None = None,
        backward_prefetch: BackwardPrefetch | None = BackwardPrefetch.BACKWARD_PRE,
        mixed_precision: MixedPrecision | None = None,
        ignored_modules: Iterable[Module] | None = None,
        param_init_fn: Callable[[Module], None] | None = None,
        device_id: Any = None,
        sync_module_states: bool = False,
        forward_prefetch: bool = False,
        limit_all_gathers: bool = True,
        use_orig_params: bool = False,
        ignored_states: Any = None,
        device_mesh: Any = None,
        *,
        deterministic: bool | None = None,
    ) -> None:
        super().__init__()
        if not dist.is_initialized():
            raise ValueError(
                "Default process group has not been initialized, please make sure to call init_process_group."
            )
        _refuse_unsupported(process_group, sharding_strategy, cpu_offload, mixed_precision, param_init_fn)
        if ignored_states is not None:
            raise NotImplementedError("FullyShardedDataParallel: ignored_states is not supported; use ignored_modules")
        if process_group is not None and device_mesh is not None:
            raise ValueError(
                "Cannot pass both process_group and device_mesh at the same time. Please just pass only one of them."
            )
        if device_mesh is not None:
            if device_mesh.ndim != 1:
                raise NotImplementedError("FullyShardedDataParallel: only a 1-D device mesh is supported")
            process_group = device_mesh.get_group(mesh_dim=0)
        if isinstance(module, FullyShardedDataParallel):
            raise ValueError("FullyShardedDataParallel: the module is already wrapped by FullyShardedDataParallel")
        self.process_group = process_group
        self.mixed_precision = mixed_precision
        self.sharding_strategy = sharding_strategy or ShardingStrategy.FULL_SHARD
        self.deterministic = deterministic
        self.world_size = dist.get_world_size(process_group)
        self.rank = dist.get_rank(process_group)
        self._ignored_modules = {m for top in (ignored_modules or ()) for m in top.modules()}
        self._is_root = True
        self._use_orig_params = bool(use_orig_params)
        self._orig_params: list[Parameter] = []  # use_orig_params: the original parameters, one per slot
        self._flat_param_ref: FlatParameter | None = None
        self._sync_gradients = True
        self._accumulated: Any = None  # the unsharded local gradient accumulated under no_sync
        self._summoned: list[Parameter] | None = None  # the full parameters inside summon_full_params
        self._regathered: Any = None  # FULL_SHARD: the flat parameter gathered again in backward
        self._task_user = False  # FULL_SHARD: while this unit lives, backward passes are graph tasks
        self._state_dict_type = StateDictType.FULL_STATE_DICT
        self._state_dict_config: StateDictConfig = FullStateDictConfig()
        self._optim_state_dict_config: OptimStateDictConfig = FullOptimStateDictConfig()
        if auto_wrap_policy is not None:
            kwargs = {
                "process_group": process_group,
                "sharding_strategy": sharding_strategy,
                "cpu_offload": cpu_offload,
                "backward_prefetch": backward_prefetch,
                "mixed_precision": mixed_precision,
                "device_id": device_id,
                "sync_module_states": sync_module_states,
                "forward_prefetch": forward_prefetch,
                "limit_all_gathers": limit_all_gathers,
                "use_orig_params": use_orig_params,
                "deterministic": deterministic,
            }
            ignored_params = {id(p) for m in self._ignored_modules for p in m.parameters(recurse=False)}
            _recursive_wrap(
                module,
                auto_wrap_policy,
                functools.partial(FullyShardedDataParallel, **kwargs),
                self._ignored_modules,
                ignored_params,
                only_wrap_children=True,
            )
        self._fsdp_wrapped_module = module
        for m in module.modules():
            if isinstance(m, FullyShardedDataParallel):
                m._is_root = False
        self._flatten(module, sync_module_states)

    # ------------------------------------------------------------ construction
    def _own_modules(self, module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(name, module) of the tree under ``module`` outside nested units and ignored modules, each once."""
        seen: set[int] = set()
        stack = [(prefix, module)]
        while stack:
            name, m = stack.pop(0)
            if id(m) in seen or m in self._ignored_modules:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{n}" if name else n, c) for n, c in m._modules.items() if c is not None]
            stack[0:0] = [(n, c) for n, c in children if not isinstance(c, FullyShardedDataParallel)]

    def _flatten(self, module: Module, sync_module_states: bool) -> None:
        """Gather this unit's parameters into the flat one and keep this rank's shard of it."""
        slots: list[_Slot] = []
        where: dict[int, _Slot] = {}
        params: list[Parameter] = []
        offset = 0
        for mod_name, m in self._own_modules(module):
            for name, p in list(m._parameters.items()):
                if p is None:
                    continue
                if id(p) in where:  # (a shared parameter: one slot, every place it appears)
                    where[id(p)].places.append((m, name))
                    continue
                slot = _Slot(offset, p.numel(), tuple(p.shape), f"{mod_name}.{name}" if mod_name else name, [(m, name)])
                where[id(p)] = slot
                slots.append(slot)
                params.append(p)
                offset += p.numel()
        self._slots = slots
        self._numel = offset
        if not params:
            return
        if len({p.requires_grad for p in params}) > 1 and not self._use_orig_params:
            raise ValueError("Must flatten tensors with uniform `requires_grad` when `use_orig_params=False`")
        if len({p.dtype for p in params}) > 1:
            raise ValueError(
                f"Must flatten tensors with uniform dtype but got {sorted({str(p.dtype) for p in params})}"
            )
        if len({p.device for p in params}) > 1:
            raise ValueError(
                f"Must flatten tensors on the same device but got {sorted({str(p.device) for p in params})}"
            )
        first = params[0]
        xp = first.device.xp
        if sync_module_states and self.world_size > 1:
            with no_grad():
                buffers = [b for _, m in self._own_modules(module) for b in m._buffers.values() if b is not None]
                for t in [*params, *buffers]:
                    dist.broadcast(t, self._global(0), group=self.process_group)
        world = 1 if self.sharding_strategy is ShardingStrategy.NO_SHARD else self.world_size
        self._shard_numel = -(-offset // world) if offset else 0
        padded = self._shard_numel * world
        flat = xp.zeros(padded, dtype=first._data.dtype)
        for slot, p in zip(slots, params):
            flat[slot.offset : slot.offset + slot.numel] = p._data.reshape(-1)
        start = self.rank * self._shard_numel if world > 1 else 0
        shard = Tensor._wrap(flat[start : start + self._shard_numel].copy(), first.device, None)
        flat_param = FlatParameter(shard, requires_grad=any(p.requires_grad for p in params))
        object.__setattr__(self, "_flat_param_ref", flat_param)  # (not a parameter of the wrapper itself)
        if self._use_orig_params:  # (the original parameters stay registered, as views of the shard)
            self._orig_params = params
            self._use_sharded_views()
        else:
            for slot in slots:
                for m, name in slot.places:
                    del m._parameters[name]
            module.register_parameter(FLAT_PARAM, flat_param)
        self._drop_views()

    def _global(self, group_rank: int) -> int:
        return dist.get_global_rank(self.process_group, group_rank) if self.process_group is not None else group_rank

    def _shard_start(self) -> int:
        return self.rank * self._shard_numel if self._sharded() else 0

    def _shard_ranges(self) -> list[tuple[int, int]]:
        """Each slot's elements in this rank's shard: (start, stop) in the shard (stop == start: none)."""
        start = self._shard_start()
        out = []
        for s in self._slots:
            lo = min(max(s.offset - start, 0), self._shard_numel)
            hi = min(max(s.offset + s.numel - start, 0), self._shard_numel)
            out.append((lo, hi))
        return out

    def _sharded_view(self, slot: _Slot, lo: int, hi: int) -> Any:
        flat = self._flat_param_ref
        assert flat is not None
        return flat._data[lo:hi] if self._sharded() else flat._data[lo:hi].reshape(slot.shape)

    def _use_sharded_views(self) -> None:
        """use_orig_params: every original parameter's data is its part of the shard (torch's sharded views)."""
        for slot, p, (lo, hi) in zip(self._slots, self._orig_params, self._shard_ranges()):
            p._data = self._sharded_view(slot, lo, hi)
            for m, name in slot.places:
                m._parameters[name] = p

    def _writeback_orig_params(self) -> None:
        """use_orig_params: an original parameter whose data was replaced (``p.data = ...``) is copied into the
        shard and made a view of it again (torch's ``_writeback_orig_params``)."""
        flat = self._flat_param_ref
        assert flat is not None
        for slot, p, (lo, hi) in zip(self._slots, self._orig_params, self._shard_ranges()):
            view = self._sharded_view(slot, lo, hi)
            a = p._data
            if a.shape == view.shape and (a.size == 0 or _address(a) == _address(view)) and a.strides == view.strides:
                continue
            if a.size != view.size:
                raise RuntimeError(
                    f"FullyShardedDataParallel (use_orig_params=True): {slot.fqn} has shape {tuple(a.shape)}, "
                    f"expected its shard's {tuple(view.shape)}"
                )
            view[...] = a.reshape(view.shape)
            p._data = view
            bump_version(flat)

    # ------------------------------------------------------------ properties and torch's helpers
    @property
    def module(self) -> Module:
        """The wrapped module."""
        return self._fsdp_wrapped_module

    @property
    def _flat_param(self) -> FlatParameter | None:
        return self._flat_param_ref

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get(FSDP_WRAPPED_MODULE)
            if inner is None:
                raise
            return getattr(inner, name)

    def __getitem__(self, key: int) -> Any:
        return self._fsdp_wrapped_module.__getitem__(key)

    def check_is_root(self) -> bool:
        """Whether this instance is not nested in another one."""
        return self._is_root

    @staticmethod
    def fsdp_modules(module: Module, root_only: bool = False) -> list[FullyShardedDataParallel]:
        """The FSDP instances in ``module``'s tree (only the outermost ones with ``root_only``)."""
        found = [m for m in module.modules() if isinstance(m, FullyShardedDataParallel)]
        return [m for m in found if m._is_root] if root_only else found

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Any:
        """Module's, with ``_fsdp_wrapped_module.`` cut from the names inside ``summon_full_params`` (torch's)."""
        clean = any(u._summoned is not None for u in self.fsdp_modules(self))
        for name, p in super().named_parameters(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate):
            yield (name.replace(FSDP_PREFIX, "") if clean else name), p

    # ------------------------------------------------------------ forward and backward
    def _sharded(self) -> bool:
        return self.sharding_strategy is not ShardingStrategy.NO_SHARD

    def _param_dtype(self) -> Any:
        """The dtype forward gathers the parameters in (None: theirs)."""
        mp = self.mixed_precision
        return None if mp is None or mp.param_dtype is None else to_dtype(mp.param_dtype)

    def _gather(self, shard: Tensor, dtype: Any = None) -> Tensor:
        """The full (padded) flat parameter: every rank's shard in rank order (NO_SHARD: a copy); with ``dtype``,
        the shard cast to it, then gathered (torch's mixed precision)."""
        arr = shard._data
        if dtype is not None and arr.dtype != dtype:
            arr = arr.astype(dtype)
            if not self._sharded() or self.world_size == 1:
                return Tensor._wrap(arr, shard.device, None)
        if not self._sharded() or self.world_size == 1:
            return Tensor._wrap(arr.copy(), shard.device, None)
        full = Tensor._wrap(shard.device.xp.empty(arr.size * self.world_size, dtype=arr.dtype), shard.device, None)
        with no_grad():
            dist.all_gather_into_tensor(full, Tensor._wrap(arr, shard.device, None), group=self.process_group)
        return full

    def _reduce_grad(self, grad: Tensor) -> Tensor | None:
        """The shard's gradient: the full flat gradient (plus what ``no_sync`` accumulated) summed over the
        ranks and divided by their number, then this rank's slice; None under ``no_sync``."""
        g = grad._data
        mp = self.mixed_precision
        reduce_dtype = None if mp is None else mp.reduce_dtype if mp.reduce_dtype is not None else mp.param_dtype
        if reduce_dtype is not None:  # (torch: param_dtype by default)
            g = g.astype(to_dtype(reduce_dtype), copy=False)
        if not self._sync_gradients:
            self._accumulated = g.copy() if self._accumulated is None else self._accumulated + g
            return None
        if self._accumulated is not None:
            g, self._accumulated = self._accumulated + g, None
        device = grad.device
        det = {} if self.deterministic is None else {"deterministic": self.deterministic}
        with no_grad():
            if not self._sharded():
                out = Tensor._wrap(g.copy(), device, None)
                dist.all_reduce(out, dist.ReduceOp.SUM, group=self.process_group, **det)
            else:
                out = Tensor._wrap(device.xp.empty(self._shard_numel, dtype=g.dtype), device, None)
                whole = Tensor._wrap(device.xp.ascontiguousarray(g), device, None)
                dist.reduce_scatter_tensor(out, whole, dist.ReduceOp.SUM, group=self.process_group, **det)
        out._data /= self.world_size  # (DDP's average: the rank-order sum, then the division)
        return out

    def _use_views(self, views: tuple[Tensor, ...]) -> None:
        """Put views of the full flat parameter where the module's parameters were (plain attributes)."""
        for slot, view in zip(self._slots, views):
            for m, name in slot.places:
                m.__dict__[name] = view

    def _reshards_after_forward(self) -> bool:
        """FULL_SHARD frees the gathered parameters after forward, except the root's (torch's: they are about
        to be used by backward)."""
        return self.sharding_strategy is ShardingStrategy.FULL_SHARD and not self._is_root

    def _regather(self) -> tuple[Any, Any]:
        """The full flat parameter (array, device) for backward after a reshard: all-gathered at the first
        saved parameter that backward unpacks, then kept until the unit's backward ends (``_Unshard.backward``;
        or the backward pass, where that node does not run: ``autograd.grad`` of other inputs)."""
        flat = self._flat_param_ref
        assert flat is not None
        if self._regathered is None:
            with no_grad():
                self._regathered = self._gather(flat, self._param_dtype())._data
            task = engine.current_task()
            if task is not None:
                task.append(self._free_regathered)
        return self._regathered, flat.device

    def _free_regathered(self) -> None:
        self._regathered = None

    def _drop_views(self) -> None:
        """Outside forward the original parameters are meta-device placeholders (their shapes and dtype; torch's
        are views of freed memory): ``summon_full_params`` gives their values."""
        flat = self._flat_param_ref
        assert flat is not None
        if self._use_orig_params:  # (the original parameters show: the shard's views)
            for slot in self._slots:
                for m, name in slot.places:
                    m.__dict__.pop(name, None)
            return
        for slot in self._slots:
            placeholder = empty(slot.shape, dtype=flat.dtype, device="meta")
            for m, name in slot.places:
                m.__dict__[name] = placeholder

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """All-gather this unit's parameters, run the wrapped module with them, let them go: FULL_SHARD keeps
        tokens of the parameters that ops save for backward (which gathers them again), the other strategies
        the parameters themselves (the autograd graph keeps what backward needs)."""
        flat = self._flat_param_ref
        if flat is None or self._summoned is not None:
            return self._fsdp_wrapped_module(*args, **kwargs)
        self._regathered = None  # (a backward that did not reach this unit's _Unshard node and failed)
        args, kwargs = self._mixed_precision_pre_forward(args, kwargs)
        if self._use_orig_params:
            self._writeback_orig_params()
            out = _Unshard.apply(self, *self._orig_params)
        else:
            out = _Unshard.apply(self, flat)
        views = out if isinstance(out, tuple) else (out,)
        self._use_views(views)
        try:
            if not (self._reshards_after_forward() and views[0].grad_fn is not None):
                return self._fsdp_wrapped_module(*args, **kwargs)
            if not self._task_user:  # (backward passes run as graph tasks while this unit lives: see _regather)
                engine.graph_task_users[0] += 1
                weakref.finalize(self, _release_task_user)
                self._task_user = True
            # what the views are views of (one slot: the Function's output is the parameter itself)
            root = next((v._vbase for v in views if v._vbase is not None and v._vbase is not v), views[0])
            with _saving_tokens(root, self):
                return self._fsdp_wrapped_module(*args, **kwargs)
        finally:
            self._drop_views()

    def _mixed_precision_pre_forward(self, args: Any, kwargs: Any) -> tuple[Any, Any]:
        """torch's: the root casts the floating buffers to ``buffer_dtype`` (each unit's own setting) and, with
        ``cast_root_forward_inputs``, the floating inputs to ``param_dtype``; another unit casts its inputs with
        ``cast_forward_inputs``."""
        mp = self.mixed_precision
        if mp is None:
            return args, kwargs
        if self._is_root:
            for unit in self.fsdp_modules(self):
                bmp = unit.mixed_precision
                if bmp is None or bmp.buffer_dtype is None:
                    continue
                dtype = to_dtype(bmp.buffer_dtype)
                for _, m in unit._own_modules(unit._fsdp_wrapped_module):
                    for b in m._buffers.values():
                        if b is not None and b.is_floating_point() and b._data.dtype != dtype:
                            b._data = b._data.astype(dtype)
        cast = mp.cast_root_forward_inputs if self._is_root else mp.cast_forward_inputs
        dtype = self._param_dtype()
        if not cast or dtype is None:
            return args, kwargs

        def one(x: Any) -> Any:
            if isinstance(x, Tensor):
                return x.to(dtype) if x.is_floating_point() and x._data.dtype != dtype else x
            if isinstance(x, (list, tuple)):
                out = [one(v) for v in x]
                return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
            if isinstance(x, dict):
                return {k: one(v) for k, v in x.items()}
            return x

        return one(args), one(kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Generator[None, None, None]:
        """Backward passes inside accumulate unsharded local gradients; the next one outside reduces their sum
        (root only, as torch)."""
        if not self._is_root:
            raise RuntimeError(
                "`no_sync()` on inner FSDP instances is not supported. Please call `no_sync()` on root FSDP module."
            )
        units = self.fsdp_modules(self)
        old = [u._sync_gradients for u in units]
        for u in units:
            u._sync_gradients = False
        try:
            yield
        finally:
            for u, o in zip(units, old):
                u._sync_gradients = o

    # ------------------------------------------------------------ full parameters
    def _full_array(self) -> Any:
        flat = self._flat_param_ref
        assert flat is not None
        with no_grad():
            return self._gather(flat)._data

    def _install(self, full: Any) -> None:
        """The original parameters back in their modules, as Parameters over ``full`` (the flat one out)."""
        flat = self._flat_param_ref
        assert flat is not None
        device = flat.device
        installed = []
        for slot in self._slots:
            view = Tensor._wrap(full[slot.offset : slot.offset + slot.numel].reshape(slot.shape), device, None)
            p = Parameter(view, requires_grad=flat.requires_grad)
            for m, name in slot.places:
                m.__dict__.pop(name, None)
                m._parameters[name] = p
            installed.append(p)
        if not self._use_orig_params:
            del self._fsdp_wrapped_module._parameters[FLAT_PARAM]
        self._summoned = installed

    def _uninstall(self, full: Any, writeback: bool) -> None:
        """Take the original parameters out again; with ``writeback`` copy their values into the shard."""
        flat = self._flat_param_ref
        assert flat is not None and self._summoned is not None
        for slot in self._slots:
            m, name = slot.places[0]
            current = m._parameters.get(name)
            if writeback and current is not None:  # (a no-op copy unless the parameter was replaced)
                full[slot.offset : slot.offset + slot.numel] = current._data.reshape(-1)
            for m, name in slot.places:
                m._parameters.pop(name, None)
        self._summoned = None
        if writeback:
            start = self._shard_start()
            flat._data[...] = full[start : start + self._shard_numel]
            bump_version(flat)
        if self._use_orig_params:
            self._use_sharded_views()
        else:
            self._fsdp_wrapped_module._parameters[FLAT_PARAM] = flat
        self._drop_views()

    @staticmethod
    @contextlib.contextmanager
    def summon_full_params(
        module: Module,
        recurse: bool = True,
        writeback: bool = True,
        rank0_only: bool = False,
        offload_to_cpu: bool = False,
        with_grads: bool = False,
    ) -> Generator[None, None, None]:
        """Inside, the FSDP units in ``module`` (all of them with ``recurse``, else the outermost) have their
        original, full parameters back (gathered on every rank); ``writeback`` copies changes into the shards."""
        if writeback and rank0_only:
            raise NotImplementedError("writeback=True and rank0_only=True is not supported yet")
        if with_grads:
            raise NotImplementedError(
                f"with_grads=True, use_orig_params=False, offload_to_cpu={offload_to_cpu} is not supported yet"
            )
        units = FullyShardedDataParallel.fsdp_modules(module)
        if not recurse:
            units = [u for u in units if u is module or u._is_root] or units[:1]
        units = [u for u in units if u._flat_param_ref is not None and u._summoned is None]
        fulls = [u._full_array() for u in units]  # (every rank takes part in every gather)
        keep = not rank0_only or all(u.rank == 0 for u in units)
        done = []
        try:
            if keep:
                for u, f in zip(units, fulls):
                    u._install(f)
                    done.append((u, f))
            else:  # (rank0_only elsewhere: the units keep their shards; outside forward their parameters are absent)
                for u in units:
                    u._summoned = []
            yield
        finally:
            if keep:
                for u, f in reversed(done):
                    u._uninstall(f, writeback)
            else:
                for u in units:
                    u._summoned = None

    # ------------------------------------------------------------ state dicts
    @staticmethod
    def set_state_dict_type(
        module: Module,
        state_dict_type: StateDictType,
        state_dict_config: StateDictConfig | None = None,
        optim_state_dict_config: Any = None,
    ) -> StateDictSettings:
        """Set the state-dict type of every FSDP unit in ``module``; returns the previous settings."""
        types: dict[StateDictType, tuple[type[StateDictConfig], type[OptimStateDictConfig]]] = {
            StateDictType.FULL_STATE_DICT: (FullStateDictConfig, FullOptimStateDictConfig),
            StateDictType.SHARDED_STATE_DICT: (ShardedStateDictConfig, ShardedOptimStateDictConfig),
            StateDictType.LOCAL_STATE_DICT: (LocalStateDictConfig, LocalOptimStateDictConfig),
        }
        config_type, optim_type = types[state_dict_type]
        config = state_dict_config if state_dict_config is not None else config_type()
        if not isinstance(config, config_type):
            raise RuntimeError(f"Expected state_dict_config of type {config_type} but got {type(config)}")
        if optim_state_dict_config is None:
            optim_state_dict_config = optim_type()
        if not isinstance(optim_state_dict_config, optim_type):
            raise RuntimeError(
                f"Expected optim_state_dict_config of type {optim_type} but got {type(optim_state_dict_config)}"
            )
        units = FullyShardedDataParallel.fsdp_modules(module)
        if not units:
            raise ValueError("The model has no FullyShardedDataParallel module")
        if state_dict_type is StateDictType.LOCAL_STATE_DICT and any(u._use_orig_params for u in units):
            raise NotImplementedError(
                "FullyShardedDataParallel: LOCAL_STATE_DICT with use_orig_params=True is not supported "
                "(use SHARDED_STATE_DICT)"
            )
        prev = FullyShardedDataParallel.get_state_dict_type(module)
        for u in units:
            u._state_dict_type, u._state_dict_config, u._optim_state_dict_config = (
                state_dict_type,
                config,
                optim_state_dict_config,
            )
        return prev

    @staticmethod
    def get_state_dict_type(module: Module) -> StateDictSettings:
        """The state-dict settings of the FSDP units in ``module``."""
        units = FullyShardedDataParallel.fsdp_modules(module)
        if not units:
            raise ValueError("The model has no FullyShardedDataParallel module")
        u = units[0]
        return StateDictSettings(u._state_dict_type, u._state_dict_config, u._optim_state_dict_config)

    @staticmethod
    @contextlib.contextmanager
    def state_dict_type(
        module: Module,
        state_dict_type: StateDictType,
        state_dict_config: StateDictConfig | None = None,
        optim_state_dict_config: Any = None,
    ) -> Generator[None, None, None]:
        """``set_state_dict_type`` for the block, then the previous settings again."""
        prev = FullyShardedDataParallel.set_state_dict_type(
            module, state_dict_type, state_dict_config, optim_state_dict_config
        )
        try:
            yield
        finally:
            for u in FullyShardedDataParallel.fsdp_modules(module):
                u._state_dict_type = prev.state_dict_type
                u._state_dict_config = prev.state_dict_config
                u._optim_state_dict_config = prev.optim_state_dict_config

    @contextlib.contextmanager
    def _local_params(self) -> Generator[None, None, None]:
        """SHARDED_STATE_DICT, LOCAL_STATE_DICT: inside, every unit's module shows this rank's part (SHARDED: each
        original parameter as a Parameter over its part of the shard, 1-D, as use_orig_params'; LOCAL: the flat
        shard as ``_flat_param``); what is loaded into them lands in the shards."""
        sharded = self._state_dict_type is StateDictType.SHARDED_STATE_DICT
        units = [u for u in self.fsdp_modules(self) if u._summoned is None]
        done: list[FullyShardedDataParallel] = []
        try:
            for u in units:
                flat = u._flat_param_ref
                views: list[Parameter] = []
                if flat is not None and u._use_orig_params:
                    views = list(u._orig_params)
                elif flat is not None and sharded:
                    for slot, (lo, hi) in zip(u._slots, u._shard_ranges()):
                        p = Parameter(
                            Tensor._wrap(u._sharded_view(slot, lo, hi), flat.device, None), flat.requires_grad
                        )
                        for m, name in slot.places:
                            m.__dict__.pop(name, None)
                            m._parameters[name] = p
                        views.append(p)
                    del u._fsdp_wrapped_module._parameters[FLAT_PARAM]
                u._summoned = views
                done.append(u)
            yield
        finally:
            for u in reversed(done):
                flat = u._flat_param_ref
                if flat is not None and sharded and not u._use_orig_params:
                    for slot, (lo, hi) in zip(u._slots, u._shard_ranges()):
                        current = slot.places[0][0]._parameters.get(slot.places[0][1])
                        view = u._sharded_view(slot, lo, hi)
                        if current is not None and current._data is not view:  # (assign=True replaced it)
                            view[...] = current._data.reshape(view.shape)
                        for m, name in slot.places:
                            m._parameters.pop(name, None)
                    u._fsdp_wrapped_module._parameters[FLAT_PARAM] = flat
                    bump_version(flat)
                u._summoned = None
                if flat is not None:
                    u._drop_views()

    def state_dict(self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        """FULL_STATE_DICT: the original module's keys and full tensors (a collective: call it on every rank);
        ``{}`` off rank 0 under ``FullStateDictConfig(rank0_only=True)``. SHARDED_STATE_DICT: the original keys,
        each parameter's part of this rank's shard (1-D, possibly empty; torch's are ShardedTensor/DTensor values
        of the whole parameter); LOCAL_STATE_DICT: each unit's flat shard (with its padding) as ``_flat_param``
        (torch's: a ShardedTensor). Buffers and parameters outside the units: full, as always."""
        inner = self._fsdp_wrapped_module
        if self._summoned is not None:  # (inside an enclosing unit's gather, or summon_full_params)
            return inner.state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
        if self._state_dict_type is not StateDictType.FULL_STATE_DICT:
            with self._local_params():
                out = inner.state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
            if not keep_vars:
                for k, v in list(out.items()):
                    if isinstance(v, Tensor):
                        out[k] = v.detach().clone()
            return out
        config = self._state_dict_config
        rank0_only = isinstance(config, FullStateDictConfig) and config.rank0_only
        with FullyShardedDataParallel.summon_full_params(self, writeback=False):
            out = inner.state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
            for k, v in list(out.items()):
                if isinstance(v, Tensor) and not keep_vars:
                    out[k] = v.detach().clone()
        if rank0_only and dist.get_rank() != 0:
            return {}
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load a full state dict (the original module's keys; every rank passes the whole dict), or under
        SHARDED_STATE_DICT/LOCAL_STATE_DICT this rank's own (``state_dict``'s of the same type, same world size)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        if self._state_dict_type is StateDictType.FULL_STATE_DICT:
            context: Any = FullyShardedDataParallel.summon_full_params(self, writeback=True)
        else:
            context = self._local_params()
        with context:
            real = {name.replace(FSDP_PREFIX, ""): name for name, _ in self._state_items()}
            remapped: Any = OrderedDict((real.get(k, k), v) for k, v in state_dict.items())
            metadata = getattr(state_dict, "_metadata", None)
            if metadata is not None:
                remapped._metadata = OrderedDict()
                for name, _ in self.named_modules():
                    clean = name.replace(FSDP_PREFIX, "").replace(FSDP_WRAPPED_MODULE, "").rstrip(".")
                    if clean in metadata:
                        remapped._metadata[name] = metadata[clean]
            try:
                result = Module.load_state_dict(self, remapped, strict, assign)
            except RuntimeError as e:
                raise RuntimeError(str(e).replace(FSDP_PREFIX, "")) from None
        return IncompatibleKeys(
            [k.replace(FSDP_PREFIX, "") for k in result.missing_keys],
            [k.replace(FSDP_PREFIX, "") for k in result.unexpected_keys],
        )

    # ------------------------------------------------------------ optimizer state dicts
    @staticmethod
    def optim_state_dict(
        model: Module, optim: Any, optim_state_dict: dict[str, Any] | None = None, group: Any = None
    ) -> dict[str, Any]:
        """The optimizer's state, consolidated (FULL_STATE_DICT, a collective: call it on every rank): torch's
        layout keyed by the original parameters' names, ``{"state": {fqn: {"step": ..., "exp_avg": full tensor of
        the parameter's shape, ...}}, "param_groups": [{..., "params": [fqn, ...]}]}``; ``{}`` off rank 0 under
        ``FullOptimStateDictConfig(rank0_only=True)``. ``optim_state_dict`` (the optimizer's own) is ignored."""
        settings = FullyShardedDataParallel.get_state_dict_type(model)
        _full_only(settings.state_dict_type, "optim_state_dict")
        config = settings.optim_state_dict_config
        return _consolidate(
            model,
            optim,
            rank0_only=bool(getattr(config, "rank0_only", False)),
            offload=bool(getattr(config, "offload_to_cpu", True)),
            group=group,
        )

    @staticmethod
    def optim_state_dict_to_load(
        model: Module,
        optim: Any,
        optim_state_dict: dict[str, Any],
        is_named_optimizer: bool = False,
        load_directly: bool = False,
        group: Any = None,
    ) -> dict[str, Any]:
        """``optim_state_dict``'s consolidated state re-sharded for ``optim`` (whose parameters are ``model``'s):
        ``optim.load_state_dict`` takes it (``load_directly=True`` calls it). Under
        ``FullOptimStateDictConfig(rank0_only=True)`` only rank 0's dict is read (broadcast to the others)."""
        if is_named_optimizer:
            raise NotImplementedError("optim_state_dict_to_load: is_named_optimizer=True is not supported")
        settings = FullyShardedDataParallel.get_state_dict_type(model)
        _full_only(settings.state_dict_type, "optim_state_dict_to_load")
        if getattr(settings.optim_state_dict_config, "rank0_only", False):
            holder: list[Any] = [optim_state_dict if dist.get_rank(group) == 0 else None]
            dist.broadcast_object_list(holder, src=_group_global(group, 0), group=group)
            optim_state_dict = holder[0]
        result = _shard_state(model, optim, optim_state_dict)
        if load_directly:
            optim.load_state_dict(result)
        return result

    @staticmethod
    def full_optim_state_dict(
        model: Module, optim: Any, optim_input: Any = None, rank0_only: bool = True, group: Any = None
    ) -> dict[str, Any]:
        """torch's older API: ``optim_state_dict``'s consolidated state (on rank 0 only by default; a collective)."""
        if optim_input is not None:
            raise NotImplementedError("full_optim_state_dict: optim_input is not supported (torch deprecates it)")
        return _consolidate(model, optim, rank0_only=rank0_only, offload=True, group=group)

    @staticmethod
    def shard_full_optim_state_dict(
        full_optim_state_dict: dict[str, Any], model: Module, optim_input: Any = None, optim: Any = None
    ) -> dict[str, Any]:
        """torch's older API: this rank's part of ``full_optim_state_dict`` (every rank passes the whole dict),
        for ``optim.load_state_dict``. ``optim`` (the optimizer over ``model``'s parameters) is required here."""
        if optim_input is not None or optim is None:
            raise NotImplementedError(
                "shard_full_optim_state_dict: pass optim= (the optimizer to load into); optim_input is not supported"
            )
        return _shard_state(model, optim, full_optim_state_dict)

    @staticmethod
    def scatter_full_optim_state_dict(
        full_optim_state_dict: dict[str, Any] | None,
        model: Module,
        optim_input: Any = None,
        optim: Any = None,
        group: Any = None,
    ) -> dict[str, Any]:
        """``shard_full_optim_state_dict`` of rank 0's ``full_optim_state_dict`` (broadcast; a collective)."""
        holder: list[Any] = [full_optim_state_dict if dist.get_rank(group) == 0 else None]
        dist.broadcast_object_list(holder, src=_group_global(group, 0), group=group)
        return FullyShardedDataParallel.shard_full_optim_state_dict(holder[0], model, optim_input, optim)

    # ------------------------------------------------------------ gradient clipping
    def clip_grad_norm_(self, max_norm: float, norm_type: float = 2.0) -> Tensor:
        """Scale every shard's gradient so that the model's whole gradient has norm at most ``max_norm``
        (the norm of the shards' norms, combined over the ranks); returns that norm (root only, as torch)."""
        if not self._is_root:
            raise RuntimeError("`clip_grad_norm_()` should only be called on the root FSDP instance")
        norm_type = float(norm_type)
        sharded: list[Tensor] = []
        local: list[Tensor] = []
        other: set[int] = set()
        for u in self.fsdp_modules(self):
            owned = (
                u._orig_params if u._use_orig_params else [u._flat_param_ref] if u._flat_param_ref is not None else []
            )
            for p in owned:
                other.add(id(p))
                if p.grad is not None and id(p.grad) not in other:
                    other.add(id(p.grad))  # (a shared parameter: its gradient once)
                    (sharded if u._sharded() and u.world_size > 1 else local).append(p.grad)
        local += [p.grad for p in self.parameters() if id(p) not in other and p.grad is not None]
        grads = sharded + local
        first = grads[0] if grads else self._any_tensor()
        xp, device = first.device.xp, first.device

        def norm(gs: list[Tensor]) -> Any:
            if not gs:
                return xp.zeros((), dtype="float32")
            norms = [_vector_norm(xp, g._data.astype("float32"), norm_type) for g in gs]
            return _vector_norm(xp, xp.stack(norms), norm_type)

        total = Tensor._wrap(xp.asarray(norm(sharded), dtype="float32").reshape(1), device, None)
        if math.isinf(norm_type):
            dist.all_reduce(total, dist.ReduceOp.MAX, group=self.process_group)
            value = xp.maximum(total._data[0], norm(local))
        else:
            total._data **= norm_type
            dist.all_reduce(total, dist.ReduceOp.SUM, group=self.process_group)
            value = (total._data[0] + norm(local) ** norm_type) ** (1.0 / norm_type)
        value = xp.asarray(value, dtype="float32")
        coef = xp.minimum(xp.reciprocal(value + 1e-6) * float(max_norm), 1.0)  # (as nn.utils.clip_grad_norm_)
        with np.errstate(invalid="ignore"):
            for g in grads:
                g._data *= coef.astype(g._data.dtype)
        dtype = grads[0]._data.dtype if grads else "float32"
        return Tensor._wrap(xp.asarray(value, dtype=dtype), device, None)

    def _any_tensor(self) -> Tensor:
        for p in self.parameters():
            return p
        return Tensor._of(0.0)


def _vector_norm(xp: Any, g: Any, norm_type: float) -> Any:
    """``vector_norm(g, norm_type)`` of an array (torch's definitions of the p-norms)."""
    if math.isinf(norm_type):
        return xp.abs(g).max() if g.size else xp.zeros((), g.dtype)
    if norm_type == 0.0:
        return xp.asarray(xp.count_nonzero(g), dtype=g.dtype)
    if norm_type == 2.0:
        flat = g.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    return (xp.abs(g) ** norm_type).sum() ** (1.0 / norm_type)


def _refuse_unsupported(
    process_group: Any,
    sharding_strategy: ShardingStrategy | None,
    cpu_offload: CPUOffload | None,
    mixed_precision: MixedPrecision | None,
    param_init_fn: Any,
) -> None:
    """Clear errors for torch's options this implementation does not have."""
    if isinstance(process_group, tuple) or sharding_strategy in (
        ShardingStrategy.HYBRID_SHARD,
        ShardingStrategy._HYBRID_SHARD_ZERO2,
    ):
        raise NotImplementedError("FullyShardedDataParallel: hybrid sharding (HYBRID_SHARD) is not supported")
    if cpu_offload is not None and cpu_offload.offload_params:
        raise NotImplementedError("FullyShardedDataParallel: CPUOffload(offload_params=True) is not supported")
    if mixed_precision is not None and mixed_precision.keep_low_precision_grads:
        raise NotImplementedError(
            "FullyShardedDataParallel: MixedPrecision(keep_low_precision_grads=True) is not supported (the gradients "
            "are cast to the parameters' dtype)"
        )
    if param_init_fn is not None:
        raise NotImplementedError(
            "FullyShardedDataParallel: param_init_fn (meta-device initialisation) is not supported"
        )


# ------------------------------------------------------------------------------------------ optimizer state
def _full_only(kind: StateDictType, what: str) -> None:
    if kind is not StateDictType.FULL_STATE_DICT:
        raise NotImplementedError(f"FullyShardedDataParallel.{what}: {kind} is not supported (FULL_STATE_DICT only)")


def _group_global(group: Any, rank: int) -> int:
    return dist.get_global_rank(group, rank) if group is not None else rank


def _clean(name: str) -> str:
    """A name without FSDP's wrapper parts (the original module's)."""
    return name.replace(FSDP_PREFIX, "").replace(FSDP_WRAPPED_MODULE, "").rstrip(".")


@dataclasses.dataclass
class _Owner:
    """What an optimizer parameter is: a unit's flat parameter (``slot`` None), a unit's original parameter
    (use_orig_params: its slot), or a parameter outside every unit (``unit`` None)."""

    unit: FullyShardedDataParallel | None
    slot: int | None
    fqns: list[str]


def _owners(model: Module) -> dict[int, _Owner]:
    """Every parameter of ``model`` that an optimizer may hold, by id: its owner and original names."""
    out: dict[int, _Owner] = {}
    for name, m in model.named_modules():
        if isinstance(m, FullyShardedDataParallel) and m._flat_param_ref is not None:
            prefix = _clean(name)
            fqns = [f"{prefix}.{s.fqn}" if prefix else s.fqn for s in m._slots]
            if m._use_orig_params:
                for i, p in enumerate(m._orig_params):
                    out[id(p)] = _Owner(m, i, [fqns[i]])
            else:
                out[id(m._flat_param_ref)] = _Owner(m, None, fqns)
    for name, p in model.named_parameters():
        if id(p) not in out:
            out[id(p)] = _Owner(None, None, [_clean(name)])
    return out


def _optim_params(optim: Any, owners: dict[int, _Owner]) -> list[Any]:
    """The optimizer's parameters in its state dict's index order, each checked to be the model's."""
    params: list[Any] = []
    seen: set[int] = set()
    for group in optim.param_groups:
        for p in group["params"]:
            if id(p) in seen:
                continue
            if id(p) not in owners:
                raise ValueError("FullyShardedDataParallel: the optimizer holds a parameter that is not the model's")
            seen.add(id(p))
            params.append(p)
    return params


def _is_scalar_state(v: Any, shape: tuple[int, ...]) -> bool:
    return not isinstance(v, Tensor) or tuple(v.shape) != shape or (v.ndim == 0 and shape != ())


def _host_scalar(v: Any) -> Any:
    return ("t", v.numpy().copy()) if isinstance(v, Tensor) else ("v", copy.deepcopy(v))


def _from_host_scalar(v: Any) -> Any:
    kind, value = v
    return Tensor._wrap(np.array(value), Tensor._of(0.0).device, None) if kind == "t" else copy.deepcopy(value)


def _consolidate(model: Module, optim: Any, rank0_only: bool, offload: bool, group: Any) -> dict[str, Any]:
    """The optimizer's state by original names, each sharded state tensor all-gathered whole (every unit of
    ``model`` in order, on every rank)."""
    owners = _owners(model)
    params = _optim_params(optim, owners)
    in_optim = {id(p) for p in params}
    by_fqn: dict[str, dict[str, Any]] = {}
    for unit in FullyShardedDataParallel.fsdp_modules(model):
        flat = unit._flat_param_ref
        if flat is None:
            continue
        ranges = unit._shard_ranges()
        # this rank's state per slot: key -> ("shard", 1-D array of the slot's part) or ("scalar", host value)
        local: dict[int, dict[str, Any]] = {}
        if unit._use_orig_params:
            for i, p in enumerate(unit._orig_params):
                st = dict.get(optim.state, id(p)) if id(p) in in_optim else None
                for k, v in (st or {}).items():
                    if k.startswith("_"):
                        continue
                    if _is_scalar_state(v, tuple(p.shape)) or p.numel() == 0:
                        local.setdefault(i, {})[k] = ("scalar", _host_scalar(v))
                    else:
                        local.setdefault(i, {})[k] = ("shard", v._data.reshape(-1))
        else:
            st = dict.get(optim.state, id(flat)) if id(flat) in in_optim else None
            for k, v in (st or {}).items():
                if k.startswith("_"):
                    continue
                for i, (lo, hi) in enumerate(ranges):
                    if _is_scalar_state(v, (unit._shard_numel,)):
                        local.setdefault(i, {})[k] = ("scalar", _host_scalar(v))
                    else:
                        local.setdefault(i, {})[k] = ("shard", v._data[lo:hi])
        meta = {
            i: {k: (kind, str(val.dtype)) if kind == "shard" else (kind, val) for k, (kind, val) in st.items()}
            for i, st in local.items()
        }
        metas: list[Any] = [None] * unit.world_size
        dist.all_gather_object(metas, meta, group=unit.process_group)
        merged: dict[int, dict[str, Any]] = {}
        for m in metas:
            for i, st in m.items():
                for k, v in st.items():
                    merged.setdefault(int(i), {}).setdefault(k, v)
        keys = sorted({(k, v[1]) for st in merged.values() for k, v in st.items() if v[0] == "shard"})
        xp, device = flat.device.xp, flat.device
        fulls: dict[str, Any] = {}
        for k, dtype in keys:  # (the same keys, in the same order, on every rank: one gather each)
            shard = xp.zeros(unit._shard_numel, dtype=dtype)
            for i, (lo, hi) in enumerate(ranges):
                entry = local.get(i, {}).get(k)
                if entry is not None and entry[0] == "shard" and hi > lo:
                    shard[lo:hi] = entry[1]
            fulls[k] = unit._gather(Tensor._wrap(shard, device, None))._data
        prefix = owners_prefix(owners, unit)
        for i, st in sorted(merged.items()):
            slot = unit._slots[i]
            out: dict[str, Any] = {}
            for k, (kind, val) in st.items():
                if kind == "shard":
                    full = fulls[k][slot.offset : slot.offset + slot.numel].reshape(slot.shape).copy()
                    out[k] = Tensor._wrap(full, device, None)
                else:
                    out[k] = _from_host_scalar(val)
            by_fqn[prefix[i]] = out
    state: dict[str, Any] = {}
    for p in params:  # (torch's order: the optimizer's parameters')
        owner = owners[id(p)]
        if owner.unit is None:
            st = dict.get(optim.state, id(p))
            if st:
                state[owner.fqns[0]] = {k: _clone_value(v) for k, v in st.items() if not k.startswith("_")}
            continue
        for fqn in owner.fqns:
            if fqn in by_fqn:
                state[fqn] = by_fqn[fqn]
    if offload:
        state = {f: {k: v.cpu() if isinstance(v, Tensor) else v for k, v in st.items()} for f, st in state.items()}
    groups = []
    for g in optim.param_groups:
        entry = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
        entry["params"] = [fqn for p in g["params"] for fqn in owners[id(p)].fqns]
        groups.append(entry)
    if rank0_only and dist.get_rank(group) != 0:
        return {}
    return {"state": state, "param_groups": groups}


def owners_prefix(owners: dict[int, _Owner], unit: FullyShardedDataParallel) -> list[str]:
    """The original names of ``unit``'s slots."""
    if unit._use_orig_params:
        return [owners[id(p)].fqns[0] for p in unit._orig_params]
    assert unit._flat_param_ref is not None
    return owners[id(unit._flat_param_ref)].fqns


def _clone_value(v: Any) -> Any:
    return v.detach().clone() if isinstance(v, Tensor) else copy.deepcopy(v)


def _shard_state(model: Module, optim: Any, osd: Mapping[str, Any]) -> dict[str, Any]:
    """A consolidated state (``_consolidate``'s) as ``optim.state_dict()``'s layout: this rank's parts."""
    if not isinstance(osd, Mapping) or "state" not in osd or "param_groups" not in osd:
        raise ValueError("FullyShardedDataParallel: expected a consolidated optimizer state dict (optim_state_dict)")
    owners = _owners(model)
    params = _optim_params(optim, owners)
    full_state: Mapping[str, Any] = osd["state"]
    state: dict[int, Any] = {}
    for index, p in enumerate(params):
        owner, unit = owners[id(p)], owners[id(p)].unit
        if unit is None:
            if owner.fqns[0] in full_state:
                state[index] = {k: _clone_value(v) for k, v in full_state[owner.fqns[0]].items()}
            continue
        flat = unit._flat_param_ref
        assert flat is not None
        xp, device, start = flat.device.xp, flat.device, unit._shard_start()
        ranges = unit._shard_ranges()
        if owner.slot is not None:  # use_orig_params: the parameter's part of the shard
            slot, (lo, hi) = unit._slots[owner.slot], ranges[owner.slot]
            st = full_state.get(owner.fqns[0])
            if st is None or hi == lo:  # (no elements here: no state, as training leaves it)
                continue
            out: dict[str, Any] = {}
            for k, v in st.items():
                if _is_scalar_state(v, slot.shape) and not (slot.shape == () and k != "step"):
                    out[k] = _clone_value(v)
                else:
                    a = xp.asarray(v._data).reshape(-1)[lo + start - slot.offset : hi + start - slot.offset]
                    out[k] = Tensor._wrap(a.copy() if unit._sharded() else a.reshape(slot.shape).copy(), device, None)
            state[index] = out
            continue
        scalars: dict[str, Any] = {}
        whole: dict[str, Any] = {}  # key -> the full (padded) flat state
        for slot, fqn in zip(unit._slots, owner.fqns):
            for k, v in full_state.get(fqn, {}).items():
                if _is_scalar_state(v, slot.shape) and not (slot.shape == () and k != "step"):
                    scalars.setdefault(k, _clone_value(v))
                    continue
                if k not in whole:
                    padded = unit._shard_numel * (unit.world_size if unit._sharded() else 1)
                    whole[k] = xp.zeros(padded, dtype=v._data.dtype)
                whole[k][slot.offset : slot.offset + slot.numel] = xp.asarray(v._data).reshape(-1)
        if scalars or whole:
            shards = {
                k: Tensor._wrap(v[start : start + unit._shard_numel].copy(), device, None) for k, v in whole.items()
            }
            order = [k for fqn in owner.fqns for k in full_state.get(fqn, {})]
            state[index] = {k: {**scalars, **shards}[k] for k in dict.fromkeys(order)}
    mine = optim.state_dict()["param_groups"]
    theirs = osd["param_groups"]
    if len(theirs) != len(mine):
        raise ValueError(f"loaded optimizer state has {len(theirs)} parameter groups, this optimizer has {len(mine)}")
    groups = []
    for g_mine, g_theirs, g in zip(mine, theirs, optim.param_groups):
        expected = [fqn for p in g["params"] for fqn in owners[id(p)].fqns]
        if list(g_theirs["params"]) != expected:
            raise ValueError(
                f"FullyShardedDataParallel: the optimizer state's parameter group holds {list(g_theirs['params'])}, "
                f"this optimizer's {expected}"
            )
        entry = {k: copy.deepcopy(v) for k, v in g_theirs.items() if k != "params"}
        entry["params"] = list(g_mine["params"])
        groups.append(entry)
    return {"state": state, "param_groups": groups}


# FSDP2 (torch.distributed.fsdp.fully_shard & co.), over the saved-tensor tokens above
from backprop.distributed.fsdp._fully_shard import (  # noqa: E402
    CPUOffloadPolicy,
    FSDPModule,
    MixedPrecisionPolicy,
    OffloadPolicy,
    UnshardHandle,
    fully_shard,
)

__all__ += ["CPUOffloadPolicy", "FSDPModule", "MixedPrecisionPolicy", "OffloadPolicy", "UnshardHandle", "fully_shard"]
