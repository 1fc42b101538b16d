"""torch's window functions (``bp.hann_window``, ``hamming_window``, ``blackman_window``,
``bartlett_window``, ``kaiser_window``): ``periodic=True`` (the default, for spectral analysis) is
the symmetric window of length N + 1 without its last sample, as torch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.trace import factory
from backprop.devices import device as to_device
from backprop.tensor import Tensor

__all__ = ["bartlett_window", "blackman_window", "hamming_window", "hann_window", "kaiser_window"]


class _Steps:
    """torch's window arithmetic in ``dt``, one rounding per op as its CPU kernels round: float32/float64
    compute in their own precision (a scalar read in that precision), float16/bfloat16 in float32 rounded to
    ``dt`` after each op (``add`` rounds its scalar into ``dt`` first). cos is NumPy's double rounded once:
    torch's SLEEF cos differs by an ulp in a few percent of float32 samples, and its half kernels by an ulp
    of the half in places."""

    def __init__(self, dt: Any) -> None:
        self.dt = dt
        self.op = np.float64 if dt == np.float64 else np.float32  # the precision each op computes in

    def _round(self, v: Any) -> Any:
        return np.asarray(v, self.op).astype(self.dt).astype(self.op)

    def arange(self, m: int) -> Any:
        return self._round(np.arange(m, dtype=np.float64))

    def mul(self, x: Any, s: float) -> Any:
        return self._round(x * self.op(s))

    def add(self, x: Any, s: float) -> Any:
        return self._round(x + self._round(s))

    def sub(self, x: Any, y: Any) -> Any:
        return self._round(x - y)

    def cos(self, x: Any) -> Any:
        return self._round(np.cos(x.astype(np.float64)))


def _window(name: str, n: int, periodic: bool, dtype: Any, device: Any, requires_grad: bool, make: Any) -> Tensor:
    if not isinstance(n, int) or n < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={n}")
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    if dtypes.kind(dt) != "f":
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dt}")
    if n <= 1:
        values = np.ones(n, np.float64)
    else:
        m = n + 1 if periodic else n
        values = make(_Steps(dt), m)[:n]
    dev = to_device(device)
    t = Tensor._wrap(dev.asarray(values, dt), dev, None)
    return t.requires_grad_(True) if requires_grad else t


def _hamming(alpha: float, beta: float) -> Any:
    """alpha - beta cos(2 pi k / (N - 1)), in torch's order: arange * (2 pi / (N - 1)), cos, * -beta, + alpha."""
    return lambda f, m: f.add(f.mul(f.cos(f.mul(f.arange(m), 2 * np.pi / (m - 1))), -beta), alpha)


def _blackman(f: _Steps, m: int) -> Any:
    """0.08 cos(4 pi k / (N - 1)) - 0.5 cos(2 pi k / (N - 1)) + 0.42, in torch's order (its ends are not 0)."""
    k = f.mul(f.arange(m), np.pi / (m - 1))
    return f.add(f.sub(f.mul(f.cos(f.mul(k, 4)), 0.08), f.mul(f.cos(f.mul(k, 2)), 0.5)), 0.42)


def _bartlett(f: _Steps, m: int) -> Any:
    """2k / (N - 1), then 2 - that over the second half, in torch's order."""
    w = f.mul(f.arange(m), 2 / (m - 1))
    half = (m - 1) // 2 + 1
    w[half:] = f.add(f.mul(w[half:], -1), 2)
    return w


@factory
def hann_window(
    window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """0.5 - 0.5 cos(2 pi k / (N - 1)) (its errors name ``hann_window``, as torch's)."""
    return _window(
        "hann_window", window_length, periodic, dtype, device, requires_grad,
        _hamming(0.5, 0.5),
    )  # fmt: skip


@factory
def hamming_window(
    window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *, dtype: Any = None,
    layout: Any = None, device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """alpha - beta cos(2 pi k / (N - 1))."""
    return _window(
        "hamming_window", window_length, periodic, dtype, device, requires_grad,
        _hamming(alpha, beta),
    )  # fmt: skip


@factory
def blackman_window(
    window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """0.42 - 0.5 cos(2 pi k / (N - 1)) + 0.08 cos(4 pi k / (N - 1))."""
    return _window(
        "blackman_window", window_length, periodic, dtype, device, requires_grad,
        _blackman,
    )  # fmt: skip


@factory
def bartlett_window(
    window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The triangular window 1 - |2k / (N - 1) - 1|."""
    return _window(
        "bartlett_window", window_length, periodic, dtype, device, requires_grad,
        _bartlett,
    )  # fmt: skip


@factory
def kaiser_window(
    window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None, layout: Any = None,
    device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """I0(beta sqrt(1 - (2k / (N - 1) - 1)^2)) / I0(beta)."""
    return _window(
        "kaiser_window", window_length, periodic, dtype, device, requires_grad,
        lambda f, m: _kaiser(np.arange(m, dtype=np.float64), m, beta),
    )  # fmt: skip


def _kaiser(k: Any, m: int, beta: float) -> Any:
    return np.i0(beta * np.sqrt(np.clip(1 - (2 * k / (m - 1) - 1) ** 2, 0, None))) / np.i0(beta)
