"""Custom ``autograd.Function`` against torch: in-place Functions (``ctx.mark_dirty``: the returned tensor is the
input object with the Function's history, its version moved on, views rebased, torch's errors) and forward-mode
AD through a Function's own ``jvp`` (``forward_ad`` duals, ``func.jvp``, ``func.jacfwd``, ``func.hessian``), while
reverse mode keeps its ``backward``. Each case runs the same code with ``L`` as torch and as backprop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch")


def _plain(v):
    """Values to compare: arrays for tensors, recursively."""
    if isinstance(v, (bp.Tensor, torch.Tensor)):
        return ("T", v.detach().cpu().numpy().tolist(), str(v.dtype).split(".")[-1])
    if isinstance(v, (tuple, list)):
        return type(v)(_plain(x) for x in v)
    return v


def same(case):
    """Run ``case(L)`` on both libraries; the results (or the errors' texts) must agree."""

    def run(L):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                out = ("ok", _plain(case(L)))
            except Exception as e:  # noqa: BLE001 - compared
                out = ("raises", str(e).split(" (Triggered internally")[0])
        return out, [str(x.message).split(" (Triggered internally")[0] for x in w if "mark_dirty" in str(x.message)]

    ours, theirs = run(bp), run(torch)
    assert ours == theirs, (ours, theirs)
    return ours


def _exp_(L):
    class InplaceExp(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.exp_()
            ctx.mark_dirty(x)
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    return InplaceExp


def _x(L, rg=True):
    return L.tensor([0.5, -1.0, 2.0], dtype=L.float64, requires_grad=rg)


def test_mark_dirty_returns_the_input_with_the_functions_history():
    def case(L):
        x = _x(L)
        y = x * 1
        z = _exp_(L).apply(y)
        name = type(z.grad_fn).__name__ if L is torch else z.grad_fn.name()
        (g,) = L.autograd.grad(z.sum(), x)
        return z is y, z.grad_fn is y.grad_fn, name, y._version, z, g

    assert same(case)[0][1][:3] == (True, True, "InplaceExpBackward")


def test_mark_dirty_double_backward_through_the_saved_output():
    def case(L):
        x = _x(L)
        z = _exp_(L).apply(x * 2)
        (g,) = L.autograd.grad(z.sum(), x, create_graph=True)
        (gg,) = L.autograd.grad(g.sum(), x)
        return g, gg

    same(case)


def test_mark_dirty_of_an_input_that_does_not_require_grad():
    def case(L):
        class InplaceAdd(L.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                a.add_(b)
                ctx.mark_dirty(a)
                return a

            @staticmethod
            def backward(ctx, g):
                return g, 3 * g

        a = L.zeros(3, dtype=L.float64)
        b = _x(L)
        r = InplaceAdd.apply(a, b)
        (r * r).sum().backward()
        return r is a, a.requires_grad, a.grad_fn is not None, a._version, a, b.grad

    same(case)


def test_mark_dirty_without_grad_bumps_the_version():
    def case(L):
        x = _x(L, rg=False)
        z = _exp_(L).apply(x)
        return z is x, x._version, x.requires_grad, x

    same(case)


def test_mark_dirty_of_a_view_rebases_its_base():
    def case(L):
        x = _x(L)
        b = x * 1
        v = b[:2]
        z = _exp_(L).apply(v)
        b.sum().backward()
        return z is v, b._version, b, x.grad  # (a view's own _version differs: test_parity_autograd_api KNOWN)

    same(case)


def test_mark_dirty_several_outputs():
    def case(L):
        class Two(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x, x * 3

            @staticmethod
            def backward(ctx, g, h):
                return 2 * g + 6 * h

        x = _x(L)
        b = x * 1
        p, q = Two.apply(b)
        (p.sum() * 2 + (q * q).sum()).backward()
        return p is b, b._version, p, q, x.grad

    same(case)


@pytest.mark.parametrize("which", ["leaf", "view_of_leaf", "view_two_outputs", "not_returned", "not_returned_no_grad"])
def test_mark_dirty_errors(which):
    def case(L):
        class Two(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x, x * 3

            @staticmethod
            def backward(ctx, g, h):
                return 2 * g + 6 * h

        class NotReturned(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x * 1

            @staticmethod
            def backward(ctx, g):
                return 2 * g

        x = _x(L)
        if which == "leaf":
            return _exp_(L).apply(x)
        if which == "view_of_leaf":
            return _exp_(L).apply(x[:2])
        if which == "view_two_outputs":
            return Two.apply((x * 1)[:2])
        if which == "not_returned":
            return NotReturned.apply(x * 1)
        return NotReturned.apply(_x(L, rg=False))

    assert same(case)[0][0] == "raises"


def test_mark_dirty_of_a_tensor_that_is_not_an_input_warns():
    def case(L):
        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x * 2
                ctx.mark_dirty(y)
                return y

            @staticmethod
            def backward(ctx, g):
                return 2 * g

        x = _x(L)
        y = F.apply(x)
        y.sum().backward()
        return y, x.grad

    (_, warned) = same(case)
    assert len(warned) == 1


def _exp_jvp(L, jvp):
    class E(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.exp_()
            ctx.mark_dirty(x)
            ctx.save_for_forward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    E.jvp = staticmethod(jvp)
    return E


@pytest.mark.parametrize("how", ["in_place", "not_in_place", "copy"])
def test_mark_dirty_under_forward_ad(how):
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        if how == "in_place":
            return t.mul_(y)
        if how == "not_in_place":
            return t * y
        return t.mul_(y).clone()

    def case(L):
        fwad = L.autograd.forward_ad
        with fwad.dual_level():
            d = fwad.make_dual(_x(L, rg=False), L.tensor([1.0, 2.0, 3.0], dtype=L.float64))
            out = _exp_jvp(L, jvp).apply(d * 1)
            return fwad.unpack_dual(out).tangent

    same(case)


def _cube(L):
    """x**3 and 3 x**2 whose backward is not the derivative its jvp gives (torch's CubeGenVmap)."""

    class Cube(L.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x**3, 3 * x**2

        @staticmethod
        def setup_context(ctx, inputs, outputs):
            ctx.save_for_backward(inputs[0], outputs[1])
            ctx.save_for_forward(inputs[0], outputs[1])

        @staticmethod
        def backward(ctx, g, g2):
            _, d = ctx.saved_tensors
            return g * d + 6 * d

        @staticmethod
        def jvp(ctx, t):
            x, d = ctx.saved_tensors
            return t * d, 6 * t * x

    return Cube


def test_forward_ad_uses_the_functions_jvp_and_reverse_mode_its_backward():
    def case(L):
        cube = _cube(L)
        fwad = L.autograd.forward_ad
        t = L.tensor([1.0, -2.0, 0.5], dtype=L.float64)
        with fwad.dual_level():
            a, b = cube.apply(fwad.make_dual(_x(L, rg=False), t))
            dual = fwad.unpack_dual(a).tangent, fwad.unpack_dual(b).tangent
        fjvp = L.func.jvp(lambda x: cube.apply(x), (_x(L, rg=False),), (t,))
        x = _x(L)
        a, b = cube.apply(x)
        (g,) = L.autograd.grad(a.sum() + b.sum(), x)
        return dual, fjvp, g

    same(case)


def test_jacfwd_and_hessian_use_jvp_jacrev_uses_backward():
    def case(L):
        cube = _cube(L)
        x = _x(L, rg=False)
        second = lambda x: cube.apply(x)[1]  # noqa: E731
        return (
            L.func.jacfwd(second)(x),
            L.func.jacrev(second)(x),
            L.func.hessian(lambda x: cube.apply(x)[0].sum())(x),
        )

    same(case)


def test_jvp_with_an_integer_input_and_a_function_in_its_jvp():
    def case(L):
        class Take(L.autograd.Function):
            @staticmethod
            def forward(ctx, x, ind):
                ctx.save_for_backward(ind)
                ctx.save_for_forward(ind)
                ctx.n = x.shape[0]
                return x[ind]

            @staticmethod
            def backward(ctx, g):
                (ind,) = ctx.saved_tensors
                return L.zeros(ctx.n, dtype=g.dtype).index_add(0, ind, g), None

            @staticmethod
            def jvp(ctx, t, _):
                (ind,) = ctx.saved_tensors
                return Take.apply(t, ind) * 2  # (twice the true derivative: the jvp's values show)

        fwad = L.autograd.forward_ad
        ind = L.tensor([2, 0, 0])
        with fwad.dual_level():
            d = fwad.make_dual(_x(L, rg=False), L.tensor([1.0, 2.0, 3.0], dtype=L.float64))
            tangent = fwad.unpack_dual(Take.apply(d, ind)).tangent
        x = _x(L)
        (g,) = L.autograd.grad(Take.apply(x, ind).sum(), x)
        return tangent, g

    same(case)


def test_function_without_jvp_still_differentiates_its_backward_in_forward_mode():
    """(torch refuses forward AD there; backprop's forward mode differentiates the backward)"""

    class Sq(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x, t = bp.tensor([1.0, 2.0]), bp.tensor([1.0, 1.0])
    _, jv = bp.func.jvp(Sq.apply, (x,), (t,))
    assert np.allclose(jv.numpy(), [2.0, 4.0])


def test_mark_dirty_view_taken_before_refuses_instead_of_skipping_the_function():
    """torch rebases such a view; backprop's in-place ops make it refuse (README), as here."""
    x = bp.tensor([0.5, -1.0, 2.0], dtype=bp.float64, requires_grad=True)
    y = x * 1
    v = y[:2]
    z = _exp_(bp).apply(y)
    assert z is y and np.allclose(y.detach().numpy(), np.exp([0.5, -1.0, 2.0]))
    with pytest.raises(RuntimeError, match="view"):
        (v * 1).sum().backward()
    y.sum().backward()
    assert np.allclose(x.grad.numpy(), np.exp([0.5, -1.0, 2.0]))
