"""bfloat16 (ml_dtypes' NumPy dtype) against torch: rounding, promotion, reductions, autograd, training,
autocast and save/load. Closed-form checks run without torch."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes (installed with backprop's dependencies)")

import backprop as bp  # noqa: E402
import backprop.nn.functional as F
from backprop import dtypes

try:
    import torch
except ImportError:  # pragma: no cover - torch is the reference, optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (reference values)")
BF16 = bp.bfloat16


def host(t):
    """A backprop or torch tensor as a float32 NumPy array (bfloat16 values are exact in float32)."""
    if torch is not None and isinstance(t, torch.Tensor):
        return t.detach().float().numpy()
    return np.asarray(t.detach().float())


def bits(t):
    """The raw 16-bit patterns of a bfloat16 tensor (exact comparison, NaN included)."""
    if torch is not None and isinstance(t, torch.Tensor):
        return t.detach().contiguous().view(torch.int16).numpy()
    return np.asarray(t.detach()).view(np.int16)


# ------------------------------------------------------------------ the dtype


def test_dtype_basics_closed_form():
    assert BF16.itemsize == 2 and str(BF16) == "bfloat16"
    fi = bp.finfo(BF16)
    assert (fi.bits, fi.eps, fi.resolution, fi.tiny) == (16, 2.0**-7, 0.01, 2.0**-126)
    assert fi.max == (2 - 2.0**-7) * 2.0**127 and fi.min == -fi.max
    t = bp.tensor([1.0, 2.0], dtype=BF16)
    assert t.dtype == BF16 and t.is_floating_point() and t.element_size() == 2 and t.is_signed()
    assert bp.is_floating_point(t) and t.type() == "torch.BFloat16Tensor"
    assert isinstance(t, bp.BFloat16Tensor) and not isinstance(t, bp.HalfTensor)
    assert bp.tensor([1.0]).bfloat16().dtype == BF16 and bp.tensor([1.0]).type(bp.BFloat16Tensor).dtype == BF16
    assert bp.tensor([1.0]).type("torch.BFloat16Tensor").dtype == BF16
    assert dtypes.is_floating(BF16) and dtypes.kind(BF16) == "f" and not dtypes.is_floating(bp.int64)
    assert bp.tensor([1.0], dtype=BF16).requires_grad_().requires_grad


@needs_torch
def test_finfo_matches_torch():
    ours, theirs = bp.finfo(BF16), torch.finfo(torch.bfloat16)
    for name in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert torch.bfloat16.itemsize == BF16.itemsize


def test_set_default_dtype_accepts_bfloat16():
    # torch accepts bfloat16 as the default dtype: Python floats then become bfloat16
    try:
        bp.set_default_dtype(BF16)
        assert bp.get_default_dtype() == BF16
        assert bp.tensor([1.5]).dtype == BF16 and (bp.tensor([1, 2]) * 2.5).dtype == BF16
    finally:
        bp.set_default_dtype(bp.float32)
    with pytest.raises(TypeError, match="floating"):
        bp.set_default_dtype(bp.int64)


def test_cuda_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match=r"to: bfloat16 .*CuPy has no bfloat16"):
        dtypes.check_device(BF16, "cuda", "to")
    dtypes.check_device(BF16, "cpu", "to")  # fine on the CPU
    dtypes.check_device(bp.float16, "cuda", "to")


# ------------------------------------------------------------------ values and rounding

VALUES = [1.1, 2.2, 3.3, -0.1, 1e-40, 3.3e38, 1.00390625, 1.01171875, float("inf"), float("nan")]


@needs_torch
def test_rounding_and_elementwise_bitwise_equal_to_torch():
    ours, theirs = bp.tensor(VALUES, dtype=BF16), torch.tensor(VALUES, dtype=torch.bfloat16)
    np.testing.assert_array_equal(bits(ours), bits(theirs))  # round-to-nearest-even in both
    np.testing.assert_array_equal(bits(bp.tensor(VALUES).to(BF16)), bits(theirs))
    a = [0.3, -1.7, 2.5, 100.0, 0.001]
    x, tx = bp.tensor(a, dtype=BF16), torch.tensor(a, dtype=torch.bfloat16)
    y, ty = bp.tensor(a[::-1], dtype=BF16), torch.tensor(a[::-1], dtype=torch.bfloat16)
    for f in (
        lambda m, u, v: u + v,
        lambda m, u, v: u * v,
        lambda m, u, v: u / v,
        lambda m, u, v: u * 2.5 - 1,
        lambda m, u, v: m.exp(u / 100),
        lambda m, u, v: m.tanh(u),
        lambda m, u, v: m.sqrt(m.abs(u)),
        lambda m, u, v: m.maximum(u, v),
        lambda m, u, v: m.sigmoid(u),
    ):
        np.testing.assert_array_equal(bits(f(bp, x, y)), bits(f(torch, tx, ty)))


def test_rounding_closed_form():
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0)
    t = bp.tensor([1 + 2.0**-8, 1 + 3 * 2.0**-8, 1.1], dtype=BF16)
    assert host(t).tolist() == [1.0, 1 + 2 * 2.0**-7, 1.1015625]


@needs_torch
def test_promotion_matches_torch():
    cases = {
        "f16": (torch.float16, bp.float16),
        "f32": (torch.float32, bp.float32),
        "f64": (torch.float64, bp.float64),
        "i64": (torch.int64, bp.int64),
        "i32": (torch.int32, bp.int32),
        "bool": (torch.bool, bp.bool),
    }
    b, tb = bp.ones(3, dtype=BF16), torch.ones(3, dtype=torch.bfloat16)
    for td, bd in cases.values():
        other, tother = bp.ones(3, dtype=bd), torch.ones(3, dtype=td)
        assert str((b + other).dtype) == str((tb + tother).dtype).removeprefix("torch.")
        assert str((other * b).dtype) == str((tother * tb).dtype).removeprefix("torch.")
        assert str(bp.promote_types(BF16, bd)) == str(torch.promote_types(torch.bfloat16, td)).removeprefix("torch.")
        zero_d, tzero_d = bp.tensor(1, dtype=bd), torch.tensor(1, dtype=td)  # 0-d: lower priority
        assert str((b + zero_d).dtype) == str((tb + tzero_d).dtype).removeprefix("torch.")
        assert str((bp.tensor(1.0, dtype=BF16) + other).dtype) == str(
            (torch.tensor(1.0, dtype=torch.bfloat16) + tother).dtype
        ).removeprefix("torch.")
    for scalar in (2, 2.5, True):
        assert (b * scalar).dtype == BF16 and (tb * scalar).dtype == torch.bfloat16


def test_promotion_closed_form():
    b = bp.ones(2, dtype=BF16)
    assert (b + bp.ones(2, dtype=bp.float16)).dtype == bp.float32  # neither holds the other
    assert (b + bp.ones(2)).dtype == bp.float32
    assert (b + bp.ones(2, dtype=bp.int64)).dtype == BF16  # the floating operand wins
    assert (b * 2.5).dtype == BF16 and (bp.arange(2) / b).dtype == BF16
    assert bp.promote_types(BF16, bp.int64) == BF16 and bp.result_type(b, 1.5) == BF16


# ------------------------------------------------------------------ printing, indexing, creation


@needs_torch
def test_repr_matches_torch():
    for v in ([1.1, 2.2, 3.3], [1.25, 100000.0], [[1.0, 2.0], [3.0, 4.5]], 0.1):
        ours, theirs = repr(bp.tensor(v, dtype=BF16)), repr(torch.tensor(v, dtype=torch.bfloat16))
        assert ours == theirs.replace("torch.bfloat16", "bfloat16")


def test_indexing_creation_and_conversion():
    x = bp.arange(12, dtype=BF16).reshape(3, 4)
    assert x.dtype == BF16 and host(x[1]).tolist() == [4, 5, 6, 7]
    assert host(x[:, bp.tensor([0, 3])]).tolist() == [[0, 3], [4, 7], [8, 11]]
    assert host(x[x > 9]).tolist() == [10, 11] and x[x > 9].dtype == BF16
    x[0, 0] = 2.7  # rounds on the write
    assert x[0, 0].item() == 2.703125 and isinstance(x[0, 0].item(), float)
    for t in (bp.zeros(2, dtype=BF16), bp.ones_like(x), bp.full((2,), 1.5, dtype=BF16), bp.randn(3, dtype=BF16)):
        assert t.dtype == BF16
    assert bp.rand(4, dtype=BF16).dtype == BF16 and host(bp.linspace(0, 1, 5, dtype=BF16)).tolist()[1] == 0.25
    assert x.to(bp.int64).dtype == bp.int64 and x.float().dtype == bp.float32 and x.tolist()[2][3] == 11.0
    assert bp.tensor(np.ones(2, dtype=BF16)).dtype == BF16  # a NumPy bfloat16 array keeps its dtype


# ------------------------------------------------------------------ reductions and matmul


def test_sums_accumulate_in_float32_closed_form():
    # bfloat16 accumulation would stop at 256; torch accumulates in float32 and rounds 100000 to 99840
    ones = bp.ones(100000, dtype=BF16)
    assert ones.sum().item() == 99840.0 and ones.sum().dtype == BF16
    assert ones.cumsum(0)[-1].item() == 99840.0 and ones.mean().item() == 1.0
    m = bp.ones(64, 4096, dtype=BF16)
    assert (m @ m.T)[0, 0].item() == 4096.0 and (m @ m.T).dtype == BF16


@needs_torch
def test_reductions_and_matmul_match_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((33, 70)).astype(np.float32), rng.standard_normal((70, 17)).astype(np.float32)
    x, y = bp.tensor(a).to(BF16), bp.tensor(b).to(BF16)
    tx, ty = torch.tensor(a).bfloat16(), torch.tensor(b).bfloat16()
    pairs = [
        (x.sum(), tx.sum()),
        (x.sum(1), tx.sum(1)),
        (x.mean(0), tx.mean(0)),
        (x.var(1), tx.var(1)),
        (x.std(), tx.std()),
        (x.amax(1), tx.amax(1)),
        (x.logsumexp(1), tx.logsumexp(1)),
        (x.softmax(1), tx.softmax(1)),
        (x.log_softmax(1), tx.log_softmax(1)),
        (x.cumsum(1), tx.cumsum(1)),
        (x @ y, tx @ ty),
        (F.linear(x, y.T, y[0]), torch.nn.functional.linear(tx, ty.T, ty[0])),
        (bp.einsum("ij,jk->ik", x, y), torch.einsum("ij,jk->ik", tx, ty)),
    ]
    for ours, theirs in pairs:
        assert ours.dtype == BF16 and theirs.dtype == torch.bfloat16
        # the same float32 sums in another order: at most one bfloat16 rounding step apart
        np.testing.assert_allclose(host(ours), host(theirs), rtol=2**-7, atol=1e-2)


# ------------------------------------------------------------------ autograd and training


@needs_torch
def test_gradients_are_bfloat16_and_match_torch():
    rng = np.random.default_rng(1)
    a, w = rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)
    x, tx = bp.tensor(a, dtype=BF16, requires_grad=True), torch.tensor(a, dtype=torch.bfloat16, requires_grad=True)
    p, tp = bp.tensor(w, dtype=BF16, requires_grad=True), torch.tensor(w, dtype=torch.bfloat16, requires_grad=True)
    (bp.tanh(F.linear(x, p)) * 2.0 + x.sum(1, keepdim=True)).pow(2).mean().backward()
    (torch.tanh(torch.nn.functional.linear(tx, tp)) * 2.0 + tx.sum(1, keepdim=True)).pow(2).mean().backward()
    for g, tg in ((x.grad, tx.grad), (p.grad, tp.grad)):
        assert g.dtype == BF16 and tg.dtype == torch.bfloat16
        np.testing.assert_allclose(host(g), host(tg), rtol=2**-6, atol=1e-3)
    # a float32 leaf cast to bfloat16 gets a float32 gradient, as torch's
    f, tf = bp.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (f.bfloat16() * 3).sum().backward()
    (tf.bfloat16() * 3).sum().backward()
    assert f.grad.dtype == bp.float32 and np.array_equal(host(f.grad), host(tf.grad))


def _mlp(lib, weights):
    m = lib.nn.Sequential(lib.nn.Linear(8, 32), lib.nn.Tanh(), lib.nn.Linear(32, 3))
    m.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    return m.bfloat16()


@needs_torch
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_mlp_training_steps_match_torch(name):
    rng = np.random.default_rng(2)
    weights = {
        "0.weight": rng.standard_normal((32, 8)).astype(np.float32) * 0.3,
        "0.bias": rng.standard_normal(32).astype(np.float32) * 0.1,
        "2.weight": rng.standard_normal((3, 32)).astype(np.float32) * 0.3,
        "2.bias": np.zeros(3, np.float32),
    }
    xs, ys = rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 3, 16)
    runs = []
    for lib in (bp, torch):
        model = _mlp(lib, weights)
        kwargs = {"momentum": 0.9} if name == "SGD" else {}
        opt = getattr(lib.optim, name)(model.parameters(), lr=0.01, **kwargs)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(xs).bfloat16()), lib.tensor(ys))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert str(loss.dtype).endswith("bfloat16")
        params = dict(model.named_parameters())
        for p in params.values():
            assert str(p.dtype).endswith("bfloat16") and str(p.grad.dtype).endswith("bfloat16")
        runs.append((losses, {n: host(p) for n, p in params.items()}))
    (ours, ours_p), (theirs, theirs_p) = runs
    np.testing.assert_allclose(ours, theirs, rtol=2**-7)  # within one bfloat16 step of the loss
    for n in ours_p:  # parameters within two bfloat16 steps (rounding order inside the updates differs)
        np.testing.assert_allclose(ours_p[n], theirs_p[n], rtol=2**-6, atol=4e-3, err_msg=n)


# ------------------------------------------------------------------ autocast


def _autocast_dtypes(lib, dtype=None):
    Fn = lib.nn.functional
    rng = np.random.default_rng(3)
    a, b = lib.tensor(rng.standard_normal((4, 5)).astype(np.float32)), lib.tensor(np.ones((5, 3), np.float32))
    img, k = lib.ones(1, 2, 5, 5), lib.ones(3, 2, 3, 3)
    kwargs = {} if dtype is None else {"dtype": dtype}
    with lib.autocast("cpu", **kwargs):
        mm = a @ b
        out = {
            "autocast_dtype": lib.get_autocast_dtype("cpu"),
            "matmul": mm.dtype,
            "linear": Fn.linear(a, b.T).dtype,
            "conv2d": Fn.conv2d(img, k).dtype,
            "cross_entropy": Fn.cross_entropy(mm, lib.tensor([0, 1, 2, 0])).dtype,
            "mse_loss": Fn.mse_loss(mm, lib.zeros(4, 3)).dtype,
            "softmax": Fn.softmax(mm, -1).dtype,
            "cat": lib.cat([mm, lib.ones(1, 3)]).dtype,
            "float64": (lib.ones(2, 2, dtype=lib.float64) @ lib.ones(2, 2, dtype=lib.float64)).dtype,
        }
    return {k: str(v).removeprefix("torch.") for k, v in out.items()}


def test_cpu_autocast_defaults_to_bfloat16_closed_form():
    assert bp.get_autocast_dtype("cpu") == BF16
    got = _autocast_dtypes(bp)
    assert got["matmul"] == got["linear"] == got["conv2d"] == got["softmax"] == "bfloat16"
    assert got["cross_entropy"] == got["mse_loss"] == got["cat"] == "float32" and got["float64"] == "float64"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with bp.autocast("cpu", dtype=BF16) as ac:
            assert ac._enabled and bp.is_autocast_enabled("cpu")


@needs_torch
@pytest.mark.parametrize("dtype", [None, "bfloat16", "float16"])
def test_cpu_autocast_dtypes_match_torch(dtype):
    ours = _autocast_dtypes(bp, None if dtype is None else getattr(bp, dtype))
    theirs = _autocast_dtypes(torch, None if dtype is None else getattr(torch, dtype))
    assert ours == theirs


@needs_torch
def test_cpu_autocast_values_and_gradient_match_torch():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((6, 7)).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)
    res = []
    for lib in (bp, torch):
        x = lib.tensor(a, requires_grad=True)
        with lib.autocast("cpu"):
            y = x @ lib.tensor(b)
            loss = lib.nn.functional.cross_entropy(y, lib.tensor([0, 1, 2, 0, 1, 2]))
        loss.backward()
        res.append((host(y), loss.item(), host(x.grad), str(x.grad.dtype)))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    assert res[0][1] == pytest.approx(res[1][1], rel=1e-6) and res[0][3] == "float32" == res[1][3][6:]
    np.testing.assert_allclose(res[0][2], res[1][2], rtol=1e-2, atol=1e-3)


def test_cuda_autocast_in_bfloat16_is_refused():
    if bp.cuda.is_available():
        with pytest.warns(UserWarning, match="CuPy has no bfloat16"):
            ac = bp.autocast("cuda", dtype=BF16)
    else:
        with pytest.warns(UserWarning, match="CUDA is not available"):
            ac = bp.autocast("cuda", dtype=BF16)
    assert not ac._enabled


# ------------------------------------------------------------------ save / load


def test_save_load_round_trip(tmp_path):
    model = bp.nn.Linear(4, 3).bfloat16()
    x = bp.tensor([1.1, -2.2, 3.3e38, float("nan")], dtype=BF16, requires_grad=True)
    bp.save({"model": model.state_dict(), "x": x}, tmp_path / "ck.pt")
    back = bp.load(tmp_path / "ck.pt")  # weights_only=True: bfloat16 dtypes are allowed
    assert back["x"].dtype == BF16 and back["x"].requires_grad
    np.testing.assert_array_equal(bits(back["x"]), bits(x))
    for k, v in model.state_dict().items():
        assert back["model"][k].dtype == BF16 and np.array_equal(bits(back["model"][k]), bits(v))
    fresh = bp.nn.Linear(4, 3).bfloat16()
    fresh.load_state_dict(back["model"])
    assert np.array_equal(bits(fresh.weight), bits(model.weight))


def test_safetensors_round_trip():
    from backprop.serialization import load_safetensors, save_safetensors

    tensors = {"w": bp.tensor([[1.1, 2.2], [-3.3, 0.0]], dtype=BF16), "i": bp.arange(3), "f": bp.ones(2)}
    back = load_safetensors(save_safetensors(tensors))
    assert {k: v.dtype for k, v in back.items()} == {"w": BF16, "i": bp.int64, "f": bp.float32}
    assert np.array_equal(bits(back["w"]), bits(tensors["w"])) and host(back["i"]).tolist() == [0, 1, 2]


@needs_torch
def test_safetensors_interchange_with_torch():
    from safetensors.torch import load as torch_load
    from safetensors.torch import save as torch_save

    from backprop.serialization import load_safetensors, save_safetensors

    t = torch.tensor([1.1, -2.2, 3.3e38, 1e-40], dtype=torch.bfloat16)
    ours = load_safetensors(torch_save({"t": t}))["t"]
    assert ours.dtype == BF16 and np.array_equal(bits(ours), bits(t))
    theirs = torch_load(save_safetensors({"t": ours}))["t"]
    assert theirs.dtype == torch.bfloat16 and torch.equal(theirs, t)


def test_pickle_of_bfloat16_through_a_stream():
    buf = io.BytesIO()
    bp.save(bp.ones(3, dtype=BF16) / 3, buf)
    buf.seek(0)
    back = bp.load(buf)
    assert back.dtype == BF16 and host(back).tolist() == [0.333984375] * 3


def test_kernels_gain_the_float32_path_only_once_bfloat16_is_used() -> None:
    """A process that never makes a bfloat16 array runs the bare kernels (no Python frame per op for
    bfloat16's float32 path); the first bfloat16 array (a cast, a factory, a NumPy array) switches every
    op's kernels over, in a fresh process."""
    import subprocess
    import sys

    code = """
import numpy as np, ml_dtypes
import backprop as bp
from backprop import registry
cpu = bp.device("cpu").backend
mm, lin = registry.get("matmul"), registry.get("linear")
assert mm.kernel(cpu) is np.matmul and lin.backward_kernel(cpu) is lin.backward
x = bp.randn(3, 4) @ bp.randn(4, 2)
{make}
assert mm.kernel(cpu) is not np.matmul and lin.backward_kernel(cpu) is not lin.backward
print("ok")
"""
    for make in (
        "bp.ones(2).to(bp.bfloat16)",
        "bp.zeros(2, dtype=bp.bfloat16)",
        "bp.from_numpy(np.ones(2, dtype=ml_dtypes.bfloat16))",
        "bp.tensor(np.ones(2, dtype=ml_dtypes.bfloat16))",
    ):
        out = subprocess.run(
            [sys.executable, "-c", code.format(make=make)], capture_output=True, text=True, timeout=120
        )
        assert out.stdout.strip() == "ok", (make, out.stderr[-2000:])
