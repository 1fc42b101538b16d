"""Every nn module in torch's own ModuleInfo database, built from its sample constructor arguments by
torch and by backprop (``tests/moduleinfo_harness.py``): torch's ``state_dict`` loaded into ours, then
forward in train and eval mode (values, dtypes, shapes), input and parameter gradients for the same
cotangent, buffers after the forward (running statistics) and ``state_dict`` keys and shapes must agree,
in float64 and float32.

Skipped without torch or ``expecttest`` (torch's test utilities import it). A disagreement left on
purpose is listed in ``KNOWN`` with its reason; a listed module that starts agreeing fails, so the list
stays true. ``python -m tests.moduleinfo_harness --all`` runs every sample (this test an evenly spread
few per module, dtype and mode, to stay fast).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("torch", reason="torch not installed: the ModuleInfo cross-check needs it")
pytest.importorskip("expecttest", reason="expecttest not installed: torch's test utilities import it")

import moduleinfo_harness as h  # noqa: E402

if not h.load():
    pytest.skip("torch's module database could not be imported", allow_module_level=True)

SAMPLES = 3  # per module, dtype and mode

# module name -> why backprop differs from torch there, on purpose or for now.
KNOWN: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """torch's small kernels are several times slower with their thread pool on a busy machine."""
    n = h.torch.get_num_threads()
    h.torch.set_num_threads(1)
    yield
    h.torch.set_num_threads(n)


@pytest.mark.parametrize("mi", h.module_db, ids=h.key_of)
def test_module_agrees_with_torch(mi: Any) -> None:
    key = h.key_of(mi)
    problems = list(h.check_module(mi, max_samples=SAMPLES))
    if key in KNOWN:
        assert problems, f"{key} now agrees with torch: remove it from KNOWN"
        pytest.xfail(f"{KNOWN[key]}: {problems[0]}")
    assert not problems, "\n".join(problems)
