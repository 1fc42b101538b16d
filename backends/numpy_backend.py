"""NumPy backend: the CPU device. Always available."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    """Arrays are ``numpy.ndarray``; random numbers come from a seeded PCG64 generator."""

    name = "numpy"
    device_type = "cpu"

    def __init__(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64(0))

    def is_available(self) -> bool:
        return True

    @property
    def xp(self) -> Any:
        return np

    @property
    def array_type(self) -> type:
        return np.ndarray

    def from_host(self, array: Any, index: int = 0) -> np.ndarray:
        return np.asarray(array)

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def rng(self, index: int = 0) -> np.random.Generator:
        return self._rng

    def manual_seed(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def overrides(self) -> dict[str, Any]:
        from .numpy_kernels import OVERRIDES

        return OVERRIDES

    def get_rng_state(self) -> dict:
        return {"bit_generator": self._rng.bit_generator.state}

    def set_rng_state(self, state: dict) -> None:
        bg = np.random.PCG64()
        bg.state = state["bit_generator"]
        self._rng = np.random.Generator(bg)
