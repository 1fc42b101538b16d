"""NAdam, RAdam, Adamax and Adadelta with torch's update formulas (its single-tensor code paths)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backprop.optim.optimizer import (
    Optimizer,
    buffer,
    check_nonnegative,
    count_step,
    plus_scaled,
    scalar_state,
    torch_options,
)
from backprop.tensor import Tensor


def _check_betas(name: str, betas: tuple[float, float]) -> None:
    for i, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _moments(state: dict[str, Any], p: Tensor, g: Any, b1: float, b2: float) -> tuple[Any, Any]:
    """Adam's running moments, updated in place: m = lerp(m, g, 1 - b1), v = b2 v + (1 - b2) g^2."""
    m = buffer(state, "exp_avg", p)
    v = buffer(state, "exp_avg_sq", p)
    m += (1 - b1) * (g - m)
    v *= b2
    v += (1 - b2) * (g * g)
    return m, v


def _decay(p: Tensor, g: Any, group: dict[str, Any]) -> Any:
    """Weight decay as torch applies it: into the gradient, or on the parameter (decoupled)."""
    wd = group["weight_decay"]
    if not wd:
        return g
    if group.get("decoupled_weight_decay"):
        p._data *= 1 - group["lr"] * wd
        return g
    return plus_scaled(p.device.xp, g, p._data, wd)


class NAdam(Optimizer):
    """Adam with Nesterov momentum and torch's momentum-decay schedule mu_t = b1 (1 - 0.96^(t psi) / 2)."""

    _group_keys = tuple(  # (torch's order)
        "lr betas eps weight_decay momentum_decay "
        "decoupled_weight_decay maximize foreach capturable differentiable".split()
    )

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_nonnegative("NAdam", lr=lr, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay)
        _check_betas("NAdam", betas)
        options = torch_options("NAdam", maximize, foreach, differentiable, capturable=capturable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay)
        super().__init__(params, dict(defaults, decoupled_weight_decay=decoupled_weight_decay, **options))

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        xp = p.device.xp
        t = count_step(state)
        g = _decay(p, g, group)
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        # torch keeps mu_product in a float32 scalar tensor (its default scalar dtype), whatever the
        # parameter's dtype: the product is rounded to float32 at each step, here as there
        # (a float32 0-d CPU Tensor in the state, as torch's)
        # (torch's load_state_dict casts it to a floating parameter's dtype: it then goes on in that dtype)
        mp = state.get("mu_product")
        if not (isinstance(mp, Tensor) and type(mp._data) is np.ndarray and mp._data.dtype.kind == "f"):
            mp = state["mu_product"] = scalar_state(1.0 if mp is None else float(mp))
        mp._data *= mp._data.dtype.type(mu)
        mu_product = float(mp._data)
        m, v = _moments(state, p, g, b1, b2)
        denom = xp.sqrt(v / (1 - b2**t)) + eps
        p._data += (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p._data += (-lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)


class RAdam(Optimizer):
    """Adam with the variance rectification of Liu et al. (2019): plain momentum SGD while the
    second moment's estimate is too young (rho_t <= 5)."""

    _group_keys = tuple(  # (torch's order)
        "lr betas eps weight_decay maximize foreach capturable decoupled_weight_decay differentiable".split()
    )

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_nonnegative("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("RAdam", betas)
        options = torch_options("RAdam", maximize, foreach, differentiable, capturable=capturable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, dict(defaults, decoupled_weight_decay=decoupled_weight_decay, **options))

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        xp = p.device.xp
        t = count_step(state)
        g = _decay(p, g, group)
        m, v = _moments(state, p, g, b1, b2)
        bc2 = 1 - b2**t
        m_hat = m / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2**t) / bc2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            p._data -= m_hat * lr * ((bc2**0.5) / (xp.sqrt(v) + eps)) * rect
        else:
            p._data -= m_hat * lr


class Adamax(Optimizer):
    """Adam with the infinity norm: u = max(b2 u, |g| + eps), p -= lr / (1 - b1^t) m / u."""

    _group_keys = tuple(  # (torch's order)
        "lr betas eps weight_decay foreach maximize differentiable capturable".split()
    )

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_nonnegative("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("Adamax", betas)
        options = torch_options("Adamax", maximize, foreach, differentiable, capturable=capturable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, **options))

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        xp = p.device.xp
        t = count_step(state)
        g = _decay(p, g, group)
        m = buffer(state, "exp_avg", p)
        u = buffer(state, "exp_inf", p)
        m += (1 - b1) * (g - m)
        u *= b2
        xp.maximum(u, xp.abs(g) + eps, out=u)
        p._data -= (lr / (1 - b1**t)) * (m / u)


class Adadelta(Optimizer):
    """Zeiler's Adadelta: per-element steps sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g, scaled by lr."""

    _group_keys = tuple("lr rho eps weight_decay maximize capturable foreach differentiable".split())  # (torch's order)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_nonnegative("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0 <= rho <= 1:
            raise ValueError(f"Invalid rho value: {rho}")
        options = torch_options("Adadelta", maximize, foreach, differentiable, capturable=capturable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, **options))

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        xp = p.device.xp
        count_step(state)
        g = _decay(p, g, group)
        sq = buffer(state, "square_avg", p)
        acc = buffer(state, "acc_delta", p)
        sq *= rho
        sq += (1 - rho) * (g * g)
        delta = xp.sqrt(acc + eps) / xp.sqrt(sq + eps) * g
        acc *= rho
        acc += (1 - rho) * (delta * delta)
        p._data -= lr * delta


__all__ = ["Adadelta", "Adamax", "NAdam", "RAdam"]
