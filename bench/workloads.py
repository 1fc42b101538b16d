"""Benchmark workloads, each in three implementations: ours, the hand-written floor, torch eager.

Every factory returns a zero-argument ``step`` callable that runs one full training step (forward,
backward, update) and synchronises the device, plus the step's FLOP count for GFLOP/s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import backprop as bp
import backprop.nn.functional as F
from bench import floor

MLP_SIZES = {"small": (256, 64), "medium": (1024, 512), "large": (2048, 1024)}  # (width, batch)
LM_SIZES = {  # (V, d, H, B), context 4
    "small": (2000, 32, 128, 64),
    "medium": (10000, 64, 256, 256),
    "large": (10000, 128, 512, 1024),
}
CONTEXT = 4
CLASSES = 10
LR = 0.01


def _sync(device: str) -> Callable[[], None]:
    return bp.cuda.synchronize if device == "cuda" else (lambda: None)


def _torch_sync(dev: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if dev == "cuda" else (lambda: None)


def _train_step(model: Any, opt: Any, x: Any, y: Any, loss_fn: Any, sync: Callable[[], None]) -> Callable[[], None]:
    """One training step, spelled identically for our library and for torch (same API names)."""

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()

    return step


def _xp(device: str) -> Any:
    return bp.device(device).xp


def mlp_flops(width: int, batch: int) -> float:
    sizes = [width, width, width, width, CLASSES]
    return 3 * 2 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))  # fwd + 2 bwd matmuls


def lm_flops(v: int, d: int, h: int, b: int) -> float:
    return 3 * 2 * b * (CONTEXT * d * h + h * v)


# ------------------------------------------------------------------------------------------ MLP
def _mlp_data(width: int, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, width)).astype(np.float32), rng.integers(0, CLASSES, batch)


def mlp_ours(device: str, width: int, batch: int) -> Callable[[], None]:
    bp.manual_seed(0)
    model = bp.nn.Sequential(
        bp.nn.Linear(width, width),
        bp.nn.ReLU(),
        bp.nn.Linear(width, width),
        bp.nn.ReLU(),
        bp.nn.Linear(width, width),
        bp.nn.ReLU(),
        bp.nn.Linear(width, CLASSES),
    ).to(device)
    opt = bp.optim.SGD(model.parameters(), lr=LR)
    xs, ys = _mlp_data(width, batch)
    x, y = bp.tensor(xs, device=device), bp.tensor(ys, device=device)
    return _train_step(model, opt, x, y, F.cross_entropy, _sync(device))


def mlp_floor(device: str, width: int, batch: int) -> Callable[[], None]:
    xp = _xp(device)
    layers = floor.mlp_init(xp, np.random.default_rng(0), [width, width, width, width, CLASSES])
    xs, ys = _mlp_data(width, batch)
    x, y = xp.asarray(xs), xp.asarray(ys)
    sync = _sync(device)

    def step() -> None:
        floor.mlp_step(xp, layers, x, y, LR)
        sync()

    return step


def mlp_torch(device: str, width: int, batch: int) -> Callable[[], None]:
    import torch

    dev = "cuda" if device == "cuda" else "cpu"
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, CLASSES),
    ).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xs, ys = _mlp_data(width, batch)
    x, y = torch.tensor(xs, device=dev), torch.tensor(ys, device=dev)
    return _train_step(model, opt, x, y, torch.nn.functional.cross_entropy, _torch_sync(dev))


# ------------------------------------------------------------------------------------------ LM
def _lm_data(v: int, b: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, v, (b, CONTEXT)), rng.integers(0, v, b)


def lm_ours(device: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    from backprop.lm import FeedForwardLM

    bp.manual_seed(0)
    model = FeedForwardLM(v, CONTEXT, d, h).to(device)
    opt = bp.optim.SGD(model.parameters(), lr=LR)
    cs, ts = _lm_data(v, b)
    ctx, tgt = bp.tensor(cs, device=device), bp.tensor(ts, device=device)
    return _train_step(model, opt, ctx, tgt, F.cross_entropy, _sync(device))


def lm_floor(device: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    xp = _xp(device)
    params = floor.lm_init(xp, np.random.default_rng(0), v, CONTEXT, d, h)
    cs, ts = _lm_data(v, b)
    ctx, tgt = xp.asarray(cs), xp.asarray(ts)
    if device == "cuda":
        import cupyx

        scatter = cupyx.scatter_add
    else:
        scatter = np.add.at
    sync = _sync(device)

    def step() -> None:
        floor.lm_step(xp, params, ctx, tgt, LR, scatter)
        sync()

    return step


def lm_torch(device: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    import torch

    dev = "cuda" if device == "cuda" else "cpu"
    torch.manual_seed(0)

    class LM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(v, d)
            self.hidden = torch.nn.Linear(CONTEXT * d, h)
            self.output = torch.nn.Linear(h, v)

        def forward(self, c: Any) -> Any:
            e = self.embedding(c).reshape(c.shape[0], -1)
            return self.output(torch.tanh(self.hidden(e)))

    model = LM().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    cs, ts = _lm_data(v, b)
    ctx, tgt = torch.tensor(cs, device=dev), torch.tensor(ts, device=dev)
    return _train_step(model, opt, ctx, tgt, torch.nn.functional.cross_entropy, _torch_sync(dev))


# ------------------------------------------------------------------------------------------ per-op chain
CHAIN_OPS = 100


def chain_ours(device: str) -> Callable[[], None]:
    x = bp.randn(8, 8, device=device, requires_grad=True)
    sync = _sync(device)

    def step() -> None:
        y = x
        for i in range(CHAIN_OPS):
            y = y * 1.01 if i % 2 else y + 0.5
        x.grad = None
        y.sum().backward()
        sync()

    return step


def chain_floor(device: str) -> Callable[[], None]:
    xp = _xp(device)
    x = xp.asarray(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32))
    sync = _sync(device)

    def step() -> None:
        floor.chain(xp, x, CHAIN_OPS)
        sync()

    return step


def chain_torch(device: str) -> Callable[[], None]:
    import torch

    dev = "cuda" if device == "cuda" else "cpu"
    x = torch.randn(8, 8, device=dev, requires_grad=True)
    sync = _torch_sync(dev)

    def step() -> None:
        y = x
        for i in range(CHAIN_OPS):
            y = y * 1.01 if i % 2 else y + 0.5
        x.grad = None
        y.sum().backward()
        sync()

    return step


# ------------------------------------------------------------------------------------------ bare matmul
def matmul_ours(device: str, n: int) -> Callable[[], None]:
    a = bp.randn(n, n, device=device)
    b = bp.randn(n, n, device=device)
    sync = _sync(device)

    def step() -> None:
        with bp.no_grad():
            a @ b
        sync()

    return step


def matmul_floor(device: str, n: int) -> Callable[[], None]:
    xp = _xp(device)
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n)).astype(np.float32))
    b = xp.asarray(rng.standard_normal((n, n)).astype(np.float32))
    sync = _sync(device)

    def step() -> None:
        a @ b
        sync()

    return step


def matmul_torch(device: str, n: int) -> Callable[[], None]:
    import torch

    dev = "cuda" if device == "cuda" else "cpu"
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    sync = _torch_sync(dev)

    def step() -> None:
        a @ b
        sync()

    return step
