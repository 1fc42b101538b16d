"""Special functions that are not in the array API (erf, lgamma, digamma, ...), found per array namespace:
``scipy.special`` for NumPy arrays, ``cupyx.scipy.special`` for CuPy arrays (imported on first use)."""

from __future__ import annotations

import math
from typing import Any

from backprop import dtypes as _dtypes


def erf(xp: Any, x: Any) -> Any:
    """Elementwise error function on numpy or cupy arrays.

    Uses scipy.special / cupyx.scipy.special when importable; numpy has no erf of its own, so the
    last resort is ``math.erf`` elementwise (exact, slow; only hit without scipy).
    """
    if xp.__name__ == "cupy":
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x)
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        return xp.vectorize(math.erf, otypes=[x.dtype])(x)
    y = scipy_erf(x)
    return y.astype(x.dtype, copy=False) if _dtypes.kind(x.dtype) == "f" else y


def special(xp: Any, name: str, x: Any, *args: Any) -> Any:
    """``scipy.special.<name>(*args, x)`` on numpy arrays (``cupyx.scipy.special``'s on cupy arrays),
    in ``x``'s dtype when it is floating (SciPy computes float16 in float32, zeta in float64); integer
    inputs give SciPy's float64 (the methods cast integers to float first; in-place ops then refuse it)."""
    if xp.__name__ == "cupy":
        import cupyx.scipy.special as sp
    else:
        import scipy.special as sp
    y = xp.asarray(getattr(sp, name)(*args, x))
    return y.astype(x.dtype, copy=False) if _dtypes.kind(x.dtype) == "f" else y
