"""RMSprop and Adagrad, torch's exact updates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


class RMSprop(Optimizer):
    """s = a s + (1-a) g^2; p -= lr g / (sqrt(s) + eps) (centred / momentum variants as torch)."""

    _group_keys = tuple(  # (torch's order)
        "lr momentum alpha eps centered weight_decay capturable foreach maximize differentiable".split()
    )

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_nonnegative("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                **torch_options("RMSprop", maximize, foreach, differentiable, capturable=capturable),
            ),
        )

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.device.xp
        a, wd = group["alpha"], group["weight_decay"]
        count_step(state)
        if wd:
            g = plus_scaled(xp, g, p._data, wd)  # (torch: grad.add(param, alpha=wd))
        sq = buffer(state, "square_avg", p)
        # (made before grad_avg: the state's keys in torch's order)
        buf = buffer(state, "momentum_buffer", p) if group["momentum"] > 0 else None
        sq *= a
        sq += (1 - a) * (g * g)
        if group["centered"]:
            ga = buffer(state, "grad_avg", p)
            ga *= a
            ga += (1 - a) * g
            avg = xp.sqrt(sq - ga * ga) + group["eps"]
        else:
            avg = xp.sqrt(sq) + group["eps"]
        if buf is not None:
            buf *= group["momentum"]
            buf += g / avg
            p._data -= group["lr"] * buf
        else:
            p._data -= group["lr"] * (g / avg)


class Adagrad(Optimizer):
    """s += g^2; p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps)."""

    _group_keys = tuple(  # (torch's order)
        "lr lr_decay eps weight_decay initial_accumulator_value foreach maximize differentiable fused".split()
    )

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_nonnegative(
            "Adagrad",
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                **torch_options("Adagrad", maximize, foreach, differentiable, fused),
            ),
        )
        # torch's Adagrad fills its state when it is made (step 0, sum), and (a torch quirk, kept) always from
        # the constructor's initial_accumulator_value: a param group's own value is ignored, also lazily below
        for group in self.param_groups:
            for p in group["params"]:
                state = dict.setdefault(self.state, id(p), {})
                state.setdefault("step", scalar_state(0.0))
                # (a complex parameter's sum starts at complex(v, v), as torch's)
                v = complex(initial_accumulator_value, initial_accumulator_value) if p.is_complex() else None
                buffer(state, "sum", p, initial_accumulator_value if v is None else v)  # type: ignore[arg-type]

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.device.xp
        t = count_step(state)
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p._data
        s = buffer(state, "sum", p, self.defaults["initial_accumulator_value"])  # (torch: not the group's)
        s += g * g
        # (a Tensor lr: divided as a float32 Tensor, then taken as a number, as torch's addcdiv_(value=-clr))
        clr = float(group["lr"] / (1 + (t - 1) * group["lr_decay"]))
        p._data -= clr * (g / (xp.sqrt(s) + group["eps"]))

    def _sparse_update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """torch's Adagrad on a sparse gradient: the coalesced rows' sums grow and only those rows move."""
        if group["weight_decay"]:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        xp = p.device.xp
        t = count_step(state)
        s = buffer(state, "sum", p, self.defaults["initial_accumulator_value"])
        grad = grad.coalesce()
        rows, gv = grad._indices()._data[0], grad._values()._data
        s[rows] += gv * gv
        clr = float(group["lr"] / (1 + (t - 1) * group["lr_decay"]))
        p._data[rows] -= clr * (gv / (xp.sqrt(s[rows]) + group["eps"]))
