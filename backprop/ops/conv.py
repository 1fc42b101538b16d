"""Convolution's two primitives, N-d: ``im2col`` (torch's ``F.unfold``) and its adjoint ``col2im`` (``F.fold``).

A convolution is a GEMM of the weight with im2col's columns, and a transposed convolution is col2im of
a GEMM (both composed in ``backprop.nn._conv_functional``), so conv's gradients are matmuls plus these
two ops, each the other's backward: double backward comes for free. Both loop over the kernel
offsets, copying (im2col) or adding (col2im) one strided slice per offset: basic indexing only, the
same code on NumPy and CuPy, and as many slice copies as the kernel has elements.

Attributes (one entry per spatial dim): ``kernel_size``, ``dilation``, ``stride``, and ``padding`` as
``(lo, hi)`` pairs; a negative ``hi`` leaves the input's tail outside every block (transposed
convolutions with ``output_padding`` and ``ceil_mode`` pools use asymmetric pairs).
"""

from __future__ import annotations

import itertools
import math

from backprop.ops._util import ShapeError
from backprop.registry import op


def conv_blocks(size, kernel_size, dilation, padding, stride) -> tuple[int, ...]:
    """The number of sliding blocks along each spatial dim (conv's output size)."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, d, (lo, hi), s in zip(size, kernel_size, dilation, padding, stride)
    )


def _check_geometry(name: str, spatial: tuple, kernel_size, dilation, padding, stride) -> tuple[int, ...]:
    n = len(kernel_size)
    if len(spatial) != n or not len(dilation) == len(padding) == len(stride) == n:
        raise ShapeError(
            f"{name}: expected {n} spatial dims and {n} values of kernel_size, dilation, padding and stride, got "
            f"spatial size {tuple(spatial)}, kernel_size={kernel_size}, dilation={dilation}, padding={padding}, "
            f"stride={stride}"
        )
    if any(k <= 0 for k in kernel_size) or any(d <= 0 for d in dilation) or any(s <= 0 for s in stride):
        raise ShapeError(
            f"{name}: kernel_size, dilation and stride must be positive, got kernel_size={kernel_size}, "
            f"dilation={dilation}, stride={stride}"
        )
    blocks = conv_blocks(spatial, kernel_size, dilation, padding, stride)
    if any(b < 1 for b in blocks):
        raise ShapeError(
            f"{name}: given input with spatial size {tuple(spatial)}, kernel_size={kernel_size}, dilation={dilation}, "
            f"padding={padding}, stride={stride}, calculated shape of the array of sliding blocks as {blocks}, but "
            "its components must be at least one"
        )
    return blocks


def _check_im2col(x, *, kernel_size, dilation, padding, stride):
    if x.ndim != 2 + len(kernel_size):
        raise ShapeError(
            f"im2col: expected an input of shape (N, C, *spatial) with {len(kernel_size)} spatial dims, "
            f"got {tuple(x.shape)}"
        )
    _check_geometry("im2col", tuple(x.shape[2:]), kernel_size, dilation, padding, stride)


def _padded(xp, x, padding):
    """``x`` inside a zero frame of ``padding`` (lo, max(hi, 0)) per spatial dim (``x`` itself without one)."""
    if not any(lo or hi > 0 for lo, hi in padding):
        return x
    shape = x.shape[:2] + tuple(n + lo + max(hi, 0) for n, (lo, hi) in zip(x.shape[2:], padding))
    xpad = xp.zeros(shape, dtype=x.dtype)
    xpad[_interior(x.shape[2:], padding)] = x
    return xpad


def _interior(spatial, padding) -> tuple:
    return (slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, padding))


def _block_slices(offset, dilation, stride, blocks) -> tuple:
    """(N, C, then per dim) the elements kernel ``offset`` meets in every block: one strided slice per dim."""
    return (slice(None), slice(None)) + tuple(
        slice(o * d, o * d + s * (b - 1) + 1, s) for o, d, s, b in zip(offset, dilation, stride, blocks)
    )


@op("im2col", check=_check_im2col)
def im2col(xp, x, *, kernel_size, dilation, padding, stride):
    """(N, C, *spatial) -> (N, C * prod(kernel_size), L): every sliding block as a column, channel-major
    (torch's ``F.unfold``, N-d); L = prod(blocks), blocks = (n + lo + hi - d (k - 1) - 1) // s + 1."""
    n, c = x.shape[:2]
    blocks = conv_blocks(x.shape[2:], kernel_size, dilation, padding, stride)
    xpad = _padded(xp, x, padding)
    cols = xp.empty((n, c, *kernel_size, *blocks), dtype=x.dtype)
    for offset in itertools.product(*map(range, kernel_size)):
        cols[(slice(None), slice(None)) + offset] = xpad[_block_slices(offset, dilation, stride, blocks)]
    return cols.reshape(n, c * math.prod(kernel_size), math.prod(blocks))


@im2col.defvjp
def im2col_backward(ctx, gy):  # gathering blocks is linear; its adjoint adds every column back: col2im
    return (ctx.call(col2im, gy, output_size=tuple(ctx.input_shapes[0][2:]), **ctx.attrs),)


def _check_col2im(y, *, output_size, kernel_size, dilation, padding, stride):
    k = math.prod(kernel_size)
    if y.ndim != 3 or y.shape[1] % k:
        raise ShapeError(
            f"col2im: expected columns of shape (N, C * {k}, L) for kernel_size={kernel_size} (C * prod(kernel_size) "
            f"rows), got {tuple(y.shape)}"
        )
    blocks = _check_geometry("col2im", tuple(output_size), kernel_size, dilation, padding, stride)
    if y.shape[2] != math.prod(blocks):
        raise ShapeError(
            f"col2im: given output_size={tuple(output_size)}, kernel_size={kernel_size}, dilation={dilation}, "
            f"padding={padding}, stride={stride}, expected size of input's dimension 2 to match the calculated "
            f"number of sliding blocks {' * '.join(map(str, blocks))} = {math.prod(blocks)}, but got "
            f"input.size(2)={y.shape[2]}"
        )


@op("col2im", check=_check_col2im)
def col2im(xp, y, *, output_size, kernel_size, dilation, padding, stride):
    """(N, C * prod(kernel_size), L) -> (N, C, *output_size): each column summed back into its block
    (torch's ``F.fold``; overlapping blocks add up): im2col's adjoint."""
    n = y.shape[0]
    c = y.shape[1] // math.prod(kernel_size)
    blocks = conv_blocks(output_size, kernel_size, dilation, padding, stride)
    cols = y.reshape(n, c, *kernel_size, *blocks)
    padded = tuple(m + lo + max(hi, 0) for m, (lo, hi) in zip(output_size, padding))
    out = xp.zeros((n, c, *padded), dtype=y.dtype)
    for offset in itertools.product(*map(range, kernel_size)):
        out[_block_slices(offset, dilation, stride, blocks)] += cols[(slice(None), slice(None)) + offset]
    if padded == tuple(output_size):
        return out
    return xp.ascontiguousarray(out[_interior(output_size, padding)])


@col2im.defvjp
def col2im_backward(ctx, gy):  # the adjoint of adding columns into blocks reads the blocks back: im2col
    attrs = {k: v for k, v in ctx.attrs.items() if k != "output_size"}
    return (ctx.call(im2col, gy, **attrs),)
