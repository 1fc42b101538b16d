"""A fuzzer of wrong arguments across the public API, run under torch and under backprop: for every public function
of ``torch``, ``nn.functional``, ``linalg``, ``special`` and ``fft`` that backprop also has, and for the Tensor
methods, a call torch accepts is found among a few templates, then broken four ways -- (a) a list, float, None or
string where its first tensor goes, (b) an unknown keyword, (c) no arguments, (d) an integer tensor where floats
go -- and the exception *class* is compared with torch's (code written for torch catches ``TypeError`` and
``RuntimeError``). Where torch's text is its argument parser's ``must be Tensor, not list``, ours must name the
function too. ``python -m tests.test_parity_arg_errors`` prints every disagreement."""

from __future__ import annotations

import builtins
import contextlib
import io
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - the tests below skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the fuzzer compares against it")

NAMESPACES: dict[str, Callable[[Any], Any]] = {
    "torch": lambda L: L,
    "nn.functional": lambda L: L.nn.functional,
    "linalg": lambda L: L.linalg,
    "special": lambda L: L.special,
    "fft": lambda L: L.fft,
}
# global state, files, compilation, or calls whose success path differs on purpose: not fuzzed
SKIP = set(
    """compile load save seed manual_seed initial_seed set_rng_state get_rng_state use_deterministic_algorithms
    set_printoptions set_default_device set_default_dtype set_default_tensor_type set_num_threads
    set_num_interop_threads set_flush_denormal set_warn_always set_anomaly_enabled set_deterministic_debug_mode
    set_float32_matmul_precision set_autocast_enabled set_autocast_cpu_enabled set_autocast_gpu_dtype
    set_autocast_cpu_dtype set_autocast_dtype set_autocast_cache_enabled clear_autocast_cache vmap cond
    while_loop export from_file from_numpy frombuffer from_dlpack asarray as_tensor tensor empty_strided
    is_tensor is_storage typename is_nonzero numel get_default_dtype get_device_module""".split()
)
SKIP_METHODS = set(
    """register_hook register_post_accumulate_grad_hook backward share_memory_ storage untyped_storage
    tolist numpy item data_ptr set_ resize_ resize_as_ record_stream pin_memory cuda cpu to new_tensor
    apply_ map_ map2_ __reduce_ex__ storage_offset""".split()
)
BAD_VALUES: tuple[Any, ...] = ([1.0, 2.0], 2.5, None, "a")
# disagreements left (README, "Wrong argument types"), by function: what we do instead
KNOWN: dict[str, str] = {
    # torch's Python-level function leaks AttributeError; ours is one object with torch.X (native: TypeError)
    "nn.functional.group_norm": "TypeError", "nn.functional.sigmoid": "TypeError", "torch.norm": "TypeError",
    "torch.pca_lowrank": "TypeError", "torch.tensordot": "TypeError",
    # predicates and no-op views that do not read their input's data: they take anything
    "torch.is_conj": "succeeds", "torch.is_neg": "succeeds", "torch.is_inference": "succeeds",
    "torch.is_distributed": "succeeds", "torch.resolve_conj": "succeeds", "torch.resolve_neg": "succeeds",
    "torch.isposinf": "succeeds", "torch.isneginf": "succeeds", "torch.isin": "succeeds",
    "torch.chain_matmul": "succeeds", "nn.functional.alpha_dropout": "succeeds",
    "nn.functional.feature_alpha_dropout": "succeeds",
    # sizes optional where torch requires them; other refusals of other classes
    "Tensor.new_empty": "succeeds", "Tensor.new_ones": "succeeds", "Tensor.new_zeros": "succeeds",
    "Tensor.sum_to_size": "succeeds", "Tensor.tile": "succeeds", "torch.histogramdd": "RuntimeError",
    "Tensor.clamp_min": "RuntimeError", "Tensor.clamp_min_": "RuntimeError", "Tensor.clamp_max": "RuntimeError",
    "Tensor.clamp_max_": "RuntimeError", "Tensor.ldexp": "AttributeError",
    "nn.functional.hinge_embedding_loss": "AttributeError", "torch.hinge_embedding_loss": "AttributeError",
}  # fmt: skip


def _inputs(L: Any) -> Iterator[tuple[Any, ...]]:
    """Candidate argument lists: a 4x4 matrix and a (2, 3, 8) batch, alone, twice, with an int, thrice."""
    rng = np.random.default_rng(0)
    for shape in ((4, 4), (2, 3, 8)):
        a = rng.random(shape) + 0.5
        x = L.tensor(a, dtype=L.float32)
        for rest in ((), (x,), (1,), (0,), (x, x)):
            yield (x, *rest)


def _as_int(L: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(L.ones(a.shape, dtype=L.int64) if isinstance(a, L.Tensor) else a for a in args)


def _call(fn: Callable[[], Any]) -> BaseException | None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return e
    return None


def _builtin_class(e: BaseException) -> type[BaseException]:
    """The nearest builtin class of torch's exception (its own classes derive from RuntimeError and the like)."""
    return next(c for c in type(e).__mro__ if c.__module__ == "builtins")


def _template_call(L: Any, name: str, get: Callable[[Any], Any], method: bool, args: tuple[Any, ...]) -> Any:
    if method:
        return lambda: getattr(args[0], name)(*args[1:])
    return lambda: get(L)(*args)


def _template(name: str, get: Callable[[Any], Any], method: bool) -> int | None:
    """The index in ``_inputs`` of the first argument list that both torch and backprop accept (None: none)."""
    for i, (targs, bargs) in enumerate(zip(_inputs(torch), _inputs(bp))):
        if _call(_template_call(torch, name, get, method, targs)) is None:
            return i if _call(_template_call(bp, name, get, method, bargs)) is None else None
    return None


def _cases(L: Any, name: str, get: Callable[[Any], Any], method: bool, index: int) -> dict[str, Callable[[], Any]]:
    """The broken calls of ``name``'s template ``index`` under library ``L``."""
    args = list(_inputs(L))[index]
    if method:
        fn = getattr(args[0], name)
        head, rest = (args[0],), args[1:]
        cases: dict[str, Callable[[], Any]] = {
            "kwarg": lambda: fn(*rest, not_an_argument=1),
            "int": lambda: getattr(_as_int(L, args)[0], name)(*_as_int(L, rest)),
        }
        if rest:
            cases["missing"] = lambda: getattr(_as_int(L, head)[0].float(), name)()
        where = next((i for i, a in enumerate(rest) if isinstance(a, L.Tensor)), None)
        if where is not None:
            for bad in BAD_VALUES:
                broken = (*rest[:where], bad, *rest[where + 1 :])
                cases[f"bad {type(bad).__name__}"] = lambda broken=broken: fn(*broken)
        return cases
    f = get(L)
    cases = {
        "kwarg": lambda: f(*args, not_an_argument=1),
        "missing": lambda: f(),
        "int": lambda: f(*_as_int(L, args)),
    }
    for bad in BAD_VALUES:
        cases[f"bad {type(bad).__name__}"] = lambda bad=bad: f(bad, *args[1:])
    return cases


def _tolerated(case: str, theirs: BaseException, ours: BaseException | None) -> bool:
    """The two differences kept on purpose (README, "Wrong argument types"): a list or a Python float where torch
    wants a tensor operand is made a tensor (then it works, or the shapes do not broadcast: ValueError); an op
    torch has no integer kernel for raises our RuntimeError where torch's is its subclass NotImplementedError."""
    if case in ("bad list", "bad float") and (ours is None or isinstance(ours, ValueError)):
        return True
    return isinstance(theirs, NotImplementedError) and isinstance(ours, RuntimeError)


def _names_it(name: str, text: str) -> bool:
    """Our text names the function, or is the argument parser's (an alias may give its target's name)."""
    return name.rstrip("_") in text or "must be Tensor" in text


def _names(space: str) -> list[str]:
    if space == "Tensor":
        return sorted(
            n
            for n in dir(torch.Tensor)
            if not n.startswith("_") and n not in SKIP_METHODS and hasattr(bp.Tensor, n)
            if callable(getattr(torch.Tensor, n)) and callable(getattr(bp.Tensor, n))
        )
    t, b = NAMESPACES[space](torch), NAMESPACES[space](bp)
    return sorted(
        n
        for n in dir(t)
        if not n.startswith("_") and n not in SKIP and hasattr(b, n)
        if callable(getattr(t, n)) and not isinstance(getattr(t, n), type) and callable(getattr(b, n))
        if not isinstance(getattr(b, n), type)
    )


def fuzz(space: str) -> list[str]:
    """Every disagreement of ``space`` (a key of NAMESPACES, or "Tensor"): one line each."""
    method = space == "Tensor"
    found: list[str] = []
    for name in _names(space):
        get = (lambda L, name=name: getattr(NAMESPACES[space](L), name)) if not method else (lambda L: None)
        bp.manual_seed(0)
        torch.manual_seed(0)
        index = _template(name, get, method)
        if index is None:
            continue
        theirs = _cases(torch, name, get, method, index)
        ours = _cases(bp, name, get, method, index)
        for case in theirs:
            if f"{space}.{name}" in KNOWN:
                continue
            t_exc = _call(theirs[case])
            if t_exc is None:
                continue  # torch accepts it: leniency is not what this fuzzer checks
            b_exc = _call(ours[case])
            want = _builtin_class(t_exc)
            if _tolerated(case, t_exc, b_exc):
                continue
            if b_exc is None:
                if case != "int":  # (an int tensor we take where torch refuses: a wider dtype support)
                    found.append(f"{space}.{name} [{case}]: torch {want.__name__}, backprop succeeds")
            elif not isinstance(b_exc, want):
                found.append(
                    f"{space}.{name} [{case}]: torch {want.__name__}, backprop {type(b_exc).__name__}: "
                    f"{str(b_exc)[:100]!r}"
                )
            elif case.startswith("bad") and "must be Tensor" in str(t_exc) and not _names_it(name, str(b_exc)):
                found.append(f"{space}.{name} [{case}]: message: {str(b_exc)[:100]!r} does not name the function")
    return found


@needs_torch
@pytest.mark.parametrize("space", [*NAMESPACES, "Tensor"])
def test_wrong_arguments_raise_torchs_exception_class(space: str) -> None:
    found = [line for line in fuzz(space) if ": message: " not in line]  # (the texts: a report, not a failure)
    assert not found, f"{len(found)} disagreements:\n" + "\n".join(found)


@needs_torch
def test_the_fuzzer_sees_a_wrong_class() -> None:
    """The comparison can fail: an AttributeError where torch raises TypeError is reported."""
    assert not isinstance(AttributeError("x"), _builtin_class(TypeError("x")))
    assert _builtin_class(torch.linalg.LinAlgError("x")) is RuntimeError


@needs_torch
@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda v: type(v).__name__)
def test_argument_parser_message(bad: Any) -> None:
    """torch's text for a non-tensor input: the function, the argument's name and position, the type given."""
    with pytest.raises(TypeError) as theirs:
        torch.nn.functional.relu(bad)
    with pytest.raises(TypeError) as ours:
        bp.nn.functional.relu(bad)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError) as theirs:
        torch.flatten(bad)
    with pytest.raises(TypeError) as ours:
        bp.flatten(bad)
    assert str(ours.value) == str(theirs.value)


if __name__ == "__main__":  # pragma: no cover - a report for a person
    total = 0
    for space in sys.argv[1:] or [*NAMESPACES, "Tensor"]:
        lines = fuzz(space)
        total += len(lines)
        builtins.print("\n".join(lines))
    builtins.print(f"{total} disagreements")
