"""Extreme inputs (inf, NaN, overflow, empty batches) against torch 2.13: values, gradients and errors."""

import math

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity tests compare against torch")

INF, NAN = math.inf, math.nan


def _same(ours, theirs):
    np.testing.assert_array_equal(np.asarray(ours.detach().numpy()), theirs.detach().numpy())


@pytest.mark.parametrize("p", [2.0, 0.0])
def test_pdist_and_cdist_keep_nan_distances(p):
    rows = [[INF, 0.0], [INF, 0.0], [2.0, 0.0]]
    _same(bp.pdist(bp.tensor(rows), p=p), torch.pdist(torch.tensor(rows), p=p))
    assert math.isnan(bp.pdist(bp.tensor(rows), p=p)[0].item())
    a = [[INF, 0.0]]
    _same(bp.cdist(bp.tensor(a), bp.tensor(a), p=p), torch.cdist(torch.tensor(a), torch.tensor(a), p=p))


@pytest.mark.parametrize("mode", ["linear", "bilinear"])
def test_interpolate_inf_is_nan_only_where_torch_is(mode):
    x = np.array([1.0, 2.0, 3.0, INF], dtype=np.float32)
    x = x.reshape(1, 1, 4) if mode == "linear" else np.tile(x, (2, 1)).reshape(1, 1, 2, 4)
    kw = dict(scale_factor=2, mode=mode)
    ours = bp.nn.functional.interpolate(bp.tensor(x), **kw)
    _same(ours, torch.nn.functional.interpolate(torch.tensor(x), **kw))
    assert ours.reshape(-1)[0].item() == 1.0


def test_vander_column_zero_is_one_at_inf_and_nan():
    x = [INF, NAN, 2.0]
    _same(bp.linalg.vander(bp.tensor(x)), torch.linalg.vander(torch.tensor(x)))
    _same(bp.vander(bp.tensor(x)), torch.vander(torch.tensor(x)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_soft_margin_loss_overflows_as_torch(dtype):
    def run(lib):
        x = lib.tensor([-1000.0, -50.0, 0.0, 30.0], dtype=getattr(lib, dtype), requires_grad=True)
        y = lib.tensor([1.0, 1.0, -1.0, 1.0], dtype=getattr(lib, dtype))
        loss = lib.nn.functional.soft_margin_loss(x, y, reduction="none")
        loss.sum().backward()
        return loss, x.grad

    (l1, g1), (l2, g2) = run(bp), run(torch)
    _same(l1, l2)
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())
    assert l1[0].item() == INF
    assert l1.grad_fn.name() == "SoftMarginLossBackward0"


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_margin_losses_take_an_empty_batch(reduction):
    F, tF = bp.nn.functional, torch.nn.functional
    ours = F.multi_margin_loss(bp.zeros(0, 3), bp.zeros(0, dtype=bp.long), reduction=reduction)
    theirs = tF.multi_margin_loss(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), reduction=reduction)
    assert tuple(ours.shape) == tuple(theirs.shape)  # (torch's sum over no sample reads unset memory)
    if reduction == "sum":
        assert ours.item() == 0.0
    ours = F.multilabel_margin_loss(bp.zeros(0, 3), bp.zeros(0, 3, dtype=bp.long), reduction=reduction)
    assert tuple(ours.shape) == (() if reduction == "sum" else (0,))
    if reduction == "sum":
        assert ours.item() == 0.0
    with pytest.raises(RuntimeError, match=r"^Expected non-empty vector or matrix .* got: \[2, 0\]$"):
        F.multi_margin_loss(bp.zeros(2, 0), bp.zeros(2, dtype=bp.long))


def test_ctc_loss_of_empty_log_probs_raises_torchs_error():
    args = (bp.zeros(0, 1, 3), bp.ones(1, 2, dtype=bp.long), bp.tensor([0]), bp.tensor([2]))
    with pytest.raises(RuntimeError, match="^log_probs tensor must not be empty$"):
        bp.nn.functional.ctc_loss(*args)
    with pytest.raises(RuntimeError, match="^log_probs tensor must not be empty$"):
        torch.nn.functional.ctc_loss(torch.zeros(0, 1, 3), torch.ones(1, 2, dtype=torch.long), [0], [2])


def test_log_normal_overflows_to_inf():
    for dtype in ("float32", "float64"):
        out = bp.zeros(3, dtype=getattr(bp, dtype)).log_normal_(1000.0)
        _same(out, torch.zeros(3, dtype=getattr(torch, dtype)).log_normal_(1000.0))
