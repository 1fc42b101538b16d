"""Rows of the ``backprop.ops.activation`` ops.

Differentiable rows use inputs that stay away from the kinks (``A`` for kinks at 0, scaled inputs
for the kinks at +-3 of the hard activations); the kinks themselves are forward-only rows on exact
boundary values (torch's gradients there are checked in ``tests/test_parity_activation.py``).
"""

from __future__ import annotations

import numpy as np

from op_cases._case import A, Case, K, R, _apply, unary

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# exact kinks and a few values either side of them
EDGES = K(np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 25.0, -25.0]))


def _elu(x, alpha=1.0, scale=1.0, input_scale=1.0):
    return scale * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0) * input_scale) - 1))


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    return np.minimum(np.maximum(x, min_val), max_val)


def _hardsigmoid(x):
    return np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, x / 6 + 0.5))


def _hardswish(x):
    return x * _hardsigmoid(x)


def _threshold(x, threshold, value):
    return np.where(x > threshold, x, value)


def _logsigmoid(x):
    return -np.logaddexp(0.0, -x)  # log(1 / (1 + e^-x)), exact in float64


def _mish(x):
    return x * np.tanh(np.logaddexp(0.0, x))


def _scaled(k, ref):
    """A row calling the op on ``k * x``: reaches the +-3 kinks of the hard activations."""
    return Case([R(2, 3)], fn=lambda op, x: _apply(op, x * k), ref=lambda x: ref(x * k))


CASES: dict[str, list[Case]] = {
    "elu": [
        *unary({}, {"alpha": 0.5}, maker=A, ref=_elu),
        Case([A(2, 3)], {"alpha": SELU_ALPHA, "scale": SELU_SCALE}, ref=_elu),  # selu
        Case([A(2, 3)], {"alpha": 0.7, "input_scale": 1 / 0.7}, ref=_elu),  # celu(alpha=0.7)
        Case([A(4)], {"alpha": 2.0, "scale": 1.5, "input_scale": 0.5}, ref=_elu),
        Case([EDGES], {"alpha": 0.7}, ref=_elu, grad=False),
    ],
    "hardtanh": [
        *unary({}, {"min_val": -0.5, "max_val": 1.0}, maker=A, ref=_hardtanh),
        Case([A(3, 2)], {"min_val": 0.0, "max_val": 6.0}, ref=_hardtanh),  # relu6
        Case([EDGES], ref=_hardtanh, grad=False),
        Case([EDGES], {"min_val": 0.0, "max_val": 6.0}, ref=_hardtanh, grad=False),
    ],
    "hardsigmoid": [
        *unary(maker=A, ref=_hardsigmoid),
        _scaled(3.0, _hardsigmoid),
        Case([EDGES], ref=_hardsigmoid, grad=False),
    ],
    "hardswish": [
        *unary(maker=A, ref=_hardswish),
        _scaled(3.0, _hardswish),
        Case([EDGES], ref=_hardswish, grad=False),
    ],
    "threshold": [
        Case([A(2, 3)], {"threshold": 0.0, "value": -2.0}, ref=_threshold),
        Case([A(4)], {"threshold": 0.1, "value": 20.0}, ref=_threshold),
        Case([R(2, 3)], {"threshold": -3.0, "value": 0.0}, ref=_threshold),
        Case([EDGES], {"threshold": 1.0, "value": -2.0}, ref=_threshold, grad=False),
    ],
    "logsigmoid": [
        *unary(ref=_logsigmoid),
        _scaled(30.0, _logsigmoid),  # large |x|: exp(-x) would overflow in the naive formula
        Case([EDGES], ref=_logsigmoid, grad=False),
    ],
    "mish": [
        *unary(ref=_mish),
        _scaled(15.0, _mish),  # crosses softplus' linear regime (x > 20)
        Case([EDGES], ref=_mish, grad=False),
    ],
}
