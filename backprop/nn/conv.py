"""Convolution layers (torch.nn names): Conv1d/2d/3d, ConvTranspose1d/2d/3d, Unfold, Fold.

torch's arguments, attributes, ``state_dict`` keys (``weight``, ``bias``), reprs and default init:
``kaiming_uniform_(weight, a=sqrt(5))`` and a bias drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
from typing import Any

from backprop import creation
from backprop.nn import _conv_functional as CF
from backprop.nn import functional as F
from backprop.nn import init
from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv and ConvTranspose share: argument checks, parameters, init and repr."""

    _n = 0
    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any,
        dtype: Any,
    ) -> None:
        super().__init__()
        n, name = self._n, type(self).__name__
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {list(_PADDING_MODES)}, but got padding_mode='{padding_mode}'"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = CF.ntuple(kernel_size, n, "kernel_size", name)
        self.stride, self.dilation = CF.ntuple(stride, n, "stride", name), CF.ntuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding: Any = padding
        else:
            self.padding = CF.ntuple(padding, n, "padding", name)
        self.output_padding = CF.ntuple(output_padding, n, "output_padding", name)
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = self._padding_pairs()
        if self.transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(creation.empty(*shape, device=device, dtype=dtype))
        self.bias = Parameter(creation.empty(out_channels, device=device, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias likewise."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _padding_pairs(self) -> Any:
        """F.pad's (left, right) pairs, last dim first; ``'same'`` puts the odd element on the right. torch's
        ``_reversed_padding_repeated_twice`` attribute: a tuple for numeric padding, a list for a string."""
        if not isinstance(self.padding, str):
            return tuple(p for p in reversed(self.padding) for _ in range(2))
        pads: list[int] = []
        for i in reversed(range(self._n)):
            total = 0 if self.padding == "valid" else self.dilation[i] * (self.kernel_size[i] - 1)
            pads += [total // 2, total - total // 2]
        return pads

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling, as torch's: a module pickled before ``padding_mode`` existed gets "zeros", and one
        pickled by older backprop without ``_reversed_padding_repeated_twice`` gets it from its padding."""
        restore = getattr(super(), "__setstate__", None)
        if restore is not None:
            restore(state)
        else:
            self.__dict__.update(state)
        if "padding_mode" not in self.__dict__:
            self.padding_mode = "zeros"
        if "_reversed_padding_repeated_twice" not in self.__dict__:
            self._reversed_padding_repeated_twice = self._padding_pairs()

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn: Any = None

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
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            0,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        fn = type(self)._fn
        if self.padding_mode != "zeros":  # pad first with the mode, then convolve without padding (as torch)
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fn(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-d convolution over (N, C_in, L) (or unbatched (C_in, L)); weight (C_out, C_in / groups, k)."""

    _n = 1
    _fn = staticmethod(CF.conv1d)


class Conv2d(_Conv):
    """2-d convolution over (N, C_in, H, W); weight (C_out, C_in / groups, kH, kW)."""

    _n = 2
    _fn = staticmethod(CF.conv2d)


class Conv3d(_Conv):
    """3-d convolution over (N, C_in, D, H, W); weight (C_out, C_in / groups, kD, kH, kW)."""

    _n = 3
    _fn = staticmethod(CF.conv3d)


class _ConvTranspose(_ConvNd):
    transposed = True
    _fn: Any = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of ints, got {padding!r}")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """The output_padding that makes the output ``output_size`` (its last dims), as torch checks it."""
        if output_size is None:
            return self.output_padding
        n = self._n
        non_spatial = 2 if input.ndim == n + 2 else 1  # (batch and) channels
        if len(output_size) == non_spatial + n:
            output_size = output_size[non_spatial:]
        size = [int(s) for s in output_size]
        if len(size) != n:
            raise ValueError(
                f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or {non_spatial + n} "
                f"elements (got {len(size)})"
            )
        lows = [
            (input.shape[non_spatial + i] - 1) * self.stride[i]
            - 2 * self.padding[i]
            + self.dilation[i] * (self.kernel_size[i] - 1)
            + 1
            for i in range(n)
        ]
        highs = [low + stride - 1 for low, stride in zip(lows, self.stride)]
        if any(not low <= s <= high for s, low, high in zip(size, lows, highs)):
            raise ValueError(  # torch's text, which prints input.size()[2:] (also for an unbatched input)
                f"requested an output size of {output_size}, but valid sizes range from {lows} to {highs} "
                f"(for an input of torch.Size({list(input.shape[2:])}))"
            )
        pads = [s - low for s, low in zip(size, lows)]
        return tuple(pads)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        fn = type(self)._fn
        return fn(input, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution over (N, C_in, L); weight (C_in, C_out / groups, k)."""

    _n = 1
    _fn = staticmethod(CF.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution over (N, C_in, H, W); weight (C_in, C_out / groups, kH, kW)."""

    _n = 2
    _fn = staticmethod(CF.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-d transposed convolution over (N, C_in, D, H, W); weight (C_in, C_out / groups, kD, kH, kW)."""

    _n = 3
    _fn = staticmethod(CF.conv_transpose3d)


class Unfold(Module):
    """Sliding blocks of (N, C, H, W) as columns (N, C * kH * kW, L): ``F.unfold``."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return CF.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"


class Fold(Module):
    """Columns (N, C * kH * kW, L) summed back into (N, C, *output_size): ``F.fold``, Unfold's adjoint."""

    def __init__(
        self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return CF.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )
