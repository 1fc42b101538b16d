"""``functional_call``: run a module with other tensors in place of its parameters and buffers.

torch.nn.utils.stateless's names. The tensors given by dotted name (``"0.weight"``) are put in the
module's parameter/buffer slots for one call and the originals put back afterwards, even when the call
raises; gradients flow to the given tensors (they are used as they are, not copied). ``bp.func``'s
``functional_call`` (the non-deprecated one, which also takes a tuple of dicts) shares this code.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from backprop.nn.module import Module
from backprop.tensor import Tensor

__all__ = ["functional_call"]

_MISSING: Any = object()  # "no such attribute": swapped in to delete, swapped out when nothing was there


def _all_named_tensors(module: Module) -> dict[str, Tensor]:
    """Every parameter and buffer by dotted name, tied ones under each of their names."""
    named: dict[str, Tensor] = {}
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        prefix = f"{mod_name}." if mod_name else ""
        for store in (mod._parameters, mod._buffers):
            for name, t in store.items():
                if t is not None:
                    named[prefix + name] = t
    return named


def _untie(module: Module, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with each value also under the other names of the tensor it replaces (tied weights);
    different values for two names of one tied tensor are an error, as torch's."""
    by_tensor: dict[int, set[str]] = {}
    for name, t in _all_named_tensors(module).items():
        by_tensor.setdefault(id(t), set()).add(name)
    tied = {name: names for names in by_tensor.values() if len(names) > 1 for name in names}
    untied = dict(given)
    for name in [n for n in given if n in tied]:
        names = tied[name]
        if len({id(given[n]) for n in names if n in given}) > 1:
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(names)}, which are tied. "
                "Consider using tie_weights=False"
            )
        for other in names:
            untied[other] = given[name]
    return untied


def _swap(module: Module, name: str, value: Any) -> Any:
    """Put ``value`` in the slot ``name`` (dotted) and return what was there (``_MISSING`` if nothing)."""
    prefix, _, attr = name.rpartition(".")
    if not attr:
        raise KeyError('tensor name can\'t be empty string ""')
    mod = module.get_submodule(prefix) if prefix else module
    if value is not _MISSING and value is not None and not isinstance(value, Tensor):
        raise TypeError(f"{value} is not an instance of torch.Tensor")  # (torch's words)
    for store in (mod._parameters, mod._buffers):
        if attr in store:
            orig = store[attr]
            if value is _MISSING:
                del store[attr]
            else:
                store[attr] = value  # a plain tensor in a parameter's slot, as torch (no Parameter wrap)
            return orig
    orig = getattr(mod, attr, _MISSING)
    if orig is not _MISSING and orig is not None and not isinstance(orig, Tensor):
        raise TypeError(f"attribute `{attr}`: {orig} is not an instance of torch.Tensor")
    if value is not _MISSING:
        setattr(mod, attr, value)
    elif orig is not _MISSING:
        delattr(mod, attr)
    return orig


@contextlib.contextmanager
def reparametrize_module(
    module: Module, parameters_and_buffers: dict[str, Any], *, tie_weights: bool = False, strict: bool = False
) -> Iterator[None]:
    """Within the block ``module`` uses the given tensors by dotted name; afterwards its own come back
    and the values the module left in the replaced slots are written back into the dict (torch's rule
    for a module that reassigns a buffer during its forward)."""
    given = _untie(module, parameters_and_buffers) if tie_weights else dict(parameters_and_buffers)
    if strict:
        known = set(_all_named_tensors(module))
        unexpected = sorted(set(given) - known)
        missing = sorted(known - set(given))
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs))
    originals: list[tuple[str, Any]] = []
    try:
        for name, value in given.items():
            originals.append((name, _swap(module, name, value)))
        yield
    finally:
        current = {}
        for name, orig in reversed(originals):
            current[name] = _swap(module, name, orig)
        for name in parameters_and_buffers:
            if name in current and current[name] is not _MISSING:
                parameters_and_buffers[name] = current[name]


def _functional_call(
    module: Module,
    parameters_and_buffers: dict[str, Any],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """``module(*args, **kwargs)`` with ``parameters_and_buffers`` in place of its own (no warning)."""
    if not isinstance(module, Module):  # (torch's error: its first use of the module)
        raise AttributeError(f"{type(module).__name__!r} object has no attribute 'named_parameters'")
    if type(module).__name__ == "DataParallel":
        raise RuntimeError("The stateless API can't be used with nn.DataParallel module")
    if not isinstance(parameters_and_buffers, dict):  # (torch's error: its first use of the dict)
        raise AttributeError(f"{type(parameters_and_buffers).__name__!r} object has no attribute 'keys'")
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights, strict=strict):
        return module(*args, **(kwargs or {}))


def functional_call(
    module: Module,
    parameters_and_buffers: dict[str, Any],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Deprecated form of ``bp.func.functional_call`` (warns, as torch's): ``module(*args, **kwargs)``
    with the tensors of ``parameters_and_buffers`` (by dotted name) in place of its own for the call."""
    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed in a "
        "future version of PyTorch. Please use `torch.func.functional_call` instead which is a drop-in replacement.",
        FutureWarning,
        stacklevel=2,
    )
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
