"""``bp.xpu`` (torch.xpu): Intel's XPU backend does not exist here. Device-selection code that asks
``torch.xpu.is_available()`` gets torch's answers without XPU: the queries say no device (False, 0, empty
lists, zero memory), seeding is accepted and ignored, and the calls that need a device raise torch's error."""

from __future__ import annotations

from typing import Any

__all__ = [
    "current_device",
    "device_count",
    "empty_cache",
    "get_arch_list",
    "get_device_capability",
    "get_device_name",
    "get_device_properties",
    "get_rng_state",
    "init",
    "initial_seed",
    "is_available",
    "is_bf16_supported",
    "is_initialized",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "max_memory_reserved",
    "memory_allocated",
    "memory_reserved",
    "seed",
    "seed_all",
    "set_device",
    "set_rng_state",
    "synchronize",
]

_NO_XPU = "Torch not compiled with XPU enabled"  # (torch's text, kept so code matching it still matches)


def is_available() -> bool:
    """False: backprop has no XPU backend."""
    return False


def device_count() -> int:
    """0: no XPU devices."""
    return 0


def is_initialized() -> bool:
    """False: there is no XPU runtime to initialise."""
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: no XPU device."""
    return False


def get_arch_list() -> list[str]:
    """[]: no XPU architectures (torch's answer without XPU)."""
    return []


def manual_seed(seed: int) -> None:
    """Accepted and ignored, as torch does without XPU (there is no XPU generator to seed)."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored (no XPU generators)."""


def seed() -> None:
    """Accepted and ignored (no XPU generator)."""


def seed_all() -> None:
    """Accepted and ignored (no XPU generators)."""


def empty_cache() -> None:
    """Nothing to free: no XPU allocator."""


def memory_allocated(device: Any = None) -> int:
    """0: no XPU memory in use."""
    return 0


def max_memory_allocated(device: Any = None) -> int:
    """0: no XPU memory was ever used."""
    return 0


def memory_reserved(device: Any = None) -> int:
    """0: no XPU memory reserved."""
    return 0


def max_memory_reserved(device: Any = None) -> int:
    """0: no XPU memory was ever reserved."""
    return 0


def current_device() -> int:
    """Raises torch's AssertionError: there is no XPU device."""
    raise AssertionError(_NO_XPU)


def set_device(device: Any) -> None:
    """Raises torch's AssertionError: there is no XPU device."""
    raise AssertionError(_NO_XPU)


def synchronize(device: Any = None) -> None:
    """Raises torch's AssertionError: there is no XPU device."""
    raise AssertionError(_NO_XPU)


def init() -> None:
    """Raises torch's AssertionError: there is no XPU runtime."""
    raise AssertionError(_NO_XPU)


def get_device_name(device: Any = None) -> str:
    """Raises torch's AssertionError: there is no XPU device."""
    raise AssertionError(_NO_XPU)


def get_device_properties(device: Any = None) -> Any:
    """Raises torch's AssertionError: there is no XPU device."""
    raise AssertionError(_NO_XPU)


def get_device_capability(device: Any = None) -> dict[str, Any]:
    """Raises torch's AssertionError: there is no XPU device."""
    raise AssertionError(_NO_XPU)


def get_rng_state(device: Any = "xpu") -> Any:
    """Raises torch's AssertionError: there is no XPU generator."""
    raise AssertionError(_NO_XPU)


def set_rng_state(new_state: Any, device: Any = "xpu") -> None:
    """Raises torch's AssertionError: there is no XPU generator."""
    raise AssertionError(_NO_XPU)


def initial_seed() -> int:
    """Raises torch's AssertionError: there is no XPU generator."""
    raise AssertionError(_NO_XPU)
