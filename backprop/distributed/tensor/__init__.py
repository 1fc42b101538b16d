"""``torch.distributed.tensor``: a minimal ``DTensor`` (a global tensor laid out over a 1-D ``DeviceMesh``).

A DTensor is a Tensor whose array (``_data``) is this rank's local part, with the global ``shape``/``size()``/
``stride()`` and its ``device_mesh`` and ``placements``: ``Shard(dim)`` (torch.chunk's split of ``dim``: chunks
of ceil(n / world) elements, the last ranks' shorter or empty), ``Replicate()`` or ``Partial()`` (a pending sum).
In autograd it is its local tensor: ``to_local``, ``from_local``, ``redistribute``, ``full_tensor`` are
differentiable with torch's backward rules. Other ops run on the local parts where that is exact (elementwise ops
of DTensors with the same layout and scalars, the ``_foreach_*`` ops, ``detach``, ``copy_``); the rest raise
NotImplementedError naming the op (torch's sharding propagation is not implemented).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.autograd.custom import Function
from backprop.autograd.grad_mode import is_grad_enabled, no_grad
from backprop.distributed.device_mesh import DeviceMesh, init_device_mesh
from backprop.size import Size
from backprop.tensor import DisableTorchFunctionSubclass, Tensor, tf_activate, tf_active

__all__ = [
    "DTensor",
    "DeviceMesh",
    "Partial",
    "Placement",
    "Replicate",
    "Shard",
    "distribute_tensor",
    "init_device_mesh",
]


# ------------------------------------------------------------------------------------------ placements
class Placement:
    """Base of the placement types (torch's)."""

    def is_shard(self, dim: int | None = None) -> bool:
        """Whether this is a ``Shard`` (of ``dim`` when given)."""
        return isinstance(self, Shard) and (dim is None or self.dim == dim)

    def is_replicate(self) -> bool:
        """Whether this is ``Replicate()``."""
        return isinstance(self, Replicate)

    def is_partial(self, reduce_op: str | None = None) -> bool:
        """Whether this is a ``Partial`` (with ``reduce_op`` when given)."""
        return isinstance(self, Partial) and (reduce_op is None or self.reduce_op == reduce_op)


class Shard(Placement):
    """Split along ``dim`` as ``torch.chunk`` does: rank r holds chunk r (possibly shorter or empty)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shard) and other.dim == self.dim

    def __hash__(self) -> int:
        return hash(("Shard", self.dim))

    def __repr__(self) -> str:
        return f"Shard(dim={self.dim})"

    def __str__(self) -> str:
        return f"S({self.dim})"


class Replicate(Placement):
    """A full copy on every rank."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Replicate)

    def __hash__(self) -> int:
        return hash("Replicate")

    def __repr__(self) -> str:
        return "Replicate()"

    def __str__(self) -> str:
        return "R"


class Partial(Placement):
    """Every rank holds a term; the tensor is their sum (``reduce_op="sum"`` only here)."""

    def __init__(self, reduce_op: str = "sum") -> None:
        if reduce_op != "sum":
            raise NotImplementedError(f"Partial: only reduce_op='sum' is supported, got {reduce_op!r}")
        self.reduce_op = reduce_op

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Partial) and other.reduce_op == self.reduce_op

    def __hash__(self) -> int:
        return hash(("Partial", self.reduce_op))

    def __repr__(self) -> str:
        return f"Partial({self.reduce_op})"

    def __str__(self) -> str:
        return f"P({self.reduce_op})"


# ------------------------------------------------------------------------------------------ layout helpers
def _mesh_info(mesh: DeviceMesh) -> tuple[Any, int, int]:
    """(process group, world, this rank's index) of a 1-D mesh."""
    if mesh.ndim != 1:
        raise NotImplementedError("DTensor: only 1-D device meshes are supported here")
    return mesh.get_group(0), mesh.size(), mesh.get_local_rank(0)


def _chunk_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """torch.chunk's piece ``rank`` of ``n`` elements in ``world`` chunks: [start, stop)."""
    c = -(-n // world) if n else 0
    lo = min(rank * c, n)
    return lo, min(lo + c, n)


def _norm_placements(placements: Sequence[Placement] | None, ndim: int) -> tuple[Placement, ...]:
    out = tuple(placements) if placements is not None else (Replicate(),)
    if len(out) != 1:
        raise NotImplementedError("DTensor: only 1-D device meshes (one placement) are supported here")
    p = out[0]
    if not isinstance(p, Placement):
        raise TypeError(f"placements must be Placement objects, got {type(p).__name__}")
    if isinstance(p, Shard) and p.dim < 0:
        p = Shard(p.dim + ndim)
    if isinstance(p, Shard) and not 0 <= p.dim < ndim:
        raise IndexError(f"Shard(dim={p.dim}) is out of range for a tensor of {ndim} dimensions")
    return (p,)


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape)))


def _gather_shards(local: Any, dim: int, n: int, group: Any, world: int, device: Any) -> Any:
    """The full array from every rank's torch.chunk piece of ``dim`` (``n`` long): padded to equal chunks,
    all-gathered, trimmed."""
    xp = device.xp
    c = -(-n // world) if n else 0
    moved = xp.moveaxis(local, dim, 0)
    padded = xp.zeros((c, *moved.shape[1:]), dtype=local.dtype)
    padded[: moved.shape[0]] = moved
    out = Tensor._wrap(xp.empty((world * c, *moved.shape[1:]), dtype=local.dtype), device, None)
    with no_grad():
        dist.all_gather_into_tensor(out, Tensor._wrap(padded, device, None), group=group)
    return xp.ascontiguousarray(xp.moveaxis(out._data[:n], 0, dim))


def _all_reduce(arr: Any, group: Any, device: Any) -> Any:
    t = Tensor._wrap(device.xp.array(arr, copy=True), device, None)
    with no_grad():
        dist.all_reduce(t, dist.ReduceOp.SUM, group=group)
    return t._data


def _convert(arr: Any, shape: tuple[int, ...], src: Placement, dst: Placement, mesh: DeviceMesh, device: Any) -> Any:
    """This rank's array of a tensor of global ``shape`` moved from placement ``src`` to ``dst``."""
    if src == dst:
        return arr
    group, world, rank = _mesh_info(mesh)
    if isinstance(src, Shard):
        full = _gather_shards(arr, src.dim, shape[src.dim], group, world, device)
    elif isinstance(src, Partial):
        if isinstance(dst, Shard):  # (the sum, then this rank's chunk: reduce-scatter's values)
            full = _all_reduce(arr, group, device)
        else:
            return _all_reduce(arr, group, device)
    else:
        full = arr
    if isinstance(dst, Replicate):
        return full
    if isinstance(dst, Shard):
        lo, hi = _chunk_bounds(shape[dst.dim], world, rank)
        index = [slice(None)] * len(shape)
        index[dst.dim] = slice(lo, hi)
        return device.xp.ascontiguousarray(full[tuple(index)])
    # Replicate -> Partial: every rank holds the value over the world size (torch's _partition_value)
    if np.issubdtype(full.dtype, np.inexact):
        return (full / world).astype(full.dtype, copy=False)
    return full.copy() if rank == 0 else device.xp.zeros_like(full)


# ------------------------------------------------------------------------------------------ DTensor
def _make(local: Tensor, mesh: DeviceMesh, placements: tuple[Placement, ...], shape: tuple[int, ...]) -> DTensor:
    """A DTensor over ``local`` (same array, same place in the graph)."""
    if not tf_active[0] and tf_activate:  # (ops on DTensors go through __torch_function__)
        tf_activate[0]()
    with DisableTorchFunctionSubclass():
        alias = local.view(tuple(local._data.shape)) if local.grad_fn is not None else local
    out: Any = object.__new__(DTensor)
    for slot in ("_data", "device", "_grad", "grad_fn", "_requires_grad", "_version", "_base", "_hooks"):
        setattr(out, slot, getattr(alias, slot))
    out._grad = None
    out._dt_mesh, out._dt_placements, out._dt_shape = mesh, placements, tuple(shape)
    return out


_ELEMENTWISE = frozenset(
    "add add_ sub sub_ mul mul_ div div_ neg neg_ abs abs_ sqrt sqrt_ rsqrt exp exp_ sign sign_ lerp lerp_ "
    "addcmul addcmul_ addcdiv addcdiv_ clamp clamp_ clamp_min clamp_min_ clamp_max clamp_max_ maximum minimum "
    "pow pow_ zero_ fill_ copy_ square reciprocal reciprocal_ where __add__ __radd__ __iadd__ __sub__ __rsub__ "
    "__isub__ __mul__ __rmul__ __imul__ __truediv__ __rtruediv__ __itruediv__ __neg__ __pow__ __ipow__ "
    "detach detach_ clone requires_grad_ to float double half bfloat16 type_as contiguous zeros_like ones_like "
    "empty_like full_like".split()
)


class DTensor(Tensor):
    """A global tensor: this rank's part (``_local_tensor``) of it on ``device_mesh`` by ``placements``."""

    __slots__ = ("_dt_mesh", "_dt_placements", "_dt_shape")

    _dt_mesh: DeviceMesh
    _dt_placements: tuple[Placement, ...]
    _dt_shape: tuple[int, ...]

    # ------------------------------------------------------------ layout
    @property
    def device_mesh(self) -> DeviceMesh:
        """The mesh the tensor is laid out on."""
        return self._dt_mesh

    @property
    def placements(self) -> tuple[Placement, ...]:
        """One placement per mesh dimension."""
        return self._dt_placements

    @property
    def _local_tensor(self) -> Tensor:
        return Tensor._wrap(self._data, self.device, None)

    @property
    def shape(self) -> Size:
        """The global shape."""
        return Size.of(self._dt_shape)

    def size(self, dim: int | None = None) -> Any:
        """The global shape, or one dimension of it."""
        return Size.of(self._dt_shape) if dim is None else self._dt_shape[dim]

    def stride(self, dim: int | None = None) -> Any:
        """The global tensor's contiguous strides (torch's DTensor stride)."""
        s = _contiguous_strides(self._dt_shape)
        return s if dim is None else s[dim]

    @property
    def ndim(self) -> int:
        return len(self._dt_shape)

    def dim(self) -> int:
        """The global number of dimensions."""
        return len(self._dt_shape)

    def numel(self) -> int:
        """The global number of elements."""
        return int(np.prod(self._dt_shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self._dt_shape:
            raise TypeError("len() of a 0-d tensor")
        return self._dt_shape[0]

    @property
    def grad(self) -> Tensor | None:
        """The gradient, a DTensor with this tensor's layout (the engine accumulates local parts)."""
        g = self._grad
        if g is not None and not isinstance(g, DTensor):
            g = _make(g, self._dt_mesh, self._dt_placements, self._dt_shape)
            self._grad = g
        return g

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        Tensor.grad.fset(self, value)  # type: ignore[attr-defined]

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    def __repr__(self) -> str:
        local = Tensor._wrap(self._data, self.device, None)
        return f"DTensor(local_tensor={local!r}, device_mesh={self._dt_mesh!r}, placements={self._dt_placements})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise NotImplementedError("DTensor: pickling is not supported here; save full_tensor() or to_local()")

    # ------------------------------------------------------------ torch's API
    @staticmethod
    def from_local(
        local_tensor: Tensor,
        device_mesh: DeviceMesh | None = None,
        placements: Sequence[Placement] | None = None,
        *,
        run_check: bool = False,
        shape: Sequence[int] | None = None,
        stride: Sequence[int] | None = None,
    ) -> DTensor:
        """The DTensor whose part on this rank is ``local_tensor`` (differentiable: the gradient's local part).
        ``shape`` defaults to the local one with every Shard dimension's chunks summed over the ranks."""
        if device_mesh is None:
            raise NotImplementedError("DTensor.from_local: pass device_mesh (no default mesh here)")
        pl = _norm_placements(placements, local_tensor.ndim)
        group, world, _ = _mesh_info(device_mesh)
        if shape is None:
            gshape = list(local_tensor._data.shape)
            if isinstance(pl[0], Shard):
                sizes: list[Any] = [None] * world
                dist.all_gather_object(sizes, gshape[pl[0].dim], group=group)
                gshape[pl[0].dim] = int(sum(sizes))
            shape = gshape
        if run_check and isinstance(pl[0], Replicate):
            with no_grad():
                src = Tensor._wrap(local_tensor._data.copy(), local_tensor.device, None)
                dist.broadcast(src, dist.get_global_rank(group, 0) if group is not None else 0, group=group)
            local_tensor = (
                Tensor._wrap(src._data, local_tensor.device, None) if not local_tensor.requires_grad else local_tensor
            )
        return _make(local_tensor, device_mesh, pl, tuple(int(s) for s in shape))

    def to_local(self, *, grad_placements: Sequence[Placement] | None = None) -> Tensor:
        """This rank's part, a plain Tensor in the graph (its gradient is this DTensor's local gradient)."""
        with DisableTorchFunctionSubclass():
            out = Tensor.view(self, tuple(self._data.shape))
        return out.as_subclass(Tensor) if type(out) is not Tensor else out

    def redistribute(
        self,
        device_mesh: DeviceMesh | None = None,
        placements: Sequence[Placement] | None = None,
        *,
        async_op: bool = False,
        forward_dtype: Any = None,
        backward_dtype: Any = None,
    ) -> DTensor:
        """The same global tensor laid out by ``placements`` (collectives as torch's; differentiable: backward
        moves the gradient back, a Partial source taking it as Replicate)."""
        mesh = device_mesh if device_mesh is not None else self._dt_mesh
        if mesh != self._dt_mesh:
            raise NotImplementedError("DTensor.redistribute: moving to another mesh is not supported")
        dst = _norm_placements(placements if placements is not None else self._dt_placements, self.ndim)
        if isinstance(dst[0], Partial) and not isinstance(self._dt_placements[0], Partial):
            raise RuntimeError("redistribute to Partial is not allowed (torch: only Partial sources stay Partial)")
        local = _Redistribute.apply(self.to_local(), (self._dt_mesh, self._dt_shape), self._dt_placements[0], dst[0])
        return _make(local, mesh, dst, self._dt_shape)

    def full_tensor(self, *, grad_placements: Sequence[Placement] | None = None) -> Tensor:
        """The whole tensor on every rank (a differentiable all-gather or all-reduce)."""
        return self.redistribute(placements=[Replicate()]).to_local()

    # ------------------------------------------------------------ ops
    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        """Elementwise ops and ``_foreach_*`` ops on the local parts (exact); any other op raises."""
        from backprop.distributed.tensor import _ops  # (its handlers use this module's names)

        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name.startswith("_foreach_"):
            return _foreach(func, args, kwargs)
        if name == "requires_grad_":  # (the DTensor itself: it is a leaf like its local tensor)
            with DisableTorchFunctionSubclass():
                Tensor.requires_grad_(*args, **kwargs)
            return args[0]
        if name == "backward":  # (the local graph: every rank's local loss and gradient, as torch's)
            with DisableTorchFunctionSubclass():
                return Tensor.backward(*_local(list(args)), **{k: _local(v) for k, v in kwargs.items()})
        handler = _ops.HANDLERS.get(name)
        if handler is not None:
            return handler(func, args, kwargs)
        if name in _ELEMENTWISE or name in _ops.POINTWISE:
            if _same_layout([*args, *kwargs.values()]):
                return _elementwise(func, name, args, kwargs)
            return _ops.pointwise(func, name, args, kwargs)
        raise NotImplementedError(
            f"DTensor: {name} is not supported on DTensors here (torch's sharding propagation is implemented for "
            "the ops tensor parallelism uses: see README); use full_tensor() or to_local() first"
        )


_PARTIAL_SAFE = frozenset("detach detach_ clone requires_grad_ copy_ to contiguous".split())


def _same_layout(values: Sequence[Any]) -> bool:
    """Every DTensor argument has one mesh, placement and global shape, no plain Tensor but 0-d ones, and no
    Partial unless the op is a copy (the fast path: the op on the local parts)."""
    spec = None
    for v in values:
        for item in v if isinstance(v, (list, tuple)) else (v,):
            if isinstance(item, DTensor):
                s = (item._dt_mesh, item._dt_placements, item._dt_shape)
                if spec is not None and s != spec:
                    return False
                spec = s
            elif isinstance(item, Tensor) and item.ndim > 0:
                return False
    return spec is not None and not isinstance(spec[1][0], Partial)


def _spec_of(values: Any) -> tuple[DeviceMesh, tuple[Placement, ...], tuple[int, ...]] | None:
    found = None
    for v in values:
        for item in v if isinstance(v, (list, tuple)) else (v,):
            if isinstance(item, DTensor):
                spec = (item._dt_mesh, item._dt_placements, item._dt_shape)
                if found is not None and (found[1] != spec[1] or found[0] != spec[0]):
                    raise NotImplementedError("DTensor: elementwise ops need the same mesh and placements")
                found = found or spec
    return found


def _local(v: Any) -> Any:
    if isinstance(v, DTensor):  # (outside autograd: an alias of the array, which in-place ops may change)
        return DTensor.to_local(v) if v.requires_grad and is_grad_enabled() else Tensor._wrap(v._data, v.device, None)
    if isinstance(v, (list, tuple)):
        return type(v)(_local(x) for x in v)
    if isinstance(v, Tensor):
        if v.ndim == 0:
            return v
        raise RuntimeError(f"{type(v).__name__} and DTensor mixed in one op: convert the Tensor with distribute_tensor")
    return v


def _elementwise(func: Any, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    spec = _spec_of([*args, *kwargs.values()])
    assert spec is not None
    mesh, placements, shape = spec
    if isinstance(placements[0], Partial) and name not in {"detach", "detach_", "clone", "requires_grad_", "copy_"}:
        if name not in {"mul", "mul_", "div", "div_", "__mul__", "__rmul__", "__imul__", "__truediv__", "neg"}:
            raise NotImplementedError(f"DTensor: {name} on a Partial DTensor is not supported here")
    in_place = name.endswith("_") and not name.startswith("__") or name.startswith("__i")
    with DisableTorchFunctionSubclass():
        if name == "copy_" and isinstance(args[0], DTensor) and isinstance(args[1], DTensor):
            if args[1]._dt_placements != args[0]._dt_placements:
                src = args[1].redistribute(placements=args[0]._dt_placements)
            else:
                src = args[1]
            args[0]._data[...] = src._data
            args[0]._version += 1
            return args[0]
        out = func(*_local(list(args)), **{k: _local(v) for k, v in kwargs.items()})
    if in_place:
        args[0]._version += 1
        return args[0]
    if isinstance(out, Tensor):
        return _make(out, mesh, placements, shape if out._data.ndim == len(shape) else out._data.shape)
    return out


def _foreach(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``_foreach_*`` on lists that hold DTensors: the op on the local parts (elementwise: exact)."""
    lists = [a for a in args if isinstance(a, (list, tuple))]
    specs = [(t._dt_mesh, t._dt_placements, t._dt_shape) for t in lists[0]] if lists else []
    if any(isinstance(t, DTensor) and isinstance(t._dt_placements[0], Partial) for lst in lists for t in lst):
        raise NotImplementedError(f"DTensor: {func.__name__} on Partial DTensors is not supported here")
    with DisableTorchFunctionSubclass():
        out = func(*_local(list(args)), **{k: _local(v) for k, v in kwargs.items()})
    if func.__name__.endswith("_") or out is None:
        for t in lists[0] if lists else ():
            t._version += 1
        return out if out is None else args[0]
    return [_make(o, *s) for o, s in zip(out, specs)]


class _Redistribute(Function):
    """Local part of a DTensor moved between placements; backward moves the gradient back (torch's rules)."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, spec: tuple[DeviceMesh, tuple[int, ...]], src: Placement, dst: Placement
    ) -> Tensor:
        (ctx.mesh, ctx.shape), ctx.src, ctx.dst = spec, src, dst
        arr = _convert(x._data, ctx.shape, src, dst, ctx.mesh, x.device)
        if arr is x._data:
            arr = arr.copy()
        return Tensor._wrap(arr, x.device, None)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        src = Replicate() if isinstance(ctx.dst, Partial) else ctx.dst  # (the gradient's layout)
        back = Replicate() if isinstance(ctx.src, Partial) else ctx.src
        arr = _convert(g._data, ctx.shape, src, back, ctx.mesh, g.device)
        return Tensor._wrap(arr, g.device, None), None, None, None


def distribute_tensor(
    tensor: Tensor,
    device_mesh: DeviceMesh | None = None,
    placements: Sequence[Placement] | None = None,
    *,
    src_data_rank: int | None = 0,
) -> DTensor:
    """``tensor`` (rank ``src_data_rank``'s values, broadcast first; None: each rank's own) laid out by
    ``placements``; a leaf DTensor with ``tensor``'s ``requires_grad``."""
    if device_mesh is None:
        raise NotImplementedError("distribute_tensor: pass device_mesh (no default mesh here)")
    pl = _norm_placements(placements, tensor.ndim)
    if isinstance(pl[0], Partial):
        raise NotImplementedError("distribute_tensor: Partial placements are not supported (torch's: neither)")
    group, world, rank = _mesh_info(device_mesh)
    arr = tensor._data
    if src_data_rank is not None and world > 1:
        t = Tensor._wrap(arr.copy(), tensor.device, None)
        with no_grad():
            dist.broadcast(t, dist.get_global_rank(group, src_data_rank) if group is not None else src_data_rank, group)
        arr = t._data
    local = _convert(arr, tuple(arr.shape), Replicate(), pl[0], device_mesh, tensor.device)
    if local is tensor._data:
        local = local.copy()
    out = _make(Tensor._wrap(local, tensor.device, None), device_mesh, pl, tuple(arr.shape))
    if tensor.requires_grad:
        out._requires_grad = True
    return out


def _global_norms(grads: Sequence[Tensor], norms: list[Any], norm_type: float) -> list[Any]:
    """Each gradient's global ``norm_type``-norm from its local parts' norms: Shard parts combined in one
    all-reduce (the max for inf, else the sum of the p-th powers, then the p-th root), Replicate ones as they are."""
    sharded = [i for i, g in enumerate(grads) if isinstance(g, DTensor) and isinstance(g._dt_placements[0], Shard)]
    if not sharded:
        return norms
    g0: Any = grads[sharded[0]]
    group, world, _ = _mesh_info(g0._dt_mesh)
    xp, dev = g0.device.xp, g0.device
    vals = xp.stack([norms[i] for i in sharded])
    inf = math.isinf(norm_type)
    t = Tensor._wrap(vals if inf else vals**norm_type if norm_type else vals, dev, None)
    with no_grad():
        if inf:  # (-inf: the min)
            op = dist.ReduceOp.MAX if norm_type > 0 else dist.ReduceOp.MIN
            dist.all_reduce(t, op, group=group)
        else:
            dist.all_reduce(t, dist.ReduceOp.SUM, group=group)
    out = t._data if inf or not norm_type else t._data ** (1.0 / norm_type)
    norms = list(norms)
    for k, i in enumerate(sharded):
        norms[i] = out[k].astype(norms[i].dtype)
    return norms
