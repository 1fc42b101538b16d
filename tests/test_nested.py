"""bp.nested against torch.nested: construction, sizes and reprs, the ops of torch's nested-tensor tutorials
(values, shapes, gradients to the values and to dense parameters) and torch's errors for what it refuses."""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as bF

torch = pytest.importorskip("torch")
LIBS = {"bp": (bp, bF), "torch": (torch, torch.nn.functional)}
RNG = np.random.default_rng(0)
VALUES = RNG.standard_normal((9, 8)).astype(np.float32)
OFFSETS = np.array([0, 2, 7, 9], dtype=np.int64)


def _norm(text: str) -> str:
    """Messages and reprs without the nested ints' numbers, torch's module prefix and object addresses."""
    text = re.sub(r"\bj\d+\b", "j", text.replace("torch.Size", "Size"))
    return re.sub(r" object at 0x[0-9a-f]+", "", text)


def _out(x: Any) -> Any:
    """A comparable form of a result: nested -> (shape text, offsets, values), tensors -> arrays."""
    if isinstance(x, (tuple, list)):
        return [_out(i) for i in x]
    if getattr(x, "is_nested", False):
        return ("nested", _norm(str(tuple(x.shape))), x.offsets().numpy(), x.values().detach().numpy())
    if hasattr(x, "detach"):
        return x.detach().numpy()
    return x


def _same(a: Any, b: Any, tol: float = 1e-5) -> None:
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y, tol)
    elif isinstance(a, tuple):
        assert a[:2] == b[:2]
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_allclose(a[3], b[3], rtol=tol, atol=tol)
        assert a[3].dtype == b[3].dtype
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    else:
        assert a == b


def _njt(lib: Any, values: np.ndarray = VALUES, offsets: np.ndarray = OFFSETS, grad: bool = True) -> tuple[Any, Any]:
    v = lib.tensor(values, requires_grad=grad)
    return v, lib.nested.nested_tensor_from_jagged(v, lib.tensor(offsets))


def _scalar(lib: Any, out: Any) -> Any:
    """A loss that weights every output element differently (so a wrong gradient cannot cancel out)."""
    dense = out.values() if out.is_nested else out
    w = np.random.default_rng(1).standard_normal(tuple(dense.shape)).astype(np.float32)
    return (dense * lib.tensor(w)).sum()


def _check(fn: Callable[[Any, Any, Any], Any], dense: Callable[..., Any] | None = None, tol: float = 1e-5) -> None:
    """``fn(lib, F, nt)`` in backprop and torch: same result; same gradient to the values, torch's or, where
    torch cannot differentiate it (or gets it wrong), that of ``dense(torch, F, values, sequences)``: the same
    computation on plain tensors, its result laid out as the nested result's values (or as its dense result)."""
    got = {}
    for name, (lib, F) in LIBS.items():
        v, nt = _njt(lib)
        out = fn(lib, F, nt)
        first = out[0] if isinstance(out, (tuple, list)) else out
        if name == "bp" or dense is None:
            _scalar(lib, first).backward()
        got[name] = (_out(out), None if v.grad is None else v.grad.numpy())
    _same(got["bp"][0], got["torch"][0], tol)
    if dense is not None:
        v = torch.tensor(VALUES, requires_grad=True)
        seqs = [v[a:b] for a, b in zip(OFFSETS[:-1], OFFSETS[1:], strict=True)]
        ref = dense(torch, torch.nn.functional, v, seqs)
        w = np.random.default_rng(1).standard_normal(tuple(ref.shape)).astype(np.float32)
        (ref * torch.tensor(w)).sum().backward()
        got["torch"] = (None, v.grad.numpy())
    np.testing.assert_allclose(got["bp"][1], got["torch"][1], rtol=tol, atol=tol)


def _raises(fn: Callable[[Any, Any, Any], Any]) -> None:
    """``fn`` raises the same class and (normalised) message in backprop as in torch."""
    caught = {}
    for name, (lib, F) in LIBS.items():
        _, nt = _njt(lib, grad=False)
        with pytest.raises(Exception) as info:  # noqa: PT011 - compared below
            fn(lib, F, nt)
        caught[name] = (type(info.value).__name__, _norm(str(info.value)))
    assert caught["bp"] == caught["torch"]


# ---------------------------------------------------------------- construction, sizes, repr
def test_construction_sizes_and_repr() -> None:
    """nested_tensor / as_nested_tensor / from_jagged: shapes (j ints), offsets, dims, reprs, nested ints."""
    parts = [VALUES[:2], VALUES[2:7], VALUES[7:]]
    for name, (lib, _) in LIBS.items():
        nt = lib.nested.nested_tensor([lib.tensor(p) for p in parts], layout=lib.jagged, requires_grad=True)
        assert _norm(str(tuple(nt.shape))) == "(3, j, 8)" and nt.dim() == 3 and nt.is_nested, name
        assert nt.is_leaf and nt.requires_grad and nt.layout is lib.jagged and nt.grad_fn is None
        assert nt.offsets().tolist() == OFFSETS.tolist() and nt.lengths() is None
        assert _norm(repr(nt)) == (
            "NestedTensor(size=(3, j, 8), offsets=tensor([0, 2, 7, 9]), requires_grad=True, contiguous=True)"
        )
        j = nt.size(1)
        assert not isinstance(j, int) and j == nt.shape[1] and nt.size(-1) == 8 and nt.size(0) == 3
        other = lib.nested.nested_tensor([lib.tensor(p) for p in parts], layout=lib.jagged)
        assert other.size(1) != j  # a fresh offsets tensor is a fresh ragged size
        assert nt.values().shape == (9, 8) and nt.values().grad_fn is not None
        assert nt.numel() == 72 and len(nt) == 3
        assert nt.is_floating_point() and not nt.is_complex() and nt.element_size() == 4 and nt.get_device() == -1
        assert nt.data.is_nested and not nt.data.requires_grad and nt.data.shape == nt.shape
        v = lib.tensor(VALUES, requires_grad=True)
        view = lib.nested.nested_tensor_from_jagged(v, lib.tensor(OFFSETS))
        assert (
            not view.is_leaf
            and view.requires_grad
            and _norm(repr(view * 2))
            == ("NestedTensor(size=(3, j, 8), offsets=tensor([0, 2, 7, 9]), grad_fn=<MulBackward0>, contiguous=True)")
        )
        keep = lib.nested.as_nested_tensor([lib.tensor(p, requires_grad=True) for p in parts], layout=lib.jagged)
        assert keep.grad_fn is not None and not keep.is_leaf
        d64 = lib.nested.nested_tensor([p.tolist() for p in parts], layout=lib.jagged, dtype=lib.float64)
        assert d64.dtype == lib.float64 and d64.values().dtype == lib.float64
        holes = lib.nested.nested_tensor_from_jagged(
            lib.tensor(VALUES), lib.tensor(OFFSETS), lengths=lib.tensor([1, 3, 2])
        )
        assert "contiguous=False" in repr(holes) and [t.shape[0] for t in holes.unbind()] == [1, 3, 2]


def test_narrow_and_padding() -> None:
    """nested.narrow (holes: offsets, lengths, unbind), to_padded_tensor with padding and output_size."""
    dense = RNG.standard_normal((3, 6, 2)).astype(np.float32)
    res = {}
    for name, (lib, _) in LIBS.items():
        n = lib.nested.narrow(lib.tensor(dense), 1, lib.tensor([0, 1, 2]), lib.tensor([3, 2, 4]), layout=lib.jagged)
        _, nt = _njt(lib, grad=False)
        res[name] = (
            _norm(str(tuple(n.shape))),
            n.offsets().tolist(),
            n.lengths().tolist(),
            [t.numpy() for t in n.unbind()],
            nt.to_padded_tensor(-1.0).numpy(),
            lib.nested.to_padded_tensor(nt, 0.5, output_size=(3, 6, 9)).numpy(),
        )
    b, t = res["bp"], res["torch"]
    assert b[:3] == t[:3]
    for x, y in zip(b[3] + [b[4], b[5]], t[3] + [t[4], t[5]], strict=True):
        np.testing.assert_array_equal(x, y)
    _, nt = _njt(bp, grad=False)
    assert nt.to_padded_tensor(0.0).shape == (3, 9, 8)  # (torch: no max_seqlen given, the total length)
    assert (
        bp.nested.nested_tensor_from_jagged(nt.values(), nt.offsets(), max_seqlen=5).to_padded_tensor(0).shape[1] == 5
    )


# ---------------------------------------------------------------- ops: values and gradients against torch
_PER_SEQ = {  # torch 2.13 cannot differentiate these nested ops (or, softmax over j, gets it wrong): references
    "sum(-1)": (lambda lib, F, nt: nt.sum(-1), lambda t, F, v, s: v.sum(-1)),
    "sum(1)": (lambda lib, F, nt: nt.sum(1), lambda t, F, v, s: t.stack([x.sum(0) for x in s])),
    "mean(1)": (lambda lib, F, nt: nt.mean(1), lambda t, F, v, s: t.stack([x.mean(0) for x in s])),
    "sum(0,1)": (lambda lib, F, nt: nt.sum((0, 1)), lambda t, F, v, s: v.sum(0)),
    "softmax(1)": (lambda lib, F, nt: F.softmax(nt, dim=1), lambda t, F, v, s: t.cat([x.softmax(0) for x in s])),
    "softmax(2)": (
        lambda lib, F, nt: nt.unflatten(-1, (2, 4)).softmax(2),
        lambda t, F, v, s: v.unflatten(-1, (2, 4)).softmax(1),
    ),
    "max(1)": (lambda lib, F, nt: nt.max(1), lambda t, F, v, s: t.stack([x.max(0).values for x in s])),
    "select": (
        lambda lib, F, nt: nt[..., 1:7:2].unsqueeze(-1).squeeze(-1) + nt.select(2, 0).unsqueeze(-1),
        lambda t, F, v, s: v[..., 1:7:2] + v[:, 0:1],
    ),
    "narrow.split": (
        lambda lib, F, nt: list(nt.narrow(-1, 2, 3).split(2, -1)),
        lambda t, F, v, s: v[:, 2:4],
    ),
    "prod.arg.any.all": (
        lambda lib, F, nt: (nt.prod(-1), nt.argmax(-1), nt.argmin(1), (nt > 0).any(-1), (nt > -3).all()),
        lambda t, F, v, s: v.prod(-1),
    ),
    "log_softmax(-1)": (
        lambda lib, F, nt: F.log_softmax(nt, -1) + lib.ones_like(nt),
        lambda t, F, v, s: F.log_softmax(v, -1) + 1,
    ),
    "heads.sum(-1)": (  # (B, H, j) with values (H, total)
        lambda lib, F, nt: nt.unflatten(-1, (2, 4)).transpose(1, 2).sum(-1),
        lambda t, F, v, s: v.unflatten(-1, (2, 4)).sum(-1).t(),
    ),
    "heads.padded": (
        lambda lib, F, nt: nt.unflatten(-1, (2, 4)).transpose(1, 2).to_padded_tensor(0.0, output_size=(3, 2, 6, 4)),
        lambda t, F, v, s: t.stack([F.pad(x, (0, 0, 0, 6 - len(x))) for x in s]).unflatten(-1, (2, 4)).transpose(1, 2),
    ),
}


@pytest.mark.parametrize("case", list(_PER_SEQ))
def test_op_matches_torch_per_sequence_grad(case: str) -> None:
    """Values as torch's; gradients as torch's on the same computation written per sequence."""
    fn, dense = _PER_SEQ[case]
    _check(fn, dense)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, F, nt: nt.sin().exp() * 2 - 1,
        lambda lib, F, nt: F.gelu(F.relu(nt) + nt.abs()) / (nt * nt + 1),
        lambda lib, F, nt: nt + lib.tensor(np.arange(8, dtype=np.float32)),  # dense over the ragged dim
        lambda lib, F, nt: nt * lib.tensor(np.ones((3, 1, 8), np.float32) * np.arange(3)[:, None, None]),
        lambda lib, F, nt: lib.where(nt > 0, nt, nt * 0.1),
        lambda lib, F, nt: nt.mean(-1, keepdim=True),
        lambda lib, F, nt: nt.amax(-1),
        lambda lib, F, nt: nt.sum(),
        lambda lib, F, nt: nt.softmax(-1),
        lambda lib, F, nt: F.layer_norm(nt, (8,), lib.linspace(0.5, 1.5, 8), lib.linspace(-1, 1, 8)),
        lambda lib, F, nt: nt.matmul(lib.linspace(-1, 1, 40).reshape(8, 5)),
        lambda lib, F, nt: nt.bmm(lib.linspace(-1, 1, 72).reshape(3, 8, 3)),
        lambda lib, F, nt: nt.unflatten(-1, (2, 4)).transpose(1, 2).transpose(1, 2).flatten(-2),
        lambda lib, F, nt: nt.view(3, -1, 2, 4).reshape(3, -1, 8),
        lambda lib, F, nt: F.scaled_dot_product_attention(*[nt.unflatten(-1, (2, 4))] * 3),  # over the heads
        lambda lib, F, nt: nt.unsqueeze(-1).permute(0, 1, 3, 2),
        lambda lib, F, nt: lib.cat([nt, nt * 2], dim=-1),
        lambda lib, F, nt: list(nt.unbind()),
        lambda lib, F, nt: nt[1],
        lambda lib, F, nt: list(nt.chunk(2, -1)),
        lambda lib, F, nt: nt.max(-1),
        lambda lib, F, nt: F.rms_norm(nt, (8,), lib.linspace(0.5, 1.5, 8)),
        lambda lib, F, nt: F.embedding(
            lib.nested.nested_tensor_from_jagged(lib.tensor([1, 2, 3, 0, 1]), lib.tensor([0, 2, 5])), nt.values()
        ),
        lambda lib, F, nt: nt.clone() + nt.detach(),
        lambda lib, F, nt: nt.to(lib.float64) * 3,
        lambda lib, F, nt: (1 - nt) / (2**nt + 1) + nt**2,  # reflected operators
        lambda lib, F, nt: (nt * 1).add_(1).mul_(lib.zeros_like(nt) + 2),  # in place on a non-leaf
    ],
)
def test_op_matches_torch(fn: Callable[[Any, Any, Any], Any]) -> None:
    """Each op's nested result (shape, offsets, values, dtype) and the gradient to the values equal torch's."""
    _check(fn)


def _block(lib: Any, seed: int = 0) -> Any:
    """The tutorial's MultiHeadAttention (in-projections, SDPA, out-projection), same weights in both (torch's CPU
    kernel refuses the packed projection's chunks: not contiguous after the transpose)."""
    nn, F = lib.nn, lib.nn.functional

    class MultiHeadAttention(nn.Module):
        def __init__(self, e: int, heads: int) -> None:
            super().__init__()
            self.heads, self.head = heads, e // heads
            self.q_proj, self.k_proj, self.v_proj = nn.Linear(e, e), nn.Linear(e, e), nn.Linear(e, e)
            self.out_proj = nn.Linear(e, e)
            self.norm = nn.LayerNorm(e)

        def forward(self, x: Any) -> Any:
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
            q, k, v = (t.unflatten(-1, [self.heads, self.head]).transpose(1, 2) for t in (q, k, v))
            out = F.scaled_dot_product_attention(q, k, v)
            return self.norm(self.out_proj(out.transpose(1, 2).flatten(-2)) + x)

    m = MultiHeadAttention(8, 2)
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for p in m.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    return m


@pytest.mark.filterwarnings("ignore::UserWarning")  # (torch's math kernel makes strided nested tensors)
def test_tutorial_attention_block() -> None:
    """The tutorial's MHA block on a jagged batch: output, gradients to the values and to every parameter."""
    res = {}
    for name, (lib, _) in LIBS.items():
        m = _block(lib)
        v, nt = _njt(lib)
        out = m(nt)
        _scalar(lib, out).backward()
        res[name] = (_out(out), v.grad.numpy(), [p.grad.numpy() for p in m.parameters()])
    _same(res["bp"][0], res["torch"][0], 1e-4)
    np.testing.assert_allclose(res["bp"][1], res["torch"][1], rtol=1e-4, atol=1e-4)
    for g, h in zip(res["bp"][2], res["torch"][2], strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-4)


def test_sdpa_is_per_sequence_attention() -> None:
    """Nested SDPA equals dense attention on each sequence alone, and torch's dense SDPA on the padded batch with
    the padded keys masked out (on the valid query rows)."""
    _, nt = _njt(bp, grad=False)
    q = nt.unflatten(-1, (2, 4)).transpose(1, 2)
    out = bF.scaled_dot_product_attention(q, q * 0.5, q + 1)
    for seq, got in zip(q.unbind(), out.unbind(), strict=True):
        ref = bF.scaled_dot_product_attention(seq, seq * 0.5, seq + 1)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    padded = torch.tensor(q.to_padded_tensor(0.0, output_size=(3, 2, 5, 4)).numpy())
    lengths = np.diff(OFFSETS)
    valid = torch.tensor(np.arange(5)[None, :] < lengths[:, None])
    ref = torch.nn.functional.scaled_dot_product_attention(
        padded, padded * 0.5, padded + 1, attn_mask=valid[:, None, None, :]
    )
    got = out.to_padded_tensor(0.0, output_size=(3, 2, 5, 4)).numpy()
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(got[b, :, :n], ref[b, :, :n].numpy(), rtol=1e-5, atol=1e-6)


def test_empty_sequence() -> None:
    """A zero-length sequence: sums (0), means (NaN), maxima (-inf), softmax, padding and attention as torch's."""
    offsets = np.array([0, 2, 2, 5])
    res = {}
    for name, (lib, F) in LIBS.items():
        _, nt = _njt(lib, VALUES[:5], offsets, grad=False)
        h = nt.unflatten(-1, (2, 4)).transpose(1, 2)
        outs = [nt.sum(1), nt.mean(1), nt.amax(1), nt.softmax(1), nt.to_padded_tensor(-1.0), nt.unbind()[1]]
        res[name] = _out([*outs, F.scaled_dot_product_attention(h, h, h)])
    _same(res["bp"], res["torch"])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_training_steps_match_torch() -> None:
    """Three SGD steps of the attention block on jagged batches: the same parameters as torch's after each."""
    res = {}
    for name, (lib, _) in LIBS.items():
        m = _block(lib, seed=3)
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for step in range(3):
            offsets = np.array([0, 1 + step, 7, 9])
            _, nt = _njt(lib, VALUES, offsets, grad=False)
            opt.zero_grad()
            _scalar(lib, m(nt)).backward()
            opt.step()
        res[name] = [p.detach().numpy() for p in m.parameters()]
    for a, b in zip(res["bp"], res["torch"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_cross_attention_and_deepcopy() -> None:
    """SDPA with keys of other lengths than the queries: values and both gradients as torch's; deepcopy."""
    q, k = VALUES[:5], RNG.standard_normal((7, 8)).astype(np.float32)
    res = {}
    for name, (lib, F) in LIBS.items():
        qv, kv = lib.tensor(q, requires_grad=True), lib.tensor(k, requires_grad=True)
        qn = lib.nested.nested_tensor_from_jagged(qv, lib.tensor([0, 2, 5])).unflatten(-1, (2, 4)).transpose(1, 2)
        kn = lib.nested.nested_tensor_from_jagged(kv, lib.tensor([0, 4, 7])).unflatten(-1, (2, 4)).transpose(1, 2)
        out = F.scaled_dot_product_attention(qn, kn, kn * 2).transpose(1, 2)
        _scalar(lib, out).backward()
        res[name] = (_out(out), qv.grad.numpy(), kv.grad.numpy())
    _same(res["bp"][0], res["torch"][0])
    for a, b in zip(res["bp"][1:], res["torch"][1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    _, nt = _njt(bp, grad=False)
    twin = copy.deepcopy(nt)
    assert twin.values() is not nt.values() and _out(twin)[1:2] == _out(nt)[1:2]
    np.testing.assert_array_equal(twin.values().numpy(), VALUES)


def test_autograd_grad_of_nested() -> None:
    """autograd.grad w.r.t. a nested leaf is nested; create_graph gives its second derivative (as torch's)."""
    res = {}
    for name, (lib, _) in LIBS.items():
        x = lib.nested.nested_tensor([lib.tensor(VALUES[:2]), lib.tensor(VALUES[2:5])], layout=lib.jagged)
        x.requires_grad_()
        (g,) = lib.autograd.grad((x * x * x).values().sum(), [x], create_graph=True)
        (gg,) = lib.autograd.grad(g.values().sum(), x)
        res[name] = [_out(g), _out(gg)]
    _same(res["bp"], res["torch"])


def test_leaf_grad_is_nested() -> None:
    """A nested_tensor(requires_grad=True) leaf gets a nested .grad with torch's values."""
    res = {}
    for name, (lib, F) in LIBS.items():
        nt = lib.nested.nested_tensor(
            [lib.tensor(VALUES[:2]), lib.tensor(VALUES[2:])], layout=lib.jagged, requires_grad=True
        )
        _scalar(lib, F.linear(nt, lib.linspace(-1, 1, 16).reshape(2, 8)).softmax(-1)).backward()
        res[name] = _out(nt.grad)
    _same(res["bp"], res["torch"])


def test_compile_runs_nested_steps_eagerly() -> None:
    """bp.compile: a step given or making nested tensors runs eagerly (a record would bake in the offsets)."""
    lin = bp.nn.Linear(8, 3)

    def given(nt: Any) -> Any:
        return bF.relu(lin(nt)).values().sum()

    def making(v: Any, offsets: Any) -> Any:  # (offsets of one shape, other contents: one guard key)
        return bp.nested.nested_tensor_from_jagged(v, offsets).sum(1).pow(2).sum()

    stepped, made = bp.compile(given), bp.compile(making)
    with pytest.warns(RuntimeWarning, match="nested tensors are not recorded"):
        stepped(_njt(bp)[1])
    v = bp.tensor(VALUES)
    for n in (2, 2, 4, 4, 6):
        offsets = bp.tensor([0, n, 9])
        _, nt = _njt(bp, VALUES, np.array([0, n, 9]))
        assert stepped(nt).item() == given(nt).item()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert made(v, offsets).item() == making(v, offsets).item()


# ---------------------------------------------------------------- torch's errors
@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, F, nt: nt.size(3),
        lambda lib, F, nt: nt + lib.nested.nested_tensor_from_jagged(nt.values(), nt.offsets().clone()),
        lambda lib, F, nt: nt.sum(0),
        lambda lib, F, nt: nt.sum((1, 2)),
        lambda lib, F, nt: nt.softmax(0),
        lambda lib, F, nt: nt + lib.ones(4, 1, 8),
        lambda lib, F, nt: nt + lib.ones(1, 3, 5, 8),
        lambda lib, F, nt: nt.view(3, -1),
        lambda lib, F, nt: nt.transpose(0, 1),
        lambda lib, F, nt: lib.cat([nt, nt], dim=0),
        lambda lib, F, nt: lib.stack([nt, nt]),
        lambda lib, F, nt: lib.cumsum(nt, 0),
        lambda lib, F, nt: nt.sort(),
        lambda lib, F, nt: nt.squeeze(),
        lambda lib, F, nt: nt.unbind(1),
        lambda lib, F, nt: nt.unsqueeze(0),
        lambda lib, F, nt: nt.numpy(),
        lambda lib, F, nt: nt.tolist(),
        lambda lib, F, nt: nt.item(),
        lambda lib, F, nt: nt @ nt.transpose(1, 2),
        lambda lib, F, nt: F.linear(nt.unflatten(-1, (2, 4)).transpose(1, 2), lib.ones(3, 4)),
        lambda lib, F, nt: F.layer_norm(nt, (3, 8)),
        lambda lib, F, nt: F.layer_norm(nt.sum(-1), (3,)),
        lambda lib, F, nt: F.scaled_dot_product_attention(
            *[nt.unflatten(-1, (2, 4)).transpose(1, 2)] * 3, **{"attn_mask": lib.ones(2, 2, dtype=lib.bool)}
        ),
        lambda lib, F, nt: lib.nested.to_padded_tensor(
            lib.nested.nested_tensor_from_jagged(nt.values(), nt.offsets(), lengths=lib.tensor([1, 1, 1])), 0.0
        ),
        lambda lib, F, nt: lib.nested.nested_tensor([], layout=lib.jagged),
        lambda lib, F, nt: nt[:, 0],
        lambda lib, F, nt: nt[:, :, :2],
        lambda lib, F, nt: nt.to_dense(),
        lambda lib, F, nt: bool(nt),
        lambda lib, F, nt: nt.clone().abs_(),
        lambda lib, F, nt: nt[:, ..., 3],
        lambda lib, F, nt: lib.nn.MultiheadAttention(8, 2, batch_first=True)(nt, nt, nt),
        lambda lib, F, nt: lib.nn.MultiheadAttention(8, 2).eval()(nt, nt, nt),
        lambda lib, F, nt: lib.nn.MultiheadAttention(8, 2, batch_first=True).eval()(nt, nt, nt),
        lambda lib, F, nt: nt @ lib.ones(8),
        lambda lib, F, nt: F.scaled_dot_product_attention(nt, lib.ones(3, 2, 8), lib.ones(3, 2, 8)),
        lambda lib, F, nt: F.scaled_dot_product_attention(nt, nt.unsqueeze(-1).transpose(1, 2), nt),
        lambda lib, F, nt: nt.new_ones((2,)),
        lambda lib, F, nt: (
            nt.detach()
            .requires_grad_()
            .sin()
            .backward(lib.nested.nested_tensor_from_jagged(nt.values(), nt.offsets().clone()))
        ),
        lambda lib, F, nt: lib.nested.nested_tensor([lib.ones(2, 3), lib.ones(3)], layout=lib.jagged),
        lambda lib, F, nt: lib.nested.nested_tensor([lib.ones(2, 3), lib.ones(3, 4)], layout=lib.jagged),
    ],
)
def test_errors_match_torch(fn: Callable[[Any, Any, Any], Any]) -> None:
    """What torch's nested tensors refuse raises the same class with the same message here."""
    _raises(fn)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_docstring_examples() -> None:
    """torch.nested's docstring examples: masked_select (a broadcast mask too), a strided as_nested_tensor's
    backward to its components."""
    tensor = RNG.standard_normal((3, 3)).astype(np.float32)
    mask = np.array([[False, False, True], [True, False, True], [False, False, True]])
    res = {}
    for name, (lib, _) in LIBS.items():
        nt = lib.nested.masked_select(lib.tensor(tensor), lib.tensor(mask))
        wide = lib.nested.masked_select(lib.tensor(VALUES[:6, :5]), lib.tensor([False]))
        a = lib.arange(3, dtype=lib.float32, requires_grad=True)
        b = lib.arange(5, dtype=lib.float32, requires_grad=True)
        joined = lib.nested.as_nested_tensor([a, b])
        joined.backward(lib.nested.nested_tensor([lib.ones_like(a), lib.zeros_like(b)]))
        res[name] = [_out(nt), _norm(str(tuple(wide.shape))), wide.offsets().numpy(), a.grad.numpy(), b.grad.numpy()]
        res[name].append(joined.is_leaf)
    _same(res["bp"], res["torch"])


# ---------------------------------------------------------------- the strided layout
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_strided_nested_tensor() -> None:
    """The default (strided) nested_tensor: repr, irregular sizes, pointwise ops, padding and its errors."""
    parts = [VALUES[:2], VALUES[2:7]]
    res: dict[str, list[Any]] = {}
    for name, (lib, F) in LIBS.items():
        s = lib.nested.nested_tensor([lib.tensor(p) for p in parts])
        row: list[Any] = [_norm(repr(s)), str(s.layout).replace("torch.", ""), s.dim(), s.size(0), s.size(2)]
        for bad in ("s.size(1)", "s.size()", "s + lib.ones(8)", "s.offsets()"):
            with pytest.raises(Exception) as info:  # noqa: PT011 - compared below
                eval(bad, {"s": s, "lib": lib})
            row.append((type(info.value).__name__, str(info.value)))
        out = F.linear(F.relu(s) * 2 + 1, lib.linspace(-1, 1, 24).reshape(3, 8)).softmax(-1)
        row += [out.to_padded_tensor(0.0).numpy(), [t.numpy() for t in out.unbind()]]
        res[name] = row
    b, t = res["bp"], res["torch"]
    assert b[:9] == t[:9]
    np.testing.assert_allclose(b[9], t[9], rtol=1e-5, atol=1e-6)
    for x, y in zip(b[10], t[10], strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
