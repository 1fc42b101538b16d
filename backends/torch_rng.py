"""torch's CPU random numbers bit for bit: its mt19937 generator (``CPUGeneratorImpl``) and the
transforms of its CPU samplers, vectorised in NumPy.

The engine is NumPy's ``MT19937`` bit generator (``random_raw`` gives the tempered 32-bit outputs),
seeded as torch seeds it (the reference ``init_genrand`` of the seed's low 32 bits), so the stream is
torch's. ``random64`` joins two draws as ``(first << 32) | second``. On top, the samplers follow
ATen's CPU kernels: 24-bit floats and 53-bit doubles for ``uniform_``, the 16-wide Box-Muller fill of
``normal_`` (contiguous tensors of 16 or more elements) or the scalar ``normal_distribution<double>``
with its cached second sample, ``random_``'s 32- or 64-bit draws by range, ``randperm``'s swaps.

The float32 fill calls the C library's ``logf``/``cosf``/``sinf`` in torch; they are not correctly
rounded, so the NumPy versions here follow glibc's algorithms (their tables and polynomials, from
the ARM optimized-routines code glibc uses since 2.28) to give the same bits; the float64 transforms
call Python's ``math`` functions, which are the C library's own.
"""

from __future__ import annotations

import math
import secrets
import struct
from typing import Any

import numpy as np

DEFAULT_SEED = 67280421310721  # torch's default_rng_seed_val: what a new torch.Generator starts from
STATE_BYTES = 5056  # sizeof(CPUGeneratorImplState): torch's get_rng_state() layout

_F32, _F64, _U32, _U64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint32), np.dtype(np.uint64)
_MASK24, _MASK53 = np.uint64(2**24 - 1), np.uint64(2**53 - 1)
_TWO_PI = 2.0 * math.pi


def nondeterministic_seed() -> int:
    """A 64-bit seed from the operating system's entropy (torch's getNonDeterministicRandom)."""
    return secrets.randbits(64)


def _init_genrand(seed: int) -> np.ndarray:
    """The 624-word state of mt19937 seeded with the low 32 bits of ``seed`` (torch's init_with_uint32)."""
    key = np.empty(624, np.uint32)
    s = seed & 0xFFFFFFFF
    key[0] = s
    for j in range(1, 624):
        s = (1812433253 * (s ^ (s >> 30)) + j) & 0xFFFFFFFF
        key[j] = s
    return key


class CPUGenerator:
    """torch's CPU generator: mt19937 plus the cached second Box-Muller samples. Besides torch's
    ``random``/``random64`` draws it answers NumPy ``Generator`` calls (``random``, ``standard_normal``,
    ``integers``, ``uniform``, ``permutation`` with torch's values; other distributions through NumPy's
    algorithms on the same stream), so code written against a NumPy generator keeps working."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self._mt = np.random.MT19937(0)
        self._np = np.random.Generator(self._mt)
        self.manual_seed(seed)

    # -- the engine --------------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        """Restart from ``seed`` (any uint64; the engine uses its low 32 bits, torch's initial_seed all 64)."""
        self.seed = int(seed) % 2**64
        self._mt.state = {"bit_generator": "MT19937", "state": {"key": _init_genrand(self.seed), "pos": 624}}
        self._fresh = True  # torch's next_ is 0 right after seeding (its layout tells that from pos 624)
        self.next_double: float | None = None
        self.next_float: float | None = None

    def random32(self, n: int) -> np.ndarray:
        """``n`` draws of torch's ``random()`` (32-bit, as uint64)."""
        self._fresh = self._fresh and n == 0
        return self._mt.random_raw(n)

    def random64(self, n: int) -> np.ndarray:
        """``n`` draws of torch's ``random64()``: two 32-bit draws, the first in the high half."""
        r = self.random32(2 * n)
        return (r[0::2] << np.uint64(32)) | r[1::2]

    def __getattr__(self, name: str) -> Any:
        """NumPy's other distributions (gamma, poisson, choice, ...), drawing from the same stream."""
        if name.startswith("_"):
            raise AttributeError(name)
        self._fresh = False
        return getattr(self._np, name)

    # -- torch's state layout ----------------------------------------------------------------------
    def get_state(self) -> bytes:
        """torch's 5056-byte ``CPUGeneratorImplState``: seed, left, seeded, next, the 624 words (as
        uint64), the legacy normal fields (normal_y holds the cached double) and the cached float."""
        st = self._mt.state["state"]
        pos = int(st["pos"])
        nxt = 0 if self._fresh else pos
        left = 625 - pos if pos else 1
        head = struct.pack("<QiiQ", self.seed, left, 1, nxt)
        words = np.asarray(st["key"], np.uint64).tobytes()
        has_d = self.next_double is not None
        legacy = struct.pack("<dddi4x", 0.0, self.next_double if has_d else 0.0, 0.0, int(has_d))
        has_f = self.next_float is not None
        tail = struct.pack("<f?3x", self.next_float if has_f else 0.0, has_f)
        data = head + words + legacy + tail
        assert len(data) == STATE_BYTES
        return data

    def set_state(self, data: bytes) -> None:
        """Restore ``get_state`` bytes (torch's layout: a state saved by torch works too)."""
        if len(data) != STATE_BYTES:
            raise RuntimeError(
                f"Expected a CPUGeneratorImplState of size {STATE_BYTES} but found the input RNG state size "
                f"to be {len(data)}"
            )
        seed, left, seeded, nxt = struct.unpack_from("<QiiQ", data, 0)
        if not (seeded and 0 < left <= 624 and nxt <= 624):
            raise RuntimeError("Invalid mt19937 state")
        key = np.frombuffer(data, np.uint64, 624, 24).astype(np.uint32)
        _, y, _, valid = struct.unpack_from("<dddi", data, 24 + 624 * 8)
        f, fvalid = struct.unpack_from("<f?", data, STATE_BYTES - 8)
        self.seed = seed
        self._mt.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": 625 - left}}
        self._fresh = nxt == 0 and left == 1
        self.next_double = y if valid else None
        self.next_float = f if fvalid else None

    # -- NumPy Generator calls, with torch's numbers -------------------------------------------------
    def random(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """U[0, 1) as torch's ``rand`` draws it (24-bit float32, 53-bit float64)."""
        shape = _shape(size)
        return uniform(self, _count(shape), np.dtype(dtype)).reshape(shape)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        """U[low, high) in float64, as torch's ``uniform_`` on a double tensor."""
        shape = _shape(size)
        return uniform(self, _count(shape), _F64, low, high).reshape(shape)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """N(0, 1) as torch's ``randn`` (a new contiguous tensor) draws it."""
        shape = _shape(size)
        return normal(self, _count(shape), np.dtype(dtype)).reshape(shape)

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None) -> Any:
        """N(loc, scale^2) in float64, as torch's ``normal_`` on a new contiguous double tensor."""
        shape = _shape(size)
        return normal(self, _count(shape), _F64, loc, scale).reshape(shape)

    def integers(self, low: int, high: int | None = None, size: Any = None, dtype: Any = np.int64) -> Any:
        """Integers in [low, high) as torch's ``random_(low, high)`` draws them."""
        if high is None:
            low, high = 0, low
        shape = _shape(size)
        return random_from_to(self, _count(shape), np.dtype(dtype), int(high) - int(low), int(low)).reshape(shape)

    def permutation(self, n: Any) -> Any:
        """A random permutation of range(n) as torch's ``randperm`` (an array argument: its rows shuffled)."""
        if isinstance(n, (int, np.integer)):
            return randperm(self, int(n))
        arr = np.asarray(n)
        return arr[randperm(self, len(arr))]


def _shape(size: Any) -> tuple:
    return () if size is None else (tuple(size) if isinstance(size, (tuple, list)) else (int(size),))


def _count(shape: tuple) -> int:
    return math.prod(shape)


# ---------------------------------------------------------------- exact fused multiply-adds
def fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    """float32 ``fma(a, b, c)`` with one rounding: the product is exact in float64, and a float64 sum
    that lands exactly on a float32 midpoint (the only case where rounding twice can differ) is
    nudged toward its TwoSum error before rounding to float32."""
    b, c = np.asarray(b, _F32), np.asarray(c, _F32)  # (numbers are float32 operands, as in torch)
    p = np.multiply(a, b, dtype=_F64)
    s = np.add(p, c, dtype=_F64)
    ties = np.flatnonzero((s.view(_U64) & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000))
    if ties.size:
        pt, st = p.ravel()[ties], s.ravel()[ties]
        ct = np.broadcast_to(np.asarray(c, _F64), s.shape).ravel()[ties]
        bb = st - pt
        e = (pt - (st - bb)) + (ct - bb)
        s.ravel()[ties] = np.where(e != 0, np.nextafter(st, np.where(e > 0, np.inf, -np.inf)), st)
    return s.astype(_F32)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = a * 134217729.0  # Veltkamp: 2^27 + 1
    hi = t - (t - a)
    return hi, a - hi


def fma64(a: np.ndarray, b: float, c: float) -> np.ndarray:
    """float64 ``fma(a, b, c)`` (TwoProduct + TwoSum: one rounding but in vanishingly rare ties)."""
    if b == 1.0 and c == 0.0:
        return a
    if not (abs(b) < 1e300 and abs(c) < 1e300):  # inf, NaN or near overflow: the error terms may be inf - inf
        with np.errstate(all="ignore"):
            return _fma64_terms(a, b, c, fix=True)
    return _fma64_terms(a, b, c, fix=False)


def _fma64_terms(a: np.ndarray, b: float, c: float, fix: bool) -> np.ndarray:
    """a b + c with its rounding errors added back; ``fix``: where the sum is not finite, the sum itself."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(np.float64(b))
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)
    out = s + (t + e)
    return np.where(np.isfinite(s), out, s) if fix else out  # (an infinite product or sum is fma's result)


# ---------------------------------------------------------------- glibc's logf, sinf, cosf
_LOGF_TAB = np.array(
    [
        float.fromhex(h)
        for h in (
            "0x1.661ec79f8f3bep+0",
            "-0x1.57bf7808caadep-2",
            "0x1.571ed4aaf883dp+0",
            "-0x1.2bef0a7c06ddbp-2",
            "0x1.49539f0f010b0p+0",
            "-0x1.01eae7f513a67p-2",
            "0x1.3c995b0b80385p+0",
            "-0x1.b31d8a68224e9p-3",
            "0x1.30d190c8864a5p+0",
            "-0x1.6574f0ac07758p-3",
            "0x1.25e227b0b8ea0p+0",
            "-0x1.1aa2bc79c8100p-3",
            "0x1.1bb4a4a1a343fp+0",
            "-0x1.a4e76ce8c0e5ep-4",
            "0x1.12358f08ae5bap+0",
            "-0x1.1973c5a611cccp-4",
            "0x1.0953f419900a7p+0",
            "-0x1.252f438e10c1ep-5",
            "0x1.0000000000000p+0",
            "0x0.0p+0",
            "0x1.e608cfd9a47acp-1",
            "0x1.aa5aa5df25984p-5",
            "0x1.ca4b31f026aa0p-1",
            "0x1.c5e53aa362eb4p-4",
            "0x1.b2036576afce6p-1",
            "0x1.526e57720db08p-3",
            "0x1.9c2d163a1aa2dp-1",
            "0x1.bc2860d224770p-3",
            "0x1.886e6037841edp-1",
            "0x1.1058bc8a07ee1p-2",
            "0x1.767dcf5534862p-1",
            "0x1.4043057b6ee09p-2",
        )
    ]
).reshape(16, 2)
_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_A = [float.fromhex(h) for h in ("-0x1.00ea348b88334p-2", "0x1.5575b0be00b6ap-2", "-0x1.ffffef20a4123p-2")]


def logf(x: np.ndarray) -> np.ndarray:
    """glibc's ``logf`` of positive normal float32 values (torch's Box-Muller ``std::log(float)``):
    log(x) = log1p(z / c - 1) + log(c) + k ln2 with a 16-entry table of c and a cubic for log1p."""
    ix = x.view(_U32)
    tmp = ix - np.uint32(0x3F330000)
    i = (tmp >> np.uint32(19)) & np.uint32(15)
    k = tmp.view(np.int32) >> np.int32(23)
    iz = ix - (tmp & np.uint32(0xFF800000))
    invc, logc = _LOGF_TAB[i, 0], _LOGF_TAB[i, 1]
    z = iz.view(_F32).astype(_F64)
    r = z * invc - 1.0
    y0 = logc + k * _LN2
    r2 = r * r
    y = _LOGF_A[1] * r + _LOGF_A[2]
    y = _LOGF_A[0] * r2 + y
    y = y * r2 + (y0 + r)
    out = y.astype(_F32)
    out[ix == np.uint32(0x3F800000)] = 0.0
    return out


_HPI_INV = float.fromhex("0x1.45f306dc9c883p+23")  # 2/pi scaled by 2^24
_HPI = float.fromhex("0x1.921fb54442d18p+0")
_C = [1.0] + [
    float.fromhex(h)
    for h in ("-0x1.ffffffd0c621cp-2", "0x1.55553e1068f19p-5", "-0x1.6c087e89a359dp-10", "0x1.99343027bf8c3p-16")
]
_S = [float.fromhex(h) for h in ("-0x1.555545995a603p-3", "0x1.1107605230bc4p-7", "-0x1.994eb3774cf24p-13")]


def _sinf_poly(x: np.ndarray, x2: np.ndarray, n: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """glibc's sinf_poly: the sine polynomial where n is even, the cosine one (negated where ``flip``,
    the second table) where n is odd, in float64 before the final rounding."""
    x3 = x * x2
    s = (x + x3 * _S[0]) + (x3 * x2) * (_S[1] + x2 * _S[2])
    x4 = x2 * x2
    sign = np.where(flip, -1.0, 1.0)
    c1 = sign * _C[0] + x2 * (sign * _C[1])
    c = c1 + x4 * (sign * _C[2])
    c2 = sign * _C[3] + x2 * (sign * _C[4])
    c = c + (x4 * x2) * c2
    return np.where(n & 1, c, s)


def sincosf(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """glibc's ``sinf`` and ``cosf`` of float32 values in [0, 120) (Box-Muller's angles in [0, 2 pi))."""
    top = (y.view(_U32) >> np.uint32(20)) & np.uint32(0x7FF)
    x = y.astype(_F64)
    small = top < 0x3F4  # |y| < pi/4 (by the top 12 bits, as glibc compares)
    r = x * _HPI_INV
    n = (r.astype(np.int32) + np.int32(0x800000)) >> np.int32(24)
    n = np.where(small, 0, n)
    xr = np.where(small, x, x - n * _HPI)
    flip = (n & 2) != 0
    sgn = np.where((n & 3) == 1, -1.0, np.where((n & 3) == 2, -1.0, 1.0))
    xs = xr * sgn
    x2 = xr * xr
    sin = _sinf_poly(xs, x2, n, flip).astype(_F32)
    cos = _sinf_poly(xs, x2, n ^ 1, flip).astype(_F32)
    tiny = top < 0x398  # |y| < 2^-12: sinf(y) = y, cosf(y) = 1
    if tiny.any():
        sin = np.where(tiny, y, sin)
        cos = np.where(tiny, np.float32(1.0), cos)
    return sin, cos


# ---------------------------------------------------------------- avx_mathfun's log and sincos
_CEPHES_LOG = [
    np.float32(v)
    for v in (
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    )
]
_DP = [np.float32(v) for v in (-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8)]
_COSCOF = [np.float32(v) for v in (2.443315711809948e-005, -1.388731625493765e-003, 4.166664568298827e-002)]
_SINCOF = [np.float32(v) for v in (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)]
_HALF, _ONE = np.float32(0.5), np.float32(1.0)


def log256(x: np.ndarray) -> np.ndarray:
    """avx_mathfun's ``log256_ps`` (Cephes' logf, float32 throughout) of positive normal floats, with
    the multiply-adds GCC fuses in torch's build (the polynomial, y z + e q1, y - z / 2)."""
    ix = x.view(_U32)
    e = ((ix >> np.uint32(23)).astype(np.int32) - 0x7F).astype(_F32) + _ONE
    m = ((ix & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(_F32)
    low = m < np.float32(0.707106781186547524)
    xx = (m - _ONE) + np.where(low, m, np.float32(0))
    e = e - low.astype(_F32)
    z = xx * xx
    y = np.full_like(xx, _CEPHES_LOG[0])
    for p in _CEPHES_LOG[1:]:
        y = fma32(y, xx, p)
    y = y * xx
    y = fma32(y, z, e * np.float32(-2.12194440e-4))
    y = y - z * _HALF
    return (xx + y) + e * np.float32(0.693359375)


def sincos256(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """avx_mathfun's ``sincos256_ps`` (Cephes' sinf/cosf) of non-negative float32 angles, with GCC's
    fused multiply-adds as in torch's build; returns (sin, cos)."""
    j = (x * np.float32(1.27323954473516)).astype(np.int32)
    j = (j + 1) & ~1
    y = j.astype(_F32)
    for dp in _DP:  # x - y pi/4 in three parts
        x = fma32(y, dp, x)
    z = x * x
    c = fma32(fma32(np.full_like(x, _COSCOF[0]), z, _COSCOF[1]), z, _COSCOF[2]) * z
    c = fma32(c, z, -(z * _HALF)) + _ONE
    s = fma32(fma32(np.full_like(x, _SINCOF[0]), z, _SINCOF[1]), z, _SINCOF[2]) * z
    s = fma32(s, x, x)
    first = (j & 2) == 0  # the sine polynomial for the sine in octants 0, 3, ...
    sin = np.where(first, s, c)
    cos = np.where(first, c, s)
    sin = np.where((j & 4) != 0, -sin, sin)
    cos = np.where(((~(j - 2)) & 4) != 0, -cos, cos)
    return sin, cos


def _avx2_default() -> bool:
    """Whether torch's CPU kernels take their AVX2 (or AVX512) build here: an x86 CPU with AVX2 and
    FMA, unless ``ATEN_CPU_CAPABILITY=default``. Those kernels fuse multiply-adds and their float
    Box-Muller uses avx_mathfun; the default build rounds each step and calls glibc's functions."""
    import os

    cap = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    if cap == "default":
        return False
    import importlib

    try:
        features = importlib.import_module("numpy._core._multiarray_umath").__cpu_features__
    except ImportError:  # pragma: no cover - NumPy < 2
        features = importlib.import_module("numpy.core._multiarray_umath").__cpu_features__
    return bool(features.get("AVX2") and features.get("FMA3"))


AVX2 = _avx2_default()


def _cmath(fn: Any, x: np.ndarray) -> np.ndarray:
    """The C library's double ``fn`` elementwise (Python's math module calls it). NumPy's own is used
    where it gives the same bits on a probe of 4096 values (its sin/cos call the C library on most
    builds; its SIMD log/log1p/exp/tan differ from glibc in the last bit, so those go through math)."""
    same = _NUMPY_SAME.get(fn)
    if same is None:
        probe = np.random.default_rng(0).random(4096) * (2 * math.pi)
        npf = getattr(np, fn.__name__)
        same = _NUMPY_SAME[fn] = bool(np.array_equal(npf(probe), np.fromiter(map(fn, probe.tolist()), _F64)))
    if same:
        return getattr(np, fn.__name__)(x)
    return np.fromiter(map(fn, x.tolist()), _F64, x.size)


_NUMPY_SAME: dict[Any, bool] = {}


# ---------------------------------------------------------------- the samplers
def _half_ok(dt: np.dtype) -> bool:
    return dt.itemsize == 2


def cast(v: np.ndarray, dt: np.dtype) -> np.ndarray:
    """``v`` as dtype ``dt`` the way C++'s ``static_cast<scalar_t>(double)`` makes it: float16 and bfloat16
    are built from a float, so a double sample rounds twice (to float32, then to ``dt``)."""
    if v.dtype == _F64 and _half_ok(dt) and dt.kind not in "iu":
        v = v.astype(_F32)
    return v.astype(dt, copy=False)


def _uniform_acc(gen: CPUGenerator, n: int, acc: np.dtype) -> np.ndarray:
    """U[0, 1) in the accumulate type: ``random() & (2^24 - 1)`` / 2^24 for float32, 53 bits of
    ``random64()`` for float64."""
    if acc == _F64:
        return (gen.random64(n) & _MASK53).astype(_F64) * 2.0**-53
    return ((gen.random32(n) & _MASK24).astype(_F64) * 2.0**-24).astype(_F32)


def uniform_real(gen: CPUGenerator, n: int, lo: float, hi: float) -> np.ndarray:
    """``n`` draws of torch's ``uniform_real_distribution<double>(lo, hi)``: a 53-bit u, u * (hi - lo) + lo
    (in a kernel built without fused multiply-adds, as rrelu's)."""
    return _uniform_acc(gen, n, _F64) * (hi - lo) + lo


def _acc(dt: np.dtype) -> np.dtype:
    return _F64 if dt == _F64 else _F32


def uniform(gen: CPUGenerator, n: int, dt: np.dtype, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """torch's ``uniform_(lo, hi)`` of ``n`` elements of dtype ``dt`` (float16 and bfloat16 computed in
    float32): x * (to - from) + from, fused, and a value rounded up to ``to`` becomes ``from``."""
    acc = _acc(dt)
    x = _uniform_acc(gen, n, acc)
    if lo == 0.0 and hi == 1.0:
        v = x
    elif acc == _F64:  # x * (to - from) + from: fused by GCC in torch's AVX2/AVX512 kernels
        v = fma64(x, float(hi) - float(lo), float(lo)) if AVX2 else x * (float(hi) - float(lo)) + float(lo)
    else:
        span, lo32 = np.float32(hi) - np.float32(lo), np.float32(lo)
        v = fma32(x, span, lo32) if AVX2 else x * span + lo32
    out = v.astype(dt)
    if lo != 0.0 or hi != 1.0 or dt != acc:
        top = np.asarray(hi).astype(dt)
        out[out == top] = np.asarray(lo).astype(dt)
    return out


def _normal16(d: np.ndarray, mean: float, std: float) -> None:
    """Box-Muller in place on rows of 16 uniforms (torch's NormalFill16): u1 = 1 - d[:8], u2 = d[8:]."""
    u1 = 1 - d[:, :8]
    u2 = d[:, 8:]
    if d.dtype == _F64:
        radius = np.sqrt(-2.0 * _cmath(math.log, u1.ravel())).reshape(u1.shape)
        theta = (_TWO_PI * u2).ravel()
        cos = _cmath(math.cos, theta).reshape(u1.shape)
        sin = _cmath(math.sin, theta).reshape(u1.shape)
        d[:, :8] = fma64(radius * cos, std, mean)
        d[:, 8:] = fma64(radius * sin, std, mean)
        return
    flat1 = u1.ravel()
    if AVX2:  # torch's normal_fill_16_AVX2: theta = float(2 pi) * u2 in float32
        radius = np.sqrt(np.float32(-2) * log256(flat1)).reshape(u1.shape)
        sin, cos = sincos256((np.float32(_TWO_PI) * u2).ravel())
    else:  # the scalar template: std::log/cos/sin of float, theta = float(2 pi (double) * u2)
        radius = np.sqrt(np.float32(-2) * logf(flat1)).reshape(u1.shape)
        sin, cos = sincosf((_TWO_PI * u2.astype(_F64)).astype(_F32).ravel())
    n1 = radius * cos.reshape(u1.shape)
    n2 = radius * sin.reshape(u1.shape)
    if std == 1.0 and mean == 0.0:
        d[:, :8], d[:, 8:] = n1, n2
    else:
        d[:, :8] = fma32(n1, std, mean)
        d[:, 8:] = fma32(n2, std, mean)


def normal(
    gen: CPUGenerator, n: int, dt: np.dtype, mean: float = 0.0, std: float = 1.0, contiguous: bool = True
) -> np.ndarray:
    """torch's ``normal_(mean, std)`` of ``n`` elements: the 16-wide Box-Muller fill for a contiguous
    tensor of 16 or more (the last, partial block redrawn over the final 16), else the scalar
    ``normal_distribution<double>`` (one pair per two samples, the second one cached in the generator)."""
    if n >= 16 and contiguous:
        acc = _acc(dt)
        full = n // 16 * 16
        # float and double fill all n first (the tail's redraw comes after them); float16 and
        # bfloat16 draw block by block, so their tail takes the next 16 after the full blocks
        data = _uniform_acc(gen, n if dt == acc else full, acc)
        blocks = data[:full].reshape(-1, 16)
        _normal16(blocks, mean, std)
        data[:full] = blocks.ravel()
        if n % 16:
            tail = _uniform_acc(gen, 16, acc).reshape(1, 16)
            _normal16(tail, mean, std)
            if dt != acc:
                data = np.concatenate([data, np.empty(n - full, acc)])
            data[n - 16 :] = tail.ravel()
        return data.astype(dt)
    return cast(_scalar_normal(gen, n, mean, std), dt)


def _scalar_normal(gen: CPUGenerator, n: int, mean: float, std: float) -> np.ndarray:
    """``n`` draws of ``normal_distribution<double>``: the cached sample first, then pairs
    (u1, u2) -> r cos(2 pi u1) (returned) and r sin(2 pi u1) (cached), r = sqrt(-2 log1p(-u2))."""
    out = np.empty(n, _F64)
    start = 0
    if n and gen.next_double is not None:
        out[0] = gen.next_double
        gen.next_double = None
        start = 1
    pairs = (n - start + 1) // 2
    if pairs:
        u = (gen.random64(2 * pairs) & _MASK53).astype(_F64) * 2.0**-53
        r = np.sqrt(-2.0 * _cmath(math.log1p, -u[1::2]))
        theta = _TWO_PI * u[0::2]
        cos = r * _cmath(math.cos, theta)
        sin = r * _cmath(math.sin, theta)
        both = np.stack([cos, sin], axis=1).ravel()
        out[start:] = both[: n - start]
        if (n - start) % 2:
            gen.next_double = float(sin[-1])
    if AVX2:  # val * std + mean, fused in torch's AVX2/AVX512 kernels
        return fma64(out, float(std), float(mean))
    return out * float(std) + float(mean)


def random_from_to(gen: CPUGenerator, n: int, dt: np.dtype, span: int, base: int) -> np.ndarray:
    """torch's ``random_(from, to)``: (draw % (to - from)) + from, with 64-bit draws when the range is
    2^28 or more (else 32-bit ones)."""
    if span <= 0:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got range {span}")
    if span >= 2**32 and base == -(2**63) and span == 2**64:  # random_(int64 min, None): the full range
        return gen.random64(n).view(np.int64).astype(dt)
    draw = gen.random64(n) if span >= 2**28 else gen.random32(n)
    v = (draw % np.uint64(span)) + np.uint64(base % 2**64)
    return _int64_to(v.view(np.int64), dt)


def _int64_to(v: np.ndarray, dt: np.dtype) -> np.ndarray:
    if dt.kind == "b":
        return v != 0
    if _half_ok(dt) and dt.kind != "i" and dt.kind != "u":  # float16 / bfloat16 go through float32
        return v.astype(_F32).astype(dt)
    return v.astype(dt)


def random_default(gen: CPUGenerator, n: int, dt: np.dtype) -> np.ndarray:
    """torch's ``random_()``: [0, 2^digits] for floating dtypes, [0, max] for integers, 0/1 for bool."""
    if dt.kind == "b":
        return (gen.random32(n) & np.uint64(1)) != 0
    if dt.kind in "iu":
        top = int(np.iinfo(dt).max) + 1
        draw = gen.random64(n) if dt.itemsize == 8 and dt.kind == "i" else gen.random32(n)
        return _int64_to((draw % np.uint64(top)).view(np.int64), dt)
    digits = {8: 53, 4: 24}.get(dt.itemsize, 11 if dt.kind == "f" else 8)
    draw = gen.random64(n) if dt == _F64 else gen.random32(n)
    return _int64_to((draw % np.uint64(2**digits + 1)).view(np.int64), dt)


def randperm(gen: CPUGenerator, n: int) -> np.ndarray:
    """torch's CPU ``randperm``: Fisher-Yates swaps i <-> i + random() % (n - i) for n < 2^32 / 20,
    else the inside-out shuffle with ``random64()`` % (i + 1)."""
    perm = np.arange(n, dtype=np.int64)
    if n < (2**32 - 1) // 20:
        if n > 1:
            z = (gen.random32(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64)
            z += np.arange(n - 1)
            p = perm.tolist()
            for i, j in enumerate(z.tolist()):
                p[i], p[j] = p[j], p[i]
            perm = np.array(p, dtype=np.int64)
        return perm
    zs = (gen.random64(n) % np.arange(1, n + 1, dtype=np.uint64)).astype(np.int64).tolist()
    p = [0] * n
    for i, z in enumerate(zs):
        p[i] = p[z]
        p[z] = i
    return np.array(p, dtype=np.int64)


def bernoulli_scalar(gen: CPUGenerator, n: int, p: float) -> np.ndarray:
    """torch's ``bernoulli_(p)`` with a number p: a 53-bit uniform per element, 1 where it is below p."""
    return _uniform_acc(gen, n, _F64) < p


def bernoulli_tensor(gen: CPUGenerator, p: np.ndarray) -> np.ndarray:
    """torch's ``bernoulli_(p_tensor)`` (flat p in fill order): a float64 p draws 53-bit uniforms, any
    other floating p 24-bit float32 ones."""
    if p.dtype == _F64:
        return _uniform_acc(gen, p.size, _F64) < p
    return _uniform_acc(gen, p.size, _F32) < p.astype(_F32)


def _u53(gen: CPUGenerator, n: int) -> np.ndarray:
    return _uniform_acc(gen, n, _F64)


def exponential(gen: CPUGenerator, n: int, lambd: float) -> np.ndarray:
    """torch's ``exponential_(lambd)`` in float64: -1 / lambd * log1p(-u), a 53-bit u per element."""
    return (-1.0 / lambd) * _cmath(math.log1p, -_u53(gen, n))


def cauchy(gen: CPUGenerator, n: int, median: float, sigma: float) -> np.ndarray:
    """torch's ``cauchy_(median, sigma)`` in float64: median + sigma tan(pi (u - 1/2))."""
    return median + sigma * _cmath(math.tan, math.pi * (_u53(gen, n) - 0.5))


def log_normal(gen: CPUGenerator, n: int, mean: float, std: float) -> np.ndarray:
    """torch's ``log_normal_(mean, std)`` in float64: exp of the scalar normal draws (cache included)."""
    z = _scalar_normal(gen, n, mean, std)
    big = z > _EXP_MAX  # (C's exp: inf past the largest double; Python's math.exp raises OverflowError there)
    return np.where(big, math.inf, _cmath(math.exp, np.where(big, 0.0, z)))


_EXP_MAX = math.log(np.finfo(np.float64).max)


def geometric(gen: CPUGenerator, n: int, p: float) -> np.ndarray:
    """torch's ``geometric_(p)`` in float64: ceil(log(u) / log1p(-p))."""
    return np.ceil(_cmath(math.log, _u53(gen, n)) / math.log1p(-p))


class _Draws:
    """torch's scalar ``uniform_real_distribution<double>(0, 1)`` and ``normal_distribution<double>`` draws
    one at a time (rejection samplers), read from 53-bit uniforms drawn ahead in blocks; ``done()`` leaves
    the generator just past the words used."""

    def __init__(self, gen: CPUGenerator, block: int) -> None:
        self.gen, self.block = gen, block
        self.buf: list[float] = []
        self.i = 0
        self.snap: Any = None

    def uniform(self) -> float:
        if self.i == len(self.buf):
            self.done()
            self.snap = self.gen._mt.state
            self.buf = ((self.gen.random64(self.block) & _MASK53).astype(_F64) * 2.0**-53).tolist()
            self.i = 0
        self.i += 1
        return self.buf[self.i - 1]

    def normal(self) -> float:
        """The cached second sample first, else r cos(2 pi u1) (caching r sin(2 pi u1)), as ``_scalar_normal``."""
        if self.gen.next_double is not None:
            v, self.gen.next_double = self.gen.next_double, None
            return v
        u1 = self.uniform()
        r = math.sqrt(-2.0 * math.log1p(-self.uniform()))
        self.gen.next_double = r * math.sin(_TWO_PI * u1)
        return r * math.cos(_TWO_PI * u1)

    def done(self) -> None:
        if self.snap is not None:  # rewind the block, then draw only the words used
            self.gen._mt.state = self.snap
            self.gen.random64(self.i)
            self.snap = None


# The most elements a call draws through torch's per-element rejection samplers (``standard_gamma``, ``poisson``):
# Python loops of about 6-10 us an element, so a larger draw (1M Poisson counts: seconds) takes NumPy's vectorised
# algorithms on the same stream instead (milliseconds; the numbers are then not torch's).
SCALAR_SAMPLERS_MAX = 1024


def standard_gamma(gen: CPUGenerator, alpha: np.ndarray, dt: np.dtype) -> np.ndarray:
    """torch's CPU ``_standard_gamma`` of the flat ``alpha`` (dtype ``dt``, C order): per element Marsaglia and
    Tsang's sampler (ATen's ``sample_gamma``: the ``f``-suffixed constants and the ``alpha`` arithmetic in
    ``dt``, the rest in double; 53-bit uniforms and the scalar normal sampler with its cached second sample),
    then ``max(tiny, sample)`` in ``dt``."""
    st = _F32 if dt != _F64 else _F64  # (float16/bfloat16 compute their alpha steps in float)
    third, c331 = float(np.float32(1) / np.float32(3)), float(np.float32(0.0331))
    out = np.empty(alpha.size, _F64)
    draws = _Draws(gen, min(4 * alpha.size + 16, 1 << 16))
    for i, a in enumerate(alpha.astype(st).tolist()):
        scale = 1.0
        if a < 1.0:
            if a == 0.0:
                out[i] = 0.0
                continue
            scale *= math.pow(1 - draws.uniform(), float(st.type(1.0) / st.type(a)))
            a = float(st.type(a) + st.type(1.0))
        d = float(st.type(a) - st.type(third))
        c = 1.0 / math.sqrt(9.0 * d)
        while True:
            x = draws.normal()
            y = 1.0 + c * x
            while y <= 0:
                x = draws.normal()
                y = 1.0 + c * x
            v = y * y * y
            u = 1 - draws.uniform()
            xx = x * x
            if u < 1.0 - c331 * xx * xx or math.log(u) < 0.5 * xx + d * (1.0 - v + math.log(v)):
                out[i] = scale * d * v
                break
    draws.done()
    res = cast(out, dt)
    return np.maximum(res, np.finfo(res.dtype).tiny if res.dtype.kind == "f" else res.dtype.type(0))


def poisson(gen: CPUGenerator, lam: np.ndarray) -> np.ndarray:
    """torch's CPU ``poisson`` of the flat float64 rates ``lam`` (C order): per element, for a rate of 10 or
    more Hoermann's transformed rejection (PTRS), else the product of uniforms against exp(-rate)."""
    out = np.empty(lam.size, _F64)
    draws = _Draws(gen, min(4 * lam.size + 16, 1 << 16))
    for i, rate in enumerate(lam.tolist()):
        if rate >= 10:
            slam, loglam = math.sqrt(rate), math.log(rate)
            b = 0.931 + 2.53 * slam
            a = -0.059 + 0.02483 * b
            invalpha = 1.1239 + 1.1328 / (b - 3.4)
            vr = 0.9277 - 3.6224 / (b - 2)
            while True:
                u = draws.uniform() - 0.5
                v = draws.uniform()
                us = 0.5 - abs(u)
                k = math.floor((2 * a / us + b) * u + rate + 0.43)
                if us >= 0.07 and v <= vr:
                    break
                if k < 0 or (us < 0.013 and v > us):
                    continue
                if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= (
                    -rate + k * loglam - math.lgamma(k + 1)
                ):
                    break
            out[i] = k
        elif rate == 0:
            out[i] = 0
        else:
            count, prod, enlam = 0, 1.0, math.exp(-rate)
            while True:
                prod *= draws.uniform()
                if prod <= enlam:
                    break
                count += 1
            out[i] = count
    draws.done()
    return out


def fill_order(shape: tuple, strides: tuple, flat: np.ndarray) -> np.ndarray:
    """``flat`` (values in the order torch's TensorIterator visits a tensor's memory: dimensions by
    decreasing stride) placed at their logical positions of ``shape``."""
    if len(shape) < 2 or all(a >= b for a, b in zip(strides, strides[1:])):
        return flat.reshape(shape)
    order = sorted(range(len(shape)), key=lambda d: (-abs(strides[d]), d))
    out = np.empty(shape, flat.dtype)
    out.transpose(order)[...] = flat.reshape([shape[d] for d in order])
    return out


def like_strides(shape: tuple, strides: tuple) -> tuple:
    """The strides torch's ``empty_like`` (preserve_format) gives a tensor of ``shape`` and ``strides``: dense,
    with the dims in the input's memory order (ATen's ``infer_dense_strides``: a stable insertion sort from
    the fastest dim; a 0 stride is no evidence, a tie puts the smaller dim first)."""
    perm = list(range(len(shape)))[::-1]  # fastest first

    def compare(d0: int, d1: int) -> int:  # 1: d1 is faster than d0 (swap), -1: keep, 0: no evidence
        s0, s1 = abs(strides[d0]), abs(strides[d1])
        if s0 == 0 or s1 == 0:
            return 0
        if s0 != s1:
            return 1 if s0 > s1 else -1
        return 1 if shape[d0] > shape[d1] else 0

    for i in range(1, len(perm)):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = compare(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    out, step = [0] * len(shape), 1
    for d in perm:
        out[d] = step
        step *= max(shape[d], 1)
    return tuple(out)


def multinomial(gen: CPUGenerator, p: np.ndarray, num_samples: int, replacement: bool) -> np.ndarray:
    """torch's CPU ``multinomial`` of the rows of ``p`` (2-d, its dtype): without replacement (or one
    sample) argmax / top-k of p / E with E ~ Exp(1) drawn as ``exponential_``; with replacement, per
    row the running sum in p's dtype, divided by the total, then a binary search of a 53-bit uniform
    per sample (the first bucket whose cumulative mass is not below it)."""
    rows, cats = p.shape
    if not replacement or num_samples == 1:
        q = exponential(gen, p.size, 1.0).astype(p.dtype).reshape(p.shape)
        keys = p / q
        if num_samples == 1:
            return np.argmax(keys, axis=-1)[:, None]
        return np.argsort(-keys, axis=-1, kind="stable")[:, :num_samples]
    out = np.empty((rows, num_samples), np.int64)
    for r in range(rows):
        cum = np.cumsum(p[r])
        cum = cum / cum[-1]
        cum[-1] = 1
        out[r] = np.searchsorted(cum.astype(_F64), _u53(gen, num_samples), side="left")
    return out
