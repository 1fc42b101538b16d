"""A differential fuzzer: ``bp.func`` against ``torch.func``.

For a fixed seed it builds random calls of every transform and runs each with backprop and with torch,
comparing pytree structure, shapes, dtypes, values, ``requires_grad`` and, where torch raises, the
exception class and message:

* ``vmap``: in_dims/out_dims as ints (negative too), None, tuples and nested pytrees (dicts, lists),
  ``chunk_size``, nested vmaps, ``randomness`` 'error'/'same'/'different' (draws differ from torch's by
  design: checked by the property each mode promises), its argument errors, and every op of torch's
  OpInfo database (``tests/opinfo_harness.py``) mapped over a stacked batch of its own sample inputs;
* ``grad``/``grad_and_value`` (argnums int, negative, tuple; has_aux; pytree inputs; float32/float64),
  ``vjp``, ``jvp``, ``linearize``, ``jacrev``/``jacfwd`` (argnums, has_aux, chunk_size), ``hessian``;
* ``functional_call`` (buffers, tied weights, strict=, tuples of dicts), ``stack_module_state``;
* compositions: vmap(grad), jacrev(jacrev), vmap(jacrev), jacfwd(jacrev), grad(vmap), per-sample
  gradients of a small ``nn.Module``.

A difference left on purpose is in ``KNOWN`` with its reason; a KNOWN entry that no longer differs fails,
so the list stays true. ``python tests/test_parity_func_fuzz.py`` prints every difference found.
"""

# ruff: noqa: B023 - the lambdas built in loops are called at once, inside the iteration that made them

from __future__ import annotations

import itertools
import random
import re
import unittest.mock
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.func as bpf

try:
    import torch
    import torch.func as tf
except ImportError:  # the module skips its tests
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this module compares with torch")
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node:UserWarning"),
]

_LOOP = "vmap here calls func once per slice: "
# OpInfo op key ("opinfo:" + key) -> why vmap of it differs from torch's, on purpose
KNOWN: dict[str, str] = {
    # torch refuses these inside vmap (data-dependent results, no batching rule); the per-slice loop runs them
    "opinfo:item": _LOOP + ".item() gives each slice's number (torch refuses); returning it fails at stacking",
    "opinfo:allclose": _LOOP + "a Python bool per slice (torch refuses), which then fails at stacking",
    "opinfo:equal": _LOOP + "a Python bool per slice (torch has no batching rule), which then fails at stacking",
    "opinfo:masked_select": _LOOP + "each slice's selection, stacked when the sizes agree (torch refuses)",
    "opinfo:nonzero": _LOOP + "dynamic shapes work when the slices agree (torch refuses)",
    "opinfo:unique": _LOOP + "dynamic shapes work when the slices agree (torch refuses)",
    "opinfo:unique_consecutive": _LOOP + "dynamic shapes work when the slices agree (torch refuses)",
    "opinfo:nn.functional.gaussian_nll_loss": _LOOP + "its validity check reads each slice (torch refuses the "
    "data-dependent control flow)",
    "opinfo:nn.functional.one_hot": _LOOP + "num_classes is inferred per slice (torch asks for it explicitly)",
    "opinfo:tensor_split": "torch has no batching rule for tensor_split with tensor indices; the loop runs it",
    "opinfo:column_stack": "torch has no batching rule for column_stack; the loop runs it",
    "opinfo:histogramdd": "torch has no batching rule for histogramdd; the loop runs it",
    "opinfo:as_strided_scatter": "torch has no batching rule for as_strided_scatter; the loop runs it",
    "opinfo:to": "torch refuses channels_last for a batched 3-d slice (its rule sees the 4-d batch); the loop runs it",
    "opinfo:narrow": "torch has no batching rule for narrow with a Tensor start; the loop runs it",
    "opinfo:index_put": _LOOP + "boolean-mask indices work per slice (torch refuses the dynamic shape)",
    "opinfo:nn.functional.grid_sample": "torch's batching rule fails an internal assert on this sample",
    "opinfo:as_strided": _LOOP + "each slice is a view of the stacked input, and as_strided addresses its base "
    "storage (as torch's as_strided of x[i] does); torch's batching rule addresses each example's own",
    "opinfo:as_strided_copy": "as as_strided",
    "opinfo:linalg.lstsq.grad_oriented": "torch's batched empty residuals have a garbage shape (34359738369, 0)",
    "opinfo:chalf": "complex32 does not exist in NumPy/CuPy (README; as in tests/test_parity_opinfo.py)",
    "opinfo:to_sparse": "both refuse to stack sparse results; the messages name different aten ops",
    "opinfo:special.bessel_j0": "float64 near x = 5.5: torch is 2e-7 off; ours equals scipy's (test_parity_opinfo)",
    "opinfo:special.bessel_y1": "float64 near x = 5.6: torch is 3e-7 off; ours equals scipy's (test_parity_opinfo)",
}
# case-name patterns (regular expressions, searched) -> why: differences outside the OpInfo sweep
KNOWN_CASES: dict[str, str] = {
    r"^(jacfwd|hessian)[#-].* argnums=-": "torch's jacfwd (so hessian) with a negative argnums returns zeros (torch "
    "bug: the jvp seeds go to no input); ours the Jacobian of the argument it names, as jacrev's",
    r"^randomness:same:bernoulli": _LOOP + "torch refuses same randomness drawn from a batched tensor; each "
    "slice here draws the same from its own probabilities",
    r"^randomness:different:normal_": _LOOP + "torch refuses different in-place randomness on an unbatched "
    "tensor; the loop draws anew per slice",
    r"^vmap[#-].*can not return a BatchedTensor when out_dim is None; ours returns": _LOOP + "an out_dim-None "
    "output that depends on the batch is refused when the slices' values differ or it is a view of a mapped "
    "input; with one slice (or equal values) the loop cannot tell",
    r"^error:jvp-tangent-dtype: out\[1\]: dtype float64, torch float32": "a tangent of another dtype is cast to "
    "its primal's; torch's forward AD passes it on as it is through the identity (any op promotes it)",
    r"^error:jacfwd-empty-input": "torch's jacfwd fails (IndexError) on an input with no elements; ours returns the "
    "empty Jacobian, as jacrev's",
}


# ---------------------------------------------------------------------------------------------- comparing
class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        return f"{type(self.exc).__name__}: {str(self.exc)[:300]}"


def _run(thunk: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return thunk()
        except Exception as e:  # noqa: BLE001 - compared with torch's
            return _Raised(e)


def _tree_diff(ours: Any, theirs: Any, rtol: float, atol: float, where: str = "out") -> str | None:
    """What differs first between two results (None: the same), torch's ``theirs`` the reference."""
    if torch is not None and isinstance(theirs, torch.Tensor):
        if not isinstance(ours, bp.Tensor):
            return f"{where}: {type(ours).__name__}, torch a Tensor"
        if tuple(ours.shape) != tuple(theirs.shape):
            return f"{where}: shape {tuple(ours.shape)}, torch {tuple(theirs.shape)}"
        td, od = str(theirs.dtype).removeprefix("torch."), str(ours.dtype).split(".")[-1]
        if td != od:
            return f"{where}: dtype {od}, torch {td}"
        if bool(ours.requires_grad) != bool(theirs.requires_grad):
            return f"{where}: requires_grad {ours.requires_grad}, torch {theirs.requires_grad}"
        a, b = ours.detach().numpy(), theirs.detach().resolve_conj().numpy(force=True)
        if a.dtype.kind in "biu":
            return None if np.array_equal(a, b) else f"{where}: values differ"
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            with np.errstate(all="ignore"):
                return f"{where}: values differ, max abs error {float(np.nanmax(np.abs(a - b))):.3g}"
        return None
    if isinstance(theirs, dict):
        if not isinstance(ours, dict) or list(ours) != list(theirs):
            return f"{where}: {_kind(ours)}, torch {_kind(theirs)}"
        for k in theirs:
            d = _tree_diff(ours[k], theirs[k], rtol, atol, f"{where}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(theirs, (tuple, list)):
        if type(ours) is not type(theirs) or len(ours) != len(theirs):
            return f"{where}: {_kind(ours)}, torch {_kind(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            d = _tree_diff(a, b, rtol, atol, f"{where}[{i}]")
            if d:
                return d
        return None
    if ours != theirs and not (ours != ours and theirs != theirs):
        return f"{where}: {ours!r}, torch {theirs!r}"
    return None


def _kind(x: Any) -> str:
    if isinstance(x, dict):
        return f"dict{list(x)}"
    if isinstance(x, (tuple, list)):
        return f"{type(x).__name__} of {len(x)}"
    return type(x).__name__


def _diff(ours: Any, theirs: Any, rtol: float = 1e-6, atol: float = 1e-7) -> str | None:
    """``ours``/``theirs`` as ``_run`` returns them: raising alike (class and message) or equal results."""
    if isinstance(theirs, _Raised):
        if not isinstance(ours, _Raised):
            return f"torch raises {theirs!r}; ours returns"
        if type(ours.exc).__name__ != type(theirs.exc).__name__ or str(ours.exc) != str(theirs.exc):
            return f"torch raises {theirs!r}; ours {ours!r}"
        return None
    if isinstance(ours, _Raised):
        return f"ours raises {ours!r}"
    return _tree_diff(ours, theirs, rtol, atol)


class Case:
    """One fuzz case: ``build(lib, func)`` with ``lib`` backprop or torch and ``func`` its ``func`` module;
    numpy inputs become each library's tensors through ``T``."""

    def __init__(self, name: str, build: Callable[[Any, Any], Any], rtol: float = 1e-6, atol: float = 1e-7):
        self.name, self.build, self.rtol, self.atol = name, build, rtol, atol

    def diff(self) -> str | None:
        ours = _run(lambda: self.build(bp, bpf))
        theirs = _run(lambda: self.build(torch, tf))
        return _diff(ours, theirs, self.rtol, self.atol)


def T(lib: Any, a: Any, requires_grad: bool = False) -> Any:
    """``a`` (a numpy array, or a pytree of them) as ``lib``'s tensors."""
    if isinstance(a, dict):
        return {k: T(lib, v, requires_grad) for k, v in a.items()}
    if isinstance(a, (list, tuple)):
        return type(a)(T(lib, v, requires_grad) for v in a)
    if not isinstance(a, np.ndarray):
        return a
    t = lib.tensor(a)
    return t.requires_grad_() if requires_grad else t


# ---------------------------------------------------------------------------------------------- function pools
# one-argument functions of a tensor of any rank (the same code runs on both libraries' tensors)
UNARY: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("sin", lambda lib, x: x.sin()),
    ("exp*x", lambda lib, x: x.exp() * x),
    ("tanh.sum", lambda lib, x: x.tanh().sum()),
    ("softmax", lambda lib, x: x.softmax(-1) if x.ndim else x.sigmoid()),
    ("pow3-mean", lambda lib, x: x.pow(3) - x.mean()),
    ("cumsum", lambda lib, x: x.cumsum(0) if x.ndim else x * 2),
    ("norm", lambda lib, x: x.norm()),
    ("flip", lambda lib, x: x.flip(-1) if x.ndim else -x),
    ("clamp", lambda lib, x: x.clamp(-0.5, 0.5) + x * 0.1),
    ("where", lambda lib, x: lib.where(x > 0, x, x * x)),
    ("amax-keep", lambda lib, x: x.amax(-1, keepdim=True) * x if x.ndim else x.abs()),
    ("logsumexp", lambda lib, x: x.logsumexp(0) if x.ndim else x.exp()),
    ("reshape", lambda lib, x: x.reshape(-1).cos()),
    ("unsqueeze", lambda lib, x: x.unsqueeze(0).expand(2, *x.shape) * 1.5),
    ("var", lambda lib, x: x.var() if x.numel() > 1 else x.sum()),
    ("index", lambda lib, x: x[..., :1].atan() if x.ndim else x.atan()),
    ("new_ones", lambda lib, x: x + x.new_ones(x.shape) + lib.ones_like(x)),
    ("transpose", lambda lib, x: x.transpose(0, -1).sqrt().nan_to_num() if x.ndim else x.square()),
    ("sort", lambda lib, x: x.sort(-1).values if x.ndim else x),
    ("sigmoid.prod", lambda lib, x: x.sigmoid().prod()),
]
# two arguments of the same shape
BINARY: list[tuple[str, Callable[[Any, Any, Any], Any]]] = [
    ("mul", lambda lib, x, y: x * y),
    ("add.sin", lambda lib, x, y: (x + 2 * y).sin()),
    ("maximum", lambda lib, x, y: lib.maximum(x, y)),
    ("atan2", lambda lib, x, y: lib.atan2(x, y)),
    ("dot", lambda lib, x, y: (x * y).sum()),
    ("stack", lambda lib, x, y: lib.stack([x, y], -1)),
    ("cat", lambda lib, x, y: lib.cat([x.reshape(-1), y.reshape(-1)])),
    ("hypot", lambda lib, x, y: lib.hypot(x, y).log()),
    ("lerp", lambda lib, x, y: lib.lerp(x, y, 0.3)),
    ("div", lambda lib, x, y: x / (y.abs() + 1)),
]


def _shape(rng: random.Random, rank: int) -> tuple[int, ...]:
    return tuple(rng.randint(1, 3) for _ in range(rank))


def _array(rng: random.Random, shape: tuple[int, ...], dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(rng.randrange(2**31)).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------- vmap cases
def _vmap_cases(rng: random.Random, n: int) -> Iterator[Case]:
    """Random in_dims (ints, negative, None; flat or as a pytree), out_dims (ints, negative, tuples; for
    tuple, dict and list outputs), chunk_size, over the pools above."""
    for k in range(n):
        rank = rng.randint(0, 3)
        size = rng.randint(1, 4)
        shape = _shape(rng, rank)
        dtype = rng.choice(["float64", "float32"])
        nargs = rng.choice([1, 2, 2])
        dims: list[Any] = []
        arrays = []
        for i in range(nargs):
            d = None if i and rng.random() < 0.3 else rng.randint(-rank - 1, rank)
            a = _array(rng, shape, dtype)
            if d is not None:
                a = np.stack([_array(rng, shape, dtype) for _ in range(size)], axis=d)
            dims.append(d)
            arrays.append(a)
        uname, u = rng.choice(UNARY)
        bname, b = rng.choice(BINARY)
        shape_out = rng.choice(["tensor", "tuple", "dict", "list-in-dict"])
        pytree_in = nargs == 2 and rng.random() < 0.4

        def body(lib: Any, x: Any, y: Any = None) -> Any:
            first = u(lib, x) if y is None else b(lib, u(lib, x), y) if u(lib, x).shape == y.shape else u(lib, x + y)
            if shape_out == "tensor":
                return first
            second = x.cos() * 2
            if shape_out == "tuple":
                return first, second
            if shape_out == "dict":
                return {"a": first, "b": second}
            return {"a": [first, second], "b": x.sum()}

        out_rank = {"tensor": 1, "tuple": 2, "dict": 2, "list-in-dict": 3}[shape_out]
        choice = rng.random()
        if choice < 0.4:
            out_dims: Any = 0
        elif choice < 0.7:
            out_dims = -1
        elif shape_out == "tuple":
            out_dims = (rng.choice([0, -1]), rng.choice([0, -1, rank]))
        elif shape_out == "dict":
            out_dims = {"a": rng.choice([0, -1]), "b": rng.choice([0, None])}
        elif shape_out == "list-in-dict":
            out_dims = {"a": [0, rng.choice([-1, 1 if rank else 0])], "b": 0}
        else:
            out_dims = rng.choice([(0,), 0])
        del out_rank
        # (torch's chunked vmap asserts on out_dims=(0,) for a lone Tensor output, which it accepts unchunked)
        chunk = rng.choice([None, None, 1, 2, 10]) if out_dims != (0,) else None
        if pytree_in:
            in_dims: Any = ({"x": dims[0], "y": dims[1]},)

            def call(lib: Any, func: Any) -> Any:
                x, y = T(lib, arrays)
                f = func.vmap(lambda p: body(lib, p["x"], p["y"]), in_dims, out_dims, chunk_size=chunk)
                return f({"x": x, "y": y})
        else:
            in_dims = tuple(dims) if nargs > 1 or rng.random() < 0.5 else dims[0]

            def call(lib: Any, func: Any) -> Any:
                f = func.vmap(lambda *a: body(lib, *a), in_dims, out_dims, chunk_size=chunk)
                return f(*T(lib, arrays))

        tol = (1e-5, 1e-6) if dtype == "float32" else (1e-10, 1e-12)
        name = f"vmap#{k}[{uname},{bname if nargs > 1 else ''},{shape} {dtype} in={in_dims} out={out_dims}]"
        yield Case(name, call, *tol)


def _nested_vmap_cases(rng: random.Random, n: int) -> Iterator[Case]:
    for k in range(n):
        b1, b2 = rng.randint(1, 3), rng.randint(1, 3)
        inner = _shape(rng, rng.randint(0, 2))
        uname, u = rng.choice(UNARY)
        x = _array(rng, (b1, b2, *inner))
        y = _array(rng, (b2, *inner))
        d_outer, d_inner = rng.choice([0, -1]), rng.choice([0, -1])
        o_outer, o_inner = rng.choice([0, -1]), rng.choice([0, -1])
        xs = np.moveaxis(x, 0, d_outer)  # the outer batch dim at d_outer

        def call(lib: Any, func: Any) -> Any:
            f = func.vmap(lambda a, c: u(lib, a) * c.sum(), in_dims=(d_inner if d_inner == 0 else 0, 0))
            g = func.vmap(func.vmap(lambda a, c: u(lib, a) + c, (0, 0), o_inner), (d_outer, None), o_outer)
            h = func.vmap(f, (d_outer, None), o_outer)
            return g(*T(lib, (xs, y))), h(*T(lib, (xs, y)))

        yield Case(f"nested-vmap#{k}[{uname} {inner} dims={d_outer},{d_inner} out={o_outer},{o_inner}]", call)


def _vmap_error_cases() -> Iterator[Case]:
    x, y = np.zeros((3, 2)), np.zeros((4, 2))

    def case(name: str, make: Callable[[Any, Any, Any, Any], Any]) -> Case:
        return Case("vmap-error:" + name, lambda lib, func: make(lib, func, *T(lib, (x, y))))

    def f(a: Any, b: Any = None) -> Any:
        return a

    yield case("sizes", lambda lib, func, x, y: func.vmap(f)(x, y))
    yield case("in_dims-too-big", lambda lib, func, x, y: func.vmap(f, 2)(x))
    yield case("in_dims-too-negative", lambda lib, func, x, y: func.vmap(f, -3)(x))
    yield case("in_dims-list", lambda lib, func, x, y: func.vmap(f, [0, 0])(x, y))
    yield case("in_dims-float", lambda lib, func, x, y: func.vmap(f, (0.5,))(x))
    yield case("in_dims-structure", lambda lib, func, x, y: func.vmap(f, (0, 0, 0))(x, y))
    yield case("in_dims-non-tensor", lambda lib, func, x, y: func.vmap(f, (0, 0))(x, 3))
    yield case("in_dims-all-None", lambda lib, func, x, y: func.vmap(f, (None, None))(x, y))
    yield case("in_dims-dict-keys", lambda lib, func, x, y: func.vmap(f, ({"a": 0},))({"b": x}))
    yield case("no-inputs", lambda lib, func, x, y: func.vmap(lambda: x)())
    yield case("out_dims-str", lambda lib, func, x, y: func.vmap(f, out_dims="a")(x))
    yield case("out_dims-structure", lambda lib, func, x, y: func.vmap(lambda a: (a, a), out_dims=(0, 0, 0))(x))
    yield case("out_dims-dict-in-tuple", lambda lib, func, x, y: func.vmap(lambda a: {"k": a}, out_dims=({"k": 0},))(x))
    yield case("out_dims-tuple-1", lambda lib, func, x, y: func.vmap(f, out_dims=(1,))(x))
    yield case("out_dims-nested", lambda lib, func, x, y: func.vmap(lambda a: [a, (a, a)], out_dims=[0, (1, -1)])(x))
    yield case("out_dims-too-big", lambda lib, func, x, y: func.vmap(f, out_dims=3)(x))
    yield case("out_dims-None-mapped", lambda lib, func, x, y: func.vmap(f, out_dims=None)(x))
    yield case("returns-int", lambda lib, func, x, y: func.vmap(lambda a: 3)(x))
    yield case("returns-None", lambda lib, func, x, y: func.vmap(lambda a: None)(x))
    yield case("returns-str-tuple", lambda lib, func, x, y: func.vmap(lambda a: (a, "s"))(x))
    yield case("randomness-bad", lambda lib, func, x, y: func.vmap(f, randomness="x"))
    yield case("chunk_size-0", lambda lib, func, x, y: func.vmap(f, chunk_size=0))
    yield case("chunk_size-negative", lambda lib, func, x, y: func.vmap(f, chunk_size=-2)(x))
    yield case("random-error", lambda lib, func, x, y: func.vmap(lambda a: a + lib.rand(2))(x))
    yield case("randn_like-error", lambda lib, func, x, y: func.vmap(lambda a: lib.randn_like(a))(x))
    yield case("dropout-error", lambda lib, func, x, y: func.vmap(lambda a: lib.nn.functional.dropout(a, 0.5))(x))
    yield case(
        "dropout-eval-ok", lambda lib, func, x, y: func.vmap(lambda a: lib.nn.functional.dropout(a, 0.5, False))(x)
    )
    yield case("size-0", lambda lib, func, x, y: func.vmap(lambda a: a * 2)(x[:0]))
    yield case("size-0-sum", lambda lib, func, x, y: func.vmap(lambda a: a.sum())(x[:0]))
    yield case(
        "size-0-dims",
        lambda lib, func, x, y: func.vmap(lambda a, b: (a @ b, b), (1, None), (-1, None))(x.T[:, :0], y.T),
    )
    yield case("size-0-grad", lambda lib, func, x, y: func.vmap(lambda a: (a * 2).sum())(x[:0].requires_grad_()))
    yield case("out-unmapped-kept", lambda lib, func, x, y: func.vmap(lambda a: (a.sum(), y), out_dims=(0, None))(x))
    yield case("out-unmapped-new", lambda lib, func, x, y: func.vmap(lambda a: (a, y * 2), out_dims=(0, None))(x))
    yield case("out-None-one-slice", lambda lib, func, x, y: func.vmap(lambda a: a * 2, out_dims=None)(x[:1]))
    yield case("out-unmapped-int", lambda lib, func, x, y: func.vmap(lambda a: (a, 3), out_dims=(0, None))(x))
    yield case("kwargs", lambda lib, func, x, y: func.vmap(lambda a, *, k: a * k)(x, k=y[0]))
    yield case("inplace-on-slice", lambda lib, func, x, y: (func.vmap(lambda a: a.mul_(2))(x.clone()), x))
    yield case("0d-output", lambda lib, func, x, y: func.vmap(lambda a: a.sum(), out_dims=-1)(x))
    yield case("bool-output", lambda lib, func, x, y: func.vmap(lambda a: a > 0)(x))
    yield case("int-output", lambda lib, func, x, y: func.vmap(lambda a: a.argmax())(x))


def _randomness_cases() -> Iterator[Case]:
    """Draws differ from torch's by design: each mode's promise is what is compared."""
    x = np.zeros((4, 3))

    def prop(mode: str, draw: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def call(lib: Any, func: Any) -> Any:
            out = func.vmap(lambda a: a + draw(lib, a), randomness=mode)(T(lib, x))
            rows = out.detach().numpy()
            return tuple(out.shape), str(out.dtype).split(".")[-1], bool(np.all(rows == rows[:1]))

        return call

    draws = {
        "rand": lambda lib, a: lib.rand(3, dtype=lib.float64),
        "randn_like": lambda lib, a: lib.randn_like(a),
        "dropout": lambda lib, a: lib.nn.functional.dropout(a + 1, 0.5) - 1,
        "normal_": lambda lib, a: lib.empty(3, dtype=lib.float64).normal_(),
        "bernoulli": lambda lib, a: lib.bernoulli(lib.full_like(a, 0.5)),
    }
    for mode in ("same", "different"):
        for name, draw in draws.items():
            yield Case(f"randomness:{mode}:{name}", prop(mode, draw))


# ---------------------------------------------------------------------------------------------- grad & co
def _scalar_fn(rng: random.Random, nargs: int) -> tuple[str, Callable[..., Any]]:
    """A scalar function of ``nargs`` same-shaped tensors."""
    us = [rng.choice(UNARY) for _ in range(nargs)]
    bname, b = rng.choice(BINARY)

    def f(lib: Any, *xs: Any) -> Any:
        acc = us[0][1](lib, xs[0])
        for (_, u), x in zip(us[1:], xs[1:]):
            ux = u(lib, x)
            acc = b(lib, acc, ux) if acc.shape == ux.shape else acc.sum() * ux.sum()
        return acc.sum()

    return "+".join(n for n, _ in us) + f"|{bname}", f


def _argnums(rng: random.Random, nargs: int) -> Any:
    r = rng.random()
    if r < 0.4:
        return 0
    if r < 0.6:
        return rng.randint(-nargs, nargs - 1)
    k = rng.randint(1, nargs)
    return tuple(rng.sample(range(nargs), k))


def _grad_cases(rng: random.Random, n: int) -> Iterator[Case]:
    for k in range(n):
        nargs = rng.randint(1, 3)
        shape = _shape(rng, rng.randint(0, 2))
        dtype = rng.choice(["float64", "float32"])
        arrays = [_array(rng, shape, dtype) for _ in range(nargs)]
        fname, f = _scalar_fn(rng, nargs)
        argnums = _argnums(rng, nargs)
        has_aux = rng.random() < 0.3
        which = rng.choice(["grad", "grad_and_value"])
        as_dict = rng.random() < 0.2

        def g(lib: Any, *xs: Any) -> Any:
            if as_dict:
                xs = (xs[0]["p"], *xs[1:])
            out = f(lib, *xs)
            return (out, {"aux": xs[0] * 2, "n": [out.detach()]}) if has_aux else out

        def call(lib: Any, func: Any) -> Any:
            xs = list(T(lib, arrays))
            if as_dict:
                xs[0] = {"p": xs[0]}
            return getattr(func, which)(lambda *a: g(lib, *a), argnums=argnums, has_aux=has_aux)(*xs)

        tol = (2e-5, 1e-6) if dtype == "float32" else (1e-9, 1e-12)
        yield Case(f"{which}#{k}[{fname} {shape} {dtype} argnums={argnums} aux={has_aux}]", call, *tol)


def _vector_fn(rng: random.Random) -> tuple[str, Callable[..., Any]]:
    """Two same-shaped inputs to a tuple of outputs."""
    (un, u), (bn, b) = rng.choice(UNARY), rng.choice(BINARY)

    def f(lib: Any, x: Any, y: Any) -> Any:
        ux = u(lib, x)
        first = b(lib, ux, y) if ux.shape == y.shape else ux * y.sum()
        return first, (x * y).sum() + y.sin().mean()

    return f"{un}|{bn}", f


def _derivative_cases(rng: random.Random, n: int) -> Iterator[Case]:
    """vjp, jvp, linearize, jacrev/jacfwd (argnums, has_aux, chunk_size) and hessian on random functions."""
    for k in range(n):
        shape = _shape(rng, rng.randint(0, 2))
        dtype = rng.choice(["float64", "float32"])
        x, y = _array(rng, shape, dtype), _array(rng, shape, dtype)
        fname, f = _vector_fn(rng)
        tol = (5e-5, 1e-5) if dtype == "float32" else (1e-9, 1e-12)
        tag = f"[{fname} {shape} {dtype}]"

        def vjp(lib: Any, func: Any) -> Any:
            xs, ys = T(lib, (x, y))
            out, fn = func.vjp(lambda a, b: f(lib, a, b), xs, ys)
            cts = (out[0].detach().cos(), lib.ones_like(out[1]))
            return out, fn(cts), fn(cts)

        yield Case(f"vjp#{k}{tag}", vjp, *tol)

        def vjp_aux(lib: Any, func: Any) -> Any:
            xs, ys = T(lib, (x, y))
            out, fn, aux = func.vjp(lambda a: (f(lib, a, ys)[0], {"s": a.sum()}), xs, has_aux=True)
            return out, fn(lib.ones_like(out)), aux

        yield Case(f"vjp-aux#{k}{tag}", vjp_aux, *tol)

        def jvp(lib: Any, func: Any) -> Any:
            xs, ys = T(lib, (x, y))
            return func.jvp(lambda a, b: f(lib, a, b), (xs, ys), (ys.cos(), xs.sin()))

        yield Case(f"jvp#{k}{tag}", jvp, *tol)

        def jvp_aux(lib: Any, func: Any) -> Any:
            xs, ys = T(lib, (x, y))
            return func.jvp(lambda a: (f(lib, a, ys)[0], a.exp()), (xs,), (ys,), has_aux=True)

        yield Case(f"jvp-aux#{k}{tag}", jvp_aux, *tol)

        def linearize(lib: Any, func: Any) -> Any:
            xs, ys = T(lib, (x, y))
            out, fn = func.linearize(lambda a, b: f(lib, a, b), xs, ys)
            return out, fn(ys, xs), fn(xs.cos(), ys)

        yield Case(f"linearize#{k}{tag}", linearize, *tol)
        argnums = _argnums(rng, 2)
        has_aux = rng.random() < 0.3
        chunk = rng.choice([None, 1, 2, 7])
        for which in ("jacrev", "jacfwd"):
            kw = {"chunk_size": chunk} if which == "jacrev" else {"randomness": rng.choice(["error", "same"])}

            def jac(lib: Any, func: Any) -> Any:
                xs, ys = T(lib, (x, y))

                def g(a: Any, b: Any) -> Any:
                    out = f(lib, a, b)
                    return (out, a.sum()) if has_aux else out

                return getattr(func, which)(g, argnums, has_aux=has_aux, **kw)(xs, ys)

            yield Case(f"{which}#{k}{tag} argnums={argnums} aux={has_aux} {kw}", jac, *tol)
        sname, s = _scalar_fn(rng, 2)

        def hess(lib: Any, func: Any) -> Any:
            return func.hessian(lambda a, b: s(lib, a, b), argnums)(*T(lib, (x, y)))

        yield Case(f"hessian#{k}[{sname} {shape} {dtype}] argnums={argnums}", hess, *tol)


def _derivative_error_cases() -> Iterator[Case]:
    x = np.arange(6.0).reshape(2, 3)

    def case(name: str, make: Callable[[Any, Any, Any], Any]) -> Case:
        return Case("error:" + name, lambda lib, func: make(lib, func, T(lib, x)))

    yield case("grad-nonscalar", lambda lib, func, x: func.grad(lambda a: a)(x))
    yield case("grad-argnums-big", lambda lib, func, x: func.grad(lambda a: a.sum(), 1)(x))
    yield case("grad-argnums-negative", lambda lib, func, x: func.grad(lambda a: a.sum(), -2)(x))
    yield case("grad-argnums-repeat", lambda lib, func, x: func.grad(lambda a, b: a.sum(), (0, 0))(x, x))
    yield case("grad-argnums-empty", lambda lib, func, x: func.grad(lambda a: a.sum(), ())(x))
    yield case("grad-argnums-float", lambda lib, func, x: func.grad(lambda a: a.sum(), 0.0)(x))
    yield case("grad-argnums-list", lambda lib, func, x: func.grad(lambda a: a.sum(), [0])(x))
    yield case("grad-aux-not-tuple", lambda lib, func, x: func.grad(lambda a: a.sum(), has_aux=True)(x))
    yield case("grad-aux-3-tuple", lambda lib, func, x: func.grad(lambda a: (a.sum(), 1, 2), has_aux=True)(x))
    yield case("grad-int-input", lambda lib, func, x: func.grad(lambda a: a.sum())(x.long()))
    yield case("grad-non-tensor", lambda lib, func, x: func.grad(lambda a: a * 2)(3.0))
    yield case("grad-returns-float", lambda lib, func, x: func.grad(lambda a: 3.0)(x))
    yield case("grad-unrelated-output", lambda lib, func, x: func.grad(lambda a: lib.ones(()))(x))
    yield case("grad-no-args", lambda lib, func, x: func.grad(lambda: x.sum())())
    yield case("vjp-ct-shape", lambda lib, func, x: func.vjp(lambda a: a * 2, x)[1](x[0]))
    yield case("vjp-ct-structure", lambda lib, func, x: func.vjp(lambda a: a * 2, x)[1]((x,)))
    yield case("vjp-int-output", lambda lib, func, x: func.vjp(lambda a: a.long(), x))
    yield case("vjp-non-tensor-output", lambda lib, func, x: func.vjp(lambda a: 3, x))
    yield case("vjp-aux-not-tuple", lambda lib, func, x: func.vjp(lambda a: a, x, has_aux=True))
    yield case("jvp-primals-list", lambda lib, func, x: func.jvp(lambda a: a, [x], [x]))
    yield case("jvp-tangent-shape", lambda lib, func, x: func.jvp(lambda a: a, (x,), (x[0],)))
    yield case("jvp-tangent-dtype", lambda lib, func, x: func.jvp(lambda a: a, (x,), (x.float(),)))
    yield case("jvp-structure", lambda lib, func, x: func.jvp(lambda a: a, (x,), (x, x)))
    yield case("jvp-no-primals", lambda lib, func, x: func.jvp(lambda: x, (), ()))
    yield case("jvp-non-tensor-output", lambda lib, func, x: func.jvp(lambda a: 3, (x,), (x,)))
    yield case("jacrev-chunk-0", lambda lib, func, x: func.jacrev(lambda a: a, chunk_size=0)(x))
    yield case("jacrev-int-input", lambda lib, func, x: func.jacrev(lambda a: a * 2)(x.long()))
    yield case("jacrev-empty-output", lambda lib, func, x: func.jacrev(lambda a: a[:0])(x))
    yield case("jacfwd-empty-input", lambda lib, func, x: func.jacfwd(lambda a: a.sum() * 2)(x[:0]))
    yield case("jacrev-non-tensor", lambda lib, func, x: func.jacrev(lambda a: 3)(x))
    yield case("jacfwd-random", lambda lib, func, x: func.jacfwd(lambda a: a * lib.rand(3))(x))
    yield case("jacfwd-randomness-bad", lambda lib, func, x: func.jacfwd(lambda a: a, randomness="x")(x))
    yield case("hessian-nonscalar", lambda lib, func, x: func.hessian(lambda a: a * 2)(x))
    yield Case("jacfwd-fixed argnums=-1", lambda lib, func: func.jacfwd(lambda a, b: a * b.sin(), -1)(*T(lib, (x, x))))
    yield Case(
        "hessian-fixed argnums=-1",
        lambda lib, func: func.hessian(lambda a, b: (a * b).pow(3).sum(), -2)(*T(lib, (x, x))),
    )
    yield case("jacfwd-int-input", lambda lib, func, x: func.jacfwd(lambda a: a * 2)(x.long()))
    yield case("jvp-int-input", lambda lib, func, x: func.jvp(lambda a: a * 2, (x.long(),), (x.long(),)))
    yield case("vjp-int-input", lambda lib, func, x: func.vjp(lambda a: a * 2, x.long()))
    yield case("linearize-int-input", lambda lib, func, x: func.linearize(lambda a: a * 2, x.long()))
    yield case("vjp-ct-non-tensor", lambda lib, func, x: func.vjp(lambda a: a * 2, x)[1](3.0))
    yield case("vjp-ct-dtype", lambda lib, func, x: func.vjp(lambda a: a * 2, x)[1](x.float()))
    yield case("jvp-tangent-non-tensor", lambda lib, func, x: func.jvp(lambda a: a * 2, (x,), (3.0,)))
    yield case("linearize-tangent-dtype", lambda lib, func, x: func.linearize(lambda a: a * 2, x)[1](x.float()))
    yield case("jacrev-aux-not-tuple", lambda lib, func, x: func.jacrev(lambda a: a, has_aux=True)(x))
    yield case("jacfwd-aux-not-tuple", lambda lib, func, x: func.jacfwd(lambda a: a, has_aux=True)(x))
    yield case("jacfwd-non-tensor", lambda lib, func, x: func.jacfwd(lambda a: 3)(x))
    yield case("jacrev-empty-input", lambda lib, func, x: func.jacrev(lambda a: a.sum() * 2)(x[:0]))
    yield case("grad-empty-input", lambda lib, func, x: func.grad(lambda a: a.sum() * 2)(x[:0]))
    yield case("linearize-tangent-shape", lambda lib, func, x: func.linearize(lambda a: a * 2, x)[1](x[0]))


# ---------------------------------------------------------------------------------------------- modules
def _mlp(lib: Any) -> Any:
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()


def _load(model: Any, state: dict[str, np.ndarray], lib: Any) -> Any:
    with lib.no_grad():
        for k, v in model.state_dict().items():
            v.copy_(lib.tensor(state[k]))
    return model


def _module_cases(rng: random.Random) -> Iterator[Case]:
    nprng = np.random.default_rng(rng.randrange(2**31))
    mlp_state = {k: nprng.standard_normal(s) for k, s in
                 {"0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,)}.items()}  # fmt: skip
    x = nprng.standard_normal((5, 3))
    target = nprng.integers(0, 2, 5)

    def mlp(lib: Any) -> Any:
        return _load(_mlp(lib), mlp_state, lib)

    def per_sample(lib: Any, func: Any) -> Any:
        model = mlp(lib)
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p: Any, xi: Any, ti: Any) -> Any:
            out = func.functional_call(model, p, (xi.unsqueeze(0),))
            return lib.nn.functional.cross_entropy(out, ti.unsqueeze(0))

        grads = func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, *T(lib, (x, target)))
        values = func.vmap(func.grad_and_value(loss), in_dims=(None, 0, 0), chunk_size=2)(params, *T(lib, (x, target)))
        return grads, values

    yield Case("modules:per-sample-grads", per_sample)

    def ensemble(lib: Any, func: Any) -> Any:
        models = [mlp(lib) for _ in range(3)]
        for i, m in enumerate(models):
            with lib.no_grad():
                for p in m.parameters():
                    p.mul_(1 + i)
        params, buffers = func.stack_module_state(models)
        out = func.vmap(lambda p, b, xi: func.functional_call(models[0], (p, b), (xi,)), (0, 0, None))(
            params, buffers, T(lib, x)
        )
        return params, buffers, out

    yield Case("modules:ensemble", ensemble)

    def bn_state(lib: Any, func: Any) -> Any:
        lib.manual_seed(0)
        bn = lib.nn.BatchNorm1d(3).double()
        state = {k: v.clone() for k, v in bn.state_dict().items()}
        out = func.functional_call(bn, state, (T(lib, x),))
        return out, state, bn.running_mean

    yield Case("modules:functional_call-buffers", bn_state)

    def stack_bn(lib: Any, func: Any) -> Any:
        models = [lib.nn.BatchNorm1d(3).double() for _ in range(2)]
        return func.stack_module_state(models)

    yield Case("modules:stack-buffers", stack_bn)

    w0 = nprng.standard_normal((3, 3))

    class Tied:
        @staticmethod
        def make(lib: Any) -> Any:
            class M(lib.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.a = lib.nn.Linear(3, 3, bias=False).double()
                    self.b = lib.nn.Linear(3, 3, bias=False).double()
                    with lib.no_grad():
                        self.a.weight.copy_(lib.tensor(w0))
                    self.b.weight = self.a.weight
                    self.register_buffer("scale", lib.ones((), dtype=lib.float64))

                def forward(self, v: Any) -> Any:
                    return self.b(self.a(v)) * self.scale

            return M()

    w = nprng.standard_normal((3, 3))

    def tied(tie: bool, state: Callable[[Any], dict[str, Any]], strict: bool = False) -> Callable[[Any, Any], Any]:
        def call(lib: Any, func: Any) -> Any:
            m = Tied.make(lib)
            return func.functional_call(m, state(lib), (T(lib, x),), tie_weights=tie, strict=strict)

        return call

    def wa(lib: Any) -> dict[str, Any]:
        return {"a.weight": T(lib, w)}

    both = {"a.weight": w, "b.weight": w * 2}
    full = {"a.weight": w, "b.weight": w, "scale": np.array(2.0)}
    for tie in (True, False):
        yield Case(f"modules:tied tie={tie} a", tied(tie, wa))
        yield Case(f"modules:tied tie={tie} both", tied(tie, lambda lib: T(lib, both)))
        yield Case(f"modules:tied tie={tie} full-strict", tied(tie, lambda lib: T(lib, full), True))
        yield Case(f"modules:tied tie={tie} missing-strict", tied(tie, wa, True))
        yield Case(
            f"modules:tied tie={tie} extra-strict", tied(tie, lambda lib: {**T(lib, full), "zz": T(lib, w)}, True)
        )
        yield Case(f"modules:tied tie={tie} extra", tied(tie, lambda lib: {**wa(lib), "zz": T(lib, w)}))

    def dicts(lib: Any, func: Any) -> Any:
        m = Tied.make(lib)
        out = func.functional_call(m, ({"a.weight": T(lib, w)}, {"scale": T(lib, np.array(3.0))}), T(lib, x))
        return out

    yield Case("modules:tuple-of-dicts", dicts)

    def dicts_repeat(lib: Any, func: Any) -> Any:
        m = Tied.make(lib)
        return func.functional_call(m, ({"a.weight": T(lib, w)}, {"a.weight": T(lib, w)}), T(lib, x))

    yield Case("modules:tuple-of-dicts-repeated", dicts_repeat)

    def stack_errors(lib: Any, func: Any) -> Any:
        return func.stack_module_state([lib.nn.Linear(2, 2), lib.nn.Linear(2, 3)])

    yield Case("modules:stack-shapes-error", stack_errors)

    def stack_modes(lib: Any, func: Any) -> Any:
        return func.stack_module_state([lib.nn.Linear(2, 2), lib.nn.Linear(2, 2).eval()])

    yield Case("modules:stack-modes-error", stack_modes)


# ---------------------------------------------------------------------------------------------- compositions
def _composition_cases(rng: random.Random, n: int) -> Iterator[Case]:
    for k in range(n):
        shape = _shape(rng, rng.randint(1, 2))
        batch = rng.randint(1, 3)
        a = _array(rng, (batch, *shape))
        sname, s = _scalar_fn(rng, 1)
        uname, u = rng.choice(UNARY)

        def sf(lib: Any) -> Callable[[Any], Any]:
            return lambda v: s(lib, v)

        def uf(lib: Any) -> Callable[[Any], Any]:
            return lambda v: u(lib, v) * v.sum()

        comps: dict[str, Callable[[Any, Any], Callable[[Any], Any]]] = {
            "vmap(grad)": lambda lib, F: F.vmap(F.grad(sf(lib))),
            "vmap(vmap(grad(grad)))": lambda lib, F: (
                lambda v: F.vmap(F.vmap(F.grad(F.grad(lambda t: sf(lib)(t.reshape(1))))))(v.reshape(v.shape[0], -1))
            ),
            "jacrev(jacrev)": lambda lib, F: F.jacrev(F.jacrev(uf(lib))),
            "vmap(jacrev)": lambda lib, F: F.vmap(F.jacrev(uf(lib))),
            "jacrev(vmap)": lambda lib, F: F.jacrev(F.vmap(uf(lib))),
            "jacfwd(jacrev)": lambda lib, F: F.jacfwd(F.jacrev(sf(lib))),
            "vmap(hessian)": lambda lib, F: F.vmap(F.hessian(sf(lib))),
            "grad(vmap)": lambda lib, F: F.grad(lambda m: F.vmap(uf(lib))(m).sum()),
            "vmap(jvp)": lambda lib, F: F.vmap(lambda v: F.jvp(uf(lib), (v,), (v.cos(),))),
            "vmap(vjp)": lambda lib, F: F.vmap(lambda v: F.vjp(uf(lib), v)[1](v.sin())),
            "grad(jvp)": lambda lib, F: F.grad(lambda v: F.jvp(uf(lib), (v,), (v.cos(),))[1].sum()),
            "jvp(grad)": lambda lib, F: lambda v: F.jvp(F.grad(sf(lib)), (v,), (v.cos(),)),
            "vmap(jacfwd,out-1)": lambda lib, F: F.vmap(F.jacfwd(uf(lib)), out_dims=-1),
        }
        for cname, comp in comps.items():
            yield Case(
                f"compose#{k}:{cname}[{sname if 'grad' in cname or 'hess' in cname else uname} {a.shape}]",
                lambda lib, func: comp(lib, func)(T(lib, a)),
                1e-9,
                1e-11,
            )


# ---------------------------------------------------------------------------------------------- OpInfo
def _leaves(x: Any, out: list[Any]) -> Any:
    """``x`` with every torch tensor replaced by ('T', index) and appended to ``out``."""
    if isinstance(x, torch.Tensor):
        out.append(x)
        return ("T", len(out) - 1)
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_leaves(v, out) for v in x)
    if isinstance(x, dict):
        return {k: _leaves(v, out) for k, v in x.items()}
    return x


def _fill(tpl: Any, ts: Any) -> Any:
    if isinstance(tpl, tuple) and len(tpl) == 2 and tpl[0] == "T" and isinstance(tpl[1], int):
        return ts[tpl[1]]
    if isinstance(tpl, (list, tuple)):
        return type(tpl)(_fill(v, ts) for v in tpl)
    if isinstance(tpl, dict):
        return {k: _fill(v, ts) for k, v in tpl.items()}
    return tpl


_OPINFO_INTERNAL = ("_", "torch.", "jiterator_", "native_dropout_backward", "max_pool2d_with_indices_backward",
                    "slice", "grid_sampler_")  # fmt: skip


def _opinfo_cases(seed: int) -> Iterator[tuple[str, str | None]]:
    """(op key, difference) for every OpInfo op: its first samples, drawn twice with different values and
    stacked along a random dim of each tensor (some left unmapped), vmapped by torch and by backprop."""
    import opinfo_harness as h

    if not h.load():
        return
    from torch.testing._internal import common_utils

    # torch's sample iterators look for a unittest test up the whole stack (inspect.stack, with source lines)
    # for every sample, which takes most of this sweep's time under pytest: there is none to find here
    with unittest.mock.patch.object(common_utils, "extract_test_fn", lambda: None):
        yield from _opinfo_sweep(h, seed)


def _opinfo_sweep(h: Any, seed: int) -> Iterator[tuple[str, str | None]]:
    batch = 2
    for op in h.op_db:
        key = h.key_of(op)
        if key.startswith(_OPINFO_INTERNAL) or key in h.RANDOM or key in h.UNINITIALISED:
            continue
        fn = h.resolve(op)
        if fn is None:
            continue
        supported = op.supported_dtypes("cpu")
        dt = next((d for d in (torch.float64, torch.int64, torch.bool) if d in supported), None)
        if dt is None:
            continue
        rng = random.Random(zlib.crc32(f"{seed}/{key}".encode()))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                draws = []
                for b in range(batch):
                    torch.manual_seed(zlib.crc32(f"{key}/{b}".encode()))
                    draws.append(list(itertools.islice(op.sample_inputs("cpu", dt), 2)))
        except Exception:  # noqa: BLE001 - torch's own sample generator failing is not ours to judge
            continue
        for n in range(min(len(d) for d in draws)):
            problem = _opinfo_sample(h, op, fn, key, [d[n] for d in draws], dt, rng)
            if problem:
                yield key, f"sample {n}: {problem}"
                break
        else:
            yield key, None


def _opinfo_sample(h: Any, op: Any, fn: Any, key: str, samples: list[Any], dt: Any, rng: random.Random) -> str | None:
    tpls, tensors = [], []
    for s in samples:
        out: list[Any] = []
        tpls.append(_leaves((s.input, tuple(s.args), dict(s.kwargs)), out))
        tensors.append(out)
    first = tensors[0]
    if not first or any(t.layout != torch.strided for t in first):
        return None
    if any(len(o) != len(first) or any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(o, first))
           for o in tensors):  # fmt: skip
        return None  # the draws differ in shape: nothing to stack
    dims = [rng.randint(-t.ndim - 1, t.ndim) for t in first]
    if len(dims) > 1 and rng.random() < 0.3:
        dims[rng.randrange(1, len(dims))] = None  # an unmapped argument
    tpl = tpls[0]
    stacked = [first[i].detach() if d is None else torch.stack([o[i].detach() for o in tensors], d)
               for i, d in enumerate(dims)]  # fmt: skip
    try:
        ours_in = [h.to_bp(t) for t in stacked]
        h.to_bp(tpl)
    except h.Skip:
        return None

    def theirs(*ts: Any) -> Any:
        i, a, k = _fill(tpl, ts)
        return op.op(i, *a, **k)

    def ours(*ts: Any) -> Any:
        i, a, k = _fill(h.to_bp(tpl), ts)
        return fn(i, *a, **k)

    out_dims = rng.choice([0, 0, -1])
    got = _run(lambda: bpf.vmap(ours, tuple(dims), out_dims)(*ours_in))
    expected = _run(lambda: tf.vmap(theirs, tuple(dims), out_dims)(*stacked))
    if isinstance(expected, _Raised) or isinstance(got, _Raised):
        if isinstance(expected, _Raised) and isinstance(got, _Raised) and str(expected) == str(got):
            return None
        return _diff(got, expected)
    if out_dims == -1:  # the batch dim first again, where the harness expects an op's own dims
        shapes = [tuple(t.shape) for t in h.flat(got) if isinstance(t, bp.Tensor)]
        if shapes != [tuple(t.shape) for t in h.flat(expected) if isinstance(t, torch.Tensor)]:
            return f"shapes {shapes}, torch {[tuple(t.shape) for t in h.flat(expected)]}"
        got = _first(got, lambda t: t.movedim(-1, 0), bp.Tensor)
        expected = _first(expected, lambda t: t.movedim(-1, 0), torch.Tensor)
    return h.compare(key, expected, got, *h.tolerance(str(dt).removeprefix("torch.")))


def _first(tree: Any, fn: Callable[[Any], Any], cls: type) -> Any:
    if isinstance(tree, cls):
        return fn(tree)
    if isinstance(tree, (list, tuple)):
        return [_first(t, fn, cls) for t in tree]
    return tree


# ---------------------------------------------------------------------------------------------- running
SEED = 20240611


def all_cases(seed: int = SEED) -> Iterator[Case]:
    """Every case, lazily: a case's closures read its loop's variables, so run each before the next."""
    rng = random.Random(seed)
    yield from _vmap_cases(rng, 90)
    yield from _nested_vmap_cases(rng, 15)
    yield from _vmap_error_cases()
    yield from _randomness_cases()
    yield from _grad_cases(rng, 40)
    yield from _derivative_cases(rng, 20)
    yield from _derivative_error_cases()
    yield from _module_cases(rng)
    yield from _composition_cases(rng, 3)


def _known(name: str) -> bool:
    return any(re.search(k, name) for k in KNOWN_CASES)  # (the name and its difference: "name: difference")


def run_cases(seed: int = SEED) -> list[tuple[str, str]]:
    """(case name, difference) for every case that differs from torch."""
    return [(c.name, d) for c in all_cases(seed) if (d := c.diff())]


@needs_torch
def test_func_fuzz_agrees_with_torch() -> None:
    found = run_cases()
    bad = [f"{n}: {d}" for n, d in found if not _known(f"{n}: {d}")]
    assert not bad, "\n".join(bad)
    for k in KNOWN_CASES:
        assert any(re.search(k, f"{n}: {d}") for n, d in found), (
            f"{k} now agrees with torch: remove it from KNOWN_CASES"
        )


@needs_torch
def test_vmap_over_opinfo_agrees_with_torch() -> None:
    import opinfo_harness as h

    if not h.load():
        pytest.skip("expecttest not installed: torch's OpInfo database needs it")
    results = dict(_opinfo_cases(SEED))
    bad = [f"{k}: {d}" for k, d in results.items() if d and "opinfo:" + k not in KNOWN]
    assert not bad, "\n".join(bad)
    stale = [k for k in KNOWN if k.startswith("opinfo:") and results.get(k[7:], "x") is None]
    assert not stale, f"{stale} now agree with torch: remove them from KNOWN"


# ---------------------------------------------------------------------------------------------- regressions
# (without torch: what the fuzzer found, pinned with torch's behaviour written out)
def test_vmap_over_an_empty_batch() -> None:
    x = bp.ones(0, 3, requires_grad=True)
    out = bpf.vmap(lambda a: (a * 2, a.sum()))(x)
    assert [tuple(o.shape) for o in out] == [(0, 3), (0,)] and all(o.requires_grad for o in out)
    out = bpf.vmap(lambda a, b: a @ b, (1, None), -1)(bp.ones(3, 0), bp.ones(3, 2))
    assert tuple(out.shape) == (2, 0)


def test_vmap_out_dims_checks() -> None:
    x, y = bp.tensor(R(3, 2)), bp.tensor(R(2))
    with pytest.raises(ValueError, match=r"`<lambda>` can not return a BatchedTensor when out_dim is None"):
        bpf.vmap(lambda a: a * 2, out_dims=None)(x)
    with pytest.raises(ValueError, match=r"can not return a BatchedTensor"):
        bpf.vmap(lambda a: a, out_dims=None)(bp.zeros(3, 2))  # equal slices, but a view of the mapped input
    a, b = bpf.vmap(lambda a: (a, y * 2), out_dims=(0, None))(x)  # not batched: returned as it is
    np.testing.assert_array_equal(b.numpy(), 2 * y.numpy())
    with pytest.raises(
        IndexError, match=r"^Dimension out of range \(expected to be in range of \[-2, 1\], but got 3\)$"
    ):
        bpf.vmap(lambda a: a, out_dims=3)(x)
    with pytest.raises(ValueError, match=r"in_dims has structure TreeSpec\(tuple, None, \[\*,\n  \*,\n  \*\]\)"):
        bpf.vmap(lambda a, b: a, (0, 0, 0))(x, x)


def test_transform_messages_are_torchs() -> None:
    x = bp.tensor(R(2, 3))
    with pytest.raises(RuntimeError, match=r"^only Tensors of floating point dtype can require gradients$"):
        bpf.grad(lambda a: a.sum())(x.long())
    with pytest.raises(ValueError, match=r"^Expected primal to be floating point or complex, but got: torch.int64$"):
        bpf.jacfwd(lambda a: a * 2)(x.long())
    _, fn = bpf.vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match=r"grad_output\[0\] has a shape of torch.Size\(\[3\]\) and output"):
        fn(x[0])
    with pytest.raises(RuntimeError, match=r"cotangents: \(\*,\), primal output: \*$"):
        fn((x,))
    with pytest.raises(RuntimeError, match=r"Tensor is of size \[2, 3\] while the given forward gradient is of size"):
        bpf.jvp(lambda a: a, (x,), (x[0],))
    assert bpf.jvp(lambda a: a.sin(), (x,), (x.float(),))[1].dtype == bp.float64  # cast to the primal's
    with pytest.raises(RuntimeError, match=r"^tangent:0 with dtype torch.float32 in flattened pytree"):
        bpf.linearize(lambda a: a * 2, x)[1](x.float())
    with pytest.raises(RuntimeError, match=r"^vjp\(f, \*primals\): expected f\(\*primals\) to return only"):
        bpf.jacrev(lambda a: 3)(x)
    with pytest.raises(RuntimeError, match=r"^stack expects each tensor to be equal size, but got \[2, 2\] at entry 0"):
        bpf.stack_module_state([bp.nn.Linear(2, 2), bp.nn.Linear(2, 3)])


def R(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    for name, d in run_cases():
        print(("KNOWN " if _known(f"{name}: {d}") else "") + f"{name}: {d}")
    for key, d in _opinfo_cases(SEED):
        if d:
            print(("KNOWN " if "opinfo:" + key in KNOWN else "") + f"opinfo:{key}: {d}")
