"""Rows of the ``backprop.ops.fft`` ops (transforms and complex numbers).

The table's inputs are real float64 tensors, so complex inputs are built with the ``complex`` op and
complex outputs read back as real pairs with ``view_as_real``: each row is a real function of real
inputs that gradcheck can differentiate, and it runs the op's rule for complex values in the middle.
"""

from __future__ import annotations

import numpy as np

import backprop.fft  # noqa: F401 - registers the ops (also imported by the elementwise rules)
from backprop.ops import fft as ff
from op_cases._case import Case, R, _apply


def _z(x, y):
    return _apply(ff.complex, x, y)


def _pairs(z):
    return _apply(ff.view_as_real, z)


def _np_pairs(z):
    return np.stack([np.real(z), np.imag(z)], axis=-1)


def _c2c(dims, norm, forward):
    def fn(op, x, y):
        return _pairs(_apply(op, _z(x, y), dims=dims, norm=norm, forward=forward))

    def ref(x, y):
        f = np.fft.fftn if forward else np.fft.ifftn
        return _np_pairs(f(x + 1j * y, axes=dims, norm=norm))

    return Case([R(3, 4), R(3, 4)], fn=fn, ref=ref)


def _c2r(dims, norm, last_size, shape):
    def fn(op, x, y):
        return _apply(op, _z(x, y), dims=dims, norm=norm, last_size=last_size)

    def ref(x, y):
        sizes = tuple(x.shape[d] for d in dims[:-1]) + (last_size,)
        return np.fft.irfftn(x + 1j * y, s=sizes, axes=dims, norm=norm)

    return Case([R(*shape), R(*shape)], fn=fn, ref=ref)


def _r2c(dims, norm, shape):
    return Case(
        [R(*shape)],
        fn=lambda op, x: _pairs(_apply(op, x, dims=dims, norm=norm)),
        ref=lambda x: _np_pairs(np.fft.rfftn(x, axes=dims, norm=norm)),
    )


CASES: dict[str, list[Case]] = {
    "fft_resize": [
        Case([R(3, 5)], {"dims": (1,), "sizes": (7,)}, ref=lambda x, dims, sizes: np.pad(x, [(0, 0), (0, 2)])),
        Case([R(3, 5)], {"dims": (0, 1), "sizes": (2, 8)}, ref=lambda x, dims, sizes: np.pad(x[:2], [(0, 0), (0, 3)])),
    ],
    "fft_c2c": [_c2c((1,), "backward", True), _c2c((0, 1), "ortho", False), _c2c((0,), "forward", True)],
    "fft_r2c": [_r2c((1,), "backward", (3, 6)), _r2c((0, 1), "ortho", (3, 5)), _r2c((0,), "forward", (5, 2))],
    "fft_c2r": [
        _c2r((1,), "backward", 6, (2, 4)),
        _c2r((1,), "ortho", 5, (2, 3)),
        _c2r((0, 1), "forward", 4, (3, 3)),
    ],
    "complex": [
        Case([R(2, 3), R(2, 3)], fn=lambda op, x, y: _pairs(_apply(op, x, y)), ref=lambda x, y: np.stack([x, y], -1))
    ],
    "real": [Case([R(2, 3), R(2, 3)], fn=lambda op, x, y: _apply(op, _z(x, y)), ref=lambda x, y: x)],
    "imag": [Case([R(2, 3), R(2, 3)], fn=lambda op, x, y: _apply(op, _z(x, y)), ref=lambda x, y: y)],
    "conj": [
        Case(
            [R(2, 3), R(2, 3)], fn=lambda op, x, y: _pairs(_apply(op, _z(x, y))), ref=lambda x, y: np.stack([x, -y], -1)
        )
    ],
    "view_as_real": [
        Case([R(2, 3), R(2, 3)], fn=lambda op, x, y: _apply(op, _z(x, y)), ref=lambda x, y: np.stack([x, y], -1))
    ],
    "view_as_complex": [
        Case([R(2, 3, 2)], fn=lambda op, p: _pairs(_apply(op, p)), ref=lambda p: p),
    ],
}
