"""torch's default DDP communication hooks: all-reduce, and all-reduce in float16 or bfloat16 (half the bytes).

Each takes ``(process_group, bucket)`` and returns a ``Future`` of the bucket's averaged gradients. The
compressing hooks divide by the world size *before* the all-reduce, in the low precision (torch's order,
against overflow), then copy the result back into the bucket's buffer. bfloat16 (ml_dtypes) exists on the
CPU only: CuPy has none, so the bfloat16 hooks refuse CUDA buckets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backprop import distributed as dist
from backprop import dtypes
from backprop.futures import Future
from backprop.tensor import Tensor

__all__ = [
    "allreduce_hook",
    "bf16_compress_hook",
    "bf16_compress_wrapper",
    "fp16_compress_hook",
    "fp16_compress_wrapper",
]

Hook = Callable[[Any, dist.GradBucket], Future[Tensor]]


def _group_size(process_group: Any) -> int:
    return dist.get_world_size(process_group)


def _allreduce_fut(process_group: Any, tensor: Tensor) -> Future[Tensor]:
    """Divide ``tensor`` by the world size, all-reduce it in place; a future of it."""
    tensor.div_(_group_size(process_group))  # (first, as torch: against overflow in low precision)
    work = dist.all_reduce(tensor, group=process_group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def allreduce_hook(process_group: Any, bucket: dist.GradBucket) -> Future[Tensor]:
    """All-reduce the bucket's buffer and average it: DDP's own result (torch's ``allreduce_hook``)."""
    return _allreduce_fut(process_group, bucket.buffer())


def _bf16() -> Any:
    return dtypes.bfloat16  # (made from ml_dtypes when first used)


def _refuse_cuda_bf16(buffer: Tensor) -> None:
    if buffer.device.type == "cuda":
        raise TypeError("bfloat16 compression needs bfloat16 on the device: CuPy has none (use fp16_compress_hook)")


def _compress_hook(dtype: Any, process_group: Any, bucket: dist.GradBucket) -> Future[Tensor]:
    world_size = _group_size(process_group)
    buffer = bucket[0] if isinstance(bucket, tuple) else bucket.buffer()
    compressed = buffer.to(dtype).div_(world_size)

    def decompress(fut: Future[list[Tensor]]) -> Tensor:
        buffer.copy_(fut.value()[0])  # in place, back into the bucket's dtype
        return buffer

    return dist.all_reduce(compressed, group=process_group, async_op=True).get_future().then(decompress)


def fp16_compress_hook(process_group: Any, bucket: dist.GradBucket) -> Future[Tensor]:
    """Cast the bucket to float16, divide by the world size, all-reduce, copy back (torch's)."""
    return _compress_hook(dtypes.float16, process_group, bucket)


def bf16_compress_hook(process_group: Any, bucket: dist.GradBucket) -> Future[Tensor]:
    """``fp16_compress_hook`` in bfloat16 (CPU only: CuPy has no bfloat16)."""
    _refuse_cuda_bf16(bucket[0] if isinstance(bucket, tuple) else bucket.buffer())
    return _compress_hook(_bf16(), process_group, bucket)


def _compress_wrapper(dtype: Callable[[], Any], hook: Hook, bf16: bool) -> Hook:
    def wrapper_hook(hook_state: Any, bucket: dist.GradBucket) -> Future[Tensor]:
        if bf16:
            _refuse_cuda_bf16(bucket.buffer())
        bucket.set_buffer(bucket.buffer().to(dtype()))
        fut = hook(hook_state, bucket)

        def decompress(fut: Future[Tensor]) -> Tensor:
            decompressed = bucket.buffer()
            decompressed.copy_(fut.value())
            return decompressed

        return fut.then(decompress)

    return wrapper_hook


def fp16_compress_wrapper(hook: Hook) -> Hook:
    """Run ``hook`` on a float16 copy of the bucket; its result is cast back by DDP (torch's wrapper)."""
    wrapped = _compress_wrapper(lambda: dtypes.float16, hook, False)
    wrapped.__name__ = wrapped.__qualname__ = "fp16_compress_wrapper_hook"
    return wrapped


def bf16_compress_wrapper(hook: Hook) -> Hook:
    """``fp16_compress_wrapper`` in bfloat16 (CPU only)."""
    wrapped = _compress_wrapper(_bf16, hook, True)
    wrapped.__name__ = wrapped.__qualname__ = "bf16_compress_wrapper_hook"
    return wrapped
