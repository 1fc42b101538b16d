"""The stand-in's ``cupyx.scipy.special``: erf on device arrays."""

from __future__ import annotations

from typing import Any

import cupy
import scipy.special


def erf(x: Any) -> Any:
    """Elementwise error function, keeping the dtype (as CuPy's)."""
    return cupy._wrap(scipy.special.erf(x._a).astype(x.dtype, copy=False), x._dev)


def _special(name: str) -> Any:
    """CuPy's cupyx.scipy.special function ``name`` (the same ufunc as SciPy's), on device arrays."""

    def fn(*args: Any) -> Any:
        arrays = [a._a if hasattr(a, "_a") else a for a in args]
        x = next(a for a in args if hasattr(a, "_a"))
        return cupy._wrap(getattr(scipy.special, name)(*arrays), x._dev)

    fn.__name__ = name
    return fn


erfc = _special("erfc")
erfinv = _special("erfinv")
gammaln = _special("gammaln")
digamma = _special("digamma")
zeta = _special("zeta")
i0 = _special("i0")
i1 = _special("i1")
gammainc = _special("gammainc")
gammaincc = _special("gammaincc")
xlogy = _special("xlogy")
xlog1py = _special("xlog1py")
