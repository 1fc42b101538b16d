"""``torch.autograd.graph``: saved-tensor hooks, multi-gradient hooks, gradient edges, graph nodes.

Saved-tensor hooks cost nothing while unused: ``apply`` records a Node through the module global
``function._record``, which ``saved_tensors_hooks`` rebinds to ``_record_hooked`` while any thread
has a pair of hooks active (and back once none has). A hooked Node keeps the packed values in its
``aux`` and frees its arrays; ``Node.saved`` finds them there on its (rare) freed-values path, so
the backward pass pays nothing either. Differences from torch: ops whose backward uses an
auxiliary value (custom ``autograd.Function``s, the fused ``cross_entropy``, ``ctc_loss``,
``as_strided``) keep their saved tensors as usual, without calling the hooks; in-place changes of a
packed tensor are not caught (torch does not check them either); backprop's ops save what their
own formulas need, which is sometimes not what torch's save (the tests compare counts where they
agree).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, Literal, NamedTuple

from backprop.autograd import engine, function, trace
from backprop.autograd.function import AccumulateGrad, bump_version
from backprop.autograd.grad_mode import trace_users
from backprop.autograd.hooks import HookHandle

__all__ = [
    "GradientEdge",
    "allow_mutation_on_saved_tensors",
    "Node",
    "disable_saved_tensors_hooks",
    "get_gradient_edge",
    "increment_version",
    "register_multi_grad_hook",
    "save_on_cpu",
    "saved_tensors_hooks",
]


# ---------------------------------------------------------------- nodes and edges
class Node(abc.ABC):
    """The base class of every ``grad_fn`` (and of a leaf's ``AccumulateGrad``), for ``isinstance``
    checks as torch's ``torch.autograd.graph.Node``."""

    @abc.abstractmethod
    def name(self) -> str:
        """The node's name, torch's style (``MulBackward0``)."""

    @property
    @abc.abstractmethod
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """Per input: the node its gradient goes to, and that node's output number."""


Node.register(function.Node)
Node.register(AccumulateGrad)


class GradientEdge(NamedTuple):
    """Where the gradient of one tensor is computed: its ``grad_fn`` (or its ``AccumulateGrad``, for
    a leaf) and the output number (always 0 here: every node has one output). Usable as ``inputs`` of
    ``autograd.grad``."""

    node: Any
    output_nr: int
    ownership_token: Any = None

    # the few Tensor attributes ``autograd.grad`` reads of its inputs
    @property
    def grad_fn(self) -> Any:
        """The node, unless it is a leaf's ``AccumulateGrad``."""
        return None if self.node.__class__ is AccumulateGrad else self.node

    @property
    def requires_grad(self) -> bool:
        return True

    @property
    def device(self) -> Any:
        node = self.node
        return node.variable.device if node.__class__ is AccumulateGrad else node.device

    @property
    def shape(self) -> tuple[int, ...]:
        """The leaf's shape; for a node, its output's when it is still alive, else ``()``."""
        node = self.node
        if node.__class__ is AccumulateGrad:
            return tuple(node.variable.shape)
        out = node._out_ref() if node._out_ref is not None else None
        return () if out is None else tuple(out.shape)


def get_gradient_edge(tensor: Any) -> GradientEdge:
    """The gradient edge of ``tensor``: ``grad(loss, get_gradient_edge(x))`` equals ``grad(loss, x)``."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does not require gradients")
    node = tensor.grad_fn
    return GradientEdge(AccumulateGrad(tensor) if node is None else node, 0)


def increment_version(tensor: Any) -> None:
    """Count an in-place change that autograd did not see (a kernel writing through ``data_ptr``):
    ``tensor`` may be one tensor or an iterable of tensors."""
    tensors = (tensor,) if hasattr(tensor, "grad_fn") else tuple(tensor)
    for t in tensors:
        if not hasattr(t, "grad_fn"):
            raise TypeError(f"increment_version: expected a Tensor or an iterable of Tensors, got {type(t).__name__}")
        bump_version(t)


# ---------------------------------------------------------------- saved-tensor hooks
class _HookState(threading.local):
    def __init__(self) -> None:
        self.stack: list[tuple[Callable[[Any], Any], Callable[[Any], Any]]] = []
        self.disabled: str | None = None  # disable_saved_tensors_hooks's message
        self.packing_output = False  # True while pack_hook gets the op's output (FSDP's hooks keep it weakly)


_hook_state = _HookState()
_active = [0]  # hook pairs pushed, on all threads: while non-zero, function._record is the hooked one
_lock = threading.Lock()
_plain_record = function._record


def _push(pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
    if _hook_state.disabled is not None:
        raise RuntimeError(_hook_state.disabled)
    _hook_state.stack.append((pack_hook, unpack_hook))
    with _lock:
        _active[0] += 1
        function._record = _record_hooked


def _pop() -> None:
    _hook_state.stack.pop()
    with _lock:
        _active[0] -= 1
        if not _active[0]:
            function._record = _plain_record


class saved_tensors_hooks:  # noqa: N801  (torch's name)
    """Context manager: every tensor an op saves for backward goes through ``pack_hook(tensor)``, whose
    result is kept instead, and comes back through ``unpack_hook(packed)`` (a Tensor of the same
    shape, dtype and device) when backward needs it. Nestable (the innermost pair wins), per thread."""

    def __init__(self, pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> None:
        _push(self.pack_hook, self.unpack_hook)

    def __exit__(self, *exc: object) -> None:
        _pop()


def _pack_to_cpu(tensor: Any) -> tuple[Any, Any]:
    """The saved tensor's values on the host (the same memory on CPU), without its graph."""
    data = tensor.data
    return tensor.device, data if data.device.type == "cpu" else data.cpu()


def _unpack_from_cpu(packed: tuple[Any, Any]) -> Any:
    device, tensor = packed
    return tensor.to(device)


class save_on_cpu(saved_tensors_hooks):  # noqa: N801  (torch's name)
    """Saved tensors are kept in host memory and copied back to their device for backward (trades
    copies for device memory); on CPU nothing is copied. ``pin_memory`` changes nothing here (no
    page-locked memory, see README)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        super().__init__(_pack_to_cpu, _unpack_from_cpu)
        self.pin_memory = pin_memory
        self.device_type = device_type


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message: str) -> Generator[None, None, None]:
    """Inside, entering ``saved_tensors_hooks`` (or ``save_on_cpu``) raises ``RuntimeError(error_message)``,
    as does entering this while hooks are active: for features that cannot work with them."""
    if _hook_state.stack:
        raise RuntimeError(error_message)
    previous = _hook_state.disabled
    _hook_state.disabled = error_message
    try:
        yield
    finally:
        _hook_state.disabled = previous


class _Packed:
    """What a hooked Node keeps in its ``aux``: the pack hooks' results, handed to ``unpack`` each
    time backward reads ``Node.saved``."""

    __slots__ = ("unpack", "items", "positions", "meta")

    def __init__(self, unpack: Callable[[Any], Any], items: list[Any], positions: list[int], meta: list[Any]) -> None:
        self.unpack = unpack
        self.items = items  # per saved value: the packed object, or the value itself (a scalar, None)
        self.positions = positions  # per saved value: its input position, -1 for the output, -2 not packed
        self.meta = meta  # per packed value: (shape, dtype) of what was packed

    def unpack_saved(self, node: Any) -> tuple[Any, ...]:
        """``node.saved``: arrays, or Tensors tied to the graph while it records a double backward."""
        graph = node.graph_xp is not None
        values = []
        for item, pos, meta in zip(self.items, self.positions, self.meta):
            if pos == -2:
                values.append(item)
                continue
            t = self.unpack(item)
            if not hasattr(t, "grad_fn"):
                raise TypeError(
                    f"Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
                    f"{type(t).__name__} (op {node.op.name!r})"
                )
            if (tuple(t._data.shape), t._data.dtype) != meta or t.device != node.device:
                raise RuntimeError(
                    f"unpack_hook returned a tensor of shape {tuple(t.shape)}, dtype {t.dtype} on {t.device} for op "
                    f"{node.op.name!r}; expected shape {meta[0]}, dtype {meta[1]} on {node.device}, as the tensor "
                    "given to pack_hook"
                )
            values.append(_graph_value(node, t, pos) if graph else t._data)
        return tuple(values)


def _graph_value(node: Any, t: Any, pos: int) -> Any:
    """The unpacked ``t`` for a double backward: its values with the original's place in the graph."""
    if pos == -1:  # the node's own output
        return node.wrap(t._data, node.device, node)
    edge = node.edges[pos]
    if edge is None:  # a constant input
        return node.wrap(t._data, node.device, None)
    if isinstance(edge, function.Node):
        return node.wrap(t._data, node.device, edge)
    if t is edge:  # the leaf itself
        return t
    return t.detach() + (edge - edge.detach())  # a leaf: its values, with the gradient to the leaf


def _record_hooked(
    op: Any,
    attrs: dict[str, Any],
    device: Any,
    edges: list[Any],
    meta: list[Any],
    arrays: list[Any],
    args: tuple[Any, ...],
    versions: list[int],
    aux: Any,
    out: Any,
    result: Any,
) -> Any:
    """``function._record`` while saved-tensor hooks are active on some thread: the plain record, then
    this thread's innermost pack hook on each saved tensor (inputs, then the output)."""
    node = _plain_record(op, attrs, device, edges, meta, arrays, args, versions, aux, out, result)
    stack = _hook_state.stack
    if not stack or op.aux:  # another thread's hooks; or an op whose aux slot is taken (see the docstring)
        return node
    has_out = node._out is not None
    saved = node._saved_tensors
    if not has_out and not any(hasattr(t, "grad_fn") for t in saved):
        return node
    if trace_users[0] and (tr := trace.tracer()) is not None:
        tr.fail("saved-tensor hooks (autograd.graph.saved_tensors_hooks, save_on_cpu) run Python on saved tensors")
    pack, unpack = stack[-1]
    picked = range(len(saved)) if len(op.save_inputs) == len(args) else op.save_inputs  # (as _record picks)
    items: list[Any] = []
    positions: list[int] = []
    metas: list[Any] = []
    _hook_state.stack = []  # what the pack hook itself records is saved plainly, as torch
    try:
        for pos, t in zip(picked, saved):
            if hasattr(t, "grad_fn"):
                metas.append((tuple(t._data.shape), t._data.dtype))
                items.append(pack(t))
                positions.append(pos)
            else:
                metas.append(None)
                items.append(t)
                positions.append(-2)
        if has_out:
            result.grad_fn, result._requires_grad = node, True  # (apply sets them too: pack sees the output whole)
            metas.append((tuple(out.shape), out.dtype))
            _hook_state.packing_output = True
            items.append(pack(result))
            positions.append(-1)
    finally:
        _hook_state.stack = stack
        _hook_state.packing_output = False
    node._saved, node._saved_tensors, node._versions, node._out, node._out_ref = None, (), (), None, None
    node.aux = _Packed(unpack, items, positions, metas)
    return node


class _AllowMutationOnSavedContext:
    """What ``allow_mutation_on_saved_tensors`` yields (torch's ``_AllowMutationOnSavedContext``): open
    while the ``with`` block runs; the tensors saved inside read their copies only while it is."""

    def __init__(self) -> None:
        self.open = True

    def clear(self) -> None:
        self.open = False


_mutation_on = [False]  # (torch's module flag: the context does not nest, on any thread)
_OUTSIDE_MUTATION = (
    "Trying to backward outside of the 'allow_mutation_on_saved_tensors' contextin which the graph was "
    "originally recorded."
)


@contextlib.contextmanager
def allow_mutation_on_saved_tensors() -> Generator[_AllowMutationOnSavedContext, None, None]:
    """Inside, a tensor saved for backward may be changed in place: backward reads it as it was when
    saved. Forward and backward both run inside. Each saved tensor is copied when saved (torch copies
    it when first changed: the same values, more memory here; see README)."""
    ctx = _AllowMutationOnSavedContext()

    def pack(t: Any) -> tuple[_AllowMutationOnSavedContext, Any]:
        return ctx, t.detach().clone()

    def unpack(packed: tuple[_AllowMutationOnSavedContext, Any]) -> Any:
        owner, copy = packed
        if not owner.open:
            raise AssertionError(_OUTSIDE_MUTATION)
        return copy

    if _mutation_on[0]:
        raise RuntimeError("allow_mutation_on_saved_tensors contexts cannot be nested")
    with saved_tensors_hooks(pack, unpack):
        _mutation_on[0] = True
        try:
            yield ctx
        finally:
            ctx.clear()
            _mutation_on[0] = False


# ---------------------------------------------------------------- multi-gradient hooks
class _MultiHandle:
    """Removes every per-tensor hook of one ``register_multi_grad_hook`` (also a context manager)."""

    def __init__(self, handles: tuple[HookHandle, ...]) -> None:
        self.handles = handles
        self._live = True

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        for h in self.handles:
            h.remove()
        if self._live:
            self._live = False
            with _lock:
                engine.graph_task_users[0] -= 1

    def __enter__(self) -> _MultiHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _task() -> list[Any]:
    task = engine.current_task()
    if task is None:
        raise RuntimeError("a multi-grad hook ran outside a backward pass")
    return task


def register_multi_grad_hook(
    tensors: Sequence[Any], fn: Callable[..., None], *, mode: Literal["all", "any"] = "all"
) -> _MultiHandle:
    """Call ``fn`` once per backward pass that reaches ``tensors``: ``mode="all"``: ``fn(grads)`` with
    every tensor's gradient (None for those the pass gave none), when the pass ends (torch calls it
    as soon as the last one is computed); ``mode="any"``: ``fn(grad)`` with the first one computed."""
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not hasattr(t, "grad_fn"):
            raise TypeError(f"register_multi_grad_hook: tensors[{i}] is a {type(t).__name__}; expected a Tensor")
    lock = threading.Lock()
    handles: list[HookHandle] = []
    if mode == "all":
        buffers: dict[int, list[Any]] = {}  # id(graph task) -> the gradients it computed so far
        n = len(tensors)

        def collector(idx: int) -> Callable[[Any], None]:
            def hook(grad: Any) -> None:
                task = _task()
                key = id(task)
                with lock:
                    buffer = buffers.get(key)
                    first = buffer is None
                    if buffer is None:
                        buffer = buffers[key] = [None] * n
                buffer[idx] = grad
                if first:
                    task.append(functools.partial(_finish, buffers, key, fn))

            return hook

        for i, t in enumerate(tensors):
            if not t.requires_grad:
                raise RuntimeError(
                    f"register_multi_grad_hook: tensors[{i}] (shape {tuple(t.shape)}) doesn't require gradient; "
                    "cannot register a hook on it"
                )
        handles = [t.register_hook(collector(i)) for i, t in enumerate(tensors)]
    else:
        ran: set[int] = set()  # graph tasks that called fn already

        def first_only(grad: Any) -> None:
            task = _task()
            key = id(task)
            with lock:
                if key in ran:
                    return
                ran.add(key)
            task.append(functools.partial(ran.discard, key))
            fn(grad)

        handles = [t.register_hook(first_only) for t in tensors if t.requires_grad]
    with _lock:
        engine.graph_task_users[0] += 1
    return _MultiHandle(tuple(handles))


def _finish(buffers: dict[int, list[Any]], key: int, fn: Callable[..., None]) -> None:
    fn(buffers.pop(key))
