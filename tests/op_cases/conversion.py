"""Rows of the ``backprop.ops.conversion`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

CASES: dict[str, list[Case]] = {
    "astype": [
        Case([R(2, 3)], {"dtype": np.dtype("float32")}, atol=1e-3, rtol=1e-2, eps=1e-2),
        Case([R(2, 3)], {"dtype": np.dtype("float64")}),
    ],
    "clone": unary(),
    "to_device": [Case([R(2, 3)], fn=lambda op, x: _apply(op, x, device=x.device, source=x.device))],
}
