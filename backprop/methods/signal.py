"""torch's short-time Fourier transforms, ``stft`` and ``istft`` (``bp.stft``, ``Tensor.stft``, ...).

Both are compositions of registered differentiable ops, so gradients reach the signal and the window
(and gradients of gradients work): the centre padding is an ``index_select`` (reflect, replicate,
circular) or zeros (constant), the frames are ``im2col`` (``F.unfold``) of the signal, the spectrum is
``fft_r2c``/``fft_c2c`` over the frame dim, and istft's overlap-add is ``col2im`` (``F.fold``), applied
to the windowed frames and to the squared window (the envelope the result is divided by), as torch's
``unfold_backward``. Arguments, defaults, dtypes, errors and warnings are torch 2.13's.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd.function import apply
from backprop.autograd.node_names import name_node
from backprop.ops import conv as _conv
from backprop.ops import fft as _fft
from backprop.ops import shape as _shape

if TYPE_CHECKING:
    from backprop.tensor import Tensor

__all__ = ["istft", "stft"]

_TYPE_NAMES = {
    "float64": "Double", "float32": "Float", "float16": "Half", "bfloat16": "BFloat16", "complex64": "ComplexFloat",
    "complex128": "ComplexDouble", "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
    "uint8": "Byte", "bool": "Bool",
}  # fmt: skip


def _type_name(t: Any) -> str:
    return _TYPE_NAMES.get(t._data.dtype.name, t._data.dtype.name)


def _sizes(shape: Any) -> str:
    return "[" + ", ".join(str(int(n)) for n in shape) + "]"


def _opt(v: Any) -> str:
    return "None" if v is None else str(int(v))


def _window_repr(window: Any) -> str:
    if window is None:
        return "None"
    return f"torch.{_type_name(window)}Tensor{{{_sizes(window.shape)}}}"


def _kind(t: Any) -> str:
    return dtypes.kind(t._data.dtype)


def _centered(window: Any, like: Any, win_length: int, n_fft: int) -> Any:
    """The window (ones of ``win_length`` when None) zero-padded on both sides to ``n_fft`` (left gets the floor
    of the half), or None for a rectangular window of full length (no multiply, as torch)."""
    left = (n_fft - win_length) // 2
    if window is None:
        if win_length == n_fft:
            return None
        values = np.zeros(n_fft)
        values[left : left + win_length] = 1
        return like.new_tensor(values, dtype=like.dtype)
    if win_length == n_fft:
        return window
    return _cat_last([window.new_zeros(left), window, window.new_zeros(n_fft - win_length - left)])


def _pad(x: Any, pad: int, mode: str) -> Any:
    """torch.stft's centre padding: ``F.pad(x.view(1, 1 or B, L), [pad, pad], mode)`` along the last dim."""
    n = x.shape[-1]
    view = (1,) * (3 - x.ndim) + tuple(x.shape)
    if mode == "constant":
        zeros = x.new_zeros(*x.shape[:-1], pad)
        return _cat_last([zeros, x, zeros])
    if mode == "reflect":
        if pad >= n:
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding "
                f"({pad}, {pad}) at dimension {len(view) - 1} of input {_sizes(view)}"
            )
        index = np.abs(np.arange(-pad, n + pad))
        index = np.where(index > n - 1, 2 * (n - 1) - index, index)
    elif mode == "replicate":
        if n == 0:
            raise RuntimeError(f"Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and other non-zero "
                               f"dimensions for input, but got: {_sizes(view)}")  # fmt: skip
        index = np.clip(np.arange(-pad, n + pad), 0, n - 1)
    elif mode == "circular":
        if pad > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        index = np.arange(-pad, n + pad) % max(n, 1)
    else:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    return x.index_select(-1, x.new_tensor(index, dtype=dtypes.int64))


def _cat_last(parts: list) -> Any:
    return apply(_shape.cat, *parts, axis=parts[0].ndim - 1)


def stft(
    input: Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None, window: Any = None,
    center: bool = True, pad_mode: str = "reflect", normalized: bool = False, onesided: bool | None = None,
    return_complex: bool | None = None, align_to_window: bool | None = None,
) -> Tensor:  # fmt: skip
    """The short-time Fourier transform: (B?, N, T) complex, N = n_fft // 2 + 1 bins (onesided) or n_fft,
    T = 1 + L // hop_length frames (center) or 1 + (L - n_fft) // hop_length; ``return_complex=False`` gives
    the deprecated real (..., 2) layout."""
    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    x = input
    if center:
        x = _pad(x, int(n_fft // 2), pad_mode)
    if window is None:  # (after the centre padding and before any check, as torch)
        warnings.warn(
            "A window was not provided. A rectangular window will be applied,which is known to cause spectral "
            "leakage. Other windows such as torch.hann_window or torch.hamming_window are recommended to reduce "
            "spectral leakage.To suppress this warning and use a rectangular window, explicitly set "
            "`window=torch.ones(n_fft, device=<device>)`.",
            UserWarning,
            stacklevel=2,
        )
    hop = int(n_fft // 4) if hop_length is None else int(hop_length)
    win = int(n_fft) if win_length is None else int(win_length)
    window_complex = window is not None and _kind(window) == "c"
    rc = return_complex if return_complex is not None else (_kind(x) == "c" or window_complex)

    def fail(what: str) -> RuntimeError:
        return RuntimeError(
            f"stft(torch.{_type_name(x)}Tensor{_sizes(x.shape)}, n_fft={n_fft}, hop_length={hop}, win_length={win}, "
            f"window={_window_repr(window)}, normalized={int(normalized)}, onesided={_opt(onesided)}, "
            f"return_complex={_opt(return_complex)}, align_to_window={_opt(align_to_window)}) : {what}"
        )

    if not rc:
        if return_complex is None:
            raise RuntimeError(
                "stft requires the return_complex parameter be given for real inputs, and will further require "
                "that return_complex=True in a future PyTorch release."
            )
        warnings.warn(
            "stft with return_complex=False is deprecated. In a future pytorch release, stft will return complex "
            "tensors for all inputs, and return_complex=False will raise an error.\nNote: you can still call "
            "torch.view_as_real on the complex output to recover the old return format.",
            UserWarning,
            stacklevel=2,
        )
    if _kind(x) not in "fc":
        raise fail("expected a tensor of floating point or complex values")
    if x.ndim not in (1, 2):
        raise fail("expected a 1D or 2D tensor")
    batched = x.ndim == 2
    x2 = x if batched else x.unsqueeze(0)
    length = x2.shape[1]
    if n_fft <= 0 or n_fft > length:
        raise fail(f"expected 0 < n_fft < {length}, but got n_fft={n_fft}")
    if hop <= 0:
        raise fail(f"expected hop_length > 0, but got hop_length={hop}")
    if win <= 0 or win > n_fft:
        raise fail(f"expected 0 < win_length <= n_fft, but got win_length={win}")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise fail(
            f"expected a 1D window tensor of size equal to win_length={win}, but got window with size "
            f"{_sizes(window.shape)}"
        )
    w = _centered(window, x2, win, n_fft)
    if not center and align_to_window:
        left = (n_fft - win) // 2
        n_frames = 1 + (length - win) // hop
    else:
        left = 0
        n_frames = 1 + (length - n_fft) // hop
    blocks = 1 + (length + 2 * left - n_fft) // hop
    if n_frames > blocks:
        batch, padded, item = x2.shape[0], length + 2 * left, x2._data.dtype.itemsize
        need = ((batch - 1) * padded + (n_frames - 1) * hop + n_fft) * item
        raise RuntimeError(  # torch frames the padded signal with as_strided, past its end here
            f"setStorage: sizes [{batch}, {n_frames}, {n_fft}], strides [{padded}, {hop}, 1], storage offset 0, and "
            f"itemsize {item} requiring a storage size of {need} are out of bounds for storage of size "
            f"{batch * padded * item}"
        )
    frames = apply(
        _conv.im2col, x2.unsqueeze(1), kernel_size=(n_fft,), dilation=(1,), padding=((left, left),), stride=(hop,)
    )  # (B, n_fft, frames)
    if blocks > n_frames:
        frames = frames.narrow(2, 0, n_frames)
    if w is not None:
        frames = frames * w.reshape(n_fft, 1)
    complex_fft = _kind(frames) == "c"
    one = (not complex_fft) if onesided is None else bool(onesided)
    norm = "ortho" if normalized else "backward"
    if complex_fft:
        if one:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        out = apply(_fft.fft_c2c, frames, dims=(1,), norm=norm, forward=True)
    elif one:
        out = apply(_fft.fft_r2c, frames, dims=(1,), norm=norm)
    else:
        out = apply(_fft.fft_c2c, frames, dims=(1,), norm=norm, forward=True, real_input=True)
    # (torch's node: its in-place transpose_ of the frames, then squeeze_ of an unbatched signal's batch dim)
    out = name_node(out, "TransposeBackward1") if batched else name_node(out.squeeze(0), "SqueezeBackward4")
    return out if rc else apply(_fft.view_as_real, out)


def istft(
    input: Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None, window: Any = None,
    center: bool = True, normalized: bool = False, onesided: bool | None = None, length: int | None = None,
    return_complex: bool = False,
) -> Tensor:  # fmt: skip
    """The inverse of ``stft`` (least-squares overlap-add, divided by the summed squared window): a (B?, L)
    signal, real unless ``return_complex``; ``length`` trims or zero-pads the result."""
    hop = int(n_fft // 4) if hop_length is None else int(hop_length)
    win = int(n_fft) if win_length is None else int(win_length)
    if _kind(input) != "c":
        raise RuntimeError(
            "istft requires a complex-valued input tensor matching the output from stft with return_complex=True."
        )
    device = input.device.type.upper()

    def head() -> str:
        return (
            f"istft({device}{_type_name(input)}Type{_sizes(input.shape)}, n_fft={n_fft}, hop_length={hop}, "
            f"win_length={win}, window={_window_repr(window)}, center={int(center)}, normalized={int(normalized)}, "
            f"onesided={_opt(onesided)}, length={_opt(length)}, return_complex={int(return_complex)}) "
        )

    def fail(what: str) -> RuntimeError:
        return RuntimeError(head() + ": " + what)

    if window is None:
        warnings.warn(
            "A window was not provided. A rectangular window will be applied.Please provide the same window used by "
            "stft to make the inversion lossless.To suppress this warning and use a rectangular window, explicitly "
            "set `window=torch.ones(n_fft, device=<device>)`.",
            UserWarning,
            stacklevel=2,
        )
    if input.numel() == 0:
        raise fail("input tensor cannot be empty.")
    if input.ndim not in (2, 3):
        raise fail(f"expected a tensor with 3 or 4 dimensions, but got {input.ndim + 1}")
    n_frames = input.shape[-1]
    fft_size = input.shape[-2]
    one = fft_size != n_fft if onesided is None else bool(onesided)
    if one and n_fft // 2 + 1 != fft_size:
        raise fail(
            "expected the frequency dimension (3rd to the last) of the input tensor to match n_fft / 2 + 1 when "
            f"onesided=True, but got {fft_size}"
        )
    if not one and n_fft != fft_size:
        raise fail(
            "expected the frequency dimension (3rd to the last) of the input tensor to match n_fft when "
            f"onesided=False, but got {fft_size}"
        )
    if not 0 < hop <= win:
        raise fail("expected 0 < hop_length <= win_length")
    if not 0 < win <= n_fft:
        raise fail("expected 0 < win_length <= n_fft")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise fail("Invalid window shape. window has to be 1D and length of `win_length`")
    real_dtype = _fft._real_of(input._data.dtype)
    w = window if window is not None else input.new_ones(win, dtype=real_dtype)
    if win != n_fft:
        w = _centered(w, input, win, n_fft)
    spec = input if input.ndim == 3 else input.unsqueeze(0)  # (B, bins, frames)
    norm = "ortho" if normalized else "backward"
    if return_complex:
        if one:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        frames = apply(_fft.fft_c2c, spec, dims=(1,), norm=norm, forward=False)
    else:
        if window is not None and _kind(window) == "c":
            raise RuntimeError("Complex windows are incompatible with return_complex=False")
        if not one:
            spec = spec.narrow(1, 0, n_fft // 2 + 1)
        frames = apply(_fft.fft_c2r, spec, dims=(1,), norm=norm, last_size=n_fft)  # (B, n_fft, frames)
    expected = n_fft + hop * (n_frames - 1)
    fold = {"output_size": (expected,), "kernel_size": (n_fft,), "dilation": (1,), "padding": ((0, 0),)}
    y = apply(_conv.col2im, frames * w.reshape(n_fft, 1), stride=(hop,), **fold).squeeze(1)  # (B, expected)
    square = (w * w).reshape(1, n_fft, 1).expand(1, n_fft, n_frames)
    envelope = apply(_conv.col2im, square, stride=(hop,), **fold).squeeze(1)  # (1, expected)
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + int(length)
    elif center:
        end = -(n_fft // 2)
    else:
        end = expected
    y = y[:, start:end]
    envelope = envelope[:, start:end]
    if bool((envelope.abs().min() < 1e-11).item()):
        raise RuntimeError(head() + f"window overlap add min: 1\n[ {device}BoolType{{}} ]")
    y = y / envelope
    if input.ndim == 2:
        y = y.squeeze(0)
    if end > expected:
        warnings.warn(
            "The length of signal is shorter than the length parameter. Result is being padded with zeros in the "
            "tail. Please check your center and hop_length settings.",
            UserWarning,
            stacklevel=2,
        )
        y = _cat_last([y, y.new_zeros(*y.shape[:-1], end - expected)])
    return y
