"""Rows of the ``backprop.ops.conversion`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

CASES: dict[str, list[Case]] = {
    "astype": [
        Case(
            [R(2, 3)],
            {"dtype": np.dtype("float32")},
            ref=lambda x, dtype: x.astype(dtype),
            atol=1e-3,
            rtol=1e-2,
            eps=1e-2,
        ),
        Case([R(2, 3)], {"dtype": np.dtype("float64")}, ref=lambda x, dtype: x.astype(dtype)),
    ],
    "clone": unary(ref=np.copy),
    "to_device": [Case([R(2, 3)], fn=lambda op, x: _apply(op, x, device=x.device, source=x.device), ref=np.copy)],
}
