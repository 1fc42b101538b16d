"""torch.ao.nn.quantized.dynamic: modules with int8 weights whose activations are quantized on the fly."""

from __future__ import annotations

from typing import Any

import numpy as np

import backprop as bp
from backprop._quantized import QTensor, _choose_qparams, _quantize_array, per_tensor_affine, qint8, quint8
from backprop.nn import Module
from backprop.tensor import Tensor

__all__ = ["Linear"]


class _PackedParams(Module):
    """torch's ``LinearPackedParams``: the quantized weight and the float bias (state_dict keys as torch's)."""

    def __init__(self, weight: QTensor, bias: Tensor | None) -> None:
        super().__init__()
        self.dtype = qint8
        self._packed_params = (weight, bias)

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "dtype"] = self.dtype
        destination[prefix + "_packed_params"] = self._packed_params

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        if prefix + "_packed_params" in state_dict:
            self._packed_params = tuple(state_dict.pop(prefix + "_packed_params"))
        state_dict.pop(prefix + "dtype", None)

    def __repr__(self) -> str:
        return repr(self._packed_params)


class Linear(Module):
    """A dynamically quantized Linear (torch's ``DynamicQuantizedLinear``): the weight per-tensor qint8, the
    input quantized per call to uint8 over its range (reduce_range: [0, 127], as fbgemm on x86), int32
    products, then ``acc * x_scale * w_scale + bias`` in float32, as fbgemm's ReQuantizeForFloat."""

    _version = 4

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype: Any = qint8) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        w = bp.quantize_per_tensor(bp.zeros(out_features, in_features), 1.0, 0, qint8)
        self._packed_params = _PackedParams(w, bp.zeros(out_features) if bias_ else None)
        self.scale, self.zero_point = 1.0, 0
        self.version = 4

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "scale"] = bp.tensor(self.scale)
        destination[prefix + "zero_point"] = bp.tensor(self.zero_point)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        self.scale = float(state_dict.pop(prefix + "scale", bp.tensor(self.scale)))
        self.zero_point = int(state_dict.pop(prefix + "zero_point", bp.tensor(self.zero_point)))

    def _get_name(self) -> str:
        return "DynamicQuantizedLinear"

    def __repr__(self) -> str:
        return f"DynamicQuantizedLinear({self.extra_repr()})"

    def extra_repr(self) -> str:
        w = self.weight()
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, dtype={self._packed_params.dtype}, "
            f"qscheme={w.qscheme()}"
        )

    def weight(self) -> QTensor:
        """The quantized weight."""
        return self._packed_params._packed_params[0]

    def bias(self) -> Tensor | None:
        """The float bias."""
        return self._packed_params._packed_params[1]

    def set_weight_bias(self, w: QTensor, b: Tensor | None) -> None:
        self._packed_params._packed_params = (w, b)

    def forward(self, x: Tensor) -> Tensor:
        """y = dequantized int8 product of the quantized input and weight, plus the float bias."""
        a = np.asarray(x.detach().numpy(), dtype=np.float32)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        scale, zp = _choose_qparams(lo, hi, 0, 127)
        xq = _quantize_array(a, scale, zp, quint8).astype(np.int64) - zp
        w = self.weight()
        wq = w._int.astype(np.int64) - int(w._zp)
        acc = (xq.reshape(-1, a.shape[-1]) @ wq.T).astype(np.int32)
        m = np.float64(np.float32(scale) * np.float32(w._scale))
        b = self.bias()
        bias = 0.0 if b is None else b.detach().numpy().astype(np.float64)
        y = (acc.astype(np.float64) * m + bias).astype(np.float32)  # (fbgemm's fused multiply-add: one rounding)
        return bp.tensor(y.reshape(*a.shape[:-1], self.out_features))

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Linear:
        """The dynamically quantized copy of a float ``nn.Linear`` (its qconfig's weight observer, or the default)."""
        from backprop.ao.quantization.qconfig import default_dynamic_qconfig

        qconfig = getattr(mod, "qconfig", None) or default_dynamic_qconfig
        observer = qconfig.weight()
        observer(mod.weight)
        if observer.dtype is not qint8:
            raise AssertionError("The only supported dtypes for dynamic quantized linear are qint8 and float16")
        s, z = observer.calculate_qparams()
        w = bp.quantize_per_tensor(mod.weight.detach().float(), float(s[0]), int(z[0]), qint8)
        q = cls(mod.in_features, mod.out_features, mod.bias is not None)
        q.set_weight_bias(w, None if mod.bias is None else mod.bias.detach().clone())
        return q


_ = per_tensor_affine
