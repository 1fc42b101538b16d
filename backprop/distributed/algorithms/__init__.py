"""``backprop.distributed.algorithms`` (torch.distributed.algorithms): ``ddp_comm_hooks``, the communication
hooks of ``DistributedDataParallel.register_comm_hook``, and ``join`` (``Join``, ``Joinable``, ``JoinHook``:
training with uneven inputs)."""

from __future__ import annotations

from backprop.distributed.algorithms import ddp_comm_hooks, join
from backprop.distributed.algorithms.join import Join, Joinable, JoinHook

__all__ = ["Join", "JoinHook", "Joinable", "ddp_comm_hooks", "join"]
