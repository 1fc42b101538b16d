"""Process-wide settings under torch's names: BLAS thread count, how tensors print, and the
determinism and float32-matmul-precision flags (recorded; see each function for what they change)."""

from __future__ import annotations

import math
import os
import sys
import warnings
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


def print_linewidth() -> int:
    """The line width tensors print to (``set_printoptions(linewidth=)``; torch's default 80)."""
    return int(_print["linewidth"])


def print_edgeitems() -> int:
    """The elements printed at each end of a summarised dimension (``set_printoptions(edgeitems=)``)."""
    return int(_print["edgeitems"])


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
    sci, top = _print["sci_mode"], 0.0
    if _dtypes.kind(a.dtype) == "f" and a.size:  # torch's own choice, not NumPy's
        finite = np.abs(a[np.isfinite(a) & (a != 0)]).astype(np.float64)
        if finite.size:
            top, low = float(finite.max()), float(finite.min())
            if sci is None:
                sci = top / low > 1000.0 or top > 1.0e8 or (not integral and low < 1.0e-4)
        else:  # only zeros, inf and NaN: torch prints them plainly whatever ``sci_mode`` says
            sci = False
    digits = _print["precision"]
    if sci is True:
        opts["formatter"] = {"float_kind": lambda v: f"{v:.{digits}e}"}
    else:
        opts["suppress_small"] = True  # (fixed notation: NumPy would otherwise pick its own switch)
        if top >= 1.0e8 or digits == 0:  # NumPy turns to exponents there even so (1e8 as ``1.e+08``), and
            # with no decimals keeps the point (``-1.``): torch's fixed text
            opts["formatter"] = {"float_kind": lambda v: _fixed(v, digits, integral)}
    if a.dtype.kind == "c":
        opts["formatter"] = {"complex_kind": _complex_formatter(a)}
    if a.dtype.kind == "b" and a.size and bool(a.all()):  # NumPy pads True to False's width; torch only
        opts["formatter"] = {"bool": lambda v: "True"}  # pads when a False is printed too
    return opts


def _fixed(v: float, digits: int, integral: bool) -> str:
    """One float in torch's fixed notation: ``digits`` decimals, or none and a point when all are integral."""
    if not math.isfinite(v):
        return str(float(v))
    return f"{v:.0f}." if integral else f"{v:.{digits}f}"


def set_num_threads(num: int) -> None:
    """Limit the BLAS libraries NumPy loaded (matmuls) to ``num`` threads, through threadpoolctl;
    elementwise NumPy kernels use one thread either way."""
    if not isinstance(num, int) or isinstance(num, bool):  # (torch's messages)
        raise RuntimeError(f"set_num_threads expects an int, but got {type(num).__name__}")
    if num < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
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


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode: str | int) -> None:
    """torch's other spelling of ``use_deterministic_algorithms``: 0/"default" off, 1/"warn" on with
    ``warn_only``, 2/"error" on."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(
                f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got {debug_mode}"
            )
        debug_mode = _DEBUG_MODES[debug_mode]
    if not isinstance(debug_mode, int):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    """0 when deterministic algorithms are off, 1 when on with ``warn_only``, 2 when on (torch's codes)."""
    if not _flags["deterministic"]:
        return 0
    return 1 if _flags["warn_only"] else 2


def set_float32_matmul_precision(precision: str) -> None:
    """Record torch's setting ('highest', 'high', 'medium'); float32 matmuls always run in full
    float32 here (no TF32 or bfloat16 passes), which is 'highest'."""
    if precision not in ("highest", "high", "medium"):  # torch warns and keeps the setting
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
            "setFloat32MatmulPrecision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return
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


def _part_formatter(values: Any) -> tuple[Any, int]:
    """A function printing one real or imaginary part as torch's formatter does for ``values`` (all of
    that part): fixed ``precision`` decimals, none when all are integral (``1.``), or scientific when the
    nonzero finite magnitudes span more than 1000x, exceed 1e8 or go below 1e-4; padded to one width,
    which comes second (torch's ``_Formatter.width()``, 1 when no value is nonzero and finite)."""
    digits = _print["precision"]
    finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
    width, integral, sci = 1, True, False
    if finite.size:
        mags = np.abs(finite)
        integral = bool((finite == np.ceil(finite)).all())
        big, small = float(mags.max()), float(mags.min())
        sci = big / small > 1000.0 or big > 1.0e8 or small < 1.0e-4
        if _print["sci_mode"] is not None:
            sci = bool(_print["sci_mode"])
        if sci:
            width = max(len(f"{v:.{digits}e}") for v in finite)
        elif integral:
            width = max(len(f"{v:.0f}") + 1 for v in finite)
        else:
            width = max(len(f"{v:.{digits}f}") for v in finite)

    def fmt(v: float) -> str:
        if sci:
            text = f"{v:.{digits}e}"
        elif integral:
            text = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            text = f"{v:.{digits}f}"
        return text.rjust(width)

    return fmt, width


def _complex_formatter(a: Any) -> Any:
    """NumPy's ``complex_kind`` formatter printing a complex array as torch: ``1.5000+2.0000j``, the real
    and imaginary parts each formatted over all of that part (``_part_formatter``), the real part padded."""
    return _complex_parts(a)[0]


def complex_width(a: Any) -> int:
    """The width torch counts a complex element of ``a`` as when it fills a line: both parts' widths and
    the ``j`` (the imaginary part itself is printed unpadded)."""
    return _complex_parts(a)[1]


def _complex_parts(a: Any) -> tuple[Any, int]:
    if a.size > _print["threshold"]:  # torch sizes the parts over the printed (edge) elements only
        edge = _print["edgeitems"]
        for d in range(a.ndim):
            if a.shape[d] > 2 * edge:
                a = np.concatenate([a.take(range(edge), d), a.take(range(a.shape[d] - edge, a.shape[d]), d)], d)
    (real, real_width), (imag, imag_width) = _part_formatter(np.real(a).ravel()), _part_formatter(np.imag(a).ravel())

    def fmt(z: complex) -> str:
        im = imag(float(z.imag)).lstrip() + "j"
        return real(float(z.real)) + (im if im[0] in "+-" else "+" + im)

    return fmt, real_width + imag_width + 1


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning raised by this function's caller at the first frame outside
    backprop (through its generated wrappers, which have no file)."""
    ours = (os.path.dirname(__file__), "<out= wrapper>", "<__torch_function__", "<bp.compile")
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(ours):
        frame, level = frame.f_back, level + 1
    return level
