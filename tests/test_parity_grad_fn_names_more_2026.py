"""``grad_fn.name()`` as torch 2.13 prints it, the rest of the sweep of tests/test_parity_grad_fn_names_2026.py:
decompositions (qr, svd, eigh, eig, lstsq, lu, matrix_exp, householder_product), index and scatter ops,
``round(decimals=)``, rsub, nansum/nanmedian, deg2rad/rad2deg, frexp/ldexp, mvlgamma, block_diag,
unsafe_split, prelu/rrelu, channel_shuffle, max_unpool, fractional_max_pool, the trapezoid family, setitem
with a tensor index or a whole-tensor write; checked against torch on the same inputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: these tests compare grad_fn names with torch")


def _r(lib: Any, *shape: int, seed: int = 0) -> Any:
    data = np.random.RandomState(seed + sum(shape)).randn(*shape).astype(np.float32)
    return lib.tensor(data, requires_grad=True)


def _spd(lib: Any, n: int) -> Any:
    a = np.random.RandomState(n).randn(n, n).astype(np.float32)
    return lib.tensor(a @ a.T + n * np.eye(n, dtype=np.float32), requires_grad=True)


def _c(lib: Any, data: Any) -> Any:
    return lib.tensor(data)


def _setitem(lib: Any, index: Callable[[Any], Any], value: Any) -> Any:
    y = _r(lib, 3, 4) * 1
    y[index(lib)] = value
    return y


def _pick(i: int) -> Callable[[Any], Any]:
    return lambda out: out[i]


CASES: dict[str, Callable[[Any], Any]] = {
    # decompositions: every output is the one node torch names after the linalg kernel
    "linalg.qr Q": lambda L: L.linalg.qr(_r(L, 4, 3))[0],
    "linalg.qr R": lambda L: L.linalg.qr(_r(L, 4, 3))[1],
    "qr": lambda L: L.qr(_r(L, 4, 3))[0],
    "linalg.svd U": lambda L: L.linalg.svd(_r(L, 4, 3), full_matrices=False)[0],
    "linalg.svd S": lambda L: L.linalg.svd(_r(L, 4, 3), full_matrices=False)[1],
    "linalg.svd Vh": lambda L: L.linalg.svd(_r(L, 4, 3), full_matrices=False)[2],
    "svd": lambda L: L.svd(_r(L, 4, 3))[0],
    "svd V": lambda L: L.svd(_r(L, 4, 3))[2],
    "linalg.svdvals": lambda L: L.linalg.svdvals(_r(L, 4, 3)),
    "linalg.eigh values": lambda L: L.linalg.eigh(_spd(L, 3))[0],
    "linalg.eigh vectors": lambda L: L.linalg.eigh(_spd(L, 3))[1],
    "linalg.eigvalsh": lambda L: L.linalg.eigvalsh(_spd(L, 3)),
    "linalg.eig values": lambda L: L.linalg.eig(_spd(L, 3))[0],
    "linalg.eig vectors": lambda L: L.linalg.eig(_spd(L, 3))[1],
    "linalg.eigvals": lambda L: L.linalg.eigvals(_spd(L, 3)),
    "linalg.lstsq": lambda L: L.linalg.lstsq(_r(L, 4, 3), _r(L, 4, 2)).solution,
    "linalg.lu P": lambda L: L.linalg.lu(_r(L, 3, 3))[1],
    "linalg.lu U": lambda L: L.linalg.lu(_r(L, 3, 3))[2],
    "linalg.lu_factor": lambda L: L.linalg.lu_factor(_r(L, 3, 3))[0],
    "linalg.lu_factor_ex": lambda L: L.linalg.lu_factor_ex(_r(L, 3, 3))[0],
    "lu": lambda L: L.linalg.lu_factor(_r(L, 3, 3))[0],
    "linalg.matrix_exp": lambda L: L.linalg.matrix_exp(_r(L, 3, 3)),
    "matrix_exp": lambda L: L.matrix_exp(_r(L, 3, 3)),
    "linalg.householder_product": lambda L: L.linalg.householder_product(_r(L, 4, 3), _r(L, 2)),
    "linalg.solve": lambda L: L.linalg.solve(_spd(L, 3), _r(L, 3, 2)),
    "linalg.solve vector": lambda L: L.linalg.solve(_spd(L, 3), _r(L, 3)),
    "linalg.lu_solve": lambda L: L.linalg.lu_solve(*L.linalg.lu_factor(_spd(L, 3)), _r(L, 3, 2)),
    "linalg.matrix_power 3": lambda L: L.linalg.matrix_power(_r(L, 3, 3), 3),
    "linalg.matrix_power 1": lambda L: L.linalg.matrix_power(_r(L, 3, 3), 1),
    "linalg.matrix_power 0": lambda L: L.linalg.matrix_power(_r(L, 3, 3), 0),
    "linalg.matrix_power -1": lambda L: L.linalg.matrix_power(_r(L, 3, 3), -1),
    "linalg.cond -2 batched": lambda L: L.linalg.cond(_r(L, 2, 3, 3), -2),
    "linalg.cond fro": lambda L: L.linalg.cond(_r(L, 3, 3), "fro"),
    "chain_matmul": lambda L: L.chain_matmul(_r(L, 2, 3), _r(L, 3, 4), _r(L, 4, 2)),
    "linalg.multi_dot vectors": lambda L: L.linalg.multi_dot([_r(L, 3), _r(L, 3, 4), _r(L, 4)]),
    "vander": lambda L: L.vander(_r(L, 4)),
    "vander increasing": lambda L: L.vander(_r(L, 4), increasing=True),
    "linalg.multi_dot": lambda L: L.linalg.multi_dot([_r(L, 2, 3), _r(L, 3, 4), _r(L, 4, 2)]),
    "linalg.vecdot": lambda L: L.linalg.vecdot(_r(L, 3, 4), _r(L, 3, 4, seed=1)),
    "linalg.vander": lambda L: L.linalg.vander(_r(L, 4)),
    "linalg.cond": lambda L: L.linalg.cond(_r(L, 3, 3)),
    "cholesky_solve": lambda L: L.cholesky_solve(_r(L, 3, 2), L.linalg.cholesky(_spd(L, 3))),
    "cholesky_inverse": lambda L: L.cholesky_inverse(L.linalg.cholesky(_spd(L, 3))),
    # index and scatter ops
    "index_select": lambda L: L.index_select(_r(L, 3, 4), 0, _c(L, [0, 2])),
    "index_add": lambda L: L.index_add(_r(L, 3, 4), 0, _c(L, [0, 2]), _r(L, 2, 4)),
    "index_copy": lambda L: L.index_copy(_r(L, 3, 4), 0, _c(L, [0, 2]), _r(L, 2, 4)),
    "index_fill": lambda L: L.index_fill(_r(L, 3, 4), 0, _c(L, [0, 2]), 1.5),
    "index_reduce": lambda L: _r(L, 3, 4).index_reduce(0, _c(L, [0, 2]), _r(L, 2, 4), "prod"),
    "select_scatter": lambda L: L.select_scatter(_r(L, 3, 4), _r(L, 4), 0, 1),
    "slice_scatter": lambda L: L.slice_scatter(_r(L, 3, 4), _r(L, 1, 4), 0, 0, 1),
    "diagonal_scatter": lambda L: L.diagonal_scatter(_r(L, 3, 3), _r(L, 3)),
    "masked_scatter": lambda L: L.masked_scatter(_r(L, 3), _c(L, [True, False, True]), _r(L, 3, seed=1)),
    "put": lambda L: L.put(_r(L, 3, 4), _c(L, [0, 5]), _r(L, 2)),
    "setitem tensor index": lambda L: _setitem(L, lambda M: M.tensor([0, 2]), 1.0),
    "setitem bool mask": lambda L: _setitem(L, lambda M: M.tensor([True, False, True]), 1.0),
    "setitem full slice": lambda L: _setitem(L, lambda M: slice(None), 2.0),
    "setitem slice": lambda L: _setitem(L, lambda M: slice(1, 2), 2.0),
    "setitem int": lambda L: _setitem(L, lambda M: 0, 2.0),
    "setitem int then tensor": lambda L: _setitem(L, lambda M: (0, M.tensor([1, 2])), 2.0),
    "setitem full slice then tensor": lambda L: _setitem(L, lambda M: (slice(None), M.tensor([1, 2])), 2.0),
    "setitem slice then tensor": lambda L: _setitem(L, lambda M: (slice(1, 3), M.tensor([0, 1])), 2.0),
    "setitem ellipsis": lambda L: _setitem(L, lambda M: Ellipsis, 2.0),
    "setitem full slice 0-d tensor": lambda L: _setitem(L, lambda M: slice(None), L.tensor(2.0, requires_grad=True)),
    "setitem full slice row": lambda L: _setitem(L, lambda M: slice(None), _r(L, 4)),
    "fill": lambda L: L.fill(_r(L, 3), 2.0),
    "fill tensor": lambda L: L.fill(_r(L, 3), L.tensor(2.0, requires_grad=True)),
    "as_strided_scatter": lambda L: L.as_strided_scatter(_r(L, 3, 3), _r(L, 3), (3,), (4,)),
    "put_": lambda L: (_r(L, 3, 4) * 1).put_(_c(L, [0, 5]), _r(L, 2)),
    "masked_scatter_": lambda L: (_r(L, 3) * 1).masked_scatter_(_c(L, [True, False, True]), _r(L, 3, seed=1)),
    # elementwise and reductions
    "round decimals": lambda L: L.round(_r(L, 3, 4), decimals=2),
    "round decimals=0": lambda L: L.round(_r(L, 3, 4), decimals=0),
    "round": lambda L: L.round(_r(L, 3, 4)),
    "rsub tensor": lambda L: L.rsub(_r(L, 3, 4), _r(L, 3, 4, seed=1)),
    "rsub scalar": lambda L: L.rsub(_r(L, 3, 4), 2.0),
    "__rsub__": lambda L: _r(L, 3, 4).__rsub__(_r(L, 3, 4, seed=1)),
    "scalar - tensor": lambda L: 2.0 - _r(L, 3, 4),
    "scalar / tensor": lambda L: 2.0 / _r(L, 3, 4),
    "nansum": lambda L: L.nansum(_r(L, 3, 4)),
    "nansum dim": lambda L: L.nansum(_r(L, 3, 4), 1),
    "nanmedian": lambda L: L.nanmedian(_r(L, 3, 4)),
    "nanmedian dim": lambda L: L.nanmedian(_r(L, 3, 4), 1)[0],
    "deg2rad": lambda L: L.deg2rad(_r(L, 3, 4)),
    "rad2deg": lambda L: L.rad2deg(_r(L, 3, 4)),
    "frexp": lambda L: L.frexp(_r(L, 3, 4))[0],
    "ldexp": lambda L: L.ldexp(_r(L, 3, 4), _c(L, [1, 2, 3, 4])),
    "mvlgamma": lambda L: L.mvlgamma(_r(L, 3, 4).detach().abs().add(3).requires_grad_(), 2),
    "block_diag": lambda L: L.block_diag(_r(L, 2, 2), _r(L, 3, 3)),
    "unsafe_split": lambda L: L.unsafe_split(_r(L, 4, 3), 2)[0],
    "unsafe_chunk": lambda L: L.unsafe_chunk(_r(L, 4, 3), 2)[1],
    "unsafe_split_with_sizes": lambda L: L.unsafe_split_with_sizes(_r(L, 5, 3), [2, 3])[1],
    "deg2rad_": lambda L: (_r(L, 3) * 1).deg2rad_(),
    "rad2deg_": lambda L: (_r(L, 3) * 1).rad2deg_(),
    "ldexp_": lambda L: (_r(L, 3) * 1).ldexp_(_c(L, [1.0, 2.0, 3.0])),
    "ldexp float exponent": lambda L: L.ldexp(_r(L, 3), _c(L, [1.0, 2.0, 3.0])),
    "nanmedian all nan": lambda L: L.nanmedian(L.tensor([float("nan")] * 3, requires_grad=True)),
    "nanquantile": lambda L: L.nanquantile(_r(L, 3, 5), 0.3, dim=1, keepdim=True),
    "quantile tensor q": lambda L: L.quantile(_r(L, 3, 5), _c(L, [0.2, 0.5])),
    "trapezoid x": lambda L: L.trapezoid(_r(L, 3, 4), _r(L, 4, seed=1)),
    "trapezoid dx": lambda L: L.trapezoid(_r(L, 3, 4), dx=2.0),
    "cumulative_trapezoid x": lambda L: L.cumulative_trapezoid(_r(L, 3, 4), _r(L, 4, seed=1)),
    "quantile": lambda L: L.quantile(_r(L, 5), 0.3),
    "quantile dim": lambda L: L.quantile(_r(L, 3, 5), 0.3, dim=1),
    "trapezoid": lambda L: L.trapezoid(_r(L, 3, 4)),
    "trapz": lambda L: L.trapz(_r(L, 3, 4)),
    "cumulative_trapezoid": lambda L: L.cumulative_trapezoid(_r(L, 3, 4)),
    # nn.functional
    "prelu": lambda L: L.nn.functional.prelu(_r(L, 2, 3, 4), _r(L, 3)),
    "rrelu eval": lambda L: L.nn.functional.rrelu(_r(L, 3, 4)),
    "rrelu training": lambda L: L.nn.functional.rrelu(_r(L, 3, 4), training=True),
    "channel_shuffle": lambda L: L.nn.functional.channel_shuffle(_r(L, 1, 4, 2, 2), 2),
    "max_unpool2d": lambda L: L.nn.functional.max_unpool2d(
        *L.nn.functional.max_pool2d(_r(L, 1, 1, 4, 4), 2, return_indices=True), 2
    ),
    "max_unpool1d": lambda L: L.nn.functional.max_unpool1d(
        *L.nn.functional.max_pool1d(_r(L, 1, 1, 4), 2, return_indices=True), 2
    ),
    "fractional_max_pool2d": lambda L: L.nn.functional.fractional_max_pool2d(_r(L, 1, 1, 6, 6), 2, output_size=3),
    "max_unpool3d unbatched": lambda L: L.nn.functional.max_unpool3d(
        *L.nn.functional.max_pool3d(_r(L, 1, 4, 4, 4), 2, return_indices=True), 2
    ),
    "fractional_max_pool3d": lambda L: L.nn.functional.fractional_max_pool3d(_r(L, 1, 6, 6, 6), 2, output_size=3),
    "rrelu inplace": lambda L: L.nn.functional.rrelu(_r(L, 3) * 1, inplace=True),
    "nn.RReLU": lambda L: L.nn.RReLU()(_r(L, 3)),
    "nn.PReLU": lambda L: L.nn.PReLU()(_r(L, 2, 3)),
    "Tensor.prelu": lambda L: _r(L, 2, 3).prelu(_r(L, 3)),
    "channel_shuffle unbatched": lambda L: L.nn.functional.channel_shuffle(_r(L, 4, 2, 2), 2),
}


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", sorted(CASES))
def test_names_match_torch(case: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's deprecation warnings are not what is checked)
        theirs = _first(CASES[case](torch)).grad_fn.name()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _first(CASES[case](bp)).grad_fn.name()
    assert ours == theirs


def test_values_unchanged_by_naming() -> None:
    # closed forms: round(1.25, decimals=1) is 1.2 (halves to even), rsub(x, y) = y - x, matrix_power(A, 1) is a
    # new tensor equal to A (writing into it leaves A alone), deg2rad(180) = pi
    x = bp.tensor([1.25, 2.0], requires_grad=True)
    assert bp.round(x, decimals=1).tolist() == pytest.approx([1.2, 2.0])
    assert bp.rsub(x, bp.tensor([3.0, 3.0])).tolist() == [1.75, 1.0]
    a = bp.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    p = bp.linalg.matrix_power(a, 1)
    assert p is not a and p.tolist() == a.tolist()
    p.sum().backward()
    assert a.grad is not None and a.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert bp.deg2rad(bp.tensor([180.0])).item() == pytest.approx(np.pi)
    y = bp.zeros(3, requires_grad=True) * 1
    y[bp.tensor([0, 2])] = 5.0
    y.sum().backward()
    assert y.tolist() == [5.0, 0.0, 5.0]
