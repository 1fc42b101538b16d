"""The TCP transport of the ``gloo`` backend (``backprop._tcp``) and the ``python -m backprop.run`` launcher.

The jobs themselves (every collective, DDP, subgroups, failures, ``train-lm``) run in ``tests/test_distributed.py``
under both engines; here are the parts underneath: torch's store API, MPI's message matching (tags out of order,
any-source receives, a buffer of the wrong size), the rendezvous arguments, and the launcher's exit codes. Ranks
are threads of this process where a test needs several.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backprop import _tcp
from backprop import distributed as dist

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------ stores
def test_tcp_store_serves_torchs_api_to_several_clients() -> None:
    master = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=5))
    other = dist.TCPStore("127.0.0.1", master.port, timeout=timedelta(seconds=5))
    try:
        master.set("a", "1")
        assert other.get("a") == b"1" and other.check(["a"]) and not other.check(["a", "b"])
        assert other.add("n", 5) == 5 and master.add("n", -2) == 3
        assert master.compare_set("c", "", "x") == b"x" and other.compare_set("c", "y", "z") == b"x"
        assert other.compare_set("c", "x", "z") == b"z"

        def later() -> None:
            master.set("late", b"\x00\xff")

        threading.Timer(0.2, later).start()
        assert other.get("late") == b"\x00\xff"  # (get waits for the key)
        other.wait(["a", "late"])
        assert master.num_keys() == other.num_keys() and other.delete_key("a") and not master.check(["a"])
        other.set_timeout(timedelta(seconds=0.3))
        with pytest.raises(dist.DistStoreError, match="Timed out after 0 seconds waiting for keys"):
            other.get("never")
        with pytest.raises(dist.DistStoreError):
            other.wait(["never"], timedelta(seconds=0.2))
        with pytest.raises(TypeError, match="str or bytes"):
            master.set("bad", 3)
    finally:
        other.close()
        master.close()


def test_master_waits_for_its_workers_and_a_missing_master_is_a_clear_error() -> None:
    port = _free_port()
    got: list[Any] = []

    def master() -> None:
        got.append(dist.TCPStore("127.0.0.1", port, world_size=2, is_master=True, timeout=timedelta(seconds=10)))

    t = threading.Thread(target=master)
    t.start()
    worker = dist.TCPStore("127.0.0.1", port, world_size=2, timeout=timedelta(seconds=10))
    t.join(10)
    assert got and not t.is_alive()
    assert worker.add("bp/store/clients", 0) == 2
    worker.close()
    got[0].close()
    with pytest.raises(dist.DistNetworkError, match="could not reach the store at 127.0.0.1:"):
        dist.TCPStore("127.0.0.1", port, timeout=timedelta(seconds=0.3))


def test_hash_and_prefix_stores() -> None:
    store = dist.HashStore()
    pre = dist.PrefixStore("job", store)
    pre.set("k", "v")
    assert store.get("job/k") == b"v" and pre.get("k") == b"v" and pre.check(["k"]) and not store.check(["k"])
    assert pre.add("n", 2) == 2 and store.add("job/n", 1) == 3 and pre.num_keys() == 2
    assert pre.delete_key("k") and not pre.check(["k"])
    store.set_timeout(timedelta(seconds=0.1))
    with pytest.raises(dist.DistStoreError):
        pre.get("k")
    with pytest.raises(RuntimeError, match="FileStore .* not implemented"):
        dist.FileStore("/tmp/x", 2)


# ------------------------------------------------------------------------------------------ the mesh
_STORES: list[Any] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Any:
    yield
    while _STORES:
        _STORES.pop().close()


def _comms(n: int) -> list[_tcp.TcpComm]:
    """``n`` ranks as threads of this process, each with its communicator over a fresh mesh (the store is closed
    after the test)."""
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=10))
    _STORES.append(store)
    comms: list[Any] = [None] * n
    errors: list[BaseException] = []

    def join(rank: int) -> None:
        try:
            mesh = _tcp.Mesh(dist.PrefixStore("t", store), rank, n, 10.0)
            comms[rank] = _tcp.TcpComm(mesh, 0, list(range(n)), dist._combine_in_rank_order, lambda code: None)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    # (the highest rank first: its get() of rank 0's address waits in the store while rank 0's thread, sharing
    # the same TCPStore object, still has to set it; each thread has its own connection, so nothing blocks)
    threads = [threading.Thread(target=join, args=(r,)) for r in reversed(range(n))]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(15)
    assert not errors, errors
    return comms


def _together(*calls: Any) -> list[Any]:
    """Run one call per rank at once (collectives need every rank); their results in rank order."""
    out: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    if errors:
        raise errors[0]
    return out


def test_messages_match_by_tag_and_sender_in_posting_order() -> None:
    c0, c1, c2 = _comms(3)
    try:
        for tag, value in ((5, 1.0), (7, 2.0), (5, 3.0)):  # rank 1 sends tags 5, 7, 5
            c1.isend(np.full(4, value), 0, tag).wait_source()
        first7, a5, b5 = np.zeros(4), np.zeros(4), np.zeros(4)
        assert c0.irecv(first7, 1, 7).wait_source() == 1  # (tag 7 taken first: the tag-5 message waits)
        r1, r2 = c0.irecv(a5, 1, 5), c0.irecv(b5, 1, 5)
        assert r2.wait_source() == 1 and r1.wait_source() == 1
        assert first7.tolist() == [2.0] * 4 and a5.tolist() == [1.0] * 4 and b5.tolist() == [3.0] * 4
        # any source: whoever sent; then the other
        c2.isend(np.full(2, 20.0), 0, 0).wait_source()
        got = np.zeros(2)
        assert c0.irecv(got, None, 0).wait_source() == 2 and got.tolist() == [20.0, 20.0]
        # a message that does not fit the posted buffer names both sizes
        c1.isend(np.zeros(3), 0, 9).wait_source()
        with pytest.raises(RuntimeError, match="24 bytes from rank 1 does not fit the receive buffer of 16 bytes"):
            c0.irecv(np.zeros(2), 1, 9).wait_source()
        # collectives of all three at once: the same bits on every rank, in rank order
        xs = [np.array([0.1, 1e16, -1e16], dtype=np.float64) * (r + 1) for r in range(3)]
        outs = [x.copy() for x in xs]
        _together(*(lambda c=c, o=o: c.allreduce(o, dist.ReduceOp.SUM, False) for c, o in zip((c0, c1, c2), outs)))
        want = (xs[0] + xs[1]) + xs[2]
        assert all(np.array_equal(o, want) for o in outs)
        objs = _together(*(lambda c=c: c.allgather_object({"rank": c.rank}) for c in (c0, c1, c2)))
        assert objs == [[{"rank": 0}, {"rank": 1}, {"rank": 2}]] * 3
        # a subgroup: a new communicator id over the same connections; rank 1 is outside
        subs = _together(*(lambda c=c: c.split([0, 2]) for c in (c0, c1, c2)))
        assert subs[1] is None and (subs[0].size, subs[0].rank, subs[2].rank) == (2, 0, 1)
        b = [np.array([5.0]), None, np.array([0.0])]
        _together(lambda: subs[0].broadcast(b[0], 0), lambda: subs[2].broadcast(b[2], 0))
        assert b[2].tolist() == [5.0]
    finally:
        for c in (c0, c1, c2):
            c.close()


@pytest.mark.parametrize("n", [3, 4])
def test_ring_all_reduce_from_three_ranks(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not deterministic (the default): a ring, each chunk reduced once, so every rank holds the same bits; the
    values are the sums (exact for integers, to rounding for floats), and booleans or/and as torch's."""
    rings: list[int] = []
    ring = _tcp.TcpComm._ring_allreduce
    monkeypatch.setattr(_tcp.TcpComm, "_ring_allreduce", lambda self, *a: (rings.append(1), ring(self, *a))[1])
    comms = _comms(n)
    try:
        rng = np.random.default_rng(0)
        for dtype, op, size in (("float64", "SUM", 1001), ("float32", "MAX", 7), ("int64", "PRODUCT", 5),
                                ("bool", "SUM", 9), ("bool", "MIN", 6), ("int64", "BXOR", 11),
                ("float64", "SUM", n - 1)):  # fmt: skip
            xs = [rng.standard_normal(size) * 10 for _ in range(n)]
            if dtype == "bool":
                xs = [x > 5 for x in xs]
            arrays = [x.astype(dtype) for x in xs]
            outs = [a.copy() for a in arrays]
            reduce_op = getattr(dist.ReduceOp, op)
            _together(*(lambda c=c, o=o, f=reduce_op: c.allreduce(o, f, False) for c, o in zip(comms, outs)))
            assert all(np.array_equal(o, outs[0]) for o in outs), (dtype, op)
            reduce = {"SUM": np.sum, "MAX": np.max, "PRODUCT": np.prod, "MIN": np.min, "BXOR": np.bitwise_xor.reduce}
            want = reduce[op](np.stack(arrays), axis=0)
            if dtype == "bool":
                want = {"SUM": np.any, "MIN": np.all}[op](np.stack(arrays), axis=0)
            np.testing.assert_allclose(outs[0], want, rtol=1e-12)
        big = [np.full(10, float(r + 1)) for r in range(n)]  # (a 2-d, non-trivially chunked array, in place)
        grid = [b.reshape(2, 5) for b in big]
        _together(*(lambda c=c, g=g: c.allreduce(g, dist.ReduceOp.SUM, False) for c, g in zip(comms, grid)))
        assert all(b.tolist() == [n * (n + 1) / 2] * 10 for b in big)
        assert len(rings) == 7 * n  # (every call above but the one of n - 1 elements, on every rank)
    finally:
        for c in comms:
            c.close()


def test_a_peer_that_left_is_an_error_only_for_a_receive_that_needs_it() -> None:
    c0, c1, c2 = _comms(3)
    c2.close()  # (rank 2 finished and left: rank 0 still gets rank 1's message)
    c1.isend(np.ones(2), 0, 0).wait_source()
    got = np.zeros(2)
    assert c0.irecv(got, 1, 0).wait_source() == 1 and got.tolist() == [1.0, 1.0]
    with pytest.raises(dist.DistNetworkError, match="rank 0: rank 2 closed its connection .* waited for a message"):
        c0.irecv(np.zeros(1), 2, 0).wait_source()
    c1.close()
    with pytest.raises(dist.DistNetworkError, match="every other rank closed its connection"):
        c0.irecv(np.zeros(1), None, 0).wait_source()
    c0.close()


# ------------------------------------------------------------------------------------------ rendezvous
def test_a_torchrun_job_never_becomes_a_silent_world_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torch's launcher variables without MPI, 'mpi' is refused and the default needs MASTER_ADDR."""
    for var in [v for v in os.environ if v.startswith(("PMI_", "OMPI_", "PMIX_", "MV2_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(RuntimeError, match="started by a torch-style launcher .* use backend 'gloo'"):
        dist.init_process_group("mpi")
    with pytest.raises(ValueError, match="environment variable MASTER_ADDR expected"):
        dist.init_process_group()
    assert not dist.is_initialized()
    assert dist.torch_launch_info() == dist.LaunchInfo(1, 2, -1, -1)


def test_tcp_init_method_with_rank_and_world_size(tmp_path: Path) -> None:
    """torch's ``init_method="tcp://host:port"`` with explicit ranks, in two plain processes (no launcher)."""
    port = _free_port()
    code = (
        "import sys, backprop as bp\nfrom backprop import distributed as dist\n"
        "r = int(sys.argv[1])\n"
        f"dist.init_process_group('gloo', init_method='tcp://127.0.0.1:{port}', rank=r, world_size=2)\n"
        "t = bp.tensor([r + 1.0]); dist.all_reduce(t)\n"
        "print(dist.get_backend(), dist.get_rank(), dist.get_world_size(), dist.get_local_world_size(), t.item())\n"
        "dist.destroy_process_group()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(r)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for r in range(2)
    ]
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == [["gloo", "0", "2", "2", "3.0"], ["gloo", "1", "2", "2", "3.0"]]


# ------------------------------------------------------------------------------------------ the launcher
def _launch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    drop = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", "TORCHELASTIC_RUN_ID")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    cmd = [sys.executable, "-m", "backprop.run", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_launcher_sets_torchs_variables(tmp_path: Path) -> None:
    code = (
        "import os, sys\nv = [os.environ[k] for k in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', "
        "'GROUP_RANK', 'OMP_NUM_THREADS')]\n"
        "v += [str(os.environ['TORCHELASTIC_RUN_ID'] != ''), str(__import__('backprop').distributed."
        "is_torchelastic_launched())]\n"
        "open(os.path.join(sys.argv[1], v[0]), 'w').write(' '.join(v))\n"
    )
    script = tmp_path / "probe.py"
    script.write_text(code)
    proc = _launch("--nproc-per-node", "3", str(script), str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert [(tmp_path / str(r)).read_text() for r in range(3)] == [f"{r} {r} 3 3 0 1 True True" for r in range(3)]
    import backprop as bp

    n = bp.cuda.device_count() if bp.cuda.is_available() else len(os.sched_getaffinity(0))  # (torchrun's "auto")
    auto = _launch("--nproc-per-node", "auto", str(script), str(tmp_path))
    assert auto.returncode == 0 and sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == [
        str(r) for r in range(max(3, n))
    ]
    bad = _launch("--nproc-per-node", "many", str(script))
    assert bad.returncode != 0 and "takes a number, 'gpu', 'cpu' or 'auto', not 'many'" in bad.stderr
    mod = _launch("-m", "json.tool", "--help")  # (-m: the script argument is a module)
    assert mod.returncode == 0 and "json.tool" in mod.stdout


def test_launcher_master_addr_is_torchruns(tmp_path: Path) -> None:
    """One node at a free port: ``localhost`` (torchrun's c10d rendezvous there); a given port: 127.0.0.1 (its
    static default); a given address stays. pytorch/examples' ddp/example.py prints the variables."""
    script = tmp_path / "addr.py"
    script.write_text("import os, sys\nopen(sys.argv[1], 'w').write(os.environ['MASTER_ADDR'])\n")
    for flags, want in [((), "localhost"), (("--master-port", str(_free_port())), "127.0.0.1"),
                        (("--standalone",), "localhost"), (("--master-addr", "127.0.0.1"), "127.0.0.1")]:  # fmt: skip
        out = tmp_path / "got"
        proc = _launch(*flags, "--nproc-per-node", "1", str(script), str(out))
        assert proc.returncode == 0 and out.read_text() == want, (flags, proc.stderr)


def test_launcher_redirects_and_tees_each_ranks_streams_to_torchruns_log_files(tmp_path: Path) -> None:
    """``--log-dir D -r 1 -t 0:2``: each rank's stdout in ``D/<run id>_*/attempt_0/<local rank>/stdout.log``, whole
    lines per rank (a shared console interleaves ranks' prints mid-line); rank 0's stderr also on the console."""
    script = tmp_path / "talk.py"
    script.write_text(  # (one write per line: rank 1's untee'd stderr shares the console with rank 0's tee)
        "import os, sys\nr = os.environ['RANK']\nsys.stdout.write(f'out {r}\\n')\nsys.stderr.write(f'err {r}\\n')\n"
    )
    proc = _launch("--nproc-per-node", "2", "--log-dir", str(tmp_path / "logs"), "-r", "1", "-t", "0:2", str(script))
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / "logs").iterdir()
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*.log"))
    assert files == ["attempt_0/0/stderr.log", "attempt_0/0/stdout.log", "attempt_0/1/stdout.log"]
    assert [(run / "attempt_0" / str(r) / "stdout.log").read_text() for r in (0, 1)] == ["out 0\n", "out 1\n"]
    assert (run / "attempt_0/0/stderr.log").read_text() == "err 0\n"
    assert "[default0]:err 0\n" in proc.stderr and "err 1" in proc.stderr and "out" not in proc.stdout
    bad = _launch("--nproc-per-node", "1", "-r", "5", str(script))
    assert bad.returncode != 0 and "--redirects takes 0..3 or local_rank:value pairs, not '5'" in bad.stderr


def test_launcher_stops_the_job_at_the_first_failure_with_its_exit_code(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text("import os, sys, time\nif os.environ['RANK'] == '1': sys.exit(3)\ntime.sleep(60)\n")
    proc = _launch("--nproc-per-node", "2", str(script), timeout=30)
    assert proc.returncode == 3
    bad = _launch("--nnodes", "2", "--nproc-per-node", "1", str(script))
    assert bad.returncode != 0 and "--master-port is needed with several nodes" in bad.stderr
