"""``LogNormal(loc, scale)``: exp of a Normal(loc, scale) draw, a ``TransformedDistribution`` of
``Normal`` through ``ExpTransform`` as torch's (reparameterised ``rsample``; ``log_prob``, ``cdf`` and
``icdf`` by the change of variables; KL through the TransformedDistribution pair)."""

from __future__ import annotations

from typing import Any

from backprop.distributions import constraints
from backprop.distributions.normal import Normal
from backprop.distributions.transformed_distribution import TransformedDistribution
from backprop.distributions.transforms import ExpTransform
from backprop.tensor import Tensor

__all__ = ["LogNormal"]


class LogNormal(TransformedDistribution):
    """Y = exp(X), X ~ N(loc, scale^2): log_prob(y) = Normal.log_prob(log y) - log y."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True
    base_dist: Normal

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        base_dist = Normal(loc, scale, validate_args=validate_args)
        super().__init__(base_dist, ExpTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LogNormal:
        new = self._get_checked_instance(LogNormal, _instance)
        return super().expand(batch_shape, _instance=new)  # type: ignore[return-value]

    @property
    def loc(self) -> Tensor:
        """The mean of log Y."""
        return self.base_dist.loc

    @property
    def scale(self) -> Tensor:
        """The standard deviation of log Y."""
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        return (self.loc + self.scale.pow(2) / 2).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale.square()).exp()

    @property
    def variance(self) -> Tensor:
        scale_sq = self.scale.pow(2)
        return scale_sq.expm1() * (2 * self.loc + scale_sq).exp()

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc
