"""torch's own docstring examples as a parity probe for ``nn`` modules, ``nn.functional``, ``linalg``, ``fft``,
``special``, ``distributions``, ``optim`` (+ ``lr_scheduler``), ``nn.init`` and ``nn.utils``: every ``>>>`` block
of a torch docstring whose name backprop also has runs twice, with ``torch``/``nn``/``F`` bound to torch and to
backprop. The random factories (``randn``, ``rand``, ``randint``, ``randperm``, ``normal``) draw from one NumPy
stream reset per run, and a module a statement binds to a name gets the torch run's state_dict of that name, so
both runs see the same inputs and weights. Each expression statement's value, and each tensor a statement
assigns to a name, must agree in value (tolerance), dtype name and shape; a statement must raise in both or in
neither. ``python tests/test_torch_docstring_examples_nn.py`` prints the full probe summary."""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import re
import types
import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: the docstring probe needs it")

import backprop as bp  # noqa: E402
import backprop.distributions  # noqa: E402,F401
import backprop.fft  # noqa: E402,F401
import backprop.linalg  # noqa: E402,F401
import backprop.nn.functional  # noqa: E402,F401
import backprop.nn.init  # noqa: E402,F401
import backprop.nn.utils  # noqa: E402,F401
import backprop.optim  # noqa: E402,F401
import backprop.optim.lr_scheduler  # noqa: E402,F401
import backprop.special  # noqa: E402,F401

# (label, torch namespace path, backprop namespace path)
NAMESPACES = [
    ("nn", "nn", "nn"),
    ("F", "nn.functional", "nn.functional"),
    ("linalg", "linalg", "linalg"),
    ("fft", "fft", "fft"),
    ("special", "special", "special"),
    ("distributions", "distributions", "distributions"),
    ("optim", "optim", "optim"),
    ("lr_scheduler", "optim.lr_scheduler", "optim.lr_scheduler"),
    ("init", "nn.init", "nn.init"),
    ("utils", "nn.utils", "nn.utils"),
    ("utils.rnn", "nn.utils.rnn", "nn.utils.rnn"),
    ("utils.parametrize", "nn.utils.parametrize", "nn.utils.parametrize"),
    ("utils.parametrizations", "nn.utils.parametrizations", "nn.utils.parametrizations"),
]

# Blocks that cannot be a probe (they need CUDA, files, the network, other packages or context they do not
# define); matched against the block's source. Sparse, meta and nested tensors exist here and run.
_SKIP_SOURCE = re.compile(
    r"open\(|torch\.load|torch\.save|http|requests|PIL|torchvision|scipy|numpy|"
    r"\bnp\.|torch\.distributed|\bdist\.|onnx|jit|compile|xdoctest: \+REQUIRES|fx\.|quant"
)
# A statement that names CUDA or another device (not the CPU) is left out of both runs, and so is every later one
# that uses a name it bound; the rest of its block runs (``linalg.lu``'s CPU half).
_DEVICE = re.compile(r"cuda|\bmps\b|device\s*=\s*(?!['\"]cpu['\"]|torch\.device\(['\"]cpu['\"]\))")


def _without_devices(source: str) -> str:
    """``source`` less the statements that need a device other than the CPU (and those using what they bound)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    if not _DEVICE.search(source):
        return source
    gone: set[str] = set()
    keep = []
    for node in tree.body:
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if _DEVICE.search(ast.get_source_segment(source, node) or "") or used & gone:
            gone |= bound
        else:
            gone -= bound
            keep.append(ast.get_source_segment(source, node) or "")
    return "\n".join(keep) + "\n" if keep else ""


# Blocks that draw random numbers the factories above do not stand in for (dropout, ``init``, in-place
# ``random_``/``uniform_``, ``multinomial``): both runs draw from the libraries' own generators, seeded alike (CPU
# streams are torch's, bit for bit), and values are compared.
_OWN_STREAM = re.compile(r"[Dd]ropout|random_|uniform_|normal_|bernoulli|init\.|[Ff]ractional|multinomial")
# Blocks whose values come from a stream that is not torch's (Gumbel noise, distribution samples; Transformer's
# dropout with weights too many to copy): only shapes and dtypes are compared.
_RANDOM_SOURCE = re.compile(r"gumbel|Transformer|sample")
# Factories whose result holds uninitialised memory: a statement that binds or shows one compares its shape and dtype.
_EMPTY = {"empty", "empty_like", "empty_strided", "new_empty"}

# Factories asked for more elements than this skip the block in the test (it must stay quick); the probe
# (``python tests/test_torch_docstring_examples_nn.py``) runs them all.
MAX_ELEMENTS: int | None = 500_000


class _TooBig(Exception):
    pass


# Known differences: key -> reason. Keys are "label:name:block".
KNOWN: dict[str, str] = {
    "linalg:solve_triangular:0": "torch.allclose(A @ X, B) at float32 on an ill-conditioned random matrix: torch "
    "says False at this seed (residual 2.7e-6), backprop True (1.4e-6): rounding, not a bug",
    "linalg:tensorsolve:0": "torch.allclose(..., atol=1e-6) at float32 on random matrices: the two solvers round "
    "differently at this seed (the shapes agree)",
    "nn:TripletMarginWithDistanceLoss:0": "torch raises 'backward through the graph a second time' at the third "
    "backward through the shared embedding graph (the second one passes); backprop keeps what that backward "
    "needs, so it does not raise (an error-parity gap in torch's freeing of saved tensors)",
}


def _resolve(root: Any, path: str) -> Any:
    for part in path.split("."):
        root = getattr(root, part, None)
        if root is None:
            return None
    return root


def collect() -> list[tuple[str, str, int, str, str]]:
    """(label, name, block index, source, the docstring's earlier blocks) for every docstring block of a name
    both libraries have."""
    parser = doctest.DocTestParser()
    out = []
    seen: set[str] = set()
    for label, tpath, bpath in NAMESPACES:
        tns, bns = _resolve(torch, tpath), _resolve(bp, bpath)
        if tns is None or bns is None:
            continue
        names = set(getattr(tns, "__all__", ())) | {n for n in dir(tns) if not n.startswith("_")}
        for name in sorted(set(names)):
            tobj = getattr(tns, name, None)
            if tobj is None or getattr(bns, name, None) is None or isinstance(tobj, types.ModuleType):
                continue
            docs = [getattr(tobj, "__doc__", None)]
            if isinstance(tobj, type):
                docs += [getattr(v, "__doc__", None) for k, v in vars(tobj).items() if k in ("forward", "__init__")]
            for doc in docs:
                if not isinstance(doc, str) or ">>>" not in doc or doc in seen:
                    continue
                seen.add(doc)
                blocks: list[list[str]] = []
                cur: list[str] = []
                try:
                    pieces = parser.parse(doc)
                except ValueError:
                    continue
                for piece in pieces:
                    if isinstance(piece, doctest.Example):
                        cur.append(piece.source)
                    elif isinstance(piece, str) and piece.strip() and cur:
                        # prose between examples closes a block; output text (`want`) does not
                        blocks.append(cur)
                        cur = []
                if cur:
                    blocks.append(cur)
                for i, b in enumerate(blocks):
                    # the earlier blocks of the docstring: the context a block may build on (``t``, ``T``)
                    prelude = "".join("".join(p) for p in blocks[:i])
                    out.append((label, name, len([o for o in out if o[:2] == (label, name)]), "".join(b), prelude))
    return out


class _Stream:
    """The shared NumPy stream behind the random factories of both runs."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.rng = np.random.RandomState(0)

    @staticmethod
    def _size(size: tuple) -> tuple:
        if len(size) == 1 and isinstance(size[0], (tuple, list)) or (len(size) == 1 and hasattr(size[0], "__len__")):
            return tuple(size[0])
        return tuple(int(s) for s in size)

    def _make(self, a: np.ndarray, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Any:
        if MAX_ELEMENTS is not None and a.size > MAX_ELEMENTS:
            raise _TooBig(f"{a.size} elements")
        t = self.lib.tensor(a)
        if dtype is not None:
            t = t.to(dtype)
        if requires_grad:
            t.requires_grad_(True)
        return t

    def randn(self, *size: Any, generator: Any = None, out: Any = None, **kw: Any) -> Any:
        size = kw.pop("size", size)
        return self._make(self.rng.standard_normal(self._size(size)).astype(np.float32), **kw)

    def rand(self, *size: Any, generator: Any = None, out: Any = None, **kw: Any) -> Any:
        size = kw.pop("size", size)
        return self._make(self.rng.random_sample(self._size(size)).astype(np.float32), **kw)

    def randint(self, *args: Any, generator: Any = None, **kw: Any) -> Any:
        if "size" in kw:
            args = (*args, kw.pop("size"))
        if "high" in kw:
            args = (*args[:-1], kw.pop("high"), args[-1]) if args else (kw.pop("high"),)
        low, high, size = (0, *args) if len(args) == 2 else args
        a = self.rng.randint(int(low), int(high), size=self._size((size,)))
        kw.setdefault("dtype", self.lib.int64)
        return self._make(a.astype(np.int64), **kw)

    def randperm(self, n: int, generator: Any = None, **kw: Any) -> Any:
        kw.setdefault("dtype", self.lib.int64)
        return self._make(self.rng.permutation(int(n)).astype(np.int64), **kw)

    def normal(self, mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None, **kw: Any) -> Any:
        lib = self.lib
        if size is not None:
            return self.randn(*self._size((size,)), **kw) * std + mean
        m = mean if isinstance(mean, lib.Tensor) else lib.tensor(float(mean))
        s = std if isinstance(std, lib.Tensor) else lib.tensor(float(std))
        shape = tuple(lib.broadcast_shapes(m.shape, s.shape))
        return self.randn(*shape) * s + m


def _proxy(lib: Any, stream: _Stream, own: bool = False) -> types.ModuleType:
    """``lib`` with the random factories drawing from ``stream`` or, ``own``, from ``lib``'s generator seeded
    with 0 (the factories still refuse more than ``MAX_ELEMENTS``)."""

    class Proxy(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(lib, name)

    def checked(f: Any) -> Any:
        def factory(*a: Any, **k: Any) -> Any:
            t = f(*a, **k)
            if MAX_ELEMENTS is not None and t.numel() > MAX_ELEMENTS:
                raise _TooBig(f"{t.numel()} elements")
            return t

        return factory

    p = Proxy(lib.__name__)
    for f in ("randn", "rand", "randint", "randperm", "normal"):
        setattr(p, f, checked(getattr(lib, f)) if own else getattr(stream, f))
    if own:
        lib.manual_seed(0)
    else:
        p.manual_seed = lambda *a, **k: None  # type: ignore[attr-defined]
    return p


def _to_bp_imports(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "torch":
                    if a.asname is None and "." in a.name:
                        continue
                    a.name = "backprop" + a.name[len("torch") :]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "torch":
            node.module = "backprop" + node.module[len("torch") :]
    return tree


def _picture(x: Any) -> Any:
    name = type(x).__name__
    if name in ("Tensor", "Parameter", "Buffer") and hasattr(x, "shape"):
        a = x.detach().cpu()
        a = a.resolve_conj().resolve_neg() if hasattr(a, "resolve_conj") else a
        if getattr(a, "is_nested", False):
            return ("list", [_picture(v) for v in a.unbind()])
        if str(a.layout).removeprefix("torch.") != "strided":  # sparse: its layout and dense values
            return ("tuple", [str(a.layout).removeprefix("torch."), _picture(a.to_dense())])
        if a.is_quantized:
            a = a.int_repr()
        a = None if a.is_meta else a.numpy()
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), a if a is None else np.asarray(a))
    if isinstance(x, (torch.Size, bp.Size)):
        return ("Size", tuple(x))
    if isinstance(x, dict):
        return ("dict", [(str(k), _picture(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)):  # torch.return_types and namedtuples count as tuples
        return ("list" if isinstance(x, list) else "tuple", [_picture(v) for v in x])
    if isinstance(x, (bool, int, float, complex, np.number)):
        return ("num", x)
    if isinstance(x, (str, type(None))):
        return x
    return ("object", name)


def _same(a: Any, b: Any, path: str = "", values: bool = True) -> str | None:
    """None when the pictures agree, else a description of the first difference."""
    if isinstance(a, tuple) and a and a[0] == "T":
        if not (isinstance(b, tuple) and b and b[0] == "T"):
            return f"{path}: tensor vs {b!r:.80}"
        if a[1] != b[1]:
            return f"{path}: shape {a[1]} vs {b[1]}"
        if a[2] != b[2]:
            return f"{path}: dtype {a[2]} vs {b[2]}"
        x, y = a[3], b[3]
        if not values or (x is None and y is None):  # (meta tensors: shapes and dtypes only)
            return None
        if x is None or y is None:
            return f"{path}: a meta tensor vs {'values' if x is None else 'a meta tensor'}"
        if x.dtype == bool or y.dtype == bool or np.issubdtype(x.dtype, np.integer):
            ok = np.array_equal(x, y)
        else:
            c = np.complex128 if np.iscomplexobj(x) or np.iscomplexobj(y) else np.float64
            ok = np.allclose(x.astype(c), y.astype(c), rtol=1e-3, atol=1e-4, equal_nan=True)
        return None if ok else f"{path}: values differ (max |d| {np.nanmax(np.abs(x - y)) if x.size else 0:.3g})"
    if isinstance(a, tuple) and a and a[0] == "num":
        if not (isinstance(b, tuple) and b and b[0] == "num"):
            return f"{path}: {a!r:.60} vs {b!r:.60}"
        return (
            None
            if not values or np.isclose(complex(a[1]), complex(b[1]), rtol=1e-3, atol=1e-4, equal_nan=True)
            else f"{path}: {a[1]} vs {b[1]}"
        )
    if isinstance(a, tuple) and a and a[0] in ("list", "tuple", "dict", "Size"):
        if not (isinstance(b, tuple) and b and b[0] == a[0]) or len(a[1]) != len(b[1]):
            return f"{path}: {str(a)[:60]} vs {str(b)[:60]}"
        for i, (u, v) in enumerate(zip(a[1], b[1], strict=True)):
            d = _same(u, v, f"{path}[{i}]", values)
            if d:
                return d
        return None
    if isinstance(a, tuple) and a and a[0] == "object":
        return None  # modules, distributions, optimizers: compared through what they compute
    return None if a == b else f"{path}: {a!r:.60} vs {b!r:.60}"


def _fn_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


class _Uninitialised:
    """Which names hold memory a ``torch.empty`` left uninitialised: bound to an ``empty`` call or computed from
    such a name, until an in-place call (``w.uniform_()``, ``nn.init.zeros_(w)``) fills them. Called with each
    statement, says whether what it shows or binds depends on uninitialised memory (only its shape and dtype do)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __call__(self, stmt: ast.stmt) -> bool:
        value = getattr(stmt, "value", None)
        used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} if value is not None else set()
        made = isinstance(value, ast.Call) and _fn_name(value) in _EMPTY
        if isinstance(stmt, ast.Expr) and isinstance(value, ast.Call) and _fn_name(value).endswith("_"):
            f = value.func
            filled = f.value if isinstance(f, ast.Attribute) and not value.args else (value.args or [None])[0]
            if isinstance(filled, ast.Name) and _fn_name(value) != "requires_grad_":
                self.names.discard(filled.id)
                return False
        tainted = made or bool(used & self.names)
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            self.names = self.names | names if tainted else self.names - names
        return tainted


class _Needs(Exception):
    """The torch run hit something the block does not define (a probe of nothing)."""


def _run(lib: Any, source: str, torch_states: list | None, label: str = "nn") -> list:
    """Run the block under ``lib``; one record per statement: (kind, picture or error, module states)."""
    stream = _Stream(lib)
    tp = _proxy(lib, stream, own=bool(_OWN_STREAM.search(source)))
    is_bp = lib is bp
    ns: dict[str, Any] = {}
    # the examples use their namespace's names bare (``Bernoulli(...)``, ``StepLR(...)``, ``spectral_norm(...)``)
    space = _resolve(lib, dict((n[0], n[2]) for n in NAMESPACES)[label])
    ns.update({n: getattr(space, n) for n in dir(space) if not n.startswith("_") and n not in ("torch", "math")})
    ns.update({"torch": tp, "nn": lib.nn, "F": lib.nn.functional, "math": __import__("math")})
    ns.update({"linalg": lib.linalg, "LA": lib.linalg, "D": lib.distributions, "tensor": lib.tensor})
    # the optimizer/scheduler examples' context: a model, an SGD optimizer at lr 0.05, no-op training steps
    with lib.no_grad():
        model = lib.nn.Linear(2, 2)
        model.weight.copy_(lib.tensor([[0.5, -1.0], [2.0, 0.25]]))
        model.bias.copy_(lib.tensor([0.1, -0.2]))
    ns["model"] = model
    ns["optimizer"] = lib.optim.SGD(model.parameters(), lr=0.05)
    ns["train"] = ns["train_batch"] = lambda *a, **k: None
    ns["validate"] = lambda *a, **k: 1.0
    tree = ast.parse(source)
    if is_bp:
        tree = _to_bp_imports(tree)
    records = []
    uninit = _Uninitialised()
    for k, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.Import) and [a.name for a in stmt.names] in (["torch"], ["backprop"]):
            records.append(("skip", None, {}))
            continue
        values = []
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                if isinstance(stmt, ast.Expr):
                    v = eval(compile(ast.Expression(stmt.value), "<doc>", "eval"), ns)
                    values.append(("expr", _picture(v)))
                else:
                    exec(compile(ast.Module([stmt], []), "<doc>", "exec"), ns)
                    if isinstance(stmt, ast.Import | ast.ImportFrom):
                        for a in stmt.names:
                            nm = a.asname or a.name.split(".")[0]
                            if ns.get(nm) is lib:
                                ns[nm] = tp
        except Exception as e:  # noqa: BLE001 - whether both raise is what is compared
            if isinstance(e, _TooBig):
                raise
            if not is_bp and isinstance(e, NameError | ImportError | ModuleNotFoundError | FileNotFoundError):
                raise _Needs(f"{type(e).__name__}: {e}") from e
            records.append(("raises", type(e).__name__, {}))
            continue
        states = {}
        targets = []
        if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
            tg = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in tg:
                targets += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
        for nm in targets:
            v = ns.get(nm)
            if isinstance(v, lib.nn.Module):
                if torch_states is None:
                    states[nm] = {kk: vv.detach().cpu().numpy().copy() for kk, vv in v.state_dict().items()}
                else:
                    sd = torch_states[k][2].get(nm)
                    if sd:
                        own = v.state_dict()
                        with lib.no_grad():
                            for kk, vv in sd.items():
                                if kk in own and tuple(own[kk].shape) == vv.shape:
                                    own[kk].copy_(lib.tensor(vv).to(own[kk].dtype))
            elif v is not None:
                values.append((f"{nm}=", _picture(v)))
        records.append(("ok", values, states, uninit(stmt)))
    opt = ns.get("optimizer")
    if isinstance(opt, lib.optim.Optimizer):  # where the schedulers left the learning rates
        records.append(("ok", [("lr", _picture([g["lr"] for g in opt.param_groups]))], {}, False))
    return records


def compare(source: str, label: str = "nn", prelude: str = "") -> tuple[str, str]:
    """('pass' | 'fail' | 'skip', detail)."""
    source, prelude = _without_devices(source), _without_devices(prelude)
    if not source.strip():
        return "skip", "needs CUDA or another device throughout"
    if _SKIP_SOURCE.search(prelude + source):
        return "skip", "needs CUDA/files/network/other packages"
    skip = 0
    try:
        try:
            tr = _run(torch, source, None, label)
        except _Needs:
            if not prelude:
                raise
            source, skip = prelude + source, len(ast.parse(prelude).body)  # run it after its docstring's context
            tr = _run(torch, source, None, label)
    except _Needs as e:
        return "skip", f"torch run needs context: {e}"
    except _TooBig as e:
        return "skip", f"too big for the quick test: {e}"
    except SyntaxError as e:
        return "skip", f"not Python: {e}"
    try:
        br = _run(bp, source, tr, label)
    except Exception as e:  # noqa: BLE001
        return "fail", f"harness: {type(e).__name__}: {e}"
    values = not _RANDOM_SOURCE.search(source)
    if all(r[0] != "ok" for r in tr):
        return "skip", "torch raises throughout"
    for k, (t, b) in enumerate(zip(tr, br, strict=True)):
        if k < skip:
            continue
        if t[0] != b[0]:
            return (
                "fail",
                f"stmt {k}: torch {t[0]} {t[1] if t[0] == 'raises' else ''} "
                f"vs backprop {b[0]} {b[1] if b[0] == 'raises' else ''}",
            )
        if t[0] == "ok":
            for (kind, tv), (_, bv) in zip(t[1], b[1], strict=False):
                d = _same(tv, bv, kind, values and not t[3])
                if d:
                    return "fail", f"stmt {k}: {d}"
    return "pass", ""


CASES = collect()


@pytest.fixture(autouse=True)
def _torch_defaults() -> Any:
    """Each block starts from both libraries' defaults (earlier tests may leave a switch set)."""
    import backprop

    libs = [backprop]
    with contextlib.suppress(ImportError):
        import torch

        libs.append(torch)
    for lib in libs:
        lib.distributions.Distribution.set_default_validate_args(True)
        lib.set_default_dtype(lib.float32)
        lib.set_grad_enabled(True)
    yield


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}:{c[2]}" for c in CASES])
def test_docstring_example(case: tuple[str, str, int, str, str]) -> None:
    key = f"{case[0]}:{case[1]}:{case[2]}"
    if key in KNOWN:
        pytest.skip(KNOWN[key])
    verdict, detail = compare(case[3], case[0], case[4])
    if verdict == "skip":
        pytest.skip(detail)
    assert verdict == "pass", f"{key}: {detail}\n{case[3]}"


if __name__ == "__main__":
    MAX_ELEMENTS = None
    import collections
    import sys
    import time

    counts: collections.Counter = collections.Counter()
    for label, name, i, src, prelude in CASES:
        key = f"{label}:{name}:{i}"
        t0 = time.perf_counter()
        verdict, detail = ("known", KNOWN[key]) if key in KNOWN else compare(src, label, prelude)
        dt = time.perf_counter() - t0
        counts[verdict] += 1
        if verdict == "fail" or "-v" in sys.argv or dt > 0.5:
            print(f"{verdict.upper():5} {key}: {detail} [{dt:.2f}s]", flush=True)
    print(dict(counts))
