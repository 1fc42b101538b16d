"""torch's parallel styles (``torch.distributed.tensor.parallel.style``): how a module's parameters are laid out
and its inputs/outputs converted, through ``distribute_module``'s partition function and forward hooks."""

from __future__ import annotations

from functools import partial
from typing import Any

from backprop import nn
from backprop.distributed.device_mesh import DeviceMesh
from backprop.distributed.tensor import DTensor, Placement, Replicate, Shard, distribute_tensor
from backprop.distributed.tensor.parallel._distribute import distribute_module
from backprop.tensor import Tensor

__all__ = [
    "ColwiseParallel",
    "ParallelStyle",
    "PrepareModuleInput",
    "PrepareModuleInputOutput",
    "PrepareModuleOutput",
    "RowwiseParallel",
    "SequenceParallel",
]


def _param(d: DTensor, requires_grad: bool) -> Any:
    from backprop.distributed.fsdp._fully_shard import DTensorParameter

    return DTensorParameter.of(d, requires_grad=requires_grad)


class ParallelStyle:
    """The contract: ``_apply(module, device_mesh)`` parallelizes ``module`` in place and returns it."""

    src_data_rank: int | None = 0

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        raise NotImplementedError


def _to_dtensor(x: Any, mesh: DeviceMesh, layout: Placement, desired: Placement | None) -> Any:
    if not isinstance(x, DTensor):
        x = DTensor.from_local(x, mesh, [layout], run_check=False)
    if desired is not None and layout != desired:
        x = x.redistribute(placements=[desired])
    return x


class _LinearStyle(ParallelStyle):
    input_layouts: tuple[Placement, ...]
    output_layouts: tuple[Placement, ...]
    desired_input_layouts: tuple[Placement, ...]
    use_local_output: bool

    @staticmethod
    def _prepare_input_fn(input_layouts: Any, desired: Any, mod: nn.Module, inputs: Any, mesh: DeviceMesh) -> Any:
        x = inputs[0]
        if not isinstance(x, DTensor):
            x = DTensor.from_local(x, mesh, input_layouts, run_check=False)
        if input_layouts != desired:
            x = x.redistribute(placements=desired)
        return x

    @staticmethod
    def _prepare_output_fn(output_layouts: Any, use_local: bool, mod: nn.Module, outputs: Any, mesh: Any) -> Any:
        if outputs.placements != output_layouts:
            outputs = outputs.redistribute(placements=output_layouts)
        return outputs.to_local() if use_local else outputs

    def _shard_params(self, module: nn.Module, mesh: DeviceMesh, placements: dict[str, Placement]) -> None:
        for name, param in list(module.named_parameters(recurse=False)):
            d = distribute_tensor(param.detach(), mesh, [placements[name]], src_data_rank=self.src_data_rank)
            module.register_parameter(name, _param(d, param.requires_grad))

    def _hooks(self, module: nn.Module, mesh: DeviceMesh, partition: Any) -> nn.Module:
        return distribute_module(
            module,
            mesh,
            partition,
            partial(self._prepare_input_fn, self.input_layouts, self.desired_input_layouts),
            partial(self._prepare_output_fn, self.output_layouts, self.use_local_output),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_layouts={self.input_layouts}, output_layouts={self.output_layouts}, "
            f"use_local_output={self.use_local_output})"
        )


class ColwiseParallel(_LinearStyle):
    """A Linear's weight and bias sharded on dim 0 (an Embedding's weight on dim 1): input Replicate (by
    default), output sharded on its last dim (a local tensor unless ``use_local_output=False``)."""

    def __init__(
        self,
        *,
        input_layouts: Placement | None = None,
        output_layouts: Placement | None = None,
        use_local_output: bool = True,
    ) -> None:
        self.input_layouts = (input_layouts or Replicate(),)
        self.output_layouts = (output_layouts or Shard(-1),)
        self.desired_input_layouts = (Replicate(),)
        self.use_local_output = use_local_output

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        if isinstance(module, nn.Linear):
            places: dict[str, Placement] = {"weight": Shard(0), "bias": Shard(0)}
        elif isinstance(module, nn.Embedding):
            places = {"weight": Shard(1)}
        else:
            raise NotImplementedError("ColwiseParallel currently only support nn.Linear and nn.Embedding!")
        return self._hooks(module, device_mesh, lambda n, m, mesh: self._shard_params(m, mesh, places))


class RowwiseParallel(_LinearStyle):
    """A Linear's weight sharded on dim 1, bias replicated (an Embedding's weight on dim 0): input sharded on its
    last dim (by default), output Replicate (the Partial sum all-reduced; ``output_layouts=Shard(1)``: scattered)."""

    def __init__(
        self,
        *,
        input_layouts: Placement | None = None,
        output_layouts: Placement | None = None,
        use_local_output: bool = True,
    ) -> None:
        self.input_layouts = (input_layouts or Shard(-1),)
        self.output_layouts = (output_layouts or Replicate(),)
        self.use_local_output = use_local_output

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        if isinstance(module, nn.Linear):
            places: dict[str, Placement] = {"weight": Shard(1), "bias": Replicate()}
            self.desired_input_layouts = (Shard(-1),)
        elif isinstance(module, nn.Embedding):
            places = {"weight": Shard(0)}
            self.desired_input_layouts = (Replicate(),)
        else:
            raise NotImplementedError("RowwiseParallel currently only support nn.Linear and nn.Embedding!")
        return self._hooks(module, device_mesh, lambda n, m, mesh: self._shard_params(m, mesh, places))


class SequenceParallel(ParallelStyle):
    """Parameters replicated; the input taken (or redistributed) as sharded on ``sequence_dim``, the module run on
    it (LayerNorm, RMSNorm, Dropout), the output left sharded (a DTensor unless ``use_local_output``)."""

    def __init__(self, *, sequence_dim: int = 1, use_local_output: bool = False) -> None:
        self.sequence_sharding = (Shard(sequence_dim),)
        self.use_local_output = use_local_output

    def _replicate(self, name: str, module: nn.Module, mesh: DeviceMesh) -> None:
        for p_name, param in list(module.named_parameters(recurse=False)):
            d = DTensor.from_local(param.detach(), mesh, [Replicate()], run_check=False)
            module.register_parameter(p_name, _param(d, param.requires_grad))

    @staticmethod
    def _prepare_input_fn(sequence_sharding: Any, mod: nn.Module, inputs: Any, mesh: DeviceMesh) -> Any:
        x = inputs[0]
        if isinstance(x, DTensor):
            return x if x.placements == sequence_sharding else x.redistribute(placements=sequence_sharding)
        if isinstance(x, Tensor):
            return DTensor.from_local(x, mesh, sequence_sharding, run_check=False)
        raise ValueError(f"expecting input of {mod} to be a torch.Tensor or DTensor, but got {x}")

    @staticmethod
    def _prepare_output_fn(use_local: bool, mod: nn.Module, outputs: Any, mesh: DeviceMesh) -> Any:
        return outputs.to_local() if use_local else outputs

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        return distribute_module(
            module,
            device_mesh,
            self._replicate,
            partial(self._prepare_input_fn, self.sequence_sharding),
            partial(self._prepare_output_fn, self.use_local_output),
        )

    def __repr__(self) -> str:
        return (
            f"SequenceParallel(sequence_dim={self.sequence_sharding[0].dim}, use_local_output={self.use_local_output})"
        )


def _as_tuple(v: Any) -> Any:
    return (v,) if isinstance(v, Placement) else v


class PrepareModuleInput(ParallelStyle):
    """The module's inputs made DTensors by ``input_layouts`` (None: left as they are) and redistributed to
    ``desired_input_layouts`` (a forward pre-hook); kwargs likewise by name."""

    def __init__(
        self,
        *,
        input_layouts: Placement | tuple[Placement | None, ...] | None = None,
        desired_input_layouts: Placement | tuple[Placement | None, ...] | None = None,
        input_kwarg_layouts: dict[str, Placement] | None = None,
        desired_input_kwarg_layouts: dict[str, Placement] | None = None,
        use_local_output: bool = False,
    ) -> None:
        self.input_layouts = _as_tuple(input_layouts)
        self.desired_input_layouts = _as_tuple(desired_input_layouts)
        self.use_local_output = use_local_output
        if self.input_layouts is not None:
            if self.desired_input_layouts is None:
                raise AssertionError("desired module inputs should not be None!")
            if len(self.input_layouts) != len(self.desired_input_layouts):
                raise AssertionError("input_layouts and desired_input_layouts should have same length!")
        self.with_kwargs = input_kwarg_layouts is not None
        self.input_kwarg_layouts = input_kwarg_layouts or {}
        self.desired_input_kwarg_layouts = desired_input_kwarg_layouts or {}
        if self.with_kwargs and len(self.input_kwarg_layouts) != len(self.desired_input_kwarg_layouts):
            raise AssertionError("input_kwarg_layouts and desired_input_kwarg_layouts should have same length!")

    def _arg(self, x: Any, mesh: DeviceMesh, layout: Placement | None, desired: Placement | None) -> Any:
        if layout is None:
            return x
        if not isinstance(x, DTensor) and not isinstance(x, Tensor):
            raise AssertionError("expecting input to be a torch.Tensor!")
        d = _to_dtensor(x, mesh, layout, desired)
        return d.to_local() if self.use_local_output else d

    def _prepare_input_fn(self, inputs: Any, mesh: DeviceMesh) -> Any:
        if self.input_layouts is None:
            return inputs
        if not isinstance(inputs, tuple):
            inputs = (inputs,)
        if len(inputs) != len(self.input_layouts):
            raise ValueError("module inputs and input_layouts should have same length!")
        return tuple(
            self._arg(x, mesh, lay, des) for x, lay, des in zip(inputs, self.input_layouts, self.desired_input_layouts)
        )

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        if self.with_kwargs:

            def hook(_: Any, inputs: Any, kwargs: Any) -> Any:
                args = self._prepare_input_fn(inputs, device_mesh)
                kw = {
                    k: self._arg(
                        v, device_mesh, self.input_kwarg_layouts.get(k), self.desired_input_kwarg_layouts.get(k)
                    )
                    for k, v in kwargs.items()
                }
                return args, kw

            module.register_forward_pre_hook(hook, with_kwargs=True)
        else:
            module.register_forward_pre_hook(lambda _, inputs: self._prepare_input_fn(inputs, device_mesh))
        return module

    def __repr__(self) -> str:
        return (
            f"PrepareModuleInput(input_layouts={self.input_layouts}, desired_input_layouts="
            f"{self.desired_input_layouts}, input_kwarg_layouts={self.input_kwarg_layouts}, "
            f"desired_input_kwarg_layouts={self.desired_input_kwarg_layouts}, use_local_output={self.use_local_output})"
        )


class PrepareModuleOutput(ParallelStyle):
    """The module's outputs made DTensors by ``output_layouts`` and redistributed to ``desired_output_layouts``
    (a forward hook); local tensors back when ``use_local_output``."""

    def __init__(
        self,
        *,
        output_layouts: Placement | tuple[Placement | None, ...],
        desired_output_layouts: Placement | tuple[Placement, ...],
        use_local_output: bool = True,
    ) -> None:
        self.output_layouts = _as_tuple(output_layouts)
        self.desired_output_layouts = _as_tuple(desired_output_layouts)
        self.use_local_output = use_local_output
        if len(self.output_layouts) != len(self.desired_output_layouts):
            raise AssertionError("output_layouts and desired_output_layouts should have same length!")

    def _prepare_out_fn(self, outputs: Any, mesh: DeviceMesh) -> Any:
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        if len(outputs) != len(self.output_layouts):
            raise ValueError("module outputs and output_layouts should have same length!")
        out = []
        for x, lay, des in zip(outputs, self.output_layouts, self.desired_output_layouts):
            if lay is None:
                out.append(x)
                continue
            d = _to_dtensor(x, mesh, lay, des)
            out.append(d.to_local() if self.use_local_output else d)
        return out[0] if len(out) == 1 else tuple(out)

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        module.register_forward_hook(lambda _, inputs, outputs: self._prepare_out_fn(outputs, device_mesh))
        return module

    def __repr__(self) -> str:
        return (
            f"PrepareModuleOutput(output_layouts={self.output_layouts}, desired_output_layouts="
            f"{self.desired_output_layouts}, use_local_output={self.use_local_output})"
        )


class PrepareModuleInputOutput(ParallelStyle):
    """``PrepareModuleInput`` and ``PrepareModuleOutput`` together."""

    def __init__(
        self,
        *,
        input_layouts: Placement | tuple[Placement | None, ...] | None = None,
        desired_input_layouts: Placement | tuple[Placement | None, ...] | None = None,
        input_kwarg_layouts: dict[str, Placement] | None = None,
        desired_input_kwarg_layouts: dict[str, Placement] | None = None,
        use_local_input: bool = False,
        output_layouts: Placement | tuple[Placement | None, ...],
        desired_output_layouts: Placement | tuple[Placement, ...],
        use_local_output: bool = True,
    ) -> None:
        self.prepare_module_input = PrepareModuleInput(
            input_layouts=input_layouts,
            desired_input_layouts=desired_input_layouts,
            input_kwarg_layouts=input_kwarg_layouts,
            desired_input_kwarg_layouts=desired_input_kwarg_layouts,
            use_local_output=use_local_input,
        )
        self.prepare_module_output = PrepareModuleOutput(
            output_layouts=output_layouts,
            desired_output_layouts=desired_output_layouts,
            use_local_output=use_local_output,
        )

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        self.prepare_module_input._apply(module, device_mesh)
        self.prepare_module_output._apply(module, device_mesh)
        return module
