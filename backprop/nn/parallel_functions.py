"""torch.nn.parallel's functional pieces of data parallelism: ``scatter``, ``gather``, ``replicate`` and
``parallel_apply`` (``data_parallel`` is in ``nn.parallel``).

Devices are torch's: an int is ``cuda:<int>``; beyond torch, a device string or ``bp.device`` is accepted
too (``"cpu"``), so the same code runs, and can be tested, without GPUs, where torch's CPU build refuses
(its scatter/gather/broadcast kernels are CUDA-only). ``gather``'s ``-1`` is the CPU, as torch's.
Everything is differentiable: chunks, copies and concatenation are recorded ops, so gradients reach the
inputs of ``scatter`` and the parameters of the module ``replicate`` copied.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from backprop import devices
from backprop.autograd.grad_mode import no_grad
from backprop.nn.module import Module
from backprop.tensor import Tensor

__all__ = ["gather", "parallel_apply", "replicate", "scatter", "scatter_kwargs"]


def _target(device: Any) -> Any:
    """torch's device argument: an int is a CUDA index (-1: the CPU), else a device name or object."""
    if isinstance(device, int) and not isinstance(device, bool):
        return devices.device("cpu") if device == -1 else devices.device(f"cuda:{device}")
    return devices.device(device)


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def scatter(inputs: Any, target_gpus: Sequence[Any], dim: int = 0) -> list[Any]:
    """Split every Tensor in ``inputs`` (nested in tuples, lists, dicts) into ``len(target_gpus)`` chunks
    along ``dim`` (``Tensor.chunk``'s sizes), one per device; other objects are repeated by reference.
    Returns one structure per chunk (fewer when a tensor has fewer rows than devices, as torch's)."""
    targets = [_target(d) for d in target_gpus]

    def scatter_map(obj: Any) -> list[Any]:
        if isinstance(obj, Tensor):
            return [c.to(d) for c, d in zip(obj.chunk(len(targets), dim), targets)]
        if _is_namedtuple(obj):
            return [type(obj)(*args) for args in zip(*map(scatter_map, obj))]
        if isinstance(obj, tuple) and len(obj) > 0:
            return list(zip(*map(scatter_map, obj)))
        if isinstance(obj, list) and len(obj) > 0:
            return [list(i) for i in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and len(obj) > 0:
            return [type(obj)(i) for i in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in targets]

    if not targets:
        return []
    return scatter_map(inputs)


def scatter_kwargs(
    inputs: tuple[Any, ...], kwargs: dict[str, Any] | None, target_gpus: Sequence[Any], dim: int = 0
) -> tuple[tuple[Any, ...], tuple[dict[str, Any], ...]]:
    """``scatter`` of the positional and keyword inputs, padded to the same length (torch's)."""
    scattered_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    scattered_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if len(scattered_inputs) < len(scattered_kwargs):
        scattered_inputs.extend(() for _ in range(len(scattered_kwargs) - len(scattered_inputs)))
    elif len(scattered_kwargs) < len(scattered_inputs):
        scattered_kwargs.extend({} for _ in range(len(scattered_inputs) - len(scattered_kwargs)))
    return tuple(scattered_inputs), tuple(scattered_kwargs)


def gather(outputs: Any, target_device: Any, dim: int = 0) -> Any:
    """Concatenate the per-device ``outputs`` along ``dim`` on ``target_device`` (tensors; nested in
    sequences and dicts, matched by position and key); ``None`` outputs give ``None``."""
    target = _target(target_device)

    def gather_map(outs: Sequence[Any]) -> Any:
        out = outs[0]
        if isinstance(out, Tensor):
            from backprop.functions import cat

            parts = [o.to(target) for o in outs]
            if all(p.dim() == 0 for p in parts):  # torch: scalars are stacked as a vector (with a warning)
                parts = [p.reshape(1) for p in parts]
            return cat(parts, dim)
        if out is None:
            return None
        if isinstance(out, dict):
            if not all(len(out) == len(d) for d in outs):
                raise ValueError("All dicts must have the same number of keys")
            return type(out)((k, gather_map([d[k] for d in outs])) for k in out)
        if _is_namedtuple(out):
            return type(out)._make(map(gather_map, zip(*outs)))
        return type(out)(map(gather_map, zip(*outs)))

    return gather_map(list(outputs))


def replicate(network: Module, devices: Sequence[Any], detach: bool = False) -> list[Module]:
    """One copy of ``network`` per device, torch's replicas: the module tree is copied, each parameter
    becomes the original moved to the device (a non-leaf tensor, so gradients flow back to the original
    unless ``detach``), buffers are moved too; nothing is deep-copied."""
    targets = [_target(d) for d in devices]
    if not targets:
        return []
    modules = list(network.modules())
    replicas: list[list[Module]] = []
    for d in targets:
        copies: dict[int, Module] = {}
        for m in modules:
            r = copy.copy(m)
            object.__setattr__(r, "_parameters", dict(m._parameters))
            object.__setattr__(r, "_buffers", dict(m._buffers))
            object.__setattr__(r, "_modules", dict(m._modules))
            copies[id(m)] = r
        for m in modules:
            r = copies[id(m)]
            for name, child in m._modules.items():
                r._modules[name] = None if child is None else copies[id(child)]
            for name, p in m._parameters.items():
                if p is not None:
                    if detach:
                        with no_grad():
                            moved = p.detach().to(d)
                    else:
                        moved = p.to(d)
                        if moved is p:  # (same device: a view, so the replica's tensor is not the Parameter)
                            moved = p.view_as(p)
                    r._parameters[name] = moved
            for name, b in m._buffers.items():
                if b is not None:
                    r._buffers[name] = b.to(d) if b.requires_grad and not detach else b.detach().to(d)
        replicas.append([copies[id(m)] for m in modules])
    return [r[0] for r in replicas]


def parallel_apply(
    modules: Sequence[Module], inputs: Sequence[Any], kwargs_tup: Sequence[dict[str, Any]] | None = None,
    devices: Sequence[Any] | None = None,
) -> list[Any]:  # fmt: skip
    """``modules[i](*inputs[i], **kwargs_tup[i])`` for every i, results in order (torch runs them in threads,
    one per device; here one after another, with the same results). A non-tuple input is one argument."""
    if len(modules) != len(inputs):
        raise AssertionError(f"The number of modules {len(modules)} is not equal to the number of inputs {len(inputs)}")
    if kwargs_tup is None:
        kwargs_tup = [{} for _ in modules]
    elif len(modules) != len(kwargs_tup):
        raise AssertionError(
            f"The number of modules {len(modules)} is not equal to the number of kwargs {len(kwargs_tup)}"
        )
    if devices is not None and len(modules) != len(devices):
        raise AssertionError(
            f"The number of modules {len(modules)} is not equal to the number of devices {len(devices)}"
        )
    results = []
    for module, inp, kwargs in zip(modules, inputs, kwargs_tup):
        args = inp if isinstance(inp, (list, tuple)) else (inp,)
        results.append(module(*args, **kwargs))
    return results
