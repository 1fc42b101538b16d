"""Stochastic weight averaging and EMA of a model's weights (torch.optim.swa_utils names)."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from backprop import creation, dtypes
from backprop.autograd.grad_mode import no_grad
from backprop.nn.module import Module
from backprop.nn.normalization import _BatchNorm, _InstanceNorm
from backprop.optim.lr_scheduler import LRScheduler, _per_group
from backprop.optim.optimizer import Optimizer
from backprop.tensor import Tensor

ParamList = Sequence[Tensor]


def _lerp_(averaged: ParamList, current: ParamList, weight: float) -> None:
    """averaged += weight (current - averaged), in place, rounded as torch's lerp (floating point)."""
    for a, c in zip(averaged, current):
        x, y = a._data, c._data
        if weight < 0.5:
            x += weight * (y - x)
        else:
            x[...] = y - (y - x) * (1 - weight)


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    """An in-place EMA update of lists of tensors: ema = decay ema + (1 - decay) current."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    @no_grad()
    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        if ema_param_list[0].is_floating_point() or ema_param_list[0].is_complex():
            _lerp_(ema_param_list, current_param_list, 1 - decay)
        else:
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    """An in-place running mean of lists of tensors: avg += (current - avg) / (n + 1)."""

    @no_grad()
    def swa_update(averaged_param_list: ParamList, current_param_list: ParamList, num_averaged: Any) -> None:
        n = int(num_averaged)
        if averaged_param_list[0].is_floating_point() or averaged_param_list[0].is_complex():
            _lerp_(averaged_param_list, current_param_list, 1 / (n + 1))
        else:
            for a, c in zip(averaged_param_list, current_param_list):
                a.copy_(a + (c - a) * (1.0 / (n + 1)))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """An EMA of one tensor: returns decay ema + (1 - decay) current."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    @no_grad()
    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    """The running mean of one tensor: returns avg + (current - avg) / (n + 1)."""

    @no_grad()
    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose weights are the running average (SWA, by default) or an EMA
    (``multi_avg_fn=get_ema_multi_avg_fn(decay)``) of ``model``'s over ``update_parameters`` calls."""

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: Callable[[Tensor, Tensor, Any], Tensor] | None = None,
        multi_avg_fn: Callable[[ParamList, ParamList, Any], None] | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", creation.zeros((), device=device, dtype=dtypes.int64))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine, theirs = list(self.module.parameters()), list(model.parameters())
        pairs = [(a.detach(), b.detach().to(a.device)) for a, b in zip(mine, theirs)]
        n = int(self.n_averaged.item())
        if n == 0:
            for a, b in pairs:
                a.copy_(b)
        elif self.avg_fn is not None:
            for a, b in pairs:
                a.copy_(self.avg_fn(a, b, self.n_averaged))
        else:
            groups: dict[tuple[str, Any], tuple[list[Tensor], list[Tensor]]] = {}
            for a, b in pairs:  # (torch groups the tensors by device and dtype)
                ours, other = groups.setdefault((str(a.device), a.dtype), ([], []))
                ours.append(a)
                other.append(b)
            for ours, other in groups.values():
                if self.multi_avg_fn is not None:
                    self.multi_avg_fn(ours, other, self.n_averaged)
                else:  # torch's CPU path: avg + (current - avg) / (n + 1), tensor by tensor
                    for a, b in zip(ours, other):
                        a.copy_(get_swa_avg_fn()(a, b, self.n_averaged))
        if not self.use_buffers:  # the buffers (batch-norm statistics) are the model's, not averaged
            for a, b in zip(self.module.buffers(), model.buffers()):
                a.detach().copy_(b.detach().to(a.device))
        self.n_averaged._data[...] = n + 1


@no_grad()
def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute every batch norm's running statistics with one pass over ``loader`` (the first item
    of tuple batches), as a cumulative average: the statistics an averaged model needs."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not isinstance(module, _InstanceNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None:
            batch = batch.to(device)
        model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's rate to ``swa_lr`` over ``anneal_epochs`` (cosine or linear), then hold it."""

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        for lr, group in zip(_per_group(swa_lr, optimizer.param_groups, "swa_lr"), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_strategy, self.anneal_epochs = anneal_strategy, anneal_epochs
        self._step_count = 0
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        self._set(self._step_count - 1)

    def _epoch_now(self) -> int:
        return self._step_count - 1  # (torch's SWALR counts its steps)

    def _set(self, step: int) -> None:
        """From the current rate (torch's recursive form): back out the rate before annealing, then
        mix it with swa_lr by the anneal function at ``step``."""
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        for g in self.optimizer.param_groups:
            lr, swa = g["lr"], g["swa_lr"]
            prev = swa if prev_alpha == 1 else (lr - prev_alpha * swa) / (1 - prev_alpha)
            g["lr"] = swa * alpha + prev * (1 - alpha)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counters (the rates come back with the optimizer's own state dict, as torch)."""
        self.__dict__.update(state)


__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]
