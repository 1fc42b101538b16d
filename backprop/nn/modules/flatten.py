"""torch.nn.modules.flatten: ``Flatten`` and ``Unflatten``."""

from backprop.nn.layers import Flatten, Unflatten

__all__ = ["Flatten", "Unflatten"]
