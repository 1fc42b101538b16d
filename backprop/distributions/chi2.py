"""torch's module name for ``Chi2`` (defined with ``Gamma`` in ``gamma``)."""

from backprop.distributions.gamma import Chi2

__all__ = ["Chi2"]
