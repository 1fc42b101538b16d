"""Rows of the ``backprop.ops.linalg`` ops."""

from __future__ import annotations

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _linear(x, w, b=None):
    return x @ w.T + (0 if b is None else b)


def _einsum(*xs, equation):
    return np.einsum(equation, *[x for x in xs if x is not None])


def _ein(equation, *inputs):
    """An einsum row: the op always takes two inputs (the second None for one operand)."""
    if len(inputs) == 1:
        return Case(
            inputs, fn=lambda op, x: _apply(op, x, None, equation=equation), ref=lambda x: np.einsum(equation, x)
        )
    return Case(inputs, {"equation": equation}, ref=_einsum)


CASES: dict[str, list[Case]] = {
    "matmul": [
        Case([R(2, 3), R(3, 4)], ref=np.matmul),
        Case([R(3), R(3, 4)], ref=np.matmul),
        Case([R(2, 3), R(3)], ref=np.matmul),
        Case([R(3), R(3)], ref=np.matmul),
        Case([R(2, 2, 3), R(3, 4)], ref=np.matmul),
        Case([R(2, 1, 2, 3), R(3, 3, 2)], ref=np.matmul),
        Case([R(3), R(2, 3, 2)], ref=np.matmul),
    ],
    "linear": [
        Case([R(4, 3), R(2, 3), R(2)], ref=_linear),
        Case([R(4, 3), R(2, 3)], ref=_linear),
        Case([R(2, 4, 3), R(5, 3), R(5)], ref=_linear),
        Case([R(3), R(2, 3), R(2)], ref=_linear),
        Case([R(4, 3), K(np.ones((2, 3))), R(2)], ref=_linear),
    ],
    "einsum": [
        _ein("ij,jk->ik", R(2, 3), R(3, 4)),
        _ein("ii->i", R(3, 3)),
        _ein("ij->", R(2, 3)),
        _ein("iij,jk->ik", R(3, 3, 2), R(2, 4)),
        _ein("bij,bj->bi", R(2, 3, 4), R(1, 4)),
        _ein("ij,k->jk", R(2, 3), R(4)),
        _ein("ba,ab->", R(3, 2), K(np.ones((2, 3)))),
    ],
}


# ---------------------------------------------------------------- decompositions and inverses
# Inputs are kept well away from singular (diagonally dominant, + 3 I) and from repeated eigen/singular values;
# outputs defined only up to sign (Q, eigenvectors, U, Vh) are squared, a gauge-invariant function of the op.


def _eye_of(x):
    import backprop as bp

    return bp.tensor(np.eye(x.shape[-1]), dtype=x.dtype, device=x.device)


def _spd(x):
    """A symmetric positive-definite matrix from x: x x^T + n I."""
    return x @ x.transpose(-1, -2) + x.shape[-1] * _eye_of(x)


def _np_spd(x):
    return x @ np.swapaxes(x, -1, -2) + x.shape[-1] * np.eye(x.shape[-1])


def _pack(*ys, batch):
    return np.concatenate([y.reshape(batch + (-1,)) for y in ys], axis=-1)


def _np_qr(x, mode="reduced"):
    if mode == "r":
        return _pack(np.zeros(x.shape[:-2] + (0,)), np.linalg.qr(x, mode="r"), batch=x.shape[:-2])
    return _pack(*np.linalg.qr(x, mode=mode), batch=x.shape[:-2])


def _np_eigh(x, UPLO="L"):  # noqa: N803
    return _pack(*np.linalg.eigh(x, UPLO=UPLO), batch=x.shape[:-2])


def _np_svd(x, full_matrices=True):
    return _pack(*np.linalg.svd(x, full_matrices=full_matrices), batch=x.shape[:-2])


def _sym(x):
    return x + x.transpose(-1, -2)


def _np_sym(x):
    return x + np.swapaxes(x, -1, -2)


def _tril3(x):
    return np.tril(x) + 3 * np.eye(x.shape[-1])


def _triu3(x):
    return np.triu(x) + 3 * np.eye(x.shape[-1])


def _plus3(x):
    return x + 3 * np.eye(x.shape[-1])


def _np_slogdet(x):
    return np.stack(np.linalg.slogdet(x), axis=-1)


def _np_pinv(x, atol=0.0, rtol=None, hermitian=False):
    return np.linalg.pinv(x, hermitian=hermitian)


CASES.update(
    {
        "inv": [
            Case([R(3, 3)], fn=lambda op, x: _apply(op, x + 3 * _eye_of(x)), ref=lambda x: np.linalg.inv(_plus3(x))),
            Case([R(2, 4, 4)], fn=lambda op, x: _apply(op, x + 3 * _eye_of(x)), ref=lambda x: np.linalg.inv(_plus3(x))),
            Case([R(1, 1)], fn=lambda op, x: _apply(op, x + 3 * _eye_of(x)), ref=lambda x: np.linalg.inv(_plus3(x))),
        ],
        "det": [
            Case([R(3, 3)], ref=np.linalg.det),
            Case([R(2, 3, 3)], ref=np.linalg.det),
            Case([R(1, 1)], ref=np.linalg.det),
        ],
        "slogdet": [
            Case([R(3, 3)], fn=lambda op, x: _apply(op, x + 3 * _eye_of(x)), ref=lambda x: _np_slogdet(_plus3(x))),
            Case([R(2, 3, 3)], ref=_np_slogdet),
        ],
        "solve": [
            Case(
                [R(3, 3), R(3, 2)],
                fn=lambda op, a, b: _apply(op, a + 3 * _eye_of(a), b),
                ref=lambda a, b: np.linalg.solve(_plus3(a), b),
            ),
            Case(
                [R(2, 3, 3), R(3, 4)],
                fn=lambda op, a, b: _apply(op, a + 3 * _eye_of(a), b),
                ref=lambda a, b: np.linalg.solve(_plus3(a), np.broadcast_to(b, (2, 3, 4))),
            ),
            Case(
                [R(3, 3), R(2, 1, 3, 1)],
                fn=lambda op, a, b: _apply(op, a + 3 * _eye_of(a), b),
                ref=lambda a, b: np.linalg.solve(_plus3(a), b),
            ),
        ],
        "solve_triangular": [
            Case(
                [R(3, 3), R(3, 2)],
                fn=lambda op, a, b: _apply(op, a + 3 * _eye_of(a), b, upper=False),
                ref=lambda a, b: np.linalg.solve(np.tril(_plus3(a)), b),
            ),
            Case(
                [R(2, 3, 3), R(3, 4)],
                fn=lambda op, a, b: _apply(op, a + 3 * _eye_of(a), b, upper=True),
                ref=lambda a, b: np.linalg.solve(np.triu(_plus3(a)), np.broadcast_to(b, (2, 3, 4))),
            ),
            Case(
                [R(3, 3), R(2, 1, 4, 3)],
                fn=lambda op, a, b: _apply(op, a, b, upper=False, left=False, unitriangular=True),
                ref=lambda a, b: np.swapaxes(
                    np.linalg.solve(np.swapaxes(np.tril(a, -1) + np.eye(3), -1, -2), np.swapaxes(b, -1, -2)), -1, -2
                ),
            ),
        ],
        "cholesky_solve": [  # (a factor built from the triangle: torch's gradient reaches the whole factor)
            Case(
                [R(3, 2), R(3, 3)],
                fn=lambda op, b, a: _apply(op, b, a.tril() + 3 * _eye_of(a), upper=False),
                ref=lambda b, a: np.linalg.solve(_tril3(a) @ _tril3(a).T, b),
            ),
            Case(
                [R(4, 2), R(2, 4, 4)],
                fn=lambda op, b, a: _apply(op, b, a.triu() + 3 * _eye_of(a), upper=True),
                ref=lambda b, a: np.linalg.solve(np.swapaxes(_triu3(a), -1, -2) @ _triu3(a), b),
            ),
        ],
        "cholesky": [
            Case([R(3, 3)], fn=lambda op, x: _apply(op, _spd(x)), ref=lambda x: np.linalg.cholesky(_np_spd(x))),
            Case([R(2, 4, 4)], fn=lambda op, x: _apply(op, _spd(x)), ref=lambda x: np.linalg.cholesky(_np_spd(x))),
        ],
        "qr": [
            Case([R(4, 3)], fn=lambda op, x: _apply(op, x) ** 2, ref=lambda x: _np_qr(x) ** 2),
            Case([R(3, 3)], fn=lambda op, x: _apply(op, x) ** 2, ref=lambda x: _np_qr(x) ** 2),
            Case([R(2, 3, 5)], fn=lambda op, x: _apply(op, x) ** 2, ref=lambda x: _np_qr(x) ** 2),
            Case(
                [R(3, 4)],
                fn=lambda op, x: _apply(op, x, mode="complete") ** 2,
                ref=lambda x: _np_qr(x, "complete") ** 2,
            ),
            Case(
                [R(4, 3)], fn=lambda op, x: _apply(op, x, mode="r") ** 2, ref=lambda x: _np_qr(x, "r") ** 2, grad=False
            ),
        ],
        "eigh": [
            Case([R(3, 3)], fn=lambda op, x: _apply(op, _sym(x)) ** 2, ref=lambda x: _np_eigh(_np_sym(x)) ** 2),
            Case([R(2, 4, 4)], fn=lambda op, x: _apply(op, _sym(x)) ** 2, ref=lambda x: _np_eigh(_np_sym(x)) ** 2),
            Case(
                [R(3, 3)],
                fn=lambda op, x: _apply(op, _sym(x), UPLO="U") ** 2,
                ref=lambda x: _np_eigh(_np_sym(x), "U") ** 2,
            ),
        ],
        "svd": [
            Case(
                [R(4, 3)],
                fn=lambda op, x: _apply(op, x, full_matrices=False) ** 2,
                ref=lambda x: _np_svd(x, False) ** 2,
            ),
            Case(
                [R(2, 3, 5)],
                fn=lambda op, x: _apply(op, x, full_matrices=False) ** 2,
                ref=lambda x: _np_svd(x, False) ** 2,
            ),
            Case([R(3, 3)], fn=lambda op, x: _apply(op, x) ** 2, ref=lambda x: _np_svd(x) ** 2),
            Case([R(4, 3)], fn=lambda op, x: _apply(op, x) ** 2, ref=lambda x: _np_svd(x) ** 2, grad=False),
        ],
        "pinv": [
            Case([R(4, 3)], ref=_np_pinv),
            Case([R(2, 3, 5)], ref=_np_pinv),
            Case(
                [R(3, 3)],
                fn=lambda op, x: _apply(op, _sym(x), hermitian=True),
                ref=lambda x: np.linalg.pinv(_np_sym(x)),
            ),
        ],
    }
)


# ---------------------------------------------------------------- LU, eig, as_strided


def _np_lu_factor(x):
    """LAPACK's LU (scipy), 1-based pivots and P (A = P L U), packed as the op packs them."""
    import scipy.linalg as sl

    m, n = x.shape[-2:]
    parts = []
    for a in x.reshape((-1, m, n)):
        lu, piv = sl.lu_factor(a)
        p = sl.lu(a)[0]
        parts.append(np.concatenate([lu.reshape(-1), piv + 1.0, p.reshape(-1)]))
    return np.stack(parts).reshape(x.shape[:-2] + (-1,))


def _np_lu_nopivot(x):
    """Doolittle without row swaps, element by element (the reference of ``pivot=False``)."""
    m, n = x.shape[-2:]
    k = min(m, n)
    parts = []
    for a in x.reshape((-1, m, n)):
        lu = a.copy()
        for j in range(k):
            for i in range(j + 1, m):
                lu[i, j] /= lu[j, j]
                for c in range(j + 1, n):
                    lu[i, c] -= lu[i, j] * lu[j, c]
        parts.append(np.concatenate([lu.reshape(-1), np.arange(1.0, k + 1), np.eye(m).reshape(-1)]))
    return np.stack(parts).reshape(x.shape[:-2] + (-1,))


def _np_eig(x):
    w, v = np.linalg.eig(x)
    return _pack(w.astype(complex), v.astype(complex), batch=x.shape[:-2])


def _np_strided(x, size, stride, offset):
    return np.lib.stride_tricks.as_strided(x.reshape(-1)[offset:], size, tuple(s * x.itemsize for s in stride))


def _strided(size, stride, offset=None):
    return {"size": size, "stride": stride, "storage_offset": offset}


CASES.update(
    {
        "lu_factor": [
            Case([R(3, 3)], ref=_np_lu_factor),
            Case([R(2, 4, 4)], ref=_np_lu_factor),
            Case([R(3, 5)], ref=_np_lu_factor),
            Case([R(5, 3)], ref=_np_lu_factor),
            Case(
                [R(3, 3)],
                fn=lambda op, x: _apply(op, x + 3 * _eye_of(x), pivot=False),
                ref=lambda x: _np_lu_nopivot(_plus3(x)),
            ),
        ],
        "eig": [
            Case([R(3, 3)], ref=_np_eig, grad=False),
            Case([R(2, 4, 4)], ref=_np_eig, grad=False),
        ],
        "as_strided": [
            Case([R(3, 4)], _strided((3, 3), (1, 1), 1), ref=lambda x, **a: _np_strided(x, a["size"], a["stride"], 1)),
            Case([R(3, 4)], _strided((4, 3), (1, 4)), ref=lambda x, **a: _np_strided(x, (4, 3), (1, 4), 0)),
            Case(
                [R(2, 3)], _strided((2, 2, 2), (0, 3, 1), 1), ref=lambda x, **a: _np_strided(x, (2, 2, 2), (0, 3, 1), 1)
            ),
            Case(
                [R(3, 4)],
                fn=lambda op, x: _apply(op, x[1:], **_strided((2, 3), (1, 2))),
                ref=lambda x: _np_strided(x, (2, 3), (1, 2), 4),
            ),
            Case(
                [R(3, 4)],
                fn=lambda op, x: _apply(op, x.expand(2, 3, 4), **_strided((2, 2), (1, 1))),
                ref=lambda x: _np_strided(x, (2, 2), (1, 1), 0),
            ),
        ],
    }
)
