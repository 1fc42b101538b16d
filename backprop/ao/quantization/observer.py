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


_F = np.float32


def _histc(x: np.ndarray, bins: int, lo: np.float32, hi: np.float32) -> np.ndarray:
    """torch.histc in float32: bin ``int((x - lo) * bins / (hi - lo))``, the top edge in the last bin,
    values outside [lo, hi] dropped (equal ends widen to [lo - 1, hi + 1])."""
    if lo == hi:
        lo, hi = _F(lo - 1), _F(hi + 1)
    x = x[(x >= lo) & (x <= hi)]
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = (((x - lo).astype(_F) * _F(bins)).astype(_F) / _F(hi - lo)).astype(_F).astype(np.int64)
    return np.bincount(np.minimum(pos, bins - 1), minlength=bins).astype(_F)


def _linspace(start: np.float32, end: np.float32, steps: int) -> np.ndarray:
    """torch's CPU linspace in float32: ``start + step * i`` up to half way, ``end - step * (steps - 1 - i)``
    after, with step ``(end - start) / (steps - 1)`` in float32."""
    step = _F((end - start) / _F(steps - 1))
    i = np.arange(steps)
    lo = (start + (step * i.astype(_F)).astype(_F)).astype(_F)
    hi = (end - (step * (steps - 1 - i).astype(_F)).astype(_F)).astype(_F)
    return np.where(i < steps // 2, lo, hi)


class HistogramObserver(UniformQuantizationObserverBase):
    """Records a running histogram (2048 bins) of the values seen; ``calculate_qparams`` searches it for the
    range minimizing the L2 quantization error (torch's non-linear search), then applies MinMax's rule."""

    histogram: Tensor
    min_val: Tensor
    max_val: Tensor

    def __init__(self, bins: int = 2048, dtype: Any = quint8, qscheme: Any = per_tensor_affine,
                 reduce_range: bool = False, quant_min: int | None = None, quant_max: int | None = None,
                 factory_kwargs: Any = None, eps: float = _EPS, is_dynamic: bool = False,
                 **kwargs: Any) -> None:  # fmt: skip
        if qscheme not in (per_tensor_affine, per_tensor_symmetric):
            raise NotImplementedError(
                "HistogramObserver's qscheme only support torch.per_tensor_symmetric                     "
                "and torch.per_tensor_affine."
            )
        if is_dynamic:
            raise NotImplementedError("HistogramObserver doesn't support dynamic quantization")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, factory_kwargs, eps, is_dynamic)
        self.bins = bins
        self.register_buffer("histogram", bp.zeros(bins))
        self.register_buffer("min_val", bp.tensor(float("inf")))
        self.register_buffer("max_val", bp.tensor(float("-inf")))
        self.dst_nbins = 2 ** (32 if dtype is qint32 else 8)
        self.upsample_rate = 16

    def _upscale(self, hist: np.ndarray, omin: Any, omax: Any, nmin: Any, nmax: Any) -> np.ndarray:
        """torch's ``_upscale_histogram``: each old bin split in 16, their midpoints assigned to the new bins."""
        n = self.bins * self.upsample_rate
        h = (np.repeat(hist, self.upsample_rate) / _F(self.upsample_rate)).astype(_F)
        size = _F(_F(omax - omin) / _F(n))
        mids = (_linspace(omin, omax, n + 1)[:-1] + _F(_F(0.5) * size)).astype(_F)
        edges = _linspace(nmin, nmax, self.bins + 1)
        b = np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, self.bins - 1)
        return np.bincount(b, weights=h, minlength=self.bins).astype(_F)

    def forward(self, x_orig: Tensor) -> Tensor:
        """Add ``x_orig``'s values to the histogram (widened, and the old counts re-binned, when the range grows)."""
        if x_orig.numel() == 0:
            return x_orig
        x = np.asarray(x_orig.detach().to(bp.float32).numpy()).reshape(-1)
        if np.isinf(x).any():
            warnings.warn("torch.inf detected in input tensor, ignoring input", stacklevel=2)
            x = x[~np.isinf(x)]
            if x.size == 0:
                return x_orig
        xmin, xmax = _F(x.min()), _F(x.max())
        cmin, cmax = _F(self.min_val.item()), _F(self.max_val.item())
        if cmin == np.inf or cmax == -np.inf:
            self.min_val, self.max_val = bp.tensor(xmin), bp.tensor(xmax)
            self.histogram = bp.tensor(_histc(x, self.bins, xmin, xmax))
            return x_orig
        nmin, nmax = min(cmin, xmin), max(cmax, xmax)
        update = _histc(x, self.bins, nmin, nmax)
        hist = np.asarray(self.histogram.numpy())
        if nmin == cmin and nmax == cmax:
            combined = (hist + update).astype(_F)
        elif cmin == cmax:
            combined = (_histc(np.array([cmin], _F), self.bins, nmin, nmax) * _F(hist.sum(dtype=_F)) + update).astype(
                _F
            )
        else:
            combined = (update + self._upscale(hist, cmin, cmax, nmin, nmax)).astype(_F)
        self.histogram = bp.tensor(combined)
        self.min_val, self.max_val = bp.tensor(nmin), bp.tensor(nmax)
        return x_orig

    def _error(self, start: int, end: int) -> float:
        """torch's ``_compute_quantization_error`` of quantizing bins [start, end] to ``dst_nbins`` levels."""
        width = (float(self.max_val.item()) - float(self.min_val.item())) / self.bins
        dst = width * (end - start + 1) / self.dst_nbins
        if dst == 0.0:
            return 0.0
        w, d = _F(width), _F(dst)
        begin = (np.arange(self.bins) - start).astype(_F) * w
        stop = (begin + w).astype(_F)
        top = _F(self.dst_nbins - 1)
        b_of_begin = np.clip(np.floor_divide(begin, d), _F(0), top)
        b_center = ((b_of_begin + _F(0.5)) * d).astype(_F)
        b_of_end = np.clip(np.floor_divide(stop, d), _F(0), top)
        density = (np.asarray(self.histogram.numpy()) / w).astype(_F)

        def norm(lo: Any, hi: Any) -> np.ndarray:
            return (density * (((hi * hi * hi) - (lo * lo * lo)) / _F(3)).astype(_F)).astype(_F)

        total = norm((begin - b_center).astype(_F), np.ones(self.bins, _F) * _F(dst / 2))
        total = (total + ((b_of_end - b_of_begin - _F(1)) * norm(_F(-dst / 2), _F(dst / 2))).astype(_F)).astype(_F)
        e_center = ((b_of_end * d).astype(_F) + _F(dst / 2)).astype(_F)
        total = (total + norm(_F(-dst / 2), (stop - e_center).astype(_F))).astype(_F)
        return float(_F(total.astype(np.float64).sum()))

    def _non_linear_param_search(self) -> tuple[Tensor, Tensor]:
        """torch's search: drop 1e-5 of the mass at a time from the side with more bins to lose, while the
        L2 error does not grow."""
        hist = np.asarray(self.histogram.numpy())
        total = float(hist.sum(dtype=_F))
        csum = np.cumsum(hist, dtype=_F)
        alpha, beta, start, end, norm_min = 0.0, 1.0, 0, self.bins - 1, float("inf")
        while alpha < beta:
            na, nb = alpha + 1e-5, beta - 1e-5
            l_ = min(start + int(np.searchsorted(csum[start:end], _F(na * total), side="left")), end)
            below = np.nonzero(csum[start + 1 : end + 1] <= _F(nb * total))[0]
            r = start + 1 + int(below[-1]) if below.size else start
            ns, ne = start, end
            if (l_ - start) > (end - r):
                ns, alpha = l_, na
            else:
                ne, beta = r, nb
            if ns == start and ne == end:
                continue
            err = self._error(ns, ne)
            if err > norm_min:
                break
            norm_min, start, end = err, ns, ne
        lo, hi = _F(self.min_val.item()), _F(self.max_val.item())
        width = _F(_F(hi - lo) / _F(self.bins))
        return bp.tensor(_F(lo + _F(width * _F(start)))), bp.tensor(_F(lo + _F(width * _F(end + 1))))

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """Scale and zero point of the range the histogram search picks."""
        if self.min_val.item() == float("inf") and self.max_val.item() == float("-inf"):
            warnings.warn(
                "must run observer before calling calculate_qparams. Returning default scale and zero point ",
                stacklevel=2,
            )
            return bp.tensor([1.0]), bp.tensor([0])
        lo, hi = self._non_linear_param_search()
        return self._calculate_qparams(lo, hi)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
__all__ += ["HistogramObserver", "default_histogram_observer"]
