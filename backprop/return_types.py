"""``bp.return_types`` (torch.return_types): the named-tuple types of the ops that return several tensors.

One type per op, as torch's: ``x.max(0)`` is a ``bp.return_types.max``, ``x.sort()`` a ``bp.return_types.sort``
(not a ``max``), and ``out=`` gives ``<name>_out``, a type of its own. They print as torch's
(``backprop.return_types.max(\\nvalues=tensor([5., 3.]),\\nindices=tensor([1, 0]))``), unpack and pickle
as tuples, and read their fields by name (``values``/``indices`` or the op's own). Each is an empty subclass
of a NamedTuple per field layout (``backprop.methods.structseqs``): build one as
``bp.return_types.max(values, indices)``, not from a single tuple as torch's structseqs allow.
"""

from __future__ import annotations

from backprop.methods.structseqs import (  # noqa: F401 - re-exported
    ALL,
    aminmax,
    aminmax_out,
    cummax,
    cummax_out,
    cummin,
    cummin_out,
    frexp,
    frexp_out,
    geqrf,
    geqrf_out,
    histogram,
    histogram_out,
    histogramdd,
    kthvalue,
    kthvalue_out,
    linalg_cholesky_ex,
    linalg_cholesky_ex_out,
    linalg_eig,
    linalg_eig_out,
    linalg_eigh,
    linalg_eigh_out,
    linalg_inv_ex,
    linalg_inv_ex_out,
    linalg_ldl_factor,
    linalg_ldl_factor_ex,
    linalg_ldl_factor_ex_out,
    linalg_ldl_factor_out,
    linalg_lstsq,
    linalg_lstsq_out,
    linalg_lu,
    linalg_lu_factor,
    linalg_lu_factor_ex,
    linalg_lu_factor_ex_out,
    linalg_lu_factor_out,
    linalg_lu_out,
    linalg_qr,
    linalg_qr_out,
    linalg_slogdet,
    linalg_slogdet_out,
    linalg_solve_ex,
    linalg_solve_ex_out,
    linalg_svd,
    linalg_svd_out,
    lu_unpack,
    lu_unpack_out,
    max,
    max_out,
    median,
    median_out,
    min,
    min_out,
    mode,
    mode_out,
    nanmedian,
    nanmedian_out,
    qr,
    qr_out,
    slogdet,
    slogdet_out,
    sort,
    sort_out,
    svd,
    svd_out,
    topk,
    topk_out,
    triangular_solve,
    triangular_solve_out,
)

all_return_types: tuple[type, ...] = ALL

__all__ = ["all_return_types", *(t.__name__ for t in ALL)]
