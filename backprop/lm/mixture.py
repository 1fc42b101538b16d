"""Linear interpolation of two language models, p = lambda * p_a + (1 - lambda) * p_b (Bengio et al.,
2003: the neural model and an interpolated n-gram make different errors, and their mixture beats both).

Everything works on per-token log-probabilities (``token_log_probs`` of the neural model,
``KneserNey.log_probs``) of the same windows. The mean log-likelihood of the mixture is concave in
lambda, so its maximiser is found by bisection on the derivative: the exact optimum on the tokens
given (fit it on validation tokens, never on the test set).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_weight", "log_probs", "perplexity"]


def log_probs(logp_a: np.ndarray, logp_b: np.ndarray, weight: float) -> np.ndarray:
    """ln(weight * p_a + (1 - weight) * p_b) per token, from ln p_a and ln p_b (float64, stable)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"mixture weight must be in [0, 1], got {weight}")
    a, b = np.asarray(logp_a, np.float64), np.asarray(logp_b, np.float64)
    if weight == 1.0:
        return a
    if weight == 0.0:
        return b
    return np.logaddexp(np.log(weight) + a, np.log1p(-weight) + b)


def perplexity(logp_a: np.ndarray, logp_b: np.ndarray, weight: float) -> float:
    """exp(-mean ln p) of the mixture over the tokens."""
    return float(np.exp(-log_probs(logp_a, logp_b, weight).mean()))


def fit_weight(logp_a: np.ndarray, logp_b: np.ndarray, tol: float = 1e-9) -> float:
    """The lambda in [0, 1] that maximises the mean log-likelihood of the mixture on these tokens.

    d/dlambda mean ln(lambda p_a + (1 - lambda) p_b) = mean((p_a - p_b) / p_mix) decreases in lambda;
    bisection on its sign. Ratios are taken against max(p_a, p_b) so that no probability underflows."""
    a, b = np.asarray(logp_a, np.float64), np.asarray(logp_b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"fit_weight: two equal 1-D arrays of log-probabilities needed, got {a.shape}, {b.shape}")
    top = np.maximum(a, b)
    pa, pb = np.exp(a - top), np.exp(b - top)

    def slope(w: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):  # an end point where one model gives 0
            return float(np.mean((pa - pb) / (w * pa + (1 - w) * pb)))

    if slope(0.0) <= 0.0:
        return 0.0
    if slope(1.0) >= 0.0:
        return 1.0
    lo, hi = 0.0, 1.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
