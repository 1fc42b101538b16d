"""``bp.utils.cpp_extension`` (torch.utils.cpp_extension): the names, without building extensions.

backprop has no C++ API or ATen to compile against: a C++/CUDA extension cannot be built or loaded for it.
A ``setup.py`` or module that imports ``BuildExtension``, ``CppExtension`` or ``load`` still imports;
calling them (or building a ``BuildExtension``) raises a ``NotImplementedError`` that says what to do
instead. ``CUDA_HOME`` and ``ROCM_HOME`` are None (no toolkit is used here).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

__all__ = [
    "BuildExtension",
    "CUDAExtension",
    "CppExtension",
    "SyclExtension",
    "check_compiler_is_gcc",
    "check_compiler_ok_for_platform",
    "get_compiler_abi_compatibility_and_version",
    "get_cxx_compiler",
    "get_default_build_root",
    "include_paths",
    "is_ninja_available",
    "library_paths",
    "load",
    "load_inline",
    "remove_extension_h_precompiler_headers",
    "verify_ninja_availability",
]

CUDA_HOME: str | None = None
ROCM_HOME: str | None = None
SYCL_HOME: str | None = None

_NO_EXTENSIONS = (
    "backprop has no C++ API (ATen, torch/extension.h) to build extensions against; write the op in Python "
    "over the array namespace (bp.library.custom_op, or an op in backprop/ops with a backend override in "
    "backends/cupy_kernels.py for a CUDA kernel), or build the extension for torch"
)


def _refuse(name: str) -> NotImplementedError:
    return NotImplementedError(f"torch.utils.cpp_extension.{name}: {_NO_EXTENSIONS}")


class BuildExtension:
    """torch's setuptools ``build_ext`` command: a type ``cmdclass`` can name; building one refuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _refuse("BuildExtension")

    @classmethod
    def with_options(cls, **options: Any) -> type[BuildExtension]:
        """The class itself (options are for the build, which refuses)."""
        return cls


def CppExtension(name: str, sources: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - torch's name
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("CppExtension")


def CUDAExtension(name: str, sources: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - torch's name
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("CUDAExtension")


def SyclExtension(name: str, sources: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - torch's name
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("SyclExtension")


def load(name: str, sources: Any, *args: Any, **kwargs: Any) -> Any:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("load")


def load_inline(name: str, cpp_sources: Any, *args: Any, **kwargs: Any) -> Any:
    """Refuses with a clear error (see the module docstring)."""
    raise _refuse("load_inline")


def include_paths(device_type: str = "cpu", torch_include_dirs: bool = True) -> list[str]:
    """Refuses: there are no headers to compile against."""
    raise _refuse("include_paths")


def library_paths(
    device_type: str = "cpu", torch_include_dirs: bool = True, cross_target_platform: Any = None
) -> list[str]:
    """Refuses: there are no libraries to link against."""
    raise _refuse("library_paths")


def get_default_build_root() -> str:
    """Where torch would build extensions: ``$TORCH_EXTENSIONS_DIR``, else the user cache's ``torch_extensions``."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root is not None:
        return os.path.realpath(root)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.realpath(os.path.join(cache, "torch_extensions"))


def is_ninja_available() -> bool:
    """Whether the ``ninja`` build tool is on PATH (as torch's check)."""
    return shutil.which("ninja") is not None


def verify_ninja_availability() -> None:
    """Raises RuntimeError when ``ninja`` is missing (torch's message)."""
    if not is_ninja_available():
        raise RuntimeError("Ninja is required to load C++ extensions (pip install ninja to get it)")


def get_cxx_compiler() -> str:
    """The C++ compiler torch would use (``$CXX``, else ``c++``)."""
    return os.environ.get("CXX", "c++")


def check_compiler_is_gcc(compiler: str) -> bool:
    """Refuses: no extension is compiled here."""
    raise _refuse("check_compiler_is_gcc")


def check_compiler_ok_for_platform(compiler: str) -> bool:
    """Refuses: no extension is compiled here."""
    raise _refuse("check_compiler_ok_for_platform")


def get_compiler_abi_compatibility_and_version() -> Any:
    """Refuses: no extension is compiled here."""
    raise _refuse("get_compiler_abi_compatibility_and_version")


def remove_extension_h_precompiler_headers() -> None:
    """Nothing to remove: no extension headers are precompiled here."""
