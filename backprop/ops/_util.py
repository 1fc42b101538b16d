"""Small helpers shared by op kernels and backward rules (array-level, backend-agnostic)."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from backprop.runtime import user_stacklevel  # noqa: F401  (re-exported: devices, below ops, uses it too)


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
                f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], "
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
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
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
    """``shape`` with its one ``-1`` resolved for ``size`` elements; raises torch's error when it does not fit
    (``name`` and ``old`` are kept for the callers; torch's message names neither)."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ShapeError("only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 and size == 0:  # (an empty MultivariateNormal.sample((0,)) reaches this)
            raise ShapeError(
                f"cannot reshape tensor of 0 elements into shape {list(shape)} because the unspecified "
                "dimension size -1 can be any value and is ambiguous"
            )
        if known == 0 or size % known:
            raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {size}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != size:
        raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {size}")
    return shape


def size_arg(size: tuple) -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))``: the sizes as one tuple of ints (a 0-d integer tensor or NumPy
    integer counts as an int, as torch's ``zeros(n)`` with ``n = t.sum()``; a float is torch's TypeError,
    not silently truncated)."""
    if len(size) == 1 and not isinstance(size[0], int) and getattr(size[0], "ndim", 1) != 0:
        size = tuple(size[0])
    for s in size:
        if s.__class__ is not int:
            return tuple(_size_int(s) for s in size)
    return size if size.__class__ is tuple else tuple(size)


def _size_int(s: Any) -> int:
    kind = getattr(getattr(s, "dtype", None), "kind", None)
    if isinstance(s, float) or kind in ("f", "c") or isinstance(s, complex):
        raise TypeError(f"sizes must be integers, got {type(s).__name__} {s!r}")
    return int(s)


class ShapeError(ValueError, RuntimeError):
    """A shape that does not fit the op: a ``ValueError`` and, as torch raises, a ``RuntimeError``."""


class DTypeError(TypeError, RuntimeError):
    """Operands whose dtypes an op cannot combine; a RuntimeError too, as torch raises."""


def c_order(xp: Any, y: Any) -> Any:
    """``y`` as a C-ordered array (a copy only when it is not one). Torch's indexing, joining, scan and search
    kernels return contiguous tensors, where NumPy's keep the layout of a transposed input or of a fancy index:
    so that ``.view`` (which refuses a layout needing a copy) works on their results as on torch's."""
    return y if y.flags.c_contiguous else xp.ascontiguousarray(y)


def copy_order(x: Any) -> str:
    """NumPy's ``order`` for a copy laid out as torch's ``empty_like(x)``: "K" (x's stride order), but "C" for a
    broadcast x (a stride 0), where "K" puts that dim innermost: a non-contiguous copy of ``expand(...)`` whose
    ``.view`` would refuse where torch's works."""
    return "C" if 0 in x.strides else "K"


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shapes' broadcast shape, or torch's ``RuntimeError`` (a ``ShapeError``) naming the first
    mismatching dim ("The size of tensor a (3) must match the size of tensor b (4) at non-singleton
    dimension 1")."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        pass
    a = tuple(shapes[0])
    for b in shapes[1:]:
        n = max(len(a), len(b))
        pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
        for i in reversed(range(n)):  # torch's infer_size names the last mismatching dim
            x, y = pa[i], pb[i]
            if x != y and x != 1 and y != 1:
                raise ShapeError(
                    f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}"
                )
        a = tuple(max(x, y) if min(x, y) != 0 else 0 for x, y in zip(pa, pb))
    raise ShapeError(f"shapes {list(shapes)} cannot be broadcast to a single shape")


class KernelIndexError(IndexError, RuntimeError):
    """An index out of range in torch's own words ("index 5 is out of bounds for dimension 0 with size 3"):
    ``apply`` raises it without the op's name and inputs, as torch's text."""


class ShapeIndexError(ShapeError, IndexError):
    """An input with too few dims where torch's dim wrap raises ``IndexError`` ("Dimension out of range"):
    also the ``ShapeError`` (ValueError, RuntimeError) the check raised before."""


class ValueAssertionError(ValueError, AssertionError):
    """A bad argument torch rejects with an ``assert`` (``AssertionError``); a ``ValueError`` too."""


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


_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def select_gy(ctx: Any, gy: Any, keep: Any) -> Any:
    """``gy`` where the bool mask ``keep`` holds, else +0: the backward of a masking op (relu, clamp,
    a max's ties) as torch's ``where``/``masked_fill``, not ``gy * keep``, whose ``inf * 0`` would put
    NaN where the gradient is dropped. On arrays, gy's bits viewed as integers times the mask: the
    same bits as ``where`` at the multiply's speed (NumPy's ``where`` is several times slower on a
    random mask); in gy's buffer under the conditions of ``times_gy``."""
    itype = _SAME_SIZE_INT.get(gy.dtype.itemsize)
    if ctx.create_graph or itype is None or gy.dtype.kind == "c":
        return ctx.xp.where(keep, gy, 0)
    bits = gy.view(itype)
    if (
        ctx.gy_consumable
        and gy.shape == keep.shape
        and getattr(gy, "ndim", 0)
        and 0 not in gy.strides
        and getattr(gy.flags, "writeable", True)
    ):
        ctx.xp.multiply(bits, keep, out=bits)
        return gy
    return (bits * keep).view(gy.dtype)


# ------------------------------------------------------------------ reused host work buffers
# glibc serves every allocation of 32 MiB or more (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit) with a fresh
# mmap, so each such array costs page faults and the kernel's zeroing of every page on first touch,
# step after step: measured on a 2-core VM (2026-12-07), the large LM's eager step (1024 x 10000 float32
# logits) spent ~10 ms of 154 ms faulting in cross_entropy's softmax buffer. An op's *internal* buffer
# of that size is therefore kept after use and taken again once nothing else holds it (its reference
# count is back to the cache's own, the way NumPy decides to elide temporaries); smaller arrays and
# device arrays are left to their allocators (CuPy has its memory pool).
_REUSE_BYTES = 32 << 20
_reusable: dict[str, Any] = {}


def _references(slots: dict[str, Any], key: str) -> int:
    buf = slots[key]
    return sys.getrefcount(buf)


_FREE = _references({"probe": np.empty(1)}, "probe")  # the count of a buffer only the cache holds


def reusable_empty(xp: Any, key: str, shape: tuple[int, ...], dtype: Any) -> Any:
    """``xp.empty(shape, dtype)`` for an op's internal work buffer named ``key``: on the host, a buffer
    of ``_REUSE_BYTES`` or more is the one ``key`` used last time when it is free (nothing else holds
    it: no tensor, view or saved value), so its pages are already mapped."""
    if xp is not np or math.prod(shape) * np.dtype(dtype).itemsize < _REUSE_BYTES:
        return xp.empty(shape, dtype)
    if key in _reusable and _references(_reusable, key) <= _FREE:  # (counted before any local holds it)
        old = _reusable[key]
        if old.shape == tuple(shape) and old.dtype == dtype:
            return old
    buf = np.empty(shape, dtype)
    _reusable[key] = buf
    return buf


def release_reusable() -> None:
    """Drop the kept work buffers (``reusable_empty``): their memory goes back once nothing else holds
    them (for memory measurements that must see every buffer a step allocates, and to free memory
    after training)."""
    _reusable.clear()
