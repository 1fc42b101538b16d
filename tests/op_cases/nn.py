"""Rows of the ``backprop.ops.nn`` ops."""

from __future__ import annotations

import numpy as np
from scipy import special

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _softmax(x, axis=-1):
    return special.softmax(x, axis=axis)


def _log_softmax(x, axis=-1):
    return special.log_softmax(x, axis=axis)


def _cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch's formula, written out: (1 - eps) * weighted NLL of log_softmax + eps/C * the weighted sum
    of -log_softmax; ignored rows dropped; the mean divides by the summed target weights (LossNLL.cpp)."""
    logp = special.log_softmax(x, axis=1)
    w = np.ones(x.shape[1]) if weight is None else weight
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    nll = -logp[np.arange(len(t)), t] * w[t]
    smooth = -(logp * w).sum(axis=1) / x.shape[1]
    loss = np.where(valid, (1 - label_smoothing) * nll + label_smoothing * smooth, 0.0)
    if reduction == "none":
        return loss
    return loss.sum() / (np.where(valid, w[t], 0).sum() if reduction == "mean" else 1)


def _bce_with_logits(z, y):
    s = special.expit(z)
    return -(y * np.log(s) + (1 - y) * np.log1p(-s))


CASES: dict[str, list[Case]] = {
    "softmax": [Case([R(2, 5)], {"axis": -1}, ref=_softmax), Case([R(3, 2, 4)], {"axis": 1}, ref=_softmax)],
    "log_softmax": [
        Case([R(2, 5)], {"axis": -1}, ref=_log_softmax),
        Case([R(3, 2, 4)], {"axis": 0}, ref=_log_softmax),
    ],
    # softmax(x) given (the fused cross-entropy's double backward): probs computed from x, so the checks see it
    "softmax_of": [
        Case([R(3, 4)], fn=lambda op, x: _apply(op, x, probs=x.detach().softmax(-1)._data), ref=_softmax),
        Case([R(2, 6)], fn=lambda op, x: _apply(op, x, probs=x.detach().softmax(-1)._data), ref=_softmax),
    ],
    "cross_entropy": [
        Case([R(4, 5), K(np.array([0, 4, 2, 2]))], ref=_cross_entropy),
        Case([R(4, 5), K(np.array([0, -100, 2, 1]))], {"reduction": "sum"}, ref=_cross_entropy),
        Case([R(3, 4), K(np.array([3, 0, 1]))], {"reduction": "none", "label_smoothing": 0.2}, ref=_cross_entropy),
        Case([R(3, 4), K(np.array([3, 7, 1]))], {"ignore_index": 7, "label_smoothing": 0.1}, ref=_cross_entropy),
        # class weights (C,): a constant third input
        Case([R(4, 5), K(np.array([0, 4, 2, 2])), K(np.array([0.5, 1.0, 2.0, 1.5, 0.3]))], ref=_cross_entropy),
        Case(
            [R(4, 3), K(np.array([2, -100, 0, 1])), K(np.array([0.7, 1.3, 2.0]))],
            {"label_smoothing": 0.2},
            ref=_cross_entropy,
        ),
        Case(
            [R(3, 4), K(np.array([3, 0, 1])), K(np.array([0.5, 1.0, 2.0, 1.5]))],
            {"reduction": "none", "label_smoothing": 0.3},
            ref=_cross_entropy,
        ),
        Case(
            [R(3, 4), K(np.array([3, 0, 0])), K(np.array([0.5, 1.0, 2.0, 1.5]))],
            {"reduction": "sum", "label_smoothing": 0.1},
            ref=_cross_entropy,
        ),
    ],
    # nll_loss's sum of its rows' terms (v is 0 at the rows not ``valid``); float64 here: a plain sum
    "nll_sum": [
        Case([R(5), K(np.array([True, False, True, True, False]))], ref=lambda v, valid: v.sum()),
        Case([R(1), K(np.array([True]))], ref=lambda v, valid: v.sum()),
    ],
    "binary_cross_entropy": [
        Case([U(2, 3), U(2, 3)], ref=lambda p, y: -(y * np.log(p) + (1 - y) * np.log1p(-p))),
        Case([U(4), K(np.array([0.0, 1.0, 0.25, 1.0]))], ref=lambda p, y: -(y * np.log(p) + (1 - y) * np.log1p(-p))),
    ],
    "binary_cross_entropy_with_logits": [
        Case([R(2, 3), U(2, 3)], fn=lambda op, z, y: _apply(op, z, y, 1.0), ref=_bce_with_logits),  # 1.0: none
        Case([R(4), U(4)], fn=lambda op, z, y: _apply(op, z, y, 1.0), ref=_bce_with_logits),
        Case(
            [R(2, 3), U(2, 3), K(np.array([0.5, 1.0, 3.0]))],
            fn=lambda op, z, y, w: _apply(op, z, y, w),
            ref=lambda z, y, w: (1 - y) * z - (1 + (w - 1) * y) * np.log(special.expit(z)),
        ),
    ],
}
