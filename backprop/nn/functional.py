"""``backprop.nn.functional`` (import as ``F``): activations, losses and layers as functions.

Fused ops from the registry where stability or speed needs one (softmax family, cross-entropy,
BCE-with-logits); everything else is composed from differentiable ops.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np

from backprop import dtypes
from backprop._functorch import mapped_slice
from backprop.autograd import trace
from backprop.autograd.function import OpIndexError, OpValueError, apply, apply_, autocast_function, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users, is_grad_enabled
from backprop.autograd.higher_order import link_gradients
from backprop.autograd.node_names import name_inplace, name_node
from backprop.backends import torch_rng
from backprop.backends.cupy_backend import defer_range_check
from backprop.methods.random import dropout_keep, dropout_scale, torch_stream
from backprop.nn._common import _channel_shape, _legacy_reduction, _running_update, pairwise_distance
from backprop.nn._conv_functional import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    interpolate,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d,
    max_pool1d_with_indices,
    max_pool2d,
    max_pool2d_with_indices,
    max_pool3d,
    max_pool3d_with_indices,
    unfold,
    upsample,
)
from backprop.nn._functional_extra import (
    bilinear,
    channel_shuffle,
    gumbel_softmax,
    instance_norm,
    local_response_norm,
    pdist,
    pixel_shuffle,
    pixel_unshuffle,
    rms_norm,
)
from backprop.nn._losses_extra import (
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from backprop.nn._vision_functional import (
    affine_grid,
    grid_sample,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
    upsample_bilinear,
    upsample_nearest,
)
from backprop.nn.ctc import ctc_loss
from backprop.nn.dropout import alpha_dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
from backprop.nn.embedding_bag import _embedding_renorm_, _scale_grad, embedding_bag, sparse_lookup
from backprop.nn.fractional import (
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
from backprop.ops import activation as act
from backprop.ops import elementwise as ew
from backprop.ops import linalg
from backprop.ops import nn as nn_ops
from backprop.ops import shape as sh
from backprop.ops._util import DTypeError, ShapeError, ShapeIndexError, broadcast_shape, c_order, wrap_dim
from backprop.ops.math import ZeroDivisionRuntimeError
from backprop.overrides import (  # noqa: F401 - torch.nn.functional's __torch_function__ helpers
    handle_torch_function,
    has_torch_function,
    has_torch_function_unary,
    has_torch_function_variadic,
)
from backprop.registry import refuse_complex
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


_FLOAT_KERNELS = {  # the activations torch has no integer or bool kernel for: its CPU kernel's name
    "elu": "elu_cpu",
    "selu": "elu_cpu",
    "celu": "elu_cpu",
    "leaky_relu": "leaky_relu_cpu",
    "silu": "silu_cpu",
    "mish": "mish_cpu",
    "hardsigmoid": "hardsigmoid_cpu",
    "hardswish": "hardswish_cpu",
    "softplus": "softplus_cpu",
    "gelu": "GeluKernelImpl",
}


def _act(opdef: Any, name: str, input: Tensor, inplace: bool, **attrs: Any) -> Tensor:
    """``opdef`` out of place, or in place into ``input`` (returned) like torch's ``inplace=True``:
    recorded in the graph when one is being built (torch's rules: not on a leaf that requires grad)."""
    if input._data.dtype.kind in "iub" and name in _FLOAT_KERNELS:  # (NumPy would promote them to float64)
        _refuse_integer(input, _FLOAT_KERNELS[name])
    if inplace:
        out = apply_(opdef, name + "_", input, **attrs)
        named = _INPLACE_NAMES.get(name)
        return out if named is None else name_inplace(out, opdef, named)
    return apply(opdef, input, **attrs)


# torch's nodes for the in-place forms that have an overload of their own (``leaky_relu_`` is
# ``LeakyReluBackward1``; relu_, hardtanh_, silu_, ... share their out-of-place node's name)
_INPLACE_NAMES = {
    "leaky_relu": "LeakyReluBackward1",
    "elu": "EluBackward1",
    "selu": "EluBackward1",
    "celu": "CeluBackward1",
    "threshold": "ThresholdBackward1",
}


def _name_inplace(t: Tensor, name: str) -> Tensor:
    """``t`` after an in-place op, its node named ``name`` (a view keeps its view node: its base's is CopySlices)."""
    return t if t._vbase is not None and t._vbase is not t else name_node(t, name)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    if input.__class__ is not Tensor and getattr(input, "is_quantized", False):  # (quantized: clamped at zero point)
        return input.relu()
    if inplace:
        return apply_(ew.relu, "relu_", input)
    return apply(ew.relu, input)  # the hot path of MLPs: no helper call


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    try:
        return _act(ew.leaky_relu, "leaky_relu", input, inplace, negative_slope=negative_slope)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x); ``approximate="tanh"`` for the tanh approximation."""
    try:
        if approximate not in ("none", "tanh"):
            raise OpValueError(f"approximate argument must be either none or tanh. (gelu got {approximate!r})")
        return _act(ew.gelu, "gelu", input, False, approximate=approximate)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    try:
        return _act(ew.silu, "silu", input, inplace)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear above ``threshold``."""
    try:
        return _act(ew.softplus, "softplus", input, False, beta=beta, threshold=threshold)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def sigmoid(input: Tensor) -> Tensor:
    if input.__class__ is not Tensor and input.is_quantized:  # (quantized: torch's fixed 1/256 output scale)
        return input.sigmoid()
    return apply(ew.sigmoid, input)


def tanh(input: Tensor) -> Tensor:
    return input.tanh()  # (integer input gives float32, as bp.tanh and torch's)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b) where a, b are the halves of ``input`` along ``dim``."""
    refuse_complex(NotImplementedError, "\"glu_cpu\" not implemented for '{dtype}'", input)
    if input.ndim == 0:
        raise ShapeError("glu does not support scalars because halving size must be even")
    d = wrap_dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise ShapeError(
            f"Halving dimension must be even, but dimension {d} is size {input.shape[d]} (glu of shape "
            f"{tuple(input.shape)})"
        )
    a, b = input.chunk(2, dim)
    return name_node(a * apply(ew.sigmoid, b), "GluBackward0")


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
    try:
        return relu(input, inplace=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    try:
        return leaky_relu(input, negative_slope, inplace=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (e^x - 1)."""
    try:
        return _act(act.elu, "elu", input, inplace, alpha=alpha)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    try:
        return elu(input, alpha, inplace=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (alpha 1.6733, scale 1.0507)."""
    try:
        return _act(act.elu, "selu", input, inplace, alpha=act.SELU_ALPHA, scale=act.SELU_SCALE)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def selu_(input: Tensor) -> Tensor:
    try:
        return selu(input, inplace=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (e^(x / alpha) - 1)."""
    try:
        if alpha == 0:
            raise ZeroDivisionRuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
        out = _act(act.elu, "celu", input, inplace, alpha=alpha, input_scale=1.0 / alpha)
        return out if inplace else name_node(out, "CeluBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    try:
        return celu(input, alpha, inplace=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x limited to [min_val, max_val]; gradient 1 strictly inside, 0 at and beyond the bounds."""
    try:
        if min_val > max_val:
            raise ValueError(f"hardtanh: min_val cannot be greater than max_val (got {min_val} > {max_val})")
        return _act(act.hardtanh, "hardtanh", input, inplace, min_val=min_val, max_val=max_val)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    try:
        return hardtanh(input, min_val, max_val, inplace=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) (``hardtanh(x, 0, 6)``: gradient 0 at 0 and 6, as in torch)."""
    try:
        return _act(act.hardtanh, "relu6", input, inplace, min_val=0.0, max_val=6.0)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x + 3, 0), 6) / 6."""
    try:
        return _act(act.hardsigmoid, "hardsigmoid", input, inplace)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * min(max(x + 3, 0), 6) / 6."""
    try:
        return _act(act.hardswish, "hardswish", input, inplace)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    threshold, value = _threshold_ints(input, threshold, value)
    return _act(act.threshold, "threshold", input, inplace, threshold=threshold, value=value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    threshold, value = _threshold_ints(input, threshold, value)
    return _act(act.threshold, "threshold", input, True, threshold=threshold, value=value)


def _threshold_ints(input: Any, threshold: Any, value: Any) -> tuple[Any, Any]:
    """As torch: no bool kernel; Python int bounds checked into an integer input's dtype (uint8: -1 is 255)."""
    dt = getattr(getattr(input, "_data", None), "dtype", None)
    if dt is None or dt.kind not in "biu":
        return threshold, value
    if dt.kind == "b":
        raise NotImplementedError("\"threshold_cpu\" not implemented for 'Bool'")
    return dtypes.fill_int(threshold, dt), dtypes.fill_int(value, dt)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    try:
        _refuse_integer(input, "log_sigmoid_cpu")
        return apply(act.logsigmoid, input)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    try:
        return _act(act.mish, "mish", input, inplace)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - input.tanh()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0 (gradient 0 at +-lambd, as in torch)."""
    try:
        if lambd < 0:
            raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
        refuse_complex(NotImplementedError, "\"softshrink_check\" not implemented for '{dtype}'", input)
        # a select, not x - clamp(x): an infinite incoming gradient gives 0 inside, not inf - inf
        out = apply(ew.where, (input >= -lambd) & (input <= lambd), 0.0, input - lambd * input.sign())
        out = link_gradients(out, input, name="SoftshrinkBackwardBackward0")  # (create_graph: as torch's)
        return name_node(out, "SoftshrinkBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    try:
        return input.hardshrink(lambd)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    dim = _softmax_dim("softmin", input.ndim, dim, _stacklevel)
    neg = -input  # negated in the input's dtype first, as torch (an unsigned input wraps), then cast
    if dtype is not None:
        neg = neg.to(dtype)
    return apply(nn_ops.softmax, neg, axis=dim)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else weight * x, with one slope or one per channel (dim 1)."""
    return input.prelu(weight)


def rrelu(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False
) -> Tensor:
    """Leaky ReLU with slope (lower + upper) / 2 in eval; while training, a slope drawn from
    U(lower, upper) per element <= 0 (on the CPU torch's draws, so its slopes after ``manual_seed``)."""
    try:
        return _rrelu(input, lower, upper, training, inplace, None)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _rrelu(input: Tensor, lower: float, upper: float, training: bool, inplace: bool, generator: Any) -> Tensor:
    if lower > upper:
        raise OpValueError(f"Lower bound should be less than or equal to the upper bound (got {lower} > {upper})")
    if not training:  # (torch's one kernel: RreluWithNoiseBackward0, in place RreluWithNoiseBackward1)
        out = leaky_relu(input, (lower + upper) / 2, inplace)
        return _name_inplace(out, "RreluWithNoiseBackward1") if inplace else name_node(out, "RreluWithNoiseBackward0")
    dev = input.device
    if dev.type == "cpu" and input.dtype not in (dtypes.float32, dtypes.float64, dtypes.bfloat16):
        name = dtypes.scalar_type_name(input.dtype)
        raise NotImplementedError(f"\"rrelu_with_noise_out_cpu\" not implemented for '{name}'")
    slopes = Tensor._wrap(trace.record(_rrelu_noise, input, dev, lower, upper, generator), dev, None)
    if inplace:  # x * noise, noise 1 where x > 0: torch's in-place kernel, whose backward is gy * noise
        return _name_inplace(input.mul_(slopes.masked_fill(input > 0, 1.0)), "RreluWithNoiseBackward1")
    scaled = input * slopes  # (in the math type: float32 slopes for a float16 input, rounded once after)
    out = apply(ew.where, input > 0, input, scaled if scaled.dtype == input.dtype else scaled.to(input.dtype))
    link_gradients(out, input, name="RreluWithNoiseBackwardBackward0")
    return name_node(out, "RreluWithNoiseBackward0")


def rrelu_(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, generator: Any = None
) -> Tensor:  # fmt: skip
    """``rrelu`` in place; slopes drawn from ``generator`` (a ``bp.Generator``) when given."""
    try:
        return _rrelu(input, lower, upper, training, True, generator)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


__all__ += [
    "celu", "celu_", "elu", "elu_", "hardshrink", "hardsigmoid", "hardswish", "hardtanh", "hardtanh_",
    "leaky_relu_", "logsigmoid", "mish", "prelu", "relu6", "relu_", "rrelu", "rrelu_", "selu", "selu_",
    "softmin", "softshrink", "softsign", "tanhshrink", "threshold", "threshold_",
]  # fmt: skip


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _rrelu_noise(x: Any, dev: Any, lower: float, upper: float, generator: Any = None) -> Any:
    """rrelu's slopes for the array ``x``: on the CPU torch's, a U(lower, upper) draw (53 bits, bounds in
    the math type) per element <= 0 in C order, 1 elsewhere, in the math type (float64 for a float64
    input, else float32); elsewhere one float64 draw per element from the device's generator."""
    rng = dev.backend.rng(dev.index) if generator is None else generator._rng_for(dev)
    if not torch_stream(rng):
        return rng.random(x.shape) * (upper - lower) + lower
    math_t = np.dtype(np.float64 if x.dtype == np.float64 else np.float32)
    neg = np.ascontiguousarray(x).ravel() <= 0
    noise = np.ones(neg.size, math_t)
    lo, hi = (float(math_t.type(v)) for v in (lower, upper))
    noise[neg] = torch_rng.uniform_real(rng, int(neg.sum()), lo, hi).astype(math_t)
    return noise.reshape(x.shape)


def _const(arr: Any, like: Tensor) -> Tensor:
    """An array of ``like``'s device as a constant Tensor (no grad)."""
    return Tensor._wrap(arr, like.device, None)


def _check_same_size(input: Tensor, target: Tensor) -> None:
    """torch's warning when an elementwise loss's target broadcasts against its input."""
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(
            f"Using a target size (torch.Size({list(target.shape)})) that is different to the input size "
            f"(torch.Size({list(input.shape)})). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


def _target_shape_error(input: Tensor, target: Tensor, want: tuple) -> None:
    """Raise torch's error for class-id targets whose shape does not fit (N, C, d1, ...) scores."""
    if input.ndim == 1:
        raise ShapeError(f"For 1D input, 1D target must have size 1, but got target size: {target.numel()}")
    if target.ndim and target.shape[0] != input.shape[0]:
        raise ShapeError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({target.shape[0]})."
        )
    if input.ndim == 2:
        raise ShapeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim != 4:  # (torch's nll_loss_nd: 3-D and 5-D+ scores)
        raise ShapeError(f"Expected target size {list(want)}, got {list(target.shape)}")
    if target.ndim != 3:  # (torch's nll_loss2d: a (N, 1, H, W) mask straight from a loader)
        raise ShapeError(
            f"only batches of spatial targets supported (3D tensors) but got targets of dimension: {target.ndim}"
        )
    raise ShapeError(f"size mismatch (got input: {list(input.shape)} , target: {list(target.shape)}")


def _class_dim_last(input: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor, tuple]:
    """(N, C, d1, ...) scores and (N, d1, ...) targets as (M, C) and (M,), checking the target's shape."""
    if input.ndim == 0:
        raise ShapeError(f"{name}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    want = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if input.ndim == 1 and tuple(target.shape) == (1,):  # torch takes a one-element target for (C,) scores
        target = target.reshape(())
    if tuple(target.shape) != want:
        _target_shape_error(input, target, want)
    if input.ndim == 1:
        return input.reshape(1, -1), target.reshape(1), ()
    if input.ndim == 2:
        return input, target, want
    c = input.shape[1]
    perm = (0, *range(2, input.ndim), 1)
    return input.permute(perm).reshape(-1, c), target.reshape(-1), want


def _class_ids(input: Tensor, target: Tensor) -> Tensor:
    """torch's dtype rule for class-id targets (checked after their shape): int64, or uint8 for (C,) and (N, C)
    scores (RuntimeError, torch's texts); uint8 ids come back as int64 (a uint8 index would be a mask)."""
    dt = target.dtype
    if dt != dtypes.int64 and dt != dtypes.uint8:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {dtypes.scalar_type_name(dt)}")
    if dt == dtypes.uint8:
        if input.ndim > 2:  # (torch's nll_loss2d kernel takes int64 only)
            raise RuntimeError("expected scalar type Long but found Byte")
        return target.long()
    return target


def _not_differentiable(t: Any, name: str, arg: str) -> None:
    """torch refuses a ``weight``/``pos_weight`` that requires grad in these losses: so do we."""
    if isinstance(t, Tensor) and t.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"{name}: the function is not differentiable with respect to argument '{arg}'. This input cannot "
            "have requires_grad True (as in torch); pass weight.detach()"
        )


def _is_real_float(t: Tensor) -> bool:
    return dtypes.is_floating(t.dtype)


def _refuse_integer(t: Tensor, kernel: str) -> None:
    """torch's NotImplementedError for a kernel with no integer or bool version (scores, logits): the
    CPU kernel's name and torch's dtype name (``Long``), as its message spells them."""
    if not _is_real_float(t) and dtypes.kind(t.dtype) != "c":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dtypes.scalar_type_name(t.dtype)}'")


def _refuse_integer_result(input: Tensor, target: Tensor, kernel: str) -> None:
    """torch's regression losses (mse, huber, smooth l1) have no integer kernel: NotImplementedError when
    input and target promote to an integer or bool dtype (float input with integer target is fine)."""
    dt = dtypes.promote_types(input, target)
    if not dtypes.is_floating(dt) and dtypes.kind(dt) != "c":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dtypes.scalar_type_name(dt)}'")


def _check_class_weight(weight: Any, c: int, name: str, ndim: int = 2) -> None:
    """torch's check of a per-class ``weight`` (its wording: shorter for inputs of more than 2 dims)."""
    _not_differentiable(weight, name, "weight")
    if weight is not None and not isinstance(weight, Tensor):
        raise ShapeError(f"{name}: weight must be a tensor of shape ({c},), got {type(weight).__name__}")
    if weight is not None and tuple(weight.shape) != (c,):
        if ndim > 2:
            raise ShapeError("weight tensor should be defined either for all or no classes")
        raise ShapeError(
            f"weight tensor should be defined either for all {c} classes or no classes but got weight tensor of "
            f"shape: {list(weight.shape)}"
        )


def _class_weight_dtype(input: Tensor, weight: Tensor) -> None:
    """torch's class-index losses take ``weight`` in the input's dtype (no promotion)."""
    if weight.dtype != input.dtype:
        name = dtypes.scalar_type_name
        raise DTypeError(
            f"expected scalar type {name(input.dtype)} but found {name(weight.dtype)} (the class weight's dtype "
            "must be the input's)"
        )


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits (C,), (N, C) or (N, C, d...) against class ids, fused.

    ``weight`` (C,) weights each class (the mean divides by the summed weights of the targets, as
    torch); float targets of the logits' shape are class probabilities, as in torch.
    """
    try:
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{reduction} is not a valid value for reduction")
        if label_smoothing > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}")
        label_smoothing = max(float(label_smoothing), 0.0)  # as torch: smoothing only when positive
        cdim = 0 if input.ndim == 1 else 1
        _refuse_integer(
            input, "log_softmax_lastdim_kernel_impl" if cdim == input.ndim - 1 else "log_softmax_kernel_impl"
        )
        c = input.shape[cdim] if input.ndim else 0
        _check_class_weight(weight, c, "cross_entropy", input.ndim)
        if tuple(target.shape) == tuple(input.shape) and not _is_real_float(target):  # probabilities, not ids
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, got "
                f"{dtypes.scalar_type_name(target.dtype)}"
            )
        if dtypes.kind(target.dtype) == "f" and tuple(target.shape) == tuple(input.shape):  # (else: class ids)
            if ignore_index >= 0:
                raise RuntimeError("ignore_index is not supported for floating point target")
            if label_smoothing:
                target = target * (1 - label_smoothing) + label_smoothing / c
            prod = target * log_softmax(input, cdim)
            if weight is not None:
                prod = prod * weight.reshape((c,) + (1,) * (input.ndim - cdim - 1))
            if reduction == "none":
                return -prod.sum(cdim)
            total = -prod.sum()
            if reduction != "mean":
                return total
            return name_node(total / (input.numel() // c), "DivBackward1")  # torch: mean over N * d..., div(Scalar)
        x, t, out_shape = _class_dim_last(input, target, "cross_entropy")
        t = _class_ids(input, t)
        attrs = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": label_smoothing}
        if input.ndim > 2:
            attrs["folded"] = True
        if weight is None:
            loss = apply(nn_ops.cross_entropy, x, t, **attrs)
        else:
            if not autocast_users[0]:  # (under autocast the op casts both to float32 itself)
                _class_weight_dtype(x, weight)
            loss = apply(nn_ops.cross_entropy, x, t, weight, **attrs)
        if reduction == "none":
            loss = loss.reshape(out_shape)
        return loss if label_smoothing else _nll_named(loss, input.ndim, reduction)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _nll_named(loss: Tensor, ndim: int, reduction: str) -> Tensor:
    """``loss`` named as torch's node for an ``ndim``-d input: ``NllLossBackward0`` up to 2-d, above
    ``NllLoss2DBackward0`` (torch folds other ranks into 4-d, so their unreduced loss is a view of it)."""
    if ndim <= 2:
        return name_node(loss, "NllLossBackward0")
    if ndim == 4 or reduction != "none":
        return name_node(loss, "NllLoss2DBackward0")
    return loss


def _check_targets(safe: Any, *, xp: Any, c: int) -> None:
    """nll_loss's range check of the class ids (ignored ones already replaced by 0)."""
    if defer_range_check(xp, "nll_loss", safe, 0, c - 1, f"target {{value}} is out of range for {c} classes"):
        return
    if int(safe.min()) < 0 or int(safe.max()) >= c:
        bad = safe[(safe < 0) | (safe >= c)][0]
        raise IndexError(f"nll_loss: target {int(bad)} is out of range for {c} classes (expected 0..{c - 1})")


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities (C,), (N, C) or (N, C, d...) at class ids.

    loss_n = -weight[t_n] input[n, t_n]; the mean divides by the summed weights of the non-ignored
    targets, as torch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    refuse_complex(NotImplementedError, "\"nll_loss_out_frame\" not implemented for '{dtype}'", input, weight)
    _refuse_integer(input, "nll_loss_out_frame" if input.ndim <= 2 else "nll_loss2d_forward_out_frame")
    if autocast_users[0]:
        (input,) = autocast_function("nll_loss", input)
    x, t, out_shape = _class_dim_last(input, target, "nll_loss")
    t = _class_ids(input, t)
    n, c = x.shape
    _check_class_weight(weight, c, "nll_loss", input.ndim)
    if weight is not None:
        _class_weight_dtype(x, weight)
    valid, safe = trace.record(functools.partial(_valid_ids, ignore_index=ignore_index), t)
    xp = x.device.xp
    if n:  # (recorded: a replay refuses a bad target too)
        trace.check(_check_targets, safe, xp=xp, c=c)
        if _on_cupy(xp):  # CuPy: no sync; raised at the next read, the gather kept in bounds until then
            safe = trace.record(functools.partial(xp.clip, a_min=0, a_max=c - 1), safe)
    picked = -x[_const(xp.arange(n), x), _const(safe, x)]
    w = _const(trace.record(functools.partial(_as_dtype, dtype=x.dtype), valid), x)
    if weight is not None:
        w = weight.to(x.dtype)[_const(safe, x)] * w
    picked = picked * w
    if reduction != "none" and input.ndim <= 2 and _is_half(x):  # torch's sums in the half dtype
        keep = _const(valid, x)
        total = w.sum() if weight is None else apply(nn_ops.nll_sum, w, keep)
        picked_sum = apply(nn_ops.nll_sum, picked, keep)
    elif reduction != "none":
        total, picked_sum = w.sum(), picked.sum()
    if reduction == "mean":
        # all targets ignored (total weight 0): NaN as torch, with zero gradients (not 0/0 = NaN ones)
        t = total.detach()
        out = picked_sum / total.masked_fill(t == 0, 1.0) + (t / t - 1)  # (t / t - 1: 0, or NaN at 0)
    else:
        out = picked.reshape(out_shape) if reduction == "none" else picked_sum
    out = _nll_named(out, input.ndim, reduction)
    return link_gradients(out, input, name=f"NllLoss{'' if input.ndim <= 2 else '2D'}BackwardBackward0")


def _valid_ids(target: Any, ignore_index: int) -> tuple[Any, Any]:
    """(target != ignore_index, the ids with ignored ones set to 0)."""
    valid = target != ignore_index
    return valid, target * valid


def _as_dtype(a: Any, dtype: Any) -> Any:
    return a.astype(dtype)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100), torch's clamp in binary_cross_entropy; log(0) never evaluated (no NumPy warning)."""
    positive = p > 0
    safe = apply(ew.where, positive, p, 1.0)
    return apply(ew.where, positive, safe.log().clamp(min=-100.0), -100.0)


_BCE_RANGE = "all elements of input should be between 0 and 1"


def _check_probabilities(p: Any, *, xp: Any) -> None:
    """binary_cross_entropy's input range: CuPy checks on the device (torch's CUDA kernel asserts there), the
    CPU with one read, as torch's check."""
    if defer_range_check(xp, "binary_cross_entropy", p, 0, 1, _BCE_RANGE, RuntimeError):
        return
    if not bool(((p >= 0) & (p <= 1)).all()):
        raise RuntimeError(_BCE_RANGE)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """-w (y log p + (1 - y) log(1 - p)) on probabilities; logs clamped at -100 as in torch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _not_differentiable(weight, "binary_cross_entropy", "weight")
    if autocast_users[0]:
        input, target = autocast_function("binary_cross_entropy", input, target)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"Using a target size (torch.Size({list(target.shape)})) that is different to the input "
            f"size (torch.Size({list(input.shape)})) is deprecated. Please ensure they have the same size."
        )
    name = dtypes.scalar_type_name
    if target.dtype != input.dtype:  # torch's kernel takes the target in the input's dtype, no promotion
        raise RuntimeError(f"Found dtype {name(target.dtype)} but expected {name(input.dtype)}")
    if not dtypes.is_floating(input.dtype):
        raise NotImplementedError(f"\"binary_cross_entropy\" not implemented for '{name(input.dtype)}'")
    if input.numel():  # (recorded: a replayed step checks too)
        trace.check(_check_probabilities, input, xp=input.device.xp)
    if input._data.dtype.itemsize == 2:  # float16/bfloat16: torch's kernel, each step rounded to that dtype
        q = 1 - input
        log_q = apply(ew.where, q > 0, apply(ew.where, q > 0, -input, 0.0).log1p().clamp(min=-100.0), -100.0)
        loss = (target - 1) * log_q - target * _clamped_log(input)
    else:  # torch's kernel and its gradients ((x - y) / max(x (1 - x), 1e-12): -1e12 at x = 0, y = 1)
        loss = apply(nn_ops.binary_cross_entropy, input, target)
    if weight is not None:
        loss = loss * weight
        if loss.dtype != input.dtype:
            loss = loss.to(input.dtype)  # torch multiplies in place: the input's dtype, whatever the weight's
    return name_node(_reduce(loss, reduction), "BinaryCrossEntropyBackward0")


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE on logits, stable for any magnitude: max(z,0) - z y + log(1 + e^-|z|).

    ``pos_weight`` (broadcast along the last dim) scales the positive term, as torch:
    (1 - y) z + (1 + (pos_weight - 1) y) softplus(-z); ``weight`` scales each element's loss."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if autocast_users[0]:  # a float32 function under autocast, as torch's (before the half-precision path)
        cast = autocast_function("binary_cross_entropy_with_logits", input, target, weight, pos_weight)
        input, target, weight, pos_weight = cast
    _not_differentiable(weight, "binary_cross_entropy_with_logits", "weight")
    _not_differentiable(pos_weight, "binary_cross_entropy_with_logits", "pos_weight")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"Target size (torch.Size({list(target.shape)})) must be the same as "
            f"input size (torch.Size({list(input.shape)}))"
        )
    _check_logits_dtypes(input, target)
    if input._data.dtype.itemsize == 2:  # float16/bfloat16: torch's composition, each step rounded to that dtype
        log_sigmoid = apply(act.logsigmoid, input)
        if pos_weight is not None:
            log_sigmoid = log_sigmoid * ((pos_weight - 1) * target + 1)
        loss = (1 - target) * input - log_sigmoid
    else:  # (pos_weight 1.0: none)
        pw = 1.0 if pos_weight is None else input._other(pos_weight)
        loss = apply(nn_ops.binary_cross_entropy_with_logits, input, input._other(target), pw)
    if weight is not None:
        loss = loss * weight
    if loss.dtype != target.dtype and dtypes.kind(target.dtype) == "f" and not autocast_users[0]:
        loss = loss.to(target.dtype)  # torch's kernel computes in (1 - target)'s buffer: target's dtype
    out = _reduce(loss, reduction)
    return name_node(out, "BinaryCrossEntropyWithLogitsBackward0")


def _check_logits_dtypes(input: Tensor, target: Tensor) -> None:
    """torch's refusals in binary_cross_entropy_with_logits, which computes ``(1 - target) * input`` in
    the target's buffer: a bool target cannot be subtracted from, integer logits have no log-sigmoid, and
    an integer target cannot hold the floating result (a common slip: labels left as int64)."""
    name = dtypes.scalar_type_name
    if target.dtype == np.bool_:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. "
            "Use the `^` or `logical_xor()` operator instead."
        )
    if not dtypes.is_floating(input.dtype) and dtypes.kind(input.dtype) != "c":
        raise NotImplementedError(f"\"log_sigmoid_cpu\" not implemented for '{name(input.dtype)}'")
    if dtypes.kind(target.dtype) in "iu":
        raise RuntimeError(
            f"result type {name(input.dtype)} can't be cast to the desired output type {name(target.dtype)}"
        )


def _weighted(loss: Tensor, weight: Tensor | None, reduction: str, name: str, mean_by_weight: bool) -> Tensor:
    """torch's optional elementwise ``weight`` of l1/mse/huber: same size as the input; the mean
    divides by sum(weight) for l1 and mse, by the element count for huber (torch's own choices)."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(loss.shape):
        raise ValueError(
            f"{name}: Weights and input must have the same size ({tuple(weight.shape)} vs {tuple(loss.shape)})"
        )
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error (optionally weighted elementwise)."""
    _check_same_size(input, target)
    refuse_complex(NotImplementedError, "\"mse_cpu\" not implemented for '{dtype}'", input, target)
    _refuse_integer_result(input, target, "mse_cpu")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if autocast_users[0]:
        input, target = autocast_function("mse_loss", input, target)
    diff = input - target
    out = _weighted(diff * diff, weight, reduction, "mse_loss", True)
    return out if weight is not None else name_node(out, "MseLossBackward0")


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error |x - y| (gradient 0 where x == y, as torch)."""
    _check_same_size(input, target)
    if autocast_users[0]:
        input, target = autocast_function("l1_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _weighted((input - target).abs(), weight, reduction, "l1_loss", True)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (l1 for beta = 0)."""
    _check_same_size(input, target)
    refuse_complex(NotImplementedError, "\"smooth_l1_cpu\" not implemented for '{dtype}'", input, target)
    if autocast_users[0]:
        input, target = autocast_function("smooth_l1_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _refuse_integer_result(input, target, "smooth_l1_cpu")
    if beta < 0:
        raise OpValueError(f"smooth_l1_loss does not support negative values for beta (got {beta}).")
    z = (input - target).abs()
    if beta == 0.0:
        return _reduce(z, reduction)
    # the quadratic piece reads min(z, beta): a d of +-inf keeps its gradient (no 0 * inf), a NaN d gets NaN (torch)
    zq = apply(ew.minimum, z, beta)
    loss = apply(ew.where, z >= beta, z - 0.5 * beta, zq * zq * (0.5 / beta))
    return name_node(_reduce(loss, reduction), "SmoothL1LossBackward0")


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight: Tensor | None = None
) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_same_size(input, target)
    refuse_complex(NotImplementedError, "\"huber_cpu\" not implemented for '{dtype}'", input, target)
    if autocast_users[0]:
        input, target = autocast_function("huber_loss", input, target)
    _refuse_integer_result(input, target, "huber_cpu")
    if delta <= 0:
        raise OpValueError(f"huber_loss does not support non-positive values for delta (got {delta}).")
    z = (input - target).abs()
    if z._data.dtype == np.float16:  # torch's kernel computes float16 in float32 and rounds once
        z = (input.float() - target.float()).abs()
        zq = apply(ew.minimum, z, delta)  # (the quadratic piece reads min(z, delta), as smooth_l1_loss)
        loss = apply(ew.where, z >= delta, (z - 0.5 * delta) * delta, zq * zq * 0.5).to(input.dtype)
    elif z._data.dtype.itemsize == 2:  # bfloat16: torch's kernel, delta in bfloat16, each step rounded
        d = float(np.asarray(delta, dtype=z._data.dtype).astype(np.float32))
        zq = apply(ew.minimum, z, d)
        loss = apply(ew.where, z >= d, (z - 0.5 * d) * d, zq * 0.5 * zq)
    else:
        zq = apply(ew.minimum, z, delta)
        loss = apply(ew.where, z >= delta, (z - 0.5 * delta) * delta, zq * zq * 0.5)
    if loss.dtype != input.dtype:
        loss = loss.to(input.dtype)  # torch's result has the input's dtype, whatever the target's
    out = _weighted(loss, weight, reduction, "huber_loss", False)
    return out if weight is not None else name_node(out, "HuberLossBackward0")


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL divergence with log-probabilities ``input``: target (log target - input), 0 where target
    is 0 (or exp(t) (t - input) with ``log_target``); ``"batchmean"`` divides the sum by the batch size."""
    try:
        refuse_complex(RuntimeError, "kl_div: Complex inputs not supported.", input, target)
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce, reduction)
        elif reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support size."
                "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                UserWarning,
                stacklevel=2,
            )
        if dtypes.kind(input.dtype) in "biu" or dtypes.kind(target.dtype) in "biu":
            raise RuntimeError("kl_div: Integral inputs not supported.")
        if autocast_users[0]:
            input, target = autocast_function("kl_div", input, target)
        if log_target:
            loss = target.exp() * (target - input)
        else:  # xlogy(t, t) - t x, with a gradient that stays finite where t == 0 (NaN where t < 0, as torch)
            pos = target != 0
            safe = apply(ew.where, pos, target, 1.0)
            loss = apply(ew.where, pos, target * safe.log(), 0.0) - target * input
        if reduction == "batchmean":
            total = loss.sum()
            return total / input.shape[0] if input.ndim else total
        return _reduce(loss, reduction)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x W^T + b, with W of shape (out_features, in_features); a 1-D W gives x @ W (+ b), as torch's."""
    try:
        try:
            if bias is None:
                return apply(linalg.linear, input, weight)
            return apply(linalg.linear, input, weight, bias)
        except ShapeError:
            if getattr(weight, "ndim", None) != 1 or (bias is not None and input.ndim == 2):  # (torch's addmm refuses)
                raise
        out = input.matmul(weight)
        return out if bias is None else out + bias
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: Any = None,
) -> Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``, as torch's reference path:
    ``linear_weight`` is (C, d_1, ..., d_K, in_features) for a K-dimensional loss over (N, C, d_1, ...) logits;
    ``ignore_index=None`` is -100 for class targets. torch's chunked path (``options``) gives the same values:
    here the options are checked and the loss is always the composition (the logits are made whole)."""
    if input.ndim < 1 or input.ndim > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.ndim}")
    if linear_weight.ndim < 2:
        raise RuntimeError(f"expected linear_weight with dimensionality at least 2, got {linear_weight.ndim}")
    batch, in_features = tuple(input.shape[:-1]), input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError(
            "expected equal input and linear_weight last dimensions (in_features), "
            f"got {input.shape[-1]} and {linear_weight.shape[-1]}, respectively"
        )
    num_classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise RuntimeError(f"expected linear_bias shape {(num_classes, *out_features)}, got {tuple(linear_bias.shape)}")
    if out_features and not batch:
        raise RuntimeError(
            f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} requires"
            f" batched input, (N, {in_features}), got unbatched input with shape {tuple(input.shape)}"
        )
    logits_shape = (*batch, num_classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    ignore_index = -100 if ignore_index is None else ignore_index
    if options is not None and (
        out_features or reduction not in {"mean", "sum", "none"} or label_smoothing != 0.0 or target.dtype != np.int64
    ):
        warnings.warn(
            "linear_cross_entropy: ``options`` ignored; chunked path needs reduction in {'mean','sum','none'}, "
            "label_smoothing == 0, target.dtype == int64, out_features == (). Got "
            f"reduction={reduction!r}, label_smoothing={label_smoothing}, target.dtype={target.dtype}, "
            f"out_features={out_features}, tracing=False, linear_bias.shape="
            f"{tuple(linear_bias.shape) if linear_bias is not None else None}.",
            stacklevel=2,
        )
    if out_features:
        linear_weight = linear_weight.reshape(math.prod(out_features, start=num_classes), in_features)
        if linear_bias is not None:
            linear_bias = linear_bias.reshape(math.prod(out_features, start=num_classes))
    logits = linear(input, linear_weight, linear_bias).reshape(logits_shape)
    return cross_entropy(
        logits, target, weight=weight, reduction=reduction, ignore_index=ignore_index, label_smoothing=label_smoothing
    )


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) at integer ids ``input``; padding_idx rows get no grad.
    ``max_norm`` renormalises the used rows in place (as torch); ``sparse=True`` gives a leaf ``weight`` torch's
    sparse COO gradient (a row per lookup, uncoalesced: ``embedding_sparse``)."""
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    if input.dtype not in (dtypes.int64, dtypes.int32):  # torch's check: Long or Int ids only
        raise DTypeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got {input.type()} instead (while checking arguments for embedding)"
        )
    if weight.ndim != 2:
        raise ShapeError(f"embedding: 'weight' must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    n = weight.shape[0]
    xp = input.device.xp
    if input._data.size:  # (a recorded check: a replay refuses a bad id too, where take would wrap -1)
        trace.check(_check_ids, input, xp=xp, n=n)
        if _on_cupy(xp):  # (the check is deferred there: keep the gather in bounds until it raises)
            clip = functools.partial(xp.clip, a_min=0, a_max=n - 1)
            input = Tensor._wrap(trace.record(clip, input), input.device, None)
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    out = sparse_lookup(weight, input, padding_idx, scale_grad_by_freq) if sparse else None
    if out is None:
        out = weight[input]
    if scale_grad_by_freq and weight.requires_grad:
        out = _scale_grad(out, input)
    if padding_idx is not None and weight.requires_grad:
        keep = (input != padding_idx).unsqueeze(-1)
        out = apply(ew.where, keep, out, out.detach())
    return name_node(out, "EmbeddingBackward0")


def _on_cupy(xp: Any) -> bool:
    return getattr(xp, "__name__", "") == "cupy"


def _check_ids(ids: Any, *, xp: Any, n: int) -> None:
    """embedding's range check: on CuPy recorded on the device (raised at the next read), else here."""
    msg = f"id {{value}} is out of range for a vocabulary of {n} embeddings (valid ids: 0..{n - 1})"
    if defer_range_check(xp, "embedding", ids, 0, n - 1, msg):
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= n:
        raise IndexError("embedding: " + msg.format(value=hi if hi >= n else lo))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero elements with probability ``p`` and scale the rest by 1/(1-p) (identity when not training)."""
    try:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        if not training or p == 0.0:
            return input
        if p == 1.0:
            return input.mul_(0.0) if inplace else input * 0.0
        if input.dtype.kind in "iub":  # (the mask's 1 / (1 - p) scale needs a float result, as torch)
            raise DTypeError(f"dropout: result type Float can't be cast to the desired output type {input.dtype}")
        dev = input.device
        shape, strides = tuple(input.shape), input._data.strides
        mask = Tensor._wrap(trace.record(_dropout_mask, dev, shape, p, input.dtype, strides), dev, None)
        return input.mul_(mask) if inplace else input * mask
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _dropout_mask(dev: Any, shape: tuple, p: float, dtype: Any, strides: tuple) -> Any:
    """keep / (1 - p), keep ~ Bernoulli(1 - p), from the device's generator (a replayed step draws anew)."""
    keep = dropout_keep(dev, shape, p, strides)  # torch's empty_like(input).bernoulli_(1 - p).div_(1 - p)
    return keep * dropout_scale(dev.xp, p, dtype)


def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape:
        raise ShapeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
            "normalized_shape = []"
        )
    for name, t in (("weight", weight), ("bias", bias)):  # (torch's checks and words)
        if t is not None and tuple(t.shape) != shape:
            raise ShapeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{list(t.shape)} and normalized_shape = {list(shape)}"
            )
    if tuple(input.shape[-len(shape) :]) != shape:
        want = ", ".join(str(s) for s in shape)
        raise ShapeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, {want}], but got input of "
            f"size{list(input.shape)}"
        )
    dims = tuple(range(-len(shape), 0))
    refuse_complex(NotImplementedError, "\"LayerNormKernelImpl\" not implemented for '{dtype}'", input)
    _check_norm_dtypes(input, weight, bias)
    input = input.contiguous()  # torch's kernel writes a contiguous result, also of a transposed input
    if _is_half(input):  # torch computes float16/bfloat16 norms in float32 and rounds once
        return layer_norm(input.float(), normalized_shape, _f32(weight), _f32(bias), eps).to(input.dtype)
    if autocast_users[0]:
        input, weight, bias = autocast_function("layer_norm", input, weight, bias)
    mu = input.mean(dims, keepdim=True)
    centered = input - mu
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return name_node(out, "NativeLayerNormBackward0")


def one_hot(input: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a trailing class dim (no gradient)."""
    tensor = input  # (torch's keyword name is input; its docs say tensor)
    if tensor.dtype != dtypes.int64:  # (torch: int64 only; int32 and uint8 ids are refused too)
        raise DTypeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = tensor.device.xp
    if num_classes < 0:  # one read-back, as torch (the shape then depends on the data)
        trace.host_read("one_hot(num_classes=-1)")
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        if tensor.device.type == "meta":
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
    n = int(tensor._data.max()) + 1 if num_classes < 0 else num_classes
    if tensor._data.size:  # (recorded: a replay refuses a bad class value too)
        trace.check(_check_classes, tensor, xp=xp, n=n, deferrable=num_classes >= 0)
    out = trace.record(functools.partial(_one_hot, n=n, xp=xp), tensor)
    return Tensor._wrap(out, tensor.device, None)


def _check_classes(data: Any, *, xp: Any, n: int, deferrable: bool) -> None:
    """one_hot's range check. CuPy: checked on the device, raised at the next read (bad values give all-zero
    rows until then)."""
    if deferrable and defer_range_check(
        xp, "one_hot", data, 0, n - 1, f"class value {{value}} is out of range [0, {n})"
    ):
        return
    if int(data.min()) < 0:
        raise OpIndexError("Class values must be non-negative.")
    if int(data.max()) >= n:
        raise OpIndexError("Class values must be smaller than num_classes.")


def _one_hot(data: Any, n: int, xp: Any) -> Any:
    return c_order(xp, (data[..., None] == xp.arange(n)).astype(dtypes.int64))  # contiguous, as torch's


# ---------------------------------------------------------------- padding, distances, normalisation, attention
# Compositions of registered ops (their gradients and double backward come from those ops): pad's
# reflect/replicate/circular modes are one integer-index gather per padded dim, whose adjoint is the
# scatter-add of ``getitem_grad``.


def _additive_mask(mask: Any, xp: Any, dtype: Any) -> Any:
    """A boolean attention mask as 0 (attend) / -inf (do not)."""
    return xp.where(mask, 0.0, -math.inf).astype(dtype)


def _dead_rows(scores: Any, xp: Any) -> Any:
    """Where a row of attention scores is -inf everywhere (a query that may attend to nothing), as a
    mask of the scores' shape."""
    return xp.broadcast_to(xp.all(xp.isneginf(scores), axis=-1, keepdims=True), scores.shape)


def _gather_dim(input: Tensor, dim: int, idx: Any) -> Tensor:
    """``input`` at integer positions ``idx`` (an array of the input's device) along ``dim``."""
    return input[(slice(None),) * dim + (_const(idx, input),)]


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) // 2 dims, torch's order: (left, right) of the last dim, then the one
    before, ...; modes ``constant`` (``value``, default 0; negative pads crop), ``reflect``,
    ``replicate``, ``circular``."""
    for i, p in enumerate(pad):
        if isinstance(p, (float, bool, np.floating, np.bool_)):  # (int() would truncate 1.5 silently)
            raise TypeError(
                f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element of type "
                f"{type(p).__name__} at pos {i}"
            )
    pad = tuple(int(p) for p in pad)
    k = len(pad) // 2
    if len(pad) % 2:
        raise ShapeError("Padding length must be divisible by 2")
    if k > input.ndim:
        raise ShapeError(
            f"Padding length should be less than or equal to two times the input dimension but got padding "
            f"length {len(pad)} and input of dimension {input.ndim}"
        )
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    xp = input.device.xp
    if mode == "constant":
        out = input
        fill = 0.0 if value is None else dtypes.double_int(value, input._data.dtype)  # (torch's double value)
        for i in range(k):
            dim, lo, hi = input.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]
            n = out.shape[dim]
            if n + min(lo, 0) + min(hi, 0) < 0:  # (torch crops by narrow() first)
                raise ShapeError("narrow(): length must be non-negative.")
            if lo < 0 or hi < 0:
                out = out[(slice(None),) * dim + (slice(max(-lo, 0), n - max(-hi, 0)),)]
            parts = []
            for size in (lo, hi):
                shape = list(out.shape)
                shape[dim] = max(size, 0)
                parts.append(_const(xp.full(tuple(shape), fill, dtype=input.dtype), input))
            if lo > 0 or hi > 0:
                pieces = ([parts[0]] if lo > 0 else []) + [out] + ([parts[1]] if hi > 0 else [])
                out = apply(sh.cat, *pieces, axis=dim)
        if out is input:  # (torch's result is a new tensor, never the input: writes to it leave input alone)
            out = input.clone()
        return name_node(out, "ConstantPadNdBackward0")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if not 1 <= k <= 3 or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    if mode == "circular":  # (torch checks the dims outermost first)
        for i in reversed(range(k)):
            n, lo, hi = input.shape[input.ndim - 1 - i], pad[2 * i], pad[2 * i + 1]
            if lo > n or hi > n:
                raise ShapeError("Padding value causes wrapping around more than once.")
            if n + lo + hi < 0:
                raise ShapeError("Negative padding value is resulting in an empty dimension")
    elif 0 in input.shape[input.ndim - k - 1 :]:  # (reflect, replicate: only the batch may be empty)
        raise ShapeError(
            f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and other non-zero "
            f"dimensions for input, but got: {list(input.shape)}"
        )
    if mode == "replicate":
        shape = list(input.shape)
        for i in range(k):
            shape[input.ndim - 1 - i] += pad[2 * i] + pad[2 * i + 1]
        if min(shape) < 0:
            bad = next(d for d in shape if d < 0)
            raise ShapeError(f"Trying to create tensor with negative dimension {bad}: {shape}")
    if autocast_users[0] and mode != "circular":  # (torch's CPU autocast: reflection/replication pads in float32)
        (input,) = autocast_function(f"{'reflection' if mode == 'reflect' else 'replication'}_pad{k}d", input)
    out = input
    for i in range(k):
        dim, lo, hi = input.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]
        n = out.shape[dim]
        if mode == "reflect" and max(lo, hi) >= n:
            raise ShapeError(
                f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding input dimension, but got: "
                f"padding ({lo}, {hi}) at dimension {dim} of input {list(input.shape)}"
            )
        if n + lo + hi < 0:  # (torch's reflection kernels overflow computing the size)
            raise ShapeError(f"pad: reflect padding ({lo}, {hi}) of dim {dim} leaves {n + lo + hi} elements")
        idx = xp.arange(-lo, n + hi)
        if mode == "reflect":
            idx = xp.abs(idx)
            idx = xp.where(idx >= n, 2 * (n - 1) - idx, idx)
        elif mode == "replicate":
            idx = xp.clip(idx, 0, n - 1)
        else:  # torch crops first, then wraps around the cropped part
            lo_crop, m = max(-lo, 0), n + min(lo, 0) + min(hi, 0)
            idx = xp.arange(-max(lo, 0), m + max(hi, 0)) % max(m, 1) + lo_crop
        out = _gather_dim(out, dim, idx)
    if mode == "circular":  # (torch writes the wrapped parts into slices of a new tensor)
        return name_node(out, "torch::autograd::CopySlices")
    kind = "Reflection" if mode == "reflect" else "Replication"
    out = link_gradients(out, input, name=f"{kind}Pad{k}DBackwardBackward0")  # (create_graph: as torch's)
    return name_node(out, f"{kind}Pad{k}DBackward0")


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1/|x1| * x2/|x2|) along ``dim``; each norm is clamped at ``eps`` in value only (torch
    clamps them under no_grad, so the gradient is that of the unclamped expression)."""
    try:
        refuse_complex(RuntimeError, "expected common dtype to be floating point, yet common dtype is {dtype}", x1, x2)
        shape = broadcast_shape(tuple(x1.shape), tuple(x2.shape))
        if tuple(x1.shape) != shape:
            x1 = x1.expand(*shape)
        if tuple(x2.shape) != shape:
            x2 = x2.expand(*shape)
        n1 = x1.norm(2, dim, keepdim=True)
        n2 = x2.norm(2, dim, keepdim=True)
        n1 = n1 + (n1.detach().clamp(min=eps) - n1.detach())
        n2 = n2 + (n2.detach().clamp(min=eps) - n2.detach())
        return ((x1 / n1) * (x2 / n2)).sum(dim)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:
    """input / max(||input||_p, eps) along ``dim``."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos where target is 1, max(0, cos - margin) where it is -1; cos = x1.x2 / sqrt((|x1|^2 + 1e-12)
    (|x2|^2 + 1e-12)) over the last dim of (N, D) or (D,) inputs, as torch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.ndim not in (0, 1):  # torch's checks; the shapes then broadcast (a (1,) target serves a batch)
        raise ShapeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.ndim != target.ndim + 1 or input2.ndim != target.ndim + 1:
        raise ShapeError(
            f"{target.ndim}D target tensor expects {target.ndim + 1}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    if autocast_users[0]:
        input1, input2 = autocast_function("cosine_embedding_loss", input1, input2)
    d = target.ndim
    eps = 1e-12
    cos = (input1 * input2).sum(d) / (((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)).sqrt()
    zero = cos * 0.0
    loss = apply(ew.where, target == 1, 1 - cos, zero) + apply(
        ew.where, target == -1, (cos - margin).clamp(min=0), zero
    )
    return _reduce(loss, reduction)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) of (N, C, ...) by the batch's statistics (``training``; the
    running ones are then updated in place: r = (1 - momentum) r + momentum stat, with the unbiased
    variance) or by the running statistics; then scale and shift."""
    if input.numel() == 0:  # torch's early return, any shape ((0,) too): a copy times weight[0], plus bias[0]
        out = input * 1
        if weight is not None:
            out = out * weight[0]
        return out if bias is None else out + bias[0]
    if input.ndim < 2:  # (torch's size(1) raises IndexError)
        raise ShapeIndexError(f"batch_norm: expected an input of shape (N, C, ...), got {tuple(input.shape)}")
    refuse_complex(NotImplementedError, "\"batch_norm\" not implemented for '{dtype}'", input)
    input = input.contiguous()  # torch's kernel writes a contiguous result, also of a transposed input
    half = _is_half(input)
    if not half and input.dtype.kind not in "fc":
        raise NotImplementedError(f"\"batch_norm\" not implemented for '{input.dtype}' (a float input is needed)")
    if training and any(mapped_slice(t) is False for t in (running_mean, running_var) if t is not None):
        raise RuntimeError(  # (torch's message: inside vmap, running statistics that are not mapped)
            "Batch norm got a batched tensor as input while the running_mean or running_var, which will be updated "
            "in place, were not batched.\nIf you are using a module and do not need eval mode, please set "
            "`track_running_stats` to be False.If you are using a prebuilt module and do not need eval mode, please "
            "see the functorch website for resources on how to patch your module to work with vmap"
        )
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"{name} should contain {c} elements not {t.numel()}")  # (torch's words)
    _check_norm_dtypes(input, weight, bias, running_mean, running_var)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and not half and t.dtype != input.dtype:  # (CUDA; half inputs may take float32 ones)
            raise DTypeError(
                f"batch_norm: mixed dtype: all inputs must share same datatype, got input {input.dtype} and "
                f"{name} {t.dtype}; cast with .to(dtype)"
            )
    if half:  # torch computes float16/bfloat16 norms in float32 and rounds once; from the batch's
        # statistics rounded to the input's dtype (its saved mean and invstd) unless a parameter is float32
        stats = None if _mixed_half(weight, bias, running_mean, running_var) else input.dtype
        f = _batch_norm(
            input.float(), running_mean, running_var, _f32(weight), _f32(bias), training, momentum, eps, stats
        )
        return f.to(input.dtype)
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, None)


def _batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
    stats: Any,
) -> Tensor:
    """batch_norm's computation (arguments checked); ``stats``: a half dtype the batch statistics round to."""
    c = input.shape[1]
    shape = _channel_shape(input)
    if training or running_mean is None or running_var is None:
        if training and input.numel() // max(c, 1) <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size torch.Size({list(input.shape)})"
            )
        dims = (0, *range(2, input.ndim))
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        if training:
            n = input.numel() // c
            for buf, stat in ((running_mean, mean), (running_var, var * (n / max(n - 1, 1)))):
                if buf is not None:  # (a recorded call: a compiled step updates the statistics too)
                    trace.record(functools.partial(_running_update, momentum=momentum, c=c), buf, stat)
                    buf._version += 1
        if stats is not None:
            invstd = (var + eps).rsqrt().to(stats).float()
            return _norm_out((input - mean.to(stats).float()) * invstd, weight, bias, shape)
    else:
        mean = running_mean.reshape(shape)
        var = running_var.reshape(shape)
        if var.dtype.itemsize == 2:  # (half running statistics of a half input: var + eps in float32 too)
            var = var.float()
        centered = input - mean
    return _norm_out(centered * (var + eps).rsqrt(), weight, bias, shape)


def _norm_out(out: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return name_node(out, "NativeBatchNormBackward0")


def _is_half(t: Tensor) -> bool:
    return t.dtype is dtypes.float16 or dtypes.is_bfloat16(t.dtype)


def _mixed_half(*params: Tensor | None) -> bool:
    """A half-dtype norm's parameters include a float32 one: torch's mixed-type kernels keep float32 statistics."""
    return any(p is not None and p.dtype == np.float32 for p in params)


def _check_norm_dtypes(input: Tensor, *params: Tensor | None) -> None:
    """torch's CPU norm kernels' dtype rule: the parameters (in torch's order) take the input's dtype, or, for
    a float16/bfloat16 input, float32 ("mixed type", decided by the first one given). Otherwise torch's error:
    ``model.half()`` fed a float32 input, or a float64 input with float32 parameters."""
    given = [p for p in params if p is not None]
    if not given or input.device.type != "cpu":
        return
    if given[0].dtype == input.dtype:
        for p in given:
            if p.dtype != input.dtype:
                name = dtypes.scalar_type_name
                raise DTypeError(f"expected scalar type {name(input.dtype)} but found {name(p.dtype)}")
    elif any(p.dtype != np.float32 for p in given):
        raise DTypeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
    elif not _is_half(input):
        raise DTypeError("mixed dtype (CPU): all inputs must share same datatype.")


def _f32(t: Tensor | None) -> Tensor | None:
    """A half-dtype norm's weight or bias for its float32 computation."""
    return None if t is None else t.float()


def group_norm(
    input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Normalise (N, C, ...) over each group of C / num_groups channels (and all other dims), then
    scale and shift per channel."""
    try:
        if input.ndim < 2:  # (torch's checks and words)
            raise ShapeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
        if input.shape[1] % num_groups:
            raise ShapeError(
                "Expected number of channels in input to be divisible by num_groups, but got input of shape "
                f"{list(input.shape)} and num_groups={num_groups}"
            )
        refuse_complex(NotImplementedError, "\"GroupNormKernelImpl\" not implemented for '{dtype}'", input)
        input = input.contiguous()  # torch's kernel writes a contiguous result, also of a transposed input
        n, c = input.shape[0], input.shape[1]
        for name, t in (("weight", weight), ("bias", bias)):
            if t is not None and tuple(t.shape) != (c,):
                raise ShapeError(
                    f"Expected {name} to be a vector of size equal to the number of channels in input, but got "
                    f"{name} of shape {list(t.shape)} and input of shape {list(input.shape)}"
                )
        _check_norm_dtypes(input, weight, bias)
        if _is_half(input):  # torch computes float16/bfloat16 norms in float32 and rounds once
            return group_norm(input.float(), num_groups, _f32(weight), _f32(bias), eps).to(input.dtype)
        if autocast_users[0]:
            input, weight, bias = autocast_function("group_norm", input, weight, bias)
        x = input.reshape(n, num_groups, input.numel() // max(n * num_groups, 1))  # (no -1: n may be 0)
        mean = x.mean(-1, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(-1, keepdim=True)
        out = (centered * (var + eps).rsqrt()).reshape(input.shape)
        shape = _channel_shape(input)
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return name_node(out, "NativeGroupNormBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _check_sdpa(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None) -> None:
    """torch's ``validate_sdpa_input``: one dtype for q, k, v; at least 2-d each; a bool mask, a float32 one or
    one of the query's dtype (an integer mask would be added to the scores)."""
    name = dtypes.cpp_type_name
    if not query.dtype == key.dtype == value.dtype:
        raise DTypeError(
            f"Expected query, key, and value to have the same dtype, but got query.dtype: {name(query.dtype)} "
            f"key.dtype: {name(key.dtype)} and value.dtype: {name(value.dtype)} instead."
        )
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if attn_mask is not None and attn_mask.dtype not in (dtypes.bool_, dtypes.float32, query.dtype):
        raise DTypeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
            f"{name(attn_mask.dtype)} and  query.dtype: {name(query.dtype)} instead."
        )


def _repeat_kv_heads(query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    """torch's ``pre_process_group_query_attention_input``: key and value heads (dim -3, each its own count) that
    divide the query's are repeated in place (``repeat_interleave``) up to the query's; torch's message is cut short."""
    hq, hk, hv = query.size(-3), key.size(-3), value.size(-3)
    if hq == hk == hv:
        return key, value
    if hk == 0 or hv == 0 or hq % hk or hq % hv:
        raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
    return key.repeat_interleave(hq // hk, dim=-3), value.repeat_interleave(hq // hv, dim=-3)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(q k^T * scale + bias) v over (..., L, E) queries and (..., S, E) keys; a bool
    ``attn_mask`` marks the positions that take part (True), a float one is added to the scores;
    ``is_causal`` masks the upper triangle (with an ``attn_mask`` too: both apply, as torch's CPU kernel, whose
    docs say it refuses); ``dropout_p`` drops attention weights (always, as torch)."""
    try:
        _check_sdpa(query, key, value, attn_mask)
        if enable_gqa:
            key, value = _repeat_kv_heads(query, key, value)
        el, s = query.shape[-2], key.shape[-2]
        factor = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
        scores = query.matmul(key.transpose(-2, -1)) * factor
        xp = query.device.xp
        if is_causal:
            keep = xp.tril(xp.ones((el, s), dtype=bool))
            scores = scores + _const(xp.where(keep, 0.0, -math.inf).astype(scores.dtype), scores)
        if attn_mask is not None:
            if attn_mask.dtype.kind == "b":
                additive = trace.record(functools.partial(_additive_mask, xp=xp, dtype=scores.dtype), attn_mask)
                scores = scores + _const(additive, scores)
            else:
                scores = scores + attn_mask
        dead = trace.record(functools.partial(_dead_rows, xp=xp), scores)
        # torch's safe softmax: a query that may attend to nothing gets weights 0, not NaN (a recorded step and a
        # device always take this path, which equals the plain softmax bit for bit where no row is dead: asking
        # dead.any() there would read device memory back to the host at every attention call)
        if trace.tracer() is not None or query.device.type != "cpu" or dead.any():
            dead_t = _const(dead, scores)
            weights = apply(ew.where, dead_t, 0.0, apply(nn_ops.softmax, apply(ew.where, dead_t, 0.0, scores), axis=-1))
        else:
            weights = apply(nn_ops.softmax, scores, axis=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, True)
        out = weights.matmul(value)
        qs = query.stride()
        if query.ndim == 4 and qs[3] == 1 and qs[1] < qs[2] and query.shape[1] > 1 and query.shape[2] > 1:
            # torch's CPU kernel keeps the multi-head idiom's layout: for a query x.view(B, L, H, E).transpose(1, 2)
            # its output is (B, L, H, E) memory seen as (B, H, L, E), so out.transpose(1, 2).view(B, L, H * E) works
            out = out.transpose(1, 2).contiguous().transpose(1, 2)
        if query.ndim == 4 and dropout_p == 0.0 and value.shape[-1] == query.shape[-1] and query.device.type == "cpu":
            # (the inputs torch's CPU flash kernel takes: its node's name; the rest is its math path's, ours)
            name_node(out, "ScaledDotProductFlashAttentionForCpuBackward0")
        return out
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


__all__ += [
    "batch_norm", "cosine_embedding_loss", "cosine_similarity", "group_norm", "huber_loss", "kl_div", "l1_loss",
    "normalize", "pad", "pairwise_distance", "scaled_dot_product_attention", "smooth_l1_loss",
]  # fmt: skip
__all__ += [
    "alpha_dropout", "bilinear", "channel_shuffle", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout",
    "gaussian_nll_loss", "gumbel_softmax", "hinge_embedding_loss", "instance_norm", "local_response_norm",
    "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss", "pdist",
    "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss", "rms_norm", "soft_margin_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]  # fmt: skip
__all__ += [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "fold", "interpolate", "lp_pool1d", "lp_pool2d", "max_pool1d",
    "max_pool2d", "max_pool3d", "unfold", "upsample",
]  # fmt: skip
__all__ += [
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
    "affine_grid", "grid_sample", "lp_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d", "upsample_bilinear", "upsample_nearest",
]  # fmt: skip
__all__ += ["ctc_loss", "embedding_bag", "linear_cross_entropy"]
__all__ += [
    "fractional_max_pool2d", "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]  # fmt: skip

native_channel_shuffle = channel_shuffle  # torch.nn.functional.native_channel_shuffle (the ATen name)
__all__ += ["native_channel_shuffle"]


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:
    """torch.conv_tbc: a 1-d convolution of a (time, batch, in) input with a (width, in, out) weight and an (out,)
    bias, padded by ``pad`` on both ends of time; (time', batch, out). ``F.conv1d`` on the permuted operands."""
    if input.ndim != 3:
        raise RuntimeError("Input must have 3 dims: time, batch, in_channel")
    if weight.ndim != 3:
        raise RuntimeError("Weight tensor must have 3 dims: kernel_width, in_channels, out_channels.")
    if bias.ndim != 1:
        raise RuntimeError("Bias must be 1-D")
    if input.shape[2] != weight.shape[1]:
        raise RuntimeError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if bias.shape[0] != weight.shape[2]:
        raise RuntimeError("Bias size must equal dim 2 in the weight tensor (output channels).")
    y = conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=int(pad))
    return y.permute(2, 0, 1)


# torch.nn.functional's grid_sample mode codes (ATen's grid_sampler takes them as ints)
GRID_SAMPLE_INTERPOLATION_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
GRID_SAMPLE_PADDING_MODES = {"zeros": 0, "border": 1, "reflection": 2}
__all__ += ["conv_tbc"]
