"""Connectionist temporal classification: the per-sequence negative log-likelihood (``ctc_loss``).

Graves et al. (2006): the target l (length S) is extended to l' = (blank, l_1, blank, ..., l_S, blank)
of 2S + 1 states; alpha_t(s) is the log-probability of all alignments of the first t + 1 frames that
end in state s, beta_t(s) that of the alignments of frames t..T-1 that start in s. Both recursions are
vectorised over the batch and run frame by frame in log space; padded states and frames past a
sequence's length are -inf.
"""

from __future__ import annotations

import numpy as np

from backprop.ops._util import ShapeError
from backprop.registry import op

_NEG = -np.inf


def _check_ctc(log_probs, targets, input_lengths, target_lengths, *, blank=0, zero_infinity=False):
    if log_probs.ndim != 3:
        raise ShapeError(f"ctc_loss: expected log_probs of shape (T, N, C), got {tuple(log_probs.shape)}")
    t, n, c = log_probs.shape
    if targets.ndim != 2 or targets.shape[0] != n:
        raise ShapeError(f"ctc_loss: expected padded targets of shape ({n}, S), got {tuple(targets.shape)}")
    if input_lengths.shape != (n,) or target_lengths.shape != (n,):
        raise ShapeError(
            f"ctc_loss: input_lengths {tuple(input_lengths.shape)} and target_lengths "
            f"{tuple(target_lengths.shape)} must both have shape ({n},)"
        )
    if not 0 <= blank < c:
        raise ValueError(f"ctc_loss: blank must be in label range [0, {c}), got {blank}")


def _extended(xp, targets, target_lengths, blank):
    """The extended labels l' (N, 2S+1), where a state may be entered from two states back (a label
    that differs from the previous label), and which states exist for each sequence's length."""
    n, s = targets.shape
    ext = xp.full((n, 2 * s + 1), blank, dtype=np.int64)
    ext[:, 1::2] = targets
    skip = xp.zeros((n, 2 * s + 1), dtype=bool)
    skip[:, 3::2] = targets[:, 1:] != targets[:, :-1]
    valid = xp.arange(2 * s + 1)[None, :] < (2 * target_lengths + 1)[:, None]
    return ext, skip, valid


def _lse3(xp, a, b, c):
    """log(e^a + e^b + e^c) elementwise, -inf where all three are -inf."""
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(xp.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return m + xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m))


def _shift(xp, a, k):
    """a moved k states to the right (k > 0) or left (k < 0) along the last axis, -inf filled."""
    out = xp.full_like(a, _NEG)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def _lp_ext(xp, log_probs, ext):
    """log_probs at the extended labels: (T, N, 2S+1)."""
    return log_probs[:, xp.arange(ext.shape[0])[:, None], ext]


@op("ctc_loss", save_inputs=(0, 1, 2, 3), aux=True, check=_check_ctc, double_backward=False)
def ctc_loss(xp, log_probs, targets, input_lengths, target_lengths, *, blank=0, zero_infinity=False):
    """-log p(target | log_probs) per sequence, (N,): log_probs (T, N, C), targets (N, S) padded,
    lengths (N,); alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) if allowed) +
    lp_t(l'_s). Impossible alignments give inf (0 with ``zero_infinity``)."""
    t_max, n, _ = log_probs.shape
    il, tl = input_lengths.astype(np.int64), target_lengths.astype(np.int64)
    ext, skip, valid = _extended(xp, targets.astype(np.int64), tl, blank)
    lp = _lp_ext(xp, log_probs, ext)
    alpha = xp.full(lp.shape, _NEG, dtype=log_probs.dtype)
    if t_max:
        alpha[0, :, 0] = lp[0, :, 0]
        if ext.shape[1] > 1:
            alpha[0, :, 1] = xp.where(tl > 0, lp[0, :, 1], _NEG)
    for t in range(1, t_max):
        a = alpha[t - 1]
        rec = _lse3(xp, a, _shift(xp, a, 1), xp.where(skip, _shift(xp, a, 2), _NEG)) + lp[t]
        alpha[t] = xp.where(valid, rec, _NEG)
    rows = xp.arange(n)
    last = alpha[xp.maximum(il - 1, 0), rows]  # (N, 2S+1) at each sequence's last frame
    end = last[rows, 2 * tl]
    before = xp.where(tl > 0, last[rows, xp.maximum(2 * tl - 1, 0)], _NEG)
    ll = xp.where(il > 0, xp.logaddexp(end, before), xp.where(tl == 0, 0.0, _NEG))
    nll = (-ll).astype(log_probs.dtype, copy=False)
    out = xp.where(xp.isinf(nll), 0, nll).astype(nll.dtype) if zero_infinity else nll
    return out, (alpha, nll)


@ctc_loss.defvjp
def ctc_loss_backward(ctx, gy):
    # torch's formula (LossCTC.cpp): d/d lp_t(c) = exp(lp_t(c)) - exp(lcab_t(c) + nll - lp_t(c)),
    # lcab_t(c) = lse over states s with l'_s = c of alpha_t(s) + beta_t(s). The second term is the
    # derivative of nll; the first makes it the gradient of the logits when log_probs = log_softmax(logits)
    # (and changes nothing there: log_softmax's backward removes it), as torch returns it.
    xp = ctx.xp
    log_probs, targets, input_lengths, target_lengths = ctx.saved
    alpha, nll = ctx.aux
    a = ctx.attrs
    t_max, n, c = log_probs.shape
    il, tl = input_lengths.astype(np.int64), target_lengths.astype(np.int64)
    ext, skip, valid = _extended(xp, targets.astype(np.int64), tl, a["blank"])
    lp = _lp_ext(xp, log_probs, ext)
    states = xp.arange(ext.shape[1])[None, :]
    ends = (states == 2 * tl[:, None]) | ((states == 2 * tl[:, None] - 1) & (tl[:, None] > 0))
    skip_in = xp.zeros_like(skip)  # s -> s + 2 allowed
    skip_in[:, :-2] = skip[:, 2:]
    beta = xp.full(lp.shape, _NEG, dtype=log_probs.dtype)
    nxt = xp.full(lp.shape[1:], _NEG, dtype=log_probs.dtype)
    for t in range(t_max - 1, -1, -1):
        rec = _lse3(xp, nxt, _shift(xp, nxt, -1), xp.where(skip_in, _shift(xp, nxt, -2), _NEG)) + lp[t]
        start = xp.where(ends, lp[t], _NEG)
        here = xp.where((t == il - 1)[:, None], start, xp.where((t < il - 1)[:, None] & valid, rec, _NEG))
        beta[t] = nxt = here
    ab = alpha + beta  # (T, N, 2S+1)
    m = ab.max(axis=2, keepdims=True) if ab.shape[2] else xp.zeros((t_max, n, 1), dtype=ab.dtype)
    m = xp.where(xp.isfinite(m), m, 0)
    e = xp.exp(ab - m)
    acc = xp.zeros(log_probs.shape, dtype=log_probs.dtype)
    rows = xp.arange(n)
    for s in range(ext.shape[1]):  # each state adds to its label's entry (one state per row: no collisions)
        acc[:, rows, ext[:, s]] += e[:, :, s]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lcab = xp.log(acc) + m
        g = xp.exp(log_probs) - xp.exp(lcab + nll[None, :, None] - log_probs)
    live = xp.arange(t_max)[:, None] < il[None, :]  # frames past a sequence's length get no gradient
    if a["zero_infinity"]:
        live = live & ~xp.isinf(nll)[None, :]
    gx = xp.where(live[:, :, None], g * gy[None, :, None], 0).astype(log_probs.dtype, copy=False)
    return gx, None, None, None
