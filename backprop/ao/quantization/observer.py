"""torch.ao.quantization.observer: modules that record a tensor's range and give scale and zero point.

``calculate_qparams`` follows torch's ``_calculate_qparams`` in float32, bit for bit: affine
``scale = max(eps, (max(x_max, 0) - min(x_min, 0)) / (qmax - qmin))``, ``zero_point = clamp(qmin -
round_half_even(min(x_min, 0) / scale), qmin, qmax)``; symmetric ``scale = max(|x_min|, x_max) / ((qmax - qmin)
/ 2)`` with zero point 0 (qint8) or 128 (quint8).
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import numpy as np

import backprop as bp
from backprop._quantized import (
    per_channel_affine,
    per_channel_affine_float_qparams,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quint8,
)
from backprop.nn import Module
from backprop.tensor import Tensor

__all__ = [
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver",
    "NoopObserver",
    "ObserverBase",
    "PerChannelMinMaxObserver",
    "PlaceholderObserver",
    "UniformQuantizationObserverBase",
    "default_dynamic_quant_observer",
    "default_observer",
    "default_per_channel_weight_observer",
    "default_placeholder_observer",
    "default_weight_observer",
]

_EPS = float(np.finfo(np.float32).eps)


def _with_args(cls_or_self: Any, **kwargs: Any) -> Any:
    """torch's ``with_args``: a factory (``functools.partial``) with the arguments bound."""
    return partial(cls_or_self, **kwargs)


def calculate_qmin_qmax(
    quant_min: int | None, quant_max: int | None, customized: bool, dtype: Any, reduce_range: bool
) -> tuple[int, int]:
    """torch's ``calculate_qmin_qmax``: the dtype's range, halved by ``reduce_range``, or the custom one."""
    if customized:
        assert quant_min is not None and quant_max is not None
        if reduce_range:
            return quant_min // 2, quant_max // 2
        return quant_min, quant_max
    if dtype in (qint8, bp.int8):
        return (-64, 63) if reduce_range else (-128, 127)
    if dtype in (quint8, bp.uint8):
        return (0, 127) if reduce_range else (0, 255)
    if dtype in (qint32, bp.int32):
        return -(2**31), 2**31 - 1
    return 0, 15


class ObserverBase(Module):
    """The base of observers: ``dtype`` and ``is_dynamic``; ``forward`` records, ``calculate_qparams`` answers."""

    with_args = classmethod(_with_args)

    def __init__(self, dtype: Any, is_dynamic: bool = False) -> None:
        super().__init__()
        self.dtype = dtype
        self.is_dynamic = is_dynamic

    def calculate_qparams(self, **kwargs: Any) -> Any:
        raise NotImplementedError


class UniformQuantizationObserverBase(ObserverBase):
    """Observers with a uniform grid: qscheme, quant range (``reduce_range`` halves it) and ``eps`` buffer."""

    def __init__(
        self,
        dtype: Any = quint8,
        qscheme: Any = per_tensor_affine,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        factory_kwargs: Any = None,
        eps: float = _EPS,
        is_dynamic: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(dtype=dtype, is_dynamic=is_dynamic)
        self.qscheme = qscheme
        if reduce_range:
            warnings.warn(
                "Please use quant_min and quant_max to specify the range for observers.                     "
                "reduce_range will be deprecated in a future release of PyTorch.",
                stacklevel=2,
            )
        self.reduce_range = reduce_range
        self.register_buffer("eps", bp.tensor([eps]))
        self.has_customized_qrange = quant_min is not None and quant_max is not None
        if self.has_customized_qrange:
            assert quant_min is not None and quant_max is not None
            if not quant_min <= 0 <= quant_max:
                raise AssertionError("Used-specified quantization range must include 0.")
            if quant_min >= quant_max:
                raise AssertionError("qmin must be strictly less than qmax for user-specified quantization range.")
        self.quant_min, self.quant_max = calculate_qmin_qmax(
            quant_min, quant_max, self.has_customized_qrange, dtype, reduce_range
        )

    def _calculate_qparams(self, min_val: Tensor, max_val: Tensor) -> tuple[Tensor, Tensor]:
        """Scale (float32) and zero point (int32 affine, int64 symmetric, as torch's) of each channel from its
        min and max (torch's rule)."""
        lo = np.asarray(min_val.detach().numpy(), dtype=np.float32)
        hi = np.asarray(max_val.detach().numpy(), dtype=np.float32)
        if lo.size == 0 or hi.size == 0 or (lo.ndim == 0 and lo == np.inf and hi == -np.inf):
            warnings.warn("must run observer before calling calculate_qparams. Returning default values.", stacklevel=2)
            return bp.tensor([1.0]), bp.tensor([0])
        if np.any(lo > hi):
            raise AssertionError(f"min {min_val} should be less than max {max_val}")
        qmin, qmax = self.quant_min, self.quant_max
        neg, pos = np.minimum(lo, np.float32(0)), np.maximum(hi, np.float32(0))
        eps = np.float32(self.eps.numpy()[0])
        zp = np.zeros(neg.shape, dtype=np.int64)
        if self.qscheme in (per_tensor_symmetric, per_channel_symmetric):
            pos = np.maximum(-neg, pos)
            scale = np.maximum(pos / np.float32((qmax - qmin) / 2), eps)
            if self.dtype in (quint8, bp.uint8):
                zp[...] = (qmin + qmax) // 2 if self.has_customized_qrange else 128
        elif self.qscheme is per_channel_affine_float_qparams:
            scale = (hi - lo) / np.float32(qmax - qmin)
            scale = np.where(scale > eps, scale, np.float32(1))
            zpf = -1 * lo / scale
            return bp.tensor(np.atleast_1d(scale)), bp.tensor(np.atleast_1d(zpf))
        else:
            scale = np.maximum((pos - neg) / np.float32(qmax - qmin), eps)
            zp = np.clip(qmin - np.round(neg / scale).astype(np.int64), qmin, qmax).astype(
                np.int32
            )  # (int32, as torch's)
        return bp.tensor(np.atleast_1d(scale).astype(np.float32)), bp.tensor(np.atleast_1d(zp))


class MinMaxObserver(UniformQuantizationObserverBase):
    """Records the running min and max of the tensors it sees (per tensor)."""

    min_val: Tensor
    max_val: Tensor

    def __init__(self, dtype: Any = quint8, qscheme: Any = per_tensor_affine, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None, factory_kwargs: Any = None,
                 eps: float = _EPS, is_dynamic: bool = False, **kwargs: Any) -> None:  # fmt: skip
        if qscheme not in (per_tensor_affine, per_tensor_symmetric):
            raise NotImplementedError(
                "MinMaxObserver's qscheme only support torch.per_tensor_symmetric                     "
                "and torch.per_tensor_affine."
            )
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, factory_kwargs, eps, is_dynamic)
        self.register_buffer("min_val", bp.tensor(float("inf")))
        self.register_buffer("max_val", bp.tensor(float("-inf")))
        if qscheme is per_tensor_symmetric and reduce_range and dtype is quint8:
            raise NotImplementedError(
                "Cannot reduce range for symmetric                                        quantization for quint8"
            )

    def _range(self, x: Tensor) -> tuple[np.ndarray, np.ndarray]:
        a = np.asarray(x.detach().to(bp.float32).numpy())
        return np.float32(a.min()), np.float32(a.max())

    def forward(self, x_orig: Tensor) -> Tensor:
        """Record the running min and max of ``x_orig``; return it unchanged."""
        if x_orig.numel() == 0:
            return x_orig
        lo, hi = self._range(x_orig)
        self.min_val = bp.tensor(np.minimum(lo, np.float32(self.min_val.item())))
        self.max_val = bp.tensor(np.maximum(hi, np.float32(self.max_val.item())))
        return x_orig

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """Scale and zero point from the recorded range."""
        return self._calculate_qparams(self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"

    def reset_min_max_vals(self) -> None:
        """Forget the recorded range."""
        self.min_val = bp.tensor(float("inf"))
        self.max_val = bp.tensor(float("-inf"))


class MovingAverageMinMaxObserver(MinMaxObserver):
    """Records a moving average of the min and max: ``m += c * (min(x) - m)`` after the first."""

    def __init__(self, averaging_constant: float = 0.01, dtype: Any = quint8, qscheme: Any = per_tensor_affine,
                 reduce_range: bool = False, quant_min: int | None = None, quant_max: int | None = None,
                 eps: float = _EPS, is_dynamic: bool = False, **kwargs: Any) -> None:  # fmt: skip
        self_c = averaging_constant
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, None, eps, is_dynamic)
        self.averaging_constant = self_c

    def forward(self, x_orig: Tensor) -> Tensor:
        """Update the moving averages with ``x_orig``'s min and max; return it unchanged."""
        if x_orig.numel() == 0:
            return x_orig
        lo, hi = self._range(x_orig)
        m, mx = np.float32(self.min_val.item()), np.float32(self.max_val.item())
        if m == np.inf and mx == -np.inf:
            m, mx = lo, hi
        else:
            c = np.float32(self.averaging_constant)
            m = np.float32(m + c * np.float32(lo - m))
            mx = np.float32(mx + c * np.float32(hi - mx))
        self.min_val, self.max_val = bp.tensor(m), bp.tensor(mx)
        return x_orig


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """Records the running min and max of each slice along ``ch_axis``."""

    min_val: Tensor
    max_val: Tensor

    def __init__(self, ch_axis: int = 0, dtype: Any = quint8, qscheme: Any = per_channel_affine,
                 reduce_range: bool = False, quant_min: int | None = None, quant_max: int | None = None,
                 factory_kwargs: Any = None, eps: float = _EPS, is_dynamic: bool = False,
                 **kwargs: Any) -> None:  # fmt: skip
        if qscheme not in (per_channel_affine, per_channel_symmetric, per_channel_affine_float_qparams):
            raise NotImplementedError(
                "PerChannelMinMaxObserver's qscheme only support                     torch.per_channel_symmetric, "
                "torch.per_channel_affine and torch.per_channel_affine_float_qparams."
            )
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, factory_kwargs, eps, is_dynamic)
        self.ch_axis = ch_axis
        self.register_buffer("min_val", bp.tensor([]))
        self.register_buffer("max_val", bp.tensor([]))

    def _ranges(self, x: Tensor) -> tuple[np.ndarray, np.ndarray]:
        a = np.moveaxis(np.asarray(x.detach().to(bp.float32).numpy()), self.ch_axis, 0).reshape(
            x.shape[self.ch_axis], -1
        )
        return a.min(axis=1), a.max(axis=1)

    def forward(self, x_orig: Tensor) -> Tensor:
        """Record each channel's running min and max; return ``x_orig`` unchanged."""
        if x_orig.numel() == 0:
            return x_orig
        lo, hi = self._ranges(x_orig)
        if self.min_val.numel() and self.max_val.numel():
            lo = np.minimum(lo, self.min_val.numpy())
            hi = np.maximum(hi, self.max_val.numpy())
        self.min_val, self.max_val = bp.tensor(lo), bp.tensor(hi)
        return x_orig

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """Per-channel scales and zero points from the recorded ranges."""
        return self._calculate_qparams(self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel moving averages of the min and max."""

    def __init__(self, averaging_constant: float = 0.01, ch_axis: int = 0, dtype: Any = quint8,
                 qscheme: Any = per_channel_affine, reduce_range: bool = False, quant_min: int | None = None,
                 quant_max: int | None = None, eps: float = _EPS, is_dynamic: bool = False,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(ch_axis, dtype, qscheme, reduce_range, quant_min, quant_max, None, eps, is_dynamic)
        self.averaging_constant = averaging_constant

    def forward(self, x_orig: Tensor) -> Tensor:
        """Update each channel's moving averages; return ``x_orig`` unchanged."""
        if x_orig.numel() == 0:
            return x_orig
        lo, hi = self._ranges(x_orig)
        if self.min_val.numel() and self.max_val.numel():
            c = np.float32(self.averaging_constant)
            m, mx = self.min_val.numpy(), self.max_val.numpy()
            lo = (m + c * (lo - m)).astype(np.float32)
            hi = (mx + c * (hi - mx)).astype(np.float32)
        self.min_val, self.max_val = bp.tensor(lo), bp.tensor(hi)
        return x_orig


class PlaceholderObserver(ObserverBase):
    """Records nothing: carries ``dtype`` (and ``is_dynamic``) for dynamic quantization's activations."""

    def __init__(self, dtype: Any = bp.float32, custom_op_name: str = "", compute_dtype: Any = None,
                 quant_min: int | None = None, quant_max: int | None = None, qscheme: Any = None,
                 eps: float | None = None, is_dynamic: bool = False) -> None:  # fmt: skip
        super().__init__(dtype=dtype, is_dynamic=is_dynamic)
        self.qscheme = per_tensor_affine if qscheme is None else qscheme
        self.quant_min, self.quant_max, self.eps = quant_min, quant_max, eps
        self.custom_op = custom_op_name

    def forward(self, x: Tensor) -> Tensor:
        return x

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}, is_dynamic={self.is_dynamic}"

    def calculate_qparams(self) -> Any:  # type: ignore[override]
        raise Exception("calculate_qparams should not be called for PlaceholderObserver")  # noqa: TRY002


class NoopObserver(ObserverBase):
    """Records nothing (the float16 dynamic qconfig's weight observer)."""

    def __init__(self, dtype: Any = bp.float16, custom_op_name: str = "") -> None:
        super().__init__(dtype=dtype, is_dynamic=False)
        self.custom_op = custom_op_name

    def forward(self, x: Tensor) -> Tensor:
        return x

    def calculate_qparams(self) -> Any:  # type: ignore[override]
        raise Exception("calculate_qparams should not be called for NoopObserver")  # noqa: TRY002


default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_weight_observer = MinMaxObserver.with_args(dtype=qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(dtype=qint8, qscheme=per_channel_symmetric)
default_placeholder_observer = PlaceholderObserver
default_dynamic_quant_observer = PlaceholderObserver.with_args(
    dtype=quint8, quant_min=0, quant_max=255, is_dynamic=True
)
