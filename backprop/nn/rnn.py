"""Recurrent layers (torch.nn names): RNN, LSTM, GRU and their single-step cells.

Composites of existing ops: the input projection of a whole sequence is one ``linear``, then a Python loop
over time applies the cell, so gradients and double backward come from the ops. Parameter names, shapes,
init (U(-k, k), k = 1/sqrt(hidden_size)), gate order and the shapes of inputs, states and errors are torch's:

- RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)  (or relu)
- LSTM: i, f, g, o = chunks of W_ih x + b_ih + W_hh h + b_hh; c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')
  (then h' = W_hr h' with ``proj_size``)
- GRU:  r, z = s(W_ir x + b_ir + W_hr h + b_hr), s(W_iz x + ...); n = tanh(W_in x + b_in + r (W_hn h + b_hn));
  h' = (1 - z) n + z h
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from backprop import creation
from backprop import functions as fn
from backprop.autograd.function import OpIndexError, autocast_function
from backprop.autograd.grad_mode import autocast_users
from backprop.autograd.node_names import name_node
from backprop.nn import functional as F
from backprop.nn import init
from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.nn.utils.rnn import PackedSequence, _lengths_array, _padding_map
from backprop.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _param(*shape: int, device: Any = None, dtype: Any = None) -> Parameter:
    return Parameter(creation.empty(*shape, device=device, dtype=dtype))


def _cell(mode: str, gi: Tensor, state: Any, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None) -> Any:
    """One step from the projected input ``gi`` = W_ih x + b_ih (N, gates * H) and the state (h or (h, c))."""
    if mode == "LSTM":
        h, c = state
        i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h if w_hr is None else F.linear(h, w_hr), c)
    gh = F.linear(state, w_hh, b_hh)
    if mode == "GRU":
        i_r, i_z, i_n = gi.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        return n + z * (state - n)  # = (1 - z) n + z h
    pre = gi + gh
    return pre.tanh() if mode == "RNN_TANH" else pre.relu()


def _check_cell_args(name: str, input: Tensor, hx: Tensor, input_size: int, hidden_size: int) -> None:
    if input.shape[1] != input_size:
        raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected {input_size}")
    if hx.shape[0] != input.shape[0]:
        raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden0 batch size {hx.shape[0]}")
    if hx.shape[1] != hidden_size:
        raise RuntimeError(f"hidden0 has inconsistent hidden_size: got {hx.shape[1]}, expected {hidden_size}")


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrence shared by RNN, LSTM and GRU (torch's ``RNNBase``)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        for arg, flag in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(flag, bool):
                raise TypeError(f"{arg} should be of type bool, got: {type(flag).__name__}")
        for arg, size in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(size, bool) or not isinstance(size, int):
                raise TypeError(f"{arg} should be of type int, got: {type(size).__name__}")
            if size <= 0:
                raise ValueError(f"{arg} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, real_hidden),
                }
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = [name + suffix for name in shapes]
                for name, shape in zip(names, shapes.values()):
                    setattr(self, name, _param(*shape, device=device, dtype=dtype))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op kept for torch code (cuDNN's flat weight buffer does not exist here)."""

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
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

    # ------------------------------------------------------------ forward
    def _state_sizes(self) -> list[int]:
        """The trailing size of each state tensor: h (and c for LSTM)."""
        h = self.proj_size if self.proj_size > 0 else self.hidden_size
        return [h, self.hidden_size] if self.mode == "LSTM" else [h]

    def _check_input(self, input: Tensor, packed: bool) -> None:
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype (torch.{input.dtype}) does not match weight dtype (torch.{weight.dtype}). Convert "
                f"input: input.to(torch.{weight.dtype}), or convert model: model.to(torch.{input.dtype})"
            )
        expected = 2 if packed else 3
        if input.ndim != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.ndim}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.shape[-1]}"
            )

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``) for (L, N, H_in) input (``batch_first``: (N, L, H_in)),
        unbatched (L, H_in) input, or a ``PackedSequence``; ``hx`` defaults to zeros."""
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        packed = isinstance(input, PackedSequence)
        batched = True
        if packed:
            data, batch_sizes = input.data, _lengths_array(input.batch_sizes)
            self._check_input(data, True)
            rows = _padding_map(batch_sizes)
            mask_np = rows >= 0
            x = fn.cat([data, creation.zeros(1, data.shape[1], dtype=data.dtype, device=data.device)], 0)
            x = x[creation.tensor(np.where(mask_np, rows, data.shape[0]), device=data.device)]  # (T, B, H_in)
            mask = creation.tensor(mask_np[:, :, None], device=data.device)
        else:
            if input.ndim not in (2, 3):
                raise ValueError(
                    f"{self._name()}: Expected input to be 2D or 3D, got {input.ndim}D"
                    + (" tensor instead" if self.mode.startswith("RNN") else " instead")  # (torch's wordings)
                )
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1 if not self.batch_first else 0)
            if self.batch_first:
                x = x.transpose(0, 1)
            mask = None
            if hx is not None:
                self._check_hx_dims(hx, batched)
            self._check_input(x, False)
        batch = x.shape[1]
        if x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        if lstm and hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            # (torch: an IndexError unpacking a tensor, "lstm expects two hidden states" (RuntimeError) otherwise)
            got = f"a tensor of shape {tuple(hx.shape)}" if isinstance(hx, Tensor) else f"{type(hx).__name__}"
            got += f" of {len(hx)}" if isinstance(hx, (tuple, list)) else ""
            raise OpIndexError(f"lstm expects two hidden states: hx must be a tuple (h_0, c_0), got {got}")
        states = list(hx) if lstm and hx is not None else ([] if hx is None else [hx])
        if states and not batched:
            states = [s.unsqueeze(1) for s in states]
        sizes = self._state_sizes()
        if not states:
            states = [creation.zeros(self.num_layers * directions, batch, n, dtype=x.dtype, device=x.device)
                      for n in sizes]  # fmt: skip
        else:
            for i, (s, n) in enumerate(zip(states, sizes)):
                expected = (self.num_layers * directions, batch, n)
                if tuple(s.shape) != expected:
                    what = f"hidden[{i}] size" if lstm else "hidden size"
                    raise RuntimeError(f"Expected {what} {expected}, got {list(s.shape)}")
            if packed and input.sorted_indices is not None:
                states = [s.index_select(1, input.sorted_indices) for s in states]
        if lstm and not self.proj_size and autocast_users[0]:  # torch's CPU LSTM is one oneDNN kernel in autocast's
            x, *states = autocast_function("mkldnn_rnn_layer", x, *states)  # lower-precision list: states too
        output, finals = self._run(x, [s.unbind(0) for s in states], mask)
        final = [fn.stack(f, 0) for f in finals]
        if packed:
            if input.unsorted_indices is not None:
                final = [f.index_select(1, input.unsorted_indices) for f in final]
            keep = creation.tensor(np.flatnonzero(mask_np), device=data.device)  # packed rows, time-major
            flat = output.reshape(-1, output.shape[-1])[keep]
            out: Any = PackedSequence(flat, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        else:
            out = (
                name_node(output.transpose(0, 1), "TransposeBackward1") if self.batch_first else output
            )  # (transpose_)
            if not batched:
                out = out.squeeze(0 if self.batch_first else 1)
                final = [f.squeeze(1) for f in final]
        return out, (tuple(final) if lstm else final[0])

    def _name(self) -> str:
        return "LSTM" if self.mode == "LSTM" else ("GRU" if self.mode == "GRU" else "RNN")

    def _check_hx_dims(self, hx: Any, batched: bool) -> None:
        want = 3 if batched else 2
        kind = "batched 3-D" if batched else "unbatched 2-D"
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                return  # (forward's check says what hx should be)
            h, c = hx
            if h.ndim != want or c.ndim != want:
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {want}-D but got ({h.ndim}-D, {c.ndim}-D) tensors"
                )
        elif hx.dim() != want:
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor")

    def _run(self, x: Tensor, states: list[tuple[Tensor, ...]], mask: Tensor | None) -> tuple[Tensor, list[list]]:
        """All layers over time-major ``x`` (T, B, F); ``states[k][l * D + d]`` is the initial state k of layer l,
        direction d; ``mask`` (T, B, 1), when given, freezes a sequence's state after its end (packed input)."""
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        finals: list[list] = [[] for _ in states]
        steps = x.shape[0]
        masks = mask.unbind(0) if mask is not None else None
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                names = self._all_weights[layer * directions + d]
                w = {name.split("_l")[0]: getattr(self, name) for name in names}
                gis = F.linear(x, w["weight_ih"], w.get("bias_ih")).unbind(0)
                k = layer * directions + d
                state: Any = (states[0][k], states[1][k]) if lstm else states[0][k]
                hs: list[Any] = [None] * steps
                for t in range(steps) if d == 0 else reversed(range(steps)):
                    new = _cell(self.mode, gis[t], state, w["weight_hh"], w.get("bias_hh"), w.get("weight_hr"))
                    if masks is not None:
                        m = masks[t]
                        new = tuple(fn.where(m, a, b) for a, b in zip(new, state)) if lstm else fn.where(m, new, state)
                        h_out = fn.where(m, new[0] if lstm else new, 0.0)
                    else:
                        h_out = new[0] if lstm else new
                    state, hs[t] = new, h_out
                outs.append(fn.stack(hs, 0))
                for i, s in enumerate(state if lstm else (state,)):
                    finals[i].append(s)
            x = outs[0] if directions == 1 else fn.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, finals


def _refuse_proj_size(name: str, kwargs: dict[str, Any]) -> None:
    """torch's RNN and GRU take ``**kwargs`` and refuse ``proj_size`` by name (LSTM's alone)."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{name}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")


class RNN(RNNBase):
    """Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), stacked and optionally bidirectional."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        _refuse_proj_size("RNN", kwargs)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o (torch's order); returns ``(output, (h_n, c_n))``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            device, dtype,
        )  # fmt: skip


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n (torch's order, with n = tanh(W_in x + b_in + r (W_hn h + b_hn)))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        _refuse_proj_size("GRU", kwargs)
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )


class RNNCellBase(Module):
    """One recurrent step with ``weight_ih`` (chunks * H, H_in), ``weight_hh`` (chunks * H, H) and biases."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = _param(num_chunks * hidden_size, input_size, device=device, dtype=dtype)
        self.weight_hh = _param(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype)
        for name in ("bias_ih", "bias_hh"):
            b = _param(num_chunks * hidden_size, device=device, dtype=dtype) if bias else None
            self.register_parameter(name, b)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _step(self, mode: str, input: Tensor, hx: Any) -> Any:
        """Batch the input and state, check them, take one step of ``_cell``, unbatch."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        lstm = mode == "LSTM"
        for i, h in enumerate(() if hx is None else (hx if lstm else (hx,))):
            if h.ndim not in (1, 2):
                what = f"hx[{i}]" if lstm else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            zeros = creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            states: list[Tensor] = [zeros, zeros] if lstm else [zeros]
        else:
            states = [h if batched else h.unsqueeze(0) for h in (hx if lstm else (hx,))]
        for h in states:
            _check_cell_args(name, x, h, self.input_size, self.hidden_size)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        new = _cell(mode, gi, tuple(states) if lstm else states[0], self.weight_hh, self.bias_hh, None)
        if batched:
            return new
        return tuple(s.squeeze(0) for s in new) if lstm else new.squeeze(0)


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu) for (N, H_in) or unbatched (H_in) input."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", input, hx)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o); returns ``(h', c')``."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        return self._step("LSTM", input, hx)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n)."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step("GRU", input, hx)


__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]
