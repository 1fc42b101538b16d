"""Rows of the ``backprop.ops.elementwise`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _bool_cond():
    return K(np.array([[True, False, True], [False, False, True]]))


CASES: dict[str, list[Case]] = {
    "add": binary(np.add),
    "sub": binary(np.subtract),
    "mul": binary(np.multiply),
    "div": binary(np.true_divide, R, A),
    "pow": [
        Case([P(2, 3), R(2, 3)]),
        Case([P(2, 1), R(3)]),
        Case([R(2, 3)], fn=lambda op, x: _apply(op, x, 2)),
        Case([P(2, 3)], fn=lambda op, x: _apply(op, x, -1.5)),
        Case([R(2, 3)], fn=lambda op, y: _apply(op, 2.5, y)),
    ],
    "neg": unary(),
    "maximum": binary(np.maximum),
    "minimum": binary(np.minimum),
    "where": [
        Case([_bool_cond(), R(2, 3), R(2, 3)]),
        Case([_bool_cond(), R(3), R(2, 1)]),
        Case([_bool_cond(), R(2, 3)], fn=lambda op, c, x: _apply(op, c, x, 0.5)),
    ],
    "exp": unary(),
    "log": unary(maker=P),
    "sqrt": unary(maker=P),
    "abs": unary(maker=A),
    "tanh": unary(),
    "lt": [],
    "le": [],
    "gt": [],
    "ge": [],
    "eq": [],
    "ne": [],  # not differentiable: forward-only rows below
    "clamp": [
        Case([A(2, 3)], {"min": -0.5, "max": 0.5}),
        Case([A(3, 2)], {"min": 0.1}),
        Case([A(4)], {"max": -0.2}),
    ],
    "sigmoid": unary(),
    "relu": unary(maker=A),
    "leaky_relu": unary({}, {"negative_slope": 0.2}, maker=A),
    "silu": unary(),
    "softplus": unary({}, {"beta": 2.0, "threshold": 1.0}, maker=A),
    "gelu": unary({"approximate": "none"}, {"approximate": "tanh"}),
    "gelu_grad": unary({"approximate": "none"}, {"approximate": "tanh"}),
}
