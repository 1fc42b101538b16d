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
        k = np.arange(m, dtype=np.float64)
        values = make(k, m)[:n]
    dev = to_device(device)
    t = Tensor._wrap(dev.asarray(values, dt), dev, None)
    return t.requires_grad_(True) if requires_grad else t


@factory
def hann_window(
    window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """0.5 - 0.5 cos(2 pi k / (N - 1)) (its errors name ``hann_window``, as torch's)."""
    return _window(
        "hann_window", window_length, periodic, dtype, device, requires_grad,
        lambda k, m: 0.5 - 0.5 * np.cos(2 * np.pi * k / (m - 1)),
    )  # fmt: skip


@factory
def hamming_window(
    window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *, dtype: Any = None,
    layout: Any = None, device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """alpha - beta cos(2 pi k / (N - 1))."""
    return _window(
        "hamming_window", window_length, periodic, dtype, device, requires_grad,
        lambda k, m: alpha - beta * np.cos(2 * np.pi * k / (m - 1)),
    )  # fmt: skip


@factory
def blackman_window(
    window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """0.42 - 0.5 cos(2 pi k / (N - 1)) + 0.08 cos(4 pi k / (N - 1))."""
    return _window(
        "blackman_window", window_length, periodic, dtype, device, requires_grad,
        lambda k, m: 0.42 - 0.5 * np.cos(2 * np.pi * k / (m - 1)) + 0.08 * np.cos(4 * np.pi * k / (m - 1)),
    )  # fmt: skip


@factory
def bartlett_window(
    window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The triangular window 1 - |2k / (N - 1) - 1|."""
    return _window(
        "bartlett_window", window_length, periodic, dtype, device, requires_grad,
        lambda k, m: 1 - np.abs(2 * k / (m - 1) - 1),
    )  # fmt: skip


@factory
def kaiser_window(
    window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None, layout: Any = None,
    device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """I0(beta sqrt(1 - (2k / (N - 1) - 1)^2)) / I0(beta)."""
    return _window(
        "kaiser_window", window_length, periodic, dtype, device, requires_grad,
        lambda k, m: np.i0(beta * np.sqrt(np.clip(1 - (2 * k / (m - 1) - 1) ** 2, 0, None))) / np.i0(beta),
    )  # fmt: skip
