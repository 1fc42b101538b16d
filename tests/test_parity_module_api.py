"""nn.Module's API surface, case by case against torch: state_dict keys, order and _metadata, load_state_dict's
_IncompatibleKeys and torch's error messages, assign=True, _load_from_state_dict overrides and state-dict hooks,
traversal with shared modules and tied weights, lookup by dotted name, __setattr__ rules, containers (reprs,
Sequential/ModuleList/ModuleDict/ParameterList/ParameterDict operations), copies, dtype moves and hooks
(module, global, backward). Each case runs with ``L = torch`` and ``L = backprop`` and must agree."""

# ruff: noqa: E731, N805 - case tables of lambdas; datasets written as torch users write them (s for self)
from __future__ import annotations

import copy
import pickle

import pytest
from parity_compare import same_as_torch as _same_as_torch

import backprop as bp


def net(L):
    nn = L.nn

    class Net(nn.Module):
        def __init__(s):
            super().__init__()
            s.a = nn.Linear(2, 3)
            s.b = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.BatchNorm1d(3))
            s.register_buffer("nb", L.ones(2), persistent=False)
            s.register_buffer("pb", L.zeros(1))
            s.p = nn.Parameter(L.ones(1))

        def forward(s, x):
            return s.b(s.a(x))

    return Net()


def shared(L):
    nn = L.nn
    m = nn.Module()
    lin = nn.Linear(2, 2)
    m.x = lin
    m.y = lin
    m.z = nn.Sequential(lin, nn.Linear(2, 2))
    m.z[1].weight = lin.weight
    return m


K = lambda d: list(d.keys())
C = {}
C["sd keys"] = lambda L: K(net(L).state_dict())
C["sd prefix"] = lambda L: K(net(L).state_dict(prefix="m."))
C["sd kv"] = lambda L: [type(v).__name__ for v in net(L).state_dict(keep_vars=True).values()]
C["sd nokv"] = lambda L: [type(v).__name__ for v in net(L).state_dict().values()]
C["sd rg"] = lambda L: [v.requires_grad for v in net(L).state_dict().values()]
C["sd type"] = lambda L: type(net(L).state_dict()).__name__
C["sd metadata"] = lambda L: (
    (lambda sd: sorted(sd._metadata.items()))(net(L).state_dict())
    if hasattr(net(L).state_dict(), "_metadata")
    else "none"
)
C["sd shared keys"] = lambda L: K(shared(L).state_dict())
C["sd positional"] = lambda L: K(net(L).state_dict(None, "q."))
C["sd dest"] = lambda L: (lambda d: (net(L).state_dict(destination=d, prefix="x."), K(d))[1])({})


def load(L, sd_mut, strict=True, **kw):
    m = net(L)
    sd = m.state_dict()
    sd_mut(sd)
    r = m.load_state_dict(sd, strict=strict, **kw)
    return (
        repr(r),
        r.missing_keys,
        r.unexpected_keys,
        type(r).__name__,
        r == ([], []) if not r.missing_keys else None,
        tuple(r),
    )


C["load ok"] = lambda L: load(L, lambda sd: None)
C["load missing"] = lambda L: load(L, lambda sd: sd.pop("a.weight"), strict=False)
C["load unexpected"] = lambda L: load(L, lambda sd: sd.update(foo=L.ones(1)), strict=False)
C["load both"] = lambda L: load(
    L,
    lambda sd: (sd.pop("a.bias"), sd.pop("b.2.running_var"), sd.update({"foo": L.ones(1), "b.9.x": L.ones(1)})),
    strict=False,
)
C["load strict missing"] = lambda L: load(L, lambda sd: sd.pop("a.weight"))
C["load strict both"] = lambda L: load(
    L, lambda sd: (sd.pop("a.bias"), sd.pop("b.0.weight"), sd.update({"foo": L.ones(1), "b.9.x": L.ones(1)}))
)
C["load size"] = lambda L: load(L, lambda sd: sd.update({"a.weight": L.ones(2, 2)}))
C["load size nonstrict"] = lambda L: load(L, lambda sd: sd.update({"a.weight": L.ones(2, 2)}), strict=False)
C["load size+missing"] = lambda L: load(L, lambda sd: (sd.update({"a.weight": L.ones(2, 2)}), sd.pop("p")))
C["load nonpersist"] = lambda L: load(L, lambda sd: sd.update({"nb": L.ones(2)}))
C["load num_batches"] = lambda L: load(L, lambda sd: sd.pop("b.2.num_batches_tracked"))
C["load notdict"] = lambda L: net(L).load_state_dict([1])
C["load dtype"] = lambda L: (
    lambda m: (m.load_state_dict({**m.state_dict(), "p": L.tensor([5], dtype=L.float64)}), m.p.dtype, m.p.tolist())
)(net(L))[1:]
C["load assign"] = lambda L: (
    lambda m: (
        m.load_state_dict({**m.state_dict(), "p": L.tensor([5.0], dtype=L.float64)}, assign=True),
        type(m.p).__name__,
        m.p.dtype,
        m.p.requires_grad,
    )
)(net(L))[1:]
C["load assign ident"] = lambda L: (
    lambda m, t: (m.load_state_dict({**m.state_dict(), "pb": t}, assign=True), m.pb is t)
)(net(L), L.ones(1))[1]
C["load copy ident"] = lambda L: (lambda m, t: (m.load_state_dict({**m.state_dict(), "pb": t}), m.pb is t))(
    net(L), L.ones(1)
)[1]
C["load scalar to 1elem"] = lambda L: load(L, lambda sd: sd.update({"p": L.tensor(3.0)}))
C["load nontensor"] = lambda L: load(L, lambda sd: sd.update({"p": [3.0]}))
C["load shared"] = lambda L: (lambda m: repr(m.load_state_dict(m.state_dict())))(shared(L))
C["load shared partial"] = lambda L: (
    lambda m: repr(m.load_state_dict({"x.weight": L.ones(2, 2), "x.bias": L.ones(2)}, strict=False))
)(shared(L))
# named_modules etc
C["named_modules"] = lambda L: [n for n, _ in shared(L).named_modules()]
C["named_modules nodup"] = lambda L: [n for n, _ in shared(L).named_modules(remove_duplicate=False)]
C["named_modules prefix"] = lambda L: [n for n, _ in net(L).named_modules(prefix="r")]
C["named_modules memo"] = lambda L: (lambda m: [n for n, _ in m.named_modules(memo={m.a})])(net(L))
C["named_params"] = lambda L: [n for n, _ in shared(L).named_parameters()]
C["named_params nodup"] = lambda L: [n for n, _ in shared(L).named_parameters(remove_duplicate=False)]
C["named_params prefix"] = lambda L: [n for n, _ in net(L).named_parameters(prefix="x")]
C["named_params norec"] = lambda L: [n for n, _ in net(L).named_parameters(recurse=False)]
C["params"] = lambda L: len(list(shared(L).parameters()))
C["named_buffers"] = lambda L: [n for n, _ in net(L).named_buffers()]
C["named_buffers nodup"] = lambda L: (
    lambda m: (setattr(m, "c", m.b), [n for n, _ in m.named_buffers(remove_duplicate=False)])[1]
)(net(L))
C["named_buffers dedup"] = lambda L: (lambda m: (setattr(m, "c", m.b), [n for n, _ in m.named_buffers()])[1])(net(L))
C["named_children"] = lambda L: [n for n, _ in shared(L).named_children()]
C["modules"] = lambda L: [type(m).__name__ for m in net(L).modules()]
C["get_submodule"] = lambda L: type(net(L).get_submodule("b.2")).__name__
C["get_submodule bad"] = lambda L: net(L).get_submodule("b.9")
C["get_submodule bad2"] = lambda L: net(L).get_submodule("a.weight")
C["get_submodule bad3"] = lambda L: net(L).get_submodule("zz.q")
C["get_parameter"] = lambda L: net(L).get_parameter("a.weight").shape
C["get_parameter bad"] = lambda L: net(L).get_parameter("a.nope")
C["get_parameter bad2"] = lambda L: net(L).get_parameter("pb")
C["get_parameter bad3"] = lambda L: net(L).get_parameter("b.1.x")
C["get_buffer"] = lambda L: net(L).get_buffer("b.2.running_mean").shape
C["get_buffer bad"] = lambda L: net(L).get_buffer("p")
C["get_buffer bad2"] = lambda L: net(L).get_buffer("nope")
C["set_submodule"] = lambda L: (lambda m: (m.set_submodule("b.1", L.nn.Tanh()), type(m.b[1]).__name__)[1])(net(L))
C["set_submodule new"] = lambda L: (
    lambda m: (m.set_submodule("b.q", L.nn.Tanh()), [n for n, _ in m.named_modules()])[1]
)(net(L))
C["set_submodule strict"] = lambda L: net(L).set_submodule("b.q", L.nn.Tanh(), strict=True)
C["set_submodule empty"] = lambda L: net(L).set_submodule("", L.nn.Tanh())
C["set_submodule notmod"] = lambda L: net(L).set_submodule("a.weight", L.nn.Tanh())
C["set_submodule bad type"] = lambda L: net(L).set_submodule("a", 3)
C["apply"] = lambda L: (lambda out: (net(L).apply(lambda m: out.append(type(m).__name__)), out)[1])([])
C["apply ret"] = lambda L: (lambda m: m.apply(lambda x: None) is m)(net(L))
C["req grad"] = lambda L: (lambda m: [p.requires_grad for p in m.requires_grad_(False).parameters()])(net(L))
C["req grad ret"] = lambda L: (lambda m: m.requires_grad_() is m)(net(L))


def zg(L, stn):
    m = L.nn.Linear(2, 2)
    m(L.ones(1, 2)).sum().backward()
    m.zero_grad(set_to_none=stn)
    return [None if p.grad is None else p.grad for p in m.parameters()]


C["zero_grad none"] = lambda L: zg(L, True)
C["zero_grad zero"] = lambda L: zg(L, False)
C["zero_grad ret"] = lambda L: L.nn.Linear(1, 1).zero_grad()
C["train ret"] = lambda L: (lambda m: (m.train() is m, m.eval() is m, m.b[2].training, m.train(False).training))(net(L))
C["train bad"] = lambda L: net(L).train("x")
C["train int"] = lambda L: net(L).train(1)
C["train None"] = lambda L: net(L).train(None)
# setattr rules
C["set tensor to param"] = lambda L: setattr(net(L), "p", L.ones(1))
C["set tensor to module"] = lambda L: setattr(net(L), "a", L.ones(1))
C["set none param"] = lambda L: (
    lambda m: (setattr(m, "p", None), K(m.state_dict()), [n for n, _ in m.named_parameters()], m.p)[1:]
)(net(L))
C["set none buffer"] = lambda L: (lambda m: (setattr(m, "pb", None), K(m.state_dict()), m.pb)[1:])(net(L))
C["set none module"] = lambda L: (lambda m: (setattr(m, "a", None), K(m.state_dict()), m.a, repr(m))[1:])(net(L))
C["set int buffer"] = lambda L: setattr(net(L), "pb", 3)
C["set param to buffer name"] = lambda L: (
    lambda m: (
        setattr(m, "pb", L.nn.Parameter(L.ones(1))),
        [n for n, _ in m.named_parameters()],
        [n for n, _ in m.named_buffers()],
    )[1:]
)(net(L))
C["set module to param name"] = lambda L: setattr(net(L), "p", L.nn.ReLU())
C["del param"] = lambda L: (lambda m: (delattr(m, "p"), K(m.state_dict()), hasattr(m, "p"))[1:])(net(L))
C["del buffer"] = lambda L: (lambda m: (delattr(m, "nb"), delattr(m, "pb"), K(m.state_dict()))[2:])(net(L))
C["del module"] = lambda L: (lambda m: (delattr(m, "a"), K(m.state_dict()))[1:])(net(L))
C["del missing"] = lambda L: delattr(net(L), "zz")
C["plain tensor"] = lambda L: (
    lambda m: (setattr(m, "t", L.ones(1)), K(m.state_dict()), [n for n, _ in m.named_buffers()])[1:]
)(net(L))
C["getattr missing"] = lambda L: net(L).zz
C["set before init"] = lambda L: (lambda cls: cls())(
    type("X", (L.nn.Module,), {"__init__": lambda s: setattr(s, "a", L.nn.ReLU())})
)
C["set param before init"] = lambda L: (lambda cls: cls())(
    type("X", (L.nn.Module,), {"__init__": lambda s: setattr(s, "a", L.nn.Parameter(L.ones(1)))})
)
C["set plain before init"] = lambda L: (lambda cls: cls().a)(
    type("X", (L.nn.Module,), {"__init__": lambda s: setattr(s, "a", 1)})
)
C["dir"] = lambda L: (lambda m: [x for x in ("a", "b", "p", "pb", "nb", "forward", "training") if x in dir(m)])(net(L))
C["register_buffer bad name"] = lambda L: net(L).register_buffer("a.b", None)
C["register_buffer exists"] = lambda L: net(L).register_buffer("a", None)
C["register_buffer param"] = lambda L: net(L).register_buffer("p", L.ones(1))
C["register_buffer nontensor"] = lambda L: net(L).register_buffer("q", 3)
C["register_buffer None"] = lambda L: (
    lambda m: (m.register_buffer("q", None), K(m.state_dict()), m.q, "q" in m._buffers)[1:]
)(net(L))
C["register_parameter None"] = lambda L: (
    lambda m: (m.register_parameter("q", None), K(m.state_dict()), m.q, "q" in m._parameters)[1:]
)(net(L))
C["register_parameter tensor"] = lambda L: net(L).register_parameter("q", L.ones(1))
C["register_parameter bad name"] = lambda L: net(L).register_parameter("q.r", None)
C["register_parameter empty"] = lambda L: net(L).register_parameter("", None)
C["register_parameter exists"] = lambda L: net(L).register_parameter("pb", None)
C["register_parameter nonleaf"] = lambda L: net(L).register_parameter("q", L.nn.Parameter(L.ones(1)) * 2)
C["register_parameter nonstr"] = lambda L: net(L).register_parameter(3, None)
C["add_module bad"] = lambda L: net(L).add_module("x", 3)
C["add_module exists"] = lambda L: net(L).add_module("p", L.nn.ReLU())
C["add_module dot"] = lambda L: net(L).add_module("x.y", L.nn.ReLU())
C["add_module empty"] = lambda L: net(L).add_module("", L.nn.ReLU())
C["add_module nonstr"] = lambda L: net(L).add_module(1, L.nn.ReLU())
C["register_module"] = lambda L: (
    lambda m: (m.register_module("q", L.nn.ReLU()), [n for n, _ in m.named_children()])[1]
)(net(L))
C["register_module None"] = lambda L: (
    lambda m: (m.register_module("q", None), [n for n, _ in m.named_children()], m.q)[1:]
)(net(L))


def blocks(L):
    nn = L.nn
    return nn.Sequential(
        nn.Linear(2, 2),
        nn.Linear(2, 2),
        nn.Linear(2, 2),
        nn.ReLU(),
        nn.ModuleList([nn.Linear(1, 1) for _ in range(3)]),
        nn.ModuleDict({"a": nn.ReLU(), "b": nn.ReLU()}),
    )


C["repr blocks"] = lambda L: repr(blocks(L))
C["repr ml"] = lambda L: repr(L.nn.ModuleList([L.nn.ReLU(), L.nn.ReLU(), L.nn.Tanh(), L.nn.ReLU(), L.nn.ReLU()]))
C["repr ml empty"] = lambda L: repr(L.nn.ModuleList())
C["repr seq empty"] = lambda L: repr(L.nn.Sequential())
C["repr md"] = lambda L: repr(L.nn.ModuleDict({"x": L.nn.ReLU(), "y": L.nn.ReLU()}))
C["repr pl"] = lambda L: repr(
    L.nn.ParameterList([L.nn.Parameter(L.ones(2)), L.nn.Parameter(L.ones(2, 3), requires_grad=False)])
)
C["repr pd"] = lambda L: repr(L.nn.ParameterDict({"a": L.nn.Parameter(L.ones(2))}))
C["repr param"] = lambda L: repr(L.nn.Parameter(L.ones(2), requires_grad=False))
C["repr param rg"] = lambda L: repr(L.nn.Parameter(L.tensor([1.0, 2.0])))
C["repr identity"] = lambda L: repr(L.nn.Identity(3, a=4))
C["identity fwd"] = lambda L: L.nn.Identity(3, a=4)(L.ones(1))


def ex(L):
    class E(L.nn.Module):
        def __init__(s):
            super().__init__()
            s.l = L.nn.Linear(1, 1)

        def extra_repr(s):
            return "foo=1\nbar=2"

    return repr(E())


C["repr extra multiline"] = ex


def ex2(L):
    class E(L.nn.Module):
        def extra_repr(s):
            return "foo=1\nbar=2"

    return repr(E())


C["repr extra multiline leaf"] = ex2
C["repr none child"] = lambda L: (lambda m: (setattr(m, "a", None), repr(m))[1])(
    (lambda m: (setattr(m, "a", L.nn.ReLU()), m)[1])(L.nn.Module())
)
C["repr nested seq same"] = lambda L: repr(
    L.nn.Sequential(*[L.nn.Sequential(L.nn.Linear(1, 1), L.nn.ReLU()) for _ in range(2)])
)
# Sequential
S = lambda L: L.nn.Sequential(L.nn.Linear(1, 2), L.nn.ReLU(), L.nn.Linear(2, 3), L.nn.Tanh())
C["seq slice"] = lambda L: repr(S(L)[1:3])
C["seq slice type"] = lambda L: type(S(L)[::2]).__name__
C["seq idx"] = lambda L: (repr(S(L)[-1]), repr(S(L)[0]))
C["seq idx oob"] = lambda L: S(L)[4]
C["seq idx str"] = lambda L: S(L)["0"]
C["seq len"] = lambda L: len(S(L))
C["seq append"] = lambda L: (lambda s: (s.append(L.nn.ReLU()) is s, [n for n, _ in s.named_children()]))(S(L))
C["seq append bad"] = lambda L: S(L).append(3)
C["seq insert"] = lambda L: (lambda s: (s.insert(1, L.nn.Sigmoid()), repr(s)))(S(L))[1]
C["seq insert neg"] = lambda L: (lambda s: (s.insert(-1, L.nn.Sigmoid()), repr(s)))(S(L))[1]
C["seq insert oob"] = lambda L: S(L).insert(7, L.nn.ReLU())
C["seq insert bad"] = lambda L: S(L).insert(0, 3)
C["seq extend"] = lambda L: (lambda s: (s.extend([L.nn.ReLU()]) is s, repr(s)))(S(L))
C["seq pop"] = lambda L: (lambda s: (repr(s.pop(1)), repr(s)))(S(L))
C["seq pop keys"] = lambda L: (lambda s: (s.pop(1), list(s._modules)))(S(L))[1]
C["seq del"] = lambda L: (lambda s: (s.__delitem__(1), list(s._modules)))(S(L))[1]
C["seq del slice"] = lambda L: (lambda s: (s.__delitem__(slice(0, 2)), list(s._modules)))(S(L))[1]
C["seq setitem"] = lambda L: (lambda s: (s.__setitem__(-1, L.nn.ELU()), repr(s)))(S(L))[1]
C["seq add"] = lambda L: repr(S(L) + S(L)[:1])
C["seq add bad"] = lambda L: S(L) + [L.nn.ReLU()]
C["seq iadd"] = lambda L: (lambda s: (s.__iadd__(S(L)[:1]) is s, repr(s)))(S(L))
C["seq mul"] = lambda L: repr(S(L)[:2] * 2)
C["seq mul ident"] = lambda L: (lambda s: s[0] is s[2])(S(L)[:2] * 2)
C["seq rmul"] = lambda L: repr(2 * S(L)[:2])
C["seq imul"] = lambda L: (lambda s: (s.__imul__(2) is s, repr(s)))(S(L)[:2])
C["seq mul 0"] = lambda L: S(L) * 0
C["seq mul bad"] = lambda L: S(L) * 1.5
C["seq od"] = lambda L: repr(L.nn.Sequential(__import__("collections").OrderedDict(a=L.nn.ReLU(), b=L.nn.Tanh())))
C["seq od idx"] = lambda L: repr(
    L.nn.Sequential(__import__("collections").OrderedDict(a=L.nn.ReLU(), b=L.nn.Tanh()))[1]
)
C["seq od slice"] = lambda L: list(
    L.nn.Sequential(__import__("collections").OrderedDict(a=L.nn.ReLU(), b=L.nn.Tanh()))[1:]._modules
)
C["seq dir"] = lambda L: "0" in dir(S(L))
C["seq iter"] = lambda L: [type(m).__name__ for m in S(L)]
C["seq fwd"] = lambda L: S(L)(L.ones(1, 1)).shape
C["seq kwargs"] = lambda L: L.nn.Sequential(L.nn.ReLU())(input=L.ones(1))
C["seq bad arg"] = lambda L: L.nn.Sequential(3)
# ModuleList
ML = lambda L: L.nn.ModuleList([L.nn.ReLU(), L.nn.Tanh(), L.nn.Sigmoid()])
C["ml slice"] = lambda L: (type(ML(L)[1:]).__name__, repr(ML(L)[1:]))
C["ml append"] = lambda L: (lambda m: (m.append(L.nn.ELU()) is m, repr(m)))(ML(L))
C["ml extend"] = lambda L: (lambda m: (m.extend([L.nn.ELU()]) is m, repr(m)))(ML(L))
C["ml extend bad"] = lambda L: ML(L).extend(L.nn.ReLU())
C["ml insert"] = lambda L: (lambda m: (m.insert(0, L.nn.ELU()), repr(m)))(ML(L))[1]
C["ml insert neg"] = lambda L: (lambda m: (m.insert(-1, L.nn.ELU()), repr(m)))(ML(L))[1]
C["ml pop"] = lambda L: (lambda m: (repr(m.pop(0)), repr(m), list(m._modules)))(ML(L))
C["ml pop neg"] = lambda L: (lambda m: (repr(m.pop(-1)), list(m._modules)))(ML(L))
C["ml del"] = lambda L: (lambda m: (m.__delitem__(0), list(m._modules)))(ML(L))[1]
C["ml del slice"] = lambda L: (lambda m: (m.__delitem__(slice(1, None)), list(m._modules)))(ML(L))[1]
C["ml set"] = lambda L: (lambda m: (m.__setitem__(-1, L.nn.ELU()), repr(m)))(ML(L))[1]
C["ml idx oob"] = lambda L: ML(L)[3]
C["ml add"] = lambda L: (lambda m: (type(m).__name__, repr(m)))(ML(L) + ML(L))
C["ml iadd"] = lambda L: (lambda m: (m.__iadd__(ML(L)) is m, len(m)))(ML(L))
C["ml contains"] = lambda L: (lambda m: (m[0] in m, L.nn.ReLU() in m))(ML(L))
C["ml fwd"] = lambda L: ML(L)(L.ones(1))
C["ml none"] = lambda L: repr(L.nn.ModuleList(None))
C["ml append bad"] = lambda L: ML(L).append(3)
C["ml dir"] = lambda L: [x for x in dir(ML(L)) if x.isdigit()]
# ModuleDict
MD = lambda L: L.nn.ModuleDict({"b": L.nn.ReLU(), "a": L.nn.Tanh()})
C["md keys"] = lambda L: (
    list(MD(L).keys()),
    [type(v).__name__ for v in MD(L).values()],
    [k for k, _ in MD(L).items()],
    list(MD(L)),
)
C["md pop"] = lambda L: (lambda m: (repr(m.pop("b")), list(m.keys())))(MD(L))
C["md pop missing"] = lambda L: MD(L).pop("z")
C["md clear"] = lambda L: (lambda m: (m.clear(), len(m)))(MD(L))
C["md update"] = lambda L: (lambda m: (m.update({"c": L.nn.ELU(), "a": L.nn.ReLU()}), repr(m)))(MD(L))[1]
C["md update list"] = lambda L: (lambda m: (m.update([("c", L.nn.ELU())]), list(m)))(MD(L))[1]
C["md update bad"] = lambda L: MD(L).update(3)
C["md update bad2"] = lambda L: MD(L).update([("a",)])
C["md getitem missing"] = lambda L: MD(L)["zz"]
C["md contains"] = lambda L: ("a" in MD(L), "z" in MD(L))
C["md setitem"] = lambda L: (lambda m: (m.__setitem__("z", L.nn.ELU()), list(m)))(MD(L))[1]
C["md del"] = lambda L: (lambda m: (m.__delitem__("b"), list(m)))(MD(L))[1]
C["md get"] = lambda L: (lambda m: type(m.get("a")).__name__ if hasattr(m, "get") else "noget")(MD(L))
C["md fwd"] = lambda L: MD(L)(L.ones(1))
C["md bad val"] = lambda L: L.nn.ModuleDict({"a": 3})
# ParameterList/Dict
PL = lambda L: L.nn.ParameterList([L.nn.Parameter(L.ones(1)), L.ones(2)])
C["pl types"] = lambda L: [type(p).__name__ for p in PL(L)]
C["pl rg"] = lambda L: [p.requires_grad for p in PL(L)]
C["pl names"] = lambda L: [n for n, _ in PL(L).named_parameters()]
C["pl append"] = lambda L: (lambda m: (m.append(L.ones(3)) is m, len(m), type(m[2]).__name__))(PL(L))
C["pl extend"] = lambda L: (lambda m: (m.extend([L.ones(3)]) is m, len(m)))(PL(L))
C["pl slice"] = lambda L: (lambda m: (type(m).__name__, len(m)))(PL(L)[1:])
C["pl setitem"] = lambda L: (lambda m: (m.__setitem__(0, L.zeros(2)), type(m[0]).__name__))(PL(L))[1]
C["pl neg idx"] = lambda L: PL(L)[-1].shape
C["pl other"] = lambda L: (lambda m: (m.append("str"), m[2]))(PL(L))[1]
C["pl add"] = lambda L: PL(L) + PL(L)
C["pl iadd"] = lambda L: (lambda m: (m.__iadd__([L.ones(1)]) is m, len(m)))(PL(L))
PD = lambda L: L.nn.ParameterDict({"b": L.nn.Parameter(L.ones(1)), "a": L.ones(2)})
C["pd"] = lambda L: (
    list(PD(L).keys()),
    [type(v).__name__ for v in PD(L).values()],
    [n for n, _ in PD(L).named_parameters()],
)
C["pd get"] = lambda L: (PD(L).get("z"), PD(L).get("a").shape)
C["pd pop"] = lambda L: (lambda m: (m.pop("a").shape, list(m)))(PD(L))
C["pd setdefault"] = lambda L: (lambda m: (m.setdefault("c", L.ones(3)).shape, list(m)))(PD(L))
C["pd update"] = lambda L: (lambda m: (m.update({"c": L.ones(1)}), list(m)))(PD(L))[1]
C["pd copy"] = lambda L: (lambda m: (type(m.copy()).__name__, m.copy()["a"] is m["a"]))(PD(L))
C["pd fromkeys"] = lambda L: list(PD(L).fromkeys(["x", "y"], L.ones(1)))
C["pd or"] = lambda L: list(PD(L) | L.nn.ParameterDict({"z": L.ones(1)}))
C["pd popitem"] = lambda L: (lambda m: (m.popitem()[0], list(m)))(PD(L))
C["pd clear"] = lambda L: (lambda m: (m.clear(), len(m)))(PD(L))
C["pd contains"] = lambda L: "a" in PD(L)
C["pd missing"] = lambda L: PD(L)["q"]
C["pd reversed"] = lambda L: list(reversed(PD(L)))
C["pd other"] = lambda L: (lambda m: (m.__setitem__("s", "str"), m["s"]))(PD(L))[1]


def tied(L):
    nn = L.nn
    m = nn.Sequential(nn.Embedding(3, 2), nn.Linear(2, 3, bias=False))
    m[1].weight = m[0].weight
    m.register_buffer("b", L.arange(3))
    return m


C["deepcopy"] = lambda L: (
    lambda c: (
        type(c[0].weight).__name__,
        c[0].weight is c[1].weight,
        len(list(c.parameters())),
        c[0].weight.requires_grad,
        c.b.dtype == L.int64,
    )
)(copy.deepcopy(tied(L)))
C["pickle"] = lambda L: (
    lambda c: (type(c[0].weight).__name__, c[0].weight is c[1].weight, len(list(c.parameters())), c.b.tolist())
)(pickle.loads(pickle.dumps(tied(L))))
C["to dtype ident"] = lambda L: (
    lambda m: (
        lambda w: (
            m.to(L.float64) is m,
            m[0].weight is w,
            m[0].weight.dtype == L.float64,
            m.b.dtype == L.int64,
            type(m[0].weight).__name__,
        )
    )(m[0].weight)
)(tied(L))
C["double"] = lambda L: (lambda m: (m.double() is m, m[0].weight.dtype == L.float64, m.b.dtype == L.int64))(tied(L))
C["half"] = lambda L: (lambda m: (m.half() is m, m[0].weight.dtype == L.float16, m.b.dtype == L.int64))(tied(L))
C["float"] = lambda L: (lambda m: (m.double().float() is m, m[0].weight.dtype == L.float32))(tied(L))
C["to int"] = lambda L: tied(L).to(L.int32)
C["to kw"] = lambda L: (lambda m: (m.to(dtype=L.float64, device="cpu") is m, m[0].weight.dtype == L.float64))(tied(L))
C["to tensor"] = lambda L: (lambda m: (m.to(L.ones(1, dtype=L.float64)) is m, m[0].weight.dtype == L.float64))(tied(L))
C["to cpu str dtype"] = lambda L: (lambda m: (m.to("cpu", L.float64) is m, m[0].weight.dtype == L.float64))(tied(L))
C["to grad"] = lambda L: (lambda m: (m(L.ones(1, 2)).sum().backward(), m.double(), m.weight.grad.dtype == L.float64))(
    L.nn.Linear(2, 1)
)[2]
C["type"] = lambda L: (lambda m: (m.type(L.float64) is m, m.weight.dtype == L.float64))(L.nn.Linear(1, 1))
C["to complex"] = lambda L: (lambda m: (m.to(L.complex64), str(m.weight.dtype)))(L.nn.Linear(1, 1))[1]
C["bfloat16"] = lambda L: (lambda m: (m.bfloat16() is m, m.weight.dtype == L.bfloat16))(L.nn.Linear(1, 1))
C["to non_blocking"] = lambda L: L.nn.Linear(1, 1).to("cpu", non_blocking=True) is not None


# hooks
def hooks(L):
    log = []
    m = L.nn.Linear(2, 2)
    h1 = m.register_forward_pre_hook(lambda mod, a: log.append(("pre", len(a))))
    h2 = m.register_forward_pre_hook(
        lambda mod, a, k: (log.append(("prek", sorted(k))), None)[1], with_kwargs=True, prepend=True
    )
    h3 = m.register_forward_hook(lambda mod, a, o: log.append(("post", tuple(o.shape))))
    h4 = m.register_forward_hook(lambda mod, a, k, o: log.append(("postk", sorted(k))), with_kwargs=True)
    m(L.ones(1, 2))
    h1.remove()
    h3.remove()
    m(input=L.ones(1, 2))
    h2.remove()
    h4.remove()
    m(L.ones(1, 2))
    return log


C["hooks"] = hooks


def hook_replace(L):
    m = L.nn.Identity()
    m.register_forward_pre_hook(lambda mod, a: a[0] * 2)
    m.register_forward_hook(lambda mod, a, o: o + 1)
    return m(L.ones(1))


C["hook replace"] = hook_replace


def always(L):
    log = []

    class B(L.nn.Module):
        def forward(s, x):
            raise ValueError("boom")

    m = B()
    m.register_forward_hook(lambda mod, a, o: log.append("a"), always_call=True)
    m.register_forward_hook(lambda mod, a, o: log.append("n"))
    try:
        m(1)
    except ValueError:
        pass
    return log


C["always_call"] = always


def bhooks(L):
    log = []
    m = L.nn.Linear(2, 2)
    m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", [tuple(g.shape) for g in go])))
    m.register_full_backward_hook(
        lambda mod, gi, go: log.append(
            ("bw", [None if g is None else tuple(g.shape) for g in gi], [tuple(g.shape) for g in go])
        )
    )
    x = L.ones(1, 2, requires_grad=True)
    m(x).sum().backward()
    m(L.ones(1, 2)).sum().backward()
    return log


C["bhooks"] = bhooks


def bhook_replace(L):
    m = L.nn.Identity()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 3,))
    x = L.ones(2, requires_grad=True)
    m(x * 1).sum().backward()
    return x.grad


C["bhook replace"] = bhook_replace


def bhook_pre_replace(L):
    m = L.nn.Identity()
    m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 5,))
    x = L.ones(2, requires_grad=True)
    m(x * 1).sum().backward()
    return x.grad


C["bhook pre replace"] = bhook_pre_replace
C["hook handle id"] = lambda L: (lambda h: type(h.id).__name__)(L.nn.ReLU().register_forward_hook(lambda *a: None))
C["hook handle ctx"] = lambda L: (
    lambda m: (lambda h: (h.__enter__() is h, h.__exit__(None, None, None), len(m._forward_hooks)))(
        m.register_forward_hook(lambda *a: None)
    )
)(L.nn.ReLU())
C["hook dicts"] = lambda L: [
    hasattr(L.nn.ReLU(), a)
    for a in (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_state_dict_hooks",
        "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks",
        "_non_persistent_buffers_set",
        "_version",
    )
]
C["version"] = lambda L: (L.nn.Module._version, L.nn.BatchNorm1d._version)


def global_hooks(L):
    log = []
    mm = L.nn.modules.module
    h = mm.register_module_forward_hook(lambda mod, a, o: log.append(("g", type(mod).__name__)))
    h2 = mm.register_module_forward_pre_hook(lambda mod, a: log.append(("gp", type(mod).__name__)))
    try:
        L.nn.Sequential(L.nn.ReLU())(L.ones(1))
    finally:
        h.remove()
        h2.remove()
    L.nn.ReLU()(L.ones(1))
    return log


C["global hooks"] = global_hooks


def sd_hooks(L):
    log = []
    m = L.nn.Sequential(L.nn.Linear(1, 1))
    m[0].register_state_dict_pre_hook(lambda mod, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))
    m[0]._register_state_dict_hook(lambda mod, sd, prefix, local_md: log.append(("post", prefix, sorted(sd))))
    sd = m.state_dict()
    m[0].register_load_state_dict_pre_hook(
        lambda mod, sd, prefix, lmd, strict, mk, uk, em: log.append(("lpre", prefix, strict))
    )
    m[0].register_load_state_dict_post_hook(lambda mod, ik: log.append(("lpost", repr(ik))))
    m.register_load_state_dict_post_hook(lambda mod, ik: ik.unexpected_keys.clear())
    r = m.load_state_dict({**sd, "zz": L.ones(1)})
    log.append(repr(r))
    return log


C["sd hooks"] = sd_hooks


def sd_post_hook(L):
    m = L.nn.Linear(1, 1)
    m.register_state_dict_post_hook(lambda mod, sd, prefix, lmd: sd.pop(prefix + "bias"))
    return list(m.state_dict())


C["sd post hook"] = sd_post_hook


def lfsd(L):
    log = []

    class M(L.nn.Module):
        _version = 3

        def __init__(s):
            super().__init__()
            s.w = L.nn.Parameter(L.ones(1))

        def _load_from_state_dict(s, sd, prefix, lmd, strict, mk, uk, em):
            log.append((prefix, lmd.get("version"), sorted(sd)))
            if prefix + "old_w" in sd:
                sd[prefix + "w"] = sd.pop(prefix + "old_w")
            super()._load_from_state_dict(sd, prefix, lmd, strict, mk, uk, em)

    m = L.nn.Sequential(M())
    sd = m.state_dict()
    log.append(sorted(sd._metadata.items()))
    sd2 = __import__("collections").OrderedDict({"0.old_w": L.tensor([7.0])})
    sd2._metadata = sd._metadata
    r = m.load_state_dict(sd2)
    log.append((repr(r), m[0].w.tolist()))
    return log


C["_load_from_state_dict"] = lfsd


def extra(L):
    class M(L.nn.Module):
        def __init__(s):
            super().__init__()
            s.v = 1

        def get_extra_state(s):
            return {"v": s.v}

        def set_extra_state(s, st):
            s.v = st["v"]

    m = L.nn.Sequential(M())
    sd = m.state_dict()
    sd["0._extra_state"] = {"v": 5}
    r = m.load_state_dict(sd)
    return (list(sd), m[0].v, repr(r), repr(m.load_state_dict({}, strict=False)))


C["extra state"] = extra
C["p2v"] = lambda L: L.nn.utils.parameters_to_vector(L.nn.Linear(2, 2).parameters()).shape
C["v2p"] = lambda L: (
    lambda m: (L.nn.utils.vector_to_parameters(L.arange(6.0), m.parameters()), [p.tolist() for p in m.parameters()])
)(L.nn.Linear(2, 2))[1]
C["v2p bad"] = lambda L: L.nn.utils.vector_to_parameters([1.0], L.nn.Linear(2, 2).parameters())
C["p2v gen"] = lambda L: L.nn.utils.parameters_to_vector(iter([L.ones(2, 2), L.ones(3)])).tolist()
C["Buffer"] = lambda L: (
    lambda m: (
        setattr(m, "b", L.nn.Buffer(L.ones(2))),
        setattr(m, "c", L.nn.Buffer(L.ones(1), persistent=False)),
        list(m.state_dict()),
        [n for n, _ in m.named_buffers()],
        type(m.b).__name__,
    )
)(L.nn.Module())[2:]
C["Buffer repr"] = lambda L: type(L.nn.Buffer(L.ones(1))).__name__
C["param rg false"] = lambda L: (lambda p: (p.requires_grad, type(p).__name__, p.is_leaf))(
    L.nn.Parameter(L.ones(1), requires_grad=False)
)
C["param default"] = lambda L: L.nn.Parameter().shape
C["param of param"] = lambda L: type(L.nn.Parameter(L.nn.Parameter(L.ones(1)))).__name__
C["param deepcopy"] = lambda L: (lambda p: (type(p).__name__, p.requires_grad))(
    copy.deepcopy(L.nn.Parameter(L.ones(1), requires_grad=False))
)
C["param arith type"] = lambda L: type(L.nn.Parameter(L.ones(1)) * 2).__name__
C["param detach type"] = lambda L: type(L.nn.Parameter(L.ones(1)).detach()).__name__
C["param data type"] = lambda L: type(L.nn.Parameter(L.ones(1)).data).__name__
C["param clone type"] = lambda L: type(L.nn.Parameter(L.ones(1)).clone()).__name__
C["param int"] = lambda L: L.nn.Parameter(L.ones(1, dtype=L.int64))
C["param int nograd"] = lambda L: L.nn.Parameter(L.ones(1, dtype=L.int64), requires_grad=False).dtype == L.int64


def call_impl(L):
    class M(L.nn.Module):
        def forward(s, x, y=1):
            return x + y

    m = M()
    return (
        m._call_impl(L.ones(1), y=2),
        m._wrapped_call_impl(L.ones(1)) if hasattr(m, "_wrapped_call_impl") else "none",
    )


C["call_impl"] = call_impl
C["no forward"] = lambda L: L.nn.Module()(1)
C["train flag"] = lambda L: (
    lambda m: (m.eval(), [x.training for x in m.modules()], m.train(), [x.training for x in m.modules()])
)(tied(L))[1::2]


def train_override(L):
    log = []

    class M(L.nn.Module):
        def train(s, mode=True):
            log.append(mode)
            return super().train(mode)

    m = L.nn.Sequential(M())
    m.eval()
    m.train()
    return log


C["train override"] = train_override
C["children"] = lambda L: [type(c).__name__ for c in tied(L).children()]
C["shared children"] = lambda L: (lambda m: (setattr(m, "x", m.a), [n for n, _ in m.named_children()])[1])(
    (lambda m: (setattr(m, "a", L.nn.ReLU()), m)[1])(L.nn.Module())
)
C["params dedup"] = lambda L: len(list(tied(L).parameters()))
C["get_extra_state default"] = lambda L: L.nn.Module().get_extra_state()
C["__call__ is"] = lambda L: (
    L.nn.Module.__call__ is L.nn.Module._call_impl
    or L.nn.Module.__call__ is getattr(L.nn.Module, "_wrapped_call_impl", None)
)
C["share_memory"] = lambda L: (lambda m: m.share_memory() is m)(L.nn.Linear(1, 1))
C["compile attr"] = lambda L: hasattr(L.nn.Module(), "compile")
C["ipu/xpu"] = lambda L: [
    hasattr(L.nn.Module(), a)
    for a in (
        "xpu",
        "ipu",
        "mtia",
        "to_empty",
        "register_forward_hook",
        "get_extra_state",
        "set_extra_state",
        "_apply",
        "_named_members",
        "_get_backward_hooks",
        "_replicate_for_data_parallel",
    )
]
C["to_empty"] = lambda L: (lambda m: (m.to_empty(device="cpu") is m, m.weight.shape))(L.nn.Linear(2, 3))
C["_apply"] = lambda L: (lambda m: (m._apply(lambda t: t * 0) is m, m.weight.tolist(), type(m.weight).__name__))(
    L.nn.Linear(2, 1)
)

# differences kept (README or by construction): class paths in messages ("backprop.nn..." for "torch.nn...";
# torch.Size printing), dtype names ("float32" for "torch.float32"), torch's KeyError bug in
# ModuleList.insert(-1), module internals (_forward_hooks dicts, xpu/ipu), nn.Buffer's own type, forward
# argument names (Linear(input=x)), and the integer-Parameter message (tensor.py's)
KNOWN = {
    "load dtype",
    "load assign",
    "set module to param name",
    "repr pl",
    "seq insert bad",
    "seq mul 0",
    "seq mul bad",
    "ml insert neg",
    "to complex",
    "hooks",
    "hook handle ctx",
    "hook dicts",
    "Buffer repr",
    "param int",
    "ipu/xpu",
    "Buffer",
}


@pytest.mark.parametrize("name", sorted(k for k in C if k not in KNOWN))
def test_module_api_case_as_torch(name: str) -> None:
    _same_as_torch(C[name])


def test_load_state_dict_messages_without_torch() -> None:
    m = bp.nn.Sequential(bp.nn.Linear(2, 3))
    sd = m.state_dict()
    assert sd._metadata[""] == {"version": 1} and list(sd) == ["0.weight", "0.bias"]
    r = m.load_state_dict({"0.weight": bp.ones(3, 2), "x": bp.ones(1)}, strict=False)
    assert repr(r) == "_IncompatibleKeys(missing_keys=['0.bias'], unexpected_keys=['x'])"
    assert repr(m.load_state_dict(sd)) == "<All keys matched successfully>"
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict({"0.weight": bp.ones(2, 2)})
    assert str(info.value) == (
        'Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in state_dict: "0.bias". \n\t'
        "size mismatch for 0.weight: copying a param with shape torch.Size([2, 2]) from checkpoint, the shape "
        "in current model is torch.Size([3, 2])."
    )
    assert repr(bp.nn.ModuleList([bp.nn.ReLU()] * 3)) == "ModuleList(\n  (0-2): 3 x ReLU()\n)"


def test_forward_parameter_names_are_torchs() -> None:
    """``Linear(...)(input=x)`` works as in torch: every module's forward takes torch's parameter names."""
    import inspect

    for name in ("Linear", "Embedding", "Dropout", "LayerNorm", "Flatten"):
        assert list(inspect.signature(getattr(bp.nn, name).forward).parameters)[1:] == ["input"], name
    x = bp.ones(4, 2)
    assert bp.nn.Linear(2, 3)(input=x).shape == (4, 3)
    assert bp.nn.Embedding(5, 2)(input=bp.tensor([1, 4])).shape == (2, 2)
    torch = pytest.importorskip("torch", reason="torch not installed")
    bad = []
    for name in dir(torch.nn):
        theirs, ours = getattr(torch.nn, name), getattr(bp.nn, name, None)
        if not (isinstance(theirs, type) and issubclass(theirs, torch.nn.Module)) or ours is None:
            continue
        if name.startswith("Lazy") or "forward" not in vars(theirs) or "forward" not in vars(ours):
            continue  # (containers and bases: no forward of their own)
        want, got = inspect.signature(theirs.forward).parameters, inspect.signature(ours.forward).parameters
        if any(p.kind is p.VAR_POSITIONAL for p in (*want.values(), *got.values())):
            continue  # (torch's Module.forward(*input), our containers' (*args, **kwargs))
        bad.append((name, list(want), list(got)[: len(want)])) if list(got)[: len(want)] != list(want) else None
    assert not bad, bad
