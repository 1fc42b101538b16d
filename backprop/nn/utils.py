"""Gradient clipping (torch.nn.utils names)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from backprop.tensor import Tensor


def _grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; returns the norm."""
    grads = _grads(parameters)
    if not grads:
        return 0.0
    xp = grads[0].device.xp
    if math.isinf(norm_type):
        total = max(float(xp.abs(g.data).max()) for g in grads)
    else:
        total = float(sum(float((xp.abs(g.data) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.data *= coef
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    for g in _grads(parameters):
        xp = g.device.xp
        xp.clip(g.data, -clip_value, clip_value, out=g.data)
