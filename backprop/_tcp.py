"""The ``gloo`` backend's transport: TCP sockets between the ranks, and torch's rendezvous stores.

``init_process_group("gloo")`` (or ``nccl``'s host side) in a job started by ``torchrun``, ``python -m
backprop.run`` or any launcher that sets torch's variables (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``,
``WORLD_SIZE``) meets the other ranks here: rank 0 serves a ``TCPStore`` at ``MASTER_ADDR:MASTER_PORT``,
every rank publishes the address it listens on, and each pair of ranks opens one connection (a full mesh).

Why our own code rather than a library: torch's Gloo is C++ inside torch, and MPI (``mpi4py``, the ``mpi``
backend) needs an MPI launcher; torch's launch convention needs only sockets, which the standard library
has. Arrays travel as raw bytes (no pickling, no copy on either side when the receive was posted first);
only the ``*_object`` calls pickle, as torch's do (so, as with torch, a job must trust its own network).

Each message is a 20-byte header (communicator id, tag, payload size) and the payload. A thread per peer
sends (so two ranks sending each other large buffers cannot block each other), and the calling thread
receives: a message goes to the oldest posted receive that matches its communicator, tag and sender (MPI's
matching rule, any-source receives included), or waits in a queue of unexpected messages. Collectives
gather every rank's buffer and combine them in rank order, except non-deterministic all-reduces of three
ranks or more, which run a ring; either way every rank gets the same bits, in every run.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import pickle
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

import numpy as np

__all__ = [
    "DistBackendError",
    "DistError",
    "DistNetworkError",
    "DistStoreError",
    "FileStore",
    "HashStore",
    "PrefixStore",
    "Store",
    "TCPStore",
]

_DEFAULT_TIMEOUT = timedelta(minutes=30)
_HEADER = struct.Struct("!iqq")  # communicator id, tag, payload bytes
_COLLECTIVE, _OBJECT = -1, -2  # internal tags (user tags are >= 0)


class DistError(RuntimeError):
    """torch's base class of distributed errors."""


class DistBackendError(DistError):
    """An error in a communication backend."""


class DistNetworkError(DistError):
    """A network error between the ranks."""


class DistStoreError(DistError):
    """An error of the rendezvous store."""


def _seconds(timeout: Any) -> float:
    if timeout is None:
        return _DEFAULT_TIMEOUT.total_seconds()
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"Store values are str or bytes, got {type(value).__name__}")


def _recv_exact(sock: socket.socket, view: memoryview, peer: str) -> None:
    """Fill ``view`` from ``sock`` (an error naming ``peer`` when it closes first)."""
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError(f"{peer} closed its connection (it exited or failed)")
        got += n


# ------------------------------------------------------------------------------------------ stores
class Store:
    """torch's key-value store interface: the rendezvous of a job (values are bytes)."""

    def __init__(self) -> None:
        self._timeout = _DEFAULT_TIMEOUT

    @property
    def timeout(self) -> timedelta:
        return self._timeout

    def set_timeout(self, timeout: timedelta) -> None:
        self._timeout = timeout

    def set(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        raise NotImplementedError

    def add(self, key: str, amount: int) -> int:
        raise NotImplementedError

    def compare_set(self, key: str, expected_value: Any, desired_value: Any) -> bytes:
        raise NotImplementedError

    def check(self, keys: list[str]) -> bool:
        raise NotImplementedError

    def wait(self, keys: list[str], timeout: timedelta | None = None) -> None:
        raise NotImplementedError

    def delete_key(self, key: str) -> bool:
        raise NotImplementedError

    def num_keys(self) -> int:
        raise NotImplementedError


class _Table:
    """The dictionary behind a store, with waiting for keys (shared by the TCP server and ``HashStore``)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.changed = threading.Condition()

    def set(self, key: str, value: bytes) -> None:
        with self.changed:
            self.data[key] = value
            self.changed.notify_all()

    def wait(self, keys: Iterable[str], timeout: float) -> bool:
        keys = list(keys)
        with self.changed:
            return self.changed.wait_for(lambda: all(k in self.data for k in keys), timeout)

    def get(self, key: str, timeout: float) -> bytes | None:
        with self.changed:
            if not self.changed.wait_for(lambda: key in self.data, timeout):
                return None
            return self.data[key]

    def add(self, key: str, amount: int) -> int:
        with self.changed:
            value = int(self.data.get(key, b"0")) + amount
            self.data[key] = str(value).encode()
            self.changed.notify_all()
            return value

    def compare_set(self, key: str, expected: bytes, desired: bytes) -> bytes:
        with self.changed:
            current = self.data.get(key)
            if (current is None and expected == b"") or current == expected:
                self.data[key] = desired
                self.changed.notify_all()
                return desired
            return expected if current is None else current

    def delete(self, key: str) -> bool:
        with self.changed:
            return self.data.pop(key, None) is not None


def _timed_out(keys: Any, seconds: float) -> Exception:
    return DistStoreError(f"Timed out after {seconds:.0f} seconds waiting for keys {keys} in the store")


class HashStore(Store):
    """A store in this process's memory (threads of one process), as torch's ``HashStore``."""

    def __init__(self) -> None:
        super().__init__()
        self._table = _Table()

    def set(self, key: str, value: Any) -> None:
        self._table.set(key, _bytes(value))

    def get(self, key: str) -> bytes:
        found = self._table.get(key, self.timeout.total_seconds())
        if found is None:
            raise _timed_out([key], self.timeout.total_seconds())
        return found

    def add(self, key: str, amount: int) -> int:
        return self._table.add(key, int(amount))

    def compare_set(self, key: str, expected_value: Any, desired_value: Any) -> bytes:
        return self._table.compare_set(key, _bytes(expected_value), _bytes(desired_value))

    def check(self, keys: list[str]) -> bool:
        return all(k in self._table.data for k in keys)

    def wait(self, keys: list[str], timeout: timedelta | None = None) -> None:
        seconds = _seconds(timeout if timeout is not None else self.timeout)
        if not self._table.wait(keys, seconds):
            raise _timed_out(keys, seconds)

    def delete_key(self, key: str) -> bool:
        return self._table.delete(key)

    def num_keys(self) -> int:
        return len(self._table.data)


class PrefixStore(Store):
    """Another store's keys under ``prefix + "/"`` (torch's ``PrefixStore``)."""

    def __init__(self, prefix: str, store: Store) -> None:
        super().__init__()
        self.prefix, self.underlying_store = prefix, store

    def _k(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    @property
    def timeout(self) -> timedelta:
        return self.underlying_store.timeout

    def set_timeout(self, timeout: timedelta) -> None:
        self.underlying_store.set_timeout(timeout)

    def set(self, key: str, value: Any) -> None:
        self.underlying_store.set(self._k(key), value)

    def get(self, key: str) -> bytes:
        return self.underlying_store.get(self._k(key))

    def add(self, key: str, amount: int) -> int:
        return self.underlying_store.add(self._k(key), amount)

    def compare_set(self, key: str, expected_value: Any, desired_value: Any) -> bytes:
        return self.underlying_store.compare_set(self._k(key), expected_value, desired_value)

    def check(self, keys: list[str]) -> bool:
        return self.underlying_store.check([self._k(k) for k in keys])

    def wait(self, keys: list[str], timeout: timedelta | None = None) -> None:
        self.underlying_store.wait([self._k(k) for k in keys], timeout)

    def delete_key(self, key: str) -> bool:
        return self.underlying_store.delete_key(self._k(key))

    def num_keys(self) -> int:
        return self.underlying_store.num_keys()


class FileStore(Store):
    """Not available: backprop's rendezvous is ``env://`` or ``tcp://`` (a ``TCPStore``)."""

    def __init__(self, file_name: str, world_size: int = -1) -> None:
        raise RuntimeError(
            "FileStore (file:// rendezvous) is not implemented in backprop: use init_method='env://' (the "
            "launcher's MASTER_ADDR/MASTER_PORT) or 'tcp://host:port', or pass store=TCPStore(...)"
        )


# The TCP store's protocol: a request is an op byte, a count, then that many length-prefixed byte strings;
# the reply is a status byte (0 ok, 1 timed out) and one length-prefixed byte string.
_SET, _GET, _ADD, _CAS, _CHECK, _WAIT, _DELETE, _NUM = range(8)
_U32, _U64 = struct.Struct("!I"), struct.Struct("!Q")


def _send_request(sock: socket.socket, op: int, args: list[bytes]) -> None:
    parts = [bytes([op]), _U32.pack(len(args))]
    for a in args:
        parts += [_U64.pack(len(a)), a]
    sock.sendall(b"".join(parts))


def _read_bytes(sock: socket.socket, peer: str) -> bytes:
    head = bytearray(8)
    _recv_exact(sock, memoryview(head), peer)
    (n,) = _U64.unpack(head)
    body = bytearray(n)
    _recv_exact(sock, memoryview(body), peer)
    return bytes(body)


class _StoreServer:
    """The master's store: a listening socket and a thread per client connection."""

    def __init__(self, host: str, port: int) -> None:
        self.table = _Table()
        self.sock = socket.create_server((host, port), reuse_port=False, backlog=128)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, name="bp-store-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="bp-store-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = self.table
        try:
            while True:
                head = bytearray(5)
                _recv_exact(conn, memoryview(head), "a store client")
                op, count = head[0], _U32.unpack(head[1:])[0]
                args = [_read_bytes(conn, "a store client") for _ in range(count)]
                ok, out = True, b""
                if op == _SET:
                    t.set(args[0].decode(), args[1])
                elif op == _GET:
                    found = t.get(args[0].decode(), float(args[1]))
                    ok, out = found is not None, found or b""
                elif op == _ADD:
                    out = str(t.add(args[0].decode(), int(args[1]))).encode()
                elif op == _CAS:
                    out = t.compare_set(args[0].decode(), args[1], args[2])
                elif op == _CHECK:
                    out = b"1" if all(a.decode() in t.data for a in args) else b"0"
                elif op == _WAIT:
                    ok = t.wait([a.decode() for a in args[1:]], float(args[0]))
                elif op == _DELETE:
                    out = b"1" if t.delete(args[0].decode()) else b"0"
                elif op == _NUM:
                    out = str(len(t.data)).encode()
                conn.sendall(bytes([0 if ok else 1]) + _U64.pack(len(out)) + out)
        except (ConnectionError, OSError):
            conn.close()

    def close(self) -> None:
        self.closed = True
        try:  # (wakes the thread blocked in accept(), which would otherwise keep the port listening)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class TCPStore(Store):
    """torch's ``TCPStore``: the master (``is_master=True``) serves the keys at ``host_name:port`` (``port=0``:
    a free one, see ``.port``), every process (the master too) talks to it over a socket. With
    ``world_size`` and ``wait_for_workers``, the master's constructor returns once that many have connected."""

    def __init__(
        self,
        host_name: str,
        port: int,
        world_size: int | None = None,
        is_master: bool = False,
        timeout: timedelta = timedelta(seconds=300),
        wait_for_workers: bool = True,
        multi_tenant: bool = False,
        master_listen_fd: int | None = None,
        use_libuv: bool = True,
    ) -> None:
        super().__init__()
        self._timeout = timeout
        self.host, self.libuvBackend = host_name, use_libuv
        self._server = _StoreServer(host_name, port) if is_master else None
        self.port = self._server.port if self._server is not None else port
        # one connection per thread: a get() waiting for its key holds only its own thread's connection
        self._local = threading.local()
        self._socks: list[socket.socket] = []
        self._socks_lock = threading.Lock()
        self.add("bp/store/clients", 1)
        if is_master and world_size is not None and wait_for_workers:
            self._wait_count("bp/store/clients", world_size)

    def _connect(self, seconds: float) -> socket.socket:
        deadline = time.monotonic() + seconds
        while True:  # (the master may not be listening yet)
            try:
                sock = socket.create_connection((self.host, self.port), timeout=max(1.0, seconds))
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as e:
                if time.monotonic() > deadline:
                    raise DistNetworkError(
                        f"could not reach the store at {self.host}:{self.port} within {seconds:.0f} s ({e}): is "
                        "rank 0 running, and are MASTER_ADDR/MASTER_PORT the same for every rank?"
                    ) from e
                time.sleep(0.05)

    def _call(self, op: int, args: list[bytes]) -> tuple[bool, bytes]:
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self._local.sock = self._connect(self.timeout.total_seconds())
            with self._socks_lock:
                self._socks.append(sock)
        _send_request(sock, op, args)
        status = bytearray(1)
        _recv_exact(sock, memoryview(status), "the store")
        return status[0] == 0, _read_bytes(sock, "the store")

    def _wait_count(self, key: str, n: int) -> None:
        deadline = time.monotonic() + self.timeout.total_seconds()
        while self.add(key, 0) < n:
            if time.monotonic() > deadline:
                raise _timed_out([key], self.timeout.total_seconds())
            time.sleep(0.01)

    def set(self, key: str, value: Any) -> None:
        self._call(_SET, [key.encode(), _bytes(value)])

    def get(self, key: str) -> bytes:
        seconds = self.timeout.total_seconds()
        ok, value = self._call(_GET, [key.encode(), str(seconds).encode()])
        if not ok:
            raise _timed_out([key], seconds)
        return value

    def add(self, key: str, amount: int) -> int:
        return int(self._call(_ADD, [key.encode(), str(int(amount)).encode()])[1])

    def compare_set(self, key: str, expected_value: Any, desired_value: Any) -> bytes:
        return self._call(_CAS, [key.encode(), _bytes(expected_value), _bytes(desired_value)])[1]

    def check(self, keys: list[str]) -> bool:
        return self._call(_CHECK, [k.encode() for k in keys])[1] == b"1"

    def wait(self, keys: list[str], timeout: timedelta | None = None) -> None:
        seconds = _seconds(timeout if timeout is not None else self.timeout)
        ok, _ = self._call(_WAIT, [str(seconds).encode(), *(k.encode() for k in keys)])
        if not ok:
            raise _timed_out(keys, seconds)

    def delete_key(self, key: str) -> bool:
        return self._call(_DELETE, [key.encode()])[1] == b"1"

    def num_keys(self) -> int:
        return int(self._call(_NUM, [])[1])

    def close(self) -> None:
        """Close the connection (and, on the master, stop serving)."""
        with self._socks_lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()
        if self._server is not None:
            self._server.close()


# ------------------------------------------------------------------------------------------ the mesh
class _Pending:
    """A posted receive (into ``buf``, or into new bytes when ``buf`` is None) or a send in flight."""

    __slots__ = ("buf", "data", "done", "error", "event", "peer", "seq", "source")

    def __init__(self, peer: int | None, buf: memoryview | None, seq: int) -> None:
        self.peer, self.buf, self.seq = peer, buf, seq
        self.done = False
        self.data: bytearray | None = None
        self.source: int | None = None
        self.error: BaseException | None = None
        self.event: threading.Event | None = None


class Mesh:
    """One connection to every other rank of the job, by global rank, and the matching of messages."""

    def __init__(self, store: Store, rank: int, size: int, timeout: float) -> None:
        self.rank, self.size, self.timeout = rank, size, timeout
        self.socks: dict[int, socket.socket] = {}
        self._outbox: dict[int, queue.Queue] = {}
        self._posted: dict[tuple[int, int], list[_Pending]] = collections.defaultdict(list)
        self._unexpected: dict[tuple[int, int], collections.deque] = collections.defaultdict(collections.deque)
        self._seq = itertools.count()
        self._lock = threading.RLock()
        self._ctx = itertools.count(1)  # communicator ids of new_group()s (0 is the world's)
        self._gone: set[int] = set()  # peers whose connection has ended
        self.closed = False
        if size > 1:
            self._connect(store)

    def _connect(self, store: Store) -> None:
        host = _local_address(os.environ.get("MASTER_ADDR", "127.0.0.1"))
        with socket.create_server((host, 0), backlog=self.size) as listener:
            self._meet(store, host, listener)

    def _meet(self, store: Store, host: str, listener: socket.socket) -> None:
        store.set(f"mesh/{self.rank}", f"{host}:{listener.getsockname()[1]}")
        for peer in range(self.rank):  # connect to the lower ranks, accept the higher ones
            addr, _, port = store.get(f"mesh/{peer}").decode().rpartition(":")
            sock = socket.create_connection((addr, int(port)), timeout=self.timeout)
            sock.sendall(struct.pack("!q", self.rank))
            self.socks[peer] = sock
        listener.settimeout(self.timeout)
        for _ in range(self.size - 1 - self.rank):
            sock, _ = listener.accept()
            head = bytearray(8)
            _recv_exact(sock, memoryview(head), "a connecting rank")
            self.socks[struct.unpack("!q", head)[0]] = sock
        listener.close()
        for peer, sock in self.socks.items():
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            q: queue.Queue = queue.Queue()
            self._outbox[peer] = q
            threading.Thread(target=self._sender, args=(peer, sock, q), name=f"bp-send-{peer}", daemon=True).start()

    # -- sending: a thread per peer ----------------------------------------------------------
    def _sender(self, peer: int, sock: socket.socket, q: queue.Queue) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            header, payload, pending = item
            try:
                sock.sendall(header)
                if len(payload):
                    sock.sendall(payload)
            except OSError as e:
                pending.error = ConnectionError(f"sending to rank {peer} failed: {e}")
            pending.done = True
            assert pending.event is not None
            pending.event.set()

    def isend(self, peer: int, ctx: int, tag: int, payload: Any) -> _Pending:
        """Queue ``payload`` (bytes or a contiguous array, kept alive until sent) for ``peer``."""
        view = memoryview(payload).cast("B") if not isinstance(payload, bytes) else memoryview(payload)
        pending = _Pending(peer, None, -1)
        pending.event = threading.Event()
        self._outbox[peer].put((_HEADER.pack(ctx, tag, len(view)), view, pending))
        return pending

    def wait_send(self, pending: _Pending) -> None:
        assert pending.event is not None
        if not pending.event.wait(self.timeout):
            raise TimeoutError(f"sending to rank {pending.peer} did not finish within {self.timeout:.0f} s")
        if pending.error is not None:
            raise pending.error

    # -- receiving: the caller's thread reads and matches ---------------------------------------
    def irecv(self, peer: int | None, ctx: int, tag: int, buf: memoryview | None) -> _Pending:
        """Post a receive from ``peer`` (None: any) into ``buf`` (None: new bytes); an already arrived
        message that matches completes it at once."""
        with self._lock:
            pending = _Pending(peer, buf, next(self._seq))
            queued = self._unexpected[(ctx, tag)]
            for i, (src, data) in enumerate(queued):
                if peer is None or src == peer:
                    del queued[i]
                    self._deliver(pending, src, data)
                    return pending
            self._posted[(ctx, tag)].append(pending)
            return pending

    def wait_recv(self, pending: _Pending, what: str = "a message") -> None:
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while not pending.done:
                if pending.peer in self._gone or (pending.peer is None and len(self._gone) == len(self.socks)):
                    who = f"rank {pending.peer}" if pending.peer is not None else "every other rank"
                    raise DistNetworkError(
                        f"rank {self.rank}: {who} closed its connection (it exited or failed) while this rank "
                        f"waited for {what}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"rank {self.rank} waited {self.timeout:.0f} s for {what} from "
                        f"{'any rank' if pending.peer is None else f'rank {pending.peer}'}"
                    )
                self._progress(deadline)

    def _progress(self, deadline: float) -> None:
        """Read one message from each peer that has one ready (waiting up to ``deadline`` for any)."""
        open_ = {s: p for p, s in self.socks.items() if p not in self._gone}
        wait = max(0.0, min(1.0, deadline - time.monotonic()))
        readable, _, _ = select.select(list(open_), [], [], wait)
        for sock in readable:
            self._read_one(open_[sock], sock)

    def _read_one(self, peer: int, sock: socket.socket) -> None:
        head = bytearray(_HEADER.size)
        view = memoryview(head)
        try:
            got = sock.recv_into(view)
            if got == 0:  # (a peer that finished and left: an error only for a receive that needs it)
                self._gone.add(peer)
                return
            _recv_exact(sock, view[got:], f"rank {peer}")
        except (ConnectionError, OSError) as e:
            raise DistNetworkError(f"rank {self.rank}: {e}") from None
        ctx, tag, n = _HEADER.unpack(head)
        posted = self._posted.get((ctx, tag), [])
        match = next((p for p in posted if p.peer is None or p.peer == peer), None)
        if match is not None and match.buf is not None and len(match.buf) == n:
            _recv_exact(sock, match.buf, f"rank {peer}")
            posted.remove(match)
            match.source, match.done = peer, True
            return
        data = bytearray(n)
        _recv_exact(sock, memoryview(data), f"rank {peer}")
        if match is None:
            self._unexpected[(ctx, tag)].append((peer, data))
            return
        posted.remove(match)
        self._deliver(match, peer, data)

    @staticmethod
    def _deliver(pending: _Pending, src: int, data: bytearray) -> None:
        if pending.buf is not None:
            if len(pending.buf) != len(data):
                raise RuntimeError(
                    f"a message of {len(data)} bytes from rank {src} does not fit the receive buffer of "
                    f"{len(pending.buf)} bytes (shapes or dtypes differ between the ranks)"
                )
            pending.buf[:] = data
        else:
            pending.data = data
        pending.source, pending.done = src, True

    def new_context(self) -> int:
        """A communicator id: every rank calls this in the same order (``new_group`` is collective)."""
        return next(self._ctx)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for q in self._outbox.values():
            q.put(None)
        for sock in self.socks.values():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _local_address(master: str) -> str:
    """The address of this host's interface that reaches ``master`` (127.0.0.1 for a local job)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((socket.gethostbyname(master), 9))  # (UDP: nothing is sent)
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


# ------------------------------------------------------------------------------------------ a communicator
# ReduceOp's values -> the elementwise function (for booleans: or / and), given whether the dtype is bool
_ELEMENTWISE: dict[str, Callable[[bool], Callable[..., Any]]] = {
    "sum": lambda b: np.add,
    "avg": lambda b: np.add,
    "product": lambda b: np.multiply,
    "min": lambda b: np.logical_and if b else np.minimum,
    "max": lambda b: np.logical_or if b else np.maximum,
    "band": lambda b: np.bitwise_and,
    "bor": lambda b: np.bitwise_or,
    "bxor": lambda b: np.bitwise_xor,
}


def _raw(arr: np.ndarray) -> np.ndarray:
    """A contiguous byte view of a host array (booleans too)."""
    if not isinstance(arr, np.ndarray):
        raise RuntimeError(
            "the gloo backend carries host (CPU) tensors only: init_process_group('nccl') for CUDA tensors"
        )
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint8)


class TcpRequest:
    """A non-blocking send or receive of the mesh (what ``isend``/``irecv`` wait on)."""

    def __init__(self, wait: Callable[[], int | None], test: Callable[[], bool]) -> None:
        self.wait_source, self.test = wait, test


class TcpComm:
    """The ranks ``members`` (global ranks, in group order) of a mesh as one communicator: the ``_Comm``
    interface of ``backprop.distributed`` (collectives, objects, point-to-point)."""

    def __init__(
        self, mesh: Mesh, ctx: int, members: list[int], combine: Callable[..., None], leave: Callable[[int], None]
    ) -> None:
        self.mesh, self.ctx, self.members = mesh, ctx, members
        self.size, self.rank = len(members), members.index(mesh.rank)
        self._combine, self._leave = combine, leave  # (distributed's rank-order reduction and exit)

    def _peers(self) -> list[int]:
        return [r for r in range(self.size) if r != self.rank]

    def _send(self, to: int, tag: int, payload: Any) -> _Pending:
        return self.mesh.isend(self.members[to], self.ctx, tag, payload)

    def _recv(self, frm: int | None, tag: int, buf: Any = None) -> _Pending:
        view = None if buf is None else memoryview(buf).cast("B")
        return self.mesh.irecv(None if frm is None else self.members[frm], self.ctx, tag, view)

    def _finish(self, sends: list[_Pending], recvs: list[_Pending], what: str) -> None:
        for r in recvs:
            self.mesh.wait_recv(r, what)
        for s in sends:
            self.mesh.wait_send(s)

    # -- arrays -------------------------------------------------------------------------------
    def _exchange(self, arr: np.ndarray, parts: list[Any]) -> None:
        """Send ``arr`` to every peer and receive each peer's into ``parts[peer]`` (arrays of its shape)."""
        raw = _raw(arr)
        recvs = [self._recv(p, _COLLECTIVE, parts[p].reshape(-1).view(np.uint8)) for p in self._peers()]
        sends = [self._send(p, _COLLECTIVE, raw) for p in self._peers()]
        self._finish(sends, recvs, "its part of a collective")

    def allgather(self, arr: np.ndarray) -> np.ndarray:
        out = np.empty((self.size, *arr.shape), dtype=arr.dtype)
        out[self.rank] = arr
        self._exchange(arr, list(out))
        return out

    def allreduce(self, arr: np.ndarray, op: Any, deterministic: bool) -> None:
        """``arr`` combined over the ranks, in place. Two ranks, or ``deterministic``: every rank's array is
        gathered and combined in rank order. From three ranks on otherwise: a ring (a reduce-scatter, then an
        all-gather of the reduced chunks), which moves 2 (n - 1) / n of the array per rank instead of n - 1;
        each chunk is reduced once, in ring order, so every rank still gets the same bits, in every run."""
        if not deterministic and self.size > 2 and arr.size >= self.size and arr.flags.c_contiguous:
            self._ring_allreduce(arr.reshape(-1), _ELEMENTWISE[op.value](arr.dtype.kind == "b"))
            return
        # the peers' arrays, and this rank's own in place (a copy from rank 2 on: the combination writes into
        # ``arr`` after its first two parts), combined in rank order: the same bits on every rank
        parts = [arr if r == self.rank and r < 2 else np.empty(arr.shape, arr.dtype) for r in range(self.size)]
        if self.rank >= 2:
            parts[self.rank][...] = arr
        self._exchange(arr, parts)
        self._combine(arr, parts, op)

    def _ring_allreduce(self, flat: np.ndarray, fn: Callable[..., Any]) -> None:
        n, r = self.size, self.rank
        right, left = (r + 1) % n, (r - 1) % n
        bounds = [flat.size * k // n for k in range(n + 1)]
        chunk = [flat[bounds[k] : bounds[k + 1]] for k in range(n)]
        incoming = np.empty(bounds[1] - bounds[0] + 1, flat.dtype)
        for step in range(n - 1):  # reduce-scatter: chunk (r + 1) % n ends here fully reduced
            out, into = chunk[(r - step) % n], chunk[(r - step - 1) % n]
            got = incoming[: into.size]
            recv = self._recv(left, _COLLECTIVE, _raw(got))
            sent = self._send(right, _COLLECTIVE, _raw(out))
            self._finish([sent], [recv], "its part of a ring all-reduce")
            fn(got, into, out=into)
        for step in range(n - 1):  # all-gather: pass the reduced chunks around
            out, into = chunk[(r - step + 1) % n], chunk[(r - step) % n]
            recv = self._recv(left, _COLLECTIVE, _raw(into))
            sent = self._send(right, _COLLECTIVE, _raw(out))
            self._finish([sent], [recv], "its part of a ring all-reduce")

    def _reduce_by_gathering(self, arr: np.ndarray, op: Any) -> None:
        self.allreduce(arr, op, True)

    def broadcast(self, arr: np.ndarray, src: int) -> None:
        if self.rank == src:
            raw = _raw(arr)
            self._finish([self._send(p, _COLLECTIVE, raw) for p in self._peers()], [], "")
        else:
            buf = arr if arr.flags.c_contiguous else np.empty_like(arr)
            self._finish([], [self._recv(src, _COLLECTIVE, _raw(buf))], f"a broadcast from rank {src}")
            if buf is not arr:
                arr[...] = buf

    # -- objects (pickled, as torch's *_object calls) ---------------------------------------------
    def _objects_from(self, peers: list[int]) -> dict[int, Any]:
        recvs = {p: self._recv(p, _OBJECT) for p in peers}
        for r in recvs.values():
            self.mesh.wait_recv(r, "an object")
        return {p: pickle.loads(r.data or b"") for p, r in recvs.items()}  # noqa: S301 - the job's own ranks (torch's trust model)

    def bcast_object(self, obj: Any, src: int) -> Any:
        if self.rank == src:
            data = pickle.dumps(obj)
            self._finish([self._send(p, _OBJECT, data) for p in self._peers()], [], "")
            return obj
        return self._objects_from([src])[src]

    def allgather_object(self, obj: Any) -> list[Any]:
        data = pickle.dumps(obj)
        sends = [self._send(p, _OBJECT, data) for p in self._peers()]
        got = self._objects_from(self._peers())
        self._finish(sends, [], "")
        got[self.rank] = obj
        return [got[r] for r in range(self.size)]

    def gather_object(self, obj: Any, dst: int) -> list[Any] | None:
        if self.rank != dst:
            self._finish([self._send(dst, _OBJECT, pickle.dumps(obj))], [], "")
            return None
        got = self._objects_from(self._peers())
        got[self.rank] = obj
        return [got[r] for r in range(self.size)]

    def scatter_object(self, objs: list[Any] | None, src: int) -> Any:
        if self.rank == src:
            assert objs is not None
            self._finish([self._send(p, _OBJECT, pickle.dumps(objs[p])) for p in self._peers()], [], "")
            return objs[src]
        return self._objects_from([src])[src]

    def alltoall_arrays(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        sends = [
            self._send(p, _OBJECT, pickle.dumps(np.ascontiguousarray(arrays[p]), protocol=5)) for p in self._peers()
        ]
        got = self._objects_from(self._peers())
        self._finish(sends, [], "")
        got[self.rank] = arrays[self.rank].copy()
        return [got[r] for r in range(self.size)]

    def send_object(self, obj: Any, dst: int) -> None:
        self._finish([self._send(dst, _OBJECT - 1, pickle.dumps(obj))], [], "")

    def recv_object(self, src: int | None) -> tuple[Any, int]:
        r = self._recv(src, _OBJECT - 1)
        self.mesh.wait_recv(r, "an object")
        assert r.source is not None
        return pickle.loads(r.data or b""), self.members.index(r.source)  # noqa: S301 - the job's own ranks

    def barrier(self) -> None:
        self.allgather(np.zeros(1, np.uint8))

    # -- point to point -------------------------------------------------------------------------
    def isend(self, arr: np.ndarray, dst: int, tag: int) -> TcpRequest:
        pending = self._send(dst, tag, _raw(arr))

        def wait() -> int | None:
            self.mesh.wait_send(pending)
            return None

        return TcpRequest(wait, lambda: pending.done)

    def irecv(self, arr: np.ndarray, src: int | None, tag: int) -> TcpRequest:
        pending = self._recv(src, tag, _raw(arr))

        def wait() -> int | None:
            self.mesh.wait_recv(pending)
            assert pending.source is not None
            return self.members.index(pending.source)

        return TcpRequest(wait, lambda: pending.done)

    def split(self, members: list[int]) -> TcpComm | None:
        """The communicator of ``members`` (global ranks); None on a rank outside it. Collective: every rank
        of this communicator calls it, in the same order."""
        ctx = self.mesh.new_context()
        globals_ = [self.members[m] for m in members]
        if self.mesh.rank not in globals_:
            return None
        return TcpComm(self.mesh, ctx, globals_, self._combine, self._leave)

    def abort(self, code: int) -> None:
        """Leave at once: the closed connections end the other ranks' waits with an error naming this one."""
        self._leave(code)

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """(NCCL's group calls: nothing to do here, every send is already asynchronous.)"""
        yield

    def close(self) -> None:
        self.mesh.close()
