"""torch.masked's reductions and normalizations on strided tensors, with torch's semantics.

Each function replaces the masked-out elements of ``input`` by the operation's identity (0 for sums,
1 for products, -inf for maxima, ...) with ``where`` and applies the ordinary operation: so the values,
the dtype rules and, through ``where``'s gradient, the gradients (zero at masked-out elements) are
torch's. The mask broadcasts to the input (it may not have more dimensions) and is read as bool.
Fully masked-out slices give the identity (sum, prod, amax, ...) or nan (mean, var, std, median).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop import functions as F
from backprop import linalg as _linalg
from backprop.creation import as_tensor, full, ones, zeros_like
from backprop.nn import functional as nnf
from backprop.tensor import Tensor

__all__ = [
    "amax",
    "amin",
    "argmax",
    "argmin",
    "cumprod",
    "cumsum",
    "log_softmax",
    "logaddexp",
    "logsumexp",
    "mean",
    "median",
    "norm",
    "normalize",
    "prod",
    "softmax",
    "softmin",
    "std",
    "sum",
    "var",
]

_PROMOTE_TO_INT64 = {np.dtype(n) for n in ("uint8", "bool", "int8", "int16", "int32")}


def _is_float(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f" or str(dtype) == "bfloat16"


def _is_complex(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "c"


def _reduction_identity(op_name: str, input: Tensor, *args: Any) -> Tensor | None:  # noqa: A002
    """The identity of reduction ``op_name`` as a 0-d tensor of ``input``'s dtype, or None (mean, var, std)."""
    dtype, device = input.dtype, input.device
    kind = np.dtype(dtype).kind if str(dtype) != "bfloat16" else "f"
    signed = kind == "i" or dtype == np.uint8

    def const(v: Any, dt: Any = dtype) -> Tensor:
        return full((), v, dtype=dt, device=device)

    if op_name in {"sum", "cumsum"}:
        return const(0)
    if op_name in {"prod", "cumprod"}:
        return const(1)
    if op_name in {"amax", "argmax", "logaddexp", "logsumexp"}:
        if kind == "f" or (kind == "c" and op_name == "logsumexp"):
            return const(float("-inf"))
        if signed:
            return const(int(np.iinfo(np.dtype(dtype)).min))
    elif op_name in {"amin", "argmin"}:
        if kind == "f":
            return const(float("inf"))
        if signed:
            return const(int(np.iinfo(np.dtype(dtype)).max))
    elif op_name in {"mean", "var", "std"}:
        return None
    elif op_name == "norm":
        ord = args[0] if args else 2  # noqa: A001 - torch's name
        if ord == float("-inf"):
            if kind != "f":
                raise AssertionError(f"input must be floating point, got {dtype}")
            return const(float("inf"))
        return const(0)
    elif op_name == "median":
        return const(float("nan"), dtype if kind == "f" else np.float32)
    raise NotImplementedError(f"identity of {op_name} on {dtype} input")


def _canonical_dim(dim: Any, ndim: int) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative dims; None and () mean all of them (torch's rule)."""
    if dim is None or dim == ():
        return tuple(range(ndim))
    ndim = max(ndim, 1)
    dims: list[int] = []
    for d in (dim,) if isinstance(dim, int) else dim:
        if d in dims:
            raise RuntimeError(f"dim={d} appears multiple times in the list of dims")
        if d >= ndim or d < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {d})")
        dims.append(d % ndim)
    return tuple(sorted(dims))


def _axes(dims: tuple[int, ...]) -> tuple[int, ...] | None:
    """A canonical dim tuple for the ordinary reductions: () (a 0-d input) means all dims there too."""
    return dims if dims else None


def _input_mask(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:  # noqa: A002
    """The mask broadcast to ``input``'s shape, as bool."""
    mask = kwargs.get("mask")
    if mask is None:
        raise ValueError("_input_mask requires explicit mask")
    if not isinstance(mask, Tensor):
        mask = as_tensor(mask)
    if tuple(mask.shape) != tuple(input.shape):
        if mask.ndim > input.ndim:
            raise IndexError(
                "_input_mask expected broadcastable mask (got mask dimensionality higher than of the input)"
            )
        mask = F.broadcast_to(mask, tuple(input.shape))
    return mask.detach().to(dtype=np.dtype(bool))


def _output_mask(op: Any, input: Tensor, *args: Any, **kwargs: Any) -> Tensor:  # noqa: A002
    """The mask of ``op``'s output: a reduction's output is valid where any reduced input element was."""
    name = getattr(op, "__name__", None)
    if name in {"sum", "prod", "amax", "amin", "argmax", "argmin", "mean", "median", "norm", "var", "std", "logsumexp"}:
        if name == "norm" and args:
            args = args[1:]
        dim = args[0] if args else kwargs.get("dim")
        outmask = _input_mask(input, *args, **kwargs)
        dims = _canonical_dim(dim, input.ndim)
        return F.any(outmask, dim=_axes(dims), keepdim=bool(kwargs.get("keepdim", False))) if dims else outmask
    if name in {"softmax", "log_softmax", "softmin", "normalize", "cumsum", "cumprod"}:
        return _input_mask(input, *args, **kwargs)
    raise ValueError(f"_output_mask expected masked operation (got {op!r})")


def _where(mask: Tensor, input: Tensor, fill_value: Tensor) -> Tensor:  # noqa: A002
    return F.where(mask, input, fill_value)


def _combine_input_and_mask(op: Any, input: Tensor, mask: Any, *args: Any) -> Tensor:  # noqa: A002
    """``input`` with its masked-out elements replaced by ``op``'s identity (no gradient flows to them)."""
    if mask is None:
        return input
    _refuse_masked_tensor(input)
    canonical = _input_mask(input, mask=mask)
    name = op if isinstance(op, str) else op.__name__
    fill = _reduction_identity(name, input, *args)
    if fill is None:
        raise ValueError(f"masked {name}: the operation has no identity to fill masked-out elements with")
    return _where(canonical, input, fill)


def _refuse_masked_tensor(x: Any) -> None:
    from backprop.masked import MaskedTensor

    if isinstance(x, MaskedTensor):
        raise NotImplementedError("backprop.masked: MaskedTensor inputs are not supported (pass mask=)")


def _int64_if_small(input: Tensor, dtype: Any) -> Any:  # noqa: A002
    if dtype is not None:
        return dtype
    return np.dtype("int64") if np.dtype(input.dtype) in _PROMOTE_TO_INT64 else input.dtype


def sum(  # noqa: A001 - torch's name
    input: Tensor,  # noqa: A002
    dim: Any = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The sum of the unmasked elements of ``input`` over ``dim`` (0 where all are masked out)."""
    dtype = _int64_if_small(input, dtype)
    dims = _canonical_dim(dim, input.ndim)
    return F.sum(_combine_input_and_mask("sum", input, mask), _axes(dims), bool(keepdim), dtype=dtype)


def prod(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The product of the unmasked elements (1 where all are masked out)."""
    dtype = _int64_if_small(input, dtype)
    dims = _canonical_dim(dim, input.ndim)
    result = _combine_input_and_mask("prod", input, mask).to(dtype=dtype)
    for d in reversed(dims):  # one dim at a time, as torch (its prod takes a single dim)
        result = result.prod(dim=d, keepdim=bool(keepdim))
    return result


def cumsum(input: Tensor, dim: int, *, dtype: Any = None, mask: Any = None) -> Tensor:  # noqa: A002
    """The cumulative sum along ``dim``, masked-out elements counting as 0."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.ndim)[0]
    return F.cumsum(_combine_input_and_mask("sum", input, mask), d, dtype=dtype).to(dtype=dtype)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None, mask: Any = None) -> Tensor:  # noqa: A002
    """The cumulative product along ``dim``, masked-out elements counting as 1."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.ndim)[0]
    return F.cumprod(_combine_input_and_mask("prod", input, mask), d, dtype=dtype).to(dtype=dtype)


def amax(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The maximum of the unmasked elements (the dtype's lowest value, -inf for floats, where none is)."""
    dtype = input.dtype if dtype is None else dtype
    x = _combine_input_and_mask("amax", input, mask)
    return F.amax(x, _axes(_canonical_dim(dim, x.ndim)) or (), bool(keepdim)).to(dtype=dtype)


def amin(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The minimum of the unmasked elements (the dtype's highest value, inf for floats, where none is)."""
    dtype = input.dtype if dtype is None else dtype
    x = _combine_input_and_mask("amin", input, mask)
    return F.amin(x, _axes(_canonical_dim(dim, x.ndim)) or (), bool(keepdim)).to(dtype=dtype)


def argmax(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The index of the largest unmasked element, in ``input``'s dtype unless ``dtype`` says otherwise (torch)."""
    dtype = input.dtype if dtype is None else dtype
    return F.argmax(_combine_input_and_mask("argmax", input, mask), dim, bool(keepdim)).to(dtype=dtype)


def argmin(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The index of the smallest unmasked element, in ``input``'s dtype unless ``dtype`` says otherwise (torch)."""
    dtype = input.dtype if dtype is None else dtype
    return F.argmin(_combine_input_and_mask("argmin", input, mask), dim, bool(keepdim)).to(dtype=dtype)


def mean(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The mean of the unmasked elements (nan where all are masked out); floating or complex dtypes only."""
    source = "Optional"
    if dtype is None:
        dtype, source = input.dtype, "Input"
    if not (_is_float(dtype) or _is_complex(dtype)):
        raise ValueError(
            f"mean(): Could not infer output dtype. {source} dtype must be either "
            f"a floating point or complex dtype. Got: {_torch_name(dtype)}"
        )
    if mask is None:
        count = sum(ones(tuple(input.shape), dtype=np.dtype("int64"), device=input.device), dim, keepdim=keepdim)
        total = sum(input, dim, keepdim=keepdim, dtype=dtype)
    else:
        inmask = _input_mask(input, mask=mask)
        count = F.sum(inmask, dim, keepdim=bool(keepdim))
        total = sum(input, dim, keepdim=keepdim, dtype=dtype, mask=inmask)
    return total / count


def median(
    input: Tensor,  # noqa: A002
    dim: int = -1,
    *,
    keepdim: bool = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The (lower) median of the unmasked elements along ``dim`` (nan where all are masked out)."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.ndim)[0]
    is_float = _is_float(input.dtype)
    if not is_float:
        input = input.to(dtype=np.dtype("float32"))  # noqa: A001
    output = F.nanmedian(_combine_input_and_mask("median", input, mask), d, keepdim).values
    if is_float:
        return output
    if not bool(F.isnan(output).any()):
        return output.to(dtype=dtype)
    raise ValueError("masked median expects no fully masked out rows if dtype is not floating point")


def logsumexp(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    *,
    keepdim: bool = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """log(sum(exp(x))) of the unmasked elements (-inf where all are masked out)."""
    dtype = input.dtype if dtype is None else dtype
    dims = _canonical_dim(dim, input.ndim)
    x = _combine_input_and_mask("logsumexp", input, mask)
    return F.logsumexp(x, dims, keepdim=keepdim).to(dtype=dtype)


def logaddexp(
    input: Tensor,  # noqa: A002
    other: Tensor,
    *,
    dtype: Any = None,
    input_mask: Any = None,
    other_mask: Any = None,
) -> Tensor:
    """log(exp(input) + exp(other)), masked-out elements of either counting as -inf."""
    dtype = input.dtype if dtype is None else dtype
    a = _combine_input_and_mask("logaddexp", input, input_mask)
    b = _combine_input_and_mask("logaddexp", other, other_mask)
    return F.logaddexp(a, b).to(dtype=dtype)


def norm(
    input: Tensor,  # noqa: A002
    ord: float | None = 2.0,  # noqa: A002 - torch's name
    dim: Any = None,
    *,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The vector ``ord``-norm of the unmasked elements (0, or inf for ord=-inf, where all are masked out)."""
    dtype = input.dtype if dtype is None else dtype
    x = _combine_input_and_mask("norm", input, mask, ord)
    return _linalg.vector_norm(x, ord, _axes(_canonical_dim(dim, input.ndim)), bool(keepdim), dtype=dtype)


def _std_var(
    input: Tensor,  # noqa: A002
    dim: Any,
    unbiased: bool | None,
    *,
    correction_opt: float | None,
    keepdim: bool | None,
    dtype: Any,
    mask: Any,
    take_sqrt: bool,
) -> Tensor:
    if unbiased is not None and correction_opt is not None:
        raise AssertionError("Only one of unbiased and correction may be given")
    correction = 1.0
    if unbiased is not None:
        correction = 1.0 if unbiased else 0.0
    if correction_opt is not None:
        correction = float(correction_opt)
    if dtype is None:
        dtype = input.dtype
        if not (_is_float(dtype) or _is_complex(dtype)):
            dtype = np.dtype("float32")
    compute_dtype = dtype if _is_float(dtype) or _is_complex(dtype) else np.dtype("float32")
    if mask is None:
        count = sum(ones(tuple(input.shape), dtype=np.dtype("int64"), device=input.device), dim, keepdim=True)
        sample_total = sum(input, dim, keepdim=True, dtype=dtype)
        inmask = None
    else:
        inmask = _input_mask(input, mask=mask)
        count = F.sum(inmask, dim, keepdim=True)
        sample_total = sum(input, dim, keepdim=True, dtype=dtype, mask=inmask)
    x = input - sample_total / count
    total = sum(x * x.conj(), dim, keepdim=keepdim, dtype=compute_dtype, mask=inmask)
    if not keepdim:
        count = count.reshape(tuple(total.shape))
    if correction != 0:
        real = np.dtype(compute_dtype)
        real = np.empty(0, real).real.dtype if real.kind == "c" else compute_dtype
        count = count.to(dtype=real) - correction
        count = F.maximum(count, zeros_like(count))
    output = (total / count).to(dtype=dtype)
    return F.sqrt(output) if take_sqrt else output


def var(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    unbiased: bool | None = None,
    *,
    correction: float | None = None,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The variance of the unmasked elements (nan where all are masked out)."""
    return _std_var(
        input, dim, unbiased, correction_opt=correction, keepdim=keepdim, dtype=dtype, mask=mask, take_sqrt=False
    )


def std(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    unbiased: bool | None = None,
    *,
    correction: float | None = None,
    keepdim: bool | None = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """The standard deviation of the unmasked elements (nan where all are masked out)."""
    return _std_var(
        input, dim, unbiased, correction_opt=correction, keepdim=keepdim, dtype=dtype, mask=mask, take_sqrt=True
    )


def softmax(input: Tensor, dim: int, *, dtype: Any = None, mask: Any = None) -> Tensor:  # noqa: A002
    """softmax along ``dim`` over the unmasked elements (masked-out ones get 0; nan where all are masked out)."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.ndim)[0]
    return nnf.softmax(_combine_input_and_mask("amax", input, mask), d, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None, mask: Any = None) -> Tensor:  # noqa: A002
    """log_softmax along ``dim`` over the unmasked elements (masked-out ones get -inf)."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.ndim)[0]
    return nnf.log_softmax(_combine_input_and_mask("amax", input, mask), d, dtype=dtype)


def softmin(input: Tensor, dim: int, *, dtype: Any = None, mask: Any = None) -> Tensor:  # noqa: A002
    """softmin along ``dim`` over the unmasked elements (masked-out ones get 0)."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.ndim)[0]
    return nnf.softmin(_combine_input_and_mask("amin", input, mask), d, dtype=dtype)


def normalize(
    input: Tensor,  # noqa: A002
    ord: float,  # noqa: A002
    dim: int,
    *,
    eps: float = 1e-12,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """``input`` divided by its masked ``ord``-norm along ``dim`` (masked-out elements become 0)."""
    dtype = input.dtype if dtype is None else dtype
    x = _combine_input_and_mask("sum", input, mask)
    nrm = norm(input, ord, dim, keepdim=True, dtype=dtype, mask=mask)
    return x / F.maximum(nrm, full((), eps, dtype=nrm.dtype, device=nrm.device))


def _torch_name(dtype: Any) -> str:
    return "torch." + str(np.dtype(dtype) if str(dtype) != "bfloat16" else dtype)
