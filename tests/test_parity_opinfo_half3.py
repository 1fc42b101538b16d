"""float16/bfloat16 parity with torch's CPU kernels, third part: logspace's half bounds, multi_dot's chain
order, index_reduce's one-at-a-time products and sums, gradient's coordinate weights, adaptive average
pooling's float32 window sums. Found by ``python -m tests.opinfo_harness --dtypes float16,bfloat16``."""

from __future__ import annotations

import warnings

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
def test_logspace_bounds_in_half(name, dt):
    # torch rounds start, end and end - start to the half dtype; the step and the exponents are double
    cases = [(4.3, -3, 2, 10.0), (-2, 1, 50, 10.0), (0.1, 3.3, 100, 2.0), (-3, 2, 5000, 10.0), (0.3, -0.7, 1001, 10.0)]
    for start, end, steps, base in cases + [(2.5, 2.5, 1, 10.0), (1, 4, 33, 3.5)]:
        got = bp.logspace(start, end, steps, base=base, dtype=getattr(bp, name))
        _same(got, torch.logspace(start, end, steps, base=base, dtype=dt))
    if dt is torch.float16:  # closed form: 10 ** float16(4.3) (= 4.30078125), rounded to float16
        assert bp.logspace(4.3, -3, 2, dtype=bp.float16)[0].item() == float(np.float16(10.0**4.30078125))


@pytest.mark.parametrize("name,dt", HALF)
def test_multi_dot_in_torch_chain_order(name, dt):
    # each mm rounds to the half dtype, so the parenthesisation torch picks (cheapest, its tie rule) shows
    shapes = [(2, 4), (4, 3), (3, 5), (5, 3), (3, 2)]
    for k in (3, 4, 5):
        ts = [_randn(*s, dt=dt, seed=i) for i, s in enumerate(shapes[:k])]
        _same(bp.linalg.multi_dot([_bp(t) for t in ts]), torch.linalg.multi_dot(ts))
    v = _randn(4, dt=dt, seed=7)  # a 1-D first (a row) and last (a column)
    mats = [_randn(*s, dt=dt, seed=i) for i, s in enumerate(shapes)]
    for chain in ([v, *mats[1:4], _randn(3, dt=dt, seed=9)], [*mats[:4], _randn(3, dt=dt, seed=9)], [v, mats[1]]):
        _same(bp.linalg.multi_dot([_bp(t) for t in chain]), torch.linalg.multi_dot(chain))
    # closed form: a (1, 2) (2, 2) (2, 2) chain costs 8 as (AB)C and 12 as A(BC): torch rounds A @ B first
    a = bp.tensor([[1.0, 1.0]], dtype=getattr(bp, name))
    b = bp.tensor([[1.0, 0.0], [2.0**-12, 0.0]], dtype=getattr(bp, name))
    c = bp.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=getattr(bp, name))
    assert bp.linalg.multi_dot([a, b, c])[0, 0].item() == 1.0  # (1 + 2**-12 rounds to 1 in both dtypes)


@pytest.mark.parametrize("name,dt", HALF)
def test_index_reduce_prod_and_mean_one_index_at_a_time(name, dt):
    # torch's CPU index_reduce multiplies (adds) each source slice into the half buffer in index order,
    # rounding every step, and divides by a half count
    g = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (torch: index_reduce is in beta)
        for shape, n in (((6,), 40), ((5, 6), 40), ((5, 5, 5), 10)):
            x = (torch.rand(*shape, generator=g) * 2 + 0.5).to(dt)
            idx = torch.randint(0, shape[0], (n,), generator=g)
            src = (torch.rand(n, *shape[1:], generator=g) * 2 + 0.5).to(dt)
            for reduce in ("prod", "mean", "amax", "amin"):
                for include_self in (True, False):
                    expected = x.index_reduce(0, idx, src, reduce, include_self=include_self)
                    got = _bp(x).index_reduce(0, bp.tensor(idx.numpy()), _bp(src), reduce, include_self=include_self)
                    _same(got, expected)
                    inplace = _bp(x)
                    inplace.index_reduce_(0, bp.tensor(idx.numpy()), _bp(src), reduce, include_self=include_self)
                    _same(inplace, expected)
    # closed form: 1.1 * 1.1 * 1.1 with a rounding after each product
    h = np.float16 if dt is torch.float16 else bp.bfloat16
    one = bp.ones(1, dtype=getattr(bp, name))
    got = one.index_reduce(0, bp.tensor([0, 0, 0]), bp.full((3,), 1.1, dtype=getattr(bp, name)), "prod")
    v = np.asarray(1.1, dtype=np.float32).astype(h)
    assert got.item() == float((v * v * v).astype(h))  # (NumPy's half products round each step)


def test_index_reduce_gradients_unchanged():
    x = bp.tensor([1.5, 2.0, 3.0], dtype=bp.float16, requires_grad=True)
    src = bp.tensor([2.0, 0.5, 4.0], dtype=bp.float16, requires_grad=True)
    tx = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float16, requires_grad=True)
    ts = torch.tensor([2.0, 0.5, 4.0], dtype=torch.float16, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for reduce in ("prod", "mean"):
            x.grad = src.grad = tx.grad = ts.grad = None
            x.index_reduce(0, bp.tensor([0, 2, 0]), src, reduce).sum().backward()
            tx.index_reduce(0, torch.tensor([0, 2, 0]), ts, reduce).sum().backward()
            _same(x.grad, tx.grad)
            _same(src.grad, ts.grad)


@pytest.mark.parametrize("name,dt", HALF)
def test_gradient_with_coordinates(name, dt):
    # torch's weights a = -dx2 / (dx1 (dx1 + dx2)), b = (dx2 - dx1) / (dx1 dx2), c = dx1 / (dx2 (dx1 + dx2)),
    # each op rounded to the dtype, and a * f0 + b * f1 + c * f2
    x = _randn(3, 5, 4, dt=dt)
    c0 = torch.tensor([0.0, 0.3, 1.1], dtype=dt)
    c2 = torch.tensor([-1.0, 0.25, 0.7, 2.0], dtype=dt)
    for edge_order in (1, 2):
        got = bp.gradient(_bp(x), spacing=[_bp(c0), _bp(c2)], dim=(0, -1), edge_order=edge_order)
        expected = torch.gradient(x, spacing=[c0, c2], dim=(0, -1), edge_order=edge_order)
        for g_, e in zip(got, expected):
            _same(g_, e)
    for spacing in (1.0, 0.3, 2.0):  # a uniform step: (f2 - f0) / h / 2, as torch divides
        for g_, e in zip(bp.gradient(_bp(x), spacing=spacing), torch.gradient(x, spacing=spacing)):
            _same(g_, e)
    big = torch.tensor([0.0, 60000.0, 65000.0], dtype=torch.float16)
    if dt is torch.float16:  # closed form: 65000 / 0.5 overflows before the halving, as torch's
        assert bp.gradient(_bp(big), spacing=0.5)[0][1].item() == float("inf")


@pytest.mark.parametrize("name,dt", HALF)
def test_adaptive_avg_pool_sums_windows_in_float32(name, dt):
    # torch's 1-D/2-D kernel: a float32 window sum, divided by kh then by kw, rounded once
    x = _randn(2, 3, 13, 11, dt=dt)
    for size in ((5, 7), (4, 3), (6, 6), (13, 4), (1, 1), (None, 5)):
        _same(F.adaptive_avg_pool2d(_bp(x), size), TF.adaptive_avg_pool2d(x, size))
    y = _randn(2, 3, 17, dt=dt, seed=1)
    for size in (5, 7, 1):
        _same(F.adaptive_avg_pool1d(_bp(y), size), TF.adaptive_avg_pool1d(y, size))
    _same(F.interpolate(_bp(x), size=(4, 3), mode="area"), TF.interpolate(x, size=(4, 3), mode="area"))
    # closed form: the mean of three halves is their float32 sum over 3, rounded once
    v = bp.tensor([[[0.1, 0.2, 0.7]]], dtype=getattr(bp, name))
    s = sum(np.float32(e) for e in v.float().numpy().ravel())
    expected = np.asarray(s / np.float32(3), dtype=np.float32).astype(v.numpy().dtype)
    assert F.adaptive_avg_pool1d(v, 1).item() == float(expected)
