"""Rows of the ``backprop.ops.indexing`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _getitem(x, index):
    return x[index]


def _getitem_grad(gy, index, shape):
    out = np.zeros(shape, gy.dtype)
    np.add.at(out, index, gy)  # repeated indices accumulate
    return out


CASES: dict[str, list[Case]] = {
    "getitem": [
        Case([R(4, 3)], {"index": (1,)}, ref=_getitem),
        Case([R(4, 3)], {"index": (slice(None, None, 2), slice(1, None))}, ref=_getitem),
        Case([R(4, 3)], {"index": (None, Ellipsis, -1)}, ref=_getitem),
        Case([R(4, 3)], {"index": (np.array([0, 2, 2, 0]),)}, ref=_getitem),  # repeats accumulate
        Case([R(4, 3)], {"index": (np.array([3, 1]), np.array([0, 0]))}, ref=_getitem),
        Case(
            [R(4, 3)], {"index": (np.array([[True, False, True], [False] * 3, [True] * 3, [False] * 3]),)}, ref=_getitem
        ),
        Case([R(4, 3)], {"index": (slice(None), np.array([2, 2, 1]))}, ref=_getitem),
    ],
    "getitem_grad": [
        Case([R(2)], {"index": (np.array([0, 2]),), "shape": (4,)}, ref=_getitem_grad),
        Case([R(2, 3)], {"index": (np.array([1, 1]),), "shape": (3, 3)}, ref=_getitem_grad),
        Case([R(2, 2)], {"index": (slice(0, 2), slice(1, 3)), "shape": (3, 3)}, ref=_getitem_grad),
    ],
}
