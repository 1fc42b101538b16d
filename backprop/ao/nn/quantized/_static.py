"""Static quantized modules (torch's ``nn.quantized.Linear``/``Conv2d``/``ReLU6``, ``FloatFunctional``/
``QFunctional``): quint8 activations with fixed output scale and zero point, qint8 weights, fbgemm's kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

import backprop as bp
from backprop import _quantized as Q
from backprop._quantized import QTensor, qint8, quint8
from backprop.ao.nn.quantized.dynamic import _PackedParams
from backprop.nn import Identity, Module
from backprop.tensor import Tensor

__all__ = ["Conv2d", "FloatFunctional", "Linear", "QFunctional", "ReLU6"]


def _quantize_weight(w: Tensor, observer: Any) -> QTensor:
    """The weight quantized with its observer's qparams (per tensor, or per channel along ``ch_axis``)."""
    s, z = observer.calculate_qparams()
    if observer.qscheme in (Q.per_tensor_affine, Q.per_tensor_symmetric):
        return bp.quantize_per_tensor(w.detach().float(), float(s.reshape(-1)[0]), int(z.reshape(-1)[0]), qint8)
    return bp.quantize_per_channel(w.detach().float(), s.double(), z.long(), observer.ch_axis, observer.dtype)


def _observed(mod: Any, fused: type | None) -> tuple[Any, Any, Any]:
    """(float module, its weight observer (run on the weight), its output observer) of an observed module."""
    if not hasattr(mod, "qconfig") or mod.qconfig is None:
        raise AssertionError("Input float module must have qconfig defined")
    act = mod.activation_post_process
    if hasattr(mod, "bn") and hasattr(mod, "weight_fake_quant"):  # (QAT ConvBn2d: the BatchNorm folded first)
        from backprop.nn.utils.fusion import fuse_conv_bn_weights

        bn = mod.bn
        mod.weight, mod.bias = fuse_conv_bn_weights(
            mod.weight, mod.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
        )
    if fused is not None and isinstance(mod, fused):
        mod = mod[0]  # type: ignore[index]
    wpp = getattr(mod, "weight_fake_quant", None) or mod.qconfig.weight()
    wpp(mod.weight)
    return mod, wpp, act


class Linear(Module):
    """A quantized Linear (torch's ``QuantizedLinear``): quint8 input and output, qint8 weight, float bias."""

    _version = 3
    _relu = False

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype: Any = qint8) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        w = bp.quantize_per_tensor(bp.zeros(out_features, in_features), 1.0, 0, qint8)
        self._packed_params = _PackedParams(w, bp.zeros(out_features) if bias_ else None)
        self.scale, self.zero_point = 1.0, 0

    def _get_name(self) -> str:
        return "QuantizedLinear"

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale}, "
            f"zero_point={self.zero_point}, qscheme={self.weight().qscheme()}"
        )

    def __repr__(self) -> str:
        return f"{self._get_name()}({self.extra_repr()})"

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "scale"] = bp.tensor(self.scale)
        destination[prefix + "zero_point"] = bp.tensor(self.zero_point)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        self.scale = float(state_dict.pop(prefix + "scale", bp.tensor(self.scale)))
        self.zero_point = int(state_dict.pop(prefix + "zero_point", bp.tensor(self.zero_point)))

    def weight(self) -> QTensor:
        """The quantized weight."""
        w = self._packed_params._packed_params[0]
        assert isinstance(w, QTensor)
        return w

    def bias(self) -> Tensor | None:
        """The float bias."""
        return self._packed_params._packed_params[1]

    def set_weight_bias(self, w: QTensor, b: Tensor | None) -> None:
        self._packed_params._packed_params = (w, b)

    def forward(self, x: QTensor) -> QTensor:
        """torch's ``quantized::linear`` (``linear_relu`` when fused) at this module's output scale and zero point."""
        b = self.bias()
        bias = None if b is None else b.detach().numpy()
        return Q.qlinear(x, self.weight(), bias, self.scale, self.zero_point, self._relu)

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Linear:
        """The quantized copy of an observed float (or QAT, or fused ``LinearReLU``) Linear."""
        from backprop.ao.nn.intrinsic import LinearReLU

        lin, wpp, act = _observed(mod, LinearReLU)
        s, z = act.calculate_qparams()
        q = cls(lin.in_features, lin.out_features, lin.bias is not None)
        q.set_weight_bias(_quantize_weight(lin.weight, wpp), None if lin.bias is None else lin.bias.detach().clone())
        q.scale, q.zero_point = float(s.reshape(-1)[0]), int(z.reshape(-1)[0])
        return q


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _Leaf(Module):
    def __repr__(self) -> str:
        return f"{self._get_name()}({self.extra_repr()})"


class Conv2d(_Leaf):
    """A quantized Conv2d (torch's ``QuantizedConv2d``): quint8 input and output, qint8 weight, float bias;
    state_dict keys ``weight``, ``bias``, ``scale``, ``zero_point`` as torch's."""

    _relu = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if padding_mode != "zeros" or isinstance(padding, str):
            raise NotImplementedError("backprop's quantized Conv2d supports numeric padding with padding_mode='zeros'")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation, self.output_padding = _pair(padding), _pair(dilation), (0, 0)
        self.transposed, self.padding_mode = False, padding_mode
        w = bp.quantize_per_tensor(bp.zeros(out_channels, in_channels // groups, *self.kernel_size), 1.0, 0, qint8)
        self._w, self._b = w, (bp.zeros(out_channels) if bias else None)
        self.scale, self.zero_point = 1.0, 0

    def _get_name(self) -> str:
        return "QuantizedConvReLU2d" if self._relu else "QuantizedConv2d"

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"scale={self.scale}, zero_point={self.zero_point}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._b is None:
            s += ", bias=False"
        return s

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "weight"] = self._w
        destination[prefix + "bias"] = self._b
        destination[prefix + "scale"] = bp.tensor(self.scale)
        destination[prefix + "zero_point"] = bp.tensor(self.zero_point)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        self._w = state_dict.pop(prefix + "weight", self._w)
        self._b = state_dict.pop(prefix + "bias", self._b)
        self.scale = float(state_dict.pop(prefix + "scale", bp.tensor(self.scale)))
        self.zero_point = int(state_dict.pop(prefix + "zero_point", bp.tensor(self.zero_point)))

    def weight(self) -> QTensor:
        """The quantized weight."""
        return self._w

    def bias(self) -> Tensor | None:
        """The float bias."""
        return self._b

    def set_weight_bias(self, w: QTensor, b: Tensor | None) -> None:
        self._w, self._b = w, b

    def forward(self, x: QTensor) -> QTensor:
        """torch's ``quantized::conv2d`` (``conv2d_relu`` when fused) at this module's output scale and zero point."""
        bias = None if self._b is None else self._b.detach().numpy()
        return Q.qconv2d(
            x, self._w, bias, self.stride, self.padding, self.dilation, self.groups, self.scale, self.zero_point,
            self._relu,
        )  # fmt: skip

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Conv2d:
        """The quantized copy of an observed float (or fused ``ConvReLU2d``) Conv2d."""
        from backprop.ao.nn.intrinsic import ConvReLU2d

        conv, wpp, act = _observed(mod, ConvReLU2d)
        s, z = act.calculate_qparams()
        q = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
            conv.groups, conv.bias is not None, conv.padding_mode,
        )  # fmt: skip
        q.set_weight_bias(_quantize_weight(conv.weight, wpp), None if conv.bias is None else conv.bias.detach().clone())
        q.scale, q.zero_point = float(s.reshape(-1)[0]), int(z.reshape(-1)[0])
        return q


class ReLU6(_Leaf):
    """Quantized ReLU6: the integers clamped to [zero_point, zero_point + rint(6 / scale)] (same quantization)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def _get_name(self) -> str:
        return "QuantizedReLU6"

    def forward(self, x: QTensor) -> QTensor:
        top = Q._quantize_array(np.array([6.0], np.float32), x._scale, x._zp, x._qdtype)[0]
        return x._like(np.clip(x._int, np.asarray(x._zp).astype(x._int.dtype), top))

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> ReLU6:
        return cls(mod.inplace)


class FloatFunctional(Module):
    """Float ``add``/``mul``/``cat``/``add_relu``/``add_scalar``/``mul_scalar`` whose results an observer sees
    (``convert`` swaps it for ``QFunctional``)."""

    def __init__(self) -> None:
        super().__init__()
        self.activation_post_process = Identity()

    def forward(self, x: Any) -> Any:
        raise RuntimeError("FloatFunctional is not intended to use the 'forward'. Please use the underlying operation")

    def add(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(bp.add(x, y))

    def add_scalar(self, x: Tensor, y: float) -> Tensor:
        return bp.add(x, y)

    def mul(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(bp.mul(x, y))

    def mul_scalar(self, x: Tensor, y: float) -> Tensor:
        return bp.mul(x, y)

    def cat(self, x: list[Tensor], dim: int = 0) -> Tensor:
        return self.activation_post_process(bp.cat(x, dim=dim))

    def add_relu(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(bp.relu(bp.add(x, y)))


def _q_out(values: np.ndarray, scale: float, zero_point: int) -> QTensor:
    return QTensor._make(
        Q._quantize_array(values, scale, zero_point, quint8), quint8, Q.per_tensor_affine, float(scale), zero_point
    )


class QFunctional(Module):
    """Quantized ``add``/``mul``/``cat``/``add_relu`` at a fixed output scale and zero point (torch's kernels)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale, self.zero_point = 1.0, 0
        self.activation_post_process = Identity()

    def _get_name(self) -> str:
        return "QFunctional"

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}"

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "scale"] = bp.tensor(self.scale)
        destination[prefix + "zero_point"] = bp.tensor(self.zero_point)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        self.scale = float(state_dict.pop(prefix + "scale", bp.tensor(self.scale)))
        self.zero_point = int(state_dict.pop(prefix + "zero_point", bp.tensor(self.zero_point)))

    def forward(self, x: Any) -> Any:
        raise RuntimeError("Functional is not intended to use the 'forward'. Please use the underlying operation")

    def add(self, x: QTensor, y: QTensor) -> QTensor:
        return self.activation_post_process(Q.qadd(x, y, self.scale, self.zero_point))

    def add_relu(self, x: QTensor, y: QTensor) -> QTensor:
        return self.activation_post_process(Q.qadd(x, y, self.scale, self.zero_point, relu=True))

    def mul(self, x: QTensor, y: QTensor) -> QTensor:
        return self.activation_post_process(Q.qmul(x, y, self.scale, self.zero_point))

    def cat(self, x: list[QTensor], dim: int = 0) -> QTensor:
        vals = np.concatenate([np.asarray(t.dequantize().numpy()) for t in x], axis=dim)
        return self.activation_post_process(_q_out(vals, self.scale, self.zero_point))

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> QFunctional:
        """The quantized copy of an observed ``FloatFunctional`` (its observer's scale and zero point)."""
        s, z = mod.activation_post_process.calculate_qparams()
        q = cls()
        q.scale, q.zero_point = float(s.reshape(-1)[0]), int(z.reshape(-1)[0])
        return q
