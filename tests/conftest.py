"""Shared fixtures: the ``device`` fixture runs a test on "cpu" always and on "cuda" when usable."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import backprop as bp

os.environ.setdefault("BACKPROP_DEVICE", "cpu")  # unit tests pick devices explicitly


def _cuda_skip_reason() -> str | None:
    if bp.cuda.is_available():
        return None
    return f"CUDA not usable here: {bp.cuda.unavailable_reason()}"


CUDA_SKIP = _cuda_skip_reason()


@pytest.fixture(
    params=[
        "cpu",
        pytest.param("cuda", marks=pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))),
    ]
)
def device(request: pytest.FixtureRequest) -> str:
    """Every device this machine can run: "cpu", plus "cuda" when a GPU is usable."""
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    bp.manual_seed(0)


@pytest.fixture(autouse=True, scope="module")
def _torch_function_off_between_modules() -> Iterator[None]:
    """A module that makes a Tensor subclass (DTensor, nested tensors, its own) turns ``__torch_function__`` dispatch
    on for the process; the next module starts as a fresh process would, with it off."""
    yield
    from backprop import overrides

    overrides._deactivate()
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "distributions"):
        # (torch's Dynamo turns distribution argument validation off for the process on first use of
        # torch.compile: the next module's comparisons expect torch's default, on)
        torch.distributions.Distribution.set_default_validate_args(True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
