"""One named-tuple type per op, as ``torch.return_types``: names, fields, reprs (torch's layout with
``backprop.`` for ``torch.``), ``out=`` twins, isinstance relations, unpacking and pickling."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

R = bp.return_types
A = [[4.0, 1.0, 2.0], [1.0, 5.0, 3.0], [2.0, 3.0, 6.0]]  # symmetric positive-definite
X = [[1.0, 5.0, 3.0], [3.0, 2.0, 2.0]]

# (torch.return_types name, the call on a module ``m`` (torch or backprop))
CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("max", lambda m: m.tensor(X).max(1)),
    ("max", lambda m: m.max(m.tensor(X), 0, keepdim=True)),
    ("min", lambda m: m.tensor(X).min(1)),
    ("sort", lambda m: m.tensor(X).sort()),
    ("sort", lambda m: m.sort(m.tensor(X), 0, descending=True)),
    ("topk", lambda m: m.tensor(X).topk(2)),
    ("median", lambda m: m.tensor(X).median(1)),
    ("nanmedian", lambda m: m.tensor(X).nanmedian(1)),
    ("mode", lambda m: m.tensor(X).mode(1)),
    ("kthvalue", lambda m: m.tensor(X).kthvalue(2, 1)),
    ("cummax", lambda m: m.tensor(X).cummax(1)),
    ("cummin", lambda m: m.cummin(m.tensor(X), 0)),
    ("aminmax", lambda m: m.aminmax(m.tensor(X))),
    ("aminmax", lambda m: m.tensor(X).aminmax(dim=1)),
    ("frexp", lambda m: m.frexp(m.tensor([1.0, 6.0]))),
    ("geqrf", lambda m: m.geqrf(m.tensor(A))),
    ("histogram", lambda m: m.histogram(m.tensor([1.0, 2.0, 1.0]), bins=2)),
    ("histogramdd", lambda m: m.histogramdd(m.tensor([[0.0, 1.0], [1.0, 0.5]]), bins=2)),
    ("linalg_cholesky_ex", lambda m: m.linalg.cholesky_ex(m.tensor(A))),
    ("linalg_eig", lambda m: m.linalg.eig(m.tensor(A))),
    ("linalg_eigh", lambda m: m.linalg.eigh(m.tensor(A))),
    ("linalg_inv_ex", lambda m: m.linalg.inv_ex(m.tensor(A))),
    ("linalg_ldl_factor", lambda m: m.linalg.ldl_factor(m.tensor(A))),
    ("linalg_ldl_factor_ex", lambda m: m.linalg.ldl_factor_ex(m.tensor(A))),
    ("linalg_lstsq", lambda m: m.linalg.lstsq(m.tensor(A), m.tensor(A))),
    ("linalg_lu", lambda m: m.linalg.lu(m.tensor(A))),
    ("linalg_lu_factor", lambda m: m.linalg.lu_factor(m.tensor(A))),
    ("linalg_lu_factor_ex", lambda m: m.linalg.lu_factor_ex(m.tensor(A))),
    ("linalg_qr", lambda m: m.linalg.qr(m.tensor(A))),
    ("linalg_slogdet", lambda m: m.linalg.slogdet(m.tensor(A))),
    ("linalg_solve_ex", lambda m: m.linalg.solve_ex(m.tensor(A), m.tensor(A))),
    ("linalg_svd", lambda m: m.linalg.svd(m.tensor(A))),
    ("lu_unpack", lambda m: m.lu_unpack(*m.linalg.lu_factor(m.tensor(A)))),
    ("qr", lambda m: m.qr(m.tensor(A))),
    ("qr", lambda m: m.tensor(A).qr()),
    ("slogdet", lambda m: m.slogdet(m.tensor(A))),
    ("slogdet", lambda m: m.tensor(A).slogdet()),
    ("svd", lambda m: m.svd(m.tensor(A))),
    ("triangular_solve", lambda m: m.triangular_solve(m.tensor(A), m.tensor(A).triu())),
]


def _ids(calls: list[tuple[str, Any]]) -> list[str]:
    return [f"{name}-{i}" for i, (name, _) in enumerate(calls)]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=_ids(CALLS))
def test_each_op_returns_its_own_type(name: str, call: Callable[[Any], Any]) -> None:
    r = call(bp)
    assert type(r) is getattr(R, name) and type(r).__name__ == name
    assert type(r).__module__ == "backprop.return_types" and type(r).__qualname__ == name
    assert isinstance(r, tuple) and len(r) == len(type(r)._fields)
    assert tuple(getattr(r, f) for f in type(r)._fields) == tuple(r)
    # unpacking, pickling
    back = pickle.loads(pickle.dumps(r))
    assert type(back) is type(r)
    for a, b in zip(back, r):
        if isinstance(b, bp.Tensor):
            assert a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy(), equal_nan=True)
    # another op's type of the same fields does not accept it
    others = [t for t in R.all_return_types if t is not type(r) and t._fields == type(r)._fields]
    assert others and not any(isinstance(r, t) for t in others)


def test_main_cases() -> None:
    x = bp.tensor([[1.0, 5.0], [3.0, 2.0]])
    r = x.max(1)
    assert repr(r) == "backprop.return_types.max(\nvalues=tensor([5., 3.]),\nindices=tensor([1, 0]))"
    assert str(r) == repr(r)
    values, indices = r
    assert values.tolist() == [5.0, 3.0] and indices.tolist() == [1, 0] and r.indices is indices
    assert isinstance(x.max(0), R.max) and not isinstance(x.sort(), R.max) and isinstance(x.sort(), R.sort)
    assert R.max is not R.sort and R.max is not R.max_out and R.max is not R.min
    assert R.max._fields == R.sort._fields == ("values", "indices")
    assert repr(bp.aminmax(x)) == "backprop.return_types.aminmax(\nmin=tensor(1.),\nmax=tensor(5.))"
    # built by hand as a NamedTuple; pickles by its name in backprop.return_types
    made = R.topk(bp.tensor([1.0]), bp.tensor([0]))
    assert pickle.loads(pickle.dumps(made)).values.tolist() == [1.0]
    assert b"backprop.return_types" in pickle.dumps(made) and b"topk" in pickle.dumps(made)
    assert repr(R.max(1, 2)) == "backprop.return_types.max(\nvalues=1,\nindices=2)"


def test_out_returns_the_out_twin() -> None:
    x = bp.tensor([[1.0, 5.0], [3.0, 2.0]])
    v, i = bp.empty(2), bp.empty(2, dtype=bp.int64)
    r = bp.max(x, 1, out=(v, i))
    assert type(r) is R.max_out and r.values is v and r.indices is i
    assert repr(r).startswith("backprop.return_types.max_out(\nvalues=")
    assert not isinstance(r, R.max) and not isinstance(x.max(1), R.max_out)
    r = bp.sort(x, out=(bp.empty(2, 2), bp.empty(2, 2, dtype=bp.int64)))
    assert type(r) is R.sort_out
    r = bp.linalg.eigh(bp.tensor(A), out=(bp.empty(3), bp.empty(3, 3)))
    assert type(r) is R.linalg_eigh_out


def test_all_return_types() -> None:
    names = [t.__name__ for t in R.all_return_types]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert all(getattr(R, n) is t for n, t in zip(names, R.all_return_types))
    assert set(R.__all__) == {"all_return_types", *names}
    for t in R.all_return_types:
        assert t.__module__ == "backprop.return_types"
        if not t.__name__.endswith("_out") and t.__name__ != "histogramdd":
            twin = getattr(R, t.__name__ + "_out")
            assert twin is not t and twin._fields == t._fields and not issubclass(twin, t)


def test_old_layout_names_still_accept() -> None:
    """The field-layout NamedTuples (bp.linalg.QR, SVD, ...) stay the bases of the op types."""
    assert isinstance(bp.linalg.qr(bp.tensor(A)), bp.linalg.QR) and isinstance(bp.qr(bp.tensor(A)), bp.linalg.QR)
    assert isinstance(bp.linalg.svd(bp.tensor(A)), bp.linalg.SVD) and bp.linalg.SVD._fields == ("U", "S", "Vh")
    assert isinstance(bp.linalg.slogdet(bp.tensor(A)), bp.linalg.SignLogAbsDet)


# ---------------------------------------------------------------- against torch
torch = pytest.importorskip("torch")


def _torch_repr(r: Any) -> str:
    """torch's repr with backprop's names: the type's module, and dtypes as backprop's tensors print them."""
    return repr(r).replace("torch.return_types.", "backprop.return_types.").replace("dtype=torch.", "dtype=")


# values whose last digits are LAPACK's own (an exact 0 or 1 may come out as 1e-17): compared by layout only
_LAPACK_DIGITS = {"linalg_eig", "geqrf", "linalg_ldl_factor", "linalg_ldl_factor_ex", "linalg_lstsq", "linalg_inv_ex"}
_LAPACK_DIGITS |= {"linalg_solve_ex"}


@pytest.mark.filterwarnings("ignore:torch.(qr|triangular_solve) is deprecated")
@pytest.mark.parametrize(("name", "call"), CALLS, ids=_ids(CALLS))
def test_matches_torch(name: str, call: Callable[[Any], Any]) -> None:
    t, b = call(torch), call(bp)
    assert type(t).__name__ == type(b).__name__ == name
    assert type(t).__match_args__ == type(b)._fields
    if name not in _LAPACK_DIGITS:
        assert repr(b) == _torch_repr(t)
    else:
        assert repr(b).split("=")[0] == _torch_repr(t).split("=")[0]
        assert repr(b).count("\n") >= len(type(b)._fields)


@pytest.mark.filterwarnings("ignore:torch.(qr|triangular_solve) is deprecated")
def test_names_and_fields_match_torch() -> None:
    torch_types = {t.__name__: t for t in torch.return_types.all_return_types}
    assert set(torch_types) == {t.__name__ for t in R.all_return_types}
    for n, t in torch_types.items():
        assert t.__match_args__ == getattr(R, n)._fields, n
    # isinstance relations as torch's: every result against every type
    for _, call in CALLS:
        t, b = call(torch), call(bp)
        for n in torch_types:
            assert isinstance(t, torch_types[n]) == isinstance(b, getattr(R, n)), (type(b).__name__, n)


def test_out_repr_matches_torch() -> None:
    x = [[1.0, 5.0], [3.0, 2.0]]
    t = torch.max(torch.tensor(x), 1, out=(torch.empty(2), torch.empty(2, dtype=torch.int64)))
    b = bp.max(bp.tensor(x), 1, out=(bp.empty(2), bp.empty(2, dtype=bp.int64)))
    assert repr(b) == _torch_repr(t)
