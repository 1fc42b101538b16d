"""torch's ``_foreach_*`` list ops (backprop/_foreach.py), as EMA helpers (timm's ``_foreach_lerp_``),
custom clipping (``_foreach_norm``, ``_foreach_mul_``) and hand-written optimizers call them: closed forms,
gradients and in-place checks everywhere, and each overload, result and error against torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp
from tests.parity_compare import same_as_torch


def _lists(lib: Any) -> tuple[list[Any], list[Any]]:
    return [lib.tensor([1.0, 2.0]), lib.tensor([[3.0, 4.0]])], [lib.tensor([1.0, 1.0]), lib.tensor([[2.0, 2.0]])]


def test_foreach_closed_forms() -> None:
    a, b = _lists(bp)
    out = bp._foreach_add(a, b, alpha=2)
    assert isinstance(out, tuple)
    np.testing.assert_array_equal(out[1].numpy(), [[7.0, 8.0]])
    np.testing.assert_array_equal(bp._foreach_mul(a, [2, 3])[1].numpy(), [[9.0, 12.0]])
    np.testing.assert_allclose([n.item() for n in bp._foreach_norm(a)], [5**0.5, 5.0], rtol=1e-6)
    np.testing.assert_array_equal([m.item() for m in bp._foreach_max(a)], [2.0, 4.0])
    np.testing.assert_array_equal(bp._foreach_pow(2, a)[0].numpy(), [2.0, 4.0])
    # in place: the list comes back, its tensors changed
    assert bp._foreach_lerp_(a, b, 0.5) is a
    np.testing.assert_array_equal(a[0].numpy(), [1.0, 1.5])
    bp._foreach_addcmul_(a, a, b, [1.0, 0.5])
    np.testing.assert_array_equal(a[1].numpy(), [[5.0, 6.0]])
    bp._foreach_maximum_(a, b)
    np.testing.assert_array_equal(a[0].numpy(), [2.0, 3.0])
    bp._foreach_zero_(a)
    assert all(float(t.abs().sum()) == 0 for t in a)


def test_foreach_ema_update_matches_a_loop() -> None:
    """timm's ModelEmaV3 step: ``_foreach_lerp_(ema, params, 1 - decay)`` is the per-tensor lerp."""
    rng = np.random.default_rng(0)
    params = [bp.tensor(rng.standard_normal(s).astype(np.float32)) for s in [(3, 2), (4,)]]
    ema = [bp.tensor(rng.standard_normal(s).astype(np.float32)) for s in [(3, 2), (4,)]]
    want = [e.numpy() * 0.9 + p.numpy() * 0.1 for e, p in zip(ema, params)]
    bp._foreach_lerp_(ema, params, 0.1)
    for e, w in zip(ema, want):
        np.testing.assert_allclose(e.numpy(), w, rtol=1e-6)


def test_foreach_gradients_and_inplace_checks() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = bp.tensor([[3.0]], requires_grad=True)
    h = [x * 1, y * 1]
    bp._foreach_mul_(h, [3.0, 4.0])
    (n0, n1) = bp._foreach_norm(bp._foreach_add(h, [x, y], alpha=2))
    (n0 + n1).backward()
    # |5x| and |6y|: gradients 5 x/|x| and 6 sign(y)
    np.testing.assert_allclose(x.grad.numpy(), 5 * np.array([1.0, 2.0]) / 5**0.5, rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), [[6.0]], rtol=1e-6)
    leaf = bp.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        bp._foreach_mul_([leaf], 2)


def test_foreach_errors() -> None:
    a, b = _lists(bp)
    with pytest.raises(RuntimeError, match="at least one tensor"):
        bp._foreach_sqrt([])
    with pytest.raises(RuntimeError, match="same number of tensors, got 2 and 1"):
        bp._foreach_add(a, b[:1])
    with pytest.raises(RuntimeError, match="same number of elements as scalar list"):
        bp._foreach_mul(a, [1.0])
    with pytest.raises(RuntimeError, match="scalar tensor expected to be 0 dim"):
        bp._foreach_div(a, bp.tensor([2.0]))
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        bp._foreach_add(a, 1, alpha=2)
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        bp._foreach_add(bp.ones(2), 1)


_CASES = [
    "F._foreach_add(a, 1)",
    "F._foreach_add(a, b, alpha=2)",
    "F._foreach_add(a, [1, 2])",
    "F._foreach_add(a, L.tensor(3.))",
    "F._foreach_add(a, L.tensor(3.), alpha=2)",
    "F._foreach_add(a, [1])",
    "F._foreach_add(a, b[:1])",
    "F._foreach_add([], 1)",
    "F._foreach_sub(a, b, alpha=2)",
    "F._foreach_mul(a, L.tensor(2.))",
    "F._foreach_div(a, [2, 4])",
    "F._foreach_div(a, L.tensor([2.]))",
    "F._foreach_pow(a, 2)",
    "F._foreach_pow(2, a)",
    "F._foreach_pow(a, b)",
    "F._foreach_addcmul(a, a, b, value=0.5)",
    "F._foreach_addcmul(a, a, b, [0.5, 2])",
    "F._foreach_addcmul(a, a, b, L.tensor([0.5, 2]))",
    "F._foreach_addcmul([L.ones(2)], [L.ones(2)], [L.ones(2)], L.tensor([1.0, 2.0]))",
    "F._foreach_addcmul([L.ones(2)], [L.ones(2)], [L.ones(2)], L.tensor(1.0))",
    "F._foreach_addcdiv(a, a, b, 3)",
    "F._foreach_lerp(a, b, 0.5)",
    "F._foreach_lerp(a, b, b)",
    "F._foreach_lerp(a, b, [0.5, 0.1])",
    "F._foreach_lerp(a, b, L.tensor(0.5))",
    "F._foreach_norm(a)",
    "F._foreach_norm(a, 1)",
    "F._foreach_norm(a, float('inf'))",
    "F._foreach_norm(a, 2, dtype=L.float64)",
    "F._foreach_max(a)",
    "F._foreach_max([L.tensor([])])",
    "F._foreach_maximum(a, 1.5)",
    "F._foreach_minimum(a, b)",
    "F._foreach_clamp_min(a, 1.5)",
    "F._foreach_clamp_max(a, [1.5, 3.5])",
    "F._foreach_sqrt(a)",
    "F._foreach_abs(F._foreach_neg(a))",
    "F._foreach_sqrt([L.tensor([1, 4])])",
    "F._foreach_add([L.tensor([1, 2])], 1.5)",
    "F._foreach_clone(b)",
    "(F._foreach_copy_(a, b), a)[1]",
    "(F._foreach_zero_(a), a)[1]",
    "(F._foreach_maximum_(a, [0.5, 3.5]), a)[1]",
    "(F._foreach_lerp_(a, b, 0.25), a)[1]",
    "(F._foreach_addcdiv_(a, b, b, [1., 2.]), a)[1]",
    "(F._foreach_neg_(a), a)[1]",
    "F._foreach_add_(a, 1) is a",
    "F._foreach_mul([L.tensor([1.], dtype=L.float16)], L.tensor(2., dtype=L.float64))",
    "F._foreach_copy_([L.ones(2)], [L.ones(2)], [L.ones(2)])",
    "F._foreach_addcmul(a, a, b[:1])",
]


@pytest.mark.parametrize("expr", _CASES)
def test_foreach_matches_torch(expr: str) -> None:
    def case(lib: Any) -> Any:
        a, b = _lists(lib)
        return eval(expr, {"F": lib, "L": lib, "a": a, "b": b})  # noqa: S307 - the cases above

    same_as_torch(case)


def test_foreach_names_are_torchs() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the names are compared with it")
    ours = {n for n in dir(bp) if n.startswith("_foreach_")}
    theirs = {n for n in dir(torch) if n.startswith("_foreach_")}
    assert ours <= theirs
    # the ones left out: a matrix product and a norm helper no optimizer or EMA code calls
    assert theirs - ours <= {"_foreach_mm", "_foreach_powsum"}
