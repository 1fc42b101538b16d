"""``binary_cross_entropy`` as torch's kernel: the loss with its logs clamped at -100, and torch's own
gradients, (p - y) / max(p (1 - p), EPSILON) for the input (EPSILON = 1e-12 as a float, also in float64:
-1e12 at p = 0 with y = 1, where the clamped logs' derivative is 0) and -logit(p) for the target."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F

P = [0.0, 1.0, 0.3, 1e-30, 0.999999, 0.5, 1 - 1e-8, 0.0]
Y = [1.0, 0.0, 0.7, 1.0, 0.0, 0.5, 1.0, 0.0]


def _grads(lib, dtype, reduction, weight=None):
    p = lib.tensor(P, dtype=getattr(lib, dtype), requires_grad=True)
    y = lib.tensor(Y, dtype=getattr(lib, dtype), requires_grad=True)
    w = None if weight is None else lib.tensor(weight, dtype=getattr(lib, dtype))
    loss = lib.nn.functional.binary_cross_entropy(p, y, w, reduction=reduction)
    loss.sum().backward()
    return loss.detach().numpy(), p.grad.numpy(), y.grad.numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_closed_form_gradients_at_the_edges(dtype):
    loss, gp, gy = _grads(bp, dtype, "sum")
    eps = np.float32(1e-12).astype(dtype)
    p, y = np.array(P, dtype=dtype), np.array(Y, dtype=dtype)
    np.testing.assert_array_equal(gp, (p - y) / np.maximum((1 - p) * p, eps))
    assert gp[0] == -1 / eps and gp[1] == 1 / eps  # the clamped logs' derivative would be 0 there
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(gy, -np.log(p / (1 - p)), rtol=1e-6)
        expected = (y - 1) * np.maximum(np.log1p(-p), -100) - y * np.maximum(np.log(p), -100)
    np.testing.assert_array_equal(loss, expected.sum())


def test_double_backward_through_the_kernel_rule():
    x = bp.tensor([0.2, 0.7], dtype=bp.float64, requires_grad=True)
    t = bp.tensor([1.0, 0.0], dtype=bp.float64)
    (g,) = bp.autograd.grad(F.binary_cross_entropy(x, t), x, create_graph=True)
    (gg,) = bp.autograd.grad(g.sum(), x)
    xv, tv = np.array([0.2, 0.7]), np.array([1.0, 0.0])
    np.testing.assert_allclose(g.detach().numpy(), (xv - tv) / (xv * (1 - xv)) / 2)
    np.testing.assert_allclose(gg.numpy(), (xv**2 - 2 * xv * tv + tv) / (xv * (1 - xv)) ** 2 / 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_torch(dtype, reduction, weighted):
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-check needs it")
    w = np.linspace(0.5, 2, len(P)).tolist() if weighted else None
    ours, theirs = _grads(bp, dtype, reduction, w), _grads(torch, dtype, reduction, w)
    np.testing.assert_array_equal(ours[0], theirs[0])
    if weighted:  # (torch multiplies by the weight after the division: the last bits may differ)
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
    else:
        np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)
