"""``backprop.distributed.algorithms`` (torch.distributed.algorithms): ``ddp_comm_hooks``, the communication
hooks of ``DistributedDataParallel.register_comm_hook``."""

from __future__ import annotations

from backprop.distributed.algorithms import ddp_comm_hooks

__all__ = ["ddp_comm_hooks"]
