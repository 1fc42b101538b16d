"""bp.signal.windows against torch.signal.windows (values, dtypes, errors) and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
from backprop.signal import windows

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

CASES = [
    ("bartlett", {}),
    ("blackman", {}),
    ("cosine", {}),
    ("exponential", {}),
    ("exponential", {"tau": 2.5}),
    ("gaussian", {}),
    ("gaussian", {"std": 3.0}),
    ("general_cosine", {"a": [0.46, 0.23, 0.31]}),
    ("general_hamming", {}),
    ("general_hamming", {"alpha": 0.6}),
    ("hamming", {}),
    ("hann", {}),
    ("kaiser", {}),
    ("kaiser", {"beta": 0.9}),
    ("nuttall", {}),
]


@needs_torch
@pytest.mark.parametrize("name,kwargs", CASES)
@pytest.mark.parametrize("M", [0, 1, 2, 5, 10])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_window_matches_torch(name: str, kwargs: dict, M: int, sym: bool, dtype: str) -> None:
    ours = getattr(windows, name)(M, sym=sym, dtype=getattr(bp, dtype), **kwargs)
    ref = getattr(torch.signal.windows, name)(M, sym=sym, dtype=getattr(torch, dtype), **kwargs)
    assert ours.dtype == getattr(bp, dtype)
    assert tuple(ours.shape) == tuple(ref.shape)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)


@needs_torch
def test_exponential_center_matches_torch() -> None:
    ours = windows.exponential(7, center=2.0, tau=1.5, sym=False, dtype=bp.float64)
    ref = torch.signal.windows.exponential(7, center=2.0, tau=1.5, sym=False, dtype=torch.float64)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-12)


def test_closed_forms() -> None:
    n = np.arange(8)
    np.testing.assert_allclose(
        windows.hann(8, dtype=bp.float64).numpy(), 0.5 - 0.5 * np.cos(2 * np.pi * n / 7), atol=1e-12
    )
    np.testing.assert_allclose(
        windows.bartlett(8, sym=False, dtype=bp.float64).numpy(), 1 - np.abs(2 * n / 8 - 1), atol=1e-12
    )
    np.testing.assert_allclose(
        windows.gaussian(8, std=2.0, dtype=bp.float64).numpy(), np.exp(-((n - 3.5) ** 2) / 8), atol=1e-12
    )
    np.testing.assert_allclose(windows.kaiser(8, beta=0.0, dtype=bp.float64).numpy(), np.ones(8), atol=1e-12)
    np.testing.assert_allclose(windows.cosine(8, dtype=bp.float64).numpy(), np.sin(math.pi * (n + 0.5) / 8), atol=1e-12)


def test_default_dtype_and_requires_grad() -> None:
    w = windows.hann(6)
    assert w.dtype == bp.float32 and not w.requires_grad
    g = windows.gaussian(6, requires_grad=True, dtype=bp.float64)
    assert g.requires_grad
    g.sum().backward()  # differentiable like torch's (a composition of ops)


@pytest.mark.parametrize(
    "call,err,msg",
    [
        (lambda: windows.hann(-1), ValueError, "non-negative window length"),
        (lambda: windows.hann(4, dtype=bp.int64), ValueError, "expects float32 or float64"),
        (lambda: windows.exponential(4, tau=0.0), ValueError, "Tau must be positive"),
        (lambda: windows.exponential(4, center=1.0), ValueError, "Center must be None"),
        (lambda: windows.gaussian(4, std=-1.0), ValueError, "Standard deviation must be positive"),
        (lambda: windows.kaiser(4, beta=-1.0), ValueError, "beta must be non-negative"),
        (lambda: windows.general_cosine(4, a=[]), ValueError, "Coefficients cannot be empty"),
        (lambda: windows.general_cosine(4, a=3.0), TypeError, "Coefficients must be a list/tuple"),  # type: ignore[arg-type]
    ],
)
def test_errors(call: object, err: type, msg: str) -> None:
    with pytest.raises(err, match=msg):
        call()  # type: ignore[operator]


def test_module_path() -> None:
    import backprop.signal

    assert backprop.signal.windows.hann is windows.hann
