"""torch's ``out=`` keyword for the top-level functions (``bp.add(a, b, out=c)``, ``bp.sort(x, out=(v, i))``,
``bp.zeros(2, 3, out=t)``), and for those of ``bp.linalg``, ``bp.special`` and ``bp.fft``.

One wrapper (``with_out``) is put around each function listed in ``OUT_FUNCTIONS`` when the package is
imported (``install``). Without ``out`` the call goes straight through (one keyword default and one ``is None``
test). With ``out`` the result is computed as without it, then written into ``out``'s own memory, as torch:

* autograd: in grad mode, an input or ``out`` that requires grad raises RuntimeError (functions with ``out=``
  are not differentiable);
* dtype, by the function's policy, checked against torch 2.13: most functions cast the result into ``out``'s
  dtype where ``can_cast`` allows it (float into an int ``out`` is refused); ``_EXACT`` ones need ``out`` of the
  result's dtype; ``_ANY`` ones take any dtype; the creation functions (``_FACTORY``) and ``sum``-like
  reductions (``_DTYPE_FROM_OUT``) compute in ``out``'s dtype (an explicit ``dtype=`` must then match);
* shape: an ``out`` of another shape is resized (with torch's UserWarning unless it had no elements);
* device: ``out`` on another device raises;
* in place: ``out`` keeps its identity, its version counter moves on, a view writes through to its base;
  a function returning several tensors takes a tuple ``out=(a, b)`` and returns its named tuple of them.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any, cast

from backprop import dtypes
from backprop.autograd import trace
from backprop.autograd.function import not_a_tensor
from backprop.autograd.grad_mode import state, trace_users
from backprop.methods.structseqs import OUT_TYPES
from backprop.tensor import Tensor, tensor_like_seen

# torch's ScalarType names (its cast errors) and its C++ type names (its "expected dtype" errors)
_SCALAR_NAMES = {
    "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
    "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "uint16": "UInt16", "uint32": "UInt32",
    "uint64": "UInt64", "bool": "Bool", "complex64": "ComplexFloat", "complex128": "ComplexDouble",
}  # fmt: skip

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

CAST, EXACT, ANY, FACTORY, DTYPE_FROM_OUT = "cast", "exact", "any", "factory", "dtype_from_out"

# the functions that take out=, by torch's dtype rule for it (found by trying each against torch 2.13);
# the rest of OUT_FUNCTIONS casts (CAST)
_EXACT = set(
    """abs ceil fix floor frac neg negative round sgn sign trunc nan_to_num conj_physical msort special.round
    heaviside ldexp clamp clip clamp_min clamp_max where matmul mm bmm mv dot vdot inner addmm addmv addbmm
    baddbmm chain_matmul tensordot cross matrix_power amax amin logcumsumexp norm quantile nanquantile softmax
    log_softmax diag tril triu gather index_select index_add index_copy scatter scatter_add masked_select
    take_along_dim narrow_copy histc renorm inverse lu_solve linalg.cholesky linalg.cross linalg.det
    linalg.eigvalsh linalg.inv linalg.lu_solve linalg.matrix_norm linalg.matrix_power linalg.multi_dot
    linalg.norm linalg.solve linalg.solve_triangular linalg.svdvals linalg.vecdot linalg.vector_norm aminmax
    histogram qr triangular_solve linalg.eigh linalg.qr linalg.slogdet lu_unpack svd linalg.lu linalg.svd frexp
    linalg.cholesky_ex linalg.inv_ex linalg.lu_factor linalg.solve_ex linalg.lu_factor_ex max min median
    nanmedian mode kthvalue sort topk cummax cummin float_power bitwise_not argmax argmin nonzero searchsorted
    bucketize multinomial signbit isneginf isposinf all any isin complex polar fft.ifft fft.ihfft""".split()
)
_ANY = {"bernoulli", "lu"}
_FACTORY = set(
    """zeros ones empty full arange range linspace logspace eye rand randn randint randperm normal fft.fftfreq
    fft.rfftfreq""".split()
)
_DTYPE_FROM_OUT = {"sum", "prod", "cumsum", "cumprod", "nansum"}

OUT_FUNCTIONS: tuple[str, ...] = tuple(
    sorted(
        _EXACT
        | _ANY
        | _FACTORY
        | _DTYPE_FROM_OUT
        | set(
            """acos asin atan asinh atanh acosh cos cosh deg2rad digamma erf erfc erfinv exp exp2 expm1 i0 lgamma log
            log10 log1p log2 logit rad2deg reciprocal rsqrt sigmoid sin sinc sinh sqrt square tan tanh angle add sub
            subtract mul multiply div divide atan2 copysign fmax fmin fmod floor_divide hypot igamma igammac
            logaddexp logaddexp2 maximum minimum nextafter pow remainder xlogy polygamma mvlgamma addcdiv addcmul
            lerp outer ger kron addr mean nanmean std var logsumexp cat concat concatenate stack hstack vstack
            row_stack dstack column_stack diff cholesky cholesky_inverse cholesky_solve eq ne lt le gt ge less
            less_equal greater greater_equal not_equal logical_and logical_or logical_xor logical_not bitwise_and
            bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift gcd lcm
            special.airy_ai special.bessel_j0 special.bessel_j1 special.bessel_y0 special.bessel_y1
            special.digamma special.entr special.erf special.erfc special.erfcx special.erfinv special.exp2
            special.expit special.expm1 special.gammaln special.i0 special.i0e special.i1 special.i1e special.log1p
            special.log_ndtr special.logit special.modified_bessel_i0 special.modified_bessel_i1
            special.modified_bessel_k0 special.modified_bessel_k1 special.ndtr special.ndtri special.psi
            special.scaled_modified_bessel_k0 special.scaled_modified_bessel_k1 special.sinc
            special.spherical_bessel_j0 special.xlog1py special.xlogy special.zeta special.gammainc
            special.gammaincc special.chebyshev_polynomial_t special.chebyshev_polynomial_u
            special.chebyshev_polynomial_v special.chebyshev_polynomial_w special.hermite_polynomial_h
            special.hermite_polynomial_he special.laguerre_polynomial_l special.legendre_polynomial_p
            special.shifted_chebyshev_polynomial_t special.shifted_chebyshev_polynomial_u
            special.shifted_chebyshev_polynomial_v special.shifted_chebyshev_polynomial_w special.polygamma
            special.multigammaln special.logsumexp linalg.eigvals linalg.eig linalg.cond
            linalg.householder_product linalg.pinv linalg.tensorinv linalg.tensorsolve linalg.matrix_rank fft.fft
            fft.fft2 fft.fftn fft.ifft2 fft.ifftn fft.rfft fft.rfft2 fft.rfftn fft.irfft fft.irfft2 fft.irfftn
            fft.hfft""".split()
        )
    )
)


def policy(name: str) -> str:
    """The dtype rule of ``out=`` for the function ``name`` ("linalg.inv" for ``bp.linalg.inv``)."""
    if name in _EXACT:
        return EXACT
    if name in _ANY:
        return ANY
    if name in _FACTORY:
        return FACTORY
    if name in _DTYPE_FROM_OUT:
        return DTYPE_FROM_OUT
    return CAST


def _scalar_name(dt: Any) -> str:
    return _SCALAR_NAMES.get(str(dt), str(dt))


_cpp_name = dtypes.cpp_type_name


def _requires_grad(values: Iterable[Any]) -> bool:
    for v in values:
        if isinstance(v, Tensor):
            if v.requires_grad:
                return True
        elif isinstance(v, (list, tuple)) and any(isinstance(t, Tensor) and t.requires_grad for t in v):
            return True
    return False


def _resize(name: str, out: Tensor, shape: tuple[int, ...]) -> None:
    """``out`` takes ``shape`` (torch's resize of an out= argument: a warning unless it was empty)."""
    if trace_users[0] and (tr := trace.tracer()) is not None:
        tr.fail(f"{name}(out=...) resizes its out tensor inside the step")
    data = out._data
    if data.size:
        warnings.warn(
            f"An output with one or more elements was resized since it had shape {list(out.shape)}, which does "
            f"not match the required output shape {list(shape)}. This behavior is deprecated, and in a future "
            "PyTorch release outputs will not be resized unless they have zero elements. You can explicitly reuse "
            "an out tensor t by resizing it, inplace, to zero elements with t.resize_(0).",
            UserWarning,
            stacklevel=4,
        )
    if data.size == math.prod(shape) and data.flags.c_contiguous:
        out._data = data.reshape(shape)  # the same memory (a view out still writes through)
    else:
        out._data = out.device.xp.empty(shape, dtype=data.dtype)


def _write(name: str, rule: str, result: Any, out: Any) -> None:
    """``result`` into ``out``'s memory, by torch's rules for out= (``rule``: the function's dtype policy)."""
    if not isinstance(result, Tensor):  # (a function that returned a number or a list: nothing to write)
        raise TypeError(f"{name}(): out= is not supported for this call (it returns {type(result).__name__})")
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out.device != result.device:
        raise RuntimeError(
            f"Expected all tensors to be on the same device, but found at least two devices, {out.device} and "
            f"{result.device}! ({name}(): the out= tensor)"
        )
    have, want = out.dtype, result.dtype
    if have != want:
        if rule == EXACT or rule == DTYPE_FROM_OUT:
            raise RuntimeError(
                f"Expected out tensor to have dtype {_cpp_name(want)}, but got {_cpp_name(have)} instead"
            )
        if rule == CAST and not dtypes.can_cast(want, have):
            raise RuntimeError(
                f"result type {_scalar_name(want)} can't be cast to the desired output type {_scalar_name(have)}"
            )
    shape = tuple(result.shape)
    if tuple(out.shape) != shape:
        _resize(name, out, shape)
    out.copy_(result)


def _call_out(fn: Callable[..., Any], name: str, rule: str, takes_dtype: bool, args: Any, kwargs: Any, out: Any) -> Any:
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if state.enabled and (
        _requires_grad(args) or _requires_grad(kwargs.values()) or any(getattr(o, "requires_grad", False) for o in outs)
    ):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic differentiation, but one of the "
            "arguments requires grad."
        )
    first = outs[0]
    if (rule == FACTORY or rule == DTYPE_FROM_OUT) and isinstance(first, Tensor):
        given = kwargs.get("dtype")
        if given is not None:
            given = dtypes.to_dtype(given)
            if rule == FACTORY and given != first.dtype:
                raise RuntimeError(
                    f"dtype {_scalar_name(given)} does not match dtype of out parameter ({_scalar_name(first.dtype)})"
                )
        elif takes_dtype:
            kwargs = {**kwargs, "dtype": first.dtype}
        if rule == FACTORY and kwargs.get("device") is None and "device" in _parameters(fn):
            kwargs = {**kwargs, "device": first.device}
    result = fn(*args, **kwargs)
    if isinstance(result, Tensor):
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
        _write(name, rule, result, out)
        return out
    if not isinstance(result, tuple):
        raise TypeError(f"{name}(): out= is not supported for this call (it returns {type(result).__name__})")
    if not isinstance(out, (tuple, list)):
        raise TypeError(f"{name}(): argument 'out' must be tuple of Tensors, not {type(out).__name__}")
    if len(outs) != len(result):
        raise RuntimeError(f"{name}(): expected out= to be a tuple of {len(result)} tensors, got {len(outs)}")
    for r, o in zip(result, outs):
        _write(name, rule, r, o)
    if hasattr(result, "_fields"):  # an op's named tuple: torch's out= gives its ``<name>_out`` twin
        return OUT_TYPES.get(type(result), type(result))(*outs)
    return outs


@functools.cache
def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _with_out_signature(sig: inspect.Signature | None) -> inspect.Signature | None:
    """``sig`` with a keyword-only ``out=None`` (before a ``**kwargs``)."""
    if sig is None:
        return None
    params = list(sig.parameters.values())
    if "out" in sig.parameters:
        return sig
    at = len(params) - 1 if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD else len(params)
    params.insert(at, inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None))
    return sig.replace(parameters=params)


_COMPILED: dict[str, Any] = {}


def _forwarding_source(sig: inspect.Signature, defaults: dict[str, Any]) -> str | None:
    """The text of ``def _f(<sig's parameters>, *, out=None)`` that calls ``_fn`` with the same arguments when
    ``out`` is None (a Python-to-Python call with no tuple or dict to build: the cheapest pass-through),
    else ``_call(args, kwargs, out)``. None where a parameter's name is not an identifier we may use."""
    head: list[str] = []
    call: list[str] = []  # the plain call's arguments
    pos: list[str] = []  # the out= call's positional arguments, then its keyword ones
    kw: list[str] = []
    star = var_kw = None
    kinds = [p.kind for p in sig.parameters.values()]
    has_var_pos = inspect.Parameter.VAR_POSITIONAL in kinds
    slash_done = inspect.Parameter.POSITIONAL_ONLY not in kinds
    for i, p in enumerate(sig.parameters.values()):
        if not p.name.isidentifier() or p.name.startswith("_fwd_") or p.name == "out":
            return None
        if p.kind is not inspect.Parameter.POSITIONAL_ONLY and not slash_done:
            head.append("/")
            slash_done = True
        text = p.name
        if p.default is not inspect.Parameter.empty:
            key = f"_fwd_d{i}"
            defaults[key] = p.default
            text += f"={key}"
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            head.append(text)
            call.append(p.name)
            pos.append(p.name)
        elif p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            head.append(text)
            call.append(p.name)
            # before a *args: positional; else as a keyword (so that out= sees e.g. ``dtype`` by name)
            (pos if has_var_pos else kw).append(p.name if has_var_pos else f"{p.name!r}: {p.name}")
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            star = p.name
            head.append("*" + p.name)
            call.append("*" + p.name)
            pos.append("*" + p.name)
        elif p.kind is inspect.Parameter.KEYWORD_ONLY:
            if star is None:
                head.append("*")
                star = ""
            head.append(text)
            call.append(f"{p.name}={p.name}")
            kw.append(f"{p.name!r}: {p.name}")
        else:
            var_kw = p.name
    if not slash_done:
        head.append("/")
    if star is None:
        head.append("*")
    head.append("out=None")
    if var_kw is not None:
        head.append("**" + var_kw)
        call.append("**" + var_kw)
        kw.append("**" + var_kw)
    args = "(" + "".join(a + ", " for a in pos) + ")"
    kwargs = "{" + ", ".join(kw) + "}"
    named = [p.name for p in sig.parameters.values() if p.kind in _POSITIONAL]
    if has_var_pos:  # (the parameters before the *args)
        named = named[: [p.kind for p in sig.parameters.values()].index(inspect.Parameter.VAR_POSITIONAL)]
    values = "(" + "".join(n + ", " for n in named) + ")"
    return (  # (the try costs nothing until it catches: Python's exceptions are zero-cost)
        f"def _f({', '.join(head)}):\n"
        f"    if out is None:\n"
        f"        try:\n"
        f"            return _fwd_fn({', '.join(call)})\n"
        f"        except AttributeError as e:\n"
        f"            if _fwd_tensor_like({values}):\n"  # a tensor-like: __torch_function__ is now on, call again
        f"                return _fwd_again(_f, _fwd_sig, locals())\n"
        f"            _fwd_not_a_tensor(e, _fwd_name, {tuple(named)!r}, {values})\n"
        f"            raise\n"
        f"    return _fwd_call({args}, {kwargs}, out)\n"
    )


def _again(f: Callable[..., Any], sig: inspect.Signature, given: dict[str, Any]) -> Any:
    """``f`` called again with the arguments a forwarding wrapper received (``given``: its locals), leaving out
    the trailing defaults, as the caller most likely wrote it (what a ``__torch_function__`` handler sees)."""
    args: list[Any] = []
    pending: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in sig.parameters.values():
        value = given[p.name]
        default = p.default is not inspect.Parameter.empty and value is p.default
        if p.kind in _POSITIONAL:
            if default:
                pending.append(value)
            else:
                args += [*pending, value]
                pending = []
        elif p.kind is inspect.Parameter.KEYWORD_ONLY and not default:
            kwargs[p.name] = value
    return f(*args, **kwargs)


def with_out(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` taking torch's ``out=`` (see the module's docstring); ``name`` as in ``OUT_FUNCTIONS``."""
    rule = policy(name)
    short = name.rpartition(".")[2]

    def call(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
        return _call_out(fn, short, rule, takes_dtype, args, kwargs, out)

    wrapper: Any = None
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    takes_dtype = sig is not None and "dtype" in sig.parameters
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if sig is not None and not any(p.kind in variadic for p in sig.parameters.values()):
        # a fixed signature: a wrapper with the same parameters (no tuple or dict built on the way through);
        # with *args or **kwargs the generic wrapper below is cheaper (it forwards only what was given)
        namespace: dict[str, Any] = {
            "_fwd_fn": fn, "_fwd_call": call, "_fwd_name": short, "_fwd_not_a_tensor": not_a_tensor,
            "_fwd_tensor_like": tensor_like_seen, "_fwd_again": _again, "_fwd_sig": sig,
        }  # fmt: skip
        source = _forwarding_source(sig, namespace)
        if source is not None:
            code = _COMPILED.get(source)
            if code is None:  # (one compile per parameter list: the unary functions share one)
                code = _COMPILED[source] = compile(source, "<out= wrapper>", "exec")
            exec(code, namespace)  # noqa: S102 - our own text
            wrapper = namespace["_f"]
    if wrapper is None:  # *args or **kwargs, or no usable signature: the generic pass-through
        named = [p.name for p in sig.parameters.values() if p.kind in _POSITIONAL] if sig is not None else []

        def wrapper(*args: Any, out: Any = None, **kwargs: Any) -> Any:
            if out is None:
                try:
                    return fn(*args, **kwargs)
                except AttributeError as e:  # a number, list, None, ... where a Tensor goes: torch's TypeError
                    if tensor_like_seen(args):  # a tensor-like: __torch_function__ is now on, call again
                        return wrapper(*args, **kwargs)
                    not_a_tensor(e, short, named, args)
                    raise
            return call(args, kwargs, out)

    functools.update_wrapper(wrapper, fn)
    sig = _with_out_signature(sig)
    if sig is not None:
        wrapper.__signature__ = sig
    wrapper.__name__ = wrapper.__qualname__ = short
    wrapper.__wrapped_out__ = fn  # (install: never wrapped twice)
    return cast(Callable[..., Any], wrapper)


def install(namespace: dict[str, Any], submodules: dict[str, Any]) -> None:
    """Put ``with_out`` around every name of ``OUT_FUNCTIONS`` found in ``namespace`` (the package's globals)
    or in ``submodules`` (``{"linalg": module, ...}``). An alias keeps its identity (``bp.clip is bp.clamp``)
    where both names share a dtype rule."""
    made: dict[tuple[int, str], Callable[..., Any]] = {}
    for name in OUT_FUNCTIONS:
        prefix, _, short = name.rpartition(".")
        if prefix:
            module = submodules.get(prefix)
            if module is None:
                continue
            fn = getattr(module, short, None)
        else:
            fn = namespace.get(name)
        if fn is None or not callable(fn) or hasattr(fn, "__wrapped_out__") or "out" in _parameters(fn):
            continue
        key = (id(fn), policy(name))
        if key not in made:
            made[key] = with_out(fn, name)
        if prefix:
            setattr(submodules[prefix], short, made[key])
        else:
            namespace[name] = made[key]
