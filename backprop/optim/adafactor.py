"""Adafactor (Shazeer and Stern, 2018) with torch 2.5+'s algorithm, defaults and state layout.

A parameter of two or more dims keeps a factored second moment: a running mean of the squared
gradient over its last dim (``row_var``, shape (..., R, 1)) and over its second-to-last dim
(``col_var``, (..., 1, C)); their outer product divided by the row mean estimates the full one. Vectors
and scalars keep the full ``variance``. There is no first moment; the step size is relative to the
parameter's RMS. Per step t (torch's single-tensor code path):

    beta2_t = 1 - t^beta2_decay        rho_t = min(lr, 1 / sqrt(t))
    alpha   = max(eps2, rms(p)) rho_t  p <- p (1 - lr weight_decay)
    v       <- lerp(v, g^2 means, 1 - beta2_t)
    u       = g / sqrt(max(v_estimate, eps1^2))
    p       <- p - alpha / max(1, rms(u) / d) * u
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.optim.optimizer import Optimizer, add_scaled_, buffer, check_lr, count_step
from backprop.tensor import Tensor

__all__ = ["Adafactor"]


def _lerp_(xp: Any, start: Any, end: Any, weight: float) -> None:
    """start <- lerp(start, end, weight) in place, with torch's two-sided formula (exact at weight 1)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1.0 - weight)


def _rms(xp: Any, a: Any) -> float:
    """sqrt(mean(a^2)) as a Python float, as ``a.norm(2).item() / sqrt(a.numel())``."""
    return float(xp.linalg.norm(a.reshape(-1))) / math.sqrt(max(a.size, 1))


class Adafactor(Optimizer):
    """Adafactor: factored second moments for matrices (memory O(R + C)), relative step sizes, update
    clipping at RMS ``d``; torch's ``lr``, ``beta2_decay``, ``eps=(eps1, eps2)``, ``d``, ``weight_decay``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        lr = float(lr)
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if len(eps) != 2:
            raise ValueError(f"Adafactor: eps should be a pair (eps1 or None, eps2), got {eps}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=tuple(eps),
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=bool(maximize),
        )
        super().__init__(params, defaults)

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        if dtypes.kind(p.dtype) != "f":
            raise RuntimeError(f"Adafactor does not support {p.dtype} parameters (expected a floating dtype)")
        xp = p.device.xp
        lr, wd, d = group["lr"], group["weight_decay"], group["d"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(p.dtype).eps)
        t = count_step(state)
        weight = t ** group["beta2_decay"]  # 1 - beta2_t
        rho = min(lr, 1.0 / t**0.5)
        alpha = max(eps2, _rms(xp, p._data)) * rho
        if wd != 0:
            p._data *= 1 - lr * wd
        if g.ndim > 1:
            if "row_var" not in state:
                state["row_var"] = Tensor._wrap(xp.zeros((*g.shape[:-1], 1), dtype=p.dtype), p.device, None)
                state["col_var"] = Tensor._wrap(
                    xp.zeros((*g.shape[:-2], 1, g.shape[-1]), dtype=p.dtype), p.device, None
                )
            row_var, col_var = state["row_var"]._data, state["col_var"]._data
            sq = g * g
            _lerp_(xp, row_var, sq.sum(axis=-1, keepdims=True) / g.shape[-1], weight)
            _lerp_(xp, col_var, sq.sum(axis=-2, keepdims=True) / g.shape[-2], weight)
            estimate = xp.matmul(row_var, col_var)
            estimate /= xp.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
        else:
            variance = buffer(state, "variance", p)
            _lerp_(xp, variance, g * g, weight)
            estimate = variance.copy()
        update = xp.asarray(g / xp.sqrt(xp.maximum(estimate, eps1 * eps1)), dtype=p.dtype)  # (0-d: an array)
        denom = max(1.0, _rms(xp, update) / d)
        add_scaled_(xp, p._data, update, -alpha / denom)
