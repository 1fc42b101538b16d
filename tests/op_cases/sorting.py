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


# ---------------------------------------------------------------- unique, searchsorted, isin (no gradient)
ROWS = [[2, 1, 2], [0, 1, 1], [2, 1, 2], [2, 1, 2]]


def _unique(x, dim=None, consecutive=False, part="values"):
    """NumPy's unique (sorted), or runs of equal neighbours found with a plain Python loop."""
    if not consecutive:
        values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True, axis=dim)
        inverse = inverse.reshape(x.shape) if dim is None else inverse.reshape(-1)
        return {"values": values, "inverse": inverse, "counts": counts}[part]
    items = list(x.reshape(-1)) if dim is None else list(np.moveaxis(x, dim, 0))
    keep, inverse, counts = [], [], []
    for item in items:
        if not keep or not np.array_equal(item, keep[-1]):
            keep.append(item)
            counts.append(0)
        counts[-1] += 1
        inverse.append(len(keep) - 1)
    out = {
        "values": np.array(keep) if dim is None else np.moveaxis(np.array(keep), 0, dim),
        "inverse": np.array(inverse).reshape(x.shape if dim is None else -1),
        "counts": np.array(counts),
    }
    return out[part]


CASES["unique"] = [
    Case([K(ROWS)], {"part": p, **a}, grad=False, ref=_unique)
    for p in ("values", "inverse", "counts")
    for a in ({}, {"dim": 0}, {"dim": 1}, {"consecutive": True}, {"consecutive": True, "dim": 0})
] + [Case([K([3.5, -1.0, 3.5])], grad=False, ref=_unique), Case([K(np.zeros(0))], grad=False, ref=_unique)]

SEQ = [1.0, 3.0, 5.0, 7.0]
VALUES = [[3.0, 6.0, 9.0], [0.0, 1.0, 7.0]]
CASES["searchsorted"] = [
    Case([K(SEQ), K(VALUES)], grad=False, ref=lambda s, v: np.searchsorted(s, v)),
    Case([K(SEQ), K(VALUES)], {"right": True}, grad=False, ref=lambda s, v, right: np.searchsorted(s, v, "right")),
    Case([K(SEQ), K(3.0)], {"out_int32": True}, grad=False, ref=lambda s, v, out_int32: np.int32(1)),
    Case(  # one row of the sequence per row of values
        [K([[1, 3, 5], [2, 4, 6]]), K([[3, 0], [6, 7]])],
        {"right": True},
        grad=False,
        ref=lambda s, v, right: np.stack([np.searchsorted(a, b, "right") for a, b in zip(s, v)]),
    ),
]
CASES["isin"] = [
    Case([K([[1, 2, 3], [4, 5, 6]]), K([2, 6, 9])], grad=False, ref=np.isin),
    Case([K([1.5, 2.0]), K([2.0])], {"invert": True}, grad=False, ref=lambda e, t, invert: ~np.isin(e, t)),
]
