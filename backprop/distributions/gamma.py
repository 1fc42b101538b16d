"""``Gamma(concentration, rate)`` and ``Chi2(df)``, with an implicitly reparameterised ``rsample``.

A draw x ~ Gamma(a, 1) comes from torch's sampler on the CPU (NumPy's ``standard_gamma`` elsewhere); its
gradient with respect to ``a`` is the implicit one, dx/da = -(dF(x; a)/da) / f(x; a) (F the regularised lower
incomplete gamma function, f the density), as torch's ``_standard_gamma_grad``: here dF/da is a central
difference of SciPy's ``gammainc`` (relative accuracy about 1e-9 in float64), not torch's series approximations.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from backprop import functions as fn
from backprop.autograd import Function, trace
from backprop.distributions import constraints
from backprop.distributions.exp_family import ExponentialFamily
from backprop.distributions.utils import broadcast_all, draw
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["Chi2", "Gamma"]


def _special(xp: Any) -> Any:
    """scipy.special for NumPy arrays, cupyx.scipy.special for CuPy arrays."""
    if xp.__name__ == "cupy":
        import cupyx.scipy.special as sp
    else:
        import scipy.special as sp
    return sp


def _dx_dalpha(x: Any, alpha: Any, *, xp: Any) -> Any:
    """dx/dalpha of a Gamma(alpha, 1) draw x, in float64 then cast back: -(dP/dalpha) / density."""
    sp = _special(xp)
    x64, a64 = x.astype(np.float64), alpha.astype(np.float64)
    h = 1e-5 * a64
    dp = (sp.gammainc(a64 + h, x64) - sp.gammainc(a64 - h, x64)) / (2 * h)
    log_density = sp.xlogy(a64 - 1, x64) - x64 - sp.gammaln(a64)
    out = -dp * xp.exp(-log_density)
    return xp.where(xp.isfinite(out), out, 0.0).astype(x.dtype)


def standard_gamma(concentration: Tensor) -> Tensor:
    """Gamma(concentration, 1) samples of ``concentration``'s shape, differentiable in ``concentration``
    by implicit reparameterisation: x + dx/da (a - a.detach()) has x's value and dx/da's gradient."""
    x = draw("standard_gamma", concentration.shape, concentration)
    x = x.clamp(min=float(np.finfo(x.dtype).tiny))
    if not concentration.requires_grad:
        return x
    grad = functools.partial(_dx_dalpha, xp=concentration.device.xp)
    dx = Tensor._wrap(trace.record(grad, x, concentration.detach()), x.device, None)
    return x + dx * (concentration - concentration.detach())


def _gammainc(a: Any, z: Any, *, xp: Any) -> Any:
    """The regularised lower incomplete gamma function P(a, z)."""
    return _special(xp).gammainc(a, z).astype(z.dtype)


def _dgammainc_da(a: Any, z: Any, *, xp: Any) -> Any:
    """dP(a, z)/da by a central difference in float64 (SciPy has no closed form)."""
    sp = _special(xp)
    a64, z64 = a.astype(np.float64), z.astype(np.float64)
    h = 1e-5 * a64
    return ((sp.gammainc(a64 + h, z64) - sp.gammainc(a64 - h, z64)) / (2 * h)).astype(z.dtype)


class _GammaCdf(Function):
    """P(a, z) with dP/dz the Gamma(a, 1) density (differentiable again) and dP/da numerical (torch has
    no derivative in a: its ``igamma`` raises)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, z: Tensor) -> Tensor:
        ctx.save_for_backward(a, z)
        return Tensor._wrap(_gammainc(a._data, z._data, xp=z.device.xp), z.device, None)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, z = ctx.saved_tensors
        ga = gz = None
        if ctx.needs_input_grad[0]:
            da = _dgammainc_da(a.detach()._data, z.detach()._data, xp=z.device.xp)
            ga = gy * Tensor._wrap(da, z.device, None)
        if ctx.needs_input_grad[1]:
            gz = gy * ((a - 1).xlogy(z) - z - a.lgamma()).exp()
        return ga, gz


class Gamma(ExponentialFamily):
    """Gamma(a, rate): density rate^a x^(a - 1) e^(-rate x) / Gamma(a) on x >= 0, mean a / rate."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        scalar = isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number)
        super().__init__(Size() if scalar else self.concentration.size(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Gamma:
        return self._expand_params(Gamma, batch_shape, _instance, ("concentration", "rate"))

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        value = standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        value.detach().clamp_(min=float(np.finfo(value._data.dtype).tiny))  # (torch's: after dividing by rate)
        return value

    def log_prob(self, value: Any) -> Tensor:
        # torch.as_tensor(value, dtype=rate.dtype): a float64 value for float32 parameters gives float32
        value = value.to(self.rate.dtype) if isinstance(value, Tensor) else self.rate.new_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return a.xlogy(self.rate) + (a - 1).xlogy(value) - self.rate * value - a.lgamma()

    def cdf(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, z = fn.broadcast_tensors(self.concentration, self.rate * value)
        return _GammaCdf.apply(a, z)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - self.rate.log() + a.lgamma() + (1.0 - a) * a.digamma()


class Chi2(Gamma):
    """Chi-squared with ``df`` degrees of freedom: Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df: Any, validate_args: bool | None = None) -> None:
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Chi2:
        new = self._get_checked_instance(Chi2, _instance)
        return super().expand(batch_shape, new)  # type: ignore[return-value]

    @property
    def df(self) -> Tensor:
        return self.concentration * 2
