"""Registry-driven checks: every registered op, every row of the table in ``tests/op_cases``.

For each row: the forward equals its reference (NumPy or a closed form), the gradient passes
``gradcheck`` in float64 and (first row) ``gradgradcheck``; on a machine with a GPU, the CUDA
forward and gradients equal NumPy's. An op registered without rows, or a row without a reference,
fails ``test_table_is_complete``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from op_cases import all_cases
from op_cases._case import Case

import backprop as bp
from backprop import registry
from backprop.autograd.function import apply

CASES = all_cases()


def _make(spec: Any, rng: np.random.Generator, device: str) -> bp.Tensor:
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        kind, arg = spec
        if kind == "const":
            return bp.tensor(arg, device=device)
        if kind == "int":
            lo, hi, shape = arg
            return bp.tensor(rng.integers(lo, hi, shape), dtype=bp.int64, device=device)
        if kind == "bool":
            return bp.tensor(rng.random(arg) < 0.5, device=device)
        if kind == "pos":
            data = rng.uniform(0.5, 2.0, arg)
        elif kind == "unit":
            data = rng.uniform(0.05, 0.95, arg)
        else:  # away0: magnitudes in [0.3, 1.5], either sign, so kinks at 0 are never crossed by eps
            data = rng.uniform(0.3, 1.5, arg) * rng.choice([-1.0, 1.0], arg)
        return bp.tensor(data, dtype=bp.float64, device=device, requires_grad=True)
    return bp.tensor(rng.standard_normal(spec), dtype=bp.float64, device=device, requires_grad=True)


def _call(name: str, case: Case, inputs: list) -> bp.Tensor:
    op = registry.get(name)
    if case.fn is not None:
        return case.fn(op, *inputs)
    return apply(op, *inputs, **case.attrs)


def _rows(pred: Any = lambda name, case: True) -> list:
    return [
        pytest.param(name, i, id=f"{name}-{i}")
        for name, cases in CASES.items()
        for i, case in enumerate(cases)
        if pred(name, case)
    ]


def _differentiable(name: str, case: Case) -> bool:
    return registry.get(name).differentiable and case.grad


def test_table_is_complete() -> None:
    """Every registered op has rows, every row a reference; no rows for unregistered ops."""
    ops = set(registry.list_ops())
    missing = sorted(ops - set(CASES))
    assert not missing, f"ops registered without rows in tests/op_cases: {missing}"
    stale = sorted(set(CASES) - ops)
    assert not stale, f"tests/op_cases rows for ops that are not registered: {stale}"
    empty = sorted(name for name, cases in CASES.items() if not cases)
    assert not empty, f"ops with an empty row list: {empty}"
    unchecked = sorted(f"{name}-{i}" for name, cases in CASES.items() for i, c in enumerate(cases) if c.ref is None)
    assert not unchecked, f"rows without a forward reference (ref=): {unchecked}"


@pytest.mark.parametrize(("name", "i"), _rows(lambda name, case: case.ref is not None))
def test_forward(name: str, i: int, device: str, rng: np.random.Generator) -> None:
    """The op's output equals the row's reference (values, shape, and dtype kind)."""
    case = CASES[name][i]
    inputs = [_make(m, rng, device) for m in case.inputs]
    out = _call(name, case, inputs)
    arrays = [t.detach().numpy() for t in inputs]
    expected = np.asarray(case.ref(*arrays) if case.fn is not None else case.ref(*arrays, **case.attrs))
    got = out.detach().numpy()
    assert got.shape == expected.shape, f"{name}: shape {got.shape}, reference {expected.shape}"
    assert got.dtype.kind == expected.dtype.kind or expected.dtype.kind in "fc" and got.dtype.kind in "fc", (
        f"{name}: dtype {got.dtype}, reference {expected.dtype}"
    )
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize(("name", "i"), _rows(_differentiable))
def test_gradcheck(name: str, i: int, device: str, rng: np.random.Generator) -> None:
    case = CASES[name][i]
    inputs = [_make(m, rng, device) for m in case.inputs]
    assert bp.gradcheck(lambda *xs: _call(name, case, list(xs)), inputs, eps=case.eps, atol=case.atol, rtol=case.rtol)


def _double_rows() -> list:
    rows = []
    for name, cases in CASES.items():
        op = registry.get(name)
        if not (op.differentiable and op.double_backward) or name == "to_device":
            continue
        first = next((i for i, c in enumerate(cases) if c.grad and c.atol <= 1e-5), None)
        if first is not None:
            rows.append(pytest.param(name, first, id=name))
    return rows


@pytest.mark.parametrize(("name", "i"), _double_rows())
def test_gradgradcheck(name: str, i: int, device: str, rng: np.random.Generator) -> None:
    case = CASES[name][i]
    inputs = [_make(m, rng, device) for m in case.inputs]
    assert bp.gradgradcheck(lambda *xs: _call(name, case, list(xs)), inputs, atol=1e-4, rtol=1e-3)


@pytest.mark.skipif(bp.cuda.unavailable_reason() != "", reason=f"CUDA not usable here: {bp.cuda.unavailable_reason()}")
@pytest.mark.parametrize(("name", "i"), _rows())
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
        if out.requires_grad and case.grad:
            diff = [t for t in inputs if t.requires_grad]
            grads = bp.autograd.grad(out.sum(), diff, allow_unused=True)
        results[dev] = (out.detach().numpy(), [None if g is None else g.detach().numpy() for g in grads])
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], rtol=1e-10, atol=1e-12)
    for gc, gg in zip(results["cpu"][1], results["cuda"][1]):
        if gc is not None:
            np.testing.assert_allclose(gg, gc, rtol=1e-10, atol=1e-12)
