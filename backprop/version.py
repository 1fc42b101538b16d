"""``bp.version`` (torch.version): the package version, the CUDA version of the CuPy in use (None without
CuPy, as torch's CPU builds say), and the git commit of a source checkout.

``cuda`` and ``git_version`` are looked up on first access, not at import: CuPy is never imported until asked."""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

__version__ = "0.1.0"
debug = False
hip = None
rocm = None
xpu = None

__all__ = ["__version__", "debug", "hip"]  # and, looked up lazily, ``cuda`` and ``git_version``


@functools.cache
def _cuda_version() -> str | None:
    """The CUDA runtime version of the installed CuPy, as torch writes it ("12.4"), or None."""
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy

        v = int(cupy.cuda.runtime.runtimeGetVersion())
    except Exception:  # noqa: BLE001 - a CuPy without a usable CUDA runtime: no CUDA, as torch's CPU builds
        return None
    return f"{v // 1000}.{v % 1000 // 10}"


@functools.cache
def _git_version() -> str:
    """The commit of the checkout this package runs from (its .git/HEAD), or "Unknown" for an installed copy."""
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".git")
    try:
        with open(os.path.join(root, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = os.path.join(root, *ref.split("/"))
            if os.path.isfile(path):
                with open(path) as f:
                    return f.read().strip()
            with open(os.path.join(root, "packed-refs")) as f:
                for line in f:
                    if line.rstrip().endswith(" " + ref):
                        return line.split()[0]
            return "Unknown"
        return head
    except OSError:
        return "Unknown"


def __getattr__(name: str) -> Any:
    if name == "cuda":
        return _cuda_version()
    if name == "git_version":
        return _git_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
