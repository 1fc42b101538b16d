"""The stand-in's ``cupyx.scipy.sparse``: ``csr_matrix``/``csc_matrix`` built from ``(data, indices, indptr)``
device arrays, and their products with dense device arrays (``@``), computed by ``scipy.sparse`` on the
wrapped NumPy arrays.

Modelled on CuPy 15.0.0a1 (github.com/cupy/cupy, commit 6b6d956: ``cupyx/scipy/sparse/_compressed.py``,
``_csr.py``, ``_csc.py``, ``cupyx/cusparse.py``):

- the 3-tuple constructor takes 1-D CuPy arrays only (``ValueError`` otherwise, host arrays included),
  ``len(data) == len(indices)``, ``len(indptr) == major + 1``; data of bool, float32, float64, complex64 or
  complex128 only (``ValueError``); it reads ``indptr[0]`` and ``indptr[-1]`` back to the host (one read, CuPy's
  "synchronize!"), and, for index arrays that do not cast to int32, their max and min too (``get_index_dtype``
  with ``check_contents``); the indices become int32 when they fit;
- ``has_canonical_format`` is computed on first use by a kernel whose result is read back (one read) unless it
  was set (its public setter) or the matrix is empty; the products need it (``sum_duplicates`` first);
- ``S @ D`` for a dense 1-D or 2-D ``D``: both cast to their common type (``_cast_common_type``), which must
  be float32, float64, complex64 or complex128 (cuSPARSE's; ``TypeError`` otherwise); a 2-D result is
  F-ordered as cuSPARSE writes it.

Everything else of cupyx's sparse module is absent here (an ``AttributeError``).
"""

from __future__ import annotations

from typing import Any

import cupy
import numpy as _np
import scipy.sparse as _sps

_DATA_DTYPES = "?fdFD"
_PRODUCT_DTYPES = "fdFD"


def _index_dtype(arrays: tuple[Any, ...], maxval: int) -> Any:
    """CuPy's ``_sputils.get_index_dtype(arrays, maxval, check_contents=True)``: reads the contents of index
    arrays that do not cast to int32."""
    info = _np.iinfo(_np.int32)
    dtype = _np.int64 if maxval > info.max else _np.int32
    for arr in arrays:
        if not _np.can_cast(arr.dtype, _np.int32):
            if arr.size == 0:
                continue
            if _np.issubdtype(arr.dtype, _np.integer):
                hi, lo = arr.max(), arr.min()
                if bool(lo >= info.min) and bool(hi <= info.max):  # two host reads, as CuPy's comparisons
                    continue
            return _np.int64
    return dtype


class _compressed_sparse_matrix:  # noqa: N801 - CuPy's name
    format = ""

    def __init__(self, arg1: Any, shape: Any = None, dtype: Any = None, copy: bool = False) -> None:
        if not (isinstance(arg1, tuple) and len(arg1) == 3):
            raise NotImplementedError("the CuPy stand-in builds sparse matrices from (data, indices, indptr) only")
        data, indices, indptr = arg1
        if not all(isinstance(a, cupy.ndarray) and a.ndim == 1 for a in arg1):
            raise ValueError("data, indices, and indptr must be 1-D cupy arrays")
        if len(data) != len(indices):
            raise ValueError("indices and data should have the same size")
        if shape is None:
            raise NotImplementedError("the CuPy stand-in needs the shape (CuPy would read indices.max() back)")
        shape = int(shape[0]), int(shape[1])
        if indptr.size > 0:
            bounds = cupy.stack((indptr[0], indptr[-1])).get()  # CuPy's one read of both ends
            if int(bounds[0]) != 0:
                raise ValueError(f"index pointer should start with 0 (got {int(bounds[0])})")
            if int(bounds[1]) > data.size:
                raise ValueError(
                    f"last index pointer ({int(bounds[1])}) exceeds the size of data/indices ({data.size})"
                )
        idx_dtype = _index_dtype((indices, indptr), max(shape))
        dtype = data.dtype if dtype is None else _np.dtype(dtype)
        if dtype.char not in _DATA_DTYPES:
            raise ValueError("Only bool, float32, float64, complex64 and complex128 are supported")
        self.data = data.astype(dtype, copy=copy)
        self.indices = indices.astype(idx_dtype, copy=copy)
        self.indptr = indptr.astype(idx_dtype, copy=copy)
        major = shape[0] if self.format == "csr" else shape[1]
        if len(indptr) != major + 1:
            raise ValueError(f"index pointer size ({len(indptr)}) should be ({major + 1})")
        self._shape = shape
        self._has_canonical_format: bool | None = None

    shape = property(lambda self: self._shape)
    ndim = 2
    dtype = property(lambda self: self.data.dtype)
    nnz = property(lambda self: int(self.data.size))

    @property
    def has_canonical_format(self) -> bool:
        if self._has_canonical_format is None and self.data.size == 0:
            self._has_canonical_format = True
        elif self._has_canonical_format is None:  # CuPy's kernel, its verdict read back ("synchronize!")
            self._has_canonical_format = bool(cupy._wrap(_np.asarray(self._scipy().has_canonical_format)))
        return self._has_canonical_format

    @has_canonical_format.setter
    def has_canonical_format(self, val: bool) -> None:
        self._has_canonical_format = bool(val)

    def _scipy(self, dtype: Any = None) -> Any:
        make = _sps.csr_matrix if self.format == "csr" else _sps.csc_matrix
        data = self.data._a if dtype is None else self.data._a.astype(dtype)
        return make((data, self.indices._a, self.indptr._a), shape=self._shape)

    def sum_duplicates(self) -> None:
        if self.has_canonical_format:
            return
        m = self._scipy()
        m.sum_duplicates()
        dev = self.data._dev
        self.data, self.indices, self.indptr = (cupy._wrap(a, dev) for a in (m.data, m.indices, m.indptr))
        self._has_canonical_format = True

    def __matmul__(self, other: Any) -> Any:
        if not isinstance(other, cupy.ndarray):
            if _np.isscalar(other):
                raise ValueError("Scalar operands are not allowed, use '*' instead")
            return NotImplemented
        for a in (self.data, self.indices, self.indptr, other):
            cupy._check_device(a._dev)
        if other.ndim not in (1, 2):
            raise ValueError("could not interpret dimensions")
        if self._shape[1] != other.shape[0]:
            raise ValueError("dimension mismatch")
        self.sum_duplicates()
        common = _np.promote_types(self.dtype, other.dtype)
        if common.char not in _PRODUCT_DTYPES:
            raise TypeError(f"cuSPARSE has no {common} routine")
        out = self._scipy(common) @ other._a.astype(common, copy=False)
        out = _np.asarray(out, dtype=common)
        return cupy._wrap(_np.asfortranarray(out) if out.ndim == 2 else out, self.data._dev)


class csr_matrix(_compressed_sparse_matrix):  # noqa: N801 - CuPy's name
    format = "csr"


class csc_matrix(_compressed_sparse_matrix):  # noqa: N801 - CuPy's name
    format = "csc"


def isspmatrix_csr(x: Any) -> bool:
    return isinstance(x, csr_matrix)


def isspmatrix_csc(x: Any) -> bool:
    return isinstance(x, csc_matrix)
