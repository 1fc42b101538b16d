"""Rows of the ``backprop.ops.scan`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _scan(fn):
    """A numpy scan ``fn(x, axis=)`` as a reference; 0-d inputs scan one element."""

    def ref(x, axis):
        return fn(x.reshape(1), axis=0).reshape(()) if x.ndim == 0 else fn(x, axis=axis)

    return ref


def _running_index(better):
    """Index of the running extreme along ``axis``: the latest index that ties or beats the extreme."""

    def ref(x, axis):
        if x.ndim == 0:
            return np.zeros((), dtype=np.int64)
        moved = np.moveaxis(x, axis, -1)
        out = np.zeros(moved.shape, dtype=np.int64)
        for pos in np.ndindex(moved.shape[:-1]):
            best = 0
            for k in range(moved.shape[-1]):
                if not better(moved[pos][best], moved[pos][k]):
                    best = k
                out[pos + (k,)] = best
        return np.moveaxis(out, -1, axis)

    return ref


SCAN_ATTRS = [{"axis": 1}, {"axis": 0}, {"axis": -1}]


def _rows(fn, maker=R, **kw):
    rows = [Case([maker(2, 3, 4)], dict(a), ref=_scan(fn), **kw) for a in SCAN_ATTRS]
    return rows + [
        Case([maker(5)], {"axis": 0}, ref=_scan(fn), **kw),
        Case([maker()], {"axis": -1}, ref=_scan(fn), **kw),
    ]


CASES: dict[str, list[Case]] = {
    "cumsum": _rows(np.cumsum),
    "cumprod": _rows(np.cumprod, A),
    "logcumsumexp": _rows(np.logaddexp.accumulate),
    "cummax_index": [
        Case([R(3, 5)], dict(a), grad=False, ref=_running_index(lambda best, v: best > v)) for a in SCAN_ATTRS
    ]
    + [
        Case([I(0, 3, 4, 6)], {"axis": 1}, grad=False, ref=_running_index(lambda best, v: best > v)),  # ties
        Case([R()], {"axis": 0}, grad=False, ref=_running_index(lambda best, v: best > v)),
    ],
    "cummin_index": [
        Case([R(3, 5)], dict(a), grad=False, ref=_running_index(lambda best, v: best < v)) for a in SCAN_ATTRS
    ]
    + [Case([I(0, 3, 4, 6)], {"axis": -1}, grad=False, ref=_running_index(lambda best, v: best < v))],
}
