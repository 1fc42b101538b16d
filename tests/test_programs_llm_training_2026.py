"""LLM-style training programs as torch users write them at small sizes, each written once as a function of the
library module and run with torch 2.13 and with ``backprop`` standing in for it from the same NumPy-made weights:
mixture-of-experts layers (softmax router, top-k, renormalised weights, dispatch by where/index_add_ and by
one_hot + einsum with capacity dropping, load-balancing and z losses), grouped-query attention, rotary embeddings,
RMSNorm, SwiGLU, and a tied-weight decoder trained with AdamW param groups, gradient accumulation, clipping, a
warm-up cosine LambdaLR, label smoothing, activation checkpointing and a state_dict round trip. Then the gaps these
programs found: ``scaled_dot_product_attention``'s node name, ``Module.to`` of complex buffers, ``polar`` under
bfloat16 autocast, and torch's texts for ``complex``/``polar`` parts, ``index_add_``/``index_copy_`` dtypes and
``bincount``'s domain."""

from __future__ import annotations

import io
import math
import warnings
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
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=rtol), path
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


def _weights(shapes: dict, seed: int, scale: float = 0.3) -> dict:
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) * scale).astype(np.float32) for k, s in shapes.items()}


# ---------------------------------------------------------------- mixture of experts

_MOE = _weights(dict(x=(2, 5, 8), router=(4, 8), noise=(4, 8), w1=(4, 16, 8), w2=(4, 8, 16), w3=(4, 16, 8)), 0)


def test_moe_layer_dispatch_and_auxiliary_losses() -> None:
    """A Mixtral-style sparse MoE (float32 router softmax, top-2, renormalised weights, tokens found by
    where(one_hot mask), gathered and added back with index_add_), a Switch-style dense dispatch (one_hot + cumsum
    capacity, einsum combine), noisy top-k gating after manual_seed, the load-balancing loss (bincount, one_hot mean)
    and the router z-loss: outputs, losses and gradients are torch's. Then the MoE's slips: a bfloat16 expert output
    added into a float32 buffer and ignore-index labels counted with bincount raise torch's texts (ours named our
    dtypes and added a suffix)."""

    def sparse(L: Any) -> list:
        F = L.nn.functional
        x = L.tensor(_MOE["x"], requires_grad=True)
        router, w1, w2, w3 = (L.tensor(_MOE[k], requires_grad=True) for k in ("router", "w1", "w2", "w3"))
        h = x.view(-1, 8)
        logits = F.linear(h, router)
        probs = F.softmax(logits, dim=1, dtype=L.float)
        topw, topi = L.topk(probs, 2, dim=-1)
        topw = (topw / topw.sum(dim=-1, keepdim=True)).to(h.dtype)
        out = L.zeros((h.shape[0], 8), dtype=h.dtype)
        mask = F.one_hot(topi, num_classes=4).permute(2, 1, 0)
        hit = L.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in hit.squeeze(-1).tolist():
            idx, top_x = L.where(mask[e])
            cur = h[None, top_x].reshape(-1, 8)
            y = F.linear(F.silu(F.linear(cur, w1[e])) * F.linear(cur, w3[e]), w2[e]) * topw[top_x, idx, None]
            out.index_add_(0, top_x, y.to(h.dtype))
        counts = L.bincount(topi.flatten(), minlength=4)
        tokens_per_expert = F.one_hot(topi, 4).float().mean(dim=0)
        aux = (tokens_per_expert * probs.mean(dim=0).unsqueeze(0)).sum() * 4
        z = L.logsumexp(logits, dim=-1).pow(2).mean()
        loss = out.pow(2).mean() + 0.01 * aux + 0.001 * z
        loss.backward()
        return [out.view_as(x), loss, aux, z, counts, hit, x.grad, router.grad, w1.grad, w2.grad, w3.grad]

    def dense(L: Any) -> list:
        F = L.nn.functional
        L.manual_seed(0)
        x = L.tensor(_MOE["x"].reshape(10, 8), requires_grad=True)
        wr, wn = L.tensor(_MOE["router"], requires_grad=True), L.tensor(_MOE["noise"], requires_grad=True)
        logits = x @ wr.T
        noisy = logits + L.randn_like(logits) * F.softplus(x @ wn.T)
        topv, topi = noisy.topk(2, dim=-1)
        gates = F.softmax(L.full_like(noisy, float("-inf")).scatter(-1, topi, topv), dim=-1)
        cap = 3
        mask = F.one_hot(topi[:, 0], 4)
        loc = L.cumsum(mask, dim=0) - 1
        mask = mask * L.lt(loc, cap)
        loc_s = L.sum(loc * mask, dim=1)
        combine = L.einsum("s,se,sc->sec", gates.max(-1).values, mask.float(), F.one_hot(loc_s, cap).float())
        expert_in = L.einsum("sec,sm->ecm", combine.bool().type_as(x), x)
        out = L.einsum("sec,ecm->sm", combine, expert_in * 2.0)
        l_aux = L.mean(gates.mean(0) * mask.float().mean(0)) * 16
        (out.sum() + l_aux).backward()
        return [noisy, gates, loc, combine, out, l_aux, x.grad, wr.grad, wn.grad]

    same_as_torch(sparse)
    same_as_torch(dense)
    idx = [0, 2, 2]
    raises_as_torch(lambda L: L.zeros(3, 4).index_add_(0, L.tensor(idx), L.ones(3, 4, dtype=L.bfloat16)))
    raises_as_torch(lambda L: L.index_add(L.zeros(3, 4), 0, L.tensor(idx), L.ones(3, 4).double()))
    raises_as_torch(lambda L: L.zeros(3, 4).index_copy_(0, L.tensor([0, 1]), L.ones(2, 4).long()))
    raises_as_torch(lambda L: L.bincount(L.tensor([3, -100, 1])))
    raises_as_torch(lambda L: L.tensor([[0, 1]]).bincount())
    raises_as_torch(lambda L: L.bincount(L.tensor([0, 1]), weights=L.ones(3)))
    raises_as_torch(lambda L: L.bincount(L.tensor([0, 1]), minlength=-1))


# ---------------------------------------------------------------- attention, rotary embeddings, norms

_ATT = _weights(dict(q=(2, 4, 6, 8), k=(2, 2, 6, 8), v=(2, 2, 6, 8)), 1, 1.0)


def test_gqa_rotary_rmsnorm_swiglu() -> None:
    """Grouped-query attention by repeat_interleave, by expand + reshape and by enable_gqa (causal, bool and float
    masks, scale=), complex and rotate-half rotary embeddings, nn.RMSNorm against the hand-written rsqrt form and a
    SwiGLU MLP: values and gradients are torch's, and so are the attention outputs' node names (torch's CPU flash
    kernel: ``ScaledDotProductFlashAttentionForCpuBackward0`` for 4-D inputs without dropout, where ours were the
    final matmul's ``UnsafeViewBackward0``)."""

    def attention(L: Any) -> list:
        F = L.nn.functional
        q, k, v = (L.tensor(_ATT[n], requires_grad=True) for n in "qkv")
        causal = L.ones(6, 6, dtype=L.bool).tril(diagonal=0)
        ke = k[:, :, None].expand(2, 2, 2, 6, 8).reshape(2, 4, 6, 8)
        ve = v[:, :, None, :, :].expand(-1, -1, 2, -1, -1).reshape(2, 4, 6, 8)
        outs = [
            F.scaled_dot_product_attention(q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, 1), is_causal=True),
            F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
            F.scaled_dot_product_attention(q, ke, ve, attn_mask=causal, scale=0.2),
            F.scaled_dot_product_attention(q, ke, ve, attn_mask=L.zeros(6, 6).masked_fill(~causal, float("-inf"))),
            F.scaled_dot_product_attention(q[0], ke[0], ve[0], is_causal=True),  # 3-D: torch's math path
        ]
        att = (q @ ke.transpose(-2, -1)) * (1.0 / math.sqrt(8))
        outs.append(F.softmax(att.masked_fill(~causal, float("-inf")), dim=-1) @ ve)
        sum(o.pow(2).sum() for o in outs).backward()
        names = [o.grad_fn.name() for o in outs]
        return [*outs, q.grad, k.grad, v.grad, names]

    def rotary_norm_mlp(L: Any) -> list:
        nn, F = L.nn, L.nn.functional
        T, D = 6, 8
        freqs = 1.0 / (10000 ** (L.arange(0, D, 2)[: D // 2].float() / D))
        freqs = L.outer(L.arange(T, dtype=L.float32), freqs)
        cis = L.polar(L.ones_like(freqs), freqs)
        x = L.tensor(_ATT["q"].transpose(0, 2, 1, 3).copy(), requires_grad=True)  # (B, T, H, D)
        xc = L.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        rot1 = L.view_as_real(xc * cis.view(1, T, 1, D // 2)).flatten(3).type_as(x)
        emb = L.cat((freqs, freqs), dim=-1)
        xt = x.transpose(1, 2)
        halves = L.cat((-xt[..., D // 2 :], xt[..., : D // 2]), dim=-1)
        rot2 = xt * emb.cos()[None, None] + halves * emb.sin()[None, None]
        norm = nn.RMSNorm(D, eps=1e-6)
        with L.no_grad():
            norm.weight.copy_(L.linspace(0.5, 1.5, D))
        xf = rot1.float()
        hand = (xf * L.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).type_as(rot1) * norm.weight
        normed = norm(rot1)
        w = {n: L.tensor(_MOE[n][0], requires_grad=True) for n in ("w1", "w2", "w3")}
        mlp = F.linear(F.silu(F.linear(normed, w["w1"])) * F.linear(normed, w["w3"]), w["w2"])
        (mlp.sum() + rot2.pow(2).sum() + hand.sum()).backward()
        return [cis, rot1, rot2, normed, hand, mlp, x.grad, norm.weight.grad, w["w1"].grad, repr(norm)]

    same_as_torch(attention)
    same_as_torch(rotary_norm_mlp)


def test_rotary_polar_under_bf16_autocast() -> None:
    """Rotary angles made in the activations' dtype (bfloat16 under CPU autocast) and turned into ``polar``'s
    complex factors: torch's autocast runs ``polar`` in float32 (complex64 factors, then bfloat16 queries again);
    ours refused bfloat16 parts. Outside autocast the parts' slips raise torch's texts (ours had its own words)."""

    def program(L: Any) -> list:
        x = L.tensor(_ATT["q"].transpose(0, 2, 1, 3).copy(), requires_grad=True)  # (B, T, H, D)
        with L.autocast(device_type="cpu", dtype=L.bfloat16):
            h = L.nn.functional.linear(x, L.eye(8))  # bfloat16 activations
            inv_freq = 1.0 / (10000 ** (L.arange(0, 8, 2).float() / 8))
            angles = L.outer(L.arange(6).to(h.dtype), inv_freq.to(h.dtype))
            cis = L.polar(L.ones_like(angles), angles)
            hc = L.view_as_complex(h.float().reshape(*h.shape[:-1], -1, 2))
            out = L.view_as_real(hc * cis[None, :, None]).flatten(3).type_as(h)
        out.float().pow(2).sum().backward()
        return [angles, cis, out, x.grad]

    same_as_torch(program, rtol=2e-2)
    bf = [1.0, 2.0]
    raises_as_torch(lambda L: L.polar(L.tensor(bf, dtype=L.bfloat16), L.tensor(bf, dtype=L.bfloat16)))
    raises_as_torch(lambda L: L.polar(L.tensor(bf, dtype=L.float16), L.tensor(bf, dtype=L.float16)))
    raises_as_torch(lambda L: L.complex(L.tensor(bf, dtype=L.bfloat16), L.tensor(bf)))
    raises_as_torch(lambda L: L.complex(L.tensor(bf), L.tensor(bf, dtype=L.float64)))
    raises_as_torch(lambda L: L.complex(L.tensor(bf, dtype=L.float16), L.tensor(bf)))
    raises_as_torch(lambda L: L.complex(L.tensor(bf), 1.0))


def test_module_to_casts_complex_buffers_as_torch() -> None:
    """A llama-style module keeping its rotary ``freqs_cis`` (complex64) as a non-persistent buffer: torch's
    ``model.to(torch.bfloat16)`` casts complex tensors too (to the real dtype, warning that the imaginary part is
    discarded) and ``model.to(torch.complex128)`` widens them, warning that complex modules are new; ours left complex
    buffers as they were, so the same program went on with other values. ``half()``/``bfloat16()``/``float()`` cast
    floating tensors only, as torch's."""

    def program(L: Any) -> list:
        nn = L.nn

        class Rotary(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.proj = nn.Linear(4, 4)
                angles = L.outer(L.arange(3).float(), L.tensor([1.0, 0.1]))
                self.register_buffer("freqs_cis", L.polar(L.ones(3, 2), angles), persistent=False)
                self.register_buffer("mask", L.ones(3, 3).tril().bool())

        m = Rotary()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wide = Rotary().to(L.complex128)
            half, single = Rotary().half(), Rotary().bfloat16().float()  # (these cast floating tensors only)
            low = m.to(L.bfloat16)
        texts = sorted({str(w.message).split(" (Triggered")[0][:60] for w in caught})
        kept = list(m.state_dict())
        wides = [wide.freqs_cis, wide.proj.bias.dtype, half.freqs_cis, half.proj.weight.dtype, single.freqs_cis]
        return [kept, low.freqs_cis, low.mask, low.proj.weight.dtype, *wides, texts]

    same_as_torch(program, rtol=1e-2)


# ---------------------------------------------------------------- a decoder trained end to end

V, C, T = 17, 8, 6
_DATA = np.random.default_rng(3).integers(0, V, (8, 2, T + 1))


def _gpt(L: Any, checkpointed: bool) -> Any:
    nn, F = L.nn, L.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.attn, self.proj = nn.RMSNorm(C), nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.norm2, self.fc, self.out = nn.LayerNorm(C), nn.Linear(C, 2 * C), nn.Linear(2 * C, C)

        def forward(self, x: Any) -> Any:
            B, T_, _ = x.shape
            q, k, v = self.attn(self.norm1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T_, 2, C // 2).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            if y.grad_fn is not None:
                self.node = y.grad_fn.name()
            x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T_, C))
            return x + self.out(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.h = nn.ModuleList([Block() for _ in range(2)])
            self.ln_f = nn.LayerNorm(C)
            self.lm_head = nn.Linear(C, V, bias=False)
            self.wte.weight = self.lm_head.weight  # weight tying

        def forward(self, idx: Any) -> Any:
            x = self.wte(idx) + self.wpe(L.arange(0, idx.size(1), dtype=L.long))
            for block in self.h:
                x = L.utils.checkpoint.checkpoint(block, x, use_reentrant=False) if checkpointed else block(x)
            return self.lm_head(self.ln_f(x))

    model = GPT()
    rng = np.random.default_rng(4)
    with L.no_grad():
        for p in model.parameters():
            p.copy_(L.tensor((rng.standard_normal(tuple(p.shape)) * 0.2).astype(np.float32)))
    return model


def _param_groups(model: Any) -> list:
    """Weight decay for the matrices, none for norms and biases (a no_decay list of name parts)."""
    no_decay = ["bias", "norm", "ln_"]
    return [
        {"params": [p for n, p in model.named_parameters() if not any(s in n for s in no_decay)], "weight_decay": 0.1},
        {"params": [p for n, p in model.named_parameters() if any(s in n for s in no_decay)], "weight_decay": 0.0},
    ]


def _train(L: Any, checkpointed: bool = False, accum: int = 2, bf16: bool = False) -> list:
    F = L.nn.functional
    model = _gpt(L, checkpointed)
    opt = L.optim.AdamW(_param_groups(model), lr=3e-3, betas=(0.9, 0.95), eps=1e-8)

    def warmup_cosine(step: int, warm: int = 2, total: int = 6) -> float:
        if step < warm:
            return float(step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = L.optim.lr_scheduler.LambdaLR(opt, warmup_cosine)
    record: list = []
    for step in range(3):
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(accum):
            batch = L.tensor(_DATA[step * accum % 8 + micro, :, :T])
            inputs, labels = batch, batch.clone()
            labels[0, :2] = -100
            with L.autocast(device_type="cpu", dtype=L.bfloat16, enabled=bf16):
                logits = model(inputs)
            shift_logits = logits[..., :-1, :].contiguous()
            shift_labels = labels[..., 1:].contiguous()
            flat_logits, flat_labels = shift_logits.view(-1, V), shift_labels.view(-1)
            loss = F.cross_entropy(flat_logits, flat_labels, ignore_index=-100, label_smoothing=0.1)
            z_loss = 1e-4 * L.logsumexp(shift_logits, dim=-1).pow(2).mean()
            loss = (loss + z_loss) / accum
            loss.backward()
            total += loss.item()
        norm = L.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True, error_if_nonfinite=True)
        opt.step()
        sched.step()
        record += [total, math.exp(total), norm, sched.get_last_lr()]
    record += [
        sum(p.numel() for p in model.parameters()),
        sum(p.numel() for p in model.parameters() if p.requires_grad),
        [len(g["params"]) for g in opt.param_groups],
        [b.node for b in model.h],
        model.lm_head.weight,
        model.h[1].fc.bias,
    ]
    buf = io.BytesIO()
    L.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = L.load(buf, weights_only=True)
    again = _gpt(L, checkpointed)
    missing = again.load_state_dict(ckpt["model"])
    opt2 = L.optim.AdamW(_param_groups(again), lr=3e-3)
    opt2.load_state_dict(ckpt["opt"])
    with L.no_grad():
        logits = again(L.tensor(_DATA[0, :, :T]))
    return [*record, list(ckpt["model"]), str(missing), logits, [g["lr"] for g in opt2.param_groups]]


def test_decoder_training_loop() -> None:
    """A tied-weight decoder (RMSNorm, causal attention, tanh-GELU MLP) trained three steps with AdamW param groups
    excluding norms and biases, two accumulated micro-batches, shifted labels with ignore_index=-100 and label
    smoothing, a z-loss, clip_grad_norm_ (foreach, error_if_nonfinite) and a warm-up cosine LambdaLR, plainly and
    with activation checkpointing: the losses, perplexities, norms, rates, parameter counts, parameters, the
    attention's node name and a state_dict round trip through save/load are torch's."""
    same_as_torch(_train, rtol=1e-4)
    same_as_torch(lambda L: _train(L, checkpointed=True, accum=1), rtol=1e-4)


def test_checkpointed_decoder_under_bf16_autocast() -> None:
    """The same loop with the forward under CPU bfloat16 autocast and each block checkpointed
    (use_reentrant=False): torch's checkpoint recomputes a block under the autocast state its forward ran in, so the
    recomputed activations are bfloat16 as the saved ones were; ours recomputed outside autocast (backward runs
    after the region) and stopped with a dtype mismatch between the saved and recomputed tensors."""
    same_as_torch(lambda L: _train(L, checkpointed=True, accum=1, bf16=True), rtol=3e-2)
