"""Rows of the ``backprop.ops.conv`` ops: im2col (F.unfold) and col2im (F.fold), N-d, plus the
convolutions composed from them (``fn`` rows through ``F.conv*``/``F.conv_transpose*``, so stride,
padding, dilation and groups are gradchecked end to end). References are direct loops in NumPy."""

from __future__ import annotations

import itertools

import numpy as np

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401


def _im2col(x, kernel_size, dilation, padding, stride):
    """Every block, read element by element from a zero-padded copy (N, C * prod(k), L)."""
    n, c, *spatial = x.shape
    pad = [(0, 0), (0, 0)] + [(lo, max(hi, 0)) for lo, hi in padding]
    xp_ = np.pad(x, pad)
    blocks = [
        (m + lo + hi - d * (k - 1) - 1) // s + 1
        for m, k, d, (lo, hi), s in zip(spatial, kernel_size, dilation, padding, stride)
    ]
    out = np.zeros((n, c, *kernel_size, *blocks))
    for b in itertools.product(*map(range, blocks)):
        for k in itertools.product(*map(range, kernel_size)):
            src = tuple(bi * s + ki * d for bi, ki, s, d in zip(b, k, stride, dilation))
            out[(slice(None), slice(None), *k, *b)] = xp_[(slice(None), slice(None), *src)]
    return out.reshape(n, c * int(np.prod(kernel_size)), -1)


def _col2im(y, output_size, kernel_size, dilation, padding, stride):
    """The adjoint of ``_im2col``, written as its transposed matrix applied to y."""
    n = y.shape[0]
    c = y.shape[1] // int(np.prod(kernel_size))
    size = (n, c, *output_size)
    eye = np.eye(int(np.prod(size))).reshape(-1, *size)
    mat = np.stack([_im2col(e, kernel_size, dilation, padding, stride).reshape(-1) for e in eye])  # (|x|, |y|)
    return (mat @ y.reshape(-1)).reshape(size)


def _conv_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct cross-correlation with zero padding, group by group."""
    nd = x.ndim - 2
    stride, dilation = (
        (stride,) * nd if isinstance(stride, int) else stride,
        (dilation,) * nd if isinstance(dilation, int) else dilation,
    )
    padding = (padding,) * nd if isinstance(padding, int) else padding
    kernel = w.shape[2:]
    cols = _im2col(x, kernel, dilation, tuple((p, p) for p in padding), stride)  # (N, C k, L)
    n, cout = x.shape[0], w.shape[0]
    cg, og = x.shape[1] // groups, cout // groups
    kk = int(np.prod(kernel))
    out = np.concatenate(
        [w[g * og : (g + 1) * og].reshape(og, -1) @ cols[:, g * cg * kk : (g + 1) * cg * kk] for g in range(groups)],
        axis=1,
    )
    blocks = [
        (m + 2 * p - d * (k - 1) - 1) // s + 1 for m, k, d, p, s in zip(x.shape[2:], kernel, dilation, padding, stride)
    ]
    out = out.reshape(n, cout, *blocks)
    if b is not None:
        out = out + b.reshape(cout, *([1] * nd))
    return out


def _conv(fn_name, **kw):
    def fn(op, *tensors):
        from backprop.nn import functional as F

        return getattr(F, fn_name)(*tensors, **kw)

    return fn


CASES: dict[str, list[Case]] = {
    "im2col": [
        Case(
            [R(2, 3, 5, 4)],
            {"kernel_size": (2, 3), "dilation": (1, 1), "padding": ((0, 0), (0, 0)), "stride": (1, 1)},
            ref=_im2col,
        ),
        Case(
            [R(1, 2, 6, 5)],
            {"kernel_size": (3, 2), "dilation": (2, 1), "padding": ((1, 1), (2, 2)), "stride": (2, 3)},
            ref=_im2col,
        ),
        Case([R(2, 2, 7)], {"kernel_size": (3,), "dilation": (2,), "padding": ((1, 2),), "stride": (2,)}, ref=_im2col),
        Case(
            [R(1, 1, 3, 4, 3)],
            {"kernel_size": (2, 2, 2), "dilation": (1, 1, 1), "padding": ((1, 0), (0, 1), (1, 1)), "stride": (1, 2, 1)},
            ref=_im2col,
        ),
        Case(
            [R(1, 2, 7)], {"kernel_size": (2,), "dilation": (1,), "padding": ((0, -1),), "stride": (2,)}, ref=_im2col
        ),  # negative hi: a tail no block reads
        # convolutions composed from im2col and matmul, gradchecked through F (x, w, b)
        Case(
            [R(2, 4, 5, 5), R(6, 2, 3, 2), R(6)],
            fn=_conv("conv2d", stride=2, padding=1, groups=2),
            ref=lambda x, w, b: _conv_ref(x, w, b, stride=2, padding=1, groups=2),
        ),
        Case(
            [R(1, 3, 6, 5), R(2, 3, 2, 2)],
            fn=_conv("conv2d", stride=(1, 2), padding=(2, 1), dilation=(2, 1)),
            ref=lambda x, w: _conv_ref(x, w, stride=(1, 2), padding=(2, 1), dilation=(2, 1)),
        ),
        Case(
            [R(2, 2, 9), R(4, 1, 3), R(4)],
            fn=_conv("conv1d", stride=2, dilation=2, groups=2),
            ref=lambda x, w, b: _conv_ref(x, w, b, stride=2, dilation=2, groups=2),
        ),
        Case(
            [R(1, 2, 4, 3, 4), R(2, 2, 2, 2, 3)],
            fn=_conv("conv3d", padding=(1, 0, 1)),
            ref=lambda x, w: _conv_ref(x, w, padding=(1, 0, 1)),
        ),
    ],
    "col2im": [
        Case(
            [R(2, 6, 4)],
            {
                "output_size": (3, 4),
                "kernel_size": (2, 3),
                "dilation": (1, 1),
                "padding": ((0, 0), (0, 0)),
                "stride": (1, 1),
            },
            ref=_col2im,
        ),
        Case(
            [R(1, 8, 6)],
            {
                "output_size": (5, 4),
                "kernel_size": (2, 2),
                "dilation": (2, 1),
                "padding": ((1, 1), (0, 0)),
                "stride": (2, 2),
            },
            ref=_col2im,
        ),
        Case(
            [R(2, 6, 2)],
            {"output_size": (7,), "kernel_size": (3,), "dilation": (2,), "padding": ((1, -1),), "stride": (2,)},
            ref=_col2im,
        ),
        # transposed convolutions: col2im of a GEMM (x, w, b)
        Case(
            [R(2, 4, 3, 3), R(4, 3, 3, 2), R(6)],
            fn=_conv("conv_transpose2d", stride=2, padding=1, output_padding=1, groups=2),
            ref=lambda x, w, b: _conv_transpose_ref(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
        ),
        Case(
            [R(1, 2, 4), R(2, 3, 3)],
            fn=_conv("conv_transpose1d", stride=1, dilation=2, output_padding=1),
            ref=lambda x, w: _conv_transpose_ref(x, w, dilation=2, output_padding=1),
        ),
    ],
}


def _conv_transpose_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Scatter each input element times its kernel into the output, then crop the padding."""
    nd = x.ndim - 2
    rep = lambda v: (v,) * nd if isinstance(v, int) else v  # noqa: E731
    stride, padding, output_padding, dilation = rep(stride), rep(padding), rep(output_padding), rep(dilation)
    kernel = w.shape[2:]
    n, cin = x.shape[:2]
    og = w.shape[1]
    cout = og * groups
    full = [
        (m - 1) * s + d * (k - 1) + 1 + op
        for m, s, d, k, op in zip(x.shape[2:], stride, dilation, kernel, output_padding)
    ]
    out = np.zeros((n, cout, *full))
    cg = cin // groups
    for ci in range(cin):
        g = ci // cg
        for pos in itertools.product(*map(range, x.shape[2:])):
            for k in itertools.product(*map(range, kernel)):
                dst = tuple(p * s + ki * d for p, s, ki, d in zip(pos, stride, k, dilation))
                out[(slice(None), slice(g * og, (g + 1) * og), *dst)] += (
                    x[(slice(None), ci, *pos)][:, None] * w[(ci, slice(None), *k)][None, :]
                )
    out = out[(slice(None), slice(None), *(slice(p, f - p) for p, f in zip(padding, full)))]
    if b is not None:
        out = out + b.reshape(cout, *([1] * nd))
    return out
