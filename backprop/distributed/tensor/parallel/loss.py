"""``loss_parallel`` (torch.distributed.tensor.parallel.loss): cross-entropy on logits sharded on the class dim."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from backprop import distributed as dist
from backprop.autograd.grad_mode import no_grad
from backprop.distributed.tensor import DTensor, Partial, Replicate, Shard, _chunk_bounds, _make, _mesh_info, _ops
from backprop.distributed.tensor._ops import _AllReduceGrad
from backprop.tensor import DisableTorchFunctionSubclass, Tensor

__all__ = ["loss_parallel"]


@contextlib.contextmanager
def loss_parallel() -> Iterator[None]:
    """Inside, ``F.cross_entropy`` (and ``F.log_softmax``) of a DTensor sharded on the class dim (the last)
    computes without gathering the logits: the max and the sum of exponentials are all-reduced (torch's)."""
    _ops.LOSS_PARALLEL.append(cross_entropy)
    try:
        yield
    finally:
        _ops.LOSS_PARALLEL.pop()


def _log_softmax_sharded(x: DTensor, dim: int) -> DTensor:
    """log_softmax over a sharded ``dim``: the local exps' sums all-reduced (a Partial made Replicate)."""
    mesh = x._dt_mesh
    loc = x.to_local()
    with DisableTorchFunctionSubclass(), no_grad():
        group_max = loc.detach().amax(dim=dim, keepdim=True)
        dist.all_reduce(group_max, dist.ReduceOp.MAX, group=_mesh_info(mesh)[0])
    shape = list(x._dt_shape)
    shape[dim] = 1
    with DisableTorchFunctionSubclass():
        shifted = loc - group_max
        s_local = shifted.exp().sum(dim=dim, keepdim=True)
    total = _make(s_local, mesh, (Partial(),), tuple(shape)).redistribute(placements=[Replicate()]).to_local()
    total = _AllReduceGrad.apply(total, mesh)  # (each rank's classes give a term of its gradient)
    with DisableTorchFunctionSubclass():
        out = shifted - total.log()
    return _make(out, mesh, x._dt_placements, x._dt_shape)


def cross_entropy(input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                  **kw: Any) -> Any:  # fmt: skip
    """Cross-entropy of class-dim-sharded logits (N, C) or (N, d..., C) with Replicate targets; the loss is a
    Replicate DTensor."""
    if weight is not None or kw.get("label_smoothing", 0.0):
        raise NotImplementedError("loss_parallel: weight and label_smoothing are not supported here")
    if not isinstance(input, DTensor) or input.placements != (Shard(input.ndim - 1),):
        raise ValueError(
            f"loss_parallel: expected logits sharded on the class dim, got {getattr(input, 'placements', None)}"
        )
    logp = _log_softmax_sharded(input, input.ndim - 1)
    t = target.full_tensor() if isinstance(target, DTensor) else target
    _, world, rank = _mesh_info(input._dt_mesh)
    lo, hi = _chunk_bounds(input._dt_shape[-1], world, rank)
    with DisableTorchFunctionSubclass():
        raw = t._data
        valid = raw != ignore_index
        inside = (raw >= lo) & (raw < hi) & valid
        xp = logp.device.xp
        idx = Tensor._wrap(xp.where(inside, raw - lo, 0)[..., None], t.device, None)
        picked = logp.to_local().gather(-1, idx).squeeze(-1) * Tensor._wrap(
            inside.astype(logp._data.dtype), t.device, None
        )
    shape = tuple(input._dt_shape[:-1])
    nll = _make(picked, input._dt_mesh, (Partial(),), shape).redistribute(placements=[Replicate()]).to_local()
    with DisableTorchFunctionSubclass():
        nll = -nll
        if reduction == "none":
            out = nll
        elif reduction == "sum":
            out = nll.sum()
        else:
            out = nll.sum() / float(valid.sum())
    return _make(out, input._dt_mesh, (Replicate(),), tuple(out.shape))
