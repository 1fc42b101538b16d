"""Linear-algebra methods: ``mm``, ``bmm``, ``dot``, ``addmm``, ``outer``, ``inner``, ``kron``, ...

All compositions of ``matmul``, ``mul``, ``reshape`` and ``permute`` (their gradients follow), with
torch's own shape and dtype checks in front; ``einsum`` (in ``functions.py``) is its own op.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd import autocast_state, trace
from backprop.autograd.function import apply, autocast_function, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users
from backprop.autograd.node_names import name_node, name_nodes
from backprop.methods import structseqs as rt
from backprop.methods.structseqs import PLU, QR, SVD, Geqrf, SignLogAbsDet, TriangularSolve
from backprop.ops import elementwise as ew
from backprop.ops import linalg
from backprop.ops import shape as sh
from backprop.ops._util import DTypeError, ShapeError, broadcast_shape, user_stacklevel

if TYPE_CHECKING:
    from backprop.tensor import Tensor


def _dtype_name(t: Any) -> str:
    return _dtypes.scalar_type_name(t.dtype)


def _tensors(name: str, *xs: Any) -> None:
    """Raise torch's TypeError for an argument that is not a Tensor."""
    for x in xs:
        if not hasattr(x, "grad_fn"):
            raise TypeError(f"{name}(): argument must be a Tensor, not {type(x).__name__}")


def _check_cov_weights(name: str, w: Any, n: int) -> None:
    """torch's checks of cov's ``fweights``/``aweights``: one weight per observation, none negative (one read-back)."""
    if w.ndim > 1:
        raise ShapeError(
            f"cov(): expected {name} to have one or fewer dimensions but got {name} with {w.ndim} dimensions"
        )
    if w.numel() != n:
        raise ShapeError(
            f"cov(): expected {name} to have the same numel as there are observations in the input but got "
            f"{w.numel()} != {n}"
        )
    if n:  # (recorded: a replayed step checks too)
        trace.check(_check_weights, w, name=name)


def _check_weights(w: Any, *, name: str) -> None:
    if bool((w < 0).any()):
        raise RuntimeError(f"cov(): {name} cannot be negative")


def _plus_ignored(prod: Any, base: Any) -> Any:
    """``prod`` with ``base`` attached at weight zero: torch's beta=0 ignores self's values (nan and inf
    included) but still gives it a zero gradient."""
    never = base._plain._of(np.zeros((), dtype=bool), device=base.device)
    return prod + apply(ew.where, never, base, 0)


def _product(x: Any, y: Any) -> Any:
    """``x @ y`` for an op that autocast lists under its own name (``dot``, ``mv``): its caller has cast the
    operands by that entry, so matmul's entry must not cast them again."""
    if not autocast_users[0]:
        return apply(linalg.matmul, x, y)
    with autocast_state.suspended():
        return apply(linalg.matmul, x, y)


def _half_operands(*ts: Any) -> bool:
    """All of ``ts`` are Tensors of one half dtype (float16 or bfloat16): the op computes in float32 and rounds
    once, as torch, inside ``autocast_state.suspended()`` (an autocast's casts would undo the float32 computation's,
    and torch's autocast runs the same half kernel)."""
    d = ts[0].dtype
    return (d is _dtypes.float16 or _dtypes.is_bfloat16(d)) and all(getattr(t, "dtype", None) == d for t in ts)


def _rounded(s: Any, dtype: Any) -> Any:
    """A Python scalar rounded to a half dtype, as torch converts alpha and beta to the tensors' dtype."""
    return float(np.asarray(s, dtype=np.float32).astype(dtype)) if isinstance(s, (int, float)) else s


def _scaled(x: Any, s: Any) -> Any:
    """``s * x`` without a multiply when s is 1 (torch's alpha/beta fast path). torch converts alpha and beta
    to the tensors' dtype: truncated for integers (int64 stays int64: 0.6 counts as 0), a truth value for
    bool (a logical and)."""
    kind = _dtypes.kind(x.dtype)
    if kind == "b" and not hasattr(s, "grad_fn"):
        return x if bool(s) else x & False
    if kind in "iu" and isinstance(s, (float, np.floating)):
        s = int(s)
    return x if isinstance(s, (int, float)) and s == 1 else x * s


def _matrix(name: str, x: Any) -> None:
    """torch's errors for a non-tensor, a non-matrix or an integer input, naming ``name``."""
    _tensors(name, x)
    if x.ndim < 2:
        raise ShapeError(f"{name}: The input tensor A must have at least 2 dimensions, got shape {tuple(x.shape)}")
    if _dtypes.kind(x.dtype) not in "fc":
        raise DTypeError(f"{name}: Expected a floating point or complex tensor as input. Got {_dtype_name(x)}")


def _square(name: str, x: Any) -> None:
    _matrix(name, x)
    if x.shape[-1] != x.shape[-2]:
        m, n = x.shape[-2:]
        raise ShapeError(f"{name}: A must be batches of square matrices, but they are {m} by {n} matrices")


def _mT(x: Any) -> Any:  # noqa: N802 - torch's name
    return x.transpose(-1, -2)


def _mH(x: Any) -> Any:  # noqa: N802 - torch's name
    return x.transpose(-1, -2).conj() if x.is_complex() else x.transpose(-1, -2)


def _eye(x: Any, n: int) -> Any:
    """The (n, n) identity in ``x``'s dtype and device (a constant)."""
    return x._plain._of(np.eye(n, dtype=x.dtype), device=x.device)


def svd_parts(x: Any, full_matrices: bool = True) -> tuple[Any, Any, Any]:
    """``(U, S, Vh)`` of the packed ``svd`` op (shared by ``linalg.svd``, ``svdvals``, ``Tensor.svd``)."""
    _matrix("linalg.svd", x)
    y = apply(linalg.svd, x, full_matrices=full_matrices)
    u, s, vh = linalg.unpack(y, linalg.layout("svd", tuple(x.shape), full_matrices=full_matrices))
    s = s.real if x.is_complex() else s  # (real singular values of a complex A, as torch)
    return name_nodes("LinalgSvdBackward0", u, s, vh)


def qr_parts(x: Any, mode: str = "reduced", rtype: type[QR] = rt.linalg_qr) -> QR:
    """``(Q, R)`` of the packed ``qr`` op as ``rtype`` (mode 'r': Q is empty, as torch)."""
    _matrix("linalg.qr", x)
    y = apply(linalg.qr, x, mode=mode)
    q, r = linalg.unpack(y, linalg.layout("qr", tuple(x.shape), mode=mode))
    return rtype(*name_nodes("LinalgQrBackward0", q, r))


def solve(a: Any, b: Any, *, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B); B a matrix stack, or a vector (..., n) when its shape is
    A's batch shape plus n (torch's rule); batch dims broadcast."""
    _tensors("linalg.solve", a, b)
    _square("linalg.solve", a)
    if not left:
        return _mT(solve(_mT(a), _mT(b)))
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))
    if vector:
        return apply(linalg.solve, a, b.unsqueeze(-1)).squeeze(-1)
    return apply(linalg.solve, a, b)


def _no_kernel(kernel: str, dtype: Any) -> None:
    """torch's NotImplementedError for a dtype its CPU kernel lacks (integers, bool, float16, bfloat16)."""
    if _dtypes.kind(dtype) not in "fc" or dtype.itemsize < 4:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.scalar_type_name(dtype)}'")


def _trsm(a: Any, b: Any, upper: bool, left: bool = True, unitriangular: bool = False) -> Any:
    """The ``solve_triangular`` op (BLAS trsm) on checked operands: batch dims broadcast as torch's (B's first)."""
    broadcast_shape(tuple(b.shape[:-2]), tuple(a.shape[:-2]))
    return apply(linalg.solve_triangular, a, b, upper=bool(upper), left=bool(left), unitriangular=bool(unitriangular))


def solve_triangular(a: Any, b: Any, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with T X = B (``left=False``: X T = B) for T the ``upper`` or lower triangle of A (unit diagonal when
    ``unitriangular``); batch dims broadcast. BLAS trsm (the ``solve_triangular`` op), as torch: a zero on T's
    diagonal gives inf/nan, and the gradient reaches only the triangle A's values were read from."""
    name = "linalg.solve_triangular"
    _tensors(name, a, b)
    if a.ndim < 2:
        raise ShapeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{name}: A must be batches of square matrices, but they are {a.shape[-2]} by {a.shape[-1]} matrices"
        )
    if b.ndim < 2:
        raise ShapeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise ShapeError(
            f"{name}: Incompatible shapes of A and B for the equation {eq} ({n}x{n} and {b.shape[-2]}x{b.shape[-1]})"
        )
    _no_kernel("triangular_solve_cpu", a.dtype)
    b = b if b.dtype == a.dtype else b.to(a.dtype)  # (torch's result takes A's dtype)
    out = _trsm(a, b, upper, left, unitriangular)
    return name_node(out, "LinalgSolveTriangularBackward0")


_TRIANGULAR_SOLVE_DEPRECATED = (
    "torch.triangular_solve is deprecated in favor of torch.linalg.solve_triangularand will be removed in a future "
    "PyTorch release.\ntorch.linalg.solve_triangular has its arguments reversed and does not return a copy of one of "
    "the inputs.\nX = torch.triangular_solve(B, A).solution\nshould be replaced with\n"
    "X = torch.linalg.solve_triangular(A, B)."
)
_triangular_solve_warned: list[bool] = []  # set once triangular_solve has warned


def _linear_solve_checks(name: str, b: Any, a: Any, b_ndim: str) -> None:
    """torch's linearSolveCheckInputs for ``name(b, A)`` (after its own check of b's dims, message ``b_ndim``)."""
    if b_ndim and b.ndim < 2:
        raise ShapeError(b_ndim.format(b.ndim))
    if a.ndim < 2:
        raise ShapeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if a.dtype != b.dtype:
        raise DTypeError(
            f"Expected b and A to have the same dtype, but found b of type {_dtype_name(b)} and A of type "
            f"{_dtype_name(a)} instead."
        )
    if a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"A must be batches of square matrices, but they are {a.shape[-2]} by {a.shape[-1]} matrices")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            f"Incompatible matrix sizes for {name}: each A matrix is {a.shape[-2]} by {a.shape[-1]} but each b "
            f"matrix is {b.shape[-2]} by {b.shape[-1]}"
        )


def _check_factor_diagonal(lf: Any, *, batched: bool) -> None:
    """torch's (LAPACK potri's) error for a Cholesky factor with a zero on its diagonal: its batch element and
    the (1-based) position of the first zero."""
    zero = lf.diagonal(axis1=-2, axis2=-1).reshape(-1, lf.shape[-1]) == 0
    if bool(zero.any()):
        where, k = (int(i) for i in np.argwhere(np.asarray(zero.tolist()))[0])
        batch = f"(Batch element {where}): " if batched else ""
        raise linalg.LinAlgError(
            f"cholesky_inverse: {batch}The diagonal element {k + 1} is zero, the inversion could not be completed "
            "because the input matrix is singular."
        )


def lu_factor_parts(x: Any, pivot: bool = True) -> tuple[Any, Any, Any, Any]:
    """``(LU, pivots, info, P)`` of the packed ``lu_factor`` op; pivots, info and P are constants."""
    _matrix("linalg.lu_factor", x)
    y = apply(linalg.lu_factor, x, pivot=bool(pivot))
    lu, piv, p = linalg.unpack(y, linalg.layout("lu_factor", tuple(x.shape)))
    name_node(lu, "LinalgLuFactorExBackward0")
    piv = (piv.detach().real if x.is_complex() else piv.detach()).to(np.int32)  # (packed in A's dtype)
    if min(x.shape[-2:]) == 0:
        info = type(x)._wrap(x.device.xp.zeros(tuple(x.shape[:-2]), np.int32), x.device, None)
    else:  # LAPACK's info: the first (1-based) zero on U's diagonal, else 0
        zero = (lu.detach().diagonal(0, -2, -1) == 0).to(np.int32)
        info = zero.amax(-1) * (zero.argmax(-1).to(np.int32) + 1)
    return lu, piv, info, p.detach()


def _unit_lower(lu: Any) -> Any:
    """L (m x k) of a packed LU: its strict lower part plus the identity on the top k rows."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    eye = _eye(lu, m)[:, :k]
    return lu[..., :, :k].tril(-1) + eye


def pivots_to_permutation(pivots: Any, m: int, dtype: Any) -> Any:
    """The permutation matrix P (A = P L U) of 1-based LAPACK pivots, a constant in ``dtype``."""
    if pivots.dtype.kind not in "iu":
        raise DTypeError(
            f"lu_unpack: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype, got {pivots.dtype}"
        )
    xp = pivots.device.xp
    p = linalg._permutation(xp, pivots._data.astype(np.int64) - 1, m, dtype)
    return type(pivots)._wrap(p, pivots.device, None)


def lu_unpack(LU_data: Any, LU_pivots: Any, unpack_data: bool = True, unpack_pivots: bool = True) -> PLU:  # noqa: N803
    """``(P, L, U)`` from ``lu_factor``'s ``(LU, pivots)``: L and U differentiable in LU; an unrequested part is
    an empty tensor, as torch."""
    lu, pivots = LU_data, LU_pivots
    _tensors("lu_unpack", lu, pivots)
    _matrix("lu_unpack", lu)
    m, n = lu.shape[-2:]
    empty = type(lu)._wrap(lu.device.xp.zeros((0,), lu.dtype), lu.device, None)
    low, up = (_unit_lower(lu), lu[..., : min(m, n), :].triu()) if unpack_data else (empty, empty)
    p = pivots_to_permutation(pivots, m, lu.dtype).expand(*lu.shape[:-2], m, m) if unpack_pivots else empty
    return rt.lu_unpack(p, low, up)


def lu_solve(lu: Any, pivots: Any, b: Any, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with A X = B (``adjoint``: A^H X = B; ``left=False``: X A = B) for A = P L U given by ``lu_factor``;
    differentiable in LU (through L's and U's triangles) and in B."""
    name = "linalg.lu_solve"
    _tensors(name, lu, pivots, b)
    _square(name, lu)
    if b.ndim < 2:
        raise ShapeError(f"{name}: Expected B to have at least 2 dimensions, but it has {b.ndim} dimensions instead")
    if not left:  # X A = B <=> A^H X^H = B^H, and X A^H = B <=> A X^H = B^H
        return name_node(_mH(lu_solve(lu, pivots, _mH(b), adjoint=not adjoint)), "LinalgLuSolveBackward0")
    n = lu.shape[-1]
    if b.shape[-2] != n:
        raise ShapeError(
            f"{name}: Incompatible shapes of A and B for the equation AX = B ({n}x{n} and {b.shape[-2]}x{b.shape[-1]})"
        )
    if lu.dtype != b.dtype:
        raise DTypeError(
            f"{name}: Expected LU and B to have the same dtype, but found LU of type {_dtype_name(lu)} and B of "
            f"type {_dtype_name(b)} instead"
        )
    p = pivots_to_permutation(pivots, n, lu.dtype)
    if adjoint:  # A^H = U^H L^H P^T  =>  X = P L^-H U^-H B
        y = _trsm(_mH(lu), b, upper=False)
        return name_node(p @ _trsm(_mH(lu), y, upper=True, unitriangular=True), "LinalgLuSolveBackward0")
    y = _trsm(lu, _mT(p) @ b, upper=False, unitriangular=True)  # X = U^-1 L^-1 P^T B
    return name_node(_trsm(lu, y, upper=True), "LinalgLuSolveBackward0")


def geqrf(x: Any) -> Geqrf:
    """LAPACK's geqrf (through ``xp.linalg.qr(mode="raw")``): R on and above a's diagonal, the reflectors
    v_i (unit diagonal implied) below it, and their scales tau; no gradient (torch has no derivative either)."""
    _tensors("geqrf", x)
    _matrix("geqrf", x)
    if _dtypes.kind(x.dtype) not in "fc":
        raise DTypeError(f"geqrf: Expected a floating point or complex tensor as input. Got {_dtype_name(x)}")
    xp, data = x.device.xp, x.detach()._data
    m, n = data.shape[-2:]
    batch = data.shape[:-2]
    flat = data.reshape(math.prod(batch), m, n)  # (math.prod: an empty batch or matrix has no -1 to infer)
    h = xp.ascontiguousarray(xp.swapaxes(flat, -1, -2))
    tau = xp.empty((flat.shape[0], min(m, n)), dtype=data.dtype)
    for i in range(flat.shape[0] if min(m, n) else 0):  # (CuPy's raw mode takes one matrix at a time)
        hi, ti = xp.linalg.qr(flat[i], mode="raw")  # hi is geqrf's output, transposed
        h[i], tau[i] = hi, ti
    a = xp.ascontiguousarray(xp.swapaxes(h, -1, -2)).reshape(*batch, m, n)
    wrap = type(x)._wrap
    return rt.geqrf(wrap(a, x.device, None), wrap(tau.reshape(*batch, min(m, n)), x.device, None))


def householder_apply(a: Any, tau: Any, c: Any, left: bool = True, transpose: bool = False) -> Any:
    """Q C, Q^H C (``transpose``), C Q or C Q^H (``left=False``) for Q = H_1 ... H_k, H_i = I - tau_i v_i v_i^H,
    v_i column i of ``a`` below the diagonal with 1 on it (geqrf's form), without forming Q: one rank-1 update
    per reflector, matrix products only, so gradients follow."""
    m, k = a.shape[-2], tau.shape[-1] if tau.ndim else 1
    v = a[..., :, :k].tril(-1) + _eye(a, m)[:, :k]  # (only the first k <= min(m, n) columns hold reflectors)
    cplx = a.is_complex()
    order = range(k - 1, -1, -1) if left != transpose else range(k)  # Q C = H_1 (... (H_k C)); C Q = (C H_1) ...
    for i in order:
        vi = v[..., :, i : i + 1]
        vh = vi.transpose(-1, -2).conj() if cplx else vi.transpose(-1, -2)
        t = tau[..., i, None, None]
        t = t.conj() if cplx and transpose else t  # H_i^H = I - conj(tau_i) v_i v_i^H
        c = c - (t * vi) @ (vh @ c) if left else c - (c @ vi) @ (t * vh)
    return c


def ormqr(a: Any, tau: Any, other: Any, left: bool = True, transpose: bool = False) -> Tensor:
    """torch.ormqr: ``other`` multiplied by geqrf's Q (from ``a``'s reflectors and ``tau``)."""
    _tensors("ormqr", a, tau, other)
    if a.ndim < 2 or other.ndim < 2:
        raise ShapeError("torch.ormqr: input and other must have at least 2 dimensions.")
    mn = other.shape[-2] if left else other.shape[-1]
    if a.shape[-2] != mn:
        side = "other.shape[-2]" if left else "other.shape[-1]"
        raise ShapeError(f"torch.ormqr: input.shape[-2] must be equal to {side} (got {a.shape[-2]} and {mn})")
    if tau.shape[-1] > a.shape[-1] or tau.shape[-1] > mn:
        raise ShapeError("torch.ormqr: tau.shape[-1] must be less than or equal to min(input.shape[-2:])")
    if a.dtype != tau.dtype or a.dtype != other.dtype:
        raise DTypeError(
            f"torch.ormqr: Expected input, tau and other of one dtype, got {a.dtype}, {tau.dtype}, {other.dtype}"
        )
    return householder_apply(a, tau, other, left, transpose)


# torch's matrix_exp (Bader, Blanes & Casas 2019, "Computing the matrix exponential with an optimized Taylor
# polynomial approximation"): per matrix, the degree-1/2/4/8/12 Taylor approximant whose 1-norm bound
# (single or double precision) covers it, else degree 18 after scaling by 2^-s, then s squarings
_MEXP_THETAS = {
    4: (1.192092800768788e-07, 5.978858893805233e-04, 5.116619363445086e-02, 5.800524627688768e-01,
        1.461661507209034e00, 3.010066362817634e00),
    8: (2.220446049250313e-16, 2.580956802971767e-08, 3.397168839976962e-04, 4.991228871115323e-02,
        2.996158913811580e-01, 1.090863719290036e00),
}  # fmt: skip
_MEXP_B12 = (
    (9.0198e-16, 0.46932117595418237389, -0.20099424927047284052, -0.04623946134063071740),
    (5.31597895759871264183, 1.19926790417132231573, 0.01179296240992997031, 0.01108844528519167989),
    (0.18188869982170434744, 0.05502798439925399070, 0.09351590770535414968, 0.00610700528898058230),
    (-2.0861320e-13, -0.13181061013830184015, -0.02027855540589259079, -0.00675951846863086359),
)
_MEXP_B18 = (
    (0.0, -1.00365581030144618291e-01, -8.02924648241156932449e-03, -8.92138498045729985177e-04, 0.0),
    (0.0, 3.97849749499645077844e-01, 1.36783778460411720168e00, 4.98289622525382669416e-01,
     -6.37898194594723280150e-04),
    (-1.09676396052962061844e01, 1.68015813878906206114e00, 5.71779846478865511061e-02,
     -6.98210122488052056106e-03, 3.34975017086070470649e-05),
    (-9.04316832390810593223e-02, -6.76404519071381882256e-02, 6.75961301770459654925e-02,
     2.95552570429315521194e-02, -1.39180257516060693404e-05),
    (0.0, 0.0, -9.23364619367118555360e-02, -1.69364939002081722752e-02, -1.40086798182036094347e-05),
)  # fmt: skip


def _combine(coefs: Any, mats: list[Any]) -> Any:
    out = None
    for c, m in zip(coefs, mats):
        if c:
            out = m * c if out is None else out + m * c
    return out


def _taylor(a: Any, eye: Any, degree: int) -> Any:
    """The degree-``degree`` Taylor approximant of e^A with the fewest matmuls (the paper's schemes)."""
    if degree == 1:
        return eye + a
    a2 = a @ a
    if degree == 2:
        return eye + a + a2 * 0.5
    if degree == 4:
        return eye + a + a2 @ (eye * 0.5 + a / 6.0 + a2 / 24.0)
    if degree == 8:
        r = math.sqrt(177.0)
        x3 = 2.0 / 3.0
        a4 = a2 @ (a * (x3 * (1 + r) / 88) + a2 * (x3 * (1 + r) / 352))
        c = (-271 + 29 * r) / (315 * x3), (-11 + 11 * r) / (1260 * x3), (-99 + 11 * r) / (5040 * x3)
        a8 = (a2 * x3 + a4) @ (eye * c[0] + a * c[1] + a2 * c[2] + a4 * ((89 - r) / (5040 * x3 * x3)))
        return eye + a + a2 * ((857 - 58 * r) / 630) + a8
    a3 = a2 @ a
    if degree == 12:
        q = [_combine(row, [eye, a, a2, a3]) for row in _MEXP_B12]
        q2 = q[2] + q[3] @ q[3]
        return q[0] + (q[1] + q2) @ q2
    powers = [eye, a, a2, a3, a3 @ a3]
    q = [_combine(row, powers) for row in _MEXP_B18]
    a9 = q[0] @ q[4] + q[3]
    return q[1] + (q[2] + a9) @ a9


def matrix_exp(x: Any) -> Tensor:
    """e^A (``_matrix_exp``), its node named as torch's one kernel."""
    return name_node(_matrix_exp(x), "LinalgMatrixExpBackward0")


def _matrix_exp(x: Any) -> Tensor:
    """e^A as torch computes it: per matrix, a Taylor approximant of degree 1 to 18 chosen by its 1-norm
    (degree 18 with scaling and squaring beyond), the same thresholds and schemes; matmuls only, so
    gradients follow. A 1 x 1 matrix is exp of its entry (torch's shortcut)."""
    _square("linalg.matrix_exp", x)
    n = x.shape[-1]
    if x.numel() == 0:
        return x * 0
    if n == 1:
        return x.exp()
    thetas = _MEXP_THETAS[8 if x.dtype in (np.float64, np.complex128) else 4]
    flat = x.reshape(-1, n, n)
    norms = flat.detach().abs().sum(-2).amax(-1).cpu().numpy()  # 1-norms, in x's precision (as torch)
    eye = _eye(x, n)
    with np.errstate(divide="ignore", invalid="ignore"):  # s = ceil(log2(norm / theta_18)), in x's precision
        squarings = np.ceil(np.log2(norms / norms.dtype.type(thetas[5])))
    keys = []  # (degree, squarings) of each matrix
    for v, s in zip(norms.tolist(), squarings.tolist()):
        if not v < thetas[4]:  # (also nan and inf: degree 18, no squaring, as torch's non-finite output)
            keys.append((18, int(s) if math.isfinite(s) and s > 0 else 0))
        else:
            keys.append(((1, 2, 4, 8, 12)[next(i for i, t in enumerate(thetas) if v <= t)], 0))
    parts, order = [], []
    for key in sorted(set(keys)):
        idx = [i for i, k in enumerate(keys) if k == key]
        sub = flat if len(idx) == len(keys) else flat[x._plain._of(np.array(idx, np.int64), device=x.device)]
        degree, s = key
        t = _taylor(sub / (2.0**s) if s else sub, eye, degree)
        for _ in range(s):
            t = t @ t
        parts.append(t)
        order += idx
    if len(parts) == 1:
        return parts[0].reshape(x.shape)
    out = apply(sh.cat, *parts, axis=0)[x._plain._of(np.argsort(order), device=x.device)]
    return out.reshape(x.shape)


def _power(x: Any, n: int) -> Any:
    """x^n (n >= 1) by repeated squaring."""
    result = None
    while True:
        if n & 1:
            result = x if result is None else result @ x
        n >>= 1
        if not n:
            return result
        x = x @ x


_CROSS_WARNED = [False]  # torch warns once per process about torch.cross's default dim


def cross(x: Any, other: Any, dim: Any = None, name: str = "cross") -> Tensor:
    """Cross product of 3-vectors along ``dim`` (None: the first dim of size 3, as ``torch.cross``); both
    operands broadcast, same dtype."""
    _tensors(name, x, other)
    if x.dtype != other.dtype:
        raise DTypeError(f"{name}: expected scalar type {x.dtype} but found {other.dtype}")
    if x.ndim != other.ndim:
        raise ShapeError(f"{name}: inputs dimension -1 must have length 3. Got {x.ndim} and {other.ndim}")
    shape = tuple(np.broadcast_shapes(tuple(x.shape), tuple(other.shape)))
    if dim is None:
        dim = next((d for d, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ShapeError(f"{name}: no dimension of size 3 in input")
    d = dim % max(len(shape), 1)
    if not (x.shape[d] == 3 and other.shape[d] == 3):
        raise ShapeError(f"{name}: inputs dimension {dim} must have length 3. Got {x.shape[d]} and {other.shape[d]}")
    a, b = x.expand(shape), other.expand(shape)
    a0, a1, a2 = (a.select(d, i) for i in range(3))
    b0, b1, b2 = (b.select(d, i) for i in range(3))
    out = apply(sh.stack, a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0, axis=d)
    return name_node(out, "LinalgCrossBackward0")


def _inplace(self: Any, out: Any, beta: Any) -> Any:
    """Write ``out`` (computed from a clone of self's old values: no view of self) into self: ``addmm_`` etc."""
    if beta == 0 and not self.requires_grad:
        self.zero_()  # beta=0 ignores self's values (nan and inf too)
    else:
        self.mul_(False if _dtypes.kind(self.dtype) == "b" else 0)
    return self.add_(out)


# torch's kernels without a bool version (addr has one)
_NO_BOOL_KERNEL = {
    "addmm": "addmm_impl_cpu_",
    "addbmm": "addmm_impl_cpu_",
    "addmv": "addmv_impl_cpu",
    "baddbmm": "baddbmm",
}


def _int_scales(name: str, self: Any, beta: Any, alpha: Any) -> tuple[Any, Any]:
    """``beta`` and ``alpha`` of an integer ``self`` checked into its dtype, as torch (uint8: -1 is 255, 256
    refused); a bool ``self`` refused by the ops torch has no bool kernel for."""
    dt = self._data.dtype
    if dt.kind not in "biu":
        return beta, alpha
    if dt.kind == "b":
        if name in _NO_BOOL_KERNEL:
            raise NotImplementedError(f"\"{_NO_BOOL_KERNEL[name]}\" not implemented for 'Bool'")
        return beta, alpha
    return _dtypes.fill_int(beta, dt), _dtypes.fill_int(alpha, dt)


class LinalgMethods:
    """``x.mm(y)``, ``x.bmm(y)``, ``x.dot(y)``, ``x.addmm(a, b)``, ``x.outer(y)``, ``x.kron(y)``, ..."""

    __slots__ = ()
    # a sparse CSR/CSC class sets this to its ``__rmatmul__``: ``dense.mm(csr)`` hands the product to it
    _sparse_rmm: Any = None

    def mm(self: Any, mat2: Any) -> Tensor:
        """Matrix product of two 2-D tensors of one dtype (no broadcasting)."""
        if getattr(type(mat2), "_sparse_rmm", None) is not None:
            return mat2._sparse_rmm(self)
        _tensors("mm", self, mat2)
        if self.ndim != 2:
            raise ShapeError("self must be a matrix")
        if mat2.ndim != 2:
            raise ShapeError("mat2 must be a matrix")
        if self.dtype != mat2.dtype:
            raise DTypeError(
                f"expected m1 and m2 to have the same dtype, but got: {_dtypes.cpp_type_name(self.dtype)} != "
                f"{_dtypes.cpp_type_name(mat2.dtype)}"
            )
        if self.shape[1] != mat2.shape[0]:
            (a, b), (c, d) = self.shape, mat2.shape
            raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({a}x{b} and {c}x{d})")
        return apply(linalg.matmul, self, mat2)

    def bmm(self: Any, mat2: Any) -> Tensor:
        """Batched matrix product of (b, n, m) and (b, m, p) tensors of one dtype (no broadcasting)."""
        _tensors("bmm", self, mat2)
        if self.ndim != 3:
            raise ShapeError("batch1 must be a 3D tensor")
        if mat2.ndim != 3:
            raise ShapeError("batch2 must be a 3D tensor")
        if self.dtype != mat2.dtype:
            raise DTypeError(
                f"expected scalar type {_dtypes.scalar_type_name(self.dtype)} but found "
                f"{_dtypes.scalar_type_name(mat2.dtype)}"
            )
        want = [self.shape[0], self.shape[2]]
        if list(mat2.shape[:2]) != want:
            raise ShapeError(
                f"Expected size for first two dimensions of batch2 tensor to be: {want} but got: "
                f"{list(mat2.shape[:2])}."
            )
        return name_node(apply(linalg.matmul, self, mat2), "BmmBackward0")

    def dot(self: Any, tensor: Any) -> Tensor:
        """Inner product of two 1-D tensors of one dtype and length (torch names the argument ``tensor``)."""
        other = tensor
        _tensors("dot", self, other)
        if autocast_users[0]:  # (dot is autocast's own entry, not matmul's: none on the CPU, promote on CUDA)
            self, other = autocast_function("dot", self, other)
        if self.ndim != 1 or other.ndim != 1:
            raise ShapeError(f"dot: 1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        if self.shape[0] != other.shape[0]:
            n, m = self.shape[0], other.shape[0]
            raise ShapeError(
                f"dot: inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same number of "
                f"elements, but got {n} and {m} elements respectively"
            )
        if self.dtype != other.dtype:
            raise DTypeError(
                f"dot : expected both vectors to have same dtype, but found {_dtype_name(self)} and "
                f"{_dtype_name(other)}"
            )
        return _product(self, other)

    def vdot(self: Any, other: Any) -> Tensor:
        """sum(conj(self) * other) of two 1-D tensors of one dtype and length (torch.vdot)."""
        return self.dot.__func__(self.conj() if self.is_complex() else self, other)

    def mv(self: Any, vec: Any) -> Tensor:
        """Matrix-vector product of a 2-D and a 1-D tensor."""
        if self.is_sparse or getattr(type(self), "_sparse_rmm", None) is not None:  # (``bp.mv`` is this function:
            return self.matmul(vec)  # a COO, CSR or CSC self)
        _tensors("mv", self, vec)
        if autocast_users[0]:  # (mv is autocast's own entry, not matmul's: none on the CPU, lower on CUDA)
            self, vec = autocast_function("mv", self, vec)
        if self.ndim != 2 or vec.ndim != 1:  # (torch's messages, from the addmv it calls)
            raise ShapeError(f"vector + matrix @ vector expected, got 1, {self.ndim}, {vec.ndim}")
        if self.dtype != vec.dtype:
            da, db = _dtypes.scalar_type_name(self.dtype), _dtypes.scalar_type_name(vec.dtype)
            raise DTypeError(f"addmv input tensors must have the same dtype, but got {db}, {da}, and {db}")
        if self.shape[1] != vec.shape[0]:
            raise ShapeError(
                f"size mismatch, got input ({self.shape[0]}), mat ({self.shape[0]}x{self.shape[1]}), "
                f"vec ({vec.shape[0]})"
            )
        return _product(self, vec)

    def addmm(self: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * (mat1 @ mat2)``; self broadcasts to the product's shape (beta=0 ignores it)."""
        _tensors("addmm", self, mat1, mat2)
        beta, alpha = _int_scales("addmm", self, beta, alpha)
        if autocast_users[0]:
            self, mat1, mat2 = autocast_function("addmm", self, mat1, mat2)
        if _half_operands(self, mat1, mat2):  # torch: beta * self + alpha * product in float32, rounded once
            with autocast_state.suspended():
                return self.float().addmm(mat1.float(), mat2.float(), beta=beta, alpha=alpha).to(self.dtype)
        name = _dtypes.scalar_type_name  # (torch's checks, in its order)
        if hasattr(mat2, "dtype") and self.dtype != mat2.dtype:
            raise DTypeError(
                f"self and mat2 must have the same dtype, but got {name(self.dtype)} and {name(mat2.dtype)}"
            )
        if hasattr(mat1, "dtype") and hasattr(mat2, "dtype") and mat1.dtype != mat2.dtype:
            raise DTypeError(
                f"mat1 and mat2 must have the same dtype, but got {name(mat1.dtype)} and {name(mat2.dtype)}"
            )
        prod = mat1.mm(mat2)
        base = self.expand(prod.shape)  # raises as torch when self does not broadcast
        if beta == 0:  # torch ignores self (nan and inf included) when beta is 0
            out = _plus_ignored(_scaled(prod, alpha), base) if base.requires_grad else _scaled(prod, alpha)
            return name_node(out, "AddmmBackward0")
        return name_node(_scaled(base, beta) + _scaled(prod, alpha), "AddmmBackward0")

    def baddbmm(self: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * (batch1 @ batch2)`` over a batch; self broadcasts (beta=0 ignores it)."""
        _tensors("baddbmm", self, batch1, batch2)
        beta, alpha = _int_scales("baddbmm", self, beta, alpha)
        if autocast_users[0]:
            self, batch1, batch2 = autocast_function("baddbmm", self, batch1, batch2)
        if _half_operands(self, batch1, batch2):  # torch: in float32, rounded once
            with autocast_state.suspended():
                return self.float().baddbmm(batch1.float(), batch2.float(), beta=beta, alpha=alpha).to(self.dtype)
        prod = batch1.bmm(batch2)
        if self.dtype != prod.dtype:
            raise DTypeError(
                f"baddbmm: self and batch2 must have the same dtype, but got {self.dtype} and {prod.dtype}"
            )
        base = self.expand(prod.shape)
        if beta == 0:
            out = _plus_ignored(_scaled(prod, alpha), base) if base.requires_grad else _scaled(prod, alpha)
            return name_node(out, "BaddbmmBackward0")
        return name_node(_scaled(base, beta) + _scaled(prod, alpha), "BaddbmmBackward0")

    def outer(self: Any, vec2: Any) -> Tensor:
        """Outer product of two 1-D tensors (dtypes promote, as torch)."""
        _tensors("outer", self, vec2)
        if self.ndim != 1:
            raise ShapeError(f"outer: Expected 1-D argument self, but got {self.ndim}-D")
        if vec2.ndim != 1:
            raise ShapeError(f"outer: Expected 1-D argument vec2, but got {vec2.ndim}-D")
        return self.reshape(-1, 1) * vec2

    ger = outer

    def inner(self: Any, other: Any) -> Tensor:
        """Sum over the last dims of both (a product when either is 0-d); same dtype."""
        _tensors("inner", self, other)
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        if self.dtype != other.dtype:
            raise DTypeError(f"inner: both inputs should have same dtype, got {self.dtype} and {other.dtype}")
        if self.shape[-1] != other.shape[-1]:
            raise ShapeError(
                f"inner() the last dimension must match on both input tensors but got shapes "
                f"{list(self.shape)} and {list(other.shape)}"
            )
        return tensordot(self, other, ([self.ndim - 1], [other.ndim - 1]))

    def kron(self: Any, other: Any) -> Tensor:
        """Kronecker product: block (i, j) is self[i, j] * other (dims padded to equal count; dtypes promote)."""
        _tensors("kron", self, other)
        nd = max(self.ndim, other.ndim)
        a_shape = (1,) * (nd - self.ndim) + tuple(self.shape)
        b_shape = (1,) * (nd - other.ndim) + tuple(other.shape)
        a = self.reshape(tuple(v for n in a_shape for v in (n, 1)))
        b = other.reshape(tuple(v for n in b_shape for v in (1, n)))
        return name_node((a * b).reshape(tuple(m * n for m, n in zip(a_shape, b_shape))), "UnsafeViewBackward0")

    # ------------------------------------------------------------ decompositions, inverses, determinants
    def det(self: Any) -> Tensor:
        """det(A) of each (..., n, n) matrix; the gradient stays finite at singular A (an SVD adjugate)."""
        _square("linalg.det", self)
        return apply(linalg.det, self)

    def slogdet(self: Any) -> SignLogAbsDet:
        """``(sign, logabsdet)`` with det = sign * exp(logabsdet), without overflow (a real sign: gradient zero;
        complex A: the sign det / |det| is differentiable and logabsdet real, as torch)."""
        _square("linalg.slogdet", self)
        y = apply(linalg.slogdet, self)
        sign, logabs = (y[..., 0], y[..., 1].real) if self.is_complex() else (y[..., 0], y[..., 1])
        # (a real sign requires grad, as torch, with a zero gradient; both are torch's one node's outputs)
        return rt.slogdet(name_node(sign, "LinalgSlogdetBackward0"), name_node(logabs, "LinalgSlogdetBackward0"))

    def logdet(self: Any) -> Tensor:
        """log(det A): nan where det < 0, -inf where A is singular (torch); complex A: log|det| + i arg det."""
        try:
            sign, logabs = self.slogdet()
            if self.is_complex():
                return logabs + sign.log()
            return name_node(logabs.masked_fill(sign < 0, math.nan), "WhereBackward0")  # (torch's where(sign < 0, nan))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def inverse(self: Any) -> Tensor:
        """A^-1 of each (..., n, n) matrix (LinAlgError when singular)."""
        _square("linalg.inv", self)
        return apply(linalg.inv, self)

    def pinverse(self: Any, rcond: float = 1e-15) -> Tensor:
        """Moore-Penrose pseudo-inverse; singular values below ``rcond`` * the largest count as zero."""
        _matrix("pinverse", self)
        return apply(linalg.pinv, self, atol=0.0, rtol=float(rcond))

    def matrix_power(self: Any, n: int) -> Tensor:
        """A^n for an integer n (n < 0: the inverse's power; n = 0: the identity), by repeated squaring."""
        _tensors("matrix_power", self)
        if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
            raise ShapeError(f"matrix_power(): expected a tensor of square matrices, but got shape {tuple(self.shape)}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
        if n == 0:
            out = _eye(self, self.shape[-1]).expand(self.shape) + self * 0
            return name_node(out, "torch::autograd::CopyBackwards")  # (torch's copy_ of the identity)
        if n == 1:
            return self.clone()  # (a new tensor, as torch's: not self)
        return _power(self.inverse() if n < 0 else self, abs(int(n)))

    def matrix_exp(self: Any) -> Tensor:
        """The matrix exponential e^A of each (..., n, n) matrix."""
        return matrix_exp(self)

    def cholesky(self: Any, upper: bool = False) -> Tensor:
        """L (lower, L L^T = A) from A's lower triangle, or U (U^T U = A) from its upper one."""
        _square("linalg.cholesky", self)
        return apply(linalg.cholesky, self, upper=bool(upper))

    def cholesky_solve(self: Any, input2: Any, upper: bool = False) -> Tensor:
        """X with A X = self for A = L L^H given its factor L = ``input2`` (U^H U with ``upper``)."""
        _tensors("cholesky_solve", self, input2)
        _linear_solve_checks(
            "cholesky_solve", self, input2, "b should have at least 2 dimensions, but has {} dimensions instead"
        )
        _no_kernel("cholesky_solve_cpu", self.dtype)
        return name_node(apply(linalg.cholesky_solve, self, input2, upper=bool(upper)), "CholeskySolveBackward0")

    def cholesky_inverse(self: Any, upper: bool = False) -> Tensor:
        """(L L^H)^-1 from the factor L = self (U^H U with ``upper``); torch's error (LAPACK potri's) for a zero on
        the factor's diagonal."""
        _tensors("cholesky_inverse", self)
        if self.ndim < 2:
            raise ShapeError("cholesky_inverse: The input tensor A must have at least 2 dimensions.")
        _no_kernel("cholesky_inverse_out_cpu", self.dtype)
        _square("cholesky_inverse", self)
        if self.numel():
            trace.check(_check_factor_diagonal, self, batched=self.ndim > 2)
        a = self.mH @ self if upper else self @ self.mH
        return name_node(apply(linalg.inv, a), "CholeskyInverseBackward0")

    def svd(self: Any, some: bool = True, compute_uv: bool = True) -> SVD:
        """``torch.svd``: (U, S, V) with A = U diag(S) V^H (V, not Vh); ``some=False`` the full U and V;
        ``compute_uv=False``: U and V zero-filled (m, m) and (n, n)."""
        if not compute_uv:
            _, s, _ = svd_parts(self, full_matrices=False)
            m, n = self.shape[-2:]
            z = self.detach() * 0
            return rt.svd(
                z[..., :1, :1].expand(*self.shape[:-2], m, m) * 1, s, z[..., :1, :1].expand(*self.shape[:-2], n, n) * 1
            )
        u, s, vh = svd_parts(self, full_matrices=not some)
        return rt.svd(u, s, _mH(vh))  # V = Vh^H (conjugated for complex A, as torch)

    def lu(self: Any, pivot: bool = True, get_infos: bool = False) -> Any:
        """The deprecated ``torch.lu``: ``(LU, pivots)``, with ``get_infos`` also ``infos`` (linalg.lu_factor_ex)."""
        lu, piv, info, _ = lu_factor_parts(self, pivot)
        return (lu, piv, info) if get_infos else (lu, piv)

    def lu_solve(self: Any, LU_data: Any, LU_pivots: Any) -> Tensor:  # noqa: N803 - torch's names
        """The deprecated ``torch.lu_solve``: X with A X = self for A given by ``lu`` (``linalg.lu_solve``)."""
        return lu_solve(LU_data, LU_pivots, self)

    def triangular_solve(
        self: Any,
        A: Any,  # noqa: N803 - torch's name
        upper: bool = True,
        transpose: bool = False,
        unitriangular: bool = False,  # noqa: N803
    ) -> TriangularSolve:
        """The deprecated ``torch.triangular_solve``: X with T X = self (``transpose``: T^T X = self) for T the
        ``upper`` or lower triangle of A, and a copy of A."""
        _tensors("triangular_solve", self, A)
        if not _triangular_solve_warned:  # torch's (once per process, as its TORCH_WARN_ONCE)
            _triangular_solve_warned.append(True)
            warnings.warn(_TRIANGULAR_SOLVE_DEPRECATED, UserWarning, stacklevel=user_stacklevel())
        for what, t in (("b", self), ("A", A)):
            if t.ndim < 2:
                raise ShapeError(
                    f"torch.triangular_solve: Expected {what} to have at least 2 dimensions, but it has {t.ndim} "
                    "dimensions instead"
                )
        _linear_solve_checks("triangular_solve", self, A, "")
        _no_kernel("triangular_solve_cpu", self.dtype)
        if transpose:  # T^T X = B: the other triangle of A^T (conjugated back for complex A: T^T, not T^H)
            x = _trsm(_mT(A), self, upper=not upper, unitriangular=unitriangular)
        else:
            x = _trsm(A, self, upper=upper, unitriangular=unitriangular)
        x = name_node(x, "TriangularSolveBackward0")
        return rt.triangular_solve(x, A.clone())

    def qr(self: Any, some: bool = True) -> QR:
        """``torch.qr``: (Q, R), reduced (``some=True``) or complete."""
        return qr_parts(self, "reduced" if some else "complete", rt.qr)

    def geqrf(self: Any) -> Geqrf:
        """``torch.geqrf``: (a, tau), LAPACK's compact Householder QR."""
        return geqrf(self)

    def orgqr(self: Any, input2: Any) -> Tensor:
        """``torch.orgqr``: the first n columns of Q from geqrf's (a, tau) (``linalg.householder_product``)."""
        _tensors("orgqr", self, input2)
        m, n = (*self.shape[-2:],) if self.ndim >= 2 else (0, 1)
        if m < n or (input2.shape[-1] if input2.ndim else 1) > n:
            raise ShapeError("torch.orgqr: expected input.shape[-2] >= input.shape[-1] >= tau.shape[-1]")
        return householder_apply(self, input2, _eye(self, m)[:, :n].expand(*self.shape[:-2], m, n))

    def ormqr(self: Any, input2: Any, input3: Any, left: bool = True, transpose: bool = False) -> Tensor:
        """``torch.ormqr``: ``input3`` multiplied by the Q of geqrf's (self, input2) (Q C, Q^H C, C Q, C Q^H)."""
        return ormqr(self, input2, input3, left, transpose)

    def cross(self: Any, other: Any, dim: Any = None) -> Tensor:
        """Cross product along ``dim`` (default: the first dim of size 3, as torch.cross, which warns once)."""
        if dim is None and not _CROSS_WARNED[0]:
            _CROSS_WARNED[0] = True
            warnings.warn(
                "Using torch.cross without specifying the dim arg is deprecated.\n"
                "Please either pass the dim explicitly or simply use torch.linalg.cross.\n"
                "The default value of dim will change to agree with that of linalg.cross in a future release.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return cross(self, other, dim)

    # ------------------------------------------------------------ products with an added term
    def addmv(self: Any, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * (mat @ vec)`` (beta=0 ignores self's values)."""
        _tensors("addmv", self, mat, vec)
        beta, alpha = _int_scales("addmv", self, beta, alpha)
        if autocast_users[0]:
            self, mat, vec = autocast_function("addmv", self, mat, vec)
        if _half_operands(self, mat, vec):  # torch: in float32, rounded once
            with autocast_state.suspended():
                return self.float().addmv(mat.float(), vec.float(), beta=beta, alpha=alpha).to(self.dtype)
        return _add_product(self, mat.mv(vec), beta, alpha, "addmv")

    def addr(self: Any, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * outer(vec1, vec2)`` (beta=0 ignores self's values)."""
        _tensors("addr", self, vec1, vec2)
        if _dtypes.kind(self.dtype) in "biu":  # torch's addr refuses a fractional scale for exact dtypes
            for label, v in (("beta", beta), ("alpha", alpha)):
                if isinstance(v, (float, np.floating)):
                    raise DTypeError(
                        f"addr: for integral input tensors ({self.dtype}), argument {label} must not be a "
                        f"floating point number, got {v}"
                    )
        beta, alpha = _int_scales("addr", self, beta, alpha)
        if autocast_users[0]:
            self, vec1, vec2 = autocast_function("addr", self, vec1, vec2)
        if _half_operands(self, vec1, vec2):  # torch's kernel: beta * self + alpha * vec1 * vec2 in the half dtype,
            # beta and alpha rounded to it and each step rounded
            h = self.dtype
            prod = _scaled(vec1, _rounded(alpha, h)).outer(vec2)
            return _add_product(self, prod, _rounded(beta, h), 1, "addr")
        return _add_product(self, vec1.outer(vec2), beta, alpha, "addr")

    def addbmm(self: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * sum_b batch1[b] @ batch2[b]`` (beta=0 ignores self's values)."""
        _tensors("addbmm", self, batch1, batch2)
        beta, alpha = _int_scales("addbmm", self, beta, alpha)
        if autocast_users[0]:
            self, batch1, batch2 = autocast_function("addbmm", self, batch1, batch2)
        if _half_operands(self, batch1, batch2) and batch1.shape[0] and beta != 0:
            # torch: one addmm per batch into the result, each in float32 and rounded to the half dtype
            out = self.addmm(batch1[0], batch2[0], beta=beta, alpha=alpha)
            for b in range(1, batch1.shape[0]):
                out = out.addmm(batch1[b], batch2[b], alpha=alpha)
            return out
        prod = batch1.bmm(batch2)
        return _add_product(self, prod.sum(0, dtype=prod.dtype), beta, alpha, "addbmm")  # torch keeps int8..int32

    def addmm_(self: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``addmm`` written into self (self keeps its shape; beta=0 ignores its values)."""
        return _inplace(self, self.clone().addmm(mat1, mat2, beta=beta, alpha=alpha), beta)

    def baddbmm_(self: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``baddbmm`` written into self (self keeps its shape; beta=0 ignores its values)."""
        return _inplace(self, self.clone().baddbmm(batch1, batch2, beta=beta, alpha=alpha), beta)

    def addmv_(self: Any, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``addmv`` written into self (self keeps its shape; beta=0 ignores its values)."""
        return _inplace(self, self.clone().addmv(mat, vec, beta=beta, alpha=alpha), beta)

    def addr_(self: Any, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``addr`` written into self (self keeps its shape; beta=0 ignores its values)."""
        return _inplace(self, self.clone().addr(vec1, vec2, beta=beta, alpha=alpha), beta)

    def addbmm_(self: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``addbmm`` written into self (self keeps its shape; beta=0 ignores its values)."""
        return _inplace(self, self.clone().addbmm(batch1, batch2, beta=beta, alpha=alpha), beta)

    # ------------------------------------------------------------ statistics
    def dist(self: Any, other: Any, p: Any = 2) -> Tensor:
        """The ``p``-norm of ``self - other`` (broadcast), over all elements."""
        _tensors("dist", self, other)
        return name_node((self - other).norm(p), "DistBackward0")

    def cov(self: Any, *, correction: int = 1, fweights: Any = None, aweights: Any = None) -> Tensor:
        """Covariance of the rows (variables) over the columns (observations) of a 1-D or 2-D tensor, with
        integer frequency weights and float observation weights (torch's, NumPy's formula)."""
        _tensors("cov", self)
        if self.ndim > 2:
            raise ShapeError(
                f"cov(): expected input to have two or fewer dimensions but got an input with {self.ndim} dimensions"
            )
        x = self.reshape(1, -1) if self.ndim < 2 else self
        if _dtypes.kind(x.dtype) not in "fc":
            x = x.float()
        n = x.shape[1]
        w = None
        if fweights is not None:
            if fweights.dtype.kind not in "iu":
                raise DTypeError(
                    f"cov(): expected fweights to have integral dtype but got fweights with {fweights.dtype} dtype"
                )
            _check_cov_weights("fweights", fweights, n)
            w = fweights
        if aweights is not None:
            if _dtypes.kind(aweights.dtype) not in "fc":
                raise DTypeError(
                    "cov(): expected aweights to have floating point dtype but got aweights with "
                    f"{aweights.dtype} dtype"
                )
            _check_cov_weights("aweights", aweights, n)
            w = aweights if w is None else w * aweights
            rt = _dtypes.promote_types(x, aweights)  # torch: ``in * w`` promotes (float16 with float32 weights)
            x = x if rt == x.dtype else x.to(rt)
        if w is None:
            avg = x.mean(1)
            factor: Any = n - correction
        else:
            w = w.to(x.dtype if x.dtype.kind != "c" else np.dtype(f"float{x.dtype.itemsize * 4}"))  # real weights
            w_sum = w.sum()
            avg = (x * w).sum(1) / w_sum
            if correction == 0:
                factor = w_sum
            elif aweights is None:
                factor = w_sum - correction
            else:
                factor = w_sum - correction * (w * aweights.to(w.dtype)).sum() / w_sum
        factor = factor.clamp_min(0) if hasattr(factor, "grad_fn") else max(factor, 0)
        xm = x - avg.unsqueeze(1)
        other = _mT(xm if w is None else xm * w)  # torch: in @ (in * w)^H, then squeezed ((1, n) -> 0-d)
        c = (xm @ (other.conj() if other.is_complex() else other)) / factor
        return c.squeeze()

    def corrcoef(self: Any) -> Tensor:
        """Pearson correlation coefficients of the rows, clipped to [-1, 1] (complex: the real and
        imaginary parts each clipped, the standard deviations from the diagonal's real part, as torch)."""
        try:
            c = self.cov()
            if c.ndim == 0:
                return c / c
            d = c.diagonal()
            d = (d.real if d.is_complex() else d).sqrt()
            c = c / d.unsqueeze(1) / d.unsqueeze(0)
            if c.is_complex():
                return c.real.clamp(-1, 1) + c.imag.clamp(-1, 1) * 1j
            return c.clamp(-1, 1)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise


def _add_product(self: Any, prod: Any, beta: Any, alpha: Any, name: str) -> Tensor:
    """``beta * self + alpha * prod``, self broadcast to the product (beta=0 ignores self's values)."""
    if self.dtype != prod.dtype:
        raise DTypeError(
            f"{name}: self and the product must have the same dtype, but got {self.dtype} and {prod.dtype}"
        )
    base = self if tuple(self.shape) == tuple(prod.shape) else self.expand(prod.shape)
    if beta == 0:
        out = _plus_ignored(_scaled(prod, alpha), base) if base.requires_grad else _scaled(prod, alpha)
    else:
        out = _scaled(base, beta) + _scaled(prod, alpha)
    return name_node(out, f"{name.capitalize()}Backward0")  # (torch's one node: AddmvBackward0, ...)


def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first of ``b``, or the dims in ``(dims_a, dims_b)``."""
    _tensors("tensordot", a, b)
    if hasattr(dims, "grad_fn"):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise ShapeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise ShapeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
        if len(da) != len(db):
            raise ShapeError(f"tensordot: both dimension lists should have same length, got {da} and {db}")
        da = [d % max(a.ndim, 1) for d in da]
        db = [d % max(b.ndim, 1) for d in db]
    if a.dtype != b.dtype:
        raise DTypeError(f"tensordot: expected scalar type {a.dtype} but found {b.dtype}")
    for i, j in zip(da, db):  # torch: a size 1 against a larger size sums the other operand over that dim
        if b.shape[j] == 1 and a.shape[i] != 1:  # (in its own dtype: int8..int32 do not become int64)
            a = a.sum(i, keepdim=True, dtype=a.dtype)
        elif a.shape[i] == 1 and b.shape[j] != 1:
            b = b.sum(j, keepdim=True, dtype=b.dtype)
        elif a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"tensordot: contracted dimensions need to match, but first has size {a.shape[i]} in dim {i} "
                f"and second has size {b.shape[j]} in dim {j}"
            )
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = m = n = 1
    for d in da:
        k *= a.shape[d]
    for d in free_a:
        m *= a.shape[d]
    for d in free_b:
        n *= b.shape[d]
    out_shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    a2 = a.permute(free_a + da).reshape(m, k)
    b2 = b.permute(db + free_b).reshape(k, n)
    if m == n == 1 and autocast_users[0]:  # torch contracts to one number with dot, which autocast casts as dot
        a2, b2 = autocast_function("dot", a2, b2)
        return _product(a2, b2).reshape(out_shape)
    return apply(linalg.matmul, a2, b2).reshape(out_shape)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_args(args: tuple) -> tuple[str, list]:
    """``(equation, *tensors)``, ``(equation, [tensors])`` or the sublist form ``(t0, [0, 1], t1, [1, 2], [0, 2])``."""
    if args and isinstance(args[0], str):
        eq = args[0]
        ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        return eq, ops
    out = args[-1] if len(args) % 2 == 1 else None  # an odd count ends with the output sublist
    body = args[:-1] if out is not None else args
    ops, subs = list(body[0::2]), list(body[1::2])

    def word(sub: Any) -> str:
        return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sub)

    eq = ",".join(word(s) for s in subs) + ("" if out is None else "->" + word(out))
    return eq, ops


def _einsum_sizes(subs: list[str], shapes: list[tuple[int, ...]]) -> None:
    """torch's size checks over all operands (before they are contracted pairwise): a subscript repeated within an
    operand must keep its size, and across operands sizes must be equal or 1."""
    sizes: dict[str, int] = {}
    for k, (sub, shape) in enumerate(zip(subs, shapes)):
        seen: dict[str, int] = {}
        for c, n in zip(sub, shape):
            if c in seen and seen[c] != n:
                raise ShapeError(
                    f"einsum(): subscript {c} is repeated for operand {k} but the sizes don't match, {n} != {seen[c]}"
                )
            seen[c] = n
        for c, n in seen.items():
            if c in sizes and n != sizes[c] and 1 not in (n, sizes[c]):
                raise ShapeError(
                    f"einsum(): subscript {c} has size {n} for operand {k} which does not broadcast with previously "
                    f"seen size {sizes[c]}"
                )
            if c not in sizes or sizes[c] == 1:
                sizes[c] = n


def _normalize(eq: str, shapes: list[tuple[int, ...]]) -> tuple[str, list[str], str]:
    """An explicit equation without ellipsis: ``...`` becomes letters unused elsewhere, an implicit output
    the letters seen once, sorted (after the ellipsis dims), as torch and NumPy."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        few = "fewer" if len(shapes) < len(subs) else "more"  # torch's words
        raise ShapeError(f"einsum(): {few} operands were provided than specified in the equation")
    for c in eq.replace("...", "").replace(",", "").replace("->", ""):
        if c not in _LETTERS:
            raise ShapeError(
                f"einsum(): invalid subscript given at index {eq.index(c)} in the equation string, "
                f"subscripts must be in [a-zA-Z]"
            )
    free = [c for c in _LETTERS if c not in eq]
    ell_n = 0
    for k, (s, shape) in enumerate(zip(subs, shapes)):
        n_letters = len(s.replace("...", ""))
        if "..." in s:
            if n_letters > len(shape):
                raise ShapeError(
                    f"einsum(): the number of subscripts in the equation ({n_letters}) is more than the "
                    f"number of dimensions ({len(shape)}) for operand {k}"
                )
            ell_n = max(ell_n, len(shape) - n_letters)
        elif n_letters != len(shape):
            raise ShapeError(
                f"einsum(): the number of subscripts in the equation ({n_letters}) does not match the "
                f"number of dimensions ({len(shape)}) for operand {k} and no ellipsis was given"
            )
    ell = "".join(free[:ell_n])
    new_subs = []
    for s, shape in zip(subs, shapes):
        if "..." in s:
            k = len(shape) - len(s.replace("...", ""))
            s = s.replace("...", ell[ell_n - k :])
        new_subs.append(s)
    _einsum_sizes(new_subs, shapes)
    if arrow:
        if rhs.count("...") and not ell_n and "..." not in lhs:
            raise ShapeError("einsum(): ellipsis in the output but none in the inputs")
        rhs = rhs.replace("...", ell)
        for c in rhs:
            if rhs.count(c) > 1:
                raise ShapeError(f"einsum(): output subscript {c} appears more than once in the output")
            if c not in "".join(new_subs):
                raise ShapeError(
                    f"einsum(): output subscript {c} does not appear in the equation for any input operand"
                )
    else:
        joined = "".join(s for s in subs).replace("...", "")
        rhs = ell + "".join(sorted({c for c in joined if joined.count(c) == 1}))  # ASCII order, as torch
    return ",".join(new_subs), new_subs, rhs


def einsum(*args: Any) -> Tensor:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)``, with ``...``, implicit outputs and the sublist form;
    more than two operands are contracted pairwise, left to right."""
    eq, ops = _einsum_args(args)
    if not ops:
        raise ShapeError("einsum(): must provide at least one operand")
    _, subs, rhs = _normalize(eq, [tuple(t.shape) for t in ops])
    ops = list(ops)
    if ops[0].dtype.kind in "biu" and ops[0].dtype != _dtypes.int64:
        # torch sums an index only one operand has with sum(), which makes integers int64; the products
        # with the other operands then promote to int64 too
        for k, sub in enumerate(subs):
            if set(sub) - set(rhs).union(*subs[:k], *subs[k + 1 :]):
                ops = [t.to(_dtypes.int64) if t.dtype.kind in "biu" else t for t in ops]
                break
    cur, cur_sub = ops[0], subs[0]
    summed = bool(set().union(*subs) - set(rhs))
    if len(ops) == 1:  # (torch's node: its sum over the summed labels, else its permute to the output's order)
        out = apply(linalg.einsum, cur, None, equation=f"{cur_sub}->{rhs}")
        return name_node(out, "SumBackward1" if summed else "PermuteBackward0")
    for k in range(1, len(ops)):
        later = set(rhs).union(*subs[k + 1 :])
        both = cur_sub + subs[k]
        keep = "".join(dict.fromkeys(c for c in both if c in later)) if k < len(ops) - 1 else rhs
        cur = apply(linalg.einsum, cur, ops[k], equation=f"{cur_sub},{subs[k]}->{keep}")
        cur_sub = keep
    # (torch's last pairwise step: a bmm viewed back where any label is summed, else a broadcast product)
    return name_node(cur, "ViewBackward0" if summed else "MulBackward0")
