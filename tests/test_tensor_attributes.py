"""What a tensor is (predicates, layout, Size), dtype information and promotion, process settings
and leaf hooks: against torch where it is installed, against NumPy and closed forms everywhere."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # the torch comparisons below skip; the rest runs
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
nan = float("nan")
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


# ---------------------------------------------------------------- Size
def test_size_is_a_tuple_with_numel() -> None:
    t = bp.zeros(2, 3, 4)
    assert isinstance(t.shape, bp.Size) and isinstance(t.size(), bp.Size)
    assert t.shape == (2, 3, 4) and t.size(-1) == 4 and t.shape.numel() == 24 == t.numel()
    assert bp.Size([]).numel() == 1 and bp.Size([0, 5]).numel() == 0
    assert isinstance(t.shape[1:], bp.Size) and t.shape[1:] == (3, 4) and isinstance(t.shape[0], int)
    assert t.shape + (5,) == (2, 3, 4, 5) and isinstance(t.shape + (5,), bp.Size)
    assert repr(t.shape) == "Size([2, 3, 4])"
    assert pickle.loads(pickle.dumps(t.shape)) == t.shape
    assert np.zeros(t.shape).shape == (2, 3, 4)
    assert bp.Size(np.array([2, 3])) == (2, 3)  # NumPy integers become ints
    with pytest.raises(TypeError, match="Size"):
        bp.Size([2.5])


@needs_torch
def test_size_matches_torch() -> None:
    ours, theirs = bp.zeros(2, 3).shape, torch.zeros(2, 3).shape
    assert tuple(ours) == tuple(theirs) and ours.numel() == theirs.numel()
    assert tuple(ours[::-1]) == tuple(theirs[::-1]) and tuple((1,) + ours) == tuple((1,) + theirs)


# ---------------------------------------------------------------- predicates and layout
@needs_torch
@pytest.mark.parametrize("name", DTYPES)
def test_dtype_predicates_match_torch(name: str) -> None:
    ours = bp.zeros(3, dtype=getattr(bp, name if name != "bool" else "bool_"))
    theirs = torch.zeros(3, dtype=getattr(torch, name))
    for attr in ("is_floating_point", "is_complex", "is_signed", "element_size"):
        assert getattr(ours, attr)() == getattr(theirs, attr)(), attr
    assert ours.itemsize == theirs.itemsize and ours.nbytes == theirs.nbytes
    assert bp.is_floating_point(ours) == torch.is_floating_point(theirs)


@needs_torch
def test_layout_queries_match_torch() -> None:
    a, b = bp.arange(24.0).reshape(2, 3, 4), torch.arange(24.0).reshape(2, 3, 4)
    for f in (lambda x: x, lambda x: x[:, 1:], lambda x: x.transpose(0, 2), lambda x: x[1, ::2, 1:]):
        ours, theirs = f(a), f(b)
        assert ours.stride() == theirs.stride() and ours.storage_offset() == theirs.storage_offset()
        assert [ours.stride(d) for d in range(-ours.ndim, ours.ndim)] == [
            theirs.stride(d) for d in range(-theirs.ndim, theirs.ndim)
        ]
    assert a.nelement() == b.nelement() and a.ndimension() == b.ndimension() and a.get_device() == b.get_device() == -1
    assert (a.is_cuda, a.is_cpu, a.is_sparse, a.is_meta, a.is_quantized) == (
        b.is_cuda, b.is_cpu, b.is_sparse, b.is_meta, b.is_quantized,
    )  # fmt: skip
    assert repr(a.layout) == "strided" and a.layout is bp.strided
    assert a.is_same_size(bp.zeros(2, 3, 4)) and not a.is_same_size(bp.zeros(3, 2, 4))


def test_data_ptr_follows_views() -> None:
    a = bp.arange(10.0)
    assert a.data_ptr() == a.numpy().ctypes.data
    assert a[3:].data_ptr() - a.data_ptr() == 3 * a.element_size() and a[3:].storage_offset() == 3


@needs_torch
def test_is_nonzero_and_errors_match_torch() -> None:
    assert bp.is_nonzero(bp.tensor([2.0])) is True and bp.tensor(0).is_nonzero() is False
    for values in ([], [1.0, 2.0]):
        with pytest.raises(RuntimeError) as theirs:
            torch.is_nonzero(torch.tensor(values))
        with pytest.raises(RuntimeError, match="Boolean value of Tensor") as ours:
            bp.is_nonzero(bp.tensor(values))
        assert str(ours.value) == str(theirs.value)


def test_real_tensor_views_are_the_tensor_itself() -> None:
    x = bp.randn(3, 4, requires_grad=True)
    assert x.conj() is x and x.real is x and x.resolve_conj() is x and x.resolve_neg() is x
    assert not x.is_conj() and not x.is_neg()
    assert (
        np.array_equal(x.H.detach().numpy(), x.detach().numpy().T)
        and x.mH.shape == (4, 3)
        and x.adjoint().shape == (4, 3)
    )
    x.H.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.ones((3, 4), np.float32))
    with pytest.raises(RuntimeError, match="imag is not implemented"):
        _ = x.imag
    with pytest.raises(RuntimeError, match="only supported on matrices"):
        _ = bp.ones(3).H


@pytest.mark.skipif(not bp.dtypes.HAS_BFLOAT16, reason="bfloat16 needs ml_dtypes (a dependency)")
def test_more_dtype_shorthands() -> None:
    x = bp.tensor([1.7, -2.2])
    assert x.byte().dtype == bp.uint8 and x.char().dtype == bp.int8 and x.short().dtype == bp.int16
    assert x.short().tolist() == [1, -2] and x.cdouble().dtype == np.complex128
    assert x.bfloat16().dtype == bp.bfloat16 and x.bfloat16().tolist() == [1.703125, -2.203125]


def test_pinning_and_sharing_are_no_ops_on_host_memory() -> None:
    x = bp.ones(3)
    assert x.pin_memory() is x and not x.is_pinned() and x.share_memory_() is x and not x.is_shared()


def test_apply_and_map_in_place() -> None:
    x = bp.tensor([[1.0, 2.0], [3.0, 4.0]])
    v = x._version
    assert x.apply_(lambda e: e * 10) is x and x.tolist() == [[10.0, 20.0], [30.0, 40.0]] and x._version > v
    x.map_(bp.tensor([1.0, 2.0]), lambda a, b: a - b)  # the other tensor broadcasts
    assert x.tolist() == [[9.0, 18.0], [29.0, 38.0]]
    view = x[:, 1]
    view.apply_(lambda e: -e)
    assert x.tolist() == [[9.0, -18.0], [29.0, -38.0]]
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        bp.ones(2, requires_grad=True).apply_(abs)
    with pytest.raises(RuntimeError, match="cannot be recorded"):
        (bp.ones(2, requires_grad=True) * 2).apply_(abs)


# ---------------------------------------------------------------- dtype information and promotion
@needs_torch
@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_torch(name: str) -> None:
    ours, theirs = bp.finfo(getattr(bp, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert type(getattr(ours, attr)) is type(getattr(theirs, attr)), attr
    assert bp.finfo().dtype == "float32" == torch.finfo().dtype


@needs_torch
@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name: str) -> None:
    ours, theirs = bp.iinfo(getattr(bp, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.min, ours.max, ours.dtype) == (theirs.bits, theirs.min, theirs.max, theirs.dtype)


def test_info_refuses_the_other_kind() -> None:
    with pytest.raises(TypeError, match="floating point"):
        bp.finfo(bp.int32)
    with pytest.raises(TypeError, match="integer"):
        bp.iinfo(bp.float32)
    with pytest.raises(TypeError, match="bool"):
        bp.iinfo(bp.bool)


@needs_torch
def test_promote_types_and_can_cast_match_torch_on_every_pair() -> None:
    for a, b in itertools.product(DTYPES, repeat=2):
        ours_a, ours_b = np.dtype(a), np.dtype(b)
        theirs_a, theirs_b = getattr(torch, a), getattr(torch, b)
        assert bp.promote_types(ours_a, ours_b).name == str(torch.promote_types(theirs_a, theirs_b))[6:], (a, b)
        assert bp.can_cast(ours_a, ours_b) == torch.can_cast(theirs_a, theirs_b), (a, b)


@needs_torch
def test_result_type_matches_torch() -> None:
    pairs = [
        (bp.ones(2, dtype=bp.int32), 2.5, torch.ones(2, dtype=torch.int32), 2.5),
        (2, 3, 2, 3),
        (2.0, bp.ones(2, dtype=bp.float64), 2.0, torch.ones(2, dtype=torch.float64)),
        (bp.tensor(1.0, dtype=bp.float64), bp.ones(2), torch.tensor(1.0, dtype=torch.float64), torch.ones(2)),
        (
            bp.ones(2, dtype=bp.uint8),
            bp.ones(2, dtype=bp.int8),
            torch.ones(2, dtype=torch.uint8),
            torch.ones(2, dtype=torch.int8),
        ),
    ]
    for a, b, ta, tb in pairs:
        assert bp.result_type(a, b).name == str(torch.result_type(ta, tb))[6:]


def test_dtype_is_the_dtype_class() -> None:
    assert isinstance(bp.ones(1).dtype, bp.dtype) and isinstance(bp.float16, bp.dtype)


# ---------------------------------------------------------------- settings
def test_printoptions_change_reprs_and_come_back() -> None:
    x = bp.tensor([1.23456789, 100.5])
    assert repr(x) == "tensor([  1.2346, 100.5000])"  # torch's default: four decimals, as many for all
    try:
        bp.set_printoptions(precision=2)
        assert repr(x) == "tensor([  1.23, 100.50])"
        bp.set_printoptions(profile="full")
        assert "..." not in repr(bp.arange(2000))
        bp.set_printoptions(profile="default")
        assert "..." in repr(bp.arange(2000))
        bp.set_printoptions(sci_mode=True)
        assert repr(bp.tensor([1.5])) == "tensor([1.5000e+00])"
    finally:
        bp.set_printoptions(profile="default")
    assert repr(x) == "tensor([  1.2346, 100.5000])" and repr(bp.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    with pytest.raises(ValueError, match="profile"):
        bp.set_printoptions(profile="long")


@needs_torch
def test_default_reprs_match_torch() -> None:
    cases = (
        [1.23456789, 100.5],
        [1.0, 2.0],
        [[0.5, -1.25], [3.0, 4.125]],
        [1e-5, 1.0],
        [nan, 1.5],
        [1, 2, 3],
        [True, False],
        [True, True],  # (no padding when no False is printed)
        [[True], [True]],
        [[False, True], [True, True]],
    )
    for values in cases:
        assert repr(bp.tensor(values)) == repr(torch.tensor(values))


def test_num_threads_set_and_read_back() -> None:
    before = bp.get_num_threads()
    try:
        bp.set_num_threads(1)
        assert bp.get_num_threads() == 1
    finally:
        bp.set_num_threads(before)
    assert bp.get_num_threads() == before
    with pytest.raises(RuntimeError, match="positive integer"):
        bp.set_num_threads(0)


def test_recorded_flags() -> None:
    assert bp.are_deterministic_algorithms_enabled() is False
    try:
        bp.use_deterministic_algorithms(True, warn_only=True)
        assert bp.are_deterministic_algorithms_enabled() and bp.is_deterministic_algorithms_warn_only_enabled()
    finally:
        bp.use_deterministic_algorithms(False)
    assert bp.get_float32_matmul_precision() == "highest"
    try:
        bp.set_float32_matmul_precision("high")
        assert bp.get_float32_matmul_precision() == "high"
    finally:
        bp.set_float32_matmul_precision("highest")
    with pytest.warns(UserWarning, match="has no effect"):  # (torch warns and keeps the setting)
        bp.set_float32_matmul_precision("low")
    assert bp.get_float32_matmul_precision() == "highest"
    bp.backends.cudnn.benchmark = True  # scripts set these; they are kept and change nothing
    assert bp.backends.cudnn.benchmark is True and not bp.backends.cudnn.is_available()
    bp.backends.cudnn.benchmark = False
    assert bp.backends.mps.is_available() is False and bp.backends.mps.is_built() is False


def test_top_level_predicates() -> None:
    t = bp.ones(2, 3)
    assert bp.is_tensor(t) and bp.is_tensor(bp.nn.Parameter(bp.ones(1))) and not bp.is_tensor(np.ones(2))
    assert bp.numel(t) == 6 and bp.is_same_size(t, bp.zeros(2, 3)) and not bp.is_complex(t)


# ---------------------------------------------------------------- leaf hooks
def test_retains_grad() -> None:
    x = bp.ones(2, requires_grad=True)
    y = x * 2
    assert not y.retains_grad and not x.retains_grad
    y.retain_grad()
    y.retain_grad()  # twice is once
    assert y.retains_grad and not x.retains_grad
    (y * 3).sum().backward()
    assert y.grad.tolist() == [3.0, 3.0]


def test_post_accumulate_grad_hook_sees_the_accumulated_grad() -> None:
    w = bp.ones(3, requires_grad=True)
    seen = []

    def hook(p: bp.Tensor) -> None:
        seen.append(p.grad.tolist())

    handle = w.register_post_accumulate_grad_hook(hook)
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    assert seen == [[2.0, 2.0, 2.0], [5.0, 5.0, 5.0]]  # after accumulation, every backward
    handle.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2 and w.grad.tolist() == [8.0, 8.0, 8.0]


def test_post_accumulate_grad_hook_steps_an_optimizer_per_parameter() -> None:
    """torch's documented use: an optimizer step inside the hook, so gradients can be freed early."""
    bp.manual_seed(0)
    model = bp.nn.Linear(4, 2)
    twin = bp.nn.Linear(4, 2)
    twin.load_state_dict(model.state_dict())
    opts = {p: bp.optim.SGD([p], lr=0.1) for p in model.parameters()}

    def step(p: bp.Tensor) -> None:
        opts[p].step()
        opts[p].zero_grad()

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step)
    x = bp.randn(5, 4)
    model(x).pow(2).sum().backward()
    twin_opt = bp.optim.SGD(twin.parameters(), lr=0.1)
    twin(x).pow(2).sum().backward()
    twin_opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
        assert a.grad is None


def test_post_accumulate_grad_hook_errors() -> None:
    x = bp.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        bp.ones(2).register_post_accumulate_grad_hook(lambda p: None)
    x.register_post_accumulate_grad_hook(lambda p: p * 2)  # (returning p itself is allowed, as torch)
    with pytest.raises(RuntimeError, match="must return None"):
        x.sum().backward()


def test_integer_and_bool_results_never_require_grad() -> None:
    """As torch: a cast to an integer dtype (or a comparison) cuts the graph, so no gradient can flow
    back through rounding (a parametrization using ``.int()`` indices was silently wrong before)."""
    x = bp.tensor([1.5, 2.5], requires_grad=True)
    for out in (x.int(), x.long(), x > 1, x.to(bp.uint8), x.argmax()):
        assert not out.requires_grad and out.grad_fn is None
    y = x * x.int()  # the integer factor is a constant
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 2.0]


def test_data_is_torchs_detached_alias() -> None:
    """``.data``: a Tensor sharing the memory, outside autograd's view (no version bump), as torch's."""
    lin = bp.nn.Linear(3, 2)
    w = lin.weight
    assert isinstance(w.data, bp.Tensor) and not w.data.requires_grad and w.data.grad_fn is None
    v = w._version
    w.data.uniform_(-0.1, 0.1)  # the idiom of torch's init_weights
    assert w.abs().max().item() <= 0.1 and w._version == v and w.requires_grad
    w.data.mul_(0.0)
    assert w.abs().max().item() == 0.0
    h = w * 2
    w.data = bp.ones(4, 3)  # rebinding: shape may change, requires_grad stays
    assert w.shape == (4, 3) and w.requires_grad and h.shape == (2, 3)
    with pytest.raises(TypeError, match="has to be a tensor"):
        w.data = np.ones((4, 3))


@needs_torch
def test_data_matches_torch_semantics() -> None:
    for lib in (bp, torch):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        y.data.add_(1)  # invisible to autograd: backward still uses the gradient of x * 2
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0, 2.0] and y.tolist() == [3.0, 3.0, 3.0]


# ---------------------------------------------------------------- legacy constructors, asarray, testing
@needs_torch
def test_legacy_tensor_constructor_matches_torch() -> None:
    for args in [(2, 3), (3,), ([1, 2],), ((1, 2),), ([1.5],), (), (np.array([1, 2]),), (np.ones(2),)]:
        ours, theirs = bp.Tensor(*args), torch.Tensor(*args)
        assert tuple(ours.shape) == tuple(theirs.shape), args
        assert ours.dtype.name == str(theirs.dtype)[6:], args  # arrays too: float32, as torch's legacy constructor
        if args and not isinstance(args[0], int):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert bp.Tensor(bp.Size([2, 2])).shape == (2, 2)
    w = bp.nn.Parameter(bp.Tensor(4, 3))  # the old custom-layer idiom, then an initialiser
    bp.nn.init.kaiming_uniform_(w, a=5**0.5)
    assert w.shape == (4, 3) and w.requires_grad and w.abs().max().item() > 0
    with pytest.raises(TypeError, match="sizes"):
        bp.Tensor([1.0], 2)


@needs_torch
def test_legacy_tensor_types_match_torch() -> None:
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ByteTensor", "BoolTensor", "HalfTensor"):
        ours_t, theirs_t = getattr(bp, name), getattr(torch, name)
        a, b = ours_t([1, 0, 2]), theirs_t([1, 0, 2])
        assert a.dtype.name == str(b.dtype)[6:] and a.tolist() == b.tolist(), name
        assert (
            ours_t(2, 3).shape == (2, 3)
            and isinstance(a, ours_t)
            and isinstance(bp.tensor(a.tolist(), dtype=a.dtype), ours_t)
        )
        assert not isinstance(bp.ones(1, dtype=bp.float64 if name != "DoubleTensor" else bp.float32), ours_t)
    x = bp.tensor([1.7, 2.2])
    assert x.type(bp.LongTensor).tolist() == [1, 2] and x.type("torch.DoubleTensor").dtype == bp.float64
    assert x.type() == torch.tensor([1.7]).type() == "torch.FloatTensor"
    with pytest.raises(ValueError, match="invalid type"):
        x.type("torch.NopeTensor")


def test_asarray_shares_or_copies_as_asked() -> None:
    a = np.arange(3.0)
    shared = bp.asarray(a)
    a[0] = 9.0
    assert shared.tolist()[0] == 9.0
    copied = bp.asarray(a, copy=True)
    a[1] = 7.0
    assert copied.tolist()[1] == 1.0
    assert bp.asarray([1, 2]).dtype == bp.int64 and bp.asarray(a, dtype=bp.float32).dtype == bp.float32
    with pytest.raises(ValueError, match="copy"):
        bp.asarray(a, dtype=bp.float32, copy=False)
    assert bp.asarray(a, requires_grad=True).requires_grad


def test_assert_close_uses_torchs_tolerances() -> None:
    x = bp.tensor([1.0, 2.0])
    bp.testing.assert_close(x, x + 1e-6)  # float32: rtol 1.3e-6, atol 1e-5
    with pytest.raises(AssertionError, match="not close"):
        bp.testing.assert_close(x, x + 1e-3)
    with pytest.raises(AssertionError, match="dtype"):
        bp.testing.assert_close(x, x.double())
    bp.testing.assert_close(x, x.double(), check_dtype=False)
    with pytest.raises(AssertionError, match="shape"):
        bp.testing.assert_close(x, bp.ones(3))
    nan = bp.tensor([float("nan")])
    with pytest.raises(AssertionError):
        bp.testing.assert_close(nan, nan)
    bp.testing.assert_close(nan, nan, equal_nan=True)
    bp.testing.assert_close({"a": [x, 1]}, {"a": [x, 1]})
    bp.testing.assert_close(1.0, 1.0 + 1e-9)
    with pytest.raises(AssertionError, match="custom"):
        bp.testing.assert_close(x, x + 1, msg="custom")
    with pytest.raises(ValueError, match="rtol"):
        bp.testing.assert_close(x, x, rtol=1e-3)


def test_interop_threads_are_recorded() -> None:
    before = bp.get_num_interop_threads()
    bp.set_num_interop_threads(3)
    assert bp.get_num_interop_threads() == 3
    bp.set_num_interop_threads(before)
    with pytest.raises(RuntimeError, match="positive"):
        bp.set_num_interop_threads(0)


def test_numpy_array_of_a_tensor_copies_asarray_shares() -> None:
    t = bp.ones(3)
    a = np.array(t)
    a[0] = 5.0
    b = np.asarray(t)
    b[1] = 7.0
    assert t.tolist() == [1.0, 7.0, 1.0]


def test_optimizer_state_dict_holds_the_state_tensors_as_torchs() -> None:
    w = bp.nn.Parameter(bp.ones(3))
    opt = bp.optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    assert isinstance(sd["state"][0]["exp_avg"], bp.Tensor) and sd["state"][0]["exp_avg"] is opt.state[id(w)]["exp_avg"]
    other_w = bp.nn.Parameter(bp.ones(3))
    other = bp.optim.Adam([other_w])
    other.load_state_dict(sd)  # a copy: stepping one optimizer leaves the other's state alone
    opt.step()
    assert not np.array_equal(other.state_dict()["state"][0]["exp_avg"].numpy(), sd["state"][0]["exp_avg"].numpy())


@needs_torch
def test_optimizer_state_is_keyed_by_the_parameter_as_torchs() -> None:
    for lib in (bp, torch):
        w = lib.nn.Parameter(lib.ones(3))
        opt = lib.optim.Adam([w])
        assert opt.state[w] == {} or len(opt.state[w]) == 0  # a defaultdict in torch
        (w * w).sum().backward()
        opt.step()
        assert w in opt.state and {"exp_avg", "exp_avg_sq", "step"} <= set(opt.state[w])
        np.testing.assert_allclose(np.asarray(opt.state[w]["exp_avg"].detach().tolist()), [0.2, 0.2, 0.2], rtol=1e-6)


@needs_torch
def test_memory_formats_are_accepted_where_torch_takes_them() -> None:
    """``memory_format=`` everywhere torch takes it; layouts stay C order, and ``is_contiguous`` answers
    for the format asked about, as torch's does for a tensor that was never converted."""
    for lib in (bp, torch):
        x = lib.ones(2, 3, 4, 4)
        assert x.contiguous(memory_format=lib.contiguous_format).shape == (2, 3, 4, 4)
        assert x.to(memory_format=lib.channels_last).shape == (2, 3, 4, 4)
        assert x.clone(memory_format=lib.preserve_format).sum().item() == 96.0
        assert lib.zeros_like(x, memory_format=lib.preserve_format).shape == (2, 3, 4, 4)
        assert lib.full_like(x, 2.0, memory_format=lib.preserve_format).sum().item() == 192.0
        assert x.is_contiguous() and not x.is_contiguous(memory_format=lib.channels_last)
        assert x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).is_contiguous(memory_format=lib.channels_last)
        lib.nn.Conv2d(3, 3, 1).to(memory_format=lib.channels_last)


def _repr_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.standard_normal(12),  # a vector over one line
        rng.standard_normal((2, 8)),  # rows of eight: torch fits them, NumPy's own layout would not
        rng.standard_normal((3, 4, 5)),
        rng.standard_normal(2000),  # summarised: edge items around "..."
        rng.standard_normal((40, 40)),
        rng.standard_normal((3, 300, 4)),
        rng.standard_normal(100) * 1e-6,  # scientific
        rng.standard_normal(20) * 1e6,  # fixed, though NumPy would switch float32 to exponents
        np.array([np.nan, 1.0, np.inf]),  # nonfinite values do not widen the others
        np.array([-0.0, 1.5]),
        np.array([0.0, 100.0]),
        np.arange(3000).reshape(30, 100),
        rng.integers(-1000, 1000, (3, 40)),
    ]


@needs_torch
def test_reprs_lay_out_as_torch() -> None:
    """Line breaks, summaries, widths and suffix wrapping equal torch's (its dtype names aside)."""
    for a in _repr_cases():
        if a.dtype.kind in "iu":
            pairs = [(bp.tensor(a), torch.tensor(a))]
        else:
            ours = bp.tensor(a, dtype=bp.float32, requires_grad=True) * 2
            theirs = torch.tensor(a, dtype=torch.float32, requires_grad=True) * 2
            pairs = [(ours, theirs), (ours.double(), theirs.double()), (ours.detach(), theirs.detach())]
        for x, y in pairs:
            assert repr(x) == repr(y).replace("torch.", "")
