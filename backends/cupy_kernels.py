"""CuPy overrides of generic kernels, where CuPy differs from NumPy or can do better.

Imported only by ``CupyBackend.overrides()``, i.e. after CuPy itself imported. Every override
takes the generic kernel's arguments and returns the same result.
"""

from __future__ import annotations

from typing import Any

import cupy
import cupyx


def getitem_grad(xp: Any, gy: Any, index: tuple, shape: tuple) -> Any:
    """zeros(shape) with gy added at ``index``; repeated integer indices accumulate.

    ``cupyx.scatter_add`` is CuPy's atomic scatter (NumPy's ``add.at``); plain assignment is
    enough when no integer array can repeat a position.
    """
    gx = cupy.zeros(shape, dtype=gy.dtype)
    if any(getattr(i, "dtype", None) is not None and i.dtype.kind in "iu" for i in index):
        cupyx.scatter_add(gx, index, gy)
    else:
        gx[index] = gy
    return gx


OVERRIDES: dict[str, Any] = {
    "getitem_grad": getitem_grad,
}
