"""torch's ``one_hot_categorical`` module: ``OneHotCategorical`` (defined in ``categorical``) and
``OneHotCategoricalStraightThrough``, whose ``rsample`` passes gradients straight through to the probs."""

from __future__ import annotations

from typing import Any

from backprop.distributions.categorical import OneHotCategorical
from backprop.tensor import Tensor

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough"]


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """A one-hot draw whose value is the sample and whose gradient is that of the probabilities
    (the straight-through estimator, Bengio et al. 2013)."""

    has_rsample = True

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())
