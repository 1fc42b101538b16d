"""Small helpers shared by op kernels and backward rules (array-level, backend-agnostic)."""

from __future__ import annotations

from typing import Any


def norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"dimension {a} is out of range for a tensor of {ndim} dimension(s)")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def keep_shape(shape: tuple, axes: tuple[int, ...]) -> tuple:
    """``shape`` with the reduced ``axes`` set to 1 (the keepdim shape)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand_reduced(xp: Any, gy: Any, shape: tuple, axis: Any, keepdims: bool) -> Any:
    """Reshape a reduction's upstream gradient so it broadcasts against the input ``shape``."""
    if keepdims:
        return gy
    return xp.reshape(gy, keep_shape(shape, norm_axes(axis, len(shape))))


def count(shape: tuple, axes: tuple[int, ...]) -> int:
    """How many elements a reduction over ``axes`` of ``shape`` combines."""
    n = 1
    for a in axes:
        n *= shape[a]
    return n
