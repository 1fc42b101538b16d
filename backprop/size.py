"""``bp.Size``: a tensor's shape, a tuple of ints with torch.Size's ``numel()``."""

from __future__ import annotations

import math
import operator
from typing import Any, SupportsIndex, overload


class Size(tuple):  # a tuple of ints, as torch.Size
    """A tensor's shape (``t.shape``, ``t.size()``): a tuple of ints, so it compares equal to plain
    tuples and goes wherever one does, plus torch.Size's ``numel()``; slices and sums stay Sizes."""

    __slots__ = ()

    def __new__(cls, sizes: Any = ()) -> Size:
        try:
            # a list, not an iterator: tuple() of an iterator leaves a temporary tuple on CPython's
            # free list each call, which memory tracing counts as growth
            items = [operator.index(s) for s in sizes]
        except TypeError:
            found = next(((i, type(s).__name__) for i, s in enumerate(sizes) if not hasattr(s, "__index__")), None)
            if found is None:
                raise
            raise TypeError(f"Size() takes an iterable of 'int' (item {found[0]} is '{found[1]}')") from None
        return super().__new__(cls, items)

    @classmethod
    def of(cls, shape: tuple[int, ...]) -> Size:
        """A Size from an array's shape (a tuple of ints already): no checks, no copy of the items."""
        return tuple.__new__(cls, shape)

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for ``Size([])``)."""
        return math.prod(self)

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Size: ...
    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other: Any) -> Size:
        if not isinstance(other, tuple):  # (torch's text; its Size takes no reflected operand either)
            raise TypeError(f"can only concatenate tuple (not {type(other).__name__}) to Size")
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other: Any) -> Size:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n: SupportsIndex) -> Size:
        return Size(tuple(self) * n)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Size({list(self)})"

    def __reduce__(self) -> tuple:
        return (Size, (tuple(self),))
