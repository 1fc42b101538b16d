"""torch's own docstring examples as a parity probe: the ``>>>`` blocks of the top-level ``torch.*`` functions
and ``torch.Tensor`` methods that backprop also has run once with ``torch`` bound to real torch and once bound to
backprop; every expression's value (tensors by shape, dtype name and values with a tolerance) and whether each
statement raises must agree. Random factories (``randn``, ``rand``, ``randint``, ``randperm``, ``normal``, ...)
are replaced in both runs by wrappers drawing from one NumPy stream, seeded per block, so inputs are equal.

Blocks that need files or other modules are skipped by rule (``_skip_reason``); statements that need CUDA or
another device are left out of both runs (``_DEVICE``); an expression showing an uninitialised tensor
(``torch.empty(2, 3)``) is compared by shape and dtype only; blocks drawing random numbers in place or through a
``Generator`` run on both libraries' own generators, seeded alike (CPU streams are torch's, bit for bit);
``KNOWN`` lists the blocks that differ on purpose or for a reason not yet fixed. The examples are torch's own
text, so a torch release can add or change them: the module runs them only against the torch minor version it
was curated with (``CURATED_TORCH``) and skips otherwise. ``python tests/test_torch_docstring_examples.py``
prints the full report (every block's outcome)."""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import math
import re
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the docstring examples need it")

CURATED_TORCH = "2.13"

# Patterns (regular expressions) that mark a block as out of scope: CUDA and other devices, files, other
# modules, kinds of tensor backprop does not have. A ``device=`` naming the CPU, ``torch.empty`` (only what an
# expression shows of an uninitialised tensor is its shape and dtype, see ``_uninitialised``), sparse, meta,
# nested and quantized tensors, and ``Generator``s (CPU streams are torch's, bit for bit) run.
_SKIP_PATTERNS = {
    r"open\(": "uses files",
    r"torch\.save": "uses files",
    r"torch\.load": "uses files",
    r"from_file": "uses files",
    r"torchvision": "needs torchvision",
    r"torch\.compile": "compiles",
    r"torch\.jit": "uses TorchScript",
}
# A statement that names CUDA or another device (not the CPU) is left out of both runs, and so is every later one
# that uses a name it bound (``cuda0 = torch.device('cuda:0')``, ``tensor.to(cuda0)``); the rest of its block runs.
_DEVICE = re.compile(r"cuda|\bmps\b|device\s*=\s*(?!['\"]cpu['\"]|torch\.device\(['\"]cpu['\"]\))")
# Blocks that draw random numbers other than through the factories the shared stream stands in for (in-place
# ``uniform_``, ``multinomial``, a ``Generator``, ...) run on both libraries' own generators, seeded alike.
_RANDOM_METHODS = (
    "uniform_",
    "normal_",
    "random_",
    "bernoulli",
    "exponential_",
    "geometric_",
    "cauchy_",
    "log_normal_",
    "multinomial",
    "poisson",
    "Generator",
    "generator=",
)
# Factories whose result holds uninitialised memory (torch's; backprop's are zero-filled, see the README).
_EMPTY_FACTORIES = {"empty", "empty_like", "empty_strided", "empty_permuted", "new_empty", "new_empty_strided"}

_HYBRID = "hybrid sparse tensors (dense dimensions): sparse tensors hold scalar values only (README)"

# name -> reason: blocks (``name`` or ``name#k`` for the k-th block of that docstring) not compared.
KNOWN: dict[str, str] = {
    "torch.conj": "no lazy conjugate bit: conj() copies, is_conj() is always False",
    "torch.resolve_conj": "no lazy conjugate bit: is_conj() is always False",
    "torch.resolve_neg": "no lazy negative bit: is_neg() is always False",
    "torch.set_default_dtype": "no complex32 (ComplexHalf): a float16 default gives complex128 complex tensors",
    "torch.set_flush_denormal": "flushing denormals is not supported (returns False, values unchanged)",
    "torch.sort": "x.sort() without stable=True: torch's unstable tie order is its kernel's; ours is stable",
    "torch.typename": "module path of Parameter is backprop.nn.parameter, not torch.nn.parameter",
    "torch.is_storage": "no legacy torch.TypedStorage",
    "torch.empty_permuted": "tensors stay in C order: empty_permuted's strides are C order's (README, memory_format)",
    "Tensor.dim_order": "tensors stay in C order: a channels_last empty is C-ordered (README, memory_format)",
    "torch.narrow_copy": _HYBRID,
    "torch.sparse_coo_tensor#2": _HYBRID,
    "Tensor.sparse_mask": _HYBRID,
    "Tensor.to_sparse#0": _HYBRID,
    "Tensor.to_sparse#1": _HYBRID,
    "Tensor.to_sparse_bsc": _HYBRID,
    "Tensor.to_sparse_bsr": _HYBRID,
    "Tensor.to_sparse_csc": _HYBRID,
    "Tensor.to_sparse_csr": _HYBRID,
}


_IMPORTABLE = {"torch", "numpy", "math", "itertools", "array"}


def _skip_reason(src: str) -> str | None:
    for m in re.finditer(r"^\s*(?:from\s+(\S+)\s+import|import\s+(\S+))", src, re.M):
        if (m.group(1) or m.group(2)).split(".")[0] not in _IMPORTABLE:
            return "imports another module"
    for pat, reason in _SKIP_PATTERNS.items():
        if re.search(pat, src):
            return reason
    return None


def _own_streams(src: str) -> bool:
    """Whether the block draws random numbers the shared stream does not stand in for."""
    return any(m in src for m in _RANDOM_METHODS)


# ---------------------------------------------------------------------------------------------- extraction


def _blocks(doc: str) -> list[list[str]]:
    """The docstring's example blocks: runs of ``>>>`` examples not separated by prose, each a list of sources."""
    parser = doctest.DocTestParser()
    try:
        parts = parser.parse(doc)
    except ValueError:
        return []
    blocks: list[list[str]] = []
    cur: list[str] = []
    for p in parts:
        if isinstance(p, doctest.Example):
            cur.append(p.source)
        elif p.strip() and cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def _docstrings() -> list[tuple[str, str]]:
    """(name, docstring) for the torch functions and Tensor methods backprop also has, with examples."""
    out = []
    for name in sorted(dir(torch)):
        if name.startswith("_") or not hasattr(bp, name):
            continue
        obj = getattr(torch, name, None)
        if not callable(obj) or isinstance(obj, type):
            continue
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str) and ">>>" in doc:
            out.append((f"torch.{name}", doc))
    for name in sorted(dir(torch.Tensor)):
        if name.startswith("_") or not hasattr(bp.Tensor, name):
            continue
        obj = getattr(torch.Tensor, name, None)
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str) and ">>>" in doc:
            out.append((f"Tensor.{name}", doc))
    return out


def collect() -> list[tuple[str, list[str]]]:
    """Every (block id, sources): ``name`` for a docstring's only block, ``name#k`` when it has several."""
    out = []
    for name, doc in _docstrings():
        bl = _blocks(doc)
        for k, b in enumerate(bl):
            out.append((name if len(bl) == 1 else f"{name}#{k}", b))
    return out


# ---------------------------------------------------------------------------------------------- running


class _Lib:
    """``torch`` inside a block: the library, with its random factories drawing from one NumPy stream."""

    def __init__(self, lib: Any, rng: np.random.Generator) -> None:
        self._lib = lib
        self._rng = rng

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    # --- shared-stream random factories
    def _make(self, arr: np.ndarray, dtype: Any = None, requires_grad: bool = False) -> Any:
        t = self._lib.tensor(arr, dtype=dtype)
        return t.requires_grad_() if requires_grad else t

    @staticmethod
    def _size(size: tuple) -> tuple:
        if len(size) == 1 and isinstance(size[0], (tuple, list)) or (len(size) == 1 and hasattr(size[0], "__len__")):
            return tuple(size[0])
        return tuple(size)

    def randn(self, *size: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any) -> Any:
        size = kw.pop("size", size)
        arr = self._rng.standard_normal(self._size(size))
        if dtype is not None and "complex" in str(dtype):
            arr = (arr + 1j * self._rng.standard_normal(arr.shape)) / math.sqrt(2)
        return self._make(arr.astype(np.complex64 if np.iscomplexobj(arr) else np.float32), dtype, requires_grad)

    def rand(self, *size: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any) -> Any:
        size = kw.pop("size", size)
        arr = self._rng.random(self._size(size))
        if dtype is not None and "complex" in str(dtype):
            arr = arr + 1j * self._rng.random(arr.shape)
        return self._make(arr.astype(np.complex64 if np.iscomplexobj(arr) else np.float32), dtype, requires_grad)

    def randint(self, *args: Any, dtype: Any = None, **kw: Any) -> Any:
        args = list(args)
        if "size" in kw:
            args.append(kw.pop("size"))
        if "high" in kw:
            args.insert(len(args) - 1 if args else 0, kw.pop("high"))
        if "low" in kw:
            args.insert(0, kw.pop("low"))
        if len(args) == 2:
            low, high, size = 0, args[0], args[1]
        else:
            low, high, size = args
        arr = self._rng.integers(low, high, size=tuple(size))
        return self._make(arr.astype(np.int64), dtype if dtype is not None else self._lib.int64)

    def randperm(self, n: int, dtype: Any = None, **kw: Any) -> Any:
        return self._make(self._rng.permutation(n).astype(np.int64), dtype if dtype is not None else self._lib.int64)

    def rand_like(self, x: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.rand(tuple(x.shape), dtype=dtype or x.dtype)

    def randn_like(self, x: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.randn(tuple(x.shape), dtype=dtype or x.dtype)

    def randint_like(self, x: Any, *args: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.randint(*args, tuple(x.shape), dtype=dtype or x.dtype, **kw)

    def normal(self, mean: Any = 0.0, std: Any = 1.0, size: Any = None, **kw: Any) -> Any:
        m = mean.detach().numpy() if hasattr(mean, "detach") else np.asarray(mean, dtype=np.float32)
        s = std.detach().numpy() if hasattr(std, "detach") else np.asarray(std, dtype=np.float32)
        shape = tuple(size) if size is not None else np.broadcast_shapes(m.shape, s.shape)
        arr = m + s * self._rng.standard_normal(shape)
        return self._make(arr.astype(np.float32), kw.get("dtype"))

    def manual_seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        return None

    def seed(self) -> None:
        return None


class _Own:
    """``torch`` inside a block that draws from the libraries' own generators (CPU streams are torch's, bit for
    bit): the library as it is; the block starts from ``manual_seed(seed)`` in both runs."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


def _norm(x: Any) -> Any:
    """A library-neutral picture of a value: tensors as ("T", shape, dtype name, ndarray)."""
    name = type(x).__name__
    if isinstance(x, (torch.Tensor, bp.Tensor)) and getattr(x, "is_nested", False):
        return ("nested", [_norm(v) for v in x.unbind()])
    if isinstance(x, (torch.Tensor, bp.Tensor)) and x.is_quantized:
        q = ("num", float(x.q_scale()), int(x.q_zero_point())) if "tensor" in str(x.qscheme()) else None
        return ("quantized", _norm(x.int_repr()), str(x.dtype).removeprefix("torch."), q)
    if isinstance(x, (torch.Tensor, bp.Tensor)) and str(x.layout).removeprefix("torch.") != "strided":
        return ("sparse", str(x.layout).removeprefix("torch."), int(x._nnz()), _norm(x.to_dense()))
    if isinstance(x, (torch.Tensor, bp.Tensor)) and x.is_meta:
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), None)
    if isinstance(x, (torch.Tensor, bp.Tensor)):
        a = x.detach().cpu()
        if hasattr(a, "resolve_conj"):
            a = a.resolve_conj().resolve_neg()
        dt = str(a.dtype).removeprefix("torch.")
        if dt == "bfloat16":
            a = a.float()
        return ("T", tuple(a.shape), dt, np.array(a.numpy(), copy=True))
    if name in ("Size",):
        return ("tuple", [int(v) for v in x])
    if name == "dtype" or str(x).startswith("torch.") and name in ("dtype", "finfo", "iinfo"):
        return ("dtype", str(x).removeprefix("torch."))
    if isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, np.generic)):
        return ("dtype", str(np.dtype(x)))
    if name in ("device", "Device"):
        return ("device", str(x))
    if isinstance(x, dict):
        return ("dict", [(k, _norm(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)):
        return ("tuple", [_norm(v) for v in x])
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, float, complex, np.number)):
        return ("num", complex(x) if isinstance(x, (complex, np.complexfloating)) else float(x))
    if isinstance(x, (str, type(None))):
        return x
    if hasattr(x, "__iter__") and not isinstance(x, type):
        try:
            return ("tuple", [_norm(v) for v in x])
        except Exception:  # noqa: BLE001
            pass
    return ("object", name)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == b[0] == "T":
        if a[1] != b[1] or a[2] != b[2]:
            return False
        x, y = a[3], b[3]
        if x is None or y is None:  # uninitialised memory or a meta tensor: shape and dtype only
            return x is None and y is None
        if x.dtype.kind in "biu":
            return bool(np.array_equal(x, y))
        return bool(np.allclose(x, y, rtol=1e-4, atol=1e-4, equal_nan=True))
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == b[0] == "num":
        return bool(np.isclose(a[1], b[1], rtol=1e-4, atol=1e-4, equal_nan=True))
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == b[0] in ("quantized", "sparse"):
        return len(a) == len(b) and all(_close(u, v) for u, v in zip(a[1:], b[1:]))
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == b[0] in ("tuple", "dict", "nested"):
        if len(a[1]) != len(b[1]):
            return False
        return all(_close(u, v) for u, v in zip(a[1], b[1]))
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) == 2 and not isinstance(a[0], str):
        return a[0] == b[0] and _close(a[1], b[1])
    if isinstance(a, tuple) and isinstance(b, tuple) and a[:1] == b[:1] == ("object",):
        return True  # opaque objects (functions, handles): only that both are one
    return bool(a == b)


def _fn_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


class _Tracker:
    """What a block's statements depend on, statement by statement across its examples: ``device``, the names
    bound by a statement left out for naming a device; ``empty``, the names holding memory an ``empty`` call left
    uninitialised (bound to one or computed from one) until an in-place call (``x.fill_(2)``) fills them."""

    def __init__(self) -> None:
        self.device: set[str] = set()
        self.empty: set[str] = set()

    @staticmethod
    def _bound(node: ast.stmt) -> set[str]:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}

    def leave_out(self, src: str, node: ast.stmt) -> bool:
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if _DEVICE.search(ast.get_source_segment(src, node) or "") or used & self.device:
            self.device |= self._bound(node)
            return True
        self.device -= self._bound(node)
        return False

    def uninitialised(self, node: ast.stmt) -> bool:
        """Whether what the statement shows or binds depends on uninitialised memory."""
        value = getattr(node, "value", None)
        if not isinstance(value, ast.AST):
            return False
        calls = [*value.elts] if isinstance(value, ast.Tuple) else [value]
        made = any(isinstance(c, ast.Call) and _fn_name(c) in _EMPTY_FACTORIES for c in calls)
        if isinstance(node, ast.Expr) and isinstance(value, ast.Call) and _fn_name(value).endswith("_"):
            f = value.func
            filled = f.value if isinstance(f, ast.Attribute) and not value.args else (value.args or [None])[0]
            if isinstance(filled, ast.Name) and _fn_name(value) != "requires_grad_":
                self.empty.discard(filled.id)
                return False
        tainted = made or bool({n.id for n in ast.walk(value) if isinstance(n, ast.Name)} & self.empty)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            self.empty = self.empty | self._bound(node) if tainted else self.empty - self._bound(node)
        return tainted


def _statements(src: str, track: _Tracker) -> list[tuple[str, Any, bool]]:
    """Split one example into ("eval", code, uninitialised) for an expression (``print(a, b)`` -> its arguments) or
    ("exec", code, False), leaving out what names a device (``track``: what the block's earlier examples bound)."""
    tree = ast.parse(src)
    out: list[tuple[str, Any, bool]] = []
    for node in tree.body:
        if isinstance(node, ast.Import) and [a.name for a in node.names] == ["torch"]:
            continue  # ``torch`` is already bound to the library under test
        if track.leave_out(src, node):
            continue
        uninit = track.uninitialised(node)
        if isinstance(node, ast.Expr):
            v = node.value
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "print":
                v = ast.Tuple(elts=list(v.args), ctx=ast.Load())
            out.append(("eval", compile(ast.fix_missing_locations(ast.Expression(body=v)), "<doc>", "eval"), uninit))
        else:
            mod = ast.Module(body=[node], type_ignores=[])
            out.append(("exec", compile(mod, "<doc>", "exec"), False))
    return out


def _shape_only(p: Any) -> Any:
    """A picture with its tensors' values dropped (what an uninitialised tensor shows is its shape and dtype)."""
    if isinstance(p, tuple) and p and p[0] == "T":
        return (*p[:3], None)
    if isinstance(p, tuple) and p and p[0] == "tuple":
        return ("tuple", [_shape_only(v) for v in p[1]])
    return p


@contextlib.contextmanager
def _global_state(lib: Any) -> Any:
    """Restore what a block may change globally (default dtype, determinism, denormals, grad mode)."""
    dtype, det = lib.get_default_dtype(), lib.are_deterministic_algorithms_enabled()
    grad, rng = lib.is_grad_enabled(), lib.get_rng_state()
    try:
        yield
    finally:
        lib.set_default_dtype(dtype)
        lib.use_deterministic_algorithms(det)
        lib.set_grad_enabled(grad)
        lib.set_rng_state(rng)
        with contextlib.suppress(Exception):
            lib.set_flush_denormal(False)


def run_block(sources: list[str], lib: Any, seed: int = 0) -> list[Any]:
    """Each statement's outcome: ("ok", picture) for an expression, ("done",) or ("raises", class name)."""
    own = _own_streams("\n".join(sources))
    stand_in = _Own(lib) if own else _Lib(lib, np.random.default_rng(seed))
    ns: dict[str, Any] = {"torch": stand_in, "math": math, "np": np, "numpy": np}
    results: list[Any] = []
    track = _Tracker()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _global_state(lib):
        warnings.simplefilter("ignore")
        if own:
            lib.manual_seed(seed)
        for src in sources:
            try:
                stmts = _statements(src, track)
            except SyntaxError:
                results.append(("syntax",))
                continue
            for kind, code, uninit in stmts:
                try:
                    if kind == "eval":
                        p = _norm(eval(code, ns))  # noqa: S307 - torch's docstring text
                        results.append(("ok", _shape_only(p) if uninit else p))
                    else:
                        exec(code, ns)  # noqa: S102
                        results.append(("done",))
                except Exception as e:  # noqa: BLE001 - whether both raise is what is compared
                    results.append(("raises", type(e).__name__, str(e)[:200]))
    return results


def compare(sources: list[str], seed: int = 0) -> list[str]:
    """The differences between the torch and backprop runs of one block (empty when they agree)."""
    rt, rb = run_block(sources, torch, seed), run_block(sources, bp, seed)
    diffs = []
    for i, (a, b) in enumerate(zip(rt, rb)):
        if a[0] == "raises" and b[0] == "raises":
            continue
        if a[0] != b[0] or (a[0] == "ok" and not _close(a[1], b[1])):
            diffs.append(f"stmt {i}: torch {_short(a)} | backprop {_short(b)}")
    return diffs


def _short(r: Any) -> str:
    s = repr(r)
    return s if len(s) < 300 else s[:300] + "..."


def _cases() -> list[tuple[str, list[str], str | None]]:
    if not torch.__version__.startswith(CURATED_TORCH + ".") and torch.__version__ != CURATED_TORCH:
        return []
    out = []
    for bid, src in collect():
        reason = _skip_reason("\n".join(src))
        base = bid.split("#")[0]
        reason = reason or KNOWN.get(bid) or KNOWN.get(base)
        out.append((bid, src, reason))
    return out


_CASES = _cases()


@pytest.mark.skipif(not _CASES, reason=f"examples curated against torch {CURATED_TORCH}; torch is {torch.__version__}")
@pytest.mark.parametrize(
    ("bid", "sources", "reason"), _CASES or [("none", [], None)], ids=lambda v: v if isinstance(v, str) else ""
)
def test_docstring_example(bid: str, sources: list[str], reason: str | None) -> None:
    if reason is not None:
        pytest.skip(reason)
    diffs = compare(sources)
    assert not diffs, f"{bid}:\n" + "\n".join(sources) + "\n" + "\n".join(diffs)


if __name__ == "__main__":  # the full report
    n_run = n_pass = n_skip = 0
    fails = []
    only = sys.argv[1:]
    for bid, src, reason in _cases():
        if only and not any(re.search(o, bid) for o in only):
            continue
        if reason is not None:
            n_skip += 1
            continue
        n_run += 1
        try:
            d = compare(src)
        except Exception as e:  # noqa: BLE001
            d = [f"harness error {type(e).__name__}: {e}"]
        if d:
            fails.append((bid, src, d))
        else:
            n_pass += 1
    for bid, src, d in fails:
        print("=" * 20, bid)
        print("".join(src))
        print("\n".join(d))
    print(f"run {n_run} passed {n_pass} failed {len(fails)} skipped {n_skip}")
