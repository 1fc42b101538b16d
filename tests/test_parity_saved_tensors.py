"""torch's saved-value attributes of ``grad_fn`` nodes (``_saved_self``, ``_saved_result``, ``_saved_dim``, ...),
``_raw_saved_*`` (``SavedTensor.register_hooks``) and the "Hooks for saved tensors" tutorial, against torch."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


def F(L):  # noqa: N802
    return L.nn.functional


# one op call per row, written once for both libraries: (L, x, M, N, a, b) -> a tensor with a grad_fn
CASES = {
    "exp": lambda L, x, M, N, a, b: x.exp(),
    "log": lambda L, x, M, N, a, b: a.log(),
    "sin": lambda L, x, M, N, a, b: x.sin(),
    "cos": lambda L, x, M, N, a, b: x.cos(),
    "tan": lambda L, x, M, N, a, b: x.tan(),
    "tanh": lambda L, x, M, N, a, b: x.tanh(),
    "sigmoid": lambda L, x, M, N, a, b: x.sigmoid(),
    "relu": lambda L, x, M, N, a, b: x.relu(),
    "sqrt": lambda L, x, M, N, a, b: a.sqrt(),
    "rsqrt": lambda L, x, M, N, a, b: a.rsqrt(),
    "abs": lambda L, x, M, N, a, b: x.abs(),
    "neg": lambda L, x, M, N, a, b: -x,
    "reciprocal": lambda L, x, M, N, a, b: a.reciprocal(),
    "square": lambda L, x, M, N, a, b: x.square(),
    "log1p": lambda L, x, M, N, a, b: a.log1p(),
    "expm1": lambda L, x, M, N, a, b: x.expm1(),
    "erf": lambda L, x, M, N, a, b: x.erf(),
    "sinh": lambda L, x, M, N, a, b: x.sinh(),
    "atan": lambda L, x, M, N, a, b: x.atan(),
    "sign": lambda L, x, M, N, a, b: x.sign(),
    "mul": lambda L, x, M, N, a, b: a * b,
    "mul_scalar": lambda L, x, M, N, a, b: x * 2,
    "mul_scalar_r": lambda L, x, M, N, a, b: 2.5 * x,
    "mul_const": lambda L, x, M, N, a, b: x * b.detach(),
    "div": lambda L, x, M, N, a, b: a / b,
    "div_scalar": lambda L, x, M, N, a, b: x / 2,
    "rdiv": lambda L, x, M, N, a, b: 2 / a,
    "add": lambda L, x, M, N, a, b: a + b,
    "add_scalar": lambda L, x, M, N, a, b: x + 2,
    "sub": lambda L, x, M, N, a, b: a - b,
    "rsub": lambda L, x, M, N, a, b: 1 - x,
    "pow_scalar": lambda L, x, M, N, a, b: x.pow(3),
    "pow_float": lambda L, x, M, N, a, b: a**0.5,
    "pow_tensor": lambda L, x, M, N, a, b: a.pow(b),
    "rpow": lambda L, x, M, N, a, b: 2**x,
    "maximum": lambda L, x, M, N, a, b: L.maximum(a, b),
    "minimum": lambda L, x, M, N, a, b: L.minimum(a, b),
    "atan2": lambda L, x, M, N, a, b: L.atan2(a, b),
    "mm": lambda L, x, M, N, a, b: M.mm(N),
    "matmul2": lambda L, x, M, N, a, b: M @ N,
    "mv": lambda L, x, M, N, a, b: N.t() @ a,
    "dot": lambda L, x, M, N, a, b: a @ b,
    "sum": lambda L, x, M, N, a, b: M.sum(),
    "sum_dim": lambda L, x, M, N, a, b: M.sum(1),
    "sum_keep": lambda L, x, M, N, a, b: M.sum(-1, keepdim=True),
    "mean": lambda L, x, M, N, a, b: M.mean(),
    "mean_dim": lambda L, x, M, N, a, b: M.mean(0, keepdim=True),
    "prod": lambda L, x, M, N, a, b: a.prod(),
    "prod_dim": lambda L, x, M, N, a, b: M.prod(1),
    "amax": lambda L, x, M, N, a, b: M.amax(1),
    "max": lambda L, x, M, N, a, b: M.max(),
    "logsumexp": lambda L, x, M, N, a, b: M.logsumexp(1),
    "var": lambda L, x, M, N, a, b: M.var(1),
    "std": lambda L, x, M, N, a, b: M.std(),
    "norm": lambda L, x, M, N, a, b: M.norm(),
    "cumsum": lambda L, x, M, N, a, b: M.cumsum(1),
    "softmax": lambda L, x, M, N, a, b: M.softmax(1),
    "log_softmax": lambda L, x, M, N, a, b: M.log_softmax(-1),
    "view": lambda L, x, M, N, a, b: M.view(6),
    "reshape": lambda L, x, M, N, a, b: M.reshape(3, 2),
    "flatten": lambda L, x, M, N, a, b: M.flatten(),
    "t": lambda L, x, M, N, a, b: M.t(),
    "transpose": lambda L, x, M, N, a, b: M.transpose(0, 1),
    "permute": lambda L, x, M, N, a, b: M.permute(1, 0),
    "unsqueeze": lambda L, x, M, N, a, b: M.unsqueeze(1),
    "squeeze": lambda L, x, M, N, a, b: M.unsqueeze(1).squeeze(1),
    "expand": lambda L, x, M, N, a, b: x.expand(2, 3),
    "select": lambda L, x, M, N, a, b: M[1],
    "slice": lambda L, x, M, N, a, b: M[:, 1:],
    "index": lambda L, x, M, N, a, b: M[[0, 1]],
    "cat": lambda L, x, M, N, a, b: L.cat([a, b]),
    "stack": lambda L, x, M, N, a, b: L.stack([a, b], 1),
    "clamp": lambda L, x, M, N, a, b: x.clamp(-0.5, 0.5),
    "clamp_min": lambda L, x, M, N, a, b: x.clamp(min=0.1),
    "where": lambda L, x, M, N, a, b: L.where(x > 0, a, b),
    "leaky_relu": lambda L, x, M, N, a, b: F(L).leaky_relu(x, 0.2),
    "elu": lambda L, x, M, N, a, b: F(L).elu(x),
    "gelu": lambda L, x, M, N, a, b: F(L).gelu(x),
    "gelu_tanh": lambda L, x, M, N, a, b: F(L).gelu(x, approximate="tanh"),
    "silu": lambda L, x, M, N, a, b: F(L).silu(x),
    "softplus": lambda L, x, M, N, a, b: F(L).softplus(x),
    "hardtanh": lambda L, x, M, N, a, b: F(L).hardtanh(x),
    "logsigmoid": lambda L, x, M, N, a, b: F(L).logsigmoid(x),
    "linear": lambda L, x, M, N, a, b: F(L).linear(M, N.t().contiguous()),
    "l1_loss": lambda L, x, M, N, a, b: F(L).l1_loss(a, b),
    "to_double": lambda L, x, M, N, a, b: x.double(),
    "clone": lambda L, x, M, N, a, b: x.clone(),
    "tril": lambda L, x, M, N, a, b: N.tril(),
    "flip": lambda L, x, M, N, a, b: M.flip(0),
    "roll": lambda L, x, M, N, a, b: M.roll(1, 1),
    "masked_fill": lambda L, x, M, N, a, b: x.masked_fill(x > 0, 0.0),
    "lerp": lambda L, x, M, N, a, b: L.lerp(a, b, 0.3),
    "narrow": lambda L, x, M, N, a, b: M.narrow(1, 1, 2),
}


def inputs(L, seed=0):
    rng = np.random.default_rng(seed)

    def t(*shape, pos=False):
        v = rng.standard_normal(shape)
        if pos:
            v = np.abs(v) + 0.5
        return L.tensor(v.astype(np.float32), requires_grad=True)

    return t(3), t(2, 3), t(3, 4), t(3, pos=True), t(3, pos=True)


def saved_names(node):
    return sorted(a for a in dir(node) if a.startswith(("_saved_", "_raw_saved_")) and a != "_saved_tensors")


def plain(v, L):
    """A saved value in a form both libraries compare by."""
    if isinstance(v, L.Tensor):
        values = np.asarray(v.detach().double().reshape(-1).tolist())
        return ("tensor", tuple(v.shape), str(v.dtype).split(".")[-1], values)
    if isinstance(v, tuple):
        return tuple(plain(x, L) for x in v)
    return v


def same(p, q):
    if isinstance(p, tuple) and p and p[0] == "tensor" and isinstance(q, tuple) and q and q[0] == "tensor":
        return p[:3] == q[:3] and np.allclose(p[3], q[3], rtol=1e-5, atol=1e-6)
    if isinstance(p, tuple) and isinstance(q, tuple):
        return len(p) == len(q) and all(same(a, b) for a, b in zip(p, q))
    return p == q and type(p) is type(q)


@pytest.mark.parametrize("case", sorted(CASES))
def test_saved_attributes_match_torch(case: str) -> None:
    torch = pytest.importorskip("torch")
    g = CASES[case](torch, *inputs(torch)).grad_fn
    n = CASES[case](bp, *inputs(bp)).grad_fn
    assert n.name() == g.name()
    assert saved_names(n) == saved_names(g)
    for attr in saved_names(g):
        if attr.startswith("_raw_saved_"):
            assert type(getattr(n, attr)).__name__ == type(getattr(g, attr)).__name__
            continue
        want, got = plain(getattr(g, attr), torch), plain(getattr(n, attr), bp)
        assert same(got, want), (attr, got, want)


def test_explicit_values() -> None:
    x = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()
    assert y.grad_fn._saved_result.equal(y) and y.grad_fn._saved_result is not y
    assert y.grad_fn._saved_result.grad_fn is y.grad_fn
    a, b = bp.randn(3, requires_grad=True), bp.randn(3, requires_grad=True)
    m = (a * b).grad_fn
    assert m._saved_self is a and m._saved_other is b
    two = (x * 2).grad_fn
    assert two._saved_self is None
    assert two._saved_other.item() == 2 and two._saved_other.dtype == bp.int64 and two._saved_other.shape == ()
    assert (2.5 * x).grad_fn._saved_other.dtype == bp.float64
    assert x.pow(3).grad_fn._saved_exponent == 3
    M, N = bp.randn(2, 3, requires_grad=True), bp.randn(3, 4, requires_grad=True)
    mm = (M @ N).grad_fn
    assert mm._saved_self is M and mm._saved_mat2 is N
    assert mm._saved_self_sym_sizes == (2, 3) and mm._saved_mat2_sym_strides == (4, 1)
    s = M.sum(-1, keepdim=True).grad_fn
    assert s._saved_dim == (2**64 - 1,) and s._saved_keepdim is True and s._saved_self_sym_sizes == (2, 3)
    assert M.mean().grad_fn._saved_self_sym_numel == 6
    assert M.transpose(0, 1).grad_fn._saved_dim1 == 1
    sl = M[:, 1:].grad_fn
    assert (sl._saved_dim, sl._saved_start, sl._saved_end, sl._saved_step) == (1, 1, 2**63 - 1, 1)
    assert M.softmax(-1).grad_fn._saved_dim == 2**64 - 1
    assert (a + b).grad_fn._saved_alpha == 1
    assert "_saved_result" in dir(y) or "_saved_result" in dir(y.grad_fn)
    assert "_raw_saved_self" in dir(m) and "_saved_other" in dir(m)
    assert not hasattr(m, "_saved_result") and not hasattr(y.grad_fn, "_raw_saved_self")
    with pytest.raises(AttributeError):
        m._saved_nothing  # noqa: B018


def test_freed_saved_values_raise_as_torch() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        _ = y.grad_fn._saved_self
    with pytest.raises(RuntimeError, match="after it has been freed"):
        y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t)
    z = x * 2
    z.sum().backward()
    assert z.grad_fn._saved_self is None  # (never saved: nothing to free)
    s = x.sum(0)
    s.backward()
    assert s.grad_fn._saved_dim == (0,)  # (values that are not tensors stay)
    w = x * x
    w.sum().backward(retain_graph=True)
    assert w.grad_fn._saved_self is x


def test_modified_saved_tensor_raises() -> None:
    a = bp.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    c = b * b
    with bp.no_grad():
        b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _ = c.grad_fn._saved_self


def _hooks_script(L):
    """SavedTensor.register_hooks: pack at once, unpack on each read, torch's errors."""
    log = []
    out = []

    def pk(t):
        log.append(("pack", tuple(t.shape)))
        return ("P", t)

    def up(p):
        log.append("unpack")
        return p[1]

    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.pow(2)
    raw = y.grad_fn._raw_saved_self
    out.append((type(raw).__name__, raw.data is x))
    raw.register_hooks(pk, up)
    out.append((list(log), raw.data[0]))
    out.append(y.grad_fn._saved_self.tolist())
    out.append(list(log))
    for r in (raw, y.grad_fn._raw_saved_self):
        with pytest.raises(RuntimeError, match="whose hooks have already been set"):
            r.register_hooks(pk, up)
    y.sum().backward()
    out.append((list(log), x.grad.tolist()))
    with pytest.raises(RuntimeError, match="after it has been freed"):
        raw.register_hooks(pk, up)
    with pytest.raises(RuntimeError, match="with value None is forbidden"):
        (x * 2).grad_fn._raw_saved_self.register_hooks(pk, up)
    with pytest.raises(TypeError):
        (x * x).grad_fn._raw_saved_self.register_hooks(1, up)
    with L.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = x.pow(2)
    with pytest.raises(RuntimeError, match="whose hooks have already been set"):
        y.grad_fn._raw_saved_self.register_hooks(pk, up)
    y = x.exp()
    y.grad_fn._raw_saved_result.register_hooks(lambda t: t * 0, lambda p: p)
    x.grad = None
    y.sum().backward()
    out.append(x.grad.tolist())
    y = x.pow(2)
    y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda p: 5)
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor"):
        y.sum().backward()
    a = L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True)
    c = a.exp() * a.exp()
    c.grad_fn._raw_saved_other.register_hooks(lambda t: t.detach() * 2, lambda p: p / 2)
    c.sum().backward(retain_graph=True)
    out.append(a.grad.tolist())
    c.sum().backward()
    out.append(a.grad.tolist())
    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.pow(3)
    y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda p: p)
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    (g2,) = L.autograd.grad(g.sum(), x)
    out.append((g.tolist(), g2.tolist()))
    return out


def test_register_hooks_as_torch() -> None:
    got = _hooks_script(bp)
    assert got[1] == ([("pack", (3,))], "P")
    assert got[3] == [("pack", (3,)), "unpack"]
    torch = pytest.importorskip("torch")
    assert got == _hooks_script(torch)


def _tutorial(L):
    """The CPU parts of pytorch/tutorials intermediate_source/autograd_saved_tensors_hooks_tutorial.py, tiny."""
    nn = L.nn
    out = []
    L.manual_seed(0)
    a = L.randn(5, requires_grad=True)
    b = L.ones(5, requires_grad=True)
    y = a * b
    out.append((y.grad_fn._saved_self is a, y.grad_fn._saved_other is b))
    a = L.randn(5, requires_grad=True)
    y = L.exp(a)
    out.append((y.grad_fn._saved_result.equal(y), y.grad_fn._saved_result is y))

    log = []

    def pack_hook(x):
        log.append(("Packing", x.tolist()))
        return x

    def unpack_hook(x):
        log.append(("Unpacking", x.tolist()))
        return x

    a = L.ones(5, requires_grad=True)
    b = L.ones(5, requires_grad=True) * 2
    with L.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook):
        y = a * b
    y.sum().backward()
    out.append(log)

    x = L.randn(5, requires_grad=True)
    with L.autograd.graph.saved_tensors_hooks(lambda x: x * 4, lambda x: x / 4):
        y = L.pow(x, 2)
    y.sum().backward()
    out.append(bool(x.grad.equal(2 * x)))

    storage = []

    def pack(x):
        storage.append(x)
        return len(storage) - 1

    def unpack(x):
        return storage[x]

    x = L.randn(5, requires_grad=True)
    with L.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = x * x
    y.sum().backward()
    out.append(bool(x.grad.equal(2 * x)))

    def pack2(x):
        delta = L.randn(*x.size())
        return x - delta, lambda x: x + delta

    def unpack2(packed):
        x, f = packed
        return f(x)

    x = L.randn(5, requires_grad=True)
    with L.autograd.graph.saved_tensors_hooks(pack2, unpack2):
        y = x * x
    y.sum().backward()
    out.append(bool(L.allclose(x.grad, 2 * x)))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(L.randn(5))

        def forward(self, x):
            with L.autograd.graph.save_on_cpu(pin_memory=False):
                return self.w * x

    x = L.randn(5)
    model = Model()
    model(x).sum().backward()
    out.append(bool(L.allclose(model.w.grad, x)))

    # the double access of the "Incorrect version" (unpack deletes what pack stored): the second fails
    stored = {}

    def pack_once(t):
        stored[id(t)] = t.detach().clone()
        return id(t)

    def unpack_once(key):
        return stored.pop(key)

    x = L.ones(5, requires_grad=True)
    with L.autograd.graph.saved_tensors_hooks(pack_once, unpack_once):
        y = x.pow(2)
    out.append(y.grad_fn._saved_self.tolist())
    try:
        _ = y.grad_fn._saved_self
        out.append("Double access succeeded!")
    except Exception:
        out.append("Double access failed!")

    # pack hooks run once per saved tensor; the packed objects are freed by backward
    freed = []

    class SelfDeleting:
        def __init__(self, t):
            self.t = t.detach().clone()

        def __del__(self):
            freed.append(1)

    x = L.randn(5, requires_grad=True)
    with L.autograd.graph.saved_tensors_hooks(SelfDeleting, lambda p: p.t):
        y = x.pow(2)
    y.sum().backward()
    out.append(len(freed))
    # the same through one saved tensor's own hooks (SavedTensor.register_hooks)
    x = L.randn(5, requires_grad=True)
    y = x.pow(2)
    y.grad_fn._raw_saved_self.register_hooks(SelfDeleting, lambda p: p.t)
    y.sum().backward()
    out.append((len(freed), bool(L.allclose(x.grad, 2 * x))))
    return out


def test_saved_tensors_hooks_tutorial() -> None:
    got = _tutorial(bp)
    assert got[0] == (True, True) and got[1] == (True, False)
    assert [k for k, _ in got[2]] == ["Packing", "Packing", "Unpacking", "Unpacking"]
    assert got[3:7] == [True, True, True, True]
    assert got[8] == "Double access failed!" and got[9:] == [1, (2, True)]
    torch = pytest.importorskip("torch")
    want = _tutorial(torch)
    assert [k for k, _ in got[2]] == [k for k, _ in want[2]]
    assert got[:2] + got[3:] == want[:2] + want[3:]
