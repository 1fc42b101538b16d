"""``grad_fn.name()`` of composite functions as torch 2.13 names the node that ends them (the name printed in
``tensor(..., grad_fn=<...>)``): nn.functional ops, linalg, reductions returning pairs, einsum by equation,
the fft kernels and special functions; checked against torch on the same inputs."""

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


def _c(lib: Any, data: Any) -> Any:
    return lib.tensor(data)


CASES: dict[str, Callable[[Any], Any]] = {
    "masked_select": lambda L: L.masked_select(_r(L, 3, 4), _c(L, [[True, False, True, False]] * 3)),
    "instance_norm": lambda L: L.nn.functional.instance_norm(_r(L, 2, 3, 5)),
    "lp_pool1d": lambda L: L.nn.functional.lp_pool1d(_r(L, 2, 3, 6), 2, 2),
    "lp_pool2d": lambda L: L.nn.functional.lp_pool2d(_r(L, 2, 3, 6, 6), 2, 2),
    "lp_pool2d inf": lambda L: L.nn.functional.lp_pool2d(_r(L, 1, 1, 4, 4), float("inf"), 2),
    "lp_pool2d -inf": lambda L: L.nn.functional.lp_pool2d(_r(L, 1, 1, 4, 4), float("-inf"), 2),
    "narrow_copy": lambda L: L.narrow_copy(_r(L, 3, 4), 0, 0, 2),
    "multi_margin_loss": lambda L: L.nn.functional.multi_margin_loss(_r(L, 3, 4), _c(L, [0, 1, 2])),
    "multi_margin_loss none": lambda L: L.nn.functional.multi_margin_loss(
        _r(L, 3, 4), _c(L, [0, 1, 2]), reduction="none"
    ),
    "multilabel_margin_loss": lambda L: L.nn.functional.multilabel_margin_loss(
        _r(L, 2, 4), _c(L, [[0, 1, -1, 0], [2, -1, 0, 0]])
    ),
    "pixel_shuffle": lambda L: L.nn.functional.pixel_shuffle(_r(L, 1, 8, 2, 2), 2),
    "pixel_unshuffle": lambda L: L.nn.functional.pixel_unshuffle(_r(L, 1, 2, 4, 4), 2),
    "pdist": lambda L: L.nn.functional.pdist(_r(L, 4, 3)),
    "pdist p=1": lambda L: L.nn.functional.pdist(_r(L, 4, 3), 1),
    "cdist": lambda L: L.cdist(_r(L, 4, 3), _r(L, 5, 3)),
    "cdist large (mm)": lambda L: L.cdist(_r(L, 30, 3), _r(L, 5, 3)),
    "cdist p=1": lambda L: L.cdist(_r(L, 30, 3), _r(L, 5, 3), p=1),
    "unfold": lambda L: L.nn.functional.unfold(_r(L, 1, 2, 4, 4), 2),
    "unfold unbatched": lambda L: L.nn.functional.unfold(_r(L, 2, 4, 4), 2),
    "fold": lambda L: L.nn.functional.fold(_r(L, 1, 8, 9), (4, 4), 2),
    "embedding_bag mean": lambda L: L.nn.functional.embedding_bag(_c(L, [0, 1, 2, 3]), _r(L, 5, 3), _c(L, [0, 2])),
    "embedding_bag sum": lambda L: L.nn.functional.embedding_bag(
        _c(L, [0, 1, 2, 3]), _r(L, 5, 3), _c(L, [0, 2]), mode="sum"
    ),
    "embedding_bag max": lambda L: L.nn.functional.embedding_bag(
        _c(L, [0, 1, 2, 3]), _r(L, 5, 3), _c(L, [0, 2]), mode="max"
    ),
    "affine_grid": lambda L: L.nn.functional.affine_grid(_r(L, 1, 2, 3), [1, 1, 4, 4], align_corners=False),
    "grid_sample": lambda L: L.nn.functional.grid_sample(_r(L, 1, 1, 4, 4), _r(L, 1, 3, 3, 2), align_corners=False),
    "grid_sample bicubic": lambda L: L.nn.functional.grid_sample(
        _r(L, 1, 1, 4, 4), _r(L, 1, 3, 3, 2), mode="bicubic", align_corners=False
    ),
    "grid_sample 3d": lambda L: L.nn.functional.grid_sample(
        _r(L, 1, 1, 4, 4, 4), _r(L, 1, 2, 2, 2, 3), align_corners=False
    ),
    "trace": lambda L: L.trace(_r(L, 3, 3)),
    "linalg.cross": lambda L: L.linalg.cross(_r(L, 4, 3), _r(L, 4, 3)),
    "cross dim": lambda L: L.cross(_r(L, 4, 3), _r(L, 4, 3), dim=1),
    "logdet": lambda L: L.logdet(_r(L, 3, 3)),
    "slogdet logabsdet": lambda L: L.linalg.slogdet(_r(L, 3, 3))[1],
    "slogdet sign": lambda L: L.linalg.slogdet(_r(L, 3, 3))[0],
    "kron": lambda L: L.kron(_r(L, 2, 2), _r(L, 3, 3)),
    "rot90": lambda L: L.rot90(_r(L, 3, 4)),
    "rot90 k=2": lambda L: L.rot90(_r(L, 3, 4), 2),
    "rot90 k=0": lambda L: L.rot90(_r(L, 3, 4), 0),
    "take": lambda L: L.take(_r(L, 3, 4), _c(L, [0, 5])),
    "repeat_interleave int": lambda L: L.repeat_interleave(_r(L, 3, 4), 2),
    "repeat_interleave dim": lambda L: L.repeat_interleave(_r(L, 3, 4), 2, dim=0),
    "repeat_interleave counts": lambda L: L.repeat_interleave(_r(L, 3, 4), _c(L, [1, 2, 1]), dim=0),
    "repeat_interleave equal counts": lambda L: L.repeat_interleave(_r(L, 3, 4), _c(L, [2, 2, 2]), dim=0),
    "std_mean std": lambda L: L.std_mean(_r(L, 3, 4))[0],
    "std_mean mean": lambda L: L.std_mean(_r(L, 3, 4), 1)[1],
    "var_mean var": lambda L: L.var_mean(_r(L, 3, 4))[0],
    "aminmax min": lambda L: L.aminmax(_r(L, 3, 4))[0],
    "aminmax max dim": lambda L: L.aminmax(_r(L, 3, 4), dim=1)[1],
    "nanmean": lambda L: L.nanmean(_r(L, 3, 4)),
    "renorm": lambda L: L.renorm(_r(L, 3, 4), 2, 0, 1.0),
    "polar": lambda L: L.polar(_r(L, 3).abs(), _r(L, 3)),
    "stft": lambda L: L.stft(_r(L, 64), 16, window=L.hann_window(16), return_complex=True),
    "stft batched": lambda L: L.stft(_r(L, 2, 64), 16, window=L.hann_window(16), return_complex=True),
    "addmm": lambda L: L.addmm(_r(L, 3, 5), _r(L, 3, 4), _r(L, 4, 5)),
    "addmv": lambda L: L.addmv(_r(L, 3), _r(L, 3, 4), _r(L, 4)),
    "addr": lambda L: L.addr(_r(L, 3, 4), _r(L, 3), _r(L, 4)),
    "addbmm": lambda L: L.addbmm(_r(L, 3, 5), _r(L, 2, 3, 4), _r(L, 2, 4, 5)),
    "baddbmm": lambda L: L.baddbmm(_r(L, 2, 3, 5), _r(L, 2, 3, 4), _r(L, 2, 4, 5)),
    "dist": lambda L: L.dist(_r(L, 3, 4), _r(L, 3, 4, seed=1)),
    "pad reflect": lambda L: L.nn.functional.pad(_r(L, 1, 2, 5), (1, 1), mode="reflect"),
    "pad replicate 2d": lambda L: L.nn.functional.pad(_r(L, 1, 2, 5, 5), (1, 1, 1, 1), mode="replicate"),
    "celu": lambda L: L.nn.functional.celu(_r(L, 3, 4)),
    "softshrink": lambda L: L.nn.functional.softshrink(_r(L, 3, 4)),
    "hardshrink": lambda L: L.nn.functional.hardshrink(_r(L, 3, 4)),
    "fmod tensor": lambda L: L.fmod(_r(L, 3, 4), _r(L, 3, 4, seed=1).detach().abs() + 1),
    "fmod scalar": lambda L: L.fmod(_r(L, 3, 4), 2),
    "remainder tensor": lambda L: L.remainder(_r(L, 3, 4), _r(L, 3, 4, seed=1).detach().abs() + 1),
    "linalg.det": lambda L: L.linalg.det(_r(L, 3, 3)),
    "linalg.inv": lambda L: L.linalg.inv(_r(L, 3, 3)),
    "linalg.pinv": lambda L: L.linalg.pinv(_r(L, 3, 4)),
    "linalg.cholesky": lambda L: L.linalg.cholesky(L.eye(3) * 2 + _r(L, 3, 3) * 0.1 @ _r(L, 3, 3).mT * 0.1),
    "fft.fft real": lambda L: L.fft.fft(_r(L, 8)),
    "fft.ifft real": lambda L: L.fft.ifft(_r(L, 8)),
    "fft.fft2 real": lambda L: L.fft.fft2(_r(L, 4, 4)),
    "fft.rfft": lambda L: L.fft.rfft(_r(L, 8)),
    "fft.irfft": lambda L: L.fft.irfft(L.fft.rfft(_r(L, 8))),
    "special.i1": lambda L: L.special.i1(_r(L, 4)),
    "special.i0e": lambda L: L.special.i0e(_r(L, 4)),
    "special.erfcx": lambda L: L.special.erfcx(_r(L, 4)),
    "special.xlog1py": lambda L: L.special.xlog1py(_r(L, 4), _r(L, 4, seed=1).detach().abs()),
    "special.entr": lambda L: L.special.entr(_r(L, 4)),
    "special.log_ndtr": lambda L: L.special.log_ndtr(_r(L, 4)),
}

EINSUM: dict[str, list[tuple[int, ...]]] = {
    "ij->ji": [(3, 4)],
    "ij": [(3, 4)],
    "ii->i": [(3, 3)],
    "ii": [(3, 3)],
    "ij->j": [(3, 4)],
    "ij,jk->ik": [(3, 4), (4, 5)],
    "ij,jk->ki": [(3, 4), (4, 5)],
    "i,i->": [(3,), (3,)],
    "i,j->ij": [(3,), (4,)],
    "i,j->i": [(3,), (4,)],
    "ij,ij->ij": [(3, 4), (3, 4)],
    "bhqd,bhkd->bhqk": [(2, 3, 4, 5), (2, 3, 6, 5)],
    "bi,bj->bij": [(2, 3), (2, 4)],
    "...ij,...jk->...ik": [(2, 3, 4), (2, 4, 5)],
    "ij,jk,kl->il": [(3, 4), (4, 5), (5, 6)],
    "i,i,j->j": [(3,), (3,), (4,)],
    "i,j,k->ijk": [(2,), (3,), (4,)],
}


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", sorted(CASES))
def test_names_match_torch(case: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's deprecation and window warnings are not what is checked)
        theirs = _first(CASES[case](torch)).grad_fn.name()
    ours = _first(CASES[case](bp)).grad_fn.name()
    assert ours == theirs


@pytest.mark.parametrize("equation", sorted(EINSUM))
def test_einsum_names_match_torch(equation: str) -> None:
    shapes = EINSUM[equation]
    theirs = torch.einsum(equation, *[_r(torch, *s) for s in shapes]).grad_fn.name()
    assert bp.einsum(equation, *[_r(bp, *s) for s in shapes]).grad_fn.name() == theirs


def test_printed_repr_names_the_node() -> None:
    out = bp.trace(bp.ones(2, 2, requires_grad=True))
    assert repr(out) == "tensor(2., grad_fn=<TraceBackward0>)"


def test_naming_keeps_double_backward_links() -> None:
    # hardshrink's node carries torch's create_graph links; naming it must keep them: the gradient is then
    # a graph torch names HardshrinkBackwardBackward0
    x = bp.tensor([1.0, -2.0, 0.1], requires_grad=True)
    y = bp.nn.functional.hardshrink(x)
    assert y.grad_fn.name() == "HardshrinkBackward0"
    (g,) = bp.autograd.grad(y.sum(), x, create_graph=True)
    assert g.grad_fn is not None and g.grad_fn.name() == "HardshrinkBackwardBackward0"
    assert g.tolist() == [1.0, 1.0, 0.0]


def test_values_unchanged_by_naming() -> None:
    # closed forms: trace sums the diagonal, rot90 of [[1, 2], [3, 4]] is [[2, 4], [1, 3]], its gradient ones
    a = bp.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert bp.trace(a).item() == 5.0
    r = bp.rot90(a)
    assert r.tolist() == [[2.0, 4.0], [1.0, 3.0]]
    r.sum().backward()
    assert a.grad is not None and a.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
