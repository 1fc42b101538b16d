"""The Tensor: an array on a device plus the autograd bookkeeping. No math lives here.

Every differentiable method is one call into an op of the registry through ``apply``; the
docstrings give torch's name and semantics (``dim=``/``keepdim=``), translated to the kernels'
numpy-style ``axis``/``keepdims``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from backprop import dtypes
from backprop.autograd.function import Node, apply
from backprop.autograd.grad_mode import state
from backprop.devices import Device
from backprop.devices import device as to_device_obj
from backprop.ops import conversion as conv
from backprop.ops import elementwise as ew
from backprop.ops import indexing as ix
from backprop.ops import linalg, nn, reduction
from backprop.ops import shape as sh

_new = object.__new__
_SCALARS = (int, float, bool)


def _axis(dim: Any) -> Any:
    if dim is None or isinstance(dim, int):
        return dim
    return tuple(dim)


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autodiff (torch's ``Tensor``)."""

    __slots__ = ("data", "device", "grad", "grad_fn", "_requires_grad", "_version", "_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy array (op) tensor -> Tensor's reflected op wins
    _plain: type  # the class op results get (Tensor, also for Parameter inputs); set below

    def __init__(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> None:
        from backprop.creation import _to_array

        dev = to_device_obj(device)
        self._adopt(_to_array(data, dtypes.to_dtype(dtype), dev), dev, None)
        if requires_grad:
            self.requires_grad = True

    def _adopt(self, data: Any, device: Device, grad_fn: Node | None) -> None:
        """Set every slot: ``data`` on ``device`` (no copy), produced by ``grad_fn`` (or a leaf)."""
        self.data = data
        self.device = device
        self.grad = None
        self.grad_fn = grad_fn
        self._requires_grad = grad_fn is not None
        self._version = 0
        self._hooks = None

    @staticmethod
    def _wrap(data: Any, device: Device, grad_fn: Node | None) -> Tensor:
        """A Tensor around ``data`` without copying or checks (``apply`` inlines the same)."""
        t = _new(Tensor)
        t._adopt(data, device, grad_fn)
        return t

    # ------------------------------------------------------------ attributes
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad of leaf tensors; use .detach() for a non-leaf")
        if value and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, got {self.dtype}")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def size(self, dim: int | None = None) -> Any:
        """The shape, or one dimension of it."""
        return self.data.shape if dim is None else self.data.shape[dim]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied to the host for device tensors; no grad)."""
        if self.device.type == "cpu":
            return self.data
        return self.device.backend.to_host(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph."""
        return Tensor._wrap(self.data, self.device, None)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def clone(self) -> Tensor:
        """A differentiable copy."""
        return apply(conv.clone, self)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``; differentiable, no-op when equal."""
        dev = kwargs.get("device")
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, (str, Device)):
                dev = a
            else:
                dtype = a
        out = self
        if dev is not None:
            dev = to_device_obj(dev)
            if dev is not self.device:
                out = apply(conv.to_device, out, device=dev, source=self.device)
        if dtype is not None:
            dtype = dtypes.to_dtype(dtype)
            if dtype != out.dtype:
                out = apply(conv.astype, out, dtype=dtype)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        return self.to(f"cuda:{index}")

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self.data.__dlpack_device__()

    # ------------------------------------------------------------ autograd
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (torch semantics)."""
        from backprop.autograd.functional import backward

        backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs=inputs)

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        owner = self.grad_fn if self.grad_fn is not None else self
        if owner is self:
            self._hooks = (self._hooks or []) + [hook]
        else:
            owner.hooks = (owner.hooks or []) + [hook]
        return _HookHandle(owner, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` of a non-leaf tensor after backward (as torch)."""
        if self.grad_fn is None:
            return
        ref = weakref.ref(self)

        def keep(g: Tensor) -> None:
            t = ref()
            if t is not None:
                t.grad = g.detach() if t.grad is None else t.grad + g.detach()

        self.register_hook(keep)

    # ------------------------------------------------------------ arithmetic
    def _other(self, other: Any) -> Any:
        if other.__class__ is Tensor or isinstance(other, Tensor):
            return other
        if isinstance(other, _SCALARS):
            return other
        if isinstance(other, np.generic):
            return other.item()
        return Tensor(other, device=self.device)

    def __add__(self, other: Any) -> Tensor:
        return apply(ew.add, self, other if other.__class__ in _FAST else self._other(other))

    def __radd__(self, other: Any) -> Tensor:
        return apply(ew.add, other if other.__class__ in _FAST else self._other(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return apply(ew.sub, self, other if other.__class__ in _FAST else self._other(other))

    def __rsub__(self, other: Any) -> Tensor:
        return apply(ew.sub, other if other.__class__ in _FAST else self._other(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return apply(ew.mul, self, other if other.__class__ in _FAST else self._other(other))

    def __rmul__(self, other: Any) -> Tensor:
        return apply(ew.mul, other if other.__class__ in _FAST else self._other(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return apply(ew.div, self, other if other.__class__ in _FAST else self._other(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply(ew.div, other if other.__class__ in _FAST else self._other(other), self)

    def __pow__(self, other: Any) -> Tensor:
        return apply(ew.pow, self, other if other.__class__ in _FAST else self._other(other))

    def __rpow__(self, other: Any) -> Tensor:
        return apply(ew.pow, other if other.__class__ in _FAST else self._other(other), self)

    def __matmul__(self, other: Any) -> Tensor:
        return apply(linalg.matmul, self, self._other(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return apply(linalg.matmul, self._other(other), self)

    def __neg__(self) -> Tensor:
        return apply(ew.neg, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return apply(ew.abs, self)

    def __lt__(self, other: Any) -> Tensor:
        return apply(ew.lt, self, self._other(other))

    def __le__(self, other: Any) -> Tensor:
        return apply(ew.le, self, self._other(other))

    def __gt__(self, other: Any) -> Tensor:
        return apply(ew.gt, self, self._other(other))

    def __ge__(self, other: Any) -> Tensor:
        return apply(ew.ge, self, self._other(other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(ew.eq, self, self._other(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(ew.ne, self, self._other(other))

    __hash__ = object.__hash__

    def __invert__(self) -> Tensor:
        if self.dtype.kind != "b":
            raise TypeError(f"~ is only defined for bool tensors, got {self.dtype}")
        return Tensor._wrap(~self.data, self.device, None)

    def __and__(self, other: Any) -> Tensor:
        o = self._other(other)
        return Tensor._wrap(self.data & (o.data if isinstance(o, Tensor) else o), self.device, None)

    def __or__(self, other: Any) -> Tensor:
        o = self._other(other)
        return Tensor._wrap(self.data | (o.data if isinstance(o, Tensor) else o), self.device, None)

    # ------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        return apply(ew.exp, self)

    def log(self) -> Tensor:
        return apply(ew.log, self)

    def sqrt(self) -> Tensor:
        return apply(ew.sqrt, self)

    def abs(self) -> Tensor:
        return apply(ew.abs, self)

    def tanh(self) -> Tensor:
        return apply(ew.tanh, self)

    def sigmoid(self) -> Tensor:
        return apply(ew.sigmoid, self)

    def relu(self) -> Tensor:
        return apply(ew.relu, self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        """Limit to [min, max]; either bound may be None."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return apply(ew.clamp, self, min=min, max=max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return apply(ew.maximum, self, self._other(other))

    def minimum(self, other: Any) -> Tensor:
        return apply(ew.minimum, self, self._other(other))

    # ------------------------------------------------------------ reductions
    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.sum, self, axis=_axis(dim), keepdims=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.mean, self, axis=_axis(dim), keepdims=keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.amax, self, axis=_axis(dim), keepdims=keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply(reduction.amin, self, axis=_axis(dim), keepdims=keepdim)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """Full max, or ``(values, indices)`` along ``dim`` (torch semantics)."""
        if dim is None:
            return self.amax()
        return MinMax(self.amax(dim, keepdim), self.argmax(dim, keepdim))

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """Full min, or ``(values, indices)`` along ``dim`` (torch semantics)."""
        if dim is None:
            return self.amin()
        return MinMax(self.amin(dim, keepdim), self.argmin(dim, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the maxima (int64, no gradient)."""
        xp = self.device.xp
        return Tensor._wrap(xp.argmax(self.data, axis=dim, keepdims=keepdim), self.device, None)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the minima (int64, no gradient)."""
        xp = self.device.xp
        return Tensor._wrap(xp.argmin(self.data, axis=dim, keepdims=keepdim), self.device, None)

    def var(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: int | None = None,
    ) -> Tensor:
        """Variance; ``correction=1`` (unbiased) by default, as torch."""
        if correction is None:
            correction = 0 if unbiased is False else 1
        return apply(reduction.var, self, axis=_axis(dim), correction=correction, keepdims=keepdim)

    def std(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: int | None = None,
    ) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return apply(reduction.logsumexp, self, axis=_axis(dim), keepdims=keepdim)

    def softmax(self, dim: int) -> Tensor:
        return apply(nn.softmax, self, axis=dim)

    def log_softmax(self, dim: int) -> Tensor:
        return apply(nn.log_softmax, self, axis=dim)

    def matmul(self, other: Tensor) -> Tensor:
        return apply(linalg.matmul, self, self._other(other))

    # ------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        """Same data, new shape (one dim may be -1)."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        shape = _infer_shape(shape, self.data.size, "reshape", self.shape)
        if shape == self.shape:
            return self
        return apply(sh.reshape, self, shape=shape)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = start_dim % self.ndim, end_dim % self.ndim
        shp = self.shape
        return self.reshape(shp[:s] + (-1,) + shp[e + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        dim = _wrap_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dims (all, or those in ``dim`` that are size 1, as torch)."""
        if dim is None:
            dims = {i for i, n in enumerate(self.shape) if n == 1}
        else:
            dims = {_wrap_dim(d, self.ndim, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
            dims = {d for d in dims if self.shape[d] == 1}
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in dims))

    def permute(self, *dims: Any) -> Tensor:
        dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], int) else dims
        if sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims of {self.shape}")
        return apply(sh.permute, self, axes=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.ndim))
        d0, d1 = _wrap_dim(dim0, self.ndim, "transpose"), _wrap_dim(dim1, self.ndim, "transpose")
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return apply(sh.permute, self, axes=tuple(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802 - torch's name
        return apply(sh.permute, self, axes=tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:  # noqa: N802 - torch's name
        return self.transpose(-2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to ``sizes`` without copying; -1 keeps a dim."""
        sizes = tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: target {sizes} has fewer dims than the tensor's {self.shape}")
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return apply(sh.expand, self, shape=shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
        dim = _wrap_dim(dim, self.ndim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            if step <= 0:
                raise ValueError(f"split: split_size must be positive, got {step}")
            sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(f"split: sizes {sizes} do not sum to dim {dim}'s length {n}")
        out, start = [], 0
        for s in sizes:
            out.append(self[(slice(None),) * dim + (slice(start, start + s),)])
            start += s
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        n = self.shape[_wrap_dim(dim, self.ndim, "chunk")]
        return self.split(max(1, -(-n // chunks)), dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        dim = _wrap_dim(dim, self.ndim, "unbind")
        return tuple(self[(slice(None),) * dim + (i,)] for i in range(self.shape[dim]))

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    # ------------------------------------------------------------ indexing
    def __getitem__(self, index: Any) -> Tensor:
        return apply(ix.getitem, self, index=_index(index, self.device))

    def __setitem__(self, index: Any, value: Any) -> None:
        """In-place assignment; only outside graph recording (as in optimizer code)."""
        self._check_inplace("__setitem__", value)
        v = value.data if isinstance(value, Tensor) else value
        self.data[_index(index, self.device)] = v
        self._version += 1

    # ------------------------------------------------------------ in place
    def _check_inplace(self, name: str, *others: Any) -> bool:
        """True when the in-place op must be recorded in the graph; raises for grad-leaves."""
        if not state.enabled:
            return False
        rec = self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others)
        if rec and self.grad_fn is None and self._requires_grad:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad (shape {self.shape}) is being used in an "
                "in-place operation; wrap the update in `with bp.no_grad():`"
            )
        if rec and name in ("__setitem__", "fill_", "copy_"):
            raise RuntimeError(
                f"{name} on a tensor that is part of a graph is not supported (its gradient would be "
                "silently wrong); build the result out of place (e.g. with bp.where or bp.cat), or "
                "detach() first"
            )
        return rec

    def _inplace(self, opdef: Any, name: str, *args: Any, **attrs: Any) -> Tensor:
        others = tuple(self._other(a) for a in args)
        if self._check_inplace(name, *others):
            # record out of place on a snapshot of self, then make self that result
            before = Tensor._wrap(self.data, self.device, self.grad_fn)
            before._requires_grad = self._requires_grad
            out = apply(opdef, before, *others, **attrs)
            self.data, self.grad_fn, self._requires_grad = out.data, out.grad_fn, True
            node = out.grad_fn
            if node is not None and node._out_ref is not None:
                node._out_ref = weakref.ref(self)
                node._out_version = self._version + 1
        else:
            arrays = [o.data if isinstance(o, Tensor) else o for o in others]
            out = opdef.kernel(self.device.backend)(self.data, *arrays, **attrs)
            self.data[...] = out
        self._version += 1
        return self

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        return self._inplace(ew.add, "add_", other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self._inplace(ew.sub, "sub_", other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(ew.mul, "mul_", other)

    def div_(self, other: Any) -> Tensor:
        return self._inplace(ew.div, "div_", other)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace(ew.clamp, "clamp_", min=min, max=max)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        self._check_inplace("fill_")
        self.data[...] = value
        self._version += 1
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` into this tensor's memory (broadcasting; across devices)."""
        self._check_inplace("copy_", src)
        src = src if isinstance(src, Tensor) else Tensor(src, device=self.device)
        if src.device is not self.device:
            src = src.detach().to(self.device)
        self.data[...] = src.data
        self._version += 1
        return self

    # ------------------------------------------------------------ repr
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = []
        if self.device.type != "cpu":
            extra.append(f"device='{self.device}'")
        if self.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.op.name}Backward>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"


Tensor._plain = Tensor
_FAST = frozenset({Tensor, float, int})  # operands that need no conversion (hot path)


class MinMax(NamedTuple):
    """``(values, indices)`` of ``max(dim)`` / ``min(dim)``."""

    values: Tensor
    indices: Tensor


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, owner: Any, hook: Any) -> None:
        self._owner, self._hook = weakref.ref(owner), hook

    def remove(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        attr = "_hooks" if isinstance(owner, Tensor) else "hooks"
        hooks = getattr(owner, attr) or []
        setattr(owner, attr, [h for h in hooks if h is not self._hook] or None)


def _wrap_dim(dim: int, ndim: int, name: str) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name}: dimension {dim} is out of range for a tensor of {ndim} dims")
    return dim % max(ndim, 1)


def _infer_shape(shape: tuple, size: int, name: str, old: tuple) -> tuple:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"{name}: only one dimension can be -1, got {shape}")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or size % known:
            raise ValueError(f"{name}: shape {shape} is invalid for a tensor of shape {old} ({size} elements)")
        shape = tuple(size // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != size:
        raise ValueError(f"{name}: shape {shape} is invalid for a tensor of shape {old} ({size} elements)")
    return shape


def _index(index: Any, device: Device) -> tuple:
    """Turn a user index into a tuple the kernels understand (index Tensors become arrays)."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            if i.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be integer or bool, got {i.dtype}")
            if i.device is not device:
                i = i.detach().to(device)
            out.append(i.data)
        elif isinstance(i, (list, np.ndarray)):
            arr = np.asarray(i)
            if arr.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be integer or bool, got {arr.dtype}")
            out.append(device.backend.from_host(arr, device.index) if device.type != "cpu" else arr)
        elif isinstance(i, slice):
            out.append(slice(*(None if v is None else int(v) for v in (i.start, i.stop, i.step))))
        else:
            out.append(i)
    return tuple(out)
