"""Shape methods: views, permutations, broadcasting and splitting, all ``reshape``/``permute``/
``expand``/``getitem`` underneath (few primitives, one gradient rule each)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from backprop.autograd.function import apply
from backprop.ops import conversion
from backprop.ops import shape as sh
from backprop.ops._util import ShapeError, infer_shape, size_arg, wrap_dim

if TYPE_CHECKING:
    from backprop.tensor import Tensor


class ShapeMethods:
    """``x.reshape(...)``, ``x.permute(...)``, ``x.split(...)``, ..."""

    __slots__ = ()

    def reshape(self: Any, *shape: Any) -> Tensor:
        """Same data, new shape (one dim may be -1)."""
        shape = infer_shape(size_arg(shape), self.data.size, "reshape", self.shape)
        if shape == self.shape:
            return self
        return apply(sh.reshape, self, shape=shape)

    view = reshape

    def view_as(self: Any, other: Any) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = wrap_dim(start_dim, self.ndim, "flatten"), wrap_dim(end_dim, self.ndim, "flatten")
        shp = self.shape
        return self.reshape(shp[:s] + (-1,) + shp[e + 1 :])

    def unsqueeze(self: Any, dim: int) -> Tensor:
        dim = wrap_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self: Any, dim: Any = None) -> Tensor:
        """Drop size-1 dims (all, or those in ``dim`` that are size 1, as torch)."""
        if dim is None:
            dims = {i for i, n in enumerate(self.shape) if n == 1}
        else:
            dims = {wrap_dim(d, self.ndim, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
            dims = {d for d in dims if d < self.ndim and self.shape[d] == 1}
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in dims))

    def permute(self: Any, *dims: Any) -> Tensor:
        dims = size_arg(dims)
        if len(dims) != self.ndim or sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)):
            raise ShapeError(f"permute: {dims} is not a permutation of the {self.ndim} dims of {tuple(self.shape)}")
        return apply(sh.permute, self, axes=tuple(d % self.ndim for d in dims))

    def transpose(self: Any, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.ndim))
        d0, d1 = wrap_dim(dim0, self.ndim, "transpose"), wrap_dim(dim1, self.ndim, "transpose")
        if self.ndim < 2:
            return self
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return apply(sh.permute, self, axes=tuple(axes))

    @property
    def T(self: Any) -> Tensor:  # noqa: N802 - torch's name
        return apply(sh.permute, self, axes=tuple(reversed(range(self.ndim))))

    @property
    def mT(self: Any) -> Tensor:  # noqa: N802 - torch's name
        return self.transpose(-2, -1)

    def expand(self: Any, *sizes: Any) -> Tensor:
        """Broadcast to ``sizes`` without copying; -1 keeps a dim."""
        sizes = size_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: target {sizes} has fewer dims than the tensor's {tuple(self.shape)}")
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return apply(sh.expand, self, shape=shape)

    def expand_as(self: Any, other: Any) -> Tensor:
        return self.expand(other.shape)

    def split(self: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
        dim = wrap_dim(dim, self.ndim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            if step <= 0:
                raise ValueError(f"split: split_size must be positive, got {step}")
            sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ShapeError(f"split: sizes {sizes} do not sum to dim {dim}'s length {n}")
        out, start = [], 0
        for s in sizes:
            out.append(self[(slice(None),) * dim + (slice(start, start + s),)])
            start += s
        return tuple(out)

    def chunk(self: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        n = self.shape[wrap_dim(dim, self.ndim, "chunk")]
        return self.split(max(1, -(-n // chunks)), dim)

    def unbind(self: Any, dim: int = 0) -> tuple[Tensor, ...]:
        dim = wrap_dim(dim, self.ndim, "unbind")
        return tuple(self[(slice(None),) * dim + (i,)] for i in range(self.shape[dim]))

    def is_contiguous(self: Any) -> bool:
        """Whether the data is laid out in C order (torch's default memory format)."""
        return bool(self.data.flags.c_contiguous)

    def contiguous(self: Any) -> Tensor:
        """``self`` if already C-contiguous, else a C-ordered copy (a differentiable ``clone``)."""
        if self.data.flags.c_contiguous:
            return self
        return apply(conversion.clone, self)

    def __iter__(self: Any) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))
