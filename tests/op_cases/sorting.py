"""Rows of the ``backprop.ops.sorting`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import Case, K, R


def _argsort(x, axis=-1, descending=False):
    """Stable order; descending keeps ties first-index-first (sort by (-value, index))."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    return n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)


TIES = [[3.0, 1.0, 3.0, 2.0, 3.0, 1.0], [0.0, -1.0, 0.0, np.nan, 5.0, -1.0]]

CASES: dict[str, list[Case]] = {
    "argsort": [
        Case([R(3, 4)], ref=_argsort),
        Case([K(TIES)], {"axis": 1}, ref=lambda x, axis: np.array([[1, 5, 3, 0, 2, 4], [1, 5, 0, 2, 4, 3]])),
        Case(
            [K(TIES)],
            {"axis": 1, "descending": True},
            ref=lambda x, **a: np.array([[0, 2, 4, 3, 1, 5], [3, 4, 0, 2, 1, 5]]),
        ),
        Case([K(TIES)], {"axis": 0, "descending": True}, ref=_argsort),
        Case([K([3, 1, 3, -2])], {"descending": True}, ref=_argsort),
        Case([R()], ref=lambda x: np.zeros((), np.int64)),
    ],
}
