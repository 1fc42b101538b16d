"""Helpers ``nn.functional`` and its companion modules (``_losses_extra``, ``_functional_extra``) share:
kept here so those modules need not import ``functional``, which imports them."""

from __future__ import annotations

import warnings
from typing import Any

from backprop.autograd.function import not_a_tensor_here
from backprop.autograd.node_names import name_node
from backprop.tensor import Tensor


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """torch's deprecated ``size_average``/``reduce`` pair as a ``reduction`` string, with its warning."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.", stacklevel=3
    )
    return ret


def _running_update(buf: Any, stat: Any, momentum: float, c: int) -> None:
    """buf = (1 - momentum) buf + momentum stat, in place (batch norm's running statistics)."""
    if buf.dtype.itemsize == 2:  # float16/bfloat16 buffers: computed in float32 and rounded once, as torch's
        s32 = stat.reshape(c).astype("float32")
        buf[...] = ((1 - momentum) * buf.astype("float32") + momentum * s32).astype(buf.dtype)
        return
    buf[...] = (1 - momentum) * buf + momentum * stat.reshape(c).astype(buf.dtype)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim."""
    try:
        out = (x1 - x2 + eps).norm(p, max(x1.ndim, x2.ndim) - 1, keepdim=keepdim)
        return name_node(out, "NormBackward1")  # (torch's at::norm(x, p, dim), not linalg.vector_norm)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _channel_shape(input: Tensor) -> tuple[int, ...]:
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)
