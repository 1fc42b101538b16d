"""``ExponentialFamily``: the base class torch gives the exponential-family distributions (Normal,
Bernoulli, Gamma, Wishart, ...), with densities exp(<t(x), theta> - F(theta) + k(x)).

A subclass that defines its natural parameters theta (``_natural_params``), its log normaliser F
(``_log_normalizer``) and E[k(x)] (``_mean_carrier_measure``) gets ``entropy`` here as a Bregman
divergence of F, differentiated by autograd: H = F(theta) - <theta, grad F(theta)> - E[k(x)]
(Nielsen & Nock); ``kl_divergence`` between two members of the same family uses the same idea
(``backprop.distributions.kl``). Subclasses with a closed form override ``entropy``, as torch's do.
"""

from __future__ import annotations

from typing import Any

from backprop import autograd
from backprop.distributions.distribution import Distribution
from backprop.tensor import Tensor

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Distributions with density exp(<t(x), theta> - F(theta) + k(x)); entropy and same-family KL
    follow from theta and F by autograd when a subclass has no closed form."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """The natural parameters theta, one tensor per sufficient statistic."""
        raise NotImplementedError(f"{type(self).__name__} does not define _natural_params")

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        """The log normaliser F(theta), of shape ``batch_shape``."""
        raise NotImplementedError(f"{type(self).__name__} does not define _log_normalizer")

    @property
    def _mean_carrier_measure(self) -> Any:
        """E[k(x)], the expected carrier measure (a number or a tensor of shape ``batch_shape``)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _mean_carrier_measure")

    def entropy(self) -> Tensor:
        """H = F(theta) - <theta, grad F(theta)> - E[k(x)], with grad F by autograd (differentiable again)."""
        result: Any = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        with autograd.enable_grad():
            log_normalizer = self._log_normalizer(*nparams)
            grads = autograd.grad(log_normalizer.sum(), nparams, create_graph=True)
        result = result + log_normalizer
        for theta, g in zip(nparams, grads):
            result = result - (theta * g).reshape(tuple(self._batch_shape) + (-1,)).sum(-1)
        return result
