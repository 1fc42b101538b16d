"""``linspace`` values bit for bit as torch's CPU kernel computes them: ``step = (end - start) / (steps - 1)`` in the
dtype, ``start + step * i`` for the first half and ``end - step * (steps - 1 - i)`` for the rest, each a fused
multiply-add (GCC contracts the expressions); float16/bfloat16 round every step to the dtype, the divisor too."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import backprop as bp

DTYPES = ["float32", "float64", "int64", "int32", "uint8", "float16", "bfloat16"]


def _fma_formula(start: float, end: float, steps: int, dt: type) -> list[float]:
    """The kernel's values from exact rationals, each rounded once into ``dt`` (float32 or float64)."""
    a, b = dt(start), dt(end)
    step = (b - a) / dt(steps - 1)
    out = []
    for i in range(steps):
        if i < steps // 2:
            exact = Fraction(float(a)) + Fraction(float(step)) * i
        else:
            exact = Fraction(float(b)) - Fraction(float(step)) * (steps - 1 - i)
        out.append(float(dt(float(exact))) if dt is np.float64 else _to_f32(exact))
    return out


def _to_f32(q: Fraction) -> float:
    """The float32 nearest the rational ``q`` (ties to even), without rounding through float64 first."""
    near = np.float32(float(q))
    lo, hi = (
        (np.nextafter(near, np.float32(-np.inf)), near)
        if Fraction(float(near)) > q
        else (near, np.nextafter(near, np.float32(np.inf)))
    )
    dl, dh = q - Fraction(float(lo)), Fraction(float(hi)) - q
    if dl != dh:
        return float(lo if dl < dh else hi)
    return float(lo if int(lo.view(np.uint32)) % 2 == 0 else hi)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_linspace_is_the_fused_kernels_formula(dt: type) -> None:
    """Closed form, no torch needed: ``linspace(-3, 3, 30)`` in float32 rounded the product and the sum
    separately (16 of 30 values one ulp from torch's)."""
    for start, end, steps in [(-3.0, 3.0, 30), (0.0, 1.0, 11), (-1.5, 7.25, 101), (1e3, -2e3, 77)]:
        got = bp.linspace(start, end, steps, dtype=getattr(bp, dt.__name__)).numpy().tolist()
        assert got == _fma_formula(start, end, steps, dt), (start, end, steps)


@pytest.mark.parametrize("name", DTYPES)
def test_linspace_matches_torch_bit_for_bit(name: str) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-check needs it")
    rng = np.random.default_rng(5)
    for trial in range(300):
        start, end = rng.uniform(-1e3, 1e3, 2).round(int(rng.integers(0, 5)))
        if trial % 3 == 0:
            start, end = rng.uniform(-3, 3, 2)
        if name == "uint8":
            start, end = abs(start) % 255, abs(end) % 255
        steps = int(rng.integers(1, 400))
        want = torch.linspace(float(start), float(end), steps, dtype=getattr(torch, name)).float().numpy()
        got = bp.linspace(float(start), float(end), steps, dtype=getattr(bp, name)).float().numpy()
        assert np.array_equal(got, want), (name, start, end, steps)


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_histogram_with_a_bin_count_matches_torch(name: str) -> None:
    """torch makes the edges with ``linspace`` in the input's dtype and counts against them (NumPy's float64
    edges were an ulp off, and values at the edges fell into the neighbouring bin); empty input spans [0, 1]. A
    weighted density divides by a sum in NumPy's order, so it is compared to an ulp."""
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-check needs it")
    rng = np.random.default_rng(7)
    for trial in range(150):
        x = (rng.standard_normal(int(rng.integers(0, 60))) * rng.uniform(0.1, 100)).astype(name)
        if trial % 7 == 0 and x.size:
            x[:] = x[0]  # (one value: the range widened by 0.5 each way)
        bins = int(rng.integers(1, 40))
        w = rng.uniform(0, 2, x.size).astype(name) if trial % 3 == 0 else None
        density = trial % 5 == 0
        rg = (float(rng.uniform(-50, 0)), float(rng.uniform(0, 50))) if trial % 4 == 0 else None
        want = torch.histogram(
            torch.tensor(x), bins, weight=None if w is None else torch.tensor(w), density=density, range=rg
        )
        got = bp.histogram(bp.tensor(x), bins, weight=None if w is None else bp.tensor(w), density=density, range=rg)
        assert np.array_equal(got.bin_edges.numpy(), want.bin_edges.numpy()), trial
        if w is not None and density:
            np.testing.assert_allclose(got.hist.numpy(), want.hist.numpy(), rtol=4 * np.finfo(name).eps)
        else:
            assert np.array_equal(got.hist.numpy(), want.hist.numpy()), trial
    for rg, text in [((1.0, 0.0), "min should not exceed max"), ((0.0, float("inf")), "is not finite")]:
        with pytest.raises(RuntimeError, match=text):
            bp.histogram(bp.tensor([1.0, 2.0]), 3, range=rg)
