"""Printed tensors against torch 2.13, character for character: a seeded fuzz over values (1e-45..1e38,
integral, -0.0, NaN/inf mixes), dtypes (half, bfloat16, float, double, complex, ints, bool), shapes (0-d
to 4-d, empty, summarised) and print options (precision, threshold, edgeitems including 0, linewidth,
sci_mode, profiles), with requires_grad and grad_fn suffixes; then the cases the fuzz found, and the
``grad_fn=<...>`` names of the common layers' outputs. backprop prints dtypes by NumPy's names
(``dtype=int64``, a README decision): the comparison drops torch's prefix and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the repr cross-checks need it")

DTYPES = [
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "bool",
]
SHAPES = [(), (1,), (5,), (0,), (1, 0, 3), (3, 4), (2, 3, 4), (2, 1, 2, 3), (2, 0), (40, 50), (1001,), (3, 400)]
KINDS = ["normal", "integral", "small", "big", "mixed", "nonfinite", "negzero", "extreme"]


@pytest.fixture(autouse=True)
def _default_printoptions() -> Iterator[None]:
    yield
    for lib in (torch, bp):
        lib.set_printoptions(profile="default")
        lib.set_printoptions(sci_mode=None)


def _values(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "integral":
        return rng.integers(-100, 100, n).astype(float)
    if kind == "small":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-10, -3)
    if kind == "big":
        return rng.standard_normal(n) * 10.0 ** rng.integers(4, 10)
    if kind == "mixed":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-10, 10, n)
    if kind == "extreme":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-45, 39, n).astype(float)
    if kind == "nonfinite":
        v, u = rng.standard_normal(n), rng.random(n)
        v[u < 0.2], v[(u >= 0.2) & (u < 0.3)], v[(u >= 0.3) & (u < 0.4)] = np.nan, np.inf, -np.inf
        v[(u >= 0.4) & (u < 0.5)] = -0.0
        return v
    if kind == "negzero":
        v = rng.integers(-3, 3, n).astype(float)
        v[v == 0] = -0.0
        return v
    return rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)


def _case(seed: int) -> tuple[np.ndarray, str, dict, int]:
    """(values, dtype name, print options, 0 plain / 1 requires_grad / 2 with a grad_fn) of case ``seed``."""
    rng = np.random.default_rng(seed)
    dtype, shape = DTYPES[rng.integers(len(DTYPES))], SHAPES[rng.integers(len(SHAPES))]
    n = int(np.prod(shape))
    v = _values(rng, n, KINDS[rng.integers(len(KINDS))])
    if dtype.startswith("complex"):
        with np.errstate(invalid="ignore"):
            v = v + 1j * _values(rng, n, KINDS[rng.integers(len(KINDS))])
    elif dtype.startswith(("int", "uint")):
        v = np.clip(np.nan_to_num(v, nan=0, posinf=0, neginf=0), -100, 100).astype(np.int64)
        v = np.abs(v) if dtype == "uint8" else v
    elif dtype == "bool":
        v = v > 0
    opts: dict = {}
    if rng.random() < 0.15:
        opts["profile"] = ["short", "full", "default"][rng.integers(3)]
    if rng.random() < 0.3:
        opts["precision"] = int(rng.integers(0, 8))
    if rng.random() < 0.2:
        opts["sci_mode"] = bool(rng.integers(2))
    if rng.random() < 0.2:
        opts["linewidth"] = int(rng.integers(20, 150))
    if rng.random() < 0.2:
        opts["edgeitems"], opts["threshold"] = int(rng.integers(0, 5)), int(rng.integers(3, 50))
    grad = int(rng.integers(3)) if dtype.startswith(("float", "bfloat", "complex")) else 0
    return np.asarray(v).reshape(shape), dtype, opts, grad


def _shown(lib: object, data: np.ndarray, dtype: str, opts: dict, grad: int) -> str:
    t = lib.tensor(data).to(getattr(lib, dtype))  # type: ignore[attr-defined]
    if grad:
        t = t.requires_grad_()
        t = t * 1 if grad == 2 else t
    lib.set_printoptions(**opts)  # type: ignore[attr-defined]
    try:
        return repr(t).replace("dtype=torch.", "dtype=")
    finally:
        lib.set_printoptions(profile="default")  # type: ignore[attr-defined]
        lib.set_printoptions(sci_mode=None)  # type: ignore[attr-defined]


@pytest.mark.parametrize("start", range(0, 400, 50))
def test_fuzzed_reprs_match_torch(start: int) -> None:
    for seed in range(start, start + 50):
        data, dtype, opts, grad = _case(seed)
        assert _shown(bp, data, dtype, opts, grad) == _shown(torch, data, dtype, opts, grad), (seed, dtype, opts)


# the cases the fuzz found, each one line of torch code
CASES = [
    # complex tensors are laid out as torch's: elements per line counted from both parts' widths,
    # two spaces before a summarised row's "...", the imaginary part unpadded
    ("L.arange(2000.0).reshape(40, 50) * (1 + 1j)", {}),
    ("L.complex(L.arange(1200.0), -L.arange(1200.0) / 3)", {}),
    ("L.tensor([-2 + 7e8j, -3 - 6e7j, 1 + 8e8j] * 400, dtype=L.complex128)", {}),
    (
        "L.tensor([[float('-inf') + 504j, float('nan') + 688j, 1.0224 + 222j], [-0.0 - 906j, 0.5 + 1j, 2j]])",
        {"sci_mode": True},
    ),
    # precision=0 prints torch's fixed text: '-1' without a point outside int mode
    ("L.tensor([-0.7, 1.2, 2.0, float('nan')])", {"precision": 0}),
    ("L.tensor(-0.3, dtype=L.float64)", {"precision": 0}),
    # edgeitems=0: '[...]' and size= (was a ValueError)
    ("L.arange(10.0)", {"edgeitems": 0, "threshold": 3}),
    ("L.arange(24).reshape(2, 3, 4)", {"edgeitems": 0, "threshold": 3}),
    ("L.tensor([0.5])", {"edgeitems": 0, "threshold": 3}),
    ("L.tensor(2.5, requires_grad=True) * 2", {"edgeitems": 0, "threshold": 3}),
]


@pytest.mark.parametrize(("expr", "opts"), CASES)
def test_found_cases_match_torch(expr: str, opts: dict) -> None:
    shown = []
    for lib in (bp, torch):
        lib.set_printoptions(**opts)
        try:
            shown.append(repr(eval(expr, {"L": lib})).replace("dtype=torch.", "dtype="))
        finally:
            lib.set_printoptions(profile="default")
            lib.set_printoptions(sci_mode=None)
    assert shown[0] == shown[1]


# ``print(model(x))`` shows the output's grad_fn: torch's names for the common layers
NODES = [
    "F.conv1d(x3, L.ones(2, 2, 2))",
    "F.conv2d(x4, L.ones(2, 2, 2, 2))",
    "F.conv2d(x4, L.ones(2, 2, 2, 2), L.ones(2))",
    "F.conv2d(x4.half(), L.ones(2, 2, 2, 2).half())",
    "F.conv3d(x4[None], L.ones(1, 2, 1, 1, 1))",
    "F.conv_transpose1d(x3, L.ones(2, 2, 2))",
    "F.conv_transpose2d(x4, L.ones(2, 2, 2, 2), L.ones(2))",
    "L.nn.Conv2d(2, 3, 3, padding=1)(x4)",
    "F.max_pool2d(x4, 2)",
    "F.max_pool2d(x4[0], 2)",
    "F.max_pool2d(x4, 2, return_indices=True)[0]",
    "F.max_pool1d(x3, 2)",
    "F.max_pool3d(x4[None], 1)",
    "F.avg_pool2d(x4, 2)",
    "F.avg_pool1d(x3, 2)",
    "F.avg_pool3d(x4[None], 1)",
    "F.adaptive_avg_pool2d(x4, 1)",
    "F.adaptive_avg_pool2d(x4, (2, 2))",
    "F.adaptive_avg_pool2d(x4, (4, 4))",
    "F.adaptive_avg_pool1d(x3, 1)",
    "F.adaptive_avg_pool1d(x3, 3)",
    "F.adaptive_avg_pool3d(x4[None], 2)",
    "F.adaptive_max_pool2d(x4, 1)",
    "F.adaptive_max_pool1d(x3, 1)",
    "x4.max(1)[0]",
    "x4.min(1, keepdim=True).values",
    "x4[0, 0, 0].max(0)[0]",
    "x4.median(1)[0]",
    "x4.nanmedian(1)[0]",
    "x4.mode(1)[0]",
    "x4.kthvalue(1, 1)[0]",
    "x4.sort(1)[0]",
    "x4.msort()",
    "x4.topk(2, 1)[0]",
    "x4.cummax(1)[0]",
    "L.max(x4, 1).values",
    "x3.bmm(x3.transpose(1, 2))",
    "F.cross_entropy(x4, L.zeros(2, 4, 4, dtype=L.long))",
    "F.cross_entropy(x4, L.zeros(2, 4, 4, dtype=L.long), reduction='none')",
    "F.cross_entropy(x3, L.zeros(2, 3, dtype=L.long), reduction='sum')",
    "F.cross_entropy(x4[:, :, 0, 0], L.tensor([0, 1]), reduction='none')",
    "L.nn.CrossEntropyLoss(weight=L.ones(2))(x4, L.zeros(2, 4, 4, dtype=L.long))",
    "F.nll_loss(x4, L.zeros(2, 4, 4, dtype=L.long))",
    "F.nll_loss(x3, L.zeros(2, 3, dtype=L.long))",
    "F.interpolate(x4, scale_factor=2)",
    "F.interpolate(x4, scale_factor=2, mode='bilinear', align_corners=False)",
    "F.interpolate(x4, scale_factor=0.5, mode='bilinear', antialias=True)",
    "F.interpolate(x3, scale_factor=2, mode='linear')",
    "F.interpolate(x4, size=(4, 4))",
    "L.nn.Upsample(scale_factor=2, mode='nearest')(x4)",
    "x4.clamp_min(0.5)",
    "x4.clamp_max(x4.detach().flip(0))",
    "L.clamp(x4, min=x4.detach().flip(0))",
]


@pytest.mark.parametrize("expr", NODES)
def test_common_layers_print_torch_grad_fn(expr: str) -> None:
    shown = []
    for lib in (bp, torch):
        x4 = (lib.arange(64.0).reshape(2, 2, 4, 4) / 10).requires_grad_()
        x3 = (lib.arange(12.0).reshape(2, 2, 3) / 10).requires_grad_()
        y = eval(expr, {"L": lib, "F": lib.nn.functional, "x4": x4, "x3": x3})
        shown.append(y.grad_fn.name())
    assert shown[0] == shown[1]


def test_conv_output_prints_as_torch() -> None:
    shown = []
    for lib in (bp, torch):
        x = lib.arange(18.0).reshape(1, 2, 3, 3).requires_grad_()
        shown.append(repr(lib.nn.functional.conv2d(x, lib.ones(1, 2, 2, 2) / 8, lib.tensor([0.5]))))
    assert shown[0] == shown[1] == ("tensor([[[[ 7.,  8.],\n          [10., 11.]]]], grad_fn=<ConvolutionBackward0>)")


def test_adaptive_avg_pool_at_the_input_size_is_a_copy() -> None:
    """Every window one element: a new tensor (torch's), never the input itself, so in-place writes to
    the output leave the input alone, and the gradient is the identity's."""
    x = bp.ones(1, 2, 3, requires_grad=True)
    y = bp.nn.functional.adaptive_avg_pool1d(x, 3)
    assert y is not x and y.grad_fn is not None
    y.sum().backward()
    assert x.grad is not None and bool((x.grad == 1).all())
    z = bp.arange(4.0).reshape(1, 1, 2, 2)
    w = bp.nn.functional.adaptive_avg_pool2d(z, (2, 2))
    w.add_(1)
    assert z.tolist() == [[[[0.0, 1.0], [2.0, 3.0]]]]


def test_interpolate_to_the_input_size_is_a_copy() -> None:
    x = bp.arange(4.0).reshape(1, 1, 2, 2)
    y = bp.nn.functional.interpolate(x, size=(2, 2))
    assert y is not x
    y.add_(1)
    assert x.tolist() == [[[[0.0, 1.0], [2.0, 3.0]]]]


def test_device_suffix_before_size() -> None:
    """torch names the device before an empty tensor's size (``tensor([], device='cuda:0', size=(2, 0))``)."""
    from cupy_standin import use_standin

    with use_standin():
        assert repr(bp.zeros(2, 0, device="cuda")) == "tensor([], device='cuda:0', size=(2, 0))"
        bp.set_printoptions(edgeitems=0, threshold=1)
        assert repr(bp.ones(3, device="cuda")) == "tensor([...], device='cuda:0', size=(3,))"
