# The type checkers' view of backprop.backends: the top-level backends/ folder. At run time
# backprop/__init__.py loads that folder as the subpackage backprop.backends (a wheel installs it
# there); a type checker cannot follow that, so these stubs forward to the folder's modules, which
# it reads as the package `backends` (pyproject.toml [tool.mypy] mypy_path; pyright's default
# stubPath is this typings/ folder). One stub per module of backends/ (tests/test_packaging.py).
from backends import *  # noqa: F403
from backends import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from backends import CupyBackend as CupyBackend
from backends import NumpyBackend as NumpyBackend
from backends import unregister_backend as unregister_backend

from . import base as base
from . import cpu as cpu
from . import cupy_backend as cupy_backend
from . import mha as mha
from . import mkl as mkl
from . import mkldnn as mkldnn
from . import nnpack as nnpack
from . import numpy_backend as numpy_backend
from . import openmp as openmp
from . import opt_einsum as opt_einsum
from . import quantized as quantized
