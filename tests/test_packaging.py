"""Packaging: ``backprop.backends`` is the repository's ``backends/`` folder and nothing else.

In a checkout (and an editable install) backprop/__init__.py loads that folder by its location as
the subpackage ``backprop.backends``; the wheel installs it as ``backprop/backends``. Either way
there is one backend registry, and no other folder of the repository becomes part of the package.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import backprop as bp
from backprop import backends

ROOT = Path(__file__).resolve().parent.parent
IN_CHECKOUT = (ROOT / "backends" / "__init__.py").is_file() and (ROOT / "backprop" / "__init__.py").is_file()


@pytest.mark.parametrize("name", ["backprop.bench", "backprop.tests", "backprop.tests.conftest", "backprop.op_cases"])
def test_only_the_package_is_importable_under_backprop(name: str) -> None:
    with pytest.raises(ImportError):
        importlib.import_module(name)


@pytest.mark.skipif(not IN_CHECKOUT, reason="not run from a source checkout")
def test_backends_is_the_repository_folder() -> None:
    assert Path(backends.__file__).resolve() == ROOT / "backends" / "__init__.py"
    assert [Path(p).resolve() for p in backends.__path__] == [ROOT / "backends"]
    numpy_backend = importlib.import_module("backprop.backends.numpy_backend")
    assert Path(numpy_backend.__file__).resolve() == ROOT / "backends" / "numpy_backend.py"
    assert not (ROOT / "backprop" / "backends").exists()  # the folder exists once, at the top


def test_one_backend_registry() -> None:
    from backprop.backends import numpy_backend

    cpu = bp.device("cpu")
    assert type(cpu.backend) is numpy_backend.NumpyBackend
    assert cpu.backend is backends.get_backend("cpu")
    assert isinstance(cpu.backend, backends.Backend)
    loaded = [name for name, mod in sys.modules.items() if mod is not None and name.endswith("numpy_backend")]
    assert loaded == ["backprop.backends.numpy_backend"]


def test_top_level_backends_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import backends`` from the repository root would be a second registry: it raises instead."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, "backends", raising=False)
    with pytest.raises(ImportError, match="backprop.backends"):
        importlib.import_module("backends")
    assert "backends" not in sys.modules


def test_no_module_imports_backends_by_its_folder_name() -> None:
    offenders = []
    for folder in ("backprop", "backends", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(("import backends", "from backends")):
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {stripped}")
    assert not offenders, "import backprop.backends instead:\n" + "\n".join(offenders)


@pytest.mark.skipif(not IN_CHECKOUT, reason="not run from a source checkout")
def test_type_checkers_see_every_backends_module() -> None:
    """mypy resolves ``backprop.backends`` through the forwarding stubs in typings/ (mypy_path)."""
    modules = {p.stem for p in (ROOT / "backends").glob("*.py")}
    stubs = {p.stem for p in (ROOT / "typings" / "backprop" / "backends").glob("*.pyi")}
    assert stubs == modules


def _venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.mark.slow
@pytest.mark.skipif(not IN_CHECKOUT, reason="not run from a source checkout")
@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None, reason="hatchling is not installed (build backend)")
@pytest.mark.skipif(importlib.util.find_spec("build") is None, reason="`build` is not installed")
def test_wheel_installs_backends_inside_the_package(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh venv, import backprop.backends from site-packages."""
    src = tmp_path / "src"  # a copy, so the build never writes into the checkout
    skip = shutil.ignore_patterns(".*", "__pycache__", "build", "dist", "runs", "*.egg-info")
    shutil.copytree(ROOT, src, ignore=skip)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")

    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert "backprop/py.typed" in names
    assert "backprop/backends/__init__.py" in names
    assert not any(n.startswith(("backends/", "bench/", "tests/", "typings/")) for n in names)

    env = tmp_path / "venv"
    venv.create(env, system_site_packages=True, with_pip=False)
    python = str(_venv_python(env))
    site = Path(
        subprocess.run(
            [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # numpy & co. come from this environment, which may itself be a venv (not the "system" one); a
    # path listed in a .pth is not scanned for .pth files, so an editable backprop here stays out
    parent_sites = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    (site / "_parent_env.pth").write_text("\n".join(parent_sites) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import backprop, backprop.backends as b, backprop.backends.numpy_backend as nb, sys;"
        "assert backprop.device('cpu').backend.__class__ is nb.NumpyBackend;"
        "print(backprop.__file__); print(b.__file__)"
    )
    # run outside the checkout, with no PYTHONPATH: only the venv's site-packages can serve backprop
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run(
        [python, "-I", "-c", probe], cwd=tmp_path, env=clean_env, check=True, capture_output=True, text=True
    )
    package_file, backends_file = (Path(line) for line in out.stdout.split())
    assert package_file.parent == site / "backprop", "backprop came from elsewhere than the fresh venv"
    assert backends_file == site / "backprop" / "backends" / "__init__.py"
