"""``backprop.distributed.rendezvous`` (torch.distributed.rendezvous): how the ranks of a job find each other.

``rendezvous(url, rank, world_size)`` returns a generator that yields ``(store, rank, world_size)``, as torch's:
``env://`` (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and ``tcp://host:port?rank=r&world_size=n``
give a ``TCPStore`` that rank 0 serves; ``file://`` refuses (no ``FileStore``). ``register_rendezvous_handler``
adds a scheme, which ``init_process_group(init_method="scheme://...")`` then uses too.
"""

from __future__ import annotations

import datetime
import numbers
import os
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from backprop._tcp import FileStore, Store, TCPStore

__all__ = ["register_rendezvous_handler", "rendezvous"]

default_pg_timeout = datetime.timedelta(minutes=30)
_rendezvous_handlers: dict[str, Callable[..., Iterator[tuple[Store, int, int]]]] = {}


def register_rendezvous_handler(scheme: str, handler: Callable[..., Iterator[tuple[Store, int, int]]]) -> None:
    """Make ``rendezvous`` (and ``init_process_group``) use ``handler`` for ``scheme://`` URLs: a generator
    function of ``(url, **kwargs)`` that yields ``(store, rank, world_size)``. A scheme is registered once."""
    if scheme in _rendezvous_handlers:
        raise RuntimeError(f"Rendezvous handler for {scheme}:// already registered")
    _rendezvous_handlers[scheme] = handler


def _query(url: urllib.parse.ParseResult) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in url.query.split("&") if pair)


def rendezvous(url: str, rank: int = -1, world_size: int = -1, **kwargs: Any) -> Iterator[tuple[Store, int, int]]:
    """The generator of ``url``'s scheme: ``rank``/``world_size`` (when not -1) join the URL's query, which must
    not hold them already; ``env://`` reads ``RANK``/``WORLD_SIZE`` for those left at -1 (torch's rules)."""
    if not isinstance(url, (str, bytes)):
        raise RuntimeError(f"`url` must be a string. {type(url)}: {url}")
    if not isinstance(rank, numbers.Integral):
        raise RuntimeError(f"`rank` must be an integer. {rank}")
    if not isinstance(world_size, numbers.Integral):
        raise RuntimeError(f"`world_size` must be an integer. {world_size}")
    return _with_node_arguments(str(url), int(rank), int(world_size), **kwargs)


def _with_node_arguments(url: str, rank: int, world_size: int, **kwargs: Any) -> Iterator[tuple[Store, int, int]]:
    parsed = urllib.parse.urlparse(url)
    if rank != -1 or world_size != -1:
        query = _query(parsed)
        if "rank" in query or "world_size" in query:
            raise AssertionError(f"The url: {url} has node-specific arguments(rank, world_size) already.")
        if rank != -1:
            query["rank"] = str(rank)
        if world_size != -1:
            query["world_size"] = str(world_size)
        parsed = parsed._replace(query="&".join(f"{k}={v}" for k, v in query.items()))
        url = urllib.parse.urlunparse(parsed)
    if parsed.scheme not in _rendezvous_handlers:
        raise RuntimeError(f"No rendezvous handler for {parsed.scheme}://")
    return _rendezvous_handlers[parsed.scheme](url, **kwargs)


def _error(scheme: str, msg: str) -> ValueError:
    return ValueError(f"Error initializing torch.distributed using {scheme}:// rendezvous: {msg}")


def _store(host: str, port: int, rank: int, world_size: int, timeout: datetime.timedelta) -> Store:
    """Rank 0 serves the ``TCPStore`` at ``host:port``; every rank is its client."""
    if not 0 <= port < 2**16:
        raise ValueError(f"port must have value from 0 to 65535 but was {port}.")
    return TCPStore(host, port, world_size, is_master=rank == 0, timeout=timeout)


def _tcp_handler(
    url: str, timeout: datetime.timedelta = default_pg_timeout, **kwargs: Any
) -> Iterator[tuple[Store, int, int]]:
    """``tcp://host:port?rank=r&world_size=n``: rank 0 serves the store at host:port."""
    parsed = urllib.parse.urlparse(url)
    if parsed.port is None:
        raise _error("tcp", "port number missing")
    query = _query(parsed)
    if "rank" not in query:
        raise _error("tcp", "rank parameter missing")
    if "world_size" not in query:
        raise _error("tcp", "world size parameter missing")
    rank, world_size = int(query["rank"]), int(query["world_size"])
    assert parsed.hostname is not None, "hostname cannot be None"
    yield _store(parsed.hostname, parsed.port, rank, world_size, timeout), rank, world_size
    raise RuntimeError("Unable to perform re-rendezvous using tcp:// method")


def _env_handler(
    url: str, timeout: datetime.timedelta = default_pg_timeout, **kwargs: Any
) -> Iterator[tuple[Store, int, int]]:
    """``env://``: rank and world size from the query or ``RANK``/``WORLD_SIZE``, the store at
    ``MASTER_ADDR:MASTER_PORT`` (what torchrun and ``python -m backprop.run`` set)."""
    query = _query(urllib.parse.urlparse(url))

    def env(var: str) -> str:
        value = os.environ.get(var)
        if not value:
            raise _error("env", f"environment variable {var} expected, but not set")
        return value

    rank = int(query["rank"]) if "rank" in query else int(env("RANK"))
    world_size = int(query["world_size"]) if "world_size" in query else int(env("WORLD_SIZE"))
    store = _store(env("MASTER_ADDR"), int(env("MASTER_PORT")), rank, world_size, timeout)
    yield store, rank, world_size
    raise RuntimeError("Unable to perform re-rendezvous using env:// method")


def _file_handler(url: str, **kwargs: Any) -> Iterator[tuple[Store, int, int]]:
    """``file://``: refused, as ``FileStore`` is (its error names the alternatives)."""
    FileStore(urllib.parse.urlparse(url).path)
    yield from ()  # (unreachable: FileStore raises)


register_rendezvous_handler("tcp", _tcp_handler)
register_rendezvous_handler("env", _env_handler)
register_rendezvous_handler("file", _file_handler)
