"""Op application: run a kernel on a device and, when a gradient is needed, record a Node.

``apply(op, *args, **attrs)`` is the single entry point every Tensor operation goes through, and
``apply_(op, target, *args, **attrs)`` its in-place twin. Arguments are Tensors or Python scalars
(scalars are constants). Kernels receive the arrays; the Tensor layer never does math.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd import trace
from backprop.autograd.autocast_state import autocast_inputs
from backprop.autograd.grad_mode import anomaly_users, autocast_users, quiet_floats, state, trace_users
from backprop.autograd.node_names import name_node, op_backward_name, torch_name
from backprop.ops import conversion
from backprop.ops._util import DTypeError, KernelIndexError, ShapeError, broadcast_shape
from backprop.registry import OpDef

if TYPE_CHECKING:
    from backprop.devices import Device

_SCALARS = frozenset({int, float, bool, complex, type(None)})
_new = object.__new__


class Node:
    """One recorded op application; it is also the ``Ctx`` its backward rule receives.

    The public properties (``saved``, ``aux``, ``attrs``, ``needs_input_grad``, ``input_shapes``,
    ``xp``, ``create_graph``, ``aux_consumable``, ``gy_consumable``, ``call``) are the contract of
    ``backprop.registry.Ctx``; the rest is the engine's. Nodes are built by ``apply`` alone, slot by
    slot (no ``__init__`` call on the hottest path of the library).
    """

    __slots__ = (
        "op",
        "_attrs",
        "device",
        "edges",
        "in_meta",
        "aux",
        "hooks",
        "graph_xp",
        "wrap",
        "_saved",
        "_saved_tensors",
        "_versions",
        "_out",
        "_out_ref",
        "_out_version",
        "_consume",
        "__weakref__",
    )

    op: OpDef  # the op applied
    _attrs: dict[str, Any]  # its keyword attributes, as passed
    device: Device  # where the output lives
    edges: tuple[Any, ...]  # per input: the producing Node, the leaf Tensor, or None (constant)
    in_meta: tuple[tuple[tuple[int, ...], Any] | None, ...]  # per input: (shape, dtype), None for scalars
    aux: Any  # the forward's auxiliary value (aux ops), freed after backward
    hooks: list[Callable[..., Any]] | None  # gradient hooks on the output (register_hook)
    graph_xp: Any  # None, or the Tensor namespace while the engine records this backward
    wrap: Callable[..., Any]  # Tensor constructor for the saved output in graph mode (set by the engine)
    _saved: tuple[Any, ...] | None  # saved input arrays; None once freed
    _saved_tensors: tuple[Any, ...]  # the saved inputs as Tensors (version checks, graph mode)
    _versions: tuple[int, ...]  # their versions when saved
    _out: Any  # the saved output array (save_output ops)
    _out_ref: weakref.ref[Any] | None  # the output Tensor, for its version check
    _out_version: int
    _consume: bool  # set by the engine on nodes with aux: this backward is the last use of it

    # -- the Ctx contract ----------------------------------------------------------------------
    @property
    def saved(self) -> tuple[Any, ...]:
        """The declared inputs, then the output: arrays, or Tensors while building a graph."""
        saved = self._saved
        if saved is None:  # freed, or packed by saved-tensor hooks (autograd.graph): then in aux
            unpack = getattr(self.aux, "unpack_saved", None)
            if unpack is not None:
                return unpack(self)
            raise RuntimeError(SECOND_BACKWARD)
        for t, v in zip(self._saved_tensors, self._versions):  # inlined: runs once per node
            if t.__class__ not in _SCALARS and (t._vc if t._vbase is None else t._vbase._vc) != v:
                self._version_error()
        if self._out_ref is not None:
            out = self._out_ref()
            if out is not None and version_of(out) != self._out_version:
                self._version_error()
        if self.graph_xp is None:
            return saved if self._out is None else (*saved, self._out)
        items = self._saved_tensors  # the input Tensors themselves (scalars stay scalars)
        if self._out is not None:
            items = (*items, self.wrap(self._out, self.device, self))
        return items

    @property
    def attrs(self) -> Mapping[str, Any]:
        """The forward's attributes with the op's declared defaults filled in."""
        defaults = self.op.defaults
        return {**defaults, **self._attrs} if defaults else self._attrs

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        e = self.edges
        n = len(e)
        if n == 2:  # tuple displays for the common arities: this runs once per backward rule
            return (e[0] is not None, e[1] is not None)
        if n == 1:
            return (e[0] is not None,)
        return tuple([x is not None for x in e])

    @property
    def input_shapes(self) -> tuple[tuple[int, ...] | None, ...]:
        return tuple([None if m is None else m[0] for m in self.in_meta])

    @property
    def xp(self) -> Any:
        """The array namespace for this backward: the backend's, or a graph-building one."""
        gxp = self.graph_xp
        return self.device.xp if gxp is None else gxp

    @property
    def create_graph(self) -> bool:
        return self.graph_xp is not None

    @property
    def aux_consumable(self) -> bool:
        return getattr(self, "_consume", False) and self.graph_xp is None

    gy_consumable = False  # (eager gradients may be shared: only a replay proves otherwise)

    def call(self, op: OpDef, *args: Any, **attrs: Any) -> Any:
        """Run another op inside a backward rule: its kernel, or a recorded op in graph mode."""
        if self.graph_xp is not None:
            return apply(op, *args, **attrs)
        out = op.kernel(self.device.backend)(*args, **attrs)
        return out[0] if op.aux else out

    # -- engine side ---------------------------------------------------------------------------
    def release(self) -> None:
        """Free what was saved; a second backward through this node then names ``retain_graph``."""
        self._saved = None
        self._saved_tensors = ()
        self._out = None
        self.aux = None

    def _version_error(self) -> None:
        for t, v in zip(self._saved_tensors, self._versions):
            if t.__class__ not in _SCALARS and version_of(t) != v:
                raise modified_error(t, v, t.grad_fn)
        out = self._out_ref() if self._out_ref is not None else None
        if out is None:
            raise RuntimeError(f"the output of op {self.op.name!r} was modified by an in-place operation")
        raise modified_error(out, self._out_version, self)  # (a saved output names its own node, as torch's)

    def name(self) -> str:
        """torch's style of name: ``MulBackward0`` for the op ``mul``, ``MyFnBackward`` for a custom
        ``autograd.Function`` (whose op carries the class's name)."""
        if self.op.name[:1].isupper():
            return op_backward_name(self.op.name)
        return torch_name(self) or op_backward_name(self.op.name)

    @property
    def array_xp(self) -> Any:
        return self.device.xp

    def graph_input(self, i: int) -> Any:
        edge = self.edges[i]
        if edge is None or not isinstance(edge, Node):
            return edge  # a leaf tensor (or None: a constant)
        meta = self.in_meta[i]
        assert meta is not None  # (a node's input is a tensor)
        shape, dtype = meta
        xp = self.device.xp
        return self.wrap(xp.broadcast_to(xp.zeros((), dtype=dtype), shape), self.device, edge)

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """Per input: (the node that produced it, 0), an ``AccumulateGrad`` for a leaf that requires
        grad, or (None, 0) for a constant, as torch's (graph-drawing tools walk these)."""
        return tuple((e if e is None or isinstance(e, Node) else AccumulateGrad.of(e), 0) for e in self.edges)

    def register_prehook(self, fn: Callable[[tuple], Any]) -> Any:
        """torch's ``grad_fn.register_prehook``: ``fn(grad_outputs)`` before this node's backward; it may
        return a replacement tuple."""

        def pre(g: Any) -> Any:
            out = fn((g,))
            return None if out is None else out[0]

        self.hooks = (self.hooks or []) + [pre]
        return HookHandle(self, pre)

    def register_hook(self, fn: Callable[[tuple, tuple], Any]) -> Any:
        """torch's ``grad_fn.register_hook``: ``fn(grad_inputs, grad_outputs)`` after this node's backward;
        it may return replacement ``grad_inputs``."""
        entry = NodePostHook(fn)
        hooks: list[Any] = [*(self.hooks or []), entry]
        self.hooks = hooks
        return HookHandle(self, entry)  # type: ignore[arg-type]  # removed by identity, like a hook

    @property
    def metadata(self) -> dict:
        """torch's ``grad_fn.metadata``: a dict kept with the node for the user."""
        meta = _metadata.get(self)
        if meta is None:
            meta = _metadata[self] = {}
        return meta

    def __repr__(self) -> str:
        return f"<{self.name().removeprefix('torch::autograd::')} object at {id(self):#x}>"

    @staticmethod
    def _class_named(name: str, custom: bool = False) -> type[Node]:
        """The subclass of Node named ``name`` (``MulBackward0``; ``custom``: a custom Function's, which
        reads the Function's ctx), made on first use: ``type(y.grad_fn).__name__`` is torch's name."""
        classes = _function_classes if custom else _classes
        cls = classes.get(name)
        if cls is None:
            base = BackwardCFunction if custom else Node
            cls = classes[name] = type(name, (base,), {"__slots__": (), "__doc__": base.__doc__})
        return cls


class BackwardCFunction(Node):
    """The base of a custom ``autograd.Function``'s node classes: as torch's, where ``grad_fn`` is the
    ``ctx`` itself, what the forward put on ``ctx`` (``saved_tensors``, its own attributes) reads
    through the node."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            ctx = object.__getattribute__(self, "_attrs")["call"].ctx  # (no recursion through an unset slot)
        except (AttributeError, KeyError):
            ctx = None
        if ctx is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        try:
            return getattr(ctx, name)
        except AttributeError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None


_classes: dict[str, type[Node]] = {}  # the node classes of registered ops, by name
_function_classes: dict[str, type[Node]] = {}  # of custom Functions
_metadata: weakref.WeakKeyDictionary[Node, dict] = weakref.WeakKeyDictionary()


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, owner: Any, hook: Callable[[Any], Any]) -> None:
        self._owner, self._hook = weakref.ref(owner), hook

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        attr = "hooks" if isinstance(owner, Node) else "_hooks"
        hooks = getattr(owner, attr) or []
        setattr(owner, attr, [h for h in hooks if h is not self._hook] or None)


class NodePostHook:
    """A Node's hook that runs after its backward rule with (grad_inputs, grad_outputs) (``grad_fn.register_hook``);
    kept in the node's hook list, skipped as a gradient pre-hook."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn


class AccumulateGradHook:
    """A hook on a leaf's ``AccumulateGrad`` (``pre``: before its ``.grad`` takes the gradient, else after);
    kept in the leaf's hook list, skipped as a gradient hook."""

    __slots__ = ("fn", "pre")

    def __init__(self, fn: Callable[..., Any], pre: bool) -> None:
        self.fn, self.pre = fn, pre


class AccumulateGrad:
    """The end of a path at a leaf tensor (``next_functions`` of the nodes that read it)."""

    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    @classmethod
    def of(cls, leaf: Any) -> AccumulateGrad:
        """The leaf's one AccumulateGrad while anything holds it (torch's ``grad_accumulator``)."""
        acc = _accumulators.get(id(leaf))
        if acc is None or acc.variable is not leaf:
            acc = _accumulators[id(leaf)] = cls(leaf)
        return acc

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # torch's name, which graph-walking code compares against

    def register_prehook(self, fn: Callable[[tuple], Any]) -> HookHandle:
        """torch's ``AccumulateGrad.register_prehook``: ``fn((grad,))`` before the leaf's ``.grad`` takes
        ``grad`` (after the leaf's tensor hooks); it may return a replacement ``(grad,)``. Kept on the leaf."""
        return self._add(AccumulateGradHook(fn, True))

    def register_hook(self, fn: Callable[[tuple, tuple], Any]) -> HookHandle:
        """torch's ``AccumulateGrad.register_hook``: ``fn((), (grad,))`` once the leaf's ``.grad`` took
        ``grad`` (the gradient hooks of DDP-style code, ``p.expand_as(p).grad_fn.next_functions[0][0]``)."""
        return self._add(AccumulateGradHook(fn, False))

    def _add(self, entry: AccumulateGradHook) -> HookHandle:
        leaf = self.variable
        leaf._hooks = (leaf._hooks or []) + [entry]  # (on the leaf: the hook outlives this object, as torch's)
        return HookHandle(leaf, entry)  # type: ignore[arg-type]  # removed by identity, like a hook

    @property
    def next_functions(self) -> tuple:
        return ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


_accumulators: weakref.WeakValueDictionary[int, AccumulateGrad] = weakref.WeakValueDictionary()

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have already "
    "been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a second time or if you need to access "
    "saved tensors after calling backward."
)


def modified_error(t: Any, saved_version: int, node: Any) -> RuntimeError:
    """torch's error for a saved tensor changed in place: ``[torch.FloatTensor [3]], which is output 0 of
    Exp, is at version 1; expected version 0 instead`` (``node``: the tensor's producer, None for a leaf)."""
    which = ""
    if node is not None:
        stem, _, overload = node.name().rpartition("Backward")  # (torch's label: ``Exp``, ``T1`` for ``TBackward1``)
        label = (
            stem + overload.lstrip("0")
            if stem and (overload.isdigit() or not overload)
            else stem + "Backward" + overload
        )
        which = f", which is output 0 of {label if stem else overload},"
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{t.type()} [{', '.join(map(str, t.shape))}]]{which} is at version {version_of(t)}; expected version "
        f"{saved_version} instead. Hint: enable anomaly detection to find the operation that failed to compute its "
        "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False)."  # (torch's text, as t.type()'s)
    )


def version_of(t: Any) -> int:
    """``t``'s version: its base's for a view (a view and its base share one counter, as in torch)."""
    return t._vc if t._vbase is None else t._vbase._vc


def bump_version(t: Any) -> None:
    """Count an in-place change of ``t`` (on its base's counter when it is a view)."""
    if t._vbase is None:
        t._vc += 1
    else:
        t._vbase._vc += 1


class OpValueError(ValueError, RuntimeError):
    """A kernel rejected its inputs (shapes that do not broadcast, bad values): a ``ValueError`` that
    is also the ``RuntimeError`` torch raises for the same call."""


class OpIndexError(IndexError, RuntimeError):
    """An index out of range inside a kernel (torch raises ``IndexError``/``RuntimeError``)."""


class SparseKernelError(NotImplementedError):
    """A dense kernel touched a sparse tensor's data (``backprop.sparse``): torch's error for the sparse backend.
    ``apply`` first offers the op to the sparse tensor (``_sparse_op``), so ``bp.sqrt(s)`` or ``F.relu(s)`` runs
    the sparse tensor's own ``sqrt``/``relu`` as ``s.sqrt()`` does."""


def _sparse_op(op: OpDef, args: Sequence[Any], attrs: Mapping[str, Any], exc: SparseKernelError) -> Any:
    """``op`` on a sparse first argument by its own method (``sparse_op``); torch's error when it has none."""
    run = getattr(args[0], "sparse_op", None)
    out = NotImplemented if run is None else run(op.name, args[1:], attrs)
    if out is NotImplemented:
        raise exc
    return out


_NP_INDEX_ERROR = re.compile(r"index (-?\d+) is out of bounds for axis (\d+) with size (\d+)")


def _torch_kernel_error(exc: Exception, arrays: Sequence[Any]) -> None:
    """Raise torch's error for the NumPy errors a user's slip makes in a kernel: operands that do not broadcast
    ("The size of tensor a (3) must match ..."), a dim out of range ("Dimension out of range ..."), an index out
    of bounds ("... for dimension 0 with size 3"); returns otherwise (the caller wraps the NumPy message)."""
    text = str(exc)
    if isinstance(exc, KernelIndexError) or (isinstance(exc, IndexError) and text.startswith("Dimension out of range")):
        raise OpIndexError(text)  # already torch's words (norm_axes/wrap_dim's dim check in a reduction's kernel)
    if isinstance(exc, np.exceptions.AxisError) and exc.ndim is not None and exc.axis is not None:
        n = max(exc.ndim, 1)
        raise OpIndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {exc.axis})")
    if isinstance(exc, ValueError) and "could not be broadcast together" in text:
        shapes = [tuple(a.shape) for a in arrays if hasattr(a, "shape")]
        broadcast_shape(*shapes)  # raises torch's message for the first mismatching dim
    match = _NP_INDEX_ERROR.fullmatch(text) if isinstance(exc, IndexError) else None
    if match is not None:
        index, axis, size = match.groups()
        raise OpIndexError(f"index {index} is out of bounds for dimension {axis} with size {size}")


def describe(args: tuple[Any, ...]) -> str:
    """The arguments of an op call, for error messages (shapes, dtypes, devices of Tensors)."""
    parts = []
    for a in args:
        if a.__class__ in _SCALARS:
            parts.append(repr(a))
        else:
            parts.append(f"Tensor(shape={tuple(a.shape)}, dtype={a.dtype}, device={a.device})")
    return ", ".join(parts)


def _argument_error(op: OpDef, args: tuple[Any, ...]) -> None:
    """Raise torch's TypeError for an argument that is neither a Tensor nor a number (returns otherwise)."""
    for i, a in enumerate(args):
        if a.__class__ not in _SCALARS and not (hasattr(a, "_data") and hasattr(a, "device")):
            hint = " (unpack it: pad_packed_sequence, or its .data)" if hasattr(a, "batch_sizes") else ""
            where = "argument 'input' (position 1)" if i == 0 else f"argument {i + 1}"  # (torch's first name)
            raise TypeError(f"{op.name}(): {where} must be Tensor, not {type(a).__name__}{hint}")


def not_a_tensor(exc: AttributeError, name: str, params: Sequence[str], values: Sequence[Any]) -> None:
    """Raise torch's argument parser's TypeError (``exp(): argument 'input' (position 1) must be Tensor, not int``)
    where ``exc`` (raised by ``name`` called with ``values`` for its ``params``) is a Tensor attribute missing from
    one of those values; returns otherwise (the caller re-raises). Error path only: the callers catch it."""
    obj = getattr(exc, "obj", None)
    for i, (param, value) in enumerate(zip(params, values)):
        if value is obj and not (hasattr(value, "_data") and hasattr(value, "device")):
            kind = type(value)
            what = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
            raise TypeError(f"{name}(): argument '{param}' (position {i + 1}) must be Tensor, not {what}") from None


def not_a_tensor_here(exc: AttributeError) -> None:
    """Raise torch's argument parser's TypeError (``flatten(): argument 'input' (position 1) must be Tensor, not
    list``) where ``exc`` is a Tensor attribute missing from an argument of the calling function (its name and
    parameters read from its frame: no bookkeeping on the success path); returns otherwise (the caller re-raises).
    For ``except AttributeError`` blocks of public functions, which cost nothing until they catch."""
    frame = sys._getframe(1)
    code = frame.f_code
    obj = getattr(exc, "obj", None)
    given = frame.f_locals
    params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    method = params[:1] == ("self",)  # (a method: torch numbers the arguments after self)
    for i, param in enumerate(params):
        value = given.get(param, exc)
        if value is obj and not (hasattr(value, "_data") and hasattr(value, "device")) and not (method and i == 0):
            kind = type(value)
            what = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
            where = f" (position {i + (0 if method else 1)})" if i < code.co_argcount else ""
            raise TypeError(f"{code.co_name}(): argument '{param}'{where} must be Tensor, not {what}") from None
    if code.co_flags & 0x04:  # CO_VARARGS: ``*tensors`` (atleast_1d, broadcast_tensors), torch's sequence text
        seq = given.get(code.co_varnames[len(params)], ())
        if len(seq) == 1 and isinstance(seq[0], (list, tuple)):  # (one sequence of tensors: torch reads into it)
            seq = seq[0]
        for j, value in enumerate(seq):
            if value is obj and not (hasattr(value, "_data") and hasattr(value, "device")):
                what = type(value).__name__
                raise TypeError(f"expected Tensor as element {j} in argument 0, but got {what}") from None


def apply(op: OpDef, *args: Any, **attrs: Any) -> Any:
    """Run ``op`` on Tensors/scalars ``args``; record a Node when any input requires grad."""
    if autocast_users[0]:  # bp.autocast on some thread: cast the inputs by its policy (autocast_state)
        args = autocast_inputs(op.name, args, apply, conversion.astype)
    # phase 1: one pass gathers the arrays and everything a Node may need (an explicit loop:
    # comprehensions cost a call each on Python < 3.12; the no-grad path pays a few appends)
    first: Any = None
    device: Any = None
    need_grad = False
    arrays: list[Any] = []
    edges: list[Any] = []
    meta: list[Any] = []
    versions: list[int] = []
    try:
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
                moved = _cpu_scalars_moved(args)
                if moved is not None:  # CPU 0-d tensors join any device, as torch's (they act as numbers)
                    return apply(op, *moved, **attrs)
                _device_error(op, args, device, a.device)
            x = a._data
            arrays.append(x)
            meta.append((x.shape, x.dtype))
            b = a._vbase
            if b is None:
                versions.append(a._vc)
            else:
                versions.append(b._vc)  # views share the base's
                if _retired and b is not a and is_stale_view(a):
                    stale_view_error(op.name, a)
            if a._requires_grad:
                need_grad = True
                edges.append(a.grad_fn or a)
            else:
                edges.append(None)
    except AttributeError:  # a list, tuple or PackedSequence where a Tensor belongs: torch's TypeError
        _argument_error(op, args)
        raise
    if first is None:  # only numbers: torch's argument parser names the first ("must be Tensor, not float")
        what = type(args[0]).__name__ if args else "nothing"
        raise TypeError(f"{op.name}(): argument 'input' (position 1) must be Tensor, not {what}")

    # phase 2: the forward kernel
    if op.check is not None:
        op.check(*arrays, **attrs)
    kernel = op._kernels.get(device.backend.name) or op.kernel(device.backend)
    try:
        if device.index:
            with device.backend.use_device(device.index):
                out = kernel(*arrays, **attrs)
        else:
            out = kernel(*arrays, **attrs)
    except RuntimeWarning:  # warnings as errors: NumPy's inf/NaN warning, where torch is silent
        out = _quietly(kernel, device, arrays, attrs)
    except SparseKernelError as exc:  # bp.sqrt(s): the sparse tensor's own method
        return _sparse_op(op, args, attrs, exc)
    except (ValueError, IndexError, TypeError) as exc:
        _torch_kernel_error(exc, arrays)
        cls = OpIndexError if isinstance(exc, IndexError) else TypeError if isinstance(exc, TypeError) else OpValueError
        text = str(exc)
        if not text.startswith(f"{op.name}: "):  # the kernel's own messages already name the op: once is enough
            text = f"{op.name}: {text}"
        raise cls(f"{text} (inputs: {describe(args)}; attrs: {attrs})") from exc
    raw = out
    aux = base = None
    if op.special:  # the rare ops that return (y, aux), move data to another device, or may be views
        if op.aux:
            out, aux = out
        if op.moves_device:
            device = attrs["device"]
        if op.casts and dtypes.kind(out.dtype) not in "fc":
            need_grad = False  # integer and bool results never require grad, as torch's
        if op.view and out.base is not None and device.xp.may_share_memory(out, arrays[0]):
            # a view: it shares its base's version counter (as torch)
            base = first if first._vbase is None else first._vbase
            if base._vbase is None:
                base._vbase = base  # the base is marked as viewed (see apply_)
    if out.__class__ is not device.array_type:
        out = device.xp.asarray(out)
    if anomaly_users[0] and state.anomaly and state.check_nan:
        check_finite(op.name, "forward", out, device)
    if trace_users[0] and state.tracer is not None:
        _trace_forward(op, kernel, args, attrs, raw, out, aux, device)

    # phase 3: the result, and its Node when a gradient is wanted (Tensor also for Parameter inputs)
    result = _new(first._plain)  # inlined Tensor._wrap: hot path
    result._data = out
    result.device = device
    result._grad = None
    result._vc = 0
    result._vbase = base
    result._hooks = None
    if not (need_grad and state.enabled and op.backward is not None):
        result.grad_fn = None
        result._requires_grad = False
        if base is not None and (
            (first._requires_grad and not state.enabled) or (no_grad_views and no_grad_views.get(id(first)) is first)
        ):
            no_grad_views[id(result)] = result  # (an in-place change of it with grad mode on refuses, as torch)
        return result
    # (a module global: ``autograd.graph`` rebinds it while saved-tensor hooks are active, so the
    # path without them pays no check)
    result.grad_fn = _record(op, attrs, device, edges, meta, arrays, args, versions, aux, out, result)
    result._requires_grad = True
    return result


def apply_scalar(op: OpDef, a: Any, s: Any, reflected: bool = False) -> Any:
    """``apply(op, a, s)`` (or ``apply(op, s, a)`` when ``reflected``) for a Tensor ``a`` and a Python
    scalar ``s``: the same result, Node and bookkeeping without ``apply``'s general argument loop.

    Why a second entry: a tensor and a Python number (``y * 0.5``, ``x + 1.0``, ``2.0 * w``) is the
    commonest op call in eager code, and for a chain of such ops the loop was an eighth of the
    forward's time. Ops that need the general path (a ``check``, aux/device/view outputs, autocast)
    take it."""
    if op.check is not None or op.special or autocast_users[0]:
        return apply(op, s, a) if reflected else apply(op, a, s)
    device = a.device
    x = a._data
    b = a._vbase
    if b is None:
        version = a._vc
    else:
        version = b._vc  # views share the base's
        if _retired and b is not a and is_stale_view(a):
            stale_view_error(op.name, a)
    kernel = op._kernels.get(device.backend.name) or op.kernel(device.backend)
    arrays = [s, x] if reflected else [x, s]
    try:
        if device.index:
            with device.backend.use_device(device.index):
                out = kernel(*arrays)
        else:
            out = kernel(*arrays)
    except RuntimeWarning:  # warnings as errors: NumPy's inf/NaN warning, where torch is silent
        out = _quietly(kernel, device, arrays, {})
    except SparseKernelError as exc:  # bp.pow(s, 2) through Tensor.pow: the sparse tensor's own method
        return _sparse_op(op, (s, a) if reflected else (a, s), {}, exc)
    except (ValueError, IndexError, TypeError):
        return apply(op, s, a) if reflected else apply(op, a, s)  # (apply words the error)
    raw = out
    if out.__class__ is not device.array_type:
        out = device.xp.asarray(out)
    args = (s, a) if reflected else (a, s)
    if anomaly_users[0] and state.anomaly and state.check_nan:
        check_finite(op.name, "forward", out, device)
    if trace_users[0] and state.tracer is not None:
        _trace_forward(op, kernel, args, {}, raw, out, None, device)
    result = _new(a._plain)  # inlined Tensor._wrap, as in apply
    result._data = out
    result.device = device
    result._grad = None
    result._vc = 0
    result._vbase = None
    result._hooks = None
    if not (a._requires_grad and state.enabled and op.backward is not None):
        result.grad_fn = None
        result._requires_grad = False
        return result
    edge, meta = a.grad_fn or a, (x.shape, x.dtype)
    if reflected:
        edges, metas, versions = [None, edge], [None, meta], [0, version]
    else:
        edges, metas, versions = [edge, None], [meta, None], [version, 0]
    result.grad_fn = _record(op, {}, device, edges, metas, arrays, args, versions, None, out, result)
    result._requires_grad = True
    return result


_DATA_DEPENDENT_SHAPE = frozenset({"nonzero"})  # (boolean-mask indexing fails in index_arg)


def _trace_forward(op: OpDef, kernel: Any, args: tuple, attrs: dict, raw: Any, out: Any, aux: Any, device: Any) -> None:
    """Write the forward kernel call down for ``bp.compile`` (see ``autograd.trace``)."""
    tr = trace.tracer()
    if tr is None:
        return
    if device.index:
        tr.fail(f"{op.name} runs on {device}: replays run on device 0 only")
    if op.name in _DATA_DEPENDENT_SHAPE:
        tr.fail(f"{op.name} gives a result whose shape depends on the data")
    refs = [tr.ref(a) if a.__class__ in _SCALARS else tr.ref(a._data, a) for a in args]
    wrapped = op.aux or raw is not out
    fn = _Converted(kernel, device.xp, device.array_type, op.aux) if wrapped else kernel
    tr.call(fn, refs, (out, aux) if op.aux else out, n_out=2 if op.aux else 0, attrs=attrs, fresh=True)
    donating = op.donating_kernel(device.backend) if op.donating is not None else None
    if donating is not None:  # the replay may compute in input 0's buffer if nothing reads it later
        alt = _Converted(donating, device.xp, device.array_type, op.aux) if wrapped else donating
        name = tr.lines[-1][0].split(" = ", 1)[1].split("(", 1)[0]
        tr.donate(refs[0], tuple(refs[1:]), "fn", (name, tr.bind(alt, "f")))


class _Converted:
    """A forward kernel followed by ``apply``'s own steps: the aux split and the array-type check."""

    __slots__ = ("kernel", "xp", "array_type", "aux")

    def __init__(self, kernel: Any, xp: Any, array_type: type, aux: bool) -> None:
        self.kernel, self.xp, self.array_type, self.aux = kernel, xp, array_type, aux

    def __call__(self, *arrays: Any, **attrs: Any) -> Any:
        out = self.kernel(*arrays, **attrs)
        aux = None
        if self.aux:
            out, aux = out
        if out.__class__ is not self.array_type:
            out = self.xp.asarray(out)
        return (out, aux) if self.aux else out


def _apply_into(kernel: Any, target: Any, *arrays: Any, **attrs: Any) -> None:
    """``apply_``'s write outside a graph: ``target[...] = kernel(target, *arrays)``."""
    target[...] = kernel(target, *arrays, **attrs)


def _record(
    op: OpDef,
    attrs: dict[str, Any],
    device: Device,
    edges: list[Any],
    meta: list[Any],
    arrays: list[Any],
    args: tuple[Any, ...],
    versions: list[int],
    aux: Any,
    out: Any,
    result: Any,
) -> Node:
    """The Node of one op application, keeping exactly what the op declared for backward (the
    output array ``out`` of the Tensor ``result`` too, for ``save_output`` ops)."""
    cls = op.node_class
    node: Node = _new(Node if cls is None else cls)  # no __init__: this runs once per recorded op
    node.op = op
    node._attrs = attrs
    node.device = device
    node.edges = tuple(edges)
    node.in_meta = tuple(meta)
    node.aux = aux
    node.hooks = None
    node.graph_xp = None
    if op.save_output:
        node._out = out
        node._out_ref = weakref.ref(result)
        node._out_version = 0
    else:
        node._out = None
        node._out_ref = None
    saves = op.save_inputs
    saved_for = op.saved_for
    if saved_for is not None:  # keep an input only for the wanted gradients that use it (as torch)
        kept: list[Any] | None = None
        for i, users in saved_for:
            for k in users:
                if edges[k] is not None:
                    break
            else:  # no wanted gradient uses input i: ``d * 2`` keeps nothing of d
                if kept is None:
                    kept = list(args)
                kept[i] = arrays[i] = None  # (arrays is apply's own list, free to change now)
        if kept is not None:
            args = tuple(kept)
    if not saves:
        node._saved = node._saved_tensors = node._versions = ()
    elif len(saves) == len(args):  # saves every input (mul, div, matmul, ...): no picking
        node._saved, node._saved_tensors, node._versions = tuple(arrays), args, tuple(versions)
    else:
        node._saved = tuple([arrays[i] for i in saves])
        node._saved_tensors = tuple([args[i] for i in saves])
        node._versions = tuple([versions[i] for i in saves])
    if cls is None:  # (the op's first node: decided once per op)
        if op.name[:1].isupper():  # a custom Function's node: its class reads its ctx
            node.__class__ = _named_class(node)
        else:
            op.node_class = Node
    # (built-in ops' nodes stay plain ``Node``s: a class per backward name, torch's ``type(grad_fn).__name__``,
    # made every attribute read in the engine and the rules see many classes, 3-4% of a small LM/MLP eager
    # step and 12-15% of a chain of tiny ops, measured 2026-12-07; ``name()`` and the repr give torch's name)
    return node


def _named_class(node: Node) -> type[Node]:
    """A custom Function's node class, named as torch's (``MyFnBackward``, reading the ctx), kept on its op."""
    cls = node.op.node_class = Node._class_named(node.name(), True)
    return cls


def autocast_function(name: str, *tensors: Any) -> tuple[Any, ...]:
    """The inputs of a function composed of several ops (``mse_loss``, ``layer_norm``, ``addmm``) cast by
    the active autocast's policy for ``name``, as torch casts such a function as a whole. Callers guard
    the call with ``if autocast_users[0]:`` so that the path outside autocast pays one list read."""
    return autocast_inputs(name, tensors, apply, conversion.astype)


def _quietly(kernel: Any, device: Any, arrays: list[Any], attrs: dict[str, Any]) -> Any:
    """Run a kernel again without NumPy's floating-point warnings: an op producing inf or NaN
    (``log(0)``, ``0 / 0``, overflow) is not an error, as in torch, even under ``-W error``; nor is
    NumPy's own warning of a reduction over nothing (``mean`` of an empty array: NaN, as torch's)."""
    with quiet_floats(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if device.index:
            with device.backend.use_device(device.index):
                return kernel(*arrays, **attrs)
        return kernel(*arrays, **attrs)


def _may_overlap(size: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Whether two elements of a view with these (non-negative) strides share a memory location. The dims
    sorted by stride, each stride passing the whole extent of the smaller ones proves they cannot (every
    reshape/permute of a C-ordered base: O(ndim)); otherwise the elements' positions are compared."""
    reach = 0
    for st, n in sorted((st, n) for st, n in zip(stride, size) if n > 1):
        if st <= reach:
            break
        reach += (n - 1) * st
    else:
        return False
    pos = np.zeros((), np.int64)
    for n, st in zip(size, stride):
        pos = np.add.outer(pos, np.arange(n, dtype=np.int64) * st)
    return np.unique(pos).size != pos.size


def _write_through_view(name: str, view: Any, new: Any) -> None:
    """A view of a recorded tensor takes the values ``new`` (a recorded tensor of the view's shape): its
    base gets them at the view's place (``setitem``: the base's history goes through the write) and the
    view is taken again from the new base, as torch's views see in-place changes. Views made by basic
    indexing straight from their base go through ``setitem``; any other view (reshapes, transposes,
    views of views) of a C-ordered base through ``as_strided_scatter`` at its strides, as torch's
    CopySlices does; a base in another order, backward strides or an expanded view refuse clearly."""
    from backprop.ops.indexing import getitem  # (an ops module: below this layer)

    base, node = view._vbase, view.grad_fn
    made_by_getitem = (
        node is not None
        and node.op is getitem
        and node._attrs.get("then") is None
        and node.edges[0] is (base.grad_fn if base.grad_fn is not None else base)
    )
    if not made_by_getitem:  # any other view of a C-ordered base: by its strides into the base's memory
        size, stride = tuple(view.shape), tuple(view.stride())
        if not base._data.flags.c_contiguous or any(st < 0 for st in stride):
            raise RuntimeError(
                f"{name}: in-place change of a view (shape {size}) inside a recorded graph: its base is not in C "
                "order (or the view runs backwards); write into the base tensor, or .clone() the view first"
            )
        if any(st == 0 and n > 1 for st, n in zip(stride, size)):
            raise RuntimeError(INTERNAL_OVERLAP)
        if _may_overlap(size, stride):  # overlapping windows (unfold's) refuse too
            raise RuntimeError(
                f"{name}: unsupported operation: some elements of the written-to tensor refer to a single memory "
                "location (overlapping windows, as unfold's); clone it first"
            )
        offset = view.storage_offset() - base.storage_offset()
        new_base = base.as_strided_scatter(new, size, stride, offset)
        _retire(base)
        carry_retained(base.grad_fn, new_base.grad_fn)
        name_node(new_base, "torch::autograd::CopySlices")  # (torch's node for a write through a view)
        base._data, base.grad_fn, base._requires_grad = new_base._data, new_base.grad_fn, new_base._requires_grad
        bump_version(base)
        fresh = base.as_strided(size, stride, offset)
        carry_retained(view.grad_fn, fresh.grad_fn)
        view._data, view.grad_fn, view._requires_grad = fresh._data, fresh.grad_fn, fresh._requires_grad
        return
    index = node._attrs["index"]
    write_recorded(name, base, new, index)
    name_node(base, "torch::autograd::CopySlices")  # (a whole-tensor alias too: torch's node for any view write)
    fresh = apply(getitem, base, index=index)
    carry_retained(view.grad_fn, fresh.grad_fn)
    view._data, view.grad_fn, view._requires_grad = fresh._data, fresh.grad_fn, fresh._requires_grad


def carry_retained(old: Node | None, new: Node | None) -> None:
    """``retain_grad()`` follows its tensor through an in-place change, as torch's: ``.grad`` is the gradient
    of the tensor's latest version (a ``register_hook`` hook stays with the version it was put on)."""
    hooks = old.hooks if old is not None else None
    if hooks and new is not None and new is not old:
        kept = [h for h in hooks if getattr(h, "_retains_grad", False)]
        if kept:
            old.hooks = [h for h in hooks if not getattr(h, "_retains_grad", False)] or None  # type: ignore[union-attr]
            new.hooks = [*(new.hooks or ()), *kept]


def _root(x: Any) -> Any:
    """What owns ``x``'s memory: the NumPy array at the end of its ``base`` chain, CuPy's allocation
    (``x.data.mem``); None where neither applies (then no view is ever called stale)."""
    if isinstance(x, np.ndarray):
        while isinstance(x.base, np.ndarray):
            x = x.base
        return x
    return getattr(getattr(x, "data", None), "mem", None)


# the memory that bases with views gave up when a recorded write gave them new memory: a view still on
# such memory is stale (weak: the set forgets memory nothing uses any more)
_retired: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()  # id -> the memory


def _retire(target: Any) -> None:
    """``target`` (a tensor with views) is about to get new memory from a recorded write."""
    if target._vbase is target:
        root = _root(target._data)
        if root is not None:
            _retired[id(root)] = root


def is_stale_view(t: Any) -> bool:
    """True for a view taken before its base was written inside a recorded graph (the base then got new
    memory and a new history; the view still shows the old values)."""
    b = t._vbase
    if not _retired or b is None or b is t:
        return False
    root = _root(t._data)
    return root is not None and _retired.get(id(root)) is root


def stale_view_error(name: str, t: Any) -> None:
    raise RuntimeError(
        f"{name}: this view (shape {tuple(t.shape)}) was taken before an assignment or in-place op into its base "
        "inside a recorded graph, which gave the base new values; the view still holds the old ones. Take the "
        "view again after the write (torch would refresh it)"
    )


def _cpu_scalars_moved(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """``args`` with its CPU 0-d tensors moved (differentiably) to the one other device its tensors are
    on, or None when that is not the case (tensors on two non-CPU devices, or a CPU tensor with dims)."""
    target = None
    for a in args:
        if a.__class__ in _SCALARS:
            continue
        dev = a.device
        if dev.type == "cpu":
            if a._data.ndim:
                return None
        elif target is None:
            target = dev
        elif dev is not target:
            return None
    if target is None:
        return None
    return tuple(a.to(target) if a.__class__ not in _SCALARS and a.device.type == "cpu" else a for a in args)


def _device_error(op: OpDef, args: tuple[Any, ...], first: Any, other: Any) -> None:
    raise RuntimeError(
        f"{op.name}: expected all tensors on the same device, but found {first} and "
        f"{other} ({describe(args)}). Move them with .to(device) first."
    )


# views taken in no_grad mode of a tensor that requires grad: id -> the view (torch's NO_GRAD_MODE creation meta)
no_grad_views: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()

NO_GRAD_VIEW = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given that this use "
    "case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view and the "
    "inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both outside (if "
    "you want the inplace to be tracked)."
)


def check_inplace(name: str, target: Any, *others: Any) -> bool:
    """True when an in-place op on ``target`` must be recorded in the graph; raises where torch does
    (a leaf that requires grad, a view taken in no_grad mode of one that does) and where recording would
    give wrong gradients (writes that replace part of a tensor: ``__setitem__``, ``fill_``, ``copy_``)."""
    if not state.enabled:
        return False
    if no_grad_views and no_grad_views.get(id(target)) is target:
        raise RuntimeError(NO_GRAD_VIEW)
    rec = target._requires_grad or any(getattr(o, "_requires_grad", False) for o in others)
    if rec and target._requires_grad:
        if target.grad_fn is None:  # (torch's x[i] = v writes through the view x[i])
            of = "a view of a" if name == "__setitem__" else "a"
            raise RuntimeError(f"{of} leaf Variable that requires grad is being used in an in-place operation.")
        base = target._vbase
        if base is not None and base is not target and base.grad_fn is None and base._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    return rec


def write_recorded(name: str, target: Any, value: Any, index: Any, then: Any = None) -> None:
    """``target[index] = value`` inside a recorded graph (``__setitem__``, ``fill_``, ``copy_``): the
    write is the ``setitem`` op applied out of place, whose result ``target`` then becomes (its data,
    its node), as torch's CopySlices: the overwritten region's gradient goes to ``value``."""
    from backprop.ops.indexing import setitem  # (an ops module: below this layer)

    if target._vbase is not None and target._vbase is not target:  # a view: its new values, then its base
        before = target._plain._wrap(target._data, target.device, target.grad_fn)
        before._requires_grad = target._requires_grad
        _write_through_view(name, target, apply(setitem, before, value, index=index, then=then))
        return
    before = target._plain._wrap(target._data, target.device, target.grad_fn)
    before._requires_grad = target._requires_grad
    out = apply(setitem, before, value, index=index, then=then)
    _retire(target)
    carry_retained(target.grad_fn, out.grad_fn)
    target._data, target.grad_fn, target._requires_grad = out._data, out.grad_fn, out._requires_grad
    bump_version(target)


def apply_(op: OpDef, name: str, target: Any, *args: Any, **attrs: Any) -> Any:
    """``target = op(target, *args)`` in place (``add_``, ``mul_``, ...); returns ``target``.

    Inside a recorded graph the op is applied out of place on a snapshot of ``target``, which then
    takes the result's data and node (its version moves on, so saved copies are caught); otherwise
    the kernel's result is written into ``target``'s memory.
    """
    if check_inplace(name, target, *args):
        if target._vbase is not None and target._vbase is not target:  # a view: write the result into its base
            before = target._plain._wrap(target._data, target.device, target.grad_fn)
            before._requires_grad = target._requires_grad
            out = apply(op, before, *args, **attrs)
            if out.device is not target.device:
                _device_error(op, (target, *args), target.device, out.device)
            if _inplace_result(name, target, out._data, args):
                out = apply(conversion.astype, out, dtype=target._data.dtype)
            _write_through_view(name, target, out)
            node = out.grad_fn
            if node is not None and node._out_ref is not None:  # (a saved output is the view's new version)
                node._out_ref, node._out_version = _ViewOutput(target), version_of(target)
            return target
        before = target._plain._wrap(target._data, target.device, target.grad_fn)
        before._requires_grad = target._requires_grad
        out = apply(op, before, *args, **attrs)
        if out.device is not target.device:  # (a CPU 0-d target moved to its operand's device: torch refuses)
            _device_error(op, (target, *args), target.device, out.device)
        if _inplace_result(name, target, out._data, args):
            out = apply(conversion.astype, out, dtype=target._data.dtype)  # keeps the tensor's dtype, as torch
        _retire(target)
        carry_retained(target.grad_fn, out.grad_fn)
        target._data, target.grad_fn, target._requires_grad = out._data, out.grad_fn, True
        node = out.grad_fn
        if node is not None and node._out_ref is not None:
            node._out_ref = weakref.ref(target)
            node._out_version = version_of(target) + 1
    else:
        arrays = [a._data if hasattr(a, "grad_fn") else a for a in args]
        for i, a in enumerate(args):
            if hasattr(a, "grad_fn") and a.device is not target.device:
                if a.device.type != "cpu" or a._data.ndim:  # (a CPU 0-d operand acts as a number, as torch's)
                    _device_error(op, (target, *args), target.device, a.device)
                arrays[i] = target.device.transfer(a._data, a.device)
        kernel = op.kernel(target.device.backend)
        try:
            if op.check is not None:  # (the shape/dtype rule, as out of place: scatter_'s ndim check)
                op.check(target._data, *arrays, **attrs)
            result = kernel(target._data, *arrays, **attrs)
        except RuntimeWarning:  # (the kernel makes a new array: nothing was written yet)
            result = _quietly(kernel, target.device, [target._data, *arrays], attrs)
        except NotImplementedError:  # (``int_x &= 1.5``: torch refuses the cast before the kernel's dtype)
            want = _promoted_dtype(target, arrays)
            if dtypes.category(want) > dtypes.category(target._data.dtype):
                _inplace_result(name, target, np.empty(target._data.shape, want), arrays)
            raise
        _inplace_result(name, target, result, arrays)
        try:
            target._data[...] = result
        except ValueError as exc:  # (an expanded target: torch's error)
            raise overlap_error(target, exc) from None
        if trace_users[0] and (tr := trace.tracer()) is not None:
            refs = [tr.ref(target._data, target)]
            refs += [tr.ref(x, a if hasattr(a, "grad_fn") else None) for x, a in zip(arrays, args)]
            tr.call(functools.partial(_apply_into, kernel), refs, None, attrs=attrs)
    bump_version(target)
    return target


class _ViewOutput:
    """``_out_ref`` of a node whose output an in-place op wrote through a view (``v = x[0]; v.exp_()``): the
    view while it lives, then a stand-in with its shape and type read against its base's version counter, as
    torch's counter outlives the view: a later write into the base is still caught in backward."""

    __slots__ = ("_view", "_base", "shape", "_type", "_plain", "_vc")

    def __init__(self, view: Any) -> None:
        self._view, self._base = weakref.ref(view), weakref.ref(view._vbase)
        self.shape, self._type, self._plain, self._vc = tuple(view.shape), view.type(), view._plain, version_of(view)

    def __call__(self) -> Any:
        view = self._view()
        return view if view is not None else self

    @property
    def _vbase(self) -> Any:
        return self._base()  # (None once the base is gone too: then ``_vc``, the version it was written at)

    def type(self) -> str:
        return self._type


INTERNAL_OVERLAP = (
    "unsupported operation: more than one element of the written-to tensor refers to a single memory location. "
    "Please clone() the tensor before performing the operation."
)


def overlap_error(target: Any, exc: ValueError) -> Exception:
    """torch's RuntimeError for a write into an expanded tensor (a stride-0 dim: NumPy's broadcast views are
    read-only, "assignment destination is read-only"); ``exc`` itself for any other ValueError."""
    a = target._data
    if not a.flags.writeable and any(st == 0 and n > 1 for st, n in zip(a.strides, a.shape)):
        return RuntimeError(INTERNAL_OVERLAP)
    return exc


def _inplace_result(name: str, target: Any, result: Any, operands: Sequence[Any] = ()) -> bool:
    """Check an in-place op's result against its target, as torch: the shape must not grow by broadcasting,
    and the dtype category must not rise (an int tensor cannot take a float result). True when the result
    needs a cast down to the target's dtype (float32 ``add_`` of a float64 tensor stays float32)."""
    if result.shape != target._data.shape:
        raise ShapeError(
            f"output with shape {list(target._data.shape)} doesn't match the broadcast shape {list(result.shape)}"
        )
    if result.dtype == target._data.dtype:
        return False
    if dtypes.category(result.dtype) > dtypes.category(target._data.dtype):
        raise DTypeError(  # torch's text (``b += 1`` on a bool tensor: "result type Long can't be cast ... Bool")
            f"result type {dtypes.scalar_type_name(_torch_result_dtype(target, result, operands))} can't be cast "
            "to the desired output type "
            f"{dtypes.scalar_type_name(target._data.dtype)}"
        )
    return True


def _torch_result_dtype(target: Any, result: Any, operands: Sequence[Any]) -> Any:
    """The result dtype torch names when an in-place op cannot cast back: its promotion of the target and the
    operands (``int_tensor += 1.5`` is Float, where NumPy computed float64), or for an op that makes integers
    floating (``sqrt_``, ``div_``) the default dtype (its complex for a complex result)."""
    want = _promoted_dtype(target, operands)
    if dtypes.category(want) < dtypes.category(result.dtype):
        want = dtypes.get_default_dtype()
        if result.dtype.kind == "c":
            want = dtypes.default_complex()
    return want


def _promoted_dtype(target: Any, operands: Sequence[Any]) -> Any:
    """torch's result dtype of an in-place op's target with its tensor and number operands."""
    want = target._data.dtype
    for v in operands:
        v = getattr(v, "_data", v)
        if isinstance(v, (int, float, complex)) or hasattr(v, "ndim"):
            want = dtypes.promote_types(np.empty((0,) * target._data.ndim, want), v)
    return want


class AnomalyError(FloatingPointError, RuntimeError):
    """Raised by anomaly mode; a RuntimeError too, as torch's anomaly errors are."""


def check_finite(name: str, phase: str, array: Any, device: Any) -> None:
    """Anomaly mode: raise when ``array`` (an op's forward or backward result) has NaN or Inf."""
    xp = device.xp
    if dtypes.kind(array.dtype) in "fc" and not bool(xp.isfinite(array).all()):
        raise AnomalyError(
            f"anomaly detected: op {name!r} produced NaN or Inf values in its {phase} "
            f"(output shape {tuple(array.shape)}, dtype {array.dtype})"
        )
