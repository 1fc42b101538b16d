"""torch.nn's legacy names: ``Container`` and ``NLLLoss2d`` (deprecated, with torch's FutureWarning) and
``CrossMapLRN2d`` (Lua Torch's cross-channel LRN).

``CrossMapLRN2d`` reproduces torch's ``_functions.CrossMapLRN2d`` as it is, not ``LocalResponseNorm``:
its running channel sum never drops the first channel (channel c sums channels 0 .. c + (size - 1) // 2
once c exceeds ``size // 2 + 1``), and its backward is torch's hand-written rule, which is not the
derivative of that forward. Both are kept so that values and gradients are torch's; ``LocalResponseNorm``
is the consistent one.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from backprop.autograd.custom import Function
from backprop.nn.loss import NLLLoss
from backprop.nn.module import Module
from backprop.ops._util import ShapeError
from backprop.tensor import Tensor

__all__ = ["Container", "CrossMapLRN2d", "NLLLoss2d"]


class Container(Module):
    """Deprecated (torch's FutureWarning): a Module holding the modules given as keyword arguments."""

    def __init__(self, **kwargs: Module) -> None:
        warnings.warn(
            "`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
            "Subclass that instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)


class NLLLoss2d(NLLLoss):
    """Deprecated alias of ``NLLLoss`` (torch's FutureWarning); same arguments and values."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        warnings.warn(
            "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and see "
            "https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


def _forward_window(channels: int, size: int) -> np.ndarray:
    """(C, C) 0/1 matrix: row c marks the channels torch's running sum holds for channel c."""
    pre_pad = int((size - 1) / 2 + 1)
    m = np.zeros((channels, channels))
    m[0, : min(pre_pad, channels)] = 1
    for c in range(1, channels):
        m[c] = m[c - 1]
        if c < channels - pre_pad + 1:
            m[c, c + pre_pad - 1] += 1
        if c > pre_pad:
            m[c, c - pre_pad] -= 1
    return m


def _backward_window(channels: int, size: int) -> np.ndarray:
    """(C, C) 0/1 matrix: row c marks the ratios torch's backward accumulates for channel c."""
    shift = int(size - (size - 1) / 2)
    m = np.zeros((channels, channels))
    for c in range(channels):
        lo, hi = max(c - shift, 0), min(c + size - 1 - shift, channels - 1)
        m[c, lo : hi + 1] = 1
    return m


def _channel_mix(m: np.ndarray, x: Tensor) -> Tensor:
    """sum_j m[c, j] x[n, j, h, w] as a matmul over the channel dim."""
    n, c, h, w = x.shape
    mix = Tensor._wrap(x.device.xp.asarray(m, dtype=x.dtype), x.device, None)
    return mix.matmul(x.reshape(n, c, h * w)).reshape(n, c, h, w)


class _CrossMapLRN2dFunction(Function):
    """torch's legacy cross-channel LRN: y = x (k + alpha / size * window_sum(x^2))^-beta."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
        if input.ndim != 4:
            raise ShapeError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
        scale = _channel_mix(_forward_window(input.shape[1], size), input * input) * (alpha / size) + k
        output = input * scale.pow(-beta)
        ctx.size, ctx.alpha, ctx.beta = size, alpha, beta
        ctx.save_for_backward(input, output, scale)
        return output

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        # torch's rule: gx = gy scale^-beta - 2 alpha beta / size * x * window'(gy y / scale)
        input, output, scale = ctx.saved_tensors
        ratio = gy * output / scale
        accum = _channel_mix(_backward_window(input.shape[1], ctx.size), ratio)
        gx = gy * scale.pow(-ctx.beta) - (2 * ctx.alpha * ctx.beta / ctx.size) * input * accum
        return gx, None, None, None, None


_CrossMapLRN2dFunction.__name__ = "CrossMapLRN2d"  # torch's Function class, which names the node


class CrossMapLRN2d(Module):
    """Lua Torch's cross-channel local response normalisation of (N, C, H, W) inputs, as torch keeps it."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return _CrossMapLRN2dFunction.apply(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
