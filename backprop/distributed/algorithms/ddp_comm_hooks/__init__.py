"""``backprop.distributed.algorithms.ddp_comm_hooks`` (torch's): ``default_hooks`` and ``debugging_hooks``, with
``DDPCommHookType`` and ``register_ddp_comm_hook`` to register one by name. PowerSGD and quantization hooks
are not provided."""

from __future__ import annotations

import enum
from functools import partial
from typing import Any

from backprop.distributed.algorithms.ddp_comm_hooks import debugging_hooks as debugging
from backprop.distributed.algorithms.ddp_comm_hooks import default_hooks as default

__all__ = ["DDPCommHookType", "register_ddp_comm_hook"]

_member: Any = getattr(enum, "member", lambda x: x)  # (3.11+: a partial is a member only when marked)


def _ddp_comm_hook_wrapper(comm_hook: Any, model: Any, state: Any) -> None:
    model.register_comm_hook(state, comm_hook)


class DDPCommHookType(enum.Enum):
    """The hooks by name: ``DDPCommHookType.ALLREDUCE.value(model=model, state=process_group)`` registers one."""

    ALLREDUCE = _member(partial(_ddp_comm_hook_wrapper, comm_hook=default.allreduce_hook))
    FP16_COMPRESS = _member(partial(_ddp_comm_hook_wrapper, comm_hook=default.fp16_compress_hook))
    BF16_COMPRESS = _member(partial(_ddp_comm_hook_wrapper, comm_hook=default.bf16_compress_hook))
    NOOP = _member(partial(_ddp_comm_hook_wrapper, comm_hook=debugging.noop_hook))


def register_ddp_comm_hook(comm_hook_type: DDPCommHookType, model: Any, state: Any = None) -> None:
    """Register the hook ``comm_hook_type`` names on the ``DistributedDataParallel`` ``model``."""
    comm_hook_type.value(model=model, state=state)
