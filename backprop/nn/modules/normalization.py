"""torch.nn.modules.normalization: ``LocalResponseNorm``, ``CrossMapLRN2d``, ``LayerNorm``, ``GroupNorm``,
``RMSNorm``."""

from backprop.nn.layers import LayerNorm
from backprop.nn.legacy import CrossMapLRN2d
from backprop.nn.normalization import GroupNorm, LocalResponseNorm, RMSNorm

__all__ = ["CrossMapLRN2d", "GroupNorm", "LayerNorm", "LocalResponseNorm", "RMSNorm"]
