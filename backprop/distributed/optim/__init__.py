"""``torch.distributed.optim``: ``ZeroRedundancyOptimizer`` (ZeRO stage 1, optimizer state sharded over ranks).

Each rank builds the wrapped optimizer over its own partition of the parameters (torch's sorted-greedy partition,
per parameter group), so Adam's moments of a parameter live on one rank only; ``step()`` updates that partition
and broadcasts every parameter from its owner. Same arithmetic per parameter as the unsharded optimizer: under DDP
the parameters are bitwise those of DDP with the plain optimizer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from backprop import distributed as dist
from backprop.autograd.function import bump_version
from backprop.autograd.grad_mode import no_grad
from backprop.distributed.algorithms.join import Join, Joinable, JoinHook, _JoinConfig
from backprop.optim.optimizer import Optimizer
from backprop.tensor import Tensor

__all__ = ["ZeroRedundancyOptimizer"]


def _snapshot(value: Any) -> Any:
    """A copy of a state value (Tensors cloned, containers walked), so a consolidated state is not live."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return copy.copy(value)


class _ZeROJoinHook(JoinHook):
    """torch's ZeRO join hook: a rank that ran out of inputs still steps (its shard) and broadcasts.

    Under ``Join([ddp_model, zero])`` DDP's join hook first leaves the averaged gradients in the joined rank's
    ``.grad`` (torch's leaves its last own ones), so the shard it owns gets the same update as on one process."""

    def __init__(self, zero: ZeroRedundancyOptimizer) -> None:
        if not isinstance(zero, ZeroRedundancyOptimizer):
            raise AssertionError("ZeRO join hook requires passing in a ZeroRedundancyOptimizer instance as the state")
        self.zero = zero
        super().__init__()

    def main_hook(self) -> None:
        """One optimizer step, shadowing the other ranks' ``step()`` collectives."""
        self.zero.step()

    def post_hook(self, is_last_joiner: bool) -> None:
        """Nothing to do after the join (as torch's)."""


class ZeroRedundancyOptimizer(Optimizer, Joinable):
    """Wrap ``optimizer_class`` and shard its state over the ranks of ``process_group`` (torch's ZeRO-1).

    ``param_groups`` lists every parameter (hyper-parameters kept in sync with the local optimizer's groups);
    ``self.optim`` is the local optimizer over this rank's partition. ``overlap_with_ddp=True`` is not supported.
    A ``Joinable``: ``Join([ddp_model, zero])`` trains with uneven inputs (a joined rank still steps its share).
    """

    _join_config = _JoinConfig.construct_disabled_join_config()  # (Join sets it per instance)

    def __init__(
        self,
        params: Iterable[Any],
        optimizer_class: type[Optimizer],
        process_group: Any | None = None,
        parameters_as_bucket_view: bool = False,
        overlap_with_ddp: bool = False,
        **defaults: Any,
    ) -> None:
        params = self._verify_and_init_params(params)
        self._verify_same_dense_param_type()
        if overlap_with_ddp:
            raise NotImplementedError(
                "ZeroRedundancyOptimizer(overlap_with_ddp=True) is not supported in backprop: it needs DDP "
                "communication hooks (ddp_zero_hook.py); call step() after backward() instead"
            )
        self.initialized = False
        Optimizer.__init__(self, params, defaults)
        self._param_to_rank_cache: dict[Tensor, int] = {}
        self._param_to_index_cache: dict[Tensor, int] = {}
        self._partition_parameters_cache: list[list[dict[str, Any]]] = []
        self._index_to_param_cache: list[Tensor] = []
        self._default_device = self._all_params[0].device

        self.process_group = process_group if process_group is not None else dist.group.WORLD
        self.world_size: int = dist.get_world_size(self.process_group)
        self.rank: int = dist.get_rank(self.process_group)
        self.global_rank: int = dist.get_global_rank(self.process_group, self.rank)

        self._overlap_with_ddp = overlap_with_ddp
        self._optim_defaults = defaults
        self._optim_constructor = optimizer_class
        self._init_local_optimizer()

        # parameters_as_bucket_view=True: each rank's trainable parameters travel as one flat buffer per step (one
        # broadcast per rank instead of one per parameter); unlike torch's, .data is not re-pointed into the bucket
        self.parameters_as_bucket_view = parameters_as_bucket_view
        self._all_state_dicts: list[dict[str, Any]] = []
        self.initialized = True

    # ------------------------------------------------------------------ partition (torch's sorted greedy)
    def _clear_cache(self) -> None:
        self._partition_parameters_cache.clear()
        self._param_to_rank_cache.clear()
        self._index_to_param_cache.clear()
        self._param_to_index_cache.clear()

    @staticmethod
    def _get_min_index(values: list[int], disallowed_indices: set[int] | None = None) -> int:
        min_index, min_value = -1, float("inf")
        for i, value in enumerate(values):
            if disallowed_indices and i in disallowed_indices:
                continue
            if value < min_value:
                min_value, min_index = value, i
        if min_index < 0:
            raise AssertionError("All indices are disallowed")
        return min_index

    def _partition_param_group(self, param_group: dict[str, Any], params_per_rank: list[list[Tensor]]) -> None:
        names = dict(zip(map(id, param_group["params"]), param_group.get("param_names", ())))
        for rank, params in enumerate(params_per_rank):
            rank_param_group = copy.copy(param_group)
            rank_param_group["params"] = params
            if "param_names" in param_group:
                rank_param_group["param_names"] = [names[id(p)] for p in params]
            self._partition_parameters_cache[rank].append(rank_param_group)

    def _partition_parameters(self, params_per_rank: list[list[Tensor]] | None = None) -> list[list[dict[str, Any]]]:
        """Each rank's param groups: every group's parameters, largest first, each to the least-loaded rank so far
        (numel counted over all groups), as torch's; or the manual ``params_per_rank`` (one group only)."""
        if params_per_rank is None:
            if len(self._partition_parameters_cache) == 0:
                self._partition_parameters_cache = [[] for _ in range(self.world_size)]
                sizes = [0] * self.world_size
                for param_group in self.param_groups:
                    per_rank: list[list[Tensor]] = [[] for _ in range(self.world_size)]
                    for param in sorted(param_group["params"], key=lambda t: t.numel(), reverse=True):
                        rank = self._get_min_index(sizes)
                        per_rank[rank].append(param)
                        sizes[rank] += param.numel()
                    self._partition_param_group(param_group, per_rank)
            return self._partition_parameters_cache
        if len(self._partition_parameters_cache) != 0:
            raise AssertionError(
                "Specifying `params_per_rank` should only be done when the parameters have not been partitioned yet"
            )
        if len(self.param_groups) != 1:
            raise RuntimeError("Specifying `params_per_rank` only supports a single parameter group")
        if len(params_per_rank) != self.world_size:
            raise ValueError("`params_per_rank` must have length equal to the world size")
        known = {id(p) for p in self._all_params}
        if any(id(p) not in known for params in params_per_rank for p in params):
            raise ValueError(
                "Passing a new parameter in `params_per_rank` that was not passed into the "
                "ZeroRedundancyOptimizer constructor"
            )
        self._partition_parameters_cache = [[] for _ in range(self.world_size)]
        self._partition_param_group(self.param_groups[0], params_per_rank)
        return self._partition_parameters_cache

    @property
    def _param_to_rank(self) -> dict[Tensor, int]:
        if len(self._param_to_rank_cache) == 0:
            for rank, param_groups in enumerate(self._partition_parameters()):
                for param_group in param_groups:
                    for param in param_group["params"]:
                        self._param_to_rank_cache[param] = rank
        return self._param_to_rank_cache

    @property
    def _param_to_index(self) -> dict[Tensor, int]:
        if len(self._param_to_index_cache) == 0:
            params = chain.from_iterable(g["params"] for g in self.param_groups)
            self._param_to_index_cache = {p: i for i, p in enumerate(params)}
        return self._param_to_index_cache

    @property
    def _index_to_param(self) -> list[Tensor]:
        if len(self._index_to_param_cache) == 0:
            self._index_to_param_cache = list(chain.from_iterable(g["params"] for g in self.param_groups))
        return self._index_to_param_cache

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to every rank's view and this rank's share of it to the local optimizer (call on all ranks)."""
        super().add_param_group(param_group)
        if self.__dict__.get("initialized"):
            self._all_params.extend(self.param_groups[-1]["params"])
            self._clear_cache()
            param_groups = self._partition_parameters()[self.rank]
            if len(param_groups) == len(self.optim.param_groups) + 1:
                self.optim.add_param_group(param_groups[-1])

    @staticmethod
    def _sync_param_groups(src_param_groups: list[dict[Any, Any]], dst_param_groups: list[dict[Any, Any]]) -> None:
        if len(src_param_groups) != len(dst_param_groups):
            raise AssertionError("Mismatch between number of source and destination parameter groups")
        for src, dst in zip(src_param_groups, dst_param_groups):
            for attr in src:
                if attr not in ("params", "param_names"):
                    dst[attr] = src[attr]

    def _init_local_optimizer(self) -> None:
        param_groups = self._partition_parameters()[self.rank]
        # (the groups, not a flat list: a rank whose partition is empty still gets an optimizer, as torch's)
        self.optim: Optimizer = self._optim_constructor(param_groups, **self._optim_defaults)
        self._sync_param_groups(self.optim.param_groups, self.param_groups)

    # ------------------------------------------------------------------ steps
    def _local_step(self, closure: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        Join.notify_join_context(self)
        self._sync_param_groups(self.param_groups, self.optim.param_groups)
        loss = self.optim.step(**kwargs) if closure is None else self.optim.step(closure=closure, **kwargs)
        self._sync_param_groups(self.optim.param_groups, self.param_groups)
        return loss

    def _broadcast_params_from_rank(self, rank: int) -> list[Any]:
        src = dist.get_global_rank(self.process_group, rank)
        params = [p for group in self._partition_parameters()[rank] for p in group["params"]]
        if not self.parameters_as_bucket_view:
            return [dist.broadcast(p, src=src, group=self.process_group, async_op=True) for p in params]
        trainable = [p for p in params if p.requires_grad]
        if not trainable:
            return []
        flat = trainable[0].device.xp.concatenate([p._data.reshape(-1) for p in trainable])
        handle = dist.broadcast(Tensor._wrap(flat, trainable[0].device, None), src, self.process_group, True)
        if rank != self.rank:  # (the owner's parameters already hold these values)
            offset = 0
            for p in trainable:
                n = p._data.size
                p._data[...] = flat[offset : offset + n].reshape(p._data.shape)
                bump_version(p)
                offset += n
        return [handle]

    @no_grad()
    def _sync_params(self) -> None:
        """Every parameter from the rank that owns it (one broadcast per parameter, or per rank with buckets)."""
        if self.world_size == 1:
            return
        handles: list[Any] = []
        for rank in range(self.world_size):
            handles.extend(self._broadcast_params_from_rank(rank))
        for h in handles:
            h.wait()

    def step(self, closure: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        """Update this rank's partition with the local optimizer, then broadcast every partition from its owner."""
        loss = self._local_step(closure=closure, **kwargs)
        self._sync_params()
        return loss

    # ------------------------------------------------------------------ state dicts
    def consolidate_state_dict(self, to: int = 0) -> None:
        """Gather every rank's local optimizer state on rank ``to`` (of the group), for ``state_dict()`` there.

        Call it on all ranks."""
        self._sync_param_groups(self.param_groups, self.optim.param_groups)
        local = self.optim.state_dict()
        gathered: list[Any] | None = [None] * self.world_size if self.rank == to else None
        if self.rank == to:
            local = _snapshot(local)
        dst = dist.get_global_rank(self.process_group, to)
        dist.gather_object(local, gathered, dst=dst, group=self.process_group)
        if self.rank == to:
            assert gathered is not None
            gathered[self.rank] = local
            self._all_state_dicts = gathered
        else:
            self._all_state_dicts = []

    def state_dict(self) -> dict[str, Any]:
        """The whole optimizer's state, in the unsharded optimizer's format (global parameter indices), as last
        consolidated on this rank (``consolidate_state_dict(to=this rank)`` first, on all ranks)."""
        if len(self._all_state_dicts) == 0:
            raise RuntimeError(
                "Optimizer state has not been consolidated on this rank. "
                f"Please call `consolidate_state_dict(to={self.rank})` on "
                "all ranks beforehand if you meant to save the global state."
            )
        state_dict = super().state_dict()
        for rank, local_state_dict in enumerate(self._all_state_dicts):
            local_param_groups = local_state_dict["param_groups"]
            global_param_groups = self._partition_parameters()[rank]
            if len(local_param_groups) != len(global_param_groups):
                raise AssertionError("Mismatch between number of local and global parameter groups")
            for local_group, global_group in zip(local_param_groups, global_param_groups):
                if len(local_group["params"]) != len(global_group["params"]):
                    raise AssertionError("Mismatch between number of local and global parameters in parameter group")
                for local_index, global_param in zip(local_group["params"], global_group["params"]):
                    if local_index in local_state_dict["state"]:
                        state_dict["state"][self._param_to_index[global_param]] = local_state_dict["state"][local_index]
        state_dict["state"] = dict(sorted(state_dict["state"].items()))
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()`` (or the unsharded optimizer's): this rank keeps its partition's state only."""
        # the groups' hyper-parameters (checked against these groups) onto the exposed param_groups, no state here
        super().load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        local_groups: list[dict[str, Any]] = []
        local_state: dict[int, Any] = {}
        local_index = 0  # (the local optimizer's own indices: its groups' parameters in order)
        for theirs, mine in zip(state_dict["param_groups"], self._partition_parameters()[self.rank]):
            group: dict[str, Any] = {k: v for k, v in theirs.items() if k not in ("params", "param_names")}
            indices: list[int] = []
            for p in mine["params"]:
                value = state_dict["state"].get(self._param_to_index[p])
                if value is not None:
                    local_state[local_index] = value
                indices.append(local_index)
                local_index += 1
            group["params"] = indices
            if "param_names" in mine:
                group["param_names"] = mine["param_names"]
            local_groups.append(group)
        self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})
        self._sync_param_groups(self.param_groups, self.optim.param_groups)

    # ------------------------------------------------------------------ torch's Joinable face
    def join_hook(self, **_kwargs: Any) -> JoinHook:
        """The ZeRO join hook (its ``main_hook`` steps, shadowing the collectives of ``step``)."""
        return _ZeROJoinHook(self)

    @property
    def join_device(self) -> Any:
        """The device of the first parameter."""
        return self._default_device

    @property
    def join_process_group(self) -> Any:
        """The process group the parameters are broadcast over."""
        return self.process_group

    # ------------------------------------------------------------------ input checks (torch's errors)
    def _verify_and_init_params(self, params: Any) -> list[Any]:
        if isinstance(params, Tensor):
            raise TypeError(f"`params` argument should be an iterable of Tensors, but got {params.type()}")
        try:
            all_params = list(params)
        except TypeError as e:
            raise TypeError(
                f"`params` argument should be an iterable of Tensors or dicts, but got {_typename(params)}"
            ) from e
        if len(all_params) == 0:
            raise ValueError("ZeroRedundancyOptimizer got an empty parameter list")
        all_tensors = all(isinstance(p, Tensor) for p in all_params)
        all_dicts = all(isinstance(p, dict) for p in all_params)
        if not all_tensors and not all_dicts:
            raise TypeError("`params` argument should be an iterable of Tensors or dicts")
        if all_tensors:
            self._all_params: list[Tensor] = all_params
        else:
            self._all_params = []
            for i, param_group in enumerate(all_params):
                if "params" not in param_group:
                    raise ValueError(
                        "Each parameter group passed-in via `params` must have a 'params' key mapping to the "
                        "parameters in the group"
                    )
                group_params = param_group["params"]
                group_params = [group_params] if isinstance(group_params, Tensor) else list(group_params)
                all_params[i] = {**param_group, "params": group_params}  # (a generator is read once, here)
                self._all_params.extend(p[1] if isinstance(p, tuple) and len(p) == 2 else p for p in group_params)
        return all_params

    def _verify_same_dense_param_type(self) -> None:
        typename = self._all_params[0].type()
        if self._all_params[0].is_sparse:
            raise ValueError(
                f"ZeroRedundancyOptimizer only supports using the same dense type for all parameters but got {typename}"
            )
        for param in self._all_params[1:]:
            other_typename = param.type()
            if other_typename != typename:
                raise ValueError(
                    "ZeroRedundancyOptimizer only supports using the same dense type for all "
                    f"parameters but got both {typename} and {other_typename}"
                )


def _typename(obj: Any) -> str:
    module = type(obj).__module__
    return type(obj).__qualname__ if module == "builtins" else f"{module}.{type(obj).__qualname__}"
