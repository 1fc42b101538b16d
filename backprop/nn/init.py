"""In-place initialisers (torch.nn.init names), drawing from the tensor's device generator."""

from __future__ import annotations

import math

from backprop.autograd.grad_mode import no_grad
from backprop.autograd.trace import replayed_whole
from backprop.tensor import Tensor


def _fans(t: Tensor) -> tuple[int, int]:
    if t.ndim < 2:
        raise ValueError(f"fan in/out need a tensor with at least 2 dims, got shape {t.shape}")
    receptive = 1
    for s in t.shape[2:]:
        receptive *= s
    return t.shape[1] * receptive, t.shape[0] * receptive


@replayed_whole
def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    rng = t.device.backend.rng(t.device.index)
    with no_grad():
        t.data[...] = rng.uniform(a, b, t.shape).astype(t.dtype)
    return t


@replayed_whole
def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2)."""
    rng = t.device.backend.rng(t.device.index)
    with no_grad():
        t.data[...] = (rng.standard_normal(t.shape) * std + mean).astype(t.dtype)
    return t


@replayed_whole
def zeros_(t: Tensor) -> Tensor:
    t.data[...] = 0
    return t


@replayed_whole
def ones_(t: Tensor) -> Tensor:
    t.data[...] = 1
    return t


@replayed_whole
def kaiming_uniform_(t: Tensor, a: float = 0.0) -> Tensor:
    """He-uniform with leaky-ReLU slope ``a`` (fan_in mode), as torch's default Linear init."""
    fan_in, _ = _fans(t)
    gain = math.sqrt(2.0 / (1 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(t, -bound, bound)


@replayed_whole
def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot-uniform."""
    fan_in, fan_out = _fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)
