"""Vision and generative programs as torch users write them, run once with torch and once with ``backprop``
standing in for ``torch`` (each program is a function of the module): values, dtypes, shapes and exceptions
(class and message) agree.

Covered: a U-Net decoder (``ConvTranspose2d`` with ``output_size``/``output_padding`` and their errors, skip
crops by ``F.pad``, ``F.interpolate`` with every mode incl. torch 2.13's ``lanczos`` and the size checks), patch
extraction and overlap-add with ``F.unfold``/``F.fold`` (and their argument checks), adaptive-pool heads,
``channels_last`` conversions of image batches, model summaries of lazy models (``numel`` of an uninitialised
parameter, ``torch.nn.parameter``'s names), and a spatial transformer whose grid is sampled by two losses.

Weights are copied from torch into backprop where a model is built.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")


def _np(x: Any) -> Any:
    return x.detach().cpu().numpy()


def _picture(x: Any) -> Any:
    """Tensors as (shape, dtype name, values); containers item by item; other values as they are."""
    if isinstance(x, (backprop.Tensor, torch.Tensor)):
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), _np(x))
    if isinstance(x, dict):
        return {k: _picture(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not isinstance(x, (backprop.Size, torch.Size)):
        return [_picture(v) for v in x]
    if isinstance(x, (backprop.Size, torch.Size)):
        return ("Size", tuple(x))
    return x


def _compare(ours: Any, theirs: Any, rtol: float, path: str) -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), (path, ours, theirs)
        for k in theirs:
            _compare(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (path, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _compare(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, tuple) and theirs and theirs[0] == "T":
        assert isinstance(ours, tuple) and ours[0] == "T", (path, ours)
        assert ours[1:3] == theirs[1:3], (path, "shape/dtype", ours[1:3], theirs[1:3])
        if ours[3].dtype.kind in "fc":
            np.testing.assert_allclose(ours[3], theirs[3], rtol=rtol, atol=rtol, err_msg=path)
        else:
            np.testing.assert_array_equal(ours[3], theirs[3], err_msg=path)
    elif isinstance(theirs, BaseException):  # torch's class (backprop's subclass it) and message
        assert isinstance(ours, type(theirs)), (path, ours, theirs)
        assert str(ours) == str(theirs), (path, str(ours), str(theirs))
    elif isinstance(theirs, float):
        assert isinstance(ours, float) and math.isclose(ours, theirs, rel_tol=rtol, abs_tol=rtol), (path, ours, theirs)
    else:
        assert type(ours) is type(theirs) and ours == theirs, (path, ours, theirs)


def _run(program: Callable[[Any], Any], lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        backprop.manual_seed(0)
        try:
            return ("ok", _picture(program(lib)))
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return ("raises", e)


def _same(program: Callable[[Any], Any], rtol: float = 1e-5) -> None:
    """The program gives torch's result under backprop; where torch raises, backprop raises torch's class
    and message."""
    theirs, ours = _run(program, torch), _run(program, backprop)
    if theirs[0] == "raises":
        assert ours[0] == "raises", f"torch raises {theirs[1]!r}, backprop gives {ours[1]!r}"
        _compare(ours[1], theirs[1], rtol, "raised")
        return
    if ours[0] == "raises":
        raise ours[1]
    _compare(ours[1], theirs[1], rtol, "result")


def _raised(f: Callable[[], Any]) -> Any:
    """What ``f()`` raised (the exception itself, compared by class and message), or "ok"."""
    try:
        f()
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return e
    return "ok"


class _Mirror:
    """Records torch modules' initial states in build order and replays them into backprop's modules."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []
        self.i = 0

    def __call__(self, lib: Any, module: Any) -> Any:
        if lib is torch:
            self.states.append({k: v.detach().clone() for k, v in module.state_dict().items()})
        else:
            state = self.states[self.i]
            self.i += 1
            module.load_state_dict({k: backprop.tensor(v.numpy()) for k, v in state.items()})
        return module


def _same_model(program: Callable[[Any, _Mirror], Any], rtol: float = 1e-5) -> None:
    mirror = _Mirror()
    _same(lambda lib: program(lib, mirror), rtol)


# ---------------------------------------------------------------------------------------------- U-Net decoder
def test_unet_decoder_conv_transpose_output_size_and_its_errors() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn, F = L.nn, L.nn.functional
        up = mirror(L, nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1))
        grouped = mirror(
            L, nn.ConvTranspose2d(4, 6, (3, 4), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)
        )
        x = L.linspace(-1, 1, 2 * 4 * 5 * 5).reshape(2, 4, 5, 5).requires_grad_()
        skip = L.linspace(0, 1, 2 * 2 * 11 * 11).reshape(2, 2, 11, 11)
        y = up(x)
        dy, dx = skip.size()[2] - y.size()[2], skip.size()[3] - y.size()[3]
        y = F.pad(y, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        merged = L.cat([skip, y], dim=1)
        sized = up(x, output_size=[9, 9])
        loss = merged.pow(2).mean() + grouped(x).abs().sum() + sized.sum()
        loss.backward()
        return {
            "merged": merged,
            "sized": sized,
            "grads": [x.grad, up.weight.grad, grouped.weight.grad, grouped.bias.grad],
            # the requested size as given (a tuple prints as one), the 1-d/2-d/3-d output_padding texts
            "too_big": _raised(lambda: up(x, output_size=(12, 12))),
            "too_big_4": _raised(lambda: up(x, output_size=[2, 2, 12, 12])),
            "pad_2d": _raised(lambda: F.conv_transpose2d(x, L.ones(4, 2, 3, 3), stride=(2, 1), output_padding=(1, 3))),
            "pad_1d": _raised(lambda: F.conv_transpose1d(x[:, :, 0], L.ones(4, 2, 3), stride=2, output_padding=2)),
            # a decoder wired with the wrong widths: torch names the transposed convolution, not its groups
            "channels": _raised(lambda: F.conv_transpose2d(x, L.ones(3, 2, 3, 3))),
            "bias": _raised(lambda: F.conv_transpose2d(x, L.ones(4, 2, 3, 3), bias=L.ones(3), groups=2)),
            "groups": _raised(lambda: F.conv_transpose2d(x, L.ones(4, 2, 3, 3), groups=3)),
            "pad_3d": _raised(
                lambda: F.conv_transpose3d(x[:, :, None], L.ones(4, 2, 1, 3, 3), stride=2, output_padding=(0, 2, 1))
            ),
        }

    _same_model(program, rtol=1e-4)


def test_interpolate_lanczos_resize_as_torch() -> None:
    """torch 2.13's ``mode='lanczos'`` (Lanczos-3, antialiased, PIL's filter): values and gradients."""

    def program(L: Any) -> Any:
        F = L.nn.functional
        x = L.arange(2 * 3 * 9 * 13, dtype=L.float32).reshape(2, 3, 9, 13).sin().requires_grad_()
        out = {}
        for i, kw in enumerate(
            [
                {"size": (4, 20)},
                {"size": (16, 5)},
                {"scale_factor": (0.37, 1.7)},
                {"scale_factor": 0.5, "recompute_scale_factor": True},
                {"size": (9, 13)},
                {"size": (1, 1)},
            ]
        ):
            y = F.interpolate(x, mode="lanczos", antialias=True, **kw)
            out[str(i)] = (y, L.autograd.grad((y * y.detach().cos()).sum(), x)[0])
        out["float64"] = F.interpolate(x.detach().double(), size=(5, 7), mode="lanczos", antialias=True)
        out["errors"] = [
            _raised(lambda: F.interpolate(x, size=(4, 20), mode="lanczos")),
            _raised(lambda: F.interpolate(x, size=(4, 20), mode="lanczos", antialias=True, align_corners=True)),
            _raised(lambda: F.interpolate(x[0], size=(4,), mode="lanczos", antialias=True)),
            _raised(lambda: F.interpolate(x[0], size=(4,), mode="lanczos")),
            _raised(lambda: L.nn.Upsample(scale_factor=2, mode="lanczos")(x)),
        ]
        return out

    _same(program)


def test_interpolate_size_and_mode_checks_as_torch() -> None:
    """A size of the wrong length is torch's ValueError (``[2]`` for a 2-d image was broadcast here), a float in
    it torch's TypeError (it was truncated), and an unknown mode torch's NotImplementedError text."""

    def program(L: Any) -> Any:
        F = L.nn.functional
        x = L.arange(16.0).reshape(1, 1, 4, 4)
        return [
            _raised(lambda: F.interpolate(x, size=[2])),
            _raised(lambda: F.interpolate(x, size=(2, 2, 2))),
            _raised(lambda: F.interpolate(x[0], size=(2, 2))),
            _raised(lambda: F.interpolate(x, size=(2, 3.0))),
            _raised(lambda: F.interpolate(x, scale_factor=(2, 2, 2))),
            _raised(lambda: F.interpolate(x, scale_factor=2, mode="foo")),
            _raised(lambda: F.interpolate(x[0, 0, 0], scale_factor=2)),
            _raised(lambda: F.interpolate(x[0], scale_factor=2, mode="bicubic")),
            F.interpolate(x, size=3),
            F.interpolate(x, size=(np.int64(3), 5), mode="bilinear"),
        ]

    _same(program)


# ---------------------------------------------------------------------------------------------- patches
def test_patch_extraction_and_overlap_add_with_unfold_fold() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        img = L.arange(2 * 3 * 6 * 7, dtype=L.float32).reshape(2, 3, 6, 7).div(50).requires_grad_()
        patches = F.unfold(img, kernel_size=3, padding=1)  # (N, C*9, L)
        counts = F.fold(F.unfold(L.ones_like(img), 3, padding=1), (6, 7), 3, padding=1)
        rebuilt = F.fold(patches * 2, output_size=(6, 7), kernel_size=3, padding=1) / counts
        strided = F.unfold(img, kernel_size=(2, 3), stride=2, dilation=(1, 2))
        (rebuilt.pow(2).sum() + strided.sum()).backward()
        cols = L.ones(2, 27, 42)
        return {
            "rebuilt": rebuilt,
            "strided": strided,
            "grad": img.grad,
            "unfold_errors": [
                _raised(lambda: F.unfold(img, kernel_size=8)),
                _raised(lambda: F.unfold(img, kernel_size=(3, 0))),
                _raised(lambda: F.unfold(img, kernel_size=3, stride=0, dilation=0)),
                _raised(lambda: F.unfold(img, kernel_size=3, padding=-1)),
                _raised(lambda: F.unfold(img, kernel_size=(3, 2, 1))),
                _raised(lambda: F.unfold(img[0, 0], 2)),
                _raised(lambda: F.unfold(img[:, :, None], 2)),
            ],
            "fold_errors": [
                _raised(lambda: F.fold(cols, (6, 7), 3)),
                _raised(lambda: F.fold(cols, (6, 7), 2)),
                _raised(lambda: F.fold(cols, (6, 7), 0)),
                _raised(lambda: F.fold(cols, (6, 7), 3, stride=0, dilation=0)),
                _raised(lambda: F.fold(cols, (6, 7), 3, padding=-1)),
                _raised(lambda: F.fold(cols, (6, 7), 3, padding=(1, 2, 3))),
                _raised(lambda: F.fold(L.ones(2, 27, 1), (1, 1), 3)),
                _raised(lambda: F.fold(cols[..., None], (6, 7), 3)),
            ],
        }

    _same(program)


def test_adaptive_pool_heads_and_output_size_checks() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn, F = L.nn, L.nn.functional
        head = mirror(
            L, nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d((2, None)), nn.Flatten(), nn.Linear(56, 5))
        )
        x = L.linspace(-1, 1, 2 * 3 * 7 * 9).reshape(2, 3, 7, 9)
        x4 = x[:, :, :4]
        return {
            "pooled": [
                F.adaptive_avg_pool2d(x, (3, 4)),
                F.adaptive_max_pool2d(x, (None, 2)),
                F.adaptive_avg_pool1d(x[0], (2,)),
            ],
            "errors": [
                _raised(lambda: F.adaptive_avg_pool2d(x, (1, 2, 3))),
                _raised(lambda: F.adaptive_avg_pool2d(x, (2,))),
                _raised(lambda: F.adaptive_max_pool2d(x, [2])),
                _raised(lambda: F.adaptive_avg_pool1d(x[0], (1, 2))),
                _raised(lambda: F.adaptive_max_pool1d(x[0], (1, 2))),
                _raised(lambda: F.adaptive_avg_pool3d(x4[:, None], (1, 2))),
                _raised(lambda: F.adaptive_max_pool3d(x4[:, None], (1, 2, 3, 4))),
            ],
            "head": head(x),
        }

    _same_model(program)


# ---------------------------------------------------------------------------------------------- channels_last
def test_channels_last_conversions_check_the_rank() -> None:
    """Converting a batch that is not 4-d (5-d for ``channels_last_3d``) is torch's RuntimeError (it was a silent
    no-op); asking ``is_contiguous`` about it is False (it raised)."""

    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn
        model = mirror(L, nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 4, 2)))
        model = model.to(memory_format=L.channels_last)  # (only its 4-d weights take the format)
        x = L.arange(2 * 3 * 5 * 6, dtype=L.float32).reshape(2, 3, 5, 6).to(memory_format=L.channels_last)
        seq = L.ones(2, 3, 4)
        return {
            "out": model(x),
            "asked": [
                seq.is_contiguous(memory_format=L.channels_last),
                x.is_contiguous(memory_format=L.channels_last_3d),
                x.to(L.float16, memory_format=L.channels_last).dtype == L.float16,
            ],
            "errors": [
                _raised(lambda: seq.to(memory_format=L.channels_last)),
                _raised(lambda: seq.contiguous(memory_format=L.channels_last)),
                _raised(lambda: seq.clone(memory_format=L.channels_last)),
                _raised(lambda: seq.float(memory_format=L.channels_last)),
                _raised(lambda: seq.to("cpu", L.float64, memory_format=L.channels_last)),
                _raised(lambda: x.to(memory_format=L.channels_last_3d)),
                _raised(lambda: L.empty(2, 3, memory_format=L.channels_last)),
                _raised(lambda: L.zeros_like(seq, memory_format=L.channels_last)),
                _raised(lambda: L.full_like(seq, 2.0, memory_format=L.channels_last)),
            ],
        }

    _same_model(program)


# ---------------------------------------------------------------------------------------------- summaries
def test_lazy_model_summary_before_and_after_the_first_batch() -> None:
    """Counting a lazy model's parameters before its first call raises torch's ValueError (it counted 0), the shape
    torch's RuntimeError; ``torch.nn.parameter`` has ``is_lazy`` and the uninitialised classes (summary tools'
    imports); after one batch the model is an ordinary one, trained by an optimizer built before it."""

    def program(L: Any) -> Any:
        nn = L.nn
        model = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
        params = list(model.parameters())
        before = {
            "repr": repr(model),
            "count": _raised(lambda: sum(p.numel() for p in model.parameters())),
            "nelement": _raised(lambda: params[0].nelement()),
            "dim": _raised(lambda: params[0].dim()),
            "shape": _raised(lambda: params[0].shape),
            "size": [p.size() for p in params],
            "lazy": [L.nn.parameter.is_lazy(p) for p in params],
            "types": [type(p).__name__ for p in params],
            "buffers": [isinstance(b, L.nn.parameter.UninitializedBuffer) for b in model.buffers()],
            "mixin": [isinstance(p, L.nn.parameter.UninitializedTensorMixin) for p in params],
            "param": isinstance(params[0], L.nn.parameter.UninitializedParameter),
        }
        opt = L.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = L.randn(2, 3, 5, 5)
        model(x).pow(2).sum().backward()
        opt.step()
        return {
            "before": before,
            "count": sum(p.numel() for p in model.parameters()),
            "shapes": [tuple(p.shape) for p in model.parameters()],
            "types": [type(p).__name__ for p in model.parameters()] + [type(m).__name__ for m in model],
            "lazy": [L.nn.parameter.is_lazy(p) for p in model.parameters()],
            "repr": repr(model),
            "out": model(x),
        }

    _same(program, rtol=1e-4)
