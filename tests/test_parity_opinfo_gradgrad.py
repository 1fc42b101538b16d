"""Second-order gradients of every differentiable op in torch's OpInfo database, against torch's
(``opinfo_harness.check_gradgrad``: the gradient of ``<grad(op), v>`` in float64 on torch's own samples).

Skipped without torch or ``expecttest``. ``KNOWN`` lists what differs on purpose, with the reason; a
listed op that starts agreeing fails, so the list stays true."""

from __future__ import annotations

from typing import Any

import opinfo_harness as h
import pytest

if not h.load():
    pytest.skip("torch or expecttest not installed: the OpInfo cross-check needs both", allow_module_level=True)

KNOWN: dict[str, str] = {
    "chalf": "complex32 does not exist in NumPy/CuPy: chalf() refuses with a clear error (README)",
    "nn.functional.ctc_loss": "ctc_loss refuses create_graph=True with a clear error (README: no double backward)",
    "masked.logaddexp": "torch's second derivative divides by 1 + exp(x - y), NaN where the other input is -inf; "
    "ours keeps the exact 0 there",
}
_INTERNAL = ("_", "torch.", "jiterator_")
_OPS = [op for op in h.op_db if op.supports_autograd and op.supports_gradgrad]


@pytest.mark.parametrize("op", _OPS, ids=h.key_of)
def test_second_order_gradients_agree_with_torch(op: Any) -> None:
    key = h.key_of(op)
    if key.startswith(_INTERNAL):
        pytest.skip(f"{key} is a torch internal (aten or CUDA-only), not public API")
    problems = list(h.check_gradgrad(op))
    if key in KNOWN:
        assert problems, f"{key} now agrees with torch: remove it from KNOWN"
        pytest.xfail(f"{KNOWN[key]}: {problems[0]}")
    assert not problems, "\n".join(problems)
