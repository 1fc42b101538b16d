"""``DataLoader(num_workers > 0)`` with real worker processes: the batches and order of ``num_workers=0`` (and of
torch's DataLoader), ``get_worker_info`` and ``worker_init_fn`` inside the workers, torch's per-worker seeding,
iterable datasets sharded by the user, persistent workers, torch's error texts (a worker's exception, a killed
worker, a timeout) and clean shutdown (loop ends, ``break``, deletion, KeyboardInterrupt, a dead parent)."""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import random
import signal
import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.utils import data
from backprop.utils.data.worker import _generate_state

try:
    import torch
except ImportError:
    torch = None

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the worker tests fork processes"),
    # torch's warning (ours too) for more workers than this process's CPUs: the tests use 3 on small machines
    pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
]


@pytest.fixture(autouse=True)
def _collect_iterators() -> Any:
    """Iterators kept alive by a caught exception's frames end their workers here, within the test's time."""
    yield
    gc.collect()


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _info() -> Any:
    """The worker info of whichever library is loading (torch's workers run these datasets too)."""
    ours = data.get_worker_info()
    if ours is not None or torch is None:
        return ours
    return torch.utils.data.get_worker_info()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone(pids: list[int], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _tolist(batches: list[Any]) -> list[Any]:
    out = []
    for b in batches:
        if isinstance(b, dict):
            out.append({k: _tolist([v])[0] for k, v in b.items()})
        elif isinstance(b, (list, tuple)):
            out.append(type(b)(_tolist(list(b))))
        else:
            out.append(b.tolist() if hasattr(b, "tolist") else b)
    return out


class Squares:
    """A deterministic map-style dataset of plain values (either library collates it)."""

    def __init__(self, n: int = 10) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"i": i, "x": np.array([i, i * i], dtype=np.float32), "s": str(i)}


class WhoLoads(Squares):
    """Each item says which process (and worker) loaded it, and what ``worker_init_fn`` left in the copy."""

    tag = -1

    def __getitem__(self, i: int) -> tuple:
        info = _info()
        return (i, os.getpid(), info.id, info.num_workers, info.seed, self.tag, info.dataset is self)


class Numbers:
    """``range(start, end)``, optionally split between workers by ``get_worker_info`` (torch's doc example)."""

    def __init__(self, start: int, end: int, shard: bool = True) -> None:
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self) -> Any:
        info = _info()
        if info is None or not self.shard:
            return iter(range(self.start, self.end))
        per = int(math.ceil((self.end - self.start) / info.num_workers))
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))


class BpNumbers(Numbers, data.IterableDataset):
    pass


class Uneven(data.IterableDataset):
    """Worker ``k`` yields ``k + 1`` times as many numbers: the workers run out one after another."""

    def __iter__(self) -> Any:
        info = data.get_worker_info()
        wid = 0 if info is None else info.id
        return iter(range(100 * wid, 100 * wid + 3 * (wid + 1)))


def _loader(ds: Any, **kw: Any) -> Any:
    """backprop's DataLoader with forked workers unless told otherwise (lambdas and local classes need not pickle,
    as under Python 3.14's forkserver default)."""
    if kw.get("num_workers"):
        kw.setdefault("multiprocessing_context", "fork")
    return data.DataLoader(ds, **kw)


def _ours(ds: Any, **kw: Any) -> list[Any]:
    return _tolist(list(_loader(ds, **kw)))


# -- batches and order ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nw", [1, 2, 3])
@pytest.mark.parametrize("kw", [{"batch_size": 3}, {"batch_size": 4, "drop_last": True}, {"batch_size": None}])
def test_map_batches_are_the_single_process_ones_and_torchs(nw: int, kw: dict) -> None:
    want = _ours(Squares(10), **kw)
    assert _ours(Squares(10), num_workers=nw, **kw) == want
    if torch is not None:
        with warnings.catch_warnings():  # (torch warns of more workers than cores)
            warnings.simplefilter("ignore", UserWarning)
            theirs = torch.utils.data.DataLoader(Squares(10), num_workers=nw, multiprocessing_context="fork", **kw)
            assert _tolist(list(theirs)) == want


def test_shuffled_batches_follow_the_seed_whatever_num_workers() -> None:
    def order(nw: int) -> list[list[int]]:
        bp.manual_seed(3)
        return [b["i"] for b in _ours(Squares(13), batch_size=4, shuffle=True, num_workers=nw)]

    single = order(0)
    assert sorted(sum(single, [])) == list(range(13))
    assert order(2) == single and order(3) == single


def test_batches_come_in_order_when_a_later_one_is_ready_first() -> None:
    class SlowFirst(Squares):
        def __getitem__(self, i: int) -> int:
            if i == 0:
                time.sleep(0.3)  # worker 0 is still on batch 0 while worker 1 has sent batch 1
            return i

    assert _ours(SlowFirst(8), batch_size=2, num_workers=2) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    unordered = _ours(SlowFirst(8), batch_size=2, num_workers=2, in_order=False)
    assert sorted(unordered) == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_batches_are_loaded_by_the_workers_in_turn() -> None:
    """Batch ``k`` comes from worker ``k % n``, a separate process, with its own copy of the dataset."""
    rows = _ours(WhoLoads(12), batch_size=2, num_workers=3)
    assert len(rows) == 6
    for k, batch in enumerate(rows):
        i, pid, wid, nw, _, _, same = batch
        assert i == [2 * k, 2 * k + 1] and wid == [k % 3] * 2 and nw == [3, 3] and same == [True, True]
        assert pid[0] == pid[1] != os.getpid()
    assert len({b[1][0] for b in rows}) == 3
    assert data.get_worker_info() is None


def test_collate_fn_runs_in_the_worker() -> None:
    got = list(_loader(Squares(4), batch_size=2, num_workers=2, collate_fn=lambda b: (os.getpid(), len(b))))
    assert [n for _, n in got] == [2, 2] and all(pid != os.getpid() for pid, _ in got)


def test_prefetch_factor_bounds_the_tasks_in_flight() -> None:
    it = iter(_loader(Squares(40), batch_size=1, num_workers=2, prefetch_factor=3))
    assert it._send_idx == 6 and it._tasks_outstanding == 6
    next(it)
    assert it._tasks_outstanding <= 6 and it._send_idx == 7
    del it


def test_pin_memory_is_accepted() -> None:
    """Accepted and without effect; without an accelerator torch's warning says so."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'pin_memory' argument is set as true but no accelerator", UserWarning)
        pinned = _ours(Squares(4), batch_size=2, num_workers=1, pin_memory=True)
    assert pinned == _ours(Squares(4), batch_size=2)


def test_the_default_context_is_the_platforms() -> None:
    loader = data.DataLoader(Squares(6), batch_size=4, num_workers=2)
    assert loader.multiprocessing_context is None and _tolist(list(loader)) == _ours(Squares(6), batch_size=4)


def test_spawned_workers_give_the_same_batches() -> None:
    """A spawn context pickles the dataset to the workers (it must be importable); the batches do not change."""
    ds = data.TensorDataset(bp.arange(6), bp.arange(6.0) * 2)  # (backprop's: the workers need not import this file)
    loader = _loader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert _tolist(list(loader)) == _ours(ds, batch_size=4)


# -- iterable datasets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shard", [True, False])
@pytest.mark.parametrize("kw", [{"batch_size": 2}, {"batch_size": 2, "drop_last": True}, {"batch_size": None}])
def test_iterable_copies_interleave_worker_by_worker_as_torchs(shard: bool, kw: dict) -> None:
    got = _ours(BpNumbers(3, 12, shard), num_workers=2, **kw)
    single = _ours(BpNumbers(3, 12, shard), **kw)
    if shard:  # worker 0 reads 3..7, worker 1 8..11, batches alternating
        want = {
            None: [3, 8, 4, 9, 5, 10, 6, 11, 7],
            False: [[3, 4], [8, 9], [5, 6], [10, 11], [7]],
            True: [[3, 4], [8, 9], [5, 6], [10, 11]],
        }
        assert got == want[bool(kw.get("drop_last")) if kw["batch_size"] else None]
    else:  # each worker reads it all: every batch twice, worker 0's first
        assert got == [b for b in single for _ in range(2)]
    if torch is not None:
        tds = type("TorchNumbers", (Numbers, torch.utils.data.IterableDataset), {})(3, 12, shard)
        assert (
            _tolist(list(torch.utils.data.DataLoader(tds, num_workers=2, multiprocessing_context="fork", **kw))) == got
        )


def test_an_exhausted_worker_leaves_the_rotation() -> None:
    got = _ours(Uneven(), batch_size=2, num_workers=3)
    assert got == [
        [0, 1],
        [100, 101],
        [200, 201],
        [2],
        [102, 103],
        [202, 203],
        [104, 105],
        [204, 205],
        [206, 207],
        [208],
    ]
    loader = _loader(Uneven(), batch_size=2, num_workers=3, persistent_workers=True)
    assert _tolist(list(loader)) == got and _tolist(list(loader)) == got  # the streams restart each pass


# -- worker_init_fn, get_worker_info, seeding ------------------------------------------------------------------------


def _tag(worker_id: int) -> None:
    info = _info()
    info.dataset.tag = 10 * worker_id + info.num_workers


def test_worker_init_fn_runs_first_in_each_worker_on_its_copy() -> None:
    ds = WhoLoads(6)
    rows = _ours(ds, batch_size=None, num_workers=2, worker_init_fn=_tag)
    assert [r[5] for r in rows] == [2, 12, 2, 12, 2, 12] and ds.tag == -1
    seeds = {r[2]: r[4] for r in rows}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id
    if torch is not None:
        theirs = [
            _tolist(list(r))
            for r in torch.utils.data.DataLoader(
                WhoLoads(6), batch_size=None, num_workers=2, worker_init_fn=_tag, multiprocessing_context="fork"
            )
        ]
        assert [r[5] for r in theirs] == [2, 12, 2, 12, 2, 12]
        assert [(r[0], r[2], r[3], r[6]) for r in theirs] == [(r[0], r[2], r[3], r[6]) for r in rows]
        tseeds = {r[2]: r[4] for r in theirs}
        assert tseeds[1] == tseeds[0] + 1


def test_worker_info_fields_and_frozenness() -> None:
    class Peek(Squares):
        def __getitem__(self, i: int) -> tuple:
            info = data.get_worker_info()
            try:
                info.id = 5
                refused = ""
            except RuntimeError as e:
                refused = str(e)
            return (type(info).__name__, type(info.seed).__name__, type(info.dataset).__name__, refused)

    rows = list(_loader(Peek(2), batch_size=None, num_workers=1))
    assert rows == [["WorkerInfo", "int", "Peek", "Cannot assign attributes to WorkerInfo objects"]] * 2


class Draws(Squares):
    """Random numbers drawn in ``__getitem__`` from each generator a worker is seeded with."""

    def __getitem__(self, i: int) -> tuple:
        info = data.get_worker_info()
        return (info.id, info.seed, bp.initial_seed(), bp.rand(2).tolist(), random.random(), float(np.random.random()))


def test_workers_are_seeded_as_torchs() -> None:
    """``base_seed + id`` into backprop's generator and Python's ``random``, NumPy's from torch's hash of both;
    the streams depend on ``bp.manual_seed`` and the worker id only."""

    def run() -> list[tuple]:
        bp.manual_seed(7)
        return list(_loader(Draws(4), batch_size=None, num_workers=2))

    rows = run()
    assert rows == run()
    first = {}
    for wid, seed, initial, _, _, _ in rows:
        assert initial == seed
        first.setdefault(wid, seed)
    assert first[1] == first[0] + 1
    for wid in (0, 1):  # the worker's first draw is a fresh stream from its seed
        wid_rows = [r for r in rows if r[0] == wid]
        base = wid_rows[0][1] - wid
        bp.manual_seed(base + wid)
        assert wid_rows[0][3] == bp.rand(2).tolist()
        assert wid_rows[0][4] == random.Random(base + wid).random()
        assert wid_rows[0][5] == np.random.RandomState(_generate_state(base, wid)).random_sample()
    assert rows[0][3] != rows[1][3]
    bp.manual_seed(8)
    assert list(_loader(Draws(4), batch_size=None, num_workers=2))[0][3] != rows[0][3]


def test_generate_state_is_torchs() -> None:
    worker = pytest.importorskip("torch.utils.data._utils.worker")
    for base, wid in [(0, 0), (123456789012345, 3), (2**63 - 2, 7)]:
        assert _generate_state(base, wid) == worker._generate_state(base, wid)


# -- persistent workers --------------------------------------------------------------------------------------------


class CountsInits(Squares):
    inits = 0

    def __getitem__(self, i: int) -> tuple:
        return (i, os.getpid(), self.inits)


def _count(worker_id: int) -> None:
    data.get_worker_info().dataset.inits += 1


def test_persistent_workers_stay_between_passes() -> None:
    loader = _loader(CountsInits(6), batch_size=3, num_workers=2, persistent_workers=True, worker_init_fn=_count)
    one, two = _tolist(list(loader)), _tolist(list(loader))
    assert [b[0] for b in one] == [b[0] for b in two] == [[0, 1, 2], [3, 4, 5]]
    assert [b[1] for b in one] == [b[1] for b in two]  # the same processes
    assert all(b[2] == [1, 1, 1] for b in one + two)  # initialised once
    pids = [b[1][0] for b in one]
    assert all(_alive(p) for p in pids)
    os.kill(pids[0], signal.SIGKILL)  # a worker that dies between passes: the next pass starts them all again
    assert _gone(pids[:1])
    three = _tolist(list(loader))
    assert [b[0] for b in three] == [[0, 1, 2], [3, 4, 5]] and not {b[1][0] for b in three} & set(pids)
    assert _gone(pids)
    pids = [b[1][0] for b in three]
    del loader
    gc.collect()
    assert _gone(pids)
    fresh = _loader(CountsInits(6), batch_size=3, num_workers=2)
    assert [b[1] for b in _tolist(list(fresh))] != [b[1] for b in _tolist(list(fresh))]  # new processes each pass


# -- errors --------------------------------------------------------------------------------------------------------


class Fails(Squares):
    def __init__(self, n: int, exc: Exception, at: int = 3) -> None:
        super().__init__(n)
        self.exc, self.at = exc, at

    def __getitem__(self, i: int) -> int:
        if i == self.at:
            raise self.exc
        return i


class NeedsTwo(Exception):
    def __init__(self, a: Any, b: Any) -> None:
        super().__init__(a, b)


def _raised(loader: Any) -> BaseException:
    """The exception a pass over ``loader`` raises."""
    it = iter(loader)
    try:
        list(it)
    except Exception as e:  # noqa: BLE001 - returned to be checked
        return e
    finally:
        if type(it).__module__.startswith("torch"):  # (collected in a cycle, torch's would wait 5 s a worker)
            it._shutdown_workers()
    raise AssertionError("the pass did not raise")


@pytest.mark.parametrize("lib", ["backprop", "torch"])
def test_a_workers_exception_is_raised_with_torchs_text(lib: str) -> None:
    dl = _loader if lib == "backprop" else _torch().utils.data.DataLoader
    kw: dict = {"multiprocessing_context": "fork"}
    err = _raised(dl(Fails(8, ValueError("bad item")), batch_size=2, num_workers=2, **kw))
    assert type(err) is ValueError
    text = str(err)
    assert text.startswith(
        "Caught ValueError in DataLoader worker process 1.\nOriginal Traceback (most recent call last):"
    )
    assert text.rstrip().endswith("ValueError: bad item") and "__getitem__" in text
    key = _raised(dl(Fails(4, KeyError("k"), at=0), batch_size=2, num_workers=1, **kw))
    assert type(key) is KeyError and str(key).startswith("Caught KeyError in DataLoader worker process 0.\n")
    odd = _raised(dl(Fails(4, NeedsTwo(1, 2), at=0), batch_size=2, num_workers=1, **kw))
    assert type(odd) is RuntimeError and str(odd).startswith("Caught NeedsTwo in DataLoader worker process 0.\n")


def _init_fails(worker_id: int) -> None:
    if worker_id == 1:
        raise OSError("no shard")


@pytest.mark.parametrize("lib", ["backprop", "torch"])
def test_a_failing_worker_init_fn_is_raised(lib: str) -> None:
    dl = _loader if lib == "backprop" else _torch().utils.data.DataLoader
    kw: dict = {"multiprocessing_context": "fork"}
    err = _raised(dl(Squares(8), batch_size=2, num_workers=2, worker_init_fn=_init_fails, **kw))
    assert type(err) is OSError and str(err).startswith("Caught OSError in DataLoader worker process 1.\n")
    assert "no shard" in str(err)


def test_an_error_does_not_end_the_pass_and_the_workers_end_with_the_iterator() -> None:
    """As torch's, the iterator survives a worker's exception (the next batches still come); its workers end when
    it is released."""
    it = iter(_loader(Fails(8, ValueError("x"), at=2), batch_size=2, num_workers=2))
    pids = [w.pid for w in it._workers]
    assert next(it).tolist() == [0, 1]
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 1"):
        next(it)
    assert [b.tolist() for b in it] == [[4, 5], [6, 7]]
    assert _gone(pids, within=0.5)  # the pass ended: the workers were told to leave
    it = iter(_loader(Fails(8, ValueError("x"), at=0), batch_size=2, num_workers=2))
    pids = [w.pid for w in it._workers]
    try:
        next(it)
    except ValueError:
        pass
    del it
    gc.collect()
    assert _gone(pids)


def test_an_unpicklable_batch_is_an_error_not_a_hang() -> None:
    loader = _loader(Squares(4), batch_size=2, num_workers=1, collate_fn=lambda b: lambda: b, timeout=5)
    err = _raised(loader)
    assert "in DataLoader worker process 0" in str(err) and "pickle" in str(err).lower()


class Killer(Squares):
    def __getitem__(self, i: int) -> int:
        if i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


@pytest.mark.parametrize("lib", ["backprop", "torch"])
def test_a_killed_worker_is_torchs_runtime_error(lib: str) -> None:
    dl = _loader if lib == "backprop" else _torch().utils.data.DataLoader
    kw: dict = {"multiprocessing_context": "fork"}
    err = _raised(dl(Killer(6), batch_size=2, num_workers=2, **kw))
    assert type(err) is RuntimeError
    assert str(err).startswith("DataLoader worker (pid(s) ") and str(err).endswith(") exited unexpectedly")
    assert "is killed by signal: Killed." in str(err.__cause__)


class Slow(Squares):
    def __getitem__(self, i: int) -> int:
        time.sleep(0.6 if i == 0 else 0)
        return i


@pytest.mark.parametrize("lib", ["backprop", "torch"])
def test_timeout_is_torchs_error(lib: str) -> None:
    dl = _loader if lib == "backprop" else _torch().utils.data.DataLoader
    kw: dict = {"multiprocessing_context": "fork"}
    err = _raised(dl(Slow(2), batch_size=1, num_workers=1, timeout=0.2, **kw))
    assert type(err) is RuntimeError and str(err) == "DataLoader timed out after 0.2 seconds"


# -- shutdown ------------------------------------------------------------------------------------------------------


def test_workers_end_after_the_pass_on_break_and_on_deletion() -> None:
    it = iter(_loader(Squares(8), batch_size=2, num_workers=2))
    procs = list(it._workers)
    assert all(p.is_alive() for p in procs)
    list(it)
    assert not any(p.is_alive() for p in procs)

    before = set(multiprocessing.active_children())

    def first_only() -> None:
        for _ in _loader(Squares(40), batch_size=2, num_workers=2):
            seen.extend(w.pid for w in set(multiprocessing.active_children()) - before)
            break

    seen: list[int] = []
    first_only()
    assert len(seen) == 2 and _gone(seen)
    it = iter(_loader(Squares(40), batch_size=2, num_workers=2))
    next(it)
    pids = [w.pid for w in it._workers]
    del it
    assert _gone(pids)


def test_keyboard_interrupt_in_the_loop_ends_the_workers() -> None:
    pids: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        for batch in _loader(WhoLoads(40), batch_size=2, num_workers=2):
            pids.append(batch[1][0].item())
            if len(pids) == 2:
                raise KeyboardInterrupt
    gc.collect()
    assert len(set(pids)) == 2 and _gone(pids)


class Stuck(Squares):
    def __getitem__(self, i: int) -> int:
        time.sleep(0.15 if i >= 2 else 0)
        return os.getpid()


def test_ctrl_c_while_waiting_for_a_batch_ends_the_workers() -> None:
    """SIGINT while the main process waits: KeyboardInterrupt there; the iterator, kept by the traceback's frames,
    still reaches its workers when it is collected."""
    it = iter(_loader(Stuck(8), batch_size=2, num_workers=2))
    pids = [w.pid for w in it._workers]
    next(it)
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        next(it)
    timer.join()
    del it
    gc.collect()
    assert _gone(pids, within=1.0)


def _orphaning_parent(out: Any) -> None:
    it = iter(_loader(Squares(40), batch_size=2, num_workers=2))
    next(it)
    out.put([w.pid for w in it._workers])
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup at all


def test_workers_of_a_killed_parent_leave() -> None:
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    parent = ctx.Process(target=_orphaning_parent, args=(out,))
    parent.start()
    pids = out.get()
    parent.join(5)
    assert parent.exitcode == -signal.SIGKILL
    assert _gone(pids, within=3)
