"""Channel-wise and alpha dropout (torch.nn.functional and torch.nn names): dropout1d/2d/3d,
alpha_dropout, feature_alpha_dropout and their modules.

Masks are drawn from the device's generator (not torch's random stream: values differ from torch,
the distribution and the rules do not) and reported to ``trace.record``, so a ``bp.compile`` replay
draws anew. Channel-wise ("feature") masks have shape (N, C, 1, ...): a whole channel is kept or
zeroed. As in torch, ``p == 0``, ``training=False`` and an empty input return the input itself.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from backprop.autograd import trace
from backprop.methods.random import dropout_keep, dropout_scale
from backprop.nn.module import Module
from backprop.tensor import Tensor

__all__ = [
    "AlphaDropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "alpha_dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
]

_SELU_ALPHA_SCALED = 1.7580993408473766  # selu's scale * alpha: the value selu saturates to, negated


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(dev: Any, shape: tuple, p: float, dtype: Any, strides: tuple | None) -> Any:
    """keep ~ Bernoulli(1 - p) of ``shape`` as 0/1 of ``dtype``, from the device's generator (in the memory
    order of ``strides``, the input's, where torch draws into ``empty_like(input)``)."""
    return dropout_keep(dev, shape, p, strides).astype(dtype)


def _dropout_impl(input: Tensor, p: float, training: bool, inplace: bool, feature: bool, alpha: bool) -> Tensor:
    """torch's ``_dropout_impl``: keep / (1 - p), or for alpha dropout a (x keep + alpha' (keep - 1)) + alpha' a p
    with a = 1 / sqrt((alpha'^2 p + 1)(1 - p)), which keeps selu's zero mean and unit variance."""
    if p == 0 or not training or input.numel() == 0:
        return input
    if feature and input.ndim < 2:
        raise RuntimeError(
            f"Feature dropout requires at least 2 dimensions in the input, got an input of shape {tuple(input.shape)}"
        )
    if p == 1:
        return input.mul_(0.0) if inplace else input * 0.0
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if feature else tuple(input.shape)
    dev = input.device
    strides = None if feature else input._data.strides  # (feature noise is a new contiguous tensor)
    keep = Tensor._wrap(trace.record(_keep_mask, dev, shape, p, input.dtype, strides), dev, None)
    if not alpha:
        scale = keep * Tensor._wrap(dropout_scale(dev.xp, p, input.dtype), dev, None)
        return input.mul_(scale) if inplace else input * scale
    a = 1.0 / math.sqrt((_SELU_ALPHA_SCALED**2 * p + 1) * (1 - p))
    shift = (keep - 1) * (_SELU_ALPHA_SCALED * a) + _SELU_ALPHA_SCALED * a * p
    scale = keep * a
    return input.mul_(scale).add_(shift) if inplace else input * scale + shift


def _unbatched(input: Tensor, p: float, training: bool, inplace: bool, batched: bool) -> Tensor:
    """Channel dropout of an input without its batch dim: as a batch of one, as torch."""
    if batched:
        return _dropout_impl(input, p, training, inplace, True, False)
    if p == 0 or not training or input.numel() == 0:
        return input
    out = _dropout_impl(input.unsqueeze(0), p, training, False, True, False).squeeze(0)
    return input.copy_(out) if inplace else out  # in place: the mask drawn for (1, C, ...), written back


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p``, scale the rest by 1/(1-p)."""
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that dropout1d exists "
            "to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an "
            "optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return _unbatched(input, p, training, inplace, input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) with probability ``p``; a 3-d input is read as (N, C, L), with
    torch's warnings."""
    _check_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _dropout_impl(input, p, training, inplace, True, False)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability ``p``."""
    _check_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    return _unbatched(input, p, training, inplace, input.ndim == 5)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for selu networks: dropped elements become selu's saturation value, then an affine map
    restores zero mean and unit variance."""
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, False, True)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels (dim 1)."""
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, True, True)


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        _check_p(p)
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) while training (``F.dropout1d``)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) while training (``F.dropout2d``)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) while training (``F.dropout3d``)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Alpha dropout while training (``F.alpha_dropout``; ``inplace`` is ignored, as in torch)."""

    def forward(self, input: Tensor) -> Tensor:
        return alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """Channel-wise alpha dropout while training (``F.feature_alpha_dropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        return feature_alpha_dropout(input, self.p, self.training)
