"""backprop: define-by-run reverse-mode autodiff on NumPy (CPU) and CuPy (CUDA) arrays.

PyTorch's names and semantics: ``bp.tensor``, ``requires_grad``, ``.backward()``, ``.grad``,
``bp.no_grad()``, ``bp.nn``, ``bp.optim``. CuPy is never imported until a CUDA device is asked for.
"""

from __future__ import annotations

import importlib.util as _importlib_util
import os as _os
import sys as _sys
import warnings as _warnings

import numpy as _np


def _load_backends_from_checkout() -> None:
    """Make ``backprop.backends`` the repository's top-level ``backends/`` folder, and only that.

    The wheel installs ``backends/`` as ``backprop/backends`` (pyproject.toml, force-include), where
    the ordinary import finds it. In a source checkout or an editable install the folder sits next
    to ``backprop/``: it is loaded here, by its file location, as the subpackage ``backprop.backends``
    (its submodules resolve inside that folder through the spec's search location), before
    anything imports it. Nothing else of the repository (``bench``, ``tests``) becomes part of the
    package, and the name ``backends`` is never claimed.
    """
    name = __name__ + ".backends"
    here = _os.path.dirname(_os.path.abspath(__file__))
    if name in _sys.modules or _os.path.isfile(_os.path.join(here, "backends", "__init__.py")):
        return  # already loaded, or installed from a wheel
    folder = _os.path.join(_os.path.dirname(here), "backends")
    spec = _importlib_util.spec_from_file_location(
        name, _os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    if spec is None or spec.loader is None or not _os.path.isfile(_os.path.join(folder, "__init__.py")):
        raise ImportError(f"backprop.backends not found: neither {here}/backends nor {folder} is a package")
    module = _importlib_util.module_from_spec(spec)
    _sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del _sys.modules[name]
        raise
    globals()["backends"] = module  # bound on the package, as the import system binds a subpackage


_load_backends_from_checkout()

from backprop import dtypes  # noqa: E402
from backprop.autograd import (  # noqa: E402
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from backprop.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from backprop.creation import (  # noqa: E402
    Generator,
    arange,
    as_tensor,
    bernoulli,
    default_generator,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    initial_seed,
    linspace,
    manual_seed,
    multinomial,
    normal,
    ones,
    ones_like,
    poisson,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from backprop.devices import Device, get_default_device, set_default_device  # noqa: E402
from backprop.devices import public_device as device  # noqa: E402
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

from backprop import autograd, cuda, functions, nn, optim, registry, utils  # noqa: E402  isort: skip
from backprop import func  # noqa: E402  isort: skip  (torch.func)
from backprop.func import vmap  # noqa: E402  isort: skip  (torch.vmap)
from backprop import profiler  # noqa: E402  isort: skip  (torch.profiler)
from backprop import fft  # noqa: E402  isort: skip  (torch.fft)
from backprop import __config__ as __config__  # noqa: E402  isort: skip  (torch.__config__)
from backprop import hub, mps, multiprocessing, overrides, signal  # noqa: E402  isort: skip
from backprop import sparse  # noqa: E402  isort: skip  (torch.sparse)
from backprop._sparse_toplevel import sparse_coo, sparse_coo_tensor, spmm  # noqa: E402  isort: skip
from backprop._sparse_toplevel import sparse_bsc, sparse_bsr, sparse_csc, sparse_csr  # noqa: E402  isort: skip
from backprop._sparse_toplevel import (  # noqa: E402  isort: skip
    sparse_compressed_tensor,
    sparse_csc_tensor,
    sparse_csr_tensor,
)
from backprop.fft import complex, polar, view_as_complex, view_as_real  # noqa: E402  isort: skip
from backprop.methods.signal import istft, stft  # noqa: E402  isort: skip  (torch.stft, torch.istft)
from backprop import linalg  # noqa: E402  isort: skip  (torch.linalg)
from backprop.nn.compiled import compile  # noqa: E402  isort: skip  (torch.compile's name and signature)
from backprop.serialization import load, save  # noqa: E402  isort: skip
from backprop.dtypes import can_cast, finfo, iinfo, result_type  # noqa: E402  isort: skip
from backprop.dtypes import promote_dtypes as promote_types  # noqa: E402  isort: skip
from backprop.methods.attributes import Layout as layout  # noqa: E402, N813  isort: skip
from backprop.methods.attributes import strided  # noqa: E402  isort: skip
from backprop.methods.attributes import (  # noqa: E402  isort: skip
    MemoryFormat as memory_format,  # noqa: N813 - torch.memory_format
    channels_last,
    channels_last_3d,
    contiguous_format,
    preserve_format,
)
from backprop.runtime import (  # noqa: E402  isort: skip
    are_deterministic_algorithms_enabled,
    get_deterministic_debug_mode,
    get_float32_matmul_precision,
    get_num_interop_threads,
    get_num_threads,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    set_num_interop_threads,
    set_num_threads,
    set_deterministic_debug_mode,
    set_printoptions,
    use_deterministic_algorithms,
)
from backprop.size import Size  # noqa: E402  isort: skip
from backprop import amp  # noqa: E402  isort: skip  (torch.amp: autocast, GradScaler)
from backprop.amp import autocast  # noqa: E402  isort: skip
from backprop.amp.autocast_mode import (  # noqa: E402  isort: skip
    clear_autocast_cache,
    get_autocast_dtype,
    is_autocast_cache_enabled,
    is_autocast_enabled,
    set_autocast_cache_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
)

cuda.amp = amp.cuda_amp  # torch.cuda.amp (deprecated aliases; see amp/cuda_amp.py)
_sys.modules[__name__ + ".cuda.amp"] = amp.cuda_amp  # ``from backprop.cuda.amp import GradScaler``
from backprop import jit, special, testing  # noqa: E402  isort: skip
from backprop.windows import (  # noqa: E402  isort: skip
    bartlett_window,
    blackman_window,
    hamming_window,
    hann_window,
    kaiser_window,
)
from backprop.nn.functional import (  # noqa: E402  isort: skip  (torch's top-level aliases: same signatures)
    adaptive_avg_pool1d,
    avg_pool1d,
    bilinear,
    channel_shuffle,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    cosine_similarity,
    group_norm,
    layer_norm,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    pairwise_distance,
    pdist,
    pixel_shuffle,
    pixel_unshuffle,
)
from backprop.creation import asarray  # noqa: E402  isort: skip
from backprop.legacy import (  # noqa: E402  isort: skip
    BFloat16Tensor,
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
)

# ---- torch's remaining top-level names (constants, *_copy, in-place functions, ATen-signature nn functions,
# ---- deprecated/removed functions, bp.version, bp.random); see backprop/_extras.py and its neighbours
from backprop import random, version  # noqa: E402  isort: skip  (torch.random, torch.version)
from backprop._copies import *  # noqa: E402, F403  isort: skip
from backprop._extras import *  # noqa: E402, F403  isort: skip
from backprop._extras import _assert as _assert  # noqa: E402  isort: skip  (torch._assert, not in __all__)
from backprop.amp.grad_scaler import (  # noqa: E402  isort: skip  (torch's loss-scaling kernels, for custom scalers)
    _amp_foreach_non_finite_check_and_unscale_ as _amp_foreach_non_finite_check_and_unscale_,
    _amp_update_scale_ as _amp_update_scale_,
)
from backprop._misc_names import *  # noqa: E402, F403  isort: skip
from backprop._nn_aliases import *  # noqa: E402, F403  isort: skip
from backprop._numeric import *  # noqa: E402, F403  isort: skip
from backprop import _copies, _extras, _misc_names, _nn_aliases, _numeric  # noqa: E402  isort: skip
from backprop.amp import GradScaler  # noqa: E402  isort: skip  (torch.GradScaler)
# ---- end of the block

# torch's out= keyword on the top-level, linalg, special and fft functions (backprop/_out.py): one wrapper
# each, installed last so that it wraps the final objects
from backprop import _out  # noqa: E402  isort: skip

_out.install(globals(), {"linalg": linalg, "special": special, "fft": fft})

# torch's private ``_foreach_*`` list ops (``torch._foreach_lerp_(ema, params, w)``), which EMA helpers and custom
# clipping call: backprop/_foreach.py; not in ``__all__``, as in torch
from backprop import _foreach  # noqa: E402  isort: skip
from backprop import _quantized  # noqa: E402  isort: skip  (quantized tensors, fake quantization: torch's names)
from backprop._quantized import *  # noqa: E402, F403  isort: skip

globals().update(_foreach.functions())

# NumPy's floating-point warnings from our kernels (``log(0)``, ``0 / 0``, overflow) stay silent, as torch's
# ops are: the filter matches only warnings raised in backprop's own modules, and under ``-W error`` (an
# earlier filter) the kernel runs again inside np.errstate instead (autograd.function.apply).
_warnings.filterwarnings(
    "ignore",
    message=r"(divide by zero|invalid value|overflow|underflow) encountered",
    category=RuntimeWarning,
    module=r"backprop(\.|$)",
)

bool = bool_
dtype = _np.dtype  # torch.dtype: ``isinstance(t.dtype, bp.dtype)``; dtypes are NumPy's
float = float32  # torch.float is float32 (Python's float, as a dtype argument, means float64)
int = int32  # torch.int is int32 (Python's int, as a dtype argument, means int64)

__version__ = version.__version__

# torch.accelerator, torch.compiler, torch.cpu, torch.functional, torch.library, torch.quasirandom,
# torch.return_types, torch.cond/while_loop and small names (backprop/accelerator.py and neighbours):
# loaded on first use, so ``import backprop`` does not pay for them
_LAZY = {
    **dict.fromkeys(("accelerator", "compiler", "cpu", "functional", "library", "quasirandom", "return_types")),
    "futures": None,  # (torch.futures: Future, collect_all, wait_all)
    "_dynamo": None,  # (torch._dynamo.reset(), as torch's tutorials call it: backprop/_dynamo.py)
    "_inductor": None,  # (torch._inductor.config: switches recorded, backprop/_inductor)
    "_tensor": None,  # (torch._tensor.Tensor, the class's home)
    "_utils": None,  # (torch._utils._rebuild_tensor_v2 / _rebuild_parameter, as pickles name them)
    "_C": None,  # (the few torch._C names Python code calls: backprop/_C.py)
    "distributions": None,  # (torch.distributions: 50 ms of imports that most programs never use)
    "masked": None,  # (torch.masked: masked reductions, backprop/masked)
    "nested": None,  # (torch.nested: jagged nested tensors, backprop/nested)
    "jagged": "nested",  # (torch.jagged, the nested layout)
    "types": None,  # (torch.types: the type aliases)
    "ao": None,  # (torch.ao: quantization, backprop/ao)
    "quantization": None,  # (torch.quantization: the legacy alias of torch.ao.quantization)
    "__future__": None,  # (torch.__future__: Module conversion switches)
    "export": None,  # (torch.export: refusals, backprop exports no graphs)
    "storage": None,  # (torch.storage: the storage classes)
    **dict.fromkeys(("fx", "onnx")),  # (torch.fx.wrap and torch.onnx.is_in_onnx_export only: no graph capture)
    **dict.fromkeys(("mtia", "xpu")),  # (torch.xpu / torch.mtia: answered as builds without those devices)
    **dict.fromkeys(("Storage", "TypedStorage", "UntypedStorage"), "_storage_names"),
    **dict.fromkeys(  # (torch's legacy typed storage classes: backprop/storage.py)
        (
            "FloatStorage",
            "DoubleStorage",
            "HalfStorage",
            "BFloat16Storage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
            "ComplexFloatStorage",
            "ComplexDoubleStorage",
        ),
        "storage",
    ),  # fmt: skip
    **dict.fromkeys(("cond", "while_loop"), "_control_flow"),
    **dict.fromkeys(("sparse_bsr_tensor", "sparse_bsc_tensor"), "sparse._block"),  # (block sparse matrices)
    **dict.fromkeys(  # (copies of a sparse tensor's parts: backprop/sparse/_leftovers.py)
        (
            "ccol_indices_copy",
            "col_indices_copy",
            "crow_indices_copy",
            "indices_copy",
            "row_indices_copy",
            "values_copy",
        ),
        "sparse._leftovers",
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "_native_batch_norm_legit",
            "native_batch_norm",
            "native_channel_shuffle",
            "native_dropout",
            "native_group_norm",
            "native_layer_norm",
            "native_norm",
        ),
        "_native",
    ),
    "bfloat16": "dtypes",  # (ml_dtypes' dtype: its import is slow, so it is made when first used)
    **dict.fromkeys(  # (torch's float8 dtypes, ml_dtypes' too: backprop/dtypes.py)
        ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"), "dtypes"
    ),
}


def __getattr__(name: str) -> object:
    """The lazily loaded submodules and names of ``_LAZY``."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    home = _LAZY[name]
    value = importlib.import_module(f"{__name__}.{name if home is None else home}")
    if home is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Device",
    "GradcheckError",
    "Generator",
    "Tensor",
    "arange",
    "as_tensor",
    "autograd",
    "fft",
    "stft",
    "istft",
    "hub",
    "mps",
    "multiprocessing",
    "overrides",
    "signal",
    "sparse",
    "sparse_coo",
    "sparse_coo_tensor",
    "sparse_bsc",
    "sparse_bsr",
    "sparse_csc",
    "sparse_csr",
    "sparse_compressed_tensor",
    "sparse_csc_tensor",
    "sparse_csr_tensor",
    "spmm",
    "func",
    "complex",
    "polar",
    "view_as_complex",
    "view_as_real",
    "profiler",
    "vmap",
    "bool",
    "bool_",
    "compile",
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
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "linalg",
    "linspace",
    "load",
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
    "save",
    "set_default_device",
    "set_default_dtype",
    "set_grad_enabled",
    "tensor",
    "uint8",
    "utils",
    "zeros",
    "zeros_like",
    "bernoulli",
    "default_generator",
    "get_rng_state",
    "initial_seed",
    "multinomial",
    "normal",
    "poisson",
    "randint_like",
    "randperm",
    "seed",
    "set_rng_state",
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
    "Size",
    "amp",
    "autocast",
    "clear_autocast_cache",
    "get_autocast_dtype",
    "is_autocast_cache_enabled",
    "is_autocast_enabled",
    "set_autocast_cache_enabled",
    "set_autocast_dtype",
    "set_autocast_enabled",
    "special",
    "jit",
    "bartlett_window",
    "blackman_window",
    "hamming_window",
    "hann_window",
    "kaiser_window",
    "adaptive_avg_pool1d",
    "avg_pool1d",
    "bilinear",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_similarity",
    "group_norm",
    "layer_norm",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "pairwise_distance",
    "pdist",
    "pixel_shuffle",
    "pixel_unshuffle",
    "testing",
    "asarray",
    "BFloat16Tensor",
    "BoolTensor",
    "ByteTensor",
    "CharTensor",
    "DoubleTensor",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "ShortTensor",
    "are_deterministic_algorithms_enabled",
    "get_deterministic_debug_mode",
    "set_deterministic_debug_mode",
    "can_cast",
    "dtype",
    "finfo",
    "get_float32_matmul_precision",
    "get_num_threads",
    "get_num_interop_threads",
    "set_num_interop_threads",
    "iinfo",
    "is_deterministic_algorithms_warn_only_enabled",
    "layout",
    "promote_types",
    "result_type",
    "set_float32_matmul_precision",
    "set_num_threads",
    "set_printoptions",
    "strided",
    "memory_format",
    "channels_last",
    "channels_last_3d",
    "contiguous_format",
    "preserve_format",
    "use_deterministic_algorithms",
    *functions.__all__,
    # torch's remaining top-level names (the block above)
    "GradScaler",
    "random",
    "version",
    *_copies.__all__,
    *_extras.__all__,
    *_misc_names.__all__,
    *_nn_aliases.__all__,
    *_numeric.__all__,
    *_quantized.__all__,
    *_LAZY,
]
