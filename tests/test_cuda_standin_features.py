"""Features whose CUDA paths had never run (``_foreach_*``, CSR/CSC sparse products through
``cupyx.scipy.sparse``, GradScaler and its kernels, ``clip_grad_norm_``'s per-gradient norms, the
TransformerEncoder nested-tensor inference path, copies and pickles of device tensors, ``load``'s
``map_location``/``weights_only``, resumed LR schedulers and global optimizer hooks, the losses' dtype checks)
on ``device="cuda"`` under the NumPy-backed CuPy stand-in (see ``tests/test_cuda_standin.py`` for what it does
and does not model), compared with ``device="cpu"``: values, dtypes, shapes and devices; training-step code
must not read device memory back to the host where the CPU path does not need to.

Reads that stay by design: GradScaler.step reads one flag (torch's does too), the nested-tensor path of
TransformerEncoder reads whether the padding is left-aligned (torch's ``mask_check``), building a cupyx sparse
matrix reads ``indptr``'s two ends (CuPy's own constructor), ``_foreach_addcmul`` with a tensor of scalars
reads the scalars (torch's copies them to the CPU).
"""

from __future__ import annotations

import copy
import io
import pickle

import numpy as np
import pytest
from cupy_standin import use_standin

import backprop as bp

F = bp.nn.functional


@pytest.fixture(scope="module")
def cp():
    with use_standin() as module:
        yield module


@pytest.fixture
def reads(cp):
    cp.HOST_READS.clear()
    cp.HOST_READS["count"] = 0
    return cp.HOST_READS


def _reset(reads) -> None:
    reads.clear()
    reads["count"] = 0


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, bp.Tensor) else np.asarray(t)


def _same(cpu, gpu, rtol=1e-12, atol=1e-12, device="cuda:0") -> None:
    """``gpu`` (a tensor or a (nested) list/tuple of them) equals ``cpu``: values, dtype, shape, device."""
    if isinstance(cpu, (list, tuple)):
        assert isinstance(gpu, (list, tuple)) and len(cpu) == len(gpu)
        for a, b in zip(cpu, gpu):
            _same(a, b, rtol, atol, device)
        return
    assert isinstance(gpu, bp.Tensor), type(gpu)
    assert str(gpu.device) == device, gpu.device
    assert gpu.dtype == cpu.dtype, (gpu.dtype, cpu.dtype)
    assert tuple(gpu.shape) == tuple(cpu.shape)
    np.testing.assert_allclose(_np(gpu), _np(cpu), rtol=rtol, atol=atol)


def _tol(dtype) -> dict:
    return {"rtol": 1e-6, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-12}


RNG = np.random.default_rng(0)
A = [RNG.standard_normal((3, 4)) + 3.0, RNG.standard_normal(5) + 3.0, RNG.standard_normal((2, 2, 2)) + 3.0]
B = [RNG.standard_normal(a.shape) + 3.0 for a in A]
C = [RNG.uniform(0.5, 2.0, a.shape) for a in A]


def _list(arrays, dev, dtype, grad=False):
    return [bp.tensor(a, dtype=getattr(bp, dtype), device=dev, requires_grad=grad) for a in arrays]


# ---------------------------------------------------------------------------------------------- _foreach_*

FOREACH = [
    ("exp", lambda xs, ys, zs, dev: bp._foreach_exp(xs)),
    ("sqrt", lambda xs, ys, zs, dev: bp._foreach_sqrt(xs)),
    ("sigmoid", lambda xs, ys, zs, dev: bp._foreach_sigmoid(xs)),
    ("erf", lambda xs, ys, zs, dev: bp._foreach_erf(xs)),
    ("lgamma", lambda xs, ys, zs, dev: bp._foreach_lgamma(xs)),
    ("add-scalar", lambda xs, ys, zs, dev: bp._foreach_add(xs, 2.5)),
    ("add-list-alpha", lambda xs, ys, zs, dev: bp._foreach_add(xs, ys, alpha=0.5)),
    ("sub-scalarlist", lambda xs, ys, zs, dev: bp._foreach_sub(xs, [1.0, 2.0, 3.0])),
    ("mul-0d", lambda xs, ys, zs, dev: bp._foreach_mul(xs, bp.tensor(0.75, dtype=xs[0].dtype, device=dev))),
    ("div-list", lambda xs, ys, zs, dev: bp._foreach_div(xs, zs)),
    ("pow-scalar", lambda xs, ys, zs, dev: bp._foreach_pow(xs, 1.5)),
    ("pow-rscalar", lambda xs, ys, zs, dev: bp._foreach_pow(2.0, zs)),
    ("maximum", lambda xs, ys, zs, dev: bp._foreach_maximum(xs, ys)),
    ("clamp_min", lambda xs, ys, zs, dev: bp._foreach_clamp_min(xs, 3.0)),
    ("addcmul", lambda xs, ys, zs, dev: bp._foreach_addcmul(xs, ys, zs, 0.25)),
    ("addcdiv-list", lambda xs, ys, zs, dev: bp._foreach_addcdiv(xs, ys, zs, [0.1, 0.2, 0.3])),
    ("lerp", lambda xs, ys, zs, dev: bp._foreach_lerp(xs, ys, 0.3)),
    ("lerp-list", lambda xs, ys, zs, dev: bp._foreach_lerp(xs, ys, zs)),
    ("norm", lambda xs, ys, zs, dev: bp._foreach_norm(xs)),
    ("norm-inf", lambda xs, ys, zs, dev: bp._foreach_norm(xs, float("inf"))),
    ("norm-1", lambda xs, ys, zs, dev: bp._foreach_norm(xs, 1)),
    ("max", lambda xs, ys, zs, dev: bp._foreach_max(xs)),
    ("clone", lambda xs, ys, zs, dev: bp._foreach_clone(xs)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "fn"), FOREACH, ids=[n for n, _ in FOREACH])
def test_foreach_out_of_place_forward_and_gradients(cp, reads, name, fn, dtype) -> None:
    """Each out-of-place ``_foreach_*`` on cuda equals the CPU's (values, dtypes, devices, gradients) and reads
    nothing back to the host."""
    res = {}
    for dev in ("cpu", "cuda"):
        xs, ys, zs = _list(A, dev, dtype, True), _list(B, dev, dtype), _list(C, dev, dtype, True)
        _reset(reads)
        out = fn(xs, ys, zs, dev)
        assert isinstance(out, tuple) and len(out) == 3
        diff = [x for x in xs + zs if x.requires_grad]
        grads = bp.autograd.grad(sum(o.sum() for o in out), diff, allow_unused=True)
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
        res[dev] = (list(out), [g for g in grads if g is not None])
    _same(res["cpu"][0], res["cuda"][0], **_tol(dtype))
    _same(res["cpu"][1], res["cuda"][1], **_tol(dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_foreach_in_place_forms_update_the_device_buffers(cp, reads, dtype) -> None:
    """An EMA update and an Adam-like step written with in-place ``_foreach_*_`` (what EMA helpers and custom
    optimizers do every step) give the CPU's values, keep each tensor's device buffer, read nothing back."""
    res = {}
    for dev in ("cpu", "cuda"):
        ema, params, grads = _list(A, dev, dtype), _list(B, dev, dtype), _list(C, dev, dtype)
        exp_avg, exp_sq = list(bp._foreach_clone(grads)), list(bp._foreach_mul(grads, grads))
        buffers = [t._data for t in ema + params]
        _reset(reads)
        for _ in range(3):
            assert bp._foreach_mul_(ema, 0.9) is ema
            bp._foreach_add_(ema, params, alpha=0.1)
            bp._foreach_lerp_(exp_avg, grads, 0.1)
            bp._foreach_mul_(exp_sq, 0.999)
            bp._foreach_addcmul_(exp_sq, grads, grads, 0.001)
            denom = bp._foreach_sqrt(exp_sq)
            bp._foreach_add_(denom, 1e-8)
            bp._foreach_addcdiv_(params, exp_avg, denom, -1e-2)
            bp._foreach_maximum_(params, -1.0)
            bp._foreach_clamp_max_(params, 4.0)
            bp._foreach_sub_(ema, [0.01, 0.02, 0.03])
            bp._foreach_div_(ema, bp.tensor(1.01, dtype=ema[0].dtype, device=dev))
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
            assert all(t._data is b for t, b in zip(ema + params, buffers))
            assert all(isinstance(t._data, cp.ndarray) for t in ema + params + exp_avg + exp_sq)
        copies = bp._foreach_clone(params)
        bp._foreach_zero_(copies)
        bp._foreach_copy_(copies, ema)
        res[dev] = [*ema, *params, *exp_avg, *exp_sq, *copies]
    _same(res["cpu"], res["cuda"], **_tol(dtype))


def test_foreach_addcmul_with_a_tensor_of_scalars_reads_them_as_torch(cp, reads) -> None:
    """``value`` given as a 1-d tensor of one scalar per tensor: torch copies it to the host; so does backprop
    (one read), and the values match the CPU's."""
    res = {}
    for dev in ("cpu", "cuda"):
        xs, ys, zs = _list(A, dev, "float64"), _list(B, dev, "float64"), _list(C, dev, "float64")
        scalars = bp.tensor([0.5, -1.0, 2.0], dtype=bp.float64, device=dev)
        _reset(reads)
        res[dev] = list(bp._foreach_addcmul(xs, ys, zs, scalars))
        if dev == "cuda":
            assert reads["count"] <= 1, dict(reads)
    _same(res["cpu"], res["cuda"])


def test_foreach_errors_are_the_cpu_errors(cp) -> None:
    for dev in ("cpu", "cuda"):
        xs = _list(A, dev, "float64")
        with pytest.raises(RuntimeError, match="scalar tensor expected to be 0 dim but it has 1 dimensions"):
            bp._foreach_mul(xs, bp.ones(2, device=dev))
        with pytest.raises(RuntimeError, match="Tensor lists must have the same number of tensors, got 3 and 2"):
            bp._foreach_add(xs, xs[:2])
        with pytest.raises(RuntimeError, match="_foreach_max cannot compute the maximum of an empty tensor"):
            bp._foreach_max([bp.zeros(0, device=dev)])


def test_foreach_across_devices_refuses_the_mix(cp) -> None:
    """A list of cuda tensors with a CPU operand list fails as any binary op across devices does."""
    with pytest.raises(RuntimeError, match="same device"):
        bp._foreach_add(_list(A, "cuda", "float64"), _list(B, "cpu", "float64"))


# ---------------------------------------------------------------------------------------------- sparse CSR/CSC

DENSE = np.array([[0.0, 1.5, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.5, 0.0]])


def _csr(dev, dtype="float64", layout="csr", grad=True):
    s = bp.tensor(DENSE, dtype=getattr(bp, dtype), device=dev)
    s = s.to_sparse_csr() if layout == "csr" else s.to_sparse_csc()
    if grad:
        vals = s.values().detach().requires_grad_(True)
        s = (bp.sparse_csr_tensor if layout == "csr" else bp.sparse_csc_tensor)(
            s.crow_indices() if layout == "csr" else s.ccol_indices(),
            s.col_indices() if layout == "csr" else s.row_indices(),
            vals,
            s.shape,
        )
        return s, vals
    return s, None


def test_sparse_compressed_builds_and_converts_on_the_device(cp) -> None:
    """Building from device indices, to_dense, layout conversions, t(), values/indices: the CPU's results,
    on cuda."""
    for layout in ("csr", "csc"):
        cpu, _ = _csr("cpu", layout=layout, grad=False)
        gpu, _ = _csr("cuda", layout=layout, grad=False)
        assert gpu.device == "cuda:0" and gpu.layout == cpu.layout
        _same(cpu.to_dense(), gpu.to_dense())
        _same(cpu.values(), gpu.values())
        for name in ("crow_indices", "col_indices") if layout == "csr" else ("ccol_indices", "row_indices"):
            _same(getattr(cpu, name)(), getattr(gpu, name)())
        _same(cpu.t().to_dense(), gpu.t().to_dense())
        _same(cpu.to_sparse_coo().to_dense(), gpu.to_sparse_coo().to_dense())
        other = cpu.to_sparse_csc() if layout == "csr" else cpu.to_sparse_csr()
        other_g = gpu.to_sparse_csc() if layout == "csr" else gpu.to_sparse_csr()
        _same(other.to_dense(), other_g.to_dense())
        _same((cpu * 2.0).to_dense(), (gpu * 2.0).to_dense())
        if layout == "csr":  # (CSC + CSC refuses, as torch)
            _same((cpu + cpu).to_dense(), (gpu + gpu).to_dense())
        _same(cpu.sum(), gpu.sum())
    moved = _csr("cpu", grad=False)[0].to("cuda")
    assert moved.device == "cuda:0" and isinstance(moved.values()._data, cp.ndarray)
    assert isinstance(moved.crow_indices()._data, cp.ndarray)
    _same(_csr("cpu", grad=False)[0].to_dense(), moved.to_dense())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_sparse_compressed_products_and_gradients(cp, reads, layout, dtype) -> None:
    """S @ D (cupyx.scipy.sparse on cuda) and D^T @ S^T, with the gradients of the values and of D: the CPU's.
    A forward and backward reads back only what CuPy's sparse constructor reads (indptr's ends, one read per
    matrix built)."""
    d0 = RNG.standard_normal((4, 3))
    res = {}
    for dev in ("cpu", "cuda"):
        s, vals = _csr(dev, dtype, layout)
        d = bp.tensor(d0, dtype=getattr(bp, dtype), device=dev, requires_grad=True)
        _reset(reads)
        y = s @ d
        v = s @ d[:, 0].detach()
        g = bp.autograd.grad((y * y).sum(), [vals, d])
        if dev == "cuda":
            assert reads == {"count": 3, "get": 3}, dict(reads)  # cupyx's constructor: y's, v's, and S^T of y's grad
        res[dev] = [y, v, *g]
    _same(res["cpu"], res["cuda"], **_tol(dtype))


def test_sparse_gcn_training_step_on_the_device(cp, reads) -> None:
    """Five SGD steps of a one-layer GCN on a CSR adjacency: the CPU's losses and weights; each step reads back
    only CuPy's sparse constructor reads and the logged loss."""
    adj = (RNG.uniform(size=(6, 6)) < 0.4) * RNG.uniform(0.2, 1.0, (6, 6))
    feats, labels = RNG.standard_normal((6, 4)), RNG.integers(0, 3, 6)
    out = {}
    for dev in ("cpu", "cuda"):
        bp.manual_seed(0)
        lin = bp.nn.Linear(4, 3, dtype=bp.float64).to(dev)
        opt = bp.optim.SGD(lin.parameters(), lr=0.1)
        a = bp.tensor(adj, device=dev).to_sparse_csr()
        x, t = bp.tensor(feats, device=dev), bp.tensor(labels, device=dev)
        losses = []
        for _ in range(5):
            _reset(reads)
            loss = F.cross_entropy(a @ lin(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev == "cuda":
                assert reads["count"] <= 2, dict(reads)
            losses.append(loss.item())
        out[dev] = (losses, lin.weight)
    np.testing.assert_allclose(out["cuda"][0], out["cpu"][0], rtol=1e-12)
    _same(out["cpu"][1], out["cuda"][1])


def test_sparse_sampled_addmm_on_the_device(cp) -> None:
    m1, m2 = RNG.standard_normal((3, 5)), RNG.standard_normal((5, 4))
    res = {}
    for dev in ("cpu", "cuda"):
        s, vals = _csr(dev)
        a = bp.tensor(m1, device=dev, requires_grad=True)
        b = bp.tensor(m2, device=dev, requires_grad=True)
        r = bp.sparse.sampled_addmm(s, a, b, beta=0.5, alpha=2.0)
        assert r.layout == bp.sparse_csr and r.device == dev
        g = bp.autograd.grad(r.values().sum(), [vals, a, b])
        res[dev] = [r.to_dense(), *g]
    _same(res["cpu"], res["cuda"])


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "bool", "float16"])
@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_sparse_products_of_dtypes_cusparse_lacks(cp, reads, dtype, layout) -> None:
    """CSR/CSC @ dense in dtypes cuSPARSE has no routine for (cupyx refuses them): the CPU's values and dtype
    (integers wrap as on the CPU), computed on the device without a read-back; 2-D and 1-D right operands."""
    dt = getattr(bp, dtype)
    dense = DENSE * 37 if dtype in ("int64", "int32", "int8") else np.abs(DENSE) * 2
    d = np.arange(8).reshape(4, 2) * (50 if dtype in ("int64", "int32", "int8") else 1) + 1
    res = {}
    for dev in ("cpu", "cuda"):
        s = bp.tensor(dense, device=dev).to(dt)
        s = s.to_sparse_csr() if layout == "csr" else s.to_sparse_csc()
        rhs = bp.tensor(d, device=dev).to(dt)
        _reset(reads)
        res[dev] = [s @ rhs, s @ rhs[:, 1]]
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
    _same(res["cpu"], res["cuda"], rtol=1e-3 if dtype == "float16" else 0, atol=0)


# ---------------------------------------------------------------------------------------------- GradScaler


def _scaler_run(dev: str, reads=None):
    bp.manual_seed(0)
    model = bp.nn.Sequential(bp.nn.Linear(5, 8), bp.nn.Tanh(), bp.nn.Linear(8, 2)).to(dev)
    opt = bp.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = bp.amp.GradScaler(dev, init_scale=2.0**10, growth_interval=2)
    rng = np.random.default_rng(3)
    counts, scales = [], []
    for step in range(6):
        x = bp.tensor(rng.standard_normal((7, 5)).astype(np.float32), device=dev)
        y = bp.tensor(rng.standard_normal((7, 2)).astype(np.float32), device=dev)
        if reads is not None:
            _reset(reads)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        if step == 3:  # an overflow: the step is skipped and the scale backs off
            model[0].weight.grad._data[0, 0] = float("inf")
        scaler.unscale_(opt)
        bp.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        if reads is not None:
            counts.append(reads["count"])
        scales.append(scaler._scale)
    return model, scaler, counts, scales


def test_grad_scaler_training_on_the_device_matches_the_cpu(cp, reads) -> None:
    """Six float32 steps with GradScaler on cuda (unscale_, clipping, a skipped inf step, backoff and growth):
    the CPU's parameters, scales and growth tracker; one host read per step (the skip decision, as torch's)."""
    m_cpu, s_cpu, _, sc_cpu = _scaler_run("cpu")
    m_gpu, s_gpu, counts, sc_gpu = _scaler_run("cuda", reads)
    assert counts == [1] * 6, counts
    for a, b in zip(m_cpu.state_dict().values(), m_gpu.state_dict().values()):
        _same(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(sc_cpu, sc_gpu):
        _same(a, b, rtol=0, atol=0)
    assert s_gpu._growth_tracker.device == "cuda:0" and s_gpu._growth_tracker.dtype == bp.int32
    assert s_gpu.state_dict() == s_cpu.state_dict()
    assert s_gpu.get_scale() == s_cpu.get_scale() == 2.0**11  # grown at steps 1 and 5, backed off at 3


def test_grad_scaler_state_dict_and_pickle_round_trip_on_the_device(cp) -> None:
    _, scaler, _, _ = _scaler_run("cuda")
    fresh = bp.amp.GradScaler("cuda")
    fresh.load_state_dict(scaler.state_dict())
    assert fresh.state_dict() == scaler.state_dict()
    clone = pickle.loads(pickle.dumps(scaler))
    assert clone.state_dict() == scaler.state_dict()
    out = clone.scale(bp.ones(2, device="cuda"))
    assert out.device == "cuda:0" and clone._scale.device == "cuda:0" and out.dtype == bp.float32


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_amp_kernels_on_the_device(cp, reads, dtype) -> None:
    """bp._amp_foreach_non_finite_check_and_unscale_ and bp._amp_update_scale_ on cuda: the CPU's results,
    dtypes kept, no read-back."""
    res = {}
    for dev in ("cpu", "cuda"):
        grads = _list(A, dev, dtype)
        bad = _list(A, dev, dtype)
        bad[1]._data[2] = float("nan")
        found = bp.tensor(0.0, dtype=bp.float32, device=dev)
        found_bad = bp.tensor(0.0, dtype=bp.float32, device=dev)
        inv = bp.tensor(1 / 1024, dtype=bp.float32, device=dev)
        scale = bp.tensor(1024.0, dtype=bp.float32, device=dev)
        tracker = bp.tensor(1, dtype=bp.int32, device=dev)
        _reset(reads)
        bp._amp_foreach_non_finite_check_and_unscale_(grads, found, inv)
        bp._amp_foreach_non_finite_check_and_unscale_(bad, found_bad, inv)
        grown = bp._amp_update_scale_(scale, tracker, found, 2.0, 0.5, 2)
        s2, t2 = scale.clone(), tracker.clone()
        bp._amp_update_scale_(scale, tracker, found_bad, 2.0, 0.5, 2)
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
        assert grown is scale
        res[dev] = [*grads, found, found_bad, s2, t2, scale, tracker]
    _same(res["cpu"], res["cuda"], **_tol("float32"))
    assert _np(res["cuda"][3]) == 0 and _np(res["cuda"][4]) == 1  # found_inf: clean, then NaN
    assert _np(res["cuda"][5]) == 2048 and _np(res["cuda"][6]) == 0  # grown at the interval, tracker restarted
    assert _np(res["cuda"][7]) == 1024 and _np(res["cuda"][8]) == 0  # backed off after the NaN


def test_multi_device_replicator_copies_once_per_device() -> None:
    from backprop.amp.grad_scaler import _MultiDeviceReplicator

    with use_standin(device_count=2):
        master = bp.tensor(3.0, device="cuda:0")
        rep = _MultiDeviceReplicator(master)
        d0, d1 = bp.device("cuda:0"), bp.device("cuda:1")
        a, b = rep.get(d0), rep.get(d1)
        assert rep.get(d0) is a and rep.get(d1) is b
        assert a.device == "cuda:0" and a._data.device.id == 0 and a._data is not master._data
        assert b.device == "cuda:1" and b._data.device.id == 1
        assert float(a) == float(b) == 3.0 and a.dtype == b.dtype == master.dtype
        cpu = rep.get(bp.device("cpu"))
        assert cpu.device == "cpu" and float(cpu) == 3.0


def test_grad_scaler_with_parameters_on_two_devices() -> None:
    """Gradients on cuda:0 and cuda:1: each device's gradients are unscaled with its own copies of the scale
    and found_inf; an inf on cuda:1 skips the step; update() combines the per-device flags."""
    with use_standin(device_count=2):
        p0 = bp.nn.Parameter(bp.ones(3, device="cuda:0"))
        p1 = bp.nn.Parameter(bp.ones(2, device="cuda:1"))
        opt = bp.optim.SGD([p0, p1], lr=0.5)
        scaler = bp.amp.GradScaler("cuda", init_scale=4.0)
        for inf in (False, True):
            opt.zero_grad()
            scaler.scale(p0.sum()).backward()  # (one graph per device: see the report on cross-device graphs)
            scaler.scale(p1.sum()).backward()
            if inf:
                p1.grad = p1.grad + float("inf")
            scaler.step(opt)
            found = scaler._per_optimizer_states[id(opt)]["found_inf_per_device"]
            assert {str(d) for d in found} == {"cuda:0", "cuda:1"}
            assert all(v._data.device.id == d.index for d, v in found.items())
            assert p1.grad._data.device.id == 1
            scaler.update()
        np.testing.assert_allclose(_np(p0), 0.5)
        np.testing.assert_allclose(_np(p1), 0.5)
        assert scaler.get_scale() == 2.0 and scaler._scale.device == "cuda:0"


# ---------------------------------------------------------------------------------------------- clipping


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 0.0, 3.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_norm_per_gradient_norms(cp, reads, norm_type, dtype) -> None:
    """clip_grad_norm_ (per-gradient norms combined; torch's float32 coefficient): the CPU's total and clipped
    gradients, the total on the device, no read-back; get_total_norm + clip_grads_with_norm_ and
    clip_grad_value_ too."""
    res = {}
    for dev in ("cpu", "cuda"):
        ps = [bp.nn.Parameter(bp.zeros(*a.shape, dtype=getattr(bp, dtype), device=dev)) for a in A]
        for p, a in zip(ps, A):
            p.grad = bp.tensor(a * 0.3, dtype=getattr(bp, dtype), device=dev)
        _reset(reads)
        total = bp.nn.utils.clip_grad_norm_(ps, 0.7, norm_type=norm_type)
        grads1 = [p.grad.clone() for p in ps]
        t2 = bp.nn.utils.get_total_norm([p.grad for p in ps], norm_type)
        bp.nn.utils.clip_grads_with_norm_(ps, 0.1, t2)
        bp.nn.utils.clip_grad_value_(ps, 0.01)
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
        res[dev] = [total, *grads1, t2, *[p.grad for p in ps]]
    _same(res["cpu"], res["cuda"], **_tol(dtype))


def test_clip_grad_norm_mixed_dtypes_and_error_if_nonfinite(cp, reads) -> None:
    """float32 and float64 gradients together (the norms are stacked), and error_if_nonfinite (reads the total
    once, as torch's)."""
    res = {}
    for dev in ("cpu", "cuda"):
        ps = [bp.nn.Parameter(bp.zeros(3, 4, device=dev)), bp.nn.Parameter(bp.zeros(5, dtype=bp.float64, device=dev))]
        ps[0].grad = bp.tensor(A[0], dtype=bp.float32, device=dev)
        ps[1].grad = bp.tensor(A[1], dtype=bp.float64, device=dev)
        _reset(reads)
        total = bp.nn.utils.clip_grad_norm_(ps, 0.5, error_if_nonfinite=True)
        if dev == "cuda":
            assert reads["count"] <= 2, dict(reads)
        res[dev] = [total, ps[0].grad, ps[1].grad]
        ps[0].grad._data[0, 0] = float("nan")
        with pytest.raises(RuntimeError, match="non-finite"):
            bp.nn.utils.clip_grad_norm_(ps, 0.5, error_if_nonfinite=True)
    _same(res["cpu"], res["cuda"], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------- transformer


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")  # (norm_first: torch's note)
def test_transformer_encoder_nested_inference_path(cp, reads, norm_first) -> None:
    """eval() + no_grad + a left-aligned key padding mask (torch's nested-tensor path: padded positions come
    out as zeros) on cuda: the CPU's output; the path reads back one flag (the mask check, as torch's)."""
    x0 = RNG.standard_normal((3, 5, 8)).astype(np.float32)
    pad0 = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 0, 1, 1, 1]], bool)
    out = {}
    for dev in ("cpu", "cuda"):
        bp.manual_seed(1)
        layer = bp.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True, norm_first=norm_first)
        enc = bp.nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).to(dev).eval()
        x, pad = bp.tensor(x0, device=dev), bp.tensor(pad0, device=dev)
        with bp.no_grad():
            _reset(reads)
            y = enc(x, src_key_padding_mask=pad)
            n = reads["count"]
        if dev == "cuda":
            assert n <= 1, dict(reads)
        out[dev] = y
    _same(out["cpu"], out["cuda"], rtol=1e-5, atol=1e-6)
    assert np.all(_np(out["cuda"])[pad0] == 0) if not norm_first else True


# ---------------------------------------------------------------------------------------------- copies, pickles


def test_copy_deepcopy_pickle_of_device_tensors(cp) -> None:
    t = bp.tensor(A[0], device="cuda", requires_grad=True)
    t.tag = "w"
    t.grad = bp.ones(3, 4, dtype=bp.float64, device="cuda")
    c = copy.copy(t)
    assert c.device == "cuda:0" and c._data is t._data and c.tag == "w" and c.grad is None and c.requires_grad
    d = copy.deepcopy(t)
    assert d.device == "cuda:0" and isinstance(d._data, cp.ndarray) and d._data is not t._data
    assert d.tag == "w" and d.grad is not None and d.grad.device == "cuda:0" and d.requires_grad
    _same(t, d)
    p = pickle.loads(pickle.dumps(t))
    assert p.device == "cuda:0" and isinstance(p._data, cp.ndarray) and p.tag == "w" and p.requires_grad
    _same(t, p)
    param = bp.nn.Parameter(bp.tensor(A[1], dtype=bp.float32, device="cuda"))
    param.grad = bp.ones(5, device="cuda")
    for q in (copy.deepcopy(param), pickle.loads(pickle.dumps(param))):
        assert type(q) is bp.nn.Parameter and q.device == "cuda:0" and q.grad is None
        _same(param, q)
    buf = bp.nn.Buffer(bp.ones(2, device="cuda"), persistent=False)
    for q in (copy.copy(buf), copy.deepcopy(buf), pickle.loads(pickle.dumps(buf))):
        assert q.persistent is False and q.device == "cuda:0"


def test_deepcopy_of_a_model_on_the_device(cp) -> None:
    model = bp.nn.Sequential(bp.nn.Linear(3, 4), bp.nn.LayerNorm(4)).to("cuda")
    model(bp.ones(2, 3, device="cuda")).sum().backward()
    clone = copy.deepcopy(model)
    for (k, a), (_, b) in zip(model.state_dict().items(), clone.state_dict().items()):
        assert b.device == "cuda:0" and b._data is not a._data, k
        _same(a, b)
    assert all(p.grad is None for p in clone.parameters())


def test_copies_of_tensors_on_a_second_device_stay_there() -> None:
    """A tensor on cuda:1 copied, deep-copied and unpickled while cuda:0 is current lives on device 1."""
    with use_standin(device_count=2):
        t = bp.randn(3, device="cuda:1")
        t.grad = bp.ones(3, device="cuda:1")
        for q in (copy.copy(t), copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
            assert q.device == "cuda:1" and q._data.device.id == 1
            np.testing.assert_array_equal(_np(q), _np(t))
        d = copy.deepcopy(t)
        assert d.grad._data.device.id == 1
        (d * 2).sum()  # usable on its device


# ---------------------------------------------------------------------------------------------- serialization


def test_save_on_the_device_and_load_with_map_location(cp, tmp_path) -> None:
    """A state dict saved from cuda (tied weights, _metadata, a namedtuple) loads with weights_only on the
    device it was saved on, on the CPU with map_location="cpu", and back on cuda with map_location="cuda"."""
    model = bp.nn.Linear(3, 2).to("cuda")
    sd = model.state_dict()
    sd["tied"] = sd["weight"]
    path = tmp_path / "m.pt"
    bp.save({"sd": sd, "step": 3, "size": bp.Size([2, 3]), "dev": bp.device("cuda")}, path)
    for loc, want in ((None, "cuda:0"), ("cpu", "cpu"), ("cuda", "cuda:0"), (bp.device("cpu"), "cpu")):
        got = bp.load(path, map_location=loc, weights_only=True)
        assert got["step"] == 3 and got["size"] == bp.Size([2, 3])
        for k in ("weight", "bias"):
            _same(sd[k], got["sd"][k], device=want)
        assert got["sd"]["tied"] is got["sd"]["weight"]
        assert hasattr(got["sd"], "_metadata")
    cpu_path = tmp_path / "c.pt"
    bp.save(bp.nn.Linear(3, 2).state_dict(), cpu_path)
    got = bp.load(cpu_path, map_location="cuda")
    assert all(v.device == "cuda:0" and isinstance(v._data, cp.ndarray) for v in got.values())
    fresh = bp.nn.Linear(3, 2).to("cuda")
    fresh.load_state_dict(bp.load(path, weights_only=True)["sd"], strict=False)
    _same(model.weight, fresh.weight)


def test_optimizer_checkpoint_round_trip_on_the_device(cp) -> None:
    """An Adam state (device moments, 0-d step) saved from cuda and loaded into a cuda optimizer resumes as the
    uninterrupted run does."""

    def run(resume: bool) -> bp.Tensor:
        bp.manual_seed(0)
        lin = bp.nn.Linear(4, 2).to("cuda")
        opt = bp.optim.Adam(lin.parameters(), lr=1e-2)
        x = bp.ones(3, 4, device="cuda")
        for i in range(4):
            if resume and i == 2:
                buf = io.BytesIO()
                bp.save({"m": lin.state_dict(), "o": opt.state_dict()}, buf)
                buf.seek(0)
                ck = bp.load(buf, weights_only=True)
                lin = bp.nn.Linear(4, 2).to("cuda")
                lin.load_state_dict(ck["m"])
                opt = bp.optim.Adam(lin.parameters(), lr=1e-2)
                opt.load_state_dict(ck["o"])
                st = opt.state[lin.weight]
                assert st["exp_avg"].device == "cuda:0"
            opt.zero_grad()
            (lin(x) ** 2).sum().backward()
            opt.step()
        return lin.weight

    _same(run(False), run(True), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------- schedulers, hooks


SCHEDULERS = [
    ("StepLR", {"step_size": 2, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 5}),
    ("LinearLR", {"start_factor": 0.5, "total_iters": 4}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 8}),
]


@pytest.mark.parametrize(("name", "kw"), SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_resumed_scheduler_on_device_parameters(cp, reads, name, kw) -> None:
    """A scheduler resumed from its state dict (last_epoch >= 0, initial_lr) over cuda parameters gives the
    uninterrupted run's rates and parameters, as on the CPU; opt.step + sched.step read nothing back."""

    def run(dev: str, resume: bool):
        w = bp.nn.Parameter(bp.tensor(A[0], dtype=bp.float32, device=dev))
        opt = bp.optim.SGD([w], lr=0.1, momentum=0.9)
        sched = getattr(bp.optim.lr_scheduler, name)(opt, **kw)
        lrs = []
        for i in range(6):
            if resume and i == 3:
                o_sd, s_sd = copy.deepcopy(opt.state_dict()), sched.state_dict()
                opt = bp.optim.SGD([w], lr=0.1, momentum=0.9)
                opt.load_state_dict(o_sd)
                sched = getattr(bp.optim.lr_scheduler, name)(opt, **kw, last_epoch=s_sd["last_epoch"])
                sched.load_state_dict(s_sd)
            w.grad = bp.tensor(B[0] * (i + 1), dtype=bp.float32, device=dev)
            if dev == "cuda":
                _reset(reads)
            opt.step()
            sched.step()
            if dev == "cuda":
                assert reads["count"] == 0, dict(reads)
            lrs.append(opt.param_groups[0]["lr"])
        return lrs, w

    for resume in (False, True):
        lr_c, w_c = run("cpu", resume)
        lr_g, w_g = run("cuda", resume)
        assert lr_c == lr_g
        _same(w_c, w_g, rtol=1e-6, atol=1e-6)
    assert run("cuda", True)[0] == run("cuda", False)[0]


def test_global_optimizer_step_hooks_on_device_parameters(cp, reads) -> None:
    """register_optimizer_step_pre_hook/_post_hook run around each step of an optimizer over cuda parameters;
    a hook that scales the gradients on the device changes the step as on the CPU; no read-back."""
    from backprop.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    calls = []

    def pre(opt, args, kwargs):
        calls.append("pre")
        for g in opt.param_groups:
            for p in g["params"]:
                p.grad.mul_(0.5)

    def post(opt, args, kwargs):
        calls.append("post")

    h1, h2 = register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)
    try:
        res = {}
        for dev in ("cpu", "cuda"):
            w = bp.nn.Parameter(bp.tensor(A[0], device=dev))
            opt = bp.optim.AdamW([w], lr=1e-2)
            for i in range(3):
                w.grad = bp.tensor(B[0] * (i + 1), device=dev)
                _reset(reads)
                opt.step()
                if dev == "cuda":
                    assert reads["count"] == 0, dict(reads)
            res[dev] = w
        _same(res["cpu"], res["cuda"])
        assert calls == ["pre", "post"] * 6
    finally:
        h1.remove()
        h2.remove()


# ---------------------------------------------------------------------------------------------- loss dtype checks


def _outcome(fn, dev):
    try:
        return fn(dev)
    except Exception as exc:  # noqa: BLE001 - compared with the CPU's exception
        return exc


LOSSES = {
    "bce-f32": lambda d: F.binary_cross_entropy(
        bp.tensor([0.2, 0.7, 0.9], device=d), bp.tensor([0.0, 1.0, 1.0], device=d)
    ),
    "bce-f64-target": lambda d: F.binary_cross_entropy(
        bp.tensor([0.2, 0.7], device=d), bp.tensor([0.0, 1.0], dtype=bp.float64, device=d)
    ),
    "bce-int64-target": lambda d: F.binary_cross_entropy(bp.tensor([0.2, 0.7], device=d), bp.tensor([0, 1], device=d)),
    "bce-f64-weight": lambda d: F.binary_cross_entropy(
        bp.tensor([0.2, 0.7], device=d),
        bp.tensor([0.0, 1.0], device=d),
        weight=bp.tensor([1.0, 2.0], dtype=bp.float64, device=d),
    ),
    "bce-logits": lambda d: F.binary_cross_entropy_with_logits(
        bp.tensor([0.2, -1.7, 3.0], device=d),
        bp.tensor([0.0, 1.0, 0.5], device=d),
        pos_weight=bp.tensor([2.0, 1.0, 0.5], device=d),
    ),
    "bce-logits-int-target": lambda d: F.binary_cross_entropy_with_logits(
        bp.tensor([0.2, -1.7], device=d), bp.tensor([0, 1], device=d)
    ),
    "nll": lambda d: F.nll_loss(
        bp.tensor([[-0.5, -1.2, -2.0], [-1.0, -0.3, -0.9]], device=d), bp.tensor([2, 0], device=d)
    ),
    "nll-int-input": lambda d: F.nll_loss(bp.tensor([[1, 2], [3, 4]], device=d), bp.tensor([0, 1], device=d)),
    "nll-int32-target": lambda d: F.nll_loss(
        bp.tensor([[-0.5, -1.2], [-1.0, -0.3]], device=d), bp.tensor([0, 1], dtype=bp.int32, device=d)
    ),
    "cross-entropy-int-logits": lambda d: F.cross_entropy(
        bp.tensor([[1, 2], [3, 4]], device=d), bp.tensor([0, 1], device=d)
    ),
    "one-hot": lambda d: F.one_hot(bp.tensor([0, 2, 1], device=d), 4),
    "one-hot-auto": lambda d: F.one_hot(bp.tensor([0, 2, 1], device=d)),
    "one-hot-int32": lambda d: F.one_hot(bp.tensor([0, 2, 1], dtype=bp.int32, device=d), 3),
    "one-hot-float": lambda d: F.one_hot(bp.tensor([0.0, 2.0], device=d), 3),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_dtype_checks_on_the_device(cp, name) -> None:
    """The losses' dtype checks and results on cuda: the CPU's values and dtypes, or the CPU's exception (class
    and message)."""
    want, got = _outcome(LOSSES[name], "cpu"), _outcome(LOSSES[name], "cuda")
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want), (want, got)
    else:
        assert not isinstance(got, Exception), got
        _same(want, got, rtol=1e-6, atol=1e-7)


def test_loss_training_step_reads_nothing_back(cp, reads) -> None:
    """BCE, BCE-with-logits and nll in a training step on cuda read nothing back to the host."""
    w = bp.nn.Parameter(bp.tensor(A[0], dtype=bp.float32, device="cuda"))
    opt = bp.optim.SGD([w], lr=0.1)
    t = bp.tensor((RNG.uniform(size=(3, 4)) > 0.5).astype(np.float32), device="cuda")
    ids = bp.tensor([0, 3, 1], device="cuda")
    _reset(reads)
    for _ in range(2):
        loss = F.binary_cross_entropy(w.sigmoid(), t) + F.binary_cross_entropy_with_logits(w, t)
        loss = loss + F.nll_loss(F.log_softmax(w, 1), ids) + (F.one_hot(ids, 4) * w).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert reads["count"] == 0, dict(reads)


def test_bce_input_range_is_checked_on_the_device(cp, reads) -> None:
    """binary_cross_entropy's 0 <= p <= 1 check: on cuda recorded on the device (as torch's CUDA kernel asserts
    there) and raised as the CPU's RuntimeError at the next host read; NaN fails it as on the CPU."""
    from backprop.backends import cupy_backend

    for bad in (1.5, float("nan")):
        with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
            F.binary_cross_entropy(bp.tensor([0.2, bad]), bp.tensor([0.0, 1.0]))
        _reset(reads)
        loss = F.binary_cross_entropy(bp.tensor([0.2, bad], device="cuda"), bp.tensor([0.0, 1.0], device="cuda"))
        assert reads["count"] == 0
        with pytest.raises(RuntimeError, match=r"binary_cross_entropy: all elements of input should be between 0 "
                           r"and 1 \(checked on the device"):  # fmt: skip
            loss.item()
        assert not cupy_backend._PENDING


def test_sdpa_reads_nothing_back_on_the_device(cp, reads) -> None:
    """scaled_dot_product_attention with a boolean mask (a fully masked row included) on cuda: the CPU's output
    (the dead row's weights 0, as torch's safe softmax) with no read-back (the CPU asks whether a row is dead)."""
    q0, k0, v0 = (RNG.standard_normal((2, 3, 4)) for _ in range(3))
    mask0 = np.array([[True, True, False], [False, False, False], [True, False, True]])
    res = {}
    for dev in ("cpu", "cuda"):
        q, k, v = (bp.tensor(a, device=dev, requires_grad=True) for a in (q0, k0, v0))
        _reset(reads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bp.tensor(mask0, device=dev))
        g = bp.autograd.grad(out.sum(), [q, k, v])
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
        res[dev] = [out, *g]
    _same(res["cpu"], res["cuda"])
