"""The per-op test table, one module per ``backprop/ops`` module (tests mirror the package).

Each module defines ``CASES: dict[str, list[Case]]`` (op registry name -> rows). The registry-driven
tests in ``tests/test_ops_gradcheck.py`` merge every module found here; an op registered without a
row, or a row without a forward reference, fails the suite.
"""

from __future__ import annotations

import importlib
import pkgutil

from op_cases._case import Case


def all_cases() -> dict[str, list[Case]]:
    """Every module's ``CASES``, merged; an op name claimed by two modules is an error."""
    merged: dict[str, list[Case]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"op_cases.{info.name}")
        for name, rows in module.CASES.items():
            if name in merged:
                raise ValueError(f"op {name!r} has rows in two op_cases modules (second: {info.name})")
            merged[name] = rows
    return merged
