"""torch's module name for ``HalfCauchy`` (defined in ``cauchy``)."""

from backprop.distributions.cauchy import HalfCauchy

__all__ = ["HalfCauchy"]
