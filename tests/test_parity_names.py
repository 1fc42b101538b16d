"""torch names ordinary code reaches for that were missing: the symbolic-shape helpers (``SymInt``, ``sym_int``,
...), ``Stream``/``Event`` on the CPU, ``from_file``, ATen-signature pooling and sampling, the deterministic
debug mode, dense tensors asked sparse questions, ``volatile``, ``nn.functional``'s ``grad``/``conv_tbc``/
grid-sample codes/``__torch_function__`` helpers and ``autograd``'s multithreading flags. Each compared with
torch where torch is installed (values, dtypes, errors), and checked against closed forms otherwise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F

try:
    import torch
except ImportError:  # the torch comparisons skip; the closed-form checks still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")


def _outcome(fn, *args, **kwargs):
    """``("ok", value, type name)`` or ``("raise", exception type name, message)``."""
    try:
        v = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return ("raise", type(e).__name__, str(e))
    return ("ok", v, type(v).__name__)


# ---------------------------------------------------------------- symbolic-shape helpers on concrete values
SYM_CALLS = [
    ("sym_int", (3.7,)),
    ("sym_int", (-3.7,)),
    ("sym_int", ("3",)),
    ("sym_int", (True,)),
    ("sym_float", (3,)),
    ("sym_float", (True,)),
    ("sym_max", (1, 2.5)),
    ("sym_max", (2, 2.0)),
    ("sym_max", (3, 2)),
    ("sym_min", (1, 2)),
    ("sym_min", (1.5, 2)),
    ("sym_not", (True,)),
    ("sym_not", (0,)),
    ("sym_ite", (True, 1, 2)),
    ("sym_ite", (False, "a", "b")),
    ("sym_ite", (1, 2, 3)),
    ("sym_sqrt", (4,)),
    ("sym_sqrt", (-1,)),
    ("sym_sum", ([1, 2, 3],)),
    ("sym_sum", ([],)),
    ("sym_sum", ([0.5, 1],)),
    ("sym_fresh_size", (3,)),
    ("sym_constrain_range", (2,)),
]


@needs_torch
@pytest.mark.parametrize(("name", "args"), SYM_CALLS, ids=[f"{n}{a}" for n, a in SYM_CALLS])
def test_sym_functions_match_torch(name, args):
    ours, theirs = _outcome(getattr(bp, name), *args), _outcome(getattr(torch, name), *args)
    assert ours == theirs


@needs_torch
@pytest.mark.parametrize("name", ["sym_constrain_range", "sym_constrain_range_for_size"])
@pytest.mark.parametrize(("size", "lo", "hi"), [(5, 0, 3), (2, 0, 3), (0, None, 4), (-1, 0, None), (7, None, None)])
def test_constrain_range_matches_torch(name, size, lo, hi):
    ours = _outcome(getattr(bp, name), size, min=lo, max=hi)
    theirs = _outcome(getattr(torch, name), size, min=lo, max=hi)
    assert ours == theirs


def test_sym_classes_serve_isinstance_only():
    for cls in (bp.SymInt, bp.SymFloat, bp.SymBool):
        assert not isinstance(3, cls) and not isinstance(2.0, cls) and not isinstance(True, cls)
        with pytest.raises(TypeError, match="no symbolic shapes"):
            cls(3)
    assert bp.sym_int(-3.7) == -3 and bp.sym_max(2, 2.0) == 2.0 and isinstance(bp.sym_max(2, 2.0), float)


# ---------------------------------------------------------------- small top-level names
@needs_torch
def test_small_flags_match_torch():
    assert bp.is_vulkan_available() is torch.is_vulkan_available() is False
    assert bp.init_num_threads() is None and torch.init_num_threads() is None


@needs_torch
@pytest.mark.parametrize("mode", ["default", "warn", "error", 0, 1, 2, True, False])
def test_deterministic_debug_mode_matches_torch(mode):
    try:
        for lib in (bp, torch):
            lib.set_deterministic_debug_mode(mode)
        assert bp.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
        assert bp.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()
        assert (
            bp.is_deterministic_algorithms_warn_only_enabled() == torch.is_deterministic_algorithms_warn_only_enabled()
        )
    finally:
        bp.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


@needs_torch
@pytest.mark.parametrize("bad", ["x", 3, -1, 1.5, None])
def test_deterministic_debug_mode_errors_match_torch(bad):
    try:
        ours = _outcome(bp.set_deterministic_debug_mode, bad)
        theirs = _outcome(torch.set_deterministic_debug_mode, bad)
        assert ours[:2] == theirs[:2]
        assert ours[0] == "raise"
    finally:
        bp.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


def test_deterministic_debug_mode_round_trip():
    try:
        for mode, code, on, warn_only in [
            ("warn", 1, True, True),
            ("error", 2, True, False),
            ("default", 0, False, False),
        ]:
            bp.set_deterministic_debug_mode(mode)
            assert bp.get_deterministic_debug_mode() == code
            assert bp.are_deterministic_algorithms_enabled() is on
            assert bp.is_deterministic_algorithms_warn_only_enabled() is warn_only
    finally:
        bp.use_deterministic_algorithms(False)


def test_cpu_stream_and_event_behave_as_torch_cpu():
    s, e = bp.Stream(), bp.Event(enable_timing=True)
    assert s.query() is True and s.synchronize() is None and s.wait_event(e) is None
    assert (s.device, s.device_index, s.device_type, s.stream_id) == (bp.device("cpu"), -1, 0, 0)
    assert s == bp.Stream("cpu") and hash(s) == hash(bp.Stream(device="cpu", priority=-1))
    with s:
        pass
    assert e.query() is True and e.synchronize() is None and e.wait() is None and e.device == bp.device("cpu")
    with pytest.raises(RuntimeError, match="cpu backend doesn't support events"):
        e.record()
    with pytest.raises(RuntimeError, match="cpu backend doesn't support events"):
        s.record_event()
    with pytest.raises(ValueError, match="must be recorded"):
        e.elapsed_time(bp.Event())
    with pytest.raises(RuntimeError, match="no xpu backend"):
        bp.Stream("xpu")


@needs_torch
def test_cpu_stream_and_event_errors_match_torch():
    for make in (
        lambda lib: lib.Event().record(),
        lambda lib: lib.Stream().record_event(),
        lambda lib: lib.Stream().wait_stream(lib.Stream()),
    ):
        ours, theirs = _outcome(make, bp), _outcome(make, torch)
        assert ours == theirs


@pytest.mark.skipif(bp.cuda.is_available(), reason="checks the answer without CUDA")
def test_cuda_stream_without_cuda_raises():
    with pytest.raises(Exception, match="(?i)cuda|cupy"):
        bp.Stream("cuda")


# ---------------------------------------------------------------- from_file
@pytest.mark.parametrize("dtype", ["float32", "int64", "float64"])
def test_from_file_private_map_matches_torch(tmp_path, dtype):
    path = str(tmp_path / "data.bin")
    data = np.arange(10).astype(dtype)
    data.tofile(path)
    t = bp.from_file(path, size=10, dtype=getattr(bp, dtype))
    assert t.dtype == np.dtype(dtype) and np.array_equal(t.numpy(), data)
    t[1] = 9  # copy-on-write: the file keeps its bytes
    assert np.array_equal(np.fromfile(path, dtype), data)
    short = bp.from_file(path, shared=False, size=4, dtype=getattr(bp, dtype))
    assert np.array_equal(short.numpy(), data[:4])
    if torch is not None:
        theirs = torch.from_file(path, size=10, dtype=getattr(torch, dtype))
        assert np.array_equal(bp.from_file(path, size=10, dtype=getattr(bp, dtype)).numpy(), theirs.numpy())


def test_from_file_shared_writes_through_and_grows(tmp_path):
    path = str(tmp_path / "data.bin")
    np.arange(4, dtype=np.float32).tofile(path)
    t = bp.from_file(path, shared=True, size=4)
    assert t.dtype == bp.get_default_dtype()
    t[0] = 7
    del t  # (the map is flushed when its last reference goes)
    assert np.fromfile(path, np.float32)[0] == 7
    new = str(tmp_path / "new.bin")
    z = bp.from_file(new, shared=True, size=3, dtype=bp.int64)
    assert np.array_equal(z.numpy(), np.zeros(3, np.int64))
    import os

    assert os.path.getsize(new) == 3 * 8


@needs_torch
def test_from_file_too_small_matches_torch(tmp_path):
    path = str(tmp_path / "data.bin")
    np.arange(10, dtype=np.float32).tofile(path)
    ours, theirs = _outcome(bp.from_file, path, size=20), _outcome(torch.from_file, path, size=20)
    assert ours == theirs


# ---------------------------------------------------------------- ATen-signature pooling and sampling
@needs_torch
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "ceil"), [(2, (), 0, False), (3, 2, 1, False), (2, 3, 0, True)]
)
def test_max_pool1d_with_indices_matches_torch(kernel, stride, padding, ceil):
    x = np.random.default_rng(0).standard_normal((2, 3, 9))
    a = bp.max_pool1d_with_indices(bp.tensor(x, requires_grad=True), kernel, stride, padding, 1, ceil)
    b = torch.max_pool1d_with_indices(torch.tensor(x, requires_grad=True), kernel, stride, padding, 1, ceil)
    assert np.array_equal(a[0].detach().numpy(), b[0].detach().numpy())
    assert np.array_equal(a[1].numpy(), b[1].numpy()) and a[1].dtype == bp.int64


@needs_torch
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_and_grid_sampler_match_torch(align):
    rng = np.random.default_rng(1)
    theta = np.array([[[0.9, 0.1, 0.05], [-0.2, 1.1, 0.0]], [[1.2, -0.3, 0.1], [0.2, 0.8, -0.1]]])
    im = rng.standard_normal((2, 3, 4, 5))
    ga = bp.affine_grid_generator(bp.tensor(theta), (2, 3, 3, 4), align)
    gb = torch.affine_grid_generator(torch.tensor(theta), (2, 3, 3, 4), align)
    np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-12, atol=1e-12)
    for mode in range(3):
        for pad in range(3):
            a = bp.grid_sampler(bp.tensor(im), ga, mode, pad, align)
            b = torch.grid_sampler(torch.tensor(im), gb, mode, pad, align)
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"mode {mode} pad {pad}")
            a2 = bp.grid_sampler_2d(bp.tensor(im), ga, mode, pad, align)
            assert np.array_equal(a2.numpy(), a.numpy())


def test_grid_sampler_checks_its_arguments():
    im, grid = bp.randn(1, 1, 4, 4), bp.zeros(1, 2, 2, 2)
    with pytest.raises(RuntimeError, match="interpolation_mode"):
        bp.grid_sampler(im, grid, 3, 0, False)
    with pytest.raises(RuntimeError, match="expected 4D input"):
        bp.grid_sampler_2d(bp.randn(1, 1, 2, 4, 4), grid, 0, 0, False)
    with pytest.raises(RuntimeError, match="expected 5D input"):
        bp.grid_sampler_3d(im, grid, 0, 0, False)
    assert F.GRID_SAMPLE_INTERPOLATION_MODES == {"bilinear": 0, "nearest": 1, "bicubic": 2}
    assert F.GRID_SAMPLE_PADDING_MODES == {"zeros": 0, "border": 1, "reflection": 2}


def test_view_as_copies_own_their_memory_and_differentiate():
    z = bp.tensor(np.array([1 + 2j, 3 - 1j], dtype=np.complex128), requires_grad=True)
    r = bp.view_as_real_copy(z)
    assert np.array_equal(r.detach().numpy(), [[1, 2], [3, -1]]) and not np.shares_memory(
        r.detach().numpy(), z.detach().numpy()
    )
    (r * bp.tensor([[1.0, 10.0], [100.0, 1000.0]], dtype=bp.float64)).sum().backward()
    assert np.array_equal(z.grad.numpy(), [1 + 10j, 100 + 1000j])
    c = bp.view_as_complex_copy(bp.tensor([[1.0, 2.0]]))
    assert c.dtype == bp.complex64 and c.numpy()[0] == 1 + 2j


# ---------------------------------------------------------------- dense tensors asked sparse questions
@needs_torch
@pytest.mark.parametrize("method", ["sparse_dim", "dense_dim", "is_coalesced", "indices", "values", "coalesce"])
def test_dense_sparse_queries_match_torch(method):
    ours = _outcome(lambda: getattr(bp.ones(2, 3), method)())
    theirs = _outcome(lambda: getattr(torch.ones(2, 3), method)())
    assert ours == theirs


def test_sparse_tensors_keep_their_own_answers():
    s = bp.sparse_coo_tensor(bp.tensor([[0, 1], [1, 0]]), bp.tensor([1.0, 2.0]), (2, 2)).coalesce()
    assert s.sparse_dim() == 2 and s.dense_dim() == 0 and s.is_coalesced()
    assert np.array_equal(s.values().numpy(), [1.0, 2.0])  # (0, 1) then (1, 0), row-major


@needs_torch
def test_volatile_warns_as_torch():
    for lib in (bp, torch):
        x = lib.ones(2)
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            assert x.volatile is False
            x.volatile = True
            assert x.volatile is False
        assert [str(w.message) for w in got] == [
            "volatile was removed (Variable.volatile is always False)",
            "volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
            "volatile was removed (Variable.volatile is always False)",
        ]


# ---------------------------------------------------------------- nn.functional and autograd names
@needs_torch
def test_conv_tbc_in_functional_matches_torch():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((7, 2, 3)), rng.standard_normal((3, 3, 4)), rng.standard_normal(4)
    args = [(bp.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)) for v in (x, w, b)]
    ours = F.conv_tbc(*[a for a, _ in args], 1)
    theirs = torch.nn.functional.conv_tbc(*[t for _, t in args], 1)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    for a, t in args:
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert bp.conv_tbc is F.conv_tbc


def test_functional_grad_and_override_helpers():
    import backprop.nn.grad as nn_grad

    assert F.grad is nn_grad
    assert F.has_torch_function((bp.ones(1),)) is False
    assert F.has_torch_function_unary(bp.ones(1)) is False
    assert F.has_torch_function_variadic(bp.ones(1), bp.ones(1)) is False
    assert F.handle_torch_function is bp.overrides.handle_torch_function
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        F.not_a_name  # noqa: B018


def test_autograd_multithreading_flag():
    ag = bp.autograd
    assert ag.is_multithreading_enabled() is True and ag.is_view_replay_enabled() is False
    with ag.set_multithreading_enabled(False):
        assert ag.is_multithreading_enabled() is False
    assert ag.is_multithreading_enabled() is True

    @ag.set_multithreading_enabled(False)
    def inside():
        return ag.is_multithreading_enabled()

    assert ag.is_multithreading_enabled() is True and inside() is False and ag.is_multithreading_enabled() is True
    try:
        ag.set_multithreading_enabled(False)  # a plain call sets it, as torch's
        assert ag.is_multithreading_enabled() is False
    finally:
        ag.set_multithreading_enabled(True)
    x = bp.ones(3, requires_grad=True)
    with ag.set_multithreading_enabled(False):
        (x * 2).sum().backward()
    assert np.array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


@needs_torch
def test_autograd_flags_match_torch_defaults():
    assert bp.autograd.is_multithreading_enabled() == torch.autograd.is_multithreading_enabled()
    assert bp.autograd.is_view_replay_enabled() == torch.autograd.is_view_replay_enabled()
    assert bp.autograd.anomaly_mode.detect_anomaly is bp.autograd.detect_anomaly
    assert bp.autograd.anomaly_mode.set_detect_anomaly is bp.autograd.set_detect_anomaly
    y = bp.ones(2, requires_grad=True).exp()
    assert isinstance(y.grad_fn._raw_saved_result, bp.autograd.SavedTensor)


# ---------------------------------------------------------------- bp.xpu / bp.mtia, utils.weak, utils.model_zoo
XPU_CALLS = [
    "is_available", "device_count", "is_initialized", "is_bf16_supported", "get_arch_list", "empty_cache", "seed",
    "seed_all", "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
    "current_device", "synchronize", "get_device_name", "get_rng_state", "init", "initial_seed",
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("name", XPU_CALLS)
def test_xpu_answers_as_torch_without_xpu(name):
    if torch.xpu.is_available():
        pytest.skip("this torch has an XPU device")
    ours, theirs = _outcome(getattr(bp.xpu, name)), _outcome(getattr(torch.xpu, name))
    assert ours == theirs


@needs_torch
def test_xpu_seeding_and_mtia_as_torch():
    for lib in (bp, torch):
        assert lib.xpu.manual_seed(0) is None and lib.xpu.manual_seed_all(3) is None
    assert _outcome(bp.xpu.set_device, 0) == _outcome(torch.xpu.set_device, 0)
    for name in ("is_available", "device_count"):
        assert getattr(bp.mtia, name)() == getattr(torch.mtia, name)()


def test_device_selection_code_runs():
    """The chain recent training scripts use to pick a device."""
    if bp.cuda.is_available():
        dev = "cuda"
    elif bp.backends.mps.is_available():
        dev = "mps"
    elif bp.xpu.is_available():
        dev = "xpu"
    else:
        dev = "cpu"
    assert dev in ("cuda", "cpu") and bp.mtia.is_available() is False


def test_weak_id_key_dictionary_keys_tensors_by_identity():
    from backprop.utils.weak import TensorWeakRef, WeakIdKeyDictionary, WeakIdRef, WeakTensorKeyDictionary

    a, b = bp.ones(3), bp.ones(3)  # equal values, different tensors
    d = WeakTensorKeyDictionary()
    assert WeakTensorKeyDictionary is WeakIdKeyDictionary
    d[a] = "a"
    d[b] = "b"
    assert len(d) == 2 and d[a] == "a" and d[b] == "b" and a in d and bp.zeros(1) not in d
    assert set(map(id, d)) == {id(a), id(b)} and d.get(bp.zeros(1), 5) == 5
    copy = d.copy()
    del a
    import gc

    gc.collect()
    assert len(d) == 1 and list(d.values()) == ["b"] and len(copy) == 1  # the key went with its tensor
    del d[b]
    assert len(d) == 0
    r = TensorWeakRef(b)
    assert r() is b
    assert WeakIdRef(b) == WeakIdRef(b) and hash(WeakIdRef(b)) == id(b)
    del b
    gc.collect()
    assert r() is None
    with pytest.raises(AssertionError):
        TensorWeakRef(3)


@needs_torch
def test_weak_module_names_match_torch():
    import torch.utils.weak as tw

    import backprop.utils.weak as bw

    assert set(tw.__all__) <= set(dir(bw))
    assert bp.utils.model_zoo.load_url is bp.hub.load_state_dict_from_url


# ---------------------------------------------------------------- Tensor.grad_dtype (torch 2.9)
def _grad_dtype_script(lib, case):
    """One grad_dtype scenario run on ``lib`` (bp or torch); returns what it observed."""
    x = lib.ones(3, requires_grad=True)
    if case == "default":
        return str(x.grad_dtype).replace("torch.", "")
    if case == "accumulate":
        x.grad_dtype = lib.float64
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        return str(x.grad.dtype).replace("torch.", ""), x.grad.tolist()
    if case == "half":
        x.grad_dtype = lib.float16
        (x * 2).sum().backward()
        return str(x.grad.dtype).replace("torch.", ""), x.grad.tolist()
    if case == "assign_wrong":
        x.grad_dtype = lib.float64
        x.grad = lib.ones(3)
    if case == "assign_default_wrong":
        x.grad = lib.ones(3, dtype=lib.float64)
    if case == "none_any":
        x.grad_dtype = None
        x.grad = lib.ones(3, dtype=lib.float64)
        got = str(x.grad.dtype).replace("torch.", "")
        x.grad = None
        (x.double() * 2).sum().backward()
        return got, str(x.grad.dtype).replace("torch.", ""), x.grad_dtype
    if case == "before_requires_grad":
        z = lib.ones(3)
        z.grad_dtype = lib.float64
        z.requires_grad_()
        (z * 2).sum().backward()
        return str(z.grad.dtype).replace("torch.", "")
    if case == "assign_then_accumulate":
        x.grad_dtype = lib.float64
        x.grad = lib.ones(3, dtype=lib.float64)
        (x * 2).sum().backward()
        return x.grad.tolist()
    if case == "not_copied":
        x.grad_dtype = lib.float64
        import copy

        return str(x.detach().grad_dtype).replace("torch.", ""), str(copy.deepcopy(x).grad_dtype).replace("torch.", "")
    if case == "non_leaf_get":
        return (x * 2).grad_dtype
    if case == "non_leaf_set":
        y = x * 2
        y.grad_dtype = lib.float64
    if case == "bad_value":
        x.grad_dtype = "float64"
    if case == "create_graph":
        x.grad_dtype = lib.float64
        with warnings.catch_warnings():  # (torch warns of the grad <-> parameter reference cycle)
            warnings.simplefilter("ignore")
            (x * x).sum().backward(create_graph=True)
        return str(x.grad.dtype).replace("torch.", ""), x.grad.requires_grad, x.grad.tolist()
    if case == "autograd_grad":
        x.grad_dtype = lib.float64
        (g,) = lib.autograd.grad((x * 2).sum(), x)
        return str(g.dtype).replace("torch.", "")
    return None


GRAD_DTYPE_CASES = [
    "default", "accumulate", "half", "assign_wrong", "assign_default_wrong", "none_any", "before_requires_grad",
    "assign_then_accumulate", "not_copied", "non_leaf_get", "non_leaf_set", "bad_value", "create_graph",
    "autograd_grad",
]  # fmt: skip


@needs_torch
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@pytest.mark.parametrize("case", GRAD_DTYPE_CASES)
def test_grad_dtype_matches_torch(case):
    ours, theirs = _outcome(_grad_dtype_script, bp, case), _outcome(_grad_dtype_script, torch, case)
    if ours[0] == "raise" and theirs[0] == "raise":  # same type and the message's first sentence
        assert ours[1] == theirs[1] and ours[2].split(".")[0] == theirs[2].split(".")[0]
    else:
        assert ours == theirs


def test_grad_dtype_closed_form_and_optimizer_step():
    w = bp.nn.Parameter(bp.ones(2, 2))
    w.grad_dtype = bp.float64
    (w * bp.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert w.grad.dtype == bp.float64 and np.array_equal(w.grad.numpy(), [[1, 2], [3, 4]])
    opt = bp.optim.SGD([w], lr=0.5)
    opt.step()
    assert w.dtype == bp.float32 and np.array_equal(w.detach().numpy(), [[0.5, 0.0], [-0.5, -1.0]])
    opt.zero_grad()
    assert w.grad is None and w.grad_dtype == bp.float64


# ---------------------------------------------------------------- devices without a backend, nn.parallel, module paths
@needs_torch
@pytest.mark.parametrize("kind", ["xpu", "ipu", "mtia"])
def test_missing_device_methods_match_torch(kind):
    for make in (lambda lib: lib.ones(2), lambda lib: lib.nn.Linear(2, 2)):
        ours = _outcome(lambda m=make: getattr(m(bp), kind)())
        theirs = _outcome(lambda m=make: getattr(m(torch), kind)())
        assert ours[:2] == theirs[:2] and ours[0] == "raise"
        assert ours[2].split(".")[0] == theirs[2].split(".")[0]
    relu = bp.nn.ReLU()
    assert getattr(relu, kind)() is relu  # (no parameters or buffers: nothing to move, as torch)


@needs_torch
@pytest.mark.parametrize("perm", [[2, 0, 1], [0], [3, 1, 0, 2], None])
def test_invert_permutation_matches_torch(perm):
    ours = bp.nn.utils.rnn.invert_permutation(None if perm is None else bp.tensor(perm))
    theirs = torch.nn.utils.rnn.invert_permutation(None if perm is None else torch.tensor(perm))
    if perm is None:
        assert ours is None and theirs is None
    else:
        assert ours.tolist() == theirs.tolist() and ours.dtype == bp.int64


def test_module_paths_and_parallel_names():
    import backprop.nn.utils.clip_grad as clip_grad
    import backprop.nn.utils.init as nn_utils_init

    assert clip_grad.clip_grad_norm_ is bp.nn.utils.clip_grad_norm_ and nn_utils_init.skip_init is bp.nn.utils.skip_init
    assert bp.nn.parallel.DataParallel is bp.nn.DataParallel
    model = bp.nn.Linear(3, 2)
    x = bp.ones(4, 3)
    if not bp.cuda.is_available():
        with pytest.raises(RuntimeError, match="device type could not be determined"):
            bp.nn.parallel.data_parallel(model, x)
        assert np.array_equal(bp.nn.parallel.DataParallel(model)(x).detach().numpy(), model(x).detach().numpy())


@needs_torch
@pytest.mark.parametrize("name", ["get_device_capability", "max_memory_reserved", "reset_accumulated_memory_stats"])
def test_accelerator_names_without_device_match_torch(name):
    if torch.accelerator.is_available() or bp.accelerator.is_available():
        pytest.skip("an accelerator is present")
    assert _outcome(getattr(bp.accelerator, name)) == _outcome(getattr(torch.accelerator, name))


# ---------------------------------------------------------------- global module hooks (torch.nn.modules.module)
def _global_hook_events(lib):
    """Build and run a small model under every global module hook; the events, in order, with shapes."""
    mm = lib.nn.modules.module
    events: list = []

    def shapes(ts):
        return [None if t is None else list(t.shape) for t in ts]

    handles = [
        mm.register_module_full_backward_pre_hook(lambda m, go: events.append(("bpre", type(m).__name__, shapes(go)))),
        mm.register_module_full_backward_hook(
            lambda m, gi, go: events.append(("bwd", type(m).__name__, shapes(gi), shapes(go)))
        ),
        mm.register_module_parameter_registration_hook(lambda m, n, p: events.append(("param", type(m).__name__, n))),
        mm.register_module_buffer_registration_hook(
            lambda m, n, b: events.append(("buffer", type(m).__name__, n, None if b is None else list(b.shape)))
        ),
        mm.register_module_module_registration_hook(lambda m, n, s: events.append(("module", type(m).__name__, n))),
    ]
    try:
        lib.manual_seed(0)
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.BatchNorm1d(4))
        model.add_module("out", lib.nn.Linear(4, 2, bias=False))
        model[0].register_buffer("extra", lib.zeros(2))
        model(lib.ones(5, 3, requires_grad=True)).sum().backward()
    finally:
        for h in handles:
            h.remove()
    lib.nn.Linear(2, 2)(lib.ones(1, 2)).sum().backward()  # removed: no more events
    return events


@needs_torch
def test_global_module_hooks_match_torch():
    ours, theirs = _global_hook_events(bp), _global_hook_events(torch)
    assert ours == theirs
    assert ("bwd", "Sequential", [[5, 3]], [[5, 2]]) in ours and ("param", "Linear", "weight") in ours


def test_global_registration_hook_may_replace_the_value():
    mm = bp.nn.modules.module
    h = mm.register_module_buffer_registration_hook(lambda m, n, b: b * 2 if b is not None else None)
    try:
        m = bp.nn.Module()
        m.register_buffer("x", bp.ones(2))
    finally:
        h.remove()
    assert m.x.tolist() == [2.0, 2.0]


# ---------------------------------------------------------------- backends.cuda's fused-attention queries
@needs_torch
def test_backends_cuda_attention_queries_match_torch_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("torch has CUDA here")
    q = [lib.ones(1, 1, 2, 4) for lib in (bp, torch)]
    ours = bp.backends.cuda.SDPAParams(q[0], q[0], q[0], None, 0.0, False, False)
    theirs = torch.backends.cuda.SDPAParams(q[1], q[1], q[1], None, 0.0, False, False)
    for name in ("can_use_flash_attention", "can_use_efficient_attention"):
        assert getattr(bp.backends.cuda, name)(ours) is getattr(torch.backends.cuda, name)(theirs) is False
    for name in ("is_flash_attention_available", "is_ck_sdpa_available", "fp16_bf16_reduction_math_sdp_allowed"):
        assert getattr(bp.backends.cuda, name)() == getattr(torch.backends.cuda, name)()
    with pytest.warns(UserWarning, match="no fused attention kernels"):
        assert bp.backends.cuda.can_use_flash_attention(ours, debug=True) is False
    try:
        bp.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True)
        assert bp.backends.cuda.fp16_bf16_reduction_math_sdp_allowed() is True
    finally:
        bp.backends.cuda.allow_fp16_bf16_reduction_math_sdp(False)
