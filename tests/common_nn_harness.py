"""Run torch's older nn test tables (``torch.testing._internal.common_nn``: ``module_tests``,
``get_new_module_tests()`` and ``criterion_tests``, whose entries carry the functional and loss reference
functions of that file) through backprop's nn modules and compare with torch.

Each entry names a module (``module_name`` with ``constructor_args``) or gives a ``constructor``: a lambda
(re-bound here to backprop: the same code object with ``torch``/``nn``/``F`` pointing at backprop and its
closure's tensors and functions carried over) or a ``wrap_functional`` module around a functional call
(``F.nll_loss(i, t.type_as(i).long(), ...)``, ``F.interpolate`` with keyword arguments), which becomes a
backprop module around the same call. Inputs and targets are drawn as torch's tests draw them
(``input_size``/``input_fn``/``input``, ``target_size``/``target_fn``), under the entry's default dtype.

For each entry, in float64 and float32, train and eval mode: torch's module is built, backprop's from the
same arguments, torch's ``state_dict`` loaded into ours; compared are ``state_dict`` keys and shapes, the
outputs, the buffers after the forward, the gradients of the inputs and of every parameter for the same
random cotangent (``tests/moduleinfo_harness.py`` does the comparing), and, where the entry has a
``reference_fn``, backprop's output against that reference (float64, train mode, as torch's own test).

Needs torch and ``expecttest``; the tests using it skip without them. Shared by
``tests/test_parity_common_nn.py`` and the probe ``python -m tests.common_nn_harness [names]``, which
prints every disagreement.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import sys
import types
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import backprop as bp

try:
    from tests import moduleinfo_harness as mh
    from tests import opinfo_harness as oh
except ImportError:  # run by pytest with tests/ on sys.path
    import moduleinfo_harness as mh  # type: ignore[no-redef]
    import opinfo_harness as oh  # type: ignore[no-redef]

torch: Any = None
cn: Any = None  # torch.testing._internal.common_nn
entries: list[dict[str, Any]] = []  # every table entry, with "key" and "kind" ("module"/"criterion") added

DTYPES = ("float64", "float32")
STATS: collections.Counter[str] = collections.Counter()


def load() -> bool:
    """Import torch and its nn test tables; False when either is missing."""
    global torch, cn, entries
    if torch is not None:
        return True
    if not mh.load():
        return False
    try:
        import torch.testing._internal.common_nn as _cn
    except ImportError:
        return False
    torch, cn = mh.torch, _cn
    out = []
    for kind, table in (("module", _cn.module_tests + _cn.get_new_module_tests()), ("criterion", _cn.criterion_tests)):
        for e in table:
            e = dict(e, kind=kind)
            e["key"] = e.get("fullname") or e["module_name"] + ("_" + e["desc"] if e.get("desc") else "")
            _bind_reduction(e)
            out.append(e)
            out += _reduced_variants(e)
    entries = out
    return True


def _bind_reduction(e: dict[str, Any]) -> None:
    """The ``*_no_batch_dim_<reduction>`` constructors read the table module's loop variable ``reduction``
    when called, after the loop: all of them would build ``reduction="sum"``. Each gets its own."""
    fn, r = e.get("constructor"), e["key"].rsplit("_", 1)[-1]
    if isinstance(fn, types.FunctionType) and "reduction" in fn.__code__.co_names and r in ("none", "mean", "sum"):
        glb = {**fn.__globals__, "reduction": r}
        ctor = types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, fn.__closure__)
        ctor.__kwdefaults__ = fn.__kwdefaults__
        e["constructor"] = ctor


def _reduced_variants(e: dict[str, Any]) -> list[dict[str, Any]]:
    """For a wrapped loss function called with ``reduction='none'`` (``F.l1_loss(i, t, reduction='none')``),
    the same entry with ``'mean'`` and ``'sum'`` (``<key>.mean``, ``<key>.sum``; no reference function)."""
    ctor = e.get("constructor")
    if not (isinstance(ctor, type) and ctor.__name__ == "FunctionalModule"):
        return []
    cells = dict(zip(ctor.forward.__code__.co_freevars, (c.cell_contents for c in ctor.forward.__closure__)))
    fn, kwargs = cells["fn"], cells["kwargs"]
    if not isinstance(fn, types.FunctionType) or "none" not in fn.__code__.co_consts:
        return []
    out = []
    for r in ("mean", "sum"):
        code = fn.__code__.replace(co_consts=tuple(r if c == "none" else c for c in fn.__code__.co_consts))
        g = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        out.append(dict(e, key=f"{e['key']}.{r}", constructor=cn.wrap_functional(g, **kwargs), reference_fn=None))
    return out


def key_of(e: dict[str, Any]) -> str:
    return e["key"]


Skip = mh.Skip


# ------------------------------------------------------------------ carrying constructors over


def carry(x: Any) -> Any:
    """A value a constructor closes over, as backprop's (tensors, dtypes, functions, containers)."""
    if isinstance(x, types.FunctionType):
        return rebind(x)
    if isinstance(x, torch.Tensor):
        return oh.to_bp(x.detach())
    if isinstance(x, dict):
        return {k: carry(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(carry(v) for v in x)
    if isinstance(x, torch.dtype):
        return oh.to_bp(x)
    if isinstance(x, torch.nn.Module) or isinstance(x, type) and issubclass(x, torch.nn.Module):
        raise Skip(f"closes over {x!r}")
    return x


def rebind(fn: types.FunctionType) -> Callable[..., Any]:
    """``fn`` with torch replaced by backprop: a torch.nn.functional function by backprop's of the same name,
    a function written in the test tables by its own code with backprop's globals and closure."""
    if fn.__module__ == "torch.nn.functional":
        got = getattr(bp.nn.functional, fn.__name__, None)
        if got is None:
            raise Skip(f"no backprop.nn.functional.{fn.__name__}")
        return got  # type: ignore[no-any-return]
    if fn.__module__ != cn.__name__:
        raise Skip(f"function {fn.__module__}.{fn.__qualname__}")
    glb = {**fn.__globals__, "torch": bp, "nn": bp.nn, "F": bp.nn.functional}
    cells = tuple(types.CellType(carry(c.cell_contents)) for c in fn.__closure__ or ())
    defaults = carry(fn.__defaults__) if fn.__defaults__ else None
    out = types.FunctionType(fn.__code__, glb, fn.__name__, defaults, cells)
    out.__kwdefaults__ = carry(fn.__kwdefaults__) if fn.__kwdefaults__ else None
    return out


def bp_constructor(e: dict[str, Any]) -> Callable[..., Any]:
    if "module_name" in e:
        cls = getattr(bp.nn, e["module_name"], None)
        if cls is None:
            raise Skip(f"no backprop.nn.{e['module_name']}")
        return cls  # type: ignore[no-any-return]
    ctor = e["constructor"]
    if isinstance(ctor, type) and ctor.__name__ == "FunctionalModule":
        cells = dict(zip(ctor.forward.__code__.co_freevars, (c.cell_contents for c in ctor.forward.__closure__)))
        fn, kwargs = rebind(cells["fn"]), carry(cells["kwargs"])

        class FunctionalModule(bp.nn.Module):
            def forward(self, *args: Any) -> Any:
                return fn(*args, **kwargs)

        return FunctionalModule
    if isinstance(ctor, types.FunctionType):
        return rebind(ctor)
    raise Skip(f"constructor {ctor!r}")


def torch_constructor(e: dict[str, Any]) -> Callable[..., Any]:
    return e["constructor"] if "constructor" in e else getattr(torch.nn, e["module_name"])


# ------------------------------------------------------------------ inputs as torch's tests draw them


def _arg(e: dict[str, Any], name: str) -> Any:
    """TestBase._get_arg: the value, ``<name>_fn()`` or ``torch.randn(<name>_size)``."""
    if name in e:
        return copy.deepcopy(e[name])
    if name + "_fn" in e:
        return e[name + "_fn"]()
    if name + "_size" in e:

        def draw(sizes: Any) -> Any:
            if isinstance(sizes, list):
                return [draw(s) for s in sizes]
            if isinstance(sizes, torch.Tensor):
                return sizes.double()
            return torch.randn(sizes)

        return draw(e[name + "_size"])
    if name in ("constructor_args", "extra_args"):
        return ()
    raise Skip(f"no {name}")


def _cast(x: Any, dt: Any, grad: bool) -> Any:
    """Floating tensors in ``x`` cast to ``dt`` (complex to its complex type), leaves requiring grad if
    ``grad``."""
    if isinstance(x, torch.Tensor):
        if x.is_floating_point():
            x = x.detach().to(dt)
        elif x.is_complex():
            x = x.detach().to(torch.complex128 if dt == torch.float64 else torch.complex64)
        else:
            return x
        return x.requires_grad_(grad)
    if isinstance(x, (list, tuple)):
        return type(x)(_cast(v, dt, grad) for v in x)
    return x


@contextlib.contextmanager
def _default_dtype(e: dict[str, Any]) -> Iterator[None]:
    dt = e.get("default_dtype") or torch.float32
    old, bold = torch.get_default_dtype(), bp.get_default_dtype()
    torch.set_default_dtype(dt)
    bp.set_default_dtype(oh.to_bp(dt))
    try:
        yield
    finally:
        torch.set_default_dtype(old)
        bp.set_default_dtype(bold)


def _call(m: Any, inp: Any, target: Any, extra: tuple[Any, ...], criterion: bool) -> Any:
    args = list(inp) if isinstance(inp, tuple) else [inp]
    if criterion:
        args += [target, *extra]
    return m(*args)


def _args(inp: Any, target: Any, extra: tuple[Any, ...], criterion: bool) -> tuple[Any, ...]:
    args = list(inp) if isinstance(inp, tuple) else [inp]
    if criterion:
        args += [target, *extra]
    return tuple(args)


# ------------------------------------------------------------------ comparing


def check_entry(e: dict[str, Any], *, dtypes: tuple[str, ...] = DTYPES) -> Iterator[str]:
    """Every disagreement between torch and backprop over the entry, one line each (the first per dtype and
    mode)."""
    key = key_of(e)
    for dname in dtypes:
        for training in (True, False):
            try:
                problem = _check(e, key, dname, training)
            except Skip as s:
                STATS[f"skipped: {s}"] += 1
                return
            except Exception as ex:  # noqa: BLE001 - a harness failure is reported, not hidden
                problem = f"harness error {type(ex).__name__}: {str(ex)[:200]}"
            if problem:
                yield f"{key} {dname} {'train' if training else 'eval'}: {problem}"


def _check(e: dict[str, Any], key: str, dname: str, training: bool) -> str | None:
    dt, bdt = getattr(torch, dname), getattr(bp, dname)
    criterion = e["kind"] == "criterion"
    torch.manual_seed(zlib.crc32(key.encode()))
    bctor = bp_constructor(e)
    with _default_dtype(e), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cargs = _arg(e, "constructor_args")
        try:
            tm = torch_constructor(e)(*cargs)
            inp = _cast(_arg(e, "input"), dt, True)
            target = _cast(_arg(e, "target"), dt, False) if criterion else None
            extra = tuple(_arg(e, "extra_args")) if criterion else ()
        except Skip:
            raise
        except Exception:  # noqa: BLE001 - entries torch itself cannot build are not compared
            STATS["torch constructor refuses"] += 1
            return None
        tm = tm.to(dt).train(training)
        try:
            bm = bctor(*mh.to_bp(cargs))
        except Skip:
            raise
        except Exception as ex:  # noqa: BLE001 - reported as the disagreement
            return f"constructor raises {type(ex).__name__}: {str(ex)[:200]}"
    memo: dict[int, Any] = {}
    bargs = mh.to_bp(_args(inp, target, extra, criterion), memo)
    targs = _args(inp, target, extra, criterion)
    bm = bm.to(bdt).train(training)
    problem = mh._state("state_dict", tm.state_dict(), bm.state_dict())
    if problem:
        return problem
    try:
        bm.load_state_dict(mh.state_to_bp(tm.state_dict()))
    except Exception as ex:  # noqa: BLE001
        return f"load_state_dict raises {type(ex).__name__}: {str(ex)[:200]}"
    random = mh._is_random(tm, {}, training)
    ref_input = copy.deepcopy(inp), copy.deepcopy(target)
    ref_module = copy.deepcopy(tm)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = tm(*targs)
    except Exception:  # noqa: BLE001
        STATS["torch forward refuses"] += 1
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = bm(*bargs)
    except Exception as ex:  # noqa: BLE001
        return f"forward raises {type(ex).__name__}: {str(ex)[:200]}"
    STATS["compared (random)" if random else "compared"] += 1
    problem = mh._compare("output", expected, got, dname, random)
    if problem:
        return problem
    if e.get("reference_fn") is not None and dname == "float64" and training and not random:
        problem = _check_reference(e, ref_input, ref_module, extra, got, criterion)
        if problem:
            return problem
    tb, bb = dict(tm.named_buffers()), dict(bm.named_buffers())
    if list(tb) != list(bb):
        return f"buffers {list(bb)}, torch {list(tb)}"
    for k in tb:
        problem = mh._compare(f"buffer {k} after forward", tb[k], bb[k], dname, random)
        if problem:
            return problem
    problem = mh._check_grad(key, tm, bm, targs, {}, bargs, {}, expected, got, dname, random)
    if problem or random or dname != "float64" or not training:
        return problem
    if e.get("check_gradgrad", True):
        problem = _check_gradgrad(key, tm, bm, targs, bargs)
        if problem:
            return problem
    return _check_noncontiguous(tm, bm, targs, bargs, dname)


def _grad_inputs(tm: Any, bm: Any, targs: Any, bargs: Any) -> tuple[list[Any], list[Any], list[str]]:
    tins = mh._unique(x for x in oh.flat(list(targs)) if isinstance(x, torch.Tensor) and x.requires_grad)
    bins = mh._unique(x for x in oh.flat(list(bargs)) if isinstance(x, bp.Tensor) and x.requires_grad)
    names = [n for n, p in tm.named_parameters() if p.requires_grad]
    bnamed = dict(bm.named_parameters())
    labels = [f"input {i}" for i in range(len(tins))] + [f"parameter {n}" for n in names]
    return tins + [p for p in tm.parameters() if p.requires_grad], bins + [bnamed[n] for n in names], labels


def _check_gradgrad(key: str, tm: Any, bm: Any, targs: Any, bargs: Any) -> str | None:
    """Second derivatives: the gradient of <first gradients, v> for the same cotangent and v."""
    wrt_t, wrt_b, labels = _grad_inputs(tm, bm, targs, bargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, got = tm(*targs), bm(*bargs)  # (again: the first backward freed the graphs)
    touts = [x for x in oh.flat(expected) if isinstance(x, torch.Tensor) and x.requires_grad]
    bouts = [x for x in oh.flat(got) if isinstance(x, bp.Tensor) and x.requires_grad]
    if not touts or not wrt_t or len(wrt_t) != len(wrt_b) or len(touts) != len(bouts):
        return None
    torch.manual_seed(zlib.crc32(("gradgrad/" + key).encode()))
    cots = [torch.randn_like(x) for x in touts]
    vs = [torch.randn_like(x) for x in wrt_t]
    try:
        tg = torch.autograd.grad(touts, wrt_t, cots, create_graph=True, allow_unused=True)
        tpairs = [(g * v).sum() for g, v in zip(tg, vs) if g is not None and g.requires_grad]
        if not tpairs:
            return None
        tgg = torch.autograd.grad(sum(tpairs), wrt_t, allow_unused=True)
    except Exception:  # noqa: BLE001 - torch refusing double backward is not ours to judge
        STATS["torch gradgrad refuses"] += 1
        return None
    try:
        bg = bp.autograd.grad(bouts, wrt_b, [oh.to_bp(c) for c in cots], create_graph=True, allow_unused=True)
        # (a first gradient constant in the inputs, as a ReLU's or an L1 loss's, carries a graph of zero
        # derivative as torch's: which first gradients require grad must agree)
        for label, g, h in zip(labels, tg, bg):
            if (g is not None and g.requires_grad) != (h is not None and h.requires_grad):
                return f"first gradient of {label} requires grad: torch {g is not None and g.requires_grad}, ours not"
        bpairs = [(g * oh.to_bp(v)).sum() for g, v in zip(bg, vs) if g is not None and g.requires_grad]
        bgg = bp.autograd.grad(sum(bpairs), wrt_b, allow_unused=True) if bpairs else [None] * len(wrt_b)
    except Exception as ex:  # noqa: BLE001
        return f"double backward raises {type(ex).__name__}: {str(ex)[:200]}"
    STATS["gradgrad compared"] += 1
    for label, x, g, y, h in zip(labels, wrt_t, tgg, wrt_b, bgg):
        g = torch.zeros_like(x) if g is None else g
        h = bp.zeros_like(y) if h is None else h
        problem = oh.compare("grad", g, h, 1e-6, 1e-6)
        if problem:
            return f"second-order gradient of {label}: {problem}"
    return None


def _noncontiguous(x: Any, lib: Any) -> Any:
    """torch's ``NewModuleTest.noncontiguize``: the same values, strided along the first dimension > 1."""
    if isinstance(x, (list, tuple)):
        return type(x)(_noncontiguous(v, lib) for v in x)
    if not isinstance(x, (torch.Tensor, bp.Tensor)) or x.dim() == 0:
        return x
    dim = next((d + 1 for d in range(x.dim()) if x.size(d) > 1), x.dim())
    y = lib.stack([lib.zeros_like(x), x.detach()], dim).select(dim, 1).detach()
    return y.requires_grad_(x.requires_grad)


def _check_noncontiguous(tm: Any, bm: Any, targs: Any, bargs: Any, dname: str) -> str | None:
    """The forward and input gradients again, for non-contiguous copies of the inputs (as torch's
    ``test_noncontig``)."""
    targs, bargs = _noncontiguous(targs, torch), _noncontiguous(bargs, bp)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = tm(*targs)
    except Exception:  # noqa: BLE001
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = bm(*bargs)
    except Exception as ex:  # noqa: BLE001
        return f"non-contiguous input: forward raises {type(ex).__name__}: {str(ex)[:200]}"
    STATS["non-contiguous compared"] += 1
    problem = mh._compare("non-contiguous input: output", expected, got, dname, False)
    if problem:
        return problem
    problem = mh._check_grad("noncontig", tm, bm, targs, {}, bargs, {}, expected, got, dname, False)
    return f"non-contiguous input: {problem}" if problem else None


def _check_reference(
    e: dict[str, Any], ref_input: Any, ref_module: Any, extra: tuple[Any, ...], got: Any, criterion: bool
) -> str | None:
    inp, target = ref_input
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if criterion:
                ref = e["reference_fn"](inp, target, *extra, ref_module)
            else:
                ref = e["reference_fn"](inp, list(ref_module.parameters()), ref_module)
    except Exception:  # noqa: BLE001 - torch's own reference failing is not ours to judge
        STATS["reference_fn fails"] += 1
        return None
    STATS["reference compared"] += 1
    if isinstance(ref, torch.Tensor) and isinstance(got, bp.Tensor):
        # (torch's test compares with exact_dtype=False: the reference may be computed in another dtype)
        ref = ref.to(getattr(torch, str(got.dtype).split(".")[-1]))
    elif isinstance(ref, (int, float)) and isinstance(got, bp.Tensor):
        ref = torch.tensor(ref, dtype=getattr(torch, str(got.dtype).split(".")[-1]))
    prec = max(e.get("precision", 0.0), 1e-6)
    problem = oh.compare("module", ref, got, prec, prec)
    return f"against reference_fn: {problem}" if problem else None


def main(argv: list[str]) -> int:
    if not load():
        print("torch or expecttest missing")
        return 2
    names = set(argv)
    count = 0
    for e in entries:
        if names and key_of(e) not in names and e.get("module_name") not in names:
            continue
        for line in check_entry(e):
            print(line, flush=True)
            count += 1
    print(f"{count} disagreements; {dict(STATS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
