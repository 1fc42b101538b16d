"""Test-only stand-in for CuPy (``cupy/``, ``cupyx/`` here), and the context that swaps it in.

``use_standin()`` puts this folder first on ``sys.path``, registers a fresh ``CupyBackend`` (which
then imports the stand-in as ``cupy``) for the "cuda" device type, and forgets cached devices and
kernel choices; on exit everything is put back, so no other test sees the stand-in.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _is_cupy(name: str) -> bool:
    return name in ("cupy", "cupyx") or name.startswith(("cupy.", "cupyx."))


def _forget_cuda_state() -> None:
    from backprop import devices, registry

    for key in [k for k in devices.Device._cache if k[0] == "cuda"]:
        del devices.Device._cache[key]
    if devices._auto is not None and devices._auto.type == "cuda":
        devices._auto = None
    if devices._default is not None and devices._default.type == "cuda":
        devices._default = None
    registry.clear_kernel_cache()
    from backprop.backends import cupy_backend

    cupy_backend._PENDING.clear()  # deferred range checks hold arrays of the stand-in
    kernels = sys.modules.get("backprop.backends.cupy_kernels")
    if kernels is not None:
        kernels._BUILT.clear()


@contextlib.contextmanager
def use_standin(device_count: int = 1) -> Iterator[Any]:
    """Within the block, ``device="cuda"`` runs on the NumPy-backed stand-in; yields its ``cupy`` module."""
    from backprop.backends.cupy_backend import CupyBackend

    from backprop import backends

    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if _is_cupy(k)}
    sys.path.insert(0, str(HERE))
    old = backends.get_backend("cuda")
    try:
        import cupy

        assert getattr(cupy, "STANDIN", False), f"imported {cupy.__file__}, not the stand-in"
        cupy.reset_standin(device_count)
        backend = backends.register_backend(CupyBackend(), replace=True)
        _forget_cuda_state()
        assert backend.is_available(), backend.unavailable_reason()
        yield cupy
    finally:
        backends.register_backend(old, replace=True)
        _forget_cuda_state()
        sys.path.remove(str(HERE))
        for k in [k for k in sys.modules if _is_cupy(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
