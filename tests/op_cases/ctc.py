"""Rows of the ``backprop.ops.ctc`` op.

The op takes log-probabilities; each row feeds it ``log_softmax`` of random logits (the op returns
torch's gradient, which is the gradient of the logits through log_softmax, so gradcheck runs on the
logits). The reference sums the probabilities of every alignment of T frames by brute force (C^T
paths: small T and C), an independent check of the alpha recursion.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special

from op_cases._case import Case, K, R, _apply


def _collapse(path: tuple, blank: int) -> tuple:
    """Merge repeats, then drop blanks: the label sequence an alignment stands for."""
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return tuple(c for c in merged if c != blank)


def _brute_nll(logits, targets, input_lengths, target_lengths, blank=0, zero_infinity=False):
    lp = special.log_softmax(logits, axis=2)
    out = []
    for n in range(lp.shape[1]):
        t_n, want = int(input_lengths[n]), tuple(int(v) for v in targets[n, : target_lengths[n]])
        terms = [
            sum(lp[t, n, c] for t, c in enumerate(path))
            for path in itertools.product(range(lp.shape[2]), repeat=t_n)
            if _collapse(path, blank) == want
        ]
        nll = -special.logsumexp(terms) if terms else np.inf
        out.append(0.0 if zero_infinity and np.isinf(nll) else nll)
    return np.array(out)


def _row(t: int, c: int, targets, input_lengths, target_lengths, **attrs) -> Case:
    tg, il, tl = np.array(targets), np.array(input_lengths), np.array(target_lengths)

    def fn(op, x, tg_, il_, tl_):
        return _apply(op, _apply(_log_softmax_op(), x, axis=2), tg_, il_, tl_, **attrs)

    return Case(
        [R(t, len(tg), c), K(tg), K(il), K(tl)],
        fn=fn,
        ref=lambda x, tg_, il_, tl_: _brute_nll(x, tg_, il_, tl_, **attrs),
    )


def _log_softmax_op():
    from backprop import registry

    return registry.get("log_softmax")


CASES: dict[str, list[Case]] = {
    "ctc_loss": [
        # a repeated label (needs a blank between), a shorter sequence, an empty target
        _row(5, 3, [[1, 2], [1, 1], [2, 0]], [5, 4, 3], [2, 2, 0]),
        # blank = the last class; sequences of different lengths
        _row(5, 3, [[0, 1, 1], [1, 0, 0]], [5, 3], [3, 1], blank=2),
        # an impossible alignment (1 1 1 needs 5 frames) zeroed by zero_infinity, next to a possible one
        _row(4, 3, [[1, 1, 1], [2, 1, 0]], [4, 4], [3, 2], zero_infinity=True),
    ],
}
