"""``bp.amp``: autocast's cast policy (dtypes per op family as torch's CPU autocast gives them, values as a
manual cast, gradients in the parameters' dtype), its state rules, and GradScaler's step skipping and
scale sequence against torch's GradScaler("cpu")."""

from __future__ import annotations

import pickle
import threading
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.autograd import autocast_state
from backprop.autograd.grad_mode import autocast_users

F = bp.nn.functional
rng = np.random.default_rng(0)


def _r(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


A, B, V, X3 = _r(4, 4), _r(4, 4), _r(4), _r(2, 4, 4)
H, HB = _r(4, 4, dtype=np.float16), _r(4, 4, dtype=np.float16)
IDS = np.array([0, 1, 2, 3])


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the dtype and GradScaler cross-checks need it")


@pytest.fixture(autouse=True)
def _no_autocast_leaks() -> Any:
    """Every test leaves autocast off (a leaked region would cast every later test's ops)."""
    before = autocast_users[0]
    yield
    assert autocast_users[0] == before and not bp.is_autocast_enabled("cpu")


# each case: m is bp or torch; the op family's result dtype must be torch's under CPU float16 autocast
CASES = {
    "matmul": lambda m: m.matmul(m.tensor(A), m.tensor(B)),
    "mm": lambda m: m.mm(m.tensor(A), m.tensor(B)),
    "bmm": lambda m: m.bmm(m.tensor(X3), m.tensor(X3)),
    "einsum": lambda m: m.einsum("ij,jk->ik", m.tensor(A), m.tensor(B)),
    "linear": lambda m: m.nn.functional.linear(m.tensor(A), m.tensor(B), m.tensor(V)),
    "linear_no_bias": lambda m: m.nn.functional.linear(m.tensor(A), m.tensor(B)),
    "prelu": lambda m: m.nn.functional.prelu(m.tensor(A), m.tensor(np.array([0.2], np.float32))),
    "sdpa": lambda m: m.nn.functional.scaled_dot_product_attention(m.tensor(X3), m.tensor(X3), m.tensor(X3)),
    "matmul_float64_untouched": lambda m: m.matmul(m.tensor(A.astype(np.float64)), m.tensor(B.astype(np.float64))),
    "matmul_int_untouched": lambda m: m.matmul(m.tensor(IDS[:2, None]), m.tensor(IDS[None, :2])),
    # float32 list (CPU): losses, prod, some linalg
    "cross_entropy": lambda m: m.nn.functional.cross_entropy(m.tensor(H), m.tensor(IDS)),
    "nll_loss": lambda m: m.nn.functional.nll_loss(m.tensor(H), m.tensor(IDS)),
    "bce_with_logits": lambda m: m.nn.functional.binary_cross_entropy_with_logits(m.tensor(H), m.tensor(HB).sigmoid()),
    "bce": lambda m: m.nn.functional.binary_cross_entropy(m.tensor(H).sigmoid(), m.tensor(HB).sigmoid()),
    "mse_loss": lambda m: m.nn.functional.mse_loss(m.tensor(H), m.tensor(HB)),
    "l1_loss": lambda m: m.nn.functional.l1_loss(m.tensor(H), m.tensor(HB)),
    "smooth_l1_loss": lambda m: m.nn.functional.smooth_l1_loss(m.tensor(H), m.tensor(HB)),
    "huber_loss": lambda m: m.nn.functional.huber_loss(m.tensor(H), m.tensor(HB)),
    "kl_div": lambda m: m.nn.functional.kl_div(m.tensor(H), m.tensor(HB), reduction="batchmean"),
    "cosine_embedding_loss": lambda m: m.nn.functional.cosine_embedding_loss(
        m.tensor(H), m.tensor(HB), m.tensor(np.ones(4, np.float32))
    ),
    "prod": lambda m: m.tensor(H).prod(),
    "cholesky": lambda m: m.linalg.cholesky(m.tensor((A @ A.T + 4 * np.eye(4)).astype(np.float16))),
    "inv": lambda m: m.linalg.inv(m.tensor((A @ A.T + 4 * np.eye(4)).astype(np.float16))),
    # not listed on CPU: run in their inputs' dtype (softmax, exp, sum, layer_norm are float32 ops on CUDA only)
    "softmax": lambda m: m.tensor(H).softmax(-1),
    "log_softmax": lambda m: m.tensor(H).log_softmax(-1),
    "exp": lambda m: m.tensor(H).exp(),
    "sum": lambda m: m.tensor(H).sum(),
    "mean": lambda m: m.tensor(H).mean(),
    "cumsum": lambda m: m.tensor(H).cumsum(0),
    "relu": lambda m: m.nn.functional.relu(m.tensor(H)),
    "gelu": lambda m: m.nn.functional.gelu(m.tensor(H)),
    "layer_norm": lambda m: m.nn.functional.layer_norm(m.tensor(H), (4,)),
    "group_norm": lambda m: m.nn.functional.group_norm(m.tensor(H).reshape(1, 4, 4), 2),
    "add_mixed": lambda m: m.tensor(H) + m.tensor(A),
    # promote list
    "cat": lambda m: m.cat([m.tensor(H), m.tensor(A)]),
    "stack": lambda m: m.stack([m.tensor(H), m.tensor(A)]),
    "index_copy": lambda m: m.tensor(H).index_copy(0, m.tensor(np.array([0])), m.tensor(A[:1])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_result_dtypes_match_torch_cpu_float16_autocast(name: str) -> None:
    torch = _torch()
    with torch.autocast("cpu", dtype=torch.float16):
        want = str(CASES[name](torch).dtype).replace("torch.", "")
    with bp.autocast("cpu", dtype=bp.float16):
        got = str(CASES[name](bp).dtype)
    assert got == want, f"{name}: {got}, torch {want}"


def test_policy_core_follows_torchs_cuda_and_cpu_lists() -> None:
    """The CUDA list (torch's autocast_mode.h) differs from the CPU one: softmax, exp, sum, layer_norm
    run in float32 on CUDA only; atan2, index_put, scatter_add promote on CUDA only."""
    cuda, cpu = autocast_state.POLICIES["cuda"], autocast_state.POLICIES["cpu"]
    for name in ("matmul", "linear", "einsum", "conv2d", "prelu"):
        assert cuda[name] == cpu[name] == autocast_state.LOWER
    for name in ("cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits", "prod"):
        assert cuda[name] == cpu[name] == autocast_state.FP32
    for name in ("softmax", "log_softmax", "exp", "log", "sum", "cumsum", "pow", "norm", "layer_norm", "group_norm"):
        assert cuda[name] == autocast_state.FP32 and name not in cpu
    for name in ("atan2", "index_put", "scatter_add"):
        assert cuda[name] == autocast_state.PROMOTE and name not in cpu
    for name in ("cat", "stack", "index_copy"):
        assert cuda[name] == cpu[name] == autocast_state.PROMOTE
    assert "relu" not in cuda and "add" not in cuda and "mean" not in cuda


def test_values_equal_a_manual_cast() -> None:
    x, w, b = bp.tensor(A), bp.tensor(B), bp.tensor(V)
    with bp.autocast("cpu", dtype=bp.float16):
        y = F.linear(x, w, b)
        ce = F.cross_entropy(y, bp.tensor(IDS))
        s = bp.cat([y, x])
    want = F.linear(x.half(), w.half(), b.half())
    assert y.dtype == bp.float16 and np.array_equal(y.numpy(), want.numpy())
    assert ce.dtype == bp.float32 and ce.item() == F.cross_entropy(want.float(), bp.tensor(IDS)).item()
    assert s.dtype == bp.float32 and np.array_equal(s.numpy()[:4], want.float().numpy())
    with bp.autocast("cpu", dtype=bp.float16):
        p = x.matmul(w)
    assert np.array_equal(p.numpy(), (A.astype(np.float16) @ B.astype(np.float16)))


def test_values_close_to_torch_and_gradients_land_in_float32() -> None:
    torch = _torch()
    x = _r(8, 4)
    w1, b1, w2 = _r(16, 4) * 0.5, _r(16) * 0.1, _r(3, 16) * 0.5
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    grads = {}
    for m in (bp, torch):
        ps = [m.tensor(a, requires_grad=True) for a in (w1, b1, w2)]
        with m.autocast("cpu", dtype=m.float16):
            h = m.nn.functional.relu(m.nn.functional.linear(m.tensor(x), ps[0], ps[1]))
            out = m.nn.functional.linear(h, ps[2])
            loss = m.nn.functional.cross_entropy(out, m.tensor(y))
        assert str(h.dtype).endswith("float16") and str(out.dtype).endswith("float16")
        assert str(loss.dtype).endswith("float32")
        loss.backward()
        grads[m.__name__] = (loss.item(), [np.asarray(p.grad.numpy()) for p in ps], [str(p.grad.dtype) for p in ps])
    (lb, gb, db), (lt, gt, dt) = grads["backprop"], grads["torch"]
    assert db == ["float32"] * 3 and [d.replace("torch.", "") for d in dt] == db
    assert abs(lb - lt) < 2e-3
    for a, b in zip(gb, gt):
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-3)


def test_float64_inputs_and_other_device_types_are_not_cast() -> None:
    a64 = bp.tensor(A.astype(np.float64))
    with bp.autocast("cpu", dtype=bp.float16):
        assert (a64 @ a64).dtype == bp.float64
    bp.set_autocast_enabled("cuda", True)  # a CUDA autocast leaves CPU tensors alone, as torch's
    try:
        assert bp.is_autocast_enabled() and bp.is_autocast_enabled("cuda") and not bp.is_autocast_enabled("cpu")
        assert (bp.tensor(A) @ bp.tensor(B)).dtype == bp.float32
    finally:
        bp.set_autocast_enabled("cuda", False)


def test_nested_disable_decorator_and_state_getters() -> None:
    x = bp.tensor(A)
    assert not bp.is_autocast_enabled("cpu") and bp.get_autocast_dtype("cpu") == bp.bfloat16  # torch's default
    with bp.amp.autocast("cpu", dtype=bp.float16):
        assert bp.is_autocast_enabled("cpu") and not bp.is_autocast_enabled()
        with bp.autocast("cpu", enabled=False):
            assert not bp.is_autocast_enabled("cpu") and (x @ x).dtype == bp.float32
        assert (x @ x).dtype == bp.float16

    @bp.autocast(device_type="cpu", dtype=bp.float16)
    def f(t: bp.Tensor) -> bp.Tensor:
        return t @ t

    assert f(x).dtype == bp.float16 and (x @ x).dtype == bp.float32
    with pytest.raises(TypeError, match="requires a callable"):
        bp.autocast("cpu", dtype=bp.float16)(3)
    assert bp.amp.is_autocast_available("cpu") and bp.amp.is_autocast_available("cuda")
    assert not bp.amp.is_autocast_available("mps")


def test_autocast_state_is_thread_local() -> None:
    seen = []

    def other() -> None:
        seen.append((bp.is_autocast_enabled("cpu"), (bp.tensor(A) @ bp.tensor(B)).dtype))

    with bp.autocast("cpu", dtype=bp.float16):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen == [(False, bp.float32)]


@pytest.mark.skipif(not bp.dtypes.HAS_BFLOAT16, reason="bfloat16 needs ml_dtypes (a dependency)")
def test_bad_arguments_and_unsupported_dtypes() -> None:
    torch = _torch()
    with pytest.raises(ValueError, match="device_type"):
        bp.autocast(3)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        bp.autocast("mps")
    for m in (bp, torch):  # an unsupported dtype: a warning, and autocast off (torch's rule)
        with pytest.warns(UserWarning, match="target dtype is not supported"):
            ac = m.autocast("cpu", dtype=m.float32)
        with ac:
            assert not m.is_autocast_enabled("cpu")
    # torch's CPU default is bfloat16 (ml_dtypes' NumPy dtype here): no warning, matmul in bfloat16
    for m in (bp, torch):
        with m.autocast("cpu"):
            assert m.is_autocast_enabled("cpu") and str((m.tensor(A) @ m.tensor(B)).dtype).endswith("bfloat16")


@pytest.mark.skipif(bp.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_cuda_autocast_and_scaler_disable_themselves_without_cuda() -> None:
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ac = bp.autocast("cuda")
    with ac:
        assert not bp.is_autocast_enabled("cuda")
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling"):
        scaler = bp.amp.GradScaler()
    assert not scaler.is_enabled()


def test_cuda_amp_aliases_warn_and_forward() -> None:
    from backprop.cuda.amp import GradScaler, autocast

    assert bp.cuda.amp.autocast is autocast and issubclass(autocast, bp.amp.autocast)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ac = autocast(enabled=False)
        scaler = GradScaler(enabled=False, init_scale=8.0)
    msgs = [str(w.message) for w in caught if w.category is FutureWarning]
    assert any("torch.cuda.amp.autocast(args...)` is deprecated" in m for m in msgs)
    assert any("torch.cuda.amp.GradScaler(args...)` is deprecated" in m for m in msgs)
    assert ac.device == "cuda" and ac.fast_dtype == bp.float16 and not scaler.is_enabled()


def test_weight_casts_are_cached_per_region_and_gradients_still_add_up() -> None:
    w = bp.tensor(B, requires_grad=True)
    x = bp.tensor(A)
    with bp.autocast("cpu", dtype=bp.float16):
        y1, y2 = x @ w, x @ w
        (_, w1), (_, w2) = y1.grad_fn.edges, y2.grad_fn.edges
        assert w1 is w2 and w1.op.name == "astype"  # one cast of the weight for both uses
        with bp.no_grad():
            w.add_(1.0)  # changed in place: the next use casts again
        y3 = x @ w
        assert y3.grad_fn.edges[1] is not w1
    with bp.autocast("cpu", dtype=bp.float16, cache_enabled=False):
        z1, z2 = x @ w, x @ w
        assert z1.grad_fn.edges[1] is not z2.grad_fn.edges[1]
    assert not autocast_state._state.cache  # dropped with the outermost region
    (y1.sum() + y2.sum()).backward()
    want = 2 * (A.astype(np.float16).T @ np.ones((4, 4), np.float16)).astype(np.float32)
    assert w.grad.dtype == bp.float32 and np.array_equal(w.grad.numpy(), want)


def test_casts_are_differentiable_through_gradcheck() -> None:
    """The cast policy's casts are ordinary ops: a float32-list op on float16 inputs has float16 gradients."""
    h = bp.tensor(H, requires_grad=True)
    with bp.autocast("cpu", dtype=bp.float16):
        loss = F.cross_entropy(h, bp.tensor(IDS))
    loss.backward()
    ref = bp.tensor(H.astype(np.float32), requires_grad=True)
    F.cross_entropy(ref, bp.tensor(IDS)).backward()
    assert h.grad.dtype == bp.float16 and np.array_equal(h.grad.numpy(), ref.grad.numpy().astype(np.float16))


def test_custom_fwd_casts_inputs_and_runs_without_autocast() -> None:
    seen = {}

    class Square(bp.autograd.Function):
        @staticmethod
        @bp.amp.custom_fwd(device_type="cpu", cast_inputs=bp.float32)
        def forward(ctx: Any, x: bp.Tensor) -> bp.Tensor:
            seen["fwd"] = (x.dtype, bp.is_autocast_enabled("cpu"))
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @bp.amp.custom_bwd(device_type="cpu")
        def backward(ctx: Any, gy: bp.Tensor) -> bp.Tensor:
            seen["bwd"] = bp.is_autocast_enabled("cpu")
            (x,) = ctx.saved_tensors
            return 2 * x * gy

    h = bp.tensor(H[0], requires_grad=True)
    with bp.autocast("cpu", dtype=bp.float16):
        y = Square.apply(h)
    assert seen["fwd"] == (bp.float32, False) and y.dtype == bp.float32
    y.sum().backward()
    assert seen["bwd"] is False and h.grad.dtype == bp.float16


# ------------------------------------------------------------------------------------------ GradScaler
def _scaler_run(m: Any, grads: list[list[np.ndarray]], unscale_first: bool) -> list[tuple]:
    """Drive m's GradScaler("cpu") over the given gradients; returns, per step: (scale, tracker,
    stepped, param values, unscaled gradient)."""
    p = m.tensor(np.array([1.0, -2.0, 3.0], np.float32), requires_grad=True)
    q = m.tensor(np.array([[0.5, 0.25]], np.float32), requires_grad=True)
    opt = m.optim.SGD([p, q], lr=0.1)
    scaler = m.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=2)
    log = []
    for gp, gq in grads:
        opt.zero_grad()
        loss = (p * m.tensor(gp)).sum() + (q * m.tensor(gq)).sum()
        scaler.scale(loss).backward()
        if unscale_first:
            scaler.unscale_(opt)
        ret = scaler.step(opt)
        scaler.update()
        log.append(
            (
                scaler.get_scale(),
                scaler._get_growth_tracker(),
                ret,
                p.detach().numpy().tolist(),
                q.detach().numpy().tolist(),
                np.asarray(p.grad.numpy()).tolist(),
            )
        )
    return log


GRAD_SEQUENCE = [
    [np.array([1.0, 2.0, 3.0], np.float32), np.array([[0.5, -1.0]], np.float32)],
    [np.array([0.1, 0.2, 0.3], np.float32), np.array([[1.0, 1.0]], np.float32)],  # second clean: the scale grows
    [np.array([np.inf, 0.0, 1.0], np.float32), np.array([[1.0, 1.0]], np.float32)],  # skipped, backoff
    [np.array([1.0, 1.0, 1.0], np.float32), np.array([[np.nan, 1.0]], np.float32)],  # skipped again
    [np.array([0.3, -0.7, 1.1], np.float32), np.array([[2.0, -3.0]], np.float32)],
    [np.array([0.3, -0.7, 1.1], np.float32), np.array([[2.0, -3.0]], np.float32)],  # grows again
    [np.array([1e38, 1.0, 1.0], np.float32), np.array([[1.0, 1.0]], np.float32)],  # finite, but inf once scaled
]


@pytest.mark.parametrize("unscale_first", [False, True])
def test_grad_scaler_skips_and_rescales_as_torch(unscale_first: bool) -> None:
    torch = _torch()
    with np.errstate(over="ignore", invalid="ignore"):  # the injected infs and overflows are the point
        got = _scaler_run(bp, GRAD_SEQUENCE, unscale_first)
    want = _scaler_run(torch, GRAD_SEQUENCE, unscale_first)
    scales = [g[0] for g in got]
    assert scales == [16.0, 32.0, 16.0, 8.0, 8.0, 16.0, 8.0]
    for i, (g, w) in enumerate(zip(got, want)):
        assert g[:2] == w[:2], f"step {i}: scale/tracker {g[:2]}, torch {w[:2]}"
        assert (g[2] is None) == (w[2] is None), f"step {i}: skipped differently"
        assert g[3] == w[3] and g[4] == w[4], f"step {i}: parameters differ"
        np.testing.assert_array_equal(np.array(g[5]), np.array(w[5]), err_msg=f"step {i}: unscaled gradient")


def test_unscale_step_update_errors_as_torch() -> None:
    p = bp.tensor([1.0, 2.0], requires_grad=True)
    opt = bp.optim.SGD([p], lr=0.1)
    scaler = bp.amp.GradScaler("cpu")
    with pytest.raises(AssertionError, match="did not use scaler.scale"):
        scaler.unscale_(opt)
    with pytest.raises(AssertionError, match="update but _scale is None"):
        scaler.update()
    scaler.scale((p * p).sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: None)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="is being called after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    scaler.update()
    h = bp.tensor(H[0], requires_grad=True)
    opt16 = bp.optim.SGD([h], lr=0.1)
    scaler.update(new_scale=2.0)  # (65536 overflows float16)
    scaler.scale(h.sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(opt16)
    with pytest.raises(AssertionError, match="growth factor"):
        bp.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(AssertionError, match="backoff factor"):
        bp.amp.GradScaler("cpu", backoff_factor=1.0)


def test_the_inf_check_stays_on_the_device_one_value_per_device() -> None:
    """unscale_ leaves one 0-d float32 tensor per device, as torch's (not a Python bool per parameter): step
    reads back one value."""
    ps = [bp.tensor(_r(3), requires_grad=True) for _ in range(5)]
    opt = bp.optim.SGD(ps, lr=0.1)
    scaler = bp.amp.GradScaler("cpu")
    scaler.scale(sum((p * p).sum() for p in ps)).backward()
    scaler.unscale_(opt)
    found = scaler._per_optimizer_states[id(opt)]["found_inf_per_device"]
    assert list(found) == [bp.device("cpu")]
    (flag,) = found.values()
    assert isinstance(flag, bp.Tensor) and flag.shape == () and flag.dtype == np.float32 and flag.item() == 0.0


def test_scale_nested_outputs_update_new_scale_and_disabled_pass_through() -> None:
    scaler = bp.amp.GradScaler("cpu", init_scale=4.0)
    a, b = bp.tensor([1.0]), bp.tensor([2.0])
    out = scaler.scale([a, (b, [a])])
    assert isinstance(out, list) and isinstance(out[1], tuple) and out[1][1][0].tolist() == [4.0]
    assert out[1][0].tolist() == [8.0] and out[1][0].dtype == bp.float32
    assert [t.tolist() for t in scaler.scale(t for t in (a, b))] == [[4.0], [8.0]]  # a generator: a map
    with pytest.raises(ValueError, match="outputs must be a Tensor"):
        scaler.scale(3)
    scaler.update(new_scale=128.0)
    assert scaler.get_scale() == 128.0
    scaler.update(new_scale=bp.tensor(64.0))
    assert scaler.get_scale() == 64.0
    with pytest.raises(AssertionError, match="new_scale should be"):
        scaler.update(new_scale=bp.tensor([1.0, 2.0]))
    off = bp.amp.GradScaler("cpu", enabled=False)
    assert off.scale(a) is a and off.get_scale() == 1.0 and off.state_dict() == {} and not off.is_enabled()
    p = bp.tensor([1.0], requires_grad=True)
    opt = bp.optim.SGD([p], lr=1.0)
    off.scale(p.sum()).backward()
    off.unscale_(opt)
    off.step(opt)
    off.update()
    assert p.tolist() == [0.0]


def test_state_dict_round_trip_with_torchs_keys() -> None:
    torch = _torch()
    scaler = bp.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=3)
    p = bp.tensor([1.0], requires_grad=True)
    opt = bp.optim.SGD([p], lr=0.1)
    for _ in range(2):
        scaler.scale(p.sum()).backward()
        scaler.step(opt)
        scaler.update()
    sd = scaler.state_dict()
    assert sd == {
        "scale": 16.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 3,
        "_growth_tracker": 2,
    }
    assert set(sd) == set(torch.amp.GradScaler("cpu").state_dict())
    fresh = bp.amp.GradScaler("cpu")
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    theirs = torch.amp.GradScaler("cpu")
    theirs.load_state_dict(sd)  # our state dict loads into torch's scaler, and back
    assert bp.amp.GradScaler("cpu").state_dict() != sd
    back = bp.amp.GradScaler("cpu")
    back.load_state_dict(theirs.state_dict())
    assert back.state_dict() == sd
    restored = pickle.loads(pickle.dumps(scaler))
    assert restored.state_dict() == sd
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        fresh.load_state_dict({})


def _mlp() -> bp.nn.Module:
    bp.manual_seed(0)
    return bp.nn.Sequential(bp.nn.Linear(8, 32), bp.nn.ReLU(), bp.nn.Linear(32, 3))


def test_float16_autocast_training_loss_decreases() -> None:
    model = _mlp()
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    scaler = bp.amp.GradScaler("cpu")
    x = bp.tensor(_r(64, 8))
    y = bp.tensor((_r(64) > 0).astype(np.int64) + (_r(64) > 1).astype(np.int64))
    losses = []
    for _ in range(40):
        opt.zero_grad()
        with bp.autocast(device_type="cpu", dtype=bp.float16):
            out = model(x)
            loss = F.cross_entropy(out, y)
        assert out.dtype == bp.float16 and loss.dtype == bp.float32
        scaler.scale(loss).backward()
        assert all(p.grad.dtype == bp.float32 for p in model.parameters())
        scaler.unscale_(opt)
        bp.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0] and all(np.isfinite(losses))


def test_a_compiled_autocast_step_is_bitwise_eager() -> None:
    batches = [(bp.tensor(_r(16, 8)), bp.tensor(rng.integers(0, 3, 16))) for _ in range(6)]
    batches[3] = (batches[3][0] * 1e5, batches[3][1])  # float16 overflow: a skipped step and a backoff
    results = []
    for compiled in (False, True):
        model = _mlp()
        opt = bp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scaler = bp.amp.GradScaler("cpu", growth_interval=2)

        def step(x: bp.Tensor, y: bp.Tensor, model: Any = model, opt: Any = opt, scaler: Any = scaler) -> bp.Tensor:
            opt.zero_grad()
            with bp.autocast("cpu", dtype=bp.float16):
                loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            return loss

        fn = bp.compile(step) if compiled else step
        with np.errstate(over="ignore", invalid="ignore"):  # the float16 overflow is the point
            losses = [fn(x, y).item() for x, y in batches]
        results.append((losses, scaler.get_scale(), [p.detach().numpy().copy() for p in model.parameters()], fn))
    (le, se, pe, _), (lc, sc, pc, fn) = results
    assert fn.replays == len(batches) - 2, "the autocast step was not replayed"
    assert np.array_equal(np.array(le), np.array(lc), equal_nan=True) and se == sc
    assert all(np.array_equal(a, b) for a, b in zip(pe, pc))


def test_composite_functions_cast_as_a_whole_as_torchs() -> None:
    """Convolutions (with their bias), addmm/baddbmm/addbmm, cdist, trace and the margin losses take
    torch's CPU autocast dtypes (they were cast op by op before: conv with a bias came out float32)."""
    torch = pytest.importorskip("torch", reason="torch not installed: the dtype comparison needs it")
    got = {}
    for lib in (bp, torch):
        F = lib.nn.functional
        h, h2, t = lib.randn(3, 4).half(), lib.randn(3, 4).half(), lib.ones(3, 4).half()
        b1, b2 = lib.randn(2, 3, 4), lib.randn(2, 4, 5)
        x = lib.randn(2, 3, 8, 8)
        with lib.autocast("cpu", dtype=lib.float16):
            outs = {
                "conv2d": lib.nn.Conv2d(3, 4, 3)(x),
                "conv_transpose2d": lib.nn.ConvTranspose2d(3, 2, 3)(x),
                "addmm": lib.addmm(lib.randn(3, 5), lib.randn(3, 4), lib.randn(4, 5)),
                "baddbmm": lib.baddbmm(lib.randn(2, 3, 5), b1, b2),
                "addbmm": lib.addbmm(lib.randn(3, 5), b1, b2),
                "cdist": lib.cdist(h, h2),
                "trace": lib.randn(3, 3).half().trace(),
                "poisson_nll_loss": F.poisson_nll_loss(h, t),
                "hinge_embedding_loss": F.hinge_embedding_loss(h, t),
                "soft_margin_loss": F.soft_margin_loss(h, t),
                "triplet_margin_loss": F.triplet_margin_loss(h, h2, h),
                "multi_margin_loss": F.multi_margin_loss(h, lib.tensor([0, 1, 2])),
                "margin_ranking_loss": F.margin_ranking_loss(h[0], h2[0], t[0]),
            }
        got[lib] = {k: str(v.dtype).replace("torch.", "") for k, v in outs.items()}
    assert got[bp] == got[torch]


def test_a_gradscaler_subclass_overriding_unscale_grads_as_torchs() -> None:
    """A subclass written against torch's private API (labml's fp16 scaler): ``_unscale_grads_(optimizer,
    inv_scale, found_inf, allow_fp16)`` with ``_MultiDeviceReplicator`` and the ``_amp_*`` kernels."""
    from backprop.amp import grad_scaler

    seen: list[float] = []

    class Scaler(grad_scaler.GradScaler):
        def _unscale_grads_(self, optimizer: Any, inv_scale: Any, found_inf: Any, allow_fp16: bool) -> Any:
            per_device_inv = grad_scaler._MultiDeviceReplicator(inv_scale)
            per_device_found = grad_scaler._MultiDeviceReplicator(found_inf)
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            seen.append(inv_scale.item())
            dev = grads[0].device
            bp._amp_foreach_non_finite_check_and_unscale_(grads, per_device_found.get(dev), per_device_inv.get(dev))
            return per_device_found._per_device_tensors

    p = bp.tensor([1.0, 2.0], requires_grad=True)
    opt = bp.optim.SGD([p], lr=0.5)
    scaler = Scaler("cpu", init_scale=8.0, growth_interval=1)
    scaler.scale((p * p).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert seen == [0.125] and p.tolist() == [0.0, 0.0] and scaler.get_scale() == 16.0  # (grown after 1 clean step)
    p.grad = bp.tensor([float("inf"), 1.0])
    scaler.step(opt)  # (unscales through the override: the inf skips the step and backs the scale off)
    scaler.update()
    assert p.tolist() == [0.0, 0.0] and scaler.get_scale() == 8.0


def test_amp_kernels_as_torchs() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the kernels are compared with it")
    for lib in (bp, torch):
        grads = [lib.tensor([2.0, 4.0]), lib.tensor([float("nan")], dtype=lib.float16)]
        found, inv = lib.tensor(0.0), lib.tensor(0.5)
        lib._amp_foreach_non_finite_check_and_unscale_(grads[:1], found, inv)
        assert found.item() == 0.0 and grads[0].tolist() == [1.0, 2.0]
        lib._amp_foreach_non_finite_check_and_unscale_(grads[1:], found, inv)
        assert found.item() == 1.0 and grads[1].dtype == lib.float16
        scale, tracker = lib.tensor(4.0), lib.tensor(1, dtype=lib.int32)
        lib._amp_update_scale_(scale, tracker, lib.tensor(0.0), 2.0, 0.5, 2)
        assert (scale.item(), tracker.item()) == (8.0, 0)
        lib._amp_update_scale_(scale, tracker, lib.tensor(1.0), 2.0, 0.5, 2)
        assert (scale.item(), tracker.item()) == (4.0, 0)
