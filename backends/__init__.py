"""Backend discovery: which array library serves which device type.

The built-in backends (NumPy for "cpu", CuPy for "cuda") register here directly; third-party
packages plug in through the ``backprop.backends`` entry-point group, whose entries load either a
``Backend`` subclass or an instance. Nothing is probed or imported until a backend is asked for.
"""

from __future__ import annotations

if __name__ != "backprop.backends":
    # This folder is the subpackage ``backprop.backends`` (backprop/__init__.py loads it by its location
    # in a checkout, the wheel installs it there). Imported as ``backends`` it would be a second
    # registry with its own CPU backend and RNG, so that name is refused.
    raise ImportError(f"import backprop.backends, not {__name__!r}: the backends folder is part of backprop")

from . import cuda, cudnn, mps  # torch.backends' flag modules (recorded, no effect here)
from .base import Backend, BackendUnavailable, UnknownDevice
from .cupy_backend import CupyBackend
from .meta_backend import MetaBackend
from .numpy_backend import NumpyBackend

__all__ = [
    "Backend",
    "BackendUnavailable",
    "cuda",
    "cudnn",
    "mps",
    "available_backends",
    "get_backend",
    "register_backend",
    "registered_backends",
]

# torch.backends' other modules (backends/cpu.py, mkl.py, ...): imported on first attribute access
_LAZY_MODULES = ("cpu", "mha", "mkl", "mkldnn", "nnpack", "openmp", "opt_einsum", "quantized")


def __getattr__(name: str) -> object:
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")  # (importing binds it on the package)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ENTRY_POINT_GROUP = "backprop.backends"

_BACKENDS: dict[str, Backend] = {}
_entry_points_loaded = False


def register_backend(backend: Backend | type[Backend], *, replace: bool = False) -> Backend:
    """Make ``backend`` serve its ``device_type``; returns the registered instance."""
    if isinstance(backend, type):
        backend = backend()
    if not isinstance(backend, Backend):
        raise TypeError(f"register_backend expects a Backend subclass or instance, got {backend!r}")
    if not backend.device_type or not backend.name:
        raise ValueError(f"backend {backend!r} must set both `name` and `device_type`")
    old = _BACKENDS.get(backend.device_type)
    if old is not None and not replace and old is not backend:
        raise ValueError(f"device type {backend.device_type!r} is already served by {old!r}; pass replace=True")
    _BACKENDS[backend.device_type] = backend
    return backend


def unregister_backend(device_type: str) -> None:
    """Remove the backend serving ``device_type`` (used by tests of the plug-in mechanism)."""
    _BACKENDS.pop(device_type, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib import metadata  # (here: importing it costs ~20 ms, and most processes never get here)

    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        backend = obj() if isinstance(obj, type) else obj
        if backend.device_type not in _BACKENDS:
            register_backend(backend)


def get_backend(device_type: str) -> Backend:
    """The backend serving ``device_type``; raises ``UnknownDevice`` (a ValueError and RuntimeError) naming
    the known types."""
    backend = _BACKENDS.get(device_type)
    if backend is None:
        _load_entry_points()
        backend = _BACKENDS.get(device_type)
    if backend is None:
        known = ", ".join(sorted(_BACKENDS))
        raise UnknownDevice(f"unknown device type {device_type!r}; known device types: {known}")
    return backend


def registered_backends() -> dict[str, Backend]:
    """All registered backends by device type, usable or not."""
    _load_entry_points()
    return dict(_BACKENDS)


def available_backends() -> dict[str, Backend]:
    """The registered backends that can run on this machine."""
    return {k: b for k, b in registered_backends().items() if b.is_available()}


register_backend(NumpyBackend())
register_backend(CupyBackend())
register_backend(MetaBackend())
