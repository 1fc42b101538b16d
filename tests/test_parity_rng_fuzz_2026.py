"""Fuzzing the claim that backprop's CPU random streams are torch's bit for bit: after ``manual_seed`` the
same calls give the same bits in both libraries, and leave both streams at the same point. Each case here
failed once: float16/bfloat16 samples of the double samplers (rounded twice by torch, through float),
``trunc_normal_`` of a tensor not in C order, ``rrelu``'s slopes, ``WeightedRandomSampler``'s indices and
``Generator.clone_state``/offsets."""

# ruff: noqa: B023  (each lambda runs at once, inside its loop iteration)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare against torch")


def _np(t: Any) -> np.ndarray:
    """A tensor of either library as a NumPy array (bfloat16 as its raw uint16 bits)."""
    if isinstance(t, bp.Tensor):
        a = t.detach().numpy()
        return a.view(np.uint16) if a.dtype.itemsize == 2 and a.dtype.kind == "V" else a
    if t.dtype == torch.bfloat16:
        return t.detach().view(torch.int16).numpy().view(np.uint16)
    return t.detach().numpy()


def same(a: Any, b: Any) -> None:
    """Equal bits, shape and dtype."""
    x, y = _np(a), _np(b)
    assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, x.dtype, y.shape, y.dtype)
    assert x.tobytes() == y.tobytes(), f"{int((x != y).sum())} of {x.size} differ"


def both(seed: int, fn: Callable[[Any], Any]) -> None:
    """``fn(library)`` after ``library.manual_seed(seed)`` gives the same bits (a list: each), and the next
    draw agrees too."""
    bp.manual_seed(seed)
    torch.manual_seed(seed)
    ours, theirs = fn(bp), fn(torch)
    for a, b in zip(ours, theirs) if isinstance(ours, list) else [(ours, theirs)]:
        same(a, b)
    same(bp.randint(0, 2**62, (2,)), torch.randint(0, 2**62, (2,)))


SAMPLERS = {
    "normal_": (1.0, 2.0),
    "exponential_": (1.5,),
    "cauchy_": (0.0, 1.0),
    "log_normal_": (0.0, 1.0),
}


# ---------------------------------------------------------------- float16 / bfloat16 from double samples
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_half_samples_of_double_samplers_round_through_float(name: str, half: str) -> None:
    """torch's serial samplers make a double and ``static_cast`` it to Half/BFloat16, whose constructors
    take a float: the value rounds twice (a direct double -> float16 rounding differs by an ulp now and then)."""
    args = SAMPLERS[name]
    rows = 1000 if half == "float16" else 40000  # (a float32 lands on a bfloat16 tie once in 2^16 or so)
    for seed in (0, 1, 2):
        both(seed, lambda L: getattr(L.empty(rows, 4, dtype=getattr(L, half)).t(), name)(*args))  # not contiguous
        both(seed, lambda L: getattr(L.empty(15, dtype=getattr(L, half)), name)(*args))
    if name != "normal_":  # (a contiguous normal_ of 16 or more is the float32 Box-Muller fill)
        both(0, lambda L: getattr(L.empty(4 * rows, dtype=getattr(L, half)), name)(*args))


def test_half_randn_like_of_a_transposed_tensor() -> None:
    for seed in (0, 1, 2, 2**40 + 3):
        both(seed, lambda L: L.randn_like(L.zeros(1000, 3, dtype=L.float16).t()))
        both(seed, lambda L: L.zeros(3, 1000, dtype=L.bfloat16).t().normal_())


def test_double_rounding_by_hand() -> None:
    """A double halfway between two float16 values after rounding to float32, but not before: C++'s
    ``static_cast<at::Half>(double)`` (through float) rounds it to even, a direct rounding goes up."""
    from backprop.backends import torch_rng

    v = np.array([1 + 2**-11 + 2**-40])  # rounds to float32 1 + 2^-11, a float16 tie -> 1.0
    assert torch_rng.cast(v, np.dtype(np.float16))[0] == 1.0
    assert v.astype(np.float16)[0] != 1.0  # (NumPy's one rounding)
    assert float(torch.tensor(v).to(torch.float32).to(torch.float16)) == 1.0


# ---------------------------------------------------------------- nn.init.trunc_normal_ not in C order
@pytest.mark.parametrize("args", [(), (1.0, 2.0, -1.0, 3.0), (0.0, 1.0, 1.0, 2.0), (0.0, 1.0, -3.0, -0.6)])
@pytest.mark.parametrize("shape", [(5, 4), (16, 16), (17, 3), (8, 3, 3, 3)])
def test_trunc_normal_of_tensors_not_in_c_order(shape: tuple, args: tuple) -> None:
    """Each redraw round's ``empty_like`` keeps the tensor's layout in torch (so the normal_ of a transposed
    tensor takes the scalar path, in memory order, every round)."""
    rev = tuple(range(len(shape) - 1, -1, -1))
    for seed in (0, 1):
        both(seed, lambda L: L.nn.init.trunc_normal_(L.empty(shape[::-1]).permute(*rev), *args))
        both(seed, lambda L: (lambda z: (L.nn.init.trunc_normal_(z[..., 1:3], *args), z)[1])(L.zeros(*shape[:-1], 4)))
        both(seed, lambda L: L.nn.init.trunc_normal_(L.empty(shape), *args))


# ---------------------------------------------------------------- rrelu
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("shape", [(7,), (5, 6), (2, 3, 17)])
def test_rrelu_slopes_are_torchs(shape: tuple, dtype: str) -> None:
    """torch draws a U(lower, upper) slope (53 bits, bounds in the math type) only for each element <= 0,
    in C order: mixed signs and transposed inputs keep the stream in step."""
    n = int(np.prod(shape))
    for seed in (0, 5):
        both(
            seed,
            lambda L: L.nn.functional.rrelu(L.arange(n, dtype=getattr(L, dtype)).reshape(shape) - 10, training=True),
        )
        both(
            seed,
            lambda L: L.nn.functional.rrelu(
                L.arange(n, dtype=getattr(L, dtype)).reshape(shape[::-1]).mT - 20 if len(shape) > 1 else -L.ones(n),
                0.1,
                0.7,
                training=True,
            ),
        )
        both(seed, lambda L: L.nn.RReLU(0.2, 0.4)(L.randn(shape, dtype=getattr(L, dtype))))
        both(seed, lambda L: L.rrelu_(L.randn(shape, dtype=getattr(L, dtype)), training=True))


def test_rrelu_gradient_is_its_slopes_zero_included() -> None:
    def run(L: Any) -> list:
        x = L.tensor([0.0, -1.0, 1.0, 0.0, -2.5, 3.0], requires_grad=True)
        y = L.nn.functional.rrelu(x, training=True)
        y.sum().backward()
        return [y, x.grad]

    both(0, run)
    both(9, run)


@pytest.mark.parametrize("dtype", ["float16", "int64", "complex64"])
def test_rrelu_training_refuses_dtypes_torchs_cpu_kernel_lacks(dtype: str) -> None:
    name = {"float16": "Half", "int64": "Long", "complex64": "ComplexFloat"}[dtype]
    for lib in (bp, torch):
        x = lib.ones(3, dtype=getattr(lib, dtype))
        with pytest.raises(NotImplementedError, match=f"\"rrelu_with_noise_out_cpu\" not implemented for '{name}'"):
            lib.nn.functional.rrelu(x, training=True)
    same(
        bp.nn.functional.rrelu(bp.ones(3, dtype=bp.float16)),
        torch.nn.functional.rrelu(torch.ones(3, dtype=torch.float16)),
    )


# ---------------------------------------------------------------- samplers of torch.utils.data
def test_weighted_random_sampler_draws_torchs_indices() -> None:
    def run(L: Any) -> list:
        data = L.utils.data
        out = [list(data.WeightedRandomSampler([0.1, 0.5, 0.2, 0.2], 10)) for _ in range(3)]
        out += [list(data.WeightedRandomSampler(L.tensor([0.0, 1, 2, 3, 0]), 3, replacement=False))]
        g = L.Generator().manual_seed(4)
        out += [list(data.WeightedRandomSampler([1.0, 2.0, 3.0], 7, generator=g)) for _ in range(2)]
        loader = data.DataLoader(L.arange(20), batch_size=4, sampler=data.WeightedRandomSampler(L.ones(20), 12))
        out += [b.tolist() for b in loader]
        return [L.tensor(o) for o in out]

    for seed in (0, 1, 77):
        both(seed, run)
    for weights, replacement, match in [
        ([1.0, float("nan")], True, "invalid multinomial distribution \\(encountering probability entry < 0\\)"),
        ([0.0, 0.0], True, "invalid multinomial distribution \\(sum of probabilities <= 0\\)"),
        ([-1.0, 1.0, 1.0], False, "probability tensor contains either `inf`, `nan` or element < 0"),
        ([1.0, 1.0], False, "^cannot sample n_sample > prob_dist.size\\(-1\\) samples without replacement$"),
    ]:
        for lib in (bp, torch):
            with pytest.raises(RuntimeError, match=match):
                list(lib.utils.data.WeightedRandomSampler(weights, 2 if replacement else 3, replacement=replacement))


# ---------------------------------------------------------------- Generator methods of torch 2.13
def test_generator_clone_state() -> None:
    def run(L: Any) -> list:
        g = L.Generator().manual_seed(3)
        L.randn(1, generator=g)  # leaves a cached normal sample: the clone carries it
        c = g.clone_state()
        assert type(c) is L.Generator and c is not g and c.initial_seed() == 3 and str(c.device) == "cpu"
        a, b = L.randn(5, generator=g), L.randn(5, generator=c)
        L.randn(1)
        d = L.default_generator.clone_state()
        return [a, b, L.rand(4, generator=d), L.rand(4)]

    both(0, run)


def test_generator_offsets_and_graphsafe_states_are_refused_on_the_cpu() -> None:
    for lib in (bp, torch):
        g = lib.Generator()
        for call in (g.get_offset, lambda: g.set_offset(5)):
            with pytest.raises(RuntimeError, match="^CPU Generator does not use offset$"):
                call()
        with pytest.raises(NotImplementedError, match="^graphsafe_get_state is not supported in this Generator$"):
            g.graphsafe_get_state()
        with pytest.raises(NotImplementedError, match="^graphsafe_set_state is not supported in this Generator$"):
            g.graphsafe_set_state(g)


@pytest.mark.parametrize(
    "weights",
    [[1.0, float("nan")], [0.0, 0.0], [-1.0, 1.0], [1.0, float("inf")], [1.0, float("-inf")], [[1.0, 2.0], [0.0, 0.0]]],
)
def test_multinomial_errors_per_path_are_torchs(weights: list) -> None:
    """Drawing two or more with replacement, torch's kernel words a bad entry itself; the sum check has no
    prefix."""
    for n, replacement in ((1, True), (2, True), (1, False), (2, False)):
        for dtype in ("float64", "float32"):
            try:
                torch.multinomial(torch.tensor(weights, dtype=getattr(torch, dtype)), n, replacement)
            except RuntimeError as e:
                message = str(e)
            with pytest.raises(RuntimeError) as info:
                bp.multinomial(bp.tensor(weights, dtype=getattr(bp, dtype)), n, replacement)
            assert str(info.value) == message


# ---------------------------------------------------------------- torch.distributions
@pytest.mark.parametrize("kappa", [0.5, 4.0, 20.0])
def test_von_mises_samples_are_torchs(kappa: float) -> None:
    """torch's rejection loop lets a later acceptance replace an earlier one; keeping the first gave other
    (equally distributed) numbers."""
    for seed in (0, 1):
        both(seed, lambda L: L.distributions.VonMises(L.zeros(50), L.ones(50) * kappa).sample((4,)))
        both(
            seed,
            lambda L: L.distributions.VonMises(
                L.ones(30, dtype=L.float64), L.full((30,), kappa, dtype=L.float64)
            ).sample(),
        )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("alpha", [0.01, 0.3, 1.0, 2.5, 30.0])
def test_gamma_family_samples_are_torchs(alpha: float, dtype: str) -> None:
    """ATen's ``sample_gamma`` (Marsaglia-Tsang with the scalar normal's cached sample, float constants, alpha
    boosted below 1) per element; Gamma clamps to tiny after dividing by the rate; Dirichlet and Beta draw the
    gammas in float64 and normalise there (float32 here: torch sums float64 rows in its own order)."""

    def run(L: Any) -> list:
        d, t = L.distributions, getattr(L, dtype)
        a = L.full((5,), alpha, dtype=t)
        out = [d.Gamma(a, L.ones(5, dtype=t) * 2).sample((4,)), d.Chi2(a).rsample((3,)), d.StudentT(a).rsample((3,))]
        out += [d.Gamma(L.full((5, 1), alpha, dtype=t), L.ones(3, dtype=t)).sample(), L.rand(3)]  # the stream after
        a32 = L.full((3, 5), alpha)
        return [*out, d.Dirichlet(a32).sample((2,)), d.Beta(a, L.ones(5, dtype=t) * 2).sample((4,))]

    for seed in (0, 1):
        both(seed, run)


def test_gamma_mixed_concentrations_and_gradient_still_flows() -> None:
    both(4, lambda L: L.distributions.Gamma(L.tensor([0.1, 5.0, 0.5, 30.0]), 1.0).sample((10,)))
    a = bp.tensor([0.5, 2.0, 7.0], requires_grad=True)
    bp.distributions.Dirichlet(a).rsample().pow(2).sum().backward()
    assert a.grad is not None and bool(bp.isfinite(a.grad).all()) and bool((a.grad != 0).any())


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_poisson_is_torchs(dtype: str) -> None:
    """Hoermann's transformed rejection for rates >= 10, the product of uniforms below; in C order of the
    rates, a transposed input included; ``Poisson`` and ``NegativeBinomial`` follow."""
    rates = [[0.0, 0.5, 3.0, 12.0], [100.0, 1e4, 9.99, 2.0]]

    def run(L: Any) -> list:
        t = getattr(L, dtype)
        out = [L.poisson(L.tensor(rates, dtype=t).t()), L.poisson(L.tensor(4.0, dtype=t))]
        out += [L.distributions.Poisson(L.tensor(rates, dtype=t)).sample((3,))]
        if dtype in ("float16", "bfloat16"):  # (its gamma: torch's CPU kernel has no half types)
            return out
        return [*out, L.distributions.NegativeBinomial(3, probs=L.full((5,), 0.3, dtype=t)).sample((4,))]

    for seed in (0, 1):
        both(seed, run)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_gamma_refuses_half_types_as_torchs_cpu_kernel(dtype: str) -> None:
    name = {"float16": "Half", "bfloat16": "BFloat16"}[dtype]
    for lib in (bp, torch):
        with pytest.raises(NotImplementedError, match=f"^\"gamma_cpu\" not implemented for '{name}'$"):
            lib.distributions.Gamma(lib.ones(3, dtype=getattr(lib, dtype)), 1.0).sample()


def test_draws_beyond_the_scalar_samplers_limit_take_numpys_vectorised_samplers() -> None:
    """torch's per-element Poisson and gamma samplers are Python loops here (6-10 us an element): draws larger than
    ``SCALAR_SAMPLERS_MAX`` take NumPy's algorithms on the same stream (README), which must still be the right
    distributions (closed-form moments) in the right dtypes, above torch's smallest-normal clamp for gamma."""
    from backprop.backends import torch_rng

    n = 20 * torch_rng.SCALAR_SAMPLERS_MAX
    bp.manual_seed(3)
    counts = bp.poisson(bp.full((n,), 4.0))
    assert counts.dtype == bp.float32 and float(counts.min()) >= 0 and bool((counts == counts.round()).all())
    assert abs(float(counts.mean()) - 4.0) < 0.1 and abs(float(counts.var()) - 4.0) < 0.3
    g = bp.distributions.Gamma(bp.full((n,), 2.5, dtype=bp.float64), bp.full((n,), 2.0, dtype=bp.float64)).sample()
    assert g.dtype == bp.float64 and float(g.min()) >= np.finfo(np.float64).tiny
    assert abs(float(g.mean()) - 1.25) < 0.03 and abs(float(g.var()) - 0.625) < 0.05
