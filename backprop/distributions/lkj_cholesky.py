"""``LKJCholesky(dim, concentration)``: the LKJ law on lower Cholesky factors L of d x d correlation
matrices, p(L L^T) proportional to det(L L^T)^(eta - 1) (eta = ``concentration``; eta = 1 is uniform
over correlation matrices). ``sample`` is the onion method of Lewandowski, Kurowicka & Joe (2009),
vectorised over rows as torch's (with the paper's Beta shapes, see ``_onion_beta``); ``log_prob`` adds
the Jacobian of L -> L L^T, prod_i L_ii^(d - i)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backprop import creation
from backprop import functions as fn
from backprop.autograd import no_grad
from backprop.distributions import constraints
from backprop.distributions.dirichlet import Beta
from backprop.distributions.distribution import Distribution
from backprop.distributions.utils import as_size, broadcast_all, standard_normal
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["LKJCholesky"]


class LKJCholesky(Distribution):
    """LKJ(eta) on d x d correlation matrices, as the law of their lower Cholesky factor."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration: Tensor | float = 1.0, validate_args: bool | None = None) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        self._beta = self._onion_beta(self.concentration)
        super().__init__(self.concentration.size(), Size((dim, dim)), validate_args=validate_args)

    def _onion_beta(self, concentration: Tensor) -> Beta:
        """Beta(i / 2, eta + (d - 1 - i) / 2) for rows i = 1..d-1: the squared norm of the off-diagonal part
        of row i (Sec. 3.2 of the onion method); row 0 gets Beta(1/2, eta + (d - 2) / 2), its draw unused.
        torch uses i - 1/2 for the first shape, which for d >= 3 gives correlations of the wrong law (their
        variance should be 1 / (2 eta + d - 1), as its own log_prob implies); we use the paper's i / 2."""
        offset = creation.arange(self.dim - 1, dtype=concentration.dtype, device=concentration.device)
        offset = fn.cat([offset.new_zeros((1,)), offset])  # i - 1, and 0 for row 0
        first = fn.cat([offset.new_ones((1,)), offset[1:] + 1]) / 2  # i / 2, and 1/2 for row 0
        marginal = concentration + 0.5 * (self.dim - 2)
        return Beta(first, marginal.unsqueeze(-1) - 0.5 * offset)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LKJCholesky:
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = as_size(batch_shape)
        new.dim = self.dim
        new.concentration = self.concentration.expand(tuple(batch_shape))
        new._beta = self._beta.expand(tuple(batch_shape) + (self.dim,))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Row i = (sqrt(y_i) u_i, sqrt(1 - y_i)): u_i uniform on the unit sphere in i dims, y_i ~ Beta."""
        with no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u = standard_normal(self._extended_shape(sample_shape), y).tril(-1)
            tiny = float(np.finfo(u.dtype).tiny)
            # row 0 is all zero: the clamp keeps it zero instead of 0 / 0
            u_sphere = u / u.norm(dim=-1, keepdim=True).clamp(min=tiny)
            w = y.sqrt() * u_sphere
            diag = (1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt()
            return w + diag.diag_embed(dim1=-2, dim2=-1)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # p(L) proportional to prod_{i >= 1} L_ii^(2 (eta - 1) + d - 1 - i) (row i, 0-based)
        diag = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        rows = creation.arange(2, self.dim + 1, dtype=self.concentration.dtype, device=self.concentration.device)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - rows
        unnormalized = (order * diag.log()).sum(-1)
        # the normaliser (p. 1999 of Lewandowski et al.), with mvlgamma's pi term corrected
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        log_normalizer = 0.5 * dm1 * math.log(math.pi) + (alpha - 0.5).mvlgamma(dm1) - alpha.lgamma() * dm1
        return unnormalized - log_normalizer
