"""torch's top-level neural-net functions whose signatures are ATen's, not ``nn.functional``'s: ``bp.batch_norm``
(weight and bias before the running statistics, ``cudnn_enabled``), ``bp.embedding(weight, indices)``, losses
taking ``reduction`` as an int (0 none, 1 mean, 2 sum), ``constant_pad_nd``, the in-place dropouts, the
recurrent cells, ``convolution``, ``grid_sampler`` (integer modes) and ``max_pool1d_with_indices``. Each is a
thin adapter over ``nn.functional`` (gradients as there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop.autograd.function import autocast_function, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users
from backprop.nn import functional as F  # noqa: N812
from backprop.tensor import Tensor

rms_norm = F.rms_norm  # the same signature as torch.rms_norm
conv_tbc = F.conv_tbc  # (torch.conv_tbc is torch.nn.functional.conv_tbc)

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}
# The losses' reduction defaults to 0 (none), as torch's Python bindings give it: their schemas say
# ``reduction=Mean``, but the parser reads that default as an integer (atol("Mean") == 0), so
# ``torch.kl_div(a, b)`` is elementwise (torch 2.13; ``tests/test_parity_autocast_lists.py``).


def _reduction(reduction: Any, name: str) -> str:
    if isinstance(reduction, str) and reduction in _REDUCTIONS.values():
        return reduction
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 0 (none), 1 (mean) or 2 (sum), got {reduction!r}")
    return _REDUCTIONS[reduction]


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()


def batch_norm(
    input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
    running_var: Tensor | None, training: bool, momentum: float, eps: float, cudnn_enabled: bool = True,
) -> Tensor:  # fmt: skip
    """torch.batch_norm (ATen's argument order): ``F.batch_norm`` with weight and bias first."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(
    input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
    running_var: Tensor | None, use_input_stats: bool, momentum: float, eps: float, cudnn_enabled: bool = True,
) -> Tensor:  # fmt: skip
    """torch.instance_norm (ATen's argument order): ``F.instance_norm`` with weight and bias first."""
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def embedding(
    weight: Tensor, indices: Tensor, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False
) -> Tensor:  # fmt: skip
    """torch.embedding: the rows ``indices`` of ``weight`` (weight first; a negative ``padding_idx`` is none)."""
    pad = None if padding_idx < 0 else int(padding_idx)
    return F.embedding(indices, weight, pad, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def kl_div(input: Tensor, target: Tensor, reduction: Any = 0, *, log_target: bool = False) -> Tensor:
    """torch.kl_div: pointwise KL terms of log-probabilities ``input`` against ``target``, reduced by an int
    (1: the plain mean over every element, without ``F.kl_div``'s batchmean warning)."""
    try:
        red = _reduction(reduction, "kl_div")
        return _reduce(F.kl_div(input, target, reduction="none", log_target=log_target), red)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, reduction: Any = 0) -> Tensor:
    """torch.hinge_embedding_loss (``reduction`` an int)."""
    try:
        return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction, "hinge_embedding_loss"))
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: Any = 0
) -> Tensor:  # fmt: skip
    """torch.margin_ranking_loss (``reduction`` an int; the inputs broadcast: no dimension check, unlike ``F``'s)."""
    red = _reduction(reduction, "margin_ranking_loss")
    if autocast_users[0]:  # a float32 function under autocast, as torch's
        input1, input2 = autocast_function("margin_ranking_loss", input1, input2)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), red)


def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: Any = 0
) -> Tensor:  # fmt: skip
    """torch.cosine_embedding_loss (``reduction`` an int)."""
    red = _reduction(reduction, "cosine_embedding_loss")
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=red)


def triplet_margin_loss(
    anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
    swap: bool = False, reduction: Any = 0,
) -> Tensor:  # fmt: skip
    """torch.triplet_margin_loss (``reduction`` an int)."""
    try:
        red = _reduction(reduction, "triplet_margin_loss")
        return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=red)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def poisson_nll_loss(
    input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float, reduction: Any
) -> Tensor:  # fmt: skip
    """torch.poisson_nll_loss: every argument required, ``reduction`` an int."""
    red = _reduction(reduction, "poisson_nll_loss")
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=red)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None, pos_weight: Tensor | None = None, reduction: Any = 0
) -> Tensor:  # fmt: skip
    """torch.binary_cross_entropy_with_logits (``pos_weight`` fourth, ``reduction`` an int)."""
    try:
        red = _reduction(reduction, "binary_cross_entropy_with_logits")
        return F.binary_cross_entropy_with_logits(input, target, weight, reduction=red, pos_weight=pos_weight)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def ctc_loss(
    log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any, blank: int = 0, reduction: Any = 0,
    zero_infinity: bool = False,
) -> Tensor:  # fmt: skip
    """torch.ctc_loss (``reduction`` an int; 1 divides each loss by its target length, then averages)."""
    red = _reduction(reduction, "ctc_loss")
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, red, zero_infinity)


def constant_pad_nd(input: Tensor, pad: Sequence[int], value: float = 0) -> Tensor:
    """``F.pad(input, pad, "constant", value)`` (negative pads crop, as torch)."""
    return F.pad(input, list(pad), "constant", value)


def adaptive_max_pool1d(input: Tensor, output_size: Any) -> tuple[Tensor, Tensor]:
    """torch.adaptive_max_pool1d: ``(values, indices)``, always both."""
    try:
        return F.adaptive_max_pool1d(input, output_size, return_indices=True)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def rrelu(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, generator: Any = None
) -> Tensor:  # fmt: skip
    """torch.rrelu: ``F.rrelu`` (slopes drawn from ``generator``, or backprop's default generator)."""
    try:
        return F._rrelu(input, lower, upper, training, False, generator)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def rrelu_(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, generator: Any = None
) -> Tensor:  # fmt: skip
    """torch.rrelu_: ``F.rrelu_``, in place."""
    try:
        return F.rrelu_(input, lower, upper, training, generator)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.dropout: ``F.dropout(input, p, training=train)`` (torch's ATen names)."""
    return F.dropout(input, p, train)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.alpha_dropout: ``F.alpha_dropout(input, p, training=train)``."""
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_alpha_dropout: ``F.feature_alpha_dropout(input, p, training=train)``."""
    return F.feature_alpha_dropout(input, p, train)


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.dropout_: ``F.dropout(..., inplace=True)``."""
    return F.dropout(input, p, train, inplace=True)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.alpha_dropout_: alpha dropout written into ``input``."""
    return input.copy_(F.alpha_dropout(input, p, train)) if train and p > 0 else input


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_dropout: zero whole channels (dim 1 of a batched input) with probability ``p``, scale the
    rest by 1 / (1 - p)."""
    if not train or p == 0:
        return input
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.dim() < 2:
        raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input, got {input.dim()}")
    from backprop.creation import bernoulli

    keep = input.new_full((*input.shape[:2],) + (1,) * (input.dim() - 2), 1.0 - p)
    mask = bernoulli(keep)
    return input * mask / (1.0 - p) if p < 1 else input * mask


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_dropout_: ``feature_dropout`` written into ``input``."""
    return input.copy_(feature_dropout(input, p, train)) if train and p > 0 else input


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_alpha_dropout_: ``F.feature_alpha_dropout`` written into ``input``."""
    return input.copy_(F.feature_alpha_dropout(input, p, train)) if train and p > 0 else input


def rnn_tanh_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None
) -> Tensor:  # fmt: skip
    """One Elman step: tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return (F.linear(input, w_ih, b_ih) + F.linear(hx, w_hh, b_hh)).tanh()


def rnn_relu_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None
) -> Tensor:  # fmt: skip
    """One Elman step with ReLU: relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return (F.linear(input, w_ih, b_ih) + F.linear(hx, w_hh, b_hh)).relu()


def lstm_cell(
    input: Tensor, hx: Sequence[Tensor], w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One LSTM step from ``hx = (h, c)``; gates in torch's order (input, forget, cell, output)."""
    h, c = hx
    gates = F.linear(input, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, -1)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_new.tanh(), c_new


def gru_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None
) -> Tensor:  # fmt: skip
    """One GRU step; gates in torch's order (reset, update, new), the reset gate applied to h W_hn^T + b_hn."""
    xr, xz, xn = F.linear(input, w_ih, b_ih).chunk(3, -1)
    hr, hz, hn = F.linear(hx, w_hh, b_hh).chunk(3, -1)
    r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
    n = (xn + r * hn).tanh()
    return (1 - z) * n + z * hx


def convolution(
    input: Tensor, weight: Tensor, bias: Tensor | None, stride: Sequence[int], padding: Sequence[int],
    dilation: Sequence[int], transposed: bool, output_padding: Sequence[int], groups: int,
) -> Tensor:  # fmt: skip
    """torch.convolution: ``conv{1,2,3}d`` or ``conv_transpose{1,2,3}d`` by the weight's rank and ``transposed``."""
    n = weight.dim() - 2
    if n not in (1, 2, 3):
        raise RuntimeError(
            f"convolution: expected a 3-D, 4-D or 5-D weight, got {weight.dim()}-D {tuple(weight.shape)}"
        )
    if transposed:
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[n - 1]
        return fn(input, weight, bias, tuple(stride), tuple(padding), tuple(output_padding), groups, tuple(dilation))
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    return conv(input, weight, bias, tuple(stride), tuple(padding), tuple(dilation), groups)


def max_pool1d_with_indices(
    input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> tuple[Tensor, Tensor]:
    """``max_pool1d`` and its indices (torch.max_pool1d_with_indices, ATen's signature)."""
    try:
        out, idx = F.max_pool1d(
            input, kernel_size, stride if stride not in ((), []) else None, padding, dilation,
            ceil_mode=ceil_mode, return_indices=True,
        )  # fmt: skip
        return out, idx
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


_GRID_MODES = ("bilinear", "nearest", "bicubic")
_GRID_PADDING = ("zeros", "border", "reflection")


def grid_sampler(
    input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool
) -> Tensor:
    """``F.grid_sample`` with ATen's integer modes (torch.grid_sampler: 0 bilinear, 1 nearest, 2 bicubic;
    padding 0 zeros, 1 border, 2 reflection)."""
    if not 0 <= interpolation_mode < 3 or not 0 <= padding_mode < 3:
        raise RuntimeError(
            f"grid_sampler: interpolation_mode must be 0, 1 or 2 and padding_mode 0, 1 or 2, got "
            f"{interpolation_mode} and {padding_mode}"
        )
    return F.grid_sample(
        input, grid, mode=_GRID_MODES[interpolation_mode], padding_mode=_GRID_PADDING[padding_mode],
        align_corners=align_corners,
    )  # fmt: skip


def grid_sampler_2d(
    input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool
) -> Tensor:
    """``grid_sampler`` of a 4-D input (torch.grid_sampler_2d)."""
    if input.ndim != 4:
        raise RuntimeError(f"grid_sampler_2d(): expected 4D input, but got input with sizes {list(input.shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


def grid_sampler_3d(
    input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool
) -> Tensor:
    """``grid_sampler`` of a 5-D input (torch.grid_sampler_3d)."""
    if input.ndim != 5:
        raise RuntimeError(f"grid_sampler_3d(): expected 5D input, but got input with sizes {list(input.shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


def affine_grid_generator(theta: Tensor, size: Any, align_corners: bool) -> Tensor:
    """``F.affine_grid`` with ATen's positional ``align_corners`` (torch.affine_grid_generator)."""
    return F.affine_grid(theta, list(size), align_corners=align_corners)


__all__ = [
    "adaptive_max_pool1d", "alpha_dropout", "alpha_dropout_", "dropout", "feature_alpha_dropout",
    "batch_norm", "binary_cross_entropy_with_logits", "constant_pad_nd",
    "conv_tbc", "convolution", "cosine_embedding_loss", "ctc_loss", "dropout_", "embedding", "feature_alpha_dropout_",
    "feature_dropout", "feature_dropout_", "gru_cell", "hinge_embedding_loss", "instance_norm", "kl_div",
    "lstm_cell", "margin_ranking_loss", "poisson_nll_loss", "rms_norm", "rnn_relu_cell", "rnn_tanh_cell", "rrelu",
    "rrelu_", "triplet_margin_loss", "affine_grid_generator", "grid_sampler", "grid_sampler_2d", "grid_sampler_3d",
    "max_pool1d_with_indices",
]  # fmt: skip

from backprop.functions import name_first_input  # noqa: E402

name_first_input(globals(), __all__)  # torch.conj(input=x): the method aliases above, by torch's names
