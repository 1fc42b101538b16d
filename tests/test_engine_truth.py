"""Engine behaviours a torch user relies on without thinking: grad-mode helpers in every form, checks
that cannot pass vacuously. Each case states torch's behaviour and, where torch is installed, asks it."""

from __future__ import annotations

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
