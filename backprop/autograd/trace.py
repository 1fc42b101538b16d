"""Step capture for ``bp.compile``: while a ``Tracer`` is active, every array-producing call of a step
reports itself here, and the tracer writes it down as one line of a straight-line Python function.

What reports itself: forward kernels (``apply``), in-place kernels and writes (``apply_``, ``fill_``,
``copy_``, ``__setitem__``), backward rules and the engine's gradient arithmetic (``_walk``,
``_accumulate``), factories (``bp.zeros``, ``bp.randn``, ...), dropout's mask, and *calls*: functions
that are replayed whole (``Optimizer.step``, ``zero_grad``, ``clip_grad_norm_``, ``LRScheduler.step``)
because they read Python state that changes from step to step (the step count, the learning rate).
What cannot be replayed faithfully (a host read such as ``.item()``, a gradient hook, ``create_graph``)
makes the trace *fail*: ``bp.compile`` then runs that step eagerly and says why, once.

Arrays are named by identity while tracing (every traced array is kept alive, so ``id`` is unique):
an array a recorded call produced is a local variable of the replay function; the data of any other
tensor is read through the tensor at replay time (``t3._data``: the step's arguments are the replay
function's parameters, parameters and other tensors are bound objects), so in-place updates and
rebinding of ``.data`` between steps are seen; anything else is a constant of the trace.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import re
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from backprop.autograd.grad_mode import state, trace_users
from backprop.backends.meta_backend import meta_values

_LITERALS = (bool, int, float, type(None), str)

# Top-level packages whose functions and classes a compiled step uses without their state being guarded: ours
# (our Python reads of module state are recorded or replayed whole), the array libraries', test tooling (hypothesis's
# garbage-collector callback times the collections that happen during a step), and the standard library.
LIBRARIES = frozenset(
    {"backprop", "numpy", "cupy", "cupyx", "scipy", "torch", "hypothesis", "_pytest", "pluggy", "coverage"}
)
STDLIB = frozenset(sys.stdlib_module_names)


def users_class(cls: Any) -> bool:
    """Whether the class ``cls`` is a user's (not builtin, standard library or ``LIBRARIES``): its attributes are
    the user's state (``Net.scale = 2.0`` between calls, a method patched at run time), guarded as a config's."""
    return users_module(getattr(cls, "__module__", None) or "builtins")


def users_module(name: str) -> bool:
    """Whether the module called ``name`` is a user's (not builtin, standard library or ``LIBRARIES``)."""
    top = name.partition(".")[0]
    return top not in LIBRARIES and top not in STDLIB and top != "builtins" and not top.startswith("_pytest")


class ReplayCtx:
    """The ``Ctx`` a backward rule receives at replay: the contract of ``backprop.registry.Ctx``
    with the values of one recorded node (``saved`` and ``aux`` are set just before each call)."""

    __slots__ = ("saved", "aux", "attrs", "needs_input_grad", "input_shapes", "xp", "backend", "name", "gy_consumable")
    create_graph = False
    aux_consumable = True  # each replay's aux is its own, used by this rule alone

    def __init__(self, node: Any) -> None:
        """Copy what does not change between replays from the recorded ``node``."""
        self.saved: Any = None
        self.aux: Any = None
        self.attrs = dict(node.attrs)
        self.needs_input_grad = node.needs_input_grad
        self.input_shapes = node.input_shapes
        self.xp = node.device.xp
        self.backend = node.device.backend
        self.name = node.op.name
        self.gy_consumable = False  # set when the record proves gy dead after this rule (see compile._donate)

    def call(self, op: Any, *args: Any, **attrs: Any) -> Any:
        """Run another op's kernel inside the rule (as ``Node.call`` without a graph)."""
        out = op.kernel(self.backend)(*args, **attrs)
        return out[0] if op.aux else out


class Tracer:
    """The lines of one step's replay function, and the objects they refer to."""

    def __init__(self, inputs: list[Any]) -> None:
        """Start a trace whose replay function takes the tensors ``inputs`` as its parameters."""
        self.lines: list[tuple[str, tuple[str, ...]]] = []  # (statement, the variables it reads)
        self.env: dict[str, Any] = {}  # bound objects: kernels, constants, tensors, contexts
        self.var_of: dict[int, str] = {}  # id(array) -> local variable holding it at replay
        self.tensor_of: dict[int, str] = {}  # id(tensor) -> its name (an input, or a bound tensor)
        self.keep: list[Any] = []  # everything named by id stays alive while tracing
        self.paused = 0  # > 0 inside a call that is replayed whole
        self.output = "None"  # the replay's return expression (set when the step returns)
        self.reason: str | None = None  # why the step cannot be replayed, once known
        self.backward_seen = False  # a backward() ran inside the step
        self.tensors: list[Any] = []  # bound tensors read at replay (guarded: shape, dtype, requires_grad)
        self.data_of: dict[int, str] = {}  # id(array) -> "t3._data", for index tensors' arrays in op attributes
        self.modules: dict[int, ModuleGuard] = {}  # id(module) -> its state when called
        # buffer donation (see ``donate``): each local variable's memory, by the id of the array that
        # owns it (views share their base's), and the memory that is not the step's own to reuse
        self.root_of: dict[str, frozenset[int]] = {}
        self.external: set[int] = set()
        self.donations: list[tuple[int, str, tuple[str, ...], str, Any]] = []
        self._n = 0
        for i, t in enumerate(inputs):
            self.tensor_of[id(t)] = f"a{i}"
            self.keep.append(t)

    @contextlib.contextmanager
    def untraced(self) -> Iterator[None]:
        """Nothing inside reports itself (a call replayed whole records as one line)."""
        self.paused += 1
        try:
            yield
        finally:
            self.paused -= 1

    # -- names ---------------------------------------------------------------------------------
    def fail(self, reason: str) -> None:
        """Mark the step as not replayable (the first reason is the one reported)."""
        if self.reason is None:
            self.reason = reason

    def bind(self, obj: Any, prefix: str = "k") -> str:
        """A global name for ``obj`` in the replay function."""
        self._n += 1
        name = f"{prefix}{self._n}"
        self.env[name] = obj
        self.keep.append(obj)
        return name

    def new_var(self, value: Any, fresh: bool = False) -> str:
        """A fresh local variable for ``value``, an array a recorded call produced. ``fresh``: a kernel
        or backward rule made it, so its memory is the step's own unless it is a view of memory that
        is not (a parameter's, say); any other producer (``.grad`` handed over, factories, calls
        replayed whole) marks its memory as not reusable."""
        self._n += 1
        name = f"v{self._n}"
        self.var_of[id(value)] = name
        self.keep.append(value)
        roots = _roots(value)
        self.root_of[name] = roots
        if not fresh:
            self.external |= roots
        return name

    def escape(self, value: Any) -> None:
        """``value``'s memory outlives the step or belongs to someone else: never reused in place."""
        self.external |= _roots(value)

    def donate(self, var: str, others: tuple[str, ...], kind: str, payload: Any) -> None:
        """The line just emitted may reuse ``var``'s memory, if the record shows nothing reads that
        memory afterwards (and ``others``, the line's other array reads, do not share it). ``kind``:
        ``"fn"`` swaps the line's function for ``payload = (name, donating name)``; ``"ctx"`` sets the
        ``gy_consumable`` flag of the ReplayCtx bound as ``payload``. Decided in ``compile._build``."""
        if self.root_of.get(var):
            line_reads = {w for w in self.lines[-1][1] if w != var}
            words = tuple(line_reads.union(w for o in others for w in _words(o)))
            self.donations.append((len(self.lines) - 1, var, words, kind, payload))

    def local(self) -> str:
        """A fresh local variable name for a value no other line looks up by identity."""
        self._n += 1
        return f"v{self._n}"

    def tensor(self, t: Any) -> str:
        """The name under which the tensor ``t`` is read at replay."""
        name = self.tensor_of.get(id(t))
        if name is None:
            if t.grad_fn is not None:  # a non-leaf from an earlier step: its data is not followed
                self.fail(f"the step reads a tensor computed outside it (shape {tuple(t.shape)}, with a graph)")
            name = self.tensor_of[id(t)] = self.bind(t, "t")
            self.tensors.append(t)
        return name

    def ref(self, value: Any, tensor: Any = None) -> str:
        """An expression for ``value`` (an array, a scalar, anything) at replay."""
        cls = value.__class__
        if cls in _LITERALS and (cls is not float or math.isfinite(value)):
            return repr(value)
        var = self.var_of.get(id(value))
        if var is not None:
            return var
        self.escape(value)
        if tensor is not None:
            return f"{self.tensor(tensor)}._data"
        return self.bind(value)

    def attr(self, value: Any) -> str:
        """An expression for an op attribute: tuples and lists item by item, and arrays in them
        (index arrays) looked up at replay when they are a step tensor's data or a recorded result."""
        if isinstance(value, (tuple, list)):
            items = ", ".join(self.attr(v) for v in value)
            return f"({items},)" if isinstance(value, tuple) else f"[{items}]"
        if value.__class__ in _LITERALS:
            return self.ref(value)
        var = self.var_of.get(id(value))
        if var is not None:
            return var
        self.escape(value)
        data = self.data_of.get(id(value))
        return data if data is not None else self.bind(value)

    def guard_module(self, m: Any) -> None:
        """A module was called: its plain attributes (``training``, ``p``, ...) and the identity of its
        parameters, buffers and submodules are what the record assumes."""
        if id(m) not in self.modules:
            self.modules[id(m)] = ModuleGuard(m)
            self.keep.append(m)

    def note_index(self, t: Any) -> None:
        """The tensor ``t`` is used as an index: its data is read at replay where an op attribute holds it."""
        if id(t._data) not in self.var_of:
            self.data_of[id(t._data)] = f"{self.tensor(t)}._data"

    def out_expr(self, out: Any) -> str:
        """The expression a replay returns for the step's output ``out`` (tensors without a graph)."""
        if isinstance(out, (tuple, list)):
            items = "".join(self.out_expr(o) + ", " for o in out)
            return f"({items})" if isinstance(out, tuple) else f"[{items}]"
        if hasattr(out, "grad_fn"):
            name = self.tensor_of.get(id(out))
            if name is not None:
                return name
            var = self.var_of.get(id(out._data))
            if var is None:
                return self.bind(out, "t")
            self.escape(out._data)  # (returned, or handed to a .grad: it lives on)
            return f"{self.bind(out._wrap, 'f')}({var}, {self.bind(out.device)}, None)"
        if out.__class__ in _LITERALS:
            return repr(out)
        self.fail(f"the step returns a {type(out).__name__}; a replay can return tensors, tuples and lists of them")
        return "None"

    # -- lines ---------------------------------------------------------------------------------
    def emit(self, line: str, reads: tuple[str, ...] = ()) -> None:
        """Append a statement; ``reads``: the expressions it reads (local variables are kept)."""
        self.lines.append((line, tuple({w for r in reads for w in _words(r)})))

    def call(
        self,
        fn: Callable[..., Any],
        args: list[str],
        out: Any,
        n_out: int = 0,
        attrs: dict[str, Any] | None = None,
        fresh: bool = False,
    ) -> Any:
        """Record ``out = fn(*args, **attrs)`` (``args``: expressions from ``ref``); returns the
        output's name(s). ``n_out`` > 0 unpacks a tuple result into that many variables; ``fresh``:
        as ``new_var``'s (a kernel or rule: its results are the step's own memory)."""
        f = self.bind(fn, "f")
        if attrs:
            args = [*args, *(f"{k}={self.attr(v)}" for k, v in attrs.items())]
        reads = tuple(args)
        call = f"{f}({', '.join(args)})"
        if n_out:
            names = [self.new_var(o, fresh) if o is not None else "_" for o in out]
            self.emit(f"{', '.join(names)}{',' if n_out == 1 else ''} = {call}", reads)
            return names
        if out is None:
            self.emit(call, reads)
            return None
        name = self.new_var(out, fresh)
        self.emit(f"{name} = {call}", reads)
        return name


class ModuleGuard:
    """What a replay assumes of a module: its plain attributes (``training``, ``p``, ...) and which
    parameters, buffers and submodules it holds; ``holds()`` says whether that is still so.

    Checked before every replay, so it is kept to a few C-level calls per module: the plain
    attributes are read with one ``itemgetter`` built at record time (an attribute added or removed
    changes the ``__dict__``'s length), and compared with their types, so a tensor replacing a number
    is seen."""

    __slots__ = ("module", "keys", "getter", "state", "objects", "classes")

    def __init__(self, m: Any) -> None:
        keys = tuple(k for k, v in m.__dict__.items() if v.__class__ in _LITERALS)
        self.module = m
        self.keys = keys
        self.getter = operator.itemgetter(*keys) if len(keys) > 1 else _one_tuple(keys)
        self.state = self.now()
        # the other plain attributes (a tensor, a function, a config dict): (name, object, a copy of a small
        # container of numbers and strings, else None). ``self.mask = new_mask`` or ``self.cfg["scale"] = 0.5``
        # between calls records again
        self.objects = tuple(
            (k, v, _literal_copy(v))
            for k, v in m.__dict__.items()
            if v.__class__ not in _LITERALS and k not in ("_parameters", "_buffers", "_modules")
        )
        # the user's classes among its bases, with their attributes: ``self.scale`` may be a class attribute
        # (``Net.scale = 2.0`` between calls must record again), and ``forward`` may be patched at run time
        self.classes = tuple((c, _literal_copy(c)) for c in type(m).__mro__ if users_class(c))

    def now(self) -> tuple | None:
        """The module's state as the record compares it (None: an attribute it had is gone)."""
        d = self.module.__dict__
        try:
            values = self.getter(d)
        except KeyError:
            return None
        return (  # (types before values: a tensor in a number's place never reaches ==)
            len(d),
            tuple(map(type, values)),
            values,
            tuple(map(id, d["_parameters"].values())),
            tuple(map(id, d["_buffers"].values())),
            tuple(map(id, d["_modules"].values())),
        )

    def holds(self) -> bool:
        """Whether the module is as it was when recorded."""
        d = self.module.__dict__
        return (
            self.now() == self.state
            and all(d.get(k, _GONE) is v and unchanged(v, c) for k, v, c in self.objects)
            and all(unchanged(c, snap) for c, snap in self.classes)
        )

    def changed(self) -> str | None:
        """The first attribute that differs from the record's start (None: none does)."""
        d = self.module.__dict__
        for k, v, c in self.objects:
            if d.get(k, _GONE) is not v or not unchanged(v, c):
                return k
        for cls, snap in self.classes:
            if not unchanged(cls, snap):
                return f"(an attribute of its class {cls.__name__})"
        now, then = self.now(), self.state
        if now == then:
            return None
        if now is None or then is None or now[0] != then[0]:
            return "(an attribute added or removed)"
        for k, v, was in zip(self.keys, now[2], then[2]):
            if v.__class__ is not was.__class__ or not (v is was or v == was):
                return k
        return "(its parameters, buffers or submodules)"


class AttrsOf(dict):
    """A snapshot of a plain object's ``__dict__`` (a config object: ``argparse.Namespace``, a dataclass,
    ``SimpleNamespace``; a user's trainer) or of a user's class's own attributes: each attribute as ``(how,
    value)``, compared by ``unchanged``: numbers and strings by value, small containers by their snapshot, other
    objects by identity."""

    __slots__ = ()


class ItemsOf(tuple):
    """A snapshot of a small list or dict holding other objects (tensors, modules): its items (a dict's keys,
    then its values), compared by identity, numbers and strings by value (``unchanged``)."""

    __slots__ = ()


def _items(v: Any) -> tuple:
    return (*v.keys(), *v.values()) if isinstance(v, dict) else tuple(v)


def _literal_copy(v: Any) -> Any:
    """A copy of a small dict, list, tuple or set holding only numbers and strings, an ``ItemsOf`` snapshot of a
    small list or dict of other objects, or an ``AttrsOf`` snapshot of a config object's attributes (None for
    anything else): ``cfg["scale"] = 0.5``, ``args.alpha = 0.5`` or ``extra[0] = other_tensor`` between calls must
    record again, as the record baked the old number in or reads the old tensor."""
    if v.__class__ in (dict, list, tuple, set):
        if len(v) <= 64:
            items = [*v.keys(), *v.values()] if isinstance(v, dict) else v
            if all(x.__class__ in _LITERALS for x in items):
                return v if isinstance(v, tuple) else v.copy()
            if v.__class__ in (dict, list):
                return ItemsOf(_items(v))
        return None
    if isinstance(v, type):
        if not users_class(v):
            return None
        d = v.__dict__  # (a class's attributes: its own, as a read-only view of the live dict)
    elif _plain_object(v):
        d = object.__getattribute__(v, "__dict__")
    else:
        return None
    if not d or len(d) > 128:
        return None
    snap = AttrsOf()
    for k, x in d.items():
        if x.__class__ in _LITERALS:
            snap[k] = ("=", x)
        else:
            c = _literal_copy(x) if x.__class__ in (dict, list, tuple, set) else None
            snap[k] = ("is", x) if c is None else ("~", c)
    return snap


def _plain_object(v: Any) -> bool:
    """Whether ``v`` is an instance of a user's class with a ``__dict__`` (not a literal, container, type,
    module, callable, or an object of backprop's own classes or their subclasses, whose state is guarded or
    changes in calls replayed whole: an optimizer's, a scheduler's)."""
    cls = v.__class__
    if cls in _LITERALS or cls in (dict, list, tuple, set) or callable(v) or isinstance(v, type):
        return False
    if cls is types.ModuleType:  # (a user's config module is one; ``sys``, ``np`` and ``logging`` are not)
        return users_module(v.__name__)
    if any(c.__module__.partition(".")[0] == "backprop" for c in cls.__mro__):  # (a user's Optimizer subclass too)
        return False
    try:
        return object.__getattribute__(v, "__dict__").__class__ is dict
    except AttributeError:  # (no __dict__: slots, a C type)
        return False


def fingerprint(v: Any) -> Any:
    """What a step's own Python could change of ``v`` in place, shallowly: a list's, dict's or set's items (by
    identity), a user object's attributes (numbers and strings by value, other objects by identity, with the
    length of those that are lists, dicts or sets). Compared before and after a record: a replay runs none of
    the step's Python, so ``history.append(loss)`` or ``self.seen += 1`` would silently stop happening.
    Objects of backprop's own classes (optimizers, schedulers, modules) change through calls that a replay
    runs again, or are guarded themselves: None for them, and for literals, types, modules and callables."""
    cls = v.__class__
    if cls in _LITERALS or cls is tuple:
        return None
    if cls is np.random.Generator or cls is np.random.RandomState:  # (``rng.random()`` in the step: a draw)
        return str(v.bit_generator.state if cls is np.random.Generator else v.get_state(legacy=False))
    if cls in (list, dict, set):
        return (len(v), tuple(map(id, _items(v))) if len(v) <= 256 else None)
    if isinstance(v, type):
        if not users_class(v):
            return None
        d = v.__dict__  # (``Net.calls += 1`` in the step)
    elif _plain_object(v):
        d = object.__getattribute__(v, "__dict__")
    else:
        return None
    return tuple(
        (k, x if x.__class__ in _LITERALS else id(x), len(x) if x.__class__ in (list, dict, set) else -1)
        for k, x in d.items()
    )


def unchanged(v: Any, c: Any) -> bool:
    """Whether ``v`` still holds what ``_literal_copy`` took of it (``c``; None: nothing was taken)."""
    if c is None:
        return True
    if c.__class__ is AttrsOf:
        d = getattr(v, "__dict__", None)
        if d is None or len(d) != len(c):
            return False
        for k, (how, x) in c.items():
            y = d.get(k, _GONE)
            if how == "is":
                if y is not x:
                    return False
            elif how == "=":
                if y.__class__ is not x.__class__ or not (y is x or y == x):
                    return False
            elif not unchanged(y, x):
                return False
        return True
    if c.__class__ is ItemsOf:
        now = _items(v)
        return len(now) == len(c) and all(
            a is b or (a.__class__ is b.__class__ and a.__class__ in _LITERALS and a == b) for a, b in zip(now, c)
        )
    return bool(v == c)


_GONE = object()  # (a missing attribute, in the generated guard)


def _contents_differ(obj: str, c: Any, snap: str) -> str:
    """The guard's test that ``obj`` no longer holds the snapshot ``c`` (named ``snap`` in its source)."""
    if c.__class__ in (AttrsOf, ItemsOf):
        return f"not _unchanged({obj}, {snap})"
    return f"{obj} != {snap}"


def guard_function(
    guards: list[ModuleGuard], tensors: Sequence[Any] = (), reads: Sequence[tuple[Any, str | None, Any]] = ()
) -> Callable[[], bool]:
    """One straight-line function checking a record's assumptions at once: every module as
    ``ModuleGuard.holds()`` says, each bound tensor's shape, dtype and ``requires_grad`` as they
    are now, and each of ``reads`` (a globals dict and a name, or a closure cell and None) still holding
    its value (numbers and strings equal, anything else the same object). A replay checks them before
    every call, so this is a few attribute reads and ``is`` tests each (one ``if`` per object, exact
    literals inline) instead of tuples built and compared per module (~1.2 us each)."""
    env: dict[str, Any] = {"_GONE": _GONE, "_unchanged": unchanged}

    def const(v: Any) -> str:
        if v is None or v.__class__ in (bool, int, str):
            return repr(v)  # (exact in source; floats go through env: NaN and inf have no literal)
        env[f"c{len(env)}"] = v
        return f"c{len(env) - 1}"

    lines = ["def holds():"]
    for i, t in enumerate(tensors):
        env[f"x{i}"], env[f"dt{i}"] = t, t._data.dtype
        lines.append(
            f"    a = x{i}._data\n    if a.shape != {tuple(t._data.shape)!r} or not (a.dtype is dt{i} or "
            f"a.dtype == dt{i}) or x{i}._requires_grad is not {bool(t._requires_grad)}: return False"
        )
    for i, (holder, key, v) in enumerate(reads):
        env[f"h{i}"] = holder
        get = f"h{i}.get({key!r}, _GONE)" if key is not None else f"h{i}.cell_contents"
        if v is None or v.__class__ is bool:
            lines.append(f"    if {get} is not {v!r}: return False")
        elif v.__class__ in _LITERALS:
            kind = f"T{len(env)}"
            env[kind] = v.__class__
            c = const(v)
            same = f"(v is {c} or v == {c})" if c in env else f"v == {c}"
            lines.append(f"    if (v := {get}).__class__ is not {kind} or not {same}: return False")
        else:
            env[f"o{len(env)}"] = v
            test = f"{get} is not o{len(env) - 1}"
            c = _literal_copy(v)
            if c is not None:  # (a config dict or object mutated in place: its contents as recorded)
                env[f"o{len(env)}"] = c
                test += " or " + _contents_differ(f"o{len(env) - 2}", c, f"o{len(env) - 1}")
            lines.append(f"    if {test}: return False")
    for i, g in enumerate(guards):
        d = g.module.__dict__
        env[f"m{i}"] = g.module
        tests = [f"len(d) != {len(d)}"]
        for k, v in d.items():
            if v is None or v.__class__ is bool:
                tests.append(f"d.get({k!r}, _GONE) is not {v!r}")
            elif v.__class__ in _LITERALS:  # (the type first: a tensor in a number's place never reaches ==)
                kind = f"T{len(env)}"
                env[kind] = v.__class__
                c = const(v)
                same = f"(v is {c} or v == {c})" if c in env else f"v == {c}"  # (`is` first: NaN)
                tests.append(f"(v := d.get({k!r}, _GONE)).__class__ is not {kind} or not {same}")
        for k, v, c in g.objects:
            env[f"o{len(env)}"] = v
            test = f"d.get({k!r}, _GONE) is not o{len(env) - 1}"
            if c is not None:
                env[f"o{len(env)}"] = c
                test += " or " + _contents_differ(f"d[{k!r}]", c, f"o{len(env) - 1}")
            tests.append(test)
        for slot in ("_parameters", "_buffers", "_modules"):
            held = d[slot]
            if not held:
                tests.append(f"d[{slot!r}]")
                continue
            tests.append(f"len(d[{slot!r}]) != {len(held)}")
            for k, v in held.items():
                env[f"o{len(env)}"] = v
                tests.append(f"d[{slot!r}].get({k!r}, _GONE) is not o{len(env) - 1}")
        lines.append(f"    d = m{i}.__dict__\n    if " + " or ".join(tests) + ": return False")
    classes = {id(cls): (cls, snap) for g in guards for cls, snap in g.classes if snap is not None}
    for i, (cls, snap) in enumerate(classes.values()):  # (each class once: ten blocks of one class share it)
        env[f"k{i}"], env[f"ks{i}"] = cls, snap
        lines.append(f"    if not _unchanged(k{i}, ks{i}): return False")
    lines.append("    return True")
    exec(compile("\n".join(lines) + "\n", "<bp.compile guards>", "exec"), env)  # our own source
    return env["holds"]


def _one_tuple(keys: tuple[str, ...]) -> Callable[[dict], tuple]:
    """``itemgetter`` for fewer than two keys (which returns a bare value or fails): always a tuple."""
    if not keys:
        return lambda d: ()
    key = keys[0]
    return lambda d: (d[key],)


def is_array(value: Any) -> bool:
    """Whether ``value`` is a NumPy or CuPy array (or anything exposing their array interfaces)."""
    return hasattr(value, "__array_interface__") or hasattr(value, "__cuda_array_interface__")


def _roots(value: Any) -> frozenset[int]:
    """The ids of the objects owning the memory of ``value``'s arrays (views lead to their base;
    tuples and lists, an op's aux, item by item)."""
    if isinstance(value, (tuple, list)):
        return frozenset().union(*map(_roots, value))
    if not is_array(value):
        return frozenset()
    while getattr(value, "base", None) is not None:
        value = value.base
    return frozenset((id(value),))


def holds_array(value: Any) -> bool:
    """Whether an op attribute is or contains an array (an index)."""
    if isinstance(value, (tuple, list)):
        return any(holds_array(v) for v in value)
    return is_array(value)


_VAR = re.compile(r"\bv\d+\b")


def _words(expr: str) -> list[str]:
    """The local variable names (``v12``) in an expression."""
    return _VAR.findall(expr)


def tracer() -> Tracer | None:
    """The active tracer, unless none is active or it is paused inside a call replayed whole."""
    if not trace_users[0]:
        return None
    tr = state.tracer
    return tr if tr is not None and not tr.paused else None


def replayed_whole(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a function that a compiled step replays by calling it again (its own Python runs at
    every replay, reading the state of that moment: learning rates, step counts, ``.grad``).

    Inside it nothing is traced. Iterators among its arguments (``model.parameters()``) are turned
    into lists first, so the replay sees the same items. A returned Tensor's data is followed."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tr = tracer()
        if tr is None:
            return fn(*args, **kwargs)
        args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)
        kwargs = {k: list(v) if isinstance(v, Iterator) else v for k, v in kwargs.items()}
        with tr.untraced():
            out = fn(*args, **kwargs)
        f = tr.bind(functools.partial(fn, *args, **kwargs), "f")
        if hasattr(out, "grad_fn") and out.grad_fn is None:
            name = tr.new_var(out._data)
            tr.emit(f"{name} = {f}()._data")
        elif out is not None and not isinstance(out, _LITERALS):
            tr.fail(f"{fn.__qualname__} returned a {type(out).__name__}, which a replay cannot follow")
        else:
            tr.emit(f"{f}()")
        return out

    return wrapper


def record(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with Tensors among ``args`` passed as their arrays, recorded as a call that runs
    again at every replay: array math outside the op registry (masks and index arrays computed from
    a step's data; random masks, drawn from the generator's state of that moment as in eager runs).
    Returns an array, or a tuple of arrays."""
    arrays = [a._data if hasattr(a, "grad_fn") else a for a in args]
    out = fn(*arrays)
    tr = tracer()
    if tr is not None:
        refs = [tr.ref(x, a if hasattr(a, "grad_fn") else None) for x, a in zip(arrays, args)]
        tr.call(fn, refs, out, n_out=len(out) if isinstance(out, tuple) else 0)
    return out


def check(fn: Callable[..., Any], *args: Any, **attrs: Any) -> None:
    """Run the value check ``fn(*args, **attrs)`` (Tensors passed as their arrays; it raises on bad values) now,
    and record it to run again at every replay: a replayed step refuses what its eager run refuses (an id
    out of range, a negative std), where a kernel alone would wrap a negative index silently. (``attrs``
    are bound into the recorded call only while tracing: the eager path builds no partial.)"""
    arrays = [a._data if hasattr(a, "grad_fn") else a for a in args]
    fn(*arrays, **attrs)
    tr = tracer()
    if tr is not None:
        bound = functools.partial(fn, **attrs) if attrs else fn
        tr.call(bound, [tr.ref(x, a if hasattr(a, "grad_fn") else None) for x, a in zip(arrays, args)], None)


def factory(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a tensor factory (``zeros``, ``randn``, ...): in a traced step it is called again at
    every replay, so each step gets fresh memory (and fresh random numbers), as in eager runs."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tr = tracer()
        if tr is None:
            out = fn(*args, **kwargs)
            if out.device.type == "meta":  # (arange, eye, ... computed their values: keep none, as torch)
                out._data = meta_values(out._data)
            return out
        with tr.untraced():
            out = fn(*args, **kwargs)
        if out.requires_grad:
            tr.fail(f"{fn.__name__}(..., requires_grad=True) creates a leaf inside the step")
        if any(hasattr(a, "grad_fn") for a in (*args, *kwargs.values())) and fn.__name__ in _COPYING:
            tr.fail(f"{fn.__name__}() copies a tensor's values inside the step (use .clone() or .detach())")
        f = tr.bind(functools.partial(_data_of, fn, args, kwargs), "f")
        tr.emit(f"{tr.new_var(out._data)} = {f}()")
        return out

    return wrapper


_COPYING = frozenset({"tensor", "as_tensor"})


def _data_of(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)._data


def set_grad(t: Any, value: Any) -> None:
    """``t.grad = value`` at replay."""
    t._grad = value


def write(target: Any, value: Any) -> None:
    """``target[...] = value``: ``fill_`` and ``copy_`` at replay."""
    target[...] = value


def setitem(target: Any, index: Any, then: Any, value: Any) -> None:
    """``__setitem__`` at replay (``then``: advanced indices applied through the basic view)."""
    if then is None:
        target[index] = value
    else:
        target[index][then] = value


def refuse(reason: str) -> None:
    """Something the step does from Python cannot be replayed (``reason`` says what): it runs eagerly."""
    tr = tracer()
    if tr is not None:
        tr.fail(reason)


def host_read(what: str) -> None:
    """A value is read back to the host: a step that does so is not replayed."""
    tr = tracer()
    if tr is not None:
        tr.fail(f"{what} reads a value back to the host inside the step (its Python may branch on it)")
