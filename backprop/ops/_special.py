"""Special functions that are not in the array API (erf), found per array namespace."""

from __future__ import annotations

import math
from typing import Any


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
    return scipy_erf(x).astype(x.dtype, copy=False)
