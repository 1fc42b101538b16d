"""``bp.backends.cudnn``: torch.backends.cudnn's flags, so scripts that set them run unchanged.

backprop calls no cuDNN kernels (matmuls go to cuBLAS through CuPy, convolutions are GEMMs), so the
flags are recorded and read back but change nothing."""

from __future__ import annotations

enabled = True
benchmark = False  # torch's autotuner switch: nothing here to tune
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: backprop does not use cuDNN."""
    return False


def version() -> None:
    """None, as torch reports when cuDNN is not available."""
    return None
