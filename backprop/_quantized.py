"""Quantized tensors (torch's ``quint8``/``qint8``/``qint32``) and fake quantization.

A quantized tensor is a ``QTensor``, a ``Tensor`` subclass holding its integer representation (a NumPy
array) and its quantization parameters (a scale and zero point, or one per channel). Its ``_data`` slot is a
placeholder that knows the shape and dtype and refuses to become an array, so ``shape``/``dtype``/``dim()``
work unchanged and a dense op given a quantized tensor raises torch's ``NotImplementedError`` for the
``QuantizedCPU`` backend; dense tensors pay nothing. Values follow torch's fbgemm kernels bit for bit:
``q = clamp(zero_point + rint(x * float32(1 / scale)), qmin, qmax)`` in float32 (ties to even), and
``dequantize`` is ``(q - zero_point) * scale`` rounded once to float32 (torch's fused multiply-add).
Fake quantization (``fake_quantize_per_tensor_affine`` & co.) is differentiable with torch's
straight-through estimator: the gradient passes where the rounded value lies in [quant_min, quant_max].
"""

from __future__ import annotations

import builtins
import warnings
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.custom import Function
from backprop.devices import device as to_device
from backprop.sparse._tensor import _calling_op
from backprop.tensor import Tensor

__all__ = [
    "dequantize",
    "fake_quantize_per_channel_affine",
    "fake_quantize_per_tensor_affine",
    "per_channel_affine",
    "per_channel_affine_float_qparams",
    "per_channel_symmetric",
    "per_tensor_affine",
    "per_tensor_symmetric",
    "qint32",
    "qint8",
    "qscheme",
    "quint8",
    "quint4x2",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quantize_per_tensor_dynamic",
]


class QDtype:
    """A quantized dtype (torch's ``torch.quint8`` & co.): the integer storage dtype and the value range."""

    __slots__ = ("name", "storage", "qmin", "qmax", "scalar_name")
    kind = "q"  # (no NumPy kind: code asking "floating?" or "integer?" of a dtype answers no)

    def __init__(self, name: str, storage: str, qmin: int, qmax: int, scalar_name: str) -> None:
        self.name, self.storage, self.qmin, self.qmax = name, np.dtype(storage), qmin, qmax
        self.scalar_name = scalar_name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # (pickles as the module attribute of that name)

    is_floating_point = property(lambda self: False)
    is_complex = property(lambda self: False)
    itemsize = property(lambda self: self.storage.itemsize)

    @property
    def is_signed(self) -> bool:
        raise RuntimeError("isSignedType not supported for quantized types")

    def to_real(self) -> QDtype:
        return self

    def to_complex(self) -> QDtype:
        return self


quint8 = QDtype("quint8", "uint8", 0, 255, "QUInt8")
qint8 = QDtype("qint8", "int8", -128, 127, "QInt8")
qint32 = QDtype("qint32", "int32", -(2**31), 2**31 - 1, "QInt32")
quint4x2 = QDtype("quint4x2", "uint8", 0, 15, "QUInt4x2")
_QDTYPES = {"quint8": quint8, "qint8": qint8, "qint32": qint32, "quint4x2": quint4x2}


class qscheme:  # noqa: N801 - torch's name
    """A quantization scheme (torch's ``torch.qscheme``): ``per_tensor_affine`` & co."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name


per_tensor_affine = qscheme("per_tensor_affine")
per_channel_affine = qscheme("per_channel_affine")
per_tensor_symmetric = qscheme("per_tensor_symmetric")
per_channel_symmetric = qscheme("per_channel_symmetric")
per_channel_affine_float_qparams = qscheme("per_channel_affine_float_qparams")

_DEPRECATION = (
    "torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor creation functions that "
    "produce tensors with dtype torch.quint8, torch.qint8, and torch.qint32 are deprecated and will be removed "
    "in a future PyTorch release. Please see https://github.com/pytorch/pytorch/issues/184982 for more information."
)
_warned: list[bool] = []


def _warn_once() -> None:
    """torch 2.13's deprecation warning of quantized tensor creation (once per process, as its TORCH_WARN_ONCE)."""
    if not _warned:
        _warned.append(True)
        warnings.warn(_DEPRECATION, UserWarning, stacklevel=3)


def _not_implemented(op: str) -> NotImplementedError:
    """torch's dispatcher error for an op without a QuantizedCPU kernel."""
    return NotImplementedError(
        f"Could not run '{op}' with arguments from the 'QuantizedCPU' backend. This could be because the operator "
        "doesn't exist for this backend, or was omitted during the selective/custom build process (if using "
        f"custom build). '{op}' is only available for dense (CPU, CUDA) tensors: call .dequantize() first."
    )


class _QuantData:
    """A quantized tensor's ``_data``: its shape and dtype for the attributes, an error for any kernel."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: QDtype) -> None:
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_implemented(f"aten::{_calling_op()}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise _not_implemented(f"aten::{_calling_op()}")


# ---------------------------------------------------------------- the kernels (NumPy, float32 as fbgemm)
def _quantize_array(x: np.ndarray, scale: Any, zero_point: Any, dtype: QDtype, fused: bool = True) -> np.ndarray:
    """torch's quantize kernel: ``clamp(rint(x * (1 / scale) + zero_point), qmin, qmax)`` with the reciprocal
    in float32 and the multiply-add in float32, fused (one rounding) for the 8-bit dtypes per tensor as
    fbgemm's vector code, two roundings for qint32 and per channel (``fused=False``);
    NaN becomes qmax (qint32: qmin), infinities saturate
    (``scale``/``zero_point``: scalars or arrays broadcasting against ``x``)."""
    inv = np.float32(1.0) / np.asarray(scale, dtype=np.float32)
    zp = np.asarray(zero_point)
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype is qint32 or not fused:
            t = (x.astype(np.float32, copy=False) * inv).astype(np.float32) + zp.astype(np.float32)
        else:  # (the float64 product of two float32 is exact: one rounding to float32, as an FMA)
            t = (x.astype(np.float64) * inv.astype(np.float64) + zp).astype(np.float32)
        r = np.rint(t).astype(np.float64)
    r[np.isnan(r)] = float(dtype.qmin if dtype is qint32 else dtype.qmax)
    return np.clip(r, dtype.qmin, dtype.qmax).astype(dtype.storage)


def _dequantize_array(q: np.ndarray, scale: Any, zero_point: Any) -> np.ndarray:
    """``(q - zero_point) * scale`` in float32, as torch's dequantize kernel."""
    s = np.asarray(scale, dtype=np.float32)
    return (q.astype(np.float32) - np.asarray(zero_point).astype(np.float32)) * s


def _choose_qparams(lo: float, hi: float, qmin: int, qmax: int, preserve_sparsity: bool = False) -> tuple[float, int]:
    """fbgemm's ChooseQuantizationParams (no sparsity preservation, no power-of-two scale): the range widened
    to hold 0, scale ``(hi - lo) / (qmax - qmin)`` in float64 (0.1 when it is 0 in float32), scales below
    6.1e-5 raised to it, and the zero point from the end with the smaller error, rounded to even."""
    lo, hi = min(float(np.float32(lo)), 0.0), max(float(np.float32(hi)), 0.0)
    symmetric = preserve_sparsity and lo < 0 < hi
    if symmetric:  # (a symmetric range around zero, in float32 as fbgemm's)
        sym_min, sym_max = np.float32(-((qmax - qmin) // 2 + 1)), np.float32((qmax - qmin) // 2)
        top = float(max(abs(np.float32(lo) / sym_min), abs(np.float32(hi) / sym_max)))
        lo, hi = float(np.float32(top * float(sym_min))), float(np.float32(top * float(sym_max)))
    scale = (hi - lo) / (qmax - qmin)
    f = np.float32(scale)
    with np.errstate(divide="ignore", over="ignore"):
        if f == 0 or np.isinf(np.float32(1) / f):
            scale = 0.1
    small = float(np.float32(6.1e-5))
    if scale < small:
        org = scale
        scale = small
        if lo == 0:
            hi = float(np.float32(small * (qmax - qmin)))
        elif hi == 0:
            lo = float(np.float32(-small * (qmax - qmin)))
        else:
            amp = float(np.float32(small / org))
            lo, hi = float(np.float32(lo * amp)), float(np.float32(hi * amp))
    zp_min, zp_max = qmin - lo / scale, qmax - hi / scale
    err_min, err_max = abs(qmin) - abs(lo / scale), abs(qmax) - abs(hi / scale)
    initial = zp_min if err_min < err_max else zp_max
    if symmetric:
        initial = (qmin + qmax) / 2
    zp = qmin if initial < qmin else qmax if initial > qmax else int(np.rint(initial))
    return scale, zp


# ---------------------------------------------------------------- the tensor
class QTensor(Tensor):
    """A quantized tensor (torch's ``is_quantized``): an integer array and its scale(s) and zero point(s);
    ``dequantize()`` gives the float32 values, most dense ops refuse it as torch's do."""

    __slots__ = ("_int", "_qdtype", "_scheme", "_scale", "_zp", "_axis")
    _int: np.ndarray
    _qdtype: QDtype
    _scheme: qscheme
    _scale: Any  # a float (per tensor) or a float64 array (per channel)
    _zp: Any  # an int (per tensor) or an int64 array (per channel)
    _axis: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("QTensor(): build quantized tensors with bp.quantize_per_tensor / quantize_per_channel")

    @classmethod
    def _make(cls, ints: np.ndarray, qdtype: QDtype, scheme: qscheme, scale: Any, zp: Any, axis: int = -1) -> QTensor:
        """A quantized tensor around ``ints`` (no checks, no copies: the library's constructor)."""
        t: QTensor = object.__new__(cls)
        t._adopt(_QuantData(tuple(ints.shape), qdtype), to_device("cpu"), None)
        t._int, t._qdtype, t._scheme, t._scale, t._zp, t._axis = ints, qdtype, scheme, scale, zp, axis
        return t

    def _like(self, ints: np.ndarray) -> QTensor:
        """Other integers with this tensor's quantization (per tensor only: shape ops)."""
        if self._scheme is not per_tensor_affine and self._scheme is not per_tensor_symmetric:
            raise _not_implemented("aten::view (per-channel quantized tensors)")
        return QTensor._make(ints, self._qdtype, self._scheme, self._scale, self._zp)

    # ------------------------------------------------------------ what a quantized tensor is
    is_quantized = property(lambda self: True, doc="True: this tensor is quantized.")

    def qscheme(self) -> qscheme:
        """The quantization scheme (``bp.per_tensor_affine``, ``bp.per_channel_affine``, ...)."""
        return self._scheme

    def _per_tensor(self) -> None:
        if self._scheme is not per_tensor_affine and self._scheme is not per_tensor_symmetric:
            raise RuntimeError(
                "Expected quantizer->qscheme() == kPerTensorAffine to be true, but got false.  (Could this "
                "error message be improved?  If so, please report an enhancement request to PyTorch.)"
            )

    def _per_channel(self) -> None:
        if self._axis < 0:
            raise RuntimeError(
                "Expected quantizer->qscheme() == kPerChannelAffine || quantizer->qscheme() == "
                "kPerChannelAffineFloatQParams to be true, but got false.  (Could this error message be "
                "improved?  If so, please report an enhancement request to PyTorch.)"
            )

    def q_scale(self) -> builtins.float:
        """The scale of a per-tensor quantized tensor (a Python float)."""
        self._per_tensor()
        return float(self._scale)

    def q_zero_point(self) -> builtins.int:
        """The zero point of a per-tensor quantized tensor (a Python int)."""
        self._per_tensor()
        return int(self._zp)

    def q_per_channel_scales(self) -> Tensor:
        """The per-channel scales (a float64 tensor)."""
        self._per_channel()
        return Tensor._of(np.array(self._scale, dtype=np.float64))

    def q_per_channel_zero_points(self) -> Tensor:
        """The per-channel zero points (an int64 tensor; float for float qparams)."""
        self._per_channel()
        return Tensor._of(np.array(self._zp))

    def q_per_channel_axis(self) -> builtins.int:
        """The channel axis of a per-channel quantized tensor."""
        self._per_channel()
        return self._axis

    def int_repr(self) -> Tensor:
        """The integer representation: a uint8 / int8 / int32 tensor (a copy)."""
        return Tensor._of(self._int.copy())

    def dequantize(self) -> Tensor:
        """The float32 values ``(q - zero_point) * scale``."""
        if self._axis < 0:
            return Tensor._of(_dequantize_array(self._int, self._scale, self._zp))
        shape = [1] * self._int.ndim
        shape[self._axis] = -1
        s, z = np.reshape(self._scale, shape), np.reshape(self._zp, shape)
        if self._scheme is per_channel_affine_float_qparams:
            return Tensor._of(((self._int.astype(np.float32) - z.astype(np.float32)) * s).astype(np.float32))
        return Tensor._of(((self._int - z) * s).astype(np.float32))  # (per channel: float64 scales, as torch)

    # ------------------------------------------------------------ what torch supports on quantized tensors
    def clone(self, *, memory_format: Any = None) -> QTensor:
        return QTensor._make(self._int.copy(), self._qdtype, self._scheme, self._scale, self._zp, self._axis)

    def detach(self) -> QTensor:
        return self

    def contiguous(self, memory_format: Any = None) -> QTensor:
        return self

    def reshape(self, *shape: Any) -> QTensor:  # type: ignore[override]
        dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._like(self._int.reshape(tuple(int(d) for d in dims)))

    view = reshape  # type: ignore[assignment]

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> QTensor:
        return self._like(Tensor._of(self._int).flatten(start_dim, end_dim)._data)

    def __getitem__(self, index: Any) -> QTensor:
        return self._like(np.ascontiguousarray(self._int[index]))

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> QTensor:
        return self._like(np.swapaxes(self._int, dim0, dim1))

    def permute(self, *dims: Any) -> QTensor:  # type: ignore[override]
        order = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return self._like(np.transpose(self._int, order))

    def relu(self) -> QTensor:
        """Quantized relu: the integers clamped below at the zero point (the same quantization)."""
        self._per_tensor()
        return self._like(np.maximum(self._int, np.asarray(self._zp).astype(self._int.dtype)))

    def sigmoid(self) -> QTensor:
        """Quantized sigmoid at torch's fixed output quantization (scale 1/256, zero point 0; qint8: -128)."""
        with np.errstate(over="ignore"):
            zp = 0 if self._qdtype is quint8 else -128
            return qunary(self, lambda d: np.float32(1) / (np.float32(1) + np.exp(-d)), 1.0 / 256, zp)

    def equal(self, other: Any) -> builtins.bool:
        """Same integers and quantization (torch's ``equal`` of quantized tensors)."""
        if not isinstance(other, QTensor):
            return False
        return bool(
            self._qdtype is other._qdtype
            and self._scheme is other._scheme
            and np.array_equal(self._scale, other._scale)
            and np.array_equal(self._zp, other._zp)
            and self._axis == other._axis
            and np.array_equal(self._int, other._int)
        )

    def element_size(self) -> builtins.int:
        return self._qdtype.itemsize

    def stride(self, dim: builtins.int | None = None) -> Any:
        return Tensor._of(self._int).stride(dim)

    def is_contiguous(self, memory_format: Any = None) -> builtins.bool:
        return True

    # ------------------------------------------------------------ refusals, with torch's errors
    def add(self, *args: Any, **kwargs: Any) -> Tensor:
        raise _not_implemented("aten::add.out")

    __add__ = __radd__ = __iadd__ = add

    def sum(self, *args: Any, **kwargs: Any) -> Tensor:
        raise _not_implemented("aten::sum.IntList_out")

    def matmul(self, *args: Any, **kwargs: Any) -> Tensor:
        raise _not_implemented("aten::dot" if self._int.ndim == 1 else "aten::mm")

    __matmul__ = __rmatmul__ = mm = matmul

    def mul(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError(
            "empty_strided not supported on quantized tensors yet see https://github.com/pytorch/pytorch/issues/74540"
        )

    __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = __rtruediv__ = sub = div = mul

    def numpy(self, *, force: builtins.bool = False) -> np.ndarray:
        raise TypeError(f"Got unsupported ScalarType {self._qdtype.scalar_name}")

    def tolist(self) -> Any:
        raise RuntimeError("load_scalar: invalid type")

    def item(self) -> Any:
        if self._int.size != 1:
            raise RuntimeError(f"a Tensor with {self._int.size} elements cannot be converted to Scalar")
        return self.dequantize().item()

    def _host(self) -> np.ndarray:
        raise RuntimeError("Cannot access data pointer of a quantized tensor: call .int_repr() or .dequantize()")

    @property
    def requires_grad(self) -> builtins.bool:
        return False

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        if value:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")

    def requires_grad_(self, requires_grad: builtins.bool = True) -> QTensor:
        self.requires_grad = requires_grad
        return self

    def to(self, *args: Any, **kwargs: Any) -> QTensor:
        """Only to the CPU: a quantized tensor keeps its dtype (torch refuses a float dtype here)."""
        for a in (*args, *kwargs.values()):
            if a is not None and not isinstance(a, (str, QDtype)) and not hasattr(a, "type"):
                raise RuntimeError("Creation of quantized tensor requires quantized dtype like torch.quint8")
            if isinstance(a, str) and a != "cpu" or hasattr(a, "type") and a.type != "cpu":
                raise RuntimeError("backprop's quantized tensors live on the CPU")
        return self

    def float(self, memory_format: Any = None) -> Tensor:
        raise RuntimeError("Creation of quantized tensor requires quantized dtype like torch.quint8")

    double = half = long = int = float

    def __deepcopy__(self, memo: dict) -> QTensor:
        return self.clone()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild, (self._int, self._qdtype.name, self._scheme.name, self._scale, self._zp, self._axis))

    # ------------------------------------------------------------ printing
    def __repr__(self) -> str:
        body = repr(self.dequantize())[len("tensor(") : -1]
        extra = [f"size={tuple(self.shape)}", f"dtype={self._qdtype!r}", f"quantization_scheme={self._scheme!r}"]
        if self._axis < 0:
            extra += [f"scale={float(self._scale)!r}", f"zero_point={int(self._zp)}"]
        else:
            scales = repr(self.q_per_channel_scales()).replace("dtype=float64", "dtype=torch.float64")
            extra += [f"scale={scales}", f"zero_point={self.q_per_channel_zero_points()!r}", f"axis={self._axis}"]
        text, last = "tensor(" + body, len(body) + len("tensor(") - body.rfind("\n") + 1
        for suffix in extra:  # torch's _add_suffixes: a suffix that would pass 80 columns starts a line
            if last + len(suffix) + 2 > 80:
                text += ",\n       " + suffix
                last = 7 + len(suffix)
            else:
                text += ", " + suffix
                last += len(suffix) + 2
        return text + ")"


def _rebuild(ints: np.ndarray, dtype: str, scheme: str, scale: Any, zp: Any, axis: int) -> QTensor:
    """Unpickle a quantized tensor."""
    return QTensor._make(ints, _QDTYPES[dtype], globals()[scheme], scale, zp, axis)


# ---------------------------------------------------------------- creation
def _check_input(input: Any) -> np.ndarray:
    """The float32 array to quantize (torch refuses other dtypes)."""
    if not isinstance(input, Tensor) or isinstance(input, QTensor):
        raise TypeError(f"quantize: expected a float Tensor, got {type(input).__name__}")
    if input.dtype != dtypes.float32:
        raise RuntimeError(f"Quantize only works on Float Tensor, got {dtypes.scalar_type_name(input.dtype)}")
    return np.asarray(input.detach()._host())


def _check_dtype(dtype: Any) -> QDtype:
    if not isinstance(dtype, QDtype):
        name = dtypes.scalar_type_name(dtype) if isinstance(dtype, np.dtype) else str(dtype)
        raise RuntimeError(f"ScalarType {name} is not supported in new_qtensor.")
    return dtype


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, Tensor) else v


def quantize_per_tensor(input: Any, scale: Any, zero_point: Any, dtype: Any) -> Any:
    """Quantize a float32 tensor (or each of a list, with tensors of scales and zero points) to ``dtype``
    with one scale and zero point: ``clamp(zero_point + rint(x / scale), qmin, qmax)`` as torch computes it."""
    if isinstance(input, (list, tuple)):
        return [
            quantize_per_tensor(t, s, z, dtype)
            for t, s, z in zip(input, np.asarray(_host_of(scale)), np.asarray(_host_of(zero_point)))
        ]
    qdtype = _check_dtype(dtype)
    x = _check_input(input)
    scale, zp = float(_scalar(scale)), builtins.int(_scalar(zero_point))
    if zp > qdtype.qmax:
        raise RuntimeError(f"quantize_tensor_per_tensor_affine zero_point {zp} is above upper bound.")
    if zp < qdtype.qmin:
        raise RuntimeError(f"quantize_tensor_per_tensor_affine zero_point {zp} is below lower bound.")
    _warn_once()
    return QTensor._make(_quantize_array(x, scale, zp, qdtype), qdtype, per_tensor_affine, scale, zp)


def _host_of(v: Any) -> Any:
    return v._host() if isinstance(v, Tensor) else v


def quantize_per_tensor_dynamic(input: Tensor, dtype: Any, reduce_range: builtins.bool) -> QTensor:
    """Quantize with a scale and zero point chosen from the tensor's min and max (fbgemm's rule)."""
    qdtype = _check_dtype(dtype)
    if qdtype is not quint8 and qdtype is not qint8:
        raise RuntimeError(f"dtype {qdtype} not supported: quantize_per_tensor_dynamic takes quint8 or qint8")
    x = _check_input(input)
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    qmin, qmax = qdtype.qmin, qdtype.qmax
    if reduce_range:
        qmin, qmax = qmin // 2, qmax // 2
    scale, zp = _choose_qparams(lo, hi, qmin, qmax)
    _warn_once()
    return QTensor._make(_quantize_array(x, scale, zp, qdtype), qdtype, per_tensor_affine, scale, zp)


def quantize_per_channel(input: Tensor, scales: Tensor, zero_points: Tensor, axis: builtins.int, dtype: Any) -> QTensor:
    """Quantize with a scale and zero point per slice along ``axis`` (``scales`` float, ``zero_points`` int)."""
    qdtype = _check_dtype(dtype)
    x = _check_input(input)
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-x.ndim}, {x.ndim - 1}], but got {axis})"
        )
    axis %= x.ndim
    s = np.asarray(_host_of(scales), dtype=np.float64).reshape(-1)
    z = np.asarray(_host_of(zero_points)).reshape(-1)
    if s.size != x.shape[axis] or z.size != x.shape[axis]:
        raise RuntimeError(
            f"quantize_per_channel: expected {x.shape[axis]} scales and zero points (the size of dim {axis}), "
            f"got {s.size} and {z.size}"
        )
    shape = [1] * x.ndim
    shape[axis] = -1
    float_qparams = z.dtype.kind == "f"
    _warn_once()
    if float_qparams:  # per_channel_affine_float_qparams: rint(x / scale + zero_point)
        inv = np.float32(1) / s.astype(np.float32).reshape(shape)
        q = np.clip(np.rint(x * inv + z.astype(np.float32).reshape(shape)), qdtype.qmin, qdtype.qmax)
        return QTensor._make(q.astype(qdtype.storage), qdtype, per_channel_affine_float_qparams, s, z, axis)
    ints = _quantize_array(x, s.reshape(shape), z.reshape(shape), qdtype, fused=False)
    return QTensor._make(ints, qdtype, per_channel_affine, s, z.astype(np.int64), axis)


def dequantize(tensor: Any) -> Any:
    """The float32 values of a quantized tensor (or each of a list); a float tensor is returned as it is."""
    if isinstance(tensor, (list, tuple)):
        for i, t in enumerate(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
        return [t.dequantize() for t in tensor]
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"dequantize() received an invalid combination of arguments - got ({type(tensor).__name__}), but "
            "expected one of:\n * (Tensor input)\n * (tuple of Tensors tensors)"
        )
    return tensor.dequantize()


# ---------------------------------------------------------------- fake quantization (straight-through)
def _fake_quant(x: np.ndarray, scale: Any, zp: Any, qmin: int, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's fake-quant kernel: ``q = zp + rint(x * float32(1 / scale))``, the output
    ``(clamp(q, qmin, qmax) - zp) * scale`` in float32, and the mask ``qmin <= q <= qmax`` (the gradient's)."""
    s = np.asarray(scale, dtype=np.float32)
    inv = np.float32(1) / s
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.rint(x.astype(np.float32, copy=False) * inv).astype(np.float64) + np.asarray(zp, dtype=np.float64)
    mask = (q >= qmin) & (q <= qmax)
    out = ((np.clip(q, qmin, qmax) - zp) * s.astype(np.float64)).astype(x.dtype)
    return out, mask


class _FakeQuantize(Function):
    """Fake quantization with the straight-through gradient ``gy * mask``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: Any, zp: Any, qmin: int, qmax: int) -> Tensor:
        out, mask = _fake_quant(np.asarray(x._host()), scale, zp, qmin, qmax)
        ctx.mask = mask
        return Tensor._of(out)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Any, ...]:
        return gy * Tensor._of(ctx.mask).to(gy.dtype), None, None, None, None


def _check_fq(x: Tensor, qmin: int, qmax: int) -> None:
    if qmin > qmax:
        raise RuntimeError("`quant_min` should be less than or \n        equal to `quant_max`.")
    if x.dtype.kind != "f":
        raise RuntimeError(f"fake_quantize: expected a floating point input, got {x.dtype}")


def fake_quantize_per_tensor_affine(
    input: Tensor, scale: Any, zero_point: Any, quant_min: builtins.int, quant_max: builtins.int
) -> Tensor:
    """Quantize and dequantize in one step (values on the quantization grid, same dtype); differentiable
    with torch's straight-through estimator (gradient 1 where ``quant_min <= q <= quant_max``, else 0)."""
    _check_fq(input, quant_min, quant_max)
    zp = builtins.int(_scalar(zero_point))
    if not quant_min <= zp <= quant_max:
        raise RuntimeError("`zero_point` must be between `quant_min` and `quant_max`.")
    return _FakeQuantize.apply(input, float(np.float32(_scalar(scale))), zp, quant_min, quant_max)


def fake_quantize_per_channel_affine(
    input: Tensor,
    scale: Tensor,
    zero_point: Tensor,
    axis: builtins.int,
    quant_min: builtins.int,
    quant_max: builtins.int,
) -> Tensor:
    """Per-channel fake quantization along ``axis`` (one scale and zero point per slice), with the
    straight-through gradient."""
    _check_fq(input, quant_min, quant_max)
    s = np.asarray(_host_of(scale), dtype=np.float32).reshape(-1)
    z = np.asarray(_host_of(zero_point)).reshape(-1)
    if z.dtype.kind in "iu" and (z.min(initial=quant_min) < quant_min or z.max(initial=quant_max) > quant_max):
        raise RuntimeError("`zero_point` must be between `quant_min` and `quant_max`.")
    axis %= max(input.ndim, 1)
    if s.size != input.shape[axis]:
        raise RuntimeError("dimensions of scale and zero-point are not consistent with input tensor")
    shape = [1] * input.ndim
    shape[axis] = -1
    return _FakeQuantize.apply(input, s.reshape(shape), z.astype(np.float64).reshape(shape), quant_min, quant_max)


# ---------------------------------------------------------------- static quantized kernels (fbgemm's)
def _requantize(
    acc: np.ndarray, x_scale: float, w_scale: Any, bias: Any, out_scale: float, out_zp: int, relu: bool
) -> np.ndarray:
    """fbgemm's ReQuantizeOutput with a float bias, in float32: ``raw = acc + bias / (x_scale * w_scale)``,
    ``q = rint(raw * (x_scale * w_scale / out_scale)) + out_zp`` clamped to [0 (out_zp with relu), 255]
    (``acc``: the int32 sums of (x - x_zp)(w - w_zp), channels last; ``w_scale`` one per channel or one)."""
    act_w = np.float32(x_scale) * np.asarray(w_scale, dtype=np.float32)
    mult = (act_w / np.float32(out_scale)).astype(np.float32)
    raw = acc.astype(np.float32)
    if bias is not None:
        raw = raw + (np.asarray(bias, dtype=np.float32) / act_w).astype(np.float32)
    q = np.rint((raw * mult).astype(np.float32)).astype(np.int64) + out_zp
    return np.clip(q, out_zp if relu else 0, 255).astype(np.uint8)


def _centered(t: QTensor) -> np.ndarray:
    """The integers minus their zero point(s) (int64), zero points broadcast along the channel axis."""
    if t._axis < 0:
        return t._int.astype(np.int64) - builtins.int(t._zp)
    shape = [1] * t._int.ndim
    shape[t._axis] = -1
    return t._int.astype(np.int64) - np.reshape(np.asarray(t._zp, dtype=np.int64), shape)


def _w_scales(w: QTensor) -> Any:
    return np.asarray(w._scale, dtype=np.float64) if w._axis >= 0 else float(w._scale)


def qlinear(x: QTensor, w: QTensor, bias: Any, scale: float, zero_point: builtins.int, relu: bool = False) -> QTensor:
    """torch's ``quantized::linear`` (fbgemm): quint8 input, qint8 weight (per tensor or per output
    channel), float bias; int32 accumulation and fbgemm's requantization to quint8."""
    if not isinstance(x, QTensor) or x._qdtype is not quint8:
        raise RuntimeError("quantized::linear (fbgemm): expected a quint8 quantized input")
    xs = _centered(x).reshape(-1, x._int.shape[-1])
    acc = (xs @ _centered(w).T).astype(np.int32)
    out = _requantize(acc, float(x._scale), _w_scales(w), bias, scale, zero_point, relu)
    return QTensor._make(out.reshape(*x._int.shape[:-1], -1), quint8, per_tensor_affine, float(scale), zero_point)


def qconv2d(
    x: QTensor,
    w: QTensor,
    bias: Any,
    stride: tuple[builtins.int, builtins.int],
    padding: tuple[builtins.int, builtins.int],
    dilation: tuple[builtins.int, builtins.int],
    groups: builtins.int,
    scale: float,
    zero_point: builtins.int,
    relu: bool = False,
) -> QTensor:
    """torch's ``quantized::conv2d`` on x86: the input padded with its zero point, int32 sums of products
    per output channel, then the same requantization as ``qlinear``."""
    if not isinstance(x, QTensor) or x._qdtype is not quint8:
        raise RuntimeError("quantized::conv2d (fbgemm): expected a quint8 quantized input")
    if x._int.ndim != 4:
        raise RuntimeError(f"quantized::conv2d: expected 4-dimensional input, got {x._int.ndim}-dimensional")
    xi = np.pad(_centered(x), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    wi = _centered(w)
    o, cg, kh, kw = wi.shape
    win = np.lib.stride_tricks.sliding_window_view(
        xi, ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1), axis=(2, 3)
    )[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
    n, _, oh, ow = win.shape[:4]
    win = win.reshape(n, groups, cg, oh, ow, kh, kw)
    wg = wi.reshape(groups, o // groups, cg, kh, kw)
    acc = np.einsum("ngchwij,gocij->nhwgo", win, wg, optimize=True).reshape(n, oh, ow, o).astype(np.int32)
    out = _requantize(acc, float(x._scale), _w_scales(w), bias, scale, zero_point, relu)
    return QTensor._make(
        np.ascontiguousarray(out.transpose(0, 3, 1, 2)), quint8, per_tensor_affine, float(scale), zero_point
    )


def _vec_split(n: builtins.int) -> builtins.int:
    """How many leading elements torch's elementwise quantized kernels take through their AVX-512 path
    (blocks of 2 x 64 quint8; the rest go through the scalar code)."""
    return n - n % 128


def _deq_fma(q: np.ndarray, scale: float, zp: builtins.int) -> np.ndarray:
    """The vector path's dequantize: ``fma(q, scale, -zp * scale)`` rounded once to float32."""
    s = np.float32(scale)
    premul = np.float32(-np.float32(zp) * s)
    return (q.astype(np.float64) * np.float64(s) + np.float64(premul)).astype(np.float32)


def qadd(x: QTensor, y: QTensor, scale: float, zero_point: builtins.int, relu: bool = False) -> QTensor:
    """torch's ``quantized::add`` (``add_relu``): both dequantized in float32, summed, requantized at
    ``scale``/``zero_point``; the AVX-512 part dequantizes with a fused multiply-add as torch's does."""
    a, b = np.broadcast_arrays(x._int, y._int)
    n = a.size if a.shape == x._int.shape == y._int.shape else 0
    k = _vec_split(n)
    fa, fb = a.reshape(-1), b.reshape(-1)
    da = np.concatenate([_deq_fma(fa[:k], x._scale, x._zp), _dequantize_array(fa[k:], x._scale, x._zp)])
    db = np.concatenate([_deq_fma(fb[:k], y._scale, y._zp), _dequantize_array(fb[k:], y._scale, y._zp)])
    c = (da + db).astype(np.float32)
    if relu:
        c = np.maximum(c, np.float32(0))
    inv = np.float32(1) / np.float32(scale)
    q = np.clip(np.rint((c * inv).astype(np.float32)).astype(np.int64) + zero_point, x._qdtype.qmin, x._qdtype.qmax)
    return QTensor._make(q.astype(x._qdtype.storage).reshape(a.shape), x._qdtype, per_tensor_affine, scale, zero_point)


def qmul(x: QTensor, y: QTensor, scale: float, zero_point: builtins.int) -> QTensor:
    """torch's ``quantized::mul``: ``(a - za)(b - zb)`` in integers times ``float32(sa * sb / scale)``, rounded."""
    a, b = np.broadcast_arrays(_centered(x), _centered(y))
    mult = np.float32(float(x._scale) * float(y._scale) * float(np.float32(1) / np.float32(scale)))
    q = np.rint((a * b).astype(np.float32) * mult).astype(np.int64) + zero_point
    q = np.clip(q, x._qdtype.qmin, x._qdtype.qmax)
    return QTensor._make(q.astype(x._qdtype.storage), x._qdtype, per_tensor_affine, scale, zero_point)


# ---------------------------------------------------------------- dynamic kernels (fbgemm's, x86)
def dynamic_linear(a: np.ndarray, w: QTensor, bias: Any) -> np.ndarray:
    """torch's ``quantized::linear_dynamic`` (fbgemm, reduce_range): ``a`` (float32, features last) quantized
    to uint8 over its own range in [0, 127], int32 products with the per-tensor qint8 weight, then
    ``acc * (x_scale * w_scale) + bias`` rounded once to float32 (fbgemm's fused float epilogue)."""
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    scale, zp = _choose_qparams(lo, hi, 0, 127)
    xq = _quantize_array(a, scale, zp, quint8).astype(np.int64) - zp
    wq = w._int.astype(np.int64) - builtins.int(w._zp)
    acc = (xq.reshape(-1, a.shape[-1]) @ wq.T).astype(np.int32)
    m = np.float64(np.float32(scale) * np.float32(w._scale))
    b = 0.0 if bias is None else np.asarray(bias, dtype=np.float64)
    y = (acc.astype(np.float64) * m + b).astype(np.float32)
    return y.reshape(*a.shape[:-1], wq.shape[0])


def fp16_linear(a: np.ndarray, w16: np.ndarray, bias: Any) -> np.ndarray:
    """torch's ``quantized::linear_dynamic_fp16`` (fbgemm's FP16 GEMM): float32 activations times the float16
    weight, accumulated in float32 by fused multiply-adds in order along K within blocks of 512 (each
    block from zero, the blocks summed in float32), then the bias added in float32. The product of two
    float32 values is exact in float64, so each step is one float64 add rounded to float32."""
    x = a.reshape(-1, a.shape[-1]).astype(np.float64)
    wt = np.asarray(w16, dtype=np.float16).astype(np.float64).T  # (K, N)
    total: np.ndarray | None = None
    for k0 in range(0, x.shape[1], 512):
        acc = np.zeros((x.shape[0], wt.shape[1]), np.float32)
        for k in range(k0, min(k0 + 512, x.shape[1])):
            acc = (np.multiply.outer(x[:, k], wt[k]) + acc).astype(np.float32)
        total = acc if total is None else (total + acc).astype(np.float32)
    if total is None:
        total = np.zeros((x.shape[0], wt.shape[1]), np.float32)
    if bias is not None:
        total = (total + np.asarray(bias, dtype=np.float32)).astype(np.float32)
    return total.reshape(*a.shape[:-1], wt.shape[1])


# ---------------------------------------------------------------- elementwise and normalization kernels (x86)
def _split64(n: builtins.int) -> builtins.int:
    """How many leading elements the quantized activation kernels run through their vector path (blocks of
    2 x 32 quint8, the AVX2 lanes of ``Vectorized<quint8>``); the rest go through the scalar code."""
    return n - n % 64


def _quantize_legacy(y: np.ndarray, scale: float, zp: builtins.int) -> np.ndarray:
    """The scalar ``quantize_val``: ``nearbyint(zp + float32(y * (1 / scale)))``, the zero point added in float32."""
    inv = np.float32(1) / np.float32(scale)
    return np.rint(((y * inv).astype(np.float32) + np.float32(zp)).astype(np.float32))


def qunary(x: QTensor, fn: Any, scale: float, zero_point: builtins.int, inv_in_double: bool = False) -> QTensor:
    """A quantized elementwise activation as torch's x86 kernels: the vector part dequantizes with a fused
    multiply-add, applies ``fn`` in float32 and quantizes as ``rint(y * inv_scale) + zp`` (``inv_in_double``:
    ``inv_scale = float(1.0 / scale)`` computed in double, as qhardswish); the scalar tail dequantizes as
    ``(q - zp) * scale`` and quantizes with the zero point added before rounding (``fn``: float32 -> float32)."""
    x._per_tensor()
    flat = x._int.reshape(-1)
    k = _split64(flat.size)
    yv = np.asarray(fn(_deq_fma(flat[:k], x._scale, x._zp)), dtype=np.float32)
    ys = np.asarray(fn(_dequantize_array(flat[k:], x._scale, x._zp)), dtype=np.float32)
    inv = np.float32(1.0 / scale) if inv_in_double else np.float32(1) / np.float32(scale)
    q = np.concatenate([np.rint((yv * inv).astype(np.float32)) + zero_point, _quantize_legacy(ys, scale, zero_point)])
    q = np.clip(q, x._qdtype.qmin, x._qdtype.qmax).astype(x._qdtype.storage).reshape(x._int.shape)
    return QTensor._make(q, x._qdtype, per_tensor_affine, float(scale), builtins.int(zero_point))


def _fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    """``fma(a, b, c)`` of float32 values rounded once (the product is exact in float64)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)


def qbatch_norm(x: QTensor, weight: Any, bias: Any, mean: Any, var: Any, eps: float, scale: float,
                zero_point: builtins.int) -> QTensor:  # fmt: skip
    """torch's ``quantized::batch_norm2d`` (x86): per channel ``alpha = inv_sigma * w * (x_scale / scale)`` and
    ``beta = (b - mean * inv_sigma * w) / scale`` in float32, then ``fma(alpha, q - zp, beta)`` rounded to an
    integer (channels past the last multiple of 8: ``alpha * (q - zp) + beta`` rounded twice)."""
    x._per_tensor()
    c = x._int.shape[1]
    f = np.float32
    inv_sigma = (1.0 / np.sqrt((np.asarray(var, f) + f(eps)).astype(f)).astype(np.float64)).astype(f)
    w = np.ones(c, f) if weight is None else np.asarray(weight, f)
    b = np.zeros(c, f) if bias is None else np.asarray(bias, f)
    sw = (inv_sigma * w).astype(f)
    alpha = (sw.astype(np.float64) * (float(x._scale) / scale)).astype(f)
    beta = ((b - ((np.asarray(mean, f) * inv_sigma).astype(f) * w).astype(f)).astype(f) / scale).astype(f)
    shape = (1, c) + (1,) * (x._int.ndim - 2)
    d = (x._int.astype(np.int64) - builtins.int(x._zp)).astype(f)
    a, be = alpha.reshape(shape), beta.reshape(shape)
    y = _fma32(a, d, be)
    tail = c - c % 8
    y[:, tail:] = ((a * d).astype(f) + be).astype(f)[:, tail:]
    q = np.clip(np.rint(y).astype(np.int64) + zero_point, x._qdtype.qmin, x._qdtype.qmax)
    return QTensor._make(q.astype(x._qdtype.storage), x._qdtype, per_tensor_affine, float(scale), zero_point)


def qlayer_norm(x: QTensor, n: builtins.int, weight: Any, bias: Any, eps: float, scale: float,
                zero_point: builtins.int) -> QTensor:  # fmt: skip
    """torch's ``quantized::layer_norm`` (x86) over the last ``n`` elements of each row: the mean and variance
    from integer sums in float32 units of the input scale, ``(q - zp - mean) * (x_scale / std)`` then
    ``fma(., gamma, beta)`` and ``rint(y / scale) + zp`` for the first multiple of 32 elements of a row; the
    rest with two roundings and the scalar quantizer."""
    x._per_tensor()
    f = np.float32
    rows = x._int.reshape(-1, n).astype(np.int64)
    xs, zp = f(x._scale), f(x._zp)
    mean_shift = (rows.sum(1).astype(f) / f(n)).astype(f)
    mean = (mean_shift - zp).astype(f)
    sq = (rows * rows).sum(1).astype(f)
    var = np.maximum(((sq / f(n)).astype(f) - (mean_shift * mean_shift).astype(f)).astype(f), f(0))
    std = np.sqrt(((var * xs).astype(f) * xs + f(eps)).astype(f)).astype(f)
    k = (xs / std).astype(f)[:, None]
    normed = (((rows - builtins.int(x._zp)).astype(f) - mean[:, None]).astype(f) * k).astype(f)
    g = np.ones(n, f) if weight is None else np.asarray(weight, f).reshape(-1)
    b = np.zeros(n, f) if bias is None else np.asarray(bias, f).reshape(-1)
    vec = n - n % 32
    yv = _fma32(normed[:, :vec], g[:vec], b[:vec])
    ys = ((normed[:, vec:] * g[vec:]).astype(f) + b[vec:]).astype(f)
    inv = f(1) / f(scale)
    q = np.concatenate([np.rint((yv * inv).astype(f)) + zero_point, _quantize_legacy(ys, scale, zero_point)], 1)
    q = np.clip(q, x._qdtype.qmin, x._qdtype.qmax).astype(x._qdtype.storage).reshape(x._int.shape)
    return QTensor._make(q, x._qdtype, per_tensor_affine, float(scale), zero_point)
