"""The Python protocol of tensors as ordinary code uses it (``==`` with lists, ``float()`` of a complex
tensor, ``hash``, operators with NumPy arrays, ``copy.deepcopy``, ``Size``), compared with torch."""

import copy
import operator
import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity tests compare against torch")


def _same_error(fn_bp, fn_torch):
    """Both raise: the same exception class and message (``Size`` printed without ``torch.``)."""
    with pytest.raises(Exception) as want:
        fn_torch()
    with pytest.raises(Exception) as got:
        fn_bp()
    assert isinstance(got.value, type(want.value)), (got.value, want.value)
    assert str(got.value) == str(want.value).replace("torch.Size", "Size")


@pytest.mark.parametrize(
    "other",
    [[1.0, 3.0], (1.0, 3.0), [1.0, 2.0], object(), {"a": 1}],
    ids=["list", "tuple", "equal-list", "object", "dict"],
)
def test_eq_ne_with_non_tensor_operands_compare_identity(other):
    # torch's == hands a list, tuple or object back to Python: ``t == [1., 2.]`` is False, not elementwise
    for lib in (bp, torch):
        t = lib.tensor([1.0, 2.0])
        assert (t == other) is False
        assert (t != other) is True
        assert (other == t) is False
    # numbers, arrays and tensors still compare element by element
    t, tt = bp.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])
    for num in (1, 1.0, np.float64(2.0), np.array([1.0, 3.0]), bp.tensor([1.0, 3.0])):
        want = tt == (torch.tensor([1.0, 3.0]) if isinstance(num, bp.Tensor) else num)
        assert (t == num).tolist() == want.tolist()


def test_list_membership_and_dict_keys_use_identity():
    a, b = bp.tensor([1.0, 2.0]), bp.tensor([1.0, 2.0])
    assert hash(a) == id(a)  # torch's Tensor.__hash__
    assert len({a: 1, b: 2}) == 2
    assert a in {a: 1}


@pytest.mark.parametrize("fn", [float, int], ids=["float", "int"])
def test_scalar_conversion_of_complex_with_zero_imaginary_part(fn):
    for v in (2.5 + 0j, -3 + 0j):
        assert fn(bp.tensor(v)) == fn(torch.tensor(v))
        assert type(fn(bp.tensor(v))) is type(fn(torch.tensor(v)))


@pytest.mark.parametrize("fn", [float, int], ids=["float", "int"])
def test_scalar_conversion_of_complex_with_imaginary_part_is_torchs_error(fn):
    _same_error(lambda: fn(bp.tensor(2 + 1j)), lambda: fn(torch.tensor(2 + 1j)))
    _same_error(lambda: fn(bp.tensor([1.0, 2.0])), lambda: fn(torch.tensor([1.0, 2.0])))


# (tensor, array) pairs where NumPy's promotion and torch's own differ: torch's operators follow NumPy's
CASES = [
    ([1.0, 2.0], "float32", np.array([1, 2])),
    ([1.0, 2.0], "float32", np.array([1, 2], dtype=np.int32)),
    ([1.0, 2.0], "float32", np.array(2.0)),
    ([1.0, 2.0], "float16", np.array([1, 2])),
    ([1.0, 2.0], "float16", np.array(2.0, dtype=np.float32)),
    ([1, 2], "int32", np.array(2.0, dtype=np.float32)),
    ([1, 2], "uint8", np.array(3)),
]


@pytest.mark.parametrize("op", ["add", "mul", "truediv", "sub", "pow"])
@pytest.mark.parametrize("values,dtype,array", CASES, ids=[f"{d}-{a.dtype}-{a.ndim}d" for _, d, a in CASES])
def test_tensor_op_numpy_array_takes_numpys_dtype(op, values, dtype, array):
    # torch gives ``t OP array`` to NumPy: float32 tensor * int64 array is float64 (NumPy's promotion)
    tt = torch.tensor(values, dtype=getattr(torch, dtype))
    t = bp.tensor(values, dtype=getattr(bp, dtype))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # (NumPy 2 on torch's __array_wrap__)
        want = getattr(operator, op)(tt, array)
    got = getattr(operator, op)(t, array)
    assert isinstance(got, bp.Tensor)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3)
    # a NumPy scalar stays weak, as a Python number: the tensor's dtype decides
    scalar = array.flat[0]
    assert str(getattr(operator, op)(t, scalar).dtype) == str(getattr(operator, op)(tt, scalar).dtype)[6:]


def test_tensor_op_numpy_array_keeps_the_graph():
    # (torch refuses: NumPy reads the tensor, and a tensor that requires grad cannot be read so)
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x * np.array([3, 4])
    assert y.dtype == bp.float64
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 4.0] and x.grad.dtype == bp.float32


def test_deepcopy_of_a_non_leaf_is_torchs_error():
    _same_error(
        lambda: copy.deepcopy(bp.tensor([1.0], requires_grad=True) * 2),
        lambda: copy.deepcopy(torch.tensor([1.0], requires_grad=True) * 2),
    )


def test_size_errors_are_torchs():
    _same_error(lambda: bp.Size([2.5]), lambda: torch.Size([2.5]))
    _same_error(lambda: bp.Size([2, "a"]), lambda: torch.Size([2, "a"]))
    _same_error(lambda: bp.Size([1]) + [2], lambda: torch.Size([1]) + [2])
    assert bp.Size([1]) + (2,) == torch.Size([1]) + (2,) and isinstance(bp.Size([1]) + (2,), bp.Size)
