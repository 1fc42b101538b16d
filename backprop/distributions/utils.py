"""Helpers shared by the distributions: broadcasting parameters, probabilities <-> logits, lazy
properties, and drawing samples from backprop's generators (recorded for ``bp.compile``)."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop import creation, dtypes
from backprop import functions as fn
from backprop.autograd import enable_grad, trace
from backprop.backends import torch_rng
from backprop.methods.random import generator_rng, on_device, torch_stream
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = [
    "broadcast_all",
    "clamp_probs",
    "lazy_property",
    "logits_to_probs",
    "probs_to_logits",
    "tril_matrix_to_vec",
    "vec_to_tril_matrix",
]

euler_constant = 0.57721566490153286060  # the Euler-Mascheroni constant


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """``values`` (tensors and numbers) broadcast together; numbers become tensors of the first tensor's
    dtype and device (of the default dtype when all are numbers), as torch's."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError(
            "Input arguments must all be instances of Number, torch.Tensor or objects implementing __torch_function__."
        )
    first = next((v for v in values if isinstance(v, Tensor)), None)
    if first is None:
        values = tuple(creation.tensor(v, dtype=dtypes.get_default_dtype()) for v in values)
    else:
        values = tuple(
            v if isinstance(v, Tensor) else creation.tensor(v, dtype=first.dtype, device=first.device) for v in values
        )
    return tuple(fn.broadcast_tensors(*values))


def as_size(shape: Any) -> Size:
    """``shape`` (an int, a tuple or a Size) as a Size."""
    return Size((shape,)) if isinstance(shape, int) else Size(tuple(shape))


def sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum out the ``dim`` rightmost dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from log-odds (``is_binary``) or from unnormalised log-probabilities along the last dim."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """``probs`` clamped to [eps, 1 - eps], eps the machine epsilon of its dtype."""
    eps = float(np.finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds (``is_binary``) or log-probabilities of (clamped) probabilities."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def _tril_mask(n: int, diag: int, device: Any) -> Tensor:
    """The (n, n) mask of the entries on or below the ``diag``-th diagonal."""
    arange = creation.arange(n, device=device)
    return arange < arange.view(-1, 1) + (diag + 1)


def tril_matrix_to_vec(mat: Tensor, diag: int = 0) -> Tensor:
    """The entries of a (..., D, D) matrix on or below its ``diag``-th diagonal, in row order: (..., K)."""
    n = mat.shape[-1]
    if diag < -n or diag >= n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    return mat[..., _tril_mask(n, diag, mat.device)]


def vec_to_tril_matrix(vec: Tensor, diag: int = 0) -> Tensor:
    """The (..., D, D) lower triangular matrix (below its ``diag``-th diagonal) whose entries, in row order, are
    the last dim of ``vec``; the inverse of :func:`tril_matrix_to_vec`."""
    # the positive root of D**2 + (1 + 2 diag) D - |diag| (diag + 1) - 2 K = 0
    n = (-(1 + 2 * diag) + ((1 + 2 * diag) ** 2 + 8 * vec.shape[-1] + 4 * abs(diag) * (diag + 1)) ** 0.5) / 2
    if round(n) - n > float(np.finfo(vec.dtype).eps):
        raise ValueError(
            f"The size of last dimension is {vec.shape[-1]} which cannot be expressed as "
            "the lower triangular part of a square D x D matrix."
        )
    n = round(n)
    mat = vec.new_zeros(tuple(vec.shape[:-1]) + (n, n))
    mat[..., _tril_mask(n, diag, vec.device)] = vec
    return mat


_sum_rightmost = sum_rightmost  # torch's private names, used by distributions written outside torch


def _standard_normal(shape: Any, dtype: Any, device: Any) -> Tensor:
    """N(0, 1) samples of ``shape`` (torch's private helper's signature)."""
    return creation.empty(tuple(shape), dtype=dtype, device=device).normal_()


class lazy_property:  # noqa: N801 - torch's name
    """A property computed (with grad enabled) on first access and then stored on the instance:
    ``Bernoulli(probs=p).logits`` is made from ``probs`` once, when first asked for."""

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def standard_normal(shape: Any, like: Tensor) -> Tensor:
    """N(0, 1) samples of ``shape`` with ``like``'s dtype and device."""
    return creation.empty(tuple(shape), dtype=like.dtype, device=like.device).normal_()


def uniform(shape: Any, like: Tensor, low: float = 0.0) -> Tensor:
    """U[low, 1) samples of ``shape`` with ``like``'s dtype and device."""
    return creation.empty(tuple(shape), dtype=like.dtype, device=like.device).uniform_(low, 1.0)


def _numpy_draw(*arrays: Any, dev: Any, method: str, shape: tuple, dt: Any) -> Any:
    """``rng.<method>(*arrays, size=shape)`` from the device's generator, as dtype ``dt``."""
    xp = dev.xp
    with on_device(dev):
        args = [xp.broadcast_to(a.astype(np.float64), shape) for a in arrays]
        if method == "binomial":  # the trial counts are integers
            args[0] = args[0].astype(np.int64)
        rng = generator_rng(dev, None)
        if method == "standard_gamma" and torch_stream(rng):  # torch's CPU sampler, so torch's numbers
            if np.dtype(dt).itemsize == 2:  # (float16 and bfloat16: torch's CPU kernel has none)
                raise NotImplementedError(f"\"gamma_cpu\" not implemented for '{dtypes.scalar_type_name(dt)}'")
            if math.prod(shape) <= torch_rng.SCALAR_SAMPLERS_MAX:
                alpha = np.ascontiguousarray(xp.broadcast_to(arrays[0], shape)).ravel()
                return torch_rng.standard_gamma(rng, alpha, np.dtype(dt)).reshape(shape)
            return np.maximum(rng.standard_gamma(*args, size=shape).astype(dt), np.finfo(dt).tiny)
        return getattr(rng, method)(*args, size=shape).astype(dt)


def draw(method: str, shape: Any, *params: Tensor) -> Tensor:
    """Samples of ``shape`` from NumPy's generator method ``method`` (``standard_gamma``: torch's sampler on the
    CPU stream; ``binomial``) with the parameters ``params``, drawn from backprop's seeded generator; no gradient."""
    like = params[0]
    dev = like.device
    call = functools.partial(_numpy_draw, dev=dev, method=method, shape=tuple(shape), dt=like.dtype)
    return Tensor._wrap(trace.record(call, *[p.detach() for p in params]), dev, None)
