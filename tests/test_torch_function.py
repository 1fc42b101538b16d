"""torch's ``__torch_function__`` protocol: Tensor subclasses keep their class through ops, a subclass's
``__torch_function__`` sees every public call (with torch's func objects and names), tensor-likes that are not
Tensors (torch's ``ScalarTensor`` docs example), ``TorchFunctionMode``, and the lazy activation (checked in a
fresh interpreter: nothing changes until the first user subclass). Each compared with torch."""

from __future__ import annotations

import copy
import functools
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop import overrides

torch = pytest.importorskip("torch", reason="compares with torch")
TF = torch.nn.functional
ROOT = Path(__file__).resolve().parents[1]


def _pair() -> tuple[type, type]:
    return type("MyT", (bp.Tensor,), {}), type("MyT", (torch.Tensor,), {})


def _logged(lib: Any) -> type:
    class Logged(lib.Tensor):
        calls: list[str] = []

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
            cls.calls.append(func.__name__)
            return super().__torch_function__(func, types, args, kwargs or {})

    return Logged


def test_subclass_propagates_through_ops() -> None:
    MyT, TMyT = _pair()
    x, tx = bp.ones(2, 3).as_subclass(MyT), torch.ones(2, 3).as_subclass(TMyT)
    y, ty = bp.ones(2, 3), torch.ones(2, 3)
    cases = {
        "x + 1": (lambda a, b, m: a + 1),
        "1 + x": (lambda a, b, m: 1 + a),
        "2 / x": (lambda a, b, m: 2 / a),
        "x[0]": (lambda a, b, m: a[0]),
        "x.sum()": (lambda a, b, m: a.sum()),
        "add": (lambda a, b, m: m.add(a, b)),
        "plain + x": (lambda a, b, m: b + a),
        "cat": (lambda a, b, m: m.cat([b, a])),
        "relu": (lambda a, b, m: (F if m is bp else TF).relu(a)),
        "linalg": (lambda a, b, m: m.linalg.norm(a)),
        "max values": (lambda a, b, m: m.max(a, 0).values),
        "max tuple": (lambda a, b, m: m.max(a, 0)[1]),
        "split item": (lambda a, b, m: m.split(a, 1)[0]),
    }
    for name, fn in cases.items():
        ours, theirs = fn(x, y, bp), fn(tx, ty, torch)
        assert (type(ours) is MyT) == (type(theirs) is TMyT), name
        np.testing.assert_allclose(bp.Tensor(ours).numpy(), theirs.as_subclass(torch.Tensor).numpy())
    assert type(bp.max(x, 0)).__name__ == type(torch.max(tx, 0)).__name__ == "max"
    assert type(x.shape) is bp.Size and x.dtype == bp.float32 and x.is_floating_point()
    assert isinstance(x, bp.Tensor) and bp.is_tensor(x)
    assert repr(x) == repr(tx) == "MyT([[1., 1., 1.],\n     [1., 1., 1.]])"
    assert repr(bp.ones(2).as_subclass(MyT)) == repr(torch.ones(2).as_subclass(TMyT))


def test_plain_tensors_and_parameters_are_untouched() -> None:
    MyT, TMyT = _pair()
    x, tx = bp.ones(2).as_subclass(MyT), torch.ones(2).as_subclass(TMyT)
    p, tp = bp.nn.Parameter(bp.ones(2)), torch.nn.Parameter(torch.ones(2))
    assert type(bp.ones(2) + 1) is bp.Tensor and type(p + 1) is bp.Tensor and type(tp + 1) is torch.Tensor
    assert (type(p * x) is MyT) == (type(tp * tx) is TMyT) is True
    assert p.__torch_function__ is bp.nn.Parameter.__torch_function__  # the disabled impl: does not bind
    assert repr(bp.nn.Parameter.__torch_function__) == repr(torch.nn.Parameter.__torch_function__)
    assert overrides.has_torch_function((x,)) == torch.overrides.has_torch_function((tx,)) is True
    assert overrides.has_torch_function((p, bp.ones(1))) == torch.overrides.has_torch_function((tp,)) is False
    assert overrides.is_tensor_like(x) and overrides.is_tensor_like(p)


def test_logging_subclass_records_torch_names() -> None:
    ours, theirs = _logged(bp), _logged(torch)
    for lib, cls in ((bp, ours), (torch, theirs)):
        y = (lib.ones(2).as_subclass(cls) * 2).sum()
        assert type(y) is cls
    assert ours.calls == theirs.calls == ["mul", "sum"]

    def ops(lib: Any, cls: type) -> list[str]:
        cls.calls.clear()
        x = lib.ones(2, 2).as_subclass(cls)
        _ = 1 + x, x - 1, 1 - x, x / 2, 2 / x, x // 2, x % 2, 2**x, x @ x, -x, abs(x), +x
        _ = x < 1, x <= 1, x > 1, x >= 1, x == 1, x != 1, ~(x > 0), (x > 0) & (x > 0), x[0], len(x), 1 in x
        x[0] = 3.0
        z = x.clone()
        z += 1
        z *= 2
        x.add(1), x.view(4), lib.add(x, x), lib.stack([x, x]), bool(x[0, 0]), float(x[0, 0]), repr(x)
        return list(cls.calls)

    assert ops(bp, ours) == ops(torch, theirs)


def test_func_objects_are_the_public_ones() -> None:
    seen: list[Any] = []

    class Spy(bp.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
            seen.append((func, types, args))
            return super().__torch_function__(func, types, args, kwargs or {})

    x = bp.ones(2).as_subclass(Spy)
    bp.add(x, 1), x.add(1), x + 1, x[0], F.relu(x), 2 - x, bp.cat([bp.ones(2), x])
    funcs = [f for f, _, _ in seen]
    assert funcs == [bp.add, bp.Tensor.add, bp.Tensor.add, bp.Tensor.__getitem__, F.relu, bp.Tensor.__rsub__, bp.cat]
    assert all(t == (Spy,) for _, t, _ in seen)
    assert seen[5][2][0] is x and seen[5][2][1] == 2  # reflected: (self, other), as torch
    assert overrides.resolve_name(bp.add) == torch.overrides.resolve_name(torch.add) == "torch.add"
    assert overrides.resolve_name(bp.Tensor.add) == torch.overrides.resolve_name(torch.Tensor.add)
    assert overrides.resolve_name(bp.Tensor.__add__) == torch.overrides.resolve_name(torch.Tensor.__add__)
    assert overrides.resolve_name(F.relu) == torch.overrides.resolve_name(TF.relu)
    assert overrides.is_tensor_method_or_property(bp.Tensor.add) and not overrides.is_tensor_method_or_property(bp.add)
    assert list(inspect.signature(bp.Tensor.add).parameters)[:2] == ["self", "other"]


def test_mlp_forward_records_the_user_level_calls() -> None:
    ours, theirs = _logged(bp), _logged(torch)
    for lib, cls in ((bp, ours), (torch, theirs)):
        lib.manual_seed(0)
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2), lib.nn.Tanh())
        cls.calls.clear()
        out = model(lib.ones(5, 3).as_subclass(cls))
        loss = lib.nn.functional.cross_entropy(out, lib.zeros(5, dtype=lib.long))
        assert type(out) is cls and type(loss) is cls
    assert ours.calls == theirs.calls == ["linear", "relu", "linear", "tanh", "cross_entropy"]


def test_autograd_through_a_subclass() -> None:
    MyT, TMyT = _pair()
    for lib, cls in ((bp, MyT), (torch, TMyT)):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        s = a.as_subclass(cls)
        assert not s.is_leaf and s.requires_grad
        loss = (s * s).sum()
        assert type(loss) is cls
        loss.backward()
        assert type(a.grad) is lib.Tensor and a.grad.tolist() == [2.0, 4.0]
        b = lib.ones(2).as_subclass(cls).requires_grad_()
        (b * 3).sum().backward()
        assert b.is_leaf and type(b.grad) is lib.Tensor and b.grad.tolist() == [3.0, 3.0]


def test_copies_and_round_trip() -> None:
    MyT, _ = _pair()
    x = bp.tensor([1.0, 2.0]).as_subclass(MyT)
    x.tag = "mine"
    y = copy.deepcopy(x)  # (torch refuses: its new_empty returns a plain Tensor)
    assert type(y) is MyT and y.tag == "mine" and y.tolist() == [1.0, 2.0] and y.data_ptr() != x.data_ptr()
    z = copy.copy(x)
    assert type(z) is MyT and z.data_ptr() == x.data_ptr()
    back, tback = x.as_subclass(bp.Tensor), torch.ones(1).as_subclass(_pair()[1]).as_subclass(torch.Tensor)
    assert type(tback) is torch.Tensor
    assert type(back) is bp.Tensor and back.data_ptr() == x.data_ptr()
    c = MyT(bp.ones(2))
    assert type(c) is MyT and type(c + 1) is MyT


def test_not_implemented_everywhere_raises_torch_type_error() -> None:
    def refusing(lib: Any) -> Any:
        class N(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
                return NotImplemented

        return lib.ones(2).as_subclass(N)

    n, tn = refusing(bp), refusing(torch)
    with pytest.raises(TypeError, match="unsupported operand type"):
        tn + 1
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'N' and 'int'"):
        n + 1
    with pytest.raises(TypeError, match=r"no implementation found for 'torch.nn.functional.relu' on types"):
        TF.relu(tn)
    with pytest.raises(TypeError, match=r"no implementation found for 'torch.nn.functional.relu' on types"):
        F.relu(n)
    for fn in (lambda t: t.sum(), lambda t: bp.add(t, 1)):
        with pytest.raises(TypeError, match="no implementation found for 'torch"):
            fn(n)
    assert (n == 1) is False and (tn == 1) is False  # both sides refuse: Python's identity comparison


# torch's documentation, "Extending torch with a Tensor-like type"
HANDLED_FUNCTIONS: dict[Any, Any] = {}


class ScalarTensor:
    def __init__(self, N: int, value: float) -> None:
        self._N = N
        self._value = value

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        if kwargs is None:
            kwargs = {}
        if func not in HANDLED_FUNCTIONS or not all(
            issubclass(t, (bp.Tensor, torch.Tensor, ScalarTensor)) for t in types
        ):
            return NotImplemented
        return HANDLED_FUNCTIONS[func](*args, **kwargs)


def implements(torch_function: Any) -> Any:
    def decorator(func: Any) -> Any:
        functools.update_wrapper(func, torch_function)
        HANDLED_FUNCTIONS[torch_function] = func
        return func

    return decorator


@implements(bp.mean)
@implements(torch.mean)
def _mean(input: ScalarTensor) -> float:  # noqa: A002
    return float(input._value) / input._N


def test_scalar_tensor_docs_example() -> None:
    d = ScalarTensor(5, 2)
    assert bp.mean(d) == torch.mean(d) == 0.4
    with pytest.raises(TypeError, match="Multiple dispatch failed for 'torch.exp'"):
        torch.exp(d)
    with pytest.raises(TypeError, match="no implementation found for 'torch.exp'"):
        bp.exp(d)
    assert overrides.has_torch_function((d,)) and torch.overrides.has_torch_function((d,))


def test_torch_function_mode() -> None:
    def run(lib: Any, base: type) -> list[str]:
        class Mode(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                super().__init__()
                self.seen: list[str] = []

            def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
                self.seen.append(func.__name__)
                return func(*args, **(kwargs or {}))

        with Mode() as mode:
            a = lib.ones(2)
            (a * 2).sum()
            lib.nn.functional.relu(a)
            lib.add(a, a)
        return mode.seen

    assert run(bp, overrides.TorchFunctionMode) == run(torch, torch.overrides.TorchFunctionMode)
    with overrides.BaseTorchFunctionMode():
        assert bp.add(bp.ones(1), 1).tolist() == [2.0]
    assert type(bp.ones(1) + 1) is bp.Tensor


def test_disable_subclass_and_helpers() -> None:
    MyT, _ = _pair()
    x = bp.ones(2).as_subclass(MyT)
    with overrides.DisableTorchFunctionSubclass():
        assert type(x + 1) is bp.Tensor
    assert type(x + 1) is MyT
    with overrides.DisableTorchFunction():
        assert type(x.sum()) is bp.Tensor
    assert overrides.get_default_nowrap_functions() == set()

    @overrides.wrap_torch_function(lambda a: (a,))
    def double(a: Any) -> Any:
        return a * 2

    assert type(double(x)) is MyT and double(3) == 6


def test_activation_is_lazy_and_keeps_signatures() -> None:
    """In a fresh interpreter: no rewrite before the first user subclass (backprop's own subclasses do not
    count), identities and signatures unchanged by it."""
    code = """
import inspect, backprop as bp, backprop.nn.functional as F
from backprop import overrides
code = bp.add.__code__, bp.Tensor.__add__.__code__, F.relu.__code__
sigs = {n: str(inspect.signature(getattr(bp, n))) for n in ("add", "mean", "cat", "exp")}
sigs["relu"] = str(inspect.signature(F.relu)); sigs["Tensor.add"] = str(inspect.signature(bp.Tensor.add))
add = bp.add
assert (bp.add.__code__, bp.Tensor.__add__.__code__, F.relu.__code__) == code, "activated too early"
class MyT(bp.Tensor): pass
assert bp.add.__code__ is not code[0] and bp.add is add
new = {n: str(inspect.signature(getattr(bp, n))) for n in ("add", "mean", "cat", "exp")}
new["relu"] = str(inspect.signature(F.relu)); new["Tensor.add"] = str(inspect.signature(bp.Tensor.add))
assert new == sigs, (new, sigs)
assert type(add(bp.ones(1).as_subclass(MyT), 1)) is MyT
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
