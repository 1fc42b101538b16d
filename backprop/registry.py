"""The op registry: every differentiable primitive, defined once and dispatched per backend.

An op is a forward kernel written against the array namespace ``xp`` (numpy or cupy), a backward
rule (its vector-Jacobian product), and a declaration of what it keeps for backward. Backends may
replace any kernel (see ``Backend.overrides``); ``kernel(op, backend)`` picks the override if one
exists, else the generic kernel. Kernels see arrays, never Tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from backprop.backends import Backend, registered_backends

Kernel = Callable[..., Any]


class OpDef:
    """One registered op. Single output; inputs are arrays (or Python scalars) plus keyword attrs.

    - ``forward(xp, *inputs, **attrs) -> y`` (or ``(y, aux)`` when ``aux=True``)
    - ``backward(ctx, gy) -> tuple`` of one gradient (or None) per input; ``ctx.saved`` holds the
      declared inputs then the output, ``ctx.aux`` the forward's auxiliary array, ``ctx.attrs`` the
      attrs, ``ctx.needs_input_grad`` a bool per input. Broadcasting is undone by the engine.
    - ``check(*inputs, **attrs)``: the shape/dtype rule, raising ``ValueError`` with a clear message.
    - ``moves_device``: the output lives on ``attrs["device"]`` (device transfers only).
    - ``ufunc``: the name of an ``xp`` function equal to the forward kernel (``"multiply"``): the
      registry then dispatches to it directly.
    """

    __slots__ = (
        "name",
        "forward",
        "backward",
        "save_inputs",
        "save_output",
        "aux",
        "check",
        "double_backward",
        "moves_device",
        "special",
        "ufunc",
        "doc",
        "_kernels",
        "_bkernels",
    )

    def __init__(
        self,
        name: str,
        forward: Kernel,
        *,
        save_inputs: tuple[int, ...] = (),
        save_output: bool = False,
        aux: bool = False,
        check: Kernel | None = None,
        double_backward: bool = True,
        moves_device: bool = False,
        ufunc: str | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.backward: Kernel | None = None
        self.save_inputs = save_inputs
        self.save_output = save_output
        self.aux = aux
        self.check = check
        self.double_backward = double_backward
        self.moves_device = moves_device
        self.special = aux or moves_device
        self.ufunc = ufunc
        self.doc = (forward.__doc__ or "").strip().split("\n")[0]
        self._kernels: dict[str, Kernel] = {}
        self._bkernels: dict[str, Kernel] = {}

    def defvjp(self, fn: Kernel) -> Kernel:
        """Decorator: set the backward rule ``fn(ctx, gy) -> tuple of input gradients``."""
        self.backward = fn
        return fn

    def kernel(self, backend: Backend) -> Kernel:
        """The forward kernel for ``backend`` with its array namespace bound: call it with the
        inputs and attrs. The backend's override if any, else the generic kernel; for ops declared
        with ``ufunc=`` the namespace's own function itself (no Python frame per call). Cached."""
        k = self._kernels.get(backend.name)
        if k is None:
            xp = backend.xp
            override = backend.overrides().get(self.name)
            if override is not None:
                k = partial(_guarded(override, self.forward), xp)
            elif self.ufunc is not None:
                k = getattr(xp, self.ufunc)
            else:
                k = partial(self.forward, xp)
            self._kernels[backend.name] = k
        return k

    def backward_kernel(self, backend: Backend) -> Kernel:
        """The backward rule for ``backend``: its ``"name.backward"`` override, else the generic rule."""
        k = self._bkernels.get(backend.name)
        if k is None:
            if self.backward is None:
                raise RuntimeError(f"op {self.name!r} is not differentiable")
            override = backend.overrides().get(self.name + ".backward")
            k = self.backward if override is None else _guarded_rule(override, self.backward)
            self._bkernels[backend.name] = k
        return k

    @property
    def differentiable(self) -> bool:
        return self.backward is not None

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def _guarded(override: Kernel, generic: Kernel) -> Kernel:
    """An override may return ``NotImplemented`` for inputs it was not written for: then the
    generic kernel runs instead (overrides guard themselves; dispatch keeps them correct)."""

    def kernel(xp: Any, *args: Any, **attrs: Any) -> Any:
        out = override(xp, *args, **attrs)
        return generic(xp, *args, **attrs) if out is NotImplemented else out

    kernel.__name__ = getattr(override, "__name__", "override")
    kernel.__wrapped__ = override  # type: ignore[attr-defined]
    return kernel


def _guarded_rule(override: Kernel, generic: Kernel) -> Kernel:
    """``_guarded`` for backward rules ``(ctx, gy)``: ``NotImplemented`` means "use the generic rule"
    (an override written for arrays returns it while a graph is being built, for example)."""

    def rule(ctx: Any, gy: Any) -> Any:
        out = override(ctx, gy)
        return generic(ctx, gy) if out is NotImplemented else out

    rule.__name__ = getattr(override, "__name__", "override")
    rule.__wrapped__ = override  # type: ignore[attr-defined]
    return rule


_OPS: dict[str, OpDef] = {}


def op(name: str, **options: Any) -> Callable[[Kernel], OpDef]:
    """Decorator registering a forward kernel as op ``name``; ``options`` are ``OpDef``'s
    keywords (``save_inputs``, ``save_output``, ``aux``, ``check``, ...). Returns the ``OpDef``."""

    def register(forward: Kernel) -> OpDef:
        if name in _OPS:
            raise ValueError(f"op {name!r} is already registered")
        _OPS[name] = opdef = OpDef(name, forward, **options)
        return opdef

    return register


def get(name: str) -> OpDef:
    """The op registered as ``name``."""
    try:
        return _OPS[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; registered ops: {', '.join(sorted(_OPS))}") from None


def list_ops() -> list[str]:
    """Names of every registered op, sorted."""
    return sorted(_OPS)


def overrides() -> dict[str, list[str]]:
    """For each registered backend name, the op kernels it overrides (sorted)."""
    table: dict[str, list[str]] = {}
    for backend in registered_backends().values():
        try:
            names = backend.overrides()
        except Exception:  # a backend whose library is missing overrides nothing usable here
            names = {}
        table[backend.name] = sorted(names)
    return table


def clear_kernel_cache() -> None:
    """Forget cached kernel choices (after registering or replacing a backend)."""
    for opdef in _OPS.values():
        opdef._kernels.clear()
        opdef._bkernels.clear()
