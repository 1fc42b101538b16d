"""``parallelize_module`` (torch.distributed.tensor.parallel.api)."""

from __future__ import annotations

import warnings
from fnmatch import fnmatch
from typing import Any

from backprop import nn
from backprop.distributed.device_mesh import DeviceMesh
from backprop.distributed.tensor.parallel.style import ParallelStyle

__all__ = ["parallelize_module"]


def parallelize_module(
    module: nn.Module,
    device_mesh: DeviceMesh | None = None,
    parallelize_plan: ParallelStyle | dict[str, ParallelStyle] | None = None,
    *,
    src_data_rank: int | None = 0,
) -> nn.Module:
    """Apply ``parallelize_plan`` (a style, or submodule path patterns -> styles) to ``module`` on a 1-D mesh;
    parameters come from rank ``src_data_rank`` (None: each rank's own)."""
    if device_mesh is None:
        raise NotImplementedError("parallelize_module: pass device_mesh (no current-mesh context here)")
    if device_mesh.ndim != 1:
        raise NotImplementedError("parallelize_module: only a 1-D mesh here (slice a 2-D one: mesh['tp'])")
    if parallelize_plan is None:
        warnings.warn(
            "No parallelize_plan is provided and auto-parallel is not supported at the moment, so this "
            "parallelize_module call will do nothing.",
            stacklevel=2,
        )
        return module
    if isinstance(parallelize_plan, ParallelStyle):
        parallelize_plan.src_data_rank = src_data_rank
        return parallelize_plan._apply(module, device_mesh)
    if not isinstance(parallelize_plan, dict):
        raise TypeError(
            "Expect Union[ParallelStyle, Dict[str, ParallelStyle]] for parallelize_plan, "
            f"{type(parallelize_plan)} found!"
        )
    for path, style in parallelize_plan.items():
        if path == "":
            parallelize_module(module, device_mesh, style, src_data_rank=src_data_rank)
            continue
        token, *rest = path.split(".")
        matched: list[Any] = [(n, m) for n, m in module.named_children() if fnmatch(n, token)]
        if not matched:
            warnings.warn(
                f"Parallelize plan key '{path}' could not be resolved: no submodule matching token '{token}' in "
                f"module {module}, skipping this plan entry.",
                stacklevel=2,
            )
            continue
        for _, sub in matched:
            plan: Any = {".".join(rest): style} if rest else style
            parallelize_module(sub, device_mesh, plan, src_data_rank=src_data_rank)
    return module
