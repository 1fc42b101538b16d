"""The language-model nn names: EmbeddingBag / F.embedding_bag, Embedding's sparse, max_norm,
scale_grad_by_freq and from_pretrained, AdaptiveLogSoftmaxWithLoss, CTCLoss / F.ctc_loss.

Closed-form checks (NumPy sums, brute-force CTC alignments, gradcheck) run everywhere; the torch
cross-checks (values, dtypes, shapes, gradients, errors) skip when torch is absent."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F
from backprop import optim

try:
    import torch
except ImportError:  # pragma: no cover - the torch checks skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)
IDS = np.array([1, 2, 4, 5, 4, 3, 2, 0, 5])
W = RNG.standard_normal((6, 3))


def _np(t):
    return t.detach().numpy()


# ---------------------------------------------------------------- embedding_bag, closed forms
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_is_the_per_bag_reduction_of_the_rows(mode: str) -> None:
    offsets = [0, 2, 2, 6]  # bags [1 2], [], [4 5 4 3], [2 0 5]
    out = F.embedding_bag(bp.tensor(IDS), bp.tensor(W), bp.tensor(offsets), mode=mode)
    bounds = [*offsets, len(IDS)]
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    want = [reduce(W[IDS[a:b]], axis=0) if b > a else np.zeros(3) for a, b in itertools.pairwise(bounds)]
    np.testing.assert_allclose(_np(out), np.stack(want), rtol=1e-12)
    assert out.dtype == bp.float64 and tuple(out.shape) == (4, 3)


def test_embedding_bag_2d_input_padding_and_per_sample_weights() -> None:
    ids = np.array([[1, 2, 0], [3, 0, 0], [0, 0, 0]])
    out = F.embedding_bag(bp.tensor(ids), bp.tensor(W), mode="mean", padding_idx=0)
    want = np.stack([W[[1, 2]].mean(0), W[3], np.zeros(3)])  # padding ids leave the bag and its count
    np.testing.assert_allclose(_np(out), want, rtol=1e-12)
    psw = RNG.standard_normal(ids.shape)
    out = F.embedding_bag(bp.tensor(ids), bp.tensor(W), mode="sum", per_sample_weights=bp.tensor(psw))
    np.testing.assert_allclose(_np(out), np.einsum("bl,bld->bd", psw, W[ids]), rtol=1e-12)


def test_embedding_bag_include_last_offset_drops_ids_past_the_last_offset() -> None:
    out = F.embedding_bag(bp.tensor(IDS), bp.tensor(W), bp.tensor([0, 3, 7]), mode="sum", include_last_offset=True)
    np.testing.assert_allclose(_np(out), np.stack([W[IDS[:3]].sum(0), W[IDS[3:7]].sum(0)]), rtol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck_and_double_backward(mode: str) -> None:
    w = bp.tensor(RNG.standard_normal((6, 3)), requires_grad=True)
    psw = bp.tensor(RNG.standard_normal(9), requires_grad=True)
    ids, offsets = bp.tensor(IDS), bp.tensor([0, 2, 2, 6])
    if mode == "sum":
        fn = lambda w, p: F.embedding_bag(ids, w, offsets, mode="sum", per_sample_weights=p, padding_idx=4)  # noqa: E731
        args = [w, psw]
    else:
        fn = lambda w: F.embedding_bag(ids, w, offsets, mode=mode, padding_idx=4)  # noqa: E731
        args = [w]
    assert bp.gradcheck(fn, args)
    assert bp.gradgradcheck(fn, args)


def test_embedding_bag_errors() -> None:
    ids, w = bp.tensor(IDS), bp.tensor(W)
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(ids.reshape(3, 3), w, bp.tensor([0, 1]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(ids, w)
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(ids, w, bp.tensor([0]), mode="median")
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(ids, w, bp.tensor([0]), per_sample_weights=bp.ones(9, dtype=bp.float64))
    with pytest.raises(RuntimeError, match=r"offsets\[0\] has to be 0"):
        F.embedding_bag(ids, w, bp.tensor([1, 3]))
    with pytest.raises(RuntimeError, match="can not be greater than input's length"):
        F.embedding_bag(ids, w, bp.tensor([0, 10]))
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(bp.tensor([1, 6]), w, bp.tensor([0]))
    with pytest.raises(ValueError, match="max mode does not support scaling"):
        F.embedding_bag(ids, w, bp.tensor([0]), mode="max", scale_grad_by_freq=True)


# ---------------------------------------------------------------- embedding_bag against torch
def _bag_both(ids, offsets=None, psw=None, weight=W, **kw):
    """(ours, torch's) output and weight / per_sample_weights gradients for one call."""
    results = []
    for lib, fn in ((bp, F.embedding_bag), (torch, torch.nn.functional.embedding_bag)):
        w = lib.tensor(weight, requires_grad=True)
        p = None if psw is None else lib.tensor(psw, requires_grad=True)
        o = fn(lib.tensor(ids), w, None if offsets is None else lib.tensor(offsets), per_sample_weights=p, **kw)
        c = np.random.default_rng(5).standard_normal(tuple(o.shape))
        (o * lib.tensor(c, dtype=o.dtype)).sum().backward()
        results.append((o, w.grad, None if p is None else p.grad))
    return results


@needs_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize(
    "case",
    [
        dict(offsets=[0, 2, 2, 6]),
        dict(offsets=[0, 0, 3, 3, 9], include_last_offset=True),
        dict(offsets=[0, 3, 5], padding_idx=4),
        dict(offsets=[0, 3, 5], padding_idx=-1),
        dict(offsets=[0, 3, 5], max_norm=1.0),
        dict(ids2d=True, padding_idx=2),
    ],
    ids=["offsets", "last_offset", "padding", "neg_padding", "max_norm", "2d"],
)
def test_embedding_bag_matches_torch(mode: str, case: dict) -> None:
    kw = dict(case)
    offsets = kw.pop("offsets", None)
    ids = IDS.reshape(3, 3) if kw.pop("ids2d", False) else IDS
    (o, gw, _), (t, tgw, _) = _bag_both(ids, offsets, mode=mode, **kw)
    assert tuple(o.shape) == tuple(t.shape) and o.dtype == bp.float64
    np.testing.assert_allclose(_np(o), t.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), rtol=1e-12, atol=1e-14)


@needs_torch
def test_embedding_bag_per_sample_weights_gradients_match_torch() -> None:
    psw = RNG.standard_normal(9)
    (o, gw, gp), (t, tgw, tgp) = _bag_both(IDS, [0, 4, 4], psw=psw, mode="sum", padding_idx=5)
    np.testing.assert_allclose(_np(o), t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gp.numpy(), tgp.numpy(), rtol=1e-12, atol=1e-14)


@needs_torch
def test_embedding_bag_float32_and_int32_ids_match_torch() -> None:
    w = W.astype(np.float32)
    ours = F.embedding_bag(bp.tensor(IDS.astype(np.int32)), bp.tensor(w), bp.tensor(np.array([0, 4], np.int32)))
    theirs = torch.nn.functional.embedding_bag(
        torch.tensor(IDS, dtype=torch.int32), torch.tensor(w), torch.tensor([0, 4], dtype=torch.int32)
    )
    assert ours.dtype == bp.float32
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-6)


@needs_torch
def test_embedding_bag_module_matches_torch() -> None:
    theirs = torch.nn.EmbeddingBag(7, 4, mode="max", padding_idx=-2, dtype=torch.float64)
    ours = nn.EmbeddingBag(7, 4, mode="max", padding_idx=-2, dtype=bp.float64)
    assert repr(ours) == repr(theirs) == "EmbeddingBag(7, 4, mode='max', padding_idx=5)"
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert not _np(ours.weight)[5].any()  # the padding row starts at zero
    ours.load_state_dict({"weight": bp.tensor(theirs.weight.detach().numpy())})
    ids = np.array([[1, 5, 6], [0, 2, 2]])
    np.testing.assert_allclose(_np(ours(bp.tensor(ids))), theirs(torch.tensor(ids)).detach().numpy(), rtol=1e-12)
    bag = nn.EmbeddingBag.from_pretrained(bp.tensor(W), mode="sum")
    tbag = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(W), mode="sum")
    assert not bag.weight.requires_grad and not tbag.weight.requires_grad
    out = bag(bp.tensor(IDS), bp.tensor([0, 3]))
    np.testing.assert_allclose(_np(out), tbag(torch.tensor(IDS), torch.tensor([0, 3])).numpy(), rtol=1e-12)
    assert nn.EmbeddingBag.from_pretrained(bp.tensor(W), freeze=False).weight.requires_grad


# ---------------------------------------------------------------- Embedding: sparse, max_norm, scale_grad_by_freq
@needs_torch
def test_embedding_sparse_gives_sparse_gradients_and_sgd_and_sparse_adam_match_torch() -> None:
    for make, kw in ((optim.SGD, dict(lr=0.1, momentum=0.0)), (optim.SparseAdam, dict(lr=0.05))):
        ours = nn.Embedding(8, 3, sparse=True, dtype=bp.float64)
        theirs = torch.nn.Embedding(8, 3, sparse=True, dtype=torch.float64)
        assert repr(ours) == repr(theirs) == "Embedding(8, 3, sparse=True)"
        ours.load_state_dict({"weight": bp.tensor(theirs.weight.detach().numpy())})
        opt, topt = make(ours.parameters(), **kw), getattr(torch.optim, make.__name__)(theirs.parameters(), **kw)
        rng = np.random.default_rng(3)
        for _ in range(5):
            ids = rng.integers(0, 5, (2, 4))
            for emb, lib, o in ((ours, bp, opt), (theirs, torch, topt)):
                o.zero_grad()
                (emb(lib.tensor(ids)) ** 2).sum().backward()
                o.step()
        assert theirs.weight.grad.is_sparse and ours.weight.grad.is_sparse
        np.testing.assert_allclose(
            ours.weight.grad.to_dense().numpy(), theirs.weight.grad.to_dense().numpy(), rtol=1e-12
        )
        np.testing.assert_allclose(_np(ours.weight), theirs.weight.detach().numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize(
    "kw",
    [dict(max_norm=1.0), dict(max_norm=0.5, norm_type=1.0), dict(scale_grad_by_freq=True), dict(padding_idx=2)],
    ids=["max_norm", "max_norm_l1", "scale_grad_by_freq", "padding"],
)
def test_embedding_options_match_torch(kw: dict) -> None:
    w0 = RNG.standard_normal((6, 3))
    ids = np.array([[1, 1, 2], [3, 1, 2]])
    c = RNG.standard_normal((2, 3, 3))
    results = []
    for lib, fn in ((bp, F.embedding), (torch, torch.nn.functional.embedding)):
        w = lib.tensor(w0, requires_grad=True)
        out = fn(lib.tensor(ids), w, **kw)
        (out * lib.tensor(c)).sum().backward()
        results.append((out.detach().numpy(), w.grad.numpy(), w.detach().numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@needs_torch
def test_embedding_from_pretrained_matches_torch() -> None:
    ours = nn.Embedding.from_pretrained(bp.tensor(W), padding_idx=1, max_norm=2.0)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(W), padding_idx=1, max_norm=2.0)
    assert repr(ours) == repr(theirs) and not ours.weight.requires_grad
    ids = [[0, 1], [4, 4]]
    np.testing.assert_allclose(_np(ours(bp.tensor(ids))), theirs(torch.tensor(ids)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(ours.weight), theirs.weight.numpy(), rtol=1e-12)  # renormalised in place
    assert nn.Embedding.from_pretrained(bp.tensor(W), freeze=False).weight.requires_grad
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(bp.tensor(W[0]))


# ---------------------------------------------------------------- AdaptiveLogSoftmaxWithLoss
def _asm_pair(head_bias: bool):
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 10, 15], div_value=2.0, head_bias=head_bias).double()
    ours = nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 10, 15], div_value=2.0, head_bias=head_bias, dtype=bp.float64)
    keys = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    assert keys == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: bp.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_matches_torch(head_bias: bool) -> None:
    ours, theirs = _asm_pair(head_bias)
    x = RNG.standard_normal((7, 8))
    y = np.array([0, 3, 5, 12, 19, 15, 4])
    bx, tx = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    o, t = ours(bx, bp.tensor(y)), theirs(tx, torch.tensor(y))
    assert type(o).__name__ == "_ASMoutput" and o._fields == ("output", "loss")
    np.testing.assert_allclose(_np(o.output), t.output.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(float(o.loss), t.loss.item(), rtol=1e-12)
    o.loss.backward()
    t.loss.backward()
    np.testing.assert_allclose(bx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name)
    lp = ours.log_prob(bx)
    np.testing.assert_allclose(_np(lp), theirs.log_prob(tx).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.exp(_np(lp)).sum(1), 1.0, rtol=1e-12)  # a distribution over the classes
    np.testing.assert_allclose(_np(lp)[np.arange(7), y], _np(o.output), rtol=1e-12)
    xs = RNG.standard_normal((50, 8)) * 3
    pred = ours.predict(bp.tensor(xs))
    assert pred.dtype == bp.int64
    assert pred.tolist() == theirs.predict(torch.tensor(xs)).tolist() == ours.log_prob(bp.tensor(xs)).argmax(1).tolist()
    one, tone = ours(bx[2], bp.tensor(5)), theirs(tx[2], torch.tensor(5))
    assert tuple(one.output.shape) == () and float(one.output) == pytest.approx(tone.output.item(), rel=1e-12)


@needs_torch
def test_adaptive_log_softmax_errors_match_torch() -> None:
    for cutoffs in ([], [5, 3], [0, 4], [4, 20], [4, 4, 8], [4.5]):
        for lib in (torch.nn, nn):
            with pytest.raises(ValueError, match="cutoffs should be a sequence"):
                lib.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
    ours, theirs = _asm_pair(False)
    for mod, lib in ((ours, bp), (theirs, torch)):
        with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 19\]"):
            mod(lib.zeros(2, 8, dtype=lib.float64), lib.tensor([3, 20]))
        with pytest.raises(RuntimeError, match="same size in the batch dimension"):
            mod(lib.zeros(2, 8, dtype=lib.float64), lib.tensor([3, 2, 1]))
        with pytest.raises(RuntimeError, match="0D or 1D target tensor expected"):
            mod(lib.zeros(2, 8, dtype=lib.float64), lib.tensor([[3, 2]]))


# ---------------------------------------------------------------- CTC
def _brute_ctc(lp: np.ndarray, target: list, t_n: int, blank: int) -> float:
    """-log sum over every alignment of t_n frames that collapses to ``target`` (C^t_n paths)."""
    terms = []
    for path in itertools.product(range(lp.shape[1]), repeat=t_n):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == list(target):
            terms.append(sum(lp[t, c] for t, c in enumerate(path)))
    return -special.logsumexp(terms) if terms else np.inf


def test_ctc_loss_is_the_alignment_sum() -> None:
    lp = special.log_softmax(RNG.standard_normal((5, 3, 4)), axis=2)
    targets, il, tl = np.array([[1, 1], [3, 2], [2, 0]]), np.array([5, 4, 2]), np.array([2, 2, 1])
    out = F.ctc_loss(bp.tensor(lp), bp.tensor(targets), bp.tensor(il), bp.tensor(tl), blank=0, reduction="none")
    want = [_brute_ctc(lp[:, n], targets[n, : tl[n]], il[n], 0) for n in range(3)]
    np.testing.assert_allclose(_np(out), want, rtol=1e-12)
    mean = F.ctc_loss(bp.tensor(lp), bp.tensor(targets), bp.tensor(il), bp.tensor(tl))
    np.testing.assert_allclose(float(mean), np.mean(np.array(want) / tl), rtol=1e-12)


def test_ctc_loss_gradient_through_log_softmax_is_exact() -> None:
    x = bp.tensor(RNG.standard_normal((6, 2, 4)), requires_grad=True)
    tg, il, tl = bp.tensor([[1, 2, 2], [3, 0, 0]]), bp.tensor([6, 5]), bp.tensor([3, 1])
    assert bp.gradcheck(lambda x: F.ctc_loss(x.log_softmax(2), tg, il, tl, reduction="sum"), [x])
    loss = F.ctc_loss(x.log_softmax(2), tg, il, tl)
    with pytest.raises(RuntimeError, match="ctc_loss"):
        bp.autograd.grad(loss, x, create_graph=True)[0].sum().backward()


def _ctc_both(lp0, targets, il, tl, **kw):
    out = []
    for lib, fn in ((bp, F.ctc_loss), (torch, torch.nn.functional.ctc_loss)):
        lp = lib.tensor(lp0, requires_grad=True)
        lens = [v if isinstance(v, (list, tuple, int)) else lib.tensor(v) for v in (il, tl)]
        loss = fn(lp, lib.tensor(targets), *lens, **kw)
        c = np.random.default_rng(9).standard_normal(tuple(loss.shape))
        (loss * lib.tensor(c, dtype=loss.dtype)).sum().backward()
        out.append((loss, lp.grad))
    return out


CTC_CASES = {
    # several lengths, a repeated label, an empty target
    "lengths": ((12, 4, 6), [[1, 2, 2, 3], [4, 4, 4, 0], [5, 0, 0, 0], [0, 0, 0, 0]], [12, 10, 7, 3], [4, 3, 1, 0], {}),
    "blank_last": ((10, 2, 5), [[0, 1, 1, 3], [2, 2, 0, 0]], [10, 8], [4, 2], dict(blank=4)),
    # 1 1 1 needs 5 frames: impossible in 4 -> inf (and NaN gradients, as torch), or 0 with zero_infinity
    "impossible": ((4, 2, 3), [[1, 1, 1], [2, 1, 0]], [4, 4], [3, 2], {}),
    "zero_infinity": ((4, 2, 3), [[1, 1, 1], [2, 1, 0]], [4, 4], [3, 2], dict(zero_infinity=True)),
    "concatenated": ((9, 3, 5), [1, 2, 3, 3, 4, 2], [9, 6, 8], [3, 1, 2], {}),
    "lists": ((9, 3, 5), [[1, 2, 3], [3, 0, 0], [4, 2, 0]], [9, 6, 8], (3, 1, 2), {}),
}


@needs_torch
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", list(CTC_CASES))
def test_ctc_loss_matches_torch(name: str, reduction: str) -> None:
    shape, targets, il, tl, kw = CTC_CASES[name]
    il, tl = (tuple(il), tuple(tl)) if name == "lists" else (np.array(il), np.array(tl))
    lp0 = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).log_softmax(2).numpy()
    (o, g), (t, tg) = _ctc_both(lp0, np.array(targets), il, tl, reduction=reduction, **kw)
    assert tuple(o.shape) == tuple(t.shape) and o.dtype == bp.float64
    np.testing.assert_allclose(_np(o), t.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-9, atol=1e-12, equal_nan=True)
    if name == "impossible" and reduction == "none":
        assert np.isinf(_np(o)[0]) and np.isnan(g.numpy()[:, 0]).all() and not np.isnan(g.numpy()[:, 1]).any()


@needs_torch
def test_ctc_loss_raw_log_probs_float32_and_unbatched_match_torch() -> None:
    """Unnormalised inputs show torch's gradient formula (exp(lp) - posterior) exactly."""
    lp0 = np.random.default_rng(4).standard_normal((30, 2, 8)).astype(np.float32)
    (o, g), (t, tg) = _ctc_both(lp0, np.array([[1, 2, 3, 3, 7], [6, 5, 0, 0, 0]]), np.array([30, 21]), np.array([5, 2]))
    assert o.dtype == bp.float32
    np.testing.assert_allclose(_np(o), t.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-4, atol=1e-6)
    (o, g), (t, tg) = _ctc_both(lp0[:, 0], np.array([1, 2, 3]), np.array(25), np.array(3), reduction="none")
    assert tuple(o.shape) == tuple(t.shape) == ()
    np.testing.assert_allclose(_np(o), t.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-4, atol=1e-6)


@needs_torch
def test_ctc_loss_module_and_errors_match_torch() -> None:
    lp0 = special.log_softmax(RNG.standard_normal((6, 2, 4)), axis=2)
    mod, tmod = nn.CTCLoss(blank=3, reduction="sum"), torch.nn.CTCLoss(blank=3, reduction="sum")
    args = (np.array([[1, 2], [0, 0]]), np.array([6, 4]), np.array([2, 1]))
    got = mod(bp.tensor(lp0), *[bp.tensor(a) for a in args])
    np.testing.assert_allclose(float(got), tmod(torch.tensor(lp0), *[torch.tensor(a) for a in args]).item(), rtol=1e-12)
    bad = [
        (args[0], np.array([7, 4]), args[2], "input_lengths to have value at most 6"),
        (args[0], args[1], np.array([3, 1]), "size at least 3 at dimension 1"),
        (np.array([1, 2]), args[1], args[2], "size 3 at dimension 0"),
    ]
    for tg, il, tl, msg in bad:
        for lib, fn in ((bp, F.ctc_loss), (torch, torch.nn.functional.ctc_loss)):
            with pytest.raises(RuntimeError, match=msg):
                fn(lib.tensor(lp0), lib.tensor(tg), lib.tensor(il), lib.tensor(tl))
    for lib, fn in ((bp, F.ctc_loss), (torch, torch.nn.functional.ctc_loss)):
        with pytest.raises(RuntimeError, match="blank must be in label range"):
            fn(lib.tensor(lp0), *[lib.tensor(a) for a in args], blank=4)
