"""``VonMises(loc, concentration)``: the circular normal on [-pi, pi), density e^(k cos(x - loc)) / (2 pi I0(k));
drawn by Best and Fisher's (1979) rejection sampler in float64 (no rsample, as torch). log I0 and log I1
come from SciPy's exponentially scaled Bessel functions (exact to rounding), where torch uses
Abramowitz-Stegun polynomials (relative error about 1e-7): values agree with torch's to that."""

from __future__ import annotations

import math
from typing import Any

from backprop import creation, dtypes, special
from backprop import functions as fn
from backprop.autograd import no_grad
from backprop.distributions import constraints
from backprop.distributions.distribution import Distribution
from backprop.distributions.utils import as_size, broadcast_all, uniform
from backprop.tensor import Tensor

__all__ = ["VonMises"]


def _log_modified_bessel_fn(x: Tensor, order: int = 0) -> Tensor:
    """log I_order(x) for x > 0, order 0 or 1: log(I_order e^-x) + x."""
    if order not in (0, 1):
        raise AssertionError(f"order must be 0 or 1, got {order}")
    scaled = special.i0e(x) if order == 0 else special.i1e(x)
    return scaled.log() + x


def _rejection_sample(loc: Tensor, concentration: Tensor, proposal_r: Tensor, x: Tensor) -> Tensor:
    """Best-Fisher: propose f from a wrapped Cauchy envelope, accept by the two tests, until all accepted."""
    done = creation.zeros(tuple(x.shape), dtype=bool, device=loc.device)
    while not bool(done.all()):
        u1, u2, u3 = uniform((3,) + tuple(x.shape), loc).unbind()
        z = (math.pi * u1).cos()
        f = (1 + proposal_r * z) / (proposal_r + z)
        c = concentration * (proposal_r - f)
        accept = ((c * (2 - c) - u2) > 0) | ((c / u2).log() + 1 - c >= 0)
        # (a later acceptance replaces an earlier one, as torch's loop: the same draws give its numbers)
        x = fn.where(accept, (u3 - 0.5).sign() * f.clamp(min=-1.0, max=1.0).acos(), x)
        done = done | accept
    return (x + math.pi + loc) % (2 * math.pi) - math.pi


class VonMises(Distribution):
    """VonMises(loc, concentration k): mean ``loc``, circular variance 1 - I1(k) / I0(k)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, (), validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> VonMises:
        return self._expand_params(VonMises, batch_shape, _instance, ("loc", "concentration"))

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.concentration * (value - self.loc).cos()
        return log_prob - math.log(2 * math.pi) - _log_modified_bessel_fn(self.concentration, order=0)

    def _proposal_r(self, kappa: Tensor) -> Tensor:
        tau = 1 + (1 + 4 * kappa**2).sqrt()
        rho = (tau - (2 * tau).sqrt()) / (2 * kappa)
        return fn.where(kappa < 1e-5, 1 / kappa + kappa, (1 + rho**2) / (2 * rho))  # Taylor for tiny kappa

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with no_grad():
            shape = tuple(self._extended_shape(as_size(sample_shape)))
            loc = self.loc.to(dtypes.float64)
            kappa = self.concentration.to(dtypes.float64)
            x = creation.zeros(shape, dtype=dtypes.float64, device=self.loc.device)
            return _rejection_sample(loc, kappa, self._proposal_r(kappa), x).to(self.loc.dtype)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        k = self.concentration
        return 1 - (_log_modified_bessel_fn(k, order=1) - _log_modified_bessel_fn(k, order=0)).exp()
