"""Every registered op; importing this package registers them (see ``backprop.registry``)."""

from backprop.ops import (
    activation,
    conv,
    conversion,
    ctc,
    elementwise,
    fft,
    indexing,
    linalg,
    math,
    nn,
    reduction,
    scan,
    shape,
    sorting,
)

__all__ = ["activation", "conversion", "elementwise", "indexing", "linalg", "math", "nn", "reduction", "scan", "shape"]
__all__ += ["sorting"]
__all__ += ["conv"]
__all__ += ["ctc"]
__all__ += ["fft"]
