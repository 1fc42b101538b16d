"""torch.nn.attention's names: ``SDPBackend`` and the ``sdpa_kernel`` context manager.

backprop's ``F.scaled_dot_product_attention`` has one implementation (the math one: softmax(q k^T * scale
+ mask) v, composed from differentiable ops on NumPy or CuPy), so choosing a backend changes nothing it
computes; ``sdpa_kernel`` checks its argument as torch does and records the choice, which
``_cur_sdpa_kernel_backends`` reports, so torch code that selects a kernel runs unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from backprop.backends.cuda import SDPBackend  # (one class, as torch's: backends.cuda has it too)

__all__ = ["SDPBackend", "sdpa_kernel", "WARN_FOR_UNFUSED_KERNELS"]

WARN_FOR_UNFUSED_KERNELS = False


_ALL = [
    SDPBackend.CUDNN_ATTENTION,
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.MATH,
    SDPBackend.OVERRIDEABLE,
]
_state = threading.local()


def _cur_sdpa_kernel_backends(with_priority: bool = False) -> list[SDPBackend]:
    """The backends enabled now (all of them outside ``sdpa_kernel``), in priority order when asked."""
    enabled: list[SDPBackend] = getattr(_state, "enabled", _ALL)
    return list(enabled) if with_priority else [b for b in _ALL if b in enabled]


@contextlib.contextmanager
def sdpa_kernel(backends: list[SDPBackend] | SDPBackend, set_priority: bool = False) -> Iterator[dict]:
    """Select the attention backends inside the block (torch's API). backprop's
    ``scaled_dot_product_attention`` has a single (math) implementation, which runs whatever is chosen."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError(
            "sdpa_kernel: backend must be an instance of SDPBackend or a list of SDPBackend instances, "
            f"got {type(backends).__name__}"
        )
    chosen = [backends] if isinstance(backends, SDPBackend) else list(dict.fromkeys(backends))
    for b in chosen:
        if not isinstance(b, SDPBackend):
            raise AssertionError(f"sdpa_kernel: expected SDPBackend members in the list, got {type(b).__name__}")
    previous = getattr(_state, "enabled", None)
    _state.enabled = chosen if set_priority else [b for b in _ALL if b in chosen]  # set_priority: in the order given
    try:
        yield {}
    finally:
        if previous is None:
            del _state.enabled
        else:
            _state.enabled = previous
