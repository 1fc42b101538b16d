"""Every fused CUDA kernel source of the CuPy backend compiles, checked on the host without a GPU.

NVRTC (the runtime compiler CuPy uses) runs on the CPU: this test loads ``libnvrtc`` from the
``nvidia-cuda-nvrtc-cu12`` wheel (the ``gpu-check`` extra) with ctypes and compiles each kernel of
``backends/cupy_kernels.KERNELS`` for float32 and float64 and for sm_80 and sm_90. It skips when
the wheel is absent and fails with the compiler's log.

The kernel function around an ``ElementwiseKernel`` body is an approximation of CuPy's generated
code, not CuPy's own: each type placeholder is a ``typedef`` (``T`` -> float/double, a second
placeholder such as ``S`` -> long long, the int64 class ids), non-raw inputs are ``const`` values
read at the flat index ``i``, outputs are references, ``raw`` parameters are plain pointers
indexed by the body. Scalars that CuPy passes by value are arrays here; the body sees the same
types either way. What it cannot catch: CuPy's own preamble, indexing (CArray) and launch code.
"""

from __future__ import annotations

import ctypes
import glob
import os
from typing import Any

import pytest
from backprop.backends.cupy_kernels import KERNELS, KernelSpec

ARCHS = ("sm_80", "sm_90")
FLOATS = {"float32": "float", "float64": "double"}
_C_TYPES = {"int32": "int", "int64": "long long", "float32": "float", "float64": "double", "bool": "bool"}


def _load_nvrtc() -> Any:
    try:
        import nvidia.cuda_nvrtc
    except ImportError:
        return None
    for folder in nvidia.cuda_nvrtc.__path__:
        libs = sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc.so*")))
        builtins = sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc-builtins.so*")))
        if libs:
            for b in builtins:  # NVRTC dlopens its builtins by name: make them resolvable first
                ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(libs[0])
    return None


NVRTC = _load_nvrtc()
pytestmark = pytest.mark.skipif(
    NVRTC is None, reason="NVRTC not installed: pip install -e '.[gpu-check]' (nvidia-cuda-nvrtc-cu12)"
)


def _params(text: str) -> list[tuple[bool, str, str]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        out.append((raw, *words[1 if raw else 0 :]))
    return out


def kernel_source(spec: KernelSpec, float_type: str) -> str:
    """CUDA C++ for one ``ElementwiseKernel`` with every placeholder expanded (see the module docstring)."""
    ins, outs = _params(spec.in_params), _params(spec.out_params)
    placeholders = sorted({t for _, t, _ in ins + outs if t not in _C_TYPES})
    lines = []
    for t in placeholders:  # T: the float type under test; any other placeholder: int64 ids
        lines.append(f"typedef {float_type if t == 'T' else 'long long'} {t};")
    args, body_prefix = [], []
    for raw, t, name in ins:
        ctype = _C_TYPES.get(t, t)
        if raw:
            args.append(f"const {ctype}* __restrict__ {name}")
        else:
            args.append(f"const {ctype}* __restrict__ _raw_{name}")
            body_prefix.append(f"const {ctype} {name} = _raw_{name}[i];")
    for raw, t, name in outs:
        ctype = _C_TYPES.get(t, t)
        args.append(f"{ctype}* __restrict__ {name}" if raw else f"{ctype}* __restrict__ _raw_{name}")
        if not raw:
            body_prefix.append(f"{ctype} &{name} = _raw_{name}[i];")
    args.append("const long long _n")
    lines.append(f'extern "C" __global__ void {spec.name}({", ".join(args)}) {{')
    lines.append("  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;")
    lines.append("       i += (long long)blockDim.x * gridDim.x) {")
    lines += ["    " + p for p in body_prefix]
    lines += ["    " + line.strip() for line in spec.operation.strip().splitlines()]
    lines.append("    ;\n  }\n}")
    return "\n".join(lines) + "\n"


def compile_source(source: str, name: str, arch: str) -> tuple[bool, str]:
    """Compile with NVRTC for ``arch``; (ok, compiler log)."""
    prog = ctypes.c_void_p()
    rc = NVRTC.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), f"{name}.cu".encode(), 0, None, None)
    assert rc == 0, f"nvrtcCreateProgram failed with {rc}"
    try:
        opts = [f"-arch={arch}".encode(), b"-std=c++14"]
        arr = (ctypes.c_char_p * len(opts))(*opts)
        rc = NVRTC.nvrtcCompileProgram(prog, len(opts), arr)
        size = ctypes.c_size_t()
        NVRTC.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        NVRTC.nvrtcGetProgramLog(prog, log)
        return rc == 0, log.value.decode(errors="replace")
    finally:
        NVRTC.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", sorted(FLOATS))
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_compiles(name: str, dtype: str, arch: str) -> None:
    """NVRTC compiles the kernel for the float type and architecture; a failure shows the log and source."""
    source = kernel_source(KERNELS[name], FLOATS[dtype])
    ok, log = compile_source(source, name, arch)
    assert ok, f"{name} ({dtype}, {arch}) does not compile:\n{log}\n--- generated source ---\n{source}"


def test_a_broken_body_fails_with_the_compiler_message() -> None:
    """The harness reports NVRTC's error (so a green run means the kernels really compiled)."""
    broken = KernelSpec("T x", "T y", "y = exp(x) +* 1", "bp_broken")
    ok, log = compile_source(kernel_source(broken, "float"), "bp_broken", "sm_80")
    assert not ok and "error" in log
