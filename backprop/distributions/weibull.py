"""``Weibull(scale, concentration)``: scale E^(1 / k), E ~ Exponential(1) (reparameterised)."""

from __future__ import annotations

from typing import Any

from backprop import creation
from backprop.distributions import constraints
from backprop.distributions.exponential import Exponential
from backprop.distributions.transformed_distribution import TransformedDistribution
from backprop.distributions.transforms import AffineTransform, PowerTransform
from backprop.distributions.utils import broadcast_all, euler_constant
from backprop.tensor import Tensor

__all__ = ["Weibull"]


class Weibull(TransformedDistribution):
    """Weibull(scale lambda, concentration k): density (k / lambda) (x / lambda)^(k - 1) e^(-(x / lambda)^k)."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive

    def __init__(self, scale: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.scale, self.concentration = broadcast_all(scale, concentration)
        self.concentration_reciprocal = self.concentration.reciprocal()
        base_dist = Exponential(creation.ones_like(self.scale), validate_args=validate_args)
        transforms = [PowerTransform(exponent=self.concentration_reciprocal), AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base_dist, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Weibull:
        new = self._get_checked_instance(Weibull, _instance)
        new.scale = self.scale.expand(tuple(batch_shape))
        new.concentration = self.concentration.expand(tuple(batch_shape))
        new.concentration_reciprocal = new.concentration.reciprocal()
        transforms = [PowerTransform(exponent=new.concentration_reciprocal), AffineTransform(loc=0, scale=new.scale)]
        TransformedDistribution.__init__(new, self.base_dist.expand(batch_shape), transforms, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.scale * (1 + self.concentration_reciprocal).lgamma().exp()

    @property
    def mode(self) -> Tensor:
        return self.scale * ((self.concentration - 1) / self.concentration) ** self.concentration.reciprocal()

    @property
    def variance(self) -> Tensor:
        g1 = (1 + self.concentration_reciprocal).lgamma()
        return self.scale.pow(2) * ((1 + 2 * self.concentration_reciprocal).lgamma().exp() - (2 * g1).exp())

    def entropy(self) -> Tensor:
        k_inv = self.concentration_reciprocal
        return euler_constant * (1 - k_inv) + (self.scale * k_inv).log() + 1
