"""Autocast's core: the per-thread, per-device-type state and the cast policy ``apply`` consults.

Under ``bp.autocast`` every op of a policy list has its Tensor inputs cast before it runs, as torch's
autocast does: the *lower-precision* ops (matmul, linear, einsum) run in the autocast dtype, the
*float32* ops (losses, softmax, exp and log on CUDA) in float32, and the *promote* ops (cat, stack)
in the widest floating dtype of their inputs. Casts go through the registered ``astype`` op, so they
are differentiable (gradients come back in each input's own dtype) and ``bp.compile`` records them.
Only floating inputs other than float64 on the autocast's device type are cast (torch's eligibility).
``apply`` looks here only while ``grad_mode.autocast_users[0]`` is non-zero: outside autocast the hot
path pays one list read. The user-facing context manager is ``backprop.amp.autocast``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.grad_mode import autocast_users, state, trace_users

_SCALARS = frozenset({int, float, bool, complex, type(None)})
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)

LOWER, FP32, PROMOTE = "lower_precision_fp", "fp32", "promote"

# Torch's op lists (aten/src/ATen/autocast_mode.h), named as our registered ops; the names of
# composite functions (``mse_loss``, ``layer_norm``, ...) are for ``autocast_function``. The CPU and
# CUDA lists differ in torch and here alike: on CPU, softmax, exp, log, sum and layer_norm are not
# cast (torch 2.13, checked op by op in tests/test_amp.py).
_LOWER_BOTH: tuple[str, ...] = ("matmul", "linear", "einsum", "conv1d", "conv2d", "conv3d", "conv_transpose1d")
_LOWER_BOTH += ("conv_transpose2d", "conv_transpose3d", "prelu", "scaled_dot_product_attention")
_LOWER_BOTH += ("addmm", "baddbmm", "addbmm", "linalg_vecdot")
_FP32_LOSSES = (
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "cosine_embedding_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "triplet_margin_loss",
    "poisson_nll_loss",
    "cdist",
    "prod",
)
_LOWER_CPU_ONLY = ("mkldnn_rnn_layer",)  # nn.LSTM's oneDNN kernel (input and states; its weights through linear)
_FP32_CPU_ONLY: tuple[str, ...] = ("binary_cross_entropy", "cholesky", "inv", "qr", "svd", "eigh", "solve", "trace")
# pooling and padding kernels torch's CPU autocast runs in float32 (the 3-d pools, reflection and replication pads)
_FP32_CPU_ONLY += ("avg_pool3d", "max_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d")
_FP32_CPU_ONLY += ("reflection_pad1d", "reflection_pad2d", "replication_pad1d", "replication_pad2d")
_FP32_CPU_ONLY += ("replication_pad3d",)
_FP32_CPU_ONLY += ("polar",)  # (a bfloat16 rotary angle gives complex64, as torch's)
_FP32_CUDA_ONLY = (
    "acos",
    "asin",
    "cosh",
    "erfinv",
    "exp",
    "expm1",
    "log",
    "log10",
    "log2",
    "log1p",
    "reciprocal",
    "rsqrt",
    "sinh",
    "tan",
    "pow",
    "softplus",
    "softmax",
    "log_softmax",
    "sum",
    "cumsum",
    "cumprod",
    "norm",
    "logsumexp",
    "layer_norm",
    "group_norm",
    "cosine_similarity",
    "pdist",
    "dist",
    "renorm",
)
_PROMOTE_BOTH = ("cat", "stack", "index_copy")
_PROMOTE_CUDA_ONLY = ("atan2", "index_put", "scatter_add", "addcmul", "addcdiv", "cross", "dot", "tensordot")


def _policy(lower: tuple[str, ...], fp32: tuple[str, ...], promote: tuple[str, ...]) -> dict[str, str]:
    return {**dict.fromkeys(lower, LOWER), **dict.fromkeys(fp32, FP32), **dict.fromkeys(promote, PROMOTE)}


POLICIES: dict[str, dict[str, str]] = {
    "cpu": _policy(_LOWER_BOTH + _LOWER_CPU_ONLY, _FP32_LOSSES + _FP32_CPU_ONLY, _PROMOTE_BOTH),
    "cuda": _policy(
        (*_LOWER_BOTH, "addmv", "addr", "mv", "multi_dot"),
        _FP32_LOSSES + _FP32_CUDA_ONLY,
        _PROMOTE_BOTH + _PROMOTE_CUDA_ONLY,
    ),
}
# the autocast dtype when none is given: torch's, bfloat16 on the CPU (ml_dtypes' NumPy dtype, made when
# first asked for: see dtypes) and float16 elsewhere
DEFAULT_DTYPES: dict[str, str] = {"cpu": "bfloat16", "cuda": "float16"}


def _default_dtype(device_type: str) -> np.dtype:
    name = DEFAULT_DTYPES.get(device_type, "float16")
    return dtypes.bfloat16 if name == "bfloat16" else np.dtype(name)  # (without ml_dtypes: its stand-in)


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled: dict[str, bool] = {}  # device type -> autocast on
        self.dtype: dict[str, np.dtype] = {}  # device type -> lower-precision dtype (set, or the default)
        self.cache_enabled = True
        self.nesting = 0  # autocast regions entered on this thread (the cache dies with the outermost)
        self.cache: dict[int, tuple[Any, int, Any]] = {}  # id(weight) -> (weight, its version, cast)


_state = _State()


def is_enabled(device_type: str) -> bool:
    """True when autocast is on for ``device_type`` on this thread."""
    return _state.enabled.get(device_type, False)


def key() -> tuple[tuple[str, Any], ...]:
    """The device types autocast is on for on this thread, with their dtypes (part of ``bp.compile``'s guard)."""
    return tuple(sorted((d, get_dtype(d)) for d, on in _state.enabled.items() if on))


def set_enabled(device_type: str, enabled: bool) -> None:
    """Turn autocast on or off for ``device_type`` on this thread (keeps ``autocast_users`` counted)."""
    enabled = bool(enabled)
    if _state.enabled.get(device_type, False) != enabled:
        autocast_users[0] += 1 if enabled else -1
    _state.enabled[device_type] = enabled


def get_dtype(device_type: str) -> np.dtype:
    """The lower-precision dtype autocast uses on ``device_type`` (this thread)."""
    dtype = _state.dtype.get(device_type)
    return _default_dtype(device_type) if dtype is None else dtype


def set_dtype(device_type: str, dtype: Any) -> None:
    """Set the lower-precision dtype of ``device_type``'s autocast (this thread)."""
    _state.dtype[device_type] = dtype if isinstance(dtype, np.dtype) else np.dtype(dtypes.to_dtype(dtype))


def is_cache_enabled() -> bool:
    return _state.cache_enabled


def set_cache_enabled(enabled: bool) -> None:
    _state.cache_enabled = bool(enabled)


def increment_nesting() -> int:
    _state.nesting += 1
    return _state.nesting


def decrement_nesting() -> int:
    _state.nesting -= 1
    return _state.nesting


def clear_cache() -> None:
    """Drop the cached casts of weights (done when the outermost autocast region ends)."""
    _state.cache.clear()


class suspended:  # noqa: N801 - used as a function
    """``with suspended():`` this thread's autocast off for every device type, restored after: a half-precision
    op that computes in float32 and rounds once (addmm, conv...) must not have its float32 operands cast back."""

    __slots__ = ("on",)

    def __enter__(self) -> None:
        self.on = [k for k, v in _state.enabled.items() if v]
        for k in self.on:
            set_enabled(k, False)

    def __exit__(self, *exc: object) -> None:
        for k in self.on:
            set_enabled(k, True)


def _eligible(t: Any, device_type: str) -> bool:
    """torch's rule: a floating Tensor other than float64, on the autocast's device type."""
    return (
        t.__class__ not in _SCALARS
        and dtypes.kind(t._data.dtype) == "f"
        and t._data.dtype != _FLOAT64
        and t.device.type == device_type
    )


def _cast(t: Any, dtype: np.dtype, apply: Callable[..., Any], astype: Any, cacheable: bool) -> Any:
    """``t`` cast to ``dtype`` through the ``astype`` op; a leaf weight's lower-precision copy is made
    once per autocast region (torch's weight cache), and again only if the weight changed in place."""
    if not (cacheable and t._requires_grad and t.grad_fn is None and t._vbase is None):
        return apply(astype, t, dtype=dtype)
    version = t._version
    hit = _state.cache.get(id(t))
    if hit is not None and hit[0] is t and hit[1] == version and hit[2]._data.dtype == dtype:
        return hit[2]
    out = apply(astype, t, dtype=dtype)
    _state.cache[id(t)] = (t, version, out)
    return out


def autocast_inputs(name: str, args: tuple[Any, ...], apply: Callable[..., Any], astype: Any) -> tuple[Any, ...]:
    """``args`` of op ``name`` cast by the policy of the active autocast (unchanged when none applies).

    ``apply`` and ``astype`` are passed in by the caller (``autograd.function``), which sits beside
    this module: the casts are ordinary recorded op applications."""
    device_type = None
    for a in args:
        if a.__class__ not in _SCALARS:
            device_type = a.device.type
            break
    if device_type is None or not _state.enabled.get(device_type, False):
        return args
    kind = POLICIES.get(device_type, {}).get(name)
    if kind is None:
        return args
    if kind == LOWER:
        target = get_dtype(device_type)
    elif kind == FP32:
        target = _FLOAT32
    else:  # promote: the widest eligible floating dtype among the inputs
        found = [a._data.dtype for a in args if _eligible(a, device_type)]
        if len(set(found)) < 2:
            return args
        target = max(found, key=lambda d: d.itemsize)
    cacheable = (
        kind == LOWER
        and _state.cache_enabled
        and state.enabled
        and target != _FLOAT32
        and not (trace_users[0] and state.tracer is not None)  # a replay must cast at every step
    )
    out = []
    for a in args:
        if _eligible(a, device_type) and a._data.dtype != target:
            a = _cast(a, target, apply, astype, cacheable and a._data.dtype == _FLOAT32)
        out.append(a)
    return tuple(out)
