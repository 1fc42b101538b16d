"""The op handlers of nested tensors: each runs the dense op on ``_values`` (or a padded copy), or raises
torch's error for what torch's nested tensors do not support."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import backprop as bp
from backprop.methods.attributes import strided
from backprop.nested import _tensor as _tensor_module
from backprop.nested._tensor import NestedInt, NestedTensor, _like, nested_from_values
from backprop.overrides import resolve_name
from backprop.size import Size
from backprop.tensor import Tensor

_UNARY = frozenset(
    """abs neg negative sin cos tan tanh sinh cosh asin acos atan exp exp2 expm1 log log2 log10 log1p sqrt rsqrt
    square sigmoid relu relu6 gelu silu mish elu selu celu leaky_relu hardtanh hardswish hardsigmoid softplus
    softsign tanhshrink logsigmoid erf erfc sign sgn floor ceil round trunc frac reciprocal isnan isinf isfinite
    logical_not bitwise_not clamp clip nan_to_num dropout alpha_dropout clone detach contiguous to float double half
    bfloat16 int long bool short cpu cuda type zeros_like ones_like empty_like full_like rand_like randn_like
    embedding""".split()
)
_INPLACE_UNARY = frozenset("neg_ sin_ cos_ tanh_ exp_ log_ sqrt_ sigmoid_ relu_ clamp_ zero_ fill_ detach_".split())
_BINARY = frozenset(
    """add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow maximum minimum atan2
    gt lt ge le eq ne greater less greater_equal less_equal not_equal logical_and logical_or logical_xor
    bitwise_and bitwise_or bitwise_xor __rsub__ __rtruediv__ __rdiv__ __rpow__ __rfloordiv__ __rmod__
    __and__ __or__ __xor__ masked_fill copysign hypot""".split()
)
_INPLACE_BINARY = frozenset("add_ sub_ mul_ div_ pow_ copy_".split())
_REDUCE: dict[str, float] = {
    "sum": 0.0, "mean": 0.0, "amax": -np.inf, "amin": np.inf, "nansum": 0.0, "prod": 1.0, "any": 0.0, "all": 1.0,
}  # fmt: skip
_SOFTMAX = frozenset({"softmax", "log_softmax"})
_ABOUT_VALUES = frozenset("is_floating_point is_complex is_signed element_size get_device is_pinned".split())


def dispatch(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``func`` on nested arguments: the handler for its name, else torch's NotImplementedError."""
    name = str(resolve_name(func) or getattr(func, "__name__", "op"))
    short = name.rsplit(".", 1)[-1]
    if short.startswith("__") and short.endswith("__") and short[2:-2] in _OPERATOR_NAMES:
        short = _OPERATOR_NAMES[short[2:-2]]
    nt = next(a for a in _flat(args, kwargs) if isinstance(a, NestedTensor))
    handler = _HANDLERS.get(short)
    if handler is not None:
        return handler(func, short, nt, args, kwargs)
    if short in _UNARY or short in _INPLACE_UNARY:
        return _unary(func, short, nt, args, kwargs)
    if short in _BINARY or short in _INPLACE_BINARY:
        return _binary(func, short, nt, args, kwargs)
    if short in ("max", "min"):
        return _maxmin(func, short, nt, args, kwargs)
    if short in _REDUCE:
        return _reduce(func, short, nt, args, kwargs)
    if short in _SOFTMAX:
        return _softmax(func, short, nt, args, kwargs)
    if short in _ABOUT_VALUES:  # (facts of the values' dtype and device)
        return func(nt._values, *args[1:], **kwargs)
    raise _unsupported(short, nt)


_OPERATOR_NAMES = {
    "add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow", "neg": "neg", "abs": "abs",
    "gt": "gt", "lt": "lt", "ge": "ge", "le": "le", "eq": "eq", "ne": "ne", "radd": "add", "rmul": "mul",
    "matmul": "matmul", "invert": "bitwise_not", "iadd": "add_", "isub": "sub_", "imul": "mul_", "itruediv": "div_",
    "floordiv": "floor_divide", "mod": "remainder",
}  # fmt: skip


def _flat(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for a in (*args, *kwargs.values()):
        out.extend(a if isinstance(a, (list, tuple)) else (a,))
    return out


def _unsupported(short: str, nt: NestedTensor) -> NotImplementedError:
    """torch's error for an op its nested tensors lack (the jagged one names the aten op)."""
    if nt._layout is strided:
        return NotImplementedError(
            f"Could not run 'aten::{short}' with arguments from the 'NestedTensorCPU' backend. This could be because "
            "the operator doesn't exist for this backend."
        )
    return NotImplementedError(f"aten.{short}.default")


def _size_str(nt: NestedTensor) -> str:
    return "(" + ", ".join(map(repr, nt._sizes())) + ")"


def _size_obj(x: Any) -> Any:
    """``x.shape`` (a nested tensor's with its ``NestedInt``), as torch's messages print it."""
    return Size.of(x._sizes()) if isinstance(x, NestedTensor) else x.shape


def _ndim(d: int, n: int, what: str = "") -> int:
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


# ------------------------------------------------------------------ padded copies
def _positions(nt: NestedTensor, width: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(index into the ragged axis of values for each (b, t) of the padded form, valid mask, its width: by
    default the longest sequence's length)."""
    lens = nt._seq_lengths()
    starts = np.asarray(nt._offsets.detach().cpu().numpy(), dtype=np.int64)[:-1]
    if width is None:
        width = nt._max_seqlen()
    t = np.arange(width)
    valid = t[None, :] < lens[:, None]
    total = nt._values.shape[nt._ragged_idx - 1]
    return np.where(valid, starts[:, None] + t[None, :], total), valid, width


def _longest(nt: NestedTensor) -> int:
    """The longest sequence's length, without caching it (torch's sums and attention do not)."""
    if "max_seqlen" in nt._meta:
        return nt._meta["max_seqlen"]
    lens = nt._seq_lengths()
    return int(lens.max()) if lens.size else 0


def _padded(nt: NestedTensor, padding: float, width: int | None = None) -> Tensor:
    """(B, ..., max length at the ragged dim, ...) with ``padding`` past each sequence (differentiable)."""
    r = nt._ragged_idx
    v = nt._values.movedim(r - 1, 0)
    idx, _, _ = _positions(nt, width)
    pad = bp.full((1, *v.shape[1:]), padding, dtype=v.dtype, device=v.device)
    ext = bp.cat([v, pad], 0)
    out = ext[bp.tensor(idx, dtype=bp.int64, device=v.device)]
    return out.movedim(1, r)


def _unpadded(padded: Tensor, like: NestedTensor) -> NestedTensor:
    """The inverse of ``_padded``: ``like``'s sequences read out of a padded tensor (same ragged dim)."""
    r = like._ragged_idx
    p = padded.movedim(r, 1)
    _, valid, _ = _positions(like, p.shape[1])
    b, t = np.nonzero(valid)
    vals = p[bp.tensor(b, dtype=bp.int64, device=p.device), bp.tensor(t, dtype=bp.int64, device=p.device)]
    vals = vals.movedim(0, r - 1)
    if like._lengths is None:
        return _like(like, vals)
    lens = like._seq_lengths()
    offsets = bp.tensor(np.concatenate([[0], np.cumsum(lens)]), dtype=bp.int64, device=vals.device)
    return nested_from_values(vals, offsets, None, r, like._layout)


def to_padded(nt: NestedTensor, padding: float, output_size: Any = None) -> Tensor:
    """torch.nested.to_padded_tensor."""
    if nt._lengths is not None:
        raise RuntimeError("to_padded_tensor(): not supported for nested tensors with holes")
    r = nt._ragged_idx
    if output_size is not None:
        width = int(output_size[r])
    else:  # torch: the cached longest length, else the total length (an upper bound)
        width = nt._meta.get("max_seqlen", nt._values.shape[r - 1])
    return _padded(nt, padding, width)  # (torch 2.13 reads only the ragged dim of output_size)


# ------------------------------------------------------------------ pointwise
def _check_only(nt: NestedTensor, args: tuple[Any, ...], kwargs: dict[str, Any], short: str) -> None:
    for a in _flat(args, kwargs):
        if isinstance(a, NestedTensor) and a is not nt:
            raise RuntimeError(f"{short}(): expected one nested tensor argument")


def _sub(a: Any, nt: NestedTensor) -> Any:
    return nt._values if a is nt else a


def _unary(func: Callable[..., Any], short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    _check_only(nt, args, kwargs, short)
    out = func(*[_sub(a, nt) for a in args], **{k: _sub(v, nt) for k, v in kwargs.items()})
    if short.endswith("_") and not short.startswith("__"):  # (in place)
        return nt
    return _like(nt, out)


def _raggedness_matches(a: NestedTensor, b: NestedTensor) -> bool:
    return a._jid == b._jid and a._ragged_idx == b._ragged_idx and a.dim() == b.dim()


def _squeeze_leading_ones(t: Tensor) -> Tensor:
    while t.dim() > 0 and t.shape[0] == 1:
        t = t.squeeze(0)
    return t


def _binary(func: Callable[..., Any], short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    a, b = args[0], args[1] if len(args) > 1 else kwargs.pop("other", kwargs.pop("mask", None))
    rest = args[2:]
    aten = f"{short}.Tensor"
    if isinstance(a, NestedTensor) and isinstance(b, NestedTensor):
        if not _raggedness_matches(a, b):
            raise RuntimeError(
                f"cannot call binary pointwise function {aten} with inputs of shapes {_size_str(a)} and {_size_str(b)}"
            )
        out = func(a._values, b._values, *rest, **kwargs)
    elif not isinstance(a, Tensor) or not isinstance(b, Tensor):  # a Python scalar
        out = func(a._values if a is nt else a, b._values if b is nt else b, *rest, **kwargs)
    else:
        if nt._layout is strided:
            raise RuntimeError(
                "Expected both self and other to be nested, but got a nested self and non-nested other"
                if a is nt
                else "Expected both self and other to be nested, but got a non-nested self and nested other"
            )
        t = b if a is nt else a
        if t.dim() > nt.dim():
            raise NotImplementedError("NYI: broadcasting NT with T with larger dim")
        ts = _squeeze_leading_ones(t)
        if nt.dim() >= ts.dim() + 2:
            out = func(nt._values if a is nt else ts, ts if a is nt else nt._values, *rest, **kwargs)
        elif a.dim() == b.dim() and t.shape[0] == len(nt):
            width = nt._meta.get("max_seqlen", nt._values.shape[nt._ragged_idx - 1])
            full = [width if i == nt._ragged_idx else s for i, s in enumerate(t.shape)]
            t_nt = _unpadded(t.expand(*full), nt)
            return _binary(func, short, nt, (nt, t_nt, *rest) if a is nt else (t_nt, nt, *rest), kwargs)
        else:
            sa, sb = _size_obj(a), _size_obj(b)
            raise RuntimeError(f"cannot call binary pointwise function {aten} with inputs of shapes {sa} and {sb}")
    if short.endswith("_") and not short.startswith("__"):  # (in place)
        return nt
    return _like(nt, out)


def _where(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    nts = [a for a in args if isinstance(a, NestedTensor)]
    for other in nts[1:]:
        if not _raggedness_matches(nts[0], other):
            raise RuntimeError(
                f"cannot call binary pointwise function where.self with inputs of shapes {_size_str(nts[0])} and "
                f"{_size_str(other)}"
            )
    vals = [a._values if isinstance(a, NestedTensor) else a for a in args]
    return _like(nts[0], func(*vals, **kwargs))


# ------------------------------------------------------------------ reductions, softmax, norms
def _dims(dim: Any, n: int) -> list[int] | None:
    if dim is None:
        return None
    ds = [dim] if isinstance(dim, int) else list(dim)
    return sorted({_ndim(d, n) for d in ds})


def _pad_value(nt: NestedTensor, short: str) -> float | int:
    """What pads the sequences for a reduction over them: its identity; for max/min the dtype's extreme finite
    value, as torch's (an empty sequence's max is the dtype's lowest, not -inf)."""
    if short in ("max", "amax", "argmax", "min", "amin", "argmin"):
        low = short in ("max", "amax", "argmax")
        dt = np.dtype(nt.dtype)
        if dt.kind in "iu":
            return int(np.iinfo(dt).min if low else np.iinfo(dt).max)
        if dt.kind == "f":
            return float(np.finfo(dt).min if low else np.finfo(dt).max)
        return -np.inf if low else np.inf
    return _REDUCE[short]


def _dense_reduce(dense: Any, x: Tensor, dims: list[int], keepdim: bool, extra: dict[str, Any]) -> Any:
    """``dense`` over ``dims`` of ``x`` (one dim at a time, last first, for the reductions that take one)."""
    if len(dims) == 1:
        return dense(x, dim=dims[0], keepdim=keepdim, **extra)
    if dense in (bp.sum, bp.mean, bp.amax, bp.amin, bp.nansum):
        return dense(x, dim=dims, keepdim=keepdim, **extra)
    for d in sorted(dims, reverse=True):
        x = dense(x, dim=d, keepdim=keepdim, **extra)
    return x


def _reduce(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    if nt._layout is strided:
        raise _unsupported(short, nt)
    dim = args[1] if len(args) > 1 else kwargs.pop("dim", None)
    keepdim = args[2] if len(args) > 2 else kwargs.pop("keepdim", False)
    extra = {k: v for k, v in kwargs.items() if k == "dtype"}
    dims = _dims(dim, nt.dim())
    dense = getattr(bp, short)
    if not dims:
        return dense(nt._values, **extra)
    r = nt._ragged_idx
    if 0 in dims and r not in dims:
        raise RuntimeError(
            f"{short}(): reducing along the batch dimension but not the ragged dimension is not supported for "
            "nested tensors"
        )
    if r in dims:
        if any(d not in (0, r) for d in dims):
            raise RuntimeError(
                f"{short}(): reducing along a ragged and non-batch dimension is not supported for nested tensors"
            )
        padded = _padded(nt, _pad_value(nt, short), _longest(nt))
        if short == "mean":
            total = padded.sum(dim=dims, keepdim=keepdim, **extra)
            counts = nt._seq_lengths()
            if 0 in dims:
                return total / float(counts.sum())
            shape = [len(counts)] + [1] * (total.dim() - 1)
            return total / bp.tensor(counts, dtype=total.dtype, device=total.device).reshape(shape)
        return _dense_reduce(dense, padded, dims, keepdim, extra)
    out = _dense_reduce(dense, nt._values, [d - 1 for d in dims], keepdim, extra)
    new_r = r if keepdim else r - sum(d < r for d in dims)
    return _like(nt, out, new_r)


def _maxmin(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    if len(args) == 1 and not kwargs:
        return func(nt._values)
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if isinstance(dim, Tensor):
        return _binary(func, short, nt, args, kwargs)
    d = _ndim(dim, nt.dim())
    if d == nt._ragged_idx:  # over each sequence: dense (B, ...) results, as torch's
        padded = _padded(nt, _pad_value(nt, short), _longest(nt))
        return func(padded, d, keepdim)
    if d == 0:
        raise RuntimeError(f"{short}(): not supported for NestedTensor on dim={d}")
    res = func(nt._values, d - 1, keepdim)
    r = nt._ragged_idx if keepdim or d > nt._ragged_idx else nt._ragged_idx - 1
    return type(res)(*(_like(nt, x, r) for x in res))


def _argmax(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if dim is None:
        return func(nt._values)
    d = _ndim(dim, nt.dim())
    r = nt._ragged_idx
    if d == r:  # over each sequence: dense (B, ...) indices
        return func(_padded(nt, _pad_value(nt, short), _longest(nt)), d, keepdim)
    if d == 0:
        raise RuntimeError(f"{short}(): not supported for NestedTensor on dim={d}")
    return _like(nt, func(nt._values, d - 1, keepdim), r if keepdim or d > r else r - 1)


def _dim_op(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    """select / narrow / split / split_with_sizes / squeeze(dim) on a dim that is neither the batch nor the
    ragged one: the dense op on the values (select(0, i) is the i-th sequence)."""
    names = {"select": ("dim", "index"), "narrow": ("dim", "start", "length"), "squeeze": ("dim",)}
    names |= dict.fromkeys(("split", "split_with_sizes"), ("split_size", "dim"))
    kw = dict(zip(names[short], args[1:], strict=False))
    kw.update(kwargs)
    if "dim" not in kw:
        if short == "squeeze":
            raise _unsupported(short, nt)
        kw["dim"] = 0
    d = _ndim(kw["dim"], nt.dim())
    r = nt._ragged_idx
    if short == "select" and d == 0:
        return _unbind(func, "unbind", nt, (nt,), {})[_ndim(kw["index"], len(nt))]
    if d == 0 or d == r:
        raise RuntimeError(f"{short}(): not supported for NestedTensor on dim={d}")
    kw["dim"] = d - 1
    out = func(nt._values, **kw)
    if isinstance(out, (tuple, list)):
        return tuple(_like(nt, o) for o in out)
    dropped = short == "select" or (short == "squeeze" and out.dim() < nt._values.dim())
    return _like(nt, out, r - 1 if dropped and d < r else r)


def _to_dense(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    raise RuntimeError("to_dense does not support layout Jagged")


def _permute(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    dims = list(args[1:]) if len(args) > 1 else list(kwargs["dims"])
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = list(dims[0])
    dims = [_ndim(d, nt.dim()) for d in dims]
    if sorted(dims) != list(range(nt.dim())):
        raise RuntimeError("permute(): number of dims don't match in permute")
    if dims[0] != 0:
        raise ValueError("Permute is not supported on the batch dimension for jagged NT")
    return _like(nt, nt._values.permute(*[d - 1 for d in dims[1:]]), dims.index(nt._ragged_idx))


def _expand(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    sizes = list(args[1:]) if len(args) > 1 else list(kwargs["size"])
    if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
        sizes = list(sizes[0])
    have = nt._sizes()
    if len(sizes) != len(have) or any(s != -1 and s != h for s, h in zip(sizes, have, strict=True)):
        raise RuntimeError("expand(): cannot expand the shape of a nested tensor")
    return nt


def _softmax(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    dim = args[1] if len(args) > 1 else kwargs.pop("dim", None)
    if dim is None:
        raise RuntimeError(f"{short}(): dim is required for nested tensors")
    d = _ndim(dim, nt.dim())
    if d == 0:
        raise RuntimeError(f"{short}(): not supported when reducing across the batch dimension for NestedTensor")
    dtype = kwargs.get("dtype")
    f = getattr(bp.nn.functional, short)
    if d == nt._ragged_idx:
        padded = _padded(nt, -np.inf)
        return _unpadded(f(padded, dim=d, dtype=dtype), nt)
    return _like(nt, f(nt._values, dim=d - 1, dtype=dtype))


def _layer_norm(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    shape = args[1] if len(args) > 1 else kwargs.pop("normalized_shape")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if nt.dim() <= 2:
        raise RuntimeError(f"{short}(): not supported for NestedTensor objects with 2 or fewer dimensions")
    if nt.dim() == len(shape):
        raise RuntimeError(f"{short}(): not supported when normalizing over the batch dimension for NestedTensor")
    if any(isinstance(s, NestedInt) for s in shape):
        raise NotImplementedError("backprop.nested: layer_norm over the ragged dimension is not supported")
    if tuple(nt._values.shape[-len(shape) :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, {', '.join(map(str, shape))}], but "
            f"got input of size{list(nt._values.shape)}"
        )
    return _like(nt, func(nt._values, shape, *args[2:], **kwargs))


# ------------------------------------------------------------------ linear algebra, attention
def _linear(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    if args[0] is not nt:
        raise ValueError(
            "NestedTensor linear_default(input: jt, weight: t, bias: t?): expected input to be a contiguous jagged "
            "layout NestedTensor"
        )
    if nt._ragged_idx != 1:
        raise ValueError(
            "NestedTensor linear_default(input: jt, weight: t, bias: t?): expected input to be a contiguous jagged "
            "layout NestedTensor"
        )
    return _like(nt, func(nt._values, *args[1:], **kwargs))


def _matmul(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    a, b = args[0], args[1] if len(args) > 1 else kwargs["other"]
    if a is nt and not isinstance(b, NestedTensor) and isinstance(b, Tensor) and b.dim() == 2:
        if nt._ragged_idx == nt.dim() - 1:
            raise RuntimeError(f"matmul(): not supported between inputs of shapes {_size_str(nt)} and {b.shape}")
        out = nt._values @ b
        return _like(nt, out)
    if (
        a is nt
        and isinstance(b, Tensor)
        and not isinstance(b, NestedTensor)
        and b.dim() == 3 == nt.dim()
        and nt._ragged_idx == 1
        and b.shape[0] == len(nt)
    ):  # (B, j, D) @ (B, D, E): each sequence times its batch's matrix
        batch = np.repeat(np.arange(len(nt)), nt._seq_lengths())
        w = b[bp.tensor(batch, dtype=bp.int64, device=b.device)]
        return _like(nt, (nt._values.unsqueeze(-2) @ w).squeeze(-2))
    sa = _size_str(a) if isinstance(a, NestedTensor) else a.shape
    raise RuntimeError(f"matmul(): not supported between inputs of shapes {sa} and {_size_obj(b)}")


def _validate_sdpa(q: Any, k: Any, v: Any, mask: Any) -> None:
    """torch's checks of nested SDPA inputs, with its messages."""
    if not all(isinstance(x, NestedTensor) for x in (q, k, v)):
        raise ValueError(
            "Expected query, key, and value to be nested tensors, but got query.is_nested: "
            f"{q.is_nested}, key.is_nested: {k.is_nested}, and value.is_nested: {v.is_nested} instead."
        )
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise ValueError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{q.dtype}, key.dtype: {k.dtype}, and value.dtype: {v.dtype} instead."
        )
    if q.device != k.device or q.device != v.device:
        raise ValueError(
            "Expected query, key, and value to have the same device type, but got query.device: "
            f"{q.device}, key.device: {k.device}, and value.device: {v.device} instead."
        )
    if q.dim() < 3 or k.dim() < 3 or v.dim() < 3:
        raise ValueError(
            "Expected query, key, and value to all be at least 3 dimensional, but got query.dim: "
            f"{q.dim()}, key.dim: {k.dim()} and value.dim: {v.dim()} instead."
        )
    if q._ragged_idx != k._ragged_idx or q._ragged_idx != v._ragged_idx:
        raise ValueError(
            "Expected query, key, and value to all be ragged on the same dimension, but got ragged "
            f"dims {q._ragged_idx}, {k._ragged_idx}, and {v._ragged_idx}, respectively."
        )
    if mask is not None:
        raise ValueError("Masks are not yet supported!")


def _sdpa(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    kw = dict(zip(names, args, strict=False))
    kw.update(kwargs)
    q, k, v = kw["query"], kw["key"], kw["value"]
    _validate_sdpa(q, k, v, kw.get("attn_mask"))
    if kw.get("is_causal"):
        raise RuntimeError("No viable backend for scaled_dot_product_attention was found.")
    if q._ragged_idx < q.dim() - 2 and _raggedness_matches(q, k) and _raggedness_matches(q, v):
        # the sequence dim is not the ragged one: a dense attention over the values' rows
        out = func(q._values, k._values, v._values, dropout_p=kw.get("dropout_p", 0.0), scale=kw.get("scale"))
        return _like(q, out)
    if q.dim() != 4 or q._ragged_idx != 2 or len(q) != len(k) or len(k) != len(v) or k._jid != v._jid:
        raise ValueError(
            "backprop.nested: scaled_dot_product_attention takes (B, H, j, D) queries and keys/values of one "
            "batch size, the keys' and values' sequences of the same lengths"
        )
    qp, kp, vp = _padded(q, 0.0, _longest(q)), _padded(k, 0.0, _longest(k)), _padded(v, 0.0, _longest(k))
    _, kvalid, _ = _positions(k, _longest(k))
    mask = bp.tensor(kvalid[:, None, None, :], dtype=bp.bool, device=qp.device)
    out = bp.nn.functional.scaled_dot_product_attention(
        qp, kp, vp, attn_mask=mask, dropout_p=kw.get("dropout_p", 0.0), scale=kw.get("scale")
    )
    return _unpadded(out, q)


# ------------------------------------------------------------------ shapes
def _transpose(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    d0 = args[1] if len(args) > 1 else kwargs["dim0"]
    d1 = args[2] if len(args) > 2 else kwargs["dim1"]
    n = nt.dim()
    d0, d1 = _ndim(d0, n), _ndim(d1, n)
    if d0 == 0 or d1 == 0:
        raise ValueError("Transpose is not supported on the batch dimension for jagged NT")
    r = nt._ragged_idx
    new_r = d1 if r == d0 else d0 if r == d1 else r
    return _like(nt, nt._values.transpose(d0 - 1, d1 - 1), new_r)


def _unflatten(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    dim = args[1] if len(args) > 1 else kwargs["dim"]
    sizes = args[2] if len(args) > 2 else kwargs["sizes"]
    d = _ndim(dim, nt.dim())
    if d == 0 or d == nt._ragged_idx:
        raise RuntimeError(f"unflatten(): not supported for NestedTensor on dim={d}")
    r = nt._ragged_idx
    return _like(nt, nt._values.unflatten(d - 1, sizes), r + len(sizes) - 1 if d < r else r)


def _flatten(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
    end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
    s, e = _ndim(start, nt.dim()), _ndim(end, nt.dim())
    r = nt._ragged_idx
    if s == 0 or s <= r <= e and s != e:
        raise RuntimeError(f"flatten(): not supported for NestedTensor on dim={s}")
    if s == e:
        return nt
    return _like(nt, nt._values.flatten(s - 1, e - 1), r if r < s else r - (e - s))


def _view(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    shape = list(args[1:]) if len(args) > 1 else list(kwargs.get("shape", kwargs.get("size", ())))
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = list(shape[0])
    r = nt._ragged_idx
    sizes = nt._sizes()
    ok = len(shape) > r and shape[0] in (-1, sizes[0]) and (shape[r] == -1 or shape[r] == sizes[r])
    ok = ok and all(shape[i] in (sizes[i], -1) for i in range(1, r))
    if not ok:
        raise RuntimeError(f"view(): cannot view shape {_size_str(nt)} as {shape}")
    total = nt._values.shape[r - 1]
    want = [total if i == r else (sizes[i] if i < r else s) for i, s in enumerate(shape)][1:]
    try:
        vals = nt._values.view(*want) if short == "view" else nt._values.reshape(*want)
    except (RuntimeError, ValueError) as e:
        raise RuntimeError(f"view(): cannot view shape {_size_str(nt)} as {shape}") from e
    return _like(nt, vals)


def _unsqueeze(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    dim = args[1] if len(args) > 1 else kwargs["dim"]
    d = _ndim(dim, nt.dim() + 1)
    if d == 0:
        raise RuntimeError("unsqueeze(): not supported for NestedTensor on dim=0")
    r = nt._ragged_idx
    return _like(nt, nt._values.unsqueeze(d - 1), r + 1 if d <= r else r)


def _cat(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    d = _ndim(dim, nt.dim())
    if d == 0:
        raise RuntimeError(f"{short}(): not supported for NestedTensor on dim=0")
    if short == "stack":
        raise _unsupported(short, nt)
    if not all(isinstance(t, NestedTensor) and _raggedness_matches(nt, t) for t in tensors):
        raise RuntimeError("cat(): expected nested tensors of the same raggedness")
    return _like(nt, bp.cat([t._values for t in tensors], d - 1))


def _unbind(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if _ndim(dim, nt.dim()) != 0:
        raise RuntimeError("unbind(): only supported for NestedTensor on dim=0")
    starts = np.asarray(nt._offsets.detach().cpu().numpy(), dtype=np.int64)[:-1]
    axis = nt._ragged_idx - 1
    return tuple(nt._values.narrow(axis, int(s), int(n)) for s, n in zip(starts, nt._seq_lengths(), strict=True))


def _getitem(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    index = args[1]
    first, rest = (index[0], index[1:]) if isinstance(index, tuple) and index else (index, ())
    if isinstance(first, int):
        item = _unbind(func, "unbind", nt, (nt,), {})[_ndim(first, len(nt))]
        return item[rest] if rest else item
    items: list[Any] = list(index) if isinstance(index, tuple) else [index]
    fill = object()  # (the dims an Ellipsis stands for: not indexed at all, as torch's)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [fill] * (nt.dim() - len(items) + 1)
    r = nt._ragged_idx
    if all(i is fill or isinstance(i, (int, slice)) for i in items) and len(items) <= nt.dim():
        for d, i in enumerate(items):
            if i is not fill and d in (0, r):
                kind = "slice" if isinstance(i, slice) else "select"
                raise RuntimeError(f"{kind}(): not supported for NestedTensor on dim={d}")
        dropped = sum(isinstance(i, int) for i in items[1:r])
        return _like(nt, nt._values[tuple(slice(None) if i is fill else i for i in items[1:])], r - dropped)
    raise _unsupported("index", nt)


def _new_tensor(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    size = args[1] if len(args) > 1 else kwargs.get("size", ())
    if tuple(size) != ():
        raise RuntimeError("new_empty() not supported for NJT with shape != ()")
    return func(nt._values, *args[1:], **kwargs)


def _chunk(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    chunks = args[1] if len(args) > 1 else kwargs["chunks"]
    d = _ndim(args[2] if len(args) > 2 else kwargs.get("dim", 0), nt.dim())
    if d == 0 or d == nt._ragged_idx:
        raise RuntimeError(f"chunk(): not supported for NestedTensor on dim={d}")
    return tuple(_like(nt, c) for c in nt._values.chunk(chunks, d - 1))


def _to_padded(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    return to_padded(nt, *args[1:], **kwargs)


def _repr(func: Any, short: str, nt: NestedTensor, args: Any, kwargs: Any) -> Any:
    return NestedTensor.__repr__(nt)


_HANDLERS: dict[str, Callable[..., Any]] = {
    "where": _where,
    "layer_norm": _layer_norm,
    "linear": _linear,
    "matmul": _matmul,
    "bmm": _matmul,
    "scaled_dot_product_attention": _sdpa,
    "transpose": _transpose,
    "permute": _permute,
    "expand": _expand,
    "swapaxes": _transpose,
    "unflatten": _unflatten,
    "flatten": _flatten,
    "view": _view,
    "reshape": _view,
    "unsqueeze": _unsqueeze,
    "cat": _cat,
    "concat": _cat,
    "concatenate": _cat,
    "stack": _cat,
    "unbind": _unbind,
    "__getitem__": _getitem,
    "chunk": _chunk,
    "argmax": _argmax,
    "argmin": _argmax,
    "select": _dim_op,
    "narrow": _dim_op,
    "split": _dim_op,
    "split_with_sizes": _dim_op,
    "squeeze": _dim_op,
    "to_dense": _to_dense,
    "rms_norm": _layer_norm,
    "new_zeros": _new_tensor,
    "new_ones": _new_tensor,
    "new_empty": _new_tensor,
    "new_full": _new_tensor,
    "to_padded_tensor": _to_padded,
    "__repr__": _repr,
    "__format__": _repr,
}


_tensor_module._OPS[:] = [sys.modules[__name__]]  # (the handlers NestedTensor's methods dispatch to)
