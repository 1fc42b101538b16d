"""SGD with momentum, dampening, Nesterov and weight decay (torch's exact update)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backprop.optim.optimizer import Optimizer, add_scaled_, buffer, check_nonnegative, plus_scaled, torch_options
from backprop.tensor import Tensor


class SGD(Optimizer):
    """g = grad + wd p; b = mu b + (1 - dampening) g (b = g at step 1); p -= lr (g + mu b | b)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_nonnegative("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                **torch_options("SGD", maximize, foreach, differentiable, fused),
            ),
        )

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = plus_scaled(p.device.xp, g, p._data, wd)  # (torch: grad.add(param, alpha=wd))
        if mu:
            first = state.get("momentum_buffer") is None
            buf = buffer(state, "momentum_buffer", p)
            fused = None if first or group["nesterov"] else self._fused(p, "optim.sgd_momentum")
            if fused is not None and fused(p._data, g, buf, lr, mu, group["dampening"]) is not NotImplemented:
                return  # buffer and parameter updated in one kernel (CuPy)
            if first:
                buf[...] = g
            else:
                buf *= mu
                add_scaled_(p.device.xp, buf, g, 1 - group["dampening"])
            g = plus_scaled(p.device.xp, g, buf, mu) if group["nesterov"] else buf
        add_scaled_(p.device.xp, p._data, g, -lr)

    def _sparse_update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """torch's SGD on a sparse gradient: the momentum buffer is a sparse tensor too (its entries grow)."""
        lr, mu = group["lr"], group["momentum"]
        if group["weight_decay"]:
            grad = grad.add(p, alpha=group["weight_decay"])  # (torch's error: add(sparse, dense))
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.clone().detach()
            else:
                buf.mul_(mu).add_(grad, alpha=1 - group["dampening"])
            grad = grad.add(buf, alpha=mu) if group["nesterov"] else buf
        add_scaled_(p.device.xp, p._data, grad.to_dense()._data, -lr)
