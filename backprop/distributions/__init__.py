"""``bp.distributions``: torch.distributions' commonly used names, built from backprop's ops so that
``log_prob``, ``entropy``, ``cdf``, ``kl_divergence`` and reparameterised ``rsample`` are differentiable
with respect to the parameters. Samples come from backprop's seeded generators (``bp.manual_seed``):
the same distributions as torch's, not the same numbers.
"""

from __future__ import annotations

from backprop.distributions import constraints
from backprop.distributions.bernoulli import Bernoulli
from backprop.distributions.binomial import Binomial
from backprop.distributions.categorical import Categorical, OneHotCategorical
from backprop.distributions.dirichlet import Beta, Dirichlet
from backprop.distributions.distribution import Distribution
from backprop.distributions.exp_family import ExponentialFamily
from backprop.distributions.exponential import Exponential
from backprop.distributions.gamma import Chi2, Gamma
from backprop.distributions.geometric import Geometric
from backprop.distributions.independent import Independent
from backprop.distributions.kl import kl_divergence, register_kl
from backprop.distributions.laplace import Laplace
from backprop.distributions.log_normal import LogNormal
from backprop.distributions.multinomial import Multinomial
from backprop.distributions.multivariate_normal import MultivariateNormal
from backprop.distributions.normal import Normal
from backprop.distributions.poisson import Poisson
from backprop.distributions.student_t import StudentT
from backprop.distributions.uniform import Uniform

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Chi2", "Dirichlet", "Distribution", "Exponential",
    "ExponentialFamily", "Gamma", "Geometric", "Independent", "Laplace", "LogNormal", "Multinomial",
    "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "StudentT", "Uniform", "constraints",
    "kl_divergence", "register_kl",
]  # fmt: skip
