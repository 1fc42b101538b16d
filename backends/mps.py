"""``bp.backends.mps``: Apple's Metal backend does not exist here; the queries device-selection code
makes (``is_available()``, ``is_built()``) answer False, as on a torch build without MPS."""

from __future__ import annotations


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
