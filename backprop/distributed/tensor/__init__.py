"""``torch.distributed.tensor``: ``DTensor``, a global tensor laid out over an n-D ``DeviceMesh``.

A DTensor is a Tensor whose array (``_data``) is this rank's local part, with the global ``shape``/``size()``/
``stride()`` and its ``device_mesh`` and ``placements``, one per mesh dim: ``Shard(dim)`` (torch.chunk's split of
``dim``: chunks of ceil(n / size) elements, the last ones shorter or empty; several mesh dims sharding one tensor
dim cut it left to right, as torch's), ``Replicate()``, ``Partial()`` (a pending sum) or ``_StridedShard`` (FSDP2
over TP: that mesh dim cuts after the later ones). In autograd it is its local tensor: ``to_local``,
``from_local``, ``redistribute``, ``full_tensor`` are differentiable with torch's backward rules; moves run on the
mesh dims' groups. Elementwise ops of one layout and the ``_foreach_*`` ops run on the local parts; other ops
follow torch's sharding propagation (``_ops``: per mesh dim on n-D meshes); the rest raise NotImplementedError.
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
    "compute_local_shape_and_global_offset",
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


class _StridedShard(Placement):
    """torch's right-to-left sharding of ``dim`` (FSDP2 over tensor parallelism): this mesh dim chunks the part
    that the later mesh dims' shards of ``dim`` (``split_factor`` pieces in all) left on the rank."""

    def __init__(self, dim: int, split_factor: int) -> None:
        self.dim, self.split_factor = dim, split_factor

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _StridedShard) and (other.dim, other.split_factor) == (self.dim, self.split_factor)

    def __hash__(self) -> int:
        return hash(("_StridedShard", self.dim, self.split_factor))

    def __repr__(self) -> str:
        return f"_StridedShard(dim={self.dim}, sf={self.split_factor})"

    def __str__(self) -> str:
        return f"_S({self.dim}, {self.split_factor})"


# ------------------------------------------------------------------------------------------ layout helpers
def _mesh_info(mesh: DeviceMesh) -> tuple[Any, int, int]:
    """(process group, world, this rank's index) of a 1-D mesh."""
    if mesh.ndim != 1:
        raise NotImplementedError("DTensor: this op supports only 1-D device meshes here")
    return mesh.get_group(0), mesh.size(), mesh.get_local_rank(0)


def _dim_info(mesh: DeviceMesh, i: int) -> tuple[Any, int, int]:
    """(process group, size, this rank's coordinate) of mesh dimension ``i``."""
    return mesh.get_group(i), mesh.size(i), mesh.get_local_rank(i)


def _chunk_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """torch.chunk's piece ``rank`` of ``n`` elements in ``world`` chunks: [start, stop)."""
    c = -(-n // world) if n else 0
    lo = min(rank * c, n)
    return lo, min(lo + c, n)


def _norm_placements(
    placements: Sequence[Placement] | None, ndim: int, mesh: DeviceMesh | None = None
) -> tuple[Placement, ...]:
    """One placement per mesh dimension (default: all Replicate), negative Shard dims made positive."""
    mdim = mesh.ndim if mesh is not None else 1
    out: list[Placement] = list(placements) if placements is not None else [Replicate()] * mdim
    if len(out) != mdim:
        raise ValueError(f"`placements` must have the same length as `device_mesh.ndim`! Found placements length: "
                         f"{len(out)}, and device_mesh.ndim: {mdim}.")  # fmt: skip
    for i, p in enumerate(out):
        if not isinstance(p, Placement):
            raise TypeError(f"placements must be Placement objects, got {type(p).__name__}")
        if isinstance(p, (Shard, _StridedShard)) and p.dim < 0:
            p = Shard(p.dim + ndim) if isinstance(p, Shard) else _StridedShard(p.dim + ndim, p.split_factor)
            out[i] = p
        if isinstance(p, (Shard, _StridedShard)) and not 0 <= p.dim < ndim:
            raise IndexError(f"Shard(dim={p.dim}) is out of range for a tensor of {ndim} dimensions")
    if mesh is not None:
        _shard_order(tuple(out), mesh.shape)
    return tuple(out)


def _shard_order(placements: tuple[Placement, ...], sizes: tuple[int, ...]) -> list[int]:
    """The mesh dims whose shards apply, in the order they cut the tensor: Shard dims left to right, then the
    ``_StridedShard`` dims (torch's right-to-left sharding: a split factor equal to the product of the sizes of the
    later mesh dims that shard the same tensor dim, as FSDP2 over TP builds; other factors are refused)."""
    plain = [i for i, p in enumerate(placements) if isinstance(p, Shard)]
    strided = [i for i, p in enumerate(placements) if isinstance(p, _StridedShard)]
    for i in strided:
        p: Any = placements[i]
        later = [j for j in plain if j > i and placements[j].dim == p.dim]  # type: ignore[attr-defined]
        if p.split_factor != math.prod(sizes[j] for j in later):
            raise NotImplementedError(
                f"DTensor: {p!r} with a split factor other than the later shards' is not supported"
            )
    return plain + strided


def _local_steps(
    shape: tuple[int, ...], sizes: tuple[int, ...], placements: tuple[Placement, ...], coord: Sequence[int]
) -> tuple[tuple[int, ...], list[tuple[int, int, int, int, int]]]:
    """The local shape at mesh coordinate ``coord`` (a mesh of ``sizes``) and the shard steps that cut it out:
    (mesh dim, tensor dim, size before, lo, hi)."""
    cur = list(shape)
    steps = []
    for i in _shard_order(placements, sizes):
        k = placements[i].dim  # type: ignore[attr-defined]
        lo, hi = _chunk_bounds(cur[k], sizes[i], coord[i])
        steps.append((i, k, cur[k], lo, hi))
        cur[k] = hi - lo
    return tuple(cur), steps


def compute_local_shape_and_global_offset(
    global_shape: Sequence[int], mesh: DeviceMesh, placements: Sequence[Placement]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """torch's: this rank's local shape and the global index of its first element (for checkpoints)."""
    pl = _norm_placements(placements, len(global_shape), mesh)
    coord = [mesh.get_local_rank(i) for i in range(mesh.ndim)]
    return _layout_at(tuple(global_shape), mesh.shape, pl, coord)


def _layout_at(
    shape: tuple[int, ...], sizes: tuple[int, ...], placements: tuple[Placement, ...], coord: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The local shape and global offset at mesh coordinate ``coord`` (an empty shard: the dim's global size at
    that dim, as torch's)."""
    local, steps = _local_steps(shape, sizes, placements, coord)
    offset = [0] * len(shape)
    empty = set()
    for _, k, _, lo, hi in steps:
        if hi == lo:
            empty.add(k)
        offset[k] += lo
    return local, tuple(shape[k] if k in empty else o for k, o in enumerate(offset))


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape)))


def _gather_dim(local: Any, dim: int, n: int, group: Any, world: int, device: Any) -> Any:
    """The array of ``n`` along ``dim`` from every group member's torch.chunk piece: padded, all-gathered, trimmed."""
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


def _convert(
    arr: Any, shape: tuple[int, ...], src: tuple[Placement, ...], dst: tuple[Placement, ...], mesh: DeviceMesh,
    device: Any,
) -> Any:  # fmt: skip
    """This rank's array of a tensor of global ``shape`` moved from placements ``src`` to ``dst``: the source's
    shards all-gathered on their mesh dims' groups (last cut first), its Partial dims all-reduced (but those that
    stay Partial), then the destination's chunks cut out (Replicate -> Partial: the value over the dim's size)."""
    if src == dst:
        return arr
    xp = device.xp
    coord = [mesh.get_local_rank(i) for i in range(mesh.ndim)]
    _, s_steps = _local_steps(shape, mesh.shape, src, coord)
    _, d_steps = _local_steps(shape, mesh.shape, dst, coord)
    if s_steps and s_steps == d_steps[: len(s_steps)]:  # (the source's cuts stay: cut the new ones only)
        keep = len(s_steps)
    else:
        keep = 0
        for i, _k, n, _lo, _hi in reversed(s_steps):
            arr = _gather_dim(arr, _k, n, mesh.get_group(i), mesh.size(i), device)
    for i, (s, d) in enumerate(zip(src, dst)):
        if isinstance(s, Partial) and not isinstance(d, Partial):
            arr = _all_reduce(arr, mesh.get_group(i), device)
        elif isinstance(d, Partial) and not isinstance(s, Partial):
            if np.issubdtype(arr.dtype, np.inexact):  # (torch's _partition_value)
                arr = (arr / mesh.size(i)).astype(arr.dtype, copy=False)
            elif coord[i] != 0:
                arr = xp.zeros_like(arr)
    for _i, k, _n, lo, hi in d_steps[keep:]:
        index = [slice(None)] * len(shape)
        index[k] = slice(lo, hi)
        arr = xp.ascontiguousarray(arr[tuple(index)])
    return arr


# ------------------------------------------------------------------------------------------ DTensor
def _make(local: Tensor, mesh: DeviceMesh, placements: tuple[Placement, ...], shape: tuple[int, ...]) -> DTensor:
    """A DTensor over ``local`` (same array, same place in the graph)."""
    if not tf_active[0] and tf_activate:  # (ops on DTensors go through __torch_function__)
        tf_activate[0]()
    with DisableTorchFunctionSubclass():
        alias = local.view(tuple(local._data.shape)) if local.grad_fn is not None else local
    out: Any = object.__new__(DTensor)
    for slot in ("_data", "device", "_grad", "grad_fn", "_requires_grad", "_vc", "_vbase", "_hooks"):
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
        pl = _norm_placements(placements, local_tensor.ndim, device_mesh)
        if shape is None:  # (each shard's size summed over its mesh dim's group, the last cut first)
            gshape = list(local_tensor._data.shape)
            for i in reversed(_shard_order(pl, device_mesh.shape)):
                k = pl[i].dim  # type: ignore[attr-defined]
                sizes: list[Any] = [None] * device_mesh.size(i)
                dist.all_gather_object(sizes, gshape[k], group=device_mesh.get_group(i))
                gshape[k] = int(sum(sizes))
            shape = gshape
        if run_check and any(isinstance(p, Replicate) for p in pl):
            with no_grad():
                src = Tensor._wrap(local_tensor._data.copy(), local_tensor.device, None)
                for i, p in enumerate(pl):
                    if isinstance(p, Replicate):
                        _broadcast(src, device_mesh.get_group(i), 0)
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
        dst = _norm_placements(placements if placements is not None else self._dt_placements, self.ndim, mesh)
        for s, d in zip(self._dt_placements, dst):
            if isinstance(d, Partial) and not isinstance(s, Partial):
                raise RuntimeError("redistribute to Partial is not allowed (torch: only Partial sources stay Partial)")
        local = _Redistribute.apply(self.to_local(), (self._dt_mesh, self._dt_shape), self._dt_placements, dst)
        return _make(local, mesh, dst, self._dt_shape)

    def full_tensor(self, *, grad_placements: Sequence[Placement] | None = None) -> Tensor:
        """The whole tensor on every rank (a differentiable all-gather or all-reduce)."""
        return self.redistribute(placements=[Replicate()] * self._dt_mesh.ndim).to_local()

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
        if (name in _ELEMENTWISE or name in _ops.POINTWISE) and _same_layout([*args, *kwargs.values()]):
            return _elementwise(func, name, args, kwargs)
        if handler is not None or name in _ELEMENTWISE or name in _ops.POINTWISE:
            if handler is None:

                def handler(f: Any, a: Sequence[Any], k: dict[str, Any]) -> Any:
                    return _ops.pointwise(f, name, a, k)

            if any(isinstance(v, DTensor) and v._dt_mesh.ndim > 1 for v in _flat([*args, *kwargs.values()])):
                return _ops.dispatch(handler, func, args, kwargs)  # (the strategy chosen per mesh dim)
            return handler(func, args, kwargs)
        raise NotImplementedError(
            f"DTensor: {name} is not supported on DTensors here (torch's sharding propagation is implemented for "
            "the ops tensor parallelism uses: see README); use full_tensor() or to_local() first"
        )


def _flat(values: Sequence[Any]) -> list[Any]:
    return [x for v in values for x in (v if isinstance(v, (list, tuple)) else (v,))]


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
    return spec is not None and not any(isinstance(p, Partial) for p in spec[1])


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
    if any(isinstance(p, Partial) for p in placements) and name not in {
        "detach",
        "detach_",
        "clone",
        "requires_grad_",
        "copy_",
    }:
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
    if any(
        isinstance(t, DTensor) and any(isinstance(p, Partial) for p in t._dt_placements) for lst in lists for t in lst
    ):
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
        ctx: Any,
        x: Tensor,
        spec: tuple[DeviceMesh, tuple[int, ...]],
        src: tuple[Placement, ...],
        dst: tuple[Placement, ...],
    ) -> Tensor:
        (ctx.mesh, ctx.shape), ctx.src, ctx.dst = spec, src, dst
        arr = _convert(x._data, ctx.shape, src, dst, ctx.mesh, x.device)
        if arr is x._data:
            arr = arr.copy()
        return Tensor._wrap(arr, x.device, None)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        src = tuple(Replicate() if isinstance(p, Partial) else p for p in ctx.dst)  # (the gradient's layout)
        back = tuple(Replicate() if isinstance(p, Partial) else p for p in ctx.src)
        arr = _convert(g._data, ctx.shape, src, back, ctx.mesh, g.device)
        return Tensor._wrap(arr, g.device, None), None, None, None


def _broadcast(t: Tensor, group: Any, src: int) -> None:
    """Broadcast ``t`` in place from ``group``'s rank ``src``."""
    if group is None or dist.get_world_size(group) > 1:
        dist.broadcast(t, dist.get_global_rank(group, src) if group is not None else src, group)


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
    pl = _norm_placements(placements, tensor.ndim, device_mesh)
    if any(isinstance(p, Partial) for p in pl):
        raise NotImplementedError("distribute_tensor: Partial placements are not supported (torch's: neither)")
    arr = tensor._data
    if src_data_rank is not None and device_mesh.size() > 1:  # (from group rank src_data_rank on every mesh dim)
        t = Tensor._wrap(arr.copy(), tensor.device, None)
        with no_grad():
            for i in range(device_mesh.ndim):
                _broadcast(t, device_mesh.get_group(i), src_data_rank)
        arr = t._data
    local = _convert(arr, tuple(arr.shape), (Replicate(),) * len(pl), pl, device_mesh, tensor.device)
    if local is tensor._data:
        local = local.copy()
    out = _make(Tensor._wrap(local, tensor.device, None), device_mesh, pl, tuple(arr.shape))
    if tensor.requires_grad:
        out._requires_grad = True
    return out


def _global_norms(grads: Sequence[Tensor], norms: list[Any], norm_type: float) -> list[Any]:
    """Each gradient's global ``norm_type``-norm from its local parts' norms: the parts of gradients sharded on
    the same mesh dims combined in one all-reduce per such dim (the max for inf, else the sum of the p-th powers,
    then the p-th root), Replicate ones as they are."""
    buckets: dict[tuple[Any, tuple[int, ...]], list[int]] = {}
    for i, g in enumerate(grads):
        if isinstance(g, DTensor):
            dims = tuple(j for j, p in enumerate(g._dt_placements) if isinstance(p, (Shard, _StridedShard)))
            if dims:
                buckets.setdefault((g._dt_mesh, dims), []).append(i)
    if not buckets:
        return norms
    norms = list(norms)
    inf = math.isinf(norm_type)
    for (mesh, dims), sharded in buckets.items():
        g0: Any = grads[sharded[0]]
        xp, dev = g0.device.xp, g0.device
        vals = xp.stack([norms[i] for i in sharded])
        t = Tensor._wrap(vals if inf else vals**norm_type if norm_type else vals, dev, None)
        with no_grad():
            for j in dims:
                if inf:  # (-inf: the min)
                    op = dist.ReduceOp.MAX if norm_type > 0 else dist.ReduceOp.MIN
                    dist.all_reduce(t, op, group=mesh.get_group(j))
                else:
                    dist.all_reduce(t, dist.ReduceOp.SUM, group=mesh.get_group(j))
        out = t._data if inf or not norm_type else t._data ** (1.0 / norm_type)
        for k, i in enumerate(sharded):
            norms[i] = out[k].astype(norms[i].dtype)
    return norms
