"""Rows of the ``backprop.ops.indexing`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _getitem(x, index):
    return x[index]


def _setitem(x, v, index):
    out = x.copy()
    out[index] = v
    return out


def _getitem_grad(gy, index, shape):
    out = np.zeros(shape, gy.dtype)
    np.add.at(out, index, gy)  # repeated indices accumulate
    return out


CASES: dict[str, list[Case]] = {
    "getitem": [
        Case([R(4, 3)], {"index": (1,)}, ref=_getitem),
        Case([R(4, 3)], {"index": (slice(None, None, 2), slice(1, None))}, ref=_getitem),
        Case([R(4, 3)], {"index": (None, Ellipsis, -1)}, ref=_getitem),
        Case([R(4, 3)], {"index": (np.array([0, 2, 2, 0]),)}, ref=_getitem),  # repeats accumulate
        Case([R(4, 3)], {"index": (np.array([3, 1]), np.array([0, 0]))}, ref=_getitem),
        Case(
            [R(4, 3)], {"index": (np.array([[True, False, True], [False] * 3, [True] * 3, [False] * 3]),)}, ref=_getitem
        ),
        Case([R(4, 3)], {"index": (slice(None), np.array([2, 2, 1]))}, ref=_getitem),
    ],
    "setitem": [
        Case([R(4, 3), R(3)], {"index": (1,)}, ref=_setitem),
        Case([R(4, 3), R(2, 2)], {"index": (slice(0, 2), slice(1, 3))}, ref=_setitem),
        Case([R(4, 3), R(1)], {"index": (Ellipsis,)}, ref=_setitem),  # broadcast: the value's gradient sums
        Case([R(4, 3), R(2, 3)], {"index": (np.array([3, 0]),)}, ref=_setitem),
    ],
    "embedding_sparse": [
        Case([R(4, 3)], {"ids": np.array([[0, 2], [2, 3]]), "padding_idx": None}, ref=lambda w, ids, **_: w[ids]),
        Case([R(5, 2)], {"ids": np.array([1, 0, 1]), "padding_idx": 4}, ref=lambda w, ids, **_: w[ids]),
    ],
    "getitem_grad": [
        Case([R(2)], {"index": (np.array([0, 2]),), "shape": (4,)}, ref=_getitem_grad),
        Case([R(2, 3)], {"index": (np.array([1, 1]),), "shape": (3, 3)}, ref=_getitem_grad),
        Case([R(2, 2)], {"index": (slice(0, 2), slice(1, 3)), "shape": (3, 3)}, ref=_getitem_grad),
    ],
}


# ---------------------------------------------------------------- torch's placement of ints with advanced indices
def _dev(x, a):
    """``a`` as an array on ``x``'s device (index arrays live where the tensor they index lives)."""
    return x.device.xp.asarray(np.asarray(a))


def _then_case(index, then, ref):
    return Case(
        [R(5, 6, 4)],
        fn=lambda op, x: _apply(op, x, index=index, then=tuple(_dev(x, t) if isinstance(t, list) else t for t in then)),
        ref=ref,
    )


CASES["getitem"] += [
    # x[3, 2:, [1, 3]] is (4, 2) in torch (the int is applied first), (2, 4) in NumPy
    _then_case((3, slice(2, None)), (slice(None), [1, 3]), lambda x: x[3][2:, [1, 3]]),
    _then_case((slice(None), 1), ([0, 0, 4], [3, 3, 1]), lambda x: x[:, 1][[0, 0, 4], [3, 3, 1]]),  # repeats
    _then_case((2, None, slice(1, 5)), (slice(None), slice(None), [0, 2]), lambda x: x[2][None, 1:5][:, :, [0, 2]]),
]


# ---------------------------------------------------------------- gathers and scatters (numpy references)
def _grid(index, axis):
    return tuple(
        index if d == axis else np.arange(n).reshape([n if i == d else 1 for i in range(index.ndim)])
        for d, n in enumerate(index.shape)
    )


def _gather(x, index, axis):
    return x[_grid(index, axis % x.ndim)]


def _gather_grad(gy, index, axis, shape):
    out = np.zeros(shape, gy.dtype)
    np.add.at(out, _grid(index, axis % len(shape)), gy)
    return out


def _head(src, index):
    return src[tuple(slice(0, n) for n in index.shape)]


def _scatter(x, index, src, axis):
    out = x.copy()
    out[_grid(index, axis % x.ndim)] = _head(src, index) if np.ndim(src) else src
    return out


def _scatter_add(x, index, src, axis):
    out = x.copy()
    np.add.at(out, _grid(index, axis % x.ndim), _head(src, index))
    return out


def _scatter_reduce(x, index, src, axis, reduce, include_self=True):
    """One position at a time: the values landing there, x's own first when included."""
    axis %= x.ndim
    grid = np.broadcast_arrays(*_grid(index, axis))
    src = _head(src, index)
    groups: dict = {}
    for k in np.ndindex(index.shape):
        pos = tuple(int(g[k]) for g in grid)
        groups.setdefault(pos, []).append(src[k])
    out = x.copy()
    fn = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce]
    for pos, vals in groups.items():
        vals = ([x[pos]] if include_self else []) + vals
        v = fn(vals)
        out[pos] = np.floor_divide(np.sum(vals), len(vals)) if reduce == "mean" and x.dtype.kind in "iu" else v
    return out


def _scatter_count(index, mask, axis, shape, dtype="float64"):
    out = np.zeros(shape, dtype)
    ones = np.broadcast_to(np.asarray(mask, dtype), index.shape) if np.ndim(mask) == 0 else _head(mask, index)
    np.add.at(out, _grid(index, axis % len(shape)), ones.astype(dtype))
    return out


def _index_select(x, index, axis):
    return np.take(x, index, axis=axis)


def _index_select_grad(gy, index, axis, shape):
    out = np.zeros(shape, gy.dtype)
    np.add.at(out, (slice(None),) * (axis % len(shape)) + (index,), gy)
    return out


def _index_add(x, index, src, axis, alpha=1):
    out = x.copy()
    np.add.at(out, (slice(None),) * (axis % x.ndim) + (index,), src * alpha)
    return out


def _index_fill(x, index, value, axis):
    out = x.copy()
    out[(slice(None),) * (axis % x.ndim) + (index,)] = value
    return out


UNIQUE = [[3, 0, 1], [2, 1, 0]]  # (2, 3) into (3, 4) along dim 1, no repeats in a row
REPEATS = [[0, 0, 3], [1, 1, 1]]  # repeats: accumulated by the adds
REDUCE_INDEX = [[0, 0, 3, 3], [1, 2, 1, 1], [2, 2, 2, 0]]  # (3, 4) into (3, 5) along dim 1

CASES.update(
    {
        "gather": [
            Case([R(3, 4), K(REPEATS)], {"axis": 1}, ref=_gather),
            Case([R(3, 4), K([[0, 2, 2, 1], [1, 0, 0, 0]])], {"axis": 0}, ref=_gather),
            Case([R(2, 3, 4), K([[[3, 1]], [[0, 0]]])], {"axis": -1}, ref=_gather),
            Case([R(3, 4), K(np.array(REPEATS, dtype=np.int32))], {"axis": 1}, ref=_gather),
        ],
        "gather_grad": [
            Case([R(2, 3), K(REPEATS)], {"axis": 1, "shape": (3, 4)}, ref=_gather_grad),
            Case([R(2, 4), K([[0, 2, 2, 1], [1, 0, 0, 0]])], {"axis": 0, "shape": (3, 4)}, ref=_gather_grad),
        ],
        "scatter": [
            Case([R(3, 4), K(UNIQUE), R(2, 3)], {"axis": 1}, ref=_scatter),
            Case([R(3, 4), K(UNIQUE), R(3, 4)], {"axis": 1}, ref=_scatter),  # src larger than index
            Case([R(3, 4), K([[2, 0, 1, 0], [0, 1, 2, 2]]), R(2, 4)], {"axis": 0}, ref=_scatter),
            Case(
                [R(3, 4), K(REPEATS)],
                fn=lambda op, x, i: _apply(op, x, i, 2.5, axis=1),
                ref=lambda x, i: _scatter(x, i, 2.5, 1),
            ),
        ],
        "scatter_add": [
            Case([R(3, 4), K(REPEATS), R(2, 3)], {"axis": 1}, ref=_scatter_add),
            Case([R(3, 4), K(REPEATS), R(3, 5)], {"axis": 1}, ref=_scatter_add),
            Case([R(3, 4), K([[2, 2, 1, 0]]), R(1, 4)], {"axis": 0}, ref=_scatter_add),
        ],
        "scatter_reduce": [
            Case([R(3, 5), K(REDUCE_INDEX), R(3, 4)], {"axis": 1, "reduce": r, "include_self": s}, ref=_scatter_reduce)
            for r in ("sum", "prod", "mean", "amax", "amin")
            for s in (True, False)
        ]
        + [
            Case([R(3, 5), K(REDUCE_INDEX), R(4, 6)], {"axis": -1, "reduce": "prod"}, ref=_scatter_reduce),
            Case([R(4, 3), K(np.array(REDUCE_INDEX).T), R(4, 3)], {"axis": 0, "reduce": "amax"}, ref=_scatter_reduce),
            Case(
                [K([5, 2, -3, 8]), K([0, 0, 3]), K([4, 5, 7])],
                {"axis": 0, "reduce": "mean"},
                ref=_scatter_reduce,
                grad=False,
            ),
        ],
        "scatter_count": [
            Case(
                [K(REPEATS), K([[True, False, True], [True, True, False]])],
                {"axis": 1, "shape": (3, 4)},
                ref=_scatter_count,
                grad=False,
            ),
            Case(
                [K(REDUCE_INDEX)],
                fn=lambda op, i: _apply(op, i, True, axis=1, shape=(3, 5)),
                ref=lambda i: _scatter_count(i, True, 1, (3, 5)),
                grad=False,
            ),
        ],
        "index_select": [
            Case([R(3, 4), K([2, 0, 2])], {"axis": 0}, ref=_index_select),
            Case([R(3, 4), K(np.array([3, 3], dtype=np.int32))], {"axis": -1}, ref=_index_select),
            Case([R(2, 3, 4), K([1])], {"axis": 1}, ref=_index_select),
        ],
        "index_select_grad": [
            Case([R(3, 4), K([2, 0, 2])], {"axis": 0, "shape": (3, 4)}, ref=_index_select_grad),
            Case([R(3, 2), K([3, 3])], {"axis": 1, "shape": (3, 4)}, ref=_index_select_grad),
        ],
        "index_add": [
            Case([R(3, 4), K([2, 0, 2]), R(3, 4)], {"axis": 0}, ref=_index_add),
            Case([R(3, 4), K([3, 1]), R(3, 2)], {"axis": 1, "alpha": -2.0}, ref=_index_add),
        ],
        "index_fill": [
            Case([R(3, 4), K([2, 0, 2]), R()], {"axis": 0}, ref=_index_fill),
            Case(
                [R(3, 4), K([3, 1])],
                fn=lambda op, x, i: _apply(op, x, i, -1.5, axis=1),
                ref=lambda x, i: _index_fill(x, i, -1.5, 1),
            ),
        ],
        "masked_fill": [
            Case([R(2, 3), B(2, 3)], fn=lambda op, x, m: _apply(op, x, m, 0.5), ref=lambda x, m: np.where(m, 0.5, x)),
            Case([R(2, 3), B(3), R()], ref=lambda x, m, v: np.where(m, v, x)),  # mask broadcast; 0-d value
            Case([R(3), B(2, 3), R()], ref=lambda x, m, v: np.where(m, v, x)),  # input broadcast
        ],
        "nonzero": [
            Case([K([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])], ref=lambda x: np.argwhere(x)),
            Case([K([0, 3, 0, 7])], ref=lambda x: np.argwhere(x)),
            Case([K(np.zeros((2, 0, 3)))], ref=lambda x: np.argwhere(x)),
        ],
    }
)


# ---------------------------------------------------------------- index_copy, index_put
def _index_copy(x, index, src, axis):
    out = x.copy()
    out[(slice(None),) * (axis % x.ndim) + (index,)] = src
    return out


def _index_put(x, values, index, dims, accumulate=False):
    out = x.copy()
    flat = out.reshape((-1, *x.shape[dims:]))
    if accumulate:
        np.add.at(flat, index, values)
    else:
        flat[index] = values
    return out


CASES["index_copy"] = [  # distinct indices (with repeats one write wins: no derivative to check)
    Case([R(3, 4), K([2, 0]), R(2, 4)], {"axis": 0}, ref=_index_copy),
    Case([R(2, 3, 4), K([3, 1, 0]), R(2, 3, 3)], {"axis": -1}, ref=_index_copy),
]
CASES["index_put"] = [
    Case([R(4, 3), R(2, 3), K([3, 1])], {"dims": 1}, ref=_index_put),
    Case([R(4, 3), R(3, 3), K([1, 1, 0])], {"dims": 1, "accumulate": True}, ref=_index_put),  # repeats add up
    Case([R(2, 3), R(2), K([5, 0])], {"dims": 2}, ref=_index_put),
    Case([R(2, 3, 2), R(2, 2), K([4, 1])], {"dims": 2, "accumulate": True}, ref=_index_put),
    Case(
        [R(3, 2), K([0, 5])],
        fn=lambda op, x, i: _apply(op, x, 2.5, i, dims=2),
        ref=lambda x, i: _index_put(x, 2.5, i, 2),
    ),
]
