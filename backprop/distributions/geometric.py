"""``Geometric(probs=... | logits=...)``: the number of failures before the first success (0, 1, ...)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from backprop import creation
from backprop import functions as fn
from backprop.autograd import no_grad
from backprop.distributions import constraints
from backprop.distributions.bernoulli import one_of
from backprop.distributions.distribution import Distribution
from backprop.distributions.utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits
from backprop.nn import functional as F  # noqa: N812 - torch's name
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["Geometric"]


class Geometric(Distribution):
    """Geometric(p): P(k) = (1 - p)^k p, mean 1/p - 1."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        one_of(probs, logits)
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        given = probs if probs is not None else logits
        super().__init__(Size() if isinstance(given, numbers.Number) else given.size(), validate_args=validate_args)
        if self._validate_args and probs is not None:
            value = self.probs
            valid = value > 0
            if not bool(valid.all()):
                raise ValueError(
                    f"Expected parameter probs ({type(value).__name__} of shape {tuple(value.shape)}) of distribution "
                    f"{self!r} to be positive but found invalid values:\n{value.detach()[~valid]}"
                )

    def expand(self, batch_shape: Any, _instance: Any = None) -> Geometric:
        return self._expand_params(Geometric, batch_shape, _instance, ("probs", "logits"))

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return creation.zeros_like(self.probs)

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        tiny = float(np.finfo(self.probs.dtype).tiny)
        with no_grad():
            u = creation.empty(shape, dtype=self.probs.dtype, device=self.probs.device).uniform_(tiny, 1)
            return (u.log() / (-self.probs).log1p()).floor()

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        probs = fn.where((probs == 1) & (value == 0), 0.0, probs)  # 0 * log(0) = 0 when p = 1
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none") / self.probs
