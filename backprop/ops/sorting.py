"""Sorting: ``argsort`` (stable, either direction), the index op under ``sort``, ``argsort`` and ``topk``.

The values of ``sort``/``topk`` are ``take_indexed`` of these indices (``backprop.ops.reduction``),
so their gradient goes to the selected elements only, as torch's.
"""

from __future__ import annotations

import math

from backprop.ops._util import c_order
from backprop.registry import op


@op("argsort")
def argsort(xp, x, *, axis=-1, descending=False):
    """The stable sorting order along ``axis`` (int64, no gradient): ties keep their original order
    in both directions and NaN sorts as the largest value, as torch's ``sort(stable=True)``."""
    if x.ndim == 0:
        return xp.zeros((), dtype="int64")
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable").astype("int64", copy=False)
    # descending and stable: sort the reversed array ascending, then reverse the order back (ties
    # then come out first-index-first, and NaNs, last ascending, come first)
    n = x.shape[axis]
    order = xp.argsort(xp.flip(x, axis=axis), axis=axis, kind="stable")
    return (n - 1 - xp.flip(order, axis=axis)).astype("int64", copy=False)


# ---------------------------------------------------------------- unique, binary search, membership (no gradient)


def _runs(xp, rows):
    """Where each run of equal consecutive rows of the 2-D ``rows`` starts (a bool vector)."""
    start = xp.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] > 1:
        start[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.ndim > 1 else rows[1:] != rows[:-1]
    return start


@op("unique")
def unique(xp, x, *, dim=None, consecutive=False, part="values"):
    """One ``part`` of torch.unique / unique_consecutive (``"values"``, ``"inverse"`` or ``"counts"``,
    the latter two int64): over the flattened tensor, or over the slices along ``dim``; sorted
    ascending, or (``consecutive``) collapsing only runs of equal neighbours. No gradient."""
    axis = 0 if dim is None else dim
    a = xp.reshape(x, (-1,)) if dim is None else xp.moveaxis(x, axis, 0)
    rows = xp.reshape(a, (a.shape[0], math.prod(a.shape[1:]))) if a.ndim > 1 else a  # (no -1: size 0)
    if not consecutive:  # sort the rows (lexicographically), then collapse the runs
        if rows.ndim > 1 and rows.shape[1]:
            order = xp.lexsort(rows.T[::-1]) if rows.shape[0] else xp.zeros(0, dtype="int64")
        else:
            order = xp.argsort(rows if rows.ndim == 1 else xp.zeros(rows.shape[0]), kind="stable")
        rows, a = rows[order], a[order]
    start = _runs(xp, rows)
    if part == "values":
        out = a[start]
        return out if dim is None else xp.moveaxis(out, 0, axis)
    if part == "inverse":
        ids = xp.cumsum(start) - 1
        if not consecutive:
            inv = xp.empty_like(ids)
            inv[order] = ids
            ids = inv
        return (xp.reshape(ids, x.shape) if dim is None else ids).astype("int64", copy=False)
    first = xp.flatnonzero(start)
    return xp.diff(xp.concatenate([first, xp.asarray([rows.shape[0]])])).astype("int64", copy=False)


@op("searchsorted")
def searchsorted(xp, sorted_sequence, values, *, right=False, out_int32=False):
    """The insertion index of each value into the last dim of ``sorted_sequence`` (torch.searchsorted:
    1-D, or the same leading dims as ``values``); ``right`` puts equal values after. No gradient."""
    seq = sorted_sequence
    if seq.ndim == 1 and not (seq.dtype.kind in "fc" and xp.isnan(seq).any()):
        out = xp.asarray(xp.searchsorted(seq, values, side="right" if right else "left"))
    else:
        out = _bisect(xp, seq, values, right)
    return c_order(xp, out.astype("int32" if out_int32 else "int64", copy=False))


def _bisect(xp, seq, values, right):
    """torch's binary search, step for step, for all values at once: it moves right past ``seq[mid]``
    unless ``seq[mid] > v`` (``>=`` when not ``right``). Over a sequence with NaNs (``sort`` puts them
    last) the answer depends on which mids it visits, and NumPy's search visits others."""
    n = seq.shape[-1]
    start = xp.zeros(values.shape, dtype="int64")
    end = xp.full(values.shape, n, dtype="int64")
    while True:
        active = start < end
        if not active.any():
            return start
        mid = start + ((end - start) >> 1)
        at = xp.minimum(mid, n - 1)
        mid_val = xp.take_along_axis(seq, at, axis=-1) if seq.ndim > 1 else seq[at]
        past = ~(mid_val > values) if right else ~(mid_val >= values)
        start = xp.where(active & past, mid + 1, start)
        end = xp.where(active & ~past, mid, end)


@op("isin")
def isin(xp, elements, test_elements, *, invert=False):
    """Whether each element is in ``test_elements`` (a bool tensor of ``elements``' shape). No gradient."""
    return xp.isin(elements, test_elements, invert=invert)
