"""The backend interface: what the core needs from an array library on one kind of device."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any


class UnknownDevice(ValueError, RuntimeError):
    """A device string that names no device (torch raises RuntimeError; a ValueError too, as we did)."""


class BackendUnavailable(RuntimeError):
    """Raised when a backend is asked for but cannot run here; the message says why."""


class Backend(ABC):
    """One array library on one device type (NumPy on "cpu", CuPy on "cuda", ...).

    Kernels only ever see ``backend.xp`` (the array namespace) and arrays of ``array_type``.
    A backend is probed lazily: nothing is imported or initialised until ``is_available()``
    or ``xp`` is first used.
    """

    #: registry key and the name used for kernel overrides ("numpy", "cupy")
    name: str = ""
    #: the device type it serves ("cpu", "cuda")
    device_type: str = ""

    @abstractmethod
    def is_available(self) -> bool:
        """True when a usable device exists (probed, not just a successful import)."""

    def unavailable_reason(self) -> str:
        """Why ``is_available()`` is False, for error messages (empty when available)."""
        return ""

    @property
    @abstractmethod
    def xp(self) -> Any:
        """The array namespace (numpy-compatible module) kernels are written against."""

    @property
    @abstractmethod
    def array_type(self) -> type:
        """The concrete array class of this backend."""

    def device_count(self) -> int:
        """Number of devices of this type."""
        return 1 if self.is_available() else 0

    @abstractmethod
    def from_host(self, array: Any, index: int = 0) -> Any:
        """Copy a NumPy array (or anything array-like) onto device ``index``."""

    @abstractmethod
    def to_host(self, array: Any) -> Any:
        """Copy a device array to a NumPy array (no copy when already on the host)."""

    def array_device_index(self, array: Any) -> int:
        """The device index an array lives on (0 for single-device backends)."""
        return 0

    def use_device(self, index: int) -> Any:
        """A context manager making device ``index`` current while kernels run."""
        import contextlib

        return contextlib.nullcontext()

    @abstractmethod
    def rng(self, index: int = 0) -> Any:
        """The backend's random generator for device ``index`` (seeded by ``manual_seed``)."""

    @abstractmethod
    def manual_seed(self, seed: int) -> None:
        """Re-seed every generator of this backend."""

    def synchronize(self, index: int | None = None) -> None:  # noqa: B027 - optional
        """Wait until queued device work is done (no-op on synchronous backends)."""

    def overrides(self) -> dict[str, Any]:
        """Kernels replacing the generic ones, keyed by op name (``"name.backward"`` for a VJP).

        An override takes the same arguments as the generic kernel and must return the same
        result; it may defer to the generic kernel for dtypes or layouts it was not written for.
        """
        return {}

    def capture(self, replay: Callable[..., Any]) -> Callable[..., Any] | None:
        """A captured form of a ``bp.compile`` replay function (one launch of the whole recorded step,
        e.g. a CUDA graph), or None to run ``replay`` as it is. The replay's arrays are the same objects
        at every call only where a backend arranges it, so a capture must own its input buffers. None
        here: no backend captures yet (CuPy cannot capture cuBLAS calls, its issue #6290)."""
        return None

    def get_rng_state(self) -> dict:
        """A JSON-serialisable snapshot of the generators, for checkpoints."""
        return {}

    def set_rng_state(self, state: dict) -> None:  # noqa: B027 - optional
        """Restore a snapshot taken by ``get_rng_state``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} device_type={self.device_type!r}>"
