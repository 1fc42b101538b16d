"""torch.nn.modules.batchnorm: batch norms and their bases (``isinstance(m, _BatchNorm)`` holds for
BatchNorm1d/2d/3d, their lazy forms and SyncBatchNorm, not for instance norms, as torch)."""

from backprop.nn.data_parallel import SyncBatchNorm
from backprop.nn.lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d
from backprop.nn.lazy import _LazyNorm as _LazyNormBase
from backprop.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm, _NormBase

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "SyncBatchNorm", "_BatchNorm", "_LazyNormBase", "_NormBase",
]  # fmt: skip
