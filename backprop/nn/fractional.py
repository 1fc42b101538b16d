"""Fractional max pooling (Graham, 2014) with torch's names: ``F.fractional_max_pool2d/3d`` (and
``_with_indices``) and the ``FractionalMaxPool2d/3d`` modules.

Each (sample, channel) plane draws one number u in [0, 1) per pooled dim; window ``i`` of ``out`` along a
dim of size ``in`` with kernel ``k`` starts at ``int((i + u) a) - int(u a)``, a = (in - k) / (out - 1), and
the last window at ``in - k`` (torch's ``generate_intervals``, computed in the input's dtype as torch
does). ``_random_samples`` of shape (N, C, n) fixes the u's (the same samples give torch's windows);
without it they come from backprop's generator. The maximum of each window is chosen on the host-side
array (ties: the first in row-major order; a NaN wins, the last one if several, as torch's kernel) and
read with ``gather``, so the gradient goes to the returned index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop import creation, dtypes
from backprop.autograd.node_names import name_node
from backprop.nn._conv_functional import ntuple
from backprop.nn.module import Module
from backprop.ops._util import DTypeError, ShapeError
from backprop.tensor import Tensor

__all__ = [
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]

_DIM_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _output_size(name: str, input: Tensor, n: int, output_size: Any, output_ratio: Any) -> tuple[int, ...]:
    """``output_size`` as n ints, or ``int(size * ratio)`` per pooled dim (torch's rule)."""
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        return ntuple(output_size, n, "output_size", name)
    ratio = (float(output_ratio),) * n if isinstance(output_ratio, (int, float)) else tuple(output_ratio)
    if len(ratio) == 1:
        ratio = ratio * n
    if len(ratio) != n:
        raise ValueError(f"{name} requires output_ratio to be a single number or a tuple of {n}, got {output_ratio}")
    return tuple(int(input.shape[input.ndim - n + d] * float(r)) for d, r in enumerate(ratio))


def _window_starts(xp: Any, u: Any, size: int, out: int, pool: int) -> Any:
    """Start of each of ``out`` windows along a dim of ``size`` for the samples ``u`` (B, C): (B, C, out)."""
    last = xp.full((*u.shape, 1), size - pool, dtype=np.int64)
    if out == 1:
        return last
    scalar = u.dtype.type
    alpha = scalar(size - pool) / scalar(out - 1)  # (in the input's dtype, as torch's kernel)
    i = xp.arange(out - 1, dtype=u.dtype)
    starts = ((i + u[..., None]) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)[..., None]
    return xp.concatenate([starts, last], axis=-1)


def _fractional_max_pool(
    name: str,
    n: int,
    input: Tensor,
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    _random_samples: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """(values, flat indices) of fractional max pooling over the last ``n`` dims of a batched or unbatched input."""
    if input.ndim not in (n + 1, n + 2):
        raise ShapeError(
            f"{name}: expected {n + 1}D (unbatched) or {n + 2}D (batched) input, but got input of size "
            f"{list(input.shape)}"
        )
    if dtypes.kind(input.dtype) != "f":
        raise DTypeError(f'{name}: "{name}" not implemented for {input.dtype} input (expected a floating dtype)')
    for i in range(1 if input.ndim == n + 2 else input.ndim - n, input.ndim):  # (an empty batch is fine)
        if input.shape[i] == 0:
            raise RuntimeError(
                f"{name}(): Expected input to have non-zero size for non-batch dimensions, but got"
                f"{list(input.shape)} with dimension {i} being empty."
            )
    kernel = ntuple(kernel_size, n, "kernel_size", name)
    out = _output_size(name, input, n, output_size, output_ratio)
    unbatched = input.ndim == n + 1
    x = input.unsqueeze(0) if unbatched else input
    batch, channels, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
    for d in range(n):
        if out[d] + kernel[d] - 1 > spatial[d]:
            dim = _DIM_NAMES[n][d]
            raise RuntimeError(f"{name}(): pool {dim} {kernel[d]} too large relative to input {dim} {spatial[d]}")
        if out[d] < 1:
            raise RuntimeError(f"{name}(): output size {out} must be positive (input size {list(input.shape)})")
    if _random_samples is None:
        samples = creation.rand(batch, channels, n, dtype=input.dtype, device=input.device)
    else:
        # torch reads the first ``batch`` rows: more rows than the batch are fine (an unbatched input is a batch of one)
        samples = _random_samples
        if samples.ndim != 3 or samples.shape[2] != n:
            raise ShapeError(
                f"{name}: expected _random_samples of shape (batch, channels, {n}) for input of size "
                f"{list(input.shape)}, but got {list(samples.shape)}"
            )
        if samples.shape[0] < batch:
            raise ShapeError("Expect _random_samples.size(0) no less then input batch size.")
        if samples.shape[1] != channels:
            raise ShapeError("Expect _random_samples.size(1) equals to input channel size.")
        samples = samples[:batch]
    xp = input.device.xp
    u = samples.detach()._data.astype(input.dtype, copy=False)
    # torch's sample order: (W, H) for 2-d pooling, (T, H, W) for 3-d
    order = (1, 0) if n == 2 else (0, 1, 2)
    flat = None  # flat position of every window element: (B, C, *out, *kernel)
    stride = 1
    for d in reversed(range(n)):
        starts = _window_starts(xp, u[..., order[d]], spatial[d], out[d], kernel[d])
        pos = starts[..., None] + xp.arange(kernel[d], dtype=np.int64)  # (B, C, out_d, k_d)
        shape = [batch, channels] + [1] * (2 * n)
        shape[2 + d], shape[2 + n + d] = out[d], kernel[d]
        term = pos.reshape(shape) * stride
        flat = term if flat is None else flat + term
        stride *= spatial[d]
    assert flat is not None
    window = int(np.prod(kernel))
    n_out = int(np.prod(out))  # (explicit sizes, no -1: an empty batch has none to infer)
    flat = xp.broadcast_to(flat, (batch, channels, *out, *kernel)).reshape(batch, channels, n_out, window)
    data = x.detach()._data.reshape(batch, channels, int(np.prod(spatial)))
    vals = xp.take_along_axis(data, flat.reshape(batch, channels, n_out * window), axis=-1).reshape(flat.shape)
    nan = xp.isnan(vals)
    pick = xp.where(nan.any(-1), window - 1 - xp.argmax(nan[..., ::-1], axis=-1), xp.argmax(vals, axis=-1))
    index = xp.take_along_axis(flat, pick[..., None], axis=-1)[..., 0]  # (B, C, prod(out))
    idx = Tensor._wrap(index, input.device, None)
    y = x.flatten(2).gather(2, idx).reshape(batch, channels, *out)
    idx = idx.reshape(batch, channels, *out)
    if unbatched:
        y, idx = y.squeeze(0), idx.squeeze(0)
    return name_node(y, f"FractionalMaxPool{n}DBackward0"), idx


def fractional_max_pool2d_with_indices(
    input: Tensor,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Fractional 2-d max pooling of (N, C, H, W) or (C, H, W): (values, flat H*W indices)."""
    return _fractional_max_pool(
        "fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio, _random_samples
    )


def fractional_max_pool3d_with_indices(
    input: Tensor,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Fractional 3-d max pooling of (N, C, T, H, W) or (C, T, H, W): (values, flat T*H*W indices)."""
    return _fractional_max_pool(
        "fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio, _random_samples
    )


def fractional_max_pool2d(
    input: Tensor,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
) -> Any:
    """Fractional 2-d max pooling; ``(values, indices)`` when ``return_indices``, else the values."""
    y, idx = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio, False, _random_samples)
    return (y, idx) if return_indices else y


def fractional_max_pool3d(
    input: Tensor,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
) -> Any:
    """Fractional 3-d max pooling; ``(values, indices)`` when ``return_indices``, else the values."""
    y, idx = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio, False, _random_samples)
    return (y, idx) if return_indices else y


class _FractionalMaxPoolNd(Module):
    """Fractional max pooling with a fixed kernel and an output size or ratio; ``_random_samples`` a buffer."""

    _n = 2

    def __init__(
        self,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Tensor | None = None,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._n
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", name)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = ntuple(output_size, n, "output_size", name) if output_size is not None else None
        ratio = None
        if output_ratio is not None:
            ratio = (output_ratio,) * n if isinstance(output_ratio, (int, float)) else tuple(output_ratio)
        self.output_ratio = ratio
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if ratio is not None and not all(0 < r < 1 for r in ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor) -> Any:
        fn = fractional_max_pool2d if self._n == 2 else fractional_max_pool3d
        return fn(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            _random_samples=self._random_samples,
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling over (H, W) windows at pseudo-random strides (``F.fractional_max_pool2d``)."""

    _n = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling over (T, H, W) windows at pseudo-random strides (``F.fractional_max_pool3d``)."""

    _n = 3
