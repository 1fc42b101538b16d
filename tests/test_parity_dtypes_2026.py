"""The dtype long tail of ordinary code against torch 2.13: integer division by zero from a Python number,
in-place casting errors, printing of 0-d and large floats, ... Each case is a line of torch code run with
``torch`` bound to torch and to backprop; the value, dtype, shape and repr, or the exception's class and
message, must be the same (``_case``). Closed forms check the same behaviour without torch."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp


def _picture(x: Any) -> Any:
    """A library-neutral picture of a result: a tensor as (shape, dtype name, repr, values)."""
    if hasattr(x, "grad_fn") and hasattr(x, "shape"):
        host = x.detach()
        values = (host.float() if "bfloat16" in str(x.dtype) else host).numpy().tolist()
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), repr(x).replace("torch.", ""), repr(values))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_picture(v) for v in x])
    if isinstance(x, str):
        return x.replace("torch.", "")
    return (type(x).__name__, repr(x))


def _run(code: str, lib: Any) -> Any:
    """``code``'s last line's value (or exception: its class's names and message) with ``torch`` as ``lib``."""
    *setup, last = code.split("\n")
    ns: dict[str, Any] = {"torch": lib, "np": np, "math": math}
    lib.set_default_dtype(lib.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec("\n".join(setup), ns)
            return ("ok", _picture(eval(last, ns)))
        except Exception as e:  # noqa: BLE001 - the exception's class and message are what is compared
            return ("raises", [c.__name__ for c in type(e).__mro__], str(e))
        finally:
            lib.set_default_dtype(lib.float32)
            lib.set_printoptions(profile="default")


def _case(code: str) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    ours, theirs = _run(code, bp), _run(code, torch)
    if ours[0] == theirs[0] == "raises":  # our class may be a subclass of torch's (ZeroDivisionError too)
        assert theirs[1][0] in ours[1], (code, ours, theirs)
        assert ours[2] == theirs[2], code
    else:
        assert ours == theirs, code


# ---------------------------------------------------------------- integer division by zero


ZERO_DIVISORS = [
    "1 // torch.tensor([0, 2])",
    "7 % torch.tensor([3, 0])",
    "-2 // torch.tensor([0, 3], dtype=torch.uint8)",
    "True % torch.tensor([0, 1], dtype=torch.int8)",
    "0 // torch.tensor([-3, 0], dtype=torch.int16)",
]


@pytest.mark.parametrize("code", ZERO_DIVISORS)
def test_number_divided_by_an_integer_zero_raises(code: str) -> None:
    _case(code)


def test_number_divided_by_an_integer_zero_closed_form() -> None:
    with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
        1 // bp.tensor([0, 2])
    with pytest.raises(ZeroDivisionError):
        7 % bp.tensor([3, 0], dtype=bp.uint8)
    assert (2.5 // bp.tensor([0, 2])).tolist() == [math.inf, 1.0]  # a float dividend: IEEE, as torch
    assert (7 % bp.tensor([3, -2])).tolist() == [1, -1]


# ---------------------------------------------------------------- in-place ops that would need a cast

INPLACE_CASTS = [
    "x = torch.tensor([1, 2], dtype=torch.uint8)\nx += 1.5\nx",
    "x = torch.tensor([1, 2], dtype=torch.uint8)\nx *= 2.0\nx",
    "x = torch.tensor([1, 2], dtype=torch.uint8)\nx /= 2\nx",
    "x = torch.tensor([1, 2], dtype=torch.uint8)\nx += 1j\nx",
    "x = torch.tensor([1, 2], dtype=torch.int32)\nx += 1.5\nx",
    "x = torch.tensor([1, 2], dtype=torch.int32)\nx *= 2.0\nx",
    "x = torch.tensor([1, 2], dtype=torch.int32)\nx /= 2\nx",
    "x = torch.tensor([1, 2], dtype=torch.int32)\nx -= torch.tensor(0.5)\nx",
    "x = torch.tensor([1, 2], dtype=torch.int32)\nx += 1j\nx",
    "x = torch.tensor([1, 2], dtype=torch.int64)\nx += 1.5\nx",
    "x = torch.tensor([1, 2], dtype=torch.int64)\nx *= 2.0\nx",
    "x = torch.tensor([1, 2], dtype=torch.int64)\nx /= 2\nx",
    "x = torch.tensor([1, 2], dtype=torch.int64)\nx -= torch.tensor(0.5)\nx",
    "x = torch.tensor([1, 2], dtype=torch.int64)\nx += 1j\nx",
    "x = torch.tensor([1, 2], dtype=torch.bool)\nx += 1.5\nx",
    "x = torch.tensor([1, 2], dtype=torch.bool)\nx *= 2.0\nx",
    "x = torch.tensor([1, 2], dtype=torch.bool)\nx /= 2\nx",
    "x = torch.tensor([1, 2], dtype=torch.bool)\nx += 1j\nx",
    "x = torch.tensor([1, 2])\nx.sqrt_()",
    "x = torch.tensor([1, 2], dtype=torch.int8)\nx.add_(0.5)",
    "x = torch.tensor([1, 2], dtype=torch.int16)\nx.pow_(0.5)",
]


@pytest.mark.parametrize("code", INPLACE_CASTS)
def test_inplace_cast_error_names_torchs_result_type(code: str) -> None:
    _case(code)


def test_inplace_cast_error_closed_form() -> None:
    x = bp.tensor([1, 2])
    with pytest.raises(RuntimeError, match="^result type Float can't be cast to the desired output type Long$"):
        x += 1.5
    with pytest.raises(RuntimeError, match="^result type Float can't be cast to the desired output type Byte$"):
        bp.tensor([4], dtype=bp.uint8).sqrt_()
    with pytest.raises(RuntimeError, match="^result type ComplexFloat can't be cast to the desired output type Float$"):
        bp.tensor([1.0]).add_(1j)
    assert x.tolist() == [1, 2]


# ---------------------------------------------------------------- printing

REPRS = [
    "repr(torch.tensor(3000., dtype=torch.float16))",
    "repr(torch.tensor(65504., dtype=torch.float16))",
    "repr(torch.tensor(1234.5678, dtype=torch.float16))",
    "repr(torch.tensor(2048., dtype=torch.float16))",
    "repr(torch.tensor(1e8, dtype=torch.float32))",
    "repr(torch.tensor(1e8, dtype=torch.float64))",
    "repr(torch.tensor([1e8], dtype=torch.float32))",
    "repr(torch.tensor([1e8], dtype=torch.float64))",
    "repr(torch.tensor([1e8, float('nan')], dtype=torch.float32))",
    "repr(torch.tensor([1e8, float('nan')], dtype=torch.float64))",
    "repr(torch.tensor(99999999., dtype=torch.float32))",
    "torch.set_printoptions(sci_mode=False)\nrepr(torch.tensor(1e20))",
    "torch.set_printoptions(sci_mode=False)\nrepr(torch.tensor([1.5e9, 0.25]))",
    "torch.set_printoptions(sci_mode=False)\nrepr(torch.tensor([1e9, -float('inf')]))",
    "torch.set_printoptions(sci_mode=False)\nrepr(torch.tensor(3000., dtype=torch.float16))",
    "torch.set_printoptions(sci_mode=True)\nrepr(torch.tensor(0.))",
    "torch.set_printoptions(sci_mode=True)\nrepr(torch.tensor([0., -0.]))",
    "torch.set_printoptions(precision=2)\nrepr(torch.tensor(3000., dtype=torch.float16))",
]


@pytest.mark.parametrize("code", REPRS)
def test_repr_of_float_values(code: str) -> None:
    _case(code)


def test_repr_closed_form() -> None:
    assert repr(bp.tensor(3000.0, dtype=bp.float16)) == "tensor(3000., dtype=float16)"
    assert repr(bp.tensor(1e8)) == "tensor(100000000.)"
    assert repr(bp.tensor([1e8])) == "tensor([100000000.])"
    bp.set_printoptions(sci_mode=True)
    try:
        assert repr(bp.tensor(0.0)) == "tensor(0.)"
    finally:
        bp.set_printoptions(profile="default")


# ---------------------------------------------------------------- Python data into an integer dtype

INT_DATA = [
    "torch.tensor([300], dtype=torch.uint8)",
    "torch.tensor(300, dtype=torch.int8)",
    "torch.tensor([-256], dtype=torch.uint8)",
    "torch.tensor([[1, 2], [3, 300]], dtype=torch.uint8)",
    "torch.tensor([2.7, -0.5], dtype=torch.uint8)",
    "torch.tensor([float('nan')], dtype=torch.int32)",
    "torch.tensor([float('inf')], dtype=torch.int64)",
    "torch.tensor([1e20], dtype=torch.int16)",
    "torch.tensor([2**40], dtype=torch.int32)",
    "torch.tensor([np.int64(300)], dtype=torch.uint8)",
    "torch.as_tensor([300], dtype=torch.int8)",
    "torch.ones(2, dtype=torch.uint8).new_tensor([300])",
]


@pytest.mark.parametrize("code", INT_DATA)
def test_python_data_into_an_integer_dtype_is_checked(code: str) -> None:
    _case(code)


def test_python_data_into_an_integer_dtype_closed_form() -> None:
    with pytest.raises(RuntimeError, match="^value cannot be converted to type uint8 without overflow$"):
        bp.tensor([1, 300], dtype=bp.uint8)
    with pytest.raises(RuntimeError, match="^value cannot be converted to type int32 without overflow$"):
        bp.tensor([float("nan")], dtype=bp.int32)
    assert bp.tensor([-1, 255], dtype=bp.uint8).tolist() == [255, 255]
    assert bp.tensor([2.7, -2.7], dtype=bp.int8).tolist() == [2, -2]


# ---------------------------------------------------------------- arange

ARANGES = [
    "torch.arange(0, 1, 0.1, dtype=torch.float16)",
    "torch.arange(0, 1, 0.1, dtype=torch.bfloat16)",
    "torch.arange(0, 1, 0.1)",
    "torch.arange(2.5, -7, -0.35, dtype=torch.float16)",
    "torch.arange(2.5, -7, -0.35, dtype=torch.bfloat16)",
    "torch.arange(1, 2, 1 / 3)",
    "torch.arange(5.0, dtype=torch.bool)",
    "torch.arange(3, dtype=torch.complex64)",
]


@pytest.mark.parametrize("code", ARANGES)
def test_arange(code: str) -> None:
    _case(code)


def test_arange_closed_form() -> None:
    # start + i * step rounded once: 0.3 is float16's 0.30005, not 0.2998 from stepping in float16
    assert bp.arange(0, 1, 0.1, dtype=bp.float16)[3].item() == float(np.float16(0.3))
    assert bp.arange(0, 1, 0.1)[3].item() == float(np.float32(0.3))
    with pytest.raises(NotImplementedError, match="\"arange_cpu\" not implemented for 'Bool'"):
        bp.arange(3, dtype=bp.bool)


# ---------------------------------------------------------------- integer-only and bool-less kernels

KERNEL_DTYPES = [
    "torch.tensor([1.5]) & 1",
    "torch.tensor([1]) | 2.5",
    "torch.tensor([True]) ^ torch.tensor(1.5)",
    "torch.tensor([1.5], dtype=torch.float16) << 1",
    "1.5 >> torch.tensor([1])",
    "torch.tensor([1]) & 1j",
    "torch.bitwise_not(torch.tensor([1.5]))",
    "~torch.tensor([1.5], dtype=torch.float64)",
    "torch.tensor([1.5]).bitwise_and_(1)",
    "torch.tensor([1.5]).gcd(torch.tensor([2]))",
    "torch.tensor([True]).lcm(torch.tensor([True]))",
    "torch.tensor([1.5]).bitwise_left_shift_(torch.tensor([1]))",
    "torch.tensor([True, False]) // torch.tensor([True, True])",
    "torch.tensor([True, False]) % True",
    "torch.tensor([True]) << torch.tensor([True])",
    "torch.tensor(True) >> torch.tensor([True, False])",
    "torch.fmod(torch.tensor([True]), torch.tensor([True]))",
    "torch.div(torch.tensor([True]), torch.tensor([True]), rounding_mode='trunc')",
    "torch.tensor([True]) ** torch.tensor(True)",
]


@pytest.mark.parametrize("code", KERNEL_DTYPES)
def test_kernels_refuse_dtypes_as_torchs(code: str) -> None:
    _case(code)


def test_kernels_refuse_dtypes_closed_form() -> None:
    with pytest.raises(NotImplementedError, match="^\"bitwise_and_cpu\" not implemented for 'Float'$"):
        bp.tensor([1]) & 2.5
    with pytest.raises(NotImplementedError, match="^\"div_floor_cpu\" not implemented for 'Bool'$"):
        bp.tensor([True]) // bp.tensor([True])
    with pytest.raises(TypeError, match=r"^~ \(operator.invert\) is only implemented on integer and Boolean"):
        ~bp.tensor([1.5])
    assert (bp.tensor([True, False]) // 2).dtype == bp.int64


# ---------------------------------------------------------------- casts, type names, dtype helpers

CASTS = [
    "torch.tensor([-2.7, 300.5, -300.5, float('nan'), float('inf'), 1e10], dtype=torch.bfloat16).to(torch.uint8)",
    "torch.tensor([-2.7, 300.5, -300.5, float('nan'), float('inf'), 1e10], dtype=torch.bfloat16).to(torch.int8)",
    "torch.tensor([-2.7, 300.5, -300.5, float('nan'), float('inf'), 1e10], dtype=torch.bfloat16).to(torch.int32)",
    "torch.tensor([-2.7, 300.5, -300.5, float('nan'), float('inf'), 1e10], dtype=torch.bfloat16).to(torch.int64)",
    "torch.tensor([1+2j, -3.5-1j]).type()",
    "torch.tensor([1+2j], dtype=torch.complex128).type()",
    "torch.tensor([1.5]).type('torch.ComplexFloatTensor')",
    "torch.tensor([1.5]).type('float32')",
    "torch.tensor([1.5]).type('foo')",
    "torch.iinfo(torch.bool)",
    "torch.set_default_dtype(float)",
    "torch.set_default_dtype('float64')",
]


@pytest.mark.parametrize("code", CASTS)
def test_casts_and_type_names(code: str) -> None:
    _case(code)


def test_complex_to_real_cast_warns_as_torch() -> None:
    from backprop.ops import conversion

    conversion._complex_warned.clear()  # (torch warns once per process)
    with pytest.warns(UserWarning, match="^Casting complex values to real discards the imaginary part$"):
        x = bp.tensor([1 + 2j, -3.5 - 1j]).to(bp.int32)
    assert x.tolist() == [1, -3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bp.tensor([1 + 2j]).float().tolist() == [1.0]  # (once only, and never NumPy's ComplexWarning)


def test_casts_closed_form() -> None:
    x = bp.tensor([-2.7, 300.5, float("nan")], dtype=bp.bfloat16)
    assert x.to(bp.uint8).tolist() == [254, 44, 0]  # C's conversion through float32, as torch's
    assert x.to(bp.int32).tolist() == [-2, 300, -(2**31)]
    assert bp.tensor([1j]).type() == "torch.ComplexFloatTensor"


# ---------------------------------------------------------------- inference from Python lists

INFERENCE = [
    "torch.tensor([np.float16(1), 1])",
    "torch.tensor([2**63])",
    "torch.tensor(2**63)",
    "torch.tensor([[1], [-2**63 - 1]])",
    "torch.set_default_dtype(torch.float64)\ntorch.tensor([np.float16(1), 1])",
    "torch.set_default_dtype(torch.float64)\ntorch.tensor([np.float32(1.5), 2])",
    "torch.set_default_dtype(torch.float64)\ntorch.tensor([2**63])",
    "torch.set_default_dtype(torch.float64)\ntorch.tensor(2**63)",
    "torch.set_default_dtype(torch.float64)\ntorch.tensor([[1], [-2**63 - 1]])",
]


@pytest.mark.parametrize("code", INFERENCE)
def test_dtype_inferred_from_python_lists(code: str) -> None:
    _case(code)


def test_dtype_inferred_from_python_lists_closed_form() -> None:
    assert bp.tensor([np.float16(1), 1]).dtype == bp.float16  # promote_types(float16, int64), not NumPy's float64
    assert bp.tensor([np.uint8(200), np.int8(1)]).dtype == bp.int16
    with pytest.raises(ValueError, match="^Overflow when unpacking long long$"):
        bp.tensor([2**63])
