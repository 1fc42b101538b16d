"""``bp.fft``: torch.fft's transforms (differentiable, torch's complex gradients) and frequency helpers.

Arguments are torch's: ``n`` (one dim) or ``s`` (several) cut or zero-pad the input first, ``dim``
picks the dims, ``norm`` is "backward" (default: the inverse scales by 1/n), "ortho" or "forward".
float32 (and integer) inputs give complex64, float64 gives complex128. The complex-number helpers
``complex``, ``polar``, ``view_as_real``, ``view_as_complex``, ``real``, ``imag`` and ``conj`` live here
too (torch has them at top level): ``view_as_real``/``view_as_complex``/``real``/``imag`` return copies,
not views. The ops and their gradient rules are ``backprop.ops.fft``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.function import apply, autocast_function
from backprop.autograd.grad_mode import autocast_users
from backprop.autograd.node_names import name_node
from backprop.autograd.trace import factory
from backprop.devices import device as to_device
from backprop.ops import fft as _ops
from backprop.ops._util import DTypeError, ShapeError
from backprop.tensor import Tensor

__all__ = [
    "fft", "fft2", "fftfreq", "fftn", "fftshift", "hfft", "hfft2", "hfftn", "ifft", "ifft2", "ifftn", "ifftshift",
    "ihfft", "ihfft2", "ihfftn", "irfft", "irfft2", "irfftn", "rfft", "rfft2", "rfftfreq", "rfftn",
]  # fmt: skip

_NORMS = ("backward", "ortho", "forward")


# ---------------------------------------------------------------- argument handling


def _norm(name: str, norm: str | None) -> str:
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        if not isinstance(norm, str):
            raise TypeError(f"fft_{name}(): argument 'norm' must be str, not {type(norm).__name__}")
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')  # torch's message
    return norm


def _input(name: str, x: Any, real_only: bool = False) -> Tensor:
    """``x`` as a floating or complex Tensor: integers and bools become the default float dtype (torch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    kind = dtypes.kind(x._data.dtype)
    if kind in "biu":
        return x.to(dtypes.get_default_dtype())
    if real_only and kind == "c":  # torch's three wordings
        got = dtypes.scalar_type_name(x._data.dtype)
        if name in ("rfft", "ihfft"):
            raise DTypeError(f"{name} expects a real input tensor, but got {got}")
        if name.startswith("rfft"):
            raise DTypeError(f"rfftn expects a real-valued input tensor, but got {got}")
        raise DTypeError(f"Only supports floating-point dtypes, but found: {got}")
    if x._data.dtype.name not in ("float32", "float64", "complex64", "complex128"):
        raise DTypeError(
            f"{name}: unsupported dtype {x.dtype} (shape {tuple(x.shape)}); NumPy's FFT computes in float32, "
            "float64, complex64 or complex128: cast with .float() or .double()"
        )
    return x


def _dims_sizes(name: str, x: Tensor, s: Sequence[int] | None, dim: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """torch's ``s``/``dim`` rule: the dims (all, or the last len(s) when only ``s`` is given) and their
    signal sizes (``s``, where -1 keeps the input's size)."""
    ndim = x._data.ndim
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        dims = tuple(range(ndim - len(s), ndim)) if s is not None else tuple(range(ndim))
        if s is not None and len(s) > ndim:
            raise ShapeError(f"{name}: got shape s={list(s)} with {len(s)} values but the input has only {ndim} dims")
    else:
        dims = tuple(_wrap(int(d), ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError("FFT dims must be unique")
    if s is None:
        return dims, tuple(x.shape[d] for d in dims)
    if len(s) != len(dims):
        raise ShapeError(
            f"{name}: When given, dim and shape arguments must have the same length (s={list(s)}, dim={list(dims)})"
        )
    sizes = tuple(x.shape[d] if int(n) == -1 else int(n) for d, n in zip(dims, s))
    for n in sizes:
        if n < 1:
            raise ShapeError(f"Invalid number of data points ({n}) specified")
    return dims, sizes


def _resize(x: Tensor, dims: tuple[int, ...], sizes: tuple[int, ...]) -> Tensor:
    if all(x.shape[d] == n for d, n in zip(dims, sizes)):
        return x
    return apply(_ops.fft_resize, x, dims=dims, sizes=sizes)


def _one(n: int | None) -> list[int] | None:
    """A 1-D transform's ``n`` as ``s``; unlike an entry of ``s``, -1 is no size there (torch refuses it)."""
    if n is not None and n < 1:
        raise ShapeError(f"Invalid number of data points ({n}) specified")
    return None if n is None else [n]


def _wrap(dim: int, ndim: int) -> int:
    """``dim`` wrapped, with torch's IndexError."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


# ---------------------------------------------------------------- complex-to-complex


def _c2c(name: str, x: Any, s: Any, dim: Any, norm: str | None, forward: bool) -> Tensor:
    x = _input(name, x)
    dims, sizes = _dims_sizes(name, x, s, dim)
    x = _resize(x, dims, sizes)
    real_input = dtypes.kind(x._data.dtype) != "c"
    return apply(_ops.fft_c2c, x, dims=dims, norm=_norm(name, norm), forward=forward, real_input=real_input)


def fft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The 1-D discrete Fourier transform over ``dim``, the signal cut or zero-padded to ``n``."""
    return _c2c("fft", input, _one(n), dim, norm, True)


def ifft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The 1-D inverse DFT over ``dim`` (scaled by 1/n under the default norm)."""
    return _c2c("ifft", input, _one(n), dim, norm, False)


def fft2(
    input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1), norm: str | None = None
) -> Tensor:
    """The 2-D DFT over ``dim`` (the last two by default)."""
    return _c2c("fft2", input, s, dim, norm, True)


def ifft2(
    input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1), norm: str | None = None
) -> Tensor:
    """The 2-D inverse DFT over ``dim`` (the last two by default)."""
    return _c2c("ifft2", input, s, dim, norm, False)


def fftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None, norm: str | None = None) -> Tensor:
    """The N-D DFT over ``dim`` (all dims, or the last len(s) when only ``s`` is given)."""
    return _c2c("fftn", input, s, dim, norm, True)


def ifftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None, norm: str | None = None) -> Tensor:
    """The N-D inverse DFT over ``dim`` (all dims, or the last len(s) when only ``s`` is given)."""
    return _c2c("ifftn", input, s, dim, norm, False)


# ---------------------------------------------------------------- real-to-complex and back


def _r2c(name: str, x: Any, s: Any, dim: Any, norm: str | None) -> Tensor:
    x = _input(name, x, real_only=True)
    dims, sizes = _dims_sizes(name, x, s, dim)
    if not dims:
        raise RuntimeError(f"{name} must transform at least one axis (got dim=())")
    x = _resize(x, dims, sizes)
    return apply(_ops.fft_r2c, x, dims=dims, norm=_norm(name, norm))


def _c2r(name: str, x: Any, s: Any, dim: Any, norm: str | None) -> Tensor:
    x = _input(name, x)
    dims, sizes = _dims_sizes(name, x, s, dim)
    if not dims:
        raise RuntimeError(f"{name} must transform at least one axis (got dim=())")
    last = sizes[-1] if s is not None and s[-1] != -1 else 2 * (x.shape[dims[-1]] - 1)
    if last < 1:
        raise ShapeError(f"Invalid number of data points ({last}) specified")
    if dtypes.kind(x._data.dtype) != "c":  # a real half spectrum: its imaginary parts are 0
        x = complex(x, x * 0)
    x = _resize(x, dims, sizes[:-1] + (last // 2 + 1,))
    return apply(_ops.fft_c2r, x, dims=dims, norm=_norm(name, norm), last_size=last)


def rfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The DFT of a real signal over ``dim``: the n // 2 + 1 non-negative frequency bins."""
    return _r2c("rfft", input, _one(n), dim, norm)


def irfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``rfft``: a real signal of ``n`` samples (default 2 (m - 1) from m bins)."""
    return _c2r("irfft", input, _one(n), dim, norm)


def rfft2(
    input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1), norm: str | None = None
) -> Tensor:
    """The 2-D DFT of a real signal, the last of ``dim`` halved to n // 2 + 1 bins."""
    return _r2c("rfft2", input, s, dim, norm)


def irfft2(
    input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1), norm: str | None = None
) -> Tensor:
    """The inverse of ``rfft2``: a real signal (``s`` gives its sizes; the last defaults to 2 (m - 1))."""
    return _c2r("irfft2", input, s, dim, norm)


def rfftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None, norm: str | None = None) -> Tensor:
    """The N-D DFT of a real signal, the last of ``dim`` halved to n // 2 + 1 bins."""
    return _r2c("rfftn", input, s, dim, norm)


def irfftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None, norm: str | None = None) -> Tensor:
    """The inverse of ``rfftn``: a real signal (``s`` gives its sizes; the last defaults to 2 (m - 1))."""
    return _c2r("irfftn", input, s, dim, norm)


def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The DFT of a Hermitian-symmetric signal given by its first half: real, ``n`` long (default
    2 (m - 1)); it is ``irfft(conj(x))`` scaled as a forward transform."""
    x = _input("hfft", input)
    return _c2r("hfft", x.conj(), _one(n), dim, _ops.DUAL_NORM[_norm("hfft", norm)])


def ihfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``hfft``: the half spectrum conj(rfft(x)) scaled as an inverse transform."""
    return _r2c("ihfft", input, _one(n), dim, _ops.DUAL_NORM[_norm("ihfft", norm)]).conj()


def hfft2(
    input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1), norm: str | None = None
) -> Tensor:
    """The 2-D ``hfftn``: a real signal from the half of a Hermitian-symmetric one over ``dim``."""
    x = _input("hfft2", input)
    return _c2r("hfft2", x.conj(), s, dim, _ops.DUAL_NORM[_norm("hfft2", norm)])


def hfftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None, norm: str | None = None) -> Tensor:
    """The N-D DFT of a Hermitian-symmetric signal given by its half (the last of ``dim`` halved): real, the
    last size 2 (m - 1) by default; ``irfftn(conj(x))`` scaled as a forward transform."""
    x = _input("hfftn", input)
    return _c2r("hfftn", x.conj(), s, dim, _ops.DUAL_NORM[_norm("hfftn", norm)])


def ihfft2(
    input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1), norm: str | None = None
) -> Tensor:
    """The inverse of ``hfft2``: the half spectrum conj(rfft2(x)) scaled as an inverse transform."""
    return _ihfft_named(_r2c("ihfft2", input, s, dim, _ops.DUAL_NORM[_norm("ihfft2", norm)]).conj(), s, dim)


def ihfftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None, norm: str | None = None) -> Tensor:
    """The inverse of ``hfftn``: the half spectrum conj(rfftn(x)) scaled as an inverse transform (the last of
    ``dim`` halved to n // 2 + 1 bins)."""
    return _ihfft_named(_r2c("ihfftn", input, s, dim, _ops.DUAL_NORM[_norm("ihfftn", norm)]).conj(), s, dim)


def _ihfft_named(out: Tensor, s: Any, dim: Any) -> Tensor:
    """``out`` of ``ihfft2``/``ihfftn``, named as torch's node: over several dims torch ends with a c2c
    transform of the conjugated half spectrum (``FftC2CBackward0``), over one with the conjugate."""
    if dim is None:
        k = out.ndim if s is None else len(s)
    else:
        k = 1 if isinstance(dim, (int, np.integer)) else len(dim)
    return name_node(out, "FftC2CBackward0") if k > 1 else out


# ---------------------------------------------------------------- frequencies and shifts


def _freq(name: str, values: np.ndarray, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    if dtypes.kind(dt) not in "fc" and requires_grad:
        raise RuntimeError(f"{name}: only floating point and complex tensors can require gradients, got dtype {dt}")
    dev = to_device(device)
    t = Tensor._wrap(dev.asarray(values, dt), dev, None)
    return t.requires_grad_(True) if requires_grad else t


@factory
def fftfreq(
    n: int, d: float = 1.0, *, dtype: Any = None, layout: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """The sample frequencies of an ``n``-point DFT with spacing ``d``: [0, 1, ..., -1] / (d n)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"fft_fftfreq(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"fftfreq: n must be a non-negative int, got {n!r}")
    return _freq("fftfreq", np.fft.fftfreq(n, d), dtype, device, requires_grad)


@factory
def rfftfreq(
    n: int, d: float = 1.0, *, dtype: Any = None, layout: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """The non-negative sample frequencies of ``rfft`` (n // 2 + 1 of them) with spacing ``d``."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"fft_rfftfreq(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"rfftfreq: n must be a non-negative int, got {n!r}")
    return _freq("rfftfreq", np.fft.rfftfreq(n, d), dtype, device, requires_grad)


def _shift(name: str, x: Tensor, dim: Any, sign: int) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    ndim = x._data.ndim
    dims = range(ndim) if dim is None else [dim] if isinstance(dim, int) else dim
    dims = [_wrap(int(d), ndim) for d in dims]
    if not dims:
        return x
    shifts = [sign * (x.shape[d] // 2) for d in dims]
    return x.roll(shifts, dims)


def fftshift(input: Tensor, dim: Any = None) -> Tensor:
    """The spectrum reordered so the zero frequency is in the middle of each of ``dim`` (default all)."""
    return _shift("fftshift", input, dim, 1)


def ifftshift(input: Tensor, dim: Any = None) -> Tensor:
    """The inverse of ``fftshift`` (they differ for odd sizes)."""
    return _shift("ifftshift", input, dim, -1)


# ---------------------------------------------------------------- complex numbers (torch's top-level names)


def _complex_input(name: str, z: Any) -> Tensor:
    if not isinstance(z, Tensor) or dtypes.kind(z._data.dtype) != "c":
        got = z.dtype if isinstance(z, Tensor) else type(z).__name__
        raise DTypeError(f"{name}: expected a complex tensor, got {got}")
    return z


def _check_parts(a: Any, b: Any) -> None:
    """torch's errors for the parts of ``complex``/``polar``: both Half, Float or Double, and the same dtype."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        da, db = a._data.dtype, b._data.dtype
        if da.name not in ("float16", "float32", "float64") or db.name not in ("float16", "float32", "float64"):
            raise DTypeError(
                "Expected both inputs to be Half, Float or Double tensors but got "
                f"{dtypes.scalar_type_name(da)} and {dtypes.scalar_type_name(db)}"
            )
        if da != db:
            raise DTypeError(
                f"Expected object of scalar type {dtypes.scalar_type_name(da)} but got scalar type "
                f"{dtypes.scalar_type_name(db)} for second argument"
            )


def complex(real: Tensor, imag: Tensor) -> Tensor:  # noqa: A001 - torch's name
    """The complex tensor real + i imag (float32 parts give complex64); differentiable in both."""
    for i, (part, t) in enumerate((("real", real), ("imag", imag))):
        if not isinstance(t, Tensor):
            raise TypeError(f"complex(): argument '{part}' (position {i + 1}) must be Tensor, not {type(t).__name__}")
    _check_parts(real, imag)
    if real._data.dtype.name == "float16":  # (torch's complex32: no such dtype here)
        raise DTypeError("complex: expected both inputs to be float32 or float64 tensors, got float16 (no complex32)")
    return apply(_ops.complex, real, imag)


def polar(abs: Tensor, angle: Tensor) -> Tensor:  # noqa: A002 - torch's names
    """The complex tensor abs (cos(angle) + i sin(angle)); differentiable in both. Both parts float32 or both
    float64, as torch's (an integer angle or a float64 abs with a float32 angle raise its errors). Under CPU
    autocast the parts are float32 first (torch's autocast runs ``polar`` in float32: a bfloat16 rotary angle)."""
    if autocast_users[0] and isinstance(abs, Tensor) and isinstance(angle, Tensor):
        abs, angle = autocast_function("polar", abs, angle)
    _check_parts(abs, angle)
    if isinstance(abs, Tensor) and abs._data.dtype.name == "float16" and abs.device.type == "cpu":
        raise NotImplementedError("\"polar_cpu\" not implemented for 'Half'")
    return name_node(complex(abs * angle.cos(), abs * angle.sin()), "PolarBackward0")


def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor as real pairs, shape (..., 2) (a copy: torch returns a view)."""
    return apply(_ops.view_as_real, _complex_input("view_as_real", input))


def view_as_complex(input: Tensor) -> Tensor:
    """Real pairs of shape (..., 2) as a complex tensor (a copy: torch returns a view, so it refuses a layout whose
    pairs are not adjacent in memory, and so do we; float16 too: there is no complex32)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"view_as_complex(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    name = input._data.dtype.name
    if name == "float16":
        raise DTypeError("view_as_complex of float16 would be complex32, which backprop does not have")
    if name not in ("float32", "float64"):
        raise DTypeError(
            "view_as_complex is only supported for half, float and double tensors, but got a tensor of scalar type: "
            + dtypes.scalar_type_name(input.dtype)
        )
    if input._data.ndim == 0:
        raise ShapeError("Input tensor must have one or more dimensions")
    if input.shape[-1] != 2:
        raise ShapeError("Tensor must have a last dimension of size 2")
    strides = input.stride()
    if strides[-1] != 1:
        raise ShapeError("Tensor must have a last dimension with stride 1")
    if any(st % 2 for st in strides[:-1]):
        raise ShapeError("Tensor must have a stride divisible by 2 for all but last dimension")
    if input.storage_offset() % 2:
        raise ShapeError("Tensor must have a storage_offset divisible by 2")
    return apply(_ops.view_as_complex, input)
