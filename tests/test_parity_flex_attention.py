"""backprop.nn.attention.flex_attention against torch.nn.attention.flex_attention.

Forward outputs and logsumexp are compared with torch's own ``flex_attention`` (its eager math path: torch runs no
backward on CPU); gradients of q, k, v and of captured tensors with torch autograd through a dense torch reference
whose forward is itself checked against torch's ``flex_attention``. BlockMask layouts are compared field by field
with torch's. Closed-form checks (against ``F.scaled_dot_product_attention`` and direct formulas) run without torch.
"""

from __future__ import annotations

import importlib
import math
import typing
import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop.nn.attention import flex_attention as bfa
from backprop.nn.attention.flex_attention import (
    AuxOutput,
    AuxRequest,
    BlockMask,
    and_masks,
    create_block_mask,
    create_mask,
    flex_attention,
    noop_mask,
    or_masks,
)

try:
    import torch
    import torch.nn.attention.flex_attention as tfa
except ImportError:  # the torch comparisons skip; the closed-form checks still run
    torch = None
    tfa = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")

TOL = {"float64": dict(rtol=1e-10, atol=1e-11), "float32": dict(rtol=2e-5, atol=2e-5)}


@pytest.fixture(autouse=True)
def _torch_eager_flex(monkeypatch):
    """torch's flex_attention without torch.compile (its math path, the same numbers, much faster to start)."""
    if tfa is not None:
        monkeypatch.setattr(tfa, "_FLEX_ATTENTION_DISABLE_COMPILE_DEBUG", True)
    warnings.filterwarnings("ignore", message="return_lse is deprecated")


# ---------------------------------------------------------------- the cases: mods written once for both libraries
DOC_IDS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3])  # 11 tokens in 4 documents


def _causal(b, h, q, kv):
    return q >= kv


def _make_case(lib, name, H, dtype, bias_np=None):
    """(score_mod, mask_mod, captured tensors to differentiate) for library ``lib`` (torch or backprop)."""
    captured = []
    score_mod = mask_mod = None
    if name == "none":
        pass
    elif name == "causal":
        mask_mod = _causal
    elif name == "rel_pos":

        def score_mod(s, b, h, q, kv):
            return s + (q - kv) * 0.25

    elif name == "alibi":
        bias = lib.tensor(bias_np, dtype=dtype, requires_grad=True)
        captured.append(bias)

        def score_mod(s, b, h, q, kv):
            return s + bias[h] * (kv - q)

    elif name == "sliding_causal":
        window = 3

        def _window(b, h, q, kv):
            return q - kv <= window

        mask_mod = and_masks(_causal, _window) if lib is bp else tfa.and_masks(_causal, _window)
    elif name == "document":
        docs = lib.tensor(DOC_IDS)

        def _same_doc(b, h, q, kv):
            return docs[q] == docs[kv]

        mask_mod = and_masks(_causal, _same_doc) if lib is bp else tfa.and_masks(_causal, _same_doc)
    elif name == "document_bias":  # a captured table indexed by document, differentiated
        docs = lib.tensor(DOC_IDS)
        table = lib.tensor(bias_np[:4], dtype=dtype, requires_grad=True)
        captured.append(table)

        def score_mod(s, b, h, q, kv):
            return s + table[docs[kv]]

        def mask_mod(b, h, q, kv):
            return docs[q] == docs[kv]

    elif name == "fully_masked_row":

        def mask_mod(b, h, q, kv):
            return (q != 2) & (kv <= q + 4)

    elif name == "score_mod_masks":  # -inf from score_mod itself, a whole row included

        def score_mod(s, b, h, q, kv):
            return lib.where((q >= kv) & (q != 1), s, -math.inf)

    elif name == "per_batch_head":

        def mask_mod(b, h, q, kv):
            return (b + h + q + kv) % 3 != 0

    else:
        raise AssertionError(name)
    return score_mod, mask_mod, captured


# name: (B, Hq, Hkv, L, S, E, Ev, block_size, gqa)
CASES = {
    "none": (2, 2, 2, 5, 7, 4, 3, 128, False),
    "causal": (1, 2, 2, 9, 9, 4, 4, 4, False),
    "rel_pos": (2, 3, 3, 6, 10, 5, 2, 128, False),
    "alibi": (2, 4, 4, 7, 7, 3, 3, 2, False),
    "sliding_causal": (1, 2, 2, 11, 11, 4, 5, 4, False),
    "document": (2, 2, 2, 11, 11, 3, 4, 4, False),
    "document_bias": (1, 2, 2, 11, 11, 4, 3, 8, False),
    "fully_masked_row": (2, 2, 2, 5, 9, 3, 2, 2, False),
    "score_mod_masks": (1, 2, 2, 6, 6, 4, 4, 128, False),
    "per_batch_head": (2, 3, 3, 7, 5, 4, 2, 2, False),
    "gqa": (2, 4, 2, 5, 6, 4, 3, 128, True),
    "gqa_alibi_causal": (1, 6, 2, 13, 13, 4, 4, 4, True),
    "odd_cross": (1, 1, 1, 130, 131, 8, 8, 128, False),
}
DEAD_ROWS = {"fully_masked_row", "score_mod_masks"}


def _inputs(name, dtype, seed=0):
    B, Hq, Hkv, L, S, E, Ev, _, _ = CASES[name]
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    q = rng.standard_normal((B, Hq, L, E))
    k = rng.standard_normal((B, Hkv, S, E))
    v = rng.standard_normal((B, Hkv, S, Ev))
    bias = rng.standard_normal(max(Hq, 4)) * 0.5
    gout = rng.standard_normal((B, Hq, L, Ev))
    glse = rng.standard_normal((B, Hq, L))
    return [a.astype(dtype) for a in (q, k, v, bias, gout, glse)]


def _mods(lib, name, dtype, bias):
    base = {"gqa": "none", "gqa_alibi_causal": "alibi", "odd_cross": "rel_pos"}.get(name, name)
    H = CASES[name][1]
    score_mod, mask_mod, captured = _make_case(lib, base, H, dtype, bias)
    if name == "gqa_alibi_causal":
        mask_mod = _causal
    return score_mod, mask_mod, captured


def _bp_run(name, dtype):
    qn, kn, vn, bias, gout, glse = _inputs(name, dtype)
    B, Hq, _, L, S, _, _, block, gqa = CASES[name]
    score_mod, mask_mod, captured = _mods(bp, name, getattr(bp, dtype), bias)
    q, k, v = (bp.tensor(a, requires_grad=True) for a in (qn, kn, vn))
    bm = create_block_mask(mask_mod, B, Hq, L, S, device="cpu", BLOCK_SIZE=block) if mask_mod else None
    out, lse = flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, enable_gqa=gqa, return_lse=True)
    live = np.isfinite(lse.detach().numpy())
    loss = (out * bp.tensor(gout)).sum() + (bp.where(bp.tensor(live), lse, 0.0) * bp.tensor(glse * live)).sum()
    loss.backward()
    grads = [t.grad.numpy() for t in (q, k, v, *captured)]
    return out.detach().numpy(), lse.detach().numpy(), grads


def _torch_reference(q, k, v, score_mod, mask_mod, scale, gqa):
    """Dense torch math (torch autograd), index tensors broadcast as backprop passes them."""
    if gqa:
        k = k.repeat_interleave(q.size(1) // k.size(1), dim=1)
        v = v.repeat_interleave(q.size(1) // v.size(1), dim=1)
    s = q @ k.transpose(-2, -1) * scale
    B, H, L, S = s.shape
    idx = (
        torch.arange(B).view(B, 1, 1, 1),
        torch.arange(H).view(1, H, 1, 1),
        torch.arange(L).view(1, 1, L, 1),
        torch.arange(S).view(1, 1, 1, S),
    )
    if score_mod is not None:
        s = score_mod(s, *idx).expand(B, H, L, S)
    if mask_mod is not None:
        s = torch.where(mask_mod(*idx), s, -math.inf)
    dead = torch.isneginf(s).all(-1, keepdim=True)
    s = torch.where(dead, 0.0, s)
    lse = torch.where(dead.squeeze(-1), -math.inf, s.logsumexp(-1))
    w = torch.where(dead, 0.0, s.softmax(-1))
    return w @ v, lse


def _torch_run(name, dtype):
    qn, kn, vn, bias, gout, glse = _inputs(name, dtype)
    B, Hq, _, L, S, E, _, block, gqa = CASES[name]
    score_mod, mask_mod, captured = _mods(torch, name, getattr(torch, dtype), bias)
    q, k, v = (torch.tensor(a) for a in (qn, kn, vn))
    # torch's own flex_attention: the forward (it refuses requires_grad inputs on CPU)
    bm = tfa.create_block_mask(mask_mod, B, Hq, L, S, device="cpu", BLOCK_SIZE=block) if mask_mod else None
    with torch.no_grad():
        t_out, t_lse = tfa.flex_attention(q, k, v, score_mod=score_mod, block_mask=bm, enable_gqa=gqa, return_lse=True)
    # the dense reference: its forward must equal torch's, its gradients are the ones compared
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    r_out, r_lse = _torch_reference(q, k, v, score_mod, mask_mod, 1 / math.sqrt(E), gqa)
    np.testing.assert_allclose(r_out.detach().numpy(), t_out.numpy(), **TOL[dtype])
    np.testing.assert_allclose(r_lse.detach().numpy(), t_lse.numpy(), **TOL[dtype])
    live = torch.isfinite(r_lse.detach())
    loss = (r_out * torch.tensor(gout)).sum() + (torch.where(live, r_lse, 0.0) * torch.tensor(glse) * live).sum()
    loss.backward()
    grads = [t.grad.numpy() for t in (q, k, v, *captured)]
    return t_out.numpy(), t_lse.numpy(), grads


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name, dtype):
    out, lse, grads = _bp_run(name, dtype)
    t_out, t_lse, t_grads = _torch_run(name, dtype)
    assert out.dtype == t_out.dtype and lse.dtype == t_lse.dtype
    np.testing.assert_allclose(out, t_out, **TOL[dtype])
    np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(t_lse))
    np.testing.assert_allclose(lse, t_lse, **TOL[dtype])
    assert len(grads) == len(t_grads)
    for g, tg in zip(grads, t_grads):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, tg, **TOL[dtype])
    if name in DEAD_ROWS:  # a row with nothing to attend: output 0, lse -inf, torch's and ours
        assert np.isneginf(lse).any()
        assert (out[np.isneginf(lse)] == 0).all()
        assert (grads[0][np.isneginf(lse)] == 0).all()


@needs_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_inputs_compute_in_float32(dtype):
    qn, kn, vn, *_ = _inputs("alibi", "float32")
    H = CASES["alibi"][1]
    bias = np.linspace(-1, 1, H).astype(np.float32)
    bq, bk, bv = (bp.tensor(a).to(getattr(bp, dtype)) for a in (qn, kn, vn))
    tq, tk, tv = (torch.tensor(a).to(getattr(torch, dtype)) for a in (qn, kn, vn))
    bbias, tbias = bp.tensor(bias), torch.tensor(bias)
    out, lse = flex_attention(bq, bk, bv, score_mod=lambda s, b, h, q, kv: s + bbias[h], return_lse=True)
    t_out, t_lse = tfa.flex_attention(tq, tk, tv, score_mod=lambda s, b, h, q, kv: s + tbias[h], return_lse=True)
    assert str(out.dtype) == str(t_out.dtype).replace("torch.", "") and lse.dtype == bp.float32
    assert t_lse.dtype == torch.float32
    np.testing.assert_allclose(out.float().numpy(), t_out.float().numpy(), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(lse.numpy(), t_lse.numpy(), rtol=1e-5, atol=1e-5)


@needs_torch
def test_scale_and_return_aux_match_torch():
    qn, kn, vn, *_ = _inputs("rel_pos", "float64")
    bq, bk, bv = (bp.tensor(a) for a in (qn, kn, vn))
    tq, tk, tv = (torch.tensor(a) for a in (qn, kn, vn))
    out, aux = flex_attention(bq, bk, bv, scale=0.3, return_aux=AuxRequest(lse=True))
    t_out, t_aux = tfa.flex_attention(tq, tk, tv, scale=0.3, return_aux=tfa.AuxRequest(lse=True))
    assert isinstance(aux, AuxOutput) and aux.max_scores is None and t_aux.max_scores is None
    np.testing.assert_allclose(out.numpy(), t_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(aux.lse.numpy(), t_aux.lse.numpy(), rtol=1e-12)
    plain = flex_attention(bq, bk, bv, scale=0.3)
    assert isinstance(plain, bp.Tensor)
    np.testing.assert_allclose(plain.numpy(), tfa.flex_attention(tq, tk, tv, scale=0.3).numpy(), rtol=1e-12)


@needs_torch
def test_batch_broadcast_kv_with_block_mask_matches_torch():
    rng = np.random.default_rng(3)
    qn, kn, vn = rng.standard_normal((3, 2, 6, 4)), rng.standard_normal((1, 2, 6, 4)), rng.standard_normal((1, 2, 6, 4))

    def mm(b, h, q, kv):
        return kv <= q + b

    out = flex_attention(*(bp.tensor(a) for a in (qn, kn, vn)), block_mask=create_block_mask(mm, 3, 2, 6, 6, "cpu"))
    t_out = tfa.flex_attention(
        *(torch.tensor(a) for a in (qn, kn, vn)), block_mask=tfa.create_block_mask(mm, 3, 2, 6, 6, "cpu")
    )
    np.testing.assert_allclose(out.numpy(), t_out.numpy(), rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------- BlockMask layouts against torch's
LAYOUT_MASKS = {
    "causal": _causal,
    "sliding": lambda b, h, q, kv: (q >= kv) & (q - kv <= 5),
    "per_batch_head": lambda b, h, q, kv: (b + h + q // 3 + kv // 2) % 3 != 0,
    "prefix_lm": lambda b, h, q, kv: (kv < 4) | (q >= kv),
    "none": lambda b, h, q, kv: q < 0,
}


@needs_torch
@pytest.mark.parametrize("mask", list(LAYOUT_MASKS))
@pytest.mark.parametrize(
    "dims",
    [(None, None, 16, 16, 4), (2, 3, 13, 10, 4), (2, 1, 9, 17, (2, 5)), (1, 2, 7, 7, 128)],
    ids=str,
)
def test_block_mask_layout_matches_torch(mask, dims):
    B, H, L, S, block = dims
    fn = LAYOUT_MASKS[mask]
    bm = create_block_mask(fn, B, H, L, S, device="cpu", BLOCK_SIZE=block)
    tm = tfa.create_block_mask(fn, B, H, L, S, device="cpu", BLOCK_SIZE=block)
    assert bm.shape == tm.shape and bm.BLOCK_SIZE == tuple(tm.BLOCK_SIZE) and bm.seq_lengths == tm.seq_lengths
    np.testing.assert_array_equal(bm.to_dense().numpy(), tm.to_dense().numpy())
    assert bm.to_dense().dtype == bp.int32
    for attr in bm._TENSOR_ATTRS:
        ours, theirs = getattr(bm, attr), getattr(tm, attr)
        assert (ours is None) == (theirs is None), attr
        if ours is not None:
            assert ours.dtype == bp.int32, attr
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=attr)
    assert bm.sparsity() == pytest.approx(tm.sparsity())
    assert str(bm) == str(tm)
    assert bm.numel() == tm.numel()
    np.testing.assert_array_equal(
        create_mask(fn, B, H, L, S, "cpu").numpy(), tfa.create_mask(fn, B, H, L, S, "cpu").numpy()
    )
    unsplit = create_block_mask(fn, B, H, L, S, "cpu", BLOCK_SIZE=block, separate_full_blocks=False)
    t_unsplit = tfa.create_block_mask(fn, B, H, L, S, "cpu", BLOCK_SIZE=block, separate_full_blocks=False)
    assert unsplit.full_kv_num_blocks is None and t_unsplit.full_kv_num_blocks is None
    np.testing.assert_array_equal(unsplit.kv_indices.numpy(), t_unsplit.kv_indices.numpy())
    np.testing.assert_array_equal(unsplit.to_dense().numpy(), bm.to_dense().numpy())


@needs_torch
def test_block_mask_slicing_adjust_and_repr_match_torch():
    fn = LAYOUT_MASKS["per_batch_head"]
    bm = create_block_mask(fn, 2, 3, 16, 16, device="cpu", BLOCK_SIZE=4)
    tm = tfa.create_block_mask(fn, 2, 3, 16, 16, device="cpu", BLOCK_SIZE=4)
    for index in [0, (1, 2), (slice(0, 2), slice(1, 2)), (-1,), (slice(None), 0, torch.tensor([1, 3]))]:
        b_index = (
            tuple(bp.tensor(i.numpy()) if isinstance(i, torch.Tensor) else i for i in index)
            if isinstance(index, tuple)
            else index
        )
        ours, theirs = bm[b_index], tm[index]
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours.to_dense().numpy(), theirs.to_dense().numpy())
        np.testing.assert_array_equal(ours.q_indices.numpy(), theirs.q_indices.numpy())
        with pytest.raises(RuntimeError, match="sliced BlockMask"):
            ours.mask_mod(*(bp.tensor(0),) * 4)
    small, t_small = bm._adjust(9, 6), tm._adjust(9, 6)
    assert small.shape == t_small.shape == (2, 3, 9, 6)
    np.testing.assert_array_equal(small.kv_num_blocks.numpy(), t_small.kv_num_blocks.numpy())
    np.testing.assert_array_equal(small.to_dense().numpy(), t_small.to_dense().numpy())
    assert repr(bm) == repr(tm).replace("torch.Size", "Size")
    assert len(bm.as_tuple()) == len(tm.as_tuple()) and len(bm.as_tuple(False)) == len(tm.as_tuple(False))


@needs_torch
def test_from_kv_blocks_matches_torch():
    num = np.array([[[1, 2]]], dtype=np.int32)
    idx = np.array([[[[0, 1], [1, 0]]]], dtype=np.int32)
    bm = BlockMask.from_kv_blocks(bp.tensor(num), bp.tensor(idx), BLOCK_SIZE=2)
    tm = tfa.BlockMask.from_kv_blocks(torch.tensor(num), torch.tensor(idx), BLOCK_SIZE=2)
    assert bm.seq_lengths == tm.seq_lengths == (4, 4) and bm.mask_mod is noop_mask
    np.testing.assert_array_equal(bm.to_dense().numpy(), tm.to_dense().numpy())
    np.testing.assert_array_equal(bm.q_num_blocks.numpy(), tm.q_num_blocks.numpy())
    np.testing.assert_array_equal(bm.q_indices.numpy(), tm.q_indices.numpy())


@needs_torch
@pytest.mark.parametrize(
    "shapes, kwargs",
    [
        (((1, 2, 4, 8), (1, 2, 4, 6), (1, 2, 4, 6)), {}),  # E mismatch
        (((1, 4, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)), {}),  # heads without enable_gqa
        (((1, 3, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)), {"enable_gqa": True}),  # Hq % Hkv
        (((2, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)), {}),  # batch without block mask
        (((2, 4, 8), (2, 4, 8), (2, 4, 8)), {}),  # 3-d
        (((1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)), {"return_lse": True, "return_aux": "req"}),
        (((1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)), {"kernel_options": {"BACKEND": "CUTLASS"}}),
        (((1, 1, 8, 4), (1, 1, 8, 4), (1, 1, 8, 4)), {"block_mask": (6, 8)}),  # mask made for a shorter q
        (((1, 1, 8, 4), (1, 1, 8, 4), (1, 1, 8, 4)), {"block_mask": (16, 8)}),  # ... and for a longer q
    ],
)
def test_errors_match_torch_types(shapes, kwargs):
    def call(lib, mod):
        args = [lib.zeros(*s) for s in shapes]
        kw = dict(kwargs)
        if kw.get("return_aux") == "req":
            kw["return_aux"] = mod.AuxRequest(lse=True)
        if "block_mask" in kw:
            kw["block_mask"] = mod.create_block_mask(_causal, 1, 1, *kw["block_mask"], device="cpu")
        return mod.flex_attention(*args, **kw)

    with pytest.raises(Exception) as theirs:
        call(torch, tfa)
    with pytest.raises(type(theirs.value)) as ours:
        call(bp, bfa)
    assert str(ours.value)


# ---------------------------------------------------------------- closed forms (no torch needed)
def _qkv(B=2, H=3, L=6, S=8, E=4, Ev=5, dtype=bp.float64, seed=0, Hkv=None):
    rng = np.random.default_rng(seed)
    Hkv = H if Hkv is None else Hkv
    return [
        bp.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True)
        for s in [(B, H, L, E), (B, Hkv, S, E), (B, Hkv, S, Ev)]
    ]


def _grads(out, *ts, seed=1):
    g = bp.tensor(np.random.default_rng(seed).standard_normal(tuple(out.shape)), dtype=out.dtype)
    (out * g).sum().backward()
    res = [t.grad.numpy().copy() for t in ts]
    for t in ts:
        t.grad = None
    return res


@pytest.mark.parametrize("dtype, tol", [(bp.float64, 1e-12), (bp.float32, 1e-5)])
def test_no_mods_equals_sdpa(dtype, tol):
    q, k, v = _qkv(dtype=dtype)
    out = flex_attention(q, k, v)
    g = _grads(out, q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v)
    g_ref = _grads(ref, q, k, v)
    assert out.dtype == dtype and tuple(out.shape) == (2, 3, 6, 5)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("L, S, block", [(7, 7, 128), (9, 9, 2), (12, 12, (4, 3))])
def test_causal_block_mask_equals_is_causal(L, S, block):
    q, k, v = _qkv(L=L, S=S)
    bm = create_block_mask(_causal, None, None, L, S, device="cpu", BLOCK_SIZE=block)
    out = flex_attention(q, k, v, block_mask=bm)
    g = _grads(out, q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    for a, b in zip([out.detach().numpy(), *g], [ref.detach().numpy(), *_grads(ref, q, k, v)]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # the same mask expressed as a score_mod
    out2 = flex_attention(q, k, v, score_mod=lambda s, b, h, qi, ki: bp.where(qi >= ki, s, -math.inf))
    np.testing.assert_allclose(out2.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_mask_mod_equals_sdpa_bool_mask_odd_sizes():
    L, S = 5, 11
    q, k, v = _qkv(L=L, S=S)

    def mm(b, h, qi, ki):
        return ((ki + 2 * qi + b + h) % 4 != 0) | (ki == 0)

    bm = create_block_mask(mm, 2, 3, L, S, device="cpu", BLOCK_SIZE=4)
    out = flex_attention(q, k, v, block_mask=bm)
    dense = create_mask(mm, 2, 3, L, S, "cpu")
    assert dense.dtype == bp.bool and tuple(dense.shape) == (2, 3, L, S)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(_grads(out, q, k, v), _grads(ref, q, k, v)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_alibi_score_mod_equals_sdpa_additive_bias_with_bias_grad():
    H, L, S = 3, 6, 8
    q, k, v = _qkv(H=H, L=L, S=S)
    slopes = bp.tensor([0.5, -0.25, 0.125], dtype=bp.float64, requires_grad=True)
    out, lse = flex_attention(
        q, k, v, score_mod=lambda s, b, h, qi, ki: s + slopes[h] * (ki - qi), scale=0.7, return_lse=True
    )
    g = _grads(out, q, k, v, slopes)
    dist = (bp.arange(S).reshape(1, S) - bp.arange(L).reshape(L, 1)).to(bp.float64)
    additive = slopes.reshape(1, H, 1, 1) * dist
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=additive, scale=0.7)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(g, _grads(ref, q, k, v, slopes)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    scores = (q @ k.transpose(-2, -1) * 0.7 + additive).detach().numpy()
    m = scores.max(-1)
    np.testing.assert_allclose(lse.detach().numpy(), m + np.log(np.exp(scores - m[..., None]).sum(-1)), rtol=1e-12)


def test_gqa_equals_repeated_heads():
    q, k, v = _qkv(H=6, Hkv=2)
    out = flex_attention(q, k, v, enable_gqa=True, block_mask=create_block_mask(_causal, None, None, 6, 8, "cpu"))
    kr, vr = k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1)
    dense = create_mask(_causal, 1, 1, 6, 8, "cpu")
    ref = F.scaled_dot_product_attention(q, kr, vr, attn_mask=dense)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(_grads(out, q, k, v), _grads(ref, q, k, v)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_fully_masked_rows_give_zero_output_and_neg_inf_lse():
    q, k, v = _qkv(L=5, S=6)
    bm = create_block_mask(lambda b, h, qi, ki: (qi % 2 == 0) & (ki <= qi), 2, 3, 5, 6, "cpu", BLOCK_SIZE=2)
    out, aux = flex_attention(q, k, v, block_mask=bm, return_aux=AuxRequest(lse=True, max_scores=True))
    o, lse, mx = out.detach().numpy(), aux.lse.detach().numpy(), aux.max_scores.detach().numpy()
    assert (o[:, :, 1::2] == 0).all() and np.isneginf(lse[:, :, 1::2]).all() and np.isneginf(mx[:, :, 1::2]).all()
    assert np.isfinite(o).all() and np.isfinite(lse[:, :, ::2]).all()
    gq, gk, gv = _grads(out, q, k, v)
    assert np.isfinite(gq).all() and np.isfinite(gk).all() and np.isfinite(gv).all()
    assert (gq[:, :, 1::2] == 0).all() and (gq[:, :, ::2] != 0).any()
    # row 0 attends to key 0 alone: its output is v[0]
    np.testing.assert_allclose(o[:, :, 0], v.detach().numpy()[:, :, 0], rtol=1e-12)


def test_document_mask_with_captured_tensor():
    docs = bp.tensor(DOC_IDS)
    n = len(DOC_IDS)
    q, k, v = _qkv(B=1, H=2, L=n, S=n)
    bm = create_block_mask(lambda b, h, qi, ki: docs[qi] == docs[ki], None, None, n, n, "cpu", BLOCK_SIZE=4)
    out = flex_attention(q, k, v, block_mask=bm).detach().numpy()
    qn, kn, vn = (t.detach().numpy() for t in (q, k, v))
    for d in np.unique(DOC_IDS):  # each document attends only to itself: plain attention on its slice
        sl = DOC_IDS == d
        s = qn[:, :, sl] @ kn[:, :, sl].swapaxes(-1, -2) / 2.0
        w = np.exp(s - s.max(-1, keepdims=True))
        np.testing.assert_allclose(out[:, :, sl], (w / w.sum(-1, keepdims=True)) @ vn[:, :, sl], rtol=1e-12)


def test_block_mask_to_dense_closed_form():
    bm = create_block_mask(_causal, None, None, 8, 8, "cpu", BLOCK_SIZE=2)
    dense = bm.to_dense().numpy()
    assert dense.shape == (1, 1, 4, 4) and bm.shape == (1, 1, 8, 8) and bm.BLOCK_SIZE == (2, 2)
    np.testing.assert_array_equal(dense[0, 0], np.tril(np.ones((4, 4), dtype=np.int32)))
    np.testing.assert_array_equal(bm.kv_num_blocks.numpy()[0, 0], np.ones(4))  # the diagonal blocks: partial
    np.testing.assert_array_equal(bm.full_kv_num_blocks.numpy()[0, 0], np.arange(4))  # those below: full
    assert bm.sparsity() == pytest.approx(100 * (1 - 10 / 16))
    assert bm.mask_mod is _causal and "BlockMask(" in repr(bm) and "sparsity=37.50%" in repr(bm)
    assert len(bm.as_tuple()) == 17 and bm.as_tuple()[-1] is _causal
    moved = bm.to("cpu")
    np.testing.assert_array_equal(moved.to_dense().numpy(), dense)


def test_mask_combinators_and_score_mod_mask():
    def even(b, h, q, kv):
        return kv % 2 == 0

    both = create_mask(and_masks(_causal, even), 1, 1, 4, 4, "cpu").numpy()[0, 0]
    either = create_mask(or_masks(_causal, even), 1, 1, 4, 4, "cpu").numpy()[0, 0]
    tri, ev = np.tril(np.ones((4, 4), bool)), np.tile(np.arange(4) % 2 == 0, (4, 1))
    np.testing.assert_array_equal(both, tri & ev)
    np.testing.assert_array_equal(either, tri | ev)
    assert create_mask(noop_mask, 2, 1, 3, 2, "cpu").numpy().all()
    assert tuple(create_mask(noop_mask, 2, 1, 3, 2, "cpu").shape) == (2, 1, 3, 2)
    assert not create_mask(or_masks(), 1, 1, 2, 2, "cpu").numpy().any()
    sm = create_mask(lambda s, b, h, q, kv: bp.where(q >= kv, s, -math.inf), 1, 1, 4, 4, "cpu")
    np.testing.assert_array_equal(sm.numpy()[0, 0], tri)
    with pytest.raises(RuntimeError, match="callable"):
        and_masks(_causal, 3)
    with pytest.raises(AssertionError, match="mask_mod"):
        create_block_mask(lambda s, b, h, q, kv: s, 1, 1, 4, 4, "cpu")


def test_return_conventions_and_dtypes():
    q, k, v = _qkv(dtype=bp.float32)
    out = flex_attention(q, k, v)
    assert isinstance(out, bp.Tensor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pair = flex_attention(q, k, v, return_lse=True)
    assert isinstance(pair, tuple) and len(pair) == 2 and tuple(pair[1].shape) == (2, 3, 6)
    assert pair[1].dtype == bp.float32
    _, aux = flex_attention(q, k, v, return_aux=AuxRequest(max_scores=True))
    assert aux.lse is None and tuple(aux.max_scores.shape) == (2, 3, 6)
    half = flex_attention(*(t.detach().to(bp.float16) for t in (q, k, v)), return_aux=AuxRequest(lse=True))
    assert half[0].dtype == bp.float16 and half[1].lse.dtype == bp.float32
    np.testing.assert_allclose(half[1].lse.numpy(), pair[1].detach().numpy(), rtol=1e-2, atol=1e-2)


def test_score_mod_sees_broadcast_int64_indices_once():
    seen = []

    def spy(s, b, h, qi, ki):
        seen.append((tuple(s.shape), tuple(b.shape), tuple(h.shape), tuple(qi.shape), tuple(ki.shape), qi.dtype))
        return s

    q, k, v = _qkv(B=2, H=3, L=4, S=5)
    flex_attention(q, k, v, score_mod=spy)
    assert seen == [((2, 3, 4, 5), (2, 1, 1, 1), (1, 3, 1, 1), (1, 1, 4, 1), (1, 1, 1, 5), bp.int64)]


def test_errors_name_function_and_shapes():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"embedding dimension.*\(2, 3, 6, 4\)"):
        flex_attention(q, k[..., :3], v)
    with pytest.raises(NotImplementedError, match=r"flex_attention.*\(3, 6, 4\)"):
        flex_attention(q[0], k[0], v[0])
    with pytest.raises(ValueError, match="flex_attention: expected key and value"):
        flex_attention(q, k, v[:, :, :5])
    with pytest.raises(TypeError, match="flex_attention: expected floating-point"):
        flex_attention(q, k, bp.zeros(2, 3, 8, 5, dtype=bp.int64))
    with pytest.raises(TypeError, match="flex_attention: expected query to be a Tensor"):
        flex_attention(np.zeros((2, 3, 6, 4)), k, v)
    with pytest.raises(ValueError, match="Hq=6 and Hkv=3"):
        flex_attention(bp.zeros(2, 6, 6, 4), k, v)
    with pytest.raises(ValueError, match="multiple of kv heads"):
        flex_attention(bp.zeros(2, 4, 6, 4), k, v, enable_gqa=True)
    with pytest.raises(ValueError, match="smaller length"):
        flex_attention(q, k, v, block_mask=create_block_mask(_causal, None, None, 4, 8, "cpu"))
    int_mask = create_block_mask(_causal, None, None, 6, 8, "cpu")
    int_mask.mask_mod = lambda b, h, qi, ki: qi - ki  # returns int64, not bool
    with pytest.raises(TypeError, match="mask_mod must return a bool"):
        flex_attention(q, k, v, block_mask=int_mask)


def test_submodule_import_as_torch():
    mod = importlib.import_module("backprop.nn.attention.flex_attention")
    assert mod is bfa and mod.flex_attention is flex_attention
    assert set(mod.__all__) >= {"BlockMask", "flex_attention", "create_block_mask", "create_mask", "and_masks"}
    assert len(typing.get_args(mod._score_mod_signature)[0]) == 5
    assert len(typing.get_args(mod._mask_mod_signature)[0]) == 4
    if tfa is not None:
        assert set(mod.__all__) == set(tfa.__all__)
