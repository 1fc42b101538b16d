"""Registry-driven checks: every registered op is gradchecked in float64 on every device.

``CASES`` has one row list per op name; a newly registered op without a row fails
``test_every_op_has_a_case``. Each row builds inputs (float64 random tensors that require grad,
positive ones for ops like log, or constants) and calls the op straight through the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import registry
from backprop.autograd.function import apply


@dataclass
class Case:
    inputs: list  # input makers: shape tuple (random), ("pos", shape), ("away0", shape) or ("const", array)
    attrs: dict = field(default_factory=dict)
    fn: Callable[..., Any] | None = None  # override the call (for ops needing non-tensor args)
    atol: float = 1e-5
    rtol: float = 1e-3
    eps: float = 1e-6


def R(*shape):  # noqa: N802 - short table helpers
    return shape


def P(*shape):  # noqa: N802
    return ("pos", shape)


def A(*shape):  # noqa: N802 - values bounded away from 0 (kinks, division)
    return ("away0", shape)


def K(value):  # noqa: N802 - a constant input
    return ("const", np.asarray(value))


UNARY_SHAPES = [(), (3,), (2, 3)]


def unary(*extra_attrs: dict, maker=R) -> list[Case]:
    attrs_list = extra_attrs or ({},)
    return [Case([maker(*s)], dict(a)) for s in UNARY_SHAPES for a in attrs_list]


def binary(maker_x=R, maker_y=R) -> list[Case]:
    # same shape, broadcasting both ways, a scalar operand, a Python scalar
    return [
        Case([maker_x(2, 3), maker_y(2, 3)]),
        Case([maker_x(2, 1, 3), maker_y(4, 1)]),
        Case([maker_x(3), maker_y(2, 3)]),
        Case([maker_x(), maker_y(2, 3)]),
        Case([maker_x(2, 3)], fn=lambda op, x: apply(op, x, 1.7)),
        Case([maker_y(2, 3)], fn=lambda op, y: apply(op, 1.3, y)),
    ]


REDUCE_ATTRS = [
    {},
    {"axis": 1},
    {"axis": -1, "keepdims": True},
    {"axis": (0, 2)},
    {"axis": (0, 2), "keepdims": True},
]


def reduce_cases(maker=R, attrs=REDUCE_ATTRS) -> list[Case]:
    return [Case([maker(2, 3, 4)], dict(a)) for a in attrs]


def _bool_cond():
    return K(np.array([[True, False, True], [False, False, True]]))


CASES: dict[str, list[Case]] = {
    "add": binary(),
    "sub": binary(),
    "mul": binary(),
    "div": binary(R, A),
    "pow": [
        Case([P(2, 3), R(2, 3)]),
        Case([P(2, 1), R(3)]),
        Case([R(2, 3)], fn=lambda op, x: apply(op, x, 2)),
        Case([P(2, 3)], fn=lambda op, x: apply(op, x, -1.5)),
        Case([R(2, 3)], fn=lambda op, y: apply(op, 2.5, y)),
    ],
    "neg": unary(),
    "maximum": binary(),
    "minimum": binary(),
    "where": [
        Case([_bool_cond(), R(2, 3), R(2, 3)]),
        Case([_bool_cond(), R(3), R(2, 1)]),
        Case([_bool_cond(), R(2, 3)], fn=lambda op, c, x: apply(op, c, x, 0.5)),
    ],
    "clamp": [
        Case([A(2, 3)], {"min": -0.5, "max": 0.5}),
        Case([A(3, 2)], {"min": 0.1}),
        Case([A(4)], {"max": -0.2}),
    ],
    "exp": unary(),
    "log": unary(maker=P),
    "sqrt": unary(maker=P),
    "abs": unary(maker=A),
    "tanh": unary(),
    "sigmoid": unary(),
    "relu": unary(maker=A),
    "leaky_relu": unary({}, {"negative_slope": 0.2}, maker=A),
    "silu": unary(),
    "softplus": unary({}, {"beta": 2.0, "threshold": 1.0}, maker=A),
    "gelu": unary({"approximate": "none"}, {"approximate": "tanh"}),
    "gelu_grad": unary({"approximate": "none"}, {"approximate": "tanh"}),
    "lt": [],
    "le": [],
    "gt": [],
    "ge": [],
    "eq": [],
    "ne": [],  # not differentiable: forward-only rows below
    "sum": reduce_cases(),
    "mean": reduce_cases(),
    "amax": reduce_cases(),
    "amin": reduce_cases(),
    "var": reduce_cases() + [Case([R(2, 3, 4)], {"axis": 1, "correction": 0})],
    "logsumexp": reduce_cases(),
    "matmul": [
        Case([R(2, 3), R(3, 4)]),
        Case([R(3), R(3, 4)]),
        Case([R(2, 3), R(3)]),
        Case([R(3), R(3)]),
        Case([R(2, 2, 3), R(3, 4)]),
        Case([R(2, 1, 2, 3), R(3, 3, 2)]),
        Case([R(3), R(2, 3, 2)]),
    ],
    "linear": [
        Case([R(4, 3), R(2, 3), R(2)]),
        Case([R(4, 3), R(2, 3)]),
        Case([R(2, 4, 3), R(5, 3), R(5)]),
        Case([R(3), R(2, 3), R(2)]),
        Case([R(4, 3), K(np.ones((2, 3))), R(2)]),
    ],
    "reshape": [
        Case([R(2, 3)], {"shape": (3, 2)}),
        Case([R(2, 3)], {"shape": (6,)}),
        Case([R(1)], {"shape": ()}),
    ],
    "permute": [Case([R(2, 3, 4)], {"axes": (2, 0, 1)}), Case([R(2, 3)], {"axes": (1, 0)})],
    "expand": [Case([R(3, 1)], {"shape": (2, 3, 4)}), Case([R(3)], {"shape": (2, 3)})],
    "cat": [
        Case([R(2, 3), R(1, 3)], {"axis": 0}),
        Case([R(2, 3), R(2, 2), R(2, 1)], {"axis": -1}),
        Case([R(2, 3), K(np.ones((2, 2)))], {"axis": 1}),
    ],
    "stack": [Case([R(2, 3), R(2, 3)], {"axis": 0}), Case([R(2, 3), R(2, 3), R(2, 3)], {"axis": -1})],
    "getitem": [
        Case([R(4, 3)], {"index": (1,)}),
        Case([R(4, 3)], {"index": (slice(None, None, 2), slice(1, None))}),
        Case([R(4, 3)], {"index": (None, Ellipsis, -1)}),
        Case([R(4, 3)], {"index": (np.array([0, 2, 2, 0]),)}),  # repeats accumulate
        Case([R(4, 3)], {"index": (np.array([3, 1]), np.array([0, 0]))}),
        Case([R(4, 3)], {"index": (np.array([[True, False, True], [False] * 3, [True] * 3, [False] * 3]),)}),
        Case([R(4, 3)], {"index": (slice(None), np.array([2, 2, 1]))}),
    ],
    "getitem_grad": [
        Case([R(2)], {"index": (np.array([0, 2]),), "shape": (4,)}),
        Case([R(2, 3)], {"index": (np.array([1, 1]),), "shape": (3, 3)}),
        Case([R(2, 2)], {"index": (slice(0, 2), slice(1, 3)), "shape": (3, 3)}),
    ],
    "softmax": [Case([R(2, 5)], {"axis": -1}), Case([R(3, 2, 4)], {"axis": 1})],
    "log_softmax": [Case([R(2, 5)], {"axis": -1}), Case([R(3, 2, 4)], {"axis": 0})],
    "cross_entropy": [
        Case([R(4, 5), K(np.array([0, 4, 2, 2]))]),
        Case([R(4, 5), K(np.array([0, -100, 2, 1]))], {"reduction": "sum"}),
        Case([R(3, 4), K(np.array([3, 0, 1]))], {"reduction": "none", "label_smoothing": 0.2}),
        Case([R(3, 4), K(np.array([3, 7, 1]))], {"ignore_index": 7, "label_smoothing": 0.1}),
    ],
    "binary_cross_entropy_with_logits": [Case([R(2, 3), ("unit", (2, 3))]), Case([R(4), ("unit", (4,))])],
    "astype": [
        Case([R(2, 3)], {"dtype": np.dtype("float32")}, atol=1e-3, rtol=1e-2, eps=1e-2),
        Case([R(2, 3)], {"dtype": np.dtype("float64")}),
    ],
    "clone": unary(),
    "to_device": [Case([R(2, 3)], fn=lambda op, x: apply(op, x, device=x.device, source=x.device))],
}

NON_DIFFERENTIABLE = {
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}


def _make(maker: Any, rng: np.random.Generator, device: str) -> bp.Tensor:
    if isinstance(maker, tuple) and maker and isinstance(maker[0], str):
        kind, arg = maker
        if kind == "const":
            return bp.tensor(arg, device=device)
        if kind == "pos":
            data = rng.uniform(0.5, 2.0, arg)
        elif kind == "unit":
            data = rng.uniform(0.05, 0.95, arg)
        else:  # away0: magnitudes in [0.3, 1.5], either sign, so kinks at 0 are never crossed by eps
            data = rng.uniform(0.3, 1.5, arg) * rng.choice([-1.0, 1.0], arg)
        return bp.tensor(data, dtype=bp.float64, device=device, requires_grad=True)
    return bp.tensor(rng.standard_normal(maker), dtype=bp.float64, device=device, requires_grad=True)


def _all_rows() -> list:
    rows = []
    for name, cases in CASES.items():
        for i in range(len(cases)):
            rows.append(pytest.param(name, i, id=f"{name}-{i}"))
    return rows


def _call(name: str, case: Case, inputs: list) -> bp.Tensor:
    op = registry.get(name)
    if case.fn is not None:
        return case.fn(op, *inputs)
    return apply(op, *inputs, **case.attrs)


def test_every_op_has_a_case() -> None:
    missing = set(registry.list_ops()) - set(CASES)
    assert not missing, f"ops registered without a gradcheck row in CASES: {sorted(missing)}"
    stale = set(CASES) - set(registry.list_ops())
    assert not stale, f"CASES rows for ops that are not registered: {sorted(stale)}"
    for name in registry.list_ops():
        op = registry.get(name)
        assert CASES[name] or not op.differentiable, f"differentiable op {name} has no gradcheck case"


@pytest.mark.parametrize(("name", "i"), _all_rows())
def test_gradcheck(name: str, i: int, device: str, rng: np.random.Generator) -> None:
    case = CASES[name][i]
    inputs = [_make(m, rng, device) for m in case.inputs]
    assert bp.gradcheck(lambda *xs: _call(name, case, list(xs)), inputs, eps=case.eps, atol=case.atol, rtol=case.rtol)


def _double_rows() -> list:
    return [
        pytest.param(name, id=name)
        for name, cases in CASES.items()
        if cases and registry.get(name).double_backward and name != "to_device"
    ]


@pytest.mark.parametrize("name", _double_rows())
def test_gradgradcheck(name: str, device: str, rng: np.random.Generator) -> None:
    case = CASES[name][0]
    if name in ("astype",):
        case = CASES[name][1]
    inputs = [_make(m, rng, device) for m in case.inputs]
    assert bp.gradgradcheck(lambda *xs: _call(name, case, list(xs)), inputs, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(NON_DIFFERENTIABLE))
def test_comparisons_forward(name: str, device: str, rng: np.random.Generator) -> None:
    a = rng.integers(0, 3, (3, 4)).astype(np.float64)
    b = rng.integers(0, 3, (4,)).astype(np.float64)
    out = apply(registry.get(name), bp.tensor(a, device=device), bp.tensor(b, device=device))
    assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), NON_DIFFERENTIABLE[name](a, b))


@pytest.mark.skipif(bp.cuda.unavailable_reason() != "", reason=f"CUDA not usable here: {bp.cuda.unavailable_reason()}")
@pytest.mark.parametrize(("name", "i"), _all_rows())
def test_cuda_matches_numpy(name: str, i: int) -> None:
    """Forward and gradients of every registered op on cuda equal the NumPy results."""
    case = CASES[name][i]
    results = {}
    for dev in ("cpu", "cuda"):
        inputs = [_make(m, np.random.default_rng(7), dev) for m in case.inputs]
        if "index" in case.attrs:  # index arrays live on the device of the tensor they index
            attrs = dict(case.attrs)
            attrs["index"] = tuple(
                bp.device(dev).backend.from_host(a) if isinstance(a, np.ndarray) else a for a in case.attrs["index"]
            )
            out = apply(registry.get(name), *inputs, **attrs)
        else:
            out = _call(name, case, inputs)
        grads = []
        if out.requires_grad:
            diff = [t for t in inputs if t.requires_grad]
            grads = bp.autograd.grad(out.sum(), diff, allow_unused=True)
        results[dev] = (out.numpy(), [None if g is None else g.numpy() for g in grads])
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], rtol=1e-10, atol=1e-12)
    for gc, gg in zip(results["cpu"][1], results["cuda"][1]):
        if gc is not None:
            np.testing.assert_allclose(gg, gc, rtol=1e-10, atol=1e-12)
