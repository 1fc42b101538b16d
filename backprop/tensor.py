"""The Tensor: an array on a device plus the autograd bookkeeping. No math lives here.

Every operation is one call into an op of the registry through ``apply`` (or ``apply_`` in
place); the methods come in families from ``backprop.methods``. Docstrings give torch's name and
semantics (``dim=``/``keepdim=``), translated to the kernels' numpy-style ``axis``/``keepdims``.
"""

from __future__ import annotations

import builtins
import contextvars
import copy
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backprop import dtypes, runtime
from backprop.autograd import hooks, trace
from backprop.autograd.function import (
    Node,
    apply,
    apply_scalar,
    bump_version,
    check_inplace,
    is_stale_view,
    not_a_tensor_here,
    overlap_error,
    stale_view_error,
    write_recorded,
)
from backprop.autograd.functional import backward as autograd_backward
from backprop.autograd.grad_mode import state as _grad_state
from backprop.autograd.grad_mode import trace_users
from backprop.autograd.node_names import name_node
from backprop.backends.meta_backend import placeholder
from backprop.devices import Device, numpy_checks, pytorch_tensor, warn_scalar_requires_grad
from backprop.devices import device as to_device_obj
from backprop.methods import IndexingMethods, MathMethods, ReductionMethods, ShapeMethods
from backprop.methods.attributes import AttributeMethods, strided
from backprop.methods.linalg import LinalgMethods
from backprop.methods.math import check_sub, refuse_bool_neg, refuse_bool_pos
from backprop.methods.random import RandomMethods
from backprop.methods.shape import check_memory_format
from backprop.methods.storage import deepcopy_array
from backprop.ops import conversion as conv
from backprop.ops import elementwise as ew
from backprop.ops import linalg
from backprop.ops import math as mt
from backprop.ops._util import ShapeError, broadcast_shape, size_arg, wrap_dim
from backprop.size import Size

_new = object.__new__
_SCALARS = (int, float, bool, complex)


def legacy_new_mismatch(got: list[str], keywords: list[str]) -> str:
    """torch's TypeError text for a legacy constructor call (``Tensor(t, dtype=...)``) that matches no overload."""
    why = f"\n      didn't match because some of the keywords were incorrect: {', '.join(keywords)}"
    return (
        f"new() received an invalid combination of arguments - got ({', '.join(got)}), but expected one of:\n"
        f" * (*, torch.device device = None){why if len(keywords) == 1 else ''}\n"
        " * (torch.Storage storage)\n"
        " * (Tensor other)\n"
        " * (tuple of ints size, *, torch.device device = None)\n"
        " * (object data, *, torch.device device = None)\n"
    )


def _warn_scalar_requires_grad(t: Tensor) -> None:
    """torch's warning for ``float(t)``/``complex(t)`` of a tensor that requires grad (``devices``'s, once), only
    while grad mode is on: under ``no_grad`` (LBFGS's step reading its closure's loss) torch says nothing."""
    if t._requires_grad and _grad_state.enabled:
        warn_scalar_requires_grad(3)


_OPERANDS = (*_SCALARS, np.generic, np.ndarray)  # (with Tensor: what torch's == takes as an operand)
_WRAP_INT = dtypes.WRAP_INT
_INT64 = dtypes.int64
_UINT64_MIN = 1 << 63


def _binary(
    opdef: Any, *, to_float: bool = False, wrap: bool = True
) -> tuple[Callable[..., Tensor], Callable[..., Tensor]]:
    """``__op__`` and ``__rop__`` for a binary op, with torch's dtype promotion (``promote``).

    ``to_float``: the result is floating even for integer operands (true division); ``wrap=False``: a
    Python int is not wrapped into a small integer dtype (pow: torch raises for ``uint8 ** -1``)."""

    def method(self: Tensor, other: Any) -> Tensor:
        cls = other.__class__
        if cls is Tensor:
            if other._data.dtype is self._data.dtype and not (to_float and self._data.dtype.kind in "biu"):
                return apply(opdef, self, other)  # the hot path: same dtype, nothing to decide
        elif cls is float:
            if self._data.dtype.kind in "fc":
                return apply_scalar(opdef, self, other)
        else:
            if _foreign(other):
                return NotImplemented  # Python then raises its "unsupported operand type(s)" TypeError
            if cls is np.ndarray and other.dtype.kind in "biufc" and self._data.dtype.kind in "biufc":
                return apply(opdef, *_numpy_promote(self, other, to_float))
            other = self._other(other)
        if opmath and other.__class__ is Tensor and _float32_scalar(self, other):
            return apply(opdef, self, other)  # torch reads the 0-d operand in float32 (registry._SCALAR_IN_FLOAT32)
        return apply(opdef, *promote(self, other, to_float, wrap))

    def reflected(self: Tensor, other: Any) -> Tensor:
        if other.__class__ is float and self._data.dtype.kind in "fc":
            return apply_scalar(opdef, self, other, True)
        if _foreign(other):
            return NotImplemented
        out = apply(opdef, *promote(self._other(other), self, to_float, wrap))
        if reflected_name is not None and other.__class__ is Tensor:  # x.__rsub__(y), called by name
            name_node(out, reflected_name)
        return out

    def reflected_true_div(self: Tensor, other: Any) -> Tensor:
        """torch's ``number / x`` is ``x.reciprocal() * number`` (its graph too: MulBackward0 after
        ReciprocalBackward0): one rounding more than a true division, so a quarter of float32 results differ
        from ``np.divide``'s in the last bit; we compute it as torch does."""
        if _foreign(other):
            return NotImplemented
        named = other.__class__ is Tensor  # x.__rdiv__(y), called by name: torch's MulBackward0 (y * 1/x)
        other = self._other(other)
        if other.__class__ is Tensor:  # (a non-number: a list or array made a tensor)
            out = apply(opdef, *promote(other, self, to_float, wrap))
            return name_node(out, "MulBackward0") if named else out
        return self.reciprocal() * other

    def sub(self: Tensor, other: Any) -> Tensor:
        """``method`` for sub: as torch, a bool operand is refused (``b - b``, ``b - 1``, ``1 - b``)."""
        cls = other.__class__
        if cls is Tensor:
            if other._data.dtype is self._data.dtype is not bool_:
                return apply(opdef, self, other)  # the hot path: same dtype
        elif cls is float:
            if self._data.dtype.kind in "fc":
                return apply_scalar(opdef, self, other)
        check_sub(self, other)
        return method(self, other)

    def rsub(self: Tensor, other: Any) -> Tensor:
        if other.__class__ is float and self._data.dtype.kind in "fc":
            return apply_scalar(opdef, self, other, True)
        check_sub(other, self)
        return reflected(self, other)

    opmath = opdef.name in ("mul", "div")
    reflected_name = "RsubBackward0" if opdef.name == "sub" else None  # (torch's rsub kernel)
    bool_ = dtypes.bool_
    method.__doc__ = reflected.__doc__ = sub.__doc__ = rsub.__doc__ = opdef.doc
    if opdef.name == "sub":
        return sub, rsub
    if opdef.name == "div" and to_float:
        reflected_true_div.__doc__ = opdef.doc
        return method, reflected_true_div
    return method, reflected


def _float32_scalar(a: Tensor, b: Tensor) -> bool:
    """``a`` is a float16/bfloat16 tensor with dims and ``b`` a 0-d float32/float64 one: torch's mul and div
    then compute in float32 and round to the half dtype (``x * tensor(2.0**20)`` is finite for small float16
    x; ``tensor(2.0**20) * x`` is not: torch reads only a second operand in float32)."""
    x, y = a._data, b._data
    if x.itemsize != 2 or not x.ndim or y.ndim or y.dtype.kind != "f" or y.dtype is x.dtype:
        return False
    if x.dtype is not dtypes.float16 and not dtypes.is_bfloat16(x.dtype):
        return False
    if a.device != b.device or a.device.type != "cpu":
        return False
    dtypes.note_float16()  # (the registry's mul/div then take the float32 path; once per process)
    return True


def promote(a: Any, b: Any, to_float: bool = False, wrap: bool = True) -> tuple[Any, Any]:
    """``a`` and ``b`` (Tensors or Python scalars) cast to their common dtype under torch's rules
    (``dtypes.promote_types``); casts are recorded ops, so gradients flow through them."""
    dt = dtypes.promote_types(a, b)
    if to_float and dt.kind in "biu":
        dt = dtypes.get_default_dtype()
    elif wrap and dt in _WRAP_INT:  # a Python int wraps into a small integer dtype, as torch's (uint8 - 3 is 253)
        if a.__class__ is int:
            a = dtypes.wrap_int(a, dt)
        elif b.__class__ is int:
            b = dtypes.wrap_int(b, dt)
    elif wrap and dt is _INT64:  # 2**63 <= int < 2**64: torch's uint64 scalar (wrapped; refused beside bool)
        if a.__class__ is int and a >= _UINT64_MIN:
            a = dtypes.wide_int(a, b._data.dtype)
        elif b.__class__ is int and b >= _UINT64_MIN:
            b = dtypes.wide_int(b, a._data.dtype)
    return _cast(a, dt), _cast(b, dt)


def _numpy_promote(x: Tensor, a: np.ndarray, to_float: bool) -> tuple[Tensor, Tensor]:
    """``x`` and ``a`` cast to NumPy's common dtype, for ``x OP array``: torch's operators hand an array to
    NumPy, which computes in its own promotion (a float32 tensor times an int64 array, or a 0-d float64
    array, is float64) and gives the result back as a tensor; here the op is recorded in that dtype."""
    dt = np.result_type(x._data.dtype, a.dtype)
    if to_float and dt.kind in "biu":
        dt = np.dtype(np.float64)  # (NumPy's true division of integers)
    return _cast(x, dt), _cast(Tensor._of(a, device=x.device), dt)


def _cast(x: Any, dt: np.dtype) -> Any:
    if isinstance(x, Tensor) and x._data.dtype != dt:
        return apply(conv.astype, x, dtype=dt)
    return x  # a Python scalar is weak: the Tensor operand's dtype decides (NumPy agrees)


def _foreign(other: Any) -> bool:
    """An operand no tensor op takes (None, text): the operator returns NotImplemented, as torch's do."""
    return other is None or isinstance(other, (str, bytes))


def _compare(opdef: Any, *, equality: bool = False) -> Callable[..., Tensor]:
    """``__lt__`` ... ``__ne__``; ``equality``: ``==``/``!=`` with an operand no op takes as a tensor or a number
    (a list, a tuple, any object) return NotImplemented, so Python compares identities (``t == [1, 2]`` is
    False, as torch's)."""

    def method(self: Tensor, other: Any) -> Tensor:
        cls = other.__class__
        if cls is Tensor:
            if other._data.dtype is self._data.dtype:
                return apply(opdef, self, other)  # the hot path: same dtype
        elif cls is int:
            if self._data.dtype in _WRAP_INT:  # torch compares with the int wrapped into the dtype
                return apply(opdef, self, dtypes.wrap_int(other, self._data.dtype))
            if other >= _UINT64_MIN:  # (int64: 2**63 wraps to -2**63; bool: torch's promotion error)
                other = dtypes.wide_int(other, self._data.dtype)
            return apply(opdef, self, other)
        elif _foreign(other) or (equality and not isinstance(other, (Tensor, *_OPERANDS))):
            refuse_pytorch_tensor(other)  # (not an identity comparison: a torch_t != bp_t slip says what it is)
            return NotImplemented  # ``t == None`` is False, ``t < "a"`` a TypeError, as in torch
        return compared(opdef, self, other)

    method.__doc__ = opdef.doc
    return method


def compared(opdef: Any, self: Tensor, other: Any) -> Tensor:
    """``opdef(self, other)`` for a comparison, as torch compares: in the operands' promoted dtype
    (uint8 against a 0-d int64 -3 compares with 253; int64 against float32 in float32) and with a
    Python int wrapped into a small integer dtype (``uint8 < -3`` is ``uint8 < 253``)."""
    other = self._other(other)
    if other.__class__ is int and self._data.dtype in _WRAP_INT:
        other = dtypes.wrap_int(other, self._data.dtype)
    elif other.__class__ is int and other >= _UINT64_MIN:
        other = dtypes.wide_int(other, self._data.dtype)
    elif isinstance(other, Tensor) and other._data.dtype != self._data.dtype:
        return apply(opdef, *promote(self, other))
    return apply(opdef, self, other)


_NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
    "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf Tensor, "
    "use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access the "
    "leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)
_NON_LEAF_FLAG = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph "
    "that doesn't require differentiation use var_no_grad = var.detach()."
)
_DETACH_VIEW = (
    "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel (DDP) for training, "
    "and gradient_as_bucket_view is set as True, gradients are views of DDP buckets, and hence detach_() cannot be "
    "called on these gradients. To fix this error, please refer to the Optimizer.zero_grad() function in "
    "torch/optim/optimizer.py as the solution."
)
# torch's names of dtypes in ``.grad = ...`` errors: (C++ type name, ScalarType name)
_GRAD_DTYPE_NAMES = {
    "float32": ("float", "Float"), "float64": ("double", "Double"), "float16": ("c10::Half", "Half"),
    "bfloat16": ("c10::BFloat16", "BFloat16"), "int64": ("long int", "Long"), "int32": ("int", "Int"),
    "int16": ("short int", "Short"), "int8": ("signed char", "Char"), "uint8": ("unsigned char", "Byte"),
    "bool": ("bool", "Bool"), "complex64": ("c10::complex<float>", "ComplexFloat"),
    "complex128": ("c10::complex<double>", "ComplexDouble"),
}  # fmt: skip


def _grad_mismatch(t: Tensor, g: Tensor, want: Any) -> None:
    """Raise torch's error for ``t.grad = g`` with another size, device or dtype than ``want`` (the tensor's
    ``grad_dtype``: its dtype unless set; None accepts any)."""
    if g._data.shape != t._data.shape:
        raise RuntimeError(
            f"attempting to assign a gradient of size '{list(g.shape)}' to a tensor of size '{list(t.shape)}'. "
            "Please ensure that the gradient and the tensor are the same size"
        )
    if want is not None and g.dtype != want:
        got = _GRAD_DTYPE_NAMES.get(str(g.dtype), (str(g.dtype),))[0]
        want = _GRAD_DTYPE_NAMES.get(str(want), (None, str(want)))[1]
        raise RuntimeError(
            f"attempting to assign a gradient with dtype '{got}' to a tensor with grad_dtype '{want}'. The gradient "
            "must match the tensor's grad_dtype (defaults to the tensor's dtype). You can set the tensor's grad_dtype "
            "attribute with a specific dtype, or None to allow any dtype. Set grad_dtype with caution. Diverging the "
            "dtypes of a tensor and its gradient may break downstream systems that assume they match."
        )
    if g.device != t.device:
        raise RuntimeError(f"assigned grad has data located on {g.device}, but the tensor is on {t.device}")


# ------------------------------------------------------------ torch's __torch_function__ protocol (core)
# The dispatch itself (wrapping the public functions and methods) lives in ``backprop.overrides``, installed
# when the first user subclass of Tensor (``__init_subclass__``) or tensor-like object appears; until then
# nothing below runs on any op. Here: the thread's switches, the default ``Tensor.__torch_function__``.


class _TorchFunctionState(threading.local):
    """This thread's torch-function switches: ``subclass_off`` (``DisableTorchFunctionSubclass``), ``all_off``
    (``DisableTorchFunction``), the mode stack, and ``off`` (no dispatch at all: the wrappers' one test)."""

    def __init__(self) -> None:
        self.subclass_off = False
        self.all_off = False
        self.modes: list[Any] = []
        self.off = False

    def refresh(self) -> None:
        self.off = self.all_off or (self.subclass_off and not self.modes)


tf_state = _TorchFunctionState()
# called once, by ``Tensor.__init_subclass__`` for a class defined outside backprop (or by ``tensor_like_seen``):
# ``backprop.overrides`` sets it to its activation when imported (it may not be imported from here: layers)
tf_activate: list[Callable[[], None]] = []
tf_active = [False]


class DisableTorchFunctionSubclass:
    """torch._C.DisableTorchFunctionSubclass: inside, Tensor subclasses' ``__torch_function__`` is not
    called (modes still are); what ``Tensor.__torch_function__`` runs ``func`` under."""

    def __enter__(self) -> None:
        self._prev = tf_state.subclass_off
        tf_state.subclass_off = True
        tf_state.refresh()

    def __exit__(self, *exc: Any) -> None:
        tf_state.subclass_off = self._prev
        tf_state.refresh()


class DisableTorchFunction:
    """torch._C.DisableTorchFunction: inside, no ``__torch_function__`` (subclass or mode) is called."""

    def __enter__(self) -> None:
        self._prev = tf_state.all_off
        tf_state.all_off = True
        tf_state.refresh()

    def __exit__(self, *exc: Any) -> None:
        tf_state.all_off = self._prev
        tf_state.refresh()


class _DisabledTorchFunctionImpl:
    """torch._C._disabled_torch_function_impl: a ``__torch_function__`` that runs ``func`` with subclass
    dispatch off and converts nothing. A class attribute set to it opts the class out of dispatch (as
    ``Parameter``). Not a function, so it never binds to an instance (as torch's builtin)."""

    __name__ = __qualname__ = "_disabled_torch_function_impl"

    def __call__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        with DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))

    def __repr__(self) -> str:
        return "<built-in function _disabled_torch_function_impl>"


disabled_torch_function_impl = _DisabledTorchFunctionImpl()


def overloads(kind: type) -> builtins.bool:
    """True when instances of ``kind`` have a ``__torch_function__`` of their own: not the disabled one, and not
    torch's own Tensor's (a torch tensor handed to backprop is data to convert, not a tensor-like)."""
    tf = getattr(kind, "__torch_function__", None)
    if tf is None or tf is disabled_torch_function_impl:
        return False
    return not getattr(getattr(tf, "__func__", tf), "__module__", "").startswith("torch.")


def refuse_pytorch_tensor(other: Any) -> None:
    """A clear TypeError for a tensor of the real PyTorch met as an operand (the two libraries' tensors do not mix)."""
    if pytorch_tensor(other):
        kind = type(other)
        raise TypeError(
            f"a backprop Tensor and a {kind.__module__}.{kind.__name__} (PyTorch's) do not mix: convert one of them, "
            "bp.from_numpy(t.numpy()) or torch.from_numpy(x.numpy())"
        )


def _torchs_own(func: Any) -> builtins.bool:
    """True for a function of the real PyTorch (``torch.add``, ``torch.Tensor.ne``): PyTorch calls a backprop
    tensor's ``__torch_function__`` with it when the two libraries' tensors meet (``torch_t != bp_t``), and running
    it would hand the same arguments back to PyTorch, which dispatches here again without end."""
    mod = getattr(func, "__module__", None) or getattr(getattr(func, "__objclass__", None), "__module__", None) or ""
    return mod == "torch" or mod.startswith("torch.")


def convert(ret: Any, cls: type) -> Any:
    """torch._tensor._convert: Tensors in ``ret`` (also inside tuples and lists) as instances of ``cls``."""
    if cls is Tensor:
        return ret
    if isinstance(ret, Tensor) and not isinstance(ret, cls):
        ret = ret.as_subclass(cls)
    if isinstance(ret, (tuple, list)):
        items = [convert(r, cls) for r in ret]
        ret = type(ret)(*items) if hasattr(ret, "_fields") else type(ret)(items)
    return ret


def _internal(module: str) -> builtins.bool:
    return module == "backprop" or module.startswith("backprop.")


def tensor_like_seen(values: Any) -> builtins.bool:
    """True (after activating the protocol) when some value, or an item of a list/tuple value, is a non-Tensor
    with ``__torch_function__``: the error path of the out= wrappers then dispatches the call again."""
    if tf_active[0]:
        return False
    for v in values:
        for item in v if isinstance(v, (list, tuple)) else (v,):
            if not isinstance(item, Tensor) and overloads(type(item)):
                tf_activate[0]()
                return True
    return False


def _float8_ready(a: Any, dtype: Any) -> Any:
    """``a`` converted to ``dtype`` as torch converts when either is a float8 dtype (saturating, see
    ``dtypes.float8_cast``), else ``a`` itself (NumPy's assignment casts it)."""
    if a.dtype != dtype and (dtypes.is_float8(dtype) or dtypes.is_float8(a.dtype)):
        return dtypes.float8_cast(a, dtype)
    return a


class Tensor(
    MathMethods, ReductionMethods, ShapeMethods, IndexingMethods, LinalgMethods, AttributeMethods, RandomMethods
):
    """An n-dimensional array on a device, with reverse-mode autodiff (torch's ``Tensor``)."""

    __slots__ = (
        "_data", "device", "_grad", "grad_fn", "_requires_grad", "_vc", "_vbase", "_hooks", "__weakref__",
    )  # fmt: skip
    __array_priority__ = 1000  # numpy array (op) tensor -> Tensor's reflected op wins
    _plain: builtins.type  # the class op results get (Tensor, also for Parameter inputs); set below

    _data: Any  # the array (numpy.ndarray or cupy.ndarray); ``.data`` is torch's detached Tensor view
    device: Device
    _grad: Tensor | None  # behind the ``grad`` property
    grad_fn: Node | None  # the Node that produced it; None for leaves
    _requires_grad: builtins.bool
    _vc: builtins.int  # the version counter, bumped by every in-place change (saved-tensor checks)
    # a view's base (whose version counter it shares; also a detach()'s), the tensor itself once it has views,
    # else None; ``_base`` below is torch's reading of it
    _vbase: Tensor | None
    _hooks: list[Any] | None  # gradient hooks of a leaf

    # ------------------------------------------------------------ __torch_function__ (torch's protocol)
    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass defined outside backprop turns torch's ``__torch_function__`` dispatch on (once, for the
        program: ``backprop.overrides``); backprop's own (Parameter, Buffer, sparse) opt out of it, as Parameter."""
        super().__init_subclass__(**kwargs)
        if _internal(cls.__module__):
            if "__torch_function__" not in cls.__dict__:
                cls.__torch_function__ = disabled_torch_function_impl  # type: ignore[method-assign]
        elif not tf_active[0] and tf_activate:
            tf_activate[0]()

    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        """torch's default: run ``func`` with subclass dispatch off, then give its Tensor results this class."""
        if kwargs is None:
            kwargs = {}
        if not all(issubclass(cls, t) for t in types) or _torchs_own(func):
            return NotImplemented  # (PyTorch's own function given a backprop tensor: its TypeError, no recursion)
        with DisableTorchFunctionSubclass():
            ret = func(*args, **kwargs)
            if func in _NOWRAP:
                return ret
            return convert(ret, cls)

    def __init__(self, *args: Any, dtype: Any = None, device: Any = None, requires_grad: builtins.bool = False) -> None:
        """torch's ``Tensor(...)`` constructor: ``Tensor(2, 3)`` (or a ``bp.Size``) is a zero-filled
        tensor of that shape in the default dtype (torch leaves it uninitialised), ``Tensor()`` an empty
        one, ``Tensor(data)`` Python sequences or a NumPy array in the default float dtype (torch's
        ``Tensor(obs)`` of a float64 observation is float32; an array already of that dtype is shared, as
        ``from_numpy``); ``Tensor(t)`` of a tensor is torch's alias of it (same memory, version counter and
        dtype, ``AliasBackward0`` in the graph); a lone number is torch's TypeError. ``bp.tensor`` infers
        dtypes."""
        if args and all(a.__class__ is builtins.int for a in args) or (len(args) == 1 and isinstance(args[0], Size)):
            sizes = tuple(args[0]) if isinstance(args[0], Size) else args
            data = np.zeros(sizes, dtypes.to_dtype(dtype) or dtypes.get_default_dtype())
        elif not args:
            data = np.zeros(0, dtypes.to_dtype(dtype) or dtypes.get_default_dtype())
        elif len(args) == 1:
            data = args[0]
            if isinstance(data, Tensor) and data.layout is strided:  # (a sparse one is converted)
                self._alias_of(data, dtype, device, requires_grad)
                return
            if isinstance(data, np.integer):  # (torch reads it as a size, as a Python int)
                data = np.zeros(int(data), dtypes.to_dtype(dtype) or dtypes.get_default_dtype())
            elif isinstance(data, (*_SCALARS, np.generic)):
                cls = type(data)
                name = cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
                raise TypeError(f"new(): data must be a sequence (got {name})")
            if dtype is None and isinstance(data, (list, tuple, range, np.ndarray)):
                dtype = dtypes.get_default_dtype()  # (a bare Python int is a shape, above)
                if isinstance(data, np.ndarray):
                    numpy_checks(data, shares=True)  # (torch reads it as ``from_numpy`` does, then converts)
                    dev = to_device_obj(device)
                    if data.dtype == dtype and dev.type == "cpu":
                        if dtype is dtypes.float16 or dtype.kind == "V":
                            dtypes.note_dtype(dtype)  # (as from_numpy: the kernels gain the half dtypes' paths)
                        self._adopt(data.view(np.ndarray), dev, None)
                        return
        else:
            raise TypeError(
                f"Tensor(): expected sizes (ints) or one data argument, got {len(args)} arguments of types "
                f"({', '.join(type(a).__name__ for a in args)}); use bp.tensor(data, dtype=...)"
            )
        self._init(data, dtype, device, requires_grad)

    def _alias_of(self, other: Tensor, dtype: Any, device: Any, requires_grad: builtins.bool) -> None:
        """torch's legacy ``Tensor(other)``: this tensor becomes ``other[...]``, a view sharing its memory and
        version counter, in the graph through ``AliasBackward0``; ``dtype=`` and ``requires_grad=`` are torch's
        TypeError (no such overload), ``device=`` its RuntimeError."""
        given = [name for name, v in (("requires_grad", requires_grad), ("dtype", dtype)) if v]
        if given or device is not None:
            if given:
                kinds = {"requires_grad": "bool", "dtype": "torch.dtype", "device": type(device).__name__}
                names = given if device is None else [*given, "device"]
                raise TypeError(legacy_new_mismatch(["Tensor", *(f"{n}={kinds[n]}" for n in names)], names))
            raise RuntimeError(
                "Legacy tensor constructor of the form torch.Tensor(tensor, device=device) is not supported.  "
                "Use torch.tensor(...) or torch.as_tensor(...) instead."
            )
        alias = other[...]
        for slot in ("_data", "device", "_grad", "grad_fn", "_requires_grad", "_vc", "_vbase", "_hooks"):
            setattr(self, slot, getattr(alias, slot))

    def _init(self, data: Any, dtype: Any, device: Any, requires_grad: builtins.bool) -> None:
        dev = to_device_obj(device)
        self._adopt(dev.asarray(data, dtypes.to_dtype(dtype)), dev, None)
        if requires_grad:
            self._factory_requires_grad()

    @classmethod
    def _of(cls, data: Any, dtype: Any = None, device: Any = None, requires_grad: builtins.bool = False) -> Tensor:
        """A tensor of ``data`` with its dtype inferred as ``bp.tensor`` does (the library's own constructor)."""
        t = _new(cls)
        t._init(data, dtype, device, requires_grad)
        return t

    def _adopt(self, data: Any, device: Device, grad_fn: Node | None) -> None:
        """Set every slot: ``data`` on ``device`` (no copy), produced by ``grad_fn`` (or a leaf)."""
        self._data = data
        self.device = device
        self._grad = None
        self.grad_fn = grad_fn
        self._requires_grad = grad_fn is not None
        self._vc = 0
        self._vbase = None
        self._hooks = None

    @property
    def _version(self) -> builtins.int:
        """torch's version counter: the number of in-place changes, shared by a view and its base."""
        b = self._vbase
        return self._vc if b is None else b._vc

    @_version.setter
    def _version(self, value: builtins.int) -> None:
        b = self._vbase
        (self if b is None else b)._vc = value

    @property
    def _base(self) -> Tensor | None:
        """torch's ``t._base``: the tensor a view was taken from (the first non-view one), else None. A
        ``detach()`` shares its source's counter but is no view (None), except a detached view: it names the
        view's base (torch: None), as backprop does not record which of the two made it."""
        b = self._vbase
        return None if b is None or b is self or b._data is self._data else b

    def _is_view(self) -> builtins.bool:
        """torch's ``t._is_view()``: whether ``t._base`` is a tensor."""
        return self._base is not None

    @staticmethod
    def _wrap(data: Any, device: Device, grad_fn: Node | None) -> Tensor:
        """A Tensor around ``data`` without copying or checks (``apply`` inlines the same)."""
        t = _new(Tensor)
        t._adopt(data, device, grad_fn)
        return t

    def _other(self, other: Any) -> Any:
        """The other operand of a binary op: Tensors and Python scalars as they are, else a Tensor."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.generic):  # before _SCALARS: np.float64 is a float, but it has a dtype
            # NumPy scalars behave like Python scalars, as in torch, whose argument parser reads a NumPy bool
            # as a double: ``int_t * np.bool_(True)`` is float32 (``a.any()`` as a factor)
            return float(other) if other.__class__ is np.bool_ else other.item()
        if isinstance(other, _SCALARS):
            return other
        refuse_pytorch_tensor(other)
        return Tensor._of(other, device=self.device)

    # ------------------------------------------------------------ attributes
    @property
    def data(self) -> Tensor:
        """torch's ``.data``: a tensor sharing this memory, cut from the graph and with its own version
        counter, so changes through it are invisible to autograd (``p.data.mul_(0.5)``, ``w.data.uniform_()``).
        ``.detach()`` is the safe form: it shares the version counter, and autograd catches misuse."""
        return Tensor._wrap(self._data, self.device, None)

    @data.setter
    def data(self, value: Tensor) -> None:
        """Point this tensor at another tensor's memory (shape and dtype may change), as torch's
        ``t.data = other``; ``requires_grad``, ``.grad`` and the graph stay as they are."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if value.device != self.device:
            raise RuntimeError(f"data: a tensor on {self.device} cannot take data on {value.device}")
        if self._requires_grad and dtypes.kind(value._data.dtype) not in "fc":
            raise RuntimeError("data set to a tensor that requires gradients must be floating point or complex dtype")
        self._data = value._data  # (no version bump: the escape hatch autograd does not see, as torch's)
        if trace_users[0] and (tr := trace.tracer()) is not None:
            tr.fail("t.data = ... inside the step (the record would keep the old memory)")

    @property
    def requires_grad(self) -> builtins.bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        if self.grad_fn is not None and not value:
            raise RuntimeError(_NON_LEAF_FLAG)
        if value and dtypes.kind(self._data.dtype) not in "fc":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns self."""
        if requires_grad and dtypes.kind(self._data.dtype) not in "fc":  # (torch's text differs from the setter's)
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    def _factory_requires_grad(self) -> Tensor:
        """``requires_grad=True`` given to a factory (``bp.tensor``, ``bp.ones``, ...): torch's text when refused."""
        if dtypes.kind(self._data.dtype) not in "fc":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = True
        return self

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (a leaf's, or a tensor's after ``retain_grad()``), or None. Reading it on
        a non-leaf that does not retain its gradient warns, as torch (leaves pay one comparison)."""
        g = self._grad
        if g is None and self.grad_fn is not None and not hooks.retains_grad(self):
            warnings.warn(_NON_LEAF_GRAD, UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}"
                )
            want = hooks.grad_dtypes.get(id(self), self._data.dtype) if hooks.grad_dtypes else self._data.dtype
            if (
                value._data.shape != self._data.shape
                or (want is not None and value._data.dtype != want)
                or value.device != self.device
            ):
                _grad_mismatch(self, value, want)
        self._grad = value
        if trace_users[0] and (tr := trace.tracer()) is not None:  # bp.compile: replayed as a line
            tr.call(trace.set_grad, [tr.tensor(self), "None" if value is None else tr.out_expr(value)], None)

    @grad.deleter
    def grad(self) -> None:
        self.grad = None

    @property
    def grad_dtype(self) -> np.dtype | None:
        """The dtype a leaf's gradient is kept in (torch 2.9): the tensor's own dtype unless set; None lets
        ``.grad`` hold any dtype. Backward casts each gradient to it before accumulating."""
        if self.grad_fn is not None:
            raise RuntimeError("grad_dtype can only be accessed on leaf tensors.")
        return hooks.grad_dtypes.get(id(self), self._data.dtype)

    @grad_dtype.setter
    def grad_dtype(self, value: Any) -> None:
        if self.grad_fn is not None:
            raise RuntimeError("grad_dtype can only be set on leaf tensors.")
        if value is not None and not isinstance(value, np.dtype):
            raise RuntimeError(f"grad_dtype must be a torch.dtype or None, but got {type(value).__name__}")
        hooks.set_grad_dtype(self, value)

    @property
    def is_leaf(self) -> builtins.bool:
        return self.grad_fn is None

    @property
    def shape(self) -> Size:
        return Size.of(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape (a ``bp.Size``), or one dimension of it (a dim out of range: torch's IndexError)."""
        if dim is None:
            return Size.of(self._data.shape)
        if self._data.ndim == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return self._data.shape[wrap_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> builtins.int:
        return self._data.ndim

    def dim(self) -> builtins.int:
        return self._data.ndim

    def numel(self) -> builtins.int:
        return int(self._data.size)

    def __len__(self) -> builtins.int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    # ------------------------------------------------------------ conversion
    def numpy(self, *, force: builtins.bool = False) -> np.ndarray:
        """The data as a NumPy array (shared on the CPU, copied from a device). As torch, a tensor that
        requires grad refuses while grad mode is on (the array would silently leave the graph):
        ``.detach().numpy()``; under ``no_grad`` (a custom Function's forward) it is allowed, as torch."""
        if self._requires_grad and not force and _grad_state.enabled:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.device.type == "meta":
            raise TypeError(
                "can't convert meta device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory "
                "first."
            )
        return self._host()

    def _host(self) -> np.ndarray:
        """The data on the host, whatever ``requires_grad`` says (reprs, ``item``, pickling)."""
        if self._vbase is not None and is_stale_view(self):
            stale_view_error("reading a tensor", self)
        if trace_users[0]:
            trace.host_read("item()/tolist()/numpy()/repr()")
        if self.device.type == "cpu":
            return self._data
        return self.device.backend.to_host(self._data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """NumPy's view of a CPU tensor (its memory; a copy with ``copy=True``, as NumPy 2 asks)."""
        a = self.numpy()  # refuses a tensor that requires grad, as torch's np.asarray(t)
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)  # (a new array already)
        return a.copy() if copy else a

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: builtins.bool = False) -> Any:
        """NumPy functions that compute on ``np.asarray(t)`` and wrap the result for its input (``np.round(t)``,
        ``np.clip``, ``np.cumsum``, ``np.transpose``, ``np.argmax``) return a tensor, as torch's."""
        if return_scalar:
            return array[()]
        return Tensor._wrap(array, Device("cpu", 0), None)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:  # (torch's RuntimeError and text; a ValueError too, as it used to be)
            raise ShapeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        if self.device.type == "meta":
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        return self._host().item()

    def tolist(self) -> Any:
        return self._host().tolist()

    def __float__(self) -> builtins.float:
        _warn_scalar_requires_grad(self)
        return float(self._real_item("double"))

    def __int__(self) -> builtins.int:
        return int(self._real_item("int64_t"))

    def _real_item(self, ctype: str) -> Any:
        """The value for ``float(t)``/``int(t)``: a complex one only when its imaginary part is 0, as torch's."""
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        value = self.item()
        if isinstance(value, builtins.complex):
            if value.imag != 0:
                raise RuntimeError(f"value cannot be converted to type {ctype} without overflow")
            return value.real
        return value

    def __complex__(self) -> builtins.complex:
        _warn_scalar_requires_grad(self)
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return complex(self.item())

    def __contains__(self, element: Any) -> builtins.bool:
        """``element in t``: whether any element equals it (torch's rule: tensors and numbers only)."""
        if not isinstance(element, (Tensor, builtins.int, builtins.float, builtins.complex, np.generic)):
            raise RuntimeError(
                f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}."
            )
        return builtins.bool((self == element).any().item())

    def __reversed__(self) -> Tensor:
        """``reversed(t)``: ``t`` flipped along dim 0 (a 0-d tensor as it is), as torch."""
        return self if self._data.ndim == 0 else self.flip(0)

    def __bool__(self) -> builtins.bool:
        if self._data.size != 1:
            which = "no values" if self._data.size == 0 else "more than one value"
            raise ShapeError(f"Boolean value of Tensor with {which} is ambiguous")
        return bool(self.item())

    def __index__(self) -> builtins.int:
        if self.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def detach(self) -> Tensor:
        """A tensor sharing this data (and version counter, as torch's), cut from the graph."""
        try:
            out = Tensor._wrap(self._data, self.device, None)
            base = self if self._vbase is None else self._vbase
            base._vbase = base
            out._vbase = base
            return out
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def detach_(self) -> Tensor:
        try:
            if self._vbase is not None and self._vbase is not self and self.grad_fn is not None:
                raise RuntimeError(_DETACH_VIEW)
            self.grad_fn = None
            self._requires_grad = False
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def clone(self, *, memory_format: Any = None) -> Tensor:
        """A differentiable copy (in C order, whatever ``memory_format`` says)."""
        if memory_format is not None:
            check_memory_format(self.ndim, memory_format)
        return apply(conv.clone, self)

    def to(
        self,
        *args: Any,
        device: Any = None,
        dtype: Any = None,
        non_blocking: builtins.bool = False,
        copy: builtins.bool = False,
        memory_format: Any = None,
        tensor: Any = None,
    ) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)`` (its device and dtype), then
        optionally ``non_blocking, copy``; differentiable, no-op when equal unless ``copy=True``.
        ``non_blocking`` changes nothing here; ``memory_format`` is accepted (tensors stay in C order)."""
        dev = device
        if memory_format is not None:
            check_memory_format(self.ndim, memory_format)
        if tensor is not None:
            args = (tensor, *args)
        for a in args:
            if not isinstance(a, _TO_SPECIAL):
                dtype = a
            elif a.__class__ is str or isinstance(a, (str, Device)):
                dev = a
            elif isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            else:  # positional bools: non_blocking, then copy (only copy changes anything)
                flags = [f for f in args if f is True or f is False]
                copy = flags[1] if len(flags) > 1 else copy
        out = self
        if dev is not None:
            dev = to_device_obj(dev)
            if dev is not self.device:
                out = apply(conv.to_device, out, device=dev, source=self.device)
        if dtype is not None:
            dtype = dtypes.to_dtype(dtype)
            if dtype != out.dtype:
                out = apply(conv.astype, out, dtype=dtype)
        if copy and out is self:
            out = name_node(apply(conv.clone, self), "ToCopyBackward0")
        return out

    def cpu(self, memory_format: Any = None) -> Tensor:
        return self.to("cpu", memory_format=memory_format)

    def cuda(
        self, device: Any = None, non_blocking: builtins.bool = False, memory_format: Any = None, *, index: Any = None
    ) -> Tensor:
        """A copy on the CUDA device ``device`` (an index, a string or a device; the current one by default);
        ``index=`` is this library's older name for it."""
        if device is None:
            device = 0 if index is None else index
        if isinstance(device, builtins.int):
            device = f"cuda:{device}"
        return self.to(device, memory_format=memory_format)

    def float(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.float32, memory_format=memory_format)

    def double(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.float64, memory_format=memory_format)

    def half(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.float16, memory_format=memory_format)

    def long(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.int64, memory_format=memory_format)

    def int(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.int32, memory_format=memory_format)

    def bool(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.bool_, memory_format=memory_format)

    def type_as(self, other: Tensor) -> Tensor:
        try:
            return self.to(other.dtype)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def type(self, dtype: Any = None, non_blocking: builtins.bool = False, **kwargs: Any) -> Any:
        """With a dtype: ``to(dtype)``; without: torch's type string (``"torch.FloatTensor"``). ``non_blocking``
        changes nothing here; torch's deprecated ``async=`` is taken as it."""
        if kwargs.keys() - {"async"}:
            raise TypeError(f"type() got an unexpected keyword argument {next(iter(kwargs.keys() - {'async'}))!r}")
        if dtype is None:
            name = _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
            layout = repr(self.layout)
            if layout not in ("strided", "sparse_coo"):  # (torch names no type for compressed layouts)
                raise RuntimeError(f"Unimplemented backend SparseCsr{self.device.type.upper()}")
            sparse = "sparse." if layout == "sparse_coo" else ""
            return f"torch.{'cuda.' if self.device.type == 'cuda' else ''}{sparse}{name}"
        if isinstance(dtype, str) and dtype.startswith("torch."):  # t.type("torch.cuda.LongTensor")
            cuda, _, name = dtype[len("torch.") :].rpartition(".")
            by_name = {v: k for k, v in _TYPE_NAMES.items()}
            if name not in by_name or cuda not in ("", "cuda"):
                raise ValueError(f"invalid type: {dtype!r}")
            return self.to(device="cuda" if cuda else "cpu", dtype=dtypes.to_dtype(by_name[name]))
        if isinstance(dtype, str):  # (a dtype's name is not a type to torch: t.type("float32"))
            raise ValueError(f"invalid type: {dtype!r}")
        if hasattr(dtype, "is_cuda") and isinstance(getattr(dtype, "dtype", None), np.dtype):  # bp.FloatTensor
            return self.to(device="cuda" if dtype.is_cuda else "cpu", dtype=dtype.dtype)
        if dtype is Tensor:  # torch.Tensor is the default tensor type: ``from_numpy(a).type(torch.Tensor)``
            return self.to(dtypes.get_default_dtype())
        if isinstance(dtype, builtins.type):  # int, np.float32, Parameter: torch names the type as CPython does
            static = not dtype.__flags__ & 512 and dtype.__module__ != "builtins"  # (512: Py_TPFLAGS_HEAPTYPE)
            raise ValueError(f"invalid type: '{dtype.__module__ + '.' if static else ''}{dtype.__name__}'")
        return self.to(dtype)

    def new_tensor(
        self,
        data: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """A new tensor from ``data``, by default with this tensor's dtype and device."""
        _check_layout("new_tensor", layout)
        return Tensor._of(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """A tensor of ``size`` filled with ``fill_value``, by default with this dtype and device
        (``pin_memory`` changes nothing: host memory is not page-locked here)."""
        _check_layout("new_full", layout)
        dev = to_device_obj(device or self.device)
        dt = dtypes.to_dtype(dtype) or self.dtype
        shape = size_arg((size,) if isinstance(size, int) else tuple(size))
        if any(n < 0 for n in shape):  # (torch's RuntimeError, not NumPy's ValueError)
            raise ShapeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
        out = Tensor._wrap(dev.xp.full(shape, dtypes.fill_value(fill_value, dt), dt), dev, None)
        return out.requires_grad_() if requires_grad else out

    def new_zeros(
        self,
        *sizes: Any,
        size: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """Zeros of ``size``, by default with this tensor's dtype and device."""
        return self.new_full(_sizes("new_zeros", sizes, size), 0, dtype, device, requires_grad, layout)

    def new_ones(
        self,
        *sizes: Any,
        size: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """Ones of ``size``, by default with this tensor's dtype and device."""
        return self.new_full(_sizes("new_ones", sizes, size), 1, dtype, device, requires_grad, layout)

    def new_empty(
        self,
        *sizes: Any,
        size: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """An uninitialised tensor of ``size`` (zeros here), by default with this dtype and device."""
        return self.new_full(_sizes("new_empty", sizes, size), 0, dtype, device, requires_grad, layout)

    def new_empty_strided(
        self,
        size: Any,
        stride: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: builtins.bool = False,
        layout: Any = None,
        pin_memory: builtins.bool = False,
    ) -> Tensor:
        """``empty_strided`` (zeros here) with this tensor's dtype and device by default."""
        _check_layout("new_empty_strided", layout)
        dev = to_device_obj(device or self.device)
        data = linalg.strided_zeros(
            dev.xp, size_arg((size,)), size_arg((stride,)), dtypes.to_dtype(dtype) or self.dtype
        )
        return Tensor._wrap(data, dev, None).requires_grad_(requires_grad)

    def new(self, *args: Any, device: Any = None, size: Any = None) -> Tensor:
        """The legacy constructor: ``new(*sizes)`` / ``new(Size)`` an uninitialised (zeros here) tensor, ``new(data)``
        a tensor from a list or tuple of numbers, ``new(tensor)`` that tensor itself; this dtype and device."""
        if size is not None:
            return self.new_empty(_sizes("new", args, size), device=device)
        if not args:
            return self.new_empty(0, device=device)
        if len(args) == 1 and isinstance(args[0], Tensor):
            return args[0]
        if len(args) == 1 and not isinstance(args[0], (builtins.int, Size)) and hasattr(args[0], "__len__"):
            return self.new_tensor(args[0], device=device)
        return self.new_empty(*args, device=device)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self._data.__dlpack_device__()

    # ------------------------------------------------------------ autograd
    def backward(
        self,
        gradient: Any = None,
        retain_graph: builtins.bool | None = None,
        create_graph: builtins.bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (torch semantics)."""
        autograd_backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs=inputs)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> hooks.HookHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        return hooks.register_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` of a non-leaf tensor after backward (as torch)."""
        hooks.retain_grad(self)

    # ------------------------------------------------------------ operators
    __add__, __radd__ = _binary(ew.add)
    __sub__, __rsub__ = _binary(ew.sub)
    __mul__, __rmul__ = _binary(ew.mul)
    __truediv__, __rtruediv__ = _binary(ew.div, to_float=True)
    __div__, __rdiv__ = __truediv__, __rtruediv__  # (torch keeps Python 2's names)
    __pow__, __rpow__ = _binary(ew.pow, wrap=False)
    __mod__, __rmod__ = _binary(mt.remainder)
    __floordiv__, __rfloordiv__ = _binary(mt.floor_divide)
    __and__, __rand__ = _binary(ew.bitwise_and)
    __or__, __ror__ = _binary(ew.bitwise_or)
    __xor__, __rxor__ = _binary(ew.bitwise_xor)
    __lshift__, __rlshift__ = _binary(mt.bitwise_left_shift)
    __rshift__, __rrshift__ = _binary(mt.bitwise_right_shift)
    __lt__ = _compare(ew.lt)
    __le__ = _compare(ew.le)
    __gt__ = _compare(ew.gt)
    __ge__ = _compare(ew.ge)
    __eq__ = _compare(ew.eq, equality=True)  # type: ignore[assignment]
    __ne__ = _compare(ew.ne, equality=True)  # type: ignore[assignment]

    def __hash__(self) -> builtins.int:
        return id(self)  # (torch's: hash(t) == id(t))

    # comparisons and logic by name (``x.lt(y)``, ``x.logical_and(y)``), as torch
    def lt(self, other: Any) -> Tensor:
        return compared(ew.lt, self, other)

    def le(self, other: Any) -> Tensor:
        return compared(ew.le, self, other)

    def gt(self, other: Any) -> Tensor:
        return compared(ew.gt, self, other)

    def ge(self, other: Any) -> Tensor:
        return compared(ew.ge, self, other)

    def eq(self, other: Any) -> Tensor:
        return compared(ew.eq, self, other)

    def ne(self, other: Any) -> Tensor:
        return compared(ew.ne, self, other)

    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def equal(self, other: Tensor) -> builtins.bool:
        """True when ``other`` has this shape and these values (torch.equal)."""
        try:
            if self.device.type == "meta":
                raise NotImplementedError(
                    "equal: attempted to run this operator with Meta tensors, which have no values"
                )
            return tuple(self.shape) == tuple(other.shape) and builtins.bool(apply(ew.eq, self, other)._data.all())
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def logical_and(self, other: Any) -> Tensor:
        return apply(ew.logical_and, self, self._other(other))

    def logical_or(self, other: Any) -> Tensor:
        return apply(ew.logical_or, self, self._other(other))

    def logical_xor(self, other: Any) -> Tensor:
        return apply(ew.logical_xor, self, self._other(other))

    def logical_not(self) -> Tensor:
        return apply(ew.logical_not, self)

    def bitwise_and(self, other: Any) -> Tensor:
        return self & other

    def bitwise_or(self, other: Any) -> Tensor:
        return self | other

    def bitwise_xor(self, other: Any) -> Tensor:
        return self ^ other

    def bitwise_not(self) -> Tensor:
        return apply(ew.bitwise_not, self)

    # NumPy ufuncs called on Tensors run the matching op (``np.exp(x)`` records a graph like ``x.exp()``)
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        name = _UFUNC_METHODS.get(ufunc.__name__)
        if method == "__call__" and name is not None and all(v is None for v in kwargs.values()):
            first = next(x for x in inputs if isinstance(x, Tensor))
            args = [x if isinstance(x, Tensor) else first._other(x) for x in inputs]  # arrays become Tensors
            if not isinstance(args[0], Tensor):  # a Python scalar first (``2.0 * x``): the reflected operator
                if name in _REFLECTED:
                    return getattr(first, _REFLECTED[name])(args[0])
                args[0] = Tensor._of(args[0], device=first.device)  # 0-d: promotes as the scalar would
            return getattr(args[0], name)(*args[1:])
        if any(isinstance(x, Tensor) for x in kwargs.get("out") or ()):  # NumPy would call us again, endlessly
            raise TypeError("return arrays must be of ArrayType")
        if any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
            call = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise TypeError(
                f"{call} has no backprop op (with these arguments) and would drop the gradient of a tensor that "
                "requires grad: use the backprop function, or call .detach().numpy() first"
            )
        arrays = [x.numpy() if isinstance(x, Tensor) else x for x in inputs]
        return getattr(ufunc, method)(*arrays, **kwargs)

    def __matmul__(self, other: Any) -> Tensor:  # no promotion: torch requires equal dtypes here
        return apply(linalg.matmul, self, self._other(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return apply(linalg.matmul, self._other(other), self)

    def __neg__(self) -> Tensor:
        try:
            return apply(ew.neg, self)
        except TypeError:
            refuse_bool_neg(self)  # torch's RuntimeError for a bool tensor
            raise

    def __pos__(self) -> Tensor:
        refuse_bool_pos(self)
        return self

    def __abs__(self) -> Tensor:
        return apply(ew.abs, self)

    def __invert__(self) -> Tensor:
        if dtypes.kind(self._data.dtype) in "fc":  # (torch's operator refuses before its kernel would)
            raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
        return apply(ew.bitwise_not, self)

    # ------------------------------------------------------------ in place (no op: plain writes)
    def zero_(self) -> Tensor:
        try:
            self.fill_(0)
            if self.grad_fn is not None and self.grad_fn.name() == "FillBackward2":
                name_node(self, "ZeroBackward0")  # (torch's node for zero_)
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def fill_(self, value: Any) -> Tensor:
        try:
            if check_inplace("fill_", self, value):  # in a recorded graph: torch's gradient (0 to the old values)
                v = value if not isinstance(value, Tensor) else value.to(self.dtype).reshape(())
                write_recorded("fill_", self, v, (Ellipsis,))
                if self._vbase is None or self._vbase is self:  # (torch's node for a whole tensor; a view's base
                    name_node(self, "FillBackward3" if isinstance(value, Tensor) else "FillBackward2")  # CopySlices)
                return self
            if isinstance(value, Tensor):
                if value._data.size != 1:
                    raise RuntimeError(
                        f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions."
                    )
                value = value.item()
            value = dtypes.fill_value(value, self._data.dtype)
            if self.device.type != "meta":  # (a meta tensor has no values to write)
                try:
                    self._data[...] = value
                except ValueError as exc:  # an expanded tensor (torch writes into it; we refuse, with torch's words)
                    raise overlap_error(self, exc) from None
            if trace_users[0] and (tr := trace.tracer()) is not None:
                tr.call(trace.write, [tr.ref(self._data, self), tr.ref(value)], None)
            bump_version(self)
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def copy_(self, other: Any = None, non_blocking: builtins.bool = False, *, src: Any = None) -> Tensor:
        """Copy ``other`` into this tensor's memory (broadcasting; across devices; ``non_blocking`` changes
        nothing). torch's docs call it ``src`` (torch takes only ``other=``); both work here."""
        src = other if src is None else src
        if check_inplace("copy_", self, src):  # in a recorded graph: the gradient goes to src (broadcast back)
            value = src if isinstance(src, Tensor) else self.new_tensor(src)
            value = value.to(self.device).to(self.dtype).expand(*self.shape)
            write_recorded("copy_", self, value, (Ellipsis,))
            if self._vbase is None or self._vbase is self:  # (torch's node for a whole tensor)
                name_node(self, "torch::autograd::CopyBackwards")
            return self
        try:
            if isinstance(src, Tensor):
                if src.device is not self.device:
                    data = self.device.transfer(src._data, src.device)  # (out of meta: torch's NotImplementedError)
                    if self.device.type != "meta":
                        self._data[...] = data
                elif self.device.type != "meta":
                    self._data[...] = _float8_ready(src._data, self._data.dtype)
            elif self.device.type != "meta":
                self._data[...] = _float8_ready(self.device.asarray(src), self._data.dtype)
        except ValueError as exc:  # into an expanded tensor, or from a shape that does not fit: torch's errors
            if overlap_error(self, exc) is not exc or "could not broadcast" not in str(exc):
                raise overlap_error(self, exc) from None
            shape = broadcast_shape(tuple(self.shape), tuple(np.shape(src)))  # (raises torch's size mismatch)
            raise ShapeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(shape)}"
            ) from None
        if trace_users[0] and (tr := trace.tracer()) is not None:
            if not isinstance(src, Tensor) or src.device is not self.device:
                tr.fail("copy_() from host data or another device inside the step")
            tr.call(trace.write, [tr.ref(self._data, self), tr.ref(src._data, src)], None)
        bump_version(self)
        return self

    # ------------------------------------------------------------ copies and pickles (torch's semantics)
    # what a deep copy takes besides data and ``requires_grad``: ``.grad``, Python attributes and a
    # subclass's slots (torch's Tensor.__deepcopy__); a Parameter's copy takes none and clones its elements
    # (torch's Parameter)
    _deepcopy_takes_state: builtins.bool = True

    def __deepcopy__(self, memo: dict) -> Tensor:
        """A leaf's deep copy: new memory (shared with the copies of tensors sharing this one's memory in the same
        ``deepcopy`` call, as torch's storages), same ``requires_grad``, its ``.grad``, Python attributes and a
        subclass's slots copied too (as torch; a ``Parameter``'s copy takes none of them, as torch's)."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the "
                "moment.  If you were attempting to deepcopy a module, this may be because of a "
                "torch.nn.utils.weight_norm usage, see https://github.com/pytorch/pytorch/pull/103001"
            )
        new = object.__new__(type(self))
        memo[id(self)] = new
        dev = self.device
        with dev.backend.use_device(dev.index):  # (the copy lives on this tensor's device, whichever is current)
            meta = dev.type == "meta"
            if meta:
                data = placeholder(self._data.shape, self.dtype)
            elif self._deepcopy_takes_state:
                data = deepcopy_array(self._data, dev.xp, memo)
            else:  # a Parameter's is a clone of its elements, as torch's Parameter.__deepcopy__
                data = dev.xp.array(self._data, copy=True)
            new._adopt(data, dev, None)
        new._requires_grad = self._requires_grad
        if not self._deepcopy_takes_state:
            return new
        if self._grad is not None:
            new._grad = copy.deepcopy(self._grad, memo)
        if state := self._python_state():
            _set_python_state(new, copy.deepcopy(state, memo))
        return new

    def __copy__(self) -> Tensor:
        """``copy.copy(t)``, as torch's: a new leaf sharing ``t``'s memory (a write through either is seen
        by the other), with ``t``'s ``requires_grad`` and Python attributes but no ``.grad`` or graph."""
        new = object.__new__(type(self))
        new._adopt(self._data, self.device, None)
        new._requires_grad = self._requires_grad
        if state := self._python_state():
            _set_python_state(new, state)
        return new

    def _python_state(self) -> dict[str, Any]:
        """The attributes set on this tensor from Python (``t.foo = 1``, ``Buffer.persistent``), which
        copies and pickles keep, as torch's."""
        state = dict(getattr(self, "__dict__", ()))
        for klass in type(self).__mro__:
            if klass is Tensor:
                break
            for name in klass.__dict__.get("__slots__", ()):  # (its own: a class without inherits Tensor's)
                if hasattr(self, name):
                    state[name] = getattr(self, name)
        return state

    def __reduce_ex__(self, protocol: Any) -> tuple:
        """Pickled as host data, dtype, device and ``requires_grad`` (not ``.grad``, not the graph: a
        non-leaf unpickles as a leaf, as in torch), and its Python attributes if it has any; it restores
        on its device, or on the CPU with a warning where that device is unusable."""
        args: tuple[Any, ...]
        rebuild: Any
        if self.device.type == "meta":  # a shape and a dtype, no values to write
            args = (type(self), tuple(self._data.shape), self.dtype, self._requires_grad)
            rebuild = _rebuild_meta
        else:
            args = (type(self), np.array(self._host()), str(self.device), self._requires_grad)
            rebuild = _rebuild_tensor
        if state := self._python_state():
            return (rebuild, (*args, state))
        return (rebuild, args)

    # ------------------------------------------------------------ repr
    def __format__(self, spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.3f}"``); others only with an empty spec, as torch."""
        if self._data.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return repr(self)

    def __repr__(self) -> str:
        if self.device.type == "meta":
            return self._meta_repr()
        host = self._host()
        if dtypes.is_ml_float(host.dtype):  # NumPy prints it as an unknown type: print its float32 values
            host = host.astype(np.float32)
        kind = type(self)  # a user subclass prints its name where torch's does (``MyT([1., 2.])``)
        prefix = "tensor(" if kind is Tensor or _internal(kind.__module__) else kind.__name__ + "("
        if host.ndim and host.size and host.dtype.kind in "biufc":  # torch's line layout
            body = _torch_layout(host, len(prefix), runtime.print_linewidth())
        elif host.ndim == 0 and host.dtype.kind in "biufc":  # one element laid out as torch's, without brackets
            body = _torch_layout(host.reshape(1), len(prefix), runtime.print_linewidth())[1:-1]  # (3000., not 3.e+03)
        else:
            body = np.array2string(host, separator=", ", prefix=prefix, **runtime.array_repr_options(host))
        extra = []
        if self.device.type != "cpu":  # (first, as torch's: ``tensor([], device='cuda:0', size=(2, 0))``)
            extra.append(f"device='{self.device}'")
        if self._data.size == 0 and self._data.ndim > 1 or self._data.size and not runtime.print_edgeitems():
            extra.append(f"size={tuple(self.shape)}")  # (edgeitems=0 may hide every element: torch names the size)
        default_complex = dtypes.complex128 if dtypes.get_default_dtype() == dtypes.float64 else dtypes.complex64
        if self._data.size == 0:  # no element to tell an int64 from a float: torch names every non-default dtype
            if self.dtype != dtypes.get_default_dtype():
                extra.append(f"dtype={self.dtype}")
        elif self.dtype not in (dtypes.get_default_dtype(), default_complex, dtypes.int64, dtypes.bool_):
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        return _with_suffixes(prefix + body, extra, len(prefix), runtime.print_linewidth())

    def _meta_repr(self) -> str:
        """torch's repr of a meta tensor: no values, its size, and every dtype but the default float."""
        extra = ["device='meta'", f"size={tuple(self.shape)}"]
        if self.dtype != dtypes.get_default_dtype():
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        return "tensor(..., " + ", ".join(extra) + ")"


Tensor._plain = Tensor
_NOWRAP: set[Any] = set()  # torch's get_default_nowrap_functions (our properties are not dispatched)


_TO_SPECIAL = (str, Device, Tensor, builtins.bool)  # what ``to``'s positional arguments can be besides a dtype


def _check_layout(name: str, layout: Any) -> None:
    """torch's ``layout=`` of a ``new_*`` method: the default (``bp.strided``) only."""
    if layout is not None and getattr(layout, "name", layout) != "strided":
        raise NotImplementedError(f"{name}: layout={layout!r} is not supported: backprop makes strided (dense) tensors")


def _sizes(name: str, sizes: tuple[Any, ...], size: Any) -> tuple[int, ...]:
    """The size of a ``new_*(*sizes)`` method, also given as torch's keyword ``size=``."""
    if size is not None:
        if sizes:
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        sizes = (size,)
    return size_arg(sizes)


def _torch_layout(a: np.ndarray, indent: int, linewidth: int) -> str:
    """The body of a tensor's repr as torch lays it out. Over the print threshold only ``edgeitems`` at
    each end of every dimension are kept (around "..."), and the format (fixed or scientific, decimals)
    is chosen from what is shown (``runtime.array_repr_options``). NumPy formats the elements; each is
    then padded to torch's common width: the widest nonzero finite value of a floating tensor (zeros,
    inf and NaN do not widen it), the widest value otherwise. Rows hold as many elements as fit the
    line after the indent (torch counts an element as its width plus ", "); nested rows indent by one."""
    opts = runtime.array_repr_options(a)
    edge, threshold = opts["edgeitems"], opts["threshold"]
    summarize = a.size > threshold
    if summarize and not edge:  # (edgeitems=0: no element is shown, whatever the rank)
        return "[...]"
    shown = a
    if summarize:
        for axis, n in enumerate(a.shape):
            if n > 2 * edge:
                shown = np.take(shown, list(range(edge)) + list(range(n - edge, n)), axis=axis)
        opts = runtime.array_repr_options(shown)  # (torch formats by the shown values alone)
    fmt = {k: v for k, v in opts.items() if k not in ("threshold", "edgeitems", "max_line_width")}
    values = shown.reshape(-1)
    if values.dtype.kind == "f":  # (torch formats Python floats: doubles; NumPy's float32 switch to
        values = values.astype(np.float64)  # exponents differs from torch's, its digits do not)
    flat = np.array2string(values, separator=", ", threshold=sys.maxsize, max_line_width=sys.maxsize, **fmt)
    cells = flat[1:-1].replace("\n", "").split(", ")
    if shown.dtype.kind != "c":  # (a complex cell comes from torch's formatter, padded as torch's)
        cells = [c.strip() for c in cells]
    if shown.dtype.kind == "f":
        sizing = np.isfinite(shown.reshape(-1)) & (shown.reshape(-1) != 0)
        width = max((len(c) for c, keep in zip(cells, sizing) if keep), default=1)
    elif shown.dtype.kind == "c":  # (the formatter pads the real part; the imaginary one is left unpadded)
        width = runtime.complex_width(shown)
    else:
        width = max(len(c) for c in cells)
    pad = 0 if shown.dtype.kind == "c" else width
    grid = np.array([c.rjust(pad) for c in cells], dtype=object).reshape(shown.shape)

    def cut(n: int) -> bool:  # whether a dimension of length n was summarized (its middle is "...")
        return summarize and n > 2 * edge

    def lay(c: np.ndarray, full: tuple[int, ...], ind: int) -> str:
        if c.ndim == 1:
            items = list(c)
            if cut(full[0]):
                items = items[:edge] + [" ..."] + items[edge:]
            per_line = max(1, (linewidth - ind) // (width + 2))
            lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
            return "[" + (",\n" + " " * (ind + 1)).join(lines) + "]"
        parts = [lay(c[i], full[1:], ind + 1) for i in range(c.shape[0])]
        if cut(full[0]):
            parts = parts[:edge] + ["..."] + parts[edge:]
        return "[" + ("," + "\n" * (c.ndim - 1) + " " * (ind + 1)).join(parts) + "]"

    return lay(grid, a.shape, indent)


def _with_suffixes(text: str, suffixes: list[str], indent: int, linewidth: int) -> str:
    """``text`` with ``, suffix`` appended for each suffix, each on a line of its own (indented) when it
    would run past ``linewidth``, then ``)``: torch's layout (its count of the last line is one more
    than its length, kept so the lines break where torch's do)."""
    last = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        size = len(suffix) + (len("torch.") if suffix.startswith("dtype=") else 0)  # (as torch spells it)
        if last + size + 2 > linewidth:
            text += ",\n" + " " * indent + suffix
            last = indent + size
        else:
            text += ", " + suffix
            last += size + 2
    return text + ")"


def _set_python_state(t: Tensor, state: dict[str, Any]) -> None:
    """Set the attributes ``Tensor._python_state`` gave (slots of subclasses included)."""
    for name, value in state.items():
        setattr(t, name, value)


# ``bp.load``'s ``map_location`` when it is a dict or a function, while a load runs (set by serialization.load):
# (the data, the device it was saved on) -> where to restore it (a device or its name), or a tensor to use
_restore_location: contextvars.ContextVar[Callable[[np.ndarray, str], Any] | None] = contextvars.ContextVar(
    "_restore_location", default=None
)


def _device_or_cpu(device: str) -> Device:
    """The device a tensor saved on ``device`` loads onto: that one, or the CPU (with a warning) where it is
    unusable here."""
    try:
        return to_device_obj(device)
    except (RuntimeError, ValueError) as exc:
        warnings.warn(
            f"unpickling a tensor saved on {device}, which is unusable here ({exc}); it is on the CPU", stacklevel=3
        )
        return to_device_obj("cpu")


def _rebuild_tensor(
    cls: builtins.type[Tensor],
    data: np.ndarray,
    device: str,
    requires_grad: builtins.bool,
    state: dict[str, Any] | None = None,
) -> Tensor:
    """The inverse of ``Tensor.__reduce_ex__``: the data on ``device`` (or where a load's ``map_location`` maps
    it), or on the CPU if that device is unusable."""
    relocate = _restore_location.get()
    if relocate is not None:
        where = relocate(data, device)
        if isinstance(where, Tensor):
            data, where = np.array(where.detach()._host()), where.device
        device = str(where)
    dev = _device_or_cpu(device)
    t: Tensor = object.__new__(cls)
    t._adopt(dev.asarray(data, data.dtype), dev, None)
    if requires_grad:
        t._requires_grad = True
    if state:
        _set_python_state(t, state)
    return t


def _rebuild_meta(
    cls: builtins.type[Tensor],
    shape: tuple[builtins.int, ...],
    dtype: np.dtype,
    requires_grad: builtins.bool,
    state: dict[str, Any] | None = None,
) -> Tensor:
    """The inverse of ``Tensor.__reduce_ex__`` for a meta tensor: its shape and dtype, on "meta"."""
    t: Tensor = object.__new__(cls)
    t._adopt(placeholder(tuple(shape), np.dtype(dtype)), to_device_obj("meta"), None)
    if requires_grad:
        t._requires_grad = True
    if state:
        _set_python_state(t, state)
    return t


# NumPy ufunc name -> the Tensor method that computes it (``__array_ufunc__``)
_UFUNC_METHODS = {
    **{n: n for n in ("exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "log2", "log10", "log1p")},
    **{n: n for n in ("exp2", "expm1", "floor", "ceil", "trunc", "sign", "reciprocal", "square", "isnan", "isinf")},
    **{n: n for n in ("isfinite", "maximum", "minimum", "remainder", "fmod", "copysign", "logaddexp", "matmul")},
    **{n: n for n in ("logical_and", "logical_or", "logical_xor", "logical_not", "positive", "floor_divide")},
    **{n: n for n in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    "absolute": "abs", "negative": "neg", "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
    "power": "pow", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
    "arctanh": "atanh", "arctan2": "atan2", "less": "lt", "less_equal": "le", "greater": "gt",
    "greater_equal": "ge", "equal": "eq", "not_equal": "ne", "invert": "bitwise_not", "rint": "round",
}  # fmt: skip
# method -> the operator that computes it with a Python scalar first (``2.0 * x``)
_REFLECTED = {
    "add": "__radd__", "sub": "__rsub__", "mul": "__rmul__", "div": "__rtruediv__", "pow": "__rpow__",
    "remainder": "__rmod__", "floor_divide": "__rfloordiv__", "matmul": "__rmatmul__", "lt": "__gt__",
    "le": "__ge__", "gt": "__lt__", "ge": "__le__", "eq": "__eq__", "ne": "__ne__", "bitwise_and": "__rand__",
    "bitwise_or": "__ror__", "bitwise_xor": "__rxor__",
}  # fmt: skip
_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "complex64": "ComplexFloatTensor",
    "complex128": "ComplexDoubleTensor",
    "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
}
