"""``bp.nn.init``: every initialiser against its closed form (bounds, moments, exact fills), its
errors and warnings, and torch for everything deterministic (gains, fans, exact fills, signatures,
error messages). Random values cannot match torch's stream, so they are checked by distribution."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import backprop as bp
from backprop.nn import init

NONLINEARITIES = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]


def _values(t: bp.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


# ---------------------------------------------------------------- gains and fans (closed forms)
def test_calculate_gain_closed_forms() -> None:
    for name in NONLINEARITIES[:8]:
        assert init.calculate_gain(name) == 1
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0) == math.sqrt(2.0)  # an int slope counts
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("tanh", 123) == 5.0 / 3  # param only matters for leaky_relu
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="negative_slope 0.1 not a valid number"):
        init.calculate_gain("leaky_relu", "0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")


def test_fans() -> None:
    assert init._calculate_fan_in_and_fan_out(bp.empty(3, 5)) == (5, 3)
    assert init._calculate_fan_in_and_fan_out(bp.empty(8, 4, 3, 2)) == (24, 48)
    assert init._calculate_correct_fan(bp.empty(8, 4, 3), "FAN_OUT") == 24
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(bp.empty(5))
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(bp.empty(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_normal_(bp.empty(4))


# ---------------------------------------------------------------- random initialisers: bounds and moments
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("nonlinearity", "a"), [("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("relu", 0)])
def test_kaiming_uniform_bound_and_std(mode: str, nonlinearity: str, a: float) -> None:
    bp.manual_seed(0)
    w = bp.empty(200, 50, 3, 3)
    fan = 50 * 9 if mode == "fan_in" else 200 * 9
    gain = math.sqrt(2.0 / (1 + a * a))  # leaky_relu(a); relu: sqrt(2)
    bound = gain * math.sqrt(3.0 / fan)
    v = _values(init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity))
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.999 * bound
    assert abs(v.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(v.mean()) < 0.01 * bound


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity", ["leaky_relu", "relu", "tanh", "linear", "selu"])
def test_kaiming_normal_std(mode: str, nonlinearity: str) -> None:
    bp.manual_seed(1)
    w = bp.empty(300, 120)
    fan = 120 if mode == "fan_in" else 300
    gain = {"leaky_relu": math.sqrt(2), "relu": math.sqrt(2), "tanh": 5 / 3, "linear": 1, "selu": 0.75}[nonlinearity]
    v = _values(init.kaiming_normal_(w, mode=mode, nonlinearity=nonlinearity))
    std = gain / math.sqrt(fan)
    assert abs(v.std() - std) < 0.01 * std and abs(v.mean()) < 0.02 * std


def test_kaiming_default_is_he_init_with_gain_sqrt2() -> None:
    bp.manual_seed(2)
    v = _values(init.kaiming_uniform_(bp.empty(400, 100)))
    bound = math.sqrt(2) * math.sqrt(3 / 100)
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.999 * bound


def test_xavier_uniform_and_normal() -> None:
    bp.manual_seed(3)
    w = bp.empty(100, 300, 2)
    fan_in, fan_out = 600, 200
    bound = 1.5 * math.sqrt(6.0 / (fan_in + fan_out))
    v = _values(init.xavier_uniform_(w, gain=1.5))
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.999 * bound
    assert abs(v.std() - bound / math.sqrt(3)) < 0.01 * bound
    std = 2.0 * math.sqrt(2.0 / (fan_in + fan_out))
    v = _values(init.xavier_normal_(w, gain=2.0))
    assert abs(v.std() - std) < 0.01 * std


def test_uniform_normal_and_dtype() -> None:
    bp.manual_seed(4)
    w = bp.empty(500, 400, dtype=bp.float64)
    v = _values(init.uniform_(w, -3.0, 5.0))
    assert w.dtype == bp.float64 and v.min() >= -3 and v.max() <= 5
    assert abs(v.mean() - 1.0) < 0.02 and abs(v.var() - 64 / 12) < 0.05
    v = _values(init.normal_(w, mean=2.0, std=0.5))
    assert abs(v.mean() - 2.0) < 0.005 and abs(v.std() - 0.5) < 0.005
    v = _values(init.uniform_(w))  # defaults U(0, 1)
    assert v.min() >= 0 and v.max() <= 1 and abs(v.mean() - 0.5) < 0.01


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"), [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 3.0), (0.0, 1.0, 1.0, 4.0)]
)
def test_trunc_normal_bounds_and_moments(mean: float, std: float, a: float, b: float) -> None:
    from scipy.stats import truncnorm

    bp.manual_seed(5)
    w = bp.empty(400, 500)
    v = _values(init.trunc_normal_(w, mean=mean, std=std, a=a, b=b))
    assert v.min() >= a and v.max() <= b
    ref = truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert abs(v.mean() - ref.mean()) < 6 * ref.std() / math.sqrt(v.size)
    assert abs(v.std() - ref.std()) < 0.01 * ref.std()
    assert abs(np.median(v) - ref.median()) < 0.01 * std


def test_trunc_normal_far_mean_warns_and_stays_in_bounds() -> None:
    with pytest.warns(UserWarning, match="mean is more than 2 std from") as record:
        v = _values(init.trunc_normal_(bp.empty(1000), mean=10.0, std=1.0, a=-1.0, b=1.0))
    assert record[0].filename == __file__
    from scipy.stats import truncnorm

    ref = truncnorm(-11.0, -9.0, loc=10.0, scale=1.0)  # about 1 - 1/9: the mass piles up at b
    assert v.min() >= -1 and v.max() <= 1 and abs(v.mean() - ref.mean()) < 6 * ref.std() / math.sqrt(v.size)


def test_orthogonal_gives_gain_squared_identity() -> None:
    bp.manual_seed(6)
    tall = _values(init.orthogonal_(bp.empty(20, 8, dtype=bp.float64), gain=1.5))
    np.testing.assert_allclose(tall.T @ tall, 2.25 * np.eye(8), atol=1e-12)
    wide = _values(init.orthogonal_(bp.empty(6, 30), gain=2))
    np.testing.assert_allclose(wide @ wide.T, 4 * np.eye(6), atol=1e-5)
    conv = init.orthogonal_(bp.empty(16, 4, 2, 2, dtype=bp.float64))  # trailing dims flattened: (16, 16)
    flat = _values(conv).reshape(16, 16)
    assert conv.shape == (16, 4, 2, 2)
    np.testing.assert_allclose(flat @ flat.T, np.eye(16), atol=1e-12)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(bp.empty(3))
    assert init.orthogonal_(bp.empty(0, 3)).shape == (0, 3)


def test_orthogonal_is_haar_distributed() -> None:
    bp.manual_seed(7)  # a Haar Q's first entry of a 2x2 is cos(theta), theta uniform: E[q00] = 0, E[q00^2] = 1/2
    q00 = np.array([_values(init.orthogonal_(bp.empty(2, 2, dtype=bp.float64)))[0, 0] for _ in range(4000)])
    assert abs(q00.mean()) < 0.04 and abs((q00**2).mean() - 0.5) < 0.03


def test_sparse_zeros_per_column_and_std() -> None:
    bp.manual_seed(8)
    w = bp.empty(50, 400)
    v = _values(init.sparse_(w, sparsity=0.3, std=0.2))
    assert ((v == 0).sum(axis=0) == math.ceil(0.3 * 50)).all()
    nonzero = v[v != 0]
    assert abs(nonzero.std() - 0.2) < 0.005
    rows_hit = (v == 0).sum(axis=1)  # zeros spread over the rows (a random choice per column)
    assert rows_hit.min() > 0
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.sparse_(bp.empty(3, 3, 3), 0.1)


def test_generator_makes_initialisers_repeatable() -> None:
    def run(fn, *args, **kw) -> list:  # noqa: ANN001
        return [_values(fn(bp.empty(6, 5), *args, generator=bp.Generator().manual_seed(3), **kw)) for _ in range(2)]

    for fn, args in [
        (init.uniform_, ()),
        (init.normal_, ()),
        (init.trunc_normal_, ()),
        (init.xavier_uniform_, ()),
        (init.xavier_normal_, ()),
        (init.kaiming_uniform_, ()),
        (init.kaiming_normal_, ()),
        (init.orthogonal_, ()),
        (init.sparse_, (0.5,)),
    ]:
        first, second = run(fn, *args)
        np.testing.assert_array_equal(first, second)


# ---------------------------------------------------------------- exact fills
def test_constant_ones_zeros_eye() -> None:
    w = bp.empty(3, 4)
    assert (_values(init.constant_(w, 0.25)) == 0.25).all()
    assert (_values(init.ones_(w)) == 1).all() and (_values(init.zeros_(w)) == 0).all()
    np.testing.assert_array_equal(_values(init.eye_(bp.empty(3, 5))), np.eye(3, 5))
    np.testing.assert_array_equal(_values(init.eye_(bp.empty(4, 2))), np.eye(4, 2))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(bp.empty(2, 2, 2))


@pytest.mark.parametrize(("shape", "groups"), [((4, 4, 3), 1), ((6, 2, 3, 3), 3), ((3, 5, 2, 2, 3), 1), ((4, 2, 5), 2)])
def test_dirac_preserves_the_input(shape: tuple, groups: int) -> None:
    w = _values(init.dirac_(bp.empty(*shape), groups=groups))
    per_group = shape[0] // groups
    expected = np.zeros(shape)
    centre = tuple(s // 2 for s in shape[2:])
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            expected[(g * per_group + d, d) + centre] = 1
    np.testing.assert_array_equal(w, expected)
    assert w.sum() == groups * min(per_group, shape[1])


def test_dirac_errors() -> None:
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(bp.empty(3, 3))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(bp.empty(5, 2, 3), groups=2)


# ---------------------------------------------------------------- behaviour around autograd and compile
def test_parameters_stay_leaves_without_a_graph() -> None:
    layer = bp.nn.Linear(4, 3)
    for fn in (
        init.kaiming_uniform_,
        init.xavier_normal_,
        init.orthogonal_,
        init.eye_,
        init.zeros_,
        init.trunc_normal_,
    ):
        out = fn(layer.weight)
        assert out is layer.weight and out.requires_grad and out.grad_fn is None and out.is_leaf
    init.dirac_(bp.nn.Parameter(bp.empty(2, 2, 3)))


def test_zero_element_tensors_warn_for_kaiming() -> None:
    for fn in (init.kaiming_uniform_, init.kaiming_normal_):
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op") as record:
            out = fn(bp.empty(0, 3))
        assert out.shape == (0, 3) and record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.xavier_uniform_(bp.empty(0, 3))  # torch warns only in kaiming's


@pytest.mark.parametrize(
    ("old", "args"),
    [
        ("uniform", ()),
        ("normal", ()),
        ("constant", (0.5,)),
        ("eye", ()),
        ("dirac", ()),
        ("xavier_uniform", ()),
        ("xavier_normal", ()),
        ("kaiming_uniform", ()),
        ("kaiming_normal", ()),
        ("orthogonal", ()),
        ("sparse", (0.1,)),
    ],
)
def test_deprecated_names_warn_and_work(old: str, args: tuple) -> None:
    w = bp.empty(4, 4, 3) if old == "dirac" else bp.empty(4, 4)
    message = f"`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`."
    with pytest.warns(FutureWarning, match=message.replace(".", r"\.")) as record:
        out = getattr(init, old)(w, *args)
    assert out is w and record[0].filename == __file__


def test_initialisers_in_a_compiled_step_draw_anew() -> None:
    buf = bp.empty(3, 4)

    def step() -> bp.Tensor:
        init.kaiming_normal_(buf, mode="fan_out", nonlinearity="relu")
        init.trunc_normal_(buf[0], std=0.1)
        return buf * 1.0

    bp.manual_seed(9)
    eager = [step().tolist() for _ in range(5)]
    bp.manual_seed(9)
    fn = bp.compile(step)
    compiled = [fn().tolist() for _ in range(5)]
    assert fn.replays == 3 and eager == compiled and len({str(e) for e in eager}) == 5


# ---------------------------------------------------------------- torch: the deterministic parts
@pytest.fixture
def torch():  # noqa: ANN201
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def test_gains_match_torch(torch) -> None:  # noqa: ANN001
    for name in NONLINEARITIES:
        for param in (None, 0, 0.2, 3):
            ours, theirs = init.calculate_gain(name, param), torch.nn.init.calculate_gain(name, param)
            assert ours == theirs and type(ours) is type(theirs), (name, param)
    for name, param in [("leaky_relu", True), ("leaky_relu", "x"), ("swish", None)]:
        with pytest.raises(ValueError) as theirs:
            torch.nn.init.calculate_gain(name, param)
        with pytest.raises(ValueError) as ours:
            init.calculate_gain(name, param)  # type: ignore[arg-type]
        assert str(ours.value) == str(theirs.value)


def test_fans_and_errors_match_torch(torch) -> None:  # noqa: ANN001
    for shape in [(3, 5), (8, 4, 3), (6, 2, 3, 3), (2, 3, 1, 2, 4), (0, 3)]:
        ours = init._calculate_fan_in_and_fan_out(bp.empty(*shape))
        assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    calls = [
        lambda m: m.nn.init._calculate_fan_in_and_fan_out(m.empty(3)),
        lambda m: m.nn.init.kaiming_normal_(m.empty(3, 3), mode="avg"),
        lambda m: m.nn.init.kaiming_uniform_(m.empty(3, 3), nonlinearity="gelu"),
        lambda m: m.nn.init.eye_(m.empty(3)),
        lambda m: m.nn.init.dirac_(m.empty(3, 3)),
        lambda m: m.nn.init.dirac_(m.empty(3, 3, 3), groups=2),
        lambda m: m.nn.init.orthogonal_(m.empty(3)),
        lambda m: m.nn.init.sparse_(m.empty(3), 0.5),
    ]
    for call in calls:
        with pytest.raises(Exception) as theirs:
            call(torch)
        with pytest.raises(Exception) as ours:
            call(bp)
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_exact_fills_match_torch(torch) -> None:  # noqa: ANN001
    for name, shape, kw in [
        ("eye_", (3, 5), {}),
        ("eye_", (5, 2), {}),
        ("dirac_", (6, 4, 3), {}),
        ("dirac_", (6, 2, 3, 3), {"groups": 3}),
        ("dirac_", (2, 5, 2, 2, 3), {}),
        ("constant_", (2, 3), {"val": -1.5}),
        ("ones_", (2, 3), {}),
        ("zeros_", (2, 3), {}),
    ]:
        ours = getattr(init, name)(bp.empty(*shape), **kw)
        theirs = getattr(torch.nn.init, name)(torch.empty(*shape), **kw)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_signatures_match_torch(torch) -> None:  # noqa: ANN001
    names = [n for n in dir(torch.nn.init) if not n.startswith("_") and callable(getattr(torch.nn.init, n))]
    names = [n for n in names if n.endswith("_") or n == "calculate_gain"]
    assert len(names) >= 15
    for name in names:
        theirs = inspect.signature(getattr(torch.nn.init, name)).parameters
        ours = inspect.signature(getattr(init, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name
    for old in ("uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal"):
        assert callable(getattr(init, old))
    for old in ("kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"):
        assert callable(getattr(init, old))


def test_deprecated_warnings_match_torch(torch) -> None:  # noqa: ANN001
    with pytest.warns(FutureWarning) as theirs:
        torch.nn.init.xavier_uniform(torch.empty(3, 3))
    with pytest.warns(FutureWarning) as ours:
        init.xavier_uniform(bp.empty(3, 3))
    assert str(ours[0].message) == str(theirs[0].message)
