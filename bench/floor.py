"""The "no framework" floors: the same training steps written by hand on raw arrays.

Two of them, forward and backward with manual gradients (the course formulas), SGD updates, on
numpy or cupy (``xp``):

* the floor (``MLPFloor``, ``LMFloor``, ``ChainFloor``): what a careful NumPy programmer writes, the
  physical limit we compare to. Every buffer is allocated once and reused across steps (one
  weight-gradient buffer for all layers, each gradient applied as soon as it is computed), matmuls
  write into them (``out=``), elementwise work runs in place, the softmax-minus-one-hot gradient is
  formed in the logits buffer with the learning rate folded into it (so each SGD update is one
  in-place subtraction), and the embedding gradient is summed per touched row (a sparse CSR product
  over the sorted ids) and applied to those rows only;
* the naive floor (``mlp_step``, ``lm_step``, ``chain``): the same formulas written plainly, a new
  array for almost every operation (labelled "floor (naive)" in the results).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def mlp_init(xp: Any, rng: Any, sizes: list[int]) -> list[tuple[Any, Any]]:
    """(weight, bias) per layer, uniform in +-1/sqrt(fan_in) as nn.Linear, float32."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / fan_in**0.5
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype("float32")
        b = rng.uniform(-bound, bound, fan_out).astype("float32")
        layers.append((xp.asarray(w), xp.asarray(b)))
    return layers


def mlp_step(xp: Any, layers: list[tuple[Any, Any]], x: Any, y: Any, lr: float) -> Any:
    """Naive floor: one SGD step of Linear-ReLU-...-Linear with softmax cross-entropy; returns the loss."""
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
    """The LM's parameters E, W, b, U, c (float32), initialised as FeedForwardLM's layers."""

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
    """Naive floor: one SGD step of the Bengio LM (tanh hidden layer); returns the loss array."""
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


def chain(xp: Any, x: Any, n_ops: int, mul: float = 1.01) -> Any:
    """Naive floor: forward and backward of y = ((x + 0.5) * mul + 0.5) * mul ... summed, by hand."""
    y = x
    for i in range(n_ops):
        y = y * mul if i % 2 else y + 0.5
    g = xp.ones_like(y)
    for i in range(n_ops - 1, -1, -1):
        g = g * mul if i % 2 else g
    return g


# ------------------------------------------------------------------------------------------ the floor
def _scatter_rows(xp: Any, table: Any, ids: Any, rows: Any, scale: float) -> None:
    """table[i] += scale * (sum of ``rows`` whose id is i), touching only the ids present.

    NumPy: the ids are sorted once, each distinct id's rows summed by a CSR product (scipy's
    sparse-times-dense kernel, much faster than ``np.add.at`` or ``np.add.reduceat`` here) and the
    sums applied to their rows. CuPy: an atomic scatter-add straight into the table.
    """
    if xp is not np:
        import cupyx

        cupyx.scatter_add(table, ids, rows * scale)
        return
    n = ids.shape[0]
    order = np.argsort(ids, kind="stable")
    ids_sorted = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], ids_sorted[1:] != ids_sorted[:-1])))
    touched = ids_sorted[starts]
    indptr = np.append(starts, n)
    ones = np.ones(n, dtype=rows.dtype)
    sums = sp.csr_matrix((ones, order, indptr), shape=(touched.shape[0], n)) @ rows
    if scale != 1.0:
        sums *= scale
    table[touched] += sums


def _softmax_xent_grad(xp: Any, z: Any, tgt: Any, rows: Any, col: Any, scale: float) -> Any:
    """In place: z (logits) becomes scale * (softmax(z) - onehot(tgt)); returns the mean loss.

    ``col`` is an (N, 1) work buffer.
    """
    z.max(1, keepdims=True, out=col)
    z -= col
    picked = z[rows, tgt]  # z_target - max, read before exp overwrites it
    xp.exp(z, out=z)
    z.sum(1, keepdims=True, out=col)
    loss = (xp.log(col[:, 0]) - picked).mean()
    xp.divide(scale, col, out=col)
    z *= col
    z[rows, tgt] -= scale
    return loss


class MLPFloor:
    """The hand-written MLP step at its fastest: preallocated buffers, in-place everything."""

    def __init__(self, xp: Any, layers: list[tuple[Any, Any]], batch: int, lr: float) -> None:
        """``layers`` as ``mlp_init`` returns them (updated in place by ``step``)."""
        self.xp, self.layers, self.lr = xp, layers, lr
        dt = layers[0][0].dtype
        self.acts = [xp.empty((batch, w.shape[0]), dtype=dt) for w, _ in layers]  # layer outputs
        self.grads = [xp.empty((batch, w.shape[1]), dtype=dt) for w, _ in layers[1:]]  # d/d input of layer i>0
        self.masks = [xp.empty((batch, w.shape[0]), dtype=bool) for w, _ in layers[:-1]]
        # one weight-gradient buffer for all layers (each is applied as soon as it is computed)
        scratch = xp.empty(max(w.size for w, _ in layers), dtype=dt)
        self.gw = [scratch[: w.size].reshape(w.shape) for w, _ in layers]
        self.gb = [xp.empty_like(b) for _, b in layers]
        self.rows = xp.arange(batch)
        self.col = xp.empty((batch, 1), dtype=dt)

    def step(self, x: Any, y: Any) -> Any:
        """One SGD step on (x, y); returns the loss (a 0-d array)."""
        xp, layers = self.xp, self.layers
        h = x
        last = len(layers) - 1
        for i, (w, b) in enumerate(layers):
            a = self.acts[i]
            xp.matmul(h, w.T, out=a)
            a += b
            if i < last:
                xp.maximum(a, 0, out=a)
                xp.greater(a, 0, out=self.masks[i])
            h = a
        g = self.acts[-1]
        loss = _softmax_xent_grad(xp, g, y, self.rows, self.col, self.lr / g.shape[0])
        for i in range(last, -1, -1):
            w, b = layers[i]
            inp = self.acts[i - 1] if i else x
            xp.matmul(g.T, inp, out=self.gw[i])
            g.sum(0, out=self.gb[i])
            if i:
                gi = self.grads[i - 1]
                xp.matmul(g, w, out=gi)
                gi *= self.masks[i - 1]
            w -= self.gw[i]  # the learning rate is already in g
            b -= self.gb[i]
            if i:
                g = gi
        return loss


class LMFloor:
    """The hand-written Bengio LM step (tanh hidden layer) at its fastest."""

    def __init__(self, xp: Any, params: dict[str, Any], batch: int, context: int, lr: float) -> None:
        """``params`` as ``lm_init`` returns them (updated in place by ``step``)."""
        self.xp, self.p, self.lr = xp, params, lr
        dt = params["E"].dtype
        v, d = params["E"].shape
        hid = params["W"].shape[0]
        self.e = xp.empty((batch, context * d), dtype=dt)
        self.h = xp.empty((batch, hid), dtype=dt)
        self.z = xp.empty((batch, v), dtype=dt)
        self.gh = xp.empty((batch, hid), dtype=dt)
        self.ge = xp.empty((batch, context * d), dtype=dt)
        # U's and W's gradients share one buffer (each is applied as soon as it is computed)
        scratch = xp.empty(max(params["U"].size, params["W"].size), dtype=dt)
        self.g = {k: scratch[: params[k].size].reshape(params[k].shape) for k in ("W", "U")}
        self.g.update({k: xp.empty_like(params[k]) for k in ("b", "c")})
        self.rows = xp.arange(batch)
        self.col = xp.empty((batch, 1), dtype=dt)

    def step(self, ctx: Any, tgt: Any) -> Any:
        """One SGD step on contexts (B, context) and targets (B,); returns the loss (a 0-d array)."""
        xp, p, g = self.xp, self.p, self.g
        n, k = ctx.shape
        d = p["E"].shape[1]
        ids = ctx.reshape(-1)
        e, h, z, gh, ge = self.e, self.h, self.z, self.gh, self.ge
        xp.take(p["E"], ids, axis=0, out=e.reshape(n * k, d))
        xp.matmul(e, p["W"].T, out=h)
        h += p["b"]
        xp.tanh(h, out=h)
        xp.matmul(h, p["U"].T, out=z)
        z += p["c"]
        loss = _softmax_xent_grad(xp, z, tgt, self.rows, self.col, self.lr / n)
        xp.matmul(z.T, h, out=g["U"])
        z.sum(0, out=g["c"])
        xp.matmul(z, p["U"], out=gh)
        p["U"] -= g["U"]  # the learning rate is already in z
        p["c"] -= g["c"]
        xp.multiply(h, h, out=h)  # tanh' = 1 - h^2, in h's buffer (h is not needed any more)
        xp.subtract(1, h, out=h)
        gh *= h
        xp.matmul(gh.T, e, out=g["W"])
        gh.sum(0, out=g["b"])
        xp.matmul(gh, p["W"], out=ge)
        p["W"] -= g["W"]
        p["b"] -= g["b"]
        _scatter_rows(xp, p["E"], ids, ge.reshape(n * k, d), -1.0)
        return loss


class ChainFloor:
    """The op chain's forward and backward by hand, in place in two preallocated buffers."""

    def __init__(self, xp: Any, x: Any, n_ops: int, mul: float = 1.01) -> None:
        """Chain of ``n_ops`` ops starting from ``x``."""
        self.xp, self.x, self.n_ops, self.mul = xp, x, n_ops, mul
        self.y = xp.empty_like(x)
        self.g = xp.empty_like(x)

    def step(self) -> Any:
        """Forward (kept in a buffer) and backward; returns d sum(y) / dx."""
        y, g = self.y, self.g
        y[...] = self.x
        for i in range(self.n_ops):
            if i % 2:
                y *= self.mul
            else:
                y += 0.5
        g.fill(1)
        for i in range(self.n_ops - 1, -1, -1):
            if i % 2:
                g *= self.mul
        return g
