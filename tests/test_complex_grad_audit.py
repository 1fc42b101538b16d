"""Complex-gradient audit: every op and public function that takes complex input in torch, its value and
its gradient (torch's convention: x.grad = dL/d conj(x) for a real loss L) compared with torch's for
L = (y * g).real.sum() with a complex weight g (a real weight for real outputs), complex128 inputs, mixed
real/complex operands and broadcasting; losses that depend on the phase of singular vectors or eigenvectors
raise torch's RuntimeError. Numeric checks by central differences on the real and imaginary parts run
without torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def C(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:  # noqa: N802
    """Complex values with |Re|, |Im| in [0.3, 1.2] of random signs: off the axes, branch cuts and kinks."""
    rng = np.random.default_rng(100 + seed)

    def part() -> np.ndarray:
        return rng.uniform(0.3, 1.2, shape) * rng.choice([-1.0, 1.0], shape)

    return (part() + 1j * part()) * scale


def R(*shape: int, seed: int = 0) -> np.ndarray:  # noqa: N802
    """Real values of magnitude in [0.3, 1.2], either sign."""
    return C(*shape, seed=seed).real.copy()


def M(n: int, *batch: int, seed: int = 0) -> np.ndarray:  # noqa: N802
    """Well-conditioned complex square matrices (diagonally dominant)."""
    return C(*batch, n, n, seed=seed) * 0.4 + 2.5 * np.eye(n)


def H(n: int, *batch: int, seed: int = 0) -> np.ndarray:  # noqa: N802
    """Hermitian positive-definite complex matrices with well-separated eigenvalues."""
    a = C(*batch, n, n, seed=seed) * 0.3
    return a @ np.conj(np.swapaxes(a, -1, -2)) + np.diag(np.arange(1.0, n + 1.0) * 1.5)


def Ix(*values: int) -> np.ndarray:  # noqa: N802
    """An index tensor (no gradient)."""
    return np.array(values, dtype=np.int64)


def _mag(lib: Any, u: Any) -> Any:
    """|u|^2: a gauge-invariant function of eigen/singular vectors (defined up to a unit phase per column)."""
    return (u * u.conj()).real


# name -> (fn(lib, *tensors), input arrays)
Table = dict[str, tuple[Callable[..., Any], list[np.ndarray]]]

ELEMENTWISE: Table = {
    "add": (lambda lib, x, y: x + y, [C(3, 4), C(4, seed=1)]),
    "add alpha": (lambda lib, x, y: lib.add(x, y, alpha=2), [C(3, 4), C(3, 1, seed=1)]),
    "add real+complex": (lambda lib, x, y: x + y, [R(3, 4), C(4, seed=1)]),
    "sub": (lambda lib, x, y: x - y, [C(3, 1), C(4, seed=1)]),
    "rsub scalar": (lambda lib, x: (2 - 1j) - x, [C(3, 4)]),
    "mul": (lambda lib, x, y: x * y, [C(3, 4), C(4, seed=1)]),
    "mul real*complex": (lambda lib, x, y: x * y, [R(3, 4), C(3, 1, seed=1)]),
    "mul complex scalar": (lambda lib, x: x * (0.5 - 2j), [R(3, 4)]),
    "div": (lambda lib, x, y: x / y, [C(3, 4), C(4, seed=1)]),
    "div real/complex": (lambda lib, x, y: x / y, [R(3, 4), C(4, seed=1)]),
    "div complex/real": (lambda lib, x, y: x / y, [C(3, 4), R(3, 1, seed=1)]),
    "rdiv scalar": (lambda lib, x: (1 + 1j) / x, [C(3, 4)]),
    "neg": (lambda lib, x: -x, [C(3, 4)]),
    "pow": (lambda lib, x, y: x**y, [C(3, 4), C(4, seed=1, scale=0.5)]),
    "pow scalar": (lambda lib, x: x**2.5, [C(3, 4)]),
    "square": (lambda lib, x: x.square(), [C(3, 4)]),
    "reciprocal": (lambda lib, x: x.reciprocal(), [C(3, 4)]),
    "sqrt": (lambda lib, x: x.sqrt(), [C(3, 4)]),
    "rsqrt": (lambda lib, x: x.rsqrt(), [C(3, 4)]),
    "exp": (lambda lib, x: x.exp(), [C(3, 4)]),
    "exp2": (lambda lib, x: x.exp2(), [C(3, 4)]),
    "expm1": (lambda lib, x: x.expm1(), [C(3, 4)]),
    "log": (lambda lib, x: x.log(), [C(3, 4)]),
    "log2": (lambda lib, x: x.log2(), [C(3, 4)]),
    "log10": (lambda lib, x: x.log10(), [C(3, 4)]),
    "log1p": (lambda lib, x: x.log1p(), [C(3, 4)]),
    "sin": (lambda lib, x: x.sin(), [C(3, 4)]),
    "cos": (lambda lib, x: x.cos(), [C(3, 4)]),
    "tan": (lambda lib, x: x.tan(), [C(3, 4, scale=0.5)]),
    "asin": (lambda lib, x: x.asin(), [C(3, 4, scale=0.5)]),
    "acos": (lambda lib, x: x.acos(), [C(3, 4, scale=0.5)]),
    "atan": (lambda lib, x: x.atan(), [C(3, 4)]),
    "sinh": (lambda lib, x: x.sinh(), [C(3, 4)]),
    "cosh": (lambda lib, x: x.cosh(), [C(3, 4)]),
    "tanh": (lambda lib, x: x.tanh(), [C(3, 4)]),
    "asinh": (lambda lib, x: x.asinh(), [C(3, 4)]),
    "acosh": (lambda lib, x: x.acosh(), [C(3, 4)]),
    "atanh": (lambda lib, x: x.atanh(), [C(3, 4, scale=0.5)]),
    "sigmoid": (lambda lib, x: x.sigmoid(), [C(3, 4)]),
    "sinc": (lambda lib, x: lib.sinc(x), [C(3, 4)]),
    "special.sinc": (lambda lib, x: lib.special.sinc(x), [C(3, 4)]),
    "special.expit": (lambda lib, x: lib.special.expit(x), [C(3, 4)]),
    "special.exp2": (lambda lib, x: lib.special.exp2(x), [C(3, 4)]),
    "special.expm1": (lambda lib, x: lib.special.expm1(x), [C(3, 4)]),
    "special.log1p": (lambda lib, x: lib.special.log1p(x), [C(3, 4)]),
    "abs": (lambda lib, x: x.abs(), [C(3, 4)]),
    "sgn": (lambda lib, x: x.sgn(), [C(3, 4)]),
    "angle": (lambda lib, x: x.angle(), [C(3, 4)]),
    "angle real": (lambda lib, x: x.angle(), [R(3, 4)]),
    "conj": (lambda lib, x: x.conj() * (1 + 2j), [C(3, 4)]),
    "conj_physical": (lambda lib, x: lib.conj_physical(x), [C(3, 4)]),
    "resolve_conj": (lambda lib, x: x.conj().resolve_conj(), [C(3, 4)]),
    "real": (lambda lib, x: x.real * 2, [C(3, 4)]),
    "imag": (lambda lib, x: x.imag * 2, [C(3, 4)]),
    "view_as_real": (lambda lib, x: lib.view_as_real(x), [C(3, 4)]),
    "view_as_complex": (lambda lib, x: lib.view_as_complex(x), [R(3, 4, 2)]),
    "complex": (lambda lib, x, y: lib.complex(x, y), [R(3, 4), R(4, seed=1)]),
    "polar": (lambda lib, x, y: lib.polar(x.abs(), y), [R(3, 4), R(4, seed=1)]),
    "lerp": (lambda lib, x, y: lib.lerp(x, y, 0.3), [C(3, 4), C(4, seed=1)]),
    "lerp tensor weight": (lambda lib, x, y, w: lib.lerp(x, y, w), [C(3, 4), C(4, seed=1), C(3, 1, seed=2)]),
    "addcmul": (lambda lib, x, y, z: lib.addcmul(x, y, z, value=0.5), [C(3, 4), C(4, seed=1), C(3, 1, seed=2)]),
    "addcdiv": (lambda lib, x, y, z: lib.addcdiv(x, y, z, value=0.5), [C(3, 4), C(4, seed=1), C(3, 1, seed=2)]),
    "where": (lambda lib, x, y: lib.where(lib.tensor([True, False, True, False]), x, y), [C(3, 4), C(3, 1, seed=1)]),
    "masked_fill": (lambda lib, x: x.masked_fill(lib.tensor([True, False, True, False]), 1 + 1j), [C(3, 4)]),
    "nan_to_num": (lambda lib, x: lib.nan_to_num(x), [C(3, 4)]),
    "clone": (lambda lib, x: x.clone(), [C(3, 4)]),
    "logaddexp": (lambda lib, x, y: lib.logaddexp(x, y), [C(3, 4), C(4, seed=1)]),
    "tanhshrink": (lambda lib, x: lib.nn.functional.tanhshrink(x), [C(3, 4)]),
    "silu": (lambda lib, x: lib.nn.functional.silu(x), [C(3, 4)]),
    "float_power": (lambda lib, x: lib.float_power(x, 2), [C(3, 4)]),
}

REDUCTIONS: Table = {
    "sum": (lambda lib, x: x.sum(), [C(3, 4)]),
    "sum dim": (lambda lib, x: x.sum(1, keepdim=True), [C(3, 4)]),
    "mean": (lambda lib, x: x.mean(0), [C(3, 4)]),
    "prod": (lambda lib, x: x.prod(1), [C(3, 4)]),
    "cumsum": (lambda lib, x: x.cumsum(1), [C(3, 4)]),
    "cumprod": (lambda lib, x: x.cumprod(1), [C(3, 4)]),
    "var": (lambda lib, x: x.var(1), [C(3, 4)]),
    "var all": (lambda lib, x: x.var(), [C(3, 4)]),
    "std": (lambda lib, x: x.std(0), [C(3, 4)]),
    "var_mean": (lambda lib, x: lib.var_mean(x, 1)[0] + lib.var_mean(x, 1)[1], [C(3, 4)]),
    "std_mean": (lambda lib, x: lib.std_mean(x, 1)[0] + lib.std_mean(x, 1)[1], [C(3, 4)]),
    "norm": (lambda lib, x: x.norm(), [C(3, 4)]),
    "norm p=1 dim": (lambda lib, x: x.norm(1, dim=1), [C(3, 4)]),
    "norm p=3": (lambda lib, x: x.norm(3), [C(3, 4)]),
    "norm inf": (lambda lib, x: x.norm(float("inf"), dim=0), [C(3, 4)]),
    "vector_norm": (lambda lib, x: lib.linalg.vector_norm(x, dim=1), [C(3, 4)]),
    "vector_norm 1": (lambda lib, x: lib.linalg.vector_norm(x, 1), [C(3, 4)]),
    "vector_norm 3": (lambda lib, x: lib.linalg.vector_norm(x, 3), [C(3, 4)]),
    "vector_norm 0.5": (lambda lib, x: lib.linalg.vector_norm(x, 0.5, dim=0), [C(3, 4)]),
    "vector_norm inf": (lambda lib, x: lib.linalg.vector_norm(x, float("inf")), [C(3, 4)]),
    "vector_norm -inf": (lambda lib, x: lib.linalg.vector_norm(x, -float("inf"), dim=1), [C(3, 4)]),
    "linalg.norm": (lambda lib, x: lib.linalg.norm(x), [C(3, 4)]),
    "linalg.norm vec 3": (lambda lib, x: lib.linalg.norm(x, 3, dim=1), [C(3, 4)]),
    "matrix_norm fro": (lambda lib, x: lib.linalg.matrix_norm(x), [C(2, 3, 4)]),
    "matrix_norm 1": (lambda lib, x: lib.linalg.matrix_norm(x, 1), [C(3, 4)]),
    "matrix_norm inf": (lambda lib, x: lib.linalg.matrix_norm(x, float("inf")), [C(3, 4)]),
    "logsumexp": (lambda lib, x: lib.logsumexp(x, 1), [C(3, 4)]),
    "trace": (lambda lib, x: lib.trace(x), [C(3, 3)]),
    "dist": (lambda lib, x, y: lib.dist(x, y), [C(3, 4), C(4, seed=1)]),
    "dist 3": (lambda lib, x, y: lib.dist(x, y, 3), [C(3, 4), C(4, seed=1)]),
}

SHAPE: Table = {
    "reshape": (lambda lib, x: x.reshape(4, 3), [C(3, 4)]),
    "permute": (lambda lib, x: x.permute(2, 0, 1), [C(2, 3, 4)]),
    "transpose mT": (lambda lib, x: x.mT, [C(2, 3, 4)]),
    "mH": (lambda lib, x: x.mH, [C(2, 3, 4)]),
    "adjoint": (lambda lib, x: x.adjoint(), [C(3, 4)]),
    "expand": (lambda lib, x: x.expand(2, 3, 4), [C(3, 1)]),
    "flip": (lambda lib, x: x.flip(1), [C(3, 4)]),
    "roll": (lambda lib, x: x.roll(1, 1), [C(3, 4)]),
    "cat": (lambda lib, x, y: lib.cat([x, y], 0), [C(3, 4), R(2, 4, seed=1).astype(complex)]),
    "stack": (lambda lib, x, y: lib.stack([x, y]), [C(3, 4), C(3, 4, seed=1)]),
    "tril": (lambda lib, x: x.tril(), [C(3, 4)]),
    "triu": (lambda lib, x: x.triu(1), [C(3, 4)]),
    "diagonal": (lambda lib, x: x.diagonal(), [C(3, 4)]),
    "diag": (lambda lib, x: lib.diag(x), [C(4)]),
    "diag_embed": (lambda lib, x: lib.diag_embed(x), [C(2, 3)]),
    "repeat": (lambda lib, x: x.repeat(2, 1), [C(3, 4)]),
    "tile": (lambda lib, x: x.tile((1, 2)), [C(3, 4)]),
    "repeat_interleave": (lambda lib, x: x.repeat_interleave(2, dim=0), [C(3, 4)]),
    "narrow": (lambda lib, x: x.narrow(1, 1, 2), [C(3, 4)]),
    "unfold": (lambda lib, x: x.unfold(1, 2, 1), [C(3, 4)]),
    "squeeze unsqueeze": (lambda lib, x: x.unsqueeze(0).squeeze(2), [C(3, 1)]),
    "flatten": (lambda lib, x: x.flatten(), [C(2, 3, 4)]),
    "chunk": (lambda lib, x: x.chunk(2, 1)[1], [C(3, 4)]),
    "split": (lambda lib, x: x.split([1, 3], 1)[1], [C(3, 4)]),
    "as_strided": (lambda lib, x: x.as_strided((2, 2), (1, 2)), [C(3, 4)]),
    "pad": (lambda lib, x: lib.nn.functional.pad(x, (1, 2)), [C(3, 4)]),
    "pad reflect": (lambda lib, x: lib.nn.functional.pad(x, (1, 2), mode="reflect"), [C(3, 4)]),
    "kron": (lambda lib, x, y: lib.kron(x, y), [C(2, 2), C(2, 3, seed=1)]),
    "diff": (lambda lib, x: lib.diff(x, dim=1), [C(3, 4)]),
    "rot90": (lambda lib, x: lib.rot90(x), [C(3, 4)]),
}

INDEXING: Table = {
    "getitem": (lambda lib, x: x[1:, ::2], [C(3, 4)]),
    "getitem index": (lambda lib, x: x[lib.tensor([0, 2, 2])], [C(3, 4)]),
    "getitem mask": (lambda lib, x: x[x.real > 0], [C(3, 4)]),
    "setitem": (lambda lib, x, y: _setitem(lib, x, y), [C(3, 4), C(4, seed=1)]),
    "index_select": (lambda lib, x, i: x.index_select(1, i), [C(3, 4), Ix(0, 2, 2)]),
    "gather": (lambda lib, x, i: x.gather(1, i), [C(3, 4), Ix(0, 2, 3, 1, 1, 1, 2, 2, 0).reshape(3, 3)]),
    "take": (lambda lib, x, i: lib.take(x, i), [C(3, 4), Ix(0, 5, 5, 11)]),
    "take_along_dim": (lambda lib, x, i: lib.take_along_dim(x, i, 1), [C(3, 4), Ix(0, 2, 3).reshape(3, 1)]),
    "scatter": (lambda lib, x, y, i: x.scatter(1, i, y), [C(3, 4), C(3, 1, seed=1), Ix(0, 2, 3).reshape(3, 1)]),
    "scatter_add": (
        lambda lib, x, y, i: x.scatter_add(1, i, y),
        [C(3, 4), C(3, 2, seed=1), Ix(0, 0, 2, 1, 3, 3).reshape(3, 2)],
    ),  # noqa: E501
    "index_add": (lambda lib, x, y, i: x.index_add(0, i, y, alpha=2), [C(3, 4), C(2, 4, seed=1), Ix(0, 0)]),
    "index_copy": (lambda lib, x, y, i: x.index_copy(0, i, y), [C(3, 4), C(2, 4, seed=1), Ix(2, 0)]),
    "index_fill": (lambda lib, x, i: x.index_fill(1, i, 2 - 1j), [C(3, 4), Ix(1, 3)]),
    "index_put": (lambda lib, x, y, i: x.index_put((i,), y, accumulate=True), [C(3, 4), C(4, seed=1), Ix(1)]),
    "masked_scatter": (
        lambda lib, x, y: x.masked_scatter(lib.tensor([True, False, True, False]), y),
        [C(3, 4), C(3, 4, seed=1)],
    ),  # noqa: E501
    "masked_select": (lambda lib, x: x.masked_select(lib.tensor([True, False, True, False])), [C(3, 4)]),
}


def _setitem(lib: Any, x: Any, y: Any) -> Any:
    x = x * 1
    x[1] = y
    return x


LINALG: Table = {
    "matmul": (lambda lib, x, y: x @ y, [C(2, 3, 4), C(4, 2, seed=1)]),
    "matmul vec": (lambda lib, x, y: x @ y, [C(4), C(2, 4, 3, seed=1)]),
    "mm": (lambda lib, x, y: lib.mm(x, y), [C(3, 4), C(4, 2, seed=1)]),
    "bmm": (lambda lib, x, y: lib.bmm(x, y), [C(2, 3, 4), C(2, 4, 2, seed=1)]),
    "mv": (lambda lib, x, y: lib.mv(x, y), [C(3, 4), C(4, seed=1)]),
    "dot": (lambda lib, x, y: lib.dot(x, y), [C(4), C(4, seed=1)]),
    "vdot": (lambda lib, x, y: lib.vdot(x, y), [C(4), C(4, seed=1)]),
    "inner": (lambda lib, x, y: lib.inner(x, y), [C(3, 4), C(4, seed=1)]),
    "outer": (lambda lib, x, y: lib.outer(x, y), [C(3), C(4, seed=1)]),
    "tensordot": (lambda lib, x, y: lib.tensordot(x, y, dims=([1], [0])), [C(3, 4), C(4, 2, seed=1)]),
    "einsum": (lambda lib, x, y: lib.einsum("bij,jk->bik", x, y), [C(2, 3, 4), C(4, 2, seed=1)]),
    "einsum trace": (lambda lib, x: lib.einsum("ii->", x), [C(3, 3)]),
    "addmm": (lambda lib, b, x, y: lib.addmm(b, x, y, beta=0.5, alpha=2), [C(2), C(3, 4, seed=1), C(4, 2, seed=2)]),
    "addmv": (lambda lib, b, x, y: lib.addmv(b, x, y), [C(3), C(3, 4, seed=1), C(4, seed=2)]),
    "baddbmm": (lambda lib, b, x, y: lib.baddbmm(b, x, y), [C(3, 2), C(2, 3, 4, seed=1), C(2, 4, 2, seed=2)]),
    "addbmm": (lambda lib, b, x, y: lib.addbmm(b, x, y), [C(3, 2), C(2, 3, 4, seed=1), C(2, 4, 2, seed=2)]),
    "addr": (lambda lib, b, x, y: lib.addr(b, x, y), [C(3, 4), C(3, seed=1), C(4, seed=2)]),
    "chain_matmul": (lambda lib, x, y, z: lib.linalg.multi_dot([x, y, z]), [C(2, 3), C(3, 4, seed=1), C(4, 2, seed=2)]),
    "matrix_power": (lambda lib, x: lib.linalg.matrix_power(x, 3), [C(3, 3, scale=0.5)]),
    "matrix_power -2": (lambda lib, x: lib.linalg.matrix_power(x, -2), [M(3)]),
    "vecdot": (lambda lib, x, y: lib.linalg.vecdot(x, y), [C(3, 4), C(4, seed=1)]),
    "cross": (lambda lib, x, y: lib.linalg.cross(x, y), [C(2, 3), C(3, seed=1)]),
    "trapezoid": (lambda lib, x: lib.trapezoid(x), [C(3, 4)]),
    "cumulative_trapezoid": (lambda lib, x: lib.cumulative_trapezoid(x), [C(3, 4)]),
    "linear": (lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), [C(2, 4), C(3, 4, seed=1), C(3, seed=2)]),
    "linear 3d no bias": (lambda lib, x, w: lib.nn.functional.linear(x, w), [C(2, 5, 4), C(3, 4, seed=1)]),
    "bilinear": (
        lambda lib, x, y, w: lib.nn.functional.bilinear(x, y, w),
        [C(2, 3), C(2, 4, seed=1), C(5, 3, 4, seed=2)],
    ),  # noqa: E501
    "det": (lambda lib, a: lib.linalg.det(a), [M(3, 2)]),
    "slogdet": (lambda lib, a: lib.linalg.slogdet(a)[1] + lib.linalg.slogdet(a)[0] * (1 - 2j), [M(3, 2)]),
    "logdet": (lambda lib, a: lib.logdet(a), [H(3)]),
    "inv": (lambda lib, a: lib.linalg.inv(a), [M(3, 2)]),
    "inv_ex": (lambda lib, a: lib.linalg.inv_ex(a)[0], [M(3)]),
    "solve": (lambda lib, a, b: lib.linalg.solve(a, b), [M(3, 2), C(3, 2, seed=1)]),
    "solve vec": (lambda lib, a, b: lib.linalg.solve(a, b), [M(3), C(3, seed=1)]),
    "solve_ex": (lambda lib, a, b: lib.linalg.solve_ex(a, b)[0], [M(3), C(3, 2, seed=1)]),
    "cholesky": (lambda lib, a: lib.linalg.cholesky(a), [H(3)]),
    "cholesky hermitian part": (lambda lib, a: lib.linalg.cholesky((a + a.mH) / 2), [H(3)]),
    "eigh hermitian part": (lambda lib, a: _eigh(lib, (a + a.mH) / 2), [H(3)]),
    "cholesky_ex": (lambda lib, a: lib.linalg.cholesky_ex(a)[0], [H(3)]),
    "qr": (lambda lib, a: _qr(lib, a), [C(4, 3)]),
    "qr wide batched": (lambda lib, a: _qr(lib, a), [C(3, 5, 2)]),
    "qr complete square": (lambda lib, a: _qr(lib, a, "complete"), [C(3, 3)]),
    "qr complete wide": (lambda lib, a: _qr(lib, a, "complete"), [C(2, 4)]),
    "qr R": (lambda lib, a: lib.linalg.qr(a)[1], [C(2, 4, 3)]),
    "eigh": (lambda lib, a: _eigh(lib, a), [H(3)]),
    "eigvalsh": (lambda lib, a: lib.linalg.eigvalsh(a), [H(3)]),
    "eig": (lambda lib, a: _eig(lib, a), [M(3)]),
    "eig batched": (lambda lib, a: _eig(lib, a), [C(2, 3, 3)]),
    "eig real input": (lambda lib, a: _eig(lib, a), [R(2, 3, 3)]),
    "eigvals": (lambda lib, a: lib.linalg.eigvals(a), [M(3)]),
    "eigvals real input": (lambda lib, a: lib.linalg.eigvals(a), [R(4, 4)]),
    "svd": (lambda lib, a: _svd(lib, a), [C(4, 3)]),
    "svd wide batched": (lambda lib, a: _svd(lib, a), [C(2, 3, 5)]),
    "svd square full": (lambda lib, a: _svd(lib, a, True), [C(3, 3)]),
    "svd U S Vh": (lambda lib, a: _usv(lib, *lib.linalg.svd(a, full_matrices=False)), [C(2, 4, 3)]),
    "svd U S Vh wide": (lambda lib, a: _usv(lib, *lib.linalg.svd(a, full_matrices=False)), [C(3, 4)]),
    "svd U phase": (lambda lib, a: lib.linalg.svd(a, full_matrices=False)[0], [C(4, 3)]),
    "eig V phase": (lambda lib, a: lib.linalg.eig(a)[1], [M(3)]),
    "svdvals": (lambda lib, a: lib.linalg.svdvals(a), [C(4, 3)]),
    "matrix_norm nuc": (lambda lib, a: lib.linalg.matrix_norm(a, "nuc"), [C(4, 3)]),
    "matrix_norm 2": (lambda lib, a: lib.linalg.matrix_norm(a, 2), [C(4, 3)]),
    "cond": (lambda lib, a: lib.linalg.cond(a), [M(3)]),
    "pinv": (lambda lib, a: lib.linalg.pinv(a), [C(4, 3)]),
    "lstsq": (lambda lib, a, b: lib.linalg.lstsq(a, b).solution, [C(4, 3), C(4, 2, seed=1)]),
    "matrix_exp": (lambda lib, a: lib.linalg.matrix_exp(a), [C(3, 3, scale=0.5)]),
    "lu_factor": (lambda lib, a: lib.linalg.lu_factor(a)[0], [M(3)]),
    "lu": (lambda lib, a: lib.linalg.lu(a)[2], [M(3)]),
    "lu_solve": (lambda lib, a, b: _lu_solve(lib, a, b), [M(3), C(3, 2, seed=1)]),
    "solve_triangular": (
        lambda lib, a, b: lib.linalg.solve_triangular(a.triu(), b, upper=True),
        [M(3), C(3, 2, seed=1)],
    ),  # noqa: E501
    "tensorinv": (lambda lib, a: lib.linalg.tensorinv(a.reshape(3, 2, 6), ind=2), [M(6)]),
    "tensorsolve": (lambda lib, a, b: lib.linalg.tensorsolve(a.reshape(3, 2, 6), b), [M(6), C(3, 2, seed=1)]),
    "householder_product": (lambda lib, a, t: lib.linalg.householder_product(a, t), [C(4, 3), C(3, seed=1, scale=0.5)]),  # noqa: E501
    "vander": (lambda lib, x: lib.linalg.vander(x), [C(3)]),
    "cdist": (lambda lib, x, y: lib.cdist(x, y), [C(3, 2), C(4, 2, seed=1)]),
}


def _qr(lib: Any, a: Any, mode: str = "reduced") -> Any:
    q, r = lib.linalg.qr(a, mode=mode)
    return (q @ r) + _mag(lib, q).sum() + _mag(lib, r).sum()


def _eigh(lib: Any, a: Any) -> Any:
    w, v = lib.linalg.eigh(a)
    return w + _mag(lib, v).sum(0)


def _eig(lib: Any, a: Any) -> Any:
    w, v = lib.linalg.eig(a)
    return w + _mag(lib, v).sum(-2)


def _svd(lib: Any, a: Any, full: bool = False) -> Any:
    u, s, vh = lib.linalg.svd(a, full_matrices=full)
    k = s.shape[-1]
    return s + _mag(lib, u[..., :k]).sum(-2) + _mag(lib, vh[..., :k, :]).sum(-1)


def _usv(lib: Any, u: Any, s: Any, vh: Any) -> Any:
    """U diag(S) Vh: the phases cancel."""
    return (u * s.unsqueeze(-2)) @ vh


def _lu_solve(lib: Any, a: Any, b: Any) -> Any:
    lu, piv = lib.linalg.lu_factor(a)
    return lib.linalg.lu_solve(lu, piv, b)


NN: Table = {
    "conv1d": (
        lambda lib, x, w, b: lib.nn.functional.conv1d(x, w, b, padding=1),
        [C(2, 2, 5), C(3, 2, 3, seed=1), C(3, seed=2)],
    ),  # noqa: E501
    "conv2d": (lambda lib, x, w: lib.nn.functional.conv2d(x, w, stride=1), [C(1, 2, 4, 4), C(3, 2, 2, 2, seed=1)]),
    "conv_transpose1d": (lambda lib, x, w: lib.nn.functional.conv_transpose1d(x, w), [C(2, 2, 5), C(2, 3, 3, seed=1)]),
    "embedding": (lambda lib, i, w: lib.nn.functional.embedding(i, w), [Ix(0, 2, 2, 1), C(3, 4)]),
    "l1_loss": (lambda lib, x, y: lib.nn.functional.l1_loss(x, y), [C(3, 4), C(3, 4, seed=1)]),
    "mse_loss": (lambda lib, x, y: lib.nn.functional.mse_loss(x, y), [C(3, 4), C(3, 4, seed=1)]),
    "normalize": (lambda lib, x: lib.nn.functional.normalize(x, dim=1), [C(3, 4)]),
    "cosine_similarity": (lambda lib, x, y: lib.nn.functional.cosine_similarity(x, y), [C(3, 4), C(3, 4, seed=1)]),
    "pairwise_distance": (lambda lib, x, y: lib.nn.functional.pairwise_distance(x, y), [C(3, 4), C(3, 4, seed=1)]),
    "pixel_shuffle": (lambda lib, x: lib.nn.functional.pixel_shuffle(x, 2), [C(1, 4, 2, 2)]),
    "fold": (lambda lib, x: lib.nn.functional.fold(x, (3, 3), 2), [C(1, 4, 4)]),
    "unfold (im2col)": (lambda lib, x: lib.nn.functional.unfold(x, 2), [C(1, 1, 3, 3)]),
    "softmax": (lambda lib, x: lib.softmax(x, 1), [C(3, 4)]),
    "log_softmax": (lambda lib, x: lib.log_softmax(x, 1), [C(3, 4)]),
    "sign": (lambda lib, x: x.sign(), [C(3, 4)]),
    "relu": (lambda lib, x: lib.relu(x), [C(3, 4)]),
    "dropout eval": (lambda lib, x: lib.nn.functional.dropout(x, 0.5, training=False), [C(3, 4)]),
    "scaled_dot_product_attention": (
        lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v),
        [C(1, 3, 4), C(1, 5, 4, seed=1), C(1, 5, 2, seed=2)],
    ),  # noqa: E501
}

FFT: Table = {
    "fft": (lambda lib, x: lib.fft.fft(x), [C(3, 4)]),
    "ifft n": (lambda lib, x: lib.fft.ifft(x, n=6, norm="ortho"), [C(3, 4)]),
    "fft2": (lambda lib, x: lib.fft.fft2(x), [C(3, 4)]),
    "fftn": (lambda lib, x: lib.fft.fftn(x, s=(2, 5)), [C(3, 4)]),
    "rfft": (lambda lib, x: lib.fft.rfft(x), [R(3, 4)]),
    "irfft": (lambda lib, x: lib.fft.irfft(x), [C(3, 4)]),
    "hfft": (lambda lib, x: lib.fft.hfft(x), [C(3, 4)]),
    "ihfft": (lambda lib, x: lib.fft.ihfft(x), [R(3, 4)]),
    "fftshift": (lambda lib, x: lib.fft.fftshift(x), [C(3, 4)]),
    "fft of real": (lambda lib, x: lib.fft.fft(x), [R(3, 4)]),
}

TABLES = {"elementwise": ELEMENTWISE, "reduction": REDUCTIONS, "shape": SHAPE, "indexing": INDEXING}
TABLES.update({"linalg": LINALG, "nn": NN, "fft": FFT})
ALL: Table = {f"{family}:{name}": row for family, table in TABLES.items() for name, row in table.items()}


def _weight(y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(y.shape)
    return g + 1j * rng.standard_normal(y.shape) if y.dtype.kind == "c" else g


def _run(lib: Any, fn: Callable, arrays: list[np.ndarray]) -> tuple[np.ndarray, list[Any]]:
    """fn's value and the gradients of (y * g).real.sum() w.r.t. the float/complex inputs."""
    xs = [lib.tensor(a, requires_grad=a.dtype.kind in "fc") for a in arrays]
    y = fn(lib, *xs)
    yv = _numpy(y.detach())
    loss = y * lib.tensor(_weight(yv, 7))
    loss = loss.real.sum() if yv.dtype.kind == "c" else loss.sum()
    loss.backward()
    return yv, [None if x.grad is None else _numpy(x.grad) for x in xs if x.requires_grad]


def _numpy(t: Any) -> np.ndarray:
    return t.resolve_conj().numpy() if torch is not None and isinstance(t, torch.Tensor) else t.numpy()


def _torch_result(fn: Callable, arrays: list[np.ndarray]) -> Any:
    try:
        return _run(torch, fn, arrays)
    except (RuntimeError, NotImplementedError, TypeError) as e:
        return e


def _loss_value(fn: Callable, arrays: list[np.ndarray], g: np.ndarray) -> float:
    y = fn(bp, *[bp.tensor(a) for a in arrays])
    out = y.detach().numpy() * g
    return float(out.real.sum())


def _numeric_grads(fn: Callable, arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """dL/da + i dL/db for each float/complex input z = a + ib (dL/da for a real one) by central differences,
    L = (fn(...) * g).real.sum() with _run's weight g: torch's convention for x.grad."""
    g = _weight(fn(bp, *[bp.tensor(a) for a in arrays]).detach().numpy(), 7)
    grads = []
    for k, a in enumerate(arrays):
        if a.dtype.kind not in "fc":
            continue
        grad = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            for unit in (1.0, 1j) if a.dtype.kind == "c" else (1.0,):
                vals = []
                for sign in (1, -1):
                    moved = [b.copy() for b in arrays]
                    moved[k][i] += sign * eps * unit
                    vals.append(_loss_value(fn, moved, g))
                grad[i] += unit * (vals[0] - vals[1]) / (2 * eps)
        grads.append(grad)
    return grads


# where torch refuses complex input (or its gradient) and we compute: the gradient is checked numerically
BEYOND_TORCH = {"elementwise:nan_to_num", "elementwise:silu", "linalg:bilinear", "nn:embedding"}
# torch refuses and so should we, but these still compute (none left: tests/test_complex_refusals.py; mse_loss,
# relu, cdist and cosine_similarity now raise torch's error, as every real-only op)
NOT_REFUSED: set[str] = set()


# losses that depend on the phase of singular vectors or eigenvectors (defined up to e^{i phi} per column): torch's
# RuntimeError, ours the same (the forward still works)
PHASE_DEPENDENT = {
    "linalg:svd U phase": "svd_backward: The singular vectors in the complex case are specified up to multiplication",
    "linalg:eig V phase": "linalg_eig_backward: The eigenvectors in the complex case are specified up to",
}


@pytest.mark.parametrize("case", sorted(PHASE_DEPENDENT))
def test_phase_dependent_loss_raises(case: str) -> None:
    fn, arrays = ALL[case]
    with pytest.raises(RuntimeError, match=PHASE_DEPENDENT[case]):
        _run(bp, fn, arrays)
    y = fn(bp, *[bp.tensor(a) for a in arrays])  # the forward still works
    assert np.isfinite(y.numpy()).all()
    if torch is not None:
        with pytest.raises(RuntimeError, match=PHASE_DEPENDENT[case]):
            _run(torch, fn, arrays)


@needs_torch
@pytest.mark.parametrize("case", sorted(set(ALL) - set(PHASE_DEPENDENT)))
def test_matches_torch(case: str) -> None:
    """Values and gradients as torch's; where torch refuses complex input or its gradient, we refuse too, or
    (``BEYOND_TORCH``) our gradient is the numeric one."""
    fn, arrays = ALL[case]
    theirs = _torch_result(fn, arrays)
    if isinstance(theirs, Exception):
        if case in NOT_REFUSED:
            pytest.skip("torch refuses complex input here; we do not yet")
        if case in BEYOND_TORCH:
            _, gs = _run(bp, fn, arrays)
            for g, ng in zip(gs, _numeric_grads(fn, arrays)):
                np.testing.assert_allclose(g, ng, rtol=1e-6, atol=1e-7)
            return
        with pytest.raises((NotImplementedError, RuntimeError, TypeError, ValueError)):
            _run(bp, fn, arrays)
        return
    y, gs = _run(bp, fn, arrays)
    ty, tgs = theirs
    assert y.shape == ty.shape and y.dtype == ty.dtype, (y.dtype, ty.dtype)
    np.testing.assert_allclose(y, ty, rtol=1e-9, atol=1e-10)
    for g, tg in zip(gs, tgs):
        if tg is None:
            assert g is None or not np.any(g)
            continue
        assert g is not None and g.dtype == tg.dtype and g.shape == tg.shape
        np.testing.assert_allclose(g, tg, rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------- without torch: central differences

NUMERIC = [
    "elementwise:sinc", "elementwise:lerp tensor weight", "elementwise:logaddexp", "elementwise:silu",
    "reduction:vector_norm 3", "reduction:vector_norm inf", "reduction:vector_norm 0.5", "reduction:logsumexp",
    "linalg:vdot", "linalg:vecdot", "linalg:linear", "linalg:det", "linalg:slogdet", "linalg:logdet", "linalg:inv",
    "linalg:solve", "linalg:cholesky hermitian part", "linalg:eigh hermitian part", "linalg:svdvals", "linalg:pinv",
    "linalg:lu_factor", "linalg:householder_product", "linalg:matrix_power -2", "linalg:qr", "linalg:qr wide batched",
    "linalg:qr complete wide", "linalg:eig", "linalg:eig real input", "linalg:eigvals real input", "linalg:svd",
    "linalg:svd wide batched", "linalg:svd U S Vh",
]  # fmt: skip


@pytest.mark.parametrize("case", NUMERIC)
def test_numeric_gradient(case: str) -> None:
    fn, arrays = ALL[case]
    _, gs = _run(bp, fn, arrays)
    for g, ng in zip(gs, _numeric_grads(fn, arrays)):
        np.testing.assert_allclose(g, ng, rtol=1e-6, atol=1e-7)


def test_real_inputs_keep_real_gradients() -> None:
    """The complex branches leave real inputs alone: real gradients, equal to the numeric ones."""
    a = R(3, 3, seed=3) + 3 * np.eye(3)
    for fn in (lambda lib, x: lib.linalg.det(x), lambda lib, x: lib.linalg.inv(x), lambda lib, x: x.norm(3)):
        _, (g,) = _run(bp, fn, [a])
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, _numeric_grads(fn, [a])[0], rtol=1e-6, atol=1e-7)


def _audit() -> dict[str, str]:  # pragma: no cover - a report for people: python tests/test_complex_grad_audit.py
    out = {}
    for case in sorted(ALL):
        fn, arrays = ALL[case]
        theirs = _torch_result(fn, arrays)
        try:
            ours: Any = _run(bp, fn, arrays)
        except Exception as e:  # noqa: BLE001
            ours = e
        if isinstance(theirs, Exception):
            out[case] = "both refuse" if isinstance(ours, Exception) else f"torch refuses ({theirs!s:.60}), we do not"
            continue
        if isinstance(ours, Exception):
            out[case] = f"WE REFUSE: {type(ours).__name__}: {ours!s:.100}"
            continue
        (y, gs), (ty, tgs) = ours, theirs
        if y.shape != ty.shape or y.dtype != ty.dtype or not np.allclose(y, ty, rtol=1e-9, atol=1e-10):
            out[case] = f"FORWARD MISMATCH {y.dtype}{y.shape} vs {ty.dtype}{ty.shape}"
            continue
        bad = []
        for i, (g, tg) in enumerate(zip(gs, tgs)):
            if tg is None or g is None:
                if (tg is None) != (g is None or not np.any(g)):
                    bad.append(f"{i}:none")
            elif g.dtype != tg.dtype or g.shape != tg.shape or not np.allclose(g, tg, rtol=1e-8, atol=1e-9):
                conj = g.shape == tg.shape and np.allclose(np.conj(g), tg, rtol=1e-8, atol=1e-9)
                bad.append(f"{i}:{'conj' if conj else 'wrong'}")
        out[case] = "ok" if not bad else "GRAD MISMATCH " + " ".join(bad)
    return out


if __name__ == "__main__":  # pragma: no cover
    for k, v in _audit().items():
        print(f"{k:45s} {v}")
