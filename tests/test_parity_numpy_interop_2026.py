"""NumPy interoperability as torch users rely on it, against torch 2.13: ``from_numpy``'s checks and errors,
NumPy functions that wrap their result for a tensor (``np.round(t)`` is a tensor), the warnings of
``torch.tensor(tensor)``, of a read-only array shared, of a list of arrays and of ``float()`` of a tensor that
requires grad. Each case is a line of torch code run with ``torch`` bound to torch and to backprop; the value,
dtype, shape and repr, or the exception's class and message, and the warnings' texts must be the same
(``_case``). Closed forms check the same behaviour without torch."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp


def _picture(x: Any) -> Any:
    """A library-neutral picture of a result: a tensor as (type, shape, dtype name, values)."""
    if hasattr(x, "grad_fn") and hasattr(x, "shape"):
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), x.detach().numpy().tolist())
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.name, x.tolist())
    return (type(x).__name__, repr(x))


def _run(code: str, lib: Any) -> Any:
    """``code``'s last line's value (or exception: its class's names and message) with ``torch`` as ``lib``, and the
    texts of the warnings it gave (torch's "(Triggered internally at ...)" suffix cut)."""
    *setup, last = code.split("\n")
    ns: dict[str, Any] = {"torch": lib, "np": np}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec("\n".join(setup), ns)
        try:
            out: Any = ("ok", _picture(eval(last, ns)))
        except Exception as e:  # noqa: BLE001 - the exception's class and message are what is compared
            out = ("raises", [c.__name__ for c in type(e).__mro__], str(e))
    texts = [str(w.message).split(" (Triggered internally at")[0] for w in caught]
    return out, [t for t in texts if "__array" not in t]  # (NumPy 2's deprecations of torch's __array__/_wrap_)


def _case(code: str) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    (ours, our_warnings), (theirs, their_warnings) = _run(code, bp), _run(code, torch)
    if ours[0] == theirs[0] == "raises":  # our class may be a subclass of torch's
        assert theirs[1][0] in ours[1], (code, ours, theirs)
        assert ours[2] == theirs[2], code
    else:
        assert ours == theirs, code
    assert our_warnings == their_warnings, code


# ---------------------------------------------------------------- from_numpy and the factories' checks


FROM_NUMPY = [
    "torch.from_numpy([1, 2])",
    "torch.from_numpy(np.float64(1))",
    "torch.from_numpy(np.arange(3, dtype='>f4'))",
    "torch.tensor(np.arange(3, dtype='>f4'))",
    "torch.tensor(np.arange(3, dtype='>f4'), dtype=torch.float32)",
    "torch.as_tensor(np.arange(3, dtype='>i8'))",
    "torch.from_numpy(np.ones(2, np.longdouble))",
    "torch.tensor(np.ones(2, np.clongdouble))",
    "torch.from_numpy(np.zeros(3, dtype=[('a', 'i1'), ('b', 'f4')])['b'])",
]


@pytest.mark.parametrize("code", FROM_NUMPY)
def test_from_numpy_checks(code: str) -> None:
    _case(code)


def test_from_numpy_of_a_matrix_shares_its_memory() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # (NumPy's, on making a matrix)
        m = np.matrix([[1.0, 2.0]])
    t = bp.from_numpy(m)
    assert type(t) is bp.Tensor and t.shape == (1, 2) and t.dtype == bp.float64
    t[0, 1] = 5.0
    assert m[0, 1] == 5.0
    assert (t * t).tolist() == [[1.0, 25.0]] and repr(t) == "tensor([[1., 5.]], dtype=float64)"  # (not matmul)


def test_from_numpy_checks_closed_form() -> None:
    with pytest.raises(TypeError, match=r"^expected np.ndarray \(got list\)$"):
        bp.from_numpy([1, 2])
    with pytest.raises(ValueError, match="^given numpy array has byte order different from the native byte order"):
        bp.as_tensor(np.arange(3, dtype=">f4"))
    with pytest.raises(TypeError, match="^can't convert np.ndarray of type numpy.longdouble"):
        bp.from_numpy(np.ones(2, np.longdouble))
    assert bp.tensor(np.arange(3, dtype=">f4").astype("=f4")).tolist() == [0.0, 1.0, 2.0]  # (the fix torch asks)


# ---------------------------------------------------------------- NumPy functions wrapping their result


WRAPPED = [
    "np.round(torch.tensor([1.4, -2.6, 3.5]))",
    "np.clip(torch.tensor([1.0, -2.0, 3.0]), 0, 1)",
    "np.cumsum(torch.tensor([1.0, -2.0, 3.0]))",
    "np.transpose(torch.ones(2, 3))",
    "np.reshape(torch.arange(6.0), (3, 2))",
    "np.argmax(torch.tensor([1.0, -2.0, 3.0]))",
    "np.argmin(torch.tensor([[1.0, -2.0], [3.0, 0.5]]), axis=1)",
    "np.around(torch.tensor([1.26, 2.5]), 1)",
    "x = torch.tensor([1.0, 2.0])\nnp.sin(x, out=x)",
]


@pytest.mark.parametrize("code", WRAPPED)
def test_numpy_functions_of_tensors(code: str) -> None:
    _case(code)


def test_numpy_functions_of_tensors_closed_form() -> None:
    r = np.round(bp.tensor([1.4, -2.6]))
    assert type(r) is bp.Tensor and r.dtype == bp.float32 and r.tolist() == [1.0, -3.0]
    i = np.argmax(bp.tensor([1.0, 5.0, 3.0]))
    assert type(i) is bp.Tensor and i.shape == () and i.dtype == bp.int64 and i.item() == 1
    x = bp.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="^return arrays must be of ArrayType$"):
        np.sin(x, out=x)


# ---------------------------------------------------------------- warnings


WARNINGS = [
    "torch.tensor(torch.ones(2))",
    "torch.tensor(torch.ones(2, requires_grad=True))",
]


@pytest.mark.parametrize("code", WARNINGS)
def test_warnings_as_torch(code: str) -> None:
    _case(code)


_ONCE = """
import warnings, numpy as np, {lib} as torch
ro = np.arange(3.0)
ro.setflags(write=False)
for f in (lambda: torch.from_numpy(ro), lambda: torch.as_tensor(ro), lambda: torch.asarray(ro),
          lambda: torch.tensor([np.ones(2), np.zeros(2)]), lambda: torch.tensor([[1.0, 2.0], np.ones(2)]),
          lambda: float(torch.ones(1, requires_grad=True) * 2), lambda: complex(torch.ones(1, requires_grad=True))):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f()
    print(repr([str(x.message).split(" (Triggered internally at")[0] for x in w]))
"""


def test_once_per_process_warnings_as_torch() -> None:
    """torch warns once per process (TORCH_WARN_ONCE) for a read-only array it shares, a list holding NumPy arrays
    and ``float()``/``complex()`` of a tensor that requires grad: a fresh process for each library."""
    pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    ours, theirs = (
        subprocess.run([sys.executable, "-c", _ONCE.format(lib=lib)], capture_output=True, text=True, check=True)
        for lib in ("backprop", "torch")
    )
    assert ours.stdout == theirs.stdout
    assert ours.stdout.count("[]") == 4  # (each warning once: as_tensor, the second list and complex are silent)


def test_once_per_process_warnings_closed_form() -> None:
    from backprop.devices import _ndarrays_warned, _not_writable_warned, _scalar_warned

    for warned in (_not_writable_warned, _ndarrays_warned, _scalar_warned):
        warned.clear()
    ro = np.arange(3.0)
    ro.setflags(write=False)
    with pytest.warns(UserWarning, match="^The given NumPy array is not writable, and PyTorch does not support"):
        t = bp.from_numpy(ro)
    assert t.tolist() == [0.0, 1.0, 2.0]
    with pytest.warns(UserWarning, match="^Creating a tensor from a list of numpy.ndarrays is extremely slow"):
        assert bp.tensor([np.ones(2), np.zeros(2)]).dtype == bp.float64
    with pytest.warns(UserWarning, match="^Converting a tensor with requires_grad=True to a scalar"):
        assert float(bp.ones(1, requires_grad=True)) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (once only)
        bp.as_tensor(ro)
        bp.tensor([np.ones(2)])
        float(bp.ones(1, requires_grad=True))
        bp.tensor([np.float32(1), np.float32(2)])  # (NumPy scalars: no warning, as torch)
        bp.tensor(ro)  # (a copy: no warning, as torch)
