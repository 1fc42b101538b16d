"""Containers with torch.nn's semantics: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict.

Children and parameters are registered in the ``Module`` stores (``_modules`` / ``_parameters``)
under torch's keys ("0", "1", ... for the sequences, the user's keys for the dicts), so
``parameters()``, ``named_parameters()``, ``state_dict()`` keys, ``to()`` and ``train()/eval()``
see them exactly as in torch.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.tensor import Tensor


def _index(container: Any, idx: Any) -> int:
    """``idx`` as an index in ``range(len(container))`` (negative from the end), else IndexError."""
    idx = operator.index(idx)
    n = len(container)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range")
    return idx % n


def _check_module(container: str, module: Any) -> None:
    if not isinstance(module, Module) and module is not None:
        raise TypeError(f"{type(module).__name__} is not a Module subclass")  # torch's message


def _check_key(key: Any, value: Any) -> None:
    """ParameterDict's key check, then ``register_parameter``'s name checks for a Parameter (torch's messages)."""
    if not isinstance(key, str):
        raise TypeError(
            "Index given to ParameterDict cannot be used as a key as it is not a string "
            f"(type is '{type(key).__name__}'). Open an issue on github if you need non-string keys."
        )
    if isinstance(value, Parameter) and "." in key:
        raise KeyError('parameter name can\'t contain "."')
    if isinstance(value, Parameter) and key == "":
        raise KeyError('parameter name can\'t be empty string ""')


def _as_parameter(container: str, value: Any) -> Any:
    """Tensors become Parameters (as torch's ParameterList/ParameterDict do); Parameters and other
    objects (kept as plain attributes, as torch) stay."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _store(module: Module, key: str, value: Any) -> None:
    """A Parameter into ``_parameters`` (an existing key keeps its place), anything else as a plain attribute."""
    if isinstance(value, Parameter):
        module.__dict__.pop(key, None)
        module._parameters[key] = value
    else:
        module._parameters.pop(key, None)
        object.__setattr__(module, key, value)


class _ModuleSequence(Module):
    """Shared by Sequential and ModuleList: children under keys "0", "1", ... in order."""

    def _renumber(self, modules: list[Module]) -> None:
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(self, idx)]  # the index first, then setattr's check (torch's order)
        if not isinstance(module, Module):
            raise TypeError(
                f"cannot assign '{type(module).__name__}' as child module '{key}' (torch.nn.Module or None expected)"
            )
        self._modules[key] = module

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index(self, idx)]
        self._renumber(mods)  # keys stay "0".."n-1", as in torch

    def append(self, module: Module) -> Any:
        _check_module(f"{type(self).__name__}.append", module)
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        if not isinstance(modules, Iterable):
            name = type(self).__name__
            raise TypeError(f"{name}.extend should be called with an iterable, but got {type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Any:
        """Sequential's: ``module`` before ``index`` (IndexError past either end); returns self."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)
        return self

    def pop(self, key: int | slice) -> Any:
        out = self[key]
        del self[key]
        return out

    def __iadd__(self, other: Iterable[Module]) -> Any:
        return self.extend(other)

    def __getitem__(self, idx: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class Sequential(_ModuleSequence):
    """Applies its modules in order; keys "0", "1", ... or those of an ``OrderedDict``, as in torch."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                _check_module("Sequential", module)
                self.add_module(key, module)
        else:
            for i, module in enumerate(args):
                _check_module("Sequential", module)
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:
        for m in self._modules.values():
            input = m(input)
        return input

    def extend(self, sequential: Iterable[Module]) -> Any:  # (torch's parameter name for Sequential)
        return super().extend(sequential)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):  # a Sequential of the same class, keys kept (torch)
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(self, idx)]

    def __iadd__(self, other: Iterable[Module]) -> Any:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(list(other))

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        out = Sequential()
        for m in (*self, *other):
            out.append(m)
        return out

    def __mul__(self, n: int) -> Sequential:
        if not isinstance(n, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(n)}")
        if n <= 0:
            raise ValueError(f"Non-positive multiplication factor {n} for {type(self)}")
        out = Sequential()
        for _ in range(n):
            for m in self:
                out.append(m)
        return out

    __rmul__ = __mul__

    def __imul__(self, n: int) -> Sequential:
        if not isinstance(n, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(n)}")
        if n <= 0:
            raise ValueError(f"Non-positive multiplication factor {n} for {type(self)}")
        mods = list(self)
        for _ in range(n - 1):
            for m in mods:
                self.append(m)
        return self


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (keys "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return list(self._modules.values())[_index(self, idx)]

    def insert(self, index: int, module: Module) -> None:
        """``module`` before ``index``, as ``list.insert`` (an index past the end appends); returns None, as torch.
        (torch stores an index past the end under its own key, "5" after "0", which later lookups miss.)"""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        mods = list(self._modules.values())
        mods.insert(operator.index(index), module)
        self._renumber(mods)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        out = ModuleList(self)
        return out.extend(other)

    def __repr__(self) -> str:
        """torch's: runs of children with identical reprs collapse to ``(0-2): 3 x Linear(...)``."""
        reprs = [repr(m).replace("\n", "\n  ") for m in self]
        if not reprs:
            return type(self).__name__ + "()"
        lines, start = [], 0
        for i in range(1, len(reprs) + 1):
            if i == len(reprs) or reprs[i] != reprs[start]:
                label = f"({start})" if i - start == 1 else f"({start}-{i - 1}): {i - start} x"
                lines.append(f"{label}: {reprs[start]}" if i - start == 1 else f"{label} {reprs[start]}")
                start = i
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules whose parameters are registered under the dict's keys."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)  # torch's checks and messages; an existing key keeps its place

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        if not isinstance(modules, Iterable):
            raise TypeError(
                "ModuleDict.update should be called with an iterable of key/value pairs, but got "
                f"{type(modules).__name__}"
            )
        pairs = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for j, pair in enumerate(pairs):
            if not isinstance(pair, Iterable):
                raise TypeError(f"ModuleDict update sequence element #{j} should be Iterable; is{type(pair).__name__}")
            if len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self[pair[0]] = pair[1]


def _param_line(key: str, p: Any, dict_style: bool = False) -> str:
    if not isinstance(p, Tensor):
        return f"({key}): Object of type: {type(p).__name__}"
    size = "x".join(str(n) for n in p.shape)
    dev = "" if p.device.type == "cpu" else f" ({p.device})"
    kind = str(p.type()) if dict_style else p.dtype  # torch: ParameterDict prints the legacy type name
    return f"({key}): {'Parameter' if isinstance(p, Parameter) else 'Tensor'} containing: [{kind} of size {size}{dev}]"


def _param_repr(name: str, lines: list[str]) -> str:
    if len(lines) == 1:
        return f"{name}(  {lines[0]})"
    return f"{name}(" + "".join(f"\n    {line}" for line in lines) + ("\n)" if lines else ")")


class ParameterList(Module):
    """A list of parameters registered under "0", "1", ... (Tensors are wrapped as Parameters)."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)([getattr(self, str(i)) for i in range(*idx.indices(len(self)))])
        return getattr(self, str(_index(self, idx)))

    def __setitem__(self, idx: int, value: Any) -> None:
        # straight into the store: the key keeps its place (Module.__setattr__ would move it last)
        _store(self, str(_index(self, idx)), _as_parameter("ParameterList", value))

    def __iter__(self) -> Iterator[Parameter]:
        return (getattr(self, str(i)) for i in range(len(self)))

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Any) -> ParameterList:
        param = _as_parameter("ParameterList.append", value)
        self._size += 1
        _store(self, str(self._size - 1), param)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, got {type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def __repr__(self) -> str:
        return _param_repr("ParameterList", [_param_line(str(i), p) for i, p in enumerate(self)])


class ParameterDict(Module):
    """An ordered dict of parameters registered under its keys (Tensors are wrapped as Parameters)."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        if key not in self._keys:  # torch's ParameterDict reads an attribute: AttributeError
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        value = _as_parameter("ParameterDict", value)
        _check_key(key, value)
        self._keys[key] = None  # an existing key keeps its place
        _store(self, key, value)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    @property
    def _keys(self) -> dict[str, None]:
        keys = self.__dict__.get("_key_order")
        if keys is None:
            keys = {}
            object.__setattr__(self, "_key_order", keys)
        return keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> Iterable[str]:
        return self._keys.keys()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return [(k, self[k]) for k in self._keys]

    def values(self) -> Iterable[Parameter]:
        return [self[k] for k in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def pop(self, key: str) -> Parameter:
        v = self[key]
        del self[key]
        return v

    def popitem(self) -> tuple[str, Any]:
        """The last (key, value), removed (torch's LIFO order)."""
        k = next(reversed(self._keys))
        return k, self.pop(k)

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same parameters."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        return ParameterDict((k, default) for k in keys)

    def __or__(self, other: ParameterDict) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Parameter:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def update(self, parameters: Any) -> None:
        """torch's order: an OrderedDict or ParameterDict in its order, another mapping sorted by key."""
        if not isinstance(parameters, Iterable):
            raise TypeError(
                "ParametersDict.update should be called with an iterable of key/value pairs, but got "
                + type(parameters).__name__
            )
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs: Any = parameters.items()
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items())
        else:
            pairs = parameters
        for j, pair in enumerate(pairs):
            if not isinstance(pair, Iterable):
                raise TypeError(
                    f"ParameterDict update sequence element #{j} should be Iterable; is{type(pair).__name__}"
                )
            kv: Any = pair
            if len(kv) != 2:
                raise ValueError(f"ParameterDict update sequence element #{j} has length {len(kv)}; 2 is required")
            self[kv[0]] = kv[1]

    def __repr__(self) -> str:
        return _param_repr("ParameterDict", [_param_line(k, p, dict_style=True) for k, p in self.items()])


__all__ = ["ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Sequential"]
