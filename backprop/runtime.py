"""Process-wide settings under torch's names: BLAS thread count, how tensors print, and the
determinism and float32-matmul-precision flags (recorded; see each function for what they change)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backprop import dtypes as _dtypes

_print: dict[str, Any] = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
_flags: dict[str, Any] = {"deterministic": False, "warn_only": False, "matmul_precision": "highest"}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """How tensors print (torch's options and profiles 'default', 'short', 'full'); NumPy's own
    print options are left alone. ``sci_mode=None`` lets the values decide, as torch."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        _print.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems)):
        if value is not None:
            _print[key] = value
    if linewidth is not None:
        _print["linewidth"] = linewidth
    _print["sci_mode"] = sci_mode


def array_repr_options(a: Any) -> dict[str, Any]:
    """Keyword arguments for ``numpy.array2string(a)`` that print as torch would: ``precision``
    decimals on every element (``1.2346, 100.5000``), none when every value is integral (``1., 2.``)."""
    threshold = _print["threshold"]
    integral = _dtypes.kind(a.dtype) != "f" or a.size == 0 or bool(((a == a.round()) | ~np.isfinite(a)).all())
    opts: dict[str, Any] = {
        "precision": _print["precision"],
        "threshold": 2**63 - 1 if threshold == math.inf else int(threshold),
        "edgeitems": _print["edgeitems"],
        "max_line_width": _print["linewidth"],
        "floatmode": "maxprec" if integral else "fixed",
    }
    if _print["sci_mode"] is False:
        opts["suppress_small"] = True
    elif _print["sci_mode"] is True:
        digits = _print["precision"]
        opts["formatter"] = {"float_kind": lambda v: f"{v:.{digits}e}"}
    if a.dtype.kind == "b" and a.size and bool(a.all()):  # NumPy pads True to False's width; torch only
        opts["formatter"] = {"bool": lambda v: "True"}  # pads when a False is printed too
    return opts


def set_num_threads(num: int) -> None:
    """Limit the BLAS libraries NumPy loaded (matmuls) to ``num`` threads, through threadpoolctl;
    elementwise NumPy kernels use one thread either way."""
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {num!r}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=num, user_api="blas")


def get_num_threads() -> int:
    """The BLAS thread count NumPy's matmuls use (1 when no threaded BLAS is loaded)."""
    import numpy  # noqa: F401 - loads its BLAS, so threadpoolctl can see it
    from threadpoolctl import threadpool_info

    counts = [int(lib["num_threads"]) for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return max(counts, default=1)


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record torch's determinism flag. Every NumPy kernel here is deterministic already; on CUDA the
    scatter-adds (embedding and indexing gradients) use atomics, whose order this flag does not fix."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms expects a bool, got {type(mode).__name__}")
    _flags["deterministic"], _flags["warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return bool(_flags["deterministic"])


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return bool(_flags["warn_only"])


def set_float32_matmul_precision(precision: str) -> None:
    """Record torch's setting ('highest', 'high', 'medium'); float32 matmuls always run in full
    float32 here (no TF32 or bfloat16 passes), which is 'highest'."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}: expected 'highest', 'high' or 'medium'")
    _flags["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return str(_flags["matmul_precision"])


def set_num_interop_threads(num: int) -> None:
    """Record torch's inter-op thread count: backprop runs ops one after another on the calling
    thread, so there is no inter-op pool to size."""
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise RuntimeError(f"set_num_interop_threads expects a positive integer, got {num!r}")
    _flags["interop_threads"] = num


def get_num_interop_threads() -> int:
    return int(_flags.get("interop_threads", 1))
