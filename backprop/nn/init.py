"""In-place initialisers (torch.nn.init's names, signatures and formulas), drawing from the tensor's
device generator or ``generator=``. Each runs under ``no_grad`` and returns the tensor; ``bp.compile``
replays each whole, so a compiled step that re-initialises gets fresh numbers as an eager one."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop.autograd.function import OpValueError
from backprop.autograd.grad_mode import no_grad
from backprop.autograd.trace import replayed_whole
from backprop.backends import torch_rng
from backprop.methods.random import generator_rng, on_device, torch_stream
from backprop.tensor import Tensor

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity``: 1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for
    relu, sqrt(2 / (1 + slope^2)) for leaky_relu (``param``: the slope, 0.01 when None), 3/4 for selu."""
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope: float = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # empirical (pytorch/pytorch#50664)
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    """fan_in or fan_out (``mode``, case-insensitive) of ``tensor``."""
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


@replayed_whole
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with U(a, b)."""
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


@replayed_whole
def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with N(mean, std^2)."""
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


@replayed_whole
def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator: Any = None
) -> Tensor:
    """Fill with N(mean, std^2) truncated to [a, b] (drawn by the inverse CDF of the truncated normal,
    so every value lies in [a, b] whatever the mass there)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=3,  # past replayed_whole's wrapper: the caller's line
        )
    if a > b:  # (torch's uniform_ refuses the interval)
        raise OpValueError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    dev = tensor.device
    if torch_stream(generator_rng(dev, generator)):  # torch's rejection sampler, so its numbers
        with no_grad():
            _trunc_normal_torch(tensor, mean, std, a, b, generator)
        return tensor
    from scipy.special import ndtr, ndtri  # the normal CDF and its inverse, in float64

    za, zb = (a - mean) / std, (b - mean) / std
    flip = za > 0  # sample the mirrored interval: CDF values near 0 keep their precision, near 1 they would not
    lo, hi = (ndtr(-zb), ndtr(-za)) if flip else (ndtr(za), ndtr(zb))
    with no_grad(), on_device(dev):
        u = dev.backend.to_host(generator_rng(dev, generator).uniform(lo, hi, tensor.shape))
        z = -ndtri(u) if flip else ndtri(u)
        values = np.clip(mean + std * z, a, b).astype(tensor.dtype)  # clip: rounding at the ends
        tensor.copy_(Tensor._wrap(dev.asarray(values), dev, None))
    return tensor


def _trunc_normal_torch(tensor: Tensor, mean: float, std: float, a: float, b: float, generator: Any) -> None:
    """torch 2.13's sampler: with mass p > 0.3 in [a, b], normal_ and redraws (a whole new normal_ each
    round) where out of range; else uniform proposals on [a, b], each kept when log U is above its
    normal log-density relative to the peak (a round draws candidates and their U for every element)."""
    p = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    if p > 0.3:
        lo, hi = (float(np.asarray(v).astype(tensor.dtype)) for v in (a, b))
        result = tensor.normal_(mean, std, generator=generator)
        while True:
            mask = (result < lo) | (result > hi)
            if not bool(mask.any()):
                break
            # (torch's where of tensors laid out as ``tensor`` keeps that layout, so each round's
            # empty_like is laid out as ``tensor``: its normal_ fills in the same order)
            result = empty_like_(tensor).normal_(mean, std, generator=generator).where(mask, result)
        if result is not tensor:
            tensor.copy_(result)
        return
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    candidates, accept = empty_like_(tensor), empty_like_(tensor)
    tensor.uniform_(a, b, generator=generator)
    candidates.copy_(tensor)
    candidates.sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak)
    pending = accept.uniform_(generator=generator).log_().gt(candidates)
    if not bool(pending.any()):
        return
    result = tensor
    while True:
        candidates.uniform_(a, b, generator=generator)
        result = candidates.where(pending, result)
        candidates.sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak)
        pending = accept.uniform_(generator=generator).log_().gt(candidates).where(pending, pending)
        if not bool(pending.any()):
            break
    tensor.copy_(result)


def empty_like_(t: Tensor) -> Tensor:
    """A new uninitialised tensor of ``t``'s shape, dtype and device, laid out as torch's ``empty_like``
    lays it out (dense, the dims in ``t``'s memory order), so a sampler fills it in torch's order."""
    shape = tuple(t._data.shape)
    strides = torch_rng.like_strides(shape, t._data.strides)
    order = sorted(range(len(shape)), key=lambda d: (-strides[d], d))
    data = t.device.xp.empty([shape[d] for d in order], t.dtype).transpose(np.argsort(order).tolist())
    return Tensor._wrap(data, t.device, None)


def _norm_cdf(x: float) -> float:
    """The standard normal CDF through math.erf (torch's trunc_normal_ bounds)."""
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


@replayed_whole
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    with no_grad():
        return tensor.fill_(val)


@replayed_whole
def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    with no_grad():
        return tensor.fill_(1.0)


@replayed_whole
def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    with no_grad():
        return tensor.zero_()


@replayed_whole
def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d tensor with the identity matrix (ones on the main diagonal of a rectangle too)."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    dev = tensor.device
    with no_grad(), on_device(dev):
        return tensor.copy_(Tensor._wrap(dev.xp.eye(*tensor.shape, dtype=tensor.dtype), dev, None))


@replayed_whole
def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-d conv weight with the Dirac delta: each group's output channel d passes its
    input channel d through at the kernel's centre, so the convolution preserves its input."""
    dims = tensor.dim()
    if dims not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = sizes[0] // groups
    centre = tuple(s // 2 for s in sizes[2:])
    values = np.zeros(sizes, dtype=tensor.dtype)
    for g in range(groups):
        for d in range(min(per_group, sizes[1])):
            values[(g * per_group + d, d) + centre] = 1
    dev = tensor.device
    with no_grad():
        return tensor.copy_(Tensor._wrap(dev.asarray(values), dev, None))


@replayed_whole
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot-uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    with no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


@replayed_whole
def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot-normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    with no_grad():
        return tensor.normal_(0.0, std, generator=generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """gain / sqrt(fan_mode), or None (after torch's warning) for a tensor with no elements."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=4)  # the caller's line
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


@replayed_whole
def kaiming_uniform_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator: Any = None
) -> Tensor:
    """He-uniform: U(-bound, bound), bound = gain * sqrt(3 / fan_mode) with gain of ``nonlinearity``
    (``a``: leaky_relu's slope; the default, a=0 with leaky_relu, gives sqrt(2))."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    with no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


@replayed_whole
def kaiming_normal_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator: Any = None
) -> Tensor:
    """He-normal: N(0, std^2), std = gain / sqrt(fan_mode) with gain of ``nonlinearity``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    with no_grad():
        return tensor.normal_(0.0, std, generator=generator)


@replayed_whole
def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain`` (trailing dims flattened): the Q of a Gaussian
    matrix's QR, with signs fixed by R's diagonal so that Q is uniform (Haar)."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    dev = tensor.device
    if torch_stream(generator_rng(dev, generator)):  # torch: new_empty((rows, cols)).normal_(0, 1)
        flat = torch_rng.normal(generator_rng(dev, generator), rows * cols, tensor.dtype).reshape(rows, cols)
        flat = flat.astype(np.float64)
    else:
        with on_device(dev):
            flat = generator_rng(dev, generator).standard_normal((rows, cols))
    flat = dev.backend.to_host(flat)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # Mezzadri (arXiv:math-ph/0609050): a Haar-distributed Q
    if rows < cols:
        q = q.T
    values = (q * gain).reshape(tensor.shape).astype(tensor.dtype)
    with no_grad():
        return tensor.copy_(Tensor._wrap(dev.asarray(values), dev, None))


@replayed_whole
def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """Fill a 2-d tensor with N(0, std^2) values, then zero ceil(sparsity * rows) random rows of each column."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    dev = tensor.device
    with no_grad():
        tensor.normal_(0.0, std, generator=generator)
        rng = generator_rng(dev, generator)
        if torch_stream(rng):  # torch: per column, zero the rows of randperm(rows)[:num_zeros]
            values = tensor._data.copy()
            for col in range(cols):
                values[torch_rng.randperm(rng, rows)[:num_zeros], col] = 0
            return tensor.copy_(Tensor._wrap(values, dev, None))
        with on_device(dev):  # per column, the first num_zeros rows of a random permutation
            keys = generator_rng(dev, generator).random((rows, cols))
            zero = dev.xp.argsort(keys, axis=0)[:num_zeros]
            mask = dev.xp.zeros((rows, cols), dtype=bool)
            mask[zero, dev.xp.arange(cols)[None, :]] = True
        tensor.copy_(Tensor._wrap(dev.xp.where(mask, 0, tensor._data).astype(tensor.dtype), dev, None))
    return tensor


def _make_deprecate(meth: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """torch's deprecated name without the trailing underscore: warns (FutureWarning), then calls ``meth``."""
    new_name = meth.__name__
    old_name = new_name[:-1]

    @functools.wraps(meth)
    def deprecated_init(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.", FutureWarning, stacklevel=2
        )
        return meth(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    deprecated_init.__doc__ = f"Deprecated: use ``nn.init.{new_name}``."
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)


# torch's private fill helpers, which timm-style code imports (``from torch.nn.init import _no_grad_trunc_normal_``):
# the public initialisers, which already fill without recording


def _no_grad_uniform_(tensor: Tensor, a: float, b: float, generator: Any = None) -> Tensor:
    return uniform_(tensor, a, b, generator)


def _no_grad_normal_(tensor: Tensor, mean: float, std: float, generator: Any = None) -> Tensor:
    return normal_(tensor, mean, std, generator)


def _no_grad_trunc_normal_(
    tensor: Tensor, mean: float, std: float, a: float, b: float, generator: Any = None
) -> Tensor:
    return trunc_normal_(tensor, mean, std, a, b, generator)


def _no_grad_fill_(tensor: Tensor, val: float) -> Tensor:
    return constant_(tensor, val)


def _no_grad_zero_(tensor: Tensor) -> Tensor:
    return zeros_(tensor)
