"""More torch.nn.functional losses (margin, ranking, Poisson and Gaussian likelihoods), imported into
``backprop.nn.functional``.

Each is a composition of registered ops (gradients and double backward come from those), written
after torch's own formulas so that values, dtypes, shapes and errors match; index masks computed
from the targets go through ``trace.record`` so that a ``bp.compile`` replay recomputes them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from backprop import dtypes
from backprop.autograd import trace
from backprop.autograd.function import apply, autocast_function, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users
from backprop.autograd.higher_order import link_gradients
from backprop.autograd.node_names import name_node
from backprop.nn._common import _legacy_reduction, pairwise_distance
from backprop.ops import activation as act
from backprop.ops import elementwise as ew
from backprop.tensor import Tensor

__all__ = [
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]


def _reduction(size_average: bool | None, reduce: bool | None, reduction: str, name: str) -> str:
    """``reduction`` after torch's legacy pair (with its warning), checked."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        if name == "multilabel_soft_margin_loss":  # torch's own words for this one
            raise ValueError(f"{reduction} is not valid")
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _apply_reduction(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _clamp_in_value(t: Tensor, low: float) -> Tensor:
    """max(t, low) in value, with the gradient of t (torch clamps such a tensor in place under no_grad)."""
    d = t.detach()
    return t + (d.clamp(min=low) - d)


def _check_var(var: Any) -> None:
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")


def gaussian_nll_loss(
    input: Tensor, target: Tensor, var: Tensor | float, full: bool = False, eps: float = 1e-6, reduction: str = "mean"
) -> Tensor:
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) (+ 0.5 log 2 pi with ``full``).

    ``var`` may have the input's shape, lack its last dim, or have size 1 in one dim (homoscedastic),
    as torch; var is clamped at ``eps`` in value only (torch clamps it under no_grad)."""
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = input.detach() * 0 + float(var)
    else:  # one read-back, as torch checks (recorded: a replayed step checks too)
        trace.check(_check_var, var)
    in_shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:
            var = var.unsqueeze(-1)
        elif not (len(in_shape) == len(var_shape) and sum(v for i, v in zip(in_shape, var_shape) if i != v) == 1):
            raise ValueError(
                f"gaussian_nll_loss: var is of incorrect size {var_shape} for input of shape {in_shape} (expected "
                "the input's shape, that shape without its last dim, or 1 in one dim)"
            )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not valid")
    var = _clamp_in_value(var, eps)
    diff = input - target
    loss = 0.5 * (var.log() + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(loss, reduction)


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """exp(input) - target input (``log_input``), else input - target log(input + eps); ``full`` adds
    Stirling's term target log target - target + 0.5 log(2 pi target) where target > 1."""
    try:
        if autocast_users[0]:  # a float32 function under autocast, as torch's
            input, target = autocast_function("poisson_nll_loss", input, target)
        reduction = _reduction(size_average, reduce, reduction, "poisson_nll_loss")
        if log_input:
            loss = input.exp() - target * input
        else:
            loss = input - target * (input + eps).log()
        if full:
            big = target > 1
            # log never sees t <= 1 (no NumPy warning on log(0)); the int 2 keeps an integer target integer, so
            # its log gives the default float dtype as torch's (a 2.0 here made float64)
            t = apply(ew.where, big, target, 2)
            stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
            loss = loss + apply(ew.where, big, stirling, 0.0)
        return _apply_reduction(loss, reduction)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, -target (input1 - input2) + margin), target in {1, -1}."""
    if autocast_users[0]:  # a float32 function under autocast, as torch's
        input1, input2 = autocast_function("margin_ranking_loss", input1, input2)
    reduction = _reduction(size_average, reduce, reduction, "margin_ranking_loss")
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: "
            f"{tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: {tuple(target.shape)}"
        )
    loss = name_node((-target * (input1 - input2) + margin).clamp(min=0), "ClampMinBackward0")  # torch's clamp_min
    return _apply_reduction(loss, reduction)


def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """input where target is 1, max(0, margin - input) where it is -1 (torch's formula: both terms
    for other target values)."""
    try:
        if autocast_users[0]:  # a float32 function under autocast, as torch's
            (input,) = autocast_function("hinge_embedding_loss", input)
        reduction = _reduction(size_average, reduce, reduction, "hinge_embedding_loss")
        zero = input * 0.0
        loss = apply(ew.where, target != 1, (margin - input).clamp(min=0), zero) + apply(
            ew.where, target != -1, input, zero
        )
        return _apply_reduction(loss, reduction)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """log(1 + exp(-target input)), computed directly as torch's kernel: inf once exp(-target input) overflows
    (-1000 against 1: inf, not 1000; README), and its gradient there NaN, as torch's."""
    try:
        if autocast_users[0]:  # a float32 function under autocast, as torch's
            input, target = autocast_function("soft_margin_loss", input, target)
        reduction = _reduction(size_average, reduce, reduction, "soft_margin_loss")
        loss = (-(input * target)).exp().log1p()  # (op by op, each rounded to the dtype, as torch's)
        if loss.dtype != input.dtype:
            loss = loss.to(input.dtype)  # torch's result has the input's dtype, whatever the target's
        return name_node(_apply_reduction(loss, reduction), "SoftMarginLossBackward0")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """-mean over classes (last dim) of w (y logsigmoid(x) + (1 - y) logsigmoid(-x))."""
    reduction = _reduction(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    loss = -(target * apply(act.logsigmoid, input) + (1 - target) * apply(act.logsigmoid, -input))
    if weight is not None:
        loss = loss * weight
    d = input.ndim - 1
    loss = loss.sum(d) / input.shape[d]
    return _apply_reduction(loss, reduction)


def _batched_scores(input: Tensor, target: Tensor, name: str, target_shape: Callable[[int, int], tuple]) -> tuple:
    """(N, C) scores and targets of a 0-d, (C,) or (N, C) input (torch's shapes for the margin losses)."""
    if not (input.ndim == 0 or (input.ndim == 1 and input.shape[0]) or (input.ndim == 2 and input.shape[1])):
        raise RuntimeError(
            f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {list(input.shape)}"
        )
    if target.dtype != dtypes.int64:  # (class ids: torch's kernels take int64 only)
        raise RuntimeError(f"expected scalar type Long but found {dtypes.scalar_type_name(target.dtype)}")
    n = input.shape[0] if input.ndim == 2 else 1
    c = 1 if input.ndim == 0 else input.shape[-1]
    if tuple(target.shape) not in target_shape(n, c):
        if name == "multi_margin_loss":  # (torch's words for each)
            raise RuntimeError(
                "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples "
                f"(batch size). Expected target size [{n}], but got {list(target.shape)}. Input has shape "
                f"{list(input.shape)}."
            )
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    k = 1 if name == "multi_margin_loss" else c  # ids per sample (spelled out: an empty batch has no -1 to infer)
    return input.reshape(n, c), target.reshape(n, k), n, c


def _check_margin_ids(y: Any, *, c: int) -> None:
    if bool(((y < 0) | (y >= c)).any()):
        raise RuntimeError(f"multi_margin_loss: target out of range (expected class ids in [0, {c}))")


def _check_multilabel_ids(y: Any, *, c: int) -> None:
    if bool(((y < -1) | (y >= c)).any()):
        raise RuntimeError(f"multilabel_margin_loss: argument #2 'target' is out of range (expected ids in [-1, {c}))")


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """sum over classes i != y of max(0, margin - x[y] + x[i])^p (times weight[y]) / C, per sample."""
    if autocast_users[0]:  # a float32 function under autocast, as torch's
        (input,) = autocast_function("multi_margin_loss", input)
    reduction = _reduction(size_average, reduce, reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError("multi_margin_loss: only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("multi_margin_loss: weight must be one-dimensional")

    def shapes(n: int, c: int) -> tuple:
        return ((n,), ()) if n == 1 else ((n,),)

    x, y, n, c = _batched_scores(input, target, "multi_margin_loss", shapes)
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"multi_margin_loss: inconsistent weight size, expected {c} but got {tuple(weight.shape)}")
    if y.numel():  # one read-back, as torch checks (recorded: a replayed step checks too)
        trace.check(_check_margin_ids, y, c=c)
    z = (margin - x.gather(1, y) + x).clamp(min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.to(x.dtype)[y.reshape(-1)].reshape(n, 1)
    is_y = _const(trace.record(functools.partial(_one_hot_mask, c=c, xp=x.device.xp), y), x)
    loss = apply(ew.where, is_y, 0.0, z).sum(1) / c
    link_gradients(loss, input, name="MultiMarginLossBackwardBackward0")  # (create_graph: as torch's)
    out = _apply_reduction(loss, reduction) if reduction != "none" else loss.reshape(target.shape)  # (per target id)
    return name_node(out, "MultiMarginLossBackward0")


def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """sum over target classes j and non-target classes i of max(0, 1 - (x[j] - x[i])) / C, per sample;
    a row of ``target`` lists its class ids up to the first -1."""
    if autocast_users[0]:  # a float32 function under autocast, as torch's
        (input,) = autocast_function("multilabel_margin_loss", input)
    reduction = _reduction(size_average, reduce, reduction, "multilabel_margin_loss")

    def shapes(n: int, c: int) -> tuple:
        return (tuple(input.shape),)

    x, y, n, c = _batched_scores(input, target, "multilabel_margin_loss", shapes)
    if y.numel():  # one read-back, as torch checks every entry (recorded: a replayed step checks too)
        trace.check(_check_multilabel_ids, y, c=c)
    valid, safe, is_target = trace.record(functools.partial(_multilabel_masks, c=c, xp=x.device.xp), y)
    x_t = x.gather(1, _const(safe, x))  # (N, C): the score of each listed class
    z = (1 - x_t.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)  # (N, j, i)
    pair = _const(trace.record(_pair_mask, valid, is_target), x)
    loss = apply(ew.where, pair, z, 0.0).sum((1, 2)) / c
    link_gradients(loss, input, name="MultilabelMarginLossBackwardBackward0")  # (create_graph: as torch's)
    out = _apply_reduction(loss, reduction) if reduction != "none" else loss.reshape(input.shape[:-1])
    return name_node(out, "MultilabelMarginLossBackward0")


def _const(arr: Any, like: Tensor) -> Tensor:
    return Tensor._wrap(arr, like.device, None)


def _one_hot_mask(y: Any, c: int, xp: Any) -> Any:
    """(N, C) bool, True at each row's class id y[n, 0]."""
    return y == xp.arange(c)


def _multilabel_masks(y: Any, c: int, xp: Any) -> tuple[Any, Any, Any]:
    """(listed: the slots before a row's first negative id, the ids with unlisted ones 0, is_target (N, C))."""
    valid = xp.cumsum(y < 0, axis=1) == 0
    safe = xp.where(valid, y, 0)
    hit = valid[:, :, None] & (safe[:, :, None] == xp.arange(c))
    return valid, safe, hit.any(axis=1)


def _pair_mask(valid: Any, is_target: Any) -> Any:
    """(N, j, i): slot j is a listed class and class i is not a target."""
    return valid[:, :, None] & ~is_target[:, None, :]


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)), d the pairwise p-norm distance (``swap``: d(a, n) becomes
    min(d(a, n), d(p, n)))."""
    try:
        if autocast_users[0]:  # a float32 function under autocast, as torch's
            anchor, positive, negative = autocast_function("triplet_margin_loss", anchor, positive, negative)
        reduction = _reduction(size_average, reduce, reduction, "triplet_margin_loss")
        if margin <= 0:
            raise ValueError(f"margin must be greater than 0, got {margin}")

        def dist(a: Tensor, b: Tensor) -> Tensor:
            return pairwise_distance(a, b, p, eps)

        return _triplet(anchor, positive, negative, dist, margin, swap, reduction)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) for any distance function (default ``pairwise_distance``)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return _triplet(anchor, positive, negative, distance_function or pairwise_distance, margin, swap, reduction)


def _triplet(a: Tensor, p: Tensor, n: Tensor, dist: Callable, margin: float, swap: bool, reduction: str) -> Tensor:
    if not a.ndim == p.ndim == n.ndim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {a.ndim}D, positive {p.ndim}D, and negative {n.ndim}D inputs"
        )
    d_pos, d_neg = dist(a, p), dist(a, n)
    if swap:
        d_neg = d_neg.minimum(dist(p, n))
    return _apply_reduction(name_node((margin + d_pos - d_neg).clamp(min=0), "ClampMinBackward0"), reduction)
