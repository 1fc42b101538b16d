"""Indexing slips against torch 2.13: ``x[index]`` and ``x[index] = value`` raise torch's errors, classes and
messages (too many indices, ints and index tensors out of range with torch's dimension numbering, masks of the
wrong shape, index tensors that do not broadcast, index types torch refuses, values that do not fit the written
region), and give torch's deprecation warnings (uint8 masks, non-tuple sequences)."""

import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity tests compare against torch")

SHAPE = (2, 3, 4, 5)


def _mask(*shape):
    return ("mask", shape)


def _t(*values, dtype="int64"):
    return ("tensor", values, dtype)


def _convert(spec, lib):
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str) and spec[0] == "mask":
        return lib.ones(*spec[1], dtype=lib.bool)
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str) and spec[0] == "tensor":
        return lib.tensor(list(spec[1]) if len(spec[1]) != 1 else spec[1][0], dtype=getattr(lib, spec[2]))
    if isinstance(spec, (tuple, list)):
        return type(spec)(_convert(s, lib) for s in spec)
    return spec


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.value


BAD_INDICES = [
    (0, 0, 0, 0, 0),
    (Ellipsis, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, None, 0),
    (5,),
    (-3,),
    (0, 9),
    (0, Ellipsis, 5),
    (None, None, 3),
    (slice(None), _t([5])),
    (slice(None), slice(None), [7]),
    (0, [1], [9]),
    ([0], [0], [0], [9]),
    (slice(None), _t(-4)),
    (Ellipsis, [0], [9]),
    ([0], Ellipsis, [9]),
    (None, [0], None, [5]),
    (True, [2]),
    (np.array([0, 4]),),
    (_t([True, False], dtype="bool"), [0, 5]),
    (_t([[True, False, True]], dtype="bool"),),
    (slice(None), _mask(3, 5)),
    (0, _mask(4)),
    (1, _mask(3, 2)),
    (Ellipsis, _mask(4, 6)),
    (slice(None), _mask(3, 4), _mask(5)),
    (_t([0, 1]), _t([0, 1, 2])),
    (_t([True, True], dtype="bool"), [0, 1, 2]),
    ([0, 1], [[0], [1]], [[[1, 9]]]),
    (1.5,),
    (slice(None), 1.5),
    ("a",),
    (_t([0, 1], dtype="int16"),),
    (_t([0, 1], dtype="int8"),),
    (_t([0.0, 1.0], dtype="float32"),),
]


@pytest.mark.parametrize("index", BAD_INDICES, ids=repr)
@pytest.mark.parametrize("write", [False, True], ids=["get", "set"])
def test_bad_index_raises_torch_error(index, write):
    def go(lib):
        x = lib.zeros(*SHAPE)
        i = _convert(index, lib)
        return (lambda: x.__setitem__(i, 1.0)) if write else (lambda: x[i])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, got = _error(go(torch)), _error(go(bp))
    assert isinstance(got, type(expected))
    assert str(got) == str(expected)


BAD_VALUES = [
    ((0,), (3,)),
    ((0,), (4, 3)),
    ((0,), (2, 3, 4)),
    ((slice(None),), (2, 1, 2, 3, 4, 5)),
    ((0, 0, 0, 0), (2,)),
    ((_t([0, 0]),), (3, 3, 4, 5)),
    ((_t([0, 1]), slice(None), _t([0, 1])), (3, 2)),
    ((_mask(2, 3),), (3,)),
]


@pytest.mark.parametrize("index,value_shape", BAD_VALUES, ids=repr)
@pytest.mark.parametrize("recorded", [False, True], ids=["plain", "recorded"])
def test_value_that_does_not_fit_raises_torch_error(index, value_shape, recorded):
    def go(lib):
        x, v = lib.zeros(*SHAPE), lib.ones(*value_shape, requires_grad=recorded)
        if recorded:
            x = x * v.sum()
        i = _convert(index, lib)
        return lambda: x.__setitem__(i, v)

    expected, got = _error(go(torch)), _error(go(bp))
    assert isinstance(got, RuntimeError) and isinstance(expected, RuntimeError)
    assert str(got) == str(expected)


@pytest.mark.parametrize(
    "index",
    [_t([1, 0], dtype="uint8"), [[0, 1], [1, 0]], [0, slice(None)], [_t([0]), _t([1])]],
    ids=["uint8", "nested", "slice", "tensors"],
)
def test_deprecation_warnings_as_torch(index):
    def go(lib):
        x = lib.arange(6.0).reshape(2, 3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = x[_convert(index, lib)]
        return y, [(w.category, str(w.message).split(" (Triggered")[0], w.filename) for w in caught]

    (ty, tw), (by, bw) = go(torch), go(bp)
    np.testing.assert_array_equal(by.numpy(), ty.numpy())
    assert [w[:2] for w in bw] == [w[:2] for w in tw] and len(bw) == 1
    assert bw[0][2] == __file__  # (pointed at the user's line)


@pytest.mark.parametrize("index", [[0, 1], [True, False], (0, [1, 2]), np.array([1, 0])], ids=repr)
def test_no_warning_for_plain_indices(index):
    x = bp.arange(6.0).reshape(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x[index]
    np.testing.assert_array_equal(y.numpy(), torch.arange(6.0).reshape(2, 3)[index].numpy())


def test_valid_index_dtypes_still_index():
    x = bp.arange(6.0)
    for dtype in (bp.int64, bp.int32):
        assert x[bp.tensor([5, 0], dtype=dtype)].tolist() == [5.0, 0.0]
    assert x[bp.tensor([1, 0, 0, 0, 0, 1], dtype=bp.bool)].tolist() == [0.0, 5.0]
