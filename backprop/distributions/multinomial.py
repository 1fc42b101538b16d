"""``Multinomial(total_count, probs=... | logits=...)``: category counts of ``total_count`` Categorical draws."""

from __future__ import annotations

import math
from typing import Any

from backprop import creation
from backprop import functions as fn
from backprop.distributions import constraints
from backprop.distributions.binomial import Binomial
from backprop.distributions.categorical import Categorical
from backprop.distributions.distribution import Distribution
from backprop.distributions.utils import as_size, broadcast_all
from backprop.nn import functional as F  # noqa: N812 - torch's name
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    """Multinomial(n, p): P(x) = n! / prod(x_i!) prod(p_i^x_i); event shape ``(K,)``."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    total_count: int

    def __init__(
        self,
        total_count: int = 1,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Multinomial:
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = as_size(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(total_count=self.total_count, probs=new._categorical.probs, validate_args=False)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:
        return constraints.multinomial(self.total_count)

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def param_shape(self) -> Size:
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        sample_shape = as_size(sample_shape)
        shape = tuple(self._extended_shape(sample_shape))
        if self.total_count == 0:
            return creation.zeros(shape, dtype=self.probs.dtype, device=self.probs.device)
        samples = self._categorical.sample(Size((self.total_count,)) + sample_shape)
        counts = F.one_hot(samples, self._categorical._num_events).sum(0)
        return counts.reshape(shape).type_as(self.probs.detach())

    def entropy(self) -> Tensor:
        n = float(self.total_count)
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = self._binomial.log_prob(support).exp()
        weights = (support + 1).lgamma()
        return term1 + (binomial_probs * weights).sum([0, -1])

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = (value.sum(-1) + 1).lgamma()
        log_factorial_xs = (value + 1).lgamma().sum(-1)
        logits = fn.where((value == 0) & (logits == -math.inf), 0.0, logits)  # 0 * log 0 = 0
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)
