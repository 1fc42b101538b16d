"""``LogisticNormal(loc, scale)``: a Normal vector mapped onto the simplex by stick breaking
(one more coordinate than ``loc``), reparameterised."""

from __future__ import annotations

from typing import Any

from backprop.distributions import constraints
from backprop.distributions.normal import Normal
from backprop.distributions.transformed_distribution import TransformedDistribution
from backprop.distributions.transforms import StickBreakingTransform
from backprop.tensor import Tensor

__all__ = ["LogisticNormal"]


class LogisticNormal(TransformedDistribution):
    """StickBreakingTransform()(X), X ~ Normal(loc, scale) with its last batch dim as the event."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        base_dist = Normal(loc, scale, validate_args=validate_args)
        if not base_dist.batch_shape:
            base_dist = base_dist.expand([1])
        super().__init__(base_dist, StickBreakingTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LogisticNormal:
        new = self._get_checked_instance(LogisticNormal, _instance)
        return super().expand(batch_shape, _instance=new)  # type: ignore[return-value]

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc  # type: ignore[attr-defined]

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale  # type: ignore[attr-defined]
