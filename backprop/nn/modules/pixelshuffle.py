"""torch.nn.modules.pixelshuffle: ``PixelShuffle`` and ``PixelUnshuffle``."""

from backprop.nn.layers import PixelShuffle, PixelUnshuffle

__all__ = ["PixelShuffle", "PixelUnshuffle"]
