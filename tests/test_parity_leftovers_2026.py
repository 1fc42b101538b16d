"""Silent dtype and value differences left open by earlier sweeps, compared with torch: ``clamp`` of bool and
integer tensors with number bounds (and its in-place casting errors), ``addcmul``/``addcdiv``'s ``value`` on
integer tensors, Python complex numbers under each default dtype and as fill values of real tensors, and
``copy.deepcopy`` of tensors that share memory."""

import copy
import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity tests compare against torch")


def _dt(t):
    return str(t.dtype).replace("torch.", "")


def _same(fn):
    """``fn(lib)`` gives the same dtype and values under backprop and torch."""
    want, got = fn(torch), fn(bp)
    assert _dt(got) == _dt(want), (got, want)
    assert got.tolist() == want.tolist()


def _same_error(fn):
    """``fn(lib)`` raises under both: backprop's error is an instance of torch's class, with its message."""
    with pytest.raises(Exception) as want:
        fn(torch)
    with pytest.raises(Exception) as got:
        fn(bp)
    assert isinstance(got.value, type(want.value)), (got.value, want.value)
    assert str(got.value) == str(want.value)


def _b(lib):
    return lib.tensor([True, False, True])


def _i(lib, dtype="int64"):
    return lib.tensor([1, 2, 3], dtype=getattr(lib, dtype))


# ---------------------------------------------------------------- clamp: result_type(x, min, max)
@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.clamp(_b(m), 0, 1),
        lambda m: m.clip(_b(m), 0, 1),
        lambda m: _b(m).clamp(0, 1),
        lambda m: m.clamp(_b(m), -1, 0),
    ],
    ids=["clamp", "clip", "method", "negative"],
)
def test_clamp_of_bool_with_int_bounds_is_int64(fn):
    # torch's result_type(bool tensor, 0, 1) is int64: the clamp was computed and cast back to bool
    _same(fn)
    for other in (lambda m: m.clamp(_b(m), 0, 1.5), lambda m: m.clamp(_i(m), 0.5, 2.5), lambda m: _b(m).clamp(min=0)):
        _same(other)  # (these were right already: a float bound gives the default float, one bound int64)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.clamp(_b(m), True, True),
        lambda m: m.clamp(_b(m), min=True),
        lambda m: m.clamp(_b(m), max=False),
    ],
    ids=["both", "min", "max"],
)
def test_clamp_of_bool_with_bool_bounds_is_not_implemented(fn):
    _same_error(fn)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: _i(m).clamp_(0.5, 2.5),
        lambda m: _i(m, "int32").clip_(0.5, 2),
        lambda m: _i(m, "uint8").clamp_(max=1.5),
        lambda m: _i(m, "int8").clamp_min_(0.5),
        lambda m: _b(m).clamp_(0, 1),
    ],
    ids=["int64", "int32-clip", "uint8-max", "int8-min", "bool-int"],
)
def test_inplace_clamp_refuses_a_result_it_cannot_hold(fn):
    # torch raises here; the values were silently truncated (1.5 -> 1) into the integer tensor
    _same_error(fn)
    _same(lambda m: _i(m).clamp_(1, 2))  # bounds the tensor's dtype holds still clamp in place
    _same(lambda m: _i(m, "uint8").clamp_(min=True))


# ---------------------------------------------------------------- addcmul / addcdiv's value
@pytest.mark.parametrize("value", [0.5, 1.7, -1.7, 2.0])
def test_addcmul_of_integer_tensors_truncates_a_float_value(value):
    # torch reads value into int64 (toward zero): an int64 result, where we gave float32 (and 1.5, 4.0, 7.5)
    _same(lambda m: m.addcmul(_i(m), _i(m), _i(m), value=value))
    _same(lambda m: _i(m).addcmul_(_i(m), _i(m), value=value))
    _same(lambda m: m.addcmul(_i(m), _i(m), _i(m), value=2))


def test_addcmul_closed_form_on_integers():
    out = bp.addcmul(bp.tensor([1, 2, 3]), bp.tensor([1, 2, 3]), bp.tensor([1, 2, 3]), value=1.9)
    assert out.dtype == bp.int64
    assert out.tolist() == [1 + 1 * 1, 2 + 1 * 4, 3 + 1 * 9]


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.addcmul(_i(m), _i(m), _i(m), value=1j),
        lambda m: m.addcmul(_i(m).float(), _i(m), _i(m), value=1j),
        lambda m: m.addcmul(_i(m).double(), _i(m), _i(m), value=1j),
        lambda m: m.addcmul(_i(m).half(), _i(m).half(), _i(m).half(), value=1j),
        lambda m: m.addcdiv(_i(m).float(), _i(m).float(), _i(m).float(), value=1j),
        lambda m: m.addcmul(_i(m, "uint8"), _i(m, "uint8"), _i(m, "uint8"), value=-1.5),
        lambda m: m.addcmul(_i(m, "int8"), _i(m, "int8"), _i(m, "int8"), value=300.5),
        lambda m: m.addcmul(_i(m).float(), _i(m), _i(m), value=1e40),
    ],
    ids=[
        "int-complex",
        "float-complex",
        "double-complex",
        "half-complex",
        "addcdiv-complex",
        "uint8-neg",
        "int8-over",
        "float-over",
    ],  # fmt: skip
)
def test_addcmul_value_that_does_not_fit_is_torchs_error(fn):
    _same_error(fn)


# ---------------------------------------------------------------- Python complex numbers
@pytest.fixture(params=["float16", "bfloat16"])
def default_dtype(request):
    """Each default dtype in turn (bp's and torch's), restored afterwards."""
    old_bp, old_torch = bp.get_default_dtype(), torch.get_default_dtype()
    bp.set_default_dtype(getattr(bp, request.param))
    torch.set_default_dtype(getattr(torch, request.param))
    yield request.param
    bp.set_default_dtype(old_bp)
    torch.set_default_dtype(old_torch)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.full((2,), 1j),
        lambda m: m.tensor([1, 2]) * 1j,
        lambda m: m.tensor([True]) + 1j,
    ],
    ids=["full", "int-times", "bool-plus"],
)
def test_python_complex_takes_the_default_complex_dtype(default_dtype, fn):
    got = fn(bp)
    assert got.dtype == bp.complex64  # (torch's complex32 under float16 has no NumPy dtype: README)
    with warnings.catch_warnings():  # (torch's complex32: "ComplexHalf support is experimental")
        warnings.simplefilter("ignore", UserWarning)
        want = fn(torch)
    if want.dtype != torch.complex32:
        assert _dt(got) == _dt(want)
    assert got.tolist() == want.tolist()


def test_tensor_of_python_complex_under_half_defaults(default_dtype):
    if default_dtype == "float16":  # torch's complex32; ours complex64 (README), not complex128
        assert bp.tensor([1, 1j]).dtype == bp.complex64
        assert bp.tensor([1, 1j]).tolist() == torch.tensor([1, 1j]).tolist()
        return
    _same_error(lambda m: m.tensor(1j))  # torch has no bfloat16 complex
    _same_error(lambda m: m.as_tensor([1.0, 1j]))


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize(
    "fn",
    [
        lambda m, dt: m.full((2,), 1j, dtype=dt),
        lambda m, dt: m.full_like(_i(m).to(dt), 1j),
        lambda m, dt: _i(m).to(dt).masked_fill(_b(m), 1j),
        lambda m, dt: _i(m).to(dt).masked_fill_(_b(m), 2j),
        lambda m, dt: _i(m).to(dt).fill_(1j),
    ],
    ids=["full", "full_like", "masked_fill", "masked_fill_", "fill_"],
)
def test_complex_fill_of_a_real_tensor_is_torchs_error(fn, dtype):
    # these were silently zero (NumPy's cast drops the imaginary part) or a TypeError
    _same_error(lambda m: fn(m, getattr(m, dtype)))


@pytest.mark.parametrize("dtype", ["int64", "float32"])
def test_complex_fill_with_zero_imaginary_part_is_its_real_part(dtype):
    _same(lambda m: m.full((2,), 3 + 0j, dtype=getattr(m, dtype)))
    _same(lambda m: _i(m).to(getattr(m, dtype)).masked_fill(_b(m), 2 + 0j))


def test_scalar_tensor_of_complex():
    _same_error(lambda m: m.scalar_tensor(1j))
    _same_error(lambda m: m.scalar_tensor(1j, dtype=m.float64))
    _same(lambda m: m.scalar_tensor(1j, dtype=m.complex64))


# ---------------------------------------------------------------- deepcopy keeps shared memory shared
def _write_through(lib, build, write, read):
    """Deep-copy ``build(lib)``'s structure, write through one copy, read through another."""
    out = copy.deepcopy(build(lib))
    write(out)
    return read(out)


@pytest.mark.parametrize(
    "build, write, read",
    [
        (lambda m: (lambda b: (b, b[1:]))(m.arange(4.0)), lambda c: c[1].__setitem__(0, 100.0), lambda c: c[0]),
        (lambda m: (lambda b: [b[1:], b])(m.arange(4.0)), lambda c: c[1].__setitem__(1, 5.0), lambda c: c[0]),
        (
            lambda m: (lambda b: {"a": b, "v": b.view(2, 2), "l": [b[::2]]})(m.arange(4.0)),
            lambda c: (c["v"].__setitem__((0, 0), 7.0), c["l"][0].__setitem__(1, 9.0)),
            lambda c: c["a"],
        ),
        (
            lambda m: (lambda b: [b.t(), b[:, 1]])(m.arange(6.0).reshape(2, 3)),
            lambda c: c[0].__setitem__((1, 0), 50.0),
            lambda c: c[1],
        ),
    ],
    ids=["tuple", "view-first", "dict-list", "transpose"],
)
def test_deepcopy_of_tensors_sharing_memory_shares_it(build, write, read):
    # torch copies a storage once per deepcopy: a write through one copy shows in the other (ours did not)
    want = _write_through(torch, build, write, read)
    got = _write_through(bp, build, write, read)
    assert got.tolist() == want.tolist()


def test_deepcopy_of_a_module_with_views_of_one_buffer():
    def build(m):
        flat = m.zeros(6)
        lin = m.nn.Linear(2, 2)
        lin.weight = m.nn.Parameter(flat[:4].view(2, 2))
        lin.bias = m.nn.Parameter(flat[4:])
        lin.register_buffer("a", flat[2:4])
        lin.register_buffer("b", flat[3:])
        return lin

    for m in (torch, bp):
        lin = build(m)
        c = copy.deepcopy(lin)
        c.a[1] = 8.0  # buffers: one storage, as torch's Tensor.__deepcopy__
        assert c.b.tolist() == [8.0, 0.0, 0.0]
        with m.no_grad():  # parameters: each a clone, as torch's Parameter.__deepcopy__
            c.weight[1, 1] = 3.0
        assert c.bias.tolist() == [0.0, 0.0]
        assert c.weight.untyped_storage().size() == 16
        assert lin.a.tolist() == [0.0, 0.0]  # (the original untouched)


# ---------------------------------------------------------------- NumPy bool scalars are doubles to torch
@pytest.mark.parametrize(
    "fn",
    [
        lambda m: np.bool_(True) * _i(m),
        lambda m: _i(m) + np.bool_(True),
        lambda m: _b(m) * np.bool_(True),
        lambda m: _i(m, "uint8").mul(np.bool_(False)),
        lambda m: m.where(_b(m), _i(m), np.bool_(True)),
        lambda m: _i(m).clamp(np.bool_(True)),
        lambda m: _i(m) ** np.bool_(True),
    ],
    ids=["rmul", "add", "bool-mul", "uint8-mul", "where", "clamp", "pow"],
)
def test_numpy_bool_operand_is_a_float(fn):
    # torch's argument parser reads a NumPy bool (``mask.any()`` from NumPy) as a double: float32 results
    _same(fn)


def test_numpy_bool_operand_in_place_and_bitwise():
    _same_error(lambda m: _i(m).__iadd__(np.bool_(True)))
    _same(lambda m: _i(m) == np.bool_(True))  # (comparisons and fills are unchanged)
    _same(lambda m: _i(m).masked_fill(_b(m), np.bool_(True)))


# ---------------------------------------------------------------- float fills of integer tensors
def _setitem(t, v):
    t[0] = v
    return t


@pytest.mark.parametrize(
    "dtype, value",
    [("uint8", -0.5), ("uint8", -1.0), ("uint8", 255.5), ("int8", 127.9), ("int8", 128.0), ("int8", -129.0),
     ("int32", 2.0**31), ("int64", float("inf")), ("int64", float("nan")), ("int32", float("nan"))],
)  # fmt: skip
@pytest.mark.parametrize(
    "fn",
    [
        lambda m, dt, v: m.full((2,), v, dtype=dt),
        lambda m, dt, v: m.zeros(2, dtype=dt).new_full((1,), v),
        lambda m, dt, v: m.zeros(2, dtype=dt).fill_(v),
        lambda m, dt, v: m.zeros(2, dtype=dt).masked_fill(m.tensor([True, False]), v),
        lambda m, dt, v: m.zeros(2, dtype=dt).index_fill(0, m.tensor([1]), v),
        lambda m, dt, v: m.zeros(2, dtype=dt).scatter(0, m.tensor([1]), v),
        lambda m, dt, v: _setitem(m.zeros(2, dtype=dt), v),
    ],
    ids=["full", "new_full", "fill_", "masked_fill", "index_fill", "scatter", "setitem"],
)
def test_float_fill_beyond_an_integer_dtype_is_torchs_error(fn, dtype, value):
    # these wrapped silently (255.5 -> 255, 128.0 -> -128, nan -> -2**63) or raised NumPy's OverflowError
    _same_error(lambda m: fn(m, getattr(m, dtype), value))


@pytest.mark.parametrize("value", [1.7, -1.7, -0.0, 2.0**63])
def test_float_fill_within_range_truncates(value):
    for fn in (
        lambda m: m.full((2,), value, dtype=m.int64),
        lambda m: m.zeros(2, dtype=m.int64).fill_(value),
        lambda m: _setitem(m.zeros(2, dtype=m.int64), value),
    ):
        _same(fn)
    _same_error(lambda m: m.zeros(2, dtype=m.uint8).fill_(-value if value > 0 else -1.5))


# ---------------------------------------------------------------- binary max/min and diff's prepend promote
@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.max(_i(m), m.tensor([1.5, 1.5, 1.5])),
        lambda m: m.min(_i(m), m.tensor([1.5, 1.5, 1.5])),
        lambda m: _i(m).max(m.tensor([2.5, 0.5, 9.0])),
    ],
    ids=["max", "min", "method"],
)
def test_binary_max_min_promote_as_maximum(fn):
    # torch.max(a, b) is maximum: int64 with float32 is float32 (ours was NumPy's float64)
    _same(fn)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.diff(_i(m), prepend=m.tensor([0.5])),
        lambda m: m.diff(_i(m), append=m.tensor([0.25])),
        lambda m: m.diff(_i(m).half(), prepend=m.tensor([0.25])),
        lambda m: m.diff(_b(m), append=m.tensor([2])),
    ],
    ids=["int-float-prepend", "int-float-append", "half-float", "bool-int"],
)
def test_diff_promotes_prepend_and_append_as_cat(fn):
    # torch concatenates with cat's promotion: the prepended 0.5 was truncated to 0 into the int tensor
    _same(fn)
