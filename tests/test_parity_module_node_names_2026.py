"""``grad_fn.name()`` as torch 2.13 prints it, two sweeps beside tests/test_parity_grad_fn_names_2026.py: the
outputs of torch.nn modules (and their functional forms) in train and eval mode, and the gradients that
``create_graph=True`` records (torch's ``<Op>BackwardBackward0`` for its fused backward kernels); checked
against torch on the same inputs. Also: ``F.pad`` with zero padding returns a new tensor, as torch's."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: these tests compare grad_fn names with torch")


def _r(lib: Any, *shape: int, seed: int = 0) -> Any:
    data = np.random.RandomState(seed + sum(shape)).randn(*shape).astype(np.float32)
    return lib.tensor(data, requires_grad=True)


def _p(lib: Any, *shape: int, seed: int = 0, grad: bool = False) -> Any:
    data = np.random.RandomState(seed).rand(*shape).astype(np.float32) * 0.8 + 0.1
    return lib.tensor(data, requires_grad=grad)


def _inplace(module: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda L: module(L)(_r(L, 2, 3) * 1)


MODULES: dict[str, Callable[[Any], Any]] = {
    "CircularPad1d": lambda L: L.nn.CircularPad1d(1)(_r(L, 1, 2, 4)),
    "CircularPad2d": lambda L: L.nn.CircularPad2d(1)(_r(L, 1, 2, 4, 4)),
    "CircularPad2d unbatched": lambda L: L.nn.CircularPad2d(1)(_r(L, 2, 4, 4)),
    "CircularPad3d": lambda L: L.nn.CircularPad3d(1)(_r(L, 1, 2, 3, 3, 3)),
    "F.pad circular": lambda L: L.nn.functional.pad(_r(L, 1, 2, 4), (1, 2), mode="circular"),
    "F.pad circular zero": lambda L: L.nn.functional.pad(_r(L, 1, 2, 4), (0, 0), mode="circular"),
    "F.pad constant zero": lambda L: L.nn.functional.pad(_r(L, 1, 2, 4), (0, 0)),
    "CrossMapLRN2d": lambda L: L.nn.CrossMapLRN2d(2)(_r(L, 1, 4, 3, 3)),
    "PairwiseDistance": lambda L: L.nn.PairwiseDistance()(_r(L, 2, 3), _r(L, 2, 3, seed=1)),
    "PairwiseDistance p=1 keepdim": lambda L: L.nn.PairwiseDistance(1, keepdim=True)(_r(L, 2, 3), _r(L, 2, 3, seed=1)),
    "F.pairwise_distance vector": lambda L: L.nn.functional.pairwise_distance(_r(L, 3), _r(L, 3, seed=1)),
    "LeakyReLU inplace": _inplace(lambda L: L.nn.LeakyReLU(inplace=True)),
    "ELU inplace": _inplace(lambda L: L.nn.ELU(inplace=True)),
    "SELU inplace": _inplace(lambda L: L.nn.SELU(inplace=True)),
    "CELU inplace": _inplace(lambda L: L.nn.CELU(inplace=True)),
    "Threshold inplace": _inplace(lambda L: L.nn.Threshold(0.1, 2.0, inplace=True)),
    "torch.selu_": lambda L: L.selu_(_r(L, 3) * 1),
    "torch.celu_": lambda L: L.celu_(_r(L, 3) * 1),
    "torch.threshold_": lambda L: L.threshold_(_r(L, 3) * 1, 0.1, 2.0),
    "F.elu_": lambda L: L.nn.functional.elu_(_r(L, 3) * 1),
    "RNN batch_first": lambda L: L.nn.RNN(3, 4, batch_first=True)(_r(L, 2, 5, 3))[0],
    "GRU batch_first": lambda L: L.nn.GRU(3, 4, batch_first=True)(_r(L, 2, 5, 3))[0],
    "Linear no bias, vector": lambda L: L.nn.Linear(3, 2, bias=False)(_r(L, 3)),
    "Bilinear no bias": lambda L: L.nn.Bilinear(3, 3, 2, bias=False)(_r(L, 2, 3), _r(L, 2, 3, seed=1)),
    "MarginRankingLoss none": lambda L: L.nn.MarginRankingLoss(reduction="none")(
        _r(L, 3), _r(L, 3, seed=1), L.tensor([1.0, -1.0, 1.0])
    ),
    "TripletMarginLoss none": lambda L: L.nn.TripletMarginLoss(reduction="none")(
        _r(L, 2, 3), _r(L, 2, 3, seed=1), _r(L, 2, 3, seed=2)
    ),
    "TripletMarginWithDistanceLoss none": lambda L: L.nn.TripletMarginWithDistanceLoss(reduction="none")(
        _r(L, 2, 3), _r(L, 2, 3, seed=1), _r(L, 2, 3, seed=2)
    ),
    "CrossEntropyLoss probabilities": lambda L: L.nn.CrossEntropyLoss()(_r(L, 2, 3), _p(L, 2, 3)),
    "AdaptiveLogSoftmaxWithLoss.log_prob": lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2]).log_prob(_r(L, 3, 4)),
    "fft.ihfft2": lambda L: L.fft.ihfft2(_r(L, 3, 4)),
    "fft.ihfftn": lambda L: L.fft.ihfftn(_r(L, 2, 3, 4)),
    "fft.ihfftn dims": lambda L: L.fft.ihfftn(_r(L, 2, 3, 4), dim=(0, 2)),
    "fft.ihfftn s": lambda L: L.fft.ihfftn(_r(L, 2, 3, 4), s=(2, 4)),
}


# each beside a neighbour already named as torch's, so that the new names are seen not to leak onto it
MODULES.update(
    {
        "CircularPad2d, circular Conv2d": lambda L: (
            L.nn.CircularPad2d(1)(_r(L, 1, 2, 4, 4)),
            L.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")(_r(L, 1, 2, 4, 4)),
        ),
        "LeakyReLU, ReLU, Hardtanh inplace": lambda L: (
            L.nn.LeakyReLU(inplace=True)(_r(L, 2, 3) * 1),
            L.nn.ReLU(inplace=True)(_r(L, 2, 3) * 1),
            L.nn.Hardtanh(inplace=True)(_r(L, 2, 3) * 1),
            L.nn.LeakyReLU()(_r(L, 2, 3)),
        ),
        "RNN batch_first, time first": lambda L: (
            L.nn.RNN(3, 4, batch_first=True)(_r(L, 2, 5, 3))[0],
            L.nn.RNN(3, 4)(_r(L, 5, 2, 3))[0],
        ),
        "Linear of a vector, with and without bias": lambda L: (
            L.nn.Linear(3, 2, bias=False)(_r(L, 3)),
            L.nn.Linear(3, 2)(_r(L, 3)),
            L.nn.Linear(3, 2, bias=False)(_r(L, 2, 3)),
        ),
        "Bilinear, with and without bias": lambda L: (
            L.nn.Bilinear(3, 3, 2, bias=False)(_r(L, 2, 3), _r(L, 2, 3, seed=1)),
            L.nn.Bilinear(3, 3, 2)(_r(L, 2, 3), _r(L, 2, 3, seed=1)),
        ),
        "CrossEntropyLoss probabilities, mean and sum": lambda L: (
            L.nn.CrossEntropyLoss()(_r(L, 2, 3), _p(L, 2, 3)),
            L.nn.CrossEntropyLoss(reduction="sum")(_r(L, 2, 3), _p(L, 2, 3)),
        ),
        "fft.ihfftn, several dims and one": lambda L: (
            L.fft.ihfftn(_r(L, 2, 3, 4)),
            L.fft.ihfftn(_r(L, 2, 3, 4), dim=(1,)),
            L.fft.ihfftn(_r(L, 4)),
        ),
    }
)


def _name(lib: Any, build: Callable[[Any], Any]) -> Any:
    torch.manual_seed(0)
    bp.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = build(lib)
    outs = out if isinstance(out, tuple) else (out,)
    return [None if o.grad_fn is None else o.grad_fn.name() for o in outs]


@pytest.mark.parametrize("case", list(MODULES))
def test_module_output_node_name_matches_torch(case: str) -> None:
    assert _name(bp, MODULES[case]) == _name(torch, MODULES[case])


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("case", ["CircularPad2d", "CrossMapLRN2d", "PairwiseDistance", "RNN batch_first"])
def test_module_node_name_in_train_and_eval(case: str, train: bool) -> None:
    def build(L: Any) -> Any:
        module = {
            "CircularPad2d": lambda: L.nn.CircularPad2d(1),
            "CrossMapLRN2d": lambda: L.nn.CrossMapLRN2d(2),
            "PairwiseDistance": lambda: L.nn.PairwiseDistance(),
            "RNN batch_first": lambda: L.nn.RNN(3, 4, batch_first=True),
        }[case]().train(train)
        if case == "PairwiseDistance":
            return module(_r(L, 2, 3), _r(L, 2, 3, seed=1))
        out = module(_r(L, 2, 5, 3) if case.startswith("RNN") else _r(L, 1, 4, 3, 3))
        return out[0] if isinstance(out, tuple) else out

    assert _name(bp, build) == _name(torch, build)


def test_zero_pad_is_a_new_tensor() -> None:
    # torch's constant_pad_nd copies: writing into the result leaves the input alone
    x = bp.tensor([[1.0, 2.0]])
    y = bp.nn.functional.pad(x, (0, 0))
    assert y is not x
    y.add_(1)
    assert x.tolist() == [[1.0, 2.0]]
    xg = bp.tensor([[1.0, 2.0]], requires_grad=True)
    out = bp.nn.functional.pad(xg, (0, 0, 0, 0))
    assert out.grad_fn.name() == "ConstantPadNdBackward0"
    (out * bp.tensor([[3.0, 4.0]])).sum().backward()
    assert xg.grad.tolist() == [[3.0, 4.0]]


DOUBLE: dict[str, Callable[[Any, Any], Any]] = {
    "tanh": lambda L, x: x.tanh(),
    "sigmoid": lambda L, x: x.sigmoid(),
    "gelu": lambda L, x: L.nn.functional.gelu(x),
    "gelu tanh": lambda L, x: L.nn.functional.gelu(x, approximate="tanh"),
    "elu": lambda L, x: L.nn.functional.elu(x),
    "selu": lambda L, x: L.nn.functional.selu(x),
    "celu": lambda L, x: L.nn.functional.celu(x, 0.5),
    "softplus": lambda L, x: L.nn.functional.softplus(x),
    "hardswish": lambda L, x: L.nn.functional.hardswish(x),
    "logsigmoid": lambda L, x: L.nn.functional.logsigmoid(x),
    "softmax": lambda L, x: x.softmax(-1),
    "softmax dim 0": lambda L, x: x.softmax(0),
    "log_softmax": lambda L, x: x.log_softmax(-1),
    "nll_loss of log_softmax": lambda L, x: L.nn.functional.nll_loss(x.log_softmax(-1), L.tensor([0, 1, 3])),
    "kl_div": lambda L, x: L.nn.functional.kl_div(x.log_softmax(-1), _p(L, 3, 4), reduction="batchmean"),
    "cross_entropy": lambda L, x: L.nn.functional.cross_entropy(x, L.tensor([0, 1, 3])),
    "cross_entropy none": lambda L, x: L.nn.functional.cross_entropy(x, L.tensor([0, 1, 3]), reduction="none"),
    "cross_entropy label_smoothing": lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor([0, 1, 3]), label_smoothing=0.1
    ),
    "cross_entropy probabilities": lambda L, x: L.nn.functional.cross_entropy(x, _p(L, 3, 4)),
    "binary_cross_entropy": lambda L, x: L.nn.functional.binary_cross_entropy(x.sigmoid(), _p(L, 3, 4)),
}


DOUBLE.update(
    {
        "tanh, tanh_, sigmoid of a product, mul, relu": lambda L, x: (
            x.tanh(),
            (x * 1).tanh_(),
            (x * 2).sigmoid(),
            x * x,
            x.relu(),
        ),
        "softplus, bce_with_logits": lambda L, x: (
            L.nn.functional.softplus(x),
            L.nn.functional.binary_cross_entropy_with_logits(x, _p(L, 3, 4), reduction="none"),
        ),
    }
)


def _grad_name(lib: Any, build: Callable[[Any, Any], Any]) -> list[str | None]:
    names = []
    out = build(lib, _r(lib, 3, 4))
    for i in range(len(out) if isinstance(out, tuple) else 1):
        x = _r(lib, 3, 4)
        y = build(lib, x)
        y = y[i] if isinstance(y, tuple) else y
        (g,) = lib.autograd.grad(y.sum() if y.ndim else y, x, create_graph=True)
        names.append(None if g.grad_fn is None else g.grad_fn.name())
    return names


@pytest.mark.parametrize("case", list(DOUBLE))
def test_double_backward_node_name_matches_torch(case: str) -> None:
    assert _grad_name(bp, DOUBLE[case]) == _grad_name(torch, DOUBLE[case])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_double_backward_name(reduction: str) -> None:
    def name(lib: Any) -> str:
        x = _p(lib, 3, 4, seed=1, grad=True)
        y = lib.nn.functional.binary_cross_entropy(x, _p(lib, 3, 4), reduction=reduction)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        return g.grad_fn.name()

    assert name(bp) == name(torch) == "BinaryCrossEntropyBackwardBackward0"


def test_named_double_backward_keeps_values() -> None:
    # names only: the create_graph gradients and second derivatives are those of the closed forms
    x = bp.tensor([0.3, -1.2, 2.0], dtype=bp.float64, requires_grad=True)
    (g,) = bp.autograd.grad(x.tanh().sum(), x, create_graph=True)
    assert g.grad_fn.name() == "TanhBackwardBackward0"
    (h,) = bp.autograd.grad(g.sum(), x)
    t = np.tanh(np.array([0.3, -1.2, 2.0]))
    np.testing.assert_allclose(g.detach().numpy(), 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), -2 * t * (1 - t**2), rtol=1e-12)
    s = 1 / (1 + np.exp(-np.array([0.3, -1.2, 2.0])))
    (g,) = bp.autograd.grad(x.sigmoid().sum(), x, create_graph=True)
    (h,) = bp.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), s * (1 - s) * (1 - 2 * s), rtol=1e-12)
