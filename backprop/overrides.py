"""``bp.overrides`` (torch.overrides): torch's ``__torch_function__`` protocol.

A Tensor subclass (``class MyT(bp.Tensor)``) gets its class back from every op (``type(x + 1) is MyT``) and
its ``__torch_function__`` is called for every public function and method it is passed to, as in torch:
``Tensor.__torch_function__`` (the default) runs the function with subclass dispatch off
(``DisableTorchFunctionSubclass``) and converts Tensor results with ``as_subclass``; ``Parameter`` and
backprop's own subclasses opt out (``_disabled_torch_function_impl``). A tensor-like class that is not a
Tensor (torch's ``ScalarTensor`` example) is dispatched to in the same way, and ``TorchFunctionMode``
intercepts every call made inside its ``with`` block.

Lazy activation, so that programs without such classes pay nothing: until the first subclass of Tensor is
defined outside backprop, a mode is entered, a tensor-like reaches one of the out= functions (``bp.mean``,
``bp.add``, ... through their error path) or one of this module's helpers, the functions run as they are.
Activation (``activate``) then rewrites, in place, every public function of ``backprop``,
``backprop.nn.functional``, ``backprop.linalg``, ``backprop.special`` and ``backprop.fft`` and every public
method and operator of ``Tensor``: each function object gets a new code object that checks the thread's
switches and the arguments' types before calling a copy of the original. The objects keep their identity,
so ``func is bp.add`` holds in a handler, also for references taken before activation (``HANDLED[bp.mean]``).
Properties (``shape``, ``grad``, ...) are not dispatched (torch's are).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import types as _types
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from backprop.size import Size
from backprop.tensor import (
    _NOWRAP,
    DisableTorchFunction,
    DisableTorchFunctionSubclass,
    Tensor,
    disabled_torch_function_impl,
    overloads,
    tf_activate,
    tf_active,
    tf_state,
)
from backprop.tensor import _internal as _internal_module

__all__ = [
    "BaseTorchFunctionMode",
    "DisableTorchFunction",
    "DisableTorchFunctionSubclass",
    "TorchFunctionMode",
    "enable_reentrant_dispatch",
    "get_default_nowrap_functions",
    "get_ignored_functions",
    "get_overridable_functions",
    "handle_torch_function",
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
    "is_tensor_like",
    "is_tensor_method_or_property",
    "resolve_name",
    "wrap_torch_function",
]

_disabled_torch_function_impl = disabled_torch_function_impl

# the namespaces whose public functions dispatch, with torch's name for each
_NAMESPACES = (
    ("backprop", "torch"),
    ("backprop.nn.functional", "torch.nn.functional"),
    ("backprop.linalg", "torch.linalg"),
    ("backprop.special", "torch.special"),
    ("backprop.fft", "torch.fft"),
)
_IGNORED_NAMES = frozenset({"is_tensor", "is_storage"})  # torch's ignored functions that code tests types with
_METHODS_IGNORED = frozenset({"as_subclass"})  # (torch's does not dispatch: ``x.as_subclass(Tensor)`` is a Tensor)

# the operators of Tensor that dispatch (others, such as __init__, __reduce_ex__, __deepcopy__, __format__ and
# __iter__, run as they are: their bodies dispatch what they call)
_BINARY = {
    f"__{p}{n}__"
    for n in "add sub mul truediv div floordiv mod pow matmul and or xor lshift rshift".split()
    for p in ("", "r", "i")
} | {"__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"}
_DUNDERS = _BINARY | {
    "__neg__", "__pos__", "__abs__", "__invert__", "__getitem__", "__setitem__", "__len__", "__bool__",
    "__float__", "__int__", "__index__", "__complex__", "__contains__", "__repr__", "__reversed__",
}  # fmt: skip
# an operator that torch dispatches as the method of another name (``x * 2`` calls __torch_function__ with
# Tensor.mul); the others are dispatched as themselves
_DUNDER_FUNC = {
    "__add__": "add", "__radd__": "add", "__iadd__": "add_", "__sub__": "sub", "__isub__": "sub_",
    "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul_", "__truediv__": "div", "__itruediv__": "div_",
    "__div__": "div", "__idiv__": "div_", "__matmul__": "matmul", "__neg__": "neg", "__abs__": "abs",
    "__pos__": "positive", "__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge", "__ne__": "ne",
    "__mod__": "remainder", "__pow__": "pow", "__ipow__": "pow_",
}  # fmt: skip
_DUNDER_NAME = {"__rtruediv__": "__rdiv__"}  # (one function object for both names: torch's name)

# types never overloaded, checked first by every wrapper; types seen without __torch_function__ join it
_PLAIN: set[type] = {Tensor, int, float, bool, complex, str, type(None), slice, type(...), Size, type}
_NAMES: dict[int, str] = {}  # id(public function) -> torch's qualified name ("torch.add", "torch.Tensor.add")
_TENSOR_METHODS: set[Any] = set()
_active = tf_active


# ------------------------------------------------------------ the helpers (torch.overrides' public API)
_overloaded = overloads


def _get_overloaded_args(relevant_args: Iterable[Any]) -> list[Any]:
    """torch.overrides._get_overloaded_args: one argument per overloading type, subclasses before their bases."""
    if tf_state.all_off or tf_state.subclass_off:
        return []
    kinds: set[type] = set()
    found: list[Any] = []
    for arg in relevant_args:
        kind = type(arg)
        if kind in kinds or not _overloaded(kind):
            continue
        kinds.add(kind)
        index = next((i for i, old in enumerate(found) if issubclass(kind, type(old))), len(found))
        found.insert(index, arg)
    return found


def _check(kind: type) -> bool:
    """As torch's C++ check: an exact Tensor (or Parameter, or any class opting out) is not overloaded."""
    if kind in _PLAIN:
        return False
    if _overloaded(kind):
        return True
    if not issubclass(kind, (list, tuple)):
        _PLAIN.add(kind)
    return False


def has_torch_function(relevant_args: Iterable[Any]) -> bool:
    """True when some argument's type overrides ``__torch_function__`` (not a plain Tensor or Parameter), or a
    mode is active; seeing such an argument turns the protocol on (see the module docstring)."""
    if tf_state.all_off:
        return False
    if tf_state.subclass_off:
        return bool(tf_state.modes)
    found = any(_check(type(a)) for a in relevant_args)
    if found and not _active[0]:
        activate()
    return found or bool(tf_state.modes)


def has_torch_function_unary(obj: Any) -> bool:
    """``has_torch_function((obj,))``."""
    return has_torch_function((obj,))


def has_torch_function_variadic(*args: Any) -> bool:
    """``has_torch_function(args)``."""
    return has_torch_function(args)


def is_tensor_like(inp: Any) -> bool:
    """True for a backprop Tensor, or an object (or class) implementing ``__torch_function__``."""
    return type(inp) is Tensor or hasattr(inp, "__torch_function__")


def handle_torch_function(
    public_api: Callable[..., Any], relevant_args: Iterable[Any], *args: Any, **kwargs: Any
) -> Any:
    """Call the active mode's, then the overriding types' ``__torch_function__`` (subclasses before their
    bases, else left to right) until one returns something other than NotImplemented; torch's TypeError if none."""
    if not _active[0]:
        activate()
    return _handle(public_api, _get_overloaded_args(relevant_args), args, kwargs)


def _handle(public: Any, overloaded: list[Any], args: Any, kwargs: Any) -> Any:
    kinds = tuple(type(a) for a in overloaded)
    modes = tf_state.modes
    if modes and not tf_state.all_off:
        with _pop_mode_temporarily() as mode:
            result = mode.__torch_function__(public, kinds, args, kwargs)
        if result is not NotImplemented:
            return result
    for arg in overloaded:
        result = arg.__torch_function__(public, kinds, args, kwargs)
        if result is not NotImplemented:
            return result
    name = _NAMES.get(id(public)) or f"{getattr(public, '__module__', '?')}.{getattr(public, '__name__', public)}"
    msg = f"no implementation found for '{name}' on types that implement __torch_function__: {list(kinds)}"
    if tf_state.modes:
        msg += f" nor in mode {tf_state.modes[-1]}"
    raise TypeError(msg)


# ------------------------------------------------------------ the dispatching wrappers
def _collect(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The overloaded arguments of a call (also inside list and tuple arguments: torch's TensorList)."""
    found: list[Any] = []
    kinds: list[type] = []
    for value in (*args, *kwargs.values()) if kwargs else args:
        for arg in value if isinstance(value, (list, tuple)) and type(value) is not Size else (value,):
            kind = type(arg)
            if kind in kinds or not _check(kind):
                continue
            index = next((i for i, old in enumerate(kinds) if issubclass(kind, old)), len(kinds))
            kinds.insert(index, kind)
            found.insert(index, arg)
    return found


def _dispatch(public: Any, orig: Any, args: tuple[Any, ...], kwargs: dict[str, Any], binary: bool) -> Any:
    """The slow path of a wrapper: something in the call may be overloaded, or a mode is active."""
    overloaded = [] if tf_state.subclass_off else _collect(args, kwargs)
    if not overloaded and not tf_state.modes:
        return orig(*args, **kwargs)
    if not binary:
        return _handle(public, overloaded, args, kwargs)
    try:  # an operator: a TypeError becomes NotImplemented (Python's own error, or the other operand's turn)
        return _handle(public, overloaded, args, kwargs)
    except TypeError:
        return NotImplemented


def _entry(public: Any, orig: Any, binary: bool) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """What a rewritten function calls with its arguments: the original unless some argument's type is not
    known to be plain (one set lookup each) or a mode is active."""
    plain = _PLAIN
    state = tf_state

    def entry(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if state.off:
            return orig(*args, **kwargs)
        for a in args:
            if a.__class__ not in plain:
                return _dispatch(public, orig, args, kwargs, binary)
        if kwargs or state.modes:
            return _dispatch(public, orig, args, kwargs, binary)
        return orig(*args, **kwargs)

    return entry


_TEMPLATES: dict[int, _types.CodeType] = {}


def _template(nfree: int) -> _types.CodeType:
    """The code a rewritten function runs: ``_bp_tf_entry(args, kwargs)``, with ``nfree`` free variables (never
    read) so that it fits the function's closure."""
    code = _TEMPLATES.get(nfree)
    if code is None:
        cells = [f"_bp_cell{i}" for i in range(nfree)]
        source = (
            f"def _outer({', '.join(cells)}):\n"
            "    def _tf(*args, _bp_tf_entry=None, **kwargs):\n"
            + (f"        if _bp_tf_entry is None:\n            ({', '.join(cells)},)\n" if cells else "")
            + "        return _bp_tf_entry(args, kwargs)\n"
            "    return _tf\n"
        )
        namespace: dict[str, Any] = {}
        exec(compile(source, "<__torch_function__ dispatch>", "exec"), namespace)  # noqa: S102 - our own text
        inner = next(c for c in namespace["_outer"].__code__.co_consts if isinstance(c, _types.CodeType))
        code = _TEMPLATES[nfree] = inner
    return code


_REWRITTEN: dict[int, Any] = {}  # id(function) -> the copy of its original
_RESTORE: list[tuple[Any, ...]] = []  # (function, code, kwdefaults, __wrapped__) before activation
_RENAMED: list[tuple[Any, str, str]] = []  # (dunder method, name, qualname) before activation
_NONE = object()


def _rewrite(fn: _types.FunctionType, public: Any, binary: bool) -> None:
    """Make ``fn`` (in place, keeping its identity) check for overloaded arguments before running as before."""
    if id(fn) in _REWRITTEN:
        return
    orig = _types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    orig.__kwdefaults__ = fn.__kwdefaults__
    orig.__dict__.update(fn.__dict__)
    orig.__qualname__, orig.__module__, orig.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    orig.__annotations__ = fn.__annotations__
    _REWRITTEN[id(fn)] = orig
    _RESTORE.append((fn, fn.__code__, fn.__kwdefaults__, fn.__dict__.get("__wrapped__", _NONE)))
    if not hasattr(fn, "__wrapped__") and not hasattr(fn, "__signature__"):
        fn.__wrapped__ = orig  # type: ignore[attr-defined]  # (inspect.signature: the original parameters)
    fn.__code__ = _template(len(fn.__closure__ or ()))
    fn.__kwdefaults__ = {"_bp_tf_entry": _entry(public, orig, binary)}


def _public_functions() -> Iterator[tuple[str, str, _types.FunctionType]]:
    """(torch's namespace, name, function) for every public function of the dispatching namespaces."""
    import importlib

    for module_name, torch_name in _NAMESPACES:
        module = importlib.import_module(module_name)
        for name, fn in sorted(vars(module).items()):
            if (
                not name.startswith("_")
                and name not in _IGNORED_NAMES
                and isinstance(fn, _types.FunctionType)
                and _internal_module(fn.__module__)
                and fn.__module__ != __name__  # (F.has_torch_function & co.: the protocol's own helpers)
            ):
                yield torch_name, name, fn


def _tensor_methods() -> Iterator[tuple[str, _types.FunctionType]]:
    """(name, function) for Tensor's public methods and dispatching operators (not properties)."""
    for name in sorted(dir(Tensor)):
        if (name.startswith("_") and name not in _DUNDERS) or name in _METHODS_IGNORED:
            continue
        raw = next((k.__dict__[name] for k in Tensor.__mro__ if name in k.__dict__), None)
        if isinstance(raw, _types.FunctionType) and _internal_module(raw.__module__):
            yield name, raw


def _ensure_names() -> None:
    """Fill ``_NAMES``: torch's qualified name of each dispatching function (its own name where an alias shares it)."""
    if _NAMES:
        return
    methods = dict(_tensor_methods())
    for name, fn in methods.items():
        own = _DUNDER_NAME.get(name, name) if name.startswith("__") else fn.__name__
        _NAMES.setdefault(id(fn), f"torch.Tensor.{own if getattr(Tensor, own, None) is fn else name}")
    for torch_name, name, fn in _public_functions():
        _NAMES.setdefault(id(fn), f"{torch_name}.{name}")


def activate() -> None:
    """Turn torch's ``__torch_function__`` dispatch on for the program (once; see the module docstring)."""
    if _active[0]:
        return
    _active[0] = True
    methods = dict(_tensor_methods())
    for name, fn in methods.items():
        target = methods.get(_DUNDER_FUNC.get(name, ""), fn)
        if target is fn and name.startswith("__"):
            _RENAMED.append((fn, fn.__name__, fn.__qualname__))
            fn.__name__ = _DUNDER_NAME.get(name, name)
            fn.__qualname__ = "Tensor." + fn.__name__
        _TENSOR_METHODS.add(target)
        _rewrite(fn, target, name in _BINARY)
    _ensure_names()
    for _, _, fn in _public_functions():
        _rewrite(fn, fn, False)


def _deactivate() -> None:
    """Undo ``activate`` (every function gets its own code back): for test suites, so that one test module's
    Tensor subclass does not leave the dispatch on for the modules after it, which expect a fresh process."""
    if not _active[0]:
        return
    for fn, name, qualname in _RENAMED:
        fn.__name__, fn.__qualname__ = name, qualname
    _RENAMED.clear()
    for fn, code, kwdefaults, wrapped in reversed(_RESTORE):
        fn.__code__, fn.__kwdefaults__ = code, kwdefaults
        if wrapped is _NONE:
            fn.__dict__.pop("__wrapped__", None)
        else:
            fn.__wrapped__ = wrapped
    _RESTORE.clear()
    _REWRITTEN.clear()
    _TENSOR_METHODS.clear()
    _active[0] = False


tf_activate[:] = [activate]


# ------------------------------------------------------------ modes
class TorchFunctionMode:
    """torch.overrides.TorchFunctionMode: inside ``with mode:``, every dispatching call goes first to
    ``mode.__torch_function__(func, types, args, kwargs)`` (the mode is off inside its own handler)."""

    inner: TorchFunctionMode | None

    def __init__(self) -> None:
        self.inner = None

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def __enter__(self) -> TorchFunctionMode:
        if not _active[0]:
            activate()
        tf_state.modes.append(self)
        tf_state.refresh()
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        tf_state.modes.pop()
        tf_state.refresh()

    @classmethod
    def push(cls, *args: Any, **kwargs: Any) -> TorchFunctionMode:
        """Deprecated in torch: make the mode (use ``with cls(...):``)."""
        warnings.warn("`Mode.push()` is no longer necessary and can be replaced with just `with Mode()`", stacklevel=2)
        return cls(*args, **kwargs)


class BaseTorchFunctionMode(TorchFunctionMode):
    """A mode that calls the function as it is (a base for modes that override only some functions)."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: dict[str, Any] | None = None) -> Any:
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _pop_mode_temporarily() -> Iterator[TorchFunctionMode]:
    mode = tf_state.modes.pop()
    tf_state.refresh()
    try:
        yield mode
    finally:
        tf_state.modes.append(mode)
        tf_state.refresh()


def _get_current_function_mode() -> TorchFunctionMode | None:
    return tf_state.modes[-1] if tf_state.modes else None


def _get_current_function_mode_stack() -> list[TorchFunctionMode]:
    return list(tf_state.modes)


def _is_torch_function_mode_enabled() -> bool:
    return bool(tf_state.modes) and not tf_state.all_off


# ------------------------------------------------------------ introspection
def _overridable() -> dict[Any, list[Callable[..., Any]]]:
    import importlib

    table: dict[Any, list[Callable[..., Any]]] = collections.defaultdict(list)
    for torch_name, _, fn in _public_functions():
        module = importlib.import_module(dict((t, m) for m, t in _NAMESPACES)[torch_name])
        table[module].append(fn)
    table[Tensor].extend(fn for _, fn in _tensor_methods())
    return table


def get_overridable_functions() -> dict[Any, list[Callable[..., Any]]]:
    """Namespace (module, or Tensor) -> its functions that dispatch through ``__torch_function__``."""
    return _overridable()


def get_ignored_functions() -> set[Callable[..., Any]]:
    """The public functions of those namespaces that never dispatch (``is_tensor``, the protocol's helpers)."""
    import importlib

    overridable = {id(f) for fs in _overridable().values() for f in fs}
    ignored: set[Callable[..., Any]] = set()
    for module_name, _ in _NAMESPACES:
        for name, obj in vars(importlib.import_module(module_name)).items():
            if not name.startswith("_") and callable(obj) and not isinstance(obj, type) and id(obj) not in overridable:
                with contextlib.suppress(TypeError):
                    ignored.add(obj)
    return ignored


def get_default_nowrap_functions() -> set[Callable[..., Any]]:
    """Functions whose results ``Tensor.__torch_function__`` does not convert (torch's are property getters,
    which backprop does not dispatch: empty)."""
    return set(_NOWRAP)


def is_tensor_method_or_property(func: Callable[..., Any]) -> bool:
    """True for a Tensor method that dispatches (``Tensor.add``), False for a function (``bp.add``)."""
    return func in {f for _, f in _tensor_methods()} or getattr(func, "__name__", None) == "__get__"


def resolve_name(f: Any) -> str | None:
    """torch's qualified name of a dispatching function (``"torch.add"``, ``"torch.Tensor.add"``), else None."""
    _ensure_names()
    return _NAMES.get(id(f))


def wrap_torch_function(dispatcher: Callable[..., Iterable[Any]]) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: the function dispatches through ``__torch_function__`` on the arguments ``dispatcher``
    (called with the same arguments) returns, as torch's."""

    def inner(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            relevant_args = dispatcher(*args, **kwargs)
            if has_torch_function(relevant_args):
                return handle_torch_function(wrapped, relevant_args, *args, **kwargs)
            return func(*args, **kwargs)

        return wrapped

    return inner


@contextlib.contextmanager
def enable_reentrant_dispatch() -> Iterator[None]:
    """torch's re-entrant dispatch guard: backprop has no dispatcher below Python, so nothing to re-enable."""
    yield
