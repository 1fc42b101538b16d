"""``distribute_module`` (torch.distributed.tensor's; here under ``tensor.parallel``: it makes parameters, so it
sits above ``nn`` in the layering)."""

from __future__ import annotations

from typing import Any

from backprop.distributed.device_mesh import DeviceMesh
from backprop.distributed.fsdp._fully_shard import DTensorParameter
from backprop.distributed.tensor import DTensor, Replicate, distribute_tensor

__all__ = ["distribute_module"]


def distribute_module(
    module: Any,
    device_mesh: DeviceMesh | None = None,
    partition_fn: Any = None,
    input_fn: Any = None,
    output_fn: Any = None,
) -> Any:
    """torch's ``distribute_module``: ``partition_fn(name, submodule, mesh)`` on every submodule (default: its
    own parameters replicated), ``input_fn(module, inputs, mesh)`` as a forward pre-hook and
    ``output_fn(module, outputs, mesh)`` as a forward hook."""
    if device_mesh is None:
        raise NotImplementedError("distribute_module: pass device_mesh (no default mesh here)")
    if getattr(module, "_distribute_module_applied", False):
        raise RuntimeError(
            "distribute_module should only be called once on a module, but it has already been called on this module!"
        )
    for name, sub in list(module.named_modules()):
        if partition_fn is not None:
            partition_fn(name, sub, device_mesh)
            continue
        for p_name, p in list(sub.named_parameters(recurse=False)):
            if not isinstance(p, DTensor):
                d = distribute_tensor(p.detach(), device_mesh, [Replicate()])
                sub.register_parameter(p_name, DTensorParameter.of(d, p.requires_grad))
    if input_fn is not None:
        module.register_forward_pre_hook(lambda mod, inputs: input_fn(mod, inputs, device_mesh))
    if output_fn is not None:
        module.register_forward_hook(lambda mod, inputs, outputs: output_fn(mod, outputs, device_mesh))
    module._distribute_module_applied = True
    return module
