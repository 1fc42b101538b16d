"""Neural-network ops with fused, numerically stable kernels: softmax family and losses."""

from __future__ import annotations

import numpy as np

from backprop import dtypes
from backprop.backends.cupy_backend import defer_range_check
from backprop.ops._util import ShapeError, c_order, reusable_empty
from backprop.ops.activation import logsigmoid
from backprop.ops.elementwise import maximum, sigmoid
from backprop.registry import op


def _refuse_complex(name, x, axis=-1):
    """torch has no softmax of complex logits (no max to shift by), nor of integers (cast first, or pass
    ``dtype=``): the same errors here (NotImplementedError is a RuntimeError, as torch's)."""
    if x.dtype.kind == "c":
        raise NotImplementedError(f"{name}: not implemented for complex input (dtype {x.dtype}), as in torch")
    if x.dtype.kind in "iub":
        kernel = "lastdim_kernel_impl" if x.ndim <= 1 or axis % x.ndim == x.ndim - 1 else "kernel_impl"
        raise NotImplementedError(f"\"{name}_{kernel}\" not implemented for '{dtypes.scalar_type_name(x.dtype)}'")


@op("softmax", save_output=True)
def softmax(xp, x, *, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max (no overflow for large x)."""
    _refuse_complex("softmax", x, axis)
    if x.size == 0:  # nothing to normalise (max has no identity): an empty result, as torch
        return xp.empty_like(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return c_order(xp, e / xp.sum(e, axis=axis, keepdims=True))  # contiguous, as torch's (also of a transpose)


@softmax.defvjp
def softmax_backward(ctx, gy):  # dx = y * (gy - sum(gy * y))
    (y,) = ctx.saved
    axis = ctx.attrs["axis"]
    return (y * (gy - ctx.xp.sum(gy * y, axis=axis, keepdims=True)),)


@op("softmax_of", save_output=True)
def softmax_of(xp, x, *, probs):
    """The softmax of x along its last axis, already computed (``probs``): how the fused cross-entropy's
    backward records softmax(x) for a double backward without keeping x's values (its gradient needs
    only the output)."""
    return probs


@softmax_of.defvjp
def softmax_of_backward(ctx, gy):  # dx = y * (gy - sum(gy * y)), as softmax's
    (y,) = ctx.saved
    return (y * (gy - ctx.xp.sum(gy * y, axis=-1, keepdims=True)),)


@op("log_softmax", save_output=True)
def log_softmax(xp, x, *, axis=-1):
    """x - logsumexp(x) along ``axis``, computed stably."""
    _refuse_complex("log_softmax", x, axis)
    if x.size == 0:
        return xp.empty_like(x)
    if x.dtype.itemsize == 2 and dtypes.is_floating(x.dtype):  # float16/bfloat16: as torch's kernel, in
        h, x = x.dtype, x.astype(xp.float32)  # float32; along the last axis with the sum of exp and its log
        shifted = x - xp.max(x, axis=axis, keepdims=True)  # rounded to the half dtype, along another axis
        s = xp.sum(xp.exp(shifted), axis=axis, keepdims=True)  # (torch's vertical kernel) rounded once
        if x.ndim and axis % x.ndim == x.ndim - 1:  # (bit for bit torch's CPU results)
            y = (shifted - xp.log(s.astype(h).astype(xp.float32)).astype(h).astype(xp.float32)).astype(h)
            return c_order(xp, y)
        return c_order(xp, (shifted - xp.log(s)).astype(h))
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return c_order(xp, shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True)))  # (as softmax)


@log_softmax.defvjp
def log_softmax_backward(ctx, gy):  # dx = gy - softmax(x) * sum(gy)
    (y,) = ctx.saved
    xp = ctx.xp
    axis = ctx.attrs["axis"]
    return (gy - xp.exp(y) * xp.sum(gy, axis=axis, keepdims=True),)


def _check_cross_entropy(x, target, weight=None, **attrs):
    if x.ndim != 2:
        raise ShapeError(f"cross_entropy: expected logits of shape (N, C), got {tuple(x.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: expected integer class indices as target, got dtype {target.dtype}")
    if target.shape != x.shape[:1]:
        raise ShapeError(
            f"cross_entropy: target shape {tuple(target.shape)} does not match logits "
            f"{tuple(x.shape)}; expected ({x.shape[0]},)"
        )
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != x.shape[1]):
        raise ShapeError(
            f"cross_entropy: weight of shape {tuple(weight.shape)} does not match {x.shape[1]} classes; "
            f"expected ({x.shape[1]},)"
        )


@op("cross_entropy", aux=True, check=_check_cross_entropy)
def cross_entropy(
    xp, x, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0, folded=False
):
    """Softmax cross-entropy of logits (N, C) against class ids (N,), fused; optional class weights (C,).

    loss_n = (1 - eps) w_t (lse_n - x[n, t_n]) + eps/C sum_c w_c (lse_n - x[n, c]) (w = 1 without
    weights); rows whose target is ``ignore_index`` contribute 0, and the mean divides by the summed
    w_t of the other rows (their count without weights), as torch. No one-hot matrix is built, and
    the (N, C) work is four passes into one buffer: max, subtract, exp (in place), sum. ``folded``: the
    rows are an (N, C, d...) input's, folded (torch reduces those with its 2-d kernel's order).
    """
    return _cross_entropy(xp, x, target, weight, ignore_index, reduction, label_smoothing, False, folded)


@cross_entropy.defdonating
def cross_entropy_in_logits(
    xp, x, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0, folded=False
):
    """``cross_entropy`` computed in the logits' own buffer (a replay whose logits die here): the
    forward then needs no second (N, C) array, as a hand-written step that overwrites its logits."""
    return _cross_entropy(xp, x, target, weight, ignore_index, reduction, label_smoothing, True, folded)


def _cross_entropy(xp, x, target, weight, ignore_index, reduction, label_smoothing, in_x, folded=False):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if xp is np and x.dtype.itemsize == 2 and dtypes.is_floating(x.dtype):  # float16/bfloat16: in float32,
        out, aux = _cross_entropy(  # rounded as torch's log_softmax and nll_loss kernels round
            xp, x.astype(np.float32), target, None if weight is None else weight.astype(np.float32),
            ignore_index, reduction, label_smoothing, False,
        )  # fmt: skip
        if label_smoothing or (folded and reduction != "none") or target.shape[0] == 0:
            return out.astype(x.dtype), aux
        return _half_nll(aux, x, weight, reduction), aux
    n, c = x.shape
    msg = f"target {{value}} is out of range for {c} classes (expected 0..{c - 1} or ignore_index={ignore_index})"
    if xp is np:  # host reads are free: check eagerly, and skip the masking when no target is ignored
        lo, hi = (int(np.minimum.reduce(target)), int(np.maximum.reduce(target))) if n else (0, -1)
        if not lo <= ignore_index <= hi:  # no row is ignored (the common case): no mask, here or in the
            valid, t = None, target  # backward, and the range check reuses the two reductions
        else:
            valid = target != ignore_index
            if valid.all():
                valid, t = None, target
            else:
                t = np.where(valid, target, 0)
                lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= c:
            bad = t[(t < 0) | (t >= c)][0]
            raise IndexError(f"cross_entropy: {msg.format(value=int(bad))}")
    else:
        valid = target != ignore_index
        t = xp.where(valid, target, 0)
        if n and defer_range_check(xp, "cross_entropy", t, 0, c - 1, msg):  # no sync; raised at the next read
            t = xp.clip(t, 0, c - 1)  # in bounds until the error is raised
    # (on NumPy the ufuncs' own reduce: the array methods add a Python frame each, and this op runs
    # once per training step, where such frames are a visible part of a small model's step)
    m = np.maximum.reduce(x, axis=1, keepdims=True) if xp is np else x.max(axis=1, keepdims=True)
    loss = m[:, 0] - x[xp.arange(n), t]  # -(shifted logit of the target)
    if in_x and x.dtype.kind == "f" and 0 not in x.strides:  # (never into a broadcast view)
        e = x
    else:  # (the softmax buffer lives until the backward: a large one is reused across steps)
        e = reusable_empty(xp, "cross_entropy", x.shape, x.dtype)
    s = xp.empty(n, dtype=e.dtype)
    if weight is None and not label_smoothing:
        _exp_shifted(xp, x, m, e, s)
        loss += xp.log(s)  # + lse (shifted)
        aux = (e, s, t, valid)
        cnt = xp.asarray(n if valid is None else valid.sum(), dtype=x.dtype)
    else:  # loss_n = a_n lse_n - (1 - eps) w_t e_t - eps/C sum_c w_c e_c, a_n = (1 - eps) w_t + eps/C sum(w)
        xp.subtract(x, m, out=e)  # shifted logits: exp cannot overflow
        w = None if weight is None else weight.astype(x.dtype, copy=False)
        wt = None if w is None else w[t]
        if wt is not None:
            loss = (1 - label_smoothing) * wt * loss
        if label_smoothing:
            if w is None:
                loss = (1 - label_smoothing) * loss - label_smoothing * e.mean(axis=1)
            else:
                loss = loss - (label_smoothing / c) * (e @ w)
        xp.exp(e, out=e)
        e.sum(axis=1, out=s)
        if w is None:
            loss += xp.log(s)
            aux = (e, s, t, valid)
            cnt = xp.asarray(n if valid is None else valid.sum(), dtype=x.dtype)
        else:
            a = (1 - label_smoothing) * wt
            if label_smoothing:
                a = a + (label_smoothing / c) * w.sum()
            loss += a * xp.log(s)
            aux = (e, s, t, valid, wt, a, w)
            cnt = (wt if valid is None else xp.where(valid, wt, 0)).sum()
    if valid is not None:
        loss = xp.where(valid, loss, 0)
    if reduction == "mean" and valid is None and weight is None and n:  # cnt = n > 0
        out = (np.add.reduce(loss) if xp is np else loss.sum()) / cnt
    elif reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored: nan, silently, as torch
            out = loss.sum() / cnt
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss
    return out.astype(x.dtype, copy=False), aux[:4] + (cnt,) + aux[4:]


def _half_nll(aux, x, weight, reduction):
    """The float16/bfloat16 cross-entropy of logits ``x`` as torch's CPU kernels give it: log_softmax rounded
    as its kernel rounds, the picked log-probabilities (times their class weight) rounded to the half dtype,
    and for "sum"/"mean" torch's nll_loss reduction: a cascade of sums in the half dtype (``_cascade_sum``),
    the mean dividing by the count (or the summed weights) rounded to it. From the float32 forward's buffers."""
    h, f32 = x.dtype, np.float32
    e, s, t, valid = aux[:4]
    rows = np.arange(x.shape[0])
    xt = x[rows, t].astype(f32)
    m = np.maximum.reduce(x, axis=1).astype(f32)
    lse = np.log(s.astype(h).astype(f32)).astype(h).astype(f32)
    loss = -((xt - m - lse).astype(h).astype(f32))  # -log_softmax(x)[n, t_n], as torch rounds it
    w = None if weight is None else weight[t].astype(f32)
    if w is not None:
        loss = (loss * w).astype(h).astype(f32)
    keep = rows if valid is None else np.flatnonzero(valid)
    if reduction == "none":
        return (loss if valid is None else np.where(valid, loss, 0)).astype(h)
    total = _cascade_sum(loss[keep], keep, x.shape[0], h)
    if reduction == "sum":
        return np.asarray(total, dtype=h)
    count = f32(len(keep)).astype(h) if w is None else _cascade_sum(w[keep], keep, x.shape[0], h)
    with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored: nan, as torch
        return np.asarray(f32(total) / f32(count), dtype=f32).astype(h)


def _cascade_sum(v, keys, n, h, levels=8):
    """torch's CPU nll_loss sum of ``v`` (float32 values of dtype ``h``, rows ``keys`` of a batch of ``n``), each
    addition rounded to ``h``: level 0 adds the rows one by one and, at a row whose index is a multiple of
    16 (16**j at level j), adds its partial sum into level j + 1 and restarts; the 8 partial sums are then
    added in order. Vectorised over the runs of each level (a run: the adds between two such rows)."""
    step = 1 << max(4, (max(n, 1) - 1).bit_length() // levels)
    parts = []
    for j in range(levels):
        ends = np.flatnonzero(keys % step ** (j + 1) == 0) if j + 1 < levels else np.zeros(0, np.int64)
        run = np.zeros(len(v) + 1, np.int64)
        run[ends + 1] = 1  # (a run ends with the row that adds it into the next level)
        run = np.cumsum(run[:-1])
        first = np.concatenate(([0], ends + 1))[run] if len(v) else run
        pos = np.arange(len(v)) - first
        table = np.zeros((run[-1] + 1 if len(v) else 0, pos.max() + 1 if len(v) else 0), np.float32)
        table[run, pos] = v
        acc = np.zeros(len(table), np.float32)
        for col in table.T:  # (padding adds 0: exact)
            acc = (acc + col).astype(h).astype(np.float32)
        parts.append(acc[len(ends)] if len(acc) > len(ends) else np.float32(0))
        v, keys = acc[: len(ends)], keys[ends]
    total = np.float32(0)
    for p in parts:
        total = np.float32(np.float32(total + p).astype(h))
    return total


@op("nll_sum")
def nll_sum(xp, v, valid):
    """The sum of nll_loss's per-row terms ``v`` (N,) over the rows where ``valid``: in float16/bfloat16 on the
    CPU torch's cascade of half sums (``_cascade_sum``: its ignored rows add nothing and end no run), else
    ``v.sum()`` (v is 0 at the ignored rows)."""
    if xp is np and v.dtype.itemsize == 2 and dtypes.is_floating(v.dtype):
        keep = np.flatnonzero(valid)
        return np.asarray(_cascade_sum(v[keep].astype(np.float32), keep, v.shape[0], v.dtype), dtype=v.dtype)
    return xp.sum(v)


@nll_sum.defvjp
def nll_sum_backward(ctx, gy):  # d sum = gy at every row (the ignored rows' terms are 0 times their weight)
    return ctx.xp.broadcast_to(gy, ctx.input_shapes[0]), None


# Rows per block of the cross-entropy forward on NumPy: about 512 KB of logits, so the exp and the row
# sums run on what the subtraction just wrote, still in cache. Measured on a 2-core VM (2026-12-06, one
# thread), forward of 256 x 10000 float32: 2.92 ms in one pass, 2.63 ms in blocks of 13 rows (2.69 with
# 256 KB blocks); 1024 x 10000: 18.5 / 17.0 ms; 64 x 2000 is one block.
_CE_BLOCK = 1 << 17


def _exp_shifted(xp, x, m, e, s):
    """e = exp(x - m) and s = its row sums, in row blocks that stay in cache (NumPy; one block on a GPU)."""
    n, c = x.shape
    rows = max(1, _CE_BLOCK // max(c, 1)) if xp is np else n
    if rows >= n:
        xp.subtract(x, m, out=e)
        xp.exp(e, out=e)
        if xp is np:
            np.add.reduce(e, axis=1, out=s)
        else:
            e.sum(axis=1, out=s)
        return
    for i in range(0, n, rows):
        eb = e[i : i + rows]
        xp.subtract(x[i : i + rows], m[i : i + rows], out=eb)
        xp.exp(eb, out=eb)
        eb.sum(axis=1, out=s[i : i + rows])


@cross_entropy.defvjp
def cross_entropy_backward(ctx, gy):
    # dx = (softmax - (1-eps) onehot - eps/C) * w_n without class weights;
    # dx = (a_n softmax - (1-eps) w_t onehot - eps/C w) * g_n with them (a_n as in the forward)
    if ctx.create_graph:
        return _cross_entropy_graph_backward(ctx, gy)
    e, s, t, valid, cnt, *weighted = ctx.aux  # softmax = e / s: the division folds into the row weights
    xp = ctx.xp
    reduction = ctx.attrs["reduction"]
    eps = ctx.attrs["label_smoothing"]
    if valid is None and not weighted:  # every row counts, cnt = N > 0: one weight for all rows
        w = gy / cnt if reduction == "mean" else gy
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            w = gy / cnt if reduction == "mean" else gy
        w = w if valid is None else xp.where(valid, w, 0)  # (N,) per-row weight
    w = w.astype(e.dtype, copy=False)
    rows = xp.arange(e.shape[0])
    if not weighted:
        if ctx.aux_consumable:  # the last use of e: the gradient goes into its buffer (no new (N, C) array)
            gx = e
            gx *= (w / s)[:, None]
        else:
            gx = e * (w / s)[:, None]
        gx[rows, t] -= (1 - eps) * w
        if eps:
            gx -= (eps / e.shape[1]) * w[..., None]
        return gx, None, None
    wt, a, weight = weighted
    gx = e * (w * a / s)[:, None]
    gx[rows, t] -= (1 - eps) * w * wt
    if eps:
        gx -= (eps / e.shape[1]) * w[..., None] * weight
    return gx, None, None


def _cross_entropy_graph_backward(ctx, gy):
    """``cross_entropy``'s gradient as recorded ops (``create_graph=True``): W_n (A_n softmax(x) - B), with
    softmax(x) a ``softmax_of`` node on x's producer (x's values are not kept: the forward's exp buffer
    gives the probabilities), so second derivatives in x (the softmax Jacobian) and in gy follow."""
    e, s, t, valid, cnt, *weighted = ctx.aux
    if not ctx.needs_input_grad[0]:
        return (None,) * len(ctx.needs_input_grad)
    xp = ctx.array_xp
    reduction, eps = ctx.attrs["reduction"], ctx.attrs["label_smoothing"]
    n, c = e.shape
    probs = e / s[:, None]
    rows = xp.arange(n)
    target = xp.zeros((n, c), dtype=e.dtype)
    if weighted:
        wt, a, weight = weighted
        target[rows, t] = (1 - eps) * wt
        if eps:
            target += (eps / c) * weight.astype(e.dtype, copy=False)
        scale_a = a.astype(e.dtype, copy=False)
    else:
        target[rows, t] = 1 - eps
        if eps:
            target += eps / c
        scale_a = xp.ones(n, dtype=e.dtype)
    keep = xp.ones(n, dtype=e.dtype) if valid is None else valid.astype(e.dtype)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            keep = keep / cnt
    p = ctx.call(softmax_of, ctx.graph_input(0), probs=probs)  # x's values are not needed, only its node
    if gy.ndim == 0:  # 'mean' or 'sum': W_n = gy keep_n
        gx = gy * (p * (scale_a * keep)[:, None] - target * keep[:, None])
    else:  # 'none': one gy per row
        w = gy * keep
        gx = (w * scale_a).reshape((n, 1)) * p - w.reshape((n, 1)) * target
    return gx, None, None


_BCE_EPSILON = float(np.float32(1e-12))  # torch's EPSILON is a float, also in the float64 kernel


@op("binary_cross_entropy", save_inputs=(0, 1))
def binary_cross_entropy(xp, p, y):
    """Elementwise -(y log p + (1 - y) log(1 - p)) on probabilities, each log clamped at -100: torch's
    kernel, (y - 1) max(log1p(-p), -100) - y max(log p, -100) (log(0) = -inf clamps to -100, NumPy's
    divide warning silenced by backprop's filter)."""
    return (y - 1) * xp.maximum(xp.log1p(-p), -100.0) - y * xp.maximum(xp.log(p), -100.0)


@binary_cross_entropy.defvjp
def binary_cross_entropy_backward(ctx, gy):
    # torch's formulas, not the clamped logs' derivative: dp = gy (p - y) / max(p (1 - p), 1e-12), so
    # -1e12 gy at p = 0, y = 1 (where the clamp gives 0); dy = -logit(p) gy, unclamped
    p, y = ctx.saved
    e = ctx.needs_input_grad
    gp = gy * (p - y) / ctx.call(maximum, (1 - p) * p, _BCE_EPSILON) if e[0] else None
    gt = -ctx.xp.log(p / (1 - p)) * gy if e[1] else None
    return gp, gt


@op("binary_cross_entropy_with_logits", save_inputs=(0, 1, 2))
def binary_cross_entropy_with_logits(xp, z, y, pos_weight=1.0):
    """Elementwise -(w y log s(z) + (1-y) log(1-s(z))) = (1-y) z - (1 + (w-1) y) log s(z), with
    log s(z) = min(z,0) - log(1 + e^-|z|) and w the ``pos_weight`` array (the number 1.0 when there is
    none: the factor is skipped). torch's own steps, so the infinities agree: inf at z = inf, y = 0;
    NaN at z = -inf, 0 < y < 1."""
    log_s = xp.minimum(z, 0) - xp.log1p(xp.exp(-xp.abs(z)))
    if pos_weight.__class__ is not float:
        log_s = log_s * ((pos_weight - 1) * y + 1)
    return (1 - y) * z - log_s


@binary_cross_entropy_with_logits.defvjp
def binary_cross_entropy_with_logits_backward(ctx, gy):
    # dz = s(z) - y, dy = -z; with w: dz = (w y + 1 - y) s(z) - w y, dy = log s(-z) - w log s(z)
    # (torch's formulas, step for step: they differ from the loss's composition at infinite z)
    z, y, w = ctx.saved
    e = ctx.needs_input_grad
    if w.__class__ is float:
        gz = gy * (ctx.call(sigmoid, z) - y) if e[0] else None
        return gz, (-z * gy if e[1] else None), None
    wy = w * y
    gz = ((wy + 1 - y) * ctx.call(sigmoid, z) - wy) * gy if e[0] else None
    gt = (ctx.call(logsigmoid, -z) - ctx.call(logsigmoid, z) * w) * gy if e[1] else None
    return gz, gt, None
