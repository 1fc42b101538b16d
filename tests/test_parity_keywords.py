"""Keyword-argument parity of the functions (not the Tensor methods) of ``bp``, ``bp.nn.functional``,
``bp.linalg``, ``bp.special`` and ``bp.fft`` with torch's: users call ``torch.sum(input=x, dim=0)``,
``torch.cat(tensors=xs, dim=1)``, ``F.softmax(input=x, dim=-1)``, ``torch.linalg.solve(A=a, B=b)``.

Two tests: a curated table of calls made with keywords, run under torch and under backprop with the same
arguments (values, shapes and dtypes compared), and a signature-level check: for every public function torch
and backprop both have, each of torch's parameter names (``inspect.signature``, else the ATen schema with
``self`` read as ``input``, else the docstring's first lines) must be a keyword our function takes. The
exceptions are listed with their reasons in ``ALLOWED``; a new mismatch (or a fixed one still listed) fails.
The module skips without torch.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

BF = bp.nn.functional

# ---------------------------------------------------------------------------------------------- the inputs
_R = np.random.default_rng(0)
_X = _R.uniform(0.2, 0.9, (3, 4))
_Y = _R.uniform(0.2, 0.9, (3, 4))
_V = _R.uniform(0.2, 0.9, 4)
_M = _R.normal(size=(3, 3))
_SPD = _M @ _M.T + 3 * np.eye(3)
_IMG = _R.normal(size=(2, 3, 6, 6))
_SEQ = _R.normal(size=(2, 3, 8))


class _In:
    """The same arrays as tensors of one library (``lib`` is torch or bp)."""

    def __init__(self, lib: Any) -> None:
        t = lib.tensor
        self.lib = lib
        self.x, self.y, self.v = t(_X), t(_Y), t(_V)
        self.xf = t(_X, dtype=lib.float32)
        self.m, self.spd = t(_M), t(_SPD)
        self.L = lib.linalg.cholesky(self.spd)
        self.img, self.seq = t(_IMG), t(_SEQ)
        self.i = t([[0, 1, 2, 0], [2, 1, 0, 1], [1, 1, 1, 2]])  # int64 indices into dim 0 of x
        self.c = t(_X > 0.5)
        self.labels = t([0, 3, 1])
        self.sorted = t([0.1, 0.3, 0.5, 0.7, 0.9], dtype=lib.float64)
        self.lu, self.piv = lib.linalg.lu_factor(self.spd)


_UNARY = """abs absolute acos arccos acosh arccosh asin arcsin asinh arcsinh atan arctan atanh arctanh ceil cos cosh
deg2rad digamma erf erfc erfinv exp exp2 expm1 fix floor frac i0 isfinite isinf isnan isneginf isposinf isreal lgamma
log log10 log1p log2 logical_not neg negative positive rad2deg reciprocal relu rsqrt sgn sigmoid sign signbit sin sinc
sinh sqrt square tan tanh trunc angle conj conj_physical resolve_conj resolve_neg clone t adjoint ravel flatten
fliplr flipud msort argwhere count_nonzero numel is_floating_point is_complex is_signed nansum nanmean
trace diag diagflat pinverse isnan nan_to_num frexp""".split()
_BINARY = """add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow atan2 arctan2 hypot
logaddexp logaddexp2 maximum minimum fmax fmin copysign nextafter xlogy eq ne lt le gt ge less less_equal greater
greater_equal not_equal isclose allclose equal dist kron outer ger inner heaviside float_power""".split()
_SPECIAL_UNARY = """airy_ai bessel_j0 bessel_j1 digamma entr erf erfc erfcx erfinv exp2 expit expm1 gammaln i0 i0e i1
i1e log1p log_ndtr logit ndtr ndtri psi sinc spherical_bessel_j0 scaled_modified_bessel_k0 round""".split()

# (id, function path, kwargs from an _In): the call is f(**kwargs) under torch and under bp
CASES: list[tuple[str, str, Any]] = []
CASES += [(f"{n}(input)", n, lambda a: {"input": a.x}) for n in _UNARY]
CASES += [(f"{n}(input, other)", n, lambda a: {"input": a.x, "other": a.y}) for n in _BINARY if n not in (
    "pow", "fmod", "remainder", "true_divide", "floor_divide", "heaviside", "float_power", "nextafter", "xlogy",
    "dist", "kron", "outer", "ger", "inner", "equal", "allclose", "isclose")]  # fmt: skip
CASES += [(f"special.{n}", f"special.{n}", lambda a: {"input": a.x}) for n in _SPECIAL_UNARY
          if n not in ("airy_ai", "spherical_bessel_j0", "scaled_modified_bessel_k0")]  # fmt: skip
CASES += [
    # arithmetic with torch's other names
    ("pow(exponent=)", "pow", lambda a: {"input": a.x, "exponent": 2.0}),
    ("pow(tensor exponent)", "pow", lambda a: {"input": a.x, "exponent": a.y}),
    ("float_power", "float_power", lambda a: {"input": a.x, "exponent": a.y}),
    ("fmod(other=)", "fmod", lambda a: {"input": a.x, "other": 0.3}),
    ("remainder(other=)", "remainder", lambda a: {"input": a.x, "other": 0.3}),
    ("true_divide", "true_divide", lambda a: {"input": a.x, "other": a.y}),
    ("floor_divide", "floor_divide", lambda a: {"input": a.x, "other": a.y}),
    ("div(rounding_mode)", "div", lambda a: {"input": a.x, "other": a.y, "rounding_mode": "floor"}),
    ("divide(rounding_mode)", "divide", lambda a: {"input": a.x, "other": a.y, "rounding_mode": "trunc"}),
    ("add(alpha)", "add", lambda a: {"input": a.x, "other": a.y, "alpha": 2}),
    ("sub(alpha)", "sub", lambda a: {"input": a.x, "other": a.y, "alpha": 0.5}),
    ("subtract(alpha)", "subtract", lambda a: {"input": a.x, "other": a.y, "alpha": 3}),
    ("mul(scalar other)", "mul", lambda a: {"input": a.x, "other": 3}),
    ("heaviside(values)", "heaviside", lambda a: {"input": a.x - 0.5, "values": a.y}),
    ("xlogy", "xlogy", lambda a: {"input": a.x, "other": a.y}),
    ("nextafter", "nextafter", lambda a: {"input": a.x, "other": a.y}),
    ("ldexp", "ldexp", lambda a: {"input": a.x, "other": a.i}),
    ("lerp(weight)", "lerp", lambda a: {"input": a.x, "end": a.y, "weight": 0.3}),
    ("addcmul(value)", "addcmul", lambda a: {"input": a.x, "tensor1": a.y, "tensor2": a.x, "value": 0.5}),
    ("addcdiv(value)", "addcdiv", lambda a: {"input": a.x, "tensor1": a.y, "tensor2": a.x, "value": 2}),
    ("clamp(min)", "clamp", lambda a: {"input": a.x, "min": 0.4}),
    ("clamp(min, max)", "clamp", lambda a: {"input": a.x, "min": 0.4, "max": 0.6}),
    ("clamp(max tensor)", "clamp", lambda a: {"input": a.x, "max": a.y}),
    ("clip(max)", "clip", lambda a: {"input": a.x, "max": 0.5}),
    ("clamp_min", "clamp_min", lambda a: {"input": a.x, "min": 0.5}),
    ("clamp_max", "clamp_max", lambda a: {"input": a.x, "max": 0.5}),
    ("round(decimals)", "round", lambda a: {"input": a.x, "decimals": 1}),
    ("logit(eps)", "logit", lambda a: {"input": a.x, "eps": 1e-3}),
    ("nan_to_num(nan, posinf)", "nan_to_num", lambda a: {"input": a.x / 0 - a.x / 0, "nan": 1.0, "posinf": 2.0}),
    ("polygamma(n, input)", "polygamma", lambda a: {"n": 1, "input": a.x}),
    ("mvlgamma(p)", "mvlgamma", lambda a: {"input": a.x + 2, "p": 2}),
    ("isclose(rtol, atol)", "isclose", lambda a: {"input": a.x, "other": a.y, "rtol": 0.5, "atol": 0.1}),
    ("allclose(equal_nan)", "allclose", lambda a: {"input": a.x, "other": a.x, "equal_nan": True}),
    ("equal", "equal", lambda a: {"input": a.x, "other": a.x}),
    ("where(condition, input, other)", "where", lambda a: {"condition": a.c, "input": a.x, "other": a.y}),
    ("where(scalar other)", "where", lambda a: {"condition": a.c, "input": a.x, "other": 0.0}),
    ("bitwise_and", "bitwise_and", lambda a: {"input": a.i, "other": a.i + 1}),
    ("bitwise_not", "bitwise_not", lambda a: {"input": a.i}),
    ("gcd", "gcd", lambda a: {"input": a.i + 4, "other": a.i + 2}),
    ("logical_and", "logical_and", lambda a: {"input": a.c, "other": a.x > 0.3}),
    # reductions
    ("sum(input)", "sum", lambda a: {"input": a.x}),
    ("sum(dim, keepdim, dtype)", "sum", lambda a: {"input": a.x, "dim": 0, "keepdim": True, "dtype": a.lib.float32}),
    ("sum(dim tuple)", "sum", lambda a: {"input": a.x, "dim": (0, 1)}),
    ("mean(dim, keepdim)", "mean", lambda a: {"input": a.x, "dim": 1, "keepdim": True}),
    ("mean(dtype)", "mean", lambda a: {"input": a.x, "dtype": a.lib.float32}),
    ("prod(dim, dtype)", "prod", lambda a: {"input": a.x, "dim": 1, "dtype": a.lib.float64}),
    ("nansum(dim)", "nansum", lambda a: {"input": a.x, "dim": 0}),
    ("nanmean(dim, keepdim)", "nanmean", lambda a: {"input": a.x, "dim": 0, "keepdim": True}),
    ("max(input)", "max", lambda a: {"input": a.x}),
    ("max(dim, keepdim)", "max", lambda a: {"input": a.x, "dim": 1, "keepdim": True}),
    ("min(dim)", "min", lambda a: {"input": a.x, "dim": 0}),
    ("amax(dim, keepdim)", "amax", lambda a: {"input": a.x, "dim": 1, "keepdim": True}),
    ("amin(dim)", "amin", lambda a: {"input": a.x, "dim": (0, 1)}),
    ("aminmax(dim)", "aminmax", lambda a: {"input": a.x, "dim": 1, "keepdim": False}),
    ("argmax(dim, keepdim)", "argmax", lambda a: {"input": a.x, "dim": 1, "keepdim": True}),
    ("argmin(dim)", "argmin", lambda a: {"input": a.x, "dim": 0}),
    ("var(dim, correction)", "var", lambda a: {"input": a.x, "dim": 1, "correction": 0}),
    ("var(unbiased)", "var", lambda a: {"input": a.x, "unbiased": False}),
    ("std(dim, keepdim)", "std", lambda a: {"input": a.x, "dim": 0, "keepdim": True}),
    ("var_mean(dim, correction)", "var_mean", lambda a: {"input": a.x, "dim": 1, "correction": 0}),
    ("std_mean(dim, keepdim)", "std_mean", lambda a: {"input": a.x, "dim": 0, "keepdim": True}),
    ("logsumexp(dim, keepdim)", "logsumexp", lambda a: {"input": a.x, "dim": 1, "keepdim": True}),
    ("norm(p, dim)", "norm", lambda a: {"input": a.x, "p": 1, "dim": 1}),
    ("norm(p fro)", "norm", lambda a: {"input": a.x, "p": "fro"}),
    ("median(dim)", "median", lambda a: {"input": a.x, "dim": 1, "keepdim": True}),
    ("nanmedian(dim)", "nanmedian", lambda a: {"input": a.x, "dim": 1}),
    ("mode(dim)", "mode", lambda a: {"input": a.i, "dim": 1}),
    ("all(dim)", "all", lambda a: {"input": a.c, "dim": 1}),
    ("any(dim, keepdim)", "any", lambda a: {"input": a.c, "dim": 0, "keepdim": True}),
    ("count_nonzero(dim)", "count_nonzero", lambda a: {"input": a.c, "dim": 1}),
    ("cumsum(dim, dtype)", "cumsum", lambda a: {"input": a.x, "dim": 1, "dtype": a.lib.float32}),
    ("cumprod(dim)", "cumprod", lambda a: {"input": a.x, "dim": 0}),
    ("cummax(dim)", "cummax", lambda a: {"input": a.x, "dim": 1}),
    ("cummin(dim)", "cummin", lambda a: {"input": a.x, "dim": 0}),
    ("logcumsumexp(dim)", "logcumsumexp", lambda a: {"input": a.x, "dim": 1}),
    (
        "quantile(q, dim, interpolation)",
        "quantile",
        lambda a: {"input": a.x, "q": 0.3, "dim": 1, "keepdim": True, "interpolation": "lower"},
    ),
    ("nanquantile(q)", "nanquantile", lambda a: {"input": a.x, "q": 0.5}),
    ("kthvalue(k, dim)", "kthvalue", lambda a: {"input": a.x, "k": 2, "dim": 1, "keepdim": False}),
    (
        "topk(k, dim, largest, sorted)",
        "topk",
        lambda a: {"input": a.x, "k": 2, "dim": 1, "largest": False, "sorted": True},
    ),
    ("sort(dim, descending)", "sort", lambda a: {"input": a.x, "dim": 1, "descending": True}),
    ("sort(stable)", "sort", lambda a: {"input": a.x, "stable": True, "dim": 0}),
    ("argsort(dim, descending)", "argsort", lambda a: {"input": a.x, "dim": 0, "descending": True}),
    ("diff(n, dim)", "diff", lambda a: {"input": a.x, "n": 1, "dim": 1}),
    ("histc(bins, min, max)", "histc", lambda a: {"input": a.x, "bins": 4, "min": 0.0, "max": 1.0}),
    ("bincount(weights, minlength)", "bincount", lambda a: {"input": a.labels, "minlength": 5}),
    ("unique(sorted, return_counts)", "unique", lambda a: {"input": a.i, "sorted": True, "return_counts": True}),
    ("unique_consecutive(return_inverse)", "unique_consecutive", lambda a: {"input": a.labels, "return_inverse": True}),
    # shapes
    ("cat(tensors, dim)", "cat", lambda a: {"tensors": [a.x, a.y], "dim": 1}),
    ("concat(tensors, dim)", "concat", lambda a: {"tensors": [a.x, a.y], "dim": 0}),
    ("concatenate(axis)", "concatenate", lambda a: {"tensors": [a.x, a.y], "axis": 1}),
    ("stack(tensors, dim)", "stack", lambda a: {"tensors": [a.x, a.y], "dim": 2}),
    ("hstack(tensors)", "hstack", lambda a: {"tensors": [a.x, a.y]}),
    ("vstack(tensors)", "vstack", lambda a: {"tensors": [a.x, a.y]}),
    ("dstack(tensors)", "dstack", lambda a: {"tensors": [a.x, a.y]}),
    ("column_stack(tensors)", "column_stack", lambda a: {"tensors": [a.v, a.v]}),
    ("row_stack(tensors)", "row_stack", lambda a: {"tensors": [a.x, a.y]}),
    ("reshape(input, shape)", "reshape", lambda a: {"input": a.x, "shape": (4, 3)}),
    ("flatten(start_dim, end_dim)", "flatten", lambda a: {"input": a.img, "start_dim": 1, "end_dim": 2}),
    ("unflatten(dim, sizes)", "unflatten", lambda a: {"input": a.x, "dim": 1, "sizes": (2, 2)}),
    ("transpose(dim0, dim1)", "transpose", lambda a: {"input": a.x, "dim0": 0, "dim1": 1}),
    ("swapdims(dim0, dim1)", "swapdims", lambda a: {"input": a.x, "dim0": 0, "dim1": 1}),
    ("swapaxes(axis0, axis1)", "swapaxes", lambda a: {"input": a.x, "axis0": 0, "axis1": 1}),
    ("permute(dims)", "permute", lambda a: {"input": a.img, "dims": (0, 2, 3, 1)}),
    ("movedim(source, destination)", "movedim", lambda a: {"input": a.img, "source": 1, "destination": 3}),
    ("moveaxis(source, destination)", "moveaxis", lambda a: {"input": a.img, "source": (0, 1), "destination": (2, 3)}),
    ("squeeze(dim)", "squeeze", lambda a: {"input": a.x[None], "dim": 0}),
    ("unsqueeze(dim)", "unsqueeze", lambda a: {"input": a.x, "dim": 1}),
    (
        "split(tensor, split_size_or_sections)",
        "split",
        lambda a: {"tensor": a.x, "split_size_or_sections": [1, 3], "dim": 1},
    ),
    ("chunk(chunks, dim)", "chunk", lambda a: {"input": a.x, "chunks": 2, "dim": 1}),
    ("tensor_split(sections)", "tensor_split", lambda a: {"input": a.x, "sections": 2, "dim": 1}),
    ("tensor_split(indices)", "tensor_split", lambda a: {"input": a.x, "indices": [1, 2], "dim": 1}),
    ("hsplit(sections)", "hsplit", lambda a: {"input": a.x, "sections": 2}),
    ("vsplit(indices)", "vsplit", lambda a: {"input": a.x, "indices": [1]}),
    ("unbind(dim)", "unbind", lambda a: {"input": a.x, "dim": 1}),
    ("narrow(dim, start, length)", "narrow", lambda a: {"input": a.x, "dim": 1, "start": 1, "length": 2}),
    ("narrow_copy", "narrow_copy", lambda a: {"input": a.x, "dim": 0, "start": 1, "length": 2}),
    ("select(dim, index)", "select", lambda a: {"input": a.x, "dim": 1, "index": 2}),
    ("flip(dims)", "flip", lambda a: {"input": a.x, "dims": (0, 1)}),
    ("roll(shifts, dims)", "roll", lambda a: {"input": a.x, "shifts": 1, "dims": 1}),
    ("rot90(k, dims)", "rot90", lambda a: {"input": a.x, "k": 1, "dims": (0, 1)}),
    ("tril(diagonal)", "tril", lambda a: {"input": a.x, "diagonal": 1}),
    ("triu(diagonal)", "triu", lambda a: {"input": a.x, "diagonal": -1}),
    ("diagonal(offset, dim1, dim2)", "diagonal", lambda a: {"input": a.x, "offset": 1, "dim1": 0, "dim2": 1}),
    ("diag(diagonal)", "diag", lambda a: {"input": a.v, "diagonal": 1}),
    ("diag_embed(offset)", "diag_embed", lambda a: {"input": a.x, "offset": 0, "dim1": -2, "dim2": -1}),
    ("tile(dims)", "tile", lambda a: {"input": a.x, "dims": (2, 1)}),
    ("broadcast_to(size)", "broadcast_to", lambda a: {"input": a.v, "size": (3, 4)}),
    ("repeat_interleave(repeats, dim)", "repeat_interleave", lambda a: {"input": a.x, "repeats": 2, "dim": 0}),
    ("atleast_2d(v)", "atleast_2d", lambda a: {"input": a.v} if False else {}),  # noqa: SIM210 (positional only)
    ("meshgrid(indexing)", "meshgrid", lambda a: {"indexing": "xy"}),
    ("take(index)", "take", lambda a: {"input": a.x, "index": a.labels}),
    ("take_along_dim(indices, dim)", "take_along_dim", lambda a: {"input": a.x, "indices": a.i, "dim": 1}),
    ("gather(dim, index)", "gather", lambda a: {"input": a.x, "dim": 0, "index": a.i}),
    ("gather(sparse_grad)", "gather", lambda a: {"input": a.x, "dim": 0, "index": a.i, "sparse_grad": False}),
    ("scatter(dim, index, src)", "scatter", lambda a: {"input": a.x, "dim": 0, "index": a.i, "src": a.y}),
    ("scatter(value, reduce)", "scatter", lambda a: {"input": a.x, "dim": 0, "index": a.i, "value": 2.0}),
    ("scatter_add(src)", "scatter_add", lambda a: {"input": a.x, "dim": 0, "index": a.i, "src": a.y}),
    (
        "scatter_reduce(reduce, include_self)",
        "scatter_reduce",
        lambda a: {"input": a.x, "dim": 0, "index": a.i, "src": a.y, "reduce": "amax", "include_self": False},
    ),
    ("index_select(dim, index)", "index_select", lambda a: {"input": a.x, "dim": 1, "index": a.labels}),
    (
        "index_add(alpha)",
        "index_add",
        lambda a: {"input": a.x, "dim": 0, "index": a.labels[:2] % 3, "source": a.y[:2], "alpha": 2},
    ),
    ("index_copy(source)", "index_copy", lambda a: {"input": a.x, "dim": 0, "index": a.labels[:1], "source": a.y[:1]}),
    ("index_fill(value)", "index_fill", lambda a: {"input": a.x, "dim": 1, "index": a.labels, "value": -1.0}),
    ("masked_fill(mask, value)", "masked_fill", lambda a: {"input": a.x, "mask": a.c, "value": 0.0}),
    ("masked_select(mask)", "masked_select", lambda a: {"input": a.x, "mask": a.c}),
    ("masked_scatter(mask, source)", "masked_scatter", lambda a: {"input": a.x, "mask": a.c, "source": a.y}),
    ("nonzero(as_tuple)", "nonzero", lambda a: {"input": a.c, "as_tuple": True}),
    (
        "searchsorted(sorted_sequence, input, right)",
        "searchsorted",
        lambda a: {"sorted_sequence": a.sorted, "input": a.x, "right": True},
    ),
    ("bucketize(boundaries, right)", "bucketize", lambda a: {"input": a.x, "boundaries": a.sorted, "right": False}),
    ("isin(elements, test_elements)", "isin", lambda a: {"elements": a.i, "test_elements": a.labels}),
    ("clone(memory_format)", "clone", lambda a: {"input": a.x}),
    # linear algebra
    ("matmul(input, other)", "matmul", lambda a: {"input": a.x.T, "other": a.y}),
    ("mm(input, mat2)", "mm", lambda a: {"input": a.x, "mat2": a.y.T}),
    ("bmm(input, mat2)", "bmm", lambda a: {"input": a.img[0], "mat2": a.img[1]}),
    ("mv(input, vec)", "mv", lambda a: {"input": a.x, "vec": a.v}),
    ("dot(input, tensor)", "dot", lambda a: {"input": a.v, "tensor": a.v}),
    ("vdot(input, other)", "vdot", lambda a: {"input": a.v, "other": a.v}),
    ("outer(input, vec2)", "outer", lambda a: {"input": a.v, "vec2": a.v}),
    ("ger(vec2)", "ger", lambda a: {"input": a.v, "vec2": a.v}),
    ("inner", "inner", lambda a: {"input": a.x, "other": a.y}),
    ("kron", "kron", lambda a: {"input": a.x, "other": a.y}),
    (
        "addmm(beta, alpha)",
        "addmm",
        lambda a: {"input": a.m, "mat1": a.x[:, :3], "mat2": a.y[:, :3].T, "beta": 0.5, "alpha": 2},
    ),
    ("addmv(beta, alpha)", "addmv", lambda a: {"input": a.v[:3], "mat": a.x, "vec": a.v, "beta": 2, "alpha": 0.5}),
    ("addr(vec1, vec2)", "addr", lambda a: {"input": a.x, "vec1": a.v[:3], "vec2": a.v, "alpha": 2}),
    (
        "baddbmm(batch1, batch2)",
        "baddbmm",
        lambda a: {"input": a.img[0], "batch1": a.img[1], "batch2": a.img[0], "beta": 0.5},
    ),
    ("addbmm(batch1, batch2)", "addbmm", lambda a: {"input": a.img[0, 0], "batch1": a.img[1], "batch2": a.img[0]}),
    ("tensordot(a, b, dims)", "tensordot", lambda a: {"a": a.x, "b": a.y, "dims": ([1], [1])}),
    ("einsum(equation)", "einsum", None),
    ("cross(dim)", "cross", lambda a: {"input": a.m, "other": a.spd, "dim": 1}),
    ("matrix_power(n)", "matrix_power", lambda a: {"input": a.m, "n": 3}),
    ("det(input)", "det", lambda a: {"input": a.spd}),
    ("logdet(input)", "logdet", lambda a: {"input": a.spd}),
    ("inverse(input)", "inverse", lambda a: {"input": a.spd}),
    ("matrix_exp(input)", "matrix_exp", lambda a: {"input": a.m}),
    ("cholesky(upper)", "cholesky", lambda a: {"input": a.spd, "upper": True}),
    ("cholesky_solve(input, input2)", "cholesky_solve", lambda a: {"input": a.m, "input2": a.L}),
    ("cholesky_inverse(input)", "cholesky_inverse", lambda a: {"input": a.L}),
    ("triangular_solve(input, A, upper)", "triangular_solve", lambda a: {"input": a.m, "A": a.L, "upper": False}),
    ("lu_solve(LU_data, LU_pivots)", "lu_solve", lambda a: {"input": a.m, "LU_data": a.lu, "LU_pivots": a.piv}),
    ("lu_unpack(LU_data, LU_pivots)", "lu_unpack", lambda a: {"LU_data": a.lu, "LU_pivots": a.piv}),
    ("slogdet", "slogdet", lambda a: {"input": a.spd}),
    ("qr(some)", "qr", lambda a: {"input": a.spd, "some": True}),
    ("cdist(x1, x2, p)", "cdist", lambda a: {"x1": a.x, "x2": a.y, "p": 1.0}),
    ("cov(correction)", "cov", lambda a: {"input": a.x, "correction": 0}),
    ("corrcoef", "corrcoef", lambda a: {"input": a.x}),
    ("trapezoid(y, dx, dim)", "trapezoid", lambda a: {"y": a.x, "dx": 0.5, "dim": 1}),
    ("cumulative_trapezoid(y, dim)", "cumulative_trapezoid", lambda a: {"y": a.x, "dim": 0}),
    ("vander(x, N)", "vander", lambda a: {"x": a.v, "N": 3, "increasing": True}),
    ("linalg.norm(input, ord, dim)", "linalg.norm", lambda a: {"input": a.x, "ord": 2, "dim": (0, 1)}),
    (
        "linalg.norm(keepdim, dtype)",
        "linalg.norm",
        lambda a: {"input": a.xf, "dim": 1, "keepdim": True, "dtype": a.lib.float64},
    ),
    ("linalg.vector_norm(input, ord)", "linalg.vector_norm", lambda a: {"input": a.x, "ord": 3, "dim": 1}),
    ("linalg.matrix_norm(input, ord)", "linalg.matrix_norm", lambda a: {"input": a.x, "ord": "nuc"}),
    ("linalg.det(A)", "linalg.det", lambda a: {"A": a.spd}),
    ("linalg.slogdet(A)", "linalg.slogdet", lambda a: {"A": a.spd}),
    ("linalg.inv(A)", "linalg.inv", lambda a: {"A": a.spd}),
    ("linalg.inv_ex(A)", "linalg.inv_ex", lambda a: {"A": a.spd}),
    ("linalg.cholesky(input, upper)", "linalg.cholesky", lambda a: {"input": a.spd, "upper": True}),
    ("linalg.cholesky_ex(input)", "linalg.cholesky_ex", lambda a: {"input": a.spd}),
    ("linalg.solve(A, B, left)", "linalg.solve", lambda a: {"A": a.spd, "B": a.m, "left": False}),
    ("linalg.solve_ex(A, B)", "linalg.solve_ex", lambda a: {"A": a.spd, "B": a.m}),
    (
        "linalg.solve_triangular(input, B, upper)",
        "linalg.solve_triangular",
        lambda a: {"input": a.L, "B": a.m, "upper": False},
    ),
    ("linalg.lu_factor(A, pivot)", "linalg.lu_factor", lambda a: {"A": a.spd, "pivot": True}),
    ("linalg.lu(A)", "linalg.lu", lambda a: {"A": a.spd}),
    ("linalg.lu_solve(LU, pivots, B)", "linalg.lu_solve", lambda a: {"LU": a.lu, "pivots": a.piv, "B": a.m}),
    ("linalg.qr(A, mode)", "linalg.qr", lambda a: {"A": a.spd, "mode": "r"}),
    ("linalg.eigvalsh(input, UPLO)", "linalg.eigvalsh", lambda a: {"input": a.spd, "UPLO": "U"}),
    ("linalg.eigvalsh(input)", "linalg.eigvalsh", lambda a: {"input": a.spd}),
    ("linalg.svdvals(A)", "linalg.svdvals", lambda a: {"A": a.x}),
    ("linalg.pinv(input, hermitian)", "linalg.pinv", lambda a: {"input": a.spd, "hermitian": True}),
    ("linalg.pinv(rtol)", "linalg.pinv", lambda a: {"input": a.x, "rtol": 1e-3}),
    ("linalg.matrix_rank(input, atol)", "linalg.matrix_rank", lambda a: {"input": a.x, "atol": 1e-6}),
    ("linalg.matrix_power(input, n)", "linalg.matrix_power", lambda a: {"input": a.m, "n": 2}),
    ("linalg.matrix_exp(input)", "linalg.matrix_exp", lambda a: {"input": a.m}),
    ("linalg.cond(input, p)", "linalg.cond", lambda a: {"input": a.spd, "p": "fro"}),
    ("linalg.lstsq(input, b)", "linalg.lstsq", lambda a: {"input": a.spd, "b": a.m}),
    ("linalg.tensorinv(input, ind)", "linalg.tensorinv", lambda a: {"input": a.spd, "ind": 1}),
    ("linalg.tensorsolve(input, other)", "linalg.tensorsolve", lambda a: {"input": a.spd, "other": a.v[:3]}),
    ("linalg.cross(input, other, dim)", "linalg.cross", lambda a: {"input": a.m, "other": a.spd, "dim": 0}),
    ("linalg.vecdot(x, y, dim)", "linalg.vecdot", lambda a: {"x": a.x, "y": a.y, "dim": 0}),
    ("linalg.multi_dot(tensors)", "linalg.multi_dot", lambda a: {"tensors": [a.x, a.y.T, a.x]}),
    ("linalg.householder_product(input, tau)", "linalg.householder_product", lambda a: {"input": a.m, "tau": a.v[:2]}),
    ("linalg.vander(x, N)", "linalg.vander", lambda a: {"x": a.v, "N": 3}),
    ("linalg.diagonal(A, offset)", "linalg.diagonal", lambda a: {"A": a.x, "offset": 1}),
    ("linalg.matmul", "linalg.matmul", lambda a: {"input": a.x, "other": a.y.T}),
    # special
    ("special.airy_ai(x)", "special.airy_ai", lambda a: {"x": a.x}),
    ("special.spherical_bessel_j0(x)", "special.spherical_bessel_j0", lambda a: {"x": a.x}),
    ("special.scaled_modified_bessel_k0(x)", "special.scaled_modified_bessel_k0", lambda a: {"x": a.x}),
    ("special.chebyshev_polynomial_t(x, n)", "special.chebyshev_polynomial_t", lambda a: {"x": a.x, "n": 3}),
    ("special.hermite_polynomial_h(x, n)", "special.hermite_polynomial_h", lambda a: {"x": a.x, "n": 2}),
    ("special.legendre_polynomial_p(x, n)", "special.legendre_polynomial_p", lambda a: {"x": a.x, "n": 2}),
    ("special.laguerre_polynomial_l(x, n)", "special.laguerre_polynomial_l", lambda a: {"x": a.x, "n": 2}),
    ("special.xlogy(input, other)", "special.xlogy", lambda a: {"input": a.x, "other": a.y}),
    ("special.xlog1py(input, other)", "special.xlog1py", lambda a: {"input": a.x, "other": a.y}),
    ("special.zeta(input, other)", "special.zeta", lambda a: {"input": a.x + 1, "other": a.y}),
    ("special.gammainc(input, other)", "special.gammainc", lambda a: {"input": a.x, "other": a.y}),
    ("special.polygamma(n, input)", "special.polygamma", lambda a: {"n": 2, "input": a.x}),
    ("special.multigammaln(input, p)", "special.multigammaln", lambda a: {"input": a.x + 2, "p": 2}),
    (
        "special.logsumexp(input, dim, keepdim)",
        "special.logsumexp",
        lambda a: {"input": a.x, "dim": 1, "keepdim": True},
    ),
    (
        "special.softmax(input, dim, dtype)",
        "special.softmax",
        lambda a: {"input": a.x, "dim": 1, "dtype": a.lib.float32},
    ),
    ("special.log_softmax(input, dim)", "special.log_softmax", lambda a: {"input": a.x, "dim": 0}),
    ("special.logit(input, eps)", "special.logit", lambda a: {"input": a.x, "eps": 0.1}),
    ("special.round(decimals)", "special.round", lambda a: {"input": a.x, "decimals": 2}),
    # fft
    ("fft.fft(input, n, dim, norm)", "fft.fft", lambda a: {"input": a.x, "n": 6, "dim": 1, "norm": "ortho"}),
    ("fft.ifft(input, n)", "fft.ifft", lambda a: {"input": a.x, "n": 4}),
    ("fft.rfft(input, dim)", "fft.rfft", lambda a: {"input": a.x, "dim": 0, "norm": "forward"}),
    ("fft.irfft(input, n)", "fft.irfft", lambda a: {"input": a.x, "n": 6}),
    ("fft.hfft(input, n)", "fft.hfft", lambda a: {"input": a.x, "n": 6}),
    ("fft.ihfft(input)", "fft.ihfft", lambda a: {"input": a.x}),
    ("fft.fft2(input, s, dim)", "fft.fft2", lambda a: {"input": a.x, "s": (4, 4), "dim": (0, 1)}),
    ("fft.rfft2(input)", "fft.rfft2", lambda a: {"input": a.x, "norm": "backward"}),
    ("fft.fftn(input, dim)", "fft.fftn", lambda a: {"input": a.img, "dim": (2, 3)}),
    ("fft.irfftn(input, s)", "fft.irfftn", lambda a: {"input": a.x, "s": (3, 6)}),
    ("fft.fftshift(input, dim)", "fft.fftshift", lambda a: {"input": a.x, "dim": 1}),
    ("fft.ifftshift(input)", "fft.ifftshift", lambda a: {"input": a.x}),
    ("fft.fftfreq(n, d)", "fft.fftfreq", lambda a: {"n": 5, "d": 0.5, "dtype": a.lib.float64}),
    ("fft.rfftfreq(n, d)", "fft.rfftfreq", lambda a: {"n": 6, "d": 2.0}),
    # factories
    ("zeros(size, dtype)", "zeros", lambda a: {"size": (2, 3), "dtype": a.lib.float64}),
    ("ones(size)", "ones", lambda a: {"size": (2,)}),
    ("full(size, fill_value)", "full", lambda a: {"size": (2, 2), "fill_value": 3.5}),
    ("arange(start, end, step)", "arange", lambda a: {"start": 1, "end": 7, "step": 2}),
    ("arange(end, dtype)", "arange", lambda a: {"end": 4, "dtype": a.lib.float64}),
    ("linspace(start, end, steps)", "linspace", lambda a: {"start": 0.0, "end": 1.0, "steps": 5}),
    ("logspace(base)", "logspace", lambda a: {"start": 0.0, "end": 2.0, "steps": 3, "base": 2.0}),
    ("eye(n, m)", "eye", lambda a: {"n": 2, "m": 3}),
    ("tril_indices(row, col, offset)", "tril_indices", lambda a: {"row": 3, "col": 4, "offset": 1}),
    ("triu_indices(row, col)", "triu_indices", lambda a: {"row": 3, "col": 3}),
    ("zeros_like(input, dtype)", "zeros_like", lambda a: {"input": a.x, "dtype": a.lib.float32}),
    ("ones_like(input)", "ones_like", lambda a: {"input": a.x}),
    ("full_like(input, fill_value)", "full_like", lambda a: {"input": a.x, "fill_value": 2.0}),
    ("empty_like(input).shape", "empty_like", None),
    ("tensor(data, dtype)", "tensor", lambda a: {"data": [1, 2], "dtype": a.lib.float64}),
    ("as_tensor(data)", "as_tensor", lambda a: {"data": [1.0, 2.0]}),
    ("scalar_tensor(s)", "scalar_tensor", lambda a: {"s": 2.5}),
    ("hann_window(window_length, periodic)", "hann_window", lambda a: {"window_length": 5, "periodic": False}),
    ("kaiser_window(beta)", "kaiser_window", lambda a: {"window_length": 5, "periodic": True, "beta": 3.0}),
    ("complex(real, imag)", "complex", lambda a: {"real": a.x, "imag": a.y}),
    ("polar(abs, angle)", "polar", lambda a: {"abs": a.x, "angle": a.y}),
    ("result_type(tensor, other)", "result_type", lambda a: {"tensor": a.i, "other": 1.0}),
    ("promote_types(type1, type2)", "promote_types", lambda a: {"type1": a.lib.int32, "type2": a.lib.float32}),
    ("can_cast(from_, to)", "can_cast", lambda a: {"from_": a.lib.float64, "to": a.lib.int32}),
    # top-level nn functions
    ("softmax(input, dim)", "softmax", lambda a: {"input": a.x, "dim": 1}),
    ("log_softmax(input, dim, dtype)", "log_softmax", lambda a: {"input": a.x, "dim": 1, "dtype": a.lib.float32}),
    ("dropout(input, p, train)", "dropout", lambda a: {"input": a.x, "p": 0.5, "train": False}),
    ("alpha_dropout(train)", "alpha_dropout", lambda a: {"input": a.x, "p": 0.5, "train": False}),
    ("celu(alpha)", "celu", lambda a: {"input": a.x, "alpha": 2.0}),
    ("threshold(threshold, value)", "threshold", lambda a: {"input": a.x, "threshold": 0.5, "value": -1.0}),
    ("hardshrink(lambd)", "hardshrink", lambda a: {"input": a.x, "lambd": 0.4}),
    ("prelu(weight)", "prelu", lambda a: {"input": a.x, "weight": a.v[:1]}),
    (
        "layer_norm(normalized_shape, eps)",
        "layer_norm",
        lambda a: {"input": a.x, "normalized_shape": (4,), "eps": 1e-3},
    ),
    ("group_norm(num_groups)", "group_norm", lambda a: {"input": a.img, "num_groups": 3}),
    ("cosine_similarity(x1, x2, dim)", "cosine_similarity", lambda a: {"x1": a.x, "x2": a.y, "dim": 0}),
    ("pairwise_distance(x1, x2)", "pairwise_distance", lambda a: {"x1": a.x, "x2": a.y, "p": 1.0}),
    ("pdist(input, p)", "pdist", lambda a: {"input": a.x, "p": 2.0}),
    (
        "pixel_shuffle(upscale_factor)",
        "pixel_shuffle",
        lambda a: {"input": a.img[:, :1].repeat(1, 4, 1, 1), "upscale_factor": 2},
    ),
    ("conv1d(input, weight, stride)", "conv1d", lambda a: {"input": a.seq, "weight": a.seq[:2, :, :3], "stride": 2}),
    ("avg_pool1d(kernel_size)", "avg_pool1d", lambda a: {"input": a.seq, "kernel_size": 2}),
    ("max_pool2d(kernel_size, stride)", "max_pool2d", lambda a: {"input": a.img, "kernel_size": 2, "stride": 1}),
    # torch.nn.functional
    ("F.softmax(input, dim)", "F.softmax", lambda a: {"input": a.x, "dim": -1}),
    ("F.softmax(dtype)", "F.softmax", lambda a: {"input": a.x, "dim": 0, "dtype": a.lib.float32}),
    ("F.log_softmax(input, dim)", "F.log_softmax", lambda a: {"input": a.x, "dim": 1}),
    ("F.softmin(input, dim)", "F.softmin", lambda a: {"input": a.x, "dim": 1}),
    ("F.relu(input, inplace)", "F.relu", lambda a: {"input": a.x - 0.5, "inplace": False}),
    ("F.leaky_relu(negative_slope)", "F.leaky_relu", lambda a: {"input": a.x - 0.5, "negative_slope": 0.2}),
    ("F.elu(alpha)", "F.elu", lambda a: {"input": a.x - 0.5, "alpha": 0.5}),
    ("F.gelu(approximate)", "F.gelu", lambda a: {"input": a.x, "approximate": "tanh"}),
    ("F.silu", "F.silu", lambda a: {"input": a.x}),
    ("F.hardtanh(min_val, max_val)", "F.hardtanh", lambda a: {"input": a.x, "min_val": 0.3, "max_val": 0.6}),
    ("F.softplus(beta, threshold)", "F.softplus", lambda a: {"input": a.x, "beta": 2.0, "threshold": 10.0}),
    ("F.glu(dim)", "F.glu", lambda a: {"input": a.x, "dim": 1}),
    ("F.normalize(p, dim)", "F.normalize", lambda a: {"input": a.x, "p": 1.0, "dim": 0}),
    ("F.linear(input, weight, bias)", "F.linear", lambda a: {"input": a.x, "weight": a.y, "bias": a.v[:3]}),
    (
        "F.bilinear(input1, input2, weight)",
        "F.bilinear",
        lambda a: {"input1": a.x, "input2": a.y, "weight": a.img[0, :, :4, :4], "bias": None},
    ),
    ("F.dropout(p, training)", "F.dropout", lambda a: {"input": a.x, "p": 0.1, "training": False}),
    ("F.dropout1d(training)", "F.dropout1d", lambda a: {"input": a.seq, "p": 0.1, "training": False}),
    ("F.embedding(input, weight)", "F.embedding", lambda a: {"input": a.labels, "weight": a.x.T, "padding_idx": 0}),
    ("F.one_hot(input, num_classes)", "F.one_hot", lambda a: {"input": a.labels, "num_classes": 5}),
    (
        "F.cross_entropy(input, target)",
        "F.cross_entropy",
        lambda a: {"input": a.x, "target": a.labels, "reduction": "sum", "label_smoothing": 0.1},
    ),
    (
        "F.cross_entropy(weight, ignore_index)",
        "F.cross_entropy",
        lambda a: {"input": a.x, "target": a.labels, "weight": a.v, "ignore_index": 1},
    ),
    ("F.nll_loss(input, target)", "F.nll_loss", lambda a: {"input": a.x, "target": a.labels, "reduction": "none"}),
    ("F.mse_loss(input, target)", "F.mse_loss", lambda a: {"input": a.x, "target": a.y, "reduction": "sum"}),
    ("F.l1_loss(reduction)", "F.l1_loss", lambda a: {"input": a.x, "target": a.y, "reduction": "mean"}),
    ("F.smooth_l1_loss(beta)", "F.smooth_l1_loss", lambda a: {"input": a.x, "target": a.y, "beta": 0.1}),
    ("F.huber_loss(delta)", "F.huber_loss", lambda a: {"input": a.x, "target": a.y, "delta": 0.2}),
    (
        "F.binary_cross_entropy(input, target, weight)",
        "F.binary_cross_entropy",
        lambda a: {"input": a.x, "target": a.y, "weight": a.v},
    ),
    (
        "F.binary_cross_entropy_with_logits(pos_weight)",
        "F.binary_cross_entropy_with_logits",
        lambda a: {"input": a.x, "target": a.y, "pos_weight": a.v},
    ),
    (
        "F.kl_div(log_target)",
        "F.kl_div",
        lambda a: {"input": a.x, "target": a.y, "reduction": "batchmean", "log_target": True},
    ),
    (
        "F.cosine_similarity(x1, x2, eps)",
        "F.cosine_similarity",
        lambda a: {"x1": a.x, "x2": a.y, "dim": 1, "eps": 1e-6},
    ),
    (
        "F.pad(input, pad, mode, value)",
        "F.pad",
        lambda a: {"input": a.x, "pad": (1, 2), "mode": "constant", "value": 3.0},
    ),
    ("F.pad(mode reflect)", "F.pad", lambda a: {"input": a.img, "pad": (1, 1, 2, 0), "mode": "reflect"}),
    (
        "F.interpolate(input, size, mode)",
        "F.interpolate",
        lambda a: {"input": a.img, "size": (4, 5), "mode": "bilinear"},
    ),
    (
        "F.interpolate(scale_factor, align_corners)",
        "F.interpolate",
        lambda a: {"input": a.img, "scale_factor": 2, "mode": "bilinear", "align_corners": True},
    ),
    ("F.interpolate(nearest)", "F.interpolate", lambda a: {"input": a.seq, "scale_factor": 1.5, "mode": "nearest"}),
    (
        "F.conv2d(input, weight, bias, stride, padding)",
        "F.conv2d",
        lambda a: {"input": a.img, "weight": a.img[:2, :, :3, :3], "bias": a.v[:2], "stride": 1, "padding": 1},
    ),
    (
        "F.conv2d(dilation, groups)",
        "F.conv2d",
        lambda a: {"input": a.img, "weight": a.img[:, :1, :3, :3].repeat(3, 1, 1, 1)[:3], "dilation": 2, "groups": 3},
    ),
    ("F.conv1d(padding same)", "F.conv1d", lambda a: {"input": a.seq, "weight": a.seq[:2, :, :3], "padding": "same"}),
    (
        "F.conv_transpose2d(stride, output_padding)",
        "F.conv_transpose2d",
        lambda a: {
            "input": a.img,
            "weight": a.img[:, :2, :3, :3].repeat(2, 1, 1, 1)[:3],
            "stride": 2,
            "output_padding": 1,
        },
    ),
    (
        "F.max_pool2d(kernel_size, stride, padding)",
        "F.max_pool2d",
        lambda a: {"input": a.img, "kernel_size": 3, "stride": 2, "padding": 1},
    ),
    (
        "F.max_pool2d(return_indices)",
        "F.max_pool2d",
        lambda a: {"input": a.img, "kernel_size": 2, "return_indices": True},
    ),
    ("F.max_pool1d(ceil_mode)", "F.max_pool1d", lambda a: {"input": a.seq, "kernel_size": 3, "ceil_mode": True}),
    (
        "F.avg_pool2d(count_include_pad)",
        "F.avg_pool2d",
        lambda a: {"input": a.img, "kernel_size": 3, "padding": 1, "count_include_pad": False},
    ),
    ("F.adaptive_avg_pool2d(output_size)", "F.adaptive_avg_pool2d", lambda a: {"input": a.img, "output_size": (2, 3)}),
    ("F.adaptive_max_pool1d(output_size)", "F.adaptive_max_pool1d", lambda a: {"input": a.seq, "output_size": 4}),
    (
        "F.layer_norm(normalized_shape, weight, bias)",
        "F.layer_norm",
        lambda a: {"input": a.x, "normalized_shape": (4,), "weight": a.v, "bias": a.v, "eps": 1e-4},
    ),
    ("F.group_norm(num_groups)", "F.group_norm", lambda a: {"input": a.img, "num_groups": 1, "eps": 1e-3}),
    (
        "F.batch_norm(running_mean, training)",
        "F.batch_norm",
        lambda a: {"input": a.x, "running_mean": a.v, "running_var": a.v, "training": False, "eps": 1e-3},
    ),
    ("F.instance_norm(eps)", "F.instance_norm", lambda a: {"input": a.img, "eps": 1e-3}),
    (
        "F.rms_norm(normalized_shape, eps)",
        "F.rms_norm",
        lambda a: {"input": a.x, "normalized_shape": (4,), "eps": 1e-3},
    ),
    (
        "F.scaled_dot_product_attention(is_causal, scale)",
        "F.scaled_dot_product_attention",
        lambda a: {"query": a.img, "key": a.img, "value": a.img, "is_causal": True, "scale": 0.5},
    ),
    (
        "F.scaled_dot_product_attention(attn_mask)",
        "F.scaled_dot_product_attention",
        lambda a: {"query": a.img, "key": a.img, "value": a.img, "attn_mask": a.img[0, 0] > 0},
    ),
    ("F.unfold(kernel_size, stride)", "F.unfold", lambda a: {"input": a.img, "kernel_size": 2, "stride": 2}),
    (
        "F.fold(output_size, kernel_size)",
        "F.fold",
        lambda a: {"input": a.img.reshape(2, 12, 9), "output_size": (4, 4), "kernel_size": 2, "stride": 1},
    ),
    ("F.pixel_unshuffle(downscale_factor)", "F.pixel_unshuffle", lambda a: {"input": a.img, "downscale_factor": 2}),
    (
        "F.grid_sample(align_corners)",
        "F.grid_sample",
        lambda a: {
            "input": a.img,
            "grid": a.img[:, :2].permute(0, 2, 3, 1).tanh(),
            "mode": "bilinear",
            "align_corners": False,
        },
    ),
    (
        "F.affine_grid(theta, size)",
        "F.affine_grid",
        lambda a: {"theta": a.x[:2, :3].reshape(1, 2, 3), "size": (1, 1, 3, 4), "align_corners": False},
    ),
    (
        "F.triplet_margin_loss(margin)",
        "F.triplet_margin_loss",
        lambda a: {"anchor": a.x, "positive": a.y, "negative": a.x.flip(0), "margin": 0.5},
    ),
    (
        "F.margin_ranking_loss(margin)",
        "F.margin_ranking_loss",
        lambda a: {"input1": a.v, "input2": a.v.flip(0), "target": a.v.sign(), "margin": 0.1},
    ),
    (
        "F.gaussian_nll_loss(full)",
        "F.gaussian_nll_loss",
        lambda a: {"input": a.x, "target": a.y, "var": a.x, "full": True},
    ),
    (
        "F.poisson_nll_loss(log_input)",
        "F.poisson_nll_loss",
        lambda a: {"input": a.x, "target": a.y, "log_input": False},
    ),
    (
        "F.hinge_embedding_loss(margin)",
        "F.hinge_embedding_loss",
        lambda a: {"input": a.x, "target": a.x.sign(), "margin": 0.5},
    ),
    ("F.soft_margin_loss", "F.soft_margin_loss", lambda a: {"input": a.x, "target": a.x.sign()}),
    (
        "F.multilabel_soft_margin_loss(weight)",
        "F.multilabel_soft_margin_loss",
        lambda a: {"input": a.x, "target": a.c.double()},
    ),
    (
        "F.multi_margin_loss(p, margin)",
        "F.multi_margin_loss",
        lambda a: {"input": a.x, "target": a.labels, "p": 2, "margin": 0.5},
    ),
    ("F.pairwise_distance(keepdim)", "F.pairwise_distance", lambda a: {"x1": a.x, "x2": a.y, "keepdim": True}),
    ("F.pdist(p)", "F.pdist", lambda a: {"input": a.x, "p": 1.0}),
    ("F.hardswish", "F.hardswish", lambda a: {"input": a.x}),
    ("F.mish", "F.mish", lambda a: {"input": a.x}),
    ("F.logsigmoid", "F.logsigmoid", lambda a: {"input": a.x}),
    ("F.softshrink(lambd)", "F.softshrink", lambda a: {"input": a.x, "lambd": 0.3}),
    ("F.threshold(threshold, value)", "F.threshold", lambda a: {"input": a.x, "threshold": 0.5, "value": 0.0}),
    ("F.celu(alpha)", "F.celu", lambda a: {"input": a.x, "alpha": 0.5}),
    ("F.selu", "F.selu", lambda a: {"input": a.x}),
    ("F.prelu(weight)", "F.prelu", lambda a: {"input": a.img, "weight": a.v[:3]}),
    ("F.rrelu(training)", "F.rrelu", lambda a: {"input": a.x - 0.5, "lower": 0.1, "upper": 0.3, "training": False}),
    ("F.tanhshrink", "F.tanhshrink", lambda a: {"input": a.x}),
    ("F.softsign", "F.softsign", lambda a: {"input": a.x}),
    ("F.relu6", "F.relu6", lambda a: {"input": a.x * 10}),
    ("F.hardsigmoid", "F.hardsigmoid", lambda a: {"input": a.x}),
    ("F.local_response_norm(size)", "F.local_response_norm", lambda a: {"input": a.img, "size": 2}),
    ("F.channel_shuffle(groups)", "F.channel_shuffle", lambda a: {"input": a.img[:, :2], "groups": 2}),
    ("F.embedding_bag(mode)", "F.embedding_bag", lambda a: {"input": a.i[:2], "weight": a.x.T, "mode": "max"}),
]


def _fn(lib_fn: Any, path: str) -> Any:
    mod, _, name = path.rpartition(".")
    if mod == "F":
        return getattr(lib_fn[1], name)
    base = lib_fn[0]
    for part in mod.split(".") if mod else ():
        base = getattr(base, part)
    return getattr(base, name)


def _picture(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "shape"):
        x = x.resolve_conj() if hasattr(x, "resolve_conj") else x
        a = np.asarray(x.detach().cpu().numpy())
        return ("T", tuple(a.shape), str(x.dtype).removeprefix("torch."), a)
    if isinstance(x, (list, tuple)):
        return [_picture(v) for v in x]
    if isinstance(x, np.dtype) or type(x).__name__ == "dtype":
        return str(x).removeprefix("torch.")
    return x


def _same(got: Any, want: Any, where: str) -> None:
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
        return
    if isinstance(want, tuple) and want and want[0] == "T":
        assert isinstance(got, tuple) and got[0] == "T", f"{where}: got {got!r}"
        assert got[1] == want[1], f"{where}: shape {got[1]} vs torch's {want[1]}"
        assert got[2] == want[2], f"{where}: dtype {got[2]} vs torch's {want[2]}"
        np.testing.assert_allclose(got[3], want[3], rtol=1e-5, atol=1e-6, err_msg=where)
        return
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6), where
        return
    assert got == want, f"{where}: {got!r} vs torch's {want!r}"


_SHAPE_ONLY = {"empty_like(input).shape"}
_POSITIONAL = {  # cases whose torch signature takes *tensors: the keyword table has nothing for them
    "atleast_2d(v)": lambda lib, a: lib.atleast_2d(a.v),
    "meshgrid(indexing)": lambda lib, a: lib.meshgrid(a.v, a.v[:2], indexing="xy"),
    "einsum(equation)": lambda lib, a: lib.einsum("ij,kj->ik", a.x, a.y),
    "empty_like(input).shape": lambda lib, a: lib.empty_like(input=a.x, dtype=lib.float32).shape,
}


# calls that still differ from torch's (the functions' owners may take them up): the reason for each
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_keyword_call_matches_torch(case: tuple[str, str, Any]) -> None:
    cid, path, make = case
    if cid in KNOWN:
        pytest.xfail(KNOWN[cid])
    results = []
    for lib in (torch, bp):
        a = _In(lib)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if cid in _POSITIONAL:
                out = _POSITIONAL[cid](lib, a)
            else:
                f = _fn((lib, TF if lib is torch else BF), path)
                out = f(**make(a))
        results.append(tuple(out) if cid in _SHAPE_ONLY else _picture(out))
    want, got = results
    _same(got, want, cid)


def test_table_size() -> None:
    assert len(CASES) >= 300, len(CASES)


# ------------------------------------------------------------------------------- the signature-level check
_NAMESPACES = [("torch", "", ""), ("F", "nn.functional", ""), ("linalg", "linalg", "linalg_"),
               ("special", "special", "special_"), ("fft", "fft", "fft_")]  # fmt: skip


def _split_params(body: str) -> list[str]:
    depth, cur, parts = 0, "", []
    for ch in body:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _doc_params(fn: Any, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (fn.__doc__ or "").strip().splitlines()[:8]:
        m = re.match(r"^\s*(?:torch\.)?(?:[a-z_]+\.)?" + re.escape(name) + r"\(", line)
        if not m:
            continue
        depth, body = 1, ""
        for ch in line[m.end() :]:
            depth += ch in "([{"
            depth -= ch in ")]}"
            if depth == 0:
                break
            body += ch
        kwonly = False
        for a in (p.strip() for p in _split_params(body)):
            if a == "*":
                kwonly = True
            elif a and not a.startswith("*") and (n := re.split(r"[=:\s]", a)[0]).isidentifier():
                out.setdefault(n, "kw" if kwonly else "pos")
    return out


def _torch_params(fn: Any, name: str, prefix: str) -> dict[str, str]:
    """torch's keyword names of ``fn`` (positional-only ones left out)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
            module = sys.modules.get(getattr(fn, "__module__", "") or "")
            alt = getattr(module, "_" + name, None) if module else None  # (F.max_pool2d's boolean dispatch)
            if alt is None:
                return _doc_params(fn, name)
            sig = inspect.signature(alt)
        kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD: "pos", inspect.Parameter.KEYWORD_ONLY: "kw"}
        return {p.name: kinds[p.kind] for p in sig.parameters.values() if p.kind in kinds}
    out: dict[str, str] = {}
    for s in torch._C._jit_get_schemas_for_operator("aten::" + prefix + name):
        if "Dimname" in str(s) or s.overload_name.endswith("out"):
            continue
        types_ = [str(a.type) for a in s.arguments]
        if not any("Tensor" in t for t in types_) and not {"dtype", "device", "size"} & {a.name for a in s.arguments}:
            continue  # a TorchScript scalar overload (aten::add.int), not a Python binding
        for a in s.arguments:
            if a.name == "out" or (a.alias_info is not None and a.alias_info.is_write):
                continue
            out.setdefault("input" if a.name == "self" else a.name, "kw" if a.kwarg_only else "pos")
    return out or _doc_params(fn, name)


def _mismatches() -> dict[str, str]:
    """{"ns.name:param": kind} for each torch keyword our function does not take as torch does."""
    found: dict[str, str] = {}
    for label, sub, prefix in _NAMESPACES:
        tm, bm = torch, bp
        for part in sub.split(".") if sub else ():
            tm, bm = getattr(tm, part), getattr(bm, part)
        for name in sorted(dir(tm)):
            if name.startswith("_"):
                continue
            t, b = getattr(tm, name, None), getattr(bm, name, None)
            if not callable(t) or not callable(b) or isinstance(t, (type, types.ModuleType)) or isinstance(b, type):
                continue
            try:
                ours = inspect.signature(b).parameters
            except (TypeError, ValueError):
                continue
            var_kw = any(p.kind is p.VAR_KEYWORD for p in ours.values())
            for param, kind in _torch_params(t, name, prefix).items():
                p = ours.get(param)
                key = f"{label}.{name}:{param}"
                if p is None:
                    if not var_kw:  # (a **kwargs: the call table checks those)
                        found[key] = "missing"
                elif p.kind is p.POSITIONAL_ONLY:
                    found[key] = "positional-only"
                elif kind == "pos" and p.kind is p.KEYWORD_ONLY:
                    found[key] = "keyword-only here, positional in torch"
    return found


# torch keyword names our functions still lack, each with its reason; a new mismatch fails, and so does a listed
# one that is fixed (remove it from here)
_METHOD_FORM = "a Tensor method's *args or keyword-only form (the methods' area); the call table checks it"
_ENTRY = "runtime, serialization or constructor entry point: positional in practice, or internal"
_CREATION = "creation option not modeled (strided layout only, no pinned memory)"
_OVERLOAD = "a TorchScript or deprecated overload's name, not reachable from torch's Python calls"
ALLOWED: dict[str, str] = {
    # (sort/argsort parse torch's two overloads, (dim, descending) and (*, stable, dim, descending), from *args:
    # positional dim/descending work, and stable= with positionals raises torch's TypeError)
    "torch.sort:dim": "positional through *args (torch's two overloads)",
    "torch.sort:descending": "positional through *args (torch's two overloads)",
    "torch.argsort:dim": "positional through *args (torch's two overloads)",
    "torch.argsort:descending": "positional through *args (torch's two overloads)",
    "torch.dequantize:input": "torch's overloads name it input/tensors; ours takes one positional tensor or list",
    "torch.dequantize:tensors": "torch's overloads name it input/tensors; ours takes one positional tensor or list",
    "torch.dequantize:qtensor": "torch's overloads name it input/tensors; ours takes one positional tensor or list",
    "torch.dequantize:qtensors": "torch's overloads name it input/tensors; ours takes one positional tensor or list",
    "torch.quantize_per_tensor:tensors": "the list overload's names: ours takes the list as input",
    "torch.quantize_per_tensor:scales": "the list overload's names: ours takes the list as input",
    "torch.quantize_per_tensor:zero_points": "the list overload's names: ours takes the list as input",
    "torch.sparse_bsr_tensor:layout": "the layout is the function's own (torch accepts only that one)",
    "torch.sparse_bsc_tensor:layout": "the layout is the function's own (torch accepts only that one)",
    "F.elu_:input_scale": "ATen-internal parameter of torch's elu_ binding (its Python F.elu_ takes alpha only)",
    "F.elu_:scale": "ATen-internal parameter of torch's elu_ binding (its Python F.elu_ takes alpha only)",
    "fft.fftfreq:pin_memory": _CREATION,
    "fft.rfftfreq:pin_memory": _CREATION,
    "linalg.matrix_rank:hermitian": "keyword-only here, positional in torch (rarely passed positionally)",
    "linalg.matrix_rank:tol": "torch's deprecated overload (rcond/tol): use rtol/atol",
    "special.softmax:dtype": "keyword-only here, positional in torch",
    "torch.addmm:out_dtype": "out_dtype (torch 2.9+ mixed-precision product) not supported",
    "torch.as_tensor:t": _ENTRY,
    "torch.baddbmm:out_dtype": "out_dtype (torch 2.9+ mixed-precision product) not supported",
    "torch.bartlett_window:pin_memory": _CREATION,
    "torch.blackman_window:pin_memory": _CREATION,
    "torch.bmm:out_dtype": "out_dtype (torch 2.9+ mixed-precision product) not supported",
    "torch.broadcast_to:size": _METHOD_FORM,
    "torch.compile:isolate_recompiles": _ENTRY,
    "torch.compile:name": _ENTRY,
    "torch.compile:recompile_limit": _ENTRY,
    "torch.compile:shapes_spec": _ENTRY,
    "torch.dsplit:indices": _METHOD_FORM,
    "torch.einsum:equation": "docstring name only: torch.einsum(*args) refuses equation= too",
    "torch.eq:a": _OVERLOAD,
    "torch.eq:b": _OVERLOAD,
    "torch.from_dlpack:copy": _ENTRY,
    "torch.from_dlpack:device": _ENTRY,
    "torch.from_dlpack:ext_tensor": _ENTRY,
    "torch.from_numpy:ndarray": _ENTRY,
    "torch.full_like:pin_memory": _CREATION,
    "torch.group_norm:cudnn_enabled": "ATen's cudnn switch: meaningless here",
    "torch.hamming_window:pin_memory": _CREATION,
    "torch.hann_window:pin_memory": _CREATION,
    "torch.hsplit:indices": _METHOD_FORM,
    "torch.isin:element": _OVERLOAD,
    "torch.isin:test_element": _OVERLOAD,
    "torch.kaiser_window:pin_memory": _CREATION,
    "torch.layer_norm:cudnn_enable": "ATen's cudnn switch: meaningless here",
    "torch.max:other": "max(input, other=...) overload: Tensor.max takes the tensor positionally (methods' area)",
    "torch.min:other": "min(input, other=...) overload: Tensor.min takes the tensor positionally (methods' area)",
    "torch.mm:out_dtype": "out_dtype (torch 2.9+ mixed-precision product) not supported",
    "torch.ne:a": _OVERLOAD,
    "torch.ne:b": _OVERLOAD,
    "torch.norm:out": _OVERLOAD,
    "torch.permute:dims": _METHOD_FORM,
    "torch.randint_like:layout": _CREATION,
    "torch.randint_like:memory_format": _CREATION,
    "torch.randint_like:pin_memory": _CREATION,
    "torch.resize_as_:the_template": "Tensor.resize_as_ names it other (methods' area)",
    "torch.set_default_device:device": _ENTRY,
    "torch.set_num_interop_threads:int": _ENTRY,
    "torch.set_num_threads:int": _ENTRY,
    "torch.sort:reverse": _OVERLOAD,
    "torch.sparse_coo_tensor:layout": _CREATION,
    "torch.sparse_coo_tensor:pin_memory": _CREATION,
    "torch.tensor:t": _ENTRY,
    "torch.tensor_split:indices": _METHOD_FORM,
    "torch.tensor_split:sections": _METHOD_FORM,
    "torch.tensor_split:tensor_indices_or_sections": "Tensor.tensor_split lacks this third name (methods' area)",
    "torch.tensordot:out": _OVERLOAD,
    "torch.tile:dims": _METHOD_FORM,
    "torch.tril_indices:layout": _CREATION,
    "torch.tril_indices:pin_memory": _CREATION,
    "torch.triu_indices:layout": _CREATION,
    "torch.triu_indices:pin_memory": _CREATION,
    "torch.vsplit:indices": _METHOD_FORM,
}


def test_signatures_take_torchs_keywords() -> None:
    found = _mismatches()
    new = sorted(f"{k} ({v})" for k, v in found.items() if k not in ALLOWED)
    fixed = sorted(k for k in ALLOWED if k not in found)
    assert not new, "torch keywords our functions do not take (fix, or list in ALLOWED with a reason):\n" + "\n".join(
        new
    )
    assert not fixed, "listed in ALLOWED but now taken (remove them):\n" + "\n".join(fixed)
