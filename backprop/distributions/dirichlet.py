"""``Dirichlet(concentration)`` on the simplex, and ``Beta(concentration1, concentration0)`` (a
two-category Dirichlet, as torch builds it). ``rsample`` normalises implicitly reparameterised float64 Gamma
draws (``gamma.standard_gamma``): unbiased gradients, though not torch's pathwise ones for a draw."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from backprop import creation, dtypes
from backprop import functions as fn
from backprop.distributions import constraints
from backprop.distributions.exp_family import ExponentialFamily
from backprop.distributions.gamma import standard_gamma
from backprop.distributions.utils import broadcast_all
from backprop.nn import functional as F  # noqa: N812 - torch's name
from backprop.tensor import Tensor

__all__ = ["Beta", "Dirichlet"]


class Dirichlet(ExponentialFamily):
    """Dirichlet(a): density Gamma(sum a) / prod Gamma(a_i) prod x_i^(a_i - 1); event shape ``(K,)``."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Dirichlet:
        return self._expand_params(Dirichlet, batch_shape, _instance, ("concentration",), trailing=1)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """torch's ``_sample_dirichlet``: Gamma draws of the concentration as float64, normalised in float64,
        then cast to the dtype within [tiny, the float below 1] (so on the CPU torch's numbers)."""
        conc = self.concentration.expand(self._extended_shape(sample_shape))
        gammas = standard_gamma(conc.to(dtypes.float64))
        ratio = gammas / gammas.sum(-1, keepdim=True)
        dt = conc.dtype
        if dt == dtypes.float64:
            return ratio.clamp(min=float(np.finfo(np.float64).tiny), max=float(np.nextafter(1.0, 0.0)))
        info = np.finfo(np.dtype(str(dt).removeprefix("backprop.")))
        below_one = float(np.nextafter(info.dtype.type(1), info.dtype.type(0)))
        return ratio.to(dt).clamp(min=float(info.tiny), max=below_one)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return (a - 1.0).xlogy(value).sum(-1) + a.sum(-1).lgamma() - a.lgamma().sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self) -> Tensor:
        am1 = (self.concentration - 1).clamp(min=0.0)
        total = am1.sum(-1, True)
        mode = am1 / fn.where(total == 0, 1.0, total)  # no 0/0 in the branch the vertex replaces
        corner = F.one_hot(mode.argmax(dim=-1), am1.shape[-1]).to(mode.dtype)  # all a_i < 1: a vertex
        return fn.where((self.concentration < 1).all(dim=-1, keepdim=True), corner, mode)

    @property
    def variance(self) -> Tensor:
        a0 = self.concentration.sum(-1, True)
        return self.concentration * (a0 - self.concentration) / (a0.pow(2) * (a0 + 1))

    def entropy(self) -> Tensor:
        a = self.concentration
        k = a.size(-1)
        a0 = a.sum(-1)
        return a.lgamma().sum(-1) - a0.lgamma() - (k - a0) * a0.digamma() - ((a - 1.0) * a.digamma()).sum(-1)


class Beta(ExponentialFamily):
    """Beta(a, b) on [0, 1]: density x^(a - 1) (1 - x)^(b - 1) / B(a, b)."""

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Any, concentration0: Any, validate_args: bool | None = None) -> None:
        if isinstance(concentration1, numbers.Number) and isinstance(concentration0, numbers.Number):
            both = creation.tensor([concentration1, concentration0], dtype=dtypes.get_default_dtype())
        else:
            concentration1, concentration0 = broadcast_all(concentration1, concentration0)
            both = fn.stack([concentration1, concentration0], -1)
        self._dirichlet = Dirichlet(both, validate_args=validate_args)
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Beta:
        new = self._get_checked_instance(Beta, _instance)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        ExponentialFamily.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def concentration1(self) -> Tensor:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> Tensor:
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(fn.stack([value, 1.0 - value], -1))

    def entropy(self) -> Tensor:
        return self._dirichlet.entropy()
