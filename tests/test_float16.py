"""float16 against torch on the CPU: torch computes most float16 ops in float32 ("opmath") and rounds once;
backprop's float16 kernels take the same float32 path (``registry._float32_for_bf16``, switched on by the
first float16 array). Each row: forward and the gradients of its float16 inputs within one float16 ulp of
torch's wherever they differ by more than torch's own float16 tolerance (rtol 1e-3, atol 1e-5)."""

from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is the reference, optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (reference values)")
F16 = np.float16


def _ulps_beyond_tolerance(ours, theirs):
    """The largest |ours - theirs| in float16 ulps of ``theirs`` among elements outside torch's float16
    tolerance; inf when the two disagree on which elements are finite (or on inf/NaN)."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert a.shape == b.shape
    fa, fb = np.isfinite(a), np.isfinite(b)
    if (fa != fb).any() or (np.isnan(a) != np.isnan(b)).any() or (~fa & ~np.isnan(a) & (a != b)).any():
        return np.inf
    a, b = a[fa], b[fa]
    if not a.size:
        return 0.0
    d = np.abs(a - b)
    d = np.where(d <= 1e-5 + 1e-3 * np.abs(b), 0.0, d)
    return float(np.max(d / np.spacing(np.abs(b).astype(F16)).astype(np.float64)))


def _data(kind, shape, rng):
    if kind == "pos":
        return rng.uniform(0.1, 4, shape).astype(F16)
    if kind == "p01":
        return rng.uniform(0.05, 0.95, shape).astype(F16)
    if kind == "int":
        return rng.integers(0, shape[1], shape[:1])
    if kind == "huge":  # up to float16's largest finite value
        return rng.uniform(-65504, 65504, shape).astype(F16)
    scale = {"n": 1.0, "big": 200.0, "small": 1e-3}[kind]
    return (rng.standard_normal(shape) * scale).astype(F16)


def _run(L, fn, arrays, grad):
    ts = [L.tensor(a, requires_grad=grad and a.dtype == F16) for a in arrays]
    y = fn(L, *ts)
    out = [y.detach().float().numpy() if L is torch else np.asarray(y.detach().float())]
    if grad:
        g = np.random.default_rng(7).standard_normal(tuple(y.shape)).astype(F16)
        y.backward(L.tensor(g))
        for t in ts:
            if t.requires_grad:
                out.append(t.grad.float().numpy() if L is torch else np.asarray(t.grad.float()))
    return out


F = lambda name, **kw: lambda L, x: getattr(L.nn.functional, name)(x, **kw)  # noqa: E731
S, R = (6, 33), (100, 700)
# name: (fn, per-input (kind, shape), magnitudes of the "n" inputs, check gradients)
ROWS = {
    "tanh": (lambda L, x: L.tanh(x), [("n", S)], ("n", "big"), True),
    "sigmoid": (lambda L, x: L.sigmoid(x), [("n", S)], ("n", "big"), False),
    "exp": (lambda L, x: L.exp(x), [("n", S)], ("n",), True),
    "softmax": (lambda L, x: L.softmax(x, -1), [("n", S)], ("n", "big", "huge"), True),
    "log_softmax": (lambda L, x: L.log_softmax(x, -1), [("n", S)], ("n", "big", "huge"), False),
    "gelu": (F("gelu"), [("n", S)], ("n", "big", "small"), True),
    "gelu_tanh": (F("gelu", approximate="tanh"), [("n", S)], ("n", "big", "small"), True),
    "silu": (F("silu"), [("n", S)], ("n", "big", "small"), True),
    "mish": (F("mish"), [("n", S)], ("n", "big", "small"), True),
    "softplus": (F("softplus"), [("n", S)], ("n", "big", "small"), True),
    "softplus_beta": (F("softplus", beta=2.0, threshold=10.0), [("n", S)], ("n",), True),
    "logsigmoid": (F("logsigmoid"), [("n", S)], ("n", "big", "small"), True),
    "hardswish": (F("hardswish"), [("n", S)], ("n", "big"), True),
    "selu": (F("selu"), [("n", S)], ("n", "big"), True),
    "layer_norm": (lambda L, x: L.nn.functional.layer_norm(x, (33,)), [("n", S)], ("n", "big", "huge"), False),
    "group_norm": (lambda L, x: L.nn.functional.group_norm(x, 2), [("n", (4, 6, 10))], ("n", "big"), False),
    "cross_entropy": (lambda L, x, t: L.nn.functional.cross_entropy(x, t), [("n", S), ("int", S)], ("n", "big"), True),
    "linear": (
        lambda L, x, w, b: L.nn.functional.linear(x, w, b),
        [("n", (8, 64)), ("n", (16, 64)), ("n", (16,))],
        ("n",),
        True,
    ),
    "matmul": (lambda L, x, w: x @ w, [("n", (8, 200)), ("n", (200, 16))], ("n",), True),
    "einsum": (lambda L, x, w: L.einsum("ij,jk->ik", x, w), [("n", (8, 200)), ("n", (200, 16))], ("n",), True),
    "sum": (lambda L, x: x.sum(), [("n", R)], ("n", "big", "small"), True),
    "mean": (lambda L, x: x.mean(0), [("n", R)], ("n", "big", "huge"), True),
    "var": (lambda L, x: x.var(1), [("n", R)], ("n", "big", "small"), False),
    "std": (lambda L, x: x.std(1), [("n", R)], ("n", "big", "small"), False),
    "vector_norm": (lambda L, x: L.linalg.vector_norm(x, dim=1), [("n", R)], ("n", "big", "small"), True),
    "cumsum": (lambda L, x: x.cumsum(1), [("n", R)], ("n",), True),
    "logsumexp": (lambda L, x: L.logsumexp(x, 1), [("n", R)], ("n", "big", "huge"), False),
    "lerp": (lambda L, x, y: L.lerp(x, y, 0.3), [("n", S), ("n", S)], ("n", "big"), True),
    "lerp_tensor": (lambda L, x, y, w: L.lerp(x, y, w), [("n", S), ("n", S), ("p01", S)], ("n",), True),
    "avg_pool2d": (lambda L, x: L.nn.functional.avg_pool2d(x, 2), [("n", (2, 3, 8, 8))], ("n", "big"), True),
    "scatter_add": (
        lambda L, x, y: x.scatter_add(0, L.zeros(6, 33, dtype=L.int64), y),
        [("n", S), ("n", S)],
        ("n",),
        True,
    ),
    "mul_python_scalar": (lambda L, x: x * 2.0**20, [("n", S)], ("small", "n"), True),
    "mul_0d_float32": (lambda L, x: x * L.tensor(0.1), [("n", S)], ("n", "big"), True),
    "div_python_scalar": (lambda L, x: x / 1e-6, [("n", S)], ("small",), True),
    "pow_scalar": (lambda L, x: x**2.5, [("pos", S)], ("n",), True),
}


@needs_torch
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (float16 overflows to inf in both libraries)
@pytest.mark.parametrize("name", list(ROWS))
def test_matches_torch_within_one_ulp(name):
    fn, inputs, mags, grad = ROWS[name]
    for mag in mags:
        rng = np.random.default_rng(zlib.crc32((name + mag).encode()))
        arrays = [_data(mag if kind == "n" else kind, shape, rng) for kind, shape in inputs]
        ours, theirs = _run(bp, fn, arrays, grad), _run(torch, fn, arrays, grad)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            what = "forward" if i == 0 else f"gradient {i - 1}"
            assert _ulps_beyond_tolerance(a, b) <= 1, f"{name} {what} at magnitude {mag!r}"


def test_softmax_of_large_logits_is_finite():
    x = bp.tensor(np.array([60000.0, 59000.0, 100.0, -60000.0], dtype=F16), requires_grad=True)
    y = bp.softmax(x, 0)
    assert y.dtype == bp.float16 and np.isfinite(np.asarray(y.detach().float())).all()
    np.testing.assert_array_equal(np.asarray(y.detach().float()), [1.0, 0.0, 0.0, 0.0])
    assert np.isfinite(np.asarray(bp.log_softmax(x, 0).detach().float())[:3]).all()
    y.backward(bp.ones_like(y))
    assert np.isfinite(np.asarray(x.grad.float())).all()


def test_float32_scalar_operands_are_read_in_float32():
    x = bp.tensor(np.array([2.0**-10, 3.0, 2.0**-20], dtype=F16))
    for y in (x * 2.0**20, 2.0**20 * x, x * bp.tensor(2.0**20), x / 2.0**-20):
        assert y.dtype == bp.float16
        np.testing.assert_array_equal(np.asarray(y.float()), [1024.0, np.inf, 1.0])
    y = bp.tensor(2.0**20) * x  # torch reads a 0-d first operand in float16 (2**20 rounds to inf)
    np.testing.assert_array_equal(np.asarray(y.float()), [np.inf, np.inf, np.inf])
    assert (x + 1e-3).dtype == bp.float16  # add rounds the scalar to float16 first, as torch's


def test_sums_and_norms_accumulate_in_float32():
    x = bp.tensor(np.full(4096, 0.1, dtype=F16))
    assert float(x.sum()) == pytest.approx(4096 * float(F16(0.1)), rel=1e-3)
    assert float(x.cumsum(0)[-1]) == pytest.approx(4096 * float(F16(0.1)), rel=1e-3)
    big = bp.tensor(np.full(100, 1000.0, dtype=F16))
    assert float(bp.linalg.vector_norm(big)) == 10000.0  # the squares (1e6) overflow float16, not the norm
    assert float(big.std()) == 0.0 and float(big.mean()) == 1000.0
    ln = bp.nn.functional.layer_norm(bp.tensor(np.array([[30000.0, -30000.0, 10000.0]], dtype=F16)), (3,))
    assert ln.dtype == bp.float16 and np.isfinite(np.asarray(ln.float())).all()


def test_float32_programs_keep_the_bare_kernels():
    """No float16 array, no float32 path: the kernels stay the bare ones until the first float16 array."""
    code = """
import numpy as np
import backprop as bp
from backprop import registry
cpu = bp.device("cpu").backend
mm, sm, mul = registry.get("matmul"), registry.get("softmax"), registry.get("mul")
x = bp.randn(3, 4, requires_grad=True)
(bp.softmax(x @ bp.randn(4, 2), -1) * 2.0).sum().backward()
assert mm.kernel(cpu) is np.matmul and mul.kernel(cpu) is np.multiply and sm.backward_kernel(cpu) is sm.backward
{make}
assert mm.kernel(cpu) is not np.matmul and mul.kernel(cpu) is not np.multiply
assert sm.backward_kernel(cpu) is not sm.backward
print("ok")
"""
    for make in ("bp.ones(2).half()", "bp.zeros(2, dtype=bp.float16)", "bp.from_numpy(np.ones(2, np.float16))"):
        out = subprocess.run(
            [sys.executable, "-c", code.format(make=make)], capture_output=True, text=True, timeout=120
        )
        assert out.stdout.strip() == "ok", (make, out.stderr[-2000:])
