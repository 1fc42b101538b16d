"""NumPy overrides of generic kernels, where a different NumPy formulation is faster.

Each returns ``NotImplemented`` for inputs it was not written for, and the registry then runs
the generic kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def getitem_grad(xp: Any, gy: np.ndarray, index: tuple, shape: tuple) -> Any:
    """Rows of ``gy`` summed into zeros(shape) at integer ids (the embedding backward).

    ``np.add.at`` handles repeats one element at a time; sorting the ids once and summing each run
    with ``np.add.reduceat`` does the same work as whole rows, then one fancy assignment.
    """
    if len(index) != 1 or not isinstance(index[0], np.ndarray) or index[0].dtype.kind not in "iu":
        return NotImplemented
    ids = index[0].reshape(-1)
    if ids.size == 0 or gy.ndim != index[0].ndim + len(shape) - 1:
        return NotImplemented
    rows = gy.reshape(ids.size, -1)
    ids = np.where(ids < 0, ids + shape[0], ids)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    gx = np.zeros((shape[0], rows.shape[1]), dtype=gy.dtype)
    gx[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return gx.reshape(shape)


OVERRIDES: dict[str, Any] = {
    "getitem_grad": getitem_grad,
}
