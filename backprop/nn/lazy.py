"""Lazy modules (torch.nn names): convolutions, transposed convolutions, batch and instance norms whose
input size (``in_channels``, ``num_features``) is read from their first input.

Until that call their parameters are ``UninitializedParameter`` and their running statistics
``UninitializedBuffer``; the first call gives them memory (the same objects, so an optimizer built
before it holds them), runs the module's ordinary init, and turns the module into its ordinary class
(``cls_to_become``: a ``LazyConv2d`` is a ``Conv2d`` from then on), as torch.
"""

from __future__ import annotations

from typing import Any

from backprop import creation, dtypes
from backprop.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from backprop.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)
from backprop.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from backprop.tensor import Tensor

__all__ = [
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
    "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
    "LazyInstanceNorm3d", "UninitializedBuffer",
]  # fmt: skip


class _LazyMixin:
    """What every lazy module shares: the first forward materialises, then the module changes class."""

    cls_to_become: Any = None
    _parameters: dict[str, Any]
    _buffers: dict[str, Any]

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer still waits for the first input."""
        return any(is_lazy(t) for t in (*self._parameters.values(), *self._buffers.values()))

    def initialize_parameters(self, input: Tensor) -> None:  # pragma: no cover - every lazy class defines it
        raise NotImplementedError

    def forward(self, input: Tensor, *args: Any, **kwargs: Any) -> Any:
        self.initialize_parameters(input)
        self.__class__ = self.cls_to_become  # as torch: an ordinary module from now on
        return self.forward(input, *args, **kwargs)


# ---------------------------------------------------------------- convolutions


class _LazyConvMixin(_LazyMixin):
    _n: int  # (class attributes of the ordinary class, after this mixin in the MRO)
    transposed: bool
    in_channels: int
    out_channels: int
    groups: int
    kernel_size: tuple[int, ...]
    weight: Any
    bias: Any

    def _lazy_init(self, out_channels: int, bias: bool, device: Any, dtype: Any) -> None:
        """Replace the empty (0-channel) parameters the ordinary __init__ made with uninitialised ones."""
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        self.__dict__.pop("bias", None)  # the plain ``bias = None`` the ordinary __init__ set would shadow it
        self.register_parameter("bias", UninitializedParameter(device=device, dtype=dtype) if bias else None)  # type: ignore[attr-defined]

    def _get_in_channels(self, input: Tensor) -> int:
        n = self._n
        if input.ndim not in (n + 1, n + 2):
            raise RuntimeError(
                f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {type(self).__name__}, but got input "
                f"of size: {list(input.shape)}"
            )
        return input.shape[1] if input.ndim == n + 2 else input.shape[0]

    def initialize_parameters(self, input: Tensor) -> None:
        """Materialise weight and bias for ``in_channels`` read from ``input``, then the ordinary init."""
        if not self.has_uninitialized_params():
            return
        self.in_channels = self._get_in_channels(input)
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight.materialize(shape)
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()  # type: ignore[misc]


class _LazyConv(_LazyConvMixin):
    def __init__(
        self,
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
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)  # type: ignore[call-arg]
        self._lazy_init(out_channels, bias, device, dtype)


class _LazyConvTranspose(_LazyConvMixin):
    def __init__(
        self,
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
        super().__init__(  # type: ignore[call-arg]
            0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode, device, dtype
        )
        self._lazy_init(out_channels, bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` is read from its first input (dim 1, or 0 when unbatched)."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """A ``Conv3d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A ``ConvTranspose1d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A ``ConvTranspose2d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A ``ConvTranspose3d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = ConvTranspose3d


# ---------------------------------------------------------------- normalisation


class _LazyNorm(_LazyMixin):
    """Lazy batch/instance norm: ``num_features`` is ``input.shape[1]`` at the first call (torch's rule,
    also for unbatched instance-norm input)."""

    num_features: int
    affine: bool
    track_running_stats: bool
    weight: Any
    bias: Any
    running_mean: Any
    running_var: Any

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(0, eps, momentum, False, False, device, dtype, bias=False)  # type: ignore[call-arg]
        self.affine, self.track_running_stats = affine, track_running_stats
        reg_p, reg_b = self.register_parameter, self.register_buffer  # type: ignore[attr-defined]
        if affine:
            self.__dict__.pop("weight", None), self.__dict__.pop("bias", None)  # plain None attributes would shadow
            reg_p("weight", UninitializedParameter(device=device, dtype=dtype))
            reg_p("bias", UninitializedParameter(device=device, dtype=dtype) if bias else None)
        if track_running_stats:
            reg_b("running_mean", UninitializedBuffer(device=device, dtype=dtype))
            reg_b("running_var", UninitializedBuffer(device=device, dtype=dtype))
            reg_b("num_batches_tracked", creation.zeros((), device=device, dtype=dtypes.int64))

    def initialize_parameters(self, input: Tensor) -> None:
        """Materialise weight, bias and running statistics for ``input.shape[1]`` features; ordinary init."""
        if not self.has_uninitialized_params():
            return
        if input.ndim < 2:
            raise ValueError(f"{type(self).__name__}: expected at least 2D input (got {input.ndim}D input)")
        self.num_features = input.shape[1]
        for t in (self.weight, self.bias, self.running_mean, self.running_var):
            if is_lazy(t):
                t.materialize((self.num_features,))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()  # type: ignore[misc]


class LazyBatchNorm1d(_LazyNorm, BatchNorm1d):
    """A ``BatchNorm1d`` whose ``num_features`` is read from its first input."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNorm, BatchNorm2d):
    """A ``BatchNorm2d`` whose ``num_features`` is read from its first input."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNorm, BatchNorm3d):
    """A ``BatchNorm3d`` whose ``num_features`` is read from its first input."""

    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyNorm, InstanceNorm1d):
    """An ``InstanceNorm1d`` whose ``num_features`` is read from its first input (torch's lazy defaults:
    affine=True, track_running_stats=True)."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNorm, InstanceNorm2d):
    """An ``InstanceNorm2d`` whose ``num_features`` is read from its first input."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNorm, InstanceNorm3d):
    """An ``InstanceNorm3d`` whose ``num_features`` is read from its first input."""

    cls_to_become = InstanceNorm3d
