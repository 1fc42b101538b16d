"""torch.nn.modules.instancenorm: instance norms and their base ``_InstanceNorm`` (a ``_NormBase``,
not a ``_BatchNorm``, as torch)."""

from backprop.nn.lazy import LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d
from backprop.nn.normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, _InstanceNorm

__all__ = [
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
    "LazyInstanceNorm3d", "_InstanceNorm",
]  # fmt: skip
