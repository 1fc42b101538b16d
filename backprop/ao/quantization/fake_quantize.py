"""torch.ao.quantization.fake_quantize: an observer and fake quantization in one module (for QAT)."""

from __future__ import annotations

from typing import Any

import numpy as np

import backprop as bp
from backprop._quantized import (
    _choose_qparams,
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
    per_channel_affine,
    per_channel_affine_float_qparams,
    per_channel_symmetric,
    per_tensor_symmetric,
    qint8,
)
from backprop.ao.quantization.observer import (
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    _with_args,
)
from backprop.nn import Module
from backprop.tensor import Tensor

__all__ = [
    "FakeQuantize",
    "FakeQuantizeBase",
    "FusedMovingAvgObsFakeQuantize",
    "default_fake_quant",
    "default_fused_act_fake_quant",
    "default_fused_per_channel_wt_fake_quant",
    "default_fused_wt_fake_quant",
    "default_per_channel_weight_fake_quant",
    "default_weight_fake_quant",
    "disable_fake_quant",
    "disable_observer",
    "enable_fake_quant",
    "enable_observer",
]


class FakeQuantizeBase(Module):
    """The switches of fake quantization: ``fake_quant_enabled`` and ``observer_enabled`` (uint8 buffers)."""

    with_args = classmethod(_with_args)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("fake_quant_enabled", bp.tensor([1], dtype=bp.uint8))
        self.register_buffer("observer_enabled", bp.tensor([1], dtype=bp.uint8))

    def enable_fake_quant(self, enabled: bool = True) -> None:
        self.fake_quant_enabled[0] = 1 if enabled else 0

    def disable_fake_quant(self) -> None:
        self.enable_fake_quant(False)

    def enable_observer(self, enabled: bool = True) -> None:
        self.observer_enabled[0] = 1 if enabled else 0

    def disable_observer(self) -> None:
        self.enable_observer(False)


class FakeQuantize(FakeQuantizeBase):
    """Observe the input (``activation_post_process``), then fake-quantize it with the observer's qparams:
    the forward values are on the quantization grid, the gradient is straight-through."""

    scale: Tensor
    zero_point: Tensor

    def __init__(
        self,
        observer: Any = MovingAverageMinMaxObserver,
        quant_min: int | None = None,
        quant_max: int | None = None,
        is_dynamic: bool = False,
        **observer_kwargs: Any,
    ) -> None:
        super().__init__()
        if quant_min is not None and quant_max is not None:
            if quant_min > quant_max:
                raise AssertionError("quant_min must be less than or equal to quant_max")
            observer_kwargs.update({"quant_min": quant_min, "quant_max": quant_max})
        observer_kwargs["is_dynamic"] = is_dynamic
        self.activation_post_process = observer(**observer_kwargs)
        self.quant_min = self.activation_post_process.quant_min
        self.quant_max = self.activation_post_process.quant_max
        self.is_dynamic = is_dynamic
        float_zp = self.activation_post_process.qscheme is per_channel_affine_float_qparams
        self.register_buffer("scale", bp.tensor([1.0]))
        self.register_buffer(
            "zero_point", bp.tensor([0.0] if float_zp else [0], dtype=bp.float32 if float_zp else bp.int32)
        )
        self.dtype = self.activation_post_process.dtype
        self.qscheme = self.activation_post_process.qscheme
        self.ch_axis = getattr(self.activation_post_process, "ch_axis", -1)
        self.is_per_channel = self.qscheme in (
            per_channel_affine,
            per_channel_symmetric,
            per_channel_affine_float_qparams,
        )
        self.is_symmetric_quant = self.qscheme in (per_tensor_symmetric, per_channel_symmetric)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        return self.activation_post_process.calculate_qparams()

    def _update_qparams(self, x: Tensor) -> None:
        self.activation_post_process(x.detach())
        scale, zp = self.calculate_qparams()
        self.scale = scale.to(bp.float32)
        self.zero_point = zp.to(self.zero_point.dtype)

    def forward(self, X: Tensor) -> Tensor:  # noqa: N803 - torch's name
        """Observe (when enabled) and fake-quantize (when enabled) ``X``."""
        if int(self.observer_enabled[0]) == 1:
            self._update_qparams(X)
        if int(self.fake_quant_enabled[0]) == 1:
            if self.is_per_channel:
                return fake_quantize_per_channel_affine(
                    X, self.scale, self.zero_point, self.ch_axis, self.quant_min, self.quant_max
                )
            return fake_quantize_per_tensor_affine(X, self.scale, self.zero_point, self.quant_min, self.quant_max)
        return X

    def extra_repr(self) -> str:
        return (
            f"fake_quant_enabled={_t(self.fake_quant_enabled)}, observer_enabled={_t(self.observer_enabled)}, "
            f"quant_min={self.quant_min}, quant_max={self.quant_max}, dtype={self.dtype}, qscheme={self.qscheme}, "
            f"ch_axis={self.ch_axis}, scale={_t(self.scale)}, zero_point={_t(self.zero_point)}"
        )


def _t(t: Tensor) -> str:
    """A buffer as torch prints it in a module's repr (``torch.`` before a dtype name)."""
    return repr(t).replace("dtype=", "dtype=torch.")


class FusedMovingAvgObsFakeQuantize(FakeQuantize):
    """torch's fused moving-average observer and fake quantization (the default QAT qconfig's): the moving
    min/max as ``MovingAverage*MinMaxObserver``, qparams from fbgemm's ChooseQuantizationParams (symmetric
    schemes keep zero at the middle), then fake quantization."""

    def __init__(
        self,
        observer: Any = MovingAverageMinMaxObserver,
        quant_min: int = 0,
        quant_max: int = 255,
        **observer_kwargs: Any,
    ) -> None:
        super().__init__(observer, quant_min, quant_max, **observer_kwargs)
        self.register_buffer("fake_quant_enabled", bp.tensor([1]))
        self.register_buffer("observer_enabled", bp.tensor([1]))
        self.is_symmetric_quant = self.qscheme in (per_tensor_symmetric, per_channel_symmetric)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        return self.activation_post_process.calculate_qparams()

    def _update_qparams(self, x: Tensor) -> None:
        obs = self.activation_post_process
        obs(x.detach())
        lo, hi = np.atleast_1d(obs.min_val.numpy()), np.atleast_1d(obs.max_val.numpy())
        pairs = [
            _choose_qparams(float(a), float(b), self.quant_min, self.quant_max, self.is_symmetric_quant)
            for a, b in zip(lo, hi)
        ]
        self.scale = bp.tensor(np.array([p[0] for p in pairs], dtype=np.float32))
        self.zero_point = bp.tensor(np.array([p[1] for p in pairs], dtype=np.int32))

    def extra_repr(self) -> str:
        return (
            f"fake_quant_enabled={_t(self.fake_quant_enabled)}, observer_enabled={_t(self.observer_enabled)}, "
            f"scale={_t(self.scale)}, zero_point={_t(self.zero_point)}, dtype={self.dtype}, "
            f"quant_min={self.activation_post_process.quant_min}, quant_max={self.activation_post_process.quant_max}, "
            f"qscheme={self.qscheme}, reduce_range={self.activation_post_process.reduce_range}"
        )


default_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, reduce_range=True
)
default_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_tensor_symmetric, reduce_range=False,
)  # fmt: skip
default_per_channel_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_channel_symmetric, reduce_range=False, ch_axis=0,
)  # fmt: skip
default_fused_act_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, reduce_range=True
)
default_fused_wt_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8, qscheme=per_tensor_symmetric
)
default_fused_per_channel_wt_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_channel_symmetric,
)  # fmt: skip


def _apply_to(mod: Module, name: str) -> None:
    if isinstance(mod, FakeQuantizeBase):
        getattr(mod, name)()


def disable_fake_quant(mod: Module) -> None:
    """``model.apply(disable_fake_quant)``: turn fake quantization off in every FakeQuantize."""
    _apply_to(mod, "disable_fake_quant")


def enable_fake_quant(mod: Module) -> None:
    """``model.apply(enable_fake_quant)``."""
    _apply_to(mod, "enable_fake_quant")


def disable_observer(mod: Module) -> None:
    """``model.apply(disable_observer)``: freeze the qparams."""
    _apply_to(mod, "disable_observer")


def enable_observer(mod: Module) -> None:
    """``model.apply(enable_observer)``."""
    _apply_to(mod, "enable_observer")
