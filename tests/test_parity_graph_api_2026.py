"""Autograd graph introspection against torch: grad_fn classes, AccumulateGrad hooks, custom Function
nodes as their ctx, allow_mutation_on_saved_tensors."""

from __future__ import annotations

import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity tests compare against PyTorch")


def _both(fn):
    return fn(torch), fn(bp)


def _names(lib):
    """torch's node class names; ours as ``name()`` gives them (built-in ops' nodes are one class here: README)."""
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = lib.ones(3, 3, requires_grad=True)
    ys = [x * 2, x.exp(), x[0], x[1:], x.sum(), w @ w, x.reshape(3, 1), (x * 2).exp().grad_fn.next_functions[0][0]]
    nodes = [y if not hasattr(y, "grad_fn") else y.grad_fn for y in ys]
    if lib is torch:
        return [type(n).__name__ for n in nodes]
    return [type(n).__name__ if type(n).__name__ == "AccumulateGrad" else n.name() for n in nodes]


def test_grad_fn_names_are_torchs_class_names():
    t, b = _both(_names)
    assert t == b


def test_grad_fn_name_repr_and_isinstance_agree():
    y = bp.tensor([1.0, 2.0], requires_grad=True) * 3
    node = y.grad_fn
    assert node.name() == "MulBackward0"
    assert repr(node).startswith("<MulBackward0 object at 0x")
    assert isinstance(node, bp.autograd.graph.Node)


def test_next_functions_names():
    def f(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp() * lib.ones(2)).sum()
        mul = y.grad_fn.next_functions[0][0]
        if lib is torch:
            return [(type(n).__name__, i) for n, i in mul.next_functions]
        return [(type(n).__name__ if n is None else n.name(), i) for n, i in mul.next_functions]

    t, b = _both(f)
    assert t == b == [("ExpBackward0", 0), ("NoneType", 0)]


def test_custom_function_grad_fn_reads_ctx():
    def f(lib):
        class MyFn(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                ctx.scale = 3
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        y = MyFn.apply(lib.tensor([1.0, 2.0], requires_grad=True))
        node = y.grad_fn
        bc = isinstance(node, lib.autograd.function.BackwardCFunction)
        return type(node).__name__, node.scale, node.saved_tensors[0].tolist(), node.needs_input_grad, bc

    t, b = _both(f)
    assert t == b == ("MyFnBackward", 3, [1.0, 2.0], (True,), True)


def test_custom_function_grad_fn_missing_attribute():
    class MyFn(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = MyFn.apply(bp.tensor([1.0], requires_grad=True))
    with pytest.raises(AttributeError, match="'MyFnBackward' object has no attribute 'nope'"):
        _ = y.grad_fn.nope


def _acc_hooks(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    acc = y.grad_fn.next_functions[0][0]
    x.register_hook(lambda g: seen.append(("tensor", g.tolist())))
    acc.register_prehook(lambda go: (seen.append(("pre", go[0].tolist())), (go[0] * 2,))[1])
    x.register_post_accumulate_grad_hook(lambda p: seen.append(("postacc", p.grad.tolist())))
    handle = acc.register_hook(lambda gi, go: seen.append(("post", gi, go[0].tolist(), x.grad.tolist())))
    y.sum().backward()
    handle.remove()
    (x * 1).sum().backward()
    return seen, x.grad.tolist()


def test_accumulate_grad_hooks_order_and_replacement():
    t, b = _both(_acc_hooks)
    assert t == b
    assert b[1] == [8.0, 8.0]  # 3 * 2 (the pre-hook's replacement), then 1 * 2


def test_accumulate_grad_hook_ddp_idiom():
    def f(lib):
        p = lib.nn.Parameter(lib.ones(2))
        seen = []
        acc = p.expand_as(p).grad_fn.next_functions[0][0]  # DDP's idiom (it keeps acc alive)
        acc.register_hook(lambda *_: seen.append(p.grad.tolist()))
        (p * 4).sum().backward()
        (p * 4).sum().backward()
        return seen

    t, b = _both(f)
    assert t == b == [[4.0, 4.0], [8.0, 8.0]]


def test_accumulate_grad_hook_on_a_temporary_node_object():
    def f(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 5
        seen = []
        y.grad_fn.next_functions[0][0].register_hook(lambda gi, go: seen.append(go[0].tolist()))
        y.sum().backward()
        return seen

    t, b = _both(f)
    assert t == b == [[5.0, 5.0]]


def test_accumulate_grad_prehook_not_run_by_autograd_grad():
    def f(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        (x * 1).grad_fn.next_functions[0][0].register_prehook(lambda go: seen.append(1))
        (g,) = lib.autograd.grad((x * 2).sum(), x)
        return seen, g.tolist()

    t, b = _both(f)
    assert t == b == ([], [2.0, 2.0])


def _mutation(lib, case):
    with lib.autograd.graph.allow_mutation_on_saved_tensors() as ctx:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        if case == "clone":
            b = x.clone()
            out = (b**2).sum()
            b.sin_()
        elif case == "constant":
            w = lib.tensor([4.0, 5.0, 6.0])
            out = (x * w).sum()
            w.mul_(10)
        elif case == "view":
            b = x * 1
            out = b[1:].exp().sum()
            b.add_(5)
        else:
            y = x.exp()
            y.mul_(2)
            out = y.sum()
        out.backward()
    return type(ctx).__name__, [round(v, 4) for v in x.grad.tolist()]


@pytest.mark.parametrize("case", ["clone", "constant", "view", "saved_output"])
def test_allow_mutation_on_saved_tensors(case):
    t, b = _both(lambda lib: _mutation(lib, case))
    assert t == b


def test_allow_mutation_errors():
    for lib in (torch, bp):
        with lib.autograd.graph.allow_mutation_on_saved_tensors():
            x = lib.tensor([1.0, 2.0], requires_grad=True)
            z = (x * x).sum()
            with pytest.raises(RuntimeError, match="contexts cannot be nested"):
                with lib.autograd.graph.allow_mutation_on_saved_tensors():
                    pass
        with pytest.raises(AssertionError, match="backward outside of the 'allow_mutation_on_saved_tensors'"):
            z.backward()
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):  # (outside: still caught)
        y.sum().backward()
