"""torch.ao.nn.quantized.dynamic: modules with int8 weights whose activations are quantized on the fly."""

from __future__ import annotations

from typing import Any

import numpy as np

import backprop as bp
from backprop import dtypes
from backprop._quantized import dynamic_linear, fp16_linear, per_tensor_affine, qint8
from backprop.ao.nn.quantized.dynamic._common import _dtype_name, _quantize_weight
from backprop.nn import Module
from backprop.tensor import Tensor

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "Linear", "RNNCell"]


def _fp16_weight(w: Tensor) -> Tensor:
    """``linear_prepack_fp16``'s weight: float32 values saturated to float16's range and rounded to float16
    (kept as float32, what torch's unpack gives)."""
    a = np.clip(np.asarray(w.detach().float().numpy()), -65504.0, 65504.0)
    return bp.tensor(a.astype(np.float16).astype(np.float32))


class _PackedParams(Module):
    """torch's ``LinearPackedParams``: the quantized weight and the float bias (state_dict keys as torch's)."""

    def __init__(self, weight: Tensor, bias: Tensor | None, dtype: Any = qint8) -> None:
        super().__init__()
        self.dtype = dtype
        self._packed_params = (weight, bias)

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "dtype"] = self.dtype
        destination[prefix + "_packed_params"] = self._packed_params

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        if prefix + "_packed_params" in state_dict:
            self._packed_params = tuple(state_dict.pop(prefix + "_packed_params"))
        self.dtype = state_dict.pop(prefix + "dtype", self.dtype)

    def __repr__(self) -> str:
        return repr(self._packed_params)


class Linear(Module):
    """A dynamically quantized Linear (torch's ``DynamicQuantizedLinear``): the weight per-tensor qint8, the
    input quantized per call to uint8 over its range (reduce_range: [0, 127], as fbgemm on x86), int32
    products, then ``acc * x_scale * w_scale + bias`` in float32, as fbgemm's ReQuantizeForFloat
    (``dtype=bp.float16``: the weight rounded to float16, float32 activations, fbgemm's FP16 GEMM order)."""

    _version = 4

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype: Any = qint8) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        if dtype is qint8:
            w: Tensor = bp.quantize_per_tensor(bp.zeros(out_features, in_features), 1.0, 0, qint8)
        elif dtype == dtypes.float16:
            w = bp.zeros(out_features, in_features)
        else:
            raise RuntimeError("Unsupported dtype specified for quantized Linear!")
        self._packed_params = _PackedParams(w, bp.zeros(out_features) if bias_ else None, dtype)
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
        dtype = _dtype_name(self._packed_params.dtype)
        s = f"in_features={self.in_features}, out_features={self.out_features}, dtype={dtype}"
        if self._packed_params.dtype is qint8:
            s += f", qscheme={self.weight().qscheme()}"
        return s

    def weight(self) -> Any:
        """The quantized weight (float16 mode: the float16-rounded weight as float32)."""
        return self._packed_params._packed_params[0]

    def bias(self) -> Tensor | None:
        """The float bias."""
        return self._packed_params._packed_params[1]

    def set_weight_bias(self, w: Tensor, b: Tensor | None) -> None:
        """Pack a new weight (qint8 quantized, or float for float16 mode) and float bias."""
        if self._packed_params.dtype is not qint8:
            w = _fp16_weight(w)
        self._packed_params._packed_params = (w, b)

    def forward(self, x: Tensor) -> Tensor:
        """y = dequantized int8 product of the quantized input and weight, plus the float bias."""
        a = np.asarray(x.detach().numpy(), dtype=np.float32)
        b = self.bias()
        bias = None if b is None else b.detach().numpy()
        w = self.weight()
        y = dynamic_linear(a, w, bias) if self._packed_params.dtype is qint8 else fp16_linear(a, w.numpy(), bias)
        return bp.tensor(y)

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> Linear:
        """The dynamically quantized copy of a float ``nn.Linear`` (its qconfig's weight observer, or the default)."""
        from backprop.ao.quantization.qconfig import default_dynamic_qconfig

        qconfig = getattr(mod, "qconfig", None) or default_dynamic_qconfig
        observer = qconfig.weight()
        observer(mod.weight)
        dtype = observer.dtype
        if dtype is not qint8 and dtype != dtypes.float16:
            raise AssertionError(
                f"The only supported dtypes for dynamic quantized linear are qint8 and float16, got: {dtype}"
            )
        w = _quantize_weight(mod.weight, observer) if dtype is qint8 else mod.weight.detach().float()
        q = cls(mod.in_features, mod.out_features, mod.bias is not None, dtype=dtype)
        q.set_weight_bias(w, None if mod.bias is None else mod.bias.detach().clone())
        return q


from backprop.ao.nn.quantized.dynamic.rnn import GRU, LSTM, GRUCell, LSTMCell, RNNCell  # noqa: E402 - (after Linear)

_ = per_tensor_affine
