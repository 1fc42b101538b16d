"""Scenarios that ``tests/test_distributed_tp.py`` runs on 2 ranks: rank 0 writes OUT/<name>.json.

``ops``: every case of ``CASES`` (a DTensor op on given placements) records the output placement, every rank's
local shape, and whether the full value and the inputs' gradients equal the one-process op's (the test compares
the placements and shapes with real torch's on a fake mesh). ``llama``: the TP tutorial's Llama-style model
(attention wq/wk/wv colwise, wo rowwise, feed-forward w1/w3 colwise, w2 rowwise, sequence-parallel norms, a
rowwise embedding, a colwise output, with and without ``loss_parallel``) trained with AdamW against the same
model in one process.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.nn.functional as F  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.distributed.device_mesh import init_device_mesh  # noqa: E402
from backprop.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor  # noqa: E402
from backprop.distributed.tensor.parallel import (  # noqa: E402
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    loss_parallel,
    parallelize_module,
)

# (name, op, inputs as (shape, placement) with "R", "S<d>", "P" or ("I", shape, high) for integer indices)
CASES: list[tuple[str, str, list[Any]]] = [
    ("lin R x S0 b S0", "linear", [((2, 4, 6), "R"), ((8, 6), "S0"), ((8,), "S0")]),
    ("lin R x S0", "linear", [((2, 4, 6), "R"), ((8, 6), "S0")]),
    ("lin S2 x S1 b R", "linear", [((2, 4, 6), "S2"), ((8, 6), "S1"), ((8,), "R")]),
    ("lin 2d S1 x S1", "linear", [((4, 6), "S1"), ((8, 6), "S1")]),
    ("lin S0 x R", "linear", [((2, 4, 6), "S0"), ((8, 6), "R")]),
    ("lin S1 x R", "linear", [((2, 4, 6), "S1"), ((8, 6), "R")]),
    ("lin R x R", "linear", [((2, 4, 6), "R"), ((8, 6), "R")]),
    ("lin S2 x R", "linear", [((2, 4, 6), "S2"), ((8, 6), "R")]),
    ("lin R x S1", "linear", [((2, 4, 6), "R"), ((8, 6), "S1")]),
    ("mm S1 S0", "mm", [((4, 6), "S1"), ((6, 8), "S0")]),
    ("mm R S1", "mm", [((4, 6), "R"), ((6, 8), "S1")]),
    ("mm S0 R", "mm", [((4, 6), "S0"), ((6, 8), "R")]),
    ("mm S0 S1", "mm", [((4, 6), "S0"), ((6, 8), "S1")]),
    ("mm P R", "mm", [((4, 6), "P"), ((6, 8), "R")]),
    ("bmm S0 S0", "bmm", [((2, 4, 6), "S0"), ((2, 6, 8), "S0")]),
    ("bmm S2 S1", "bmm", [((2, 4, 6), "S2"), ((2, 6, 8), "S1")]),
    ("matmul S1 R", "matmul", [((2, 4, 6), "S1"), ((6, 8), "R")]),
    ("addmm R R S1", "addmm", [((8,), "R"), ((4, 6), "R"), ((6, 8), "S1")]),
    ("add S0 S1", "add", [((4, 6), "S0"), ((4, 6), "S1")]),
    ("mul S1 R bc", "mul", [((2, 4, 6), "S1"), ((6,), "R")]),
    ("mul S2 R bc", "mul", [((2, 4, 6), "S2"), ((6,), "R")]),
    ("mul R S0 bc", "mul", [((2, 4, 6), "R"), ((6,), "S0")]),
    ("add P R", "add", [((4, 6), "P"), ((4, 6), "R")]),
    ("add P P", "add", [((4, 6), "P"), ((4, 6), "P")]),
    ("mul P R", "mul", [((4, 6), "P"), ((4, 6), "R")]),
    ("mul P S0", "mul", [((4, 6), "P"), ((4, 6), "S0")]),
    ("exp P", "exp", [((4, 6), "P")]),
    ("mul P 2", "mul2", [((4, 6), "P")]),
    ("add P 2", "add2", [((4, 6), "P")]),
    ("sum S0 dim0", "sum0", [((4, 6), "S0")]),
    ("sum S0 dim1", "sum1", [((4, 6), "S0")]),
    ("sum S0 all", "sum", [((4, 6), "S0")]),
    ("sum S0 dim0 keep", "sum0k", [((4, 6), "S0")]),
    ("mean S1 dim-1 keep", "mean_1k", [((2, 4, 6), "S1")]),
    ("sum P dim", "sum0", [((4, 6), "P")]),
    ("view S2 split", "view_2423", [((2, 4, 6), "S2")]),
    ("view S2 merge", "view_246", [((2, 4, 2, 3), "S2")]),
    ("view S0 flatten", "view_86", [((2, 4, 6), "S0")]),
    ("view S2 flatten", "view_86", [((2, 4, 6), "S2")]),
    ("view S2 merge lead", "view_8_6", [((4, 2, 6), "S2")]),
    ("transpose S1", "transpose12", [((2, 4, 6), "S1")]),
    ("softmax S1 dim-1", "softmax", [((2, 4, 6), "S1")]),
    ("softmax S2 dim-1", "softmax", [((2, 4, 6), "S2")]),
    ("emb R w R", "embedding", [("I", (2, 4), 10, "R"), ((10, 6), "R")]),
    ("emb S0 w R", "embedding", [("I", (2, 4), 10, "S0"), ((10, 6), "R")]),
    ("emb R w S1", "embedding", [("I", (2, 4), 10, "R"), ((10, 6), "S1")]),
    ("emb R w S0", "embedding", [("I", (2, 4), 10, "R"), ((10, 6), "S0")]),
    ("ln R", "layer_norm", [((2, 4, 6), "R"), ((6,), "R"), ((6,), "R")]),
    ("ln S1", "layer_norm", [((2, 4, 6), "S1"), ((6,), "R"), ((6,), "R")]),
    ("ln S2", "layer_norm", [((2, 4, 6), "S2"), ((6,), "R"), ((6,), "R")]),
    ("rms S1", "rms_norm", [((2, 4, 6), "S1"), ((6,), "R")]),
    ("sdpa R", "sdpa", [((2, 4, 5, 6), "R")] * 3),
    ("sdpa S2", "sdpa", [((2, 4, 5, 6), "S2")] * 3),
    ("silu S2", "silu", [((2, 4, 6), "S2")]),
    ("pow S1", "pow2", [((2, 4, 6), "S1")]),
]
# causal sdpa: torch has no CPU strategy for its flash kernel, so the one-process values only
EXTRA = [
    ("sdpa S1 heads", "sdpa_causal", [((2, 4, 5, 6), "S1")] * 3),
    ("sdpa R causal", "sdpa_causal", [((2, 4, 5, 6), "R")] * 3),
]


def run_op(lib: Any, Fn: Any, op: str, xs: list[Any]) -> Any:
    """The op ``op`` of ``CASES`` on ``xs`` with ``lib`` (backprop or torch) and its functional module ``Fn``."""
    table = {
        "linear": lambda: Fn.linear(*xs),
        "mm": lambda: lib.mm(*xs),
        "bmm": lambda: lib.bmm(*xs),
        "matmul": lambda: lib.matmul(*xs),
        "addmm": lambda: lib.addmm(*xs),
        "add": lambda: xs[0] + xs[1],
        "mul": lambda: xs[0] * xs[1],
        "exp": lambda: xs[0].exp(),
        "mul2": lambda: xs[0] * 2,
        "add2": lambda: xs[0] + 2,
        "sum0": lambda: xs[0].sum(0),
        "sum1": lambda: xs[0].sum(1),
        "sum": lambda: xs[0].sum(),
        "sum0k": lambda: xs[0].sum(0, keepdim=True),
        "mean_1k": lambda: xs[0].mean(-1, keepdim=True),
        "view_2423": lambda: xs[0].view(2, 4, 2, 3),
        "view_246": lambda: xs[0].reshape(2, 4, 6),
        "view_86": lambda: xs[0].reshape(8, 6),
        "view_8_6": lambda: xs[0].view(-1, 6),
        "transpose12": lambda: xs[0].transpose(1, 2),
        "softmax": lambda: Fn.softmax(xs[0], dim=-1),
        "embedding": lambda: Fn.embedding(*xs),
        "layer_norm": lambda: Fn.layer_norm(xs[0], (6,), *xs[1:]),
        "rms_norm": lambda: Fn.rms_norm(xs[0], (6,), *xs[1:]),
        "sdpa": lambda: Fn.scaled_dot_product_attention(*xs),
        "sdpa_causal": lambda: Fn.scaled_dot_product_attention(*xs, is_causal=True),
        "silu": lambda: Fn.silu(xs[0]),
        "pow2": lambda: xs[0].pow(2),
    }
    return table[op]()


def placement(spec: str) -> Any:
    return Replicate() if spec == "R" else Partial() if spec == "P" else Shard(int(spec[1:]))


def _inputs(case: list[Any], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for spec in case:
        if spec[0] == "I":
            out.append(rng.integers(0, spec[2], spec[1]))
        else:
            out.append(rng.standard_normal(spec[0]))
    return out


def ops() -> dict[str, Any]:
    """Each case: placement, local shapes on every rank, value and gradients against the one-process op."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    n = dist.get_world_size()
    results: dict[str, Any] = {}
    for k, (name, op, case) in enumerate(CASES + EXTRA):
        arrays = _inputs(case, k)
        plain = [bp.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        dts = []
        for a, spec in zip(arrays, case):
            p = placement(spec[-1] if spec[0] == "I" else spec[1])
            leaf = bp.tensor(a, requires_grad=a.dtype.kind == "f")
            if isinstance(p, Partial):
                d = DTensor.from_local(leaf / n, mesh, [p], shape=a.shape)
            else:
                d = distribute_tensor(leaf.detach(), mesh, [p]).requires_grad_(a.dtype.kind == "f")
            dts.append(d)
        try:
            out = run_op(bp, F, op, dts)
        except Exception as e:  # (recorded: the test says which case)
            results[name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        ref = run_op(bp, F, op, plain)
        full = out.full_tensor()
        w = np.random.default_rng(100 + k).standard_normal(tuple(ref.shape))
        (ref * bp.tensor(w)).sum().backward()
        (full * bp.tensor(w)).sum().backward()
        grads_ok = []
        for p_, d in zip(plain, dts):
            if p_.grad is None:
                continue
            g = d.grad if d.grad is not None else None
            if g is None and d.grad_fn is not None:  # (Partial inputs: non-leaf; skip)
                continue
            grads_ok.append(g is not None and bool(np.allclose(g.full_tensor().numpy(), p_.grad.numpy(), atol=1e-12)))
        gathered: list[Any] = [None] * n
        dist.all_gather_object(gathered, list(out.to_local().shape))
        results[name] = {
            "placement": repr(out.placements[0]),
            "local_shapes": gathered,
            "shape": list(out.shape),
            "value_ok": bool(np.allclose(full.detach().numpy(), ref.detach().numpy(), atol=1e-12)),
            "grads_ok": grads_ok,
        }
    return results


# ------------------------------------------------------------------------------------------ the tutorial's model
class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.wq, self.wk, self.wv = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Any) -> Any:
        b, s, _ = x.shape
        q, k, v = (
            w(x).view(b, s, -1, self.head_dim).transpose(1, 2) for w in (self.wq, self.wk, self.wv)
        )  # (-1: the heads of this rank, as the tutorial's n_heads // tp_size)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(out.transpose(1, 2).reshape(b, s, -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1, self.w2, self.w3 = nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Linear(dim, hidden)

    def forward(self, x: Any) -> Any:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.attention_norm, self.ffn_norm = nn.RMSNorm(dim), nn.RMSNorm(dim)
        self.attention, self.feed_forward = Attention(dim, n_heads), FeedForward(dim, 2 * dim)

    def forward(self, x: Any) -> Any:
        h = x + self.attention(self.attention_norm(x))
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, vocab: int = 16, dim: int = 8, n_heads: int = 4, n_layers: int = 2) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([Block(dim, n_heads) for _ in range(n_layers)])
        self.norm, self.output = nn.RMSNorm(dim), nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens: Any) -> Any:
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h))


def _tp(model: Transformer, mesh: Any, parallel_loss: bool) -> Transformer:
    """The tutorial's plan."""
    parallelize_module(
        model,
        mesh,
        {
            "tok_embeddings": RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1)),
            "norm": SequenceParallel(),
            "output": ColwiseParallel(
                input_layouts=Shard(1),
                output_layouts=Shard(-1) if parallel_loss else Replicate(),
                use_local_output=not parallel_loss,
            ),
        },
    )
    plan = {
        "attention_norm": SequenceParallel(),
        "attention": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
        "attention.wq": ColwiseParallel(),
        "attention.wk": ColwiseParallel(),
        "attention.wv": ColwiseParallel(),
        "attention.wo": RowwiseParallel(output_layouts=Shard(1)),
        "ffn_norm": SequenceParallel(),
        "feed_forward": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
        "feed_forward.w1": ColwiseParallel(),
        "feed_forward.w2": RowwiseParallel(output_layouts=Shard(1)),
        "feed_forward.w3": ColwiseParallel(),
    }
    for block in model.layers:
        parallelize_module(block, mesh, plan)
    return model


STEPS = 5


def _batch(step: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(step)
    return bp.tensor(rng.integers(0, 16, (2, 6))), bp.tensor(rng.integers(0, 16, (2, 6)))


def _full(model: nn.Module) -> dict[str, np.ndarray]:
    return {
        k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().numpy().copy()
        for k, v in model.state_dict().items()
    }


def _train(parallel_loss: bool) -> dict[str, Any]:
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    bp.manual_seed(0)
    with bp.device("cpu"):
        base = Transformer().double()
    ref = copy.deepcopy(base)
    start = _full(ref)
    model = _tp(base, mesh, parallel_loss)
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    ref_opt = optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
    losses, ref_losses = [], []
    for step in range(STEPS):
        x, y = _batch(step)
        opt.zero_grad()
        out = model(x)
        if parallel_loss:
            with loss_parallel():
                loss = F.cross_entropy(out.view(-1, 16), y.view(-1))
                loss.backward()
            losses.append(float(loss.full_tensor()))
        else:
            loss = F.cross_entropy(out.reshape(-1, 16), y.reshape(-1))
            loss.backward()
            losses.append(float(loss))
        opt.step()
        ref_opt.zero_grad()
        rl = F.cross_entropy(ref(x).reshape(-1, 16), y.reshape(-1))
        rl.backward()
        ref_opt.step()
        ref_losses.append(float(rl))
    mine, theirs = _full(model), _full(ref)
    placements = {
        name: repr(p.placements[0]) if isinstance(p, DTensor) else "plain" for name, p in model.named_parameters()
    }
    local = {name: list(p.to_local().shape) for name, p in model.named_parameters() if isinstance(p, DTensor)}
    return {
        "max_diff": max(float(np.max(np.abs(mine[k] - theirs[k]))) for k in theirs),
        "same_keys": list(mine) == list(theirs),
        "bitwise": all(mine[k].tobytes() == theirs[k].tobytes() for k in theirs),
        "moved": max(float(np.max(np.abs(v - start[k]))) for k, v in theirs.items()),
        "losses": losses,
        "ref_losses": ref_losses,
        "placements": placements,
        "local_shapes": local,
        "repr_colwise": repr(model.layers[0].attention.wq.weight.placements),
    }


def llama() -> dict[str, Any]:
    return _train(parallel_loss=False)


def llama_loss_parallel() -> dict[str, Any]:
    return _train(parallel_loss=True)


def main() -> None:
    run_scenarios(globals())


if __name__ == "__main__":
    main()
