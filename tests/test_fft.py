"""``bp.fft`` and complex tensors: values, dtypes and gradients against torch.fft, plus closed forms
(Parseval, inverse round trips, the DFT of a delta) that run without torch."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.fft as bfft
from backprop.fft import complex as bp_complex
from backprop.fft import polar, view_as_complex, view_as_real

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _engine_fits_complex_to_real() -> bool:
    """Whether the engine takes the real part of a complex gradient for a real input (torch's rule)."""
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            (x * bp.tensor([1j, 2 + 1j])).abs().sum().backward()
    except Exception:
        return False
    return True


def _methods_wired() -> bool:
    """Whether Tensor.real / .imag / .conj() are wired to the complex ops (see backprop.fft)."""
    try:
        bp.tensor([1j]).real  # noqa: B018
    except NotImplementedError:
        return False
    return True


needs_engine_fit = pytest.mark.skipif(
    not _engine_fits_complex_to_real(), reason="needs the engine's complex->real gradient fit (engine._fit)"
)
needs_methods = pytest.mark.skipif(not _methods_wired(), reason="Tensor.real/imag/conj not yet wired to backprop.fft")

NORMS = [None, "backward", "ortho", "forward"]


def _rand(rng: np.random.Generator, shape: tuple, complex_: bool, dtype: str = "float64") -> np.ndarray:
    x = rng.standard_normal(shape).astype(dtype)
    if complex_:
        x = x + 1j * rng.standard_normal(shape).astype(dtype)
    return x


def _np(t: Any) -> np.ndarray:
    if torch is not None and isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().numpy()
    return t.detach().numpy()


def _compare(name: str, x: np.ndarray, rng: np.random.Generator, **kw: Any) -> None:
    """bp.fft.<name> and torch.fft.<name> on x: same values, dtype, shape, and gradient for a random
    upstream gradient (complex where the output is)."""
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.fft, name)(xt, **kw)
    xb = bp.tensor(x, requires_grad=True)
    yb = getattr(bfft, name)(xb, **kw)
    assert str(yb.dtype) == str(yt.dtype).replace("torch.", "")
    assert tuple(yb.shape) == tuple(yt.shape)
    tol = 1e-4 if x.dtype in (np.float32, np.complex64) else 1e-9
    np.testing.assert_allclose(_np(yb), _np(yt), rtol=tol, atol=tol)
    g = _rand(rng, tuple(yt.shape), yt.is_complex(), "float64").astype(_np(yt).dtype)
    yt.backward(torch.tensor(g))
    yb.backward(bp.tensor(g))
    assert xb.grad.dtype == xb.dtype
    np.testing.assert_allclose(_np(xb.grad), _np(xt.grad), rtol=tol, atol=tol)


# ---------------------------------------------------------------- against torch


@needs_torch
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["fft", "ifft"])
@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("n", [None, 5, 9])
def test_c2c_1d(name: str, norm: str | None, cplx: bool, n: int | None, rng: np.random.Generator) -> None:
    _compare(name, _rand(rng, (3, 7), cplx), rng, n=n, norm=norm)


@needs_torch
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["rfft", "ihfft"])
@pytest.mark.parametrize("n", [None, 4, 5, 10, 11])
def test_r2c_1d(name: str, norm: str | None, n: int | None, rng: np.random.Generator) -> None:
    _compare(name, _rand(rng, (2, 7), False), rng, n=n, norm=norm)
    _compare(name, _rand(rng, (8, 3), False), rng, n=n, dim=0, norm=norm)


@needs_torch
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["irfft", "hfft"])
@pytest.mark.parametrize("n", [None, 4, 5, 9, 14])
def test_c2r_1d(name: str, norm: str | None, n: int | None, rng: np.random.Generator) -> None:
    _compare(name, _rand(rng, (2, 5), True), rng, n=n, norm=norm)
    _compare(name, _rand(rng, (6, 3), True), rng, n=n, dim=0, norm=norm)


@needs_torch
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", [None, (4, 5), (7, 6), (-1, 3)])
def test_nd(norm: str | None, s: tuple | None, rng: np.random.Generator) -> None:
    x = _rand(rng, (2, 5, 6), False)
    z = _rand(rng, (2, 5, 4), True)
    for name in ("fft2", "ifft2", "rfft2"):
        _compare(name, x, rng, s=s, norm=norm)
    for name in ("fftn", "ifftn", "rfftn"):
        _compare(name, x, rng, s=s, norm=norm)
        _compare(name, x, rng, s=None if s is None else s[:1], dim=None if s is None else (0,), norm=norm)
    _compare("fftn", z, rng, s=s, dim=(0, 2) if s else None, norm=norm)
    for name in ("irfft2", "irfftn"):
        _compare(name, z, rng, s=s, norm=norm)
    _compare("irfftn", z, rng, norm=norm)


@needs_torch
def test_float32_dtypes(rng: np.random.Generator) -> None:
    _compare("rfft", _rand(rng, (4, 6), False, "float32"), rng)
    _compare("fft", _rand(rng, (4, 6), True, "float32"), rng)
    _compare("irfft2", _rand(rng, (4, 6), True, "float32"), rng)
    y = bfft.fft(bp.arange(6))  # integers become the default float dtype, then complex64 (torch)
    assert y.dtype == bp.complex64
    np.testing.assert_allclose(y.numpy(), torch.fft.fft(torch.arange(6)).numpy(), atol=1e-5)


@needs_torch
def test_freqs_and_shifts(rng: np.random.Generator) -> None:
    for n in (1, 6, 7):
        for d in (1.0, 0.25):
            np.testing.assert_allclose(bfft.fftfreq(n, d).numpy(), torch.fft.fftfreq(n, d).numpy())
            np.testing.assert_allclose(bfft.rfftfreq(n, d).numpy(), torch.fft.rfftfreq(n, d).numpy())
    assert bfft.fftfreq(4).dtype == bp.float32 and bfft.fftfreq(4, dtype=bp.float64).dtype == bp.float64
    x = _rand(rng, (4, 5), False)
    for dim in (None, 0, -1, (0, 1)):
        for name in ("fftshift", "ifftshift"):
            xt = torch.tensor(x, requires_grad=True)
            xb = bp.tensor(x, requires_grad=True)
            yt = getattr(torch.fft, name)(xt, dim=dim)
            yb = getattr(bfft, name)(xb, dim=dim)
            np.testing.assert_array_equal(_np(yb), _np(yt))
            g = rng.standard_normal(x.shape)
            yt.backward(torch.tensor(g))
            yb.backward(bp.tensor(g))
            np.testing.assert_array_equal(_np(xb.grad), _np(xt.grad))


BP = bp  # (torch's top-level complex helpers: bp.complex, bp.polar, bp.view_as_real, bp.real, ...)


def _both(fn: Any, *arrays: np.ndarray) -> None:
    """fn(lib, fft_module, *leaves) -> real scalar loss, run with torch and with backprop: same loss and
    same gradient for every leaf."""
    lt = [torch.tensor(a, requires_grad=True) for a in arrays]
    lb = [bp.tensor(a, requires_grad=True) for a in arrays]
    out_t = fn(torch, torch.fft, *lt)
    out_b = fn(BP, bfft, *lb)
    np.testing.assert_allclose(out_b.item(), out_t.item(), rtol=1e-9, atol=1e-9)
    out_t.backward()
    out_b.backward()
    for a, b in zip(lb, lt):
        assert a.grad.dtype == a.dtype
        np.testing.assert_allclose(_np(a.grad), _np(b.grad), rtol=1e-8, atol=1e-9)


def _cx(lib: Any, re: Any, im: Any) -> Any:
    return lib.complex(re, im)


@needs_torch
def test_compositions_complex_leaves(rng: np.random.Generator) -> None:
    """Typical spectral code whose leaves are complex (no real->complex gradient fit needed)."""
    x, h = _rand(rng, (3, 8), False), _rand(rng, (5,), True)
    _both(lambda lib, f, x, h: f.irfft(f.rfft(x) * h, n=8).pow(2).sum(), x, h)
    _both(lambda lib, f, x: f.rfft(x).abs().sum(), x)
    _both(lambda lib, f, x: f.rfft(x, norm="ortho").abs().pow(2).mean(), _rand(rng, (4, 9), False))
    z = _rand(rng, (2, 6), True)
    _both(lambda lib, f, z: (f.fft(z) / (z + 3)).abs().sum(), z)
    _both(lambda lib, f, z: (f.ifft(z) @ lib.conj(z).T).abs().sum(), z)
    _both(lambda lib, f, z: f.fft(z).angle().sum(), z)
    a, b = _rand(rng, (2, 3, 4), True), _rand(rng, (3, 5, 4), True)
    _both(lambda lib, f, a, b: lib.einsum("bix,iox->box", a, b).abs().sum(), a, b)


@needs_torch
def test_complex_helpers(rng: np.random.Generator) -> None:
    re, im = _rand(rng, (3, 4), False), _rand(rng, (3, 4), False)
    _both(lambda lib, f, a, b: _cx(lib, a, b).abs().sum(), re, im)
    _both(
        lambda lib, f, a, b: lib.polar(a.abs() + 0.1, b).angle().sum() + lib.real(lib.polar(a.abs() + 0.1, b)).sum(),
        re,
        im,
    )
    pairs = _rand(rng, (3, 2), False)
    _both(lambda lib, f, p: f.fft(lib.view_as_complex(p)).abs().sum(), pairs)
    z = _rand(rng, (3, 4), True)
    w = rng.standard_normal((3, 4, 2))
    _both(lambda lib, f, z: (lib.view_as_real(f.fft(z)) * lib.tensor(w)).sum(), z)
    _both(lambda lib, f, z: (lib.imag(f.fft(z)) * lib.tensor(w[..., 0])).sum(), z)
    _both(lambda lib, f, z: (lib.real(lib.conj(z) * z) + lib.imag(lib.conj(f.fft(z)))).sum(), z)


@needs_torch
@needs_engine_fit
def test_compositions_real_leaves(rng: np.random.Generator) -> None:
    """A real learnable filter times a spectrum, and real weights made complex (FNO's spectral conv)."""
    x, h = _rand(rng, (3, 8), False), _rand(rng, (5,), False)
    _both(lambda lib, f, x, h: f.irfft(f.rfft(x) * h, n=8).pow(2).sum(), x, h)
    _both(lambda lib, f, x, y: lib.real(f.fft(x) * lib.conj(f.fft(y))).sum(), x, _rand(rng, (3, 8), False))
    _both(lambda lib, f, x: (f.fft(x.to(lib.complex128)).abs() * lib.arange(8.0)).sum(), x)


def _spectral_conv(lib: Any, f: Any, x: Any, wr: Any, wi: Any, modes: tuple[int, int]) -> Any:
    """FNO's spectral convolution (Li et al.): rfft2, mix channels in the low modes, irfft2."""
    b, _, h, w = x.shape
    x_ft = f.rfft2(x)
    out = lib.zeros(b, wr.shape[1], h, w // 2 + 1, dtype=lib.complex128)
    weight = _cx(lib, wr, wi)
    out[:, :, : modes[0], : modes[1]] = lib.einsum("bixy,ioxy->boxy", x_ft[:, :, : modes[0], : modes[1]], weight)
    return f.irfft2(out, s=(h, w))


@needs_torch
@needs_engine_fit
def test_spectral_conv_layer(rng: np.random.Generator) -> None:
    x = _rand(rng, (2, 3, 8, 7), False)
    wr, wi = _rand(rng, (3, 4, 3, 2), False), _rand(rng, (3, 4, 3, 2), False)
    _both(lambda lib, f, x, wr, wi: _spectral_conv(lib, f, x, wr, wi, (3, 2)).pow(2).sum(), x, wr, wi)


@needs_torch
@needs_methods
def test_tensor_methods(rng: np.random.Generator) -> None:
    x, y = _rand(rng, (3, 8), False), _rand(rng, (3, 8), False)
    _both(lambda lib, f, x: f.fft(x).real.sum() + f.fft(x).imag.pow(2).sum(), x)
    _both(lambda lib, f, x, y: (f.fft(x) * f.fft(y).conj()).real.sum(), x, y)


# ---------------------------------------------------------------- real inputs: the fixed rules are unchanged


def test_real_gradients_unchanged(rng: np.random.Generator) -> None:
    """mul, div, matmul, einsum and angle: real gradients are the closed forms they always were."""
    a, b = rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (3, 4))
    x, y = bp.tensor(a, requires_grad=True), bp.tensor(b, requires_grad=True)
    ((x * y).sum() + (x / y).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), b + 1 / b)
    np.testing.assert_allclose(y.grad.numpy(), a - a / b**2)
    m, k = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    p, q = bp.tensor(m, requires_grad=True), bp.tensor(k, requires_grad=True)
    ((p @ q).sum() + bp.einsum("ij,jk->ik", p, q).sum() * 2).backward()
    np.testing.assert_allclose(p.grad.numpy(), 3 * np.ones((3, 2)) @ k.T)
    np.testing.assert_allclose(q.grad.numpy(), 3 * m.T @ np.ones((3, 2)))
    t = bp.tensor([-1.0, 2.0], requires_grad=True)
    t.angle().sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(bp.tensor([-1.0, 2.0]).angle().numpy(), np.array([np.pi, 0.0], np.float32))


# ---------------------------------------------------------------- closed forms (no torch)


@pytest.mark.parametrize("n", [6, 7])
@pytest.mark.parametrize("norm", NORMS)
def test_round_trips(n: int, norm: str | None, rng: np.random.Generator) -> None:
    x = bp.tensor(rng.standard_normal((3, n)))
    z = bp.tensor(_rand(rng, (3, n), True))
    np.testing.assert_allclose(bfft.ifft(bfft.fft(z, norm=norm), norm=norm).numpy(), z.numpy(), atol=1e-12)
    np.testing.assert_allclose(bfft.irfft(bfft.rfft(x, norm=norm), n=n, norm=norm).numpy(), x.numpy(), atol=1e-12)
    np.testing.assert_allclose(bfft.hfft(bfft.ihfft(x, norm=norm), n=n, norm=norm).numpy(), x.numpy(), atol=1e-12)
    x3 = bp.tensor(rng.standard_normal((2, 5, n)))
    np.testing.assert_allclose(
        bfft.irfftn(bfft.rfftn(x3, norm=norm), s=(2, 5, n), norm=norm).numpy(), x3.numpy(), atol=1e-12
    )
    np.testing.assert_allclose(bfft.ifftshift(bfft.fftshift(x3)).numpy(), x3.numpy())


def test_parseval_and_gradient(rng: np.random.Generator) -> None:
    """sum |x|^2 = sum |X|^2 under "ortho", so the gradient of sum |fft(x)|^2 is 2x."""
    a = rng.standard_normal((4, 9))
    x = bp.tensor(a, requires_grad=True)
    loss = bfft.fft(x, norm="ortho").abs().pow(2).sum()
    np.testing.assert_allclose(loss.item(), (a**2).sum())
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, atol=1e-12)
    y = bp.tensor(a, requires_grad=True)  # rfft: the bins that stand for two count twice
    half = bfft.rfft(y, norm="ortho").abs().pow(2)
    weight = bp.tensor([1.0, 2, 2, 2, 2])
    np.testing.assert_allclose((half * weight).sum().item(), (a**2).sum())


def test_delta_and_gradients_closed_form() -> None:
    """The DFT of a delta is all ones; d/dx sum Re(fft(x)) is n at index 0 and 0 elsewhere."""
    d = bp.tensor([1.0, 0, 0, 0, 0])
    np.testing.assert_allclose(bfft.fft(d).numpy(), np.ones(5))
    z = bp.tensor(np.zeros(5, np.complex128), requires_grad=True)
    view_as_real(bfft.fft(z))[..., 0].sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [5, 0, 0, 0, 0], atol=1e-12)
    h = bp.tensor(np.ones(3, np.complex128), requires_grad=True)  # irfft of 3 bins into 4 samples
    bfft.irfft(h, n=4).sum().backward()  # sum of samples = n * (DC / n): only bin 0 matters
    np.testing.assert_allclose(h.grad.numpy(), [1, 0, 0], atol=1e-12)


def test_complex_helpers_closed_form() -> None:
    re, im = bp.tensor([1.0, 0.0], requires_grad=True), bp.tensor([2.0, -1.0], requires_grad=True)
    z = bp_complex(re, im)
    assert z.dtype == bp.complex64  # float32 parts
    np.testing.assert_allclose(z.detach().numpy(), [1 + 2j, -1j])
    z.abs().sum().backward()  # d|z|/d re = re / |z|
    np.testing.assert_allclose(re.grad.numpy(), [1 / np.sqrt(5), 0.0])
    np.testing.assert_allclose(im.grad.numpy(), [2 / np.sqrt(5), -1.0])
    p = polar(bp.tensor([2.0]), bp.tensor([np.pi / 2]))
    np.testing.assert_allclose(p.numpy(), [2j], atol=1e-6)
    pairs = bp.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(view_as_real(view_as_complex(pairs)).numpy(), pairs.numpy())
    assert view_as_complex(pairs).dtype == bp.complex64


def test_errors() -> None:
    z = bp.tensor([1j, 2.0])
    with pytest.raises(RuntimeError, match="rfft expects a real input"):
        bfft.rfft(z)
    with pytest.raises(RuntimeError, match="Invalid normalization mode"):
        bfft.fft(z, norm="sideways")
    with pytest.raises(RuntimeError, match="Invalid number of data points"):
        bfft.fft(z, n=0)
    with pytest.raises(RuntimeError, match="scalar type Float but got scalar type Double for second argument"):
        bp_complex(bp.tensor([1.0]), bp.tensor([1.0], dtype=bp.float64))  # (torch's text)
    with pytest.raises(RuntimeError, match="last dimension of size 2"):
        view_as_complex(bp.zeros(3, 3))
    with pytest.raises(RuntimeError, match="float16"):
        bfft.fft(bp.zeros(4, dtype=bp.float16))
    with pytest.raises(
        IndexError, match=r"^Dimension out of range \(expected to be in range of \[-1, 0\], but got 2\)$"
    ):
        bfft.fft(bp.zeros(4), dim=2)  # torch's message
    with pytest.raises(RuntimeError, match=r"^Invalid number of data points \(-1\) specified$"):
        bfft.rfft(bp.zeros(4), n=-1)  # (s=[-1] keeps the size; n=-1 is refused, as torch)
