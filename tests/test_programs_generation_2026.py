"""Text generation as torch users write it for small decoder models (nanoGPT/llama/HF-style sampling and cache
utilities), each program written once as a function of the library module and run with torch 2.13 and with
``backprop`` standing in for it: top-k/top-p/min-p filtering, repetition penalties, sampling after
``manual_seed`` (torch's CPU stream, so the same token ids), beam bookkeeping, KV caches, causal and padding masks,
rotary embeddings (complex and rotate_half), grouped-query attention, and a cached generate loop in float32 and
bfloat16. Then the gaps these programs found: torch's errors for GQA head counts, ``Tensor.size(dim)``,
``multinomial`` and ``view_as_complex`` of a layout torch cannot view."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")


def _np(x: Any) -> Any:
    """Tensors (in lists and tuples) as NumPy arrays (bfloat16 widened), Sizes as tuples, dtypes by name."""
    if isinstance(x, (list, tuple)) and type(x).__name__ != "Size":
        return [_np(v) for v in x]
    if type(x).__name__ == "Size":
        return tuple(x)
    if hasattr(x, "detach"):
        wide = "bfloat16" in str(x.dtype)
        return [str(x.dtype).removeprefix("torch."), np.asarray((x.float() if wide else x).detach().numpy())]
    if "dtype" in type(x).__name__:
        return str(x).removeprefix("torch.")
    return x


def _close(ours: Any, theirs: Any, rtol: float, path: str = "out") -> None:
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape and ours.dtype == theirs.dtype, path
        if theirs.dtype.kind in "biu":
            np.testing.assert_array_equal(ours, theirs, err_msg=path)
        else:
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    else:
        assert ours == theirs, path


def same_as_torch(program: Any, rtol: float = 1e-5) -> None:
    _close(_np(program(bp)), _np(program(torch)), rtol)


def raises_as_torch(call: Any) -> None:
    """``call(lib)`` raises with both: ours an instance of torch's class, with torch's message."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(theirs.type) as ours:
        call(bp)
    assert str(ours.value) == str(theirs.value)


def _logits(L: Any, shape: tuple = (2, 10), seed: int = 0) -> Any:
    return L.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


# ---------------------------------------------------------------- sampling utilities


def test_sampling_filters_penalties_and_beams() -> None:
    """Top-k/top-p/min-p, penalties, sampled ids after manual_seed and beam bookkeeping are torch's; and the
    sampler's slips (more tokens than the vocabulary without replacement, a 3-d batch) raise torch's messages,
    which had a 'multinomial:' prefix and a suffix."""

    def program(L: Any) -> list:
        x = _logits(L, (3, 50)) / 0.7
        v, _ = L.topk(x, 5)
        top_k = x.masked_fill(x < v[..., -1, None], float("-inf"))
        vals, idx = x.topk(5, dim=-1)
        top_k2 = L.full_like(x, float("-inf")).scatter(1, idx, vals)
        sorted_logits, sorted_indices = L.sort(x, descending=True)
        cum = L.cumsum(L.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cum > 0.9
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = 0
        top_p = x.masked_fill(remove.scatter(1, sorted_indices, remove), -float("Inf"))
        probs = L.softmax(x, dim=-1)
        small = probs < 0.1 * probs.max(dim=-1, keepdim=True)[0]
        min_p = x.masked_fill(small, float("-inf"))
        L.manual_seed(1234)
        ids = [L.multinomial(L.softmax(f, dim=-1), num_samples=1) for f in (top_k, top_k2, top_p, min_p)]
        ids.append(L.softmax(top_p, -1).multinomial(3))  # zeros in probs, without replacement
        return [top_k, top_k2, top_p, min_p, *ids, x.argmax(-1, keepdim=True)]

    def penalties(L: Any) -> list:
        x = _logits(L)
        ids = L.tensor([[1, 2, 2, 5], [0, 9, 3, 3]])
        score = L.gather(x, 1, ids)
        score = L.where(score < 0, score * 1.3, score / 1.3)
        counts = L.zeros_like(x).scatter_add_(1, ids, L.ones_like(ids, dtype=x.dtype))
        presence = L.zeros_like(x).scatter_(1, ids, 1.0)
        return [x.scatter(1, ids, score), x - 0.5 * presence - 0.1 * counts]

    def beams(L: Any) -> list:
        scores = _logits(L, (2 * 3, 7)).log_softmax(-1) + L.tensor([0.0, -1.0, -2.0] * 2)[:, None]
        top, flat = L.topk(scores.view(2, 3 * 7), 3, dim=1)
        beam, token = flat // 7, flat % 7
        cache = L.arange(6 * 4, dtype=L.float32).view(6, 4)
        rows = (beam + L.arange(2)[:, None] * 3).view(-1)
        return [top / ((5 + 4) / 6) ** 0.6, beam, token, L.div(flat, 7, rounding_mode="floor"), cache[rows]]

    for each in (program, penalties, beams):
        same_as_torch(each)
    raises_as_torch(lambda L: L.multinomial(L.softmax(_logits(L, (2, 5)), -1), 6))
    raises_as_torch(lambda L: L.multinomial(L.ones(2, 2, 2), 1))
    raises_as_torch(lambda L: L.multinomial(L.tensor([1.0, 2.0]), 0))


# ---------------------------------------------------------------- masks, caches, rotary embeddings


def _masks(L: Any) -> list:
    """Causal masks from triu(full(-inf)) and finfo.min, a left-padding mask and its position ids."""
    out: list = []
    am = L.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    for dt in (L.float16, L.bfloat16, L.float32):
        mn = L.finfo(dt).min
        causal = L.triu(L.full((4, 4), mn, dtype=dt), diagonal=1)[None, None].expand(2, 1, 4, 4)
        mask = causal.masked_fill(am[:, None, None, :] == 0, mn)
        scores = _logits(L, (2, 1, 4, 4)).to(dt) + mask
        out += [mask, scores.softmax(-1), (1.0 - am[:, None, None, :].to(dt)) * mn]
    out.append(L.triu(L.full((4, 4), float("-inf")), 1))
    position_ids = am.long().cumsum(-1) - 1
    return [*out, position_ids.masked_fill_(am == 0, 1)]


def _caches(L: Any) -> list:
    """A bfloat16 KV cache grown with cat, written into a buffer, reordered for beams, padded, repeated."""
    k, nk = _logits(L, (3, 2, 3, 4)).bfloat16(), _logits(L, (3, 2, 1, 4), 1).bfloat16()
    grown = L.cat([k, nk], dim=-2)
    buf = L.zeros(3, 2, 8, 4, dtype=L.bfloat16)
    buf[:, :, :3] = k
    buf.index_copy_(2, L.tensor([3]), nk)
    beams = L.tensor([2, 0, 0])
    padded = L.nn.functional.pad(k, (0, 0, 0, 2))
    return [grown, buf, buf.index_select(0, beams), buf[beams, :, :4], padded, L.repeat_interleave(k, 2, dim=1)]


def test_rotary_embeddings_complex_and_rotate_half() -> None:
    def program(L: Any) -> list:
        dim, end = 8, 6
        freqs = 1.0 / (10000.0 ** (L.arange(0, dim, 2)[: dim // 2].float() / dim))
        freqs = L.outer(L.arange(end, dtype=L.float32), freqs)
        freqs_cis = L.polar(L.ones_like(freqs), freqs)
        xq = _logits(L, (2, end, 3, dim))
        xq_ = L.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
        llama = L.view_as_real(xq_ * freqs_cis.view(1, end, 1, dim // 2)).flatten(3).type_as(xq)
        emb = L.cat((freqs, freqs), dim=-1)
        q = xq.transpose(1, 2)
        half = L.cat((-q[..., dim // 2 :], q[..., : dim // 2]), dim=-1)
        hf = q * emb.cos() + half * emb.sin()
        views = [L.view_as_complex(L.arange(24.0).view(3, 4, 2)[::2]), L.view_as_complex(L.ones(3, 4)[:, :2])]
        return [llama, hf, xq_.dtype, *views]

    same_as_torch(program)
    # the rotate_half layout (first half real, second half imaginary) cannot be viewed as pairs: torch refuses, and
    # so do we now (the pairs were read silently, as a copy)
    raises_as_torch(lambda L: L.view_as_complex(_logits(L, (2, 8)).view(2, 2, 4).transpose(-1, -2)))


# ---------------------------------------------------------------- attention and a generate loop


def _sdpa(L: Any) -> Any:
    return L.nn.functional.scaled_dot_product_attention


def test_masks_caches_and_grouped_query_attention() -> None:
    """Causal/padding masks in the half precisions, KV caches grown and preallocated, and GQA as torch's; key and
    value heads now repeat each by its own count (a single value head was a reshape's ShapeError)."""
    same_as_torch(_masks, rtol=1e-3)
    same_as_torch(_caches)

    def program(L: Any) -> list:
        q, k, v = _logits(L, (2, 4, 5, 8)), _logits(L, (2, 2, 5, 8), 1), _logits(L, (2, 2, 5, 8), 2)
        sdpa = _sdpa(L)
        gqa = sdpa(q, k, v, is_causal=True, enable_gqa=True)
        rep = sdpa(q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1), is_causal=True)
        one_v_head = sdpa(q, k, v[:, :1], enable_gqa=True)  # key and value heads repeat each by its own count
        return [gqa, rep, one_v_head, sdpa(q[:, :, -1:], k, v, enable_gqa=True)]

    same_as_torch(program)


@pytest.mark.parametrize(
    "shapes",
    [((1, 3, 2, 4), (1, 2, 2, 4), (1, 2, 2, 4)), ((3, 2, 4), (2, 2, 4), (2, 2, 4)), ((4, 2, 4), (4, 2, 4), (3, 2, 4))],
)
def test_gqa_head_counts_that_do_not_divide_raise_as_torch(shapes: tuple) -> None:
    """Was a reshape's ShapeError (or a silent broadcast); torch's RuntimeError, its message cut short as torch's."""
    raises_as_torch(lambda L: _sdpa(L)(*(L.ones(s) for s in shapes), enable_gqa=True))


def test_gqa_of_two_dim_inputs_raises_as_torch() -> None:
    raises_as_torch(lambda L: _sdpa(L)(L.ones(4, 2), L.ones(4, 2), L.ones(4, 2), enable_gqa=True))


def _tiny_llama(L: Any, dtype: Any = None, vocab: int = 13, c: int = 8, heads: int = 2, kv_heads: int = 1) -> Any:
    nn, F = L.nn, L.nn.functional
    d = c // heads

    class RMSNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(L.ones(c))

        def forward(self, x: Any) -> Any:
            xf = x.float()
            return (xf * L.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).type_as(x) * self.weight

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.n1, self.n2 = RMSNorm(), RMSNorm()
            self.q = nn.Linear(c, c, bias=False)
            self.kv = nn.Linear(c, 2 * d * kv_heads, bias=False)
            self.o = nn.Linear(c, c, bias=False)
            self.w1, self.w3 = nn.Linear(c, 2 * c, bias=False), nn.Linear(c, 2 * c, bias=False)
            self.w2 = nn.Linear(2 * c, c, bias=False)

        def forward(self, x: Any, cos: Any, sin: Any, cache: Any) -> Any:
            b, t, _ = x.shape
            h = self.n1(x)
            q = self.q(h).view(b, t, heads, d).transpose(1, 2)
            k, v = self.kv(h).view(b, t, 2 * kv_heads, d).transpose(1, 2).chunk(2, dim=1)

            def rope(z: Any) -> Any:
                return z * cos + L.cat((-z[..., d // 2 :], z[..., : d // 2]), dim=-1) * sin

            q, k = rope(q), rope(k)
            if cache is not None:
                k, v = L.cat([cache[0], k], dim=2), L.cat([cache[1], v], dim=2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None, enable_gqa=True)
            x = x + self.o(y.transpose(1, 2).contiguous().view(b, t, c))
            h = self.n2(x)
            return x + self.w2(F.silu(self.w1(h)) * self.w3(h)), (k, v)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, c)
            self.blocks = nn.ModuleList([Block(), Block()])
            self.norm = RMSNorm()
            self.head = nn.Linear(c, vocab, bias=False)
            self.head.weight = self.emb.weight  # weight-tied
            inv = 1.0 / (10000 ** (L.arange(0, d, 2).float() / d))
            fr = L.outer(L.arange(32).float(), inv)
            emb = L.cat((fr, fr), -1)
            self.register_buffer("cos", emb.cos(), persistent=False)
            self.register_buffer("sin", emb.sin(), persistent=False)

        def forward(self, idx: Any, caches: Any = None) -> Any:
            start = 0 if caches is None else caches[0][0].shape[2]
            pos = L.arange(start, start + idx.shape[1])
            cos, sin = self.cos[pos].to(self.emb.weight.dtype), self.sin[pos].to(self.emb.weight.dtype)
            x, new = self.emb(idx), []
            for i, block in enumerate(self.blocks):
                x, kv = block(x, cos, sin, None if caches is None else caches[i])
                new.append(kv)
            return self.head(self.norm(x)), new

    L.manual_seed(0)
    model = Model().eval()
    return model if dtype is None else model.to(dtype)


def _generate(L: Any, dtype: Any = None) -> list:
    model = _tiny_llama(L, dtype)
    idx, eos = L.tensor([[1, 2, 3], [4, 5, 6]]), 7
    L.manual_seed(123)
    with L.inference_mode():
        logits, caches = model(idx)
        finished = L.zeros(2, dtype=L.bool)
        for _ in range(6):
            step = logits[:, -1, :].float() / 0.8
            v, _ = L.topk(step, 5)
            step[step < v[:, [-1]]] = -float("Inf")
            nxt = L.multinomial(L.nn.functional.softmax(step, dim=-1), num_samples=1)
            nxt = L.where(finished[:, None], L.full_like(nxt, 0), nxt)
            finished = finished | (nxt.squeeze(-1) == eos)
            idx = L.cat((idx, nxt), dim=1)
            if finished.all():
                break
            logits, caches = model(nxt, caches)
    return [idx, finished, logits.dtype, caches[0][0].shape, logits.requires_grad]


@pytest.mark.parametrize("dtype", [None, "bfloat16", "float16"])
def test_cached_sampling_loop_gives_torchs_tokens(dtype: str | None) -> None:
    same_as_torch(lambda L: _generate(L, None if dtype is None else getattr(L, dtype)))
    # sampling more distinct tokens than the vocabulary holds: torch's message (ours had a prefix and a suffix)
    raises_as_torch(lambda L: L.multinomial(L.ones(2, 13, dtype=getattr(L, dtype or "float32")), 2 * 13))


# ---------------------------------------------------------------- torch's errors


def test_size_of_a_dim_out_of_range_raises_as_torch() -> None:
    """x.size(-3) of a matrix was Python's 'tuple index out of range'."""
    raises_as_torch(lambda L: L.ones(4, 2).size(-3))
    raises_as_torch(lambda L: L.ones(2).size(1))
    raises_as_torch(lambda L: L.tensor(1.0).size(0))
    assert bp.ones(4, 2).size(-1) == 2 and bp.ones(4, 2).size(0) == 4


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.ones(4, 2).t().contiguous().t(),  # last dim's stride is not 1
        lambda L: L.ones(3, 3)[:, :2],  # a row stride that is odd
        lambda L: L.ones(8)[1:7].view(3, 2),  # an odd storage offset
        lambda L: L.ones(2, 2, dtype=L.bfloat16),
        lambda L: L.ones(2, 2, dtype=L.int64),
        lambda L: L.ones(4, 3),
        lambda L: L.tensor(1.0),
    ],
)
def test_view_as_complex_refuses_as_torch(make: Any) -> None:
    """A transposed pair layout was silently read as pairs; torch cannot view it and says so."""
    raises_as_torch(lambda L: L.view_as_complex(make(L)))
