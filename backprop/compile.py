"""``bp.compile(step)``: record a training step's kernels once, then replay them without the graph.

Eager execution pays, per op, for Python dispatch, a Node, version bookkeeping and, at every
backward, a walk over the graph. A training step runs the same kernels in the same order every time
it sees tensors of the same shapes, so ``compile`` records that order (see ``autograd.trace``) and
turns it into one straight-line Python function: a line per kernel, backward rule and gradient sum,
arrays in local variables (freed after their last use), parameters and optimizer state read through
their objects, and the optimizer, ``zero_grad``, gradient clipping and LR schedulers called again
whole (their Python reads the learning rate, the step count and ``.grad`` of that moment).

How a call is served (the guard key: each tensor argument's shape, strides, dtype, device and
``requires_grad``, the other arguments' values, and the grad mode):

1. the first call with a key runs eagerly while recording;
2. the second runs eagerly and records again: the two records must agree line for line and constant
   for constant. A disagreement means the step's Python depends on its data, or reads arrays computed
   outside the op registry, and the key then stays eager (with one warning naming the first
   difference). Anything a record cannot follow (``.item()`` and other host reads, hooks,
   ``create_graph``, boolean-mask indexing, tensors nested in arguments) does the same;
3. later calls replay the record: bitwise the same results as eager execution, as the same kernels
   run on the same values in the same order (the engine's order of rules and gradient sums
   included), with random draws (dropout) taken from the generator at replay time.

A replay returns the step's outputs as tensors without a graph; ``.grad`` of the parameters is set
as eager backward sets it; ``_version`` counters do not move. A backend may later capture the
replay function itself (a CUDA graph): ``Backend.capture`` is the hook, unused today because CuPy
cannot capture cuBLAS calls (its issue #6290).
"""

from __future__ import annotations

import builtins
import datetime
import functools
import gc
import io
import random
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd import autocast_state, trace
from backprop.autograd.function import OpIndexError, OpValueError
from backprop.autograd.grad_mode import anomaly_users, autocast_users, quiet_floats, state, trace_users
from backprop.ops._util import release_reusable
from backprop.tensor import Tensor

__all__ = ["CompiledFunction", "compile"]

CACHE_SIZE = 8


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = CACHE_SIZE) -> Any:
    """``fn`` (a training step taking tensors) replayed from a record after two eager calls.

    Usable as ``step = bp.compile(step)`` or as a decorator, with or without arguments. At most
    ``cache_size`` records are kept (one per guard key); further keys run eagerly.
    """
    if fn is None:
        return functools.partial(compile, cache_size=cache_size)
    return CompiledFunction(fn, cache_size)


class _Record:
    """One key's replay function, the bound tensors whose shape, dtype and flag it assumed, and the
    modules whose state it assumed (``training``, hyper-parameters, which parameters they hold)."""

    __slots__ = ("replay", "valid", "source")

    def __init__(self, replay: Callable[..., Any], tr: trace.Tracer, source: str, reads: list) -> None:
        self.replay = replay
        # valid(): the bound tensors' shape, dtype and flag, the modules' state and the step's globals, as recorded
        self.valid = trace.guard_function(list(tr.modules.values()), tr.tensors, reads)
        self.source = source


class CompiledFunction:
    """A step function with its records (see the module docstring); call it like the function."""

    def __init__(self, fn: Callable[..., Any], cache_size: int = CACHE_SIZE, model_forward: bool = False) -> None:
        self.fn = fn
        self.cache_size = cache_size
        # ``torch.compile(model)``'s forward: in training it returns a graph, so it runs eagerly as expected, quietly
        self.model_forward = model_forward
        self._records: dict[Any, _Record] = {}
        self._first: dict[Any, trace.Tracer] = {}  # the first record of a key, awaiting the second
        self._eager: dict[Any, str] = {}  # keys that stay eager, with the reason
        self._warned: set[str] = set()
        self.replays = 0  # how many calls were served by a replay (for tests and logs)
        if not hasattr(fn, "_parameters"):  # (a Module's __dict__ is its state, not a function's attributes)
            functools.update_wrapper(self, fn)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """As a method decorator: the instance becomes the first argument (part of the guard key)."""
        return self if obj is None else functools.partial(self.__call__, obj)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", type(self.fn).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key, why = _key(args, kwargs)
        if key is None or state.tracer is not None:  # (inside another compiled step: plain code)
            if why:
                self._warn(why)
            return self.fn(*args, **kwargs)
        rec = self._records.get(key)
        if rec is not None:
            if rec.valid():
                self.replays += 1
                try:
                    with quiet_floats():  # inf/NaN silently, as eager ops and torch
                        return rec.replay(*args)
                except (IndexError, ValueError) as exc:  # a kernel's own error: the class eager's op gives
                    if isinstance(exc, RuntimeError):
                        raise
                    cls = OpIndexError if isinstance(exc, IndexError) else OpValueError
                    raise cls(f"{exc} (in a replay of bp.compile({self.name}))") from exc
            del self._records[key]  # a parameter changed shape, dtype or requires_grad: record again
        if key in self._eager:
            return self.fn(*args, **kwargs)
        if len(self._records) + len(self._first) >= self.cache_size:
            self._warn(
                f"more than {self.cache_size} different argument shapes/values (or values of the globals it "
                "reads): new ones run eagerly"
            )
            return self.fn(*args, **kwargs)
        return self._record(key, args, kwargs)

    def _record(self, key: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
        tensors = [a for a in args if isinstance(a, Tensor)]
        reads = _free_reads(self.fn)  # (as the step starts: the values it reads)
        reads += _argument_reads(args)
        hyper = _hyper_reads([v for _, _, v in reads])
        prints = [trace.fingerprint(v) for _, _, v in reads]
        tr = trace.Tracer(tensors)
        callees = _Callees(self.fn)
        np_random = _numpy_random_position()
        state.tracer = tr
        trace_users[0] += 1
        try:
            with callees:
                out = self.fn(*args, **kwargs)
        finally:
            trace_users[0] -= 1
            state.tracer = None
        reads += callees.reads
        prints += callees.prints
        hyper = _named(hyper, _words(getattr(self.fn, "__code__", None)) | callees.words)
        changed = _changed_read(reads, prints) if tr.reason is None else None
        _CELL_NAMES.clear()
        if changed is not None:  # (a replay runs none of the step's Python: the change would not happen)
            tr.fail(f"the step changes {changed} from Python")
        if callees.impure is None and _numpy_random_position() != np_random:
            callees.impure = "numpy.random (it draws NumPy random numbers)"  # (NumPy's Cython calls raise no event)
        if callees.impure is not None:
            tr.fail(f"the step calls {callees.impure} from Python, which a replay would not do again")
        if tr.reason is None and not tr.backward_seen and _carries_graph(out):
            if self.model_forward:  # (the training forward of a compiled model: eager, as intended, without a word)
                self._first.pop(key, None)
                self._eager[key] = "the forward builds a graph (training)"
                return out
            tr.fail(
                "it returns tensors that require grad and runs no backward() itself (a compiled model's "
                "forward, say): a replay returns no graph to backpropagate through. Compile the whole "
                "training step (forward, backward, optimizer.step()) instead; under bp.no_grad() "
                "(inference) the same function replays"
            )
        if tr.reason is None and tr.modules:
            _refuse_owned_arguments(tr, tensors)
            for g in tr.modules.values():
                changed = g.changed()
                if changed is not None:  # (a replay would not: the attribute would stay as the record left it)
                    tr.fail(f"the step changes {type(g.module).__name__}.{changed} (a module attribute) from Python")
                    break
        tr.output = tr.out_expr(out) if tr.reason is None else "None"
        if tr.reason is not None:
            return self._give_up(key, tr.reason, out)
        tr.keep = []  # (the arrays of this step need not outlive it)
        first = self._first.pop(key, None)
        if first is None:
            self._first[key] = tr
            return out
        diff = _difference(first, tr)
        if diff is not None:
            return self._give_up(key, f"two calls recorded different steps ({diff})", out)
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        replay = _build(tr, len(args), positions, self.name)
        source = replay.__bp_source__  # type: ignore[attr-defined]
        devices = {t.device for t in (*tensors, *tr.tensors)}
        if len(devices) == 1:  # a backend may capture the whole replay (a CUDA graph, one day)
            replay = devices.pop().backend.capture(replay) or replay
        self._records[key] = _Record(replay, tr, source, reads + hyper)
        release_reusable()  # (the eager ops' kept work buffers: the replay computes in its own)
        return out

    def _give_up(self, key: Any, reason: str, out: Any) -> Any:
        self._first.pop(key, None)
        self._eager[key] = reason
        self._warn(f"this step cannot be replayed, so it runs eagerly: {reason}")
        return out

    def _warn(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            warnings.warn(f"bp.compile({self.name}): {text}", RuntimeWarning, stacklevel=3)

    def records(self) -> int:
        """How many replayable records are cached."""
        return len(self._records)

    def source(self) -> list[str]:
        """The generated replay functions' source (for debugging)."""
        return [r.source for r in self._records.values()]


def _carries_graph(out: Any) -> bool:
    """True when ``out`` (a tensor, or containers of them) holds a tensor that requires grad."""
    if isinstance(out, Tensor):
        return out.requires_grad
    if isinstance(out, (tuple, list)):
        return any(_carries_graph(o) for o in out)
    if isinstance(out, dict):
        return any(_carries_graph(o) for o in out.values())
    return False


def _key(args: tuple, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """The guard key of a call, or (None, why) when the call cannot be keyed."""
    parts: list[Any] = [state.enabled]
    if autocast_users[0]:  # (under autocast the same code runs other kernels on other dtypes)
        parts.append(autocast_state.key())
    if anomaly_users[0] and state.anomaly:
        return None, "anomaly detection is on: the step runs eagerly so that every op's output is checked"
    seen: dict[int, int] = {}
    for i, a in enumerate((*args, *(kwargs[k] for k in sorted(kwargs)))):
        if isinstance(a, Tensor):
            if a.is_nested:
                return None, "nested tensors are not recorded (their offsets are read on the host)"
            # (strides too, as torch.compile's tensor guards: a transposed or expanded argument where the record had
            # a contiguous one must not replay past what eager refuses of it, ``view`` of a transpose say)
            parts.append((a._data.shape, a._data.strides, a._data.dtype, a.device, a._requires_grad))
            j = seen.setdefault(id(a), i)
            if j != i:  # (the same tensor twice: a record of step(x, x) reads one of them for both)
                parts.append(("same as", j))
        elif isinstance(a, (list, tuple, dict)) and _has_tensor(a):
            return None, "tensors nested in a list, tuple or dict are not followed: pass them as arguments"
        else:
            try:
                hash(a)
            except TypeError:
                return None, f"an argument of type {type(a).__name__} is not hashable, so calls cannot be keyed"
            parts.append((type(a), a))
    if any(isinstance(v, Tensor) for v in kwargs.values()):
        return None, "tensors passed by keyword are not followed: pass them positionally"
    if kwargs:
        parts.append(tuple(sorted(kwargs)))
    return tuple(parts), None


def _hyper_reads(values: list[Any]) -> list[tuple[Any, str | None, Any]]:
    """The hyper-parameters of the optimizers and LR schedulers among ``values`` (the step's globals, closure
    variables and arguments, and their attributes one level down: a trainer's ``self.optimizer``), as guard reads
    taken as the step starts: ``(param group, key, number)``, ``(optimizer.defaults, key, number)`` and
    ``(scheduler.__dict__, "_last_lr", list)``. ``_named`` keeps those the step's code can have read."""
    found: dict[int, Any] = {}
    for v in values:
        for x in (v, *(object.__getattribute__(v, "__dict__").values() if trace._plain_object(v) else ())):
            if _optimizer_like(x) or _scheduler_like(x):
                found.setdefault(id(x), x)
                if _scheduler_like(x):
                    found.setdefault(id(x.optimizer), x.optimizer)
    reads: list[tuple[Any, str | None, Any]] = []
    for x in found.values():
        if _scheduler_like(x):
            if isinstance(x.__dict__.get("_last_lr"), list):
                reads.append((x.__dict__, "_last_lr", x.__dict__["_last_lr"]))
            continue
        for holder in (*x.param_groups, x.defaults):
            reads += [(holder, k, v) for k, v in holder.items() if k != "params" and v.__class__ in trace._LITERALS]
            reads += [(holder, k, v) for k, v in holder.items() if v.__class__ is tuple]  # (betas)
    return reads


def _optimizer_like(x: Any) -> bool:
    """An optimizer, by its state (``param_groups``, ``defaults``): ``compile`` sits below ``optim``."""
    d = getattr(x, "__dict__", None)
    return isinstance(d, dict) and isinstance(d.get("param_groups"), list) and isinstance(d.get("defaults"), dict)


def _scheduler_like(x: Any) -> bool:
    """An LR scheduler: ``get_last_lr`` and the optimizer it drives."""
    d = getattr(x, "__dict__", None)
    return (
        isinstance(d, dict) and callable(getattr(type(x), "get_last_lr", None)) and _optimizer_like(d.get("optimizer"))
    )


def _named(hyper: list[tuple[Any, str | None, Any]], words: set[str]) -> list[tuple[Any, str | None, Any]]:
    """Of ``_hyper_reads``, those the step's own code may have read as numbers (baked into the record as
    constants): a group's key when the code names ``param_groups`` (or ``defaults``) and that key as a string
    (``opt.param_groups[0]["lr"]``), a scheduler's last rates when it calls ``get_last_lr``. Calls replayed whole
    (``optimizer.step()``, ``scheduler.step()``) read them afresh at every replay, so the rest are not guarded
    (a scheduler moves the rate every step)."""
    groups = "param_groups" in words or "defaults" in words
    rates = "get_last_lr" in words or "_last_lr" in words
    return [r for r in hyper if (r[1] == "_last_lr" and rates) or (r[1] != "_last_lr" and groups and r[1] in words)]


def _words(code: Any) -> set[str]:
    """The names (globals, attributes) and string constants of ``code`` and the functions defined in it."""
    words: set[str] = set()
    stack = [code] if isinstance(code, types.CodeType) else []
    while stack:
        c = stack.pop()
        words.update(c.co_names)
        for k in c.co_consts:
            if isinstance(k, str):
                words.add(k)
            elif isinstance(k, types.CodeType):
                stack.append(k)
    return words


def _free_reads(fn: Any) -> list[tuple[Any, str | None, Any]]:
    """The globals and closure variables the step function's own code names, with their values now:
    ``(globals dict, name, value)`` and ``(cell, None, value)``. A record bakes numbers in as constants and
    reads tensors and modules through their objects, so rebinding ``scale = 0.5`` or ``mask = new_mask``
    between calls must record again (as torch.compile's guards on globals). Functions the step calls are
    followed while it records (``_Callees``)."""
    code, names = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
    if code is None or names is None:
        return []
    seen: set[str] = set()
    stack = [code]
    while stack:  # (the step's own code and the lambdas and comprehensions in it)
        c = stack.pop()
        seen.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    reads: list[tuple[Any, str | None, Any]] = [(names, n, names[n]) for n in sorted(seen) if n in names]
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            reads.append((cell, None, cell.cell_contents))
        except ValueError:  # (an empty cell: a name assigned later)
            continue
        _CELL_NAMES[id(cell)] = name
    return reads


# The names of the closure cells the guards read, for messages (id of the cell -> its variable's name); cleared
# after each record.
_CELL_NAMES: dict[int, str] = {}


def _changed_read(reads: list[tuple[Any, str | None, Any]], prints: list[Any]) -> str | None:
    """The first global or closure variable the recorded step rebound or changed in place (``history.append``,
    ``cfg.seen += 1``, ``global count; count += 1``), named; None: the step left them all as it found them."""
    for (holder, key, v), before in zip(reads, prints):
        if key is None:
            try:
                now = holder.cell_contents
            except ValueError:
                now = _GONE
        else:
            now = holder.get(key, _GONE)
        if now is not v or trace.fingerprint(v) != before:
            if key is None:
                return f"closure variable {_CELL_NAMES.get(id(holder), '?')!r}"
            return f"{key} ({type(v).__name__})" if holder.__class__ is _Arguments else f"global {key!r}"
    return None


_GONE = object()


class _Arguments(dict):
    """The step's non-tensor object arguments by position, as guard reads (``"argument 0"`` -> the object): the
    key holds their identity; their contents are guarded and checked for changes as a global's are."""

    __slots__ = ()


def _argument_reads(args: tuple) -> list[tuple[Any, str | None, Any]]:
    held = _Arguments(
        (f"argument {i}", a)
        for i, a in enumerate(args)
        if not isinstance(a, Tensor) and a.__class__ not in trace._LITERALS and a.__class__ is not tuple
    )
    return [(held, k, v) for k, v in held.items()]


def _holds(cell: Any, value: Any) -> bool:
    try:
        return cell.cell_contents is value
    except ValueError:  # (an empty cell)
        return value is _GONE


# What a step's own Python may call that a replay, running none of it, would not do again: print or write, log,
# read the clock, draw Python or NumPy random numbers (the record bakes the draw in). Recording such a step runs
# it eagerly, with the warning. (C functions by identity or by the object they are bound to; the standard
# library's Python modules by name.)
_IMPURE_BUILTINS = {print: "prints", input: "reads input", open: "opens a file", breakpoint: "enters the debugger"}
_IMPURE_MODULES = {
    "time": "reads the clock",
    "datetime": "reads the clock",
    "random": "draws Python random numbers",
    "secrets": "draws random numbers",
    "uuid": "draws random numbers",
    "logging": "logs",
}


def _impure(fn: Any) -> str | None:
    """What calling the C function ``fn`` does that a replay would not do again (None: nothing we know of)."""
    try:
        what = _IMPURE_BUILTINS.get(fn)
    except TypeError:  # (unhashable)
        return None
    if what is not None:
        return what
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, random.Random):
        return "draws Python random numbers"
    if isinstance(owner, (np.random.RandomState, np.random.Generator)):
        return "draws NumPy random numbers"
    if isinstance(owner, io.IOBase):
        return "writes to a file or stream"
    if owner is datetime.datetime or owner is datetime.date:
        return "reads the clock"
    return _IMPURE_MODULES.get(getattr(fn, "__module__", None) or "")


def _numpy_random_position() -> tuple[int, int]:
    """Where NumPy's global random stream stands (its Mersenne Twister's position and the word there): a draw from
    ``np.random.rand`` in the step moves it (the record would bake that draw in)."""
    state = np.random.get_state(legacy=False)["state"]
    return int(state["pos"]), int(state["key"][state["pos"] % len(state["key"])])


def _users_frame(frame: Any) -> bool:
    """Whether ``frame`` runs a user's code (not ours, a library's or the standard library's)."""
    return trace.users_module(frame.f_globals.get("__name__") or "")


class _Callees:
    """While a step records: the globals and closure variables of the functions it calls, as
    ``_free_reads`` gives the step's own, with their values as each function is first entered.

    A user's ``forward`` or loss function that reads a module-level ``SCALE`` bakes it into the record
    as a constant like the step's own code does, so rebinding it must record again (torch.compile's
    Dynamo guards the globals of the frames it inlines the same way). Python's profiler hook sees each
    call; functions of the standard library and of ``trace.LIBRARIES`` are not followed, nor those called inside a
    call replayed whole (an optimizer's step hook, an LR lambda: they run again at each replay). When a profiler is
    already active (cProfile, a debugger), it is left alone and callees are not followed.

    The same hook sees what the user's code calls that a replay would not do again (``print``, ``logging``,
    ``time.time()``, ``random.random()``: ``_impure``); ``impure`` names the first such call."""

    def __init__(self, fn: Any) -> None:
        self.reads: list[tuple[Any, str | None, Any]] = []
        self.prints: list[Any] = []  # (each read's contents as the function was entered: trace.fingerprint)
        self._seen: dict[int, Any] = {id(getattr(fn, "__code__", None)): None}  # (the step's own: _free_reads)
        for callback in gc.callbacks:  # (called by the collector whenever it runs, not by the step)
            code = getattr(getattr(callback, "__func__", callback), "__code__", None)
            self._seen[id(code)] = code
        self._keys: set[tuple[int, str | None]] = set()
        self._active = False
        self.impure: str | None = None
        self.words: set[str] = set()  # (the attribute names and strings of the user's code it ran: ``_named``)

    def __enter__(self) -> _Callees:
        if sys.getprofile() is None:
            self._active = True
            sys.setprofile(self._event)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._active:
            sys.setprofile(None)
            self._active = False

    def _event(self, frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            if self.impure is None:
                what = _impure(arg)
                if what is not None and _users_frame(frame) and not _paused():
                    self.impure = f"{getattr(arg, '__qualname__', None) or arg.__name__}() ({what})"
            return
        if event != "call":
            return
        code = frame.f_code
        if id(code) in self._seen:
            return
        if _paused():  # (inside a call replayed whole, a hook or an LR lambda: it runs again)
            return
        names = frame.f_globals
        module = names.get("__name__") or ""
        top = module.partition(".")[0]
        if top in _IMPURE_MODULES and self.impure is None and frame.f_back is not None and _users_frame(frame.f_back):
            self.impure = f"{module}.{getattr(code, 'co_qualname', code.co_name)}() ({_IMPURE_MODULES[top]})"
        self._seen[id(code)] = code  # (kept: the id stays this code's)
        if not trace.users_module(module):
            return
        self.words |= _words(code)
        for n in code.co_names:
            if n in names and (id(names), n) not in self._keys:
                v = names[n]
                if not isinstance(v, types.ModuleType):  # (an import: not rebound between steps)
                    self._keys.add((id(names), n))
                    self.reads.append((names, n, v))
                    self.prints.append(trace.fingerprint(v))
        if code.co_freevars:
            self._closures(frame, code)

    def _closures(self, frame: Any, code: types.CodeType) -> None:
        """The cells of the functions running ``code``. A frame does not name its function: it is looked for
        among the caller's local and global variables (``loss_fn = make_loss(...)``, a decorator's wrapped
        function), else through the garbage collector's referrers (tens of ms in a large program, once per
        code object and record)."""
        fns = []
        back = frame.f_back
        if back is not None:
            for v in (*back.f_locals.values(), *back.f_globals.values()):
                f = v.__func__ if v.__class__ is types.MethodType else v
                if f.__class__ is types.FunctionType and f.__code__ is code and f not in fns:
                    fns.append(f)
        if not fns:
            fns = [f for f in gc.get_referrers(code) if isinstance(f, types.FunctionType) and f.__code__ is code]
        here = frame.f_locals  # (its free variables' values: which of a factory's closures is running)
        fns = [
            f for f in fns if all(_holds(c, here.get(n, _GONE)) for n, c in zip(code.co_freevars, f.__closure__ or ()))
        ]
        for f in fns[:8]:  # (a factory's many closures: the first few; more are not followed)
            for name, cell in zip(code.co_freevars, f.__closure__ or ()):
                _CELL_NAMES[id(cell)] = name
                if (id(cell), None) in self._keys:
                    continue
                try:
                    v = cell.cell_contents
                except ValueError:  # (an empty cell)
                    continue
                if not isinstance(v, types.ModuleType):
                    self._keys.add((id(cell), None))
                    self.reads.append((cell, None, v))
                    self.prints.append(trace.fingerprint(v))


def _paused() -> bool:
    tr = state.tracer
    return tr is not None and tr.paused


def _refuse_owned_arguments(tr: trace.Tracer, tensors: list[Tensor]) -> None:
    """A parameter or buffer of a module the step calls, passed as an argument too, is one variable in the
    record: a replay with another tensor in that place would read it for the module's parameter as well."""
    owned = {
        id(t)
        for g in tr.modules.values()
        for slot in ("_parameters", "_buffers")
        for t in g.module.__dict__[slot].values()
        if t is not None
    }
    for i, t in enumerate(tensors):
        if id(t) in owned:
            tr.fail(f"tensor argument {i} is a parameter or buffer of a module the step calls")
            return


def _has_tensor(obj: Any) -> bool:
    if isinstance(obj, Tensor):
        return True
    if isinstance(obj, dict):
        obj = list(obj.values())
    return isinstance(obj, (list, tuple)) and any(_has_tensor(o) for o in obj)


# ---------------------------------------------------------------------------------------- agreement
def _difference(a: trace.Tracer, b: trace.Tracer) -> str | None:
    """Where two records of the same key differ (None: they agree)."""
    if len(a.lines) != len(b.lines):
        return f"{len(a.lines)} vs {len(b.lines)} recorded calls"
    for i, ((la, _), (lb, _)) in enumerate(zip(a.lines, b.lines)):
        if la != lb:
            return f"call {i}: {la!r} vs {lb!r}"
    if a.output != b.output:
        return f"outputs {a.output!r} vs {b.output!r}"
    for name, va in a.env.items():
        if not _same(va, b.env.get(name)):
            return f"{name} differs: {_describe(va)} vs {_describe(b.env.get(name))}"
    return None


def _describe(v: Any) -> str:
    if isinstance(v, Tensor) or trace.is_array(v):
        return f"an array of shape {tuple(v.shape)}"
    if isinstance(v, trace.ReplayCtx):
        return f"the backward of {v.name} with {dict(v.attrs)!r:.60}"
    return repr(v)[:80]


def _same(a: Any, b: Any) -> bool:
    """Whether two recorded constants are interchangeable (arrays and tensors by value)."""
    if a is b:
        return True
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a._requires_grad == b._requires_grad and a.device is b.device and _same(a._data, b._data)
    if trace.is_array(a) and trace.is_array(b):
        if type(a) is not type(b) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        xp = _xp_of(a)
        return bool(xp.array_equal(a, b, equal_nan=_dtypes.kind(a.dtype) in "fc"))
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return _same(a.func, b.func) and _same(a.args, b.args) and _same(a.keywords, b.keywords)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, trace.ReplayCtx) and isinstance(b, trace.ReplayCtx):
        return (
            a.name == b.name
            and a.needs_input_grad == b.needs_input_grad
            and a.input_shapes == b.input_shapes
            and _same(a.attrs, b.attrs)
        )
    if type(a) is not type(b):
        return False
    if hasattr(a, "__slots__") and not hasattr(a, "__dict__"):  # small records (a kernel and its flags)
        return all(_same(getattr(a, k, None), getattr(b, k, None)) for k in a.__slots__)
    try:
        return bool(a == b)
    except Exception:  # objects without a usable equality (arrays inside): not interchangeable
        return False


def _xp_of(a: Any) -> Any:
    import numpy as np

    if isinstance(a, np.ndarray):
        return np
    import cupy  # only reached for device arrays

    return cupy


# ---------------------------------------------------------------------------------------- building
def _build(tr: trace.Tracer, n_args: int, positions: list[int], name: str) -> Callable[..., Any]:
    """The replay function of a record: its lines, with ``del`` after each variable's last use."""
    lines = tr.lines
    last: dict[str, int] = {}
    for i, (line, reads) in enumerate(lines):
        for w in _defined(line):
            last.setdefault(w, i)
        for r in reads:
            last[r] = i
    kept = set(trace._words(tr.output))
    lines = _donate(tr, last, kept)
    dels: dict[int, list[str]] = {}
    for var, i in last.items():
        if var not in kept:
            dels.setdefault(i, []).append(var)
    params = [f"_p{i}" for i in range(n_args)]
    for k, i in enumerate(positions):
        params[i] = f"a{k}"
    body = []
    for i, (line, _) in enumerate(lines):
        body.append(f"    {line}")
        if i in dels:
            body.append(f"    del {', '.join(sorted(dels[i]))}")
    body.append(f"    return {tr.output}")
    src = f"def replay({', '.join(params)}):\n" + "\n".join(body) + "\n"
    env = dict(tr.env)
    code = builtins.compile(src, f"<bp.compile {name}>", "exec")
    exec(code, env)  # our own generated source (see trace.Tracer)
    fn = env["replay"]
    fn.__bp_source__ = src
    return fn


def _donate(tr: trace.Tracer, last: dict[str, int], kept: set[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The record's lines with buffer donations applied: where a kernel or rule reads the last live
    name of some memory (no variable sharing that memory is read later, returned, or handed to a
    ``.grad``, and the memory is not a parameter's or another bound array's), it may compute in that
    memory instead of allocating: the cross-entropy forward in the logits' buffer, an elementwise
    rule in ``gy``'s (``gy_consumable``). Values are unchanged: the same arithmetic, in place."""
    lines = list(tr.lines)
    if not tr.donations:
        return lines
    sharing: dict[int, list[str]] = {}  # root id -> the variables whose memory it owns
    for var, roots in tr.root_of.items():
        for r in roots:
            sharing.setdefault(r, []).append(var)
    kept_roots = {r for v in kept for r in tr.root_of.get(v, ())}
    for i, var, others, kind, payload in tr.donations:
        roots = tr.root_of[var]
        if roots & tr.external or roots & kept_roots:
            continue
        names = {u for r in roots for u in sharing[r]}
        if any(last.get(u, -1) > i for u in names) or names.intersection(others):
            continue
        if kind == "fn":
            name, alt = payload
            line, reads = lines[i]
            lines[i] = (line.replace(f" = {name}(", f" = {alt}(", 1), reads)
        else:
            payload.gy_consumable = True
    return lines


def _defined(line: str) -> list[str]:
    """The local variables a line assigns (``v3 = ...``, ``v4, _ = ...``)."""
    if " = " not in line:
        return []
    lhs = line.split(" = ", 1)[0]
    names = [n.strip() for n in lhs.split(",")]
    return [n for n in names if n[:1] == "v" and n[1:].isdigit()]
