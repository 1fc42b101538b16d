"""torch.nn.modules.lazy: ``LazyModuleMixin``, the base of the lazy convolutions and norms (the
first call materialises their parameters and turns them into their ordinary class)."""

from backprop.nn.lazy import _LazyMixin as LazyModuleMixin

__all__ = ["LazyModuleMixin"]
