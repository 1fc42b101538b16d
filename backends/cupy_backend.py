"""CuPy backend: the "cuda" device. CuPy is imported only when this backend is first probed."""

from __future__ import annotations

import contextlib
from typing import Any

from .base import Backend, BackendUnavailable


class CupyBackend(Backend):
    """Arrays are ``cupy.ndarray`` on an NVIDIA GPU.

    ``is_available()`` asks the CUDA runtime for a device count: a CuPy that imports on a machine
    without a driver or GPU is *not* available, and the original error is kept for the message.
    """

    name = "cupy"
    device_type = "cuda"

    def __init__(self) -> None:
        self._cupy: Any = None
        self._available: bool | None = None
        self._reason = ""
        self._rngs: dict[int, Any] = {}
        self._seed = 0

    # -- probing -------------------------------------------------------------------------------
    def _probe(self) -> bool:
        if self._available is not None:
            return self._available
        try:
            import cupy
        except Exception as exc:  # ImportError, or a broken install raising anything else
            self._available, self._reason = False, f"CuPy is not installed or failed to import ({exc!r})"
            return False
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError: no driver, insufficient driver, ...
            self._available = False
            self._reason = f"CuPy imported but the CUDA runtime failed: {exc!r}"
            return False
        if count < 1:
            self._available, self._reason = False, "CuPy imported but no CUDA device was found"
            return False
        self._cupy, self._available = cupy, True
        return True

    def is_available(self) -> bool:
        return self._probe()

    def unavailable_reason(self) -> str:
        return "" if self._probe() else self._reason

    def _require(self) -> Any:
        if not self._probe():
            raise BackendUnavailable(f"device 'cuda' is not usable: {self._reason}")
        return self._cupy

    # -- arrays --------------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        return self._require()

    @property
    def array_type(self) -> type:
        return self._require().ndarray

    def device_count(self) -> int:
        return self._cupy.cuda.runtime.getDeviceCount() if self._probe() else 0

    def from_host(self, array: Any, index: int = 0) -> Any:
        cp = self._require()
        with cp.cuda.Device(index):
            return cp.asarray(array)

    def to_host(self, array: Any) -> Any:
        return self._require().asnumpy(array)

    def array_device_index(self, array: Any) -> int:
        return array.device.id

    def use_device(self, index: int) -> Any:
        if index == 0 and self._require().cuda.runtime.getDevice() == 0:
            return contextlib.nullcontext()
        return self._cupy.cuda.Device(index)

    # -- randomness and sync -------------------------------------------------------------------
    def rng(self, index: int = 0) -> Any:
        gen = self._rngs.get(index)
        if gen is None:
            cp = self._require()
            with cp.cuda.Device(index):
                gen = cp.random.default_rng(self._seed + index)
            self._rngs[index] = gen
        return gen

    def manual_seed(self, seed: int) -> None:
        self._seed = seed
        self._rngs.clear()

    def synchronize(self, index: int | None = None) -> None:
        cp = self._require()
        if index is None:
            cp.cuda.Device().synchronize()
        else:
            with cp.cuda.Device(index):
                cp.cuda.Device(index).synchronize()

    # -- kernels that differ from the generic array-API ones -----------------------------------
    def overrides(self) -> dict[str, Any]:
        from . import cupy_kernels

        return cupy_kernels.OVERRIDES
