"""``bp.utils.checkpoint``: the same values and gradients as running the function directly (dropout
included, from the restored random state), with the function's activations not kept."""

from __future__ import annotations

import warnings

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
    y = checkpoint(block, x, use_reentrant=True)
    assert [f for f, _ in y.grad_fn.next_functions if f is not None][0].variable is x


def test_checkpoint_sequential_and_kwargs() -> None:
    bp.manual_seed(1)
    seq = bp.nn.Sequential(*[bp.nn.Linear(5, 5) for _ in range(4)])
    x = bp.randn(3, 5, requires_grad=True)
    out = checkpoint_sequential(seq, 2, x, use_reentrant=True)
    out.sum().backward()
    g_ckpt = [p.grad.numpy().copy() for p in seq.parameters()]
    seq.zero_grad()
    seq(x).sum().backward()
    for a, p in zip(g_ckpt, seq.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-5, atol=1e-7)
    scale = checkpoint(lambda t, k=1.0: t * k, x, k=3.0, use_reentrant=False)
    assert np.allclose(scale.detach().numpy(), 3 * x.detach().numpy())
    with pytest.raises(ValueError, match="Unexpected keyword arguments: k"):  # torch's reentrant flavour refuses
        checkpoint(lambda t, k=1.0: t * k, x, k=3.0, use_reentrant=True)


# ------------------------------------------------------------------ the two flavours, against torch
try:
    import torch
except ImportError:  # the torch comparisons skip; the backprop-only checks still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: these checkpoint cases compare with it")


def _ckpt_run(L, use_reentrant, x_requires_grad):
    """A Linear-Tanh-Linear block checkpointed on an input that may not require grad (the first block of
    a model, fed data): the output's requires_grad, the parameters' gradients and the warnings."""
    L.manual_seed(0)
    block = L.nn.Sequential(L.nn.Linear(3, 5), L.nn.Tanh(), L.nn.Linear(5, 2))
    w = np.linspace(-1, 1, 15 + 5 + 10 + 2, dtype=np.float32)
    with L.no_grad():
        for p, chunk in zip(block.parameters(), np.split(w, [15, 20, 30])):
            p.copy_(L.tensor(chunk.reshape(tuple(p.shape))))
    x = L.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, requires_grad=x_requires_grad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kw = {} if use_reentrant is None else {"use_reentrant": use_reentrant}
        y = L.utils.checkpoint.checkpoint(block, x, **kw)
        if y.requires_grad:
            (y * y).sum().backward()
    grads = [None if p.grad is None else p.grad.numpy().copy() for p in block.parameters()]
    return y.requires_grad, grads, [str(w.message).split(".")[0] for w in caught]


@needs_torch
@pytest.mark.parametrize("use_reentrant", [None, True, False])
@pytest.mark.parametrize("x_requires_grad", [False, True])
def test_flavours_as_torch(use_reentrant, x_requires_grad) -> None:
    """use_reentrant=False gives the parameters their gradients even when the input needs none (the
    reentrant flavour does not, with torch's warning); leaving the argument out warns and is reentrant."""
    ours, theirs = _ckpt_run(bp, use_reentrant, x_requires_grad), _ckpt_run(torch, use_reentrant, x_requires_grad)
    assert ours[0] == theirs[0] and ours[2] == theirs[2]
    for a, b in zip(ours[1], theirs[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if use_reentrant is False:
        assert all(g is not None for g in ours[1])


def _events(L):
    """The order in which context_fn's two contexts and the function run, forward then backward."""
    import contextlib

    log = []

    @contextlib.contextmanager
    def ctx(name):
        log.append(f"enter {name}")
        yield
        log.append(f"exit {name}")

    def fn(t):
        log.append("fn")
        return t.sin() * 2

    x = L.ones(3, requires_grad=True)
    y = L.utils.checkpoint.checkpoint(fn, x, use_reentrant=False, context_fn=lambda: (ctx("fwd"), ctx("recompute")))
    log.append("backward")
    y.sum().backward()
    return log, x.grad.numpy().tolist()


@needs_torch
def test_context_fn_wraps_forward_and_recomputation_as_torch() -> None:
    ours, theirs = _events(bp), _events(torch)
    assert ours[0][:6] == theirs[0][:6]  # (torch leaves the recompute context to its early stop's unwinding)
    assert ours[0][6:] == ["exit recompute"]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)


@needs_torch
def test_refusals_as_torch() -> None:
    for L in (bp, torch):
        x = L.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
            L.utils.checkpoint.checkpoint(lambda t: t * 2, x, use_reentrant=True, context_fn=lambda: (None, None))
        calls = []

        def differs(t, calls=calls):  # saves two tensors the first time, one when recomputed
            calls.append(1)
            return t.sin().exp() if len(calls) == 1 else t.sin()

        y = L.utils.checkpoint.checkpoint(differs, x, use_reentrant=False)
        with pytest.raises(L.utils.checkpoint.CheckpointError, match="A different number of tensors was saved"):
            y.sum().backward()


def test_non_reentrant_keeps_no_activations_and_recomputes_once_per_backward() -> None:
    """The forward's graph holds no intermediate arrays (a 1000 x 1000 tanh chain keeps ~nothing beyond
    its output); backward recomputes the function once, and a retained graph's second backward again."""
    import tracemalloc

    calls = []

    def chain(t):
        calls.append(1)
        for _ in range(5):
            t = (t * 1.01).tanh()
        return t

    x = bp.randn(1000, 1000, requires_grad=True)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = checkpoint(chain, x, use_reentrant=False)
        kept_ckpt = tracemalloc.get_traced_memory()[0] - base
        y_plain = chain(x)
        kept_plain = tracemalloc.get_traced_memory()[0] - base - kept_ckpt
    finally:
        tracemalloc.stop()
    assert kept_ckpt < 5e6 < 1.5e7 < kept_plain, (kept_ckpt, kept_plain)  # output 4 MB; plain keeps 4 more tanh outputs
    y.sum().backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    assert len(calls) == 3  # forward, plain forward, one recomputation
    y.sum().backward()
    assert len(calls) == 4
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1, rtol=1e-6)
    x.grad = None
    y_plain.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g1, rtol=1e-6)
