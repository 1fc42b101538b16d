"""Output strides and contiguity against torch: ~100 ops on inputs in many layouts (transposed, permuted,
channels-last, stepped, expanded, size-1 and size-0 dims), and the layout of a leaf's ``.grad`` (torch's
AccumulateGrad contract). Code calls ``.view`` on results, which refuses a layout needing a copy: a layout
differing from torch's makes it raise where torch's works. Documented differences (README) are left out."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the parity checks compare against it")

rng = np.random.default_rng(0)
A1 = rng.standard_normal(3).astype(np.float32)
A2 = rng.standard_normal((4, 5)).astype(np.float32)
A3 = rng.standard_normal((3, 4, 5)).astype(np.float32)
A4 = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)

# name -> how to make it from a library L (bp or torch); every one a non-C layout or an odd-sized one
LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "transposed": lambda L: L.tensor(A2.T.copy()).t(),
    "permuted3d": lambda L: L.tensor(A3).permute(2, 0, 1),
    "permuted4d": lambda L: L.tensor(A4).permute(0, 2, 3, 1),
    "channels_last": lambda L: L.tensor(A4.transpose(0, 2, 3, 1).copy()).permute(0, 3, 1, 2),
    "stepped": lambda L: L.tensor(A3)[:, ::2],
    "expanded": lambda L: L.tensor(A1).expand(4, 3),
    "size1": lambda L: L.tensor(A3[:1].copy()).permute(1, 0, 2),
    "size0": lambda L: L.zeros(0, 3).t(),
}

OPS: dict[str, Callable[[Any, Any], Any]] = {
    # elementwise, scalars, broadcasting, comparisons, where, clamp
    "neg": lambda L, x: -x,
    "exp": lambda L, x: x.exp(),
    "add_scalar": lambda L, x: x + 1,
    "rsub": lambda L, x: 1 - x,
    "div": lambda L, x: x / 2,
    "floordiv": lambda L, x: x // 2,
    "pow": lambda L, x: x**2,
    "mul_self": lambda L, x: x * x,
    "add_row": lambda L, x: x + L.ones(x.shape[-1]),
    "row_add": lambda L, x: L.ones(x.shape[-1]) + x,
    "full_add": lambda L, x: L.ones(x.shape) + x,
    "lt": lambda L, x: x < 0,
    "eq": lambda L, x: x == x,
    "logical_not": lambda L, x: ~(x > 0),
    "isnan": lambda L, x: x.isnan(),
    "where": lambda L, x: L.where(x > 0, x, 0.0),
    "clamp": lambda L, x: x.clamp(-0.5, 0.5),
    "clamp_min": lambda L, x: x.clamp(min=0),
    "relu": lambda L, x: L.relu(x),
    "sigmoid": lambda L, x: x.sigmoid(),
    "tanh": lambda L, x: L.tanh(x),
    "gelu": lambda L, x: L.nn.functional.gelu(x),
    "sign": lambda L, x: x.sign(),
    "floor": lambda L, x: x.floor(),
    "square": lambda L, x: x.square(),
    "sqrt_abs": lambda L, x: x.abs().sqrt(),
    "maximum": lambda L, x: L.maximum(x, x),
    "addcmul": lambda L, x: L.addcmul(x, x, x),
    "lerp": lambda L, x: L.lerp(x, x, 0.5),
    "masked_fill": lambda L, x: x.masked_fill(x > 0, 0.0),
    "nan_to_num": lambda L, x: x.nan_to_num(),
    "dropout_eval": lambda L, x: L.nn.functional.dropout(x, 0.5, training=False),
    # type conversions
    "to_float64": lambda L, x: x.to(L.float64),
    "half": lambda L, x: x.half(),
    "double_float": lambda L, x: x.double().float(),
    "to_int32": lambda L, x: x.to(L.int32),
    "bool": lambda L, x: x.bool(),
    "type_as": lambda L, x: x.type_as(L.zeros(1, dtype=L.float64)),
    # copies and constructors
    "clone_contiguous": lambda L, x: x.clone(memory_format=L.contiguous_format),
    "contiguous": lambda L, x: x.contiguous(),
    "zeros_like_contiguous": lambda L, x: L.zeros_like(x, memory_format=L.contiguous_format),
    "new_zeros": lambda L, x: x.new_zeros(x.shape),
    "detach": lambda L, x: x.detach(),
    # reductions
    "sum": lambda L, x: x.sum(0),
    "sum_keepdim": lambda L, x: x.sum(-1, keepdim=True),
    "mean_keepdim": lambda L, x: x.mean(0, keepdim=True),
    "prod_keepdim": lambda L, x: x.prod(-1, keepdim=True),
    "var_keepdim": lambda L, x: x.var(-1, keepdim=True),
    "std": lambda L, x: x.std(0),
    "amax": lambda L, x: x.amax(-1),
    "max_keepdim": lambda L, x: x.max(-1, keepdim=True)[0],
    "argmax": lambda L, x: x.argmax(-1),
    "norm": lambda L, x: x.norm(dim=-1),
    "logsumexp": lambda L, x: x.logsumexp(-1),
    "any": lambda L, x: (x > 0).any(-1),
    "all_keepdim": lambda L, x: (x > 0).all(0, keepdim=True),
    # scans, softmax, sorting
    "cumsum": lambda L, x: x.cumsum(-1),
    "cumsum0": lambda L, x: x.cumsum(0),
    "cumprod": lambda L, x: x.cumprod(-1),
    "cummax": lambda L, x: x.cummax(-1)[0],
    "softmax": lambda L, x: x.softmax(-1),
    "softmax0": lambda L, x: x.softmax(0),
    "log_softmax": lambda L, x: x.log_softmax(-1),
    "topk": lambda L, x: x.topk(1, -1)[0],
    "layer_norm": lambda L, x: L.nn.functional.layer_norm(x, x.shape[-1:]),
    # shape ops
    "permute": lambda L, x: x.permute(*reversed(range(x.ndim))),
    "transpose": lambda L, x: x.transpose(0, -1),
    "mT": lambda L, x: x.mT,
    "movedim": lambda L, x: x.movedim(0, -1),
    "unsqueeze": lambda L, x: x.unsqueeze(1),
    "squeeze": lambda L, x: x.unsqueeze(0).squeeze(0),
    "narrow": lambda L, x: x.narrow(-1, 0, 1),
    "select": lambda L, x: x.select(0, 0),
    "diagonal": lambda L, x: x.diagonal(),
    "split": lambda L, x: x.split(1, -1)[0],
    "chunk": lambda L, x: x.chunk(2, 0)[-1],
    "unbind": lambda L, x: x.unbind(-1)[0],
    "expand": lambda L, x: x.unsqueeze(0).expand(2, *x.shape),
    "repeat": lambda L, x: x.repeat(*([2] * x.ndim)),
    "tile": lambda L, x: x.tile((2,)),
    "reshape": lambda L, x: x.reshape(-1),
    "flatten": lambda L, x: x.flatten(),
    "unflatten": lambda L, x: x.unflatten(-1, (1, x.shape[-1])),
    "tril": lambda L, x: x.tril(),
    "triu": lambda L, x: x.triu(1),
    "cat": lambda L, x: L.cat([x, x], 0),
    "stack": lambda L, x: L.stack([x, x], -1),
    # products
    "matmul": lambda L, x: x @ x.transpose(-1, -2),
    "matmul_t": lambda L, x: x.transpose(-1, -2) @ x,
    "einsum": lambda L, x: L.einsum("...ij->...ji", x),
    # in place
    "mul_": lambda L, x: x.detach().contiguous().mul_(2),
    "add_ on a view": lambda L, x: x.clone(memory_format=L.contiguous_format).add_(1),
}

# Documented (README, "Layouts of a transposed input" and `memory_format=`): these give C order where torch keeps a
# channels-last input's layout (values equal; `.view` works on ours where torch's would refuse).
C_ORDER_WHERE_TORCH_KEEPS_CHANNELS_LAST = {"cat", "stack", "full_add"}
# ... and where torch takes the first operand's layout of a transposed one, ours is C order (NumPy's choice when
# the operands' layouts disagree)
MIXED_OPERAND_LAYOUTS = {"full_add"}


def _layout(t: Any, L: Any) -> tuple:
    cl = t.is_contiguous(memory_format=L.channels_last) if t.ndim == 4 else None
    return tuple(t.shape), t.is_contiguous(), cl


def test_op_results_have_torch_strides() -> None:
    """Every op on every layout: values, shape, ``is_contiguous()`` (both formats) and ``stride()``."""
    failures = []
    for layout, name in [(layout, name) for layout in LAYOUTS for name in OPS]:
        x, tx, f = LAYOUTS[layout](bp), LAYOUTS[layout](torch), OPS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (var of an empty tensor warns, in both)
            try:
                ty = f(torch, tx)
            except (RuntimeError, IndexError, ValueError):
                continue  # (an op this layout's shape does not take)
            y = f(bp, x)
        np.testing.assert_allclose(
            y.detach().double().numpy(),
            ty.detach().double().numpy(),
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"{name} of {layout}",
        )
        if name in MIXED_OPERAND_LAYOUTS and layout != "expanded":
            continue
        if name in C_ORDER_WHERE_TORCH_KEEPS_CHANNELS_LAST and layout == "channels_last":
            continue
        ours, theirs = _layout(y, bp), _layout(ty, torch)
        # the strides of size-1 and size-0 dims of a view are torch's own bookkeeping: compared only elsewhere
        if layout not in ("size1", "size0"):
            ours, theirs = (*ours, y.stride()), (*theirs, ty.stride())
        if ours != theirs:
            failures.append(f"{name} of {layout}: ours {ours}, torch {theirs}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("layout", ["transposed", "permuted3d", "channels_last"])
def test_reductions_are_contiguous_so_view_works(layout: str) -> None:
    """A reduction of a transposed input is C-ordered, as torch's: ``.view(-1)`` of it works."""
    x, tx = LAYOUTS[layout](bp), LAYOUTS[layout](torch)
    for dim in range(x.ndim):
        for kd in (False, True):
            y, ty = x.sum(dim, keepdim=kd), tx.sum(dim, keepdim=kd)
            assert y.is_contiguous() and ty.is_contiguous()
            assert y.stride() == ty.stride(), (dim, kd)
            np.testing.assert_allclose(y.view(-1).numpy(), ty.view(-1).numpy(), rtol=1e-5, atol=1e-6)
            assert x.amax(dim).stride() == tx.amax(dim).stride()
            assert x.var(dim, keepdim=kd).stride() == tx.var(dim, keepdim=kd).stride()


def test_conversion_of_an_expanded_tensor_is_contiguous() -> None:
    """``mask.expand(...).float().view(-1)``: torch's copy of a broadcast tensor is C-ordered."""
    m, tm = bp.tensor([True, False, True]).expand(4, 3), torch.tensor([True, False, True]).expand(4, 3)
    for f in (lambda t: t.float(), lambda t: t.long(), lambda t: t.float().nan_to_num()):
        y, ty = f(m), f(tm)
        assert y.stride() == ty.stride() == (3, 1)
        np.testing.assert_array_equal(y.view(-1).numpy(), ty.view(-1).numpy())


def test_tril_of_a_batched_transpose_is_contiguous() -> None:
    x, tx = bp.tensor(A3).permute(2, 0, 1), torch.tensor(A3).permute(2, 0, 1)
    for f in (lambda t: t.tril(), lambda t: t.triu(-1)):
        assert f(x).stride() == f(tx).stride()
        np.testing.assert_array_equal(f(x).view(-1).numpy(), f(tx).view(-1).numpy())


def test_fresh_results_report_torch_strides_for_size_1_and_size_0_dims() -> None:
    x, tx = bp.tensor(A2).t(), torch.tensor(A2).t()
    assert x.sum(-1, keepdim=True).stride() == tx.sum(-1, keepdim=True).stride() == (1, 1)
    assert x.mean(0, keepdim=True).stride() == tx.mean(0, keepdim=True).stride() == (4, 1)
    assert bp.zeros(3, 0).stride() == torch.zeros(3, 0).stride() == (1, 1)
    assert bp.zeros(3, 0).exp().stride() == torch.zeros(3, 0).exp().stride()
    assert bp.zeros(2, 0, 3).cumsum(0).stride() == torch.zeros(2, 0, 3).cumsum(0).stride()


GRAD_FNS: dict[str, Callable[[Any, Any], Any]] = {
    "sum": lambda L, x: x.sum(),
    "mean": lambda L, x: x.mean(),
    "mul": lambda L, x: (x * 2).sum(),
    "exp": lambda L, x: x.exp().sum(),
    "softmax": lambda L, x: (x.softmax(-1) * L.arange(x.shape[-1])).sum(),
    "reshape": lambda L, x: x.reshape(-1).sum(),
    "matmul": lambda L, x: (x @ x.transpose(-1, -2)).sum(),
    "sum_keepdim": lambda L, x: (x.sum(-1, keepdim=True) * x).sum(),
    "layer_norm": lambda L, x: (L.nn.functional.layer_norm(x, x.shape[-1:]) * L.arange(x.shape[-1])).sum(),
    "contiguous": lambda L, x: x.transpose(0, 1).contiguous().sum(),
    "cumsum": lambda L, x: x.cumsum(-1).sum(),
    "double": lambda L, x: x.double().sum(),
    "relu": lambda L, x: L.relu(x).sum(),
}


@pytest.mark.parametrize("layout", ["transposed", "permuted3d", "permuted4d", "channels_last"])
def test_leaf_grad_takes_the_leaf_layout(layout: str) -> None:
    """AccumulateGrad's contract: ``.grad`` of a dense leaf has the leaf's strides, else C order."""
    failures = []
    for name, f in GRAD_FNS.items():
        x = LAYOUTS[layout](bp).detach().requires_grad_()
        tx = LAYOUTS[layout](torch).detach().requires_grad_()
        f(bp, x).backward()
        f(torch, tx).backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
        if (x.grad.stride(), x.grad.is_contiguous()) != (tx.grad.stride(), tx.grad.is_contiguous()):
            failures.append(f"{name}: ours {x.grad.stride()}, torch {tx.grad.stride()}")
    assert not failures, "\n".join(failures)


def test_grad_layout_of_nn_layers() -> None:
    """Conv2d on a channels-last input, BatchNorm2d, LayerNorm, Linear, ReLU, Dropout (eval): the input's
    gradient has the input's layout; the parameters' gradients are C-ordered."""
    bp.manual_seed(0)
    torch.manual_seed(0)
    mods = []
    for L in (bp, torch):
        nn = L.nn
        conv = nn.Conv2d(3, 4, 3, padding=1)
        net = nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5)).eval()
        mods.append((net, nn.Sequential(nn.LayerNorm(5), nn.Linear(5, 2))))
    (net, head), (tnet, thead) = mods
    tnet.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in net.state_dict().items()})
    thead.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in head.state_dict().items()})
    x = LAYOUTS["channels_last"](bp).detach().requires_grad_()
    tx = LAYOUTS["channels_last"](torch).detach().requires_grad_()
    head(net(x)).square().sum().backward()
    thead(tnet(tx)).square().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    assert x.grad.stride() == tx.grad.stride() == (60, 1, 15, 3)
    assert x.grad.is_contiguous(memory_format=bp.channels_last)
    for p, tp in zip(
        list(net.parameters()) + list(head.parameters()), list(tnet.parameters()) + list(thead.parameters())
    ):
        assert p.grad.stride() == tp.grad.stride()
