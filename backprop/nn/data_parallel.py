"""``DataParallel`` and ``SyncBatchNorm`` (torch.nn names), for one process.

``DataParallel`` runs the wrapped module on one device: the whole batch goes to ``device_ids[0]``
(torch would split it over the listed GPUs and gather the outputs; the result is the same but for
batch statistics). Without CUDA it only calls the module, as torch does without GPUs. Its
``state_dict`` keys are the module's, prefixed ``module.``. Training on several devices or hosts is
``nn.parallel.DistributedDataParallel``.

``SyncBatchNorm`` is batch norm whose training statistics cover the whole global batch: in one
process (or without ``backprop.distributed``) it is ``BatchNorm`` over the local batch; with a
process group of several ranks it all-reduces the per-channel sums and squared deviations through
``backprop.distributed`` (differentiably: the backward all-reduces their gradients), on CPU (MPI)
as on CUDA (NCCL) tensors.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from backprop import creation, cuda, devices, dtypes
from backprop import distributed as dist
from backprop.autograd import trace
from backprop.autograd.custom import Function
from backprop.autograd.grad_mode import no_grad
from backprop.nn.module import Module
from backprop.nn.normalization import _BatchNorm, _InstanceNorm
from backprop.tensor import Tensor

__all__ = ["DataParallel", "SyncBatchNorm"]


def _device_index(device: Any) -> int:
    """An int, ``"cuda:N"`` or a Device as its CUDA index."""
    if isinstance(device, int):
        return device
    index = getattr(device, "index", None)
    if isinstance(index, int):
        return index
    kind, _, idx = str(device).partition(":")
    if kind != "cuda":
        raise ValueError(f"DataParallel: expected a CUDA device index, got {device!r}")
    return int(idx) if idx else cuda.current_device()


def _moved(obj: Any, device: Any) -> Any:
    """``obj`` with every Tensor in it (nested in tuples, lists and dicts) on ``device``."""
    if isinstance(obj, Tensor):
        return obj if obj.device == device else obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return type(obj)(*(_moved(o, device) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_moved(o, device) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _moved(v, device)) for k, v in obj.items())
    return obj


class DataParallel(Module):
    """Wrap ``module`` (kept as ``.module``); ``forward`` runs it on ``device_ids[0]`` with the inputs moved
    there and the output moved to ``output_device``. Without CUDA ``device_ids`` is ``[]`` and forward just
    calls the module, as torch on a machine without GPUs."""

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0) -> None:
        super().__init__()
        self.module = module
        self.dim = dim
        self.device_ids: list[int] = []
        self.output_device: int | None = None
        if not cuda.is_available():
            return
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        if not device_ids:
            raise RuntimeError("no available devices were found")
        self.device_ids = [_device_index(d) for d in device_ids]
        self.output_device = _device_index(output_device if output_device is not None else self.device_ids[0])
        self.src_device_obj = devices.device(f"cuda:{self.device_ids[0]}")
        if len(self.device_ids) == 1:
            module.to(self.src_device_obj)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        src = self.src_device_obj
        for t in chain(self.module.parameters(), self.module.buffers()):
            if t.device != src:
                raise RuntimeError(
                    f"module must have its parameters and buffers on device {src} (device_ids[0]) but found one of "
                    f"them on device: {t.device}"
                )
        out = self.module(*_moved(inputs, src), **_moved(kwargs, src))
        if self.output_device != self.device_ids[0]:
            out = _moved(out, devices.device(f"cuda:{self.output_device}"))
        return out


class _AllReduceSum(Function):
    """Sum over the ranks, differentiable: the gradient of every rank's input is the sum of the ranks'
    output gradients (each rank's loss depends on every rank's statistics)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, group: Any = None) -> Tensor:
        ctx.group = group
        y = x.clone()
        dist.all_reduce(y, group=group)
        return y

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Any:
        gx = gy.clone()
        dist.all_reduce(gx, group=ctx.group)
        return gx, None


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, *) whose training statistics cover the batches of all ranks of
    ``backprop.distributed`` (in one process: ``BatchNorm`` over the local batch)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")
        if not (self.training and dist.is_initialized() and dist.get_world_size(self.process_group) > 1):
            return super().forward(input)
        return self._sync_forward(input)

    def _sync_forward(self, input: Tensor) -> Tensor:
        """Normalise with the global batch's mean and biased variance (two all-reduces: the sums, then the
        squared deviations from the global mean); update the running statistics as torch (unbiased var)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            trace.record(_increment, self.num_batches_tracked)
            self.num_batches_tracked._version += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        dims = (0, *range(2, input.ndim))
        shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
        count = creation.tensor([float(input.numel() // input.shape[1])], dtype=dtypes.float64, device=input.device)
        dist.all_reduce(count, group=self.process_group)
        n = float(count.item())
        if n <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size torch.Size({list(input.shape)}) "
                f"({int(n)} value(s) per channel over all ranks)"
            )
        mean = _AllReduceSum.apply(input.sum(dims), self.process_group) / n
        centered = input - mean.reshape(shape)
        var = _AllReduceSum.apply((centered * centered).sum(dims), self.process_group) / n
        y = centered * (var + self.eps).rsqrt().reshape(shape)
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        if self.track_running_stats and self.running_mean is not None:
            with no_grad():
                self.running_mean.mul_(1 - factor).add_(mean.detach() * factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (factor * n / (n - 1)))
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm*d in it (itself included) replaced by a SyncBatchNorm sharing its
        parameters, buffers and training flag (instance norms stay, as in torch)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, _InstanceNorm):
            out = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                bias=module.bias is not None,
            )
            if module.affine:
                out.register_parameter("weight", module.weight)
                out.register_parameter("bias", module.bias)
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out.register_buffer(name, getattr(module, name))
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


def _increment(a: Any) -> None:
    a += 1
