"""torch.ao.quantization.quantize & stubs: ``QuantStub``/``DeQuantStub``, ``prepare_qat`` and ``quantize_dynamic``."""

from __future__ import annotations

import copy
import warnings
from typing import Any

from backprop import dtypes, nn
from backprop._quantized import qint8
from backprop.ao.nn import intrinsic as nni
from backprop.ao.nn import qat
from backprop.ao.nn import quantized as nnq
from backprop.ao.nn.intrinsic import qat as nniqat
from backprop.ao.nn.intrinsic import quantized as nniq
from backprop.ao.nn.quantized import dynamic as nnqd
from backprop.ao.quantization.qconfig import default_dynamic_qconfig, float16_dynamic_qconfig
from backprop.tensor import Tensor

__all__ = [
    "DeQuantStub",
    "QuantStub",
    "QuantWrapper",
    "convert",
    "fuse_modules",
    "fuse_modules_qat",
    "get_default_qat_module_mappings",
    "get_default_dynamic_quant_module_mappings",
    "get_default_static_quant_module_mappings",
    "prepare",
    "prepare_qat",
    "propagate_qconfig_",
    "quantize",
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


def get_default_static_quant_module_mappings() -> dict[type, type]:
    """Float (observed) module type -> its quantized module, as torch's eager-mode defaults (those backprop has)."""
    return {
        QuantStub: nnq.Quantize,
        DeQuantStub: nnq.DeQuantize,
        nn.Linear: nnq.Linear,
        nn.Conv2d: nnq.Conv2d,
        nn.ReLU6: nnq.ReLU6,
        nn.BatchNorm2d: nnq.BatchNorm2d,
        nn.LayerNorm: nnq.LayerNorm,
        nn.Hardswish: nnq.Hardswish,
        nn.ELU: nnq.ELU,
        nn.LeakyReLU: nnq.LeakyReLU,
        qat.Linear: nnq.Linear,
        qat.Conv2d: nnq.Conv2d,
        nniqat.ConvBn2d: nnq.Conv2d,
        nniqat.ConvBnReLU2d: nniq.ConvReLU2d,
        nniqat.ConvReLU2d: nniq.ConvReLU2d,
        nniqat.LinearReLU: nniq.LinearReLU,
        nni.LinearReLU: nniq.LinearReLU,
        nni.ConvReLU2d: nniq.ConvReLU2d,
        nnq.FloatFunctional: nnq.QFunctional,
    }


def get_default_qat_module_mappings() -> dict[type, type]:
    """Float (or fused) module type -> its QAT module, as torch's eager-mode defaults (those backprop has)."""
    return {
        nn.Linear: qat.Linear,
        nn.Conv2d: qat.Conv2d,
        nni.ConvBn2d: nniqat.ConvBn2d,
        nni.ConvBnReLU2d: nniqat.ConvBnReLU2d,
        nni.ConvReLU2d: nniqat.ConvReLU2d,
        nni.LinearReLU: nniqat.LinearReLU,
    }


def _is_fused(m: nn.Module) -> bool:
    """A fused module (float ``nni`` or QAT ``nniqat``): observed and converted as one unit (torch's _FusedModule)."""
    return isinstance(m, nni._FusedModule) or getattr(type(m), "_fused", False)


def _observe(m: nn.Module) -> None:
    """Attach the qconfig's activation observer and the forward hook that runs it on the output (first)."""
    if getattr(m, "qconfig", None) is not None and not isinstance(m, DeQuantStub):
        m.activation_post_process = m.qconfig.activation()
        m.register_forward_hook(_observer_hook, prepend=True)


def _add_observers(module: nn.Module, observed: tuple[type, ...] | None = None) -> None:
    """torch's ``_add_observer_``: an ``activation_post_process`` on every leaf module of an observed type and
    every fused module with a qconfig, run on its output by a forward hook; ``FloatFunctional`` gets its
    observer without a hook (its ops call it)."""
    kinds = tuple(get_default_static_quant_module_mappings()) if observed is None else observed
    for child in module.children():
        if type(child) is nn.Dropout:
            continue
        if isinstance(child, (nnq.FloatFunctional, nnq.QFunctional)):
            if getattr(child, "qconfig", None) is not None:
                child.activation_post_process = child.qconfig.activation()
        elif _is_fused(child):
            _observe(child)
        else:
            _add_observers(child, kinds)
    leaf = not list(module.children()) or hasattr(module, "weight_fake_quant")  # (QAT modules: their fake quant)
    if leaf and not isinstance(module, nn.Sequential) and type(module) in kinds:
        _observe(module)


def prepare_qat(model: nn.Module, mapping: Any = None, inplace: bool = False) -> nn.Module:
    """Swap float modules for their QAT versions (``Linear`` -> ``ao.nn.qat.Linear``) and attach fake
    quantizers to the outputs, for a model in training mode with a ``qconfig``."""
    if not model.training:
        raise AssertionError("prepare_qat only works on models in training mode")
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    _swap(model, mapping or get_default_qat_module_mappings())
    _add_observers(model)
    return model


def prepare(
    model: nn.Module,
    inplace: bool = False,
    allow_list: Any = None,
    observer_non_leaf_module_list: Any = None,
    prepare_custom_config_dict: Any = None,
) -> nn.Module:
    """Attach observers (each module's ``qconfig.activation()``) to the outputs of the quantizable modules
    (QuantStub, Linear, Conv2d, ReLU6, fused modules, FloatFunctional) for calibration before ``convert``."""
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    if not any(getattr(m, "qconfig", None) for m in model.modules()):
        warnings.warn(
            "None of the submodule got qconfig applied. Make sure you passed correct configuration through "
            "`qconfig_dict` or by assigning the `.qconfig` attribute directly on submodules",
            stacklevel=2,
        )
    _add_observers(model, None if allow_list is None else tuple(allow_list))
    return model


def _swap_module(mod: nn.Module, mapping: dict[type, Any]) -> nn.Module:
    """``mapping[type(mod)].from_float(mod)`` for an observed module of a mapped type (its other hooks kept)."""
    cls = mapping.get(type(mod))
    if cls is None or getattr(mod, "qconfig", None) is None:
        return mod
    new = cls.from_float(mod)
    for hook in mod._forward_pre_hooks.values():
        new.register_forward_pre_hook(hook)
    for hook in mod._forward_hooks.values():
        if hook is not _observer_hook:
            new.register_forward_hook(hook)
    return new


def _convert(module: nn.Module, mapping: dict[type, Any]) -> None:
    for name, child in list(module.named_children()):
        if not _is_fused(child):
            _convert(child, mapping)
        module._modules[name] = _swap_module(child, mapping)


def _remove_qconfig(module: nn.Module) -> None:
    """Drop the qconfigs, observers and observer hooks left after ``convert``."""
    for child in module.children():
        _remove_qconfig(child)
    if "qconfig" in module.__dict__:
        del module.qconfig
    app = module._modules.get("activation_post_process")
    if app is not None and not isinstance(app, nn.Identity):
        del module._modules["activation_post_process"]
    for key in [k for k, h in module._forward_hooks.items() if h is _observer_hook]:
        del module._forward_hooks[key]


def convert(
    module: nn.Module,
    mapping: Any = None,
    inplace: bool = False,
    remove_qconfig: bool = True,
    is_reference: bool = False,
    convert_custom_config_dict: Any = None,
    use_precomputed_fake_quant: bool = False,
) -> nn.Module:
    """Swap each observed (or QAT) module for its quantized version (``mapping``: torch's static defaults),
    the stubs for ``Quantize``/``DeQuantize``, then drop qconfigs and observers."""
    if is_reference:
        raise NotImplementedError("convert(is_reference=True): backprop has no reference quantized modules")
    if not inplace:
        module = copy.deepcopy(module)
    _convert(module, mapping or get_default_static_quant_module_mappings())
    if remove_qconfig:
        _remove_qconfig(module)
    return module


def quantize(model: nn.Module, run_fn: Any, run_args: Any, mapping: Any = None, inplace: bool = False) -> nn.Module:
    """Post-training static quantization in one call: ``prepare``, ``run_fn(model, *run_args)``, ``convert``."""
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args) if isinstance(run_args, (list, tuple)) else run_fn(model, run_args)
    convert(model, mapping, inplace=True)
    return model


def _get(model: nn.Module, name: str) -> nn.Module:
    for part in name.split("."):
        model = getattr(model, part)
    return model


def _set(model: nn.Module, name: str, value: nn.Module) -> None:
    *path, last = name.split(".")
    for part in path:
        model = getattr(model, part)
    setattr(model, last, value)


def _fuse(mods: list[nn.Module], is_qat: bool) -> nn.Module:
    """torch's default fuser methods: conv+bn(+relu) folded (eval), conv+relu, linear+relu, linear+bn (eval)."""
    from backprop.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    types = tuple(type(m) for m in mods)
    if any(m.training != mods[0].training for m in mods[:2]) and len(mods) > 1 and types[1] is nn.BatchNorm2d:
        raise AssertionError("Conv and BN both must be in the same mode (train or eval).")
    if is_qat and len(mods) > 1 and types[1] is nn.BatchNorm2d:
        bn = mods[1]
        if bn.num_features != mods[0].out_channels:
            raise AssertionError("Output channel of Conv2d must match num_features of BatchNorm2d")
        if not bn.affine:
            raise AssertionError("Only support fusing BatchNorm2d with affine set to True")
        if not bn.track_running_stats:
            raise AssertionError("Only support fusing BatchNorm2d with tracking_running_stats set to True")
    if types == (nn.Conv2d, nn.BatchNorm2d):
        if is_qat:
            return nni.ConvBn2d(*mods)
        return fuse_conv_bn_eval(mods[0], mods[1])
    if types == (nn.Conv2d, nn.BatchNorm2d, nn.ReLU):
        if is_qat:
            return nni.ConvBnReLU2d(*mods)
        return nni.ConvReLU2d(fuse_conv_bn_eval(mods[0], mods[1]), mods[2])
    if types == (nn.Conv2d, nn.ReLU):
        return nni.ConvReLU2d(*mods)
    if types == (nn.Linear, nn.ReLU):
        return nni.LinearReLU(*mods)
    if types == (nn.Linear, nn.BatchNorm1d) and not is_qat:
        return fuse_linear_bn_eval(*mods)
    raise NotImplementedError(f"Cannot fuse modules: {types}")


def _fuse_modules(model: nn.Module, modules_to_fuse: Any, is_qat: bool, inplace: bool, fuser_func: Any) -> nn.Module:
    if not inplace:
        model = copy.deepcopy(model)
    groups = modules_to_fuse if modules_to_fuse and isinstance(modules_to_fuse[0], (list, tuple)) else [modules_to_fuse]
    fuser = fuser_func or _fuse
    for names in groups:
        mods = [_get(model, n) for n in names]
        fused = fuser(mods, is_qat)
        _set(model, names[0], fused)
        for n in names[1:]:
            identity = nn.Identity()
            identity.training = mods[0].training
            _set(model, n, identity)
    return model


def fuse_modules(
    model: nn.Module,
    modules_to_fuse: Any,
    inplace: bool = False,
    fuser_func: Any = None,
    fuse_custom_config_dict: Any = None,
) -> nn.Module:
    """Fuse each list of named modules (``[["conv", "bn", "relu"], ["fc", "relu"]]``) into the first one's place
    (BatchNorm folded into the conv's weight and bias as torch's ``fuse_conv_bn_eval``); the others become
    ``nn.Identity``."""
    return _fuse_modules(model, modules_to_fuse, False, inplace, fuser_func)


def fuse_modules_qat(
    model: nn.Module,
    modules_to_fuse: Any,
    inplace: bool = False,
    fuser_func: Any = None,
    fuse_custom_config_dict: Any = None,
) -> nn.Module:
    """``fuse_modules`` for quantization-aware training: conv+bn(+relu) become ``nni.ConvBn2d``/``ConvBnReLU2d``
    (the BatchNorm kept, folded during training by ``prepare_qat``'s QAT modules)."""
    return _fuse_modules(model, modules_to_fuse, True, inplace, fuser_func)


def get_default_dynamic_quant_module_mappings() -> dict[type, type]:
    """Float module type -> its dynamically quantized module (torch's defaults that backprop has)."""
    return {
        nn.Linear: nnqd.Linear,
        nn.LSTM: nnqd.LSTM,
        nn.GRU: nnqd.GRU,
        nn.LSTMCell: nnqd.LSTMCell,
        nn.RNNCell: nnqd.RNNCell,
        nn.GRUCell: nnqd.GRUCell,
    }


def quantize_dynamic(
    model: nn.Module, qconfig_spec: Any = None, dtype: Any = qint8, mapping: Any = None, inplace: bool = False
) -> nn.Module:
    """The model (in eval mode) with its ``nn.Linear``/``LSTM``/``GRU``/cells (those ``qconfig_spec`` names) replaced
    by dynamically quantized ones: int8 weights and activations quantized per call (``dtype=bp.qint8``), or
    float16 weights (``dtype=bp.float16``)."""
    if dtype is qint8:
        default = default_dynamic_qconfig
    elif dtype == dtypes.float16:
        default = float16_dynamic_qconfig
    elif qconfig_spec is None:
        raise ValueError(f"Don't know how to quantize with default settings for {dtype}. Provide full qconfig please")
    else:
        raise NotImplementedError(f"quantize_dynamic: backprop supports dtype=bp.qint8 and bp.float16, got {dtype}")
    if qconfig_spec is None:
        qconfig_dict: dict[Any, Any] = {k: default for k in get_default_dynamic_quant_module_mappings()}
    elif isinstance(qconfig_spec, dict):
        qconfig_dict = dict(qconfig_spec)
    else:
        qconfig_dict = {k: default for k in qconfig_spec}
    mapping = mapping or get_default_dynamic_quant_module_mappings()
    unsupported = [k for k in qconfig_dict if isinstance(k, type) and k not in mapping]
    if unsupported:
        names = ", ".join(k.__name__ for k in unsupported)
        raise NotImplementedError(f"quantize_dynamic: backprop has no dynamic quantized module for {names}")
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    propagate_qconfig_(model, qconfig_dict)
    _swap(model, mapping)
    return model
