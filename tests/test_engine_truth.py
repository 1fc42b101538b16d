"""Engine behaviours a torch user relies on without thinking: grad-mode helpers in every form, checks
that cannot pass vacuously. Each case states torch's behaviour and, where torch is installed, asks it."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # the written-out expectations always run
    torch = None

LIBS = [bp] if torch is None else [bp, torch]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_set_grad_enabled_as_a_plain_call(lib) -> None:
    try:
        lib.set_grad_enabled(False)
        assert not lib.is_grad_enabled()
        x = lib.ones(2, requires_grad=True)
        assert not (x * 2).requires_grad
    finally:
        lib.set_grad_enabled(True)
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_set_grad_enabled_as_context_and_decorator(lib) -> None:
    with lib.set_grad_enabled(False):
        assert not lib.is_grad_enabled()
    assert lib.is_grad_enabled()

    @lib.set_grad_enabled(False)
    def inside() -> bool:
        return lib.is_grad_enabled()

    assert lib.is_grad_enabled()  # decorating does not change the mode of the caller
    assert inside() is False and lib.is_grad_enabled()


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("parens", [True, False])
def test_no_grad_decorates_generators(lib, parens: bool) -> None:
    deco = lib.no_grad() if parens else lib.no_grad

    @deco
    def steps():
        x = lib.ones(2, requires_grad=True)
        received = yield (x * 2).requires_grad
        yield (x * received).requires_grad, lib.is_grad_enabled()

    gen = steps()
    assert next(gen) is False
    assert lib.is_grad_enabled()  # between steps the caller's mode holds
    assert gen.send(3.0) == (False, False)
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_enable_grad_inside_no_grad_without_parentheses(lib) -> None:
    @lib.enable_grad
    def record() -> bool:
        return lib.is_grad_enabled()

    with lib.no_grad():
        assert record() is True
        assert not lib.is_grad_enabled()


def test_gradcheck_refuses_when_nothing_requires_grad() -> None:
    x = bp.tensor([1.0, 2.0], dtype=bp.float64)
    with pytest.raises(ValueError, match="requires_grad"):
        bp.gradcheck(lambda t: t * 2, [x])
    if torch is not None:
        with pytest.raises(ValueError):
            torch.autograd.gradcheck(lambda t: t * 2, [torch.ones(2, dtype=torch.float64)])


def _optim_libs():
    return [(bp, bp.nn.Parameter)] + ([] if torch is None else [(torch, torch.nn.Parameter)])


@pytest.mark.parametrize(("lib", "param"), _optim_libs(), ids=lambda v: getattr(v, "__name__", "param"))
def test_optimizer_parameter_lists_are_checked(lib, param) -> None:
    p, q = param(lib.ones(2)), param(lib.ones(3))
    with pytest.raises(ValueError, match="more than one parameter group"):
        lib.optim.SGD([{"params": [p]}, {"params": [p, q]}], lr=0.1)
    with pytest.raises(TypeError):
        lib.optim.SGD(p, lr=0.1)  # a single tensor, not a list
    with pytest.warns(UserWarning, match="duplicate|more than once"):
        lib.optim.SGD([p, p], lr=0.1)


@pytest.mark.parametrize(("lib", "param"), _optim_libs(), ids=lambda v: getattr(v, "__name__", "param"))
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("RMSprop", {"lr": -1.0}),
        ("RMSprop", {"alpha": -0.5}),
        ("RMSprop", {"eps": -1e-8}),
        ("RMSprop", {"momentum": -0.9}),
        ("RMSprop", {"weight_decay": -1.0}),
        ("Adagrad", {"lr": -1.0}),
        ("Adagrad", {"lr_decay": -1.0}),
        ("Adagrad", {"eps": -1.0}),
        ("Adagrad", {"initial_accumulator_value": -1.0}),
    ],
)
def test_negative_hyper_parameters_are_refused(lib, param, name: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        getattr(lib.optim, name)([param(lib.ones(2))], **kwargs)


def test_numpy_scalars_act_as_python_scalars() -> None:
    import numpy as np

    t = bp.tensor([1.0, 2.0])
    assert (t / np.sqrt(4.0)).dtype == bp.float32
    np.testing.assert_allclose((t / np.sqrt(4.0)).detach().numpy(), [0.5, 1.0])
    assert (np.float64(2) * t).dtype == bp.float32  # as torch: a NumPy scalar is weak like a Python one
    assert (bp.tensor([1, 2]) * np.int64(3)).dtype == bp.int64
    if torch is not None:
        assert (torch.tensor([1.0, 2.0]) / np.sqrt(4.0)).dtype == torch.float32


def test_operators_with_foreign_operands() -> None:
    t = bp.tensor([1.0, 2.0])
    assert (t == None) is False and (t != None) is True  # noqa: E711 - the point of the test
    with pytest.raises(TypeError, match="unsupported operand"):
        t + "a"
    with pytest.raises(TypeError, match="cannot build a tensor"):
        bp.tensor("a")


def test_format_and_repr() -> None:
    assert f"{bp.tensor(1.5):.2f}" == "1.50"
    with pytest.raises(TypeError, match="format"):
        f"{bp.ones(2):.2f}"
    assert repr(bp.zeros(0, 3)) == "tensor([], size=(0, 3))"
    if torch is not None:
        assert f"{torch.tensor(1.5):.2f}" == "1.50" and repr(torch.zeros(0, 3)) == "tensor([], size=(0, 3))"


def test_numpy_ufuncs_on_tensors_record_the_graph() -> None:
    import numpy as np

    x = bp.tensor([1.0, 2.0], dtype=bp.float64, requires_grad=True)
    y = np.exp(x) * x  # np.exp runs bp.exp: the x e^x term keeps its gradient
    assert isinstance(y, bp.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))
    z = np.maximum(0.0, x - 1.5) + np.multiply(2.0, x) + np.array([1.0, 1.0]) * x
    assert isinstance(z, bp.Tensor) and z.requires_grad
    with pytest.raises(TypeError, match="detach"):
        np.add.reduce(x)  # no op for this ufunc method: refused rather than a silent plain array
    assert np.add.reduce(x.detach()) == 3.0  # without grad, NumPy computes on the data


def test_comparison_and_logic_methods() -> None:
    a, b = bp.tensor([1, 2, 3]), bp.tensor([3, 2, 1])
    assert a.lt(b).tolist() == [True, False, False] and a.ge(2).tolist() == [False, True, True]
    assert a.eq(b).tolist() == [False, True, False] and a.not_equal(b).tolist() == [True, False, True]
    m, n = bp.tensor([True, False]), bp.tensor([True, True])
    assert m.logical_and(n).tolist() == [True, False] and m.logical_xor(n).tolist() == [False, True]
    assert m.logical_not().tolist() == [False, True] and a.equal(bp.tensor([1, 2, 3]))


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    "change",
    [lambda t: t.mul_(0.5), lambda t: t.add_(0.7), lambda t: t.div_(2), lambda t: t.__itruediv__(2)],
    ids=["mul_", "add_", "div_", "/="],
)
def test_inplace_keeps_an_integer_dtype(lib, change) -> None:
    t = lib.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        change(t)
    assert t.tolist() == [1, 2]  # nothing was written


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_inplace_keeps_dtype_and_shape(lib) -> None:
    x = lib.ones(2, requires_grad=True)
    y = x * 1
    y.add_(lib.ones(2, dtype=lib.float64))  # recorded: the float64 operand is cast into float32
    assert y.dtype == lib.float32
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        lib.ones(2).add_(lib.ones(2, 2))
    assert lib.tensor([3, -4]).div_(2, rounding_mode="trunc").tolist() == [1, -2]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_grad_assignment_and_hooks_are_checked(lib) -> None:
    x = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        x.grad = lib.ones(3)
    with pytest.raises(RuntimeError):
        x.grad = lib.ones(2, dtype=lib.float64)
    x.grad = lib.full((2,), 5.0)
    assert x.grad.tolist() == [5.0, 5.0]
    x.grad = None
    x.register_hook(lambda g: lib.ones(3))
    with pytest.raises(RuntimeError):
        (x * 2).sum().backward()


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_shape_and_argument_checks_that_must_not_pass(lib) -> None:
    with pytest.raises(RuntimeError, match="leading, non-existing dimension"):
        lib.ones(3).expand(-1, 3)
    assert tuple(lib.ones(3).expand(2, -1).shape) == (2, 3)
    with pytest.raises(IndexError):
        lib.ones(2, 3).flatten(2)
    with pytest.raises(TypeError):
        lib.nn.Linear(2.5, 3)
    with pytest.raises(TypeError, match="element 1"):
        lib.cat([lib.ones(2), [1, 2]])
    with pytest.raises((TypeError, RuntimeError)):  # torch: TypeError "expected Tensor as element 1"
        lib.stack([lib.ones(2), 3])
    with pytest.raises((ValueError, RuntimeError), match="chunk"):
        lib.ones(4).chunk(0)
    assert [tuple(c.shape) for c in lib.ones(5).chunk(3)] == [(2,), (2,), (1,)]
    assert tuple(lib.ones(4, 3)[[]].shape) == (0, 3)
    with pytest.raises((TypeError, AttributeError)):  # torch: AttributeError ("list" has no "keys")
        lib.nn.Linear(2, 3).load_state_dict([1, 2])


def test_version_check_only_for_what_backward_needs() -> None:
    """``(x * w).sum()`` with a constant ``x`` keeps only ``x`` for ``w``'s gradient: changing ``w`` in place
    before backward is legal (torch computes it too)."""
    x = bp.tensor([1.0, 2.0])
    w = bp.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    with bp.no_grad():
        w.mul_(2)
    y.backward()
    assert w.grad.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_float16_variance_accumulates_in_float32(lib) -> None:
    x = lib.tensor([1000.0, 1001.0, 1002.0], dtype=lib.float16)
    assert float(x.var()) == 1.0 and float(x.std()) == 1.0 and x.var().dtype == lib.float16


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_logsumexp_over_an_empty_dim_is_minus_infinity(lib) -> None:
    x = lib.zeros(0, 3)
    assert x.logsumexp(0).tolist() == [-float("inf")] * 3
    assert tuple(x.logsumexp(1).shape) == (0,)


def _saved_square(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    return x, y, (y * y).sum()  # saves y


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_detach_shares_the_version_counter(lib) -> None:
    x, y, loss = _saved_square(lib)
    y.detach().mul_(3)  # changes y's memory: backward through the saved y must refuse
    with pytest.raises(RuntimeError, match="modified by an inplace operation|modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_a_slice_view_shares_memory_and_version(lib) -> None:
    x, y, loss = _saved_square(lib)
    with lib.no_grad():
        y[0:1].mul_(3)
    assert y.tolist() == [3.0, 2.0]  # written through the view
    with pytest.raises(RuntimeError, match="modified by an inplace operation|modified by an in-place operation"):
        loss.backward()
    base = lib.zeros(2, 3)
    base.view(6)[1:3].fill_(5.0)  # views of views write through to the base
    assert base.tolist() == [[0.0, 5.0, 5.0], [0.0, 0.0, 0.0]]


def _view_program(lib, which: int):
    x = lib.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    if which == 0:
        y[..., 0:2] = y[..., 0:2].sigmoid()  # (a detection head's idiom)
    elif which == 1:
        y[:, 1] = y[:, 1] * 3
        y[:, 1] += 1  # an in-place op on a view, then the write back
    elif which == 2:
        y.add_(1)
        y[0] = y[1] * 2
    elif which == 3:
        y[:, 0] *= w
    elif which == 4:
        v = y[1]
        v.mul_(3)
        v[0] = w[0]
    elif which == 5:
        y[0][1] = 7.0
    elif which == 6:
        v = y[:, 2]
        v.tanh_()
        y = y + (v * 2).unsqueeze(1)
    elif which == 7:
        y.view(-1)[2:5] = w  # views made by reshaping or transposing: written by their strides
    elif which == 8:
        y.t()[1].mul_(w)
    elif which == 9:
        y.reshape(12)[3] = w[1] * 7
    else:
        v = y.view(2, 6)
        v[1] += 1
        y = y * 1
    (y * lib.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
    return y.tolist(), x.grad.tolist(), None if w.grad is None else w.grad.tolist()


@pytest.mark.parametrize("which", range(11))
def test_inplace_changes_through_views_in_a_graph_as_torchs(which: int) -> None:
    """Writes and in-place ops on views of a recorded tensor reach the base and its history (torch's
    view rebase): values and gradients equal torch's."""
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-check needs it")
    ours, theirs = _view_program(bp, which), _view_program(torch, which)
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-15)


def test_a_view_left_behind_by_a_recorded_write_refuses_instead_of_misleading() -> None:
    """A view taken before its base got new values through a recorded write (other than the one written
    through) would hold the old values: using or reading it raises, where torch would refresh it."""
    x = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    old = y[:2]
    y[2] = 0.0
    with pytest.raises(RuntimeError, match="taken before an assignment"):
        old + 1
    with pytest.raises(RuntimeError, match="taken before an assignment"):
        old.tolist()
    fresh = y[:2]  # taken again: fine
    (fresh * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0, 0.0]
    z = x * 1
    with pytest.raises(RuntimeError, match="single memory location"):
        z.expand(2, 3).mul_(2)  # an expanded view's elements share memory: refused, as torch refuses it
    with pytest.raises(RuntimeError, match="single memory location"):
        z.expand(2, 3)[0] = 1.0  # (torch writes this one row through; here the whole expanded view refuses)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_numpy_conversion_refuses_tensors_that_require_grad(lib) -> None:
    import numpy as np

    x = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(x)
    assert x.detach().numpy().tolist() == [1.0, 1.0] and x.tolist() == [1.0, 1.0]
    assert "requires_grad=True" in repr(x) and (x * 2).sum().item() == 4.0


def test_inference_mode_records_no_graph_as_a_context_and_a_decorator() -> None:
    x = bp.ones(2, requires_grad=True)
    with bp.inference_mode():
        y = x * 2
        assert bp.is_inference_mode_enabled() and not bp.is_grad_enabled()
    assert y.grad_fn is None and bp.is_grad_enabled() and not bp.is_inference_mode_enabled()

    @bp.inference_mode
    def bare(t: bp.Tensor) -> bp.Tensor:
        return t * 3

    @bp.inference_mode()
    def called(t: bp.Tensor) -> bp.Tensor:
        assert bp.is_inference_mode_enabled()
        return t * 3

    assert bare(x).grad_fn is None and called(x).grad_fn is None and bp.is_grad_enabled()
    with bp.inference_mode(False):  # no change, as torch
        assert (x * 2).grad_fn is not None and not bp.is_inference_mode_enabled()
    with bp.no_grad(), bp.inference_mode(False):  # torch's InferenceMode(false) turns grad mode on
        assert bp.is_grad_enabled()


def test_inf_and_nan_are_silent_as_in_torch() -> None:
    """``log(0)``, ``0 / 0``, overflow: inf and NaN with no warning (the suite runs with warnings as
    errors, so a NumPy RuntimeWarning would fail here), forward, backward, in place and replayed; a
    user's own NumPy code keeps its warnings."""
    x = bp.tensor([0.0, 1.0], requires_grad=True)
    y = bp.log(x)
    y.sum().backward()
    assert y.tolist()[0] == -np.inf and x.grad.tolist() == [np.inf, 1.0]
    z = bp.tensor([0.0])
    assert np.isnan((z / z).item()) and bp.exp(bp.tensor([1000.0])).item() == np.inf
    w = bp.tensor([0.0, 2.0])
    w.div_(bp.tensor([0.0, 1.0]))
    assert np.isnan(w.tolist()[0]) and w.tolist()[1] == 2.0
    p = bp.tensor([0.0, 4.0], requires_grad=True)

    @bp.compile
    def step(p):
        loss = p.sqrt().sum()  # the gradient at 0 is inf
        loss.backward()
        return loss

    for _ in range(4):
        p.grad = None
        step(p)
    assert step.replays >= 1 and p.grad.tolist() == [np.inf, 0.25]
    with pytest.raises(RuntimeWarning, match="divide by zero"):
        np.log(np.zeros(1))
