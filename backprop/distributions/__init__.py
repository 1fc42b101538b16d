"""``bp.distributions``: torch.distributions' names, built from backprop's ops so that
``log_prob``, ``entropy``, ``cdf``, ``kl_divergence`` and reparameterised ``rsample`` are differentiable
with respect to the parameters. Samples come from backprop's seeded generators (``bp.manual_seed``):
the same distributions as torch's, not the same numbers. ``transforms``, ``TransformedDistribution``
and ``biject_to``/``transform_to`` follow torch's; the submodules carry torch's module names
(``from backprop.distributions.normal import Normal``).
"""

from __future__ import annotations

# the submodules, under torch's module names (``backprop.distributions.beta`` etc., as in torch)
from backprop.distributions import (  # noqa: F401 - _kl_extra registers the newer families' KL pairs
    _kl_extra,
    beta,
    cauchy,
    chi2,
    constraint_registry,
    constraints,
    continuous_bernoulli,
    fishersnedecor,
    generalized_pareto,
    gumbel,
    half_cauchy,
    half_normal,
    inverse_gamma,
    kumaraswamy,
    lkj_cholesky,
    log_normal,
    logistic_normal,
    lowrank_multivariate_normal,
    mixture_same_family,
    negative_binomial,
    one_hot_categorical,
    pareto,
    relaxed_bernoulli,
    relaxed_categorical,
    studentT,
    transformed_distribution,
    transforms,
    von_mises,
    weibull,
    wishart,
)  # fmt: skip
from backprop.distributions.bernoulli import Bernoulli
from backprop.distributions.binomial import Binomial
from backprop.distributions.categorical import Categorical, OneHotCategorical
from backprop.distributions.cauchy import Cauchy, HalfCauchy
from backprop.distributions.constraint_registry import biject_to, transform_to
from backprop.distributions.continuous_bernoulli import ContinuousBernoulli
from backprop.distributions.dirichlet import Beta, Dirichlet
from backprop.distributions.distribution import Distribution
from backprop.distributions.exp_family import ExponentialFamily
from backprop.distributions.exponential import Exponential
from backprop.distributions.fishersnedecor import FisherSnedecor
from backprop.distributions.gamma import Chi2, Gamma
from backprop.distributions.generalized_pareto import GeneralizedPareto
from backprop.distributions.geometric import Geometric
from backprop.distributions.gumbel import Gumbel
from backprop.distributions.half_normal import HalfNormal
from backprop.distributions.independent import Independent
from backprop.distributions.inverse_gamma import InverseGamma
from backprop.distributions.kl import kl_divergence, register_kl
from backprop.distributions.kumaraswamy import Kumaraswamy
from backprop.distributions.laplace import Laplace
from backprop.distributions.lkj_cholesky import LKJCholesky
from backprop.distributions.log_normal import LogNormal
from backprop.distributions.logistic_normal import LogisticNormal
from backprop.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
from backprop.distributions.mixture_same_family import MixtureSameFamily
from backprop.distributions.multinomial import Multinomial
from backprop.distributions.multivariate_normal import MultivariateNormal
from backprop.distributions.negative_binomial import NegativeBinomial
from backprop.distributions.normal import Normal
from backprop.distributions.one_hot_categorical import OneHotCategoricalStraightThrough
from backprop.distributions.pareto import Pareto
from backprop.distributions.poisson import Poisson
from backprop.distributions.relaxed_bernoulli import RelaxedBernoulli
from backprop.distributions.relaxed_categorical import RelaxedOneHotCategorical
from backprop.distributions.student_t import StudentT
from backprop.distributions.transformed_distribution import TransformedDistribution
from backprop.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from backprop.distributions.uniform import Uniform
from backprop.distributions.von_mises import VonMises
from backprop.distributions.weibull import Weibull
from backprop.distributions.wishart import Wishart

__all__ = [
    "AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "CatTransform", "Categorical", "Cauchy",
    "Chi2", "ComposeTransform", "ContinuousBernoulli", "CorrCholeskyTransform", "CumulativeDistributionTransform",
    "Dirichlet", "Distribution", "ExpTransform", "Exponential", "ExponentialFamily", "FisherSnedecor", "Gamma",
    "GeneralizedPareto", "Geometric", "Gumbel", "HalfCauchy", "HalfNormal", "Independent", "IndependentTransform",
    "InverseGamma", "Kumaraswamy", "LKJCholesky", "Laplace", "LogNormal", "LogisticNormal", "LowRankMultivariateNormal",
    "LowerCholeskyTransform", "MixtureSameFamily", "Multinomial", "MultivariateNormal", "NegativeBinomial",
    "Normal", "OneHotCategorical", "OneHotCategoricalStraightThrough", "Pareto", "Poisson",
    "PositiveDefiniteTransform", "PowerTransform", "RelaxedBernoulli", "RelaxedOneHotCategorical",
    "ReshapeTransform", "SigmoidTransform", "SoftmaxTransform", "SoftplusTransform", "StackTransform",
    "StickBreakingTransform", "StudentT", "TanhTransform", "Transform", "TransformedDistribution", "Uniform",
    "VonMises", "Weibull", "Wishart", "biject_to", "constraints", "identity_transform", "kl_divergence", "register_kl",
    "transform_to", "transforms",
]  # fmt: skip
