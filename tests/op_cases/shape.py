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


def _flip(x, axis):
    return np.flip(x, axis) if axis else x


def _roll(x, shifts, axis=None):
    return np.roll(x, shifts, axis)


def _tril(x, diagonal=0):
    return np.tril(x, diagonal)


def _triu(x, diagonal=0):
    return np.triu(x, diagonal)


def _diagonal(x, offset=0, dim1=0, dim2=1):
    return np.diagonal(x, offset, dim1, dim2)


def _diag_embed(x, offset=0, dim1=-2, dim2=-1, sizes=None):
    """Closed form: zeros with x[..., k] at (row k - min(offset, 0), col k + max(offset, 0)) of each plane."""
    n = x.shape[-1]
    n1, n2 = sizes or (n + abs(offset), n + abs(offset))
    out = np.zeros(x.shape[:-1] + (n1, n2))
    for k in range(n):
        r, c = k - min(offset, 0), k + max(offset, 0)
        if r < n1 and c < n2:
            out[..., r, c] = x[..., k]
    nd = out.ndim
    return np.moveaxis(out, (nd - 2, nd - 1), (dim1 % nd, dim2 % nd))


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
    "flip": [
        Case([R(2, 3, 4)], {"axis": (0, 2)}, ref=_flip),
        Case([R(3)], {"axis": (0,)}, ref=_flip),
        Case([R()], {"axis": ()}, ref=_flip),
    ],
    "roll": [
        Case([R(2, 3, 4)], {"shifts": (1, -2), "axis": (0, 2)}, ref=_roll),
        Case([R(2, 3)], {"shifts": 4}, ref=_roll),
        Case([R(5)], {"shifts": (7,), "axis": (0,)}, ref=_roll),
    ],
    "tril": [
        Case([R(3, 4)], ref=_tril),
        Case([R(2, 3, 4)], {"diagonal": -1}, ref=_tril),
        Case([R(4, 3)], {"diagonal": 2}, ref=_tril),
    ],
    "triu": [
        Case([R(3, 4)], ref=_triu),
        Case([R(2, 3, 4)], {"diagonal": 1}, ref=_triu),
        Case([R(4, 3)], {"diagonal": -2}, ref=_triu),
    ],
    "diagonal": [
        Case([R(3, 4)], ref=_diagonal),
        Case([R(3, 4)], {"offset": 1}, ref=_diagonal),
        Case([R(2, 3, 4)], {"offset": -1, "dim1": 2, "dim2": 0}, ref=_diagonal),
        Case([R(2, 3, 4)], {"offset": 5, "dim1": 1, "dim2": 2}, ref=_diagonal),
    ],
    "diag_embed": [
        Case([R(3)], ref=_diag_embed),
        Case([R(2, 3)], {"offset": 1, "dim1": 0, "dim2": 2}, ref=_diag_embed),
        Case([R(2, 3)], {"offset": -1, "dim1": -1, "dim2": 0}, ref=_diag_embed),
        Case([R(2, 3)], {"dim1": 1, "dim2": 2, "sizes": (3, 5)}, ref=_diag_embed),
    ],
}
