"""Audio programs as torch users write them without torchaudio, against torch 2.13: decibels through
``torch.log10`` (exact at powers of ten, as torch's), ``amplitude_to_DB`` with ``top_db``, and the window
functions an STFT takes (torch's arithmetic, so float64 windows are bit-equal and float32 ones print alike)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")

WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window"]
LENGTHS = [2, 3, 4, 5, 8, 25, 64, 255, 256, 400, 512, 1024]


def _np(x: Any) -> Any:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


# ---------------------------------------------------------------- decibels


def amplitude_to_db(L: Any, x: Any, multiplier: float = 10.0, amin: float = 1e-10, top_db: float = 80.0) -> Any:
    """torchaudio.functional.amplitude_to_DB, as people copy it."""
    x_db = multiplier * L.log10(L.clamp(x, min=amin))
    return L.max(x_db, (x_db.amax(dim=(-2, -1)) - top_db).view(-1, 1, 1))


def test_decibels_of_powers_of_ten_are_exact() -> None:
    """log10(100) is 2, not 2.0000002 (NumPy's float32 loop), so 20 log10 of a gain of 100 is 40 dB."""
    gains = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 0.1, 0.01, 1e-3]
    want = torch.log10(torch.tensor(gains))
    got = bp.log10(bp.tensor(gains))
    assert got.tolist() == want.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, -1.0, -2.0, -3.0]
    assert repr(20 * got) == repr(20 * want).replace("torch.", "")
    assert repr(bp.tensor(1000.0).log10()) == repr(torch.tensor(1000.0).log10()) == "tensor(3.)"
    # integers promote to float32 first, as torch's
    assert bp.log10(bp.tensor([10, 100, 1000])).tolist() == torch.log10(torch.tensor([10, 100, 1000])).tolist()


def test_amplitude_to_db_matches_torch_bitwise() -> None:
    """A power spectrogram with exact decades and a top_db floor: every dB value is torch's, bit for bit."""
    p = 10.0 ** np.arange(-12, 6, dtype=np.float64)
    spec = np.stack([p, p[::-1] * 3.0]).astype(np.float32).reshape(2, 3, 6)
    want = amplitude_to_db(torch, torch.tensor(spec))
    got = amplitude_to_db(bp, bp.tensor(spec))
    np.testing.assert_array_equal(_np(got), _np(want))
    assert _np(got)[0, 2].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]


def test_log10_float32_rounds_as_torch() -> None:
    """Random float32 inputs: NumPy's float32 log10 is an ulp off torch's on ~40% of them; ours on ~0."""
    x = np.abs(np.random.default_rng(0).standard_normal(20000).astype(np.float32)) * 50
    got, want = _np(bp.log10(bp.tensor(x))), _np(torch.log10(torch.tensor(x)))
    assert (got != want).mean() < 1e-3
    np.testing.assert_allclose(got, want, rtol=2e-7)


def test_log10_gradient_and_other_dtypes() -> None:
    """d log10(x) = 1 / (x ln 10) at x = 100 (whose log10 is exact); float64, float16 and complex inputs keep
    their dtype and torch's values."""
    for L in (torch, bp):
        x = L.tensor([100.0, 3.0], requires_grad=True)
        y = x.log10()
        y.sum().backward()
        assert x.grad is not None and y.tolist()[0] == 2.0
        np.testing.assert_allclose(_np(x.grad), 1 / (np.array([100.0, 3.0]) * np.log(10)), rtol=1e-6)
    for dt in ("float64", "float16", "complex64"):
        v = [100.0, 2.0] if dt != "complex64" else [100.0 + 0j, 1 + 1j]
        want = torch.log10(torch.tensor(v, dtype=getattr(torch, dt)))
        got = bp.log10(bp.tensor(v, dtype=getattr(bp, dt)))
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-3)


def test_si_snr_in_decibels_matches_torch() -> None:
    """A separation loss: scale-invariant SNR in dB of an estimate that is the reference times 10."""

    def run(L: Any) -> Any:
        ref = L.tensor(np.sin(np.arange(400) * 0.05).astype(np.float32))[None]
        est = (10 * ref + 0.0).requires_grad_()
        noise = est - ref * 10
        snr = 10 * L.log10((10 * ref).pow(2).sum(-1) / (noise.pow(2).sum(-1) + 1e-8) * 1e-10 + 1)
        return snr, 10 * L.log10(L.tensor([1e5]))

    (a, a2), (b, b2) = run(torch), run(bp)
    np.testing.assert_allclose(_np(b), _np(a), rtol=1e-6)
    assert _np(b2).tolist() == _np(a2).tolist() == [50.0]


# ---------------------------------------------------------------- windows


def test_blackman_window_prints_as_torch() -> None:
    """torch's blackman is 0.08 cos(4x) - 0.5 cos(2x) + 0.42 in float32: its ends are -2.98e-08, not 0 or
    -1.39e-17 (the float64 value rounded)."""
    for args in [(5, False), (8, True), (16, True)]:
        want, got = torch.blackman_window(*args), bp.blackman_window(*args)
        assert repr(got) == repr(want)
        np.testing.assert_array_equal(_np(got), _np(want))
    want64 = torch.blackman_window(5, periodic=False, dtype=torch.float64)
    got64 = bp.blackman_window(5, periodic=False, dtype=bp.float64)
    assert repr(got64) == repr(want64).replace("torch.", "")
    assert _np(got64)[0] == _np(want64)[0] == 0.0


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_round_as_torch(name: str) -> None:
    """torch's values but for an ulp where its SLEEF cos rounds the other way: a few percent of float32
    samples (a float64 window rounded once differs from torch's on about two thirds of them), a fraction of
    a percent of float64 ones."""
    for dt, ulp, share in (("float32", 1.2e-7, 0.93), ("float64", 2.3e-16, 0.99)):
        same = total = 0
        for n in LENGTHS:
            for periodic in (True, False):
                want = _np(getattr(torch, name)(n, periodic, dtype=getattr(torch, dt)))
                got = _np(getattr(bp, name)(n, periodic, dtype=getattr(bp, dt)))
                assert got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=0, atol=ulp, err_msg=f"{name}({n}, {periodic}, {dt})")
                same += int((got == want).sum())
                total += n
        assert same / total > share, dt


def test_windowed_spectrogram_program_matches_torch() -> None:
    """A power spectrogram in dB with each window: the windows feed stft, the dB floor reads log10."""
    x = np.random.default_rng(1).standard_normal((2, 1600)).astype(np.float32)

    def run(L: Any, name: str) -> Any:
        w = getattr(L, name)(256)
        s = L.stft(L.tensor(x), 256, 64, window=w, return_complex=True).abs().pow(2)
        return amplitude_to_db(L, s), w

    for name in WINDOWS:
        (a, wa), (b, wb) = run(torch, name), run(bp, name)
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-4, atol=1e-3)
        assert (_np(wb) == _np(wa)).mean() > 0.9


# ---------------------------------------------------------------- complex spectra


@pytest.mark.parametrize(
    "abs_dt, angle_dt", [("float32", "int64"), ("int64", "float32"), ("float64", "float32"), ("float32", "float64")]
)
def test_polar_refuses_mixed_or_integer_parts_as_torch(abs_dt: str, angle_dt: str) -> None:
    """Griffin-Lim's ``torch.polar(mag, phase)`` with an integer or other-precision phase raises torch's
    RuntimeError (it used to promote and return a complex tensor)."""
    msgs = []
    for L in (torch, bp):
        mag = L.tensor([1.0, 2.0]).to(getattr(L, abs_dt))
        phase = L.tensor([0, 1]).to(getattr(L, angle_dt))
        with pytest.raises(RuntimeError) as e:
            L.polar(mag, phase)
        msgs.append(str(e.value))
    assert msgs[1] == msgs[0]
