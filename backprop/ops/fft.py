"""Discrete Fourier transforms and complex-number ops, with torch's complex gradients.

Gradients follow torch's convention for complex tensors: the gradient of a real loss L with respect
to z = a + ib is dL/da + i dL/db (the conjugate Wirtinger derivative, times 2). For a linear map
y = A x the rule is therefore gx = A^H gy, and a real input of a complex-valued map gets the real part.
Every backward rule here is written with ``ctx.call`` over these same ops, so gradients of gradients
work. ``backprop.fft`` (torch.fft's names) wraps them; sizes, dims and norms are checked there.
"""

from __future__ import annotations

import builtins

import numpy as np

from backprop import dtypes as _dtypes
from backprop.registry import op

#: the norm whose transform is the adjoint's scaling: "backward" scales the inverse by 1/n, so the
#: adjoint of a forward transform under "backward" is the unscaled inverse ("forward"), and so on
DUAL_NORM = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _complex_of(dtype):
    """The complex dtype of a real or complex floating dtype (float32 -> complex64), as torch."""
    _dtypes.note_complex()  # (a complex array is being made: once per process, see registry._REAL_ONLY)
    return {"float32": "complex64", "complex64": "complex64"}.get(dtype.name, "complex128")


def _real_of(dtype):
    """The real dtype of a complex dtype (complex64 -> float32)."""
    return "float32" if dtype.name == "complex64" else "float64"


# ---------------------------------------------------------------- resize (the n= / s= arguments)


def _quiet():
    """NumPy's floating-point warnings off: the pocketfft ufuncs warn in NumPy's module's name, past our filter, of
    an inf or NaN input (torch is silent); one context per transform costs far less than the transform."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


@op("fft_resize")
def fft_resize(xp, x, *, dims, sizes):
    """x cut or zero-padded at the end of each of ``dims`` to ``sizes`` (torch.fft's ``n``/``s``)."""
    index = [slice(None)] * x.ndim
    pad = [(0, 0)] * x.ndim
    for d, n in zip(dims, sizes):
        if x.shape[d] > n:
            index[d] = slice(0, n)
        else:
            pad[d] = (0, n - x.shape[d])
    return xp.pad(x[tuple(index)], pad)  # (a fresh array even when nothing changes)


@fft_resize.defvjp
def fft_resize_backward(ctx, gy):  # cutting and padding are each other's adjoints
    shape = ctx.input_shapes[0]
    dims = ctx.attrs["dims"]
    return (ctx.call(fft_resize, gy, dims=dims, sizes=tuple(shape[d] for d in dims)),)


# ---------------------------------------------------------------- transforms


@op("fft_c2c")
def fft_c2c(xp, x, *, dims, norm, forward, real_input=False):
    """The complex DFT of x over ``dims`` (inverse when not ``forward``), scaled as ``norm`` says."""
    transform = xp.fft.fftn if forward else xp.fft.ifftn
    with _quiet():
        return transform(x, axes=dims, norm=norm).astype(_complex_of(x.dtype), copy=False)


@fft_c2c.defvjp
def fft_c2c_backward(ctx, gy):  # y = F x: gx = F^H gy, the other direction under the dual norm
    a = ctx.attrs
    gx = ctx.call(fft_c2c, gy, dims=a["dims"], norm=DUAL_NORM[a["norm"]], forward=not a["forward"])
    return (ctx.call(real, gx) if a["real_input"] else gx,)


@op("fft_r2c")
def fft_r2c(xp, x, *, dims, norm):
    """The DFT of a real x over ``dims``, the last of them halved to n // 2 + 1 bins (rfftn)."""
    with _quiet():
        return xp.fft.rfftn(x, axes=dims, norm=norm).astype(_complex_of(x.dtype), copy=False)


@fft_r2c.defvjp
def fft_r2c_backward(ctx, gy):
    # y = H F x (H keeps the first n // 2 + 1 bins of the last dim): gx = Re(F^H H^T gy), where H^T
    # pads the half spectrum with zeros back to n bins
    a = ctx.attrs
    shape = ctx.input_shapes[0]
    last = a["dims"][-1]
    full = ctx.call(fft_resize, gy, dims=(last,), sizes=(shape[last],))
    gx = ctx.call(fft_c2c, full, dims=a["dims"], norm=DUAL_NORM[a["norm"]], forward=False)
    return (ctx.call(real, gx),)


@op("fft_c2r")
def fft_c2r(xp, x, *, dims, norm, last_size):
    """The real inverse DFT over ``dims`` of a half spectrum x (irfftn), ``last_size`` samples long in
    the last dim; x must already hold last_size // 2 + 1 bins there."""
    sizes = tuple(x.shape[d] for d in dims[:-1]) + (last_size,)
    with _quiet():
        return xp.fft.irfftn(x, s=sizes, axes=dims, norm=norm).astype(_real_of(x.dtype), copy=False)


@fft_c2r.defvjp
def fft_c2r_backward(ctx, gy):
    # y = Re(F^-1 E x), E extending the half spectrum Hermitian-symmetrically: each bin that stands for
    # two bins of the full spectrum (all but bin 0 and, for even n, bin n / 2) counts twice
    a = ctx.attrs
    dims = a["dims"]
    gx = ctx.call(fft_r2c, gy, dims=dims, norm=DUAL_NORM[a["norm"]])
    bins = gx.shape[dims[-1]]
    twice = a["last_size"] - bins
    if twice > 0:
        weight = ctx.array_xp.ones(bins, dtype=_real_of(gx.dtype))
        weight[1 : 1 + twice] = 2
        weight = weight.reshape((bins,) + (1,) * (gx.ndim - 1 - dims[-1]))
        gx = gx * weight
    return (gx,)


# ---------------------------------------------------------------- complex numbers


@op("complex")
def complex(xp, re, im):  # noqa: A001 - torch's name
    """re + i im from two real tensors of one floating dtype (complex64 from float32)."""
    out = xp.empty(np.broadcast_shapes(re.shape, im.shape), dtype=_complex_of(re.dtype))  # (shapes: host math)
    out.real[...] = re  # (writes through the part views: backends without .real/.imag setters, and an
    out.imag[...] = im  # infinite im stays inf, where re + im * 1j would give a NaN real part)
    return out


@complex.defvjp
def complex_backward(ctx, gy):  # z = re + i im: g_re = Re(gz), g_im = Im(gz)
    e = ctx.needs_input_grad
    return (ctx.call(real, gy) if e[0] else None), (ctx.call(imag, gy) if e[1] else None)


@op("real")
def real(xp, z):
    """The real part of a complex z (a copy, not torch's view)."""
    return xp.real(z).copy()


@real.defvjp
def real_backward(ctx, gy):  # Re z: gz = g (+ 0i; the engine casts it to the complex dtype)
    return (gy,)


@op("imag")
def imag(xp, z):
    """The imaginary part of a complex z (a copy, not torch's view)."""
    return xp.imag(z).copy()


@imag.defvjp
def imag_backward(ctx, gy):  # Im z: gz = 0 + i g
    return (ctx.call(complex, gy * 0, gy),)


@op("conj")
def conj(xp, z):
    """The complex conjugate of z (a copy: torch's is a lazy conjugate view)."""
    return xp.conj(z)


@conj.defvjp
def conj_backward(ctx, gy):  # conj is its own adjoint: gz = conj(g)
    return (ctx.call(conj, gy),)


@op("view_as_real")
def view_as_real(xp, z):
    """A complex z as real pairs: shape (..., 2) holding (real, imag) (a copy, not torch's view)."""
    return xp.stack([xp.real(z), xp.imag(z)], axis=-1)


@view_as_real.defvjp
def view_as_real_backward(ctx, gy):  # gz = g[..., 0] + i g[..., 1]
    return (ctx.call(view_as_complex, gy),)


@op("view_as_complex")
def view_as_complex(xp, x):
    """Real pairs x of shape (..., 2) as the complex x[..., 0] + i x[..., 1] (a copy, not a view)."""
    out = xp.empty(x.shape[:-1], dtype=_complex_of(x.dtype))
    out.real[...] = x[..., 0]
    out.imag[...] = x[..., 1]
    return out


@view_as_complex.defvjp
def view_as_complex_backward(ctx, gy):  # g_x[..., 0] = Re gz, g_x[..., 1] = Im gz
    return (ctx.call(view_as_real, gy),)


def conj_if_complex(ctx, a):
    """conj(a) in a backward rule when a is complex (array, Tensor or Python complex); a itself else,
    so real inputs pay nothing: the rules of mul, div, matmul and einsum use it for complex inputs."""
    if a.__class__ is builtins.complex:
        return a.conjugate()
    dtype = getattr(a, "dtype", None)
    if dtype is not None and dtype.kind == "c":
        return ctx.call(conj, a)
    return a
