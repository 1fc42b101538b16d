"""``bp.return_types`` (torch.return_types): the named-tuple types of the ops that return several tensors.

Each name is the type backprop's op really returns, so ``isinstance(x.max(0), bp.return_types.max)``
holds and ``values``/``indices`` (or the op's own field names) read as in torch. Where torch has one
type per op, backprop shares one per field layout: ``max``, ``min``, ``sort``, ``topk``, ``median``,
``mode``, ``kthvalue``, ``cummax``... are all ``(values, indices)``, so an ``isinstance`` check
against one of them accepts the others' results too. ``<name>_out`` is the same type as ``<name>``
(torch's ``out=`` variants return the same fields). The types are NamedTuples: build one as
``bp.return_types.max(values, indices)``, not from a single tuple as torch's structseqs allow.
"""

from __future__ import annotations

from typing import NamedTuple

from backprop import _numeric
from backprop import linalg as _linalg
from backprop.methods import extra as _extra
from backprop.methods import math as _math
from backprop.methods import reduction as _reduction
from backprop.methods.linalg import PLU, QR, SVD, Geqrf, LUFactor, LUFactorEx, SignLogAbsDet, TriangularSolve
from backprop.methods.reduction import ValuesIndices
from backprop.tensor import Tensor


class linalg_ldl_factor(NamedTuple):  # noqa: N801 - torch's name
    """``(LD, pivots)`` (torch.linalg.ldl_factor)."""

    LD: Tensor
    pivots: Tensor


class linalg_ldl_factor_ex(NamedTuple):  # noqa: N801 - torch's name
    """``(LD, pivots, info)`` (torch.linalg.ldl_factor_ex)."""

    LD: Tensor
    pivots: Tensor
    info: Tensor


aminmax = _reduction.MinMaxValues
frexp = _math.Frexp
histogram = _extra.Histogram
histogramdd = _numeric.HistogramDD
max = min = sort = topk = median = nanmedian = mode = kthvalue = cummax = cummin = ValuesIndices
geqrf = Geqrf
linalg_cholesky_ex = _linalg.CholeskyEx
linalg_eig = _linalg.Eig
linalg_eigh = _linalg.Eigh
linalg_inv_ex = _linalg.InvEx
linalg_lstsq = _linalg.Lstsq
linalg_solve_ex = _linalg.SolveEx
linalg_svd = _linalg.SVD
linalg_lu = lu_unpack = PLU
linalg_lu_factor = LUFactor
linalg_lu_factor_ex = LUFactorEx
linalg_qr = qr = QR
linalg_slogdet = slogdet = SignLogAbsDet
svd = SVD
triangular_solve = TriangularSolve

_NAMES = (
    "aminmax", "cummax", "cummin", "frexp", "geqrf", "histogram", "kthvalue", "linalg_cholesky_ex", "linalg_eig",
    "linalg_eigh", "linalg_inv_ex", "linalg_ldl_factor", "linalg_ldl_factor_ex", "linalg_lstsq", "linalg_lu",
    "linalg_lu_factor", "linalg_lu_factor_ex", "linalg_qr", "linalg_slogdet", "linalg_solve_ex", "linalg_svd",
    "lu_unpack", "max", "median", "min", "mode", "nanmedian", "qr", "slogdet", "sort", "svd", "topk",
    "triangular_solve",
)  # fmt: skip
for _name in _NAMES:
    globals()[_name + "_out"] = globals()[_name]
del _name

all_return_types: tuple[type, ...] = tuple(dict.fromkeys(globals()[n] for n in (*_NAMES, "histogramdd")))

__all__ = ["all_return_types", "histogramdd", *_NAMES, *(n + "_out" for n in _NAMES)]
