"""``bp.jit``: TorchScript's decorators pass the function or module through, so scripted code runs."""

from __future__ import annotations

import pytest

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


def test_timm_style_final_annotations_and_the_other_jit_names() -> None:
    """timm annotates attention modules with ``torch.jit.Final``; fork/wait, isinstance with element types,
    freeze and the fusion switches behave as torch's do outside TorchScript."""
    from typing import Optional

    class Attention(bp.nn.Module):
        fused_attn: bp.jit.Final[bool]

        def __init__(self) -> None:
            super().__init__()
            self.fused_attn = True

    assert Attention().fused_attn is True and bp.jit.Final is __import__("typing").Final
    fut = bp.jit.fork(lambda x, y=1: x + y, 2, y=3)
    assert bp.jit.wait(fut) == 5 and fut.wait() == 5 and fut.done()
    bad = bp.jit.fork(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bad.wait()
    jit_is = bp.jit.isinstance
    assert jit_is([1, 2], list[int]) and not jit_is([1, "a"], list[int]) and jit_is({"a": 1}, dict[str, int])
    assert jit_is(None, Optional[int]) and jit_is(2, int | None) and not jit_is("a", int | None)  # noqa: UP045
    assert jit_is((1, "a"), tuple[int, str]) and not jit_is((1,), tuple[int, str])
    model = bp.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="only implemented for modules in eval mode"):
        bp.jit.freeze(model)
    assert bp.jit.freeze(model.eval()) is model and bp.jit.optimize_for_inference(model) is model
    assert not isinstance(model, bp.jit.ScriptModule) and issubclass(bp.jit.RecursiveScriptModule, bp.jit.ScriptModule)
    previous = bp.jit.set_fusion_strategy([("DYNAMIC", 3)])
    assert previous == [("STATIC", 2), ("DYNAMIC", 10)] and bp.jit.set_fusion_strategy(previous) == [("DYNAMIC", 3)]
    with bp.jit.optimized_execution(False), bp.jit.strict_fusion():
        assert not bp.jit.onednn_fusion_enabled()


def test_jit_names_as_torchs() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the jit names are compared with it")
    from typing import Optional

    cases = [([1, 2], list[int]), ([1, "a"], list[int]), ({"a": [1]}, dict[str, list[int]]), (3, Optional[int])]  # noqa: UP045
    for obj, t in cases:
        assert bp.jit.isinstance(obj, t) == torch.jit.isinstance(obj, t)
    assert bp.jit.set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)]) == [("STATIC", 2), ("DYNAMIC", 10)]
    with pytest.warns(DeprecationWarning):  # (torch 2.13 deprecates TorchScript's entry points; ours stay quiet)
        assert torch.jit.set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)]) == [("STATIC", 2), ("DYNAMIC", 10)]
    assert bp.jit.onednn_fusion_enabled() == torch.jit.onednn_fusion_enabled()
    assert bp.jit.Final is torch.jit.Final
