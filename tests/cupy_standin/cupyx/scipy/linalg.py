"""The stand-in's ``cupyx.scipy.linalg``: solve_triangular on device arrays (CuPy's signature; cuBLAS trsm there,
BLAS trsm here: a zero on the diagonal divides, no singularity error)."""

from __future__ import annotations

from typing import Any

import cupy
from scipy.linalg import blas

_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 2, "C": 2}


def solve_triangular(
    a: Any,
    b: Any,
    trans: Any = 0,
    lower: bool = False,
    unit_diagonal: bool = False,
    overwrite_b: bool = False,
    check_finite: bool = False,
) -> Any:
    """X with op(A) X = B for a 2-D B, op per ``trans`` (0/'N', 1/'T', 2/'C')."""
    trsm = blas.get_blas_funcs("trsm", dtype=a._a.dtype)
    out = trsm(1, a._a, b._a, lower=int(lower), trans_a=_TRANS[trans], diag=int(unit_diagonal))
    return cupy._wrap(out.astype(a.dtype, copy=False), a._dev)
