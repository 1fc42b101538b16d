"""Rows of the ``backprop.ops.linalg`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

CASES: dict[str, list[Case]] = {
    "matmul": [
        Case([R(2, 3), R(3, 4)]),
        Case([R(3), R(3, 4)]),
        Case([R(2, 3), R(3)]),
        Case([R(3), R(3)]),
        Case([R(2, 2, 3), R(3, 4)]),
        Case([R(2, 1, 2, 3), R(3, 3, 2)]),
        Case([R(3), R(2, 3, 2)]),
    ],
    "linear": [
        Case([R(4, 3), R(2, 3), R(2)]),
        Case([R(4, 3), R(2, 3)]),
        Case([R(2, 4, 3), R(5, 3), R(5)]),
        Case([R(3), R(2, 3), R(2)]),
        Case([R(4, 3), K(np.ones((2, 3))), R(2)]),
    ],
}
