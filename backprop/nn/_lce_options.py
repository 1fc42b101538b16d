"""torch.nn.LinearCrossEntropyOptions: the chunking options of ``F.linear_cross_entropy``.

torch's chunked path processes the batch in pieces so that the (batch, classes) logits are never whole in
memory; here the loss is the reference composition (``cross_entropy(linear(x, W))``) whatever the options say,
with the same values and gradients, so the options are validated and recorded only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from backprop import dtypes

__all__ = ["LinearCrossEntropyOptions"]

_POLICIES = ("auto", "accurate", "balanced", "compact")


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """Options of torch's chunked ``linear_cross_entropy`` (checked as torch checks them; the loss here is
    computed by the reference path, see the module's docstring)."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        if self.acc_policy not in _POLICIES:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            if not sep:
                factor = "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        if not (
            self.batch_chunk_size is None or (isinstance(self.batch_chunk_size, int) and self.batch_chunk_size > 0)
        ):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {self.batch_chunk_size!r}")
        floats = {dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64}
        if self.acc_dtype is not None and dtypes.to_dtype(self.acc_dtype) not in floats:
            raise ValueError(
                "acc_dtype must be one of {None, torch.float16, torch.bfloat16, torch.float32, torch.float64}, "
                f"got {self.acc_dtype!r}. Pass acc_dtype=None to let the op pick automatically."
            )
