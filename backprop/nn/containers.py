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
        raise IndexError(f"index {idx} is out of range for {type(container).__name__} of length {n}")
    return idx % n


def _check_module(container: str, module: Any) -> None:
    if not isinstance(module, Module) and module is not None:
        raise TypeError(f"{container}: {type(module).__name__} is not a Module subclass")


def _check_key(container: str, key: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"{container}: keys must be strings, got {type(key).__name__}")
    if "." in key:
        raise KeyError(f'{container}: key can\'t contain ".", got: {key}')
    if key == "":
        raise KeyError(f'{container}: key can\'t be empty string ""')


def _as_parameter(container: str, value: Any) -> Parameter:
    """Tensors become Parameters (as torch's ParameterList/ParameterDict do); Parameters stay."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{container}: expected a Tensor or Parameter, got {type(value).__name__}")


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
        _check_module(type(self).__name__, module)
        key = list(self._modules)[_index(self, idx)]
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
            raise TypeError(f"{name}.extend should be called with an iterable, got {type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Any:
        _check_module(f"{type(self).__name__}.insert", module)
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"{type(self).__name__}.insert: index {index} is out of range for length {n}")
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)
        return self

    def pop(self, idx: int | slice = -1) -> Any:
        out = self[idx]
        del self[idx]
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

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):  # a Sequential of the same class, keys kept (torch)
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(self, idx)]

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, got {type(other).__name__}")
        out = Sequential()
        for m in (*self, *other):
            out.append(m)
        return out

    def __mul__(self, n: int) -> Sequential:
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"Sequential: non-positive multiplication factor {n!r}")
        out = Sequential()
        for _ in range(n):
            for m in self:
                out.append(m)
        return out

    __rmul__ = __mul__


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

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        out = ModuleList(self)
        return out.extend(other)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(): iterate over it and call its modules")


class ModuleDict(Module):
    """An ordered dict of modules whose parameters are registered under the dict's keys."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _check_key("ModuleDict", key)
        _check_module("ModuleDict", module)
        self._modules[key] = module  # an existing key keeps its place, as in torch

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
        pairs = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for j, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"ModuleDict.update: element #{j} should be a (key, module) pair, got {pair!r}")
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(): index it and call its modules")


def _param_line(key: str, p: Tensor) -> str:
    size = "x".join(str(n) for n in p.shape)
    dev = "" if p.device.type == "cpu" else f" ({p.device})"
    return f"({key}): Parameter containing: [{p.dtype} of size {size}{dev}]"


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
            return type(self)([self._parameters[str(i)] for i in range(*idx.indices(len(self)))])
        return self._parameters[str(_index(self, idx))]

    def __setitem__(self, idx: int, value: Any) -> None:
        # straight into the store: the key keeps its place (Module.__setattr__ would move it last)
        self._parameters[str(_index(self, idx))] = _as_parameter("ParameterList", value)

    def __iter__(self) -> Iterator[Parameter]:
        return (self._parameters[str(i)] for i in range(len(self)))

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Any) -> ParameterList:
        param = _as_parameter("ParameterList.append", value)
        self._size += 1
        self._parameters[str(self._size - 1)] = param
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, got {type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def __repr__(self) -> str:
        return _param_repr("ParameterList", [_param_line(str(i), p) for i, p in enumerate(self)])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterList has no forward()")


class ParameterDict(Module):
    """An ordered dict of parameters registered under its keys (Tensors are wrapped as Parameters)."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        _check_key("ParameterDict", key)
        self._parameters[key] = _as_parameter("ParameterDict", value)  # an existing key keeps its place

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._parameters))

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> Iterable[str]:
        return self._parameters.keys()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return self._parameters.items()

    def values(self) -> Iterable[Parameter]:
        return self._parameters.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        return self._parameters.pop(key)

    def setdefault(self, key: str, default: Any = None) -> Parameter:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        self._parameters.clear()

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        pairs = parameters.items() if isinstance(parameters, (Mapping, ParameterDict)) else parameters
        for j, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"ParameterDict.update: element #{j} should be a (key, parameter) pair, got {pair!r}")
            self[pair[0]] = pair[1]

    def __repr__(self) -> str:
        return _param_repr("ParameterDict", [_param_line(k, p) for k, p in self.items()])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterDict has no forward()")


__all__ = ["ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Sequential"]
