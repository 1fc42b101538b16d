"""torch.nn.modules.upsampling: ``Upsample`` and the two deprecated fixed-mode forms."""

from backprop.nn.pooling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]
