"""torch's older nn test tables (``torch.testing._internal.common_nn``: ``module_tests``,
``get_new_module_tests()``, ``criterion_tests`` with their functional and loss reference functions) run
against backprop (``tests/common_nn_harness.py``): every entry's module or wrapped functional built by torch
and by backprop from the same arguments (constructor lambdas re-bound to backprop), torch's ``state_dict``
loaded into ours, the same inputs and targets; outputs, buffers, input and parameter gradients must agree
in float64 and float32, train and eval mode, and in float64 also second-order gradients, non-contiguous
inputs and the entry's ``reference_fn``. Wrapped losses called with ``reduction='none'`` also run with
``'mean'`` and ``'sum'`` (``<entry>.mean``, ``<entry>.sum``).

These tables hold many constructor variants torch's ModuleInfo database does not: padding modes,
``padding='same'`` with dilation, groups and depthwise convolutions, transposed convolutions with
``output_padding``, EmbeddingBag modes with ``padding_idx``, Fold/Unfold, interpolate modes and scales,
softmax dims and dtypes, loss weights, ``ignore_index`` (negative too), ``label_smoothing``, margins, betas,
deltas, log targets, no-batch-dim inputs.

Skipped without torch or ``expecttest``. A disagreement left on purpose is listed in ``KNOWN`` with its
reason; a listed entry that starts agreeing fails, so the list stays true. ``python -m
tests.common_nn_harness [entries]`` prints every disagreement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("torch", reason="torch not installed: the common_nn cross-check needs it")
pytest.importorskip("expecttest", reason="expecttest not installed: torch's test utilities import it")

import common_nn_harness as h  # noqa: E402

import backprop as bp  # noqa: E402

if not h.load():
    pytest.skip("torch's nn test tables could not be imported", allow_module_level=True)

# entry -> why backprop differs from torch there, on purpose or for now.
KNOWN: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """torch's small kernels are several times slower with their thread pool on a busy machine."""
    n = h.torch.get_num_threads()
    h.torch.set_num_threads(1)
    yield
    h.torch.set_num_threads(n)


@pytest.mark.parametrize("entry", h.entries, ids=h.key_of)
def test_entry_agrees_with_torch(entry: Any) -> None:
    key = h.key_of(entry)
    problems = list(h.check_entry(entry))
    if key in KNOWN:
        assert problems, f"{key} now agrees with torch: remove it from KNOWN"
        pytest.xfail(f"{KNOWN[key]}: {problems[0]}")
    assert not problems, "\n".join(problems)


def test_tables_are_all_carried_over() -> None:
    """Every entry runs: none is skipped for a constructor, function or value the harness cannot carry over."""
    skipped = {h.key_of(e): s for e in h.entries for s in [_skip_reason(e)] if s}
    assert not skipped, skipped
    assert len(h.entries) > 300


def _skip_reason(e: Any) -> str | None:
    try:
        h.bp_constructor(e)
    except h.Skip as s:
        return str(s)
    return None


def test_no_batch_dim_reductions_are_bound() -> None:
    """torch's ``*_no_batch_dim_<reduction>`` constructors late-bind a loop variable (all would build
    ``'sum'``); the harness gives each its own reduction."""
    for e in h.entries:
        key = h.key_of(e)
        if "_no_batch_dim_" in key and key.rsplit("_", 1)[-1] in ("none", "mean"):
            assert h.torch_constructor(e)().reduction == key.rsplit("_", 1)[-1], key
            assert h.bp_constructor(e)().reduction == key.rsplit("_", 1)[-1], key


def test_first_gradient_graph_of_piecewise_linear_ops() -> None:
    """Under ``create_graph=True`` a first gradient that is constant in the inputs (ReLU, hardtanh, L1/NLL losses,
    max pooling) carries a graph of zero derivative, as torch's (``requires_grad`` True, x.grad zeros after a
    backward through it); ``_check_gradgrad`` checks which first gradients require grad for every entry
    (tests/test_parity_create_graph.py has the table)."""
    x = bp.randn(5, dtype=bp.float64, requires_grad=True)
    (g,) = bp.autograd.grad(bp.nn.functional.relu(x).sum(), x, create_graph=True)
    tx = h.torch.randn(5, dtype=h.torch.float64, requires_grad=True)
    (tg,) = h.torch.autograd.grad(h.torch.nn.functional.relu(tx).sum(), tx, create_graph=True)
    assert tg.requires_grad and g.requires_grad
    assert g.grad_fn.name() == type(tg.grad_fn).__name__ == "ThresholdBackwardBackward0"
    g.sum().backward()
    assert x.grad is not None and not x.grad.numpy().any()
