"""``bp.quasirandom`` (torch.quasirandom): ``SobolEngine``, (scrambled) Sobol low-discrepancy sequences.

The direction numbers are Joe and Kuo's (search criterion D(6), up to 21201 dimensions, 30 bits), the
ones torch and SciPy both use; they come from ``scipy.stats.qmc.Sobol`` (imported on first use). Points
follow torch's engine exactly: the first point is the shift (0 unscrambled), then Gray-code order, each
point ``quasi / 2**30``; so unscrambled draws equal torch's bit for bit. Scrambling is the same method
as torch's (a random lower-triangular linear matrix scramble of the direction numbers plus a random
digital shift), drawn from NumPy's generator seeded by ``seed`` (or by backprop's global generator when
``seed`` is None): deterministic per seed, but not torch's values for the same seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SobolEngine"]


def _scipy_sobol(dimension: int, scramble: bool, seed: int | None) -> Any:
    """SciPy's engine holding the (scrambled) direction numbers and shift for ``dimension``."""
    import warnings

    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return qmc.Sobol(dimension, scramble=scramble, bits=SobolEngine.MAXBIT, rng=seed)
        except TypeError:  # SciPy < 1.15 calls it ``seed``
            return qmc.Sobol(dimension, scramble=scramble, bits=SobolEngine.MAXBIT, seed=seed)


def _rightmost_zero(n: np.ndarray) -> np.ndarray:
    """The index of the lowest zero bit of each ``n`` (the Gray-code bit that flips after point n)."""
    low = ~n & (n + 1)  # the lowest zero bit, isolated
    return np.log2(low.astype(np.float64)).astype(np.int64)


class SobolEngine:
    """An engine drawing (scrambled) Sobol points in ``[0, 1)^dimension``, as torch's."""

    MAXBIT = 30
    MAXDIM = 21201

    def __init__(self, dimension: int, scramble: bool = False, seed: int | None = None) -> None:
        if dimension > self.MAXDIM or dimension < 1:
            raise ValueError(f"Supported range of dimensionality for SobolEngine is [1, {self.MAXDIM}]")
        self.seed = seed
        self.scramble = scramble
        self.dimension = dimension
        rng_seed = seed
        if scramble and seed is None:
            from backprop.creation import randint

            rng_seed = int(randint(0, 2**62, (1,)).item())
        engine = _scipy_sobol(dimension, scramble, rng_seed)
        self.sobolstate = np.ascontiguousarray(engine._sv.T, dtype=np.int64)  # (MAXBIT, dimension) for row XORs
        self.shift = np.asarray(engine._shift, dtype=np.int64).reshape(dimension)
        self.quasi = self.shift.copy()
        self._first_point = (self.quasi / 2**self.MAXBIT).reshape(1, -1)
        self.num_generated = 0

    def _advance(self, n: int, start: int) -> np.ndarray:
        """The next ``n`` states from ``self.quasi``, for Gray-code indices ``start, start+1, ...``; updates quasi."""
        bits = _rightmost_zero(np.arange(start, start + n, dtype=np.int64))
        steps = self.sobolstate[bits]  # (n, dimension)
        states = np.bitwise_xor.accumulate(np.concatenate([self.quasi[None], steps]), axis=0)[1:]
        if n:
            self.quasi = states[-1].copy()
        return states

    def _tensor(self, points: np.ndarray, out: Any, dtype: Any) -> Any:
        from backprop.creation import tensor
        from backprop.dtypes import get_default_dtype

        result = tensor(points.astype(get_default_dtype() if dtype is None else dtype))
        if out is not None:
            out.resize_(result.shape).copy_(result)
            return out
        return result

    def draw(self, n: int = 1, out: Any = None, dtype: Any = None) -> Any:
        """The next ``n`` points, shape ``(n, dimension)``, in ``dtype`` (the default dtype when None)."""
        if self.num_generated == 0:
            rest = self._advance(n - 1, 0) / 2**self.MAXBIT if n > 1 else np.empty((0, self.dimension))
            points = np.concatenate([self._first_point, rest]) if n >= 1 else rest
        else:
            points = self._advance(n, self.num_generated - 1) / 2**self.MAXBIT
        self.num_generated += n
        return self._tensor(points, out, dtype)

    def draw_base2(self, m: int, out: Any = None, dtype: Any = None) -> Any:
        """The next ``2**m`` points; the total drawn must stay a power of 2 (the balance property)."""
        n = 2**m
        total_n = self.num_generated + n
        if not (total_n & (total_n - 1) == 0):
            raise ValueError(
                "The balance properties of Sobol' points require "
                f"n to be a power of 2. {self.num_generated} points have been "
                f"previously generated, then: n={self.num_generated}+2**{m}={total_n}. "
                "If you still want to do this, please use "
                "'SobolEngine.draw()' instead."
            )
        return self.draw(n=n, out=out, dtype=dtype)

    def reset(self) -> SobolEngine:
        """Back to the first point."""
        self.quasi = self.shift.copy()
        self.num_generated = 0
        return self

    def fast_forward(self, n: int) -> SobolEngine:
        """Skip ``n`` points, as if drawn."""
        if self.num_generated == 0:
            self._advance(n - 1, 0) if n > 1 else None
        else:
            self._advance(n, self.num_generated - 1)
        self.num_generated += n
        return self

    def __repr__(self) -> str:
        parts = [f"dimension={self.dimension}"]
        if self.scramble:
            parts.append("scramble=True")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return f"{type(self).__name__}({', '.join(parts)})"
