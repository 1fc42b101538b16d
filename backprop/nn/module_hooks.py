"""Module hooks (torch's forward-pre, forward, full-backward-pre and full-backward hooks, per module and global;
torch's global parameter/buffer/submodule registration hooks).

Forward hooks are plain calls around ``forward``. Backward hooks follow torch's design: the Tensor
inputs and outputs of the call pass through identity ``autograd.Function``s, whose backward rules
see the gradients of the outputs (backward-pre hooks, which may replace them) and then of the inputs
(backward hooks, which get ``grad_input`` and ``grad_output`` and may replace ``grad_input``).
"""

from __future__ import annotations

import itertools
import warnings
from collections import OrderedDict
from typing import Any

from backprop.autograd.custom import Function
from backprop.autograd.grad_mode import state as grad_state

KINDS = ("forward_pre", "forward", "backward_pre", "backward")
_ids = itertools.count()
# hooks of every module (torch.nn.modules.module.register_module_forward_[pre_]hook), run before each
# module's own; ``Module.__call__`` takes the hooked path while either holds one
GLOBAL_FORWARD_PRE: OrderedDict = OrderedDict()
GLOBAL_FORWARD: OrderedDict = OrderedDict()
# every module's full backward (pre-)hooks, run before the module's own, as torch's
GLOBAL_BACKWARD_PRE: OrderedDict = OrderedDict()
GLOBAL_BACKWARD: OrderedDict = OrderedDict()
# hooks on every registration of a parameter, buffer or submodule: ``hook(module, name, value)`` may return a
# replacement value
GLOBAL_PARAMETER_REGISTRATION: OrderedDict = OrderedDict()
GLOBAL_BUFFER_REGISTRATION: OrderedDict = OrderedDict()
GLOBAL_MODULE_REGISTRATION: OrderedDict = OrderedDict()
_NO_HOOKS: dict = {k: OrderedDict() for k in KINDS}


def register_module_forward_pre_hook(hook: Any) -> RemovableHandle:
    """``hook(module, args)`` before the forward of every module (torch's global hook)."""
    return _add_global(GLOBAL_FORWARD_PRE, hook)


def register_module_forward_hook(hook: Any, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """``hook(module, args, output)`` after the forward of every module (torch's global hook)."""
    return _add_global(GLOBAL_FORWARD, hook, with_kwargs=with_kwargs, always_call=always_call)


def register_module_full_backward_pre_hook(hook: Any) -> RemovableHandle:
    """``hook(module, grad_output)`` before the backward of every module (torch's global hook)."""
    return _add_global(GLOBAL_BACKWARD_PRE, hook)


def register_module_full_backward_hook(hook: Any) -> RemovableHandle:
    """``hook(module, grad_input, grad_output)`` after the backward of every module (torch's global hook)."""
    return _add_global(GLOBAL_BACKWARD, hook)


def register_module_parameter_registration_hook(hook: Any) -> RemovableHandle:
    """``hook(module, name, param)`` on every parameter registration; may return a replacement."""
    return _add_global(GLOBAL_PARAMETER_REGISTRATION, hook)


def register_module_buffer_registration_hook(hook: Any) -> RemovableHandle:
    """``hook(module, name, buffer)`` on every buffer registration; may return a replacement."""
    return _add_global(GLOBAL_BUFFER_REGISTRATION, hook)


def register_module_module_registration_hook(hook: Any) -> RemovableHandle:
    """``hook(module, name, submodule)`` on every submodule registration; may return a replacement."""
    return _add_global(GLOBAL_MODULE_REGISTRATION, hook)


def _add_global(table: OrderedDict, hook: Any, **flags: Any) -> RemovableHandle:
    key = next(_ids)
    table[key] = (hook, flags)
    return RemovableHandle(table, key)


def registered(table: OrderedDict, module: Any, name: str, value: Any) -> Any:
    """``value`` after every registration hook of ``table`` (each may replace it)."""
    for hook, _ in list(table.values()):
        out = hook(module, name, value)
        if out is not None:
            value = out
    return value


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` (or leaving a ``with`` block) unregisters it."""

    def __init__(self, table: OrderedDict, key: int) -> None:
        self._table, self.id = table, key

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add(module: Any, kind: str, hook: Any, prepend: bool, **flags: Any) -> RemovableHandle:
    """Register ``hook`` of ``kind`` on ``module`` (first when ``prepend``)."""
    if not callable(hook):
        raise TypeError(f"register_{kind}_hook expects a callable, got {type(hook).__name__}")
    tables = module.__dict__.get("_hooks")
    if tables is None:
        tables = {k: OrderedDict() for k in KINDS}
        object.__setattr__(module, "_hooks", tables)
    key = next(_ids)
    table = tables[kind]
    table[key] = (hook, flags)
    if prepend:
        table.move_to_end(key, last=False)
    return RemovableHandle(table, key)


def hooks_of(module: Any, kind: str) -> OrderedDict:
    """torch's ``module._<kind>_hooks``: a snapshot of the hooks of ``kind``, by handle id, in call order."""
    tables = module.__dict__.get("_hooks") or _NO_HOOKS
    return OrderedDict((key, hook) for key, (hook, _) in tables[kind].items())


def _as_tuple(x: Any) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """``module.forward(*args, **kwargs)`` with its registered hooks around it."""
    tables = module.__dict__.get("_hooks") or _NO_HOOKS
    pre = [*GLOBAL_FORWARD_PRE.values(), *tables["forward_pre"].values()]
    post = [*GLOBAL_FORWARD.values(), *tables["forward"].values()]
    for hook, flags in pre:
        if flags.get("with_kwargs"):
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {result}."
                    )
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = _as_tuple(result)
    backward = (
        bool(tables["backward"] or tables["backward_pre"] or GLOBAL_BACKWARD or GLOBAL_BACKWARD_PRE)
        and grad_state.enabled
    )
    call = _BackwardCall(module) if backward else None
    if call is not None:
        args = call.wrap_inputs(args)
    try:
        out = module.forward(*args, **kwargs)
    except Exception:
        for hook, flags in post:
            if flags.get("always_call"):
                hook(module, args, kwargs, None) if flags.get("with_kwargs") else hook(module, args, None)
        raise
    for hook, flags in post:
        result = hook(module, args, kwargs, out) if flags.get("with_kwargs") else hook(module, args, out)
        if result is not None:
            out = result
    if call is not None:
        out = call.wrap_outputs(out)
    return out


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "grad_fn") and hasattr(x, "_data")


class _BackwardCall:
    """One call's backward-hook state: the gradients of its outputs, kept until its inputs' arrive.

    As torch's, ``grad_input`` has an entry per positional argument (None for a non-tensor, zeros for a
    tensor that does not require grad) and ``grad_output`` one per output of a tuple (None for a non-tensor
    or a tensor that does not require grad)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.grad_output: tuple | None = None
        self.args: tuple = ()
        self.need: list[int] = []  # the positions of the arguments that require grad (they pass _InputHook)
        self.n_outputs = 1
        self.outputs_hooked: list[int] = []  # the positions of the outputs that pass _OutputHook

    def wrap_inputs(self, args: tuple) -> tuple:
        self.args = args
        self.need = [i for i, a in enumerate(args) if _is_tensor(a) and a.requires_grad]
        if not self.need:
            return args
        wrapped = _InputHook.apply(self, *[args[i] for i in self.need])
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        out = list(args)
        for i, w in zip(self.need, wrapped):
            out[i] = w
        return tuple(out)

    def wrap_outputs(self, out: Any) -> Any:
        if _is_tensor(out):
            self.outputs_hooked = [0]
            return _OutputHook.apply(self, out) if out.requires_grad else out
        if isinstance(out, (tuple, list)) and any(_is_tensor(o) and o.requires_grad for o in out):
            self.n_outputs = len(out)
            idx = self.outputs_hooked = [i for i, o in enumerate(out) if _is_tensor(o) and o.requires_grad]
            wrapped = _OutputHook.apply(self, *[out[i] for i in idx])
            wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
            items = list(out)
            for i, w in zip(idx, wrapped):
                items[i] = w
            return type(out)(items) if isinstance(out, tuple) else items
        return out

    def on_grad_output(self, grads: tuple) -> tuple:
        tables = self.module.__dict__.get("_hooks") or _NO_HOOKS
        packed = [None] * self.n_outputs
        for i, g in zip(self.outputs_hooked, grads):
            packed[i] = g
        grad_output = tuple(packed)
        for hook, _ in [*GLOBAL_BACKWARD_PRE.values(), *tables["backward_pre"].values()]:
            result = hook(self.module, grad_output)
            if result is not None:
                result = _as_tuple(result)
                if len(result) != len(grad_output):
                    raise RuntimeError(
                        f"Backward pre hook returned an invalid number of grad_output, got {len(result)}, but "
                        f"expected {len(grad_output)}"
                    )
                grad_output = result
        self.grad_output = grad_output
        if not self.need:  # torch: no input needs a gradient, the hooks run now (with torch's warning)
            warnings.warn(
                "Full backward hook is firing when gradients are computed with respect to module outputs since no "
                "inputs require gradients. See https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                "#torch.nn.Module.register_full_backward_hook for more details.",
                UserWarning,
                stacklevel=2,
            )
            grad_input = (None,) * len(self.args)
            for hook, _ in self._backward_hooks():
                result = hook(self.module, grad_input, self.grad_output)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should always return None or "
                        "None for all gradients."
                    )
        return tuple(grad_output[i] for i in self.outputs_hooked)

    def on_grad_input(self, grads: tuple) -> tuple:
        packed = [a.new_zeros(a.shape) if _is_tensor(a) and not a.requires_grad else None for a in self.args]
        for i, g in zip(self.need, grads):
            packed[i] = g
        grad_input = tuple(packed)
        for hook, _ in self._backward_hooks():
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                result = _as_tuple(result)
                if len(result) != len(grad_input):
                    raise RuntimeError(
                        f"Backward hook returned an invalid number of grad_input, got {len(result)}, but expected "
                        f"{len(grad_input)}"
                    )
                grad_input = result
        return tuple(grad_input[i] for i in self.need)

    def _backward_hooks(self) -> list:
        tables = self.module.__dict__.get("_hooks") or _NO_HOOKS
        return [*GLOBAL_BACKWARD.values(), *tables["backward"].values()]


class _OutputHook(Function):
    """Identity on a call's outputs; its backward hands their gradients to the backward-pre hooks."""

    @staticmethod
    def forward(ctx: Any, call: _BackwardCall, *tensors: Any) -> Any:
        ctx.call = call
        return tensors[0] if len(tensors) == 1 else tensors

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        return (None, *ctx.call.on_grad_output(grads))


class _InputHook(Function):
    """Identity on a call's Tensor inputs; its backward runs the backward hooks on their gradients."""

    @staticmethod
    def forward(ctx: Any, call: _BackwardCall, *tensors: Any) -> Any:
        ctx.call = call
        return tensors[0] if len(tensors) == 1 else tensors

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        return (None, *ctx.call.on_grad_input(grads))
