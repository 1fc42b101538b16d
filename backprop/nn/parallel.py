"""``DistributedDataParallel``: the same model on every rank, gradients averaged in backward (torch's name).

Each rank runs the wrapped module on its part of the batch; ``loss.backward()`` then leaves on every
rank the average of the ranks' gradients, so ``opt.step()`` keeps the replicas identical. The
gradients travel in buckets (flat buffers of about ``bucket_cap_mb`` MB, one collective each) through
``backprop.distributed``: MPI for CPU tensors, NCCL for CUDA tensors.

How the reduction hooks into backward: a gradient hook on every parameter copies the parameter's
whole local gradient (what ``.grad`` holds plus the new contribution, so ``no_sync`` accumulation is
included) into its bucket slot; the engine runs leaf hooks after the backward walk, one leaf at a
time, so when the last parameter's hook fires, all others have their local ``.grad`` and every
bucket is full. That hook reduces the buckets and writes the averages into every ``.grad``.
"""

from __future__ import annotations

import contextlib
import inspect
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from backprop import cuda
from backprop import distributed as dist
from backprop.autograd.function import Node
from backprop.autograd.grad_mode import is_grad_enabled, no_grad
from backprop.devices import device as _device
from backprop.distributed.algorithms.join import Join, Joinable, JoinHook, _JoinConfig
from backprop.futures import Future
from backprop.nn.data_parallel import DataParallel
from backprop.nn.module import Module
from backprop.nn.parallel_functions import gather, parallel_apply, replicate, scatter, scatter_kwargs
from backprop.tensor import Tensor

__all__ = [
    "DataParallel",
    "DistributedDataParallel",
    "data_parallel",
    "gather",
    "parallel_apply",
    "replicate",
    "scatter",
    "scatter_kwargs",
]


def data_parallel(
    module: Module, inputs: Any, device_ids: Any = None, output_device: Any = None, dim: int = 0,
    module_kwargs: Any = None,
) -> Any:  # fmt: skip
    """``DataParallel(module, device_ids, output_device, dim)`` applied once to ``inputs`` (a tensor or a tuple)
    with ``module_kwargs``; without CUDA torch's error (it finds no device type to run on)."""
    if not cuda.is_available():
        raise RuntimeError("device type could not be determined")
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    return DataParallel(module, device_ids, output_device, dim)(*args, **(module_kwargs or {}))


class _Bucket:
    """Parameters of one device and dtype whose gradients travel together in one flat buffer."""

    def __init__(self, indices: list[int], params: Sequence[Tensor]) -> None:
        self.indices = indices
        self.offsets: list[int] = []
        n = 0
        for i in indices:
            self.offsets.append(n)
            n += params[i].numel()
        self.numel = n
        p = params[indices[0]]
        self.device, self.dtype = p.device, p.dtype
        self.flat: Any = None  # allocated at the first reduction

    def buffer(self) -> Any:
        if self.flat is None:
            self.flat = self.device.xp.empty(self.numel, dtype=self.dtype)
        return self.flat


class DistributedDataParallel(Module, Joinable):
    """Wrap ``module`` so that backward averages its gradients over the ranks of ``backprop.distributed``.

    At construction every rank checks that all ranks hold parameters of the same names, shapes and
    dtypes (an error names the first rank and parameter that differ, on every rank), then takes rank
    0's parameters and buffers. ``broadcast_buffers`` re-sends rank 0's buffers at each forward, as
    torch. A parameter that requires grad but gets none in a backward is an error at the next forward
    (torch's default), unless ``find_unused_parameters=True``: then such parameters are found at
    forward time and reduced as zeros (a parameter no rank used keeps its ``.grad`` as it was).
    ``deterministic`` (default: the process group's) sums the buckets in rank order, so results are
    the same bits run after run and equal to adding the ranks' gradients in one process. Averages are
    ``(g_0 + g_1 + ... + g_{n-1}) / n``. ``register_comm_hook`` replaces that reduction (torch's hooks:
    ``backprop.distributed.algorithms.ddp_comm_hooks``, e.g. float16 compression). ``with model.join():``
    (or ``Join([model, ...])``) trains with uneven inputs: see ``join``.
    """

    # (class defaults, so that __init__ needs no change: Join sets them per instance)
    _join_config = _JoinConfig.construct_disabled_join_config()
    _divide_by_initial_world_size = True
    _join_sync_ranks = 0  # under Join: how many ranks reduce gradients this iteration

    def __init__(
        self,
        module: Module,
        device_ids: list[int] | None = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        init_sync: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        device_mesh: Any = None,
        deterministic: bool | None = None,
    ) -> None:
        super().__init__()
        if process_group and device_mesh is not None:
            raise RuntimeError("Cannot specify both process_group and device_mesh arguments.")
        if device_mesh is not None:  # (torch's: a 1-D mesh, whose group the gradients are averaged over)
            if device_mesh.ndim != 1:
                raise RuntimeError(f"Only 1D device mesh is supported, but got {device_mesh}.")
            self.device_mesh = device_mesh
            process_group = device_mesh.get_group(mesh_dim=0)
        if not dist.is_initialized():
            raise RuntimeError(
                "DistributedDataParallel: call backprop.distributed.init_process_group() first "
                "(a single process without a launcher is a world of one)"
            )
        if gradient_as_bucket_view:
            raise ValueError("DistributedDataParallel: gradient_as_bucket_view=True is not supported")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.bucket_cap_mb = 4.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self.deterministic = deterministic
        self.process_group = process_group  # (None: the default group; else a new_group, whose ranks this reduces over)
        self.world_size = dist.get_world_size(process_group)
        self._src = dist.get_global_rank(process_group, 0) if process_group is not None and self.world_size > 0 else 0
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self.stats = {"reductions": 0, "collectives": 0, "seconds": 0.0}  # gradient reductions so far
        self._arrived: list[bool] = [False] * len(self._params)
        self._n_arrived = 0
        self._expecting = False  # a forward with gradient sync happened; its backward reduces
        self._buckets: list[_Bucket] = []
        self._slot: list[tuple[_Bucket, int]] = []
        self._comm_hook: tuple[Any, Any] | None = None  # (state, hook) of register_comm_hook
        self._active = self.world_size > 1  # buckets and gradient hooks in place (a world of one: with a comm hook)
        if self.world_size > 1:
            self._check_same_parameters()
            if init_sync:
                with no_grad():
                    for t in [*module.parameters(), *module.buffers()]:
                        dist.broadcast(t, self._src, group=process_group)
            self._make_buckets()
            self._register_hooks()

    # ------------------------------------------------------------ setup
    def _check_same_parameters(self) -> None:
        """Every rank must hold the same parameters and buffers (names, shapes, dtypes); say who differs."""
        mine = [(n, tuple(t.shape), str(t.dtype)) for n, t in self.module.named_parameters()]
        mine += [(n, tuple(t.shape), str(t.dtype)) for n, t in self.module.named_buffers()]
        everyone: list[Any] = [None] * self.world_size
        dist.all_gather_object(everyone, mine, group=self.process_group)
        ref = everyone[0]
        for rank, theirs in enumerate(everyone[1:], 1):
            for i in range(max(len(ref), len(theirs))):
                a: Any = ref[i] if i < len(ref) else None
                b: Any = theirs[i] if i < len(theirs) else None
                if a == b:
                    continue
                if b is None:
                    what = f"rank {rank} has no tensor {a[0]!r} (rank 0 has it, shape {a[1]})"
                elif a is None:
                    what = f"rank {rank} has an extra tensor {b[0]!r} of shape {b[1]}"
                elif a[0] != b[0]:
                    what = f"tensor {i} is {b[0]!r} on rank {rank} but {a[0]!r} on rank 0"
                else:
                    what = (
                        f"rank {rank}'s {b[0]!r} has shape {b[1]}, dtype {b[2]}; "
                        f"rank 0's has shape {a[1]}, dtype {a[2]}"
                    )
                raise RuntimeError(f"DistributedDataParallel: the ranks hold different models: {what}")

    def _make_buckets(self) -> None:
        """Buckets of about ``bucket_cap_mb`` MB, parameters in reverse order (roughly the order of backward)."""
        cap = self.bucket_cap_mb * 2**20
        open_: dict[tuple[Any, Any], list[int]] = {}
        sizes: dict[tuple[Any, Any], int] = {}
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            key = (p.device, p.dtype)
            nbytes = p.numel() * p.dtype.itemsize
            if key in open_ and sizes[key] + nbytes > cap:
                self._buckets.append(_Bucket(sorted(open_.pop(key)), self._params))  # (module order inside: torch's)
            if key not in open_:
                open_[key], sizes[key] = [], 0
            open_[key].append(i)
            sizes[key] += nbytes
        self._buckets.extend(_Bucket(sorted(idx), self._params) for idx in open_.values())
        self._slot = [None] * len(self._params)  # type: ignore[list-item]
        for b in self._buckets:
            for i, off in zip(b.indices, b.offsets):
                self._slot[i] = (b, off)

    def _register_hooks(self) -> None:
        ref = weakref.ref(self)

        def make(i: int) -> Any:
            def hook(grad: Tensor) -> Tensor | None:
                me = ref()
                return None if me is None else me._on_grad(i, grad)

            hook.__name__ = "DistributedDataParallel.reduce"
            return hook

        handles = [p.register_hook(make(i)) for i, p in enumerate(self._params)]
        weakref.finalize(self, _remove_all, handles)

    def register_comm_hook(self, state: object, hook: Any) -> None:
        """Reduce every bucket with ``hook(state, bucket: GradBucket) -> Future[Tensor]`` instead of the built-in
        all-reduce and average; the future's tensor becomes the bucket's gradients (the hook averages itself)."""
        self._check_comm_hook(hook)
        if self._comm_hook is not None:
            raise RuntimeError("register_comm_hook or register_builtin_comm_hook can only be called once.")
        self._comm_hook = (state, hook)
        if not self._active:  # a world of one: torch calls the hook there too
            self._make_buckets()
            self._register_hooks()
            self._active = True

    def _check_comm_hook(self, hook: Any) -> None:
        """torch's checks: callable, a ``bucket`` parameter, annotations (when given) of GradBucket and Future."""
        if not callable(hook):
            raise TypeError("Communication hook must be callable.")
        sig = inspect.signature(hook)
        ann = sig.parameters["bucket"].annotation  # (torch's KeyError when the hook has no ``bucket`` parameter)
        if ann is not inspect.Parameter.empty and not _names(ann, "GradBucket"):
            raise ValueError("Communication hook: bucket annotation should be dist.GradBucket.")
        ret = sig.return_annotation
        if ret is not inspect.Signature.empty and not _names(ret, "Future"):
            raise ValueError("Communication hook: return annotation should be torch.futures.Future[torch.Tensor].")
        if getattr(hook, "__name__", "") in ("bf16_compress_hook", "bf16_compress_wrapper_hook") and any(
            p.device.type == "cuda" for p in self._params
        ):
            raise TypeError("BF16 all reduce communication hook: CuPy has no bfloat16; use fp16_compress_hook on CUDA")

    # ------------------------------------------------------------ forward
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes of forwards run inside only accumulate local gradients (gradient accumulation)."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped module's forward; with grad enabled (and outside ``no_sync``) its backward reduces."""
        Join.notify_join_context(self)  # (torch's order: notify, buffers, then whether backward syncs)
        if self._active:
            self._start_iteration()
            if self.broadcast_buffers and self.world_size > 1:
                self._sync_buffers(joined=False)
            if self._join_config.enable:
                self._check_global_requires_backward_grad_sync(is_joined_rank=False)
        out = self.module(*args, **kwargs)
        if self._expecting and self.find_unused_parameters:
            self._mark_unused(out)
        return out

    def _start_iteration(self) -> None:
        if self._n_arrived:
            missing = [n for n, got in zip(self._names, self._arrived) if not got]
            raise RuntimeError(
                f"DistributedDataParallel (rank {dist.get_rank()}): the previous backward gave no gradient to "
                f"{missing}, so the gradients were not reduced. Use every parameter in the loss, set "
                "requires_grad=False on those that are not trained, or pass find_unused_parameters=True."
            )
        self._expecting = is_grad_enabled() and self.require_backward_grad_sync and bool(self._params)

    def _mark_unused(self, out: Any) -> None:
        """Parameters the output does not depend on count as arrived now, with their local ``.grad``."""
        reached = _leaves_reached(out)
        self._used = [id(p) in reached for p in self._params]
        for i in range(len(self._params)):
            if not self._used[i]:
                self._arrived[i] = True
                self._n_arrived += 1
                self._fill(i, None)
        if self._n_arrived == len(self._params):  # nothing here needs a gradient: reduce now (zeros)
            self._reduce(None)

    # ------------------------------------------------------------ backward
    def _fill(self, i: int, grad: Any) -> None:
        """Copy parameter ``i``'s whole local gradient (``.grad`` plus ``grad``) into its bucket slot."""
        bucket, off = self._slot[i]
        p = self._params[i]
        dst = bucket.buffer()[off : off + p.numel()]
        have = p.grad._data if p.grad is not None else None
        if grad is None:
            dst[...] = 0 if have is None else have.reshape(-1)
        elif have is None:
            dst[...] = grad.reshape(-1)
        else:
            dst[...] = (have + grad).reshape(-1)  # what the engine would accumulate: the same sum

    def _on_grad(self, i: int, grad: Tensor) -> Tensor | None:
        if not self._expecting:
            return None  # no_sync, or a backward through a graph not built by our forward
        if self._arrived[i]:
            raise RuntimeError(
                f"DistributedDataParallel: parameter {self._names[i]!r} got a gradient twice after one forward; "
                "each backward needs its own forward through the wrapper (or use no_sync())"
            )
        self._arrived[i] = True
        self._n_arrived += 1
        self._fill(i, grad._data)
        if self._n_arrived < len(self._params):
            return None  # the engine accumulates it into .grad; overwritten with the average below
        return self._reduce(i)

    def _reduce(self, last: int | None) -> Tensor | None:
        """All-reduce every bucket, average, write the results into ``.grad``; the last parameter's result."""
        try:
            return self._reduce_buckets(last)
        finally:
            self._arrived = [False] * len(self._params)
            self._n_arrived = 0
            self._expecting = False

    def _reduce_buckets(self, last: int | None) -> Tensor | None:
        t0 = time.perf_counter()
        used = None
        if self.find_unused_parameters:
            flags = self._params[0].device.xp.asarray(self._used, dtype="int32") if self._params else None
            used_t = Tensor._wrap(flags, self._params[0].device, None)
            dist.all_reduce(used_t, dist.ReduceOp.MAX, group=self.process_group)
            used = used_t._data.tolist()
        with no_grad():
            if self._comm_hook is not None:
                self._run_comm_hook(*self._comm_hook)
            else:
                for b in self._buckets:
                    flat = Tensor._wrap(b.buffer(), b.device, None)
                    dist.all_reduce(flat, dist.ReduceOp.SUM, group=self.process_group, **self._det())
                    flat._data /= self._divisor()
        self.stats["reductions"] += 1
        self.stats["collectives"] += len(self._buckets)
        self.stats["seconds"] += time.perf_counter() - t0
        result = None
        for i, p in enumerate(self._params):
            if used is not None and not used[i]:
                continue  # no rank used it: its .grad stays as it was
            bucket, off = self._slot[i]
            avg = bucket.flat[off : off + p.numel()].reshape(p.shape)
            if i == last:
                p.grad = None  # the engine puts a copy of the average in .grad right after this hook
                result = Tensor._wrap(avg, p.device, None)
            elif p.grad is None:
                p.grad = Tensor._wrap(avg.copy(), p.device, None)
            else:
                p.grad._data[...] = avg
        return result

    def _run_comm_hook(self, state: Any, hook: Any) -> None:
        """Every bucket through ``hook``; then each future's tensor is copied into its bucket's buffer."""
        futures = []
        for k, b in enumerate(self._buckets):
            params = [self._params[i] for i in b.indices]
            bucket = dist.GradBucket(
                k, Tensor._wrap(b.buffer(), b.device, None), params, b.offsets, k == len(self._buckets) - 1
            )
            fut = hook(state, bucket)
            if not isinstance(fut, Future):
                raise RuntimeError(
                    "DDP communication hook's callback must return a torch.futures.Future object, but got "
                    f"{type(fut).__module__}.{type(fut).__qualname__}"
                )
            futures.append(fut)
        for k, (b, fut) in enumerate(zip(self._buckets, futures)):
            value = fut.wait()
            if not isinstance(value, Tensor):
                raise RuntimeError(
                    f"DistributedDataParallel: the communication hook's future for bucket {k} holds "
                    f"{type(value).__name__}; it must hold one Tensor (the bucket's reduced gradients)"
                )
            if value.numel() != b.numel:
                raise RuntimeError(
                    f"DistributedDataParallel: the communication hook's tensor for bucket {k} has {value.numel()} "
                    f"elements; the bucket has {b.numel}"
                )
            b.flat[...] = value._data.reshape(-1)

    def _divisor(self) -> int:
        """The world size; under ``join(divide_by_initial_world_size=False)`` the ranks still training."""
        if self._join_config.enable and not self._divide_by_initial_world_size and self._join_sync_ranks > 0:
            return self._join_sync_ranks
        return self.world_size

    # ------------------------------------------------------------ uneven inputs (torch's Join)
    def join(
        self, divide_by_initial_world_size: bool = True, enable: bool = True, throw_on_early_termination: bool = False
    ) -> Join:
        """Context manager for uneven inputs: a rank out of inputs shadows the others' collectives (zeros for its
        gradients) until all have joined, then every rank takes the model of the last rank to join.

        Averages divide by the world size, or (``divide_by_initial_world_size=False``) by the ranks still training;
        ``throw_on_early_termination=True``: every rank raises once one runs out. Wrap the training loop."""
        return Join(
            [self], enable, throw_on_early_termination, divide_by_initial_world_size=divide_by_initial_world_size
        )

    def join_hook(self, **kwargs: Any) -> JoinHook:
        """DDP's join hook (keyword ``divide_by_initial_world_size``, default True): its main hook issues the
        collectives of one forward and backward, with zero gradients; its post-hook syncs the final model."""
        return _DDPJoinHook(self, divide_by_initial_world_size=kwargs.get("divide_by_initial_world_size", True))

    @property
    def join_device(self) -> Any:
        """The device of the first parameter (the join context's flags live there)."""
        first = next(iter([*self._params, *self.module.parameters(), *self.module.buffers()]), None)
        return first.device if first is not None else _device("cpu")

    @property
    def join_process_group(self) -> Any:
        """The process group the gradients are reduced over (the default group's object when none was given)."""
        return self.process_group if self.process_group is not None else dist.group.WORLD

    def _global_rank(self, group_rank: int) -> int:
        return dist.get_global_rank(self.process_group, group_rank) if self.process_group is not None else group_rank

    def _find_common_rank(self, input_rank: int, rank_cond: bool) -> int:
        """The largest (group) rank among those with ``rank_cond`` (an all-reduce MAX)."""
        dev = self.join_device
        t = Tensor._wrap(dev.xp.asarray([input_rank if rank_cond else -1], dtype="int64"), dev, None)
        dist.all_reduce(t, dist.ReduceOp.MAX, group=self.process_group)
        rank = int(t._data[0])
        if rank == -1:
            raise ValueError(
                "BUG! Expected rank_cond to be true for at least one process. "
                "This indicates a bug in PyTorch, please report an issue."
            )
        return rank

    def _sync_buffers(self, joined: bool) -> None:
        """Broadcast the buffers from rank 0; under ``Join`` from the largest rank still training (torch's)."""
        buffers = list(self.module.buffers())
        if not buffers:
            return
        src = self._src
        if self._join_config.enable:
            src = self._global_rank(self._find_common_rank(dist.get_rank(self.process_group), not joined))
        with no_grad():
            for b in buffers:
                dist.broadcast(b, src, group=self.process_group)

    def _check_global_requires_backward_grad_sync(self, is_joined_rank: bool) -> bool | None:
        """All-reduce whether each rank's backward reduces (1) or not (0, also for joined ranks); the sum is the
        divisor of ``divide_by_initial_world_size=False``. On a joined rank: whether to shadow the backward.
        (torch's ranks send ``require_backward_grad_sync``, also for forwards under ``no_grad``.)"""
        dev = self.join_device
        flag = 1.0 if not is_joined_rank and self._expecting else 0.0
        t = Tensor._wrap(dev.xp.full(1, flag, dtype="float32"), dev, None)
        dist.all_reduce(t, group=self.process_group)
        self._join_sync_ranks = int(t._data[0])
        return self._join_sync_ranks != 0 if is_joined_rank else None

    def _match_all_reduce_for_bwd_pass(self) -> None:
        """A joined rank's backward: the flag all-reduce of ``find_unused_parameters`` and the bucket all-reduces
        (or the comm hook) with zero gradients; the averages land in ``.grad`` as on the ranks still training."""
        for b in self._buckets:
            b.buffer()[...] = 0
        self._used = [False] * len(self._params)
        self._reduce(None)

    def _sync_final_model(self, is_last_joiner: bool) -> None:
        """Every rank takes the parameters (and buffers, with ``broadcast_buffers``) of the last rank to join."""
        if self.world_size <= 1:
            return
        src = self._global_rank(self._find_common_rank(dist.get_rank(self.process_group), is_last_joiner))
        tensors = [*self.module.parameters(), *(self.module.buffers() if self.broadcast_buffers else ())]
        with no_grad():
            for t in tensors:
                dist.broadcast(t, src, group=self.process_group)

    def _det(self) -> dict[str, Any]:
        return {} if self.deterministic is None else {"deterministic": self.deterministic}

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, buckets={len(self._buckets)}"


class _DDPJoinHook(JoinHook):
    """torch's DDP join hook: each iteration the collectives of a forward and backward (zero gradients); at the end
    the model of the last rank to join."""

    def __init__(self, ddp: DistributedDataParallel, divide_by_initial_world_size: bool) -> None:
        if not isinstance(ddp, DistributedDataParallel):
            raise AssertionError(
                "DDP join hook requires passing in a DistributedDataParallel "
                f"instance as the state, got {type(ddp).__name__}"
            )
        self.ddp = ddp
        self.ddp._divide_by_initial_world_size = divide_by_initial_world_size
        super().__init__()

    def main_hook(self) -> None:
        """Shadow one forward (buffer broadcast, the sync flag) and, when the others reduce, their backward."""
        ddp = self.ddp
        if not ddp._active:
            return
        if ddp.broadcast_buffers and ddp.world_size > 1:
            ddp._sync_buffers(joined=True)
        if not ddp._check_global_requires_backward_grad_sync(is_joined_rank=True):
            return
        ddp._match_all_reduce_for_bwd_pass()

    def post_hook(self, is_last_joiner: bool) -> None:
        """Sync the final model, so that it is the same on all ranks."""
        self.ddp._sync_final_model(is_last_joiner)


def _names(annotation: Any, name: str) -> bool:
    """Whether a hook's annotation is ``name`` (our class, torch's, or the string of a postponed annotation)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None) or repr(annotation)
    return name in text


def _remove_all(handles: list[Any]) -> None:
    for h in handles:
        h.remove()


def _leaves_reached(out: Any) -> set[int]:
    """ids of the leaf tensors the autograd graph of ``out`` (tensors, nested in lists/tuples/dicts) reaches."""
    stack: list[Any] = [out]
    nodes: list[Node] = []
    leaves: set[int] = set()
    while stack:
        o = stack.pop()
        if isinstance(o, Tensor):
            if o.grad_fn is not None:
                nodes.append(o.grad_fn)
            elif o.requires_grad:
                leaves.add(id(o))
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
    seen: set[int] = set()
    while nodes:
        n = nodes.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        for e in n.edges:
            if e is None:
                continue
            if isinstance(e, Node):
                nodes.append(e)
            else:
                leaves.add(id(e))
    return leaves
