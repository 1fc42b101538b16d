"""Window functions under torch.signal.windows's names and keyword-only signatures (``M``, ``sym``, ``dtype``,
``layout``, ``device``, ``requires_grad``), built from differentiable ops exactly as torch builds them
(a ``linspace`` in the requested dtype, then elementwise math), so the values round as torch's do.

``sym=True`` (the default) gives the symmetric window used in filter design; ``sym=False`` the periodic one
used in spectral analysis (the symmetric window of length M + 1 without its last sample).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from backprop import creation
from backprop import dtypes as _dtypes
from backprop.tensor import Tensor

__all__ = [
    "bartlett",
    "blackman",
    "cosine",
    "exponential",
    "gaussian",
    "general_cosine",
    "general_hamming",
    "hamming",
    "hann",
    "kaiser",
    "nuttall",
]


def _checks(name: str, M: int, dtype: Any, layout: Any) -> Any:  # noqa: N803 - torch's name
    """torch's common checks; returns the dtype to use (the default dtype when ``dtype`` is None)."""
    from backprop import strided

    dt = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout is not None and layout is not strided:
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    if dt not in (_dtypes.float32, _dtypes.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {_dtypes.to_dtype(dt)}")
    return dt


def _trivial(M: int, dt: Any, device: Any, requires_grad: bool) -> Tensor | None:  # noqa: N803
    """The window of length 0 (empty) or 1 (a single one), else None."""
    if M == 0:
        return creation.empty(0, dtype=dt, device=device, requires_grad=requires_grad)
    if M == 1:
        return creation.ones(1, dtype=dt, device=device, requires_grad=requires_grad)
    return None


def _grid(start: Any, step: Any, M: int, dt: Any, device: Any, requires_grad: bool) -> Tensor:  # noqa: N803
    """``linspace(start, start + (M - 1) * step, M)`` in ``dt``: the sample positions every window scales."""
    return creation.linspace(
        start, start + (M - 1) * step, M, dtype=dt, device=device, requires_grad=requires_grad
    )  # fmt: skip


def exponential(
    M: int, *, center: float | None = None, tau: float = 1.0, sym: bool = True, dtype: Any = None,  # noqa: N803 - torch's name
    layout: Any = None, device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The exponential (Poisson) window exp(-|n - center| / tau); ``center`` defaults to the middle."""
    dt = _checks("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")
    if M == 0:
        return creation.empty(0, dtype=dt, device=device, requires_grad=requires_grad)
    if center is None:
        center = (M if not sym and M > 1 else M - 1) / 2.0
    k = _grid(-center / tau, 1 / tau, M, dt, device, requires_grad)
    return (-k.abs()).exp()


def cosine(
    M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The cosine (sine) window sin(pi (n + 0.5) / M); it starts and ends above zero."""
    dt = _checks("cosine", M, dtype, layout)
    if M == 0:
        return creation.empty(0, dtype=dt, device=device, requires_grad=requires_grad)
    step = math.pi / (M + 1 if not sym and M > 1 else M)
    return _grid(0.5 * step, step, M, dt, device, requires_grad).sin()


def gaussian(
    M: int, *, std: float = 1.0, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The Gaussian window exp(-(n - (M - 1) / 2)^2 / (2 std^2))."""
    dt = _checks("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    if M == 0:
        return creation.empty(0, dtype=dt, device=device, requires_grad=requires_grad)
    step = 1 / (std * math.sqrt(2))
    start = -(M if not sym and M > 1 else M - 1) / 2.0
    k = _grid(start * step, step, M, dt, device, requires_grad)
    return (-(k**2)).exp()


def kaiser(
    M: int, *, beta: float = 12.0, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The Kaiser window I0(beta sqrt(1 - (2n / (M - 1) - 1)^2)) / I0(beta)."""
    dt = _checks("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")
    trivial = _trivial(M, dt, device, requires_grad)
    if trivial is not None:
        return trivial
    b = creation.tensor(beta, dtype=dt, device=device)  # beta rounded to dtype, as torch: no NaN at the ends
    step = 2.0 * b / (M if not sym else M - 1)
    end = float((-b + (M - 1) * step).minimum(b).item())  # rounding must not take the last sample past beta
    k = creation.linspace(-float(b.item()), end, M, dtype=dt, device=device, requires_grad=requires_grad)
    return (b * b - k**2).sqrt().i0() / b.i0()


def general_cosine(
    M: int, *, a: Iterable[float], sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The sum of cosines sum_i (-1)^i a_i cos(2 pi i n / (M - 1)) (Hann, Hamming, Blackman, Nuttall, ...)."""
    dt = _checks("general_cosine", M, dtype, layout)
    trivial = _trivial(M, dt, device, requires_grad)
    if trivial is not None:
        return trivial
    if not isinstance(a, Iterable):
        raise TypeError("Coefficients must be a list/tuple")
    coeffs = list(a)
    if not coeffs:
        raise ValueError("Coefficients cannot be empty")
    step = 2 * math.pi / (M if not sym else M - 1)
    k = _grid(0, step, M, dt, device, requires_grad)
    a_i = creation.tensor([(-1) ** i * w for i, w in enumerate(coeffs)], dtype=dt, device=device)
    a_i.requires_grad_(requires_grad)
    i = creation.arange(len(coeffs), dtype=dt, device=device)
    return (a_i.unsqueeze(-1) * (i.unsqueeze(-1) * k).cos()).sum(0)


def general_hamming(
    M: int, *, alpha: float = 0.54, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The generalised Hamming window alpha - (1 - alpha) cos(2 pi n / (M - 1))."""
    return general_cosine(
        M, a=[alpha, 1.0 - alpha], sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad
    )


def hamming(
    M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The Hamming window 0.54 - 0.46 cos(2 pi n / (M - 1))."""
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def hann(
    M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The Hann window 0.5 - 0.5 cos(2 pi n / (M - 1))."""
    return general_hamming(
        M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad
    )


def blackman(
    M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The Blackman window 0.42 - 0.5 cos(2 pi n / (M - 1)) + 0.08 cos(4 pi n / (M - 1))."""
    _checks("blackman", M, dtype, layout)
    return general_cosine(
        M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad
    )


def nuttall(
    M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The minimum 4-term Blackman-Harris window of Nuttall (coefficients as torch's and SciPy's)."""
    return general_cosine(
        M, a=[0.3635819, 0.4891775, 0.1365995, 0.0106411], sym=sym, dtype=dtype, layout=layout, device=device,
        requires_grad=requires_grad,
    )  # fmt: skip


def bartlett(
    M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,  # noqa: N803 - torch's name
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The triangular Bartlett window 1 - |2n / (M - 1) - 1|."""
    dt = _checks("bartlett", M, dtype, layout)
    trivial = _trivial(M, dt, device, requires_grad)
    if trivial is not None:
        return trivial
    step = 2 / (M if not sym else M - 1)
    return 1 - _grid(-1, step, M, dt, device, requires_grad).abs()
