"""``backprop.nn.functional`` (import as ``F``): activations, losses and layers as functions.

Fused ops from the registry where stability or speed needs one (softmax family, cross-entropy,
BCE-with-logits); everything else is composed from differentiable ops.
"""

from __future__ import annotations

import warnings
from typing import Any

from backprop import dtypes
from backprop.autograd.function import apply, apply_
from backprop.ops import activation as act
from backprop.ops import elementwise as ew
from backprop.ops import linalg
from backprop.ops import nn as nn_ops
from backprop.tensor import Tensor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "glu",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]


def _act(opdef: Any, name: str, input: Tensor, inplace: bool, **attrs: Any) -> Tensor:
    """``opdef`` out of place, or in place into ``input`` (returned) like torch's ``inplace=True``:
    recorded in the graph when one is being built (torch's rules: not on a leaf that requires grad)."""
    if inplace:
        return apply_(opdef, name + "_", input, **attrs)
    return apply(opdef, input, **attrs)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    if inplace:
        return apply_(ew.relu, "relu_", input)
    return apply(ew.relu, input)  # the hot path of MLPs: no helper call


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return _act(ew.leaky_relu, "leaky_relu", input, inplace, negative_slope=negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x); ``approximate="tanh"`` for the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(ew.gelu, input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    return _act(ew.silu, "silu", input, inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear above ``threshold``."""
    return apply(ew.softplus, input, beta=beta, threshold=threshold)


def sigmoid(input: Tensor) -> Tensor:
    return apply(ew.sigmoid, input)


def tanh(input: Tensor) -> Tensor:
    return apply(ew.tanh, input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b) where a, b are the halves of ``input`` along ``dim``."""
    if input.shape[dim] % 2:
        raise ValueError(f"glu: dim {dim} of shape {tuple(input.shape)} must have even size")
    a, b = input.chunk(2, dim)
    return a * apply(ew.sigmoid, b)


def _softmax_dim(name: str, ndim: int, dim: int | None, stacklevel: int) -> int:
    """torch's implicit dim for ``dim=None`` (0 for 0-, 1- and 3-d inputs, else 1), with its warning."""
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """Softmax along ``dim`` (stable for large logits); ``dtype`` casts the input first."""
    dim = _softmax_dim("softmax", input.ndim, dim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return apply(nn_ops.softmax, input, axis=dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """Log-softmax along ``dim`` (stable for large logits); ``dtype`` casts the input first."""
    dim = _softmax_dim("log_softmax", input.ndim, dim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return apply(nn_ops.log_softmax, input, axis=dim)


# ---------------------------------------------------------------- more activations (torch parity)
# Fused ops from backprop.ops.activation where torch has an in-place form or stability needs one;
# ``inplace=True`` writes into ``input`` and returns it (recorded in the graph when one is built,
# an error on a leaf that requires grad, as in torch). The rest are compositions, as in torch.


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (e^x - 1)."""
    return _act(act.elu, "elu", input, inplace, alpha=alpha)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (alpha 1.6733, scale 1.0507)."""
    return _act(act.elu, "selu", input, inplace, alpha=act.SELU_ALPHA, scale=act.SELU_SCALE)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (e^(x / alpha) - 1)."""
    if alpha == 0:
        raise ZeroDivisionError("celu: alpha cannot be 0")
    return _act(act.elu, "celu", input, inplace, alpha=alpha, input_scale=1.0 / alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x limited to [min_val, max_val]; gradient 1 strictly inside, 0 at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val (got {min_val} > {max_val})")
    return _act(act.hardtanh, "hardtanh", input, inplace, min_val=min_val, max_val=max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) (``hardtanh(x, 0, 6)``: gradient 0 at 0 and 6, as in torch)."""
    return _act(act.hardtanh, "relu6", input, inplace, min_val=0.0, max_val=6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x + 3, 0), 6) / 6."""
    return _act(act.hardsigmoid, "hardsigmoid", input, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * min(max(x + 3, 0), 6) / 6."""
    return _act(act.hardswish, "hardswish", input, inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    return _act(act.threshold, "threshold", input, inplace, threshold=threshold, value=value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _act(act.threshold, "threshold", input, True, threshold=threshold, value=value)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    return apply(act.logsigmoid, input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    return _act(act.mish, "mish", input, inplace)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - input.tanh()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0 (gradient 0 at +-lambd, as in torch)."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return input - input.clamp(-lambd, lambd)  # clamp passes the gradient at its bounds: 1 - 1 = 0 there


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    return input.hardshrink(lambd)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    dim = _softmax_dim("softmin", input.ndim, dim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return apply(nn_ops.softmax, -input, axis=dim)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else weight * x, with one slope or one per channel (dim 1)."""
    return input.prelu(weight)


def rrelu(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False
) -> Tensor:
    """Leaky ReLU with slope (lower + upper) / 2 in eval; while training, a slope drawn from
    U(lower, upper) per negative element (from backprop's generator: not torch's random stream)."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    dev = input.device
    rng = dev.backend.rng(dev.index)
    slopes = rng.random(input.shape) * (upper - lower) + lower
    out = apply(ew.where, input >= 0, input, input * Tensor._wrap(slopes.astype(input.dtype), dev, None))
    if inplace:
        return _copy_into(input, out, "rrelu_")
    return out


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def _copy_into(target: Tensor, out: Tensor, name: str) -> Tensor:
    """In place for a composition: only outside a graph (inside one, use the out-of-place form)."""
    if out.requires_grad or target.requires_grad:
        raise RuntimeError(f"{name}: in place with training=True is not supported on a tensor that requires grad")
    target.data[...] = out.data
    target._version += 1
    return target


__all__ += [
    "celu", "celu_", "elu", "elu_", "hardshrink", "hardsigmoid", "hardswish", "hardtanh", "hardtanh_",
    "leaky_relu_", "logsigmoid", "mish", "prelu", "relu6", "relu_", "rrelu", "rrelu_", "selu", "selu_",
    "softmin", "softshrink", "softsign", "tanhshrink", "threshold", "threshold_",
]  # fmt: skip


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _class_dim_last(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, tuple]:
    """(N, C, d1, ...) logits and (N, d1, ...) targets as (M, C) and (M,)."""
    if input.ndim == 1:
        return input.reshape(1, -1), target.reshape(1), ()
    if input.ndim == 2:
        return input, target, target.shape
    c = input.shape[1]
    perm = (0, *range(2, input.ndim), 1)
    return input.permute(perm).reshape(-1, c), target.reshape(-1), target.shape


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits (N, C) or (N, C, d...) against class ids, fused.

    Float targets of the logits' shape are class probabilities, as in torch.
    """
    if weight is not None:
        raise NotImplementedError("cross_entropy: class weights are not supported yet")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if target.dtype.kind == "f":
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(
                f"cross_entropy: probability targets must have the logits' shape {tuple(input.shape)}, "
                f"got {tuple(target.shape)}"
            )
        cdim = 0 if input.ndim == 1 else 1
        c = input.shape[cdim]
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / c
        loss = -(target * log_softmax(input, cdim)).sum(cdim)
        return _reduce(loss, reduction, "cross_entropy")
    if input.ndim == 1 and target.ndim != 0:
        raise ValueError(f"cross_entropy: logits of shape {tuple(input.shape)} need a scalar target")
    x, t, out_shape = _class_dim_last(input, target)
    loss = apply(
        nn_ops.cross_entropy,
        x,
        t,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    if reduction == "none":
        return loss.reshape(out_shape)
    return loss


def nll_loss(input: Tensor, target: Tensor, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) at class ids (N,)."""
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: expected integer class ids as target, got {target.dtype}")
    x, t, out_shape = _class_dim_last(input, target)
    n, c = x.shape
    valid = t != ignore_index
    safe = t.data * valid.data
    if n and (int(safe.min()) < 0 or int(safe.max()) >= c):
        raise IndexError(f"nll_loss: target out of range for {c} classes (expected 0..{c - 1})")
    xp = x.device.xp
    picked = -x[Tensor._wrap(xp.arange(n), x.device, None), Tensor._wrap(safe, x.device, None)]
    picked = picked * valid
    if reduction == "mean":
        return picked.sum() / valid.sum().to(x.dtype)
    if reduction == "none":
        return picked.reshape(out_shape)
    return _reduce(picked, reduction, "nll_loss")


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) on probabilities; logs clamped at -100 as in torch."""
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"binary_cross_entropy: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}"
        )
    log_p = input.log().clamp(min=-100.0)
    log_q = (1 - input).log().clamp(min=-100.0)
    return _reduce(-(target * log_p + (1 - target) * log_q), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """BCE on logits, stable for any magnitude: max(z,0) - z y + log(1 + e^-|z|)."""
    if pos_weight is not None:
        raise NotImplementedError("binary_cross_entropy_with_logits: pos_weight is not supported yet")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"binary_cross_entropy_with_logits: target shape {tuple(target.shape)} "
            f"differs from input shape {tuple(input.shape)}"
        )
    loss = apply(nn_ops.binary_cross_entropy_with_logits, input, input._other(target))
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x W^T + b, with W of shape (out_features, in_features)."""
    if bias is None:
        return apply(linalg.linear, input, weight)
    return apply(linalg.linear, input, weight, bias)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) at integer ids ``input``; padding_idx rows get no grad."""
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be an integer tensor, got {input.dtype}")
    n = weight.shape[0]
    if input.data.size:
        lo, hi = int(input.data.min()), int(input.data.max())
        if lo < 0 or hi >= n:
            bad = hi if hi >= n else lo
            raise IndexError(
                f"embedding: id {bad} is out of range for a vocabulary of {n} embeddings (valid ids: 0..{n - 1})"
            )
    out = weight[input]
    if padding_idx is not None and weight.requires_grad:
        keep = (input != padding_idx).unsqueeze(-1)
        out = apply(ew.where, keep, out, out.detach())
    return out


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero elements with probability ``p`` and scale the rest by 1/(1-p) (identity in eval)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    dev = input.device
    rng = dev.backend.rng(dev.index)
    keep = rng.random(input.shape, dtype=dtypes.float32) >= p
    scale = dev.xp.asarray(1.0 / (1.0 - p), dtype=input.dtype)
    mask = Tensor._wrap(keep * scale, dev, None)
    return input * mask


def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[-len(shape) :]) != shape:
        raise ValueError(f"layer_norm: input shape {tuple(input.shape)} does not end with normalized_shape {shape}")
    dims = tuple(range(-len(shape), 0))
    mu = input.mean(dims, keepdim=True)
    centered = input - mu
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a trailing class dim (no gradient)."""
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got {tensor.dtype}")
    xp = tensor.device.xp
    n = int(tensor.data.max()) + 1 if num_classes < 0 else num_classes
    if tensor.data.size and (int(tensor.data.min()) < 0 or int(tensor.data.max()) >= n):
        raise IndexError(f"one_hot: class values must be in [0, {n}), got {tensor.tolist()}")
    out = (tensor.data[..., None] == xp.arange(n)).astype(dtypes.int64)
    return Tensor._wrap(out, tensor.device, None)
