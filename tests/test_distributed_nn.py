"""``backprop.distributed.nn.functional``: torch's differentiable collectives. Two-rank jobs (MPI and TCP "gloo")
check every collective's values and input gradients against closed forms (the ranks' losses are sums of fixed
weights times the outputs), plus a double backward through ``all_reduce``; a world of one process compares values,
gradients, return types and deprecation warnings with torch's own (a one-rank gloo group) in-process.

The same job (one launch per engine) also runs the other leftovers' two-rank scenarios: ``split_group``, the group
count and the coalesced collectives; DCP's ``get_state_dict``/``set_state_dict`` options under FSDP
(``cpu_offload``, ``broadcast_from_rank0``) and ``async_save`` with a failing writer rank."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed_nn_worker import inputs, weights
from test_distributed import ENGINES, _run

import backprop as bp
import backprop.distributed.nn.functional as dfn
from backprop import distributed as dist

WORKER = Path(__file__).resolve().parent / "distributed_nn_worker.py"


@pytest.fixture(scope="module", params=ENGINES)
def ranks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """One two-rank job per engine; every rank's record of the ``functional`` scenario."""
    out = tmp_path_factory.mktemp(f"dnn-{request.param}")
    scenarios = ["functional", "c10d_names", "dcp_options", "async_fail"]
    proc = _run([str(WORKER), str(out), *scenarios], timeout=240, engine=request.param)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads((out / "functional.json").read_text())
    assert "error" not in got, got["error"]
    for name in scenarios[1:]:
        extra = json.loads((out / f"{name}.json").read_text())
        assert "error" not in extra, extra["error"]
        for rec, mine in zip(got["ranks"], extra["ranks"]):
            rec[name] = mine
    return got["ranks"]


def _expected() -> dict[str, tuple[list[list[np.ndarray]], list[np.ndarray]]]:
    """name -> (each rank's outputs, each rank's input gradient): the closed forms for two ranks."""
    x0, x1 = inputs(0), inputs(1)
    w0, w1 = weights(0), weights(1)
    z = np.zeros(3)
    return {
        "all_reduce": ([[x0 + x1], [x0 + x1]], [w0 + w1, w0 + w1]),
        "all_reduce_max": ([[np.maximum(x0, x1)]] * 2, [np.maximum(w0, w1)] * 2),  # torch's rule: MAX of the grads
        "broadcast": ([[x1], [x1]], [z, w0 + w1]),  # all of it to src 1
        "reduce": ([[x0], [x0 + x1]], [w1, w1]),  # dst's gradient, broadcast (torch's rule)
        "all_gather": ([[x0, x1]] * 2, [w0 + w1, 2 * (w0 + w1)]),  # part r weighted r + 1 on every rank
        "gather": ([[x0, x1], [z, z]], [w0, 2 * w0]),
        "scatter": ([[x0], [2 * x0]], [w0 + 2 * w1, z]),  # rank 0 sends x0 * (j + 1) to rank j
        "reduce_scatter": ([[x0 + x1], [2 * (x0 + x1)]], [w0 + 2 * w1] * 2),
        "all_to_all": ([[x0, x1], [2 * x0, 2 * x1]], [w0 + 2 * w1, 2 * (w0 + 2 * w1)]),
        # splits [1, 2] on rank 0 and [2, 1] on rank 1
        "all_to_all_single": (
            [[np.r_[x0[:1], x1[:2]]], [np.r_[x0[1:], x1[2:]]]],
            [np.r_[w0[:1], w1[:2]], np.r_[w0[1:], w1[2:]]],
        ),
    }


@pytest.mark.parametrize("name", list(_expected()))
def test_values_and_gradients(ranks: list[dict[str, Any]], name: str) -> None:
    outs, grads = _expected()[name]
    for r, rec in enumerate(ranks):
        got = rec[name]
        assert len(got["out"]) == len(outs[r]), (name, r)
        for o, e in zip(got["out"], outs[r]):
            np.testing.assert_array_equal(o, e, err_msg=f"{name} rank {r} output")
        np.testing.assert_array_equal(got["grad"], grads[r], err_msg=f"{name} rank {r} gradient")
        assert got["tuple"] == (name in ("all_gather", "gather", "all_to_all"))


def test_double_backward_and_warnings(ranks: list[dict[str, Any]]) -> None:
    """g = all_reduce(all_reduce(x)) for the loss |all_reduce(x)|^2 / 2; its gradient along w_r is
    all_reduce(all_reduce(w)); torch's FutureWarnings name the five collectives torch deprecates."""
    x0, x1, w0, w1 = inputs(0), inputs(1), weights(0), weights(1)
    for rec in ranks:
        np.testing.assert_array_equal(rec["double_all_reduce"]["g"], 2 * (x0 + x1))
        np.testing.assert_array_equal(rec["double_all_reduce"]["gg"], 2 * (w0 + w1))
        names = ["all_gather", "all_reduce", "all_to_all_single", "broadcast", "reduce_scatter"]
        assert rec["warned"] == [f"torch.distributed.nn.functional.{n}" for n in names]


# ------------------------------------------------------------------------------------------ one process vs torch
def _one_rank(lib: Any, fn: Any, dist_mod: Any) -> list[tuple[Any, ...]]:
    """Every collective on a world of one, float64: (outputs, input gradient, tuple-ness, FutureWarning texts)."""
    w = lib.tensor([1.0, 10.0, 100.0], dtype=lib.float64)
    calls = {
        "all_reduce": lambda x: fn.all_reduce(x),
        "broadcast": lambda x: fn.broadcast(x, 0),
        "reduce": lambda x: fn.reduce(x, 0, op=dist_mod.ReduceOp.SUM),
        "all_gather": lambda x: fn.all_gather(x),
        "gather": lambda x: fn.gather(x),
        "scatter": lambda x: fn.scatter([x * 2]),
        "reduce_scatter": lambda x: fn.reduce_scatter(lib.zeros(3, dtype=lib.float64), [x * 3]),
        "all_to_all": lambda x: fn.all_to_all([lib.zeros(3, dtype=lib.float64)], [x * 4]),
        "all_to_all_single": lambda x: fn.all_to_all_single(lib.zeros(3, dtype=lib.float64), x * 5),
    }
    rows = []
    for name, call in calls.items():
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call(x)
        outs = out if isinstance(out, tuple) else (out,)
        sum((o * w).sum() for o in outs).backward()
        texts = [(c.category.__name__, str(c.message)) for c in caught]
        rows.append((name, [o.tolist() for o in outs], x.grad.tolist(), type(out).__name__, texts))
    return rows


def test_one_process_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    import torch.distributed as tdist
    import torch.distributed.nn.functional as tfn

    tdist.init_process_group("gloo", rank=0, world_size=1, store=tdist.HashStore())
    try:
        theirs = _one_rank(torch, tfn, tdist)
    finally:
        tdist.destroy_process_group()
    dist.init_process_group()
    try:
        ours = _one_rank(bp, dfn, dist)
    finally:
        dist.destroy_process_group()
    assert ours == theirs


def test_function_returning_one_tuple_keeps_it() -> None:
    """autograd.Function whose forward returns a 1-tuple (all_gather on one rank): apply returns a 1-tuple, as
    torch's (it used to unpack it into the tensor)."""

    class Twice(bp.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> tuple[Any, ...]:
            return (x * 2,)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2

    x = bp.ones(2, requires_grad=True)
    out = Twice.apply(x)
    assert isinstance(out, tuple) and len(out) == 1
    out[0].sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_package_names() -> None:
    import backprop.distributed.nn as dnn

    pytest.importorskip("torch")
    import inspect

    import torch.distributed.nn.functional as tfn

    for name in dfn.__all__:
        assert getattr(dnn, name) is getattr(dfn, name)
        ours, theirs = inspect.signature(getattr(dfn, name)), inspect.signature(getattr(tfn, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p, q in zip(ours.parameters.values(), theirs.parameters.values()):
            assert (p.default is inspect.Parameter.empty) == (q.default is inspect.Parameter.empty), (name, p)


# ------------------------------------------------------------------------------------------ torch.distributed's names
def test_split_group_pg_count_and_coalesced(ranks: list[dict[str, Any]]) -> None:
    """split_group by parent ranks (a rank in no split gets None), torch's group count (split_group adds none),
    the deprecated coalesced collectives with torch's warnings (text checked against torch in
    test_distributed_names.py)."""
    for r, rec in enumerate(ranks):
        c = rec["c10d_names"]
        assert (c["pg_count_after_init"], c["pg_count_after_new_group"], c["pg_count_after_splits"]) == (1, 2, 2)
        assert c["split_alone"] == [[r], [r + 1.0]]
        assert c["split_both"] == [[0, 1], r, [3.0]]
        assert c["split_only_1"] == (None if r == 0 else [1])
        assert c["all_reduce_coalesced_max"] == [[2.0, 2.0], [[20.0]]]
        assert c["all_gather_coalesced"] == [[[0.0, 0.5], [[-1.0]]], [[1.0, 1.5], [[-2.0]]]]
        assert [(k, m.split("`")[1]) for k, m in c["warnings"]] == [
            ("FutureWarning", "torch.distributed.all_reduce_coalesced"),
            ("FutureWarning", "torch.distributed.all_gather_coalesced"),
        ]


@pytest.mark.parametrize("variant", ["flat", "orig"])
def test_dcp_state_dict_options_under_fsdp(ranks: list[dict[str, Any]], variant: str) -> None:
    """full_state_dict + cpu_offload: rank 0 gets the whole state bitwise on the CPU, the others ``{}`` (torch's);
    cpu_offload alone: every rank its parts, the default's values; broadcast_from_rank0: a fresh FSDP model loads
    rank 0's dicts (rank 1 passes empty ones) bitwise; without full_state_dict: torch's ValueError."""
    r0, r1 = ranks[0]["dcp_options"][variant], ranks[1]["dcp_options"][variant]
    assert r0["full_offload_rank0_same"] and r0["full_offload_on_cpu"]
    assert r1["full_offload_other_rank"] == [{}, {}]
    for rec in (r0, r1):
        assert rec["sharded_offload_keys_same"] and rec["sharded_offload_values_same"]
        assert rec["fresh_differs"] and rec["broadcast_loaded_same"]
        assert rec["broadcast_without_full"] == "full_state_dict must be True when broadcast_from_rank0 is True."
    assert any(r0["sharded_offload_is_part"])  # (parts, not whole tensors)
    groups = r0["full_offload_groups"]
    assert len(groups) == (2 if variant == "orig" else 1) and "emb.weight" in groups[0]


def test_async_save_failing_rank_fails_the_others(ranks: list[dict[str, Any]]) -> None:
    """Rank 1's writer raises: its future has its OSError, rank 0's fails with the failure marker's RuntimeError
    naming rank 1 and the error (before the fix: a TimeoutError after the 120 s timeout); the next save works."""
    e0, e1 = ranks[0]["async_fail"]["error"], ranks[1]["async_fail"]["error"]
    assert e1 == ["OSError", "disk full (test)"]
    assert e0 == ["_PeerFailed", "async_save: rank 1 failed to write its part: OSError: disk full (test)"]
    for rec in ranks:  # (a replicated tensor is saved once, rank 0's, as torch's planner dedups it)
        assert rec["async_fail"]["second_save_ok"]
        assert rec["async_fail"]["second_loaded"] == [[float(i) for i in range(6)], 3]
