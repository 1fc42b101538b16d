"""``bp.utils.collect_env`` (torch.utils.collect_env): the versions a bug report needs, printed by
``python -m backprop.utils.collect_env``: backprop, Python, OS, NumPy (and its BLAS), CuPy and the GPU."""

from __future__ import annotations

import platform
import sys

__all__ = ["get_env_info", "get_pretty_env_info", "main"]


def _cupy_lines() -> list[tuple[str, str]]:
    """CuPy's version and the CUDA runtime and devices it sees, or why it is not there."""
    try:
        import cupy
    except ImportError as exc:
        return [("CuPy version", f"N/A ({exc})"), ("Is CUDA available", "False")]
    rows = [("CuPy version", cupy.__version__)]
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        rows.append(("CUDA runtime version", str(cupy.cuda.runtime.runtimeGetVersion())))
        names = [cupy.cuda.runtime.getDeviceProperties(i)["name"] for i in range(count)]
        rows.append(("Is CUDA available", str(count > 0)))
        rows.extend((f"GPU {i}", n.decode() if isinstance(n, bytes) else str(n)) for i, n in enumerate(names))
    except Exception as exc:  # noqa: BLE001 - no driver/device: report the reason, never fail
        rows.append(("Is CUDA available", f"False ({type(exc).__name__}: {exc})"))
    return rows


def get_env_info() -> list[tuple[str, str]]:
    """(name, value) rows: backprop, Python, OS, NumPy, BLAS, CuPy/CUDA and torch when importable."""
    import numpy as np

    from backprop.version import __version__

    rows = [
        ("backprop version", __version__),
        (
            "Python version",
            f"{sys.version.split()[0]} ({platform.python_implementation()}, {platform.architecture()[0]})",
        ),
        ("Python platform", platform.platform()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("NumPy version", np.__version__),
    ]
    try:
        from threadpoolctl import threadpool_info

        blas = [
            f"{p.get('internal_api')} {p.get('version') or ''}".strip()
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
        rows.append(("BLAS", ", ".join(blas) or "N/A"))
    except ImportError:
        rows.append(("BLAS", "N/A (threadpoolctl missing)"))
    rows.extend(_cupy_lines())
    try:
        import ml_dtypes

        rows.append(("ml_dtypes version", ml_dtypes.__version__))
    except ImportError:
        rows.append(("ml_dtypes version", "N/A"))
    return rows


def get_pretty_env_info() -> str:
    """``get_env_info()`` as ``name: value`` lines, as torch's report prints them."""
    return "\n".join(f"{name}: {value}" for name, value in get_env_info())


def main() -> None:
    """Print the report (``python -m backprop.utils.collect_env``)."""
    print("Collecting environment information...")
    print(get_pretty_env_info())


if __name__ == "__main__":
    main()
