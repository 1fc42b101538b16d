"""``backprop.nn.functional`` (import as ``F``): activations, losses and layers as functions.

Fused ops from the registry where stability or speed needs one (softmax family, cross-entropy,
BCE-with-logits); everything else is composed from differentiable ops.
"""

from __future__ import annotations

from typing import Any

from backprop import dtypes
from backprop.autograd.function import apply
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


def relu(input: Tensor) -> Tensor:
    """max(x, 0)."""
    return apply(ew.relu, input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return apply(ew.leaky_relu, input, negative_slope=negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x); ``approximate="tanh"`` for the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(ew.gelu, input, approximate=approximate)


def silu(input: Tensor) -> Tensor:
    """x * sigmoid(x)."""
    return apply(ew.silu, input)


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


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    """Softmax along ``dim`` (stable for large logits)."""
    return apply(nn_ops.softmax, input, axis=dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    """Log-softmax along ``dim`` (stable for large logits)."""
    return apply(nn_ops.log_softmax, input, axis=dim)


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
