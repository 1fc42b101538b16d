"""Rows of the ``backprop.ops.shape`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

CASES: dict[str, list[Case]] = {
    "reshape": [
        Case([R(2, 3)], {"shape": (3, 2)}),
        Case([R(2, 3)], {"shape": (6,)}),
        Case([R(1)], {"shape": ()}),
    ],
    "permute": [Case([R(2, 3, 4)], {"axes": (2, 0, 1)}), Case([R(2, 3)], {"axes": (1, 0)})],
    "expand": [Case([R(3, 1)], {"shape": (2, 3, 4)}), Case([R(3)], {"shape": (2, 3)})],
    "cat": [
        Case([R(2, 3), R(1, 3)], {"axis": 0}),
        Case([R(2, 3), R(2, 2), R(2, 1)], {"axis": -1}),
        Case([R(2, 3), K(np.ones((2, 2)))], {"axis": 1}),
    ],
    "stack": [Case([R(2, 3), R(2, 3)], {"axis": 0}), Case([R(2, 3), R(2, 3), R(2, 3)], {"axis": -1})],
}
