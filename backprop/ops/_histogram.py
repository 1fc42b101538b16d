"""Host-side histogram helpers with torch's semantics for given bin edges (histogram, histogramdd):
torch does not check that edges increase, and its binary search gives defined bins for any order."""

from __future__ import annotations

import numpy as np


def upper_bound(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``std::upper_bound(edges, values)`` per value, the C++ binary search step for step, so that edges
    which are not sorted give torch's bins too (NumPy's searchsorted assumes sorted edges)."""
    first = np.zeros(values.shape, dtype=np.int64)
    length = np.full(values.shape, edges.size, dtype=np.int64)
    while (live := length > 0).any():
        half = length >> 1
        middle = first + half
        left = live & (values < edges[np.minimum(middle, edges.size - 1)])
        right = live & ~left
        first = np.where(right, middle + 1, first)
        length = np.where(left, half, np.where(right, length - half - 1, length))
    return first


def histogram_edges(
    points: np.ndarray, edges: list[np.ndarray], w: np.ndarray | None, density: bool
) -> tuple[np.ndarray, list[np.ndarray]]:
    """torch's histogramdd kernel for given edges: a point counts when each coordinate lies within
    [first edge, last edge] of its dim (NaN never does); its bin is ``upper_bound(edges, x) - 1``, the
    last edge belonging to the last bin. Edges need not increase: torch does not check them (``[0.7, 0.2]``
    takes no point). ``density``: divided by the total, then by each dim's ``diff(edges)``."""
    sizes = [max(e.size - 1, 0) for e in edges]
    keep = np.ones(points.shape[0], dtype=bool)
    index = np.zeros(points.shape[0], dtype=np.int64)
    for d, e in enumerate(edges):
        if e.ndim != 1 or e.size < 2:
            raise RuntimeError(f"torch.histogramdd: bins must be > 0, but got {e.size - 1} for dimension {d}")
        x = points[:, d]
        keep &= (x >= e[0]) & (x <= e[-1])
        pos = upper_bound(e, x) - 1
        pos = np.where(pos == e.size - 1, pos - 1, pos)
        index = index * sizes[d] + np.clip(pos, 0, max(sizes[d] - 1, 0))
    total = int(np.prod(sizes))
    weights = np.ones(points.shape[0]) if w is None else w.astype(np.float64)
    hist = np.bincount(index[keep], weights=weights[keep], minlength=total)[:total].reshape(sizes)
    if density:
        with np.errstate(divide="ignore", invalid="ignore"):  # no point counted, or a zero-width bin: NaN/inf
            hist = hist / hist.sum()
        for d, e in enumerate(edges):
            shape = [-1 if i == d else 1 for i in range(len(edges))]
            with np.errstate(divide="ignore", invalid="ignore"):
                hist = hist / np.diff(e).astype(np.float64).reshape(shape)
    return hist, edges
