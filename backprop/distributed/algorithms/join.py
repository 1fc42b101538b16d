"""``torch.distributed.algorithms.join``: training with uneven inputs (``Join``, ``Joinable``, ``JoinHook``).

A rank that runs out of inputs leaves its training loop and enters ``Join.__exit__``; there it "shadows" the
collectives of the ranks still training (each joinable's ``JoinHook.main_hook``) until every rank has joined, then
runs the post-hooks (DDP: the final model from the last rank to join). Each iteration the first joinable of the
ranks still training calls ``Join.notify_join_context`` (an all-reduce of ones), which the joined ranks match with
an all-reduce of zeros: its sum is the number of ranks still training. torch's protocol, messages and errors.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

from backprop import distributed as dist
from backprop.devices import Device
from backprop.devices import device as _device
from backprop.tensor import Tensor

__all__ = ["Join", "JoinHook", "Joinable"]


class JoinHook:
    """The two entry points of a joinable in ``Join``: ``main_hook`` (each iteration while some rank still trains)
    and ``post_hook(is_last_joiner)`` (once, after every rank has joined). Both do nothing by default."""

    def main_hook(self) -> None:
        """Shadow the collectives of one training iteration (forward, backward, optimizer step)."""

    def post_hook(self, is_last_joiner: bool) -> None:
        """Run once all ranks have joined; ``is_last_joiner``: this rank was among the last to join."""


class Joinable(ABC):
    """A class that takes part in ``Join``: ``join_hook(**kwargs)``, ``join_device``, ``join_process_group``; its
    per-iteration collectives must be preceded by ``Join.notify_join_context(self)``."""

    @abstractmethod
    def __init__(self) -> None:
        super().__init__()
        self._join_config = _JoinConfig.construct_disabled_join_config()

    @abstractmethod
    def join_hook(self, **kwargs: Any) -> JoinHook:
        """The ``JoinHook`` of this joinable (``kwargs``: the ``Join``'s keyword arguments, the same for all)."""
        ...

    @property
    @abstractmethod
    def join_device(self) -> Any:
        """The device of the join context manager's own collectives."""
        ...

    @property
    @abstractmethod
    def join_process_group(self) -> Any:
        """The process group of the join context manager's own collectives."""
        ...


class _JoinConfig(NamedTuple):
    """What ``Join`` tells each joinable: enabled, throw on early termination, the first (notifying) joinable."""

    enable: bool
    throw_on_early_termination: bool
    is_first_joinable: bool

    @staticmethod
    def construct_disabled_join_config() -> _JoinConfig:
        """The configuration outside any join context manager."""
        return _JoinConfig(enable=False, throw_on_early_termination=False, is_first_joinable=False)


def _flag(device: Any, value: float) -> Tensor:
    """A one-element float32 tensor on ``device`` (a ``Device`` or a spec such as ``"cpu"``)."""
    dev = device if isinstance(device, Device) else _device(device if device is not None else "cpu")
    data = dev.xp.full(1, value, dtype=np.float32)
    return Tensor._wrap(data, dev, None)


class Join:
    """Context manager for uneven inputs: on leaving it, a rank runs its joinables' main hooks until every rank has
    joined, then their post-hooks (``is_last_joiner`` tells the last ones). ``enable=False``: a plain context.
    ``throw_on_early_termination=True``: every rank raises ``RuntimeError`` once one has run out of inputs.
    ``kwargs`` go to every ``join_hook`` (DDP: ``divide_by_initial_world_size``)."""

    def __init__(
        self,
        joinables: list[Joinable],
        enable: bool = True,
        throw_on_early_termination: bool = False,
        **kwargs: Any,
    ) -> None:
        if len(joinables) == 0:
            raise ValueError("The join context manager requires at least one joinable")
        self._joinables = joinables
        self._join_hooks = [joinable.join_hook(**kwargs) for joinable in self._joinables]
        self._enable = enable
        self._throw_on_early_termination = throw_on_early_termination
        self._set_joinable_configs()
        self._extract_dist_info()

    def _set_joinable_configs(self) -> None:
        """Each joinable's ``_JoinConfig``; the first one does the notifying collectives."""
        for i, joinable in enumerate(self._joinables):
            joinable._join_config = _JoinConfig(
                enable=self._enable,
                throw_on_early_termination=self._throw_on_early_termination,
                is_first_joinable=i == 0,
            )

    def _extract_dist_info(self) -> None:
        """The joinables' common process group (else torch's ValueError) and the first one's device."""
        process_group = None
        device = None
        for joinable in self._joinables:
            if process_group is None:
                process_group = joinable.join_process_group
            elif process_group != joinable.join_process_group:
                raise ValueError("Using join context manager with multiple process groups")
            if device is None:
                device = joinable.join_device
        self._process_group = process_group
        self._rank = dist.get_rank(self._process_group)
        self._device = device

    def __enter__(self) -> None: ...

    def __exit__(
        self,
        type: type[BaseException] | None,  # noqa: A002 - torch's parameter name
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Run the main hooks until all ranks have joined, then the post-hooks; an exception passes through."""
        if not self._enable or type:
            return
        all_procs_joined = False
        is_last_joiner = True
        i = 0
        warn_threshold = 1000
        warned = False
        while not all_procs_joined:
            if i > warn_threshold and not warned:
                warnings.warn(
                    f"Detected uneven input skew of greater than {warn_threshold}. This means that rank "
                    f"{self._rank} has at least {warn_threshold} fewer inputs than other currently-active ranks. "
                    "This level of skew could lead to performance degradation during training.",
                    stacklevel=2,
                )
                warned = True
            num_nonjoined_procs = self._get_num_nonjoined_procs()  # (matches the others' notify all-reduce)
            if num_nonjoined_procs == 0:
                all_procs_joined = True
            else:
                if self._throw_on_early_termination:
                    self._notify_procs_to_terminate()
                for join_hook in self._join_hooks:
                    join_hook.main_hook()
                is_last_joiner = False
                i += 1
        for join_hook in self._join_hooks:
            join_hook.post_hook(is_last_joiner)

    def _get_num_nonjoined_procs(self) -> float:
        """The number of ranks still training: an all-reduce of zeros against their notifying ones."""
        num = _flag(self._device, 0.0)
        dist.all_reduce(num, group=self._process_group)
        return float(num._data[0])

    def _notify_procs_to_terminate(self) -> None:
        """Tell the ranks still training to raise (an all-reduce of ones), then raise here."""
        dist.all_reduce(_flag(self._device, 1.0), group=self._process_group)
        raise RuntimeError(f"Rank {self._rank} exhausted all inputs.")

    @staticmethod
    def notify_join_context(joinable: Joinable) -> Any:
        """Tell the join context manager that this rank has not joined (call before the iteration's collectives);
        with ``throw_on_early_termination``, raise if some rank has. A work handle for the first joinable, else
        None (and None outside an enabled ``Join``)."""
        if not hasattr(joinable, "_join_config"):
            raise AssertionError(f"Check that the {type(joinable)} constructor calls the ``Joinable`` constructor")
        join_config = joinable._join_config
        if not join_config.is_first_joinable or not join_config.enable:
            return None
        device = joinable.join_device
        process_group = joinable.join_process_group
        work = dist.all_reduce(_flag(device, 1.0), group=process_group, async_op=True)
        if join_config.throw_on_early_termination:
            zeros = _flag(device, 0.0)
            dist.all_reduce(zeros, group=process_group)
            if float(zeros._data[0]):
                raise RuntimeError("Detected at least one rank that exhausted inputs. Throwing across all ranks.")
        return work
