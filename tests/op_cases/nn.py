"""Rows of the ``backprop.ops.nn`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

CASES: dict[str, list[Case]] = {
    "softmax": [Case([R(2, 5)], {"axis": -1}), Case([R(3, 2, 4)], {"axis": 1})],
    "log_softmax": [Case([R(2, 5)], {"axis": -1}), Case([R(3, 2, 4)], {"axis": 0})],
    "cross_entropy": [
        Case([R(4, 5), K(np.array([0, 4, 2, 2]))]),
        Case([R(4, 5), K(np.array([0, -100, 2, 1]))], {"reduction": "sum"}),
        Case([R(3, 4), K(np.array([3, 0, 1]))], {"reduction": "none", "label_smoothing": 0.2}),
        Case([R(3, 4), K(np.array([3, 7, 1]))], {"ignore_index": 7, "label_smoothing": 0.1}),
    ],
    "binary_cross_entropy_with_logits": [Case([R(2, 3), U(2, 3)]), Case([R(4), U(4)])],
}
