"""torch.ao.nn.quantized.dynamic's recurrent modules: LSTM, GRU and the cells with int8 (or float16) weights.

Each gate projection is a dynamically quantized linear (fbgemm's ``linear_dynamic``: the activations
quantized per call over their own range, int32 products, bias in the float epilogue), or fbgemm's FP16
GEMM for ``dtype=bp.float16``. The recurrence follows ATen's CPU ``quantized_lstm``/``quantized_gru``:
the input projection of a layer is one call over the whole sequence (one activation scale for all
steps), the hidden projection one call per step over the sequences still running (packed input: the
batch shrinks), then torch's cell arithmetic in float32.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

import backprop as bp
from backprop import dtypes
from backprop._quantized import QTensor, dynamic_linear, fp16_linear, qint8
from backprop.ao.nn.quantized.dynamic._common import _dtype_name, _quantize_weight
from backprop.nn import Module, ModuleList
from backprop.nn.utils.rnn import PackedSequence, _lengths_array
from backprop.tensor import Tensor

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "PackedParameter", "RNNBase", "RNNCell", "RNNCellBase"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in float32 (torch's CPU sigmoid formula)."""
    with np.errstate(over="ignore"):
        return (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32)


def _tanh(x: np.ndarray) -> np.ndarray:
    """tanh rounded from float64 (closer to torch's SLEEF tanhf than NumPy's float32 one)."""
    return np.tanh(x.astype(np.float64)).astype(np.float32)


def _np(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().float().numpy(), dtype=np.float32)


class _GateLinear:
    """One packed projection (torch's ``LinearPackedParamsBase``): a qint8 weight with its float bias, run by
    ``linear_dynamic``, or a float16-rounded weight run by ``linear_dynamic_fp16``."""

    def __init__(self, weight: Tensor, bias: Tensor | None, dtype: Any) -> None:
        self.dtype = dtype
        if dtype is qint8:
            if not isinstance(weight, QTensor):
                raise RuntimeError("quantized::linear_prepack: expected a qint8 quantized weight")
            self.weight: Tensor = weight
        else:
            a = np.clip(_np(weight), -65504.0, 65504.0).astype(np.float16).astype(np.float32)
            self.weight = bp.tensor(a)
        self.bias = None if bias is None else bias.detach().float().clone()
        self._bias = None if bias is None else _np(bias)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if self.dtype is qint8:
            return dynamic_linear(a, self.weight, self._bias)  # type: ignore[arg-type]
        return fp16_linear(a, self.weight.numpy(), self._bias)

    def __getstate__(self) -> tuple[Any, ...]:
        return ((self.weight, self.bias), self.dtype)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (weight, bias), dtype = state
        self.__init__(weight, bias, dtype)  # type: ignore[misc]


class _CellParams:
    """torch's ``CellParamsBase`` of one layer and direction: the input and hidden projections."""

    def __init__(self, ih: _GateLinear, hh: _GateLinear) -> None:
        self.ih, self.hh = ih, hh

    def __repr__(self) -> str:
        return f"CellParams(dtype={_dtype_name(self.ih.dtype)})"


def _lstm_cell(gi: np.ndarray, state: tuple[np.ndarray, ...], p: _CellParams) -> tuple[np.ndarray, ...]:
    """ATen's LSTMCell: gates = W_hh h + b_hh + (W_ih x + b_ih); c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')."""
    h, c = state
    i, f, g, o = np.split(p.hh(h) + gi, 4, axis=1)
    cy = _sigmoid(f) * c + _sigmoid(i) * _tanh(g)
    return _sigmoid(o) * _tanh(cy), cy


def _gru_cell(gi: np.ndarray, state: tuple[np.ndarray, ...], p: _CellParams) -> tuple[np.ndarray, ...]:
    """ATen's GRUCell: r, z = s(h_r + i_r), s(h_z + i_z); n = tanh(i_n + h_n r); h' = (h - n) z + n."""
    (h,) = state
    i_r, i_z, i_n = np.split(gi, 3, axis=1)
    h_r, h_z, h_n = np.split(p.hh(h), 3, axis=1)
    r, z = _sigmoid(h_r + i_r), _sigmoid(h_z + i_z)
    n = _tanh(i_n + h_n * r)
    return ((h - n) * z + n,)


def _layer(cell: Any, p: _CellParams, data: np.ndarray, batch_sizes: np.ndarray, state: list[np.ndarray],
           reverse: bool) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """One direction of one layer over time-major rows ``data`` (steps of ``batch_sizes`` rows each, as packed
    sequences): the input projection at once, then the cell per step on the sequences still running; a
    sequence's state stops changing after its last step (torch's PackedLayer/ReversedPackedLayer)."""
    gi = p.ih(data)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)])
    final = [s.copy() for s in state]
    outs: list[np.ndarray] = [np.empty(0, np.float32)] * len(batch_sizes)
    steps = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in steps:
        n = int(batch_sizes[t])
        new = cell(gi[offsets[t] : offsets[t] + n], tuple(f[:n] for f in final), p)
        for f, v in zip(final, new):
            f[:n] = v
        outs[t] = new[0]
    return np.concatenate(outs, 0), final


class PackedParameter(Module):
    """Holds one layer-direction's packed parameters (state_dict key ``param``, as torch's)."""

    def __init__(self, param: Any) -> None:
        super().__init__()
        self.param = param

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "param"] = self.param

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        if prefix + "param" in state_dict:
            self.param = state_dict.pop(prefix + "param")


def _check_dtype(dtype: Any) -> None:
    if dtype is not qint8 and dtype != dtypes.float16:
        raise RuntimeError(f"Unsupported dtype for dynamic RNN quantization: {_dtype_name(dtype)}")


def _weight_dtype(mod: Any) -> tuple[Any, Any]:
    """The qconfig's weight observer factory and its dtype (the default dynamic qconfig's when it has none)."""
    from backprop.ao.quantization.qconfig import default_dynamic_qconfig

    if not hasattr(mod, "qconfig"):
        raise AssertionError("Input float module must have qconfig defined")
    make = mod.qconfig.weight if mod.qconfig is not None and mod.qconfig.weight is not None else None
    make = make or default_dynamic_qconfig.weight
    dtype = make().dtype
    _check_dtype(dtype)
    return make, dtype


def _pack(make_observer: Any, dtype: Any, weight: Tensor, bias: Tensor | None) -> _GateLinear:
    """Observe and quantize ``weight`` per tensor (qint8) or round it to float16, packed with ``bias``."""
    if dtype is qint8:
        observer = make_observer()
        observer(weight)
        return _GateLinear(_quantize_weight(weight, observer), bias, dtype)
    return _GateLinear(weight.detach().float(), bias, dtype)


class RNNBase(Module):
    """torch's dynamic quantized ``RNNBase``: the stacked, optionally bidirectional recurrence of LSTM and GRU."""

    _version = 2

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = qint8) -> None:  # fmt: skip
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.dtype, self.version = bidirectional, dtype, 2
        self.training = False
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if mode not in ("LSTM", "GRU"):
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = (4 if mode == "LSTM" else 3) * hidden_size
        directions = 2 if bidirectional else 1
        values = []
        for layer in range(num_layers):
            for _ in range(directions):
                size = input_size if layer == 0 else hidden_size * directions
                w_ih, w_hh = bp.randn(gate_size, size), bp.randn(gate_size, hidden_size)
                b_ih, b_hh = bp.randn(gate_size), bp.randn(gate_size)
                if dtype is qint8:
                    w_ih = bp.quantize_per_tensor(w_ih, 0.1, 0, qint8)
                    w_hh = bp.quantize_per_tensor(w_hh, 0.1, 0, qint8)
                values.append(PackedParameter(_CellParams(_GateLinear(w_ih, b_ih, dtype),
                                                          _GateLinear(w_hh, b_hh, dtype))))  # fmt: skip
        self._all_weight_values = ModuleList(values)

    def _get_name(self) -> str:
        return "DynamicQuantizedRNN"

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def __repr__(self) -> str:
        """torch's: the extra_repr on one line, the packed parameters not listed."""
        return f"{self._get_name()}({self.extra_repr()})"

    # ------------------------------------------------------------ weights
    def _names(self) -> list[tuple[int, str]]:
        directions = 2 if self.bidirectional else 1
        return [(layer, "_reverse" if d else "") for layer in range(self.num_layers) for d in range(directions)]

    def _weight_bias(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {"weight": {}, "bias": {}}
        for m, (layer, suffix) in zip(self._all_weight_values, self._names()):
            for kind, lin in (("ih", m.param.ih), ("hh", m.param.hh)):
                out["weight"][f"weight_{kind}_l{layer}{suffix}"] = lin.weight
                out["bias"][f"bias_{kind}_l{layer}{suffix}"] = lin.bias
        return out

    def get_weight(self) -> dict[str, Any]:
        """``{"weight_ih_l0": quantized weight, ...}`` (float16 mode: the rounded float weights)."""
        return self._weight_bias()["weight"]

    def get_bias(self) -> dict[str, Any]:
        """``{"bias_ih_l0": float bias, ...}``."""
        return self._weight_bias()["bias"]

    def set_weight_bias(self, weight_bias_dict: dict[str, Any]) -> None:
        """Repack from ``{"weight_ih_l0": w, "bias_ih_l0": b, ...}`` (qint8 weights, or float for float16)."""
        values = []
        for layer, suffix in self._names():
            lins = []
            for kind in ("ih", "hh"):
                w = weight_bias_dict[f"weight_{kind}_l{layer}{suffix}"]
                b = weight_bias_dict[f"bias_{kind}_l{layer}{suffix}"]
                lins.append(_GateLinear(w, b, qint8 if isinstance(w, QTensor) else dtypes.float16))
            values.append(PackedParameter(_CellParams(*lins)))
        self._all_weight_values = ModuleList(values)

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> RNNBase:
        """The dynamically quantized copy of a float ``nn.LSTM``/``nn.GRU`` (weights observed per tensor by its
        qconfig's weight observer, or rounded to float16)."""
        if type(mod) not in (bp.nn.LSTM, bp.nn.GRU):
            raise AssertionError("nn.quantized.dynamic.RNNBase.from_float only works for nn.LSTM and nn.GRU")
        make, dtype = _weight_dtype(mod)
        if getattr(mod, "proj_size", 0):
            raise NotImplementedError("dynamic quantized LSTM: proj_size is not supported (torch neither)")
        q = (LSTM if mod.mode == "LSTM" else GRU)(mod.input_size, mod.hidden_size, mod.num_layers, mod.bias,
                                                  mod.batch_first, mod.dropout, mod.bidirectional, dtype)  # fmt: skip
        if not mod.bias:
            raise AssertionError("mod.bias must be True")
        values = []
        for layer, suffix in q._names():
            lins = [_pack(make, dtype, getattr(mod, f"weight_{k}_l{layer}{suffix}"),
                          getattr(mod, f"bias_{k}_l{layer}{suffix}")) for k in ("ih", "hh")]  # fmt: skip
            values.append(PackedParameter(_CellParams(*lins)))
        q._all_weight_values = ModuleList(values)
        return q

    # ------------------------------------------------------------ forward
    def check_input(self, input: Tensor, batch_sizes: Any) -> None:
        expected = 2 if batch_sizes is not None else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.size(-1)}"
            )

    def get_expected_hidden_size(self, input: Tensor, batch_sizes: Any) -> tuple[int, int, int]:
        if batch_sizes is not None:
            batch = int(batch_sizes[0])
        else:
            batch = input.size(0) if self.batch_first else input.size(1)
        return (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)

    def check_hidden_size(self, hx: Tensor, expected: tuple[int, int, int], msg: str = "") -> None:
        if tuple(hx.size()) != expected:
            raise RuntimeError((msg or "Expected hidden size {}, got {}").format(expected, list(hx.size())))

    def _forward(self, input: Any, hx: Any) -> tuple[Any, Any]:
        """Both modes: returns (output, list of final states) with torch's checks and layouts."""
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            data_t, batch_sizes = input.data, _lengths_array(input.batch_sizes)
            self.check_input(data_t, batch_sizes)
            data = _np(data_t)
        else:
            self.check_input(input, None)
            x = _np(input)
            x = x.transpose(1, 0, 2) if self.batch_first else x
            batch_sizes = np.full(x.shape[0], x.shape[1], dtype=np.int64)
            data = np.ascontiguousarray(x).reshape(-1, x.shape[2])
        expected = self.get_expected_hidden_size(data_t if packed else input, batch_sizes if packed else None)
        if hx is None:
            states = [np.zeros(expected, np.float32) for _ in range(2 if lstm else 1)]
        else:
            hxs = list(hx) if lstm else [hx]
            if packed and input.sorted_indices is not None:
                hxs = [h.index_select(1, input.sorted_indices) for h in hxs]
            for i, h in enumerate(hxs):
                self.check_hidden_size(h, expected, f"Expected hidden[{i}] size {{}}, got {{}}" if lstm else "")
            states = [_np(h) for h in hxs]
        cell = _lstm_cell if lstm else _gru_cell
        directions = 2 if self.bidirectional else 1
        finals: list[list[np.ndarray]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                out, fin = _layer(cell, self._all_weight_values[k].param, data, batch_sizes,
                                  [s[k] for s in states], d == 1)  # fmt: skip
                outs.append(out)
                for f, v in zip(finals, fin):
                    f.append(v)
            data = outs[0] if directions == 1 else np.concatenate(outs, 1)
        final = [bp.tensor(np.stack(f)) for f in finals]
        if packed:
            if input.unsorted_indices is not None:
                final = [f.index_select(1, input.unsorted_indices) for f in final]
            output: Any = PackedSequence(bp.tensor(data), input.batch_sizes, input.sorted_indices,
                                         input.unsorted_indices)  # fmt: skip
        else:
            y = data.reshape(len(batch_sizes), -1, data.shape[-1])
            output = bp.tensor(np.ascontiguousarray(y.transpose(1, 0, 2) if self.batch_first else y))
        return output, (tuple(final) if lstm else final[0])

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``) for (L, N, H_in) input (``batch_first``: (N, L,
        H_in)) or a ``PackedSequence``; ``hx`` defaults to zeros."""
        return self._forward(input, hx)


class LSTM(RNNBase):
    """A dynamically quantized LSTM (torch's ``DynamicQuantizedLSTM``); float inputs and outputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def _get_name(self) -> str:
        return "DynamicQuantizedLSTM"

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> RNNBase:
        return super().from_float(mod, use_precomputed_fake_quant)


class GRU(RNNBase):
    """A dynamically quantized GRU (torch's ``DynamicQuantizedGRU``); float inputs and outputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", *args, **kwargs)

    def _get_name(self) -> str:
        return "DynamicQuantizedGRU"

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> RNNBase:
        return super().from_float(mod, use_precomputed_fake_quant)


class RNNCellBase(Module):
    """torch's dynamic quantized ``RNNCellBase``: one step with packed ``_packed_weight_ih``/``_packed_weight_hh``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, num_chunks: int = 4,
                 dtype: Any = qint8) -> None:  # fmt: skip
        super().__init__()
        self.input_size, self.hidden_size, self.bias, self.weight_dtype = input_size, hidden_size, bias, dtype
        b_ih = bp.randn(num_chunks * hidden_size) if bias else None
        b_hh = bp.randn(num_chunks * hidden_size) if bias else None
        w_ih, w_hh = bp.randn(num_chunks * hidden_size, input_size), bp.randn(num_chunks * hidden_size, hidden_size)
        if dtype is qint8:
            w_ih, w_hh = bp.quantize_per_tensor(w_ih, 1.0, 0, qint8), bp.quantize_per_tensor(w_hh, 1.0, 0, qint8)
        self._packed_weight_ih = _GateLinear(w_ih, b_ih, dtype)
        self._packed_weight_hh = _GateLinear(w_hh, b_hh, dtype)

    def _get_name(self) -> str:
        return "DynamicQuantizedRNNBase"

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def check_forward_input(self, input: Tensor) -> None:
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)}, expected {self.input_size}")

    def check_forward_hidden(self, input: Tensor, hx: Tensor, hidden_label: str = "") -> None:
        if input.size(0) != hx.size(0):
            raise RuntimeError(
                f"Input batch size {input.size(0)} doesn't match hidden{hidden_label} batch size {hx.size(0)}"
            )
        if hx.size(1) != self.hidden_size:
            raise RuntimeError(
                f"hidden{hidden_label} has inconsistent hidden_size: got {hx.size(1)}, expected {self.hidden_size}"
            )

    def _params(self) -> _CellParams:
        return _CellParams(self._packed_weight_ih, self._packed_weight_hh)

    def _weight_bias(self) -> dict[str, dict[str, Any]]:
        ih, hh = self._packed_weight_ih, self._packed_weight_hh
        return {"weight": {"weight_ih": ih.weight, "weight_hh": hh.weight},
                "bias": {"bias_ih": ih.bias, "bias_hh": hh.bias}}  # fmt: skip

    def get_weight(self) -> dict[str, Any]:
        """``{"weight_ih": ..., "weight_hh": ...}``."""
        return self._weight_bias()["weight"]

    def get_bias(self) -> dict[str, Any]:
        """``{"bias_ih": ..., "bias_hh": ...}``."""
        return self._weight_bias()["bias"]

    def set_weight_bias(self, weight_bias_dict: dict[str, Any]) -> None:
        """Repack from ``{"weight": {"weight_ih": w, ...}, "bias": {"bias_ih": b, ...}}``."""
        w, b = weight_bias_dict["weight"], weight_bias_dict["bias"]
        self._packed_weight_ih = _GateLinear(w["weight_ih"], b["bias_ih"], self.weight_dtype)
        self._packed_weight_hh = _GateLinear(w["weight_hh"], b["bias_hh"], self.weight_dtype)

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "_packed_weight_ih"] = self._packed_weight_ih
        destination[prefix + "_packed_weight_hh"] = self._packed_weight_hh

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        self._packed_weight_ih = state_dict.pop(prefix + "_packed_weight_ih")
        self._packed_weight_hh = state_dict.pop(prefix + "_packed_weight_hh")

    @classmethod
    def from_float(cls, mod: Any, use_precomputed_fake_quant: bool = False) -> RNNCellBase:
        """The dynamically quantized copy of a float ``nn.LSTMCell``/``GRUCell``/``RNNCell``."""
        kinds = {bp.nn.LSTMCell: LSTMCell, bp.nn.GRUCell: GRUCell, bp.nn.RNNCell: RNNCell}
        if type(mod) not in kinds:
            raise AssertionError(
                "nn.quantized.dynamic.RNNCellBase.from_float only works for nn.LSTMCell, nn.GRUCell and nn.RNNCell"
            )
        make, dtype = _weight_dtype(mod)
        extra = {"nonlinearity": mod.nonlinearity} if type(mod) is bp.nn.RNNCell else {}
        q = kinds[type(mod)](mod.input_size, mod.hidden_size, bias=mod.bias, dtype=dtype, **extra)
        if not mod.bias:
            raise AssertionError("mod.bias must be True")
        q._packed_weight_ih = _pack(make, dtype, mod.weight_ih, mod.bias_ih)
        q._packed_weight_hh = _pack(make, dtype, mod.weight_hh, mod.bias_hh)
        return q

    def _step(self, cell: Any, input: Tensor, states: list[Tensor]) -> tuple[Tensor, ...]:
        x = _np(input)
        return tuple(bp.tensor(s) for s in cell(self._packed_weight_ih(x), tuple(_np(s) for s in states),
                                                self._params()))  # fmt: skip


class RNNCell(RNNCellBase):
    """A dynamically quantized Elman cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = qint8) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _get_name(self) -> str:
        return "DynamicQuantizedRNNCell"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step: ``h'`` of shape (N, hidden_size)."""
        self.check_forward_input(input)
        if hx is None:
            hx = bp.zeros(input.size(0), self.hidden_size)
        self.check_forward_hidden(input, hx, "")
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        act = _tanh if self.nonlinearity == "tanh" else (lambda v: np.maximum(v, np.float32(0)))

        def cell(gi: np.ndarray, state: tuple[np.ndarray, ...], p: _CellParams) -> tuple[np.ndarray, ...]:
            return (act(p.hh(state[0]) + gi),)

        return self._step(cell, input, [hx])[0]


class LSTMCell(RNNCellBase):
    """A dynamically quantized LSTM cell; returns ``(h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = qint8) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, dtype=dtype)

    def _get_name(self) -> str:
        return "DynamicQuantizedLSTMCell"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """One step: ``(h', c')``, each (N, hidden_size)."""
        self.check_forward_input(input)
        if hx is None:
            zeros = bp.zeros(input.size(0), self.hidden_size)
            hx = (zeros, zeros)
        self.check_forward_hidden(input, hx[0], "[0]")
        self.check_forward_hidden(input, hx[1], "[1]")
        h, c = self._step(_lstm_cell, input, list(hx))
        return h, c


class GRUCell(RNNCellBase):
    """A dynamically quantized GRU cell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = qint8) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, dtype=dtype)

    def _get_name(self) -> str:
        return "DynamicQuantizedGRUCell"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step: ``h'`` of shape (N, hidden_size)."""
        self.check_forward_input(input)
        if hx is None:
            hx = bp.zeros(input.size(0), self.hidden_size)
        self.check_forward_hidden(input, hx, "")
        return self._step(_gru_cell, input, [hx])[0]
