"""Rows of the ops that existed before the table was split (being moved to per-module files)."""

from __future__ import annotations

import numpy as np

from op_cases._case import REDUCE_ATTRS, A, Case, K, P, R, _apply, binary, reduce_cases, unary  # noqa: F401


def apply(op, *args, **attrs):
    return _apply(op, *args, **attrs)


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
        Case([R(2, 3)], fn=lambda op, x: apply(op, x, 2)),
        Case([P(2, 3)], fn=lambda op, x: apply(op, x, -1.5)),
        Case([R(2, 3)], fn=lambda op, y: apply(op, 2.5, y)),
    ],
    "neg": unary(),
    "maximum": binary(np.maximum),
    "minimum": binary(np.minimum),
    "where": [
        Case([_bool_cond(), R(2, 3), R(2, 3)]),
        Case([_bool_cond(), R(3), R(2, 1)]),
        Case([_bool_cond(), R(2, 3)], fn=lambda op, c, x: apply(op, c, x, 0.5)),
    ],
    "clamp": [
        Case([A(2, 3)], {"min": -0.5, "max": 0.5}),
        Case([A(3, 2)], {"min": 0.1}),
        Case([A(4)], {"max": -0.2}),
    ],
    "exp": unary(),
    "log": unary(maker=P),
    "sqrt": unary(maker=P),
    "abs": unary(maker=A),
    "tanh": unary(),
    "sigmoid": unary(),
    "relu": unary(maker=A),
    "leaky_relu": unary({}, {"negative_slope": 0.2}, maker=A),
    "silu": unary(),
    "softplus": unary({}, {"beta": 2.0, "threshold": 1.0}, maker=A),
    "gelu": unary({"approximate": "none"}, {"approximate": "tanh"}),
    "gelu_grad": unary({"approximate": "none"}, {"approximate": "tanh"}),
    "lt": [],
    "le": [],
    "gt": [],
    "ge": [],
    "eq": [],
    "ne": [],  # not differentiable: forward-only rows below
    "sum": reduce_cases(),
    "mean": reduce_cases(),
    "amax": reduce_cases(),
    "amin": reduce_cases(),
    "var": reduce_cases() + [Case([R(2, 3, 4)], {"axis": 1, "correction": 0})],
    "logsumexp": reduce_cases(),
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
    "getitem": [
        Case([R(4, 3)], {"index": (1,)}),
        Case([R(4, 3)], {"index": (slice(None, None, 2), slice(1, None))}),
        Case([R(4, 3)], {"index": (None, Ellipsis, -1)}),
        Case([R(4, 3)], {"index": (np.array([0, 2, 2, 0]),)}),  # repeats accumulate
        Case([R(4, 3)], {"index": (np.array([3, 1]), np.array([0, 0]))}),
        Case([R(4, 3)], {"index": (np.array([[True, False, True], [False] * 3, [True] * 3, [False] * 3]),)}),
        Case([R(4, 3)], {"index": (slice(None), np.array([2, 2, 1]))}),
    ],
    "getitem_grad": [
        Case([R(2)], {"index": (np.array([0, 2]),), "shape": (4,)}),
        Case([R(2, 3)], {"index": (np.array([1, 1]),), "shape": (3, 3)}),
        Case([R(2, 2)], {"index": (slice(0, 2), slice(1, 3)), "shape": (3, 3)}),
    ],
    "softmax": [Case([R(2, 5)], {"axis": -1}), Case([R(3, 2, 4)], {"axis": 1})],
    "log_softmax": [Case([R(2, 5)], {"axis": -1}), Case([R(3, 2, 4)], {"axis": 0})],
    "cross_entropy": [
        Case([R(4, 5), K(np.array([0, 4, 2, 2]))]),
        Case([R(4, 5), K(np.array([0, -100, 2, 1]))], {"reduction": "sum"}),
        Case([R(3, 4), K(np.array([3, 0, 1]))], {"reduction": "none", "label_smoothing": 0.2}),
        Case([R(3, 4), K(np.array([3, 7, 1]))], {"ignore_index": 7, "label_smoothing": 0.1}),
    ],
    "binary_cross_entropy_with_logits": [Case([R(2, 3), ("unit", (2, 3))]), Case([R(4), ("unit", (4,))])],
    "astype": [
        Case([R(2, 3)], {"dtype": np.dtype("float32")}, atol=1e-3, rtol=1e-2, eps=1e-2),
        Case([R(2, 3)], {"dtype": np.dtype("float64")}),
    ],
    "clone": unary(),
    "to_device": [Case([R(2, 3)], fn=lambda op, x: apply(op, x, device=x.device, source=x.device))],
}
