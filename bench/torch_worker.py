"""PyTorch's side of the benchmark, run in its own process with torch's default settings.

``python -m bench.torch_worker WORKLOAD SIZE [--device cpu|cuda] [--threads N] [--reps R]`` builds
the workload (``mlp``/``lm`` with a size label, ``chain`` with any size, ``deepchain`` with 1M or
20k, ``matmul`` with n), warms it up, times ``R`` steps and prints one JSON object: ``{"times":
[...], "torch": version, "threads": n}``. The parent (``bench.runner``) runs it in turn with our
own steps, so torch never shares a process (nor OpenMP settings) with our library: it is timed as
its users run it. Imports neither our library nor anything that sets thread policies; only the
thread count is pinned, by the same environment variables as ours and ``torch.set_num_threads``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from bench.timing import time_steps


def _sync(dev: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if dev == "cuda" else (lambda: None)


def _train_step(model: Any, opt: Any, x: Any, y: Any, sync: Callable[[], None]) -> Callable[[], None]:
    import torch

    def step() -> None:  # (the order of torch's examples, as ours: zero_grad first)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync()

    return step


def mlp_torch(dev: str, width: int, batch: int) -> Callable[[], None]:
    """The MLP training step (4 Linear layers, ReLU, cross-entropy, SGD) in torch eager."""
    import torch

    from bench import specs

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, specs.CLASSES),
    ).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=specs.LR)
    xs, ys = specs.mlp_data(width, batch)
    return _train_step(model, opt, torch.tensor(xs, device=dev), torch.tensor(ys, device=dev), _sync(dev))


def lm_torch(dev: str, v: int, d: int, h: int, b: int) -> Callable[[], None]:
    """The feedforward LM training step in torch eager."""
    import torch

    from bench import specs

    torch.manual_seed(0)
    k = specs.CONTEXT

    class LM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(v, d)
            self.hidden = torch.nn.Linear(k * d, h)
            self.output = torch.nn.Linear(h, v)

        def forward(self, c: Any) -> Any:
            e = self.embedding(c).reshape(c.shape[0], -1)
            return self.output(torch.tanh(self.hidden(e)))

    model = LM().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=specs.LR)
    cs, ts = specs.lm_data(v, b)
    return _train_step(model, opt, torch.tensor(cs, device=dev), torch.tensor(ts, device=dev), _sync(dev))


def chain_torch(dev: str, n_ops: int) -> Callable[[], None]:
    """The ``n_ops``-op elementwise chain (forward + backward) in torch eager."""
    import torch

    from bench import specs

    mul = specs.chain_mul(n_ops)
    x = torch.randn(8, 8, device=dev, requires_grad=True)
    sync = _sync(dev)

    def step() -> None:
        y = x
        for i in range(n_ops):
            y = y * mul if i % 2 else y + 0.5
        x.grad = None
        y.sum().backward()
        sync()

    return step


def matmul_torch(dev: str, n: int) -> Callable[[], None]:
    """A bare n x n float32 matmul in torch."""
    import torch

    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    sync = _sync(dev)

    def step() -> None:
        a @ b
        sync()

    return step


def make(workload: str, size: str, dev: str) -> Callable[[], None]:
    """The torch step of ``workload`` at ``size`` (a size label, or n for matmul)."""
    from bench import specs

    if workload == "mlp":
        return mlp_torch(dev, *specs.MLP_SIZES[size])
    if workload == "lm":
        return lm_torch(dev, *specs.LM_SIZES[size])
    if workload == "chain":
        return chain_torch(dev, specs.CHAIN_OPS)
    if workload == "deepchain":
        return chain_torch(dev, specs.DEEP_CHAIN_OPS[size])
    if workload == "matmul":
        return matmul_torch(dev, int(size.split("^")[0]))
    raise ValueError(f"unknown workload {workload!r}")


def main(argv: list[str] | None = None) -> int:
    """Time ``--reps`` torch steps after a warm-up and print them as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.torch_worker")
    p.add_argument("workload", choices=["mlp", "lm", "chain", "deepchain", "matmul"])
    p.add_argument("size")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    times = time_steps(make(args.workload, args.size, args.device), args.reps)
    print(json.dumps({"times": times, "torch": torch.__version__, "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
