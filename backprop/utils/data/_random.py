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


def torch_seed(generator: Any = None) -> int:
    """torch's ``torch.empty((), dtype=torch.int64).random_(generator=g).item()``: the seed torch's loaders draw
    (a new iterator's base seed, a sampler's fresh generator), so shuffles follow torch's streams; a NumPy
    generator draws its own."""
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(0, 2**63 - 1))
    from backprop import creation, dtypes

    return int(creation.empty((), dtype=dtypes.int64).random_(generator=generator).item())


def seeded_generator(generator: Any = None) -> Any:
    """``generator``, or (None) torch's RandomSampler's: a new CPU generator seeded by a draw of the default one."""
    if generator is not None:
        return generator
    from backprop.creation import Generator

    return Generator().manual_seed(torch_seed())
