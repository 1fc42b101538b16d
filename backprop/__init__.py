"""backprop: define-by-run reverse-mode autodiff on NumPy (CPU) and CuPy (CUDA) arrays.

PyTorch's names and semantics: ``bp.tensor``, ``requires_grad``, ``.backward()``, ``.grad``,
``bp.no_grad()``, ``bp.nn``, ``bp.optim``. CuPy is never imported until a CUDA device is asked for.
"""

from __future__ import annotations

import os as _os

# In a source checkout the backends live in the repository's top-level ``backends/`` folder; the
# wheel installs that folder as ``backprop/backends`` (pyproject.toml, force-include). Let the
# checkout resolve ``backprop.backends`` the same way, without claiming the name ``backends``.
if not _os.path.isdir(_os.path.join(__path__[0], "backends")):
    __path__.append(_os.path.dirname(__path__[0]))

from backprop import dtypes  # noqa: E402
from backprop.autograd import (  # noqa: E402
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from backprop.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from backprop.creation import (  # noqa: E402
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from backprop.devices import Device, get_default_device, set_default_device  # noqa: E402
from backprop.devices import device as device  # noqa: E402
from backprop.dtypes import (  # noqa: E402
    bool_,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
    uint16,
    uint32,
    uint64,
)
from backprop.functions import *  # noqa: E402, F403 - the torch-style top-level functions
from backprop.tensor import Tensor  # noqa: E402

from backprop import autograd, cuda, functions, nn, optim, registry  # noqa: E402  isort: skip

bool = bool_
float = float32  # torch.float is float32 (Python's float, as a dtype argument, means float64)
int = int32  # torch.int is int32 (Python's int, as a dtype argument, means int64)

__version__ = "0.1.0"

__all__ = [
    "Device",
    "GradcheckError",
    "Tensor",
    "arange",
    "as_tensor",
    "autograd",
    "bool",
    "bool_",
    "cuda",
    "detect_anomaly",
    "device",
    "double",
    "dtypes",
    "empty",
    "empty_like",
    "enable_grad",
    "eye",
    "float16",
    "float32",
    "float64",
    "from_dlpack",
    "from_numpy",
    "full",
    "full_like",
    "get_default_device",
    "get_default_dtype",
    "gradcheck",
    "gradgradcheck",
    "half",
    "int16",
    "int32",
    "int64",
    "int8",
    "is_grad_enabled",
    "linspace",
    "long",
    "manual_seed",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "registry",
    "set_default_device",
    "set_default_dtype",
    "set_grad_enabled",
    "tensor",
    "uint8",
    "zeros",
    "zeros_like",
    "cdouble",
    "cfloat",
    "complex128",
    "complex64",
    "float",
    "int",
    "short",
    "uint16",
    "uint32",
    "uint64",
    *functions.__all__,
]
