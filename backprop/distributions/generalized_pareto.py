"""``GeneralizedPareto(loc, scale, concentration)``: the peaks-over-threshold law; exponential at
concentration 0, bounded above for negative concentration. ``rsample`` is the inverse CDF of a uniform."""

from __future__ import annotations

import math
import numbers
from typing import Any

from backprop import creation
from backprop import functions as fn
from backprop.distributions import constraints
from backprop.distributions.distribution import Distribution
from backprop.distributions.utils import broadcast_all, uniform
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["GeneralizedPareto"]


class GeneralizedPareto(Distribution):
    """GPD(loc, scale, xi): survival (1 + xi z)^(-1 / xi), z = (x - loc) / scale (e^(-z) at xi = 0)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        scalar = all(isinstance(v, numbers.Number) for v in (loc, scale, concentration))
        super().__init__(Size() if scalar else self.loc.size(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> GeneralizedPareto:
        return self._expand_params(GeneralizedPareto, batch_shape, _instance, ("loc", "scale", "concentration"))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        return self.icdf(uniform(self._extended_shape(sample_shape), self.loc))

    def _safe_concentration(self) -> tuple[Tensor, Tensor]:
        """(xi == 0 up to isclose, xi with those zeros replaced by 1 so that no branch divides by 0)."""
        eq_zero = fn.isclose(self.concentration, creation.zeros_like(self.concentration))
        return eq_zero, fn.where(eq_zero, 1.0, self.concentration)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        eq_zero, safe = self._safe_concentration()
        y = 1 / safe + creation.ones_like(z)
        nonzero = fn.where(y == 0, y, y * (safe * z).log1p())
        return -self.scale.log() - fn.where(eq_zero, z, nonzero)

    def log_survival_function(self, value: Any) -> Tensor:
        """log P(X > value)."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        eq_zero, safe = self._safe_concentration()
        return fn.where(eq_zero, -z, -(safe * z).log1p() / safe)

    def log_cdf(self, value: Any) -> Tensor:
        """log P(X <= value)."""
        return (-self.log_survival_function(value).exp()).log1p()

    def cdf(self, value: Any) -> Tensor:
        return self.log_cdf(value).exp()

    def icdf(self, value: Any) -> Tensor:
        eq_zero, safe = self._safe_concentration()
        logu = (-value).log1p()
        nonzero = self.loc + self.scale / safe * (-safe * logu).expm1()
        return fn.where(eq_zero, self.loc - self.scale * logu, nonzero)

    @property
    def mean(self) -> Tensor:
        valid = self.concentration < 1
        safe = fn.where(valid, self.concentration, 0.5)
        return fn.where(valid, self.loc + self.scale / (1 - safe), math.nan)

    @property
    def variance(self) -> Tensor:
        valid = self.concentration < 0.5
        safe = fn.where(valid, self.concentration, 0.25)
        return fn.where(valid, self.scale**2 / ((1 - safe) ** 2 * (1 - 2 * safe)), math.nan)

    def entropy(self) -> Tensor:
        return (self.scale.log() + self.concentration + 1).expand(tuple(self._batch_shape))

    @property
    def mode(self) -> Tensor:
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        lower = self.loc
        upper = fn.where(self.concentration < 0, lower - self.scale / self.concentration, math.inf)
        return constraints.interval(lower, upper)
