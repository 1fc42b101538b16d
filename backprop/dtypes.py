"""Dtypes are NumPy dtypes under torch's names; Python floats default to float32.

bfloat16 is ml_dtypes' NumPy dtype (JAX's): NumPy has none. Its ``kind`` is ``"V"``, not ``"f"``, so
code that asks "is this floating?" goes through ``is_floating`` / ``kind`` here, never ``dtype.kind``, and
"is this bfloat16?" through ``is_bfloat16``. ml_dtypes is imported on first use of ``bfloat16`` (this
module's attribute, looked up lazily): its import costs 70 ms (0.6.0) to 630 ms (0.7.0, measured on a
2-core VM, 2026-12-07), more than the rest of ``import backprop``, and most programs never use bfloat16.
"""

from __future__ import annotations

import builtins
import importlib.util
import sys
from typing import Any

import numpy as np

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = np.dtype("int32")
int64 = long = np.dtype("int64")
uint8 = np.dtype("uint8")
uint16 = np.dtype("uint16")
uint32 = np.dtype("uint32")
uint64 = np.dtype("uint64")
bool_ = np.dtype("bool")
complex64 = cfloat = np.dtype("complex64")
complex128 = cdouble = np.dtype("complex128")
# without ml_dtypes (an environment set up before bfloat16 arrived) everything else works: bfloat16 is
# then a stand-in no real dtype equals, which to_dtype refuses with the remedy
HAS_BFLOAT16 = sys.modules.get("ml_dtypes", 0) is not None and importlib.util.find_spec("ml_dtypes") is not None
_bf16: list[np.dtype] = []


def _bfloat16() -> np.dtype:
    """bfloat16's dtype, importing ml_dtypes the first time (see the module's docstring)."""
    if not _bf16:
        if HAS_BFLOAT16:
            import ml_dtypes

            _bf16.append(np.dtype(ml_dtypes.bfloat16))
        else:
            _bf16.append(np.dtype([("bfloat16 needs ml_dtypes", "V2")]))
        globals()["bfloat16"] = _bf16[0]  # (later lookups of the attribute skip __getattr__)
    return _bf16[0]


# torch's float8 dtypes, ml_dtypes' NumPy dtypes too (made on first use, as bfloat16): torch's CPU semantics
# are storage and conversion (``to``, ``copy_``, creation with ``dtype=``, indexing, cat, comparisons);
# most arithmetic raises NotImplementedError, and promotion with any other dtype RuntimeError
FLOAT8_NAMES = {
    "float8_e4m3fn": "Float8_e4m3fn",
    "float8_e5m2": "Float8_e5m2",
    "float8_e4m3fnuz": "Float8_e4m3fnuz",
    "float8_e5m2fnuz": "Float8_e5m2fnuz",
    "float8_e8m0fnu": "Float8_e8m0fnu",
}
_f8: dict[str, np.dtype] = {}


def _float8(name: str) -> np.dtype:
    """The float8 dtype ``name`` (a key of ``FLOAT8_NAMES``), importing ml_dtypes the first time."""
    d = _f8.get(name)
    if d is None:
        if not HAS_BFLOAT16:
            raise AttributeError(
                f"{name} needs the ml_dtypes package (a dependency of backprop): pip install ml_dtypes"
            )
        import ml_dtypes

        d = _f8[name] = np.dtype(getattr(ml_dtypes, name))
        globals()[name] = d
    return d


def __getattr__(name: str) -> Any:
    """``bfloat16`` and the float8 dtypes, made on first use."""
    if name == "bfloat16":
        return _bfloat16()
    if name in FLOAT8_NAMES:
        return _float8(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_float8(dtype: Any) -> bool:
    """``dtype`` is one of torch's float8 dtypes (without importing ml_dtypes: see ``is_bfloat16``)."""
    return (  # (by name: ml_dtypes 0.7 gives float8_e5m2 kind "f", the others "V")
        getattr(dtype, "name", None) in FLOAT8_NAMES and "ml_dtypes" in sys.modules and dtype == _float8(dtype.name)
    )


def is_ml_float(dtype: Any) -> bool:
    """bfloat16 or a float8 dtype: the floating dtypes NumPy knows only through ml_dtypes (kind "V")."""
    return is_bfloat16(dtype) or is_float8(dtype)


def is_bfloat16(dtype: Any) -> bool:
    """``dtype == bfloat16``, without importing ml_dtypes: a process that has not imported it holds no
    bfloat16 array (its dtypes have kind "V", as raw bytes, which no tensor has otherwise)."""
    return getattr(dtype, "kind", None) == "V" and "ml_dtypes" in sys.modules and dtype == _bfloat16()


# torch.float (float32), torch.int (int32) and torch.bool would shadow builtins here: backprop/__init__.py
# sets them. No complex32 (chalf): NumPy has none.


class _FirstUse:
    """Callbacks run once, when the process first makes an array of some dtype (bfloat16, float16, complex):
    the registry then rebuilds its kernels with that dtype's path (bfloat16's and float16's float32 compute,
    the complex refusals of torch's real-only ops), which programs that never use the dtype never pay for."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[Any] | None = []  # None once the dtype has been used

    def on(self, callback: Any) -> None:
        """Run ``callback()`` when the dtype is first used (now, if it has been)."""
        if self.pending is None:
            callback()
        else:
            self.pending.append(callback)

    def note(self) -> None:
        """The dtype is about to be used: run the callbacks (once per process)."""
        callbacks = self.pending
        if callbacks is not None:
            self.pending = None
            for callback in callbacks:
                callback()


BFLOAT16_USE, FLOAT16_USE, COMPLEX_USE, FLOAT8_USE = _FirstUse(), _FirstUse(), _FirstUse(), _FirstUse()
on_first_float8, note_float8 = FLOAT8_USE.on, FLOAT8_USE.note
on_first_bfloat16, note_bfloat16 = BFLOAT16_USE.on, BFLOAT16_USE.note
on_first_float16, note_float16 = FLOAT16_USE.on, FLOAT16_USE.note
on_first_complex, note_complex = COMPLEX_USE.on, COMPLEX_USE.note


def note_dtype(dtype: Any) -> None:
    """Note a new array's dtype: float16, bfloat16 and complex dtypes each change the kernels once."""
    if dtype.kind == "c":
        if COMPLEX_USE.pending is not None:
            note_complex()
    else:
        note_half(dtype)


def note_half(dtype: Any) -> None:
    """Note a float16 or bfloat16 dtype (a new array's): their kernels gain the float32 path once."""
    if dtype is float16:
        if FLOAT16_USE.pending is not None:
            note_float16()
    elif BFLOAT16_USE.pending is not None and is_bfloat16(dtype):
        note_bfloat16()
    elif FLOAT8_USE.pending is not None and is_float8(dtype):
        note_float8()


# torch wraps a Python int beyond a small integer dtype's range into it (uint8 - 3 is 253, int8 + 1000 is
# -24, uint8 < -3 compares with 253) where NumPy 2 raises OverflowError or compares the true values: each
# such dtype's (min, max, modulus). int64 (only 2**63 <= v < 2**64 would wrap) is left out: its `t + 1` stays fast.
WRAP_INT = {
    np.dtype(n): (int(np.iinfo(n).min), int(np.iinfo(n).max), 1 << (8 * np.dtype(n).itemsize))
    for n in ("int8", "uint8", "int16", "int32")
}


def wrap_int(v: int, dtype: np.dtype) -> int:
    """The Python int ``v`` as torch reads it into ``dtype`` (a key of ``WRAP_INT``): modulo 2**bits when
    outside the range and within torch's [-2**63, 2**64) (beyond it torch raises, as NumPy does)."""
    lo, hi, m = WRAP_INT[dtype]
    if lo <= v <= hi or not -(1 << 63) <= v < 1 << 64:
        return v
    v %= m
    return v - m if v > hi else v


_UINT64_MIN = 1 << 63
_BOOL_UINT64 = "Promotion for uint16, uint32, uint64 types is not supported, attempted to promote Bool and UInt64"


def wide_int(v: int, dtype: np.dtype) -> int:
    """A Python int operand of a tensor of ``dtype`` (int64 or bool) as torch reads it: one in [2**63, 2**64)
    is a uint64 scalar to torch, wrapped into int64 (``x < 2**63`` is ``x < -2**63``: False) and refused
    beside a bool tensor with torch's promotion error; any other value as it is."""
    if not _UINT64_MIN <= v < 1 << 64:
        return v
    if dtype.kind == "b":
        raise RuntimeError(_BOOL_UINT64)
    return v - (1 << 64) if dtype is int64 else v


_SCALAR_TYPE_NAMES = {
    "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
    "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
    "complex64": "ComplexFloat", "complex128": "ComplexDouble", **FLOAT8_NAMES,
}  # fmt: skip


_CPP_NAMES = {
    "float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
    "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
    "bool": "bool", "complex64": "c10::complex<float>", "complex128": "c10::complex<double>",
}  # fmt: skip


def cpp_type_name(dtype: Any) -> str:
    """The C++ type torch's messages name a dtype by ("float", "double", "long int", ...)."""
    return _CPP_NAMES.get(str(dtype), str(dtype))


def scalar_type_name(dtype: Any) -> str:
    """torch's ScalarType name of ``dtype`` (``Long`` for int64, ``Bool``), as its error messages spell it."""
    return _SCALAR_TYPE_NAMES.get(str(dtype), str(dtype))


_C_NAMES = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t",
            "float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double"}  # fmt: skip
# the largest finite value of the narrow float dtypes, by name: a finite Python float beyond it overflows
_FLOAT_MAX = {"float16": (65504.0, "c10::Half"), "bfloat16": (3.3895313892515355e38, "c10::BFloat16"),
              "float32": (3.4028234663852886e38, "float")}  # fmt: skip


def fill_int(v: Any, dtype: np.dtype) -> Any:
    """A fill value (``full``, ``fill_``, ``new_full``) as torch's checked conversion reads it into an
    integer ``dtype``: a Python int within [min, max] as it is, a negative one down to -max into an
    unsigned dtype modulo 2**bits (``full(3, -9, dtype=uint8)`` is 247), anything else refused with
    torch's message. A finite float beyond a float16/bfloat16/float32 dtype's range is refused too
    (``masked_fill(mask, -1e9)`` on float16 scores), as torch's. A complex value into a real dtype other than bool
    is its real part when its imaginary part is 0, else refused (``full(2, 1j, dtype=float32)``), not zeroed.
    Other values and dtypes pass through unchanged."""
    if v.__class__ is builtins.complex and kind(dtype) in "iuf":
        if v.imag != 0:
            name = "bfloat16" if is_bfloat16(dtype) else dtype.name
            raise RuntimeError(f"value cannot be converted to type {_C_NAMES.get(name, name)} without overflow")
        v = v.real
    if v.__class__ is builtins.float and v - v == 0:  # (finite)
        limit = _FLOAT_MAX.get("bfloat16" if is_bfloat16(dtype) else dtype.name)
        if limit is not None and abs(v) > limit[0]:
            raise RuntimeError(f"value cannot be converted to type {limit[1]} without overflow")
        return v
    if v.__class__ is not builtins.int or dtype.kind not in "iu":
        return v
    info = np.iinfo(dtype)
    lo = -int(info.max) if dtype.kind == "u" else int(info.min)
    if not lo <= v <= int(info.max):
        raise RuntimeError(f"value cannot be converted to type {_C_NAMES.get(dtype.name, dtype.name)} without overflow")
    return v % (int(info.max) + 1) if v < 0 and dtype.kind == "u" else v


def fill_value(v: Any, dtype: np.dtype) -> Any:
    """A number written into a tensor of ``dtype`` (``full``, ``fill_``, ``masked_fill``, ``t[i] = v``, ``scatter``'s
    ``value``) as torch's checked conversion reads it: ``fill_int``, and a float into an integer dtype truncated
    and refused outside its range (``double_int``: NaN, inf, 127.9 into int8, -0.5 into uint8), not wrapped."""
    if v.__class__ is builtins.float and dtype.kind in "iu":
        return double_int(v, dtype)
    return fill_int(v, dtype)


def scalar_int(v: Any, dtype: np.dtype) -> Any:
    """A Python int ``alpha``/``value`` of an op computing in ``dtype`` as torch's ``Scalar.to<T>()`` reads it:
    checked into an integer dtype (``fill_int``: ``add(u8, u8, alpha=256)`` raises, ``alpha=-1`` is 255), its
    truth into bool (``add(b, b, alpha=5)`` stays bool); other values and dtypes pass through unchanged."""
    if v.__class__ is not builtins.int:
        return v
    return v != 0 if dtype.kind == "b" else fill_int(v, dtype)


def double_int(v: Any, dtype: np.dtype) -> Any:
    """A Python number that torch takes as a C double (``F.pad``'s ``value``) converted into an integer or bool
    ``dtype`` as torch does: truncated, refused outside [min, max] compared in double (uint8 refuses -1 and 255.5;
    int64 takes 2**63, which becomes -2**63), its truth into bool. Other values and dtypes pass through."""
    if v.__class__ is not builtins.int and v.__class__ is not builtins.float or dtype.kind not in "biu":
        return v
    if dtype.kind == "b":
        return v != 0
    d = float(v)
    info = np.iinfo(dtype)
    if not float(info.min) <= d <= float(info.max):
        raise RuntimeError(f"value cannot be converted to type {_C_NAMES.get(dtype.name, dtype.name)} without overflow")
    return int(d) if d < 2.0**63 else int(info.min)


def checked_int(v: Any, tensor_dtype: np.dtype, dtype: np.dtype) -> Any:
    """A Python int beside a tensor of ``tensor_dtype`` in an op computing in ``dtype`` that torch checks
    (``where(c, x, v)``, ``threshold``, ``addmm``'s beta/alpha): ``fill_int`` into ``dtype``, after torch's
    promotion error for one from 2**63 beside a bool tensor. Other values pass through unchanged."""
    if v.__class__ is not builtins.int:
        return v
    if tensor_dtype.kind == "b":
        wide_int(v, tensor_dtype)
    return fill_int(v, dtype)


def astype(arr: Any, dtype: Any) -> Any:
    """``arr.astype(dtype)``, values out of range becoming inf as torch's casts do, also when the user has made
    warnings errors (``simplefilter("error")`` after our import-time filter): the cast runs again quietly
    then. (``try`` costs nothing when NumPy stays silent, as it does under our filter.)"""
    try:
        return arr.astype(dtype)
    except RuntimeWarning:
        with np.errstate(all="ignore"):
            return arr.astype(dtype)


def kind(dtype: np.dtype) -> str:
    """``dtype.kind``, except ``"f"`` for bfloat16 (ml_dtypes gives it ``"V"``, as for raw bytes)."""
    k = dtype.kind
    return "f" if k == "V" and is_ml_float(dtype) else k


def is_floating(dtype: np.dtype) -> bool:
    """True for float16, bfloat16, float8, float32 and float64 (torch's ``dtype.is_floating_point``)."""
    return dtype.kind == "f" or is_ml_float(dtype)


def check_device(dtype: Any, device_type: str, where: str) -> None:
    """Raise a clear TypeError for bfloat16 or float8 on a CUDA device: CuPy has neither."""
    if device_type not in ("cpu", "meta") and is_float8(dtype):
        raise TypeError(
            f"{where}: float8 tensors live on the CPU only here (CuPy has no float8 dtypes), not on {device_type}"
        )
    if device_type not in ("cpu", "meta") and is_bfloat16(dtype):  # (meta arrays are NumPy's: bfloat16 is fine)
        raise TypeError(
            f"{where}: bfloat16 tensors live on the CPU only (CuPy has no bfloat16 dtype), not on "
            f"{device_type}; keep them on the CPU, or use float16 or float32 on {device_type}"
        )


def is_inexact(dtype: np.dtype) -> bool:
    """True for floating and complex dtypes: those whose tensors can require gradients."""
    return dtype.kind in "fc" or is_ml_float(dtype)


_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype Python floats become (float32 unless changed)."""
    return _default_float


def default_complex() -> np.dtype:
    """The dtype Python complex numbers become: complex128 under a float64 default, else complex64 (torch's
    complex32 under float16 has no NumPy dtype; torch's complex64 under bfloat16)."""
    return complex128 if _default_float is float64 else complex64


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype Python floats become; must be a floating dtype."""
    global _default_float
    if isinstance(dtype, (str, type)):  # a name or a Python type is not a dtype object to torch
        raise TypeError("invalid dtype object: only floating-point types are supported as the default type")
    d = to_dtype(dtype)
    if d is None or not is_floating(d):
        raise TypeError("only floating-point types are supported as the default type")  # torch's message
    _default_float = d


def to_dtype(dtype: Any) -> np.dtype | None:
    """Normalise a dtype spec (np.dtype, string, Python type) or None; Python float is float64."""
    if dtype is None:
        return None
    if dtype is builtins.float:
        return float64
    if dtype is builtins.int:
        return int64
    try:
        d = np.dtype(dtype)
    except TypeError:
        if dtype in FLOAT8_NAMES:
            d = _float8(dtype)
            note_float8()
            return d
        if dtype != "bfloat16":  # (NumPy knows the name only once ml_dtypes is imported)
            raise TypeError(f"not a dtype: {dtype!r}") from None
        d = _bfloat16()
    if is_float8(d):
        note_float8()
    elif d.kind == "V" and d == _bfloat16():
        if not HAS_BFLOAT16:
            raise TypeError("bfloat16 needs the ml_dtypes package (a dependency of backprop): pip install ml_dtypes")
        if BFLOAT16_USE.pending is not None:
            note_bfloat16()
    elif d is float16 and FLOAT16_USE.pending is not None:
        note_float16()
    elif d.kind == "c" and COMPLEX_USE.pending is not None:
        note_complex()
    return d


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def category(dtype: Any) -> int:
    """bool 0 < integer 1 < floating 2 < complex 3: torch's promotion and in-place casting order."""
    return _CATEGORY[kind(np.dtype(dtype))]


def promote_types(a: Any, b: Any) -> np.dtype:
    """The dtype of a binary op on operands ``a`` and ``b`` under torch's rules (not NumPy's).

    Operands are Tensors/arrays (``.dtype``, ``.ndim``) or Python scalars, in three priority classes:
    dimensioned tensors, 0-d tensors, Python scalars (a Python float counts as the default dtype, a
    complex as the default complex, an int as int64). Operands of one class promote as
    ``promote_dtypes``; across classes torch's ``combine_categories`` decides: the higher class keeps
    its dtype unless the lower one is of a higher category (a float tensor meeting a complex 0-d tensor
    or Python complex becomes that float's complex: float64 -> complex128; an integer tensor meeting a
    float becomes floating), so ``int64 tensor * 2.5`` is float32, ``uint8 tensor + 300`` stays uint8
    and ``float32 tensor * int64 tensor`` stays float32, where NumPy gives float64.
    """
    pa, da = _priority(a)
    pb, db = _priority(b)
    if pa == pb:
        return da if da is db else promote_dtypes(da, db)
    return _combine(da, db) if pa > pb else _combine(db, da)


def _priority(x: Any) -> tuple[int, np.dtype]:
    """(class, dtype): 2 for a tensor with dimensions, 1 for a 0-d one, 0 for a Python scalar."""
    if isinstance(x, builtins.bool):
        return 0, bool_
    if isinstance(x, builtins.int):
        return 0, int64
    if isinstance(x, builtins.float):
        return 0, _default_float
    if isinstance(x, builtins.complex):
        return 0, default_complex()
    return (2 if x.ndim else 1), x.dtype


def _combine(higher: np.dtype, lower: np.dtype) -> np.dtype:
    """torch's ``combine_categories``: the dtype of a higher-priority operand meeting a lower one."""
    ch, cl = _CATEGORY[kind(higher)], _CATEGORY[kind(lower)]
    if ch == 3:
        return higher
    if cl == 3:  # a float keeps its precision as a complex (float64 -> complex128); integers take lower's
        if ch == 2:
            return np.dtype("complex128") if higher == float64 else np.dtype("complex64")
        return lower
    if ch == 2:
        return higher
    if ch == 0 or cl == 2:
        return promote_dtypes(higher, lower)
    return higher


def promote_dtypes(type1: Any, type2: Any) -> np.dtype:
    """``torch.promote_types``: the dtype two dtypes promote to (the higher category wins outright:
    int64 with float16 is float16, where NumPy gives float64)."""
    a, b = np.dtype(to_dtype(type1)), np.dtype(to_dtype(type2))
    if a != b and (is_float8(a) or is_float8(b)):
        raise RuntimeError(
            "Promotion for Float8 Types is not supported, attempted to promote "
            f"{scalar_type_name(a)} and {scalar_type_name(b)}"
        )
    ca, cb = category(a), category(b)
    if ca != cb:
        if ca < cb:
            a, b, ca, cb = b, a, cb, ca
        if ca == 3 and b == float64:  # torch's table: complex64 with float64 is complex128
            return np.dtype("complex128")
        return a
    return np.promote_types(a, b)


def result_type(
    tensor: Any = None, other: Any = None, scalar: Any = None, scalar1: Any = None, scalar2: Any = None
) -> np.dtype:
    """The dtype a binary op on these operands (tensors or Python numbers) gives, as torch; torch's keyword
    names of its overloads: ``(tensor, other)``, ``(scalar, tensor)``, ``(scalar1, scalar2)``."""
    ops = [v for v in (scalar, scalar1, tensor, other, scalar2) if v is not None]
    if len(ops) != 2:
        raise TypeError("result_type() takes two operands: (tensor, other), (scalar, tensor) or (scalar1, scalar2)")
    try:
        return promote_types(ops[0], ops[1])
    except AttributeError:  # neither a tensor nor a number: torch's argument parser's TypeError
        got = ", ".join(type(v).__name__ for v in ops)
        raise TypeError(f"result_type() received an invalid combination of arguments - got ({got})") from None


def can_cast(from_: Any, to: Any) -> bool:
    """torch's casting rule for in-place ops and ``out=``: never to a lower category (float to int,
    int to bool, complex to float); any size within a category."""
    return category(to_dtype(from_)) <= category(to_dtype(to))


class finfo:  # noqa: N801 - torch's name
    """Machine limits of a floating dtype (the default dtype when none is given), as Python floats."""

    def __init__(self, type: Any = None) -> None:
        dt = _default_float if type is None else to_dtype(type)
        if dt is not None and dt.kind == "c":  # a complex dtype's limits are its parts' (torch's finfo)
            dt = np.dtype(f"float{dt.itemsize * 4}")
        if dt is None or not is_floating(dt):
            # (torch's message, word for word)
            raise TypeError(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to handle 'torch.finfo'"
            )
        if is_float8(dt):
            import ml_dtypes

            info = ml_dtypes.finfo(dt)
        else:
            info = np.finfo(dt)
        self.bits = int(info.bits)
        self.eps = builtins.float(info.eps)
        if dt.name == "float8_e5m2fnuz":  # (torch's eps for it is 2**-3, ml_dtypes' 2**-2)
            self.eps = 0.125
        self.max = builtins.float(info.max)
        self.min = builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)  # 1e-06 for float32, as torch (not float16(0.001))
        if is_float8(dt):
            self.resolution = 1.0  # (torch's: 10 ** -floor(log10(2) * mantissa bits), 0 digits for float8)
        self.dtype = dt.name

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
            f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:  # noqa: N801 - torch's name
    """Limits of an integer dtype, as Python ints."""

    def __init__(self, type: Any) -> None:
        dt = to_dtype(type)
        if dt is not None and dt.kind == "b":
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if dt is None or dt.kind not in "iu":
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle 'torch.iinfo'")
        info = np.iinfo(dt)
        self.bits, self.min, self.max = int(info.bits), int(info.min), int(info.max)
        self.dtype = dt.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


_F8_NAN_LUT: dict[str, np.ndarray] = {}


def _float8_values(dtype: np.dtype) -> np.ndarray:
    """float32 values of the 256 codes of a float8 dtype, with torch's NaN bit patterns (its conversions are
    bit manipulations: e4m3fn's NaN reads as 0x7ff00000, e5m2's keep their payload quieted, the fnuz and
    e8m0 ones read as 0x7f800001)."""
    lut = _F8_NAN_LUT.get(dtype.name)
    if lut is None:
        codes = np.arange(256, dtype=np.uint8)
        with np.errstate(all="ignore"):
            lut = codes.view(dtype).astype(np.float32)
        bits = lut.view(np.uint32)
        nan = np.isnan(lut)
        sign = (codes.astype(np.uint32) & 0x80) << 24
        if dtype.name == "float8_e4m3fn":
            bits[nan] = sign[nan] | 0x7FF00000
        elif dtype.name == "float8_e5m2":
            bits[nan] = sign[nan] | 0x7FC00000 | ((codes[nan].astype(np.uint32) & 0x3) << 21)
        else:
            bits[nan] = 0x7F800001
        _F8_NAN_LUT[dtype.name] = lut
    return lut


def _to_float8(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 ``x`` as torch's CPU conversion to float8 ``dtype`` rounds it: nearest-even, as ml_dtypes,
    except that e4m3fn saturates finite overflow and infinities to +-448 (ml_dtypes gives NaN), e5m2
    writes every NaN as 0x7f/0xff, and e8m0fnu keeps the exponent, rounding the mantissa to nearest-even
    and ignoring the sign (torch's bit algorithm)."""
    if dtype.name == "float8_e8m0fnu":
        bits = np.ascontiguousarray(x).view(np.uint32)
        exponent = (bits >> 23) & 0xFF
        g = (bits & 0x400000) != 0
        up = g & (((bits & 0x3FFFFF) != 0) | (exponent > 0)) & (exponent != 0xFF)
        return (exponent + up).astype(np.uint8).view(dtype)
    with np.errstate(all="ignore"):
        out = x.astype(dtype)
    if dtype.name in ("float8_e4m3fn", "float8_e5m2"):
        bits = out.view(np.uint8)
        sign = (np.ascontiguousarray(x).view(np.uint32) >> 24).astype(np.uint8) & 0x80
        if dtype.name == "float8_e4m3fn":
            fix = np.isnan(out) & ~np.isnan(x)
            bits[fix] = sign[fix] | 0x7E
        else:
            fix = np.isnan(x)
            bits[fix] = sign[fix] | 0x7F
    return out


def float8_cast(x: Any, dtype: np.dtype) -> Any:
    """``x.astype(dtype)`` with torch's semantics when either side is a float8 dtype: values through float32
    (as torch converts), rounded and saturated as ``_to_float8``, read back through ``_float8_values``."""
    src = x.dtype
    if is_float8(src):
        x = _float8_values(src)[np.ascontiguousarray(x).view(np.uint8)]
        if dtype == float32:
            return x
        if not is_float8(dtype):
            with np.errstate(all="ignore"):
                out = x.astype(dtype)
            if is_bfloat16(dtype):  # (torch writes every bfloat16 NaN as 0x7fc0)
                out.view(np.uint16)[np.isnan(x)] = 0x7FC0
            elif dtype == float16:  # (the fnuz/e8m0 NaN reads as float16's quiet 0x7e00 in torch)
                out.view(np.uint16)[x.view(np.uint32) == 0x7F800001] = 0x7E00
            return out
    elif src != float32:
        with np.errstate(all="ignore"):
            x = x.astype(float32)
    return _to_float8(np.asarray(x), dtype).reshape(np.shape(x))
