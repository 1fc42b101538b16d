"""Muon (Jordan et al., 2024) with torch 2.9+'s algorithm, defaults and state: momentum SGD whose
update for a 2-D parameter is orthogonalised by a quintic Newton-Schulz iteration.

    B <- lerp(B, g, 1 - momentum)                        (the ``momentum_buffer``)
    U = lerp(g, B, momentum) if nesterov else B
    O = NS_k(U / max(||U||_F, eps))  X <- a X + (b A + c A^2) X,  A = X X^T  (on the wide orientation)
    p <- p (1 - lr weight_decay) - lr' O,  lr' = lr sqrt(max(1, rows / cols))  ("original")
                                           or lr 0.2 sqrt(max(rows, cols))     ("match_rms_adamw")

Torch runs the Newton-Schulz iteration in bfloat16; NumPy has none, so it runs here in the parameter's
dtype (float32 or float64): the update is the same iteration, without bfloat16's rounding (about 3
significant digits), so steps agree with torch's to that precision, not bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from backprop import dtypes
from backprop.optim.optimizer import Optimizer, add_scaled_, buffer
from backprop.tensor import Tensor

__all__ = ["Muon"]

EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def zeropower_via_newtonschulz(
    xp: Any, g: Any, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float
) -> Any:
    """An approximately orthogonal matrix U S' V^T (S' near 1) from a 2-D array g = U S V^T."""
    if ns_steps >= 100:
        raise ValueError(f"Muon: ns_steps must be less than 100 for computational efficiency, got {ns_steps}")
    if g.ndim != 2:
        raise ValueError(f"Muon: the gradient must be a 2-D matrix, got shape {tuple(g.shape)}")
    if len(ns_coefficients) != 3:
        raise ValueError(f"Muon: ns_coefficients must be 3 values (a, b, c), got {ns_coefficients}")
    a, b, c = ns_coefficients
    tall = g.shape[0] > g.shape[1]
    x = g.T.copy() if tall else g.copy()
    x /= max(float(xp.linalg.norm(x)), eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr


class Muon(Optimizer):
    """Momentum orthogonalised by Newton-Schulz, for 2-D (hidden-layer) parameters only (torch's
    arguments; optimise biases and embeddings with e.g. AdamW)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Muon: Tensor lr must be 1-element")
        lr = float(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Muon: learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"Muon: momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Muon: weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(
                f"Muon: adjust_lr_fn {adjust_lr_fn!r} is not supported (expected None, 'original' or 'match_rms_adamw')"
            )
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients),
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        f"Muon only supports 2D parameters whereas we found a parameter with size: {tuple(p.shape)}"
                    )

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        if dtypes.kind(p.dtype) != "f":
            raise RuntimeError(f"Muon does not support {p.dtype} parameters (expected a floating dtype)")
        xp = p.device.xp
        lr, momentum = group["lr"], group["momentum"]
        buf = buffer(state, "momentum_buffer", p)
        buf += (1 - momentum) * (g - buf)
        update = g + momentum * (buf - g) if group["nesterov"] else buf
        ortho = zeropower_via_newtonschulz(xp, update, group["ns_coefficients"], group["ns_steps"], group["eps"])
        p._data *= 1 - lr * group["weight_decay"]
        add_scaled_(
            xp, p._data, xp.ascontiguousarray(ortho, dtype=p.dtype), -_adjusted_lr(lr, group["adjust_lr_fn"], p.shape)
        )
