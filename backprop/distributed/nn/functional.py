"""``backprop.distributed.nn.functional`` (torch.distributed.nn.functional): collectives that autograd sees through.

Each call returns new tensors tied to its inputs, with torch's backward rules: ``all_reduce``'s gradient is the
``all_reduce`` (same op, as torch's) of the output gradients, ``broadcast``'s is their sum ``reduce``d to ``src``
(zero elsewhere), ``reduce``'s is ``dst``'s gradient broadcast, ``all_gather``'s the ``reduce_scatter`` (sum) of
the gradients, ``reduce_scatter``'s their ``all_gather``, ``gather``/``scatter`` and ``all_to_all``/
``all_to_all_single`` each other's or their own transposes. The backward rules call the same Functions, so
double backward works as torch's. Every rank must call the backward of a collective it ran forward (the
backward is a collective too). ``all_reduce``, ``all_gather``, ``broadcast``, ``reduce_scatter`` and
``all_to_all_single`` warn with torch's ``FutureWarning`` (deprecated there).
"""

from __future__ import annotations

import warnings
from typing import Any

from backprop import distributed as dist
from backprop.autograd.custom import Function
from backprop.distributed import ReduceOp
from backprop.tensor import Tensor

__all__ = [
    "all_gather",
    "all_reduce",
    "all_to_all",
    "all_to_all_single",
    "broadcast",
    "gather",
    "reduce",
    "reduce_scatter",
    "scatter",
]


def _deprecated(name: str, suggestion: str) -> None:
    """torch 2.13's FutureWarning for the collectives it deprecates in favour of its functional collectives."""
    warnings.warn(
        f"torch.distributed.nn.functional.{name} is deprecated, use {suggestion} instead.",
        category=FutureWarning,
        stacklevel=3,
    )


def _zeros_like(t: Tensor) -> Tensor:
    return Tensor._wrap(t.device.xp.zeros(t._data.shape, dtype=t._data.dtype), t.device, None)


def _copy(t: Tensor) -> Tensor:
    """A contiguous copy outside any graph (what the in-place collective then overwrites)."""
    return Tensor._wrap(t.device.xp.array(t._data, copy=True, order="C"), t.device, None)


class _Broadcast(Function):
    @staticmethod
    def forward(ctx: Any, src: int, group: Any, tensor: Tensor) -> Tensor:
        ctx.src, ctx.group, ctx.rank = src, group, dist.get_rank(group=group)
        out = _copy(tensor)
        dist.broadcast(out, src, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:  # d/dx_src of every rank's copy: the sum at src
        gx = _Reduce.apply(ctx.src, ReduceOp.SUM, ctx.group, grad)
        if ctx.rank != ctx.src:
            gx = gx * 0
        return None, None, gx


class _Reduce(Function):
    @staticmethod
    def forward(ctx: Any, dst: int, op: ReduceOp, group: Any, tensor: Tensor) -> Tensor:
        ctx.dst, ctx.group = dst, group
        out = _copy(tensor)
        dist.reduce(out, dst, op=op, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:  # every input reaches dst's sum: dst's gradient
        return None, None, None, _Broadcast.apply(ctx.dst, ctx.group, grad)


class _Gather(Function):
    @staticmethod
    def forward(ctx: Any, dst: int, group: Any, tensor: Tensor) -> tuple[Tensor, ...]:
        ctx.dst, ctx.group = dst, group
        parts = [_zeros_like(tensor) for _ in range(dist.get_world_size(group=group))]
        mine = dist.get_rank(group=group) == dst
        dist.gather(_copy(tensor), parts if mine else None, dst, group=group)
        return tuple(parts)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:  # rank r's input is dst's part r: scatter back
        return None, None, _Scatter.apply(ctx.dst, ctx.group, *grads)


class _Scatter(Function):
    @staticmethod
    def forward(ctx: Any, src: int, group: Any, *tensors: Tensor) -> Tensor:
        ctx.src, ctx.group = src, group
        if any(tuple(t.shape) != tuple(tensors[0].shape) for t in tensors):
            raise AssertionError("scatter: the tensors must all have the same shape")
        out = _zeros_like(tensors[0])
        mine = dist.get_rank(group=group) == src
        dist.scatter(out, [_copy(t) for t in tensors] if mine else None, src, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:  # part r went to rank r: gather the gradients to src
        return (None, None, *_Gather.apply(ctx.src, ctx.group, grad))


class _ReduceScatter(Function):
    @staticmethod
    def forward(ctx: Any, op: ReduceOp, group: Any, output: Tensor, *inputs: Tensor) -> Tensor:
        ctx.group = group
        dist.reduce_scatter(output, [_copy(t) for t in inputs], op=op, group=group)
        return output

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:  # input r summed into rank r's output
        return (None, None, None, *_AllGather.apply(ctx.group, grad))


class _AllGather(Function):
    @staticmethod
    def forward(ctx: Any, group: Any, tensor: Tensor) -> tuple[Tensor, ...]:
        ctx.group = group
        parts = [_zeros_like(tensor) for _ in range(dist.get_world_size(group=group))]
        dist.all_gather(parts, _copy(tensor), group=group)
        return tuple(parts)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:  # every rank's part r is rank r's input: sum them
        rank = dist.get_rank(group=ctx.group)
        return None, _ReduceScatter.apply(ReduceOp.SUM, ctx.group, _zeros_like(grads[rank]), *grads)


class _AllToAll(Function):
    @staticmethod
    def forward(ctx: Any, group: Any, outputs: list[Tensor], *inputs: Tensor) -> tuple[Tensor, ...]:
        ctx.group, ctx.shapes = group, [tuple(t.shape) for t in inputs]
        dist.all_to_all(outputs, [_copy(t) for t in inputs], group=group)
        return tuple(outputs)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:  # the transpose of an all-to-all is an all-to-all
        ref = grads[0]
        outs = [Tensor._wrap(ref.device.xp.zeros(s, dtype=ref._data.dtype), ref.device, None) for s in ctx.shapes]
        return (None, None, *_AllToAll.apply(ctx.group, outs, *grads))


class _AllToAllSingle(Function):
    @staticmethod
    def forward(
        ctx: Any, group: Any, output: Tensor, output_split_sizes: Any, input_split_sizes: Any, input: Tensor
    ) -> Tensor:
        ctx.group, ctx.shape = group, tuple(input.shape)
        ctx.splits = (input_split_sizes, output_split_sizes)  # (backward sends back what came: the sizes swap)
        dist.all_to_all_single(
            output, _copy(input), output_split_sizes=output_split_sizes, input_split_sizes=input_split_sizes,
            group=group,
        )  # fmt: skip
        return output

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        out = Tensor._wrap(grad.device.xp.zeros(ctx.shape, dtype=grad._data.dtype), grad.device, None)
        back = _AllToAllSingle.apply(ctx.group, out, ctx.splits[0], ctx.splits[1], grad)
        return None, None, None, None, back


class _AllReduce(Function):
    @staticmethod
    def forward(ctx: Any, op: ReduceOp, group: Any, tensor: Tensor) -> Tensor:
        ctx.op, ctx.group = op, group
        out = _copy(tensor)
        dist.all_reduce(out, op=op, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:  # SUM: every output depends on every input with 1
        return None, None, _AllReduce.apply(ctx.op, ctx.group, grad)


def broadcast(tensor: Tensor, src: int, group: Any = None) -> Tensor:
    """Rank ``src``'s ``tensor`` on every rank, as a new tensor; the gradient sums to ``src`` (zero elsewhere)."""
    _deprecated("broadcast", "torch.distributed._functional_collectives.broadcast")
    return _Broadcast.apply(src, group, tensor)


def gather(tensor: Tensor, dst: int = 0, group: Any = None) -> tuple[Tensor, ...]:
    """Every rank's ``tensor`` on rank ``dst`` (a tuple of world-size tensors; zeros on the other ranks)."""
    return _Gather.apply(dst, group, tensor)


def scatter(tensors: list[Tensor], src: int = 0, group: Any = None) -> Tensor:
    """Rank ``src``'s ``tensors[r]`` on rank r, as a new tensor (every rank passes tensors of the shape)."""
    return _Scatter.apply(src, group, *tensors)


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group: Any = None) -> Tensor:
    """``tensor`` combined across ranks on rank ``dst`` (a new tensor); the gradient is ``dst``'s, broadcast."""
    return _Reduce.apply(dst, op, group, tensor)


def reduce_scatter(output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM, group: Any = None) -> Tensor:
    """``input_list[r]`` combined across ranks on rank r (written into ``output`` and returned, differentiable)."""
    _deprecated("reduce_scatter", "torch.distributed._functional_collectives.reduce_scatter_single")
    return _ReduceScatter.apply(op, group, output, *input_list)


def all_gather(tensor: Tensor, group: Any = None) -> tuple[Tensor, ...]:
    """Every rank's ``tensor``, in rank order, on every rank; the gradient is the sum of the ranks' gradients."""
    _deprecated("all_gather", "torch.distributed._functional_collectives.all_gather_single")
    return _AllGather.apply(group, tensor)


def all_to_all(
    output_tensor_list: list[Tensor], input_tensor_list: list[Tensor], group: Any = None
) -> tuple[Tensor, ...]:
    """Rank r's ``input_tensor_list[j]`` becomes rank j's ``output_tensor_list[r]``; returned as a tuple."""
    return _AllToAll.apply(group, output_tensor_list, *input_tensor_list)


def all_to_all_single(
    output: Tensor, input: Tensor, output_split_sizes: list[int] | None = None,
    input_split_sizes: list[int] | None = None, group: Any = None,
) -> Tensor:  # fmt: skip
    """``all_to_all`` of dim-0 slices of one tensor (``dist.all_to_all_single``), differentiable."""
    _deprecated("all_to_all_single", "torch.distributed._functional_collectives.all_to_all_single")
    return _AllToAllSingle.apply(group, output, output_split_sizes, input_split_sizes, input)


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None) -> Tensor:
    """``tensor`` combined across ranks, as a new tensor on every rank; the gradient is the ``all_reduce`` (same
    ``op``, as torch's: exact for SUM) of the output gradients."""
    _deprecated("all_reduce", "torch.distributed._functional_collectives.all_reduce")
    return _AllReduce.apply(op, group, tensor)
