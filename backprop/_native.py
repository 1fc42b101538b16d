"""torch's ``native_*`` top-level functions: the ATen kernels under the nn.functional norms and dropout,
with their return tuples. ``native_layer_norm`` -> (out, mean, rstd), ``native_batch_norm`` ->
(out, save_mean, save_invstd), ``native_group_norm`` -> (out, mean, rstd), ``native_dropout`` ->
(out, mask); plus ``native_norm`` and ``native_channel_shuffle``. Each output is computed from
``nn.functional``'s (its values and gradients); the statistics are torch's shapes and, as in torch,
differentiable only for group norm. Loaded on first use (backprop/__init__.py's ``_LAZY``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import dtypes
from backprop import linalg as _linalg
from backprop.autograd import trace
from backprop.autograd.function import not_a_tensor_here
from backprop.creation import empty, ones
from backprop.methods.random import dropout_keep
from backprop.nn import functional as F  # noqa: N812
from backprop.tensor import Tensor

__all__ = [
    "_native_batch_norm_legit",
    "native_batch_norm",
    "native_channel_shuffle",
    "native_dropout",
    "native_group_norm",
    "native_layer_norm",
    "native_norm",
]


def native_layer_norm(
    input: Tensor,  # noqa: A002 - torch's name
    normalized_shape: Sequence[int],
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(layer_norm's output, the mean, 1/sqrt(biased variance + eps)); the statistics have the input's
    leading dims followed by ones (``(N, 1, ..., 1)``) and carry no gradient (torch)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    out = F.layer_norm(input, shape, weight, bias, eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    half = _half_stat_dtype(input, weight, bias)
    x = input.detach() if half is None else input.detach().float()
    if not dims:  # normalized_shape (): one element per statistic
        mean, var = x * 1, x * 0
    else:
        mean = x.mean(dims, keepdim=True)
        var = x.var(dims, unbiased=False, keepdim=True)
    rstd = (var + eps).rsqrt()
    return out, mean if half is None else mean.to(half), rstd if half is None else rstd.to(half)


def _half_stat_dtype(input: Tensor, *params: Tensor | None) -> Any:  # noqa: A002
    """For a float16/bfloat16 input, the dtype torch keeps its norm statistics in (computed in float32): the
    input's, or float32 when a parameter is float32 (the mixed-type kernels); None for other inputs."""
    d = input.dtype
    if not (d is dtypes.float16 or dtypes.is_bfloat16(d)):
        return None
    return np.dtype("float32") if any(p is not None and p.dtype == np.float32 for p in params) else d


def native_batch_norm(
    input: Tensor,  # noqa: A002
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(batch_norm's output, the batch mean per channel, 1/sqrt(biased batch variance + eps)) when
    ``training`` (the running statistics are then updated in place), else the output and two empty
    tensors, as torch; the statistics carry no gradient."""
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("native_batch_norm: running_mean and running_var must be defined in evaluation mode")
    out = F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    half = _half_stat_dtype(input, weight, bias, running_mean, running_var)
    stat_dtype = input.dtype if half is None else half
    if not training:
        return out, empty(0, dtype=stat_dtype, device=input.device), empty(0, dtype=stat_dtype, device=input.device)
    x = input.detach() if half is None else input.detach().float()
    dims = (0, *range(2, input.ndim))
    mean = x.mean(dims)
    var = x.var(dims, unbiased=False)
    return out, mean.to(stat_dtype), (var + eps).rsqrt().to(stat_dtype)


def _native_batch_norm_legit(input: Tensor, weight: Tensor | None, bias: Tensor | None, *args: Any) -> Any:  # noqa: A002
    """torch._native_batch_norm_legit: ``(..., running_mean, running_var, training, momentum, eps)`` as
    ``native_batch_norm``, or ``(..., training, momentum, eps)`` without running statistics (the batch's are
    used and returned whatever ``training`` says)."""
    if len(args) == 5:
        return native_batch_norm(input, weight, bias, *args)
    if len(args) != 3:
        raise TypeError(
            "_native_batch_norm_legit() takes (input, weight, bias, [running_mean, running_var,] "
            "training, momentum, eps)"
        )
    _, momentum, eps = args
    return native_batch_norm(input, weight, bias, None, None, True, momentum, eps)


def native_group_norm(
    input: Tensor,  # noqa: A002
    weight: Tensor | None,
    bias: Tensor | None,
    N: int,  # noqa: N803 - torch's names
    C: int,  # noqa: N803
    HxW: int,  # noqa: N803
    group: int,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(group_norm's output, the mean per (sample, group), 1/sqrt(biased variance + eps)): statistics of
    shape (N, group), differentiable as torch's are."""
    if tuple(input.shape[:2]) != (N, C) or input.numel() != N * C * HxW:
        raise RuntimeError(
            f"native_group_norm: Expected input of shape ({N}, {C}, ...) with {N * C * HxW} elements, "
            f"got {tuple(input.shape)}"
        )
    out = F.group_norm(input, group, weight, bias, eps)
    x = input.reshape(N, group, (C // group) * HxW if group else 0)
    mean = x.mean(-1)
    var = x.var(-1, unbiased=False)
    return out, mean, (var + eps).rsqrt()


def _keep_mask(dev: Any, shape: tuple, p: float, strides: tuple) -> Any:
    """keep ~ Bernoulli(1 - p) as a bool array, from the device's generator (a replayed step draws anew), in
    the memory order of ``strides`` (the input's: torch draws into ``empty_like(input)``)."""
    return dropout_keep(dev, shape, p, strides)


def native_dropout(input: Tensor, p: float, train: bool | None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """(dropout's output, the bool mask of kept elements); ``train=False`` gives a copy and an all-True mask,
    ``train=None`` trains (torch)."""
    if train is not None and not train:
        return input * 1, ones(tuple(input.shape), dtype=dtypes.bool_, device=input.device)
    dev = input.device
    mask = Tensor._wrap(trace.record(_keep_mask, dev, tuple(input.shape), float(p), input._data.strides), dev, None)
    scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
    return input * mask * scale, mask


def native_norm(
    input: Tensor,  # noqa: A002
    p: Any = 2,
    dim: Any = None,
    keepdim: bool = False,
    dtype: Any = None,
) -> Tensor:
    """The vector ``p``-norm over ``dim`` (all elements by default): torch.native_norm, which torch runs
    only for sparse tensors, computed for dense ones (as ``linalg.vector_norm``)."""
    return _linalg.vector_norm(input, 2 if p is None else p, dim, keepdim, dtype=dtype)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """``channel_shuffle``: (N, g * k, ...) -> (N, k * g, ...) regrouping the channels."""
    try:
        return F.channel_shuffle(input, groups)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise
