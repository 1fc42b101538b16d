"""Unpooling, spatial transformers and the deprecated upsample aliases, with torch.nn.functional's names.

Compositions of registered ops, so gradients (and double backward) come from the ops' own rules:
``max_unpool`` scatters each value to its saved flat index (its gradient gathers back);
``affine_grid`` is a GEMM of a constant base grid with ``theta``; ``grid_sample`` gathers the
corners around each sample point (indices computed from the detached coordinates) and weights them
with differentiable functions of the grid, so the input gets a scatter-add and the grid the
derivative of the weights, as torch's kernels compute them. Imported into ``backprop.nn.functional``.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from typing import Any

import numpy as np

from backprop import creation
from backprop import dtypes as _dtypes
from backprop.autograd import trace
from backprop.autograd.function import OpIndexError
from backprop.autograd.node_names import name_node
from backprop.backends.cupy_backend import defer_range_check
from backprop.nn._conv_functional import _batched, interpolate, ntuple
from backprop.ops._util import DTypeError, ShapeError
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = [
    "affine_grid",
    "grid_sample",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "upsample_bilinear",
    "upsample_nearest",
]


def _const(arr: Any, like: Tensor) -> Tensor:
    return Tensor._wrap(arr, like.device, None)


# ---------------------------------------------------------------- max_unpool


def _unpool_output_size(
    name: str, input: Tensor, kernel: tuple, stride: tuple, padding: tuple, output_size: Any
) -> tuple[int, ...]:
    """torch's ``_unpool_output_size``: (in - 1) stride - 2 pad + kernel per dim, or ``output_size``
    (its last n entries when it has n + 2) if each lies strictly within a stride of that."""
    n = len(kernel)
    default = [(input.shape[input.ndim - n + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(n)]
    if output_size is None:
        out = default
    else:
        out = [int(s) for s in output_size]
        if len(out) == n + 2:
            out = out[2:]
        if len(out) != n:
            raise ValueError(
                f"output_size should be a sequence containing {n} or {n + 2} elements, but it has a length of "
                f"'{len(out)}'"
            )
        for d in range(n):
            lo, hi = default[d] - stride[d], default[d] + stride[d]
            if not lo < out[d] < hi:
                raise ValueError(f'invalid output_size "{tuple(output_size)}" (dim {d} must be between {lo} and {hi})')
    for d, s in enumerate(out):
        if s < 0:
            raise ValueError(
                f"max_unpooling: output_size must contain non-negative spatial dimensions, but got output_size[{d}]={s}"
            )
    return tuple(out)


def _check_unpool_indices(arr: Any, *, xp: Any, name: str, size: int, msg: str) -> None:
    """max_unpool's range check (CuPy: on the device, raised at the next read); torch reports the first bad one."""
    if defer_range_check(xp, name, arr, 0, size - 1, msg):
        return
    if int(arr.min()) < 0 or int(arr.max()) >= size:
        bad = int(arr[(arr < 0) | (arr >= size)][0])
        raise OpIndexError(f"{name}: " + msg.format(value=bad))


def _max_unpool(
    name: str,
    n: int,
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    output_size: Any,
) -> Tensor:
    """y (N, C, *out) zero except y.flat[indices] = input: a scatter, whose gradient gathers back."""
    if input.ndim not in (n + 1, n + 2):
        raise ShapeError(
            f"{name}: expected a {n + 1}D or {n + 2}D (batch mode) input, but got a tensor of size {list(input.shape)}"
        )
    if not isinstance(indices, Tensor) or indices.dtype.name != "int64":
        got = indices.dtype if isinstance(indices, Tensor) else type(indices).__name__
        raise DTypeError(f"{name}: elements in indices should be type int64 but got: {got}")
    if tuple(indices.shape) != tuple(input.shape):
        raise ShapeError(
            f"{name}: Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) but got "
            f"indices tensor with shape: {list(indices.shape)}"
        )
    kernel = ntuple(kernel_size, n, "kernel_size", name)
    stride = kernel if stride is None else ntuple(stride, n, "stride", name)
    padding = ntuple(padding, n, "padding", name)
    out = _unpool_output_size(name, input, kernel, stride, padding, output_size)
    x, unbatched = _batched(input, n, name)
    b, c = x.shape[:2]
    size = math.prod(out)
    idx = indices.reshape(b, c, -1)
    xp = x.device.xp
    msg = f"Found an invalid max index: {{value}} (output volumes are of size {'x'.join(map(str, out))})"
    if idx._data.size:  # (recorded: a replay refuses a bad index too)
        trace.check(_check_unpool_indices, idx, xp=xp, name=name, size=size, msg=msg)
        if getattr(xp, "__name__", "") == "cupy":  # (deferred there: the scatter kept in bounds until it raises)
            idx = _const(trace.record(functools.partial(xp.clip, a_min=0, a_max=max(size - 1, 0)), idx), x)
    y = creation.zeros(b, c, size, dtype=x.dtype, device=x.device).scatter(2, idx, x.reshape(b, c, -1))
    y = y.reshape(b, c, *out)
    y = y.squeeze(0) if unbatched else y
    return name_node(y, "SqueezeBackward1" if n == 1 else f"MaxUnpool{n}DBackward0")  # (torch's 1-d: 2-d squeezed)


def max_unpool1d(
    input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, output_size: Any = None
) -> Tensor:
    """Partial inverse of ``max_pool1d``: (N, C, L_in) values put back at their flat ``indices``, zeros elsewhere."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(
    input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, output_size: Any = None
) -> Tensor:
    """Partial inverse of ``max_pool2d``: values put back at their indices (flat over H_out * W_out)."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(
    input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, output_size: Any = None
) -> Tensor:
    """Partial inverse of ``max_pool3d``: values put back at their indices (flat over D_out * H_out * W_out)."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


# ---------------------------------------------------------------- affine_grid / grid_sample

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please specify "
    "align_corners=True if the old behavior is desired. See the documentation of grid_sample for details."
)


def _linspace_from_neg_one(steps: int, align_corners: bool, dtype: Any) -> np.ndarray:
    """torch's base-grid coordinates: linspace(-1, 1) (its two-sided formula), scaled by (s - 1) / s
    without ``align_corners``; a single step sits at 0."""
    if steps <= 1:
        return np.zeros(1, dtype=dtype)
    i = np.arange(steps)
    step = dtype.type(2) / dtype.type(steps - 1)
    grid = np.where(i < steps // 2, dtype.type(-1) + step * i.astype(dtype), dtype.type(1) - step * (steps - 1 - i))
    grid = grid.astype(dtype)
    if not align_corners:
        grid = (grid * dtype.type(steps - 1) / dtype.type(steps)).astype(dtype)
    return grid


def affine_grid(theta: Tensor, size: Any, align_corners: bool | None = None) -> Tensor:
    """Sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps ``theta`` (N, 2, 3) (or (N, 3, 4))
    applied to the normalised output coordinates [x, y(, z), 1]: a GEMM, differentiable in ``theta``."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if _dtypes.kind(theta.dtype) != "f":
        raise ValueError(f"Expected theta to have floating point type, but got torch.{theta.dtype}")
    given = f"torch.Size({list(size)})" if isinstance(size, Size) else str(size)  # (as torch prints it)
    size = [int(s) for s in size]
    if len(size) in (4, 5):
        n = len(size) - 2
        if theta.ndim != 3 or tuple(theta.shape[1:]) != (n, n + 1):
            kind = "2D" if n == 2 else "3D"
            raise ValueError(
                f"Expected a batch of {kind} affine matrices of shape Nx{n}x{n + 1} for size {given}. "
                f"Got torch.Size({list(theta.shape)})."
            )
    else:
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. "
            f"Got size {given}."
        )
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when align_corners=True. "
            "This is not an intended use case of affine_grid. See the documentation of affine_grid for details.",
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {given}")
    if theta.shape[0] != size[0]:  # (torch's text: its bmm of the base grid by theta.mT)
        raise ShapeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{size[0]}, {n + 1}] but got: "
            f"[{theta.shape[0]}, {n + 1}]."
        )
    dtype = np.dtype(theta.dtype.name)
    axes = [_linspace_from_neg_one(s, align_corners, dtype) for s in reversed(spatial)]  # x (W), y (H)(, z (D))
    mesh = np.meshgrid(*axes[::-1], indexing="ij")  # over (D,) H, W
    base = np.stack([*mesh[::-1], np.ones_like(mesh[0])], axis=-1).reshape(-1, n + 1)  # rows [x, y(, z), 1]
    grid = _const(theta.device.xp.asarray(base), theta) @ theta.mT  # (S, n + 1) @ (N, n + 1, n) -> (N, S, n)
    return name_node(grid.reshape(size[0], *spatial, n), "AffineGridGeneratorBackward0")


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """[-1, 1] to pixel coordinates: -1 and 1 are the corner pixels' centres (``align_corners``) or edges."""
    if align_corners:
        return ((coord + 1) / 2) * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _clip(coord: Tensor, size: int) -> Tensor:
    """coord clipped to [0, size - 1], NaN to 0 (torch's kernels clamp it so: a NaN or, reflected, infinite grid
    point reads pixel 0); as torch's, the borders count as outside for the gradient."""
    inside = (coord > 0) & (coord < size - 1)
    clipped = coord.detach().clamp(0, size - 1)
    return coord.where(inside, clipped.where(clipped == clipped, 0))


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """coord reflected into [twice_low / 2, twice_high / 2] (torch's reflect_coordinates, its gradient +-1)."""
    if twice_low == twice_high:
        return coord.detach() * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    t = coord - low
    t = (-t).where(t < 0, t)  # |t| with gradient +1 at 0, as torch
    extra = t.fmod(span)
    flips = (t.detach() / span).floor()
    return (extra + low).where(flips.fmod(2) == 0, span - extra + low)


def _source_index(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """Grid coordinate to (float) source pixel index with torch's padding rules."""
    s = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        return _clip(s, size)
    if padding_mode == "reflection":
        s = _reflect(s, 0, 2 * (size - 1)) if align_corners else _reflect(s, -1, 2 * size - 1)
        return _clip(s, size)
    return s


def _check_grid_sample(input: Tensor, grid: Tensor) -> None:
    if input.ndim not in (4, 5):
        raise ShapeError(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got input with "
            f"sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    n = input.ndim - 2
    if grid.ndim != input.ndim:
        raise ShapeError(
            f"grid_sampler(): expected {input.ndim}D input and grid with same number of dimensions, but got input "
            f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if grid.shape[0] != input.shape[0]:
        raise ShapeError(
            f"grid_sampler(): expected grid and input to have same batch size, but got input with sizes "
            f"{list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if grid.shape[-1] != n:
        raise ShapeError(
            f"grid_sampler(): expected grid to have size {n} in last dimension, but got grid with sizes "
            f"{list(grid.shape)}"
        )
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise ShapeError(
                f"grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes "
                f"{list(input.shape)} with dimension {d} being empty"
            )
    name = _dtypes.scalar_type_name
    if _dtypes.kind(input.dtype) != "f":  # (torch's CPU kernels are dispatched on the input's dtype first)
        kernel = "grid_sampler_2d_cpu_kernel_impl" if input.ndim == 4 else "grid_sampler3d_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{name(input.dtype)}'")
    if input.dtype != grid.dtype:
        raise DTypeError(f"expected scalar type {name(input.dtype)} but found {name(grid.dtype)}")


def _cubic_coefficients(t: Tensor) -> list[Tensor]:
    """torch's cubic convolution weights (A = -0.75) of the taps at -1, 0, 1, 2 for the fraction ``t``."""
    a = -0.75

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Tensor) -> Tensor:  # 1 <= |x| <= 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_taps(base: Tensor, size: int, padding_mode: str, align_corners: bool) -> list[tuple[Tensor, Tensor]]:
    """The four integer taps base - 1 .. base + 2 as (index, inside) pairs: torch pads the taps, not the
    source coordinate (border clamps them, reflection mirrors then clamps, zeros reads 0 outside)."""
    taps = []
    for k in range(4):
        p = base + (k - 1)
        if padding_mode == "border":
            p = p.clamp(0, size - 1)
        elif padding_mode == "reflection":
            p = _reflect(p, 0, 2 * (size - 1)) if align_corners else _reflect(p, -1, 2 * size - 1)
            p = p.clamp(0, size - 1)
        ok = (p >= 0) & (p <= size - 1)
        taps.append((p.where(ok, 0).long(), ok))
    return taps


def _grid_sample_bicubic(input: Tensor, grid: Tensor, padding_mode: str, align_corners: bool) -> Tensor:
    """Bicubic ``grid_sample`` of (N, C, H, W): the 4 x 4 taps around each unnormalised point, weighed by
    the cubic convolution of its fractional offsets (differentiable in input and grid, as torch's)."""
    b, c, h, w = input.shape
    out = tuple(grid.shape[1:-1])
    length = math.prod(out)
    ix = _unnormalize(grid[..., 0].reshape(b, length), w, align_corners)
    iy = _unnormalize(grid[..., 1].reshape(b, length), h, align_corners)
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    wx, wy = _cubic_coefficients(ix - x0), _cubic_coefficients(iy - y0)
    xs = _cubic_taps(x0, w, padding_mode, align_corners)
    ys = _cubic_taps(y0, h, padding_mode, align_corners)
    flat_x = input.reshape(b, c, h * w)
    y: Tensor | None = None
    for (py, oky), wj in zip(ys, wy):  # as torch: interpolate each row along x, then the rows along y
        row: Tensor | None = None
        for (px, okx), wi in zip(xs, wx):
            flat = (py * w + px).reshape(b, 1, length).expand(b, c, length)
            vals = flat_x.gather(2, flat).where((oky & okx).reshape(b, 1, length), 0)
            term = vals * wi.reshape(b, 1, length)
            row = term if row is None else row + term
        assert row is not None
        term = row * wj.reshape(b, 1, length)
        y = term if y is None else y + term
    assert y is not None
    return y.reshape(b, c, *out)


def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """Sample (N, C, H_in, W_in) at the normalised points ``grid`` (N, H, W, 2), x first, in [-1, 1]
    (or (N, C, D, H, W) at (N, D', H', W', 3)): ``mode`` bilinear (trilinear for 5-D), nearest or bicubic (4-D),
    ``padding_mode`` zeros, border or reflection for points outside. Differentiable in input and grid."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', "
            f"but got: '{padding_mode}'"
        )
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    _check_grid_sample(input, grid)
    if mode == "bicubic":
        if input.ndim == 5:
            raise ShapeError("grid_sampler(): bicubic interpolation only supports 4D input")
        return name_node(_grid_sample_bicubic(input, grid, padding_mode, align_corners), "GridSampler2DBackward0")
    n = input.ndim - 2
    b, c = input.shape[:2]
    spatial = tuple(input.shape[2:])  # (D,) H, W
    out = tuple(grid.shape[1:-1])
    length = math.prod(out)
    # per input dim d (D, H, W order) its source coordinate; grid's last axis is x (W) first
    src = [
        _source_index(grid[..., n - 1 - d].reshape(b, length), m, padding_mode, align_corners)
        for d, m in enumerate(spatial)
    ]
    corners: list[list[tuple[Tensor, Tensor | None]]]  # per dim: (source index, weight or None) pairs
    if mode == "nearest":
        corners = [[(s.detach().round(), None)] for s in src]
    else:
        corners = []
        for s in src:
            lo = s.detach().floor()
            corners.append([(lo, (lo + 1) - s), (lo + 1, s - lo)])  # torch's weights: (i + 1 - s), (s - i)
    flat_x = input.reshape(b, c, math.prod(spatial))  # (explicit: an empty batch has no -1)
    y: Tensor | None = None
    for combo in itertools.product(*corners):
        flat: Any = None
        valid: Any = None
        weight: Tensor | None = None
        for (pos, w), m in zip(combo, spatial):
            ok = (pos >= 0) & (pos <= m - 1)
            valid = ok if valid is None else valid & ok
            i = pos.where(ok, 0).long()  # outside (or NaN): read element 0, weighed by nothing below
            flat = i if flat is None else flat * m + i  # in int64: exact for any size
            if w is not None:
                weight = w if weight is None else weight * w
        assert flat is not None and valid is not None
        vals = flat_x.gather(2, flat.reshape(b, 1, length).expand(b, c, length))
        vals = vals.where(valid.reshape(b, 1, length), 0)  # (then weighed: a NaN or infinite point gives NaN, as torch)
        term = vals if weight is None else vals * weight.reshape(b, 1, length)
        y = term if y is None else y + term
    assert y is not None
    if mode == "nearest" and grid.requires_grad:  # torch gives the grid a zero gradient in nearest mode
        zero = src[0] * 0
        for s in src[1:]:
            zero = zero + s * 0
        y = y + zero.where(valid, 0).reshape(b, 1, length)
    return name_node(y.reshape(b, c, *out), f"GridSampler{n}DBackward0")


# ---------------------------------------------------------------- deprecated aliases


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')`` (torch's warning)."""
    warnings.warn(
        "`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2
    )
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)``."""
    warnings.warn(
        "`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2
    )
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
