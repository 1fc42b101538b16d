"""Special functions, more binary float ops, integer ops and the in-place variants against torch:
values, dtypes, shapes, gradients (first and second order) and errors of the public API."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

nan, inf = float("nan"), float("inf")


def _pair(values: Any, dtype: str = "float64", grad: bool = False) -> tuple[Any, Any]:
    a = np.asarray(values, dtype=dtype)
    return bp.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _same(ours: Any, theirs: Any, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    assert isinstance(ours, bp.Tensor), type(ours)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    if theirs._is_zerotensor():  # torch's symbolic zero gradient (sgn, ...)
        theirs = torch.zeros(theirs.shape, dtype=theirs.dtype)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)


def _check(
    fn_bp: Callable, fn_torch: Callable, *specs: Any, dtype: str = "float64", rtol: float = 1e-6, grad: bool = True
) -> None:
    """Forward (value, dtype, shape) and, for float inputs, the gradients of ``out.sum()``."""
    grad = grad and dtype.startswith("float")
    pairs = [_pair(s, dtype, grad) if isinstance(s, list) else (s, s) for s in specs]
    out_bp, out_t = fn_bp(*[p[0] for p in pairs]), fn_torch(*[p[1] for p in pairs])
    _same(out_bp, out_t, rtol=rtol)
    if grad and out_t.requires_grad:
        out_t.sum().backward()
        out_bp.sum().backward()
        for b, t in pairs:
            if isinstance(t, torch.Tensor):
                assert (b.grad is None) == (t.grad is None)
                if t.grad is not None:
                    _same(b.grad, t.grad, rtol=rtol)


X = [[-2.5, -1.5, -0.7, 0.0], [0.3, 0.5, 1.5, 2.5]]
POS = [0.1, 0.5, 1.0, 3.0, 7.5]
UNIT = [0.05, 0.2, 0.5, 0.75, 0.95]
SIGNED_UNIT = [-0.9, -0.5, 0.0, 0.25, 0.8]

UNARY = {
    "erfc": X, "erfinv": SIGNED_UNIT, "lgamma": [-2.5, -0.5, 0.1, 1.0, 4.5], "digamma": [-2.5, -0.5, 0.1, 1.0, 4.5],
    "i0": X, "sinc": X, "logit": UNIT, "deg2rad": X, "rad2deg": X, "angle": X,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_methods_and_functions(name: str) -> None:
    _check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), UNARY[name])
    _check(lambda x: getattr(bp, name)(x), lambda x: getattr(torch, name)(x), UNARY[name], dtype="float32", rtol=1e-5)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_of_integers_is_float32(name: str) -> None:
    _check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [-2, 0, 1, 3], dtype="int64", rtol=1e-6)


def test_special_values_at_poles_and_ends() -> None:
    """lgamma/digamma at poles and signed zeros, erfinv at +-1 and outside, logit at and past the ends."""
    edges = [0.0, -0.0, -1.0, -2.0, 1.0, 2.0, -1.5, inf, -inf, nan]
    for name in ("lgamma", "digamma", "erfinv", "erfc", "logit", "sinc", "i0", "angle"):
        _same(getattr(bp, name)(bp.tensor(edges)), getattr(torch, name)(torch.tensor(edges)), rtol=1e-5)
    # sinc: exactly 1 at 0 with gradient 0 (the limit), as torch
    _check(bp.sinc, torch.sinc, [0.0, -0.0, 1.0, 0.5])


def test_second_derivatives() -> None:
    """Double backward: lgamma -> digamma -> polygamma(1) -> polygamma(2), i0 -> i1 (1/2 at 0), sinc, erfinv."""
    cases = {
        "lgamma": [0.3, 1.5, 4.0], "digamma": [0.3, 1.5, 4.0], "i0": [0.1, -1.2, 2.0], "sinc": [0.1, 0.3, -1.7],
        "erfinv": [-0.5, 0.0, 0.7], "erfc": [-0.5, 0.0, 0.7], "logit": [0.2, 0.5, 0.9],
    }  # fmt: skip
    for name, values in cases.items():
        x, xt = _pair(values, grad=True)
        (g,) = bp.autograd.grad(getattr(bp, name)(x).sum(), [x], create_graph=True)
        (gt,) = torch.autograd.grad(getattr(torch, name)(xt).sum(), [xt], create_graph=True)
        _same(g, gt)
        g.sum().backward()
        gt.sum().backward()
        _same(x.grad, xt.grad, rtol=1e-5)


def test_i0_second_derivative_at_zero_is_one_half() -> None:
    """i0''(0) = i1'(0) = 1/2 (torch's double backward gives NaN there: a deliberate difference)."""
    x = bp.tensor([0.0, 1e-30], dtype=bp.float64, requires_grad=True)
    (g,) = bp.autograd.grad(bp.i0(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [0.0, 5e-31], rtol=1e-12)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5])


def test_sinc_second_derivative_at_zero() -> None:
    """sinc''(0) = -pi^2/3 (torch's double backward gives NaN there: a deliberate difference)."""
    x = bp.tensor([0.0, 1e-4], dtype=bp.float64, requires_grad=True)
    (g,) = bp.autograd.grad(bp.sinc(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [0.0, -(math.pi**2) / 3 * 1e-4], rtol=1e-6)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-(math.pi**2) / 3] * 2, rtol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_polygamma(n: int) -> None:
    _check(lambda x: bp.polygamma(n, x), lambda x: torch.polygamma(n, x), POS)
    _check(lambda x: x.polygamma(n), lambda x: x.polygamma(n), POS, dtype="float32", rtol=1e-5)
    _check(lambda x: x.polygamma(n), lambda x: x.polygamma(n), [1, 2, 5], dtype="int64", rtol=1e-5)


def test_polygamma_rejects_negative_n() -> None:
    with pytest.raises(RuntimeError, match="negative n"):
        bp.polygamma(-1, bp.tensor([1.0]))
    with pytest.raises(RuntimeError):
        torch.polygamma(-1, torch.tensor([1.0]))


@pytest.mark.parametrize("p", [1, 2, 3])
def test_mvlgamma(p: int) -> None:
    values = [[1.6, 2.5, 3.0], [4.0, 7.5, 1.9]]
    _check(lambda x: bp.mvlgamma(x, p), lambda x: torch.mvlgamma(x, p), values)
    _check(lambda x: x.mvlgamma(p=p), lambda x: x.mvlgamma(p=p), values, dtype="float32", rtol=1e-5)
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        bp.mvlgamma(bp.tensor([2.0]), 0)


def test_logit_eps_gradients() -> None:
    """With eps: clamped forward, gradient 0 strictly outside [eps, 1 - eps]; without: NaN outside [0, 1]."""
    values = [0.0, 0.1, 0.2, 0.5, 0.8, 0.95, 1.0, 1.2, -0.3]
    _check(lambda x: bp.logit(x, eps=0.2), lambda x: torch.logit(x, eps=0.2), values)
    _check(lambda x: x.logit(0.2), lambda x: x.logit(0.2), values, dtype="float32", rtol=1e-5)
    _check(bp.logit, torch.logit, values)


def test_xlogy() -> None:
    x = [[0.0, 0.0, 1.0, 2.0, -3.0, 0.0], [0.5, 0.0, 1.5, 2.0, 0.0, 4.0]]
    y = [[0.0, nan, 0.0, 3.0, 0.5, 2.0], [1.0, inf, 2.0, 0.1, 7.0, 4.0]]
    _check(bp.xlogy, torch.xlogy, x, y)
    _check(lambda a, b: a.xlogy(b), lambda a, b: a.xlogy(b), x, y, dtype="float32", rtol=1e-5)
    _check(lambda a: bp.xlogy(a, 2.5), lambda a: torch.xlogy(a, 2.5), x)
    _check(lambda b: bp.xlogy(3, b), lambda b: torch.xlogy(3, b), [0.5, 1.0, 2.0])
    _check(lambda b: bp.xlogy(0.0, b), lambda b: torch.xlogy(0.0, b), [0.5, 1.0, 2.0])
    _check(bp.xlogy, torch.xlogy, [1, 0, 3], [2, 0, 3], dtype="int64")
    _check(lambda a: a.xlogy(2.5), lambda a: a.xlogy(2.5), [1, 0, 3], dtype="int64")
    # a float64 0-d other does not raise a float32 tensor's dtype (torch's 0-d promotion)
    _same(
        bp.xlogy(bp.tensor([1.0, 3.0]), bp.tensor(2.0, dtype=bp.float64)),
        torch.xlogy(torch.tensor([1.0, 3.0]), torch.tensor(2.0, dtype=torch.float64)),
    )


BINARY = {
    "hypot": ([[3.0, 0.5, -1.0], [2.0, -7.0, 0.1]], [[4.0, -2.0, 1.0], [0.0, 0.3, 5.0]]),
    "logaddexp2": ([[3.0, 0.5, -100.0], [2.0, -7.0, 1000.0]], [[4.0, -2.0, -100.0], [0.0, 0.3, 1000.0]]),
    "fmax": ([1.0, 2.0, nan, 1.0, nan, 3.0], [1.0, 1.0, 3.0, nan, nan, 4.0]),
    "fmin": ([1.0, 2.0, nan, 1.0, nan, 3.0], [1.0, 1.0, 3.0, nan, nan, 4.0]),
    "nextafter": ([1.0, 0.0, -1.0, 2.0], [2.0, -1.0, -1.0, 0.0]),
    "atan2": ([1.0, -2.0, 0.5], [0.5, 1.5, -3.0]),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_float_ops(name: str) -> None:
    x, y = BINARY[name]
    _check(getattr(bp, name), getattr(torch, name), x, y)
    _check(lambda a, b: getattr(a, name)(b), lambda a, b: getattr(a, name)(b), x, y, dtype="float32", rtol=1e-5)
    # broadcasting, and a float64 other promoting a float32 self
    a, at = _pair([[1.0], [2.0]], "float32", grad=True)
    b, bt = _pair([0.5, 3.0, -1.0], "float64", grad=True)
    _check(lambda: getattr(bp, name)(a, b), lambda: getattr(torch, name)(at, bt))


def test_nextafter_values_are_one_ulp_away() -> None:
    x, xt = _pair([1.0, 0.0, -1.0], "float32")
    y, yt = _pair([2.0, -1.0, -2.0], "float32")
    assert np.array_equal(bp.nextafter(x, y).numpy(), torch.nextafter(xt, yt).numpy())
    assert np.array_equal(bp.nextafter(x, y).numpy(), np.nextafter(x.numpy(), y.numpy()))


def test_heaviside() -> None:
    x = [-1.5, 0.0, -0.0, 2.0]
    _check(bp.heaviside, torch.heaviside, x, [0.5, 0.25, 0.75, 0.5], grad=False)
    _same(bp.heaviside(bp.tensor([-2, 0, 3]), bp.tensor(7)), torch.heaviside(torch.tensor([-2, 0, 3]), torch.tensor(7)))
    a = bp.tensor(x, requires_grad=True)
    out = bp.heaviside(a, bp.tensor(0.5, dtype=bp.float64))
    assert out.requires_grad  # as torch: the output requires grad, its backward raises
    with pytest.raises(RuntimeError, match="heaviside"):
        out.sum().backward()


def test_ldexp_dtypes_and_gradients() -> None:
    _check(bp.ldexp, torch.ldexp, [1.0, -2.0, 0.75], [3.0, -1.0, 0.0])
    x, xt = _pair([1.0, -2.0, 0.75], "float32", grad=True)
    e, et = _pair([3, -1, 10], "int64")
    _check(lambda: bp.ldexp(x, e), lambda: torch.ldexp(xt, et))
    _check(lambda: x.double().ldexp(e), lambda: xt.double().ldexp(et))
    _same(bp.ldexp(e, e), torch.ldexp(et, et))  # int inputs give float32


def test_frexp() -> None:
    values = [0.0, 1.0, 3.0, -5.0, 1e-40, 6.5e4, inf, -inf, nan]
    for dtype in ("float32", "float64"):
        x, xt = _pair(values, dtype)
        ours, theirs = bp.frexp(x), torch.frexp(xt)
        assert type(ours).__name__ == type(theirs).__name__ == "frexp" and ours._fields == ("mantissa", "exponent")
        _same(ours.mantissa, theirs.mantissa)
        _same(ours.exponent, theirs.exponent)
        m, e = x.frexp()
        _same(m, theirs[0])
        _same(e, theirs[1])
    _check(lambda x: x.frexp().mantissa, lambda x: x.frexp().mantissa, [0.1, 3.0, -40.0])
    with pytest.raises(RuntimeError, match="floating-point"):
        bp.frexp(bp.tensor([1, 2]))


def test_angle_and_signbit_and_isreal() -> None:
    values = [-1.0, -0.0, 0.0, 2.0, nan, -inf]
    x, xt = _pair(values)
    _same(bp.angle(x), torch.angle(xt))
    _same(bp.signbit(x), torch.signbit(xt))
    _same(x.signbit(), xt.signbit())
    _same(bp.signbit(bp.tensor([-1, 0, 4])), torch.signbit(torch.tensor([-1, 0, 4])))
    _same(bp.isreal(x), torch.isreal(xt))
    _same(bp.tensor([1, 2]).isreal(), torch.tensor([1, 2]).isreal())


@pytest.mark.parametrize("name", ["gcd", "lcm", "bitwise_left_shift", "bitwise_right_shift"])
def test_integer_ops(name: str) -> None:
    x = [[12, -8, 0, 7], [100, -100, 5, 1]]
    y = [[18, 6, 0, 3], [3, 2, 0, 4]]
    _check(getattr(bp, name), getattr(torch, name), x, y, dtype="int64")
    _check(lambda a, b: getattr(a, name)(b), lambda a, b: getattr(a, name)(b), x, y, dtype="int32")
    a, at = _pair(x, "int32")
    b, bt = _pair([1, 2, 0, 3], "int64")  # int32 with int64 promotes to int64
    _same(getattr(bp, name)(a, b), getattr(torch, name)(at, bt))
    with pytest.raises(NotImplementedError):
        getattr(bp, name)(bp.tensor([1.0, 2.0]), bp.tensor([1.0, 2.0]))


def test_shift_operators() -> None:
    x, xt = _pair([-8, 1, 2, 100], "int64")
    _same(x << 2, xt << 2)
    _same(x >> 1, xt >> 1)
    _same(2 << x.abs().clamp(max=10), 2 << xt.abs().clamp(max=10))
    _same(bp.tensor([True, False]) << 1, torch.tensor([True, False]) << 1)
    y, yt = _pair([3, 1, 2, 4], "int32")
    _same(y << x.abs().clamp(max=3), yt << xt.abs().clamp(max=3))
    x <<= 1
    xt <<= 1
    _same(x, xt)
    x >>= 2
    xt >>= 2
    _same(x, xt)


# ---------------------------------------------------------------- in place

UNARY_INPLACE = {
    "tan": SIGNED_UNIT, "asin": SIGNED_UNIT, "acos": SIGNED_UNIT, "atan": X, "sinh": X, "cosh": X, "asinh": X,
    "acosh": [1.5, 2.0, 10.0], "atanh": SIGNED_UNIT, "arcsin": SIGNED_UNIT, "arccos": SIGNED_UNIT, "arctan": X,
    "arcsinh": X, "arccosh": [1.5, 2.0, 10.0], "arctanh": SIGNED_UNIT, "log2": POS, "log10": POS, "exp2": X,
    "erf": X, "erfc": X, "erfinv": SIGNED_UNIT, "lgamma": POS, "digamma": POS, "i0": X, "sinc": X, "logit": UNIT,
    "deg2rad": X, "rad2deg": X, "fix": X, "sgn": X,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY_INPLACE))
def test_unary_inplace(name: str) -> None:
    """Values, the returned object, and gradients through the in-place op on a non-leaf."""
    values = UNARY_INPLACE[name]
    for dtype in ("float32", "float64"):
        x, xt = _pair(values, dtype)
        out = getattr(x, name + "_")()
        getattr(xt, name + "_")()
        assert out is x
        _same(x, xt, rtol=1e-5)
    x, xt = _pair(values, grad=True)
    y, yt = x * 1.0, xt * 1.0
    getattr(y, name + "_")()
    getattr(yt, name + "_")()
    _same(y, yt)
    (y * y).sum().backward()
    try:
        (yt * yt).sum().backward()
    except NotImplementedError:  # torch has no derivative for acosh_/asinh_: ours is acosh's/asinh's
        (yt,) = [getattr(xt.detach().requires_grad_(), name)()]
        xt = yt.grad_fn.next_functions[0][0].variable
        (yt * yt).sum().backward()
    _same(x.grad, xt.grad)


@pytest.mark.parametrize("name", ["sin", "erfinv", "lgamma", "logit", "sinc", "deg2rad", "i0"])
def test_unary_inplace_on_integers_raises(name: str) -> None:
    with pytest.raises(RuntimeError):
        getattr(torch.tensor([1, 2]), name + "_")()
    with pytest.raises(RuntimeError, match="can't be cast"):
        getattr(bp.tensor([1, 2]), name + "_")()


def test_inplace_on_a_leaf_that_requires_grad_raises() -> None:
    for name, args in [("erfinv_", ()), ("xlogy_", (2.0,)), ("eq_", (1.0,)), ("mvlgamma_", (2,))]:
        with pytest.raises(RuntimeError, match="leaf"):
            getattr(bp.tensor([0.5, 3.0], requires_grad=True), name)(*args)


BINARY_INPLACE = {
    "atan2": ([1.0, -2.0, 0.5], [0.5, 1.5, -3.0]), "arctan2": ([1.0, -2.0, 0.5], [0.5, 1.5, -3.0]),
    "hypot": ([3.0, 0.5, -1.0], [4.0, -2.0, 1.0]), "xlogy": ([0.0, 1.5, 2.0], [0.0, 2.0, 0.5]),
    "copysign": ([1.0, -2.0, 3.0], [-1.0, 2.0, -0.0]), "nextafter": ([1.0, 0.0, 2.0], [2.0, -1.0, 0.0]),
    "true_divide": ([1.0, -2.0, 3.0], [4.0, 2.0, -0.5]), "divide": ([1.0, -2.0, 3.0], [4.0, 2.0, -0.5]),
    "multiply": ([1.0, -2.0, 3.0], [4.0, 2.0, -0.5]), "subtract": ([1.0, -2.0, 3.0], [4.0, 2.0, -0.5]),
    "ldexp": ([1.0, -2.0, 3.0], [4.0, 2.0, -1.0]), "fmax": ([1.0, nan, 3.0], [4.0, 2.0, nan]),
    "fmin": ([1.0, nan, 3.0], [4.0, 2.0, nan]), "logaddexp2": ([1.0, -2.0, 3.0], [4.0, 2.0, -0.5]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BINARY_INPLACE))
def test_binary_inplace(name: str) -> None:
    xv, yv = BINARY_INPLACE[name]
    if not hasattr(torch.Tensor, name + "_"):  # fmax_, fmin_, logaddexp2_ are not in torch: ours neither
        assert not hasattr(bp.Tensor, name + "_")
        return
    x, xt = _pair(xv, "float32")
    y, yt = _pair(yv, "float64")  # a float64 other: the result is cast back to self's float32
    assert getattr(x, name + "_")(y) is x
    getattr(xt, name + "_")(yt)
    _same(x, xt, rtol=1e-5)
    a, at = _pair(xv, grad=True)
    b, bt = _pair(yv, grad=True)
    c, ct = a * 1.0, at * 1.0
    getattr(c, name + "_")(b)
    getattr(ct, name + "_")(bt)
    (c * c).sum().backward()
    (ct * ct).sum().backward()
    _same(a.grad, at.grad)
    _same(b.grad, bt.grad)


def test_inplace_dtype_rules() -> None:
    """An in-place result must be castable to self's dtype (torch raises otherwise)."""
    with pytest.raises(RuntimeError, match="float64"):
        bp.tensor([1.0, 2.0]).float_power_(2)
    x, xt = _pair([1.0, 2.0], "float64")
    _same(x.float_power_(2), xt.float_power_(2))
    for fn in (lambda t: t.true_divide_(2), lambda t: t.ldexp_(t), lambda t: t.hypot_(t)):
        with pytest.raises(RuntimeError):
            fn(bp.tensor([1, 2]))
    g, gt = _pair([12, 8, 0], "int64")
    _same(g.gcd_(bp.tensor([18, 6, 0])), gt.gcd_(torch.tensor([18, 6, 0])))
    _same(g.lcm_(bp.tensor([4, 3, 1])), gt.lcm_(torch.tensor([4, 3, 1])))
    s, st = _pair([1, -8, 3], "int64")
    _same(s.bitwise_left_shift_(2), st.bitwise_left_shift_(2))
    _same(s.bitwise_right_shift_(1), st.bitwise_right_shift_(1))


def test_polygamma_mvlgamma_heaviside_inplace() -> None:
    x, xt = _pair([0.5, 2.0, 3.0])
    _same(x.clone().polygamma_(2), xt.clone().polygamma_(2))
    _same(x.clone().mvlgamma_(2), xt.clone().mvlgamma_(2))
    _same(
        x.clone().heaviside_(bp.tensor(0.5, dtype=bp.float64)),
        xt.clone().heaviside_(torch.tensor(0.5, dtype=torch.float64)),
    )
    # mvlgamma_ inside a graph: the gradient is mvlgamma's
    a, at = _pair([1.6, 2.0, 3.0], grad=True)
    b, bt = a * 2, at * 2
    b.mvlgamma_(2)
    bt.mvlgamma_(2)
    b.sum().backward()
    bt.sum().backward()
    _same(b, bt)
    _same(a.grad, at.grad)


def test_nan_to_num_inplace() -> None:
    values = [1.0, nan, inf, -inf, -2.0]
    for dtype in ("float32", "float64"):
        x, xt = _pair(values, dtype)
        assert x.nan_to_num_() is x
        _same(x, xt.nan_to_num_())
        x, xt = _pair(values, dtype)
        _same(bp.nan_to_num_(x, 1.0, 5.0, neginf=-5.0), torch.nan_to_num_(xt, 1.0, 5.0, neginf=-5.0))
    i, it = _pair([1, 2], "int64")
    _same(i.nan_to_num_(), it.nan_to_num_())
    a, at = _pair(values, grad=True)
    b, bt = a * 2, at * 2
    b.nan_to_num_(posinf=3.0)
    bt.nan_to_num_(posinf=3.0)
    (b * 0.5).sum().backward()
    (bt * 0.5).sum().backward()
    _same(a.grad, at.grad)
    _check(lambda t: t.nan_to_num(nan=0.5, neginf=-1.0), lambda t: t.nan_to_num(nan=0.5, neginf=-1.0), values)


COMPARE = ["eq", "ne", "lt", "le", "gt", "ge", "less", "less_equal", "greater", "greater_equal", "not_equal"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]


@pytest.mark.parametrize("name", COMPARE + LOGICAL)
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_comparison_and_logic_inplace(name: str, dtype: str) -> None:
    """1/0 (True/False) in self's dtype, against a tensor (broadcast) and against a number."""
    values = [[0, 1, 2], [3, 0, 1]] if dtype != "bool" else [[False, True, True], [True, False, False]]
    x, xt = _pair(values, dtype)
    o, ot = _pair([1, 0, 2], dtype if dtype != "bool" else "int64")
    assert getattr(x, name + "_")(o) is x
    getattr(xt, name + "_")(ot)
    _same(x, xt)
    if name in LOGICAL:  # torch's logical_*_ take a Tensor only
        o, ot = _pair(1, dtype)
    else:
        o, ot = 1, 1
    x, xt = _pair(values, dtype)
    _same(getattr(x, name + "_")(o), getattr(xt, name + "_")(ot))


def test_comparison_inplace_in_a_graph_has_zero_gradient() -> None:
    for name in ("eq_", "lt_", "logical_and_", "logical_not_"):
        a = bp.tensor([1.0, 2.0, inf, nan], requires_grad=True)
        b = a * 1.0
        args = () if name == "logical_not_" else (bp.tensor(2.0, dtype=bp.float64),)
        getattr(b, name)(*args)
        expected = getattr(torch.tensor([1.0, 2.0, inf, nan]), name)(
            *[torch.tensor(2.0, dtype=torch.float64) for _ in args]
        )
        np.testing.assert_array_equal(b.detach().numpy(), expected.numpy())
        assert b.requires_grad
        (b * 3).sum().backward()
        np.testing.assert_array_equal(a.grad.numpy(), np.zeros(4))
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    yt = xt * 1.0
    yt.eq_(1.0)
    yt.sum().backward()
    assert torch.equal(xt.grad, torch.zeros(2))  # torch agrees: the gradient through eq_ is 0


def test_logical_not_and_bitwise_inplace() -> None:
    for dtype in ("float32", "int64", "bool"):
        x, xt = _pair([0, 1, 2] if dtype != "bool" else [False, True, True], dtype)
        _same(x.logical_not_(), xt.logical_not_())
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        x, xt = _pair([12, 5, -3], "int64")
        _same(getattr(x, name + "_")(6), getattr(xt, name + "_")(6))
        m, mt = _pair([True, False, True], "bool")
        _same(
            getattr(m, name + "_")(bp.tensor([True, True, False])),
            getattr(mt, name + "_")(torch.tensor([True, True, False])),
        )
    x, xt = _pair([12, 5, -3], "int64")
    _same(x.bitwise_not_(), xt.bitwise_not_())
    m, mt = _pair([True, False, True], "bool")
    ident = id(m)
    m &= bp.tensor([True, True, False])
    mt &= torch.tensor([True, True, False])
    assert id(m) == ident  # in place, as torch
    _same(m, mt)
    m |= bp.tensor([False, True, False])
    mt |= torch.tensor([False, True, False])
    m ^= bp.tensor([True, True, True])
    mt ^= torch.tensor([True, True, True])
    _same(m, mt)
    with pytest.raises(RuntimeError):
        m &= bp.tensor([1, 0, 1])  # int64 result into a bool tensor


def test_inplace_function_aliases() -> None:
    for name in ("erf_", "erfc_", "i0_", "sinc_", "deg2rad_", "rad2deg_", "fix_", "square_", "logit_"):
        x, xt = _pair([0.25, 0.5, 0.75])
        _same(getattr(bp, name)(x), getattr(torch, name)(xt))
        _same(x, xt)
    x, xt = _pair([0.25, 0.5, 0.75])
    _same(bp.xlogy_(x, 2.0), torch.xlogy_(xt, 2.0))
    _same(bp.clamp_(x, 0.1, 0.5), torch.clamp_(xt, 0.1, 0.5))
    g, gt = _pair([12, 8], "int64")
    _same(bp.gcd_(g, bp.tensor([18, 6])), torch.gcd_(gt, torch.tensor([18, 6])))
    _same(bp.ldexp_(x, bp.tensor([1, 2, 3])), torch.ldexp_(xt, torch.tensor([1, 2, 3])))


def test_deg2rad_roundtrip_and_dtypes() -> None:
    x, xt = _pair([0, 90, 180, -270], "float16")
    _same(bp.deg2rad(x), torch.deg2rad(xt), rtol=1e-3)
    _same(bp.rad2deg(bp.tensor([math.pi])), torch.rad2deg(torch.tensor([math.pi])))
