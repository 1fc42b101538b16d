"""The CuPy backend's Python logic on machines without a GPU, under a NumPy-backed stand-in for CuPy.

``tests/cupy_standin`` is a fake ``cupy``/``cupyx`` (test-only, never shipped) whose arrays are
their own type, refuse implicit conversion to NumPy, remember their device, count host read-backs,
and run each fused ``ElementwiseKernel`` body through a NumPy interpreter of its C statements. Here
the op table, the optimizers and LM training steps run on ``device="cuda"`` under it and are
compared with the NumPy backend; a training step must not read device memory back to the host.

What this catches: wrong CuPy names, NumPy-only calls on device arrays (``np.asarray``, scipy,
NumPy scalars where CuPy returns 0-d arrays), device mix-ups, a fused kernel's arguments, type
parameters (``T``) and formula, dtype surprises, host synchronisation in the hot loop, the memory
and device bookkeeping of ``bp.cuda``.

What it cannot catch: anything about real kernels (compilation: see ``test_kernel_compile.py``;
CUDA math precision, atomics, races, launch configuration), CuPy behaviour the stand-in models
loosely (which NumPy functions CuPy lacks, type promotion inside CuPy's own kernels, copy vs view
rules), memory use and fragmentation of the real pool, streams and asynchrony, and timing. Those
need ``tests/test_cuda.py`` on a GPU (``bench/gpu_run.sh``).
"""

from __future__ import annotations

import numpy as np
import pytest
from cupy_standin import use_standin
from test_ops_gradcheck import CASES, _call, _make

import backprop as bp
from backprop import registry
from backprop.autograd.function import apply


@pytest.fixture(scope="module")
def cp():
    """The stand-in ``cupy`` module, serving ``device="cuda"`` for this module's tests only."""
    with use_standin() as module:
        yield module


@pytest.fixture
def reads(cp):
    """The stand-in's host read-back counter, reset for the test."""
    cp.HOST_READS.clear()
    cp.HOST_READS["count"] = 0
    return cp.HOST_READS


def _rows() -> list:
    return [pytest.param(name, i, id=f"{name}-{i}") for name, cases in CASES.items() for i, _ in enumerate(cases)]


def _run_row(name: str, i: int, dev: str) -> tuple:
    case = CASES[name][i]
    inputs = [_make(m, np.random.default_rng(7), dev) for m in case.inputs]
    if "index" in case.attrs:  # index arrays live on the device of the tensor they index
        attrs = dict(case.attrs)
        attrs["index"] = tuple(
            bp.device(dev).backend.from_host(a) if isinstance(a, np.ndarray) else a for a in case.attrs["index"]
        )
        out = apply(registry.get(name), *inputs, **attrs)
    else:
        out = _call(name, case, inputs)
    grads = []
    if out.requires_grad and case.grad:
        diff = [t for t in inputs if t.requires_grad]
        grads = bp.autograd.grad(out.sum(), diff, allow_unused=True)
    return out, [None if g is None else (g.to_dense() if g.is_sparse else g).detach().numpy() for g in grads]


@pytest.mark.parametrize(("name", "i"), _rows())
def test_op_table_on_standin_cuda_matches_numpy(cp, name: str, i: int) -> None:
    """Forward and gradients of every op-table row on the stand-in "cuda" equal the NumPy results."""
    out_cpu, g_cpu = _run_row(name, i, "cpu")
    out_gpu, g_gpu = _run_row(name, i, "cuda")
    assert out_gpu.device == "cuda:0" and isinstance(out_gpu._data, cp.ndarray)
    assert out_gpu.dtype == out_cpu.dtype, f"{name}: dtype {out_gpu.dtype} on cuda, {out_cpu.dtype} on cpu"
    np.testing.assert_allclose(out_gpu.detach().numpy(), out_cpu.detach().numpy(), rtol=1e-10, atol=1e-12)
    for gc, gg in zip(g_cpu, g_gpu):
        if gc is not None:
            assert gg is not None and gg.dtype == gc.dtype
            np.testing.assert_allclose(gg, gc, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- optimizers and LM training steps

OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 1e-1}),
]


@pytest.mark.parametrize(("name", "kw"), OPTIMIZERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIMIZERS)])
def test_optimizers_on_standin_cuda_match_numpy(cp, name: str, kw: dict) -> None:
    """Five steps of each optimizer (fused CuPy kernels where there are some) equal NumPy's, in float64."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((6, 5))
    grads = [rng.standard_normal((6, 5)) for _ in range(5)]
    out = {}
    for dev in ("cpu", "cuda"):
        p = bp.nn.Parameter(bp.tensor(w0, device=dev))
        opt = getattr(bp.optim, name)([p], **kw)
        for g in grads:
            p.grad = bp.tensor(g, device=dev)
            opt.step()
        out[dev] = p.detach().numpy()
    np.testing.assert_allclose(out["cuda"], out["cpu"], rtol=1e-10, atol=1e-12)


def _lm_steps(dev: str, opt_name: str, steps: int) -> tuple[list, object]:
    from backprop.lm import FeedForwardLM

    bp.manual_seed(0)
    model = FeedForwardLM(40, 3, 8, 16, activation="tanh", dropout=0.0).to(dev)
    opt = getattr(bp.optim, opt_name)(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        ctx = bp.tensor(rng.integers(0, 40, (32, 3)), device=dev)
        tgt = bp.tensor(rng.integers(0, 40, 32), device=dev)
        loss = bp.nn.functional.cross_entropy(model(ctx), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss)
    return [loss.item() for loss in losses], model


@pytest.mark.parametrize("opt_name", ["Adam", "SGD"])
def test_lm_training_steps_on_standin_cuda_match_numpy(cp, opt_name: str) -> None:
    """A few FeedForwardLM steps (embedding, linear, tanh, fused cross-entropy, optimizer) equal NumPy's."""
    cpu_losses, cpu_model = _lm_steps("cpu", opt_name, 4)
    gpu_losses, gpu_model = _lm_steps("cuda", opt_name, 4)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5)
    for (k, a), (_, b) in zip(cpu_model.state_dict().items(), gpu_model.state_dict().items()):
        assert b.device == "cuda:0", k
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


# ---------------------------------------------------------------- no host synchronisation in a training step


@pytest.mark.parametrize("opt_name", ["Adam", "AdamW", "SGD", "RMSprop", "Adagrad"])
def test_training_step_never_reads_device_memory_back(cp, reads, opt_name: str) -> None:
    """Forward, cross-entropy, backward and the optimizer step read nothing back to the host."""
    from backprop.lm import FeedForwardLM

    model = FeedForwardLM(40, 3, 8, 16, dropout=0.1).to("cuda")
    kw = {"momentum": 0.9} if opt_name == "SGD" else {}
    opt = getattr(bp.optim, opt_name)(model.parameters(), lr=1e-2, **kw)
    ctx = bp.tensor(np.random.default_rng(0).integers(0, 40, (16, 3)), device="cuda")
    tgt = bp.tensor(np.random.default_rng(1).integers(0, 40, 16), device="cuda")
    reads.clear()
    reads["count"] = 0
    for _ in range(3):
        loss = bp.nn.functional.cross_entropy(model(ctx), tgt)
        opt.zero_grad()
        loss.backward()
        bp.nn.utils.clip_grad_norm_(model.parameters(), 0.5)  # scales by a device scalar: no read
        opt.step()
    assert reads == {"count": 0}, f"host read-backs in the training loop: {reads}"
    assert np.isfinite(loss.item()) and reads["count"] > 0  # logging syncs (and reads the deferred range flags)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: bp.nn.functional.cross_entropy(bp.zeros(3, 4, device="cuda"), t), r"cross_entropy: target 7 is"),
        (lambda t: bp.nn.functional.nll_loss(bp.zeros(3, 4, device="cuda"), t), r"nll_loss: target 7 is"),
        (lambda t: bp.nn.functional.embedding(t, bp.zeros(5, 2, device="cuda")), r"embedding: id 7 is out of range"),
        (lambda t: bp.nn.functional.one_hot(t, 4), r"one_hot: class value 7 is out of range"),
    ],
    ids=["cross_entropy", "nll_loss", "embedding", "one_hot"],
)
def test_out_of_range_ids_raise_at_the_next_host_read(cp, reads, call, message: str) -> None:
    """On the device the range check is deferred: no read-back in the op, a clear error at the next one."""
    from backprop.backends import cupy_backend

    t = bp.tensor([1, 7, 2], device="cuda")
    reads.clear()
    reads["count"] = 0
    out = call(t)  # clamped on the device: no error, no sync yet
    assert reads["count"] == 0
    with pytest.raises(IndexError, match=message + r".*checked on the device"):
        out.sum().item()
    assert not cupy_backend._PENDING
    out.sum().item()  # reported once
    with pytest.raises(IndexError, match=message.split(":")[0]):
        call(bp.tensor([1, 7, 2]).to("cuda"))
        bp.cuda.synchronize()


@pytest.mark.parametrize("loss_name", ["nll_loss", "embedding"])
def test_a_replayed_step_defers_the_range_check_too(cp, reads, loss_name: str) -> None:
    """A bp.compile replay on the device runs the recorded deferred check: a bad id raises at the next read."""
    emb = bp.nn.Embedding(5, 4).to("cuda")

    @bp.compile
    def step(ids: bp.Tensor, tgt: bp.Tensor) -> bp.Tensor:
        emb.zero_grad()
        loss = bp.nn.functional.nll_loss(emb(ids).log_softmax(1), tgt)
        loss.backward()
        return loss.detach()

    good, good_tgt = bp.tensor([1, 2, 3], device="cuda"), bp.tensor([1, 2, 3], device="cuda")
    for _ in range(3):
        step(good, good_tgt)
    bad = bp.tensor([1, 7, 2], device="cuda")
    reads.clear()
    reads["count"] = 0
    out = step(bad, good_tgt) if loss_name == "embedding" else step(good, bad)
    assert step.replays == 2 and reads["count"] == 0
    match = "embedding: id 7 is out of range" if loss_name == "embedding" else "nll_loss: target 7 is"
    with pytest.raises(IndexError, match=match + r".*checked on the device"):
        out.item()


def test_cpu_keeps_the_eager_range_check() -> None:
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of range"):
        bp.nn.functional.cross_entropy(bp.zeros(3, 4), bp.tensor([1, 7, 2]))


# ---------------------------------------------------------------- what the stand-in catches


def test_standin_refuses_numpy_only_calls_and_device_mixups(cp) -> None:
    """Device arrays are not NumPy arrays: implicit conversion, NumPy operands and mixed devices raise."""
    x = bp.ones(3, device="cuda")
    assert not isinstance(x._data, np.ndarray)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(x._data)
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.add(x._data, np.ones(3))
    with pytest.raises(RuntimeError, match=r"same device.*cpu and cuda:0|same device.*cuda:0 and cpu"):
        bp.ones(3) + x
    assert type(cp.sum(x._data)) is cp.ndarray  # 0-d device arrays, never NumPy scalars, as CuPy


def test_fused_kernel_type_parameters_are_checked(cp) -> None:
    """A kernel bound to arrays of two dtypes for one ``T`` fails as CuPy does ("Type is mismatched")."""
    from backprop.backends import cupy_kernels

    k = cupy_kernels.kernel("bp_tanh_bwd")
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(cp.ones(3, dtype=np.float32), cp.ones(3, dtype=np.float64))


# ---------------------------------------------------------------- bp.cuda housekeeping


def test_memory_statistics_follow_the_pool(cp) -> None:
    """memory_allocated/max_memory_allocated/reset_peak_memory_stats/memory_reserved/empty_cache."""
    import gc

    gc.collect()
    bp.cuda.empty_cache()
    base = bp.cuda.memory_allocated()
    x = bp.zeros(1024, 256, device="cuda")  # 1 MiB of float32
    assert bp.cuda.memory_allocated() - base == 1 << 20
    bp.cuda.reset_peak_memory_stats()
    y = x * 2
    assert bp.cuda.max_memory_allocated() >= base + (2 << 20)
    del x, y
    gc.collect()
    assert bp.cuda.memory_allocated() == base
    assert bp.cuda.memory_reserved() >= base + (2 << 20)  # the pool keeps freed blocks cached
    assert bp.cuda.max_memory_allocated("cuda:0") >= base + (2 << 20)
    bp.cuda.empty_cache()
    assert bp.cuda.memory_reserved() == base
    bp.cuda.reset_peak_memory_stats()
    assert bp.cuda.max_memory_allocated() == base
    bp.cuda.synchronize()
    assert cp.cuda.SYNCS


def test_out_of_memory_frees_the_cache_retries_then_names_the_sizes(cp) -> None:
    """A request that fits once cached blocks are freed succeeds; one that never fits names the sizes."""
    import gc

    gc.collect()
    pool = cp.get_default_memory_pool()
    bp.cuda.empty_cache()
    pool.set_limit(size=pool.used_bytes() + (4 << 20))
    try:
        x = bp.zeros(3 << 20, dtype=bp.uint8, device="cuda")
        del x
        gc.collect()  # 3 MiB now cached: a 2 MiB request fits only once the cache is freed
        y = bp.zeros(2 << 20, dtype=bp.uint8, device="cuda")
        assert bp.cuda.memory_reserved() <= pool.get_limit()
        with pytest.raises(bp.cuda.OutOfMemoryError, match=r"tried to allocate 8\.0 MiB; the device has .* free"):
            bp.zeros(8 << 20, dtype=bp.uint8, device="cuda")
        del y
    finally:
        pool.set_limit(size=0)


def test_cuda_n_is_honoured_by_forward_kernels_and_optimizer_steps() -> None:
    """On a second device, creation, forward kernels and (fused) optimizer steps run with it current."""
    with use_standin(device_count=2):
        assert bp.cuda.device_count() == 2
        w = bp.nn.Parameter(bp.randn(4, 3, device="cuda:1"))
        x = bp.randn(5, 3, device="cuda:1")
        assert w._data.device.id == 1
        opt = bp.optim.Adam([w], lr=1e-2)
        loss = bp.nn.functional.cross_entropy((x @ w.T).sigmoid(), bp.tensor([0, 1, 2, 3, 0], device="cuda:1"))
        assert loss._data.device.id == 1
        w.grad = bp.tensor(np.ones((4, 3), np.float32), device="cuda:1")
        opt.step()
        assert w.device == "cuda:1" and w._data.device.id == 1 and w.grad._data.device.id == 1
        assert bp.cuda.memory_allocated("cuda:1") > 0
        moved = x.to("cuda:0")
        assert moved._data.device.id == 0 and np.allclose(moved.detach().numpy(), x.detach().numpy())


def test_backward_on_cuda_n_runs_with_that_device_current() -> None:
    """The backward pass of a graph on cuda:1 runs with device 1 current (its gradients live there)."""
    with use_standin(device_count=2):
        x = bp.randn(5, 3, device="cuda:1", requires_grad=True)
        (x * 2).sum().backward()
        assert x.grad._data.device.id == 1


@pytest.mark.parametrize("root", ["cuda:0", "cuda:1"])
def test_one_backward_through_a_model_split_over_two_gpus(root: str) -> None:
    """Pipeline model parallelism (torch's model-parallel tutorial): layers on cuda:0 and cuda:1, the
    activations moved between them, one backward. Each rule runs with its node's device current (the
    stand-in refuses an array used while another device is current, as CuPy), gradients summed on their
    own device, and each parameter's ``.grad`` on its parameter's device, equal to the CPU run's."""
    other = "cuda:1" if root == "cuda:0" else "cuda:0"

    def run(dev_a: str, dev_b: str) -> tuple:
        bp.manual_seed(0)
        l0, l1 = bp.nn.Linear(3, 4).to(dev_a), bp.nn.Linear(4, 2).to(dev_b)
        x = bp.tensor(np.arange(15, dtype=np.float32).reshape(5, 3) / 10, device=dev_a)
        h = l0(x).tanh()  # h feeds both devices: its gradient is the sum of two paths
        loss = l1(h.to(dev_b)).pow(2).sum().to(root) + (h.sum() * 0.5).to(root)
        loss.backward()
        return l0, l1

    with use_standin(device_count=2):
        l0, l1 = run(other, root)
        ref0, ref1 = run("cpu", "cpu")
        for p, ref in ((l0.weight, ref0.weight), (l0.bias, ref0.bias), (l1.weight, ref1.weight), (l1.bias, ref1.bias)):
            assert p.grad.device == p.device and p.grad._data.device.id == p.device.index
            np.testing.assert_allclose(p.grad.cpu().numpy(), ref.grad.numpy(), rtol=1e-6)


def test_factories_on_cuda_n_allocate_there() -> None:
    """Factories asked for cuda:1 allocate on device 1, whatever device is current."""
    with use_standin(device_count=2):
        for t in (
            bp.zeros(2, device="cuda:1"),
            bp.ones(2, device="cuda:1"),
            bp.full((2,), 3.0, device="cuda:1"),
            bp.arange(3, device="cuda:1"),
            bp.eye(2, device="cuda:1"),
            bp.randint(0, 5, (3,), device="cuda:1"),
            bp.randn(2, device="cuda:1"),
            bp.zeros_like(bp.ones(2, device="cuda:1")),
        ):
            assert t._data.device.id == 1, t


def test_train_lm_command_runs_and_resumes_on_standin_cuda(cp, tmp_path, capsys) -> None:
    """``backprop train-lm --device cuda`` trains, evaluates, checkpoints and resumes under the stand-in."""
    import json

    from backprop import cli

    out = tmp_path / "run"
    text = "the cat sat on the mat\nthe dog ate the bone\na cat saw a dog\n" * 20
    data = []
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(text)
        data += [f"--{split}", str(tmp_path / f"{split}.txt")]
    args = ["train-lm", *data, "--device", "cuda", "--max-steps", "4", "--epochs", "1", "--no-ngram", "--no-progress"]
    assert cli.main([*args, "--embed-dim", "8", "--hidden-dim", "16", "--batch-size", "16", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4
    assert cli.main(["train-lm", "--resume", str(out), "--max-steps", "6", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 6


def test_current_device_set_device_and_synchronize_by_name() -> None:
    with use_standin(device_count=2) as cp:
        assert bp.cuda.current_device() == 0
        bp.cuda.set_device("cuda:1")
        assert bp.cuda.current_device() == 1
        bp.cuda.set_device(0)
        bp.cuda.synchronize("cuda:1")
        assert cp.cuda.SYNCS.get(1) == 1
        with pytest.raises(ValueError, match="expected a CUDA device"):
            bp.cuda.memory_allocated("cpu")


def test_clip_grad_norm_on_standin_cuda_matches_numpy(cp) -> None:
    """The device path of clip_grad_norm_ (a clamped device coefficient) gives the CPU path's values."""
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    results = {}
    for dev in ("cpu", "cuda"):
        ps = [bp.nn.Parameter(bp.zeros(*a.shape, dtype=bp.float64, device=dev)) for a in arrays]
        for p_, a in zip(ps, arrays):
            p_.grad = bp.tensor(a, device=dev)
        total = bp.nn.utils.clip_grad_norm_(ps, 0.5)
        results[dev] = [float(total)] + [p_.grad.numpy() for p_ in ps]
    assert results["cuda"][0] == pytest.approx(results["cpu"][0])
    for a, b in zip(results["cuda"][1:], results["cpu"][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_compiled_lm_step_on_standin_cuda_is_eager_and_reads_nothing_back(cp, reads) -> None:
    """``bp.compile`` on a device: the replay equals eager execution on the same device bit for bit
    (dropout and the deferred range checks included) and reads nothing back to the host."""
    from backprop.lm import FeedForwardLM

    rng = np.random.default_rng(4)
    batches = [
        (bp.tensor(rng.integers(0, 40, (16, 3)), device="cuda"), bp.tensor(rng.integers(0, 40, 16), device="cuda"))
        for _ in range(8)
    ]
    runs = []
    for compiled in (False, True):
        bp.manual_seed(2)
        bp.cuda.manual_seed(2)
        model = FeedForwardLM(40, 3, 8, 16, dropout=0.2).to("cuda")
        opt = bp.optim.Adam(model.parameters(), lr=1e-2)

        def step(c: bp.Tensor, t: bp.Tensor, model=model, opt=opt) -> bp.Tensor:
            opt.zero_grad()
            loss = bp.nn.functional.cross_entropy(model(c), t)
            loss.backward()
            bp.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            return loss

        fn = bp.compile(step) if compiled else step
        losses = [fn(c, t) for c, t in batches[:2]]
        reads.clear()
        reads["count"] = 0
        losses += [fn(c, t) for c, t in batches[2:]]
        assert reads == {"count": 0}, f"host read-backs while replaying: {reads}"
        if compiled:
            assert fn.replays == 6
        runs.append(([loss.item() for loss in losses], model))
    (l1, m1), (l2, m2) = runs
    assert l1 == l2
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy()), k
