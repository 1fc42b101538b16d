"""``bp.jit``: TorchScript's decorators pass the function or module through, so scripted code runs."""

from __future__ import annotations

import backprop as bp


def test_script_and_trace_pass_through() -> None:
    @bp.jit.script
    def f(x: bp.Tensor) -> bp.Tensor:
        return x * 2

    model = bp.nn.Linear(2, 2)
    assert bp.jit.script(model) is model and bp.jit.trace(model, bp.ones(1, 2)) is model
    assert f(bp.ones(2)).tolist() == [2.0, 2.0]

    @bp.jit.ignore
    def g() -> int:
        return 1

    @bp.jit.ignore(drop=True)
    def h() -> int:
        return 2

    assert g() == 1 and h() == 2 and bp.jit.unused(g) is g and bp.jit.export(g) is g
    assert bp.jit.annotate(list, [1]) == [1] and not bp.jit.is_scripting() and not bp.jit.is_tracing()
