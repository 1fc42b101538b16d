"""``torch.distributed.fsdp.fully_shard`` (FSDP2): per-parameter sharding with DTensor parameters.

``fully_shard(module)`` replaces each parameter the module owns (those not already managed by a nested
``fully_shard``) with a ``DTensor`` parameter sharded ``Shard(0)`` on a 1-D mesh (torch.chunk's rows: the last
ranks' shards may be shorter or empty; the all-gather pads them), and changes the module's class to
``FSDP<Class>`` (``FSDPModule`` first in its bases). Its forward all-gathers the unit's shards in one collective
(``_AllGather``, a custom autograd Function: the module computes with plain, full tensors), and the Function's
backward reduce-scatters the gradients in one collective and divides by the world size (DDP's average: bitwise
DDP's gradients, the local rows), so optimizers update the local shards. ``reshard_after_forward=True`` frees the
gathered parameters after forward (but the root's, as torch) and gathers them again in backward, through FSDP1's
saved-tensor tokens.

On a 2-D mesh (HSDP, ``("replicate", "shard")``) the parameters are ``(Replicate(), Shard(0))``: shards over dim 1,
gradients reduce-scattered over dim 1 and all-reduced over dim 0 (torch's order), or, when the job is
``deterministic``, reduced in one rank-order sum over every rank (DDP's bits). A parameter that is already a
DTensor (``parallelize_module`` first: torch's 2-D parallelism) keeps its TP layout: FSDP shards its local part over
the 1-D data-parallel mesh, the parameter becomes a DTensor of the two meshes joined (``(Shard(0), tp)``, or
``(_StridedShard(0, tp size), Shard(0))`` when TP shards dim 0, as torch's), and forward hands the module the TP
DTensor gathered over the data-parallel ranks.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.autograd import engine
from backprop.autograd.custom import Function
from backprop.autograd.grad_mode import is_grad_enabled, no_grad
from backprop.distributed.device_mesh import DeviceMesh, init_device_mesh
from backprop.distributed.fsdp._reshard import _release_task_user, _saving_tokens
from backprop.distributed.tensor import (
    DTensor,
    Placement,
    Replicate,
    Shard,
    _chunk_bounds,
    _make,
    _StridedShard,
)
from backprop.dtypes import to_dtype
from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.tensor import Tensor

__all__ = ["CPUOffloadPolicy", "FSDPModule", "MixedPrecisionPolicy", "OffloadPolicy", "UnshardHandle", "fully_shard"]


@dataclasses.dataclass(frozen=True)
class MixedPrecisionPolicy:
    """torch's: all-gather the shards cast to ``param_dtype`` (the module computes in it), reduce-scatter the
    gradients in ``reduce_dtype`` (default: ``param_dtype``), cast floating outputs to ``output_dtype`` and, with
    ``cast_forward_inputs``, floating inputs to ``param_dtype``."""

    param_dtype: Any = None
    reduce_dtype: Any = None
    output_dtype: Any = None
    cast_forward_inputs: bool = True


@dataclasses.dataclass
class OffloadPolicy:
    """No offloading (torch's default)."""


@dataclasses.dataclass
class CPUOffloadPolicy(OffloadPolicy):
    """Keeping shards on the host between uses: not supported here (``fully_shard`` refuses it)."""

    pin_memory: bool = True


class UnshardHandle:
    """What ``unshard(async_op=True)`` returns: the all-gather has already run here."""

    def wait(self) -> None:
        """Nothing to wait for."""


class DTensorParameter(DTensor, Parameter):
    """A DTensor registered as a module parameter (torch's ``nn.Parameter`` of a DTensor; FSDP2's shards)."""

    __slots__ = ()
    __torch_function__ = DTensor.__dict__["__torch_function__"]

    def __init__(self, data: DTensor, requires_grad: bool = True) -> None:  # noqa: D107 - see _as_parameter
        raise TypeError("use DTensorParameter.of(dtensor)")

    @staticmethod
    def of(d: DTensor, requires_grad: bool = True) -> DTensorParameter:
        """A leaf parameter over ``d``'s local array with its layout."""
        out: Any = object.__new__(DTensorParameter)
        out._adopt(d._data, d.device, None)
        out._dt_mesh, out._dt_placements, out._dt_shape = d._dt_mesh, d._dt_placements, d._dt_shape
        if requires_grad:
            out._requires_grad = True
        return out

    def __repr__(self) -> str:
        return "Parameter containing:\n" + DTensor.__repr__(self)


@dataclasses.dataclass
class _Param:
    """One sharded parameter: its DTensor, global shape, chunk rows and where in the gather buffers it lies."""

    places: list[tuple[Module, str]]
    dparam: DTensorParameter
    shape: tuple[int, ...]
    chunk: int  # rows of each rank's padded shard
    row: int  # elements per row
    offset: int  # in one rank's padded block
    full_offset: int  # in the gathered (unpadded) flat buffer
    tp: tuple[DeviceMesh, tuple[Placement, ...], tuple[int, ...]] | None = None  # a TP DTensor's layout


class _State:
    """One ``fully_shard`` unit: its parameters, mesh, options and per-step state (torch's FSDPParamGroup)."""

    def __init__(self, module: Module, mesh: DeviceMesh, reshard: bool, mp: MixedPrecisionPolicy) -> None:
        self.module, self.mesh, self.reshard_after_forward, self.mp = module, mesh, reshard, mp
        d = mesh.ndim - 1  # (HSDP: dim 0 replicates, dim 1 shards)
        self.group, self.world, self.rank = mesh.get_group(d), mesh.size(d), mesh.get_local_rank(d)
        self.replicate_group = mesh.get_group(0) if mesh.ndim == 2 else None
        self.replicas = mesh.size(0) if mesh.ndim == 2 else 1
        self.flat: tuple[Any, list[int]] | None = None  # (HSDP's one-group reduction: group, each rank's shard)
        if self.replicate_group is not None and dist._resolve(self.group).deterministic:  # type: ignore[union-attr]
            ranks = mesh.mesh.numpy()
            if ranks.size == dist.get_world_size():
                where = {int(r): c for (_, c), r in np.ndenumerate(ranks)}
                self.flat = (None, [where[r] for r in range(ranks.size)])
        self.params: list[_Param] = []
        self.block = 0  # elements of one rank's padded block
        self.full_numel = 0
        self.sync = True
        self.is_root: bool | None = None
        self.accumulated: list[Any] | None = None  # unsharded gradients under set_requires_gradient_sync(False)
        self._regathered: Any = None
        self._task_user = False
        self.unsharded: Any = None  # the gathered flat array between unshard() and reshard()

    # ------------------------------------------------------------ sharding
    def shard(self, managed: set[int]) -> None:
        """Replace the module's own parameters (those of its tree not in ``managed``) by Shard(0) DTensors."""
        seen: dict[int, _Param] = {}
        for m in self.module.modules():
            for name, p in list(m._parameters.items()):
                if p is None or id(p) in managed and id(p) not in seen:
                    continue
                if id(p) in seen:
                    seen[id(p)].places.append((m, name))
                    continue
                if p.ndim == 0:
                    raise NotImplementedError("fully_shard: 0-d parameters are not supported here")
                shape = tuple(p._data.shape)
                chunk = -(-shape[0] // self.world)
                row = int(p._data.size // shape[0]) if shape[0] else 0
                lo, hi = _chunk_bounds(shape[0], self.world, self.rank)
                local = Tensor._wrap(p._data[lo:hi].copy(), p.device, None)
                mesh, pl, gshape, tp = self._layout(p, shape)
                d = DTensor.from_local(local, mesh, pl, shape=gshape)
                dp = DTensorParameter.of(d, requires_grad=p.requires_grad)
                entry = _Param([(m, name)], dp, shape, chunk, row, self.block, self.full_numel, tp)
                self.block += chunk * row
                self.full_numel += p._data.size
                seen[id(p)] = entry
                self.params.append(entry)
        for e in self.params:
            for m, name in e.places:
                m._parameters[name] = e.dparam
        managed.update(id(e.dparam) for e in self.params)

    def _layout(
        self, p: Any, shape: tuple[int, ...]
    ) -> tuple[DeviceMesh, list[Placement], tuple[int, ...], tuple[Any, ...] | None]:
        """The sharded parameter's mesh, placements and global shape (torch's): ``Shard(0)`` on a 1-D mesh,
        ``(Replicate(), Shard(0))`` on HSDP's; a TP DTensor's local part sharded over the data-parallel mesh
        joined to its TP mesh, ``(Shard(0), tp)`` or, when TP shards dim 0 too, ``(_StridedShard(0, tp size),
        Shard(0))`` (torch's right-to-left sharding: TP cut first)."""
        if not isinstance(p, DTensor):
            pl: list[Placement] = [Shard(0)] if self.mesh.ndim == 1 else [Replicate(), Shard(0)]
            return self.mesh, pl, shape, None
        tp_mesh, tp_pl = p._dt_mesh, p._dt_placements
        if self.mesh.ndim != 1 or tp_mesh.ndim != 1:
            raise NotImplementedError("fully_shard: DTensor parameters need a 1-D FSDP mesh and a 1-D TP mesh here")
        if any(p_.is_partial() for p_ in tp_pl):
            raise NotImplementedError("fully_shard: Partial DTensor parameters are not supported")
        root = self.mesh._get_root_mesh()
        if tp_mesh._get_root_mesh() != root:
            raise ValueError("fully_shard: the DTensor parameter's mesh and the FSDP mesh must share a root mesh")
        spmd = DeviceMesh(
            self.mesh.device_type, _layout=self.mesh._layout + tp_mesh._layout, _rank_map=root._rank_map,
            mesh_dim_names=(*(self.mesh.mesh_dim_names or ("dp",)), *(tp_mesh.mesh_dim_names or ("tp",))),
            _root_mesh=root, _init_backend=False,
        )  # fmt: skip
        spmd._dim_groups = [self.mesh.get_group(0), tp_mesh.get_group(0)]
        dp_pl: Placement = _StridedShard(0, tp_mesh.size()) if tp_pl[0] == Shard(0) else Shard(0)
        return spmd, [dp_pl, tp_pl[0]], tuple(p._dt_shape), (tp_mesh, tp_pl, tuple(p._dt_shape))

    # ------------------------------------------------------------ collectives
    def _param_dtype(self) -> Any:
        return None if self.mp.param_dtype is None else to_dtype(self.mp.param_dtype)

    def gather(self) -> Any:
        """The unsharded parameters as one flat array (each parameter's elements at its ``full_offset``): the
        shards (cast to ``param_dtype``) padded into one block per rank and all-gathered in one collective."""
        first = self.params[0].dparam
        xp, dev = first.device.xp, first.device
        dtype = self._param_dtype() or first._data.dtype
        send = xp.zeros(self.block, dtype=dtype)
        for e in self.params:
            a = e.dparam._data
            send[e.offset : e.offset + a.size] = a.reshape(-1)
        recv = Tensor._wrap(xp.empty(self.world * self.block, dtype=dtype), dev, None)
        with no_grad():
            dist.all_gather_into_tensor(recv, Tensor._wrap(send, dev, None), group=self.group)
        blocks = recv._data.reshape(self.world, self.block)
        full = xp.empty(self.full_numel, dtype=dtype)
        for e in self.params:
            n = e.shape[0] * e.row
            full[e.full_offset : e.full_offset + n] = blocks[:, e.offset : e.offset + e.chunk * e.row].reshape(-1)[:n]
        return full

    def reduce(self, grads: list[Any]) -> list[Any] | None:
        """Each parameter's local gradient rows: the unsharded gradients (plus what was accumulated without
        sync) cast to ``reduce_dtype``, reduce-scattered (summed) in one collective, divided by the world size
        and cast to the parameter's dtype; None without gradient sync."""
        if self.accumulated is not None:
            grads = [g if a is None else a if g is None else a + g for a, g in zip(self.accumulated, grads)]
        if not self.sync:
            self.accumulated = [None if g is None else g.copy() for g in grads]
            return None
        self.accumulated = None
        ref = next(g for g in grads if g is not None)
        dev = self.params[0].dparam.device
        xp = dev.xp
        rd = self.mp.reduce_dtype if self.mp.reduce_dtype is not None else self.mp.param_dtype
        dtype = to_dtype(rd) if rd is not None else ref.dtype
        send = xp.zeros((self.world, self.block), dtype=dtype)
        for e, g in zip(self.params, grads):
            if g is None:
                continue
            padded = xp.zeros((self.world * e.chunk, e.row), dtype=dtype)
            padded[: e.shape[0]] = g.reshape(e.shape[0], e.row)
            send[:, e.offset : e.offset + e.chunk * e.row] = padded.reshape(self.world, -1)
        out = Tensor._wrap(xp.empty(self.block, dtype=dtype), dev, None)
        with no_grad():
            if self.flat is not None:  # (HSDP, deterministic: one rank-order sum over every rank, DDP's bits)
                rows = send[self.flat[1]]
                dist.reduce_scatter_tensor(out, Tensor._wrap(rows.reshape(-1), dev, None), group=self.flat[0])
            else:  # (torch's HSDP: reduce-scatter over the shard dim, all-reduce over the replicate dim)
                dist.reduce_scatter_tensor(out, Tensor._wrap(send.reshape(-1), dev, None), group=self.group)
                if self.replicate_group is not None and self.replicas > 1:
                    dist.all_reduce(out, dist.ReduceOp.SUM, group=self.replicate_group)
        out._data /= self.world * self.replicas  # (DDP's average: the rank-order sum, then the division)
        result = []
        for e, g in zip(self.params, grads):
            local = e.dparam._data
            part = out._data[e.offset : e.offset + local.size].reshape(local.shape)
            result.append(None if g is None else part.astype(local.dtype, copy=True))
        return result

    def regather(self) -> tuple[Any, Any]:
        """The unsharded flat array for backward after a reshard (gathered at the first saved parameter that
        backward unpacks, dropped when the unit's ``_AllGather`` node has run)."""
        if self._regathered is None:
            self._regathered = self.gather()
            task = engine.current_task()
            if task is not None:
                task.append(self._free_regathered)
        return self._regathered, self.params[0].dparam.device

    # (the names FSDP1's saved-tensor tokens call)
    _regather = regather

    def _free_regathered(self) -> None:
        self._regathered = None


class _AllGather(Function):
    """The unit's unsharded parameters, views of one gathered flat tensor; backward reduce-scatters."""

    @staticmethod
    def forward(ctx: Any, state: _State, *locals_: Tensor) -> tuple[Tensor, ...]:
        full = state.unsharded if state.unsharded is not None else state.gather()
        ctx.state = state
        dev = state.params[0].dparam.device
        flat = Tensor._wrap(full, dev, None)
        return tuple(flat[e.full_offset : e.full_offset + e.shape[0] * e.row].view(e.shape) for e in state.params)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> tuple[Any, ...]:
        state = ctx.state
        state._free_regathered()
        none = (None,) * (1 + len(grads))
        arrays = [None if g is None else g._data for g in grads]
        if all(a is None for a in arrays):
            return none
        out = state.reduce(arrays)
        if out is None:
            return none
        dev = state.params[0].dparam.device
        return (None, *(None if a is None else Tensor._wrap(a, dev, None) for a in out))


_active: list[_State] = []  # the units whose forward is running (the outermost: the root)


def _cast(x: Any, dtype: Any) -> Any:
    """Floating tensors in ``x`` (also in lists, tuples, dicts) cast to ``dtype``."""
    if isinstance(x, Tensor):
        return x.to(dtype) if x.is_floating_point() and x.dtype != dtype else x
    if isinstance(x, (list, tuple)):
        out = [_cast(v, dtype) for v in x]
        return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
    if isinstance(x, dict):
        return {k: _cast(v, dtype) for k, v in x.items()}
    return x


class FSDPModule:
    """The mixin ``fully_shard`` puts first in a module's class (``FSDP<Class>``): forward gathers the unit's
    parameters; ``unshard``/``reshard``, ``set_requires_gradient_sync`` and the other controls are torch's."""

    _fsdp_state: _State

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """torch's: constructing an ``FSDP<Class>`` (a container's slice does) builds the original class."""
        orig: Any = cls.__mro__[cls.__mro__.index(FSDPModule) + 1]
        self = orig.__new__(orig)
        self.__init__(*args, **kwargs)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Gather the parameters, run the module's own forward with them, let them go (``_State``)."""
        state = self._fsdp_state
        inner = super().forward  # type: ignore[misc]
        if not state.params:
            return inner(*args, **kwargs)
        if state.is_root is None:
            state.is_root = not _active
        dtype = state._param_dtype()
        if state.mp.cast_forward_inputs and dtype is not None:
            args, kwargs = _cast(args, dtype), _cast(kwargs, dtype)
        state._regathered = None
        views = _AllGather.apply(state, *(e.dparam.to_local() for e in state.params))
        views = views if isinstance(views, tuple) else (views,)
        views = tuple(v if e.tp is None else _make(v, *e.tp) for e, v in zip(state.params, views))
        for e, v in zip(state.params, views):
            for m, name in e.places:
                m.__dict__[name] = v
        _active.append(state)
        try:
            reshard = state.reshard_after_forward and not state.is_root and state.unsharded is None
            if not (reshard and is_grad_enabled() and views[0].grad_fn is not None):
                out = inner(*args, **kwargs)
            else:
                if not state._task_user:  # (backward passes run as graph tasks while this unit lives)
                    engine.graph_task_users[0] += 1
                    weakref.finalize(self, _release_task_user)
                    state._task_user = True
                root = next((v._vbase for v in views if v._vbase is not None and v._vbase is not v), views[0])
                with _saving_tokens(root, state):
                    out = inner(*args, **kwargs)
        finally:
            _active.pop()
            for e in state.params:
                for m, name in e.places:
                    m.__dict__.pop(name, None)
        if state.mp.output_dtype is not None:
            out = _cast(out, to_dtype(state.mp.output_dtype))
        return out

    def _units(self, recurse: bool = True) -> list[_State]:
        mods = self.modules() if recurse else [self]  # type: ignore[attr-defined]
        return [m._fsdp_state for m in mods if isinstance(m, FSDPModule)]

    def unshard(self, async_op: bool = False) -> UnshardHandle | None:
        """All-gather this unit's parameters now (the module's attributes show the full tensors until
        ``reshard``); the next forward uses them without gathering again."""
        state = self._fsdp_state
        if state.params and state.unsharded is None:
            state.unsharded = state.gather()
        return UnshardHandle() if async_op else None

    def reshard(self) -> None:
        """Free the parameters gathered by ``unshard``."""
        self._fsdp_state.unsharded = None

    def set_requires_gradient_sync(self, requires_gradient_sync: bool, *, recurse: bool = True) -> None:
        """False: backward accumulates unsharded local gradients (no reduce-scatter); the next backward with
        sync reduces their sum (torch's no_sync)."""
        for s in self._units(recurse):
            s.sync = bool(requires_gradient_sync)

    def set_reshard_after_forward(self, reshard_after_forward: bool, recurse: bool = True) -> None:
        """Change ``reshard_after_forward`` (of every unit in the tree with ``recurse``)."""
        for s in self._units(recurse):
            s.reshard_after_forward = bool(reshard_after_forward)

    def set_requires_all_reduce(self, requires_all_reduce: bool, *, recurse: bool = True) -> None:
        """HSDP's all-reduce switch: nothing to do on a 1-D mesh (accepted for torch's API); skipping HSDP's
        all-reduce is not supported here (False raises on an HSDP mesh)."""
        if not requires_all_reduce and any(s.replicate_group is not None for s in self._units(recurse)):
            raise NotImplementedError("set_requires_all_reduce(False) on an HSDP mesh is not supported here")

    def set_is_last_backward(self, is_last_backward: bool) -> None:
        """Accepted for torch's API (no effect here)."""

    def set_reshard_after_backward(self, reshard_after_backward: bool, *, recurse: bool = True) -> None:
        """Accepted for torch's API: parameters are always resharded after backward here."""

    def set_modules_to_forward_prefetch(self, modules: list[Any]) -> None:
        """Accepted for torch's API (no prefetching here)."""

    def set_modules_to_backward_prefetch(self, modules: list[Any]) -> None:
        """Accepted for torch's API (no prefetching here)."""


def fully_shard(
    module: Any,
    *,
    mesh: DeviceMesh | None = None,
    reshard_after_forward: bool | int | None = None,
    shard_placement_fn: Any = None,
    mp_policy: MixedPrecisionPolicy | None = None,
    offload_policy: OffloadPolicy | None = None,
    ignored_params: set[Any] | None = None,
) -> Any:
    """Shard ``module``'s parameters (those not already managed by a nested ``fully_shard``) over ``mesh``
    (default: the world, a 1-D mesh) and make its class ``FSDP<Class>``; returns the module."""
    if isinstance(module, (list, tuple)):
        raise NotImplementedError("fully_shard: a list of modules is not supported here")
    if isinstance(module, FSDPModule):
        raise AssertionError(
            "Each distinct composable distributed API can only be applied to a module once. fully_shard has "
            f"already been applied to the following module:\n{module}"
        )
    if not dist.is_initialized():
        raise ValueError("Default process group has not been initialized, please make sure to call init_process_group.")
    if reshard_after_forward is None:
        reshard_after_forward = True
    if not isinstance(reshard_after_forward, bool):
        raise NotImplementedError("fully_shard: reshard_after_forward as an int (a smaller mesh) is not supported")
    if shard_placement_fn is not None or ignored_params:
        raise NotImplementedError("fully_shard: shard_placement_fn and ignored_params are not supported here")
    if offload_policy is not None and type(offload_policy) is not OffloadPolicy:
        raise NotImplementedError("fully_shard: CPUOffloadPolicy is not supported here")
    if mesh is None:
        mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    if mesh.ndim > 2:
        raise NotImplementedError("fully_shard: only 1-D (FSDP) and 2-D (HSDP) meshes are supported here")
    managed: set[int] = set()
    for m in module.modules():
        if isinstance(m, FSDPModule):
            managed.update(id(e.dparam) for e in m._fsdp_state.params)
    state = _State(module, mesh, reshard_after_forward, mp_policy or MixedPrecisionPolicy())
    state.shard(managed)
    cls = type(module)
    new_cls = type(f"FSDP{cls.__name__}", (FSDPModule, cls), {"__module__": cls.__module__})
    module.__class__ = new_cls
    object.__setattr__(module, "_fsdp_state", state)
    return module
