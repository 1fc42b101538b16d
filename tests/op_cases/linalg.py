"""Rows of the ``backprop.ops.linalg`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _linear(x, w, b=None):
    return x @ w.T + (0 if b is None else b)


def _einsum(*xs, equation):
    return np.einsum(equation, *[x for x in xs if x is not None])


def _ein(equation, *inputs):
    """An einsum row: the op always takes two inputs (the second None for one operand)."""
    if len(inputs) == 1:
        return Case(
            inputs, fn=lambda op, x: _apply(op, x, None, equation=equation), ref=lambda x: np.einsum(equation, x)
        )
    return Case(inputs, {"equation": equation}, ref=_einsum)


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
    "einsum": [
        _ein("ij,jk->ik", R(2, 3), R(3, 4)),
        _ein("ii->i", R(3, 3)),
        _ein("ij->", R(2, 3)),
        _ein("iij,jk->ik", R(3, 3, 2), R(2, 4)),
        _ein("bij,bj->bi", R(2, 3, 4), R(1, 4)),
        _ein("ij,k->jk", R(2, 3), R(4)),
        _ein("ba,ab->", R(3, 2), K(np.ones((2, 3)))),
    ],
}
