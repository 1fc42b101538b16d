"""torch's module name for ``Beta`` (defined with ``Dirichlet`` in ``dirichlet``)."""

from backprop.distributions.dirichlet import Beta

__all__ = ["Beta"]
