"""Module hooks, lookups by dotted name and state_dict's keyword arguments and extra state, against
torch where it is installed and against closed forms everywhere."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")


def _model(lib):
    lib.manual_seed(0)
    nn = lib.nn
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with lib.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(lib.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)), dtype=p.dtype))
    return m


def _hooked_run(lib):
    m = _model(lib)
    log = []

    def arr(g):
        return None if g is None else g.detach().numpy().copy()

    m[0].register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    m[0].register_forward_hook(lambda mod, args, out: out + 1)
    m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * 3,))
    m[2].register_full_backward_hook(lambda mod, gi, go: log.append(("m2", [arr(g) for g in gi], [arr(g) for g in go])))
    m[0].register_full_backward_hook(lambda mod, gi, go: log.append(("m0", [arr(g) for g in gi], [arr(g) for g in go])))
    x = lib.tensor(np.arange(6.0).reshape(2, 3) / 10, dtype=m[0].weight.dtype)
    y = m(x)
    y.sum().backward()
    return y.detach().numpy(), [p.grad.numpy().copy() for p in m.parameters()], log


@needs_torch
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_hooks_match_torch() -> None:
    (y_t, g_t, log_t), (y_b, g_b, log_b) = _hooked_run(torch), _hooked_run(bp)
    np.testing.assert_allclose(y_b, y_t, rtol=1e-5)
    for a, b in zip(g_b, g_t):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [e[0] for e in log_b] == [e[0] for e in log_t] == ["m2", "m0"]  # output side first, as torch
    for (_, gi_b, go_b), (_, gi_t, go_t) in zip(log_b, log_t):
        for a, b in zip(gi_b + go_b, gi_t + go_t):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_forward_hooks_with_kwargs_prepend_and_removal() -> None:
    lin = bp.nn.Linear(2, 2)
    order = []
    h1 = lin.register_forward_hook(lambda m, a, o: order.append("late"))
    h2 = lin.register_forward_hook(lambda m, a, o: order.append("early"), prepend=True)
    lin(bp.ones(1, 2))
    assert order == ["early", "late"]
    h1.remove()
    with h2:
        lin(bp.ones(1, 2))
    lin(bp.ones(1, 2))
    assert order == ["early", "late", "early"]  # h2 removed on leaving the with block

    class Scaled(bp.nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = Scaled()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 10.0}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: out + kwargs["scale"], with_kwargs=True)
    assert m(bp.ones(2), scale=2.0).tolist() == [20.0, 20.0]


def test_backward_hook_can_replace_grad_input() -> None:
    lin = bp.nn.Linear(2, 1, bias=False)
    x = bp.ones(1, 2, requires_grad=True)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    lin(x).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0]] and lin.weight.grad.tolist() == [[1.0, 1.0]]


def test_always_call_forward_hook_runs_on_errors() -> None:
    class Fails(bp.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    seen = []
    m = Fails()
    m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        m(bp.ones(1))
    assert seen == [None]


def test_lookups_by_dotted_name() -> None:
    m = bp.nn.Sequential(bp.nn.Linear(2, 3), bp.nn.BatchNorm1d(3))
    assert m.get_submodule("0") is m[0] and m.get_submodule("") is m
    assert m.get_parameter("0.weight") is m[0].weight and m.get_buffer("1.running_mean") is m[1].running_mean
    with pytest.raises(AttributeError, match="has no attribute"):
        m.get_submodule("7")
    with pytest.raises(AttributeError, match="not an nn.Parameter"):
        m.get_parameter("1.running_mean")
    with pytest.raises(AttributeError, match="not a buffer"):
        m.get_buffer("0.weight")
    new = bp.nn.Linear(2, 3)
    m.set_submodule("0", new)
    assert m[0] is new


@needs_torch
def test_state_dict_keywords_and_extra_state_match_torch() -> None:
    def make(nn):
        class WithExtra(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(2, 2)
                self.count = 3

            def get_extra_state(self):
                return {"count": self.count}

            def set_extra_state(self, state):
                self.count = state["count"]

        return nn.Sequential(WithExtra(), nn.BatchNorm1d(2))

    ours, theirs = make(bp.nn), make(torch.nn)
    assert list(ours.state_dict(prefix="m.")) == list(theirs.state_dict(prefix="m."))
    assert ours.state_dict()["0._extra_state"] == {"count": 3}
    kept = ours.state_dict(keep_vars=True)
    assert kept["0.lin.weight"] is ours[0].lin.weight and ours.state_dict()["0.lin.weight"] is not ours[0].lin.weight
    dest: dict = {}
    assert ours.state_dict(destination=dest) is dest and "1.running_var" in dest
    sd = ours.state_dict()
    sd["0._extra_state"] = {"count": 9}
    fresh = make(bp.nn)
    assert fresh.load_state_dict(sd) == ([], []) and fresh[0].count == 9
    result = make(bp.nn).load_state_dict({k: v for k, v in sd.items() if k != "0._extra_state"}, strict=False)
    assert result.missing_keys == ["0._extra_state"]


@needs_torch
def test_shared_submodules_and_load_result_as_torchs() -> None:
    def build(lib):
        nn = lib.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
                self.head = nn.Linear(3, 1)
                self.shared = self.head  # the same module under a second name

            def forward(self, x):
                return self.head(self.enc(x))

        return Net()

    ours, theirs = build(bp), build(torch)
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()] == ["enc", "head"]
    assert list(ours.state_dict()) == list(theirs.state_dict())  # shared.* listed again, as torch
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == [
        n for n, _ in theirs.named_modules(remove_duplicate=False)
    ]
    assert repr(ours.load_state_dict(ours.state_dict())) == repr(theirs.load_state_dict(theirs.state_dict()))
    result = ours.load_state_dict({k: v for k, v in ours.state_dict().items() if k != "head.bias"}, strict=False)
    assert result.missing_keys == ["head.bias"] and "missing_keys=['head.bias']" in repr(result)
