"""backprop's CPU random numbers are torch's, bit for bit: the mt19937 engine, seeding and state layout,
and every sampler's transform (rand/randn/randint/randperm, the in-place samplers, bernoulli and
dropout masks, ``normal`` with tensors, nn.init and the modules built after ``manual_seed``)."""

# ruff: noqa: B023  (each lambda runs at once, inside its loop iteration)
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from backprop.backends import torch_rng

import backprop as bp

torch = pytest.importorskip("torch")

SIZES = (1, 5, 15, 16, 17, 31, 33, 1000, 4099)
FLOATS = (("float32", "float32"), ("float64", "float64"), ("float16", "float16"), ("bfloat16", "bfloat16"))


def _np(t: Any) -> np.ndarray:
    """A tensor of either library as a NumPy array (bfloat16 as its raw uint16 bits)."""
    if isinstance(t, bp.Tensor):
        a = t.detach().numpy()
        return a.view(np.uint16) if a.dtype.itemsize == 2 and a.dtype.kind == "V" else a
    if t.dtype == torch.bfloat16:
        return t.detach().view(torch.int16).numpy().view(np.uint16)
    return t.detach().numpy()


def same(a: Any, b: Any) -> None:
    """Equal bits, shape and dtype (NaNs in the same places)."""
    x, y = _np(a), _np(b)
    assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, x.dtype, y.shape, y.dtype)
    assert x.tobytes() == y.tobytes(), f"{int((x != y).sum())} of {x.size} differ: {x.ravel()[:4]} vs {y.ravel()[:4]}"


def both(seed: int, fn: Callable[[Any], Any]) -> None:
    """``fn(library)`` after ``library.manual_seed(seed)`` gives the same bits, and leaves both streams
    at the same point (the next draw agrees too)."""
    bp.manual_seed(seed)
    torch.manual_seed(seed)
    same(fn(bp), fn(torch))
    same(bp.randint(0, 2**62, (2,)), torch.randint(0, 2**62, (2,)))


def dt(lib: Any, name: str) -> Any:
    return getattr(lib, name)


# ---------------------------------------------------------------- the engine and its state
@pytest.mark.parametrize("seed", [0, 1, 123, 2**32 + 5, 2**63 + 7, 67280421310721])
def test_engine_words_and_random64(seed: int) -> None:
    both(seed, lambda L: L.empty(1500, dtype=L.int64).random_())  # random64 % 2^63, across a regeneration
    both(seed, lambda L: L.empty(700, dtype=L.int32).random_())  # 32-bit draws


def test_default_seed_generators_and_initial_seed() -> None:
    g, tg = bp.Generator(), torch.Generator()
    assert g.initial_seed() == tg.initial_seed() == 67280421310721
    same(bp.rand(40, generator=g), torch.rand(40, generator=tg))
    same(g.get_state(), tg.get_state())
    g.manual_seed(-1), tg.manual_seed(-1)  # negative seeds wrap to uint64
    assert g.initial_seed() == tg.initial_seed() == 2**64 - 1
    same(bp.randn(20, generator=g), torch.randn(20, generator=tg))
    bp.manual_seed(5)
    assert bp.initial_seed() == 5 and bp.default_generator.initial_seed() == 5
    s = bp.seed()  # 64 bits from the OS, as torch.seed()
    assert 0 <= s < 2**64 and bp.initial_seed() == s


def test_state_layout_round_trips_between_libraries() -> None:
    for n in (0, 3, 1, 640):  # fresh, with a cached normal, without, after a regeneration
        bp.manual_seed(11)
        torch.manual_seed(11)
        same(bp.randn(n), torch.randn(n))
        same(bp.get_rng_state(), torch.get_rng_state())
    state = torch.get_rng_state()
    a = torch.randn(5, dtype=torch.float64)
    bp.set_rng_state(bp.tensor(state.numpy()))  # torch's state restores backprop's stream
    same(bp.randn(5, dtype=bp.float64), a)
    torch.set_rng_state(torch.from_numpy(bp.get_rng_state().numpy()))  # and back
    same(torch.rand(9), bp.rand(9))
    g = bp.Generator().manual_seed(3)
    bp.randn(1, generator=g)  # leaves a cached double
    tg = torch.Generator()
    tg.set_state(torch.from_numpy(g.get_state().numpy()))
    same(bp.randn(7, generator=g), torch.randn(7, generator=tg))
    with pytest.raises(RuntimeError, match="CPUGeneratorImplState of size 5056"):
        bp.set_rng_state(bp.zeros(3, dtype=bp.uint8))
    with pytest.raises(RuntimeError, match="Invalid mt19937 state"):
        bp.set_rng_state(bp.zeros(5056, dtype=bp.uint8))


# ---------------------------------------------------------------- factories
@pytest.mark.parametrize("name,tname", FLOATS)
def test_rand_and_randn_every_size(name: str, tname: str) -> None:
    for n in SIZES:
        both(n, lambda L: L.rand(n, dtype=dt(L, name)))
        both(n, lambda L: L.randn(n, dtype=dt(L, name)))
    both(7, lambda L: L.randn(3, 5, 7, dtype=dt(L, name)))
    both(7, lambda L: L.randn(0, dtype=dt(L, name)))


def test_small_normals_use_the_cached_second_sample() -> None:
    bp.manual_seed(9)
    torch.manual_seed(9)
    for n in (3, 1, 5, 2, 20, 7, 1, 1, 16, 9):
        same(bp.randn(n), torch.randn(n))
        same(bp.randn(n, dtype=bp.float64), torch.randn(n, dtype=torch.float64))


def test_generator_argument_leaves_the_global_stream() -> None:
    bp.manual_seed(1)
    torch.manual_seed(1)
    g, tg = bp.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    same(bp.randn(33, generator=g), torch.randn(33, generator=tg))
    same(bp.rand(3, generator=g), torch.rand(3, generator=tg))
    same(bp.randint(3, 9, (6,), generator=g), torch.randint(3, 9, (6,), generator=tg))
    same(bp.randperm(12, generator=g), torch.randperm(12, generator=tg))
    same(bp.randn(4), torch.randn(4))


@pytest.mark.parametrize("low,high", [(0, 10), (-5, 3), (0, 2**28 - 1), (0, 2**28), (-(2**40), 2**40), (7, 2**62)])
def test_randint_ranges(low: int, high: int) -> None:
    for n in (1, 17, 500):
        both(n, lambda L: L.randint(low, high, (n,)))
    if 0 <= low and high <= 2**24:
        both(3, lambda L: L.randint(low, high, (40,), dtype=L.float32))


def test_random_default_and_open_ranges_per_dtype() -> None:
    for name in ("int64", "int32", "int16", "int8", "uint8", "bool", "float32", "float64", "float16", "bfloat16"):
        both(2, lambda L: L.empty(300, dtype=dt(L, name)).random_())
        both(2, lambda L: L.empty(300, dtype=dt(L, name)).random_(2))
    both(3, lambda L: L.empty(100, dtype=L.int64).random_(-(2**63), None))  # the full 64-bit range
    both(3, lambda L: L.empty(100, dtype=L.int64).random_(5, None))
    both(3, lambda L: L.empty(100, dtype=L.int32).random_(-7, None))


def test_randperm_sizes() -> None:
    for n in (0, 1, 2, 3, 10, 1000):
        both(n, lambda L: L.randperm(n))
    both(1, lambda L: L.randperm(20, dtype=L.float32))


def test_like_factories() -> None:
    both(4, lambda L: L.randn_like(L.zeros(5, 7)))
    both(4, lambda L: L.rand_like(L.zeros(3, dtype=L.float64)))
    both(4, lambda L: L.randint_like(L.zeros(40, dtype=L.int32), 3, 11))
    both(4, lambda L: L.randint_like(L.zeros(40), 6))


# ---------------------------------------------------------------- in-place samplers
def test_inplace_samplers_contiguous_and_not() -> None:
    def views(L: Any) -> list:
        base = L.zeros(12, 9, dtype=L.float32)
        return [L.zeros(10, 10), base.t(), base[:, ::2], L.zeros(3, 4)]

    for pick in range(4):
        both(pick, lambda L: views(L)[pick].uniform_(-0.37, 0.61))
        both(pick, lambda L: views(L)[pick].normal_(0.3, 1.7))
        both(pick, lambda L: views(L)[pick].normal_())
        both(pick, lambda L: views(L)[pick].exponential_(1.5))
        both(pick, lambda L: views(L)[pick].cauchy_(0.5, 2.0))
        both(pick, lambda L: views(L)[pick].log_normal_(0.5, 0.25))
        both(pick, lambda L: views(L)[pick].geometric_(0.3))
        both(pick, lambda L: views(L)[pick].random_(0, 100))
        both(pick, lambda L: views(L)[pick].bernoulli_(0.3))
    both(5, lambda L: L.zeros(40, dtype=L.float64).uniform_(-0.37, 0.61))
    both(5, lambda L: L.zeros(40, dtype=L.float64).normal_(-2.0, 0.5))
    both(5, lambda L: L.zeros(40, dtype=L.float16).uniform_(-3, 3))
    both(5, lambda L: L.zeros(7, 6).t().contiguous().t().normal_())  # non-contiguous (transposed) 6x7


def test_complex_normal_and_uniform() -> None:
    for n in (3, 40):
        both(n, lambda L: L.randn(n, dtype=L.complex64))
        both(n, lambda L: L.zeros(n, dtype=L.complex128).uniform_(-1, 2))


def test_bernoulli_with_probability_tensors() -> None:
    for name in ("float32", "float64"):
        p = np.linspace(0, 1, 50).astype(name)  # (the same probabilities: the libraries' linspace differ)
        both(1, lambda L: L.bernoulli(L.tensor(p)))
        both(1, lambda L: L.zeros(4, 50).bernoulli_(L.tensor(p)))
        both(1, lambda L: L.zeros(50, 4).t().bernoulli_(L.tensor(p)))
        both(1, lambda L: L.bernoulli(L.zeros(30, dtype=dt(L, name)), 0.7))


def test_normal_with_tensor_arguments() -> None:
    std = np.linspace(0.1, 2, 40)  # (the same values: the libraries' linspace differ)
    both(2, lambda L: L.normal(L.arange(40.0), L.tensor(std.astype(np.float32))))
    both(2, lambda L: L.normal(L.arange(6.0).reshape(2, 3), 2.5))
    both(2, lambda L: L.normal(1.5, L.tensor(std)))
    both(2, lambda L: L.normal(0.5, 2.0, (4, 5)))


def test_multinomial_with_and_without_replacement() -> None:
    w = np.random.default_rng(0).random((3, 10))
    w[1, 3] = 0
    for name in ("float32", "float64"):
        for k, replacement in ((1, False), (4, False), (1, True), (7, True), (50, True)):
            both(3, lambda L: L.multinomial(L.tensor(w.astype(name)), k, replacement))
            both(3, lambda L: L.tensor(w[0].astype(name)).multinomial(k, replacement))
        both(3, lambda L: L.multinomial(L.tensor(w[0].astype(name)), 10))


# ---------------------------------------------------------------- dropout
def test_dropout_masks_and_values() -> None:
    x = np.random.default_rng(0).standard_normal((8, 40)).astype(np.float32)
    for p in (0.1, 0.5, 0.9):
        both(3, lambda L: L.nn.functional.dropout(L.tensor(x), p))
        both(3, lambda L: L.nn.Dropout(p)(L.tensor(x.astype(np.float64))))
    both(3, lambda L: L.nn.functional.dropout2d(L.tensor(x).reshape(2, 4, 4, 10), 0.5))
    both(3, lambda L: L.nn.functional.alpha_dropout(L.tensor(x), 0.2, True))


# ---------------------------------------------------------------- nn.init and modules
def _params_equal(make: Callable[[Any], Any], seed: int = 0) -> None:
    bp.manual_seed(seed)
    torch.manual_seed(seed)
    a, b = make(bp.nn), make(torch.nn)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sb:
        same(sa[k], sb[k])
    same(bp.rand(3), torch.rand(3))


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Linear(3, 2),
        lambda nn: nn.Linear(64, 33),
        lambda nn: nn.Conv2d(3, 8, 3),
        lambda nn: nn.Conv1d(4, 6, 5, bias=False),
        lambda nn: nn.Embedding(50, 16),
        lambda nn: nn.LSTM(10, 20, 2),
        lambda nn: nn.GRU(7, 9, batch_first=True, bidirectional=True),
        lambda nn: nn.TransformerEncoderLayer(32, 4, 64),
        lambda nn: nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10)),
    ],
)
def test_modules_after_manual_seed(make: Callable[[Any], Any]) -> None:
    _params_equal(make, seed=0)
    _params_equal(make, seed=42)


def test_initialisers() -> None:
    def init(name: str, *args: Any, shape: tuple = (64, 33), **kw: Any) -> Callable[[Any], Any]:
        return lambda L: getattr(L.nn.init, name)(L.empty(*shape), *args, **kw)

    for fn in (
        init("uniform_", -0.2, 0.3),
        init("normal_", 0.1, 0.02),
        init("xavier_uniform_", gain=2.0),
        init("xavier_normal_"),
        init("kaiming_uniform_", a=5**0.5),
        init("kaiming_normal_", mode="fan_out", nonlinearity="relu"),
        init("trunc_normal_", std=0.02),
        init("trunc_normal_", mean=0.5, a=0.0, b=0.3),
        init("sparse_", 0.3, shape=(40, 30)),
        init("kaiming_uniform_", shape=(8, 3, 3, 3)),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            both(6, fn)


def test_orthogonal_is_torch_up_to_qr_rounding() -> None:
    for shape in ((20, 8), (6, 30)):
        bp.manual_seed(2)
        torch.manual_seed(2)
        a = bp.nn.init.orthogonal_(bp.empty(*shape)).numpy()
        b = torch.nn.init.orthogonal_(torch.empty(*shape)).numpy()
        np.testing.assert_allclose(a, b, atol=2e-6)  # the same Gaussian draws; LAPACKs round QR differently
        same(bp.rand(2), torch.rand(2))


# ---------------------------------------------------------------- the Box-Muller math paths
def test_avx2_and_default_float_fill_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's AVX2/AVX512 kernels use avx_mathfun with fused multiply-adds; its default build glibc's
    logf/cosf/sinf rounded step by step. The path this machine's torch takes must match; the other is
    checked against the C library's functions directly."""
    import ctypes
    import math

    cap = torch.backends.cpu.get_cpu_capability()
    assert torch_rng.AVX2 == (cap in ("AVX2", "AVX512"))
    try:
        libm = ctypes.CDLL("libm.so.6")
    except OSError:
        pytest.skip("needs glibc's libm.so.6")
    for name in ("logf", "sinf", "cosf"):
        getattr(libm, name).restype = ctypes.c_float
        getattr(libm, name).argtypes = [ctypes.c_float]
    u = (np.arange(0, 2**24, 997) * 2.0**-24).astype(np.float32)
    u1 = np.float32(1) - u
    theta = (2 * math.pi * u.astype(np.float64)).astype(np.float32)
    sin, cos = torch_rng.sincosf(theta)
    assert np.array_equal(torch_rng.logf(u1), np.array([libm.logf(v) for v in u1.tolist()], np.float32))
    assert np.array_equal(sin, np.array([libm.sinf(v) for v in theta.tolist()], np.float32))
    assert np.array_equal(cos, np.array([libm.cosf(v) for v in theta.tolist()], np.float32))


def test_fused_multiply_add_helpers() -> None:
    from fractions import Fraction

    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(3000).astype(np.float32) for _ in range(3))
    got = torch_rng.fma32(a, b, c)
    exact = [
        np.float32(float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))) for x, y, z in zip(a, b, c)
    ]
    assert np.array_equal(got, np.array(exact, np.float32))
    x = rng.standard_normal(3000)
    got64 = torch_rng.fma64(x, 0.37, -1.25)
    exact64 = [float(Fraction(float(v)) * Fraction(0.37) + Fraction(-1.25)) for v in x]
    assert np.array_equal(got64, np.array(exact64))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_shuffles_and_samplers_draw_torchs_orders(num_workers: int) -> None:
    """torch's RandomSampler seeds a fresh generator from the default one per pass, after the loader's iterator drew
    its base seed; DistributedSampler permutes with a generator seeded by seed + epoch: the same orders here."""
    import torch.utils.data as tdata

    from backprop.utils import data as bdata

    def orders(lib: Any, data_mod: Any) -> list[Any]:
        lib.manual_seed(0)
        loader = data_mod.DataLoader(range(12), batch_size=4, shuffle=True, num_workers=num_workers)
        out = [b.tolist() for _ in range(2) for b in loader]
        out.append(list(data_mod.RandomSampler(range(9), replacement=True, num_samples=40)))
        sampler = data_mod.distributed.DistributedSampler(range(10), num_replicas=3, rank=2, seed=5)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            out.append(list(sampler))
        return out

    assert orders(bp, bdata) == orders(torch, tdata)
