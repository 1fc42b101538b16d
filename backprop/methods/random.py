"""Random sampling as Tensor methods: in-place samplers (``uniform_``, ``normal_``, ``random_``,
``exponential_``, ...) and ``bernoulli``/``multinomial``, drawing from the device's seeded generator
or from a ``generator=`` (``bp.Generator``).

Not ops: samples have no gradient. A sampler whose input requires grad gives a result that requires
grad with a zero gradient, as torch's do. Each in-place sampler is replayed whole by ``bp.compile``
(fresh numbers at every replay); out-of-place ones record their draw (``trace.record``).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd import trace
from backprop.autograd.function import apply, bump_version, check_inplace
from backprop.autograd.grad_mode import state
from backprop.backends import torch_rng
from backprop.backends.meta_backend import placeholder
from backprop.ops import conversion as conv
from backprop.ops import elementwise as ew
from backprop.ops._util import ShapeError

if TYPE_CHECKING:
    from backprop.devices import Device
    from backprop.tensor import Tensor


def generator_rng(dev: Device, generator: Any = None) -> Any:
    """The generator to draw from for ``dev``: ``generator``'s (a ``bp.Generator``) or the device's."""
    if generator is None:
        return dev.backend.rng(dev.index)
    return generator._rng_for(dev)


def on_device(dev: Device) -> Any:
    """A context making ``dev`` current while arrays are made (``cuda:N`` allocates on device N)."""
    return dev.backend.use_device(dev.index) if dev.index else contextlib.nullcontext()


def _type_name(dt: np.dtype) -> str:
    """torch's C++ name of a dtype, as its sampler errors print it ('Long', 'Float')."""
    names = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
    names.update({"float32": "Float", "float64": "Double", "float16": "Half"})
    return names.get(dt.name, dt.name)


def need_float(name: str, dt: np.dtype, continuous: bool = False, complex_ok: bool = False) -> None:
    """torch's error for a floating-only sampler on another dtype (NotImplementedError is a RuntimeError).
    ``complex_ok``: the sampler also fills complex tensors (normal_, uniform_: their real and imaginary parts)."""
    if _dtypes.kind(dt) == "f" or (complex_ok and dt.kind == "c"):
        return
    if continuous:
        raise RuntimeError(
            f"{name}: this is a continuous probability distribution; the tensor's dtype must be floating, "
            f"got {dt} ({_type_name(dt)})"
        )
    raise NotImplementedError(f"{name}: not implemented for dtype {dt} ({_type_name(dt)}); expected a floating tensor")


def as_complex(pairs: Any, dt: np.dtype) -> Any:
    """A (..., 2) real array as the complex array of dtype ``dt`` (torch's view_as_complex)."""
    return (pairs[..., 0] + 1j * pairs[..., 1]).astype(dt)


def torch_stream(rng: Any) -> bool:
    """Whether ``rng`` is torch's CPU generator (draws then follow torch's CPU kernels bit for bit)."""
    return isinstance(rng, torch_rng.CPUGenerator)


def _torch_fill(t: Any, rng: Any, fill: Callable[[int], Any], dt: np.dtype, complex_parts: bool = False) -> Any:
    """``fill(n)`` (n values in torch's fill order: the tensor's memory order) as an array of ``t``'s
    shape and dtype ``dt``; ``complex_parts``: the values fill view_as_real(t), real and imaginary
    parts interleaved, as torch's complex ``uniform_``/``normal_``."""
    arr = t._data
    shape, strides = tuple(arr.shape), tuple(arr.strides)
    if complex_parts:
        shape, strides = (*shape, 2), (*strides, arr.itemsize // 2)
    out = torch_rng.fill_order(shape, strides, np.asarray(fill(math.prod(shape))))
    return as_complex(out, dt) if complex_parts else torch_rng.cast(out, dt)


def _real_of(dt: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dt == np.complex64 else np.dtype(np.float64)


def _uniform01(rng: Any, shape: tuple) -> Any:
    """U[0, 1) in float64."""
    return rng.random(shape)


def _from_keyword(name: str, kwargs: dict[str, Any], from_: Any) -> Any:
    """torch's keyword ``from`` (a Python keyword, so only reachable as ``**{"from": a}``)."""
    extra = kwargs.keys() - {"from"}
    if extra:
        raise TypeError(f"{name}() got an unexpected keyword argument {sorted(extra)[0]!r}")
    return kwargs["from"]


def random_bounds(name: str, dt: np.dtype, low: int | None, high: int | None) -> tuple[int, int]:
    """The [low, high) integer range of ``random_`` for dtype ``dt``: with no bounds, torch's default
    ([0, 2^mantissa] for floating dtypes, [0, max] for integers); a missing ``high`` is that top + 1."""
    if dt.kind == "b":
        top = 1
    elif _dtypes.kind(dt) == "f":
        top = 2 ** (np.finfo(dt).nmant + 1)  # every integer up to here is exact in dt
    else:
        top = int(np.iinfo(dt).max)
    if low is None:
        return 0, top + 1
    high = top + 1 if high is None else high
    if low >= high:
        raise RuntimeError(f"{name} expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if dt.kind in "iu":
        if low < np.iinfo(dt).min:
            raise RuntimeError(f"{name}: from={low} is out of bounds for {dt}")
        if high - 1 > top:
            raise RuntimeError(f"{name}: to - 1 = {high - 1} is out of bounds for {dt}")
    return int(low), int(high)


def draw_integers(rng: Any, low: int, high: int, shape: tuple, dt: np.dtype) -> Any:
    """Integers in [low, high) as dtype ``dt`` (drawn as int64; beyond that, as uint64)."""
    if high - 1 > np.iinfo(np.int64).max:
        return rng.integers(low, high, size=shape, dtype=np.uint64).astype(dt)
    return rng.integers(low, high, size=shape, dtype=np.int64).astype(dt)


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether an array of ``shape`` broadcasts to exactly ``target``."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def zero_grad_from(out: Tensor, *inputs: Any) -> Tensor:
    """``out`` (a sample) attached to the ``inputs`` it was drawn from with a zero gradient, as torch's
    samplers: the result requires grad when an input does, and backward gives those inputs zeros."""
    if not state.enabled:
        return out
    for x in inputs:
        if getattr(x, "requires_grad", False):
            x = x if x.dtype == out.dtype else apply(conv.astype, x, dtype=out.dtype)
            always = type(out)._of(np.ones((), dtype=bool), device=out.device)
            out = apply(ew.where, always, out, x)
    return out


def check_probabilities(name: str, xp: Any, p: Any) -> None:
    """torch's error for probabilities outside [0, 1] (reads a flag back from the device)."""
    if p.size and bool(xp.any((p < 0) | (p > 1) | xp.isnan(p))):
        raise RuntimeError(f"{name}: expected every probability p to satisfy 0 <= p <= 1, but got values outside")


def multinomial_draw(xp: Any, rng: Any, probs: Any, num_samples: int, replacement: bool) -> Any:
    """``num_samples`` category indices per row of ``probs`` (1-d or 2-d weights; one distribution per
    row), int64; raises torch's errors for negative, non-finite or all-zero rows."""
    p = probs.astype(np.float64).reshape(-1, probs.shape[-1])
    rows, cats = p.shape
    if rows == 0:
        return xp.zeros((*probs.shape[:-1], num_samples), dtype=np.int64)
    if replacement and num_samples > 1:  # torch's drawing kernel checks (and words) these itself
        if bool(xp.any(xp.isnan(p) | (p < 0))):
            raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
        if bool(xp.any(xp.isinf(p))):
            raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity or NaN)")
    if bool(xp.any(~xp.isfinite(p) | (p < 0))):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = p.sum(axis=-1, keepdims=True)
    if bool(xp.any(total <= 0)):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if torch_stream(rng):  # torch's CPU kernels, in the probabilities' own dtype
        exact = probs.reshape(-1, probs.shape[-1]) if probs.dtype.kind == "f" else p
        out = torch_rng.multinomial(rng, exact, num_samples, replacement)
        return out.astype(np.int64).reshape(*probs.shape[:-1], num_samples)
    if replacement:  # inverse CDF: the first category whose cumulative probability exceeds u
        cdf = xp.cumsum(p, axis=-1) / total
        cdf[:, -1] = 1.0
        u = rng.random((rows, num_samples))
        out = xp.stack([xp.searchsorted(cdf[r], u[r], side="right") for r in range(rows)])
        out = xp.minimum(out, cats - 1)
    else:  # exponential race: E_i / p_i ~ Exp(p_i); the k smallest are k draws without replacement
        e = -xp.log1p(-rng.random((rows, cats)))
        positive = p > 0
        keys = xp.where(positive, e / xp.where(positive, p, 1.0), np.inf)
        out = xp.argsort(keys, axis=-1)[:, :num_samples]
    return out.astype(np.int64).reshape(*probs.shape[:-1], num_samples)


# ``random_(n)`` means [0, n) (torch's one-argument overload), while ``random_(n, None)`` means [n, top]
_ONE_BOUND: Any = object()


class RandomMethods:
    """``x.uniform_()``, ``x.normal_(0, 2)``, ``x.random_(10)``, ``x.bernoulli()``, ``p.multinomial(3)``, ..."""

    __slots__ = ()

    def _sample_(self: Any, name: str, draw: Callable[[Any, Any], Any], generator: Any) -> Tensor:
        """Overwrite this tensor with ``draw(xp, rng)`` (an array of its shape): no gradient, a new version."""
        if check_inplace(name, self):
            raise RuntimeError(
                f"{name}: sampling into a tensor that is part of a graph (shape {tuple(self.shape)}) is not "
                "supported; detach() it first or sample into a new tensor"
            )
        dev = self.device
        if dev.type != "meta":  # (a meta tensor has no values to draw)
            with on_device(dev):
                self._data[...] = draw(dev.xp, generator_rng(dev, generator))
        bump_version(self)
        return self

    @trace.replayed_whole
    def uniform_(self: Any, from_: float = 0.0, to: float = 1.0, *, generator: Any = None, **kwargs: Any) -> Tensor:
        """Fill with U[from_, to) (torch's keyword ``from``, a Python keyword, works as ``**{"from": a}``
        or ``from_=a``)."""
        if kwargs:
            from_ = _from_keyword("uniform_", kwargs, from_)
        need_float("uniform_", self.dtype, complex_ok=True)
        if from_ > to:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}")
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            cplx = dt.kind == "c"
            real = _real_of(dt) if cplx else dt
            return self._sample_(
                "uniform_",
                lambda xp, rng: _torch_fill(self, rng, lambda n: torch_rng.uniform(rng, n, real, from_, to), dt, cplx),
                generator,
            )
        if dt.kind == "c":  # torch fills view_as_real(self): real and imaginary parts each U[from_, to)
            return self._sample_(
                "uniform_", lambda xp, rng: as_complex(rng.uniform(from_, to, (*self.shape, 2)), dt), generator
            )
        return self._sample_("uniform_", lambda xp, rng: rng.uniform(from_, to, self.shape).astype(dt), generator)

    @trace.replayed_whole
    def normal_(self: Any, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with N(mean, std^2)."""
        need_float("normal_", self.dtype, complex_ok=True)
        if std < 0:
            raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            cplx = dt.kind == "c"
            real, sd = (_real_of(dt), std / math.sqrt(2.0)) if cplx else (dt, std)
            contiguous = self._data.flags.c_contiguous

            def fill(n: int, rng: Any) -> Any:  # the 16-wide fill only for a contiguous tensor
                return torch_rng.normal(rng, n, real, mean, sd, contiguous)

            return self._sample_(
                "normal_", lambda xp, rng: _torch_fill(self, rng, lambda n: fill(n, rng), dt, cplx), generator
            )
        if dt.kind == "c":  # torch fills view_as_real(self) with N(mean, std^2 / 2): E|z - mean|^2 = std^2
            s2 = std / math.sqrt(2.0)
            return self._sample_(
                "normal_", lambda xp, rng: as_complex(rng.standard_normal((*self.shape, 2)) * s2 + mean, dt), generator
            )
        return self._sample_(
            "normal_", lambda xp, rng: (rng.standard_normal(self.shape) * std + mean).astype(dt), generator
        )

    @trace.replayed_whole
    def random_(
        self: Any, from_: int | None = None, to: Any = _ONE_BOUND, *, generator: Any = None, **kwargs: Any
    ) -> Tensor:
        """Fill with integers: ``random_(to)`` in [0, to), ``random_(from_, to)`` in [from_, to)
        (``to=None``: up to the dtype's top), and ``random_()`` over the dtype's range ([0, 2^mantissa]
        for floating dtypes, [0, max] for integers). torch's keyword ``from`` works as ``**{"from": a}``."""
        if kwargs:
            from_ = _from_keyword("random_", kwargs, from_)
            if to is _ONE_BOUND:
                raise TypeError("random_(): 'from' needs 'to' as well (random_(from, to))")
        if to is _ONE_BOUND:
            from_, to = (None, None) if from_ is None else (0, from_)
        elif from_ is None:
            from_ = 0
        low, high = random_bounds("random_", self.dtype, from_, to)
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            default = from_ is None and to is None

            def fill(n: int, rng: Any) -> Any:
                if default:
                    return torch_rng.random_default(rng, n, dt)
                return torch_rng.random_from_to(rng, n, dt, high - low, low)

            return self._sample_(
                "random_", lambda xp, rng: _torch_fill(self, rng, lambda n: fill(n, rng), dt), generator
            )
        return self._sample_("random_", lambda xp, rng: draw_integers(rng, low, high, self.shape, dt), generator)

    @trace.replayed_whole
    def exponential_(self: Any, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with Exp(lambd) samples: density lambd * exp(-lambd x) on x >= 0."""
        need_float("exponential_", self.dtype, continuous=True)
        if not lambd > 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            return self._sample_(
                "exponential_",
                lambda xp, rng: _torch_fill(self, rng, lambda n: torch_rng.exponential(rng, n, lambd), dt),
                generator,
            )
        return self._sample_(  # -log(1 - U) / lambd with 1 - U in (0, 1]
            "exponential_", lambda xp, rng: (-xp.log1p(-_uniform01(rng, self.shape)) / lambd).astype(dt), generator
        )

    @trace.replayed_whole
    def cauchy_(self: Any, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with Cauchy(median, sigma) samples: density 1 / (pi sigma (1 + ((x - median) / sigma)^2))."""
        need_float("cauchy_", self.dtype, continuous=True)
        if not sigma > 0:
            raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            return self._sample_(
                "cauchy_",
                lambda xp, rng: _torch_fill(self, rng, lambda n: torch_rng.cauchy(rng, n, median, sigma), dt),
                generator,
            )
        return self._sample_(  # the inverse CDF: median + sigma tan(pi (U - 1/2))
            "cauchy_",
            lambda xp, rng: (median + sigma * xp.tan(math.pi * (_uniform01(rng, self.shape) - 0.5))).astype(dt),
            generator,
        )

    @trace.replayed_whole
    def log_normal_(self: Any, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Tensor:
        """Fill with exp(N(mean, std^2)) samples (``mean``, ``std``: of the underlying normal)."""
        need_float("log_normal_", self.dtype)
        if not std > 0:
            raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            return self._sample_(
                "log_normal_",
                lambda xp, rng: _torch_fill(self, rng, lambda n: torch_rng.log_normal(rng, n, mean, std), dt),
                generator,
            )
        return self._sample_(
            "log_normal_", lambda xp, rng: xp.exp(rng.standard_normal(self.shape) * std + mean).astype(dt), generator
        )

    @trace.replayed_whole
    def geometric_(self: Any, p: float, *, generator: Any = None) -> Tensor:
        """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
        if not 0 < p < 1:
            raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
        dt = self.dtype
        if torch_stream(generator_rng(self.device, generator)):
            return self._sample_(
                "geometric_",
                lambda xp, rng: _torch_fill(self, rng, lambda n: torch_rng.geometric(rng, n, p), dt),
                generator,
            )

        def draw(xp: Any, rng: Any) -> Any:  # P(X > k) = (1 - p)^k: floor(log V / log(1 - p)) + 1, V in (0, 1]
            v = 1.0 - _uniform01(rng, self.shape)
            return (xp.floor(xp.log(v) / math.log1p(-p)) + 1).astype(dt)

        return self._sample_("geometric_", draw, generator)

    @trace.replayed_whole
    def bernoulli_(self: Any, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with 1 with probability ``p`` (a number, or a tensor broadcast to this shape), else 0."""
        dt = self.dtype
        if hasattr(p, "grad_fn"):
            probs = p._data if p.device is self.device else self.device.transfer(p._data, p.device)
            check_probabilities("bernoulli_", self.device.xp, probs)
            if not _broadcasts_to(probs.shape, tuple(self.shape)):
                raise ShapeError(f"bernoulli_: p of shape {tuple(probs.shape)} does not broadcast to {self.shape}")
        else:
            if not 0 <= p <= 1:
                raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
            probs = p
        if torch_stream(generator_rng(self.device, generator)):
            if hasattr(p, "grad_fn"):  # p's values at this tensor's positions, in its fill order

                def fill(n: int, rng: Any) -> Any:
                    pb = np.broadcast_to(probs, self._data.shape)
                    order = torch_rng.fill_order(self._data.shape, self._data.strides, np.arange(n))
                    flat = np.empty(n, pb.dtype)
                    flat[order.ravel()] = pb.ravel()
                    return torch_rng.bernoulli_tensor(rng, flat)

            else:

                def fill(n: int, rng: Any) -> Any:
                    return torch_rng.bernoulli_scalar(rng, n, float(p))

            return self._sample_(
                "bernoulli_", lambda xp, rng: _torch_fill(self, rng, lambda n: fill(n, rng), dt), generator
            )
        return self._sample_("bernoulli_", lambda xp, rng: (rng.random(self.shape) < probs).astype(dt), generator)

    def bernoulli(self: Any, p: float | None = None, *, generator: Any = None) -> Tensor:
        """0/1 samples of this tensor's shape and dtype: 1 with probability ``self`` (or ``p`` when given)."""
        return bernoulli(self, p, generator=generator)

    def multinomial(self: Any, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        """``num_samples`` category indices per row of the (unnormalised) probabilities ``self`` (int64)."""
        return multinomial(self, num_samples, replacement, generator=generator)


def _bernoulli_draw(x: Any, *, dev: Device, p: float | None, generator: Any, dt: np.dtype) -> Any:
    """U < x (or U < p) as dtype ``dt``: recorded, so a compiled step draws anew at each replay."""
    if p is None:
        check_probabilities("bernoulli", dev.xp, x)
    with on_device(dev):
        rng = generator_rng(dev, generator)
        if torch_stream(rng):  # torch: empty_like(input).bernoulli_(input or p)
            n = x.size
            if p is None:
                return torch_rng.bernoulli_tensor(rng, np.ascontiguousarray(x).ravel()).reshape(x.shape).astype(dt)
            return torch_rng.bernoulli_scalar(rng, n, float(p)).reshape(x.shape).astype(dt)
        return (rng.random(x.shape) < (x if p is None else p)).astype(dt)


def bernoulli(input: Tensor, p: float | None = None, *, generator: Any = None) -> Tensor:
    """0/1 samples with ``input``'s shape and dtype: 1 with probability ``input`` (or ``p``), else 0."""
    need_float("bernoulli", input.dtype)
    if p is not None and not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli expects p to be in [0, 1], but got p={p}")
    dev = input.device
    draw = functools.partial(_bernoulli_draw, dev=dev, p=p, generator=generator, dt=input.dtype)
    return zero_grad_from(input._wrap(trace.record(draw, input), dev, None), input)


def _multinomial_draw(x: Any, *, dev: Device, generator: Any, num_samples: int, replacement: bool) -> Any:
    with on_device(dev):
        return multinomial_draw(dev.xp, generator_rng(dev, generator), x, num_samples, replacement)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """``num_samples`` indices per row of ``input`` (1-d or 2-d non-negative weights), sampled with or
    without replacement; int64 of shape (num_samples,) or (rows, num_samples)."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if _dtypes.kind(input.dtype) != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {_type_name(input.dtype)}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > input.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    dev = input.device
    if dev.type == "meta":  # no values to check or draw from: the result's shape only
        return input._wrap(placeholder((*input.shape[:-1], num_samples), np.dtype(np.int64)), dev, None)
    draw = functools.partial(
        _multinomial_draw, dev=dev, generator=generator, num_samples=num_samples, replacement=replacement
    )
    return input._wrap(trace.record(draw, input), dev, None)


def dropout_keep(dev: Device, shape: tuple, p: float, strides: tuple | None = None) -> Any:
    """Dropout's keep mask (bool, Bernoulli(1 - p)) from the device's generator: on the CPU torch's
    ``empty_like(input).bernoulli_(1 - p)`` draws (a 53-bit uniform below 1 - p), so masks are torch's;
    ``strides``: the input's, whose memory order torch's mask is filled in (a transposed input's mask is
    drawn in its memory order), else C order."""
    rng = dev.backend.rng(dev.index)
    if torch_stream(rng):
        flat = torch_rng.bernoulli_scalar(rng, math.prod(shape), 1.0 - p)
        if strides is None:
            return flat.reshape(shape)
        return torch_rng.fill_order(shape, torch_rng.like_strides(shape, strides), flat)
    return rng.random(shape, dtype=np.float32) >= p


def dropout_scale(xp: Any, p: float, dtype: np.dtype) -> Any:
    """torch's ``noise.div_(1 - p)``: 1 / (1 - p) computed in the dtype's math type (float32 for float32,
    float16 and bfloat16; float64 for float64), as the value kept elements are multiplied by."""
    acc = np.float64 if dtype == np.float64 else np.float32
    return xp.asarray(acc(1.0) / acc(1.0 - p)).astype(dtype)
