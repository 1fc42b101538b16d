"""torch's custom ``autograd.Function`` examples (``torch.testing._internal.autograd_function_db``, used by
functorch's tests: NumpyCube, NumpyMul, NumpySort, NumpyTake, Select, the GenVmap variants, ScaleGradGenVmap,
ZeroGradientsGenVmap, ForwardHasDefaultArgs, ...) re-bound to backprop and run beside torch's.

Each Function class is rebuilt from its staticmethods' code objects with globals where ``torch`` is
``backprop`` (``once_differentiable`` re-applied as backprop's), so the same source text runs on both; the
OpInfo's op (``Cls.apply`` or a lambda) is re-bound the same way. Per sample: forward values, dtypes and
shapes; gradients through ``autograd.grad`` (and the error where torch refuses); the forward-mode tangent
through ``func.jvp`` where the OpInfo supports forward AD; ``func.vmap`` over a batch of samples against
``torch.func.vmap`` (the Function's ``vmap`` staticmethod or ``generate_vmap_rule``).

A difference left on purpose is in ``KNOWN`` with its reason; a KNOWN entry that starts agreeing fails.
"""

from __future__ import annotations

import types

import pytest

import backprop as bp

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")

from tests import opinfo_harness as H  # noqa: E402

if not H.load():
    pytest.skip("torch's test utilities missing", allow_module_level=True)

import torch.testing._internal.autograd_function_db as M  # noqa: E402

# (torch.func's first jvp/vmap call scripts a helper, which warns on torch 2.13)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

G = {**M.__dict__, "torch": bp}  # the module's globals with torch as backprop (shared: classes call each other)


def _rebind_fn(f):
    inner = getattr(f, "__wrapped__", None)
    if inner is not None:  # torch's once_differentiable wrapper: backprop's around the re-bound function
        return bp.autograd.function.once_differentiable(_rebind_fn(inner))
    return types.FunctionType(f.__code__, G, f.__name__, f.__defaults__, f.__closure__)


def _rebind_cls(cls):
    attrs = {"__module__": __name__, "__qualname__": cls.__qualname__}
    for k, v in cls.__dict__.items():
        if isinstance(v, staticmethod):
            attrs[k] = staticmethod(_rebind_fn(v.__func__))
        elif not k.startswith("__") and not callable(v):  # generate_vmap_rule, ScaleGradGenVmap.scale
            attrs[k] = v
    return type(cls.__name__, (bp.autograd.Function,), attrs)


for _k, _v in list(M.__dict__.items()):
    if isinstance(_v, type) and issubclass(_v, torch.autograd.Function) and _v.__module__ == M.__name__:
        G[_k] = _rebind_cls(_v)


def _bp_op(f):
    if isinstance(f, types.MethodType):  # Cls.apply
        return getattr(G[f.__self__.__name__], f.__name__)
    return types.FunctionType(f.__code__, G, f.__name__, f.__defaults__)


OPS = {op.name: op for op in M.autograd_function_db}

KNOWN: dict[str, str] = {
    "NumpyCubeNotComposableAutogradFunction": "bp.func.vmap runs the function once per slice, so a Function "
    "with neither a vmap staticmethod nor generate_vmap_rule is not refused as torch refuses it",
}


def _samples(op, requires_grad=True):
    torch.manual_seed(0)
    return list(op.sample_inputs("cpu", torch.float64, requires_grad=requires_grad))


def check(name: str) -> str | None:
    """None when backprop's re-bound Function agrees with torch's, else the first difference."""
    op = OPS[name]
    fn = _bp_op(op.op)
    for n, s in enumerate(_samples(op)):
        t = op.op(s.input, *s.args, **s.kwargs)
        bi, ba, bk = H.to_bp(s.input), H.to_bp(tuple(s.args)), H.to_bp(dict(s.kwargs))
        try:
            b = fn(bi, *ba, **bk)
        except Exception as e:  # noqa: BLE001 - reported
            return f"sample {n}: forward raises {type(e).__name__}: {str(e)[:150]}"
        problem = H.compare(name, t, b, 1e-7, 1e-7)
        if problem:
            return f"sample {n}: forward {problem}"
        touts = [x for x in H.flat(t) if isinstance(x, torch.Tensor) and x.requires_grad]
        bouts = [x for x in H.flat(b) if isinstance(x, bp.Tensor) and x.requires_grad]
        if len(touts) != len(bouts):
            return f"sample {n}: {len(bouts)} outputs require grad, torch {len(touts)}"
        tins = [x for x in H.flat([s.input, list(s.args)]) if isinstance(x, torch.Tensor) and x.requires_grad]
        bins = [x for x in H.flat([bi, list(ba)]) if isinstance(x, bp.Tensor) and x.requires_grad]
        torch.manual_seed(1)
        cots = [torch.randn_like(x) for x in touts]
        tg = bg = te = None
        try:
            tg = torch.autograd.grad(touts, tins, cots, allow_unused=True, create_graph=True)
        except Exception as e:  # noqa: BLE001
            te = e
        try:
            bg = bp.autograd.grad(bouts, bins, [H.to_bp(c) for c in cots], allow_unused=True, create_graph=True)
        except Exception as e:  # noqa: BLE001
            be = e
        else:
            be = None
        if (te is None) != (be is None):
            return f"sample {n}: backward: torch {te!r:.150}, backprop {be!r:.150}"
        if te is None:
            tg = [torch.zeros_like(x) if g is None else g for g, x in zip(tg, tins)]
            bg = [bp.zeros_like(x) if g is None else g for g, x in zip(bg, bins)]
            problem = H.compare("grad", tuple(tg), tuple(bg), 1e-7, 1e-7)
            if problem:
                return f"sample {n}: gradient {problem}"
        if op.supports_forward_ad:
            problem = _check_jvp(op, fn, s)
            if problem:
                return f"sample {n}: jvp {problem}"
    return _check_vmap(op, fn)


def _tensor_positions(s):
    return [i for i, a in enumerate([s.input, *s.args]) if isinstance(a, torch.Tensor) and a.is_floating_point()]


def _check_jvp(op, fn, s):
    args = [s.input, *s.args]
    pos = _tensor_positions(s)
    torch.manual_seed(2)
    tangents = [torch.randn_like(args[i]) for i in pos]

    def call(mod, f, all_args):
        def g(*xs):
            a = list(all_args)
            for i, x in zip(pos, xs):
                a[i] = x
            out = f(*a, **s.kwargs)
            return tuple(o for o in H.flat(out) if isinstance(o, mod.Tensor) and o.is_floating_point())

        return g

    targs = [a.detach() if isinstance(a, torch.Tensor) else a for a in args]
    expected = torch.func.jvp(call(torch, op.op, targs), tuple(targs[i] for i in pos), tuple(tangents))
    bargs = [H.to_bp(a) for a in targs]
    try:
        got = bp.func.jvp(call(bp, fn, bargs), tuple(bargs[i] for i in pos), tuple(H.to_bp(tangents)))
    except Exception as e:  # noqa: BLE001
        return f"raises {type(e).__name__}: {str(e)[:150]}"
    return H.compare("jvp", expected, got, 1e-7, 1e-7)


def _check_vmap(op, fn):
    """vmap over a batch of 3 of the first sample's tensor arguments (the others broadcast)."""
    s = _samples(op, requires_grad=False)[0]
    args = [s.input, *s.args]
    pos = _tensor_positions(s)
    torch.manual_seed(3)
    batched = [torch.stack([a + 0.1 * torch.randn_like(a) for _ in range(3)]) if i in pos else a
               for i, a in enumerate(args)]  # fmt: skip
    in_dims = tuple(0 if i in pos else None for i in range(len(args)))
    te = be = None
    try:
        expected = torch.func.vmap(op.op, in_dims=in_dims)(*batched, **s.kwargs)
    except Exception as e:  # noqa: BLE001
        te = e
    try:
        got = bp.func.vmap(fn, in_dims=in_dims)(*H.to_bp(batched), **H.to_bp(dict(s.kwargs)))
    except Exception as e:  # noqa: BLE001
        be = e
    if (te is None) != (be is None):
        return f"vmap: torch {te!r:.150}, backprop {be!r:.150}"
    return None if te is not None else H.compare(op.name, expected, got, 1e-7, 1e-7)


@pytest.mark.parametrize("name", sorted(OPS))
def test_autograd_function_db(name):
    problem = check(name)
    if name in KNOWN:
        assert problem is not None, f"{name} now agrees with torch: remove it from KNOWN ({KNOWN[name]})"
        return
    assert problem is None, f"{name}: {problem}"


def test_known_names_exist():
    assert set(KNOWN) <= set(OPS)


def test_no_grad_numpy_and_forward_defaults():
    """What the db's Functions rely on: ``x.numpy()`` of a tensor that requires grad under ``no_grad`` (a
    Function's forward), ``setup_context`` seeing forward's defaults, ``save_for_forward``, ``argsort(axis=)``."""
    x = bp.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()
    with bp.no_grad():
        assert x.numpy().tolist() == [1.0, 1.0]
    seen = []

    class F(bp.autograd.Function):
        @staticmethod
        def forward(x, k=2):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            seen.append(inputs[1:])
            ctx.save_for_forward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            return g * 2, None

    F.apply(x)
    F.apply(x, k=5)
    assert seen == [(2,), (5,)]
    assert (
        bp.tensor([3, 1, 2]).argsort(axis=0).tolist() == [1, 2, 0] == bp.argsort(bp.tensor([3, 1, 2]), axis=0).tolist()
    )
