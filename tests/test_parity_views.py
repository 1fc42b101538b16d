"""Identity, aliasing and autograd nodes of shape/view ops as torch's: a view op never returns its input
(``x.view(3)`` of a (3,)-tensor is a new view with ``ViewBackward0``), shares memory and the version counter,
and its gradient (``retain_grad``, hooks) flows back to the input; the ops torch returns ``self`` from
(``contiguous``, ``to``, ``flatten(d, d)``, ...) do so here too. Written-out expectations, then a torch
cross-check of every case (skipped without torch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:
    torch = None

Case = tuple[tuple[int, ...], Callable[[Any, Any], Any]]
CASES: dict[str, Case] = {
    "view(3) same": ((3,), lambda x, L: x.view(3)),
    "view(-1)": ((3,), lambda x, L: x.view(-1)),
    "view(3, 1)": ((3,), lambda x, L: x.view(3, 1)),
    "view(12)": ((3, 4), lambda x, L: x.view(12)),
    "view_as self": ((3,), lambda x, L: x.view_as(x)),
    "reshape same": ((3,), lambda x, L: x.reshape(3)),
    "reshape(3, 1)": ((3,), lambda x, L: x.reshape(3, 1)),
    "reshape copy": ((3, 4), lambda x, L: x.t().reshape(12)),
    "reshape_as self": ((3,), lambda x, L: x.reshape_as(x)),
    "flatten 1-D": ((3,), lambda x, L: x.flatten()),
    "flatten(1, 1)": ((3, 4), lambda x, L: x.flatten(1, 1)),
    "flatten 0-d": ((), lambda x, L: x.flatten()),
    "ravel 1-D": ((3,), lambda x, L: x.ravel()),
    "unflatten(1, (4,))": ((3, 4), lambda x, L: x.unflatten(1, (4,))),
    "squeeze(0) not 1": ((3, 4), lambda x, L: x.squeeze(0)),
    "squeeze() none 1": ((3, 4), lambda x, L: x.squeeze()),
    "squeeze((0, 1))": ((3, 4), lambda x, L: x.squeeze((0, 1))),
    "squeeze()": ((3, 1), lambda x, L: x.squeeze()),
    "squeeze 0-d": ((), lambda x, L: x.squeeze()),
    "unsqueeze(0)": ((3,), lambda x, L: x.unsqueeze(0)),
    "expand same": ((3,), lambda x, L: x.expand(3)),
    "expand(-1)": ((3,), lambda x, L: x.expand(-1)),
    "expand(2, 3)": ((3,), lambda x, L: x.expand(2, 3)),
    "expand_as self": ((3,), lambda x, L: x.expand_as(x)),
    "broadcast_to same": ((3,), lambda x, L: L.broadcast_to(x, (3,))),
    "broadcast_tensors same": ((3,), lambda x, L: L.broadcast_tensors(x, x)[0]),
    "permute identity": ((3, 4), lambda x, L: x.permute(0, 1)),
    "permute 1-D": ((3,), lambda x, L: x.permute(0)),
    "transpose(0, 0)": ((3, 4), lambda x, L: x.transpose(0, 0)),
    "transpose 1-D": ((3,), lambda x, L: x.transpose(0, 0)),
    "transpose(0, 1)": ((3, 4), lambda x, L: x.transpose(0, 1)),
    "t() 0-d": ((), lambda x, L: x.t()),
    "t() 1-D": ((3,), lambda x, L: x.t()),
    "t() 2-D": ((3, 4), lambda x, L: x.t()),
    "movedim identity": ((3, 4), lambda x, L: x.movedim(0, 0)),
    "narrow full": ((3,), lambda x, L: x.narrow(0, 0, 3)),
    "select": ((3, 4), lambda x, L: x.select(0, 1)),
    "x[...]": ((3,), lambda x, L: x[...]),
    "x[:]": ((3,), lambda x, L: x[:]),
    "x[:, :]": ((3, 4), lambda x, L: x[:, :]),
    "x[..., :]": ((3, 4), lambda x, L: x[..., :]),
    "x[None]": ((3,), lambda x, L: x[None]),
    "x[0] 1-D": ((3,), lambda x, L: x[0]),
    "x[()] 0-d": ((), lambda x, L: x[()]),
    "contiguous": ((3, 4), lambda x, L: x.contiguous()),
    "clone": ((3,), lambda x, L: x.clone()),
    "to(float32)": ((3,), lambda x, L: x.to(L.float32)),
    "to(copy=True)": ((3,), lambda x, L: x.to(L.float32, copy=True)),
    "to(cpu)": ((3,), lambda x, L: x.to("cpu")),
    "float()": ((3,), lambda x, L: x.float()),
    "type_as self": ((3,), lambda x, L: x.type_as(x)),
    "as_strided": ((3, 4), lambda x, L: x.as_strided((2, 2), (4, 1), 1)),
    "unfold": ((4,), lambda x, L: x.unfold(0, 2, 1)),
    "split one piece": ((3,), lambda x, L: x.split(3)[0]),
    "split sizes": ((3,), lambda x, L: x.split([1, 2])[1]),
    "chunk(1)": ((3,), lambda x, L: x.chunk(1)[0]),
    "unbind": ((3, 4), lambda x, L: x.unbind(1)[0]),
    "diagonal": ((3, 4), lambda x, L: x.diagonal()),
    "real of real": ((3,), lambda x, L: x.real),
    "conj of real": ((3,), lambda x, L: x.conj()),
    "resolve_conj": ((3,), lambda x, L: x.resolve_conj()),
    "resolve_neg": ((3,), lambda x, L: x.resolve_neg()),
    "flip([])": ((3,), lambda x, L: x.flip([])),
    "roll(0)": ((3,), lambda x, L: x.roll(0)),
    "repeat(1)": ((3,), lambda x, L: x.repeat(1)),
    "tile(1)": ((3,), lambda x, L: x.tile(1)),
    "atleast_1d 1-D": ((3,), lambda x, L: L.atleast_1d(x)),
    "atleast_1d 0-d": ((), lambda x, L: L.atleast_1d(x)),
    "T 2-D": ((3, 4), lambda x, L: x.T),
    "mT": ((3, 4), lambda x, L: x.mT),
    "H": ((3, 4), lambda x, L: x.H),
    "adjoint": ((3, 4), lambda x, L: x.adjoint()),
    "positive": ((3,), lambda x, L: x.positive()),
}


def _props(L: Any, shape: tuple[int, ...], fn: Callable[[Any, Any], Any], leaf: bool) -> dict[str, Any]:
    """What a case's result is: identity, node, memory and version sharing, write-through, gradients."""
    seed = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float32).reshape(shape)

    def make() -> tuple[Any, Any, Any]:
        x0 = L.tensor(seed.copy(), requires_grad=True)
        x = x0 if leaf else x0 * 1
        return x0, x, fn(x, L)

    x0, x, out = make()
    r: dict[str, Any] = {"is_self": out is x, "is_leaf": out.is_leaf, "requires_grad": out.requires_grad}
    r["name"] = None if out.grad_fn is None else out.grad_fn.name()
    r["shares"] = bool(np.shares_memory(out.detach().numpy(), x.detach().numpy()))
    before = x._version
    try:
        with L.no_grad():
            out.add_(100.0)
        r["version_shared"] = x._version != before
        r["write_seen"] = bool((x.detach().numpy() > 50).any())
    except (RuntimeError, ValueError):
        r["version_shared"] = r["write_seen"] = "refused"
    x0, x, out = make()
    out.retain_grad()
    out.register_hook(lambda g: g * 3)
    w = L.tensor(np.linspace(1, 2, max(out.numel(), 1), dtype=np.float32).reshape(tuple(out.shape)))
    (out * w).sum().backward()
    r["grad"] = x0.grad.numpy().round(4).tolist()
    r["out_grad"] = out.grad.numpy().round(4).tolist()
    return r


def test_identity_views_are_new_views() -> None:
    x = bp.ones(3, requires_grad=True)
    for y in (x.view(3), x.reshape(3), x.view_as(x), x.t(), x.transpose(0, 0), x.movedim(0, 0), x.squeeze()):
        assert y is not x and not y.is_leaf and y._base is x
    assert x.view(3).grad_fn.name() == "ViewBackward0"
    assert x.view(3, 1).grad_fn.name() == "ViewBackward0"
    assert x.unsqueeze(1).grad_fn.name() == "UnsqueezeBackward0"
    assert x.t().grad_fn.name() == "TBackward0"
    assert x.transpose(0, 0).grad_fn.name() == "TransposeBackward0"
    assert x.squeeze(0).grad_fn.name() == "SqueezeBackward1"
    assert x.expand(3).grad_fn.name() == "ExpandBackward0"
    m = bp.ones(3, 4, requires_grad=True)
    assert m.t().reshape(12).grad_fn.name() == "UnsafeViewBackward0"
    assert m.unbind()[0].grad_fn.name() == "UnbindBackward0"
    assert m.split(2)[0].grad_fn.name() == "SplitBackward0"
    assert m.unfold(1, 2, 1).grad_fn.name() == "UnfoldBackward0"
    # torch returns the tensor itself from these
    assert m.flatten(1, 1) is m and m.contiguous() is m and m.to(bp.float32) is m and m.float() is m


def test_hooks_and_retain_grad_of_an_identity_view() -> None:
    x = bp.ones(3, requires_grad=True)
    y = x.view(3)
    y.retain_grad()
    y.register_hook(lambda g: g * 2)
    (y * bp.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.grad.tolist() == [2.0, 4.0, 6.0]  # (retain_grad sees the hooked gradient, as torch)
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_views_write_through() -> None:
    x = bp.zeros(3)
    x[0].add_(1)  # a 0-d view of a 1-D tensor (NumPy would read a copied scalar)
    x.expand(3).add_(1)  # the same-shape expand is writable, as torch's
    m = bp.zeros(2, 2)
    m.diagonal().add_(5)
    assert x.tolist() == [2.0, 1.0, 1.0] and m.tolist() == [[5.0, 0.0], [0.0, 5.0]]
    r = x.repeat(1)  # a copy, as torch's
    r.add_(1)
    assert x.tolist() == [2.0, 1.0, 1.0]
    u = bp.arange(4.0).unfold(0, 2, 1)
    assert u._base is not None and u.tolist() == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]


def test_inplace_through_overlapping_view_refuses() -> None:
    x = bp.ones(4, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="single memory location"):
        x.unfold(0, 2, 1).mul_(2)


def test_composite_function_names() -> None:
    F = bp.nn.functional
    x = bp.rand(3, 4, requires_grad=True)
    t = bp.rand(3, 4)
    assert F.mse_loss(x, t).grad_fn.name() == "MseLossBackward0"
    assert F.binary_cross_entropy(x, t).grad_fn.name() == "BinaryCrossEntropyBackward0"
    assert F.binary_cross_entropy_with_logits(x, t).grad_fn.name() == "BinaryCrossEntropyWithLogitsBackward0"
    assert F.smooth_l1_loss(x, t).grad_fn.name() == "SmoothL1LossBackward0"
    assert F.huber_loss(x, t).grad_fn.name() == "HuberLossBackward0"
    assert F.layer_norm(x, (4,)).grad_fn.name() == "NativeLayerNormBackward0"
    assert F.nll_loss(x, bp.tensor([0, 1, 2])).grad_fn.name() == "NllLossBackward0"
    assert (1 - x).grad_fn.name() == "RsubBackward1"


# one cross-check
@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "non-leaf"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch(case: str, leaf: bool) -> None:
    shape, fn = CASES[case]
    assert _props(bp, shape, fn, leaf) == _props(torch, shape, fn, leaf)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_composite_names_match_torch() -> None:
    def names(L: Any) -> list[str]:
        F = L.nn.functional
        x = L.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
        t = L.tensor(np.linspace(0.1, 0.9, 12, dtype=np.float32).reshape(3, 4))
        outs = [F.mse_loss(x, t, reduction=r) for r in ("mean", "sum", "none")]
        outs += [F.binary_cross_entropy(L.sigmoid(x), t), F.binary_cross_entropy_with_logits(x, t)]
        outs += [F.smooth_l1_loss(x, t), F.huber_loss(x, t, reduction="none"), F.l1_loss(x, t)]
        outs += [F.kl_div(F.log_softmax(x, -1), t, reduction="batchmean"), F.layer_norm(x, (4,))]
        outs += [F.softmax(x, -1), F.log_softmax(x, -1), F.gelu(x), F.silu(x), F.dropout(x, 0.5, True)]
        outs += [F.nll_loss(x, L.tensor([0, 1, 2])), F.embedding(L.tensor([0, 2]), x), F.glu(x), F.pad(x, (1, 1))]
        outs += [F.batch_norm(x, None, None, training=True), F.group_norm(x.reshape(3, 4, 1), 2)]
        outs += [1 - x, 2 / x, 2**x, x.square(), F.logsigmoid(x)]
        return [o.grad_fn.name() for o in outs]

    assert names(bp) == names(torch)
