"""torch.distributed's remaining public names in ``backprop.distributed``, checked in one process against torch's
own: every name exists (``dir`` too), signatures, ``DebugLevel`` and ``TORCH_DISTRIBUTED_DEBUG``, ``supports_complex``,
the deprecated ``reduce_op`` and coalesced collectives' warnings, the ``*Options`` fields, ``QueueEmptyError``,
``rendezvous`` (tcp://, env://, a registered scheme through ``init_process_group``, torch's errors), the group
count and ``breakpoint`` (a child process fed ``c`` on stdin). Two-rank behaviour: tests/test_distributed_nn.py."""

from __future__ import annotations

import datetime
import inspect
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import backprop as bp
from backprop import distributed as dist

torch = pytest.importorskip("torch")
import torch.distributed as tdist  # noqa: E402

NAMES = """DebugLevel get_debug_level set_debug_level set_debug_level_from_env breakpoint supports_complex get_pg_count
all_gather_coalesced all_reduce_coalesced reduce_op GroupName rendezvous register_rendezvous_handler split_group
DeviceMesh init_device_mesh QueueEmptyError AllToAllOptions AllreduceCoalescedOptions AllreduceOptions
BarrierOptions BroadcastOptions GatherOptions ReduceOptions ReduceScatterOptions ScatterOptions""".split()
HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_group() -> Iterator[None]:
    yield
    if dist.is_initialized():
        dist.destroy_process_group()
    if tdist.is_initialized():
        tdist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_names_exist_and_signatures_match() -> None:
    for name in NAMES:
        assert hasattr(tdist, name) and hasattr(dist, name), name
        assert name in dir(dist), name
    for name in ["breakpoint", "supports_complex", "get_pg_count", "all_gather_coalesced", "all_reduce_coalesced",
                 "rendezvous", "register_rendezvous_handler", "split_group"]:  # fmt: skip
        ours, theirs = inspect.signature(getattr(dist, name)), inspect.signature(getattr(tdist, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p, q in zip(ours.parameters.values(), theirs.parameters.values()):
            assert p.kind == q.kind, (name, p)
            if not (isinstance(q.default, object) and type(q.default).__name__ in ("RedOpType", "ReduceOp")):
                assert p.default == q.default, (name, p)
    assert issubclass(dist.QueueEmptyError, dist.DistStoreError) and issubclass(dist.QueueEmptyError, RuntimeError)
    assert dist.GroupName("g") == tdist.GroupName("g") == "g"


def test_debug_level(monkeypatch: pytest.MonkeyPatch) -> None:
    assert list(dist.DebugLevel.__members__) == list(tdist.DebugLevel.__members__)
    assert [int(v) for v in dist.DebugLevel.__members__.values()] == [
        int(v) for v in tdist.DebugLevel.__members__.values()
    ]
    try:
        for value in ("detail", "INFO", "Off"):
            monkeypatch.setenv("TORCH_DISTRIBUTED_DEBUG", value)
            dist.set_debug_level_from_env()
            tdist.set_debug_level_from_env()
            assert dist.get_debug_level().name == tdist.get_debug_level().name
        monkeypatch.setenv("TORCH_DISTRIBUTED_DEBUG", "loud")
        with pytest.raises(ValueError) as theirs:
            tdist.set_debug_level_from_env()
        with pytest.raises(ValueError, match=str(theirs.value)):
            dist.set_debug_level_from_env()
        with pytest.raises(TypeError):
            tdist.set_debug_level("INFO")
        with pytest.raises(TypeError, match="incompatible function arguments"):
            dist.set_debug_level("INFO")  # type: ignore[arg-type]
        dist.set_debug_level(dist.DebugLevel.DETAIL)
        assert dist.get_debug_level() is dist.DebugLevel.DETAIL
        dist._debug_level = None  # (unset: the first get reads the environment)
        monkeypatch.setenv("TORCH_DISTRIBUTED_DEBUG", "INFO")
        assert dist.get_debug_level() is dist.DebugLevel.INFO
    finally:
        monkeypatch.delenv("TORCH_DISTRIBUTED_DEBUG")
        tdist.set_debug_level(tdist.DebugLevel.OFF)
        dist.set_debug_level(dist.DebugLevel.OFF)


def test_supports_complex_and_reduce_op() -> None:
    for name in dist.ReduceOp.__members__:
        assert dist.supports_complex(getattr(dist.ReduceOp, name)) == tdist.supports_complex(
            getattr(tdist.ReduceOp, name)
        ), name
    got = []
    for lib in (tdist, dist):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            member = lib.reduce_op.MAX
        got.append([(c.category, str(c.message)) for c in caught])
        assert member.name == "MAX"
    assert got[0] == got[1] and got[1][0][0] is FutureWarning


def test_coalesced_warnings_match_torch() -> None:
    tdist.init_process_group("gloo", rank=0, world_size=1, store=tdist.HashStore())
    dist.init_process_group()
    for lib, mod in ((torch, tdist), (bp, dist)):
        texts = []
        for which in ("reduce", "gather"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if which == "reduce":
                    mod.all_reduce_coalesced([lib.ones(2), lib.ones(3)])
                else:
                    mod.all_gather_coalesced([[lib.zeros(2)]], [lib.ones(2)])
            texts.append([(c.category, str(c.message)) for c in caught])
        if mod is tdist:
            theirs = texts
    assert texts == theirs
    with pytest.raises(ValueError, match="different dtypes"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dist.all_reduce_coalesced([bp.ones(2), bp.ones(2, dtype=bp.float64)])


def test_options_dataclasses_have_torchs_fields() -> None:
    for name in [n for n in NAMES if n.endswith("Options")]:
        theirs, ours = getattr(tdist, name)(), getattr(dist, name)()
        fields = [a for a in dir(theirs) if not a.startswith("_")]
        assert fields == sorted(f.name for f in __import__("dataclasses").fields(ours)), name
        for f in fields:
            t, o = getattr(theirs, f), getattr(ours, f)
            if f == "reduceOp":
                assert o is dist.ReduceOp.SUM
            else:
                assert o == t, (name, f)
    assert dist.AllreduceOptions(reduceOp=dist.ReduceOp.MAX).reduceOp is dist.ReduceOp.MAX


def test_rendezvous_tcp_env_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    store, rank, size = next(dist.rendezvous(f"tcp://127.0.0.1:{port}", rank=0, world_size=1))
    store.set("k", "v")
    assert (rank, size, store.get("k")) == (0, 1, b"v")
    store.close()
    port = _free_port()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    store, rank, size = next(dist.rendezvous("env://"))
    assert (rank, size, type(store).__name__) == (0, 1, "TCPStore")
    store.close()
    monkeypatch.delenv("MASTER_ADDR")
    bad = [
        ("env://", {}),  # MASTER_ADDR missing
        ("tcp://127.0.0.1", {"rank": 0, "world_size": 1}),  # no port
        ("tcp://127.0.0.1:1", {"world_size": 1}),  # no rank
        ("tcp://127.0.0.1:1?rank=0", {"rank": 0}),  # node arguments twice
        ("nope://x", {}),
        (3, {}),
    ]
    for url, kwargs in bad:
        with pytest.raises(Exception) as theirs:
            next(tdist.rendezvous(url, **kwargs))
        with pytest.raises(type(theirs.value)) as ours:
            next(dist.rendezvous(url, **kwargs))  # type: ignore[arg-type]
        assert str(ours.value) == str(theirs.value), url


def test_registered_scheme_initialises_and_group_count() -> None:
    """A scheme of register_rendezvous_handler serves init_process_group; registering twice is torch's error; the
    group count follows torch's (1 after init, +1 per new_group, 0 after destroy)."""

    def handler(url: str, **kwargs: Any) -> Iterator[tuple[Any, int, int]]:
        assert isinstance(kwargs["timeout"], datetime.timedelta)
        yield dist.HashStore(), 0, 1

    dist.register_rendezvous_handler("bptest", handler)
    with pytest.raises(RuntimeError, match="Rendezvous handler for bptest:// already registered"):
        dist.register_rendezvous_handler("bptest", handler)
    counts = []
    for mod, kwargs in ((tdist, {"store": tdist.HashStore(), "rank": 0, "world_size": 1}), (dist, {})):
        if mod is dist:
            dist.init_process_group("gloo", init_method="bptest://anywhere")
            assert (dist.get_world_size(), dist.get_backend()) == (1, "gloo")
        else:
            tdist.init_process_group("gloo", **kwargs)
        seq = [mod.get_pg_count()]
        mod.new_group([0])
        mod.new_group()
        seq.append(mod.get_pg_count())
        mod.destroy_process_group()
        seq.append(mod.get_pg_count())
        counts.append(seq)
    assert counts[0] == counts[1] == [1, 3, 0]


def test_breakpoint_stops_on_its_rank_only() -> None:
    """rank 0 of a world of one stops in pdb (reads 'c' from stdin) after skipping the first call; another rank's
    breakpoint is only a barrier."""
    script = (
        "from backprop import distributed as dist\n"
        "dist.init_process_group()\n"
        "dist.breakpoint(rank=1)\n"
        "for i in range(2):\n"
        "    dist.breakpoint(skip=1)\n"
        "    print('after', i, flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], input="c\n", capture_output=True, text=True, timeout=60, cwd=HERE.parent,
        env={**__import__("os").environ, "PYTHONPATH": str(HERE.parent)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("!!! ATTENTION !!!") == 1, proc.stdout
    assert "dist.breakpoint(rank=0)" in proc.stdout
    assert proc.stdout.index("after 0") < proc.stdout.index("ATTENTION") < proc.stdout.index("after 1")
    assert "Skip the breakpoint, counter=1" in proc.stderr
