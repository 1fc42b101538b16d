"""The random generator behind shuffling, sampling and ``random_split``."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.devices import device


def host_rng(generator: Any = None) -> np.random.Generator:
    """A NumPy generator for drawing indices on the host.

    ``None`` means backprop's CPU generator (seeded by ``bp.manual_seed``); a ``bp.Generator`` (anything
    with ``_rng_for(device)``) gives its CPU stream; a ``numpy.random.Generator`` is used as it is.
    """
    cpu = device("cpu")
    if generator is None:
        return cpu.backend.rng(cpu.index)
    if isinstance(generator, np.random.Generator):
        return generator
    if hasattr(generator, "_rng_for"):
        return generator._rng_for(cpu)  # a CUDA generator raises torch's "Expected a 'cpu' device type" error
    raise TypeError(
        f"generator: expected None (backprop's seeded CPU generator), a bp.Generator or a numpy.random.Generator, "
        f"got {type(generator).__name__}"
    )


def randperm(n: int, generator: Any = None) -> list[int]:
    """A random permutation of ``range(n)`` as Python ints (torch.randperm(n).tolist())."""
    return host_rng(generator).permutation(n).tolist()
