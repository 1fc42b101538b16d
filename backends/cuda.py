"""``bp.backends.cuda``: torch.backends.cuda's switches, so scripts that set them run unchanged.

``matmul.allow_tf32`` is torch's alias of ``bp.set_float32_matmul_precision('high')`` (read back through
``bp.get_float32_matmul_precision()``); the reduced-precision-reduction flags and the scaled-dot-product
attention kernel choices (flash, memory-efficient, math, cuDNN) are recorded and read back, and change
nothing: backprop's attention is one composition of matmuls and softmax on every device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "cudnn_sdp_enabled",
    "enable_cudnn_sdp",
    "enable_flash_sdp",
    "enable_math_sdp",
    "enable_mem_efficient_sdp",
    "flash_sdp_enabled",
    "is_built",
    "math_sdp_enabled",
    "matmul",
    "mem_efficient_sdp_enabled",
    "sdp_kernel",
]


class cuBLASModule:  # noqa: N801 - torch's name
    """``matmul``: ``allow_tf32``, ``allow_fp16_reduced_precision_reduction``,
    ``allow_bf16_reduced_precision_reduction``; any other name is an AttributeError, as torch."""

    _reductions = {"allow_fp16_reduced_precision_reduction": True, "allow_bf16_reduced_precision_reduction": True}

    def __getattr__(self, name: str) -> Any:
        if name == "allow_tf32":
            from backprop.runtime import get_float32_matmul_precision

            return get_float32_matmul_precision() != "highest"
        if name in self._reductions:
            return self._reductions[name]
        raise AttributeError(f"Unknown attribute {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "allow_tf32":
            from backprop.runtime import set_float32_matmul_precision

            set_float32_matmul_precision("high" if value else "highest")
        elif name in self._reductions:
            self._reductions[name] = bool(value)
        else:
            raise AttributeError(f"Unknown attribute {name}")


matmul = cuBLASModule()
_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built() -> bool:
    """Whether this backprop can use CUDA at all: True when CuPy can be imported (no device probed)."""
    import importlib.util

    return importlib.util.find_spec("cupy") is not None


def flash_sdp_enabled() -> bool:
    """The recorded flash-attention switch (default True)."""
    return _sdp["flash"]


def enable_flash_sdp(enabled: bool) -> None:
    """Record the flash-attention switch."""
    _sdp["flash"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    """The recorded memory-efficient-attention switch (default True)."""
    return _sdp["mem_efficient"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """Record the memory-efficient-attention switch."""
    _sdp["mem_efficient"] = bool(enabled)


def math_sdp_enabled() -> bool:
    """The recorded math-attention switch (default True)."""
    return _sdp["math"]


def enable_math_sdp(enabled: bool) -> None:
    """Record the math-attention switch."""
    _sdp["math"] = bool(enabled)


def cudnn_sdp_enabled() -> bool:
    """The recorded cuDNN-attention switch (default True)."""
    return _sdp["cudnn"]


def enable_cudnn_sdp(enabled: bool) -> None:
    """Record the cuDNN-attention switch."""
    _sdp["cudnn"] = bool(enabled)


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True, enable_math: bool = True, enable_mem_efficient: bool = True, enable_cudnn: bool = True
) -> Iterator[None]:
    """Set the four attention switches inside the block and restore them after (torch's deprecated
    context manager; ``bp.nn.attention.sdpa_kernel`` where it exists is the newer name)."""
    previous = dict(_sdp)
    _sdp.update(flash=enable_flash, math=enable_math, mem_efficient=enable_mem_efficient, cudnn=enable_cudnn)
    try:
        yield
    finally:
        _sdp.update(previous)
