"""torch.ao.quantization.qconfig: which observers (or fake quantizers) a module's activations and weights get."""

from __future__ import annotations

from typing import Any, NamedTuple

import backprop as bp
from backprop.ao.quantization.fake_quantize import (
    FakeQuantize,
    default_fake_quant,
    default_fused_act_fake_quant,
    default_fused_per_channel_wt_fake_quant,
    default_per_channel_weight_fake_quant,
    default_weight_fake_quant,
)
from backprop.ao.quantization.observer import (
    HistogramObserver,
    MovingAverageMinMaxObserver,
    NoopObserver,
    PlaceholderObserver,
    default_dynamic_quant_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)

__all__ = [
    "QConfig",
    "QConfigDynamic",
    "default_dynamic_qconfig",
    "default_qat_qconfig",
    "default_qconfig",
    "float16_dynamic_qconfig",
    "get_default_qat_qconfig",
    "get_default_qconfig",
    "per_channel_dynamic_qconfig",
]


class QConfig(NamedTuple):
    """The observer factories for a module's output activation and its weight."""

    activation: Any
    weight: Any


QConfigDynamic = QConfig

default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer, weight=default_weight_observer)
float16_dynamic_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype=bp.float16, is_dynamic=True),
    weight=NoopObserver.with_args(dtype=bp.float16),
)
per_channel_dynamic_qconfig = QConfig(
    activation=default_dynamic_quant_observer, weight=default_per_channel_weight_observer
)
default_qat_qconfig = QConfig(activation=default_fake_quant, weight=default_weight_fake_quant)

_BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")


def _check_backend(backend: str) -> None:
    if backend not in _BACKENDS:
        raise AssertionError(f"backend: {backend} not supported. backend must be one of {list(_BACKENDS)}")


def get_default_qconfig(backend: str = "x86", version: int = 0) -> QConfig:
    """The post-training static qconfig for ``backend`` (x86/fbgemm: reduced-range activations, per-channel weights)."""
    _check_backend(backend)
    if backend in ("x86", "fbgemm"):
        return QConfig(
            activation=HistogramObserver.with_args(reduce_range=True), weight=default_per_channel_weight_observer
        )
    if backend == "qnnpack":
        return QConfig(activation=HistogramObserver.with_args(reduce_range=False), weight=default_weight_observer)
    return QConfig(
        activation=HistogramObserver.with_args(reduce_range=False), weight=default_per_channel_weight_observer
    )


def get_default_qat_qconfig(backend: str = "x86", version: int = 1) -> QConfig:
    """The QAT qconfig for ``backend``: version 1 (the default) uses the fused moving-average fake quantizers."""
    _check_backend(backend)
    reduce = backend in ("x86", "fbgemm")
    if version == 0:
        act = FakeQuantize.with_args(
            observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, reduce_range=reduce
        )
        weight = default_per_channel_weight_fake_quant if backend != "qnnpack" else default_weight_fake_quant
        return QConfig(activation=act, weight=weight)
    if reduce:
        return QConfig(activation=default_fused_act_fake_quant, weight=default_fused_per_channel_wt_fake_quant)
    from backprop.ao.quantization.fake_quantize import FusedMovingAvgObsFakeQuantize, default_fused_wt_fake_quant

    act = FusedMovingAvgObsFakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, reduce_range=False
    )
    return QConfig(
        activation=act,
        weight=default_fused_wt_fake_quant if backend == "qnnpack" else default_fused_per_channel_wt_fake_quant,
    )
