"""``Module``: parameters and sub-modules registered by attribute, as in torch.nn.Module."""

from __future__ import annotations

import itertools
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from backprop import dtypes
from backprop.autograd.function import bump_version
from backprop.autograd.grad_mode import no_grad, trace_users
from backprop.autograd.trace import replayed_whole, tracer
from backprop.devices import Device
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


def _typename(obj: Any) -> str:
    """torch.typename: a tensor's legacy type (``torch.FloatTensor``), else ``module.QualName`` of the class."""
    if isinstance(obj, Tensor):
        return str(obj.type())
    kind = type(obj)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


class _StateDict(OrderedDict):
    """``state_dict()``'s result: an OrderedDict with torch's ``_metadata`` (each module's ``version``)."""

    _metadata: dict[str, dict[str, Any]]


# module-level hooks (torch.nn.modules.module.register_module_forward_[pre_]hook): checked by __call__
_global_forward_pre_hooks = module_hooks.GLOBAL_FORWARD_PRE
_global_forward_hooks = module_hooks.GLOBAL_FORWARD
_global_backward_pre_hooks = module_hooks.GLOBAL_BACKWARD_PRE
_global_backward_hooks = module_hooks.GLOBAL_BACKWARD


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``."""

    training: bool
    _version: int = 1  # stored in state_dict's _metadata; _load_from_state_dict overrides read it back
    call_super_init: bool = False

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            if isinstance(value, (Parameter, Module, Buffer)):  # torch's messages; plain attributes are fine
                what = (
                    "parameters"
                    if isinstance(value, Parameter)
                    else "module"
                    if isinstance(value, Module)
                    else "buffer"
                )
                raise AttributeError(f"cannot assign {what} before Module.__init__() call")
            object.__setattr__(self, name, value)
            return
        buffers = self._buffers
        if isinstance(value, Buffer) and (name in self._parameters or name in self._modules):
            what = "parameter" if name in self._parameters else "child module"
            raise TypeError(
                f"cannot assign '{_typename(value)}' as {what} '{name}' "
                f"(torch.nn.{'Parameter' if what == 'parameter' else 'Module'} or None expected)"
            )
        if isinstance(value, Buffer):  # nn.Buffer(t): registered as a buffer, as torch 2.5+
            self.register_buffer(name, value, value.persistent)
            return
        if name in buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' "
                    "(torch.nn.Buffer, torch.Tensor or None expected)"
                )
            if module_hooks.GLOBAL_BUFFER_REGISTRATION:
                value = module_hooks.registered(module_hooks.GLOBAL_BUFFER_REGISTRATION, self, name, value)
            buffers[name] = value  # assigning to a buffer's name keeps it a buffer, as torch
            return
        for kind, store, cls in (("parameter", self._parameters, Parameter), ("module", self._modules, Module)):
            if value is None and name in store:
                store[name] = None  # ``self.bias = None`` keeps the slot (and its place), as torch
                return
            if name in store and not isinstance(value, cls):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as {'child module' if cls is Module else kind} '{name}' "
                    f"(torch.nn.{'Parameter' if cls is Parameter else 'Module'} or None expected)"
                )
        for store in (self._parameters, buffers, self._modules):  # a store assigned again keeps its order
            if not (store is self._parameters and isinstance(value, Parameter)) and not (
                store is self._modules and isinstance(value, Module)
            ):
                store.pop(name, None)
        self._non_persistent_buffers_set.discard(name)
        if isinstance(value, Parameter) and ("." in name or name == ""):  # (torch's register_parameter checks)
            raise KeyError('parameter name can\'t contain "."' if name else 'parameter name can\'t be empty string ""')
        if isinstance(value, (Parameter, Module)):
            self.__dict__.pop(name, None)  # a plain attribute of that name would shadow it
            table = (
                module_hooks.GLOBAL_PARAMETER_REGISTRATION
                if isinstance(value, Parameter)
                else module_hooks.GLOBAL_MODULE_REGISTRATION
            )
            if table:
                value = module_hooks.registered(table, self, name, value)
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

    def __dir__(self) -> list[str]:
        """Attributes, plus the parameters, buffers and submodules by name (as torch)."""
        keys = list(object.__dir__(self))
        keys += list(self._parameters) + list(self._modules) + list(self._buffers)
        return sorted(k for k in set(keys) if not k[:1].isdigit())

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` under ``name`` (torch's checks on the name and the type)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' (torch.nn.Parameter or None required)"
            )
        if param is None:
            self._parameters[name] = None  # kept as a slot, as torch
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A non-trainable tensor moved by ``to``, and saved in ``state_dict`` when ``persistent``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' (torch Tensor or None required)"
            )
        self.__dict__.pop(name, None)
        if module_hooks.GLOBAL_BUFFER_REGISTRATION:
            tensor = module_hooks.registered(module_hooks.GLOBAL_BUFFER_REGISTRATION, self, name, tensor)
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
        if module_hooks.GLOBAL_MODULE_REGISTRATION:
            module = module_hooks.registered(module_hooks.GLOBAL_MODULE_REGISTRATION, self, name, module)
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

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        for _, m in self.named_modules(remove_duplicate=remove_duplicate):
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

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(p))  # shared (tied) parameters are listed once, as torch
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is None or id(b) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(b))  # a buffer under two names is listed once, as torch
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
        """Set ``training`` here and, through their own ``train``, in the children (torch's recursion)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
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
                g = p.grad
                if g.requires_grad:  # (a gradient made with create_graph=True leaves its graph, as torch's)
                    g.detach_()
                if g.is_sparse:  # (no entries left, as torch's zero_())
                    g.zero_()
                    continue
                g._data[...] = 0
                bump_version(g)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move/cast parameters and buffers through ``_apply`` (the Parameter objects are kept unless a
        ``bp.__future__`` switch says otherwise)."""
        dev = kwargs.get("device")
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, (str, Device)):
                dev = a
            else:
                dtype = a
        if isinstance(dtype, Tensor):  # .to(other_tensor): its device and dtype
            dev, dtype = dtype.device, dtype.dtype
        dev = to_device(dev) if dev is not None else None
        dtype = to_dtype(dtype)
        if dtype is not None and dtypes.kind(dtype) not in "fc" and not np.dtype(dtype).name.startswith("bfloat"):
            raise TypeError(
                "nn.Module.to only accepts floating point or complex dtypes, but got desired "
                f"dtype=torch.{np.dtype(dtype)}"
            )
        if dtype is not None and dtypes.kind(dtype) == "c":
            warnings.warn(
                "Complex modules are a new feature under active development whose design may change, "
                "and some modules might not work as expected when using complex tensors as parameters or buffers. "
                "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml "
                "if a complex module does not work as expected.",
                stacklevel=2,
            )
        with no_grad():
            tensors = list(self.parameters()) + list(self.buffers())
            if dev is not None and dev.type != "meta" and any(t.device.type == "meta" for t in tensors):
                raise NotImplementedError(
                    "Cannot copy out of meta tensor; no data! Please use torch.nn.Module.to_empty() instead of "
                    "torch.nn.Module.to() when moving module from meta to a different device."
                )

        def convert(t: Tensor) -> Tensor:
            moved = t.to(dev) if dev is not None else t
            if dtype is not None and dtypes.kind(t.dtype) in "fc":  # complex too, as torch: to a real dtype it warns
                moved = moved.to(dtype)
            return moved

        return self._apply(convert)

    def _apply(self, fn: Any, recurse: bool = True) -> Module:
        """``fn`` on every parameter, gradient and buffer, stored as torch's ``Module._apply`` does: by default
        into the same Parameter (and ``.grad``) objects (torch's ``.data`` update); with
        ``bp.__future__.set_overwrite_module_params_on_conversion(True)`` as new Parameter objects; with
        ``set_swap_module_params_on_conversion(True)`` swapped into the old objects (``bp.utils.swap_tensors``).
        Buffers are replaced by ``fn``'s result, as torch's."""
        from backprop import __future__ as future

        if recurse:
            for m in self.children():
                m._apply(fn)
        swap = future.get_swap_module_params_on_conversion()
        overwrite = future.get_overwrite_module_params_on_conversion()
        for key, param in self._parameters.items():
            if param is None:
                continue
            with no_grad():
                applied = fn(param.detach())
            grad = param.grad
            if swap:
                from backprop.utils._swap import swap_tensors

                try:
                    if grad is not None:
                        param.grad = None
                    swap_tensors(param, Parameter(applied, requires_grad=param.requires_grad))
                except Exception as e:
                    if grad is not None:
                        param.grad = grad
                    raise RuntimeError(f"_apply(): Couldn't swap {type(self).__name__}.{key}") from e
                out = param
            elif overwrite:
                out = Parameter(applied, param.requires_grad)
                self._parameters[key] = out
            else:
                param._data, param.device = applied._data, applied.device
                out = param
            if grad is None:
                continue
            with no_grad():
                grad_applied = fn(grad)
            if swap:
                grad_applied.requires_grad_(grad.requires_grad)
                try:
                    swap_tensors(grad, grad_applied)
                except Exception as e:
                    raise RuntimeError(f"_apply(): Couldn't swap {type(self).__name__}.{key}.grad") from e
                out.grad = grad
            elif overwrite:
                out.grad = grad_applied.requires_grad_(grad.requires_grad)
            else:
                grad._data, grad.device = grad_applied._data, grad_applied.device
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def to_empty(self, *, device: Any, recurse: bool = True) -> Module:
        """Parameters and buffers to ``device`` as new (zero-filled here) memory of the same shapes."""
        from backprop.creation import empty_like

        return self._apply(lambda t: empty_like(t, device=device), recurse=recurse)

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32 (complex ones stay, as torch's)."""
        return self._apply(lambda t: t.to(dtypes.float32) if dtypes.kind(t.dtype) == "f" else t)

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64 (complex ones stay, as torch's)."""
        return self._apply(lambda t: t.to(dtypes.float64) if dtypes.kind(t.dtype) == "f" else t)

    def half(self) -> Module:
        """Floating-point parameters and buffers to float16 (complex ones stay, as torch's)."""
        return self._apply(lambda t: t.to(dtypes.float16) if dtypes.kind(t.dtype) == "f" else t)

    def bfloat16(self) -> Module:
        """Floating-point parameters and buffers to bfloat16 (complex ones stay, as torch's)."""
        return self._apply(lambda t: t.to(dtypes.bfloat16) if dtypes.kind(t.dtype) == "f" else t)

    def cpu(self) -> Module:
        """Parameters and buffers to the CPU."""
        return self.to(device="cpu")

    def cuda(self, device: Any = None) -> Module:
        """Parameters and buffers to a CUDA device (``cuda:N`` for an int)."""
        dev = "cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device)
        return self.to(device=dev)

    def xpu(self, device: Any = None) -> Module:
        """Parameters and buffers to an XPU device: torch's error when there are any (no XPU backend), else self."""
        return self._to_missing_device("xpu")

    def mtia(self, device: Any = None) -> Module:
        """Parameters and buffers to an MTIA device: torch's error when there are any (no MTIA backend), else self."""
        return self._to_missing_device("mtia")

    def ipu(self, device: Any = None) -> Module:
        """Parameters and buffers to an IPU device: torch's error when there are any (no IPU backend), else self."""
        return self._to_missing_device("ipu")

    def _to_missing_device(self, kind: str) -> Module:
        for t in itertools.chain(self.parameters(), self.buffers()):
            getattr(t, kind)()  # (raises: the tensor method carries torch's error)
        return self

    # ------------------------------------------------------------ state
    def _hook_table(self, name: str) -> OrderedDict:
        """The module's table of one kind of state-dict hook (made on first use)."""
        table = self.__dict__.get(name)
        if table is None:
            table = OrderedDict()
            object.__setattr__(self, name, table)
        return table

    def _add_state_hook(self, name: str, hook: Any, entry: Any, prepend: bool = False) -> module_hooks.RemovableHandle:
        table = self._hook_table(name)
        key = next(module_hooks._ids)
        table[key] = entry
        if prepend:
            table.move_to_end(key, last=False)
        return module_hooks.RemovableHandle(table, key)

    def register_state_dict_pre_hook(self, hook: Any) -> module_hooks.RemovableHandle:
        """``hook(module, prefix, keep_vars)`` before ``state_dict`` saves this module."""
        return self._add_state_hook("_state_dict_pre_hooks", hook, hook)

    def register_state_dict_post_hook(self, hook: Any) -> module_hooks.RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` after this module is saved; returns None."""
        return self._add_state_hook("_state_dict_hooks", hook, (hook, True))

    def _register_state_dict_hook(self, hook: Any) -> module_hooks.RemovableHandle:
        """torch's private form: the hook may return a new state_dict."""
        return self._add_state_hook("_state_dict_hooks", hook, (hook, False))

    def register_load_state_dict_pre_hook(self, hook: Any) -> module_hooks.RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)`` before this module loads (it may edit ``state_dict``)."""
        return self._add_state_hook("_load_state_dict_pre_hooks", hook, (hook, True))

    def _register_load_state_dict_pre_hook(self, hook: Any, with_module: bool = False) -> module_hooks.RemovableHandle:
        return self._add_state_hook("_load_state_dict_pre_hooks", hook, (hook, with_module))

    def register_load_state_dict_post_hook(self, hook: Any) -> module_hooks.RemovableHandle:
        """``hook(module, incompatible_keys)`` after this module and its children are loaded; it may
        edit the key lists in place (what ``strict`` then checks)."""
        return self._add_state_hook("_load_state_dict_post_hooks", hook, hook)

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        """This module's own parameters, persistent buffers and extra state into ``destination``."""
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        skip = self._non_persistent_buffers_set
        for name, buf in self._buffers.items():
            if buf is not None and name not in skip:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if _has_extra_state(self):
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def state_dict(self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        """Parameters, persistent buffers and extra state by dotted name (torch's keys and order, and its
        ``_metadata`` of module versions), detached unless ``keep_vars``; into ``destination`` when given,
        keys prefixed by ``prefix``. The positional form ``(destination, prefix, keep_vars)`` is torch's old one."""
        if args:
            warnings.warn(
                "Positional args are being deprecated, use kwargs instead. Refer to "
                "https://pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn.Module.state_dict for details.",
                FutureWarning,
                stacklevel=2,
            )
            if len(args) > 3:
                raise TypeError(f"state_dict() takes at most 3 positional arguments, got {len(args)}")
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        d = self.__dict__
        for hook in list(d.get("_state_dict_pre_hooks", {}).values()):
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook, public in list(d.get("_state_dict_hooks", {}).values()):
            result = hook(self, destination, prefix, local_metadata)
            if public and result is not None:
                raise RuntimeError("state_dict post-hook must return None")
            if result is not None:
                destination = result
        return destination

    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of the parameters and persistent buffers, in torch's order."""
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            skip = mod.__dict__.get("_non_persistent_buffers_set", ())
            for store in (mod._parameters, mod._buffers):
                for name, t in store.items():
                    if t is not None and not (store is mod._buffers and name in skip):
                        yield (f"{mod_name}.{name}" if mod_name else name), t

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Load this module's own entries of ``state_dict`` (keys ``prefix + name``), torch's rules and
        messages: shapes must match, values must be tensors (NumPy arrays are taken too), and with
        ``local_metadata["assign_to_params_buffers"]`` the given tensors replace the module's."""
        for hook, with_module in list(self.__dict__.get("_load_state_dict_pre_hooks", {}).values()):
            args = (state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
            hook(self, *args) if with_module else hook(*args)
        skip = self._non_persistent_buffers_set
        local_state = {k: v for k, v in self._parameters.items() if v is not None}
        local_state.update((k, v) for k, v in self._buffers.items() if v is not None and k not in skip)
        assign = local_metadata.get("assign_to_params_buffers", False)
        from backprop import __future__ as future
        from backprop.utils._swap import swap_tensors

        swap = future.get_swap_module_params_on_conversion()
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if isinstance(value, np.ndarray):  # backprop also takes NumPy arrays (checkpoints saved as arrays)
                value = Tensor._of(value)
            if not isinstance(value, Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like object '
                    f"from checkpoint but received {type(value)}"
                )
                continue
            lazy = type(param).__name__.startswith("Uninitialized")
            if not lazy and len(param.shape) == 0 and len(value.shape) == 1:  # torch 0.3 checkpoints
                value = value[0]
            if not lazy and tuple(value.shape) != tuple(param.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape torch.Size({list(value.shape)}) from "
                    f"checkpoint, the shape in current model is torch.Size({list(param.shape)})."
                )
                continue
            try:
                with no_grad():
                    if swap:  # (bp.__future__'s swap switch: torch's module_load + swap_tensors)
                        new = param.module_load(value, assign=assign)
                        if new is value or new is param:
                            raise RuntimeError(
                                "module_load returned one of self or other, please .detach() the result if "
                                "returning one of the inputs in module_load"
                            )
                        if isinstance(param, Parameter):
                            if not isinstance(new, Parameter):
                                new = Parameter(new, requires_grad=param.requires_grad)
                            else:
                                new.requires_grad_(param.requires_grad)
                        swap_tensors(param, new)
                    elif assign:
                        if isinstance(param, Parameter):
                            if not isinstance(value, Parameter):
                                value = Parameter(value, requires_grad=param.requires_grad)
                            else:
                                value.requires_grad_(param.requires_grad)
                        setattr(self, name, value)
                    else:
                        if param.device.type == "meta" and value.device.type != "meta":
                            warnings.warn(
                                f"for {key}: copying from a non-meta parameter in the checkpoint to a meta parameter "
                                "in the current model, which is a no-op. (Did you mean to pass `assign=True` to assign "
                                "items in the state dictionary to their corresponding key in the module instead of "
                                "copying them in place?)",
                                UserWarning,
                                stacklevel=2,
                            )
                        param.copy_(value)
            except Exception as ex:
                error_msgs.append(
                    f'While {"swapping" if swap else "copying"} the parameter named "{key}", whose dimensions in '
                    f"the model are torch.Size({list(param.shape)}) and whose dimensions in the checkpoint are "
                    f"torch.Size({list(value.shape)}), an exception occurred : {ex.args}."
                )
        extra_key = prefix + "_extra_state"
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head, dot, _ = key[len(prefix) :].partition(".")
                    if (head not in self._modules) if dot else (head not in local_state):
                        unexpected_keys.append(key)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> IncompatibleKeys:
        """torch's algorithm: each module's ``_load_from_state_dict`` (and its hooks) copies its own entries,
        children after their parent; then the missing/unexpected keys (when ``strict``) and the errors
        raise one RuntimeError in torch's format. ``assign=True`` puts the given tensors in place (a tensor
        loaded into a Parameter becomes one, keeping its ``requires_grad``)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys: list[str] = []
        unexpected_keys: list[str] = []
        error_msgs: list[str] = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata  # type: ignore[attr-defined]

        def load(module: Module, local: Mapping[str, Any], prefix: str = "") -> None:
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local, prefix, local_metadata, True, missing_keys, unexpected_keys, error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)}, child_prefix)
            keys = IncompatibleKeys(missing_keys, unexpected_keys)
            for hook in list(module.__dict__.get("_load_state_dict_post_hooks", {}).values()):
                if hook(module, keys) is not None:
                    raise AssertionError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not expected to "
                        "return new values, if incompatible_keys need to be modified, it should be done inplace."
                    )

        load(self, state_dict)
        if strict:
            if unexpected_keys:
                error_msgs.insert(
                    0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected_keys))
                )
            if missing_keys:
                error_msgs.insert(
                    0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing_keys))
                )
        if error_msgs:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(type(self).__name__, "\n\t".join(error_msgs))
            )
        return IncompatibleKeys(missing_keys, unexpected_keys)

    # ------------------------------------------------------------ calling and printing
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if trace_users[0] and (tr := tracer()) is not None:  # bp.compile: the record assumes this state
            tr.guard_module(self)
        if (
            "_hooks" not in self.__dict__
            and not _global_forward_hooks
            and not _global_forward_pre_hooks
            and not _global_backward_hooks
            and not _global_backward_pre_hooks
        ):
            return self.forward(*args, **kwargs)
        return module_hooks.call_with_hooks(self, args, kwargs)

    _call_impl = __call__
    _wrapped_call_impl = __call__

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """torch's ``Module.compile``: accepted, and calls keep running eagerly (the same results;
        ``bp.compile`` replays recorded training steps)."""

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

    @property
    def _forward_pre_hooks(self) -> Any:
        """torch's table of forward pre-hooks (id -> hook; a snapshot: use the handles to remove one)."""
        return module_hooks.hooks_of(self, "forward_pre")

    @property
    def _forward_hooks(self) -> Any:
        """torch's table of forward hooks (id -> hook; a snapshot)."""
        return module_hooks.hooks_of(self, "forward")

    @property
    def _backward_hooks(self) -> Any:
        """torch's table of full backward hooks (id -> hook; a snapshot)."""
        return module_hooks.hooks_of(self, "backward")

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
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
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
            "Reached a code path in Module.get_extra_state() that should never be called. Please file an issue at "
            "https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml to report this bug."
        )

    def set_extra_state(self, state: Any) -> None:
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. Please file an issue at "
            "https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml to report this bug."
        )

    def share_memory(self) -> Module:
        """A no-op returning the module (no multiprocessing tensor sharing here)."""
        return self

    def type(self, dst_type: Any) -> Module:
        """Cast every parameter and buffer to ``dst_type``, integer buffers too (torch's ``t.type(dst_type)``)."""
        return self._apply(lambda t: t.type(dst_type))

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """torch's layout: ``Name(extra)`` for a leaf, else the extra lines and children indented."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        head = f"{self._get_name()}("
        if not self._modules and len(lines) <= 1:
            return head + extra + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _has_extra_state(mod: Module) -> bool:
    """True when a module's class defines ``get_extra_state`` (its state_dict then has ``_extra_state``)."""
    return type(mod).get_extra_state is not Module.get_extra_state
