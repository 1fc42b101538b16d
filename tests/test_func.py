"""bp.func (torch.func's names) against torch.func: grad/grad_and_value (argnums, pytrees, has_aux, grads of
grads), vjp, jvp, linearize, jacrev, jacfwd, hessian, vmap (in_dims/out_dims, nesting, errors), per-sample
gradients and model ensembling with functional_call; plus closed-form checks that run without torch, vmap's
randomness modes, and functional_call's swapping, restoring, tying and strictness."""

# ruff: noqa: B023 - the lambdas built in loops are called at once, inside the same iteration

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
import backprop.func as bpf
import backprop.nn as nn
import backprop.nn.functional as F
from backprop.nn.utils import stateless

try:
    import torch
    import torch.func as tf
except ImportError:  # the closed-form tests below still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")
# torch's forward-mode AD (its jvp, jacfwd, linearize) scripts a helper on first use, which warns in torch 2.13
torch_forward_ad = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
torch_fx = pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node:UserWarning")  # torch's linearize

RNG = np.random.default_rng(0)


def R(*shape):
    return RNG.standard_normal(shape)


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _same(ours, theirs, rtol=1e-7, atol=1e-9):
    """Equal pytrees of tensors: structure, shapes, dtypes and values."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k], rtol, atol)
    elif isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (type(ours), type(theirs))
        for a, b in zip(ours, theirs):
            _same(a, b, rtol, atol)
    else:
        assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
        np.testing.assert_allclose(_np(ours), _np(theirs), rtol=rtol, atol=atol)


def _pair(*arrays):
    return [bp.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


# ------------------------------------------------------------------------------------------ vs torch
@needs_torch
@pytest.mark.parametrize(
    "name, fn, argnums",
    [
        ("sin-x", lambda lib, x, y: (lib.sin(x) * x).sum(), 0),
        ("xy", lambda lib, x, y: (x * y.exp()).sum(), 1),
        ("both", lambda lib, x, y: (x @ y).tanh().sum(), (0, 1)),
        ("negative", lambda lib, x, y: (x.pow(3) - y).mean(), -2),
        ("unused", lambda lib, x, y: (y * 2).sum(), (0, 1)),
        ("constant", lambda lib, x, y: lib.tensor(3.0, dtype=lib.float64), 0),
    ],
)
def test_grad_matches_torch(name, fn, argnums):
    (x, y), (xt, yt) = _pair(R(3, 3), R(3, 3))
    g = bpf.grad(lambda a, b: fn(bp, a, b), argnums)(x, y)
    gt = tf.grad(lambda a, b: fn(torch, a, b), argnums)(xt, yt)
    _same(g, gt)
    assert all(not t.requires_grad for t in (g if isinstance(g, tuple) else (g,)))
    gv, v = bpf.grad_and_value(lambda a, b: fn(bp, a, b), argnums)(x, y)
    gvt, vt = tf.grad_and_value(lambda a, b: fn(torch, a, b), argnums)(xt, yt)
    _same(gv, gvt)
    _same(v, vt)


@needs_torch
def test_grad_pytrees_and_aux_match_torch():
    (w, b, x), (wt, bt, xt) = _pair(R(2, 3), R(2), R(3))

    def f(lib, params, x, scale):
        y = params["w"] @ x + params["extra"][0] * params["b"]
        return (y.sin().sum() * scale, {"y": y})

    p = {"w": w, "b": b, "extra": [bp.tensor(2.0, dtype=bp.float64)]}
    pt = {"w": wt, "b": bt, "extra": [torch.tensor(2.0, dtype=torch.float64)]}
    g, aux = bpf.grad(lambda p, x, s: f(bp, p, x, s), has_aux=True)(p, x, 1.5)
    gt, auxt = tf.grad(lambda p, x, s: f(torch, p, x, s), has_aux=True)(pt, xt, 1.5)
    _same(g, gt)
    _same(aux["y"], auxt["y"])
    assert not aux["y"].requires_grad
    (g2, (v, aux2)) = bpf.grad_and_value(lambda p, x, s: f(bp, p, x, s), (0, 1), has_aux=True)(p, x, 2.0)
    (g2t, (vt, aux2t)) = tf.grad_and_value(lambda p, x, s: f(torch, p, x, s), (0, 1), has_aux=True)(pt, xt, 2.0)
    _same(g2, g2t)
    _same(v, vt)


@needs_torch
def test_grads_of_grads_match_torch():
    (x,), (xt,) = _pair(R(4))
    s, st = bp.tensor(0.7, dtype=bp.float64), torch.tensor(0.7, dtype=torch.float64)

    def f(lib, x):
        return (x.sin() * x.pow(2)).sum()

    _same(bpf.grad(bpf.grad(lambda a: f(bp, a)))(s), tf.grad(tf.grad(lambda a: f(torch, a)))(st))
    _same(bpf.grad(bpf.grad(bpf.grad(lambda a: f(bp, a))))(s), tf.grad(tf.grad(tf.grad(lambda a: f(torch, a))))(st))
    # closures: the inner gradient depends on the outer variable (and the same tensor at both levels)
    inner = bpf.grad(lambda x: bpf.grad(lambda y: (x * y.sin()).sum())(x).pow(2).sum())(x)
    inner_t = tf.grad(lambda x: tf.grad(lambda y: (x * y.sin()).sum())(x).pow(2).sum())(xt)
    _same(inner, inner_t)
    _same(bpf.jacrev(bpf.grad(lambda a: f(bp, a)))(x), tf.jacrev(tf.grad(lambda a: f(torch, a)))(xt))
    _same(bpf.vmap(bpf.grad(bpf.grad(lambda a: f(bp, a))))(x), tf.vmap(tf.grad(tf.grad(lambda a: f(torch, a))))(xt))


@torch_fx
@torch_forward_ad
@needs_torch
def test_vjp_jvp_linearize_match_torch():
    (x, y, c1, c2, t1, t2), (xt, yt, c1t, c2t, t1t, t2t) = _pair(R(3, 2), R(2), R(3, 2), R(3), R(3, 2), R(2))

    def f(x, y):
        return x.sin() * y, (x @ y).exp()

    out, fn = bpf.vjp(f, x, y)
    outt, fnt = tf.vjp(f, xt, yt)
    _same(out, outt)
    _same(fn((c1, c2)), fnt((c1t, c2t)))
    _same(fn((c2.new_ones(3, 2), c2)), fnt((c2t.new_ones(3, 2), c2t)))  # a second call
    out, fn, aux = bpf.vjp(lambda x: (x.tanh(), x.sum()), x, has_aux=True)
    outt, fnt, auxt = tf.vjp(lambda x: (x.tanh(), x.sum()), xt, has_aux=True)
    _same((out, fn(c1), aux), (outt, fnt(c1t), auxt))
    _same(bpf.jvp(f, (x, y), (t1, t2)), tf.jvp(f, (xt, yt), (t1t, t2t)))
    _same(bpf.jvp(lambda x: x, (x,), (t1,)), tf.jvp(lambda x: x, (xt,), (t1t,)))  # the identity
    o, jf = bpf.linearize(f, x, y)
    ot, jft = tf.linearize(f, xt, yt)
    _same(o, ot)
    _same(jf(t1, t2), jft(t1t, t2t))
    _same(jf(c1, t2), jft(c1t, t2t))


@torch_forward_ad
@needs_torch
@pytest.mark.parametrize("which", ["jacrev", "jacfwd"])
def test_jacobians_match_torch(which):
    ours, theirs = getattr(bpf, which), getattr(tf, which)
    (x, y), (xt, yt) = _pair(R(3), R(2, 3))

    def f(x, y):
        return (y @ x).sin(), x.pow(2).sum()

    _same(ours(f)(x, y), theirs(f)(xt, yt))
    _same(ours(f, argnums=(0, 1))(x, y), theirs(f, argnums=(0, 1))(xt, yt))
    _same(ours(lambda x: x.exp())(x), theirs(lambda x: x.exp())(xt))
    jac, aux = ours(lambda x, y: ((y @ x).cos(), y.sum()), argnums=1, has_aux=True)(x, y)
    jact, auxt = theirs(lambda x, y: ((y @ x).cos(), y.sum()), argnums=1, has_aux=True)(xt, yt)
    _same((jac, aux), (jact, auxt))
    p, pt = {"a": x, "b": y}, {"a": xt, "b": yt}
    _same(ours(lambda p: (p["b"] @ p["a"]).tanh())(p), theirs(lambda p: (p["b"] @ p["a"]).tanh())(pt))


@torch_forward_ad
@needs_torch
def test_hessian_matches_torch():
    (x, a), (xt, at) = _pair(R(3), R(3, 3))
    _same(bpf.hessian(lambda x: (x.sin() * (a @ x)).sum())(x), tf.hessian(lambda x: (x.sin() * (at @ x)).sum())(xt))
    h = bpf.hessian(lambda x, a: (a @ x).pow(3).sum(), argnums=(0, 1))(x, a)
    ht = tf.hessian(lambda x, a: (a @ x).pow(3).sum(), argnums=(0, 1))(xt, at)
    _same(h, ht)


@needs_torch
def test_vmap_matches_torch():
    (x, y, z), (xt, yt, zt) = _pair(R(4, 3), R(3, 5), R(2, 4, 3))
    cases = [
        (lambda x, y: x @ y, dict(), (x, y), (xt, yt), (0, None)),
        (lambda x, y: x @ y, dict(out_dims=1), (x, y), (xt, yt), (0, None)),
        (lambda x, y: x * y, dict(), (x, x.T), (xt, xt.T), (1, 0)),
        (lambda z: z.sum(0), dict(), (z,), (zt,), (-1,)),
        (lambda x: (x.sum(), x.exp()), dict(out_dims=(0, -1)), (x,), (xt,), 0),
        (lambda p: {"s": p["a"] * p["b"]}, dict(), ({"a": x, "b": x[0]},), ({"a": xt, "b": xt[0]},),
         ({"a": 0, "b": None},)),
    ]  # fmt: skip
    for fn, kw, args, targs, in_dims in cases:
        _same(bpf.vmap(fn, in_dims, **kw)(*args), tf.vmap(fn, in_dims, **kw)(*targs))
    # nested: a matrix of pairwise dot products
    _same(
        bpf.vmap(bpf.vmap(lambda a, b: (a * b).sum(), (None, 0)), (0, None))(x, y.T),
        tf.vmap(tf.vmap(lambda a, b: (a * b).sum(), (None, 0)), (0, None))(xt, yt.T),
    )
    # kwargs pass through unmapped; out_dims=None returns an unmapped output as it is
    _same(bpf.vmap(lambda x, *, k: x * k)(x, k=2.0), tf.vmap(lambda x, *, k: x * k)(xt, k=2.0))
    pair = lambda x, y: (x.sum(), y)  # noqa: E731
    _same(bpf.vmap(pair, (0, None), (0, None))(x, y), tf.vmap(pair, (0, None), (0, None))(xt, yt))


@torch_forward_ad
@needs_torch
def test_compositions_match_torch():
    (a,), (at,) = _pair(R(3, 4))

    def f(v):
        return (v.sin() * v.sum()).exp()

    def s(v):
        return f(v).sum()

    ones, ones_t = bp.ones(3, 4, dtype=bp.float64), torch.ones(3, 4, dtype=torch.float64)
    pairs = [
        (bpf.vmap(bpf.jacrev(f)), tf.vmap(tf.jacrev(f))),
        (bpf.jacrev(bpf.vmap(f)), tf.jacrev(tf.vmap(f))),
        (bpf.vmap(bpf.hessian(s)), tf.vmap(tf.hessian(s))),
        (bpf.grad(lambda m: bpf.vmap(f)(m).sum()), tf.grad(lambda m: tf.vmap(f)(m).sum())),
        (bpf.jacfwd(bpf.jacrev(s)), tf.jacfwd(tf.jacrev(s))),
        (
            bpf.grad(lambda v: bpf.jvp(lambda u: u.sin() * u, (v,), (ones,))[1].sum()),
            tf.grad(lambda v: tf.jvp(lambda u: u.sin() * u, (v,), (ones_t,))[1].sum()),
        ),
        (lambda v: bpf.jvp(bpf.grad(s), (v,), (ones,))[1], lambda v: tf.jvp(tf.grad(s), (v,), (ones_t,))[1]),
        (
            bpf.grad(lambda v: bpf.vjp(lambda u: u.sin(), v)[1](ones)[0].sum()),
            tf.grad(lambda v: tf.vjp(lambda u: u.sin(), v)[1](ones_t)[0].sum()),
        ),
    ]
    for ours, theirs in pairs:
        _same(ours(a), theirs(at), rtol=1e-10, atol=1e-12)


@needs_torch
def test_vmap_errors_match_torch():
    x, y = bp.zeros(3, 2), bp.zeros(4, 2)
    xt, yt = torch.zeros(3, 2), torch.zeros(4, 2)

    def message(call):
        with pytest.raises((ValueError, RuntimeError)) as info:
            call()
        return str(info.value)

    def f(x, y):
        return x

    assert message(lambda: bpf.vmap(f)(x, y)) == message(lambda: tf.vmap(f)(xt, yt))
    assert message(lambda: bpf.vmap(f, (0, 0))(x, 3)) == message(lambda: tf.vmap(f, (0, 0))(xt, 3))
    assert message(lambda: bpf.vmap(f, (None, None))(x, y)) == message(lambda: tf.vmap(f, (None, None))(xt, yt))
    assert message(lambda: bpf.vmap(f, (2, 0))(x, y)) == message(lambda: tf.vmap(f, (2, 0))(xt, yt))
    assert message(lambda: bpf.vmap(f, [0, 0])(x, y)) == message(lambda: tf.vmap(f, [0, 0])(xt, yt))
    assert message(lambda: bpf.vmap(lambda x: 3)(x)) == message(lambda: tf.vmap(lambda x: 3)(xt))
    assert message(lambda: bpf.vmap(f, randomness="x")) == message(lambda: tf.vmap(f, randomness="x"))
    assert message(lambda: bpf.vmap(f, chunk_size=0)) == message(lambda: tf.vmap(f, chunk_size=0))
    assert message(lambda: bpf.grad(lambda x: x)(x)) == message(lambda: tf.grad(lambda x: x)(xt))
    assert message(lambda: bpf.grad(f, argnums=2)(x, y)) == message(lambda: tf.grad(f, argnums=2)(xt, yt))
    assert message(lambda: bpf.grad(f, has_aux=True)(x, y)) == message(lambda: tf.grad(f, has_aux=True)(xt, yt))
    rand = message(lambda: bpf.vmap(lambda x: x + bp.rand(2))(x))
    assert rand == message(lambda: tf.vmap(lambda x: x + torch.rand(2))(xt))


def _mlp(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2))


def _copy_into(ours, theirs):
    ours.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


@needs_torch
def test_per_sample_gradients_match_torch():
    """torch's per-sample-gradients tutorial: vmap(grad(loss of functional_call)) over the batch."""
    model_t = _mlp(torch)
    model = _mlp(bp)
    _copy_into(model, model_t)
    (x, y), (xt, yt) = _pair(R(6, 3).astype(np.float32), RNG.integers(0, 2, 6))

    def loss(lib, model, params, buffers, sample, target):
        out = lib.func.functional_call(model, (params, buffers), (sample.unsqueeze(0),))
        return lib.nn.functional.cross_entropy(out, target.unsqueeze(0))

    params = {k: v.detach() for k, v in model.named_parameters()}
    params_t = {k: v.detach() for k, v in model_t.named_parameters()}
    per = bpf.vmap(bpf.grad(lambda *a: loss(bpf_lib, model, *a)), in_dims=(None, None, 0, 0))(params, {}, x, y)
    per_t = tf.vmap(tf.grad(lambda *a: loss(torch, model_t, *a)), in_dims=(None, None, 0, 0))(params_t, {}, xt, yt)
    _same(per, per_t, rtol=1e-5, atol=1e-6)
    assert all(model.get_parameter(k).grad is None for k in per)  # .grad untouched
    # the mean of the per-sample gradients is the batch gradient
    F.cross_entropy(model(x), y).backward()
    for k, p in model.named_parameters():
        np.testing.assert_allclose(per[k].numpy().mean(0), p.grad.numpy(), rtol=1e-5, atol=1e-6)


class _Lib:
    """``bp`` with ``func`` bound, whether or not the package exports it yet."""

    func = bpf
    nn = bp.nn


bpf_lib = _Lib()


@needs_torch
def test_model_ensembling_matches_torch():
    """torch's model-ensembling tutorial: stack_module_state, then vmap over functional_call."""
    models_t = [_mlp(torch) for _ in range(3)]
    for i, m in enumerate(models_t):
        torch.manual_seed(i)
        for p in m.parameters():
            p.data.normal_()
    models = [_mlp(bp) for _ in range(3)]
    for m, mt in zip(models, models_t):
        _copy_into(m, mt)
    (x,), (xt,) = _pair(R(5, 3).astype(np.float32))
    params, buffers = bpf.stack_module_state(models)
    params_t, buffers_t = tf.stack_module_state(models_t)
    _same(params, params_t)
    assert all(p.requires_grad and p.is_leaf for p in params.values())

    def run(lib, base):
        return lambda p, b, x: lib.func.functional_call(base, (p, b), (x,))

    out = bpf.vmap(run(bpf_lib, models[0]), (0, 0, None))(params, buffers, x)
    out_t = tf.vmap(run(torch, models_t[0]), (0, 0, None))(params_t, buffers_t, xt)
    _same(out, out_t, rtol=1e-5, atol=1e-6)
    out.pow(2).sum().backward()  # gradients reach the stacked leaves, as torch's
    out_t.pow(2).sum().backward()
    for k in params:
        np.testing.assert_allclose(params[k].grad.numpy(), params_t[k].grad.numpy(), rtol=1e-4, atol=1e-5)


@needs_torch
def test_functional_call_matches_torch_with_buffers():
    bn_t, bn = torch.nn.BatchNorm1d(3), bp.nn.BatchNorm1d(3)
    (x,), (xt,) = _pair(R(4, 3).astype(np.float32))
    state = {k: bp.tensor(v.numpy()) for k, v in bn_t.state_dict().items()}
    state_t = {k: v.clone() for k, v in bn_t.state_dict().items()}
    _same(bpf.functional_call(bn, state, x), tf.functional_call(bn_t, state_t, xt), rtol=1e-5, atol=1e-6)
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        _same(state[k], state_t[k], rtol=1e-5, atol=1e-6)  # the updates land in the dict's tensors
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))  # not in the module's


# ------------------------------------------------------------------------------------------ closed forms
def test_closed_form_derivatives():
    a = bp.tensor(R(3, 3))
    x, t = bp.tensor(R(3)), bp.tensor(R(3))
    np.testing.assert_allclose(bpf.grad(lambda x: (x * x).sum())(x).numpy(), 2 * x.numpy())
    quad = lambda x: x @ (a @ x)  # noqa: E731
    np.testing.assert_allclose(bpf.hessian(quad)(x).numpy(), a.numpy() + a.numpy().T, atol=1e-12)
    np.testing.assert_allclose(bpf.jacrev(lambda x: a @ x)(x).numpy(), a.numpy())
    np.testing.assert_allclose(bpf.jacfwd(lambda x: a @ x)(x).numpy(), a.numpy())
    out, jv = bpf.jvp(lambda x: a @ x, (x,), (t,))
    np.testing.assert_allclose(jv.numpy(), a.numpy() @ t.numpy())
    _, vjp_fn = bpf.vjp(lambda x: a @ x, x)
    np.testing.assert_allclose(vjp_fn(t)[0].numpy(), a.numpy().T @ t.numpy())
    s = bp.tensor(0.3, dtype=bp.float64)
    np.testing.assert_allclose(bpf.grad(bpf.grad(bpf.grad(bp.sin)))(s).item(), -np.cos(0.3))


def test_linearize_is_differentiable_in_the_primal():
    """d/dx sum(J(x) 1) for sin(x) x is 2 cos(x) - x sin(x) (torch 2.13's linearize gives zeros here)."""
    x = bp.tensor(R(5))
    got = bpf.grad(lambda v: bpf.linearize(lambda u: u.sin() * u, v)[1](bp.ones_like(v)).sum())(x)
    np.testing.assert_allclose(got.numpy(), 2 * np.cos(x.numpy()) - x.numpy() * np.sin(x.numpy()), rtol=1e-12)


def test_per_sample_gradients_closed_form():
    """Linear regression: d/dw (w.x - y)^2 = 2 (w.x - y) x for each sample."""
    w, xs, ys = bp.tensor(R(3)), bp.tensor(R(5, 3)), bp.tensor(R(5))
    per = bpf.vmap(bpf.grad(lambda w, x, y: (w @ x - y).pow(2)), in_dims=(None, 0, 0))(w, xs, ys)
    want = 2 * (xs.numpy() @ w.numpy() - ys.numpy())[:, None] * xs.numpy()
    np.testing.assert_allclose(per.numpy(), want)
    # vmap inside grad: the gradient of a mapped loss
    g = bpf.grad(lambda w: bpf.vmap(lambda x, y: (w @ x - y).pow(2))(xs, ys).sum())(w)
    np.testing.assert_allclose(g.numpy(), want.sum(0))


def test_vmap_closed_form_dims():
    x = bp.tensor(R(2, 3, 4))
    np.testing.assert_allclose(bpf.vmap(lambda r: r.sum(), in_dims=1)(x).numpy(), x.numpy().sum((0, 2)))
    out = bpf.vmap(lambda r: r * 2, in_dims=-1, out_dims=-1)(x)
    np.testing.assert_allclose(out.numpy(), 2 * x.numpy())
    out = bpf.vmap(lambda r: r.exp(), in_dims=1, out_dims=2)(x)
    assert tuple(out.shape) == (2, 4, 3)
    np.testing.assert_allclose(out.numpy(), np.exp(x.numpy()).transpose(0, 2, 1))
    nested = bpf.vmap(bpf.vmap(lambda v: v.max()))(x)
    np.testing.assert_allclose(nested.numpy(), x.numpy().max(-1))
    with pytest.raises(ValueError, match="got sizes \\[2, 3\\]"):
        bpf.vmap(lambda a, b: a)(x, x[0])


def test_results_detached_or_connected_as_torch():
    x = bp.tensor(R(3), requires_grad=True)
    g = bpf.grad(lambda x: x.pow(3).sum())(x.detach())
    assert not g.requires_grad and g.grad_fn is None
    g = bpf.grad(lambda x: x.pow(3).sum())(x)  # an input that requires grad keeps its graph
    assert g.requires_grad
    g.sum().backward()  # d/dx sum(3 x^2) = 6x, into x.grad through the transform
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy())
    w = bp.tensor(R(3), requires_grad=True)  # a closed-over tensor that requires grad keeps the graph too
    gx = bpf.grad(lambda x: (w * x).sin().sum())(x.detach())
    assert gx.requires_grad and w.grad is None
    with bp.no_grad():  # grad ignores an outer no_grad, and its result is plain
        g = bpf.grad(lambda x: x.pow(2).sum())(x)
    assert not g.requires_grad
    np.testing.assert_allclose(g.numpy(), 2 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="floating point"):
        bpf.grad(lambda i: i.sum())(bp.tensor([1, 2]))


def test_vmap_randomness_modes():
    x = bp.zeros(4, 3)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        bpf.vmap(lambda r: r + bp.randn(3))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        bpf.vmap(lambda r: F.dropout(r, 0.5))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        bpf.vmap(lambda r: r + bp.randn(3, generator=bp.Generator()))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        bpf.jacfwd(lambda r: r * bp.rand(3))(x[0])
    bp.randn(3)  # the generators work again afterwards
    bp.manual_seed(5)
    same = bpf.vmap(lambda r: r + bp.randn(3), randomness="same")(x).numpy()
    after_same = bp.randn(3).numpy()
    bp.manual_seed(5)
    first, second = bp.randn(3).numpy(), bp.randn(3).numpy()
    np.testing.assert_array_equal(same, np.tile(first, (4, 1)))  # every slice: the same draw
    np.testing.assert_array_equal(after_same, second)  # and the stream moved on by one slice's draws
    bp.manual_seed(5)
    diff = bpf.vmap(lambda r: r + bp.randn(3), randomness="different")(x).numpy()
    bp.manual_seed(5)
    np.testing.assert_array_equal(diff, np.stack([bp.randn(3).numpy() for _ in range(4)]))


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2, bias=False)
        self.b = nn.Linear(2, 2, bias=False)
        self.b.weight = self.a.weight
        self.register_buffer("count", bp.zeros(()))

    def forward(self, x):
        self.count = self.count + 1
        return self.b(self.a(x))


def test_functional_call_swaps_and_restores():
    m = _Tied()
    w0 = m.a.weight
    x = bp.tensor(R(1, 2).astype(np.float32))
    w = bp.tensor(R(2, 2).astype(np.float32), requires_grad=True)
    out = bpf.functional_call(m, {"a.weight": w}, x)  # tied: b.weight becomes w too
    np.testing.assert_allclose(out.detach().numpy(), x.numpy() @ w.detach().numpy().T @ w.detach().numpy().T, rtol=1e-6)
    out.sum().backward()
    assert w.grad is not None and w0.grad is None
    assert m.a.weight is w0 and m.b.weight is w0
    untied = bpf.functional_call(m, {"a.weight": w}, x, tie_weights=False)
    want = x.numpy() @ w.detach().numpy().T @ w0.detach().numpy().T
    np.testing.assert_allclose(untied.detach().numpy(), want, rtol=1e-6)
    with pytest.raises(ValueError, match="tied"):
        bpf.functional_call(m, {"a.weight": w, "b.weight": w.detach()}, x)
    before = m.count.item()  # (the calls above ran the forward on the module's own buffer)
    state = {"count": bp.tensor(5.0)}  # a buffer the forward reassigns: the new value lands in the dict
    bpf.functional_call(m, state, x)
    assert state["count"].item() == 6.0 and m.count.item() == before
    with pytest.raises(RuntimeError, match="Missing key\\(s\\): 'a.weight', 'b.weight', 'count'"):
        bpf.functional_call(m, {}, x, strict=True)
    with pytest.raises(RuntimeError, match="Unexpected key\\(s\\): 'zzz'"):
        bpf.functional_call(m, {"zzz": w, "a.weight": w, "count": bp.zeros(())}, x, strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        bpf.functional_call(m, ({"count": w}, {"count": w}), x)

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            raise KeyError("boom")

    boom = Boom()
    orig = boom.lin.weight
    with pytest.raises(KeyError, match="boom"):
        bpf.functional_call(boom, {"lin.weight": w}, x)
    assert boom.lin.weight is orig  # restored on error
    with pytest.warns(FutureWarning, match="torch.func.functional_call"):
        old = stateless.functional_call(m, {"a.weight": w}, (x,))
    np.testing.assert_allclose(old.detach().numpy(), out.detach().numpy())


def test_stack_module_state_closed_form():
    models = [nn.Linear(3, 2) for _ in range(4)]
    params, buffers = bpf.stack_module_state(models)
    assert list(params) == ["weight", "bias"] and buffers == {}
    assert tuple(params["weight"].shape) == (4, 2, 3) and params["weight"].is_leaf
    np.testing.assert_array_equal(params["bias"].detach().numpy()[2], models[2].bias.detach().numpy())
    x = bp.tensor(R(5, 3).astype(np.float32))
    out = bpf.vmap(lambda p, x: bpf.functional_call(models[0], p, x), (0, None))(params, x)
    for i, m in enumerate(models):
        np.testing.assert_allclose(out[i].detach().numpy(), m(x).detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="same class"):
        bpf.stack_module_state([nn.Linear(3, 2), nn.Tanh()])
    with pytest.raises(RuntimeError, match="at least one model"):
        bpf.stack_module_state([])


def test_exports() -> None:
    """torch's spellings reach the same objects: ``torch.func``, ``torch.vmap``, ``nn.utils.stateless``."""
    import backprop.func as bpf
    from backprop.nn.utils import stateless

    assert bp.func is bpf and bp.vmap is bpf.vmap and bp.nn.utils.stateless is stateless
