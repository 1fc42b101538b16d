"""``bp.__config__`` (torch.__config__): what this backprop runs on, as text: ``show()`` for the build
(NumPy, its BLAS/LAPACK, CuPy) and ``parallel_info()`` for the thread pools of the BLAS NumPy loaded."""

from __future__ import annotations

import os
import sys

__all__ = ["parallel_info", "show"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _pools() -> list[dict]:
    """threadpoolctl's view of the native thread pools loaded in this process (NumPy's BLAS first)."""
    import numpy  # noqa: F401 - loads its BLAS so threadpoolctl can see it
    from threadpoolctl import threadpool_info

    return list(threadpool_info())


def parallel_info() -> str:
    """The BLAS/OpenMP thread pools NumPy uses (library, version, threads), the CPU count and the
    threading environment variables, in torch's layout."""
    lines = ["NumPy/BLAS parallelism:"]
    for pool in _pools():
        name = pool.get("internal_api", "?")
        lines.append(f"{name} {pool.get('version') or ''} ({pool.get('user_api', '?')}, {pool.get('filepath', '')})")
        lines.append(f"\tnum_threads : {pool.get('num_threads')}")
    lines.append(f"os.cpu_count() : {os.cpu_count()}")
    lines.append("Environment variables:")
    lines.extend(f"\t{var} : {os.environ.get(var, '[not set]')}" for var in _THREAD_VARIABLES)
    return "\n".join(lines) + "\n"


def show() -> str:
    """A summary of how this backprop is put together: Python, NumPy and its BLAS/LAPACK, CuPy if importable."""
    import numpy as np

    from backprop.version import __version__

    lines = [
        f"backprop {__version__} built with:",
        f"  - Python {sys.version.split()[0]}",
        f"  - NumPy {np.__version__}",
    ]
    lines.extend(
        f"  - BLAS: {p.get('internal_api')} {p.get('version') or ''}".rstrip()
        for p in _pools()
        if p.get("user_api") == "blas"
    )
    try:
        import cupy
    except ImportError as exc:
        lines.append(f"  - CuPy: not available ({exc})")
    else:
        lines.append(f"  - CuPy {cupy.__version__}")
    return "\n".join(lines) + "\n"
