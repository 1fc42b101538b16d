"""nn.Module machinery, more cases against torch 2.13: state_dict's positional-args FutureWarning, Module.type
casting integer buffers, load_state_dict post-hooks that return a value, __setattr__ with dotted Parameter
names and nn.Buffer over a parameter, container edits (ModuleList.insert, Sequential +=, setitem order of
checks) and ModuleDict/ParameterDict key errors. Each case runs with ``L = torch`` and ``L = backprop``."""

# ruff: noqa: E731 - a case table of lambdas
from __future__ import annotations

import warnings

import pytest
from parity_compare import same_as_torch

import backprop as bp


def with_warnings(f):
    """The case's result and the (category, message) of each warning it raised."""

    def case(L):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            out = f(L)
        return out, [(w.category.__name__, str(w.message)) for w in seen]

    return case


def net(L):
    m = L.nn.Sequential(L.nn.Linear(2, 3), L.nn.BatchNorm1d(3))
    m.register_buffer("ib", L.zeros(2, dtype=L.int64))
    return m


R = lambda L: L.nn.ReLU()
C = {}
C["sd positional warns"] = with_warnings(lambda L: list(net(L).state_dict(None, "q.")))
C["sd positional keep_vars warns"] = with_warnings(lambda L: list(net(L).state_dict({}, "", True)))
C["type casts int buffers"] = lambda L: [
    str(t.dtype).removeprefix("torch.") for t in net(L).type(L.float64).state_dict().values()
]
C["load post hook returns"] = lambda L: (
    lambda m: (m.register_load_state_dict_post_hook(lambda mod, keys: 1), m.load_state_dict(m.state_dict()))
)(L.nn.Linear(1, 1))
C["set dotted param"] = lambda L: setattr(L.nn.Module(), "a.b", L.nn.Parameter(L.ones(1)))
C["set empty param"] = lambda L: setattr(L.nn.Module(), "", L.nn.Parameter(L.ones(1)))
C["set Buffer over param"] = lambda L: setattr(L.nn.Linear(1, 1), "weight", L.nn.Buffer(L.ones(1, 1)))
C["set Buffer over module"] = lambda L: setattr(L.nn.Sequential(R(L)), "0", L.nn.Buffer(L.ones(1)))
C["ml insert past end"] = lambda L: (lambda m: (m.insert(5, L.nn.Tanh()), repr(m)))(L.nn.ModuleList([R(L)]))
C["ml insert returns None"] = lambda L: L.nn.ModuleList([R(L)]).insert(0, L.nn.Tanh())
C["ml insert middle"] = lambda L: (lambda m: (m.insert(1, L.nn.Tanh()), repr(m)))(L.nn.ModuleList([R(L), R(L)]))
C["seq iadd list"] = lambda L: (lambda m: m.__iadd__([L.nn.Tanh()]))(L.nn.Sequential(R(L)))
C["seq setitem int"] = lambda L: L.nn.Sequential(R(L), R(L)).__setitem__(0, 3)
C["ml setitem int"] = lambda L: L.nn.ModuleList([R(L)]).__setitem__(0, 3)
C["ml setitem slice"] = lambda L: L.nn.ModuleList([R(L), R(L)]).__setitem__(slice(0, 1), [L.nn.Tanh()])
C["ml setitem oob"] = lambda L: L.nn.ModuleList([R(L)]).__setitem__(3, 3)
C["md dotted key"] = lambda L: L.nn.ModuleDict({"a.b": R(L)})
C["md empty key"] = lambda L: L.nn.ModuleDict({"": R(L)})
C["md int key"] = lambda L: L.nn.ModuleDict({1: R(L)})
C["md method name key"] = lambda L: L.nn.ModuleDict({"forward": R(L)})
C["pd dotted key"] = lambda L: L.nn.ParameterDict({"x.y": L.ones(2)})
C["pd empty key"] = lambda L: L.nn.ParameterDict({"": L.ones(2)})
C["pd int key"] = lambda L: L.nn.ParameterDict({1: L.ones(2)})
C["pd dotted non-tensor"] = lambda L: (lambda d: (d["x.y"], list(d.keys())))(L.nn.ParameterDict({"x.y": 5}))


@pytest.mark.parametrize("name", sorted(C))
def test_module_machinery_case_as_torch(name: str) -> None:
    same_as_torch(C[name])


def test_state_dict_positional_warning_without_torch() -> None:
    m = bp.nn.Linear(1, 1)
    with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
        assert list(m.state_dict(None, "p.")) == ["p.weight", "p.bias"]


def test_module_type_casts_every_tensor_without_torch() -> None:
    bn = bp.nn.BatchNorm1d(2).type(bp.float64)
    assert bn.num_batches_tracked.dtype == bp.float64 and bn.weight.dtype == bp.float64
    assert bp.nn.BatchNorm1d(2).double().num_batches_tracked.dtype == bp.int64


def test_container_edits_without_torch() -> None:
    ml = bp.nn.ModuleList([bp.nn.ReLU()])
    assert ml.insert(7, bp.nn.Tanh()) is None
    assert list(ml._modules) == ["0", "1"] and isinstance(ml[1], bp.nn.Tanh)
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        seq = bp.nn.Sequential(bp.nn.ReLU())
        seq += [bp.nn.Tanh()]
    with pytest.raises(KeyError, match="parameter name can.*t contain"):
        bp.nn.Module().__setattr__("a.b", bp.nn.Parameter(bp.ones(1)))
