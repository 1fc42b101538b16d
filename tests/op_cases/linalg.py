"""Rows of the ``backprop.ops.linalg`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _linear(x, w, b=None):
    return x @ w.T + (0 if b is None else b)


CASES: dict[str, list[Case]] = {
    "matmul": [
        Case([R(2, 3), R(3, 4)], ref=np.matmul),
        Case([R(3), R(3, 4)], ref=np.matmul),
        Case([R(2, 3), R(3)], ref=np.matmul),
        Case([R(3), R(3)], ref=np.matmul),
        Case([R(2, 2, 3), R(3, 4)], ref=np.matmul),
        Case([R(2, 1, 2, 3), R(3, 3, 2)], ref=np.matmul),
        Case([R(3), R(2, 3, 2)], ref=np.matmul),
    ],
    "linear": [
        Case([R(4, 3), R(2, 3), R(2)], ref=_linear),
        Case([R(4, 3), R(2, 3)], ref=_linear),
        Case([R(2, 4, 3), R(5, 3), R(5)], ref=_linear),
        Case([R(3), R(2, 3), R(2)], ref=_linear),
        Case([R(4, 3), K(np.ones((2, 3))), R(2)], ref=_linear),
    ],
}
