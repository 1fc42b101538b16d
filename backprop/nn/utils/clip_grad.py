"""Gradient clipping (torch.nn.utils.clip_grad; also ``bp.nn.utils.clip_grad_norm_`` and friends)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from backprop.autograd.trace import replayed_whole
from backprop.tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _refuse_sparse(grads: list[Tensor], op: str) -> None:
    """torch's error for a sparse gradient (``nn.Embedding(sparse=True)``): its kernels have no sparse
    ``op``, so name it rather than the array access that would fail first."""
    for g in grads:
        if g.is_sparse:
            raise g._data._refuse(op)


def _vector_norm(xp: Any, g: Any, norm_type: float) -> Any:
    """torch's ``vector_norm(g, norm_type)`` of a device array, as a 0-d array of its dtype (for p = 2 one BLAS
    dot product: no temporary): the max (inf) or min (-inf) of |g|, the count of non-zeros (0), or
    (sum |g|^p)^(1/p)."""
    if norm_type == 2.0:
        flat = g.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    if norm_type == 1.0:
        return xp.abs(g).sum()
    if math.isinf(norm_type):
        if not g.size:
            return xp.zeros((), g.dtype)
        return xp.abs(g).max() if norm_type > 0 else xp.abs(g).min()
    if norm_type == 0.0:
        return xp.asarray(xp.count_nonzero(g), dtype=g.dtype)
    return (xp.abs(g) ** norm_type).sum() ** (1.0 / norm_type)


_NONFINITE = (
    "The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be clipped. To disable "
    "this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
)


@replayed_whole
def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale all gradients together so their joint norm is at most ``max_norm``; returns the norm.

    The norm is summed on the gradients' device; on a GPU the scale is a device scalar (no host
    sync, as torch's clamped coefficient) unless ``error_if_nonfinite`` needs the value. Returns the
    norm as a 0-d Tensor like torch's. ``foreach`` is accepted for torch's
    signature; every path here is already one pass per gradient.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor._of(0.0)
    _refuse_sparse(grads, "linalg_vector_norm")
    device = grads[0].device
    xp = device.xp
    # as torch: the norm of each gradient (in its dtype), then the norm of those norms
    norms = [_vector_norm(xp, g._data, norm_type) for g in grads]
    dtensor = next((g for g in grads if hasattr(g, "_dt_mesh")), None)
    if dtensor is not None:  # (DTensor gradients: each norm of the local parts combined over the mesh)
        from backprop.distributed.tensor import _global_norms

        norms = _global_norms(grads, norms, norm_type)
    total = _vector_norm(xp, xp.stack(norms), norm_type)
    # torch's clip_coef, max_norm / (total + 1e-6), in the norm's dtype: its __rtruediv__ is
    # (total + 1e-6).reciprocal() * max_norm (float32 rounding at each step, so the scaled gradients are torch's bits)
    coef_arr = xp.reciprocal(total + 1e-6) * float(max_norm)
    if device.type != "cpu" and not error_if_nonfinite:  # no host read on a device: scale by a device scalar
        coef_arr = xp.minimum(coef_arr, 1.0)  # as torch's clamped clip_coef
        for g in grads:
            g._data *= coef_arr.astype(g._data.dtype, copy=False)
        return Tensor._of(total, device=device)
    total_host = float(total)  # on the CPU a read is free, and skipping the scale when within the limit is not
    if error_if_nonfinite and not math.isfinite(total_host):
        raise RuntimeError(_NONFINITE.format(norm_type))
    if not float(coef_arr) >= 1.0:  # also NaN: the gradients become NaN, as torch's clamped coefficient makes them
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, silently, as in torch (NumPy would warn)
            for g in grads:
                g._data *= coef_arr.astype(g._data.dtype, copy=False)
    if dtensor is not None:  # (torch's: a replicated DTensor; full_tensor() is the global norm)
        from backprop.distributed.tensor import Replicate, _make

        return _make(Tensor._of(total, device=device), dtensor._dt_mesh, (Replicate(),), ())
    return Tensor._of(total, device=device)


def clip_grad_norm(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` (warns, as torch)."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def get_total_norm(
    tensors: Iterable[Tensor] | Tensor,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The ``norm_type`` norm of the norms of ``tensors`` (of all their elements together, as one vector);
    differentiable, as torch's. With ``clip_grads_with_norm_`` it splits ``clip_grad_norm_`` in two."""
    from backprop.functions import stack

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._of(0.0)
    device = tensors[0].device
    norms = [t.norm(norm_type) if t.device == device else t.norm(norm_type).to(device) for t in tensors]
    total = stack(norms).norm(norm_type)
    if error_if_nonfinite and not math.isfinite(float(total.detach().item())):
        raise RuntimeError(_NONFINITE.format(norm_type))
    return total


@replayed_whole
def clip_grads_with_norm_(
    parameters: Iterable[Tensor] | Tensor, max_norm: float, total_norm: Tensor, foreach: bool | None = None
) -> None:
    """Scale the gradients in place by min(1, max_norm / (total_norm + 1e-6)), ``total_norm`` given
    (e.g. from ``get_total_norm``); the scale stays a device value (no host read)."""
    grads = _grads(parameters)
    if not grads:
        return
    xp = grads[0].device.xp
    total = total_norm.detach()._data if isinstance(total_norm, Tensor) else xp.asarray(total_norm)
    # (torch: max_norm / t is t.reciprocal() * max_norm, its __rtruediv__: one rounding more, the same bits)
    coef = xp.minimum(xp.reciprocal(total + 1e-6) * float(max_norm), 1.0)
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, silently, as in torch
        for g in grads:
            g._data *= coef.astype(g._data.dtype, copy=False)


@replayed_whole
def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    grads = _grads(parameters)
    _refuse_sparse(grads, "clamp_min_")
    for g in grads:
        xp = g.device.xp
        xp.clip(g._data, -clip_value, clip_value, out=g._data)
