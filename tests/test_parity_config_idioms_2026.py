"""Device, config and AMP idioms of ordinary training scripts, run on a CPU-only machine beside torch 2.13:
which ops CPU autocast runs in the lower-precision dtype, grad/inference-mode nesting, ``torch.device``
construction and its errors, ``torch.compile``'s argument checks and the deprecation warnings of the
backend flags."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: these tests compare against it")

rng = np.random.default_rng(0)
A, B, V, IMG = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (3, 4), (3,), (1, 2, 4, 4)))


def _dtype(x: Any) -> str:
    return str(x.dtype).removeprefix("torch.")


def _both(fn: Callable[[Any, tuple], Any], arrays: tuple = (A, B, V, IMG)) -> tuple[Any, Any]:
    """``fn(lib, tensors)`` under ``lib.autocast("cpu", dtype=bfloat16)`` for torch and backprop alike."""
    out = []
    for lib in (torch, bp):
        ts = tuple(lib.tensor(a) for a in arrays)
        with lib.autocast("cpu", dtype=lib.bfloat16):
            out.append(fn(lib, ts))
    return out[0], out[1]


# ------------------------------------------------------------------------ CPU autocast: dtype per op
# ops that compute a product through matmul here but are not in torch's CPU lower-precision list (dot, mv, the
# 1-element contractions), or are listed under their own name (linalg.vecdot), and resampling built on GEMMs
AUTOCAST_OPS: dict[str, Callable[[Any, tuple], Any]] = {
    "dot": lambda L, t: L.dot(t[2], t[2]),
    "Tensor.dot": lambda L, t: t[2].dot(t[2]),
    "vdot": lambda L, t: L.vdot(t[2], t[2]),
    "mv": lambda L, t: L.mv(t[0], t[2]),
    "Tensor.mv": lambda L, t: t[0].mv(t[2]),
    "addmv": lambda L, t: L.addmv(t[0][:, 0], t[0], t[2]),
    "inner_1d": lambda L, t: L.inner(t[2], t[2]),
    "inner_2d": lambda L, t: L.inner(t[0], t[1].T),
    "tensordot_1d": lambda L, t: L.tensordot(t[2], t[2], 1),
    "tensordot_all": lambda L, t: L.tensordot(t[0], t[0], 2),
    "tensordot_mat_vec": lambda L, t: L.tensordot(t[0], t[2], 1),
    "matmul_vec_vec": lambda L, t: L.matmul(t[2], t[2]),
    "matmul_mat_vec": lambda L, t: t[0] @ t[2],
    "linalg.vecdot": lambda L, t: L.linalg.vecdot(t[0], t[0]),
    "mm": lambda L, t: L.mm(t[0], t[1]),
    "interpolate_bilinear": lambda L, t: L.nn.functional.interpolate(t[3], scale_factor=2, mode="bilinear"),
    "interpolate_bicubic": lambda L, t: L.nn.functional.interpolate(t[3], scale_factor=2, mode="bicubic"),
    "interpolate_linear": lambda L, t: L.nn.functional.interpolate(t[0][None], size=6, mode="linear"),
    "interpolate_trilinear": lambda L, t: L.nn.functional.interpolate(t[3][None], scale_factor=2, mode="trilinear"),
    "interpolate_nearest": lambda L, t: L.nn.functional.interpolate(t[3], scale_factor=2),
    "Upsample_bilinear": lambda L, t: L.nn.Upsample(scale_factor=2, mode="bilinear")(t[3]),
    "interpolate_bf16": lambda L, t: L.nn.functional.interpolate(t[3].bfloat16(), scale_factor=2, mode="bilinear"),
}


def test_cpu_autocast_output_dtypes_are_torchs() -> None:
    """Every row of the table (the listed ops and their unlisted neighbours together) in torch's dtype and values."""
    wrong = []
    for name, fn in AUTOCAST_OPS.items():
        t, b = _both(fn)
        if _dtype(b) != _dtype(t) or tuple(b.shape) != tuple(t.shape):
            wrong.append(f"{name}: {_dtype(b)} {tuple(b.shape)}, torch {_dtype(t)} {tuple(t.shape)}")
            continue
        tol = 3e-2 if _dtype(t) == "bfloat16" else 1e-5
        np.testing.assert_allclose(b.float().detach().numpy(), t.float().detach().numpy(), rtol=tol, atol=tol)
    assert not wrong, wrong


def test_cpu_autocast_addmv_runs_in_float32() -> None:
    """``torch.addmv`` under CPU autocast is float32 (neither addmv nor mv is listed); here the product used to run
    in bfloat16 and the sum then refused the float32 ``self``."""
    t, b = _both(lambda L, t: L.addmv(t[2][:2].clone(), L.ones(2, 3), t[2], beta=0.5, alpha=2.0), (A, B, V, IMG))
    assert _dtype(b) == _dtype(t) == "float32"
    np.testing.assert_allclose(b.numpy(), t.numpy(), rtol=1e-6)


def test_cpu_autocast_recurrences_run_in_torchs_dtypes() -> None:
    """torch's CPU LSTM is one oneDNN kernel in autocast's lower-precision list: output, h_n and c_n in bfloat16
    (with projections the default implementation: c_n stays float32); GRU and the cells LSTMCell/GRUCell stay
    float32, RNN and RNNCell are bfloat16 (their parts are linear)."""
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    cases = [("LSTM", kw) for kw in ({}, {"batch_first": True}, {"bidirectional": True}, {"num_layers": 2})]
    cases += [("LSTM", {"proj_size": 2}), ("GRU", {}), ("RNN", {}), ("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {})]
    for cls, kw in cases:
        got = []
        for lib in (torch, bp):
            lib.manual_seed(0)
            m = getattr(lib.nn, cls)(4, 3, **kw)
            with warnings.catch_warnings(), lib.autocast("cpu", dtype=lib.bfloat16):
                warnings.simplefilter("ignore")  # (torch: "LSTM with projections is not supported with oneDNN")
                r = m(lib.tensor(x if "Cell" not in cls else x[0]))
            got.append(list(bp.utils._pytree.tree_leaves(r) if lib is bp else torch.utils._pytree.tree_leaves(r)))
        assert [_dtype(b) for b in got[1]] == [_dtype(t) for t in got[0]], (cls, kw)
        for t, b in zip(*got):
            np.testing.assert_allclose(b.float().detach().numpy(), t.float().detach().numpy(), atol=5e-2)


def test_cpu_autocast_lstm_backward_reaches_float32_weights() -> None:
    bp.manual_seed(0)
    m = bp.nn.LSTM(4, 3)
    with bp.autocast("cpu"):
        out, (h, c) = m(bp.randn(5, 2, 4))
    assert out.dtype == h.dtype == c.dtype == bp.bfloat16
    out.float().sum().backward()
    assert m.weight_ih_l0.grad.dtype == bp.float32 and bool(bp.isfinite(m.weight_ih_l0.grad).all())


def test_dot_dtype_error_names_torchs_scalar_types() -> None:
    with pytest.raises(RuntimeError) as t:
        torch.dot(torch.ones(2, dtype=torch.bfloat16), torch.ones(2))
    with pytest.raises(RuntimeError) as b:
        bp.dot(bp.ones(2, dtype=bp.bfloat16), bp.ones(2))
    assert str(b.value) == str(t.value)


# ------------------------------------------------------------------------ inference_mode / grad mode nesting
def _modes(lib: Any) -> list[tuple[bool, bool]]:
    seen = []

    def note() -> None:
        seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))

    with lib.inference_mode():
        note()
        with lib.inference_mode(False):
            note()
            y = lib.ones(2, requires_grad=True) * 2
            seen.append((y.requires_grad, False))
        note()
    with lib.no_grad():
        with lib.inference_mode(False):
            note()
        note()
    with lib.inference_mode(mode=False):
        note()

    @lib.inference_mode(False)
    def inside() -> None:
        note()

    with lib.no_grad():
        inside()
    note()
    return seen


def test_inference_mode_false_records_again_as_torchs() -> None:
    """``with inference_mode(False):`` inside ``inference_mode()`` (or ``no_grad``) turns grad mode back on, as
    torch's ``InferenceMode(false)``; here it used to change nothing."""
    assert _modes(bp) == _modes(torch)


# ------------------------------------------------------------------------ torch.device construction and errors
def _outcome(lib: Any, fn: Callable[[Any], Any]) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fn(lib)
    except Exception as e:  # noqa: BLE001 - the class family and message are what is compared
        return ("RuntimeError" if isinstance(e, RuntimeError) else type(e).__name__, str(e))
    # (a device without an index carries index 0 here: a documented difference)
    return ("ok", f"{r.type}:{r.index or 0}" if isinstance(r, (torch.device, bp.Device)) else repr(r))


DEVICE_CASES: dict[str, Callable[[Any], Any]] = {
    "type= keyword": lambda L: L.device(type="cpu"),
    "type=, index=": lambda L: L.device(type="cuda", index=1),
    "mps is a name": lambda L: L.device("mps"),
    "xpu:1 is a name": lambda L: L.device("xpu:1"),
    "unknown type": lambda L: L.device("foo"),
    "upper case": lambda L: L.device("CPU"),
    "leading space": lambda L: L.device(" cpu"),
    "leading zero": lambda L: L.device("cuda:01"),
    "bad index": lambda L: L.device("cuda:x"),
    "negative index string": lambda L: L.device("cuda:-1"),
    "negative index": lambda L: L.device("cpu", -1),
    "index twice": lambda L: L.device("cuda:0", 1),
    "an int without an accelerator": lambda L: L.device(0),
}


def test_device_construction_as_torchs() -> None:
    if bp.cuda.is_available() or torch.cuda.is_available():
        pytest.skip("compares CPU-only machines: an int index names the accelerator where there is one")
    got = {k: _outcome(bp, f) for k, f in DEVICE_CASES.items()}
    want = {k: _outcome(torch, f) for k, f in DEVICE_CASES.items()}
    assert got == want


def test_device_named_but_unusable_says_why() -> None:
    mps = bp.device("mps")
    assert mps.type == "mps" and mps == bp.device("mps:0")
    assert not bp.backends.mps.is_available()
    with pytest.raises(RuntimeError, match="not linked with support for mps devices"):
        bp.ones(2).to(mps)


# ------------------------------------------------------------------------ torch.compile's argument checks
def _step(x: Any) -> Any:
    return x.sin() + 1


COMPILE_CASES: dict[str, Callable[[Any], Any]] = {
    "mode=reduce-overhead": lambda L: L.compile(_step, mode="reduce-overhead") is not None,
    "mode=max-autotune": lambda L: L.compile(_step, mode="max-autotune") is not None,
    "backend=eager": lambda L: L.compile(_step, backend="eager") is not None,
    "backend=aot_eager, fullgraph, dynamic": lambda L: (
        L.compile(_step, backend="aot_eager", fullgraph=True, dynamic=True) is not None
    ),
    "options": lambda L: L.compile(_step, options={"triton.cudagraphs": False}) is not None,
    "unknown mode": lambda L: L.compile(_step, mode="fastest"),
    "unknown mode, other backend": lambda L: L.compile(_step, backend="eager", mode="fastest") is not None,
    "unknown backend": lambda L: L.compile(_step, backend="nope"),
    "mode and options": lambda L: L.compile(_step, mode="default", options={"a": 1}),
    "not callable": lambda L: L.compile(3),
    "decorator, unknown backend": lambda L: L.compile(backend="nope")(_step),
    "disable": lambda L: L.compile(_step, disable=True) is _step,
}


def test_compile_checks_its_arguments_as_torchs() -> None:
    got = {k: _outcome(bp, f) for k, f in COMPILE_CASES.items()}
    want = {k: _outcome(torch, f) for k, f in COMPILE_CASES.items()}
    assert got == want


# ------------------------------------------------------------------------ recorded settings: warnings and errors
def _warned(lib: Any, fn: Callable[[Any], Any]) -> list[tuple[str, str]]:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn(lib)
    return [(x.category.__name__, str(x.message).split(" (Triggered")[0]) for x in w]


def test_float32_matmul_precision_unknown_name_warns_and_keeps_the_setting() -> None:
    def f(L: Any) -> None:
        L.set_float32_matmul_precision("low")

    assert _warned(bp, f) == _warned(torch, f)
    assert bp.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"


def test_sdp_kernel_is_deprecated_as_torchs() -> None:
    def f(L: Any) -> None:
        with L.backends.cuda.sdp_kernel(enable_flash=False):
            pass

    assert _warned(bp, f) == _warned(torch, f)
    assert bp.backends.cuda.flash_sdp_enabled()


@pytest.mark.parametrize("n", [0, 1.5])
def test_set_num_threads_errors_as_torchs(n: Any) -> None:
    with pytest.raises(RuntimeError) as t:
        torch.set_num_threads(n)
    with pytest.raises(RuntimeError) as b:
        bp.set_num_threads(n)
    assert str(b.value) == str(t.value)
