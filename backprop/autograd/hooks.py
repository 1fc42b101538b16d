"""Gradient hooks on tensors: ``register_hook`` and ``retain_grad`` (torch semantics).

A hook on a leaf lives on the Tensor and sees the gradient before it is accumulated into
``.grad``; a hook on a non-leaf lives on the Node that produced it and sees the gradient of that
output before its backward rule runs. Either may return a replacement gradient.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from backprop.autograd.function import HookHandle, NodePostHook

Hook = Callable[[Any], Any]
__all__ = [
    "HookHandle",
    "NodePostHook",
    "PostAccumulateGradHook",
    "register_hook",
    "register_post_accumulate_grad_hook",
]


def register_hook(tensor: Any, hook: Hook) -> HookHandle:
    """Call ``hook(grad)`` when ``tensor``'s gradient is computed; it may return a new one."""
    if not tensor._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    node = tensor.grad_fn
    if node is None:
        tensor._hooks = (tensor._hooks or []) + [hook]
        return HookHandle(tensor, hook)
    hooks = list(node.hooks or ())
    at = len(hooks)
    while at and getattr(hooks[at - 1], "_retains_grad", False):
        at -= 1  # retain_grad's hook stays last, as torch's: .grad holds what the other hooks made
    hooks.insert(at, hook)
    node.hooks = hooks
    return HookHandle(node, hook)


class PostAccumulateGradHook:
    """A leaf's hook that runs with the leaf itself once its ``.grad`` holds the new gradient
    (``register_post_accumulate_grad_hook``); kept in the leaf's hook list, skipped as a gradient hook."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self.fn = fn


def register_post_accumulate_grad_hook(tensor: Any, hook: Callable[[Any], None]) -> HookHandle:
    """Call ``hook(tensor)`` after a backward pass accumulated into the leaf ``tensor``'s ``.grad``."""
    if not tensor._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if tensor.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    entry = PostAccumulateGradHook(hook)
    tensor._hooks = (tensor._hooks or []) + [entry]
    return HookHandle(tensor, entry)  # type: ignore[arg-type]  # removed by identity, like a hook


# Leaves whose ``grad_dtype`` was set (torch 2.9's attribute): id -> the dtype their gradient is kept in,
# or None for any dtype. Empty in almost every program, so the engine's accumulation tests one falsy dict.
grad_dtypes: dict[int, Any] = {}


def set_grad_dtype(tensor: Any, dtype: Any) -> None:
    """Record ``tensor.grad_dtype = dtype`` (dropped with the tensor)."""
    key = id(tensor)
    if key not in grad_dtypes:
        weakref.finalize(tensor, grad_dtypes.pop, key, None)
    grad_dtypes[key] = dtype


def retains_grad(tensor: Any) -> bool:
    """True when ``retain_grad()`` was called on this non-leaf tensor (always False on leaves)."""
    node = tensor.grad_fn
    return node is not None and any(getattr(h, "_retains_grad", False) for h in node.hooks or ())


def retain_grad(tensor: Any) -> None:
    """Keep ``.grad`` of a non-leaf tensor after backward (a no-op on leaves, as in torch)."""
    if not tensor._requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if tensor.grad_fn is None:
        return
    ref = weakref.ref(tensor)

    def keep(g: Any) -> None:
        t = ref()
        if t is not None:
            t.grad = g.detach() if t._grad is None else t._grad + g.detach()

    if retains_grad(tensor):
        return  # once is enough, as torch
    keep._retains_grad = True  # type: ignore[attr-defined]
    register_hook(tensor, keep)
