"""Sorting: ``argsort`` (stable, either direction), the index op under ``sort``, ``argsort`` and ``topk``.

The values of ``sort``/``topk`` are ``take_indexed`` of these indices (``backprop.ops.reduction``),
so their gradient goes to the selected elements only, as torch's.
"""

from __future__ import annotations

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
