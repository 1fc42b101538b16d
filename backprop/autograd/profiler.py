"""``torch.autograd.profiler``: time every op the library runs, while a profiler records and only then.

No cost when unused: ``apply`` takes each op's forward kernel from ``OpDef._kernels`` and the engine
its backward rule from ``OpDef._bkernels`` (registry.py's caches). A prepared profiler replaces those
cached entries, for every op and usable backend, by ``_Timed`` wrappers that record an event around
the call, and puts the originals back when it stops; the hot paths never test a flag.

Names: forward kernels as torch's profiler names them where our op is torch's (``aten::mm`` for a 2-D
matmul, ``aten::addmm`` for ``linear`` with a bias, ``aten::relu``, ...), else ``bp::<op>``; backward
rules as ``grad_fn.name()`` spells them (``MulBackward0``); ``record_function`` regions by their label.
Ops that a backward rule runs (``ctx.call``) nest under the rule, as torch's ``aten::`` ops under theirs.
Times are in microseconds, as torch's.

CUDA: CuPy queues kernels, so while recording each kernel on a CUDA tensor is bracketed by device
synchronisations; its event's time (launch and run) is reported both as CPU time and as CUDA time
(there are no CUPTI kernel events). Nothing is synchronised when no profiler records.

Memory (``profile_memory``): an op's self memory is the bytes of the arrays it returned that its child
ops did not return (allocations only: frees are not seen), a region's is 0; totals add the children.

Not seen: work outside the op registry (factories' own array calls, optimizers' fused updates) and a
``bp.compile`` replay, which runs the kernels it bound when it was recorded: time it as one region with
``record_function``. (A step first recorded while a profiler runs binds some of its timing wrappers, so
its replays under that same profiler show those kernels; once the profiler stops, the wrappers are dead
and pass straight through.) ``with_stack``, ``with_flops`` and ``with_modules`` are accepted and ignored.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import ContextDecorator
from threading import get_ident
from typing import Any

from backprop import registry
from backprop.autograd.node_names import op_backward_name
from backprop.autograd.profiler_util import EventList, FunctionEvent, FunctionEventAvg
from backprop.backends import registered_backends

__all__ = [
    "EventList",
    "FunctionEvent",
    "FunctionEventAvg",
    "emit_itt",
    "emit_nvtx",
    "profile",
    "record_function",
]

# -- names ---------------------------------------------------------------------------------------------

# ops that are torch's ``aten::<same name>`` (same inputs, same result)
_ATEN_SAME = frozenset(
    """abs acos acosh add all amax amin angle any argmax argmin argsort as_strided asin asinh atan atan2 atanh
    binary_cross_entropy_with_logits bincount bitwise_and bitwise_left_shift bitwise_not bitwise_or
    bitwise_right_shift bitwise_xor cat ceil clamp clone col2im copysign cos cosh ctc_loss cumprod cumsum
    diag_embed diagonal digamma div einsum elu eq erf erfc erfinv exp exp2 expand expm1 flip floor
    floor_divide fmax fmin fmod frac frexp gather gcd ge gelu gt hardsigmoid hardswish hardtanh heaviside
    histc hypot i0 im2col index_add index_copy index_fill index_put index_select isclose isfinite isin isinf
    isnan isreal lcm le leaky_relu lerp lgamma log log10 log1p log2 log_softmax logaddexp logaddexp2
    logcumsumexp logical_and logical_not logical_or logical_xor logit logsumexp lt masked_fill maximum mean
    median minimum mish mul nan_to_num ne neg nextafter nonzero norm permute polygamma pow prod reciprocal
    relu remainder reshape roll round rsqrt scatter scatter_add scatter_reduce searchsorted sigmoid sign
    signbit silu sin sinc sinh softmax softplus sqrt square stack std sub sum tan tanh threshold tril triu
    trunc var where xlogy""".split()
)
# ops torch names differently
_ATEN_RENAMED = {
    "astype": "_to_copy",
    "to_device": "_to_copy",
    "cross_entropy": "cross_entropy_loss",
    "logsigmoid": "log_sigmoid",
    "i1": "special_i1",
    "cholesky": "linalg_cholesky",
    "det": "linalg_det",
    "eig": "linalg_eig",
    "eigh": "linalg_eigh",
    "inv": "linalg_inv",
    "lu_factor": "linalg_lu_factor",
    "pinv": "linalg_pinv",
    "qr": "linalg_qr",
    "slogdet": "linalg_slogdet",
    "solve": "linalg_solve",
    "svd": "linalg_svd",
}


def _matmul_name(arrays: tuple[Any, ...]) -> str:
    """torch's kernel for ``a @ b`` by the operands' ranks: mm, bmm, mv, dot, else matmul."""
    ranks = (getattr(arrays[0], "ndim", 0), getattr(arrays[1], "ndim", 0))
    return {(2, 2): "aten::mm", (3, 3): "aten::bmm", (2, 1): "aten::mv", (1, 1): "aten::dot"}.get(ranks, "aten::matmul")


def _linear_name(arrays: tuple[Any, ...]) -> str:
    """torch's kernel for ``linear``: addmm (mm without a bias) on a 2-D input, else linear."""
    if getattr(arrays[0], "ndim", 0) != 2:
        return "aten::linear"
    return "aten::mm" if len(arrays) < 3 or arrays[2] is None else "aten::addmm"


_NAMERS: dict[str, Callable[[tuple[Any, ...]], str]] = {"matmul": _matmul_name, "linear": _linear_name}


def forward_name(op_name: str) -> str:
    """The profiler's name for op ``op_name``'s forward kernel (shape-dependent ones: their usual form)."""
    if op_name in _ATEN_SAME:
        return f"aten::{op_name}"
    if op_name in _ATEN_RENAMED:
        return f"aten::{_ATEN_RENAMED[op_name]}"
    return {"matmul": "aten::matmul", "linear": "aten::linear"}.get(op_name, f"bp::{op_name}")


def _node_name(args: tuple[Any, ...]) -> str | None:
    """A backward rule's event name: its node's ``grad_fn.name()`` (torch's, which may depend on the
    node's shapes and attributes: ``AddmmBackward0`` for a matrix ``linear``), or None outside a graph
    (a compiled replay's context: then the op's name)."""
    name = getattr(args[0], "name", None) if args else None
    return name() if callable(name) else None


backward_name = op_backward_name  # (an op's backward as grad_fn.name() spells it without node details)


# -- recording -----------------------------------------------------------------------------------------


class _Raw:
    """One event while it is recorded: times in ns from ``perf_counter_ns``."""

    __slots__ = ("name", "cat", "start", "end", "tid", "parent", "shapes", "mem", "device", "kids")

    def __init__(self, name: str, cat: str, tid: int, parent: _Raw | None, shapes: list, device: str) -> None:
        self.name, self.cat, self.tid, self.parent, self.shapes, self.device = name, cat, tid, parent, shapes, device
        self.start = self.end = 0
        self.mem = 0
        self.kids: list[Any] = []  # arrays the direct children returned (profile_memory only)


def _shapes(args: Iterable[Any]) -> list[list[int]]:
    """torch's ``Input Shapes``: a list per input, ``[]`` for scalars and other non-arrays."""
    return [list(a.shape) if hasattr(a, "shape") else [] for a in args]


def _arrays(out: Any) -> list[Any]:
    """The arrays (or tensors' arrays) among a kernel's or rule's results."""
    items = out if isinstance(out, (tuple, list)) else (out,)
    found = []
    for a in items:
        a = getattr(a, "_data", a)
        if hasattr(a, "nbytes") and hasattr(a, "shape"):
            found.append(a)
    return found


class _Trace:
    """The events of one recording window (a ``profile``, or one active phase of a schedule)."""

    def __init__(self, record_shapes: bool, profile_memory: bool) -> None:
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.events: list[_Raw] = []
        self.stacks: dict[int, list[_Raw]] = defaultdict(list)  # per thread: the open events
        self.t0 = time.perf_counter_ns()
        self.wall0 = time.time_ns()
        self.t1 = self.t0

    def begin(self, name: str, cat: str, shapes: list, device: str = "cpu") -> _Raw:
        tid = get_ident()
        stack = self.stacks[tid]
        ev = _Raw(name, cat, tid, stack[-1] if stack else None, shapes, device)
        self.events.append(ev)
        stack.append(ev)
        ev.start = time.perf_counter_ns()
        return ev

    def end(self, ev: _Raw, out: Any = None) -> None:
        ev.end = time.perf_counter_ns()
        stack = self.stacks[ev.tid]
        if stack and stack[-1] is ev:
            stack.pop()
        elif ev in stack:  # a region left out of order: close it where it is
            stack.remove(ev)
        if self.profile_memory:
            arrays = _arrays(out)
            seen = {id(a) for a in ev.kids}
            ev.mem = sum(int(a.nbytes) for a in arrays if id(a) not in seen)
            ev.kids = []
            if ev.parent is not None:
                ev.parent.kids.extend(arrays)

    def run(self, timed: _Timed, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        """Call ``timed``'s kernel or rule inside an event (synchronised on asynchronous devices)."""
        name = (timed.namer(args) or timed.name) if timed.namer is not None else timed.name
        shapes = _shapes(args[1:] if timed.rule else args) if self.record_shapes else []
        sync = timed.sync
        if sync is not None:
            sync()
        ev = self.begin(name, "cpu_op", shapes, timed.device)
        out = None
        try:
            out = timed.fn(*args, **attrs)
            if sync is not None:
                sync()
        finally:
            self.end(ev, out)
        return out

    def close(self) -> None:
        """Stop: events still open (regions not yet left) end now."""
        self.t1 = time.perf_counter_ns()
        for stack in self.stacks.values():
            for ev in stack:
                ev.end = self.t1
            stack.clear()


_recording: list[_Trace | None] = [None]  # the trace being recorded, read by every timing wrapper


class _Timed:
    """A kernel (or backward rule) that records an event per call while a trace records, and is a plain
    call through otherwise."""

    __slots__ = ("fn", "name", "namer", "rule", "sync", "device", "live", "__wrapped__")

    def __init__(self, fn: Callable[..., Any], name: str, namer: Any, rule: bool, backend: Any) -> None:
        self.fn = self.__wrapped__ = fn
        self.name, self.namer, self.rule = name, namer, rule
        self.live = True  # False once taken out of the caches (a compile record may still hold it)
        self.device = backend.device_type
        self.sync = None if backend.device_type == "cpu" else backend.synchronize

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        tr = _recording[0]
        if tr is None or not self.live:
            return self.fn(*args, **attrs)
        return tr.run(self, args, attrs)


def _custom_ops() -> list[registry.OpDef]:
    """The ops of the custom ``autograd.Function`` subclasses used so far (their backward is timed)."""
    from backprop.autograd.custom import Function  # (same layer; loaded only when profiling)

    found, stack = [], list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        op = cls.__dict__.get("_op")
        if op is not None:
            found.append(op)
    return found


_installed: list[Any] = [None]  # the session whose wrappers are in the caches


def _install(owner: Any) -> list[tuple[dict, str, Any, Any]]:
    """Put timing wrappers in every op's kernel caches; returns what ``_uninstall`` restores."""
    if _installed[0] is not None:  # (another owner of the wrappers may word the refusal: FlopCounterMode)
        raise RuntimeError(
            getattr(_installed[0], "_busy_message", None)
            or "profile: another profiler is already running (profilers do not nest); leave it before starting one"
        )
    backends = [b for b in registered_backends().values() if b.is_available()]
    swapped: list[tuple[dict, str, Any, Any]] = []
    ops = [registry.get(n) for n in registry.list_ops()]
    for op in [*ops, *_custom_ops()]:
        custom = op.name[:1].isupper()
        for backend in backends:
            if not custom:  # (a custom Function's forward ran before its op: nothing to time there)
                k = op.kernel(backend)
                w = _Timed(k, forward_name(op.name), _NAMERS.get(op.name), False, backend)
                op._kernels[backend.name] = w
                swapped.append((op._kernels, backend.name, k, w))
            if op.backward is not None:
                r = op.backward_kernel(backend)
                w = _Timed(r, backward_name(op.name), _node_name, True, backend)
                op._bkernels[backend.name] = w
                swapped.append((op._bkernels, backend.name, r, w))
    _installed[0] = owner
    return swapped


def _uninstall(swapped: list[tuple[dict, str, Any, Any]]) -> None:
    """Put the original kernels back (where a cache was cleared meanwhile, leave it cleared)."""
    for cache, key, original, wrapper in swapped:
        wrapper.live = False
        if cache.get(key) is wrapper:
            cache[key] = original
    _installed[0] = None


class _Session:
    """The machinery shared by both ``profile`` classes: wrappers in (prepare), a trace recording
    (start), the trace turned into events (stop), wrappers out (release)."""

    def __init__(self, record_shapes: bool, profile_memory: bool, use_device: str | None) -> None:
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.use_device = use_device
        self._swapped: list[tuple[dict, str, Any, Any]] | None = None
        self.trace: _Trace | None = None

    def prepare(self) -> None:
        if self._swapped is None:
            self._swapped = _install(self)

    def start(self) -> None:
        self.prepare()
        self.trace = _Trace(self.record_shapes, self.profile_memory)
        _recording[0] = self.trace

    def stop(self) -> EventList:
        """End the recording window; returns its events."""
        tr = self.trace
        if _recording[0] is tr:
            _recording[0] = None
        if tr is None:
            return EventList([], use_device=self.use_device, profile_memory=self.profile_memory)
        tr.close()
        return build_events(tr, self.use_device, self.profile_memory)

    def release(self) -> None:
        if self._swapped is not None:
            _uninstall(self._swapped)
            self._swapped = None


def build_events(tr: _Trace, use_device: str | None, profile_memory: bool) -> EventList:
    """A finished trace's raw events as ``FunctionEvent``s, in start order, linked into their call tree."""
    made: dict[int, FunctionEvent] = {}
    out = EventList(use_device=use_device, profile_memory=profile_memory)
    out.base_time_ns = tr.wall0
    for i, r in enumerate(tr.events, 1):
        ev = FunctionEvent(
            i,
            r.name,
            r.tid,
            (r.start - tr.t0) / 1e3,
            (r.end - tr.t0) / 1e3,
            input_shapes=r.shapes,
            device_type=r.device,
            is_user_annotation=r.cat == "user_annotation",
            use_device=use_device,
            memory=r.mem,
        )
        made[id(r)] = ev
        if r.parent is not None:
            ev.cpu_parent = parent = made[id(r.parent)]
            parent.cpu_children.append(ev)
        out.append(ev)
    return out


# -- the public API ----------------------------------------------------------------------------------------


class record_function(ContextDecorator):  # noqa: N801 - torch's name
    """A labelled region (``with record_function("step"):`` or as a decorator): an event with the region's
    total time while a profiler records, nothing otherwise."""

    def __init__(self, name: str, args: str | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"record_function: name must be a str, got {type(name).__name__}")
        self.name = name
        self.args = args
        self._event: tuple[_Trace, _Raw] | None = None

    def __enter__(self) -> record_function:
        tr = _recording[0]
        if tr is not None:
            self._event = (tr, tr.begin(self.name, "user_annotation", []))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._event is not None:
            tr, ev = self._event
            self._event = None
            if ev.end == 0:  # (a trace that stopped meanwhile closed it)
                tr.end(ev)


class profile:  # noqa: N801 - torch's name
    """``torch.autograd.profiler.profile``: record every op while the context is open, then summarise
    (``key_averages().table()``, ``function_events``, ``export_chrome_trace``). ``use_cuda`` (deprecated,
    as torch's) and ``use_device="cuda"`` label device time; kernels on CUDA tensors are timed either way."""

    def __init__(
        self,
        enabled: bool = True,
        *,
        use_cuda: bool = False,
        use_device: str | None = None,
        record_shapes: bool = False,
        with_flops: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_modules: bool = False,
        use_kineto: bool = False,
        use_cpu: bool = True,
        experimental_config: Any = None,
        acc_events: bool = False,
        custom_trace_id_callback: Any = None,
    ) -> None:
        self.enabled = enabled
        if use_cuda:
            warnings.warn(
                "The attribute `use_cuda` will be deprecated soon, please use ``use_device = 'cuda'`` instead.",
                FutureWarning,
                stacklevel=2,
            )
            use_device = "cuda"
        if use_device not in (None, "cuda"):
            raise ValueError(f"profile: use_device={use_device!r} is not supported; expected None or 'cuda'")
        self.use_device = use_device
        self.record_shapes, self.profile_memory, self.acc_events = record_shapes, profile_memory, acc_events
        self._session = _Session(record_shapes, profile_memory, use_device)
        self._function_events: EventList | None = None
        self._entered = False

    def __enter__(self) -> profile:
        if not self.enabled:
            return self
        if self._entered:
            raise RuntimeError("profile: this profiler is already running")
        self._entered = True
        self._session.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.enabled or not self._entered:
            return
        self._entered = False
        try:
            events = self._session.stop()
        finally:
            self._session.release()
        if self.acc_events and self._function_events is not None:
            events = EventList(
                [*self._function_events, *events], use_device=self.use_device, profile_memory=self.profile_memory
            )
        self._function_events = events

    def _events(self) -> EventList:
        if self._function_events is None:
            raise RuntimeError("profile: no results yet: leave the profiler's context before reading its events")
        return self._function_events

    @property
    def function_events(self) -> EventList:
        """Every recorded event, in start order."""
        return self._events()

    def key_averages(
        self, group_by_input_shape: bool = False, group_by_stack_n: int = 0, group_by_overload_name: bool = False
    ) -> EventList:
        """The events averaged by name (and input shapes): see ``EventList.key_averages``."""
        return self._events().key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def table(self, sort_by: str | None = None, row_limit: int = 100, **options: Any) -> str:
        """A table of the events themselves (not averaged), as torch's ``profile.table``."""
        return self._events().table(sort_by=sort_by, row_limit=row_limit, **options)

    def total_average(self) -> FunctionEventAvg:
        """All events summed into one."""
        return self._events().total_average()

    @property
    def self_cpu_time_total(self) -> float:
        """The self CPU times of all events summed, in microseconds."""
        return self._events().self_cpu_time_total

    def export_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Write the events as a Chrome trace JSON, atomically."""
        self._events().export_chrome_trace(path)

    def __str__(self) -> str:
        return "<unfinished profile>" if self._function_events is None else str(self._function_events)


class emit_nvtx:  # noqa: N801 - torch's name
    """``torch.autograd.profiler.emit_nvtx``, a no-op here: backprop emits no NVTX ranges (use ``profile``)."""

    def __init__(self, enabled: bool = True, record_shapes: bool = False) -> None:
        self.enabled, self.record_shapes = enabled, record_shapes

    def __enter__(self) -> emit_nvtx:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class emit_itt(emit_nvtx):  # noqa: N801 - torch's name
    """``torch.autograd.profiler.emit_itt``, a no-op here: backprop emits no Intel ITT ranges (use ``profile``)."""
