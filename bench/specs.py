"""Workload sizes, hyper-parameters, data and FLOP counts shared by every implementation.

Imports NumPy only, so the torch worker process (``bench.torch_worker``) can load it without our
library.
"""

from __future__ import annotations

import numpy as np

MLP_SIZES = {"small": (256, 64), "medium": (1024, 512), "large": (2048, 1024)}  # (width, batch)
LM_SIZES = {  # (V, d, H, B), context 4
    "small": (2000, 32, 128, 64),
    "medium": (10000, 64, 256, 256),
    "large": (10000, 128, 512, 1024),
}
CONTEXT = 4
CLASSES = 10
LR = 0.01
CHAIN_OPS = 100
DEEP_CHAIN_OPS = {"1M": 1_000_000, "20k": 20_000}  # the deep chain: engine cost on very deep graphs (quick: 20k)


def chain_mul(n_ops: int) -> float:
    """The chain's factor: y = ((x + 0.5) * m + 0.5) * m ...; m < 1 keeps deep chains finite."""
    return 1.01 if n_ops <= CHAIN_OPS else 0.99


def mlp_flops(width: int, batch: int) -> float:
    """FLOPs of one MLP step's matmuls (forward and the two backward ones)."""
    sizes = [width, width, width, width, CLASSES]
    return 3 * 2 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def lm_flops(v: int, d: int, h: int, b: int) -> float:
    """FLOPs of one LM step's matmuls (forward and the two backward ones)."""
    return 3 * 2 * b * (CONTEXT * d * h + h * v)


def mlp_data(width: int, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (batch, width) float32 and class labels (batch,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, width)).astype(np.float32), rng.integers(0, CLASSES, batch)


def lm_data(v: int, b: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Contexts (b, CONTEXT) and targets (b,) of word ids below ``v``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, v, (b, CONTEXT)), rng.integers(0, v, b)
