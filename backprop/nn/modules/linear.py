"""torch.nn.modules.linear: ``Identity``, ``Linear``, ``Bilinear``, ``LazyLinear``."""

from backprop.nn._multihead_attention import NonDynamicallyQuantizableLinear
from backprop.nn.layers import Bilinear, Identity, LazyLinear, Linear

__all__ = ["Bilinear", "Identity", "LazyLinear", "Linear", "NonDynamicallyQuantizableLinear"]
