"""``ExponentialFamily``: the base class torch gives the exponential-family distributions (Normal,
Bernoulli, Gamma, ...); here a marker base (each subclass computes its entropy in closed form)."""

from __future__ import annotations

from backprop.distributions.distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Distributions with density exp(<t(x), theta> - F(theta) + k(x))."""
