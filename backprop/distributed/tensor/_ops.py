"""DTensor sharding propagation (torch's ``torch.distributed.tensor._ops``) for what tensor parallelism needs.

Each handler picks the output placement as torch's strategies do: every candidate layout of the output with the
input layouts it needs, costed by the collectives that moving the inputs there takes (Replicate -> Shard and
Replicate -> Partial are free, Shard -> Replicate an all-gather, Partial -> Replicate an all-reduce), the cheapest
taken (ties: Shard candidates first, then Partial, then Replicate). The inputs are redistributed (differentiably),
the op runs on the local tensors (so autograd records it as it is), and the result is wrapped as a DTensor.

Gradients come back in each input's own placement: where a Replicate input feeds a Shard or Partial output, every
rank's local gradient is a term of the true one, so ``_AllReduceGrad`` (identity forward) sums them in backward
(torch reaches the same values by redistributing the Partial gradient).

On an n-D mesh (``dispatch``) the strategy is chosen per mesh dimension, as torch expands its strategies: each
handler runs once per dim in planning mode (``_pl``/``_cost`` read that dim; ``_move`` records the input
placement it wants there; the handler stops at ``_planned`` with the output placement), the inputs are moved to
the combined placements in one redistribute each, and the handler runs again on them to compute (``_local`` and
``_make`` use the planned output placements).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.autograd.custom import Function
from backprop.autograd.grad_mode import is_grad_enabled, no_grad
from backprop.distributed.tensor import (
    DTensor,
    Partial,
    Placement,
    Replicate,
    Shard,
    _local_steps,
    _make,
    _Redistribute,
    _StridedShard,
)
from backprop.tensor import DisableTorchFunctionSubclass, Tensor

_R, _P = Replicate(), Partial()
Handler = Callable[[Any, Sequence[Any], dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}
LOSS_PARALLEL: list[Callable[..., Any]] = []


class _Mode:
    """The n-D dispatch state: None (a 1-D mesh), "plan" (choosing mesh dim ``dim``) or "exec" (computing with
    the planned output placements ``out``)."""

    mode: str | None = None
    dim = 0
    moves: dict[int, tuple[DTensor, Placement]] = {}
    out: Any = None
    shape: tuple[int, ...] = ()


class _Planned(Exception):
    """Raised by ``_planned`` to stop a handler in planning mode once its placements are chosen."""


def _planned(out_p: Placement, shape: Sequence[int]) -> None:
    """In planning mode: record the output placement of the current mesh dim and stop the handler."""
    if _Mode.mode == "plan":
        _Mode.out, _Mode.shape = out_p, tuple(shape)
        raise _Planned


def _dtensors(values: Sequence[Any]) -> list[DTensor]:
    out: list[DTensor] = []
    for v in values:
        for item in v if isinstance(v, (list, tuple)) else (v,):
            if isinstance(item, DTensor) and all(item is not o for o in out):
                out.append(item)
    return out


def _swap(v: Any, moved: dict[int, DTensor]) -> Any:
    if isinstance(v, DTensor):
        return moved.get(id(v), v)
    if isinstance(v, (list, tuple)):
        return type(v)(_swap(x, moved) for x in v)
    return v


def dispatch(handler: Handler, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``handler`` on DTensors of an n-D mesh: its strategy chosen per mesh dim, the inputs moved once, then run."""
    dts = _dtensors([*args, *kwargs.values()])
    mesh = _mesh_of(dts)
    if any(isinstance(p, _StridedShard) for d in dts for p in d._dt_placements):
        raise NotImplementedError(
            f"DTensor: {getattr(func, '__name__', func)} on a _StridedShard DTensor is not supported here; "
            "redistribute or use full_tensor() first"
        )
    want = {id(d): list(d._dt_placements) for d in dts}
    outs: list[Placement] = []
    shape: tuple[int, ...] = ()
    for i in range(mesh.ndim):
        _Mode.mode, _Mode.dim, _Mode.moves = "plan", i, {}
        try:
            handler(func, args, kwargs)
            raise AssertionError("DTensor: a handler finished in planning mode")  # (every handler calls _planned)
        except _Planned:
            pass
        finally:
            _Mode.mode, _Mode.dim = None, 0
        for key, (_, p) in _Mode.moves.items():
            want[key][i] = p
        outs.append(_Mode.out)
        shape = _Mode.shape
    moved: dict[int, DTensor] = {}
    for d in dts:
        target = tuple(want[id(d)])
        if target != d._dt_placements:
            local = _Redistribute.apply(d.to_local(), (d._dt_mesh, d._dt_shape), d._dt_placements, target)
            moved[id(d)] = _make(local, d._dt_mesh, target, d._dt_shape)
    _Mode.mode, _Mode.out, _Mode.shape = "exec", tuple(outs), shape
    try:
        return handler(func, _swap(list(args), moved), {k: _swap(v, moved) for k, v in kwargs.items()})
    finally:
        _Mode.mode, _Mode.out = None, None


def _wrap(out: Any, mesh: Any, out_p: Placement, shape: Sequence[int]) -> Any:
    """The op's local result as a DTensor laid out by ``out_p`` (on an n-D mesh: the planned placements)."""
    if _Mode.mode == "exec":
        return _make(out, mesh, _Mode.out, tuple(shape))
    return _make(out, mesh, (out_p,), tuple(shape))


def _handles(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return deco


# ------------------------------------------------------------------------------------------ helpers
class _AllReduceGrad(Function):
    """Identity forward; backward sums the gradient over the mesh (a Replicate input of a sharded computation)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, mesh: Any, dims: Sequence[int] = (0,)) -> Tensor:
        ctx.mesh, ctx.dims = mesh, tuple(dims)
        return Tensor._wrap(x._data.copy(), x.device, None)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        t = Tensor._wrap(g._data.copy(), g.device, None)
        for i in ctx.dims:
            if ctx.mesh.size(i) > 1:
                with no_grad():
                    dist.all_reduce(t, dist.ReduceOp.SUM, group=ctx.mesh.get_group(i))
        return t, None, None


def _pl(d: DTensor) -> Placement:
    return d._dt_placements[_Mode.dim]


def _norm(p: Placement, ndim: int) -> Placement:
    return Shard(p.dim + ndim) if isinstance(p, Shard) and p.dim < 0 else p


def _move(d: DTensor, p: Placement) -> DTensor:
    """``d`` laid out by ``p`` (differentiable; Replicate -> Partial as torch's: the value divided by the world)."""
    p = _norm(p, d.ndim)
    if _Mode.mode == "plan":
        _Mode.moves[id(d)] = (d, p)
        return d
    if _pl(d) == p or _Mode.mode == "exec":  # (exec: the inputs already hold the planned placements)
        return d
    if isinstance(p, Partial):
        local = _Redistribute.apply(d.to_local(), (d._dt_mesh, d._dt_shape), (_pl(d),), (p,))
        return _make(local, d._dt_mesh, (p,), d._dt_shape)
    return d.redistribute(placements=[p])


def _local(d: DTensor, out: Placement) -> Tensor:
    """``d``'s local tensor for an op whose output is laid out by ``out`` (see the module docstring)."""
    t = d.to_local()
    if not (t.requires_grad and is_grad_enabled()):
        return t
    if _Mode.mode == "exec":
        dims = [
            i
            for i, (p, o) in enumerate(zip(d._dt_placements, _Mode.out))
            if isinstance(p, Replicate) and not isinstance(o, Replicate)
        ]
        return _AllReduceGrad.apply(t, d._dt_mesh, dims) if dims else t
    if isinstance(_pl(d), Replicate) and not isinstance(out, Replicate):
        return _AllReduceGrad.apply(t, d._dt_mesh)
    return t


def _cost(d: DTensor, dst: Placement | None) -> float:
    """The collective cost (in elements moved) of redistributing ``d`` to ``dst`` (None: impossible)."""
    src = _pl(d)
    if dst is None:
        return math.inf
    dst = _norm(dst, d.ndim)
    if src == dst:
        return 0.0
    if isinstance(src, Replicate):
        return 1e-6  # (local work only; the layout that needs no move at all wins a tie, also on a world of one)
    n = d._dt_mesh.size(_Mode.dim)
    size = d.numel() * (n - 1) / n + 1e-6
    if isinstance(dst, Partial):
        return math.inf  # (a Shard or Partial tensor never becomes Partial)
    if isinstance(src, Partial):
        return 2 * size if isinstance(dst, Replicate) else size
    return size


def _choose(dts: Sequence[DTensor], candidates: list[tuple[Placement, list[Placement | None]]]) -> tuple[Any, ...]:
    """The cheapest candidate (output placement, one input placement per DTensor); ties: the first."""
    best, best_cost = candidates[-1], math.inf
    for cand in candidates:
        c = sum(_cost(d, p) for d, p in zip(dts, cand[1]))
        if c < best_cost:
            best, best_cost = cand, c
    if math.isinf(best_cost):
        raise NotImplementedError("DTensor: no sharding strategy for these placements")
    return best


def _mixed(name: str, values: Sequence[Any]) -> None:
    for v in values:
        for item in v if isinstance(v, (list, tuple)) else (v,):
            if isinstance(item, Tensor) and not isinstance(item, DTensor) and item.ndim > 0:
                raise RuntimeError(
                    f"aten.{name} got mixed torch.Tensor and DTensor, need to convert all torch.Tensor to DTensor "
                    "before calling distributed operators!"
                )


def _mesh_of(dts: Sequence[DTensor]) -> Any:
    mesh = dts[0]._dt_mesh
    if any(d._dt_mesh != mesh for d in dts):
        raise NotImplementedError("DTensor: an op's DTensors must be on the same mesh")
    return mesh


def _plain(func: Any, *args: Any, **kwargs: Any) -> Any:
    with DisableTorchFunctionSubclass():
        return func(*args, **kwargs)


# ------------------------------------------------------------------------------------------ pointwise
_LINEAR_ADD = frozenset("add add_ sub sub_ __add__ __radd__ __iadd__ __sub__ __rsub__ __isub__".split())
_MUL = frozenset("mul mul_ __mul__ __rmul__ __imul__".split())
_DIV = frozenset("div div_ __truediv__ __itruediv__".split())
_UNARY_LINEAR = frozenset("neg neg_ __neg__ clone contiguous detach detach_ requires_grad_ to float double".split())


def _in_place(name: str) -> bool:
    return (name.endswith("_") and not name.startswith("__")) or name.startswith("__i")


def _aligned(d: DTensor, out_ndim: int, p: Placement, out_shape: tuple[int, ...]) -> Placement | None:
    """The placement of broadcast input ``d`` that output placement ``p`` needs."""
    if isinstance(p, Shard):
        k = p.dim - (out_ndim - d.ndim)
        if k < 0 or (d._dt_shape[k] == 1 and out_shape[p.dim] != 1):
            return _R
        return Shard(k)
    return p


def pointwise(func: Any, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """An elementwise op across placements: torch's pointwise strategy (broadcast inputs follow the output's
    Shard dim or stay Replicate; Partial survives add/sub of Partials, mul by one Partial, a Partial numerator)."""
    values = [*args, *kwargs.values()]
    _mixed(name, values)
    dts = [v for v in values if isinstance(v, DTensor)]
    mesh = _mesh_of(dts)
    shape = tuple(np.broadcast_shapes(*(d._dt_shape for d in dts)))
    ndim = len(shape)
    in_place = _in_place(name)
    first = args[0] if isinstance(args[0], DTensor) else None
    scalars = [v for v in values if not isinstance(v, DTensor) and isinstance(v, (int, float, bool, Tensor))]
    outs: list[Placement] = []  # (torch's pointwise strategies follow an input's Shard dim)
    for d in dts:
        p = _pl(d)
        if isinstance(p, Shard) and Shard(p.dim + ndim - d.ndim) not in outs:
            outs.append(Shard(p.dim + ndim - d.ndim))
    partial_ok: list[list[Placement | None]] = []
    if name in _LINEAR_ADD and not scalars:
        partial_ok.append([_P] * len(dts))
    elif name in _MUL:
        for i in range(len(dts)):
            partial_ok.append([_P if j == i else _R for j in range(len(dts))])
    elif name in _DIV and first is not None and dts[0] is first:
        partial_ok.append([_P] + [_R] * (len(dts) - 1))
    elif name in _UNARY_LINEAR or name in {"__rmul__", "__truediv__"}:
        partial_ok.append([_P] * len(dts))
    cands: list[tuple[Placement, list[Placement | None]]] = [
        (p, [_aligned(d, ndim, p, shape) for d in dts]) for p in outs
    ]
    cands += [(_P, ins) for ins in partial_ok]
    cands.append((_R, [_R] * len(dts)))
    if in_place and first is not None:  # (the output is the first argument: its layout)
        cands = [c for c in cands if c[0] == _pl(first) and c[1][0] == _pl(first)] or [
            (_pl(first), [_pl(first), *[_aligned(d, ndim, _pl(first), shape) for d in dts[1:]]])
        ]
        if isinstance(_pl(first), Partial) and not partial_ok:
            raise RuntimeError(f"DTensor: in-place {name} on a Partial DTensor is not supported (it is not linear)")
    out_p, ins = _choose(dts, cands)
    moved = {id(d): _move(d, p) for d, p in zip(dts, ins)}
    _planned(out_p, shape)

    def loc(v: Any) -> Any:
        if isinstance(v, DTensor):
            m = moved[id(v)]
            if in_place and v is first:
                grad = v.requires_grad and is_grad_enabled()
                return DTensor.to_local(v) if grad else Tensor._wrap(v._data, v.device, None)
            return _local(m, out_p)
        if isinstance(v, (list, tuple)):
            return type(v)(loc(x) for x in v)
        return v

    if in_place and first is not None:
        with DisableTorchFunctionSubclass():
            func(*[loc(a) for a in args], **{k: loc(v) for k, v in kwargs.items()})
        first._version += 1
        return first
    out = _plain(func, *[loc(a) for a in args], **{k: loc(v) for k, v in kwargs.items()})
    if isinstance(out, Tensor):
        return _wrap(out, mesh, out_p, shape)
    return out


# ------------------------------------------------------------------------------------------ matmul family
def _matmul(a: DTensor, b: DTensor, b_is_weight: bool) -> tuple[Placement, DTensor, DTensor, tuple[int, ...]]:
    """torch's mm/bmm/matmul strategies for ``a @ b`` (``b_is_weight``: ``b`` is linear's (N, K) weight).
    Returns the output placement, the redistributed inputs and the global output shape."""
    sa, sb = a._dt_shape, b._dt_shape
    kb = (sb[1] if b_is_weight else sb[-2]) if len(sb) > 1 else sb[0]
    if sa[-1] != kb:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({math.prod(sa[:-1])}x{sa[-1]} and "
            f"{'x'.join(map(str, sb[::-1] if b_is_weight else sb))})"
        )
    if b_is_weight or len(sb) == 1:
        out_shape = (*sa[:-1], sb[0]) if len(sb) > 1 else sa[:-1]
        b_batch: tuple[int, ...] = ()
    else:
        b_batch = sb[:-2]
        out_shape = (*np.broadcast_shapes(sa[:-2], b_batch), sa[-2], sb[-1]) if len(sa) > 1 else (*b_batch, sb[-1])
    ndim = len(out_shape)
    n_dim = len(sb) > 1  # (the output has b's N dim, last)
    k_a, k_b = a.ndim - 1, (1 if b_is_weight else (b.ndim - 2 if b.ndim > 1 else 0))
    cands: list[tuple[Placement, list[Placement | None]]] = []
    for d in range(ndim):
        if n_dim and d == ndim - 1:  # shard N: a replicated, b on its N dim
            cands.append((Shard(d), [_R, Shard(0 if b_is_weight else b.ndim - 1)]))
            continue
        # a's dim for output dim d (its M dim or a batch dim), b's batch dim or none
        a_dim = d - ((ndim - n_dim) - (a.ndim - 1))
        pa: Placement | None = Shard(a_dim) if 0 <= a_dim < a.ndim - 1 else _R
        if a.ndim == 1:
            pa = _R
        pb: Placement | None = _R
        if b_batch:
            bd = d - ((ndim - 2) - len(b_batch))
            if 0 <= bd < len(b_batch) and b_batch[bd] != 1:
                pb = Shard(bd)
        if pa == _R and pb == _R:
            continue
        cands.append((Shard(d), [pa, pb]))
    cands.append((_P, [Shard(k_a), Shard(k_b)]))
    cands.append((_P, [_P, _R]))
    cands.append((_P, [_R, _P]))
    cands.append((_R, [_R, _R]))
    out_p, (pa_, pb_) = _choose([a, b], cands)
    return out_p, _move(a, pa_), _move(b, pb_), tuple(out_shape)


@_handles("linear")
def _linear(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x, w = args[0], args[1]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    _mixed("linear", [x, w, bias])
    if not isinstance(x, DTensor) or not isinstance(w, DTensor):
        raise RuntimeError(
            "aten.linear got mixed torch.Tensor and DTensor, need to convert all torch.Tensor to DTensor"
        )
    mesh = _mesh_of([x, w])
    out_p, xm, wm, shape = _matmul(x, w, b_is_weight=w.ndim == 2)
    lx, lw = (_local(xm, out_p), _local(wm, out_p)) if _Mode.mode != "plan" else (xm, wm)
    lb: Any = None
    if bias is not None:  # (torch's addmm: the bias takes the output's layout of its last dim)
        bp_ = Shard(0) if out_p == Shard(len(shape) - 1) else (_P if isinstance(out_p, Partial) else _R)
        lb = _move(bias, bp_)
    _planned(out_p, shape)
    if lb is not None:
        lb = _local(lb, out_p)
    out = _plain(func, lx, lw, lb)
    return _wrap(out, mesh, out_p, shape)


@_handles("matmul", "mm", "bmm", "__matmul__")
def _mm(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    a, b = args[0], args[1]
    _mixed("mm", [a, b])
    mesh = _mesh_of([a, b])
    out_p, am, bm, shape = _matmul(a, b, b_is_weight=False)
    _planned(out_p, shape)
    out = _plain(func, _local(am, out_p), _local(bm, out_p), *args[2:], **kwargs)
    return _wrap(out, mesh, out_p, shape)


@_handles("addmm")
def _addmm(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    inp, a, b = args[0], args[1], args[2]
    _mixed("addmm", [inp, a, b])
    mesh = _mesh_of([a, b])
    out_p, am, bm, shape = _matmul(a, b, b_is_weight=False)
    if isinstance(out_p, Shard):
        ip: Placement = _aligned(inp, len(shape), out_p, shape) or _R
    else:
        ip = out_p
    if isinstance(ip, Partial) and (kwargs.get("beta", 1) != 1 or kwargs.get("alpha", 1) != 1):
        ip = _P
    im = _move(inp, ip)
    _planned(out_p, shape)
    lin = _local(im, out_p)
    out = _plain(func, lin, _local(am, out_p), _local(bm, out_p), *args[3:], **kwargs)
    return _wrap(out, mesh, out_p, shape)


# ------------------------------------------------------------------------------------------ reductions
def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim))
    ds = dim if isinstance(dim, (list, tuple)) else (dim,)
    return tuple(sorted(int(d) % max(ndim, 1) for d in ds))


@_handles("sum", "mean")
def _reduce(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """sum/mean over dims: a reduced Shard dim gives Partial (mean: of the local sum over the global count, exact
    for uneven shards; torch's placement is Partial(avg)), a kept one stays (renumbered)."""
    x = args[0]
    name = getattr(func, "__name__", "sum")
    dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis"))
    keep = bool(args[2] if len(args) > 2 else kwargs.get("keepdim", False))
    dtype = kwargs.get("dtype")
    ndim = x.ndim
    dims = _dims(dim, ndim)
    shape = tuple(1 if i in dims else s for i, s in enumerate(x._dt_shape) if keep or i not in dims)
    p = _pl(x)
    if isinstance(p, Partial) or isinstance(p, Replicate):
        out_p: Placement = p
    else:
        sd: int = p.dim  # type: ignore[attr-defined]
        out_p = _P if sd in dims else Shard(sd if keep else sd - len([i for i in dims if i < sd]))
    _planned(out_p, shape)
    loc = _local(x, out_p)
    extra = {"dtype": dtype} if dtype is not None else {}
    if name == "mean" and any(isinstance(q, Shard) and q.dim in dims for q in x._dt_placements):
        count = math.prod(x._dt_shape[i] for i in dims)
        out = _plain(loc.sum, dim=list(dims), keepdim=keep, **extra)
        with DisableTorchFunctionSubclass():
            out = out / count
    else:
        out = _plain(getattr(loc, name), dim=list(dims), keepdim=keep, **extra)
    return _wrap(out, x._dt_mesh, out_p, shape)


# ------------------------------------------------------------------------------------------ views
def _resolve(shape: Sequence[Any], numel: int) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = shape[0]
    shape = [int(s) for s in shape]
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        shape[shape.index(-1)] = numel // known if known else 0
    return tuple(shape)


def _view_groups(src: tuple[int, ...], dst: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """Pairs of (input dims, output dims) whose products agree (torch's view_groups, size-1 dims alone)."""
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(src) or j < len(dst):
        gi: list[int] = []
        gj: list[int] = []
        pi = pj = 1
        if i < len(src) and src[i] == 1 and (j >= len(dst) or dst[j] != 1):
            groups.append(([i], []))
            i += 1
            continue
        if j < len(dst) and dst[j] == 1 and (i >= len(src) or src[i] != 1):
            groups.append(([], [j]))
            j += 1
            continue
        while True:
            if pi <= pj and i < len(src):
                gi.append(i)
                pi *= src[i]
                i += 1
            elif j < len(dst):
                gj.append(j)
                pj *= dst[j]
                j += 1
            else:
                break
            if pi == pj and gi and gj:
                break
        groups.append((gi, gj))
    return groups


@_handles("view", "reshape")
def _view(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """view/reshape: a Shard dim stays sharded when it leads its group of merged or split dims (a split needs the
    first output dim divisible by the world, as torch); otherwise the input is replicated first."""
    x = args[0]
    raw = args[1:] or (kwargs.get("shape", kwargs.get("size")),)
    if (
        len(raw) == 1
        and not isinstance(raw[0], (list, tuple, int))
        and raw[0] is not None
        and not hasattr(raw[0], "__index__")
    ):
        return _unsupported(func, args, kwargs)
    shape = _resolve(raw, x.numel())
    if math.prod(shape) != x.numel():
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.numel()}")
    p = _pl(x)
    out_p: Placement = p
    if isinstance(p, Shard):
        out_p = _R
        n = x._dt_mesh.size(_Mode.dim)
        n_all = math.prod(x._dt_mesh.size(i) for i, q in enumerate(x._dt_placements) if q == p)  # (nested shards)
        for gi, gj in _view_groups(x._dt_shape, shape):
            if p.dim in gi and gj:
                lead = [d for d in gi if x._dt_shape[d] != 1]
                if lead and lead[0] == p.dim:
                    first = gj[0]
                    if len(gj) > 1 and shape[first] % n_all:
                        raise RuntimeError(
                            f"Cannot unflatten unevenly sharded tensor: output dimension {first} (size "
                            f"{shape[first]}) is not evenly divisible by mesh dimension {_Mode.dim} (size {n}). Please "
                            "redistribute the tensor before this operation."
                        )
                    if len(gi) == 1 or (x._dt_shape[p.dim] % n_all == 0):
                        out_p = Shard(first) if len(gi) == 1 or len(gj) >= 1 else _R
                        if len(gi) > 1 and gi[0] != p.dim:
                            out_p = _R
                break
    xm = x if isinstance(out_p, Shard) or isinstance(p, Partial) else _move(x, _R)  # (out_p: in output dims)
    _planned(out_p, shape)
    loc = _local(xm, out_p)
    mesh = x._dt_mesh
    placements = _Mode.out if _Mode.mode == "exec" else (out_p,)
    coord = [mesh.get_local_rank(i) for i in range(mesh.ndim)]
    local_shape = _local_steps(tuple(shape), mesh.shape, placements, coord)[0]
    out = _plain(func, loc, tuple(local_shape))
    return _wrap(out, x._dt_mesh, out_p, shape)


@_handles("transpose", "swapaxes", "swapdims", "t", "permute")
def _permute(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    name = getattr(func, "__name__", "")
    ndim = x.ndim
    if name == "permute":
        perm = args[1:] if len(args) > 2 or not isinstance(args[1], (list, tuple)) else args[1]
        order = [int(d) % ndim for d in perm]
    else:
        d0, d1 = (args[1], args[2]) if name != "t" else (0, 1)
        if name == "t" and ndim < 2:
            order = list(range(ndim))
        else:
            d0, d1 = int(d0) % ndim, int(d1) % ndim
            order = list(range(ndim))
            order[d0], order[d1] = order[d1], order[d0]
    p = _pl(x)
    out_p = Shard(order.index(p.dim)) if isinstance(p, Shard) else p
    _planned(out_p, tuple(x._dt_shape[d] for d in order))
    out = _plain(func, _local(x, out_p), *args[1:], **kwargs)
    return _wrap(out, x._dt_mesh, out_p, tuple(x._dt_shape[d] for d in order))


# ------------------------------------------------------------------------------------------ nn ops
def _dim_arg(args: Sequence[Any], kwargs: dict[str, Any], ndim: int) -> int:
    d = args[1] if len(args) > 1 else kwargs.get("dim")
    if d is None:
        raise NotImplementedError("DTensor: softmax without dim is not supported")
    return int(d) % ndim


@_handles("softmax", "log_softmax")
def _softmax(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    dim = _dim_arg(args, kwargs, x.ndim)
    p = _pl(x)
    out_p = _R if isinstance(p, Partial) or p == Shard(dim) else p
    xm = _move(x, out_p)
    _planned(out_p, x._dt_shape)
    out = _plain(func, _local(xm, out_p), *args[1:], **kwargs)
    return _wrap(out, x._dt_mesh, out_p, x._dt_shape)


@_handles("embedding")
def _embedding(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """A Replicate weight: the output follows the indices; Shard(1): the last dim sharded; Shard(0): each rank
    looks up its rows (others zero), Partial (torch's _MaskPartial)."""
    idx, w = args[0], args[1]
    if not isinstance(idx, DTensor) or not isinstance(w, DTensor):
        raise RuntimeError(
            "aten.embedding got mixed torch.Tensor and DTensor, need to convert all torch.Tensor to DTensor before "
            "calling distributed operators!"
        )
    mesh = _mesh_of([idx, w])
    shape = (*idx._dt_shape, w._dt_shape[1])
    pw = _pl(w)
    if isinstance(pw, Partial):
        w, pw = _move(w, _R), _R
    if isinstance(pw, Replicate):
        pi = _pl(idx)
        out_p: Placement = pi if isinstance(pi, Shard) else _R
        moved_idx = _move(idx, out_p if isinstance(out_p, Shard) else _R)
        _planned(out_p, shape)
        if not (_Mode.mode == "exec" and any(p == Shard(0) for p in w._dt_placements)):
            out = _plain(func, moved_idx.to_local(), _local(w, out_p), *args[2:], **kwargs)
            return _wrap(out, mesh, out_p, shape)
    mi = _move(idx, _R)
    if pw == Shard(1):
        out_p = Shard(len(shape) - 1)
        _planned(out_p, shape)
        if not (_Mode.mode == "exec" and any(p == Shard(0) for p in w._dt_placements)):
            out = _plain(func, mi.to_local(), _local(w, out_p), *args[2:], **kwargs)
            return _wrap(out, mesh, out_p, shape)
    _planned(_P, shape)
    ii = mi.to_local()
    coord = [mesh.get_local_rank(i) for i in range(mesh.ndim)]  # (this rank's rows of the weight)
    rows, steps = _local_steps(tuple(w._dt_shape), mesh.shape, w._dt_placements, coord)
    lo = sum(step[3] for step in steps if step[1] == 0)
    hi = lo + rows[0]
    with DisableTorchFunctionSubclass():
        raw = ii._data
        inside = (raw >= lo) & (raw < hi)
        local_idx = Tensor._wrap(ii.device.xp.where(inside, raw - lo, 0), ii.device, None)
        mask = Tensor._wrap(inside[..., None].astype(w._data.dtype), ii.device, None)
        wl = _local(w, _P) if _Mode.mode == "exec" else w.to_local()
        out = func(local_idx, wl, **{k: v for k, v in kwargs.items() if k != "padding_idx"}) * mask
    return _wrap(out, mesh, _P, shape)


def _norm_layer(func: Any, args: Sequence[Any], kwargs: dict[str, Any], n_norm: int) -> Any:
    x = args[0]
    p = _pl(x)
    out_p: Placement = p if isinstance(p, Shard) and p.dim < x.ndim - n_norm else _R
    xm = _move(x, out_p)
    rest = [_move(a, _R) if isinstance(a, DTensor) else a for a in args[1:]]
    kw = {k: (_move(v, _R) if isinstance(v, DTensor) else v) for k, v in kwargs.items()}
    _planned(out_p, x._dt_shape)
    rest = [_local(a, out_p) if isinstance(a, DTensor) else a for a in rest]
    kw = {k: (_local(v, out_p) if isinstance(v, DTensor) else v) for k, v in kw.items()}
    out = _plain(func, _local(xm, out_p), *rest, **kw)
    return _wrap(out, x._dt_mesh, out_p, x._dt_shape)


@_handles("layer_norm", "rms_norm")
def _layer_norm(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Normalised over the trailing ``normalized_shape``: a Shard of a leading dim stays; else replicated."""
    ns = args[1] if len(args) > 1 else kwargs["normalized_shape"]
    n = 1 if isinstance(ns, int) else len(ns)
    return _norm_layer(func, args, kwargs, n)


@_handles("scaled_dot_product_attention")
def _sdpa(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Heads sharded (q, k, v all Shard(1) of (batch, heads, seq, dim)): per-rank attention, output Shard(1);
    a query sharded on its sequence dim (not causal) with k, v replicated: Shard(-2) (torch's); otherwise all
    replicated."""
    q, k, v = args[0], args[1], args[2]
    mask = args[3] if len(args) > 3 else kwargs.get("attn_mask")
    dts = [t for t in (q, k, v, mask) if isinstance(t, DTensor)]
    _mixed("_scaled_dot_product_attention", [q, k, v, mask])
    mesh = _mesh_of(dts)
    nd = q.ndim
    shape = (*q._dt_shape[:-1], v._dt_shape[-1])
    heads = Shard(nd - 3) if nd >= 3 else None
    pq = _pl(q)
    if heads is not None and all(_pl(t) == heads for t in (q, k, v)) and mask is None:
        out_p: Placement = heads
        ins = [q, k, v]
    elif pq == Shard(nd - 2) and mask is None and not kwargs.get("is_causal", False):
        out_p, ins = pq, [q, _move(k, _R), _move(v, _R)]
    else:
        out_p, ins = _R, [_move(t, _R) for t in (q, k, v)]
    mm = _move(mask, _R) if isinstance(mask, DTensor) else None
    _planned(out_p, shape)
    rest = list(args[3:])
    kw = dict(kwargs)
    if mm is not None:
        m = _local(mm, out_p)
        if len(args) > 3:
            rest[0] = m
        else:
            kw["attn_mask"] = m
    out = _plain(func, *[_local(t, out_p) for t in ins], *rest, **kw)
    return _wrap(out, mesh, out_p, shape)


@_handles("cross_entropy")
def _cross_entropy(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Under ``loss_parallel``: class-dim-sharded logits (torch's); otherwise on replicated inputs."""
    if LOSS_PARALLEL:  # (``loss_parallel`` puts its cross-entropy here while active)
        return LOSS_PARALLEL[-1](*args, **kwargs)
    dts = [a for a in [*args, *kwargs.values()] if isinstance(a, DTensor)]
    mesh = _mesh_of(dts)
    conv = [_move(a, _R) if isinstance(a, DTensor) else a for a in args]
    kw = {k: (_move(v, _R) if isinstance(v, DTensor) else v) for k, v in kwargs.items()}
    _planned(_R, ())  # (the shape: the local result's, below)
    conv = [_local(a, _R) if isinstance(a, DTensor) else a for a in conv]
    kw = {k: (_local(v, _R) if isinstance(v, DTensor) else v) for k, v in kw.items()}
    out = _plain(func, *conv, **kw)
    return _wrap(out, mesh, _R, tuple(out.shape))


def _unsupported(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    raise NotImplementedError(f"DTensor: {getattr(func, '__name__', func)} with these arguments is not supported here")


# ops applied elementwise (pointwise's candidates) besides the base module's list
POINTWISE = frozenset(
    "silu gelu relu relu_ tanh sigmoid log log1p expm1 sin cos erf softplus leaky_relu elu mish hardtanh "
    "logsigmoid rsqrt_ eq ne lt le gt ge __eq__ __ne__ __lt__ __le__ __gt__ __ge__ masked_fill masked_fill_ "
    "float_power true_divide multiply subtract".split()
)
