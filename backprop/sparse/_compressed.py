"""Sparse compressed matrices: torch's ``layout=torch.sparse_csr`` and ``torch.sparse_csc`` (2-D, one
number per entry: no batch dimensions, no dense/hybrid dimensions, no BSR/BSC blocks).

A ``SparseCompressedTensor`` is its compressed indices (``crow_indices`` of CSR: n_rows + 1 offsets;
``ccol_indices`` of CSC: n_cols + 1), its plain indices (``col_indices``/``row_indices``: one per entry,
sorted and distinct within each row/column) and its values (nnz,). As for COO tensors (``_tensor.py``) the
values carry the autograd history, so gradients reach a compressed tensor through them, and ``_data`` is a
placeholder that makes every dense kernel raise torch's ``NotImplementedError`` for the
``SparseCsrCPU``/``SparseCscCPU`` backend.

The product with a dense matrix (``_CompressedMM``) hands the arrays as they are to
``scipy.sparse.csr_matrix``/``csc_matrix`` (``cupyx.scipy.sparse`` on CUDA): no conversion per call. The
transpose of a CSR matrix is the CSC matrix of the same three arrays, which is how the backward
``S^H @ gy`` runs. Conversions between layouts are a stable ``argsort`` of the entries' coordinates and a
``bincount`` of the compressed dimension (vectorised NumPy/CuPy; scipy's ``tocsc`` would need a data array
to carry the permutation and cupyx's takes floating data only), and the gathered values keep the graph.
"""

from __future__ import annotations

import builtins
import copy as _copy
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.custom import Function
from backprop.devices import device as to_device
from backprop.methods.attributes import Layout
from backprop.sparse import _build, _tensor
from backprop.sparse._tensor import (
    SparseTensor,
    ThroughValues,
    _SparseData,
    check_device,
    shape_of,
    sparse_bsc,
    sparse_bsr,
    sparse_coo,
    sparse_csc,
    sparse_csr,
)
from backprop.tensor import Tensor

_LAYOUTS = {"sparse_csr": sparse_csr, "sparse_csc": sparse_csc}
# ``sparse.mm`` (backprop/sparse/_mm.py, which imports this module and sets this name when it loads): the
# checks every layout shares, then ``compressed_mm`` for these
_sparse_mm: Any = None
_WORDS = {"sparse_csr": "SparseCsr", "sparse_csc": "SparseCsc", "sparse_coo": "Sparse", "sparse_bsr": "SparseBsr",
          "sparse_bsc": "SparseBsc", "strided": "Strided"}  # fmt: skip
# unary ops torch runs on the stored values of a CSR/CSC tensor (f(0) == 0, so the pattern is kept)
_ZERO_PRESERVING = (
    "abs", "neg", "sin", "tan", "sinh", "tanh", "asin", "atan", "asinh", "atanh", "sqrt", "relu", "sign",
    "sgn", "ceil", "floor", "round", "trunc", "expm1", "log1p", "erf", "erfinv", "rad2deg", "deg2rad", "frac",
    "signbit", "isnan", "isinf", "angle", "conj", "positive",
)  # fmt: skip
# elementwise ops torch refuses on CSR/CSC with "unsupported tensor layout" (f(0) != 0, or not ported)
_REFUSED = (
    "exp", "cos", "log", "sigmoid", "cosh", "acos", "reciprocal", "square", "pow", "clamp", "clip",
    "__truediv__", "div", "__sub__", "sub", "__rsub__", "__pow__", "log2", "log10", "exp2", "rsqrt",
)  # fmt: skip


def _layout_name(layout: Any) -> str:
    return str(getattr(layout, "name", layout)).removeprefix("torch.")


def _layout_word(layout: Any) -> str:
    """A layout as torch's messages spell it (``SparseCsc``, ``Strided``)."""
    return "".join(part.capitalize() for part in _layout_name(layout).split("_"))


def _host(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach()._host())


def _expand(compressed: np.ndarray) -> np.ndarray:
    """Each entry's compressed coordinate (its row for CSR), from the offsets."""
    n = len(compressed) - 1
    counts: np.ndarray = np.diff(compressed.astype(np.int64))
    return np.repeat(np.arange(n, dtype=np.int64), counts)


def _entry_coords(cidx: Tensor, pidx: Tensor, csr: builtins.bool) -> tuple[Tensor, Tensor]:
    """Each entry's (row, column) as int64 index tensors on the indices' device. On the CPU from ``_expand``; on
    a GPU by a ``searchsorted`` of the offsets there (no read-back: products and their gradients run every
    training step)."""
    dev = cidx.device
    if dev.type == "cpu":
        major, minor = _expand(_host(cidx)), _host(pidx).astype(np.int64)
        major_c, minor_c = Tensor._of(major, device=dev), Tensor._of(minor, device=dev)
        return (major_c, minor_c) if csr else (minor_c, major_c)
    xp, c, p = dev.xp, cidx._data, pidx._data
    with dev.backend.use_device(dev.index):
        major_a = xp.searchsorted(c[1:], xp.arange(p.shape[0], dtype=c.dtype), side="right").astype(np.int64)
        minor_a = p.astype(np.int64)
    major_t, minor_t = Tensor._wrap(major_a, dev, None), Tensor._wrap(minor_a, dev, None)
    return (major_t, minor_t) if csr else (minor_t, major_t)


def _offsets(major: np.ndarray, n: int, dtype: Any) -> np.ndarray:
    """The compressed offsets of entries sorted by ``major`` (n + 1 of them)."""
    counts = np.bincount(major, minlength=n) if major.size else np.zeros(n, np.int64)
    return np.concatenate([np.zeros(1, np.int64), np.cumsum(counts)]).astype(dtype)


class SparseCompressedTensor(ThroughValues, Tensor):
    """A sparse CSR or CSC matrix (torch's ``layout=torch.sparse_csr``/``sparse_csc``): compressed
    indices, plain indices and values; ``isinstance(s, bp.Tensor)`` holds, dense-only ops raise, gradients
    flow through the values."""

    __slots__ = ("_cidx", "_pidx", "_vals", "_lay")
    _cidx: Tensor
    _pidx: Tensor
    _vals: Tensor
    _lay: Layout

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("SparseCompressedTensor(): build one with bp.sparse_csr_tensor or bp.sparse_csc_tensor")

    @classmethod
    def _make(
        cls, cidx: Tensor, pidx: Tensor, values: Tensor, size: tuple[int, ...], layout: Layout
    ) -> SparseCompressedTensor:
        """A compressed tensor around the three tensors (no checks, no copies: the library's constructor)."""
        t: SparseCompressedTensor = object.__new__(cls)
        dev = values.device
        word = _WORDS[layout.name]
        t._data = _SparseData(
            tuple(int(s) for s in size),
            values.dtype,
            word + ("CUDA" if dev.type == "cuda" else "CPU"),
            layout.name.removeprefix("sparse_").upper(),
        )
        t.device = dev
        t._grad = None
        t._requires_grad = False
        t._vc = 0
        t._vbase = None
        t._hooks = None
        t._cidx, t._pidx, t._vals, t._lay = cidx, pidx, values, layout
        return t

    def _like(self, values: Tensor) -> SparseCompressedTensor:
        """This pattern with other ``values`` (same nnz)."""
        return SparseCompressedTensor._make(self._cidx, self._pidx, values, tuple(self.shape), self._lay)

    @property
    def _csr(self) -> builtins.bool:
        return self._lay is sparse_csr

    @property
    def _word(self) -> str:
        return _WORDS[self._lay.name]

    def _coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's (row, column), in storage order, on the host."""
        major, minor = _expand(_host(self._cidx)), _host(self._pidx).astype(np.int64)
        return (major, minor) if self._csr else (minor, major)

    def _refuse(self, op: str) -> NotImplementedError:
        return NotImplementedError(
            f"Could not run 'aten::{op}' with arguments from the '{self._data.backend}' backend: the operation "
            f"is not supported for sparse {self._lay.name.removeprefix('sparse_').upper()} tensors"
        )

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"unsupported tensor layout: {self._word}")

    # ------------------------------------------------------------ what a compressed tensor is
    layout = property(lambda self: self._lay, doc="``bp.sparse_csr`` or ``bp.sparse_csc``.")
    is_sparse = property(lambda self: False, doc="False, as torch's: ``is_sparse`` means the COO layout.")
    is_sparse_csr = property(lambda self: self._lay is sparse_csr, doc="True for the CSR layout.")

    def _nnz(self) -> builtins.int:
        """The number of stored entries."""
        return int(self._pidx.shape[0])

    def sparse_dim(self) -> builtins.int:
        return 2

    def dense_dim(self) -> builtins.int:
        return 0

    def _index(self, name: str, want: Layout, kind: str, compressed: builtins.bool) -> Tensor:
        if self._lay is not want:
            raise RuntimeError(f"{name} expected sparse {kind} compressed tensor layout but got {self._word}")
        return self._cidx if compressed else self._pidx

    def crow_indices(self) -> Tensor:
        """The (n_rows + 1,) row offsets of a CSR tensor."""
        return self._index("crow_indices", sparse_csr, "row", True)

    def col_indices(self) -> Tensor:
        """The (nnz,) column of each entry of a CSR tensor."""
        return self._index("col_indices", sparse_csr, "row", False)

    def ccol_indices(self) -> Tensor:
        """The (n_cols + 1,) column offsets of a CSC tensor."""
        return self._index("ccol_indices", sparse_csc, "column", True)

    def row_indices(self) -> Tensor:
        """The (nnz,) row of each entry of a CSC tensor."""
        return self._index("row_indices", sparse_csc, "column", False)

    def values(self) -> Tensor:
        """The (nnz,) values, differentiable."""
        return self._vals

    def _coo_only(self, name: str) -> RuntimeError:
        return RuntimeError(f"{name} expected sparse coordinate tensor layout but got {self._word}")

    def indices(self) -> Tensor:
        raise self._coo_only("indices")

    def coalesce(self) -> Tensor:
        raise self._coo_only("coalesce")

    def is_coalesced(self) -> builtins.bool:
        raise self._coo_only("is_coalesced")

    def _indices(self) -> Tensor:
        raise self._refuse("_indices")

    def _values(self) -> Tensor:
        raise self._refuse("_values")

    def is_contiguous(self, memory_format: Any = None) -> builtins.bool:
        raise RuntimeError(f"Sparse {self._lay.name.removeprefix('sparse_').upper()} tensors do not have is_contiguous")

    # ------------------------------------------------------------ autograd, through the values (ThroughValues)
    def _grad_from_values(self, g: Tensor) -> SparseCompressedTensor:
        """The values' gradient as a tensor of this layout and pattern."""
        return self._like(g)

    def clone(self, *, memory_format: Any = None) -> SparseCompressedTensor:
        """A differentiable copy (new index and value memory)."""
        return SparseCompressedTensor._make(
            self._cidx.clone(), self._pidx.clone(), self._vals.clone(), tuple(self.shape), self._lay
        )

    # ------------------------------------------------------------ conversions
    def to(self, *args: Any, **kwargs: Any) -> SparseCompressedTensor:
        """``to(device)``, ``to(dtype)`` or both: moves or casts the indices and values (differentiable)."""
        values = self._vals.to(*args, **kwargs)
        dev = values.device
        cidx = self._cidx if self._cidx.device is dev else self._cidx.to(dev)
        pidx = self._pidx if self._pidx.device is dev else self._pidx.to(dev)
        if values is self._vals and cidx is self._cidx:
            return self
        return SparseCompressedTensor._make(cidx, pidx, values, tuple(self.shape), self._lay)

    def numpy(self, *, force: builtins.bool = False) -> np.ndarray:
        raise TypeError(f"can't convert {self._word} layout tensor to numpy. Use Tensor.to_dense() first.")

    def _host(self) -> np.ndarray:
        raise RuntimeError("Cannot access data pointer of Tensor that doesn't have storage (a sparse tensor)")

    def item(self) -> Any:
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self.to_dense().item()

    def to_sparse_coo(self) -> SparseTensor:
        """The COO tensor of the entries (int64 indices; coalesced when CSR), sharing the values' graph."""
        rows, cols = self._coords()
        ix = Tensor._of(np.stack([rows, cols]).reshape(2, -1), device=self.device)
        return SparseTensor._make(ix, self._vals, tuple(self.shape), self._csr)

    def to_sparse(
        self, sparse_dim: Any = None, *, layout: Any = None, blocksize: Any = None, dense_dim: Any = None
    ) -> Tensor:
        """COO (``to_sparse()``, ``to_sparse(2)``) or ``layout`` (``bp.sparse_csr``/``sparse_csc``)."""
        if layout is not None and _layout_name(layout) != "sparse_coo":
            return to_compressed(self, layout, dense_dim)
        if sparse_dim is not None and sparse_dim != 2:
            raise RuntimeError(
                f"sparse_compressed_to_sparse: conversion from {self._word} to Sparse with sparse_dim argument !=2 "
                "is not supported"
            )
        return self.to_sparse_coo()

    def to_sparse_csr(self, dense_dim: builtins.int | None = None) -> SparseCompressedTensor:
        return to_compressed(self, sparse_csr, dense_dim)

    def to_sparse_csc(self, dense_dim: builtins.int | None = None) -> SparseCompressedTensor:
        return to_compressed(self, sparse_csc, dense_dim)

    def to_dense(self, dtype: Any = None, *, masked_grad: builtins.bool | None = None) -> Tensor:
        """The dense matrix; differentiable w.r.t. the values."""
        if dtype is not None:
            raise RuntimeError(f"dtype argument is not supported by sparse_{self._lay.name[7:]}_to_dense")
        return _build.to_dense(self.to_sparse_coo())

    # ------------------------------------------------------------ shape
    def t(self) -> SparseCompressedTensor:
        """The transpose: a CSR matrix's is the CSC matrix of the same arrays (and back), as torch's."""
        other = sparse_csc if self._csr else sparse_csr
        n, m = self.shape
        return SparseCompressedTensor._make(self._cidx, self._pidx, self._vals, (m, n), other)

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> SparseCompressedTensor:
        for d in (dim0, dim1):
            if not -2 <= d < 2:
                raise IndexError(f"Dimension out of range (expected to be in range of [-2, 1], but got {d})")
        return self if dim0 % 2 == dim1 % 2 else self.t()

    # ------------------------------------------------------------ elementwise
    def _keys(self) -> np.ndarray:
        """Each entry's position in the layout's order (row-major for CSR, column-major for CSC)."""
        rows, cols = self._coords()
        n, m = self.shape
        return rows * m + cols if self._csr else cols * n + rows

    def _from_keys(self, keys: np.ndarray, values: Tensor, index_dtype: Any) -> SparseCompressedTensor:
        """The tensor of this shape and layout whose entries sit at the sorted ``keys`` (see ``_keys``)."""
        n, m = self.shape
        major, minor = (keys // m, keys % m) if self._csr else (keys // n, keys % n)
        cidx = _offsets(major, n if self._csr else m, index_dtype)
        dev = self.device
        return SparseCompressedTensor._make(
            Tensor._of(cidx, device=dev), Tensor._of(minor.astype(index_dtype), device=dev), values,
            (n, m), self._lay,
        )  # fmt: skip

    def _same_kind(self, name: str, other: Any) -> SparseCompressedTensor:
        if not isinstance(other, SparseCompressedTensor) or other._lay is not self._lay:
            raise NotImplementedError(
                f"{name}: a {self._word} tensor combines with a number, a dense tensor of its shape or a "
                f"{self._word} tensor; got a {getattr(other, 'layout', type(other).__name__)} operand"
            )
        if tuple(other.shape) != tuple(self.shape):
            raise RuntimeError(f"{name}: expected sizes to match, got {tuple(self.shape)} and {tuple(other.shape)}")
        check_device(name, self, other)
        return other

    def __mul__(self, other: Any) -> SparseCompressedTensor:
        """By a number or 0-d tensor, a dense tensor of this shape (the pattern is kept) or a tensor of this
        layout (the entries stored in both)."""
        if isinstance(other, (builtins.int, builtins.float, builtins.complex, np.generic)):
            return self._like(self._vals * other)
        if isinstance(other, Tensor) and not isinstance(other, (SparseTensor, SparseCompressedTensor)):
            if other.ndim == 0:
                return self._like(self._vals * other)
            if tuple(other.shape) != tuple(self.shape):
                raise RuntimeError(
                    f"sparse_mask(): operands have incompatible sizes; self has size {list(other.shape)} but mask "
                    f"has size {list(self.shape)}"
                )
            rows, cols = self._coords()
            at = (Tensor._of(rows, device=self.device), Tensor._of(cols, device=self.device))
            return self._like(self._vals * other[at])
        other = self._same_kind("mul", other)
        ka, kb = self._keys(), other._keys()
        if ka.shape == kb.shape and np.array_equal(ka, kb):
            return self._like(self._vals * other._vals)
        keys, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
        dev = self.device
        values = (
            self._vals[Tensor._of(ia.astype(np.int64), device=dev)]
            * other._vals[Tensor._of(ib.astype(np.int64), device=dev)]
        )
        return self._from_keys(keys, values, self._cidx.dtype)

    __rmul__ = __mul__

    def mul(self, other: Any) -> SparseCompressedTensor:
        return self.__mul__(other)

    def __add__(self, other: Any) -> Tensor:
        return self.add(other)

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self + alpha * other``: a dense result for a dense ``other`` (as torch's), the union of the
        entries for a tensor of this layout."""
        if isinstance(other, Tensor) and not isinstance(other, (SparseTensor, SparseCompressedTensor)):
            return self.to_dense() + (other if alpha == 1 else other * alpha)
        if not isinstance(other, Tensor):
            raise RuntimeError(
                f"add: expected 'self' and 'other' to have same size, but self has size [] while other has size "
                f"{list(self.shape)} (FYI: op2-sparse addition does not currently support broadcasting)"
            )
        other = self._same_kind("add", other)
        if not self._csr:
            raise RuntimeError(f"crow_indices expected sparse row compressed tensor layout but got {self._word}")
        ka, kb = self._keys(), other._keys()
        ov = other._vals if alpha == 1 else other._vals * alpha
        if ka.shape == kb.shape and np.array_equal(ka, kb):
            return self._like(self._vals + ov)
        keys, inverse = np.unique(np.concatenate([ka, kb]), return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.int64)
        dev = self.device
        dt = dtypes.promote_types(self._vals, ov)
        values = (
            self._vals.new_zeros(len(keys), dtype=dt)
            .index_add(0, Tensor._of(inverse[: len(ka)], device=dev), self._vals.to(dt))
            .index_add(0, Tensor._of(inverse[len(ka) :], device=dev), ov.to(dt))
        )
        return self._from_keys(keys, values, self._cidx.dtype)

    def __radd__(self, other: Any) -> Tensor:
        """``dense + sparse``: a dense tensor, as torch's."""
        if isinstance(other, Tensor):
            return other + self.to_dense()
        return self.add(other)

    def __neg__(self) -> SparseCompressedTensor:
        return self._like(-self._vals)

    def sum(
        self,
        dim: Any = None,
        keepdim: builtins.bool = False,
        *,
        dtype: Any = None,
        axis: Any = None,
        keepdims: Any = None,
    ) -> Tensor:
        """Every entry (a dense 0-d tensor), or over ``dim`` with ``keepdim=True`` (a CSR tensor of the
        rows/columns that hold entries), as torch's."""
        dim = axis if dim is None else dim
        keepdim = builtins.bool(keepdim or keepdims)
        vals = self._vals if dtype is None else self._vals.to(dtypes.to_dtype(dtype))
        if dim is None:
            return vals.sum()
        if not keepdim:
            raise RuntimeError("reduction operations on CSR tensors with keepdim=False is unsupported")
        if not self._csr:
            raise RuntimeError(
                "Currently the only compressed sparse format supported for sum.dim_IntList is CSR, but got layout "
                f"{self._word}"
            )
        dims = _build._dims("sum", dim, 2)
        n, m = self.shape
        rows, cols = self._coords()
        if dims == [0, 1]:
            keep_r = keep_c = np.zeros(1 if len(rows) else 0, np.int64)
            group, size = np.zeros(len(rows), np.int64), (1, 1)
        elif dims == [0]:
            keep_c, group = np.unique(cols, return_inverse=True)
            keep_r, size = np.zeros(len(keep_c), np.int64), (1, m)
        else:
            keep_r, group = np.unique(rows, return_inverse=True)
            keep_c, size = np.zeros(len(keep_r), np.int64), (n, 1)
        dev = self.device
        total = vals.new_zeros(len(keep_r)).index_add(
            0, Tensor._of(group.reshape(-1).astype(np.int64), device=dev), vals
        )
        crow = _offsets(keep_r, size[0], self._cidx.dtype)
        return SparseCompressedTensor._make(
            Tensor._of(crow, device=dev), Tensor._of(keep_c.astype(self._cidx.dtype), device=dev), total, size,
            sparse_csr,
        )  # fmt: skip

    # ------------------------------------------------------------ products
    def mm(self, mat2: Any) -> Tensor:
        """``self @ mat2`` for a dense matrix ``mat2`` (dense result)."""
        return _sparse_mm(self, mat2)

    def matmul(self, other: Any) -> Tensor:
        """By a dense matrix or vector (dense result)."""
        if isinstance(other, Tensor) and other.ndim == 1 and not isinstance(other, SparseCompressedTensor):
            return self.mm(other.unsqueeze(1)).squeeze(1)
        return self.mm(other)

    __matmul__ = matmul

    def mv(self, vec: Any) -> Tensor:
        return self.matmul(vec)

    def __rmatmul__(self, other: Any) -> Tensor:
        """``dense @ sparse``: a dense matrix, computed as ``(sparse.t() @ dense.t()).t()``."""
        if isinstance(other, Tensor) and not isinstance(other, (SparseTensor, SparseCompressedTensor)):
            if other.ndim == 2 and other.shape[1] != self.shape[0]:
                raise RuntimeError(
                    f"mat1 and mat2 shapes cannot be multiplied ({other.shape[0]}x{other.shape[1]} and "
                    f"{self.shape[0]}x{self.shape[1]})"
                )
            if other.ndim == 1:
                return self.t().matmul(other)
            return self.t().mm(other.t()).t()
        return NotImplemented

    _sparse_rmm = __rmatmul__  # (the dense ``mm``/``matmul`` methods hand a compressed mat2 to this)

    # ------------------------------------------------------------ printing, copying, pickling
    def __repr__(self) -> str:
        indent = len("tensor(")
        cname, pname = ("crow_indices", "col_indices") if self._csr else ("ccol_indices", "row_indices")
        text = (
            f"tensor({cname}=tensor({_tensor.repr_body(self._cidx, indent + len(cname + '=tensor('))}),\n"
            f"{' ' * indent}{pname}=tensor({_tensor.repr_body(self._pidx, indent + len(pname + '=tensor('))}),\n"
            f"{' ' * indent}values=tensor({_tensor.repr_body(self._vals, indent + len('values=tensor('))})"
        )
        return text + _tensor.repr_suffixes(self, text, str(self._lay)) + ")"

    def __deepcopy__(self, memo: dict) -> SparseCompressedTensor:
        """A leaf's deep copy: new index and value memory, same ``requires_grad``."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol"
            )
        new = SparseCompressedTensor._make(
            _copy.deepcopy(self._cidx, memo), _copy.deepcopy(self._pidx, memo), _copy.deepcopy(self._vals, memo),
            tuple(self.shape), self._lay,
        )  # fmt: skip
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> tuple:
        """Pickled as its index tensors, values (a leaf), size and layout name."""
        return (
            _rebuild_compressed,
            (self._cidx, self._pidx, self._vals.detach(), tuple(self.shape), self._lay.name, self.requires_grad),
        )


for _name in _ZERO_PRESERVING:

    def _unary(self: SparseCompressedTensor, _op: str = _name) -> SparseCompressedTensor:
        return self._like(getattr(self._vals, _op)())

    _unary.__name__ = _unary.__qualname__ = _name
    _unary.__doc__ = f"``{_name}`` of the stored values (zeros stay zero, so the pattern is kept), as torch's."
    setattr(SparseCompressedTensor, _name, _unary)
for _name in _REFUSED:
    setattr(SparseCompressedTensor, _name, SparseCompressedTensor._unsupported)


def _rebuild_compressed(
    cidx: Tensor, pidx: Tensor, values: Tensor, size: tuple[int, ...], layout: str, requires_grad: builtins.bool
) -> SparseCompressedTensor:
    """The inverse of ``SparseCompressedTensor.__reduce_ex__``."""
    if requires_grad:
        values.requires_grad_(True)
    return SparseCompressedTensor._make(cidx, pidx, values, tuple(size), _LAYOUTS[layout])


# ---------------------------------------------------------------- constructors


def _index_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x.detach()
    a = np.asarray(x)
    return Tensor._of(a.astype(np.int64) if a.dtype.kind in "iub" or a.size == 0 else a)


def _validate(cidx: np.ndarray, pidx: np.ndarray, nnz: int, shape: tuple[int, int], csr: bool) -> None:
    """torch's ``check_invariants`` for a CSR (``csr``) or CSC matrix, with torch's messages."""
    c, p = ("crow", "col") if csr else ("ccol", "row")
    n_major, n_minor = (shape[0], shape[1]) if csr else (shape[1], shape[0])
    major_word, major_n, minor_n = ("rows", "nrows", "ncols") if csr else ("columns", "ncols", "nrows")
    if cidx.shape[0] != n_major + 1:
        raise RuntimeError(
            f"{c}_indices.shape[-1] must be equal to the number of {major_word} + 1 (={n_major + 1}), but got "
            f"{cidx.shape[0]}"
        )
    if pidx.shape[0] != nnz:
        raise RuntimeError(
            f"{p}_indices.shape[-1] must be equal to nnz (={nnz}) as defined by values.shape[0], but got "
            f"{pidx.shape[0]}"
        )
    c64, p64 = cidx.astype(np.int64), pidx.astype(np.int64)
    if c64[0] != 0:
        raise RuntimeError(f"`{c}_indices[..., 0] == 0` is not satisfied.")
    if c64[-1] != nnz:
        raise RuntimeError(f"`{c}_indices[..., -1] == nnz` is not satisfied.")
    steps = np.diff(c64)
    if steps.size and (steps.min() < 0 or steps.max() > n_minor):
        raise RuntimeError(f"`0 <= {c}_indices[..., 1:] - {c}_indices[..., :-1] <= {minor_n}` is not satisfied.")
    if nnz and (p64.min() < 0 or p64.max() >= n_minor):
        raise RuntimeError(f"`0 <= {p}_indices < {minor_n}` is not satisfied.")
    if nnz > 1:
        major = _expand(c64)
        same = major[1:] == major[:-1]
        if np.any(same & (p64[1:] <= p64[:-1])):
            raise RuntimeError(
                f"`{p}_indices[..., {c}_indices[..., i - 1]:{c}_indices[..., i]] for all i = 1, ..., {major_n} "
                "are sorted and distinct along the last dimension values` is not satisfied."
            )


def sparse_compressed_tensor(
    compressed_indices: Any,
    plain_indices: Any,
    values: Any,
    size: Any = None,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
) -> SparseCompressedTensor:
    """torch's ``sparse_compressed_tensor`` for ``layout=bp.sparse_csr`` or ``bp.sparse_csc``. The
    invariants are always checked (``check_invariants`` is accepted): an invalid tensor would make scipy's
    kernels read out of bounds or give wrong products. The size defaults to (len(compressed) - 1, largest
    plain index + 1), swapped for CSC."""
    name = "none" if layout is None else _layout_name(layout)
    if name not in _LAYOUTS:
        if name in ("sparse_bsr", "sparse_bsc"):
            raise NotImplementedError(
                f"sparse_compressed_tensor: layout={name} (blocked sparse) is not supported; use sparse_csr or "
                "sparse_csc"
            )
        raise RuntimeError(
            f"sparse_compressed_tensor expected sparse compressed tensor layout but got {_WORDS.get(name, name)}"
        )
    csr = name == "sparse_csr"
    c, p = ("crow", "col") if csr else ("ccol", "row")
    cidx, pidx = _index_tensor(compressed_indices), _index_tensor(plain_indices)
    val = values if isinstance(values, Tensor) else Tensor._of(values, dtype=dtype)
    if dtype is not None and val.dtype != dtypes.to_dtype(dtype):
        val = val.to(dtypes.to_dtype(dtype))
    if device is not None:
        val = val.to(to_device(device))
    if cidx.ndim != pidx.ndim:
        raise RuntimeError(
            f"{c}_indices and {p}_indices dimensionalities must be equal but got {cidx.ndim} and {pidx.ndim}, "
            "respectively"
        )
    if cidx.ndim != 1:
        raise NotImplementedError(
            f"sparse_compressed_tensor: {cidx.ndim}-D {c}_indices make a batched sparse tensor, which is not "
            "supported (2-D matrices only)"
        )
    if val.ndim == 0:
        raise RuntimeError(
            "values must have dimensionality > sum of batch and block dimensionalities (=0 + 0) but got 0"
        )
    if val.ndim != 1:
        raise NotImplementedError(
            f"sparse_compressed_tensor: values of shape {tuple(val.shape)}: only 1-D values (one number per "
            "entry, no hybrid dense dimensions) are supported"
        )
    for ix in (cidx, pidx):
        if str(ix.dtype) not in ("int32", "int64"):
            raise RuntimeError(
                f"{c}_indices and {p}_indices dtype must be Int or Long, but got {dtypes.scalar_type_name(ix.dtype)}"
            )
    if cidx.dtype != pidx.dtype:
        raise RuntimeError(
            f"{c}_indices and {p}_indices must have the same dtype, bot got "
            f"{dtypes.scalar_type_name(cidx.dtype)} and {dtypes.scalar_type_name(pidx.dtype)}, respectively"
        )
    ch, ph = _host(cidx), _host(pidx)
    if size is None:
        minor = int(ph.max()) + 1 if ph.size else 0
        shape = (len(ch) - 1, minor) if csr else (minor, len(ch) - 1)
    else:
        shape = shape_of(size)  # type: ignore[assignment]
        if len(shape) != 2:
            raise RuntimeError(
                "tensor dimensionality must be sum of batch, base, and dense dimensionalities (=0 + 2 + 0) but got "
                f"{len(shape)}"
            )
    _validate(ch, ph, int(val.shape[0]), (int(shape[0]), int(shape[1])), csr)
    dev = val.device
    cidx = cidx if cidx.device is dev else cidx.to(dev)
    pidx = pidx if pidx.device is dev else pidx.to(dev)
    if requires_grad:
        if dtypes.kind(val.dtype) not in "fc":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        val = val.detach()
        val.requires_grad_(True)
    return SparseCompressedTensor._make(cidx, pidx, val, shape, _LAYOUTS[name])


def sparse_csr_tensor(
    crow_indices: Any,
    col_indices: Any,
    values: Any,
    size: Any = None,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
) -> SparseCompressedTensor:
    """torch's ``sparse_csr_tensor``: row offsets, column indices and values of a 2-D CSR matrix (the size
    defaults to (len(crow_indices) - 1, largest column + 1)); the invariants are always checked."""
    if layout is not None and layout is not sparse_csr:
        raise RuntimeError(f"sparse_csr_tensor: layout must be SparseCsr but got {_layout_word(layout)}")
    return sparse_compressed_tensor(
        crow_indices, col_indices, values, size, dtype=dtype, layout=sparse_csr, device=device,
        requires_grad=requires_grad, check_invariants=check_invariants,
    )  # fmt: skip


def sparse_csc_tensor(
    ccol_indices: Any,
    row_indices: Any,
    values: Any,
    size: Any = None,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
) -> SparseCompressedTensor:
    """torch's ``sparse_csc_tensor``: column offsets, row indices and values of a 2-D CSC matrix (the size
    defaults to (largest row + 1, len(ccol_indices) - 1)); the invariants are always checked."""
    if layout is not None and layout is not sparse_csc:
        raise RuntimeError(f"sparse_csc_tensor: layout must be SparseCsc but got {_layout_word(layout)}")
    return sparse_compressed_tensor(
        ccol_indices, row_indices, values, size, dtype=dtype, layout=sparse_csc, device=device,
        requires_grad=requires_grad, check_invariants=check_invariants,
    )  # fmt: skip


# ---------------------------------------------------------------- conversions


def _compress(
    rows: np.ndarray, cols: np.ndarray, values: Tensor, shape: tuple[int, int], layout: Layout, index_dtype: Any,
    row_major: bool,
) -> SparseCompressedTensor:  # fmt: skip
    """The ``layout`` tensor of entries at (rows, cols); ``row_major``: the entries are sorted row-major
    (else column-major) with no duplicates. The values are gathered into the layout's order (differentiable)."""
    csr = layout is sparse_csr
    major, minor = (rows, cols) if csr else (cols, rows)
    dev = values.device
    if row_major != csr:  # a stable sort by the new major coordinate keeps the minor ones sorted within it
        perm = np.argsort(major, kind="stable")
        major, minor = major[perm], minor[perm]
        values = values[Tensor._of(perm.astype(np.int64), device=dev)]
    cidx = _offsets(major, shape[0] if csr else shape[1], index_dtype)
    return SparseCompressedTensor._make(
        Tensor._of(cidx, device=dev), Tensor._of(minor.astype(index_dtype), device=dev), values, shape, layout
    )


def to_compressed(x: Any, layout: Any, dense_dim: Any = None) -> SparseCompressedTensor:
    """``x.to_sparse_csr()``/``to_sparse_csc()``/``to_sparse(layout=...)`` of a dense, COO or compressed
    tensor (differentiable w.r.t. the dense tensor or the values)."""
    name = _layout_name(layout)
    if name not in _LAYOUTS:
        raise NotImplementedError(f"to_sparse: layout={name} is not supported (sparse_coo, sparse_csr, sparse_csc)")
    want = _LAYOUTS[name]
    tag = name.removeprefix("sparse_")
    if isinstance(x, SparseCompressedTensor):
        if x._lay is want:
            return x
        rows, cols = x._coords()
        return _compress(rows, cols, x._vals, tuple(x.shape), want, x._cidx.dtype, x._csr)
    if isinstance(x, SparseTensor):
        if x.ndim != 2:
            raise RuntimeError(
                f"coo_to_sparse_{tag}: conversion from Sparse to {_WORDS[name]} for input tensors with sparse_dim()!=2 "
                "is not supported"
            )
        c = x.coalesce()
        ix = _host(c._ix)
        return _compress(ix[0], ix[1], c._vals, tuple(x.shape), want, np.int64, True)
    if dense_dim not in (None, 0):
        raise RuntimeError(
            f"dense_to_sparse_{tag}: dense_dim argument must be in [0,0] range, but {dense_dim} is given"
        )
    if x.ndim != 2:
        if x.ndim > 2:
            raise NotImplementedError(
                f"to_sparse_{tag}: a {x.ndim}-D tensor would make a batched sparse tensor, which is not supported "
                "(2-D matrices only)"
            )
        raise RuntimeError(f"to_sparse_{tag}: expected a 2-D tensor, got a {x.ndim}-D one")
    return to_compressed(_build.from_dense(x), want)


# ---------------------------------------------------------------- products


_I32 = 2**31 - 1


def _matrix(device: Any, values: Any, plain: Any, compressed: Any, shape: tuple[int, int], csr: bool) -> Any:
    """The scipy (cupyx on CUDA) CSR or CSC matrix of the three arrays as they are (no conversion on the CPU).

    On CUDA the index arrays go in as int32 where everything fits (a device cast: cupyx reads the contents of
    int64 index arrays back to choose their dtype), and the matrix is marked canonical, which the invariants
    checked at construction guarantee (cupyx would run a kernel and read its verdict back before each
    product). What stays is the read of ``indptr``'s two ends in cupyx's constructor."""
    if device.type == "cpu":
        import scipy.sparse as sps

        make = sps.csr_matrix if csr else sps.csc_matrix
        return make((values, plain, compressed), shape=shape)
    import cupyx.scipy.sparse as cusps

    with device.backend.use_device(device.index):
        if max(shape) <= _I32 and plain.shape[0] <= _I32:
            plain, compressed = plain.astype(np.int32, copy=False), compressed.astype(np.int32, copy=False)
        m = (cusps.csr_matrix if csr else cusps.csc_matrix)((values, plain, compressed), shape=shape)
        m.has_canonical_format = True
    return m


def _device_mm(dev: Any, values: Any, dense: Any, cidx: Tensor, pidx: Tensor, n: int, csr: builtins.bool) -> Any:
    """``S @ D`` on a GPU for the dtypes cuSPARSE lacks (integers, bool, float16): each entry's product
    ``v * D[col]``, summed per row as differences of a running sum at the row offsets (entries sorted by row:
    CSR's own order, CSC's after a sort), accumulated in int64 (exact modulo 2**64, so integer wrap-around is
    the CPU's) or float32 for float16; no scatter, no read-back."""
    xp, dtype = dev.xp, dense.dtype
    rows_t, cols_t = _entry_coords(cidx, pidx, csr)
    rows, cols = rows_t._data, cols_t._data
    with dev.backend.use_device(dev.index):
        if not csr:
            order = xp.argsort(rows)
            rows, cols, values = rows[order], cols[order], values[order]
        d2 = dense[:, None] if dense.ndim == 1 else dense
        acc = np.int64 if dtype.kind in "biu" else np.float32
        terms = values.astype(acc)[:, None] * d2[cols].astype(acc)
        running = xp.concatenate([xp.zeros((1, d2.shape[1]), acc), xp.cumsum(terms, axis=0)])
        offsets = xp.searchsorted(rows, xp.arange(n + 1), side="left")
        out = running[offsets[1:]] - running[offsets[:-1]]
        out = out != 0 if dtype.kind == "b" else out.astype(dtype)
    return out[:, 0] if dense.ndim == 1 else out


class _CompressedMM(Function):
    """y = S @ D for S (n, m) given by its compressed arrays (CSR when ``csr``, else CSC) and a dense D (m, k).
    Backward: dD = S^H gy (the same arrays read as the other layout: S^T, a node again, so it has a double
    backward) and dvalues[e] = gy[row_e] . conj(D[col_e]) (torch's ``sparse_mask`` of gy D^H)."""

    @staticmethod
    def forward(
        ctx: Any, values: Tensor, dense: Tensor, cidx: Tensor, pidx: Tensor, shape: tuple[int, int], csr: bool
    ) -> Tensor:
        ctx.save_for_backward(values, dense)
        ctx.pattern = (cidx, pidx, shape, csr)
        dev = dense.device
        if dev.type != "cpu" and np.dtype(dense.dtype).char not in "fdFD":  # cuSPARSE's dtypes only
            return Tensor._wrap(_device_mm(dev, values._data, dense._data, cidx, pidx, shape[0], csr), dev, None)
        s = _matrix(dev, values._data, pidx._data, cidx._data, shape, csr)
        out = s @ dense._data
        with dev.backend.use_device(dev.index):
            return Tensor._wrap(dev.xp.asarray(out, dtype=dense.dtype), dev, None)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Any, ...]:
        values, dense = ctx.saved_tensors
        cidx, pidx, shape, csr = ctx.pattern
        gv = gd = None
        if ctx.needs_input_grad[0]:
            rows, cols = _entry_coords(cidx, pidx, csr)
            d = dense.conj() if dense.is_complex() else dense
            gv = (gy[rows] * d[cols]).sum(1)
        if ctx.needs_input_grad[1]:
            v = values.conj() if values.is_complex() else values
            gd = _CompressedMM.apply(v, gy, cidx, pidx, (shape[1], shape[0]), not csr)
        return gv, gd, None, None, None, None


def compressed_mm(s: SparseCompressedTensor, dense: Tensor) -> Tensor:
    """``s @ dense`` for a checked (n, m) CSR/CSC ``s`` and dense (m, k) ``dense``."""
    return _CompressedMM.apply(s._vals, dense, s._cidx, s._pidx, tuple(s.shape), s._csr)


def sampled_addmm(
    input: Any, mat1: Any, mat2: Any, *, beta: Any = 1.0, alpha: Any = 1.0, out: Any = None
) -> SparseCompressedTensor:
    """torch's ``sparse.sampled_addmm``: ``beta * input + alpha * (mat1 @ mat2)`` at the entries of the CSR
    matrix ``input`` only (a CSR result of its pattern); differentiable w.r.t. all three. Each sampled entry
    is the dot product of a row of ``mat1`` and a column of ``mat2`` (gathers and a row sum: O(nnz k))."""
    if out is not None:
        raise NotImplementedError("sparse.sampled_addmm: out= is not supported")
    if not isinstance(input, SparseCompressedTensor):
        backend = "SparseCPU" if isinstance(input, SparseTensor) else "CPU"
        raise NotImplementedError(
            f"Could not run 'aten::sparse_sampled_addmm' with arguments from the '{backend}' backend: "
            "sampled_addmm takes a sparse CSR input"
        )
    if not input._csr:
        raise RuntimeError(f"sampled_addmm: Expected result to have sparse csr layout, but got {input._word}")
    for nm, m in (("mat1", mat1), ("mat2", mat2)):
        if isinstance(m, (SparseTensor, SparseCompressedTensor)):
            raise RuntimeError(f"sampled_addmm: Expected {nm} to have strided layout, but got {_WORDS[m.layout.name]}")
        if not isinstance(m, Tensor):
            raise TypeError(f"sampled_addmm: {nm} must be a Tensor, got {type(m).__name__}")
        if m.ndim > 2:
            raise NotImplementedError("sparse.sampled_addmm: batched matrices (3-D mat1/mat2) are not supported")
        if m.ndim != 2:
            raise RuntimeError(f"sampled_addmm: Expected {nm} to be a matrix, got {m.ndim}-D tensor")
    name = dtypes.scalar_type_name
    if mat1.dtype != mat2.dtype:
        raise RuntimeError(
            f"sampled_addmm: Expected mat1 and mat2 to have the same dtype, but got {name(mat1.dtype)} and "
            f"{name(mat2.dtype)}"
        )
    if mat1.dtype != input.dtype:
        raise RuntimeError(
            f"sampled_addmm: Expected mat1 and self to have the same dtype, but got {name(mat1.dtype)} and "
            f"{name(input.dtype)}"
        )
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(
            f"sampled_addmm: mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} and "
            f"{mat2.shape[0]}x{mat2.shape[1]})"
        )
    if input.shape[0] != mat1.shape[0]:
        raise RuntimeError("sampled_addmm: self.shape[-2] must match mat1.shape[-2]")
    if input.shape[1] != mat2.shape[1]:
        raise RuntimeError("sampled_addmm: self.shape[-1] must match mat2.shape[-1]")
    check_device("sparse.sampled_addmm", input, mat1, mat2)
    rows, cols = _entry_coords(input._cidx, input._pidx, input._csr)
    picked = (mat1[rows] * mat2.t()[cols]).sum(1)
    values = picked if alpha == 1 else picked * alpha
    if beta != 0:  # (torch ignores input's values, nan included, when beta is 0)
        values = values + (input._vals if beta == 1 else input._vals * beta)
    return input._like(values)


class check_sparse_tensor_invariants:  # noqa: N801 - torch's name
    """torch's ``sparse.check_sparse_tensor_invariants``: a context manager/decorator and a global flag.
    backprop checks the invariants of every sparse tensor it builds whatever the flag says (see
    ``sparse_compressed_tensor``), so the flag is kept only to be read back."""

    _enabled = [False]

    @staticmethod
    def is_enabled() -> bool:
        return check_sparse_tensor_invariants._enabled[0]

    @staticmethod
    def enable() -> None:
        check_sparse_tensor_invariants._enabled[0] = True

    @staticmethod
    def disable() -> None:
        check_sparse_tensor_invariants._enabled[0] = False

    def __init__(self, enable: bool = True) -> None:
        self.state = enable
        self.saved_state: bool | None = None

    def __enter__(self) -> check_sparse_tensor_invariants:
        if self.saved_state is not None:
            raise RuntimeError("This context manager instance is already activated. Use a different instance.")
        self.saved_state = self.is_enabled()
        self._enabled[0] = self.state
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.saved_state is not None
        self._enabled[0] = self.saved_state
        self.saved_state = None

    def __call__(self, mth: Any) -> Any:
        import functools

        @functools.wraps(mth)
        def test_mth(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self.state):
                return mth(*args, **kwargs)

        return test_mth


def _not_coo(name: str, s: Any) -> None:
    """torch's errors for the COO-only ``sparse.*`` functions given a compressed tensor."""
    if isinstance(s, SparseCompressedTensor):
        if name == "sum":
            raise s._coo_only("coalesce")
        raise s._refuse("_sparse_" + name)


_tensor.IMPL.update(to_compressed=to_compressed, not_coo=_not_coo)
_ = sparse_coo, sparse_bsr, sparse_bsc  # (re-exported by the package)
