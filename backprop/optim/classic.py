"""Rprop, ASGD and SparseAdam with torch's update formulas (its single-tensor code paths)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from backprop.optim.optimizer import (
    Optimizer,
    add_scaled_,
    buffer,
    check_lr,
    check_nonnegative,
    count_step,
    plus_scaled,
    scalar_state,
    torch_options,
)
from backprop.tensor import Tensor


def _f32(x: float) -> float:
    """``x`` rounded to float32: torch keeps ASGD's eta and mu in float32 scalar tensors."""
    return float(np.float32(x))


class Rprop(Optimizer):
    """Resilient backprop: per-element steps grow by etas[1] while the gradient keeps its sign and
    shrink by etas[0] when it flips (that element then skips its update); p -= sign(g) step."""

    _group_keys = tuple("lr etas step_sizes foreach maximize differentiable capturable".split())  # (torch's order)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_nonnegative("Rprop", lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        options = torch_options("Rprop", maximize, foreach, differentiable, capturable=capturable)
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), **options))

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        (eta_minus, eta_plus), (lo, hi) = group["etas"], group["step_sizes"]
        xp = p.device.xp
        count_step(state)
        prev = buffer(state, "prev", p)
        step_size = buffer(state, "step_size", p, group["lr"])
        sign = xp.sign(g * prev)
        factor = xp.ones_like(step_size)  # eta+ where the sign held, eta- where it flipped, 1 at zeros
        factor[sign > 0] = eta_plus
        factor[sign < 0] = eta_minus
        step_size *= factor
        xp.clip(step_size, lo, hi, out=step_size)
        g = xp.where(sign < 0, xp.zeros((), dtype=g.dtype), g)  # a flipped sign: no step, and no flip next time
        p._data -= xp.sign(g) * step_size
        prev[...] = g


class ASGD(Optimizer):
    """Averaged SGD (Polyak-Ruppert): p = p (1 - lambd eta) - eta g with eta = lr / (1 + lambd lr t)^alpha,
    and ``state["ax"]`` the running average of the iterates from step t0 on."""

    _group_keys = tuple(  # (torch's order)
        "lr lambd alpha t0 weight_decay foreach maximize differentiable capturable".split()
    )

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_nonnegative("ASGD", lr=lr, weight_decay=weight_decay)
        options = torch_options("ASGD", maximize, foreach, differentiable, capturable=capturable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay)
        super().__init__(params, dict(defaults, **options))

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, lambd, wd = group["lr"], group["lambd"], group["weight_decay"]
        xp = p.device.xp
        t = count_step(state)  # (first: the state's keys in torch's order, step, eta, mu, ax)
        if "eta" not in state:  # (torch: float32 0-d tensors on the parameter's device, as the step)
            state["eta"], state["mu"] = scalar_state(lr, p), scalar_state(1.0, p)
        for k in ("eta", "mu"):
            if not isinstance(state[k], Tensor):  # (a number: an older state dict)
                state[k] = scalar_state(float(state[k]), p)
        if wd:
            g = plus_scaled(xp, g, p._data, wd)  # (torch: grad.add(param, alpha=wd))
        eta, mu = float(state["eta"]), float(state["mu"])
        ax = buffer(state, "ax", p)
        if group.get("foreach"):  # torch's multi-tensor arithmetic: p -= eta (g + lambd p); ax += mu (p - ax)
            p._data -= (g + lambd * p._data) * eta
            ax += (p._data - ax) * mu
            # eta from the float32 step tensor, in float32 as torch's tensor arithmetic: the power rounded from
            # double, and lr / z taken as z.reciprocal() * lr (torch's __rtruediv__)
            f32 = np.float32
            z = f32(float(f32(1) + f32(lambd * lr) * f32(t)) ** group["alpha"])
            new_eta = (f32(1) / z) * f32(lr)
        else:
            p._data *= 1 - lambd * eta
            add_scaled_(xp, p._data, g, -eta)
            if mu != 1:
                ax += (p._data - ax) * mu
            else:
                ax[...] = p._data
            new_eta = lr / ((1 + lambd * lr * t) ** group["alpha"])
        # torch: eta.copy_(torch.as_tensor(value)): a float32 value, copied in place (a state loaded in the
        # parameter's dtype stays in that dtype)
        state["eta"]._data[...] = np.float32(new_eta)
        state["mu"]._data[...] = np.float32(1 / max(1, t - group["t0"]))


class SparseAdam(Optimizer):
    """Lazy Adam: only the rows (along dim 0) that have a gradient update their moments and values.

    It takes the sparse COO gradients of ``Embedding(sparse=True)``/``EmbeddingBag(sparse=True)`` (every
    looked-up row moves, a zero gradient too) and refuses dense ones, as torch's."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 < lr:  # (torch's messages; SparseAdam wants both strictly positive)
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                if p.is_complex():
                    raise ValueError("SparseAdam does not support complex parameters")

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")

    def _sparse_update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """torch's update: the coalesced gradient's rows (every looked-up row, a zero gradient too)."""
        grad = grad.coalesce()
        rows = grad._indices()._data[0]
        cols = math.prod(p.shape[1:])  # (the row length, for a gradient with no entries too)
        self._rows_update(p, rows, grad._values()._data.reshape(rows.shape[0], cols), state, group)

    def _rows_update(self, p: Tensor, rows: Any, gv: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Adam's moments and step on the table rows ``rows`` (gradient ``gv``, a row each); the rest untouched."""
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        xp = p.device.xp
        state["step"] = t = state.get("step", 0) + 1  # (torch: an int here, unlike the other optimizers)
        rows_by_cols = (p.shape[0] if p.ndim else 1, -1)
        m = buffer(state, "exp_avg", p).reshape(rows_by_cols)
        v = buffer(state, "exp_avg_sq", p).reshape(rows_by_cols)
        w = p._data.reshape(rows_by_cols) if p._data.flags.c_contiguous else p._data.copy().reshape(rows_by_cols)
        if rows.size == 0:
            return
        old_m, old_v = m[rows], v[rows]
        dm = (gv - old_m) * (1 - b1)
        dv = (gv * gv - old_v) * (1 - b2)
        m[rows] = old_m + dm
        v[rows] = old_v + dv
        step_size = lr * (1 - b2**t) ** 0.5 / (1 - b1**t)
        w[rows] += -step_size * ((dm + old_m) / (xp.sqrt(dv + old_v) + eps))
        if not p._data.flags.c_contiguous:
            p._data[...] = w.reshape(p.shape)


__all__ = ["ASGD", "Rprop", "SparseAdam"]
