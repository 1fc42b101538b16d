"""Signal processing: ``bp.stft`` / ``bp.istft`` (values, gradients to the signal and the window, torch's
errors and warnings), ``bp.fft.hfft2/hfftn/ihfft2/ihfftn``, ``bp.linalg.ldl_factor(_ex)/ldl_solve/matmul`` and
the window functions, against torch where it is installed, plus closed forms that always run (a sinusoid
peaks at its bin, istft inverts stft, gradcheck in float64)."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
RNG = np.random.default_rng(1234)


def _np(t: Any) -> np.ndarray:
    t = t.detach()
    if torch is not None and isinstance(t, torch.Tensor):
        return t.resolve_conj().numpy()
    return t.numpy()


def _tol(dtype: str) -> float:
    return 1e-4 if dtype in ("float32", "complex64") else 1e-9


# ---------------------------------------------------------------- closed forms (always run)


def test_stft_of_a_sinusoid_peaks_at_its_bin() -> None:
    n_fft, k = 64, 5
    t = np.arange(1024)
    x = bp.tensor(np.cos(2 * np.pi * k * t / n_fft))
    s = bp.stft(x, n_fft, window=bp.hann_window(n_fft, dtype=bp.float64), return_complex=True)
    assert tuple(s.shape) == (n_fft // 2 + 1, 1 + 1024 // (n_fft // 4))
    assert s.dtype == bp.complex128
    mag = s.abs().numpy()
    assert (mag[:, 2:-2].argmax(axis=0) == k).all()


def test_stft_rectangular_frames_are_rffts_of_chunks() -> None:
    x = RNG.standard_normal((2, 48))
    s = bp.stft(bp.tensor(x), 8, hop_length=8, center=False, window=bp.ones(8, dtype=bp.float64), return_complex=True)
    want = np.fft.rfft(x.reshape(2, 6, 8), axis=-1).transpose(0, 2, 1)
    np.testing.assert_allclose(s.numpy(), want, atol=1e-12)
    full = bp.stft(bp.tensor(x[0]), 8, 8, center=False, window=bp.ones(8, dtype=bp.float64), normalized=True,
                   onesided=False, return_complex=True)  # fmt: skip
    np.testing.assert_allclose(full.numpy(), np.fft.fft(x[0].reshape(6, 8), axis=-1, norm="ortho").T, atol=1e-12)


@pytest.mark.parametrize(
    "n_fft, hop, win_length, center", [(32, 8, None, True), (31, 5, 20, True), (16, 4, None, False)]
)
def test_istft_inverts_stft(n_fft: int, hop: int, win_length: Any, center: bool) -> None:
    x = bp.tensor(RNG.standard_normal((3, 200)))
    w = bp.hamming_window(win_length or n_fft, dtype=bp.float64)  # nonzero ends: the envelope is never 0
    s = x.stft(n_fft, hop, win_length, w, center, return_complex=True)
    y = s.istft(n_fft, hop, win_length, w, center, length=200 if center else None)
    n = y.shape[-1]
    lo = 0 if center else n_fft
    assert n == 200 if center else n == 16 + 4 * (1 + (200 - 16) // 4 - 1)
    np.testing.assert_allclose(y.numpy()[:, lo : n - lo], x.numpy()[:, lo : n - lo], atol=1e-10)


def test_complex_signal_round_trip() -> None:
    z = RNG.standard_normal(120) + 1j * RNG.standard_normal(120)
    w = bp.hann_window(16, dtype=bp.float64)
    s = bp.stft(bp.tensor(z), 16, window=w)  # complex input: return_complex defaults to True, onesided to False
    assert tuple(s.shape) == (16, 31) and s.dtype == bp.complex128
    y = bp.istft(s, 16, window=w, length=120, return_complex=True)
    np.testing.assert_allclose(y.numpy(), z, atol=1e-10)


def test_stft_istft_gradcheck() -> None:
    x = bp.tensor(RNG.standard_normal(40), requires_grad=True)
    w = bp.tensor(RNG.uniform(0.3, 1.0, 10), requires_grad=True)

    def f(x: Any, w: Any) -> Any:
        return bp.view_as_real(bp.stft(x, 12, 3, 10, w, pad_mode="reflect", return_complex=True))

    assert bp.autograd.gradcheck(f, (x, w))
    s = bp.stft(x.detach(), 12, 3, 10, w.detach(), return_complex=True)
    re, im = s.real.clone().requires_grad_(True), s.imag.clone().requires_grad_(True)

    def g(re: Any, im: Any, w: Any) -> Any:  # (gradcheck takes real inputs: the spectrum as two parts)
        return bp.istft(bp.complex(re, im), 12, 3, 10, w, length=40)

    assert bp.autograd.gradcheck(g, (re, im, w))
    assert bp.autograd.gradgradcheck(lambda x: f(x, w.detach()), (x,))


def test_hfftn_closed_forms() -> None:
    x = RNG.standard_normal((4, 6, 8))
    back = bp.fft.hfftn(bp.fft.ihfftn(bp.tensor(x)), s=x.shape)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)
    back2 = bp.fft.hfft2(bp.fft.ihfft2(bp.tensor(x)), s=x.shape[-2:])
    np.testing.assert_allclose(back2.numpy(), x, atol=1e-12)
    # ihfftn is conj(rfftn) / n
    np.testing.assert_allclose(bp.fft.ihfftn(bp.tensor(x)).numpy(), np.conj(np.fft.rfftn(x)) / x.size, atol=1e-12)


def test_ldl_solves_and_reconstructs() -> None:
    a = RNG.standard_normal((3, 7, 7))
    a = a + a.transpose(0, 2, 1)
    b = RNG.standard_normal((3, 7, 2))
    LD, pivots = bp.linalg.ldl_factor(bp.tensor(a))  # noqa: N806
    assert LD.dtype == bp.float64 and pivots.dtype == bp.int32 and tuple(pivots.shape) == (3, 7)
    np.testing.assert_array_equal(np.triu(LD.numpy(), 1), 0)
    x = bp.linalg.ldl_solve(LD, pivots, bp.tensor(b))
    np.testing.assert_allclose(a @ x.numpy(), b, atol=1e-10)
    _, _, info = bp.linalg.ldl_factor_ex(bp.zeros(3, 3, dtype=bp.float64))
    assert int(info.item()) == 1
    with pytest.raises(RuntimeError):
        bp.linalg.ldl_factor(bp.zeros(3, 3, dtype=bp.float64))
    m = bp.tensor(RNG.standard_normal((2, 3)))
    np.testing.assert_allclose(bp.linalg.matmul(m, m.T).numpy(), m.numpy() @ m.numpy().T)


def test_stft_argument_errors() -> None:
    x = bp.tensor(RNG.standard_normal(100))
    w = bp.hann_window(16, dtype=bp.float64)
    with pytest.raises(RuntimeError, match="requires the return_complex parameter"):
        bp.stft(x, 16, window=w)
    with pytest.warns(UserWarning, match="return_complex=False is deprecated"):
        out = bp.stft(x, 16, window=w, return_complex=False)
    assert tuple(out.shape) == (9, 26, 2)
    with pytest.raises(RuntimeError, match="Cannot have onesided output"):
        bp.stft(x.to(bp.complex128), 16, window=w, onesided=True)
    with pytest.raises(RuntimeError, match="window overlap add min"):
        bp.istft(bp.stft(x, 16, return_complex=True, window=bp.ones(16, dtype=bp.float64)), 16,
                 window=bp.zeros(16, dtype=bp.float64))  # fmt: skip
    with pytest.warns(UserWarning, match="A window was not provided"):
        bp.istft(bp.stft(x, 16, window=w, return_complex=True), 16)


# ---------------------------------------------------------------- against torch


def _both(fn: Any) -> list[Any]:
    """fn(lib) for torch and bp: (output, gradients) or the exception's (type name, message) and warnings."""
    out = []
    for lib in (torch, bp):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                r = fn(lib)
            except Exception as e:  # noqa: BLE001 - compared between the two libraries
                r = (type(e).__name__, str(e))
        out.append((r, [str(w.message).split(" (Triggered internally")[0] for w in seen]))
    return out


def _stft_case(lib: Any, xs: np.ndarray, ws: Any, loss: str, kw: dict) -> tuple:
    x = lib.tensor(xs, requires_grad=True)
    w = None if ws is None else lib.tensor(ws, requires_grad=True)
    y = lib.stft(x, window=w, return_complex=True, **kw)
    value = {"abs": lambda: y.abs().sum(), "re2": lambda: y.real.pow(2).sum(), "im": lambda: (y.imag * 1.3).sum()}
    value[loss]().backward()
    return (_np(y), _np(x.grad)) + (() if w is None else (_np(w.grad),))


STFT_CASES = [
    # dtype, complex input, batched, n_fft, hop, win_length, windowed, center, pad_mode, normalized, onesided, loss
    ("float64", False, False, 16, None, None, True, True, "reflect", False, None, "abs"),
    ("float32", False, True, 15, 3, 6, True, True, "constant", True, None, "re2"),
    ("float64", False, True, 8, 3, None, False, True, "replicate", False, False, "im"),
    ("float32", False, False, 9, 2, 7, True, True, "circular", True, False, "abs"),
    ("float64", False, True, 12, 5, 9, True, False, "reflect", False, None, "re2"),
    ("float64", True, False, 8, None, 6, True, True, "reflect", True, False, "abs"),
    ("complex64", True, True, 10, 4, None, True, False, "reflect", False, None, "re2"),
    ("float64", True, True, 15, 3, None, False, True, "circular", False, False, "im"),
]


@needs_torch
@pytest.mark.parametrize("case", STFT_CASES)
def test_stft_matches_torch(case: tuple) -> None:
    dt, cplx, batch, n_fft, hop, wl, windowed, center, mode, norm, onesided, loss = case
    shape = (3, 41) if batch else (41,)
    xs = RNG.standard_normal(shape)
    real_dt = {"complex64": "float32"}.get(dt, dt)
    if cplx:
        xs = (xs + 1j * RNG.standard_normal(shape)).astype("complex64" if real_dt == "float32" else "complex128")
    else:
        xs = xs.astype(real_dt)
    ws = RNG.uniform(0.2, 1, wl or n_fft).astype(real_dt) if windowed else None
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=wl, center=center, pad_mode=mode, normalized=norm,
              onesided=onesided)  # fmt: skip
    (want, _), (got, _) = _both(lambda lib: _stft_case(lib, xs, ws, loss, kw))
    assert len(want) == len(got)
    for a, b in zip(want, got):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=_tol(real_dt), atol=10 * _tol(real_dt))


@needs_torch
@pytest.mark.parametrize(
    "dt, batch, n_fft, hop, wl, center, norm, onesided, length, rc, wkind",
    [
        ("float64", False, 8, None, None, True, False, None, None, False, "hann"),
        ("float32", True, 9, 2, 6, True, True, None, 20, False, "hann"),
        ("float64", True, 8, 2, 6, True, False, False, 14, False, "ones"),
        ("float64", False, 9, None, None, True, True, False, 60, True, "hann"),
        ("float32", True, 8, 2, None, False, False, None, 60, False, "hann"),
        ("float64", False, 8, 2, None, True, False, None, None, False, "none"),
    ],
)
def test_istft_matches_torch(
    dt: str, batch: bool, n_fft: int, hop: Any, wl: Any, center: bool, norm: bool, onesided: Any, length: Any,
    rc: bool, wkind: str,
) -> None:  # fmt: skip
    bins = n_fft if onesided is False else n_fft // 2 + 1
    shape = ((2,) if batch else ()) + (bins, 12)
    zs = (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(
        "complex64" if dt == "float32" else "complex128"
    )
    wlen = wl or n_fft
    ws = {"hann": np.hanning(wlen + 2)[1:-1], "ones": np.ones(wlen), "none": None}[wkind]
    ws = None if ws is None else (ws * RNG.uniform(0.5, 1, wlen)).astype(dt)
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=wl, center=center, normalized=norm, onesided=onesided,
              length=length, return_complex=rc)  # fmt: skip

    def case(lib: Any) -> tuple:
        z = lib.tensor(zs, requires_grad=True)
        w = None if ws is None else lib.tensor(ws, requires_grad=True)
        y = lib.istft(z, window=w, **kw)
        ((y.abs() if rc else y * y).sum() + (y.real if rc else y).sum()).backward()
        return (_np(y), _np(z.grad)) + (() if w is None else (_np(w.grad),))

    (want, want_warn), (got, got_warn) = _both(case)
    assert set(want_warn) <= set(got_warn)  # (torch warns once per process, we once per call site)
    assert not isinstance(want[0], str), want  # (a case torch accepts)
    assert len(want) == len(got)
    for a, b in zip(want, got):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=20 * _tol(dt), atol=20 * _tol(dt))


def _x(lib: Any, n: int = 100) -> Any:
    return lib.tensor(np.linspace(-1, 1, n) ** 3)


def _w(lib: Any, n: int = 16) -> Any:
    return lib.hann_window(n, dtype=lib.float64)


def _s(lib: Any) -> Any:
    return lib.stft(_x(lib), 16, window=_w(lib), return_complex=True)


ERROR_CASES = {
    "no_return_complex": lambda L: L.stft(_x(L), 16),
    "deprecated_real": lambda L: L.stft(_x(L), 16, return_complex=False).shape,
    "reflect_too_short": lambda L: L.stft(_x(L), 200, return_complex=True),
    "n_fft_too_big": lambda L: L.stft(_x(L), 200, center=False, return_complex=True),
    "hop_zero": lambda L: L.stft(_x(L), 16, hop_length=0, window=_w(L), return_complex=True),
    "win_too_long": lambda L: L.stft(_x(L), 16, win_length=20, window=_w(L, 20), return_complex=True),
    "window_size": lambda L: L.stft(_x(L), 16, win_length=8, window=_w(L, 9), return_complex=True),
    "integer_input": lambda L: L.stft(_x(L).long(), 16, return_complex=True),
    "three_dims": lambda L: L.stft(_x(L)[None, None], 16, return_complex=True),
    "complex_onesided": lambda L: L.stft(_x(L).to(L.complex128), 16, onesided=True, window=_w(L)),
    "align_with_center": lambda L: L.stft(_x(L), 16, align_to_window=True, return_complex=True),
    "align_overflow": lambda L: L.stft(_x(L), 16, 3, 7, _w(L, 7), False, align_to_window=True, return_complex=True),
    "circular_wraps": lambda L: L.stft(_x(L, 5), 16, pad_mode="circular", window=_w(L), return_complex=True),
    "unknown_mode": lambda L: L.stft(_x(L, 5), 16, pad_mode="foo", window=_w(L), return_complex=True),
    "istft_real": lambda L: L.istft(_s(L).real, 16, window=_w(L)),
    "istft_nola": lambda L: L.istft(_s(L), 16, window=_w(L), center=False),
    "istft_hop": lambda L: L.istft(_s(L), 16, window=_w(L), hop_length=20),
    "istft_win": lambda L: L.istft(_s(L), 16, window=_w(L), win_length=20),
    "istft_window_shape": lambda L: L.istft(_s(L), 16, window=_w(L, 9), win_length=8),
    "istft_bins": lambda L: L.istft(_s(L), 18, window=_w(L, 18)),
    "istft_twosided_bins": lambda L: L.istft(_s(L), 16, window=_w(L), onesided=False),
    "istft_complex_onesided": lambda L: L.istft(_s(L), 16, window=_w(L), return_complex=True),
    "istft_dims": lambda L: L.istft(_s(L)[None, None], 16, window=_w(L)),
    "istft_empty": lambda L: L.istft(_s(L)[:, :0], 16, window=_w(L)),
    "istft_complex_window": lambda L: L.istft(_s(L), 16, window=_w(L).to(L.complex128)),
    "istft_no_window": lambda L: L.istft(_s(L), 16).shape,
    "istft_padded": lambda L: L.istft(_s(L), 16, window=_w(L), length=120).shape,
}


@needs_torch
@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_errors_and_warnings_match_torch(name: str) -> None:
    (want, want_warn), (got, got_warn) = _both(ERROR_CASES[name])
    if isinstance(want, tuple) and isinstance(want[0], str):
        assert got == want
    else:
        assert tuple(got) == tuple(want)
    assert set(want_warn) <= set(got_warn)  # (torch warns once per process, we once per call site)


@needs_torch
@pytest.mark.parametrize("name", ["hfft2", "hfftn", "ihfft2", "ihfftn"])
@pytest.mark.parametrize("dt", ["float64", "float32", "complex128"])
def test_hfftn_family_matches_torch(name: str, dt: str) -> None:
    if name.startswith("i") and dt.startswith("complex"):
        pytest.skip("ihfft* take real input")
    for s, dim, norm in itertools.product([None, (5, 6), (4, -1)], [None, (0, 2), (-1, 0)], [None, "ortho", "forward"]):
        if name.endswith("2") and dim is None:
            dim = (-2, -1)
        xs = RNG.standard_normal((3, 4, 5))
        if dt.startswith("complex"):
            xs = xs + 1j * RNG.standard_normal(xs.shape)
        xs = xs.astype(dt)
        kw = {"s": s, "norm": norm} | ({} if dim is None else {"dim": dim})
        res = []
        for lib in (torch, bp):
            x = lib.tensor(xs, requires_grad=True)
            y = getattr(lib.fft, name)(x, **kw)
            loss = (y.abs() * 1.5).sum() + (y.real * y.real).sum() if y.is_complex() else (y * y * 0.3 + y).sum()
            loss.backward()
            res.append((_np(y), _np(x.grad)))
        for a, b in zip(*res):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(
                b, a, rtol=1e-3 if dt == "float32" else 1e-9, atol=1e-3 if dt == "float32" else 1e-9
            )


@needs_torch
@pytest.mark.parametrize("dt", ["float64", "float32", "complex128"])
@pytest.mark.parametrize("hermitian", [False, True])
def test_ldl_matches_torch(dt: str, hermitian: bool) -> None:
    n = 70  # past LAPACK's block size: the blocked sytrf
    a = RNG.standard_normal((2, n, n))
    if dt.startswith("complex"):
        a = a + 1j * RNG.standard_normal(a.shape)
    a = (a + (a.conj() if hermitian else a).swapaxes(-1, -2)).astype(dt)
    b = RNG.standard_normal((2, n, 3)).astype(dt)
    want = torch.linalg.ldl_factor_ex(torch.tensor(a), hermitian=hermitian)
    got = bp.linalg.ldl_factor_ex(bp.tensor(a), hermitian=hermitian)
    np.testing.assert_array_equal(got.pivots.numpy(), want.pivots.numpy())  # the same pivoting decisions
    np.testing.assert_array_equal(got.info.numpy(), want.info.numpy())
    tol = 2e-3 if dt == "float32" else 1e-10  # LD: the same routine, the BLAS's rounding
    np.testing.assert_allclose(got.LD.numpy(), want.LD.numpy(), rtol=tol, atol=tol)
    xt = torch.linalg.ldl_solve(want.LD, want.pivots, torch.tensor(b), hermitian=hermitian)
    xb = bp.linalg.ldl_solve(got.LD, got.pivots, bp.tensor(b), hermitian=hermitian)
    np.testing.assert_allclose(xb.numpy(), xt.numpy(), rtol=100 * tol, atol=100 * tol)


@needs_torch
@pytest.mark.parametrize(
    "name", ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]
)
def test_window_functions_match_torch(name: str) -> None:
    # torch computes in the requested dtype (with SLEEF's cos / Cephes' i0), we in float64 rounded once: the
    # values agree to a couple of ulps, the shapes, dtypes and endpoints exactly
    for n, periodic, dt in itertools.product([0, 1, 2, 3, 8, 17], [True, False], [None, "float32", "float64"]):
        kt = {} if dt is None else {"dtype": getattr(torch, dt)}
        kb = {} if dt is None else {"dtype": getattr(bp, dt)}
        want = getattr(torch, name)(n, periodic, **kt)
        got = getattr(bp, name)(n, periodic, **kb)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


@needs_torch
def test_signal_windows_match_torch() -> None:
    missing = [n for n in torch.signal.windows.__all__ if not hasattr(bp.signal.windows, n)]
    assert not missing
    params = {"gaussian": {"std": 0.7}, "general_cosine": {"a": [0.46, 0.23, 0.31]}, "general_hamming": {"alpha": 0.6},
              "kaiser": {"beta": 3.0}, "exponential": {"tau": 2.0}}  # fmt: skip
    for name in torch.signal.windows.__all__:
        for m, sym, dt in itertools.product([0, 1, 2, 5, 16], [True, False], ["float32", "float64"]):
            p = params.get(name, {})
            want = getattr(torch.signal.windows, name)(m, sym=sym, dtype=getattr(torch, dt), **p)
            got = getattr(bp.signal.windows, name)(m, sym=sym, dtype=getattr(bp, dt), **p)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
