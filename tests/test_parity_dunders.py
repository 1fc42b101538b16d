"""Python protocols torch's Tensor implements: ``complex(t)``, ``x in t``, ``reversed(t)`` and the Python 2
division names torch keeps (``__div__``, ``__rdiv__``, ``__idiv__``)."""

from __future__ import annotations

from typing import Any

import pytest

import backprop as bp


def _protocols(L: Any) -> list[Any]:
    t = L.tensor([[1.0, 2.0], [3.0, 4.0]])
    out: list[Any] = [complex(L.tensor(1.5)), 3 in t, 5 in t, L.tensor(2.0) in t, 2.5 in t]
    out += [reversed(t).tolist(), reversed(L.tensor(3.0)).tolist()]
    out += [t.__rdiv__(2).tolist(), t.__div__(2).tolist()]
    u = t.clone()
    u.__idiv__(2)
    out.append(u.tolist())
    for bad in ("a", [1.0]):
        try:
            bad in t  # noqa: B015 - the membership test's error is the point
        except RuntimeError as e:
            out.append(str(e))
    try:
        complex(t)
    except ValueError as e:
        out.append(str(e))
    return out


def test_protocols_closed_forms() -> None:
    got = _protocols(bp)
    assert got[:5] == [1.5 + 0j, True, False, True, False]
    assert got[5:7] == [[[3.0, 4.0], [1.0, 2.0]], 3.0]
    assert got[8] == got[9] == [[0.5, 1.0], [1.5, 2.0]]
    assert "only supports Tensor or scalar" in got[10]


def test_protocols_match_torch() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    assert _protocols(bp) == _protocols(torch)
