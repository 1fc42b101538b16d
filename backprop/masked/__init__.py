"""``bp.masked`` (torch.masked): masked reductions and normalizations over strided tensors.

``sum``, ``prod``, ``cumsum``, ``cumprod``, ``amax``, ``amin``, ``argmax``, ``argmin``, ``mean``,
``median``, ``norm``, ``var``, ``std``, ``softmax``, ``log_softmax``, ``softmin``, ``normalize``,
``logaddexp`` and ``logsumexp`` take ``mask=`` (``input_mask=``/``other_mask=`` for ``logaddexp``) and
follow torch's rules (backprop/masked/_ops.py). torch's prototype ``MaskedTensor`` class is not
provided: ``masked_tensor`` and ``as_masked_tensor`` raise ``NotImplementedError`` saying so.
Loaded on first use of ``bp.masked``.
"""

from __future__ import annotations

from typing import Any

from backprop.masked._ops import (
    _canonical_dim,
    _combine_input_and_mask,
    _input_mask,
    _output_mask,
    _reduction_identity,
    _where,
    amax,
    amin,
    argmax,
    argmin,
    cumprod,
    cumsum,
    log_softmax,
    logaddexp,
    logsumexp,
    mean,
    median,
    norm,
    normalize,
    prod,
    softmax,
    softmin,
    std,
    sum,
    var,
)

__all__ = [
    "MaskedTensor",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "as_masked_tensor",
    "cumprod",
    "cumsum",
    "is_masked_tensor",
    "log_softmax",
    "logaddexp",
    "logsumexp",
    "masked_tensor",
    "mean",
    "median",
    "norm",
    "normalize",
    "prod",
    "softmax",
    "softmin",
    "std",
    "sum",
    "var",
]

_PRIVATE = (_canonical_dim, _combine_input_and_mask, _input_mask, _output_mask, _reduction_identity, _where)

_NO_MASKED_TENSOR = (
    "backprop.masked.{} : torch's prototype MaskedTensor is not implemented in backprop; "
    "use the masked functions with mask= (e.g. bp.masked.sum(x, dim, mask=m)) instead"
)


class MaskedTensor:
    """torch.masked.MaskedTensor's name: constructing one raises ``NotImplementedError``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(_NO_MASKED_TENSOR.format("MaskedTensor"))


def is_masked_tensor(obj: Any, /) -> bool:
    """False for everything: there are no MaskedTensors in backprop."""
    return isinstance(obj, MaskedTensor)


def masked_tensor(data: Any, mask: Any, requires_grad: bool = False) -> MaskedTensor:
    """torch.masked.masked_tensor: not implemented (raises ``NotImplementedError``)."""
    raise NotImplementedError(_NO_MASKED_TENSOR.format("masked_tensor"))


def as_masked_tensor(data: Any, mask: Any) -> MaskedTensor:
    """torch.masked.as_masked_tensor: not implemented (raises ``NotImplementedError``)."""
    raise NotImplementedError(_NO_MASKED_TENSOR.format("as_masked_tensor"))
