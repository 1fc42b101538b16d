"""``torch.utils.flop_counter``: count the FLOPs of matrix products, convolutions and attention, per module.

``FlopCounterMode`` (a context manager) wraps, while it is open, the forward kernels of the ops that carry
FLOPs (``matmul``, ``linear``, ``einsum``; registry.py's kernel caches, as ``autograd.profiler`` does)
and the backward rules of every op, and counts what torch's dispatch-level counter counts, under torch's
op names: ``"aten.mm"``, ``"aten.addmm"``, ``"aten.bmm"``, ``"aten.convolution"``,
``"aten.convolution_backward"`` and, on CUDA, the fused attention ops. The keys of ``get_flop_counts()``
are plain strings equal to ``str(torch_op)`` (``"aten.mm"``), so ``{str(k): v}`` of torch's counts equals
ours; ``aten.mm`` (this module's ``aten`` namespace) is that string too.

Which torch kernel an op is (and so its key) follows torch 2.13's choices: a 2-D ``linear`` with a bias, or
an N-D contiguous one, is ``addmm`` on the flattened input; ``a @ b`` is ``mm`` for matrices and where
torch folds the batch of the larger operand (the smaller one requires grad, or the larger folds without a
copy), else ``bmm`` over the broadcast batch; products with a 1-D operand other than vector @ matrix (mv,
dot) are not counted, as torch's. Convolutions (compositions here) count as one ``aten.convolution`` and
one ``aten.convolution_backward``; ``einsum`` (two operands at a time) as torch's ``bmm`` when it
contracts an index. ``scaled_dot_product_attention`` is not counted on the CPU (torch's CPU kernel is not
in its registry); on CUDA it counts as torch's flash (float16/bfloat16 without a mask) or efficient
attention (an approximation of torch's backend choice, not checked against torch on a GPU).

Backward FLOPs: one product per input gradient the node computes (``needs_input_grad``), on the module
path that was active when the forward recorded the node (torch's ``ModuleTracker`` for ordinary models).

Not seen: ``bp.addmm``/``baddbmm`` (compositions: counted as their ``mm``/``bmm``), a convolution whose
only gradient is its bias (torch counts a 0-FLOP ``convolution_backward``), an attention function
imported by name before the mode opened, other threads' module paths, and ``bp.compile`` replays.
Module paths follow the forward that made each node, so torch's tracker quirks are not reproduced (an
identity module such as ``Dropout(0.0)`` collects backward FLOPs in torch, and a module applied twice back
to back, its output straight into itself, loses the backward FLOPs of its first call there).
Custom formulas (``custom_mapping``, ``register_flop_formula``) receive shapes (tuples), never arrays;
keys outside the built-in ones above are never produced. Does not nest with itself or with a profiler.
"""

from __future__ import annotations

import math
import sys
import threading
import warnings
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

__all__ = [
    "FlopCounterMode",
    "addmm_flop",
    "baddbmm_flop",
    "bmm_flop",
    "conv_backward_flop",
    "conv_flop",
    "conv_flop_count",
    "convert_num_with_suffix",
    "convert_to_percent_str",
    "get_shape",
    "get_suffix_str",
    "mm_flop",
    "normalize_tuple",
    "register_flop_formula",
    "sdpa_backward_flop",
    "sdpa_backward_flop_count",
    "sdpa_flop",
    "sdpa_flop_count",
]


class _Aten:
    """``aten.mm`` is the key string ``"aten.mm"`` (torch's ``torch.ops.aten`` namespace, as keys)."""

    def __getattr__(self, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return f"aten.{name}"


aten = _Aten()


# ---------------------------------------------------------------- formulas


def get_shape(i: Any) -> Any:
    """A tensor's (or array's) shape as a tuple; anything else as it is."""
    from backprop.tensor import Tensor

    if isinstance(i, Tensor):
        return tuple(i.shape)
    return i


def _map_shapes(x: Any) -> Any:
    if isinstance(x, (list, tuple)) and not _is_shape(x):
        return type(x)(_map_shapes(v) for v in x)
    if isinstance(x, dict):
        return {k: _map_shapes(v) for k, v in x.items()}
    return get_shape(x)


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(v, int) for v in x)


def _shape_wrapper(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f(*shapes, out_shape=...)`` called with tensors (or shapes) and ``out_val``."""

    @wraps(f)
    def nf(*args: Any, out_val: Any = None, **kwargs: Any) -> Any:
        return f(*_map_shapes(args), out_shape=_map_shapes(out_val), **_map_shapes(kwargs))

    return nf


flop_registry: dict[str, Callable[..., Any]] = {}


def _key(target: Any) -> str:
    """A formula target as its key: a string ``"ns.op"``, this module's ``aten.op``, or a torch op packet."""
    if isinstance(target, str):
        if "." not in target:
            raise ValueError(f"register_flop_formula(targets): expected an op name such as 'aten.mm', got {target!r}")
        return target
    if type(target).__name__ in ("OpOverloadPacket", "HigherOrderOperator", "JITFunction"):
        return str(target)
    raise ValueError(
        f"register_flop_formula(targets): expected each target to be an op name ('aten.mm') or "
        f"OpOverloadPacket (i.e. torch.ops.mylib.foo), got {target} which is of type {type(target)}"
    )


def register_flop_formula(targets: Any, get_raw: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: count ``targets`` (an op name or a list of them) with the decorated formula, in every
    ``FlopCounterMode`` made afterwards; shapes are passed unless ``get_raw``."""

    def register_fun(formula: Callable[..., Any]) -> Callable[..., Any]:
        if not get_raw:
            formula = _shape_wrapper(formula)
        for target in targets if isinstance(targets, (list, tuple)) else [targets]:
            key = _key(target)
            if key in flop_registry:
                raise RuntimeError(f"duplicate registrations for {target}")
            flop_registry[key] = formula
        return formula

    return register_fun


@register_flop_formula(aten.mm)
def mm_flop(a_shape: Any, b_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of an (m, k) @ (k, n) product: 2 m k n."""
    m, k = a_shape
    k2, n = b_shape
    if k != k2:
        raise AssertionError(f"matmul: inner dimensions must match (k == k2), got {k} and {k2}")
    return 2 * m * k * n


@register_flop_formula(aten.addmm)
def addmm_flop(self_shape: Any, a_shape: Any, b_shape: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of ``self + a @ b``: those of the product."""
    return mm_flop(a_shape, b_shape)


@register_flop_formula(aten.bmm)
def bmm_flop(a_shape: Any, b_shape: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of a (b, m, k) @ (b, k, n) batched product: 2 b m k n."""
    b, m, k = a_shape
    b2, k2, n = b_shape
    if b != b2:
        raise AssertionError(f"bmm: batch dimensions must match (b == b2), got {b} and {b2}")
    if k != k2:
        raise AssertionError(f"bmm: inner dimensions must match (k == k2), got {k} and {k2}")
    return 2 * b * m * k * n


@register_flop_formula(aten.baddbmm)
def baddbmm_flop(self_shape: Any, a_shape: Any, b_shape: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of ``self + a @ b`` over a batch: those of the product."""
    return bmm_flop(a_shape, b_shape)


def conv_flop_count(x_shape: Any, w_shape: Any, out_shape: Any, transposed: bool = False) -> int:
    """FLOPs of a convolution (multiplications and additions, bias ignored): 2 per weight element, input
    channel group and output position (input position for a transposed convolution), per sample."""
    positions = math.prod((x_shape if transposed else out_shape)[2:])
    c_out, c_in, *kernel = w_shape
    return 2 * x_shape[0] * positions * math.prod(kernel) * c_out * c_in


@register_flop_formula([aten.convolution, aten._convolution, aten.cudnn_convolution, aten._slow_conv2d_forward])
def conv_flop(
    x_shape: Any,
    w_shape: Any,
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """FLOPs of ``aten.convolution`` from its arguments' shapes."""
    return conv_flop_count(x_shape, w_shape, out_shape, transposed=transposed)


def _swap01(shape: Any) -> list[int]:
    return [shape[1], shape[0], *shape[2:]]


@register_flop_formula(aten.convolution_backward)
def conv_backward_flop(
    grad_out_shape: Any,
    x_shape: Any,
    w_shape: Any,
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    _groups: Any,
    output_mask: Any,
    out_shape: Any,
    **kwargs: Any,
) -> int:
    """FLOPs of ``aten.convolution_backward``: the input gradient (a transposed convolution of the output
    gradient) and the weight gradient (a convolution of the input with the output gradient), as masked."""
    flops = 0
    if output_mask[0]:
        flops += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:
        first, second = (grad_out_shape, x_shape) if transposed else (x_shape, grad_out_shape)
        flops += conv_flop_count(_swap01(first), _swap01(second), _swap01(out_shape[1]), transposed=False)
    return flops


def _attention_dims(query_shape: Any, key_shape: Any, value_shape: Any) -> tuple[int, int, int, int, int, int]:
    b, h_q, s_q, d_q = query_shape
    b2, h_kv, s_k, d_k = key_shape
    b3, h_v, s_v, d_v = value_shape
    if not (b == b2 == b3 and h_kv == h_v and d_q == d_k and s_k == s_v):
        raise AssertionError(
            f"sdpa_flop_count: query/key/value shapes are incompatible: q={query_shape}, k={key_shape}, v={value_shape}"
        )
    if h_q < h_kv or h_q % h_kv:
        raise AssertionError(f"sdpa_flop_count: query heads ({h_q}) must be a multiple of key/value heads ({h_kv})")
    return b * h_q, s_q, s_k, d_q, d_v, h_q


def sdpa_flop_count(query_shape: Any, key_shape: Any, value_shape: Any) -> int:
    """FLOPs of attention over (b, h, s, d) tensors: the scores q k^T and their product with v (GQA allowed)."""
    bh, s_q, s_k, d_q, d_v, _ = _attention_dims(query_shape, key_shape, value_shape)
    return bmm_flop((bh, s_q, d_q), (bh, d_q, s_k)) + bmm_flop((bh, s_q, s_k), (bh, s_k, d_v))


@register_flop_formula(
    [
        aten._scaled_dot_product_efficient_attention,
        aten._scaled_dot_product_flash_attention,
        aten._scaled_dot_product_cudnn_attention,
    ]
)
def sdpa_flop(
    query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """FLOPs of a fused attention forward (causal masks not discounted)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def sdpa_backward_flop_count(grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any) -> int:
    """FLOPs of attention's backward: the scores again, then the gradients of the scores, v, q and k."""
    bh, s_q, s_k, d_q, d_v, h_q = _attention_dims(query_shape, key_shape, value_shape)
    gb, gh, gs, gd = grad_out_shape
    if gb * gh != bh or gh != h_q or gs != s_q or gd != d_v:
        raise AssertionError("sdpa_backward_flop_count: grad_out/value/key/query shapes are incompatible")
    return (
        bmm_flop((bh, s_q, d_q), (bh, d_q, s_k))  # scores, recomputed
        + bmm_flop((bh, s_q, d_v), (bh, d_v, s_k))  # grad of the weights: grad_out v^T
        + bmm_flop((bh, s_k, s_q), (bh, s_q, d_v))  # grad v: weights^T grad_out
        + bmm_flop((bh, s_q, s_k), (bh, s_k, d_q))  # grad q: grad_scores k
        + bmm_flop((bh, d_q, s_q), (bh, s_q, s_k))  # grad k: q^T grad_scores
    )


@register_flop_formula(
    [
        aten._scaled_dot_product_efficient_attention_backward,
        aten._scaled_dot_product_flash_attention_backward,
        aten._scaled_dot_product_cudnn_attention_backward,
    ]
)
def sdpa_backward_flop(
    grad_out_shape: Any,
    query_shape: Any,
    key_shape: Any,
    value_shape: Any,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """FLOPs of a fused attention backward."""
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def normalize_tuple(x: Any) -> tuple:
    """``x`` as a tuple (a non-tuple becomes a 1-tuple)."""
    return x if isinstance(x, tuple) else (x,)


suffixes = ["", "K", "M", "B", "T"]


def get_suffix_str(number: int) -> str:
    """The suffix ("", K, M, B, T) for ``number``'s magnitude, one step late (1001M rather than 1.001B)."""
    return suffixes[max(0, min(len(suffixes) - 1, (len(str(number)) - 2) // 3))]


def convert_num_with_suffix(number: int, suffix: str) -> str:
    """``number`` in units of ``suffix``, three decimals: ``convert_num_with_suffix(1500, "K") == "1.500K"``."""
    scale = suffixes.index(suffix)
    return f"{number / 1000**scale:.3f}{suffix}"


def convert_to_percent_str(num: float, denom: float) -> str:
    """``num / denom`` as a percentage with two decimals ("0%" for a zero ``denom``)."""
    return "0%" if denom == 0 else f"{num / denom:.2%}"


# ---------------------------------------------------------------- which torch kernel an op is

_Plan = tuple[str, tuple] | None  # (torch op key, its formula's arguments), None: torch counts nothing


def _folds_cleanly(shape: tuple, strides: tuple) -> bool:
    """Whether the leading dims of an array view as one without a copy (torch's ``should_fold`` check)."""
    if math.prod(shape) == 0:
        return True
    return all(strides[i - 1] == strides[i] * shape[i] for i in range(len(shape) - 2, 0, -1))


def _matmul_plan(a: tuple, b: tuple, a_strides: tuple | None, a_rg: bool, b_rg: bool) -> _Plan:
    """torch 2.13's ``at::matmul`` dispatch: mm, a fold of the larger operand into mm, or bmm."""
    da, db = len(a), len(b)
    if da == 2 and db == 2:
        return "aten.mm", (a, b)
    if da == 1 and db == 2:
        return "aten.mm", ((1, a[0]), b)
    if da <= 2 and db <= 2 or 1 in (da, db):  # dot, mv, or a vector with a batch: no product torch counts
        return None
    if da >= 3 and db == 2:
        if b_rg or a_strides is None or _folds_cleanly(a, a_strides):
            return "aten.mm", ((math.prod(a[:-1]), a[-1]), b)
    elif da == 2 and a_rg:  # (2-D @ N-D: folds only when the matrix requires grad)
        return "aten.mm", ((math.prod(b[:-2]) * b[-1], b[-2]), (a[1], a[0]))
    batch = math.prod(_broadcast(a[:-2], b[:-2]))
    return "aten.bmm", ((batch, a[-2], a[-1]), (batch, b[-2], b[-1]))


def _broadcast(s: tuple, t: tuple) -> tuple:
    n = max(len(s), len(t))
    s, t = (1,) * (n - len(s)) + tuple(s), (1,) * (n - len(t)) + tuple(t)
    return tuple(max(x, y) for x, y in zip(s, t))


def _linear_plan(x: Any, w: Any, b: Any, rg: tuple[bool, ...]) -> _Plan:
    """torch's ``linear``: addmm on the flattened input (2-D, or contiguous, with a bias), else matmul."""
    out_f, in_f = w.shape
    if b is not None and (x.ndim == 2 or x.flags.c_contiguous):
        rows = math.prod(x.shape[:-1])
        return "aten.addmm", (tuple(b.shape), (rows, in_f), (in_f, out_f))
    return _matmul_plan(tuple(x.shape), (in_f, out_f), x.strides, rg[0], rg[1])


def _einsum_plan(equation: str, a: tuple, b: tuple | None) -> _Plan:
    """A two-operand einsum as torch's ``bmm``: batch (in both and the output), left-only, summed, right-only."""
    if b is None:
        return None
    lhs, out = equation.split("->")
    sa, sb = lhs.split(",")
    if not any(c in sb and c not in out for c in sa):  # nothing contracted: torch multiplies (uncounted)
        return None
    size: dict[str, int] = {}
    for sub, shape in ((sa, a), (sb, b)):
        for c, n in zip(sub, shape):
            size[c] = max(size.get(c, 1), n)
    batch = left = right = summed = 1
    for c in dict.fromkeys(sa + sb):
        in_a, in_b, n = c in sa, c in sb, size[c]
        if in_a and in_b:
            if c in out:
                batch *= n
            else:
                summed *= n
        elif c in out:
            if in_a:
                left *= n
            else:
                right *= n
    return "aten.bmm", ((batch, left, summed), (batch, summed, right))


def _backward_calls(plan: tuple[str, tuple], needs: tuple[bool, ...]) -> list[tuple[str, tuple]]:
    """The products torch's backward of a mm/addmm/bmm computes: one per operand gradient needed."""
    key, args = plan
    if key == "aten.addmm":
        key, args = "aten.mm", args[1:]
    a, b = args
    calls: list[tuple[str, tuple]] = []
    if key == "aten.mm":
        (m, k), (_, n) = a, b
        if needs[0]:
            calls.append((key, ((m, n), (n, k))))
        if needs[1]:
            calls.append((key, ((k, m), (m, n))))
    else:
        (bt, m, k), (_, _, n) = a, b
        if needs[0]:
            calls.append((key, ((bt, m, n), (bt, n, k))))
        if needs[1]:
            calls.append((key, ((bt, k, m), (bt, m, n))))
    return calls


# ---------------------------------------------------------------- the machinery while a mode is open

_active: list[FlopCounterMode | None] = [None]
_tls = threading.local()  # suppress: depth of regions not to count; bw: a backward's parents; conv, sdpa, last


def _t(name: str, default: Any = None) -> Any:
    return getattr(_tls, name, default)


def _apply_code() -> Any:
    from backprop.autograd.function import apply

    return apply.__code__


class _Fwd:
    """A flop op's forward kernel that counts while its mode is open."""

    __slots__ = ("fn", "kind", "live", "code", "__wrapped__")

    def __init__(self, fn: Callable[..., Any], kind: str, code: Any) -> None:
        self.fn = self.__wrapped__ = fn
        self.kind, self.live, self.code = kind, True, code

    def __call__(self, *arrays: Any, **attrs: Any) -> Any:
        out = self.fn(*arrays, **attrs)
        mode = _active[0]
        if mode is not None and self.live:
            caller = sys._getframe(1)
            args = caller.f_locals.get("args", ()) if caller.f_code is self.code else ()
            rg = tuple(bool(getattr(a, "_requires_grad", False)) for a in args) or (False,) * len(arrays)
            mode._forward(self.kind, arrays, attrs, rg)
        return out


class _Bwd:
    """An op's backward rule that counts (flop ops) and sets the module paths its node was made under."""

    __slots__ = ("fn", "live", "__wrapped__")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = self.__wrapped__ = fn
        self.live = True

    def __call__(self, ctx: Any, *rest: Any, **kw: Any) -> Any:
        mode = _active[0]
        if mode is None or not self.live:
            return self.fn(ctx, *rest, **kw)
        return mode._backward(self.fn, ctx, rest, kw)


class _ModuleTracker:
    """torch's ``ModuleTracker`` naming (type name, then ``parent.child`` for children) and forward parents."""

    def __init__(self) -> None:
        self.parents: set[str] = {"Global"}
        self.known: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.seen: weakref.WeakSet = weakref.WeakSet()
        self.snapshot: frozenset[str] | None = None
        self.handles: list[Any] = []

    def name(self, mod: Any) -> str:
        if mod not in self.known:
            self.known[mod] = type(mod).__name__
        name = self.known[mod]
        if mod not in self.seen:
            for child_name, child in mod.named_children():
                self.known[child] = f"{name}.{child_name}"
                self.name(child)
            self.seen.add(mod)
        return name

    def current(self) -> frozenset[str]:
        if self.snapshot is None:
            self.snapshot = frozenset(self.parents)
        return self.snapshot

    def _pre(self, mod: Any, args: Any) -> None:
        self.parents.add(self.name(mod))
        self.snapshot = None

    def _post(self, mod: Any, args: Any, out: Any) -> None:
        self.parents.discard(self.name(mod))
        self.snapshot = None

    def enter(self) -> None:
        from backprop.nn import module_hooks

        self.parents = {"Global"}
        self.snapshot = None
        self.handles = [
            module_hooks.register_module_forward_pre_hook(self._pre),
            module_hooks.register_module_forward_hook(self._post),
        ]

    def exit(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


_FLOP_OPS = ("matmul", "linear", "einsum")


class FlopCounterMode:
    """Count FLOPs inside ``with FlopCounterMode() as fc:``; ``fc.get_total_flops()``,
    ``fc.get_flop_counts()`` (module path -> {op key: FLOPs}) and ``fc.get_table()``."""

    def __init__(
        self,
        mods: Any = None,
        depth: int = 2,
        display: bool = True,
        custom_mapping: dict[Any, Any] | None = None,
    ) -> None:
        self.flop_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.depth = depth
        self.display = display
        if mods is not None:
            warnings.warn("mods argument is not needed anymore, you can stop passing it", stacklevel=2)
        custom = {
            _key(k): v if getattr(v, "_get_raw", False) else _shape_wrapper(v)
            for k, v in (custom_mapping or {}).items()
        }
        self.flop_registry: dict[str, Callable[..., Any]] = {**flop_registry, **custom}
        self.mod_tracker = _ModuleTracker()
        self._nodes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._swapped: list[tuple[dict, str, Any, Any]] = []
        self._patched: list[tuple[Any, str, Any]] = []
        self._record: Any = None

    # -- results -----------------------------------------------------------------------------------
    def get_total_flops(self) -> int:
        """All FLOPs counted (the ``"Global"`` entry's sum)."""
        return sum(self.flop_counts["Global"].values())

    def get_flop_counts(self) -> dict[str, dict[Any, int]]:
        """{module path: {op key: FLOPs}}, ``"Global"`` holding everything."""
        return {k: dict(v) for k, v in self.flop_counts.items()}

    def get_table(self, depth: int | None = None) -> str:
        """The counts as a ``tabulate`` table down to ``depth`` module levels (``tabulate`` required, as torch)."""
        if depth is None:
            depth = self.depth
        if depth is None:
            depth = 999999
        import tabulate  # type: ignore[import-untyped]

        tabulate.PRESERVE_WHITESPACE = True
        total = self.get_total_flops()
        suffix = get_suffix_str(total)
        subsumed = False

        def rows(mod: str, indent: int) -> list[list[str]]:
            nonlocal subsumed
            mod_total = sum(self.flop_counts[mod].values())
            subsumed |= mod_total >= total
            pad = " " * indent
            out = [[pad + mod, convert_num_with_suffix(mod_total, suffix), convert_to_percent_str(mod_total, total)]]
            for k, v in self.flop_counts[mod].items():
                out.append([f"{pad} - {k}", convert_num_with_suffix(v, suffix), convert_to_percent_str(v, total)])
            return out

        values: list[list[str]] = []
        for mod in sorted(self.flop_counts):
            level = mod.count(".") + 1
            if mod != "Global" and level <= depth:
                values.extend(rows(mod, level - 1))
        if "Global" in self.flop_counts and not subsumed:
            for row in values:
                row[0] = " " + row[0]
            values = rows("Global", 0) + values
        if not values:
            values = [["Global", "0", "0%"]]
        return tabulate.tabulate(values, headers=["Module", "FLOP", "% Total"], colalign=("left", "right", "right"))

    # -- the context -------------------------------------------------------------------------------
    def __enter__(self) -> FlopCounterMode:
        from backprop.autograd import profiler

        if _active[0] is not None:
            raise RuntimeError("FlopCounterMode: another FlopCounterMode is open (they do not nest); leave it first")
        if profiler._installed[0] is not None:
            raise RuntimeError(
                "FlopCounterMode: a profiler is running (both wrap the op kernels and do not nest); leave it first"
            )
        self.flop_counts.clear()
        self._install()
        profiler._installed[0] = self
        _active[0] = self
        self.mod_tracker.enter()
        return self

    def __exit__(self, *exc: Any) -> None:
        from backprop.autograd import profiler

        self.mod_tracker.exit()
        _active[0] = None
        if profiler._installed[0] is self:
            profiler._installed[0] = None
        self._uninstall()
        if self.display:
            print(self.get_table(self.depth))

    _busy_message = (
        "profile: a FlopCounterMode is open (both wrap the op kernels and do not nest); leave it before profiling"
    )

    def _install(self) -> None:
        from backprop import registry
        from backprop.autograd import function, graph, profiler
        from backprop.backends import registered_backends
        from backprop.nn import _conv_functional as convs
        from backprop.nn import functional

        code = _apply_code()
        backends = [b for b in registered_backends().values() if b.is_available()]
        ops = [registry.get(n) for n in registry.list_ops()]
        for op in [*ops, *profiler._custom_ops()]:
            for backend in backends:
                if op.name in _FLOP_OPS:
                    k = op.kernel(backend)
                    w: Any = _Fwd(k, op.name, code)
                    op._kernels[backend.name] = w
                    self._swapped.append((op._kernels, backend.name, k, w))
                if op.backward is not None:
                    r = op.backward_kernel(backend)
                    w = _Bwd(r)
                    op._bkernels[backend.name] = w
                    self._swapped.append((op._bkernels, backend.name, r, w))
        for module, name, make in (
            (convs, "_conv", self._conv_wrapper),
            (convs, "_conv_transpose", self._conv_wrapper),
            (functional, "scaled_dot_product_attention", self._sdpa_wrapper),
        ):
            original = getattr(module, name)
            setattr(module, name, make(original, name))
            self._patched.append((module, name, original))
        with graph._lock:
            plain = graph._plain_record

            def record(*args: Any) -> Any:
                node = plain(*args)
                self._on_node(node, args[0])
                return node

            self._record = (plain, record)
            graph._plain_record = record  # type: ignore[assignment]
            if function._record is plain:
                function._record = record  # type: ignore[assignment]

    def _uninstall(self) -> None:
        from backprop.autograd import function, graph

        for cache, key, original, wrapper in self._swapped:
            wrapper.live = False
            if cache.get(key) is wrapper:
                cache[key] = original
        self._swapped = []
        for module, name, original in self._patched:
            setattr(module, name, original)
        self._patched = []
        if self._record is not None:
            plain, record = self._record
            with graph._lock:
                graph._plain_record = plain
                if function._record is record:
                    function._record = plain
            self._record = None
        _tls.last = None

    # -- counting ----------------------------------------------------------------------------------
    def _parents(self) -> frozenset[str]:
        bw = _t("bw")
        return bw if bw is not None else self.mod_tracker.current()

    def _count(self, key: str, args: tuple, out_val: Any = None, parents: Iterable[str] | None = None) -> None:
        formula = self.flop_registry.get(key)
        if formula is None:
            return
        flops = formula(*args, out_val=out_val)
        for par in self._parents() if parents is None else parents:
            self.flop_counts[par][key] += flops

    def _forward(self, kind: str, arrays: tuple, attrs: dict, rg: tuple[bool, ...]) -> None:
        _tls.last = None
        if _t("suppress", 0):
            return
        plan: _Plan
        if kind == "matmul":
            a, b = arrays[0], arrays[1]
            plan = _matmul_plan(tuple(a.shape), tuple(b.shape), a.strides, rg[0], rg[1])
        elif kind == "linear":
            plan = _linear_plan(arrays[0], arrays[1], arrays[2] if len(arrays) > 2 else None, rg)
        else:
            b = arrays[1] if len(arrays) > 1 else None
            plan = _einsum_plan(attrs["equation"], tuple(arrays[0].shape), None if b is None else tuple(b.shape))
        if plan is not None:
            self._count(*plan)
            _tls.last = (kind, plan)

    def _on_node(self, node: Any, op: Any) -> None:
        """A node was recorded: keep the module paths it was made under (and what its backward counts)."""
        extra: Any = None
        conv, sdpa = _t("conv"), _t("sdpa")
        if op.name == "matmul" and conv is not None:
            extra = ("conv", conv)
        elif op.name == "matmul" and sdpa is not None:
            extra = ("skip",)
            sdpa.append(node)
        elif op.name in _FLOP_OPS:
            last = _t("last")
            extra = ("product", last[1]) if last is not None and last[0] == op.name else ("skip",)
        _tls.last = None
        self._nodes[node] = (self._parents(), extra)

    def _backward(self, fn: Callable[..., Any], ctx: Any, rest: tuple, kw: dict) -> Any:
        try:
            parents, extra = self._nodes.get(ctx, (None, None))
        except TypeError:  # (not a Node: a compiled replay's context)
            parents, extra = None, None
        if parents is None:
            parents = frozenset({"Global"})
        if extra is not None:
            needs = tuple(ctx.needs_input_grad)
            if extra[0] == "product":
                for key, args in _backward_calls(extra[1], needs):
                    self._count(key, args, parents=parents)
            elif extra[0] == "conv":
                info = extra[1]
                mask = [needs[1], needs[0], False]
                if mask[0] or mask[1]:
                    grads = (info["x"] if mask[0] else None, info["w"] if mask[1] else None, None)
                    args = (info["out"], info["x"], info["w"], *info["args"], mask)
                    self._count("aten.convolution_backward", args, grads, parents)
            elif extra[0] == "sdpa":
                self._count(extra[1], extra[2], parents=parents)
        saved = _t("bw"), _t("suppress", 0)
        _tls.bw = parents
        if extra is not None:
            _tls.suppress = saved[1] + 1  # (the rule's own products are counted above)
        try:
            return fn(ctx, *rest, **kw)
        finally:
            _tls.bw, _tls.suppress = saved

    def _conv_wrapper(self, original: Callable[..., Any], name: str) -> Callable[..., Any]:
        transposed = name == "_conv_transpose"

        @wraps(original)
        def conv(fname: str, n: int, input: Any, weight: Any, bias: Any, *rest: Any) -> Any:
            if _active[0] is not self or _t("conv") is not None or _t("suppress", 0):
                return original(fname, n, input, weight, bias, *rest)
            info: dict[str, Any] = {}
            _tls.conv = info
            _tls.suppress = _t("suppress", 0) + 1
            try:
                y = original(fname, n, input, weight, bias, *rest)
            finally:
                _tls.conv = None
                _tls.suppress -= 1
            unbatched = input.ndim == n + 1
            x_shape = (1, *input.shape) if unbatched else tuple(input.shape)
            out_shape = (1, *y.shape) if unbatched else tuple(y.shape)
            if transposed:
                stride, padding, output_padding, groups, dilation = rest
            else:
                stride, padding, dilation, groups = rest
                output_padding = 0
            bias_shape = None if bias is None else tuple(bias.shape)
            args = (bias_shape, stride, padding, dilation, transposed, output_padding, groups)
            info.update(x=x_shape, w=tuple(weight.shape), out=out_shape, args=args)
            self._count("aten.convolution", (x_shape, tuple(weight.shape), *args), out_shape)
            return y

        return conv

    def _sdpa_wrapper(self, original: Callable[..., Any], name: str) -> Callable[..., Any]:
        @wraps(original)
        def sdpa(query: Any, key: Any, value: Any, attn_mask: Any = None, *args: Any, **kwargs: Any) -> Any:
            if _active[0] is not self or _t("sdpa") is not None or _t("suppress", 0):
                return original(query, key, value, attn_mask, *args, **kwargs)
            nodes: list[Any] = []
            _tls.sdpa = nodes
            _tls.suppress = _t("suppress", 0) + 1
            try:
                out = original(query, key, value, attn_mask, *args, **kwargs)
            finally:
                _tls.sdpa = None
                _tls.suppress -= 1
            if query.device.type != "cuda" or query.ndim != 4:
                return out  # (torch's CPU attention kernel is not counted)
            from backprop import dtypes

            half = query.dtype is dtypes.float16 or dtypes.is_bfloat16(query.dtype)
            fused = "flash" if half and attn_mask is None else "efficient"
            shapes = (tuple(query.shape), tuple(key.shape), tuple(value.shape))
            self._count(f"aten._scaled_dot_product_{fused}_attention", shapes, tuple(out.shape))
            if nodes:  # the last product (weights @ v) exists whenever any input requires grad
                bw_args = (tuple(out.shape), *shapes)
                parents = self._nodes[nodes[-1]][0]
                self._nodes[nodes[-1]] = (
                    parents,
                    ("sdpa", f"aten._scaled_dot_product_{fused}_attention_backward", bw_args),
                )
            return out

        return sdpa
