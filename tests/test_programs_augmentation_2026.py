"""Image augmentation and preprocessing programs as torch users write them without torchvision, each a function of
the library module run with torch 2.13 and with backprop on the same NumPy-made images: a seeded uint8 pipeline
(random crop and flip from ``randint``/``rand``, a bicubic resize of the uint8 crop, ``div(255)`` and a per-channel
``view(3, 1, 1)`` normalisation), the padding slips of a reflect-padded Gaussian blur (a 2-value pad of a 4-D
batch, a kernel wider than the image, an odd pad, ``mode="wrap"``, over-cropping) and a rotation by
``affine_grid``/``grid_sample`` fed a uint8 image or a float64 grid."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")

RNG = np.random.default_rng(0)
IMG8 = RNG.integers(0, 256, (4, 3, 24, 30), dtype=np.uint8)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _np(x: Any) -> Any:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _error(fn: Any) -> tuple[type, str]:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (the class and text are what is compared)
        return type(e), str(e)
    raise AssertionError("no error raised")


def _same_error(program: Any) -> str:
    """Both libraries raise: backprop's error is an instance of torch's class, with torch's text."""
    (tcls, tmsg), (bcls, bmsg) = _error(lambda: program(torch)), _error(lambda: program(bp))
    assert issubclass(bcls, tcls), (tcls, bcls, bmsg)
    assert bmsg == tmsg
    return bmsg


# ---------------------------------------------------------------- a seeded uint8 pipeline with a bicubic resize


def preprocess(L: Any, align_corners: bool, antialias: bool) -> Any:
    """RandomResizedCrop-style: a seeded crop box and flip, the uint8 crop resized bicubically (torch resizes
    uint8 in fixed point, as torchvision's tensor ``resize``), then ``ToTensor`` and ``Normalize`` by hand."""
    F = L.nn.functional
    L.manual_seed(0)
    x = L.from_numpy(IMG8.copy())
    h = int(L.randint(12, 20, (1,)).item())
    w = int(L.randint(14, 26, size=(1,)))
    i = L.randint(0, 24 - h + 1, size=(1,)).item()
    j = L.randint(0, 30 - w + 1, size=(1,)).item()
    crop = x[:, :, i : i + h, j : j + w]
    if L.rand(1) < 0.5:
        crop = crop.flip(-1)
    small = F.interpolate(crop, size=(16, 16), mode="bicubic", align_corners=align_corners, antialias=antialias)
    big = F.interpolate(crop, scale_factor=1.7, mode="bicubic", align_corners=align_corners, antialias=antialias)
    mean, std = L.tensor(MEAN).view(3, 1, 1), L.tensor(STD).view(3, 1, 1)
    return small, big, (small.float().div(255) - mean) / std


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("align_corners", [False, True])
def test_uint8_bicubic_resize_is_torchs_fixed_point(align_corners: bool, antialias: bool) -> None:
    """uint8 bicubic without antialias is torch's kernel bit for bit: the float kernel's clamped taps (a border
    tap adds up, 1.105 at the first pixel of an upsampling) in int16 fixed point, width then height, each pass
    rounded and saturated; it raised NotImplementedError."""
    t, b = preprocess(torch, align_corners, antialias), preprocess(bp, align_corners, antialias)
    for tv, bv in zip(t, b):
        assert str(bv.dtype) == str(tv.dtype).replace("torch.", "") and tuple(bv.shape) == tuple(tv.shape)
    np.testing.assert_array_equal(_np(b[0]), _np(t[0]))
    np.testing.assert_array_equal(_np(b[1]), _np(t[1]))
    np.testing.assert_allclose(_np(b[2]), _np(t[2]), rtol=1e-6, atol=1e-6)


def test_uint8_bicubic_border_weights_closed_form() -> None:
    """An impulse of 200 at the first of 8 pixels, doubled: the first output's taps -2, -1, 0 all clamp to pixel
    0, weights cubic(1.75) + cubic(0.75) + cubic(0.25) = 1.10546875 (A = -0.75), so 221; the second's
    cubic(1.25) + cubic(0.25) = 0.7734375, so 155 (torch's 221 and 155)."""
    e = np.zeros((1, 1, 1, 8), np.uint8)
    e[..., 0] = 200
    y = bp.nn.functional.interpolate(bp.from_numpy(e), size=(1, 16), mode="bicubic").numpy()[0, 0, 0]
    assert y[:3].tolist() == [221, 155, 45]
    t = torch.nn.functional.interpolate(torch.from_numpy(e), size=(1, 16), mode="bicubic").numpy()[0, 0, 0]
    np.testing.assert_array_equal(y, t)


# ---------------------------------------------------------------- padding slips of a reflect-padded blur


def blur(L: Any, pad: Any, mode: str = "reflect", ksize: int = 5, **kw: Any) -> Any:
    """A depthwise Gaussian blur (``groups=C``) of a float batch, padded by hand before the convolution."""
    F = L.nn.functional
    x = L.from_numpy(IMG8[:, :, :6, :7].copy()).float() / 255
    k = L.arange(ksize, dtype=L.float32) - ksize // 2
    g = L.exp(-(k**2) / 2)
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).expand(3, 1, ksize, ksize)
    return F.conv2d(F.pad(x, pad, mode=mode, **kw), w, groups=3)


@pytest.mark.parametrize(
    "case",
    [
        ((2, 2), "reflect"),  # a 1-dim pad of a 4-D batch
        ((2, 2), "replicate"),
        ((1, 1, 1, 1, 1, 1, 1, 1), "circular"),
        ((7, 7, 0, 0), "reflect"),  # a kernel wider than the image
        ((0, 0, 6, 0), "reflect"),
        ((1, 2, 3), "reflect"),  # an odd pad
        ((2, 2, 2, 2), "wrap"),
        ((8, 0, 0, 0), "circular"),
        ((-4, -4, 0, 0), "circular"),
        ((-8, 0, 0, 0), "replicate"),
        ((-4, -4, 0, 0), "constant"),
    ],
)
def test_pad_slips_raise_torchs_errors(case: Any) -> None:
    """F.pad's refusals are torch's texts and classes (they were backprop's own, prefixed "pad:")."""
    pad, mode = case
    msg = _same_error(lambda L: blur(L, pad, mode))
    assert not msg.startswith("pad:")


def test_pad_refusals_of_values_and_empty_images() -> None:
    F = bp.nn.functional
    _same_error(lambda L: blur(L, (2, 2, 2, 2), value=1.0))
    _same_error(lambda L: L.nn.functional.pad(L.zeros(2, 3), (1, 1, 1, 1, 1, 1)))
    _same_error(lambda L: L.nn.functional.pad(L.zeros(2, 3, 0, 5), (1, 1, 1, 1), mode="reflect"))
    _same_error(lambda L: L.nn.functional.pad(L.zeros(3, 0, 5), (1, 1), mode="replicate"))
    # the refusals name what happened; the programs that are right still run, batch of 0 included
    assert tuple(F.pad(bp.zeros(0, 3, 4, 5), (1, 1, 1, 1), mode="reflect").shape) == (0, 3, 6, 7)
    np.testing.assert_allclose(_np(blur(bp, (2, 2, 2, 2))), _np(blur(torch, (2, 2, 2, 2))), atol=1e-6)


# ---------------------------------------------------------------- rotations with affine_grid + grid_sample


def rotate(L: Any, image: Any, grid_dtype: Any = None, ndim: int = 4) -> Any:
    """Rotate by 30 degrees: a batch of 2 x 3 affine matrices, ``affine_grid``, then ``grid_sample``."""
    F = L.nn.functional
    a = np.pi / 6
    theta = L.tensor([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]], dtype=L.float32)
    theta = theta.unsqueeze(0).repeat(image.shape[0], 1, 1)
    if ndim == 5:
        theta = L.zeros(image.shape[0], 3, 4)
        theta[:, :, :3] = L.eye(3)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    if grid_dtype is not None:
        grid = grid.to(grid_dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def test_grid_sample_of_uint8_or_mixed_dtypes_raises_torchs_errors() -> None:
    """A uint8 image is torch's NotImplementedError naming its CPU kernel; a float64 grid for a float32 image
    is its "expected scalar type" RuntimeError (both were backprop's own DTypeError texts)."""
    msg = _same_error(lambda L: rotate(L, L.from_numpy(IMG8.copy())))
    assert msg == "\"grid_sampler_2d_cpu_kernel_impl\" not implemented for 'Byte'"
    msg = _same_error(lambda L: rotate(L, L.from_numpy(IMG8.copy()).unsqueeze(2), ndim=5))
    assert msg == "\"grid_sampler3d_cpu\" not implemented for 'Byte'"
    msg = _same_error(lambda L: rotate(L, L.from_numpy(IMG8.copy()).float(), grid_dtype=L.float64))
    assert msg == "expected scalar type Float but found Double"
    msg = _same_error(lambda L: rotate(L, L.from_numpy(IMG8.copy()).double()))
    assert msg == "expected scalar type Double but found Float"
    t = rotate(torch, torch.from_numpy(IMG8.copy()).float() / 255)
    b = rotate(bp, bp.from_numpy(IMG8.copy()).float() / 255)
    np.testing.assert_allclose(_np(b), _np(t), atol=1e-5)
