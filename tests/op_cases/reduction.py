"""Rows of the ``backprop.ops.reduction`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _axis(x, axis):
    """torch's dims for numpy: a 0-d array takes dim 0/-1 as no axis."""
    return () if x.ndim == 0 and axis is not None else axis


def _np(fn):
    """A numpy reduction ``fn(x, axis=, keepdims=)`` as a reference taking the op's attrs."""

    def ref(x, axis=None, keepdims=False, **kw):
        return fn(x, axis=_axis(x, axis), keepdims=keepdims, **kw)

    return ref


def _var(x, axis=None, correction=1, keepdims=False):
    with np.errstate(divide="ignore", invalid="ignore"):
        axis = _axis(x, axis)
        axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in np.atleast_1d(axis))
        n = int(np.prod([x.shape[a] for a in axes]))
        centered = x - x.mean(axis=axes, keepdims=True)
        return (centered**2).sum(axis=axes, keepdims=keepdims) / max(n - correction, 0)


def _std(x, **attrs):
    return np.sqrt(_var(x, **attrs))


def _logsumexp(x, axis=None, keepdims=False):
    axis = _axis(x, axis)
    m = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=axis, keepdims=keepdims)) + (m if keepdims else np.squeeze(m, axis=axis))


def _norm(x, ord=2.0, axis=None, keepdims=False):
    a = np.abs(x)
    axis = _axis(x, axis)
    if np.isinf(ord):
        return (np.max if ord > 0 else np.min)(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    return np.sum(a**ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _median(x, axis=None, keepdims=False):
    y = np.sort(x.ravel())[(x.size - 1) // 2]
    return np.reshape(y, (1,) * x.ndim) if keepdims else y


def _argmedian(x, axis, keepdims=False):  # distinct random values: the lower middle element's index
    k = (x.shape[axis] - 1) // 2
    return np.take(np.argsort(x, axis=axis), [k], axis=axis).squeeze(axis if not keepdims else ())


def _argmax(fn):
    def ref(x, axis=None, keepdims=False):
        return fn(x, axis=None if x.ndim == 0 else axis, keepdims=keepdims)

    return ref


def _take_grad(gy, index, axis, shape):
    gx = np.zeros(shape)
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    np.add.at(gx, tuple(grid), gy)
    return gx


REDUCE_ATTRS_ALL = [{"axis": 1}, {"axis": -1, "keepdims": True}, {"axis": (0, 2)}]
ZERO_D = [{"axis": 0}, {"axis": -1, "keepdims": True}]
NORMS = [
    ({}, R),
    ({"ord": 1.0, "axis": 1}, A),
    ({"ord": 3.0, "axis": -1, "keepdims": True}, A),
    ({"ord": 0.5, "axis": (0, 2)}, A),
    ({"ord": 1.5}, A),
    ({"ord": float("inf"), "axis": 1}, A),
    ({"ord": float("-inf"), "axis": (0, 2), "keepdims": True}, A),
    ({"ord": 2.0, "axis": -1}, R),
]


def _reduce(fn, maker=R, raw=False):
    """The standard reduction rows plus 0-d rows; ``raw``: ``fn`` already takes the op's attrs."""
    ref = fn if raw else _np(fn)
    return reduce_cases(ref, maker) + [Case([maker()], dict(a), ref=ref) for a in ZERO_D]


CASES: dict[str, list[Case]] = {
    "sum": _reduce(np.sum),
    "mean": _reduce(np.mean),
    "amax": _reduce(np.max),
    "amin": _reduce(np.min),
    "prod": _reduce(np.prod, A) + [Case([A(3, 5)], {"axis": 0}, ref=_np(np.prod))],
    "var": _reduce(_var, raw=True)[:5]
    + [
        Case([R(2, 3, 4)], {"axis": 1, "correction": 0}, ref=_var),
        Case([R(2, 3, 4)], {"axis": -1, "correction": 2, "keepdims": True}, ref=_var),
        Case([R(3, 1)], {"axis": 1}, grad=False, ref=_var),  # n - correction = 0: nan (torch)
        Case([R(2, 3)], {"axis": 1, "correction": 4}, grad=False, ref=_var),  # < 0: inf
        Case([R()], {}, grad=False, ref=_var),  # 0-d: nan
    ],
    "std": reduce_cases(_std)
    + [
        Case([R(2, 3, 4)], {"axis": 1, "correction": 0}, ref=_std),
        Case([R(3, 1)], {"axis": 1}, grad=False, ref=_std),
    ],
    "logsumexp": _reduce(_logsumexp, raw=True),
    "argmax": [Case([R(2, 3, 4)], dict(a), grad=False, ref=_argmax(np.argmax)) for a in ({}, {"axis": 1})]
    + [
        Case([R(2, 3, 4)], {"axis": -1, "keepdims": True}, grad=False, ref=_argmax(np.argmax)),
        Case([R()], {"axis": 0}, grad=False, ref=_argmax(np.argmax)),
    ],
    "argmin": [Case([R(2, 3, 4)], dict(a), grad=False, ref=_argmax(np.argmin)) for a in ({}, {"axis": 0})]
    + [
        Case([R(2, 3, 4)], {"axis": -2, "keepdims": True}, grad=False, ref=_argmax(np.argmin)),
        Case([I(0, 5, 6)], {}, grad=False, ref=_argmax(np.argmin)),
    ],
    "median": [
        Case([R(2, 3)], ref=_median),  # even count: the lower middle value
        Case([R(5)], ref=_median),
        Case([R(2, 3, 1)], {"keepdims": True}, ref=_median),
        Case([R()], ref=_median),
    ],
    "argmedian": [
        Case([R(3, 4)], {"axis": 1}, grad=False, ref=_argmedian),
        Case([R(5, 2)], {"axis": 0, "keepdims": True}, grad=False, ref=_argmedian),
        Case([R(2, 3, 4)], {"axis": -1}, grad=False, ref=lambda x, axis, **kw: _argmedian(x, axis % x.ndim, **kw)),
    ],
    "take_indexed": [
        Case([R(3, 4), I(0, 4, 3, 1)], {"axis": 1}, ref=lambda x, i, axis: np.take_along_axis(x, i, axis)),
        Case([R(3, 4), I(0, 3, 2, 4)], {"axis": 0}, ref=lambda x, i, axis: np.take_along_axis(x, i, axis)),
        Case([R(2, 3, 4), I(0, 4, 2, 3, 6)], {"axis": -1}, ref=lambda x, i, axis: np.take_along_axis(x, i, axis)),
    ],
    "take_indexed_grad": [
        Case([R(3, 2), I(0, 4, 3, 2)], {"axis": 1, "shape": (3, 4)}, ref=_take_grad),
        Case(
            [R(5, 2), I(0, 3, 5, 2)],
            {"axis": -2, "shape": (3, 2)},
            ref=lambda g, i, axis, shape: _take_grad(g, i, 0, shape),
        ),
    ],
    "all": [Case([B(2, 3, 4)], dict(a), grad=False, ref=_np(np.all)) for a in [{}, *REDUCE_ATTRS_ALL]]
    + [Case([R(3)], {}, grad=False, ref=_np(np.all)), Case([B()], {"axis": 0}, grad=False, ref=_np(np.all))],
    "any": [Case([B(2, 3, 4)], dict(a), grad=False, ref=_np(np.any)) for a in [{}, *REDUCE_ATTRS_ALL]]
    + [Case([I(0, 2, 3)], {"axis": 0}, grad=False, ref=_np(np.any))],
    "norm": [Case([maker(2, 3, 4)], attrs, ref=_norm) for attrs, maker in NORMS]
    + [
        Case([A(2, 3)], {"ord": 0.0, "axis": 1}, ref=_norm),
        Case([R()], {"axis": 0}, ref=_norm),
    ],
}


# ---------------------------------------------------------------- mode, bincount, histc (no gradient)
MODES = [[1.0, 2.0, 2.0, 1.0], [3.0, 3.0, 1.0, 1.0], [5.0, 4.0, 4.0, 4.0]]


def _argmode(x, axis, keepdims=False):
    """The last index of the smallest most frequent value, a Python loop over the 1-D slices."""

    def one(v):
        values, counts = np.unique(v, return_counts=True)
        best = values[np.argmax(counts)]  # the smallest among the most frequent (unique sorts)
        return len(v) - 1 - int(np.argmax(v[::-1] == best))

    out = np.apply_along_axis(one, axis, x)
    return np.expand_dims(out, axis) if keepdims else out


def _histc(x, bins=100, min=0.0, max=0.0):
    lo, hi = (x.min(), x.max()) if min == max else (min, max)
    return np.histogram(x, bins, range=(lo, hi))[0].astype(x.dtype)


CASES["argmode"] = [
    Case([K(MODES)], {"axis": 1}, grad=False, ref=_argmode),
    Case([K(MODES)], {"axis": 0, "keepdims": True}, grad=False, ref=_argmode),
    Case([K([[7, 7, 2], [2, 9, 9]])], {"axis": -1}, grad=False, ref=lambda x, axis: _argmode(x, 1)),
]
CASES["bincount"] = [
    Case([K([3, 1, 2, 3, 1, 0])], fn=lambda op, x: _apply(op, x, None), grad=False, ref=np.bincount),
    Case([K([3, 1, 2, 3]), R(4)], {"minlength": 6}, grad=False, ref=lambda x, w, minlength: np.bincount(x, w, 6)),
    Case([K(np.zeros(0, np.int64))], fn=lambda op, x: _apply(op, x, None), grad=False, ref=np.bincount),
]
CASES["histc"] = [
    Case([K([1.0, 2.0, 1.0, 0.0, 3.0, 5.0])], {"bins": 4, "min": 0.0, "max": 3.0}, grad=False, ref=_histc),
    Case([K([1.0, 2.0, 1.0, 0.0, 3.5])], {"bins": 5}, grad=False, ref=_histc),
]
