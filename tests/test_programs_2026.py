"""Torch code as people write it in 2025-26 (HF/llama/nanoGPT blocks, timm layers, diffusion schedules, RL losses,
message passing, metrics, training-loop idioms), each program written once against a module called ``L`` and run
with PyTorch and with ``backprop`` standing in for it: values (tight tolerances), dtypes, shapes, printed reprs and
exceptions (class and message) agree. Weights come from NumPy (the same in both), since the RNG streams differ
(README, "Where we differ from torch"); where a program draws random numbers, it compares what does not depend on
the stream (shapes, dtypes, supports, identities).
"""

from __future__ import annotations

import collections
import copy
import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the 2026 programs are compared with it")


# ------------------------------------------------------------------ the harness


def _picture(x: Any) -> Any:
    """Tensors as (shape, dtype name, float64 values, requires_grad); containers element by element; dtypes by name."""
    if isinstance(x, (bp.Tensor, torch.Tensor)):
        dtype = str(x.dtype).removeprefix("torch.")
        values = x.detach().to(bp.float64 if isinstance(x, bp.Tensor) else torch.float64)
        if x.is_complex():
            values = x.detach()
        return ("T", tuple(x.shape), dtype, np.asarray(values.numpy()), x.requires_grad)
    if type(x).__name__ == "Size":
        return ("Size", tuple(x))
    if isinstance(x, (list, tuple)):
        return [_picture(v) for v in x]
    if isinstance(x, dict):
        return {k: _picture(v) for k, v in x.items()}
    if isinstance(x, (bp.dtype, torch.dtype)) or type(x).__name__ == "dtype":
        return ("dtype", str(x).removeprefix("torch."))
    return x


def _same(ours: Any, theirs: Any, rtol: float, atol: float, path: str = "out") -> None:
    if isinstance(theirs, tuple) and theirs and theirs[0] == "T":
        assert isinstance(ours, tuple) and ours[0] == "T", f"{path}: {ours!r} is not a tensor"
        assert ours[1:3] == theirs[1:3], f"{path}: shape/dtype {ours[1:3]} != {theirs[1:3]}"
        assert ours[4] == theirs[4], f"{path}: requires_grad {ours[4]} != {theirs[4]}"
        np.testing.assert_allclose(ours[3], theirs[3], rtol=rtol, atol=atol, err_msg=path)
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{path}: keys {list(ours)} != {list(theirs)}"
        for k in theirs:
            _same(ours[k], theirs[k], rtol, atol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{path}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, rtol, atol, f"{path}[{i}]")
    elif isinstance(theirs, float) and not isinstance(theirs, bool):
        assert isinstance(ours, float), f"{path}: {ours!r} is not a float"
        assert ours == pytest.approx(theirs, rel=rtol, abs=atol, nan_ok=True), path
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def both(program: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """``program(lib)`` gives the same picture with backprop as with torch (torch's own warnings are ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _DRAWS[0] = 0
        theirs = _picture(program(torch))
        _DRAWS[0] = 0
        ours = _picture(program(bp))
    _same(ours, theirs, rtol, atol)


def raises_alike(call: Any, message: bool = True) -> None:
    """``call(lib)`` raises with torch and with backprop: an instance of torch's class, with torch's message."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(Exception) as ours:
        call(bp)
    assert isinstance(ours.value, theirs.type), (ours.value, theirs.value)
    if message:
        assert str(ours.value) == str(theirs.value)


def fill(L: Any, module: Any, seed: int = 0, scale: float = 0.3) -> Any:
    """Set every parameter from a seeded NumPy stream (the same weights in torch and in backprop)."""
    rng = np.random.default_rng(seed)
    with L.no_grad():
        for _, p in module.named_parameters():
            p.copy_(L.tensor(rng.standard_normal(tuple(p.shape)) * scale, dtype=p.dtype))
    return module


_DRAWS = [0]


def arr(*shape: int, scale: float = 1.0) -> np.ndarray:
    """A float32 standard-normal array, the n-th of the current run (``both`` restarts the count: both libraries'
    runs get the same arrays)."""
    _DRAWS[0] += 1
    return (np.random.default_rng(2026 + _DRAWS[0]).standard_normal(shape) * scale).astype(np.float32)


# ====================================================================== LLM blocks

X_BTD = np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float32)


class _Llama:
    """Builds the pieces of a llama-style decoder against a torch-like module."""

    @staticmethod
    def rmsnorm(L: Any) -> Any:
        nn = L.nn

        class RMSNorm(nn.Module):
            def __init__(self, dim: int, eps: float = 1e-6) -> None:
                super().__init__()
                self.eps = eps
                self.weight = nn.Parameter(L.ones(dim))

            def _norm(self, x):
                return x * L.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

            def forward(self, x):
                return self._norm(x.float()).type_as(x) * self.weight

        return RMSNorm

    @staticmethod
    def freqs_cis(L: Any, dim: int, end: int, theta: float = 10000.0) -> Any:
        freqs = 1.0 / (theta ** (L.arange(0, dim, 2)[: (dim // 2)].float() / dim))
        t = L.arange(end, device=freqs.device, dtype=L.float32)
        freqs = L.outer(t, freqs)
        return L.polar(L.ones_like(freqs), freqs)


def test_rmsnorm_llama_and_nn_rmsnorm() -> None:
    """Llama's RMSNorm (float32 compute, type_as back) in float32 and bfloat16 matches nn.RMSNorm and
    F.rms_norm; gradients of input and weight."""

    def program(L):
        m = _Llama.rmsnorm(L)(16)
        with L.no_grad():
            m.weight.mul_(L.linspace(0.5, 1.5, 16))
        ref = L.nn.RMSNorm(16, eps=1e-6)
        ref.weight.data.copy_(m.weight.data)
        x = L.tensor(X_BTD, requires_grad=True)
        y = m(x)
        y2 = ref(x)
        y3 = L.nn.functional.rms_norm(x, (16,), m.weight, eps=1e-6)
        (y * L.arange(16.0)).sum().backward()
        xb = x.detach().to(L.bfloat16)
        yb = m.to(L.bfloat16)(xb)
        return y, y2, y3, x.grad, m.weight.grad.to(L.float32), yb.dtype, yb.float(), repr(ref)

    both(program, rtol=1e-5, atol=1e-5)


def test_rope_polar_view_as_complex() -> None:
    """Meta's llama rotary embedding: polar, view_as_complex on a (…, -1, 2) reshape, broadcast, view_as_real,
    flatten(3), type_as; gradients flow back through the complex product."""

    def program(L):
        B, T, H, D = 2, 5, 2, 8
        fc = _Llama.freqs_cis(L, D, T * 2)[:T]
        xq = L.tensor(X_BTD.reshape(B, T, H, D), requires_grad=True)

        def reshape_for_broadcast(freqs_cis, x):
            ndim = x.ndim
            assert freqs_cis.shape == (x.shape[1], x.shape[-1])
            shape = [d if i == 1 or i == ndim - 1 else 1 for i, d in enumerate(x.shape)]
            return freqs_cis.view(*shape)

        xq_ = L.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
        fcb = reshape_for_broadcast(fc, xq_)
        out = L.view_as_real(xq_ * fcb).flatten(3).type_as(xq)
        (out * L.linspace(-1, 1, D)).sum().backward()
        return fc.dtype, L.view_as_real(fc), xq_.shape, out, xq.grad

    both(program, rtol=1e-5, atol=1e-5)


def test_rope_rotate_half_hf_style() -> None:
    """transformers' LlamaRotaryEmbedding: inv_freq buffer (persistent=False), position_ids[:, None, :] matmul,
    cat((freqs, freqs)), cos/sin, rotate_half by slicing and cat((-x2, x1)), apply with unsqueeze_dim=1."""

    def program(L):
        nn = L.nn

        class Rotary(nn.Module):
            def __init__(self, dim, base=10000.0):
                super().__init__()
                inv_freq = 1.0 / (base ** (L.arange(0, dim, 2, dtype=L.int64).float() / dim))
                self.register_buffer("inv_freq", inv_freq, persistent=False)

            @L.no_grad()
            def forward(self, x, position_ids):
                inv_freq_expanded = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
                position_ids_expanded = position_ids[:, None, :].float()
                freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
                emb = L.cat((freqs, freqs), dim=-1)
                return emb.cos().to(dtype=x.dtype), emb.sin().to(dtype=x.dtype)

        def rotate_half(x):
            x1 = x[..., : x.shape[-1] // 2]
            x2 = x[..., x.shape[-1] // 2 :]
            return L.cat((-x2, x1), dim=-1)

        def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
            cos = cos.unsqueeze(unsqueeze_dim)
            sin = sin.unsqueeze(unsqueeze_dim)
            return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)

        rot = Rotary(8)
        q = L.tensor(X_BTD.reshape(2, 5, 2, 8).transpose(0, 2, 1, 3), requires_grad=True)
        k = L.tensor(X_BTD.reshape(2, 5, 2, 8).transpose(0, 2, 1, 3)[..., ::-1].copy())
        pos = L.arange(5).unsqueeze(0).expand(2, -1) + L.tensor([[0], [3]])
        cos, sin = rot(q, pos)
        qe, ke = apply_rotary_pos_emb(q, k, cos, sin)
        qe.sum().backward()
        return list(rot.state_dict()), [n for n, _ in rot.named_buffers()], cos, sin, qe, ke, q.grad, cos.requires_grad

    both(program, rtol=1e-5, atol=1e-5)


def test_swiglu_mlp_and_weight_tying() -> None:
    """SwiGLU (down(silu(gate(x)) * up(x)), bias=False), a tied lm_head (parameters() lists the shared weight once,
    the gradient is the sum of both uses), nanoGPT's parameter count and decay/no-decay groups for AdamW."""

    def program(L):
        nn, F = L.nn, L.nn.functional

        class MLP(nn.Module):
            def __init__(self, d, h):
                super().__init__()
                self.gate_proj = nn.Linear(d, h, bias=False)
                self.up_proj = nn.Linear(d, h, bias=False)
                self.down_proj = nn.Linear(h, d, bias=False)
                self.act_fn = nn.SiLU()

            def forward(self, x):
                return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))

        class Tiny(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte = nn.Embedding(11, 16)
                self.mlp = MLP(16, 24)
                self.ln_f = nn.LayerNorm(16, bias=False)
                self.lm_head = nn.Linear(16, 11, bias=False)
                self.lm_head.weight = self.wte.weight

            def forward(self, idx, targets=None):
                logits = self.lm_head(self.ln_f(self.wte(idx) + self.mlp(self.wte(idx))))
                loss = None
                if targets is not None:
                    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
                return logits, loss

        m = fill(L, Tiny())
        n_params = sum(p.numel() for p in m.parameters())
        param_dict = {pn: p for pn, p in m.named_parameters() if p.requires_grad}
        decay = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay = [p for n, p in param_dict.items() if p.dim() < 2]
        opt = L.optim.AdamW(
            [{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
            lr=1e-2,
            betas=(0.9, 0.95),
        )
        idx = L.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
        tgt = L.tensor([[2, 3, 4, -1], [6, 7, 8, 9]])
        losses = []
        for _ in range(3):
            _, loss = m(idx, tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return (
            n_params,
            list(param_dict),
            len(decay),
            len(nodecay),
            m.lm_head.weight is m.wte.weight,
            losses,
            m.wte.weight,
            list(m.state_dict()),
        )

    both(program, rtol=1e-4, atol=1e-5)


def _gqa_inputs(L):
    q = L.tensor(arr(2, 4, 6, 8), requires_grad=True)
    k = L.tensor(arr(2, 2, 6, 8), requires_grad=True)
    v = L.tensor(arr(2, 2, 6, 8), requires_grad=True)
    return q, k, v


def test_grouped_query_attention_eager_llama() -> None:
    """HF's eager attention: repeat_kv by expand+reshape (and the repeat_interleave spelling), a float causal mask
    from finfo(dtype).min and triu, softmax in float32 then .to(q.dtype), dropout p=0; gradients."""

    def program(L):
        F = L.nn.functional
        q, k, v = _gqa_inputs(L)

        def repeat_kv(h, n_rep):
            b, nkv, s, d = h.shape
            if n_rep == 1:
                return h
            h = h[:, :, None, :, :].expand(b, nkv, n_rep, s, d)
            return h.reshape(b, nkv * n_rep, s, d)

        ks, vs = repeat_kv(k, 2), repeat_kv(v, 2)
        same = L.equal(ks, k.repeat_interleave(2, dim=1))
        T = q.shape[-2]
        mask = L.full((T, T), fill_value=L.finfo(q.dtype).min, dtype=q.dtype).triu(diagonal=1)
        mask = mask[None, None, :, :].expand(2, 1, -1, -1)
        w = L.matmul(q, ks.transpose(2, 3)) / math.sqrt(8) + mask
        w = F.softmax(w, dim=-1, dtype=L.float32).to(q.dtype)
        w = F.dropout(w, p=0.0, training=False)
        out = L.matmul(w, vs).transpose(1, 2).contiguous().reshape(2, 6, -1)
        out.pow(2).sum().backward()
        return same, mask[0, 0], w, out, q.grad, k.grad, v.grad

    both(program, rtol=1e-5, atol=1e-5)


def test_sdpa_causal_masks_and_enable_gqa() -> None:
    """F.scaled_dot_product_attention with is_causal, a boolean tril mask, a float additive mask, scale= and
    enable_gqa=True (fewer KV heads) gives the eager results; nn.attention.sdpa_kernel(SDPBackend.MATH) runs."""

    def program(L):
        F = L.nn.functional
        q, k, v = _gqa_inputs(L)
        with L.nn.attention.sdpa_kernel(L.nn.attention.SDPBackend.MATH):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        kr, vr = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
        tril = L.tril(L.ones(6, 6, dtype=L.bool))
        b = F.scaled_dot_product_attention(q, kr, vr, attn_mask=tril)
        fmask = L.zeros(6, 6).masked_fill(~tril, float("-inf"))
        c = F.scaled_dot_product_attention(q, kr, vr, attn_mask=fmask, scale=0.5)
        eager = (q @ kr.transpose(-2, -1) * 0.5 + fmask).softmax(-1) @ vr
        (a.sum() + b.pow(2).sum() + c.mean()).backward()
        return a, b, c, eager, q.grad, k.grad, v.grad

    both(program, rtol=1e-5, atol=1e-5)


def _tiny_decoder(L):
    nn, F = L.nn, L.nn.functional

    class Attn(nn.Module):
        def __init__(self, d=16, h=2):
            super().__init__()
            self.h = h
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)

        def forward(self, x, cache=None):
            B, T, C = x.size()
            q, k, v = self.qkv(x).split(C, dim=2)
            q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
            if cache is not None:
                k = L.cat([cache[0], k], dim=2)
                v = L.cat([cache[1], v], dim=2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None and T > 1)
            return self.proj(y.transpose(1, 2).contiguous().view(B, T, C)), (k, v)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(13, 16)
            self.pos = nn.Embedding(32, 16)
            self.attn = Attn()
            self.ln = nn.LayerNorm(16)
            self.head = nn.Linear(16, 13, bias=False)

        def forward(self, idx, cache=None, start=0):
            pos = L.arange(start, start + idx.size(1), dtype=L.long)
            x = self.emb(idx) + self.pos(pos)
            a, cache = self.attn(self.ln(x), cache)
            return self.head(x + a), cache

    return fill(L, LM(), seed=3)


def test_generation_with_kv_cache_under_inference_mode() -> None:
    """A greedy decode loop with a KV cache grown by torch.cat, under @torch.inference_mode(): the cached logits
    equal the full recomputation's last position, and the tokens are torch's."""

    def program(L):
        m = _tiny_decoder(L).eval()

        @L.inference_mode()
        def generate(idx, n):
            logits, cache = m(idx)
            steps = []
            for _ in range(n):
                nxt = logits[:, -1, :].argmax(dim=-1, keepdim=True)
                full, _ = m(L.cat([idx, nxt], dim=1))
                logits, cache = m(nxt, cache, start=idx.size(1))
                steps.append((logits[:, -1] - full[:, -1]).abs().max().item() < 1e-5)
                idx = L.cat([idx, nxt], dim=1)
            return idx, steps, cache[0].shape

        idx, steps, shape = generate(L.tensor([[1, 2, 3], [4, 5, 6]]), 4)
        return idx, steps, shape, L.is_grad_enabled(), L.is_inference_mode_enabled()

    both(program)


def test_sampling_temperature_top_k_top_p() -> None:
    """nanoGPT's top-k (v[:, [-1]] threshold, -inf assignment by mask) and HF's top-p (sort descending, cumsum of
    softmax, shift right, scatter back, masked_fill); multinomial with a seeded Generator draws only kept tokens."""

    def program(L):
        F = L.nn.functional
        logits = L.tensor(arr(3, 10)) / 0.7
        v, _ = L.topk(logits, min(4, logits.size(-1)))
        topk = logits.clone()
        topk[topk < v[:, [-1]]] = -float("Inf")
        sorted_logits, sorted_indices = L.sort(logits, descending=True)
        cumulative_probs = L.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        sorted_indices_to_remove = cumulative_probs > 0.8
        sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
        sorted_indices_to_remove[..., 0] = 0
        indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        topp = logits.masked_fill(indices_to_remove, -float("inf"))
        probs = F.softmax(topp, dim=-1)
        g = L.Generator().manual_seed(42)
        draws = L.multinomial(probs, num_samples=20, replacement=True, generator=g)
        kept = bool((probs.gather(1, draws) > 0).all())
        one = L.multinomial(F.softmax(topk, -1), 1)
        return topk, indices_to_remove, probs, draws.shape, draws.dtype, kept, one.shape, g.initial_seed()

    both(program)


def test_moe_router_top2_with_index_add() -> None:
    """A Mixtral-style sparse MoE block: router softmax in float, topk(2), renormalise, one_hot(...).permute(2, 1, 0)
    expert mask, torch.where per expert, index_add_ of weighted expert outputs; the load-balancing loss."""

    def program(L):
        nn, F = L.nn, L.nn.functional
        E, D = 4, 8
        gate = fill(L, nn.Linear(D, E, bias=False), 1)
        experts = fill(L, nn.ModuleList([nn.Linear(D, D) for _ in range(E)]), 2)
        x = L.tensor(arr(6, D), requires_grad=True)
        router_logits = gate(x)
        routing_weights = F.softmax(router_logits, dim=1, dtype=L.float)
        routing_weights, selected = L.topk(routing_weights, 2, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(x.dtype)
        final = L.zeros((6, D), dtype=x.dtype, device=x.device)
        expert_mask = F.one_hot(selected, num_classes=E).permute(2, 1, 0)
        hit = L.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in range(E):
            idx, top_x = L.where(expert_mask[e])
            cur = experts[e](x[None, top_x].reshape(-1, D)) * routing_weights[top_x, idx, None]
            final.index_add_(0, top_x, cur.to(x.dtype))
        tokens_per_expert = L.mean(F.one_hot(selected, E).float(), dim=0)
        router_prob = L.mean(F.softmax(router_logits, -1), dim=0)
        aux = E * L.sum(tokens_per_expert * router_prob.unsqueeze(0))
        (final.sum() + aux).backward()
        return selected, hit, expert_mask.shape, final, aux, x.grad, gate.weight.grad

    both(program, rtol=1e-5, atol=1e-5)


def test_hf_attention_mask_expansion_and_padding_side() -> None:
    """HF's 2D padding mask to a 4D additive mask: [:, None, None, :], (1 - mask) * finfo.min, combined with a
    causal tril by torch.where and masked_fill; position ids by cumsum(-1) - 1 with masked_fill_."""

    def program(L):
        attn = L.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
        dtype = L.float32
        expanded = attn[:, None, None, :].to(dtype)
        inverted = (1.0 - expanded) * L.finfo(dtype).min
        causal = L.tril(L.ones((5, 5), dtype=L.bool))
        full = L.where(causal[None, None] & attn[:, None, None, :].bool(), 0.0, L.finfo(dtype).min)
        pos = attn.long().cumsum(-1) - 1
        pos.masked_fill_(attn == 0, 1)
        return inverted, full, full.dtype, pos, L.finfo(L.bfloat16).min, L.finfo(L.float16).max

    both(program, rtol=0, atol=0)


def test_pad_sequence_collate_and_padding_side() -> None:
    """A collate_fn with pad_sequence (batch_first, padding_value, padding_side="left"), lengths, a key padding
    mask by arange < lengths[:, None], and DataLoader batching dict samples with it."""

    def program(L):
        from_utils = L.nn.utils.rnn.pad_sequence
        seqs = [L.tensor([1, 2, 3]), L.tensor([4]), L.tensor([5, 6])]

        def collate(batch):
            ids = [b["ids"] for b in batch]
            lengths = L.tensor([len(s) for s in ids])
            padded = from_utils(ids, batch_first=True, padding_value=0)
            left = from_utils(ids, batch_first=True, padding_value=-1, padding_side="left")
            mask = L.arange(padded.size(1))[None, :] < lengths[:, None]
            return {"ids": padded, "left": left, "mask": mask, "y": L.stack([b["y"] for b in batch])}

        data = [{"ids": s, "y": L.tensor(float(i))} for i, s in enumerate(seqs)]
        dl = L.utils.data.DataLoader(data, batch_size=2, collate_fn=collate)
        batches = list(dl)
        return batches, from_utils(seqs).shape, len(dl)

    both(program, rtol=0, atol=0)


# ====================================================================== timm / vision


def test_drop_path_and_layer_scale() -> None:
    """timm's drop_path: new_empty(shape).bernoulli_(keep_prob), div_(keep_prob); identity in eval or at p=0; in
    training every sample is either zero or x / keep_prob. LayerScale in place and out of place."""

    def program(L):
        nn = L.nn

        def drop_path(x, drop_prob=0.0, training=False, scale_by_keep=True):
            if drop_prob == 0.0 or not training:
                return x
            keep_prob = 1 - drop_prob
            shape = (x.shape[0],) + (1,) * (x.ndim - 1)
            random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
            if keep_prob > 0.0 and scale_by_keep:
                random_tensor.div_(keep_prob)
            return x * random_tensor

        class LayerScale(nn.Module):
            def __init__(self, dim, init_values=1e-5, inplace=False):
                super().__init__()
                self.inplace = inplace
                self.gamma = nn.Parameter(init_values * L.ones(dim))

            def forward(self, x):
                return x.mul_(self.gamma) if self.inplace else x * self.gamma

        x = L.tensor(arr(64, 3, 4))
        y = drop_path(x, 0.5, training=True)
        flat = y.flatten(1)
        zero = (flat == 0).all(1)
        scaled = L.isclose(flat, x.flatten(1) * 2).all(1)
        ok = bool((zero ^ scaled).all())
        ls = LayerScale(4, 0.1)
        with L.no_grad():
            inplace = LayerScale(4, 0.1, inplace=True)(x.clone())
        return ok, drop_path(x, 0.5) is x, ls(x), inplace, y.shape, x.new_empty((2, 1)).bernoulli_(1.0)

    both(program)


def test_vit_patch_embed_cls_token_and_pos_embed_interpolation() -> None:
    """ViT patch embedding (Conv2d stride=patch, flatten(2).transpose(1, 2)), cls token expand + cat, pos-embed
    resize by F.interpolate(bicubic, align_corners=False) after reshape/permute; trunc_normal_ bounds."""

    def program(L):
        nn, F = L.nn, L.nn.functional
        D, p = 8, 4
        proj = fill(L, nn.Conv2d(3, D, kernel_size=p, stride=p), 4)
        cls_token = nn.Parameter(L.zeros(1, 1, D))
        pos = L.tensor(arr(1, 1 + 4, D))
        x = L.tensor(arr(2, 3, 8, 8), requires_grad=True)
        t = proj(x).flatten(2).transpose(1, 2)
        t = L.cat((cls_token.expand(t.shape[0], -1, -1), t), dim=1) + pos
        gs_old, gs_new = 2, 3
        grid = pos[:, 1:].reshape(1, gs_old, gs_old, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gs_new, gs_new), mode="bicubic", align_corners=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, gs_new * gs_new, -1)
        new_pos = L.cat([pos[:, :1], grid], dim=1)
        bil = F.interpolate(pos[:, 1:].reshape(1, 2, 2, -1).permute(0, 3, 1, 2), scale_factor=1.5, mode="bilinear")
        t.sum().backward()
        w = L.empty(200, 8)
        nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
        inb = bool(((w >= -0.04) & (w <= 0.04)).all())
        dpr = [v.item() for v in L.linspace(0, 0.1, 4)]
        return t, new_pos, bil, x.grad, cls_token.grad, inb, dpr, L.linspace(0, 0.3, 4).tolist()

    both(program, rtol=1e-5, atol=1e-5)


def test_label_smoothing_and_soft_target_losses() -> None:
    """timm's LabelSmoothingCrossEntropy (gather of log-probs, smooth term by mean) equals F.cross_entropy with
    label_smoothing; SoftTargetCrossEntropy with mixup targets (one_hot * lam + flip(0)); a Beta's log_prob."""

    def program(L):
        F = L.nn.functional
        x = L.tensor(arr(6, 5), requires_grad=True)
        target = L.tensor([0, 4, 2, 2, 1, 3])
        logprobs = F.log_softmax(x, dim=-1)
        nll = -logprobs.gather(dim=-1, index=target.unsqueeze(1)).squeeze(1)
        smooth = -logprobs.mean(dim=-1)
        ls = (0.9 * nll + 0.1 * smooth).mean()
        builtin = F.cross_entropy(x, target, label_smoothing=0.1)
        lam = 0.7
        y1 = F.one_hot(target, 5).float()
        mixed = y1 * lam + y1.flip(0) * (1.0 - lam)
        soft = L.sum(-mixed * F.log_softmax(x, dim=-1), dim=-1).mean()
        prob_targets = F.cross_entropy(x, mixed)
        (ls + soft).backward()
        beta = L.distributions.Beta(L.tensor([0.4]), L.tensor([0.4]))
        s = beta.sample()
        return ls, builtin, soft, prob_targets, x.grad, beta.log_prob(L.tensor([0.3])), beta.mean, s.shape

    both(program, rtol=1e-5, atol=1e-6)


def test_tensor_transforms_without_torchvision() -> None:
    """uint8 image to float by .float().div(255), per-channel normalise with [:, None, None], horizontal flip,
    reflect padding, centre crop by slicing, rotation by affine_grid + grid_sample, to uint8 by clamp/round."""

    def program(L):
        F = L.nn.functional
        img = L.tensor((np.arange(2 * 3 * 6 * 6) % 256).astype(np.uint8).reshape(2, 3, 6, 6))
        x = img.float().div(255)
        mean = L.tensor([0.485, 0.456, 0.406])
        std = L.tensor([0.229, 0.224, 0.225])
        xn = (x - mean[:, None, None]) / std[:, None, None]
        flipped = L.flip(xn, dims=[-1])
        padded = F.pad(xn, (1, 1, 1, 1), mode="reflect")
        crop = padded[..., 2:6, 2:6]
        a = math.pi / 6
        theta = L.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).unsqueeze(0)
        grid = F.affine_grid(theta.expand(2, 2, 3), list(x.shape), align_corners=False)
        rot = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        back = (rot * 255).round().clamp(0, 255).to(L.uint8)
        return xn, flipped, crop, rot, back, img.dtype, x.dtype

    both(program, rtol=1e-5, atol=1e-5)


# ====================================================================== diffusion


def test_sinusoidal_timestep_embedding_diffusers() -> None:
    """diffusers' get_timestep_embedding (exponent by arange / (half - shift), flip_sin_to_cos, odd dims padded)
    and a guided-diffusion style embedding with torch.cat of cos/sin."""

    def program(L):
        F = L.nn.functional

        def get_timestep_embedding(timesteps, dim, flip=False, shift=1, scale=1, max_period=10000):
            half = dim // 2
            exponent = -math.log(max_period) * L.arange(start=0, end=half, dtype=L.float32, device=timesteps.device)
            exponent = exponent / (half - shift)
            emb = L.exp(exponent)
            emb = timesteps[:, None].float() * emb[None, :]
            emb = scale * emb
            emb = L.cat([L.sin(emb), L.cos(emb)], dim=-1)
            if flip:
                emb = L.cat([emb[:, half:], emb[:, :half]], dim=-1)
            if dim % 2 == 1:
                emb = F.pad(emb, (0, 1, 0, 0))
            return emb

        t = L.tensor([0, 10, 999])
        freqs = L.exp(-math.log(10000) * L.arange(0, 4, dtype=L.float32) / 4).to(device=t.device)
        args = t[:, None].float() * freqs[None]
        gd = L.cat([L.cos(args), L.sin(args)], dim=-1)
        return get_timestep_embedding(t, 8), get_timestep_embedding(t, 9, flip=True, shift=0), gd

    both(program, rtol=1e-5, atol=1e-5)


def test_unet_resblock_groupnorm_silu_time_embedding() -> None:
    """A UNet residual block (GroupNorm(8) + SiLU + conv, time projection broadcast by [:, :, None, None], 1x1 skip)
    with a downsample conv and nearest upsample; losses and gradients after two AdamW steps."""

    def program(L):
        nn, F = L.nn, L.nn.functional

        class ResBlock(nn.Module):
            def __init__(self, cin, cout, tdim):
                super().__init__()
                self.norm1 = nn.GroupNorm(8, cin)
                self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
                self.time_emb_proj = nn.Linear(tdim, cout)
                self.norm2 = nn.GroupNorm(8, cout, eps=1e-6)
                self.dropout = nn.Dropout(0.0)
                self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
                self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

            def forward(self, x, temb):
                h = self.conv1(F.silu(self.norm1(x)))
                h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
                h = self.conv2(self.dropout(F.silu(self.norm2(h))))
                return self.skip(x) + h

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = ResBlock(8, 16, 4)
                self.down = nn.Conv2d(16, 16, 3, stride=2, padding=1)
                self.out = nn.Conv2d(16, 8, 3, padding=1)

            def forward(self, x, temb):
                h = self.down(self.block(x, temb))
                return self.out(F.interpolate(h, scale_factor=2.0, mode="nearest"))

        m = fill(L, Net(), 5, 0.2)
        opt = L.optim.AdamW(m.parameters(), lr=1e-3)
        x, temb = L.tensor(arr(2, 8, 6, 6)), L.tensor(arr(2, 4))
        losses = []
        for _ in range(2):
            loss = F.mse_loss(m(x, temb), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, m.block.conv1.weight.grad, m.block.norm1.weight

    both(program, rtol=1e-4, atol=1e-5)


def test_noise_schedules_q_sample_and_ddim_step() -> None:
    """Linear (float64 linspace) and cosine schedules, cumprod, F.pad(value=1.0), extract by gather + reshape,
    q_sample, DDPM posterior variance and log clamp(min=1e-20), one DDIM step with eta=0."""

    def program(L):
        F = L.nn.functional
        T = 50
        betas = L.linspace(1e-4, 0.02, T, dtype=L.float64)
        s = 0.008
        steps = T + 1
        xs = L.linspace(0, T, steps, dtype=L.float64)
        ac = L.cos(((xs / T) + s) / (1 + s) * math.pi * 0.5) ** 2
        ac = ac / ac[0]
        cos_betas = L.clip(1 - (ac[1:] / ac[:-1]), 0, 0.999)
        alphas = 1.0 - betas
        alphas_cumprod = L.cumprod(alphas, dim=0)
        prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
        post_var = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
        log_var = L.log(post_var.clamp(min=1e-20))

        def extract(a, t, x_shape):
            b, *_ = t.shape
            out = a.gather(-1, t)
            return out.reshape(b, *((1,) * (len(x_shape) - 1)))

        x0 = L.tensor(arr(3, 2, 4, 4))
        noise = L.tensor(arr(3, 2, 4, 4))
        t = L.tensor([0, 17, 49])
        sqrt_ac = alphas_cumprod.sqrt().float()
        sqrt_1mac = (1 - alphas_cumprod).sqrt().float()
        xt = extract(sqrt_ac, t, x0.shape) * x0 + extract(sqrt_1mac, t, x0.shape) * noise
        a_t = alphas_cumprod[t].view(-1, 1, 1, 1).float()
        a_prev = alphas_cumprod[(t - 5).clamp(min=0)].view(-1, 1, 1, 1).float()
        pred_x0 = (xt - (1 - a_t).sqrt() * noise) / a_t.sqrt()
        ddim = a_prev.sqrt() * pred_x0 + (1 - a_prev).sqrt() * noise
        return cos_betas, alphas_cumprod, prev, log_var, xt, ddim, extract(sqrt_ac, t, x0.shape).shape

    both(program, rtol=1e-5, atol=1e-6)


def test_ema_of_weights_foreach_lerp_and_averaged_model() -> None:
    """EMA by copy.deepcopy(model).requires_grad_(False) and torch._foreach_lerp_, by mul_/add_(alpha=), and by
    swa_utils.AveragedModel(multi_avg_fn=get_ema_multi_avg_fn(decay)); n_averaged and the shadow weights."""

    def program(L):
        nn = L.nn
        model = fill(L, nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)), 6)
        ema = copy.deepcopy(model).requires_grad_(False)
        ema2 = copy.deepcopy(model)
        for p in ema2.parameters():
            p.requires_grad_(False)
        avg = L.optim.swa_utils.AveragedModel(model, multi_avg_fn=L.optim.swa_utils.get_ema_multi_avg_fn(0.9))
        opt = L.optim.SGD(model.parameters(), lr=0.1)
        x = L.tensor(arr(8, 4))
        for _ in range(3):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            with L.no_grad():
                L._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - 0.9)
                for e, p in zip(ema2.parameters(), model.parameters()):
                    e.mul_(0.9).add_(p.detach(), alpha=1 - 0.9)
            avg.update_parameters(model)
        return (
            [p.requires_grad for p in ema.parameters()],
            list(ema.parameters()),
            list(ema2.parameters()),
            list(avg.module.parameters()),
            avg.n_averaged,
            list(avg.state_dict()),
        )

    both(program, rtol=1e-5, atol=1e-6)


# ====================================================================== reinforcement learning


def test_reinforce_with_discounted_returns_and_entropy() -> None:
    """REINFORCE: returns by a reversed loop with insert(0, R), torch.tensor(list of floats), normalisation with
    std + eps, Categorical(logits=).log_prob/entropy, torch.stack of log-probs, Adam step."""

    def program(L):
        nn = L.nn
        policy = fill(L, nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)), 7)
        opt = L.optim.Adam(policy.parameters(), lr=1e-2)
        obs = L.tensor(arr(6, 4))
        actions = L.tensor([0, 2, 1, 1, 0, 2])
        rewards = [1.0, 0.0, 0.5, 1.0, -1.0, 2.0]
        R, returns = 0.0, []
        for r in rewards[::-1]:
            R = r + 0.99 * R
            returns.insert(0, R)
        returns = L.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + 1e-8)
        log_probs, ents = [], []
        for o, a in zip(obs, actions):
            dist = L.distributions.Categorical(logits=policy(o))
            log_probs.append(dist.log_prob(a))
            ents.append(dist.entropy())
        loss = (-L.stack(log_probs) * returns).sum() - 0.01 * L.stack(ents).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return returns, loss, L.stack(log_probs).shape, policy[0].weight

    both(program, rtol=1e-5, atol=1e-6)


def test_ppo_clipped_objective_gae_and_clip_grad_norm() -> None:
    """PPO with a Gaussian policy (log_std parameter expanded to mu, Normal(...).log_prob(a).sum(-1)), GAE by a
    reversed loop, advantage normalisation, ratio clamp, torch.min, value loss, clip_grad_norm_'s returned norm."""

    def program(L):
        nn, F, D = L.nn, L.nn.functional, L.distributions

        class ActorCritic(nn.Module):
            def __init__(self):
                super().__init__()
                self.mu = nn.Linear(3, 2)
                self.v = nn.Linear(3, 1)
                self.log_std = nn.Parameter(L.zeros(1, 2))

            def forward(self, s):
                mu = self.mu(s)
                return D.Normal(mu, self.log_std.expand_as(mu).exp()), self.v(s).squeeze(-1)

        ac = fill(L, ActorCritic(), 8)
        opt = L.optim.Adam(ac.parameters(), lr=3e-4, eps=1e-5)
        s = L.tensor(arr(5, 3))
        a = L.tensor(arr(5, 2))
        rewards = L.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
        dones = L.tensor([0, 0, 1, 0, 0], dtype=L.bool)
        with L.no_grad():
            dist, values = ac(s)
            old_logp = dist.log_prob(a).sum(-1)
        adv = L.zeros_like(rewards)
        last = 0.0
        for t in reversed(range(5)):
            nv = values[t + 1] if t + 1 < 5 else 0.0
            nonterminal = 1.0 - dones[t].float()
            delta = rewards[t] + 0.99 * nv * nonterminal - values[t]
            last = delta + 0.99 * 0.95 * nonterminal * last
            adv[t] = last
        ret = adv + values
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        norms = []
        for _ in range(2):
            dist, v = ac(s)
            logp = dist.log_prob(a).sum(-1)
            ratio = (logp - old_logp).exp()
            surr = L.min(ratio * adv, L.clamp(ratio, 0.8, 1.2) * adv)
            loss = -surr.mean() + 0.5 * F.mse_loss(v, ret) - 0.01 * dist.entropy().sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            norms.append(nn.utils.clip_grad_norm_(ac.parameters(), 0.5))
            opt.step()
        return adv, ret, norms, ac.log_std, dist.entropy().shape

    both(program, rtol=1e-5, atol=1e-6)


def test_dqn_target_network_huber_and_soft_update() -> None:
    """DQN: q.gather(1, a.unsqueeze(1)).squeeze(1), target(next).max(1)[0] and .max(dim=1).values, (1 - done.float()),
    smooth_l1_loss / SmoothL1Loss / huber_loss(delta=), hard update by load_state_dict and Polyak soft update."""

    def program(L):
        nn, F = L.nn, L.nn.functional
        net = fill(L, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), 9)
        target = fill(L, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), 10)
        keys = target.load_state_dict(net.state_dict())
        target.eval()
        opt = L.optim.RMSprop(net.parameters(), lr=1e-3)
        s, s2 = L.tensor(arr(6, 4)), L.tensor(arr(6, 4))
        a = L.tensor([0, 1, 2, 0, 1, 2])
        r = L.tensor([1.0, 0.0, -1.0, 0.5, 0.0, 1.0])
        done = L.tensor([False, False, True, False, True, False])
        q = net(s).gather(1, a.unsqueeze(1)).squeeze(1)
        with L.no_grad():
            nxt = target(s2).max(1)[0]
            nxt2 = target(s2).max(dim=1).values
            y = r + 0.99 * nxt * (1 - done.float())
        l1 = F.smooth_l1_loss(q, y)
        l2 = nn.SmoothL1Loss(beta=0.5)(q, y)
        l3 = F.huber_loss(q, y, delta=2.0)
        opt.zero_grad()
        (l1 + l2 + l3).backward()
        nn.utils.clip_grad_value_(net.parameters(), 0.1)
        opt.step()
        tau = 0.1
        for tp, p in zip(target.parameters(), net.parameters()):
            tp.data.copy_(tau * p.data + (1.0 - tau) * tp.data)
        eps_greedy = L.where(L.tensor([0.05, 0.5]) < 0.1, L.tensor([2, 2]), net(s[:2]).argmax(-1))
        return str(keys), l1, l2, l3, L.equal(nxt, nxt2), list(target.parameters()), eps_greedy

    both(program, rtol=1e-5, atol=1e-6)


# ====================================================================== graphs, contrastive, metrics

EDGES = np.array([[0, 1, 1, 2, 3, 3, 4, 0], [1, 0, 2, 1, 4, 0, 3, 3]])


def test_gcn_message_passing_index_add_and_sparse_mm() -> None:
    """GCN normalisation by index_add_ of ones, pow(-0.5) with inf masked to 0, messages x[row] * norm.view(-1, 1)
    aggregated by index_add_ and by scatter_add_ with an expanded index, and the same through sparse_coo @ dense."""

    def program(L):
        N = 5
        ei = L.tensor(EDGES)
        loops = L.arange(N).unsqueeze(0).repeat(2, 1)
        ei = L.cat([ei, loops], dim=1)
        row, col = ei
        x = L.tensor(arr(N, 3), requires_grad=True)
        W = L.tensor(arr(3, 4))
        h = x @ W
        deg = L.zeros(N).index_add_(0, col, L.ones(col.size(0)))
        dinv = deg.pow(-0.5)
        dinv.masked_fill_(dinv == float("inf"), 0)
        norm = dinv[row] * dinv[col]
        out1 = L.zeros(N, 4).index_add_(0, col, h[row] * norm.view(-1, 1))
        idx = col.unsqueeze(-1).expand(-1, 4)
        out2 = L.zeros(N, 4).scatter_add_(0, idx, h[row] * norm.unsqueeze(-1))
        A = L.sparse_coo_tensor(L.stack([col, row]), norm, (N, N)).coalesce()
        out3 = L.sparse.mm(A, h)
        out1.relu().sum().backward()
        return deg, norm, out1, out2, out3, A.to_dense(), A.indices(), x.grad

    both(program, rtol=1e-5, atol=1e-6)


def test_gat_edge_softmax_with_scatter_reduce_amax() -> None:
    """A torch_scatter-free softmax over incoming edges: scatter_reduce_(reduce="amax", include_self=False) for the
    max, exp(e - max[col]), scatter_add_ for the sum, and index_add_ of alpha-weighted messages; gradients."""

    def program(L):
        F = L.nn.functional
        N = 5
        row, col = L.tensor(EDGES)
        h = L.tensor(arr(N, 4), requires_grad=True)
        att = L.tensor(arr(8), requires_grad=True)
        e = F.leaky_relu((L.cat([h[row], h[col]], dim=-1) * att).sum(-1), 0.2)
        emax = L.full((N,), float("-inf")).scatter_reduce_(0, col, e, reduce="amax", include_self=False)
        emax2 = L.zeros(N).scatter_reduce(0, col, e, reduce="amax", include_self=True)
        ex = (e - emax[col]).exp()
        den = L.zeros(N).scatter_add_(0, col, ex)
        alpha = ex / (den[col] + 1e-16)
        out = L.zeros(N, 4).index_add_(0, col, alpha.unsqueeze(-1) * h[row])
        mean = L.zeros(N, 4).scatter_reduce(0, col[:, None].expand(-1, 4), h[row], reduce="mean", include_self=False)
        (out.sum() + (mean * L.arange(4.0)).sum()).backward()
        return emax, emax2, alpha, out, mean, h.grad, att.grad

    both(program, rtol=1e-5, atol=1e-6)


def test_clip_loss_with_learnable_logit_scale() -> None:
    """OpenCLIP's loss: logit_scale = Parameter(ones([]) * log(1 / 0.07)), .exp() clamped, normalised features,
    image @ text.T and its transpose, symmetric cross-entropy; the 0-d parameter's gradient and clamp_ in place."""

    def program(L):
        nn, F = L.nn, L.nn.functional
        logit_scale = nn.Parameter(L.ones([]) * np.log(1 / 0.07))
        img = L.tensor(arr(4, 6), requires_grad=True)
        txt = L.tensor(arr(4, 6), requires_grad=True)
        i, t = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
        scale = logit_scale.exp().clamp(max=100)
        logits_per_image = scale * i @ t.T
        logits_per_text = logits_per_image.T
        labels = L.arange(4, device=img.device, dtype=L.long)
        loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
        loss.backward()
        with L.no_grad():
            logit_scale.clamp_(0, math.log(100))
        acc = (logits_per_image.argmax(-1) == labels).float().mean()
        return loss, logit_scale.grad, logit_scale, img.grad, txt.grad, acc, logit_scale.shape, logit_scale.dim()

    both(program, rtol=1e-5, atol=1e-6)


def test_metrics_confusion_matrix_topk_and_auroc() -> None:
    """Confusion matrix by bincount(C * y + p, minlength=C**2).reshape, per-class precision/recall with diag and
    nan_to_num, the ImageNet example's topk accuracy (topk(maxk, 1, True, True), .t(), eq + expand_as, reshape(-1)
    sum(0, keepdim=True).mul_(100 / batch)), and AUROC by argsort(descending) + cumsum + trapezoid."""

    def program(L):
        C = 4
        out = L.tensor(arr(10, C))
        y = L.tensor([0, 1, 2, 3, 0, 1, 2, 3, 3, 3])
        pred = out.argmax(1)
        cm = L.bincount(C * y + pred, minlength=C**2).reshape(C, C)
        tp = cm.diag().float()
        precision = (tp / cm.sum(0).float()).nan_to_num(0.0)
        recall = tp / cm.sum(1).float()
        maxk = 3
        _, p = out.topk(maxk, 1, True, True)
        p = p.t()
        correct = p.eq(y.view(1, -1).expand_as(p))
        res = [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / 10) for k in (1, 3)]
        scores = L.tensor(arr(12))
        labels = L.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1])
        order = L.argsort(scores, descending=True)
        tps = L.cumsum(labels[order], 0).float()
        fps = L.cumsum(1 - labels[order], 0).float()
        tpr = L.cat([L.zeros(1), tps / tps[-1]])
        fpr = L.cat([L.zeros(1), fps / fps[-1]])
        auc = L.trapezoid(tpr, fpr)
        return cm, precision, recall, res, tps.dtype, auc, L.trapz(tpr, fpr)

    both(program, rtol=1e-6, atol=1e-6)


# ====================================================================== training-loop idioms


def _mlp(L, seed=11):
    nn = L.nn
    return fill(L, nn.Sequential(nn.Linear(6, 8), nn.GELU(approximate="tanh"), nn.Linear(8, 3)), seed)


def test_gradient_accumulation_and_set_to_none() -> None:
    """Gradient accumulation (loss / accum, step every k micro-batches) equals one big batch; zero_grad() leaves
    None grads (set_to_none defaults to True) and zero_grad(set_to_none=False) zeros."""

    def program(L):
        F = L.nn.functional
        x, y = L.tensor(arr(8, 6)), L.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        m1, m2 = _mlp(L), _mlp(L)
        o1 = L.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
        o2 = L.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
        for xb, yb in zip(x.chunk(4), y.chunk(4)):
            (F.cross_entropy(m1(xb), yb) / 4).backward()
        o1.step()
        o1.zero_grad()
        F.cross_entropy(m2(x), y).backward()
        o2.step()
        o2.zero_grad(set_to_none=False)
        return [p.grad for p in m1.parameters()], list(m1.parameters()), list(m2.parameters()), m2[0].bias.grad

    both(program, rtol=1e-5, atol=1e-6)


def test_autocast_bfloat16_cpu_and_grad_scaler() -> None:
    """torch.autocast("cpu", dtype=bfloat16): linear outputs bfloat16, the loss upcast by .float(); a GradScaler
    (disabled on CPU by enabled=False) scale/unscale_/step/update round trip; is_autocast_enabled inside."""

    def program(L):
        F = L.nn.functional
        m = _mlp(L)
        opt = L.optim.AdamW(m.parameters(), lr=1e-3)
        scaler = L.amp.GradScaler("cpu", enabled=False)
        x, y = L.tensor(arr(8, 6)), L.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        with L.autocast(device_type="cpu", dtype=L.bfloat16):
            inside = L.is_autocast_enabled("cpu")
            logits = m(x)
            loss = F.cross_entropy(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norm = L.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        return logits.dtype, loss.dtype, inside, scaler.get_scale(), scaler.is_enabled(), norm.dtype, L.isfinite(norm)

    both(program)


def test_lora_by_parametrize_and_frozen_base() -> None:
    """LoRA: the base Linear frozen by requires_grad_(False), low-rank A/B registered with
    nn.utils.parametrize.register_parametrization; state_dict keys, the trainable count, a training step that
    moves only A/B, and remove_parametrizations(leave_parametrized=True) merging the weight."""

    def program(L):
        nn, P = L.nn, L.nn.utils.parametrize

        class LoRA(nn.Module):
            def __init__(self, fan_in, fan_out, rank=2, alpha=4):
                super().__init__()
                self.lora_A = nn.Parameter(L.zeros(rank, fan_out))
                self.lora_B = nn.Parameter(L.zeros(fan_in, rank))
                self.scale = alpha / rank

            def forward(self, W):
                return W + (self.lora_B @ self.lora_A).view(W.shape) * self.scale

        layer = fill(L, nn.Linear(6, 4), 12)
        layer.requires_grad_(False)
        P.register_parametrization(layer, "weight", LoRA(4, 6))
        fill(L, layer.parametrizations.weight[0], 13)
        trainable = [n for n, p in layer.named_parameters() if p.requires_grad]
        keys = list(layer.state_dict())
        opt = L.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.1)
        x = L.tensor(arr(3, 6))
        layer(x).square().mean().backward()
        opt.step()
        w = layer.weight.detach().clone()
        is_p = P.is_parametrized(layer, "weight")
        orig = layer.parametrizations.weight.original
        P.remove_parametrizations(layer, "weight", leave_parametrized=True)
        return trainable, keys, is_p, orig.requires_grad, w, layer.weight, P.is_parametrized(layer), repr(layer)

    both(program, rtol=1e-5, atol=1e-6)


def test_torch_compile_runs_and_orig_mod_prefix() -> None:
    """torch.compile(model) returns a wrapper that gives the eager outputs and gradients; its state_dict keys carry
    the _orig_mod. prefix that people strip with removeprefix, and _orig_mod is the model."""

    def program(L):
        m = _mlp(L)
        cm = L.compile(m)
        x = L.tensor(arr(4, 6))
        out = cm(x)
        out.sum().backward()
        keys = list(cm.state_dict())
        stripped = collections.OrderedDict((k.removeprefix("_orig_mod."), v) for k, v in cm.state_dict().items())
        res = _mlp(L, 99).load_state_dict(stripped)
        return out, m[0].weight.grad, keys, cm._orig_mod is m, str(res), list(stripped)

    try:
        both(program, rtol=1e-5, atol=1e-6)
    finally:  # (torch's Dynamo turns distribution argument validation off for the process on first use)
        torch.distributions.Distribution.set_default_validate_args(True)


def test_save_whole_model_and_checkpoint_dict(tmp_path) -> None:
    """torch.save(model) + torch.load(weights_only=False) gives a working module; a checkpoint dict of model and
    optimizer state loads with weights_only=True and map_location="cpu" and resumes the same step."""

    def program(L):
        nn = L.nn
        m = _mlp(L)
        opt = L.optim.Adam(m.parameters(), lr=1e-2)
        x = L.tensor(arr(4, 6))
        m(x).sum().backward()
        opt.step()
        path = tmp_path / f"{L.__name__}-model.pt"
        L.save(m, path)
        loaded = L.load(path, weights_only=False)
        ck = tmp_path / f"{L.__name__}-ck.pt"
        L.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, ck)
        state = L.load(ck, map_location="cpu", weights_only=True)
        m2 = _mlp(L, 5)
        m2.load_state_dict(state["model"])
        opt2 = L.optim.Adam(m2.parameters(), lr=1e-2)
        opt2.load_state_dict(state["optimizer"])
        for mm, oo in ((m, opt), (m2, opt2)):
            oo.zero_grad()
            mm(x).sum().backward()
            oo.step()
        return type(loaded).__name__, isinstance(loaded, nn.Module), loaded(x), state["epoch"], m2(x), m(x)

    both(program, rtol=1e-5, atol=1e-6)


def test_state_dict_surgery_strict_false_and_errors() -> None:
    """'module.' prefixes stripped by an OrderedDict comprehension; strict=False returns the missing and unexpected
    keys (the _IncompatibleKeys repr); strict=True raises torch's RuntimeError listing them and size mismatches."""

    def program(L):
        m = _mlp(L)
        sd = collections.OrderedDict(("module." + k, v) for k, v in m.state_dict().items())
        clean = collections.OrderedDict((k[len("module.") :], v) for k, v in sd.items())
        clean.pop("2.bias")
        clean["extra.weight"] = L.zeros(1)
        res = _mlp(L, 2).load_state_dict(clean, strict=False)
        return str(res), res.missing_keys, res.unexpected_keys, type(res).__name__

    both(program)

    def strict_error(L):
        m = _mlp(L)
        sd = m.state_dict()
        sd.pop("0.bias")
        sd["0.weight"] = L.zeros(2, 2)
        sd["head.weight"] = L.zeros(1)
        _mlp(L).load_state_dict(sd)

    raises_alike(strict_error)


def test_buffers_persistent_false_and_to_bfloat16() -> None:
    """register_buffer(persistent=False) stays out of state_dict but in buffers(); model.to(torch.bfloat16) casts
    parameters and float buffers, leaves integer buffers alone; half() / float() round trips."""

    def program(L):
        nn = L.nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(3, 2)
                self.register_buffer("mask", L.ones(3), persistent=False)
                self.register_buffer("count", L.zeros((), dtype=L.long))
                self.register_buffer("stat", L.full((2,), 0.5))

        m = fill(L, M())
        keys = list(m.state_dict())
        names = [n for n, _ in m.named_buffers()]
        m = m.to(L.bfloat16)
        dtypes = [b.dtype for b in m.buffers()] + [p.dtype for p in m.parameters()]
        m.float()
        return keys, names, dtypes, m.lin.weight, m.count.dtype, m.mask.dtype, m.half().stat.dtype

    both(program, rtol=1e-2, atol=1e-2)


def test_lr_schedulers_get_last_lr() -> None:
    """OneCycleLR, CosineAnnealingWarmRestarts(T_mult=2), LambdaLR linear warmup, SequentialLR(LinearLR warmup,
    CosineAnnealingLR), ChainedScheduler, and ReduceLROnPlateau: get_last_lr() after every step."""

    def program(L):
        S = L.optim.lr_scheduler

        def run(make, n=12, plateau=False):
            p = L.nn.Parameter(L.zeros(1))
            opt = L.optim.SGD([p], lr=0.1, momentum=0.9)
            s = make(opt)
            lrs = []
            for _ in range(n):
                opt.step()
                s.step(1.0) if plateau else s.step()
                lrs.append(s.get_last_lr()[0] if not plateau else opt.param_groups[0]["lr"])
            return lrs

        warm = 3
        return [
            run(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=13)),
            run(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=1e-3)),
            run(lambda o: S.LambdaLR(o, lambda step: min(1.0, (step + 1) / warm))),
            run(
                lambda o: S.SequentialLR(
                    o,
                    [S.LinearLR(o, start_factor=0.1, total_iters=3), S.CosineAnnealingLR(o, T_max=8)],
                    milestones=[3],
                )
            ),
            run(lambda o: S.ChainedScheduler([S.ConstantLR(o, factor=0.5, total_iters=4), S.ExponentialLR(o, 0.9)])),
            run(lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5), plateau=True),
        ]

    both(program, rtol=1e-9, atol=1e-12)


def test_random_split_weighted_sampler_and_subset() -> None:
    """random_split with fractions and a seeded Generator (the split sizes, disjoint and complete); a
    WeightedRandomSampler's length and support; Subset indexing and a DataLoader over a TensorDataset."""

    def program(L):
        U = L.utils.data
        ds = U.TensorDataset(L.arange(10).float(), L.arange(10))
        tr, va = U.random_split(ds, [0.8, 0.2], generator=L.Generator().manual_seed(42))
        a, b, c = U.random_split(range(10), [5, 3, 2])
        union = sorted(list(tr.indices) + list(va.indices))
        w = L.tensor([0.0, 1.0, 0.0, 2.0])
        sampler = U.WeightedRandomSampler(w, num_samples=20, replacement=True)
        drawn = list(sampler)
        sub = U.Subset(ds, [3, 1])
        dl = U.DataLoader(sub, batch_size=2)
        return (
            len(tr),
            len(va),
            union,
            [len(a), len(b), len(c)],
            len(sampler),
            set(drawn) <= {1, 3},
            sub[0],
            next(iter(dl)),
            type(tr).__name__,
        )

    both(program)


def test_checkpoint_non_reentrant_and_no_grad_decorator() -> None:
    """torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False) gives the plain gradients; @torch.no_grad()
    and torch.set_grad_enabled(False) as decorator and context; enable_grad inside no_grad."""

    def program(L):
        from_ckpt = L.utils.checkpoint.checkpoint
        m = _mlp(L)
        x = L.tensor(arr(4, 6), requires_grad=True)
        from_ckpt(m, x, use_reentrant=False).pow(2).sum().backward()
        g1 = x.grad.clone()
        x.grad = None
        m(x).pow(2).sum().backward()

        @L.no_grad()
        def evaluate(t):
            return m(t)

        e = evaluate(x)
        with L.set_grad_enabled(False):
            f = m(x)
            with L.enable_grad():
                g = m(x)
        seq = L.utils.checkpoint.checkpoint_sequential(m, 2, x, use_reentrant=False)
        return g1, x.grad, e.requires_grad, f.requires_grad, g.requires_grad, seq

    both(program, rtol=1e-5, atol=1e-6)


def test_module_reprs_and_parameter_printing() -> None:
    """print(model) as users see it: nested Sequential/ModuleList/ModuleDict reprs with extra_repr of the common
    layers; named_modules names; a Parameter's repr header."""

    def program(L):
        nn = L.nn
        m = nn.ModuleDict(
            {
                "enc": nn.Sequential(
                    nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(8),
                    nn.GELU(),
                    nn.AdaptiveAvgPool2d((1, 1)),
                    nn.Flatten(),
                ),
                "blocks": nn.ModuleList(
                    [nn.LayerNorm(8, eps=1e-6), nn.Dropout(0.1), nn.Embedding(10, 8, padding_idx=0)]
                ),
                "head": nn.Linear(8, 2),
                "attn": nn.MultiheadAttention(8, 2, batch_first=True),
                "gn": nn.GroupNorm(2, 8),
                "up": nn.Upsample(scale_factor=2, mode="nearest"),
            }
        )
        return repr(m), [n for n, _ in m.named_modules()]

    both(program)


def test_multihead_attention_batch_first_need_weights_false() -> None:
    """nn.MultiheadAttention(batch_first=True) with key_padding_mask and need_weights=False returns (out, None);
    with average_attn_weights=False the per-head weights; a causal attn_mask from generate_square_subsequent_mask."""

    def program(L):
        nn = L.nn
        mha = fill(L, nn.MultiheadAttention(8, 2, batch_first=True), 14)
        x = L.tensor(arr(2, 4, 8))
        kpm = L.tensor([[False, False, False, True], [False, False, False, False]])
        out, w = mha(x, x, x, key_padding_mask=kpm, need_weights=False)
        mask = nn.Transformer.generate_square_subsequent_mask(4)
        out2, w2 = mha(x, x, x, attn_mask=mask, average_attn_weights=False)
        return out, w is None, mask, out2, w2

    both(program, rtol=1e-5, atol=1e-6)


# ====================================================================== misc. tensor idioms


def test_einsum_unflatten_chunk_unbind_idioms() -> None:
    """qkv.unflatten(-1, (3, H, D)).permute(...).unbind(0), einsum("bhqd,bhkd->bhqk"), chunk(3, dim=-1), rearrange
    by view/permute, torch.baddbmm with beta=0, tensor.split([sizes]); shapes and values."""

    def program(L):
        x = L.tensor(arr(2, 5, 24))
        q, k, v = x.unflatten(-1, (3, 2, 4)).permute(2, 0, 3, 1, 4).unbind(0)
        s = L.einsum("bhqd,bhkd->bhqk", q, k) * 4**-0.5
        a, b, c = x.chunk(3, dim=-1)
        parts = x.split([4, 4, 16], dim=-1)
        bb = L.baddbmm(L.empty(4, 5, 5), q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2), beta=0, alpha=0.5)
        out = (s.softmax(-1) @ v).transpose(1, 2).flatten(2)
        return q.shape, s, a.shape, [p.shape for p in parts], bb, out, x.unflatten(1, (5, 1)).shape

    both(program, rtol=1e-5, atol=1e-6)


def test_finfo_iinfo_and_dtype_properties() -> None:
    """finfo/iinfo fields people read (min, max, eps, tiny, bits, resolution), dtype.itemsize, is_floating_point,
    is_signed, torch.get_default_dtype, promote_types and result_type."""

    def program(L):
        f = [
            (L.finfo(d).min, L.finfo(d).max, L.finfo(d).eps, L.finfo(d).tiny, L.finfo(d).bits)
            for d in (L.float16, L.bfloat16, L.float32, L.float64)
        ]
        i = [(L.iinfo(d).min, L.iinfo(d).max, L.iinfo(d).bits) for d in (L.uint8, L.int8, L.int32, L.int64)]
        return (
            f,
            i,
            L.finfo(L.float32).resolution,
            [d.itemsize for d in (L.bfloat16, L.float32, L.int64, L.bool, L.complex64)],
            L.get_default_dtype(),
            L.promote_types(L.int32, L.float16),
            L.result_type(L.tensor([1, 2]), 1.0),
            L.finfo().eps,
        )

    both(program, rtol=0, atol=0)


def test_common_user_errors_match_torch() -> None:
    """The errors users meet first: a matmul shape mismatch, view on a non-contiguous tensor, item() of many
    elements, in-place on a leaf that requires grad, backward twice, stack of unequal sizes, cross_entropy with
    a float class-id target, numpy() of a tensor that requires grad."""

    def mm(L):
        return L.nn.Linear(3, 4)(L.ones(2, 5))

    def view(L):
        return L.ones(3, 4).t().view(12)

    def item(L):
        return L.ones(2).item()

    def leaf(L):
        return L.ones(2, requires_grad=True).add_(1)

    def twice(L):
        x = L.ones(2, requires_grad=True)
        y = (x * x).sum()
        y.backward()
        y.backward()

    def stack(L):
        return L.stack([L.ones(2), L.ones(3)])

    def numpy_(L):
        return L.ones(2, requires_grad=True).numpy()

    def cat_dims(L):
        return L.cat([L.ones(2, 3), L.ones(2, 4)], dim=0)

    def embedding_oob(L):
        return L.nn.functional.embedding(L.tensor([5]), L.ones(3, 2))

    for call in (mm, view, item, leaf, twice, stack, numpy_, cat_dims):
        raises_alike(call)
    raises_alike(embedding_oob, message=False)


_LINEAR_SLIPS = {
    "features": ((2, 5), "float32", None),
    "features-1d": ((5,), "float32", None),
    "features-3d": ((2, 3, 5), "float32", None),
    "scalar-input": ((), "float32", None),
    "double-input": ((2, 3), "float64", None),
    "double-input-bias": ((2, 3), "float64", (4,)),
    "double-input-3d": ((5, 2, 3), "float64", (4,)),
    "double-bias": ((2, 3), "float32", "float64"),
    "half-bias-3d": ((5, 2, 3), "float32", "float16"),
    "double-input-0d-bias": ((3,), "float64", "0d"),
    "double-input-2d-0d-bias": ((2, 3), "float64", "0d"),
}


@pytest.mark.parametrize("case", list(_LINEAR_SLIPS))
def test_linear_slips_raise_torch_messages(case: str) -> None:
    """nn.Linear / F.linear with the wrong feature count or mixed dtypes: torch's addmm/mm messages (found by the
    first program a user runs with a wrong in_features)."""
    shape, dtype, bias = _LINEAR_SLIPS[case]

    def call(L):
        x = L.ones(shape, dtype=getattr(L, dtype))
        b = None
        if isinstance(bias, tuple):
            b = L.ones(bias)
        elif bias == "0d":
            b = L.ones((), dtype=L.float64 if dtype == "float32" else L.float32)
        elif bias:
            b = L.ones(4, dtype=getattr(L, bias))
        return L.nn.functional.linear(x, L.ones(4, 3), b)

    raises_alike(call)


def test_linear_3d_input_with_0d_double_bias_keeps_float32() -> None:
    """A 1-D or 3-D input with a 0-d float64 bias is matmul + add in torch: float32, no error."""
    both(
        lambda L: [L.nn.functional.linear(L.ones(s), L.ones(4, 3), L.ones((), dtype=L.float64)) for s in (3, (2, 3, 3))]
    )


_CAT_SLIPS = {
    "size": ([(2, 3), (2, 4)], 0),
    "size-dim1": ([(2, 3), (3, 4)], 1),
    "size-negative-dim": ([(2, 3), (3, 4)], -1),
    "size-third": ([(2, 3), (2, 3), (2, 4)], 0),
    "rank": ([(2, 3), (2, 3, 1)], 0),
    "rank-1d": ([(2, 3), (4,)], 0),
    "dim": ([(2, 3)], 2),
    "dim-1d": ([(3,), (3,)], 1),
    "zero-d": ([(), ()], 0),
    "empty": ([], 0),
}


@pytest.mark.parametrize("case", list(_CAT_SLIPS))
def test_cat_slips_raise_torch_messages(case: str) -> None:
    """torch.cat of mismatched shapes, ranks, a bad dim, 0-d tensors or nothing: torch's class and message (found
    by the common-errors program; a KV cache concatenated along the wrong dim meets the first)."""
    shapes, dim = _CAT_SLIPS[case]
    raises_alike(lambda L: L.cat([L.ones(s) for s in shapes], dim))


# ====================================================================== batch 2: self-supervised, meta-learning, more


def test_mae_random_masking_with_argsort_and_gather() -> None:
    """MAE's random_masking from given noise: argsort twice (shuffle and restore), gather with an index repeated
    over the feature dim, a 0/1 mask unshuffled by gather; the decoder's mask tokens appended and unshuffled."""

    def program(L):
        N, T, D = 2, 6, 4
        x = L.tensor(arr(N, T, D), requires_grad=True)
        noise = L.tensor(np.random.default_rng(5).random((N, T)).astype(np.float32))
        len_keep = int(T * (1 - 0.5))
        ids_shuffle = L.argsort(noise, dim=1)
        ids_restore = L.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_masked = L.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, D))
        mask = L.ones([N, T], device=x.device)
        mask[:, :len_keep] = 0
        mask = L.gather(mask, dim=1, index=ids_restore)
        mask_token = L.zeros(1, 1, D)
        mask_tokens = mask_token.repeat(x_masked.shape[0], ids_restore.shape[1] - x_masked.shape[1], 1)
        x_ = L.cat([x_masked, mask_tokens], dim=1)
        x_ = L.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).repeat(1, 1, x_.shape[2]))
        loss = ((x_ - x) ** 2).mean(dim=-1)
        loss = (loss * mask).sum() / mask.sum()
        loss.backward()
        return ids_shuffle, ids_restore, x_masked, mask, x_, loss, x.grad

    both(program)


def test_moco_queue_and_byol_momentum_teacher() -> None:
    """MoCo: einsum with a list of operands ('nc,nc->n', [q, k]), a queue buffer written by slice assignment of
    keys.T at a pointer, logits cat, labels zeros(long); BYOL/DINO momentum update with mul_/add_ on .data and a
    DINO centre update; gradients only to the student."""

    def program(L):
        nn, F = L.nn, L.nn.functional

        class MoCo(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder_q = nn.Linear(6, 4)
                self.encoder_k = copy.deepcopy(self.encoder_q)
                for p in self.encoder_k.parameters():
                    p.requires_grad = False
                self.register_buffer("queue", F.normalize(L.tensor(arr(4, 8)), dim=0))
                self.register_buffer("queue_ptr", L.zeros(1, dtype=L.long))
                self.register_buffer("center", L.zeros(1, 4))

            @L.no_grad()
            def _momentum_update_key_encoder(self, m=0.99):
                for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
                    param_k.data = param_k.data * m + param_q.data * (1.0 - m)

            @L.no_grad()
            def _dequeue_and_enqueue(self, keys):
                batch_size = keys.shape[0]
                ptr = int(self.queue_ptr)
                self.queue[:, ptr : ptr + batch_size] = keys.T
                ptr = (ptr + batch_size) % self.queue.shape[1]
                self.queue_ptr[0] = ptr

            def forward(self, im_q, im_k):
                q = F.normalize(self.encoder_q(im_q), dim=1)
                with L.no_grad():
                    self._momentum_update_key_encoder()
                    k = F.normalize(self.encoder_k(im_k), dim=1)
                l_pos = L.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
                l_neg = L.einsum("nc,ck->nk", [q, self.queue.clone().detach()])
                logits = L.cat([l_pos, l_neg], dim=1) / 0.07
                labels = L.zeros(logits.shape[0], dtype=L.long)
                self._dequeue_and_enqueue(k)
                with L.no_grad():
                    self.center.mul_(0.9).add_(L.sum(k, dim=0, keepdim=True) / len(k), alpha=0.1)
                return logits, labels

        m = fill(L, MoCo(), 15)
        with L.no_grad():
            for pq, pk in zip(m.encoder_q.parameters(), m.encoder_k.parameters()):
                pk.copy_(pq * 0.5)
        logits, labels = m(L.tensor(arr(3, 6)), L.tensor(arr(3, 6)))
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        return logits, labels, loss, m.queue, m.queue_ptr, m.center, m.encoder_k.weight, m.encoder_q.weight.grad

    both(program, rtol=1e-5, atol=1e-5)


def test_maml_inner_loop_with_functional_call() -> None:
    """MAML: params = dict(named_parameters()), autograd.grad(create_graph=True) on the inner loss, fast weights
    by a dict comprehension, torch.func.functional_call on the query set, meta-gradients by outer backward."""

    def program(L):
        F = L.nn.functional
        model = _mlp(L, 16)
        fc = L.func.functional_call
        xs, ys = L.tensor(arr(5, 6)), L.tensor([0, 1, 2, 1, 0])
        xq, yq = L.tensor(arr(5, 6)), L.tensor([2, 1, 0, 0, 1])
        params = dict(model.named_parameters())
        for _ in range(2):
            loss = F.cross_entropy(fc(model, params, (xs,)), ys)
            grads = L.autograd.grad(loss, params.values(), create_graph=True)
            params = {n: p - 0.4 * g for (n, p), g in zip(params.items(), grads)}
        outer = F.cross_entropy(fc(model, params, xq), yq)
        outer.backward()
        vec = L.nn.utils.parameters_to_vector(model.parameters())
        L.nn.utils.vector_to_parameters(vec * 2, model.parameters())
        return outer, [p.grad for p in model.parameters()], vec.shape, model[2].bias, list(params)

    both(program, rtol=1e-4, atol=1e-5)


def test_sam_optimizer_subclass() -> None:
    """SAM written as a torch.optim.Optimizer subclass (defaults dict, param_groups, self.state[p], @no_grad steps
    with a closure, a base optimizer sharing param_groups); two steps of a small regression."""

    def program(L):
        class SAM(L.optim.Optimizer):
            def __init__(self, params, base_optimizer, rho=0.05, **kwargs):
                defaults = dict(rho=rho, **kwargs)
                super().__init__(params, defaults)
                self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
                self.param_groups = self.base_optimizer.param_groups
                self.defaults.update(self.base_optimizer.defaults)

            @L.no_grad()
            def first_step(self):
                grad_norm = self._grad_norm()
                for group in self.param_groups:
                    scale = group["rho"] / (grad_norm + 1e-12)
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        self.state[p]["old_p"] = p.data.clone()
                        p.add_(p.grad * scale.to(p))

            @L.no_grad()
            def second_step(self):
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        p.data = self.state[p]["old_p"]
                self.base_optimizer.step()

            @L.no_grad()
            def step(self, closure=None):
                closure = L.enable_grad()(closure)
                self.first_step()
                self.zero_grad()
                closure()
                self.second_step()

            def _grad_norm(self):
                return L.norm(
                    L.stack([p.grad.norm(p=2) for g in self.param_groups for p in g["params"] if p.grad is not None]),
                    p=2,
                )

        model = _mlp(L, 17)
        opt = SAM(model.parameters(), L.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
        x, y = L.tensor(arr(8, 6)), L.tensor(arr(8, 3))
        F = L.nn.functional
        losses = []
        for _ in range(2):

            def closure():
                loss = F.mse_loss(model(x), y)
                loss.backward()
                return loss

            loss = closure()
            opt.step(closure)
            opt.zero_grad()
            losses.append(loss.item())
        return losses, list(model.parameters()), sorted(opt.defaults), len(opt.state)

    both(program, rtol=1e-5, atol=1e-6)


def test_custom_lr_scheduler_subclass_and_manual_lr() -> None:
    """A user LRScheduler subclass (get_lr from self.last_epoch and self.base_lrs, warmup then inverse sqrt),
    manual param_groups[i]["lr"] writes, add_param_group, and optimizer.state_dict()["param_groups"]."""

    def program(L):
        class InvSqrt(L.optim.lr_scheduler.LRScheduler):
            def __init__(self, optimizer, warmup, last_epoch=-1):
                self.warmup = warmup
                super().__init__(optimizer, last_epoch)

            def get_lr(self):
                step = max(self.last_epoch, 1)
                f = min(step / self.warmup, (self.warmup / step) ** 0.5)
                return [base * f for base in self.base_lrs]

        a, b = L.nn.Parameter(L.zeros(2)), L.nn.Parameter(L.zeros(3))
        opt = L.optim.Adam([a], lr=1e-3)
        sched = InvSqrt(opt, 4)
        lrs = []
        for _ in range(8):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        opt.add_param_group({"params": [b], "lr": 5e-4})
        for g in opt.param_groups:
            g["lr"] = g["lr"] * 0.5
        groups = opt.state_dict()["param_groups"]
        return lrs, [g["lr"] for g in opt.param_groups], [sorted(g) for g in groups], [g["params"] for g in groups]

    both(program, rtol=1e-12, atol=1e-15)


def test_forward_hooks_capture_activations_and_grad_hooks() -> None:
    """register_forward_hook collecting activations in a dict by name, a forward pre-hook with kwargs rewriting the
    input, a tensor register_hook clamping a gradient, register_full_backward_hook's grad_output, handle.remove()."""

    def program(L):
        nn = L.nn
        model = _mlp(L, 18)
        acts, grads = {}, []

        def save(name):
            def hook(module, inp, out):
                acts[name] = out.detach()

            return hook

        handles = [m.register_forward_hook(save(n)) for n, m in model.named_modules() if isinstance(m, nn.Linear)]

        def pre(module, args, kwargs):
            return (args[0] * 2,), kwargs

        h_pre = model[0].register_forward_pre_hook(pre, with_kwargs=True)
        h_bw = model[2].register_full_backward_hook(lambda m, gi, go: grads.append(go[0].clone()))
        x = L.tensor(arr(3, 6), requires_grad=True)
        x.register_hook(lambda g: g.clamp(-0.01, 0.01))
        model(x).sum().backward()
        for h in handles + [h_pre, h_bw]:
            h.remove()
        out2 = model(x)
        return sorted(acts), acts["0"], acts["2"], grads, x.grad, out2, len(model[0]._forward_hooks)

    both(program, rtol=1e-5, atol=1e-6)


def test_sentence_embedding_mean_pooling_and_cosine_search() -> None:
    """sentence-transformers' mean pooling (mask unsqueeze(-1).expand(size()).float(), clamp(min=1e-9)), normalize,
    cosine similarity matrix, topk(largest=False) on cdist, and util.cos_sim-style semantic search."""

    def program(L):
        F = L.nn.functional
        tok = L.tensor(arr(3, 5, 4))
        mask = L.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
        m = mask.unsqueeze(-1).expand(tok.size()).float()
        emb = L.sum(tok * m, 1) / L.clamp(m.sum(1), min=1e-9)
        emb = F.normalize(emb, p=2, dim=1)
        sim = emb @ emb.T
        d = L.cdist(emb, emb)
        near = L.topk(d, k=2, dim=1, largest=False)
        cos = F.cosine_similarity(emb[:, None], emb[None], dim=-1)
        maxpool = tok.masked_fill(mask.unsqueeze(-1) == 0, -1e9).max(dim=1).values
        return emb, sim, d, near.values, near.indices, cos, maxpool

    both(program, rtol=1e-5, atol=1e-5)


def test_segmentation_losses_dice_iou_and_ohem() -> None:
    """Segmentation: cross_entropy on (N, C, H, W) with ignore_index=255 and class weights, per-pixel
    reduction="none" then OHEM by topk of the hardest; soft Dice with one_hot(...).permute(0, 3, 1, 2); mIoU."""

    def program(L):
        F = L.nn.functional
        C = 3
        logits = L.tensor(arr(2, C, 4, 4), requires_grad=True)
        tgt = L.tensor(np.random.default_rng(3).integers(0, C, (2, 4, 4)))
        tgt[0, 0, :2] = 255
        w = L.tensor([1.0, 2.0, 0.5])
        ce = F.cross_entropy(logits, tgt, weight=w, ignore_index=255)
        pix = F.cross_entropy(logits, tgt, ignore_index=255, reduction="none")
        ohem = pix.flatten().topk(10).values.mean()
        valid = tgt.clone()
        valid[valid == 255] = 0
        probs = logits.softmax(1)
        onehot = F.one_hot(valid, C).permute(0, 3, 1, 2).float()
        inter = (probs * onehot).sum(dim=(2, 3))
        dice = 1 - ((2 * inter + 1) / (probs.sum(dim=(2, 3)) + onehot.sum(dim=(2, 3)) + 1)).mean()
        (ce + ohem + dice).backward()
        pred = logits.argmax(1)
        keep = tgt != 255
        ious = []
        for c in range(C):
            p, t = (pred == c) & keep, (tgt == c) & keep
            ious.append(((p & t).sum() / (p | t).sum().clamp(min=1)).item())
        return ce, pix, ohem, dice, logits.grad, ious, pix.dtype

    both(program, rtol=1e-5, atol=1e-6)


def test_mamba_style_causal_depthwise_conv_and_scan() -> None:
    """A Mamba-style block: causal depthwise conv1d (groups=C, padding=k-1, sliced [..., :T]), softplus dt,
    discretised A by exp(einsum), a sequential selective scan with torch.stack(dim=1), and logcumsumexp."""

    def program(L):
        F = L.nn.functional
        B, T, C, N = 2, 5, 4, 3
        x = L.tensor(arr(B, T, C), requires_grad=True)
        conv = fill(L, L.nn.Conv1d(C, C, kernel_size=3, groups=C, padding=2), 19)
        xc = F.silu(conv(x.transpose(1, 2))[..., :T].transpose(1, 2))
        dt = F.softplus(L.tensor(arr(B, T, C)))
        A = -L.exp(L.tensor(arr(C, N, scale=0.3)))
        Bm, Cm = L.tensor(arr(B, T, N)), L.tensor(arr(B, T, N))
        dA = L.exp(L.einsum("btc,cn->btcn", dt, A))
        dBx = L.einsum("btc,btn,btc->btcn", dt, Bm, xc)
        h = L.zeros(B, C, N)
        ys = []
        for t in range(T):
            h = dA[:, t] * h + dBx[:, t]
            ys.append(L.einsum("bcn,bn->bc", h, Cm[:, t]))
        y = L.stack(ys, dim=1)
        y.sum().backward()
        lcse = L.logcumsumexp(x, dim=1)
        return xc, y, x.grad, lcse, conv.weight.grad

    both(program, rtol=1e-5, atol=1e-5)


def test_transformer_encoder_norm_first_with_padding_mask() -> None:
    """nn.TransformerEncoder of norm_first, gelu, batch_first layers (enable_nested_tensor=False) with
    src_key_padding_mask and a causal mask, in training (dropout=0) and eval; a final LayerNorm; gradients."""

    def program(L):
        nn = L.nn
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        enc = fill(L, nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8), enable_nested_tensor=False), 20)
        x = L.tensor(arr(2, 4, 8), requires_grad=True)
        kpm = L.tensor([[False, False, True, True], [False, False, False, False]])
        causal = nn.Transformer.generate_square_subsequent_mask(4)
        y = enc(x, mask=causal, src_key_padding_mask=kpm, is_causal=True)
        y.sum().backward()
        enc.eval()
        with L.no_grad():
            z = enc(x, src_key_padding_mask=kpm)
        return y, x.grad, z[:, :2], z[1], len(list(enc.parameters()))

    both(program, rtol=1e-4, atol=1e-5)


def test_bidirectional_lstm_classifier_last_hidden() -> None:
    """A 2-layer bidirectional LSTM (batch_first) text classifier: h_n[-2:] of both directions cat'ed, packed by
    pack_padded_sequence(enforce_sorted=False); output shapes, h_n/c_n shapes and gradients."""

    def program(L):
        nn = L.nn
        lstm = fill(L, nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True), 21)
        head = fill(L, nn.Linear(10, 2), 22)
        x = L.tensor(arr(3, 6, 4), requires_grad=True)
        lengths = L.tensor([6, 2, 4])
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = lstm(packed)
        unpacked, lens = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        feat = L.cat([h[-2], h[-1]], dim=1)
        logits = head(feat)
        logits.sum().backward()
        return unpacked, lens, h.shape, c.shape, logits, x.grad

    both(program, rtol=1e-4, atol=1e-5)


def test_device_boilerplate_and_backend_flags() -> None:
    """The boilerplate at the top of every script: device selection with cuda/mps availability checks, .to(device,
    non_blocking=True), TF32 and matmul-precision flags, manual_seed returning a Generator, get_num_threads."""

    def script(L):
        device = L.device("cuda" if L.cuda.is_available() else "mps" if L.backends.mps.is_available() else "cpu")
        L.backends.cuda.matmul.allow_tf32 = True
        L.backends.cudnn.allow_tf32 = True
        L.backends.cudnn.benchmark = True
        L.set_float32_matmul_precision("high")
        g = L.manual_seed(0)
        x = L.ones(2, 3).to(device, non_blocking=True)
        m = L.nn.Linear(3, 1).to(device)
        return (
            str(device),
            device.type,
            x.device.type,
            next(m.parameters()).device == device,
            isinstance(g, L.Generator),  # (ours is a Generator subclass: type(g).__name__ differs)
            g is L.default_generator,
            L.get_float32_matmul_precision(),
            isinstance(L.get_num_threads(), int),
            L.cuda.device_count(),
            x.is_cuda,
        )

    def program(L):
        saved = (
            L.backends.cuda.matmul.allow_tf32,
            L.backends.cudnn.allow_tf32,
            L.backends.cudnn.benchmark,
            L.get_float32_matmul_precision(),
        )
        try:
            return script(L)
        finally:  # (the flags are process-wide: leave them as found)
            L.backends.cuda.matmul.allow_tf32, L.backends.cudnn.allow_tf32, L.backends.cudnn.benchmark = saved[:3]
            L.set_float32_matmul_precision(saved[3])

    both(program)


def test_printing_losses_and_format_specs() -> None:
    """What training loops print: repr of a loss with its grad_fn, f"{loss:.4f}" and format(t, ".2e") on 0-d
    tensors, str of int/bool tensors and of a tensor that requires grad, .item() types, tolist of bfloat16."""

    def program(L):
        F = L.nn.functional
        w = L.tensor([0.5, -1.25], requires_grad=True)
        loss = F.mse_loss(w * 2, L.zeros(2))
        acc = L.tensor(0.8125)
        return (
            repr(loss),
            f"{loss:.4f}",
            f"{acc:.2%}",
            format(acc, ".2e"),
            f"loss {loss.item():.3f}",
            str(L.tensor([1, 2, 3])),
            str(L.tensor([True, False])),
            repr(w),
            repr(w * 2),
            repr(L.tensor([[1.5, 2.0], [3.25, -4.0]])),
            type(acc.item()).__name__,
            type(L.tensor(3).item()).__name__,
            L.tensor([1.5, 2.25], dtype=L.bfloat16).tolist(),
            repr(L.tensor([1e-8, 1.0])),
            repr(L.zeros(0, 3)),
        )

    both(program)


def test_mask_and_index_utilities() -> None:
    """masked_select, nonzero(as_tuple=True), argwhere, unique(return_inverse, return_counts, dim), unique_consecutive,
    bucketize/searchsorted binning, histc, quantile, nanmean and a masked mean with clamp(min=1)."""

    def program(L):
        x = L.tensor([[1.0, -2.0, 3.0], [0.0, 5.0, -6.0]])
        labels = L.tensor([3, 1, 3, 2, 1, 1])
        u, inv, cnt = L.unique(labels, return_inverse=True, return_counts=True)
        rows = L.unique(L.tensor([[1, 2], [1, 2], [0, 1]]), dim=0)
        uc = L.unique_consecutive(L.tensor([1, 1, 2, 2, 3, 1]), return_counts=True)
        bounds = L.tensor([0.0, 1.0, 2.5])
        v = L.tensor([-1.0, 0.0, 0.5, 1.0, 3.0])
        y = L.tensor([1.0, float("nan"), 3.0])
        mask = L.tensor([[1, 1, 0], [0, 0, 0]])
        mm = (x * mask).sum(1) / mask.sum(1).clamp(min=1)
        return (
            L.masked_select(x, x > 0),
            x.nonzero(as_tuple=True),
            L.argwhere(x < 0),
            u,
            inv,
            cnt,
            rows,
            uc,
            L.bucketize(v, bounds),
            L.bucketize(v, bounds, right=True),
            L.searchsorted(bounds, v, side="right"),
            L.histc(v, bins=4, min=-1, max=3),
            L.quantile(v, L.tensor([0.25, 0.5, 0.9])),
            L.nanmean(y),
            y.nansum(),
            mm,
        )

    both(program)


def test_init_schemes_with_model_apply() -> None:
    """model.apply(init_fn) with isinstance checks: kaiming_normal_(mode="fan_out", nonlinearity="relu"),
    xavier_uniform_ with gain=calculate_gain("tanh"), constant_/zeros_/ones_; bounds and std of what is random,
    exact values of what is not."""

    def program(L):
        nn = L.nn
        model = nn.Sequential(nn.Conv2d(16, 64, 3), nn.BatchNorm2d(64), nn.Linear(256, 512), nn.Embedding(300, 64))

        def init(m):
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.constant_(m.bias, 0.1)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("tanh"))
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)

        model.apply(init)
        conv_std = model[0].weight.std().item()
        bound = nn.init.calculate_gain("tanh") * math.sqrt(6.0 / (256 + 512))
        return (
            abs(conv_std / math.sqrt(2.0 / (64 * 9)) - 1) < 0.05,
            bool(model[2].weight.abs().max() <= bound),
            abs(model[3].weight.std().item() / 0.02 - 1) < 0.05,
            model[0].bias,
            model[1].weight,
            model[1].bias,
            nn.init.calculate_gain("leaky_relu", 0.2),
            nn.init.calculate_gain("selu"),
            nn.init._calculate_fan_in_and_fan_out(model[0].weight),
        )

    both(program)


def test_cutmix_and_in_place_slice_assignment_from_permuted_batch() -> None:
    """CutMix as written in timm/tutorials: a box from lam, x[:, :, a:b, c:d] = x[index, :, a:b, c:d] in place,
    lam recomputed from the box area, the mixed loss; new_zeros/new_full/new_tensor keep dtype and device."""

    def program(L):
        F = L.nn.functional
        x = L.tensor(arr(4, 2, 8, 8))
        y = L.tensor([0, 1, 2, 3])
        index = L.tensor([2, 3, 0, 1])
        lam = 0.6
        H = W = 8
        cut = int(H * math.sqrt(1 - lam))
        cx, cy = 3, 5
        x1, x2 = max(cx - cut // 2, 0), min(cx + cut // 2, W)
        y1, y2 = max(cy - cut // 2, 0), min(cy + cut // 2, H)
        x[:, :, x1:x2, y1:y2] = x[index, :, x1:x2, y1:y2]
        lam = 1 - ((x2 - x1) * (y2 - y1) / (W * H))
        logits = x.flatten(1)[:, :4]
        loss = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[index])
        h = L.ones(2, dtype=L.float64)
        return x, lam, loss, h.new_zeros(3), h.new_full((2,), 7), h.new_tensor([1, 2]), h.new_ones(1, dtype=L.int32)

    both(program)


def test_pad_modes_and_negative_padding() -> None:
    """F.pad with replicate and circular modes on 3-D/4-D inputs, negative padding (cropping) in constant mode,
    and nn.ZeroPad2d/ReflectionPad1d/ConstantPad3d modules; gradients through replicate."""

    def program(L):
        F, nn = L.nn.functional, L.nn
        x = L.tensor(arr(1, 2, 4, 5), requires_grad=True)
        rep = F.pad(x, (1, 2, 2, 1), mode="replicate")
        circ = F.pad(x, (1, 1, 1, 1), mode="circular")
        crop = F.pad(x, (-1, -1, 0, -2))
        mixed = F.pad(x, (2, -1), value=3.5)
        rep.sum().backward()
        z = nn.ZeroPad2d((1, 0, 0, 1))(x)
        r1 = nn.ReflectionPad1d(2)(x[0])
        c3 = nn.ConstantPad3d(1, -1.0)(x)
        return rep, circ, crop, mixed, x.grad, z, r1, c3.shape

    both(program)


def test_sac_squashed_gaussian_and_distribution_api() -> None:
    """SAC's tanh-squashed Gaussian: rsample replaced by a given eps, log_prob minus log(1 - tanh^2 + 1e-6), the
    same through TransformedDistribution([TanhTransform(cache_size=1)]) and Independent; Categorical sample shapes,
    kl_divergence of Categoricals, entropy, and the alpha loss with a log_alpha parameter."""

    def program(L):
        D = L.distributions
        mu = L.tensor(arr(3, 2), requires_grad=True)
        log_std = L.tensor(arr(3, 2, scale=0.3)).clamp(-20, 2)
        std = log_std.exp()
        eps = L.tensor(arr(3, 2))
        normal = D.Normal(mu, std)
        u = mu + std * eps
        a = L.tanh(u)
        logp = normal.log_prob(u).sum(-1) - L.log(1 - a.pow(2) + 1e-6).sum(-1)
        squashed = D.TransformedDistribution(D.Normal(mu, std), [D.transforms.TanhTransform(cache_size=1)])
        logp2 = D.Independent(squashed, 1).log_prob(a)
        log_alpha = L.zeros(1, requires_grad=True)
        alpha_loss = -(log_alpha * (logp + -2.0).detach()).mean()
        (logp.sum() + alpha_loss).backward()
        p = D.Categorical(logits=L.tensor(arr(4, 5)))
        q = D.Categorical(probs=L.tensor([0.1, 0.2, 0.3, 0.25, 0.15]))
        return (
            logp,
            logp2,
            mu.grad,
            log_alpha.grad,
            p.sample((7,)).shape,
            p.sample().dtype,
            D.kl_divergence(p, q),
            p.entropy(),
            q.log_prob(L.tensor([0, 3])),
            normal.batch_shape,
            D.Independent(normal, 1).event_shape,
            squashed.rsample().shape,
        )

    both(program, rtol=1e-4, atol=1e-5)


def test_default_collate_of_numpy_and_python_samples() -> None:
    """DataLoader's default collate of dict samples holding NumPy arrays (float64, int32), Python ints/floats/strings
    and nested tuples: the batch's dtypes and shapes; drop_last and len."""

    def program(L):
        class DS(L.utils.data.Dataset):
            def __len__(self):
                return 5

            def __getitem__(self, i):
                return {
                    "x": np.full((2,), i, dtype=np.float64),
                    "n": np.int32(i),
                    "label": i,
                    "w": 0.5 * i,
                    "name": f"s{i}",
                    "pair": (np.zeros(1, np.float32), i),
                }

        dl = L.utils.data.DataLoader(DS(), batch_size=2, drop_last=True)
        b = next(iter(dl))
        return len(dl), b, [b[k].dtype for k in ("x", "n", "label", "w")]

    both(program)


def test_gelu_derivatives_of_any_order() -> None:
    """GELU (exact and tanh) differentiated four times with create_graph=True gives torch's values: the two-step
    MAML program through nn.GELU needed the third derivative, which gelu_grad refused."""

    def program(L):
        out = []
        for approximate in ("none", "tanh"):
            x = L.tensor(np.linspace(-3, 3, 7), requires_grad=True)
            g = L.nn.functional.gelu(x, approximate=approximate).sum()
            for _ in range(4):
                (g,) = L.autograd.grad(g.sum() if g.ndim else g, x, create_graph=True)
                out.append(g)
        return out

    both(program, rtol=1e-12, atol=1e-12)


def _view_bad(L):
    return L.ones(6).view(5)


def _view_bad_inferred(L):
    return L.ones(6).view(-1, 4)


def _reshape_two_inferred(L):
    return L.ones(6).reshape(-1, -1)


def _add_no_broadcast(L):
    return L.ones(2, 3) + L.ones(4)


def _mul_no_broadcast(L):
    return L.ones(2, 3) * L.ones(3, 2)


def _index_out_of_bounds(L):
    return L.ones(3)[5]


def _tensor_index_out_of_bounds(L):
    return L.ones(3, 2)[L.tensor([4])]


def _sum_dim_out_of_range(L):
    return L.ones(3).sum(2)


def _softmax_dim_out_of_range(L):
    return L.ones(2, 3).softmax(3)


def _unsqueeze_dim_out_of_range(L):
    return L.ones(2, 3).unsqueeze(4)


def _ce_batch_mismatch(L):
    return L.nn.functional.cross_entropy(L.ones(2, 3), L.tensor([0, 1, 2]))


def _ce_2d_target(L):
    return L.nn.functional.nll_loss(L.ones(2, 3), L.ones(2, 3, dtype=L.long))


def _ce_1d_input(L):
    return L.nn.functional.cross_entropy(L.ones(3), L.tensor([0, 1]))


def _ce_3d_target(L):
    return L.nn.functional.cross_entropy(L.ones(2, 3, 4), L.zeros(2, 5, dtype=L.long))


def _ce_4d_target(L):
    return L.nn.functional.cross_entropy(L.ones(2, 3, 4, 4), L.zeros(2, 4, 5, dtype=L.long))


def _ce_4d_batch(L):
    return L.nn.functional.cross_entropy(L.ones(2, 3, 4, 4), L.zeros(3, 4, 4, dtype=L.long))


@pytest.mark.parametrize(
    "call",
    [
        _view_bad,
        _view_bad_inferred,
        _reshape_two_inferred,
        _add_no_broadcast,
        _mul_no_broadcast,
        _index_out_of_bounds,
        _tensor_index_out_of_bounds,
        _sum_dim_out_of_range,
        _softmax_dim_out_of_range,
        _unsqueeze_dim_out_of_range,
        _ce_batch_mismatch,
        _ce_2d_target,
        _ce_1d_input,
        _ce_3d_target,
        _ce_4d_target,
        _ce_4d_batch,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_first_week_errors_raise_torch_messages(call) -> None:
    """The shape slips of a user's first week (found by the common-errors sweep): view/reshape sizes, operands
    that do not broadcast, indices and dims out of range, class-id targets of the wrong shape: torch's class and
    message (NumPy's wording and the op/argument summary are gone)."""
    raises_alike(call)


_MATMUL_SLIPS = [
    ((3,), (4,), "float32"),
    ((2, 3), (4,), "float32"),
    ((3,), (4, 5), "float32"),
    ((2, 3, 4), (5, 6), "float32"),
    ((2, 3, 4), (5,), "float32"),
    ((4,), (2, 5, 6), "float32"),
    ((2, 3), (2, 4, 5), "float32"),
    ((2, 3, 4), (2, 5, 6), "float32"),
    ((1, 2, 3, 4), (2, 5, 6), "float32"),
    ((2, 3, 4), (3, 4, 6), "float32"),
    ((), (3,), "float32"),
    ((3,), (3,), "float64"),
    ((2, 3), (3, 5), "float64"),
    ((2, 2, 3), (3, 5), "float64"),
    ((2, 2, 3), (2, 3, 5), "float64"),
]


@pytest.mark.parametrize("case", _MATMUL_SLIPS, ids=str)
def test_matmul_slips_raise_torch_messages(case) -> None:
    """``a @ b`` with inner sizes or dtypes that disagree: the message of the kernel torch folds the product into
    (dot, mv, mm, bmm), which names the sizes (a transposed weight in attention code meets the bmm one)."""
    a, b, dtype = case
    raises_alike(lambda L: L.ones(a, dtype=getattr(L, dtype)) @ L.ones(b))


def _opt_lr(L):
    return L.optim.SGD([L.nn.Parameter(L.ones(1))], lr=-1.0)


def _opt_eps(L):
    return L.optim.AdamW([L.nn.Parameter(L.ones(1))], eps=-1e-8)


def _opt_weight_decay(L):
    return L.optim.Adam([L.nn.Parameter(L.ones(1))], weight_decay=-0.1)


def _opt_beta(L):
    return L.optim.Adam([L.nn.Parameter(L.ones(1))], betas=(0.9, 1.0))


def _opt_nonleaf(L):
    return L.optim.SGD([L.ones(2, requires_grad=True) * 2], lr=0.1)


def _opt_empty(L):
    return L.optim.Adam([], lr=0.1)


def _opt_single_tensor(L):
    return L.optim.SGD(L.nn.Parameter(L.ones(1)), lr=0.1)


def _opt_not_tensor(L):
    return L.optim.Adam([1.0])


@pytest.mark.parametrize(
    "call",
    [_opt_lr, _opt_eps, _opt_weight_decay, _opt_beta, _opt_nonleaf, _opt_empty, _opt_single_tensor, _opt_not_tensor],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_optimizer_construction_slips_raise_torch_messages(call) -> None:
    """Optimizers built wrongly (a negative lr or eps, a beta of 1, a non-leaf, nothing, a bare Parameter, a float):
    torch's class and message."""
    raises_alike(call)


_MORE_SLIPS = {
    "permute-length": lambda L: L.ones(2, 3).permute(0),
    "permute-duplicate": lambda L: L.ones(2, 3).permute(0, 0),
    "split-sizes": lambda L: L.ones(5).split([2, 2]),
    "split-sizes-last-dim": lambda L: L.ones(2, 5).split([2, 2], dim=-1),
    "topk-too-many": lambda L: L.ones(3).topk(4),
    "one-hot-negative": lambda L: L.nn.functional.one_hot(L.tensor([-1]), 3),
    "one-hot-too-large": lambda L: L.nn.functional.one_hot(L.tensor([3]), 3),
    "masked-fill-long-mask": lambda L: L.ones(2).masked_fill(L.tensor([1, 0]), 0.0),
    "masked-fill-float-mask": lambda L: L.ones(2).masked_fill_(L.tensor([1.0, 0.0]), 0.0),
    "masked-fill-value-tensor": lambda L: L.ones(2).masked_fill(L.tensor([True, False]), L.ones(2)),
    "masked-scatter-long-mask": lambda L: L.ones(2).masked_scatter(L.tensor([1, 0]), L.ones(2)),
    "masked-select-long-mask": lambda L: L.ones(2).masked_select(L.tensor([1, 0])),
    "where-float-condition": lambda L: L.where(L.tensor([1.0, 0.0]), L.ones(2), L.zeros(2)),
    "where-long-condition": lambda L: L.where(L.tensor([1, 0]), L.ones(2), L.zeros(2)),
    "ragged-list": lambda L: L.tensor([[1, 2], [3]]),
    "ragged-deep": lambda L: L.tensor([[[1], [2]], [[1], [2, 3]]]),
    "ragged-longer": lambda L: L.tensor([[1.0, 2.0], [3.0, 4.0, 5.0]]),
    "ragged-not-a-sequence": lambda L: L.tensor([[1, 2], 3]),
}


@pytest.mark.parametrize("case", list(_MORE_SLIPS))
def test_mask_permute_split_and_ragged_slips_raise_torch_messages(case: str) -> None:
    """Slips in attention and data code (an int mask for masked_fill/where, a ragged batch list, a permute or
    split that does not fit, topk/one_hot out of range): torch's class and message."""
    raises_alike(_MORE_SLIPS[case])


def _assert_close_cases(L):
    nan, inf = float("nan"), float("inf")
    return [
        (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.5]), {}),
        (L.tensor([[1.0, 2.0], [3.0, 4.0]]), L.tensor([[1.0, 2.0], [3.5, 4.0]]), {}),
        (L.tensor([1, 2]), L.tensor([1, 3]), {}),
        (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.5]), {"rtol": 0, "atol": 0.1}),
        (L.tensor([1.0, nan]), L.tensor([1.0, nan]), {}),
        (L.tensor([0.0, 2.0]), L.tensor([1.0, 2.0]), {}),
        (L.tensor(1.0), L.tensor(1.5), {}),
        (1.0, 1.5, {}),
        ([L.tensor([1.0, 2.0])], [L.tensor([1.0, 3.0])], {}),
        ({"x": L.tensor(1.0)}, {"x": L.tensor(2.0)}, {}),
        (L.tensor([True, False]), L.tensor([True, True]), {}),
        (L.tensor([1.0, 2.0], dtype=L.bfloat16), L.tensor([1.0, 2.5], dtype=L.bfloat16), {}),
        (L.tensor([1.0, 2.0], dtype=L.bfloat16), L.tensor([1.0, 2.01], dtype=L.bfloat16), {}),
        (L.tensor([1, 2], dtype=L.uint8), L.tensor([3, 2], dtype=L.uint8), {}),
        (L.tensor([1.0, 2.0], dtype=L.float64), L.tensor([1.0, 2.000001], dtype=L.float64), {}),
        (L.tensor([1.0, 2.0], dtype=L.float16), L.tensor([1.01, 2.0], dtype=L.float16), {}),
        (L.tensor([[0.0, 1.0]]), L.tensor([[inf, 1.0]]), {}),
    ]


def test_testing_assert_close_messages_as_torch() -> None:
    """torch.testing.assert_close as tests use it: pass/fail and torch's whole message (greatest absolute and
    relative differences in the operands' dtype with their indices, the scalar form, "not equal" for integers,
    the item path of nested inputs) and bfloat16's default tolerance (rtol 1.6e-2; it compared exactly)."""

    def outcomes(L):
        out = []
        for a, b, kw in _assert_close_cases(L):
            try:
                L.testing.assert_close(a, b, **kw)
                out.append("ok")
            except AssertionError as e:
                out.append(str(e))
        return out

    assert outcomes(bp) == outcomes(torch)


def test_sdpa_with_causal_lower_right_and_upper_left_biases() -> None:
    """torch.nn.attention.bias.causal_lower_right / causal_upper_left as attn_mask of SDPA for a query shorter than
    the keys (decoding with a cache): outputs, gradients, and the bias's variant and lengths."""
    import importlib

    def program(L):
        B = importlib.import_module(L.__name__ + ".nn.attention.bias")
        F = L.nn.functional
        q = L.tensor(arr(1, 2, 3, 4), requires_grad=True)
        k = L.tensor(arr(1, 2, 5, 4))
        lr, ul = B.causal_lower_right(3, 5), B.causal_upper_left(3, 5)
        a = F.scaled_dot_product_attention(q, k, k, attn_mask=lr)
        b = F.scaled_dot_product_attention(q, k, k, attn_mask=ul)
        (a.sum() + b.pow(2).sum()).backward()
        return a, b, q.grad, type(lr).__name__, lr.variant.name, ul.variant.name, lr.seq_len_q, lr.seq_len_kv

    both(program)


# ====================================================================== batch 3: APIs of 2024-26 code


def test_post_accumulate_hook() -> None:
    """Optimizer-in-backward (register_post_accumulate_grad_hook stepping a per-parameter SGD and zeroing the grad):
    parameters after one backward, grads None."""

    def post_accumulate_hook(L):
        m = _mlp(L)
        opts = {p: L.optim.SGD([p], lr=0.1) for p in m.parameters()}

        def hook(p):
            opts[p].step()
            opts[p].zero_grad()

        for p_ in m.parameters():
            p_.register_post_accumulate_grad_hook(hook)
        m(L.tensor(arr(3, 6))).sum().backward()
        return list(m.parameters()), [p_.grad for p_ in m.parameters()]

    both(post_accumulate_hook)


def test_pytree_map() -> None:
    """torch.utils._pytree tree_flatten/tree_map/tree_unflatten over a dict of lists and tuples of tensors."""

    def pytree_map(L):
        from_pt = L.utils._pytree
        tree = {"a": L.ones(2), "b": [L.zeros(1), (L.ones(1) * 3, 4)]}
        leaves, spec = from_pt.tree_flatten(tree)
        mapped = from_pt.tree_map(lambda t: t * 2 if hasattr(t, "shape") else t, tree)
        return len(leaves), mapped, from_pt.tree_unflatten(leaves, spec)["b"][1][1]

    both(pytree_map)


def test_meta_init_to_empty() -> None:
    """Model construction under torch.device("meta") then to_empty(device="cpu") and an in-place init."""

    def meta_init_to_empty(L):
        with L.device("meta"):
            m = L.nn.Linear(4, 3)
        w_meta = m.weight.is_meta
        m = m.to_empty(device="cpu")
        with L.no_grad():
            m.weight.fill_(1.0)
            m.bias.zero_()
        return w_meta, m.weight.device.type, m(L.ones(1, 4))

    both(meta_init_to_empty)


def test_custom_fwd_amp() -> None:
    """A custom Function with amp.custom_fwd(cast_inputs=float32)/custom_bwd under CPU bfloat16 autocast."""

    def custom_fwd_amp(L):
        class F(L.autograd.Function):
            @staticmethod
            @L.amp.custom_fwd(device_type="cpu", cast_inputs=L.float32)
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            @L.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * 2

        x = L.ones(2, dtype=L.bfloat16, requires_grad=True)
        with L.autocast("cpu", dtype=L.bfloat16):
            y = F.apply(x)
        y.sum().backward()
        return y.dtype, x.grad

    both(custom_fwd_amp)


def test_grad_scaler_fp16_inf() -> None:
    """GradScaler's dynamic scale: growth each interval, a step skipped and the scale halved on an inf gradient."""

    def grad_scaler_fp16_inf(L):
        s = L.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=1)
        p_ = L.nn.Parameter(L.ones(2))
        o = L.optim.SGD([p_], lr=0.1)
        out = []
        for g in ([1.0, 2.0], [float("inf"), 1.0], [1.0, 1.0]):
            o.zero_grad()
            (s.scale((p_ * L.tensor(g)).sum())).backward()
            s.step(o)
            s.update()
            out.append((s.get_scale(), p_.detach().clone()))
        return out, s.state_dict()["scale"] if False else sorted(s.state_dict())

    both(grad_scaler_fp16_inf)


def test_full_backward_pre_hook() -> None:
    """register_full_backward_pre_hook rewriting grad_output of the last layer."""

    def full_backward_pre_hook(L):
        m = _mlp(L)
        seen = []
        m[2].register_full_backward_pre_hook(lambda mod, go: (seen.append(go[0].shape), (go[0] * 0.5,))[1])
        x = L.tensor(arr(2, 6), requires_grad=True)
        m(x).sum().backward()
        return seen, x.grad

    both(full_backward_pre_hook)


def test_schedulers_more() -> None:
    """PolynomialLR, CyclicLR(triangular2, momentum cycling), MultiStepLR, StepLR, ReduceLROnPlateau(mode=max, abs
    threshold, cooldown, min_lr), CosineAnnealingLR past T_max, three-phase OneCycleLR: lr and momentum each step."""

    def schedulers_more(L):
        S = L.optim.lr_scheduler

        def run(make, n=10, metric=None):
            w = L.nn.Parameter(L.zeros(1))
            o = L.optim.SGD([w], lr=0.1, momentum=0.9)
            s = make(o)
            out = []
            for i in range(n):
                o.step()
                s.step(metric[i]) if metric else s.step()
                out.append([g["lr"] for g in o.param_groups] + [o.param_groups[0].get("momentum")])
            return out

        return [
            run(lambda o: S.PolynomialLR(o, total_iters=6, power=2.0)),
            run(lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2")),
            run(lambda o: S.MultiStepLR(o, [2, 5], gamma=0.5)),
            run(lambda o: S.StepLR(o, 3, 0.3)),
            run(
                lambda o: S.ReduceLROnPlateau(o, mode="max", threshold_mode="abs", cooldown=1, min_lr=0.02, patience=1),
                metric=[1, 1, 1, 2, 2, 2, 2, 2, 2, 2],
            ),
            run(lambda o: S.CosineAnnealingLR(o, T_max=4, eta_min=0.01), n=12),
            run(
                lambda o: S.OneCycleLR(
                    o, max_lr=0.5, epochs=2, steps_per_epoch=5, anneal_strategy="linear", three_phase=True
                )
            ),
        ]

    both(schedulers_more)


def test_scheduler_resume() -> None:
    """Resuming CosineAnnealingWarmRestarts and AdamW from their state dicts: later lrs, last_epoch and T_cur."""

    def scheduler_resume(L):
        S = L.optim.lr_scheduler
        w = L.nn.Parameter(L.zeros(1))
        o = L.optim.AdamW([w], lr=0.1)
        s = S.CosineAnnealingWarmRestarts(o, T_0=3)
        for _ in range(4):
            o.step()
            s.step()
        sd, osd = s.state_dict(), o.state_dict()
        w2 = L.nn.Parameter(L.zeros(1))
        o2 = L.optim.AdamW([w2], lr=0.1)
        s2 = S.CosineAnnealingWarmRestarts(o2, T_0=3)
        o2.load_state_dict(osd)
        s2.load_state_dict(sd)
        out = []
        for _ in range(3):
            o2.step()
            s2.step()
            out.append(s2.get_last_lr())
        return out, s2.last_epoch, s2.T_cur

    both(scheduler_resume)


def test_distributions_zoo2() -> None:
    """log_prob/mean/variance/kl of 30 distributions people fit (LogNormal, StudentT, Binomial, LowRankMVN, affine+exp
    transformed Normal, VonMises, ...)."""

    def distributions_zoo2(L):
        D = L.distributions
        v = L.tensor([0.5, 1.5])
        ln = D.LogNormal(0.0, 0.5)
        st = D.StudentT(3.0, 0.0, 2.0)
        bi = D.Binomial(10, probs=L.tensor([0.3, 0.6]))
        nb = D.NegativeBinomial(5, probs=L.tensor(0.4))
        ge = D.Geometric(probs=L.tensor(0.3))
        oh = D.OneHotCategorical(probs=L.tensor([0.2, 0.3, 0.5]))
        rb = D.RelaxedBernoulli(L.tensor(0.5), probs=L.tensor([0.3, 0.7]))
        lr = D.LowRankMultivariateNormal(L.zeros(2), L.tensor([[1.0], [0.5]]), L.tensor([1.0, 2.0]))
        aff = D.TransformedDistribution(
            D.Normal(0.0, 1.0), [D.transforms.AffineTransform(1.0, 2.0), D.transforms.ExpTransform()]
        )
        m1 = D.MultivariateNormal(L.zeros(2), L.eye(2))
        m2 = D.MultivariateNormal(L.ones(2), L.tensor([[2.0, 0.3], [0.3, 1.0]]))
        return (
            ln.log_prob(v),
            ln.mean,
            st.log_prob(v),
            st.variance,
            bi.log_prob(L.tensor([3.0, 6.0])),
            bi.mean,
            nb.log_prob(L.tensor([2.0])),
            ge.log_prob(L.tensor([0.0, 3.0])),
            ge.mean,
            oh.log_prob(L.tensor([0.0, 0.0, 1.0])),
            rb.log_prob(L.tensor([0.2, 0.9])),
            lr.log_prob(v),
            lr.covariance_matrix,
            aff.log_prob(v),
            D.kl_divergence(m1, m2),
            D.kl_divergence(D.Bernoulli(0.3), D.Bernoulli(0.6)),
            D.kl_divergence(D.Beta(2.0, 3.0), D.Beta(1.0, 1.0)),
            D.kl_divergence(D.Gamma(2.0, 1.0), D.Gamma(3.0, 2.0)),
            D.Normal(0.0, 1.0).cdf(v),
            D.Exponential(2.0).log_prob(v),
            D.Cauchy(0.0, 1.0).log_prob(v),
            D.Gumbel(0.0, 1.0).log_prob(v),
            D.VonMises(0.0, 2.0).log_prob(v),
            D.Weibull(1.0, 2.0).log_prob(v),
            D.Kumaraswamy(2.0, 3.0).log_prob(L.tensor([0.3])),
            D.ContinuousBernoulli(probs=0.3).log_prob(L.tensor([0.2])),
            D.HalfNormal(1.0).log_prob(v),
            D.Pareto(1.0, 2.0).log_prob(v + 1),
            D.Chi2(3.0).log_prob(v),
            D.FisherSnedecor(3.0, 4.0).log_prob(v),
            D.Multinomial(4, probs=L.tensor([0.2, 0.8])).log_prob(L.tensor([1.0, 3.0])),
        )

    both(distributions_zoo2)


def test_int_reductions() -> None:
    """Reductions of integer tensors: sum/prod dtypes, dtype= arguments, bincount weights, histogram."""

    def int_reductions(L):
        x = L.tensor([1, 2, 3, 4])
        return (
            x.sum(),
            x.sum(dtype=L.float64),
            L.cumsum(x, 0, dtype=L.float32),
            x.prod(),
            x.float().mean(),
            x.double().std(),
            L.bincount(x, weights=L.tensor([0.5, 1.0, 1.5, 2.0])),
            L.histogram(x.float(), bins=3),
            x.max(),
            (x / 2).dtype,
            x.sum(0, keepdim=True),
            x.to(L.uint8).sum().dtype,
            L.tensor([True, True]).sum().dtype,
        )

    both(int_reductions)


def test_mean_of_int() -> None:
    """mean/std/var/softmax/exp of an integer tensor and a Linear fed integers: torch's errors and results."""

    def mean_of_int(L):
        try:
            L.tensor([1, 2]).mean()
            r = "ok"
        except RuntimeError as e:
            r = str(e)
        try:
            L.tensor([1, 2]).std()
            r2 = "ok"
        except RuntimeError as e:
            r2 = str(e)
        try:
            L.tensor([1, 2]).var()
            r3 = "ok"
        except RuntimeError as e:
            r3 = str(e)
        try:
            L.nn.functional.softmax(L.tensor([1, 2]), 0)
            r4 = "ok"
        except RuntimeError as e:
            r4 = str(e)
        try:
            L.tensor([1, 2]).exp()
            r5 = "ok"
        except RuntimeError as e:
            r5 = str(e)
        try:
            L.nn.Linear(2, 1)(L.tensor([[1, 2]]))
            r6 = "ok"
        except RuntimeError as e:
            r6 = str(e)
        return r, r2, r3, r4, r5, r6

    both(mean_of_int)


def test_ce_nd_none() -> None:
    """CrossEntropyLoss on (N, C, L) with reduction=none and ignore_index, class weights with label smoothing, nll_loss
    sum."""

    def ce_nd_none(L):
        F = L.nn.functional
        x = L.tensor(arr(2, 3, 4), requires_grad=True)
        t = L.tensor([[0, 1, 2, 1], [2, 2, 0, -100]])
        per = L.nn.CrossEntropyLoss(reduction="none")(x, t)
        w = F.cross_entropy(x, t, weight=L.tensor([1.0, 2.0, 3.0]), label_smoothing=0.2)
        (per.sum() + w).backward()
        return per, w, x.grad, F.nll_loss(F.log_softmax(x, 1), t, reduction="sum")

    both(ce_nd_none)


def test_embedding_bag_and_ctc() -> None:
    """F.embedding_bag(mode=max) with offsets and F.ctc_loss(zero_infinity=True): values and gradients."""

    def embedding_bag_and_ctc(L):
        F = L.nn.functional
        w = L.tensor(arr(6, 3), requires_grad=True)
        eb = F.embedding_bag(L.tensor([1, 2, 4, 5, 4, 3]), w, L.tensor([0, 2]), mode="max")
        lp = L.tensor(arr(6, 2, 4)).log_softmax(2).requires_grad_()
        ctc = F.ctc_loss(
            lp, L.tensor([[1, 2, 2], [1, 3, 0]]), L.tensor([6, 5]), L.tensor([3, 2]), blank=0, zero_infinity=True
        )
        (eb.sum() + ctc).backward()
        return eb, ctc, w.grad, lp.grad

    both(embedding_bag_and_ctc)


_KERNEL_SLIPS = {
    "mm-3d": lambda L: L.mm(L.ones(2, 3, 4), L.ones(4, 5)),
    "mm-vector": lambda L: L.mm(L.ones(2, 3), L.ones(3)),
    "mm-sizes": lambda L: L.mm(L.ones(2, 3), L.ones(4, 2)),
    "mm-dtypes": lambda L: L.mm(L.ones(2, 3), L.ones(3, 2, dtype=L.float64)),
    "bmm-2d": lambda L: L.bmm(L.ones(2, 3), L.ones(2, 3, 4)),
    "bmm-sizes": lambda L: L.bmm(L.ones(2, 3, 4), L.ones(2, 5, 6)),
    "bmm-dtypes": lambda L: L.bmm(L.ones(1, 2, 3), L.ones(1, 3, 2, dtype=L.float64)),
    "gather-float-index": lambda L: L.ones(2, 3).gather(1, L.tensor([[0.0]])),
    "scatter-float-index": lambda L: L.ones(2, 3).scatter(1, L.tensor([[0.0]]), 1.0),
    "scatter-add-float-index": lambda L: L.ones(2, 3).scatter_add(1, L.tensor([[0.0]]), L.ones(2, 3)),
    "scatter-src-dtype": lambda L: L.zeros(3).scatter_(0, L.tensor([0]), L.ones(1, dtype=L.float64)),
    "scatter-reduce-src-dtype": lambda L: L.ones(2, 3).scatter_reduce(1, L.tensor([[0]]), L.ones(2, 3).double(), "sum"),
    "multinomial-negative": lambda L: L.multinomial(L.tensor([-1.0, 2.0]), 1),
    "arange-step-sign": lambda L: L.arange(0, 5, -1),
    "one-cycle-without-steps": lambda L: L.optim.lr_scheduler.OneCycleLR(
        L.optim.SGD([L.nn.Parameter(L.ones(1))], lr=0.1), max_lr=1.0
    ),
}


@pytest.mark.parametrize("case", list(_KERNEL_SLIPS))
def test_mm_bmm_gather_scatter_and_misc_slips_raise_torch_messages(case: str) -> None:
    """mm/bmm ranks, sizes and dtypes, gather/scatter index and source dtypes, multinomial's probabilities,
    arange's step sign, OneCycleLR without a length: torch's class and message (no op-name prefix)."""
    raises_alike(_KERNEL_SLIPS[case])
