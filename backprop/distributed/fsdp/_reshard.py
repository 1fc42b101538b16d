"""FULL_SHARD's (and FSDP2's reshard_after_forward's) saved-tensor tokens: the gathered parameters that ops save
in a unit's forward are kept as their places, and backward gathers them again (``unit._regather()``)."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Generator
from typing import Any

from backprop.autograd import engine
from backprop.autograd import graph as _graph
from backprop.autograd.function import modified_error, version_of
from backprop.ops.linalg import _address, strided_view
from backprop.tensor import Tensor

# ------------------------------------------------------------------------------------------ FULL_SHARD's reshard
# While a FULL_SHARD unit (not the root, as torch's) runs its forward, the tensors that ops save for backward go
# through these saved-tensor hooks: one that is (a view of) the unit's gathered parameters becomes a _ParamToken
# (where in the flat parameter it is), so after forward nothing holds the gathered memory; the first token
# unpacked in backward all-gathers the flat parameter again, and _Unshard.backward (the unit's last node) drops
# it. Nested units share one pair of hooks: _live maps each gathering unit's root tensor (what its parameter
# views are views of) to the unit, while its forward runs.
_live: dict[int, tuple[Tensor, Any]] = {}


class _ParamToken:
    """A saved (view of a) parameter of ``unit``: its place in the flat parameter, in elements."""

    __slots__ = ("unit", "offset", "shape", "strides")

    def __init__(self, unit: Any, offset: int, shape: tuple, strides: tuple) -> None:
        self.unit, self.offset, self.shape, self.strides = unit, offset, shape, strides

    def unpack(self) -> Tensor:
        full, device = self.unit._regather()
        return Tensor._wrap(strided_view(device.xp, full, self.shape, self.strides, self.offset), device, None)


class _Kept:
    """Any other saved tensor, kept as the engine keeps it without hooks, with the check of its version counter
    (in-place changes since forward): an input as itself, the op's output weakly (it must not keep its own node
    alive) with its values."""

    __slots__ = ("tensor", "ref", "data", "device", "version")

    def __init__(self, t: Tensor) -> None:
        self.version = version_of(t)
        if _graph._hook_state.packing_output:
            self.tensor, self.ref, self.data, self.device = None, weakref.ref(t), t._data, t.device
        else:
            self.tensor = t

    def unpack(self) -> Tensor:
        t = self.tensor
        if t is None:
            t = self.ref()
            if t is None:  # (gone, as the engine's weak reference to an output may be)
                return Tensor._wrap(self.data, self.device, None)
        if version_of(t) != self.version:
            raise modified_error(t, self.version, t.grad_fn)
        return t


def _pack(t: Tensor) -> Any:
    base = t._vbase
    entry = _live.get(id(base)) if base is not None else None
    if entry is None or entry[0] is not base:
        entry = _live.get(id(t))
        if entry is not None and entry[0] is not t:
            entry = None
    if entry is not None:
        root, unit = entry
        a, r = t._data, root._data
        item = a.dtype.itemsize
        offset = _address(a) - _address(r)
        if a.dtype == r.dtype and offset >= 0 and not offset % item and all(s >= 0 for s in a.strides):
            return _ParamToken(unit, offset // item, tuple(a.shape), tuple(s // item for s in a.strides))
    return _Kept(t)


def _unpack(packed: Any) -> Tensor:
    return packed.unpack()


_HOOKS = (_pack, _unpack)


@contextlib.contextmanager
def _saving_tokens(root: Tensor, unit: Any) -> Generator[None, None, None]:
    """Saved views of ``root`` (the unit's gathered parameters) become tokens inside; others are kept as usual.
    Where other saved-tensor hooks are active (the user's, checkpointing's) or disabled, nothing changes: the
    unit keeps its gathered parameters until backward, as SHARD_GRAD_OP."""
    state = _graph._hook_state
    stack = state.stack
    outermost = not stack
    if (stack and stack[-1] != _HOOKS) or state.disabled is not None:
        yield
        return
    _live[id(root)] = (root, unit)
    hooks = _graph.saved_tensors_hooks(*_HOOKS)
    if outermost:
        hooks.__enter__()
    try:
        yield
    finally:
        if outermost:
            hooks.__exit__()
        del _live[id(root)]


def _release_task_user() -> None:
    engine.graph_task_users[0] -= 1
