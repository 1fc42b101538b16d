"""Signature parity of torch's Python-level classes and functions with ours: ``nn`` modules (``__init__``,
``forward`` and every public method), ``optim`` and ``optim.lr_scheduler``, ``utils.data``, ``nn.init``,
``nn.utils`` (``rnn``, ``parametrize``, ``parametrizations``, ``prune``, ``stateless``), ``distributions`` (with
``constraints`` and ``transforms``), ``autograd`` (``functional``, ``forward_ad``), ``func``, ``amp``,
``testing``, ``utils.checkpoint``, and ``save``/``load``.

Where ``inspect.signature`` works on torch's side, each of torch's parameters must be ours with the same kind
and default, positional ones in torch's order (a ``**kwargs`` of ours takes a missing keyword). The exceptions
are listed with their reasons in ``ALLOWED``: a new mismatch fails, and so does a listed one that is fixed.
Then real calls: the ``device=``/``dtype=`` factory keywords of every parametrized layer, optimizers with a
tensor ``lr``, and the keywords added for parity. The module skips without torch.
"""

from __future__ import annotations

import inspect
import io
import pickle
import types
import warnings
from inspect import Parameter as P  # noqa: N817
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch")
# torch's own notices (deprecated assert_allclose, pickle protocol, nested-tensor hints) are not under test here
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
for _sub in ("distributions.constraints", "distributions.transforms", "nn.utils.parametrizations",
             "nn.utils.parametrize", "nn.utils.prune", "nn.utils.stateless", "utils.checkpoint"):  # fmt: skip
    __import__("torch." + _sub)

# (label, path under torch and under bp); the label prefixes the keys of ALLOWED
NAMESPACES = """nn optim optim.lr_scheduler utils.data nn.init nn.utils nn.utils.rnn nn.utils.parametrize
nn.utils.parametrizations nn.utils.prune nn.utils.stateless distributions distributions.constraints
distributions.transforms autograd autograd.functional autograd.forward_ad func amp testing utils.checkpoint""".split()
TOPLEVEL = ["save", "load"]
_SKIP_CLASSES = {
    "Tensor",
    "Parameter",
    "Buffer",
    "UninitializedBuffer",
    "UninitializedParameter",
}  # their methods are tests/test_parity_method_keywords.py's


def _module(root: Any, path: str) -> Any:
    for part in path.split("."):
        root = getattr(root, part)
    return root


def _sig(f: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):
        return None


def _default(d: Any) -> str:
    if d is P.empty:
        return "<required>"
    if isinstance(d, torch.Size):
        d = tuple(d)
    if isinstance(d, (int, float, str, bool, type(None), tuple)):
        return repr(d)
    if isinstance(d, types.ModuleType):
        return f"module {d.__name__}"
    return type(d).__name__  # (a function, a generator object, ...: compared by kind only)


def _compare(ts: inspect.Signature, bs: inspect.Signature) -> list[str]:
    """Our signature ``bs`` against torch's ``ts``: one line per difference."""
    tps = [p for p in ts.parameters.values() if p.name != "self"]
    bps = [p for p in bs.parameters.values() if p.name != "self"]
    ours = {p.name: p for p in bps}
    var_kw = any(p.kind is P.VAR_KEYWORD for p in bps)
    out = []
    for p in tps:
        if p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            if not any(q.kind is p.kind for q in bps):
                out.append(f"{'*' if p.kind is P.VAR_POSITIONAL else '**'}{p.name}:missing")
            continue
        q = ours.get(p.name)
        if q is None:
            if not (var_kw and p.kind is not P.POSITIONAL_ONLY):
                out.append(f"{p.name}:missing")
            continue
        if p.kind is not q.kind:
            out.append(f"{p.name}:kind")
        if _default(p.default) != _default(q.default):
            out.append(f"{p.name}:default")
    positional = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
    t_order = [p.name for p in tps if p.kind in positional]
    b_order = [p.name for p in bps if p.kind in positional]
    if [n for n in b_order if n in t_order] != [n for n in t_order if n in b_order]:
        out.append("order")
    names = {p.name for p in tps}
    out += [
        f"{q.name}:extra required" for q in bps if q.name not in names and q.kind in positional and q.default is P.empty
    ]
    return out


def _methods(cls: type) -> set[str]:
    names = set()
    for k in cls.__mro__:
        if k is object:
            continue
        for n, v in vars(k).items():
            if (not n.startswith("_") or n == "__init__") and isinstance(
                v, (types.FunctionType, staticmethod, classmethod)
            ):
                names.add(n)
    return names


def _only_var(s: inspect.Signature) -> bool:
    return all(p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) or p.name == "self" for p in s.parameters.values())


def _check(key: str, t: Any, b: Any, found: dict[str, str]) -> None:
    ts = _sig(t)
    if ts is None or _only_var(ts):  # (torch's *args/**kwargs says nothing to compare with)
        return
    bs = _sig(b)
    if bs is None:
        found[key + ":signature"] = "ours has no signature"
        return
    for diff in _compare(ts, bs):
        found[f"{key}:{diff}"] = f"{ts}  vs ours  {bs}"


def _raw(f: Any) -> Any:
    return getattr(f, "__func__", f)


def _mismatches() -> dict[str, str]:
    found: dict[str, str] = {}
    seen: set[tuple[Any, Any]] = set()
    for label in NAMESPACES:
        tm, bm = _module(torch, label), _module(bp, label)
        home = tm.__name__
        listed = set(getattr(tm, "__all__", ()))
        for name in sorted(dir(tm)):
            t = getattr(tm, name, None)
            if name.startswith("_") or isinstance(t, types.ModuleType) or not callable(t) or name in _SKIP_CLASSES:
                continue
            if not (getattr(t, "__module__", None) or "").startswith(home) and name not in listed:
                continue  # (a name imported from elsewhere: typing, torch.Tensor, ...)
            b = getattr(bm, name, None)
            key = f"{label}.{name}"
            if b is None:
                found[key + ":absent"] = "not provided"
                continue
            if not isinstance(t, type):
                _check(key, t, b, found)
                continue
            if not isinstance(b, type):
                continue
            for m in sorted(_methods(t)):
                tf, bf = getattr(t, m, None), getattr(b, m, None)
                if tf is None or tf is object.__init__:
                    continue
                pair = (_raw(tf), _raw(bf))
                if pair in seen:
                    continue  # (inherited on both sides: checked once, under the class that defines it)
                seen.add(pair)
                owner = next(k for k in t.__mro__ if m in vars(k)).__name__
                ob = getattr(bm, owner, None)
                where = f"{label}.{owner}" if hasattr(tm, owner) and _raw(getattr(ob, m, None)) is pair[1] else key
                if bf is None:
                    found[f"{where}.{m}:absent"] = "not provided"
                else:
                    _check(f"{where}.{m}", tf, bf, found)
    for name in TOPLEVEL:
        _check(name, getattr(torch, name), getattr(bp, name), found)
    return found


_RNN_HELPERS = "torch's internal shape checks of its RNN forward (ours raise the same errors inline)"
_DATAPIPES = "torchdata's datapipes (deprecated in torch, not provided)"
_CKPT = "torch.utils.checkpoint internals (GraphExecGroup, for grouped backward passes): not provided"
_CONSTRAINT = "a constraint's check(value): torch names it x in this class only; passed positionally"
ALLOWED: dict[str, str] = {
    **{
        f"nn.RNNBase.{m}:absent": _RNN_HELPERS
        for m in (
            "check_forward_args",
            "check_hidden_size",
            "check_input",
            "get_expected_hidden_size",
            "permute_hidden",
        )
    },  # fmt: skip
    **{f"nn.LSTM.{m}:absent": _RNN_HELPERS for m in ("check_forward_args", "get_expected_cell_size", "permute_hidden")},
    "nn.Module.register_backward_hook:absent": "torch's deprecated hook: use register_full_backward_hook",
    **{
        f"nn.DataParallel.{m}:absent": "DataParallel runs the module once on its one device: no scatter/gather"
        for m in ("gather", "parallel_apply", "replicate", "scatter")
    },  # fmt: skip
    "nn.MultiheadAttention.merge_masks:absent": "torch's internal helper (masks are merged inside forward)",
    "nn.factory_kwargs:absent": "torch's internal helper for device=/dtype= (every layer takes them)",
    "nn.LazyConv1d.initialize_parameters:*args:missing": "ours takes the input only (torch: *args, **kwargs)",
    "nn.LazyConv1d.initialize_parameters:**kwargs:missing": "ours takes the input only (torch: *args, **kwargs)",
    "optim.Optimizer.profile_hook_step:absent": "torch profiler hook (no profiler hooks here)",
    "optim.swap_in_optimizer_params_and_state:absent": "torch 2.13 helper for swapping tensors: not provided",
    "optim.Adagrad.share_memory:absent": "no shared host memory (see README, share_memory_)",
    "optim.lr_scheduler.SequentialLR.recursive_undo:absent": "torch's internal helper of SequentialLR.__init__",
    **{
        f"utils.data.{n}:absent": _DATAPIPES
        for n in (
            "DFIterDataPipe",
            "DataChunk",
            "IterDataPipe",
            "MapDataPipe",
            "argument_validation",
            "functional_datapipe",
            "guaranteed_datapipes_determinism",
            "non_deterministic",
            "runtime_validation",
            "runtime_validation_disabled",
        )
    },  # fmt: skip
    "utils.data.random_split:generator:default": "None is the default generator (torch's default_generator)",
    "nn.utils.rnn.PackedSequence_:absent": "torch's NamedTuple base of PackedSequence (internal)",
    "nn.utils.rnn.bind:absent": "torch's internal helper",
    "distributions.constraints._Dependent.check:x:missing": _CONSTRAINT,
    "distributions.constraints._Dependent.check:value:extra required": _CONSTRAINT,
    "distributions.constraints._Multinomial.check:x:missing": _CONSTRAINT,
    "distributions.constraints._Multinomial.check:value:extra required": _CONSTRAINT,
    "distributions.constraints._DependentProperty.__init__:fn:missing": "ours is a property subclass (fget=)",
    "autograd.NestedIOFunction:absent": "torch's legacy autograd.Function variant: not provided",
    "autograd.enforce_grad_layout_policy:absent": "torch's internal gradient-layout switch: not modeled",
    "autograd.backward:grad_variables:missing": "torch's deprecated alias of grad_tensors",
    **{
        f"autograd.Function.{m}:absent": "ctx methods: ours live on the ctx object, not on Function"
        for m in (
            "mark_dirty",
            "mark_non_differentiable",
            "mark_shared_storage",
            "save_for_backward",
            "save_for_forward",
            "set_materialize_grads",
            "jvp",
        )
    },  # fmt: skip
    "autograd.forward_ad._DecoratorContextManager.clone:absent": "dual_level is a plain context manager here",
    "func.debug_unwrap:absent": "no functorch wrapper tensors to unwrap",
    "func.rearrange:absent": "functorch's einops-style rearrange: not provided (use permute/reshape)",
    "utils.checkpoint.GraphExecGroup:absent": _CKPT,
}


def test_signatures_match_torch() -> None:
    found = _mismatches()
    new = sorted(f"{k}\n      {found[k]}" for k in found if k not in ALLOWED)
    fixed = sorted(k for k in ALLOWED if k not in found)
    assert not new, "signatures that differ from torch's (fix, or list in ALLOWED with a reason):\n" + "\n".join(new)
    assert not fixed, "listed in ALLOWED but now matching (remove them):\n" + "\n".join(fixed)


# ------------------------------------------------------------------------------------------- real calls
_ARGS: dict[str, tuple] = {"Bilinear": (2, 3, 4), "Embedding": (5, 3), "EmbeddingBag": (5, 3),
    "MultiheadAttention": (4, 2), "TransformerEncoderLayer": (4, 2), "TransformerDecoderLayer": (4, 2),
    "GroupNorm": (2, 4), "AdaptiveLogSoftmaxWithLoss": (8, 10, [4]), "Linear": (3, 4), "PReLU": (),
    "Transformer": (4, 2, 1, 1, 8), "LinearCrossEntropyLoss": (3, 4),
    **{n: (3, 4) for n in ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")}}  # fmt: skip
_FACTORY = sorted(
    n
    for n in dir(torch.nn)
    if isinstance(c := getattr(torch.nn, n), type)
    and issubclass(c, torch.nn.Module)
    and not n.endswith("Base")
    and not n.startswith("Lazy")
    and ("dtype" in (s.parameters if (s := _sig(c.__init__)) else {}) or n in ("RNN", "LSTM", "GRU"))
)


def _dtypes(m: Any) -> dict[str, str]:
    return {k: str(v.dtype).rsplit(".", 1)[-1] for k, v in [*m.named_parameters(), *m.named_buffers()]}


@pytest.mark.parametrize("name", _FACTORY)
def test_factory_kwargs_make_parameters_of_that_dtype(name: str) -> None:
    args = _ARGS.get(name, (2, 4, 3) if name.startswith("Conv") else (4,))
    want = _dtypes(getattr(torch.nn, name)(*args, device="cpu", dtype=torch.float64))
    got = getattr(bp.nn, name)(*args, device="cpu", dtype=bp.float64)
    assert _dtypes(got) == want
    assert all(t.device.type == "cpu" for t in [*got.parameters(), *got.buffers()])


def test_factory_kwargs_of_lazy_modules_and_buffers() -> None:
    for lib in (torch, bp):
        lin = lib.nn.LazyLinear(3, dtype=lib.float64)
        lin(lib.ones(2, 5, dtype=lib.float64))
        assert str(lin.weight.dtype).endswith("float64") and tuple(lin.weight.shape) == (3, 5)
        conv = lib.nn.LazyConv2d(4, 3, dtype=lib.float64)
        conv(lib.ones(1, 2, 5, 5, dtype=lib.float64))
        assert str(conv.weight.dtype).endswith("float64") and tuple(conv.weight.shape) == (4, 2, 3, 3)
    bn, tbn = bp.nn.BatchNorm1d(3, dtype=bp.float16), torch.nn.BatchNorm1d(3, dtype=torch.float16)
    assert _dtypes(bn) == _dtypes(tbn) == {"weight": "float16", "bias": "float16", "running_mean": "float16",
                                           "running_var": "float16", "num_batches_tracked": "int64"}  # fmt: skip


_W0 = np.arange(6.0).reshape(2, 3) / 7
_OPTIMIZERS = [
    ("Adam", lambda lib: {"lr": lib.tensor(0.01), "foreach": False, "maximize": True, "capturable": False,
                          "differentiable": False, "fused": None, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("AdamW", lambda lib: {"lr": lib.tensor(0.01), "amsgrad": True}),
    ("SGD", lambda lib: {"lr": lib.tensor(0.1), "momentum": 0.9, "weight_decay": lib.tensor(0.01)}),
    ("RMSprop", lambda lib: {"lr": lib.tensor(0.01), "capturable": False, "foreach": None}),
    ("NAdam", lambda lib: {"lr": lib.tensor(0.01), "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("RAdam", lambda lib: {"lr": lib.tensor(0.01), "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("Adagrad", lambda lib: {"lr": lib.tensor(0.01), "maximize": True}),
]  # fmt: skip


@pytest.mark.parametrize("name,make", _OPTIMIZERS, ids=[o[0] for o in _OPTIMIZERS])
def test_optimizer_keywords_and_tensor_lr(name: str, make: Any) -> None:
    out = []
    for lib in (torch, bp):
        w = lib.tensor(_W0, requires_grad=True)
        opt = getattr(lib.optim, name)([w], **make(lib))
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        out.append(w.detach().numpy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6, atol=1e-9)


def test_scheduler_keywords() -> None:
    out = []
    for lib in (torch, bp):
        w = lib.tensor(_W0, requires_grad=True)
        opt = lib.optim.SGD([w], lr=1.0)
        mult = lib.optim.lr_scheduler.MultiplicativeLR(opt, lr_lambda=lambda e: 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mult.step()
            mult.step(epoch=3)  # (deprecated: the factor at that epoch, as torch)
            plateau = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
            plateau.step(1.0, epoch=5)
            plateau.step(2.0)
        state = plateau.state_dict()
        plateau.load_state_dict(state_dict=state)
        opt.add_param_group(param_group={"params": [lib.zeros(2, requires_grad=True)], "lr": 0.3})
        out.append([*(g["lr"] for g in opt.param_groups), mult.last_epoch, plateau.last_epoch])
    assert out[1] == pytest.approx(out[0])


def test_module_and_container_keywords() -> None:
    for lib in (torch, bp):
        shared = lib.nn.Linear(2, 2)
        seq = lib.nn.Sequential(shared, lib.nn.ReLU(), shared)
        assert len(list(seq.modules(remove_duplicate=False))) == 4
        assert len(list(seq.modules())) == 3
        assert isinstance(seq.pop(key=1), lib.nn.ReLU)
        seq.extend(sequential=[lib.nn.Tanh()])
        assert len(seq) == 3
        with pytest.raises(TypeError):
            seq.to_empty()  # (torch: device is required)
        seq.to_empty(device="cpu")
        emb = lib.nn.Embedding(4, 3, padding_idx=1)
        emb.reset_parameters()
        assert float(emb.weight.detach()[1].abs().sum()) == 0.0
        for m in (lib.nn.LayerNorm(3), lib.nn.GroupNorm(1, 3)):
            with lib.no_grad():
                m.weight.fill_(5.0)
            m.reset_parameters()
            assert float(m.weight.detach().sum()) == 3.0 and float(m.bias.detach().abs().sum()) == 0.0


def test_save_load_keywords() -> None:
    for lib in (torch, bp):
        buf = io.BytesIO()
        lib.save({"w": lib.ones(2)}, buf, pickle_module=pickle, pickle_protocol=2)
        buf.seek(0)
        got = lib.load(buf, map_location="cpu", weights_only=None)
        assert float(got["w"].sum()) == 2.0
    for lib in (torch, bp):  # (mmap=True needs a zip file)
        with pytest.raises(RuntimeError, match="mmap can only be used with files saved with"):
            lib.load(io.BytesIO(b"not a zip"), mmap=True)


def test_testing_and_gradcheck_keywords() -> None:
    nan = float("nan")
    for lib in (torch, bp):
        lib.testing.assert_allclose(lib.tensor([1.0, nan]), lib.tensor([1.0, nan]))  # (equal_nan=True by default)
        with pytest.raises(AssertionError):
            lib.testing.assert_allclose(lib.tensor([1.0, nan]), lib.tensor([1.0, nan]), equal_nan=False)
        lib.testing.assert_close(lib.tensor([1.0]), lib.tensor([1.0]), check_device=True, check_dtype=True,
                                 check_layout=True, check_stride=False, equal_nan=False, msg=lambda m: m)  # fmt: skip
        x = lib.tensor([0.3, 0.7], dtype=lib.float64, requires_grad=True)
        assert lib.autograd.gradcheck(
            func=lambda t: (t * t).sin(), inputs=(x,), eps=1e-6, nondet_tol=0.0, fast_mode=True
        )
        assert lib.autograd.gradgradcheck(func=lambda t: (t * t).sin(), inputs=(x,), raise_exception=True)
        ckpt = lib.utils.checkpoint.checkpoint(lambda t: t * 2, x, use_reentrant=False, early_stop=True)
        assert ckpt.shape == x.shape
    with pytest.raises(NotImplementedError, match="check_batched_forward_grad"):
        bp.autograd.gradcheck(
            lambda t: t * 2, (bp.ones(2, dtype=bp.float64, requires_grad=True),), check_batched_forward_grad=True
        )
