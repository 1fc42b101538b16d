"""``bp.utils.checkpoint``: the same values and gradients as running the function directly (dropout
included, from the restored random state), with the function's activations not kept."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
from backprop.utils.checkpoint import checkpoint, checkpoint_sequential


def _block() -> bp.nn.Module:
    bp.manual_seed(0)
    return bp.nn.Sequential(bp.nn.Linear(6, 16), bp.nn.Tanh(), bp.nn.Dropout(0.3), bp.nn.Linear(16, 6))


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpoint_gives_the_plain_gradients(use_reentrant: bool) -> None:
    block, twin = _block(), _block()
    x = bp.randn(4, 6, requires_grad=True)
    x2 = bp.tensor(x.detach().numpy(), requires_grad=True)
    bp.manual_seed(7)
    y = checkpoint(block, x, use_reentrant=use_reentrant)
    after_ckpt = bp.rand(1).item()  # the caller's random stream goes on unchanged by the recompute
    (y * y).sum().backward()
    bp.manual_seed(7)
    y2 = twin(x2)
    after_plain = bp.rand(1).item()
    (y2 * y2).sum().backward()
    assert after_ckpt == after_plain
    np.testing.assert_allclose(y.detach().numpy(), y2.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-5)
    for a, b in zip(block.parameters(), twin.parameters()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_checkpoint_keeps_no_activations() -> None:
    """The forward records nothing inside the function: one node (the checkpoint) ties output to input."""
    block = _block()
    x = bp.randn(4, 6, requires_grad=True)
    y = checkpoint(block, x)
    assert [f for f, _ in y.grad_fn.next_functions if f is not None][0].variable is x


def test_checkpoint_sequential_and_kwargs() -> None:
    bp.manual_seed(1)
    seq = bp.nn.Sequential(*[bp.nn.Linear(5, 5) for _ in range(4)])
    x = bp.randn(3, 5, requires_grad=True)
    out = checkpoint_sequential(seq, 2, x)
    out.sum().backward()
    g_ckpt = [p.grad.numpy().copy() for p in seq.parameters()]
    seq.zero_grad()
    seq(x).sum().backward()
    for a, p in zip(g_ckpt, seq.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-5, atol=1e-7)
    scale = checkpoint(lambda t, k=1.0: t * k, x, k=3.0)
    assert np.allclose(scale.detach().numpy(), 3 * x.detach().numpy())
