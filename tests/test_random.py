"""The random-number API (torch's names): samplers' distributions, shapes, dtypes and errors, seeding,
generator state round trips, ``bp.Generator``, and replays under ``bp.compile``. Streams cannot match
torch's (different generators), so values are checked against closed-form moments; the torch tests at
the end compare what is deterministic (dtypes, shapes, error types, zero gradients)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp

N = 200_000  # samples per moment check: standard errors ~ 0.2% of the scale


def _close(value: float, expected: float, scale: float, z: float = 6.0) -> None:
    """``value`` (a mean of N samples with standard deviation ``scale``) within z standard errors."""
    assert abs(value - expected) <= z * scale / math.sqrt(N), (value, expected)


# ---------------------------------------------------------------- in-place samplers: moments and ranges
def test_uniform_normal_moments_and_dtype() -> None:
    bp.manual_seed(0)
    x = bp.empty(N).uniform_(-2.0, 4.0)
    a = x.numpy()
    assert x.dtype == bp.float32 and a.min() >= -2.0 and a.max() <= 4.0
    _close(a.mean(), 1.0, 6 / math.sqrt(12))
    assert abs(a.var() - 36 / 12) < 0.05
    y = bp.empty(N, dtype=bp.float64).normal_(3.0, 2.0)
    b = y.numpy()
    assert y.dtype == bp.float64
    _close(b.mean(), 3.0, 2.0)
    assert abs(b.std() - 2.0) < 0.02
    assert (bp.empty(3).normal_(1.5, 0.0).numpy() == 1.5).all()


def test_exponential_cauchy_log_normal_geometric() -> None:
    bp.manual_seed(1)
    e = bp.empty(N, dtype=bp.float64).exponential_(2.0).numpy()
    assert e.min() >= 0
    _close(e.mean(), 0.5, 0.5)
    c = bp.empty(N, dtype=bp.float64).cauchy_(1.0, 3.0).numpy()  # quartiles: median -+ sigma
    q1, med, q3 = np.quantile(c, [0.25, 0.5, 0.75])
    assert abs(med - 1.0) < 0.1 and abs(q1 + 2.0) < 0.1 and abs(q3 - 4.0) < 0.1
    ln = bp.empty(N, dtype=bp.float64).log_normal_(0.5, 0.25).numpy()
    assert ln.min() > 0
    _close(np.log(ln).mean(), 0.5, 0.25)
    _close(ln.mean(), math.exp(0.5 + 0.25**2 / 2), 0.5)
    g = bp.empty(N).geometric_(0.25)
    ga = g.numpy()
    assert g.dtype == bp.float32 and ga.min() == 1 and (ga == np.round(ga)).all()
    _close(ga.mean(), 4.0, math.sqrt(0.75) / 0.25)  # mean 1/p, sd sqrt(1 - p)/p
    _close((ga == 1).mean(), 0.25, 0.5)
    assert bp.empty(5, dtype=bp.int64).geometric_(0.5).dtype == bp.int64


def test_random_ranges_per_dtype() -> None:
    bp.manual_seed(2)
    r = bp.empty(N, dtype=bp.int64).random_(3, 7).numpy()
    assert set(np.unique(r)) == {3, 4, 5, 6}
    r = bp.empty(N, dtype=bp.int32).random_(5).numpy()  # one argument: [0, 5)
    assert set(np.unique(r)) == {0, 1, 2, 3, 4}
    assert bp.empty(N, dtype=bp.int32).random_(to=3).numpy().max() == 2
    r = bp.empty(1000, dtype=bp.int8).random_(100, None).numpy()  # from with to=None: up to the dtype's max
    assert r.min() >= 100 and r.max() <= 127 and r.max() > 120
    u8 = bp.empty(N, dtype=bp.uint8).random_().numpy()
    assert u8.dtype == np.uint8 and u8.min() == 0 and u8.max() == 255
    assert set(np.unique(bp.empty(100, dtype=bp.bool).random_().numpy())) == {False, True}
    f = bp.empty(N).random_().numpy()  # floats: integers in [0, 2^24]
    assert (f == np.round(f)).all() and f.min() >= 0 and f.max() <= 2**24 and f.max() > 2**23
    i64 = bp.empty(N, dtype=bp.int64).random_().numpy()
    assert i64.min() >= 0 and i64.max() > 2**62
    assert (bp.empty(10).random_(-5, -2).numpy() < -2).all()


def test_bernoulli_inplace_and_out_of_place() -> None:
    bp.manual_seed(3)
    b = bp.empty(N).bernoulli_(0.3).numpy()
    assert set(np.unique(b)) == {0.0, 1.0}
    _close(b.mean(), 0.3, math.sqrt(0.21))
    p = bp.tensor([[0.0, 1.0, 0.5]], dtype=bp.float64)
    out = bp.empty(1000, 3, dtype=bp.int64).bernoulli_(p).numpy()  # a tensor p, broadcast
    assert (out[:, 0] == 0).all() and (out[:, 1] == 1).all() and 400 < out[:, 2].sum() < 600
    probs = bp.full((N,), 0.8)
    s = bp.bernoulli(probs)
    assert s.dtype == bp.float32 and s.shape == (N,)
    _close(s.numpy().mean(), 0.8, 0.4)
    assert (probs.bernoulli(0.0).numpy() == 0).all() and (bp.bernoulli(probs, p=1.0).numpy() == 1).all()
    assert bp.bernoulli(bp.ones(4, dtype=bp.float64)).dtype == bp.float64


def test_in_place_samplers_return_self_bump_version_and_refuse_leaves_that_require_grad() -> None:
    x = bp.zeros(4)
    v = x._version
    assert x.uniform_() is x and x._version == v + 1
    w = bp.zeros(3, requires_grad=True)
    for call in (lambda: w.uniform_(), lambda: w.normal_(), lambda: w.exponential_(), lambda: w.bernoulli_()):
        with pytest.raises(RuntimeError, match="requires grad"):
            call()
    with pytest.raises(RuntimeError, match="part of a graph"):
        (w * 1).uniform_()  # torch allows this (zero gradient); here it is refused rather than half-supported
    with bp.no_grad():
        w.normal_()
    assert w.requires_grad and not (w.detach().numpy() == 0).all()


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: bp.empty(3).uniform_(2, 1), RuntimeError, "from=2 > to=1"),
        (lambda: bp.empty(3, dtype=bp.int64).uniform_(), NotImplementedError, "int64"),
        (lambda: bp.empty(3).normal_(0, -1), RuntimeError, "std >= 0.0"),
        (lambda: bp.empty(3, dtype=bp.int64).normal_(), NotImplementedError, "int64"),
        (lambda: bp.empty(3).exponential_(0), RuntimeError, "lambda > 0.0"),
        (lambda: bp.empty(3, dtype=bp.int64).exponential_(), RuntimeError, "floating"),
        (lambda: bp.empty(3).cauchy_(0, 0), RuntimeError, "sigma > 0.0"),
        (lambda: bp.empty(3).log_normal_(1, 0), RuntimeError, "std > 0.0"),
        (lambda: bp.empty(3).geometric_(1), RuntimeError, r"\(0, 1\)"),
        (lambda: bp.empty(3).bernoulli_(1.5), RuntimeError, r"\[0, 1\]"),
        (lambda: bp.empty(3, dtype=bp.int64).random_(5, 2), RuntimeError, "from=5 >= to=2"),
        (lambda: bp.empty(3, dtype=bp.uint8).random_(0, 300), RuntimeError, "out of bounds"),
        (lambda: bp.empty(3, dtype=bp.int8).random_(-200, 0), RuntimeError, "out of bounds"),
        (lambda: bp.bernoulli(bp.tensor([0.5, 1.5])), RuntimeError, "0 <= p <= 1"),
        (lambda: bp.bernoulli(bp.tensor([0, 1])), NotImplementedError, "int64"),
    ],
)
def test_sampler_errors(call, exc, match) -> None:  # noqa: ANN001
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------- multinomial
def test_multinomial_with_replacement_frequencies() -> None:
    bp.manual_seed(4)
    p = bp.tensor([[1.0, 2.0, 0.0, 7.0], [0.0, 0.0, 5.0, 5.0]])  # unnormalised weights
    s = bp.multinomial(p, N // 10, replacement=True)
    assert s.dtype == bp.int64 and s.shape == (2, N // 10)
    a = s.numpy()
    freq0 = np.bincount(a[0], minlength=4) / a.shape[1]
    np.testing.assert_allclose(freq0, [0.1, 0.2, 0.0, 0.7], atol=0.01)
    assert freq0[2] == 0 and set(np.unique(a[1])) == {2, 3}
    one = p[0].multinomial(7, replacement=True)
    assert one.shape == (7,) and one.dtype == bp.int64


def test_multinomial_without_replacement() -> None:
    bp.manual_seed(5)
    p = bp.tensor([0.1, 0.2, 0.3, 0.4])
    firsts = np.array([bp.multinomial(p, 4).numpy() for _ in range(4000)])
    assert all(sorted(row) == [0, 1, 2, 3] for row in firsts)  # each row a permutation: no repeats
    np.testing.assert_allclose(np.bincount(firsts[:, 0], minlength=4) / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    # P(second = 0 | first = 3) = 0.1 / 0.6, as sequential draws without replacement give
    second = firsts[firsts[:, 0] == 3, 1]
    assert abs((second == 0).mean() - 1 / 6) < 0.05
    z = bp.multinomial(bp.tensor([0.0, 1.0, 1.0]), 3).numpy()  # zero-probability categories come last
    assert z[2] == 0 and sorted(z[:2]) == [1, 2]
    assert bp.multinomial(bp.ones(0, 3), 2).shape == (0, 2)


@pytest.mark.parametrize(
    ("probs", "n", "replacement", "match"),
    [
        ([0.2, 0.8], 3, False, "without replacement"),
        ([-0.1, 1.0], 1, False, "element < 0"),
        ([float("nan"), 1.0], 1, True, "nan"),
        ([float("inf"), 1.0], 1, True, "inf"),
        ([0.0, 0.0], 1, True, "sum of probabilities <= 0"),
        ([0.2, 0.8], 0, True, "n_sample <= 0"),
        ([[[1.0]]], 1, True, "1 or 2 dim"),
    ],
)
def test_multinomial_errors(probs, n, replacement, match) -> None:  # noqa: ANN001
    with pytest.raises(RuntimeError, match=match):
        bp.multinomial(bp.tensor(probs), n, replacement)


def test_multinomial_needs_floating_input() -> None:
    with pytest.raises(RuntimeError, match="floating-point"):
        bp.tensor([1, 2]).multinomial(1)


# ---------------------------------------------------------------- factories: randperm, normal, poisson, randint_like
def test_randperm() -> None:
    bp.manual_seed(6)
    p = bp.randperm(50)
    assert p.dtype == bp.int64 and sorted(p.tolist()) == list(range(50))
    assert bp.randperm(0).shape == (0,)
    f = bp.randperm(5, dtype=bp.float32, requires_grad=True)
    assert f.dtype == bp.float32 and f.requires_grad and sorted(f.tolist()) == [0, 1, 2, 3, 4]
    firsts = np.bincount([bp.randperm(4)[0].item() for _ in range(4000)], minlength=4) / 4000
    np.testing.assert_allclose(firsts, 0.25, atol=0.03)
    with pytest.raises(RuntimeError, match="negative dimension"):
        bp.randperm(-1)
    with pytest.raises(RuntimeError, match="too large"):
        bp.randperm(300, dtype=bp.uint8)
    with pytest.raises(NotImplementedError):
        bp.randperm(2, dtype=bp.bool)
    with pytest.raises(RuntimeError):
        bp.randperm(3, requires_grad=True)  # int64 cannot require grad


def test_normal_overloads() -> None:
    bp.manual_seed(7)
    a = bp.normal(2.0, 3.0, (N,))
    assert a.dtype == bp.float32 and a.shape == (N,)
    _close(a.numpy().mean(), 2.0, 3.0)
    assert abs(a.numpy().std() - 3.0) < 0.03
    assert bp.normal(0.0, 1.0, size=(2, 3), dtype=bp.float64).dtype == bp.float64
    mean = bp.tensor([[-10.0], [10.0]], dtype=bp.float64)
    std = bp.tensor([0.5, 1.0, 2.0])
    b = bp.normal(mean, std)  # broadcast; mean's dtype
    assert b.shape == (2, 3) and b.dtype == bp.float64
    big = bp.normal(bp.full((N,), 5.0), 0.5).numpy()
    _close(big.mean(), 5.0, 0.5)
    assert abs(big.std() - 0.5) < 0.01
    c = bp.normal(1.0, bp.full((N,), 2.0, dtype=bp.float64))  # number mean: std's dtype
    assert c.dtype == bp.float64
    _close(c.numpy().mean(), 1.0, 2.0)
    assert bp.normal(bp.zeros(4)).shape == (4,)  # std defaults to 1
    assert (bp.normal(bp.ones(3), bp.zeros(3)).numpy() == 1).all()


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: bp.normal(0.0, 1.0), TypeError, "size is required"),
        (lambda: bp.normal(bp.zeros(2), bp.ones(2), (2,)), TypeError, "size"),
        (lambda: bp.normal(0.0, -1.0, (2,)), RuntimeError, "std >= 0.0"),
        (lambda: bp.normal(bp.zeros(2), -1.0), RuntimeError, "std >= 0.0"),
        (lambda: bp.normal(bp.zeros(2), bp.tensor([1.0, -1.0])), RuntimeError, "all elements of std"),
        (lambda: bp.normal(bp.zeros(2, dtype=bp.int64), 1.0), NotImplementedError, "int64"),
        (lambda: bp.normal(bp.zeros(3), bp.ones(4)), ValueError, "broadcast"),
        (lambda: bp.poisson(bp.tensor([-1.0])), RuntimeError, "non-negative"),
        (lambda: bp.poisson(bp.tensor([1])), NotImplementedError, "int64"),
        (lambda: bp.randint_like(bp.zeros(3), 10, 5), RuntimeError, "from=10 >= to=5"),
        (lambda: bp.randint(5, 5, (2,)), RuntimeError, "from=5 >= to=5"),
    ],
)
def test_factory_errors(call, exc, match) -> None:  # noqa: ANN001
    with pytest.raises(exc, match=match):
        call()


def test_poisson_and_randint_like() -> None:
    bp.manual_seed(8)
    rates = bp.full((N,), 4.0, dtype=bp.float64)
    s = bp.poisson(rates)
    a = s.numpy()
    assert s.dtype == bp.float64 and (a == np.round(a)).all()
    _close(a.mean(), 4.0, 2.0)
    assert abs(a.var() - 4.0) < 0.1
    assert (bp.poisson(bp.zeros(5)).numpy() == 0).all()
    r = bp.randint_like(bp.zeros(1000, dtype=bp.int32), 5, 8)
    assert r.dtype == bp.int32 and set(np.unique(r.numpy())) == {5, 6, 7}
    r = bp.randint_like(bp.zeros(2, 3), 4)  # one bound: high
    assert r.dtype == bp.float32 and r.shape == (2, 3) and r.numpy().max() < 4
    assert bp.randint_like(bp.zeros(3), high=2, dtype=bp.int64).dtype == bp.int64
    r = bp.randint(6, (2, 500))  # torch's randint(high, size)
    assert r.shape == (2, 500) and r.dtype == bp.int64 and set(np.unique(r.numpy())) == set(range(6))
    r = bp.randint(-3, 3, size=(1000,), dtype=bp.int32)
    assert r.dtype == bp.int32 and set(np.unique(r.numpy())) == set(range(-3, 3))


def test_samples_of_inputs_that_require_grad_have_zero_gradients() -> None:
    m = bp.zeros(3, requires_grad=True)
    s = bp.ones(3, requires_grad=True)
    p = bp.full((3,), 0.5, requires_grad=True)
    rate = bp.full((3,), 2.0, requires_grad=True)
    outs = [bp.normal(m, s), bp.normal(m, 2.0), bp.normal(0.0, s), bp.bernoulli(p), bp.poisson(rate)]
    assert all(o.requires_grad for o in outs)
    sum(o.sum() for o in outs).backward()
    for t in (m, s, p, rate):
        assert t.grad is not None and (t.grad.numpy() == 0).all()
    with bp.no_grad():
        assert not bp.bernoulli(p).requires_grad


# ---------------------------------------------------------------- seeds, states, generators
def test_manual_seed_repeats_every_sampler() -> None:
    def draw() -> list:
        return [
            bp.rand(3).tolist(),
            bp.empty(3).uniform_().tolist(),
            bp.empty(3).normal_().tolist(),
            bp.empty(3, dtype=bp.int64).random_().tolist(),
            bp.empty(3).exponential_().tolist(),
            bp.empty(3).cauchy_().tolist(),
            bp.empty(3).log_normal_().tolist(),
            bp.empty(3).geometric_(0.2).tolist(),
            bp.empty(3).bernoulli_().tolist(),
            bp.multinomial(bp.ones(5), 3).tolist(),
            bp.randperm(6).tolist(),
            bp.normal(bp.zeros(3), 1.0).tolist(),
            bp.poisson(bp.full((3,), 3.0)).tolist(),
            bp.randint_like(bp.zeros(3), 100).tolist(),
        ]

    g = bp.manual_seed(123)
    assert g is bp.default_generator and bp.initial_seed() == 123
    first = draw()
    bp.manual_seed(123)
    assert draw() == first
    bp.manual_seed(124)
    assert draw() != first


def test_rng_state_round_trip() -> None:
    bp.manual_seed(9)
    bp.rand(5)
    state = bp.get_rng_state()
    assert isinstance(state, bp.Tensor) and state.dtype == bp.uint8 and state.ndim == 1
    a = [bp.rand(4).tolist(), bp.randperm(8).tolist(), bp.empty(3).normal_().tolist()]
    bp.set_rng_state(state)
    assert [bp.rand(4).tolist(), bp.randperm(8).tolist(), bp.empty(3).normal_().tolist()] == a
    bp.set_rng_state(state.clone())  # a copy restores the same point
    assert bp.rand(4).tolist() == a[0]
    with pytest.raises(TypeError, match="uint8"):
        bp.set_rng_state([1, 2, 3])
    with pytest.raises(TypeError, match="uint8"):
        bp.set_rng_state(bp.zeros(3))
    with pytest.raises(RuntimeError, match="CPUGeneratorImplState of size 5056"):  # torch's layout and message
        bp.set_rng_state(bp.tensor([1, 2, 3], dtype=bp.uint8))


def test_seed_and_initial_seed() -> None:
    s = bp.seed()
    assert isinstance(s, int) and bp.initial_seed() == s
    a = bp.rand(3).tolist()
    bp.manual_seed(s)
    assert bp.rand(3).tolist() == a
    bp.manual_seed(-1)  # negative seeds wrap to uint64, as torch's
    assert bp.initial_seed() == 2**64 - 1


def test_generator_has_its_own_stream() -> None:
    g = bp.Generator()
    assert g.initial_seed() == 67280421310721 and g.device == "cpu"
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    bp.manual_seed(0)
    a = bp.rand(3).tolist()
    bp.manual_seed(0)
    with_g = [bp.rand(2, generator=g).tolist(), bp.empty(2).normal_(generator=g).tolist()]
    assert bp.rand(3).tolist() == a  # the global stream did not move
    g2 = bp.Generator().manual_seed(5)
    assert [bp.rand(2, generator=g2).tolist(), bp.empty(2).normal_(generator=g2).tolist()] == with_g
    state = g.get_state()
    x = bp.randperm(10, generator=g).tolist()
    assert g.set_state(state) is g and bp.randperm(10, generator=g).tolist() == x
    samplers = [
        lambda gen: bp.randn(3, generator=gen),
        lambda gen: bp.randint(0, 9, (3,), generator=gen),
        lambda gen: bp.multinomial(bp.ones(4), 2, generator=gen),
        lambda gen: bp.bernoulli(bp.full((3,), 0.5), generator=gen),
        lambda gen: bp.normal(bp.zeros(3), 1.0, generator=gen),
        lambda gen: bp.poisson(bp.ones(3), gen),
        lambda gen: bp.empty(3).random_(generator=gen),
        lambda gen: bp.empty(3).exponential_(generator=gen),
        lambda gen: bp.randint_like(bp.zeros(3), 10, generator=gen),
    ]
    for sample in samplers:
        assert sample(bp.Generator().manual_seed(1)).tolist() == sample(bp.Generator().manual_seed(1)).tolist()
    s = g.seed()
    assert g.initial_seed() == s


def test_default_generator_state_is_the_global_state() -> None:
    bp.manual_seed(10)
    state = bp.default_generator.get_state()
    a = bp.rand(3).tolist()
    bp.set_rng_state(state)
    assert bp.rand(3, generator=bp.default_generator).tolist() == a
    bp.default_generator.manual_seed(10)
    assert bp.rand(3).tolist() == a and bp.initial_seed() == 10


# ---------------------------------------------------------------- bp.compile: samplers draw anew at each replay
def test_samplers_inside_a_compiled_step_match_eager() -> None:
    w = bp.ones(4, requires_grad=True)
    buf = bp.zeros(4)

    def step() -> bp.Tensor:
        w.grad = None
        buf.uniform_(-1.0, 1.0)
        mask = bp.bernoulli(bp.full((4,), 0.5))
        noise = bp.normal(bp.zeros(4), 2.0)
        (w * buf * mask + noise).sum().backward()
        return w.grad * 1.0 + noise * 0 + bp.randperm(4).float()

    bp.manual_seed(12)
    eager = [step().tolist() for _ in range(6)]
    bp.manual_seed(12)
    fn = bp.compile(step)
    compiled = [fn().tolist() for _ in range(6)]
    assert fn.replays == 4 and eager == compiled and len({tuple(e) for e in eager}) == 6


# ---------------------------------------------------------------- torch: what does not depend on the stream
@pytest.fixture
def torch():  # noqa: ANN201
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def test_dtypes_and_shapes_match_torch(torch) -> None:  # noqa: ANN001
    cases = [
        (lambda m: m.randperm(5), None),
        (lambda m: m.randperm(5, dtype=m.float64), None),
        (lambda m: m.normal(0.0, 1.0, (2, 3)), None),
        (lambda m: m.normal(m.zeros(3, 1, dtype=m.float64), m.ones(2)), None),
        (lambda m: m.normal(1.0, m.ones(2, dtype=m.float64)), None),
        (lambda m: m.poisson(m.ones(2, 2)), None),
        (lambda m: m.randint_like(m.zeros(3, dtype=m.int32), 4), None),
        (lambda m: m.multinomial(m.ones(3, 4), 2), None),
        (lambda m: m.ones(4).multinomial(9, replacement=True), None),
        (lambda m: m.bernoulli(m.ones(2, dtype=m.float64)), None),
        (lambda m: m.zeros(3, dtype=m.int64).bernoulli_(0.5), None),
        (lambda m: m.zeros(3, dtype=m.int64).geometric_(0.5), None),
        (lambda m: m.zeros(3, dtype=m.uint8).random_(), None),
        (lambda m: m.zeros(3, dtype=m.float16).uniform_(), None),
    ]
    for make, _ in cases:
        ours, theirs = make(bp), make(torch)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "") and ours.shape == tuple(theirs.shape)


def test_error_types_match_torch(torch) -> None:  # noqa: ANN001
    calls = [
        lambda m: m.empty(3).uniform_(2, 1),
        lambda m: m.empty(3, dtype=m.int64).uniform_(),
        lambda m: m.empty(3).normal_(0, -1),
        lambda m: m.empty(3).exponential_(-1),
        lambda m: m.empty(3, dtype=m.int64).cauchy_(),
        lambda m: m.empty(3).geometric_(0),
        lambda m: m.empty(3).bernoulli_(2.0),
        lambda m: m.empty(3, dtype=m.int64).random_(5, 2),
        lambda m: m.multinomial(m.tensor([0.2, 0.8]), 3),
        lambda m: m.multinomial(m.tensor([-0.2, 0.8]), 1),
        lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1, True),
        lambda m: m.multinomial(m.ones(2, 2, 2), 1),
        lambda m: m.randperm(-1),
        lambda m: m.normal(0.0, 1.0),
        lambda m: m.normal(0.0, -1.0, (2,)),
        lambda m: m.poisson(m.tensor([-1.0])),
        lambda m: m.bernoulli(m.tensor([0, 1])),
        lambda m: m.zeros(3, requires_grad=True).uniform_(),
        lambda m: m.set_rng_state([1, 2]),
        lambda m: m.normal(m.zeros(3), m.ones(4)),
        lambda m: m.empty(2).bernoulli_(m.tensor([1.0, 0.0, 1.0])),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(Exception) as theirs:
            call(torch)
        with pytest.raises(Exception) as ours:
            call(bp)
        assert isinstance(ours.value, type(theirs.value)), (i, ours.value, theirs.value)


def test_zero_gradients_match_torch(torch) -> None:  # noqa: ANN001
    for m in (bp, torch):
        mean = m.zeros(3, requires_grad=True)
        p = m.full((3,), 0.5, requires_grad=True)
        out = m.normal(mean, 1.0).sum() + m.bernoulli(p).sum() + m.poisson(p).sum()
        assert out.requires_grad
        out.backward()
        assert mean.grad.tolist() == [0.0] * 3 and p.grad.tolist() == [0.0] * 3
