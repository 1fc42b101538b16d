"""Reductions and scans against torch: values, dtypes, shapes and gradients of the public API
(Tensor methods and ``bp.*`` functions), edge cases included (ties, zeros, 0-d inputs, n <= correction)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _pair(data: Any, dtype: str = "float64", grad: bool = True) -> tuple[bp.Tensor, Any]:
    a = np.asarray(data, dtype=dtype)
    x = bp.tensor(a, requires_grad=grad)
    t = torch.tensor(a, requires_grad=grad)
    return x, t


def _same(got: Any, want: Any, dtype: bool = True) -> None:
    w = want.detach().numpy()
    g = np.asarray(got.detach().numpy() if hasattr(got, "grad_fn") else got)
    assert g.shape == w.shape, (g.shape, w.shape)
    if dtype:
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9, equal_nan=True)


def _check(fn_bp: Any, fn_t: Any, data: Any, grad: bool = True, dtype: str = "float64") -> None:
    """Forward and (with a random upstream gradient) backward of ``fn`` agree with torch."""
    x, t = _pair(data, dtype, grad)
    y, u = fn_bp(x), fn_t(t)
    _same(y, u)
    if grad:
        g = np.random.default_rng(1).standard_normal(np.shape(u.detach().numpy()))
        y.backward(bp.tensor(g))
        u.backward(torch.tensor(g))
        _same(x.grad, t.grad)


X = np.random.default_rng(0).standard_normal((3, 4, 5))
TIES = [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0], [5.0, 5.0, 5.0, 5.0]]


# ---------------------------------------------------------------- silent differences (regressions)
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_dim_sends_the_gradient_to_the_returned_index(name: str, keepdim: bool) -> None:
    for dim in (0, 1, -1):
        x, t = _pair(TIES)
        r, q = getattr(x, name)(dim, keepdim), getattr(t, name)(dim, keepdim)
        _same(r.values, q.values)
        _same(r.indices, q.indices)
        assert r.indices.dtype == bp.int64
        r.values.sum().backward()
        q.values.sum().backward()
        _same(x.grad, t.grad)
        r2 = getattr(bp, name)(x, dim=dim, keepdim=keepdim)
        assert r2.values.shape == r.values.shape and tuple(r2) == tuple(r2)  # a named tuple, like torch's


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_full_max_min_and_amax_share_ties_evenly(name: str) -> None:
    _check(lambda x: getattr(x, name)(), lambda t: getattr(t, name)(), TIES)
    if name.startswith("a"):
        _check(lambda x: getattr(x, name)(1), lambda t: getattr(t, name)(1), TIES)


def test_max_with_a_tensor_is_the_elementwise_maximum() -> None:
    a, ta = _pair([1.0, 5.0, 2.0])
    b, tb = _pair([3.0, 4.0, 2.0])
    _same(bp.max(a, b), torch.max(ta, tb))
    _same(a.min(b), ta.min(tb))


def test_max_dim_double_backward() -> None:
    x = bp.tensor(X, requires_grad=True)
    assert bp.gradcheck(lambda v: v.max(1).values, [x])
    assert bp.gradgradcheck(lambda v: v.max(-1).values ** 2, [x])


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_with_n_at_most_correction_give_torchs_nan_inf(name: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about the degrees of freedom; backprop does not
        cases = [
            (lambda v: getattr(v, name)(), [1.0]),
            (lambda v: getattr(v, name)(), [[1.0, 2.0]]),
            (lambda v: getattr(v, name)(1), [[1.0], [2.0]]),
            (lambda v: getattr(v, name)(1, correction=3), [[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]]),
            (lambda v: getattr(v, name)(1, correction=4), [[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]]),
            (lambda v: getattr(v, name)(correction=7), [[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]]),
            (lambda v: getattr(v, name)(), 2.0),
        ]
        for fn, data in cases:
            x, t = _pair(data)
            y, u = fn(x), fn(t)
            _same(y, u)
            y.sum().backward()
            u.sum().backward()
            _same(x.grad, t.grad)


def test_std_gradient_is_zero_at_zero_spread() -> None:
    _check(lambda x: x.std(1), lambda t: t.std(1), [[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])


@pytest.mark.parametrize("name", ["sum", "mean", "logsumexp", "amax", "amin", "nansum", "nanmean", "prod"])
@pytest.mark.parametrize("dim", [0, -1])
def test_zero_d_accepts_dim_0_and_minus_1(name: str, dim: int) -> None:
    _check(lambda x: getattr(x, name)(dim), lambda t: getattr(t, name)(dim), 1.5)
    _check(lambda x: getattr(x, name)(dim, keepdim=True), lambda t: getattr(t, name)(dim, keepdim=True), 1.5)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp", "squeeze", "argmax", "argmin"])
def test_zero_d_accepts_dim_in_other_ops(name: str) -> None:
    x, t = _pair(2.5, grad=False)
    for dim in (0, -1):
        _same(getattr(x, name)(dim), getattr(t, name)(dim))
    for name2 in ("max", "min", "median", "cummax", "cummin"):
        r, q = getattr(x, name2)(0), getattr(t, name2)(0)
        _same(r.values, q.values)
        _same(r.indices, q.indices)
    with pytest.raises((IndexError, RuntimeError)):
        x.sum(1)


# ---------------------------------------------------------------- sums, means, products
@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: m.sum(x),
        lambda m, x: m.sum(x, 1),
        lambda m, x: m.sum(x, (0, 2), keepdim=True),
        lambda m, x: m.sum(x, dim=-1, dtype=m.float32),
        lambda m, x: m.sum(x, axis=1, keepdims=True),
        lambda m, x: m.mean(x, [0, -1]),
        lambda m, x: m.mean(x, axis=0),
        lambda m, x: m.mean(x, 1, dtype=m.float32),
        lambda m, x: m.nansum(x, 1),
        lambda m, x: m.nanmean(x, -1),
        lambda m, x: m.prod(x),
        lambda m, x: m.prod(x, 1, keepdim=True),
        lambda m, x: m.prod(x, dim=-1, dtype=m.float32),
        lambda m, x: m.logsumexp(x, (0, 1)),
        lambda m, x: m.logsumexp(x, -1, keepdim=True),
        lambda m, x: m.var_mean(x, 1)[0] + m.var_mean(x, 1)[1],
        lambda m, x: m.std_mean(x, (0, 2), correction=0, keepdim=True)[0] * 2 + m.std_mean(x)[1],
        lambda m, x: m.var(x, 1, unbiased=False),
        lambda m, x: m.std(x, 0, True, True),
    ],
)
def test_reductions_match_torch(call: Any) -> None:
    _check(lambda x: call(bp, x), lambda t: call(torch, t), X)


def test_nan_reductions() -> None:
    data = [[1.0, math.nan, 2.0], [math.nan, math.nan, math.nan]]
    _check(lambda x: x.nansum(1), lambda t: t.nansum(1), data)
    _check(lambda x: x.nanmean(0), lambda t: t.nanmean(0), data, grad=False)
    _check(lambda x: bp.max(x, 1).values, lambda t: torch.max(t, 1).values, data, grad=False)
    _check(lambda x: x.amax(), lambda t: t.amax(), data)


@pytest.mark.parametrize(
    "data",
    [
        [[2.0, 0.0, 3.0], [0.0, 0.0, 2.0], [1.5, -2.0, 0.5]],  # one zero, two zeros, none
        [[0.0, 1.0], [4.0, 0.0]],
    ],
)
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_prod_and_cumprod_gradients_with_zeros(data: Any, dim: Any) -> None:
    def prod(v: Any) -> Any:
        return v.prod() if dim is None else v.prod(dim)

    _check(prod, prod, data)
    x = bp.tensor(data, dtype=bp.float64, requires_grad=True)
    assert bp.gradcheck(prod, [x])
    assert bp.gradgradcheck(prod, [x])
    if dim is not None:

        def cumprod(v: Any) -> Any:
            return v.cumprod(dim)

        _check(cumprod, cumprod, data)
        assert bp.gradcheck(cumprod, [bp.tensor(data, dtype=bp.float64, requires_grad=True)])


INT_CALLS = [
    lambda m, x: x.sum(),
    lambda m, x: x.sum(1),
    lambda m, x: m.sum(x, 0, dtype=m.float32),
    lambda m, x: x.prod(0),
    lambda m, x: m.prod(x),
    lambda m, x: x.cumsum(1),
    lambda m, x: m.cumprod(x, 0),
    lambda m, x: x.count_nonzero(),
    lambda m, x: m.count_nonzero(x, 1),
    lambda m, x: x.all(),
    lambda m, x: m.any(x, 1),
    lambda m, x: x.all(dim=0, keepdim=True),
    lambda m, x: x.amax(1),
    lambda m, x: x.long().argmax(),
    lambda m, x: x.mean(dtype=m.float64),
    lambda m, x: m.nansum(x),
]


@pytest.mark.parametrize("data", [[[1, 2, 3], [4, 5, 6]], [[True, False, True], [True, True, True]]])
def test_integer_and_bool_dtypes(data: Any) -> None:
    x, t = bp.tensor(data), torch.tensor(data)
    for fn in INT_CALLS:
        _same(fn(bp, x), fn(torch, t))
    with pytest.raises(RuntimeError):
        bp.tensor(data).mean()
    with pytest.raises(RuntimeError):
        bp.tensor(data).var()


def test_uint8_all_any_stay_uint8() -> None:
    x = bp.tensor(np.array([1, 0], dtype=np.uint8))
    t = torch.tensor([1, 0], dtype=torch.uint8)
    _same(x.all(), t.all())
    _same(x.any(), t.any())


def test_all_any_on_floats_and_dims() -> None:
    data = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    x, t = _pair(data, grad=False)
    for fn in (lambda v: v.all(), lambda v: v.any(0), lambda v: v.all(-1, keepdim=True)):
        _same(fn(x), fn(t))
    _same(bp.all(x, 1), torch.all(t, 1))
    _same(bp.any(x), torch.any(t))


# ---------------------------------------------------------------- arg reductions and selections
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name: str) -> None:
    x, t = _pair(TIES, grad=False)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": -1}, {"keepdim": True}):
        _same(getattr(x, name)(**kw), getattr(t, name)(**kw))
        _same(getattr(bp, name)(x, **kw), getattr(torch, name)(t, **kw))


def test_median() -> None:
    _check(lambda x: x.median(), lambda t: t.median(), [[1.0, 4.0, 2.0, 3.0]])  # lower median, not 2.5
    _check(lambda x: bp.median(x), lambda t: torch.median(t), TIES)  # ties share the gradient
    x, t = _pair(X)
    for dim, keepdim in ((0, False), (1, True), (-1, False)):
        r, q = x.median(dim, keepdim), t.median(dim, keepdim)
        _same(r.values, q.values)
        _same(r.indices, q.indices)
    r, q = x.median(1), t.median(1)
    (r.values * 3).sum().backward()
    (q.values * 3).sum().backward()
    _same(x.grad, t.grad)
    n, tn = _pair([[1.0, math.nan, 0.0], [2.0, 1.0, 3.0]], grad=False)
    _same(n.median(), tn.median())
    _same(n.median(1).values, tn.median(1).values)
    _same(n.median(1).indices, tn.median(1).indices)


# ---------------------------------------------------------------- scans
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scans(name: str, dim: int) -> None:
    _check(lambda x: getattr(x, name)(dim), lambda t: getattr(t, name)(dim), X)
    _check(lambda x: getattr(bp, name)(x, dim=dim), lambda t: getattr(torch, name)(t, dim=dim), X)
    _check(lambda x: getattr(x, name)(axis=dim), lambda t: getattr(t, name)(axis=dim), X)


def test_scan_dtypes_and_errors() -> None:
    x, t = _pair(X)
    _same(x.cumsum(1, dtype=bp.float32), t.cumsum(1, dtype=torch.float32))
    _same(x.cumprod(0, dtype=bp.float32), t.cumprod(0, dtype=torch.float32))
    with pytest.raises(TypeError, match="dim"):
        x.cumsum()
    with pytest.raises((IndexError, RuntimeError)):
        x.cumsum(3)


def test_logcumsumexp_is_stable() -> None:
    data = [[-1000.0, 0.0, 1000.0], [-math.inf, -math.inf, 2.0], [1e-3, 800.0, -800.0]]
    _check(lambda x: x.logcumsumexp(1), lambda t: t.logcumsumexp(1), data)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin(name: str) -> None:
    data = [[1.0, 1.0, 0.0, 1.0, 2.0, 2.0], [3.0, 1.0, 1.0, 4.0, 0.0, 4.0]]
    for dim in (0, 1, -1):
        x, t = _pair(data)
        r, q = getattr(x, name)(dim), getattr(t, name)(dim)
        _same(r.values, q.values)
        _same(r.indices, q.indices)
        g = np.random.default_rng(2).standard_normal(np.shape(data))
        r.values.backward(bp.tensor(g))
        q.values.backward(torch.tensor(g))
        _same(x.grad, t.grad)
    x = bp.tensor(X, requires_grad=True)
    assert bp.gradgradcheck(lambda v: getattr(v, name)(1).values ** 2, [x])


# ---------------------------------------------------------------- norms
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"p": "fro", "dim": (0, 1)},
        {"p": 2, "dim": 1},
        {"p": 1, "dim": -1, "keepdim": True},
        {"p": 3.0, "dim": (0, 2)},
        {"p": 0.5},
        {"p": float("inf"), "dim": 1},
        {"p": -float("inf")},
        {"p": 0, "dim": 0},
    ],
)
def test_norm(kw: dict) -> None:
    if kw.get("p") == 0:  # torch's gradient is None there (x.grad stays None after backward), as ours
        _check(lambda x: x.norm(**kw), lambda t: t.norm(**kw), X, grad=False)
        x = bp.tensor(X, requires_grad=True)
        x.norm(**kw).sum().backward()
        t = torch.tensor(X, requires_grad=True)
        t.norm(**kw).sum().backward()
        assert x.grad is None and t.grad is None
        return
    _check(lambda x: x.norm(**kw), lambda t: t.norm(**kw), X)
    _check(lambda x: bp.norm(x, **kw), lambda t: torch.norm(t, **kw), X)


@pytest.mark.parametrize("p", [2, "fro", 1, 3.0, 1.5, 0.5, float("inf")])
def test_norm_gradient_at_zero_is_zero(p: Any) -> None:
    data = [[0.0, 0.0, 0.0], [3.0, 0.0, -4.0]]
    _check(lambda x: x.norm(p, dim=1), lambda t: t.norm(p, dim=1), data)
    _check(lambda x: x[0].norm(p), lambda t: t[0].norm(p), data)
