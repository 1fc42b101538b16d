"""Torch cross-checks of the activations (F functions, modules, Tensor methods, top-level functions),
the containers (registration, ``state_dict`` keys, list/dict behaviour) and the dtype aliases.

Gradients are compared at the kinks too: torch's choices there (0 at the bounds of hardtanh/relu6,
the left derivative of ELU at 0, ...) are what a pasted torch program expects.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
tnn = torch.nn
TF = torch.nn.functional

KINKS = [-25.0, -6.0, -3.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 3.0, 6.0, 25.0, 80.0]

# (name, kwargs): every F activation, with non-default arguments where they exist
ACTIVATIONS = [
    ("relu", {}),
    ("relu6", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {}),
    ("elu", {"alpha": 0.7}),
    ("selu", {}),
    ("celu", {}),
    ("celu", {"alpha": 0.5}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 1.0}),
    ("hardswish", {}),
    ("hardsigmoid", {}),
    ("logsigmoid", {}),
    ("mish", {}),
    ("softsign", {}),
    ("tanhshrink", {}),
    ("softshrink", {}),
    ("softshrink", {"lambd": 1.0}),
    ("hardshrink", {}),
    ("hardshrink", {"lambd": 1.0}),
    ("threshold", {"threshold": 1.0, "value": -2.0}),
    ("threshold", {"threshold": -0.5, "value": 0.0}),
    ("silu", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("softplus", {"beta": 2.0, "threshold": 2.5}),  # x = 1.5 (beta x == 3) would hit a torch double-backward quirk
    ("sigmoid", {}),
    ("tanh", {}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in ACTIVATIONS]

# torch has no double backward for hardsigmoid ("derivative for aten::hardsigmoid_backward is not
# implemented"); ours is the exact second derivative (0)
NO_TORCH_DOUBLE = {"hardsigmoid"}


def _pair(values, dtype=np.float64, requires_grad=True):
    arr = np.asarray(values, dtype=dtype)
    return (
        bp.tensor(arr, requires_grad=requires_grad),
        torch.tensor(arr, requires_grad=requires_grad),
    )


def _close(got, want, rtol=1e-6, atol=1e-7) -> None:
    want_np = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    got_np = got.detach().numpy() if hasattr(got, "numpy") else np.asarray(got)
    assert got_np.shape == want_np.shape
    np.testing.assert_allclose(got_np, want_np, rtol=rtol, atol=atol)


def _inputs(rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([np.array(KINKS), rng.standard_normal(20) * 3]).reshape(2, 17)


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS, ids=IDS)
def test_functional_matches_torch_with_gradients_at_the_kinks(name, kwargs, rng) -> None:
    data = _inputs(rng)
    gy = rng.standard_normal(data.shape)
    x, tx = _pair(data)
    y, ty = getattr(F, name)(x, **kwargs), getattr(TF, name)(tx, **kwargs)
    _close(y, ty, rtol=1e-12, atol=1e-12)
    assert y.dtype == bp.float64 and tuple(y.shape) == tuple(ty.shape)
    y.backward(bp.tensor(gy))
    ty.backward(torch.tensor(gy))
    # torch's hardsigmoid backward multiplies by 1.0f / 6.0f (a float32 constant) even in float64
    rtol = 1e-7 if name == "hardsigmoid" else 1e-12
    _close(x.grad, tx.grad, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS, ids=IDS)
def test_float32_values_and_dtype(name, kwargs, rng) -> None:
    data = _inputs(rng).astype(np.float32)
    x, tx = _pair(data, np.float32, requires_grad=False)
    y, ty = getattr(F, name)(x, **kwargs), getattr(TF, name)(tx, **kwargs)
    assert y.dtype == bp.float32
    _close(y, ty, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS, ids=IDS)
def test_double_backward_matches_torch(name, kwargs, rng) -> None:
    data = _inputs(rng)
    x, tx = _pair(data)
    gy, tgy = _pair(rng.standard_normal(data.shape))  # a gradient that requires grad: g depends on it
    (g,) = bp.autograd.grad(getattr(F, name)(x, **kwargs), [x], gy, create_graph=True)
    gg, ggy = bp.autograd.grad((g * g).sum(), [x, gy], allow_unused=True)
    gg = np.zeros(data.shape) if gg is None else gg.detach().numpy()
    if name in NO_TORCH_DOUBLE:
        np.testing.assert_allclose(gg, 0.0)
        return
    (tg,) = torch.autograd.grad(getattr(TF, name)(tx, **kwargs), [tx], tgy, create_graph=True)
    tgg, tggy = torch.autograd.grad((tg * tg).sum(), [tx, tgy], allow_unused=True)
    tgg = np.zeros(data.shape) if tgg is None else tgg.detach().numpy()
    _close(ggy, tggy, rtol=1e-7 if name == "hardsigmoid" else 1e-10, atol=1e-10)
    np.testing.assert_allclose(gg, tgg, rtol=1e-10, atol=1e-10)


def test_large_magnitudes_stay_finite() -> None:
    data = np.array([-1e4, -800.0, -100.0, 100.0, 800.0, 1e4])
    for name in ("logsigmoid", "mish", "elu", "selu", "celu", "softsign", "tanhshrink"):
        x, tx = _pair(data)
        y, ty = getattr(F, name)(x), getattr(TF, name)(tx)
        _close(y, ty, rtol=1e-12)
        y.sum().backward()
        ty.sum().backward()
        assert np.isfinite(x.grad.numpy()).all(), name
        _close(x.grad, tx.grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["relu", "relu6", "elu", "selu", "celu", "hardtanh", "hardswish", "hardsigmoid"])
def test_inplace_writes_into_the_input_and_keeps_gradients(name, rng) -> None:
    data = rng.standard_normal((3, 4)) * 4
    x, tx = _pair(data)
    h, th = x * 1.0, tx * 1.0  # non-leaf, as torch requires for in-place on a graph
    out, tout = getattr(F, name)(h, inplace=True), getattr(TF, name)(th, inplace=True)
    assert out is h
    _close(h, th, rtol=1e-12)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    _close(x.grad, tx.grad, rtol=1e-12)


def test_inplace_outside_a_graph_and_on_a_leaf() -> None:
    x = bp.tensor([-1.0, 0.5, 7.0])
    assert F.relu6(x, inplace=True) is x
    np.testing.assert_array_equal(x.detach().numpy(), [0.0, 0.5, 6.0])
    assert F.threshold_(x, 1.0, -5.0) is x
    np.testing.assert_array_equal(x.detach().numpy(), [-5.0, -5.0, 6.0])
    leaf = bp.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        F.elu(leaf, inplace=True)
    for fn in (F.relu_, F.elu_, F.selu_, F.celu_, F.leaky_relu_, F.hardtanh_):
        y = bp.tensor([-2.0, 3.0])
        t = torch.tensor([-2.0, 3.0])
        assert fn(y) is y
        _close(y, getattr(TF, fn.__name__)(t))


def test_softmin_softmax_dims_and_warning(rng) -> None:
    data = rng.standard_normal((2, 3, 4))
    x, tx = _pair(data)
    for name in ("softmax", "softmin", "log_softmax"):
        for dim in (0, 1, -1):
            _close(getattr(F, name)(x, dim), getattr(TF, name)(tx, dim), rtol=1e-12)
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            y = getattr(F, name)(x)  # torch's legacy choice for 3-d inputs: dim 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _close(y, getattr(TF, name)(tx), rtol=1e-12)
    y = F.softmin(x.float(), 1, dtype=bp.float64)
    assert y.dtype == bp.float64
    _close(y, TF.softmin(tx.float(), 1, dtype=torch.float64), rtol=1e-6)
    y = F.softmin(x, dim=2)
    y.backward(bp.tensor(data))
    ty = TF.softmin(tx, dim=2)
    ty.backward(torch.tensor(data))
    _close(x.grad, tx.grad, rtol=1e-10)


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu_matches_torch(shape, per_channel, rng) -> None:
    if per_channel and len(shape) == 1:
        pytest.skip("1-d inputs have one channel")
    data = rng.standard_normal(shape)
    data.flat[0] = 0.0  # the kink: gradient is the slope there, as in torch
    w = rng.uniform(0.05, 0.5, shape[1] if per_channel else 1)
    x, tx = _pair(data)
    wt, twt = _pair(w)
    y, ty = F.prelu(x, wt), TF.prelu(tx, twt)
    _close(y, ty, rtol=1e-12)
    y.backward(bp.tensor(data))
    ty.backward(torch.tensor(data))
    _close(x.grad, tx.grad, rtol=1e-12)
    _close(wt.grad, twt.grad, rtol=1e-12)
    _close(x.prelu(wt), tx.prelu(twt), rtol=1e-12)
    _close(bp.prelu(x, wt), torch.prelu(tx, twt), rtol=1e-12)


def test_prelu_rejects_a_wrong_number_of_slopes() -> None:
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(bp.randn(2, 3, 4), bp.ones(4))


def test_argument_errors_like_torch() -> None:
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(bp.randn(3), 2.0, 1.0)
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ZeroDivisionError):
        F.celu(bp.randn(3), 0.0)
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(bp.randn(3), -1.0)


def test_top_level_functions_and_tensor_methods(rng) -> None:
    data = np.concatenate([np.array(KINKS), rng.standard_normal(6)])
    x, tx = _pair(data, requires_grad=False)
    _close(bp.selu(x), torch.selu(tx), rtol=1e-12)
    _close(bp.celu(x, 0.3), torch.celu(tx, 0.3), rtol=1e-12)
    _close(bp.threshold(x, 0.5, 9.0), torch.threshold(tx, 0.5, 9.0))
    _close(bp.hardshrink(x, 1.0), torch.hardshrink(tx, 1.0))
    _close(x.hardshrink(), tx.hardshrink())
    _close(x.softmax(0), tx.softmax(0), rtol=1e-12)
    _close(x.log_softmax(0), tx.log_softmax(0), rtol=1e-12)
    for name, args in [("relu_", ()), ("sigmoid_", ()), ("selu_", ()), ("celu_", (0.5,)), ("threshold_", (0.0, 3.0))]:
        y, ty = x.clone(), tx.clone()
        assert getattr(bp, name)(y, *args) is y
        getattr(torch, name)(ty, *args)
        _close(y, ty, rtol=1e-12)
    y, ty = x.clone(), tx.clone()
    assert y.relu_() is y and y.sigmoid_() is y
    _close(y, ty.relu_().sigmoid_(), rtol=1e-12)


def test_threshold_keeps_integer_dtype() -> None:
    y = F.threshold(bp.arange(4), 1, 5.5)
    t = TF.threshold(torch.arange(4), 1, 5.5)
    assert y.dtype == bp.int64
    np.testing.assert_array_equal(y.detach().numpy(), t.detach().numpy())
    np.testing.assert_array_equal(F.relu6(bp.arange(9)).detach().numpy(), TF.relu6(torch.arange(9)).detach().numpy())


def test_rrelu_eval_is_leaky_relu_and_training_slopes_are_in_range(rng) -> None:
    data = rng.standard_normal((4, 5))
    x, tx = _pair(data)
    _close(F.rrelu(x), TF.rrelu(tx), rtol=1e-12)
    m = nn.RReLU(0.1, 0.3)
    y = m(x)
    ratio = y.detach().numpy()[data < 0] / data[data < 0]
    assert ((ratio >= 0.1) & (ratio <= 0.3)).all()
    np.testing.assert_array_equal(y.detach().numpy()[data >= 0], data[data >= 0])
    m.eval()
    _close(m(x), tnn.RReLU(0.1, 0.3).eval()(tx), rtol=1e-12)


# ---------------------------------------------------------------- modules


MODULES = [
    ("ReLU", (), {}),
    ("ReLU", (True,), {}),
    ("ReLU6", (), {"inplace": True}),
    ("LeakyReLU", (0.1, True), {}),
    ("ELU", (), {}),
    ("ELU", (0.5, True), {}),
    ("SELU", (), {}),
    ("CELU", (0.3,), {}),
    ("Hardtanh", (), {}),
    ("Hardtanh", (-2, 2, True), {}),
    ("Hardswish", (), {}),
    ("Hardsigmoid", (), {"inplace": True}),
    ("LogSigmoid", (), {}),
    ("Mish", (), {}),
    ("Softsign", (), {}),
    ("Tanhshrink", (), {}),
    ("Softshrink", (), {}),
    ("Hardshrink", (0.7,), {}),
    ("Threshold", (0.1, 20), {}),
    ("Threshold", (0.1, 20, True), {}),
    ("Softplus", (), {"beta": 2.0}),
    ("Softmax", (), {"dim": 1}),
    ("Softmin", (1,), {}),
    ("LogSoftmax", (), {"dim": -1}),
    ("Softmax", (), {}),
    ("GELU", ("tanh",), {}),
    ("SiLU", (), {}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("GLU", (), {}),
    ("Identity", (3,), {"unused": 1}),
    ("PReLU", (), {}),
    ("PReLU", (4,), {"init": 0.1}),
    ("Softmax2d", (), {}),
]


@pytest.mark.parametrize(("cls", "args", "kwargs"), MODULES, ids=[f"{c}{a}{k}" for c, a, k in MODULES])
def test_modules_match_torch(cls, args, kwargs, rng) -> None:
    ours, theirs = getattr(nn, cls)(*args, **kwargs), getattr(tnn, cls)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    data = rng.standard_normal((3, 4, 2, 2)) * 3
    x, tx = _pair(data, np.float32)  # float32, as the modules' parameters
    h, th = x * 1.0, tx * 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Softmax(dim=None)'s deprecation warning, in both
        y, ty = ours(h), theirs(th)
    assert y.dtype == bp.float32
    _close(y, ty, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tx.grad, rtol=1e-5, atol=1e-6)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        _close(p.grad, tp.grad, rtol=1e-5)


def test_prelu_module_dtype_and_state_dict() -> None:
    m = nn.PReLU(3, init=1)
    assert m.weight.dtype == bp.float32 and tuple(m.weight.shape) == (3,)
    assert list(m.state_dict()) == list(tnn.PReLU(3).state_dict()) == ["weight"]
    assert nn.PReLU(dtype=bp.float64).weight.dtype == bp.float64


def test_softmax_module_warns_at_the_callers_line() -> None:
    with pytest.warns(UserWarning) as record:
        nn.Softmax()(bp.randn(2, 3, 4))
    assert record[0].filename == __file__


# ---------------------------------------------------------------- containers


def _build(lib):
    """The same nesting of every container kind, in backprop or torch."""
    m = lib.nn.Module()
    m.features = lib.nn.Sequential(lib.nn.Linear(4, 5), lib.nn.ReLU(), lib.nn.Linear(5, 3))
    m.blocks = lib.nn.ModuleList([lib.nn.Linear(3, 3), lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.PReLU(2))])
    m.heads = lib.nn.ModuleDict({"cls": lib.nn.Linear(2, 6), "reg": lib.nn.Linear(2, 1)})
    m.plist = lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2, 3)), lib.ones(4)])
    m.pdict = lib.nn.ParameterDict({"scale": lib.nn.Parameter(lib.ones(1)), "shift": lib.zeros(2)})
    m.named = lib.nn.Sequential(OrderedDict([("fc", lib.nn.Linear(2, 2)), ("act", lib.nn.Tanh())]))
    return m


def test_container_state_dict_keys_equal_torch() -> None:
    ours, theirs = _build(bp), _build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert all(p.requires_grad for p in ours.parameters())
    # torch's weights load into ours by key
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=k)


def test_containers_follow_to_and_train() -> None:
    m = _build(bp)
    m.eval()
    assert not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())
    m.to(bp.float64)
    assert {p.dtype for p in m.parameters()} == {bp.float64}
    assert m.plist[1].dtype == bp.float64 and m.pdict["shift"].dtype == bp.float64


def _keys(m) -> list[str]:
    return list(m.state_dict())


def test_sequential_list_behaviour_matches_torch() -> None:
    def make(lib):
        return lib.nn.Sequential(*[lib.nn.Linear(i + 1, i + 2) for i in range(4)])

    ours, theirs = make(bp), make(torch)
    assert len(ours) == len(theirs) == 4
    assert ours[-1] is list(ours)[3]
    assert ours[1].in_features == theirs[1].in_features
    sub, tsub = ours[1:3], theirs[1:3]
    assert type(sub) is nn.Sequential and _keys(sub) == _keys(tsub)  # keys kept: "1.weight", ...
    with pytest.raises(IndexError):
        ours[4]
    for m, lib in ((ours, bp), (theirs, torch)):
        m.append(lib.nn.ReLU())
        m.insert(1, lib.nn.Linear(2, 2))
        m.extend([lib.nn.Linear(5, 5)])
        del m[0]
        m.pop(2)
        m[0] = lib.nn.Linear(2, 3)
    assert _keys(ours) == _keys(theirs)
    assert [type(c).__name__ for c in ours] == [type(c).__name__ for c in theirs]
    both, tboth = ours + make(bp), theirs + make(torch)
    assert _keys(both) == _keys(tboth)
    named = nn.Sequential(OrderedDict([("a", nn.Linear(2, 3)), ("b", nn.ReLU())]))
    assert named.a is named[0] and _keys(named) == ["a.weight", "a.bias"]
    x = bp.randn(4, 2)
    np.testing.assert_allclose(named(x).detach().numpy(), named.b(named.a(x)).detach().numpy())


def test_module_list_behaviour_matches_torch() -> None:
    def make(lib):
        return lib.nn.ModuleList([lib.nn.Linear(1, 2), lib.nn.Linear(2, 3)])

    ours, theirs = make(bp), make(torch)
    for m, lib in ((ours, bp), (theirs, torch)):
        m.append(lib.nn.Linear(3, 4))
        m.extend([lib.nn.Linear(4, 5), lib.nn.Tanh()])
        m.insert(0, lib.nn.Linear(9, 1))
        m += [lib.nn.Linear(5, 6)]
        del m[2]
        m.pop(1)
        m[-1] = lib.nn.Linear(6, 7)
    assert _keys(ours) == _keys(theirs)
    assert len(ours) == len(theirs)
    assert [type(c).__name__ for c in ours] == [type(c).__name__ for c in theirs]
    assert _keys(ours[1:]) == _keys(theirs[1:])  # a slice is renumbered from "0"
    assert ours[-1].out_features == 7
    with pytest.raises(IndexError):
        ours[len(ours)]
    with pytest.raises(TypeError):
        ours.append(3)


def test_module_dict_behaviour_matches_torch() -> None:
    def make(lib):
        return lib.nn.ModuleDict([("b", lib.nn.Linear(1, 2)), ("a", lib.nn.Linear(2, 3))])

    ours, theirs = make(bp), make(torch)
    for m, lib in ((ours, bp), (theirs, torch)):
        m["c"] = lib.nn.Linear(3, 4)
        m.update({"d": lib.nn.ReLU(), "b": lib.nn.Linear(7, 7)})
        del m["a"]
    assert _keys(ours) == _keys(theirs)
    assert list(ours) == list(theirs) and list(ours.keys()) == list(theirs.keys())
    assert "c" in ours and "a" not in ours and len(ours) == len(theirs)
    assert ours.c is ours["c"]
    assert [type(v).__name__ for v in ours.values()] == [type(v).__name__ for v in theirs.values()]
    popped = ours.pop("d")
    assert isinstance(popped, nn.ReLU) and "d" not in ours
    with pytest.raises(KeyError):
        ours["a.b"] = nn.ReLU()
    with pytest.raises(TypeError):
        ours[1] = nn.ReLU()
    ours.clear()
    assert len(ours) == 0 and _keys(ours) == []


def test_parameter_list_and_dict_match_torch() -> None:
    def make(lib):
        plist = lib.nn.ParameterList([lib.zeros(2), lib.nn.Parameter(lib.ones(3))])
        plist.append(lib.ones(1))
        plist.extend([lib.zeros(2, 2)])
        plist[0] = lib.nn.Parameter(lib.ones(5))
        pdict = lib.nn.ParameterDict({"w": lib.ones(2)})
        pdict["b"] = lib.zeros(3)
        pdict.update({"c": lib.nn.Parameter(lib.ones(1))})
        del pdict["w"]
        return plist, pdict

    (pl, pd), (tpl, tpd) = make(bp), make(torch)
    assert _keys(pl) == _keys(tpl) and _keys(pd) == _keys(tpd)
    assert len(pl) == len(tpl) and len(pd) == len(tpd)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in pl)
    assert all(isinstance(p, nn.Parameter) for p in pd.values())
    assert [tuple(p.shape) for p in pl] == [tuple(p.shape) for p in tpl]
    assert [tuple(p.shape) for p in pl[1:3]] == [tuple(p.shape) for p in tpl[1:3]]
    assert list(pd) == list(tpd) and "b" in pd and pd.get("zz") is None
    assert pl[-1] is list(pl)[-1]
    assert repr(pd).startswith("ParameterDict(") and "(b): Parameter containing" in repr(pd)
    with pytest.raises(IndexError):
        pl[len(pl)]


def test_parameter_containers_train_with_an_optimizer() -> None:
    pl = nn.ParameterList([bp.ones(3)])
    opt = bp.optim.SGD(pl.parameters(), lr=0.5)
    (pl[0] * pl[0]).sum().backward()
    opt.step()
    np.testing.assert_allclose(pl[0].detach().numpy(), np.zeros(3))


# ---------------------------------------------------------------- dtype aliases


@pytest.mark.parametrize(
    "name",
    ["float", "double", "half", "int", "long", "bool", "short", "uint8", "int8", "int16", "int32", "int64",
     "float16", "float32", "float64", "cfloat", "cdouble", "complex64", "complex128", "uint16", "uint32",
     "uint64"],
)  # fmt: skip
def test_dtype_aliases_are_torchs(name) -> None:
    ours, theirs = getattr(bp, name), getattr(torch, name)
    assert f"torch.{ours}" == str(theirs)
    assert name in bp.__all__
    assert bp.zeros(2, dtype=ours).dtype == ours


def test_float_and_int_are_32_bit() -> None:
    assert bp.float == bp.float32 and bp.int == bp.int32
    assert bp.ones(2).to(bp.float).dtype == bp.float32
    assert bp.tensor([1, 2], dtype=bp.int).dtype == bp.int32
    assert bp.tensor([1.0], dtype=float).dtype == bp.float64  # Python's float still means float64, as torch
