"""``torch.distributed.tensor.parallel``: tensor parallelism on a 1-D mesh (torch's parallel styles).

``parallelize_module(module, mesh, plan)`` applies a ``ParallelStyle`` to the module or, for a dict plan, to each
submodule named by its (fnmatch) path: ``ColwiseParallel`` shards a Linear's weight (and bias) on dim 0 (an
Embedding's on dim 1), ``RowwiseParallel`` a Linear's weight on dim 1 (bias replicated; an Embedding's weight on
dim 0), ``SequenceParallel`` replicates the parameters and runs the module on the input sharded on the sequence
dim, ``PrepareModuleInput``/``PrepareModuleOutput`` convert and redistribute inputs/outputs. The ops between run
as DTensor ops with torch's sharding propagation (``backprop.distributed.tensor._ops``).
"""

from backprop.distributed.tensor.parallel._distribute import distribute_module
from backprop.distributed.tensor.parallel.api import parallelize_module
from backprop.distributed.tensor.parallel.loss import loss_parallel
from backprop.distributed.tensor.parallel.style import (
    ColwiseParallel,
    ParallelStyle,
    PrepareModuleInput,
    PrepareModuleInputOutput,
    PrepareModuleOutput,
    RowwiseParallel,
    SequenceParallel,
)

__all__ = [
    "ColwiseParallel",
    "ParallelStyle",
    "PrepareModuleInput",
    "PrepareModuleInputOutput",
    "PrepareModuleOutput",
    "RowwiseParallel",
    "SequenceParallel",
    "distribute_module",
    "loss_parallel",
    "parallelize_module",
]
