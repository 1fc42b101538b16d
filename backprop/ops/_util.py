"""Small helpers shared by op kernels and backward rules (array-level, backend-agnostic)."""

from __future__ import annotations

from typing import Any


def norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints.

    A 0-d tensor accepts dims 0 and -1, as torch does: they name no axis there, so the result is ``()``.
    """
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(
                f"dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], "
                f"but got {a})"
            )
        if ndim:
            out.append(a % ndim)
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


def wrap_dim(dim: int, ndim: int, name: str) -> int:
    """``dim`` (negatives count from the end) as a non-negative index; 0-d tensors accept 0 and -1."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def dim_alias(name: str, dim: Any, axis: Any, required: bool = False) -> Any:
    """``dim``, or torch's numpy-style alias ``axis``; a TypeError when both are given, or when
    neither is and one is ``required``."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}(): got both 'dim' and its alias 'axis'")
        dim = axis
    if dim is None and required:
        raise TypeError(f"{name}(): missing the required argument 'dim' (an int)")
    return dim


def dims_arg(dim: Any) -> Any:
    """A user's ``dim=`` (None, int, or a sequence) as the kernels' ``axis`` (None, int or tuple)."""
    if dim is None or isinstance(dim, int):
        return dim
    return tuple(int(d) for d in dim)


def infer_shape(shape: tuple, size: int, name: str, old: tuple) -> tuple[int, ...]:
    """``shape`` with its one ``-1`` resolved for ``size`` elements; raises when it does not fit."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"{name}: only one dimension can be inferred (-1), got {shape}")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or size % known:
            raise ShapeError(f"{name}: shape {list(shape)} is invalid for input of size {size} (shape {old})")
        shape = tuple(size // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != size:
        raise ShapeError(f"{name}: shape {list(shape)} is invalid for input of size {size} (shape {old})")
    return shape


def size_arg(size: tuple) -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))``: the sizes as one tuple of ints."""
    if len(size) == 1 and not isinstance(size[0], int):
        return tuple(int(s) for s in size[0])
    return tuple(int(s) for s in size)


class ShapeError(ValueError, RuntimeError):
    """A shape that does not fit the op: a ``ValueError`` and, as torch raises, a ``RuntimeError``."""


class DTypeError(TypeError, RuntimeError):
    """Operands whose dtypes an op cannot combine; a RuntimeError too, as torch raises."""


def times_gy(ctx: Any, gy: Any, factor: Any) -> Any:
    """``gy * factor`` for a backward rule: computed in ``gy``'s buffer when ``ctx.gy_consumable``
    (a replay proved nothing reads gy afterwards) and the product has gy's shape and dtype; the same
    values either way (one multiplication per element)."""
    if (
        ctx.gy_consumable
        and gy.shape == factor.shape
        and (factor.dtype == gy.dtype or factor.dtype == bool)
        and getattr(gy, "ndim", 0)
        and 0 not in gy.strides  # (never into a broadcast view)
        and getattr(gy.flags, "writeable", True)
    ):
        gy *= factor
        return gy
    return gy * factor
