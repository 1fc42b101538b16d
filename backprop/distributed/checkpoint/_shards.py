"""Which tensors of a state dict are one rank's part of a larger one (``get_state_dict``'s sharded values).

torch's sharded state dicts hold ShardedTensor/DTensor values that carry their global shape. Ours hold plain
tensors (the 1-D part of a parameter that FSDP's flat shard covers), so the global shape and the part's offset in
the raveled parameter are recorded here, by tensor identity, for ``save``/``load`` to read.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any

from backprop.tensor import Tensor


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """A tensor is elements ``[start, start + numel)`` of the raveled tensor of ``global_shape``."""

    global_shape: tuple[int, ...]
    start: int


_REGISTRY: dict[int, tuple[Any, ShardInfo]] = {}


def mark(t: Tensor, global_shape: tuple[int, ...], start: int) -> Tensor:
    """Record that ``t`` (1-D) is a part of a tensor of ``global_shape`` starting at ``start``; returns ``t``."""
    key = id(t)

    def forget(_ref: Any) -> None:
        _REGISTRY.pop(key, None)

    _REGISTRY[key] = (weakref.ref(t, forget), ShardInfo(global_shape, start))
    return t


def info(t: Any) -> ShardInfo | None:
    """``t``'s shard record, or None for a whole (replicated) tensor."""
    entry = _REGISTRY.get(id(t))
    if entry is None or entry[0]() is not t:
        return None
    return entry[1]
