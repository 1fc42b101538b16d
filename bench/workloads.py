"""Benchmark workloads, in-process implementations: ours, the floor and the naive floor.

Every factory returns a zero-argument ``step`` callable that runs one full training step (forward,
backward, update) and synchronises the device. PyTorch's steps live in ``bench.torch_worker`` and
run in their own process. Sizes, data and FLOP counts are in ``bench.specs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import backprop as bp
import backprop.nn.functional as F
from backprop.lm import FeedForwardLM
from bench import floor
from bench.specs import (
    CHAIN_OPS,
    CLASSES,
    CONTEXT,
    DEEP_CHAIN_OPS,
    LM_SIZES,
    LR,
    MLP_SIZES,
    chain_mul,
    lm_data,
    lm_flops,
    mlp_data,
    mlp_flops,
)

__all__ = ["CHAIN_OPS", "CONTEXT", "DEEP_CHAIN_OPS", "LM_SIZES", "MLP_SIZES", "FeedForwardLM", "lm_flops", "mlp_flops"]


def _sync(device: str) -> Callable[[], None]:
    return bp.cuda.synchronize if device == "cuda" else (lambda: None)


def _xp(device: str) -> Any:
    return bp.device(device).xp


def _train_step(
    model: Any, opt: Any, x: Any, y: Any, sync: Callable[[], None], compiled: bool = False
) -> Callable[[], None]:
    """One training step, spelled as torch's examples spell it (same API names, ``zero_grad`` first, so
    the last step's gradients are freed before the forward); ``compiled``: under ``bp.compile``."""

    def train(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = bp.compile(train) if compiled else train

    def step() -> None:
        fn(x, y)
        sync()

    return step


def _call(fn: Callable[[], Any], sync: Callable[[], None]) -> Callable[[], None]:
    def step() -> None:
        fn()
        sync()

    return step


# ------------------------------------------------------------------------------------------ MLP
def mlp_model(width: int) -> Any:
    """Our MLP: Linear-ReLU x3, then Linear to CLASSES."""
    nn = bp.nn
    return nn.Sequential(
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, CLASSES),
    )


def mlp_ours(device: str, width: int, batch: int, compiled: bool = False) -> Callable[[], None]:
    """Our MLP training step (SGD)."""
    bp.manual_seed(0)
    model = mlp_model(width).to(device)
    opt = bp.optim.SGD(model.parameters(), lr=LR)
    xs, ys = mlp_data(width, batch)
    x, y = bp.tensor(xs, device=device), bp.tensor(ys, device=device)
    return _train_step(model, opt, x, y, _sync(device), compiled)


def mlp_compiled(device: str, width: int, batch: int) -> Callable[[], None]:
    """Our MLP training step under ``bp.compile`` (replayed after two recorded calls)."""
    return mlp_ours(device, width, batch, compiled=True)


def _mlp_setup(device: str, width: int, batch: int) -> tuple[Any, list[tuple[Any, Any]], Any, Any]:
    xp = _xp(device)
    layers = floor.mlp_init(xp, np.random.default_rng(0), [width, width, width, width, CLASSES])
    xs, ys = mlp_data(width, batch)
    return xp, layers, xp.asarray(xs), xp.asarray(ys)


def mlp_floor(device: str, width: int, batch: int) -> Callable[[], None]:
    """The floor's MLP step (preallocated, in place)."""
    xp, layers, x, y = _mlp_setup(device, width, batch)
    f = floor.MLPFloor(xp, layers, batch, LR)
    return _call(lambda: f.step(x, y), _sync(device))


def mlp_floor_naive(device: str, width: int, batch: int) -> Callable[[], None]:
    """The naive floor's MLP step."""
    xp, layers, x, y = _mlp_setup(device, width, batch)
    return _call(lambda: floor.mlp_step(xp, layers, x, y, LR), _sync(device))


# ------------------------------------------------------------------------------------------ LM
def lm_ours(device: str, v: int, d: int, h: int, b: int, compiled: bool = False) -> Callable[[], None]:
    """Our FeedForwardLM training step (SGD)."""
    bp.manual_seed(0)
    model = FeedForwardLM(v, CONTEXT, d, h).to(device)
    opt = bp.optim.SGD(model.parameters(), lr=LR)
    cs, ts = lm_data(v, b)
    ctx, tgt = bp.tensor(cs, device=device), bp.tensor(ts, device=device)
    return _train_step(model, opt, ctx, tgt, _sync(device), compiled)


def lm_compiled(device: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    """Our LM training step under ``bp.compile``."""
    return lm_ours(device, v, d, h, b, compiled=True)


def _lm_setup(device: str, v: int, d: int, h: int, b: int) -> tuple[Any, dict[str, Any], Any, Any]:
    xp = _xp(device)
    params = floor.lm_init(xp, np.random.default_rng(0), v, CONTEXT, d, h)
    cs, ts = lm_data(v, b)
    return xp, params, xp.asarray(cs), xp.asarray(ts)


def lm_floor(device: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    """The floor's LM step (preallocated, in place, sparse embedding update)."""
    xp, params, ctx, tgt = _lm_setup(device, v, d, h, b)
    f = floor.LMFloor(xp, params, b, CONTEXT, LR)
    return _call(lambda: f.step(ctx, tgt), _sync(device))


def lm_floor_naive(device: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    """The naive floor's LM step (np.add.at into a fresh gradient table)."""
    xp, params, ctx, tgt = _lm_setup(device, v, d, h, b)
    if device == "cuda":
        import cupyx

        scatter = cupyx.scatter_add
    else:
        scatter = np.add.at
    return _call(lambda: floor.lm_step(xp, params, ctx, tgt, LR, scatter), _sync(device))


# ------------------------------------------------------------------------------------------ per-op chain
def chain_ours(device: str, n_ops: int = CHAIN_OPS, compiled: bool = False) -> Callable[[], None]:
    """Our chain of ``n_ops`` elementwise ops (100 by default), forward and backward."""
    x = bp.randn(8, 8, device=device, requires_grad=True)
    sync = _sync(device)
    mul = chain_mul(n_ops)

    def chain() -> None:
        y = x
        for i in range(n_ops):
            y = y * mul if i % 2 else y + 0.5
        x.grad = None
        y.sum().backward()

    fn = bp.compile(chain) if compiled else chain

    def step() -> None:
        fn()
        sync()

    return step


def chain_compiled(device: str) -> Callable[[], None]:
    """Our 100-op chain under ``bp.compile``."""
    return chain_ours(device, compiled=True)


def _chain_x(device: str) -> tuple[Any, Any]:
    xp = _xp(device)
    return xp, xp.asarray(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32))


def chain_floor(device: str, n_ops: int = CHAIN_OPS) -> Callable[[], None]:
    """The chain by hand, in place."""
    xp, x = _chain_x(device)
    f = floor.ChainFloor(xp, x, n_ops, chain_mul(n_ops))
    return _call(f.step, _sync(device))


def chain_floor_naive(device: str, n_ops: int = CHAIN_OPS) -> Callable[[], None]:
    """The chain by hand, a new array per op."""
    xp, x = _chain_x(device)
    return _call(lambda: floor.chain(xp, x, n_ops, chain_mul(n_ops)), _sync(device))


# The deep chain: the same ops a million times over (one graph of 1M nodes), to price the engine's
# per-node cost when the graph is far too big for caches (and for Python's garbage collector).
def deepchain_ours(device: str, n_ops: int) -> Callable[[], None]:
    """Our deep chain, forward and backward."""
    return chain_ours(device, n_ops)


def deepchain_floor(device: str, n_ops: int) -> Callable[[], None]:
    """The deep chain by hand, in place."""
    return chain_floor(device, n_ops)


def deepchain_floor_naive(device: str, n_ops: int) -> Callable[[], None]:
    """The deep chain by hand, a new array per op."""
    return chain_floor_naive(device, n_ops)


# ------------------------------------------------------------------------------------------ bare matmul
def matmul_ours(device: str, n: int) -> Callable[[], None]:
    """Our bare n x n matmul (no grad)."""
    a = bp.randn(n, n, device=device)
    b = bp.randn(n, n, device=device)
    sync = _sync(device)

    def step() -> None:
        with bp.no_grad():
            a @ b
        sync()

    return step


def _mm_ab(device: str, n: int) -> tuple[Any, Any, Any]:
    xp = _xp(device)
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n)).astype(np.float32))
    b = xp.asarray(rng.standard_normal((n, n)).astype(np.float32))
    return xp, a, b


def matmul_floor(device: str, n: int) -> Callable[[], None]:
    """The bare matmul into a preallocated result."""
    xp, a, b = _mm_ab(device, n)
    c = xp.empty_like(a)
    return _call(lambda: xp.matmul(a, b, out=c), _sync(device))


def matmul_floor_naive(device: str, n: int) -> Callable[[], None]:
    """The bare matmul, a fresh result each time."""
    _, a, b = _mm_ab(device, n)
    return _call(lambda: a @ b, _sync(device))
