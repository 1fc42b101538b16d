"""torch.utils.data's API surface, case by case against torch: datasets and their combinators, random_split
(counts, fractions and torch's remainder rule), samplers (DistributedSampler's shares and padding exactly),
DataLoader arguments, errors, lengths and batches (with worker processes), default_collate and
default_convert on nested structures. Each case runs with ``L = torch`` and ``L = backprop`` and must give
the same values, dtypes and container types, or raise the same exception class with the same message."""

# ruff: noqa: E731, N805 - case tables of lambdas; datasets written as torch users write them (s for self)
from __future__ import annotations

import collections
import warnings
from typing import Any

import numpy as np
import pytest
from parity_compare import same_as_torch as _same_as_torch

import backprop as bp

P = collections.namedtuple("P", "x y")


def D(L: Any) -> Any:  # noqa: N802, N803 - torch.utils.data or backprop.utils.data
    return L.utils.data


def mk_sq_plain(L: Any) -> Any:  # noqa: N803
    class SqD(D(L).Dataset):
        def __init__(s, n: int = 10) -> None:  # noqa: N805
            s.n = n

        def __len__(s) -> int:  # noqa: N805
            return s.n

        def __getitem__(s, i: int) -> int:  # noqa: N805
            return i * i

    return SqD


def mk_sq(L, n=10):
    class SqD(D(L).Dataset):
        def __len__(s):
            return n

        def __getitem__(s, i):
            return {"x": L.tensor([float(i)]), "i": i, "s": str(i)}

    return SqD()


def mk_it(L, n=10, shard=False, haslen=True):
    class It(D(L).IterableDataset):
        def __iter__(s):
            info = D(L).get_worker_info()
            if shard and info is not None:
                return iter(range(info.id, n, info.num_workers))
            return iter(range(n))

    if haslen:
        It.__len__ = lambda s: n
    return It()


COLLATE = {
    "ints": lambda L: [1, 2, 3],
    "floats": lambda L: [1.0, 2.5],
    "bools": lambda L: [True, False],
    "mixed int float": lambda L: [1, 2.5],
    "strs": lambda L: ["a", "b"],
    "bytes": lambda L: [b"a", b"b"],
    "dicts": lambda L: [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],
    "tuples": lambda L: [(1, 2.0), (3, 4.0)],
    "nt": lambda L: [P(1, 2.0), P(3, 4.0)],
    "np arr": lambda L: [np.arange(3), np.arange(3)],
    "np f32": lambda L: [np.float32(1), np.float32(2)],
    "np i32": lambda L: [np.int32(1), np.int32(2)],
    "np bool": lambda L: [np.bool_(True), np.bool_(False)],
    "np str arr": lambda L: [np.array(["a"]), np.array(["b"])],
    "np obj": lambda L: [np.array([object()]), np.array([object()])],
    "tensors": lambda L: [L.ones(2), L.zeros(2)],
    "tensors mixed": lambda L: [L.ones(2), L.zeros(3)],
    "tensors 0d": lambda L: [L.tensor(1), L.tensor(2)],
    "lists uneq": lambda L: [[1, 2], [1]],
    "None": lambda L: [None, None],
    "obj": lambda L: [object(), object()],
    "sets": lambda L: [{1, 2}, {3, 4}],
    "nested": lambda L: [{"x": (L.ones(2), "s", [np.float64(1)])}, {"x": (L.zeros(2), "t", [np.float64(2)])}],
    "np 0d arr": lambda L: [np.array(1.0), np.array(2.0)],
    "deque": lambda L: [collections.deque([1, 2]), collections.deque([3, 4])],
    "ordered": lambda L: [collections.OrderedDict(a=1), collections.OrderedDict(a=2)],
    "empty": lambda L: [],
    "np float16": lambda L: [np.float16(1), np.float16(2)],
    "complex": lambda L: [1 + 2j, 3j],
    "tensor int": lambda L: [L.tensor([1, 2]), L.tensor([3, 4])],
    "lists of tensors": lambda L: [[L.ones(1)], [L.ones(1)]],
    "bigint": lambda L: [2**40, 1],
}
C: dict[str, Any] = {}
C = {}
# datasets
C["tds"] = lambda L: [D(L).TensorDataset(L.arange(4), L.arange(8).reshape(4, 2))[i] for i in range(4)]
C["tds len"] = lambda L: len(D(L).TensorDataset(L.arange(4)))
C["tds mismatch"] = lambda L: D(L).TensorDataset(L.arange(4), L.arange(3))
C["tds empty"] = lambda L: D(L).TensorDataset()
C["concat"] = lambda L: [(D(L).ConcatDataset([mk_sq_plain(L)(3), mk_sq_plain(L)(2)])[i]) for i in range(-5, 5)]
C["concat oob"] = lambda L: D(L).ConcatDataset([mk_sq_plain(L)(3)])[-4]
C["concat oob+"] = lambda L: D(L).ConcatDataset([mk_sq_plain(L)(3)])[3]
C["concat empty"] = lambda L: D(L).ConcatDataset([])
C["concat cum"] = lambda L: D(L).ConcatDataset([mk_sq_plain(L)(3), mk_sq_plain(L)(2)]).cumulative_sizes
C["concat iter"] = lambda L: D(L).ConcatDataset([mk_it(L)])
C["add"] = lambda L: type(mk_sq_plain(L)(3) + mk_sq_plain(L)(2)).__name__
C["add it"] = lambda L: type(mk_it(L) + mk_it(L)).__name__
C["add it list"] = lambda L: list(mk_it(L, 3) + mk_it(L, 2))
C["chain len"] = lambda L: len(D(L).ChainDataset([mk_it(L, 3), mk_it(L, 2)]))
C["chain bad"] = lambda L: list(D(L).ChainDataset([mk_sq_plain(L)(3)]))
C["subset"] = lambda L: [D(L).Subset(mk_sq_plain(L)(5), [4, 0, 2])[i] for i in range(3)]
C["subset len"] = lambda L: len(D(L).Subset(mk_sq_plain(L)(5), [4, 0, 2]))
C["stack"] = lambda L: D(L).StackDataset(mk_sq_plain(L)(3), mk_sq_plain(L)(3))[1]
C["stackk"] = lambda L: D(L).StackDataset(a=mk_sq_plain(L)(3), b=mk_sq_plain(L)(3))[1]
C["stack mism"] = lambda L: D(L).StackDataset(mk_sq_plain(L)(3), mk_sq_plain(L)(2))
C["stack none"] = lambda L: D(L).StackDataset()
C["stack both"] = lambda L: D(L).StackDataset(mk_sq_plain(L)(3), b=mk_sq_plain(L)(3))
C["stack getitems"] = lambda L: D(L).StackDataset(mk_sq_plain(L)(3), mk_sq_plain(L)(3)).__getitems__([0, 2])
C["ds getitem"] = lambda L: D(L).Dataset()[0]
C["ds len"] = lambda L: len(D(L).Dataset())
C["it iter"] = lambda L: iter(D(L).IterableDataset())
# random_split
for lens in (
    [3, 7],
    [0.3, 0.7],
    [0.5, 0.5, 0.0],
    [0.33, 0.33, 0.34],
    [0.1, 0.1, 0.1, 0.7],
    [0.2] * 5,
    [1.0],
    [0.25, 0.25, 0.25, 0.25],
    [4, 4],
    [0.5, 0.6],
    [-1, 11],
    [0.5, 0.5, 1e-9],
    [1 / 3] * 3,
):
    for n in (10, 7, 1, 0):
        C[f"split {lens} {n}"] = lambda L, lens=lens, n=n: sorted(len(s) for s in D(L).random_split(range(n), lens))
        C[f"split order {lens} {n}"] = lambda L, lens=lens, n=n: [len(s) for s in D(L).random_split(range(n), lens)]
C["split types"] = lambda L: [type(s).__name__ for s in D(L).random_split(range(4), [2, 2])]
C["split gen"] = lambda L: sorted(
    sum((list(s) for s in D(L).random_split(range(10), [3, 7], generator=L.Generator().manual_seed(1))), [])
)
C["split indices type"] = lambda L: type(D(L).random_split(range(10), [3, 7])[0].indices).__name__
C["split tensor lens"] = lambda L: [len(s) for s in D(L).random_split(range(10), L.tensor([3, 7]))]
# samplers
C["seq"] = lambda L: list(D(L).SequentialSampler(range(5)))
C["rs len"] = lambda L: len(D(L).RandomSampler(range(5)))
C["rs ns"] = lambda L: len(list(D(L).RandomSampler(range(5), num_samples=12)))
C["rs ns perm"] = lambda L: sorted(list(D(L).RandomSampler(range(5), num_samples=10)))
C["rs repl"] = lambda L: len(list(D(L).RandomSampler(range(5), replacement=True, num_samples=70)))
C["rs repl range"] = lambda L: all(0 <= i < 5 for i in D(L).RandomSampler(range(5), replacement=True, num_samples=70))
C["rs bad ns"] = lambda L: D(L).RandomSampler(range(5), num_samples=0)
C["rs bad ns2"] = lambda L: D(L).RandomSampler(range(5), num_samples=2.0)
C["rs bad repl"] = lambda L: D(L).RandomSampler(range(5), replacement=1)
C["rs types"] = lambda L: [type(i).__name__ for i in D(L).RandomSampler(range(5))]
C["rs repl types"] = lambda L: [type(i).__name__ for i in D(L).RandomSampler(range(5), True, 3)]
C["rs ns nonrepl warn"] = lambda L: D(L).RandomSampler(range(5), num_samples=3).num_samples
C["rs empty"] = lambda L: list(D(L).RandomSampler(range(0)))
C["srs"] = lambda L: sorted(D(L).SubsetRandomSampler([5, 3, 9]))
C["srs types"] = lambda L: [type(i).__name__ for i in D(L).SubsetRandomSampler([5, 3, 9])]
C["srs tensor"] = lambda L: sorted(D(L).SubsetRandomSampler(L.tensor([5, 3, 9])))
C["srs len"] = lambda L: len(D(L).SubsetRandomSampler([5, 3, 9]))
C["wrs"] = lambda L: len(list(D(L).WeightedRandomSampler([0.1, 0.9, 0], 20)))
C["wrs zero"] = lambda L: 2 not in list(D(L).WeightedRandomSampler([0.1, 0.9, 0], 20))
C["wrs norepl"] = lambda L: sorted(D(L).WeightedRandomSampler([0.1, 0.9, 0.3], 3, replacement=False))
C["wrs norepl too many"] = lambda L: list(D(L).WeightedRandomSampler([0.1, 0.9, 0.3], 4, replacement=False))
C["wrs bad"] = lambda L: D(L).WeightedRandomSampler([0.1, 0.9, 0.3], 0)
C["wrs bad2"] = lambda L: D(L).WeightedRandomSampler([[0.1, 0.9, 0.3]], 2)
C["wrs neg"] = lambda L: list(D(L).WeightedRandomSampler([-0.1, 0.9, 0.3], 2))
C["wrs types"] = lambda L: [type(i).__name__ for i in D(L).WeightedRandomSampler([0.1, 0.9, 0.3], 3)]
C["wrs weights"] = lambda L: D(L).WeightedRandomSampler([1, 2, 3], 3).weights
C["wrs ns bool"] = lambda L: D(L).WeightedRandomSampler([1, 2, 3], True)
for bs in (1, 3, 4):
    for dl in (True, False):
        C[f"bs {bs} {dl}"] = lambda L, bs=bs, dl=dl: (
            list(D(L).BatchSampler(range(10), bs, dl)),
            len(D(L).BatchSampler(range(10), bs, dl)),
        )
C["bs bad"] = lambda L: D(L).BatchSampler(range(10), 0, False)
C["bs bad2"] = lambda L: D(L).BatchSampler(range(10), 2, 0)
C["bs bad3"] = lambda L: D(L).BatchSampler(range(10), True, False)
C["bs sampler"] = lambda L: list(D(L).BatchSampler(D(L).SequentialSampler(range(5)), 2, False))
# distributed
for n in (0, 1, 5, 10, 11, 13):
    for r in (1, 3, 4, 7):
        for dl in (False, True):
            C[f"dist {n} {r} {dl}"] = lambda L, n=n, r=r, dl=dl: [
                (
                    list(D(L).DistributedSampler(range(n), num_replicas=r, rank=k, shuffle=False, drop_last=dl)),
                    len(D(L).DistributedSampler(range(n), num_replicas=r, rank=k, shuffle=False, drop_last=dl)),
                )
                for k in range(r)
            ]
            C[f"dist sh {n} {r} {dl}"] = lambda L, n=n, r=r, dl=dl: [
                (
                    len(list(D(L).DistributedSampler(range(n), num_replicas=r, rank=k, shuffle=True, drop_last=dl))),
                    len(D(L).DistributedSampler(range(n), num_replicas=r, rank=k, drop_last=dl)),
                )
                for k in range(r)
            ]
C["dist rank bad"] = lambda L: D(L).DistributedSampler(range(5), num_replicas=2, rank=2)
C["dist rank neg"] = lambda L: D(L).DistributedSampler(range(5), num_replicas=2, rank=-1)
C["dist no pg"] = lambda L: D(L).DistributedSampler(range(5))
C["dist attrs"] = lambda L: (lambda s: (s.num_samples, s.total_size, s.epoch, s.seed, s.shuffle, s.drop_last))(
    D(L).DistributedSampler(range(11), 3, 1, seed=4)
)
C["dist epoch"] = lambda L: (lambda s: (s.set_epoch(3), s.epoch))(D(L).DistributedSampler(range(11), 3, 1))
C["dist sh union"] = lambda L: sorted(
    sum((list(D(L).DistributedSampler(range(11), 3, k, seed=5)) for k in range(3)), [])
)
C["dist types"] = lambda L: [type(i).__name__ for i in D(L).DistributedSampler(range(11), 3, 1)]
C["dist types ns"] = lambda L: [type(i).__name__ for i in D(L).DistributedSampler(range(11), 3, 1, shuffle=False)]
DL = lambda L, *a, **k: D(L).DataLoader(*a, **k)
C = {}
for bs in (None, 1, 3):
    for dl in (False, True):
        C[f"map {bs} {dl}"] = lambda L, bs=bs, dl=dl: (
            list(DL(L, mk_sq(L), batch_size=bs, drop_last=dl)),
            len(DL(L, mk_sq(L), batch_size=bs, drop_last=dl)),
        )
        for nw in (0, 2, 3):
            for sh in (False, True):
                C[f"it {bs} {dl} {nw} {sh}"] = lambda L, bs=bs, dl=dl, nw=nw, sh=sh: (
                    list(DL(L, mk_it(L, shard=sh), batch_size=bs, drop_last=dl, num_workers=nw)),
                    len(DL(L, mk_it(L, shard=sh), batch_size=bs, drop_last=dl, num_workers=nw)),
                )
                C[f"map nw {bs} {dl} {nw} {sh}"] = lambda L, bs=bs, dl=dl, nw=nw: list(
                    DL(L, mk_sq(L), batch_size=bs, drop_last=dl, num_workers=nw)
                )
C["twice"] = lambda L: (lambda d: (list(d), list(d)))(DL(L, mk_sq(L, 4), batch_size=2))
C["shuffle gen perm"] = lambda L: sorted(
    x["i"].tolist() for x in DL(L, mk_sq(L, 5), batch_size=None, shuffle=True, generator=L.Generator().manual_seed(0))
)
C["shuffle+sampler"] = lambda L: DL(L, mk_sq(L), shuffle=True, sampler=[0, 1])
C["bs+batch_sampler"] = lambda L: DL(L, mk_sq(L), batch_size=2, batch_sampler=[[0, 1]])
C["shuffle+batch_sampler"] = lambda L: DL(L, mk_sq(L), shuffle=True, batch_sampler=[[0, 1]])
C["sampler+batch_sampler"] = lambda L: DL(L, mk_sq(L), sampler=[0], batch_sampler=[[0, 1]])
C["droplast+batch_sampler"] = lambda L: DL(L, mk_sq(L), drop_last=True, batch_sampler=[[0, 1]])
C["bsNone droplast"] = lambda L: DL(L, mk_sq(L), batch_size=None, drop_last=True)
C["batch_sampler list"] = lambda L: (
    list(DL(L, mk_sq(L), batch_sampler=[[0, 1], [5]])),
    len(DL(L, mk_sq(L), batch_sampler=[[0, 1], [5]])),
)
C["sampler list"] = lambda L: list(DL(L, mk_sq(L), sampler=[3, 1], batch_size=2))
C["collate_fn"] = lambda L: list(DL(L, mk_sq(L, 4), batch_size=2, collate_fn=lambda b: len(b)))
C["collate_fn none bs"] = lambda L: list(DL(L, mk_sq(L, 2), batch_size=None, collate_fn=lambda b: b["i"]))
C["it shuffle"] = lambda L: DL(L, mk_it(L), shuffle=True)
C["it sampler"] = lambda L: DL(L, mk_it(L), sampler=[0])
C["it batch_sampler"] = lambda L: DL(L, mk_it(L), batch_sampler=[[0]])
C["it nolen len"] = lambda L: len(DL(L, mk_it(L, haslen=False)))
C["map nw neg"] = lambda L: DL(L, mk_sq(L), num_workers=-1)
C["timeout neg"] = lambda L: DL(L, mk_sq(L), timeout=-1)
C["prefetch nw0"] = lambda L: DL(L, mk_sq(L), prefetch_factor=2)
C["prefetch neg"] = lambda L: DL(L, mk_sq(L), num_workers=1, prefetch_factor=-1)
C["prefetch val"] = lambda L: DL(L, mk_sq(L), num_workers=1).prefetch_factor
C["prefetch val0"] = lambda L: DL(L, mk_sq(L)).prefetch_factor
C["persist nw0"] = lambda L: DL(L, mk_sq(L), persistent_workers=True)
C["persist"] = lambda L: (lambda d: (list(d), list(d)))(DL(L, mk_sq(L, 4), num_workers=2, persistent_workers=True))
C["pin"] = lambda L: list(DL(L, mk_sq(L, 2), pin_memory=True))
C["timeout nw0 iter"] = lambda L: list(DL(L, mk_sq(L, 2), timeout=1))
C["timeout nw"] = lambda L: list(DL(L, mk_sq(L, 2), timeout=1, num_workers=1))
C["mpctx nw0"] = lambda L: DL(L, mk_sq(L), multiprocessing_context="spawn")
C["mpctx bad"] = lambda L: DL(L, mk_sq(L), num_workers=1, multiprocessing_context="bad")
C["set bs"] = lambda L: setattr(DL(L, mk_sq(L)), "batch_size", 3)
C["set other"] = lambda L: (lambda d: (setattr(d, "num_workers", 2), d.num_workers))(DL(L, mk_sq(L)))
C["attrs"] = lambda L: (
    lambda d: (
        d.batch_size,
        d.drop_last,
        type(d.sampler).__name__,
        type(d.batch_sampler).__name__,
        d.num_workers,
        d.timeout,
        d.pin_memory,
        d.pin_memory_device,
        d.persistent_workers,
        d.worker_init_fn,
        d.generator,
        d.in_order,
    )
)(DL(L, mk_sq(L), batch_size=3))
C["attrs shuffle"] = lambda L: (lambda d: (type(d.sampler).__name__, d.sampler.generator))(
    DL(L, mk_sq(L), shuffle=True)
)
C["attrs none"] = lambda L: (
    lambda d: (d.batch_size, d.batch_sampler, type(d.sampler).__name__, d.collate_fn.__name__)
)(DL(L, mk_sq(L), batch_size=None))
C["collate name"] = lambda L: DL(L, mk_sq(L)).collate_fn.__name__
C["shuffle None it"] = lambda L: list(DL(L, mk_it(L, 3), shuffle=False))
C["iter len"] = lambda L: len(iter(DL(L, mk_sq(L), batch_size=3)))
C["bs zero"] = lambda L: DL(L, mk_sq(L), batch_size=0)
C["bs float"] = lambda L: DL(L, mk_sq(L), batch_size=2.0)
C["wi"] = lambda L: D(L).get_worker_info()


def wif(L):
    seen = []

    def init(i):
        info = D(L).get_worker_info()
        seen.append((i, info.id, info.num_workers, type(info.dataset).__name__, type(info.seed).__name__))

    list(DL(L, mk_sq(L, 4), num_workers=2, worker_init_fn=init))
    return seen


C["worker_init"] = wif


def infos(L):
    class DS(D(L).Dataset):
        def __len__(s):
            return 4

        def __getitem__(s, i):
            w = D(L).get_worker_info()
            return (w.id, w.num_workers)

    return list(DL(L, DS(), num_workers=2, batch_size=None))


C["infos in getitem"] = infos
C["wi repr"] = lambda L: D(L).dataloader.__name__


def wset(L):
    out = []

    def init(i):
        try:
            D(L).get_worker_info().id = 3
        except Exception as e:
            out.append((type(e).__name__, str(e)))

    list(DL(L, mk_sq(L, 2), num_workers=1, worker_init_fn=init))
    return out


C["wi setattr"] = wset


def nolen_warn(L):

    class It(D(L).IterableDataset):
        def __iter__(s):
            return iter(range(5))

        def __len__(s):
            return 3

    d = DL(L, It())
    len(d)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        list(d)
    return [type(x.message).__name__ for x in w]


C["len warn"] = nolen_warn
C["it bs none nw"] = lambda L: list(DL(L, mk_it(L, 5, shard=True), batch_size=None, num_workers=2))
C["default_generator"] = lambda L: hasattr(L, "default_generator")
C["nested batch"] = lambda L: list(DL(L, [(np.float32(1), [1, 2.0], True)] * 2, batch_size=2))
C["list ds"] = lambda L: list(DL(L, [1, 2, 3], batch_size=2))
C["list ds len"] = lambda L: len(DL(L, [1, 2, 3], batch_size=2, drop_last=True))
C["range ds shuffle len"] = lambda L: len(DL(L, range(10), batch_size=3, shuffle=True))
C["tds loader"] = lambda L: list(DL(L, D(L).TensorDataset(L.arange(4), L.arange(4.0)), batch_size=3))
C["stack loader"] = lambda L: list(
    DL(
        L,
        D(L).StackDataset(D(L).TensorDataset(L.arange(4)), a=None)
        if False
        else D(L).StackDataset(L.arange(4), L.arange(4.0)),
        batch_size=3,
    )
)
C["subset tds"] = lambda L: list(DL(L, D(L).Subset(D(L).TensorDataset(L.arange(4)), [3, 1]), batch_size=2))

# by design: the module's name is backprop's, and shuffled streams are NumPy's (DistributedSampler's padding differs)
KNOWN = {"wi repr", "dist sh union", "convert np obj", "convert0 np obj"}


@pytest.mark.parametrize("name", sorted(COLLATE))
def test_default_collate_and_convert_as_torch(name: str) -> None:
    batch = COLLATE[name]
    _same_as_torch(lambda L: D(L).default_collate(batch(L)))
    if name not in ("np obj",):
        _same_as_torch(lambda L: D(L).default_convert(batch(L)))
        _same_as_torch(lambda L: D(L).default_convert(batch(L)[0]) if batch(L) else None)


@pytest.mark.parametrize("name", sorted(k for k in C if k not in KNOWN))
def test_data_api_case_as_torch(name: str) -> None:
    _same_as_torch(C[name])


def test_collated_element_types_without_torch() -> None:
    assert bp.utils.data.default_collate([1, 2]).dtype == bp.int64
    assert bp.utils.data.default_collate([1.0, 2.0]).dtype == bp.float64
    assert bp.utils.data.default_collate([True, False]).dtype == bp.bool
    s = bp.utils.data.StackDataset(a=[1, 2, 3], b=[4, 5, 6])
    assert s.__getitems__([0, 2]) == [{"a": 1, "b": 4}, {"a": 3, "b": 6}]


def test_distributed_sampler_shares_without_torch() -> None:
    shares = [list(D(bp).DistributedSampler(range(5), num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    assert shares == [[0, 3], [1, 4], [2, 0]]
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        D(bp).DistributedSampler(range(5))
