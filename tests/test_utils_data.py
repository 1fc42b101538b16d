"""bp.utils.data against torch.utils.data: datasets, samplers, collation, DataLoader (orders, batches, dtypes,
lengths, errors), shuffling as permutations under bp.manual_seed, and a small model trained from a DataLoader."""

from __future__ import annotations

import collections
import math
import re
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.utils import data

Point = collections.namedtuple("Point", ["x", "y"])


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _same(ours: Any, theirs: Any) -> None:
    """Equal structure (container types, keys), and tensors of equal shape, dtype and values."""
    if isinstance(ours, bp.Tensor):
        assert type(theirs).__name__ == "Tensor", (ours, theirs)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        return
    assert type(ours) is type(theirs), (ours, theirs)
    if isinstance(ours, dict):
        assert list(ours) == list(theirs)
        for k in ours:
            _same(ours[k], theirs[k])
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _same(a, b)
    else:
        assert ours == theirs


def _raises_like(ours: Any, theirs: Any) -> None:
    """``ours()`` raises the exception type ``theirs()`` raises, with torch's message at its start."""
    with pytest.raises(Exception) as expected:  # noqa: PT011 - the type is torch's, checked below
        theirs()
    with pytest.raises(type(expected.value), match="^" + re.escape(str(expected.value))):
        ours()


def _tensors(torch: Any) -> tuple[tuple[bp.Tensor, ...], tuple[Any, ...]]:
    x = np.arange(21, dtype=np.float32).reshape(7, 3)
    y = np.arange(7, dtype=np.int64) % 3
    return (bp.tensor(x), bp.tensor(y)), (torch.tensor(x), torch.tensor(y))


# ---- datasets -----------------------------------------------------------------------------------


def test_tensor_dataset_items_and_length_as_torch(torch: Any) -> None:
    ours, theirs = data.TensorDataset(*_tensors(torch)[0]), torch.utils.data.TensorDataset(*_tensors(torch)[1])
    assert len(ours) == len(theirs) == 7
    for i in (0, 3, -1):
        _same(ours[i], theirs[i])
    _same(ours[1:4], theirs[1:4])
    _raises_like(
        lambda: data.TensorDataset(bp.zeros(3, 2), bp.zeros(4)),
        lambda: torch.utils.data.TensorDataset(torch.zeros(3, 2), torch.zeros(4)),
    )


def test_subset_concat_chain_and_stack_datasets(torch: Any) -> None:
    a, b = data.TensorDataset(bp.arange(3)), data.TensorDataset(bp.arange(10, 15))
    ta, tb = torch.utils.data.TensorDataset(torch.arange(3)), torch.utils.data.TensorDataset(torch.arange(10, 15))
    both, tboth = a + b, ta + tb
    assert isinstance(both, data.ConcatDataset)
    assert both.cumulative_sizes == tboth.cumulative_sizes == [3, 8]
    assert [both[i][0].item() for i in range(-8, 8)] == [tboth[i][0].item() for i in range(-8, 8)]
    _raises_like(lambda: both[-9], lambda: tboth[-9])
    _raises_like(lambda: data.ConcatDataset([]), lambda: torch.utils.data.ConcatDataset([]))

    sub, tsub = data.Subset(both, [7, 0, 4]), torch.utils.data.Subset(tboth, [7, 0, 4])
    assert len(sub) == 3 and [sub[i][0].item() for i in range(3)] == [tsub[i][0].item() for i in range(3)] == [
        14,
        0,
        11,
    ]
    assert [s[0].item() for s in sub.__getitems__([2, 1])] == [11, 0]

    class Stream(data.IterableDataset):
        def __init__(self, n: int) -> None:
            self.n = n

        def __iter__(self) -> Any:
            return iter(range(self.n))

        def __len__(self) -> int:
            return self.n

    chain = Stream(2) + Stream(3)
    assert isinstance(chain, data.ChainDataset) and list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        data.ConcatDataset([a, Stream(2)])

    class Doubled(data.Subset):  # torch 2.13 refuses this subclass (no __getitems__); here its __getitem__ counts
        def __getitem__(self, idx: Any) -> Any:
            return 2 * super().__getitem__(idx)[0]

    assert next(iter(data.DataLoader(Doubled(a, [2, 0]), batch_size=2))).tolist() == [4, 0]

    stacked = data.StackDataset(a, data.Subset(b, [0, 1, 2]))
    assert len(stacked) == 3 and [t[0].item() for t in stacked[2]] == [2, 12]
    named = data.StackDataset(x=a, y=a)
    assert list(named[1]) == ["x", "y"]
    _raises_like(lambda: data.StackDataset(a, b), lambda: torch.utils.data.StackDataset(ta, tb))
    _raises_like(lambda: data.StackDataset(), lambda: torch.utils.data.StackDataset())


@pytest.mark.parametrize(
    ("n", "lengths"),
    [(10, [0.3, 0.7]), (10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (11, [0.1] * 10), (5, [0.2, 0.8]), (100, [0.9, 0.1])],
)
def test_random_split_fraction_lengths_as_torch(torch: Any, n: int, lengths: list[float]) -> None:
    ours = data.random_split(range(n), lengths)
    theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    items = sorted(i for s in ours for i in (s[k] for k in range(len(s))))
    assert items == list(range(n))  # the splits partition the dataset


def test_random_split_counts_errors_and_reproducibility(torch: Any) -> None:
    splits = data.random_split(range(10), [2, 3, 5])
    assert [len(s) for s in splits] == [2, 3, 5]
    assert sorted(i for s in splits for i in s.indices) == list(range(10))
    bp.manual_seed(7)
    first = [s.indices for s in data.random_split(range(10), [5, 5])]
    bp.manual_seed(7)
    assert [s.indices for s in data.random_split(range(10), [5, 5])] == first
    gen = [s.indices for s in data.random_split(range(10), [5, 5], generator=np.random.default_rng(3))]
    assert gen == [s.indices for s in data.random_split(range(10), [5, 5], generator=np.random.default_rng(3))]
    for bad in ([3, 3], [0.5, 0.6], [1.5, -0.5]):
        _raises_like(
            lambda b=bad: data.random_split(range(10), b), lambda b=bad: torch.utils.data.random_split(range(10), b)
        )
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        assert [len(s) for s in data.random_split(range(2), [0.9, 0.1])] == [2, 0]


# ---- samplers ------------------------------------------------------------------------------------


def test_sequential_and_batch_samplers_as_torch(torch: Any) -> None:
    tds = torch.utils.data
    assert list(data.SequentialSampler(range(5))) == list(tds.SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    for size in (1, 3, 5, 7):
        for drop_last in (False, True):
            ours = data.BatchSampler(data.SequentialSampler(range(10)), size, drop_last)
            theirs = tds.BatchSampler(tds.SequentialSampler(range(10)), size, drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
    for size, drop_last in ((0, False), (2.0, False), (True, False), (2, 1)):
        _raises_like(
            lambda s=size, d=drop_last: data.BatchSampler(range(3), s, d),
            lambda s=size, d=drop_last: tds.BatchSampler(range(3), s, d),
        )


def test_random_sampler_is_a_permutation_and_reproducible(torch: Any) -> None:
    order = list(data.RandomSampler(range(50)))
    assert sorted(order) == list(range(50)) and order != list(range(50))
    bp.manual_seed(3)
    a = list(data.RandomSampler(range(20)))
    bp.manual_seed(3)
    assert list(data.RandomSampler(range(20))) == a
    longer = list(data.RandomSampler(range(4), num_samples=10))  # two whole permutations, then 2 of a third
    assert len(longer) == 10 and sorted(longer[:4]) == sorted(longer[4:8]) == [0, 1, 2, 3]
    assert len(set(longer[8:])) == 2
    drawn = list(data.RandomSampler(range(3), replacement=True, num_samples=70))
    assert len(drawn) == 70 and set(drawn) == {0, 1, 2}
    assert len(data.RandomSampler(range(3), num_samples=70)) == 70
    tds = torch.utils.data
    for kw in ({"num_samples": 0}, {"num_samples": -1}, {"replacement": 1}, {"num_samples": 2.0}):
        _raises_like(lambda k=kw: data.RandomSampler(range(3), **k), lambda k=kw: tds.RandomSampler(range(3), **k))
    _raises_like(lambda: data.RandomSampler([]), lambda: tds.RandomSampler([]))
    subset = list(data.SubsetRandomSampler([5, 9, 11, 2]))
    assert sorted(subset) == [2, 5, 9, 11]


def test_weighted_random_sampler(torch: Any) -> None:
    draws = np.array(list(data.WeightedRandomSampler([1.0, 0.0, 3.0], 8000)))
    assert set(draws.tolist()) == {0, 2}  # a zero weight is never drawn
    assert abs((draws == 2).mean() - 0.75) < 0.03  # 6 sigma of a binomial(8000, 0.75)
    once = list(data.WeightedRandomSampler(bp.tensor([1.0, 2.0, 3.0, 4.0]), 4, replacement=False))
    assert sorted(once) == [0, 1, 2, 3]
    assert list(data.WeightedRandomSampler([1.0, 0.0, 0.0], 3, replacement=False))[0] == 0
    tds = torch.utils.data
    for args in (([1.0, 2.0], 0), ([1.0, 2.0], 2, 1), ([[1.0, 2.0]], 2)):
        _raises_like(lambda a=args: data.WeightedRandomSampler(*a), lambda a=args: tds.WeightedRandomSampler(*a))
    for args in (([1.0, -1.0], 1), ([0.0, 0.0], 1), ([1.0, 2.0], 3, False), ([1.0, math.nan], 1)):
        _raises_like(
            lambda a=args: list(data.WeightedRandomSampler(*a)), lambda a=args: list(tds.WeightedRandomSampler(*a))
        )


def test_distributed_sampler_shares_as_torch(torch: Any) -> None:
    tds = torch.utils.data
    for n in (1, 2, 7, 9, 10):
        for drop_last in (False, True):
            for rank in range(3):
                kw = {"num_replicas": 3, "rank": rank, "shuffle": False, "drop_last": drop_last}
                ours, theirs = data.DistributedSampler(range(n), **kw), tds.DistributedSampler(range(n), **kw)
                assert list(ours) == list(theirs) and len(ours) == len(theirs)
    shares = [data.DistributedSampler(range(10), num_replicas=2, rank=r, seed=4) for r in range(2)]
    first = [list(s) for s in shares]
    assert sorted(first[0] + first[1]) == list(range(10)) and first[0] != [0, 2, 4, 6, 8]
    assert [list(s) for s in shares] == first  # the same epoch gives the same order
    for s in shares:
        s.set_epoch(1)
    second = [list(s) for s in shares]
    assert sorted(second[0] + second[1]) == list(range(10)) and second != first
    _raises_like(
        lambda: data.DistributedSampler(range(4), num_replicas=2, rank=2),
        lambda: tds.DistributedSampler(range(4), num_replicas=2, rank=2),
    )


# ---- collation -----------------------------------------------------------------------------------


def _batches(mod: Any, np_: Any = np) -> list[list[Any]]:
    t = mod.tensor
    return [
        [t([1.0, 2.0]), t([3.0, 4.0])],
        [t(1), t(2), t(3)],
        [1.5, 2.0],
        [1, 2, 3],
        [True, False],
        [np.arange(3, dtype=np.int32), np.arange(3, 6, dtype=np.int32)],
        [np.ones((2, 2), dtype=np.float16), np.zeros((2, 2), dtype=np.float16)],
        [np.float64(1.5), np.float64(2.5)],
        [np.int16(1), np.int16(2)],
        [np.bool_(True), np.bool_(False)],
        ["a", "b"],
        [(1, "x", 2.0), (2, "y", 3.0)],
        [[1, 2], [3, 4]],
        [{"a": 1, "b": t([1, 2])}, {"a": 2, "b": t([3, 4])}],
        [Point(1, 2.0), Point(3, 4.0)],
        [{"nested": [np.zeros(2), (1.0, True)]}, {"nested": [np.ones(2), (2.0, False)]}],
    ]


def test_default_collate_as_torch(torch: Any) -> None:
    for ours, theirs in zip(_batches(bp), _batches(torch), strict=True):
        _same(data.default_collate(ours), torch.utils.data.default_collate(theirs))
    assert data.default_collate([1.5, 2.0]).dtype == bp.float64  # Python floats: float64, not the default dtype
    assert data.default_collate([bp.zeros(2)]).device == bp.device("cpu")


def test_default_collate_rules() -> None:
    """torch's documented rules, checked without torch."""
    assert data.default_collate([1.5, 2.0]).dtype == bp.float64
    assert data.default_collate([1, 2]).dtype == bp.int64 and data.default_collate([True]).dtype == bp.bool
    assert data.default_collate([np.zeros(2, np.uint8)] * 3).dtype == bp.uint8
    out = data.default_collate([{"p": Point(1, "a"), "q": (bp.zeros(2), 1.0)}] * 4)
    assert isinstance(out["p"], Point) and out["p"].x.tolist() == [1] * 4 and out["p"].y == ("a",) * 4
    assert isinstance(out["q"], list) and tuple(out["q"][0].shape) == (4, 2) and out["q"][1].dtype == bp.float64
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        data.default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        data.default_collate([bp.zeros(3), bp.zeros(2)])


def test_default_collate_errors_as_torch(torch: Any) -> None:
    tdc = torch.utils.data.default_collate
    _raises_like(lambda: data.default_collate([[1, 2], [3]]), lambda: tdc([[1, 2], [3]]))
    _raises_like(
        lambda: data.default_collate([bp.zeros(3), bp.zeros(2)]), lambda: tdc([torch.zeros(3), torch.zeros(2)])
    )
    _raises_like(lambda: data.default_collate([object()]), lambda: tdc([object()]))
    _raises_like(lambda: data.default_collate([np.array(["a"])]), lambda: tdc([np.array(["a"])]))


def test_default_convert_as_torch(torch: Any) -> None:
    cases = [np.float64(3.0), 3.0, (1, 2), np.arange(3, dtype=np.int8), {"a": np.ones(2)}, Point(np.int64(1), "s")]
    for case in cases:
        _same(data.default_convert(case), torch.utils.data.default_convert(case))
    array = np.arange(4.0)
    assert np.shares_memory(data.default_convert(array).numpy(), array)  # as_tensor: no copy, as torch


def test_default_collate_carries_gradients(torch: Any) -> None:
    rows = [bp.tensor([1.0, 2.0], requires_grad=True), bp.tensor([3.0, 4.0], requires_grad=True)]
    trows = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0], requires_grad=True)]
    (data.default_collate(rows) * bp.tensor([[1.0], [2.0]])).sum().backward()
    (torch.utils.data.default_collate(trows) * torch.tensor([[1.0], [2.0]])).sum().backward()
    for r, tr in zip(rows, trows, strict=True):
        np.testing.assert_array_equal(r.grad.numpy(), tr.grad.numpy())


# ---- DataLoader ----------------------------------------------------------------------------------


class Squares(data.Dataset):
    """A map-style dataset of dict samples with mixed types (module level: torch's workers pickle it)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"i": i, "sq": float(i * i), "v": np.full(2, i, dtype=np.float32), "name": f"s{i}"}

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize(
    "kw", [{}, {"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": 7}, {"batch_size": None}]
)
def test_dataloader_batches_as_torch(torch: Any, kw: dict) -> None:
    (x, y), (tx, ty) = _tensors(torch)
    for ours_ds, theirs_ds in (
        (data.TensorDataset(x, y), torch.utils.data.TensorDataset(tx, ty)),
        (Squares(7), Squares(7)),
    ):
        ours, theirs = data.DataLoader(ours_ds, **kw), torch.utils.data.DataLoader(theirs_ds, **kw)
        assert len(ours) == len(theirs)
        got, want = list(ours), list(theirs)
        assert len(got) == len(want) == len(ours)
        for a, b in zip(got, want, strict=True):
            _same(a, b)


def test_dataloader_samplers_and_collate_fn(torch: Any) -> None:
    ds = Squares(10)
    tds = torch.utils.data
    ours = data.DataLoader(ds, batch_sampler=[[3, 1], [0, 9, 8]])
    theirs = tds.DataLoader(ds, batch_sampler=[[3, 1], [0, 9, 8]])
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs, strict=True):
        _same(a, b)
    ours = data.DataLoader(ds, batch_size=4, sampler=[9, 8, 7, 6, 5], collate_fn=lambda b: [s["i"] for s in b])
    assert list(ours) == list(
        tds.DataLoader(ds, batch_size=4, sampler=[9, 8, 7, 6, 5], collate_fn=lambda b: [s["i"] for s in b])
    )
    assert list(ours) == [[9, 8, 7, 6], [5]]


def _bad_loader_args(mod: Any, ds: Any) -> list[dict[str, Any]]:
    seq = mod.SequentialSampler(ds)
    return [
        {"shuffle": True, "sampler": seq},
        {"batch_sampler": [[0]], "batch_size": 2},
        {"batch_sampler": [[0]], "shuffle": True},
        {"batch_sampler": [[0]], "sampler": seq},
        {"batch_sampler": [[0]], "drop_last": True},
        {"batch_size": None, "drop_last": True},
        {"num_workers": -1},
        {"timeout": -1},
        {"prefetch_factor": 2},
        {"num_workers": 1, "prefetch_factor": -1},
        {"persistent_workers": True},
        {"batch_size": 0},
        {"multiprocessing_context": "fork"},
        {"num_workers": 1, "multiprocessing_context": "no-such-method"},
        {"num_workers": 1, "multiprocessing_context": 3},
    ]


def test_dataloader_argument_errors_as_torch(torch: Any) -> None:
    ds = Squares(4)
    tds = torch.utils.data
    for ours, theirs in zip(_bad_loader_args(data, ds), _bad_loader_args(tds, ds), strict=True):
        _raises_like(lambda o=ours: data.DataLoader(ds, **o), lambda t=theirs: tds.DataLoader(ds, **t))
    loader, tloader = data.DataLoader(ds), tds.DataLoader(ds)
    for attr in ("batch_size", "sampler", "dataset", "drop_last"):
        _raises_like(lambda a=attr: setattr(loader, a, None), lambda a=attr: setattr(tloader, a, None))
    loader.num_workers = 0  # the others may change
    _raises_like(lambda: iter(data.DataLoader(ds, timeout=1)), lambda: iter(tds.DataLoader(ds, timeout=1)))


def test_shuffle_is_a_permutation_per_epoch_and_reproducible() -> None:
    ds = data.TensorDataset(bp.arange(20))
    loader = data.DataLoader(ds, batch_size=6, shuffle=True)
    assert isinstance(loader.sampler, data.RandomSampler) and len(loader) == 4
    epochs = [[i for (batch,) in loader for i in batch.tolist()] for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(20))
    assert epochs[0] != epochs[1] and epochs[0] != list(range(20))
    bp.manual_seed(0)
    again = [[i for (batch,) in loader for i in batch.tolist()] for _ in range(3)]
    assert again == epochs  # the conftest seeded 0 before this test, as here
    one = [b.tolist() for (b,) in data.DataLoader(ds, batch_size=6, shuffle=True, generator=np.random.default_rng(1))]
    two = [b.tolist() for (b,) in data.DataLoader(ds, batch_size=6, shuffle=True, generator=np.random.default_rng(1))]
    assert one == two
    dropped = [b for (b,) in data.DataLoader(ds, batch_size=6, shuffle=True, drop_last=True)]
    assert [len(b) for b in dropped] == [6, 6, 6]


class _Numbers:
    """``range(start, end)``, split between loading workers by ``get_worker_info`` (torch's example)."""

    def __init__(self, start: int, end: int, shard: bool = True) -> None:
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self) -> Any:
        info = get_info()
        if info is None or not self.shard:
            return iter(range(self.start, self.end))
        per = int(math.ceil((self.end - self.start) / info.num_workers))
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))

    def __len__(self) -> int:
        return self.end - self.start


class Numbers(_Numbers, data.IterableDataset):
    pass


def _torch_numbers(torch: Any, *args: Any) -> Any:
    """The same stream as a torch IterableDataset (torch's DataLoader checks its own class)."""
    return type("TorchNumbers", (_Numbers, torch.utils.data.IterableDataset), {})(*args)


def get_info() -> Any:
    """The worker info of whichever library is loading (torch's workers run this module too)."""
    ours = data.get_worker_info()
    if ours is not None:
        return ours
    try:
        import torch.utils.data as tud
    except ImportError:
        return None
    return tud.get_worker_info()


def _tolist(batches: list[Any]) -> list[Any]:
    return [b.tolist() if hasattr(b, "tolist") else b for b in batches]


@pytest.mark.parametrize("kw", [{}, {"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}])
def test_iterable_dataset_loader_as_torch(torch: Any, kw: dict) -> None:
    ours, theirs = (
        data.DataLoader(Numbers(3, 10), **kw),
        torch.utils.data.DataLoader(_torch_numbers(torch, 3, 10), **kw),
    )
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want, strict=True):
        _same(a, b)
    tds = torch.utils.data
    for bad in ({"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}):
        _raises_like(
            lambda b=bad: data.DataLoader(Numbers(0, 3), **b),
            lambda b=bad: tds.DataLoader(_torch_numbers(torch, 0, 3), **b),
        )
    assert data.get_worker_info() is None


def test_iterable_dataset_longer_than_its_len_warns() -> None:
    loader = data.DataLoader(Numbers(0, 4), batch_size=None)
    loader.dataset.end = 6  # the stream grows after len() was taken
    assert len(loader) == 6
    loader.dataset.end = 8
    with pytest.warns(UserWarning, match="Length of IterableDataset"):
        assert len(list(loader)) == 8


@pytest.mark.parametrize(
    ("shard", "kw"), [(True, {"batch_size": 2}), (False, {"batch_size": 2}), (True, {"batch_size": None}), (True, {})]
)
def test_workers_give_torchs_batches_in_torchs_order(torch: Any, shard: bool, kw: dict) -> None:
    """num_workers=2 over an iterable dataset: each worker reads its own copy (duplicates unless sharded), batches
    interleave worker by worker, and a worker that runs out leaves the rotation, as torch's worker processes do."""
    seen: list[tuple[int, int]] = []

    def init(worker_id: int) -> None:
        info = data.get_worker_info()
        seen.append((worker_id, info.num_workers))
        info.dataset.start += worker_id  # each worker configures its own copy

    ours = data.DataLoader(Numbers(3, 12, shard), num_workers=2, worker_init_fn=init, **kw)
    got = _tolist(list(ours))
    # worker_init_fn ran in the worker processes: its side effects stay there (tests/test_dataloader_workers.py)
    assert seen == [] and ours.dataset.start == 3  # the loader's dataset is not touched

    def tinit(worker_id: int) -> None:
        torch.utils.data.get_worker_info().dataset.start += worker_id

    theirs = torch.utils.data.DataLoader(
        _torch_numbers(torch, 3, 12, shard), num_workers=2, worker_init_fn=tinit, multiprocessing_context="fork", **kw
    )
    assert got == _tolist(list(theirs))


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # (3 workers on a small machine)
def test_workers_over_a_map_dataset_match_single_process(torch: Any) -> None:
    bp.manual_seed(5)
    single = [b["i"].tolist() for b in data.DataLoader(Squares(11), batch_size=3, shuffle=True)]
    bp.manual_seed(5)
    loader = data.DataLoader(Squares(11), batch_size=3, shuffle=True, num_workers=3, persistent_workers=True)
    assert [b["i"].tolist() for b in loader] == single
    assert len(list(loader)) == 4  # a second epoch with the persistent workers
    tloader = torch.utils.data.DataLoader(Squares(11), batch_size=3, num_workers=2, multiprocessing_context="fork")
    for a, b in zip(data.DataLoader(Squares(11), batch_size=3, num_workers=2), tloader, strict=True):
        _same(a, b)


def test_generator_objects_make_orders_repeat() -> None:
    if not hasattr(bp, "Generator"):
        pytest.skip("bp.Generator is not there in this build")
    ds = data.TensorDataset(bp.arange(30))

    def order(generator: Any) -> list[int]:
        return [i for (b,) in data.DataLoader(ds, batch_size=4, shuffle=True, generator=generator) for i in b.tolist()]

    first = order(bp.Generator().manual_seed(42))
    assert sorted(first) == list(range(30)) and order(bp.Generator().manual_seed(42)) == first
    bp.manual_seed(1)
    split = [s.indices for s in data.random_split(range(30), [0.5, 0.5])]
    assert [s.indices for s in data.random_split(range(30), [0.5, 0.5], generator=bp.manual_seed(1))] == split
    with pytest.raises(TypeError, match="generator"):
        list(data.RandomSampler(range(3), generator=object()))


def test_batches_stay_on_the_datasets_device(device: str) -> None:
    ds = data.TensorDataset(bp.arange(6.0, device=device).reshape(3, 2), bp.tensor([1, 2, 3], device=device))
    for xb, yb in data.DataLoader(ds, batch_size=2, shuffle=True):
        assert xb.device == bp.device(device) and yb.device == bp.device(device)
        assert xb.shape[1:] == (2,) and xb.dtype == bp.float32 and yb.dtype == bp.int64
    numbers = next(iter(data.DataLoader([(1.0, 2)] * 3, batch_size=3)))
    assert [t.device for t in numbers] == [bp.device("cpu")] * 2  # new tensors: on the CPU, as torch's default


def test_training_a_model_from_a_dataloader() -> None:
    """Linear regression by minibatch SGD over a shuffled TensorDataset reaches the least-squares weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 3)).astype(np.float32)
    w_true = np.array([[1.5], [-2.0], [0.5]], dtype=np.float32)
    y = x @ w_true + 0.3 + 0.01 * rng.standard_normal((256, 1)).astype(np.float32)
    train, val = data.random_split(data.TensorDataset(bp.tensor(x), bp.tensor(y)), [0.75, 0.25])
    model = bp.nn.Linear(3, 1)
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    loader = data.DataLoader(train, batch_size=32, shuffle=True)
    for _ in range(30):
        for xb, yb in loader:
            opt.zero_grad()
            loss = bp.nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
    with bp.no_grad():
        val_loss = sum(
            bp.nn.functional.mse_loss(model(xb), yb, reduction="sum").item()
            for xb, yb in data.DataLoader(val, batch_size=50)
        ) / len(val)
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(256)], y, rcond=None)
    np.testing.assert_allclose(model.weight.detach().numpy().ravel(), coef[:3].ravel(), atol=5e-3)
    np.testing.assert_allclose(model.bias.detach().numpy(), coef[3], atol=5e-3)
    assert val_loss < 5e-4
