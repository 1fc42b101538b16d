"""``bp.hub`` (torch.hub): load models from a ``hubconf.py`` and weights from the hub cache.

backprop never downloads. ``load(dir, model, source='local')`` imports ``dir/hubconf.py`` and calls the
entry point, as torch; a GitHub repository works when torch's cache layout already holds it
(``<hub dir>/<owner>_<repo>_<ref>``), and ``load_state_dict_from_url`` when ``<hub dir>/checkpoints``
holds the file. Anything else raises a RuntimeError saying where to put the file.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url", "set_dir"]

MODULE_HUBCONF = "hubconf.py"
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")  # torch's: the hash prefix in a weights file's name (check_hash)
ENV_TORCH_HOME = "TORCH_HOME"
ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"
DEFAULT_CACHE_DIR = "~/.cache"
VAR_DEPENDENCY = "dependencies"
_hub_dir: str | None = None


def get_dir() -> str:
    """The hub cache folder: ``set_dir``'s, else ``$BACKPROP_HOME/hub``, else
    ``$XDG_CACHE_HOME/backprop/hub`` (``~/.cache/backprop/hub``)."""
    if _hub_dir is not None:
        return _hub_dir
    if os.environ.get("BACKPROP_HOME"):
        return os.path.join(os.path.expanduser(os.environ["BACKPROP_HOME"]), "hub")
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(cache, "backprop", "hub")


def _get_torch_home() -> str:
    """The folder above the hub dir (torch's helper, which timm calls): ``get_dir()``'s parent."""
    return os.path.dirname(get_dir())


def set_dir(d: str | os.PathLike) -> None:
    """Use ``d`` as the hub cache folder from now on."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def _no_download(what: str, where: str) -> RuntimeError:
    return RuntimeError(
        f"backprop.hub never downloads: {what} is not in the hub cache. Fetch it yourself and put it at "
        f"{where} (the hub dir is get_dir() = {get_dir()!r}), or use source='local' with a directory."
    )


def _repo_dir(github: str, force_reload: bool) -> str:
    """The cached checkout of ``owner/repo[:ref]`` in torch's layout, or a RuntimeError."""
    if not isinstance(github, str) or "/" not in github:
        raise ValueError(f"hub: expected 'repo_owner/repo_name[:ref]', got {github!r}")
    repo, _, ref = github.partition(":")
    owner, _, name = repo.partition("/")
    candidates = [ref] if ref else ["main", "master"]
    for r in candidates:
        folder = os.path.join(get_dir(), "_".join([owner, name, r.replace("/", "_")]))
        if os.path.isdir(folder) and not force_reload:
            return folder
    first = os.path.join(get_dir(), "_".join([owner, name, candidates[0].replace("/", "_")]))
    raise _no_download(f"the GitHub repository {github!r}", first)


def _import_hubconf(repo_dir: str) -> ModuleType:
    """Import ``repo_dir/hubconf.py`` (with ``repo_dir`` on sys.path for its own imports) and check its
    ``dependencies`` list."""
    path = os.path.join(repo_dir, MODULE_HUBCONF)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"hub: no {MODULE_HUBCONF} in {repo_dir!r}")
    sys.path.insert(0, repo_dir)
    try:
        spec = importlib.util.spec_from_file_location("hubconf", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(repo_dir)
    missing = [d for d in getattr(module, VAR_DEPENDENCY, []) if importlib.util.find_spec(d) is None]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return module


def _entry(module: ModuleType, model: str) -> Callable[..., Any]:
    if not isinstance(model, str):
        raise ValueError(f"hub: invalid input: model should be a string of the function name, got {model!r}")
    func = getattr(module, model, None)
    if func is None or not callable(func):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return func


def _resolve(repo_or_dir: str, source: str, force_reload: bool) -> str:
    source = source.lower()
    if source not in ("github", "local"):
        raise ValueError(f'hub: unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "local":
        return os.fspath(repo_or_dir)
    return _repo_dir(repo_or_dir, force_reload)


def load(
    repo_or_dir: str,
    model: str,
    *args: Any,
    source: str = "github",
    trust_repo: bool | str | None = None,
    force_reload: bool = False,
    verbose: bool = True,
    skip_validation: bool = False,
    **kwargs: Any,
) -> Any:
    """``model(*args, **kwargs)`` from the ``hubconf.py`` of a local directory (``source='local'``) or of a
    GitHub repository already in the hub cache (``source='github'``: never downloaded here)."""
    module = _import_hubconf(_resolve(repo_or_dir, source, force_reload))
    return _entry(module, model)(*args, **kwargs)


def list(  # noqa: A001 - torch's name
    github: str,
    force_reload: bool = False,
    skip_validation: bool = False,
    trust_repo: bool | str | None = None,
    verbose: bool = True,
    source: str = "github",
) -> builtins.list[str]:
    """The entry points (public callables) in the repository's ``hubconf.py``."""
    module = _import_hubconf(_resolve(github, source, force_reload))
    return [name for name in dir(module) if callable(getattr(module, name)) and not name.startswith("_")]


def help(  # noqa: A001 - torch's name
    github: str,
    model: str,
    force_reload: bool = False,
    skip_validation: bool = False,
    trust_repo: bool | str | None = None,
    source: str = "github",
) -> str | None:
    """The docstring of entry point ``model``."""
    module = _import_hubconf(_resolve(github, source, force_reload))
    return _entry(module, model).__doc__


def download_url_to_file(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
    """Always a RuntimeError: backprop does not download (place the file at ``dst`` yourself)."""
    raise _no_download(f"download_url_to_file({url!r})", os.fspath(dst))


def load_state_dict_from_url(
    url: str,
    model_dir: str | None = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: str | None = None,
    weights_only: bool = False,
) -> Any:
    """``bp.load`` of the file ``url`` names in ``model_dir`` (default ``<hub dir>/checkpoints``), as torch
    caches it; a RuntimeError when it is not there (backprop never downloads)."""
    folder = model_dir if model_dir is not None else os.path.join(get_dir(), "checkpoints")
    name = file_name or os.path.basename(urlparse(url).path)
    if not name:
        raise ValueError(f"load_state_dict_from_url: cannot name a file from url {url!r}; pass file_name=")
    cached = os.path.join(folder, name)
    if not os.path.isfile(cached):
        raise _no_download(f"the file of {url!r}", cached)
    from backprop.serialization import load as _load

    return _load(cached, map_location=map_location, weights_only=weights_only)
