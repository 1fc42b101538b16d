"""Gradient hooks on tensors: ``register_hook`` and ``retain_grad`` (torch semantics).

A hook on a leaf lives on the Tensor and sees the gradient before it is accumulated into
``.grad``; a hook on a non-leaf lives on the Node that produced it and sees the gradient of that
output before its backward rule runs. Either may return a replacement gradient.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from backprop.autograd.function import Node

Hook = Callable[[Any], Any]


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, owner: Any, hook: Hook) -> None:
        self._owner, self._hook = weakref.ref(owner), hook

    def remove(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        attr = "hooks" if isinstance(owner, Node) else "_hooks"
        hooks = getattr(owner, attr) or []
        setattr(owner, attr, [h for h in hooks if h is not self._hook] or None)


def register_hook(tensor: Any, hook: Hook) -> HookHandle:
    """Call ``hook(grad)`` when ``tensor``'s gradient is computed; it may return a new one."""
    if not tensor._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    node = tensor.grad_fn
    if node is None:
        tensor._hooks = (tensor._hooks or []) + [hook]
        return HookHandle(tensor, hook)
    node.hooks = (node.hooks or []) + [hook]
    return HookHandle(node, hook)


def retain_grad(tensor: Any) -> None:
    """Keep ``.grad`` of a non-leaf tensor after backward (a no-op on leaves, as in torch)."""
    if tensor.grad_fn is None:
        return
    ref = weakref.ref(tensor)

    def keep(g: Any) -> None:
        t = ref()
        if t is not None:
            t.grad = g.detach() if t.grad is None else t.grad + g.detach()

    register_hook(tensor, keep)
