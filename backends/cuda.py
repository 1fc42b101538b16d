"""``bp.backends.cuda``: torch.backends.cuda's switches, so scripts that set them run unchanged.

``matmul.allow_tf32`` is torch's alias of ``bp.set_float32_matmul_precision('high')`` (read back through
``bp.get_float32_matmul_precision()``); the reduced-precision-reduction flags and the scaled-dot-product
attention kernel choices (flash, memory-efficient, math, cuDNN) are recorded and read back, and change
nothing: backprop's attention is one composition of matmuls and softmax on every device.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from enum import IntEnum
from typing import Any

__all__ = [
    "SDPAParams",
    "SDPBackend",
    "allow_fp16_bf16_reduction_math_sdp",
    "can_use_cudnn_attention",
    "can_use_efficient_attention",
    "can_use_flash_attention",
    "fp16_bf16_reduction_math_sdp_allowed",
    "is_ck_sdpa_available",
    "is_flash_attention_available",
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


class SDPBackend(IntEnum):
    """The backends torch's ``scaled_dot_product_attention`` may pick (its members and values); the same class
    as ``bp.nn.attention.SDPBackend``, as in torch."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4

    def __str__(self) -> str:
        return f"SDPBackend.{self.name}"  # as torch's (an IntEnum would print the number)


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
    context manager, with its FutureWarning; ``bp.nn.attention.sdpa_kernel`` where it exists is the newer name)."""
    warnings.warn(
        "`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will be removed. "
        "Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with updated signature.",
        FutureWarning,
        stacklevel=3,
    )
    previous = dict(_sdp)
    _sdp.update(flash=enable_flash, math=enable_math, mem_efficient=enable_mem_efficient, cudnn=enable_cudnn)
    try:
        yield
    finally:
        _sdp.update(previous)


# ---- fused-attention queries: backprop's attention is one math composition, so no fused kernel ever applies
_NO_FUSED = "backprop has no fused attention kernels: scaled_dot_product_attention is one math composition"
_fp16_bf16_math_reduction = [False]


class SDPAParams:
    """The arguments of one ``scaled_dot_product_attention`` call, for the ``can_use_*`` queries (torch's record)."""

    def __init__(
        self, query: Any, key: Any, value: Any, attn_mask: Any, dropout: float, is_causal: bool,
        enable_gqa: bool = False,
    ) -> None:  # fmt: skip
        self.query, self.key, self.value, self.attn_mask = query, key, value, attn_mask
        self.dropout, self.is_causal, self.enable_gqa = dropout, is_causal, enable_gqa


def _fused_query(params: SDPAParams, debug: bool, kernel: str) -> bool:
    if not isinstance(params, SDPAParams):
        raise TypeError(f"can_use_{kernel}: expected SDPAParams, got {type(params).__name__}")
    if debug:
        import warnings

        warnings.warn(f"{kernel} attention cannot be used: {_NO_FUSED}", UserWarning, stacklevel=3)
    return False


def is_flash_attention_available() -> bool:
    """False: no flash-attention kernel (see ``_NO_FUSED``)."""
    return False


def is_ck_sdpa_available() -> bool:
    """False: no composable-kernel (ROCm) attention."""
    return False


def can_use_flash_attention(params: SDPAParams, debug: bool = False) -> bool:
    """False for every call (``debug`` warns why)."""
    return _fused_query(params, debug, "flash")


def can_use_efficient_attention(params: SDPAParams, debug: bool = False) -> bool:
    """False for every call (``debug`` warns why)."""
    return _fused_query(params, debug, "efficient")


def can_use_cudnn_attention(params: SDPAParams, debug: bool = False) -> bool:
    """False for every call (``debug`` warns why)."""
    return _fused_query(params, debug, "cudnn")


def allow_fp16_bf16_reduction_math_sdp(enabled: bool) -> None:
    """Record torch's switch for reduced-precision reductions in math attention (ours computes half inputs in
    float32 either way)."""
    _fp16_bf16_math_reduction[0] = bool(enabled)


def fp16_bf16_reduction_math_sdp_allowed() -> bool:
    """The switch ``allow_fp16_bf16_reduction_math_sdp`` recorded (False by default, as torch's)."""
    return _fp16_bf16_math_reduction[0]
