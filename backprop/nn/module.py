"""``Module``: parameters and sub-modules registered by attribute, as in torch.nn.Module."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from backprop import dtypes
from backprop.autograd.grad_mode import no_grad, trace_users
from backprop.autograd.trace import replayed_whole, tracer
from backprop.devices import device as to_device
from backprop.dtypes import to_dtype
from backprop.nn import module_hooks
from backprop.nn.parameter import Buffer, Parameter
from backprop.tensor import Tensor


class _IncompatibleKeys(NamedTuple):
    """``load_state_dict``'s result (torch's name and repr)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


IncompatibleKeys = _IncompatibleKeys


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ first")
        buffers = self._buffers
        if isinstance(value, Buffer):  # nn.Buffer(t): registered as a buffer, as torch 2.5+
            self.register_buffer(name, value, value.persistent)
            return
        if name in buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' (torch.Tensor or None expected)"
                )
            buffers[name] = value  # assigning to a buffer's name keeps it a buffer, as torch
            return
        for kind, store, cls in (("parameter", self._parameters, Parameter), ("module", self._modules, Module)):
            if value is None and name in store:
                store[name] = None  # ``self.bias = None`` keeps the slot (and its place), as torch
                return
            if name in store and not isinstance(value, cls):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as {kind} '{name}' "
                    f"(torch.nn.{'Parameter' if cls is Parameter else 'Module'} or None expected)"
                )
        for store in (self._parameters, buffers, self._modules):  # a store assigned again keeps its order
            if not (store is self._parameters and isinstance(value, Parameter)) and not (
                store is self._modules and isinstance(value, Module)
            ):
                store.pop(name, None)
        self._non_persistent_buffers_set.discard(name)
        if isinstance(value, (Parameter, Module)):
            self.__dict__.pop(name, None)  # a plain attribute of that name would shadow it
            (self._parameters if isinstance(value, Parameter) else self._modules)[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A non-trainable tensor moved by ``to``, and saved in ``state_dict`` when ``persistent``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f'buffer name can\'t contain "." or be empty, got {name!r}')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)"
            )
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child called ``name`` (torch's checks on the name and the type)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of ``add_module``."""
        self.add_module(name, module)

    # ------------------------------------------------------------ traversal
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """Pre-order (depth-first) walk, the order torch uses for names; a module reachable under
        several names is listed once unless ``remove_duplicate=False`` (as state_dict walks)."""
        stack = [(prefix, self)]
        seen = set() if memo is None else memo
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if mod in seen:
                    continue
                seen.add(mod)
            yield name, mod
            children = [(c_name, c) for c_name, c in mod._modules.items() if c is not None]
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules, each once (a module under two names is listed at the first)."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))  # shared (tied) parameters are listed once, as torch
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        mods = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Any) -> Module:
        """``fn`` on every submodule, children before their parent (torch's order), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    @replayed_whole
    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad._data[...] = 0

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move/cast parameters and buffers in place (the Parameter objects are kept)."""
        dev = kwargs.get("device")
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, str) or type(a).__name__ == "Device":
                dev = a
            else:
                dtype = a
        dev = to_device(dev) if dev is not None else None
        dtype = to_dtype(dtype)
        with no_grad():
            for t in list(self.parameters()) + list(self.buffers()):
                moved = t.detach().to(dev) if dev is not None else t.detach()
                if dtype is not None and dtypes.kind(t.dtype) == "f":
                    moved = moved.to(dtype)
                t._data, t.device = moved._data, moved.device
                if t.grad is not None:
                    g = t.grad.to(dev) if dev is not None else t.grad
                    t.grad = g.to(t.dtype)
        return self

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32."""
        return self.to(dtype=dtypes.float32)

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64."""
        return self.to(dtype=dtypes.float64)

    def half(self) -> Module:
        """Floating-point parameters and buffers to float16."""
        return self.to(dtype=dtypes.float16)

    def bfloat16(self) -> Module:
        """Floating-point parameters and buffers to bfloat16."""
        return self.to(dtype=dtypes.bfloat16)

    def cpu(self) -> Module:
        """Parameters and buffers to the CPU."""
        return self.to(device="cpu")

    def cuda(self, device: Any = None) -> Module:
        """Parameters and buffers to a CUDA device (``cuda:N`` for an int)."""
        dev = "cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device)
        return self.to(device=dev)

    # ------------------------------------------------------------ state
    def state_dict(
        self, *, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict[str, Any]:
        """Parameters, persistent buffers and extra state by dotted name (torch's keys and order),
        detached unless ``keep_vars``; into ``destination`` when given, keys prefixed by ``prefix``."""
        out: Any = OrderedDict() if destination is None else destination
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            head = f"{prefix}{mod_name}." if mod_name else prefix
            skip = mod.__dict__.get("_non_persistent_buffers_set", ())
            for store in (mod._parameters, mod._buffers):
                for name, t in store.items():
                    if t is not None and not (store is mod._buffers and name in skip):
                        out[head + name] = t if keep_vars else t.detach()
            if _has_extra_state(mod):
                out[head + "_extra_state"] = mod.get_extra_state()
        return out

    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of the parameters and persistent buffers, in torch's order."""
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            skip = mod.__dict__.get("_non_persistent_buffers_set", ())
            for store in (mod._parameters, mod._buffers):
                for name, t in store.items():
                    if t is not None and not (store is mod._buffers and name in skip):
                        yield (f"{mod_name}.{name}" if mod_name else name), t

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> IncompatibleKeys:
        """Copy tensors into the parameters/buffers of the same names (shapes must match), and extra
        state into the modules that keep some. ``assign=True`` copies as well (the Parameter objects
        stay the ones the optimizer holds)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected state_dict to be dict-like, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        targets = dict(self._state_items())
        extra = {
            (f"{name}._extra_state" if name else "_extra_state"): mod
            for name, mod in self.named_modules(remove_duplicate=False)
            if _has_extra_state(mod)
        }
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for k, v in state_dict.items():
            if k not in targets:
                continue
            arr = v.detach().numpy() if isinstance(v, Tensor) else np.asarray(v)
            if tuple(arr.shape) != tuple(targets[k].shape):
                errors.append(
                    f"size mismatch for {k}: copying a tensor of shape {tuple(arr.shape)}, the parameter "
                    f"in the current model has shape {tuple(targets[k].shape)}"
                )
        if strict and (missing or unexpected):
            errors.insert(0, f"missing keys: {missing}; unexpected keys: {unexpected}")
        if errors:
            raise RuntimeError(f"error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(errors))
        with no_grad():
            for k, v in state_dict.items():
                if k in targets:
                    targets[k].copy_(v if isinstance(v, Tensor) else Tensor(np.asarray(v)))
                elif k in extra:
                    extra[k].set_extra_state(v)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ calling and printing
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if trace_users[0] and (tr := tracer()) is not None:  # bp.compile: the record assumes this state
            tr.guard_module(self)
        if "_hooks" not in self.__dict__:
            return self.forward(*args, **kwargs)
        return module_hooks.call_with_hooks(self, args, kwargs)

    # ------------------------------------------------------------ hooks (torch's names and semantics)
    def register_forward_pre_hook(
        self, hook: Any, *, prepend: bool = False, with_kwargs: bool = False
    ) -> module_hooks.RemovableHandle:
        """``hook(module, args)`` (or ``(module, args, kwargs)``) before ``forward``; it may return new args."""
        return module_hooks.add(self, "forward_pre", hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(
        self, hook: Any, *, prepend: bool = False, with_kwargs: bool = False, always_call: bool = False
    ) -> module_hooks.RemovableHandle:
        """``hook(module, args, output)`` after ``forward``; it may return a new output."""
        return module_hooks.add(self, "forward", hook, prepend, with_kwargs=with_kwargs, always_call=always_call)

    def register_full_backward_pre_hook(self, hook: Any, prepend: bool = False) -> module_hooks.RemovableHandle:
        """``hook(module, grad_output)`` when the gradients of the outputs are known; may replace them."""
        return module_hooks.add(self, "backward_pre", hook, prepend)

    def register_full_backward_hook(self, hook: Any, prepend: bool = False) -> module_hooks.RemovableHandle:
        """``hook(module, grad_input, grad_output)`` when the gradients of the Tensor inputs are known;
        it may return replacements for ``grad_input``."""
        return module_hooks.add(self, "backward", hook, prepend)

    # ------------------------------------------------------------ lookup by dotted name
    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"encoder.layers.0"``); ``""`` is the module itself."""
        mod: Module = self
        for item in target.split(".") if target else ():
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Replace (or, unless ``strict``, add) the submodule at a dotted path."""
        if not target:
            raise ValueError("Cannot set the submodule without a target name!")
        parent_name, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_name)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"fc.weight"``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path (``"bn.running_mean"``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    def _get_name(self) -> str:
        return type(self).__name__

    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to keep extra picklable state in ``state_dict``."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called; define "
            "get_extra_state() and set_extra_state() together"
        )

    def set_extra_state(self, state: Any) -> None:
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called; define "
            "get_extra_state() and set_extra_state() together"
        )

    def share_memory(self) -> Module:
        """A no-op returning the module (no multiprocessing tensor sharing here)."""
        return self

    def type(self, dst_type: Any) -> Module:
        """Cast every parameter and buffer to ``dst_type``."""
        return self.to(dst_type)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """torch's layout: ``Name(extra)`` for a leaf, else the extra lines and children indented."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        head = f"{type(self).__name__}("
        if not self._modules and len(lines) <= 1:
            return head + extra + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _has_extra_state(mod: Module) -> bool:
    """True when a module's class defines ``get_extra_state`` (its state_dict then has ``_extra_state``)."""
    return type(mod).get_extra_state is not Module.get_extra_state
