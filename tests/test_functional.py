"""nn.functional: values against NumPy references, numerical stability, losses' gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import backprop as bp
import backprop.nn.functional as F


def _ref_log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    m = z.max(axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis, keepdims=True))


def test_stable_for_logits_of_magnitude_1e3(device: str) -> None:
    z = bp.tensor([[1000.0, -1000.0, 0.0], [-1000.0, -999.0, 1000.0]], device=device, requires_grad=True)
    t = bp.tensor([0, 1], device=device)
    outs = [
        F.softmax(z, -1),
        F.log_softmax(z, -1),
        bp.logsumexp(z, 1),
        F.cross_entropy(z, t),
        F.binary_cross_entropy_with_logits(z, bp.ones_like(z)),
    ]
    for o in outs:
        assert np.isfinite(o.detach().numpy()).all()
        o.sum().backward()
        assert np.isfinite(z.grad.numpy()).all()
    np.testing.assert_allclose(F.cross_entropy(z, t).item(), (0.0 + 1999.0) / 2, rtol=1e-6)


def test_cross_entropy_matches_reference(device: str, rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 5))
    t = np.array([0, 4, 1, 1, -100, 3])
    logits = bp.tensor(x, device=device, requires_grad=True)
    loss = F.cross_entropy(logits, bp.tensor(t, device=device), label_smoothing=0.1)
    logp = _ref_log_softmax(x)
    valid = t != -100
    per_row = -(0.9 * logp[np.arange(6), np.where(valid, t, 0)] + 0.1 * logp.mean(1))
    np.testing.assert_allclose(loss.item(), per_row[valid].mean(), rtol=1e-12)
    loss.backward()
    p = np.exp(logp)
    onehot = np.eye(5)[np.where(valid, t, 0)]
    ref = (p - 0.9 * onehot - 0.1 / 5) * valid[:, None] / valid.sum()
    np.testing.assert_allclose(logits.grad.numpy(), ref, rtol=1e-10, atol=1e-14)


def test_cross_entropy_on_extra_dims_and_probability_targets(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 4, 3))  # (N, C, d)
    t = rng.integers(0, 4, (2, 3))
    got = F.cross_entropy(bp.tensor(x), bp.tensor(t), reduction="none")
    logp = _ref_log_softmax(np.moveaxis(x, 1, -1))
    np.testing.assert_allclose(got.detach().numpy(), -np.take_along_axis(logp, t[..., None], -1)[..., 0], rtol=1e-12)
    probs = np.eye(4)[t[:, 0]]
    soft = F.cross_entropy(bp.tensor(x[:, :, 0]), bp.tensor(probs))
    hard = F.cross_entropy(bp.tensor(x[:, :, 0]), bp.tensor(t[:, 0]))
    np.testing.assert_allclose(soft.item(), hard.item(), rtol=1e-12)


def test_cross_entropy_bad_targets() -> None:
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of range for 3 classes"):
        F.cross_entropy(bp.ones(2, 3), bp.tensor([0, 7]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(2\) to match target batch_size \(3\)"):
        F.cross_entropy(bp.ones(2, 3), bp.tensor([0, 1, 2]))


def test_nll_loss_equals_cross_entropy_on_log_softmax(rng: np.random.Generator) -> None:
    x = bp.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    t = bp.tensor([1, 0, 3, -100, 2])
    a = F.nll_loss(F.log_softmax(x, 1), t)
    b = F.cross_entropy(x, t)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    (ga,) = bp.autograd.grad(a, x)
    (gb,) = bp.autograd.grad(F.cross_entropy(x, t), x)
    np.testing.assert_allclose(ga.detach().numpy(), gb.detach().numpy(), rtol=1e-10, atol=1e-15)


def test_losses_differentiate_float_targets(rng: np.random.Generator) -> None:
    p = bp.tensor(rng.uniform(0.1, 0.9, (3, 2)), requires_grad=True)
    y = bp.tensor(rng.uniform(0.1, 0.9, (3, 2)), requires_grad=True)
    for fn in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits, F.mse_loss):
        assert bp.gradcheck(fn, [p, y])


def test_mse_and_bce_values(rng: np.random.Generator) -> None:
    a, b = rng.uniform(0.1, 0.9, 5), rng.uniform(0, 1, 5)
    np.testing.assert_allclose(F.mse_loss(bp.tensor(a), bp.tensor(b)).item(), ((a - b) ** 2).mean())
    ref = -(b * np.log(a) + (1 - b) * np.log(1 - a)).mean()
    np.testing.assert_allclose(F.binary_cross_entropy(bp.tensor(a), bp.tensor(b)).item(), ref)
    z = np.log(a / (1 - a))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(bp.tensor(z), bp.tensor(b)).item(), ref)


def test_activations_match_references(rng: np.random.Generator) -> None:
    a = rng.standard_normal(7) * 3
    x = bp.tensor(a)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(F.gelu(x).detach().numpy(), 0.5 * a * (1 + erf(a / math.sqrt(2))), rtol=1e-12)
    tanh_ref = 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").detach().numpy(), tanh_ref, rtol=1e-12)
    sig = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(F.silu(x).detach().numpy(), a * sig, rtol=1e-12)
    np.testing.assert_allclose(F.softplus(x).detach().numpy(), np.log1p(np.exp(a)), rtol=1e-12)
    np.testing.assert_allclose(F.leaky_relu(x, 0.1).detach().numpy(), np.where(a > 0, a, 0.1 * a))
    np.testing.assert_allclose(F.relu(x).detach().numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(F.sigmoid(bp.tensor([-800.0, 0.0, 800.0])).detach().numpy(), [0.0, 0.5, 1.0])
    g = bp.tensor(rng.standard_normal((2, 4)))
    np.testing.assert_allclose(
        F.glu(g).detach().numpy(), g.detach().numpy()[:, :2] / (1 + np.exp(-g.detach().numpy()[:, 2:]))
    )


def test_layer_norm_linear_embedding_one_hot(rng: np.random.Generator) -> None:
    a = rng.standard_normal((3, 4))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    out = F.layer_norm(bp.tensor(a), 4, bp.tensor(w), bp.tensor(b)).detach().numpy()
    ref = (a - a.mean(1, keepdims=True)) / np.sqrt(a.var(1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(out, ref, rtol=1e-10)
    W = rng.standard_normal((5, 4))
    np.testing.assert_allclose(F.linear(bp.tensor(a), bp.tensor(W), bp.tensor(w[:1])).detach().numpy(), a @ W.T + w[0])
    E = bp.tensor(rng.standard_normal((10, 3)), requires_grad=True)
    ids = bp.tensor([[1, 2], [2, 9]])
    F.embedding(ids, E).sum().backward()
    assert E.grad.numpy()[:, 0].tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 0, 1]
    with pytest.raises(IndexError, match="id 10 is out of range for a vocabulary of 10"):
        F.embedding(bp.tensor([10]), E)
    assert F.one_hot(bp.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]


def test_dropout_scales_and_is_identity_in_eval() -> None:
    x = bp.ones(10_000)
    y = F.dropout(x, 0.3)
    kept = y.detach().numpy() != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert F.dropout(x, 0.3, training=False) is x


@settings(max_examples=40, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "div", "maximum", "minimum"]),
)
def test_broadcasting_binary_ops_gradcheck(shapes, op: str) -> None:
    rng = np.random.default_rng(1)
    sa, sb = shapes.input_shapes
    a = bp.tensor(rng.uniform(0.5, 1.5, sa), requires_grad=True)
    b = bp.tensor(rng.uniform(-1.5, -0.5, sb) if op != "div" else rng.uniform(0.5, 1.5, sb), requires_grad=True)
    fns = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
        "maximum": bp.maximum,
        "minimum": bp.minimum,
    }
    out = fns[op](a, b)
    assert out.shape == shapes.result_shape
    assert bp.gradcheck(fns[op], [a, b])


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
def test_reductions_over_random_dims_gradcheck(shape, data) -> None:
    ndim = len(shape)
    dims = data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim, unique_by=lambda d: d % ndim))
    keep = data.draw(st.booleans())
    x = bp.tensor(np.random.default_rng(2).standard_normal(shape), requires_grad=True)
    for fn in (bp.sum, bp.mean, bp.amax, bp.logsumexp):
        out = fn(x, tuple(dims), keepdim=keep)
        ref = {bp.sum: np.sum, bp.mean: np.mean, bp.amax: np.max}.get(fn)
        if ref is not None:
            np.testing.assert_allclose(out.detach().numpy(), ref(x.detach().numpy(), axis=tuple(dims), keepdims=keep))
        assert bp.gradcheck(lambda t, fn=fn: fn(t, tuple(dims), keepdim=keep), [x])
