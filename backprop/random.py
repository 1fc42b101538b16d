"""``bp.random`` (torch.random): seeding and the CPU generator's state, plus ``fork_rng``, which restores
the states of the generators on exit so that code inside it does not disturb the global streams."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from backprop.creation import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from backprop.devices import Device

__all__ = [
    "Generator", "default_generator", "fork_rng", "get_rng_state", "initial_seed", "manual_seed", "seed",
    "set_rng_state",
]  # fmt: skip


@contextlib.contextmanager
def fork_rng(
    devices: Iterable[Any] | None = None, enabled: bool = True, _caller: str = "fork_rng",
    _devices_kw: str = "devices", device_type: str | None = None,
) -> Iterator[None]:  # fmt: skip
    """Inside, draw freely: on exit the CPU generator (and, with CUDA, the generators of ``devices``, by
    default every visible GPU) are back where they were. ``enabled=False`` makes it a no-op."""
    if not enabled:
        yield
        return
    device_type = device_type or "cuda"
    if device_type != "cuda":
        raise RuntimeError(f"{_caller}: device_type {device_type!r} has no generators here (only 'cuda')")
    from backprop import cuda

    gpus: list[Device] = []
    if cuda.is_available():
        ids = range(cuda.device_count()) if devices is None else devices
        if devices is None and cuda.device_count() > 1:
            warnings.warn(
                f"CUDA reports that you have {cuda.device_count()} available devices, and you have used {_caller} "
                f"without explicitly specifying which devices are being used. Pass {_devices_kw}=[...] to silence it.",
                UserWarning,
                stacklevel=3,
            )
        gpus = [Device("cuda", int(getattr(d, "index", d) or 0)) for d in ids]
    cpu_state = get_rng_state()
    gpu_states = [(d, d.backend.get_rng_state()) for d in gpus]
    try:
        yield
    finally:
        set_rng_state(cpu_state)
        for d, state in gpu_states:
            d.backend.set_rng_state(state)
