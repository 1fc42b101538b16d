"""Matrix multiplication with numpy/torch semantics (1-D, 2-D, batched, broadcast batch dims), and einsum."""

from __future__ import annotations

import math

import numpy as np

from backprop import dtypes as _dtypes
from backprop.ops._util import DTypeError, ShapeError, broadcast_shape
from backprop.ops.fft import conj, conj_if_complex, imag, real
from backprop.ops.indexing import getitem, getitem_grad
from backprop.ops.shape import cat, diag_embed, tril, triu
from backprop.registry import op, ufunc_op


def _check_matmul(a, b):
    """The shape/dtype rule: inner dimensions agree, operands are not scalars, dtypes match; torch's messages,
    those of the kernel its matmul folds into (dot, mv, mm or bmm)."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    rows = math.prod(a.shape[:-1])
    if b.ndim > 2 and a.ndim > 2 and a.shape[:-2] != b.shape[:-2]:  # bmm: torch broadcasts the batch dims first
        broadcast_shape(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    if ka != kb:
        if a.ndim == 1 and b.ndim == 1:
            raise ShapeError(
                f"inconsistent tensor size, expected tensor [{ka}] and src [{kb}] to have the same number of "
                f"elements, but got {ka} and {kb} elements respectively"
            )
        if b.ndim == 1:
            raise ShapeError(f"size mismatch, got input ({rows}), mat ({rows}x{ka}), vec ({kb})")
        if b.ndim == 2:
            raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{ka} and {kb}x{b.shape[-1]})")
        batch = broadcast_shape(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        n = math.prod(batch)
        raise ShapeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{n}, {ka}] but got: [{n}, {kb}]."
        )
    if a.dtype != b.dtype:
        da, db = _dtypes.cpp_type_name(a.dtype), _dtypes.cpp_type_name(b.dtype)
        sa, sb = _dtypes.scalar_type_name(a.dtype), _dtypes.scalar_type_name(b.dtype)
        if a.ndim == 1 and b.ndim == 1:
            raise DTypeError(f"dot : expected both vectors to have same dtype, but found {sa} and {sb}")
        if b.ndim == 1:
            raise DTypeError(f"addmv input tensors must have the same dtype, but got {sb}, {sa}, and {sb}")
        if b.ndim == 2:
            raise DTypeError(f"expected m1 and m2 to have the same dtype, but got: {da} != {db}")
        raise DTypeError(f"expected scalar type {sa} but found {sb}")


matmul = ufunc_op("matmul", "matmul", "a @ b.", save_inputs=(0, 1), check=_check_matmul)


@matmul.defvjp
def matmul_backward(ctx, gy):
    # y = a b  =>  da = gy b^T, db = a^T gy; 1-D operands are promoted to matrices and back, and
    # broadcast batch dims are summed away by the engine.
    a, b = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
    if gy.dtype.kind == "c":  # complex: da = gy b^H, db = a^H gy (gy is complex exactly when a or b is)
        a, b = conj_if_complex(ctx, a), conj_if_complex(ctx, b)
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1 and b1:
        return (gy * b if e[0] else None), (gy * a if e[1] else None)
    a2 = xp.expand_dims(a, 0) if a1 else a
    b2 = xp.expand_dims(b, -1) if b1 else b
    g2 = gy
    if a1:
        g2 = xp.expand_dims(g2, -2)
    if b1:
        g2 = xp.expand_dims(g2, -1)
    ga = gb = None
    if e[0]:
        ga = xp.matmul(g2, xp.swapaxes(b2, -1, -2))
        if a1:
            ga = xp.squeeze(ga, axis=-2)
    if e[1]:
        gb = xp.matmul(xp.swapaxes(a2, -1, -2), g2)
        if b1:
            gb = xp.squeeze(gb, axis=-1)
    return ga, gb


def _check_linear(x, w, b=None):
    """The shape/dtype rule of linear: x (..., in), w (out, in), b (out,) (or broadcastable) or None; torch's
    messages (those of the addmm/mm/matmul its linear runs on)."""
    if x.ndim == 0 or w.ndim == 0:
        raise ShapeError(f"both arguments to linear need to be at least 1D, but they are {x.ndim}D and {w.ndim}D")
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        if w.ndim == 2:
            rows = math.prod(x.shape[:-1])
            raise ShapeError(
                f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and {w.shape[1]}x{w.shape[0]})"
            )
        raise ShapeError(
            f"linear: input of shape {tuple(x.shape)} has {x.shape[-1]} features but weight "
            f"of shape {tuple(w.shape)} expects (out_features, {w.shape[-1]})"
        )
    if b is not None and tuple(b.shape) not in ((w.shape[0],), (1,), ()):
        rows = math.prod(x.shape[:-1])
        raise ShapeError(
            f"The expanded size of the tensor ({w.shape[0]}) must match the existing size ({b.shape[-1]}) at "
            f"non-singleton dimension {b.ndim}.  Target sizes: [{rows}, {w.shape[0]}].  Tensor sizes: {list(b.shape)}"
        )
    if b is not None and b.dtype != w.dtype and (x.ndim == 2 or b.ndim > 0):  # (else a 0-d bias is added)
        raise DTypeError(
            f"self and mat2 must have the same dtype, but got {_dtypes.scalar_type_name(b.dtype)} and "
            f"{_dtypes.scalar_type_name(w.dtype)}"
        )
    if x.dtype != w.dtype:
        if b is not None and (x.ndim == 2 or b.ndim > 0):  # addmm (a 1-D bias) or matmul + add
            raise DTypeError(
                f"mat1 and mat2 must have the same dtype, but got {_dtypes.scalar_type_name(x.dtype)} and "
                f"{_dtypes.scalar_type_name(w.dtype)}"
            )
        raise DTypeError(
            f"expected m1 and m2 to have the same dtype, but got: {_dtypes.cpp_type_name(x.dtype)} != "
            f"{_dtypes.cpp_type_name(w.dtype)}"
        )


@op("linear", save_inputs=(0, 1), check=_check_linear)
def linear(xp, x, w, b=None):
    """x @ w.T + b with w of shape (out, in): one fused op, as torch's addmm."""
    y = xp.matmul(x, w.T)
    if b is not None:
        y += b  # y is fresh: add the bias in place, no second (B, out) buffer
    return y


@linear.defvjp
def linear_backward(ctx, gy):  # dx = gy w, dw = gy^T x (batch dims flattened), db = sum gy
    x, w = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
    out_f, in_f = w.shape
    g2 = xp.reshape(gy, (-1, out_f)) if gy.ndim != 2 else gy
    if gy.dtype.kind == "c":  # complex: dx = gy conj(w), dw = gy^T conj(x)
        x, w = conj_if_complex(ctx, x), conj_if_complex(ctx, w)
    gx = xp.matmul(gy, w) if e[0] else None
    gw = None
    if e[1]:
        x2 = xp.reshape(x, (-1, in_f)) if x.ndim != 2 else x
        gw = xp.matmul(g2.T, x2)  # (.T and .sum: the arrays' own C methods, no NumPy Python wrappers)
    gb = g2.sum(axis=0) if len(e) > 2 and e[2] else None
    return gx, gw, gb


# ---------------------------------------------------------------- einsum


def _check_einsum(a, b=None, *, equation):
    xs = (a,) if b is None else (a, b)
    lhs = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for k, (sub, x) in enumerate(zip(lhs, xs)):
        if x.dtype != xs[0].dtype:
            raise DTypeError(  # (torch's bmm message)
                f"expected scalar type {_dtypes.scalar_type_name(xs[0].dtype)} but found "
                f"{_dtypes.scalar_type_name(x.dtype)}"
            )
        seen: dict[str, int] = {}
        for c, n in zip(sub, x.shape):
            if c in seen and seen[c] != n:
                raise ShapeError(
                    f"einsum(): subscript {c} is repeated for operand {k} but the sizes don't match, {n} != {seen[c]}"
                )
            seen[c] = n
            if c in sizes and n != sizes[c] and 1 not in (n, sizes[c]):
                raise ShapeError(
                    f"einsum(): subscript {c} has size {n} for operand {k} which does not broadcast with previously "
                    f"seen size {sizes[c]}"
                )
            sizes[c] = n if c not in sizes or sizes[c] == 1 else sizes[c]


@op("einsum", save_inputs=(0, 1), check=_check_einsum)
def einsum(xp, a, b=None, *, equation):
    """Einstein summation of one or two operands over an explicit equation ("ij,jk->ik", no ellipsis).

    ``bp.einsum`` rewrites ellipses and implicit outputs and contracts more operands pairwise, left
    to right (as torch does without opt_einsum), so the op stays binary and saves its inputs."""
    if b is None:
        return xp.einsum(equation, a)
    # optimize=True contracts through BLAS (tensordot): about 2x faster on large operands, but ~10 us of
    # path search per call, so small ones take the plain loop
    return xp.einsum(equation, a, b, optimize=a.size + b.size > 4096)


@einsum.defvjp
def einsum_backward(ctx, gy):
    # d/dx_i of sum(gy * einsum(...)) is einsum(gy, x_j (j != i) -> subscripts of x_i): letters of x_i
    # that appear nowhere else are broadcast back, and a letter repeated in x_i (a diagonal, "ii")
    # writes the gradient onto that diagonal (diag_embed). A letter used three times in one operand
    # is not supported (NotImplementedError).
    xp = ctx.xp
    lhs, out = ctx.attrs["equation"].split("->")
    subs = lhs.split(",")
    xs = ctx.saved[: len(subs)]
    grads = []
    for i, need in enumerate(ctx.needs_input_grad):
        if not need or i >= len(subs):
            grads.append(None)
            continue
        sub = subs[i]
        shape = ctx.input_shapes[i]
        others = [s for j, s in enumerate(subs) if j != i]
        avail = set(out).union(*others) if others else set(out)
        uniq = list(dict.fromkeys(sub))
        present = [c for c in uniq if c in avail]
        size = {c: n for c, n in zip(sub, shape)}
        eq = ",".join([out, *others]) + "->" + "".join(present)
        other = xs[1 - i] if len(subs) == 2 else None  # always two inputs: the op saves (0, 1)
        other = None if other is None else conj_if_complex(ctx, other)  # complex: the conjugate's sum
        g = ctx.call(einsum, gy, other, equation=eq)
        if len(present) != len(uniq):  # letters only x_i has: the gradient is constant along them
            g = xp.reshape(g, tuple(g.shape[present.index(c)] if c in present else 1 for c in uniq))
        full = tuple(max(g.shape[k], size[c]) for k, c in enumerate(uniq))
        if tuple(g.shape) != full:  # (also a letter of size 1 elsewhere, broadcast against x_i's size)
            g = xp.broadcast_to(g, full)
        cur = list(uniq)
        for c in uniq:
            count = sub.count(c)
            if count == 1:
                continue
            if count > 2:
                raise NotImplementedError(
                    f"einsum backward: subscript {c} appears {count} times in operand {i} ({sub!r}); "
                    "at most twice (a diagonal) is supported"
                )
            k = cur.index(c)
            perm = [j for j in range(len(cur)) if j != k] + [k]
            g = xp.transpose(g, tuple(perm))
            cur = [cur[j] for j in perm[:-1]] + [c, c]
            g = ctx.call(diag_embed, g, offset=0, dim1=len(cur) - 2, dim2=len(cur) - 1)
        if cur != list(sub):
            used = [False] * len(cur)
            perm = []
            for c in sub:
                k = next(j for j, d in enumerate(cur) if d == c and not used[j])
                used[k] = True
                perm.append(k)
            g = xp.transpose(g, tuple(perm))
        grads.append(g)
    return tuple(grads)


# ---------------------------------------------------------------- decompositions and inverses
# Multi-output ops (slogdet, qr, eigh, svd) return their outputs packed into one array: each output
# flattened over its own (core) dims, concatenated on the last axis (``_pack``). The public functions
# slice them apart (``unpack``), so the gradient of an unused output arrives here as zeros, and
# ``layout`` says where each output lies for both sides.


class LinAlgError(RuntimeError):
    """A matrix the factorization cannot handle (singular, not positive-definite): torch.linalg.LinAlgError."""


# torch's class is ``torch._C._LinAlgError``: tracebacks, reprs and ``type(e).__name__`` say ``_LinAlgError``
# (the alias keeps pickling by qualified name working).
LinAlgError.__name__ = LinAlgError.__qualname__ = "_LinAlgError"
_LinAlgError = LinAlgError


def _check_float(name, a):
    if _dtypes.kind(a.dtype) not in "fc" or a.dtype.itemsize < 4:
        raise DTypeError(
            f"linalg.{name}: Expected a float32 or float64 tensor as input (float16 has no LAPACK kernel), got "
            f"{a.dtype}; convert with .double() or .float()"
        )


def _check_matrix(name, a):
    if a.ndim < 2:
        raise ShapeError(
            f"linalg.{name}: The input tensor A must have at least 2 dimensions, got shape {tuple(a.shape)}"
        )
    _check_float(name, a)


def _check_square(name):
    def check(a, **_):
        _check_matrix(name, a)
        if a.shape[-1] != a.shape[-2]:
            raise ShapeError(
                f"linalg.{name}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                f"{a.shape[-1]} matrices"
            )

    return check


def _lapack(name, fn, *args, **kwargs):
    """``fn(*args)`` with the backend's LinAlgError raised as ours, naming the op (torch's message)."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:  # numpy.linalg.LinAlgError is a ValueError
        if type(e).__name__ != "LinAlgError":
            raise
        if name in ("cholesky", "inv", "solve") and isinstance(args[0], np.ndarray):
            raise LinAlgError(_failure_message(name, args[0])) from e
        what = {
            "cholesky": "the input is not positive-definite",
            "eigh": "the algorithm failed to converge",
            "svd": "the algorithm failed to converge",
        }.get(name, "the input matrix is singular")
        raise LinAlgError(f"linalg.{name}: The factorization could not be completed because {what} ({e})") from e


def _failure_message(name, a):
    """torch's message for the first matrix of ``a`` that cholesky/inv/solve cannot handle: its (flat) batch
    element, and the order of its first leading minor that is not positive-definite (LAPACK potrf's info) or the
    first zero on U's diagonal (getrf's info). Only called once a factorization failed."""
    from scipy.linalg import lapack  # (scipy is a dependency; imported when first used)

    mats = a.reshape((-1, *a.shape[-2:]))
    where, k = 0, 0
    for i, m in enumerate(mats):
        if name == "cholesky":
            k = lapack.get_lapack_funcs("potrf", (m,))(m, lower=True)[1]
        else:
            k = lapack.get_lapack_funcs("getrf", (m,))(m)[2]
        if k > 0:
            where = i
            break
    batch = f"(Batch element {where}): " if a.ndim > 2 else ""
    if name == "cholesky":
        return (
            f"linalg.cholesky: {batch}The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {k} is not positive-definite)."
        )
    if name == "solve":
        return f"torch.linalg.solve: {batch}The solver failed because the input matrix is singular."
    return (
        f"linalg.inv: {batch}The diagonal element {k} is zero, the inversion could not be completed because the "
        "input matrix is singular."
    )


def _mT(xp, x):  # noqa: N802 - torch's name
    return xp.swapaxes(x, -1, -2)


def _eye_like(ctx, v):
    """Identity matrices (..., n, n) from a (..., n) vector, recorded under create_graph (no eye in tensor_xp)."""
    return ctx.call(diag_embed, v * 0 + 1)


def _unused(g):
    """True when an output's upstream gradient is all zeros (that output was not used)."""
    return not bool((g != 0).any())


def layout(name, shape, **attrs):
    """The core shapes of a multi-output op's outputs for an input of ``shape``, in packing order."""
    m, n = shape[-2], shape[-1]
    k = min(m, n)
    if name == "slogdet":
        return [(), ()]
    if name == "eigh":
        return [(n,), (n, n)]
    if name == "qr":
        mode = attrs["mode"]
        if mode == "r":
            return [(0,), (k, n)]
        if mode == "complete":
            return [(m, m), (m, n)]
        return [(m, k), (k, n)]
    if name == "lu_factor":
        return [(m, n), (k,), (m, m)]
    if name == "eig":
        return [(n,), (n, n)]
    if name == "svd":
        if attrs["full_matrices"]:
            return [(m, m), (k,), (n, n)]
        return [(m, k), (k,), (k, n)]
    raise KeyError(name)


def _size(core):
    s = 1
    for d in core:
        s *= d
    return s


def _pack(xp, batch, *ys):
    return xp.concatenate([xp.reshape(y, batch + (_size(y.shape[len(batch) :]),)) for y in ys], axis=-1)


def unpack(y, cores):
    """The outputs packed in ``y`` (arrays or Tensors), each reshaped to batch + its core shape."""
    batch = tuple(y.shape[:-1])
    out, at = [], 0
    for core in cores:
        size = _size(core)
        out.append(y[..., at : at + size].reshape(batch + tuple(core)))
        at += size
    return out


def _broadcast_batch(name, a, b):
    """The broadcast batch shape of two stacks of matrices, or torch's error."""
    sa, sb = tuple(a.shape[:-2]), tuple(b.shape[:-2])
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    out = []
    for p, q in zip(sa, sb):
        if p != q and 1 not in (p, q):
            raise ShapeError(
                f"linalg.{name}: the batch dimensions of A {tuple(a.shape)} and B {tuple(b.shape)} do not broadcast"
            )
        out.append(q if p == 1 else p)
    return tuple(out)


@op("inv", save_output=True, check=_check_square("inv"))
def inv(xp, a):
    """A^-1 of each (..., n, n) matrix."""
    return _lapack("inv", xp.linalg.inv, a)


@inv.defvjp
def inv_backward(ctx, gy):  # d(A^-1) = -A^-1 dA A^-1  =>  gA = -Y^T gy Y^T (complex: Y^H)
    (y,) = ctx.saved
    xp = ctx.xp
    yt = _mT(xp, conj_if_complex(ctx, y) if gy.dtype.kind == "c" else y)
    return (-xp.matmul(xp.matmul(yt, gy), yt),)


def _adjugate_t(xp, a):
    """adj(A)^T = det(U) det(Vh) U diag(prod_{j != i} s_j) Vh from A = U S Vh: finite for singular A too."""
    u, s, vh = xp.linalg.svd(a)
    one = xp.ones_like(s[..., :1])
    before = xp.cumprod(xp.concatenate([one, s[..., :-1]], axis=-1), axis=-1)  # prod_{j < i} s_j
    after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([s[..., 1:], one], axis=-1), -1), axis=-1), -1)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return xp.matmul(sign[..., None, None] * u * (before * after)[..., None, :], vh)


@op("det", save_inputs=(0,), save_output=True, check=_check_square("det"))
def det(xp, a):
    """det(A) of each (..., n, n) matrix."""
    return xp.linalg.det(a)


@det.defvjp
def det_backward(ctx, gy):
    # d det(A) = det(A) tr(A^-1 dA)  =>  gA = gy det(A) A^-T = gy adj(A)^T; a singular A (det 0) takes the
    # adjugate from an SVD, which stays finite (torch does the same); double backward uses the inverse
    a, y = ctx.saved
    xp = ctx.xp
    g = xp.expand_dims(xp.expand_dims(gy, -1), -1)
    if ctx.create_graph or bool((y != 0).all()):
        adj_t = xp.expand_dims(xp.expand_dims(y, -1), -1) * _mT(xp, ctx.call(inv, a))
    else:
        adj_t = _adjugate_t(xp, a)
    return (g * (conj_if_complex(ctx, adj_t) if gy.dtype.kind == "c" else adj_t),)  # complex: conj(adj(A))^T


@op("slogdet", save_inputs=(0,), check=_check_square("slogdet"))
def slogdet(xp, a):
    """(sign(det A), log|det A|) of each matrix, packed on a new last axis (the sign has no gradient)."""
    sign, logabs = xp.linalg.slogdet(a)
    return xp.stack([sign, logabs], axis=-1)


@slogdet.defvjp
def slogdet_backward(ctx, gy):  # d log|det A| = tr(A^-1 dA)  =>  gA = g A^-T
    (a,) = ctx.saved
    xp = ctx.xp
    if gy.dtype.kind == "c":
        # complex: d log det = d log|det| + i d arg det = tr(A^-1 dA), d sign = i sign d arg det  =>
        # gA = h A^-H, h = g_logabs + i Im(g_sign conj(sign)) (the sign's gradient counts for complex A)
        sign = ctx.call(slogdet, a)[..., 0]
        h = ctx.call(real, gy[..., 1]) + 1j * ctx.call(imag, gy[..., 0] * ctx.call(conj, sign))
        g = xp.expand_dims(xp.expand_dims(h, -1), -1)
        return (g * _mT(xp, ctx.call(conj, ctx.call(inv, a))),)
    g = xp.expand_dims(xp.expand_dims(gy[..., 1], -1), -1)
    return (g * _mT(xp, ctx.call(inv, a)),)


def _check_solve(a, b):
    _check_square("solve")(a)
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        raise ShapeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation AX = B ({a.shape[-2]}x{a.shape[-1]} and "
            f"{'x'.join(str(d) for d in b.shape[-2:])})"
        )
    if a.dtype != b.dtype:
        raise DTypeError(
            f"linalg.solve: Expected A and B to have the same dtype, but found A of type {a.dtype} and B "
            f"of type {b.dtype} instead"
        )
    _broadcast_batch("solve", a, b)


@op("solve", save_inputs=(0,), save_output=True, check=_check_solve, saved_for={1: (0,)})
def solve(xp, a, b):
    """X with A X = B for (..., n, n) A and (..., n, k) B (batch dims broadcast)."""
    batch = _broadcast_batch("solve", a, b)
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    return _lapack("solve", xp.linalg.solve, a, b)


@solve.defvjp
def solve_backward(ctx, gy):  # X = A^-1 B  =>  gB = A^-T gy, gA = -gB X^T (complex: A^-H, X^H)
    a, y = ctx.saved
    xp = ctx.xp
    if gy.dtype.kind == "c":
        a, y = conj_if_complex(ctx, a), conj_if_complex(ctx, y)
    gb = ctx.call(solve, _mT(xp, a), gy)
    ga = -xp.matmul(gb, _mT(xp, y)) if ctx.needs_input_grad[0] else None
    return ga, (gb if ctx.needs_input_grad[1] else None)


def _check_solve_triangular(a, b, *, upper, left=True, unitriangular=False):
    _check_square("solve_triangular")(a)
    n = a.shape[-1]
    if b.ndim < 2 or (b.shape[-2] if left else b.shape[-1]) != n:
        raise ShapeError(
            "linalg.solve_triangular: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {'x'.join(str(d) for d in b.shape[-2:])})"
        )
    if a.dtype != b.dtype:
        raise DTypeError(
            f"linalg.solve_triangular: Expected A and B to have the same dtype, but found A of type {a.dtype} and B "
            f"of type {b.dtype} instead"
        )
    _broadcast_batch("solve_triangular", a, b)


def _trsm_host(a, b, upper, left, unitriangular):
    """BLAS ?trsm (scipy's wrapper of the BLAS NumPy's wheels ship too) on each matrix of a batch."""
    from scipy.linalg import blas  # (scipy is a dependency; imported when first used)

    trsm = blas.get_blas_funcs("trsm", dtype=a.dtype)
    out = np.zeros(b.shape, dtype=a.dtype)
    if out.size:
        for i in np.ndindex(*b.shape[:-2]):
            if left:
                out[i] = trsm(1, a[i], b[i], lower=int(not upper), diag=int(unitriangular))
            else:  # X T = B as T^T X^T = B^T (torch's bits; trsm's right side rounds differently)
                out[i] = trsm(1, a[i], b[i].T, lower=int(not upper), trans_a=1, diag=int(unitriangular)).T
    return out


def _trsm_device(a, b, upper, left, unitriangular):
    """cupyx's solve_triangular (cuBLAS trsm) on each matrix of a batch; X T = B is solved as T^T X^T = B^T."""
    import cupy
    from cupyx.scipy.linalg import solve_triangular as trsm

    out = cupy.zeros(b.shape, dtype=a.dtype)
    if out.size:
        for i in np.ndindex(*b.shape[:-2]):
            bi = b[i] if left else b[i].T
            xi = trsm(a[i], bi, trans=0 if left else 1, lower=not upper, unit_diagonal=unitriangular)
            out[i] = xi if left else xi.T
    return out


@op("solve_triangular", save_inputs=(0,), save_output=True, check=_check_solve_triangular, saved_for={1: (0,)})
def solve_triangular(xp, a, b, *, upper, left=True, unitriangular=False):
    """X with T X = B (``left=False``: X T = B) for T the ``upper`` or lower triangle of (..., n, n) A (its diagonal
    read as ones when ``unitriangular``); batch dims broadcast. BLAS trsm, as torch: substitution, so a zero on T's
    diagonal gives inf/nan (no factorization, no singularity error) and the values are torch's where both BLAS agree.
    """
    batch = _broadcast_batch("solve_triangular", a, b)
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    trsm = _trsm_host if xp is np else _trsm_device
    return trsm(a, b, bool(upper), bool(left), bool(unitriangular))


@solve_triangular.defvjp
def solve_triangular_backward(ctx, gy):
    # T X = B  =>  gB = T^-H gy, gA = -gB X^H;  X T = B  =>  gB = gy T^-H, gA = -X^H gB  (T^-H: the other triangle);
    # gA kept on T's triangle (its strict triangle when unitriangular: the diagonal is never read)
    a, y = ctx.saved
    xp = ctx.xp
    upper, left, unit = ctx.attrs["upper"], ctx.attrs["left"], ctx.attrs["unitriangular"]
    ah = conj_if_complex(ctx, _mT(xp, a))
    gb = ctx.call(solve_triangular, ah, gy, upper=not upper, left=left, unitriangular=unit)
    ga = None
    if ctx.needs_input_grad[0]:
        yh = conj_if_complex(ctx, _mT(xp, y))
        ga = -(xp.matmul(gb, yh) if left else xp.matmul(yh, gb))
        band = (1 if upper else -1) if unit else 0
        ga = ctx.call(triu, ga, diagonal=band) if upper else ctx.call(tril, ga, diagonal=band)
    return ga, (gb if ctx.needs_input_grad[1] else None)


def _potrs_host(b, f, upper):
    """LAPACK potrs's two BLAS ?trsm on each matrix of a batch (torch's CPU cholesky_solve): L Y = B then
    L^H X = Y for a lower factor, U^H Y = B then U X = Y for an upper one."""
    from scipy.linalg import blas  # (scipy is a dependency; imported when first used)

    trsm = blas.get_blas_funcs("trsm", dtype=f.dtype)
    h = 2 if f.dtype.kind == "c" else 1  # (the conjugate transpose)
    lower = int(not upper)
    out = np.zeros(b.shape, dtype=f.dtype)
    if out.size:
        for i in np.ndindex(*b.shape[:-2]):
            y = trsm(1, f[i], b[i], lower=lower, trans_a=h if upper else 0)
            out[i] = trsm(1, f[i], y, lower=lower, trans_a=0 if upper else h)
    return out


def _potrs_device(b, f, upper):
    """cupyx's solve_triangular (cuBLAS trsm) twice on each matrix of a batch, as potrs."""
    import cupy
    from cupyx.scipy.linalg import solve_triangular as trsm

    out = cupy.zeros(b.shape, dtype=f.dtype)
    if out.size:
        for i in np.ndindex(*b.shape[:-2]):
            y = trsm(f[i], b[i], trans="C" if upper else "N", lower=not upper)
            out[i] = trsm(f[i], y, trans="N" if upper else "C", lower=not upper)
    return out


@op("cholesky_solve", save_inputs=(1,), save_output=True, saved_for={0: (1,)})
def cholesky_solve(xp, b, f, *, upper=False):
    """X with (L L^H) X = B for the Cholesky factor L (``upper``: U^H U with U = L^H) of (..., n, n), B (..., n, k),
    batch dims broadcast: potrs's two triangular solves (BLAS trsm, as torch's CPU kernel), reading only the
    factor's triangle; a zero on its diagonal gives inf/NaN, as torch's."""
    batch = _broadcast_batch("cholesky_solve", b, f)
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    f = xp.broadcast_to(f, batch + f.shape[-2:])
    return (_potrs_host if xp is np else _potrs_device)(b, f, bool(upper))


@cholesky_solve.defvjp
def cholesky_solve_backward(ctx, gy):
    # torch's cholesky_solve_backward: gB = cholesky_solve(gy, L); gL = -(gB X^H + X gB^H) L (lower) or
    # -U (gB X^H + X gB^H) (upper): the whole factor, as torch's (not only the triangle the forward reads)
    f, y = ctx.saved
    xp = ctx.xp
    upper = ctx.attrs["upper"]
    gb = ctx.call(cholesky_solve, gy, f, upper=upper)
    gl = None
    if ctx.needs_input_grad[1]:
        common = xp.matmul(gb, conj_if_complex(ctx, _mT(xp, y)))
        common = common + conj_if_complex(ctx, _mT(xp, common))
        gl = -(xp.matmul(f, common) if upper else xp.matmul(common, f))
    return (gb if ctx.needs_input_grad[0] else None), gl


@op("cholesky", save_output=True, check=_check_square("cholesky"))
def cholesky(xp, a, *, upper=False):
    """Lower-triangular L with L L^H = A, from A's lower triangle (A Hermitian positive-definite);
    ``upper``: U = L^H with U^H U = A, from A's upper triangle."""
    if upper:
        a = _mT(xp, a)
        a = xp.conj(a) if a.dtype.kind == "c" else a
        y = _mT(xp, _lapack("cholesky", xp.linalg.cholesky, a))
        return xp.conj(y) if y.dtype.kind == "c" else y
    return _lapack("cholesky", xp.linalg.cholesky, a)


@cholesky.defvjp
def cholesky_backward(ctx, gy):
    # torch's (Murray 2016): Phi = tril(L^H gL) with its strict lower part mirrored by ^H and the
    # diagonal halved, gA = L^-H Phi L^-1. ``upper`` (U = L^H): the same with L = U^H, gL = gU^H, and
    # gA as it comes (torch's: not conjugate-transposed back, so complex gradients agree with torch's)
    (y,) = ctx.saved
    xp = ctx.xp
    cplx = gy.dtype.kind == "c"
    if ctx.attrs["upper"]:
        y, gy = _mT(xp, y), _mT(xp, gy)
        if cplx:
            y, gy = ctx.call(conj, y), ctx.call(conj, gy)
    lt = _mT(xp, y)
    lh = ctx.call(conj, lt) if cplx else lt
    phi = ctx.call(tril, xp.matmul(lh, gy))
    mirror = _mT(xp, ctx.call(tril, phi, diagonal=-1))
    phi = 0.5 * (phi + (ctx.call(conj, mirror) if cplx else mirror))
    left = ctx.call(solve, lh, phi)  # L^-H Phi
    return (_mT(xp, ctx.call(solve, lt, _mT(xp, left))),)  # (L^-T (L^-H Phi)^T)^T = L^-H Phi L^-1


def _check_qr(a, *, mode="reduced"):
    _check_matrix("qr", a)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or 'complete'"
        )


@op("qr", save_inputs=(0,), save_output=True, check=_check_qr)
def qr(xp, a, *, mode="reduced"):
    """Q (orthonormal columns) and R (upper triangular) with A = Q R, packed (mode 'r': Q is empty)."""
    if mode == "r":
        r = xp.linalg.qr(a, mode="r")
        return _pack(xp, a.shape[:-2], xp.zeros(a.shape[:-2] + (0,), dtype=a.dtype), r)
    q, r = xp.linalg.qr(a, mode=mode)
    return _pack(xp, a.shape[:-2], q, r)


def _copyltu(ctx, m):
    """tril(M) mirrored onto the upper triangle: a symmetric matrix."""
    xp = ctx.xp
    return ctx.call(tril, m) + _mT(xp, ctx.call(tril, m, diagonal=-1))


def _qr_square(ctx, q, r, gq, gr):
    # A = QR with R square: M = R gR^T - gQ^T Q, gA = (gQ + Q copyltu(M)) R^-T (Walter & Lehmann; Liao et al.)
    xp = ctx.xp
    if gr.dtype.kind == "c":  # complex (R's diagonal real): ^H for ^T, the mirror by ^H keeps Re of M's diagonal
        m = xp.matmul(r, ctx.call(conj, _mT(xp, gr))) - xp.matmul(ctx.call(conj, _mT(xp, gq)), q)
        low = ctx.call(tril, m, diagonal=-1)
        sym = low + ctx.call(conj, _mT(xp, low)) + ctx.call(real, m) * _eye_like(ctx, r[..., 0, :])
        b = gq + xp.matmul(q, sym)
        return _mT(xp, ctx.call(solve, ctx.call(conj, r), _mT(xp, b)))  # b R^-H: conj(R) X^T = b^T
    m = xp.matmul(r, _mT(xp, gr)) - xp.matmul(_mT(xp, gq), q)
    b = gq + xp.matmul(q, _copyltu(ctx, m))
    return _mT(xp, ctx.call(solve, r, _mT(xp, b)))  # b R^-T = (R^-1 b^T)^T


@qr.defvjp
def qr_backward(ctx, gy):
    a, y = ctx.saved
    xp = ctx.xp
    mode = ctx.attrs["mode"]
    m, n = a.shape[-2], a.shape[-1]
    if mode == "r":
        raise RuntimeError(
            "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
            "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr."
        )
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    if m == 0 or n == 0:  # an empty A: nothing flows back (torch's gradient is an empty tensor too)
        return (a * 0,)
    cores = layout("qr", a.shape, mode=mode)
    q, r = unpack(y, cores)
    gq, gr = unpack(gy, cores)
    if m >= n:
        return (_qr_square(ctx, q, r, gq, gr),)
    # m < n: A = [X | Y] with X = Q U square and Y = Q V: gY = Q gV, and Y = X U^-1 V adds Y gV^T to gQ
    # (complex: Y gV^H; _qr_square takes the complex square case)
    u = r[..., :, :m]
    gu, gv = gr[..., :, :m], gr[..., :, m:]
    gvt = _mT(xp, gv) if gy.dtype.kind != "c" else ctx.call(conj, _mT(xp, gv))
    gx = _qr_square(ctx, q, u, gq + xp.matmul(a[..., :, m:], gvt), gu)
    return (ctx.call(cat, gx, xp.matmul(q, gv), axis=-1),)


def _check_eigh(a, *, UPLO="L"):  # noqa: N803 - torch's name
    _check_square("eigh")(a)
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.eigh: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


@op("eigh", save_output=True, check=_check_eigh)
def eigh(xp, a, *, UPLO="L"):  # noqa: N803
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of symmetric A from one triangle, packed."""
    w, v = _lapack("eigh", xp.linalg.eigh, a, UPLO=UPLO)
    return _pack(xp, a.shape[:-2], w, v)


def _inv_gaps(ctx, d, e):
    """F_ij = 1 / (d_j - d_i) off the diagonal, 0 on it (``e`` the identity)."""
    return 1 / (d[..., None, :] - d[..., :, None] + e) - e


@eigh.defvjp
def eigh_backward(ctx, gy):
    # A = V diag(w) V^T: gA = V (diag(gw) + F o skew(V^T gV) / 2) V^T, F_ij = 1/(w_j - w_i) (torch's; the
    # skew part keeps gA symmetric). Repeated eigenvalues make F infinite: only gauge-invariant losses of
    # distinct eigenvalues have a gradient, as in torch. Unused eigenvectors (eigvalsh) skip that term.
    (y,) = ctx.saved
    xp = ctx.xp
    n = ctx.input_shapes[0][-1]
    w, v = unpack(y, [(n,), (n, n)])
    gw, gv = unpack(gy, [(n,), (n, n)])
    mid = ctx.call(diag_embed, gw)
    vt = _mT(xp, v)
    if gy.dtype.kind == "c":  # complex Hermitian A = V diag(w) V^H: V^H in place of V^T, skew-Hermitian part
        vt, w = ctx.call(conj, vt), ctx.call(real, w)
    if not _unused(gv):
        k = xp.matmul(vt, gv)
        k_t = _mT(xp, k) if gy.dtype.kind != "c" else ctx.call(conj, _mT(xp, k))
        mid = mid + _inv_gaps(ctx, w, _eye_like(ctx, w)) * (0.5 * (k - k_t))
    return (xp.matmul(xp.matmul(v, mid), vt),)


def _check_svd(a, *, full_matrices=True):
    _check_matrix("svd", a)


@op("svd", save_output=True, check=_check_svd)
def svd(xp, a, *, full_matrices=True):
    """U, S (descending), Vh with A = U diag(S) Vh, packed."""
    u, s, vh = _lapack("svd", xp.linalg.svd, a, full_matrices=full_matrices)
    return _pack(xp, a.shape[:-2], u, s, vh)


@svd.defvjp
def svd_backward(ctx, gy):
    # torch's real-case formula, with k = min(m, n) columns (full_matrices' extra ones have no gradient):
    # gA = U [ (F o skew(U^T gU)) S + diag(gS) + S (F o skew(V^T gV)) ] V^T
    #      + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T),   F_ij = 1 / (s_j^2 - s_i^2), skew(X) = X - X^T
    # Only gauge-invariant losses have a gradient (as torch warns); unused U and Vh skip their terms. A complex
    # matrix takes _svd_backward_complex (^H for ^T, torch's phase check).
    (y,) = ctx.saved
    xp = ctx.xp
    shape = ctx.input_shapes[0]
    m, n = shape[-2], shape[-1]
    k = min(m, n)
    cores = layout("svd", shape, full_matrices=ctx.attrs["full_matrices"])
    u, s, vh = unpack(y, cores)
    gu, gs, gvh = unpack(gy, cores)
    u, vh, gu, gvh = u[..., :, :k], vh[..., :k, :], gu[..., :, :k], gvh[..., :k, :]
    mid = ctx.call(diag_embed, gs)
    use_u, use_v = not _unused(gu), not _unused(gvh)
    if not (use_u or use_v):  # (complex too: d s_i = Re(u_i^H dA v_i))
        return (xp.matmul(u * gs[..., None, :], vh),)
    if gy.dtype.kind == "c":
        return (_svd_backward_complex(ctx, u, s, vh, gu, gvh, mid, use_u, use_v),)
    f = _inv_gaps(ctx, s * s, _eye_like(ctx, s))
    gv = _mT(xp, gvh)
    out = 0
    if use_u:
        ku = xp.matmul(_mT(xp, u), gu)
        mid = mid + (f * (ku - _mT(xp, ku))) * s[..., None, :]
        if m > k:  # (I - U U^T) gU S^-1 V^T
            out = xp.matmul((gu - xp.matmul(u, ku)) / s[..., None, :], vh)
    if use_v:
        kv = xp.matmul(vh, gv)
        mid = mid + s[..., :, None] * (f * (kv - _mT(xp, kv)))
        if n > k:  # U S^-1 gV^T (I - V V^T)
            out = out + xp.matmul(u / s[..., None, :], gvh - xp.matmul(_mT(xp, kv), vh))
    return (xp.matmul(xp.matmul(u, mid), vh) + out,)


def _mH(ctx, x):  # noqa: N802 - torch's name
    return ctx.call(conj, _mT(ctx.xp, x))


def _diag(ctx, x, eye):
    """The diagonal (..., n) of (..., n, n) ``x`` (``eye`` the identity), recorded under create_graph."""
    return ctx.xp.sum(x * eye, axis=-1)


_SVD_PHASE = (
    "svd_backward: The singular vectors in the complex case are specified up to multiplication by e^{i phi}. "
    "The specified loss function depends on this phase term, making it ill-defined."
)


def _svd_backward_complex(ctx, u, s, vh, gu, gvh, mid, use_u, use_v):
    # torch's complex formula: the real one with ^H for ^T, plus diag(skew(U^H gU)) / (2S) = i Im diag(U^H gU) / S
    # when both U and Vh are used. (U, V) and (U L, V L), L = diag(e^{i phi}), are the same SVD, so the loss must
    # not depend on the phases: Im diag(U^H gU) + Im diag(V^H gV) = 0 (torch's lax check and RuntimeError).
    xp = ctx.xp
    m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
    eye = _eye_like(ctx, s)
    f = _inv_gaps(ctx, s * s, eye)
    im_u = im_v = 0
    if use_u:
        ku = xp.matmul(_mH(ctx, u), gu)
        sku = ku - _mH(ctx, ku)
        im_u = ctx.call(imag, _diag(ctx, sku, eye))
    if use_v:
        kv = xp.matmul(vh, _mH(ctx, gvh))  # V^H gV
        skv = kv - _mH(ctx, kv)
        im_v = ctx.call(imag, _diag(ctx, skv, eye))
    if not bool((abs(im_u + im_v) <= 1e-2 + 1e-2 * abs(im_v)).all()):
        raise RuntimeError(_SVD_PHASE)
    out = 0
    if use_u:
        mid = mid + (f * sku) * s[..., None, :]
        if m > k:  # (I - U U^H) gU S^-1 V^H
            out = xp.matmul((gu - xp.matmul(u, ku)) / s[..., None, :], vh)
    if use_v:
        mid = mid + s[..., :, None] * (f * skv)
        if n > k:  # U S^-1 gV^H (I - V V^H)
            out = out + xp.matmul(u / s[..., None, :], gvh - xp.matmul(_mH(ctx, kv), vh))
    if use_u and use_v:
        mid = mid + ctx.call(diag_embed, _diag(ctx, sku, eye) / (2 * s))
    return xp.matmul(xp.matmul(u, mid), vh) + out


def _check_pinv(a, *, atol=0.0, rtol=None, hermitian=False):
    _check_matrix("pinv", a)


@op("pinv", save_inputs=(0,), save_output=True, check=_check_pinv)
def pinv(xp, a, *, atol=0.0, rtol=None, hermitian=False):
    """Moore-Penrose pseudo-inverse: singular values <= max(atol, rtol * s_max) count as zero (torch's rule;
    rtol defaults to eps * max(m, n) when atol is 0)."""
    m, n = a.shape[-2], a.shape[-1]
    if rtol is None:
        rtol = xp.finfo(a.dtype).eps * max(m, n) if atol == 0 else 0.0
    if hermitian:  # A = V diag(w) V^T: the singular values are |w|
        w, v = _lapack("pinv", xp.linalg.eigh, a)
        s, left, right = xp.abs(w), v, _mT(xp, v)
    else:
        u, s, vh = _lapack("pinv", xp.linalg.svd, a, full_matrices=False)
        w, left, right = s, u, vh
    smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else s[..., :1]
    keep = s > xp.maximum(atol, rtol * smax)
    w_inv = xp.where(keep, 1 / xp.where(keep, w, 1), 0)
    if a.dtype.kind == "c":  # complex: A = left diag(w) right, A^+ = right^H diag(1/w) left^H
        left = xp.conj(left)
        right = right if hermitian else xp.conj(right)  # (hermitian: right = V^T, so right^H = V is conj(V^T)^T)
    return xp.matmul(_mT(xp, right) * w_inv[..., None, :], _mT(xp, left))  # V diag(1/s) U^T


@pinv.defvjp
def pinv_backward(ctx, gy):
    # Golub & Pereyra (constant rank), P = A^+: dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
    #  =>  gA = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A), each written without an identity
    a, p = ctx.saved
    xp = ctx.xp
    pt, gt = _mT(xp, p), _mT(xp, gy)
    if gy.dtype.kind == "c":  # complex: every transpose a conjugate transpose (P^H, G^H)
        pt, gt = ctx.call(conj, pt), ctx.call(conj, gt)
    t1 = -xp.matmul(xp.matmul(pt, gy), pt)
    t2 = xp.matmul(gt - xp.matmul(a, xp.matmul(p, gt)), xp.matmul(p, pt))  # (I - A P) G^T P P^T
    t3 = xp.matmul(xp.matmul(pt, p), gt - xp.matmul(xp.matmul(gt, p), a))  # P^T P G^T (I - P A)
    return (t1 + t2 + t3,)


# ---------------------------------------------------------------- LU factorization
# lu_factor packs LU (m, n), the 1-based pivots as floats (k,) and the permutation matrix P (m, m) with
# A = P L U; pivots and P are constants (the public functions detach them), P serves the backward.


def _check_lu_factor(a, *, pivot=True):
    _check_matrix("lu_factor", a)


def _getrf_host(a):
    """LAPACK getrf on each matrix of a NumPy stack (torch's CPU kernel): LU and 0-based pivots."""
    from scipy.linalg import lapack  # (scipy is a dependency; imported when first used)

    m, n = a.shape[-2:]
    flat = a.reshape((-1, m, n))
    getrf = lapack.get_lapack_funcs("getrf", (flat,))
    lu = np.empty_like(flat)
    piv = np.empty((flat.shape[0], min(m, n)), dtype=np.int64)
    for i, mat in enumerate(flat):
        lu[i], piv[i], _ = getrf(mat)
    return lu.reshape(a.shape), piv.reshape(a.shape[:-2] + (min(m, n),))


def _getrf_generic(xp, a, pivot):
    """Gaussian elimination over the whole batch at once, one column per step (any backend, pivot or not)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = int(np.prod(a.shape[:-2]))  # (not -1: an empty matrix has none to infer)
    lu = xp.array(a, copy=True).reshape((batch, m, n))
    piv = xp.zeros((lu.shape[0], k), dtype=xp.int64)
    rows = xp.arange(lu.shape[0])
    for j in range(k):
        if pivot:  # partial pivoting: the row with the largest |value| in column j (the first one on ties)
            p = xp.argmax(xp.abs(lu[:, j:, j]), axis=-1) + j
            top, low = lu[:, j, :].copy(), lu[rows, p, :].copy()
            lu[:, j, :] = low
            lu[rows, p, :] = top
            piv[:, j] = p
        else:
            piv[:, j] = j
        d = lu[:, j, j]
        lu[:, j + 1 :, j] /= xp.where(d == 0, 1, d)[:, None]  # a zero pivot is left unscaled (LAPACK's rule)
        lu[:, j + 1 :, j + 1 :] -= lu[:, j + 1 :, j : j + 1] * lu[:, j : j + 1, j + 1 :]
    return lu.reshape(a.shape), piv.reshape(a.shape[:-2] + (k,))


def _permutation(xp, piv, m, dtype):
    """P (..., m, m) with A = P L U from 0-based LAPACK pivots (row j was swapped with row piv[j])."""
    batch = piv.shape[:-1]
    piv2 = piv.reshape((int(np.prod(batch)), piv.shape[-1]))
    perm = xp.array(xp.broadcast_to(xp.arange(m), (piv2.shape[0], m)), copy=True)
    rows = xp.arange(piv2.shape[0])
    for j in range(piv2.shape[-1]):
        p = piv2[:, j]
        top, low = perm[:, j].copy(), perm[rows, p].copy()
        perm[:, j] = low
        perm[rows, p] = top
    out = xp.zeros((piv2.shape[0], m, m), dtype=dtype)
    out[rows[:, None], perm, xp.arange(m)[None, :]] = 1  # (P^T A)[i] = A[perm[i]]
    return out.reshape(batch + (m, m))


@op("lu_factor", save_output=True, check=_check_lu_factor)
def lu_factor(xp, a, *, pivot=True):
    """LU with partial pivoting (A = P L U, L unit lower, U upper), packed with the pivots and P."""
    if pivot and xp is np and a.size:
        lu, piv = _getrf_host(a)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            lu, piv = _getrf_generic(xp, a, pivot)
    p = _permutation(xp, piv, a.shape[-2], a.dtype)
    return _pack(xp, a.shape[:-2], lu, (piv + 1).astype(a.dtype), p)


def _solve_left_t(ctx, t, x):
    """T^-T X for a (triangular) square T."""
    return ctx.call(solve, _mT(ctx.xp, t), x)


def _solve_right_t(ctx, t, x):
    """X T^-T for a (triangular) square T: (T^-1 X^T)^T."""
    xp = ctx.xp
    return _mT(xp, ctx.call(solve, t, _mT(xp, x)))


@lu_factor.defvjp
def lu_factor_backward(ctx, gy):
    # torch's linalg_lu_backward (A = P L U, k = min(m, n)), with gL = tril(gLU[:, :k], -1), gU = triu(gLU[:k]):
    #   square: gA = P L^-T [tril(L^T gL, -1) + triu(gU U^T)] U^-T
    #   wide:   gA = P L^-T [(tril(L^T gL - triu(gU) U^T, -1) U1^-T + triu(gU1)) | gU2]      (U = [U1 | U2])
    #   tall:   gA = P [(L1^-T triu(gU U^T - L^T gL) + gL1) ; gL2] U^-T                    (L = [L1 ; L2])
    # complex: the factorization is holomorphic, so gA is the same formula in conj(L), conj(U) (^T becomes ^H)
    (y,) = ctx.saved
    xp = ctx.xp
    if gy.dtype.kind == "c":
        y = ctx.call(conj, y)
    shape = ctx.input_shapes[0]
    m, n = shape[-2], shape[-1]
    k = min(m, n)
    cores = layout("lu_factor", shape)
    lu, _, p = unpack(y, cores)
    glu = unpack(gy, cores)[0]
    eye = _eye_like(ctx, lu[..., 0, :k])
    if m > k:  # L is m x k: the identity on its top k rows
        eye = ctx.call(cat, eye, lu[..., k:, :k] * 0, axis=-2)
    low = ctx.call(tril, lu[..., :, :k], diagonal=-1) + eye
    up = ctx.call(triu, lu[..., :k, :])
    gl = ctx.call(tril, glu[..., :, :k], diagonal=-1)
    gu = ctx.call(triu, glu[..., :k, :])
    if m == n:
        g = ctx.call(tril, xp.matmul(_mT(xp, low), gl), diagonal=-1) + ctx.call(triu, xp.matmul(gu, _mT(xp, up)))
        g = _solve_left_t(ctx, low, _solve_right_t(ctx, up, g))
    elif m < n:
        u1 = up[..., :, :k]
        g = xp.matmul(_mT(xp, low), gl) - xp.matmul(gu, _mT(xp, up))
        g = _solve_right_t(ctx, u1, ctx.call(tril, g, diagonal=-1))
        g = ctx.call(cat, g + gu[..., :, :k], gu[..., :, k:], axis=-1)
        g = _solve_left_t(ctx, low, g)
    else:
        l1 = low[..., :k, :]
        g = xp.matmul(gu, _mT(xp, up)) - xp.matmul(_mT(xp, low), gl)
        g = _solve_left_t(ctx, l1, ctx.call(triu, g))
        g = ctx.call(cat, g + gl[..., :k, :], gl[..., k:, :], axis=-2)
        g = _solve_right_t(ctx, up, g)
    return (xp.matmul(p, g),)


# ---------------------------------------------------------------- non-symmetric eigendecomposition


def _on_host(xp, fn, *arrays):
    """``fn`` on NumPy copies of ``arrays`` when the backend lacks it (CuPy has no general eig), back on the device."""
    if xp is np:
        return fn(*arrays)
    outs = fn(*(xp.asnumpy(a) for a in arrays))
    return tuple(xp.asarray(o) for o in outs) if isinstance(outs, tuple) else xp.asarray(outs)


@op("eig", save_output=True, check=_check_square("eig"))
def eig(xp, a):
    """Eigenvalues and (unit, as LAPACK geev) eigenvectors of a general real matrix: complex, packed."""
    w, v = _on_host(xp, np.linalg.eig, a)
    c = xp.result_type(a.dtype, xp.complex64)
    _dtypes.note_complex()  # (complex eigenpairs of a real matrix: see registry._REAL_ONLY)
    return _pack(xp, a.shape[:-2], w.astype(c), v.astype(c))


_EIG_PHASE = (
    "linalg_eig_backward: The eigenvectors in the complex case are specified up to multiplication by e^{i phi}. "
    "The specified loss function depends on this quantity, so it is ill-defined."
)


@eig.defvjp
def eig_backward(ctx, gy):
    # torch's linalg_eig_backward (A = V diag(w) V^-1, unit columns v_i): with K = V^H gV,
    #   gA = V^-H [diag(gw) + off-diagonal of (K - V^H V diag(Re diag K)) / conj(E)] V^H,  E_ij = w_j - w_i
    # (the V^H V term: the eigenvectors are kept at norm 1). v_i e^{i phi} is an eigenvector too, so the loss
    # must not depend on the phases: Im diag K = 0 (torch's lax check and RuntimeError). eigvals (gV unused):
    # gA = V^-H diag(gw) V^H. A real A takes the real part (the engine casts the gradient to A's dtype).
    (y,) = ctx.saved
    xp = ctx.xp
    cores = layout("eig", ctx.input_shapes[0])
    w, v = unpack(y, cores)
    gw, gv = unpack(gy, cores)
    vh = _mH(ctx, v)
    if _unused(gv):
        return (ctx.call(solve, vh, xp.expand_dims(gw, -1) * vh),)
    eye = _eye_like(ctx, w)
    k = xp.matmul(vh, gv)
    d = _diag(ctx, k, eye)
    if not bool((abs(ctx.call(imag, d)) <= 1e-2).all()):
        raise RuntimeError(_EIG_PHASE)
    k = k - xp.matmul(vh, v * xp.expand_dims(ctx.call(real, d), -2))
    wc = ctx.call(conj, w)
    k = k / (wc[..., None, :] - wc[..., :, None] + eye)
    if not _unused(gw):
        k = k * (1 - eye) + ctx.call(diag_embed, gw)
    return (ctx.call(solve, vh, xp.matmul(k, vh)),)


# ---------------------------------------------------------------- strided views of memory (as_strided)
# (a shape op by nature; it lives here with the other multi-part kernels, so ops/shape.py stays the
# reshape/permute/expand/getitem primitives)


def _address(a):
    # (NumPy's from __array_interface__: ``a.data`` is a buffer export, which ml_dtypes' bfloat16 refuses)
    iface = getattr(a, "__array_interface__", None)
    return int(iface["data"][0]) if iface is not None else int(a.data.ptr)


def storage_of(xp, x):
    """x's memory as torch sees it: the 1-D array (x's dtype) over the allocation x views, and x's offset
    into it in elements; memory it cannot see through (foreign, non-contiguous) is a contiguous copy of x."""
    root = x
    while getattr(root, "base", None) is not None and hasattr(root.base, "strides"):
        root = root.base
    item = x.dtype.itemsize
    flat = None
    if root.flags.c_contiguous and root.nbytes % item == 0:
        flat = root.reshape(-1)
    elif root.flags.f_contiguous and root.nbytes % item == 0:
        flat = root.T.reshape(-1)
    if flat is not None and flat.dtype != x.dtype:
        flat = flat.view(x.dtype) if flat.dtype.itemsize % item == 0 or flat.nbytes % item == 0 else None
    if flat is None or (_address(x) - _address(flat)) % item:
        return xp.ascontiguousarray(x).reshape(-1), 0
    return flat, (_address(x) - _address(flat)) // item


def strided_view(xp, flat, size, stride, offset):
    """The view of 1-D ``flat`` with ``size`` and ``stride`` (in elements) from element ``offset`` (torch's
    bounds check first)."""
    need = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(n > 0 for n in size) else 0
    if need > flat.size:
        item = flat.dtype.itemsize
        raise ValueError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and itemsize {item} "
            f"requiring a storage size of {need * item} are out of bounds for storage of size {flat.size * item}"
        )
    strides = tuple(s * flat.dtype.itemsize for s in stride)
    if xp is np:  # (an ndarray over the buffer: its .base is the allocation, so storage_offset() sees through it)
        return np.ndarray(size, flat.dtype, buffer=flat, offset=offset * flat.dtype.itemsize, strides=strides)
    return xp.lib.stride_tricks.as_strided(flat[offset:], size, strides)


def _positions(xp, size, stride, offset):
    """The storage position (in elements) of every element of the (size, stride, offset) view, int64."""
    pos = xp.full(tuple(size), offset, dtype=xp.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        pos += xp.arange(n, dtype=xp.int64).reshape((n,) + (1,) * (len(size) - d - 1)) * s
    return pos


def _self_overlapping(xp, shape, strides, positions) -> bool:
    """Whether two elements of an array share memory: ruled out in O(ndim) when each stride, the dims
    sorted by it, passes the extent of the smaller ones (any C- or F-ordered view); else the positions
    are counted."""
    reach = 0
    for st, n in sorted((abs(st), n) for st, n in zip(strides, shape) if n > 1):
        if st <= reach:
            break
        reach += (n - 1) * st
    else:
        return False
    return bool(positions.size) and int(positions.size) != int(xp.unique(positions).size)


@op("as_strided", view=True, aux=True)
def as_strided(xp, x, *, size, stride, storage_offset=None):
    """torch's as_strided: x's memory read as ``size`` with ``stride`` (elements) from ``storage_offset``
    (absolute; None: x's own), a view. aux: the storage positions of the output's elements, then the
    input's, then (input elements sharing memory, as expand's) how many input elements share each one."""
    flat, at = storage_of(xp, x)
    off = at if storage_offset is None else storage_offset
    y = strided_view(xp, flat, size, stride, off)
    out_pos = _positions(xp, size, stride, off).reshape(-1)
    in_pos = _positions(xp, x.shape, tuple(s // x.dtype.itemsize for s in x.strides), at).reshape(-1)
    parts = [out_pos, in_pos]
    if _self_overlapping(xp, x.shape, x.strides, in_pos):  # (expand, unfold with step < size: as torch's)
        n = int(max(out_pos.max() if out_pos.size else 0, in_pos.max() if in_pos.size else 0)) + 1
        parts.append(xp.maximum(xp.bincount(in_pos, minlength=n), 1))
    return y, xp.concatenate(parts)


@as_strided.defvjp
def as_strided_backward(ctx, gy):
    # torch's as_strided_backward: gy added into zeros over the storage at the output's positions (positions
    # read twice accumulate), divided by the sharing count where the input overlaps itself, read back at the
    # input's positions. Two linear index ops, so double backward follows.
    size = ctx.attrs["size"]
    shape = ctx.input_shapes[0]
    n_out, n_in = _size(size), _size(shape)
    aux = ctx.aux
    out_pos, in_pos, count = aux[:n_out], aux[n_out : n_out + n_in], aux[n_out + n_in :]
    n = int(max(out_pos.max() if n_out else 0, in_pos.max() if n_in else 0)) + 1
    storage = ctx.call(getitem_grad, gy, index=(out_pos.reshape(tuple(size)),), shape=(n,))
    if count.size:
        storage = storage / count.astype(gy.dtype)
    return (ctx.call(getitem, storage, index=(in_pos.reshape(tuple(shape)),)),)


def strided_zeros(xp, size, stride, dtype):
    """Zeros laid out with ``stride`` (elements) over a fresh buffer just large enough: empty_strided's array."""
    if len(size) != len(stride):
        raise ValueError(f"mismatch in length of strides and shape: {len(size)} sizes, {len(stride)} strides")
    if any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise ValueError(f"empty_strided: sizes {list(size)} and strides {list(stride)} must be non-negative")
    need = sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(n > 0 for n in size) else 0
    return strided_view(xp, xp.zeros(need, dtype=dtype), tuple(size), tuple(stride), 0)
