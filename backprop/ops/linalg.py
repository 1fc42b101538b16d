"""Matrix multiplication with numpy/torch semantics (1-D, 2-D, batched, broadcast batch dims), and einsum."""

from __future__ import annotations

from backprop.ops._util import DTypeError, ShapeError
from backprop.ops.shape import diag_embed
from backprop.registry import op, ufunc_op


def _check_matmul(a, b):
    """The shape/dtype rule: inner dimensions agree, operands are not scalars, dtypes match."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ShapeError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"({ka} != {kb}: the last dim of the first must equal the "
            f"{'second-to-last' if b.ndim > 1 else 'only'} dim of the second)"
        )
    if a.dtype != b.dtype:
        raise DTypeError(
            f"matmul: expected both operands to have the same dtype, got {a.dtype} and {b.dtype} "
            f"(shapes {tuple(a.shape)} and {tuple(b.shape)}); cast one with .to(dtype)"
        )


matmul = ufunc_op("matmul", "matmul", "a @ b.", save_inputs=(0, 1), check=_check_matmul)


@matmul.defvjp
def matmul_backward(ctx, gy):
    # y = a b  =>  da = gy b^T, db = a^T gy; 1-D operands are promoted to matrices and back, and
    # broadcast batch dims are summed away by the engine.
    a, b = ctx.saved
    xp = ctx.xp
    e = ctx.needs_input_grad
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
    """The shape/dtype rule of linear: x (..., in), w (out, in), b (out,) (or broadcastable) or None."""
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ShapeError(
            f"linear: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} features but weight "
            f"of shape {tuple(w.shape)} expects (out_features, {w.shape[-1] if w.ndim else '?'})"
        )
    if b is not None and tuple(b.shape) not in ((w.shape[0],), (1,), ()):
        raise ShapeError(f"linear: bias of shape {tuple(b.shape)} does not match out_features {w.shape[0]}")
    if x.dtype != w.dtype:
        raise DTypeError(f"linear: input dtype {x.dtype} differs from weight dtype {w.dtype}; cast one with .to(dtype)")


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
    gx = xp.matmul(gy, w) if e[0] else None
    gw = None
    if e[1]:
        x2 = xp.reshape(x, (-1, in_f)) if x.ndim != 2 else x
        gw = xp.matmul(xp.swapaxes(g2, 0, 1), x2)
    gb = xp.sum(g2, axis=0) if len(e) > 2 and e[2] else None
    return gx, gw, gb


# ---------------------------------------------------------------- einsum


def _check_einsum(a, b=None, *, equation):
    xs = (a,) if b is None else (a, b)
    lhs = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for k, (sub, x) in enumerate(zip(lhs, xs)):
        if x.dtype != xs[0].dtype:
            raise DTypeError(
                f"einsum: expected all operands to have the same dtype, got {xs[0].dtype} (operand 0) "
                f"and {x.dtype} (operand {k}); cast one with .to(dtype)"
            )
        seen: dict[str, int] = {}
        for c, n in zip(sub, x.shape):
            if c in seen and seen[c] != n:
                raise ShapeError(
                    f"einsum: subscript {c} is repeated for operand {k} (shape {tuple(x.shape)}) but the "
                    f"sizes don't match, {n} != {seen[c]}"
                )
            seen[c] = n
            if c in sizes and n != sizes[c] and 1 not in (n, sizes[c]):
                raise ShapeError(
                    f"einsum: subscript {c} has size {n} for operand {k} (shape {tuple(x.shape)}) which does "
                    f"not broadcast with previously seen size {sizes[c]}"
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
