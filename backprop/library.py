"""``bp.library`` (torch.library): user-defined ops with ``custom_op``, their kernels, fake functions and
autograd formulas, plus the older ``Library``/``define``/``impl`` registration.

``custom_op("mylib::foo", mutates_args=())`` turns a function of tensors into a callable op object
(``CustomOpDef``): ``register_kernel(device_types)`` gives a per-device kernel, ``register_fake`` a
shape function (kept, and checked by ``opcheck``: backprop has no fake tensors), and
``register_autograd(backward, setup_context=...)`` the gradient, wired through ``bp.autograd.Function``
(``grad_fn`` reads ``GeneratedBackwardFor_mylib_foo_default``, as torch's). Without a registered
formula, an output of inputs that require grad still requires grad and its backward raises torch's error.

torch reaches registered ops as ``torch.ops.mylib.foo``; ``backprop.ops`` is backprop's internal op
package (a namespace called ``math`` or ``linalg`` would collide with its modules), so that access is
``bp.library.ops.mylib.foo`` here, and the ``CustomOpDef`` itself is callable.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from backprop.autograd.custom import Function
from backprop.autograd.grad_mode import is_grad_enabled, no_grad
from backprop.tensor import Tensor

__all__ = [
    "CustomOpDef",
    "Library",
    "custom_op",
    "define",
    "get_kernel",
    "impl",
    "infer_schema",
    "opcheck",
    "ops",
    "register_autograd",
    "register_fake",
    "register_kernel",
]

_REGISTRY: dict[str, CustomOpDef] = {}


def _split_name(qualname: str) -> tuple[str, str]:
    """'ns::name' -> ('ns', 'name'), torch's error otherwise."""
    parts = qualname.split("::")
    if len(parts) != 2:
        raise ValueError(f"not enough values to unpack (expected 2, got {len(parts)})")
    return parts[0], parts[1]


# ---------------------------------------------------------------- schema inference
def _type_name(annotation: Any, mutable: bool, alias: int) -> str:
    """The schema spelling of one parameter annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _type_name(inner, mutable, alias) + "?"
    if origin in (list, collections.abc.Sequence, Sequence):
        return _type_name(args[0], False, alias) + "[]"
    if annotation is Tensor:
        return f"Tensor(a{alias}!)" if mutable else "Tensor"
    simple = {int: "SymInt", float: "float", bool: "bool", str: "str", complex: "complex"}
    if annotation in simple:
        return simple[annotation]
    raise ValueError(f"infer_schema(func): Parameter type {annotation} is not supported")


def _return_name(annotation: Any) -> str:
    """The schema spelling of the return annotation."""
    if annotation is None or annotation is type(None):
        return "()"
    if typing.get_origin(annotation) is tuple:
        return "(" + ", ".join(_type_name(a, False, 0) for a in typing.get_args(annotation)) + ")"
    return _type_name(annotation, False, 0)


def infer_schema(prototype_function: Callable[..., Any], /, *, mutates_args: Any, op_name: str | None = None) -> str:
    """torch's schema string from a function's type annotations, e.g. ``(Tensor x, SymInt n) -> Tensor``."""
    sig = inspect.signature(prototype_function)
    try:
        hints = typing.get_type_hints(prototype_function)
    except Exception:  # noqa: BLE001 - unresolvable names: fall back to the raw annotations
        hints = {}
    mutated = (
        set() if mutates_args == "unknown" else {mutates_args} if isinstance(mutates_args, str) else set(mutates_args)
    )
    params, alias, kw_only_started = [], 0, False
    for name, p in sig.parameters.items():
        if p.annotation is inspect.Parameter.empty:
            raise ValueError(
                f"infer_schema(func): Parameter {name} must have a type annotation. Got func with signature {sig})"
            )
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not kw_only_started:
            params.append("*")
            kw_only_started = True
        text = _type_name(hints.get(name, p.annotation), name in mutated, alias)
        alias += name in mutated
        default = "" if p.default is inspect.Parameter.empty else f"={p.default!r}".replace("=None", "=None")
        params.append(f"{text} {name}{default}")
    returns = hints.get("return", sig.return_annotation)
    if returns is inspect.Parameter.empty:
        raise ValueError(f"infer_schema(func): No return type annotation was provided. Got func with signature {sig})")
    prefix = "" if op_name is None else op_name
    return f"{prefix}({', '.join(params)}) -> {_return_name(returns)}"


# ---------------------------------------------------------------- the op object
def _tensors(values: Iterable[Any]) -> list[Tensor]:
    """The tensors among ``values``, one level into lists and tuples."""
    found: list[Tensor] = []
    for v in values:
        if isinstance(v, Tensor):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found.extend(x for x in v if isinstance(x, Tensor))
    return found


def _outputs(result: Any) -> list[Tensor]:
    return [result] if isinstance(result, Tensor) else _tensors(result) if isinstance(result, (list, tuple)) else []


class CustomOpDef:
    """A custom op made by ``custom_op``: call it like its function; register kernels, fake and autograd."""

    def __init__(self, namespace: str, name: str, schema: str, fn: Callable[..., Any], mutates_args: Any = ()) -> None:
        self._namespace, self._name = namespace, name
        self._schema = schema
        self._init_fn = fn
        self._mutates_args = mutates_args
        self._backend_fns: dict[str | None, Callable[..., Any]] = {}
        self._abstract_fn: Callable[..., Any] | None = None
        self._setup_context_fn: Callable[..., Any] | None = None
        self._backward_fn: Callable[..., Any] | None = None
        self._signature = inspect.signature(fn)
        self._function = self._make_function()
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<CustomOpDef({self._qualname})>"

    @property
    def _qualname(self) -> str:
        return f"{self._namespace}::{self._name}"

    # registration -----------------------------------------------------------------
    def register_kernel(self, device_types: str | Sequence[str] | None, fn: Callable[..., Any] | None = None) -> Any:
        """Give the kernel for ``device_types`` ("cpu", "cuda"; None: every device) (a decorator without ``fn``)."""

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            kinds = [device_types] if device_types is None or isinstance(device_types, str) else list(device_types)
            for kind in kinds:
                self._backend_fns[kind] = f
            return f

        return register if fn is None else register(fn)

    def register_fake(self, fn: Callable[..., Any], /) -> Callable[..., Any]:
        """Give the op's fake (shape/dtype) function; backprop keeps it for ``opcheck``."""
        self._abstract_fn = fn
        return fn

    def register_autograd(
        self, backward: Callable[..., Any], /, *, setup_context: Callable[..., Any] | None = None
    ) -> None:
        """Give the gradient: ``backward(ctx, *grads)`` returns one gradient per input; ``setup_context(ctx,
        inputs, output)`` saves what it needs."""
        self._backward_fn, self._setup_context_fn = backward, setup_context

    # calling ----------------------------------------------------------------------
    def _kernel(self, args: tuple, kwargs: dict) -> Callable[..., Any]:
        tensors = _tensors((*args, *kwargs.values()))
        kind = tensors[0].device.type if tensors else "cpu"
        fn = self._backend_fns.get(kind, self._backend_fns.get(None))
        if fn is None:
            raise NotImplementedError(f"{self._namespace}::{self._name}: no kernel registered for device type '{kind}'")
        return fn

    def _make_function(self) -> type[Function]:
        op = self

        def forward(*args: Any, **kwargs: Any) -> Any:
            return op._run(args, kwargs)

        def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
            if op._setup_context_fn is not None:
                op._setup_context_fn(ctx, inputs, output)

        def backward(ctx: Any, *grads: Any) -> Any:
            if op._backward_fn is None:
                raise RuntimeError(
                    f"Trying to backward through {op._namespace}.{op._name}.default but no autograd formula was "
                    "registered. Please use register_autograd to add one."
                )
            result = op._backward_fn(ctx, *grads)
            return result

        body = {
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
        }
        return type(f"GeneratedBackwardFor_{self._namespace}_{self._name}_default", (Function,), body)

    def _run(self, args: tuple, kwargs: dict) -> Any:
        kernel = self._kernel(args, kwargs)
        result = kernel(*args, **kwargs)
        inputs = {id(t) for t in _tensors((*args, *kwargs.values()))}
        if any(id(o) in inputs for o in _outputs(result)):
            raise RuntimeError(
                f"{self._name} (with implementation in {getattr(kernel, '__module__', '?')}): The output of this "
                "custom operator (1) must not also be an input to this custom operator and (2) may not alias any "
                "inputs to this custom operator or other returns. The most common way to trigger this error is if we "
                "have y = custom_op(x) and y and x are the same Tensor. Please instead return a clone of the offending "
                "output tensor(s) (e.g. return x.clone()) or refactor the custom operator to not return y."
            )
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        positional, keywords = bound.args, bound.kwargs
        needs = is_grad_enabled() and any(t.requires_grad for t in _tensors((*positional, *keywords.values())))
        if not needs:
            with no_grad():
                return self._run(positional, keywords)
        return self._function.apply(*positional, **keywords)


def custom_op(
    name: str,
    fn: Callable[..., Any] | None = None,
    /,
    *,
    mutates_args: str | Iterable[str],
    device_types: str | Sequence[str] | None = None,
    schema: str | None = None,
    tags: Any = None,
) -> Any:
    """Make ``fn`` the op ``name`` ("namespace::name"); a decorator when ``fn`` is omitted."""

    def wrap(f: Callable[..., Any]) -> CustomOpDef:
        namespace, opname = _split_name(name)
        text = schema if schema is not None else infer_schema(f, mutates_args=mutates_args)
        op = CustomOpDef(namespace, opname, text, f, mutates_args)
        op.register_kernel(device_types, f)
        _REGISTRY[op._qualname] = op
        return op

    return wrap if fn is None else wrap(fn)


def _op(op: str | CustomOpDef) -> CustomOpDef:
    """An op object from itself or its qualified name."""
    if isinstance(op, CustomOpDef):
        return op
    if op not in _REGISTRY:
        raise ValueError(f"Operator {op!r} does not exist; define it first (custom_op or define)")
    return _REGISTRY[op]


def register_kernel(
    op: str | CustomOpDef, device_types: str | Sequence[str] | None, func: Callable[..., Any] | None = None, /, **_: Any
) -> Any:
    """``op.register_kernel(device_types, func)`` for an op or its name."""
    return _op(op).register_kernel(device_types, func)


def register_fake(op: str | CustomOpDef, func: Callable[..., Any] | None = None, /, **_: Any) -> Any:
    """``op.register_fake(func)`` for an op or its name (a decorator without ``func``)."""
    target = _op(op)
    return target.register_fake if func is None else target.register_fake(func)


def register_autograd(
    op: str | CustomOpDef, backward: Callable[..., Any], /, *, setup_context: Callable[..., Any] | None = None, **_: Any
) -> None:
    """``op.register_autograd(backward, setup_context=...)`` for an op or its name."""
    _op(op).register_autograd(backward, setup_context=setup_context)


def get_kernel(op: str | CustomOpDef, dispatch_key: str) -> Callable[..., Any]:
    """The kernel registered for a device type ("cpu", "cuda"; torch's "CPU"/"CUDA" keys too)."""
    target = _op(op)
    kind = dispatch_key.lower()
    fn = target._backend_fns.get(kind, target._backend_fns.get(None))
    if fn is None:
        raise RuntimeError(f"no kernel for {target._qualname} on {dispatch_key}")
    return fn


# ---------------------------------------------------------------- define/impl and Library
def _undefined(qualname: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{qualname}: no kernel registered (use bp.library.impl)")

    return missing


def define(qualname: str, schema: str, *, lib: Any = None, tags: Any = ()) -> None:
    """Declare the op ``qualname`` with a schema string; its kernels come from ``impl``."""
    namespace, name = _split_name(qualname)
    op = CustomOpDef.__new__(CustomOpDef)
    CustomOpDef.__init__(
        op, namespace, name, f"{name}{schema}" if schema.startswith("(") else schema, _undefined(qualname)
    )
    op._signature = inspect.Signature(
        [
            inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
        ]
    )
    _REGISTRY[qualname] = op


_DISPATCH = {
    "cpu": "cpu",
    "cuda": "cuda",
    "compositeimplicitautograd": None,
    "compositeexplicitautograd": None,
    "default": None,
}


def impl(qualname: str, types: str | Sequence[str], func: Callable[..., Any] | None = None, *, lib: Any = None) -> Any:
    """Register ``func`` as the kernel of ``qualname`` for ``types`` (device types or dispatch keys)."""
    kinds = [types] if isinstance(types, str) else list(types)
    keys = [_DISPATCH.get(k.lower(), k.lower()) for k in kinds]

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        op = _op(qualname)
        for key in keys:
            op.register_kernel(key, f)
        return f

    return register if func is None else register(func)


class Library:
    """torch's ``Library(ns, kind)``: ``define`` schemas and ``impl`` kernels in namespace ``ns``."""

    def __init__(self, ns: str, kind: str, dispatch_key: str = "") -> None:
        if kind not in ("IMPL", "DEF", "FRAGMENT"):
            raise ValueError(f"Unsupported kind: {kind}")
        self.ns, self.kind, self.dispatch_key = ns, kind, dispatch_key

    def define(self, schema: str, alias_analysis: str = "", *, tags: Any = ()) -> str:
        """Declare ``name(args) -> ret`` in this namespace; returns the op's name."""
        name, paren, rest = schema.partition("(")
        define(f"{self.ns}::{name}", paren + rest)
        return name

    def impl(self, op_name: Any, fn: Callable[..., Any], dispatch_key: str = "", *, with_keyset: bool = False) -> None:
        """Register ``fn`` for the op ``op_name`` of this namespace under ``dispatch_key``."""
        name = op_name if isinstance(op_name, str) else op_name._name
        qualname = name if "::" in name else f"{self.ns}::{name}"
        impl(qualname, dispatch_key or self.dispatch_key or "default", fn)

    def _destroy(self) -> None:
        pass


class _Namespace:
    """``ops.<namespace>``: the ops registered there, by name."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> CustomOpDef:
        op = _REGISTRY.get(f"{self._namespace}::{name}")
        if op is None:
            raise AttributeError(f"'_OpNamespace' '{self._namespace}' object has no attribute '{name}'")
        return op


class _Ops:
    """``bp.library.ops.<namespace>.<name>``: torch's ``torch.ops`` access to registered ops."""

    def __getattr__(self, namespace: str) -> _Namespace:
        if namespace.startswith("__"):
            raise AttributeError(namespace)
        return _Namespace(namespace)


ops = _Ops()


# ---------------------------------------------------------------- opcheck
def _snapshot(values: Iterable[Any]) -> list[Any]:
    return [t.detach().clone() for t in _tensors(values)]


def opcheck(
    op: str | CustomOpDef,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    test_utils: str | Sequence[str] = (
        "test_schema",
        "test_autograd_registration",
        "test_faketensor",
        "test_aot_dispatch_dynamic",
    ),
    raise_exception: bool = True,
    atol: float | None = None,
    rtol: float | None = None,
) -> dict[str, str]:
    """Check a custom op is registered consistently: the mutations it declares, its autograd formula when an
    input requires grad, its fake function's shapes/dtypes, and that two calls agree."""
    target = _op(op)
    kwargs = kwargs or {}
    tests = [test_utils] if isinstance(test_utils, str) else list(test_utils)
    results: dict[str, str] = {}

    def check(name: str, fn: Callable[[], None]) -> None:
        if name not in tests:
            return
        try:
            fn()
            results[name] = "SUCCESS"
        except Exception as exc:
            if raise_exception:
                raise OpCheckError(f"opcheck(op, ...): {name} failed with {exc}") from exc
            results[name] = exc  # type: ignore[assignment]

    def schema() -> None:
        declared = target._mutates_args
        if declared == "unknown":
            return
        names = {declared} if isinstance(declared, str) else set(declared)
        bound = target._signature.bind(*args, **kwargs)
        before = {k: _snapshot([v]) for k, v in bound.arguments.items()}
        with no_grad():
            target(*args, **kwargs)
        for k, v in bound.arguments.items():
            for old, new in zip(before[k], _tensors([v])):
                changed = old.shape != new.shape or not bool((old == new).all() | (old != old).all())
                if changed and k not in names:
                    raise RuntimeError(f"Argument {k} is not defined as mutable but was mutated")

    def autograd_registration() -> None:
        if any(t.requires_grad for t in _tensors((*args, *kwargs.values()))) and target._backward_fn is None:
            raise AssertionError(f"{target._qualname}: inputs require grad but no autograd formula is registered")

    def faketensor() -> None:
        if target._abstract_fn is None:
            raise RuntimeError(f"{target._qualname} has no fake implementation (use register_fake)")
        with no_grad():
            real = _outputs(target(*[a.detach() if isinstance(a, Tensor) else a for a in args], **kwargs))
            fake = _outputs(target._abstract_fn(*args, **kwargs))
        for r, f in zip(real, fake, strict=True):
            if tuple(r.shape) != tuple(f.shape) or r.dtype != f.dtype:
                raise AssertionError(f"fake output {tuple(f.shape)}/{f.dtype} != real {tuple(r.shape)}/{r.dtype}")

    def two_calls_agree() -> None:
        with no_grad():
            first = _outputs(target(*_snapshot_args(args), **kwargs))
            second = _outputs(target(*_snapshot_args(args), **kwargs))
        for a, b in zip(first, second, strict=True):
            if tuple(a.shape) != tuple(b.shape):
                raise AssertionError("two calls returned different shapes")

    check("test_schema", schema)
    check("test_autograd_registration", autograd_registration)
    check("test_faketensor", faketensor)
    check("test_aot_dispatch_dynamic", two_calls_agree)
    return results


def _snapshot_args(args: tuple[Any, ...]) -> list[Any]:
    return [a.detach().clone() if isinstance(a, Tensor) else a for a in args]


class OpCheckError(Exception):
    """An ``opcheck`` test failed."""
