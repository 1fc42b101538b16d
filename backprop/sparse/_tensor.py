"""``SparseTensor``: torch's ``layout=torch.sparse_coo`` tensor, a ``Tensor`` subclass.

A sparse tensor is its ``indices`` (an int64 Tensor of shape ``(ndim, nnz)``) and its ``values`` (a
Tensor of shape ``(nnz,)`` carrying the autograd history: gradients reach a sparse tensor through its
values). Its ``_data`` slot holds a ``_SparseData`` placeholder that knows the shape and dtype, so
``shape``/``dtype``/``dim()`` work unchanged, and that refuses to become an array: a dense op given a
sparse tensor raises torch's ``NotImplementedError`` for the sparse backend. Dense tensors pay nothing.
"""

from __future__ import annotations

import builtins
import sys
from types import FrameType
from typing import Any

import numpy as np

from backprop import dtypes, runtime
from backprop.autograd.function import SparseKernelError
from backprop.autograd.node_names import name_node
from backprop.devices import Device
from backprop.methods.attributes import Layout
from backprop.size import Size
from backprop.tensor import Tensor, _torch_layout

sparse_coo = Layout("sparse_coo")
# the compressed layouts (``backprop.sparse._compressed``): CSR and CSC are supported, BSR/BSC are named only
sparse_csr = Layout("sparse_csr")
sparse_csc = Layout("sparse_csc")
sparse_bsr = Layout("sparse_bsr")
sparse_bsc = Layout("sparse_bsc")


def _calling_op() -> str:
    """The registry name of the op whose kernel touched a sparse tensor (found up the stack), or ``"op"``."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(12):
        if frame is None:
            break
        if frame.f_code.co_name == "apply" and "op" in frame.f_locals:
            return str(getattr(frame.f_locals["op"], "name", "op"))
        frame = frame.f_back
    return "op"


class _SparseData:
    """A sparse tensor's ``_data``: its shape and dtype for the attributes, an error for any kernel."""

    __slots__ = ("shape", "dtype", "backend", "kind")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, backend: str, kind: str = "COO") -> None:
        self.shape, self.dtype, self.backend, self.kind = shape, dtype, backend, kind

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def _refuse(self, op: str | None = None) -> NotImplementedError:
        return SparseKernelError(
            f"Could not run 'aten::{op or _calling_op()}' with arguments from the '{self.backend}' backend. This could "
            "be because the operator doesn't exist for this backend (the operation is not supported for sparse "
            f"{self.kind} tensors: shape {self.shape}, {self.dtype}). Call .to_dense() first, or use "
            "bp.sparse.mm / bp.sparse.sum / the methods of the sparse tensor."
        )

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._refuse()


# the functions behind some methods, installed by ``_build`` and ``_mm`` when they load (they import this
# module; it does not import them: no import cycle)
IMPL: dict[str, Any] = {}


class ThroughValues:
    """Autograd of a sparse tensor, COO or compressed: it lives in the ``_vals`` tensor (``grad_fn``,
    ``requires_grad``, ``detach``); ``.grad`` is the values' gradient in the tensor's own layout
    (``_grad_from_values``)."""

    __slots__ = ()
    _vals: Tensor

    def _like(self, values: Tensor) -> Any:
        raise NotImplementedError

    def _grad_from_values(self, g: Tensor) -> Any:
        raise NotImplementedError

    @property
    def grad_fn(self) -> Any:
        return self._vals.grad_fn

    @grad_fn.setter
    def grad_fn(self, value: Any) -> None:
        if value is not None:
            raise RuntimeError("a sparse tensor's grad_fn is its values' grad_fn; it cannot be set")

    @property
    def requires_grad(self) -> builtins.bool:
        return self._vals.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        self._vals.requires_grad = value

    @property
    def grad(self) -> Any:
        """The gradient as a sparse tensor of this layout and pattern, or None."""
        g = self._vals.grad
        return None if g is None else self._grad_from_values(g)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            raise RuntimeError("assigning a gradient to a sparse tensor is not supported; set it to None")
        self._vals.grad = None

    def detach(self) -> Any:
        """The same indices and values, cut from the graph."""
        return self._like(self._vals.detach())

    def detach_(self) -> Any:
        self._vals.detach_()
        return self

    def sparse_op(self: Any, name: str, rest: Any, attrs: Any) -> Any:
        """A function given this tensor (``bp.sqrt(s)``, ``F.relu(s)``, ``bp.pow(s, 2)``): the op ``name`` run
        by this class's own method, as the method call does; ``NotImplemented`` where there is none (torch's
        error follows). Called by ``apply`` when a dense kernel refuses this tensor's data."""
        if name == "astype" and not rest:  # (the float cast of bp.sqrt(int sparse))
            return self.to(attrs["dtype"])
        if name == "sum" and not rest:  # bp.sum(s), bp.sum(s, 1): torch's sparse sum, as s.sum(...)
            return self.sum(attrs.get("axis"), bool(attrs.get("keepdims")))
        if name == "permute" and self.ndim == 2 and tuple(attrs.get("axes", ())) == (1, 0):  # bp.t(s)
            return self.t()
        if name in ("cat", "stack") and isinstance(self, SparseTensor):  # bp.cat([s, t]), bp.stack([s, t])
            return IMPL[name]([self, *rest], attrs.get("axis", 0))
        method = getattr(type(self), name, None)
        if attrs or method is None or method is getattr(Tensor, name, None):
            return NotImplemented
        return method(self, *rest)


class SparseTensor(ThroughValues, Tensor):
    """A sparse COO tensor (torch's ``layout=torch.sparse_coo``): ``indices`` (ndim, nnz) and ``values``
    (nnz,); ``isinstance(s, bp.Tensor)`` holds, dense-only ops raise, gradients flow through ``values``."""

    __slots__ = ("_ix", "_vals", "_coalesced")
    _ix: Tensor
    _vals: Tensor
    _coalesced: builtins.bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("SparseTensor(): build sparse tensors with bp.sparse_coo_tensor(indices, values, size)")

    @classmethod
    def _make(cls, indices: Tensor, values: Tensor, size: tuple[int, ...], coalesced: builtins.bool) -> SparseTensor:
        """A sparse tensor around ``indices`` and ``values`` (no checks, no copies: the library's constructor)."""
        t: SparseTensor = object.__new__(cls)
        dev = values.device
        t._data = _SparseData(
            tuple(int(s) for s in size), values.dtype, "SparseCUDA" if dev.type == "cuda" else "SparseCPU"
        )
        t.device = dev
        t._grad = None
        t._requires_grad = False  # (the slot apply reads: a dense kernel refuses first anyway)
        t._vc = 0
        t._vbase = None
        t._hooks = None
        t._ix, t._vals = indices, values
        t._coalesced = bool(coalesced) or indices.shape[1] < 2  # (no entry or one is coalesced, as torch's)
        return t

    def _like(self, values: Tensor, coalesced: builtins.bool | None = None) -> SparseTensor:
        """This sparsity pattern with other ``values`` (same nnz)."""
        flag = self._coalesced if coalesced is None else coalesced
        return SparseTensor._make(self._ix, values, tuple(self.shape), flag)

    # ------------------------------------------------------------ what a sparse tensor is
    layout = property(lambda self: sparse_coo, doc="``bp.sparse_coo``.")
    is_sparse = property(lambda self: True, doc="True: this tensor is sparse (COO).")

    def is_coalesced(self) -> builtins.bool:
        """True when the indices are sorted and unique (after ``coalesce()``)."""
        return self._coalesced

    def _nnz(self) -> builtins.int:
        """The number of stored entries (duplicates count until ``coalesce()``)."""
        return int(self._ix.shape[1])

    def sparse_dim(self) -> builtins.int:
        """The number of sparse dimensions (the rows of the indices)."""
        return int(self._ix.shape[0])

    def dense_dim(self) -> builtins.int:
        """The number of dense dimensions of the values (1 for an embedding's gradient: a row per index)."""
        return self._vals.ndim - 1

    def indices(self) -> Tensor:
        """The (ndim, nnz) int64 indices of a coalesced tensor (torch refuses an uncoalesced one)."""
        if not self._coalesced:
            raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call .coalesce() first")
        return self._ix

    def values(self) -> Tensor:
        """The (nnz,) values of a coalesced tensor, differentiable (torch refuses an uncoalesced one)."""
        if not self._coalesced:
            raise RuntimeError("Cannot get values on an uncoalesced tensor, please call .coalesce() first")
        return self._vals

    def _indices(self) -> Tensor:
        """The indices, coalesced or not (torch's ``_indices()``)."""
        return self._ix

    def _values(self) -> Tensor:
        """The values, coalesced or not (torch's ``_values()``)."""
        return self._vals

    def is_contiguous(self, memory_format: Any = None) -> builtins.bool:
        """False, as torch's sparse tensors."""
        return False

    # ------------------------------------------------------------ autograd, through the values (ThroughValues)
    def _grad_from_values(self, g: Tensor) -> SparseTensor:
        """The values' gradient on the coalesced pattern (torch's)."""
        coalesce_pattern = IMPL["coalesce_pattern"]

        return coalesce_pattern(self, g)

    def clone(self, *, memory_format: Any = None) -> SparseTensor:
        """A differentiable copy (new index and value memory)."""
        return SparseTensor._make(self._ix.clone(), self._vals.clone(), tuple(self.shape), self._coalesced)

    # ------------------------------------------------------------ conversions
    def to(self, *args: Any, **kwargs: Any) -> SparseTensor:
        """``to(device)``, ``to(dtype)`` or both: moves or casts indices and values (differentiable)."""
        values = self._vals.to(*args, **kwargs)
        indices = self._ix if values.device is self._ix.device else self._ix.to(values.device)
        if values is self._vals and indices is self._ix:
            return self
        return SparseTensor._make(indices, values, tuple(self.shape), self._coalesced)

    def numpy(self, *, force: builtins.bool = False) -> np.ndarray:
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def _host(self) -> np.ndarray:
        raise RuntimeError("Cannot access data pointer of Tensor that doesn't have storage (a sparse tensor)")

    def item(self) -> Any:
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self.to_dense().item()

    def to_dense(self, dtype: Any = None, *, masked_grad: builtins.bool | None = None) -> Tensor:
        """The dense tensor (duplicates summed); differentiable w.r.t. the values."""
        to_dense = IMPL["to_dense"]

        out = name_node(to_dense(self), "ToDenseBackward0")
        return out if dtype is None else out.to(dtypes.to_dtype(dtype))

    def to_sparse(self, *args: Any, layout: Any = None, **kwargs: Any) -> Tensor:
        """Itself (it is sparse COO already), or with ``layout=bp.sparse_csr``/``sparse_csc`` that layout."""
        if layout is None or layout is sparse_coo:
            return self
        return IMPL["to_compressed"](self, layout)

    to_sparse_coo = to_sparse

    def to_sparse_csr(self, dense_dim: builtins.int | None = None) -> Tensor:
        """A sparse CSR matrix of the coalesced entries (int64 indices; differentiable w.r.t. the values)."""
        return IMPL["to_compressed"](self, sparse_csr, dense_dim)

    def to_sparse_csc(self, dense_dim: builtins.int | None = None) -> Tensor:
        """A sparse CSC matrix of the coalesced entries (int64 indices; differentiable w.r.t. the values)."""
        return IMPL["to_compressed"](self, sparse_csc, dense_dim)

    def coalesce(self) -> SparseTensor:
        """Sorted unique indices, duplicates summed (differentiable); itself when coalesced already."""
        coalesce = IMPL["coalesce"]

        return coalesce(self)

    # ------------------------------------------------------------ shape
    def t(self) -> SparseTensor:
        """The transpose of a matrix (or a vector itself), as torch's ``t()``."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> SparseTensor:
        """Swap two dimensions: their index rows swap (the result is not coalesced, as torch's)."""
        n = self.ndim
        d0, d1 = dim0 % n, dim1 % n
        if d0 == d1:
            return self
        order = list(range(n))
        order[d0], order[d1] = d1, d0
        size = [self.shape[i] for i in order]
        return SparseTensor._make(self._ix[order], self._vals, tuple(size), False)

    def index_select(self, dim: builtins.int, index: Any) -> SparseTensor:
        """The slices at ``index`` along a sparse ``dim`` (rows of an interaction matrix for a batch of users), as
        torch's: entries grouped by output position, each group in this tensor's entry order; not coalesced."""
        n = self.ndim
        if not -n <= dim < n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
        d = dim % n
        if d >= self.sparse_dim():
            raise NotImplementedError("index_select of a sparse tensor's dense dimension is not supported")
        idx = np.asarray(index._host() if isinstance(index, Tensor) else index, dtype=np.int64).reshape(-1)
        size = self.shape[d]
        bad = idx[(idx < 0) | (idx >= size)]
        if bad.size:
            raise IndexError(
                f"index_select(): index contains {int(bad[0])} that is out of range for tensor of size "
                f"{list(self.shape)} at dimension {d}"
            )
        ix = np.asarray(self._ix._host())
        order = np.argsort(ix[d], kind="stable")  # each slice's entries, in entry order
        counts = np.bincount(ix[d], minlength=size)
        lens = counts[idx]
        firsts = (np.cumsum(counts) - counts)[idx]
        within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        pos = order[np.repeat(firsts, lens) + within]
        new_ix = ix[:, pos]
        new_ix[d] = np.repeat(np.arange(idx.size), lens)
        size_out = list(self.shape)
        size_out[d] = idx.size
        dev = self._vals.device
        values = self._vals[Tensor._of(pos, device=dev)]
        return SparseTensor._make(Tensor._of(new_ix, device=dev), values, tuple(size_out), False)

    def __getitem__(self, index: Any) -> Tensor:
        """``s[i]``, ``s[:, j]``, ``s[i, j]``, ``s[None]``: integers and full slices (``_shape.getitem``)."""
        return IMPL["getitem"](self, index)

    def select(self, dim: builtins.int, index: Any) -> Tensor:
        """The entries at ``index`` of ``dim``, that dim removed (a sparse tensor; 0-d dense from a vector)."""
        return IMPL["select"](self, dim, int(index))

    def narrow_copy(self, dim: builtins.int, start: Any, length: builtins.int) -> SparseTensor:
        """The entries in ``[start, start + length)`` of ``dim`` (torch's sparse ``narrow_copy``)."""
        return IMPL["narrow_copy"](self, dim, int(start), int(length))

    def narrow(self, *args: Any, **kwargs: Any) -> Tensor:
        raise IMPL["no_kernel"]("as_strided")  # (a view; torch's sparse backend has none: use narrow_copy)

    def unsqueeze(self, dim: builtins.int) -> SparseTensor:
        """A size-1 dim inserted at ``dim`` (a row of zeros joins the indices)."""
        return IMPL["unsqueeze"](self, dim)

    def squeeze(self, *args: Any, **kwargs: Any) -> Tensor:
        raise IMPL["no_kernel"]("as_strided")  # (torch's sparse squeeze is a strided view too)

    def reshape(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("reshape is not implemented for sparse tensors")

    def flatten(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("reshape is not implemented for sparse tensors")

    def view(self, *args: Any, **kwargs: Any) -> Tensor:
        raise IMPL["no_kernel"]("view")

    def new_zeros(
        self,
        *sizes: Any,
        size: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """An empty sparse tensor of ``size`` (no entries), by default with this dtype, device and layout."""
        shape = shape_of(size if size is not None else (sizes[0] if len(sizes) == 1 else sizes))
        return IMPL["zeros"](shape, layout or sparse_coo, dtype or self.dtype, device or self.device, requires_grad)

    new_empty = new_zeros

    def new_ones(self, *sizes: Any, **kwargs: Any) -> Tensor:
        raise IMPL["no_kernel"]("fill_.Scalar", self._data.backend)

    def new_full(self, size: Any, fill_value: Any, *args: Any, **kwargs: Any) -> Tensor:
        raise IMPL["no_kernel"]("fill_.Scalar", self._data.backend)

    # ------------------------------------------------------------ arithmetic with numbers and tensors
    def _entries_of(self, other: Tensor) -> Tensor:
        """A dense ``other`` that broadcasts to this shape, at this tensor's entries (torch's sparse * dense)."""
        shape, oshape = tuple(self.shape), tuple(other.shape)
        n = max(len(shape), len(oshape))
        for k in range(1, n + 1):  # torch's broadcast error: the first mismatch from the right
            a = oshape[-k] if k <= len(oshape) else 1
            b = shape[-k] if k <= len(shape) else 1
            if a != b and 1 not in (a, b):
                raise RuntimeError(
                    f"The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton dimension "
                    f"{n - k}"
                )
        if np.broadcast_shapes(shape, oshape) != shape:
            raise NotImplementedError(
                f"mul: a sparse COO tensor of shape {shape} times a dense tensor of shape {oshape} would broadcast "
                "the sparse operand, which backprop does not do; multiply the dense tensors instead"
            )
        check_device("mul", self, other)
        return other.expand(*shape)[tuple(self._ix[d] for d in range(self.ndim))]

    def _common(self, other: SparseTensor) -> tuple[Tensor, Tensor, Tensor]:
        """The positions of this tensor's entries that ``other`` stores too, and ``other``'s (coalesced) values
        there: (positions, other's values, positions in ``other``)."""
        if tuple(other.shape) != tuple(self.shape):
            raise RuntimeError(
                f"mul: expected 'self' and 'other' to have same sizes, but {list(self.shape)} != {list(other.shape)}"
            )
        o = other.coalesce()
        size = np.asarray(self.shape, dtype=np.int64)
        keys_s = np.ravel_multi_index(tuple(np.asarray(self._ix._host())), size) if self.ndim else np.zeros(0)
        keys_o = np.ravel_multi_index(tuple(np.asarray(o._ix._host())), size) if o.ndim else np.zeros(0)
        at = np.searchsorted(keys_o, keys_s)
        hit = at < keys_o.size
        hit[hit] = keys_o[at[hit]] == keys_s[hit]
        dev = self.device
        return Tensor._of(np.flatnonzero(hit), device=dev), o._vals, Tensor._of(at[hit], device=dev)

    def __mul__(self, other: Any) -> SparseTensor:
        """By a number or 0-d tensor (the values scaled), a dense tensor that broadcasts to this shape (the
        values times ``other`` at the entries, as torch's) or a sparse tensor (the entries both store)."""
        if isinstance(other, SparseTensor):
            pos, ovals, opos = self._common(other)
            return SparseTensor._make(
                self._ix[:, pos], self._vals[pos] * ovals[opos], tuple(self.shape), self._coalesced and other._coalesced
            )
        if isinstance(other, Tensor) and other.ndim > 0 and other.layout is not sparse_coo:
            if getattr(other, "is_sparse_csr", False) or other.layout in (sparse_csr, sparse_csc):
                raise NotImplementedError(
                    "mul: a sparse COO tensor times a sparse compressed tensor is not supported; convert one of "
                    "them with .to_sparse() or .to_sparse_csr()"
                )
            return self._like(self._vals * self._entries_of(other))
        if not isinstance(other, (Tensor, int, float, complex, np.generic)):
            return NotImplemented
        return self._like(self._vals * other)

    __rmul__ = __mul__

    def mul(self, other: Any) -> SparseTensor:
        """``self * other`` (a number, a 0-d tensor, a dense tensor broadcast to this shape or a sparse one)."""
        return self.__mul__(other)

    multiply = mul

    def _divisor(self, other: Any) -> Any:
        if isinstance(other, Tensor) and other.ndim > 0:
            raise RuntimeError(
                "Sparse division requires a scalar or zero-dim dense tensor divisor (got shape "
                f"{list(other.shape)} for divisor)"
            )
        return other

    def __truediv__(self, other: Any) -> SparseTensor:
        return self._like(self._vals / self._divisor(other))

    def div(self, other: Any, *, rounding_mode: str | None = None) -> SparseTensor:
        """``self / other`` for a number or 0-d tensor ``other``; ``rounding_mode`` rounds the coalesced
        values (``'floor'`` / ``'trunc'``), as torch's."""
        if rounding_mode is None:
            return self.__truediv__(other)
        s = self.coalesce()
        return s._like(s._vals.div(self._divisor(other), rounding_mode=rounding_mode))

    divide = true_divide = div

    def floor_divide(self, other: Any) -> SparseTensor:
        """``self // other`` for a number or 0-d tensor (the coalesced values floored)."""
        return self.div(other, rounding_mode="floor")

    __floordiv__ = floor_divide

    def __neg__(self) -> SparseTensor:
        return self._like(-self._vals)

    neg = negative = __neg__

    def positive(self) -> SparseTensor:
        """Itself (the same entries, uncoalesced ones too), as torch's."""
        return self

    def conj(self) -> SparseTensor:
        """The conjugate values (the same entries), as torch's; itself for real values."""
        return self._like(self._vals.conj()) if self._vals.is_complex() else self

    def pow(self, exponent: Any) -> SparseTensor:
        """``self ** exponent`` for a non-zero number: the coalesced values raised (0 ** e stays 0 for e > 0;
        torch keeps the pattern for e < 0 too, ``pow(-0.5)`` of degrees); a tensor or 0 exponent refuses, as
        torch's."""
        if isinstance(exponent, Tensor):
            raise NotImplementedError(
                f"Could not run 'aten::pow.Tensor_Tensor' with arguments from the '{self._data.backend}' backend. "
                "This could be because the operator doesn't exist for this backend"
            )
        if exponent == 0:
            raise RuntimeError("pow: cannot raise to zeroth power on sparse tensor; it would make the result "
                               "tensor dense")  # fmt: skip
        if isinstance(exponent, float) and dtypes.kind(self._vals._data.dtype) in "biu":
            raise RuntimeError(
                f"result type Float can't be cast to the desired output type {dtypes.scalar_type_name(self.dtype)}"
            )
        s = self.coalesce()
        return s._like(s._vals**exponent)

    __pow__ = pow

    def square(self) -> SparseTensor:
        """The coalesced values squared."""
        return self.pow(2)

    # ------------------------------------------------------------ in place (on the values tensor, as torch's)
    def mul_(self, other: Any) -> SparseTensor:
        """``self *= other`` (a number, a 0-d or a broadcastable dense tensor); torch marks the result
        uncoalesced, and so does this."""
        if isinstance(other, Tensor) and other.ndim > 0:
            other = self._entries_of(other)
        self._vals.mul_(other)
        self._coalesced = self._ix.shape[1] < 2
        return self

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> SparseTensor:
        """``self /= other`` for a number or 0-d tensor (the pattern and coalesced flag kept)."""
        self._vals.div_(self._divisor(other), rounding_mode=rounding_mode)
        return self

    def neg_(self) -> SparseTensor:
        self._vals.neg_()
        return self

    def zero_(self) -> SparseTensor:
        """No entries left (torch's: nnz 0, coalesced)."""
        self._ix = self._ix[:, :0]
        self._vals = self._vals[:0].detach().requires_grad_(self._vals.requires_grad)
        self._coalesced = True
        return self

    def __add__(self, other: Any) -> SparseTensor:
        add = IMPL["add"]

        return add(self, other, 1)

    def __radd__(self, other: Any) -> Tensor:
        """``dense + sparse``: a dense tensor, as torch's (a Python number refuses, as in ``__add__``)."""
        if isinstance(other, Tensor):
            return other + self.to_dense()
        return NotImplemented

    def add(self, other: Any, *, alpha: Any = 1) -> SparseTensor:
        """``self + alpha * other`` for a sparse ``other`` of the same shape (uncoalesced entries of both)."""
        return self.__add__(other if alpha == 1 else other * alpha)

    def __sub__(self, other: Any) -> SparseTensor:
        add = IMPL["add"]

        return add(self, other, -1)

    def sub(self, other: Any, *, alpha: Any = 1) -> SparseTensor:
        """``self - alpha * other`` for a sparse ``other`` of the same shape."""
        return self.__sub__(other if alpha == 1 else other * alpha)

    def __rsub__(self, other: Any) -> Tensor:
        """``dense - sparse``: a dense tensor, as torch's (a Python number refuses, as torch's)."""
        if isinstance(other, Tensor):
            return other - self.to_dense()
        raise RuntimeError(
            f"add: expected 'self' and 'other' to have same size, but self has size [] while other has size "
            f"{list(self.shape)} (FYI: dense-sparse addition does not currently support broadcasting)"
        )

    def _become(self, out: SparseTensor) -> SparseTensor:
        """In place: this tensor takes ``out``'s entries (torch's in-place ``add_``/``sub_`` of sparse tensors)."""
        if self._vals.requires_grad and self._vals.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        self._ix, self._vals, self._coalesced = out._ix, out._vals, out._coalesced
        return self

    def add_(self, other: Any, alpha: Any = 1) -> SparseTensor:
        """``self += alpha * other`` for a sparse ``other`` of the same shape (its entries appended)."""
        return self._become(self.add(other, alpha=alpha))

    def sub_(self, other: Any, alpha: Any = 1) -> SparseTensor:
        """``self -= alpha * other`` for a sparse ``other`` of the same shape."""
        return self._become(self.sub(other, alpha=alpha))

    # ------------------------------------------------------------ products and reductions
    def mm(self, mat2: Any) -> Tensor:
        """``bp.sparse.mm(self, mat2)``: sparse (n, m) @ dense (m, k) -> dense (n, k)."""
        mm = IMPL["mm"]

        return mm(self, mat2)

    def matmul(self, other: Any) -> Tensor:
        """A sparse matrix times a dense matrix or vector (dense result)."""
        mm = IMPL["mm"]

        if isinstance(other, Tensor) and other.ndim == 1 and not isinstance(other, SparseTensor):
            return name_node(mm(self, other.unsqueeze(1)).squeeze(1), "MvBackward0")
        return mm(self, other)

    __matmul__ = matmul

    def mv(self, vec: Any) -> Tensor:
        """A sparse matrix times a dense vector (a dense vector)."""
        return self.matmul(vec)

    def __rmatmul__(self, other: Any) -> Tensor:
        """``dense @ sparse``: a dense matrix, as torch's (computed as ``(sparse.t() @ dense.t()).t()``)."""
        if isinstance(other, Tensor) and other.ndim == 2 and self.ndim == 2:
            return self.t().matmul(other.t()).t()
        return NotImplemented

    def sum(
        self,
        dim: Any = None,
        keepdim: builtins.bool = False,
        *,
        dtype: Any = None,
        axis: Any = None,
        keepdims: Any = None,
    ) -> Tensor:
        """torch's ``sparse.sum``: all entries (a dense 0-d tensor) or over ``dim`` (a sparse result)."""
        sparse_sum = IMPL["sparse_sum"]

        dim = axis if dim is None else dim
        if keepdim or keepdims:
            raise NotImplementedError("sum: keepdim=True is not supported for sparse tensors")
        out = sparse_sum(self, dim, dtype)
        return out if dim is None else name_node(out, "SumBackward1")

    # ------------------------------------------------------------ printing, copying, pickling
    def __repr__(self) -> str:
        """torch's layout: the indices and values bodies (no dtype of their own), then size, nnz, the dtype
        where it is not a default one, the layout and the autograd state, wrapped as torch wraps them."""
        indent = len("tensor(")
        text = (
            f"tensor(indices=tensor({repr_body(self._ix, indent + len('indices=tensor('))}),\n"
            f"{' ' * indent}values=tensor({repr_body(self._vals, indent + len('values=tensor('))})"
        )
        return text + repr_suffixes(self, text, "sparse_coo", newline=True) + ")"

    def __deepcopy__(self, memo: dict) -> SparseTensor:
        """A leaf's deep copy: new index and value memory, same ``requires_grad``."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol"
            )
        import copy

        new = SparseTensor._make(
            copy.deepcopy(self._ix, memo), copy.deepcopy(self._vals, memo), tuple(self.shape), self._coalesced
        )
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> tuple:
        """Pickled as its indices, values (a leaf), size and coalesced flag."""
        return (
            _rebuild_sparse,
            (self._ix, self._vals.detach(), tuple(self.shape), self._coalesced, self.requires_grad),
        )


# unary ops torch runs on the coalesced values of a COO tensor (f(0) == 0, so the pattern is kept; duplicates are
# summed first: |-3 + 1| is 2, not 4), and their in-place forms (which refuse an uncoalesced tensor, as torch's)
_VALUE_OPS = (
    "abs", "sqrt", "relu", "sin", "tan", "sinh", "tanh", "asin", "atan", "asinh", "atanh", "sign", "sgn", "ceil",
    "floor", "round", "trunc", "expm1", "log1p", "erf", "erfinv", "deg2rad", "rad2deg", "frac", "signbit", "isnan",
    "isinf", "nan_to_num", "arcsin", "arctan", "arcsinh", "arctanh", "absolute", "fix",
)  # fmt: skip
_INPLACE = (
    "abs", "sqrt", "relu", "sin", "tan", "sinh", "tanh", "asin", "atan", "asinh", "atanh", "sign", "sgn", "ceil",
    "floor", "round", "trunc", "expm1", "log1p", "erf", "erfinv", "deg2rad", "rad2deg", "frac",
)  # fmt: skip

for _name in _VALUE_OPS:

    def _unary(self: SparseTensor, *args: Any, _op: str = _name, **kwargs: Any) -> SparseTensor:
        s = self.coalesce()
        return s._like(getattr(s._vals, _op)(*args, **kwargs))

    _unary.__name__ = _unary.__qualname__ = _name
    _unary.__doc__ = f"``{_name}`` of the coalesced values (zeros stay zero, so the pattern is kept), as torch's."
    setattr(SparseTensor, _name, _unary)

for _name in _INPLACE:

    def _unary_(self: SparseTensor, _op: str = _name) -> SparseTensor:
        if not self._coalesced:
            raise RuntimeError(f"{_op}_ requires coalesced input")
        getattr(self._vals, _op + "_")()
        return self

    _unary_.__name__ = _unary_.__qualname__ = _name + "_"
    _unary_.__doc__ = f"``{_name}`` of the values in place (a coalesced tensor only, as torch's)."
    setattr(SparseTensor, _name + "_", _unary_)


def _rebuild_sparse(
    indices: Tensor, values: Tensor, size: tuple[int, ...], coalesced: builtins.bool, requires_grad: builtins.bool
) -> SparseTensor:
    """The inverse of ``SparseTensor.__reduce_ex__``."""
    if requires_grad:
        values.requires_grad_(True)
    return SparseTensor._make(indices, values, tuple(size), coalesced)


def repr_body(t: Tensor, indent: builtins.int) -> str:
    """A sparse tensor's indices or values as torch prints them inside its repr: the elements only (with
    ``size=`` when empty), lines indented by ``indent``."""
    host = np.asarray(t.detach()._host())
    if dtypes.is_bfloat16(host.dtype):
        host = host.astype(np.float32)
    if host.size == 0:
        return f"[], size={tuple(host.shape)}"
    if host.dtype.kind in "biuf":
        return _torch_layout(host, indent, runtime.print_linewidth())
    return np.array2string(host, separator=", ", prefix=" " * indent, **runtime.array_repr_options(host))


def repr_suffixes(t: Any, text: str, layout: str, newline: builtins.bool = False) -> str:
    """The ``, size=..., nnz=..., dtype=..., layout=..., requires_grad=True`` tail of a sparse repr, in torch's
    order, each wrapped onto a new line where it would pass the print width (counted as torch spells it); the
    first on a new line anyway with ``newline`` (torch's COO layout)."""
    indent, width = len("tensor("), runtime.print_linewidth()
    suffixes = [f"device='{t.device}'"] if t.device.type != "cpu" else []
    suffixes += [f"size={tuple(t.shape)}", f"nnz={t._nnz()}"]
    default_complex = dtypes.default_complex()
    if t.dtype not in (dtypes.get_default_dtype(), default_complex, dtypes.int64, dtypes.bool_):
        suffixes.append(f"dtype={t.dtype}")
    suffixes.append(f"layout={layout}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    out, last = "", len(text) - text.rfind("\n") + 1  # (torch's count of the last line: one more than its length)
    for s in suffixes:
        size = len(s) + (len("torch.") if s.startswith(("dtype=", "layout=")) else 0)  # (as torch spells it)
        if newline or last + size + 2 > width:
            out += ",\n" + " " * indent + s
            last, newline = indent + size, False
        else:
            out += ", " + s
            last += size + 2
    return out


def check_device(name: str, *tensors: Tensor) -> Device:
    """The one device of ``tensors``; mixed devices are an error naming ``name`` (no silent copies)."""
    devs = {t.device for t in tensors}
    if len(devs) != 1:
        raise RuntimeError(f"{name}: expected all tensors on one device, got {', '.join(map(str, devs))}")
    return tensors[0].device


def shape_of(size: Any) -> tuple[int, ...]:
    """A size argument (a ``bp.Size``, tuple or list of ints) as a tuple of ints."""
    return tuple(int(s) for s in (size if isinstance(size, (tuple, list, Size)) else [size]))
