"""Famous, widely copied torch programs run with ``backprop`` standing in for ``torch``.

Each program is written once, as a function of the library module (``torch`` or ``backprop``), as
close to its original as small sizes allow: Karpathy's nanoGPT (``model.py`` and ``train.py``'s loop),
the makemore / "zero to hero" lectures (bigram counts and net, the MLP, BatchNorm diagnostics, the
backprop-ninja manual backward, the WaveNet), micrograd's test against torch, and the PyTorch tutorials
(60-minute blitz, Learning PyTorch with Examples, "What is torch.nn really?"). Data are synthetic and
made with NumPy; initial weights come from NumPy or are copied from torch's model, so the two runs
compare step by step (random streams differ by design, README). Without torch the programs still run
on backprop and check what they can alone; the comparisons are skipped.
"""

# The programs keep their originals' spelling (unused loop variables, class names, super(Net, self)).
# ruff: noqa: B007, B020, N801, UP008, UP031

from __future__ import annotations

import inspect
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pytest

import backprop

try:
    import torch as real_torch
except ImportError:  # pragma: no cover - the comparisons skip
    real_torch = None


@pytest.fixture(autouse=True)
def _restore_global_flags():
    """The programs set process-wide switches (nanoGPT's ``allow_tf32``): put them back for later tests."""
    libs = [lib for lib in (backprop, real_torch) if lib is not None]
    saved = [
        (lib, lib.backends.cuda.matmul.allow_tf32, lib.backends.cudnn.allow_tf32, lib.get_float32_matmul_precision())
        for lib in libs
    ]
    yield
    for lib, matmul_tf32, cudnn_tf32, precision in saved:
        lib.backends.cuda.matmul.allow_tf32 = matmul_tf32
        lib.backends.cudnn.allow_tf32 = cudnn_tf32
        lib.set_float32_matmul_precision(precision)


# ------------------------------------------------------------------ nanoGPT: model.py and train.py


@dataclass
class GPTConfig:
    block_size: int = 16
    vocab_size: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 16
    dropout: float = 0.0
    bias: bool = True


def build(torch):
    nn = torch.nn
    F = torch.nn.functional

    class LayerNorm(nn.Module):
        """LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False"""

        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, input):
            return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self, config, flash=True):
            super().__init__()
            assert config.n_embd % config.n_head == 0
            # key, query, value projections for all heads, but in a batch
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            # output projection
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            # regularization
            self.attn_dropout = nn.Dropout(config.dropout)
            self.resid_dropout = nn.Dropout(config.dropout)
            self.n_head = config.n_head
            self.n_embd = config.n_embd
            self.dropout = config.dropout
            # flash attention make GPU go brrrrr but support is only in PyTorch >= 2.0
            self.flash = hasattr(torch.nn.functional, "scaled_dot_product_attention") and flash
            if not self.flash:
                # causal mask to ensure that attention is only applied to the left in the input sequence
                self.register_buffer(
                    "bias",
                    torch.tril(torch.ones(config.block_size, config.block_size)).view(
                        1, 1, config.block_size, config.block_size
                    ),
                )

        def forward(self, x):
            B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)

            # calculate query, key, values for all heads in batch and move head forward to be the batch dim
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

            # causal self-attention; Self-attend: (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
            if self.flash:
                # efficient attention using Flash Attention CUDA kernels
                y = torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
                )
            else:
                # manual implementation of attention
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                att = self.attn_dropout(att)
                y = att @ v  # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
            y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side

            # output projection
            y = self.resid_dropout(self.c_proj(y))
            return y

    class MLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            x = self.c_fc(x)
            x = self.gelu(x)
            x = self.c_proj(x)
            x = self.dropout(x)
            return x

    class Block(nn.Module):
        def __init__(self, config, flash=True):
            super().__init__()
            self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
            self.attn = CausalSelfAttention(config, flash)
            self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
            self.mlp = MLP(config)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            x = x + self.mlp(self.ln_2(x))
            return x

    class GPT(nn.Module):
        def __init__(self, config, flash=True):
            super().__init__()
            assert config.vocab_size is not None
            assert config.block_size is not None
            self.config = config

            self.transformer = nn.ModuleDict(
                dict(
                    wte=nn.Embedding(config.vocab_size, config.n_embd),
                    wpe=nn.Embedding(config.block_size, config.n_embd),
                    drop=nn.Dropout(config.dropout),
                    h=nn.ModuleList([Block(config, flash) for _ in range(config.n_layer)]),
                    ln_f=LayerNorm(config.n_embd, bias=config.bias),
                )
            )
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            # with weight tying when using torch.compile() some warnings get generated:
            # "UserWarning: functional_call was passed multiple values for tied weights.
            # This behavior is deprecated and will be an error in future versions"
            # not 100% sure what this is, so far seems to be harmless. TODO investigate
            self.transformer.wte.weight = self.lm_head.weight  # https://paperswithcode.com/method/weight-tying

            # init all weights
            self.apply(self._init_weights)
            # apply special scaled init to the residual projections, per GPT-2 paper
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

            # report number of parameters
            self.n_params_report = "number of parameters: %.2fM" % (self.get_num_params() / 1e6,)

        def get_num_params(self, non_embedding=True):
            n_params = sum(p.numel() for p in self.parameters())
            if non_embedding:
                n_params -= self.transformer.wpe.weight.numel()
            return n_params

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            device = idx.device
            b, t = idx.size()
            assert t <= self.config.block_size, (
                f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}"
            )
            pos = torch.arange(0, t, dtype=torch.long, device=device)  # shape (t)

            # forward the GPT model itself
            tok_emb = self.transformer.wte(idx)  # token embeddings of shape (b, t, n_embd)
            pos_emb = self.transformer.wpe(pos)  # position embeddings of shape (t, n_embd)
            x = self.transformer.drop(tok_emb + pos_emb)
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)

            if targets is not None:
                # if we are given some desired targets also calculate the loss
                logits = self.lm_head(x)
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            else:
                # inference-time mini-optimization: only forward the lm_head on the very last position
                logits = self.lm_head(x[:, [-1], :])  # note: using list [-1] to preserve the time dim
                loss = None

            return logits, loss

        def crop_block_size(self, block_size):
            # model surgery to decrease the block size if necessary
            assert block_size <= self.config.block_size
            self.config.block_size = block_size
            self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])
            for block in self.transformer.h:
                if hasattr(block.attn, "bias"):
                    block.attn.bias = block.attn.bias[:, :, :block_size, :block_size]

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            # start with all of the candidate parameters
            param_dict = {pn: p for pn, p in self.named_parameters()}
            # filter out those that do not require grad
            param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
            # create optim groups. Any parameters that is 2D will be weight decayed, otherwise no.
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {"params": decay_params, "weight_decay": weight_decay},
                {"params": nodecay_params, "weight_decay": 0.0},
            ]
            num_decay_params = sum(p.numel() for p in decay_params)
            num_nodecay_params = sum(p.numel() for p in nodecay_params)
            self.opt_report = (len(decay_params), num_decay_params, len(nodecay_params), num_nodecay_params)
            # Create AdamW optimizer and use the fused version if it is available
            fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
            use_fused = fused_available and device_type == "cuda"
            extra_args = dict(fused=True) if use_fused else dict()
            optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
            self.used_fused = use_fused
            self.fused_available = fused_available
            return optimizer

        def estimate_mfu(self, fwdbwd_per_iter, dt):
            """estimate model flops utilization (MFU) in units of A100 bfloat16 peak FLOPS"""
            N = self.get_num_params()
            cfg = self.config
            L, H, Q, T = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.block_size
            flops_per_token = 6 * N + 12 * L * H * Q * T
            flops_per_fwdbwd = flops_per_token * T
            flops_per_iter = flops_per_fwdbwd * fwdbwd_per_iter
            flops_achieved = flops_per_iter * (1.0 / dt)  # per second
            flops_promised = 312e12  # A100 GPU bfloat16 peak flops is 312 TFLOPS
            mfu = flops_achieved / flops_promised
            return mfu

        @torch.no_grad()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
            for _ in range(max_new_tokens):
                # if the sequence context is growing too long we must crop it at block_size
                idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size :]
                # forward the model to get the logits for the index in the sequence
                logits, _ = self(idx_cond)
                # pluck the logits at the final step and scale by desired temperature
                logits = logits[:, -1, :] / temperature
                # optionally crop the logits to only the top k options
                if top_k is not None:
                    v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                    logits[logits < v[:, [-1]]] = -float("Inf")
                # apply softmax to convert logits to (normalized) probabilities
                probs = F.softmax(logits, dim=-1)
                # sample from the distribution
                idx_next = torch.multinomial(probs, num_samples=1)
                # append sampled index to the running sequence and continue
                idx = torch.cat((idx, idx_next), dim=1)

            return idx

    return GPT


def copy_state(src_model, dst_model, dst_torch):
    """Copy weights from one library's model into another's (state_dict -> numpy -> load_state_dict)."""
    sd = {k: dst_torch.from_numpy(np.array(v.detach().cpu().numpy())) for k, v in src_model.state_dict().items()}
    dst_model.load_state_dict(sd)


def make_data(dirpath, vocab_size=32, n=2000):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        arr = rng.integers(0, vocab_size, size=n).astype(np.uint16)
        arr.tofile(os.path.join(dirpath, f"{split}.bin"))


def train(torch, dirpath, init_state=None, flash=True, max_iters=6, dtype="float32", batch_order=None):
    """train.py's loop essentials; returns a trace of values to compare."""
    GPT = build(torch)
    out_dir = dirpath
    eval_interval = 3
    eval_iters = 2
    gradient_accumulation_steps = 2
    batch_size = 4
    block_size = 8
    learning_rate = 6e-4
    weight_decay = 1e-1
    beta1, beta2 = 0.9, 0.95
    grad_clip = 1.0
    decay_lr = True
    warmup_iters = 2
    lr_decay_iters = 6
    min_lr = 6e-5
    device = "cpu"
    compile = False
    always_save_checkpoint = True
    seed_offset = 0
    torch.manual_seed(1337 + seed_offset)
    torch.backends.cuda.matmul.allow_tf32 = True  # allow tf32 on matmul
    torch.backends.cudnn.allow_tf32 = True  # allow tf32 on cudnn
    device_type = "cuda" if "cuda" in device else "cpu"  # for later use in torch.autocast
    ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    ctx = nullcontext() if device_type == "cpu" else torch.amp.autocast(device_type=device_type, dtype=ptdtype)

    data_dir = dirpath
    batch_rng = np.random.default_rng(1) if batch_order is None else batch_order

    def get_batch(split):
        # We recreate np.memmap every batch to avoid a memory leak, as per
        # https://stackoverflow.com/questions/45132940/numpy-memmap-memory-usage-want-to-iterate-once/61472122#61472122
        if split == "train":
            data = np.memmap(os.path.join(data_dir, "train.bin"), dtype=np.uint16, mode="r")
        else:
            data = np.memmap(os.path.join(data_dir, "val.bin"), dtype=np.uint16, mode="r")
        ix = torch.from_numpy(batch_rng.integers(0, len(data) - block_size, size=(batch_size,)))
        x = torch.stack([torch.from_numpy((data[i : i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix])
        if device_type == "cuda":
            # pin arrays x,y, which allows us to move them to GPU asynchronously (non_blocking=True)
            x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        else:
            x, y = x.to(device), y.to(device)
        return x, y

    iter_num = 0
    best_val_loss = 1e9
    model_args = dict(n_layer=2, n_head=2, n_embd=16, block_size=block_size, bias=False, vocab_size=32, dropout=0.0)
    gptconf = GPTConfig(**model_args)
    model = GPT(gptconf, flash=flash)
    if init_state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init_state.items()})
    model.to(device)

    # initialize a GradScaler. If enabled=False scaler is a no-op
    scaler = torch.amp.GradScaler(enabled=(dtype == "float16"))
    old_scaler = torch.cuda.amp.GradScaler(enabled=(dtype == "float16"))
    assert old_scaler.is_enabled() is False

    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)
    if compile:
        model = torch.compile(model)  # requires PyTorch 2.0

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                with ctx:
                    logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    def get_lr(it):
        # 1) linear warmup for warmup_iters steps
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        # 2) if it > lr_decay_iters, return min learning rate
        if it > lr_decay_iters:
            return min_lr
        # 3) in between, use cosine decay down to min learning rate
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        assert 0 <= decay_ratio <= 1
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # coeff ranges 0..1
        return min_lr + coeff * (learning_rate - min_lr)

    trace = {"loss": [], "norm": [], "eval": [], "lr": []}
    X, Y = get_batch("train")  # fetch the very first batch
    raw_model = model
    while True:
        lr = get_lr(iter_num) if decay_lr else learning_rate
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        trace["lr"].append(optimizer.param_groups[0]["lr"])

        if iter_num % eval_interval == 0:
            losses = estimate_loss()
            trace["eval"].append((losses["train"].item(), losses["val"].item(), losses["val"].dtype))
            if losses["val"] < best_val_loss or always_save_checkpoint:
                best_val_loss = losses["val"]
                if iter_num > 0:
                    checkpoint = {
                        "model": raw_model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "model_args": model_args,
                        "iter_num": iter_num,
                        "best_val_loss": best_val_loss,
                        "config": {"lr": learning_rate},
                    }
                    torch.save(checkpoint, os.path.join(out_dir, f"ckpt_{torch.__name__}.pt"))

        for micro_step in range(gradient_accumulation_steps):
            with ctx:
                logits, loss = model(X, Y)
                loss = loss / gradient_accumulation_steps
            X, Y = get_batch("train")
            scaler.scale(loss).backward()
        if grad_clip != 0.0:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            trace["norm"].append(float(norm))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        lossf = loss.item() * gradient_accumulation_steps
        trace["loss"].append(lossf)
        iter_num += 1
        if iter_num > max_iters:
            break

    trace["mfu"] = raw_model.estimate_mfu(batch_size * gradient_accumulation_steps, 1.0)
    trace["n_params"] = raw_model.get_num_params()
    trace["opt_report"] = raw_model.opt_report
    trace["fused_available"] = raw_model.fused_available
    trace["grads_none"] = all(p.grad is None for p in raw_model.parameters())

    # resume from the checkpoint, as train.py does with init_from == 'resume'
    ckpt_path = os.path.join(out_dir, f"ckpt_{torch.__name__}.pt")
    checkpoint = torch.load(ckpt_path, map_location=device)
    checkpoint_model_args = checkpoint["model_args"]
    gptconf = GPTConfig(**checkpoint_model_args)
    model2 = GPT(gptconf, flash=flash)
    state_dict = checkpoint["model"]
    unwanted_prefix = "_orig_mod."
    for k, v in list(state_dict.items()):
        if k.startswith(unwanted_prefix):
            state_dict[k[len(unwanted_prefix) :]] = state_dict.pop(k)
    model2.load_state_dict(state_dict)
    optimizer2 = model2.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)
    optimizer2.load_state_dict(checkpoint["optimizer"])
    trace["resume_iter"] = checkpoint["iter_num"]
    trace["resume_best"] = float(checkpoint["best_val_loss"])
    trace["final_state"] = {k: v.detach().numpy().copy() for k, v in raw_model.state_dict().items()}
    return trace, raw_model


# ------------------------------------------------------------------ makemore / zero to hero


chars = list("abcdefghijklmnopqrstuvwxyz")


def make_words(n=200, seed=0):
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(n):
        L = int(rng.integers(2, 8))
        words.append("".join(rng.choice(chars, size=L, p=None)))
    return words


def bigram(torch, words):
    F = torch.nn.functional
    out = {}
    N = torch.zeros((27, 27), dtype=torch.int32)
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1 = stoi[ch1]
            ix2 = stoi[ch2]
            N[ix1, ix2] += 1
    out["N"] = N.numpy().copy()
    out["N.dtype"] = str(N.dtype)
    p = N[0].float()
    p = p / p.sum()
    out["p"] = p.numpy().copy()
    g = torch.Generator().manual_seed(2147483647)
    ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
    out["ix_type"] = type(ix)
    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)
    out["P"] = P.numpy().copy()
    out["P.sum1"] = P.sum(1).numpy().copy()
    g = torch.Generator().manual_seed(2147483647)
    names = []
    for i in range(5):
        outw = []
        ix = 0
        while True:
            p = P[ix]
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            outw.append(itos[ix])
            if ix == 0:
                break
        names.append("".join(outw))
    out["names_ok"] = all(n.endswith(".") for n in names)
    log_likelihood = 0.0
    n = 0
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1 = stoi[ch1]
            ix2 = stoi[ch2]
            prob = P[ix1, ix2]
            logprob = torch.log(prob)
            log_likelihood += logprob
            n += 1
    out["ll"] = log_likelihood.item()
    nll = -log_likelihood
    out["nll/n"] = (nll / n).item()
    out["nll.dtype"] = str(nll.dtype)

    # the neural net version
    xs, ys = [], []
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    num = xs.nelement()
    out["xs.dtype"] = str(xs.dtype)
    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)
    W.data = torch.from_numpy(np.random.default_rng(1).standard_normal((27, 27)).astype(np.float32))
    losses = []
    for k in range(5):
        xenc = F.one_hot(xs, num_classes=27).float()
        logits = xenc @ W
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
        losses.append(loss.item())
        W.grad = None
        loss.backward()
        W.data += -50 * W.grad
    out["losses"] = losses
    out["xenc.dtype"] = str(F.one_hot(xs, num_classes=27).dtype)
    out["W"] = W.detach().numpy().copy()
    return out


def build_dataset(torch, words, stoi, block_size):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    return X, Y


def mlp(torch, words):
    F = torch.nn.functional
    out = {}
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    block_size = 3
    Xtr, Ytr = build_dataset(torch, words, stoi, block_size)
    out["X"] = (tuple(Xtr.shape), str(Xtr.dtype))
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, 200), generator=g)
    b1 = torch.randn(200, generator=g)
    W2 = torch.randn((200, 27), generator=g)
    b2 = torch.randn(27, generator=g)
    parameters = [C, W1, b1, W2, b2]
    rng = np.random.default_rng(0)
    for p in parameters:
        p.data = torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32))
    out["nparams"] = sum(p.nelement() for p in parameters)
    for p in parameters:
        p.requires_grad = True
    lre = torch.linspace(-3, 0, 1000)
    lrs = 10**lre
    out["lrs"] = lrs.numpy().copy()
    emb = C[Xtr]
    out["emb.shape"] = tuple(emb.shape)
    a = torch.cat(torch.unbind(emb, 1), 1)
    b = emb.view(-1, 30)
    out["cat==view"] = bool(torch.all(a == b).item())
    out["emb.view(32, -1) shape"] = tuple(emb.view(emb.shape[0], -1).shape)
    lossi, stepi = [], []
    bidx = rng.integers(0, Xtr.shape[0], size=(8, 32))
    for i in range(8):
        ix = torch.randint(0, Xtr.shape[0], (32,), generator=g)
        assert ix.dtype == torch.int64 and tuple(ix.shape) == (32,)
        ix = torch.from_numpy(bidx[i])
        emb = C[Xtr[ix]]  # (32, 3, 10)
        h = torch.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 100)
        logits = h @ W2 + b2  # (32, 27)
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = lrs[600] if i < 4 else 0.1
        for p in parameters:
            p.data += -lr * p.grad
        stepi.append(i)
        lossi.append(loss.log10().item())
    out["lossi"] = lossi
    emb = C[Xtr]
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Ytr)
    out["full_loss"] = loss.item()
    # manual cross entropy equivalence from the lecture
    counts = logits.exp()
    prob = counts / counts.sum(1, keepdim=True)
    manual = -prob[torch.arange(Ytr.shape[0]), Ytr].log().mean()
    out["manual_loss"] = manual.item()
    # sampling
    g = torch.Generator().manual_seed(2147483647 + 10)
    for _ in range(3):
        context = [0] * block_size
        while True:
            emb = C[torch.tensor([context])]  # (1,block_size,d)
            h = torch.tanh(emb.view(1, -1) @ W1 + b1)
            logits = h @ W2 + b2
            probs = F.softmax(logits, dim=1)
            ix = torch.multinomial(probs, num_samples=1, generator=g).item()
            context = context[1:] + [ix]
            if ix == 0 or len(context) > 30:
                break
    return out


def batchnorm_lecture(torch, words):
    """makemore part 3: custom Linear/BatchNorm1d/Tanh classes, diagnostics."""
    F = torch.nn.functional
    out = {}
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    block_size = 3
    Xtr, Ytr = build_dataset(torch, words, stoi, block_size)
    rng = np.random.default_rng(0)

    class Linear:
        def __init__(self, fan_in, fan_out, bias=True):
            self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in**0.5
            self.weight = torch.from_numpy(rng.standard_normal((fan_in, fan_out)).astype(np.float32)) / fan_in**0.5
            self.bias = torch.zeros(fan_out) if bias else None

        def __call__(self, x):
            self.out = x @ self.weight
            if self.bias is not None:
                self.out += self.bias
            return self.out

        def parameters(self):
            return [self.weight] + ([] if self.bias is None else [self.bias])

    class BatchNorm1d:
        def __init__(self, dim, eps=1e-5, momentum=0.1):
            self.eps = eps
            self.momentum = momentum
            self.training = True
            # parameters (trained with backprop)
            self.gamma = torch.ones(dim)
            self.beta = torch.zeros(dim)
            # buffers (trained with a running 'momentum update')
            self.running_mean = torch.zeros(dim)
            self.running_var = torch.ones(dim)

        def __call__(self, x):
            # calculate the forward pass
            if self.training:
                xmean = x.mean(0, keepdim=True)  # batch mean
                xvar = x.var(0, keepdim=True)  # batch variance
            else:
                xmean = self.running_mean
                xvar = self.running_var
            xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # normalize to unit variance
            self.out = self.gamma * xhat + self.beta
            # update the buffers
            if self.training:
                with torch.no_grad():
                    self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                    self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
            return self.out

        def parameters(self):
            return [self.gamma, self.beta]

    class Tanh:
        def __call__(self, x):
            self.out = torch.tanh(x)
            return self.out

        def parameters(self):
            return []

    n_embd = 10
    n_hidden = 32
    vocab_size = 27
    g = torch.Generator().manual_seed(2147483647)
    C = torch.from_numpy(rng.standard_normal((vocab_size, n_embd)).astype(np.float32))
    layers = [
        Linear(n_embd * block_size, n_hidden, bias=False),
        BatchNorm1d(n_hidden),
        Tanh(),
        Linear(n_hidden, n_hidden, bias=False),
        BatchNorm1d(n_hidden),
        Tanh(),
        Linear(n_hidden, vocab_size, bias=False),
        BatchNorm1d(vocab_size),
    ]
    with torch.no_grad():
        # last layer: make less confident
        layers[-1].gamma *= 0.1
        # all other layers: apply gain
        for layer in layers[:-1]:
            if isinstance(layer, Linear):
                layer.weight *= 5 / 3
    parameters = [C] + [p for layer in layers for p in layer.parameters()]
    out["nparams"] = sum(p.nelement() for p in parameters)
    for p in parameters:
        p.requires_grad = True

    # the "manual" batchnorm of the first half of the lecture
    W1 = torch.from_numpy(rng.standard_normal((n_embd * block_size, n_hidden)).astype(np.float32)) * (
        (5 / 3) / ((n_embd * block_size) ** 0.5)
    )
    bngain = torch.ones((1, n_hidden))
    bnbias = torch.zeros((1, n_hidden))
    bnmean_running = torch.zeros((1, n_hidden))
    bnstd_running = torch.ones((1, n_hidden))
    emb = C[Xtr[:32]]
    hpreact = emb.view(emb.shape[0], -1) @ W1
    bnmeani = hpreact.mean(0, keepdim=True)
    bnstdi = hpreact.std(0, keepdim=True)
    hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
    with torch.no_grad():
        bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
        bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
    out["bnstd_running"] = bnstd_running.numpy().copy()
    out["bnmean_running.requires_grad"] = bnmean_running.requires_grad
    out["hpreact"] = hpreact.detach().numpy().copy()

    lossi = []
    ud = []
    ix_all = rng.integers(0, Xtr.shape[0], size=(6, 32))
    for i in range(6):
        ix = torch.from_numpy(ix_all[i])
        Xb, Yb = Xtr[ix], Ytr[ix]
        emb = C[Xb]
        x = emb.view(emb.shape[0], -1)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, Yb)
        for layer in layers:
            layer.out.retain_grad()  # AFTER_DEBUG: would take out retain_graph
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < 100000 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.log10().item())
        with torch.no_grad():
            ud.append([((lr * p.grad).std() / p.data.std()).log10().item() for p in parameters])
    out["lossi"] = lossi
    out["ud"] = np.array(ud)

    # visualize histograms: forward activations and gradients
    stats = []
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, Tanh):
            t = layer.out
            stats.append((t.mean().item(), t.std().item(), (t.abs() > 0.97).float().mean().item() * 100))
            hy, hx = torch.histogram(t, density=True)
            stats.append(tuple(hx[:-1].detach().numpy()[:3]) + tuple(hy.detach().numpy()[:3]))
            t = layer.out.grad
            stats.append((t.mean().item(), t.std().item()))
            hy, hx = torch.histogram(t, density=True)
            stats.append(tuple(hy.numpy()[:5]))
    out["stats"] = [float(v) for s in stats for v in s]
    for i, p in enumerate(parameters):
        t = p.grad
        if p.ndim == 2:
            out[f"grad{i}"] = (tuple(p.shape), t.mean().item(), t.std().item(), (t.std() / p.std()).item())

    @torch.no_grad()  # this decorator disables gradient tracking
    def split_loss(split):
        x, y = {"train": (Xtr, Ytr)}[split]
        emb = C[x]  # (N, block_size, n_embd)
        x = emb.view(emb.shape[0], -1)  # concat into (N, block_size * n_embd)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, y)
        return loss.item(), loss.requires_grad

    for layer in layers:
        layer.training = False
    out["split"] = split_loss("train")
    return out


def ninja(torch, words):
    """makemore part 4: becoming a backprop ninja."""
    F = torch.nn.functional
    out = {}
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    block_size = 3
    Xtr, Ytr = build_dataset(torch, words, stoi, block_size)
    rng = np.random.default_rng(0)

    def cmp(s, dt, t):
        ex = torch.all(dt == t.grad).item()
        app = torch.allclose(dt, t.grad)
        maxdiff = (dt - t.grad).abs().max().item()
        out[s] = (ex, app, maxdiff)

    n_embd = 10
    n_hidden = 64
    vocab_size = 27
    g = torch.Generator().manual_seed(2147483647)  # for reproducibility

    def randn(*shape):
        torch.randn(shape, generator=g)
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    C = randn(vocab_size, n_embd)
    # Layer 1
    W1 = randn(n_embd * block_size, n_hidden) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = randn(n_hidden) * 0.1  # using b1 just for fun, it's useless because of BN
    # Layer 2
    W2 = randn(n_hidden, vocab_size) * 0.1
    b2 = randn(vocab_size) * 0.1
    # BatchNorm parameters
    bngain = randn(1, n_hidden) * 0.1 + 1.0
    bnbias = randn(1, n_hidden) * 0.1

    parameters = [C, W1, b1, W2, b2, bngain, bnbias]
    out["nparams"] = sum(p.nelement() for p in parameters)
    for p in parameters:
        p.requires_grad = True

    batch_size = 32
    n = batch_size  # a shorter variable also, for convenience
    # construct a minibatch
    ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
    ix = torch.from_numpy(rng.integers(0, Xtr.shape[0], size=(batch_size,)))
    Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y

    # forward pass, "chunkated" into smaller steps that are possible to backward one at a time
    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    # Linear layer 1
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    # BatchNorm layer
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1 / (n - 1) * (bndiff2).sum(0, keepdim=True)  # note: Bessel's correction (dividing by n-1, not n)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    # Non-linearity
    h = torch.tanh(hpreact)  # hidden layer
    # Linear layer 2
    logits = h @ W2 + b2  # output layer
    # cross entropy loss (same as F.cross_entropy(logits, Yb))
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # subtract max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1  # if I use (1.0 / counts_sum) instead then I can't get backprop to be bit exact...
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()

    # PyTorch backward pass
    for p in parameters:
        p.grad = None
    for t in [
        logprobs,
        probs,
        counts,
        counts_sum,
        counts_sum_inv,  # afaik there is no cleaner way
        norm_logits,
        logit_maxes,
        logits,
        h,
        hpreact,
        bnraw,
        bnvar_inv,
        bnvar,
        bndiff2,
        bndiff,
        hprebn,
        bnmeani,
        embcat,
        emb,
    ]:
        t.retain_grad()
    loss.backward()
    out["loss"] = loss.item()

    # Exercise 1: backprop through the whole thing manually
    dlogprobs = torch.zeros_like(logprobs)
    dlogprobs[range(n), Yb] = -1.0 / n
    dprobs = (1.0 / probs) * dlogprobs
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
    dcounts = counts_sum_inv * dprobs
    dcounts_sum = (-(counts_sum**-2)) * dcounts_sum_inv
    dcounts += torch.ones_like(counts) * dcounts_sum
    dnorm_logits = counts * dcounts
    dlogits = dnorm_logits.clone()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
    dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0, keepdim=True)
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
    dbnvar = (-0.5 * (bnvar + 1e-5) ** -1.5) * dbnvar_inv
    dbndiff2 = (1.0 / (n - 1)) * torch.ones_like(bndiff2) * dbnvar
    dbndiff += (2 * bndiff) * dbndiff2
    dhprebn = dbndiff.clone()
    dbnmeani = (-dbndiff).sum(0)
    dhprebn += 1.0 / n * (torch.ones_like(hprebn) * dbnmeani)
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            ix = Xb[k, j]
            dC[ix] += demb[k, j]

    cmp("logprobs", dlogprobs, logprobs)
    cmp("probs", dprobs, probs)
    cmp("counts_sum_inv", dcounts_sum_inv, counts_sum_inv)
    cmp("counts_sum", dcounts_sum, counts_sum)
    cmp("counts", dcounts, counts)
    cmp("norm_logits", dnorm_logits, norm_logits)
    cmp("logit_maxes", dlogit_maxes, logit_maxes)
    cmp("logits", dlogits, logits)
    cmp("h", dh, h)
    cmp("W2", dW2, W2)
    cmp("b2", db2, b2)
    cmp("hpreact", dhpreact, hpreact)
    cmp("bngain", dbngain, bngain)
    cmp("bnbias", dbnbias, bnbias)
    cmp("bnraw", dbnraw, bnraw)
    cmp("bnvar_inv", dbnvar_inv, bnvar_inv)
    cmp("bnvar", dbnvar, bnvar)
    cmp("bndiff2", dbndiff2, bndiff2)
    cmp("bndiff", dbndiff, bndiff)
    cmp("bnmeani", dbnmeani, bnmeani)
    cmp("hprebn", dhprebn, hprebn)
    cmp("embcat", dembcat, embcat)
    cmp("W1", dW1, W1)
    cmp("b1", db1, b1)
    cmp("emb", demb, emb)
    cmp("C", dC, C)

    # Exercise 2: cross entropy loss backward pass in one go
    loss_fast = F.cross_entropy(logits, Yb)
    out["loss_fast_diff"] = loss_fast.item() - loss.item()
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    cmp("logits_fast", dlogits, logits)

    # Exercise 3: batch norm backward in one go
    hpreact_fast = (
        bngain * (hprebn - hprebn.mean(0, keepdim=True)) / torch.sqrt(hprebn.var(0, keepdim=True, unbiased=True) + 1e-5)
        + bnbias
    )
    out["max_diff_bn"] = (hpreact_fast - hpreact).abs().max().item()
    dhprebn = (
        bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    )
    cmp("hprebn_fast", dhprebn, hprebn)
    out["dhprebn.shape"] = tuple(dhprebn.shape)
    return out


def wavenet(torch, words):
    """makemore part 5: building a WaveNet."""
    F = torch.nn.functional
    out = {}
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    block_size = 8
    Xtr, Ytr = build_dataset(torch, words, stoi, block_size)
    rng = np.random.default_rng(0)

    class Linear:
        def __init__(self, fan_in, fan_out, bias=True):
            self.weight = (
                torch.from_numpy(rng.standard_normal((fan_in, fan_out)).astype(np.float32)) / fan_in**0.5
            )  # note: kaiming init
            self.bias = torch.zeros(fan_out) if bias else None

        def __call__(self, x):
            self.out = x @ self.weight
            if self.bias is not None:
                self.out += self.bias
            return self.out

        def parameters(self):
            return [self.weight] + ([] if self.bias is None else [self.bias])

    class BatchNorm1d:
        def __init__(self, dim, eps=1e-5, momentum=0.1):
            self.eps = eps
            self.momentum = momentum
            self.training = True
            self.gamma = torch.ones(dim)
            self.beta = torch.zeros(dim)
            self.running_mean = torch.zeros(dim)
            self.running_var = torch.ones(dim)

        def __call__(self, x):
            if self.training:
                if x.ndim == 2:
                    dim = 0
                elif x.ndim == 3:
                    dim = (0, 1)
                xmean = x.mean(dim, keepdim=True)  # batch mean
                xvar = x.var(dim, keepdim=True)  # batch variance
            else:
                xmean = self.running_mean
                xvar = self.running_var
            xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # normalize to unit variance
            self.out = self.gamma * xhat + self.beta
            if self.training:
                with torch.no_grad():
                    self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                    self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
            return self.out

        def parameters(self):
            return [self.gamma, self.beta]

    class Tanh:
        def __call__(self, x):
            self.out = torch.tanh(x)
            return self.out

        def parameters(self):
            return []

    class Embedding:
        def __init__(self, num_embeddings, embedding_dim):
            self.weight = torch.from_numpy(rng.standard_normal((num_embeddings, embedding_dim)).astype(np.float32))

        def __call__(self, IX):
            self.out = self.weight[IX]
            return self.out

        def parameters(self):
            return [self.weight]

    class FlattenConsecutive:
        def __init__(self, n):
            self.n = n

        def __call__(self, x):
            B, T, C = x.shape
            x = x.view(B, T // self.n, C * self.n)
            if x.shape[1] == 1:
                x = x.squeeze(1)
            self.out = x
            return self.out

        def parameters(self):
            return []

    class Sequential:
        def __init__(self, layers):
            self.layers = layers

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            self.out = x
            return self.out

        def parameters(self):
            # get parameters of all layers and stretch them out into one list
            return [p for layer in self.layers for p in layer.parameters()]

    n_embd = 10
    n_hidden = 32
    vocab_size = 27
    model = Sequential(
        [
            Embedding(vocab_size, n_embd),
            FlattenConsecutive(2),
            Linear(n_embd * 2, n_hidden, bias=False),
            BatchNorm1d(n_hidden),
            Tanh(),
            FlattenConsecutive(2),
            Linear(n_hidden * 2, n_hidden, bias=False),
            BatchNorm1d(n_hidden),
            Tanh(),
            FlattenConsecutive(2),
            Linear(n_hidden * 2, n_hidden, bias=False),
            BatchNorm1d(n_hidden),
            Tanh(),
            Linear(n_hidden, vocab_size),
        ]
    )
    with torch.no_grad():
        model.layers[-1].weight *= 0.1  # last layer make less confident
    parameters = model.parameters()
    out["nparams"] = sum(p.nelement() for p in parameters)
    for p in parameters:
        p.requires_grad = True

    e = torch.randn(4, 8, 10)
    out["squeeze"] = tuple(torch.squeeze(e.view(4, 1, 80), dim=1).shape)
    out["cat_explicit"] = tuple(torch.cat([e[:, ::2, :], e[:, 1::2, :]], dim=2).shape)

    lossi = []
    ix_all = rng.integers(0, Xtr.shape[0], size=(5, 32))
    for i in range(5):
        ix = torch.from_numpy(ix_all[i])
        Xb, Yb = Xtr[ix], Ytr[ix]
        logits = model(Xb)
        loss = F.cross_entropy(logits, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.log10().item())
    out["lossi"] = lossi
    out["lossi_view"] = torch.tensor(lossi + [0.0] * 5).view(-1, 5).mean(1).numpy().copy()
    for layer in model.layers:
        out[layer.__class__.__name__ + str(id(layer) % 1)] = tuple(layer.out.shape)
    for layer in model.layers:
        layer.training = False
    logits = model(Xtr[:50])
    out["eval"] = F.cross_entropy(logits, Ytr[:50]).item()
    out["running_var"] = model.layers[3].running_var.numpy().copy()
    out["running_var.shape"] = tuple(model.layers[3].running_var.shape)
    return out


# ------------------------------------------------------------------ micrograd's test_engine.py (its torch half)


def sanity(torch):
    x = torch.Tensor([-4.0]).double()
    x.requires_grad = True
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xpt, ypt = x, y
    return ypt.data.item(), xpt.grad.item(), ypt.dtype, type(ypt.data.item())


def more_ops(torch):
    a = torch.Tensor([-4.0]).double()
    b = torch.Tensor([2.0]).double()
    a.requires_grad = True
    b.requires_grad = True
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    apt, bpt, gpt = a, b, g
    return gpt.data.item(), apt.grad.item(), bpt.grad.item()


# ------------------------------------------------------------------ the PyTorch tutorials


def tensors_tutorial(torch):
    out = {}
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    x_ones = torch.ones_like(x_data)  # retains the properties of x_data
    x_rand = torch.rand_like(x_data, dtype=torch.float)  # overrides the datatype of x_data
    out["dtypes"] = [str(t.dtype) for t in (x_data, x_np, x_ones, x_rand)]
    shape = (
        2,
        3,
    )
    rand_tensor = torch.rand(shape)
    ones_tensor = torch.ones(shape)
    zeros_tensor = torch.zeros(shape)
    out["shapes"] = [tuple(t.shape) for t in (rand_tensor, ones_tensor, zeros_tensor)]
    tensor = torch.rand(3, 4)
    out["attrs"] = (tuple(tensor.shape), str(tensor.dtype), str(tensor.device))
    tensor = torch.ones(4, 4)
    out["first_row"] = tensor[0].tolist()
    out["first_col"] = tensor[:, 0].tolist()
    out["last_col"] = tensor[..., -1].tolist()
    tensor[:, 1] = 0
    t1 = torch.cat([tensor, tensor, tensor], dim=1)
    out["t1"] = t1.numpy().copy()
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.rand_like(y1)
    torch.matmul(tensor, tensor.T, out=y3)
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.rand_like(tensor)
    torch.mul(tensor, tensor, out=z3)
    for k, v in dict(y1=y1, y2=y2, y3=y3, z1=z1, z2=z2, z3=z3).items():
        out[k] = v.numpy().copy()
    agg = tensor.sum()
    agg_item = agg.item()
    out["agg"] = (agg_item, type(agg_item))
    tensor.add_(5)
    out["add_"] = tensor.numpy().copy()
    t = torch.ones(5)
    n = t.numpy()
    t.add_(1)
    out["shared"] = n.copy()
    n = np.ones(5)
    t = torch.from_numpy(n)
    np.add(n, 1, out=n)
    out["shared2"] = t.numpy().copy()
    out["shared2.dtype"] = str(t.dtype)
    if torch.cuda.is_available():
        tensor = tensor.to("cuda")
    # "what is pytorch" (old blitz)
    x = torch.empty(5, 3)
    x = torch.zeros(5, 3, dtype=torch.long)
    out["zeros_long"] = str(x.dtype)
    x = torch.tensor([5.5, 3])
    x = x.new_ones(5, 3, dtype=torch.double)
    x = torch.randn_like(x, dtype=torch.float)
    out["size"] = (x.size(), x.size() == (5, 3), isinstance(x.size(), tuple))
    y = torch.rand(5, 3)
    result = torch.empty(5, 3)
    torch.add(x, y, out=result)
    y.add_(x)
    out["add_out"] = np.abs(result.numpy() - y.numpy()).max()
    x = torch.randn(4, 4)
    y = x.view(16)
    z = x.view(-1, 8)
    out["views"] = (tuple(x.size()), tuple(y.size()), tuple(z.size()))
    x = torch.randn(1)
    out["item"] = type(x.item())
    return out


def autograd_tutorial(torch):
    out = {}
    x = torch.ones(5)  # input tensor
    y = torch.zeros(3)  # expected output
    w = torch.from_numpy(np.linspace(-1, 1, 15).reshape(5, 3).astype(np.float32)).requires_grad_(True)
    b = torch.from_numpy(np.linspace(0, 1, 3).astype(np.float32))
    b.requires_grad_()
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    out["grad_fn"] = (z.grad_fn.name(), loss.grad_fn.name())
    loss.backward()
    out["w.grad"] = w.grad.numpy().copy()
    out["b.grad"] = b.grad.numpy().copy()
    z = torch.matmul(x, w) + b
    out["rg1"] = z.requires_grad
    with torch.no_grad():
        z = torch.matmul(x, w) + b
    out["rg2"] = z.requires_grad
    z = torch.matmul(x, w) + b
    z_det = z.detach()
    out["rg3"] = z_det.requires_grad
    inp = torch.eye(4, 5, requires_grad=True)
    out_ = (inp + 1).pow(2).t()
    out_.backward(torch.ones_like(out_), retain_graph=True)
    out["first"] = inp.grad.numpy().copy()
    out_.backward(torch.ones_like(out_), retain_graph=True)
    out["second"] = inp.grad.numpy().copy()
    inp.grad.zero_()
    out_.backward(torch.ones_like(out_), retain_graph=True)
    out["third"] = inp.grad.numpy().copy()

    # the older blitz autograd page
    a = torch.tensor([2.0, 3.0], requires_grad=True)
    b = torch.tensor([6.0, 4.0], requires_grad=True)
    Q = 3 * a**3 - b**2
    external_grad = torch.tensor([1.0, 1.0])
    Q.backward(gradient=external_grad)
    out["Q"] = (9 * a**2 == a.grad).tolist() + (-2 * b == b.grad).tolist()
    x = torch.rand(5, 5)
    y = torch.rand(5, 5)
    z = torch.rand((5, 5), requires_grad=True)
    a = x + y
    out["a.rg"] = a.requires_grad
    b = x + z
    out["b.rg"] = b.requires_grad
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    out["y.grad_fn"] = str(y.grad_fn).split()[0]
    z = y * y * 3
    o = z.mean()
    o.backward()
    out["x.grad"] = x.grad.numpy().copy()
    a = torch.from_numpy(np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32))
    a = (a * 3) / (a - 1)
    out["a.rg0"] = a.requires_grad
    a.requires_grad_(True)
    b = (a * a).sum()
    out["b.grad_fn"] = str(b.grad_fn).split()[0]
    x = torch.from_numpy(np.array([0.1, -0.5, 0.25], dtype=np.float32)).requires_grad_()
    y = x * 2
    steps = 0
    while y.data.norm() < 1000:
        y = y * 2
        steps += 1
    out["steps"] = steps
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    out["x.grad_v"] = x.grad.numpy().copy()
    out["rg_nograd"] = (x.requires_grad, (x**2).requires_grad)
    with torch.no_grad():
        out["rg_nograd"] += ((x**2).requires_grad,)
    y = x.detach()
    out["detach"] = (y.requires_grad, x.eq(y).all().item())
    # torch.autograd.grad and functional.jacobian
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x**3
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (ggx,) = torch.autograd.grad(gx.sum(), x)
    out["grad"] = (gx.detach().numpy().copy(), ggx.numpy().copy())

    def exp_reducer(x):
        return x.exp().sum(dim=1)

    inputs = torch.from_numpy(np.arange(8.0, dtype=np.float32).reshape(2, 4) / 8)
    J = torch.autograd.functional.jacobian(exp_reducer, inputs)
    out["jac"] = J.numpy().copy()
    out["jac.shape"] = tuple(J.shape)
    v = torch.ones(2)
    o, vjp = torch.autograd.functional.vjp(exp_reducer, inputs, v)
    out["vjp"] = vjp.numpy().copy()
    o, jvp = torch.autograd.functional.jvp(exp_reducer, inputs, torch.ones(2, 4))
    out["jvp"] = jvp.numpy().copy()

    def f(x, y):
        return x * y, x + y

    J = torch.autograd.functional.jacobian(f, (torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])))
    out["jac_tuple"] = [[j.numpy().copy() for j in row] for row in J]
    H = torch.autograd.functional.hessian(lambda x: (x**3).sum(), torch.tensor([1.0, 2.0]))
    out["hess"] = H.numpy().copy()
    return out


def lenet(torch):
    """Neural networks (60-minute blitz): LeNet."""
    nn = torch.nn
    F = torch.nn.functional
    out = {}

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            # 1 input image channel, 6 output channels, 5x5 square convolution
            # kernel
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            # an affine operation: y = Wx + b
            self.fc1 = nn.Linear(16 * 5 * 5, 120)  # 5*5 from image dimension
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, input):
            # Convolution layer C1: 1 input image channel, 6 output channels,
            # 5x5 square convolution, it uses RELU activation function, and
            # outputs a Tensor with size (N, 6, 28, 28), where N is the size of the batch
            c1 = F.relu(self.conv1(input))
            # Subsampling layer S2: 2x2 grid, purely functional,
            # this layer does not have any parameter, and outputs a (N, 6, 14, 14) Tensor
            s2 = F.max_pool2d(c1, (2, 2))
            # Convolution layer C3: 6 input channels, 16 output channels,
            # 5x5 square convolution, it uses RELU activation function, and
            # outputs a (N, 16, 10, 10) Tensor
            c3 = F.relu(self.conv2(s2))
            # Subsampling layer S4: 2x2 grid, purely functional,
            # this layer does not have any parameter, and outputs a (N, 16, 5, 5) Tensor
            s4 = F.max_pool2d(c3, 2)
            # Flatten operation: purely functional, outputs a (N, 400) Tensor
            s4 = torch.flatten(s4, 1)
            # Fully connected layer F5: (N, 400) Tensor input,
            # and outputs a (N, 120) Tensor, it uses RELU activation function
            f5 = F.relu(self.fc1(s4))
            # Fully connected layer F6: (N, 120) Tensor input,
            # and outputs a (N, 84) Tensor, it uses RELU activation function
            f6 = F.relu(self.fc2(f5))
            # Gaussian layer OUTPUT: (N, 84) Tensor input, and
            # outputs a (N, 10) Tensor
            output = self.fc3(f6)
            return output

        def num_flat_features(self, x):
            size = x.size()[1:]  # all dimensions except the batch dimension
            num_features = 1
            for s in size:
                num_features *= s
            return num_features

    net = Net()
    out["repr"] = repr(net)
    params = list(net.parameters())
    out["nparams"] = len(params)
    out["p0size"] = tuple(params[0].size())
    return net, out


def lenet_run(torch, net, tmpdir, seed=0):
    """The blitz's LeNet forward/backward/update, then the CIFAR-10 classifier's loop."""
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    out = {}
    rng = np.random.default_rng(seed)
    input = torch.from_numpy(rng.standard_normal((1, 1, 32, 32)).astype(np.float32))
    out_ = net(input)
    out["out"] = out_.detach().numpy().copy()
    net.zero_grad()
    out_.backward(torch.from_numpy(rng.standard_normal((1, 10)).astype(np.float32)))
    out["conv1.bias.grad"] = net.conv1.bias.grad.numpy().copy()
    output = net(input)
    target = torch.from_numpy(rng.standard_normal(10).astype(np.float32))  # a dummy target, for example
    target = target.view(1, -1)  # make it the same shape as output
    criterion = nn.MSELoss()
    loss = criterion(output, target)
    out["loss"] = loss.item()
    fn = loss.grad_fn
    out["grad_fn_chain"] = (
        str(fn).split()[0],
        str(fn.next_functions[0][0]).split()[0],
        str(fn.next_functions[0][0].next_functions[0][0]).split()[0],
    )
    net.zero_grad()  # zeroes the gradient buffers of all parameters
    out["before"] = net.conv1.bias.grad.numpy().copy() if net.conv1.bias.grad is not None else None
    loss.backward()
    out["after"] = net.conv1.bias.grad.numpy().copy()
    learning_rate = 0.01
    for f in net.parameters():
        f.data.sub_(f.grad.data * learning_rate)
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    optimizer.zero_grad()  # zero the gradient buffers
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()  # Does the update
    out["fc3.w"] = net.fc3.weight.detach().numpy().copy()

    # CIFAR-10 classifier loop over a TensorDataset
    from_numpy = torch.from_numpy
    images = from_numpy(rng.standard_normal((40, 3, 32, 32)).astype(np.float32))
    labels = from_numpy(rng.integers(0, 10, size=40))
    trainset = torch.utils.data.TensorDataset(images, labels)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=4, shuffle=False, num_workers=0)
    classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)  # flatten all dimensions except batch
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    net2 = Net()
    sd = {
        k: from_numpy(rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.1)
        for k, v in net2.state_dict().items()
    }
    net2.load_state_dict(sd)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net2.parameters(), lr=0.001, momentum=0.9)
    losses = []
    for epoch in range(2):  # loop over the dataset multiple times
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels_ = data
            # zero the parameter gradients
            optimizer.zero_grad()
            # forward + backward + optimize
            outputs = net2(inputs)
            loss = criterion(outputs, labels_)
            loss.backward()
            optimizer.step()
            # print statistics
            running_loss += loss.item()
            if i % 5 == 4:
                losses.append(running_loss / 5)
                running_loss = 0.0
    out["cifar_losses"] = losses
    PATH = os.path.join(tmpdir, f"cifar_net_{torch.__name__}.pth")
    torch.save(net2.state_dict(), PATH)
    net3 = Net()
    res = net3.load_state_dict(torch.load(PATH, weights_only=True))
    out["load_res"] = (list(res.missing_keys), list(res.unexpected_keys))
    dataiter = iter(trainloader)
    images_, labels_ = next(dataiter)
    outputs = net3(images_)
    _, predicted = torch.max(outputs, 1)
    out["predicted"] = " ".join(f"{classes[predicted[j]]:5s}" for j in range(4))
    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in trainloader:
            images_, labels_ = data
            # calculate outputs by running images through the network
            outputs = net3(images_)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels_.size(0)
            correct += (predicted == labels_).sum().item()
    out["acc"] = (correct, total, 100 * correct // total)
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for data in trainloader:
            images_, labels_ = data
            outputs = net3(images_)
            _, predictions = torch.max(outputs, 1)
            # collect the correct predictions for each class
            for label, prediction in zip(labels_, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    out["per_class"] = (correct_pred, total_pred)
    return out


def with_examples(torch):
    """Learning PyTorch with Examples: polynomial fit of sin(x), five ways."""
    out = {}
    dtype = torch.float
    device = torch.device("cpu")
    x = torch.linspace(-math.pi, math.pi, 200, device=device, dtype=dtype)
    y = torch.sin(x)
    rng = np.random.default_rng(0)
    init = rng.standard_normal(4).astype(np.float32)
    a, b, c, d = (torch.tensor(v, device=device, dtype=dtype) for v in init)
    learning_rate = 1e-6
    for t in range(50):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum().item()
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x**2).sum()
        grad_d = (grad_y_pred * x**3).sum()
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d
    out["manual"] = (loss, a.item(), b.item(), c.item(), d.item())

    a, b, c, d = (torch.tensor(v, device=device, dtype=dtype, requires_grad=True) for v in init)
    for t in range(50):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    out["autograd"] = (loss.item(), a.item(), b.item(), c.item(), d.item())

    class LegendrePolynomial3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    a, b, c, d = (
        torch.full((), float(v), device=device, dtype=dtype, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3)
    )
    learning_rate = 5e-6
    for t in range(50):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    out["function"] = (loss.item(), a.item(), b.item(), c.item(), d.item())

    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    out["xx"] = (tuple(xx.shape), str(xx.dtype))
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(init[:3].reshape(1, 3) * 0.1))
        model[0].bias.fill_(float(init[3]) * 0.1)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    learning_rate = 1e-6
    for t in range(50):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
    linear_layer = model[0]
    out["nn"] = (
        loss.item(),
        linear_layer.bias.item(),
        linear_layer.weight[:, 0].item(),
        linear_layer.weight[:, 1].item(),
    )
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    for t in range(50):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out["optim"] = (loss.item(), linear_layer.bias.item(), linear_layer.weight[:, 2].item())

    class Polynomial3(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.randn(()))
            self.b = torch.nn.Parameter(torch.randn(()))
            self.c = torch.nn.Parameter(torch.randn(()))
            self.d = torch.nn.Parameter(torch.randn(()))

        def forward(self, x):
            return self.a + self.b * x + self.c * x**2 + self.d * x**3

        def string(self):
            return f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3"

    model = Polynomial3()
    model.load_state_dict({k: torch.tensor(float(v)) for k, v in zip("abcd", init)})
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    for t in range(50):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out["module"] = (loss.item(), [p.item() for p in model.parameters()], model.string()[:4])

    class DynamicNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.randn(()))
            self.b = torch.nn.Parameter(torch.randn(()))
            self.c = torch.nn.Parameter(torch.randn(()))
            self.d = torch.nn.Parameter(torch.randn(()))
            self.e = torch.nn.Parameter(torch.randn(()))

        def forward(self, x, exp):
            y = self.a + self.b * x + self.c * x**2 + self.d * x**3
            for exp in range(4, exp):
                y = y + self.e * x**exp
            return y

    model = DynamicNet()
    model.load_state_dict({k: torch.tensor(float(v) * 0.01) for k, v in zip("abcde", list(init) + [0.5])})
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    for t in range(30):
        y_pred = model(x, 4 + t % 3)
        loss = criterion(y_pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out["dynamic"] = (loss.item(), model.e.item())
    return out


def nn_tutorial(torch):
    """What is torch.nn really? (synthetic MNIST-shaped data)"""
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    TensorDataset = torch.utils.data.TensorDataset
    DataLoader = torch.utils.data.DataLoader
    out = {}
    rng = np.random.default_rng(0)
    x_train = rng.random((256, 784), dtype=np.float32)
    y_train = rng.integers(0, 10, size=256)
    x_valid = rng.random((64, 784), dtype=np.float32)
    y_valid = rng.integers(0, 10, size=64)
    x_train, y_train, x_valid, y_valid = map(torch.tensor, (x_train, y_train, x_valid, y_valid))
    n, c = x_train.shape
    out["xy"] = (tuple(x_train.shape), str(y_train.dtype), y_train.min().item(), y_train.max().item())

    weights = torch.from_numpy(rng.standard_normal((784, 10)).astype(np.float32)) / math.sqrt(784)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    bs = 64  # batch size
    xb = x_train[0:bs]  # a mini-batch from x
    preds = model(xb)  # predictions
    out["preds0"] = preds[0].detach().numpy().copy()
    out["preds.shape"] = tuple(preds.shape)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    loss_func = nll
    yb = y_train[0:bs]
    out["loss0"] = loss_func(preds, yb).item()

    def accuracy(out, yb):
        preds = torch.argmax(out, dim=1)
        return (preds == yb).float().mean()

    out["acc0"] = accuracy(preds, yb).item()
    lr = 0.5  # learning rate
    epochs = 2  # how many epochs to train for
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)
            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()
    out["manual"] = (loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item())
    loss_func = F.cross_entropy

    def model(xb):
        return xb @ weights + bias

    out["ce"] = (loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item())

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.Parameter(torch.randn(784, 10) / math.sqrt(784))
            self.bias = nn.Parameter(torch.zeros(10))

        def forward(self, xb):
            return xb @ self.weights + self.bias

    w0 = rng.standard_normal((784, 10)).astype(np.float32) / math.sqrt(784)
    model = Mnist_Logistic()
    with torch.no_grad():
        model.weights.copy_(torch.from_numpy(w0))

    def fit():
        for epoch in range(epochs):
            for i in range((n - 1) // bs + 1):
                start_i = i * bs
                end_i = start_i + bs
                xb = x_train[start_i:end_i]
                yb = y_train[start_i:end_i]
                pred = model(xb)
                loss = loss_func(pred, yb)
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= p.grad * lr
                    model.zero_grad()

    fit()
    out["module"] = loss_func(model(xb), yb).item()

    class Mnist_Logistic2(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)

        def forward(self, xb):
            return self.lin(xb)

    def get_model():
        model = Mnist_Logistic2()
        with torch.no_grad():
            model.lin.weight.copy_(torch.from_numpy(w0.T.copy()))
            model.lin.bias.zero_()
        return model, optim.SGD(model.parameters(), lr=lr)

    model, opt = get_model()
    train_ds = TensorDataset(x_train, y_train)
    train_dl = DataLoader(train_ds, batch_size=bs)
    for epoch in range(epochs):
        for xb, yb in train_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
    out["dl"] = loss_func(model(xb), yb).item()

    valid_ds = TensorDataset(x_valid, y_valid)

    def get_data(train_ds, valid_ds, bs):
        return (
            DataLoader(train_ds, batch_size=bs, shuffle=False),
            DataLoader(valid_ds, batch_size=bs * 2),
        )

    def loss_batch(model, loss_func, xb, yb, opt=None):
        loss = loss_func(model(xb), yb)
        if opt is not None:
            loss.backward()
            opt.step()
            opt.zero_grad()
        return loss.item(), len(xb)

    def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
        hist = []
        for epoch in range(epochs):
            model.train()
            for xb, yb in train_dl:
                loss_batch(model, loss_func, xb, yb, opt)
            model.eval()
            with torch.no_grad():
                losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
            val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
            hist.append(float(val_loss))
        return hist

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    model, opt = get_model()
    out["fit"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    class Lambda(nn.Module):
        def __init__(self, func):
            super().__init__()
            self.func = func

        def forward(self, x):
            return self.func(x)

    def preprocess(x, y):
        return x.view(-1, 1, 28, 28), y

    class WrappedDataLoader:
        def __init__(self, dl, func):
            self.dl = dl
            self.func = func

        def __len__(self):
            return len(self.dl)

        def __iter__(self):
            for b in self.dl:
                yield (self.func(*b))

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    train_dl = WrappedDataLoader(train_dl, preprocess)
    valid_dl = WrappedDataLoader(valid_dl, preprocess)
    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    sd = {
        k: torch.from_numpy(rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.2)
        for k, v in model.state_dict().items()
    }
    model.load_state_dict(sd)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    out["cnn"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)
    return out


# ------------------------------------------------------------------ comparing the two runs


def _plain(v):
    """A value of either run in a form both share (dtypes and sizes by name, tensors as arrays)."""
    if type(v).__name__ == "Size":
        return tuple(v)
    if type(v).__name__ == "dtype" or isinstance(v, np.dtype):
        return str(v).replace("torch.", "")
    if isinstance(v, str):
        return v.replace("torch.", "")
    return v


def _diffs(a, b, rtol: float = 1e-5, path: str = "") -> list[str]:
    """Where ``b`` (backprop's run) differs from ``a`` (torch's): values to ``rtol`` (relative, plus as
    much absolute), dtypes, shapes, types and keys exactly."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return [f"{path}: keys {sorted(map(str, a))} vs {b if not isinstance(b, dict) else sorted(map(str, b))}"]
        return [d for k in a for d in _diffs(a[k], b[k], rtol, f"{path}/{k}")]
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.dtype != b.dtype or a.shape != b.shape:
            return [f"{path}: {a.dtype}{a.shape} vs {getattr(b, 'dtype', type(b))}{getattr(b, 'shape', '')}"]
        fa, fb = a.astype(np.float64), b.astype(np.float64)
        if a.size and not np.allclose(fb, fa, rtol=rtol, atol=rtol, equal_nan=True):
            return [f"{path}: max abs difference {np.nanmax(np.abs(fa - fb))}"]
        return []
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return [f"{path}: {a!r} vs {b!r}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diffs(x, y, rtol, f"{path}[{i}]")]
    if isinstance(a, float):
        if not isinstance(b, float) or not math.isclose(a, b, rel_tol=rtol, abs_tol=rtol):
            return [f"{path}: {a!r} vs {b!r}"]
        return []
    if a != b or type(a) is not type(b):
        return [f"{path}: {a!r} vs {b!r}"]
    return []


def _compare(a, b, rtol: float = 1e-5) -> None:
    diffs = _diffs(a, b, rtol)
    assert not diffs, "backprop differs from torch:\n" + "\n".join(diffs)


def _need_torch() -> None:
    if real_torch is None:
        pytest.skip("torch not installed: the run is compared with torch's")


# ------------------------------------------------------------------ the tests


def _words() -> list[str]:
    return make_words()


@pytest.mark.filterwarnings("ignore:`torch.cuda.amp.GradScaler:FutureWarning")  # (both warn, as they should)
@pytest.mark.parametrize("flash", [True, False], ids=["sdpa", "masked_fill"])
def test_nanogpt_train_loop(tmp_path, flash: bool) -> None:
    make_data(str(tmp_path))
    if real_torch is None:
        ours, model = train(backprop, str(tmp_path), flash=flash, max_iters=4)
        assert len(ours["loss"]) == 5 and all(math.isfinite(v) for v in ours["loss"])
        pytest.skip("torch not installed: the run is compared with torch's")
    real_torch.manual_seed(0)
    m = build(real_torch)(GPTConfig(block_size=8, bias=False), flash=flash)
    init = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    theirs, _ = train(real_torch, str(tmp_path), init, flash=flash, max_iters=4)
    ours, model = train(backprop, str(tmp_path), init, flash=flash, max_iters=4)
    assert model.transformer.wte.weight is model.lm_head.weight  # the tying survives load_state_dict
    _compare(theirs, ours, rtol=2e-5)


def test_nanogpt_model_api() -> None:
    GPT = build(backprop)
    backprop.manual_seed(0)
    m = GPT(GPTConfig(block_size=8, bias=True), flash=False)
    assert m.transformer.wte.weight is m.lm_head.weight
    assert len(list(m.parameters())) == 28 and len(m.state_dict()) == 31  # tied weight once; 2 mask buffers
    # the scaled init of the residual projections: std 0.02 / sqrt(2 * n_layer), biases zero
    w = np.concatenate([m.transformer.h[i].attn.c_proj.weight.detach().numpy().ravel() for i in range(2)])
    assert 0.007 < w.std() < 0.013 and float(m.transformer.h[0].mlp.c_fc.bias.abs().sum()) == 0.0
    idx = backprop.zeros((2, 1), dtype=backprop.long)
    greedy = m.generate(idx, 10, temperature=0.8, top_k=1)
    assert greedy.dtype == backprop.int64 and tuple(greedy.shape) == (2, 11)
    assert greedy[0].tolist() == greedy[1].tolist()  # top_k=1 is argmax
    assert tuple(m.generate(idx, 12, top_k=5).shape) == (2, 13)  # crops the context at block_size
    m.crop_block_size(4)
    assert tuple(m.transformer.wpe.weight.shape) == (4, 16) and tuple(m.transformer.h[0].attn.bias.shape) == (
        1,
        1,
        4,
        4,
    )
    assert isinstance(m.transformer.wpe.weight, backprop.nn.Parameter)
    assert tuple(m.generate(idx, 6).shape) == (2, 7)
    logits, loss = m(idx)
    assert tuple(logits.shape) == (2, 1, 32) and loss is None
    cm = backprop.compile(m)
    assert list(cm.state_dict())[0].startswith("_orig_mod.")
    x = backprop.tensor([[1.0, 5.0, 3.0, 2.0], [0.5, 0.125, 0.25, 0.375]])
    v, _ = backprop.topk(x, 2)
    x[x < v[:, [-1]]] = -float("Inf")
    assert x.tolist() == [[-math.inf, 5.0, 3.0, -math.inf], [0.5, -math.inf, -math.inf, 0.375]]
    assert x.pin_memory() is x


@pytest.mark.parametrize("lecture", ["bigram", "mlp", "batchnorm_lecture", "ninja", "wavenet"])
def test_makemore_lectures(lecture: str) -> None:
    program = globals()[lecture]
    ours = program(backprop, _words())
    if lecture == "ninja":
        # every manual gradient matches autograd's; most of them bit for bit, as in the lecture
        for name in ("logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits", "logit_maxes"):
            assert ours[name] == (True, True, 0.0), name
        for name in ("logits", "h", "W2", "b2", "hpreact", "bngain", "bnraw", "bnvar", "bndiff", "hprebn", "W1", "C"):
            assert ours[name][1] and ours[name][2] < 1e-8, name
        assert ours["logits_fast"][1] and ours["hprebn_fast"][1]
    _need_torch()
    theirs = program(real_torch, _words())
    if lecture == "ninja":  # exactness may differ by a rounding (torch: hpreact's is not exact, ours is)
        for d in (theirs, ours):
            for k, v in d.items():
                if isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], bool):
                    d[k] = v[1:2]
        theirs.pop("loss_fast_diff"), ours.pop("loss_fast_diff")
    _compare(theirs, ours, rtol=2e-5)


@pytest.mark.parametrize("program", [sanity, more_ops], ids=["sanity_check", "more_ops"])
def test_micrograd_torch_half(program) -> None:
    ours = program(backprop)
    if program is sanity:
        assert ours[:2] == (-20.0, 46.0) and ours[2] == backprop.float64 and ours[3] is float
    else:
        assert ours == pytest.approx((24.70408163265306, 138.83381924198252, 645.5772594752186), rel=1e-12)
    _need_torch()
    _compare(program(real_torch), ours, rtol=1e-12)


@pytest.mark.parametrize("program", ["tensors_tutorial", "autograd_tutorial", "with_examples", "nn_tutorial"])
def test_pytorch_tutorials(program: str) -> None:
    fn = globals()[program]
    ours = fn(backprop)
    _need_torch()
    theirs = fn(real_torch)
    _compare(theirs, ours, rtol=5e-5)


def test_blitz_lenet_and_cifar_loop(tmp_path) -> None:
    net, ours_build = lenet(backprop)
    if real_torch is None:
        lenet_run(backprop, net, str(tmp_path))
        pytest.skip("torch not installed: the run is compared with torch's")
    theirs_net, theirs_build = lenet(real_torch)
    net.load_state_dict({k: backprop.from_numpy(v.detach().numpy().copy()) for k, v in theirs_net.state_dict().items()})
    theirs = lenet_run(real_torch, theirs_net, str(tmp_path))
    ours = lenet_run(backprop, net, str(tmp_path))
    # a composed loss names its last part: MSELoss's grad_fn is MseLossBackward0 in torch, our mean's here
    theirs.pop("grad_fn_chain"), ours.pop("grad_fn_chain")
    _compare(theirs_build, ours_build)
    _compare(theirs, ours, rtol=5e-5)


# ------------------------------------------------------------------ regressions of what the programs found


def test_eye_takes_requires_grad() -> None:
    inp = backprop.eye(4, 5, requires_grad=True)  # the autograd tutorial's first example
    assert inp.requires_grad and inp.is_leaf and tuple(inp.shape) == (4, 5)
    out = (inp + 1).pow(2).t()
    out.backward(backprop.ones_like(out))
    np.testing.assert_array_equal(inp.grad.numpy(), 2 * (np.eye(4, 5) + 1))
    assert not backprop.eye(3).requires_grad


def test_scatter_with_a_0d_index_into_a_vector() -> None:
    # the Transforms tutorial's one-hot target: torch takes the 0-d index as a 1-element one
    t = backprop.zeros(10, dtype=backprop.float).scatter_(0, backprop.tensor(3), value=1)
    assert t.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # (was all ones)
    z = backprop.zeros(4)
    assert z.scatter(0, backprop.tensor(2), backprop.tensor(7.0)).tolist() == [0.0, 0.0, 7.0, 0.0]
    assert z.scatter(0, backprop.tensor(2), backprop.tensor([7.0, 8.0])).tolist() == [0.0, 0.0, 7.0, 0.0]
    assert z.scatter_add(0, backprop.tensor(2), backprop.tensor(7.0)).tolist() == [0.0, 0.0, 7.0, 0.0]
    assert backprop.zeros(4).scatter_add_(0, backprop.tensor(1), backprop.tensor([7.0])).tolist()[1] == 7.0
    assert z.scatter_reduce(0, backprop.tensor(1), backprop.tensor(3.0), "sum").tolist() == [0.0, 3.0, 0.0, 0.0]
    x = backprop.arange(4.0, requires_grad=True)
    g = x.gather(0, backprop.tensor(2))
    assert tuple(g.shape) == () and g.item() == 2.0
    g.backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 0.0]


def test_inplace_scatter_checks_shapes_as_out_of_place() -> None:
    # (an in-place op outside a recorded graph skipped the op's shape rule and wrote everywhere)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        backprop.zeros(4).scatter_(0, backprop.tensor([[1]]), 5.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        backprop.zeros(2, 3).scatter_(1, backprop.tensor(1), 5.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        backprop.zeros(2, 3).scatter_add_(1, backprop.tensor([1, 0]), backprop.ones(2))
