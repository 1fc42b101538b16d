"""``bp.linalg``: torch.linalg's functions, differentiable (norms, inverses, solves, decompositions).

The decompositions and inverses are registered ops (``backprop/ops/linalg.py``, with torch's derivative
formulas); everything else composes them with matmul, reductions and indexing, so gradients (and most
double backward) follow. Also the top-level ``cdist``, ``vander``, ``trapezoid``, ``chain_matmul``
(re-exported by ``backprop.functions``). Real dtypes only (float32, float64).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd import autocast_state
from backprop.autograd.function import OpValueError, apply, autocast_function, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users
from backprop.autograd.node_names import name_node, name_nodes
from backprop.methods import linalg as _m
from backprop.methods import structseqs as rt
from backprop.methods.linalg import cross as _cross
from backprop.methods.structseqs import (
    PLU,
    QR,
    CholeskyEx,
    Eig,
    Eigh,
    InvEx,
    LDLFactor,
    LDLFactorEx,
    LinalgSVD,
    Lstsq,
    LUFactor,
    LUFactorEx,
    SignLogAbsDet,
    SolveEx,
)
from backprop.ops import linalg as _ops
from backprop.ops import reduction as _red
from backprop.ops._util import DTypeError, ShapeError, broadcast_shape, wrap_dim
from backprop.ops.linalg import LinAlgError
from backprop.ops.shape import stack as _shape_stack
from backprop.registry import refuse_complex
from backprop.tensor import Tensor

SVD = LinalgSVD  # (U, S, Vh) of linalg.svd


# ---------------------------------------------------------------- norms


def _floating(name: str, x: Any, dtype: Any = None) -> Any:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if dtype is not None:
        x = x.to(dtype)
    if _dtypes.kind(x.dtype) not in "fc":
        raise DTypeError(
            f"{name}: Expected a floating point or complex tensor as input. Got {x.dtype}; pass dtype= or use .float()"
        )
    return x


def vector_norm(input: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The vector ``ord``-norm over ``dim`` (all elements by default): inf, -inf, 0 (non-zero count) or any p."""
    x = input  # (torch's keyword name is input)
    x = _floating("linalg.vector_norm", x, dtype)
    if isinstance(ord, str):
        raise ValueError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    if isinstance(dim, Sequence) and len(dim) == 0:
        dim = None
    return x.norm(float(ord), dim, keepdim)


def matrix_norm(
    input: Tensor,  # noqa: N803 - torch's names
    ord: Any = "fro",
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The matrix ``ord``-norm over the two dims ``dim``: 'fro', 'nuc' (sum of singular values), 2 / -2
    (largest / smallest singular value), 1 / -1 (max / min column abs-sum), inf / -inf (max / min row abs-sum)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    a = _floating("linalg.matrix_norm", A, dtype)
    if a.ndim < 2:
        raise ShapeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, got {a.ndim}")
    if len(dim) != 2:
        raise ShapeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    d0, d1 = (d % a.ndim for d in dim)
    if d0 == d1:
        raise ShapeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return a.norm(2.0, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(a.movedim((d0, d1), (-2, -1)))
        if ord == 2 and s.shape[-1] == 0:  # torch: a positive order of an empty matrix is 0 (no graph)
            out = s.new_zeros(s.shape[:-1])
        else:
            out = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    if ord in (1, -1, math.inf, -math.inf):
        inner, outer = (d0, d1) if abs(ord) == 1 else (d1, d0)  # 1: sum over rows (column sums)
        sums = a.abs().sum(inner, keepdim=True)
        if ord > 0 and sums.shape[outer] == 0:  # torch: the max of no sums is 0 (a constant, as torch's)
            out = sums.new_zeros(tuple(1 if i == outer else n for i, n in enumerate(sums.shape)))
        else:
            out = sums.amax(outer, keepdim=True) if ord > 0 else sums.amin(outer, keepdim=True)
        return out if keepdim else out.squeeze((d0, d1))
    raise ValueError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(input: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: N803
    """``vector_norm`` or ``matrix_norm`` as torch.linalg.norm picks: by ``dim`` (an int: vector, a pair:
    matrix), else by A's ndim when ``ord`` is given (1-D or 2-D), else the 2-norm of all elements."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    a = _floating("linalg.norm", A, dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None:
        if len(dim) == 1:
            return vector_norm(a, 2 if ord is None else ord, dim, keepdim)
        return matrix_norm(a, "fro" if ord is None else ord, tuple(dim), keepdim)
    if ord is None:
        return vector_norm(a, 2, None, keepdim)
    if a.ndim == 1:
        return vector_norm(a, ord, None, keepdim)
    if a.ndim == 2:
        return matrix_norm(a, ord, (-2, -1), keepdim)
    raise ShapeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {a.ndim}D.")


# ---------------------------------------------------------------- inverses, determinants, solves


def inv(A: Tensor) -> Tensor:  # noqa: N803
    """A^-1 of each (..., n, n) matrix (LinAlgError when one is singular)."""
    return A.inverse()


def inv_ex(A: Tensor, *, check_errors: bool = False) -> InvEx:  # noqa: N803
    """``(inverse, info)``: info[b] = 0 where matrix b was inverted, else > 0 and its inverse is nan."""
    _m._square("linalg.inv_ex", A)
    info = np.zeros(A.shape[:-2], dtype=np.int32)
    try:
        out = A.inverse()
    except LinAlgError:
        if check_errors:
            raise
        dets = np.linalg.det(A.detach().numpy())
        info = (dets == 0).astype(np.int32)
        out = A * math.nan
    return rt.linalg_inv_ex(out, Tensor._of(info, device=A.device))


def det(A: Tensor) -> Tensor:  # noqa: N803 - torch's names
    """The determinant of each matrix of ``A``."""
    return A.det()


def slogdet(A: Tensor) -> SignLogAbsDet:  # noqa: N803
    """``(sign, logabsdet)`` with det(A) = sign * exp(logabsdet)."""
    return rt.linalg_slogdet(*A.slogdet())


def cholesky(input: Tensor, *, upper: bool = False) -> Tensor:  # noqa: N803
    """The Cholesky factor: lower L with L L^T = A, or with ``upper`` U with U^T U = A."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    return name_node(A.cholesky(upper), "LinalgCholeskyExBackward0")  # (torch.cholesky's is CholeskyBackward0)


def cholesky_ex(input: Tensor, *, upper: bool = False, check_errors: bool = False) -> CholeskyEx:  # noqa: N803
    """``(L, info)``: info 0 where A is positive-definite, else the order of its first failing leading minor
    (and L holds nan there)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    _m._square("linalg.cholesky_ex", A)
    try:
        low = name_node(A.cholesky(upper), "LinalgCholeskyExBackward0")
        return rt.linalg_cholesky_ex(low, Tensor._of(np.zeros(A.shape[:-2], np.int32), device=A.device))
    except LinAlgError:
        if check_errors:
            raise
    a = A.detach().numpy().reshape((-1, *A.shape[-2:]))
    info = np.zeros(a.shape[0], np.int32)
    for b, m in enumerate(a):
        m = m.T if upper else m
        for k in range(1, m.shape[-1] + 1):
            try:
                np.linalg.cholesky(m[:k, :k])
            except np.linalg.LinAlgError:
                info[b] = k
                break
    return rt.linalg_cholesky_ex(A * math.nan, Tensor._of(info.reshape(A.shape[:-2]), device=A.device))


def pinv(
    input: Tensor,  # noqa: A002 - torch's name
    rcond: Any = None,
    hermitian: bool = False,
    *,
    atol: Any = None,
    rtol: Any = None,
) -> Tensor:
    """Moore-Penrose pseudo-inverse; singular values <= max(atol, rtol * largest) count as zero (rtol defaults to
    eps * max(m, n) when atol is not given). torch's older overload ``pinv(A, rcond, hermitian=False)`` is
    ``rtol=rcond`` with no ``atol``, and cannot be mixed with the keywords."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise TypeError(
                "linalg_pinv() received an invalid combination of arguments: rcond (torch's older overload) "
                "cannot be given with atol or rtol"
            )
        rtol = rcond
    _m._matrix("linalg.pinv", A)
    atol = 0.0 if atol is None else float(atol)
    rtol = None if rtol is None else float(rtol)
    return apply(_ops.pinv, A, atol=atol, rtol=rtol, hermitian=hermitian)


def matrix_power(input: Tensor, n: int) -> Tensor:  # noqa: N803
    """A^n for an integer n (negative: the inverse's power)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    return A.matrix_power(n)


def matrix_exp(input: Tensor) -> Tensor:
    """e^A (``methods.linalg.matrix_exp``), by torch.linalg's keyword names."""
    return _m.matrix_exp(input)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:  # noqa: N803 - torch's names
    """X with A X = B (``left=False``: X A = B); see ``methods.linalg.solve``."""
    return name_node(_m.solve(A, B, left=left), "LinalgSolveExBackward0")


def solve_triangular(
    input: Tensor,
    B: Tensor,  # noqa: N803 - torch's names
    *,
    upper: bool,
    left: bool = True,
    unitriangular: bool = False,
) -> Tensor:
    """X with T X = B for T the ``upper`` or lower triangle of ``input``; see ``methods.linalg.solve_triangular``."""
    return _m.solve_triangular(input, B, upper=upper, left=left, unitriangular=unitriangular)


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:  # noqa: N803
    """X with A X = B for A = P L U given by ``lu_factor``; see ``methods.linalg.lu_solve``."""
    return _m.lu_solve(LU, pivots, B, left=left, adjoint=adjoint)


def matrix_rank(input: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:  # noqa: N803
    """The number of singular values above max(atol, rtol * largest) (int64, no gradient)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    _m._matrix("linalg.matrix_rank", A)
    a = 0.0 if atol is None else _tolerance(atol, "atol")
    r = None if rtol is None else _tolerance(rtol, "rtol")
    if A.numel() == 0:  # torch: no rows or columns (or no matrices) have rank 0, whatever the tolerances
        return Tensor._of(np.zeros(tuple(A.shape[:-2]), np.int64), device=A.device)
    s = eigvalsh(A.detach()).abs() if hermitian else svdvals(A.detach())
    if r is None:  # torch: eps * max(m, n) where atol is not > 0 (elementwise for a tensor atol)
        default = float(np.finfo(A.dtype).eps * max(A.shape[-2:]))
        r = (a <= 0).to(np.float64) * default if isinstance(a, Tensor) else (default if a <= 0 else 0.0)
    # tensor tolerances are per matrix: they broadcast against the batch dims (torch's unsqueeze(-1))
    a, r = (t.unsqueeze(-1) if isinstance(t, Tensor) else t for t in (a, r))
    rel = s.amax(-1, keepdim=True) * r
    tol = rel.maximum(a) if isinstance(a, Tensor) else rel.clamp_min(a)
    return (s > tol).sum(-1)


def _tolerance(t: Any, name: str) -> Any:
    """A matrix_rank/pinv tolerance: a Python float, or a float64 tensor (no graph); complex refused as torch."""
    if isinstance(t, Tensor):
        if t.is_complex():
            raise RuntimeError(f"linalg.matrix_rank: {name} tensor of complex type is not supported.")
        return t.detach().to(np.float64)
    return float(t)


def lstsq(input: Tensor, b: Tensor, rcond: Any = None, *, driver: Any = None) -> Lstsq:  # noqa: N803
    """The least-squares solution X = pinv(A) B of A X = B (B a matrix stack or a vector), differentiable."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    B = b  # (torch's keyword name is b)  # noqa: N806
    vector = _lstsq_checks(A, B, driver)
    b = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2:]
    r = np.finfo(A.dtype).eps * max(m, n) if rcond is None else float(rcond)
    x = apply(_ops.pinv, A, atol=0.0, rtol=r) @ b
    empty = Tensor._of(np.zeros(0, np.zeros(0, A.dtype).real.dtype), device=A.device)
    # torch's drivers: gelsd/gelss also return the singular values; gels returns no rank. The default is
    # gelsy on the CPU, gels on CUDA (torch's only CUDA driver)
    drv = driver if driver is not None else ("gels" if A.device.type == "cuda" else "gelsy")
    sv = svdvals(A.detach()) if drv in ("gelsd", "gelss") else empty
    rank = Tensor._of(np.zeros(0, np.int64), device=A.device) if drv == "gels" else matrix_rank(A, rtol=r)
    # residuals ||A x - b||^2 per column (real dtype, differentiable): torch's gels/gelsd/gelss give them
    # for tall A (m > n), gelsd/gelss only when every matrix has full rank; otherwise an empty tensor,
    # which still requires grad when A or B does
    res = ((A @ x - b).abs() ** 2).sum(-2)
    full = drv == "gels" or (drv in ("gelsd", "gelss") and bool((rank == n).all()))
    if not (m > n and full):
        res = res.reshape(-1)[:0]
    x, res = name_nodes("LinalgLstsqBackward0", x.squeeze(-1) if vector else x, res)
    return rt.linalg_lstsq(x, res, rank, sv)


def _lstsq_checks(A: Tensor, B: Tensor, driver: Any) -> bool:  # noqa: N803
    """torch's refusals of ``lstsq``, in its order: ranks, dtypes, the vector case's rank, rows, batch dims,
    driver, dtype. True where B is a (batch of) vector(s): 1-d, or A's shape without its last dim."""
    _m._tensors("linalg.lstsq", A, B)
    if A.ndim < 2:
        raise ShapeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    if B.ndim < 1:
        raise ShapeError("torch.linalg.lstsq: other must have at least 1 dimension.")
    if A.dtype != B.dtype:
        raise DTypeError(
            "torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's dtype "
            f"{_dtypes.scalar_type_name(A.dtype)} and other's dtype {_dtypes.scalar_type_name(B.dtype)}"
        )
    if not 0 <= A.ndim - B.ndim <= 1:
        raise ShapeError(
            "torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and "
            "(input.dim() - other.dim()) <= 1"
        )
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if A.shape[-2] != (B.shape[-1] if vector else B.shape[-2]):
        raise ShapeError(f"torch.linalg.lstsq: input.size(-2) should match other.size({-1 if vector else -2})")
    # (torch then broadcasts the batch dims, B's taken as vectors wherever it has one dim fewer than A)
    broadcast_shape(tuple(A.shape[:-2]), tuple(B.shape[: -1 if B.ndim == A.ndim - 1 else -2]))
    if driver is not None and driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise OpValueError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    if str(A.dtype) not in ("float32", "float64", "complex64", "complex128"):
        raise DTypeError("This function doesn't handle types other than float and double")
    return vector


def tensorinv(input: Tensor, ind: int = 2) -> Tensor:  # noqa: N803
    """The inverse for ``tensordot(inv, A, ind)``: A's first ``ind`` dims against the rest, as a matrix."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    if ind <= 0:
        raise ValueError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    rows, cols = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    if math.prod(rows) != math.prod(cols):
        raise ShapeError(
            f"Expected self to satisfy the requirement prod(self.shape[ind:]) == prod(self.shape[:ind]), "
            f"but got {math.prod(cols)} != {math.prod(rows)}"
        )
    return A.reshape(math.prod(rows), -1).inverse().reshape(cols + rows)


def tensorsolve(input: Tensor, other: Tensor, dims: Any = None) -> Tensor:  # noqa: N803
    """X with ``tensordot(A, X, X.ndim) == B`` (``dims``: A's dims moved to the end first)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    B = other  # (torch's keyword name is other)  # noqa: N806
    a = A
    if dims is not None:
        dims = [d % a.ndim for d in dims]
        a = a.permute([d for d in range(a.ndim) if d not in dims] + dims)
    out_shape = tuple(a.shape[B.ndim :])
    return solve(a.reshape(B.numel(), -1), B.reshape(-1)).reshape(out_shape)


def _batch_mask(bad: Tensor, core: int) -> Tensor:
    """``bad`` (A's batch shape) with ``core`` trailing dims of size 1, to mask a result over A's batch."""
    return bad.reshape(tuple(bad.shape) + (1,) * core)


def _invertible(A: Tensor) -> tuple[Tensor, Tensor]:  # noqa: N803
    """``(A with each singular matrix swapped for I, LAPACK's info: > 0 for those)``."""
    info = _m.lu_factor_parts(A.detach())[2]
    bad = info > 0
    if not bool(bad.any()):
        return A, info
    eye = Tensor._of(np.eye(A.shape[-1], dtype=A.dtype), device=A.device)
    return eye.where(_batch_mask(bad, 2), A), info


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> SolveEx:  # noqa: N803
    """``(solve(A, B), info)``: info[b] = 0 where matrix b was invertible, else > 0 (LAPACK's: the first zero
    pivot) and that result is nan (torch: whatever LAPACK left there)."""
    _m._square("linalg.solve_ex", A)
    a, info = _invertible(A)
    bad = info > 0
    if not bool(bad.any()):
        return rt.linalg_solve_ex(solve(A, B, left=left), info)
    if check_errors:
        raise LinAlgError("torch.linalg.solve_ex: The solver failed because the input matrix is singular.")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    x = solve(a, B, left=left)
    x = x.masked_fill(_batch_mask(bad, 1 if vector else 2), math.nan)
    return rt.linalg_solve_ex(name_node(x, "LinalgSolveExBackward0"), info)


def cond(input: Tensor, p: Any = None) -> Tensor:  # noqa: N803
    """The condition number in the ``p`` norm: None / 2 / -2 from the singular values (any m x n), 'fro', 'nuc',
    inf, -inf, 1, -1 as norm(A) * norm(A^-1) (square A; inf where A is singular). Differentiable."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    if p not in (None, 2, -2, 1, -1, math.inf, -math.inf, "fro", "nuc"):
        raise ValueError(f"linalg.cond got an invalid norm type: {p}")
    if p in (None, 2, -2):
        _m._matrix("linalg.cond", A)
    else:
        _m._square(f"linalg.cond(ord={p if isinstance(p, str) or abs(p) == math.inf else int(p)})", A)
    if A.numel() == 0:  # NumPy leaves it undefined; torch returns 0
        return A.sum((-2, -1)) * 0
    if p in (None, 2, -2):
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return name_node(small / big if p == -2 else big / small, "SqueezeBackward1")  # (torch's last step)
    if p == "nuc":
        s = svdvals(A)
        return s.sum(-1) * s.reciprocal().sum(-1)
    a, info = _invertible(A)
    ainv = a.inverse().masked_fill(_batch_mask(info > 0, 2), math.inf)
    return (matrix_norm(A, p) * matrix_norm(ainv, p)).nan_to_num(math.inf, math.inf, -math.inf)


def householder_product(input: Tensor, tau: Tensor) -> Tensor:  # noqa: N803
    """The first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T with v_i column i of A below the diagonal
    (1 on it): the Q of a geqrf factorization (torch.orgqr). Matrix products only, so gradients follow."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    name = "torch.linalg.householder_product"
    if A.ndim < 2:
        raise ShapeError(f"{name}: input must have at least 2 dimensions.")
    m, n = A.shape[-2:]
    if m < n:
        raise ShapeError(f"{name}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    k = tau.shape[-1] if tau.ndim else 1
    if n < k:
        raise ShapeError(f"{name}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise ShapeError(
            f"{name}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got {list(tau.shape[:-1])}"
        )
    if A.dtype != tau.dtype:
        raise DTypeError(f"{name}: tau dtype {tau.dtype} does not match input dtype {A.dtype}")
    eye = Tensor._of(np.eye(m, dtype=A.dtype), device=A.device)
    v = A.tril(-1) + eye[:, :n]
    q = eye[:, :n].expand(*A.shape[:-2], m, n)
    for i in range(k - 1, -1, -1):  # Q = H_1 (H_2 (... (H_k I)))
        vi = v[..., :, i : i + 1]
        vh = vi.transpose(-1, -2).conj() if A.is_complex() else vi.transpose(-1, -2)  # H_i = I - tau v v^H
        q = q - (tau[..., i, None, None] * vi) @ (vh @ q)
    if k == 0 and (A.requires_grad or tau.requires_grad):  # torch's Q is then I, still part of the graph
        q = q + 0 * A + 0 * tau.sum(-1)[..., None, None]
    return name_node(q, "LinalgHouseholderProductBackward0")


orgqr = householder_product


# ---------------------------------------------------------------- LU


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False) -> LUFactorEx:  # noqa: N803
    """``(LU, pivots, info)`` with A = P L U (partial pivoting): L's strict lower part and U in LU, 1-based int32
    pivots, info > 0 where U has a zero on its diagonal. ``pivot=False`` factors without row swaps (torch does
    that on CUDA only)."""
    lu, piv, info, _ = _m.lu_factor_parts(A, pivot)
    if check_errors:
        _lu_errors(info, "torch.linalg.lu_factor_ex")
    return rt.linalg_lu_factor_ex(lu, piv, info)


def _lu_errors(info: Tensor, name: str) -> None:
    flat = info.detach().reshape(-1).tolist()
    for b, i in enumerate(flat):
        if i > 0:
            where = f"(Batch element {b}): " if info.ndim else ""
            raise LinAlgError(
                f"{name}: {where}U[{i},{i}] is zero and using it on lu_solve would result in a division by zero. "
                "If you still want to perform the factorization, consider calling linalg.lu(A, pivot) or "
                "linalg.lu_factor_ex(A, pivot)"
            )


def lu_factor(A: Tensor, *, pivot: bool = True) -> LUFactor:  # noqa: N803
    """``(LU, pivots)`` with A = P L U; LinAlgError when U has a zero on its diagonal (``lu_factor_ex`` does not)."""
    lu, piv, info, _ = _m.lu_factor_parts(A, pivot)
    _lu_errors(info, "torch.linalg.lu_factor")
    return rt.linalg_lu_factor(lu, piv)


def lu(A: Tensor, *, pivot: bool = True) -> PLU:  # noqa: N803
    """``(P, L, U)`` with A = P L U: P a permutation (empty with ``pivot=False``), L (m, k) unit lower, U (k, n)
    upper; gradients through L and U as torch's."""
    lu_, piv, _, p = _m.lu_factor_parts(A, pivot)
    k = min(A.shape[-2:])
    if not pivot:
        p = Tensor._of(np.zeros(0, A.dtype), device=A.device)
    return rt.linalg_lu(p, *name_nodes("LinalgLuBackward0", _m._unit_lower(lu_), lu_[..., :k, :].triu()))


# ---------------------------------------------------------------- decompositions


def qr(A: Tensor, mode: str = "reduced") -> QR:  # noqa: N803
    """``(Q, R)`` with A = Q R: mode 'reduced' (k = min(m, n) columns), 'complete' (Q square) or 'r' (Q empty)."""
    return _m.qr_parts(A, mode)


def eigh(input: Tensor, UPLO: str = "L") -> Eigh:  # noqa: N803
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric A, read from its ``UPLO`` triangle.

    Eigenvectors are defined up to sign: only losses invariant to that have a meaningful gradient (torch)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    _m._square("linalg.eigh", A)
    w, v = _ops.unpack(apply(_ops.eigh, A, UPLO=UPLO), _ops.layout("eigh", tuple(A.shape)))
    w = w.real if A.is_complex() else w  # (real eigenvalues of a Hermitian A, as torch)
    return rt.linalg_eigh(*name_nodes("LinalgEighBackward0", w, v))


def eigvalsh(input: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    """The eigenvalues (ascending) of symmetric A."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    return eigh(A, UPLO).eigenvalues


def svd(A: Tensor, full_matrices: bool = True, *, driver: Any = None) -> SVD:  # noqa: N803
    """``(U, S, Vh)`` with A = U diag(S) Vh, S descending; gradients for gauge-invariant losses (torch)."""
    return rt.linalg_svd(*_m.svd_parts(A, full_matrices))


def svdvals(A: Tensor, *, driver: Any = None) -> Tensor:  # noqa: N803
    """The singular values of A, descending (gradient U diag(gS) Vh)."""
    return _m.svd_parts(A, False)[1]


def eig(input: Tensor) -> Eig:  # noqa: N803
    """Eigenvalues and unit eigenvectors (columns) of a general square matrix, complex (complex64 for float32).
    Gradients as torch's: only losses invariant to each eigenvector's phase (v -> v e^{i phi}) have one, else
    torch's RuntimeError; a real A gets the real part."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    _m._square("linalg.eig", A)
    w, v = _ops.unpack(apply(_ops.eig, A), _ops.layout("eig", tuple(A.shape)))
    return rt.linalg_eig(*name_nodes("LinalgEigBackward0", w, v))


def eigvals(input: Tensor) -> Tensor:  # noqa: N803
    """The eigenvalues of a general square matrix, complex (as ``eig``)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    return eig(A).eigenvalues


# ---------------------------------------------------------------- products


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (broadcasting)."""
    return _cross(input, other, dim, "linalg.cross")


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Dot products of vectors along ``dim`` (broadcasting), conj(x) * y for complex x (torch)."""
    if autocast_users[0]:  # (in autocast's lower-precision list, as torch's linalg_vecdot; its parts are not)
        x, y = autocast_function("linalg_vecdot", x, y)
        with autocast_state.suspended():
            return ((x.conj() if x.is_complex() else x) * y).sum(dim)
    return ((x.conj() if x.is_complex() else x) * y).sum(dim)


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """A chain of matrix products; the first may be 1-D (a row), the last 1-D (a column)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise ValueError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        ok = t.ndim == 2 or (t.ndim == 1 and i in (0, len(ts) - 1))
        if not ok:
            raise ShapeError(f"multi_dot(): tensor {i} must be 2D (1D allowed first and last) but got {t.ndim}D")
    if ts[0].dtype.itemsize == 2 and ts[0].dtype.kind in "fV" and len(ts) > 2:
        return name_node(_multi_dot_in_torch_order(ts), "ViewBackward0")
    out = ts[0]
    for t in ts[1:]:
        out = out @ t
    return name_node(out, "ViewBackward0")  # (torch's last step: a reshape of its matrix chain)


def _multi_dot_in_torch_order(ts: list[Tensor]) -> Tensor:
    """float16/bfloat16: the products in torch's order (its cheapest parenthesisation, ties as torch breaks
    them), each rounded to the dtype as torch's mm rounds it."""
    first, last = ts[0].ndim == 1, ts[-1].ndim == 1
    ms = [t.unsqueeze(0) if first and i == 0 else t for i, t in enumerate(ts)]
    if last:
        ms[-1] = ms[-1].unsqueeze(1)
    n = len(ms)
    if n == 3:
        a, b, c, d = ms[0].shape[0], ms[1].shape[0], ms[2].shape[0], ms[2].shape[1]
        out = ms[0] @ (ms[1] @ ms[2]) if a * c * (b + d) > b * d * (a + c) else (ms[0] @ ms[1]) @ ms[2]
    else:
        p = [m.shape[0] for m in ms] + [ms[-1].shape[1]]
        cost = [[0] * n for _ in range(n)]
        split = [[0] * n for _ in range(n)]
        for length in range(1, n):
            for i in range(n - length):
                j = i + length
                cost[i][j] = -1
                for k in range(i, j):
                    q = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
                    if cost[i][j] < 0 or q < cost[i][j]:
                        cost[i][j], split[i][j] = q, k

        def chain(i: int, j: int) -> Tensor:
            return ms[i] if i == j else chain(i, split[i][j]) @ chain(split[i][j] + 1, j)

        out = chain(0, n - 1)
    if first:
        out = out.squeeze(0)
    if last:
        out = out.squeeze(-1)
    return out


def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of 2-D matrices (torch.chain_matmul; one matrix is returned as is)."""
    if len(matrices) == 1:
        return matrices[0]
    for i, t in enumerate(matrices):
        if t.ndim != 2:
            raise ShapeError(f"chain_matmul(): Expected 2D tensor at index {i}, got {t.ndim}D")
    return multi_dot(matrices)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: N803
    """The diagonal ``offset`` of the (dim1, dim2) planes, as the last dim."""
    try:
        return A.diagonal(offset, dim1, dim2)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def vander(x: Tensor, *, N: Any = None) -> Tensor:  # noqa: N803
    """torch.linalg.vander: columns x^0, x^1, ..., x^(N-1) (increasing powers) along a new last dim; a 0-d x
    is one point (a (1, N) result), N > 1 (default x's last size), integers become int64 (torch's cumprod)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg.vander: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind == "b":
        raise DTypeError("linalg.vander supports floating point, complex, and integer tensors, but got Bool")
    x = x.unsqueeze(-1) if x.ndim == 0 else x
    n = x.shape[-1] if N is None else int(N)
    if n <= 1:
        raise ValueError(f"linalg.vander: N must be greater than 1, got N={n} (x of shape {tuple(x.shape)})")
    if x.dtype.kind in "iu" and x.dtype != _dtypes.int64:
        x = x.long()
    return name_node(_powers(x, n, "linalg.vander"), "CatBackward0")


def _powers(x: Tensor, n: int, name: str) -> Tensor:
    if x.ndim < 1:
        raise ShapeError(f"{name}: x must be at least 1-dimensional")
    if n <= 1:
        return (x.unsqueeze(-1) * 0 + 1)[..., :n] if n >= 0 else x.unsqueeze(-1)
    ones = Tensor._wrap(x.device.xp.ones_like(x._data), x.device, None)  # (not x^0: torch's 1 at an inf or NaN x)
    cols = [ones, x]
    for _ in range(n - 2):
        cols.append(cols[-1] * x)
    return apply(_shape_stack, *cols, axis=-1)


def _torch_vander(x: Tensor, N: Any = None, increasing: bool = False) -> Tensor:  # noqa: N803
    """torch.vander: a 1-D x to columns x^(N-1), ..., x^0 (``increasing``: x^0 first); integers stay integers."""
    if x.ndim != 1:
        raise ShapeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if x.dtype.kind in "biu" and x.dtype != _dtypes.int64:  # torch: bool and every integer dtype give int64
        x = x.long()
    out = _powers(x, n, "vander")
    if increasing and n > 1:
        return name_node(out, "torch::autograd::CopySlices")  # (torch writes the columns into a new tensor)
    return out if increasing or n == 0 else out.flip(-1)


# ---------------------------------------------------------------- distances and integrals (top-level in torch)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The ``p``-norm distances between the rows of (..., P, M) x1 and (..., R, M) x2: (..., P, R); gradient 0
    where a distance is 0 (torch)."""
    try:
        if autocast_users[0]:
            x1, x2 = autocast_function("cdist", x1, x2)
        if x1.ndim < 2 or x2.ndim < 2:
            raise ShapeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 got: {x2.ndim}D")
        if x1.shape[-1] != x2.shape[-1]:
            raise ShapeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
        refuse_complex(RuntimeError, "cdist only supports floating-point dtypes, X1 got: {dtype}", x1)
        refuse_complex(RuntimeError, "cdist only supports floating-point dtypes, X2 got: {dtype}", x2)
        for which, x in (("X1", x1), ("X2", x2)):  # (torch's text, naming the first integer operand)
            if _dtypes.kind(x.dtype) not in "fc":
                raise DTypeError(
                    f"cdist only supports floating-point dtypes, {which} got: {_dtypes.scalar_type_name(x.dtype)}"
                )
        if x1.dtype != x2.dtype:  # torch's kernel takes both in x1's dtype (no promotion)
            name = _dtypes.scalar_type_name
            raise RuntimeError(f"expected scalar type {name(x1.dtype)} but found {name(x2.dtype)}")
        if p < 0:
            raise OpValueError(f"cdist only supports non-negative p values, got {p}")
        if compute_mode not in _CDIST_MODES:
            raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
        diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
        if math.isinf(p) or p == 0:  # torch's CdistBackward0: each coordinate at the distance gets the whole
            out = apply(_red.norm, diff, ord=float(p), axis=(-1,), each_extreme=True)  # gradient; p = 0: zeros
        else:
            out = diff.norm(p, -1)
        # (torch's node: its matmul form of the euclidean distance ends in a view, its own kernel otherwise)
        large = compute_mode == _CDIST_MODES[0] and max(out.shape[-2:]) > 25
        mm = p == 2 and (compute_mode == _CDIST_MODES[1] or large)
        return name_node(out, "ViewBackward0" if mm else "CdistBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _sample_spacing(name: str, y: Tensor, x: Tensor, dim: int) -> Tensor:
    """The differences of the sample points ``x`` along ``dim``, shaped to broadcast against y's adjacent pairs
    (ATen's rule): a 1-D x holds one point per sample along ``dim`` of y, an x of fewer dimensions is padded
    with leading 1s, an x of as many dimensions is taken as it is."""
    if y.dtype.kind == "b" or x.dtype.kind == "b":
        raise RuntimeError(f"{name}: received a bool input for `x` or `y`, but bool is not supported")
    if x.ndim == 1:
        if x.shape[0] != y.shape[dim]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        x = x.reshape(tuple(x.shape[0] if d == dim else 1 for d in range(y.ndim)))
    elif x.ndim < y.ndim:
        x = x.reshape((1,) * (y.ndim - x.ndim) + tuple(x.shape))
    return _diff(x, dim if dim >= 0 else dim + x.ndim)


def _scalar_spacing(name: str, y: Tensor, dx: Any) -> float:
    """``dx`` as the real number ATen takes (a bool or complex spacing refuses; a bool y too)."""
    if y.dtype.kind == "b":
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported")
    if isinstance(dx, Tensor):
        dx = dx.item()
    if isinstance(dx, (bool, np.bool_, complex, np.complexfloating)):
        raise RuntimeError(f"{name}: Currently, we only support dx as a real number.")
    return float(dx)


def _check_spacing_args(name: str, x: Any, dx: Any) -> None:
    """torch's overloads take either a tensor ``x`` of sample points or a number ``dx``, never both."""
    if x is not None and (dx is not None or not isinstance(x, Tensor)):
        got = ["Tensor", "Tensor" if isinstance(x, Tensor) else type(x).__name__]
        got += [] if dx is None else [f"dx={type(dx).__name__}"]
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got ({', '.join(got)}), "
            "but expected one of:\n * (Tensor y, Tensor x, *, int dim = -1)\n"
            " * (Tensor y, *, Number dx = 1, int dim = -1)\n"
        )


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The trapezoid rule along ``dim``: spacing ``dx`` (default 1) or sample points ``x`` (a 1-D x holds the
    points along ``dim``; an x of y's rank is taken along ``dim`` and broadcast, as torch)."""
    try:
        _check_spacing_args("trapezoid", x, dx)
        dim = wrap_dim(dim, y.ndim, "trapezoid")
        n = y.shape[dim]
        if n == 0:
            from backprop.creation import zeros

            return zeros(tuple(s for d, s in enumerate(y.shape) if d != dim), dtype=y.dtype, device=y.device)
        if x is not None:
            spacing = _sample_spacing("trapezoid", y, x, dim)
            out = ((y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1)) * spacing).sum(dim) / 2
            return name_node(out, "DivBackward1")  # (torch's last steps: div and mul by a Scalar)
        step = _scalar_spacing("trapezoid", y, 1.0 if dx is None else dx)
        return name_node((y.sum(dim) - (y.select(dim, 0) + y.select(dim, -1)) * 0.5) * step, "MulBackward1")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


trapz = trapezoid


def _diff(x: Tensor, dim: int) -> Tensor:
    n = x.shape[dim]
    return x.narrow(dim, min(1, n), max(n - 1, 0)) - x.narrow(dim, 0, max(n - 1, 0))


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The running trapezoid integral along ``dim`` (one element shorter than y along it); ``x`` and ``dx`` as
    in :func:`trapezoid`."""
    try:
        _check_spacing_args("cumulative_trapezoid", x, dx)
        dim = wrap_dim(dim, y.ndim, "cumulative_trapezoid")
        n = y.shape[dim]
        pairs = y.narrow(dim, 0, max(n - 1, 0)) + y.narrow(dim, min(1, n), max(n - 1, 0))
        if x is not None:  # (torch's last steps: a div by a Scalar, or a cumsum)
            out = (pairs * _sample_spacing("cumulative_trapezoid", y, x, dim)).cumsum(dim) / 2
            return name_node(out, "DivBackward1")
        out = (pairs * _scalar_spacing("cumulative_trapezoid", y, 1.0 if dx is None else dx)).cumsum(dim) / 2
        return name_node(out, "CumsumBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


# ---------------------------------------------------------------- LDL^T (LAPACK's sytrf / hetrf, as torch)


def _lapack(name: str, dtype: Any, hermitian: bool) -> tuple[str, Any]:
    from scipy.linalg import lapack

    prefix = {"float32": "s", "float64": "d", "complex64": "c", "complex128": "z"}.get(np.dtype(dtype).name)
    if prefix is None:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {dtype}")
    kind = "he" if hermitian and prefix in "cz" else "sy"
    return kind, lambda routine: getattr(lapack, prefix + kind + routine)


def ldl_factor_ex(input: Tensor, *, hermitian: bool = False, check_errors: bool = False) -> LDLFactorEx:  # noqa: N803
    """torch's ``linalg.ldl_factor_ex``: the Bunch-Kaufman LDL^T (LDL^H with ``hermitian``) of each symmetric
    (..., n, n) matrix, from its lower triangle, through LAPACK's sytrf (hetrf): LD and pivots are LAPACK's,
    bit for bit torch's (the same routine; the upper triangle of LD is zero). Not differentiable (as torch).
    Host-only (SciPy's LAPACK; cuSOLVER has no sytrf in CuPy): a CUDA input is copied to the host and the
    results back to its device (``ldl_solve`` likewise)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    _m._square("linalg.ldl_factor_ex", A)
    _, routine = _lapack("torch.linalg.ldl_factor_ex", A._data.dtype, hermitian)
    a = A.detach().cpu().numpy()
    n = a.shape[-1]
    flat = a.reshape((math.prod(a.shape[:-2]), n, n))  # (no -1: an empty matrix has none to infer)
    ld = np.zeros_like(flat)
    pivots = np.zeros(flat.shape[:-1], np.int32)
    info = np.zeros(len(flat), np.int32)
    if n:
        lwork = max(int(routine("trf_lwork")(n, lower=1)[0].real), 1)
        for b, m in enumerate(flat):
            ldu, piv, inf = routine("trf")(m, lower=1, lwork=lwork)
            ld[b], pivots[b], info[b] = np.tril(ldu), piv, inf
    if check_errors and info.any():
        raise LinAlgError(
            f"torch.linalg.ldl_factor_ex: The factorization could not be completed because the input is singular: "
            f"D[{int(info[info > 0][0]) - 1}, {int(info[info > 0][0]) - 1}] is exactly zero (info = {int(info.max())})"
        )
    batch = a.shape[:-2]
    return rt.linalg_ldl_factor_ex(
        Tensor._of(ld.reshape(a.shape), device=A.device),
        Tensor._of(pivots.reshape(batch + (n,)), device=A.device),
        Tensor._of(info.reshape(batch), device=A.device),
    )


def ldl_factor(input: Tensor, *, hermitian: bool = False) -> LDLFactor:  # noqa: N803
    """torch's ``linalg.ldl_factor``: ``(LD, pivots)`` of ``ldl_factor_ex``; raises where D is singular (torch
    raises there too, with an internal-assert message)."""
    A = input  # (torch's keyword name is input)  # noqa: N806
    LD, pivots, info = ldl_factor_ex(A, hermitian=hermitian)  # noqa: N806
    if bool(info._data.any()):
        bad = int(info._data.max())
        raise LinAlgError(
            f"torch.linalg.ldl_factor: The factorization could not be completed because the input is singular: "
            f"D[{bad - 1}, {bad - 1}] is exactly zero (info = {bad})"
        )
    return rt.linalg_ldl_factor(LD, pivots)


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:  # noqa: N803
    """torch's ``linalg.ldl_solve``: X with A X = B from ``ldl_factor``'s (LD, pivots), through LAPACK's sytrs
    (hetrs); batch dims broadcast. Not differentiable (as torch)."""
    _m._square("linalg.ldl_solve", LD)
    if B.ndim < 2 or B.shape[-2] != LD.shape[-1]:
        raise ShapeError(
            f"torch.linalg.ldl_solve: Incompatible shapes of A and B for the equation AX = B "
            f"({LD.shape[-2]}x{LD.shape[-1]} and {B.shape[-2] if B.ndim > 1 else B.shape[-1]}x"
            f"{B.shape[-1] if B.ndim > 1 else 1})"
        )
    if pivots._data.dtype != np.int32 or tuple(pivots.shape) != tuple(LD.shape[:-1]):
        raise RuntimeError(
            f"torch.linalg.ldl_solve: expected pivots of dtype int32 and shape {tuple(LD.shape[:-1])}, got "
            f"{pivots.dtype} of shape {tuple(pivots.shape)}"
        )
    if LD._data.dtype != B._data.dtype:
        raise DTypeError(
            f"torch.linalg.ldl_solve: Expected LD and B to have the same dtype, but got LD with dtype {LD.dtype} "
            f"and B with dtype {B.dtype}"
        )
    _, routine = _lapack("torch.linalg.ldl_solve", LD._data.dtype, hermitian)
    n, k = LD.shape[-1], B.shape[-1]
    batch = np.broadcast_shapes(tuple(LD.shape[:-2]), tuple(B.shape[:-2]))
    nb = math.prod(batch)  # (no -1 in the reshapes: an empty matrix has none to infer)
    ld = np.broadcast_to(LD.detach().cpu().numpy(), batch + (n, n)).reshape((nb, n, n))
    piv = np.broadcast_to(pivots.cpu().numpy(), batch + (n,)).reshape((nb, n))
    b = np.broadcast_to(B.detach().cpu().numpy(), batch + (n, k)).reshape((nb, n, k))
    x = np.zeros_like(b)
    if n and k:
        for i in range(len(b)):
            x[i], _ = routine("trs")(ld[i], piv[i], b[i], lower=1)
    return Tensor._of(x.reshape(batch + (n, k)), device=B.device)


def matmul(input: Tensor, other: Tensor, *, out: Any = None) -> Tensor:
    """torch's ``linalg.matmul``: an alias of ``bp.matmul``."""
    try:
        if out is not None:
            import backprop

            with_out: Any = backprop.matmul  # (its out= keyword is added by backprop._out)
            return with_out(input, other, out=out)
        return input.matmul(other)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


__all__ = [
    "LDLFactor", "LDLFactorEx", "ldl_factor", "ldl_factor_ex", "ldl_solve", "matmul",
    "CholeskyEx", "Eigh", "InvEx", "LinAlgError", "Lstsq", "QR", "SVD", "SignLogAbsDet", "cholesky", "cholesky_ex",
    "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "inv_ex", "lstsq", "matrix_exp", "matrix_norm",
    "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "svd", "svdvals",
    "tensorinv", "tensorsolve", "vander", "vecdot", "vector_norm",
    "Eig", "LUFactor", "LUFactorEx", "PLU", "SolveEx", "cond", "eig", "eigvals", "householder_product", "lu",
    "lu_factor", "lu_factor_ex", "lu_solve", "solve_ex", "solve_triangular",
]  # fmt: skip
