"""Convolution, pooling, fold/unfold and interpolation against torch: values, dtypes, shapes, gradients,
errors, module init and state_dict keys. Tests that need torch take the ``torch`` fixture (skipped
without it); closed forms, double backward and the CuPy stand-in run everywhere."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F

# torch's performance note for 'same' padding with even kernels (we pad asymmetrically, silently)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the conv parity checks compare with it")


def _compare(torch: Any, bp_fn: Any, torch_fn: Any, shapes: list, dtype: str = "float64", seed: int = 0) -> None:
    """bp_fn and torch_fn on the same random inputs: outputs (values, dtype, shape; a second output
    exactly, e.g. indices) and the gradients of every input for a random upstream gradient."""
    rng = np.random.default_rng(seed)
    tol = {"float64": 1e-10, "float32": 2e-5}[dtype]
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    xs = [bp.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, t = bp_fn(*xs), torch_fn(*ts)
    if isinstance(t, tuple):
        assert np.array_equal(y[1].numpy(), t[1].numpy()), "indices differ"
        assert y[1].dtype == np.int64
        y, t = y[0], t[0]
    assert tuple(y.shape) == tuple(t.shape)
    assert str(y.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(tuple(t.shape)).astype(dtype)
    (y * bp.tensor(g)).sum().backward()
    (t * torch.tensor(g)).sum().backward()
    for x, tx in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


CONV = [  # (fn, input shape, weight shape, bias?, kwargs)
    ("conv1d", (2, 3, 10), (4, 3, 3), True, {}),
    ("conv1d", (3, 9), (2, 3, 2), False, {"stride": 2, "padding": 1}),  # unbatched
    ("conv1d", (2, 4, 11), (6, 2, 3), True, {"dilation": 2, "groups": 2, "padding": "same"}),
    ("conv1d", (2, 4, 8), (4, 1, 4), True, {"groups": 4, "padding": "same"}),  # depthwise, even kernel
    ("conv2d", (2, 3, 9, 8), (4, 3, 3, 2), True, {"stride": 2, "padding": 1, "dilation": 2}),
    ("conv2d", (2, 4, 7, 6), (6, 2, 4, 3), False, {"groups": 2, "padding": "same"}),
    ("conv2d", (1, 3, 6, 7), (5, 3, 3, 3), True, {"stride": (2, 1), "padding": (0, 2), "dilation": (1, 2)}),
    ("conv2d", (3, 6, 5), (2, 3, 2, 2), True, {"padding": "valid"}),  # unbatched
    ("conv2d", (2, 6, 5, 5), (6, 2, 3, 3), True, {"groups": 3, "stride": 3, "padding": 2}),
    ("conv3d", (1, 2, 4, 5, 3), (3, 2, 2, 3, 2), True, {"padding": (1, 0, 2)}),
    ("conv3d", (2, 4, 5, 4, 4), (4, 2, 3, 1, 2), False, {"groups": 2, "stride": 2, "dilation": (1, 1, 2)}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "xs", "ws", "bias", "kw"), CONV)
def test_conv(torch: Any, dtype: str, name: str, xs: tuple, ws: tuple, bias: bool, kw: dict) -> None:
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    _compare(
        torch,
        lambda *a: getattr(F, name)(*a, **kw),
        lambda *a: getattr(torch.nn.functional, name)(*a, **kw),
        shapes,
        dtype,
    )


CONV_T = [  # (fn, input shape, weight shape, bias?, kwargs)
    ("conv_transpose1d", (2, 4, 5), (4, 3, 3), True, {"stride": 3}),
    ("conv_transpose1d", (4, 6), (4, 2, 2), False, {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    (
        "conv_transpose2d",
        (2, 4, 5, 4),
        (4, 3, 3, 2),
        True,
        {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "dilation": 2},
    ),
    (
        "conv_transpose2d",
        (2, 4, 5, 4),
        (4, 3, 3, 2),
        False,
        {"output_padding": 1, "dilation": 2},
    ),  # output_padding >= stride
    ("conv_transpose2d", (3, 4, 4), (3, 2, 2, 2), True, {"stride": 2}),  # unbatched
    ("conv_transpose3d", (1, 2, 3, 2, 3), (2, 2, 2, 3, 2), True, {"stride": (2, 1, 2), "padding": (0, 1, 0)}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "xs", "ws", "bias", "kw"), CONV_T)
def test_conv_transpose(torch: Any, dtype: str, name: str, xs: tuple, ws: tuple, bias: bool, kw: dict) -> None:
    shapes = [xs, ws] + ([(ws[1] * kw.get("groups", 1),)] if bias else [])
    _compare(
        torch,
        lambda *a: getattr(F, name)(*a, **kw),
        lambda *a: getattr(torch.nn.functional, name)(*a, **kw),
        shapes,
        dtype,
    )


POOL = [  # (fn, input shape, kwargs)
    ("max_pool1d", (2, 3, 9), {"kernel_size": 2}),
    (
        "max_pool1d",
        (3, 10),
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True},
    ),
    (
        "max_pool2d",
        (2, 3, 8, 7),
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True},
    ),
    (
        "max_pool2d",
        (2, 3, 8, 7),
        {"kernel_size": (2, 3), "stride": (1, 2), "padding": 1, "dilation": 2, "return_indices": True},
    ),
    ("max_pool2d", (3, 6, 6), {"kernel_size": 2, "return_indices": True}),  # unbatched
    ("max_pool3d", (1, 2, 5, 4, 3), {"kernel_size": 2, "ceil_mode": True, "return_indices": True}),
    ("avg_pool1d", (2, 3, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("avg_pool1d", (2, 3, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ("avg_pool2d", (2, 3, 8, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    (
        "avg_pool2d",
        (2, 3, 8, 7),
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    ),
    ("avg_pool2d", (2, 3, 8, 7), {"kernel_size": (3, 2), "padding": (1, 0), "divisor_override": 5}),
    ("avg_pool2d", (3, 6, 5), {"kernel_size": 2}),  # unbatched
    ("avg_pool3d", (1, 2, 3, 4, 3), {"kernel_size": 2, "stride": 1, "padding": 1, "count_include_pad": False}),
    ("lp_pool1d", (2, 3, 9), {"norm_type": 4, "kernel_size": 3, "stride": 2}),
    ("lp_pool2d", (2, 3, 8, 7), {"norm_type": 2, "kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ("adaptive_avg_pool1d", (3, 7), {"output_size": 4}),
    ("adaptive_avg_pool2d", (2, 3, 8, 7), {"output_size": (3, 5)}),
    ("adaptive_avg_pool2d", (2, 3, 8, 7), {"output_size": (None, 2)}),
    ("adaptive_avg_pool2d", (2, 3, 8, 7), {"output_size": 1}),
    ("adaptive_avg_pool3d", (2, 3, 5, 7, 4), {"output_size": (2, 3, 2)}),
    ("adaptive_max_pool1d", (2, 3, 7), {"output_size": 4, "return_indices": True}),
    ("adaptive_max_pool2d", (2, 3, 8, 7), {"output_size": (3, 5), "return_indices": True}),
    ("adaptive_max_pool2d", (3, 5, 5), {"output_size": 2}),  # unbatched
    ("adaptive_max_pool3d", (2, 3, 5, 7, 4), {"output_size": (2, 3, 2), "return_indices": True}),
    ("unfold", (2, 3, 8, 7), {"kernel_size": (2, 3), "dilation": 2, "padding": 1, "stride": (2, 1)}),
    ("unfold", (3, 5, 5), {"kernel_size": 2}),  # unbatched
    ("fold", (2, 12, 9), {"output_size": (5, 6), "kernel_size": (2, 3), "padding": 1, "stride": 2}),
    ("fold", (8, 16), {"output_size": 5, "kernel_size": 2}),  # unbatched, overlapping blocks
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "xs", "kw"), POOL)
def test_pool_fold(torch: Any, dtype: str, name: str, xs: tuple, kw: dict) -> None:
    _compare(
        torch, lambda x: getattr(F, name)(x, **kw), lambda x: getattr(torch.nn.functional, name)(x, **kw), [xs], dtype
    )


INTERP = [  # (input shape, kwargs)
    ((2, 3, 4, 5), {"scale_factor": 2.5}),
    ((2, 3, 4, 5), {"size": (7, 3)}),
    ((2, 3, 6), {"scale_factor": 0.5}),
    ((2, 3, 4, 5), {"size": (7, 3), "mode": "nearest-exact"}),
    ((2, 3, 4), {"scale_factor": 3, "mode": "linear"}),
    ((2, 3, 4, 5), {"size": (7, 3), "mode": "bilinear"}),
    ((2, 3, 4, 5), {"scale_factor": 1.7, "mode": "bilinear", "align_corners": True}),
    ((2, 3, 4, 5), {"scale_factor": (1.7, 0.6), "mode": "bilinear"}),
    ((2, 3, 4, 5), {"scale_factor": (1.7, 0.6), "mode": "bilinear", "recompute_scale_factor": True}),
    ((1, 2, 4, 3, 3), {"size": (3, 5, 2), "mode": "trilinear"}),
    ((1, 2, 3, 4, 2), {"scale_factor": 2, "mode": "nearest"}),
    ((2, 3, 4, 5), {"size": (3, 2), "mode": "area"}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("xs", "kw"), INTERP)
def test_interpolate(torch: Any, dtype: str, xs: tuple, kw: dict) -> None:
    _compare(torch, lambda x: F.interpolate(x, **kw), lambda x: torch.nn.functional.interpolate(x, **kw), [xs], dtype)


def test_max_pool_ties_and_nan(torch: Any) -> None:
    """Ties go to the first maximum (row-major in the window), a NaN wins, as torch's kernels."""
    a = np.zeros((1, 1, 4, 4))
    a[0, 0, 2, 3] = np.nan
    for fn, kw in (("max_pool2d", {"kernel_size": 2, "stride": 1}), ("adaptive_max_pool2d", {"output_size": 3})):
        y, i = getattr(F, fn)(bp.tensor(a), return_indices=True, **kw)
        ty, ti = getattr(torch.nn.functional, fn)(torch.tensor(a), return_indices=True, **kw)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(y.numpy(), ty.numpy())


ERRORS = [  # (fn, args as shapes, kwargs, a fragment of torch's message)
    (
        "conv2d",
        [(2, 3), (4, 3, 3, 3)],
        {},
        "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [2, 3]",
    ),
    (
        "conv2d",
        [(2, 4, 5, 5), (4, 3, 3, 3)],
        {},
        "expected input[2, 4, 5, 5] to have 3 channels, but got 4 channels instead",
    ),
    ("conv2d", [(2, 4, 5, 5), (3, 2, 3, 3)], {"groups": 2}, "expected weight to be divisible by 2 at dimension 0"),
    ("conv2d", [(2, 3, 2, 2), (4, 3, 3, 3)], {}, "Kernel size can't be greater than actual input size"),
    (
        "conv2d",
        [(2, 3, 5, 5), (4, 3, 3, 3)],
        {"padding": "same", "stride": 2},
        "padding='same' is not supported for strided convolutions",
    ),
    ("conv2d", [(2, 3, 5, 5), (4, 3, 3, 3), (3,)], {}, "expected bias to be 1-dimensional with 4 elements"),
    (
        "conv2d",
        [(2, 3, 5, 5), (4, 3, 3, 3)],
        {"stride": (1, 1, 1)},
        "expected stride to be a single integer value or a list of 2 values",
    ),
    (
        "conv_transpose2d",
        [(2, 3, 5, 5), (3, 3, 3, 3)],
        {"stride": 2, "output_padding": 2},
        "output padding must be smaller than either stride or dilation",
    ),
    (
        "max_pool2d",
        [(2, 3, 5, 5)],
        {"kernel_size": 3, "padding": 2},
        "pad should be at most half of effective kernel size",
    ),
    ("max_pool2d", [(1, 3, 2, 2)], {"kernel_size": 3}, "Output size is too small"),
]


@pytest.mark.parametrize(("name", "shapes", "kw", "msg"), ERRORS)
def test_errors(torch: Any, name: str, shapes: list, kw: dict, msg: str) -> None:
    """torch raises RuntimeError with this message; so do we (ShapeError is a RuntimeError)."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    with pytest.raises(RuntimeError, match=None) as theirs:
        getattr(torch.nn.functional, name)(*map(torch.tensor, arrays), **kw)
    assert msg in str(theirs.value)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, name)(*map(bp.tensor, arrays), **kw)
    assert msg in str(ours.value)


def test_dtype_mismatch_raises() -> None:
    with pytest.raises(RuntimeError, match="^expected scalar type Float but found Double$"):  # torch's message
        F.conv2d(bp.randn(1, 3, 5, 5), bp.randn(4, 3, 3, 3, dtype=bp.float64))
    with pytest.raises(RuntimeError, match=r"^Input type \(float\) and bias type \(double\) should be the same$"):
        F.conv2d(bp.randn(1, 3, 5, 5), bp.randn(4, 3, 3, 3), bp.randn(4, dtype=bp.float64))


# ---------------------------------------------------------------- modules


MODULES = [  # (backprop class, kwargs, input shape)
    (
        "Conv1d",
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": 3,
            "padding": 2,
            "dilation": 2,
            "padding_mode": "circular",
        },
        (2, 4, 9),
    ),
    (
        "Conv2d",
        {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": "same", "padding_mode": "reflect"},
        (2, 3, 8, 8),
    ),
    (
        "Conv2d",
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": (3, 2),
            "stride": 2,
            "padding": 1,
            "groups": 2,
            "padding_mode": "replicate",
        },
        (2, 4, 7, 6),
    ),
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "bias": False}, (3, 6, 6)),
    ("Conv3d", {"in_channels": 2, "out_channels": 4, "kernel_size": (2, 3, 1), "padding": "same"}, (2, 2, 4, 5, 3)),
    (
        "ConvTranspose1d",
        {"in_channels": 4, "out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1},
        (2, 4, 5),
    ),
    (
        "ConvTranspose2d",
        {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "groups": 2, "dilation": 2},
        (2, 4, 5, 5),
    ),
    ("ConvTranspose3d", {"in_channels": 2, "out_channels": 3, "kernel_size": 2, "stride": 2}, (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize(("cls", "kw", "xs"), MODULES)
def test_conv_modules(torch: Any, cls: str, kw: dict, xs: tuple) -> None:
    """Same state_dict keys and shapes, same repr, torch's init bounds; with torch's weights loaded,
    the same output and parameter gradients."""
    bp.manual_seed(0)
    m, tm = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
    ours, theirs = m.state_dict(), tm.state_dict()
    assert list(ours) == list(theirs)
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]
    assert repr(m) == repr(tm)
    fan_in = m.weight.shape[1] * math.prod(m.weight.shape[2:])
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias: both U(-bound, bound)
    w = np.abs(m.weight.detach().numpy())
    assert w.max() <= bound and w.max() > 0.5 * bound  # (a spread over the range, not a narrower law)
    if m.bias is not None:
        assert np.abs(m.bias.detach().numpy()).max() <= bound
    m.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in theirs.items()})
    x = np.random.default_rng(1).standard_normal(xs).astype(np.float32)
    y, t = m(bp.tensor(x)), tm(torch.tensor(x))
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-5)
    y.sum().backward()
    t.sum().backward()
    for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


def test_conv_transpose_output_size(torch: Any) -> None:
    m, tm = nn.ConvTranspose2d(3, 2, 3, stride=2), torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    for size in ((9, 9), (10, 10), (1, 2, 10, 9)):
        assert m(bp.randn(1, 3, 4, 4), output_size=size).shape == tuple(
            tm(torch.randn(1, 3, 4, 4), output_size=size).shape
        )
    with pytest.raises(ValueError):
        m(bp.randn(1, 3, 4, 4), output_size=(12, 12))


def test_module_argument_errors() -> None:
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided convolutions"):
        nn.Conv1d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


POOL_MODULES = [
    ("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, (2, 3, 9)),
    ("MaxPool2d", {"kernel_size": 2, "return_indices": True}, (2, 3, 6, 6)),
    ("MaxPool3d", {"kernel_size": 2, "ceil_mode": True}, (1, 2, 5, 4, 3)),
    ("AvgPool1d", {"kernel_size": 3, "padding": 1}, (2, 3, 9)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "count_include_pad": False, "padding": 1}, (2, 3, 7, 6)),
    ("AvgPool3d", {"kernel_size": 2, "divisor_override": 3}, (1, 2, 4, 4, 4)),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 2}, (2, 3, 6, 6)),
    ("AdaptiveAvgPool1d", {"output_size": 3}, (2, 3, 7)),
    ("AdaptiveAvgPool2d", {"output_size": (1, 1)}, (2, 3, 7, 6)),
    ("AdaptiveAvgPool3d", {"output_size": 2}, (1, 2, 3, 5, 4)),
    ("AdaptiveMaxPool1d", {"output_size": 3, "return_indices": True}, (2, 3, 7)),
    ("AdaptiveMaxPool2d", {"output_size": (2, 3)}, (2, 3, 7, 6)),
    ("Upsample", {"scale_factor": 2, "mode": "bilinear"}, (2, 3, 4, 5)),
    ("Upsample", {"size": (5, 7)}, (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", {"scale_factor": 2}, (2, 3, 4, 5)),
    ("UpsamplingNearest2d", {"size": 7}, (2, 3, 4, 5)),
    ("Unfold", {"kernel_size": 2, "stride": 2}, (2, 3, 6, 6)),
    ("Fold", {"output_size": (4, 5), "kernel_size": 2}, (2, 12, 12)),
]


@pytest.mark.parametrize(("cls", "kw", "xs"), POOL_MODULES)
def test_pool_modules(torch: Any, cls: str, kw: dict, xs: tuple) -> None:
    m, tm = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == []
    _compare(torch, m, tm, [xs])


# ---------------------------------------------------------------- without torch


def test_closed_forms() -> None:
    """A delta kernel copies its input; an avg pool of ones is one; fold(unfold(ones)) counts the
    blocks covering each pixel; a transposed conv of a delta places the kernel."""
    x = bp.tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 6)))
    w = np.zeros((3, 3, 3, 3))
    w[[0, 1, 2], [0, 1, 2], 1, 1] = 1.0
    np.testing.assert_allclose(F.conv2d(x, bp.tensor(w), padding=1).numpy(), x.numpy())
    ones = bp.ones(1, 1, 5, 5, dtype=bp.float64)
    np.testing.assert_allclose(F.avg_pool2d(ones, 3, 2, 1, count_include_pad=False).numpy(), 1.0)
    cover = F.fold(F.unfold(ones, 2), 5, 2).numpy()[0, 0]
    expect = np.outer([1, 2, 2, 2, 1], [1, 2, 2, 2, 1])
    np.testing.assert_array_equal(cover, expect)
    k = np.arange(9.0).reshape(1, 1, 3, 3)
    delta = np.zeros((1, 1, 2, 2))
    delta[0, 0, 1, 0] = 1.0
    y = F.conv_transpose2d(bp.tensor(delta), bp.tensor(k), stride=2).numpy()[0, 0]  # (5, 5): kernel at (2, 0)
    np.testing.assert_array_equal(y[2:5, 0:3], k[0, 0])
    assert y.sum() == k.sum()


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2),
        lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2),
        lambda x, w: F.max_pool2d(x * w.sum(), 2, 1) + F.adaptive_max_pool2d(x, (3, 4)),
        lambda x, w: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) * w.sum(),
        lambda x, w: F.interpolate(x, size=(5, 3), mode="bilinear") + F.adaptive_avg_pool2d(x, (5, 3)) * w.mean(),
    ],
    ids=["conv2d", "conv_transpose2d", "max_pools", "avg_pool2d", "interpolate"],
)
def test_double_backward(fn: Any) -> None:
    rng = np.random.default_rng(0)
    x = bp.tensor(rng.standard_normal((2, 4, 4, 5)), requires_grad=True)
    w = bp.tensor(rng.standard_normal((4, 2, 3, 2)), requires_grad=True)
    assert bp.gradcheck(fn, (x, w))
    assert bp.gradgradcheck(fn, (x, w))


def test_cuda_standin_matches_numpy() -> None:
    """The same compositions on the CuPy stand-in (device arrays, no NumPy-only calls) equal NumPy's."""
    cupy_standin = pytest.importorskip("cupy_standin", reason="tests/cupy_standin is not on sys.path")
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    outs = {}
    with cupy_standin.use_standin():
        for dev in ("cpu", "cuda"):
            x = bp.tensor(x0, device=dev, requires_grad=True)
            w = bp.tensor(w0, device=dev, requires_grad=True)
            ys = [
                F.conv2d(x, w, padding=1, stride=2),
                F.conv_transpose2d(x, w.transpose(0, 1), stride=2, output_padding=1),
                F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                F.adaptive_avg_pool2d(x, (3, 4)),
                F.adaptive_max_pool2d(x, (3, 4)),
                F.interpolate(x, scale_factor=1.5, mode="bilinear"),
                F.interpolate(x, size=(9, 4)),
                F.unfold(x, 2),
            ]
            sum((y * y).sum() for y in ys).backward()
            outs[dev] = [y.detach().cpu().numpy() for y in ys] + [x.grad.cpu().numpy(), w.grad.cpu().numpy()]
    for a, b in zip(outs["cpu"], outs["cuda"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_compiled_step_matches_eager() -> None:
    """A small conv net trained with bp.compile gives the eager run's losses (max pool indices are
    recomputed each step)."""

    def make() -> Any:
        bp.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3))

    rng = np.random.default_rng(0)
    data = [
        (bp.tensor(rng.standard_normal((4, 1, 4, 4)).astype(np.float32)), bp.tensor(rng.integers(0, 3, 4)))
        for _ in range(4)
    ]

    def train(compiled: bool) -> list[float]:
        model = make()
        opt = bp.optim.SGD(model.parameters(), lr=0.1)

        def step(x: Any, t: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
            return loss

        run = bp.compile(step) if compiled else step
        return [float(run(x, t)) for x, t in data]

    losses = {compiled: train(compiled) for compiled in (False, True)}
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-6)
