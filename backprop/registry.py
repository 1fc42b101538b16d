"""The op registry: every differentiable primitive, defined once and dispatched per backend.

An op is a forward kernel written against the array namespace ``xp`` (numpy or cupy), a backward
rule (its vector-Jacobian product), and a declaration of what it keeps for backward. Backends may
replace any kernel (see ``Backend.overrides``); ``kernel(op, backend)`` picks the override if one
exists, else the generic kernel. Kernels see arrays, never Tensors.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol

import numpy as np

from backprop import dtypes
from backprop.backends import Backend, meta_backend, registered_backends

Kernel = Callable[..., Any]


class Ctx(Protocol):
    """What a backward rule ``rule(ctx, gy) -> tuple`` may read: the contract between ops and engine.

    Rules use nothing else (no engine internals), so the engine can change freely. Outside
    ``create_graph`` the values are arrays of the forward's backend and ``xp`` is its namespace; while
    a graph is being built they are Tensors and ``xp`` is a numpy-like namespace that records ops.
    """

    @property
    def saved(self) -> tuple[Any, ...]:
        """The declared inputs (``save_inputs``), then the output when ``save_output``."""

    @property
    def aux(self) -> Any:
        """The forward's auxiliary value (ops declared with ``aux=True``), else None."""

    @property
    def attrs(self) -> Mapping[str, Any]:
        """The forward's keyword attributes, its declared defaults filled in."""

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """One flag per input: whether its gradient is wanted (return None where it is not)."""

    @property
    def input_shapes(self) -> tuple[tuple[int, ...] | None, ...]:
        """The shape of each input (None for Python scalars)."""

    @property
    def xp(self) -> Any:
        """The array namespace the rule computes with."""

    @property
    def create_graph(self) -> bool:
        """True while the backward pass is itself recorded (fused array-only overrides defer then)."""

    @property
    def aux_consumable(self) -> bool:
        """True when this backward is the last use of ``aux`` (no ``retain_graph``): the rule may then
        write its result into the aux arrays instead of allocating (cross-entropy's (N, C) buffer)."""

    @property
    def gy_consumable(self) -> bool:
        """True when nothing reads ``gy`` after this rule (a ``bp.compile`` replay proves it from the
        record's lifetimes and aliases): the rule may then write its result into ``gy``'s buffer."""

    def call(self, op: OpDef, *args: Any, **attrs: Any) -> Any:
        """Run another op inside the rule: its kernel on arrays, a recorded op on Tensors."""

    @property
    def array_xp(self) -> Any:
        """The device's array namespace (numpy or cupy), also while a graph is recorded."""

    def graph_input(self, i: int) -> Any:
        """Under ``create_graph``: input ``i`` as a Tensor of the recorded graph (the leaf itself, or a
        stand-in of its shape and dtype produced by its node: its values are not kept), so a fused op
        that saved no copy of an input can record ops on it."""


def merge_positions(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Where torch's sum of two sparse COO tensors (CPU, contiguous values) puts the entries of ``a`` and ``b``
    (their indices as linear positions, each list uncoalesced or not): one merge pass over both heads, the smaller
    first and equal heads summed into one entry. Returns the output slot of each entry of ``a``, of ``b``, and
    the output's nnz (``a`` and ``b`` sorted and unique: their sorted union)."""
    al, bl = np.asarray(a).tolist(), np.asarray(b).tolist()
    na, nb = len(al), len(bl)
    pa, pb = [0] * na, [0] * nb
    i = j = r = 0
    while i < na and j < nb:
        x, y = al[i], bl[j]
        if x <= y:
            pa[i] = r
            i += 1
        if y <= x:
            pb[j] = r
            j += 1
        r += 1
    pa[i:] = range(r, r + na - i)
    r += na - i
    pb[j:] = range(r, r + nb - j)
    return np.array(pa, np.int64), np.array(pb, np.int64), r + nb - j


class SparseRows:
    """A gradient a rule may return for a 2-D input read by rows (``F.embedding(..., sparse=True)``): the rows
    ``ids`` (int64, one per lookup, repeats kept) receive ``values`` (one row each), torch's uncoalesced sparse
    COO gradient. The engine hands it to a leaf as a sparse ``.grad`` (``autograd.engine``); summed with a dense
    gradient it becomes dense, with another ``SparseRows`` as torch's sparse add: ``contiguous`` (torch's values
    are contiguous, not a view of an expanded gradient) merges equal index runs (``merge_positions``), else the
    lookups are concatenated."""

    __slots__ = ("ids", "values", "shape", "xp", "contiguous")
    __array_ufunc__ = None  # (``dense + rows`` defers to ``__radd__`` instead of making an object array)

    def __init__(self, ids: Any, values: Any, shape: tuple[int, ...], xp: Any, contiguous: bool = True) -> None:
        self.ids, self.values, self.shape, self.xp, self.contiguous = ids, values, tuple(shape), xp, contiguous

    @property
    def dtype(self) -> Any:
        return self.values.dtype

    def dense(self) -> Any:
        """The dense gradient: zeros with each lookup's row added at its id."""
        xp = self.xp
        out = xp.zeros(self.shape, dtype=self.values.dtype)
        xp.add.at(out, self.ids, self.values)
        return out

    def __add__(self, other: Any) -> Any:
        if other.__class__ is not SparseRows:
            return other + self.dense()
        xp = self.xp
        if not (self.contiguous and other.contiguous):
            return SparseRows(
                xp.concatenate([self.ids, other.ids]), xp.concatenate([self.values, other.values]), self.shape, xp
            )
        pa, pb, n = merge_positions(_host(self.ids, xp), _host(other.ids, xp))
        pa, pb = xp.asarray(pa), xp.asarray(pb)
        ids = xp.empty(n, dtype=self.ids.dtype)
        ids[pa], ids[pb] = self.ids, other.ids
        values = xp.zeros((n, *self.values.shape[1:]), dtype=self.values.dtype)
        values[pa] += self.values  # (pa's slots are distinct, as pb's: each side adds once, torch's order)
        values[pb] += other.values
        return SparseRows(ids, values, self.shape, xp)

    __radd__ = __add__


def _host(a: Any, xp: Any) -> Any:
    return a if xp is np else xp.asnumpy(a)


class OpDef:
    """One registered op. Single output; inputs are arrays (or Python scalars) plus keyword attrs.

    - ``forward(xp, *inputs, **attrs) -> y`` (or ``(y, aux)`` when ``aux=True``)
    - ``backward(ctx, gy) -> tuple`` of one gradient (or None) per input; ``ctx`` is a ``Ctx``.
      Broadcasting is undone (and dtypes restored) by the engine, never by a rule.
    - ``check(*inputs, **attrs)``: the shape/dtype rule, raising ``ValueError`` with a clear message.
    - ``moves_device``: the output lives on ``attrs["device"]`` (device transfers only).
    - ``view``: the output may share the first input's memory (reshape, permute, basic indexing); when
      it does, it shares the input's version counter, as torch's views (in-place changes through one
      are seen by backward through the other).
    - ``ufunc``: the name of an ``xp`` function that is the forward (``"multiply"``): the registry
      dispatches to it directly (see ``ufunc_op``).
    - ``defaults``: the forward's keyword defaults, read once here; ``ctx.attrs`` fills them in.
    - ``saved_for``: ``{saved input: inputs whose gradient uses it}``; the engine then keeps that
      input only when one of those inputs requires grad (``None`` in ``ctx.saved`` otherwise), as
      torch does: ``d * 2`` keeps nothing of ``d``, so ``d += d * 2`` stays legal.
    """

    __slots__ = (
        "name",
        "forward",
        "backward",
        "save_inputs",
        "save_output",
        "aux",
        "check",
        "double_backward",
        "moves_device",
        "casts",
        "view",
        "special",
        "ufunc",
        "doc",
        "defaults",
        "saved_for",
        "_kernels",
        "_bkernels",
        "donating",
        "node_class",
    )

    def __init__(
        self,
        name: str,
        forward: Kernel,
        *,
        save_inputs: tuple[int, ...] = (),
        save_output: bool = False,
        aux: bool = False,
        check: Kernel | None = None,
        double_backward: bool = True,
        moves_device: bool = False,
        casts: bool = False,
        view: bool = False,
        ufunc: str | None = None,
        saved_for: Mapping[int, tuple[int, ...]] | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.backward: Kernel | None = None
        self.save_inputs = save_inputs
        self.save_output = save_output
        self.aux = aux
        self.check = check
        self.double_backward = double_backward
        self.moves_device = moves_device
        self.casts = casts  # the output dtype is an attribute: an integer result gets no gradient
        self.view = view
        self.special = aux or moves_device or view or casts
        self.ufunc = ufunc
        self.doc = (forward.__doc__ or "").strip().split("\n")[0]
        self.defaults = _keyword_defaults(forward)
        self.saved_for = None if saved_for is None else tuple(saved_for.items())
        self._kernels: dict[str, Kernel] = {}
        self._bkernels: dict[str, Kernel] = {}
        self.donating: Kernel | None = None  # forward variant that may overwrite input 0 (see defdonating)
        self.node_class: type | None = None  # its grad_fn class (``MulBackward0``), set by autograd on first use

    def defvjp(self, fn: Kernel) -> Kernel:
        """Decorator: set the backward rule ``fn(ctx, gy) -> tuple of input gradients``."""
        self.backward = fn
        return fn

    def defdonating(self, fn: Kernel) -> Kernel:
        """Decorator: a forward variant ``fn(xp, *inputs, **attrs)`` that may compute in the first
        input's buffer. Only ``bp.compile`` replays call it, where the record proves that nothing
        reads that input (or any view of its memory) afterwards; eager execution never does."""
        self.donating = fn
        return fn

    def donating_kernel(self, backend: Backend) -> Kernel | None:
        """The donating forward for ``backend`` (None when the backend overrides the forward: its
        kernel is the one the record must keep)."""
        if self.donating is None or self.name in backend_overrides(backend):
            return None
        return partial(self.donating, backend.xp)

    def kernel(self, backend: Backend) -> Kernel:
        """The forward kernel for ``backend`` with its array namespace bound: call it with the
        inputs and attrs. The backend's override if any, else the generic kernel; for ops declared
        with ``ufunc=`` the namespace's own function itself (no Python frame per call). Cached."""
        k = self._kernels.get(backend.name)
        if k is None:
            xp = backend.xp
            override = backend_overrides(backend).get(self.name)
            if override is not None:
                k = partial(_guarded(override, self.forward), xp)
            elif self.ufunc is not None:
                k = getattr(xp, self.ufunc)
            else:
                k = partial(self.forward, xp)
            if _BF16_SEEN[0]:
                if self.name == "matmul" or (
                    self.ufunc is None and self._bf16_in_float32() and self.name not in _OWN_HALF_PATH
                ):
                    k = _float32_for_bf16(k)
                elif self.name in _SCALAR_IN_FLOAT32:
                    k = _float32_scalar_for_f16(k)
                elif _BF16 is not None and self.name == "where":
                    k = _where_keeping_bf16(k)
            if _COMPLEX_SEEN[0] and self.name in _REAL_ONLY and _OPS.get(self.name) is self:
                k = _refusing_complex(k, self.name)
            if _FLOAT8_SEEN[0] and (self.name not in _FLOAT8_OK or self.name == "abs") and _OPS.get(self.name) is self:
                k = _refusing_float8(k, self.name)
            if backend.name == "meta":  # (shape-only tensors: see backends/meta_backend.py)
                k = meta_backend.meta_kernel(self.name, k)
            self._kernels[backend.name] = k
        return k

    def backward_kernel(self, backend: Backend) -> Kernel:
        """The backward rule for ``backend``: its ``"name.backward"`` override, else the generic rule."""
        k = self._bkernels.get(backend.name)
        if k is None:
            if self.backward is None:
                raise RuntimeError(f"op {self.name!r} is not differentiable")
            override = backend_overrides(backend).get(self.name + ".backward")
            k = self.backward if override is None else _guarded_rule(override, self.backward)
            if _BF16_SEEN[0] and self._bf16_in_float32():
                k = _float32_for_bf16_rule(k, self.name in _SAVED_IN_FLOAT32)
            if backend.name == "meta":
                k = meta_backend.meta_rule(k)
            self._bkernels[backend.name] = k
        return k

    def _bf16_in_float32(self) -> bool:
        """True when bfloat16/float16 inputs of this op compute in float32 (see ``_EXACT_IN_BF16``); never for
        an unregistered op (a custom ``autograd.Function``'s: its forward and backward are the user's)."""
        if self.view or self.moves_device or self.casts or self.name in _EXACT_IN_BF16:
            return False
        return _OPS.get(self.name) is self

    @property
    def differentiable(self) -> bool:
        return self.backward is not None

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def _keyword_defaults(forward: Kernel) -> dict[str, Any]:
    """The forward's keyword-only parameters with defaults: the op's attributes (inputs are positional)."""
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return {}
    return {
        p.name: p.default
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
    }


def _guarded(override: Kernel, generic: Kernel) -> Kernel:
    """An override may return ``NotImplemented`` for inputs it was not written for: then the
    generic kernel runs instead (overrides guard themselves; dispatch keeps them correct)."""

    def kernel(xp: Any, *args: Any, **attrs: Any) -> Any:
        out = override(xp, *args, **attrs)
        return generic(xp, *args, **attrs) if out is NotImplemented else out

    kernel.__name__ = getattr(override, "__name__", "override")
    kernel.__wrapped__ = override  # type: ignore[attr-defined]
    return kernel


def _guarded_rule(override: Kernel, generic: Kernel) -> Kernel:
    """``_guarded`` for backward rules ``(ctx, gy)``: ``NotImplemented`` means "use the generic rule"
    (an override written for arrays returns it while a graph is being built, for example)."""

    def rule(ctx: Any, gy: Any) -> Any:
        out = override(ctx, gy)
        return generic(ctx, gy) if out is NotImplemented else out

    rule.__name__ = getattr(override, "__name__", "override")
    rule.__wrapped__ = override  # type: ignore[attr-defined]
    return rule


# bfloat16 (ml_dtypes) has NumPy loops for the elementwise ufuncs, each computing in float32 and rounding
# once, as torch's CPU kernels do. The ops below would otherwise accumulate in bfloat16 (NumPy's sums
# add in the array's dtype: 100,000 ones sum to 256) or have no bfloat16 loop (einsum, SciPy's special
# functions); for bfloat16 inputs they run in float32 and their float32 result is rounded to bfloat16,
# as torch's float32-accumulating CPU kernels; their backward rules take the gradient in float32 and the
# engine rounds each input's gradient once. Structural ops (reshape, indexing, cat, ...) and the
# ufunc-backed elementwise ops are exact in bfloat16 and run as they are (their backward rules still
# take the gradient in float32: the engine's broadcast sums then accumulate in float32 too).
_EXACT_IN_BF16 = frozenset(
    "all amax amin any argmax argmedian argmin argmode argsort as_strided astype bincount cat clamp clone "
    "cummax_index cummin_index diag_embed diagonal expand flip gather getitem hardtanh index_copy index_fill "
    "index_put index_select isin masked_fill median nan_to_num nonzero permute relu reshape roll scatter scatter_count "
    "searchsorted setitem sign stack take_indexed threshold to_device tril triu unique".split()
)


# Ops torch refuses complex input for (no order, no rounding, no real-only special function of a complex
# argument), where NumPy's loops would compute something meaningless (relu and clamp compare by real part,
# erf and gelu take a formula's complex continuation, lt orders lexicographically). Once the process makes
# its first complex array (``dtypes.note_complex``: creation, conversion, the FFTs, complex(), eig) their
# kernels are rebuilt behind a dtype check that raises torch's error (``_REAL_ONLY_ERRORS``; by default
# NotImplementedError ``"<op>_cpu" not implemented for 'ComplexFloat'``, torch's CPU dispatch message):
# until then no kernel is wrapped, so programs that never make a complex array pay nothing per op.
_REAL_ONLY = frozenset(
    "amax amin argmax argmedian argmin argmode argsort atan2 binary_cross_entropy_with_logits ceil clamp copysign "
    "cross_entropy cummax_index cummin_index digamma elu erf erfc erfinv floor floor_divide fmax fmin fmod frac "
    "ge gelu gelu_grad gt hardsigmoid hardswish hardtanh heaviside hypot i0 i1 isin le leaky_relu lgamma "
    "logaddexp2 logit logsigmoid lt maximum median minimum mish nextafter polygamma relu remainder round "
    "searchsorted sign signbit softplus threshold trunc trunc_divide unique xlogy".split()
)
_CLAMP = (NotImplementedError, "clamp is not supported for complex types")
_REAL_ONLY_ERRORS: dict[str, tuple[type[Exception], str]] = {
    **dict.fromkeys(("relu", "clamp", "hardtanh"), _CLAMP),
    **{n: (RuntimeError, f"{n} not implemented for complex tensors.") for n in ("maximum", "minimum", "fmax", "fmin")},
    **{n: (RuntimeError, f"{n}(): does not support complex input") for n in ("argmax", "argmin")},
    **{n: (NotImplementedError, f"{n} is not supported for complex inputs") for n in ("floor", "ceil", "trunc")},
    "argsort": (RuntimeError, " Sort does not support complex dtypes on CPU"),  # (torch's leading space)
    "isin": (RuntimeError, "Unsupported input type encountered for isin(): {dtype}"),
    "heaviside": (RuntimeError, "heaviside is not yet implemented for complex tensors."),
    "signbit": (NotImplementedError, "signbit is not implemented for complex tensors."),
    "sign": (
        NotImplementedError,
        "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use torch.sgn instead.",
    ),
}
# the other ops' torch CPU kernel names, where not "<op>_cpu"
for _name, _kernel in (
    ("amax", "max_values_cpu"), ("amin", "min_values_cpu"), ("median", "median_cpu"), ("argmedian", "median_out"),
    ("argmode", "mode_cpu"), ("cummax_index", "cummax_cpu"), ("cummin_index", "cummin_cpu"),
    ("searchsorted", "searchsorted_out_cpu"), ("unique", "unique"), ("erf", "erf_vml_cpu"),
    ("erfc", "erfc_vml_cpu"), ("erfinv", "erfinv_vml_cpu"), ("lgamma", "lgamma_vml_cpu"), ("digamma", "digamma"),
    ("i0", "i0_vml_cpu"), ("polygamma", "polygamma"), ("trigamma", "trigamma"), ("gelu", "GeluKernelImpl"),
    ("gelu_grad", "GeluBackwardKernelImpl"), ("logsigmoid", "log_sigmoid_cpu"),
    ("binary_cross_entropy_with_logits", "log_sigmoid_cpu"), ("cross_entropy", "log_softmax_lastdim_kernel_impl"),
    ("round", "round_vml_cpu"), ("floor_divide", "div_floor_cpu"), ("trunc_divide", "div_trunc_cpu"),
):  # fmt: skip
    _REAL_ONLY_ERRORS[_name] = (NotImplementedError, f"\"{_kernel}\" not implemented for '{{dtype}}'")
_COMPLEX_SEEN = [False]  # set once the process first makes a complex array (``dtypes.note_complex``)


def _use_complex_checks() -> None:
    """The first complex array is being made: rebuild the real-only ops' kernels with their refusal."""
    if _COMPLEX_SEEN[0]:
        return
    _COMPLEX_SEEN[0] = True
    for name in _REAL_ONLY:
        opdef = _OPS.get(name)
        if opdef is not None:
            opdef._kernels.clear()


# the ops torch's CPU kernels run on float8 tensors (storage, movement, comparisons for equality); every
# other op raises NotImplementedError on a float8 input, as torch's "<kernel>" not implemented for 'Float8_...'
_FLOAT8_OK = frozenset(
    "abs all any as_strided astype cat clone conj diagonal eq expand getitem index_put index_select isnan isreal "
    "ne permute real reshape roll setitem stack to_device where".split()
)
_FLOAT8_KERNEL_NAMES = {
    "add": "add_stub", "sub": "sub_stub", "mul": "mul_cpu_reduced_float", "matmul": "dot",
    "relu": "clamp_min_scalar_cpu", "amax": "max_all", "amin": "min_all", "exp": "exp_vml_cpu", "sum": "sum_cpu",
    "mean": "sum_cpu", "isinf": "isinf", "isfinite": "isfinite", "masked_fill": "masked_fill", "neg": "neg_cpu",
    "flip": "flip_cpu", "tril": "tril",
}  # fmt: skip
_FLOAT8_SEEN = [False]


def _use_float8_checks() -> None:
    """The first float8 array is being made: rebuild the kernels with the float8 refusal."""
    if _FLOAT8_SEEN[0]:
        return
    _FLOAT8_SEEN[0] = True
    for opdef in _OPS.values():
        opdef._kernels.clear()


def _refusing_float8(kernel: Kernel, name: str) -> Kernel:
    """``kernel`` of op ``name``, raising torch's NotImplementedError for a float8 array input (and for abs
    of float8_e8m0fnu, which has no sign)."""
    allowed_e8m0 = name != "abs"

    def run(*args: Any, **attrs: Any) -> Any:
        for a in args:
            d = getattr(a, "dtype", None)
            if d is not None and dtypes.is_float8(d):
                if name in _FLOAT8_OK and (allowed_e8m0 or d.name != "float8_e8m0fnu"):
                    continue
                kernel_name = _FLOAT8_KERNEL_NAMES.get(name, f"{name}_cpu")
                raise NotImplementedError(f"\"{kernel_name}\" not implemented for '{dtypes.scalar_type_name(d)}'")
        return kernel(*args, **attrs)

    return run


def _torch_complex_name(dtype: Any) -> str:
    return "ComplexDouble" if getattr(dtype, "itemsize", 8) == 16 else "ComplexFloat"


def complex_error(name: str, dtype: Any) -> Exception:
    """The exception torch raises for real-only op ``name`` (a ``_REAL_ONLY`` op, or a message) on complex input."""
    exc, message = _REAL_ONLY_ERRORS.get(name) or (
        NotImplementedError,
        f"\"{name}_cpu\" not implemented for '{{dtype}}'",
    )
    return exc(message.format(dtype=_torch_complex_name(dtype)))


def _complex_dtype(args: Any) -> Any:
    """The dtype of the first complex array (or Python complex) among ``args``, else None."""
    for a in args:
        d = getattr(a, "dtype", None)
        if d is not None:
            if d.kind == "c":
                return d
        elif a.__class__ is complex:
            return np.dtype(np.complex64)
    return None


def _refusing_complex(kernel: Kernel, name: str) -> Kernel:
    """``kernel`` of the real-only op ``name``, raising torch's error for a complex input."""

    def run(*args: Any, **attrs: Any) -> Any:
        d = _complex_dtype(args)
        if d is not None:
            if name == "polygamma":  # torch's kernel by order: digamma, trigamma, polygamma
                raise complex_error({0: "digamma", 1: "trigamma"}.get(attrs.get("n", 0), "polygamma"), d)
            raise complex_error(name, d)
        return kernel(*args, **attrs)

    return run


def refuse_complex(exc: type[Exception], message: str, *xs: Any) -> None:
    """For a function that is not one registered op: raise ``exc(message)`` (``{dtype}`` there becomes torch's
    name of the dtype) when one of ``xs`` (Tensors, arrays) is complex. Free until a complex array exists."""
    if _COMPLEX_SEEN[0]:
        d = _complex_dtype(xs)
        if d is not None:
            raise exc(message.format(dtype=_torch_complex_name(d)))


# Set once the process first meets bfloat16 or float16 (``dtypes.note_bfloat16`` / ``note_float16``): until
# then no kernel is wrapped, so programs that never use a half dtype pay nothing per op for its float32
# path (a Python frame and a dtype scan on every wrapped forward and backward rule); from then on every
# op's kernels are rebuilt wrapped, in all backends.
#
# float16 takes the same path as bfloat16: NumPy's float16 ufunc loops compute each element in float32
# and round once (as torch's CPU kernels), but its multi-step kernels (softmax, norms, GELU, ...) would
# round every intermediate to float16, where torch computes them in float32 ("opmath") and rounds once;
# its sums would accumulate in float16. Only NumPy arrays (the CPU) take the path.
_BF16_SEEN = [False]  # (the name predates float16: "a half dtype has been seen")
_BF16: Any = None  # bfloat16's dtype, once seen (dtypes.bfloat16 imports ml_dtypes: not before it is needed)
_F16: Any = None  # float16's dtype, once seen

# torch's CPU mul and div read a Python scalar or 0-d float32/float64 operand of a float16/bfloat16 tensor
# in float32 (``original_scalar_value<opmath_t>``) and round the float32 result once: ``x * 2.0**20`` of
# ``x = 2**-10`` is 1024, where NumPy would round the scalar to float16 first (inf); ``x * sqrt(0.5)`` of a
# bfloat16 ``x`` is not ``x * bfloat16(sqrt(0.5))``.
_SCALAR_IN_FLOAT32 = frozenset(("mul", "div"))

# Forward kernels that take half inputs themselves, rounding where torch's kernel rounds (log_softmax:
# torch rounds max + log(sum(exp)) to the half dtype before subtracting it; logit: torch's kernel evaluates
# log(x / (1 - x)) step by step in the half dtype, where NumPy's/ml_dtypes' half steps give its values;
# histc: torch bins (x - min) * bins / (max - min) in the half dtype too; cross_entropy, nll_sum: torch's
# nll_loss sums the rows' losses in the half dtype; cumsum and cumprod: accumulate in float32, round each once).
_OWN_HALF_PATH = frozenset(
    ("cross_entropy", "cumprod", "cumsum", "histc", "log_softmax", "logit", "nll_sum", "scatter_reduce")
)

# The backward rules that also read their saved half arrays in float32: torch's backward for these is one
# fused kernel computing in float32 (tanh_backward, softmax_backward_data, gelu_backward, the matmuls, ...).
# The other rules follow torch's derivative formulas, which torch evaluates op by op, rounding each to the
# half dtype (atan's ``grad / (x * x + 1)`` overflows for |x| > 256 in float16): they get only the
# gradient in float32, their saved arrays stay half, and their products round as torch's.
_SAVED_IN_FLOAT32 = frozenset(
    "binary_cross_entropy_with_logits col2im cross_entropy cumsum einsum elu gelu gelu_grad hardsigmoid hardswish "
    "im2col leaky_relu linear log_softmax logit logsigmoid matmul mish sigmoid silu softmax softmax_of "
    "softplus tanh threshold".split()
)


def _use_bfloat16_kernels() -> None:
    """The first bfloat16 array is being made: rebuild every op's kernels with the float32 path."""
    global _BF16
    if _BF16 is not None:
        return
    _BF16 = dtypes.bfloat16
    _rewrap()


def _use_float16_kernels() -> None:
    """The first float16 array is being made: rebuild every op's kernels with the float32 path."""
    global _F16
    if _F16 is not None:
        return
    _F16 = dtypes.float16
    _rewrap()


def _rewrap() -> None:
    _BF16_SEEN[0] = True
    for opdef in _OPS.values():
        opdef._kernels.clear()  # (a running profiler's wrappers go too: it then leaves the caches empty)
        opdef._bkernels.clear()


def _half(args: Any) -> Any:
    """The half dtype (bfloat16 or float16) of the first NumPy array among ``args`` that has one, else None."""
    for a in args:
        if a.__class__ is np.ndarray:
            d = a.dtype
            if d is _BF16 or d is _F16:
                return d
    return None


def _float32_for_bf16(kernel: Kernel) -> Kernel:
    """``kernel`` that runs bfloat16/float16 array inputs in float32 and rounds its float32 output to
    that dtype."""

    def run(*args: Any, **attrs: Any) -> Any:
        h = _half(args)
        if h is None:
            return kernel(*args, **attrs)
        args = tuple(_up(a) for a in args)
        out = kernel(*args, **attrs)
        if isinstance(out, tuple):  # (y, aux): the aux stays float32 for the backward rule
            return (_down(out[0], h), *out[1:])
        return _down(out, h)

    return run


def _float32_scalar_for_f16(kernel: Kernel) -> Kernel:
    """A binary ufunc (add, sub, mul, div) that computes ``float16/bfloat16 array (op) scalar`` in float32,
    the scalar (a Python number or a 0-d float32/float64 array) read in float32, and rounds once."""

    def run(a: Any, b: Any, *rest: Any, **kw: Any) -> Any:
        # (any array type: a CuPy float16 array would round the scalar to float16 as NumPy does, where
        # torch's CUDA kernels read it in float32 too; np.float32(scalar) is a host number, no read-back)
        d = getattr(a, "dtype", None)
        if d is not None and (d is _F16 or d is _BF16) and a.__class__ is not d.type:
            if _scalar(b):
                return kernel(a.astype(np.float32), np.float32(b), *rest, **kw).astype(d)
        else:
            d = getattr(b, "dtype", None)
            if d is not None and (d is _F16 or d is _BF16) and b.__class__ is not d.type and _scalar(a):
                return kernel(np.float32(a), b.astype(np.float32), *rest, **kw).astype(d)
        return kernel(a, b, *rest, **kw)

    return run


def _where_keeping_bf16(kernel: Kernel) -> Kernel:
    """NumPy's ``where(cond, 0.0, x)`` of a bfloat16 ``x`` gives float32 (a Python scalar before an ml_dtypes
    array; ``where(cond, x, 0.0)`` keeps bfloat16): the result keeps the bfloat16 operand's dtype, as torch's."""

    def run(cond: Any, a: Any, b: Any) -> Any:
        out = kernel(cond, a, b)
        if out.dtype is not _BF16 and (getattr(a, "dtype", None) is _BF16 or getattr(b, "dtype", None) is _BF16):
            if a.__class__ is not np.ndarray or b.__class__ is not np.ndarray:  # (one operand a Python scalar)
                return out.astype(_BF16)
        return out

    return run


def _scalar(x: Any) -> bool:
    """A Python int or float, or a 0-d floating NumPy array."""
    c = x.__class__
    return c is float or c is int or (c is np.ndarray and x.ndim == 0 and x.dtype.kind == "f")


class _Float32Ctx:
    """A backward rule's ``Ctx`` whose saved half-dtype arrays read as float32 (the rule then computes
    in float32 throughout; the engine rounds each gradient once)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    @property
    def saved(self) -> tuple[Any, ...]:
        return tuple([_up(a) for a in self._ctx.saved])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def _float32_for_bf16_rule(rule: Kernel, saved: bool = False) -> Kernel:
    """A backward rule that gets a bfloat16/float16 gradient in float32, and with ``saved`` its saved
    arrays too (see ``_SAVED_IN_FLOAT32``; the engine rounds its results)."""

    def run(ctx: Any, gy: Any) -> Any:
        if gy.__class__ is np.ndarray and (gy.dtype is _BF16 or gy.dtype is _F16):
            return rule(_Float32Ctx(ctx) if saved else ctx, gy.astype(np.float32))
        return rule(ctx, gy)

    return run


def _up(a: Any) -> Any:
    if a.__class__ is np.ndarray:
        d = a.dtype
        if d is _BF16 or d is _F16:
            return a.astype(np.float32)
    return a


def _down(y: Any, h: Any) -> Any:
    return y.astype(h) if getattr(y, "dtype", None) == np.float32 else y


_OPS: dict[str, OpDef] = {}


def op(name: str, **options: Any) -> Callable[[Kernel], OpDef]:
    """Decorator registering a forward kernel as op ``name``; ``options`` are ``OpDef``'s
    keywords (``save_inputs``, ``save_output``, ``aux``, ``check``, ...). Returns the ``OpDef``."""

    def register(forward: Kernel) -> OpDef:
        if name in _OPS:
            raise ValueError(f"op {name!r} is already registered")
        _OPS[name] = opdef = OpDef(name, forward, **options)
        return opdef

    return register


def ufunc_op(name: str, ufunc: str, doc: str, **options: Any) -> OpDef:
    """Register op ``name`` whose forward is the namespace function ``xp.<ufunc>`` itself.

    No Python body runs per call (the registry hands out ``xp.<ufunc>``); the generic kernel below
    exists only for overrides that defer with ``NotImplemented``.
    """

    def forward(xp: Any, *args: Any) -> Any:
        return getattr(xp, ufunc)(*args)

    forward.__name__ = name
    forward.__doc__ = doc
    forward.__module__ = sys._getframe(1).f_globals["__name__"]  # the ops module declaring it, not this one
    return op(name, ufunc=ufunc, **options)(forward)


#: kernel keys a backend may override that are not ops (the optimizers' fused updates)
EXTRA_KERNELS: dict[str, str] = {
    "optim.sgd_momentum": "SGD with momentum: buf = mu buf + (1 - dampening) g; p -= lr buf, in place",
    "optim.adam": "Adam's moment updates and parameter step, in place",
}

_VALID: dict[str, dict[str, Kernel]] = {}


def backend_overrides(backend: Backend) -> dict[str, Kernel]:
    """``backend.overrides()``, validated once: every key must name an op (``"op"`` or
    ``"op.backward"``) or an ``EXTRA_KERNELS`` entry, so a typo fails loudly instead of silently
    leaving the generic kernel in place."""
    table = _VALID.get(backend.name)
    if table is None:
        table = dict(backend.overrides())
        unknown = []
        for key in table:
            base = key[: -len(".backward")] if key.endswith(".backward") else key
            if base not in _OPS and key not in EXTRA_KERNELS:
                unknown.append(key)
        if unknown:
            raise ValueError(
                f"backend {backend.name!r} overrides unknown kernel(s) {sorted(unknown)}: keys must be a "
                f"registered op name, '<op>.backward', or one of {sorted(EXTRA_KERNELS)}"
            )
        _VALID[backend.name] = table
    return table


def get(name: str) -> OpDef:
    """The op registered as ``name``."""
    try:
        return _OPS[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; registered ops: {', '.join(sorted(_OPS))}") from None


def list_ops() -> list[str]:
    """Names of every registered op, sorted."""
    return sorted(_OPS)


def overrides() -> dict[str, list[str]]:
    """For each registered backend name, the op kernels it overrides (sorted)."""
    table: dict[str, list[str]] = {}
    for backend in registered_backends().values():
        if not backend.is_available():  # its library may be missing: nothing usable here
            names: dict[str, Kernel] = {}
        else:
            names = backend_overrides(backend)
        table[backend.name] = sorted(names)
    return table


def clear_kernel_cache() -> None:
    """Forget cached kernel choices (after registering or replacing a backend)."""
    _VALID.clear()
    for opdef in _OPS.values():
        opdef._kernels.clear()
        opdef._bkernels.clear()


dtypes.on_first_bfloat16(_use_bfloat16_kernels)
dtypes.on_first_float16(_use_float16_kernels)
dtypes.on_first_complex(_use_complex_checks)
dtypes.on_first_float8(_use_float8_checks)
