"""``bp.backends.cpu``: torch.backends.cpu's ``get_cpu_capability()``.

backprop's CPU kernels are NumPy's, so the answer is the widest vector instruction set NumPy's own SIMD
dispatch found on this processor, in torch's vocabulary ("AVX512", "AVX2", "DEFAULT", "VSX",
"Z VECTOR", "SVE256")."""

from __future__ import annotations

import platform

__all__ = ["get_cpu_capability"]


def _numpy_cpu_features() -> dict[str, bool]:
    import importlib

    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # NumPy 2, then NumPy 1
        try:
            features = importlib.import_module(name).__cpu_features__
        except (ImportError, AttributeError):
            continue
        return dict(features)
    return {}


def get_cpu_capability() -> str:
    """The CPU's vector capability as NumPy dispatches to it, spelled as torch spells it."""
    f = _numpy_cpu_features()
    machine = platform.machine().lower()
    if all(f.get(k) for k in ("AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ")):
        return "AVX512"
    if f.get("AVX2") and f.get("FMA3"):
        return "AVX2"
    if machine.startswith(("ppc", "powerpc")) and f.get("VSX"):
        return "VSX"
    if machine.startswith("s390") and f.get("VX"):
        return "Z VECTOR"
    if machine in ("aarch64", "arm64") and f.get("SVE"):
        return "SVE256"
    return "DEFAULT"
