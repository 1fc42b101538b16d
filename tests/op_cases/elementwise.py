"""Rows of the ``backprop.ops.elementwise`` ops."""

from __future__ import annotations

import numpy as np
from scipy import special

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _bool_cond():
    return K(np.array([[True, False, True], [False, False, True]]))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return x * special.ndtr(x)


def _gelu_grad(x, approximate="none"):  # central differences of the closed form (smooth everywhere)
    h = 1e-5
    return (_gelu(x + h, approximate) - _gelu(x - h, approximate)) / (2 * h)


def _where(c, x, y):
    return np.where(c, x, y)


def _clamp(x, min=None, max=None):
    return np.clip(x, min, max)


def _forward_only(ref, *specs):
    """Rows for an op without gradient: float, integer and bool operands, broadcasting, a Python scalar."""
    return [Case(list(inputs), ref=ref, grad=False) for inputs in specs]


def _compare_rows(ref):
    return _forward_only(ref, (R(2, 3), R(2, 3)), (R(2, 1), R(3)), (I(-2, 3, 2, 3), I(-2, 3, 3)), (B(4), B(4))) + [
        Case([I(-2, 3, 5)], fn=lambda op, x: _apply(op, x, 0), ref=lambda x: ref(x, 0), grad=False),
        Case([R(2, 3)], fn=lambda op, x: _apply(op, x, 0.5), ref=lambda x: ref(x, 0.5), grad=False),
    ]


def _logical_rows(ref):
    return _forward_only(ref, (B(2, 3), B(2, 3)), (B(2, 1), B(3)), (I(-1, 2, 4), R(4)))


def _bitwise_rows(ref):
    return _forward_only(ref, (B(2, 3), B(2, 3)), (I(-8, 8, 2, 3), I(-8, 8, 3))) + [
        Case([I(0, 16, 4)], fn=lambda op, x: _apply(op, x, 5), ref=lambda x: ref(x, 5), grad=False)
    ]


CASES: dict[str, list[Case]] = {
    "add": binary(np.add),
    "sub": binary(np.subtract),
    "mul": binary(np.multiply),
    "div": binary(np.true_divide, R, A),
    "pow": [
        Case([P(2, 3), R(2, 3)], ref=np.power),
        Case([P(2, 1), R(3)], ref=np.power),
        Case([R(2, 3)], fn=lambda op, x: _apply(op, x, 2), ref=lambda x: x**2),
        Case([P(2, 3)], fn=lambda op, x: _apply(op, x, -1.5), ref=lambda x: x**-1.5),
        Case([R(2, 3)], fn=lambda op, y: _apply(op, 2.5, y), ref=lambda y: 2.5**y),
        # base 0 (torch's gradient conventions there are checked in test_parity_math.py)
        Case([K(np.array([0.0, 0.0, 2.0])), K(np.array([0.0, 2.0, 0.0]))], ref=np.power, grad=False),
    ],
    "neg": unary(ref=np.negative),
    "maximum": binary(np.maximum),
    "minimum": binary(np.minimum),
    "where": [
        Case([_bool_cond(), R(2, 3), R(2, 3)], ref=_where),
        Case([_bool_cond(), R(3), R(2, 1)], ref=_where),
        Case([_bool_cond(), R(2, 3)], fn=lambda op, c, x: _apply(op, c, x, 0.5), ref=lambda c, x: _where(c, x, 0.5)),
    ],
    "exp": unary(ref=np.exp),
    "log": unary(maker=P, ref=np.log),
    "sqrt": unary(maker=P, ref=np.sqrt),
    "abs": unary(maker=A, ref=np.abs),
    "tanh": unary(ref=np.tanh),
    "clamp": [
        Case([A(2, 3)], {"min": -0.5, "max": 0.5}, ref=_clamp),
        Case([A(3, 2)], {"min": 0.1}, ref=_clamp),
        Case([A(4)], {"max": -0.2}, ref=_clamp),
    ],
    "sigmoid": unary(ref=_sigmoid),
    "relu": unary(maker=A, ref=lambda x: np.maximum(x, 0)),
    "leaky_relu": unary(
        {}, {"negative_slope": 0.2}, maker=A, ref=lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x)
    ),
    "silu": unary(ref=lambda x: x * _sigmoid(x)),
    "softplus": unary({}, {"beta": 2.0, "threshold": 1.0}, maker=A, ref=_softplus),
    "gelu": unary({"approximate": "none"}, {"approximate": "tanh"}, ref=_gelu),
    "gelu_grad": [
        Case([R(*s)], a, ref=_gelu_grad, rtol=1e-3)
        for s in ((), (3,), (2, 3))
        for a in ({"approximate": "none"}, {"approximate": "tanh"})
    ],
    # comparisons, logical and bitwise ops: no gradient, forward rows only
    "lt": _compare_rows(np.less),
    "le": _compare_rows(np.less_equal),
    "gt": _compare_rows(np.greater),
    "ge": _compare_rows(np.greater_equal),
    "eq": _compare_rows(np.equal),
    "ne": _compare_rows(np.not_equal),
    "logical_not": _forward_only(np.logical_not, (B(2, 3),), (I(-1, 2, 4),), (R(3),)),
    "logical_and": _logical_rows(np.logical_and),
    "logical_or": _logical_rows(np.logical_or),
    "logical_xor": _logical_rows(np.logical_xor),
    "bitwise_not": _forward_only(np.invert, (B(2, 3),), (I(-8, 8, 4),)),
    "bitwise_and": _bitwise_rows(np.bitwise_and),
    "bitwise_or": _bitwise_rows(np.bitwise_or),
    "bitwise_xor": _bitwise_rows(np.bitwise_xor),
}
