"""CuPy backend: fused kernels against the generic path, training on the GPU, flat GPU memory.

Every test runs twice: on a real CUDA device ("gpu", skipped with the reason where none is usable)
and on the NumPy-backed CuPy stand-in of ``tests/cupy_standin`` ("standin", everywhere), which
checks the Python side (arguments, guards, type parameters, kernel formulas) but not real kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop import registry

_GPU_SKIP = None if bp.cuda.is_available() else f"CUDA not usable here: {bp.cuda.unavailable_reason()}"


@pytest.fixture(
    scope="module",
    autouse=True,
    params=[pytest.param("gpu", marks=pytest.mark.skipif(_GPU_SKIP is not None, reason=str(_GPU_SKIP))), "standin"],
)
def cuda_kind(request: pytest.FixtureRequest):
    """The real CuPy ("gpu"), or "standin": the NumPy-backed stand-in serves device "cuda" for the module."""
    if request.param == "gpu":
        yield "gpu"
        return
    from cupy_standin import use_standin

    with use_standin():
        yield "standin"


def _cuda_backend():
    from backprop.backends import get_backend

    return get_backend("cuda")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("name", "attrs"),
    [
        ("sigmoid", {}),
        ("silu", {}),
        ("gelu", {"approximate": "none"}),
        ("gelu", {"approximate": "tanh"}),
        ("gelu_grad", {}),
    ],
)
def test_fused_forward_equals_generic(name: str, attrs: dict, dtype: str) -> None:
    import cupy

    x = cupy.asarray(np.linspace(-30, 30, 1001).astype(dtype))
    op = registry.get(name)
    fused = op.kernel(_cuda_backend())(x, **attrs)
    generic = op.forward(cupy, x, **attrs)
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(cupy.asnumpy(fused), cupy.asnumpy(generic), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_fused_activation_backward_equals_cpu(name: str) -> None:
    a = np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32)
    grads = {}
    for dev in ("cpu", "cuda"):
        x = bp.tensor(a, device=dev, requires_grad=True)
        getattr(x, name)().sum().backward()
        grads[dev] = x.grad.numpy()
    np.testing.assert_allclose(grads["cuda"], grads["cpu"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kw", [{}, {"reduction": "sum"}, {"label_smoothing": 0.1, "ignore_index": 2}, {"reduction": "none"}]
)
def test_fused_cross_entropy_backward_equals_cpu(kw: dict) -> None:
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((50, 17)).astype(np.float32), rng.integers(0, 17, 50)
    grads = {}
    for dev in ("cpu", "cuda"):
        x = bp.tensor(z, device=dev, requires_grad=True)
        F.cross_entropy(x, bp.tensor(t, device=dev), **kw).sum().backward()
        grads[dev] = x.grad.numpy()
    np.testing.assert_allclose(grads["cuda"], grads["cpu"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (bp.optim.Adam, {"lr": 1e-2}),
        (bp.optim.AdamW, {"lr": 1e-2}),
        (bp.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
    ],
)
def test_fused_optimizer_updates_equal_cpu(cls, kw) -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((40, 30))
    grads = [rng.standard_normal((40, 30)) for _ in range(5)]
    out = {}
    for dev in ("cpu", "cuda"):
        p = bp.nn.Parameter(bp.tensor(w0, device=dev))
        opt = cls([p], **kw)
        for g in grads:
            p.grad = bp.tensor(g, device=dev)
            opt.step()
        out[dev] = p.detach().numpy()
    np.testing.assert_allclose(out["cuda"], out["cpu"], rtol=1e-10)


def test_lm_trains_on_cuda_with_flat_gpu_memory(cuda_kind: str) -> None:
    import cupy

    from backprop.lm import FeedForwardLM

    bp.manual_seed(0)
    model = FeedForwardLM(1000, 3, 32, 64).to("cuda")
    opt = bp.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    ctx = bp.tensor(rng.integers(0, 1000, (128, 3)), device="cuda")
    tgt = bp.tensor(rng.integers(0, 1000, 128), device="cuda")
    pool = cupy.get_default_memory_pool()
    first = None
    for step in range(1000 if cuda_kind == "gpu" else 60):
        loss = F.cross_entropy(model(ctx), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 10:
            bp.cuda.synchronize()
            first = pool.used_bytes()
    bp.cuda.synchronize()
    assert pool.used_bytes() <= first * 1.05 + (1 << 20)
    if cuda_kind == "gpu":
        assert loss.item() < 3.0  # memorises one batch


def test_tensor_moves_between_devices_with_gradients() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = (x.to("cuda") * 3).sum()
    y.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [3.0, 3.0]
