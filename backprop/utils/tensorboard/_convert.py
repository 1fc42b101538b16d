"""Turning what the ``add_*`` calls receive into NumPy arrays, and the array layouts TensorBoard wants:
images as HWC (a batch tiled into one grid), videos as THWC frames, matplotlib figures as CHW pixels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backprop.tensor import Tensor


def make_np(x: Any) -> np.ndarray:
    """A NumPy array of ``x``: a backprop tensor (detached, copied to the host), a NumPy array, a Python or
    NumPy number (as a one-element array, as torch's ``make_np``), or any object with torch's
    ``.detach().cpu().numpy()`` chain. A tensor that requires grad is fine: it is detached, as torch does.
    bfloat16 (which NumPy lacks; backprop stores it as ml_dtypes' bfloat16) becomes float32."""
    if isinstance(x, np.ndarray):
        arr = x
    elif np.isscalar(x):
        arr = np.array([x])
    elif isinstance(x, Tensor) or all(hasattr(x, a) for a in ("detach", "cpu", "numpy")):
        arr = np.asarray(x.detach().cpu().numpy())
    elif isinstance(x, (list, tuple)):
        arr = np.asarray(x)
    else:
        raise NotImplementedError(f"Got {type(x)}, but numpy array or backprop tensor are expected.")
    if arr.dtype.name == "bfloat16":
        arr = arr.astype(np.float32)
    return arr


def scale_factor(arr: np.ndarray) -> int:
    """uint8 pixels are already 0..255; anything else is taken as 0..1 and multiplied by 255 (torch's rule)."""
    return 1 if arr.dtype == np.uint8 else 255


def to_uint8(arr: np.ndarray) -> np.ndarray:
    return (arr.astype(np.float32) * scale_factor(arr)).clip(0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int = 8) -> np.ndarray:
    """Tile an N×C×H×W batch (C of 1, 3 or 4; one channel is repeated to RGB) into one C×H'×W' image,
    ``ncols`` images a row, row by row, the unused cells black."""
    if images.ndim != 4:
        raise AssertionError("Input should be a 4D numpy array (NCHW)")
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    n, c, h, w = images.shape
    if c not in (3, 4):
        raise AssertionError(f"Input should have 1, 3 or 4 channels, got {c}")
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    canvas = np.zeros((c, h * nrows, w * ncols), dtype=images.dtype)
    for i in range(n):
        row, col = divmod(i, ncols)
        canvas[:, row * h : (row + 1) * h, col * w : (col + 1) * w] = images[i]
    return canvas


def convert_to_HWC(arr: np.ndarray, input_format: str) -> np.ndarray:  # noqa: N802 - torch's name
    """An image array in ``input_format`` (a permutation of NCHW, CHW, HWC or HW, any case) as H×W×C:
    a batch is tiled by :func:`make_grid`, gray images are repeated to three channels."""
    fmt = input_format.upper()
    if len(set(fmt)) != len(fmt):
        raise AssertionError(f"You can not use the same dimension shorthand twice. input_format: {input_format}")
    if arr.ndim != len(fmt):
        raise AssertionError(
            f"size of input tensor and input format are different. "
            f"tensor shape: {arr.shape}, input_format: {input_format}"
        )
    canon = {4: "NCHW", 3: "HWC", 2: "HW"}.get(len(fmt))
    if canon is None or set(fmt) != set(canon):
        raise AssertionError(f"input_format should be a permutation of NCHW, CHW, HWC or HW, got {input_format}")
    arr = arr.transpose([fmt.index(c) for c in canon])
    if canon == "NCHW":
        return make_grid(arr).transpose(1, 2, 0)
    if canon == "HW":
        return np.stack([arr, arr, arr], axis=2)
    if arr.shape[2] == 1:
        arr = np.concatenate([arr, arr, arr], axis=2)
    return arr


def prepare_video(video: np.ndarray) -> np.ndarray:
    """B×T×C×H×W → T×H'×W'×C: each frame is the batch laid out on a grid (the batch padded with black
    videos to a power of two; 2**floor(log2(B)/2) rows), values as floats in 0..1."""
    if video.ndim != 5:
        raise AssertionError(f"video should be 5D (N, T, C, H, W), got shape {video.shape}")
    b, t, c, h, w = video.shape
    if video.dtype == np.uint8:
        video = video.astype(np.float32) / 255.0
    padded = 1 << (b - 1).bit_length()
    if padded != b:
        video = np.concatenate([video, np.zeros((padded - b, t, c, h, w), dtype=video.dtype)], axis=0)
    n_rows = 2 ** ((b.bit_length() - 1) // 2)
    n_cols = padded // n_rows
    video = video.reshape(n_rows, n_cols, t, c, h, w).transpose(2, 0, 4, 1, 5, 3)
    return video.reshape(t, n_rows * h, n_cols * w, c)


def figure_to_image(figures: Any, close: bool = True) -> np.ndarray:
    """Render a matplotlib figure (C×H×W uint8 RGB) or a list of figures (N×C×H×W) with the Agg canvas."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as exc:
        raise ImportError("add_figure needs matplotlib (pip install matplotlib)") from exc

    def render(figure: Any) -> np.ndarray:
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        w, h = figure.canvas.get_width_height()
        chw = np.ascontiguousarray(rgba.reshape(h, w, 4)[:, :, :3].transpose(2, 0, 1))
        if close:
            plt.close(figure)
        return chw

    if isinstance(figures, list):
        return np.stack([render(f) for f in figures])
    return render(figures)
