"""torch.ao.quantization.quantize & stubs: ``QuantStub``/``DeQuantStub``, ``prepare_qat`` and ``quantize_dynamic``."""

from __future__ import annotations

import copy
from typing import Any

from backprop import nn
from backprop._quantized import qint8
from backprop.ao.nn import qat
from backprop.ao.nn.quantized import dynamic as nnqd
from backprop.ao.quantization.qconfig import default_dynamic_qconfig
from backprop.tensor import Tensor

__all__ = [
    "DeQuantStub",
    "QuantStub",
    "QuantWrapper",
    "prepare_qat",
    "propagate_qconfig_",
    "quantize_dynamic",
]


class QuantStub(nn.Module):
    """Marks where float tensors become quantized: the identity until ``convert`` (QAT: fake-quantized
    by its ``activation_post_process``)."""

    def __init__(self, qconfig: Any = None) -> None:
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x: Tensor) -> Tensor:
        return x


class DeQuantStub(nn.Module):
    """Marks where quantized tensors become float again: the identity until ``convert``."""

    def __init__(self, qconfig: Any = None) -> None:
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x: Any) -> Any:
        return x


class QuantWrapper(nn.Module):
    """``QuantStub`` -> ``module`` -> ``DeQuantStub``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        qconfig = getattr(module, "qconfig", None)
        self.add_module("quant", QuantStub(qconfig))
        self.add_module("dequant", DeQuantStub(qconfig))
        self.add_module("module", module)
        self.train(module.training)

    def forward(self, X: Any) -> Any:  # noqa: N803 - torch's name
        return self.dequant(self.module(self.quant(X)))


def propagate_qconfig_(module: nn.Module, qconfig_dict: Any = None, prepare_custom_config_dict: Any = None) -> None:
    """Give every submodule its parent's ``qconfig`` (or the one ``qconfig_dict`` names for its type or name)."""

    def visit(m: nn.Module, inherited: Any, prefix: str) -> None:
        own = (qconfig_dict or {}).get(type(m), (qconfig_dict or {}).get(prefix, inherited))
        own = getattr(m, "qconfig", own) if "qconfig" in m.__dict__ else own
        m.qconfig = own
        for name, child in m.named_children():
            visit(child, own, f"{prefix}.{name}" if prefix else name)

    visit(module, (qconfig_dict or {}).get("", None), "")


def _swap(module: nn.Module, mapping: dict[type, Any]) -> None:
    """Replace each child whose type is a key of ``mapping`` (and has a qconfig) by ``mapping[type].from_float``."""
    for name, child in list(module.named_children()):
        cls = mapping.get(type(child))
        if cls is not None and getattr(child, "qconfig", None) is not None:
            setattr(module, name, cls.from_float(child))
        else:
            _swap(child, mapping)


def _observer_hook(module: nn.Module, inputs: Any, output: Any) -> Any:
    return module.activation_post_process(output)


def _add_observers(module: nn.Module) -> None:
    """An ``activation_post_process`` (the qconfig's activation factory) on every QuantStub and QAT module,
    run on its output by a forward hook, as torch's ``prepare``."""
    for child in module.children():
        if isinstance(child, (QuantStub, qat.Linear)) and getattr(child, "qconfig", None) is not None:
            child.activation_post_process = child.qconfig.activation()
            child.register_forward_hook(_observer_hook)
        else:
            _add_observers(child)


def prepare_qat(model: nn.Module, mapping: Any = None, inplace: bool = False) -> nn.Module:
    """Swap float modules for their QAT versions (``Linear`` -> ``ao.nn.qat.Linear``) and attach fake
    quantizers to the outputs, for a model in training mode with a ``qconfig``."""
    if not model.training:
        raise AssertionError("prepare_qat only works on models in training mode")
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    _swap(model, mapping or {nn.Linear: qat.Linear})
    _add_observers(model)
    return model


def quantize_dynamic(
    model: nn.Module, qconfig_spec: Any = None, dtype: Any = qint8, mapping: Any = None, inplace: bool = False
) -> nn.Module:
    """The model with its ``nn.Linear`` layers (those ``qconfig_spec`` names) replaced by dynamically
    quantized ones (int8 weights, activations quantized per call)."""
    if dtype is not qint8:
        raise NotImplementedError(f"quantize_dynamic: backprop supports dtype=bp.qint8 only, got {dtype}")
    spec = {nn.Linear} if qconfig_spec is None else qconfig_spec
    if isinstance(spec, dict):
        qconfig_dict = dict(spec)
    else:
        qconfig_dict = {k: default_dynamic_qconfig for k in spec}
    unsupported = [k for k in qconfig_dict if isinstance(k, type) and k is not nn.Linear]
    if unsupported:
        names = ", ".join(k.__name__ for k in unsupported)
        raise NotImplementedError(f"quantize_dynamic: backprop quantizes nn.Linear only; not {names}")
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model, qconfig_dict)
    _swap(model, mapping or {nn.Linear: nnqd.Linear})
    return model
