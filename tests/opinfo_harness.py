"""Run torch's own OpInfo sample inputs (``torch.testing._internal.common_methods_invocations.op_db``)
through backprop and compare with torch: forward values, dtypes and shapes, the method and in-place
variants, and gradients in float64/complex128.

torch's op database is the most thorough description of each op's inputs there is (broadcasting,
empty and 0-d tensors, non-contiguous inputs, every keyword); reusing it finds the silent differences a
hand-written table misses. Needs torch and ``expecttest`` (which torch's test utilities import); the
tests using it skip without them. Shared by ``tests/test_parity_opinfo.py`` and the probe
``python -m tests.opinfo_harness [op names]``, which prints every disagreement.
"""

from __future__ import annotations

import sys
import types
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import backprop as bp

torch: Any = None
op_db: list[Any] = []


def load() -> bool:
    """Import torch and its op database; False when either is missing."""
    global torch, op_db
    if torch is not None:
        return True
    try:
        import torch as _torch
        from torch.testing._internal.common_methods_invocations import op_db as _op_db
    except ImportError:
        return False
    unfreeze_flags(_torch)
    _no_test_lookup()
    torch, op_db = _torch, list(_op_db)
    return True


def _no_test_lookup() -> None:
    """torch's sample iterators look for a unittest test up the whole call stack (``inspect.stack`` with
    source lines) for every sample, to apply its per-test skips; there is none in this process, and under
    pytest the lookup took most of the OpInfo tests' time: make it answer None at once."""
    from torch.testing._internal import common_utils
    from torch.testing._internal.opinfo import core

    for module in (common_utils, core):
        if hasattr(module, "extract_test_fn"):
            module.extract_test_fn = lambda: None


def unfreeze_flags(torch_module: Any) -> None:
    """torch's test utilities freeze ``torch.backends``' flags when imported (``disable_global_flags``);
    programs the suite runs later set ``torch.backends.cudnn.allow_tf32`` as users do: unfreeze them."""
    torch_module.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True  # (module global)


# Outputs that are uninitialised memory or random draws: only shapes, dtypes (and for random draws the
# fact that they ran) are compared.
UNINITIALISED = {"empty", "empty_like", "empty_permuted", "empty_strided", "new_empty", "new_empty_strided"}
RANDOM = {
    "bernoulli", "normal", "normal.number_mean", "normal.in_place", "multinomial", "rand_like", "randn_like",
    "randint_like", "randint", "randint.low", "randn", "rand", "uniform", "cauchy", "exponential", "geometric",
    "log_normal", "nn.functional.dropout", "nn.functional.dropout2d", "nn.functional.dropout3d",
    "nn.functional.alpha_dropout", "nn.functional.feature_alpha_dropout.with_train",
    "nn.functional.feature_alpha_dropout.without_train", "nn.functional.rrelu", "randperm", "poisson",
    "nn.functional.gumbel_softmax", "nn.functional.fractional_max_pool2d", "nn.functional.fractional_max_pool3d",
    "svd_lowrank", "pca_lowrank",
}  # fmt: skip
# Outputs whose indices may point at any of several equal values (torch documents them as unspecified
# for ties): an index output is accepted when it selects the same values as torch's.
TIE_INDICES = {"sort", "argsort", "topk", "kthvalue", "mode", "msort", "median", "nanmedian",
               "max.reduction_with_dim", "min.reduction_with_dim", "argmax", "argmin", "cummax", "cummin", "unique",
               "unique_consecutive"}  # fmt: skip
# Eigen- and singular vectors are defined up to a phase per column: compared after normalising it.
PHASE_VECTORS = {"linalg.eig": (1,), "linalg.eigh": (1,), "eig": (1,), "linalg.svd": (0, 2), "svd": (0, 2),
                 "linalg.eigvecs": (0,)}  # fmt: skip

DTYPES = ("float64", "float32", "int64", "bool", "complex128")
MAX_SAMPLES = 12


class Skip(Exception):
    """A sample the harness cannot carry over (sparse layout, bfloat16 storage, a torch Generator...)."""


def key_of(op: Any) -> str:
    return op.name + ("." + op.variant_test_name if op.variant_test_name else "")


def resolve(op: Any) -> Callable[..., Any] | None:
    """backprop's callable for an OpInfo: its lambda re-bound to backprop, the dotted name, or the method."""
    fn = op.op
    if getattr(fn, "__name__", "") == "<lambda>" and isinstance(fn, types.FunctionType):
        if fn.__closure__:
            return None
        return types.FunctionType(fn.__code__, {**fn.__globals__, "torch": bp}, fn.__name__, fn.__defaults__)
    obj: Any = bp
    try:
        for part in op.name.split("."):
            obj = getattr(obj, part)
        if callable(obj):  # (bp.cdouble is the dtype, as torch.cdouble: the op is the method)
            return obj
    except AttributeError:
        pass
    if hasattr(bp.Tensor, op.name):
        name = op.name
        return lambda x, *a, **k: getattr(x, name)(*a, **k)
    return None


def to_bp(x: Any) -> Any:
    """A torch sample argument as backprop's (tensors copied with their dtype and requires_grad)."""
    if isinstance(x, torch.Tensor):
        if x.layout != torch.strided or x.is_quantized:
            raise Skip(f"layout {x.layout}")
        x1 = x.detach().resolve_conj().resolve_neg()
        if x.dtype in (torch.bfloat16, torch.float16):  # (exact through float32)
            x1 = x1.float()
        a = x1.numpy(force=True).copy()
        t = bp.tensor(a, dtype=getattr(bp, str(x.dtype).removeprefix("torch.")))
        return t.requires_grad_(True) if x.requires_grad else t
    if isinstance(x, torch.dtype):
        return getattr(bp, str(x).removeprefix("torch."))
    if isinstance(x, torch.device):
        return bp.device(str(x))
    if isinstance(x, torch.Size):
        return tuple(x)
    if isinstance(x, (torch.layout, torch.memory_format)):
        return getattr(bp, str(x).removeprefix("torch."))
    if isinstance(x, torch.Generator) or isinstance(x, torch.nn.Module) or callable(x) and not isinstance(x, type):
        raise Skip(f"argument {type(x).__name__}")
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*[to_bp(v) for v in x])
    if isinstance(x, (list, tuple)):
        return type(x)(to_bp(v) for v in x)
    if isinstance(x, dict):
        return {k: to_bp(v) for k, v in x.items()}
    return x


def flat(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [y for v in x for y in flat(v)]
    return [x]


def describe(s: Any) -> str:
    def d(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return f"T{tuple(v.shape)}{'' if v.is_contiguous() else 'nc'}"
        if isinstance(v, (list, tuple)):
            return type(v)(d(u) for u in v)
        return v

    return f"input={d(s.input)} args={d(tuple(s.args))} kwargs={ {k: d(v) for k, v in s.kwargs.items()} }"


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().resolve_conj().resolve_neg()
        return (x.float() if x.dtype in (torch.bfloat16, torch.float16) else x).numpy(force=True)
    a = np.asarray(x.detach().numpy())
    return a.astype(np.float32) if a.dtype.kind == "V" or str(a.dtype) in ("bfloat16", "float16") else a


def _dephase(a: np.ndarray) -> np.ndarray:
    """Columns of ``a`` (last-but-one axis runs along a vector) scaled so each one's largest entry is real >= 0."""
    if a.size == 0:
        return a
    idx = np.abs(a).argmax(axis=-2)[..., None, :]
    lead = np.take_along_axis(a, idx, axis=-2)
    with np.errstate(all="ignore"):
        ph = np.where(np.abs(lead) > 0, lead / np.abs(lead), 1)
    return a / ph


def compare(
    name: str, t: Any, b: Any, rtol: float, atol: float, *, inputs: Any = None, dim: int | None = None
) -> str | None:
    """None when backprop's result ``b`` matches torch's ``t``, else what differs first."""
    ft, fb = flat(t), flat(b)
    if len(ft) != len(fb):
        return f"{len(ft)} outputs vs {len(fb)}"
    values = name not in UNINITIALISED and name not in RANDOM
    for i, (x, y) in enumerate(zip(ft, fb)):
        if isinstance(x, torch.Tensor):
            if x.layout != torch.strided:
                continue
            if not isinstance(y, bp.Tensor):
                return f"output {i}: {type(y).__name__}, expected a Tensor"
            if tuple(x.shape) != tuple(y.shape):
                return f"output {i}: shape {tuple(y.shape)}, torch {tuple(x.shape)}"
            tx, ty = str(x.dtype).removeprefix("torch."), str(y.dtype).split(".")[-1]
            if tx != ty:
                return f"output {i}: dtype {ty}, torch {tx}"
            if not values:
                continue
            xa, ya = _np(x), _np(y)
            if i in PHASE_VECTORS.get(name, ()):
                xa, ya = _dephase(xa), _dephase(ya)
            if name in TIE_INDICES and xa.dtype.kind in "iu" and i > 0 and inputs is not None:
                continue  # the values output (0) carries the check; indices at ties may differ
            if name == "argsort" and inputs is not None and xa.shape == ya.shape and xa.ndim:
                src = _np(inputs)
                axis = -1 if dim is None else dim
                xa, ya = np.take_along_axis(src, xa, axis), np.take_along_axis(src, ya, axis)
            if xa.dtype == bool or xa.dtype.kind in "iu":
                if not np.array_equal(xa, ya):
                    bad = np.argwhere(xa != ya)[:3].tolist()
                    return f"output {i}: values differ at {bad}"
            elif not np.allclose(xa, ya, rtol=rtol, atol=atol, equal_nan=True):
                with np.errstate(all="ignore"):
                    err = np.abs(xa - ya)
                    both_nan = np.isnan(xa) & np.isnan(ya)
                    err = np.where(both_nan, 0.0, np.where(np.isnan(err), np.inf, err))
                return f"output {i}: values differ, max abs error {float(err.max()):.3g}"
        elif values and isinstance(x, (int, float, bool)) and x != y and not (x != x and y != y):
            return f"output {i}: {y!r}, torch {x!r}"
    return None


def tolerance(dtype: str) -> tuple[float, float]:
    if dtype in ("float16", "bfloat16"):
        return (1e-3, 1e-5) if dtype == "float16" else (1.6e-2, 1e-5)  # (torch.testing's defaults)
    return (1e-7, 1e-7) if dtype in ("float64", "complex128") else (1.3e-5, 1e-5)


def check_op(op: Any, *, dtypes: tuple[str, ...] = DTYPES) -> Iterator[str]:
    """Every disagreement between torch and backprop over ``op``'s samples, one line each."""
    key = key_of(op)
    fn = resolve(op)
    if fn is None:
        yield f"{key}: no backprop counterpart"
        return
    supported = op.supported_dtypes("cpu")
    for dname in dtypes:
        dt = getattr(torch, dname)
        if dt not in supported:
            continue
        grad = op.supports_autograd and dname in ("float64", "complex128") and dt in op.supported_backward_dtypes("cpu")
        torch.manual_seed(zlib.crc32(f"{key}/{dname}".encode()))
        try:
            with warnings.catch_warnings():  # (torch's beta-feature warnings; the suite runs warnings as errors)
                warnings.simplefilter("ignore")
                samples = list(op.sample_inputs("cpu", dt, requires_grad=grad))[:MAX_SAMPLES]
        except Exception:  # noqa: BLE001 - torch's own sample generator failing is not ours to judge
            continue
        for n, s in enumerate(samples):
            try:
                problem = _check_sample(op, key, fn, s, dname, grad)
            except Exception as e:  # noqa: BLE001 - a harness failure is reported, not hidden
                problem = f"harness error {type(e).__name__}: {str(e)[:200]}"
            if problem:
                yield f"{key} {dname} sample {n} [{describe(s)}]: {problem}"
                break


def _random_sample(key: str, s: Any) -> bool:
    """Samples whose result is a random draw although the op is not (attention with dropout)."""
    if key == "nn.functional.scaled_dot_product_attention":
        return bool(s.kwargs.get("dropout_p", 0.0))
    if key == "nn.functional.multi_head_attention_forward":
        p = s.args[9] if len(s.args) > 9 else s.kwargs.get("dropout_p")
        return bool(s.kwargs.get("training", True)) and bool(p)
    return False


def _check_sample(op: Any, key: str, fn: Callable[..., Any], s: Any, dname: str, grad: bool) -> str | None:
    if _random_sample(key, s):
        key = "random:" + key
        RANDOM.add(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = op.op(s.input, *s.args, **s.kwargs)
        except Exception:  # noqa: BLE001 - samples torch itself refuses are not compared
            return None
        if any(isinstance(x, torch.Tensor) and x.layout != torch.strided for x in flat(expected)):
            return None  # sparse results: tests/test_sparse.py covers them
        if key.startswith("as_strided") and isinstance(s.input, torch.Tensor) and s.input._base is not None:
            return None  # it addresses the view's base storage, which a copy of the view does not carry
            # (tests/test_parity_opinfo_indexing.py checks such views built from the same base)
        try:
            bi, ba, bk = to_bp(s.input), to_bp(tuple(s.args)), to_bp(dict(s.kwargs))
        except Skip:
            return None
        try:
            got = fn(bi, *ba, **bk)
        except Exception as e:  # noqa: BLE001 - reported as the disagreement
            return f"raises {type(e).__name__}: {str(e)[:200]}"
        problem = compare(key, expected, got, *tolerance(dname), inputs=bi, dim=_dim(s))
        if problem:
            return problem
        problem = _check_variants(op, key, s, dname)
        if problem or not grad or key in RANDOM:
            return problem
        return _check_grad(key, s, expected, bi, ba, bk, got)


def _check_variants(op: Any, key: str, s: Any, dname: str) -> str | None:
    """The method variant (``x.op(...)``) and the in-place one (``x.op_(...)``) against torch's."""
    for kind, variant in (("method", op.method_variant), ("in-place", op.inplace_variant)):
        if variant is None or getattr(variant, "__name__", "<lambda>") == "<lambda>":
            continue
        name = variant.__name__
        if not isinstance(s.input, torch.Tensor):
            continue
        tin = s.input.detach().clone()
        try:
            bin_, ba, bk = to_bp(tin), to_bp(tuple(s.args)), to_bp(dict(s.kwargs))
        except Skip:
            continue
        try:
            if kind == "method":
                expected = getattr(tin, name)(*s.args, **s.kwargs)
            else:
                expected = variant(tin, *s.args, **s.kwargs)
        except Exception:  # noqa: BLE001
            continue
        if not hasattr(bin_, name):
            return f"{kind} Tensor.{name} missing"
        try:
            got = getattr(bin_, name)(*ba, **bk)
        except Exception as e:  # noqa: BLE001
            return f"{kind} Tensor.{name} raises {type(e).__name__}: {str(e)[:200]}"
        problem = compare(key, expected, got, *tolerance(dname), inputs=bin_, dim=_dim(s))
        if problem:
            return f"{kind} Tensor.{name}: {problem}"
        if kind == "in-place":
            if got is not bin_:
                return f"in-place Tensor.{name} did not return its input"
            problem = compare(key, tin, bin_, *tolerance(dname))
            if problem:
                return f"in-place Tensor.{name} left its input different: {problem}"
    return None


def _check_grad(key: str, s: Any, expected: Any, bi: Any, ba: Any, bk: Any, got: Any) -> str | None:
    tins = [x for x in flat([s.input, list(s.args), list(s.kwargs.values())]) if _req(x)]
    bins = [x for x in flat([bi, list(ba), list(bk.values())]) if isinstance(x, bp.Tensor) and x.requires_grad]
    touts = [x for x in flat(expected) if _req(x)]
    if any(x.dtype in (torch.float16, torch.bfloat16) for x in touts):
        return None  # (the harness carries no half-precision cotangents)
    if key in PHASE_VECTORS and any(
        isinstance(x, torch.Tensor) and not np.allclose(_np(x), _np(y), rtol=1e-6, atol=1e-8)
        for x, y in zip(flat(expected), flat(got))
    ):
        return None  # vectors of another phase than torch's: their gradients are not comparable
    bouts = [x for x in flat(got) if isinstance(x, bp.Tensor) and x.requires_grad]
    if not touts or len(tins) != len(bins):
        return None
    if len(bouts) != len(touts):
        return f"{len(bouts)} outputs require grad, torch {len(touts)}"
    torch.manual_seed(zlib.crc32(key.encode()))
    cots = [torch.randn_like(x) for x in touts]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tg = torch.autograd.grad(touts, tins, cots, allow_unused=True)
        except Exception:  # noqa: BLE001 - torch refusing this backward is not ours to judge
            return None
        try:
            bg = bp.autograd.grad(bouts, bins, [to_bp(c) for c in cots], allow_unused=True)
        except Exception as e:  # noqa: BLE001
            return f"backward raises {type(e).__name__}: {str(e)[:200]}"
    tg = [torch.zeros_like(x) if g is None else g for g, x in zip(tg, tins)]
    bg = [bp.zeros_like(x) if g is None else g for g, x in zip(bg, bins)]
    problem = compare("grad", tuple(tg), tuple(bg), 1e-6, 1e-7)
    return f"gradient: {problem}" if problem else None


GRADGRAD_SAMPLES = 6


def check_gradgrad(op: Any) -> Iterator[str]:
    """Second-order gradients in float64 against torch's: the gradient of ``<grad(op), v>`` w.r.t. the
    inputs, for random cotangents, on the op's first samples (the first disagreement, if any)."""
    key = key_of(op)
    fn = resolve(op)
    if fn is None or not (op.supports_autograd and op.supports_gradgrad) or key in RANDOM or key in PHASE_VECTORS:
        return
    if torch.float64 not in op.supported_backward_dtypes("cpu"):
        return
    torch.manual_seed(zlib.crc32(f"{key}/gradgrad".encode()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = list(op.sample_inputs("cpu", torch.float64, requires_grad=True))[:GRADGRAD_SAMPLES]
    except Exception:  # noqa: BLE001 - torch's own sample generator failing is not ours to judge
        return
    for n, s in enumerate(samples):
        if _random_sample(key, s) or (key.startswith("as_strided") and getattr(s.input, "_base", None) is not None):
            continue  # (a copy of a view does not carry the base storage as_strided addresses)
        try:
            problem = _gradgrad_sample(op, fn, s)
        except Exception as e:  # noqa: BLE001 - a harness failure is reported, not hidden
            problem = f"harness error {type(e).__name__}: {str(e)[:200]}"
        if problem:
            yield f"{key} float64 sample {n} [{describe(s)}]: second order: {problem}"
            return


def _gradgrad_sample(op: Any, fn: Callable[..., Any], s: Any) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tout = op.op(s.input, *s.args, **s.kwargs)
            tins = [x for x in flat([s.input, list(s.args), list(s.kwargs.values())]) if _req(x)]
            touts = [x for x in flat(tout) if _req(x)]
            if not touts or not tins:
                return None
            cots = [torch.randn_like(x) for x in touts]
            tg = torch.autograd.grad(touts, tins, cots, create_graph=True, allow_unused=True)
        except Exception:  # noqa: BLE001 - torch refusing this is not ours to judge
            return None
        try:
            bi, ba, bk = to_bp(s.input), to_bp(tuple(s.args)), to_bp(dict(s.kwargs))
        except Skip:
            return None
        try:
            bout = fn(bi, *ba, **bk)
            bins = [x for x in flat([bi, list(ba), list(bk.values())]) if isinstance(x, bp.Tensor) and x.requires_grad]
            bouts = [x for x in flat(bout) if isinstance(x, bp.Tensor) and x.requires_grad]
            if len(bouts) != len(touts) or len(bins) != len(tins):
                return None  # (the first-order check reports these)
            bg = bp.autograd.grad(bouts, bins, [to_bp(c) for c in cots], create_graph=True, allow_unused=True)
        except Exception as e:  # noqa: BLE001
            return f"first-order gradient with create_graph raises {type(e).__name__}: {str(e)[:200]}"
        # gradients that depend on the inputs in both (a constant gradient is not recorded in ours)
        idx = [i for i, (g, b) in enumerate(zip(tg, bg)) if g is not None and g.requires_grad and b is not None]
        idx = [i for i in idx if bg[i].requires_grad]
        if not idx:
            return None
        vs = [torch.randn_like(tg[i]) for i in idx]
        try:
            tgg = torch.autograd.grad([tg[i] for i in idx], tins, vs, allow_unused=True)
        except Exception:  # noqa: BLE001
            return None
        try:
            bgg = bp.autograd.grad([bg[i] for i in idx], bins, [to_bp(v) for v in vs], allow_unused=True)
        except Exception as e:  # noqa: BLE001
            return f"raises {type(e).__name__}: {str(e)[:200]}"
    tgg = [torch.zeros_like(x) if g is None else g for g, x in zip(tgg, tins)]
    bgg = [bp.zeros_like(x) if g is None else g for g, x in zip(bgg, bins)]
    return compare("grad", tuple(tgg), tuple(bgg), 1e-6, 1e-7)


def _dim(s: Any) -> int | None:
    d = s.kwargs.get("dim", s.args[0] if s.args and isinstance(s.args[0], int) else None)
    return d if isinstance(d, int) else None


def _req(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.requires_grad


def main(argv: list[str]) -> int:
    """``python -m tests.opinfo_harness [--dtypes float16,bfloat16] [--all-samples] [--gradgrad] [op names]``."""
    global MAX_SAMPLES
    if not load():
        print("torch or expecttest missing")
        return 2
    dtypes, names, second = DTYPES, set(), False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--dtypes":
            dtypes = tuple(args.pop(0).split(","))
        elif a == "--all-samples":
            MAX_SAMPLES = 10**9
        elif a == "--gradgrad":
            second = True
        else:
            names.add(a)
    count = 0
    for op in op_db:
        if names and op.name not in names and key_of(op) not in names:
            continue
        for line in check_gradgrad(op) if second else check_op(op, dtypes=dtypes):
            print(line)
            count += 1
    print(f"{count} disagreements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
