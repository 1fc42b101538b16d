"""``bp.export`` (torch.export): the names, without graph export.

backprop cannot capture a program as a graph (no tracer, no FX graph, no ``.pt2`` archive). Code that names
torch.export's types at import time (``isinstance(m, ExportedProgram)``, annotations) or builds its dynamic
shapes (``Dim("batch", max=64)``, ``dims``, ``Dim.AUTO``) runs; ``export``, ``draft_export``, ``save``,
``load`` and ``unflatten`` raise a ``NotImplementedError`` that says what to do instead.
"""

from __future__ import annotations

import builtins
import enum
from typing import Any

__all__ = [
    "AdditionalInputs",
    "Constraint",
    "CustomDecompTable",
    "Dim",
    "ExportBackwardSignature",
    "ExportGraphSignature",
    "ExportedProgram",
    "FlatArgsAdapter",
    "ModuleCallEntry",
    "ModuleCallSignature",
    "ShapesCollection",
    "UnflattenedModule",
    "default_decompositions",
    "dims",
    "draft_export",
    "export",
    "load",
    "register_dataclass",
    "save",
    "unflatten",
]

_NO_EXPORT = (
    "backprop cannot export programs as graphs (no tracer, FX graph or .pt2 archive); run the module eagerly "
    "(bp.compile replays a training step), save its weights with bp.save or a state_dict, and export from "
    "torch with the same module code"
)


def _refuse(name: str) -> NotImplementedError:
    return NotImplementedError(f"torch.export.{name}: {_NO_EXPORT}")


class _Refused:
    """A torch.export type no backprop object is an instance of: ``isinstance`` answers False, building one
    raises the clear error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _refuse(type(self).__name__)


class ExportedProgram(_Refused):
    """torch.export.ExportedProgram: what ``export`` returns (never made here)."""


class ExportGraphSignature(_Refused):
    """torch.export.ExportGraphSignature (never made here)."""


class ExportBackwardSignature(_Refused):
    """torch.export.ExportBackwardSignature (never made here)."""


class ModuleCallSignature(_Refused):
    """torch.export.ModuleCallSignature (never made here)."""


class ModuleCallEntry(_Refused):
    """torch.export.ModuleCallEntry (never made here)."""


class UnflattenedModule(_Refused):
    """torch.export.UnflattenedModule: what ``unflatten`` returns (never made here)."""


class FlatArgsAdapter(_Refused):
    """torch.export.FlatArgsAdapter (never made here)."""


class AdditionalInputs(_Refused):
    """torch.export.AdditionalInputs (never made here)."""


class ShapesCollection(_Refused):
    """torch.export.ShapesCollection (never made here)."""


class CustomDecompTable(dict):
    """torch.export.CustomDecompTable: a dict of decompositions (kept, never applied here)."""


class Constraint:
    """torch.export.Constraint: the type of a dynamic-shape constraint (no backprop object is one)."""


class _DimHint(enum.Enum):
    """torch's ``Dim.AUTO`` / ``Dim.STATIC`` / ``Dim.DYNAMIC`` markers."""

    AUTO = "AUTO"
    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"

    def __repr__(self) -> str:
        return f"DimHint({self.value})"


class Dim:
    """torch.export.Dim: a named dynamic dimension with an optional range, as ``dynamic_shapes`` name them
    (kept as a description; nothing here consumes it)."""

    AUTO = _DimHint.AUTO
    STATIC = _DimHint.STATIC
    DYNAMIC = _DimHint.DYNAMIC

    def __init__(self, name: str, *, min: int | None = None, max: int | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Dim name must be a string, got {type(name).__name__}")
        lo = 0 if min is None else min
        hi = max
        if hi is not None and hi <= lo and not (hi == lo == 0):
            raise AssertionError(f"Cannot create Dim with inconsistent min={min}, max={max}")
        self.__name__ = name
        self.min, self.max = lo, (builtins.int(2**63 - 1) if hi is None else hi)  # (torch's is sympy's int_oo)
        self._has_max = hi is not None

    def __repr__(self) -> str:
        return f"Dim({self.__name__!r}, min={self.min}" + (f", max={self.max})" if self._has_max else ")")


def dims(*names: str, min: int | None = None, max: int | None = None) -> tuple[Dim, ...]:
    """One ``Dim`` per name, with the same range (torch.export.dims)."""
    return tuple(Dim(n, min=min, max=max) for n in names)


def export(mod: Any, args: Any = (), kwargs: Any = None, **options: Any) -> ExportedProgram:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("export")


def draft_export(mod: Any, args: Any = (), kwargs: Any = None, **options: Any) -> ExportedProgram:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("draft_export")


def save(ep: Any, f: Any, **options: Any) -> None:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("save")


def load(f: Any, **options: Any) -> ExportedProgram:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("load")


def unflatten(module: Any, flat_args_adapter: Any = None) -> UnflattenedModule:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("unflatten")


def default_decompositions() -> CustomDecompTable:
    """An empty decomposition table (no graph here to decompose)."""
    return CustomDecompTable()


def register_dataclass(cls: type, *, serialized_type_name: str | None = None, **kwargs: Any) -> None:
    """Accepts the registration model code makes at import time (torch's makes the dataclass an export
    pytree node); there is nothing to export it through here."""
    import dataclasses

    if not dataclasses.is_dataclass(cls):
        raise ValueError(
            f"field_names must be specified with a list of all fields used to initialize {cls}, as it is not a "
            "dataclass."
        )
