"""float16/bfloat16 parity with torch's CPU kernels, second part: where torch rounds to the half dtype
between steps (its compositions, its half-typed kernel arithmetic) and where it computes in float32 and
rounds once. Found by ``python -m tests.opinfo_harness --dtypes float16,bfloat16 --all-samples``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F  # noqa: N812

torch = pytest.importorskip("torch")
TF = torch.nn.functional

HALF = [("float16", torch.float16), ("bfloat16", torch.bfloat16)]


def _bp(t):
    """A torch half tensor as backprop's, exactly (through float32)."""
    return bp.tensor(t.float().numpy(), dtype=getattr(bp, str(t.dtype).removeprefix("torch.")))


def _same(got, expected):
    """Bit-exact: same dtype, shape and values (NaN equal)."""
    assert str(got.dtype) == str(expected.dtype).removeprefix("torch."), (got.dtype, expected.dtype)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.float().numpy(), expected.float().numpy())


def _randn(*shape, dt, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(dt)


def _rand(*shape, dt, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g).to(dt)


@pytest.mark.parametrize("name,dt", HALF)
def test_log_softmax_along_any_axis(name, dt):
    # along the last axis torch rounds the sum of exp and its log to the half dtype; along another axis
    # (its vertical kernel) it keeps them in float32 and rounds once
    x = _randn(4, 7, 30, dt=dt)
    for dim in (0, 1, 2, -1, -2):
        _same(_bp(x).log_softmax(dim), x.log_softmax(dim))
        _same(F.log_softmax(_bp(x), dim=dim), TF.log_softmax(x, dim=dim))
    y = _randn(50, 1, dt=dt, seed=1)
    _same(_bp(y).log_softmax(0), y.log_softmax(0))


@pytest.mark.parametrize("name,dt", HALF)
def test_logit_steps_in_half(name, dt):
    # torch's logit of a half tensor is log(x / (1 - x)) evaluated step by step in that dtype, eps rounded to it
    x = (_rand(4000, dt=dt) * 1.2 - 0.1).to(dt)
    for eps in (None, 0.0, 1e-6, 0.01, 0.3):
        _same(bp.logit(_bp(x), eps), torch.logit(x, eps))
    # closed form: 1 - x and the quotient round before the log
    v = np.float32(torch.tensor(0.3).to(dt).item())
    q = torch.tensor(v / float(torch.tensor(1 - v).to(dt).item())).to(dt).item()
    assert bp.logit(bp.tensor([0.3], dtype=getattr(bp, name))).item() == torch.tensor(math.log(q)).to(dt).item()


@pytest.mark.parametrize("name,dt", HALF)
def test_ndtr_and_entr_compositions(name, dt):
    x = _randn(4000, dt=dt)
    got, expected = bp.special.ndtr(_bp(x)), torch.special.ndtr(x)
    if dt is torch.bfloat16:
        _same(got, expected)
    else:  # torch's vectorised float erf is a polynomial approximation: a rare 1-ulp difference in float16
        assert got.dtype == bp.float16
        np.testing.assert_allclose(got.float().numpy(), expected.float().numpy(), rtol=2**-10, atol=2**-24)
    p = _rand(4000, dt=dt)
    p[:3] = torch.tensor([0.0, -1.0, float("nan")])
    _same(bp.special.entr(_bp(p)), torch.special.entr(p))


@pytest.mark.parametrize("name,dt", HALF)
def test_scalar_operands_of_mul_and_div(name, dt):
    # torch reads a Python scalar, or a 0-d float32/float64 second operand, in float32 (opmath) and rounds
    # once; a 0-d first operand is rounded to the half dtype first
    x = _randn(4000, dt=dt)
    c = math.sqrt(0.5)
    _same(_bp(x) * c, x * c)
    _same(c * _bp(x), c * x)
    _same(_bp(x) / 0.7, x / 0.7)
    _same(_bp(x) * bp.tensor(0.7), x * torch.tensor(0.7))
    _same(_bp(x) / bp.tensor(0.7, dtype=bp.float64), x / torch.tensor(0.7, dtype=torch.float64))
    _same(bp.tensor(0.7) * _bp(x), torch.tensor(0.7) * x)
    one = bp.tensor([1.0], dtype=getattr(bp, name))
    assert (one * c).item() == torch.tensor(c).to(dt).item()  # closed form: 1 * c rounds c once
    small = bp.tensor([2.0**-10], dtype=getattr(bp, name))
    assert (small * 2.0**20).item() == 1024.0
    if dt is torch.float16:
        assert math.isinf((bp.tensor(2.0**20) * small).item())


@pytest.mark.parametrize("name,dt", HALF)
def test_pointwise_losses(name, dt):
    a, b = _randn(4000, dt=dt, scale=10.0), _randn(4000, dt=dt, scale=10.0, seed=1)
    for delta in (8.698115367693557, 1.0, 0.3):  # float16 in float32 rounded once; bfloat16 step by step
        for reduction in ("none", "mean", "sum"):
            _same(
                F.huber_loss(_bp(a), _bp(b), reduction=reduction, delta=delta),
                TF.huber_loss(a, b, reduction=reduction, delta=delta),
            )
    p, y, w = _rand(5, 40, dt=dt), _rand(5, 40, dt=dt, seed=1), _rand(5, 40, dt=dt, seed=2)
    p[0, :2] = torch.tensor([0.0, 1.0])
    for weight in (None, w):
        wb = None if weight is None else _bp(weight)
        _same(
            F.binary_cross_entropy(_bp(p), _bp(y), weight=wb, reduction="none"),
            TF.binary_cross_entropy(p, y, weight=weight, reduction="none"),
        )
        _same(
            F.binary_cross_entropy_with_logits(_bp(a[:200]), _bp(y.flatten()[:200]), reduction="none"),
            TF.binary_cross_entropy_with_logits(a[:200], y.flatten()[:200], reduction="none"),
        )


@pytest.mark.parametrize("name,dt", HALF)
def test_linspace_steps_in_half(name, dt):
    # torch's step (end - start) / (steps - 1) and each start + step * i (or end - step * (steps - 1 - i))
    # round to the half dtype, i included
    for start, end, steps in ((-2.0, 1.0, 50), (0.1, 7.3, 100), (-3.0, 300.0, 5000), (5.0, 5.0, 3), (1.0, 0.0, 1)):
        _same(bp.linspace(start, end, steps, dtype=getattr(bp, name)), torch.linspace(start, end, steps, dtype=dt))
    h = np.float16 if dt is torch.float16 else None
    if h is not None:  # closed form: step = float16(3 / 49); element 1 = -2 + step
        step = np.float16(np.float16(3.0) / np.float32(49))
        assert bp.linspace(-2.0, 1.0, 50, dtype=bp.float16)[1].item() == float(np.float16(np.float32(-2) + step))
