"""Run a torch program with ``backprop`` as ``torch``: ``python as_backprop.py PROGRAM [ARGS...]``.

``import torch`` / ``import torch.x.y`` / ``from torch.x import y`` resolve to ``backprop`` / ``backprop.x.y``
(the same module objects: nothing is imported twice), then PROGRAM runs as ``__main__`` with ARGS as its
``sys.argv[1:]``, as ``python PROGRAM ARGS`` would run it. Under the launcher:
``python -m backprop.run --nproc-per-node 2 tests/distributed_examples/as_backprop.py prog.py ...``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's backprop, not an installed one


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``torch[.x]`` is ``backprop[.x]``: the finder answers for torch's names with the real modules."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        real = "backprop" + fullname[len("torch") :]
        if importlib.util.find_spec(real) is None:
            return None  # (a name backprop lacks: the import fails as ModuleNotFoundError)
        return importlib.machinery.ModuleSpec(fullname, self, loader_state=real)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(spec.loader_state)
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state  # (the import system gave it the alias's spec: undone)


if __name__ == "__main__":
    sys.meta_path.insert(0, _Alias())
    program = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, str(Path(program).resolve().parent))  # (as python PROGRAM puts its folder first)
    runpy.run_path(program, run_name="__main__")
