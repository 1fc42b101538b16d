"""The argument checks of the random fills and spaced factories as torch 2.13's: ``uniform_`` bounds beyond the
dtype's range (or NaN/inf), a ``to - from`` that overflows, a NaN ``std``, ``linspace``/``logspace`` bounds a float32
or half dtype cannot hold, and ``normal`` with an infinite std (infinities of the draws' signs, not NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp

CASES = {
    "uniform_ f32 beyond range": lambda L: L.empty(3).uniform_(-1e39, 1e39),
    "uniform_ f32 to beyond": lambda L: L.empty(3).uniform_(0, 1e39),
    "uniform_ nan from": lambda L: L.empty(2).uniform_(float("nan"), 0),
    "uniform_ inf to": lambda L: L.empty(2).uniform_(0, float("inf")),
    "uniform_ f16 beyond range": lambda L: L.empty(2, dtype=L.float16).uniform_(-7e4, 7e4),
    "uniform_ bf16 span overflows": lambda L: L.empty(2, dtype=L.bfloat16).uniform_(-3e38, 3e38),
    "uniform_ f32 span overflows": lambda L: L.empty(2).uniform_(-3e38, 3e38),
    "uniform_ complex64 beyond": lambda L: L.empty(2, dtype=L.complex64).uniform_(-1e39, 0),
    "uniform_ from > to": lambda L: L.empty(2).uniform_(2, 1.5),
    "normal_ nan std": lambda L: L.empty(3).normal_(0, float("nan")),
    "normal_ negative std": lambda L: L.empty(3).normal_(0, -1),
    "normal_ small negative std": lambda L: L.empty(3).normal_(0, -1e-7),
    "normal numbers nan std": lambda L: L.normal(0.0, float("nan"), (2,)),
    "normal tensor mean nan std": lambda L: L.normal(L.zeros(2), float("nan")),
    "normal tensor std with nan": lambda L: L.normal(L.zeros(2), L.tensor([1.0, float("nan")])),
    "linspace f32 end beyond": lambda L: L.linspace(0, 1e39, 3),
    "linspace f32 start beyond, one step": lambda L: L.linspace(1e39, 0, 1),
    "linspace f16 end beyond": lambda L: L.linspace(0, 1e5, 3, dtype=L.float16),
    "logspace f32 end beyond": lambda L: L.logspace(0, 1e39, 3),
}


def _outcome(fn, lib):
    try:
        return "value", fn(lib).tolist()
    except Exception as e:  # noqa: BLE001 - the class and text are what is compared
        return type(e).__name__, str(e)


@pytest.mark.parametrize("name", sorted(CASES))
def test_refusals_as_torch(name):
    torch = pytest.importorskip("torch", reason="the torch cross-check needs torch")
    assert _outcome(CASES[name], bp) == _outcome(CASES[name], torch)


def test_messages_without_torch():
    assert _outcome(CASES["uniform_ f32 beyond range"], bp) == ("RuntimeError", "from is out of bounds for float")
    assert _outcome(CASES["uniform_ f16 beyond range"], bp) == ("RuntimeError", "from is out of bounds for c10::Half")
    assert _outcome(CASES["normal_ nan std"], bp) == ("RuntimeError", "normal expects std >= 0.0, but found std nan")
    assert _outcome(CASES["linspace f32 end beyond"], bp) == (
        "RuntimeError",
        "value cannot be converted to type float without overflow",
    )
    # what stays legal: float64 holds 1e39, one step reads only the start, logspace of one step is pow(10, start)
    assert bp.linspace(0, 1e39, 3, dtype=bp.float64).tolist() == [0.0, 5e38, 1e39]
    assert bp.linspace(0, 1e39, 1).tolist() == [0.0]
    assert bp.logspace(1e39, 0, 1).tolist() == [math.inf]


@pytest.mark.parametrize("n", [3, 20])
def test_normal_with_infinite_std_gives_signed_infinities(n):
    """mean + std * z: +-inf by z's sign (torch's fused multiply-add), never NaN."""
    bp.manual_seed(0)
    out = bp.empty(n).normal_(0, math.inf).numpy()
    bp.manual_seed(0)
    z = bp.empty(n).normal_(0, 1).numpy()
    np.testing.assert_array_equal(out, np.where(z > 0, np.inf, -np.inf))


ARGUMENT_SLIPS = {
    "randint float high": lambda L: L.randint(3.0, (2,)),
    "randint float bound": lambda L: L.randint(0, 3.0, (2,)),
    "rfftfreq float n": lambda L: L.fft.rfftfreq(8.0),
    "fftfreq float n": lambda L: L.fft.fftfreq(8.0),
    "diagonal of 1-d": lambda L: L.ones(3).diagonal(),
    "diagonal of 0-d": lambda L: L.tensor(1.0).diagonal(),
    "diagonal dim2 out of range": lambda L: L.ones(3).diagonal(0, 0, 2),
}


@pytest.mark.parametrize("name", sorted(ARGUMENT_SLIPS))
def test_argument_slips_raise_torchs_class(name):
    """A float where torch's parser wants an int is its TypeError; diagonal of a 0-d/1-d tensor its IndexError."""
    torch = pytest.importorskip("torch", reason="the torch cross-check needs torch")
    got, want = _outcome(ARGUMENT_SLIPS[name], bp), _outcome(ARGUMENT_SLIPS[name], torch)
    assert got[0] == want[0]
    if "diagonal" in name or "high" in name or "fftfreq" in name:
        assert got[1] == want[1]


def test_permute_requires_its_dims():
    """torch's parser: ``permute()`` without dims is a TypeError, also for a 0-d tensor (``permute(())`` is fine)."""
    for x in (bp.zeros(()), bp.zeros(2)):
        with pytest.raises(TypeError, match='missing 1 required positional arguments: "dims"'):
            x.permute()
    assert bp.zeros(()).permute(()).shape == ()
    assert bp.empty_permuted((), ()).shape == ()
