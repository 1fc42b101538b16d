"""Reductions and scans as Tensor methods: torch's ``dim=``/``keepdim=`` (or the aliases ``axis=``/
``keepdims=``, which torch accepts too) become the kernels' ``axis``/``keepdims``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from backprop import dtypes
from backprop.autograd.function import apply
from backprop.ops import elementwise as ew
from backprop.ops import reduction, scan
from backprop.ops._util import dim_alias as _dim
from backprop.ops._util import dims_arg, wrap_dim

if TYPE_CHECKING:
    from backprop.tensor import Tensor


class ValuesIndices(NamedTuple):
    """``(values, indices)``: what ``max(dim)``, ``min(dim)``, ``median(dim)``, ``cummax`` and
    ``cummin`` return (torch.return_types); the indices are int64."""

    values: Tensor
    indices: Tensor


MinMax = ValuesIndices


def _keep(keepdim: bool, keepdims: bool | None) -> bool:
    return keepdim if keepdims is None else keepdims


def _dims(dim: Any) -> Any:
    """A reduction's dims (None, int, or a sequence; an empty sequence means all dims, as torch)."""
    d = dims_arg(dim)
    return None if d == () else d


def _int_dim(name: str, dim: Any) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{name}(): dim must be an int, got {dim!r}")
    return dim


def _accumulating(x: Any, dtype: Any) -> Any:
    """``x`` cast for sum/prod/cumsum/cumprod: to ``dtype`` when given, else bools and integers
    to int64 (torch)."""
    if dtype is not None:
        return x.to(dtype=dtype)
    if x.dtype.kind in "biu" and x.dtype != dtypes.int64:
        return x.to(dtypes.int64)
    return x


def _floating(x: Any, name: str, dtype: Any = None) -> Any:
    """``x`` (cast to ``dtype`` when given), which must be floating point (torch raises otherwise)."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    if x.dtype.kind not in "fc":
        raise RuntimeError(
            f"{name}(): input dtype must be floating point or complex, got {x.dtype}; pass dtype= or "
            "convert with .float()"
        )
    return x


class ReductionMethods:
    """``x.sum(dim)``, ``x.max(dim)``, ``x.var(dim, correction=...)``, ``x.cumsum(dim)``, ..."""

    __slots__ = ()

    # ------------------------------------------------------------ sums and means
    def sum(
        self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """Sum over ``dim`` (all by default); bool and integer inputs sum to int64 (torch)."""
        x = _accumulating(self, dtype)
        return apply(reduction.sum, x, axis=_dims(_dim("sum", dim, axis)), keepdims=_keep(keepdim, keepdims))

    def nansum(
        self: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """Sum treating NaN as zero."""
        x = _accumulating(self, dtype)
        if x.dtype.kind in "fc":
            x = apply(ew.where, apply(ew.ne, x, x), 0.0, x)
        return x.sum(_dim("nansum", dim, axis), _keep(keepdim, keepdims))

    def mean(
        self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """Mean over ``dim``; integer inputs need a floating ``dtype=`` (torch)."""
        x = _floating(self, "mean", dtype)
        return apply(reduction.mean, x, axis=_dims(_dim("mean", dim, axis)), keepdims=_keep(keepdim, keepdims))

    def nanmean(
        self: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """Mean of the non-NaN elements."""
        x = _floating(self, "nanmean", dtype)
        dim, keepdim = _dim("nanmean", dim, axis), _keep(keepdim, keepdims)
        n = apply(ew.eq, x, x).sum(dim, keepdim).to(x.dtype)
        empty = apply(ew.eq, n, 0)  # all-nan slices: nan (torch), without a 0/0 warning
        return apply(ew.where, empty, float("nan"), x.nansum(dim, keepdim) / apply(ew.where, empty, 1.0, n))

    def count_nonzero(self: Any, dim: Any = None, *, axis: Any = None) -> Tensor:
        """The number of non-zero elements over ``dim`` (int64)."""
        return apply(ew.ne, self, 0).sum(_dim("count_nonzero", dim, axis))

    def prod(
        self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """Product over one ``dim`` (all by default); exact gradients with zeros in the input."""
        dim = _dim("prod", dim, axis)
        x = _accumulating(self, dtype)
        d = None if dim is None else wrap_dim(_int_dim("prod", dim), x.ndim, "prod")
        return apply(reduction.prod, x, axis=d, keepdims=_keep(keepdim, keepdims))

    # ------------------------------------------------------------ extremes
    def amax(self, dim: Any = (), keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Maximum over ``dim`` (all by default); ties share the gradient equally."""
        dim = _dim("amax", None if dim == () else dim, axis)
        return apply(reduction.amax, self, axis=_dims(dim), keepdims=_keep(keepdim, keepdims))

    def amin(self, dim: Any = (), keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Minimum over ``dim`` (all by default); ties share the gradient equally."""
        dim = _dim("amin", None if dim == () else dim, axis)
        return apply(reduction.amin, self, axis=_dims(dim), keepdims=_keep(keepdim, keepdims))

    def max(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The maximum (gradient shared by ties), ``(values, indices)`` along ``dim`` (gradient to
        the returned index), or ``max(other)``: the elementwise maximum, all as torch."""
        if hasattr(dim, "grad_fn"):
            return apply(ew.maximum, self, dim)
        dim = _dim("max", dim, axis)
        if dim is None:
            return self.amax()
        return self._select("max", reduction.argmax, dim, _keep(keepdim, keepdims))

    def min(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The minimum (gradient shared by ties), ``(values, indices)`` along ``dim`` (gradient to
        the returned index), or ``min(other)``: the elementwise minimum, all as torch."""
        if hasattr(dim, "grad_fn"):
            return apply(ew.minimum, self, dim)
        dim = _dim("min", dim, axis)
        if dim is None:
            return self.amin()
        return self._select("min", reduction.argmin, dim, _keep(keepdim, keepdims))

    def median(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The lower median (torch: for an even count the smaller middle value, not the mean), or
        ``(values, indices)`` along ``dim`` (gradient to the returned index)."""
        dim = _dim("median", dim, axis)
        if dim is None:
            return apply(reduction.median, self)
        return self._select("median", reduction.argmedian, dim, _keep(keepdim, keepdims))

    def _select(self: Any, name: str, index_op: Any, dim: Any, keepdim: bool) -> ValuesIndices:
        """``(values, indices)`` of a value-selecting reduction along one ``dim``."""
        d = wrap_dim(_int_dim(name, dim), self.ndim, name)
        x = self if self.ndim else self.reshape(1)
        index = apply(index_op, x, axis=d, keepdims=True)
        values = apply(reduction.take_indexed, x, index, axis=d)
        if self.ndim == 0:
            return ValuesIndices(values.reshape(()), index.reshape(()))
        if not keepdim:
            shape = self.shape[:d] + self.shape[d + 1 :]
            values, index = values.reshape(shape), index.reshape(shape)
        return ValuesIndices(values, index)

    def argmax(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Index of the first maximum along ``dim``, or in the flattened tensor (int64, no gradient)."""
        return self._arg("argmax", reduction.argmax, _dim("argmax", dim, axis), _keep(keepdim, keepdims))

    def argmin(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Index of the first minimum along ``dim``, or in the flattened tensor (int64, no gradient)."""
        return self._arg("argmin", reduction.argmin, _dim("argmin", dim, axis), _keep(keepdim, keepdims))

    def _arg(self: Any, name: str, opdef: Any, dim: Any, keepdim: bool) -> Tensor:
        d = None if dim is None else wrap_dim(_int_dim(name, dim), self.ndim, name)
        return apply(opdef, self, axis=d, keepdims=keepdim)

    # ------------------------------------------------------------ spread
    def var(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
        axis: Any = None,
        keepdims: Any = None,
    ) -> Tensor:
        """Variance; ``correction=1`` (unbiased) by default, as torch (nan/inf where n <= correction)."""
        return self._spread("var", reduction.var, dim, unbiased, keepdim, correction, axis, keepdims)

    def std(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
        axis: Any = None,
        keepdims: Any = None,
    ) -> Tensor:
        """Standard deviation; ``correction=1`` (unbiased) by default (gradient 0 where it is 0)."""
        return self._spread("std", reduction.std, dim, unbiased, keepdim, correction, axis, keepdims)

    def _spread(
        self: Any,
        name: str,
        opdef: Any,
        dim: Any,
        unbiased: Any,
        keepdim: bool,
        correction: Any,
        axis: Any,
        keepdims: Any,
    ) -> Tensor:
        if isinstance(dim, bool):  # torch's var(unbiased) overload: x.var(False)
            dim, unbiased = None, dim
        if correction is None:
            correction = 0 if unbiased is False else 1
        elif unbiased is not None:
            raise TypeError(f"{name}(): pass either unbiased or correction, not both")
        x = _floating(self, name)
        return apply(
            opdef, x, axis=_dims(_dim(name, dim, axis)), correction=correction, keepdims=_keep(keepdim, keepdims)
        )

    def logsumexp(
        self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """log(sum(exp(x))) over ``dim`` without overflow (integer inputs give the default float)."""
        dim = _dim("logsumexp", dim, axis, required=True)
        x = self if self.dtype.kind in "fc" else self.to(dtypes.get_default_dtype())
        return apply(reduction.logsumexp, x, axis=_dims(dim), keepdims=_keep(keepdim, keepdims))

    def norm(self: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Vector ``p``-norm over ``dim`` (all by default): ``'fro'`` and 2 are the Euclidean norm, also
        over two dims; ``inf``/``-inf`` the largest/smallest |x|; gradient 0 where the norm is 0."""
        if isinstance(p, str):
            if p != "fro":
                raise NotImplementedError(f"norm(): p={p!r} is not supported (only 'fro' and numbers)")
            p = 2.0
        x = _floating(self, "norm", dtype)
        return apply(reduction.norm, x, ord=2.0 if p is None else float(p), axis=_dims(dim), keepdims=keepdim)

    # ------------------------------------------------------------ logic
    def all(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Whether all elements (over ``dim``) are non-zero: a bool tensor (uint8 for uint8, as torch)."""
        out = apply(reduction.all, self, axis=_dims(_dim("all", dim, axis)), keepdims=_keep(keepdim, keepdims))
        return out.to(self.dtype) if self.dtype == dtypes.uint8 else out

    def any(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Whether any element (over ``dim``) is non-zero: a bool tensor (uint8 for uint8, as torch)."""
        out = apply(reduction.any, self, axis=_dims(_dim("any", dim, axis)), keepdims=_keep(keepdim, keepdims))
        return out.to(self.dtype) if self.dtype == dtypes.uint8 else out

    # ------------------------------------------------------------ scans
    def cumsum(self, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Tensor:
        """Cumulative sum along ``dim``; bool and integer inputs give int64 (torch)."""
        dim = _int_dim("cumsum", _dim("cumsum", dim, axis, required=True))
        return apply(scan.cumsum, _accumulating(self, dtype), axis=dim)

    def cumprod(self, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Tensor:
        """Cumulative product along ``dim``; exact gradients with zeros in the input."""
        dim = _int_dim("cumprod", _dim("cumprod", dim, axis, required=True))
        return apply(scan.cumprod, _accumulating(self, dtype), axis=dim)

    def logcumsumexp(self, dim: Any = None, *, axis: Any = None) -> Tensor:
        """log(cumsum(exp(x))) along ``dim``, without overflow or underflow."""
        dim = _int_dim("logcumsumexp", _dim("logcumsumexp", dim, axis, required=True))
        return apply(scan.logcumsumexp, _floating(self, "logcumsumexp"), axis=dim)

    def cummax(self: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
        """Running maximum along ``dim`` and its indices (ties take the latest index; the gradient
        goes to the index, as torch)."""
        return self._running("cummax", scan.cummax_index, _dim("cummax", dim, axis, required=True))

    def cummin(self: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
        """Running minimum along ``dim`` and its indices (ties take the latest index)."""
        return self._running("cummin", scan.cummin_index, _dim("cummin", dim, axis, required=True))

    def _running(self: Any, name: str, index_op: Any, dim: Any) -> ValuesIndices:
        d = wrap_dim(_int_dim(name, dim), self.ndim, name)
        x = self if self.ndim else self.reshape(1)
        index = apply(index_op, x, axis=d)
        values = apply(reduction.take_indexed, x, index, axis=d)
        if self.ndim == 0:
            return ValuesIndices(values.reshape(()), index.reshape(()))
        return ValuesIndices(values, index)
