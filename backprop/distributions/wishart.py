"""``Wishart(df, covariance_matrix= | precision_matrix= | scale_tril=)``: the law of sum_k x_k x_k^T for
df draws x_k ~ N(0, Sigma) (real df > p - 1 allowed), parameterised through the lower Cholesky factor
L of Sigma. ``rsample`` uses the Bartlett decomposition W = (L A)(L A)^T, A lower triangular with
sqrt(Chi2(df - i)) on the diagonal and N(0, 1) below it, so it is differentiable in df and L."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from backprop import creation, linalg
from backprop import functions as fn
from backprop.distributions import constraints
from backprop.distributions.exp_family import ExponentialFamily
from backprop.distributions.gamma import Chi2
from backprop.distributions.multivariate_normal import _precision_to_scale_tril
from backprop.distributions.utils import as_size, lazy_property, standard_normal
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["Wishart"]

_LOG_2 = math.log(2)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """The multivariate digamma function: sum_{i < p} digamma(x - i / 2), defined for x > (p - 1) / 2."""
    if not bool(x.gt((p - 1) / 2).all()):
        raise ValueError(f"Wishart: the multivariate digamma function needs x > (p - 1) / 2 = {(p - 1) / 2}")
    half_steps = creation.arange(p, dtype=x.dtype, device=x.device) / 2
    return (x.unsqueeze(-1) - half_steps).digamma().sum(-1)


class Wishart(ExponentialFamily):
    """Wishart(df, Sigma) on p x p positive-definite matrices: mean df * Sigma; exactly one of
    ``covariance_matrix``, ``precision_matrix`` or ``scale_tril`` gives Sigma."""

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self.event_shape[-1] - 1),
        }

    def __init__(
        self,
        df: Tensor | float,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        given = [(n, m) for n, m in (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix),
                                     ("scale_tril", scale_tril)) if m is not None]  # fmt: skip
        if len(given) != 1:  # torch raises AssertionError here (MultivariateNormal raises ValueError)
            raise AssertionError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        name, param = given[0]
        if not isinstance(param, Tensor):
            raise TypeError(f"Wishart: {name} must be a Tensor, but got {type(param).__name__}")
        if param.dim() < 2:
            raise ValueError("scale_tril must be at least two-dimensional, with optional leading batch dimensions")
        if isinstance(df, numbers.Number):
            batch_shape = Size(tuple(param.shape[:-2]))
            self.df = creation.tensor(df, dtype=param.dtype, device=param.device)
        elif isinstance(df, Tensor):
            batch_shape = Size(tuple(fn.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape))))
            self.df = df.expand(tuple(batch_shape))
        else:
            raise TypeError(f"Wishart: df must be a number or a Tensor, but got {type(df).__name__}")
        event_shape = Size(tuple(param.shape[-2:]))
        p = event_shape[-1]
        if bool(self.df.le(p - 1).any()):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
        setattr(self, name, param.expand(tuple(batch_shape) + (-1, -1)))
        if bool(self.df.lt(p).any()):
            warnings.warn(
                "Low df values detected. Singular samples are highly likely to occur for ndim - 1 < df < ndim.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = param
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = linalg.cholesky(param)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(param)
        self._dist_chi2 = self._bartlett_chi2(batch_shape)

    def _bartlett_chi2(self, batch_shape: Size) -> Chi2:
        """Chi2(df - i), i = 0..p-1: the squared diagonal of the Bartlett factor."""
        p = self._event_shape[-1]
        steps = creation.arange(p, dtype=self.df.dtype, device=self.df.device)
        return Chi2(df=(self.df.unsqueeze(-1) - steps).expand(tuple(batch_shape) + (p,)))

    def expand(self, batch_shape: Any, _instance: Any = None) -> Wishart:
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = as_size(batch_shape)
        cov_shape = tuple(batch_shape + self._event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(tuple(batch_shape))
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        ExponentialFamily.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._dist_chi2 = new._bartlett_chi2(batch_shape)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple:
        return tuple(self._batch_shape + self._event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril  # noqa: N806
        return L.matmul(L.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril  # noqa: N806
        eye = creation.eye(self._event_shape[-1], dtype=L.dtype, device=L.device)
        return fn.cholesky_solve(eye, L).expand(self._matrix_shape())

    def _df_as_matrix(self, value: Tensor) -> Tensor:
        return value.reshape(tuple(self._batch_shape) + (1, 1))

    @property
    def mean(self) -> Tensor:
        return self._df_as_matrix(self.df) * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        factor = self.df - self._event_shape[-1] - 1
        factor = fn.where(factor <= 0, math.nan, factor)  # no mode for df <= p + 1
        return self._df_as_matrix(factor) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        V = self.covariance_matrix  # noqa: N806
        diag = V.diagonal(dim1=-2, dim2=-1)
        # Var(W_ij) = df (V_ij^2 + V_ii V_jj)
        return self._df_as_matrix(self.df) * (V.pow(2) + diag.unsqueeze(-1) * diag.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape: Size) -> Tensor:
        """(L A)(L A)^T with A's diagonal sqrt(Chi2(df - i)) (clamped above eps) and N(0, 1) strictly below."""
        chi = self._dist_chi2.rsample(sample_shape).sqrt()
        chi = chi.clamp(min=float(np.finfo(chi.dtype).eps))
        below = standard_normal(self._extended_shape(sample_shape), chi).tril(-1)
        chol = self._unbroadcasted_scale_tril.matmul(chi.diag_embed(dim1=-2, dim2=-1) + below)
        return chol.matmul(chol.mT)

    def rsample(self, sample_shape: Any = (), max_try_correction: int | None = None) -> Tensor:
        """A reparameterised sample by the Bartlett decomposition; draws that are numerically singular
        are redrawn up to ``max_try_correction`` (default 10) times, with a warning."""
        if max_try_correction is None:
            max_try_correction = 10
        sample_shape = as_size(sample_shape)
        sample = self._bartlett_sampling(sample_shape)
        is_singular = self.support.check(sample.detach()).logical_not()
        if bool(is_singular.any()):
            warnings.warn("Singular sample detected.", UserWarning, stacklevel=2)
            for _ in range(max_try_correction):
                sample_new = self._bartlett_sampling(sample_shape)
                sample = fn.where(is_singular.unsqueeze(-1).unsqueeze(-1), sample_new, sample)
                is_singular = self.support.check(sample.detach()).logical_not()
                if not bool(is_singular.any()):
                    break
        return sample

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril  # noqa: N806
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        trace = fn.cholesky_solve(value, L).diagonal(dim1=-2, dim2=-1).sum(-1)  # tr(Sigma^-1 X)
        return (
            -nu * (p * _LOG_2 / 2 + half_log_det)
            - (nu / 2).mvlgamma(p)
            + (nu - p - 1) / 2 * linalg.slogdet(value).logabsdet
            - trace / 2
        )

    def entropy(self) -> Tensor:
        nu = self.df
        p = self._event_shape[-1]
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return (
            (p + 1) * (p * _LOG_2 / 2 + half_log_det)
            + (nu / 2).mvlgamma(p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p)
            + nu * p / 2
        )

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        """(-Sigma^-1 / 2, (df - p - 1) / 2), paired with the statistics (W, log det W)."""
        return -self.precision_matrix / 2, (self.df - self._event_shape[-1] - 1) / 2

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        p = self._event_shape[-1]
        a = y + (p + 1) / 2  # df / 2
        return a * (-linalg.slogdet(-2 * x).logabsdet + _LOG_2 * p) + a.mvlgamma(p)
