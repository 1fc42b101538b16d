"""Learning-rate schedules (torch.optim.lr_scheduler names), bit for bit as torch's.

The chainable ones (torch's: Step, MultiStep, Exponential, Constant, Linear, Polynomial,
CosineAnnealing, Multiplicative) update the current rate recursively at each ``step()`` (``_chain``,
torch's ``get_lr``), so their floats are torch's and schedulers stepped together (``ChainedScheduler``,
or two ``step()`` calls) compose as torch's do; ``lr_at`` is the closed form, for ``step(epoch)``
(torch's ``_get_closed_form_lr``) and a ``SequentialLR`` milestone."""

from __future__ import annotations

import bisect
import collections
import functools
import math
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from backprop.autograd.trace import replayed_whole, tracer
from backprop.optim.optimizer import Optimizer

_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. "
    "Please use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different "
    "from None, the closed form is used instead of the new chainable form, where available. Please open "
    "an issue if you are unable to replicate your use case: https://github.com/pytorch/pytorch/issues/new/choose."
)


_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later, you should "
    "call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to do this will "
    "result in PyTorch skipping the first value of the learning rate schedule. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)


def _track_optimizer_step(optimizer: Optimizer) -> None:
    """Mark ``optimizer._opt_called`` at its first ``step()`` (a step hook that then removes itself: the
    optimizer's hot path is untouched afterwards), for torch's scheduler-before-optimizer warning."""
    if "_opt_called" in optimizer.__dict__ or not hasattr(optimizer, "register_step_post_hook"):
        return
    optimizer._opt_called = False  # type: ignore[attr-defined]

    def called(opt: Any, args: Any, kwargs: Any) -> None:
        opt._opt_called = True
        handle.remove()

    handle = optimizer.register_step_post_hook(called)


def _check_optimizer(optimizer: Any) -> None:
    """torch's TypeError for a scheduler given something other than an optimizer."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _check_schedulers(name: str, schedulers: list[Any], optimizer: Any) -> None:
    """torch's checks of ``SequentialLR``'s and ``ChainedScheduler``'s schedulers (torch's messages)."""
    for i, sched in enumerate(schedulers):
        if not hasattr(sched, "optimizer"):
            raise TypeError(f"{name} at index {i} should have `optimizer` as its attribute.")
        if isinstance(sched, ReduceLROnPlateau):
            raise ValueError(
                f"{name} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be "
                f"specified when calling `step`, but got one at index {i} in the given schedulers sequence."
            )
        if sched.optimizer is not optimizer:
            raise ValueError(
                f"{name} expects all schedulers to belong to the same optimizer, but got scheduler "
                f"{type(sched).__name__} at index {i} has {sched.optimizer}, which is different from "
                f"{type(optimizer).__name__}."
            )


def _check_initial_lr(optimizer: Optimizer) -> None:
    """torch's KeyError for resuming (``last_epoch >= 0``) an optimizer whose groups have no ``initial_lr``
    (its state dict was not loaded, or ``last_epoch`` was given for a fresh run)."""
    for i, group in enumerate(optimizer.param_groups):
        if "initial_lr" not in group:
            raise KeyError(
                f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler with "
                "last_epoch >= 0.\nThis typically happens when:\n1. You're trying to resume training from a "
                "checkpoint but haven't properly loaded the optimizer state\n2. You're using last_epoch >= 0 "
                "for a fresh training run (not recommended)"
            )


def _records_last_lr(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` that then keeps the rates it leaves as ``get_last_lr()``'s (torch's ``_last_lr``: what this
    scheduler set, not what another scheduler or the user set on the groups since)."""

    @functools.wraps(step)
    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = step(self, *args, **kwargs)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        return out

    return recorded


def _warn_get_lr_outside_step(scheduler: Any) -> None:
    """torch's warning for ``scheduler.get_lr()`` called by the user (the rates to come, not the last)."""
    if not scheduler._get_lr_called_within_step:
        warnings.warn(
            "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
            UserWarning,
            stacklevel=3,
        )


class LRScheduler:
    """Sets ``group["lr"] = base_lr * factor(epoch)``; call ``step()`` once per epoch (or step)."""

    # torch's chainable schedules whose first step, when resuming (``last_epoch >= 0``), leaves the
    # optimizer's rates as they are (torch's ``_is_initial``): the rates loaded with the optimizer's state
    _resume_keeps_lr = False
    _get_lr_called_within_step = False  # (torch's flag: get_lr() outside step() warns)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            _check_initial_lr(optimizer)
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        _track_optimizer_step(optimizer)
        if last_epoch != -1 and self._resume_keeps_lr and not self._user_schedule():
            self.last_epoch += 1  # (torch's initial step: one epoch on, the loaded rates kept)
            self._step_count = 1
            return
        self.step()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's own ``step`` is replayed whole by ``bp.compile``, as the base class's (unless the
        subclass sets ``_replayed_whole = False``: its step then checks itself)."""
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            step = _records_last_lr(cls.__dict__["step"])
            cls.step = replayed_whole(step) if cls.__dict__.get("_replayed_whole", True) else step  # type: ignore[method-assign]

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError(
            f"{type(self).__name__}: a scheduler subclass defines get_lr() (torch's way: the rates for "
            "self.last_epoch, one per param group) or lr_at(base_lr, epoch)"
        )

    def get_lr(self) -> list[float]:
        """The rates at ``self.last_epoch``, one per param group. torch's hook: a subclass that overrides
        it defines its schedule (``step()`` then sets what it returns, reading ``base_lrs``, the groups'
        current rates or anything else, as torch's does). Called outside ``step()`` it warns, as torch's
        (``get_last_lr()`` gives the current rates)."""
        _warn_get_lr_outside_step(self)
        groups = self.optimizer.param_groups
        if type(self)._chain is not LRScheduler._chain:  # torch's recursive form, from the current rates
            return [self._chain(g["lr"], base, self.last_epoch) for g, base in zip(groups, self.base_lrs)]
        saved = [g["lr"] for g in groups]  # (what ``_set`` would set; momenta it cycles move, as torch's)
        self._set(self._epoch_now())
        rates = [g["lr"] for g in groups]
        for g, lr in zip(groups, saved):
            g["lr"] = lr
        return rates

    def _epoch_now(self) -> Any:
        """The epoch ``get_lr()`` computes the rates for (torch's ``last_epoch``, or a schedule's own count)."""
        return self.last_epoch

    def _get_lr_in_step(self) -> list[float]:
        """``get_lr()`` called by the scheduler itself (no warning, as torch's ``_enable_get_lr_call``)."""
        self._get_lr_called_within_step = True
        try:
            return self.get_lr()
        finally:
            self._get_lr_called_within_step = False

    def _user_schedule(self) -> bool:
        """Whether this is a torch-style subclass whose ``get_lr`` (not ``lr_at``) is the schedule."""
        return type(self).get_lr is not LRScheduler.get_lr

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        """torch's recursive form: the rate at ``epoch`` from the current ``lr`` (a chainable schedule
        overrides it; the others set ``lr_at``'s closed form)."""
        return self.lr_at(base_lr, epoch)

    def _check_order(self) -> None:
        """torch's warning for ``scheduler.step()`` called before the first ``optimizer.step()``."""
        count = self.__dict__.get("_step_count")
        if count == 1 and not getattr(self.optimizer, "_opt_called", True):
            warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=3)
        if count is not None:
            self._step_count = count + 1

    @replayed_whole
    @_records_last_lr
    def step(self, epoch: int | None = None) -> None:
        self._check_order()
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        if self._user_schedule():
            self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
            closed = getattr(self, "_get_closed_form_lr", None) if epoch is not None else None
            for g, lr in zip(self.optimizer.param_groups, closed() if closed is not None else self._get_lr_in_step()):
                g["lr"] = lr
            self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
            return
        if epoch is not None:
            self.last_epoch = epoch
            self._set(epoch)
            return
        self.last_epoch += 1
        if type(self)._chain is LRScheduler._chain:
            self._set(self.last_epoch)
            return
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):  # torch's recursive form, to the bit
            g["lr"] = self._chain(g["lr"], base, self.last_epoch)

    def _set(self, epoch: Any) -> None:
        """Every group's learning rate at ``epoch`` (closed form: no dependence on earlier steps)."""
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, epoch)

    def get_last_lr(self) -> list[float]:
        """The rates this scheduler's last ``step()`` left (torch's: another scheduler or the user may have
        moved the groups' rates since)."""
        last = self.__dict__.get("_last_lr")  # (the list itself, as torch's)
        return last if last is not None else [g["lr"] for g in self.optimizer.param_groups]

    # attributes of this implementation that torch's state_dict does not carry (it carries the rest of
    # ``__dict__`` but the optimizer, as torch's; ``_to_torch_state``/``_from_torch_state`` rename the others)
    _not_in_state: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: every attribute but the optimizer (``last_epoch``, ``base_lrs``, ``_last_lr``,
        ``_step_count``, ``_is_initial``, ``_get_lr_called_within_step`` and the hyper-parameters)."""
        state = {k: v for k, v in self.__dict__.items() if k != "optimizer" and k not in self._not_in_state}
        if self._user_schedule():
            return state
        state["_last_lr"] = self.get_last_lr()
        state.setdefault("_step_count", 0)
        state["_is_initial"] = False
        state["_get_lr_called_within_step"] = False
        self._to_torch_state(state)
        return state

    def _to_torch_state(self, state: dict[str, Any]) -> None:
        """Rename or convert the attributes torch keeps under another name or type (in place)."""

    def _from_torch_state(self, state: dict[str, Any]) -> None:
        """The reverse of ``_to_torch_state`` (in place), for a state_dict from torch or from ``state_dict``."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # (torch's parameter name)
        state = dict(state_dict)
        if self._user_schedule():
            self.__dict__.update(state)
            return
        self._from_torch_state(state)
        state.pop("_is_initial", None)
        state.pop("_get_lr_called_within_step", None)
        self.__dict__.update({k: v for k, v in state.items() if not isinstance(getattr(type(self), k, None), property)})
        self.last_epoch = state["last_epoch"]
        self.base_lrs = list(state["base_lrs"])
        last = state.get("_last_lr")
        if last is not None and len(last) == len(self.optimizer.param_groups):
            for g, lr in zip(self.optimizer.param_groups, last):  # (the rates as saved: composed ones too)
                g["lr"] = lr
        else:
            self._set(self.last_epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = base * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        return lr * self.gamma if epoch > 0 and epoch % self.step_size == 0 else lr


class ExponentialLR(LRScheduler):
    """lr = base * gamma ** epoch."""

    _resume_keeps_lr = True

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        return lr * self.gamma if epoch > 0 else lr


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base - eta_min) (1 + cos(pi epoch / T_max)) / 2."""

    _resume_keeps_lr = True

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        t_max, eta_min = self.T_max, self.eta_min
        if epoch == 0:
            return lr
        if self.__dict__.get("_step_count") == 1:  # (torch's: get_lr() right after resuming is the closed form)
            return self.lr_at(base_lr, epoch)
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return lr + (base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        return (1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1) / t_max)) * (
            lr - eta_min
        ) + eta_min


class LinearLR(LRScheduler):
    """Factor moves linearly from start_factor to end_factor over total_iters (warm-up)."""

    _resume_keeps_lr = True

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if not 0 <= end_factor <= 1:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        span = self.end_factor - self.start_factor  # (torch's order of operations: its closed form to the bit)
        return base_lr * (self.start_factor + span * min(self.total_iters, epoch) / self.total_iters)

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        start, end = self.start_factor, self.end_factor
        if epoch == 0:
            return lr * start
        if epoch > self.total_iters:
            return lr
        return lr * (1.0 + (end - start) / (self.total_iters * start + (epoch - 1) * (end - start)))


def _lambdas_per_group(optimizer: Optimizer, lr_lambda: Any) -> list[Any]:
    """One schedule function per parameter group: ``lr_lambda`` for each, or its list's entries (torch's
    LambdaLR/MultiplicativeLR, whose list must have one per group)."""
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * len(optimizer.param_groups)
    if len(lr_lambda) != len(optimizer.param_groups):
        raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
    return list(lr_lambda)


class LambdaLR(LRScheduler):
    """lr = base * lr_lambda(epoch)."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.lr_lambdas = _lambdas_per_group(optimizer, lr_lambda)
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    _not_in_state = ("lr_lambda",)

    def _to_torch_state(self, state: dict[str, Any]) -> None:
        state["lr_lambdas"] = _lambdas_state(self.lr_lambdas)

    def _from_torch_state(self, state: dict[str, Any]) -> None:
        _load_lambdas(self.lr_lambdas, state.pop("lr_lambdas", None))

    def get_lr(self) -> list[float]:
        _warn_get_lr_outside_step(self)
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def _user_schedule(self) -> bool:
        return False

    def _set(self, epoch: Any) -> None:
        self.last_epoch, saved = epoch, self.last_epoch
        try:
            rates = self._get_lr_in_step()
        finally:
            self.last_epoch = saved
        for g, lr in zip(self.optimizer.param_groups, rates):
            g["lr"] = lr

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.lr_lambda(epoch)  # type: ignore[operator]


def _lambdas_state(lambdas: list[Any]) -> list[Any]:
    """torch's ``lr_lambdas`` entry: None for a function, a copy of a callable object's ``__dict__``."""
    return [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy() for fn in lambdas]


def _load_lambdas(lambdas: list[Any], saved: list[Any] | None) -> None:
    """The callable objects' attributes back from ``_lambdas_state`` (the functions stay as built)."""
    for fn, attrs in zip(lambdas, saved or ()):
        if attrs is not None:
            fn.__dict__.update(attrs)


class MultiStepLR(LRScheduler):
    """lr = base * gamma ** (how many milestones are <= epoch; a milestone listed twice counts twice)."""

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)

    def _to_torch_state(self, state: dict[str, Any]) -> None:
        state["milestones"] = collections.Counter(self.milestones)  # (torch keeps a Counter)

    def _from_torch_state(self, state: dict[str, Any]) -> None:
        if "milestones" in state:
            state["milestones"] = sorted(collections.Counter(state["milestones"]).elements())

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        n = self.milestones.count(epoch)
        return lr * self.gamma**n if n else lr


class ConstantLR(LRScheduler):
    """lr = base * factor for the first total_iters epochs, then base (a constant warm-up)."""

    def __init__(
        self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        if not 0 <= factor <= 1:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * (self.factor + (epoch >= self.total_iters) * (1 - self.factor))  # (torch's, to the bit)

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        if epoch == 0:
            return lr * self.factor
        return lr * (1.0 / self.factor) if epoch == self.total_iters else lr


class PolynomialLR(LRScheduler):
    """lr = base * (1 - min(epoch, total_iters) / total_iters) ** power."""

    _resume_keeps_lr = True

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * (1.0 - min(self.total_iters, epoch) / self.total_iters) ** self.power

    def _chain(self, lr: float, base_lr: float, epoch: int) -> float:
        if epoch == 0 or epoch > self.total_iters:
            return lr
        return lr * ((1.0 - epoch / self.total_iters) / (1.0 - (epoch - 1) / self.total_iters)) ** self.power


class OneCycleLR(LRScheduler):
    """The 1cycle policy (torch's OneCycleLR): per step, lr rises from max_lr / div_factor to max_lr
    over pct_start of total_steps and anneals to initial_lr / final_div_factor (three_phase: back to
    the initial lr first); momentum (or Adam's beta1) cycles the other way when cycle_momentum."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
            total_steps = epochs * steps_per_epoch
        elif total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        if not 0 <= pct_start <= 1 or not isinstance(pct_start, float):  # (torch's: an int 0 or 1 is refused)
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        groups = optimizer.param_groups
        if cycle_momentum and "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
        self.use_beta1 = "betas" in optimizer.defaults
        max_lrs = _per_group(max_lr, groups, "max_lr")
        if last_epoch == -1:
            for g, m in zip(groups, max_lrs):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
            if cycle_momentum:
                for g, hi, lo in zip(
                    groups,
                    _per_group(max_momentum, groups, "max_momentum"),
                    _per_group(base_momentum, groups, "base_momentum"),
                ):
                    self._set_momentum(g, hi)
                    g["max_momentum"], g["base_momentum"] = hi, lo
        end1 = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [
                (end1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (end1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        super().__init__(optimizer, last_epoch)

    _not_in_state = ("anneal_strategy", "phases")
    _PHASE_KEYS = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")

    def _to_torch_state(self, state: dict[str, Any]) -> None:
        state["_anneal_func_type"] = self.anneal_strategy
        state["_schedule_phases"] = [dict(zip(self._PHASE_KEYS, phase)) for phase in self.phases]

    def _from_torch_state(self, state: dict[str, Any]) -> None:
        if "_anneal_func_type" in state:
            state["anneal_strategy"] = state.pop("_anneal_func_type")
        if "_schedule_phases" in state:
            state["phases"] = [tuple(p[k] for k in self._PHASE_KEYS) for p in state.pop("_schedule_phases")]

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _set(self, step: int) -> None:
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        for g in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end or i == len(self.phases) - 1:
                    pct = (step - start) / (end - start)
                    g["lr"] = self._anneal(g[lr0], g[lr1], pct)
                    if self.cycle_momentum:
                        self._set_momentum(g, self._anneal(g[m0], g[m1], pct))
                    break
                start = end


def _per_group(value: Any, groups: list[dict[str, Any]], name: str) -> list[Any]:
    """A hyper-parameter given once or once per parameter group, as a list per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {len(groups)}."
            )
        return list(value)
    return [value] * len(groups)


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: cosine annealing from base to eta_min over T_i epochs, then a restart, with T_i = T_0,
    T_0 T_mult, T_0 T_mult^2, ...; ``step(epoch)`` also takes a fractional epoch, as torch."""

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,  # noqa: N803 - torch's names
        T_mult: int = 1,  # noqa: N803
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def step(self, epoch: float | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            self._epoch: float | None = None
            self._set(self.last_epoch)
            return
        if epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        self.last_epoch = math.floor(epoch)
        self._epoch = epoch
        self._set(epoch)

    def _position(self) -> float:
        """The epoch the schedule stands at: the last fractional ``step(epoch)``, else ``last_epoch``."""
        e = getattr(self, "_epoch", None)
        return e if e is not None and math.floor(e) == self.last_epoch else self.last_epoch

    @property
    def T_cur(self) -> float:  # noqa: N802 - torch's name
        """Epochs since the last restart (torch's attribute; an int after whole-epoch steps)."""
        e = self._position()
        t = self._cycle(e)[0]
        return int(t) if isinstance(e, int) and float(t).is_integer() else t

    @property
    def T_i(self) -> int:  # noqa: N802 - torch's name
        """The length of the current cycle (torch's attribute)."""
        return int(self._cycle(self._position())[1])

    _not_in_state = ("_epoch",)

    def _to_torch_state(self, state: dict[str, Any]) -> None:
        state["T_cur"], state["T_i"] = self.T_cur, self.T_i  # (the fraction of a step(epoch) is T_cur's)

    def _from_torch_state(self, state: dict[str, Any]) -> None:
        t_cur = state.pop("T_cur", 0)
        state.pop("T_i", None)
        fraction = t_cur - math.floor(t_cur)  # (restarts fall on whole epochs: T_0 and T_mult are ints)
        state["_epoch"] = state["last_epoch"] + fraction if fraction else None

    def _cycle(self, epoch: float) -> tuple[float, float]:
        """(epochs since the last restart, length of this cycle) at ``epoch``."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        return epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1), self.T_0 * self.T_mult**n

    def _epoch_now(self) -> float:
        return self._position()

    def lr_at(self, base_lr: float, epoch: float) -> float:
        t_cur, t_i = self._cycle(epoch)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


class SequentialLR(LRScheduler):
    """Hand over from one schedule to the next at each milestone (torch's SequentialLR): at epoch e
    the scheduler whose interval holds e sets the rates, counting its epochs from its milestone."""

    def __init__(
        self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int], last_epoch: int = -1
    ) -> None:
        if not schedulers:
            raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        _check_schedulers(type(self).__name__, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
                f"milestone points, but got number of schedulers {len(schedulers)} and the number of milestones "
                f"to be equal to {len(milestones)}"
            )
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.optimizer = optimizer
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch + 1
        self._set(self.last_epoch)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self) -> None:
        """torch's: the scheduler whose interval holds the new epoch steps (so it composes with a rate the
        user or another scheduler moved, as torch's chainable ones do); at a milestone it starts afresh."""
        self.last_epoch += 1
        i = bisect.bisect_right(self._milestones, self.last_epoch)
        if i and self._milestones[i - 1] == self.last_epoch:
            self._set(self.last_epoch)
        else:
            self._schedulers[i].step()

    def _set(self, epoch: int) -> None:
        i = bisect.bisect_right(self._milestones, epoch)
        sched = self._schedulers[i]
        sched.last_epoch = epoch - (self._milestones[i - 1] if i else 0)
        sched._set(sched.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "_schedulers": [s.state_dict() for s in self._schedulers],
            "_last_lr": self.get_last_lr(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # (torch's parameter name)
        """torch's: each scheduler's own state back; the rates are the ones saved (not recomputed: the
        recursive schedules' last bits are the run's)."""
        state = state_dict
        for sched, sub in zip(self._schedulers, state["_schedulers"]):
            sched.load_state_dict(sub)
        self.last_epoch = state["last_epoch"]
        self._last_lr = list(state["_last_lr"])
        for g, lr in zip(self.optimizer.param_groups, self._last_lr):  # (the active one's, not the last loaded)
            g["lr"] = lr


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` once a metric has stopped improving for ``patience``
    epochs (torch's ReduceLROnPlateau: ``step(metric)`` after each validation). An ``LRScheduler``, as
    torch's (``isinstance`` checks hold), though its schedule is the metric's, not the epoch's."""

    _replayed_whole = False  # (its step decides on a value: it refuses to run inside a compiled step)

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):  # (torch's attributes: default_min_lr None, or the one number)
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        if mode not in ("min", "max"):
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.eps = threshold_mode, cooldown, eps
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self, metrics: Any, epoch: int | None = None) -> None:
        """Record this epoch's metric (a number, or a one-element tensor: read on the host); ``epoch`` is
        torch's deprecated explicit epoch number."""
        if (tr := tracer()) is not None:
            tr.fail("ReduceLROnPlateau.step(metric) decides on a value inside the step (call it after the step)")
        current = float(metrics)
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            groups = self.optimizer.param_groups
            if len(groups) != len(self.min_lrs):  # a group added since: torch's default floor, or its error
                if self.default_min_lr is None:
                    raise RuntimeError(
                        f"The number of param groups in the `optimizer` ({len(groups)}) differs from when "
                        f"`ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), usually due to a new param "
                        "group being added to the optimizer. Please modify the `min_lrs` field to match the "
                        "length of the `optimizer` param groups."
                    )
                self.min_lrs = [self.default_min_lr] * len(groups)
            for g, floor in zip(groups, self.min_lrs):
                old = float(g["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        best, t = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1.0 - t) if self.threshold_mode == "rel" else best - t)
        return a > (best * (t + 1.0) if self.threshold_mode == "rel" else best + t)

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # (torch's parameter name)
        state = state_dict
        self.__dict__.update(state)


class _LRScheduler(LRScheduler):
    """``LRScheduler``'s old name (torch keeps it, a subclass, for schedulers written before 2.0)."""


class MultiplicativeLR(LRScheduler):
    """lr *= lr_lambda(epoch) at each step after the first (one function, or one per parameter group)."""

    _resume_keeps_lr = True

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.lr_lambdas = _lambdas_per_group(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def _to_torch_state(self, state: dict[str, Any]) -> None:
        state["lr_lambdas"] = _lambdas_state(self.lr_lambdas)

    def _from_torch_state(self, state: dict[str, Any]) -> None:
        _load_lambdas(self.lr_lambdas, state.pop("lr_lambdas", None))

    def step(self, epoch: int | None = None) -> None:
        self._check_order()
        if epoch is not None:  # (torch's deprecated explicit epoch: no closed form, the factor at that epoch)
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        for g, lr in zip(self.optimizer.param_groups, self._get_lr_in_step()):
            g["lr"] = lr

    def get_lr(self) -> list[float]:
        """torch's: the current rates times the factor at ``last_epoch`` (from epoch 1 on)."""
        _warn_get_lr_outside_step(self)
        groups = self.optimizer.param_groups
        if self.last_epoch > 0:
            return [g["lr"] * fn(self.last_epoch) for g, fn in zip(groups, self.lr_lambdas)]
        return [g["lr"] for g in groups]

    def _user_schedule(self) -> bool:
        return False

    def _set(self, epoch: int) -> None:
        """The closed form (``load_state_dict``, ``SequentialLR``): base times every factor so far."""
        for g, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            lr = base
            for k in range(1, epoch + 1):
                lr = lr * fn(k)
            g["lr"] = lr


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017, torch's CyclicLR): per batch, lr climbs from base_lr to
    max_lr over step_size_up steps and back over step_size_down, the amplitude scaled by mode
    (triangular: 1, triangular2: halved each cycle, exp_range: gamma^step) or ``scale_fn``; momentum
    (or Adam's beta1) cycles the other way between max_momentum and base_momentum."""

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        groups = optimizer.param_groups
        base_lrs = _per_group(base_lr, groups, "base_lr")
        if last_epoch == -1:
            for g, lr in zip(groups, base_lrs):
                g["lr"] = lr
        self.max_lrs = _per_group(max_lr, groups, "max_lr")
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(base_momentum, groups, "base_momentum")
            self.max_momentums = _per_group(max_momentum, groups, "max_momentum")
            if last_epoch == -1:
                for g, hi, lo in zip(groups, self.max_momentums, self.base_momentums):
                    self._set_momentum(g, hi)
                    g["max_momentum"], g["base_momentum"] = hi, lo
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or step) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _set(self, epoch: int) -> None:
        cycle = math.floor(1 + epoch / self.total_size)
        x = 1.0 + epoch / self.total_size - cycle
        scale_factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else epoch)
        for g, base_lr, max_lr in zip(self.optimizer.param_groups, self.base_lrs, self.max_lrs):
            g["lr"] = base_lr + (max_lr - base_lr) * scale_factor * scale
        if self.cycle_momentum:
            for g, lo, hi in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                self._set_momentum(g, hi - (hi - lo) * scale_factor * scale)


class ChainedScheduler(LRScheduler):
    """Step several schedulers of one optimizer together; the chainable ones compose multiplicatively
    (e.g. ConstantLR warm-up times ExponentialLR decay), as torch's ChainedScheduler."""

    def __init__(self, schedulers: list[LRScheduler], optimizer: Optimizer | None = None) -> None:
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_schedulers(type(self).__name__, schedulers, optimizer)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.last_epoch = max(s.last_epoch for s in self._schedulers)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self) -> None:
        for sched in self._schedulers:
            sched.step()
        self.last_epoch += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "_schedulers": [s.state_dict() for s in self._schedulers],
            "_last_lr": self.get_last_lr(),
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # (torch's parameter name)
        state = state_dict
        for sched, sub in zip(self._schedulers, state["_schedulers"]):
            sched.load_state_dict(sub)
        for g, lr in zip(self.optimizer.param_groups, state["_last_lr"]):  # the composed rates, not the last one's
            g["lr"] = lr
        self._last_lr = list(state["_last_lr"])
        self.last_epoch = state.get("last_epoch", self.last_epoch)
