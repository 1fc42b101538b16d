"""The named tuples that ops returning several tensors give back: one type per op, named as torch's
(``torch.return_types.max``, ``sort``, ``linalg_eigh``, ...), and re-exported as ``bp.return_types``.

Each field layout is a NamedTuple (``ValuesIndices``, ``SignLogAbsDet``, ``QR``, ...); each op's type is an
empty subclass of its layout (no instance dict: building one costs what building the layout costs), with a
twin ``<name>_out`` that ``out=`` returns, as torch's. They say ``backprop.return_types`` is their module, so
they print as torch's do (``backprop.return_types.max(\\nvalues=...,\\nindices=...)``) and pickle by that name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from backprop.tensor import Tensor

MODULE = "backprop.return_types"


def _repr(self: tuple) -> str:
    """torch's structseq layout: the type's full name, then one ``field=value`` a line."""
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))  # type: ignore[attr-defined]
    return f"{MODULE}.{type(self).__name__}(\n{fields})"


# ---------------------------------------------------------------- the field layouts
class ValuesIndices(NamedTuple):
    """``(values, indices)`` of ``max``/``min``/``median``/``nanmedian``/``mode`` along a dim, ``sort``,
    ``topk``, ``kthvalue``, ``cummax`` and ``cummin``; the indices are int64."""

    values: Tensor
    indices: Tensor


class MinMaxValues(NamedTuple):
    """``(min, max)``: what ``aminmax`` returns."""

    min: Tensor
    max: Tensor


class Frexp(NamedTuple):
    """``(mantissa, exponent)``: what ``frexp`` returns; the exponent is int32."""

    mantissa: Tensor
    exponent: Tensor


class Geqrf(NamedTuple):
    """``(a, tau)``: Householder QR in LAPACK's compact form (torch.geqrf)."""

    a: Any
    tau: Any


class Histogram(NamedTuple):
    """``(hist, bin_edges)``: what ``histogram`` returns."""

    hist: Tensor
    bin_edges: Tensor


class HistogramDD(NamedTuple):
    """``(hist, bin_edges)``: what ``histogramdd`` returns (a tuple of edges, one per dimension)."""

    hist: Tensor
    bin_edges: tuple[Tensor, ...]


class SignLogAbsDet(NamedTuple):
    """``(sign, logabsdet)`` of ``slogdet``: det = sign * exp(logabsdet)."""

    sign: Tensor
    logabsdet: Tensor


class QR(NamedTuple):
    """``(Q, R)`` of ``qr``: A = Q R, Q with orthonormal columns, R upper triangular."""

    Q: Tensor
    R: Tensor


class SVD(NamedTuple):
    """``(U, S, V)`` of ``torch.svd`` (V, not Vh: A = U diag(S) V^T)."""

    U: Tensor
    S: Tensor
    V: Tensor


class LinalgSVD(NamedTuple):
    """``(U, S, Vh)`` of ``linalg.svd``: A = U diag(S) Vh."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class LUFactor(NamedTuple):
    """``(LU, pivots)`` of ``lu_factor``: L's strict lower part and U in one matrix, 1-based int32 pivots."""

    LU: Tensor
    pivots: Tensor


class LUFactorEx(NamedTuple):
    """``(LU, pivots, info)`` of ``lu_factor_ex``: info is 0, or the first i with U[i-1, i-1] == 0 (int32)."""

    LU: Tensor
    pivots: Tensor
    info: Tensor


class PLU(NamedTuple):
    """``(P, L, U)`` of ``linalg.lu`` and ``lu_unpack``: A = P L U."""

    P: Tensor
    L: Tensor
    U: Tensor


class TriangularSolve(NamedTuple):
    """``(solution, cloned_coefficient)`` of the deprecated ``triangular_solve``."""

    solution: Tensor
    cloned_coefficient: Tensor


class Eigh(NamedTuple):
    """``(eigenvalues, eigenvectors)`` of ``eigh``: ascending eigenvalues, eigenvectors as columns."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class Eig(NamedTuple):
    """``(eigenvalues, eigenvectors)`` of ``eig``: complex, eigenvectors as unit columns."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class InvEx(NamedTuple):
    """``(inverse, info)`` of ``inv_ex``: info is 0 where the matrix was inverted (int32)."""

    inverse: Tensor
    info: Tensor


class CholeskyEx(NamedTuple):
    """``(L, info)`` of ``cholesky_ex``: info is 0, or the order of the first non-positive leading minor."""

    L: Tensor
    info: Tensor


class Lstsq(NamedTuple):
    """``(solution, residuals, rank, singular_values)`` of ``lstsq`` (residuals and singular values empty, as
    torch's default CPU driver gelsy gives them)."""

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


class SolveEx(NamedTuple):
    """``(result, info)`` of ``solve_ex``: info is 0 where A was invertible (int32)."""

    result: Tensor
    info: Tensor


class LDLFactor(NamedTuple):
    """``(LD, pivots)`` of ``ldl_factor``: LAPACK's compact Bunch-Kaufman factors (lower) and 1-based pivots
    (negative pairs mark 2 x 2 blocks of D), int32."""

    LD: Tensor
    pivots: Tensor


class LDLFactorEx(NamedTuple):
    """``(LD, pivots, info)`` of ``ldl_factor_ex``: info > 0 where D has an exact zero on its diagonal."""

    LD: Tensor
    pivots: Tensor
    info: Tensor


# ---------------------------------------------------------------- one type per op (torch's names)
_T = TypeVar("_T")
OUT_TYPES: dict[type, type] = {}  # an op's type -> its ``out=`` twin


def _op_type(layout: type[_T], name: str) -> type[_T]:
    """An empty subclass of ``layout`` named ``name`` in ``backprop.return_types``, printing as torch's."""
    attrs = {"__slots__": (), "__module__": MODULE, "__qualname__": name, "__doc__": None, "__repr__": _repr}
    return type(name, (layout,), attrs)


def _op_types(layout: type[_T], name: str) -> tuple[type[_T], type[_T]]:
    """``name`` and ``name_out``: two unrelated subclasses of ``layout``, as torch's two structseqs."""
    op, out = _op_type(layout, name), _op_type(layout, name + "_out")
    OUT_TYPES[op] = OUT_TYPES[out] = out
    return op, out


max, max_out = _op_types(ValuesIndices, "max")  # noqa: A001
min, min_out = _op_types(ValuesIndices, "min")  # noqa: A001
sort, sort_out = _op_types(ValuesIndices, "sort")
topk, topk_out = _op_types(ValuesIndices, "topk")
median, median_out = _op_types(ValuesIndices, "median")
nanmedian, nanmedian_out = _op_types(ValuesIndices, "nanmedian")
mode, mode_out = _op_types(ValuesIndices, "mode")
kthvalue, kthvalue_out = _op_types(ValuesIndices, "kthvalue")
cummax, cummax_out = _op_types(ValuesIndices, "cummax")
cummin, cummin_out = _op_types(ValuesIndices, "cummin")
aminmax, aminmax_out = _op_types(MinMaxValues, "aminmax")
frexp, frexp_out = _op_types(Frexp, "frexp")
geqrf, geqrf_out = _op_types(Geqrf, "geqrf")
histogram, histogram_out = _op_types(Histogram, "histogram")
histogramdd = _op_type(HistogramDD, "histogramdd")  # (torch has no histogramdd_out)
linalg_cholesky_ex, linalg_cholesky_ex_out = _op_types(CholeskyEx, "linalg_cholesky_ex")
linalg_eig, linalg_eig_out = _op_types(Eig, "linalg_eig")
linalg_eigh, linalg_eigh_out = _op_types(Eigh, "linalg_eigh")
linalg_inv_ex, linalg_inv_ex_out = _op_types(InvEx, "linalg_inv_ex")
linalg_ldl_factor, linalg_ldl_factor_out = _op_types(LDLFactor, "linalg_ldl_factor")
linalg_ldl_factor_ex, linalg_ldl_factor_ex_out = _op_types(LDLFactorEx, "linalg_ldl_factor_ex")
linalg_lstsq, linalg_lstsq_out = _op_types(Lstsq, "linalg_lstsq")
linalg_lu, linalg_lu_out = _op_types(PLU, "linalg_lu")
linalg_lu_factor, linalg_lu_factor_out = _op_types(LUFactor, "linalg_lu_factor")
linalg_lu_factor_ex, linalg_lu_factor_ex_out = _op_types(LUFactorEx, "linalg_lu_factor_ex")
linalg_qr, linalg_qr_out = _op_types(QR, "linalg_qr")
linalg_slogdet, linalg_slogdet_out = _op_types(SignLogAbsDet, "linalg_slogdet")
linalg_solve_ex, linalg_solve_ex_out = _op_types(SolveEx, "linalg_solve_ex")
linalg_svd, linalg_svd_out = _op_types(LinalgSVD, "linalg_svd")
lu_unpack, lu_unpack_out = _op_types(PLU, "lu_unpack")
qr, qr_out = _op_types(QR, "qr")
slogdet, slogdet_out = _op_types(SignLogAbsDet, "slogdet")
svd, svd_out = _op_types(SVD, "svd")
triangular_solve, triangular_solve_out = _op_types(TriangularSolve, "triangular_solve")

# every op type and out= twin, by name (torch's ``all_return_types``)
ALL: tuple[type, ...] = tuple(sorted({*OUT_TYPES, histogramdd}, key=lambda t: t.__name__))
