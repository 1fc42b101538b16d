"""Reductions and scans as Tensor methods: torch's ``dim=``/``keepdim=`` (or the aliases ``axis=``/
``keepdims=``, which torch accepts too) become the kernels' ``axis``/``keepdims``."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from backprop import dtypes
from backprop.autograd.function import apply, apply_
from backprop.autograd.node_names import name_node, name_values
from backprop.methods import structseqs as rt
from backprop.methods.linalg import svd_parts
from backprop.methods.structseqs import MinMaxValues, ValuesIndices
from backprop.ops import elementwise as ew
from backprop.ops import reduction, scan, sorting
from backprop.ops import shape as sh
from backprop.ops._util import ShapeError, dims_arg, size_arg, user_stacklevel, wrap_dim
from backprop.ops._util import dim_alias as _dim
from backprop.registry import refuse_complex

if TYPE_CHECKING:
    from backprop.tensor import Tensor


MinMax = ValuesIndices


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(self: Any, name: str, q: Any, dim: Any, keepdim: bool, interpolation: str, ignore_nan: bool) -> Tensor:
    """quantile / nanquantile: sort along the dim (NaN last), then read (and interpolate between)
    the sorted values at rank q * (n - 1), n the count of (non-NaN) values, as torch."""
    # torch's messages (which say quantile() for nanquantile too), in torch's order
    if not hasattr(q, "grad_fn") and not 0 <= float(q) <= 1:  # (printed as C++ streams a double: %g)
        raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {float(q):g}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            "quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, but got "
            f"{interpolation}"
        )
    if self.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if hasattr(q, "grad_fn") and q.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if str(self.dtype) not in ("float32", "float64"):
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if hasattr(q, "grad_fn"):
        if q.dtype != self.dtype:
            raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
        scalar, qs = q.ndim == 0, q.reshape(-1)  # (differentiable: linear interpolation's weight follows q)
    else:
        scalar, qs = True, self._wrap(self.device.xp.asarray([float(q)], dtype=self.dtype), self.device, None)
    if qs.numel() and not ((qs.detach() >= 0) & (qs.detach() <= 1)).all().item():
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    if dim is None:
        x, d = self.reshape(-1), None
    else:
        d = wrap_dim(_int_dim(name, dim), self.ndim, name)
        x = self.reshape(1) if self.ndim == 0 else self.movedim(d, -1)
    n = x.shape[-1]
    ordered = x.sort(-1).values  # NaN last
    valid = apply(ew.eq, x, x).sum(-1, keepdim=True)  # the non-NaN count per slice
    if ignore_nan:
        ranks = qs * (valid - 1).to(self.dtype)  # all NaN: rank 0 (a NaN), as torch's masked_fill (no q gradient)
        ranks = apply(ew.where, apply(ew.lt, ranks, 0.0), 0.0, ranks)
    else:  # a slice with a NaN reads its last element (a NaN)
        ranks = apply(ew.where, apply(ew.lt, valid, n), float(n - 1), qs * float(n - 1))
    if interpolation == "nearest":
        ranks = ranks.round()  # halves to even, as torch
    if interpolation in ("lower", "nearest"):
        out = ordered.gather(-1, ranks.floor().long())
    elif interpolation == "higher":
        out = ordered.gather(-1, ranks.ceil().long())
    else:  # torch's lerp between the neighbours
        below, above = ordered.gather(-1, ranks.floor().long()), ordered.gather(-1, ranks.ceil().long())
        weight = ranks - ranks.floor() if interpolation == "linear" else ranks.detach() * 0 + 0.5  # (midpoint: no q)
        out = below.lerp(above, weight)
    out = out.movedim(-1, 0)  # (len(q), the kept dims)
    if keepdim and self.ndim:  # a 0-d input keeps its (empty) shape, dim=0 or not
        out = out.reshape((out.shape[0],) + (1,) * self.ndim) if d is None else out.unsqueeze(d + 1)
    return name_node(out.reshape(out.shape[1:]) if scalar else out, "SqueezeBackward4")  # (torch's last step)


def _renorm_factor(self: Any, p: Any, dim: int, maxnorm: Any) -> Any:
    """renorm's scale per slice along ``dim``: maxnorm / (norm + 1e-7) where the norm exceeds maxnorm, else 1."""
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported, got p={p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if self.ndim == 0:
        raise RuntimeError("renorm: input needs at least 1 dimension, got 0 dimensions")
    d = wrap_dim(dim, self.ndim, "renorm")
    others = tuple(i for i in range(self.ndim) if i != d)
    norms = self.norm(p, others, keepdim=True) if others else self.abs()
    return apply(ew.where, apply(ew.gt, norms, maxnorm), maxnorm / (norms + 1e-7), 1.0)


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


def _refuse_bool_median(x: Any, dim: Any) -> None:
    if x.dtype == dtypes.bool_:  # (torch's kernel names, for nanmedian too)
        raise NotImplementedError(f"\"{'median_cpu' if dim is None else 'median_out'}\" not implemented for 'Bool'")


def _check_selected_dim(name: str, x: Any, d: int) -> None:
    """max/min/median/mode along an empty dim: torch's IndexError, named after the method called."""
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _accumulating(x: Any, dtype: Any) -> Any:
    """``x`` cast for sum/prod/cumsum/cumprod: to ``dtype`` when given, else bools and integers
    to int64 (torch)."""
    if dtype is not None:
        return x.to(dtype=dtype)
    if x.dtype.kind in "biu" and x.dtype != dtypes.int64:
        return x.to(dtypes.int64)
    return x


def _as_requested(out: Any, dtype: Any) -> Any:
    """A sum/prod/scan result in the ``dtype=`` asked for (NumPy accumulates small integers in int64)."""
    return out if out.dtype == dtype else out.to(dtype)


def _floating(x: Any, name: str, dtype: Any = None) -> Any:
    """``x`` (cast to ``dtype`` when given), which must be floating point (torch raises otherwise)."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    if dtypes.kind(x.dtype) not in "fc" and name in ("mean", "nanmean"):  # torch's words for these two
        got = dtypes.scalar_type_name(x.dtype)
        if name == "nanmean":
            raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got {got}")
        which = "Input" if dtype is None else "Optional"
        raise RuntimeError(
            f"mean(): could not infer output dtype. {which} dtype must be either a floating point or complex "
            f"dtype. Got: {got}"
        )
    if dtypes.kind(x.dtype) not in "fc":
        got = dtypes.scalar_type_name(x.dtype)
        if name == "logcumsumexp":
            raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for '{got}'")
        which = "Input" if dtype is None else "Optional"
        raise RuntimeError(
            {  # torch's message for each (a user's own int tensor: .float() it or pass dtype=)
                "mean": f"mean(): could not infer output dtype. {which} dtype must be either a floating point or "
                f"complex dtype. Got: {got}",
                "nanmean": f"nanmean(): expected input to have floating point or complex dtype but got {got}",
                "std": "std and var only support floating point and complex dtypes",
                "var": "std and var only support floating point and complex dtypes",
                "std_mean": "std_mean only support floating point and complex dtypes",
                "var_mean": "var_mean only support floating point and complex dtypes",
                "norm": f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {got}",
            }.get(
                name,
                f"{name}(): input dtype must be floating point or complex, got {x.dtype}; pass dtype= or "
                "convert with .float()",
            )
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
        if dtype is None:
            return apply(reduction.sum, x, axis=_dims(_dim("sum", dim, axis)), keepdims=_keep(keepdim, keepdims))
        out = apply(reduction.sum, x, axis=_dims(_dim("sum", dim, axis)), keepdims=_keep(keepdim, keepdims))
        return _as_requested(out, x.dtype)

    def nansum(
        self: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """Sum treating NaN as zero."""
        refuse_complex(RuntimeError, "nansum on CPU does not support complex inputs", self)
        x = _accumulating(self, dtype)
        if dtypes.kind(x.dtype) in "fc":
            x = apply(ew.where, apply(ew.ne, x, x), 0.0, x)
        out = x.sum(_dim("nansum", dim, axis), _keep(keepdim, keepdims), dtype=None if dtype is None else x.dtype)
        return out if out is self else name_node(out, "NansumBackward0")

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
        refuse_complex(RuntimeError, "nansum on CPU does not support complex inputs", self)
        x = _floating(self, "nanmean", dtype)
        dim, keepdim = _dim("nanmean", dim, axis), _keep(keepdim, keepdims)
        n = apply(ew.eq, x, x).sum(dim, keepdim).to(x.dtype)
        empty = apply(ew.eq, n, 0)  # all-nan slices: nan (torch), without a 0/0 warning
        out = apply(ew.where, empty, float("nan"), x.nansum(dim, keepdim) / apply(ew.where, empty, 1.0, n))
        return name_node(out, "DivBackward0")  # (torch's nansum / count)

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
        out = apply(reduction.prod, x, axis=d, keepdims=_keep(keepdim, keepdims))
        return out if dtype is None else _as_requested(out, x.dtype)

    # ------------------------------------------------------------ extremes
    def amax(self, dim: Any = (), keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Maximum over ``dim`` (all by default); ties share the gradient equally."""
        dim = _dim("amax", None if dim == () else dim, axis)
        return apply(reduction.amax, self, axis=_dims(dim), keepdims=_keep(keepdim, keepdims))

    def amin(self, dim: Any = (), keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Minimum over ``dim`` (all by default); ties share the gradient equally."""
        dim = _dim("amin", None if dim == () else dim, axis)
        return apply(reduction.amin, self, axis=_dims(dim), keepdims=_keep(keepdim, keepdims))

    def max(
        self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None, other: Any = None
    ) -> Any:
        """The maximum (gradient shared by ties), ``(values, indices)`` along ``dim`` (gradient to
        the returned index), or ``max(other)``: the elementwise maximum, all as torch."""
        if hasattr(dim, "grad_fn"):  # (torch's max(a, b) is maximum: promoted, int with float is float32)
            return self.maximum(dim)
        if other is not None:
            return self.max(other)
        dim = _dim("max", dim, axis)
        if dim is None:
            refuse_complex(NotImplementedError, "\"max_all\" not implemented for '{dtype}'", self)
        refuse_complex(RuntimeError, "max(): does not support complex input", self)
        if dim is None:  # a nan maximum's gradient goes to the nan elements (torch's evenly_distribute)
            if not self._data.size:
                refuse_empty("max", self, None)
            return apply(reduction.amax, self, nan_shares=True)
        return self._select("max", rt.max, reduction.argmax, dim, _keep(keepdim, keepdims))

    def min(
        self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None, other: Any = None
    ) -> Any:
        """The minimum (gradient shared by ties), ``(values, indices)`` along ``dim`` (gradient to
        the returned index), or ``min(other)``: the elementwise minimum, all as torch."""
        if hasattr(dim, "grad_fn"):
            return self.minimum(dim)
        if other is not None:
            return self.min(other)
        dim = _dim("min", dim, axis)
        if dim is None:
            refuse_complex(NotImplementedError, "\"min_all\" not implemented for '{dtype}'", self)
        refuse_complex(RuntimeError, "min(): does not support complex input", self)
        if dim is None:  # a nan maximum's gradient goes to the nan elements (torch's evenly_distribute)
            if not self._data.size:
                refuse_empty("min", self, None)
            return apply(reduction.amin, self, nan_shares=True)
        return self._select("min", rt.min, reduction.argmin, dim, _keep(keepdim, keepdims))

    def median(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The lower median (torch: for an even count the smaller middle value, not the mean), or
        ``(values, indices)`` along ``dim`` (gradient to the returned index)."""
        dim = _dim("median", dim, axis)
        _refuse_bool_median(self, dim)
        if dim is None:
            return apply(reduction.median, self)
        return self._select("median", rt.median, reduction.argmedian, dim, _keep(keepdim, keepdims))

    def _select(
        self: Any, name: str, rtype: type[ValuesIndices], index_op: Any, dim: Any, keepdim: bool
    ) -> ValuesIndices:
        """``(values, indices)`` of a value-selecting reduction along one ``dim``, as the op's ``rtype``."""
        d = wrap_dim(_int_dim(name, dim), self.ndim, name)
        if not self._data.size:
            refuse_empty(name, self, d)
        x = self if self.ndim else self.reshape(1)
        _check_selected_dim(name, x, d)
        index = apply(index_op, x, axis=d, keepdims=True)
        values = apply(reduction.take_indexed, x, index, axis=d)
        if self.ndim == 0:
            return rtype(name_values(values.reshape(()), rtype), index.reshape(()))
        if not keepdim:
            shape = self.shape[:d] + self.shape[d + 1 :]
            values, index = values.reshape(shape), index.reshape(shape)
        return rtype(name_values(values, rtype), index)

    def argmax(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Index of the first maximum along ``dim``, or in the flattened tensor (int64, no gradient)."""
        return self._arg("argmax", reduction.argmax, _dim("argmax", dim, axis), _keep(keepdim, keepdims))

    def argmin(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Index of the first minimum along ``dim``, or in the flattened tensor (int64, no gradient)."""
        return self._arg("argmin", reduction.argmin, _dim("argmin", dim, axis), _keep(keepdim, keepdims))

    def _arg(self: Any, name: str, opdef: Any, dim: Any, keepdim: bool) -> Tensor:
        d = None if dim is None else wrap_dim(_int_dim(name, dim), self.ndim, name)
        if self.dtype == dtypes.bool_:
            raise RuntimeError(f"{name}(): does not support bool input")
        if not self._data.size:
            refuse_empty(
                name, self, d, IndexError, f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        return apply(opdef, self, axis=d, keepdims=keepdim)

    def nanmedian(self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """``median`` ignoring NaN (NaN only where every element is NaN), or ``(values, indices)``
        along ``dim`` (gradient to the returned index; without dim shared by the equal elements)."""
        dim = _dim("nanmedian", dim, axis)
        _refuse_bool_median(self, dim)
        if dim is None:
            flat = self.reshape(-1)
            if flat.shape[0] == 0:
                return name_node(apply(reduction.median, flat), "NanmedianBackward0")  # nan for floats, as torch
            keep = apply(ew.eq, flat, flat)  # the non-NaN elements
            if not keep.any().item():  # all NaN: NaN, its gradient shared by them (torch)
                return name_node(apply(reduction.median, flat), "NanmedianBackward0")
            return name_node(apply(reduction.median, flat[keep]), "NanmedianBackward0")
        d = wrap_dim(_int_dim("nanmedian", dim), self.ndim, "nanmedian")
        if not self._data.size:
            refuse_empty("median", self, d)  # (torch's word)
        x = self if self.ndim else self.reshape(1)
        _check_selected_dim("median", x, d)  # (torch's nanmedian says median())
        order = apply(sorting.argsort, x, axis=d)  # NaN sorts last
        valid = apply(ew.eq, x, x).sum(d, keepdim=True)
        pos = apply(ew.maximum, (valid - 1) // 2, 0)
        index = apply(reduction.take_indexed, order, pos, axis=d)
        return self._picked(x, index, d, _keep(keepdim, keepdims), rt.nanmedian)

    def mode(self: Any, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
        """``(values, indices)`` of the most frequent value along ``dim`` (the smallest among equally
        frequent ones; the index of its last occurrence); the gradient goes to that index."""
        return self._select("mode", rt.mode, reduction.argmode, dim, keepdim)

    def aminmax(self: Any, *, dim: Any = None, keepdim: bool = False) -> MinMaxValues:
        """``(min, max)`` over ``dim`` (all by default), as ``amin`` and ``amax``."""
        refuse_complex(NotImplementedError, "\"aminmax_cpu\" not implemented for '{dtype}'", self)
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool)):  # (a keyword: no position)
            raise TypeError(f"aminmax(): argument 'dim' must be int, not {type(dim).__name__}")
        if not self._data.size:
            full = "aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity."
            wrapped = None if dim is None else wrap_dim(_int_dim("aminmax", dim), self.ndim, "aminmax")
            refuse_empty("aminmax", self, wrapped, RuntimeError, full, paren="")
        d = tuple(range(self.ndim)) if dim is None and keepdim else () if dim is None else dim
        lo, hi = self.amin(d, keepdim), self.amax(d, keepdim)
        return rt.aminmax(name_node(lo, "AminmaxBackward0"), name_node(hi, "AminmaxBackward0"))  # (torch's one node)

    def quantile(self: Any, q: Any, dim: Any = None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
        """The ``q``-quantiles (a number or a 1-D tensor in [0, 1]; a tensor adds a leading dim) over
        ``dim`` (all elements by default), interpolated as ``interpolation`` says ("linear",
        "lower", "higher", "nearest", "midpoint"); NaN where the data has a NaN."""
        return _quantile(self, "quantile", q, dim, keepdim, interpolation, ignore_nan=False)

    def nanquantile(
        self: Any, q: Any, dim: Any = None, keepdim: bool = False, *, interpolation: str = "linear"
    ) -> Tensor:
        """``quantile`` ignoring NaN (NaN only where every element is NaN)."""
        return _quantile(self, "nanquantile", q, dim, keepdim, interpolation, ignore_nan=True)

    def _picked(self: Any, x: Any, index: Any, d: int, keepdim: bool, rtype: type[ValuesIndices]) -> ValuesIndices:
        """``(values at index, index)`` along ``d`` (index keeps d as size 1), shaped as ``_select``."""
        values = apply(reduction.take_indexed, x, index, axis=d)
        if self.ndim == 0:
            return rtype(name_values(values.reshape(()), rtype), index.reshape(()))
        if not keepdim:
            shape = self.shape[:d] + self.shape[d + 1 :]
            values, index = values.reshape(shape), index.reshape(shape)
        return rtype(name_values(values, rtype), index)

    def sum_to_size(self: Any, *size: Any) -> Tensor:
        """The sum over the broadcast dims that bring ``size`` up to this tensor's shape (the adjoint
        of ``expand(size)``); to ``()`` it is ``sum()`` (a new tensor, bools and ints as int64), as torch's."""
        size = size_arg(size)
        if not size:
            return self.sum()
        lead = self.ndim - len(size)
        if lead < 0 or any(n != 1 and n != m for n, m in zip(size, self.shape[lead:])):
            raise ShapeError(f"size {{{list(size)}}} is not expandable to size {{{list(self.shape)}}}.")
        x = self.sum(tuple(range(lead))) if lead else self
        dims = tuple(i for i, n in enumerate(size) if n == 1 and x.shape[i] != 1)
        return x.sum(dims, keepdim=True) if dims else x

    def diff(self: Any, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
        """The ``n``-th forward difference ``x[i + 1] - x[i]`` along ``dim`` (bools: ``!=``), after
        ``prepend`` and ``append`` are concatenated there."""
        if self.ndim == 0:
            raise ShapeError("diff expects input to be at least one-dimensional")
        if n < 0:
            raise ShapeError(f"order must be non-negative but got {n}")
        d = wrap_dim(dim, self.ndim, "diff")
        if n == 0:
            return self  # (prepend and append are ignored then, as torch)
        parts = [p for p in (prepend, self, append) if p is not None]
        if len(parts) > 1:
            for p in parts:
                if not hasattr(p, "grad_fn") or p.ndim != self.ndim:
                    raise ShapeError("diff expects prepend or append to be the same dimension as input")
            dt = self._data.dtype  # (cat's promotion, as torch: an int tensor with a float prepend is float)
            for p in parts:
                dt = dtypes.promote_dtypes(dt, p._data.dtype)
            x = apply(sh.cat, *(p if p._data.dtype == dt else p.to(dt) for p in parts), axis=d)
        else:
            x = self
        for _ in range(n):
            length = x.shape[d]
            if length == 0:
                break
            hi, lo = x.narrow(d, 1, length - 1), x.narrow(d, 0, length - 1)
            x = apply(ew.ne, hi, lo) if x.dtype.kind == "b" else hi - lo
        return x

    def renorm(self: Any, p: Any, dim: int, maxnorm: Any) -> Tensor:
        """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to norm ``maxnorm``."""
        return name_node(self * _renorm_factor(self, p, dim, maxnorm), "RenormBackward0")

    def renorm_(self: Any, p: Any, dim: int, maxnorm: Any) -> Tensor:
        return apply_(ew.mul, "renorm_", self, _renorm_factor(self, p, dim, maxnorm))

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
        label: str | None = None,
    ) -> Tensor:
        """var or std (``name``); ``label`` names the caller in the degrees-of-freedom warning (var_mean)."""
        if isinstance(dim, bool):  # torch's var(unbiased) overload: x.var(False)
            dim, unbiased = None, dim
        if correction is None:
            correction = 0 if unbiased is False else 1
        elif unbiased is not None:
            raise TypeError(f"{name}(): pass either unbiased or correction, not both")
        x = _floating(self, name)
        out = apply(
            opdef, x, axis=_dims(_dim(name, dim, axis)), correction=correction, keepdims=_keep(keepdim, keepdims)
        )
        n = x.numel() // out.numel() if out.numel() else 0  # torch's reduction factor
        if n - correction <= 0:
            warnings.warn(
                f"{label or name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                "reduction factor (input numel divided by output numel).",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return out

    def logsumexp(
        self: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """log(sum(exp(x))) over ``dim`` without overflow (integer inputs give the default float)."""
        dim = _dim("logsumexp", dim, axis, required=True)
        x = self if dtypes.kind(self.dtype) in "fc" else self.to(dtypes.get_default_dtype())
        return apply(reduction.logsumexp, x, axis=_dims(dim), keepdims=_keep(keepdim, keepdims))

    def norm(self: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Vector ``p``-norm over ``dim`` (all by default): ``'fro'`` and 2 are the Euclidean norm, also
        over two dims; ``inf``/``-inf`` the largest/smallest |x|; gradient 0 where the norm is 0."""
        if isinstance(p, str):
            if p not in ("fro", "nuc"):  # (torch sends any other string to the matrix norm, which refuses it)
                raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
            if p == "nuc" or (dim is not None and not isinstance(dim, int) and len(dim) > 2):  # matrix norms
                if dim is None and self.ndim < 2:
                    raise ShapeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
                dims = tuple(range(self.ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
                if len(dims) != 2:
                    raise ShapeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}")
                if p == "nuc":  # the sum of the singular values of the matrices over those dims
                    d0, d1 = (wrap_dim(d, self.ndim, "norm") for d in dims)
                    x = _floating(self, "norm", dtype)
                    out = svd_parts(x.movedim((d0, d1), (-2, -1)), False)[1].sum(-1)
                    return out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else out
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
        x = _accumulating(self, dtype)
        out = apply(scan.cumsum, x, axis=dim)
        return out if dtype is None else _as_requested(out, x.dtype)

    def cumprod(self, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Tensor:
        """Cumulative product along ``dim``; exact gradients with zeros in the input."""
        dim = _int_dim("cumprod", _dim("cumprod", dim, axis, required=True))
        x = _accumulating(self, dtype)
        out = apply(scan.cumprod, x, axis=dim)
        return out if dtype is None else _as_requested(out, x.dtype)

    def cumsum_(self: Any, dim: Any = None, *, dtype: Any = None) -> Tensor:
        """``cumsum`` written into this tensor (its dtype kept)."""
        dim = _int_dim("cumsum_", _dim("cumsum_", dim, None, required=True))
        return apply_(scan.cumsum, "cumsum_", self, axis=wrap_dim(dim, self.ndim, "cumsum_"))

    def cumprod_(self: Any, dim: Any = None, *, dtype: Any = None) -> Tensor:
        """``cumprod`` written into this tensor (its dtype kept)."""
        dim = _int_dim("cumprod_", _dim("cumprod_", dim, None, required=True))
        return apply_(scan.cumprod, "cumprod_", self, axis=wrap_dim(dim, self.ndim, "cumprod_"))

    def logcumsumexp(self, dim: Any = None, *, axis: Any = None) -> Tensor:
        """log(cumsum(exp(x))) along ``dim``, without overflow or underflow."""
        dim = _int_dim("logcumsumexp", _dim("logcumsumexp", dim, axis, required=True))
        return apply(scan.logcumsumexp, _floating(self, "logcumsumexp"), axis=dim)

    def cummax(self: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
        """Running maximum along ``dim`` and its indices (ties take the latest index; the gradient
        goes to the index, as torch)."""
        return self._running("cummax", rt.cummax, scan.cummax_index, _dim("cummax", dim, axis, required=True))

    def cummin(self: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
        """Running minimum along ``dim`` and its indices (ties take the latest index)."""
        return self._running("cummin", rt.cummin, scan.cummin_index, _dim("cummin", dim, axis, required=True))

    def _running(self: Any, name: str, rtype: type[ValuesIndices], index_op: Any, dim: Any) -> ValuesIndices:
        d = wrap_dim(_int_dim(name, dim), self.ndim, name)
        x = self if self.ndim else self.reshape(1)
        index = apply(index_op, x, axis=d)
        values = apply(reduction.take_indexed, x, index, axis=d)
        if self.ndim == 0:
            return rtype(name_values(values.reshape(()), rtype), index.reshape(()))
        return rtype(name_values(values, rtype), index)


def refuse_empty(
    name: str, x: Any, dim: int | None, full: type[Exception] = RuntimeError, text: str = "", *, paren: str = "()"
) -> None:
    """torch's refusal of a reduction without an identity (``max``, ``argmax``, ``median(dim)``, ...) of an
    empty ``x``: over all elements (``dim`` None) ``full(text)``, over an empty ``dim`` an IndexError."""
    if dim is None:
        raise full(
            text
            or f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
            "with the 'dim' argument."
        )
    if x.shape[dim] == 0:
        raise IndexError(f"{name}{paren}: Expected reduction dim {dim} to have non-zero size.")
