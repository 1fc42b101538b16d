"""Run torch's own ModuleInfo samples (``torch.testing._internal.common_modules.module_db``) through
backprop's nn modules and compare with torch.

For each sample: torch's module is built from the sample's constructor arguments, backprop's from the
same arguments (tensors, dtypes, activation functions and sub-modules carried over), torch's
``state_dict`` is loaded into ours, and both run forward on the same inputs in train and eval mode.
Compared: ``state_dict`` keys, shapes and dtypes, the outputs (values, dtypes, shapes), the gradients of
the inputs and of every parameter for the same random cotangent, and the buffers after the forward
(running statistics). float64 and float32. Modules whose output is a random draw (dropout in training,
FractionalMaxPool without fixed samples, RReLU in training) are compared for shapes and dtypes only.

Needs torch and ``expecttest`` (torch's test utilities import it); the tests using it skip without them.
Shared by ``tests/test_parity_moduleinfo.py`` and the probe ``python -m tests.moduleinfo_harness [names]``
(``--all`` runs every sample instead of an evenly spread subset), which prints every disagreement.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import sys
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import backprop as bp

try:
    from tests import opinfo_harness as oh
except ImportError:  # run by pytest with tests/ on sys.path
    import opinfo_harness as oh  # type: ignore[no-redef]

torch: Any = None
module_db: list[Any] = []

DTYPES = ("float64", "float32")
STATS: collections.Counter[str] = collections.Counter()  # how the samples went (printed by the probe)
MAX_SAMPLES = 8  # per module, dtype and mode: spread evenly over the sample list (None: all)


def load() -> bool:
    """Import torch and its module database; False when either is missing."""
    global torch, module_db
    if torch is not None:
        return True
    if not oh.load():
        return False
    try:
        from torch.testing._internal.common_modules import module_db as _module_db
    except ImportError:
        return False
    torch, module_db = oh.torch, list(_module_db)
    return True


def key_of(mi: Any) -> str:
    return mi.name


class Skip(Exception):
    """A sample the harness cannot carry over."""


# ------------------------------------------------------------------ carrying arguments over


@contextlib.contextmanager
def _recording_constructors() -> Iterator[None]:
    """While torch's sample functions run, every ``torch.nn`` module remembers its constructor arguments
    (``TransformerEncoder``'s samples pass a built ``TransformerEncoderLayer``)."""
    patched = []
    for name in dir(torch.nn):
        cls = getattr(torch.nn, name)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)) or "__init__" not in vars(cls):
            continue
        orig = vars(cls)["__init__"]

        def init(self: Any, *args: Any, __orig: Any = orig, __cls: Any = cls, **kwargs: Any) -> None:
            __orig(self, *args, **kwargs)
            if type(self) is __cls:
                object.__setattr__(self, "_harness_ctor", (args, dict(kwargs)))

        cls.__init__ = init
        patched.append((cls, orig))
    try:
        yield
    finally:
        for cls, orig in patched:
            cls.__init__ = orig


def samples_of(mi: Any, dtype: Any, training: bool) -> list[Any]:
    with _recording_constructors(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(mi.module_inputs_func(mi, device="cpu", dtype=dtype, requires_grad=True, training=training))


def to_bp(x: Any, memo: dict[int, Any] | None = None) -> Any:
    """A constructor or forward argument as backprop's (``memo``: the tensors already carried over)."""
    if isinstance(x, torch.nn.Module):
        ctor = getattr(x, "_harness_ctor", None)
        cls = getattr(bp.nn, type(x).__name__, None)
        if ctor is None or cls is None:
            raise Skip(f"module argument {type(x).__name__}")
        m = cls(*to_bp(ctor[0]), **to_bp(ctor[1]))
        m.load_state_dict(state_to_bp(x.state_dict()))
        return m
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        cls = getattr(bp.nn, type(x).__name__, None)
        if cls is None:
            raise Skip(f"argument {type(x).__name__}")
        return cls(**{f.name: to_bp(getattr(x, f.name)) for f in dataclasses.fields(x)})
    if callable(x) and not isinstance(x, (type, torch.Tensor)) and getattr(x, "__name__", None):
        fn = getattr(bp.nn.functional, x.__name__, None) or getattr(bp, x.__name__, None)
        if fn is None:
            raise Skip(f"function argument {x.__name__}")
        return fn
    if isinstance(x, dict):
        return {k: to_bp(v, memo) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(to_bp(v, memo) for v in x)
    if isinstance(x, torch.Tensor) and memo is not None and id(x) in memo:
        return memo[id(x)]  # one tensor passed twice (KLDivLoss(x, x)) stays one tensor
    try:
        y = oh.to_bp(x)
    except oh.Skip as e:
        raise Skip(str(e)) from None
    if isinstance(x, torch.Tensor) and memo is not None:
        memo[id(x)] = y
    return y


def state_to_bp(sd: Any) -> dict[str, Any]:
    return {k: oh.to_bp(v.detach()) if isinstance(v, torch.Tensor) else v for k, v in sd.items()}


# ------------------------------------------------------------------ comparing


def _is_random(tm: Any, ctor_kwargs: dict[str, Any], training: bool) -> bool:
    name = type(tm).__name__
    if name.startswith("FractionalMaxPool"):
        return ctor_kwargs.get("_random_samples") is None
    if not training:
        return False
    for m in tm.modules():
        n = type(m).__name__
        if n == "RReLU":
            return True
        if "Dropout" in n and m.p > 0:
            return True
        if n == "MultiheadAttention" and m.dropout > 0:
            return True
    return False


def tolerance(dname: str) -> tuple[float, float]:
    return (1e-7, 1e-7) if dname == "float64" else (1e-4, 2e-5)


def _compare(what: str, t: Any, b: Any, dname: str, random: bool) -> str | None:
    ft, fb = oh.flat(t), oh.flat(b)
    if len(ft) == len(fb):
        for i, (x, y) in enumerate(zip(ft, fb)):
            if (x is None) != (y is None):
                return f"{what} {i}: {type(y).__name__}, torch {type(x).__name__}"
    problem = oh.compare("module:random" if random else "module", t, b, *tolerance(dname))
    return f"{what}: {problem}" if problem else None


oh.RANDOM.add("module:random")


def _state(what: str, tsd: Any, bsd: Any) -> str | None:
    tk, bk = list(tsd), list(bsd)
    if tk != bk:
        missing, extra = [k for k in tk if k not in bsd], [k for k in bk if k not in tsd]
        if missing or extra:
            return f"{what} keys: missing {missing}, extra {extra}"
        return f"{what} key order {bk}, torch {tk}"
    for k in tk:
        x, y = tsd[k], bsd[k]
        if isinstance(x, torch.Tensor):
            if not isinstance(y, bp.Tensor):
                return f"{what} {k}: {type(y).__name__}, expected a Tensor"
            if tuple(x.shape) != tuple(y.shape) or str(x.dtype)[6:] != str(y.dtype).split(".")[-1]:
                return f"{what} {k}: {tuple(y.shape)} {y.dtype}, torch {tuple(x.shape)} {x.dtype}"
    return None


def check_module(mi: Any, *, dtypes: tuple[str, ...] = DTYPES, max_samples: int | None = MAX_SAMPLES) -> Iterator[str]:
    """Every disagreement between torch and backprop over ``mi``'s samples, one line each (the first per
    dtype and mode)."""
    key = key_of(mi)
    bcls = getattr(bp.nn, mi.module_cls.__name__, None)
    if bcls is None:
        yield f"{key}: no backprop counterpart"
        return
    for dname in dtypes:
        dt = getattr(torch, dname)
        if dt not in mi.dtypes:
            continue
        for training in (True, False):
            torch.manual_seed(zlib.crc32(f"{key}/{dname}/{training}".encode()))
            try:
                samples = samples_of(mi, dt, training)
            except Exception:  # noqa: BLE001 - torch's own sample generator failing is not ours to judge
                continue
            picked = list(enumerate(samples))
            if max_samples is not None and len(picked) > max_samples:
                picked = [picked[round(j * (len(picked) - 1) / (max_samples - 1))] for j in range(max_samples)]
            for n, s in picked:
                try:
                    problem = _check_sample(mi, key, bcls, s, dname, training)
                except Exception as e:  # noqa: BLE001 - a harness failure is reported, not hidden
                    problem = f"harness error {type(e).__name__}: {str(e)[:200]}"
                if problem:
                    mode = "train" if training else "eval"
                    yield f"{key} {dname} {mode} sample {n} [{describe(s)}]: {problem}"
                    break


def describe(s: Any) -> str:
    def d(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return f"T{tuple(v.shape)}"
        if isinstance(v, torch.nn.Module):
            return type(v).__name__
        if isinstance(v, (list, tuple)):
            return type(v)(d(u) for u in v)
        if isinstance(v, dict):
            return {k: d(u) for k, u in v.items() if k not in ("device", "dtype")}
        return v

    ci, fi = s.constructor_input, s.forward_input
    fwd = "" if fi is None else f" forward={d(tuple(fi.args))} {d(dict(fi.kwargs))}"
    return f"{s.desc or '-'}: ctor={d(tuple(ci.args))} {d(dict(ci.kwargs))}{fwd}"


def _check_sample(mi: Any, key: str, bcls: Any, s: Any, dname: str, training: bool) -> str | None:
    if s.forward_input is None:
        STATS["no forward input"] += 1
        return None
    dt, bdt = getattr(torch, dname), getattr(bp, dname)
    cargs, ckw = tuple(s.constructor_input.args), dict(s.constructor_input.kwargs)
    fargs, fkw = tuple(s.forward_input.args), dict(s.forward_input.kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tm = mi.module_cls(*cargs, **ckw).to(dt)
        except Exception:  # noqa: BLE001 - samples torch itself refuses are not compared
            STATS["torch constructor refuses"] += 1
            return None
        tm.train(training)
        try:
            bcargs, bckw = to_bp(cargs), to_bp(ckw)
            memo: dict[int, Any] = {}
            bfargs, bfkw = to_bp(fargs, memo), to_bp(fkw, memo)
        except Skip:
            STATS["not carried over"] += 1
            return None
        try:
            bm = bcls(*bcargs, **bckw).to(bdt)
        except Exception as e:  # noqa: BLE001 - reported as the disagreement
            return f"constructor raises {type(e).__name__}: {str(e)[:200]}"
        bm.train(training)
        if mi.is_lazy:  # materialise both with a throw-away forward (lazy modules hold no buffers to disturb)
            with torch.no_grad():
                tm(*[a.detach() if isinstance(a, torch.Tensor) else a for a in fargs], **fkw)
            try:
                with bp.no_grad():
                    bm(*bfargs, **bfkw)
            except Exception as e:  # noqa: BLE001
                return f"lazy forward raises {type(e).__name__}: {str(e)[:200]}"
        problem = _state("state_dict", tm.state_dict(), bm.state_dict())
        if problem:
            return problem
        try:
            bm.load_state_dict(state_to_bp(tm.state_dict()))
        except Exception as e:  # noqa: BLE001
            return f"load_state_dict raises {type(e).__name__}: {str(e)[:200]}"
        random = _is_random(tm, ckw, training)
        try:
            expected = tm(*fargs, **fkw)
        except Exception:  # noqa: BLE001
            STATS["torch forward refuses"] += 1
            return None
        try:
            got = bm(*bfargs, **bfkw)
        except Exception as e:  # noqa: BLE001
            return f"forward raises {type(e).__name__}: {str(e)[:200]}"
        STATS["compared (random)" if random else "compared"] += 1
        problem = _compare("output", expected, got, dname, random)
        if problem:
            return problem
        tb, bb = dict(tm.named_buffers()), dict(bm.named_buffers())
        if list(tb) != list(bb):
            return f"buffers {list(bb)}, torch {list(tb)}"
        for k in tb:
            problem = _compare(f"buffer {k} after forward", tb[k], bb[k], dname, random)
            if problem:
                return problem
        problem = _state("state_dict after forward", tm.state_dict(), bm.state_dict())
        if problem:
            return problem
        return _check_grad(key, tm, bm, fargs, fkw, bfargs, bfkw, expected, got, dname, random)


def _check_grad(
    key: str, tm: Any, bm: Any, fargs: Any, fkw: Any, bfargs: Any, bfkw: Any, expected: Any, got: Any, dname: str,
    random: bool,
) -> str | None:  # fmt: skip
    tflat, bflat = oh.flat([list(fargs), list(fkw.values())]), oh.flat([list(bfargs), list(bfkw.values())])
    tins = _unique(x for x in tflat if isinstance(x, torch.Tensor) and x.requires_grad)
    bins = _unique(x for x in bflat if isinstance(x, bp.Tensor) and x.requires_grad)
    tparams = [p for _, p in tm.named_parameters() if p.requires_grad]
    names = [n for n, p in tm.named_parameters() if p.requires_grad]
    bnamed = dict(bm.named_parameters())
    if any(n not in bnamed for n in names):
        return f"parameters {list(bnamed)}, torch {names}"
    bparams = [bnamed[n] for n in names]
    touts = [x for x in oh.flat(expected) if isinstance(x, torch.Tensor) and x.requires_grad]
    bouts = [x for x in oh.flat(got) if isinstance(x, bp.Tensor) and x.requires_grad]
    if not touts:
        return None
    if len(bouts) != len(touts):
        return f"{len(bouts)} outputs require grad, torch {len(touts)}"
    if len(tins) != len(bins):
        return f"{len(bins)} inputs require grad, torch {len(tins)}"
    torch.manual_seed(zlib.crc32(key.encode()))
    cots = [torch.randn_like(x) for x in touts]
    wrt_t, wrt_b = tins + tparams, bins + bparams
    if not wrt_t:
        return None
    try:
        tg = torch.autograd.grad(touts, wrt_t, cots, allow_unused=True)
    except Exception:  # noqa: BLE001 - torch refusing this backward is not ours to judge
        return None
    try:
        bg = bp.autograd.grad(bouts, wrt_b, [oh.to_bp(c) for c in cots], allow_unused=True)
    except Exception as e:  # noqa: BLE001
        return f"backward raises {type(e).__name__}: {str(e)[:200]}"
    labels = [f"input {i}" for i in range(len(tins))] + [f"parameter {n}" for n in names]
    rtol, atol = tolerance(dname)
    for label, x, g, y, h in zip(labels, wrt_t, tg, wrt_b, bg):
        g = torch.zeros_like(x) if g is None else g
        h = bp.zeros_like(y) if h is None else h
        problem = oh.compare("module:random" if random else "grad", g, h, rtol * 10, atol * 10)
        if problem:
            return f"gradient of {label}: {problem}"
    return None


def _unique(xs: Any) -> list[Any]:
    out: list[Any] = []
    for x in xs:
        if not any(x is y for y in out):
            out.append(x)
    return out


def main(argv: list[str]) -> int:
    if not load():
        print("torch or expecttest missing")
        return 2
    max_samples: int | None = MAX_SAMPLES
    if "--all" in argv:
        argv = [a for a in argv if a != "--all"]
        max_samples = None
    names = set(argv)
    count = 0
    for mi in module_db:
        if names and mi.name not in names and mi.name.removeprefix("nn.") not in names:
            continue
        for line in check_module(mi, max_samples=max_samples):
            print(line, flush=True)
            count += 1
    print(f"{count} disagreements; samples: {dict(STATS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
