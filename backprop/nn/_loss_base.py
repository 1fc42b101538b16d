"""The losses' bases ``_Loss`` and ``_WeightedLoss`` (torch's names and constructor arguments), apart from
``loss.py`` so that losses defined next to their functional (``CTCLoss``) can derive from them without an
import cycle through ``nn.functional``."""

from __future__ import annotations

from backprop.nn._common import _legacy_reduction
from backprop.nn.module import Module
from backprop.tensor import Tensor

__all__ = ["_Loss", "_WeightedLoss"]


class _Loss(Module):
    """Base of the losses: ``reduction`` (or torch's deprecated ``size_average``/``reduce`` pair)."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _legacy_reduction(size_average, reduce, reduction)

    def extra_repr(self) -> str:
        return ""


class _WeightedLoss(_Loss):
    """Base of the losses with class weights: ``weight`` is a buffer (moved by ``to``, in ``state_dict``)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
