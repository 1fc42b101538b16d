"""The rest of torch's Tensor methods an ordinary user reaches for: storages and ``set_``, ``as_subclass``,
``output_nr``/``name``, the deprecated out-of-place ``resize``/``resize_as``, ``igamma``/``igammac``,
``histogram``, ``map2_``, ``nonzero_static``, ``dim_order``, and the removed linear-algebra methods
(``solve``, ``lstsq``, ``eig``, ``symeig``), which raise torch 2's errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd import trace
from backprop.autograd.function import apply_, bump_version, check_inplace, not_a_tensor_here
from backprop.autograd.grad_mode import trace_users
from backprop.methods import signal as _signal
from backprop.methods import structseqs as rt
from backprop.methods.storage import TypedStorage, UntypedStorage, address, owner, typed_storage
from backprop.methods.structseqs import Histogram  # noqa: F401 - re-exported (bp.Histogram)
from backprop.ops import fft as _fft_ops
from backprop.ops._histogram import histogram_edges
from backprop.ops._linspace import fused_linspace, half_linspace
from backprop.ops._util import size_arg

if TYPE_CHECKING:
    from backprop.tensor import Tensor

_REMOVED = "This function was deprecated since version 1.9 and is now removed."
REMOVED_MESSAGES = {
    "solve": (
        f"{_REMOVED} `torch.solve` is deprecated in favor of `torch.linalg.solve`. `torch.linalg.solve` has its "
        "arguments reversed and does not return the LU factorization.\n\nTo get the LU factorization see "
        "`torch.lu`, which can be used with `torch.lu_solve` or `torch.lu_unpack`.\nX = torch.solve(B, A).solution "
        "should be replaced with:\nX = torch.linalg.solve(A, B)"
    ),
    "lstsq": (
        f"{_REMOVED} `torch.lstsq` is deprecated in favor of `torch.linalg.lstsq`.\n`torch.linalg.lstsq` has "
        "reversed arguments and does not return the QR decomposition in the returned tuple (although it returns "
        "other information about the problem).\n\nTo get the QR decomposition consider using `torch.linalg.qr`."
        "\n\nThe returned solution in `torch.lstsq` stored the residuals of the solution in the last m - n columns "
        "of the returned value whenever m > n. In torch.linalg.lstsq, the residuals are in the field 'residuals' "
        "of the returned named tuple.\n\nThe unpacking of the solution, as in\nX, _ = torch.lstsq(B, A).solution"
        "[:A.size(1)]\nshould be replaced with:\nX = torch.linalg.lstsq(A, B).solution"
    ),
    "eig": (
        f"{_REMOVED} `torch.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` rather than real "
        "tensors mimicking complex tensors.\n\nL, _ = torch.eig(A) should be replaced with:\nL_complex = "
        "torch.linalg.eigvals(A)\n\nand\n\nL, V = torch.eig(A, eigenvectors=True) should be replaced with:\n"
        "L_complex, V_complex = torch.linalg.eig(A)"
    ),
    "symeig": (
        f"{_REMOVED} The default behavior has changed from using the upper triangular portion of the matrix by "
        "default to using the lower triangular portion.\n\nL, _ = torch.symeig(A, upper=upper) should be replaced "
        "with:\nL = torch.linalg.eigvalsh(A, UPLO='U' if upper else 'L')\n\nand\n\nL, V = torch.symeig(A, "
        "eigenvectors=True) should be replaced with:\nL, V = torch.linalg.eigh(A, UPLO='U' if upper else 'L')"
    ),
    "matrix_rank": (
        f"{_REMOVED}\nPlease use the `torch.linalg.matrix_rank` function instead. The parameter 'symmetric' was "
        "renamed in `torch.linalg.matrix_rank()` to 'hermitian'."
    ),
}


def removed(name: str) -> Callable[..., Any]:
    """A function standing for one torch 2 removed: it raises torch's RuntimeError naming the replacement."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(REMOVED_MESSAGES[name])

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Removed from torch in 2.0: raises torch's RuntimeError saying what replaces ``{name}``."
    return fn


class ExtraMethods:
    """Storages, ``set_``, ``as_subclass``, ``igamma``, ``nonzero_static``, ``dim_order``, ... (torch's names)."""

    __slots__ = ()

    stft = _signal.stft  # short-time Fourier transforms (backprop/methods/signal.py)
    istft = _signal.istft

    # ------------------------------------------------------------ storages and memory identity
    def untyped_storage(self: Any) -> UntypedStorage:
        """The bytes of the allocation this tensor views (shared by all its views)."""
        return UntypedStorage(self._data, self.device)

    def storage(self: Any) -> TypedStorage:
        """The allocation as elements of this dtype (torch's deprecated TypedStorage; warns as torch)."""
        return typed_storage(self._data, self.device, self._data.dtype)

    def storage_type(self: Any) -> type:
        """The legacy tensor type of this dtype (torch returns its ``FloatStorage`` ... class)."""
        return type(self.storage())

    def const_data_ptr(self: Any) -> int:
        """The address of the first element (``data_ptr()``, for read-only use)."""
        return address(self._data)

    def is_set_to(self: Any, tensor: Tensor) -> bool:
        """True when both tensors view the same memory with the same offset, sizes and strides."""
        try:
            a, b = self._data, tensor._data
            return bool(
                owner(a) is owner(b) and address(a) == address(b) and a.shape == b.shape and a.strides == b.strides
            )
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def set_(self: Any, source: Any = None, storage_offset: int = 0, size: Any = None, stride: Any = None) -> Tensor:
        """Make this tensor view ``source``'s memory: another tensor (its sizes and strides), a storage (with
        ``storage_offset``, ``size`` and ``stride`` in elements), or nothing (an empty tensor)."""
        check_inplace("set_", self)
        if trace_users[0] and (tr := trace.tracer()) is not None:
            tr.fail("set_() changes a tensor's memory inside the step")
        xp = self.device.xp
        if source is None:
            data = xp.zeros((0,), dtype=self._data.dtype)
        elif hasattr(source, "_data"):
            if source.device != self.device or source._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"set_: expected a source of dtype {self._data.dtype} on {self.device}, "
                    f"got {source._data.dtype} on {source.device}"
                )
            data = source._data
        elif isinstance(source, UntypedStorage):
            data = _strided(self, source, int(storage_offset), size, stride)
        else:
            raise TypeError(f"set_(): expected a Tensor or a storage as source, got {type(source).__name__}")
        self._data = data
        bump_version(self)
        return self

    # ------------------------------------------------------------ identity and autograd metadata
    def as_subclass(self: Any, cls: type) -> Tensor:
        """This tensor as an instance of ``cls`` (a Tensor subclass): same memory, same place in the graph."""
        if not (isinstance(cls, type) and issubclass(cls, self._plain)):
            raise TypeError(
                "Creating a Tensor subclass from a class that does not inherit from Tensor is not possible. "
                "Make sure your class inherits from Tensor."
            )
        alias = self.view(tuple(self.shape))
        out: Any = object.__new__(cls)
        for slot in ("_data", "device", "_grad", "grad_fn", "_requires_grad", "_vc", "_vbase", "_hooks"):
            setattr(out, slot, getattr(alias, slot))
        return out

    @property
    def output_nr(self: Any) -> int:
        """Which output of its ``grad_fn`` this tensor is: 0 (every recorded op here has one output)."""
        return 0

    @property
    def name(self: Any) -> None:
        """None: named tensors are not supported (torch's unnamed tensors say the same)."""
        return None

    def resize(self: Any, *sizes: Any) -> Tensor:
        """Deprecated out-of-place resize: a reshape to ``sizes`` of the same number of elements (torch's)."""
        warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=2)
        return _resized(self, size_arg(sizes), "resize")

    def resize_as(self: Any, tensor: Tensor) -> Tensor:
        """Deprecated out-of-place ``resize_as``: a reshape to ``tensor``'s shape of the same number of elements."""
        warnings.warn("non-inplace resize_as is deprecated", UserWarning, stacklevel=2)
        return _resized(self, tuple(tensor.shape), "resize_as")

    def module_load(self: Any, other: Tensor, assign: bool = False) -> Tensor:
        """How ``load_state_dict`` loads ``other`` into this parameter: ``other.detach()`` when ``assign``,
        else a copy into this tensor, detached."""
        return other.detach() if assign else self.copy_(other).detach()

    # ------------------------------------------------------------ device predicates torch has
    is_mps = is_maia = is_vulkan = is_xla = is_ipu = is_xpu = is_mtia = is_sparse_csr = property(lambda self: False)

    def is_distributed(self: Any) -> bool:
        return False

    def record_stream(self: Any, s: Any) -> None:
        """A no-op: CuPy's memory pool keeps a block until every stream that used it is done with it."""

    # ------------------------------------------------------------ math
    def igamma(self: Any, other: Tensor) -> Tensor:
        """The regularised lower incomplete gamma function P(self, other) (``bp.special.gammainc``)."""
        from backprop.methods.special import gammainc

        return gammainc(self, other)

    def igammac(self: Any, other: Tensor) -> Tensor:
        """The regularised upper incomplete gamma function Q(self, other) (``bp.special.gammaincc``)."""
        from backprop.methods.special import gammaincc

        return gammaincc(self, other)

    def igamma_(self: Any, other: Tensor) -> Tensor:
        return _assign(self, "igamma_", self.igamma(other))

    def igammac_(self: Any, other: Tensor) -> Tensor:
        return _assign(self, "igammac_", self.igammac(other))

    def conj_physical(self: Any) -> Tensor:
        """The conjugate, computed: the tensor itself for real dtypes (as torch)."""
        return self.conj()

    def conj_physical_(self: Any) -> Tensor:
        """The conjugate written into this tensor (nothing to do for real dtypes); returns it, as torch."""
        try:
            if dtypes.kind(self._data.dtype) == "c":
                return apply_(_fft_ops.conj, "conj_physical_", self)
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    # ------------------------------------------------------------ devices backprop has no backend for
    def xpu(self: Any, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
        """Raises torch's error: there is no XPU backend (see ``bp.xpu``)."""
        raise AssertionError("Torch not compiled with XPU enabled")

    def mtia(self: Any, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
        """Raises torch's error: there is no MTIA backend (see ``bp.mtia``)."""
        raise AssertionError("Torch not compiled with MTIA enabled")

    def ipu(self: Any, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
        """Raises torch's error: there is no IPU backend."""
        raise RuntimeError("PyTorch is not linked with support for ipu devices")

    # ------------------------------------------------------------ a dense tensor asked sparse questions
    def sparse_dim(self: Any) -> int:
        """0: a dense tensor has no sparse dimensions (torch's answer)."""
        return 0

    def dense_dim(self: Any) -> int:
        """Every dimension of a dense tensor is dense (torch's answer: ``dim()``)."""
        return self.ndim

    def is_coalesced(self: Any) -> bool:
        raise RuntimeError("is_coalesced expected sparse coordinate tensor layout but got Strided")

    def coalesce(self: Any) -> Tensor:
        raise RuntimeError("coalesce expected sparse coordinate tensor layout but got Strided")

    def indices(self: Any) -> Tensor:
        raise RuntimeError("indices expected sparse coordinate tensor layout but got Strided")

    def values(self: Any) -> Tensor:
        raise RuntimeError("values expected sparse tensor layout but got Strided")

    @property
    def volatile(self: Any) -> bool:
        """Always False, with torch's warning: ``volatile`` was removed (use ``no_grad``)."""
        warnings.warn("volatile was removed (Variable.volatile is always False)", UserWarning, stacklevel=2)
        return False

    @volatile.setter
    def volatile(self: Any, value: Any) -> None:
        warnings.warn(
            "volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
            UserWarning,
            stacklevel=2,
        )

    def chalf(self: Any, memory_format: Any = None) -> Tensor:
        raise TypeError(
            f"chalf(): complex32 (ComplexHalf) is not supported: NumPy and CuPy have no such dtype; the tensor is "
            f"{self._data.dtype}, use cfloat() for complex64"
        )

    def histogram(self: Any, bins: Any = 100, *, range: Any = None, weight: Any = None, density: bool = False) -> Any:
        """``(hist, bin_edges)``: counts (or summed ``weight``; ``density``: normalised) of the values in ``bins``
        equal bins over ``range`` (default the data's), or between given edges (a 1-D tensor); both in this
        floating dtype (computed on the host, no gradient)."""
        if dtypes.kind(self._data.dtype) != "f":
            raise RuntimeError(f"torch.histogram: expected a floating input, got {self._data.dtype}")
        x = self.detach().cpu().numpy().reshape(-1)
        if hasattr(bins, "_data") and bins.dtype != self._data.dtype:
            raise RuntimeError(
                f"torch.histogram: input tensor and bins tensors should have the same dtype, but got input with "
                f"dtype {self._data.dtype} and bins with dtype {bins.dtype}"
            )
        b = bins.detach().cpu().numpy() if hasattr(bins, "_data") else int(bins)
        w = None if weight is None else weight.detach().cpu().numpy().reshape(-1)
        if not isinstance(b, int) and b.ndim == 1 and bool((np.diff(b) < 0).any()):  # edges in any order: torch's
            hist, (edges,) = histogram_edges(x.reshape(-1, 1), [b], w, density)  # search (NumPy's would refuse)
        elif isinstance(b, int) and b > 0 and x.dtype.kind == "f":
            hist, edges = _equal_bins(x, b, range, w, density)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # density of no points: NaN, without a warning
                hist, edges = np.histogram(x, b, range=range, weights=w, density=density)
        wrap = self._plain._of
        return rt.histogram(*(wrap(a.astype(self._data.dtype), device=self.device) for a in (hist, edges)))

    def map2_(self: Any, x: Tensor, y: Tensor, callable: Callable[[Any, Any, Any], Any]) -> Tensor:
        """Replace each element by ``callable(element, x_element, y_element)`` in place (CPU, slow)."""
        return self._map_in_place("map2_", callable, x._data, y._data)

    def nonzero_static(self: Any, *, size: int, fill_value: int = -1) -> Tensor:
        """``nonzero()`` with exactly ``size`` rows: truncated, or padded with ``fill_value`` (int64)."""
        size = int(size)
        if size < 0:
            raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, got {size}")
        found = self.detach().nonzero()._data
        n, xp = int(found.shape[0]), self.device.xp
        if n < size:
            pad = xp.full((size - n, found.shape[1]), int(fill_value), dtype=found.dtype)
            found = xp.concatenate([found, pad])
        return self._plain._wrap(found[:size], self.device, None)

    def dim_order(self: Any, *, ambiguity_check: Any = False) -> tuple[int, ...]:
        """torch's dims from outermost to innermost in memory (its stride sort, see ``_physical_order``);
        ``ambiguity_check=True`` refuses a tensor with several such orders (equal strides, a size-1 dim), a list of
        memory formats accepts one when it is contiguous in exactly one of them."""
        from backprop.methods.attributes import MemoryFormat, channels_last  # (attributes imports this module)

        if self.is_sparse:
            raise AttributeError(
                f"Can't get dim order on sparse type: {self.type()} Use Tensor.to_dense() to convert to a dense "
                "tensor first."
            )
        if not isinstance(ambiguity_check, bool) and not (
            isinstance(ambiguity_check, list) and all(isinstance(f, MemoryFormat) for f in ambiguity_check)
        ):
            raise TypeError("The ambiguity_check argument must be a bool or a list of memory formats.")
        sizes, strides = tuple(self.shape), tuple(self.stride())
        formats = ambiguity_check if isinstance(ambiguity_check, list) else []
        several = any(a == b for a, b in zip(strides, strides[1:])) or 1 in sizes
        if (ambiguity_check is True or isinstance(ambiguity_check, list)) and several:
            if sum(bool(self.is_contiguous(memory_format=f)) for f in formats) != 1:
                raise RuntimeError(
                    "The tensor does not have unique dim order, or cannot map to exact one of the given memory formats."
                )
        if self.ndim <= 1:
            return tuple(range(self.ndim))
        contiguous, last = self.is_contiguous(), self.ndim == 4 and self.is_contiguous(memory_format=channels_last)
        if contiguous and not last:
            return tuple(range(self.ndim))
        if last and not contiguous:
            return (0, *range(2, self.ndim), 1)
        perm, ambiguous = _physical_order(sizes, strides, bool(ambiguity_check))
        if ambiguous:
            raise RuntimeError("The tensor does not have unique dim order.")
        return perm

    # ------------------------------------------------------------ removed in torch 2
    solve = removed("solve")
    lstsq = removed("lstsq")
    eig = removed("eig")
    symeig = removed("symeig")


def _physical_order(sizes: tuple[int, ...], strides: tuple[int, ...], check: bool) -> tuple[tuple[int, ...], bool]:
    """torch's ``compute_elementwise_output_logical_to_physical_perm`` for one tensor: an insertion sort of the dims,
    innermost first, by stride (zero strides never compare; equal strides put the longer dim outside), and whether
    some neighbouring pair is left unordered (what ``ambiguity_check`` refuses)."""

    def ge(a: int, b: int) -> bool:
        return b == 0 or (a != 0 and (a >= b or a % b == 0))

    def should_swap(a: int, b: int) -> int:
        sa, sb = strides[a], strides[b]
        if sa == 0 or sb == 0:
            return 0
        if sa == sb:
            return 0 if ge(sizes[b], sizes[a]) else 1
        return -1 if ge(sb, sa) else 1 if ge(sa, sb) else 0

    perm = list(reversed(range(len(sizes))))
    for i in range(1, len(perm)):
        d1 = i
        for d0 in reversed(range(i)):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    ambiguous = check and any(should_swap(perm[i], perm[i + 1]) != -1 for i in range(len(perm) - 1))
    return tuple(reversed(perm)), ambiguous


def _equal_bins(x: Any, bins: int, range: Any, w: Any, density: bool) -> tuple[Any, Any]:
    """torch's CPU ``histogram`` with a bin count: edges ``linspace(lo, hi, bins + 1)`` in the input's dtype (lo/hi
    the range or the data's extremes, widened by 0.5 each way when equal), each value counted in the bin whose edges
    hold it (the last bin closed), weights added in input order, ``density`` as ``hist / hist.sum() / widths``
    (a weighted sum in NumPy's order: an ulp from torch's in places). NumPy's float64 edges were an ulp from
    torch's, and so were its counts at the edges."""
    dt = x.dtype
    if range is not None:
        lo, hi = float(range[0]), float(range[1])
    else:
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)  # (torch's [0, 1] for no data)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histogramdd: dimension 0's range [{lo:g}, {hi:g}] is not finite")
    if lo > hi:
        raise RuntimeError(
            f"torch.histogramdd: min should not exceed max, but got min {lo:g} max {hi:g} for dimension 0"
        )
    edges = fused_linspace(lo, hi, bins + 1, dt) if dt.itemsize > 2 else half_linspace(lo, hi, bins + 1, dt)
    edges = np.asarray(edges, dtype=dt)
    keep = (x >= edges[0]) & (x <= edges[-1])
    pos = np.searchsorted(edges, x[keep], side="right") - 1
    pos[pos == bins] = bins - 1
    hist = np.zeros(bins, dtype=dt)
    np.add.at(hist, pos, np.ones(1, dt) if w is None else w[keep].astype(dt))
    if density:
        with np.errstate(divide="ignore", invalid="ignore"):  # (no points: NaN, as torch)
            hist = hist / hist.sum(dtype=dt) / np.diff(edges)
    return hist, edges


def _assign(self: Any, name: str, out: Any) -> Any:
    from backprop.methods.math import _assign_

    if out.dtype != self.dtype:
        raise RuntimeError(f"{name}: result type {out.dtype} can't be cast to the desired output type {self.dtype}")
    if check_inplace(name, self, out):
        return _assign_(self, out)
    self._data[...] = out._data
    bump_version(self)
    return self


def _resized(self: Any, shape: tuple[int, ...], name: str) -> Any:
    n = int(np.prod(shape))
    if n != self.numel():
        raise RuntimeError(
            f"requested resize to {'x'.join(map(str, shape))} ({n} elements in total), but the given tensor has a "
            f"size of {'x'.join(map(str, self.shape))} ({self.numel()} elements). autograd's {name} can only change "
            "the shape of a given tensor, while preserving the number of elements."
        )
    return self.contiguous().view(shape)


def _strided(self: Any, storage: UntypedStorage, offset: int, size: Any, stride: Any) -> Any:
    """A view of ``storage``'s memory as this tensor's dtype: ``size``/``stride`` in elements from ``offset``."""
    dt = self._data.dtype
    flat = storage._bytes()
    usable = (flat.shape[0] // dt.itemsize) * dt.itemsize
    elements = flat[:usable].view(dt)
    if size is None:
        shape: tuple[int, ...] = (elements.shape[0] - offset,)
    else:
        shape = tuple(int(s) for s in size)
    if stride is None:
        steps = [1] * len(shape)
        for i in range(len(shape) - 2, -1, -1):
            steps[i] = steps[i + 1] * max(shape[i + 1], 1)
    else:
        steps = [int(s) for s in stride]
    last = offset + sum((n - 1) * s for n, s in zip(shape, steps) if n > 0)
    if offset < 0 or (all(n > 0 for n in shape) and last >= elements.shape[0]):
        raise RuntimeError(
            f"set_: size {list(shape)} with stride {steps} from offset {offset} is out of bounds for a storage of "
            f"{elements.shape[0]} elements of {dt}"
        )
    xp = self.device.xp
    return xp.lib.stride_tricks.as_strided(elements[offset:], shape, tuple(s * dt.itemsize for s in steps))
