"""torch.nn.attention.bias: causal attention masks as tensors ``F.scaled_dot_product_attention`` takes.

A ``CausalBias`` is a bool Tensor (True: may attend) holding the materialised (seq_len_q, seq_len_kv)
triangle; torch's is a lazy Tensor subclass that picks a fused kernel, ours is the mask itself, which gives
the same values through our one (math) attention path.
"""

from __future__ import annotations

import warnings
from enum import IntEnum, auto
from typing import Any

from backprop import creation
from backprop.tensor import Tensor

__all__ = ["causal_upper_left", "causal_lower_right", "CausalVariant", "CausalBias"]


class CausalVariant(IntEnum):
    """Where the causal triangle sits: UPPER_LEFT (``tril(ones(L, S))``) or LOWER_RIGHT (``tril(..., S - L)``)."""

    UPPER_LEFT = auto()
    LOWER_RIGHT = auto()


class CausalBias(Tensor):
    """A causal bool mask of shape (seq_len_q, seq_len_kv) for ``scaled_dot_product_attention``'s ``attn_mask``."""

    def __init__(self, variant: CausalVariant, seq_len_q: int, seq_len_kv: int) -> None:
        if not isinstance(variant, CausalVariant):
            raise AssertionError(f"CausalBias: variant must be a CausalVariant, got {type(variant).__name__}")
        self.variant = variant
        self.seq_len_q = seq_len_q
        self.seq_len_kv = seq_len_kv
        if seq_len_q > seq_len_kv and variant == CausalVariant.LOWER_RIGHT:
            warnings.warn(
                "Lower right causal bias will produce NaNs in the output when seq_len_q > seq_len_kv!", stacklevel=2
            )
        mask = self._materialize()
        for slot in ("_data", "device", "_grad", "grad_fn", "_requires_grad", "_vc", "_vbase", "_hooks"):
            setattr(self, slot, getattr(mask, slot))

    def _upper_left(self, device: Any) -> Tensor:
        return creation.ones(self.seq_len_q, self.seq_len_kv, dtype=bool, device=device).tril()

    def _lower_right(self, device: Any) -> Tensor:
        ones = creation.ones(self.seq_len_q, self.seq_len_kv, dtype=bool, device=device)
        return ones.tril(diagonal=self.seq_len_kv - self.seq_len_q)

    def _materialize(self, device: Any = None) -> Tensor:
        """The plain bool mask (on ``device``, the CPU by default)."""
        if self.variant == CausalVariant.UPPER_LEFT:
            return self._upper_left(device)
        return self._lower_right(device)

    def __repr__(self) -> str:
        return self._materialize().__repr__()


def causal_upper_left(*size: int) -> CausalBias:
    """The causal mask aligned to the top left: query i attends to keys 0..i (``is_causal=True``'s mask)."""
    if len(size) != 2:
        raise AssertionError(f"causal_upper_left only supports 2D tensors, got {len(size)} sizes")
    return CausalBias(CausalVariant.UPPER_LEFT, size[0], size[1])


def causal_lower_right(*size: int) -> CausalBias:
    """The causal mask aligned to the bottom right: the last query attends to every key (for decoding with
    a key/value cache longer than the queries)."""
    if len(size) != 2:
        raise AssertionError(f"causal_lower_right only supports 2D tensors, got {len(size)} sizes")
    return CausalBias(CausalVariant.LOWER_RIGHT, size[0], size[1])
