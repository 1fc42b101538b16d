"""Rows of the ``backprop.ops.shape`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _reshape(x, shape):
    return np.reshape(x, shape)


def _permute(x, axes):
    return np.transpose(x, axes)


def _expand(x, shape):
    return np.broadcast_to(x, shape)


def _cat(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _stack(*xs, axis=0):
    return np.stack(xs, axis=axis)


CASES: dict[str, list[Case]] = {
    "reshape": [
        Case([R(2, 3)], {"shape": (3, 2)}, ref=_reshape),
        Case([R(2, 3)], {"shape": (6,)}, ref=_reshape),
        Case([R(1)], {"shape": ()}, ref=_reshape),
    ],
    "permute": [Case([R(2, 3, 4)], {"axes": (2, 0, 1)}, ref=_permute), Case([R(2, 3)], {"axes": (1, 0)}, ref=_permute)],
    "expand": [Case([R(3, 1)], {"shape": (2, 3, 4)}, ref=_expand), Case([R(3)], {"shape": (2, 3)}, ref=_expand)],
    "cat": [
        Case([R(2, 3), R(1, 3)], {"axis": 0}, ref=_cat),
        Case([R(2, 3), R(2, 2), R(2, 1)], {"axis": -1}, ref=_cat),
        Case([R(2, 3), K(np.ones((2, 2)))], {"axis": 1}, ref=_cat),
    ],
    "stack": [
        Case([R(2, 3), R(2, 3)], {"axis": 0}, ref=_stack),
        Case([R(2, 3), R(2, 3), R(2, 3)], {"axis": -1}, ref=_stack),
    ],
}
