"""Torch cross-checks of special values through forward and backward: inf, -inf, NaN, -0.0, 0, huge and
subnormal inputs, and an inf or NaN incoming gradient, through masking ops (relu, clamp, maximum, ...),
reductions that pick elements (max(), median(), prod with zeros, p-norms) and losses.

A masking backward must select (torch's ``where``/``masked_fill``), not multiply by a 0/1 mask: an
infinite incoming gradient then gives 0 where the gradient is dropped, not ``inf * 0 = NaN``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

inf, nan = math.inf, math.nan
SPECIAL = [-inf, -1e308, -2.0, -1.0, -1e-310, -0.0, 0.0, 1e-310, 0.5, 1.0, 2.0, 1e308, inf, nan]
_V = [-inf, -2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, inf, nan]
PAIRS = ([a for a in _V for _ in _V], [b for _ in _V for b in _V])  # every pair of special values
INCOMING = [1.0, inf, -inf, nan]
INEXACT = {"selu", "elu", "pow"}  # exp/pow of libm: within an ulp or so of torch's, not bit for bit


def _run(lib, fn, arrays, gy, dtype):
    ts = [lib.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    y = fn(lib, *ts)
    grads = lib.autograd.grad(y, ts, lib.full_like(y, gy), allow_unused=True)
    return [y.detach().numpy()] + [None if g is None else g.numpy() for g in grads]


def same_as_torch(fn, *arrays, gy=1.0, dtype="float64", rtol=0.0):
    """fn(lib, *tensors)'s value and its gradients for an incoming gradient of ``gy``, NaN where torch's is."""
    got, want = _run(bp, fn, arrays, gy, dtype), _run(torch, fn, arrays, gy, dtype)
    for i, (g, w) in enumerate(zip(got, want)):
        what = "value" if i == 0 else f"gradient of input {i - 1}"
        assert (g is None) == (w is None), what
        if w is not None:
            assert g.dtype == w.dtype and g.shape == w.shape, what
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, equal_nan=True, err_msg=what)


def _F(lib):
    return lib.nn.functional


MASKING = {
    "relu": lambda L, x: L.relu(x),
    "F.relu": lambda L, x: _F(L).relu(x),
    "F.relu_inplace": lambda L, x: _F(L).relu(x * 1, inplace=True),
    "relu6": lambda L, x: _F(L).relu6(x),
    "hardtanh": lambda L, x: _F(L).hardtanh(x, -0.5, 1.5),
    "threshold": lambda L, x: _F(L).threshold(x, 0.5, -3.0),
    "hardshrink": lambda L, x: _F(L).hardshrink(x),
    "softshrink": lambda L, x: _F(L).softshrink(x, 1.0),
    "clamp": lambda L, x: x.clamp(-1, 1),
    "clamp_min": lambda L, x: x.clamp(min=0),
    "clamp_max": lambda L, x: x.clamp(max=0),
    "selu": lambda L, x: _F(L).selu(x),
    "elu": lambda L, x: _F(L).elu(x, 0.5),
    "abs": lambda L, x: x.abs(),
    "pow0": lambda L, x: x**0,
}


@pytest.mark.parametrize("name", list(MASKING))
def test_masking_ops_special_inputs_and_incoming_gradients(name):
    # torch: relu(NaN) passes the gradient (threshold_backward's ``y <= 0 ? 0 : gy``), clamp(NaN) gives 0,
    # and an infinite gy gives 0 where the gradient is dropped
    for gy in INCOMING:
        same_as_torch(MASKING[name], SPECIAL, gy=gy, rtol=1e-12 if name in INEXACT else 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["relu", "clamp", "hardtanh", "threshold"])
def test_masking_ops_in_lower_precision(name, dtype):
    values = [-inf, -2.0, -0.0, 0.0, 1e-40 if dtype == "float32" else 1e-7, 0.5, 1.0, 2.0, inf, nan]
    for gy in INCOMING:
        same_as_torch(MASKING[name], values, gy=gy, dtype=dtype)


BINARY = {
    "maximum": lambda L, x, y: L.maximum(x, y),
    "minimum": lambda L, x, y: L.minimum(x, y),
    "max_pair": lambda L, x, y: L.max(x, y),
    "min_pair": lambda L, x, y: L.min(x, y),
    "copysign": lambda L, x, y: L.copysign(x, y),
    "pow": lambda L, x, y: x**y,
    "smooth_l1": lambda L, x, y: _F(L).smooth_l1_loss(x, y, reduction="none", beta=0.5),
    "huber": lambda L, x, y: _F(L).huber_loss(x, y, reduction="none", delta=0.5),
    "l1": lambda L, x, y: _F(L).l1_loss(x, y, reduction="none"),
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_ops_special_pairs(name):
    # torch's maximum: gy (halved on ties) to x unless x < y and to y unless x > y, so a NaN operand
    # sends gy to both; smooth_l1/huber at d = +-inf: +-gy (no 0 * inf from the unused quadratic piece)
    for gy in INCOMING:
        same_as_torch(BINARY[name], *PAIRS, gy=gy, rtol=1e-12 if name in INEXACT else 0.0)


def test_xlog1py_gradients():
    # d xlog1py(x, y) / dx is log1p(y) also at x == 0 (0 there only where y <= -1), as torch
    for gy in (1.0, 0.0, inf):
        same_as_torch(lambda L, x, y: L.special.xlog1py(x, y), *PAIRS, gy=gy, rtol=1e-15)


def test_xlog1py_gradient_at_zero_closed_form():
    x = bp.zeros(3, dtype=bp.float64, requires_grad=True)
    y = bp.tensor([0.5, 1.0, -2.0], dtype=bp.float64)
    bp.special.xlog1py(x, y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [math.log1p(0.5), math.log(2.0), 0.0])


def test_heaviside_of_nan_is_zero():
    x = [nan, -inf, -0.0, 0.0, inf]
    for lib in (bp, torch):
        got = lib.heaviside(lib.tensor(x), lib.tensor([0.5]))
        assert got.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]


ROWS = {
    "ties": [[1.0, 3.0, 3.0, 2.0], [3.0, 3.0, 3.0, 3.0]],
    "nan": [[1.0, nan, 3.0, 2.0], [nan, nan, 1.0, 0.0]],
    "inf": [[-inf, -inf, -inf, -inf], [inf, 1.0, inf, -inf]],
    "zeros": [[0.0, 2.0, 3.0, 4.0], [0.0, 0.0, 2.0, 3.0]],
    "negz": [[-0.0, 0.0, -0.0, 0.0], [0.0, -0.0, 1.0, 1.0]],
    "one_zero": [[0.0, 2.0, 3.0, 4.0], [1.0, -1.0, 2.0, 3.0]],
}
REDUCTIONS = {
    "max": lambda L, x: x.max(),
    "min": lambda L, x: x.min(),
    "median": lambda L, x: x.median(),
    "prod": lambda L, x: x.prod(),
    "norm1": lambda L, x: x.norm(p=1, dim=1),
    "norm_inf": lambda L, x: x.norm(p=inf, dim=1),
    "vector_norm_-inf": lambda L, x: L.linalg.vector_norm(x, ord=-inf, dim=1),
    "dist1": lambda L, x: L.dist(x[0], x[1], p=1),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_special_rows(name):
    # torch's full max()/min()/median() write gy / count at the chosen elements (0 elsewhere, also for an
    # infinite gy); its whole-tensor prod with two zeros or more is zeros; |NaN|'s sign is 0
    for row in ROWS.values():
        for gy in INCOMING:
            same_as_torch(REDUCTIONS[name], row, gy=gy, rtol=1e-15)


def test_max_full_reduction_shares_ties_closed_form():
    x = bp.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    (g,) = bp.autograd.grad(x.max(), x, bp.tensor(inf))
    assert g.tolist() == [0.0, inf, inf, 0.0]


def test_relu_incoming_inf_closed_form_and_double_backward():
    x = bp.tensor([-1.0, 0.0, 2.0, nan], requires_grad=True)
    (g,) = bp.autograd.grad(bp.relu(x), x, bp.tensor([inf, inf, inf, inf]), create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [0.0, 0.0, inf, inf])
    xt = torch.tensor([-1.0, 0.0, 2.0, nan], requires_grad=True)
    gt = torch.autograd.grad(torch.relu(xt), xt, torch.full((4,), inf), create_graph=True)[0]
    np.testing.assert_array_equal(g.detach().numpy(), gt.detach().numpy())
