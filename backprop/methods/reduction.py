"""Reductions as Tensor methods: torch's ``dim=``/``keepdim=`` become the kernels' ``axis``/``keepdims``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from backprop.autograd.function import apply
from backprop.ops import reduction
from backprop.ops._util import dims_arg

if TYPE_CHECKING:
    from backprop.tensor import Tensor


class MinMax(NamedTuple):
    """``(values, indices)`` of ``max(dim)`` / ``min(dim)``."""

    values: Tensor
    indices: Tensor


class ReductionMethods:
    """``x.sum(dim)``, ``x.max(dim)``, ``x.var(dim, correction=...)``, ..."""

    __slots__ = ()

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.sum, self, axis=dims_arg(dim), keepdims=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.mean, self, axis=dims_arg(dim), keepdims=keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.amax, self, axis=dims_arg(dim), keepdims=keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.amin, self, axis=dims_arg(dim), keepdims=keepdim)

    def max(self: Any, dim: int | None = None, keepdim: bool = False) -> Any:
        """Full max, or ``(values, indices)`` along ``dim`` (torch semantics)."""
        if dim is None:
            return self.amax()
        return MinMax(self.amax(dim, keepdim), self.argmax(dim, keepdim))

    def min(self: Any, dim: int | None = None, keepdim: bool = False) -> Any:
        """Full min, or ``(values, indices)`` along ``dim`` (torch semantics)."""
        if dim is None:
            return self.amin()
        return MinMax(self.amin(dim, keepdim), self.argmin(dim, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the maxima (int64, no gradient)."""
        return apply(reduction.argmax, self, axis=dim, keepdims=keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the minima (int64, no gradient)."""
        return apply(reduction.argmin, self, axis=dim, keepdims=keepdim)

    def var(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: int | None = None,
    ) -> Tensor:
        """Variance; ``correction=1`` (unbiased) by default, as torch."""
        if correction is None:
            correction = 0 if unbiased is False else 1
        return apply(reduction.var, self, axis=dims_arg(dim), correction=correction, keepdims=keepdim)

    def std(
        self: Any,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: int | None = None,
    ) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return apply(reduction.logsumexp, self, axis=dims_arg(dim), keepdims=keepdim)
