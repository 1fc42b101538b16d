"""torch.signal's name: ``bp.signal.windows`` holds the window functions of torch.signal.windows."""

from backprop.signal import windows as windows

__all__ = ["windows"]
