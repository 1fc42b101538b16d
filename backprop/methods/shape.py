"""Shape methods: views, permutations, broadcasting and splitting, all ``reshape``/``permute``/
``expand``/``getitem`` underneath (few primitives, one gradient rule each)."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd import trace
from backprop.autograd.function import apply, apply_, autocast_function, bump_version, check_inplace, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users, trace_users
from backprop.autograd.node_names import name_node
from backprop.ops import conversion
from backprop.ops import linalg as linalg_ops
from backprop.ops import shape as sh
from backprop.ops._util import ShapeError, ShapeIndexError, infer_shape, size_arg, wrap_dim
from backprop.size import Size

if TYPE_CHECKING:
    from backprop.tensor import Tensor


_T_WARNED: set[int] = set()  # which of _T_DEPRECATED's warnings was given (0: not a matrix, 1: 0-d)
_T_DEPRECATED = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and it will throw an "
    "error in a future release. Consider `x.mT` to transpose batches of matrices or "
    "`x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.",
    "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
)


def _is_dtype(x: Any) -> bool:
    return isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, np.generic))


def _view_dtype(self: Any, dtype: Any) -> Tensor:
    """torch's ``view(dtype)``: the same memory read as ``dtype``; a different element size scales the last
    dim (which must have stride 1; other strides and the offset must be whole new elements). The result
    shares memory and the version counter with ``self`` and is cut from the graph, as torch's."""
    dt = np.dtype(dtypes.to_dtype(dtype))
    x = self._data
    old, new = x.dtype.itemsize, dt.itemsize
    if old != new:
        what = f"to view {x.dtype.name} as {dt.name} (different element sizes)"
        if x.ndim == 0:
            raise ShapeError(f"self.dim() cannot be 0 {what}")
        if x.shape[-1] != 1 and x.strides[-1] != old:
            raise ShapeError(f"self.stride(-1) must be 1 {what}, but got {x.strides[-1] // old}")
        if new > old:
            ratio = new // old
            if x.shape[-1] % ratio:
                raise ShapeError(f"self.size(-1) must be divisible by {ratio} {what}, but got {x.shape[-1]}")
            iface = getattr(x, "__array_interface__", None) or x.__cuda_array_interface__
            if iface["data"][0] % new:  # (allocations are aligned to at least 16 bytes)
                raise ShapeError(f"self.storage_offset() must be divisible by {ratio} {what}")
            for d in range(x.ndim - 1):
                if x.shape[d] != 1 and x.strides[d] % new:
                    raise ShapeError(
                        f"self.stride({d}) must be divisible by {ratio} {what}, but got {x.strides[d] // old}"
                    )
    out = self._wrap(trace.record(lambda a: a.view(dt), self), self.device, None)
    base = self if self._vbase is None else self._vbase
    base._vbase = base
    out._vbase = base  # one version counter, as torch's (the detach() pattern)
    return out


_CHANNELS_LAST_RANK = {"channels_last": 4, "channels_last_3d": 5}


def check_memory_format(ndim: int, memory_format: Any) -> None:
    """torch's refusal of a channels-last format for a tensor of another rank (layouts stay C order here)."""
    rank = _CHANNELS_LAST_RANK.get(getattr(memory_format, "name", ""))
    if rank is not None and ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {memory_format.name} format")


class ShapeMethods:
    """``x.reshape(...)``, ``x.permute(...)``, ``x.split(...)``, ..."""

    __slots__ = ()

    def reshape(self: Any, *sizes: Any, shape: Any = None) -> Tensor:
        """Same data, new shape (one dim may be -1); ``reshape(shape=...)`` as torch."""
        if shape is not None:
            sizes = _star_keyword(sizes, shape, "shape", "reshape")
        shape = infer_shape(size_arg(sizes), self._data.size, "reshape", self.shape)
        out = apply(sh.reshape, self, shape=shape)  # (a new view also for the same shape, as torch's)
        if out._vbase is None and out.grad_fn is not None:  # the layout needed a copy: torch's _unsafe_view
            name_node(out, "UnsafeViewBackward0")
        return out

    def view(self: Any, *shape: Any, dtype: Any = None, size: Any = None) -> Tensor:
        """Same data, new shape, always sharing memory: a layout that would need a copy raises, as torch's
        (``reshape`` copies then). ``view(dtype)`` reads the same bytes as another dtype (see ``_view_dtype``)."""
        if size is not None:
            shape = _star_keyword(shape, size, "size", "view")
        if dtype is not None or (len(shape) == 1 and _is_dtype(shape[0])):
            return _view_dtype(self, shape[0] if dtype is None else dtype)
        new = infer_shape(size_arg(shape), self._data.size, "view", self.shape)
        if not _viewable(self._data, tuple(new)):
            raise ShapeError(
                "view size is not compatible with input tensor's size and stride (at least one dimension spans "
                "across two contiguous subspaces). Use .reshape(...) instead."
            )
        return apply(sh.reshape, self, shape=new)

    def view_as(self: Any, other: Any) -> Tensor:
        try:
            return self.view(other.shape)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def flatten(self: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        try:
            if self.ndim == 0:  # (its dims are checked as a 1-d tensor's, as torch)
                wrap_dim(start_dim, 1, "flatten"), wrap_dim(end_dim, 1, "flatten")
                return self.reshape(1)
            s, e = wrap_dim(start_dim, self.ndim, "flatten"), wrap_dim(end_dim, self.ndim, "flatten")
            if s >= e:
                if s > e:
                    raise ShapeError("flatten() has invalid args: start_dim cannot come after end_dim")
                return self  # torch returns the tensor itself (no view)
            shp = self.shape
            n = 1
            for k in shp[s : e + 1]:  # (the size itself, not -1: an empty tensor has none to infer)
                n *= k
            return self.reshape(shp[:s] + (n,) + shp[e + 1 :])
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def unsqueeze(self: Any, dim: int) -> Tensor:
        try:
            dim = wrap_dim(dim, self.ndim + 1, "unsqueeze")
            return apply(sh.reshape, self, shape=self.shape[:dim] + (1,) + self.shape[dim:], named="UnsqueezeBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def squeeze(self: Any, dim: Any = None, *, axis: Any = None) -> Tensor:
        """Drop size-1 dims (all, or those in ``dim`` (an int or a tuple) that are size 1, as torch)."""
        dim = axis if dim is None else dim
        if dim is None:
            dims = {i for i, n in enumerate(self.shape) if n == 1}
        else:
            given = [wrap_dim(d, self.ndim, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
            dims = set(given)
            if len(dims) != len(given):
                raise ShapeError(
                    f"squeeze: dim {sorted(d for d in dims if given.count(d) > 1)[0]} appears multiple "
                    f"times in the list of dims {tuple(dim)}"
                )
            dims = {d for d in dims if d < self.ndim and self.shape[d] == 1}
        named = "SqueezeBackward2" if isinstance(dim, (tuple, list)) else "SqueezeBackward1"
        if dim is None:
            named = "SqueezeBackward0"
        return apply(sh.reshape, self, shape=tuple(n for i, n in enumerate(self.shape) if i not in dims), named=named)

    def permute(self: Any, *args: Any, dims: Any = None) -> Tensor:
        if dims is not None:
            args = _star_keyword(args, dims, "dims", "permute")
        elif not args:  # (torch's parser: dims is required, also for a 0-d tensor, whose dims are ())
            raise TypeError('permute() missing 1 required positional arguments: "dims"')
        dims = size_arg(args)
        n = max(self.ndim, 1)
        bad = next((d for d in dims if not -n <= d < n), None) if len(dims) == self.ndim else None
        if bad is not None:  # torch's IndexError (also the ShapeError it was)
            raise ShapeIndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {bad})")
        if len(dims) != self.ndim:  # (torch's message names sparse_coo for dense tensors too)
            raise ShapeError(
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
                f"desired ordering of dimensions i.e. input.dim() = {self.ndim} is not equal to len(dims) = {len(dims)}"
            )
        if sorted(d % n for d in dims) != list(range(self.ndim)):
            raise ShapeError("permute(): duplicate dims are not allowed.")
        return apply(sh.permute, self, axes=tuple(d % self.ndim for d in dims))

    def transpose(self: Any, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.ndim))
        d0, d1 = wrap_dim(dim0, self.ndim, "transpose"), wrap_dim(dim1, self.ndim, "transpose")
        if self.ndim >= 2:
            axes[d0], axes[d1] = axes[d1], axes[d0]
        return apply(sh.permute, self, axes=tuple(axes), named="TransposeBackward0")

    @property
    def T(self: Any) -> Tensor:  # noqa: N802 - torch's name
        """All dims reversed; torch's deprecation warnings (each once per process, as its TORCH_WARN_ONCE) where
        the tensor is not a matrix."""
        which = int(self.ndim == 0)
        if self.ndim != 2 and which not in _T_WARNED:
            _T_WARNED.add(which)
            warnings.warn(_T_DEPRECATED[which], UserWarning, stacklevel=2)
        return apply(sh.permute, self, axes=tuple(reversed(range(self.ndim))))

    @property
    def mT(self: Any) -> Tensor:  # noqa: N802 - torch's name
        """The transpose of the last two dims (a 0-d tensor is its own; a vector is refused, as torch)."""
        if self._data.ndim < 2:
            check_matrices(self, "mT")
            return apply(sh.permute, self, axes=())
        return self.transpose(-2, -1)

    def expand(self: Any, *sizes: Any, size: Any = None) -> Tensor:
        """Broadcast to ``sizes`` without copying; -1 keeps a dim (``expand(size=...)`` as torch)."""
        if size is not None:
            sizes = _star_keyword(sizes, size, "size", "expand")
        sizes = size_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: target {sizes} has fewer dims than the tensor's {tuple(self.shape)}")
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        for i in reversed(range(len(sizes))):  # torch's checks, from the last dim
            if i < lead and sizes[i] == -1:
                raise ShapeError(
                    f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                )
            if i >= lead and self.shape[i - lead] not in (1, shape[i]):
                raise ShapeError(
                    f"The expanded size of the tensor ({sizes[i]}) must match the existing size "
                    f"({self.shape[i - lead]}) at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  "
                    f"Tensor sizes: {list(self.shape)}"
                )
        if shape == self.shape:  # a writable view, as torch's expand to the same shape
            return apply(sh.reshape, self, shape=shape, named="ExpandBackward0")
        return apply(sh.expand, self, shape=shape)

    def expand_as(self: Any, other: Any) -> Tensor:
        try:
            return self.expand(other.shape)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def split(
        self: Any, split_size: Any = None, dim: int = 0, *, split_size_or_sections: Any = None
    ) -> tuple[Tensor, ...]:
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes
        (torch's method names it ``split_size``; ``split_size_or_sections=``, torch.split's name, works too)."""
        if split_size_or_sections is None:
            if split_size is None:
                raise TypeError("split() missing 1 required positional argument: 'split_size'")
            split_size_or_sections = split_size
        elif split_size is not None:
            raise TypeError("split() got both split_size and split_size_or_sections")
        given, dim = dim, wrap_dim(dim, self.ndim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            if step < 0 or (step == 0 and n):  # (0 splits a size-0 dim into one empty piece, as torch)
                raise ValueError(
                    f"split: split_size must be positive (0 only for a dimension of size 0), got {step} for size {n}"
                )
            sizes = [min(step, n - s) for s in range(0, n, step)] if n else [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ShapeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension "
                    f"{given}), but got split_sizes={sizes}"
                )
        out, start = [], 0
        named = "SplitBackward0" if isinstance(split_size_or_sections, int) else "SplitWithSizesBackward0"
        for s in sizes:
            out.append(name_node(self[(slice(None),) * dim + (slice(start, start + s),)], named))
            start += s
        return tuple(out)

    def chunk(self: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """At most ``chunks`` pieces of equal size along ``dim`` (the last may be smaller), as torch."""
        try:
            if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, bool) or chunks <= 0:
                raise ShapeError(f"chunk expects `chunks` to be greater than 0, got: {chunks!r}")
            n = self.shape[wrap_dim(dim, self.ndim, "chunk")]
            if n == 0:  # torch: `chunks` empty pieces
                return self.split([0] * int(chunks), dim)
            return self.split(-(-n // chunks), dim)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def unbind(self: Any, dim: int = 0) -> tuple[Tensor, ...]:
        dim = wrap_dim(dim, self.ndim, "unbind")
        return tuple(name_node(self[(slice(None),) * dim + (i,)], "UnbindBackward0") for i in range(self.shape[dim]))

    def is_contiguous(self: Any, memory_format: Any = None) -> bool:
        """Whether the data is laid out in C order (torch's default memory format), or, asked about
        ``bp.channels_last``(``_3d``), in that order (channels innermost)."""
        name = getattr(memory_format, "name", "contiguous_format")
        if self.device.type == "meta":  # (meta tensors report C order: see stride())
            return name not in ("channels_last", "channels_last_3d") or self._data.ndim < 3
        if name in ("channels_last", "channels_last_3d"):
            nd = 4 if name == "channels_last" else 5
            if self._data.ndim != nd:  # (torch: False, where converting to it raises)
                return False
            order = (0, *range(2, nd), 1)
            return bool(self._data.transpose(order).flags.c_contiguous)
        return bool(self._data.flags.c_contiguous)

    def contiguous(self: Any, memory_format: Any = None) -> Tensor:
        """``self`` if already C-contiguous, else a C-ordered copy (a differentiable ``clone``); any
        ``memory_format`` gives C order here (tensors are kept in NumPy's layout)."""
        if memory_format is not None:
            check_memory_format(self.ndim, memory_format)
        if self._data.flags.c_contiguous:
            return self
        return apply(conversion.clone, self)

    # ------------------------------------------------------------ torch's other shape methods
    def t(self: Any) -> Tensor:
        """The transpose of a matrix; vectors and scalars as they are (torch: at most 2-D)."""
        try:
            if self.ndim > 2:
                raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
            return apply(
                sh.permute, self, axes=(1, 0) if self.ndim == 2 else tuple(range(self.ndim)), named="TBackward0"
            )
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def swapaxes(self: Any, axis0: int, axis1: int) -> Tensor:
        """``transpose`` under NumPy's name."""
        return self.transpose(axis0, axis1)

    def swapdims(self: Any, dim0: int, dim1: int) -> Tensor:
        """``transpose`` under another name (torch's ``swapdims(dim0, dim1)``)."""
        return self.transpose(dim0, dim1)

    def movedim(self: Any, source: Any, destination: Any) -> Tensor:
        """Move the dims ``source`` to positions ``destination``; the others keep their order."""
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        if len(src) != len(dst):
            raise ShapeError(
                f"movedim: Invalid source or destination dims: source ({src} dims) should contain the same "
                f"number of dims as destination ({dst} dims)"
            )
        n = self.ndim
        src = [wrap_dim(d, n, "movedim") for d in src]
        dst = [wrap_dim(d, n, "movedim") for d in dst]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise ShapeError(f"movedim: repeated dim in source {src} or destination {dst}")
        rest = iter(d for d in range(n) if d not in src)
        where = dict(zip(dst, src))
        axes = tuple(where[i] if i in where else next(rest) for i in range(n))
        return apply(sh.permute, self, axes=axes)  # (a new view also where nothing moves, as torch's)

    moveaxis = movedim

    def unflatten(self: Any, dim: int, sizes: Sequence[int]) -> Tensor:
        """Split dim ``dim`` into ``sizes`` (one may be -1)."""
        if self.ndim == 0:
            raise ShapeError(f"Dimension specified as {dim} but tensor has no dimensions")
        d = wrap_dim(dim, self.ndim, "unflatten")
        sizes = tuple(int(s) for s in sizes)
        if not sizes:
            raise ShapeError("unflatten: sizes must be non-empty")
        n = self.shape[d]
        if sizes.count(-1) <= 1 and not (n == 0 and -1 in sizes):  # (else infer_shape's error, as torch's)
            known = math.prod(s for s in sizes if s != -1)
            if n % known != 0 if -1 in sizes and known else known != n:
                raise ShapeError(
                    f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} ({n}) "
                    "in the input tensor"
                )
        inner = infer_shape(sizes, n, "unflatten", self.shape)
        return self.reshape(self.shape[:d] + inner + self.shape[d + 1 :])

    def narrow(self: Any, dim: Any = None, start: Any = None, length: Any = None, *, axis: Any = None) -> Tensor:
        """The slice ``start:start + length`` of dim ``dim`` (a view; ``start`` may be negative)."""
        dim = axis if dim is None else dim
        if dim is None or start is None or length is None:
            raise TypeError("narrow() missing required arguments: dim, start and length")
        if self.ndim == 0:
            raise ShapeError("narrow() cannot be applied to a 0-dim tensor.")
        d = wrap_dim(dim, self.ndim, "narrow")
        n = self.shape[d]
        start = int(start.item()) if hasattr(start, "item") else int(start)
        if not -n <= start <= n:
            raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
        if start < 0:
            start += n
        if length < 0 or start + length > n:
            raise ShapeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def flip(self: Any, *dims: Any, **kwargs: Any) -> Tensor:
        """Reverse the order of elements along ``dims`` (a copy, as torch)."""
        if "dims" in kwargs:
            dims = (kwargs.pop("dims"),)
        if kwargs or not dims:
            raise TypeError(f"flip() missing required argument 'dims' (got {sorted(kwargs)})")
        dims = size_arg(dims)
        wrapped = [wrap_dim(d, self.ndim, "flip") for d in dims]
        axes = tuple(sorted(set(wrapped)))
        if len(axes) != len(dims):  # (torch's text names the first repeated dim)
            twice = next(d for i, d in enumerate(wrapped) if d in wrapped[:i])
            raise ShapeError(f"dim {twice} appears multiple times in the list of dims")
        return apply(sh.flip, self, axis=axes if self.ndim else ())

    def fliplr(self: Any) -> Tensor:
        """Flip the columns (dim 1); needs at least 2 dims."""
        try:
            if self.ndim < 2:
                raise ShapeError(f"fliplr: input tensor must be >= 2-d, got {self.ndim}-d")
            return self.flip(1)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def flipud(self: Any) -> Tensor:
        """Flip the rows (dim 0); needs at least 1 dim."""
        try:
            if self.ndim < 1:
                raise ShapeError("flipud: input tensor must be >= 1-d, got 0-d")
            return self.flip(0)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def roll(self: Any, shifts: Any, dims: Any = None) -> Tensor:
        """Roll by ``shifts`` along ``dims`` (elements leaving one end come back at the other); with no
        dims, over the flattened tensor, shape kept."""
        shifts_t = (int(shifts),) if isinstance(shifts, int) else tuple(int(s) for s in shifts)
        if dims is None:
            if len(shifts_t) != 1:
                raise ShapeError(f"roll: shifts {shifts_t} needs dims (one shift per dim)")
            return apply(sh.roll, self, shifts=shifts_t[0], axis=None)
        dims_t = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts_t) != len(dims_t):
            raise ShapeError(f"shifts and dimensions must align. shifts: {len(shifts_t)}, dims:{len(dims_t)}")
        axes = tuple(wrap_dim(d, self.ndim, "roll") for d in dims_t)
        if self.ndim == 0:
            return apply(sh.roll, self, shifts=shifts_t, axis=None)
        return apply(sh.roll, self, shifts=shifts_t, axis=axes)

    def tril(self: Any, diagonal: int = 0) -> Tensor:
        """The lower triangle (col - row <= diagonal) of the last two dims; the rest zero."""
        return apply(sh.tril, self, diagonal=int(diagonal))

    def triu(self: Any, diagonal: int = 0) -> Tensor:
        """The upper triangle (col - row >= diagonal) of the last two dims; the rest zero."""
        return apply(sh.triu, self, diagonal=int(diagonal))

    def diagonal(self: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """Diagonal ``offset`` of the (dim1, dim2) planes, as a new last dim (a view)."""
        try:
            d1, d2 = wrap_dim(dim1, self.ndim, "diagonal"), wrap_dim(dim2, self.ndim, "diagonal")  # (torch's
            # IndexError for a 0-d or 1-d tensor: dim2 = 1 is out of range)
            if d1 == d2:
                raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
            return apply(sh.diagonal, self, offset=int(offset), dim1=d1, dim2=d2)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def diag_embed(self: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """A tensor whose (dim1, dim2) planes have the last dim of self on diagonal ``offset``, zeros elsewhere."""
        try:
            n = self.ndim + 1
            d1, d2 = wrap_dim(dim1, n, "diag_embed"), wrap_dim(dim2, n, "diag_embed")
            if d1 == d2:
                raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
            if self.ndim == 0:
                raise ShapeError("diag_embed: expected a tensor with at least 1 dim, got a 0-d tensor")
            return apply(sh.diag_embed, self, offset=int(offset), dim1=d1, dim2=d2)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def diag(self: Any, diagonal: int = 0) -> Tensor:
        """A 1-D tensor as a square matrix with it on diagonal ``diagonal``, or a matrix's diagonal."""
        if self.ndim == 1:
            return apply(sh.diag_embed, self, offset=int(diagonal), dim1=0, dim2=1)
        if self.ndim == 2:
            return self.diagonal(diagonal)
        raise ShapeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")

    def trace(self: Any) -> Tensor:
        """The sum of a matrix's main diagonal (torch: 2-D only; integers sum to int64)."""
        try:
            if self.ndim != 2:
                raise ShapeError(f"trace: expected a matrix, but got tensor with dim {self.ndim}")
            if autocast_users[0]:
                (self,) = autocast_function("trace", self)
            if self.dtype.kind == "b":
                raise NotImplementedError("\"trace\" not implemented for 'Bool'")
            return name_node(self.diagonal().sum(), "TraceBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def repeat(self: Any, *sizes: Any, repeats: Any = None) -> Tensor:
        """The tensor tiled ``sizes`` times along each dim (leading new dims for extra sizes);
        ``repeat(repeats=...)`` as torch."""
        if repeats is not None:
            sizes = _star_keyword(sizes, repeats, "repeats", "repeat")
        reps = size_arg(sizes)
        if len(reps) < self.ndim:
            raise ShapeError(
                "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor "
                f"(repeats {reps}, shape {tuple(self.shape)})"
            )
        if any(r < 0 for r in reps):
            raise ShapeError(f"repeat: repeats must be non-negative, got {reps}")
        shape = (1,) * (len(reps) - self.ndim) + tuple(self.shape)
        inter = tuple(v for n in shape for v in (1, n))  # (1, n0, 1, n1, ...): each dim behind its copies
        big = tuple(v for r, n in zip(reps, shape) for v in (r, n))
        out = self.reshape(inter).expand(big).reshape(tuple(r * n for r, n in zip(reps, shape)))
        if out._vbase is not None:  # all repeats 1: torch's repeat still copies
            out = apply(conversion.clone, out)
        return name_node(out, "RepeatBackward0")

    def tile(self: Any, *args: Any, dims: Any = None) -> Tensor:
        """``repeat`` with missing leading repeats taken as 1 (NumPy's tile)."""
        if dims is not None:
            args = _star_keyword(args, dims, "dims", "tile")
        reps = size_arg(args)
        return self.repeat((1,) * (self.ndim - len(reps)) + reps)

    def repeat_interleave(
        self: Any, repeats: Any, dim: Any = None, *, output_size: Any = None, axis: Any = None
    ) -> Tensor:
        """Each element repeated ``repeats`` times along ``dim`` (flattened when None); ``repeats`` an
        int or a 1-D tensor of per-element counts."""
        dim = axis if dim is None else dim
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else wrap_dim(dim, x.ndim, "repeat_interleave")
        if x.ndim == 0:
            x = x.reshape(1)
        n = x.shape[d]
        counts = hasattr(repeats, "grad_fn") or isinstance(repeats, (list, tuple, np.ndarray))
        if counts:
            reps = np.asarray(repeats.detach().cpu().numpy() if hasattr(repeats, "grad_fn") else repeats)
            if reps.dtype.kind not in "iu" or reps.ndim > 1:
                raise ShapeError(f"repeat_interleave: repeats must be an integer 0-d or 1-D tensor, got {reps.dtype}")
            reps = reps.reshape(-1)
            if reps.size == 1:
                reps = np.full(n, int(reps[0]))
            if reps.size != n:
                raise ShapeError(
                    f"repeats must have the same size as input along dim, but got repeats.size(0) = {reps.size} "
                    f"and input.size({d}) = {n}"
                )
        else:
            reps = np.full(n, int(repeats))
        if (reps < 0).any():
            raise ShapeError("repeats can not be negative")
        if output_size is not None and int(reps.sum()) != output_size:
            raise ShapeError(f"repeat_interleave: output_size {output_size} != sum of repeats {int(reps.sum())}")
        if (reps == reps[0]).all() if reps.size else False:  # one count: a broadcast view, no index
            r = int(reps[0])
            shp = x.shape
            out = x.unsqueeze(d + 1).expand(shp[: d + 1] + (r,) + shp[d + 1 :])
            out = out.reshape(shp[:d] + (n * r,) + shp[d + 1 :])
            # (torch's node: an int count expands then flattens, a tensor or list of counts index_selects)
            return name_node(out, "IndexSelectBackward0" if counts else "ViewBackward0")
        index = np.repeat(np.arange(n, dtype=np.int64), reps)
        return name_node(x[(slice(None),) * d + (index,)], "IndexSelectBackward0")

    def unfold(self: Any, dimension: int, size: int, step: int) -> Tensor:
        """Every window of ``size`` elements along ``dimension``, ``step`` apart, as a new last dim."""
        x = self.reshape(1) if self.ndim == 0 else self
        d = wrap_dim(dimension, x.ndim, "unfold")
        n = x.shape[d]
        if size > n:
            raise ShapeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
        if size < 0:
            raise ShapeError(f"size is {size} but must be >= 0")
        if step <= 0:
            raise ShapeError(f"step is {step} but must be > 0")
        st = x.stride()  # a view of the windows (torch's): dim d steps by windows, a new last dim within one
        count = (n - size) // step + 1
        out = apply(
            linalg_ops.as_strided,
            x,
            size=x.shape[:d] + (count,) + x.shape[d + 1 :] + (size,),
            stride=st[:d] + (st[d] * step,) + st[d + 1 :] + (st[d],),
            storage_offset=None,
        )
        return name_node(out.reshape(size) if self.ndim == 0 else out, "UnfoldBackward0")

    def broadcast_to(self: Any, *sizes: Any, size: Any = None) -> Tensor:
        """``expand`` under NumPy's name."""
        return self.expand(*sizes, size=size)

    def tensor_split(
        self: Any,
        indices_or_sections: Any = None,
        dim: int = 0,
        *,
        axis: Any = None,
        sections: Any = None,
        indices: Any = None,
    ) -> tuple[Tensor, ...]:
        """``sections`` nearly equal pieces (the first ``n % sections`` one longer), or pieces cut at ``indices``
        (torch's keywords ``sections=``/``indices=`` name the two overloads)."""
        try:
            indices_or_sections = _one_of(
                "tensor_split", indices_or_sections=indices_or_sections, sections=sections, indices=indices
            )
            dim = dim if axis is None else axis
            if self.ndim == 0:
                raise ShapeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
            d = wrap_dim(dim, self.ndim, "tensor_split")
            n = self.shape[d]
            ios = indices_or_sections
            if hasattr(ios, "grad_fn"):
                ios = ios.tolist()
            elif hasattr(ios, "tolist"):  # a NumPy array or scalar
                ios = ios.tolist()
            if isinstance(ios, int):
                if ios <= 0:
                    raise ShapeError(f"number of sections must be larger than 0, got {ios}")
                q, r = divmod(n, ios)
                bounds = [0]
                for k in range(ios):
                    bounds.append(bounds[-1] + q + (1 if k < r else 0))
            else:
                bounds = [0, *(int(i) + n if int(i) < 0 else int(i) for i in ios), n]  # negatives wrap, as torch
            out = []
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                lo, hi = min(max(lo, 0), n), min(max(hi, 0), n)
                out.append(self[(slice(None),) * d + (slice(lo, max(lo, hi)),)])
            return tuple(out)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def _dsplit(self: Any, sections: Any, dim: int, name: str, min_dims: int) -> tuple[Tensor, ...]:
        if self.ndim < min_dims:
            raise ShapeError(
                f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a tensor with "
                f"{self.ndim} dimensions!"
            )
        if isinstance(sections, int):
            if sections <= 0 or self.shape[dim] % sections:
                raise ShapeError(
                    f"torch.{name} attempted to split along dimension {dim}, but the size of the dimension "
                    f"{self.shape[dim]} is not divisible by the split_size {sections}!"
                )
        return self.tensor_split(sections, dim)

    def hsplit(self: Any, sections: Any = None, *, indices: Any = None) -> tuple[Tensor, ...]:
        """Split along dim 1 (dim 0 for a 1-D tensor); an int must divide the dim."""
        try:
            sections = _one_of("hsplit", sections=sections, indices=indices)
            return self._dsplit(sections, 1 if self.ndim > 1 else 0, "hsplit", 1)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def vsplit(self: Any, sections: Any = None, *, indices: Any = None) -> tuple[Tensor, ...]:
        """Split along dim 0 of a tensor with at least 2 dims."""
        try:
            sections = _one_of("vsplit", sections=sections, indices=indices)
            return self._dsplit(sections, 0, "vsplit", 2)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def dsplit(self: Any, sections: Any = None, *, indices: Any = None) -> tuple[Tensor, ...]:
        """Split along dim 2 of a tensor with at least 3 dims."""
        try:
            sections = _one_of("dsplit", sections=sections, indices=indices)
            return self._dsplit(sections, 2, "dsplit", 3)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    # ------------------------------------------------------------ more of torch's shape methods
    def ravel(self: Any) -> Tensor:
        """The elements as a 1-D tensor (row-major)."""
        try:
            return self.reshape(-1)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def reshape_as(self: Any, other: Any) -> Tensor:
        """``reshape(other.shape)``."""
        try:
            return self.reshape(tuple(other.shape))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def select(self: Any, dim: int, index: Any) -> Tensor:
        """The slice at ``index`` of dim ``dim`` (that dim removed; a view)."""
        if self.ndim == 0:
            raise IndexError("select() cannot be applied to a 0-dim tensor.")
        d = wrap_dim(dim, self.ndim, "select")
        i, n = int(index), self.shape[d]
        if not -n <= i < n:
            raise IndexError(f"select(): index {i} out of range for tensor of size {list(self.shape)} at dimension {d}")
        return self[(slice(None),) * d + (i % n,)]

    def narrow_copy(self: Any, dim: int, start: Any, length: int) -> Tensor:
        """``narrow`` as a copy (no memory shared)."""
        return name_node(apply(conversion.clone, self.narrow(dim, start, length)), "NarrowCopyBackward0")

    def split_with_sizes(self: Any, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces of the given sizes along ``dim`` (they must sum to its length)."""
        d = wrap_dim(dim, self.ndim, "split_with_sizes")
        sizes = [int(s) for s in split_sizes]
        if sum(sizes) != self.shape[d] or any(s < 0 for s in sizes):
            raise ShapeError(
                f"split_with_sizes expects split_sizes to sum exactly to {self.shape[d]} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}"
            )
        return self.split(sizes, d)

    def unsafe_split_with_sizes(self: Any, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """``split_with_sizes`` (torch's unsafe variant skips a view check that does not apply here)."""
        return _pieces(self, self.split_with_sizes(split_sizes, dim), "UnsafeSplitWithSizesBackward0")

    def unsafe_split(self: Any, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """``split`` (torch's unchecked variant; the pieces here are ordinary views)."""
        try:
            return _pieces(self, self.split(split_size, dim), "UnsafeSplitBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def unsafe_chunk(self: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """``chunk`` (torch's unchecked variant)."""
        try:
            return _pieces(self, self.chunk(chunks, dim), "UnsafeSplitBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def rot90(self: Any, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
        """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first towards the second."""
        try:
            dims = tuple(dims)
            if len(dims) != 2:
                raise ShapeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
            if self.ndim < 2:
                raise ShapeError(f"expected total dims >= 2, but got total dims = {self.ndim}")
            d0, d1 = wrap_dim(dims[0], self.ndim, "rot90"), wrap_dim(dims[1], self.ndim, "rot90")
            if d0 == d1:
                raise ShapeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
            k = int(k) % 4
            if k == 1:
                out = self.flip(d1).transpose(d0, d1)
            elif k == 2:
                out = self.flip(d0, d1)
            elif k == 3:
                out = self.flip(d0).transpose(d0, d1)
            else:
                out = apply(conversion.clone, self)
            return name_node(out, "Rot90Backward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def diagflat(self: Any, offset: int = 0) -> Tensor:
        """The flattened tensor on diagonal ``offset`` of a square matrix, zeros elsewhere."""
        try:
            return self.reshape(-1).diag(offset)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    # ------------------------------------------------------------ in place: the tensor takes a new shape
    def squeeze_(self: Any, dim: Any = None) -> Tensor:
        return _become(self, self.squeeze(dim), "squeeze_")

    def unsqueeze_(self: Any, dim: int) -> Tensor:
        return _become(self, self.unsqueeze(dim), "unsqueeze_")

    def t_(self: Any) -> Tensor:
        return _become(self, self.t(), "t_")

    def transpose_(self: Any, dim0: int, dim1: int) -> Tensor:
        return _become(self, self.transpose(dim0, dim1), "transpose_")

    def swapaxes_(self: Any, axis0: int, axis1: int) -> Tensor:
        return _become(self, self.transpose(axis0, axis1), "swapaxes_")

    def swapdims_(self: Any, dim0: int, dim1: int) -> Tensor:
        return _become(self, self.transpose(dim0, dim1), "swapdims_")

    def resize_(self: Any, *sizes: Any, memory_format: Any = None, size: Any = None) -> Tensor:
        """Give this tensor the shape ``sizes``, keeping its leading elements in row-major order (new
        elements are zeros here; torch leaves them uninitialised). Not for tensors that require grad."""
        if self._requires_grad:
            raise RuntimeError("cannot resize variables that require grad")
        if trace_users[0] and (tr := trace.tracer()) is not None:
            tr.fail("resize_() changes a tensor's shape and memory inside the step")
        if size is not None:
            sizes = _star_keyword(sizes, size, "size", "resize_")
        shape = size_arg(sizes)
        if any(n < 0 for n in shape):
            raise RuntimeError(f"resize_: Trying to create tensor with negative dimension: {list(shape)}")
        n = int(np.prod(shape))
        flat = self._data.reshape(-1)
        if n <= flat.shape[0]:
            data = flat[:n].reshape(shape)
        else:
            data = self.device.xp.zeros(n, dtype=self.dtype)
            data[: flat.shape[0]] = flat
            data = data.reshape(shape)
        self._data = data
        bump_version(self)
        return self

    def resize_as_(self: Any, other: Any = None, memory_format: Any = None, *, the_template: Any = None) -> Tensor:
        """``resize_(other.shape)`` (torch names the argument ``the_template``)."""
        try:
            other = _one_of("resize_as_", other=other, the_template=the_template)
            return self.resize_(tuple(other.shape))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def tril_(self: Any, diagonal: int = 0) -> Tensor:
        return apply_(sh.tril, "tril_", self, diagonal=int(diagonal))

    def triu_(self: Any, diagonal: int = 0) -> Tensor:
        return apply_(sh.triu, "triu_", self, diagonal=int(diagonal))

    # ------------------------------------------------------------ strided views of memory
    def as_strided(self: Any, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
        """A view of this tensor's memory with ``size`` and ``stride`` (in elements) starting ``storage_offset``
        elements into the allocation (default: where this tensor starts), as torch's; its gradient adds
        up where output elements share memory."""
        size, stride = _geometry(self, size, stride, storage_offset)
        off = None if storage_offset is None else int(storage_offset)
        return apply(linalg_ops.as_strided, self, size=size, stride=stride, storage_offset=off)

    def as_strided_(self: Any, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
        """``as_strided`` in place: this tensor becomes that view of its own memory."""
        return _become(self, self.as_strided(size, stride, storage_offset), "as_strided_")

    def as_strided_scatter(
        self: Any, src: Any, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None
    ) -> Tensor:
        """A copy of this tensor with ``src`` written where ``as_strided(size, stride, storage_offset)`` of the
        copy reads (positions in the copy's row-major order, offset 0 by default); differentiable in both."""
        size, stride = _geometry(self, size, stride, storage_offset)
        if not hasattr(src, "grad_fn"):
            raise TypeError(f"as_strided_scatter(): argument 'src' must be Tensor, not {type(src).__name__}")
        if tuple(src.shape) != size:
            raise ShapeError(
                f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, slice size = "
                f"{list(size)}"
            )
        flat = self.reshape(-1)
        off = 0 if storage_offset is None else int(storage_offset)
        linalg_ops.strided_view(np, np.empty(flat.shape[0], np.int8), size, stride, off)  # torch's bounds check
        where = self._plain._of(linalg_ops._positions(np, size, stride, off).reshape(-1), device=self.device)
        out = flat.index_put((where,), src.reshape(-1).to(self.dtype)).reshape(self.shape)
        return name_node(out, "AsStridedScatterBackward0")

    def __iter__(self: Any) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))


def _star_keyword(star: tuple[Any, ...], value: Any, name: str, fn: str) -> tuple[Any, ...]:
    """The sizes of a ``*sizes`` method called with torch's keyword instead (``x.view(size=(2, 3))``)."""
    if star:
        raise TypeError(f"{fn}() got multiple values for argument '{name}'")
    return (value,)


def _one_of(fn: str, **named: Any) -> Any:
    """The one of several alternative keywords (torch's overloads' names) that was given."""
    given = [(k, v) for k, v in named.items() if v is not None]
    if len(given) != 1:
        raise TypeError(f"{fn}() takes exactly one of {', '.join(named)}; got {[k for k, _ in given] or 'none'}")
    return given[0][1]


def _geometry(self: Any, size: Any, stride: Any, storage_offset: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(size, stride)`` as int tuples, with torch's errors for a mismatch or negative values."""
    if not hasattr(self, "grad_fn"):
        raise TypeError(f"as_strided(): argument 'input' must be Tensor, not {type(self).__name__}")
    size, stride = tuple(int(n) for n in size_arg((size,))), tuple(int(s) for s in size_arg((stride,)))
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape: {len(size)} sizes and {len(stride)} strides")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: {list(stride)}")
    if any(n < 0 for n in size):
        raise RuntimeError(f"as_strided: Trying to create tensor with negative dimension: {list(size)}")
    if storage_offset is not None and int(storage_offset) < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {int(storage_offset)}")
    return size, stride


def _become(self: Any, out: Any, name: str) -> Any:
    """``self`` takes ``out``'s array and graph node: an in-place change of shape (``t_``,
    ``squeeze_``, ...), where ``out`` is a view of ``self`` (torch: metadata only, same memory)."""
    check_inplace(name, self)  # a leaf that requires grad refuses, as torch
    if trace_users[0] and (tr := trace.tracer()) is not None:
        tr.fail(f"{name}() changes a tensor's shape in place inside the step; use the out-of-place {name[:-1]}()")
    named = out.grad_fn.name() if out.grad_fn is not None else ""
    if named[:-1] in _INPLACE_OVERLOAD:  # torch's in-place overload's node: ``TBackward1``, ``SqueezeBackward3``
        name_node(out, named[:-1] + str(int(named[-1]) + _INPLACE_OVERLOAD[named[:-1]]))
    self._data, self.grad_fn, self._requires_grad = out._data, out.grad_fn, out._requires_grad
    bump_version(self)  # (a change of metadata only, which torch counts as a write, as ``resize_``)
    return self


_INPLACE_OVERLOAD = {
    "TBackward": 1,
    "TransposeBackward": 1,
    "UnsqueezeBackward": 1,
    "AsStridedBackward": 1,
    "SqueezeBackward": 3,
}


# ---------------------------------------------------------------- functions of several tensors (bp.block_diag, ...)
def _common(tensors: Sequence[Any], name: str) -> list[Any]:
    """The tensors cast to their common dtype (torch's promotion)."""
    for i, t in enumerate(tensors):
        if not hasattr(t, "grad_fn"):
            raise TypeError(f"{name}(): expected Tensors, but argument {i} is {type(t).__name__}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype != dt:
            dt = dtypes.promote_types(np.empty(1, dt), t)
    return [t if t.dtype == dt else t.to(dt) for t in tensors]


def _pieces(x: Any, pieces: tuple[Any, ...], name: str) -> tuple[Any, ...]:
    """``pieces`` (of ``x``, by an unsafe split) named ``name`` as torch's one node; ``x`` itself is left alone."""
    return tuple(p if p is x else name_node(p, name) for p in pieces)


def block_diag(*tensors: Any) -> Tensor:
    """The (at most 2-D) tensors on the diagonal of one block matrix, zeros elsewhere (0-d: 1x1,
    1-D: one row); dtypes promote."""
    if not tensors:
        raise ValueError("block_diag(): expected at least one tensor (torch returns an empty (1, 0) tensor)")
    mats = []
    for i, t in enumerate(_common(list(tensors), "block_diag")):
        if t.ndim > 2:
            raise ShapeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {t.ndim}")
        mats.append(t.reshape(1, -1) if t.ndim < 2 else t)
    width = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        r, c = m.shape
        parts = [p for p in (m.new_zeros(r, left), m, m.new_zeros(r, width - left - c)) if p.shape[1] or p is m]
        rows.append(apply(sh.cat, *parts, axis=1) if len(parts) > 1 else m)
        left += c
    out = apply(sh.cat, *rows, axis=0) if len(rows) > 1 else rows[0]
    return out if any(out is t for t in tensors) else name_node(out, "BlockDiagBackward0")  # (not an input's node)


def cartesian_prod(*tensors: Any) -> Tensor:
    """Every combination of one element from each 1-D tensor, one per row (k tensors: (N, k)); one
    tensor is returned as it is, as torch."""
    given = list(tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors)
    if not given:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    ts = _common(given, "cartesian_prod")
    for t in ts:
        if t.ndim != 1:
            raise ShapeError(f"cartesian_prod expects 1D tensors, but got a tensor of shape {tuple(t.shape)}")
    if len(ts) == 1:
        return ts[0]
    shape = tuple(t.shape[0] for t in ts)
    cols = [
        t.reshape(tuple(n if j == i else 1 for j, n in enumerate(shape))).expand(shape).reshape(-1)
        for i, t in enumerate(ts)
    ]
    return apply(sh.stack, *cols, axis=1)


def combinations(input: Any, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of a 1-D tensor's elements, one per row (itertools' order);
    ``with_replacement`` allows repeats. The gradient adds up over the rows an element appears in."""
    if input.ndim != 1:
        raise ShapeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise ShapeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return input[:0]
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    index = np.array(list(pick(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return input[index]


def _viewable(a: Any, shape: tuple[int, ...]) -> bool:
    """Whether ``a`` (any backend's array) can take ``shape`` without a copy: NumPy decides from the
    strides alone, on a stand-in with ``a``'s shape and strides (no data is read)."""
    if a.flags.c_contiguous:
        return True
    stand_in = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=a.dtype), a.shape, a.strides)
    try:
        np.reshape(stand_in, shape, copy=False)
    except ValueError:
        return False
    except TypeError:  # NumPy before 2.1 has no copy=: allow, as before
        return True
    return True


def broadcast_shapes(*shapes: Any) -> Size:
    """The shape tensors of ``shapes`` would broadcast to (an int is a 1-D shape), as a ``bp.Size``."""
    given = [(s,) if isinstance(s, int) else tuple(int(n) for n in s) for s in shapes]
    try:
        return Size(np.broadcast_shapes(*given))
    except ValueError:
        raise ShapeError(f"Shape mismatch: objects cannot be broadcast to a single shape: {given}") from None


def check_matrices(x: Any, name: str) -> None:
    """torch's refusal of ``x.mT``/``mH``/``adjoint()`` for a 1-D ``x`` (0-d tensors are their own)."""
    if x._data.ndim == 1:
        raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of matrices. Got 1-D tensor.")
