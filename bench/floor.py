"""The "no framework" floor: the same training steps written by hand on raw arrays.

Forward and backward with manual gradients (the course formulas), float32, SGD updates, on numpy
or cupy (``xp``). What a careful person writes without an autodiff library.
"""

from __future__ import annotations

from typing import Any


def mlp_init(xp: Any, rng: Any, sizes: list[int]) -> list[tuple[Any, Any]]:
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / fan_in**0.5
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype("float32")
        b = rng.uniform(-bound, bound, fan_out).astype("float32")
        layers.append((xp.asarray(w), xp.asarray(b)))
    return layers


def mlp_step(xp: Any, layers: list[tuple[Any, Any]], x: Any, y: Any, lr: float) -> Any:
    """One SGD step of Linear-ReLU-...-Linear with softmax cross-entropy; returns the loss array."""
    acts = [x]
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = xp.maximum(h, 0)
        acts.append(h)
    z = acts[-1]
    n = z.shape[0]
    z = z - z.max(1, keepdims=True)
    e = xp.exp(z)
    s = e.sum(1, keepdims=True)
    rows = xp.arange(n)
    loss = (xp.log(s[:, 0]) - z[rows, y]).mean()
    g = e / s
    g[rows, y] -= 1
    g /= n
    for i in range(len(layers) - 1, -1, -1):
        w, b = layers[i]
        a = acts[i]
        gw = g.T @ a
        gb = g.sum(0)
        if i:
            g = (g @ w) * (a > 0)
        w -= lr * gw
        b -= lr * gb
    return loss


def lm_init(xp: Any, rng: Any, vocab: int, context: int, d: int, hidden: int) -> dict[str, Any]:
    def u(shape: tuple, fan_in: int) -> Any:
        bound = 1 / fan_in**0.5
        return xp.asarray(rng.uniform(-bound, bound, shape).astype("float32"))

    return {
        "E": xp.asarray(rng.standard_normal((vocab, d)).astype("float32")),
        "W": u((hidden, context * d), context * d),
        "b": u((hidden,), context * d),
        "U": u((vocab, hidden), hidden),
        "c": u((vocab,), hidden),
    }


def lm_step(xp: Any, p: dict[str, Any], ctx: Any, tgt: Any, lr: float, scatter_add: Any) -> Any:
    """One SGD step of the Bengio LM (tanh hidden layer); returns the loss array."""
    n, k = ctx.shape
    e = p["E"][ctx].reshape(n, -1)
    h = xp.tanh(e @ p["W"].T + p["b"])
    z = h @ p["U"].T + p["c"]
    z = z - z.max(1, keepdims=True)
    ex = xp.exp(z)
    s = ex.sum(1, keepdims=True)
    rows = xp.arange(n)
    loss = (xp.log(s[:, 0]) - z[rows, tgt]).mean()
    g = ex / s
    g[rows, tgt] -= 1
    g /= n
    gU, gc = g.T @ h, g.sum(0)
    gh = (g @ p["U"]) * (1 - h * h)
    gW, gb = gh.T @ e, gh.sum(0)
    ge = (gh @ p["W"]).reshape(n * k, -1)
    gE = xp.zeros_like(p["E"])
    scatter_add(gE, ctx.reshape(-1), ge)
    for name, grad in (("E", gE), ("W", gW), ("b", gb), ("U", gU), ("c", gc)):
        p[name] -= lr * grad
    return loss


def chain(xp: Any, x: Any, n_ops: int) -> Any:
    """Forward and backward of y = ((x + 0.5) * 1.01 + 0.5) * 1.01 ... summed, by hand."""
    y = x
    for i in range(n_ops):
        y = y * 1.01 if i % 2 else y + 0.5
    g = xp.ones_like(y)
    for i in range(n_ops - 1, -1, -1):
        g = g * 1.01 if i % 2 else g
    return g
