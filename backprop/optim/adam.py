"""Adam (L2 weight decay, AMSGrad) and AdamW (decoupled weight decay), torch's exact updates."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from backprop.optim.optimizer import (
    Optimizer,
    buffer,
    check_lr,
    check_nonnegative,
    count_step,
    plus_scaled,
    scratch,
    torch_options,
)
from backprop.tensor import Tensor


class Adam(Optimizer):
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)."""

    _group_keys = tuple(  # (torch's order)
        "lr betas eps weight_decay amsgrad "
        "maximize foreach capturable differentiable fused decoupled_weight_decay".split()
    )

    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_lr(lr, foreach and not capturable)
        check_nonnegative(type(self).__name__, lr=lr, eps=eps, weight_decay=weight_decay)
        for i, beta in enumerate(betas):
            if not 0 <= beta < 1:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        options = torch_options(type(self).__name__, maximize, foreach, differentiable, fused, capturable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, **options)
        defaults["decoupled_weight_decay"] = bool(decoupled_weight_decay) or self.decoupled  # (AdamW: always)
        super().__init__(params, defaults)

    def _sparse_update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        xp = p.device.xp
        t = count_step(state)
        if wd:
            if group.get("decoupled_weight_decay", self.decoupled):
                p._data *= 1 - lr * wd
            else:
                g = plus_scaled(xp, g, p._data, wd)  # (torch: grad.add(param, alpha=wd))
        m = buffer(state, "exp_avg", p)
        v = buffer(state, "exp_avg_sq", p)
        fused = None if group["amsgrad"] else self._fused(p, "optim.adam")
        if fused is not None:  # one kernel per parameter where the backend has one (CuPy)
            done = fused(p._data, g, m, v, b1, b2, lr / (1 - b1**t), 1 / math.sqrt(1 - b2**t), eps)
            if done is not NotImplemented:
                return
        tmp = scratch(self._work, p)
        # every line is one in-place pass over memory: no temporaries on this hot path
        xp.multiply(g, 1 - b1, out=tmp)
        m *= b1
        m += tmp
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v *= b2
        v += tmp
        if group["amsgrad"]:
            vmax = buffer(state, "max_exp_avg_sq", p)
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        xp.sqrt(v, out=tmp)
        tmp *= 1 / math.sqrt(1 - b2**t)
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - b1**t)
        p._data -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr wd before the Adam step (default wd 1e-2)."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
        )
