"""What a tensor is rather than what it computes (torch's names): dtype and device predicates,
memory layout (strides in elements, byte sizes, data pointers), the conjugate/negative-bit views
that are no-ops on real tensors, more ``.to(dtype)`` shorthands, and leaf-hook registration."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backprop import dtypes
from backprop.autograd import hooks
from backprop.autograd.function import apply, bump_version, check_inplace, not_a_tensor_here
from backprop.methods.extra import ExtraMethods
from backprop.methods.shape import check_matrices
from backprop.ops import fft as fft_ops

if TYPE_CHECKING:
    from backprop.tensor import Tensor


class Layout:
    """A tensor's memory layout; every backprop tensor is dense and strided (``bp.strided``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


strided = Layout("strided")


class MemoryFormat:
    """torch's memory formats (``bp.channels_last`` ...): accepted wherever torch takes ``memory_format``;
    tensors here stay in NumPy's C order, so asking for channels-last changes no layout (see the README)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


contiguous_format = MemoryFormat("contiguous_format")
preserve_format = MemoryFormat("preserve_format")
channels_last = MemoryFormat("channels_last")
channels_last_3d = MemoryFormat("channels_last_3d")


def _base_array(a: Any) -> Any:
    while getattr(a, "base", None) is not None and hasattr(a.base, "strides"):
        a = a.base
    return a


def _unit_dim_strides(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, ...]:
    """torch's strides for the size-1 dims that NumPy gives stride 0 (``x[None]``, ``broadcast_to`` a new
    dim of size 1): torch's ``unsqueeze`` rule, the next dim's size times its stride (1 for the last dim).
    A size-1 dim's stride never moves an address, so only the reported numbers change."""
    out = list(strides)
    for i in range(len(shape) - 1, -1, -1):
        if shape[i] == 1 and out[i] == 0:
            out[i] = shape[i + 1] * out[i + 1] if i + 1 < len(shape) else 1
    return tuple(out)


def _address(a: Any) -> int:
    """The address of an array's first element (NumPy and CuPy; NumPy's from ``__array_interface__``: ``a.data``
    is a buffer export, which ml_dtypes' bfloat16 and float8 refuse)."""
    iface = getattr(a, "__array_interface__", None)
    return int(iface["data"][0]) if iface is not None else int(a.data.ptr)


# set by ``backprop.sparse`` when it loads (this layer cannot import it): dense -> sparse COO, and
# (tensor, layout, dense_dim) -> sparse CSR/CSC
TO_SPARSE: list[Any] = [None]
TO_COMPRESSED: list[Any] = [None]
TO_BLOCK: list[Any] = [None]  # (tensor, layout, blocksize) -> BSR/BSC: backprop.sparse._block.to_block
SPARSE_MASK: list[Any] = [None]  # (tensor, sparse mask) -> sparse tensor: backprop.sparse._leftovers.sparse_mask


class AttributeMethods(ExtraMethods):
    """Predicates, layout queries and conversions of ``Tensor`` that run no op (and, inherited, the rest of
    torch's methods: storages, ``set_``, ``as_subclass``, ... in ``backprop.methods.extra``)."""

    # ------------------------------------------------------------ dtype and device predicates
    def is_floating_point(self: Any) -> bool:
        """True for float16/32/64 tensors."""
        try:
            return bool(dtypes.kind(self._data.dtype) == "f")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def is_complex(self: Any) -> bool:
        """True for complex64/complex128 tensors (torch.is_complex)."""
        try:
            return bool(dtypes.kind(self._data.dtype) == "c")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def is_signed(self: Any) -> bool:
        """False for unsigned integers and bool, as torch."""
        try:
            return bool(dtypes.kind(self._data.dtype) in "ifc")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    @property
    def is_cuda(self: Any) -> bool:
        return bool(self.device.type == "cuda")

    @property
    def is_cpu(self: Any) -> bool:
        return bool(self.device.type == "cpu")

    @property
    def is_meta(self: Any) -> bool:
        """Whether this tensor lives on the "meta" device (a shape and a dtype, no values)."""
        return bool(self.device.type == "meta")

    is_sparse = is_quantized = is_nested = is_mkldnn = property(lambda self: False)

    def dequantize(self: Any) -> Any:
        """A non-quantized tensor as float32: itself when it is float32 (torch's ``Tensor.dequantize``)."""
        return self if self.dtype == dtypes.float32 else self.float()

    def to_dense(self: Any, dtype: Any = None, *, masked_grad: bool | None = None) -> Tensor:
        """A dense tensor: this one (a sparse tensor converts itself)."""
        return self if dtype is None else self.to(dtype)

    def to_sparse(
        self: Any, sparse_dim: int | None = None, *, layout: Any = None, blocksize: Any = None, dense_dim: Any = None
    ) -> Any:
        """This tensor as a sparse COO tensor, or in ``layout`` (``bp.sparse_csr``/``bp.sparse_csc``)
        (``backprop.sparse``, which installs the conversions)."""
        name = getattr(layout, "name", "sparse_coo")
        if (blocksize is None) == (name in ("sparse_bsr", "sparse_bsc")):  # torch's: blocks take a blocksize
            word = "Sparse" + name.removeprefix("sparse_").removeprefix("coo").capitalize()
            given = "with" if blocksize is not None else "without"
            raise RuntimeError(
                f"dense_to_sparse: conversion from Strided to {word} {given} blocksize argument given is not supported"
            )
        if layout is not None and name != "sparse_coo":
            if name in ("sparse_bsr", "sparse_bsc"):
                return TO_BLOCK[0](self, layout, blocksize)
            return TO_COMPRESSED[0](self, layout, dense_dim)
        return TO_SPARSE[0](self, sparse_dim)

    def to_sparse_bsr(self: Any, blocksize: Any, dense_dim: int | None = None) -> Any:
        """This matrix as a block sparse row tensor of its (R, C) blocks that hold a non-zero."""
        return TO_BLOCK[0](self, "sparse_bsr", blocksize)

    def to_sparse_bsc(self: Any, blocksize: Any, dense_dim: int | None = None) -> Any:
        """This matrix as a block sparse column tensor of its (R, C) blocks that hold a non-zero."""
        return TO_BLOCK[0](self, "sparse_bsc", blocksize)

    def sparse_mask(self: Any, mask: Any) -> Any:
        """This tensor's values at the stored entries of the sparse ``mask``, in ``mask``'s layout (torch's
        ``sparse_mask``; ``backprop.sparse`` installs it)."""
        return SPARSE_MASK[0](self, mask)

    def to_sparse_coo(self: Any) -> Any:
        """This tensor as a sparse COO tensor (``to_sparse()``)."""
        return TO_SPARSE[0](self)

    def to_sparse_csr(self: Any, dense_dim: int | None = None) -> Any:
        """This matrix as a sparse CSR tensor of its non-zero entries (int64 indices; differentiable)."""
        return TO_COMPRESSED[0](self, "sparse_csr", dense_dim)

    def to_sparse_csc(self: Any, dense_dim: int | None = None) -> Any:
        """This matrix as a sparse CSC tensor of its non-zero entries (int64 indices; differentiable)."""
        return TO_COMPRESSED[0](self, "sparse_csc", dense_dim)

    layout = property(lambda self: strided, doc="Always ``bp.strided``: tensors are dense arrays.")

    def is_inference(self: Any) -> bool:
        """False: ``bp.inference_mode`` makes ordinary tensors (see the README)."""
        return False

    def get_device(self: Any) -> int:
        """The CUDA device index, or -1 on the CPU (torch's convention)."""
        try:
            return -1 if self.device.type in ("cpu", "meta") else int(self.device.index or 0)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def is_nonzero(self: Any) -> bool:
        """The truth value of a one-element tensor; torch's errors for empty and larger ones."""
        if self._data.size == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        if self._data.size > 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def is_same_size(self: Any, other: Tensor) -> bool:
        try:
            return tuple(self.shape) == tuple(other.shape)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    # ------------------------------------------------------------ memory
    def element_size(self: Any) -> int:
        """Bytes per element."""
        return int(self._data.dtype.itemsize)

    @property
    def itemsize(self: Any) -> int:
        return int(self._data.dtype.itemsize)

    @property
    def nbytes(self: Any) -> int:
        return int(self._data.nbytes)

    def nelement(self: Any) -> int:
        return int(self._data.size)

    def ndimension(self: Any) -> int:
        return int(self._data.ndim)

    def stride(self: Any, dim: int | None = None) -> Any:
        """Strides in elements (torch's unit), not bytes (NumPy's); one of them with ``dim``."""
        a = self._data
        if self.device.type == "meta":  # no memory to lay out: C order (a view's own strides are not kept)
            strides = _c_strides(a.shape)
        elif a.base is None and a.flags.c_contiguous:  # a C-ordered allocation: torch's strides for its size-1 and
            strides = _c_strides(a.shape)  # size-0 dims, where NumPy's are any (a keepdim sum's) or 0 (empty arrays)
        else:
            size = a.dtype.itemsize
            strides = tuple(int(s) // size for s in a.strides)
            if 0 in strides and 1 in a.shape:
                strides = _unit_dim_strides(a.shape, strides)
        return strides if dim is None else strides[dim]

    def storage_offset(self: Any) -> int:
        """Elements between the start of the memory this tensor views and its first element."""
        base = _base_array(self._data)
        return (_address(self._data) - _address(base)) // self._data.dtype.itemsize

    def data_ptr(self: Any) -> int:
        """The address of the first element (0 on the meta device, which has no memory, as torch)."""
        return 0 if self.device.type == "meta" else _address(self._data)

    def is_pinned(self: Any, device: Any = None) -> bool:
        """False: host tensors are ordinary (pageable) NumPy memory."""
        return False

    def pin_memory(self: Any, device: Any = None) -> Tensor:
        """Returns the tensor itself: host memory is not page-locked here (see the README)."""
        return self

    def share_memory_(self: Any) -> Tensor:
        """A no-op returning the tensor: backprop has no multiprocessing tensor sharing."""
        return self

    def is_shared(self: Any) -> bool:
        return False

    # ------------------------------------------------------------ real tensors: conj/neg views are no-ops
    def conj(self: Any) -> Tensor:
        """The conjugate: the tensor itself for real dtypes."""
        try:
            if dtypes.kind(self._data.dtype) == "c":
                return apply(fft_ops.conj, self)
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def resolve_conj(self: Any) -> Tensor:
        return self

    def resolve_neg(self: Any) -> Tensor:
        return self

    def is_conj(self: Any) -> bool:
        return False

    def is_neg(self: Any) -> bool:
        return False

    @property
    def real(self: Any) -> Tensor:
        """The real part: the tensor itself for real dtypes."""
        if dtypes.kind(self._data.dtype) == "c":
            return apply(fft_ops.real, self)
        return self

    @property
    def imag(self: Any) -> Tensor:
        """The imaginary part of a complex tensor (a copy; torch's is a view)."""
        if dtypes.kind(self._data.dtype) == "c":
            return apply(fft_ops.imag, self)
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")

    @property
    def H(self: Any) -> Tensor:  # noqa: N802 - torch's name
        """The conjugate transpose of a matrix (its transpose, for real dtypes)."""
        ndim = self._data.ndim
        if ndim not in (0, 2):
            batches = " For batches of matrices, consider using tensor.mH" if ndim > 2 else ""
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {ndim}-D tensor.{batches}")
        return self.conj().mT

    @property
    def mH(self: Any) -> Tensor:  # noqa: N802 - torch's name
        """The conjugate transpose of the last two dims."""
        check_matrices(self, "mH")
        return self.conj().mT

    def adjoint(self: Any) -> Tensor:
        """The conjugate transpose of the last two dims (``mH``)."""
        try:
            check_matrices(self, "adjoint()")
            return self.conj().mT
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    # ------------------------------------------------------------ more ``.to(dtype)`` shorthands
    def byte(self: Any, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.uint8)

    def char(self: Any, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.int8)

    def short(self: Any, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.int16)

    def cfloat(self: Any, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.complex64)

    def cdouble(self: Any, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.complex128)

    def bfloat16(self: Any, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.bfloat16)

    # ------------------------------------------------------------ Python functions over the elements (CPU)
    def apply_(self: Any, callable: Callable[[Any], Any]) -> Tensor:
        """Replace each element by ``callable(element)``, in place (CPU tensors only, as torch; slow)."""
        return self._map_in_place("apply_", callable)

    def map_(self: Any, other: Tensor, callable: Callable[[Any, Any], Any]) -> Tensor:
        """Replace each element by ``callable(element, other)``, ``other`` broadcast to this shape."""
        other = other._data if hasattr(other, "_data") else other
        return self._map_in_place("map_", callable, other)

    def _map_in_place(self: Any, name: str, fn: Callable[..., Any], *others: Any) -> Tensor:
        if self.device.type != "cpu":
            raise TypeError(f"{name}() is only implemented on CPU tensors, got one on {self.device}")
        if check_inplace(name, self):
            raise RuntimeError(
                f"{name}() runs Python on the values and cannot be recorded for autograd: call it on a tensor "
                "that does not require grad, or under bp.no_grad()"
            )
        xp = self.device.xp
        columns = [xp.broadcast_to(o, self._data.shape).reshape(-1).tolist() for o in others]
        values = [fn(*items) for items in zip(self._data.reshape(-1).tolist(), *columns)]
        self._data[...] = xp.asarray(values, dtype=self._data.dtype).reshape(self._data.shape)
        bump_version(self)
        return self

    # ------------------------------------------------------------ autograd
    @property
    def retains_grad(self: Any) -> bool:
        """True when ``retain_grad()`` made this non-leaf keep its ``.grad``."""
        return hooks.retains_grad(self)

    def register_post_accumulate_grad_hook(self: Any, hook: Callable[[Any], None]) -> hooks.HookHandle:
        """Call ``hook(tensor)`` after backward accumulated into this leaf's ``.grad`` (e.g. to step
        an optimizer per parameter); returns a handle whose ``remove()`` unregisters it."""
        return hooks.register_post_accumulate_grad_hook(self, hook)


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The strides (in elements) of a C-ordered array of ``shape``."""
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= max(n, 1)
    return tuple(reversed(out))
