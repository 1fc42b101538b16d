"""``CTCLoss`` / ``F.ctc_loss``: connectionist temporal classification (torch's arguments and
reductions) over the registered ``ctc_loss`` op (``backprop/ops/ctc.py``), which gives each sequence's
negative log-likelihood and torch's gradient."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from backprop import creation
from backprop.autograd import trace
from backprop.autograd.function import apply
from backprop.nn._loss_base import _Loss
from backprop.ops import ctc
from backprop.tensor import Tensor

__all__ = ["CTCLoss", "ctc_loss"]


def _lengths(value: Any, like: Tensor, name: str) -> Tensor:
    """Lengths given as a tensor, a list/tuple of ints or an int, as an int64 tensor on ``like``'s device."""
    if hasattr(value, "grad_fn"):
        if value.dtype.kind not in "iu":
            raise RuntimeError(f"ctc_loss: {name} must be an integer tensor, got {value.dtype}")
        return value.long()
    return creation.tensor(np.asarray(value, dtype=np.int64), device=like.device)


def _host_ints(t: Tensor, name: str) -> np.ndarray:
    trace.host_read(f"ctc_loss {name} check")
    return np.asarray(t.detach().cpu()._data).reshape(-1)


def _padded(targets: Any, lengths: Any, s: int, xp: Any) -> Any:
    """Concatenated 1-d targets as (N, s) rows, zero padded."""
    n = lengths.shape[0]
    ends = xp.cumsum(lengths)
    starts = ends - lengths
    cols = xp.arange(s)
    pos = xp.minimum(starts[:, None] + cols[None, :], max(targets.shape[0] - 1, 0))
    out = targets[pos] if targets.shape[0] else xp.zeros((n, s), dtype=targets.dtype)
    return xp.where(cols[None, :] < lengths[:, None], out, 0)


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """CTC loss of ``log_probs`` (T, N, C) (log-softmax outputs; (T, C) unbatched) against ``targets``,
    (N, S) padded or 1-d concatenated, with per-sequence ``input_lengths`` and ``target_lengths``.
    ``reduction="mean"`` divides each loss by its target length, then averages over the batch;
    ``zero_infinity`` turns impossible alignments' inf losses (and their gradients) into 0."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not log_probs.numel():  # (torch's first check: no frame, sequence or class to align)
        raise RuntimeError("log_probs tensor must not be empty")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.unsqueeze(0)
        input_lengths = _lengths(input_lengths, log_probs, "input_lengths").reshape(1)
        target_lengths = _lengths(target_lengths, log_probs, "target_lengths").reshape(1)
    if log_probs.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), got {tuple(log_probs.shape)}")
    if targets.dtype.kind not in "iu":
        targets = targets.long()  # (torch accepts float targets too)
    t_max, n, c = log_probs.shape
    il = _lengths(input_lengths, log_probs, "input_lengths")
    tl = _lengths(target_lengths, log_probs, "target_lengths")
    il_host, tl_host = _host_ints(il, "input_lengths"), _host_ints(tl, "target_lengths")
    where = " (while checking arguments for ctc_loss_allocate_outputs)"  # torch's checks, in its order
    if not 0 <= blank < c:
        raise RuntimeError("blank must be in label range")
    if il_host.size != n:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tl_host.size != n:
        raise RuntimeError("target_lengths must be of size batch_size")
    if n and tl_host.min() < 0:
        raise RuntimeError(f"Expected target_lengths to have value at least 0, but got value {tl_host.min()}{where}")
    if targets.ndim == 2:
        if targets.shape[0] != n:
            raise RuntimeError(
                f"Expected tensor to have size {n} at dimension 0, but got size {targets.shape[0]} for argument #2 "
                f"'targets'{where}"
            )
        if n and tl_host.max() > targets.shape[1]:
            raise RuntimeError(
                f"Expected tensor to have size at least {tl_host.max()} at dimension 1, but got size "
                f"{targets.shape[1]} for argument #2 'targets'{where}"
            )
    elif targets.ndim == 1:
        if int(tl_host.sum()) != targets.shape[0]:
            raise RuntimeError(
                f"Expected tensor to have size {int(tl_host.sum())} at dimension 0, but got size {targets.shape[0]} "
                f"for argument #2 'targets'{where}"
            )
    else:
        raise RuntimeError(
            f"Expected 1 to 2 dimensions, but got {targets.ndim}-dimensional tensor for argument #2 'targets'{where}"
        )
    for v in il_host.tolist():  # (the first bad length, as torch's loop over the batch)
        if v < 0:
            raise RuntimeError(f"Expected input_lengths to have value at least 0, but got value {v}{where}")
        if v > t_max:
            raise RuntimeError(f"Expected input_lengths to have value at most {t_max}, but got value {v}{where}")
    if targets.ndim == 1:
        s = int(tl_host.max()) if n else 0
        xp = log_probs.device.xp
        padded = trace.record(functools.partial(_padded, s=s, xp=xp), targets, tl)
        targets = Tensor._wrap(padded, log_probs.device, None)
    loss = apply(ctc.ctc_loss, log_probs, targets, il, tl, blank=blank, zero_infinity=bool(zero_infinity))
    if reduction == "mean":
        return (loss / tl.clamp(min=1).to(loss.dtype)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss


class CTCLoss(_Loss):
    """The connectionist temporal classification loss (``F.ctc_loss``): ``forward(log_probs, targets,
    input_lengths, target_lengths)``."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any) -> Tensor:
        return ctc_loss(
            log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction, self.zero_infinity
        )
