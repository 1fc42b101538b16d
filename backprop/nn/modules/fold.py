"""torch.nn.modules.fold: ``Fold`` and ``Unfold``."""

from backprop.nn.conv import Fold, Unfold

__all__ = ["Fold", "Unfold"]
