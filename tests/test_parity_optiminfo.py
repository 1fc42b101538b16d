"""Every optimizer in torch's own OptimizerInfo database, on every configuration of its
``optim_inputs_func`` (and its foreach and CPU-fused implementations), run by torch and by backprop on the
same small problem (``tests/optiminfo_harness.py``): the parameters after each step (rtol 1e-10 in
float64), the loss a closure step returns, ``state_dict()`` (state keys, tensor dtypes, shapes and values,
param-group hyper-parameters) and the steps after loading torch's ``state_dict`` into backprop must agree,
in float64, float32 and (where torch supports it) complex128.

Skipped without torch or ``expecttest``. A disagreement left on purpose is listed in ``KNOWN`` (keyed
``Optimizer/dtype``) with its reason; a listed case that starts agreeing fails, so the list stays true.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("torch", reason="torch not installed: the OptimizerInfo cross-check needs it")
pytest.importorskip("expecttest", reason="expecttest not installed: torch's test utilities import it")

import optiminfo_harness as h  # noqa: E402

if not h.load():
    pytest.skip("torch's optimizer database could not be imported", allow_module_level=True)

STEPS = 4

# "Optimizer/dtype" -> why backprop differs from torch there, on purpose or for now.
KNOWN: dict[str, str] = {
    "Muon/float64": "torch runs the Newton-Schulz iteration in bfloat16; here it runs in the parameter's dtype "
    "(NumPy has no bfloat16 matmul): the steps agree to bfloat16's ~3 digits, not to 1e-10",
    "Muon/float32": "torch runs the Newton-Schulz iteration in bfloat16; here it runs in the parameter's dtype",
    "LBFGS/float32": "20 inner iterations of float32 dot products summed in another order than torch's: the "
    "curvature pairs (1/ys of tiny ys) drift past float32's tolerance; float64 and complex128 agree to 1e-10",
}

CASES = [
    pytest.param(oi, d, id=f"{h.key_of(oi)}/{d}")
    for oi in h.optim_db
    for d in h.DTYPES
    if not (d.startswith("complex") and (not oi.supports_complex or h.key_of(oi) == "SparseAdam"))
]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """torch's small kernels are several times slower with their thread pool on a busy machine."""
    n = h.torch.get_num_threads()
    h.torch.set_num_threads(1)
    yield
    h.torch.set_num_threads(n)


@pytest.mark.parametrize(("oi", "dtype"), CASES)
def test_optimizer_agrees_with_torch(oi: Any, dtype: str) -> None:
    key = f"{h.key_of(oi)}/{dtype}"
    problems = list(h.check_optimizer(oi, dtypes=(dtype,), steps=STEPS))
    if key in KNOWN:
        assert problems, f"{key} now agrees with torch: remove it from KNOWN"
        pytest.xfail(f"{KNOWN[key]}: {problems[0]}")
    assert not problems, "\n".join(problems)
