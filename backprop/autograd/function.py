"""Op application: run a kernel on a device and, when a gradient is needed, record a Node.

``apply(op, *args, **attrs)`` is the single entry point every differentiable Tensor operation
goes through. Arguments are Tensors or Python scalars (scalars are constants and do not promote
dtypes). Kernels receive the arrays; the Tensor layer never does math.
"""

from __future__ import annotations

import weakref
from typing import Any

from backprop.autograd.grad_mode import anomaly_users, state
from backprop.registry import OpDef

_SCALARS = frozenset({int, float, bool, complex, type(None)})
_new = object.__new__


class Node:
    """One recorded op application, and the ``ctx`` its backward rule receives.

    ``edges[i]`` says where input i's gradient goes: the producing Node, the leaf Tensor that
    accumulates it, or None (constant). ``in_meta[i]`` is input i's (shape, dtype). Only what the
    op declared is kept for backward. Nodes are built by ``apply`` alone, attribute by attribute
    (no ``__init__`` call on the hottest path of the library).
    """

    __slots__ = (
        "op",
        "attrs",
        "device",
        "edges",
        "in_meta",
        "aux",
        "hooks",
        "graph_mode",
        "_saved",
        "_saved_tensors",
        "_versions",
        "_out",
        "_out_ref",
        "_out_version",
        "_wrap",
        "__weakref__",
    )

    # -- what backward rules use ---------------------------------------------------------------
    @property
    def saved(self) -> tuple:
        """The declared inputs, then the output: arrays, or Tensors while building a graph."""
        saved = self._saved
        if saved is None:
            raise RuntimeError(
                f"trying to backward through the graph a second time (op {self.op.name!r}): its "
                "saved values were freed after the first backward. Pass retain_graph=True to the "
                "first backward() if you need to backward through it again."
            )
        for t, v in zip(self._saved_tensors, self._versions):  # inlined: runs once per node
            if t.__class__ not in _SCALARS and t._version != v:
                self._version_error()
        if self._out_ref is not None:
            out = self._out_ref()
            if out is not None and out._version != self._out_version:
                self._version_error()
        if not self.graph_mode:
            return saved if self._out is None else (*saved, self._out)
        items = self._saved_tensors  # the input Tensors themselves (scalars stay scalars)
        if self._out is not None:
            items = (*items, self._wrap(self._out, self.device, self))
        return items

    @property
    def xp(self) -> Any:
        """The array namespace for this backward: the backend's, or a graph-building one."""
        if self.graph_mode:
            from backprop.autograd.tensor_xp import tensor_xp

            return tensor_xp
        return self.device.xp

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return tuple(e is not None for e in self.edges)

    def call(self, op: OpDef, *args: Any, **attrs: Any) -> Any:
        """Run another op inside a backward rule: its kernel, or a recorded op in graph mode."""
        if self.graph_mode:
            return apply(op, *args, **attrs)
        out = op.kernel(self.device.backend)(*args, **attrs)
        return out[0] if op.aux else out

    def _version_error(self) -> None:
        for i, (t, v) in enumerate(zip(self._saved_tensors, self._versions)):
            if t.__class__ not in _SCALARS and t._version != v:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified by an "
                    f"in-place operation: saved input {i} of op {self.op.name!r} (shape "
                    f"{tuple(t.shape)}, dtype {t.dtype}) is at version {t._version}; expected "
                    f"version {v}. Use an out-of-place op, or clone() the tensor before changing it."
                )
        out = self._out_ref()
        raise RuntimeError(
            f"the output of op {self.op.name!r} (shape {tuple(out.shape)}) was modified by "
            f"an in-place operation after it was saved for backward (version "
            f"{out._version}; expected {self._out_version})."
        )

    def name(self) -> str:
        return self.op.name

    def __repr__(self) -> str:
        return f"<{self.op.name}Backward>"


def _describe(args: tuple) -> str:
    parts = []
    for a in args:
        if a.__class__ in _SCALARS:
            parts.append(repr(a))
        else:
            parts.append(f"Tensor(shape={tuple(a.shape)}, dtype={a.dtype}, device={a.device})")
    return ", ".join(parts)


def apply(op: OpDef, *args: Any, **attrs: Any) -> Any:
    """Run ``op`` on Tensors/scalars ``args``; record a Node when any input requires grad."""
    first = None
    device = None
    need_grad = False
    # one pass gathers everything a Node may need (explicit loop: comprehensions cost a call each
    # on Python < 3.12); the no-grad path pays a few appends for it
    arrays = []
    edges = []
    meta = []
    versions = []
    for a in args:
        if a.__class__ in _SCALARS:
            arrays.append(a)
            edges.append(None)
            meta.append(None)
            versions.append(0)
            continue
        if first is None:
            first, device = a, a.device
        elif a.device is not device:
            raise RuntimeError(
                f"{op.name}: expected all tensors on the same device, but found {device} and "
                f"{a.device} ({_describe(args)}). Move them with .to(device) first."
            )
        x = a.data
        arrays.append(x)
        meta.append((x.shape, x.dtype))
        versions.append(a._version)
        if a._requires_grad:
            need_grad = True
            edges.append(a.grad_fn or a)
        else:
            edges.append(None)
    if first is None:
        raise TypeError(f"{op.name}: expected at least one Tensor argument, got ({_describe(args)})")
    if op.check is not None:
        op.check(*arrays, **attrs)
    kernel = op._kernels.get(device.backend.name) or op.kernel(device.backend)
    try:
        if device.index:
            with device.backend.use_device(device.index):
                out = kernel(*arrays, **attrs)
        else:
            out = kernel(*arrays, **attrs)
    except (ValueError, IndexError, TypeError) as exc:
        raise type(exc)(f"{op.name}: {exc} (inputs: {_describe(args)}; attrs: {attrs})") from exc
    aux = None
    if op.special:  # the rare ops that return (y, aux) or move data to another device
        if op.aux:
            out, aux = out
        if op.moves_device:
            device = attrs["device"]
    if out.__class__ is not device.array_type:
        out = device.xp.asarray(out)
    if anomaly_users[0] and state.anomaly:
        _check_finite(op.name, "forward", out, device)

    result = _new(first._plain)  # Tensor, also for Parameter inputs; inlined _wrap: hot path
    result.data = out
    result.device = device
    result.grad = None
    result._version = 0
    result._hooks = None
    if not (need_grad and state.enabled and op.backward is not None):
        result.grad_fn = None
        result._requires_grad = False
        return result

    node = _new(Node)  # inlined __init__: this runs once per recorded op
    node.op = op
    node.attrs = attrs
    node.device = device
    node.edges = tuple(edges)
    node.in_meta = tuple(meta)
    node.aux = aux
    node.hooks = None
    node.graph_mode = False  # (_wrap is set by the engine when it builds a graph)
    node._out = None
    node._out_ref = None
    saves = op.save_inputs
    if saves:
        if len(saves) == len(args):  # saves every input (mul, div, matmul, ...): no picking
            node._saved, node._saved_tensors, node._versions = tuple(arrays), args, tuple(versions)
        else:
            node._saved = tuple([arrays[i] for i in saves])
            node._saved_tensors = tuple([args[i] for i in saves])
            node._versions = tuple([versions[i] for i in saves])
    else:
        node._saved = node._saved_tensors = node._versions = ()
    result.grad_fn = node
    result._requires_grad = True
    if op.save_output:
        node._out = out
        node._out_ref = weakref.ref(result)
        node._out_version = 0
    return result


def _check_finite(name: str, phase: str, array: Any, device: Any) -> None:
    xp = device.xp
    if array.dtype.kind in "fc" and not bool(xp.isfinite(array).all()):
        raise FloatingPointError(
            f"anomaly detected: op {name!r} produced NaN or Inf values in its {phase} "
            f"(output shape {tuple(array.shape)}, dtype {array.dtype})"
        )
