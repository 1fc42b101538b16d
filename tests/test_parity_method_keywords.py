"""Keyword-argument parity of Tensor methods with torch: ``x.sum(dim=0, keepdim=True, dtype=...)``,
``x.view(size=...)``, ``x.to(device=..., copy=True)`` ... each called the same way on a torch and a backprop
tensor, comparing values, dtypes and shapes; and a check of every method both libraries have against the
parameter names torch's docstring signature lines give (``sum(dim=None, keepdim=False, dtype=None)``), with
an explicit allow-list of the known differences, so that drift fails here."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype("float32")  # the tensor most cases call methods on
B = RNG.standard_normal((3, 4)).astype("float32")
SQ = (RNG.standard_normal((3, 3)) + 3 * np.eye(3)).astype("float64")  # well conditioned
POS = (np.abs(A) + 0.5).astype("float32")
V = RNG.standard_normal(6).astype("float32")
INTS = np.array([[3, 1, 2, 1], [0, 2, 2, 3], [1, 1, 0, 3]], dtype="int64")
IDX = np.array([2, 0], dtype="int64")
G = np.array([[0, 1], [2, 0], [1, 1]], dtype="int64")  # gather / scatter index along dim 1
MASK = A > 0


def t(L: Any, a: np.ndarray, **kw: Any) -> Any:
    return L.tensor(a.copy(), **kw)


def dt(L: Any, name: str) -> Any:
    return getattr(L, name)


def _picture(x: Any) -> Any:
    """(shape, dtype name, float64 values) of tensors, recursively through tuples and lists."""
    if hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "detach"):
        v = x.detach().cpu()
        arr = np.asarray(v.numpy()) if "bfloat16" not in str(x.dtype) else np.asarray(v.float().numpy())
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), arr)
    if isinstance(x, (tuple, list)):
        return ("seq", [_picture(v) for v in x])
    if hasattr(x, "_fields"):
        return ("seq", [_picture(v) for v in x])
    return x


def _same(a: Any, b: Any, values: bool, path: str = "") -> None:
    if isinstance(a, tuple) and a and a[0] == "T":
        assert isinstance(b, tuple) and b[0] == "T", f"{path}: {a} vs {b}"
        assert a[1] == b[1], f"{path}: shape {a[1]} vs {b[1]}"
        assert a[2] == b[2], f"{path}: dtype {a[2]} vs {b[2]}"
        if values:
            np.testing.assert_allclose(
                a[3].astype(np.complex128), b[3].astype(np.complex128), rtol=2e-5, atol=2e-5, err_msg=path
            )
    elif isinstance(a, tuple) and a and a[0] == "seq":
        assert isinstance(b, tuple) and b[0] == "seq" and len(a[1]) == len(b[1]), f"{path}: {a} vs {b}"
        for i, (x, y) in enumerate(zip(a[1], b[1])):
            _same(x, y, values, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=2e-5, abs=2e-5), path
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


# (id, case(L), compare values): each case builds its inputs with ``L`` (torch or backprop) and calls a method
# with keywords; random fills compare shapes and dtypes only.
CASES: list[tuple[str, Callable[[Any], Any], bool]] = []


def case(name: str, values: bool = True) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    def deco(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        CASES.append((name, fn, values))
        return fn

    return deco


def add(name: str, fn: Callable[[Any], Any], values: bool = True) -> None:
    CASES.append((name, fn, values))


# ---------------------------------------------------------------- reductions
for _m in ("sum", "mean", "nansum", "prod", "amax", "amin", "logsumexp", "std", "var", "norm", "count_nonzero"):
    for _kw in ({"dim": 0}, {"dim": 1, "keepdim": True}, {"dim": (0, 1)}, {"dim": -1, "keepdim": False}):
        if _m in ("prod",) and isinstance(_kw["dim"], tuple):
            continue
        if _m == "count_nonzero" and "keepdim" in _kw:
            continue
        add(f"{_m}({_kw})", lambda L, m=_m, kw=_kw: getattr(t(L, A), m)(**kw))
for _m in ("sum", "mean", "nansum", "prod"):
    add(f"{_m}(dim=0, dtype=float64)", lambda L, m=_m: getattr(t(L, A), m)(dim=0, dtype=L.float64))
    add(f"{_m}(dtype=float64)", lambda L, m=_m: getattr(t(L, A), m)(dtype=L.float64))
add("sum(dim=0, keepdim=True, dtype=float64)", lambda L: t(L, A).sum(dim=0, keepdim=True, dtype=L.float64))
add("sum(int, dtype=float32)", lambda L: t(L, INTS).sum(dim=1, dtype=L.float32))
add("mean(dim=(0,1), keepdim=False)", lambda L: t(L, A).mean(dim=(0, 1), keepdim=False))
for _m in ("max", "min", "median", "nanmedian", "mode"):
    add(f"{_m}(dim=1, keepdim=True)", lambda L, m=_m: getattr(t(L, A), m)(dim=1, keepdim=True))
    add(f"{_m}(dim=0)", lambda L, m=_m: getattr(t(L, A), m)(dim=0))
add("max(other=)", lambda L: t(L, A).max(other=t(L, B)))
add("min(other=)", lambda L: t(L, A).min(other=t(L, B)))
for _m in ("argmax", "argmin"):
    add(f"{_m}(dim=1, keepdim=True)", lambda L, m=_m: getattr(t(L, A), m)(dim=1, keepdim=True))
    add(f"{_m}(dim=0)", lambda L, m=_m: getattr(t(L, A), m)(dim=0))
for _m in ("all", "any"):
    add(f"{_m}(dim=1)", lambda L, m=_m: getattr(t(L, MASK), m)(dim=1))
    add(f"{_m}(dim=0, keepdim=True)", lambda L, m=_m: getattr(t(L, MASK), m)(dim=0, keepdim=True))
for _m in ("std", "var"):
    add(
        f"{_m}(dim=0, correction=0, keepdim=True)",
        lambda L, m=_m: getattr(t(L, A), m)(dim=0, correction=0, keepdim=True),
    )
    add(f"{_m}(dim=1, unbiased=False)", lambda L, m=_m: getattr(t(L, A), m)(dim=1, unbiased=False))
    add(f"{_m}(correction=2)", lambda L, m=_m: getattr(t(L, A), m)(correction=2))
add("norm(p=2, dim=1, keepdim=True)", lambda L: t(L, A).norm(p=2, dim=1, keepdim=True))
add("norm(p=1, dim=0)", lambda L: t(L, A).norm(p=1, dim=0))
add("norm(p='fro')", lambda L: t(L, A).norm(p="fro"))
add("norm(dim=1, dtype=float64)", lambda L: t(L, A).norm(dim=1, dtype=L.float64))
add("kthvalue(k=2, dim=1, keepdim=True)", lambda L: t(L, A).kthvalue(k=2, dim=1, keepdim=True))
add("quantile(q=0.3, dim=1, keepdim=True)", lambda L: t(L, A).quantile(q=0.3, dim=1, keepdim=True))
add("nanquantile(q=0.5, dim=0)", lambda L: t(L, A).nanquantile(q=0.5, dim=0))
add("aminmax(dim=0, keepdim=True)", lambda L: t(L, A).aminmax(dim=0, keepdim=True))
add("logcumsumexp(dim=1)", lambda L: t(L, A).logcumsumexp(dim=1))
for _m in ("cumsum", "cumprod"):
    add(f"{_m}(dim=0)", lambda L, m=_m: getattr(t(L, A), m)(dim=0))
    add(f"{_m}(dim=1, dtype=float64)", lambda L, m=_m: getattr(t(L, A), m)(dim=1, dtype=L.float64))
for _m in ("cummax", "cummin"):
    add(f"{_m}(dim=1)", lambda L, m=_m: getattr(t(L, A), m)(dim=1))
add("cumsum_(dim=0)", lambda L: t(L, A).cumsum_(dim=0))
add("softmax(dim=-1)", lambda L: t(L, A).softmax(dim=-1))
add("softmax(dim=0, dtype=float64)", lambda L: t(L, A).softmax(dim=0, dtype=L.float64))
add("log_softmax(dim=1)", lambda L: t(L, A).log_softmax(dim=1))
add("log_softmax(dim=0, dtype=float64)", lambda L: t(L, A).log_softmax(dim=0, dtype=L.float64))
add("diff(n=1, dim=0)", lambda L: t(L, A).diff(n=1, dim=0))
add("diff(dim=1, prepend=, append=)", lambda L: t(L, A).diff(dim=1, prepend=t(L, A[:, :1]), append=t(L, A[:, :2])))
add("topk(k=3, dim=1, largest=False, sorted=True)", lambda L: t(L, A).topk(k=3, dim=1, largest=False, sorted=True))
add("topk(k=2, dim=0)", lambda L: t(L, A).topk(k=2, dim=0))
add("sort(dim=-1, descending=True, stable=True)", lambda L: t(L, A).sort(dim=-1, descending=True, stable=True))
add("sort(dim=0)", lambda L: t(L, A).sort(dim=0))
add("sort(stable=True)", lambda L: t(L, INTS).sort(stable=True))
add("argsort(dim=1, descending=True)", lambda L: t(L, A).argsort(dim=1, descending=True))
add("argsort(dim=0, stable=True)", lambda L: t(L, INTS).argsort(dim=0, stable=True))
add("msort()", lambda L: t(L, A).msort())
add(
    "unique(sorted=True, return_inverse=True, return_counts=True)",
    lambda L: t(L, INTS).unique(sorted=True, return_inverse=True, return_counts=True),
)
add("unique(return_counts=True, dim=0)", lambda L: t(L, INTS).unique(return_counts=True, dim=0))
add("unique(dim=1)", lambda L: t(L, INTS).unique(dim=1))
add("unique_consecutive(return_counts=True)", lambda L: t(L, INTS).unique_consecutive(return_counts=True))
add(
    "unique_consecutive(return_inverse=True, dim=0)",
    lambda L: t(L, INTS).unique_consecutive(return_inverse=True, dim=0),
)
add(
    "bincount(weights=, minlength=5)",
    lambda L: t(L, INTS[0]).bincount(weights=t(L, A[0].astype("float64")), minlength=5),
)
add("histc(bins=4, min=-2, max=2)", lambda L: t(L, A).histc(bins=4, min=-2, max=2))
add("count_nonzero(dim=1)", lambda L: t(L, INTS).count_nonzero(dim=1))
add(
    "nan_to_num(nan=0.0, posinf=1.0, neginf=-1.0)",
    lambda L: L.tensor([np.nan, np.inf, -np.inf, 1.0]).nan_to_num(nan=0.0, posinf=1.0, neginf=-1.0),
)

# ---------------------------------------------------------------- elementwise math
add("add(other, alpha=2)", lambda L: t(L, A).add(t(L, B), alpha=2))
add("add(other=, alpha=)", lambda L: t(L, A).add(other=t(L, B), alpha=0.5))
add("sub(other=, alpha=2)", lambda L: t(L, A).sub(other=t(L, B), alpha=2))
add("subtract(other=, alpha=2)", lambda L: t(L, A).subtract(other=t(L, B), alpha=2))
add("add_(other=, alpha=3)", lambda L: t(L, A).add_(other=t(L, B), alpha=3))
add("sub_(other=, alpha=3)", lambda L: t(L, A).sub_(other=t(L, B), alpha=3))
add("mul(other=)", lambda L: t(L, A).mul(other=t(L, B)))
add("mul_(other=2)", lambda L: t(L, A).mul_(other=2))
add("multiply(other=)", lambda L: t(L, A).multiply(other=t(L, B)))
add("div(other, rounding_mode='floor')", lambda L: t(L, A).div(t(L, B), rounding_mode="floor"))
add("div(other=, rounding_mode='trunc')", lambda L: t(L, A).div(other=t(L, B), rounding_mode="trunc"))
add("div(other=, rounding_mode=None)", lambda L: t(L, A).div(other=t(L, B), rounding_mode=None))
add("divide(other=, rounding_mode='floor')", lambda L: t(L, A).divide(other=t(L, B), rounding_mode="floor"))
add("div_(other=, rounding_mode='floor')", lambda L: t(L, A).div_(other=2.0, rounding_mode="floor"))
add("true_divide(other=)", lambda L: t(L, A).true_divide(other=t(L, B)))
add("floor_divide(other=)", lambda L: t(L, INTS).floor_divide(other=2))
add("fmod(other=)", lambda L: t(L, A).fmod(other=0.7))
add("remainder(other=)", lambda L: t(L, A).remainder(other=0.7))
add("pow(exponent=2)", lambda L: t(L, A).pow(exponent=2))
add("pow(exponent=tensor)", lambda L: t(L, POS).pow(exponent=t(L, B)))
add("pow_(exponent=3)", lambda L: t(L, A).pow_(exponent=3))
add("float_power(exponent=2)", lambda L: t(L, A).float_power(exponent=2))
add("clamp(min=0, max=1)", lambda L: t(L, A).clamp(min=0, max=1))
add("clamp(min=-0.5)", lambda L: t(L, A).clamp(min=-0.5))
add("clamp(max=0.5)", lambda L: t(L, A).clamp(max=0.5))
add("clamp(min=tensor, max=tensor)", lambda L: t(L, A).clamp(min=t(L, B) - 1, max=t(L, B) + 1))
add("clip(min=0, max=1)", lambda L: t(L, A).clip(min=0, max=1))
add("clamp_(min=0, max=1)", lambda L: t(L, A).clamp_(min=0, max=1))
add("clamp_min(min=0)", lambda L: t(L, A).clamp_min(min=0))
add("clamp_max(max=0)", lambda L: t(L, A).clamp_max(max=0))
add("clamp_min_(min=0)", lambda L: t(L, A).clamp_min_(min=0))
add("round(decimals=2)", lambda L: t(L, A).round(decimals=2))
add("round_(decimals=1)", lambda L: t(L, A).round_(decimals=1))
add("lerp(end=, weight=0.3)", lambda L: t(L, A).lerp(end=t(L, B), weight=0.3))
add("lerp_(end=, weight=tensor)", lambda L: t(L, A).lerp_(end=t(L, B), weight=t(L, POS) / 4))
add("addcmul(tensor1=, tensor2=, value=0.5)", lambda L: t(L, A).addcmul(tensor1=t(L, B), tensor2=t(L, POS), value=0.5))
add("addcdiv(tensor1=, tensor2=, value=2)", lambda L: t(L, A).addcdiv(tensor1=t(L, B), tensor2=t(L, POS), value=2))
add("addcmul_(tensor1=, tensor2=, value=-1)", lambda L: t(L, A).addcmul_(tensor1=t(L, B), tensor2=t(L, POS), value=-1))
add("atan2(other=)", lambda L: t(L, A).atan2(other=t(L, B)))
add("arctan2(other=)", lambda L: t(L, A).arctan2(other=t(L, B)))
add("arctan2_(other=)", lambda L: t(L, A).arctan2_(other=t(L, B)))
add("hypot(other=)", lambda L: t(L, A).hypot(other=t(L, B)))
add("maximum(other=)", lambda L: t(L, A).maximum(other=t(L, B)))
add("minimum(other=)", lambda L: t(L, A).minimum(other=t(L, B)))
add("fmax(other=)", lambda L: t(L, A).fmax(other=t(L, B)))
add("fmin(other=)", lambda L: t(L, A).fmin(other=t(L, B)))
add("copysign(other=)", lambda L: t(L, A).copysign(other=t(L, B)))
add("xlogy(other=)", lambda L: t(L, POS).xlogy(other=t(L, POS)))
add("logaddexp(other=)", lambda L: t(L, A).logaddexp(other=t(L, B)))
add("logaddexp2(other=)", lambda L: t(L, A).logaddexp2(other=t(L, B)))
add("ldexp(other=)", lambda L: t(L, A).ldexp(other=t(L, INTS)))
add("nextafter(other=)", lambda L: t(L, A).nextafter(other=t(L, B)))
add("dist(other=, p=1)", lambda L: t(L, A).dist(other=t(L, B), p=1))
add(
    "isclose(other=, rtol=, atol=, equal_nan=)",
    lambda L: t(L, A).isclose(other=t(L, A) + 1e-3, rtol=0, atol=1e-2, equal_nan=True),
)
add("allclose(other=, rtol=, atol=)", lambda L: t(L, A).allclose(other=t(L, A), rtol=1e-5, atol=1e-8))
add("equal(other=)", lambda L: t(L, A).equal(other=t(L, A)))
for _m in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "less_equal", "not_equal"):
    add(f"{_m}(other=)", lambda L, m=_m: getattr(t(L, A), m)(other=t(L, B)))
for _m in ("bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor"):
    add(f"{_m}(other=)", lambda L, m=_m: getattr(t(L, INTS), m)(other=t(L, INTS[::-1])))
add("bitwise_left_shift(other=)", lambda L: t(L, INTS).bitwise_left_shift(other=1))
add("gcd(other=)", lambda L: t(L, INTS).gcd(other=t(L, INTS + 2)))
add("lcm(other=)", lambda L: t(L, INTS).lcm(other=t(L, INTS + 1)))
add("heaviside(values=)", lambda L: t(L, A).heaviside(values=t(L, B)))
add("polygamma(n=1)", lambda L: t(L, POS).polygamma(n=1))
add("mvlgamma(p=2)", lambda L: t(L, POS + 1).mvlgamma(p=2))
add("logit(eps=1e-3)", lambda L: t(L, POS / 4).logit(eps=1e-3))
add("sgn()", lambda L: t(L, A).sgn())
add("renorm(p=2, dim=0, maxnorm=1)", lambda L: t(L, A).renorm(p=2, dim=0, maxnorm=1))
add("masked_fill(mask=, value=0)", lambda L: t(L, A).masked_fill(mask=t(L, MASK), value=0))
add("masked_fill_(mask=, value=tensor)", lambda L: t(L, A).masked_fill_(mask=t(L, MASK), value=L.tensor(2.0)))
add("masked_select(mask=)", lambda L: t(L, A).masked_select(mask=t(L, MASK)))
add("masked_scatter(mask=, source=)", lambda L: t(L, A).masked_scatter(mask=t(L, MASK), source=t(L, B)))
add("where(condition=, other=)", lambda L: t(L, A).where(condition=t(L, MASK), other=t(L, B)))
add("where(condition, other=0.0)", lambda L: t(L, A).where(t(L, MASK), other=0.0))

# ---------------------------------------------------------------- indexing
add("index_select(dim=0, index=)", lambda L: t(L, A).index_select(dim=0, index=t(L, IDX)))
add("index_select(dim=1, index=)", lambda L: t(L, A).index_select(dim=1, index=t(L, IDX)))
add("gather(dim=1, index=)", lambda L: t(L, A).gather(dim=1, index=t(L, G)))
add("gather(dim=1, index=, sparse_grad=False)", lambda L: t(L, A).gather(dim=1, index=t(L, G), sparse_grad=False))
add("take_along_dim(indices=, dim=1)", lambda L: t(L, A).take_along_dim(indices=t(L, G), dim=1))
add("take(index=)", lambda L: t(L, A).take(index=t(L, IDX)))
add("scatter(dim=1, index=, src=)", lambda L: t(L, A).scatter(dim=1, index=t(L, G), src=t(L, B)))
add("scatter(dim=1, index=, value=)", lambda L: t(L, A).scatter(dim=1, index=t(L, G), value=5.0))
add(
    "scatter_(dim=1, index=, src=, reduce='add')",
    lambda L: t(L, A).scatter_(dim=1, index=t(L, G), src=t(L, B), reduce="add"),
)
add(
    "scatter_(dim=1, index=, src=, reduce='multiply')",
    lambda L: t(L, A).scatter_(dim=1, index=t(L, G), src=t(L, B), reduce="multiply"),
)
add("scatter_(dim=1, index=, value=)", lambda L: t(L, A).scatter_(dim=1, index=t(L, G), value=-1.0))
add("scatter_add(dim=1, index=, src=)", lambda L: t(L, A).scatter_add(dim=1, index=t(L, G), src=t(L, B)))
add(
    "scatter_add_(dim=0, index=, src=)",
    lambda L: t(L, A).scatter_add_(dim=0, index=t(L, G.T[:, :3].T % 3), src=t(L, B)),
)
add(
    "scatter_reduce(dim=1, index=, src=, reduce='amax', include_self=False)",
    lambda L: t(L, A).scatter_reduce(dim=1, index=t(L, G), src=t(L, B), reduce="amax", include_self=False),
)
add(
    "scatter_reduce_(dim=1, index=, src=, reduce='sum')",
    lambda L: t(L, A).scatter_reduce_(dim=1, index=t(L, G), src=t(L, B), reduce="sum"),
)
add(
    "index_add(dim=0, index=, source=, alpha=2)",
    lambda L: t(L, A).index_add(dim=0, index=t(L, IDX), source=t(L, B[:2]), alpha=2),
)
add("index_add_(dim, index, source, alpha=)", lambda L: t(L, A).index_add_(0, t(L, IDX), t(L, B[:2]), alpha=-1))
add("index_copy(dim=0, index=, source=)", lambda L: t(L, A).index_copy(dim=0, index=t(L, IDX), source=t(L, B[:2])))
add("index_copy_(dim=1, index=, source=)", lambda L: t(L, A).index_copy_(dim=1, index=t(L, IDX), source=t(L, B[:, :2])))
add("index_fill(dim=1, index=, value=)", lambda L: t(L, A).index_fill(dim=1, index=t(L, IDX), value=7.0))
add("index_fill_(dim=0, index=, value=)", lambda L: t(L, A).index_fill_(dim=0, index=t(L, IDX), value=-7.0))
add(
    "index_reduce(dim=0, index=, source=, reduce='prod', include_self=True)",
    lambda L: t(L, A).index_reduce(dim=0, index=t(L, IDX), source=t(L, B[:2]), reduce="prod", include_self=True),
)
add(
    "index_put(indices=, values=, accumulate=True)",
    lambda L: t(L, A).index_put(indices=(t(L, IDX),), values=t(L, B[0]), accumulate=True),
)
add("index_put_(indices=, values=)", lambda L: t(L, A).index_put_(indices=(t(L, IDX), t(L, IDX)), values=L.tensor(1.0)))
add(
    "put(index=, source=, accumulate=True)",
    lambda L: t(L, A).put(index=t(L, IDX), source=t(L, B[0, :2]), accumulate=True),
)
add("put_(index=, source=)", lambda L: t(L, A).put_(index=t(L, IDX), source=t(L, B[0, :2])))
add("nonzero()", lambda L: t(L, INTS).nonzero())
add("nonzero(as_tuple=True)", lambda L: t(L, INTS).nonzero(as_tuple=True))
add("argwhere()", lambda L: t(L, INTS).argwhere())
add("narrow(dim=0, start=1, length=2)", lambda L: t(L, A).narrow(dim=0, start=1, length=2))
add("narrow(dim=1, start=0, length=3)", lambda L: t(L, A).narrow(dim=1, start=0, length=3))
add("narrow_copy(dim=1, start=1, length=2)", lambda L: t(L, A).narrow_copy(dim=1, start=1, length=2))
add("select(dim=1, index=2)", lambda L: t(L, A).select(dim=1, index=2))
add("diagonal(offset=1, dim1=0, dim2=1)", lambda L: t(L, A).diagonal(offset=1, dim1=0, dim2=1))
add("diag(diagonal=-1)", lambda L: t(L, A).diag(diagonal=-1))
add("diag_embed(offset=1, dim1=0, dim2=2)", lambda L: t(L, A).diag_embed(offset=1, dim1=0, dim2=2))
add("fill_diagonal_(fill_value=0, wrap=False)", lambda L: t(L, A).fill_diagonal_(fill_value=0, wrap=False))
add("tril(diagonal=1)", lambda L: t(L, A).tril(diagonal=1))
add("triu(diagonal=-1)", lambda L: t(L, A).triu(diagonal=-1))
add("triu_(diagonal=1)", lambda L: t(L, A).triu_(diagonal=1))

# ---------------------------------------------------------------- shapes
add("view(size=(4, 3))", lambda L: t(L, A).view(size=(4, 3)))
add("view(dtype=int32)", lambda L: t(L, A).view(dtype=L.int32))
add("view(-1)", lambda L: t(L, A).view(-1))
add("reshape(shape=(2, 6))", lambda L: t(L, A).reshape(shape=(2, 6)))
add("reshape(shape=(-1,))", lambda L: t(L, A).reshape(shape=(-1,)))
add("reshape_as(other=)", lambda L: t(L, A).reshape_as(other=t(L, A.T)))
add("view_as(other=)", lambda L: t(L, A).view_as(other=t(L, A.reshape(6, 2))))
add("expand_as(other=)", lambda L: t(L, A[:1]).expand_as(other=t(L, A)))
add("permute(dims=(1, 0))", lambda L: t(L, A).permute(dims=(1, 0)))
add("permute(dims=[1, 0])", lambda L: t(L, A).permute(dims=[1, 0]))
add("repeat(repeats=(2, 1))", lambda L: t(L, A).repeat(repeats=(2, 1)))
add("repeat(repeats=(1, 2, 1))", lambda L: t(L, A).repeat(repeats=(1, 2, 1)))
add("expand(size=(2, 3, 4))", lambda L: t(L, A).expand(size=(2, 3, 4)))
add("expand(size=(3, -1))", lambda L: t(L, A[:1]).expand(size=(3, -1)))
add("broadcast_to(size=(2, 3, 4))", lambda L: t(L, A).broadcast_to(size=(2, 3, 4)))
add("tile(dims=(2,))", lambda L: t(L, A).tile(dims=(2,)))
add("tile(dims=(2, 1, 1))", lambda L: t(L, A).tile(dims=(2, 1, 1)))
add("transpose(dim0=0, dim1=1)", lambda L: t(L, A).transpose(dim0=0, dim1=1))
add("transpose_(dim0=0, dim1=1)", lambda L: t(L, A).transpose_(dim0=0, dim1=1))
add("swapdims(dim0=0, dim1=1)", lambda L: t(L, A).swapdims(dim0=0, dim1=1))
add("swapaxes(axis0=0, axis1=1)", lambda L: t(L, A).swapaxes(axis0=0, axis1=1))
add("swapdims_(dim0=0, dim1=1)", lambda L: t(L, A).swapdims_(dim0=0, dim1=1))
add("movedim(source=0, destination=1)", lambda L: t(L, A).movedim(source=0, destination=1))
add("moveaxis(source=(0,), destination=(1,))", lambda L: t(L, A).moveaxis(source=(0,), destination=(1,)))
add("unsqueeze(dim=1)", lambda L: t(L, A).unsqueeze(dim=1))
add("unsqueeze(dim=-1)", lambda L: t(L, A).unsqueeze(dim=-1))
add("unsqueeze_(dim=0)", lambda L: t(L, A).unsqueeze_(dim=0))
add("squeeze(dim=0)", lambda L: t(L, A[:1]).squeeze(dim=0))
add("squeeze(dim=(0, 2))", lambda L: t(L, A[:1, :, None]).squeeze(dim=(0, 2)))
add("squeeze_(dim=0)", lambda L: t(L, A[:1]).squeeze_(dim=0))
add("flatten(start_dim=1)", lambda L: t(L, A[None]).flatten(start_dim=1))
add("flatten(start_dim=0, end_dim=1)", lambda L: t(L, A[None]).flatten(start_dim=0, end_dim=1))
add("unflatten(dim=1, sizes=(2, 2))", lambda L: t(L, A).unflatten(dim=1, sizes=(2, 2)))
add("ravel()", lambda L: t(L, A).ravel())
add("split(split_size=2, dim=0)", lambda L: t(L, A).split(split_size=2, dim=0))
add("split(split_size=[1, 3], dim=1)", lambda L: t(L, A).split(split_size=[1, 3], dim=1))
add("split(2, dim=1)", lambda L: t(L, A).split(2, dim=1))
add("split_with_sizes(split_sizes=, dim=)", lambda L: t(L, A).split_with_sizes(split_sizes=[3, 1], dim=1))
add("chunk(chunks=2, dim=1)", lambda L: t(L, A).chunk(chunks=2, dim=1))
add("chunk(chunks=3, dim=0)", lambda L: t(L, A).chunk(chunks=3, dim=0))
add("tensor_split(sections=3, dim=1)", lambda L: t(L, A).tensor_split(sections=3, dim=1))
add("tensor_split(indices=[1, 2], dim=0)", lambda L: t(L, A).tensor_split(indices=[1, 2], dim=0))
add("tensor_split(2, dim=1)", lambda L: t(L, A).tensor_split(2, dim=1))
add("hsplit(sections=2)", lambda L: t(L, A).hsplit(sections=2))
add("hsplit(indices=[1])", lambda L: t(L, A).hsplit(indices=[1]))
add("vsplit(sections=3)", lambda L: t(L, A).vsplit(sections=3))
add("vsplit(indices=[2])", lambda L: t(L, A).vsplit(indices=[2]))
add("dsplit(sections=2)", lambda L: t(L, A.reshape(1, 3, 4)).dsplit(sections=2))
add("dsplit(indices=[1, 3])", lambda L: t(L, A.reshape(1, 3, 4)).dsplit(indices=[1, 3]))
add("unbind(dim=1)", lambda L: t(L, A).unbind(dim=1))
add("unfold(dimension=1, size=2, step=1)", lambda L: t(L, A).unfold(dimension=1, size=2, step=1))
add("roll(shifts=1, dims=0)", lambda L: t(L, A).roll(shifts=1, dims=0))
add("roll(shifts=(1, -1), dims=(0, 1))", lambda L: t(L, A).roll(shifts=(1, -1), dims=(0, 1)))
add("roll(shifts=2)", lambda L: t(L, A).roll(shifts=2))
add("flip(dims=[0])", lambda L: t(L, A).flip(dims=[0]))
add("flip(dims=(0, 1))", lambda L: t(L, A).flip(dims=(0, 1)))
add("rot90(k=1, dims=(0, 1))", lambda L: t(L, A).rot90(k=1, dims=(0, 1)))
add("repeat_interleave(repeats=2, dim=0)", lambda L: t(L, A).repeat_interleave(repeats=2, dim=0))
add(
    "repeat_interleave(repeats=tensor, dim=1, output_size=)",
    lambda L: t(L, A).repeat_interleave(repeats=L.tensor([1, 0, 2, 1]), dim=1, output_size=4),
)
add("contiguous(memory_format=contiguous_format)", lambda L: t(L, A).T.contiguous(memory_format=L.contiguous_format))
add(
    "is_contiguous(memory_format=contiguous_format)",
    lambda L: t(L, A).T.is_contiguous(memory_format=L.contiguous_format),
)
add("clone(memory_format=preserve_format)", lambda L: t(L, A).clone(memory_format=L.preserve_format))
add("resize_(size=(2, 2))", lambda L: t(L, A).resize_((2, 2)))
add("resize_as_(the_template=)", lambda L: t(L, A).resize_as_(the_template=t(L, A[:2])))
add(
    "as_strided(size=, stride=, storage_offset=)",
    lambda L: t(L, A).as_strided(size=(2, 2), stride=(1, 2), storage_offset=1),
)
add("size(dim=0)", lambda L: t(L, A).size(dim=0))
add("size(dim=-1)", lambda L: t(L, A).size(dim=-1))
add("stride(dim=0)", lambda L: t(L, A).stride(dim=0))
add("dim_order()", lambda L: t(L, A).dim_order())

# ---------------------------------------------------------------- linear algebra
add("matmul(other=)", lambda L: t(L, A).matmul(other=t(L, B.T)))
add("mm(mat2=)", lambda L: t(L, A).mm(mat2=t(L, B.T)))
add("bmm(mat2=)", lambda L: t(L, A[None]).bmm(mat2=t(L, B.T[None])))
add("mv(vec=)", lambda L: t(L, A).mv(vec=t(L, B[0])))
add("dot(tensor=)", lambda L: t(L, V).dot(tensor=t(L, V)))
add("vdot(other=)", lambda L: t(L, V).vdot(other=t(L, V)))
add("inner(other=)", lambda L: t(L, A).inner(other=t(L, B)))
add("outer(vec2=)", lambda L: t(L, V).outer(vec2=t(L, V)))
add("ger(vec2=)", lambda L: t(L, V).ger(vec2=t(L, V)))
add("cross(other=, dim=1)", lambda L: t(L, A[:, :3]).cross(other=t(L, B[:, :3]), dim=1))
add("kron(other=)", lambda L: t(L, A[:2, :2]).kron(other=t(L, B[:2, :2])))
add(
    "addmm(mat1=, mat2=, beta=, alpha=)",
    lambda L: t(L, A).addmm(
        mat1=t(L, A),
        mat2=t(L, np.eye(4, dtype="float32")),
        beta=0.5,
        alpha=2,
    ),
)
add("addmv(mat=, vec=, beta=, alpha=)", lambda L: t(L, A[:, 0]).addmv(mat=t(L, A), vec=t(L, B[0]), beta=2, alpha=0.5))
add("addr(vec1=, vec2=, alpha=2)", lambda L: t(L, A).addr(vec1=t(L, A[:, 0]), vec2=t(L, B[0]), alpha=2))
add(
    "baddbmm(batch1=, batch2=, beta=0)",
    lambda L: t(L, A[None]).baddbmm(batch1=t(L, A[None]), batch2=t(L, np.eye(4, dtype="float32")[None]), beta=0),
)
add(
    "addbmm(batch1=, batch2=, alpha=3)",
    lambda L: t(L, A).addbmm(batch1=t(L, A[None]), batch2=t(L, np.eye(4, dtype="float32")[None]), alpha=3),
)
add("cholesky(upper=True)", lambda L: t(L, SQ @ SQ.T).cholesky(upper=True))
add("matrix_power(n=3)", lambda L: t(L, SQ).matrix_power(n=3))
add("matrix_exp()", lambda L: t(L, SQ / 4).matrix_exp())
add("pinverse(rcond=1e-10)", lambda L: t(L, SQ).pinverse(rcond=1e-10))
add("trace()", lambda L: t(L, SQ).trace())
add("det()", lambda L: t(L, SQ).det())
add("logdet()", lambda L: t(L, SQ @ SQ.T).logdet())
add("inverse()", lambda L: t(L, SQ).inverse())
add(
    "cholesky_solve(input2=, upper=False)",
    lambda L: t(L, SQ[:, :2]).cholesky_solve(input2=L.linalg.cholesky(t(L, SQ @ SQ.T)), upper=False),
)
add("cholesky_inverse(upper=False)", lambda L: L.linalg.cholesky(t(L, SQ @ SQ.T)).cholesky_inverse(upper=False))
add("triangular_solve(A=, upper=False)", lambda L: t(L, SQ[:, :2]).triangular_solve(A=t(L, np.tril(SQ)), upper=False))

# ---------------------------------------------------------------- conversion and creation
add("to(dtype=float64)", lambda L: t(L, A).to(dtype=L.float64))
add("to(device='cpu', dtype=float64)", lambda L: t(L, A).to(device="cpu", dtype=L.float64))
add(
    "to(device='cpu', dtype=, non_blocking=True, copy=True)",
    lambda L: t(L, A).to(device="cpu", dtype=L.float32, non_blocking=True, copy=True),
)
add("to(dtype=, memory_format=preserve_format)", lambda L: t(L, A).to(dtype=L.float16, memory_format=L.preserve_format))
add("to(tensor=)", lambda L: t(L, A).to(tensor=t(L, INTS)))
add("to(other tensor, non_blocking, copy)", lambda L: t(L, A).to(t(L, SQ), False, True))
add("to(float64, False, True)", lambda L: t(L, A).to(L.float64, False, True))
add("to('cpu', float64, non_blocking=True)", lambda L: t(L, A).to("cpu", L.float64, non_blocking=True))
add("to(copy=True) is a copy", lambda L: (lambda x: x.to(L.float32, copy=True) is x)(t(L, A)))
add("to(float32) is self", lambda L: (lambda x: x.to(L.float32) is x)(t(L, A)))
add("type(dtype=float64)", lambda L: t(L, A).type(dtype=L.float64))
add("type(dtype=, non_blocking=True)", lambda L: t(L, A).type(dtype=L.int64, non_blocking=True))
add("type('torch.DoubleTensor')", lambda L: t(L, A).type("torch.DoubleTensor"))
add("type()", lambda L: t(L, A).type())
add("type_as(other=)", lambda L: t(L, A).type_as(other=t(L, INTS)))
for _m in ("float", "double", "half", "bfloat16", "int", "long", "short", "char", "byte", "bool", "cfloat", "cdouble"):
    add(f"{_m}(memory_format=preserve_format)", lambda L, m=_m: getattr(t(L, A), m)(memory_format=L.preserve_format))
add("cpu(memory_format=preserve_format)", lambda L: t(L, A).cpu(memory_format=L.preserve_format))
add("new_zeros(size=, dtype=)", lambda L: t(L, A).new_zeros(size=(2, 3), dtype=L.float64))
add("new_zeros(2, 3)", lambda L: t(L, A).new_zeros(2, 3))
add("new_ones(size=, requires_grad=True)", lambda L: t(L, A).new_ones(size=(2,), requires_grad=True).requires_grad)
add("new_ones((2, 2), dtype=, device=)", lambda L: t(L, A).new_ones((2, 2), dtype=L.int32, device="cpu"))
add("new_empty(size=).shape", lambda L: tuple(t(L, A).new_empty(size=(2, 5), dtype=L.int64, layout=L.strided).shape))
add(
    "new_full(size=, fill_value=, dtype=, requires_grad=)",
    lambda L: t(L, A).new_full(size=(2,), fill_value=3, dtype=L.float64, requires_grad=False),
)
add("new_full(requires_grad=True)", lambda L: t(L, A).new_full((2,), 1.5, requires_grad=True).requires_grad)
add(
    "new_tensor(data, dtype=, device=, requires_grad=)",
    lambda L: t(L, A).new_tensor([1, 2], dtype=L.float64, device="cpu", requires_grad=True),
)
add("new_tensor(data=)", lambda L: t(L, A).new_tensor(data=[[1.0]]))
add(
    "new_empty_strided(size=, stride=, dtype=).shape",
    lambda L: tuple(t(L, A).new_empty_strided(size=(2, 3), stride=(3, 1), dtype=L.float64).stride()),
)
add("new(size=).shape", lambda L: tuple(t(L, A).new(size=(2, 3)).shape))
add("numpy(force=True)", lambda L: t(L, A, requires_grad=True).numpy(force=True).tolist())
add("tolist()", lambda L: t(L, INTS).tolist())
add("item()", lambda L: t(L, A)[1, 2].item())
add(
    "requires_grad_(requires_grad=False)",
    lambda L: t(L, A, requires_grad=True).requires_grad_(requires_grad=False).requires_grad,
)
add("requires_grad_(requires_grad=True)", lambda L: t(L, A).requires_grad_(requires_grad=True).requires_grad)
add("detach()", lambda L: t(L, A, requires_grad=True).detach())
add("copy_(other=, non_blocking=True)", lambda L: t(L, A).copy_(other=t(L, B), non_blocking=True))
add("map_(other=, callable=)", lambda L: t(L, A).map_(other=t(L, B), callable=lambda a, b: a - b))
add("resize_(size=)", lambda L: tuple(t(L, A).resize_(size=(2, 2)).shape))
add("is_nonzero()", lambda L: t(L, A[:1, :1]).is_nonzero())
add("fill_(value=2)", lambda L: t(L, A).fill_(value=2))
add("zero_()", lambda L: t(L, A).zero_())
add("is_pinned()", lambda L: t(L, A).is_pinned())
add("is_same_size(other=)", lambda L: t(L, A).is_same_size(other=t(L, B)))
add("is_set_to(tensor=)", lambda L: (lambda x: x.is_set_to(tensor=x))(t(L, A)))
add("element_size()", lambda L: t(L, A).element_size())
add("masked_fill(mask=, value=) int", lambda L: t(L, INTS).masked_fill(mask=t(L, MASK), value=-1))
add("relu()", lambda L: t(L, A).relu())
add("prelu(weight=)", lambda L: t(L, A).prelu(weight=L.tensor([0.25])))
add("hardshrink(lambd=0.3)", lambda L: t(L, A).hardshrink(lambd=0.3))

# ---------------------------------------------------------------- random fills (shapes and dtypes only)
add("bernoulli_(p=0.5, generator=)", lambda L: t(L, A).bernoulli_(p=0.5, generator=L.Generator().manual_seed(0)), False)
add("bernoulli(generator=)", lambda L: t(L, POS / 4).bernoulli(generator=L.Generator().manual_seed(0)), False)
add("uniform_(a, b)", lambda L: t(L, A).uniform_(-1, 1), False)
add("uniform_(from, to)", lambda L: t(L, A).uniform_(**{"from": -1.0, "to": 1.0}), False)
add(
    "uniform_ in range",
    lambda L: bool(((lambda x: (x >= 2) & (x < 3))(t(L, A).uniform_(**{"from": 2.0, "to": 3.0}))).all()),
)
add("normal_(mean=0, std=1)", lambda L: t(L, A).normal_(mean=0, std=1), False)
add(
    "normal_(mean=, std=, generator=)",
    lambda L: t(L, A).normal_(mean=1.0, std=0.5, generator=L.Generator().manual_seed(1)),
    False,
)
add("random_(from, to)", lambda L: t(L, A).random_(**{"from": 0, "to": 5}), False)
add("random_(to=4)", lambda L: t(L, INTS).random_(to=4), False)
add("exponential_(lambd=2)", lambda L: t(L, A).exponential_(lambd=2), False)
add("geometric_(p=0.3)", lambda L: t(L, A).geometric_(p=0.3), False)
add("log_normal_(mean=0, std=1)", lambda L: t(L, A).log_normal_(mean=0, std=1), False)
add("cauchy_(median=0, sigma=1)", lambda L: t(L, A).cauchy_(median=0, sigma=1), False)
add(
    "multinomial(num_samples=2, replacement=True)",
    lambda L: t(L, POS).multinomial(num_samples=2, replacement=True),
    False,
)


# ---------------------------------------------------------------- autograd by keyword
def _backward_case(L: Any) -> Any:
    x = t(L, A, requires_grad=True)
    w = t(L, B, requires_grad=True)
    y = x * w
    y.backward(gradient=L.ones_like(y), retain_graph=True, create_graph=False, inputs=[x])
    first = x.grad.clone()
    y.sum().backward(inputs=[w])
    return first, w.grad, x.grad


add("backward(gradient=, retain_graph=, create_graph=, inputs=)", _backward_case)


def _hook_case(L: Any) -> Any:
    x = t(L, A, requires_grad=True)
    y = x * 2
    y.retain_grad()
    seen = []
    h = y.register_hook(hook=lambda g: seen.append(g) or g * 3)
    (y * y).sum().backward()
    h.remove()
    return x.grad, y.grad, len(seen)


add("register_hook(hook=) / retain_grad()", _hook_case)


def _run(fn: Callable[[Any], Any], L: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _picture(fn(L))


@pytest.mark.parametrize("name, fn, values", CASES, ids=[c[0] for c in CASES])
def test_method_keyword_call_matches_torch(name: str, fn: Callable[[Any], Any], values: bool) -> None:
    _same(_run(fn, bp), _run(fn, torch), values, name)


def test_case_table_is_big_enough() -> None:
    assert len(CASES) >= 300, len(CASES)
    assert len({c[0] for c in CASES}) == len(CASES), "duplicate case ids"


# ---------------------------------------------------------------- torch's docstring signatures vs ours
_SIG = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\((.*?)\)\s*(->.*)?$")
_SEE = re.compile(r"See :func:`(torch\.[A-Za-z0-9_.]+)`")

# Methods whose torch docstring has no signature line: torch's keywords, checked by calling torch.
EXTRA_SIGNATURES: dict[str, list[tuple[str, str]]] = {
    "clamp_min": [("min", "P")],
    "clamp_min_": [("min", "P")],
    "clamp_max": [("max", "P")],
    "clamp_max_": [("max", "P")],
    "index_reduce": [("dim", "P"), ("index", "P"), ("source", "P"), ("reduce", "P"), ("include_self", "K")],
    "log_softmax": [("dim", "P"), ("dtype", "P")],
    "is_same_size": [("other", "P")],
    "prelu": [("weight", "P")],
    "split_with_sizes": [("split_sizes", "P"), ("dim", "P")],
    "unsafe_split_with_sizes": [("split_sizes", "P"), ("dim", "P")],
    "arctan2_": [("other", "P")],
    "is_pinned": [("device", "P")],
}

# (method, torch's docstring parameter) pairs that ours does not take as written there, and why.
_DOC_NAME = "torch's docstring names it so, but torch itself rejects that keyword; we take torch's real name"
_DOC_POS = "torch's docstring shows it positional, but torch takes it by keyword only, as we do"
_DOC_SELF = "torch's docstring lists the function's input (or out=) for the method; torch's method takes neither"
ALLOWED: dict[tuple[str, str], str] = {
    **{
        (m, "value"): _DOC_NAME + " (other)"
        for m in (
            "div",
            "div_",
            "divide",
            "divide_",
            "floor_divide",
            "floor_divide_",
            "mul",
            "mul_",
            "multiply",
            "multiply_",
            "true_divide",
            "true_divide_",
        )
    },
    **{(m, "divisor"): _DOC_NAME + " (other)" for m in ("fmod", "fmod_", "remainder", "remainder_")},
    **{(m, "split_size_or_sections"): _DOC_NAME + " (sections / indices)" for m in ("dsplit", "hsplit", "vsplit")},
    ("bmm", "batch2"): _DOC_NAME + " (mat2)",
    ("matmul", "tensor2"): _DOC_NAME + " (other)",
    ("broadcast_to", "shape"): _DOC_NAME + " (size)",
    ("index_copy", "tensor2"): _DOC_NAME + " (source)",
    ("index_copy_", "tensor"): _DOC_NAME + " (source)",
    ("masked_scatter", "tensor"): _DOC_NAME + " (source)",
    ("narrow", "dimension"): _DOC_NAME + " (dim)",
    ("narrow_copy", "dimension"): _DOC_NAME + " (dim)",
    ("resize_as_", "tensor"): _DOC_NAME + " (the_template)",
    ("take", "indices"): _DOC_NAME + " (index)",
    ("to_sparse", "sparseDims"): _DOC_NAME + " (sparse_dim)",
    ("type_as", "tensor"): _DOC_NAME + " (other)",
    ("where", "y"): _DOC_NAME + " (other)",
    ("arctanh_", "other"): "torch's docstring gives arctanh_ an 'other'; torch's arctanh_() takes no argument",
    ("atanh_", "other"): "torch's docstring gives atanh_ an 'other'; torch's atanh_() takes no argument",
    ("uniform_", "from"): "'from' is a Python keyword: ours takes it as **{'from': a} (and from_=)",
    ("random_", "from"): "'from' is a Python keyword: ours takes it as **{'from': a} (and from_=)",
    **{(m, "dtype*"): _DOC_POS for m in ("cumsum", "cumsum_", "cumprod", "cumprod_", "sum", "nansum", "prod")},
    **{(m, "decimals*"): _DOC_POS for m in ("round", "round_")},
    ("arccosh", "out"): _DOC_SELF,
    ("less", "out"): _DOC_SELF,
    ("frexp", "input"): _DOC_SELF,
    ("histogram", "input"): _DOC_SELF,
    ("put", "input"): _DOC_SELF,
    ("dot", "other"): _DOC_NAME + " (tensor)",
    ("map_", "tensor"): _DOC_NAME + " (other)",
    ("record_stream", "stream"): _DOC_NAME + " (s)",
    (
        "copy_",
        "src*",
    ): "torch's docstring names it src, torch takes only other=; ours takes other (and src= by keyword)",
}


def _split_params(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse(params: str, drop_input: bool) -> list[tuple[str, str]]:
    """[(name, kind)]: kind P (positional or keyword), K (keyword only), V (*args), VK (**kwargs)."""
    res: list[tuple[str, str]] = []
    kwonly = False
    for p in _split_params(params):
        if p == "*":
            kwonly = True
        elif p.startswith("**"):
            res.append((p[2:], "VK"))
        elif p.startswith("*"):
            res.append((p[1:].split("=")[0].strip(), "V"))
            kwonly = True
        else:
            name = p.split("=")[0].split(":")[0].strip()
            if name.isidentifier() or name == "from":
                res.append((name, "K" if kwonly else "P"))
    if drop_input and res and res[0][0] in ("input", "self", "A", "x"):
        res = res[1:]
    return res


def _doc_signatures(name: str, doc: str | None, drop_input: bool = False) -> list[list[tuple[str, str]]]:
    sigs = []
    for line in (doc or "").splitlines()[:40]:
        m = _SIG.match(line)
        if m and m.group(1) == name.split(".")[-1]:
            sigs.append(_parse(m.group(2), drop_input))
    return sigs


_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "P",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "P",
    inspect.Parameter.KEYWORD_ONLY: "K",
    inspect.Parameter.VAR_POSITIONAL: "V",
    inspect.Parameter.VAR_KEYWORD: "VK",
}


def _inspected(fn: Any, skip_first: bool) -> list[tuple[str, str]] | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    return [(p.name, _KINDS[p.kind]) for p in params[1 if skip_first else 0 :]]


def torch_signatures(name: str) -> list[list[tuple[str, str]]]:
    """torch's parameters of ``Tensor.<name>``: a Python method's own signature, else its docstring's
    signature lines, else those of the function its "See :func:`torch.x`" names (minus ``input``)."""
    if name in EXTRA_SIGNATURES:
        return [EXTRA_SIGNATURES[name]]
    meth = getattr(torch.Tensor, name)
    doc = getattr(meth, "__doc__", None) or ""
    fn = inspect.unwrap(meth)
    if inspect.isfunction(fn):
        sig = _inspected(fn, skip_first=True)
        if sig is not None and (not any(k in ("V", "VK") for _, k in sig) or not _SEE.search(doc)):
            return [sig]
    sigs = _doc_signatures(name, doc)
    if sigs:
        return sigs
    m = _SEE.search(doc)
    if m:
        f: Any = torch
        for part in m.group(1).split(".")[1:]:
            f = getattr(f, part, None)
        if f is not None:
            sigs = _doc_signatures(m.group(1), f.__doc__, drop_input=True)
            if sigs:
                return sigs
            sig = _inspected(f, skip_first=True)
            if sig is not None:
                return [sig]
    return []


def signature_mismatches() -> dict[tuple[str, str], str]:
    """{(method, torch parameter): what is wrong} over the methods both libraries have; ``name*`` marks a
    parameter torch's docstring has positional that ours takes by keyword only."""
    found: dict[tuple[str, str], str] = {}
    common = sorted(n for n in set(dir(torch.Tensor)) & set(dir(bp.Tensor)) if not n.startswith("_"))
    for name in common:
        if isinstance(inspect.getattr_static(torch.Tensor, name), property) or not callable(
            getattr(torch.Tensor, name)
        ):
            continue
        ours_attr = getattr(bp.Tensor, name)
        if isinstance(inspect.getattr_static(bp.Tensor, name), property) or not callable(ours_attr):
            continue
        ours = _inspected(ours_attr, skip_first=True)
        if ours is None:
            continue
        if ours and ours[0][0] == "self":
            ours = ours[1:]
        kinds = dict(ours)
        has_vk = "VK" in kinds.values()
        has_v = "V" in kinds.values()
        for sig in torch_signatures(name):
            for pname, kind in sig:
                if kind in ("V", "VK"):
                    continue
                if pname not in kinds:
                    if not has_vk:
                        found[(name, pname)] = "not accepted by keyword"
                    elif pname == "from":  # taken through **kwargs: see the call cases
                        found[(name, pname)] = "through **kwargs"
                elif kind == "P" and kinds[pname] == "K" and not has_v:
                    found[(name, pname + "*")] = "keyword-only here, positional in torch's docstring"
    return found


def test_method_parameters_match_torch_docstrings() -> None:
    """Every parameter torch's docstring signature gives a Tensor method is accepted by keyword here,
    except the allow-listed ones (each with its reason); an allow-list entry that no longer differs fails
    too, so that the list stays exact."""
    found = signature_mismatches()
    new = {k: v for k, v in found.items() if k not in ALLOWED}
    stale = sorted(k for k in ALLOWED if k not in found)
    assert not new, f"Tensor methods that do not take torch's keyword arguments: {new}"
    assert not stale, f"allow-listed differences that no longer exist (remove them from ALLOWED): {stale}"


_MISSING = re.compile(r"missing \d+ required positional arguments?: (.*)$")


def test_method_required_parameters_match_torch() -> None:
    """The names torch's own argument parser gives a method's required parameters (called with none, it says
    ``missing 1 required positional arguments: "dims"``; docstrings are sometimes wrong about them) are
    accepted by keyword here."""
    bad = {}
    common = sorted(n for n in set(dir(torch.Tensor)) & set(dir(bp.Tensor)) if not n.startswith("_"))
    for name in common:
        if isinstance(inspect.getattr_static(torch.Tensor, name), property):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                getattr(torch.ones(2, 2), name)()
                continue
            except Exception as e:  # noqa: BLE001 - only the message of a missing-argument error is read
                m = _MISSING.search(str(e).splitlines()[0] if str(e) else "")
        if not m:
            continue
        ours = _inspected(getattr(bp.Tensor, name), skip_first=True)
        if ours is None or "VK" in dict(ours).values():
            continue
        missing = [n for n in re.findall(r'"(\w+)"', m.group(1)) if n not in dict(ours)]
        if missing:
            bad[name] = missing
    assert not bad, f"Tensor methods that do not take torch's required arguments by keyword: {bad}"
