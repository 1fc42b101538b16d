"""torch.nn.modules.conv: convolutions and their bases ``_ConvNd`` / ``_ConvTransposeNd``."""

from backprop.nn.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    _ConvNd,
)
from backprop.nn.conv import _ConvTranspose as _ConvTransposeNd
from backprop.nn.lazy import (
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
)
from backprop.nn.lazy import _LazyConvMixin as _LazyConvXdMixin

__all__ = [
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "LazyConv1d", "LazyConv2d",
    "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "_ConvNd", "_ConvTransposeNd",
    "_LazyConvXdMixin",
]  # fmt: skip
