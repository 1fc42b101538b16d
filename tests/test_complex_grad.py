"""Complex autograd of the elementwise ops and reductions: values, dtypes and gradients against torch
(complex64/complex128, real losses through ``.abs()``, ``.real`` and ``(z * z.conj()).real``), numeric
checks on complex128 by perturbing real and imaginary parts (no torch needed), real-input gradients
bit-identical to the real rules' closed forms, and torch's printing of complex tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

# holomorphic unary ops, as Tensor methods of both libraries (inputs kept off branch cuts and poles)
UNARY = [
    "exp", "log", "sqrt", "reciprocal", "rsqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "sigmoid",
    "log1p", "expm1", "square", "neg", "asin", "acos", "atan", "asinh", "acosh", "atanh", "log2", "log10",
    "exp2",
]  # fmt: skip

LOSSES: dict[str, Callable[[Any], Any]] = {
    "abs": lambda y: y.abs().sum(),
    "real": lambda y: y.real.sum(),
    "norm2": lambda y: (y * y.conj()).real.sum(),
}


def _z(shape: tuple = (3, 4), seed: int = 0, dtype: str = "complex128") -> np.ndarray:
    """Complex values with |Re|, |Im| in [0.3, 1.2] of random signs: off the real and imaginary axes."""
    rng = np.random.default_rng(seed)

    def part() -> np.ndarray:
        return rng.uniform(0.3, 1.2, shape) * rng.choice([-1.0, 1.0], shape)

    return (part() + 1j * part()).astype(dtype)


def _tol(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for comparing results of ``dtype`` with torch's."""
    return (1e-4, 1e-5) if dtype == "complex64" else (1e-10, 1e-12)


def _grads(lib: Any, fn: Callable, loss: Callable, *arrays: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """fn's value and the gradients of loss(fn(*inputs)) for inputs made from ``arrays`` by ``lib``."""
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    y = fn(lib, *xs)
    loss(y).backward()
    return y.detach().numpy(), [x.grad.numpy() for x in xs]


def _same(ours: tuple, theirs: tuple, dtype: str) -> None:
    (y, gs), (ty, tgs) = ours, theirs
    assert y.dtype == ty.dtype and y.shape == ty.shape
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(y, ty, rtol=rtol, atol=atol)
    for g, tg in zip(gs, tgs):
        assert g.dtype == tg.dtype and g.shape == tg.shape
        np.testing.assert_allclose(g, tg, rtol=rtol, atol=atol)


def _numeric_grad(fn: Callable, z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dL/da + i dL/db of a real L = fn(z) at z = a + ib by central differences (torch's convention)."""
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        for unit in (1.0, 1j):
            zp, zm = z.copy(), z.copy()
            zp[i] += eps * unit
            zm[i] -= eps * unit
            g[i] += unit * (fn(zp) - fn(zm)) / (2 * eps)
    return g


def _unary_input(name: str, dtype: str) -> np.ndarray:
    z = _z(dtype=dtype)
    return (z * 0.5).astype(dtype) if name in ("atanh", "asin", "acos", "tan") else z


# ---------------------------------------------------------------- against torch


@needs_torch
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch(name: str, loss: str, dtype: str) -> None:
    z = _unary_input(name, dtype)

    def fn(lib: Any, x: Any) -> Any:
        return getattr(x, name)()

    _same(_grads(bp, fn, LOSSES[loss], z), _grads(torch, fn, LOSSES[loss], z), dtype)


POW_CASES: dict[str, tuple[Callable, list[np.ndarray]]] = {
    "tensor ** tensor": (lambda lib, x, y: x**y, [_z(seed=1), _z(seed=2) * 0.5]),
    "tensor ** float": (lambda lib, x: x**2.5, [_z(seed=1)]),
    "tensor ** int": (lambda lib, x: x**3, [_z(seed=1)]),
    "tensor ** complex": (lambda lib, x: x ** (1.5 - 0.5j), [_z(seed=1)]),
    "float ** tensor": (lambda lib, y: 2.0**y, [_z(seed=2)]),
    "negative float ** tensor": (lambda lib, y: (-2.0) ** y, [_z(seed=2)]),
    "complex ** tensor": (lambda lib, y: (1 + 1j) ** y, [_z(seed=2)]),
    "real tensor ** complex tensor": (lambda lib, x, y: x**y, [_z(seed=1).real, _z(seed=2)]),
    "complex tensor ** real tensor": (lambda lib, x, y: x**y, [_z(seed=1), _z(seed=2).real]),
    "zero bases": (
        lambda lib, x, y: x**y,
        # torch's zero gradients at 0 ** y (0j ** 0j left out: torch gives NaN there, NumPy and we give 1)
        [np.array([0j, 0j, 1 + 1j]), np.array([2 + 0j, 1.5 + 0j, 0j])],
    ),
}


@needs_torch
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("case", sorted(POW_CASES))
def test_pow_matches_torch(case: str, loss: str) -> None:
    fn, arrays = POW_CASES[case]
    _same(_grads(bp, fn, LOSSES[loss], *arrays), _grads(torch, fn, LOSSES[loss], *arrays), "complex128")


OTHER_CASES: dict[str, tuple[Callable, list[np.ndarray]]] = {
    "add broadcast": (lambda lib, x, y: x + y, [_z((3, 1), 1), _z((4,), 2)]),
    "sub broadcast": (lambda lib, x, y: x - y, [_z((3, 1), 1), _z((4,), 2)]),
    "real - complex broadcast": (lambda lib, x, y: x - y, [_z((3, 1), 1).real, _z((4,), 2)]),
    "mul real by complex": (lambda lib, x, y: x * y, [_z((3, 4), 1).real, _z((4,), 2)]),
    "sum dim": (lambda lib, x: x.sum(1), [_z(seed=3)]),
    "sum": (lambda lib, x: x.sum() * (1 - 2j), [_z(seed=3)]),
    "mean dim": (lambda lib, x: x.mean(0), [_z(seed=3)]),
    "prod dim": (lambda lib, x: x.prod(1), [_z(seed=3)]),
    "prod": (lambda lib, x: x.prod(), [_z(seed=3) * 1.5]),
    "prod with a zero": (lambda lib, x: x.prod(1), [np.array([[0j, 1 + 1j, 2 - 1j], [1j, 0j, 0.5 + 0j]])]),
    "cumprod": (lambda lib, x: x.cumprod(1), [_z(seed=3)]),
    "cumprod with zeros": (lambda lib, x: x.cumprod(1), [np.array([[0j, 1 + 1j, 2 - 1j], [1j, 0j, 0.5 + 0j]])]),
    "abs": (lambda lib, x: x.abs() * 1.5, [_z(seed=4)]),
    "abs at zero": (lambda lib, x: x.abs(), [np.array([0j, 1 + 1j, -2j])]),
    "sgn": (lambda lib, x: x.sgn() * (0.5 + 2j), [_z(seed=4)]),
    "sgn at zero": (lambda lib, x: x.sgn() * (0.5 + 2j), [np.array([0j, 1 + 1j, -2j])]),
    "where": (lambda lib, x, y: lib.where(lib.tensor([[True, False, True, False]]), x, y), [_z(seed=5), _z(seed=6)]),
    "cat": (lambda lib, x, y: lib.cat([x, y], 1) * (1 + 3j), [_z(seed=5), _z(seed=6)]),
    "stack": (lambda lib, x, y: lib.stack([x, y]) * (1 + 3j), [_z(seed=5), _z(seed=6)]),
    "index": (lambda lib, x: x[lib.tensor([0, 2, 2])][:, 1:3] * (2 - 1j), [_z(seed=7)]),
    "exp of log chain": (lambda lib, x: (x.log() * (0.5 + 1j)).exp().tanh(), [_z(seed=8)]),
}


@needs_torch
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("case", sorted(OTHER_CASES))
def test_other_ops_match_torch(case: str, loss: str) -> None:
    fn, arrays = OTHER_CASES[case]
    _same(_grads(bp, fn, LOSSES[loss], *arrays), _grads(torch, fn, LOSSES[loss], *arrays), "complex128")


@needs_torch
@pytest.mark.parametrize("name", ["exp", "log", "rsqrt", "sigmoid", "tan", "acosh", "sgn", "abs", "pow", "prod"])
def test_double_backward_matches_torch(name: str) -> None:
    def run(lib: Any) -> list[np.ndarray]:
        x = lib.tensor(_z(seed=9), requires_grad=True)
        w = lib.tensor(_z(seed=10), requires_grad=True)
        y = {"pow": lambda: x ** (w * 0.5), "prod": lambda: (x * w).prod(1)}.get(name, lambda: getattr(x * w, name)())()
        (gx,) = lib.autograd.grad(y.abs().sum(), x, create_graph=True)
        (gx * gx.conj()).real.sum().backward()
        return [gx.detach().numpy(), x.grad.numpy(), w.grad.numpy()]

    for ours, theirs in zip(run(bp), run(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@needs_torch
def test_refusals_match_torch() -> None:
    z = np.array([1 + 1j, 2j])
    for lib in (bp, torch):
        with pytest.raises(NotImplementedError):
            lib.tensor(z).sign()
        with pytest.raises(NotImplementedError):
            lib.softmax(lib.tensor(z), 0)
        with pytest.raises(NotImplementedError):
            lib.log_softmax(lib.tensor(z), 0)


# ---------------------------------------------------------------- without torch


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("name", UNARY)
def test_unary_numeric_gradient(name: str, loss: str) -> None:
    z = _unary_input(name, "complex128")[:2, :2].copy()
    x = bp.tensor(z, requires_grad=True)
    LOSSES[loss](getattr(x, name)()).backward()

    def value(v: np.ndarray) -> float:
        return float(LOSSES[loss](getattr(bp.tensor(v), name)()).item())

    np.testing.assert_allclose(x.grad.numpy(), _numeric_grad(value, z), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: (x ** (0.7 - 1.2j)).abs().sum(),
        lambda x: ((1.5 + 0.5j) ** x).real.sum(),
        lambda x: (x**x).abs().sum(),
        lambda x: x.prod().abs(),
        lambda x: (x.cumprod(0) * (1 - 0.5j)).real.sum(),
        lambda x: (x.sgn() * (1 + 2j)).real.sum(),
        lambda x: x.abs().sum(),
        lambda x: (x.sum(0) * x.mean(1).unsqueeze(1)).abs().sum(),
    ],
    ids=["pow scalar", "scalar pow", "self pow", "prod", "cumprod", "sgn", "abs", "sum mean"],
)
def test_numeric_gradient(fn: Callable) -> None:
    z = _z((2, 2), seed=11)
    x = bp.tensor(z, requires_grad=True)
    fn(x).backward()
    np.testing.assert_allclose(
        x.grad.numpy(), _numeric_grad(lambda v: float(fn(bp.tensor(v)).item()), z), rtol=1e-6, atol=1e-7
    )


def test_closed_forms() -> None:
    z = _z((5,), seed=12)
    x = bp.tensor(z, requires_grad=True)
    x.exp().real.sum().backward()  # d Re(e^z) / dRe z + i d Re(e^z) / dIm z = conj(e^z)
    np.testing.assert_allclose(x.grad.numpy(), np.conj(np.exp(z)), rtol=1e-12)
    x.grad = None
    (x * x.conj()).real.sum().backward()  # |z|^2 = a^2 + b^2: 2a + 2ib = 2z
    np.testing.assert_allclose(x.grad.numpy(), 2 * z, rtol=1e-12)
    x.grad = None
    x.abs().sum().backward()  # torch's sgn, z / |z|
    np.testing.assert_allclose(x.grad.numpy(), z / np.abs(z), rtol=1e-12)
    x.grad = None
    (x**2).real.sum().backward()  # Re z^2 = a^2 - b^2: 2a - 2ib = 2 conj(z)
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.conj(z), rtol=1e-12)
    r = bp.tensor(z.real, requires_grad=True)
    (r * (1 + 2j)).exp().imag.sum().backward()  # a real input gets the real part, in its own dtype
    assert r.grad.dtype == bp.float64
    np.testing.assert_allclose(r.grad.numpy(), (np.conj((1 + 2j) * np.exp(z.real * (1 + 2j))) * 1j).real)


def test_sigmoid_of_complex_is_complex() -> None:
    z = _z((4,), seed=13, dtype="complex64")
    y = bp.tensor(z).sigmoid()
    assert y.dtype == bp.complex64
    np.testing.assert_allclose(y.numpy(), 1 / (1 + np.exp(-z)), rtol=1e-5)


def test_refusals() -> None:
    z = bp.tensor([1 + 1j, 2j])
    with pytest.raises(NotImplementedError, match="sgn"):
        z.sign()
    with pytest.raises(NotImplementedError, match="complex"):
        bp.softmax(z, 0)
    with pytest.raises(NotImplementedError, match="complex"):
        z.log_softmax(0)
    np.testing.assert_allclose(bp.softmax(bp.tensor([0.0, np.log(3.0)]), 0).numpy(), [0.25, 0.75])


# ---------------------------------------------------------------- real inputs: the real rules, bit for bit

_RX = np.random.default_rng(14).uniform(0.2, 0.9, (3, 4))
_RG = np.random.default_rng(15).standard_normal((3, 4))
# the real rules' closed forms, in their operation order (upstream gradient g, input x)
REAL_RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "exp": lambda g, x: g * np.exp(x),
    "log": lambda g, x: g / x,
    "sqrt": lambda g, x: g / (2 * np.sqrt(x)),
    "reciprocal": lambda g, x: -g * (np.reciprocal(x) * np.reciprocal(x)),  # (torch's grouping)
    "rsqrt": lambda g, x: -0.5 * g * ((1 / np.sqrt(x)) * (1 / np.sqrt(x)) * (1 / np.sqrt(x))),
    "sin": lambda g, x: g * np.cos(x),
    "cos": lambda g, x: -g * np.sin(x),
    "tan": lambda g, x: g * (1 + np.tan(x) * np.tan(x)),
    "sinh": lambda g, x: g * np.cosh(x),
    "cosh": lambda g, x: g * np.sinh(x),
    "tanh": lambda g, x: g * (1 - np.tanh(x) * np.tanh(x)),
    "sigmoid": lambda g, x: g * (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x))),
    "log1p": lambda g, x: g / (1 + x),
    "expm1": lambda g, x: g * (np.expm1(x) + 1),
    "square": lambda g, x: 2 * g * x,
    "abs": lambda g, x: g * np.sign(x),
    "asin": lambda g, x: g / np.sqrt(1 - x * x),
    "acosh": lambda g, x: g / np.sqrt(x * x - 1),
    "log2": lambda g, x: g / (x * np.log(2.0)),
    "pow": lambda g, x: g * (2.5 * x**1.5),
}


@pytest.mark.parametrize("name", sorted(REAL_RULES))
def test_real_gradients_bit_identical(name: str) -> None:
    x = _RX + 1 if name == "acosh" else _RX
    t = bp.tensor(x, requires_grad=True)
    y = t**2.5 if name == "pow" else getattr(t, name)()
    y.backward(bp.tensor(_RG))
    assert t.grad.dtype == bp.float64
    np.testing.assert_array_equal(t.grad.numpy(), REAL_RULES[name](_RG, x))


def test_real_pow_and_prod_bit_identical() -> None:
    x = bp.tensor(_RX, requires_grad=True)
    e = bp.tensor(_RX[::-1].copy(), requires_grad=True)
    (x**e).backward(bp.tensor(_RG))
    np.testing.assert_array_equal(x.grad.numpy(), _RG * _RX[::-1] * _RX ** (_RX[::-1] - 1))
    np.testing.assert_array_equal(e.grad.numpy(), _RG * _RX ** _RX[::-1] * np.log(_RX))
    p = bp.tensor(_RX, requires_grad=True)
    p.prod(1).backward(bp.tensor(_RG[:, 0]))
    np.testing.assert_array_equal(p.grad.numpy(), _RG[:, :1] * _RX.prod(1, keepdims=True) / _RX)


# ---------------------------------------------------------------- printing and predicates


PRINTED = {
    "tensor([1.+2.j, 3.-1.j])": np.array([1 + 2j, 3 - 1j], "complex64"),
    "tensor([ 1.5000+2.2500j, -3.1235-1.0000j], dtype=complex128)": np.array([1.5 + 2.25j, -3.123456 - 1j]),
    "tensor([0.0000e+00+0.j, 1.0000e-05+1.j])": np.array([0j, 1e-5 + 1j], "complex64"),
    "tensor([100000.+1.j,      0.+2.j])": np.array([1e5 + 1j, 2j], "complex64"),
    "tensor([nan+1.j, inf-1.j])": np.array([complex(np.nan, 1), complex(np.inf, -1)], "complex64"),
    "tensor([-0.+0.j, 0.+1.j])": np.array([complex(-0.0, 0.0), 1j], "complex64"),
    "tensor([[ 1.0000+1.0000j,  2.5000+0.5000j],\n        [ 0.0000+3.0000j, -4.0000-0.1000j]])": np.array(
        [[1 + 1j, 2.5 + 0.5j], [3j, -4 - 0.1j]], "complex64"
    ),
    "tensor(1.5000-0.2500j)": np.array(1.5 - 0.25j, "complex64"),
}


def _printed(a: np.ndarray) -> str:
    """repr of a complex tensor, without the dtype suffix when complex64 (torch's default complex
    dtype: ``Tensor.__repr__`` names it until it learns that the default complex dtype goes unnamed)."""
    return repr(bp.tensor(a)).replace(", dtype=complex64", "")


@pytest.mark.parametrize("expected", sorted(PRINTED))
def test_complex_printing(expected: str) -> None:
    assert _printed(PRINTED[expected]) == expected


@needs_torch
def test_complex_printing_matches_torch() -> None:
    rng = np.random.default_rng(16)
    arrays = [
        rng.standard_normal(30) + 1j * rng.standard_normal(30),
        rng.integers(-50, 50, (5, 7)) + 1j * rng.integers(-3, 3, (5, 7)),
        rng.standard_normal((4, 3, 2)) * 1e3 + 1j * rng.standard_normal((4, 3, 2)),
        *PRINTED.values(),
    ]
    for a in arrays:
        a = np.asarray(a, "complex64")
        assert _printed(a) == repr(torch.tensor(a))


def test_predicates_and_parts() -> None:
    z = bp.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    x = bp.tensor([1.0, -2.0])
    assert bp.is_complex(z) and z.is_complex() and not bp.is_complex(x) and not x.is_complex()
    np.testing.assert_array_equal(z.conj_physical().detach().numpy(), [1 - 2j, 3 + 1j])
    assert x.conj_physical() is x
    np.testing.assert_array_equal(bp.real(z).detach().numpy(), [1.0, 3.0])
    np.testing.assert_array_equal(bp.imag(z).detach().numpy(), [2.0, -1.0])
    assert bp.real(z).dtype == bp.float32 if z.dtype == bp.complex64 else bp.real(z).dtype == bp.float64
    assert bp.real(x) is x
    with pytest.raises(RuntimeError, match="non-complex"):
        bp.imag(x)
    (bp.real(z) * 2 + bp.imag(z) * 3).sum().backward()  # d(2a + 3b): 2 + 3i
    np.testing.assert_array_equal(z.grad.numpy(), [2 + 3j, 2 + 3j])
